/*
 * The applications of the group SA tests (tests/test_groups.sh): each role
 * opens its host's SAD and sends on a policy name, never on a key.
 *
 *   group_peer pub    --sad S --policy P --connect EP --topic T --tag G
 *                     --count N [--interval-us U] [--switch-at I]
 *                     [--timeout-ms MS]
 *   group_peer sub    --sad S --connect EP --topic T --tag G --count N
 *                     [--senders K] [--timeout-ms MS]
 *   group_peer proxy  --xsub EP --xpub EP [--log FILE]
 *   group_peer broker --front EP --back EP
 *   group_peer worker --sad S --policy P --connect EP --name NAME
 *   group_peer client --sad S --policy P --connect EP --count N
 *                     [--timeout-ms MS]
 *   group_peer tap    --front EP --back EP --count N
 *   group_peer inject --connect EP --topic T
 *   group_peer malformed --connect EP --topic T --spi SPI --sender ID
 *   group_peer forge  --sad S --policy P --connect EP --topic T --tag G
 *                     --count N --sender ID --key FILE [--mac-id ID
 *                     --mac-pub Z85] [--timeout-ms MS]
 *
 * tap is a man in the middle on the wire between one DEALER client and its
 * broker: it forwards both ways and sends the client's Nth message twice.
 * inject sends one forged message [T | 64 random bytes] from a DEALER.
 * malformed publishes, once a subscription to T reached it, one message
 * [T | a 40-byte frame] whose header names SPI and Sender ID ID: too
 * short for any ESP frame, let alone a signed one.
 *
 * forge is a member of a group that holds the group key (its policy P
 * sends on the group SA) and passes off N messages as Sender ID ID's:
 * sealed under the group key, with the best proof it can make from its
 * own identity key (FILE, as zesp keygen --identity writes it): in a
 * signed group its own signature, with source MACs a MAC for member
 * --mac-id (public key --mac-pub) under the best key it can make.  Its
 * sequence numbers start at 2^20, beyond the real sender's, so that a
 * receiver refuses them for their MAC and not as replays.
 *
 * pub waits until a subscription to T reached it, then sends N messages
 * "G:i" under topic T (a clear, bound frame); with --switch-at I, message I
 * and the rest wait until the policy moved to another SA (a rekey).  sub
 * counts, per sender, the distinct i of tag G it accepted and the rest it
 * refused, by reason, and prints one line to be checked once it has seen
 * N from each of K senders (or heard nothing for MS), and one with the
 * number refused for their source proof (ZESP_ESIGNATURE).  The proxy (an
 * XSUB/XPUB forwarder that holds no key) logs SPI and IV of every ESP frame
 * it forwards, so that the test can look for a reused nonce, and prints
 * "subscribe T" and "unsubscribe T" as each subscriber's subscriptions
 * pass.  The client's requests reach any worker through a ROUTER/DEALER
 * broker, which prints "worker connected" as each worker's connection
 * completes; each worker answers on its reply policy with its name.
 * --timeout-ms (default 10 s) bounds every wait: for a subscription, an
 * SA, a rekey, an answer, a message.
 */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zesp.h>
#include <zmq.h>

#define SENDERS_MAX 16
#define COUNT_MAX 1000000

#define FORGED_FIRST_SEQ (UINT64_C(1) << 20)

struct opts {
    const char *sad, *policy, *connect, *topic, *tag, *name, *xsub, *xpub,
        *front, *back, *log, *key, *mac_pub;
    int count, interval_us, timeout_ms, senders, switch_at;
    unsigned long spi, sender, mac_id;
};

/* The tool stops at the first failure; nothing is left to wait for. */
static int die(const char *what)
{
    fprintf(stderr, "group_peer: %s: %s\n", what, zesp_strerror(errno));
    exit(1);
}

