/*
 * What a broker or proxy accepts from anyone who can connect to it
 * (doc/topologies.md §3): frames of at most --max-message bytes, a peer
 * sending a larger one being disconnected by ZeroMQ before the frame is
 * buffered, and at most LIMITS_HWM messages queued on each connection
 * either way.  Used by mdp_broker and pubsub_proxy.
 */
#ifndef ZESP_EXAMPLES_LIMITS_H
#define ZESP_EXAMPLES_LIMITS_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <zmq.h>

/* Room for the benchmarks' 1 MiB messages, the ESP overhead and a hop
 * SA's around them, many times over. */
#define LIMITS_MAX_MESSAGE_DEFAULT (16 * 1024 * 1024)
/* ZeroMQ's default, stated: the most a connection can queue is this many
 * messages of --max-message bytes a frame.  It counts whole messages
 * only: the frames of a message still arriving (a peer that never sends
 * its last frame) are buffered without limit (doc/topologies.md). */
#define LIMITS_HWM 1000

/* BYTES as a positive decimal number; -1 if it is not one. */
static int64_t limits_parse(const char *text)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0)
        return -1;
    return (int64_t)v;
}

/* Bound socket s before it binds; -1 with errno as ZeroMQ left it. */
static int limits_apply(void *s, int64_t max_message)
{
    int hwm = LIMITS_HWM;

    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_message,
                       sizeof max_message) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        return -1;
    return 0;
}

#endif
