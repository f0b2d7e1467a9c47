/*
 * A zesp message is one ZeroMQ multipart message, and ZeroMQ cannot take
 * back the frames of a message once the first went: a send that stops
 * between frames leaves the socket mid-message, and the next message is
 * glued to the first frames of this one (behind a ROUTER, sent to this
 * one's peer, under its envelope).  A receive that stops between frames
 * leaves the rest for the next receive, which starts mid-message (a
 * message without its routing frames).
 *
 * libzmq checks its commands before each frame it sends or receives, and
 * returns EINTR there, the frame not taken, when a signal arrived: after
 * the first frame of a message as much as before it.  The test makes that
 * signal land on a chosen frame: it defines zmq_send, zmq_msg_send and
 * zmq_msg_recv, which the library's calls reach first, and has the
 * numbered call return EINTR without calling libzmq, as libzmq would.
 * The same zmq_send can also disconnect the socket before a chosen frame,
 * as when a peer goes mid-message.  Real inproc sockets carry every frame.
 */
#include <dlfcn.h>
#include <zmq.h>

#include "keys.h"
#include "test.h"
#include "zmq_eintr.h"
#include "zesp.h"

#define SPI 0x3001U
#define TIMEOUT_MS 20000   /* a bound, scaled (tests/test.h) */

/* Before the send numbered cut_at, the sending socket disconnects from
 * cut_from: its pipe there ends mid-message, as when the peer goes. */
static int cut_at, cuts;
static const char *cut_from;

static void cut(void *s)
{
    if (cut_at != 0 && ++cuts == cut_at) {
        cut_at = 0;
        CHECK(zmq_disconnect(s, cut_from) == 0);
    }
}

int zmq_send(void *s, const void *buf, size_t len, int flags)
{
    static int (*real)(void *, const void *, size_t, int);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "zmq_send");
    cut(s);
    return interrupted(&send_eintr_at, &sends) ? -1
                                               : real(s, buf, len, flags);
}

int zmq_msg_send(zmq_msg_t *m, void *s, int flags)
{
    static int (*real)(zmq_msg_t *, void *, int);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "zmq_msg_send");
    cut(s);
    return interrupted(&send_eintr_at, &sends) ? -1 : real(m, s, flags);
}

int zmq_msg_recv(zmq_msg_t *m, void *s, int flags)
{
    static int (*real)(zmq_msg_t *, void *, int);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "zmq_msg_recv");
    return interrupted(&recv_eintr_at, &recvs) ? -1 : real(m, s, flags);
}

