/*
 * The IKEv2 exchanges zike runs (RFC 7296): IKE_SA_INIT and IKE_AUTH with
 * one child SA, CREATE_CHILD_SA for new and rekeyed child SAs (always with
 * a fresh X25519 exchange), INFORMATIONAL for DELETE and liveness, with
 * retransmission, a response cache and cookies.  Child SAs are installed in
 * the SAD: the responder's inbound SA before it answers, the outbound SAs
 * make-before-break (doc/zike-protocol.md).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "capture.h"
#include "daemon.h"
#include "proposal.h"
#include "transform.h"

#define MSG_CAP IKE_MAX_MESSAGE
#define HALF_OPEN_MS 10000U       /* a half-open SA is dropped after this */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

const char *ike_state_name(enum ike_state s)
{
    switch (s) {
    case IKE_ST_INIT_SENT: return "init-sent";
    case IKE_ST_HALF_OPEN: return "half-open";
    case IKE_ST_AUTH_SENT: return "auth-sent";
    case IKE_ST_ESTABLISHED: return "established";
    case IKE_ST_DELETING: return "deleting";
    case IKE_ST_DEAD: return "dead";
    }
    return "?";
}

static const struct zike_peer *sa_peer(struct zike *z, const struct ike_sa *sa)
{
    return sa->peer_name[0] ? zike_conf_peer(&z->conf, sa->peer_name) : NULL;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);

    if (p != NULL)
        memcpy(p, b, len);
    return p;
}

/* ---- child SAs in the SAD ---------------------------------------------- */

/* A fresh inbound SPI, unused in the SAD (and never 0..255, RFC 4303). */
uint32_t zike_new_spi(struct zike *z)
{
    for (;;) {
        uint32_t spi = randombytes_random();
        zesp_sa_info info;

        if (spi < 256)
            continue;
        if (zesp_sa_info_get(z->sad, spi, ZESP_DIR_IN, &info) != 0)
            return spi;
    }
}

/* Soft limits a random 10 to 20 % below the hard ones, so that two peers
 * do not rekey in lockstep and a rekey has time to finish. */
static uint64_t jitter(uint64_t hard)
{
    uint64_t tenth = hard / 10, cut;

    if (hard == 0)
        return 0;
    cut = tenth + (tenth ? randombytes_uniform(
                               (uint32_t)(tenth > UINT32_MAX ? UINT32_MAX
                                                             : tenth))
                         : 0);
    return hard - cut > 0 ? hard - cut : 1;
}

static int install_sa(struct zike *z, const struct zike_peer *peer,
                      uint32_t spi, uint32_t dir, uint32_t transform,
                      bool esn, const uint8_t key[ZESP_KEYBYTES])
{
    zesp_sa_params p;
    int rc;

    memset(&p, 0, sizeof p);
    p.spi = spi;
    p.direction = dir;
    p.transform = transform;
    p.flags = esn ? 0 : ZESP_SA_NO_ESN;
    p.hard = peer->child_life;
    p.soft.seconds = jitter(p.hard.seconds);
    p.soft.messages = jitter(p.hard.messages);
    p.soft.bytes = jitter(p.hard.bytes);
    memcpy(p.key, key, ZESP_KEYBYTES);
    snprintf(p.peer, sizeof p.peer, "%s", peer->name);
    capture_child_key(spi, dir == ZESP_DIR_IN, key);
    rc = zesp_sa_add(z->sad, &p);
    sodium_memzero(&p, sizeof p);
    if (rc != 0)
        zike_log(LOG_ERR, "peer %s: cannot install SA %08x %s: %s",
                 peer->name, spi, dir == ZESP_DIR_IN ? "in" : "out",
                 zesp_strerror(errno));
    return rc;
}

/* Add or remove an inbound SPI of a policy, creating the policy. */
void zike_policy_in(struct zike *z, const char *name, const char *peer,
                    uint32_t add, uint32_t remove)
{
    zesp_policy pol;

    if (zesp_policy_get(z->sad, name, &pol) != 0) {
        memset(&pol, 0, sizeof pol);
        snprintf(pol.name, sizeof pol.name, "%s", name);
    }
    snprintf(pol.peer, sizeof pol.peer, "%s", peer);
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (remove && pol.in_spi[i] == remove)
            pol.in_spi[i] = 0;
    if (add) {
        size_t i;
        for (i = 0; i < ZESP_POLICY_IN_MAX && pol.in_spi[i] != 0; i++)
            ;
        /* Full: the first slot holds the oldest SA. */
        if (i == ZESP_POLICY_IN_MAX) {
            memmove(pol.in_spi, pol.in_spi + 1,
                    (ZESP_POLICY_IN_MAX - 1) * sizeof pol.in_spi[0]);
            i = ZESP_POLICY_IN_MAX - 1;
        }
        pol.in_spi[i] = add;
    }
    if (zesp_policy_set(z->sad, &pol) != 0)
        zike_log(LOG_ERR, "policy %s: cannot update: %s", name,
                 zesp_strerror(errno));
}

static void child_activate(struct zike *z, struct ike_sa *sa,
                           struct child_sa *c)
{
    if (c->out_active)
        return;
    if (zesp_policy_set_out(z->sad, c->policy, c->spi_out) != 0) {
        zike_log(LOG_ERR, "policy %s: cannot switch to SA %08x: %s",
                 c->policy, c->spi_out, zesp_strerror(errno));
        return;
    }
    c->out_active = true;
    c->activate_at = 0;
    zike_log(LOG_INFO, "peer %s: policy %s now sends on SA %08x",
             sa->peer_name, c->policy, c->spi_out);
}

/* Take a child out of the SAD (both directions) and of the IKE SA. */
static void child_remove(struct zike *z, struct ike_sa *sa,
                         struct child_sa *c)
{
    struct child_sa **pp;

    zesp_sa_del(z->sad, c->spi_in, ZESP_DIR_IN);
    zesp_sa_del(z->sad, c->spi_out, ZESP_DIR_OUT);
    zike_policy_in(z, c->policy, sa->peer_name, 0, c->spi_in);
    {
        zesp_policy pol;
        if (zesp_policy_get(z->sad, c->policy, &pol) == 0 &&
            pol.out_spi == c->spi_out)
            zesp_policy_set_out(z->sad, c->policy, 0);
    }
    zike_log(LOG_INFO, "peer %s: child SA %08x/%08x (%s) removed",
             sa->peer_name, c->spi_in, c->spi_out, c->policy);
    for (pp = &sa->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c);
}

static struct child_sa *child_by_in(struct ike_sa *sa, uint32_t spi)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->spi_in == spi)
            return c;
    return NULL;
}

static struct child_sa *child_by_out(struct ike_sa *sa, uint32_t spi)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->spi_out == spi)
            return c;
    return NULL;
}

/* Install both SAs of a new child.  KEYMAT: the initiator's outbound key
 * first (2.17).  The initiator of the exchange and a responder-created
 * first child differ only in which half goes out, and in when the
 * outbound SA starts to carry the policy. */
static struct child_sa *child_install(struct zike *z, struct ike_sa *sa,
                                      const char *policy, uint32_t spi_in,
                                      uint32_t spi_out, uint32_t transform,
                                      bool esn, const uint8_t *keymat,
                                      bool exchange_initiator, bool in_only)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    const uint8_t *k_in = exchange_initiator ? keymat + ZESP_KEYBYTES : keymat;
    const uint8_t *k_out = exchange_initiator ? keymat : keymat + ZESP_KEYBYTES;
    struct child_sa *c;

    if (peer == NULL || (c = calloc(1, sizeof *c)) == NULL)
        return NULL;
    snprintf(c->policy, sizeof c->policy, "%s", policy);
    c->spi_in = spi_in;
    c->spi_out = spi_out;
    c->transform = transform;
    c->esn = esn;
    if (install_sa(z, peer, spi_in, ZESP_DIR_IN, transform, esn, k_in) != 0) {
        free(c);
        return NULL;
    }
    if (!in_only &&
        install_sa(z, peer, spi_out, ZESP_DIR_OUT, transform, esn, k_out) != 0) {
        zesp_sa_del(z->sad, spi_in, ZESP_DIR_IN);
        free(c);
        return NULL;
    }
    zike_policy_in(z, policy, peer->name, spi_in, 0);
    c->next = sa->children;
    sa->children = c;
    z->stats.child_installed++;
    return c;
}

/* ---- sending ------------------------------------------------------------- */

static void header(struct ike_header *h, const struct ike_sa *sa,
                   uint8_t exchange, bool response, uint32_t mid)
{
    memset(h, 0, sizeof *h);
    memcpy(h->spi_i, sa->spi_i, 8);
    memcpy(h->spi_r, sa->spi_r, 8);
    h->exchange = exchange;
    h->flags = (uint8_t)((sa->initiator ? IKE_FLAG_INITIATOR : 0) |
                         (response ? IKE_FLAG_RESPONSE : 0));
    h->message_id = mid;
}

/* Wrap the inner payloads `chain` (from ike_w_init_chain) in an SK payload
 * of a new message; returns its length, 0 on error. */
