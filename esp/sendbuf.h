/* The buffers of the ESP frames zesp_send hands to ZeroMQ (sendbuf.c). */
#ifndef ZESP_SENDBUF_H
#define ZESP_SENDBUF_H

#include <stddef.h>
#include <zmq.h>

/* Frames from this size up come from the spares (below, malloc's own bins
 * serve as well); above SENDBUF_MAX, from ZeroMQ, so that the spares never
 * hold more than SENDBUF_SPARES * SENDBUF_MAX bytes idle. */
#define SENDBUF_MIN (64U * 1024U)
#define SENDBUF_MAX (4U * 1024U * 1024U)
#define SENDBUF_SPARES 4U

/* msg, of size bytes, to be sent (or closed): its buffer returns to the
 * spares when ZeroMQ is done with it.  0, or -1 and errno. */
int sendbuf_msg_init(zmq_msg_t *msg, size_t size);
/* Instead of zmq_msg_close for a frame whose sealing failed: it may hold
 * the message in clear, so it is wiped first. */
void sendbuf_msg_discard(zmq_msg_t *msg);

#endif
