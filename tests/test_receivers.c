/*
 * Several receivers of the same messages.  Subscribers in one process that
 * ZeroMQ hands one shared buffer (a PUB's fan-out over inproc) each get
 * every message with its exact body, one after another or on threads at
 * once.  A subscriber with its own windows that restarts accepts no replay
 * of what came before, across a rekey's overlap too, and two that start
 * together each accept every message.  Subscriber processes on one host
 * each accept every message of an SA whose replay scope is `process`,
 * and refuse its replays.
 */
#include <pthread.h>
#include <stdbool.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "test.h"
#include "zesp.h"

static char dir[256];

/* ---- subscriber processes on one host, one SAD ---------------------- */

/*
 * A PUB sends SUB_MESSAGES over tcp on 127.0.0.1, then the first
 * SUB_REPLAYS of them again byte for byte (an attacker's replay), to two
 * subscriber processes that attach to one SAD.  With the SA's replay scope
 * `process` (ZESP_SA_PER_PROCESS_WINDOW) each accepts every message and
 * refuses every replay; with the default, `host`, each message is
 * accepted by one of them, and the other is told to set the scope.
 */
enum { SUBSCRIBERS = 2, SUB_MESSAGES = 200, SUB_REPLAYS = 20 };
#define SUBS_SPI 0x4001U
#define SUBS_SENDER 9U

static int wait_subscriptions(void *xpub, int n);

struct sub_tally {
    int accepted, exact, replayed, other, named;
};

/* "message K" for K < SUB_MESSAGES, or -1. */
static int message_number(zesp_frame b)
{
    char text[32];
    int k;

    if (b.size >= sizeof text)
        return -1;
    memcpy(text, b.data, b.size);
    text[b.size] = '\0';
    return sscanf(text, "message %d", &k) == 1 && k >= 0 &&
                   k < SUB_MESSAGES ? k : -1;
}

/* A subscriber process: attach to the SAD, connect to the endpoint the
 * parent writes on `in`, and receive every message and replay sent. */
static int subscriber_process(int in, int out)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "subs.sad"), 0, NULL);
    int timeout = test_ms(60000), hwm = 0;
    struct sub_tally t = { 0 };
    char endpoint[600] = { 0 };
    void *ctx, *sub;
    zesp_msg *msg;
    int seen[SUB_MESSAGES] = { 0 };

    if (sad == NULL || test_wait_readable(in, 60000) != 1 ||
        read(in, endpoint, sizeof endpoint - 1) <= 0)
        return 1;
    ctx = zmq_ctx_new();
    sub = zmq_socket(ctx, ZMQ_SUB);
    msg = zesp_msg_new();
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    if (msg == NULL || zmq_connect(sub, endpoint) != 0)
        return 2;
    for (int i = 0; i < SUB_MESSAGES + SUB_REPLAYS; i++) {
        if (zesp_recv(sad, sub, msg, 0) == 0) {
            int k = message_number(zesp_msg_body(msg, 0));
            t.accepted++;
            t.exact += k >= 0 && !seen[k]++;
        } else if (errno == ZESP_EREPLAY) {
            t.replayed++;
            t.named += strstr(zesp_strerror(errno),
                              "replay_scope: process") != NULL;
        } else {
            fprintf(stderr, "  subscriber %d: %s\n", (int)getpid(),
                    zesp_strerror(errno));
            t.other++;
            if (errno == EAGAIN)
                break;
        }
    }
    zesp_msg_free(msg);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    return write(out, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 3;
}

