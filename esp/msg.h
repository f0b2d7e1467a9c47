#ifndef ZESP_MSG_H
#define ZESP_MSG_H

#include <stdbool.h>
#include <zmq.h>

#include "message.h"
#include "zesp.h"

struct zesp_msg {
    zmq_msg_t *parts;        /* frames received from a socket (zesp_recv) */
    size_t nparts;
    size_t parts_cap;
    zesp_frame *pre;         /* views of the frames before the ESP frame */
    size_t npre;
    size_t pre_cap;
    struct message_view view;
    uint32_t spi;
    uint64_t seq;
    uint32_t sender_id;      /* the group sender's window that accepted it */
    char peer[ZESP_PEER_MAX];
    uint8_t *own;            /* a frame ZeroMQ shares, decrypted apart */
    size_t own_cap;
};

void msg_reset(zesp_msg *msg);
int msg_push_pre(zesp_msg *msg, const void *data, size_t size);
/* Verify the ESP frame against the views in msg->pre; fills the rest of msg.
 * The frame decrypted goes to dst (esp itself: in place).  With a policy,
 * only under an SA that serves it.  all_bound: every frame before the ESP
 * frame must be a clear frame the sender bound (none is envelope).
 * Returns 0 or an error code (counted). */
int msg_open(zesp_sad *sad, const char *policy, zesp_msg *msg,
             const uint8_t *esp, size_t esp_size, uint8_t *dst,
             bool all_bound);
/* Room for a frame of size bytes that belongs to msg alone. */
uint8_t *msg_own_buffer(zesp_msg *msg, size_t size);

#endif
