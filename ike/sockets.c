/*
 * zike's IKE sockets (doc/zike.md 1): a DEALER per peer endpoint carries
 * our requests and their responses; the connections to `listen` (listen.c)
 * carry the peers' requests and our responses, back to the connection they
 * came from.  One IKE message is one frame, at most IKE_MAX_MESSAGE bytes.
 */
#include <string.h>
#include <syslog.h>
#include <zmq.h>

#include "capture.h"
#include "daemon.h"

int zike_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len)
{
    (void)z;
    if (to->sock == NULL)
        return -1;
    capture_message(buf, len, true);
    if (to->zmtp)
        return listen_send(to, buf, len);
    if (to->rid_len &&
        zmq_send(to->sock, to->rid, to->rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if (zmq_send(to->sock, buf, len, ZMQ_DONTWAIT) < 0) {
        zike_log(LOG_DEBUG, "send: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

struct route zike_route_to(struct zike *z, const struct zike_peer *peer)
{
    struct route r;

    memset(&r, 0, sizeof r);
    for (size_t i = 0; i < z->conf.npeers; i++)
        if (&z->conf.peers[i] == peer)
            r.sock = z->dealers[i];
    return r;
}

void *zike_socket(struct zike *z, int type)
{
    void *s = zmq_socket(z->ctx, type);
    int64_t max = IKE_MAX_MESSAGE;
    int zero = 0, hwm = 1000;

    if (s == NULL)
        return NULL;
    /* A peer that sends more than an IKE message's limit is cut off by
     * libzmq before anything is buffered. */
    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    return s;
}

int zike_open_dealers(struct zike *z)
{
    for (size_t i = 0; i < z->conf.npeers; i++) {
        if (z->conf.peers[i].endpoint[0] == '\0')
            continue;
        if ((z->dealers[i] = zike_socket(z, ZMQ_DEALER)) == NULL ||
            zmq_connect(z->dealers[i], z->conf.peers[i].endpoint) != 0) {
            zike_log(LOG_ERR, "peer %s: cannot connect to %s: %s",
                     z->conf.peers[i].name, z->conf.peers[i].endpoint,
                     zmq_strerror(zmq_errno()));
            return -1;
        }
    }
    return 0;
}

void zike_close_dealers(struct zike *z)
{
    for (size_t i = 0; i < ZIKE_MAX_PEERS; i++)
        if (z->dealers[i] != NULL) {
            zmq_close(z->dealers[i]);
            z->dealers[i] = NULL;
        }
}
