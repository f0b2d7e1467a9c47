/*
 * libFuzzer target: zike's control requests (ike/control.c, control_serve):
 * how a multipart request is split into a command and its arguments, and
 * each command run with those arguments on a daemon state with an
 * established IKE SA (peer "peer", child SA on policy "pol"), a second
 * configured peer without one, and groups served and joined
 * (tests/zike_harness.h).  The input is the request's frames, separated
 * by '\n' (so a frame may hold any other byte, NUL included), sent on an
 * inproc REQ socket to a REP socket as zikectl does.  Every request must
 * get one reply of two frames: "ok" or "error", then a text, which says
 * what was wrong when the answer is "error".  A request with a NUL byte
 * in it is refused: its parts are text, and "list\0x" is not "list".
 *
 * zike_reload is zike's (ike/reload.c, with its sockets): here it refuses,
 * as it does for a configuration that does not load.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "control.h"
#include "zike_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WAIT_MS 10000
#define WAIT_SLICE_MS 100

static void *ctx, *rep, *req;

int zike_reload(struct zike *zz, char *why, size_t whylen)
{
    (void)zz;
    if (why != NULL)
        snprintf(why, whylen, "reload refused, old configuration kept: "
                 "the fuzz harness has no file");
    return -1;
}

static void sockets_close(void)
{
    zmq_close(req);
    zmq_close(rep);
    zmq_ctx_term(ctx);
}

static void sockets_open(void)
{
    int64_t max = CONTROL_FRAME_MAX;
    int linger = 0;

    if ((ctx = zmq_ctx_new()) == NULL ||
        (rep = zmq_socket(ctx, ZMQ_REP)) == NULL ||
        (req = zmq_socket(ctx, ZMQ_REQ)) == NULL ||
        zmq_setsockopt(rep, ZMQ_MAXMSGSIZE, &max, sizeof max) != 0 ||
        zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(rep, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(rep, "inproc://control-fuzz") != 0 ||
        zmq_connect(req, "inproc://control-fuzz") != 0)
        abort();
    atexit(sockets_close);
}

/* In slices: libFuzzer's timer (SIGALRM, for -timeout) interrupts poll. */
static void wait_readable(void *sock)
{
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    long scale = getenv("ZESP_TEST_TIMEOUT_SCALE")
                     ? atol(getenv("ZESP_TEST_TIMEOUT_SCALE")) : 1;
    long limit = WAIT_MS * (scale > 0 ? scale : 1);

    for (long waited = 0; waited < limit; waited += WAIT_SLICE_MS) {
        int rc = zmq_poll(&it, 1, WAIT_SLICE_MS);
        if (rc == 1)
            return;
        if (rc < 0 && errno != EINTR)
            break;
    }
    abort();
}

/* An established IKE SA with the peer, and a child SA on "pol". */
static void state_make(void)
{
    static const uint8_t shared[32] = { 7 }, keymat[256] = { 9 };
    struct ike_sa *sa = harness_established(shared);

    z.now += 1000;
    sa->established_at = z.now;
    if (child_install(&z, sa, "pol", 0x6001, 0x7001, ZESP_CHACHA20_POLY1305,
                      0, keymat, true, false) == NULL)
        abort();
}

static void request_send(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size;

    for (;;) {
        const uint8_t *nl = memchr(data, '\n', (size_t)(end - data));
        size_t len = (size_t)((nl ? nl : end) - data);
        if (zmq_send(req, data, len, nl ? ZMQ_SNDMORE : 0) != (int)len)
            abort();
        if (nl == NULL)
            return;
        data = nl + 1;
    }
}

/* "ok" or "error", then the text; an error says what. */
static void reply_check(bool must_refuse)
{
    zmq_msg_t head, text;
    bool error;

    zmq_msg_init(&head);
    zmq_msg_init(&text);
    if (zmq_msg_recv(&head, req, 0) < 0 || !zmq_msg_more(&head) ||
        zmq_msg_recv(&text, req, 0) < 0 || zmq_msg_more(&text))
        abort();
    error = zmq_msg_size(&head) == 5 &&
            memcmp(zmq_msg_data(&head), "error", 5) == 0;
    if (!error && !(zmq_msg_size(&head) == 2 &&
                    memcmp(zmq_msg_data(&head), "ok", 2) == 0))
        abort();
    if ((error && zmq_msg_size(&text) == 0) || (must_refuse && !error))
        abort();
    zmq_msg_close(&head);
    zmq_msg_close(&text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (z.sad == NULL) {
        (void)harness_seal;    /* the exchange targets' part of the harness */
        harness_setup();
        sockets_open();
    }
    state_make();
    request_send(data, size);
    wait_readable(rep);
    control_serve(&z, rep);
    wait_readable(req);
    reply_check(size && memchr(data, '\0', size) != NULL);
    ike_tick(&z);
    harness_reset();
    return 0;
}
