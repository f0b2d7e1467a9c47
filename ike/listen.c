/*
 * zike's listen endpoint (doc/zike.md 1): a ZMQ_STREAM socket whose
 * connections zike reads as ZMTP itself (zmtp.c), so that what anyone who
 * can connect makes zike hold is bounded before zike reads it: per
 * connection one frame of at most IKE_MAX_MESSAGE bytes and LISTEN_RCVHWM
 * of libzmq's reads; at most max-connections connections, and
 * connections-per-source from one source (source.c: an IPv6 /64).  A connection that stops in the
 * middle of its greeting or of a frame is closed after STREAM_STALL_MS.
 * Peers are unchanged: a DEALER talks to this as to a ROUTER.
 *
 * Connecting costs nothing but an address, so a full table must not keep
 * out the peers that matter: a new connection past a limit displaces the
 * unauthenticated connection that has gone longest without bringing an
 * IKE message zike took, and never an authentic one: one that a live IKE
 * SA vouches for, its authenticated peer's newest message having come
 * over it (listen_mark.c).  Only when every candidate is authentic is the
 * new one refused.  One that no IKE SA vouches for is closed anyway
 * unauthenticated-timeout after it opened or lost its mark (sshd's
 * LoginGraceTime), so a flood must go on, and a revoked peer's connection
 * does not stay.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <zmq.h>

#include "stream.h"

/* libzmq's reads (up to 8 KiB each) queued per connection: IKE needs few. */
#define LISTEN_RCVHWM 4
#define LISTEN_SNDHWM 1000

/* Where a connection comes from, for the limits per source: libzmq's
 * Peer-Address, the address of a tcp peer, and for ipc
 * "localhost:UID:GID:PID", of which the user counts, not the process. */
static void source_of(const zmq_msg_t *part, char *out, size_t len)
{
    const char *addr = zmq_msg_gets(part, "Peer-Address");
    const char *pid;

    out[0] = '\0';
    if (addr == NULL)
        return;
    snprintf(out, len, "%s", addr);
    if (strncmp(out, "localhost:", 10) == 0 &&
        (pid = strrchr(out, ':')) != out + 9)
        out[pid - out] = '\0';
}