/* Send the messages, then replay the first ones as they went out. */
static int publish(zesp_sad *sad, void *pub)
{
    uint8_t *esp[SUB_REPLAYS];
    size_t len[SUB_REPLAYS];
    int rc = 0, sealed = 0;

    for (int k = 0; k < SUB_MESSAGES && rc == 0; k++) {
        char text[32];
        zesp_frame body = { text, 0 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        uint8_t *frame;
        size_t n;

        body.size = (size_t)snprintf(text, sizeof text, "message %d", k);
        if (zesp_seal(sad, SUBS_SPI, &parts, &frame, &n) != 0)
            return -1;
        rc = zmq_send(pub, frame, n, 0) == (int)n ? 0 : -1;
        if (k < SUB_REPLAYS) {
            esp[k] = frame;
            len[k] = n;
            sealed++;
        } else {
            zesp_buf_free(frame);
        }
    }
    for (int k = 0; k < sealed; k++) {
        if (rc == 0 && zmq_send(pub, esp[k], len[k], 0) != (int)len[k])
            rc = -1;
        zesp_buf_free(esp[k]);
    }
    return rc;
}

/* One round: the SA installed with in_flags, two subscriber processes. */
static void subscribers_round(uint32_t in_flags, struct sub_tally *t)
{
    zesp_sad *host = zesp_sad_open(test_path_in(dir, "subs.sad"), ZESP_SAD_CREATE,
                                   NULL);
    bool group = in_flags & ZESP_SA_GROUP;
    zesp_sa_params out = test_sa(SUBS_SPI, ZESP_DIR_OUT, 0,
                                 group ? ZESP_SA_GROUP : 0);
    zesp_sa_params in = test_sa(SUBS_SPI, ZESP_DIR_IN, 0, in_flags);
    int endpoint_pipe[SUBSCRIBERS][2], results[SUBSCRIBERS][2], rc;
    int verbose = 1, hwm = 0;
    char bound[600];
    size_t len = sizeof bound;
    pid_t pid[SUBSCRIBERS];
    void *ctx, *pub;

    memset(t, 0, SUBSCRIBERS * sizeof *t);
    out.sender_id = in.sender_id = group ? SUBS_SENDER : 0;
    CHECK(host != NULL);
    if (host == NULL)
        return;
    CHECK_OK(zesp_sa_add(host, &out));
    CHECK_OK(zesp_sa_add(host, &in));
    zesp_sad_free(host);
    /* The subscribers are forked before this process has ZeroMQ threads
     * (or a SAD handle of its own for them to inherit). */
    fflush(NULL);
    for (int i = 0; i < SUBSCRIBERS; i++) {
        CHECK(pipe(endpoint_pipe[i]) == 0 && pipe(results[i]) == 0);
        if ((pid[i] = fork()) == 0)
            _exit(subscriber_process(endpoint_pipe[i][0], results[i][1]));
        close(endpoint_pipe[i][0]);
        close(results[i][1]);
    }
    host = zesp_sad_open(test_path_in(dir, "subs.sad"), 0, NULL);
    CHECK(host != NULL);
    ctx = zmq_ctx_new();
    pub = zmq_socket(ctx, ZMQ_XPUB);
    zmq_setsockopt(pub, ZMQ_XPUB_VERBOSE, &verbose, sizeof verbose);
    zmq_setsockopt(pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    CHECK(host != NULL && zmq_bind(pub, "tcp://127.0.0.1:*") == 0 &&
          zmq_getsockopt(pub, ZMQ_LAST_ENDPOINT, bound, &len) == 0);
    for (int i = 0; i < SUBSCRIBERS; i++)
        CHECK(write(endpoint_pipe[i][1], bound, strlen(bound)) ==
              (ssize_t)strlen(bound));
    CHECK(wait_subscriptions(pub, SUBSCRIBERS) == 0);
    CHECK(publish(host, pub) == 0);
    for (int i = 0; i < SUBSCRIBERS; i++) {
        bool done = waitpid(pid[i], &rc, 0) == pid[i] && WIFEXITED(rc) &&
                    WEXITSTATUS(rc) == 0;
        CHECK(done);
        if (done)
            CHECK(read(results[i][0], &t[i], sizeof t[i]) ==
                  (ssize_t)sizeof t[i]);
        close(endpoint_pipe[i][1]);
        close(results[i][0]);
    }
    zmq_close(pub);
    zmq_ctx_term(ctx);
    zesp_sad_free(host);
    unlink(test_path_in(dir, "subs.sad"));
}

static void test_subscribers_process_scope(void)
{
    static const uint32_t kinds[] = { 0, ZESP_SA_GROUP };
    struct sub_tally t[SUBSCRIBERS];

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        subscribers_round(kinds[k] | ZESP_SA_PER_PROCESS_WINDOW, t);
        for (int i = 0; i < SUBSCRIBERS; i++) {
            CHECK(t[i].accepted == SUB_MESSAGES);
            CHECK(t[i].exact == SUB_MESSAGES);
            CHECK(t[i].replayed == SUB_REPLAYS);   /* the same process */
            CHECK(t[i].other == 0);
        }
    }
}

static void test_subscribers_host_scope(void)
{
    static const uint32_t kinds[] = { 0, ZESP_SA_GROUP };
    struct sub_tally t[SUBSCRIBERS];

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        subscribers_round(kinds[k], t);
        /* Once per host: what one accepted the other refused, and both
         * refused the replays; each refusal names the setting. */
        CHECK(t[0].accepted + t[1].accepted == SUB_MESSAGES);
        CHECK(t[0].exact + t[1].exact == SUB_MESSAGES);
        CHECK(t[0].replayed + t[1].replayed ==
              SUB_MESSAGES + SUBSCRIBERS * SUB_REPLAYS);
        CHECK(t[0].named == t[0].replayed && t[1].named == t[1].replayed);
        CHECK(t[0].other == 0 && t[1].other == 0);
    }
}

