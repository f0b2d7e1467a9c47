/*
 * The server side of ZMTP 3 (rfc.zeromq.org 23) for zike's listen
 * endpoint, parsed by zike itself from a ZMQ_STREAM socket's bytes, so that
 * what an unauthenticated peer can make zike hold is bounded before it is
 * read: libzmq's ROUTER holds a whole multipart message, of any number of
 * frames, before the application sees its first frame.
 *
 * Only what zike's peers speak is accepted: the NULL mechanism, a DEALER,
 * and messages of exactly one frame of at most max_message bytes.  Anything
 * else ends the connection, with the reason in zmtp_conn.error.  The client
 * side, for zike's connections to its peers, is the same with the socket
 * types the other way round.
 */
#ifndef ZESP_IKE_ZMTP_H
#define ZESP_IKE_ZMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZMTP_GREETING_BYTES 64U
#define ZMTP_FRAME_HEADER_MAX 9U     /* flags and a 64-bit size */
/* READY carries Socket-Type and Identity (at most 255 bytes); PING a TTL
 * and at most 16 bytes of context. */
#define ZMTP_COMMAND_MAX 512U

enum zmtp_state {
    ZMTP_GREETING,                   /* reading the peer's 64 bytes */
    ZMTP_HANDSHAKE,                  /* waiting for its READY */
    ZMTP_MESSAGES,                   /* reading frames: IKE messages */
    ZMTP_FAILED,                     /* error says why; close it */
};

struct zmtp_conn {
    enum zmtp_state state;
    bool client;                     /* we are the DEALER, it the ROUTER */
    size_t max_message;              /* a data frame's largest body */
    uint8_t head[ZMTP_GREETING_BYTES]; /* the greeting, or a frame header */
    size_t head_len;
    bool command;                    /* the frame being read is a command */
    uint8_t *body;                   /* the frame's body so far */
    size_t body_len, body_size, body_cap;
    const char *error;               /* ZMTP_FAILED: what was wrong */
};

/* What the connection hands back: bytes for the peer (our READY, a PONG)
 * and complete messages.  Either returns -1 if it could not be done; the
 * connection then fails. */
struct zmtp_ops {
    int (*send)(void *arg, const uint8_t *bytes, size_t len);
    int (*message)(void *arg, const uint8_t *msg, size_t len);
};

void zmtp_init(struct zmtp_conn *c, size_t max_message);
/* The other side: zike's connection to a peer's listen, as a DEALER to a
 * ROUTER (a zike, or libzmq's). */
void zmtp_init_client(struct zmtp_conn *c, size_t max_message);
void zmtp_free(struct zmtp_conn *c);

/* Our greeting, sent as soon as the connection is made (either side). */
void zmtp_greeting(uint8_t out[ZMTP_GREETING_BYTES]);

/* Take len bytes that arrived.  0, or -1 once the connection failed. */
int zmtp_feed(struct zmtp_conn *c, const uint8_t *in, size_t len,
              const struct zmtp_ops *ops, void *arg);

/* Whether the connection waits for the rest of a greeting or a frame: a
 * peer that stops there holds a slot; one idle between messages does not. */
bool zmtp_partial(const struct zmtp_conn *c);

/* A data frame's header for a body of len bytes; returns its length. */
size_t zmtp_frame_header(uint8_t out[ZMTP_FRAME_HEADER_MAX], size_t len);

#endif
