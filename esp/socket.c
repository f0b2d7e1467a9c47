/* zesp_send and zesp_recv: one protected message over a ZeroMQ socket. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zmq.h>

#include "datapath.h"
#include "grow.h"
#include "message.h"
#include "msg.h"
#include "sendbuf.h"
#include "spd.h"

/* More frames than this in one message is treated as malformed. */
#define RECV_MAX_FRAMES 1024U

static int fail(int err)
{
    errno = err;
    return -1;
}

/*
 * ZeroMQ cannot take back the frames of a message once its first went: a
 * send that stopped after it would leave the socket mid-message, and the
 * next message would be glued to this one's first frames (behind a
 * ROUTER, delivered to this one's peer).  So a message begun is sent to
 * its end.  libzmq checks for signals before each frame and returns EINTR
 * there, the frame not taken; within a message it never waits for room
 * (its high-water mark counts whole messages), so such a frame is sent
 * again.  A later frame refused with EAGAIN (ZMQ_DONTWAIT: the pipe went
 * away mid-message) means libzmq dropped the message and drops the frames
 * it is given up to a last one: the rest goes to it, so that the next
 * message is not what it drops, and the message is EAGAIN.  Other errors
 * there (ETERM) leave a socket that is only closed.
 */
struct sending {
    bool begun;                 /* a frame was taken */
    bool dropped;               /* libzmq dropped the message begun */
};

/* After a frame's send returned rc: 0 to go on with the next frame. */
static int sent(int rc, struct sending *s)
{
    if (rc >= 0)
        s->begun = true;
    else if (s->begun && errno == EAGAIN)
        s->dropped = true;
    else
        return -1;
    return 0;
}

static int send_frames(void *socket, const zesp_frame *f, size_t n, int flags,
                       struct sending *s)
{
    for (size_t i = 0; i < n; i++) {
        int rc;

        while ((rc = zmq_send(socket, f[i].data, f[i].size,
                              flags | ZMQ_SNDMORE)) < 0 &&
               s->begun && errno == EINTR)
            ;
        if (sent(rc, s) != 0)
            return -1;
    }
    return 0;
}

static int send_last(void *socket, zmq_msg_t *frame, int flags,
                     struct sending *s)
{
    int rc;

    while ((rc = zmq_msg_send(frame, socket, flags)) < 0 && s->begun &&
           errno == EINTR)
        ;
    if (rc < 0) {
        int e = errno;
        zmq_msg_close(frame);   /* not taken */
        errno = e;
    }
    if (sent(rc, s) != 0)
        return -1;
    return s->dropped ? fail(EAGAIN) : 0;
}

int zesp_send(zesp_sad *sad, uint32_t spi, void *socket,
              const zesp_parts *parts, int flags)
{
    int zflags = (flags & ZESP_DONTWAIT) ? ZMQ_DONTWAIT : 0;
    struct payload_part uncopied[ESP_PARTS_MAX];
    struct out_ctx ctx;
    size_t payload_len, n;
    zmq_msg_t esp;
    struct sending sending = { false, false };
    uint8_t *pkt;
    int err;

    if (sad == NULL || socket == NULL || parts == NULL ||
        (parts->nenvelope && parts->envelope == NULL))
        return fail(EINVAL);
    if ((err = message_payload_len(parts, &payload_len)) != 0)
        return fail(err);
    if ((err = out_begin(sad, spi, payload_len, true, &ctx)) != 0)
        return fail(err);
    /* Encrypt once, into the buffer ZeroMQ will send: large body frames
     * straight from the caller's memory when the AEAD call can read them
     * there, the rest copied in first and encrypted in place. */
    if (sendbuf_msg_init(&esp, ctx.frame_len) != 0)
        return -1;
    pkt = zmq_msg_data(&esp);
    n = message_encode(pkt + ZESP_HEADERBYTES, parts, uncopied,
                       out_reads_parts(&ctx) ? ESP_PARTS_MAX : 0);
    if ((err = out_seal_message(&ctx, pkt, uncopied, n)) != 0) {
        sendbuf_msg_discard(&esp);
        return fail(err);
    }
    /* ZeroMQ sends a multipart message whole or not at all. */
    if (send_frames(socket, parts->envelope, parts->nenvelope, zflags,
                    &sending) != 0 ||
        send_frames(socket, parts->clear, parts->nclear, zflags,
                    &sending) != 0) {
        int e = errno;
        zmq_msg_close(&esp);
        return fail(e);
    }
    return send_last(socket, &esp, zflags, &sending);
}

struct send_args {
    void *socket;
    const zesp_parts *parts;
    int flags;
};

static int send_on(zesp_sad *sad, uint32_t spi, void *arg)
{
    struct send_args *a = arg;

    return zesp_send(sad, spi, a->socket, a->parts, a->flags);
}

int zesp_send_policy(zesp_sad *sad, const char *policy, void *socket,
                     const zesp_parts *parts, int flags)
{
    struct send_args a = { socket, parts, flags };

    return spd_on_out_sa(sad, policy, flags, send_on, &a);
}

