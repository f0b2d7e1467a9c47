/*
 * The dispatcher: every IKE message zike receives comes here.  Before
 * anything is decrypted, its SPIs and its sender's role (RFC 7296 3.1: the
 * I flag) find the IKE SA, and it must be the request or the response
 * expected now (2.2, 2.3): a retransmitted request (the last one, byte
 * for byte: 2.1) is answered from the cache, and what does not fit is
 * dropped and counted (drop.c).  Then the Encrypted payload is opened
 * (3.14), an authentic but malformed request is refused (2.21), and the
 * exchange goes to the file that runs it.
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

/* A request answered with one error notify and nothing else. */
static void answer_error(struct zike *z, struct ike_sa *sa,
                         const struct route *from, const struct ike_message *m,
                         uint16_t type, const uint8_t *data, size_t len)
{
    uint8_t chain[64];
    struct ike_writer w;
    size_t clen;

    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_notify(&w, 0, type, NULL, 0, data, len);
    if (ike_w_finish(&w, &clen) == IKE_OK)
        ike_respond(z, sa, from, m->hdr.exchange, m->hdr.message_id, chain,
                    clen);
}

/* An error notify in answer to a request that decrypted but did not parse:
 * UNSUPPORTED_CRITICAL_PAYLOAD naming the payload, else INVALID_SYNTAX. */
static void refuse_request(struct zike *z, struct ike_sa *sa,
                           const struct route *from,
                           const struct ike_message *m, int err)
{
    uint8_t type = m->unsupported_critical;

    sa->mid_in++;
    if (err == IKE_ECRITICAL)
        answer_error(z, sa, from, m, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD,
                     &type, 1);
    else
        answer_error(z, sa, from, m, IKE_N_INVALID_SYNTAX, NULL, 0);
}

/* A request that verified and does not parse.  The initiator of a
 * half-open IKE SA holds its keys unauthenticated, and may send one with
 * each next message ID until the SA times out: counted, and logged at
 * most once a second, as drops are (a line each flooded the log). */
static void invalid_request_logged(struct zike *z, const struct ike_sa *sa,
                                   int err)
{
    z->stats.ike_requests_invalid++;
    zike_log_limited(z, &z->request_invalid_log, LOG_NOTICE,
                     "peer %s: refused an IKE request: %s",
                     sa->peer_name[0] ? sa->peer_name : "(unknown)",
                     ike_strerror(err));
}

/* A request that verified for an exchange zike does not run in the IKE
 * SA's state: IKE_AUTH once it is established, an exchange type it does
 * not know.  Its message ID is taken like any other's, so it is answered
 * (RFC 7296 2.21.2: INVALID_SYNTAX), and the answer cached for the peer's
 * retransmissions; unanswered, those were dropped as of an old ID and the
 * peer counted us dead.  Counted and logged as invalid requests are. */
static void no_exchange(struct zike *z, struct ike_sa *sa,
                        const struct route *from, const struct ike_message *m)
{
    z->stats.ike_requests_invalid++;
    zike_log_limited(z, &z->request_invalid_log, LOG_NOTICE,
                     "peer %s: refused an IKE request: exchange %u is not "
                     "run in this state", sa->peer_name[0] ? sa->peer_name
                     : "(unknown)", m->hdr.exchange);
    answer_error(z, sa, from, m, IKE_N_INVALID_SYNTAX, NULL, 0);
}

/* An IKE SA on its way out makes nothing new: no child SA, no rekey, no
 * group key (RFC 7296 2.25: TEMPORARY_FAILURE).  INFORMATIONAL is still
 * served: a DELETE crossing ours is answered (1.4.1). */
static bool refused_while_deleting(struct zike *z, struct ike_sa *sa,
                                   const struct route *from,
                                   const struct ike_message *m)
{
    if (!ike_sa_deleting(sa) || m->hdr.exchange == IKE_INFORMATIONAL)
        return false;
    zike_log_limited(z, &z->peer_log[PEER_LOG_WHILE_DELETING], LOG_INFO,
                     "peer %s: request (exchange %u) refused: the IKE SA "
                     "is being deleted", sa->peer_name[0] ? sa->peer_name :
                     "(unknown)", m->hdr.exchange);
    answer_error(z, sa, from, m, IKE_N_TEMPORARY_FAILURE, NULL, 0);
    return true;
}

