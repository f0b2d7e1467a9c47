/*
 * Protected messages between real processes over real sockets: tcp on
 * 127.0.0.1 and ipc between two processes, a ROUTER/DEALER broker process
 * in between (which routes, cannot read, and whose tampering is caught),
 * a ROUTER server that replies through the envelope, and inproc threads.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "msg.h"
#include "test.h"
#include "zesp.h"

#define SPI_UP 0x2001U     /* client -> worker */
#define SPI_DOWN 0x2002U   /* worker -> client */
#define MESSAGES 200
#define TIMEOUT_MS 20000   /* a bound, scaled (tests/test.h) */

static int set_timeouts(void *s)
{
    int ms = test_ms(TIMEOUT_MS);

    /* Linger, so that a sender's last messages leave before it exits. */
    return zmq_setsockopt(s, ZMQ_RCVTIMEO, &ms, sizeof ms) ||
           zmq_setsockopt(s, ZMQ_SNDTIMEO, &ms, sizeof ms) ||
           zmq_setsockopt(s, ZMQ_LINGER, &ms, sizeof ms);
}

static void *open_socket(void *ctx, int type, const char *bind,
                         const char *connect)
{
    void *s = zmq_socket(ctx, type);

    if (s == NULL || set_timeouts(s) ||
        (bind && zmq_bind(s, bind)) || (connect && zmq_connect(s, connect))) {
        fprintf(stderr, "socket %d %s%s: %s\n", type, bind ? bind : "",
                connect ? connect : "", zmq_strerror(zmq_errno()));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

/* Bound endpoint with the port the system chose, for the other process. */
static void last_endpoint(void *s, char *buf, size_t len)
{
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, buf, &len);
}

static zesp_sad *sad_with(uint32_t spi, uint32_t dir, uint32_t spi2,
                          uint32_t dir2)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params a = test_sa(spi, dir, 0, 0);
    zesp_sa_params b = test_sa(spi2, dir2, 0, 0);

    if (sad == NULL || zesp_sa_add(sad, &a) || zesp_sa_add(sad, &b)) {
        zesp_sad_free(sad);
        return NULL;
    }
    return sad;
}

static size_t message_size(int i)
{
    static const size_t sizes[] = { 0, 1, 64, 1000, 1024, 70000, 1U << 20 };
    return sizes[i % (int)(sizeof sizes / sizeof sizes[0])];
}

static uint8_t pattern(int i, size_t k)
{
    return (uint8_t)(i * 31 + (int)k);
}

/* Child: connect, send MESSAGES protected messages, exit 0 on success.
 * The children of this file are forked before their parent makes a zmq
 * context or a SAD (a child may not close its parent's zmq objects), and
 * release everything they make before they exit. */
static int sender_main(const char *endpoint)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PUSH, NULL, endpoint);
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_DOWN, ZESP_DIR_IN);
    uint8_t *buf = malloc(1U << 20);
    int rc = s == NULL || sad == NULL || buf == NULL;

    for (int i = 0; i < MESSAGES && rc == 0; i++) {
        zesp_frame clear = { "topic", 5 };
        zesp_frame body = { buf, message_size(i) };
        zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                             .nbody = 1 };
        for (size_t k = 0; k < body.size; k++)
            buf[k] = pattern(i, k);
        rc = zesp_send(sad, SPI_UP, s, &parts, 0);
    }
    free(buf);
    zesp_sad_free(sad);
    if (s)
        zmq_close(s);
    zmq_ctx_term(ctx);
    return rc ? 1 : 0;
}

static int receive_all(void *s, zesp_sad *sad)
{
    zesp_msg *msg = zesp_msg_new();
    int good = 0;

    for (int i = 0; i < MESSAGES; i++) {
        zesp_frame body;
        int ok = 1;

        if (zesp_recv(sad, s, msg, 0) != 0) {
            fprintf(stderr, "  recv %d: %s\n", i, zesp_strerror(errno));
            break;
        }
        body = zesp_msg_body(msg, 0);
        ok = zesp_msg_body_count(msg) == 1 &&
             zesp_msg_clear_count(msg) == 1 && body.size == message_size(i) &&
             zesp_msg_seq(msg) == (uint64_t)i + 1U;
        for (size_t k = 0; ok && k < body.size; k++)
            ok = ((const uint8_t *)body.data)[k] == pattern(i, k);
        good += ok;
    }
    zesp_msg_free(msg);
    return good;
}