/* ---- one PUB, several SUBs in one process ---------------------------- */

enum { FANOUT_MESSAGES = 16, MAX_SUBS = 3 };
#define FANOUT_SPI 0x4101U

static const size_t fanout_sizes[] = { 64, 1024, 65536, 1048576 };

struct fanout {
    void *ctx, *pub;
    void *sub[MAX_SUBS];
    zesp_sad *out;
    zesp_sad *in[MAX_SUBS];   /* a handle with its own windows each */
    int nsubs;
    uint8_t *body[FANOUT_MESSAGES];
    size_t size;
};

struct sub_result {
    struct fanout *f;
    int i;
    int accepted, exact;
};

/* Subscriptions reach an XPUB as messages: wait for every subscriber's. */
static int wait_subscriptions(void *xpub, int n)
{
    zmq_msg_t m;
    int got = 0, timeout = test_ms(60000);

    zmq_setsockopt(xpub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_msg_init(&m);
    while (got < n && zmq_msg_recv(&m, xpub, 0) >= 0)
        got += zmq_msg_size(&m) >= 1 && ((uint8_t *)zmq_msg_data(&m))[0] == 1;
    zmq_msg_close(&m);
    return got == n ? 0 : -1;
}

static int fanout_open(struct fanout *f, const char *endpoint, int nsubs,
                       size_t size)
{
    int verbose = 1, hwm = 0, timeout = test_ms(60000);
    char bound[600];
    size_t len = sizeof bound;

    memset(f, 0, sizeof *f);
    f->nsubs = nsubs;
    f->size = size;
    f->ctx = zmq_ctx_new();
    f->pub = zmq_socket(f->ctx, ZMQ_XPUB);
    zmq_setsockopt(f->pub, ZMQ_XPUB_VERBOSE, &verbose, sizeof verbose);
    zmq_setsockopt(f->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(f->pub, endpoint) != 0 ||
        zmq_getsockopt(f->pub, ZMQ_LAST_ENDPOINT, bound, &len) != 0)
        return -1;
    if ((f->out = zesp_sad_open(test_path_in(dir, "fanout.sad"), 0, NULL)) == NULL)
        return -1;
    for (int i = 0; i < nsubs; i++) {
        f->in[i] = zesp_sad_open(test_path_in(dir, "fanout.sad"), ZESP_SAD_OWN_WINDOWS,
                                 NULL);
        f->sub[i] = zmq_socket(f->ctx, ZMQ_SUB);
        zmq_setsockopt(f->sub[i], ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(f->sub[i], ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(f->sub[i], ZMQ_SUBSCRIBE, "", 0);
        if (f->in[i] == NULL || zmq_connect(f->sub[i], bound) != 0)
            return -1;
    }
    if (wait_subscriptions(f->pub, nsubs) != 0)
        return -1;
    for (int k = 0; k < FANOUT_MESSAGES; k++) {
        if ((f->body[k] = malloc(size)) == NULL)
            return -1;
        randombytes_buf(f->body[k], size);
    }
    return 0;
}

static void fanout_close(struct fanout *f)
{
    for (int i = 0; i < f->nsubs; i++) {
        zmq_close(f->sub[i]);
        zesp_sad_free(f->in[i]);
    }
    for (int k = 0; k < FANOUT_MESSAGES; k++)
        free(f->body[k]);
    zmq_close(f->pub);
    zesp_sad_free(f->out);
    zmq_ctx_term(f->ctx);
}

static int fanout_send(struct fanout *f)
{
    for (int k = 0; k < FANOUT_MESSAGES; k++) {
        zesp_frame topic = { "t", 1 }, body = { f->body[k], f->size };
        zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                             .nbody = 1 };
        if (zesp_send(f->out, FANOUT_SPI, f->pub, &parts, 0) != 0)
            return -1;
    }
    return 0;
}

static void *receive_all(void *arg)
{
    struct sub_result *r = arg;
    struct fanout *f = r->f;
    zesp_msg *msg = zesp_msg_new();

    for (int k = 0; k < FANOUT_MESSAGES; k++) {
        zesp_frame b;
        if (zesp_recv(f->in[r->i], f->sub[r->i], msg, 0) != 0) {
            fprintf(stderr, "  subscriber %d, message %d: %s\n", r->i, k,
                    zesp_strerror(errno));
            continue;
        }
        r->accepted++;
        b = zesp_msg_body(msg, 0);
        /* In the order sent: one PUB, one pipe to each subscriber. */
        r->exact += b.size == f->size && zesp_msg_body_count(msg) == 1 &&
                    memcmp(b.data, f->body[k], f->size) == 0;
    }
    zesp_msg_free(msg);
    return NULL;
}

static void fanout_case(const char *transport, int nsubs, bool threads,
                        size_t size)
{
    static int round;
    struct fanout f;
    struct sub_result r[MAX_SUBS];
    pthread_t th[MAX_SUBS];
    char endpoint[600];
    int ok = 1;

    if (strcmp(transport, "inproc") == 0)
        snprintf(endpoint, sizeof endpoint, "inproc://fanout-%d", round++);
    else
        snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:*");
    if (fanout_open(&f, endpoint, nsubs, size) != 0) {
        CHECK(!"fan-out set up");
        fanout_close(&f);
        return;
    }
    for (int i = 0; i < nsubs; i++)
        r[i] = (struct sub_result){ .f = &f, .i = i };
    if (threads) {
        for (int i = 0; i < nsubs; i++)
            CHECK(pthread_create(&th[i], NULL, receive_all, &r[i]) == 0);
        CHECK(fanout_send(&f) == 0);
        for (int i = 0; i < nsubs; i++)
            pthread_join(th[i], NULL);
    } else {
        CHECK(fanout_send(&f) == 0);
        for (int i = 0; i < nsubs; i++)
            receive_all(&r[i]);
    }
    for (int i = 0; i < nsubs; i++) {
        if (r[i].accepted != FANOUT_MESSAGES || r[i].exact != FANOUT_MESSAGES)
            ok = 0;
        CHECK(r[i].accepted == FANOUT_MESSAGES);
        CHECK(r[i].exact == FANOUT_MESSAGES);
    }
    if (!ok)
        fprintf(stderr, "  %s, %d subscribers, %s, %zu bytes\n", transport,
                nsubs, threads ? "threads" : "one after another", size);
    fanout_close(&f);
}

static void test_fanout_in_one_process(void)
{
    static const char *const transports[] = { "inproc", "tcp" };
    zesp_sad *host = zesp_sad_open(test_path_in(dir, "fanout.sad"), ZESP_SAD_CREATE,
                                   NULL);
    zesp_sa_params out = test_sa(FANOUT_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params in = test_sa(FANOUT_SPI, ZESP_DIR_IN, 0, 0);
    size_t nsizes = sizeof fanout_sizes / sizeof fanout_sizes[0];

    in.replay_window = 4096;
    CHECK_OK(zesp_sa_add(host, &out));
    CHECK_OK(zesp_sa_add(host, &in));
    for (size_t t = 0; t < 2; t++)
        for (int nsubs = 2; nsubs <= MAX_SUBS; nsubs++)
            for (int threads = 0; threads < 2; threads++)
                for (size_t s = 0; s < nsizes; s++)
                    fanout_case(transports[t], nsubs, threads,
                                fanout_sizes[s]);
    zesp_sad_free(host);
}

/* ---- own windows across a restart ------------------------------------- */

enum { CAPTURED = 300 };
#define OLD_SPI 0x4201U
#define NEW_SPI 0x4202U

struct capture {
    uint8_t *esp[CAPTURED];
    size_t len[CAPTURED];
    int n;
};

static void capture_free(struct capture *c)
{
    for (int i = 0; i < c->n; i++)
        zesp_buf_free(c->esp[i]);
    c->n = 0;
}

/* Seal a message on spi and keep it as it went on the wire. */
static int capture_one(zesp_sad *sad, uint32_t spi, struct capture *c)
{
    char text[32];
    zesp_frame body = { text, 0 };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    body.size = (size_t)snprintf(text, sizeof text, "message %d", c->n);
    if (c->n == CAPTURED)
        return -1;
    if (zesp_seal(sad, spi, &parts, &c->esp[c->n], &c->len[c->n]) != 0)
        return -1;
    c->n++;
    return 0;
}

/* A subscriber process: open every captured frame (a copy, as a socket
 * would hand it) with its own windows; exit with how many it accepted. */
static int subscriber_accepts(const struct capture *c)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "own.sad"), ZESP_SAD_OWN_WINDOWS,
                                  NULL);
    zesp_msg *msg = zesp_msg_new();
    int accepted = 0;

    if (sad == NULL || msg == NULL)
        return 255;
    for (int i = 0; i < c->n; i++) {
        uint8_t *copy = malloc(c->len[i]);
        memcpy(copy, c->esp[i], c->len[i]);
        accepted += zesp_open(sad, NULL, 0, copy, c->len[i], msg) == 0;
        free(copy);
    }
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return accepted > 254 ? 254 : accepted;
}

