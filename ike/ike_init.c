/*
 * IKE_SA_INIT (RFC 7296 1.2), both roles: the IKE proposal, X25519 values
 * and nonces, and the IKE SA's keys (2.14).  Above half-open-limit
 * half-open IKE SAs a request without a valid COOKIE gets one and nothing
 * is kept (2.6); errors are answered unencrypted (2.21.1).
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "capture.h"
#include "daemon.h"

#define MSG_CAP IKE_MAX_MESSAGE

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

/* An IKE_SA_INIT request refused as malformed, with no proposal we take,
 * or with a bad key exchange value.  Anyone who reaches listen can send
 * them, for free: counted, and logged at most once a second with how
 * many went unlogged, as drops are (a line each flooded the log). */
static void init_invalid(struct zike *z, const struct route *to,
                         const struct ike_message *req, uint16_t type,
                         const char *why)
{
    z->stats.ike_init_invalid++;
    zike_log_limited(z, &z->init_invalid_log, LOG_NOTICE,
                     "IKE_SA_INIT request refused: %s", why);
    respond_plain_notify(z, to, req, type, NULL, 0);
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
    /* Kept on failure: an initiator still awaits the real responder's
     * value (a forged one must not spend it); a responder's SA dies. */
    if (rc == 0)
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

    ike_sa_header(&h, sa, IKE_SA_INIT, false, 0);
    ike_w_init(&w, buf, MSG_CAP, &h);
    if (sa->cookie_len)
        ike_w_notify(&w, 0, IKE_N_COOKIE, NULL, 0, sa->cookie,
                     sa->cookie_len);
    ike_proposal(&prop, &offer, NULL, 0, IKE_PROTO_IKE, false, false, false);
    proposal_log(peer->name, "we offer", &prop);
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
        if ((sa->msg1 = ike_dup(buf, len)) != NULL) {
            sa->msg1_len = len;
            sa->req.kind = REQ_INIT;
            sa->req.exchange = IKE_SA_INIT;
            sa->req.mid = 0;
            sa->mid_out = 1;
            rc = ike_send_request(z, sa, buf, len);
        }
    }
    free(buf);
    return rc;
}