static int wait_child(pid_t pid)
{
    int status = 0;

    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Child: read the endpoint from fd (nothing if the receiver could not
 * bind), then send to it. */
static int sender_from_pipe(int fd)
{
    char endpoint[256];
    ssize_t n = read(fd, endpoint, sizeof endpoint - 1);

    close(fd);
    if (n <= 0)
        return 1;
    endpoint[n] = '\0';
    return sender_main(endpoint);
}

/* The receiver binds; the sender is another process that connects.  It
 * is forked first, and told the endpoint (with the port the system chose)
 * through a pipe. */
static void two_processes(const char *bind)
{
    void *ctx, *s;
    zesp_sad *sad;
    char endpoint[256] = "";
    zesp_sa_info info;
    int fds[2];
    pid_t pid;

    CHECK(pipe(fds) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        close(fds[1]);
        _exit(sender_from_pipe(fds[0]));
    }
    close(fds[0]);
    ctx = zmq_ctx_new();
    s = open_socket(ctx, ZMQ_PULL, bind, NULL);
    sad = sad_with(SPI_UP, ZESP_DIR_IN, SPI_DOWN, ZESP_DIR_OUT);
    CHECK(s != NULL && sad != NULL);
    if (s == NULL || sad == NULL) {
        close(fds[1]);
        wait_child(pid);
        zesp_sad_free(sad);
        if (s)
            zmq_close(s);
        zmq_ctx_term(ctx);
        return;
    }
    last_endpoint(s, endpoint, sizeof endpoint);
    CHECK(write(fds[1], endpoint, strlen(endpoint)) ==
          (ssize_t)strlen(endpoint));
    close(fds[1]);
    CHECK(receive_all(s, sad) == MESSAGES);
    CHECK(wait_child(pid) == 0);
    CHECK_OK(zesp_sa_info_get(sad, SPI_UP, ZESP_DIR_IN, &info));
    CHECK(info.stats.messages == MESSAGES);
    CHECK(info.seq == MESSAGES);
    zesp_sad_free(sad);
    zmq_close(s);
    zmq_ctx_term(ctx);
}

static void test_tcp_two_processes(void)
{
    two_processes("tcp://127.0.0.1:*");
}

static void test_ipc_two_processes(void)
{
    char path[128];

    snprintf(path, sizeof path, "ipc:///tmp/zesp-test-%d.ipc", (int)getpid());
    two_processes(path);
    unlink(path + 6);
}

/* The broker: ROUTER in front, DEALER behind.  With a tamper mode it
 * changes one thing in every request on the way to the worker. */
enum tamper { TAMPER_NONE, TAMPER_SERVICE, TAMPER_BODY, TAMPER_REPLAY };

/* The broker runs until its parent kills it (it holds then only its own
 * context and sockets); if it stops by itself it closes them. */
static int broker_loop(void *f, void *b, enum tamper t);

static int broker_main(const char *front, const char *back, enum tamper t)
{
    void *ctx = zmq_ctx_new();
    void *f = open_socket(ctx, ZMQ_ROUTER, front, NULL);
    void *b = open_socket(ctx, ZMQ_DEALER, back, NULL);
    int rc = 1;

    if (f != NULL && b != NULL)
        rc = broker_loop(f, b, t);
    if (f)
        zmq_close(f);
    if (b)
        zmq_close(b);
    zmq_ctx_term(ctx);
    return rc;
}

static int broker_loop(void *f, void *b, enum tamper t)
{
    int forever = -1;

    zmq_setsockopt(f, ZMQ_RCVTIMEO, &forever, sizeof forever);
    zmq_setsockopt(b, ZMQ_RCVTIMEO, &forever, sizeof forever);
    if (t == TAMPER_NONE) {
        zmq_proxy(f, b, NULL);   /* runs until killed */
        return 0;
    }
    zmq_pollitem_t items[] = { { f, 0, ZMQ_POLLIN, 0 }, { b, 0, ZMQ_POLLIN, 0 } };
    for (;;) {
        if (zmq_poll(items, 2, -1) < 0)
            return 1;
        for (int i = 0; i < 2; i++) {
            void *from = items[i].socket, *to = i ? f : b;
            zmq_msg_t parts[8];
            int n = 0, more = 1;
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            while (more && n < 8) {
                zmq_msg_init(&parts[n]);
                zmq_msg_recv(&parts[n], from, 0);
                more = zmq_msg_more(&parts[n]);
                n++;
            }
            /* Requests are [id][empty][service][esp]. */
            if (from == f && n == 4) {
                if (t == TAMPER_SERVICE)
                    ((uint8_t *)zmq_msg_data(&parts[2]))[0] ^= 0x20;
                if (t == TAMPER_BODY)
                    ((uint8_t *)zmq_msg_data(&parts[3]))[20] ^= 0x01;
            }
            for (int k = 0; k < n; k++) {
                if (from == f && t == TAMPER_REPLAY) {
                    zmq_msg_t copy;
                    zmq_msg_init(&copy);
                    zmq_msg_copy(&copy, &parts[k]);
                    zmq_msg_send(&parts[k], to, k + 1 < n ? ZMQ_SNDMORE : 0);
                    parts[k] = copy;
                    continue;
                }
                zmq_msg_send(&parts[k], to, k + 1 < n ? ZMQ_SNDMORE : 0);
            }
            /* The replaying broker sends every request a second time. */
            for (int k = 0; t == TAMPER_REPLAY && from == f && k < n; k++)
                zmq_msg_send(&parts[k], to, k + 1 < n ? ZMQ_SNDMORE : 0);
        }
    }
}

/* The worker: REP behind the broker; answers each request it can verify,
 * and reports each rejection to the client as a reply it can verify. */
static int worker_main(const char *back, int requests)
{
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_REP, NULL, back);
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_IN, SPI_DOWN, ZESP_DIR_OUT);
    zesp_msg *msg = zesp_msg_new();
    int rc = s == NULL || sad == NULL || msg == NULL;

    for (int i = 0; i < requests && rc == 0; i++) {
        char answer[128];
        zesp_frame out = { answer, 0 };
        zesp_parts parts = { .body = &out, .nbody = 1 };

        if (zesp_recv(sad, s, msg, 0) == 0) {
            zesp_frame svc = zesp_msg_clear(msg, 0);
            zesp_frame body = zesp_msg_body(msg, 0);
            out.size = (size_t)snprintf(answer, sizeof answer, "%.*s:%.*s",
                                        (int)svc.size, (const char *)svc.data,
                                        (int)body.size,
                                        (const char *)body.data);
        } else if (errno == EAGAIN) {
            rc = 2;
            break;
        } else {
            out.size = (size_t)snprintf(answer, sizeof answer, "rejected:%d",
                                        errno - ZESP_EBASE);
        }
        if (zesp_send(sad, SPI_DOWN, s, &parts, 0) != 0)
            rc = 3;
    }
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    if (s)
        zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

