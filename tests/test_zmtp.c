/*
 * zike's ZMTP 3 server side (ike/zmtp.c) against a table of byte streams,
 * each fed whole, byte by byte and in random splits: the outcome must be
 * the same each way (state, messages delivered, bytes sent back, the error
 * text).  Then what zmtp_partial says at each point, the frame headers we
 * write, our greeting byte for byte against RFC 23, and a real libzmq
 * DEALER over TCP talking to a ZMQ_STREAM socket read by zmtp_feed.
 * ZMTP_TEST_SEED=N repeats a run's random splits.
 */
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "test.h"
#include "zesp.h"
#include "zmtp.h"

/* libzmq 4.3's greeting: signature (padding: its routing id's size + 1),
 * version 3.1, NULL, as-server 0, filler. */
#define Z20 "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
#define Z16 "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
#define FILLER Z20 "\0\0\0\0\0\0\0\0\0\0\0"          /* 31 bytes */
#define SIG "\xff\0\0\0\0\0\0\0\x01\x7f"
#define GREETING SIG "\x03\x01" "NULL" Z16 "\0" FILLER
/* Socket-Type DEALER and an empty Identity, as libzmq's DEALER says it. */
#define READY_DEALER "\x04\x29\x05" "READY\x0b" "Socket-Type\0\0\0\x06" \
    "DEALER\x08" "Identity\0\0\0\0"
#define HELLO GREETING READY_DEALER
/* What zike answers the greeting with. */
#define OUR_READY "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "ROUTER"

/* A ROUTER's READY (libzmq's, or zike's listen), and what zike's link
 * says as a DEALER. */
#define READY_ROUTER "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "ROUTER"
#define OUR_DEALER_READY "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "DEALER"

#define MAX 64U                       /* max_message of most cases */

#define BYTES(s) (const uint8_t *)(s), sizeof(s) - 1
#define NONE NULL, 0

struct zcase {
    const char *name;
    const uint8_t *in;
    size_t in_len;
    size_t max_message;
    enum zmtp_state state;
    const char *error;                /* NULL: none */
    const uint8_t *sent;              /* every byte sent back */
    size_t sent_len;
    const uint8_t *msgs;              /* each message: 4-byte length, body */
    size_t msgs_len;
    int fail_call;                    /* this callback (1, 2, ...) fails */
};

#define OK(name, in, sent, msgs) \
    { name, BYTES(in), MAX, ZMTP_MESSAGES, NULL, sent, msgs, 0 }
#define HANDSHAKE(name, in) \
    { name, BYTES(in), MAX, ZMTP_HANDSHAKE, NULL, BYTES(OUR_READY), NONE, 0 }
#define FAILS(name, in, sent, msgs, why) \
    { name, BYTES(in), MAX, ZMTP_FAILED, why, sent, msgs, 0 }

/* The client side: zike's link to a peer's endpoint. */
#define CLIENT_OK(name, in, msgs) \
    { name, BYTES(in), MAX, ZMTP_MESSAGES, NULL, BYTES(OUR_DEALER_READY), \
      msgs, 0 }
#define CLIENT_FAILS(name, in, why) \
    { name, BYTES(in), MAX, ZMTP_FAILED, why, BYTES(OUR_DEALER_READY), \
      NONE, 0 }
static const struct zcase client_cases[] = {
    CLIENT_OK("a ROUTER's greeting, READY, a message",
              GREETING READY_ROUTER "\0\x03" "abc",
              BYTES("\0\0\0\x03" "abc")),
    { "a PING answered", BYTES(GREETING READY_ROUTER "\x04\x07\x04PING\0\0"),
      MAX, ZMTP_MESSAGES, NULL,
      BYTES(OUR_DEALER_READY "\x04\x05\x04PONG"), NONE, 0 },
    CLIENT_FAILS("a DEALER's READY", GREETING READY_DEALER,
                 "the peer is not a ROUTER"),
    CLIENT_FAILS("a message of two frames", GREETING READY_ROUTER
                 "\x01\x01x\0\x01y",
                 "a message of more than one frame (one IKE message is one frame)"),
    CLIENT_FAILS("a frame longer than max_message", GREETING READY_ROUTER
                 "\x02\0\0\0\0\0\0\0\x41",
                 "a frame longer than an IKE message"),
};

