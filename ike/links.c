/*
 * zike's connections to its peers' endpoints (doc/zike.md 1): a ZMQ_STREAM
 * socket per peer with an endpoint, connected, whose connection zike reads
 * as ZMTP itself (zmtp.c, the client side: a DEALER to the peer's ROUTER),
 * so that a peer endpoint, or whoever answers in its place, can make zike
 * hold no more than a connection to listen can.  Our messages wait, a few,
 * until the handshake is done, as a DEALER's would.  A connection that
 * breaks ZMTP or stalls is closed and made again a second later.
 *
 * Each connection has a socket of its own.  A connecting ZMQ_STREAM
 * socket keeps its pipe when libzmq connects it again: what we sent that
 * had not gone out when the connection broke would go first onto the next
 * one, before our greeting, and break ZMTP there.  So when a connection
 * closes, its socket is closed with whatever it held and a new one
 * connects, the IKE SAs routed to the link following it.  Zero bytes on
 * a link's socket say, the first time, that its connection opened and, the
 * second, that it closed; libzmq itself makes again a connection that
 * failed before it opened.
 *
 * To the peer's listen a connection made again is a stranger, one a flood
 * may displace and unauthenticated-timeout closes, until a message of ours
 * verifies on it: once one has done its handshake after a break, the IKE
 * SA with the peer is told (ike_link_back), at most once a second, so
 * that a flapping link cannot make zike send a request on each flap.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <zmq.h>

#include "stream.h"

#define LINK_QUEUE 8                 /* our messages before the handshake */
#define LINK_RCVHWM 4
#define LINK_SNDHWM 1000
#define LINK_RECONNECT_MS 1000U      /* after a connection we closed */
#define LINK_REDIAL_MS 100U          /* after one the other end closed, as
                                        libzmq's ZMQ_RECONNECT_IVL */
#define LINK_BACK_MS 1000U           /* between two ike_link_back */

struct peer_link {
    void *sock;
    const char *endpoint;            /* the peer's, in z->conf */
    size_t peer;                     /* its index in z->conf.peers */
    bool up;                         /* conn is sock's connection */
    bool was_ready;                  /* one of its connections did its
                                        handshake */
    bool back;                       /* made again since: the IKE SA is
                                        to be told */
    uint64_t back_told;              /* ms: it was, last */
    uint64_t dial_at;                /* sock is to connect then (ms); 0 */
    bool dial_failed;                /* libzmq refused the last dial */
    struct stream_conn conn;
    uint8_t *queued[LINK_QUEUE];
    size_t queued_len[LINK_QUEUE], nqueued;
};

static void drop_queue(struct peer_link *l)
{
    for (size_t i = 0; i < l->nqueued; i++)
        free(l->queued[i]);
    l->nqueued = 0;
}

/* A socket for a link, not yet connected; NULL, said at level. */
static void *link_socket(struct zike *z, const char *peer, int level)
{
    int zero = 0, rcvhwm = LINK_RCVHWM, sndhwm = LINK_SNDHWM, one = 1;
    void *sock = zmq_socket(z->ctx, ZMQ_STREAM);

    if (sock == NULL ||
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) != 0 ||
        zmq_setsockopt(sock, ZMQ_STREAM_NOTIFY, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_IPV6, &one, sizeof one) != 0) {
        zike_log(level, "peer %s: no socket for its endpoint: %s", peer,
                 zmq_strerror(zmq_errno()));
        if (sock != NULL)
            zmq_close(sock);
        return NULL;
    }
    return sock;
}

void zike_keep_links(struct zike *z, const struct zike_conf *fresh,
                     struct peer_link *kept[ZIKE_MAX_PEERS])
{
    for (size_t i = 0; i < fresh->npeers; i++) {
        const struct zike_peer *p = &fresh->peers[i];

        kept[i] = NULL;
        if (p->endpoint[0] == '\0')
            continue;
        for (size_t k = 0; k < ZIKE_MAX_PEERS; k++) {
            struct peer_link *l = z->links[k];

            if (l != NULL &&
                strcmp(z->conf.peers[l->peer].name, p->name) == 0 &&
                strcmp(l->endpoint, p->endpoint) == 0) {
                kept[i] = l;
                z->links[k] = NULL;
                break;
            }
        }
    }
}

/* Peer i's link made, connecting; -1 if it cannot be (said at level).
 * A link made after the peer's IKE SA was (a reload, a retry) is, to the
 * peer's listen, a connection made again (was_ready): checked at once. */
