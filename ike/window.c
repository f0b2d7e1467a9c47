/*
 * Requests and responses on an IKE SA (RFC 7296 2.1 to 2.3): the one
 * interface every exchange sends through.  A request of ours is sealed in
 * an Encrypted payload (3.14) with the next message ID, kept, and sent
 * again with a doubling timeout until it is answered or given up: one in
 * flight at a time, a window of one.  Our last response is kept too, for
 * the peer's retransmissions of its request (dispatch.c answers those).
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "stream.h"

#define MSG_CAP IKE_MAX_MESSAGE

uint8_t *ike_dup(const uint8_t *b, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);

    if (p != NULL)
        memcpy(p, b, len);
    return p;
}

void ike_sa_header(struct ike_header *h, const struct ike_sa *sa,
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

    ike_sa_header(&h, sa, exchange, response, mid);
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

static const char *peer_label(const struct ike_sa *sa);

/* Where our requests to sa's peer go: where it was last heard from, unless
 * that is a connection to our listen that has closed since (its DEALER
 * came back on a new one, or went), which would swallow every request and
 * retransmission until the peer counted as dead; then its endpoint, if we
 * have one (the peer's next authenticated message says where it is).  A
 * link comes back by itself. */
static const struct route *request_route(struct zike *z, struct ike_sa *sa)
{
    const struct zike_peer *p;
    struct route link;

    if (!sa->route.zmtp ||
        listen_conn_index(z, sa->route.rid, sa->route.rid_len) <
            z->listen_nconns ||
        (p = ike_sa_peer(z, sa)) == NULL)
        return &sa->route;
    link = zike_route_to(z, p);
    if (link.sock != NULL) {
        zike_log(LOG_INFO, "peer %s: its connection to our listen endpoint "
                 "closed: requests go to %s", peer_label(sa), p->endpoint);
        listen_follow(z, sa, &link);
    }
    return &sa->route;
}

/* Send a request and keep it for retransmission.  A new request is news
 * to the peer: on our link, it authenticates the link's connection to the
 * peer's listen, as a link check would (timers.c). */
int ike_send_request(struct zike *z, struct ike_sa *sa, uint8_t *buf,
                     size_t len)
{
    const struct route *to;

    free(sa->req.buf);
    if ((sa->req.buf = ike_dup(buf, len)) == NULL)
        return -1;
    sa->req.len = len;
    sa->req.tries = 0;
    sa->req.sent_at = z->now;
    sa->req.resend_at = z->now + z->conf.retransmit_ms;
    to = request_route(z, sa);
    if (to->sock != NULL && !to->zmtp)
        sa->link_check = false;
    return zike_send(z, to, buf, len);
}

static void send_response(struct zike *z, struct ike_sa *sa,
                          const struct route *to, uint8_t *buf, size_t len,
                          uint32_t mid)
{
    free(sa->resp);
    sa->resp = ike_dup(buf, len);
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
    sa->req.exchange = exchange;
    sa->req.mid = sa->mid_out;
    if ((len = seal(sa, exchange, false, sa->mid_out, chain, chain_len,
                    msg)) != 0 &&
        ike_send_request(z, sa, msg, len) == 0) {
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

static const char *peer_label(const struct ike_sa *sa)
{
    return sa->peer_name[0] ? sa->peer_name : "(unknown)";
}

static const char *req_name(enum req_kind kind)
{
    switch (kind) {
    case REQ_INIT: return "IKE_SA_INIT";
    case REQ_AUTH: return "IKE_AUTH";
    case REQ_CHILD: return "CREATE_CHILD_SA";
    case REQ_IKE_REKEY: return "CREATE_CHILD_SA (IKE SA rekey)";
    case REQ_DELETE_CHILD: return "INFORMATIONAL (DELETE child SA)";
    case REQ_DELETE_IKE: return "INFORMATIONAL (DELETE IKE SA)";
    case REQ_DPD: return "INFORMATIONAL (liveness check)";
    case REQ_GSA_REGISTER: return "GSA_REGISTRATION";
    case REQ_GSA_LEAVE: return "GSA_REGISTRATION (leave)";
    case REQ_GSA_PUSH: return "GSA_INBAND_REKEY";
    case REQ_NONE: break;
    }
    return "request";
}

/* Where requests to the peer go: its endpoint, or the connection it
 * came in on. */
static const char *route_name(struct zike *z, const struct ike_sa *sa)
{
    const struct zike_peer *p = ike_sa_peer(z, sa);

    if (sa->route.rid_len == 0 && p != NULL && p->endpoint[0])
        return p->endpoint;
    return "its connection to our listen endpoint";
}

/* How long a request of ours is sent again before its peer counts as
 * lost: every timeout of ike_retransmit, doubling from the first. */
uint64_t ike_retransmit_span(const struct zike *z)
{
    return (uint64_t)z->conf.retransmit_ms *
           ((UINT64_C(2) << z->conf.retransmit_tries) - 1);
}

/* Send the request in flight again when its time has come; false once
 * it has been sent too often: the peer is not answering. */
bool ike_retransmit(struct zike *z, struct ike_sa *sa)
{
    struct request *r = &sa->req;

    if (r->kind == REQ_NONE || z->now < r->resend_at)
        return true;
    if (r->buf == NULL) {              /* never sent: nothing to repeat */
        r->kind = REQ_NONE;
        return true;
    }
    if (++r->tries > z->conf.retransmit_tries) {
        z->stats.dead_peers++;
        zike_log(LOG_WARNING, "peer %s: no answer to %s (message ID %u) "
                 "at %s, sent %u times over %llu ms", peer_label(sa),
                 req_name(r->kind), r->mid, route_name(z, sa), r->tries,
                 (unsigned long long)(z->now - r->sent_at));
        if (r->kind == REQ_INIT && sa->init_ignored)
            zike_log(LOG_WARNING, "peer %s: %u IKE_SA_INIT answers not "
                     "acted on (unprotected; last error notify %u)",
                     peer_label(sa), sa->init_ignored, sa->init_error);
        r->kind = REQ_NONE;
        return false;
    }
    z->stats.retransmits++;
    zike_log(LOG_DEBUG, "peer %s: retransmitting %s (message ID %u) to %s, "
             "try %u of %u", peer_label(sa), req_name(r->kind), r->mid,
             route_name(z, sa), r->tries + 1, z->conf.retransmit_tries + 1);
    r->resend_at = z->now + ((uint64_t)z->conf.retransmit_ms << r->tries);
    zike_send(z, request_route(z, sa), r->buf, r->len);
    return true;
}

/* The request in flight sent again now, out of turn, to where requests go
 * (our link that just came back: it was likely lost with the old
 * connection); counted as a retransmission, not as a try, its timeouts
 * unchanged. */
void ike_resend(struct zike *z, struct ike_sa *sa)
{
    struct request *r = &sa->req;

    if (r->kind == REQ_NONE || r->buf == NULL)
        return;
    z->stats.retransmits++;
    zike_log(LOG_DEBUG, "peer %s: %s (message ID %u) sent again at once on "
             "%s", peer_label(sa), req_name(r->kind), r->mid,
             route_name(z, sa));
    if (zike_send(z, request_route(z, sa), r->buf, r->len) != 0)
        zike_log(LOG_DEBUG, "peer %s: not sent again at once: it will be "
                 "at its time", peer_label(sa));
}