static const struct zcase cases[] = {
    /* The greeting. */
    OK("libzmq's greeting, READY, a message", HELLO "\0\x03" "abc",
       BYTES(OUR_READY), BYTES("\0\0\0\x03" "abc")),
    HANDSHAKE("greeting only", GREETING),
    { "half a greeting", BYTES(SIG "\x03"), MAX, ZMTP_GREETING, NULL, NONE,
      NONE, 0 },
    FAILS("first byte not 0xff", "\x7e" "\0\0\0\0\0\0\0\x01\x7f", NONE, NONE,
          "not a ZMTP greeting"),
    FAILS("first byte not 0xff, alone", "\0", NONE, NONE,
          "not a ZMTP greeting"),
    FAILS("byte 9 without bit 0", "\xff\0\0\0\0\0\0\0\x01\x7e", NONE, NONE,
          "not a ZMTP greeting"),
    FAILS("version 2", SIG "\x02\x00" "NULL" Z16 "\0" FILLER, NONE, NONE,
          "ZMTP before version 3"),
    OK("version 3.0", SIG "\x03\x00" "NULL" Z16 "\0" FILLER READY_DEALER,
       BYTES(OUR_READY), NONE),
    FAILS("CURVE", SIG "\x03\x01" "CURVE" Z16 FILLER, NONE, NONE,
          "a security mechanism other than NULL"),
    FAILS("NULL with a byte after it", SIG "\x03\x01" "NULLX" Z16
          FILLER, NONE, NONE, "a security mechanism other than NULL"),
    /* READY and its metadata. */
    OK("Socket-Type DEALER alone",
       GREETING "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "DEALER",
       BYTES(OUR_READY), NONE),
    OK("socket-type in lower case",
       GREETING "\x04\x1c\x05" "READY\x0b" "socket-type\0\0\0\x06" "DEALER",
       BYTES(OUR_READY), NONE),
    FAILS("value dealer in lower case",
          GREETING "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "dealer",
          BYTES(OUR_READY), NONE, "the peer is not a DEALER"),
    FAILS("Socket-Type ROUTER",
          GREETING "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "ROUTER",
          BYTES(OUR_READY), NONE, "the peer is not a DEALER"),
    FAILS("Socket-Type missing",
          GREETING "\x04\x13\x05" "READY\x08" "Identity\0\0\0\0",
          BYTES(OUR_READY), NONE, "the peer is not a DEALER"),
    FAILS("READY without metadata", GREETING "\x04\x06\x05" "READY",
          BYTES(OUR_READY), NONE, "the peer is not a DEALER"),
    FAILS("Socket-Type twice",
          GREETING "\x04\x32\x05" "READY\x0b" "Socket-Type\0\0\0\x06" "DEALER"
          "\x0b" "Socket-Type\0\0\0\x06" "DEALER",
          BYTES(OUR_READY), NONE, "READY names Socket-Type twice"),
    FAILS("name length past the end",
          GREETING "\x04\x0b\x05" "READY\x0b" "Sock",
          BYTES(OUR_READY), NONE, "READY's metadata is cut short"),
    FAILS("value length past the end",
          GREETING "\x04\x1c\x05" "READY\x0b" "Socket-Type\0\0\0\x07" "DEALER",
          BYTES(OUR_READY), NONE, "READY's metadata is cut short"),
    FAILS("value length 2^32-1",
          GREETING "\x04\x1c\x05" "READY\x0b" "Socket-Type\xff\xff\xff\xff"
          "DEALER", BYTES(OUR_READY), NONE, "READY's metadata is cut short"),
    FAILS("value length cut", GREETING "\x04\x13\x05" "READY\x0b"
          "Socket-Type\0", BYTES(OUR_READY), NONE,
          "READY's metadata is cut short"),
    FAILS("name length 0", GREETING "\x04\x0b\x05" "READY\0\0\0\0\0",
          BYTES(OUR_READY), NONE, "READY's metadata is cut short"),
    FAILS("PING before READY", GREETING "\x04\x07\x04" "PING\0\0",
          BYTES(OUR_READY), NONE, "a command other than READY first"),
    FAILS("a data frame before READY", GREETING "\0\x01" "x",
          BYTES(OUR_READY), NONE, "a message before READY"),
    /* Data frames. */
    OK("a short frame", HELLO "\0\x05" "hello", BYTES(OUR_READY),
       BYTES("\0\0\0\x05" "hello")),
    OK("a long frame with a small size",
       HELLO "\x02\0\0\0\0\0\0\0\x05" "hello", BYTES(OUR_READY),
       BYTES("\0\0\0\x05" "hello")),
    OK("a frame of exactly max_message", HELLO "\x02\0\0\0\0\0\0\0\x40"
       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
       BYTES(OUR_READY), BYTES("\0\0\0\x40"
       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")),
    FAILS("a frame of max_message + 1", HELLO "\0\x41", BYTES(OUR_READY), NONE,
          "a frame longer than an IKE message"),
    FAILS("a long frame of 2^63", HELLO "\x02\x80\0\0\0\0\0\0\0",
          BYTES(OUR_READY), NONE, "a frame longer than an IKE message"),
    FAILS("a long frame of 2^64-1",
          HELLO "\x02\xff\xff\xff\xff\xff\xff\xff\xff",
          BYTES(OUR_READY), NONE, "a frame longer than an IKE message"),
    FAILS("a long frame of 2^32 + 1", HELLO "\x02\0\0\0\x01\0\0\0\x01" "x",
          BYTES(OUR_READY), NONE, "a frame longer than an IKE message"),
    FAILS("MORE on a data frame", HELLO "\x01\x01" "a\0\x01" "b",
          BYTES(OUR_READY), NONE,
          "a message of more than one frame (one IKE message is one frame)"),
    FAILS("MORE on a command", HELLO "\x05\x07\x04" "PING\0\0",
          BYTES(OUR_READY), NONE, "a command with MORE set"),
    FAILS("reserved flag 0x08", HELLO "\x08\x01" "x", BYTES(OUR_READY), NONE,
          "a frame with reserved flags set"),
    FAILS("reserved flag 0x80", HELLO "\x80\x01" "x", BYTES(OUR_READY), NONE,
          "a frame with reserved flags set"),
    FAILS("reserved flags in the handshake", GREETING "\x10\x01" "x",
          BYTES(OUR_READY), NONE, "a frame with reserved flags set"),
    OK("a zero-length frame is an empty message", HELLO "\0\0",
       BYTES(OUR_READY), BYTES("\0\0\0\0")),
    OK("several frames in one chunk", HELLO "\0\x01" "a\0\0\x02\0\0\0\0\0\0\0"
       "\x02" "bc\0\x03" "def", BYTES(OUR_READY),
       BYTES("\0\0\0\x01" "a\0\0\0\0\0\0\0\x02" "bc\0\0\0\x03" "def")),
    /* Commands. */
    OK("PING without context", HELLO "\x04\x07\x04" "PING\0\x0a",
       BYTES(OUR_READY "\x04\x05\x04" "PONG"), NONE),
    OK("PING with 16 bytes of context",
       HELLO "\x04\x17\x04" "PING\0\x0a" "0123456789abcdef",
       BYTES(OUR_READY "\x04\x15\x04" "PONG0123456789abcdef"), NONE),
    FAILS("PING with 17 bytes of context",
          HELLO "\x04\x18\x04" "PING\0\x0a" "0123456789abcdefg",
          BYTES(OUR_READY), NONE, "a malformed PING"),
    FAILS("PING without its TTL", HELLO "\x04\x05\x04" "PING",
          BYTES(OUR_READY), NONE, "a malformed PING"),
    FAILS("PING with half a TTL", HELLO "\x04\x06\x04" "PING\0",
          BYTES(OUR_READY), NONE, "a malformed PING"),
    OK("PONG ignored", HELLO "\x04\x05\x04" "PONG\0\x01" "z",
       BYTES(OUR_READY), BYTES("\0\0\0\x01" "z")),
    FAILS("ERROR", HELLO "\x04\x0b\x05" "ERROR\x04" "oops", BYTES(OUR_READY),
          NONE, "the peer sent ERROR"),
    FAILS("READY twice", HELLO READY_DEALER, BYTES(OUR_READY), NONE,
          "READY twice"),
    OK("an unknown command ignored", HELLO "\x04\x0a\x09" "SUBSCRIBE\0\x01"
       "q", BYTES(OUR_READY), BYTES("\0\0\0\x01" "q")),
    FAILS("an empty command", HELLO "\x04\0", BYTES(OUR_READY), NONE,
          "a command without a name"),
    FAILS("an empty command in the handshake", GREETING "\x04\0",
          BYTES(OUR_READY), NONE, "a command without a name"),
    FAILS("a command name longer than the command", HELLO "\x04\x03\x05" "PI",
          BYTES(OUR_READY), NONE, "a command without a name"),
    FAILS("a command name of length 0", HELLO "\x04\x02\0" "x",
          BYTES(OUR_READY), NONE, "a command without a name"),
    FAILS("a command longer than ZMTP_COMMAND_MAX",
          HELLO "\x06\0\0\0\0\0\0\x02\x01", BYTES(OUR_READY), NONE,
          "a command longer than any zike takes"),
    /* Callbacks that fail: the first send (our READY), the first message,
     * the send of a PONG. */
    { "our READY not taken", BYTES(HELLO), MAX, ZMTP_FAILED,
      "the connection would not take our bytes", NONE, NONE, 1 },
    { "a message not taken", BYTES(HELLO "\0\x01" "a\0\x01" "b"), MAX,
      ZMTP_FAILED, "the message could not be taken", BYTES(OUR_READY),
      NONE, 2 },
    { "a PONG not taken", BYTES(HELLO "\0\x01" "a\x04\x07\x04" "PING\0\0"
      "\0\x01" "b"), MAX, ZMTP_FAILED,
      "the connection would not take our bytes", BYTES(OUR_READY),
      BYTES("\0\0\0\x01" "a"), 3 },
    { "max_message 0: an empty frame", BYTES(HELLO "\0\0"), 0, ZMTP_MESSAGES,
      NULL, BYTES(OUR_READY), BYTES("\0\0\0\0"), 0 },
    { "max_message 0: one byte", BYTES(HELLO "\0\x01" "x"), 0, ZMTP_FAILED,
      "a frame longer than an IKE message", BYTES(OUR_READY), NONE, 0 },
};

/* What a connection handed back. */
struct outcome {
    uint8_t sent[4096];
    size_t sent_len;
    uint8_t *msgs;
    size_t msgs_len, msgs_cap;
    int calls, fail_call;
    bool overflow;
    const struct zmtp_conn *conn;
};

static int on_send(void *arg, const uint8_t *bytes, size_t len)
{
    struct outcome *o = arg;

    if (++o->calls == o->fail_call)
        return -1;
    if (len > sizeof o->sent - o->sent_len) {
        o->overflow = true;
        return -1;
    }
    memcpy(o->sent + o->sent_len, bytes, len);
    o->sent_len += len;
    return 0;
}

static int on_message(void *arg, const uint8_t *msg, size_t len)
{
    struct outcome *o = arg;

    if (++o->calls == o->fail_call)
        return -1;
    /* Messages come only once READY was taken, and never from NULL. */
    if (o->conn->state != ZMTP_MESSAGES || msg == NULL ||
        len > o->conn->max_message) {
        o->overflow = true;
        return -1;
    }
    if (o->msgs_cap - o->msgs_len < 4 + len) {
        size_t cap = o->msgs_len + 4 + len + 1024;
        uint8_t *grown = realloc(o->msgs, cap);

        if (grown == NULL) {
            o->overflow = true;
            return -1;
        }
        o->msgs = grown;
        o->msgs_cap = cap;
    }
    for (int i = 0; i < 4; i++)
        o->msgs[o->msgs_len++] = (uint8_t)(len >> (24 - 8 * i));
    memcpy(o->msgs + o->msgs_len, msg, len);
    o->msgs_len += len;
    return 0;
}

static const struct zmtp_ops ops = { on_send, on_message };

static uint32_t rng_state;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

enum split { WHOLE, BYTE_BY_BYTE, RANDOM };

/* Feed c's input split as asked; -1 if a feed's result disagreed with the
 * connection's state, or a feed after the failure was not refused. */
static int feed_split(struct zmtp_conn *conn, const uint8_t *in, size_t len,
                      enum split how, struct outcome *o)
{
    size_t off = 0;

    while (off < len) {
        size_t n = how == WHOLE ? len - off
                   : how == BYTE_BY_BYTE ? 1
                   : 1 + rng() % (len - off < 80 ? len - off : 80);
        int rc = zmtp_feed(conn, in + off, n, &ops, o);

        if ((rc == -1) != (conn->state == ZMTP_FAILED) ||
            conn->body_len > conn->body_size ||
            conn->body_size > conn->body_cap ||
            conn->head_len > ZMTP_GREETING_BYTES ||
            ((conn->state == ZMTP_HANDSHAKE ||
              conn->state == ZMTP_MESSAGES) &&
             conn->head_len > ZMTP_FRAME_HEADER_MAX))
            return -1;
        off += n;
    }
    /* Once failed, it stays so and calls nothing. */
    if (conn->state == ZMTP_FAILED) {
        int calls = o->calls;

        if (zmtp_feed(conn, (const uint8_t *)"\0\0", 2, &ops, o) != -1 ||
            o->calls != calls || conn->state != ZMTP_FAILED)
            return -1;
    }
    return 0;
}

/* client: zmtp_init_client, as zike's link to a peer's endpoint. */
static bool run_case(const struct zcase *k, enum split how, bool client)
{
    static const char *const how_name[] = { "whole", "byte by byte",
                                            "random splits" };
    struct zmtp_conn conn;
    struct outcome o = { .fail_call = k->fail_call, .conn = &conn };
    bool ok;

    if (client)
        zmtp_init_client(&conn, k->max_message);
    else
        zmtp_init(&conn, k->max_message);
    ok = feed_split(&conn, k->in, k->in_len, how, &o) == 0 && !o.overflow &&
         conn.state == k->state &&
         (k->error == NULL ? conn.error == NULL
                           : conn.error != NULL &&
                             strcmp(conn.error, k->error) == 0) &&
         o.sent_len == k->sent_len &&
         (k->sent_len == 0 || memcmp(o.sent, k->sent, k->sent_len) == 0) &&
         o.msgs_len == k->msgs_len &&
         (k->msgs_len == 0 || memcmp(o.msgs, k->msgs, k->msgs_len) == 0);
    if (!ok)
        fprintf(stderr, "  case '%s' fed %s: state %d (want %d), "
                "error '%s', %zu bytes sent (want %zu), %zu of messages "
                "(want %zu)\n", k->name, how_name[how], conn.state,
                k->state, conn.error ? conn.error : "", o.sent_len,
                k->sent_len, o.msgs_len, k->msgs_len);
    zmtp_free(&conn);
    free(o.msgs);
    return ok;
}

static void table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(run_case(&cases[i], WHOLE, false));
        CHECK(run_case(&cases[i], BYTE_BY_BYTE, false));
        for (int r = 0; r < 20; r++)
            CHECK(run_case(&cases[i], RANDOM, false));
    }
    for (size_t i = 0; i < sizeof client_cases / sizeof client_cases[0]; i++) {
        CHECK(run_case(&client_cases[i], WHOLE, true));
        CHECK(run_case(&client_cases[i], BYTE_BY_BYTE, true));
        for (int r = 0; r < 20; r++)
            CHECK(run_case(&client_cases[i], RANDOM, true));
    }
}