int listen_open(struct zike *z)
{
    int zero = 0, one = 1, rcvhwm = LISTEN_RCVHWM, sndhwm = LISTEN_SNDHWM;

    z->listen_conns = calloc(z->conf.max_connections,
                             sizeof *z->listen_conns);
    if (z->listen_conns == NULL ||
        (z->listener = zmq_socket(z->ctx, ZMQ_STREAM)) == NULL ||
        zmq_setsockopt(z->listener, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(z->listener, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(z->listener, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) != 0 ||
        zmq_setsockopt(z->listener, ZMQ_STREAM_NOTIFY, &one, sizeof one) != 0 ||
        zmq_setsockopt(z->listener, ZMQ_IPV6, &one, sizeof one) != 0 ||
        zmq_bind(z->listener, z->conf.listen) != 0) {
        zike_log(LOG_ERR, "listen %s: %s", z->conf.listen,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

static void forget(struct zike *z, size_t i)
{
    zmtp_free(&z->listen_conns[i]->zmtp);
    free(z->listen_conns[i]);
    z->listen_conns[i] = z->listen_conns[--z->listen_nconns];
}

static void close_conn(struct zike *z, size_t i)
{
    stream_hang_up(z->listener, z->listen_conns[i]->rid,
                   z->listen_conns[i]->rid_len);
    forget(z, i);
}

void listen_close(struct zike *z)
{
    while (z->listen_nconns > 0)
        forget(z, z->listen_nconns - 1);
    free(z->listen_conns);
    z->listen_conns = NULL;
    if (z->listener)
        zmq_close(z->listener);
    z->listener = NULL;
}

/* A message to a connection that is gone, or full, is lost as on a
 * network: retransmissions and liveness checks find out, as they do for
 * a peer that vanished without closing its connection. */
int listen_send(const struct route *to, const uint8_t *buf, size_t len)
{
    if (len > IKE_MAX_MESSAGE)
        return -1;
    if (stream_send_message(to->sock, to->rid, to->rid_len, buf, len) != 0)
        zike_log(LOG_DEBUG, "send to a connection to listen: %s",
                 zmq_strerror(zmq_errno()));
    return 0;
}

static size_t from_source(const struct zike *z, const char *addr)
{
    size_t n = 0;

    for (size_t i = 0; i < z->listen_nconns; i++)
        n += zike_same_source(z->listen_conns[i]->addr, addr);
    return n;
}

/* Room for one more connection from addr: none is needed, or the least
 * valuable one it would compete with (of its source if that is at its
 * limit, else of all) is closed.  false: all of those are authenticated. */
static bool make_room(struct zike *z, const char *addr)
{
    bool at_source = from_source(z, addr) >= z->conf.connections_per_source;
    const struct stream_conn *c, *v = NULL;
    size_t victim = 0;

    if (!at_source && z->listen_nconns < z->conf.max_connections)
        return true;
    for (size_t i = 0; i < z->listen_nconns; i++) {
        c = z->listen_conns[i];
        if (c->authentic || (at_source && !zike_same_source(c->addr, addr)))
            continue;
        if (v == NULL || c->heard < v->heard) {
            v = c;
            victim = i;
        }
    }
    if (v == NULL)
        return false;
    zike_log(LOG_DEBUG, "closed a connection to listen from %s, idle %llu "
             "ms, for one from %s", v->addr[0] ? v->addr : "?",
             (unsigned long long)(z->now - v->heard), addr[0] ? addr : "?");
    ike_drop(z, IKE_DROP_EVICTED, NULL, NULL);
    close_conn(z, victim);
    return true;
}

static void accept_conn(struct zike *z, zmq_msg_t *rid,
                        const zmq_msg_t *first)
{
    uint8_t greeting[ZMTP_GREETING_BYTES];
    struct stream_conn *c;
    struct route to = { .sock = z->listener };

    to.rid_len = zmq_msg_size(rid);
    memcpy(to.rid, zmq_msg_data(rid), to.rid_len);
    source_of(first, to.addr, sizeof to.addr);
    if (!make_room(z, to.addr)) {
        ike_drop(z, IKE_DROP_CONNECTION_LIMIT, NULL, NULL);
        stream_hang_up(z->listener, to.rid, to.rid_len);
        return;
    }
    zmtp_greeting(greeting);
    if ((c = calloc(1, sizeof *c)) == NULL ||
        stream_send(z->listener, to.rid, to.rid_len, greeting,
                    sizeof greeting) != 0) {
        free(c);                     /* gone already, or no memory */
        stream_hang_up(z->listener, to.rid, to.rid_len);
        return;
    }
    memcpy(c->rid, to.rid, to.rid_len);
    c->rid_len = to.rid_len;
    memcpy(c->addr, to.addr, sizeof c->addr);
    c->since = z->now;
    c->grace_from = c->heard = z->now;
    zmtp_init(&c->zmtp, IKE_MAX_MESSAGE);
    z->listen_conns[z->listen_nconns++] = c;
}

static void feed(struct zike *z, size_t i, const uint8_t *data, size_t len)
{
    struct stream_conn *c = z->listen_conns[i];
    struct route from = { .sock = z->listener, .zmtp = true };

    memcpy(from.rid, c->rid, c->rid_len);
    from.rid_len = c->rid_len;
    memcpy(from.addr, c->addr, sizeof from.addr);
    if (stream_feed(z, z->listener, c, data, len, &from) != 0)
        close_conn(z, i);
}

/* One message of the STREAM socket: [routing id] bytes, where no bytes
 * say that a connection opened (unknown id) or closed (known id).  Returns
 * whether there was one. */
bool listen_receive(struct zike *z)
{
    zmq_msg_t rid, data;
    int got;
    size_t i = 0;

    zmq_msg_init(&rid);
    zmq_msg_init(&data);
    if ((got = stream_recv(z->listener, &rid, &data)) <= 0)
        goto out;
    z->now = zike_clock_ms();
    i = listen_conn_index(z, zmq_msg_data(&rid), zmq_msg_size(&rid));
    if (i == z->listen_nconns) {
        if (zmq_msg_size(&data) == 0)
            accept_conn(z, &rid, &data);
        /* else: the last bytes of a connection we closed */
    } else if (zmq_msg_size(&data) == 0) {
        forget(z, i);                /* the peer closed it */
    } else {
        feed(z, i, zmq_msg_data(&data), zmq_msg_size(&data));
    }
out:
    zmq_msg_close(&data);
    zmq_msg_close(&rid);
    return got >= 0;
}

/* Whether c had its time to carry an authenticated peer's message since
 * it opened or since the last IKE SA that vouched for it went (a peer's
 * DEALER authenticates within seconds of its first IKE_SA_INIT; one that
 * stays quiet until then connects again when closed). */
static bool unauthenticated_too_long(const struct zike *z,
                                     const struct stream_conn *c)
{
    return !c->authentic && z->conf.unauthenticated_ms != 0 &&
           z->now - c->grace_from >= z->conf.unauthenticated_ms;
}

/* Close the connections that stopped in the middle of something, and
 * those no IKE SA vouched for in unauthenticated-timeout. */
void listen_expire(struct zike *z)
{
    size_t i = 0;

    while (i < z->listen_nconns) {
        if (stream_stalled(z, z->listen_conns[i])) {
            ike_drop(z, IKE_DROP_FRAMING, NULL, NULL);
            close_conn(z, i);
        } else if (unauthenticated_too_long(z, z->listen_conns[i])) {
            ike_drop(z, IKE_DROP_UNAUTHENTICATED, NULL, NULL);
            close_conn(z, i);
        } else {
            i++;
        }
    }
}
