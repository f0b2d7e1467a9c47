/*
 * The frames of a ZeroMQ message after its first, on zike's own sockets
 * (the control socket, the ZMQ_STREAM ones).  libzmq checks for signals
 * before each frame it sends or receives and returns EINTR there, the
 * frame not taken, after a message's first frame as much as before it;
 * zike's signal handlers (SIGHUP, SIGTERM) return, so it happens.  A
 * message begun must go, or be read, to its end: a send that stopped would
 * leave the socket mid-message (ZMQ_STREAM: the next message's routing id
 * sent to this one's peer as bytes; ZMQ_REP: no request read again), and a
 * receive that stopped would leave the rest for the next read, which would
 * start mid-message.  Within a message libzmq never waits (for room: its
 * high-water mark counts whole messages; for frames: the rest is queued
 * with the first), so the frame is asked for again.  esp/socket.c does the
 * same for zesp_send and zesp_recv.
 */
#ifndef ZESP_IKE_MULTIPART_H
#define ZESP_IKE_MULTIPART_H

#include <stddef.h>
#include <zmq.h>

/* zmq_send and zmq_msg_recv, again while a signal interrupts them. */
int multipart_send_next(void *sock, const void *buf, size_t len, int flags);
int multipart_recv_next(zmq_msg_t *part, void *sock, int flags);

#endif