/* Frames too big for the table: a long frame of 300 and of 16384 bytes,
 * max_message 16384, then one byte more than that. */
static void big_frames(void)
{
    size_t sizes[] = { 255, 256, 300, 16384, 16385 };

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t body = sizes[s], hlen = sizeof HELLO - 1;
        uint8_t header[ZMTP_FRAME_HEADER_MAX];
        size_t h = zmtp_frame_header(header, body);
        size_t len = hlen + h + body;
        uint8_t *in = malloc(len), *want = malloc(4 + body);
        struct zcase k = { "a big frame", in, len, 16384, ZMTP_MESSAGES, NULL,
                           BYTES(OUR_READY), want, 4 + body, 0 };

        CHECK(in != NULL && want != NULL);
        if (in == NULL || want == NULL) {
            free(in);
            free(want);
            return;
        }
        memcpy(in, HELLO, hlen);
        memcpy(in + hlen, header, h);
        for (size_t i = 0; i < body; i++)
            in[hlen + h + i] = want[4 + i] = (uint8_t)(i * 7);
        for (int i = 0; i < 4; i++)
            want[i] = (uint8_t)(body >> (24 - 8 * i));
        if (body > 16384) {
            k.state = ZMTP_FAILED;
            k.error = "a frame longer than an IKE message";
            k.msgs_len = 0;
        }
        CHECK(run_case(&k, WHOLE, false));
        CHECK(run_case(&k, BYTE_BY_BYTE, false));
        for (int r = 0; r < 5; r++)
            CHECK(run_case(&k, RANDOM, false));
        free(in);
        free(want);
    }
}