static zesp_sad *open_sad(const struct opts *o)
{
    zesp_sad *sad = zesp_sad_open(o->sad, 0, NULL);

    if (sad != NULL)
        zesp_sad_set_acquire_timeout(sad, (uint32_t)o->timeout_ms);
    return sad;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An XPUB publisher: wait until a subscription to the topic arrives (or
 * say on stderr that none came). */
static bool subscribed(void *s, const struct opts *o)
{
    size_t tl = strlen(o->topic);
    int slice = 100;

    zmq_setsockopt(s, ZMQ_RCVTIMEO, &slice, sizeof slice);
    for (double end = now_s() + o->timeout_ms / 1000.0; now_s() < end;) {
        unsigned char m[256];
        int n = zmq_recv(s, m, sizeof m, 0);
        if (n > 0 && m[0] == 1 && (size_t)n - 1 == tl &&
            memcmp(m + 1, o->topic, tl) == 0)
            return true;
    }
    fprintf(stderr, "group_peer: no subscription to %s\n", o->topic);
    return false;
}

/* Wait until the policy sends on another SA than spi (a rekey). */
static bool moved_from(zesp_sad *sad, const struct opts *o, uint32_t spi)
{
    for (double end = now_s() + o->timeout_ms / 1000.0; now_s() < end;) {
        zesp_policy p;
        if (zesp_policy_get(sad, o->policy, &p) == 0 && p.out_spi != 0 &&
            p.out_spi != spi)
            return true;
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    }
    return false;
}

static void *socket_to(void *ctx, int type, const char *ep, bool bind)
{
    void *s = zmq_socket(ctx, type);
    int linger = 2000;

    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
        fprintf(stderr, "group_peer: %s: %s\n", ep, zmq_strerror(errno));
        exit(1);
    }
    return s;
}

/* Message i of a sender: its topic in clear, "TAG:i" sealed. */
struct tagged {
    char text[64];
    zesp_frame topic, body;
};

static zesp_parts tagged(struct tagged *t, const struct opts *o, int i)
{
    t->topic = (zesp_frame){ o->topic, strlen(o->topic) };
    t->body = (zesp_frame){ t->text, (size_t)snprintf(t->text, sizeof t->text,
                                                      "%s:%d", o->tag, i) };
    return (zesp_parts){ .clear = &t->topic, .nclear = 1, .body = &t->body,
                         .nbody = 1 };
}

static int pub(const struct opts *o, void *ctx)
{
    zesp_sad *sad = open_sad(o);
    void *s = socket_to(ctx, ZMQ_XPUB, o->connect, false);
    int sent = 0, failed = 0;
    zesp_policy first;

    if (sad == NULL)
        return die(o->sad);
    if (!subscribed(s, o))
        return 1;
    for (int i = 0; i < o->count; i++) {
        struct tagged t;
        zesp_parts parts = tagged(&t, o, i);

        if (i == 0 && zesp_policy_get(sad, o->policy, &first) != 0)
            first.out_spi = 0;
        if (i == o->switch_at && i > 0 && !moved_from(sad, o, first.out_spi)) {
            fprintf(stderr, "group_peer: %s still on SA 0x%08x\n", o->policy,
                    first.out_spi);
            failed++;
        }
        if (zesp_send_policy(sad, o->policy, s, &parts, 0) == 0)
            sent++;
        else if (failed++ == 0)
            fprintf(stderr, "group_peer: send: %s\n", zesp_strerror(errno));
        if (o->interval_us > 0)
            nanosleep(&(struct timespec){ 0, (long)o->interval_us * 1000 },
                      NULL);
    }
    printf("pub %s: sent %d failed %d\n", o->tag, sent, failed);
    zmq_close(s);
    zesp_sad_free(sad);
    return failed ? 1 : 0;
}

struct sender {
    char name[ZESP_PEER_MAX];
    uint32_t sid;
    int got;
    unsigned char *seen;
};

static struct sender *sender_of(struct sender *t, int *n, const char *name,
                                uint32_t sid, int count)
{
    for (int i = 0; i < *n; i++)
        if (t[i].sid == sid && strcmp(t[i].name, name) == 0)
            return &t[i];
    if (*n == SENDERS_MAX)
        return NULL;
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].sid = sid;
    t[*n].got = 0;
    t[*n].seen = calloc((size_t)count, 1);
    return &t[(*n)++];
}