struct broker_run {
    pid_t broker, worker;
    char front[128], back[128];
};

static void start_broker(struct broker_run *r, enum tamper t, int requests)
{
    int id = (int)getpid();

    snprintf(r->front, sizeof r->front, "ipc:///tmp/zesp-front-%d.ipc", id);
    snprintf(r->back, sizeof r->back, "ipc:///tmp/zesp-back-%d.ipc", id);
    fflush(NULL);
    if ((r->broker = fork()) == 0)
        _exit(broker_main(r->front, r->back, t));
    if ((r->worker = fork()) == 0)
        _exit(worker_main(r->back, requests));
}

static void stop_broker(struct broker_run *r)
{
    CHECK(wait_child(r->worker) == 0);
    /* SIGKILL: valgrind checks no leaks in a process killed so, where one
     * ended by SIGTERM would show glibc's cache of its parent's thread
     * stacks, which only a normal exit frees, as possibly lost. */
    kill(r->broker, SIGKILL);
    wait_child(r->broker);
    unlink(r->front + 6);
    unlink(r->back + 6);
}

/* Send one request through the broker; the reply must verify too. */
static int request(void *s, zesp_sad *sad, zesp_msg *msg, const char *body,
                   char *reply, size_t reply_len)
{
    zesp_frame svc = { "echo", 4 }, b = { body, strlen(body) };
    zesp_parts parts = { .clear = &svc, .nclear = 1, .body = &b, .nbody = 1 };
    zesp_frame r;

    if (zesp_send(sad, SPI_UP, s, &parts, 0) != 0 ||
        zesp_recv(sad, s, msg, 0) != 0)
        return -1;
    r = zesp_msg_body(msg, 0);
    snprintf(reply, reply_len, "%.*s", (int)r.size, (const char *)r.data);
    return 0;
}