static zmq_msg_t *next_part(zesp_msg *msg)
{
    zmq_msg_t *parts = grow(msg->parts, &msg->parts_cap, msg->nparts,
                            sizeof *parts);

    if (parts == NULL)
        return NULL;
    msg->parts = parts;
    zmq_msg_init(&msg->parts[msg->nparts]);
    return &msg->parts[msg->nparts++];
}

/* The rest of a message is queued with its first frame: a signal between
 * frames (EINTR, the frame not taken) is no reason to leave it for the
 * next receive, which would start mid-message. */
static int recv_frame(void *socket, zmq_msg_t *part, int flags, bool begun)
{
    int rc;

    while ((rc = zmq_msg_recv(part, socket, flags)) < 0 && begun &&
           errno == EINTR)
        ;
    return rc;
}

/* Read the rest of a message that cannot be kept, so the socket stays in
 * step with message boundaries. */
static void drain(void *socket)
{
    int more = 1;
    size_t len = sizeof more;
    zmq_msg_t part;

    zmq_msg_init(&part);
    while (zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len) == 0 && more &&
           recv_frame(socket, &part, 0, true) >= 0)
        len = sizeof more;
    zmq_msg_close(&part);
}

static int recv_parts(void *socket, zesp_msg *msg, int zflags)
{
    for (;;) {
        zmq_msg_t *part;

        if (msg->nparts == RECV_MAX_FRAMES) {
            drain(socket);
            return ZESP_EMALFORMED;
        }
        if ((part = next_part(msg)) == NULL) {
            drain(socket);
            return ENOMEM;
        }
        if (recv_frame(socket, part, msg->nparts == 1 ? zflags : 0,
                       msg->nparts > 1) < 0) {
            int e = errno;
            zmq_msg_close(part);
            msg->nparts--;
            return e;
        }
        if (!zmq_msg_more(part))
            return 0;
    }
}

/* A SUB socket hands over a message because its first frame matched a
 * subscription, and no PUB adds envelope frames: a frame in front of the
 * clear frames the sender bound was put there on the way, to have the
 * message delivered under a topic its sender did not write. */
static int filters_on_first_frame(void *socket, bool *yes)
{
    int type;
    size_t len = sizeof type;

    if (zmq_getsockopt(socket, ZMQ_TYPE, &type, &len) != 0)
        return -1;
    *yes = type == ZMQ_SUB || type == ZMQ_XSUB;
    return 0;
}

/* May the frame be decrypted where it is?  Only a buffer that is this
 * msg's alone: one ZeroMQ read from a connection (tcp, ipc: its source
 * descriptor is known) and shares with no other message.  A shared one (a
 * PUB's fan-out within a process, a copied message) is read by others;
 * and over inproc ZeroMQ hands over the sender's own buffer
 * (zmq_msg_init_data, pyzmq's copy=False), not flagged shared: decrypted
 * there, the sender would hold the plaintext in what it sent, and send it
 * again as such, or a second receiver of it would find it garbled.  Any
 * other is decrypted into memory of this msg alone.  (ZMQ_SRCFD is a
 * deprecated option; a libzmq without it answers -1: decrypted apart.) */
static bool decrypt_in_place(zmq_msg_t *frame)
{
    return zmq_msg_get(frame, ZMQ_SHARED) == 0 &&
           zmq_msg_get(frame, ZMQ_SRCFD) >= 0;
}

int zesp_recv_policy(zesp_sad *sad, const char *policy, void *socket,
                     zesp_msg *msg, int flags)
{
    int zflags = (flags & ZESP_DONTWAIT) ? ZMQ_DONTWAIT : 0;
    zmq_msg_t *esp;
    uint8_t *data, *dst;
    size_t size;
    bool all_bound = false;
    int err;

    if (sad == NULL || socket == NULL || msg == NULL)
        return fail(EINVAL);
    msg_reset(msg);
    if ((err = recv_parts(socket, msg, zflags)) != 0) {
        if (err == ZESP_EMALFORMED)
            count_rejection(sad, NULL, err, policy);
        msg_reset(msg);
        return fail(err);
    }
    /* A lone ESP frame has nothing in front of it (and binds no clear
     * frame it does not have, message_decode): the socket's type matters
     * only with frames before it. */
    if (msg->nparts > 1U && filters_on_first_frame(socket, &all_bound) != 0) {
        err = errno;
        msg_reset(msg);
        return fail(err);
    }
    for (size_t i = 0; i + 1U < msg->nparts; i++)
        if ((err = msg_push_pre(msg, zmq_msg_data(&msg->parts[i]),
                                zmq_msg_size(&msg->parts[i]))) != 0)
            return fail(err);
    esp = &msg->parts[msg->nparts - 1U];
    data = zmq_msg_data(esp);
    size = zmq_msg_size(esp);
    dst = data;
    if (!decrypt_in_place(esp) && (dst = msg_own_buffer(msg, size)) == NULL) {
        msg_reset(msg);
        return fail(ENOMEM);
    }
    if ((err = msg_open(sad, policy, msg, data, size, dst, all_bound,
                        true)) != 0)
        return fail(err);
    return 0;
}

int zesp_recv(zesp_sad *sad, void *socket, zesp_msg *msg, int flags)
{
    return zesp_recv_policy(sad, NULL, socket, msg, flags);
}