static int feed_str(struct zmtp_conn *c, const char *s, size_t len,
                    struct outcome *o)
{
    return zmtp_feed(c, (const uint8_t *)s, len, &ops, o);
}

#define FEED(c, s, o) feed_str(c, s, sizeof(s) - 1, o)

/* A peer that stops mid-greeting, mid-handshake or mid-frame holds a slot;
 * one between messages does not. */
static void partial(void)
{
    struct zmtp_conn c;
    struct outcome o = { .conn = &c };

    zmtp_init(&c, MAX);
    CHECK(zmtp_partial(&c));                   /* nothing yet */
    CHECK(FEED(&c, SIG "\x03\x01", &o) == 0);
    CHECK(zmtp_partial(&c) && c.state == ZMTP_GREETING);
    CHECK(FEED(&c, "NULL" Z16 "\0" FILLER, &o) == 0);
    CHECK(zmtp_partial(&c) && c.state == ZMTP_HANDSHAKE);
    CHECK(FEED(&c, "\x04\x29\x05" "READY", &o) == 0);
    CHECK(zmtp_partial(&c) && c.state == ZMTP_HANDSHAKE);
    CHECK(FEED(&c, "\x0b" "Socket-Type\0\0\0\x06" "DEALER\x08" "Identity\0\0\0\0",
               &o) == 0);
    CHECK(!zmtp_partial(&c) && c.state == ZMTP_MESSAGES);
    CHECK(FEED(&c, "\0", &o) == 0);            /* a frame's flags */
    CHECK(zmtp_partial(&c));
    CHECK(FEED(&c, "\x03" "a", &o) == 0);      /* its size, part of it */
    CHECK(zmtp_partial(&c));
    CHECK(FEED(&c, "bc", &o) == 0);
    CHECK(!zmtp_partial(&c) && o.msgs_len == 7);
    CHECK(FEED(&c, "\x02\0\0\0", &o) == 0);    /* half a long header */
    CHECK(zmtp_partial(&c));
    CHECK(FEED(&c, "\0\0\0\0\0", &o) == 0);    /* an empty message */
    CHECK(!zmtp_partial(&c) && o.msgs_len == 11);
    CHECK(FEED(&c, "\x04\x07\x04" "PI", &o) == 0);
    CHECK(zmtp_partial(&c));
    CHECK(FEED(&c, "NG\0\0", &o) == 0);
    CHECK(!zmtp_partial(&c) && o.sent_len == sizeof OUR_READY - 1 + 7);
    CHECK(zmtp_feed(&c, NULL, 0, &ops, &o) == 0);
    CHECK(!zmtp_partial(&c));
    CHECK(FEED(&c, "\x08", &o) == 0);          /* reserved flags, seen */
    CHECK(zmtp_partial(&c));                   /* with the size */
    CHECK(FEED(&c, "\x01", &o) == -1);
    CHECK(!zmtp_partial(&c) && c.state == ZMTP_FAILED);
    CHECK(zmtp_feed(&c, NULL, 0, &ops, &o) == -1);
    zmtp_free(&c);
    free(o.msgs);
}