static void broker_case(enum tamper t, const char *want)
{
    enum { N = 5 };
    struct broker_run run;
    void *ctx, *s;
    zesp_sad *sad;
    zesp_msg *msg;
    char reply[128];

    /* The broker and worker first: they inherit nothing to release. */
    start_broker(&run, t, t == TAMPER_REPLAY ? 2 * N : N);
    sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_DOWN, ZESP_DIR_IN);
    msg = zesp_msg_new();
    ctx = zmq_ctx_new();
    s = open_socket(ctx, t == TAMPER_REPLAY ? ZMQ_DEALER : ZMQ_REQ, NULL,
                    run.front);
    CHECK(s != NULL && sad != NULL);
    for (int i = 0; i < N && s; i++) {
        if (t == TAMPER_REPLAY) {
            /* DEALER: add REQ's empty delimiter ourselves; read both
             * answers: the original is served, its replay is refused. */
            zesp_frame empty = { "", 0 }, svc = { "echo", 4 }, b = { "hi", 2 };
            zesp_parts parts = { .envelope = &empty, .nenvelope = 1,
                                 .clear = &svc, .nclear = 1, .body = &b,
                                 .nbody = 1 };
            CHECK_OK(zesp_send(sad, SPI_UP, s, &parts, 0));
            for (int k = 0; k < 2; k++) {
                CHECK_OK(zesp_recv(sad, s, msg, 0));
                zesp_frame r = zesp_msg_body(msg, 0);
                snprintf(reply, sizeof reply, "%.*s", (int)r.size,
                         (const char *)r.data);
                CHECK(zesp_msg_envelope_count(msg) == 1);
                CHECK(strcmp(reply, k == 0 ? "echo:hi" : want) == 0);
            }
            continue;
        }
        CHECK_OK(request(s, sad, msg, "hello", reply, sizeof reply));
        if (strcmp(reply, want) != 0)
            fprintf(stderr, "  reply '%s', want '%s'\n", reply, want);
        CHECK(strcmp(reply, want) == 0);
    }
    if (s)
        zmq_close(s);
    zmq_ctx_term(ctx);
    stop_broker(&run);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
}

static void test_broker_forwards(void)
{
    broker_case(TAMPER_NONE, "echo:hello");
}

static void test_broker_tampers_service(void)
{
    char want[32];

    snprintf(want, sizeof want, "rejected:%d", ZESP_EBINDING - ZESP_EBASE);
    broker_case(TAMPER_SERVICE, want);
}

static void test_broker_tampers_body(void)
{
    char want[32];

    snprintf(want, sizeof want, "rejected:%d", ZESP_EICV - ZESP_EBASE);
    broker_case(TAMPER_BODY, want);
}

static void test_broker_replays(void)
{
    char want[32];

    snprintf(want, sizeof want, "rejected:%d", ZESP_EREPLAY - ZESP_EBASE);
    broker_case(TAMPER_REPLAY, want);
}

/* A ROUTER server sees the envelope and replies through it. */
static void test_router_envelope(void)
{
    void *ctx = zmq_ctx_new();
    void *srv = open_socket(ctx, ZMQ_ROUTER, "tcp://127.0.0.1:*", NULL);
    zesp_sad *server = sad_with(SPI_UP, ZESP_DIR_IN, SPI_DOWN, ZESP_DIR_OUT);
    zesp_sad *client = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_DOWN, ZESP_DIR_IN);
    zesp_msg *msg = zesp_msg_new();
    char endpoint[256];
    void *cli;

    last_endpoint(srv, endpoint, sizeof endpoint);
    cli = open_socket(ctx, ZMQ_DEALER, NULL, NULL);
    zmq_setsockopt(cli, ZMQ_ROUTING_ID, "client-7", 8);
    CHECK(zmq_connect(cli, endpoint) == 0);
    zesp_frame b = { "ping", 4 };
    zesp_parts up = { .body = &b, .nbody = 1 };
    CHECK_OK(zesp_send(client, SPI_UP, cli, &up, 0));
    CHECK_OK(zesp_recv(server, srv, msg, 0));
    CHECK(zesp_msg_envelope_count(msg) == 1);
    zesp_frame id = zesp_msg_envelope(msg, 0);
    CHECK(id.size == 8 && memcmp(id.data, "client-7", 8) == 0);
    zesp_frame env = id, pong = { "pong", 4 };
    zesp_parts down = { .envelope = &env, .nenvelope = 1, .body = &pong,
                        .nbody = 1 };
    CHECK_OK(zesp_send(server, SPI_DOWN, srv, &down, 0));
    CHECK_OK(zesp_recv(client, cli, msg, 0));
    CHECK(zesp_msg_envelope_count(msg) == 0);
    CHECK(zesp_msg_body(msg, 0).size == 4);
    zesp_msg_free(msg);
    zesp_sad_free(server);
    zesp_sad_free(client);
    zmq_close(cli);
    zmq_close(srv);
    zmq_ctx_term(ctx);
}