static size_t seal(struct ike_sa *sa, uint8_t exchange, bool response,
                   uint32_t mid, const uint8_t *chain, size_t chain_len,
                   uint8_t *out)
{
    struct ike_header h;
    struct ike_writer w;
    size_t sk_at, len;

    header(&h, sa, exchange, response, mid);
    ike_w_init(&w, out, MSG_CAP, &h);
    sk_at = w.len;
    ike_w_begin(&w, IKE_PL_SK, false);
    if (w.err || chain_len < 1 ||
        sk_at + 4 + IKE_SK_IV_BYTES + chain_len + 1 + IKE_SK_ICV_BYTES >
            MSG_CAP)
        return 0;
    out[sk_at] = chain[0];                  /* first inner payload */
    memcpy(out + sk_at + 4 + IKE_SK_IV_BYTES, chain + 1, chain_len - 1);
    if (ike_sk_seal(out, MSG_CAP, sk_at, chain_len - 1, sa->keys,
                    sa->initiator, &sa->iv_counter, &len) != IKE_OK)
        return 0;
    return len;
}

/* Send a request and keep it for retransmission. */
static int send_request(struct zike *z, struct ike_sa *sa, uint8_t *buf,
                        size_t len)
{
    free(sa->req.buf);
    if ((sa->req.buf = dup_bytes(buf, len)) == NULL)
        return -1;
    sa->req.len = len;
    sa->req.tries = 0;
    sa->req.resend_at = z->now + z->conf.retransmit_ms;
    return zike_send(z, &sa->route, buf, len);
}

static void send_response(struct zike *z, struct ike_sa *sa,
                          const struct route *to, uint8_t *buf, size_t len,
                          uint32_t mid)
{
    free(sa->resp);
    sa->resp = dup_bytes(buf, len);
    sa->resp_len = sa->resp ? len : 0;
    sa->resp_mid = mid;
    zike_send(z, to, buf, len);
}

/* An encrypted request with the payloads of chain. */
int ike_request(struct zike *z, struct ike_sa *sa, enum req_kind kind,
                uint8_t exchange, const uint8_t *chain, size_t chain_len)
{
    uint8_t *msg = malloc(MSG_CAP);
    size_t len;
    int rc = -1;

    if (msg == NULL)
        return -1;
    sa->req.kind = kind;
    sa->req.mid = sa->mid_out;
    if ((len = seal(sa, exchange, false, sa->mid_out, chain, chain_len,
                    msg)) != 0 &&
        send_request(z, sa, msg, len) == 0) {
        sa->mid_out++;
        rc = 0;
    }
    if (rc != 0)
        sa->req.kind = REQ_NONE;
    free(msg);
    return rc;
}

void ike_respond(struct zike *z, struct ike_sa *sa, const struct route *to,
                 uint8_t exchange, uint32_t mid, const uint8_t *chain,
                 size_t chain_len)
{
    uint8_t *msg = malloc(MSG_CAP);
    size_t len;

    if (msg == NULL)
        return;
    if ((len = seal(sa, exchange, true, mid, chain, chain_len, msg)) != 0)
        send_response(z, sa, to, msg, len, mid);
    free(msg);
}

/* An unencrypted notify-only response (errors in IKE_SA_INIT, COOKIE). */
static void respond_plain_notify(struct zike *z, const struct route *to,
                                 const struct ike_message *req, uint16_t type,
                                 const uint8_t *data, size_t len)
{
    uint8_t buf[256];
    struct ike_header h = req->hdr;
    struct ike_writer w;
    size_t out;

    memset(h.spi_r, 0, 8);
    h.flags = IKE_FLAG_RESPONSE;
    ike_w_init(&w, buf, sizeof buf, &h);
    ike_w_notify(&w, 0, type, NULL, 0, data, len);
    if (ike_w_finish(&w, &out) == IKE_OK)
        zike_send(z, to, buf, out);
}

/* ---- IKE_SA_INIT ----------------------------------------------------------- */

struct ike_sa *ike_sa_new(struct zike *z, bool initiator)
{
    struct ike_sa *sa = calloc(1, sizeof *sa);

    if (sa == NULL)
        return NULL;
    if ((sa->keys = ike_keys_new()) == NULL) {
        free(sa);
        return NULL;
    }
    sa->initiator = initiator;
    sa->created = sa->last_heard = z->now;
    randombytes_buf(initiator ? sa->spi_i : sa->spi_r, 8);
    if (initiator) {
        sa->ni_len = IKE_NONCE_BYTES;
        randombytes_buf(sa->ni, sa->ni_len);
    } else {
        sa->nr_len = IKE_NONCE_BYTES;
        randombytes_buf(sa->nr, sa->nr_len);
    }
    if (ike_x25519_keypair(sa->dh_pub, sa->keys->dh_priv) != 0) {
        ike_keys_free(sa->keys);
        free(sa);
        return NULL;
    }
    sa->next = z->sas;
    z->sas = sa;
    return sa;
}

void ike_sa_free(struct zike *z, struct ike_sa *sa)
{
    struct ike_sa **pp;

    for (pp = &z->sas; *pp; pp = &(*pp)->next)
        if (*pp == sa) {
            *pp = sa->next;
            break;
        }
    while (sa->children) {
        struct child_sa *c = sa->children;
        sa->children = c->next;
        free(c);
    }
    ike_keys_free(sa->keys);
    free(sa->msg1);
    free(sa->msg2);
    free(sa->req.buf);
    free(sa->resp);
    sodium_memzero(&sa->req, sizeof sa->req);
    free(sa);
}

