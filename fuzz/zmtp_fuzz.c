/*
 * libFuzzer target: the bytes a peer sends to zike's listen endpoint
 * (ike/zmtp.c), fed in the pieces the network could cut them into.
 * Byte 0: bits 0-2 the number k of piece lengths that follow, bits 3-4
 * max_message (16384, zike's; 0; 255; 256), bits 5-7 which callback fails
 * (0: none; n: the n-th send or message).  Bytes 1..k: the pieces' lengths,
 * taken in turn over and over (0 is 1; k = 0: the stream whole); the rest
 * is the stream.
 *
 * Checked: a message is never longer than max_message, nor delivered
 * before READY, nor from NULL; the first bytes sent are our READY and
 * every later one a PONG of at most 16 bytes of context; body_len <=
 * body_size <= body_cap at every return; feed returns -1 exactly when the
 * connection failed, with a reason, and after that calls nothing; the
 * state never goes back; and the pieces change nothing: the same stream
 * fed whole ends the same way, with the same callbacks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zmtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t our_ready[] = "\4\34\5READY\13Socket-Type\0\0\0\6ROUTER";
static const uint8_t our_client_ready[] =
    "\4\34\5READY\13Socket-Type\0\0\0\6DEALER";

struct run {
    const struct zmtp_conn *conn;
    int calls, fail_call, sends;
    uint64_t hash;                   /* FNV-1a of every callback, in order */
};

static void mix(struct run *r, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        r->hash = (r->hash ^ p[i]) * 0x100000001b3ULL;
}

static int on_send(void *arg, const uint8_t *bytes, size_t len)
{
    struct run *r = arg;
    uint8_t tag = 's';

    if (r->conn->state == ZMTP_FAILED)
        abort();
    if (r->sends++ == 0) {
        if (len != sizeof our_ready - 1 ||
            memcmp(bytes, r->conn->client ? our_client_ready : our_ready,
                   len) != 0)
            abort();
    } else if (len < 7 || len > 7 + 16 ||
               bytes[0] != 4 || bytes[1] != len - 2 ||
               memcmp(bytes + 2, "\4PONG", 5) != 0) {
        abort();
    }
    mix(r, &tag, 1);
    mix(r, bytes, len);
    return ++r->calls == r->fail_call ? -1 : 0;
}

static int on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct run *r = arg;
    uint8_t tag = 'm';

    if (r->conn->state != ZMTP_MESSAGES || msg == NULL ||
        len > r->conn->max_message || r->sends == 0)
        abort();
    mix(r, &tag, 1);
    mix(r, msg, len);
    return ++r->calls == r->fail_call ? -1 : 0;
}

static const struct zmtp_ops ops = { on_send, on_message };

static void check(const struct zmtp_conn *c, int rc, enum zmtp_state before)
{
    if ((rc == -1) != (c->state == ZMTP_FAILED) ||
        (c->state == ZMTP_FAILED) != (c->error != NULL) ||
        c->state < before ||
        c->body_len > c->body_size || c->body_size > c->body_cap ||
        (c->body_cap > 0 && c->body == NULL) ||
        c->head_len > ZMTP_GREETING_BYTES ||
        ((c->state == ZMTP_HANDSHAKE || c->state == ZMTP_MESSAGES) &&
         c->head_len > ZMTP_FRAME_HEADER_MAX) ||
        (c->state == ZMTP_GREETING && c->head_len == ZMTP_GREETING_BYTES) ||
        (!zmtp_partial(c) &&
         !(c->state == ZMTP_FAILED ||
           (c->state == ZMTP_MESSAGES && c->head_len == 0))))
        abort();
}

/* Feed the stream in the pieces given (NULL: whole); the run's record. */
static void feed(const uint8_t *in, size_t len, const uint8_t *pieces,
                 size_t npieces, size_t max_message, int fail_call,
                 struct zmtp_conn *c, struct run *r)
{
    size_t off = 0, p = 0;

    /* Odd failing callbacks read as the client side too (zike's links):
     * the corpus keeps its meaning for the server side. */
    if (fail_call >= 4)
        zmtp_init_client(c, max_message);
    else
        zmtp_init(c, max_message);
    memset(r, 0, sizeof *r);
    r->conn = c;
    r->fail_call = fail_call;
    r->hash = 0xcbf29ce484222325ULL;
    while (off < len) {
        size_t n = len - off;
        enum zmtp_state before = c->state;
        int calls = r->calls, sends = r->sends, rc;
        uint8_t *piece;

        if (npieces > 0) {
            size_t want = pieces[p++ % npieces];

            want = want > 0 ? want : 1;
            n = want < n ? want : n;
        }
        /* A buffer of exactly the piece: a read past it is caught. */
        if ((piece = malloc(n)) == NULL)
            abort();
        memcpy(piece, in + off, n);
        rc = zmtp_feed(c, piece, n, &ops, r);
        free(piece);
        if (before == ZMTP_FAILED && (rc != -1 || r->calls != calls ||
                                      r->sends != sends))
            abort();
        check(c, rc, before);
        off += n;
    }
    if (zmtp_feed(c, NULL, 0, &ops, r) != (c->state == ZMTP_FAILED ? -1 : 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_messages[] = { 16384, 0, 255, 256 };
    struct zmtp_conn split, whole;
    struct run rs, rw;
    size_t k, max_message;
    int fail_call;

    if (size < 1)
        return 0;
    k = data[0] & 7U;
    max_message = max_messages[(data[0] >> 3) & 3U];
    fail_call = data[0] >> 5;
    if (size < 1 + k)
        return 0;
    feed(data + 1 + k, size - 1 - k, data + 1, k, max_message, fail_call,
         &split, &rs);
    feed(data + 1 + k, size - 1 - k, NULL, 0, max_message, fail_call,
         &whole, &rw);
    if (split.state != whole.state || split.error != whole.error ||
        rs.hash != rw.hash || rs.calls != rw.calls ||
        zmtp_partial(&split) != zmtp_partial(&whole))
        abort();
    zmtp_free(&split);
    zmtp_free(&whole);
    return 0;
}
