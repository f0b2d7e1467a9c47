/* A received message: its frames, their views, and the SA it came under. */
#include "msg.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "datapath.h"
#include "grow.h"

zesp_msg *zesp_msg_new(void)
{
    return calloc(1, sizeof(zesp_msg));
}

/* The caller is done with the message: the plaintext libzesp holds for it
 * is wiped before its memory is reused or freed (ZeroMQ's frame is freed
 * by the close that follows, never wiped by libzmq), as libsodium wipes
 * what it frees.  The decrypted payload only, what was decrypted of this
 * message: a small message costs a small wipe.  The caller's own buffer
 * (zesp_open) is the caller's to wipe. */
static void wipe_plain(zesp_msg *msg)
{
    if (msg->plain_len != 0)
        sodium_memzero(msg->plain, msg->plain_len);
    msg->plain = NULL;
    msg->plain_len = 0;
}

void msg_reset(zesp_msg *msg)
{
    wipe_plain(msg);
    for (size_t i = 0; i < msg->nparts; i++)
        zmq_msg_close(&msg->parts[i]);
    msg->nparts = 0;
    msg->npre = 0;
    msg->view.nclear = 0;
    msg->view.nbody = 0;
    msg->spi = 0;
    msg->seq = 0;
    msg->sender_id = 0;
    msg->peer[0] = '\0';
}

void zesp_msg_free(zesp_msg *msg)
{
    if (msg == NULL)
        return;
    msg_reset(msg);
    free(msg->parts);
    free(msg->pre);
    free(msg->view.body);
    free(msg->own);
    free(msg);
}

int msg_push_pre(zesp_msg *msg, const void *data, size_t size)
{
    zesp_frame *pre = grow(msg->pre, &msg->pre_cap, msg->npre, sizeof *pre);

    if (pre == NULL)
        return ENOMEM;
    msg->pre = pre;
    msg->pre[msg->npre].data = data;
    msg->pre[msg->npre].size = size;
    msg->npre++;
    return 0;
}

uint8_t *msg_own_buffer(zesp_msg *msg, size_t size)
{
    uint8_t *bigger;

    if (size <= msg->own_cap)
        return msg->own;
    if ((bigger = realloc(msg->own, size)) == NULL)
        return NULL;
    msg->own = bigger;
    msg->own_cap = size;
    return bigger;
}

int msg_open(zesp_sad *sad, const char *policy, zesp_msg *msg,
             const uint8_t *esp, size_t esp_size, uint8_t *dst,
             bool all_bound, bool dst_ours)
{
    struct in_ctx ctx = { .policy = policy, .peer = msg->peer };
    size_t payload_len;
    uint8_t nh;
    int err;

    err = in_open(sad, esp, esp_size, dst, &ctx, &payload_len, &nh);
    if (err == 0 && nh != ((ctx.ref.slot->flags &
                            (ZESP_SA_SIGNED | ZESP_SA_SOURCE_MAC))
                               ? ZESP_NEXT_HEADER_SIGNED : ZESP_NEXT_HEADER))
        err = ZESP_EMALFORMED;
    if (err == 0)
        err = message_decode(dst + ZESP_HEADERBYTES, payload_len, msg->pre,
                             msg->npre, &msg->view);
    if (err == 0 && all_bound && msg->view.nclear != msg->npre)
        err = ZESP_EBINDING;
    if (err == 0)
        err = in_commit(&ctx, payload_len);
    if (err != 0) {
        in_discard(&ctx, dst);
        count_rejection(sad, &ctx.ref, err, policy);
        msg->view.nclear = 0;
        msg->view.nbody = 0;
        msg->peer[0] = '\0';
        return err;
    }
    if (dst_ours) {
        msg->plain = dst + ZESP_HEADERBYTES;
        msg->plain_len = payload_len;
    }
    /* As in_commit copied them with the slot pinned: the slot may hold
     * another SA by now, whose peer this message is not from. */
    msg->spi = ctx.spi;
    msg->seq = ctx.seq;
    msg->sender_id = ctx.sender_id;
    msg->peer[sizeof msg->peer - 1U] = '\0';     /* shared memory */
    return 0;
}

size_t zesp_msg_envelope_count(const zesp_msg *msg)
{
    return msg->npre - msg->view.nclear;
}

static zesp_frame frame_at(const zesp_frame *frames, size_t n, size_t i)
{
    zesp_frame none = { NULL, 0 };

    return i < n ? frames[i] : none;
}

zesp_frame zesp_msg_envelope(const zesp_msg *msg, size_t i)
{
    return frame_at(msg->pre, zesp_msg_envelope_count(msg), i);
}

size_t zesp_msg_clear_count(const zesp_msg *msg)
{
    return msg->view.nclear;
}

zesp_frame zesp_msg_clear(const zesp_msg *msg, size_t i)
{
    return frame_at(msg->pre + zesp_msg_envelope_count(msg), msg->view.nclear,
                    i);
}

size_t zesp_msg_body_count(const zesp_msg *msg)
{
    return msg->view.nbody;
}

zesp_frame zesp_msg_body(const zesp_msg *msg, size_t i)
{
    return frame_at(msg->view.body, msg->view.nbody, i);
}

uint32_t zesp_msg_spi(const zesp_msg *msg)
{
    return msg->spi;
}

uint64_t zesp_msg_seq(const zesp_msg *msg)
{
    return msg->seq;
}

uint32_t zesp_msg_sender_id(const zesp_msg *msg)
{
    return msg->sender_id;
}

const char *zesp_msg_peer(const zesp_msg *msg)
{
    return msg->peer;
}