/* inproc: two threads, one SAD holding both directions. */
struct inproc_arg {
    void *ctx;
    zesp_sad *sad;
    int rc;
};

static void *inproc_sender(void *p)
{
    struct inproc_arg *a = p;
    void *s = open_socket(a->ctx, ZMQ_PAIR, NULL, "inproc://zesp-pair");

    for (int i = 0; s && i < MESSAGES; i++) {
        char text[32];
        zesp_frame b = { text, (size_t)snprintf(text, sizeof text, "m%d", i) };
        zesp_parts parts = { .body = &b, .nbody = 1 };
        a->rc |= zesp_send(a->sad, SPI_UP, s, &parts, 0);
    }
    if (s)
        zmq_close(s);
    return NULL;
}

static void test_inproc_threads(void)
{
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *s = open_socket(ctx, ZMQ_PAIR, "inproc://zesp-pair", NULL);
    struct inproc_arg a = { ctx, sad, 0 };
    zesp_msg *msg = zesp_msg_new();
    pthread_t th;
    int good = 0;

    pthread_create(&th, NULL, inproc_sender, &a);
    for (int i = 0; i < MESSAGES; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "m%d", i);
        if (zesp_recv(sad, s, msg, 0) != 0)
            break;
        good += zesp_msg_body(msg, 0).size == (size_t)n &&
                memcmp(zesp_msg_body(msg, 0).data, want, (size_t)n) == 0;
    }
    pthread_join(th, NULL);
    CHECK(a.rc == 0);
    CHECK(good == MESSAGES);
    zesp_msg_free(msg);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/* zesp_recv decrypts a frame read from a connection where it is, and
 * one ZeroMQ shares or hands over within the process (inproc) into the
 * message's own buffer: a frame refused after it was decrypted (a broker
 * put it under another topic) leaves its plaintext in neither. */
static bool holds(const uint8_t *buf, size_t len, const char *text)
{
    size_t n = strlen(text);

    for (size_t i = 0; buf != NULL && i + n <= len; i++)
        if (memcmp(buf + i, text, n) == 0)
            return true;
    return false;
}

static void test_refused_frame_keeps_no_plaintext(void)
{
    static const char secret[] = "attack at dawn, attack at dawn";
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *a = open_socket(ctx, ZMQ_PAIR, "inproc://zesp-moved", NULL);
    void *b = open_socket(ctx, ZMQ_PAIR, NULL, "inproc://zesp-moved");
    zesp_msg *msg = zesp_msg_new();
    zesp_frame topic = { "prices", 6 }, body = { secret, sizeof secret };
    zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                         .nbody = 1 };

    for (int shared = 0; shared < 2; shared++) {
        uint8_t *esp, *copy;
        size_t n;
        zmq_msg_t m;
        zmq_msg_t *last;

        CHECK_OK(zesp_seal(sad, SPI_UP, &parts, &esp, &n));
        copy = malloc(n);
        memcpy(copy, esp, n);
        CHECK(zmq_send(b, "orders", 6, ZMQ_SNDMORE) == 6);
        /* A constant message is one ZeroMQ shares: decrypted apart. */
        if (shared)
            CHECK(zmq_msg_init_data(&m, copy, n, NULL, NULL) == 0);
        else
            CHECK(zmq_msg_init_size(&m, n) == 0 &&
                  memcpy(zmq_msg_data(&m), esp, n) != NULL);
        CHECK(zmq_msg_send(&m, b, 0) == (int)n);
        CHECK_ERR(zesp_recv(sad, a, msg, 0), ZESP_EBINDING);
        last = &msg->parts[msg->nparts - 1U];
        CHECK(zmq_msg_get(last, ZMQ_SHARED) == shared);
        CHECK(!holds(zmq_msg_data(last), zmq_msg_size(last), "attack"));
        /* Over inproc both are decrypted apart; the own buffer's last
         * ZESP_ICVBYTES are never written. */
        CHECK(!holds(msg->own, msg->own_cap - ZESP_ICVBYTES, "attack"));
        if (shared)     /* the shared bytes themselves untouched */
            CHECK(memcmp(copy, esp, n) == 0);
        zesp_buf_free(esp);
        zesp_msg_free(msg);
        msg = zesp_msg_new();
        free(copy);
    }
    zesp_msg_free(msg);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/* Over inproc ZeroMQ hands the receiver the sender's own buffer
 * (zmq_msg_init_data with a free function, as pyzmq's copy=False does),
 * not flagged shared.  Decrypted there, the sender's buffer held the
 * plaintext after zesp_recv: a forwarder sending that buffer on (to a
 * second receiver, or over tcp) sent the plaintext, or a frame the next
 * receiver refused.  The message is accepted and the sender's bytes stay
 * the ciphertext it sent. */
