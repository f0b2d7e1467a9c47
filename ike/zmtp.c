/*
 * ZMTP 3 with the NULL mechanism, server side, as zike's peers speak it
 * (zmtp.h).  Every length is checked against a bound before a byte of what
 * it announces is kept: the greeting is 64 bytes, a command at most
 * ZMTP_COMMAND_MAX, a message one frame of at most max_message.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "zmtp.h"

#define FLAG_MORE 0x01U
#define FLAG_LONG 0x02U
#define FLAG_COMMAND 0x04U
#define PING_CONTEXT_MAX 16U

/* Our greeting: ZMTP 3.0, NULL, as-server 0 (NULL has no roles). */
void zmtp_greeting(uint8_t out[ZMTP_GREETING_BYTES])
{
    memset(out, 0, ZMTP_GREETING_BYTES);
    out[0] = 0xff;
    out[9] = 0x7f;
    out[10] = 3;
    memcpy(out + 12, "NULL", 4);
}

void zmtp_init(struct zmtp_conn *c, size_t max_message)
{
    memset(c, 0, sizeof *c);
    c->state = ZMTP_GREETING;
    c->max_message = max_message;
}

void zmtp_init_client(struct zmtp_conn *c, size_t max_message)
{
    zmtp_init(c, max_message);
    c->client = true;
}

void zmtp_free(struct zmtp_conn *c)
{
    free(c->body);
    c->body = NULL;
    c->body_cap = 0;
}

static int fail(struct zmtp_conn *c, const char *why)
{
    c->state = ZMTP_FAILED;
    c->error = why;
    return -1;
}

bool zmtp_partial(const struct zmtp_conn *c)
{
    return c->state == ZMTP_GREETING || c->state == ZMTP_HANDSHAKE ||
           (c->state == ZMTP_MESSAGES && c->head_len > 0);
}

size_t zmtp_frame_header(uint8_t out[ZMTP_FRAME_HEADER_MAX], size_t len)
{
    if (len <= 255) {
        out[0] = 0;
        out[1] = (uint8_t)len;
        return 2;
    }
    out[0] = FLAG_LONG;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    return 9;
}

static int send_command(struct zmtp_conn *c, const struct zmtp_ops *ops,
                        void *arg, const uint8_t *body, size_t len)
{
    uint8_t frame[2 + ZMTP_COMMAND_MAX];

    frame[0] = FLAG_COMMAND;
    frame[1] = (uint8_t)len;         /* ours are all short */
    memcpy(frame + 2, body, len);
    if (ops->send(arg, frame, 2 + len) != 0)
        return fail(c, "the connection would not take our bytes");
    return 0;
}

static int greeting_done(struct zmtp_conn *c, const struct zmtp_ops *ops,
                         void *arg)
{
    static const uint8_t null_mechanism[20] = "NULL";
    static const uint8_t router[] = "\5READY\13Socket-Type\0\0\0\6ROUTER";
    static const uint8_t dealer[] = "\5READY\13Socket-Type\0\0\0\6DEALER";

    if (c->head[10] < 3)
        return fail(c, "ZMTP before version 3");
    if (memcmp(c->head + 12, null_mechanism, sizeof null_mechanism) != 0)
        return fail(c, "a security mechanism other than NULL");
    c->state = ZMTP_HANDSHAKE;
    c->head_len = 0;
    return send_command(c, ops, arg, c->client ? dealer : router,
                        sizeof router - 1);
}