static int peer_index(struct zike *z, const char *name)
{
    for (size_t i = 0; i < z->conf.npeers; i++)
        if (strcmp(z->conf.peers[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* An initiator that failed waits before trying the peer again: 1 s,
 * doubling up to a minute, so that a wrong key or a dead peer is not
 * hammered. */
static void backoff(struct zike *z, struct ike_sa *sa)
{
    int i = peer_index(z, sa->peer_name);
    uint32_t n;

    if (i < 0)
        return;
    n = z->fails[i] < 6 ? z->fails[i] : 6;
    z->fails[i]++;
    z->retry_at[i] = z->now + (1000U << n);
}

/* Established (or rekeyed): the peer's failures are forgotten, and the
 * IKE SA gets its rekey time, 80 to 90 % of its lifetime. */
void ike_sa_established(struct zike *z, struct ike_sa *sa)
{
    int i = peer_index(z, sa->peer_name);
    uint64_t life_ms;

    if (i < 0)
        return;
    z->fails[i] = 0;
    life_ms = (uint64_t)z->conf.peers[i].ike_lifetime * 1000U;
    sa->rekey_at = life_ms ? sa->last_heard + life_ms - life_ms / 10 -
                                 randombytes_uniform((uint32_t)(life_ms / 10) + 1)
                           : 0;
}

static void sa_dead(struct zike *z, struct ike_sa *sa, const char *why)
{
    if (sa->superseded) {            /* rekeyed: nothing of it is left */
        sa->state = IKE_ST_DEAD;
        return;
    }
    if (why != NULL)
        zike_log(LOG_NOTICE, "peer %s: IKE SA %s", sa->peer_name[0] ?
                 sa->peer_name : "(unknown)", why);
    if (sa->initiator || sa->state == IKE_ST_ESTABLISHED)
        backoff(z, sa);
    if (sa->state == IKE_ST_ESTABLISHED)
        group_ike_sa_gone(z, sa);
    while (sa->children)
        child_remove(z, sa, sa->children);
    sa->state = IKE_ST_DEAD;
}

static int derive(struct ike_sa *sa, uint16_t encr, const uint8_t *peer_pub,
                  size_t peer_len)
{
    uint8_t shared[IKE_X25519_BYTES];
    int rc = -1;

    if (ike_x25519_shared(shared, sa->keys->dh_priv, peer_pub, peer_len) == 0)
        rc = ike_derive(sa->keys, encr, NULL, shared, sa->ni, sa->ni_len,
                        sa->nr, sa->nr_len, sa->spi_i, sa->spi_r);
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(sa->keys->dh_priv, IKE_X25519_BYTES);
    return rc;
}

static size_t write_init_request(struct ike_sa *sa,
                                 const struct zike_peer *peer, uint8_t *buf)
{
    static const uint8_t hash_identity[] = { 0, 5 };  /* RFC 8420 */
    struct ike_header h;
    struct ike_writer w;
    struct ike_sa_payload prop;
    struct encr_list offer = encr_choice(peer->ike_encr);
    size_t len;

    header(&h, sa, IKE_SA_INIT, false, 0);
    ike_w_init(&w, buf, MSG_CAP, &h);
    if (sa->cookie_len)
        ike_w_notify(&w, 0, IKE_N_COOKIE, NULL, 0, sa->cookie,
                     sa->cookie_len);
    ike_proposal(&prop, &offer, NULL, 0, IKE_PROTO_IKE, false, false, false);
    ike_w_sa(&w, &prop);
    ike_w_ke(&w, IKE_DH_CURVE25519, sa->dh_pub, sizeof sa->dh_pub);
    ike_w_nonce(&w, sa->ni, sa->ni_len);
    ike_w_notify(&w, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, NULL, 0,
                 hash_identity, sizeof hash_identity);
    return ike_w_finish(&w, &len) == IKE_OK ? len : 0;
}

static int send_init(struct zike *z, struct ike_sa *sa,
                     const struct zike_peer *peer)
{
    uint8_t *buf = malloc(MSG_CAP);
    size_t len;
    int rc = -1;

    if (buf == NULL)
        return -1;
    if ((len = write_init_request(sa, peer, buf)) != 0) {
        free(sa->msg1);
        if ((sa->msg1 = dup_bytes(buf, len)) != NULL) {
            sa->msg1_len = len;
            sa->req.kind = REQ_INIT;
            sa->req.mid = 0;
            sa->mid_out = 1;
            rc = send_request(z, sa, buf, len);
        }
    }
    free(buf);
    return rc;
}

int ike_initiate(struct zike *z, const struct zike_peer *peer,
                 const char *policy)
{
    struct ike_sa *sa;

    if (peer->endpoint[0] == '\0') {
        zike_log(LOG_WARNING, "peer %s: no endpoint to initiate to",
                 peer->name);
        return -1;
    }
    if ((sa = ike_sa_new(z, true)) == NULL)
        return -1;
    snprintf(sa->peer_name, sizeof sa->peer_name, "%s", peer->name);
    snprintf(sa->auth_policy, sizeof sa->auth_policy, "%s",
             policy ? policy : peer->npolicies ? peer->policies[0] : "");
    sa->route = zike_route_to(z, peer);
    sa->state = IKE_ST_INIT_SENT;
    zike_log(LOG_INFO, "peer %s: initiating IKE SA for policy %s",
             peer->name, sa->auth_policy);
    return send_init(z, sa, peer);
}

/* The cookie for an initiator: a MAC of its nonce, SPI and route under a
 * secret of this daemon (RFC 7296 2.6). */
static void cookie_for(struct zike *z, const struct route *from,
                       const uint8_t *ni, size_t ni_len, const uint8_t spi[8],
                       uint8_t out[32])
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, z->cookie_secret, sizeof z->cookie_secret,
                            32);
    crypto_generichash_update(&st, ni, ni_len);
    crypto_generichash_update(&st, spi, 8);
    crypto_generichash_update(&st, from->rid, from->rid_len);
    crypto_generichash_final(&st, out, 32);
}

static size_t half_open(struct zike *z)
{
    size_t n = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        n += sa->state == IKE_ST_HALF_OPEN;
    return n;
}

static size_t count_sas(struct zike *z)
{
    size_t n = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        n++;
    return n;
}

static void init_request(struct zike *z, const struct route *from,
                         const uint8_t *buf, size_t len,
                         const struct ike_message *m)
{
    static const uint8_t hash_identity[] = { 0, 5 };
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    struct ike_sa_payload offer, chosen;
    struct ike_ke ke;
    const uint8_t *ni;
    size_t ni_len;
    uint16_t encr = 0;
    const struct ike_proposal *pick = NULL;
    bool cookie_ok = false;
    struct ike_sa *sa;

    if (psa == NULL || pke == NULL || pn == NULL ||
        ike_parse_sa(psa, &offer) != IKE_OK ||
        ike_parse_ke(pke, &ke) != IKE_OK ||
        ike_parse_nonce(pn, &ni, &ni_len) != IKE_OK) {
        respond_plain_notify(z, from, m, IKE_N_INVALID_SYNTAX, NULL, 0);
        zike_log(LOG_NOTICE, "IKE_SA_INIT: malformed request refused");
        return;
    }
    /* A retransmitted request: answer from the cache. */
    for (sa = z->sas; sa; sa = sa->next)
        if (!sa->initiator && memcmp(sa->spi_i, m->hdr.spi_i, 8) == 0 &&
            sa->ni_len == ni_len && memcmp(sa->ni, ni, ni_len) == 0) {
            if (sa->msg2 != NULL)
                zike_send(z, from, sa->msg2, sa->msg2_len);
            return;
        }
    /* Cookies once too many SAs are half open. */
    if (half_open(z) >= z->conf.half_open_limit) {
        uint8_t want[32];
        cookie_for(z, from, ni, ni_len, m->hdr.spi_i, want);
        for (size_t i = 0; i < m->npayloads; i++) {
            struct ike_notify n;
            if (m->payloads[i].type == IKE_PL_NOTIFY &&
                ike_parse_notify(&m->payloads[i], &n) == IKE_OK &&
                n.type == IKE_N_COOKIE && n.len == 32 &&
                sodium_memcmp(n.data, want, 32) == 0)
                cookie_ok = true;
        }
        if (!cookie_ok) {
            z->stats.cookies_sent++;
            respond_plain_notify(z, from, m, IKE_N_COOKIE, want, 32);
            return;
        }
    }
    if (count_sas(z) >= z->conf.max_ike_sas) {
        zike_log(LOG_WARNING, "IKE_SA_INIT refused: %u IKE SAs already",
                 z->conf.max_ike_sas);
        respond_plain_notify(z, from, m, IKE_N_TEMPORARY_FAILURE, NULL, 0);
        return;
    }
    /* The peer is not known yet: any AEAD this host runs fast. */
    for (size_t i = 0; i < offer.nproposals && pick == NULL; i++) {
        struct encr_list fast = encr_choice(0);
        bool esn;
        if (proposal_pick(&offer.proposals[i], IKE_PROTO_IKE, &fast, false,
                          false, &esn, &encr))
            pick = &offer.proposals[i];
    }
    if (pick == NULL) {
        zike_log(LOG_NOTICE, "IKE_SA_INIT: no acceptable proposal");
        respond_plain_notify(z, from, m, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0);
        return;
    }
    if (ke.group != IKE_DH_CURVE25519) {
        static const uint8_t g31[] = { 0, IKE_DH_CURVE25519 };
        respond_plain_notify(z, from, m, IKE_N_INVALID_KE_PAYLOAD, g31, 2);
        return;
    }
    if ((sa = ike_sa_new(z, false)) == NULL)
        return;
    memcpy(sa->spi_i, m->hdr.spi_i, 8);
    memcpy(sa->ni, ni, ni_len);
    sa->ni_len = ni_len;
    sa->route = *from;
    sa->state = IKE_ST_HALF_OPEN;
    sa->mid_in = 1;
    if (derive(sa, encr, ke.data, ke.len) != 0 ||
        (sa->msg1 = dup_bytes(buf, len)) == NULL) {
        zike_log(LOG_NOTICE, "IKE_SA_INIT: bad key exchange value");
        respond_plain_notify(z, from, m, IKE_N_INVALID_SYNTAX, NULL, 0);
        sa->state = IKE_ST_DEAD;
        return;
    }
    sa->msg1_len = len;
    capture_keys(sa->spi_i, sa->spi_r, sa->keys);
    {
        uint8_t *out = malloc(MSG_CAP);
        struct encr_list one = encr_one(encr);
        struct ike_header h;
        struct ike_writer w;
        size_t olen;

        if (out == NULL) {
            sa->state = IKE_ST_DEAD;
            return;
        }
        header(&h, sa, IKE_SA_INIT, true, 0);
        ike_w_init(&w, out, MSG_CAP, &h);
        ike_proposal(&chosen, &one, NULL, 0, IKE_PROTO_IKE, false, false,
                     false);
        chosen.proposals[0].number = pick->number;
        ike_w_sa(&w, &chosen);
        ike_w_ke(&w, IKE_DH_CURVE25519, sa->dh_pub, sizeof sa->dh_pub);
        ike_w_nonce(&w, sa->nr, sa->nr_len);
        ike_w_notify(&w, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, NULL, 0,
                     hash_identity, sizeof hash_identity);
        if (ike_w_finish(&w, &olen) == IKE_OK &&
            (sa->msg2 = dup_bytes(out, olen)) != NULL) {
            sa->msg2_len = olen;
            zike_send(z, from, out, olen);
        } else {
            sa->state = IKE_ST_DEAD;
        }
        free(out);
    }
}

/* ---- AUTH ----------------------------------------------------------------- */

/* The AUTH payload data of `who` (initiator or responder) with its ID'. */
static int auth_make(struct zike *z, struct ike_sa *sa,
                     const struct zike_peer *peer, const uint8_t *id_body,
                     size_t id_len, uint8_t *out, size_t *out_len,
                     uint8_t *method)
{
    uint8_t mac[IKE_PRF_BYTES];
    const uint8_t *msg = sa->initiator ? sa->msg1 : sa->msg2;
    size_t msg_len = sa->initiator ? sa->msg1_len : sa->msg2_len;
    const uint8_t *nonce = sa->initiator ? sa->nr : sa->ni;
    size_t nonce_len = sa->initiator ? sa->nr_len : sa->ni_len;
    int rc;

    ike_auth_octets_mac(mac, sa->initiator ? sa->keys->sk_pi
                                           : sa->keys->sk_pr,
                        id_body, id_len);
    if (peer->auth == ZIKE_AUTH_PSK) {
        *method = IKE_AUTH_PSK;
        *out_len = IKE_PRF_BYTES;
        rc = ike_auth_psk(out, peer->psk, peer->psk_len, msg, msg_len, nonce,
                          nonce_len, mac);
    } else {
        *method = IKE_AUTH_DIGSIG;
        rc = ike_auth_ed25519_sign(out, out_len, z->conf.sign_sk, msg,
                                   msg_len, nonce, nonce_len, mac);
    }
    sodium_memzero(mac, sizeof mac);
    return rc;
}

/* Check the peer's AUTH payload. */
static int auth_check(struct ike_sa *sa, const struct zike_peer *peer,
                      const struct ike_payload *pid,
                      const struct ike_payload *pauth)
{
    struct ike_auth a;
    uint8_t mac[IKE_PRF_BYTES], want[IKE_PRF_BYTES];
    const uint8_t *msg = sa->initiator ? sa->msg2 : sa->msg1;
    size_t msg_len = sa->initiator ? sa->msg2_len : sa->msg1_len;
    const uint8_t *nonce = sa->initiator ? sa->ni : sa->nr;
    size_t nonce_len = sa->initiator ? sa->ni_len : sa->nr_len;
    int rc = -1;

    if (ike_parse_auth(pauth, &a) != IKE_OK)
        return -1;
    ike_auth_octets_mac(mac, sa->initiator ? sa->keys->sk_pr
                                           : sa->keys->sk_pi,
                        pid->body, pid->len);
    if (peer->auth == ZIKE_AUTH_PSK && a.method == IKE_AUTH_PSK) {
        ike_auth_psk(want, peer->psk, peer->psk_len, msg, msg_len, nonce,
                     nonce_len, mac);
        rc = a.len == IKE_PRF_BYTES && sodium_memcmp(a.data, want,
                                                     IKE_PRF_BYTES) == 0
                 ? 0 : -1;
    } else if (peer->auth == ZIKE_AUTH_ED25519 &&
               a.method == IKE_AUTH_DIGSIG) {
        rc = ike_auth_ed25519_verify(a.data, a.len, peer->pubkey, msg,
                                     msg_len, nonce, nonce_len, mac);
    }
    sodium_memzero(want, sizeof want);
    sodium_memzero(mac, sizeof mac);
    return rc;
}

/* The policy named in a ZESP_POLICY notify, or NULL. */
static bool find_policy_notify(const struct ike_message *m, char *out)
{
    for (size_t i = 0; i < m->npayloads; i++) {
        struct ike_notify n;
        if (m->payloads[i].type == IKE_PL_NOTIFY &&
            ike_parse_notify(&m->payloads[i], &n) == IKE_OK &&
            n.type == IKE_N_ZESP_POLICY && n.len > 0 &&
            n.len < ZESP_NAME_MAX && memchr(n.data, 0, n.len) == NULL) {
            memcpy(out, n.data, n.len);
            out[n.len] = '\0';
            return true;
        }
    }
    return false;
}

static bool peer_serves(const struct zike_peer *peer, const char *policy)
{
    for (size_t i = 0; i < peer->npolicies; i++)
        if (strcmp(peer->policies[i], policy) == 0)
            return true;
    return false;
}

/* The child part of a request (IKE_AUTH or CREATE_CHILD_SA): SA, TSi,
 * TSr, policy.  Writes into w. */
static void w_child_request(struct ike_writer *w, const struct zike_peer *peer,
                            uint32_t spi_in, bool pfs)
{
    struct encr_list offer = encr_choice(peer->esp_transform);
    struct ike_sa_payload prop;
    uint8_t spi[4];

    put32(spi, spi_in);
    ike_proposal(&prop, &offer, spi, 4, IKE_PROTO_ESP, true, peer->esn, pfs);
    ike_w_sa(w, &prop);
}

static void w_child_tail(struct ike_writer *w, const char *policy,
                         const struct ike_message *req)
{
    const struct ike_payload *tsi = req ? ike_find(req, IKE_PL_TSI) : NULL;
    const struct ike_payload *tsr = req ? ike_find(req, IKE_PL_TSR) : NULL;

    if (tsi && tsr) {
        ike_w_raw(w, IKE_PL_TSI, tsi->body, tsi->len);
        ike_w_raw(w, IKE_PL_TSR, tsr->body, tsr->len);
    } else {
        ike_w_ts_any(w, IKE_PL_TSI);
        ike_w_ts_any(w, IKE_PL_TSR);
    }
    ike_w_notify(w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)policy,
                 strlen(policy));
}

static void send_auth(struct zike *z, struct ike_sa *sa,
                      const struct zike_peer *peer)
{
    uint8_t chain[4096], auth[IKE_AUTH_MAX], idb[4 + IKE_ID_MAX];
    struct ike_writer w;
    size_t len, auth_len, id_len = strlen(z->conf.id);
    uint8_t method;

    idb[0] = IKE_ID_FQDN;
    memset(idb + 1, 0, 3);
    memcpy(idb + 4, z->conf.id, id_len);
    if (auth_make(z, sa, peer, idb, 4 + id_len, auth, &auth_len,
                  &method) != 0) {
        sa_dead(z, sa, "cannot compute AUTH");
        return;
    }
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDI, IKE_ID_FQDN, z->conf.id, id_len);
    ike_w_auth(&w, method, auth, auth_len);
    if (sa->auth_policy[0] != '\0') {     /* else childless (RFC 6023) */
        sa->auth_spi_in = zike_new_spi(z);
        w_child_request(&w, peer, sa->auth_spi_in, false);
        w_child_tail(&w, sa->auth_policy, NULL);
    }
    ike_w_notify(&w, 0, IKE_N_INITIAL_CONTACT, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) != IKE_OK ||
        ike_request(z, sa, REQ_AUTH, IKE_AUTH, chain, len) != 0) {
        sa_dead(z, sa, "cannot send IKE_AUTH");
        return;
    }
    sa->state = IKE_ST_AUTH_SENT;
}

