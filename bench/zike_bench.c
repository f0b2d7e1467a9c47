/*
 * zike's handshake figures (issue 7): complete IKE_SA_INIT + IKE_AUTH
 * handshakes per second with a PSK and with Ed25519, beside the
 * crypto-only limit measured in the same run (the X25519 and Ed25519
 * operations one handshake needs, and nothing else); the time of a child
 * SA rekey (CREATE_CHILD_SA with X25519); and the memory of an IKE SA and
 * of a child SA.
 *
 * Two daemon states run in one process and hand each other the real IKE
 * messages through zike_send (no sockets): the figures are zike's own
 * cost per handshake, protocol and cryptography and SAD installation,
 * without ZeroMQ's.  Each handshake installs a child SA in both SADs.
 *   zike_bench [--smoke] [--markdown FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "daemon.h"

struct msg {
    struct zike *to, *from;
    size_t len;
    uint8_t buf[IKE_MAX_MESSAGE];
};

static struct msg queue[64];
static size_t qhead, qtail;
static struct zike a, b;
static struct zike_peer peer_of_a, peer_of_b;   /* a's view of b, b's of a */

int zike_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len)
{
    struct msg *m = &queue[qtail % 64];

    if (qtail - qhead == 64 || to->sock == NULL)
        return -1;
    m->to = to->sock;
    m->from = z;
    m->len = len;
    memcpy(m->buf, buf, len);
    qtail++;
    return 0;
}

struct route zike_route_to(struct zike *z, const struct zike_peer *p)
{
    struct route r;

    (void)p;
    memset(&r, 0, sizeof r);
    r.sock = z == &a ? &b : &a;
    return r;
}

/* No link here does a handshake of its own: a responder sends no
 * liveness check after each handshake (it would be counted in it). */
bool zike_link_ready(struct zike *z, const struct zike_peer *p)
{
    (void)z;
    (void)p;
    return false;
}

static void pump(void)
{
    while (qhead != qtail) {
        struct msg *m = &queue[qhead++ % 64];
        struct route from;

        memset(&from, 0, sizeof from);
        from.sock = m->from;
        from.rid_len = 1;               /* as if from a ROUTER */
        ike_handle(m->to, &from, m->buf, m->len);
    }
}

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static void side(struct zike *z, struct zike_peer *p, const char *me,
                 const char *other, enum zike_auth auth,
                 const uint8_t *other_pk)
{
    zesp_sad_opts opts = { .capacity = 16384, .policies = 16 };
    static uint8_t psk[] = "benchmark-pre-shared-key";

    if ((z->sad = zesp_sad_new(&opts)) == NULL)
        exit(1);
    snprintf(z->conf.id, sizeof z->conf.id, "%s", me);
    snprintf(p->name, sizeof p->name, "%s", other);
    snprintf(p->id, sizeof p->id, "%s", other);
    snprintf(p->endpoint, sizeof p->endpoint, "inproc://%s", other);
    p->psk = psk;
    p->psk_len = sizeof psk - 1;
    /* The memory figure holds 1,000 IKE SAs with one peer, each with its
     * child SA: far past max-child-sas, which keeps one peer from filling
     * a SAD that others share. */
    p->max_child_sas = 1000000;
    p->auth = auth;
    if (other_pk)
        memcpy(p->pubkey, other_pk, 32);
    p->ike_encr = IKE_ENCR_CHACHA20_POLY1305;
    p->esp_transform = ZESP_CHACHA20_POLY1305;
    p->esn = true;
    p->child_life.seconds = 3600;
    snprintf(p->policies[0], sizeof p->policies[0], "bench");
    p->npolicies = 1;
    z->conf.peers = p;
    z->conf.npeers = 1;
    z->conf.retransmit_ms = 60000;
    z->conf.retransmit_tries = 1;
    z->conf.half_open_limit = 1000000;
    z->conf.max_ike_sas = 1000000;
    z->conf.rekey_overlap_ms = 0;
}

/* Forget the IKE SAs; their child SAs stay in the SADs (16384 slots hold
 * a whole phase), so that emptying a SAD is not timed as a handshake. */
static void forget(void)
{
    while (a.sas)
        ike_sa_free(&a, a.sas);
    while (b.sas)
        ike_sa_free(&b, b.sas);
}

static void reset(void)
{
    forget();
    zesp_sad_flush(a.sad);
    zesp_sad_flush(b.sad);
}

/* One complete handshake; returns 0 if both sides have a child SA. */
static int handshake(void)
{
    if (ike_initiate(&a, &peer_of_a, NULL) != 0)
        return -1;
    pump();
    return a.sas && a.sas->state == IKE_ST_ESTABLISHED && a.sas->children &&
                   b.sas && b.sas->state == IKE_ST_ESTABLISHED &&
                   b.sas->children
               ? 0 : -1;
}

static double handshakes_per_s(int n)
{
    double t0 = now();

    for (int i = 0; i < n; i++) {
        if (handshake() != 0) {
            fprintf(stderr, "zike_bench: handshake %d failed\n", i);
            exit(1);
        }
        forget();
    }
    t0 = n / (now() - t0);
    reset();
    return t0;
}