static int sub(const struct opts *o, void *ctx)
{
    zesp_sad *sad = open_sad(o);
    void *s = socket_to(ctx, ZMQ_SUB, o->connect, false);
    zesp_msg *msg = zesp_msg_new();
    struct sender senders[SENDERS_MAX];
    int nsenders = 0, accepted = 0, dup = 0, other = 0;
    int rej_nosa = 0, rej_other = 0, rej_source = 0;
    int tlen = (int)strlen(o->tag);
    int timeout = 200;

    if (sad == NULL)
        return die(o->sad);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, o->topic, strlen(o->topic));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    printf("sub ready\n");
    fflush(stdout);
    for (long waited = 0; waited < o->timeout_ms &&
                          accepted + dup + other + rej_nosa + rej_other <
                              o->count * o->senders;) {
        if (zesp_recv(sad, s, msg, 0) != 0) {
            if (errno == EAGAIN) {
                waited += timeout;
                continue;
            }
            if (errno == ZESP_ENOSA)
                rej_nosa++;
            else
                rej_other++;
            rej_source += errno == ZESP_ESIGNATURE;
            continue;
        }
        zesp_frame b = zesp_msg_body(msg, 0);
        char text[64];
        int i;
        if (zesp_msg_clear_count(msg) != 1 || b.size <= (size_t)tlen + 1 ||
            b.size >= sizeof text || memcmp(b.data, o->tag, (size_t)tlen) != 0 ||
            ((const char *)b.data)[tlen] != ':') {
            other++;
            continue;
        }
        memcpy(text, b.data, b.size);       /* frames are not strings */
        text[b.size] = '\0';
        i = atoi(text + tlen + 1);
        struct sender *snd = sender_of(senders, &nsenders, zesp_msg_peer(msg),
                                       zesp_msg_sender_id(msg), o->count);
        if (snd == NULL || i < 0 || i >= o->count)
            continue;
        if (snd->seen[i]) {
            dup++;
            continue;
        }
        snd->seen[i] = 1;
        snd->got++;
        accepted++;
    }
    printf("sub %s: accepted %d dup %d other %d rejected-nosa %d "
           "rejected-other %d senders %d\n", o->tag, accepted, dup, other,
           rej_nosa, rej_other, nsenders);
    printf("sub %s: rejected-source %d\n", o->tag, rej_source);
    for (int k = 0; k < nsenders; k++) {
        printf("sub %s: from %s sender-id %u got %d\n", o->tag,
               senders[k].name, senders[k].sid, senders[k].got);
        free(senders[k].seen);
    }
    zesp_msg_free(msg);
    zmq_close(s);
    zesp_sad_free(sad);
    return 0;
}

/* An XSUB/XPUB forwarder with no key: it logs SPI and IV of each ESP
 * frame (the last frame) it forwards. */
static int proxy(const struct opts *o, void *ctx)
{
    void *xsub = socket_to(ctx, ZMQ_XSUB, o->xsub, true);
    void *xpub = socket_to(ctx, ZMQ_XPUB, o->xpub, true);
    FILE *log = o->log ? fopen(o->log, "w") : NULL;
    zmq_pollitem_t items[] = { { xsub, 0, ZMQ_POLLIN, 0 },
                               { xpub, 0, ZMQ_POLLIN, 0 } };
    int each = 1;

    /* Every subscriber's (un)subscription, not only a topic's first. */
    zmq_setsockopt(xpub, ZMQ_XPUB_VERBOSER, &each, sizeof each);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (log)
        setvbuf(log, NULL, _IOLBF, 0);
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0)
            break;
        for (int k = 0; k < 2; k++) {
            void *from = items[k].socket, *to = k ? xsub : xpub;
            int more = 1;
            if (!(items[k].revents & ZMQ_POLLIN))
                continue;
            while (more) {
                zmq_msg_t m;
                size_t ml = sizeof more;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, from, 0) < 0)
                    return 1;
                zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
                if (k == 1 && zmq_msg_size(&m) >= 1) {
                    const char *p = zmq_msg_data(&m);
                    if (*p == 0 || *p == 1)
                        printf("%s %.*s\n", *p ? "subscribe" : "unsubscribe",
                               (int)zmq_msg_size(&m) - 1, p + 1);
                }
                if (!more && k == 0 && log && zmq_msg_size(&m) >= 16) {
                    const unsigned char *p = zmq_msg_data(&m);
                    for (int b = 0; b < 16; b++)
                        if (b < 4 || b >= 8)
                            fprintf(log, "%02x", p[b]);
                    fputc('\n', log);
                }
                zmq_msg_send(&m, to, more ? ZMQ_SNDMORE : 0);
            }
        }
    }
    return 0;
}