static void init_response(struct zike *z, struct ike_sa *sa,
                          const uint8_t *buf, size_t len,
                          const struct ike_message *m)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    struct ike_sa_payload got;
    struct ike_notify n;
    struct ike_ke ke;
    const uint8_t *nr;
    size_t nr_len;
    struct encr_list offered;
    uint16_t err, encr;
    bool esn;

    if (peer == NULL)
        return;
    offered = encr_choice(peer->ike_encr);
    if (ike_find_notify(m, IKE_N_COOKIE, &n) && n.len > 0 &&
        n.len <= sizeof sa->cookie && sa->cookie_len == 0) {
        memcpy(sa->cookie, n.data, n.len);
        sa->cookie_len = n.len;
        zike_log(LOG_INFO, "peer %s: answering its cookie", peer->name);
        send_init(z, sa, peer);
        return;
    }
    if ((err = ike_error_notify(m)) != 0) {
        zike_log(LOG_WARNING, "peer %s: IKE_SA_INIT refused (notify %u)",
                 peer->name, err);
        sa_dead(z, sa, NULL);
        return;
    }
    if (psa == NULL || pke == NULL || pn == NULL ||
        ike_parse_sa(psa, &got) != IKE_OK || got.nproposals != 1 ||
        !proposal_pick(&got.proposals[0], IKE_PROTO_IKE, &offered, true,
                       false, &esn, &encr) ||
        ike_parse_ke(pke, &ke) != IKE_OK || ke.group != IKE_DH_CURVE25519 ||
        ike_parse_nonce(pn, &nr, &nr_len) != IKE_OK) {
        sa_dead(z, sa, "IKE_SA_INIT response unacceptable");
        return;
    }
    memcpy(sa->spi_r, m->hdr.spi_r, 8);
    memcpy(sa->nr, nr, nr_len);
    sa->nr_len = nr_len;
    if (derive(sa, encr, ke.data, ke.len) != 0 ||
        (sa->msg2 = dup_bytes(buf, len)) == NULL) {
        sa_dead(z, sa, "key exchange failed");
        return;
    }
    sa->msg2_len = len;
    capture_keys(sa->spi_i, sa->spi_r, sa->keys);
    sa->req.kind = REQ_NONE;
    send_auth(z, sa, peer);
}

/* Pick our ESP proposal from the offer (chosen: the responder's answer
 * to ours); the offered SPI goes to *spi, the AEAD to *encr. */
static bool pick_child(const struct zike_peer *peer,
                       const struct ike_sa_payload *offer, bool chosen,
                       uint32_t *spi, bool *esn, uint8_t *number,
                       uint16_t *encr)
{
    struct encr_list ok = encr_choice(peer->esp_transform);

    for (size_t i = 0; i < offer->nproposals; i++)
        if (proposal_pick(&offer->proposals[i], IKE_PROTO_ESP, &ok, chosen,
                          peer->esn, esn, encr)) {
            *spi = be32(offer->proposals[i].spi);
            *number = offer->proposals[i].number;
            return *spi >= 256;
        }
    return false;
}

/* Responder side of a child SA (IKE_AUTH or CREATE_CHILD_SA): choose,
 * install the inbound SA, write SA (and the tail) into w; the outbound SA
 * is installed now and carries the policy once the initiator is seen to
 * use the new SA, or after a short delay.  keymat_shared: the new DH
 * secret of a CREATE_CHILD_SA, NULL in IKE_AUTH. */