static void frame_header(void)
{
    static const struct {
        size_t len;
        const char *want;
        size_t want_len;
    } rows[] = {
        { 0, "\0\0", 2 },
        { 255, "\0\xff", 2 },
        { 256, "\x02\0\0\0\0\0\0\x01\0", 9 },
        { 16384, "\x02\0\0\0\0\0\0\x40\0", 9 },
        { 0x123456789aULL, "\x02\0\0\0\x12\x34\x56\x78\x9a", 9 },
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint8_t out[ZMTP_FRAME_HEADER_MAX];

        CHECK(zmtp_frame_header(out, rows[i].len) ==
              rows[i].want_len);
        CHECK(memcmp(out, rows[i].want, rows[i].want_len) == 0);
    }
}

/* RFC 23 (ZMTP 3.0), "greeting = signature version mechanism as-server
 * filler": signature %xFF padding (8 octets) %x7F; version %x03 %x00;
 * mechanism "NULL" padded with NULs to 20 octets; as-server %x00 (NULL
 * has no roles); filler 31 %x00. */
static void greeting(void)
{
    static const char want[] = "\xff\0\0\0\0\0\0\0\0\x7f\x03\x00"
                               "NULL" Z16 "\0" FILLER;
    uint8_t out[ZMTP_GREETING_BYTES];

    CHECK(sizeof want - 1 == ZMTP_GREETING_BYTES);
    memset(out, 0xaa, sizeof out);
    zmtp_greeting(out);
    CHECK(memcmp(out, want, ZMTP_GREETING_BYTES) == 0);
    CHECK(out[0] == 0xff && out[9] == 0x7f);
    CHECK(out[10] == 3 && out[11] == 0);
    CHECK(memcmp(out + 12, "NULL", 4) == 0);
    for (int i = 16; i < 64; i++)
        CHECK(out[i] == 0);
}