/* Forward one whole message. */
static int forward(void *from, void *to)
{
    for (int more = 1; more;) {
        zmq_msg_t m;
        size_t ml = sizeof more;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, from, 0) < 0)
            return -1;
        zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
        if (zmq_msg_send(&m, to, more ? ZMQ_SNDMORE : 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
    }
    return 0;
}

/* ROUTER/DEALER, as zmq_proxy, saying when a worker's connection is up
 * (ZeroMQ's handshake done: the DEALER hands it requests from then on). */
static int broker(const struct opts *o, void *ctx)
{
    void *front = socket_to(ctx, ZMQ_ROUTER, o->front, true);
    void *back = socket_to(ctx, ZMQ_DEALER, o->back, true);
    void *mon = zmq_socket(ctx, ZMQ_PAIR);

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (zmq_socket_monitor(back, "inproc://broker-back",
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
        zmq_connect(mon, "inproc://broker-back") != 0)
        return die("monitor");
    for (;;) {
        zmq_pollitem_t items[] = { { front, 0, ZMQ_POLLIN, 0 },
                                   { back, 0, ZMQ_POLLIN, 0 },
                                   { mon, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 3, -1) < 0)
            return 1;
        if ((items[0].revents & ZMQ_POLLIN) && forward(front, back) != 0)
            return 1;
        if ((items[1].revents & ZMQ_POLLIN) && forward(back, front) != 0)
            return 1;
        if (items[2].revents & ZMQ_POLLIN) {
            char ev[64];
            /* Two frames: the event, then the peer's address. */
            if (zmq_recv(mon, ev, sizeof ev, 0) < 0 ||
                zmq_recv(mon, ev, sizeof ev, 0) < 0)
                return 1;
            printf("worker connected\n");
        }
    }
}

static int tap(const struct opts *o, void *ctx)
{
    void *front = socket_to(ctx, ZMQ_DEALER, o->front, true);
    void *back = socket_to(ctx, ZMQ_DEALER, o->back, false);
    int seen = 0;

    for (;;) {
        zmq_pollitem_t items[] = { { front, 0, ZMQ_POLLIN, 0 },
                                   { back, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 2, -1) < 0)
            return 1;
        for (int k = 0; k < 2; k++) {
            void *from = items[k].socket, *to = k ? front : back;
            zmq_msg_t parts[16];
            int n = 0, more = 1;
            if (!(items[k].revents & ZMQ_POLLIN))
                continue;
            while (more && n < 16) {
                size_t ml = sizeof more;
                zmq_msg_init(&parts[n]);
                if (zmq_msg_recv(&parts[n], from, 0) < 0)
                    return 1;
                zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
                n++;
            }
            int copies = k == 0 && ++seen == o->count ? 2 : 1;
            for (int c = 0; c < copies; c++)
                for (int i = 0; i < n; i++) {
                    zmq_msg_t m;
                    zmq_msg_init(&m);
                    zmq_msg_copy(&m, &parts[i]);
                    zmq_msg_send(&m, to, i + 1 < n ? ZMQ_SNDMORE : 0);
                }
            for (int i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
        }
    }
}

static int inject(const struct opts *o, void *ctx)
{
    void *s = socket_to(ctx, ZMQ_DEALER, o->connect, false);
    unsigned char junk[64];
    FILE *r = fopen("/dev/urandom", "rb");

    if (r == NULL || fread(junk, 1, sizeof junk, r) != sizeof junk)
        return 1;
    fclose(r);
    junk[0] = junk[1] = 0xee;            /* an SPI nobody has */
    zmq_send(s, o->topic, strlen(o->topic), ZMQ_SNDMORE);
    zmq_send(s, junk, sizeof junk, 0);
    zmq_close(s);
    return 0;
}

static int malformed(const struct opts *o, void *ctx)
{
    void *s = socket_to(ctx, ZMQ_XPUB, o->connect, false);
    unsigned char frame[40] = { 0 };

    if (!subscribed(s, o))
        return 1;
    for (int i = 0; i < 4; i++)
        frame[i] = (unsigned char)(o->spi >> (24 - 8 * i));
    frame[7] = 1;                        /* sequence number 1 */
    frame[8] = (unsigned char)(o->sender >> 8);
    frame[9] = (unsigned char)o->sender;
    frame[15] = 1;
    zmq_send(s, o->topic, strlen(o->topic), ZMQ_SNDMORE);
    zmq_send(s, frame, sizeof frame, 0);
    zmq_close(s);
    return 0;
}

/* The identity secret key from a file of one Z85 line (the seed). */
static int read_identity(const char *path, uint8_t sk[64])
{
    uint8_t seed[32], pk[32];
    char line[64] = "";
    FILE *f = fopen(path, "r");
    int rc = -1;

    if (f != NULL && fgets(line, sizeof line, f) != NULL &&
        strlen(line) >= 40) {
        line[40] = '\0';
        if (zmq_z85_decode(seed, line) != NULL &&
            crypto_sign_seed_keypair(pk, sk, seed) == 0)
            rc = 0;
    }
    if (f != NULL)
        fclose(f);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(line, sizeof line);
    return rc;
}

/* The forger's SA: the group SA's key and transform, another member's
 * Sender ID, and the best proof our identity key makes: a signature
 * (signed group) or a MAC for one receiver (source MACs). */
static int forged_sa(zesp_sad *sad, const struct opts *o, zesp_sa_params *p)
{
    zesp_policy pol;
    zesp_sa_info info;
    uint8_t sk[64], pk[32];
    int rc = -1;

    memset(p, 0, sizeof *p);
    if (zesp_policy_get(sad, o->policy, &pol) != 0 || pol.out_spi == 0 ||
        zesp_sa_info_get(sad, pol.out_spi, ZESP_DIR_OUT, &info) != 0 ||
        zesp_sa_key_get(sad, pol.out_spi, ZESP_DIR_OUT, p->key) != 0 ||
        read_identity(o->key, sk) != 0)
        goto out;
    p->spi = pol.out_spi;
    p->direction = ZESP_DIR_OUT;
    p->transform = info.transform;
    p->sender_id = (uint32_t)o->sender;
    p->next_seq = FORGED_FIRST_SEQ;
    if (info.flags & ZESP_SA_SIGNED) {
        p->flags = ZESP_SA_GROUP | ZESP_SA_SIGNED;
        memcpy(p->sign_key, sk, sizeof p->sign_key);
        rc = 0;
        goto out;
    }
    if (o->mac_pub == NULL || o->mac_id == 0 || strlen(o->mac_pub) != 40 ||
        zmq_z85_decode(pk, o->mac_pub) == NULL)
        goto out;
    p->flags = ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC;
    p->mac_count = 1;
    p->mac_id[0] = (uint32_t)o->mac_id;
    rc = zesp_source_mac_key(p->mac_key[0], sk, pk, 1, p->spi, p->sender_id,
                             p->mac_id[0], p->key);
out:
    sodium_memzero(sk, sizeof sk);
    return rc;
}

static int forge(const struct opts *o, void *ctx)
{
    zesp_sad *sad = open_sad(o), *mine = zesp_sad_new(NULL);
    void *s = socket_to(ctx, ZMQ_XPUB, o->connect, false);
    zesp_sa_params p;
    uint32_t spi;
    int sent = 0;

    if (sad == NULL || mine == NULL)
        return die(o->sad);
    if (forged_sa(sad, o, &p) != 0 || zesp_sa_add(mine, &p) != 0) {
        sodium_memzero(&p, sizeof p);
        return die("forge: the group SA, the keys");
    }
    spi = p.spi;
    sodium_memzero(&p, sizeof p);
    if (!subscribed(s, o))
        return 1;
    for (int i = 0; i < o->count; i++) {
        struct tagged t;
        zesp_parts parts = tagged(&t, o, i);
        sent += zesp_send(mine, spi, s, &parts, 0) == 0;
    }
    printf("forge %s: sent %d as Sender ID %lu\n", o->tag, sent, o->sender);
    zmq_close(s);
    zesp_sad_free(mine);
    zesp_sad_free(sad);
    return sent == o->count ? 0 : 1;
}

static int worker(const struct opts *o, void *ctx)
{
    zesp_sad *sad = open_sad(o);
    void *s = socket_to(ctx, ZMQ_REP, o->connect, false);
    zesp_msg *msg = zesp_msg_new();
    int answered = 0;

    if (sad == NULL)
        return die(o->sad);
    for (;;) {
        char text[256];
        zesp_frame body = { text, 0 };
        zesp_parts parts = { .body = &body, .nbody = 1 };

        if (zesp_recv(sad, s, msg, 0) != 0) {
            /* A REP socket must answer: say no, unprotected. */
            fprintf(stderr, "group_peer: worker %s refused a request: %s\n",
                    o->name, zesp_strerror(errno));
            zmq_send(s, "refused", 7, 0);
            continue;
        }
        zesp_frame req = zesp_msg_body(msg, 0);
        body.size = (size_t)snprintf(text, sizeof text, "%s:%.*s", o->name,
                                     (int)req.size, (const char *)req.data);
        if (zesp_send_policy(sad, o->policy, s, &parts, 0) != 0)
            return die("worker send");
        if (++answered % 100 == 0)
            fprintf(stderr, "worker %s: %d answered\n", o->name, answered);
    }
}

static int client(const struct opts *o, void *ctx)
{
    zesp_sad *sad = open_sad(o);
    void *s = socket_to(ctx, ZMQ_REQ, o->connect, false);
    zesp_msg *msg = zesp_msg_new();
    char names[SENDERS_MAX][ZESP_PEER_MAX];
    int per[SENDERS_MAX] = { 0 }, nnames = 0, good = 0, bad = 0;

    if (sad == NULL)
        return die(o->sad);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &o->timeout_ms, sizeof o->timeout_ms);
    for (int i = 0; i < o->count; i++) {
        char text[64], want[64];
        zesp_frame body = { text, (size_t)snprintf(text, sizeof text,
                                                   "request %d", i) };
        zesp_parts parts = { .body = &body, .nbody = 1 };

        if (zesp_send_policy(sad, o->policy, s, &parts, 0) != 0)
            return die("client send");
        if (zesp_recv(sad, s, msg, 0) != 0) {
            fprintf(stderr, "group_peer: client reply %d: %s\n", i,
                    zesp_strerror(errno));
            bad++;
            if (errno == EAGAIN)
                break;
            continue;
        }
        zesp_frame r = zesp_msg_body(msg, 0);
        const char *colon = memchr(r.data, ':', r.size);
        snprintf(want, sizeof want, "request %d", i);
        if (colon == NULL ||
            r.size - (size_t)(colon + 1 - (const char *)r.data) !=
                strlen(want) ||
            memcmp(colon + 1, want, strlen(want)) != 0) {
            bad++;
            continue;
        }
        good++;
        /* Who answered, by the reply SA's sender. */
        int k;
        for (k = 0; k < nnames && strcmp(names[k], zesp_msg_peer(msg)); k++)
            ;
        if (k == nnames && nnames < SENDERS_MAX)
            snprintf(names[nnames++], ZESP_PEER_MAX, "%s", zesp_msg_peer(msg));
        if (k < SENDERS_MAX)
            per[k]++;
    }
    printf("client: good %d bad %d workers %d\n", good, bad, nnames);
    for (int k = 0; k < nnames; k++)
        printf("client: %s answered %d\n", names[k], per[k]);
    zesp_msg_free(msg);
    zmq_close(s);
    zesp_sad_free(sad);
    return good == o->count ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o = { .count = 100, .timeout_ms = 10000, .senders = 1 };
    const char **strs[] = { &o.sad, &o.policy, &o.connect, &o.topic, &o.tag,
                            &o.name, &o.xsub, &o.xpub, &o.front, &o.back,
                            &o.log, &o.key, &o.mac_pub };
    static const char *const names[] = { "--sad", "--policy", "--connect",
                                         "--topic", "--tag", "--name",
                                         "--xsub", "--xpub", "--front",
                                         "--back", "--log", "--key",
                                         "--mac-pub" };
    void *ctx;
    int rc;

    if (argc < 2)
        goto usage;
    for (int i = 2; i + 1 < argc; i += 2) {
        size_t k;
        for (k = 0; k < sizeof names / sizeof names[0]; k++)
            if (strcmp(argv[i], names[k]) == 0)
                *strs[k] = argv[i + 1];
        if (k < sizeof names / sizeof names[0] &&
            strcmp(argv[i], names[k]) == 0)
            continue;
        if (strcmp(argv[i], "--count") == 0)
            o.count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval-us") == 0)
            o.interval_us = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            o.timeout_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--senders") == 0)
            o.senders = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--switch-at") == 0)
            o.switch_at = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--spi") == 0)
            o.spi = strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--sender") == 0)
            o.sender = strtoul(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--mac-id") == 0)
            o.mac_id = strtoul(argv[i + 1], NULL, 0);
    }
    if (o.count <= 0 || o.count > COUNT_MAX || o.senders < 1 ||
        o.senders > SENDERS_MAX)
        goto usage;
    if (o.tag == NULL)
        o.tag = "m";
    if (o.topic == NULL)
        o.topic = "t";
    ctx = zmq_ctx_new();
    if (strcmp(argv[1], "pub") == 0 && o.sad && o.policy && o.connect)
        rc = pub(&o, ctx);
    else if (strcmp(argv[1], "sub") == 0 && o.sad && o.connect)
        rc = sub(&o, ctx);
    else if (strcmp(argv[1], "proxy") == 0 && o.xsub && o.xpub)
        rc = proxy(&o, ctx);
    else if (strcmp(argv[1], "broker") == 0 && o.front && o.back)
        rc = broker(&o, ctx);
    else if (strcmp(argv[1], "tap") == 0 && o.front && o.back)
        rc = tap(&o, ctx);
    else if (strcmp(argv[1], "inject") == 0 && o.connect)
        rc = inject(&o, ctx);
    else if (strcmp(argv[1], "malformed") == 0 && o.connect)
        rc = malformed(&o, ctx);
    else if (strcmp(argv[1], "forge") == 0 && o.sad && o.policy &&
             o.connect && o.key && o.sender)
        rc = forge(&o, ctx);
    else if (strcmp(argv[1], "worker") == 0 && o.sad && o.policy &&
             o.connect && o.name)
        rc = worker(&o, ctx);
    else if (strcmp(argv[1], "client") == 0 && o.sad && o.policy &&
             o.connect)
        rc = client(&o, ctx);
    else
        goto usage;
    zmq_ctx_term(ctx);
    return rc;
usage:
    fprintf(stderr, "usage: group_peer pub|sub|proxy|broker|worker|client|tap|inject|malformed|forge "
                    "[options] (see the source)\n");
    return 2;
}