static struct child_sa *child_respond(struct zike *z, struct ike_sa *sa,
                                      const struct zike_peer *peer,
                                      const struct ike_message *m,
                                      const char *policy,
                                      const uint8_t *shared,
                                      const uint8_t *ni, size_t ni_len,
                                      const uint8_t *nr, size_t nr_len,
                                      struct ike_writer *w, uint16_t *fail)
{
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    struct ike_sa_payload offer, chosen;
    struct encr_list one;
    uint8_t keymat[2 * ZESP_KEYBYTES], spi[4];
    uint32_t spi_out, spi_in;
    uint16_t encr;
    bool esn;
    uint8_t number;
    struct child_sa *c;

    *fail = 0;
    if (psa == NULL || ike_parse_sa(psa, &offer) != IKE_OK ||
        !pick_child(peer, &offer, false, &spi_out, &esn, &number, &encr)) {
        *fail = IKE_N_NO_PROPOSAL_CHOSEN;
        return NULL;
    }
    if (!peer_serves(peer, policy)) {
        *fail = IKE_N_TS_UNACCEPTABLE;
        return NULL;
    }
    spi_in = zike_new_spi(z);
    if (ike_child_keymat(keymat, sizeof keymat, sa->keys->sk_d, shared, ni,
                         ni_len, nr, nr_len) != 0 ||
        (c = child_install(z, sa, policy, spi_in, spi_out, encr, esn,
                           keymat, false, false)) == NULL) {
        sodium_memzero(keymat, sizeof keymat);
        *fail = IKE_N_TEMPORARY_FAILURE;
        return NULL;
    }
    sodium_memzero(keymat, sizeof keymat);
    {
        /* A policy with no outbound SA yet has nothing older to fall back
         * on: the new one serves it now.  Otherwise the old SA keeps
         * carrying it until the initiator is seen on the new one. */
        zesp_policy pol;
        if (zesp_policy_get(z->sad, policy, &pol) != 0 || pol.out_spi == 0)
            child_activate(z, sa, c);
        else
            c->activate_at = z->now + (z->conf.rekey_overlap_ms / 2 < 1000
                                           ? z->conf.rekey_overlap_ms / 2
                                           : 1000);
    }
    put32(spi, spi_in);
    one = encr_one(encr);
    ike_proposal(&chosen, &one, spi, 4, IKE_PROTO_ESP, true, esn,
                 shared != NULL);
    chosen.proposals[0].number = number;
    ike_w_sa(w, &chosen);
    return c;
}

/* A new IKE SA with a peer replaces any older one (INITIAL_CONTACT or a
 * restarted daemon): the old child SAs stay in the SAD for the overlap so
 * that traffic in flight is still accepted, then go. */
static void replace_old(struct zike *z, struct ike_sa *fresh)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (sa == fresh || strcmp(sa->peer_name, fresh->peer_name) != 0 ||
            sa->state == IKE_ST_DEAD)
            continue;
        for (struct child_sa *c = sa->children; c; c = c->next)
            if (c->retire_at == 0)
                c->retire_at = z->now + z->conf.rekey_overlap_ms;
        sa->state = IKE_ST_DELETING;
        sa->req.kind = REQ_NONE;
    }
}

/* Child SAs in the SAD for this policy that no IKE SA of ours owns (left
 * by a zike killed before): retired once the new child carries traffic. */
static void adopt_orphans(struct zike *z, struct ike_sa *sa,
                          const char *policy)
{
    zesp_policy pol;

    if (zesp_policy_get(z->sad, policy, &pol) != 0)
        return;
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++) {
        uint32_t spi = pol.in_spi[i];
        bool owned = false;
        struct child_sa *c;

        if (spi == 0)
            continue;
        for (struct ike_sa *s = z->sas; s && !owned; s = s->next)
            owned = child_by_in(s, spi) != NULL;
        if (owned || (c = calloc(1, sizeof *c)) == NULL)
            continue;
        snprintf(c->policy, sizeof c->policy, "%s", policy);
        c->spi_in = spi;
        c->spi_out = pol.out_spi;
        c->rekeyed = true;
        c->out_active = false;
        c->retire_at = z->now + z->conf.rekey_overlap_ms;
        c->next = sa->children;
        sa->children = c;
        zike_log(LOG_INFO, "policy %s: SA %08x from before a restart will "
                 "be retired", policy, spi);
    }
}

static void auth_request(struct zike *z, struct ike_sa *sa,
                         const struct route *from, const struct ike_message *m)
{
    const struct ike_payload *pid = ike_find(m, IKE_PL_IDI);
    const struct ike_payload *pauth = ike_find(m, IKE_PL_AUTH);
    const struct zike_peer *peer;
    struct ike_id id;
    uint8_t chain[4096], auth[IKE_AUTH_MAX], idb[4 + IKE_ID_MAX];
    struct ike_writer w;
    size_t len, auth_len, id_len = strlen(z->conf.id);
    uint8_t method;
    char policy[ZESP_NAME_MAX];
    uint16_t fail = 0;
    struct child_sa *c;

    if (pid == NULL || pauth == NULL || ike_parse_id(pid, &id) != IKE_OK) {
        zike_log(LOG_NOTICE, "IKE_AUTH: no identity or AUTH payload");
        goto auth_failed;
    }
    if ((peer = zike_conf_peer_by_id(&z->conf, id.data, id.len)) == NULL) {
        zike_log(LOG_WARNING, "IKE_AUTH: unknown peer identity '%.*s'",
                 (int)id.len, (const char *)id.data);
        goto auth_failed;
    }
    snprintf(sa->peer_name, sizeof sa->peer_name, "%s", peer->name);
    if (auth_check(sa, peer, pid, pauth) != 0) {
        zike_log(LOG_WARNING, "peer %s: authentication failed (%s)",
                 peer->name, peer->auth == ZIKE_AUTH_PSK
                                 ? "wrong pre-shared key"
                                 : "bad Ed25519 signature or wrong key");
        goto auth_failed;
    }
    sa->route = *from;
    sa->state = IKE_ST_ESTABLISHED;
    sa->last_heard = z->now;
    z->stats.ike_established++;
    ike_sa_established(z, sa);
    replace_old(z, sa);
    zike_log(LOG_NOTICE, "peer %s: IKE SA established (responder, %s, %s)",
             peer->name, zesp_transform_name(sa->keys->aead->id),
             peer->auth == ZIKE_AUTH_PSK ? "psk" : "ed25519");

    idb[0] = IKE_ID_FQDN;
    memset(idb + 1, 0, 3);
    memcpy(idb + 4, z->conf.id, id_len);
    if (auth_make(z, sa, peer, idb, 4 + id_len, auth, &auth_len,
                  &method) != 0)
        goto auth_failed;
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDR, IKE_ID_FQDN, z->conf.id, id_len);
    ike_w_auth(&w, method, auth, auth_len);
    if (ike_find(m, IKE_PL_SA) == NULL) {   /* childless (RFC 6023) */
        if (ike_w_finish(&w, &len) == IKE_OK)
            ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
        return;
    }
    if (!find_policy_notify(m, policy))
        snprintf(policy, sizeof policy, "%s", peer->policies[0]);
    adopt_orphans(z, sa, policy);
    c = child_respond(z, sa, peer, m, policy, NULL, sa->ni, sa->ni_len,
                      sa->nr, sa->nr_len, &w, &fail);
    if (c != NULL) {
        w_child_tail(&w, policy, m);
        zike_log(LOG_NOTICE, "peer %s: child SA %08x/%08x for policy %s "
                 "installed", peer->name, c->spi_in, c->spi_out, policy);
    } else {
        zike_log(LOG_WARNING, "peer %s: no child SA for policy %s "
                 "(notify %u)", peer->name, policy, fail);
        ike_w_notify(&w, IKE_PROTO_ESP, fail, NULL, 0, NULL, 0);
    }
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
    return;

auth_failed:
    z->stats.auth_failed++;
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_notify(&w, 0, IKE_N_AUTHENTICATION_FAILED, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
    sa_dead(z, sa, NULL);
}

/* Initiator: the child part of a response (IKE_AUTH or CREATE_CHILD_SA). */
static struct child_sa *child_complete(struct zike *z, struct ike_sa *sa,
                                       const struct zike_peer *peer,
                                       const struct ike_message *m,
                                       const char *policy, uint32_t spi_in,
                                       const uint8_t *shared,
                                       const uint8_t *ni, size_t ni_len,
                                       const uint8_t *nr, size_t nr_len)
{
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    struct ike_sa_payload got;
    uint8_t keymat[2 * ZESP_KEYBYTES], number;
    uint32_t spi_out;
    uint16_t encr;
    bool esn;
    struct child_sa *c;
    uint16_t err = ike_error_notify(m);

    if (err != 0 || psa == NULL || ike_parse_sa(psa, &got) != IKE_OK ||
        got.nproposals != 1 ||
        !pick_child(peer, &got, true, &spi_out, &esn, &number, &encr)) {
        zike_log(LOG_WARNING, "peer %s: no child SA for policy %s "
                 "(notify %u)", peer->name, policy, err);
        return NULL;
    }
    if (ike_child_keymat(keymat, sizeof keymat, sa->keys->sk_d, shared, ni,
                         ni_len, nr, nr_len) != 0) {
        sodium_memzero(keymat, sizeof keymat);
        return NULL;
    }
    c = child_install(z, sa, policy, spi_in, spi_out, encr, esn, keymat,
                      true, false);
    sodium_memzero(keymat, sizeof keymat);
    if (c == NULL)
        return NULL;
    zike_log(LOG_NOTICE, "peer %s: child SA %08x/%08x for policy %s "
             "installed", peer->name, c->spi_in, c->spi_out, policy);
    return c;
}