/* Anyone can send a message with no Encrypted payload, or one that does
 * not verify: an error notify in it is logged, never acted on, and the
 * message changes nothing (RFC 7296 2.21.1, 2.21.4). */
static void unauthenticated(struct zike *z, const struct ike_sa *sa,
                            const struct ike_message *m)
{
    uint16_t err = ike_find(m, IKE_PL_SK) ? 0 : ike_error_notify(m);

    if (err != 0)
        zike_log(LOG_DEBUG, "peer %s: unprotected error notify %u ignored",
                 sa->peer_name[0] ? sa->peer_name : "(unknown)", err);
    ike_drop(z, IKE_DROP_ICV, sa, m);
}

/* RFC 7296 3.1: the I flag is set by the original initiator of the IKE SA
 * and only by it.  A message whose flag gives its sender our own role was
 * sent by us: sent back, it would open under our own key. */
static bool sent_by_us(const struct ike_sa *sa, const struct ike_message *m)
{
    return ((m->hdr.flags & IKE_FLAG_INITIATOR) != 0) == sa->initiator;
}

static bool spis_match(const struct ike_sa *sa, const struct ike_message *m)
{
    /* The initiator does not know the responder's SPI before the
     * IKE_SA_INIT response. */
    return memcmp(sa->spi_i, m->hdr.spi_i, 8) == 0 &&
           (sa->state == IKE_ST_INIT_SENT ||
            memcmp(sa->spi_r, m->hdr.spi_r, 8) == 0);
}

/* The IKE SA a message belongs to: its SPIs, and its sender in the role
 * opposite to ours.  *reflected: an SA of ours whose SPIs it has but whose
 * role it claims. */
static struct ike_sa *find_sa(struct zike *z, const struct ike_message *m,
                              const struct ike_sa **reflected)
{
    *reflected = NULL;
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (!spis_match(sa, m))
            continue;
        if (sent_by_us(sa, m))
            *reflected = sa;
        else if (sa->state != IKE_ST_DEAD)
            return sa;
    }
    return NULL;
}

/* The X25519 value and the nonce an IKE_SA_INIT message carries (NULL
 * for one it lacks). */
struct init_values {
    const uint8_t *ke, *nonce;
    size_t ke_len, nonce_len;
};

static void init_values(const struct ike_message *m, struct init_values *v)
{
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    struct ike_ke ke;

    memset(v, 0, sizeof *v);
    if (pke != NULL && ike_parse_ke(pke, &ke) == IKE_OK) {
        v->ke = ke.data;
        v->ke_len = ke.len;
    }
    if (pn != NULL &&
        ike_parse_nonce(pn, &v->nonce, &v->nonce_len) != IKE_OK)
        v->nonce = NULL;
}

/* The header of an IKE_SA_INIT is not authenticated: it can say anything,
 * its flags and SPIs included.  What we sent in one, an X25519 value or a
 * nonce of one of our IKE SAs, no peer sends: a message that carries it
 * is ours sent back, whatever its header says. */
static bool own_init_values(struct zike *z, const struct ike_message *m)
{
    struct init_values v;

    init_values(m, &v);
    for (const struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        const uint8_t *nonce = sa->initiator ? sa->ni : sa->nr;
        size_t nonce_len = sa->initiator ? sa->ni_len : sa->nr_len;

        if ((v.ke != NULL && v.ke_len == sizeof sa->dh_pub &&
             memcmp(v.ke, sa->dh_pub, v.ke_len) == 0) ||
            (v.nonce != NULL && v.nonce_len == nonce_len &&
             memcmp(v.nonce, nonce, nonce_len) == 0))
            return true;
    }
    return false;
}

/* An IKE_SA_INIT request that is our own request or response sent back:
 * one of our initiator SPIs, or our values. */