int ike_initiate(struct zike *z, const struct zike_peer *peer,
                 const char *policy)
{
    struct route link = zike_route_to(z, peer);
    struct ike_sa *sa;

    if (peer->endpoint[0] == '\0') {
        zike_log(LOG_WARNING, "peer %s: no endpoint to initiate to",
                 peer->name);
        return -1;
    }
    if (link.sock == NULL) {
        zike_log(LOG_WARNING, "peer %s: its link is not made yet (tried "
                 "again each second)", peer->name);
        return -1;
    }
    if (policy != NULL && !zike_conf_serves(peer, policy)) {
        zike_log(LOG_WARNING, "peer %s does not serve policy '%s'",
                 peer->name, policy);
        return -1;
    }
    if ((sa = ike_sa_new(z, true)) == NULL)
        return -1;
    snprintf(sa->peer_name, sizeof sa->peer_name, "%s", peer->name);
    snprintf(sa->auth_policy, sizeof sa->auth_policy, "%s",
             policy ? policy : peer->npolicies ? peer->policies[0] : "");
    sa->route = link;
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

/* Half-open IKE SAs: all of them, or those whose IKE_SA_INIT came from
 * addr's source (zike_same_source).  Over ZeroMQ the connection returns every
 * cookie to whoever asked, so cookies bound nothing: a limit per source
 * does (RFC 8019 4.1, strongSwan's block_threshold). */
static size_t half_open(struct zike *z, const char *addr)
{
    size_t n = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        n += sa->state == IKE_ST_HALF_OPEN &&
             (addr == NULL || zike_same_source(sa->route.addr, addr));
    return n;
}

/* The IKE SAs max-ike-sas bounds: not those already dead, which the next
 * tick frees (a peer that deleted its IKE SA and starts again in the same
 * turn of the loop was refused).  Those are few: only a live one dies,
 * and a turn reads a bounded number of messages. */
static size_t count_sas(struct zike *z)
{
    size_t n = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        n += sa->state != IKE_ST_DEAD;
    return n;
}

void ike_init_request(struct zike *z, const struct route *from,
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
    const struct ike_proposal *pick;
    bool cookie_ok = false;
    struct ike_sa *sa;

    if (psa == NULL || pke == NULL || pn == NULL ||
        ike_parse_sa(psa, &offer) != IKE_OK ||
        ike_parse_ke(pke, &ke) != IKE_OK ||
        ike_parse_nonce(pn, &ni, &ni_len) != IKE_OK) {
        init_invalid(z, from, m, IKE_N_INVALID_SYNTAX, "malformed");
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
    if (from->addr[0] != '\0' &&
        half_open(z, from->addr) >= z->conf.half_open_per_source) {
        ike_drop(z, IKE_DROP_SOURCE_LIMIT, NULL, m);
        return;
    }
    /* Cookies once too many SAs are half open. */
    if (half_open(z, NULL) >= z->conf.half_open_limit) {
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
        z->stats.ike_refused++;
        zike_log_limited(z, &z->refused_log, LOG_WARNING,
                         "IKE_SA_INIT refused: %u IKE SAs already",
                         z->conf.max_ike_sas);
        respond_plain_notify(z, from, m, IKE_N_TEMPORARY_FAILURE, NULL, 0);
        return;
    }
    proposal_log(NULL, "the initiator offers", &offer);
    if ((pick = pick_ike(&offer, &encr)) == NULL) {
        init_invalid(z, from, m, IKE_N_NO_PROPOSAL_CHOSEN,
                     "no acceptable proposal");
        return;
    }
    if (ke.group != IKE_DH_CURVE25519) {
        static const uint8_t g31[] = { 0, IKE_DH_CURVE25519 };
        respond_plain_notify(z, from, m, IKE_N_INVALID_KE_PAYLOAD, g31, 2);
        return;
    }
    if (ke.len != IKE_X25519_BYTES) {
        init_invalid(z, from, m, IKE_N_INVALID_SYNTAX,
                     "bad key exchange value");
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
    if ((sa->msg1 = ike_dup(buf, len)) == NULL) {
        sa->state = IKE_ST_DEAD;
        return;
    }
    sa->msg1_len = len;
    if (derive(sa, encr, ke.data, ke.len) != 0) {
        /* A value of small order, which libsodium refuses only after our
         * two X25519 operations and which costs its sender nothing.  The
         * SA stays half open without keys (no message opens under it)
         * until half-open-timeout, counted against its source as any
         * other; dead at once, it let one address have zike spend two
         * X25519 per message, half-open-per-source never reached. */
        sodium_memzero(sa->keys->dh_priv, IKE_X25519_BYTES);
        init_invalid(z, from, m, IKE_N_INVALID_SYNTAX,
                     "bad key exchange value");
        return;
    }
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
        ike_sa_header(&h, sa, IKE_SA_INIT, true, 0);
        ike_w_init(&w, out, MSG_CAP, &h);
        ike_proposal(&chosen, &one, NULL, 0, IKE_PROTO_IKE, false, false,
                     false);
        chosen.proposals[0].number = pick->number;
        proposal_log(NULL, "we choose", &chosen);
        ike_w_sa(&w, &chosen);
        ike_w_ke(&w, IKE_DH_CURVE25519, sa->dh_pub, sizeof sa->dh_pub);
        ike_w_nonce(&w, sa->nr, sa->nr_len);
        ike_w_notify(&w, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, NULL, 0,
                     hash_identity, sizeof hash_identity);
        if (ike_w_finish(&w, &olen) == IKE_OK &&
            (sa->msg2 = ike_dup(out, olen)) != NULL) {
            sa->msg2_len = olen;
            zike_send(z, from, out, olen);
        } else {
            sa->state = IKE_ST_DEAD;
        }
        free(out);
    }
}

/* An IKE_SA_INIT response is not authenticated: whoever is on the path
 * can send one.  An error notify or an answer we cannot take is logged and
 * the responder's real answer awaited until the retransmissions end (RFC
 * 7296 2.21.1, 2.21.4); one forged message must not end the attempt.
 * INVALID_KE_PAYLOAD names a group: we offer X25519 only and have no
 * other to retry with, so it waits like the others. */
static void init_answer_ignored(struct ike_sa *sa, const char *peer,
                                uint16_t err, const char *what)
{
    int level = sa->init_ignored++ ? LOG_DEBUG : LOG_INFO;

    if (err != 0) {
        sa->init_error = err;
        zike_log(level, "peer %s: IKE_SA_INIT answered with error notify %u "
                 "(unprotected, not acted on): waiting for a valid response",
                 peer, err);
    } else {
        zike_log(level, "peer %s: IKE_SA_INIT response ignored (%s): waiting "
                 "for a valid response", peer, what);
    }
}

static bool cookie_sent(const struct ike_sa *sa, const uint8_t *cookie,
                        size_t len)
{
    return sa->cookie_len == len &&
           sodium_memcmp(sa->cookie, cookie, len) == 0;
}

/* A COOKIE answer, like any IKE_SA_INIT answer, may be forged: each new
 * cookie is answered, so that one from someone on the path does not keep
 * the responder's own out (RFC 7296 2.6); it costs one message.  Only the
 * first restarts the retransmissions: forged cookies in a stream do not
 * put the attempt's end off. */
static void answer_cookie(struct zike *z, struct ike_sa *sa,
                          const struct zike_peer *peer, const uint8_t *cookie,
                          size_t len)
{
    uint64_t sent_at = sa->req.sent_at, resend_at = sa->req.resend_at;
    uint32_t tries = sa->req.tries;
    bool again = sa->cookie_len != 0;

    memcpy(sa->cookie, cookie, len);
    sa->cookie_len = len;
    zike_log(again ? LOG_DEBUG : LOG_INFO, "peer %s: answering its cookie%s",
             peer->name, again ? " (another one)" : "");
    if (send_init(z, sa, peer) == 0 && again) {
        sa->req.tries = tries;
        sa->req.sent_at = sent_at;
        sa->req.resend_at = resend_at;
    }
}

/* The responder's answer: true once the IKE SA has its keys, for IKE_AUTH
 * to begin. */
bool ike_init_response(struct zike *z, struct ike_sa *sa,
                       const uint8_t *buf, size_t len,
                       const struct ike_message *m)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
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
        return false;
    offered = encr_choice(peer->ike_encr);
    if (ike_find_notify(m, IKE_N_COOKIE, &n) && n.len > 0 &&
        n.len <= sizeof sa->cookie && !cookie_sent(sa, n.data, n.len)) {
        answer_cookie(z, sa, peer, n.data, n.len);
        return false;
    }
    if ((err = ike_error_notify(m)) != 0) {
        init_answer_ignored(sa, peer->name, err, NULL);
        return false;
    }
    if (psa != NULL && ike_parse_sa(psa, &got) == IKE_OK)
        proposal_log(peer->name, "it chose", &got);
    if (psa == NULL || pke == NULL || pn == NULL ||
        ike_parse_sa(psa, &got) != IKE_OK || got.nproposals != 1 ||
        !proposal_pick(&got.proposals[0], IKE_PROTO_IKE, &offered, true,
                       false, &esn, &encr) ||
        ike_parse_ke(pke, &ke) != IKE_OK || ke.group != IKE_DH_CURVE25519 ||
        ike_parse_nonce(pn, &nr, &nr_len) != IKE_OK) {
        init_answer_ignored(sa, peer->name, 0, "not what we offered");
        return false;
    }
    if (sodium_is_zero(m->hdr.spi_r, 8) == 1) {     /* RFC 7296 3.1 */
        init_answer_ignored(sa, peer->name, 0, "a responder SPI of zero");
        return false;
    }
    memcpy(sa->spi_r, m->hdr.spi_r, 8);
    memcpy(sa->nr, nr, nr_len);
    sa->nr_len = nr_len;
    if (derive(sa, encr, ke.data, ke.len) != 0) {
        init_answer_ignored(sa, peer->name, 0, "bad key exchange value");
        return false;
    }
    if ((sa->msg2 = ike_dup(buf, len)) == NULL) {
        ike_sa_dead(z, sa, "out of memory");
        return false;
    }
    sa->msg2_len = len;
    capture_keys(sa->spi_i, sa->spi_r, sa->keys);
    sa->req.kind = REQ_NONE;
    return true;
}