static int open_link(struct zike *z, size_t i, bool was_ready, int level)
{
    const struct zike_peer *p = &z->conf.peers[i];
    struct peer_link *l = calloc(1, sizeof *l);

    if (l == NULL || (l->sock = link_socket(z, p->name, level)) == NULL) {
        free(l);
        return -1;
    }
    if (zmq_connect(l->sock, p->endpoint) != 0) {
        zike_log(level, "peer %s: cannot connect to %s: %s", p->name,
                 p->endpoint, zmq_strerror(zmq_errno()));
        zmq_close(l->sock);
        free(l);
        return -1;
    }
    z->links[i] = l;
    l->peer = i;
    l->endpoint = p->endpoint;
    l->was_ready = was_ready;
    snprintf(l->conn.addr, sizeof l->conn.addr, "%.*s",
             (int)sizeof l->conn.addr - 1, l->endpoint); /* for logs */
    return 0;
}

/* A peer whose link cannot be made is left without one (said) until
 * links_tick makes it; the others get theirs all the same. */
int zike_open_links(struct zike *z, struct peer_link *kept[ZIKE_MAX_PEERS])
{
    int rc = 0;

    for (size_t i = 0; kept != NULL && i < z->conf.npeers; i++)
        if ((z->links[i] = kept[i]) != NULL) {
            kept[i]->peer = i;
            kept[i]->endpoint = z->conf.peers[i].endpoint;
        }
    for (size_t i = 0; i < z->conf.npeers; i++)
        if (z->conf.peers[i].endpoint[0] != '\0' && z->links[i] == NULL &&
            open_link(z, i, kept != NULL, LOG_ERR) != 0)
            rc = -1;
    z->links_retry_at = rc != 0 ? z->now + LINK_RECONNECT_MS : 0;
    return rc;
}

/* The links zike_open_links could not make, tried again, quietly: it said
 * why once.  The IKE SA with a peer whose link is made takes the link
 * once it has done its handshake (was_ready: ike_link_back). */
static void retry_links(struct zike *z)
{
    bool missing = false;

    for (size_t i = 0; i < z->conf.npeers; i++) {
        const struct zike_peer *p = &z->conf.peers[i];

        if (p->endpoint[0] == '\0' || z->links[i] != NULL)
            continue;
        if (open_link(z, i, true, LOG_DEBUG) == 0)
            zike_log(LOG_NOTICE, "peer %s: its link to %s made at last, "
                     "connecting", p->name, p->endpoint);
        else
            missing = true;
    }
    z->links_retry_at = missing ? z->now + LINK_RECONNECT_MS : 0;
}

void zike_close_links(struct zike *z, int linger)
{
    for (size_t i = 0; i < ZIKE_MAX_PEERS; i++) {
        struct peer_link *l = z->links[i];

        if (l == NULL)
            continue;
        if (l->sock) {
            zmq_setsockopt(l->sock, ZMQ_LINGER, &linger, sizeof linger);
            zmq_close(l->sock);
        }
        zmtp_free(&l->conn.zmtp);
        drop_queue(l);
        free(l);
        z->links[i] = NULL;
    }
}

/* The link to peer (one of z->conf.peers), or NULL. */
static struct peer_link *link_to(struct zike *z, const struct zike_peer *peer)
{
    for (size_t i = 0; i < z->conf.npeers; i++)
        if (&z->conf.peers[i] == peer)
            return z->links[i];
    return NULL;
}

struct route zike_route_to(struct zike *z, const struct zike_peer *peer)
{
    const struct peer_link *l = link_to(z, peer);
    struct route r;

    memset(&r, 0, sizeof r);
    if (l != NULL)
        r.sock = l->sock;
    return r;
}

static struct peer_link *link_of(struct zike *z, const void *sock)
{
    for (size_t i = 0; i < ZIKE_MAX_PEERS; i++)
        if (z->links[i] != NULL && z->links[i]->sock == sock)
            return z->links[i];
    return NULL;
}

void *zike_link_socket(struct zike *z, size_t peer)
{
    return z->links[peer] != NULL ? z->links[peer]->sock : NULL;
}

static bool ready(const struct peer_link *l)
{
    return l->up && l->conn.zmtp.state == ZMTP_MESSAGES;
}

bool zike_link_ready(struct zike *z, const struct zike_peer *peer)
{
    const struct peer_link *l = link_to(z, peer);

    return l != NULL && ready(l);
}

/* Sent now, or kept until the handshake is done; what does not fit is
 * lost as on a network (IKE retransmits). */
int link_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len)
{
    struct peer_link *l = link_of(z, to->sock);

    if (l == NULL || len > IKE_MAX_MESSAGE)
        return -1;
    if (ready(l)) {
        if (stream_send_message(l->sock, l->conn.rid, l->conn.rid_len, buf,
                                len) != 0)
            zike_log(LOG_DEBUG, "send to %s: %s", l->endpoint,
                     zmq_strerror(zmq_errno()));
    } else if (l->nqueued < LINK_QUEUE &&
               (l->queued[l->nqueued] = malloc(len ? len : 1)) != NULL) {
        memcpy(l->queued[l->nqueued], buf, len);
        l->queued_len[l->nqueued++] = len;
    }
    return 0;
}