/* The public-key operations of one handshake, timed alone. */
static double crypto_limit(int n, bool ed25519)
{
    uint8_t p1[32], s1[32], p2[32], s2[32], sh[32], pk[32], sk[64];
    uint8_t sig[64], octets[400] = { 1 };
    double t0;

    crypto_sign_keypair(pk, sk);
    t0 = now();
    for (int i = 0; i < n; i++) {
        /* Each side: a key pair and the shared secret. */
        crypto_scalarmult_base(p1, s1);
        crypto_scalarmult_base(p2, s2);
        if (crypto_scalarmult(sh, s1, p2) != 0 ||
            crypto_scalarmult(sh, s2, p1) != 0)
            exit(1);
        if (ed25519) {
            /* Each side signs its AUTH and verifies the other's. */
            for (int k = 0; k < 2; k++) {
                crypto_sign_detached(sig, NULL, octets, sizeof octets, sk);
                if (crypto_sign_verify_detached(sig, octets, sizeof octets,
                                                pk) != 0)
                    exit(1);
            }
        }
    }
    return n / (now() - t0);
}

/* Child SA rekeys on one IKE SA: request, response, both SADs, switch. */
static double rekey_us(int n)
{
    double t0;

    if (handshake() != 0)
        exit(1);
    t0 = now();
    for (int i = 0; i < n; i++) {
        if (ike_rekey_peer(&a, peer_of_a.name, false) != 0)
            exit(1);
        a.now += 1000;
        ike_tick(&a);          /* starts the CREATE_CHILD_SA */
        pump();
        /* The old child goes at once (overlap 0): DELETE and its answer. */
        ike_tick(&a);
        pump();
    }
    t0 = (now() - t0) / n * 1e6;
    reset();
    return t0;
}

int main(int argc, char **argv)
{
    uint8_t pka[32], ska[64], pkb[32], skb[64];
    const char *md = NULL;
    int n = 2000, smoke = 0;
    double psk, ed, lim_psk, lim_ed, rekey;
    long before, ike_kib, child_bytes;
    FILE *out;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--markdown") == 0 && i + 1 < argc)
            md = argv[++i];
        else {
            fprintf(stderr, "usage: zike_bench [--smoke] [--markdown FILE]\n");
            return 2;
        }
    }
    if (smoke)
        n = 20;
    if (zesp_init() != 0)
        return 1;
    zike_log_level = -1;
    crypto_sign_keypair(pka, ska);
    crypto_sign_keypair(pkb, skb);
    side(&a, &peer_of_a, "a", "b", ZIKE_AUTH_PSK, pkb);
    side(&b, &peer_of_b, "b", "a", ZIKE_AUTH_PSK, pka);
    a.conf.sign_sk = ska;
    b.conf.sign_sk = skb;

    psk = handshakes_per_s(n);
    peer_of_a.auth = peer_of_b.auth = ZIKE_AUTH_ED25519;
    ed = handshakes_per_s(n);
    lim_psk = crypto_limit(n, false);
    lim_ed = crypto_limit(n, true);
    peer_of_a.auth = peer_of_b.auth = ZIKE_AUTH_PSK;
    rekey = rekey_us(smoke ? 20 : 2000);

    /* Memory: 1000 IKE SAs, each with its child SA, held at once. */
    before = rss_kib();
    for (int i = 0; i < (smoke ? 20 : 1000); i++)
        if (handshake() != 0)
            return 1;
    ike_kib = rss_kib() - before;
    child_bytes = (long)sizeof(struct child_sa);
    {
        long count = smoke ? 20 : 1000;
        /* Two IKE SAs (one per side) and two child SAs per handshake. */
        ike_kib = ike_kib * 1024 / (2 * count);
    }
    reset();

    out = md ? fopen(md, "a") : NULL;
    for (int pass = 0; pass < (out ? 2 : 1); pass++) {
        FILE *f = pass ? out : stdout;
        fprintf(f, "\n## zike: handshakes, rekeys, memory\n\n");
        fprintf(f, "Two daemon states in one process exchanging the real IKE "
                   "messages (no sockets); each handshake is IKE_SA_INIT + "
                   "IKE_AUTH and installs a child SA in both SADs.\n\n");
        fprintf(f, "| figure | value | crypto-only limit | ratio |\n");
        fprintf(f, "| --- | --- | --- | --- |\n");
        fprintf(f, "| handshakes/s, PSK | %.0f | %.0f | %.2f |\n", psk, lim_psk,
                psk / lim_psk);
        fprintf(f, "| handshakes/s, Ed25519 | %.0f | %.0f | %.2f |\n", ed,
                lim_ed, ed / lim_ed);
        fprintf(f, "| child SA rekey (CREATE_CHILD_SA + DELETE), µs | %.1f | | |\n",
                rekey);
        fprintf(f, "| memory per IKE SA (RSS, its keys in the locked pool included), bytes | %ld | | |\n",
                ike_kib);
        fprintf(f, "| memory per child SA in zike, bytes (+ one SAD slot per direction) | %ld | | |\n",
                child_bytes);
    }
    if (out)
        fclose(out);
    sodium_memzero(ska, sizeof ska);
    sodium_memzero(skb, sizeof skb);
    return 0;
}