/* Retire every other live child of the policy: the new one replaces it. */
static void retire_others(struct zike *z, struct ike_sa *sa,
                          struct child_sa *fresh)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c != fresh && strcmp(c->policy, fresh->policy) == 0 &&
            !c->rekeyed) {
            c->rekeyed = true;
            c->out_active = false;
            if (c->retire_at == 0)
                c->retire_at = z->now + z->conf.rekey_overlap_ms;
        }
}

static void auth_response(struct zike *z, struct ike_sa *sa,
                          const struct ike_message *m)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    const struct ike_payload *pid = ike_find(m, IKE_PL_IDR);
    const struct ike_payload *pauth = ike_find(m, IKE_PL_AUTH);
    struct ike_id id;
    struct child_sa *c;
    uint16_t err = ike_error_notify(m);

    sa->req.kind = REQ_NONE;
    if (peer == NULL)
        return;
    if (err == IKE_N_AUTHENTICATION_FAILED) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: it refused our authentication "
                 "(AUTHENTICATION_FAILED)", peer->name);
        sa_dead(z, sa, NULL);
        return;
    }
    if (pid == NULL || pauth == NULL || ike_parse_id(pid, &id) != IKE_OK ||
        id.len != strlen(peer->id) || memcmp(id.data, peer->id, id.len) != 0) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: responder identity is not '%s'",
                 peer->name, peer->id);
        sa_dead(z, sa, NULL);
        return;
    }
    if (auth_check(sa, peer, pid, pauth) != 0) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: authentication of the responder "
                 "failed (%s)", peer->name, peer->auth == ZIKE_AUTH_PSK
                 ? "wrong pre-shared key" : "bad signature or wrong key");
        sa_dead(z, sa, NULL);
        return;
    }
    sa->state = IKE_ST_ESTABLISHED;
    z->stats.ike_established++;
    ike_sa_established(z, sa);
    replace_old(z, sa);
    zike_log(LOG_NOTICE, "peer %s: IKE SA established (initiator, %s, %s)",
             peer->name, zesp_transform_name(sa->keys->aead->id),
             peer->auth == ZIKE_AUTH_PSK ? "psk" : "ed25519");
    if (sa->auth_policy[0] == '\0')
        return;                           /* childless (RFC 6023) */
    adopt_orphans(z, sa, sa->auth_policy);
    c = child_complete(z, sa, peer, m, sa->auth_policy, sa->auth_spi_in,
                       NULL, sa->ni, sa->ni_len, sa->nr, sa->nr_len);
    if (c != NULL) {
        child_activate(z, sa, c);
        retire_others(z, sa, c);
    }
    /* Policies of this peer that also want SAs now (ACQUIRE) are served by
     * ike_tick with CREATE_CHILD_SA. */
}

/* ---- CREATE_CHILD_SA --------------------------------------------------------- */

/* Nonces compared as octet strings (RFC 7296 2.8.1). */
static int nonce_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
                     size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);

    return c ? c : (alen > blen) - (alen < blen);
}

static int start_child(struct zike *z, struct ike_sa *sa, const char *policy,
                       struct child_sa *old)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    uint8_t chain[4096];
    struct ike_writer w;
    size_t len;
    struct request *r = &sa->req;

    if (peer == NULL || sa->state != IKE_ST_ESTABLISHED || r->kind != REQ_NONE)
        return -1;
    snprintf(r->policy, sizeof r->policy, "%s", policy);
    r->spi_in = zike_new_spi(z);
    r->old_spi_in = old ? old->spi_in : 0;
    randombytes_buf(r->nonce, sizeof r->nonce);
    if (ike_x25519_keypair(r->dh_pub, r->dh_priv) != 0)
        return -1;
    ike_w_init_chain(&w, chain, sizeof chain);
    if (old != NULL) {
        uint8_t spi[4];
        put32(spi, old->spi_in);
        ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_REKEY_SA, spi, 4, NULL, 0);
    }
    w_child_request(&w, peer, r->spi_in, true);
    ike_w_nonce(&w, r->nonce, sizeof r->nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, r->dh_pub, sizeof r->dh_pub);
    w_child_tail(&w, policy, NULL);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    zike_log(LOG_INFO, "peer %s: %s child SA for policy %s", peer->name,
             old ? "rekeying" : "creating", policy);
    return ike_request(z, sa, REQ_CHILD, IKE_CREATE_CHILD_SA, chain, len);
}

static void child_request(struct zike *z, struct ike_sa *sa,
                          const struct route *from,
                          const struct ike_message *m)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    uint8_t chain[4096], nr[IKE_NONCE_BYTES], priv[IKE_X25519_BYTES],
        pub[IKE_X25519_BYTES], shared[IKE_X25519_BYTES];
    struct ike_writer w;
    struct ike_notify rekey;
    struct ike_ke ke;
    const uint8_t *ni;
    size_t ni_len, len;
    char policy[ZESP_NAME_MAX];
    struct child_sa *old = NULL, *c;
    uint16_t fail = 0;

    ike_w_init_chain(&w, chain, sizeof chain);
    if (peer != NULL && pn != NULL && pke == NULL) {
        /* zike gives every new and rekeyed child SA forward secrecy. */
        zike_log(LOG_WARNING, "peer %s: CREATE_CHILD_SA without a key "
                 "exchange refused (zike requires PFS: propose x25519)",
                 peer->name);
        ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0,
                     NULL, 0);
        goto reply;
    }
    if (peer == NULL || pn == NULL || pke == NULL ||
        ike_parse_nonce(pn, &ni, &ni_len) != IKE_OK ||
        ike_parse_ke(pke, &ke) != IKE_OK) {
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
        goto reply;
    }
    if (ke.group != IKE_DH_CURVE25519) {
        static const uint8_t g31[] = { 0, IKE_DH_CURVE25519 };
        ike_w_notify(&w, 0, IKE_N_INVALID_KE_PAYLOAD, NULL, 0, g31, 2);
        goto reply;
    }
    if (ike_find_notify(m, IKE_N_REKEY_SA, &rekey)) {
        if (rekey.spi_size != 4 ||
            (old = child_by_out(sa, be32(rekey.spi))) == NULL) {
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_CHILD_SA_NOT_FOUND,
                         rekey.spi, rekey.spi_size, NULL, 0);
            goto reply;
        }
        snprintf(policy, sizeof policy, "%s", old->policy);
        /* Simultaneous rekeys of one child SA: exactly one may win.  We
         * refuse the peer's if the child is already rekeyed, or if we are
         * rekeying it too and our nonce is the higher one; the peer,
         * comparing the same two nonces, accepts ours. */
        if (old->rekeyed ||
            (sa->req.kind == REQ_CHILD && sa->req.old_spi_in == old->spi_in &&
             nonce_cmp(sa->req.nonce, sizeof sa->req.nonce, ni,
                       ni_len) > 0)) {
            zike_log(LOG_INFO, "peer %s: simultaneous rekey of %s: ours "
                     "wins", peer->name, old->policy);
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TEMPORARY_FAILURE, NULL, 0,
                         NULL, 0);
            goto reply;
        }
    } else if (!find_policy_notify(m, policy)) {
        snprintf(policy, sizeof policy, "%s", peer->policies[0]);
    }
    randombytes_buf(nr, sizeof nr);
    if (ike_x25519_keypair(pub, priv) != 0 ||
        ike_x25519_shared(shared, priv, ke.data, ke.len) != 0) {
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
        goto reply;
    }
    c = child_respond(z, sa, peer, m, policy, shared, ni, ni_len, nr,
                      sizeof nr, &w, &fail);
    if (c == NULL) {
        ike_w_notify(&w, IKE_PROTO_ESP, fail, NULL, 0, NULL, 0);
        goto reply;
    }
    ike_w_nonce(&w, nr, sizeof nr);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    w_child_tail(&w, policy, m);
    if (old != NULL) {
        old->rekeyed = true;
        z->stats.rekeys++;
    }
    zike_log(LOG_NOTICE, "peer %s: child SA %08x/%08x for policy %s "
             "installed%s", peer->name, c->spi_in, c->spi_out, policy,
             old ? " (rekey)" : "");
reply:
    sodium_memzero(priv, sizeof priv);
    sodium_memzero(shared, sizeof shared);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id, chain,
                len);
}

/* The Nonce and X25519 KE of a CREATE_CHILD_SA response (child or IKE
 * SA), and the shared secret with our half priv, which is wiped either
 * way. */
