/*
 * A ZMTP connection on a ZMQ_STREAM socket, read by zike itself
 * (zmtp.c): the connections to listen (listen.c) and zike's own to its
 * peers' endpoints (links.c).  Shared: sending on one, closing one, and
 * feeding it the bytes that came, with the time it has been stuck in the
 * middle of a greeting or a frame.
 */
#ifndef ZESP_IKE_STREAM_H
#define ZESP_IKE_STREAM_H

#include <string.h>
#include <zmq.h>

#include "daemon.h"
#include "zmtp.h"

/* One that stops in the middle of its greeting, its handshake or a frame
 * for this long is closed. */
#define STREAM_STALL_MS 10000U

struct stream_conn {
    uint8_t rid[ROUTE_ID_MAX];       /* libzmq's id of the connection */
    size_t rid_len;
    char addr[ROUTE_ADDR_MAX];       /* the peer's Peer-Address; "" */
    uint64_t since;                  /* began what it has not finished; 0 */
    uint64_t grace_from;             /* opened, or lost its authentic mark
                                        (ms): unauthenticated-timeout counts
                                        from then */
    uint64_t heard;                  /* opened, or brought the last IKE
                                        message zike did not drop (ms) */
    bool authentic;                  /* an IKE SA vouches for it: its
                                        established, authenticated peer's
                                        newest message came over it
                                        (listen_mark.c) */
    struct zmtp_conn zmtp;
};

/* One message of sock into rid and data (both initialised by the caller):
 * 1, 0 if it is not [routing id] [bytes] as ZMQ_STREAM gives, -1 if none
 * waits. */
int stream_recv(void *sock, zmq_msg_t *rid, zmq_msg_t *data);
/* Bytes as they are, to the connection rid of sock.  0 or -1. */
int stream_send(void *sock, const uint8_t *rid, size_t rid_len,
                const uint8_t *bytes, size_t len);
/* Ask libzmq to close the connection. */
void stream_hang_up(void *sock, const uint8_t *rid, size_t rid_len);
/* One IKE message as one ZMTP frame. */
int stream_send_message(void *sock, const uint8_t *rid, size_t rid_len,
                        const uint8_t *buf, size_t len);
/* Feed what came on c; each message it completes goes to ike_handle as
 * coming from `from`, and sets c's heard and authentic as it says.  -1: c
 * failed, said and counted; close it. */
int stream_feed(struct zike *z, void *sock, struct stream_conn *c,
                const uint8_t *data, size_t len, const struct route *from);
bool stream_stalled(const struct zike *z, const struct stream_conn *c);

/* Whether the routing id rid (len bytes) names the connection c. */
static inline bool stream_conn_is(const struct stream_conn *c,
                                  const void *rid, size_t len)
{
    return c->rid_len == len && memcmp(c->rid, rid, len) == 0;
}

/* The index of the connection to listen that rid names; listen_nconns if
 * none does (it closed). */
static inline size_t listen_conn_index(const struct zike *z, const void *rid,
                                       size_t len)
{
    size_t i = 0;

    while (i < z->listen_nconns && !stream_conn_is(z->listen_conns[i], rid,
                                                   len))
        i++;
    return i;
}

/* The connections to listen an IKE SA vouches for: its authenticated
 * peer spoke over them last. */
static inline size_t listen_authenticated(const struct zike *z)
{
    size_t n = 0;

    for (size_t i = 0; i < z->listen_nconns; i++)
        n += z->listen_conns[i]->authentic;
    return n;
}

#endif