static int frees_seen;
static void count_free(void *data, void *hint)
{
    (void)data;
    (void)hint;
    frees_seen++;
}

static void test_inproc_sender_buffer_untouched(void)
{
    static const char secret[] = "the sender's buffer is not the receiver's";
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *a = open_socket(ctx, ZMQ_PAIR, "inproc://zesp-handed", NULL);
    void *b = open_socket(ctx, ZMQ_PAIR, NULL, "inproc://zesp-handed");
    zesp_msg *msg = zesp_msg_new();
    zesp_frame body = { secret, sizeof secret };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp, *sent;
    size_t n;
    zmq_msg_t m;
    zesp_frame got;

    CHECK_OK(zesp_seal(sad, SPI_UP, &parts, &esp, &n));
    sent = malloc(n);
    CHECK(sent != NULL);
    memcpy(sent, esp, n);
    CHECK(zmq_msg_init_data(&m, sent, n, count_free, NULL) == 0);
    CHECK(zmq_msg_send(&m, b, 0) == (int)n);
    CHECK_OK(zesp_recv(sad, a, msg, 0));
    got = zesp_msg_body(msg, 0);
    CHECK(zesp_msg_body_count(msg) == 1 && got.size == sizeof secret &&
          memcmp(got.data, secret, sizeof secret) == 0);
    CHECK(memcmp(sent, esp, n) == 0);       /* the ciphertext, as sent */
    CHECK(!holds(sent, n, "receiver"));
    zesp_msg_free(msg);
    CHECK(frees_seen == 1);                 /* handed back when done */
    free(sent);
    zesp_buf_free(esp);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/*
 * The plaintext libzesp holds for a received message is wiped when the
 * message is reset (the next receive into it) or freed: in the message's
 * own buffer (a frame decrypted apart) and in the frame ZeroMQ read for
 * it alone (decrypted in place), before that frame is closed.  Before,
 * both kept it: the own buffer until a longer message overwrote it, the
 * frame into libzmq's free.  zmq_msg_close is the program's own here, to
 * see what a frame holds as libzesp closes it.
 */
static const char *close_watch;     /* armed: the text looked for */
static int closes_holding;

int zmq_msg_close(zmq_msg_t *m)
{
    static int (*real_close)(zmq_msg_t *);

    if (real_close == NULL)
        real_close = (int (*)(zmq_msg_t *))dlsym(RTLD_NEXT, "zmq_msg_close");
    if (close_watch != NULL &&
        holds(zmq_msg_data(m), zmq_msg_size(m), close_watch))
        closes_holding++;
    return real_close(m);
}

static const char wipe_secret[] = "the plaintext to be wiped";

/* A body of size bytes, the secret over and over. */
static uint8_t *secret_body(size_t size)
{
    uint8_t *b = malloc(size);

    for (size_t i = 0; b != NULL && i < size; i++)
        b[i] = (uint8_t)wipe_secret[i % (sizeof wipe_secret - 1U)];
    return b;
}

static int send_body(zesp_sad *sad, void *s, const void *data, size_t size)
{
    zesp_frame body = { data, size };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    return zesp_send(sad, SPI_UP, s, &parts, 0);
}

static bool got_body(const zesp_msg *msg, const void *data, size_t size)
{
    zesp_frame f = zesp_msg_body(msg, 0);

    return zesp_msg_body_count(msg) == 1 && f.size == size &&
           memcmp(f.data, data, size) == 0;
}

static void test_plaintext_wiped_when_done(void)
{
    static const size_t sizes[] = { 64, 65536 };
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *a = open_socket(ctx, ZMQ_PAIR, "inproc://zesp-wiped", NULL);
    void *b = open_socket(ctx, ZMQ_PAIR, NULL, "inproc://zesp-wiped");
    void *ta = open_socket(ctx, ZMQ_PAIR, "tcp://127.0.0.1:*", NULL);
    void *tb = NULL;
    zesp_msg *msg = zesp_msg_new();
    char endpoint[256];

    last_endpoint(ta, endpoint, sizeof endpoint);
    tb = open_socket(ctx, ZMQ_PAIR, NULL, endpoint);
    CHECK(sad != NULL && a != NULL && b != NULL && ta != NULL && tb != NULL &&
          msg != NULL);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint8_t *body = secret_body(sizes[k]);
        zmq_msg_t *last;
        zesp_frame f;

        /* Over inproc, decrypted apart into the message's own buffer: a
         * shorter message after it, then a receive that gets none. */
        CHECK(send_body(sad, b, body, sizes[k]) == 0);
        CHECK_OK(zesp_recv(sad, a, msg, 0));
        CHECK(got_body(msg, body, sizes[k]));
        CHECK(holds(msg->own, msg->own_cap, wipe_secret));
        CHECK(send_body(sad, b, "short", 5) == 0);
        CHECK_OK(zesp_recv(sad, a, msg, 0));
        CHECK(got_body(msg, "short", 5));
        if (holds(msg->own, msg->own_cap, wipe_secret))
            fprintf(stderr, "  %zu B: the own buffer holds the last "
                    "message's plaintext after the next\n", sizes[k]);
        CHECK(!holds(msg->own, msg->own_cap, wipe_secret));
        CHECK(send_body(sad, b, body, sizes[k]) == 0);
        CHECK_OK(zesp_recv(sad, a, msg, 0));
        CHECK_ERR(zesp_recv(sad, a, msg, ZESP_DONTWAIT), EAGAIN);
        CHECK(!holds(msg->own, msg->own_cap, wipe_secret));

        /* Over tcp, decrypted in place in the frame ZeroMQ read: wiped
         * before it is closed, by the next receive and by the free. */
        for (int by_free = 0; by_free < 2; by_free++) {
            CHECK(send_body(sad, tb, body, sizes[k]) == 0);
            CHECK_OK(zesp_recv(sad, ta, msg, 0));
            CHECK(got_body(msg, body, sizes[k]));
            last = &msg->parts[msg->nparts - 1U];
            f = zesp_msg_body(msg, 0);
            CHECK((const uint8_t *)f.data >= (uint8_t *)zmq_msg_data(last) &&
                  (const uint8_t *)f.data + f.size <=
                      (uint8_t *)zmq_msg_data(last) + zmq_msg_size(last));
            closes_holding = 0;
            close_watch = wipe_secret;
            if (by_free) {
                zesp_msg_free(msg);
                msg = zesp_msg_new();
            } else {
                CHECK_ERR(zesp_recv(sad, ta, msg, ZESP_DONTWAIT), EAGAIN);
            }
            close_watch = NULL;
            if (closes_holding != 0)
                fprintf(stderr, "  %zu B: the frame decrypted in place "
                        "closed holding its plaintext (%s)\n", sizes[k],
                        by_free ? "zesp_msg_free" : "the next receive");
            CHECK(closes_holding == 0);
        }
        free(body);
    }
    zesp_msg_free(msg);
    zmq_close(a);
    zmq_close(b);
    zmq_close(ta);
    zmq_close(tb);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/* An XPUB publisher: wait until a subscription reached it. */
static int wait_subscription(void *xpub)
{
    char sub[64];

    return zmq_recv(xpub, sub, sizeof sub, 0) > 0 && sub[0] == 1 ? 0 : -1;
}

/* Forward a captured message, with a frame put in front if topic. */
static void republish(void *pub, const char *topic, zmq_msg_t *frames,
                      int n)
{
    if (topic != NULL)
        CHECK(zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE) >= 0);
    for (int k = 0; k < n; k++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        CHECK(zmq_msg_copy(&copy, &frames[k]) == 0);
        CHECK(zmq_msg_send(&copy, pub, k + 1 < n ? ZMQ_SNDMORE : 0) >= 0);
    }
}