static uint32_t be32_at(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/* READY's metadata: name (1-byte length), value (4-byte length) pairs; the
 * peer must say it is a DEALER, as zike's are (a ROUTER, to a client). */
static int ready(struct zmtp_conn *c, const uint8_t *p, size_t len)
{
    const char *want = c->client ? "ROUTER" : "DEALER";
    bool matches = false, typed = false;

    while (len > 0) {
        size_t nlen = p[0], vlen;
        const uint8_t *name = p + 1, *value;

        if (nlen == 0 || len < 1 + nlen + 4)
            return fail(c, "READY's metadata is cut short");
        vlen = be32_at(p + 1 + nlen);
        value = p + 1 + nlen + 4;
        if (vlen > len - 1 - nlen - 4)
            return fail(c, "READY's metadata is cut short");
        if (nlen == 11 && strncasecmp((const char *)name, "Socket-Type",
                                      11) == 0) {
            if (typed)
                return fail(c, "READY names Socket-Type twice");
            typed = true;
            matches = vlen == 6 && memcmp(value, want, 6) == 0;
        }
        p = value + vlen;
        len -= 1 + nlen + 4 + vlen;
    }
    if (!matches)
        return fail(c, c->client ? "the peer is not a ROUTER"
                                 : "the peer is not a DEALER");
    c->state = ZMTP_MESSAGES;
    return 0;
}

/* PING: a TTL and a context that PONG returns. */
static int ping(struct zmtp_conn *c, const struct zmtp_ops *ops, void *arg,
                const uint8_t *p, size_t len)
{
    uint8_t pong[5 + PING_CONTEXT_MAX] = "\4PONG";

    if (len < 2 || len - 2 > PING_CONTEXT_MAX)
        return fail(c, "a malformed PING");
    memcpy(pong + 5, p + 2, len - 2);
    return send_command(c, ops, arg, pong, 5 + len - 2);
}

static int command(struct zmtp_conn *c, const struct zmtp_ops *ops,
                   void *arg)
{
    const uint8_t *p = c->body;
    size_t len = c->body_size, nlen;

    if (len < 1 || (nlen = p[0]) == 0 || nlen > len - 1)
        return fail(c, "a command without a name");
    p += 1 + nlen;
    len -= 1 + nlen;
#define IS(s) (nlen == sizeof s - 1 && memcmp(c->body + 1, s, nlen) == 0)
    if (c->state == ZMTP_HANDSHAKE)
        return IS("READY") ? ready(c, p, len)
                           : fail(c, "a command other than READY first");
    if (IS("PING"))
        return ping(c, ops, arg, p, len);
    if (IS("ERROR"))
        return fail(c, "the peer sent ERROR");
    if (IS("READY"))
        return fail(c, "READY twice");
#undef IS
    return 0;                        /* others (PONG, ...) mean nothing here */
}

/* A frame's header is complete: check what it announces before keeping
 * any of it. */
static int header_done(struct zmtp_conn *c)
{
    uint8_t flags = c->head[0];
    uint64_t size = 0;
    size_t limit;

    if (flags & ~(FLAG_MORE | FLAG_LONG | FLAG_COMMAND))
        return fail(c, "a frame with reserved flags set");
    if (flags & FLAG_LONG)
        for (int i = 1; i < 9; i++)
            size = size << 8 | c->head[i];
    else
        size = c->head[1];
    c->command = flags & FLAG_COMMAND;
    if (c->command && (flags & FLAG_MORE))
        return fail(c, "a command with MORE set");
    if (!c->command && c->state == ZMTP_HANDSHAKE)
        return fail(c, "a message before READY");
    if (!c->command && (flags & FLAG_MORE))
        return fail(c, "a message of more than one frame "
                       "(one IKE message is one frame)");
    limit = c->command ? ZMTP_COMMAND_MAX : c->max_message;
    if (size > limit)
        return fail(c, c->command ? "a command longer than any zike takes"
                                  : "a frame longer than an IKE message");
    if (size > c->body_cap) {
        uint8_t *grown = realloc(c->body, (size_t)size);

        if (grown == NULL)
            return fail(c, "out of memory");
        c->body = grown;
        c->body_cap = (size_t)size;
    }
    c->body_size = (size_t)size;
    c->body_len = 0;
    return 0;
}

static int frame_done(struct zmtp_conn *c, const struct zmtp_ops *ops,
                      void *arg)
{
    c->head_len = 0;
    if (c->command)
        return command(c, ops, arg);
    if (ops->message(arg, c->body, c->body_size) != 0)
        return fail(c, "the message could not be taken");
    return 0;
}

static size_t header_size(const struct zmtp_conn *c)
{
    return c->head_len == 0 ? 1 : (c->head[0] & FLAG_LONG) ? 9 : 2;
}

int zmtp_feed(struct zmtp_conn *c, const uint8_t *in, size_t len,
              const struct zmtp_ops *ops, void *arg)
{
    while (len > 0) {
        size_t n;

        if (c->state == ZMTP_FAILED)
            return -1;
        if (c->state == ZMTP_GREETING) {
            n = ZMTP_GREETING_BYTES - c->head_len;
            n = n < len ? n : len;
            memcpy(c->head + c->head_len, in, n);
            c->head_len += n;
            in += n, len -= n;
            /* Not ZMTP at all: said at the first byte that shows it. */
            if (c->head[0] != 0xff ||
                (c->head_len >= 10 && !(c->head[9] & 1)))
                return fail(c, "not a ZMTP greeting");
            if (c->head_len == ZMTP_GREETING_BYTES &&
                greeting_done(c, ops, arg) != 0)
                return -1;
        } else if (c->head_len > 0 && c->head_len == header_size(c)) {
            n = c->body_size - c->body_len;
            n = n < len ? n : len;
            memcpy(c->body + c->body_len, in, n);
            c->body_len += n;
            in += n, len -= n;
            if (c->body_len == c->body_size && frame_done(c, ops, arg) != 0)
                return -1;
        } else {
            c->head[c->head_len++] = *in++;
            len--;
            if (c->head_len == header_size(c) &&
                (header_done(c) != 0 ||
                 (c->body_size == 0 && frame_done(c, ops, arg) != 0)))
                return -1;
        }
    }
    return c->state == ZMTP_FAILED ? -1 : 0;
}