static bool own_init_request(struct zike *z, const struct ike_message *m)
{
    for (const struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (sa->initiator && memcmp(sa->spi_i, m->hdr.spi_i, 8) == 0)
            return true;
    return own_init_values(z, m);
}

/* The header checks that come before any decryption: who sent it, and
 * whether it is the request or the response expected now.  IKE_DROP_REASONS
 * if it may be opened. */
static enum ike_drop check_header(struct zike *z, const struct ike_sa *sa,
                                  const struct ike_message *m,
                                  const struct route *from,
                                  const uint8_t digest[REQUEST_DIGEST_BYTES],
                                  bool *answered)
{
    bool response = (m->hdr.flags & IKE_FLAG_RESPONSE) != 0;

    *answered = false;
    if (sa->keys->aead == NULL ||
        (sa->state == IKE_ST_HALF_OPEN && m->hdr.exchange != IKE_AUTH))
        return IKE_DROP_UNEXPECTED;
    if (response) {
        /* Only the answer to the request in flight counts. */
        if (sa->req.kind == REQ_NONE || m->hdr.exchange != sa->req.exchange)
            return IKE_DROP_UNEXPECTED;
        return m->hdr.message_id == sa->req.mid ? IKE_DROP_REASONS
                                                : IKE_DROP_MESSAGE_ID;
    }
    /* Whoever answered our IKE_SA_INIT holds the keys, but is the peer
     * only once its IKE_AUTH response verifies: no request before. */
    if (sa->state == IKE_ST_AUTH_SENT)
        return IKE_DROP_UNEXPECTED;
    if (m->hdr.message_id + 1 == sa->mid_in && sa->resp != NULL &&
        sa->resp_mid == m->hdr.message_id) {
        /* Another message with the last request's ID is not a
         * retransmission of it: it gets nothing. */
        if (sodium_memcmp(digest, sa->resp_req_digest,
                          REQUEST_DIGEST_BYTES) != 0)
            return IKE_DROP_MESSAGE_ID;
        zike_send(z, from, sa->resp, sa->resp_len);       /* retransmit */
        *answered = true;
        return IKE_DROP_REASONS;
    }
    return m->hdr.message_id == sa->mid_in ? IKE_DROP_REASONS
                                           : IKE_DROP_MESSAGE_ID;
}

/* A request that starts an IKE SA: from an initiator, message ID 0, no
 * responder SPI yet, an initiator SPI (never zero, RFC 7296 3.1), and not
 * our own. */
static void handle_init_request(struct zike *z, const struct route *from,
                                const uint8_t *buf, size_t len,
                                const struct ike_message *m)
{
    if (sodium_is_zero(m->hdr.spi_i, 8) == 1) {
        ike_drop(z, IKE_DROP_MALFORMED, NULL, m);
        return;
    }
    if (!(m->hdr.flags & IKE_FLAG_INITIATOR) || m->hdr.message_id != 0 ||
        sodium_is_zero(m->hdr.spi_r, 8) != 1) {
        ike_drop(z, IKE_DROP_UNEXPECTED, NULL, m);
        return;
    }
    if (own_init_request(z, m)) {
        ike_drop(z, IKE_DROP_REFLECTED, NULL, m);
        return;
    }
    ike_init_request(z, from, buf, len, m);
}

/* *opened: the IKE SA under whose keys the message verified, if it did. */
static void dispatch(struct zike *z, const struct route *from, uint8_t *buf,
                     size_t len, struct ike_sa **opened)
{
    struct ike_message m;
    struct ike_sa *sa;
    const struct ike_sa *reflected;
    uint8_t digest[REQUEST_DIGEST_BYTES] = { 0 };
    enum ike_drop why;
    bool response, answered;
    int err;

    if ((err = ike_parse(buf, len, &m)) != IKE_OK) {
        zike_log(LOG_DEBUG, "malformed IKE message: %s", ike_strerror(err));
        ike_drop(z, IKE_DROP_MALFORMED, NULL, NULL);
        return;
    }
    response = (m.hdr.flags & IKE_FLAG_RESPONSE) != 0;
    if (m.hdr.exchange == IKE_SA_INIT && !response) {
        handle_init_request(z, from, buf, len, &m);
        return;
    }
    if ((sa = find_sa(z, &m, &reflected)) == NULL) {
        ike_drop(z, reflected ? IKE_DROP_REFLECTED : IKE_DROP_UNKNOWN_SA,
                 reflected, &m);
        return;
    }
    if (m.hdr.exchange == IKE_SA_INIT) {
        if (sa->state == IKE_ST_INIT_SENT && sa->initiator &&
            m.hdr.message_id == 0 && sa->req.kind == REQ_INIT) {
            if (own_init_values(z, &m))
                ike_drop(z, IKE_DROP_REFLECTED, sa, &m);
            else if (ike_init_response(z, sa, buf, len, &m))
                ike_auth_start(z, sa);
        } else {
            ike_drop(z, IKE_DROP_UNEXPECTED, sa, &m);
        }
        return;
    }
    /* Before the Encrypted payload is opened in place. */
    if (!response)
        crypto_generichash(digest, sizeof digest, buf, len, NULL, 0);
    if ((why = check_header(z, sa, &m, from, digest, &answered)) !=
        IKE_DROP_REASONS) {
        ike_drop(z, why, sa, &m);
        return;
    }
    if (answered)
        return;
    /* Decrypt with the peer's keys: our role, checked above, says which. */
    if ((err = ike_sk_open(buf, len, &m, sa->keys, !sa->initiator)) !=
        IKE_OK) {
        if (err == IKE_EAUTH) {
            unauthenticated(z, sa, &m);
            return;
        }
        /* Authentic but malformed requests are answered (RFC 7296 2.21);
         * responses are dropped. */
        if (response) {
            ike_drop(z, IKE_DROP_MALFORMED, sa, &m);
            return;
        }
        invalid_request_logged(z, sa, err);
        memcpy(sa->resp_req_digest, digest, sizeof digest);
        refuse_request(z, sa, from, &m, err);
        return;
    }
    sa->last_heard = z->now;
    *opened = sa;
    /* The peer is where its newest authenticated message came from (a
     * retransmission answered from the cache, a replay or an old message
     * never gets here): once its DEALER has come back on a new connection,
     * our requests follow it there.  Ours in flight, if it went to the
     * connection to listen the peer left (closed, or about to be) or to
     * nowhere, goes again at once, not a retransmission timeout later
     * (the peer answers it from its cache if it had it).  One that went
     * on our link to the peer is where the peer answers it. */
    if (from->sock != NULL && sa->state == IKE_ST_ESTABLISHED) {
        bool left_listen = sa->route.sock == NULL ||
                           sa->route.sock == z->listener;

        if (listen_follow(z, sa, from) && left_listen && !response)
            ike_resend(z, sa);
    }
    if (!response) {
        memcpy(sa->resp_req_digest, digest, sizeof digest);
        sa->mid_in++;
        child_peer_progressed(sa, m.hdr.message_id);
        if (refused_while_deleting(z, sa, from, &m))
            return;
        switch (m.hdr.exchange) {
        case IKE_AUTH:
            if (sa->state == IKE_ST_HALF_OPEN)
                ike_auth_request(z, sa, from, &m);
            else
                no_exchange(z, sa, from, &m);
            break;
        case IKE_CREATE_CHILD_SA:
            if (!ike_rekey_request(z, sa, from, &m))
                child_create_request(z, sa, from, &m);
            break;
        case IKE_INFORMATIONAL:
            informational_request(z, sa, from, &m);
            break;
        case IKE_GSA_REGISTRATION:
        case IKE_GSA_INBAND_REKEY:
            group_handle_request(z, sa, from, &m);
            break;
        default:
            no_exchange(z, sa, from, &m);
            break;
        }
        return;
    }
    switch (sa->req.kind) {
    case REQ_AUTH:
        ike_auth_response(z, sa, &m);
        break;
    case REQ_CHILD:
        child_create_response(z, sa, &m);
        break;
    case REQ_IKE_REKEY:
        ike_rekey_response(z, sa, &m);
        break;
    case REQ_DELETE_CHILD:
    case REQ_DELETE_IKE:
    case REQ_DPD:
        informational_response(z, sa, &m);
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

/* IKE SAs are freed only by the timers (ike_tick), never while a message
 * is dispatched: opened is still there to ask. */
enum ike_heard ike_handle(struct zike *z, const struct route *from,
                          uint8_t *buf, size_t len)
{
    uint64_t drops = z->stats.dropped_messages;
    struct ike_sa *opened = NULL;

    dispatch(z, from, buf, len, &opened);
    if (opened != NULL && listen_mark(z, opened, from))
        return IKE_HEARD_AUTHENTIC;
    return z->stats.dropped_messages != drops ? IKE_HEARD_DROPPED
                                              : IKE_HEARD_TAKEN;
}