/* A SUB socket delivers a message because its first frame matched a
 * subscription.  A proxy that puts another topic in front of a genuine
 * [topic | ESP] has it delivered under that topic while the sender's
 * bound topic becomes the last clear frame: the frame the subscriber was
 * reached by must be the sender's, or the message is refused, and the
 * genuine message is still accepted afterwards (no number used up). */
static void test_subscriber_refuses_topic_put_in_front(void)
{
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *pub = open_socket(ctx, ZMQ_XPUB, "inproc://zesp-pub", NULL);
    void *tap = open_socket(ctx, ZMQ_SUB, NULL, "inproc://zesp-pub");
    void *proxy = open_socket(ctx, ZMQ_XPUB, "inproc://zesp-proxy", NULL);
    void *victim = open_socket(ctx, ZMQ_SUB, NULL, "inproc://zesp-proxy");
    zesp_msg *msg = zesp_msg_new();
    zesp_frame topic = { "prices.usd", 10 }, body = { "sell", 4 };
    zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                         .nbody = 1 };
    zmq_msg_t frames[2];
    int n = 0;

    CHECK_OK(zmq_setsockopt(tap, ZMQ_SUBSCRIBE, "", 0));
    CHECK_OK(wait_subscription(pub));
    CHECK_OK(zmq_setsockopt(victim, ZMQ_SUBSCRIBE, "prices.eur", 10));
    CHECK_OK(wait_subscription(proxy));
    CHECK_OK(zesp_send(sad, SPI_UP, pub, &parts, 0));
    for (int more = 1; more && n < 2; n++) {
        zmq_msg_init(&frames[n]);
        CHECK(zmq_msg_recv(&frames[n], tap, 0) >= 0);
        more = zmq_msg_more(&frames[n]);
    }
    CHECK(n == 2);
    republish(proxy, "prices.eur", frames, n);
    CHECK_ERR(zesp_recv(sad, victim, msg, 0), ZESP_EBINDING);
    if (zesp_msg_envelope_count(msg) == 1)
        fprintf(stderr, "  accepted under '%.*s', bound topic '%.*s'\n",
                (int)zesp_msg_envelope(msg, 0).size,
                (const char *)zesp_msg_envelope(msg, 0).data,
                (int)zesp_msg_clear(msg, 0).size,
                (const char *)zesp_msg_clear(msg, 0).data);
    CHECK_OK(zmq_setsockopt(victim, ZMQ_SUBSCRIBE, "prices.usd", 10));
    CHECK_OK(wait_subscription(proxy));
    republish(proxy, NULL, frames, n);
    CHECK_OK(zesp_recv(sad, victim, msg, 0));
    CHECK(zesp_msg_envelope_count(msg) == 0 &&
          zesp_msg_clear_count(msg) == 1 && zesp_msg_seq(msg) == 1);
    for (int k = 0; k < n; k++)
        zmq_msg_close(&frames[k]);
    zesp_msg_free(msg);
    zmq_close(pub);
    zmq_close(tap);
    zmq_close(proxy);
    zmq_close(victim);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/* A plain, unprotected message on a protected socket is refused and the
 * socket stays usable. */