int ike_response_ke(const struct ike_message *m, uint8_t *priv,
                    uint8_t shared[IKE_X25519_BYTES], const uint8_t **nonce,
                    size_t *nonce_len)
{
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    struct ike_ke ke;
    int rc = -1;

    if (pn != NULL && pke != NULL &&
        ike_parse_nonce(pn, nonce, nonce_len) == IKE_OK &&
        ike_parse_ke(pke, &ke) == IKE_OK && ke.group == IKE_DH_CURVE25519 &&
        ike_x25519_shared(shared, priv, ke.data, ke.len) == 0)
        rc = 0;
    sodium_memzero(priv, IKE_X25519_BYTES);
    return rc;
}

static void child_response(struct zike *z, struct ike_sa *sa,
                           const struct ike_message *m)
{
    const struct zike_peer *peer = sa_peer(z, sa);
    struct request *r = &sa->req;
    uint8_t shared[IKE_X25519_BYTES];
    const uint8_t *nr;
    size_t nr_len;
    struct child_sa *c;

    r->kind = REQ_NONE;
    if (peer == NULL)
        return;
    if (ike_error_notify(m) == IKE_N_TEMPORARY_FAILURE) {
        struct child_sa *old = child_by_in(sa, r->old_spi_in);
        zike_log(LOG_INFO, "peer %s: rekey of %s refused for now "
                 "(simultaneous rekey, the peer's wins)", peer->name,
                 r->policy);
        if (old != NULL)
            old->rekey_after = z->now + 1000U;
        sodium_memzero(r->dh_priv, sizeof r->dh_priv);
        return;
    }
    if (ike_error_notify(m) != 0 ||
        ike_response_ke(m, r->dh_priv, shared, &nr, &nr_len) != 0) {
        zike_log(LOG_WARNING, "peer %s: CREATE_CHILD_SA for %s failed "
                 "(notify %u)", peer->name, r->policy, ike_error_notify(m));
        sodium_memzero(r->dh_priv, sizeof r->dh_priv);
        return;
    }
    c = child_complete(z, sa, peer, m, r->policy, r->spi_in, shared,
                       r->nonce, sizeof r->nonce, nr, nr_len);
    sodium_memzero(shared, sizeof shared);
    if (c == NULL)
        return;
    /* Make before break: the peer has its inbound SA (it answered), so the
     * policy switches now; the old SAs stay for the overlap, then a DELETE
     * takes them out of both SADs. */
    child_activate(z, sa, c);
    if (r->old_spi_in)
        z->stats.rekeys++;
    retire_others(z, sa, c);
}

/* ---- INFORMATIONAL ------------------------------------------------------------- */

static void info_request(struct zike *z, struct ike_sa *sa,
                         const struct route *from, const struct ike_message *m)
{
    uint8_t chain[4096], spis[4 * 64];
    struct ike_writer w;
    size_t len, n = 0;
    bool delete_ike = false;

    ike_w_init_chain(&w, chain, sizeof chain);
    for (size_t i = 0; i < m->npayloads; i++) {
        struct ike_delete d;
        if (m->payloads[i].type != IKE_PL_DELETE ||
            ike_parse_delete(&m->payloads[i], &d) != IKE_OK)
            continue;
        if (d.protocol == IKE_PROTO_IKE) {
            delete_ike = true;
            continue;
        }
        for (size_t k = 0; k < d.count; k++) {
            struct child_sa *c = child_by_out(sa, be32(d.spis + 4 * k));
            if (c == NULL)
                continue;
            if (n < 64)
                put32(spis + 4 * n++, c->spi_in);
            /* The peer stops using it; our newer child takes over now. */
            for (struct child_sa *o = sa->children; o; o = o->next)
                if (o != c && !o->rekeyed &&
                    strcmp(o->policy, c->policy) == 0)
                    child_activate(z, sa, o);
            child_remove(z, sa, c);
            z->stats.deleted++;
        }
    }
    if (n)
        ike_w_delete(&w, IKE_PROTO_ESP, 4, spis, (uint16_t)n);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return;
    ike_respond(z, sa, from, IKE_INFORMATIONAL, m->hdr.message_id, chain, len);
    if (delete_ike) {
        zike_log(LOG_NOTICE, "peer %s: deleted the IKE SA", sa->peer_name);
        sa_dead(z, sa, NULL);
    }
}

static void info_response(struct zike *z, struct ike_sa *sa,
                          const struct ike_message *m)
{
    enum req_kind kind = sa->req.kind;

    (void)m;
    sa->req.kind = REQ_NONE;
    if (kind == REQ_DELETE_CHILD) {
        struct child_sa *c = child_by_in(sa, sa->req.del_spi);
        if (c != NULL) {
            child_remove(z, sa, c);
            z->stats.deleted++;
        }
    } else if (kind == REQ_DELETE_IKE) {
        sa_dead(z, sa, "deleted");
    }
}

static int send_delete_child(struct zike *z, struct ike_sa *sa,
                             struct child_sa *c)
{
    uint8_t chain[64], spi[4];
    struct ike_writer w;
    size_t len;

    put32(spi, c->spi_in);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, spi, 1);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    sa->req.del_spi = c->spi_in;
    return ike_request(z, sa, REQ_DELETE_CHILD, IKE_INFORMATIONAL, chain, len);
}

int ike_send_delete_ike(struct zike *z, struct ike_sa *sa)
{
    uint8_t chain[16];
    struct ike_writer w;
    size_t len;

    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_IKE, 0, NULL, 0);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    return ike_request(z, sa, REQ_DELETE_IKE, IKE_INFORMATIONAL, chain, len);
}

static int send_dpd(struct zike *z, struct ike_sa *sa)
{
    uint8_t chain[1] = { IKE_PL_NONE };

    /* An SK payload with nothing inside: chain is the type byte only. */
    return ike_request(z, sa, REQ_DPD, IKE_INFORMATIONAL, chain, 1);
}

/* ---- dispatch ---------------------------------------------------------------- */

/* An error notify in answer to a request that decrypted but did not parse:
 * UNSUPPORTED_CRITICAL_PAYLOAD naming the payload, else INVALID_SYNTAX. */
static void refuse_request(struct zike *z, struct ike_sa *sa,
                           const struct route *from,
                           const struct ike_message *m, int err)
{
    uint8_t chain[64], type = m->unsupported_critical;
    struct ike_writer w;
    size_t len;

    sa->mid_in++;
    ike_w_init_chain(&w, chain, sizeof chain);
    if (err == IKE_ECRITICAL)
        ike_w_notify(&w, 0, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, NULL, 0,
                     &type, 1);
    else
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, m->hdr.exchange, m->hdr.message_id, chain,
                    len);
}

static struct ike_sa *find_sa(struct zike *z, const struct ike_message *m)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (sa->state == IKE_ST_DEAD ||
            memcmp(sa->spi_i, m->hdr.spi_i, 8) != 0)
            continue;
        /* The initiator does not know the responder's SPI before the
         * IKE_SA_INIT response. */
        if (sa->state == IKE_ST_INIT_SENT ||
            memcmp(sa->spi_r, m->hdr.spi_r, 8) == 0)
            return sa;
    }
    return NULL;
}

void ike_handle(struct zike *z, const struct route *from, uint8_t *buf,
                size_t len)
{
    struct ike_message m;
    struct ike_sa *sa;
    bool response;
    int err;

    if ((err = ike_parse(buf, len, &m)) != IKE_OK) {
        z->stats.dropped_messages++;
        zike_log(LOG_NOTICE, "dropped a malformed IKE message: %s",
                 ike_strerror(err));
        return;
    }
    response = (m.hdr.flags & IKE_FLAG_RESPONSE) != 0;
    if (m.hdr.exchange == IKE_SA_INIT && !response) {
        if (m.hdr.message_id != 0 || sodium_is_zero(m.hdr.spi_r, 8) != 1) {
            z->stats.dropped_messages++;
            return;
        }
        init_request(z, from, buf, len, &m);
        return;
    }
    if ((sa = find_sa(z, &m)) == NULL) {
        z->stats.dropped_messages++;
        zike_log(LOG_DEBUG, "message for an unknown IKE SA dropped");
        return;
    }
    if (m.hdr.exchange == IKE_SA_INIT) {
        if (sa->state == IKE_ST_INIT_SENT && sa->initiator &&
            m.hdr.message_id == 0 && sa->req.kind == REQ_INIT)
            init_response(z, sa, buf, len, &m);
        return;
    }
    if (sa->keys->aead == NULL || (sa->state == IKE_ST_HALF_OPEN &&
                             m.hdr.exchange != IKE_AUTH)) {
        z->stats.dropped_messages++;
        return;
    }
    if (response) {
        /* Only the answer to the request in flight counts. */
        if (sa->req.kind == REQ_NONE || m.hdr.message_id != sa->req.mid) {
            z->stats.dropped_messages++;
            return;
        }
    } else {
        if (m.hdr.message_id + 1 == sa->mid_in && sa->resp != NULL &&
            sa->resp_mid == m.hdr.message_id) {
            zike_send(z, from, sa->resp, sa->resp_len);   /* retransmit */
            return;
        }
        if (m.hdr.message_id != sa->mid_in) {
            z->stats.dropped_messages++;
            return;
        }
    }
    /* Decrypt: messages of the original initiator use SK_ei. */
    if ((err = ike_sk_open(buf, len, &m, sa->keys,
                           (m.hdr.flags & IKE_FLAG_INITIATOR) != 0)) !=
        IKE_OK) {
        z->stats.dropped_messages++;
        zike_log(LOG_NOTICE, "peer %s: %s an IKE message: %s",
                 sa->peer_name[0] ? sa->peer_name : "(unknown)",
                 err == IKE_EAUTH || response ? "dropped" : "refused",
                 ike_strerror(err));
        /* Authentic but malformed requests are answered (RFC 7296 2.21);
         * forgeries and responses are not. */
        if (err != IKE_EAUTH && !response)
            refuse_request(z, sa, from, &m, err);
        return;
    }
    sa->last_heard = z->now;
    if (!response) {
        sa->mid_in++;
        switch (m.hdr.exchange) {
        case IKE_AUTH:
            if (sa->state == IKE_ST_HALF_OPEN)
                auth_request(z, sa, from, &m);
            break;
        case IKE_CREATE_CHILD_SA:
            if (!ike_rekey_request(z, sa, from, &m))
                child_request(z, sa, from, &m);
            break;
        case IKE_INFORMATIONAL:
            info_request(z, sa, from, &m);
            break;
        case IKE_GSA_REGISTRATION:
        case IKE_GSA_INBAND_REKEY:
            group_handle_request(z, sa, from, &m);
            break;
        default:
            break;
        }
        return;
    }
    switch (sa->req.kind) {
    case REQ_AUTH:
        auth_response(z, sa, &m);
        break;
    case REQ_CHILD:
        child_response(z, sa, &m);
        break;
    case REQ_IKE_REKEY:
        ike_rekey_response(z, sa, &m);
        break;
    case REQ_DELETE_CHILD:
    case REQ_DELETE_IKE:
    case REQ_DPD:
        info_response(z, sa, &m);
        break;
    case REQ_GSA_REGISTER:
    case REQ_GSA_LEAVE:
    case REQ_GSA_PUSH:
        group_handle_response(z, sa, &m);
        break;
    default:
        break;
    }
}