static void flush(struct peer_link *l)
{
    for (size_t i = 0; i < l->nqueued; i++)
        stream_send_message(l->sock, l->conn.rid, l->conn.rid_len,
                            l->queued[i], l->queued_len[i]);
    drop_queue(l);
}

static void went_down(struct peer_link *l)
{
    zmtp_free(&l->conn.zmtp);
    l->up = false;
}

/* l's connection is over (it closed, or we close it): its socket goes
 * with everything it held, and a new one connects after `after` ms, the
 * IKE SAs routed to the link following it.  Without a new socket (out of
 * descriptors), the old one is disconnected and connected again. */
static void hang_up(struct zike *z, struct peer_link *l, uint64_t after)
{
    void *old = l->sock,
         *sock = link_socket(z, z->conf.peers[l->peer].name, LOG_ERR);

    went_down(l);
    l->dial_at = z->now + after;
    if (sock == NULL) {
        zmq_disconnect(old, l->endpoint);
        return;
    }
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (sa->route.sock == old)
            sa->route.sock = sock;
    l->sock = sock;
    zmq_close(old);
}

static void came_up(struct zike *z, struct peer_link *l, const zmq_msg_t *rid)
{
    uint8_t greeting[ZMTP_GREETING_BYTES];

    l->conn.rid_len = zmq_msg_size(rid);
    memcpy(l->conn.rid, zmq_msg_data((zmq_msg_t *)rid), l->conn.rid_len);
    zmtp_init_client(&l->conn.zmtp, IKE_MAX_MESSAGE);
    l->conn.since = z->now;
    zmtp_greeting(greeting);
    l->up = stream_send(l->sock, l->conn.rid, l->conn.rid_len, greeting,
                        sizeof greeting) == 0;
    if (!l->up)
        zmtp_free(&l->conn.zmtp);
}

/* One message of a link's STREAM socket; whether there was one. */
bool link_receive(struct zike *z, void *sock)
{
    struct peer_link *l = link_of(z, sock);
    zmq_msg_t rid, data;
    bool same;
    int got;

    if (l == NULL)
        return false;
    zmq_msg_init(&rid);
    zmq_msg_init(&data);
    if ((got = stream_recv(sock, &rid, &data)) <= 0)
        goto out;
    z->now = zike_clock_ms();
    same = l->up && stream_conn_is(&l->conn, zmq_msg_data(&rid),
                                   zmq_msg_size(&rid));
    if (zmq_msg_size(&data) == 0) {
        if (same)
            hang_up(z, l, LINK_REDIAL_MS);
        else if (!l->up)
            came_up(z, l, &rid);
    } else if (same) {
        struct route from = { .sock = sock };
        bool was = ready(l);

        if (stream_feed(z, sock, &l->conn, zmq_msg_data(&data),
                        zmq_msg_size(&data), &from) != 0) {
            hang_up(z, l, LINK_RECONNECT_MS);
        } else if (ready(l)) {
            if (!was) {
                /* Made again, or made for the first time after the peer
                 * established an IKE SA with us (over our listen): either
                 * way a stranger to the peer's listen until checked. */
                const struct ike_sa *sa =
                    ike_sa_for_peer(z, z->conf.peers[l->peer].name);

                l->back = l->was_ready ||
                          (sa != NULL && sa->state == IKE_ST_ESTABLISHED);
                l->was_ready = true;
            }
            if (l->nqueued > 0)
                flush(l);
        }
    }
out:
    zmq_msg_close(&data);
    zmq_msg_close(&rid);
    return got >= 0;
}

/* Stalled connections closed (a bad endpoint is given a second before
 * the next try); new sockets connected when due (again a second later if
 * libzmq refuses); the IKE SA told of a link made again; links that could
 * not be made tried again. */
void links_tick(struct zike *z)
{
    if (z->links_retry_at != 0 && z->now >= z->links_retry_at)
        retry_links(z);
    for (size_t i = 0; i < ZIKE_MAX_PEERS; i++) {
        struct peer_link *l = z->links[i];

        if (l == NULL)
            continue;
        if (l->up && stream_stalled(z, &l->conn)) {
            ike_drop(z, IKE_DROP_FRAMING, NULL, NULL);
            hang_up(z, l, LINK_RECONNECT_MS);
        } else if (l->dial_at != 0 && z->now >= l->dial_at) {
            l->dial_at = 0;
            if (zmq_connect(l->sock, l->endpoint) != 0) {
                /* Said once; tried again each second, quietly. */
                zike_log(l->dial_failed ? LOG_DEBUG : LOG_ERR,
                         "connect to %s: %s", l->endpoint,
                         zmq_strerror(zmq_errno()));
                l->dial_failed = true;
                l->dial_at = z->now + LINK_RECONNECT_MS;
            } else {
                l->dial_failed = false;
            }
        } else if (l->back && ready(l) &&
                   z->now - l->back_told >= LINK_BACK_MS) {
            l->back = false;
            l->back_told = z->now;
            ike_link_back(z, &z->conf.peers[l->peer]);
        }
    }
}