static void test_plain_message_refused(void)
{
    zesp_sad *sad = sad_with(SPI_UP, ZESP_DIR_OUT, SPI_UP, ZESP_DIR_IN);
    void *ctx = zmq_ctx_new();
    void *a = open_socket(ctx, ZMQ_PAIR, "inproc://zesp-plain", NULL);
    void *b = open_socket(ctx, ZMQ_PAIR, NULL, "inproc://zesp-plain");
    zesp_msg *msg = zesp_msg_new();
    zesp_frame body = { "ok", 2 };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    zmq_send(b, "hello", 5, ZMQ_SNDMORE);
    zmq_send(b, "world, in the clear", 19, 0);
    CHECK_ERR(zesp_recv(sad, a, msg, 0), ZESP_ENOSA);
    CHECK_OK(zesp_send(sad, SPI_UP, b, &parts, 0));
    CHECK_OK(zesp_recv(sad, a, msg, 0));
    CHECK_ERR(zesp_recv(sad, a, msg, ZESP_DONTWAIT), EAGAIN);
    zesp_msg_free(msg);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    RUN(test_tcp_two_processes);
    RUN(test_ipc_two_processes);
    RUN(test_broker_forwards);
    RUN(test_broker_tampers_service);
    RUN(test_broker_tampers_body);
    RUN(test_broker_replays);
    RUN(test_router_envelope);
    RUN(test_inproc_threads);
    RUN(test_plain_message_refused);
    RUN(test_refused_frame_keeps_no_plaintext);
    RUN(test_inproc_sender_buffer_untouched);
    RUN(test_plaintext_wiped_when_done);
    RUN(test_subscriber_refuses_topic_put_in_front);
    return test_done();
}
