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
    /* The payload decrypted into memory libzesp holds for this message
     * (own, or the ESP frame ZeroMQ read for it alone), wiped by
     * msg_reset: none when the caller's buffer was (zesp_open). */
    uint8_t *plain;
    size_t plain_len;
};

void msg_reset(zesp_msg *msg);
int msg_push_pre(zesp_msg *msg, const void *data, size_t size);
/* Verify the ESP frame against the views in msg->pre; fills the rest of msg.
 * The frame decrypted goes to dst (esp itself: in place).  With a policy,
 * only under an SA that serves it.  all_bound: every frame before the ESP
 * frame must be a clear frame the sender bound (none is envelope).
 * dst_ours: dst is libzesp's (msg->own, a frame received for msg alone),
 * and its plaintext is wiped by msg_reset.  Returns 0 or an error code
 * (counted). */
int msg_open(zesp_sad *sad, const char *policy, zesp_msg *msg,
             const uint8_t *esp, size_t esp_size, uint8_t *dst,
             bool all_bound, bool dst_ours);
/* Room for a frame of size bytes that belongs to msg alone. */
uint8_t *msg_own_buffer(zesp_msg *msg, size_t size);

#endif
