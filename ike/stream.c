/*
 * A ZMTP connection on a ZMQ_STREAM socket (stream.h).  ZMQ_STREAM hands
 * zike [routing id] [bytes as they came] and sends [routing id] [bytes]
 * as they are; zero bytes close the connection.
 */
#include <string.h>
#include <syslog.h>
#include <zmq.h>

#include "capture.h"
#include "multipart.h"
#include "stream.h"

/* A signal after the routing id would leave the bytes for the next read
 * (multipart.h), taken there for a routing id: lost, and the ZMTP stream
 * they belonged to broken. */
int stream_recv(void *sock, zmq_msg_t *rid, zmq_msg_t *data)
{
    if (zmq_msg_recv(rid, sock, ZMQ_DONTWAIT) < 0)
        return -1;
    if (!zmq_msg_more(rid) ||
        multipart_recv_next(data, sock, ZMQ_DONTWAIT) < 0 ||
        zmq_msg_size(rid) == 0 || zmq_msg_size(rid) > ROUTE_ID_MAX)
        return 0;
    return 1;
}

/* A signal after the routing id would leave the socket mid-message: every
 * message after it sent wrong, its routing id as bytes (multipart.h). */
int stream_send(void *sock, const uint8_t *rid, size_t rid_len,
                const uint8_t *bytes, size_t len)
{
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        multipart_send_next(sock, bytes, len, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

void stream_hang_up(void *sock, const uint8_t *rid, size_t rid_len)
{
    if (zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        multipart_send_next(sock, "", 0, ZMQ_DONTWAIT);
}

int stream_send_message(void *sock, const uint8_t *rid, size_t rid_len,
                        const uint8_t *buf, size_t len)
{
    uint8_t frame[ZMTP_FRAME_HEADER_MAX + IKE_MAX_MESSAGE];
    size_t h;

    if (len > IKE_MAX_MESSAGE)
        return -1;
    h = zmtp_frame_header(frame, len);
    memcpy(frame + h, buf, len);
    return stream_send(sock, rid, rid_len, frame, h + len);
}

/* What zmtp_feed's callbacks need. */
struct feed_io {
    struct zike *z;
    void *sock;
    struct stream_conn *c;
    const struct route *from;
};

static int send_bytes(void *arg, const uint8_t *bytes, size_t len)
{
    const struct feed_io *io = arg;

    return stream_send(io->sock, io->c->rid, io->c->rid_len, bytes, len);
}

static int message(void *arg, const uint8_t *msg, size_t len)
{
    static uint8_t buf[IKE_MAX_MESSAGE];
    const struct feed_io *io = arg;

    memcpy(buf, msg, len);           /* ike_handle may change it */
    capture_message(buf, len, false);
    io->z->now = zike_clock_ms();
    switch (ike_handle(io->z, io->from, buf, len)) {
    case IKE_HEARD_AUTHENTIC:
        io->c->authentic = true;
        /* fall through */
    case IKE_HEARD_TAKEN:
        io->c->heard = io->z->now;
        break;
    case IKE_HEARD_DROPPED:
        break;
    }
    return 0;
}

int stream_feed(struct zike *z, void *sock, struct stream_conn *c,
                const uint8_t *data, size_t len, const struct route *from)
{
    static const struct zmtp_ops ops = { send_bytes, message };
    struct feed_io io = { z, sock, c, from };

    if (zmtp_feed(&c->zmtp, data, len, &ops, &io) != 0) {
        zike_log(LOG_DEBUG, "closed a ZMTP connection %s %s: %s",
                 c->zmtp.client ? "to" : "from",
                 c->addr[0] ? c->addr : "?", c->zmtp.error);
        ike_drop(z, IKE_DROP_FRAMING, NULL, NULL);
        return -1;
    }
    if (!zmtp_partial(&c->zmtp))
        c->since = 0;
    else if (c->since == 0)
        c->since = z->now;
    return 0;
}

bool stream_stalled(const struct zike *z, const struct stream_conn *c)
{
    if (c->since == 0 || z->now - c->since < STREAM_STALL_MS)
        return false;
    zike_log(LOG_DEBUG, "closed a ZMTP connection %s %s: stalled in its %s",
             c->zmtp.client ? "to" : "from", c->addr[0] ? c->addr : "?",
             c->zmtp.state == ZMTP_MESSAGES ? "message" : "handshake");
    return true;
}