static void *open_socket(void *ctx, int type, const char *id)
{
    void *s = zmq_socket(ctx, type);
    int ms = test_ms(TIMEOUT_MS), zero = 0;

    if (s == NULL || zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof ms) ||
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &ms, sizeof ms) ||
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) ||
        (id && zmq_setsockopt(s, ZMQ_ROUTING_ID, id, strlen(id)))) {
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

static bool body_is(const zesp_msg *msg, const char *text)
{
    zesp_frame f = zesp_msg_body(msg, 0);

    return zesp_msg_body_count(msg) == 1 && f.size == strlen(text) &&
           memcmp(f.data, text, f.size) == 0;
}

static bool envelope_is(const zesp_msg *msg, const char *text)
{
    zesp_frame f = zesp_msg_envelope(msg, 0);

    return zesp_msg_envelope_count(msg) == 1 && f.size == strlen(text) &&
           memcmp(f.data, text, f.size) == 0;
}

static zesp_parts message(const char *to, const char *body,
                          zesp_frame frames[3])
{
    frames[0] = (zesp_frame){ to, strlen(to) };
    frames[1] = (zesp_frame){ "svc", 3 };
    frames[2] = (zesp_frame){ body, strlen(body) };
    return (zesp_parts){ .envelope = &frames[0], .nenvelope = 1,
                         .clear = &frames[1], .nclear = 1,
                         .body = &frames[2], .nbody = 1 };
}

/* A ROUTER server answers A, a signal lands on frame `frame` of that
 * answer ([A | svc | ESP]: 1, 2 or 3), then it answers B.  On the first
 * frame nothing went: EINTR, and A gets nothing.  On a later one the
 * answer is finished, not left for B's to be glued to (B's answer then
 * reached A, the routing id "B" in front of it taken for an envelope). */
static void router_answers(int frame)
{
    zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    void *ctx = zmq_ctx_new();
    void *server = open_socket(ctx, ZMQ_ROUTER, NULL);
    void *a = open_socket(ctx, ZMQ_DEALER, "A");
    void *b = open_socket(ctx, ZMQ_DEALER, "B");
    zesp_frame fa[3], fb[3];
    zesp_parts to_a = message("A", "for A", fa), to_b = message("B", "for B", fb);
    int mandatory = 1;
    char hello[8];

    CHECK(out && in && msg && server && a && b);
    CHECK_OK(test_sa_pair(out, in, SPI, 0, 0));
    CHECK(zmq_setsockopt(server, ZMQ_ROUTER_MANDATORY, &mandatory,
                         sizeof mandatory) == 0);
    CHECK(zmq_bind(server, "inproc://answers") == 0);
    CHECK(zmq_connect(a, "inproc://answers") == 0);
    CHECK(zmq_connect(b, "inproc://answers") == 0);
    /* Each says hello first: the server knows both routing ids. */
    CHECK(zmq_send(a, "hi", 2, 0) == 2 && zmq_send(b, "hi", 2, 0) == 2);
    for (int i = 0; i < 2; i++)
        CHECK(zmq_recv(server, hello, sizeof hello, 0) > 0 &&
              zmq_recv(server, hello, sizeof hello, 0) == 2);

    arm_send(frame);
    if (frame == 1)
        CHECK_ERR(zesp_send(out, SPI, server, &to_a, 0), EINTR);
    else
        CHECK_OK(zesp_send(out, SPI, server, &to_a, 0));
    arm_send(0);
    CHECK_OK(zesp_send(out, SPI, server, &to_b, 0));
    /* On inproc both answers are queued when the sends return. */

    if (frame != 1) {
        CHECK_OK(zesp_recv(in, a, msg, ZESP_DONTWAIT));
        CHECK(body_is(msg, "for A"));
        CHECK(zesp_msg_envelope_count(msg) == 0);
    }
    CHECK_ERR(zesp_recv(in, a, msg, ZESP_DONTWAIT), EAGAIN);
    CHECK_OK(zesp_recv(in, b, msg, ZESP_DONTWAIT));
    CHECK(body_is(msg, "for B"));
    CHECK(zesp_msg_envelope_count(msg) == 0);

    zesp_msg_free(msg);
    zmq_close(a);
    zmq_close(b);
    zmq_close(server);
    zmq_ctx_term(ctx);
    zesp_sad_free(out);
    zesp_sad_free(in);
}

static void test_signal_on_first_frame_sends_nothing(void)
{
    router_answers(1);
}

static void test_signal_on_clear_frame_finishes_message(void)
{
    router_answers(2);
}

static void test_signal_on_esp_frame_finishes_message(void)
{
    router_answers(3);
}

/* Two messages [env-N | svc | ESP] come in; a signal lands on receiving
 * frame `frame` of the first.  On the first frame nothing was read:
 * EINTR, and the next receive reads the first message whole.  On a later
 * one the rest is read too: the first message, with its envelope, and
 * never its tail alone taken for a message (its routing frame lost). */
static void receive_interrupted(int frame)
{
    zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    void *ctx = zmq_ctx_new();
    void *rx = open_socket(ctx, ZMQ_DEALER, NULL);
    void *tx = open_socket(ctx, ZMQ_DEALER, NULL);
    zesp_frame f1[3], f2[3];
    zesp_parts one = message("env-1", "one", f1), two = message("env-2", "two", f2);

    CHECK(out && in && msg && rx && tx);
    CHECK_OK(test_sa_pair(out, in, SPI, 0, 0));
    CHECK(zmq_bind(rx, "inproc://receives") == 0);
    CHECK(zmq_connect(tx, "inproc://receives") == 0);
    CHECK_OK(zesp_send(out, SPI, tx, &one, 0));
    CHECK_OK(zesp_send(out, SPI, tx, &two, 0));

    /* On inproc both are queued when the sends return. */
    arm_recv(frame);
    if (frame == 1)
        CHECK_ERR(zesp_recv(in, rx, msg, ZESP_DONTWAIT), EINTR);
    else
        CHECK_OK(zesp_recv(in, rx, msg, ZESP_DONTWAIT));
    arm_recv(0);
    if (frame == 1)
        CHECK_OK(zesp_recv(in, rx, msg, ZESP_DONTWAIT));
    CHECK(body_is(msg, "one") && envelope_is(msg, "env-1"));
    CHECK_OK(zesp_recv(in, rx, msg, ZESP_DONTWAIT));
    CHECK(body_is(msg, "two") && envelope_is(msg, "env-2"));
    CHECK_ERR(zesp_recv(in, rx, msg, ZESP_DONTWAIT), EAGAIN);

    zesp_msg_free(msg);
    zmq_close(rx);
    zmq_close(tx);
    zmq_ctx_term(ctx);
    zesp_sad_free(out);
    zesp_sad_free(in);
}

static void test_signal_on_first_received_frame_reads_nothing(void)
{
    receive_interrupted(1);
}

static void test_signal_on_clear_received_frame_reads_whole(void)
{
    receive_interrupted(2);
}

static void test_signal_on_esp_received_frame_reads_whole(void)
{
    receive_interrupted(3);
}

/* A message of more frames than zesp_recv takes (1024) is refused, and
 * read to its end so that the next receive starts at the next message:
 * also when a signal lands on a frame of that rest (`frame`: 0 none). */
#define TOO_MANY_FRAMES 1100

static void too_many_frames(int frame)
{
    zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    void *ctx = zmq_ctx_new();
    void *rx = open_socket(ctx, ZMQ_DEALER, NULL);
    void *tx = open_socket(ctx, ZMQ_DEALER, NULL);
    zesp_frame f2[3];
    zesp_parts two = message("env-2", "two", f2);

    CHECK(out && in && msg && rx && tx);
    CHECK_OK(test_sa_pair(out, in, SPI, 0, 0));
    CHECK(zmq_bind(rx, "inproc://frames") == 0);
    CHECK(zmq_connect(tx, "inproc://frames") == 0);
    for (int i = 1; i <= TOO_MANY_FRAMES; i++)
        CHECK(zmq_send(tx, "x", 1, i < TOO_MANY_FRAMES ? ZMQ_SNDMORE : 0) ==
              1);
    CHECK_OK(zesp_send(out, SPI, tx, &two, 0));

    arm_recv(frame);
    CHECK_ERR(zesp_recv(in, rx, msg, ZESP_DONTWAIT), ZESP_EMALFORMED);
    CHECK(frame == 0 || recv_eintr_at == 0);     /* the signal landed */
    arm_recv(0);
    CHECK_OK(zesp_recv(in, rx, msg, ZESP_DONTWAIT));
    CHECK(body_is(msg, "two") && envelope_is(msg, "env-2"));

    zesp_msg_free(msg);
    zmq_close(rx);
    zmq_close(tx);
    zmq_ctx_term(ctx);
    zesp_sad_free(out);
    zesp_sad_free(in);
}

static void test_too_many_frames_read_to_the_end(void)
{
    too_many_frames(0);
}

static void test_too_many_frames_read_to_the_end_despite_a_signal(void)
{
    too_many_frames(1030);
}

/* A DEALER's one peer goes while frame `frame` of a message is sent
 * ([env | svc | ESP]: 2 or 3) with ZESP_DONTWAIT: libzmq drops what went
 * to it and refuses that frame (EAGAIN), then drops every frame it is
 * given up to a last one.  The message is EAGAIN, and the next one, sent
 * when the DEALER has another peer, reaches it: it is not the frames
 * libzmq drops, reported sent, as when the first was left unfinished. */
static void peer_gone_mid_message(int frame)
{
    zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    void *ctx = zmq_ctx_new();
    void *gone = open_socket(ctx, ZMQ_DEALER, NULL);
    void *next = open_socket(ctx, ZMQ_DEALER, NULL);
    void *tx = open_socket(ctx, ZMQ_DEALER, NULL);
    zesp_frame f1[3], f2[3];
    zesp_parts one = message("env-1", "one", f1), two = message("env-2", "two", f2);

    CHECK(out && in && msg && gone && next && tx);
    CHECK_OK(test_sa_pair(out, in, SPI, 0, 0));
    CHECK(zmq_bind(gone, "inproc://gone") == 0);
    CHECK(zmq_bind(next, "inproc://next") == 0);
    CHECK(zmq_connect(tx, "inproc://gone") == 0);

    cuts = 0;
    cut_from = "inproc://gone";
    cut_at = frame;
    CHECK_ERR(zesp_send(out, SPI, tx, &one, ZESP_DONTWAIT), EAGAIN);
    CHECK(cut_at == 0);                           /* the peer went */
    cut_at = 0;
    CHECK(zmq_connect(tx, "inproc://next") == 0);
    CHECK_OK(zesp_send(out, SPI, tx, &two, ZESP_DONTWAIT));

    /* On inproc what was sent is queued when the send returns. */
    CHECK_ERR(zesp_recv(in, gone, msg, ZESP_DONTWAIT), EAGAIN);
    CHECK_OK(zesp_recv(in, next, msg, ZESP_DONTWAIT));
    CHECK(body_is(msg, "two") && envelope_is(msg, "env-2"));

    zesp_msg_free(msg);
    zmq_close(gone);
    zmq_close(next);
    zmq_close(tx);
    zmq_ctx_term(ctx);
    zesp_sad_free(out);
    zesp_sad_free(in);
}

static void test_peer_gone_on_clear_frame_next_message_sent(void)
{
    peer_gone_mid_message(2);
}

static void test_peer_gone_on_esp_frame_next_message_sent(void)
{
    peer_gone_mid_message(3);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    RUN(test_signal_on_first_frame_sends_nothing);
    RUN(test_signal_on_clear_frame_finishes_message);
    RUN(test_signal_on_esp_frame_finishes_message);
    RUN(test_signal_on_first_received_frame_reads_nothing);
    RUN(test_signal_on_clear_received_frame_reads_whole);
    RUN(test_signal_on_esp_received_frame_reads_whole);
    RUN(test_too_many_frames_read_to_the_end);
    RUN(test_too_many_frames_read_to_the_end_despite_a_signal);
    RUN(test_peer_gone_on_clear_frame_next_message_sent);
    RUN(test_peer_gone_on_esp_frame_next_message_sent);
    return test_done();
}