/* A real libzmq DEALER against a ZMQ_STREAM socket read by zmtp_feed. */
struct server {
    void *stream;
    uint8_t rid[256];
    size_t rid_len;
    bool connected;
    struct zmtp_conn conn;
    struct outcome o;
};

static int stream_send(void *arg, const uint8_t *bytes, size_t len)
{
    struct server *s = arg;

    if (zmq_send(s->stream, s->rid, s->rid_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(s->stream, bytes, len, 0) < 0)
        return -1;
    return 0;
}

static int stream_message(void *arg, const uint8_t *msg, size_t len)
{
    return on_message(&((struct server *)arg)->o, msg, len);
}

static const struct zmtp_ops stream_ops = { stream_send, stream_message };

/* Read the STREAM socket until until(s) holds or 5 s (scaled) pass. */
static bool serve(struct server *s, bool (*until)(const struct server *))
{
    double deadline = test_now() + test_ms(5000) / 1000.0;

    while (!until(s)) {
        zmq_pollitem_t item = { s->stream, 0, ZMQ_POLLIN, 0 };
        zmq_msg_t rid, data;
        double left = deadline - test_now();
        int rc;

        if (left <= 0)
            return false;
        rc = zmq_poll(&item, 1, (long)(left * 1000) + 1);
        if (rc < 0 && zmq_errno() == EINTR)
            continue;
        if (rc < 0)
            return false;
        if (rc == 0)
            continue;
        zmq_msg_init(&rid);
        zmq_msg_init(&data);
        if (zmq_msg_recv(&rid, s->stream, 0) < 0 ||
            zmq_msg_recv(&data, s->stream, 0) < 0 ||
            zmq_msg_size(&rid) > sizeof s->rid) {
            zmq_msg_close(&rid);
            zmq_msg_close(&data);
            return false;
        }
        if (!s->connected) {          /* the connection's first, empty */
            uint8_t g[ZMTP_GREETING_BYTES];

            s->rid_len = zmq_msg_size(&rid);
            memcpy(s->rid, zmq_msg_data(&rid), s->rid_len);
            s->connected = true;
            zmtp_greeting(g);
            if (stream_send(s, g, sizeof g) != 0) {
                zmq_msg_close(&rid);
                zmq_msg_close(&data);
                return false;
            }
        } else if (zmq_msg_size(&data) > 0 &&
                   s->conn.state != ZMTP_FAILED) {
            zmtp_feed(&s->conn, zmq_msg_data(&data), zmq_msg_size(&data),
                      &stream_ops, s);
        }
        zmq_msg_close(&rid);
        zmq_msg_close(&data);
    }
    return true;
}

static size_t want_msgs_len;

static bool have_msgs(const struct server *s)
{
    return s->o.msgs_len >= want_msgs_len || s->conn.state == ZMTP_FAILED;
}

static bool failed(const struct server *s)
{
    return s->conn.state == ZMTP_FAILED;
}

/* The DEALER's next message, waited for; its size, or -1. */
static int dealer_recv(void *dealer, uint8_t *buf, size_t cap, bool *more)
{
    zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
    int rc, m = 0;
    size_t ml = sizeof m;

    do
        rc = zmq_poll(&item, 1, test_ms(5000));
    while (rc < 0 && zmq_errno() == EINTR);
    if (rc != 1)
        return -1;
    rc = zmq_recv(dealer, buf, cap, 0);
    if (rc < 0 || zmq_getsockopt(dealer, ZMQ_RCVMORE, &m, &ml) != 0)
        return -1;
    *more = m != 0;
    return rc;
}

static void interop(void)
{
    static uint8_t body[16384 + 8], got[16384 + 16], frame[16384 + 16];
    static const size_t sizes[] = { 1, 255, 256, 16384 };
    void *ctx = zmq_ctx_new();
    void *dealer = NULL;
    static struct server s;
    char endpoint[256];
    size_t elen = sizeof endpoint;
    int zero = 0;

    memset(&s, 0, sizeof s);
    s.o.conn = &s.conn;
    zmtp_init(&s.conn, 16384);
    CHECK(ctx != NULL);
    if (ctx == NULL)
        return;
    s.stream = zmq_socket(ctx, ZMQ_STREAM);
    dealer = zmq_socket(ctx, ZMQ_DEALER);
    CHECK(s.stream != NULL && dealer != NULL);
    if (s.stream == NULL || dealer == NULL)
        goto out;
    CHECK_OK(zmq_setsockopt(s.stream, ZMQ_LINGER, &zero, sizeof zero));
    CHECK_OK(zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero));
    CHECK_OK(zmq_bind(s.stream, "tcp://127.0.0.1:*"));
    CHECK_OK(zmq_getsockopt(s.stream, ZMQ_LAST_ENDPOINT, endpoint, &elen));
    CHECK_OK(zmq_connect(dealer, endpoint));

    /* One message of one frame of each size, from the DEALER. */
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (uint8_t)(i * 13 + 1);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t before = s.o.msgs_len;

        CHECK(zmq_send(dealer, body, sizes[i], 0) == (int)sizes[i]);
        want_msgs_len = before + 4 + sizes[i];
        CHECK(serve(&s, have_msgs));
        CHECK(s.conn.state == ZMTP_MESSAGES);
        CHECK(s.o.msgs_len == want_msgs_len);
        if (s.o.msgs_len == want_msgs_len)
            CHECK(memcmp(s.o.msgs + before + 4, body, sizes[i]) == 0);
    }
    /* Ours, framed by zmtp_frame_header, to the DEALER. */
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t h = zmtp_frame_header(frame, sizes[i]);
        bool more = true;

        memcpy(frame + h, body + 7, sizes[i]);
        CHECK(stream_send(&s, frame, h + sizes[i]) == 0);
        CHECK(dealer_recv(dealer, got, sizeof got, &more) == (int)sizes[i]);
        CHECK(!more);
        CHECK(memcmp(got, body + 7, sizes[i]) == 0);
    }
    /* Two frames in one message: the connection fails. */
    CHECK(zmq_send(dealer, "a", 1, ZMQ_SNDMORE) == 1);
    CHECK(zmq_send(dealer, "b", 1, 0) == 1);
    CHECK(serve(&s, failed));
    CHECK(s.conn.state == ZMTP_FAILED && s.conn.error != NULL &&
          strcmp(s.conn.error, "a message of more than one frame "
                               "(one IKE message is one frame)") == 0);
out:
    if (dealer != NULL)
        zmq_close(dealer);
    if (s.stream != NULL)
        zmq_close(s.stream);
    zmq_ctx_term(ctx);
    zmtp_free(&s.conn);
    free(s.o.msgs);
}

int main(void)
{
    const char *seed = getenv("ZMTP_TEST_SEED");

    if (sodium_init() < 0)
        return 1;
    rng_state = seed != NULL ? (uint32_t)strtoul(seed, NULL, 10)
                             : randombytes_random();
    if (rng_state == 0)
        rng_state = 1;
    printf("random splits: ZMTP_TEST_SEED=%u\n", rng_state);
    RUN(table);
    RUN(big_frames);
    RUN(partial);
    RUN(frame_header);
    RUN(greeting);
    RUN(interop);
    return test_done();
}