/* ---- timers ------------------------------------------------------------------ */

static bool child_soft_expired(struct zike *z, const struct child_sa *c)
{
    zesp_sa_info in, out;

    if (zesp_sa_info_get(z->sad, c->spi_out, ZESP_DIR_OUT, &out) == 0 &&
        out.soft_expired)
        return true;
    return zesp_sa_info_get(z->sad, c->spi_in, ZESP_DIR_IN, &in) == 0 &&
           in.soft_expired;
}

static bool child_seen_traffic(struct zike *z, const struct child_sa *c)
{
    zesp_sa_info in;

    return zesp_sa_info_get(z->sad, c->spi_in, ZESP_DIR_IN, &in) == 0 &&
           in.stats.messages > 0;
}

static void retransmit(struct zike *z, struct ike_sa *sa)
{
    struct request *r = &sa->req;

    if (r->kind == REQ_NONE || z->now < r->resend_at)
        return;
    if (r->buf == NULL) {              /* never sent: nothing to repeat */
        r->kind = REQ_NONE;
        return;
    }
    if (++r->tries > z->conf.retransmit_tries) {
        z->stats.dead_peers++;
        r->kind = REQ_NONE;
        sa_dead(z, sa, "lost, peer not answering: its SAs are removed");
        return;
    }
    z->stats.retransmits++;
    r->resend_at = z->now + ((uint64_t)z->conf.retransmit_ms << r->tries);
    zike_send(z, &sa->route, r->buf, r->len);
}

/* Which policies of this peer have an ACQUIRE pending in the SAD. */
static const char *acquired_policy(struct zike *z, const struct zike_peer *p,
                                   struct ike_sa *sa)
{
    for (size_t i = 0; i < p->npolicies; i++) {
        zesp_policy pol;
        bool have = false;

        if (zesp_policy_get(z->sad, p->policies[i], &pol) != 0 ||
            pol.acquire == 0 || pol.out_spi != 0)
            continue;
        for (struct child_sa *c = sa ? sa->children : NULL; c; c = c->next)
            have |= strcmp(c->policy, p->policies[i]) == 0 && !c->rekeyed;
        if (!have)
            return p->policies[i];
    }
    return NULL;
}

static void tick_sa(struct zike *z, struct ike_sa *sa)
{
    const struct zike_peer *peer = sa_peer(z, sa);

    retransmit(z, sa);
    if (sa->state == IKE_ST_DEAD)
        return;
    if (sa->state == IKE_ST_HALF_OPEN && z->now - sa->created > HALF_OPEN_MS) {
        sa->state = IKE_ST_DEAD;
        return;
    }
    for (struct child_sa *c = sa->children, *next; c; c = next) {
        next = c->next;
        if (!c->out_active && !c->rekeyed && c->activate_at &&
            (z->now >= c->activate_at || child_seen_traffic(z, c)))
            child_activate(z, sa, c);
        /* Retired: in an established IKE SA the peer is told with a
         * DELETE (one at a time); SAs left by a replaced IKE SA or by a
         * killed zike (transform 0) are removed here only. */
        if (c->retire_at && z->now >= c->retire_at) {
            if (sa->state == IKE_ST_ESTABLISHED && c->transform != 0) {
                if (sa->req.kind == REQ_NONE)
                    send_delete_child(z, sa, c);
            } else {
                child_remove(z, sa, c);
            }
        }
    }
    if (sa->state == IKE_ST_DELETING && sa->children == NULL) {
        sa->state = IKE_ST_DEAD;
        return;
    }
    if (sa->superseded) {            /* waits for its DELETE, not forever */
        if (z->now >= sa->rekey_at && sa->req.kind == REQ_NONE)
            sa->state = IKE_ST_DEAD;
        return;
    }
    if (sa->state != IKE_ST_ESTABLISHED || peer == NULL ||
        sa->req.kind != REQ_NONE)
        return;
    if (sa->want_delete) {
        sa->want_delete = false;
        ike_send_delete_ike(z, sa);
        return;
    }
    if (sa->want_ike_rekey || (sa->rekey_at && z->now >= sa->rekey_at)) {
        sa->want_ike_rekey = false;
        if (ike_rekey_start(z, sa) == 0)
            return;
    }
    if (group_tick_sa(z, sa))
        return;
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (!c->rekeyed && c->transform != 0 && z->now >= c->rekey_after &&
            (c->want_rekey || child_soft_expired(z, c))) {
            c->want_rekey = false;
            if (start_child(z, sa, c->policy, c) == 0)
                return;
        }
    {
        const char *pol = acquired_policy(z, peer, sa);
        if (pol != NULL && start_child(z, sa, pol, NULL) == 0)
            return;
    }
    if (peer->dpd_seconds &&
        z->now - sa->last_heard >= (uint64_t)peer->dpd_seconds * 1000U)
        send_dpd(z, sa);
}

void ike_tick(struct zike *z)
{
    group_tick(z);
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        tick_sa(z, sa);
    for (struct ike_sa *sa = z->sas, *next; sa; sa = next) {
        next = sa->next;
        if (sa->state == IKE_ST_DEAD)
            ike_sa_free(z, sa);
    }
    /* Peers to start, and ACQUIREs for peers with no IKE SA. */
    for (size_t i = 0; i < z->conf.npeers; i++) {
        const struct zike_peer *p = &z->conf.peers[i];
        const char *pol;

        if (p->endpoint[0] == '\0' || ike_sa_for_peer(z, p->name) != NULL ||
            z->now < z->retry_at[i])
            continue;
        if (p->start || group_server_peer(z, p->name))
            ike_initiate(z, p, NULL);
        else if ((pol = acquired_policy(z, p, NULL)) != NULL)
            ike_initiate(z, p, pol);
    }
}

/* The IKE SA with a peer that is alive (not being replaced), or NULL. */
struct ike_sa *ike_sa_for_peer(struct zike *z, const char *peer)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (strcmp(sa->peer_name, peer) == 0 && !sa->superseded &&
            sa->state != IKE_ST_DEAD && sa->state != IKE_ST_DELETING)
            return sa;
    return NULL;
}

int ike_rekey_peer(struct zike *z, const char *peer, bool ike)
{
    struct ike_sa *sa = ike_sa_for_peer(z, peer);

    if (sa == NULL || sa->state != IKE_ST_ESTABLISHED)
        return -1;
    if (ike) {
        sa->want_ike_rekey = true;
        return 0;
    }
    for (struct child_sa *c = sa->children; c; c = c->next)
        c->want_rekey = !c->rekeyed;
    return 0;
}

int ike_terminate_peer(struct zike *z, const char *peer)
{
    struct ike_sa *sa = ike_sa_for_peer(z, peer);

    if (sa == NULL)
        return -1;
    if (sa->state == IKE_ST_ESTABLISHED)
        sa->want_delete = true;
    else
        sa_dead(z, sa, "terminated");
    return 0;
}

/* SIGTERM: every established IKE SA is deleted (the peer removes its SAs),
 * ours leave the SAD. */
void ike_shutdown(struct zike *z)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (sa->state == IKE_ST_ESTABLISHED) {
            sa->req.kind = REQ_NONE;
            ike_send_delete_ike(z, sa);
        }
        sa_dead(z, sa, NULL);
    }
}