static int run_subscriber(const struct capture *c)
{
    int status;
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(subscriber_accepts(c));
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static void test_own_window_restart(void)
{
    zesp_sad *host = zesp_sad_open(test_path_in(dir, "own.sad"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params p;
    struct capture before = { 0 }, after = { 0 };

    for (uint32_t spi = OLD_SPI; spi <= NEW_SPI; spi++) {
        p = test_sa(spi, ZESP_DIR_OUT, 0, 0);
        CHECK_OK(zesp_sa_add(host, &p));
        p = test_sa(spi, ZESP_DIR_IN, 0, 0);
        p.replay_window = 64;
        CHECK_OK(zesp_sa_add(host, &p));
    }
    /* A rekey's overlap: messages under the old SA and the new. */
    for (int i = 0; i < 200; i++)
        CHECK_OK(capture_one(host, i % 3 ? OLD_SPI : NEW_SPI, &before));
    CHECK(run_subscriber(&before) == 200);
    /* Restarted: every frame from before is refused. */
    CHECK(run_subscriber(&before) == 0);
    /* New messages are accepted, on both SAs, the replays still not. */
    for (int i = 0; i < 20; i++)
        CHECK_OK(capture_one(host, i % 2 ? OLD_SPI : NEW_SPI, &after));
    CHECK(run_subscriber(&after) == 20);
    CHECK(run_subscriber(&before) == 0);
    CHECK(run_subscriber(&after) == 0);
    capture_free(&before);
    capture_free(&after);
    zesp_sad_free(host);
}

/* Two subscribers that attach before the traffic each accept every
 * message, whichever of them takes a message first, on an SA installed
 * before they attached and on one installed after. */
static void test_own_windows_start_together(void)
{
    zesp_sad *host = zesp_sad_open(test_path_in(dir, "together.sad"), ZESP_SAD_CREATE,
                                   NULL);
    zesp_sad *a = zesp_sad_open(test_path_in(dir, "together.sad"), ZESP_SAD_OWN_WINDOWS,
                                NULL);
    zesp_sad *b = zesp_sad_open(test_path_in(dir, "together.sad"), ZESP_SAD_OWN_WINDOWS,
                                NULL);
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    int got_a = 0, got_b = 0;

    for (uint32_t spi = OLD_SPI; spi <= NEW_SPI; spi++) {
        p = test_sa(spi, ZESP_DIR_OUT, 0, 0);
        CHECK_OK(zesp_sa_add(host, &p));
        p = test_sa(spi, ZESP_DIR_IN, 0, 0);
        CHECK_OK(zesp_sa_add(spi == OLD_SPI ? host : a, &p));
    }
    for (int i = 0; i < 100; i++) {
        zesp_frame body = { "x", 1 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        uint8_t *esp, copy[128];
        size_t n;
        CHECK_OK(zesp_seal(host, i % 2 ? OLD_SPI : NEW_SPI, &parts, &esp, &n));
        memcpy(copy, esp, n);
        got_a += zesp_open(i % 3 ? a : b, NULL, 0, copy, n, msg) == 0;
        memcpy(copy, esp, n);
        got_b += zesp_open(i % 3 ? b : a, NULL, 0, copy, n, msg) == 0;
        zesp_buf_free(esp);
    }
    CHECK(got_a == 100 && got_b == 100);
    zesp_msg_free(msg);
    zesp_sad_free(a);
    zesp_sad_free(b);
    zesp_sad_free(host);
}

/* ---- the receiver's policy (RFC 4301 5.2) ------------------------------ */

#define SPI_A 0x4301U      /* policy "orders": a pairwise peer */
#define SPI_B 0x4302U      /* policy "audit": another peer */
#define SPI_G 0x4303U      /* policy "prices": a group this host receives */

static int send_on(zesp_sad *sad, uint32_t spi, void *socket, const char *text)
{
    zesp_frame body = { text, strlen(text) };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    return zesp_send(sad, spi, socket, &parts, 0);
}

static void test_policy_check(void)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "policy.sad"), ZESP_SAD_CREATE, NULL);
    zesp_policy orders = { .name = "orders", .peer = "a",
                           .in_spi = { SPI_A } };
    zesp_policy audit = { .name = "audit", .peer = "b", .in_spi = { SPI_B } };
    zesp_policy prices = { .name = "prices", .peer = "g",
                           .in_spi = { SPI_G } };
    void *ctx = zmq_ctx_new(), *tx = zmq_socket(ctx, ZMQ_PAIR),
         *rx = zmq_socket(ctx, ZMQ_PAIR);
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    zesp_sa_info info;
    zesp_sad_stats st;
    zesp_policy got;

    for (uint32_t spi = SPI_A; spi <= SPI_G; spi++) {
        p = test_sa(spi, ZESP_DIR_OUT, 0, spi == SPI_G ? ZESP_SA_GROUP : 0);
        p.sender_id = spi == SPI_G ? 7 : 0;
        CHECK_OK(zesp_sa_add(sad, &p));
        p.direction = ZESP_DIR_IN;
        CHECK_OK(zesp_sa_add(sad, &p));
    }
    CHECK_OK(zesp_policy_set(sad, &orders));
    CHECK_OK(zesp_policy_set(sad, &audit));
    CHECK_OK(zesp_policy_set(sad, &prices));
    CHECK(zmq_bind(rx, "inproc://policy") == 0 &&
          zmq_connect(tx, "inproc://policy") == 0);
    /* Peer b's SA, and a group member's, at the socket of policy orders. */
    CHECK_OK(send_on(sad, SPI_B, tx, "from b"));
    CHECK_ERR(zesp_recv_policy(sad, "orders", rx, msg, 0), ZESP_EPOLICY);
    CHECK_OK(send_on(sad, SPI_G, tx, "from a group member"));
    CHECK_ERR(zesp_recv_policy(sad, "orders", rx, msg, 0), ZESP_EPOLICY);
    /* Peer a's SA is accepted there, and each of the others on its own. */
    CHECK_OK(send_on(sad, SPI_A, tx, "from a"));
    CHECK_OK(zesp_recv_policy(sad, "orders", rx, msg, 0));
    CHECK(zesp_msg_spi(msg) == SPI_A);
    CHECK_OK(send_on(sad, SPI_B, tx, "from b"));
    CHECK_OK(zesp_recv_policy(sad, "audit", rx, msg, 0));
    CHECK_OK(send_on(sad, SPI_G, tx, "from a group member"));
    CHECK_OK(zesp_recv_policy(sad, "prices", rx, msg, 0));
    /* A policy that does not exist is the caller's mistake, said so. */
    CHECK_OK(send_on(sad, SPI_A, tx, "from a"));
    CHECK_ERR(zesp_recv_policy(sad, "nonesuch", rx, msg, 0), ZESP_ENOPOLICY);
    /* Counted: for the SA, for the policy received on, for the host. */
    CHECK_OK(zesp_sa_info_get(sad, SPI_B, ZESP_DIR_IN, &info));
    CHECK(info.stats.rejected_policy == 1 && info.stats.messages == 1);
    CHECK_OK(zesp_policy_get(sad, "orders", &got));
    CHECK(got.rejected[ZESP_REJ_POLICY] == 2);
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    CHECK(st.rejected[ZESP_REJ_POLICY] == 2);
    zesp_msg_free(msg);
    zmq_close(tx);
    zmq_close(rx);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
}

/* The counters of a policy and of the host outlive the SAs: a rekey, the
 * old SA deleted, loses none of the refusals counted under it. */
static void test_counters_outlive_rekeys(void)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "count.sad"), ZESP_SAD_CREATE, NULL);
    zesp_policy pol = { .name = "orders", .in_spi = { SPI_A } };
    zesp_sa_params out = test_sa(SPI_A, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params in = test_sa(SPI_A, ZESP_DIR_IN, 0, 0);
    zesp_frame body = { "x", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    zesp_sad_stats st;
    zesp_policy got;
    uint8_t *esp;
    size_t n;

    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_sa_add(sad, &in));
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_OK(zesp_seal(sad, SPI_A, &parts, &esp, &n));
    CHECK_OK(zesp_open_policy(sad, "orders", NULL, 0, esp, n, msg));
    /* A flipped bit: an ICV failure, counted under the policy the SA
     * serves although the receiver named none. */
    zesp_buf_free(esp);
    CHECK_OK(zesp_seal(sad, SPI_A, &parts, &esp, &n));
    esp[n - 1] ^= 1;
    CHECK_ERR(zesp_open(sad, NULL, 0, esp, n, msg), ZESP_EICV);
    zesp_buf_free(esp);
    /* Rekeyed: the old SA is gone, its counters with it; not the policy's. */
    CHECK_OK(zesp_sa_del(sad, SPI_A, ZESP_DIR_IN));
    pol.in_spi[0] = SPI_B;
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_OK(zesp_policy_get(sad, "orders", &got));
    CHECK(got.rejected[ZESP_REJ_ICV] == 1);
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    CHECK(st.rejected[ZESP_REJ_ICV] == 1);
    /* A policy made anew counts from zero. */
    CHECK_OK(zesp_policy_del(sad, "orders"));
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_OK(zesp_policy_get(sad, "orders", &got));
    CHECK(got.rejected[ZESP_REJ_ICV] == 0);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
}

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "recv") != 0)
        return 2;
    RUN(test_subscribers_process_scope);
    RUN(test_subscribers_host_scope);
    RUN(test_fanout_in_one_process);
    RUN(test_own_window_restart);
    RUN(test_own_windows_start_together);
    RUN(test_policy_check);
    RUN(test_counters_outlive_rekeys);
    return test_done_in(dir);
}
