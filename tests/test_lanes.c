/*
 * Lanes: many processes sending on one SA lose nothing.  4 and 16 sender
 * processes, each over its own connection (tcp and ipc), send on one
 * outbound SA with ZESP_SA_LANES to one receiver, at 64 B, 1 KiB, 64 KiB
 * and 1 MiB: every message accepted, none refused, no (SPI, IV) twice on
 * the wire.  Senders killed with -9 under load and replaced: no (SPI, IV)
 * twice, no message accepted twice.  A forked child takes a lane of its
 * own, also when it forked before its parent sent or moved to another
 * directory than the one the SAD was opened from; a sender without lanes
 * still reaches a receiver with them.  A lane's window left without its SA
 * is no SA a forger can use.  A fork while another thread is taking its
 * lane leaves the child free to send.  A child that never sends keeps none
 * of its parent's lanes.  A child forked without atfork handlers
 * (_Fork) seals in a lane of its own too, and a thread held up while its
 * SA was replaced in its slot takes no numbers for the new SA.  A sender
 * refused for want of a free lane charges the SA's lifetimes nothing, not
 * even while it waits to be refused (another sender meanwhile still sends
 * the last message of the hard limit).
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "lanes.h"
#include "sad.h"
#include "test.h"
#include "zesp.h"

#define LANES_SPI 0x5a0001U
#define POLICY "orders"

static char dir[256];

/* A SAD with the lanes SA both ways and the policy that names them. */
static void make_sad(const char *name, uint32_t flags)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, name), ZESP_SAD_CREATE, NULL);
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, flags);
    zesp_policy pol = { .name = POLICY, .out_spi = LANES_SPI,
                        .in_spi = { LANES_SPI } };

    CHECK(sad != NULL);
    CHECK_OK(zesp_sa_add(sad, &p));
    p.direction = ZESP_DIR_IN;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_policy_set(sad, &pol));
    zesp_sad_free(sad);
}

/* Each message names its sender and number: the rest of the body is
 * filler.  "Accepted twice" would be one name seen twice. */
struct tag {
    uint32_t sender;
    uint32_t n;
};

/* A sender process: count messages of size bytes on the policy; every 64
 * it tells progress (a byte on the pipe), so that whoever kills it does
 * so under load, not after a guess of time. */
static int sender(const char *sad_name, const char *endpoint, uint32_t id,
                  long count, size_t size, int progress)
{
    void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH);
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, sad_name), 0, NULL);
    uint8_t *body = calloc(1, size < sizeof(struct tag) ? sizeof(struct tag)
                                                        : size);
    zesp_frame f = { body, size };
    zesp_parts parts = { .body = &f, .nbody = 1 };
    int hwm = 100000, linger = -1, rc = 0;

    if (sad == NULL || body == NULL)
        return 1;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(push, endpoint) != 0)
        return 2;
    for (long i = 0; count < 0 || i < count; i++) {
        struct tag t = { id, (uint32_t)i };
        memcpy(body, &t, sizeof t);
        if (zesp_send_policy(sad, POLICY, push, &parts, 0) != 0) {
            fprintf(stderr, "  sender %u: %s\n", id, zesp_strerror(errno));
            rc = 3;
            break;
        }
        if (progress >= 0 && i % 64 == 63 && write(progress, "p", 1) != 1)
            break;
    }
    zmq_close(push);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    free(body);
    return rc;
}

/* A sender in a process of its own (main's --sender), started clean. */
static pid_t spawn_sender(const char *sad_name, const char *endpoint,
                          uint32_t id, long count, size_t size, int progress)
{
    char a_id[16], a_count[32], a_size[32], a_progress[16];
    char *argv[] = { "test_lanes", "--sender", dir, (char *)sad_name,
                     (char *)endpoint, a_id, a_count, a_size, a_progress,
                     NULL };

    snprintf(a_id, sizeof a_id, "%u", id);
    snprintf(a_count, sizeof a_count, "%ld", count);
    snprintf(a_size, sizeof a_size, "%zu", size);
    snprintf(a_progress, sizeof a_progress, "%d", progress);
    return test_spawn_self(argv);
}

/* What the receiver saw. */
struct seen {
    uint64_t *ivs;
    uint32_t *spis;
    uint64_t *tags;
    size_t n, cap;
    long accepted, refused;
    int last_err;
};

static void seen_free(struct seen *s)
{
    free(s->ivs);
    free(s->spis);
    free(s->tags);
}

/* Receive one message as it came on the wire: its ESP frame's SPI and IV
 * kept, then opened on the policy.  0, or -1 on a timeout. */
static int receive_one(void *pull, zesp_sad *sad, zesp_msg *msg,
                       struct seen *s)
{
    zmq_msg_t part;
    uint8_t *esp;
    size_t len;

    zmq_msg_init(&part);
    if (zmq_msg_recv(&part, pull, 0) < 0) {
        zmq_msg_close(&part);
        return -1;
    }
    esp = zmq_msg_data(&part);
    len = zmq_msg_size(&part);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->ivs = realloc(s->ivs, s->cap * sizeof *s->ivs);
        s->spis = realloc(s->spis, s->cap * sizeof *s->spis);
        s->tags = realloc(s->tags, s->cap * sizeof *s->tags);
    }
    if (len >= ZESP_HEADERBYTES) {
        uint64_t iv = 0;
        for (int i = 0; i < 8; i++)
            iv = iv << 8 | esp[8 + i];
        s->spis[s->n] = (uint32_t)esp[0] << 24 | (uint32_t)esp[1] << 16 |
                        (uint32_t)esp[2] << 8 | esp[3];
        s->ivs[s->n] = iv;
        s->tags[s->n] = UINT64_MAX;
    }
    if (zesp_open_policy(sad, POLICY, NULL, 0, esp, len, msg) == 0) {
        struct tag t;
        zesp_frame b = zesp_msg_body(msg, 0);
        memcpy(&t, b.data, sizeof t);
        s->tags[s->n] = (uint64_t)t.sender << 32 | t.n;
        s->accepted++;
    } else {
        s->last_err = errno;
        s->refused++;
    }
    s->n += len >= ZESP_HEADERBYTES;
    zmq_msg_close(&part);
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* How many (SPI, IV) pairs, and accepted messages, appear twice. */
static void count_repeats(const struct seen *s, size_t *ivs, size_t *tags)
{
    uint64_t *k = calloc(s->n ? s->n : 1, sizeof *k);
    size_t n = 0;

    *ivs = *tags = 0;
    /* One SPI in these tests: the IV alone is the key. */
    for (size_t i = 0; i < s->n; i++)
        k[i] = s->ivs[i] ^ ((uint64_t)s->spis[i] * 0x9e3779b97f4a7c15ULL);
    qsort(k, s->n, sizeof *k, cmp_u64);
    for (size_t i = 1; i < s->n; i++)
        *ivs += k[i] == k[i - 1];
    for (size_t i = 0; i < s->n; i++)
        if (s->tags[i] != UINT64_MAX)
            k[n++] = s->tags[i];
    qsort(k, n, sizeof *k, cmp_u64);
    for (size_t i = 1; i < n; i++)
        *tags += k[i] == k[i - 1];
    free(k);
}

/* How many lanes carried the messages of more than one sender. */
static int lanes_shared(const struct seen *s)
{
    uint64_t owner[ZESP_LANES_MAX];
    int shared = 0;

    for (uint32_t l = 0; l < ZESP_LANES_MAX; l++)
        owner[l] = UINT64_MAX;
    for (size_t i = 0; i < s->n; i++) {
        uint32_t lane = (uint32_t)(s->ivs[i] >> LANE_SHIFT) % ZESP_LANES_MAX;
        uint64_t sender = s->tags[i] >> 32;

        if (s->tags[i] == UINT64_MAX)
            continue;                       /* refused: no sender known */
        if (owner[lane] == UINT64_MAX)
            owner[lane] = sender;
        else if (owner[lane] != sender && owner[lane] != UINT64_MAX - 1U) {
            owner[lane] = UINT64_MAX - 1U;  /* counted once */
            shared++;
        }
    }
    return shared;
}

static void *bind_pull(void *ctx, const char *transport, char *endpoint,
                       size_t len)
{
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    int hwm = 0, timeout = test_ms(60000);

    zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (strcmp(transport, "tcp") == 0) {
        if (zmq_bind(pull, "tcp://127.0.0.1:*") != 0)
            return NULL;
    } else {
        char ep[600];
        snprintf(ep, sizeof ep, "ipc://%s/lanes-%d.ipc", dir, (int)getpid());
        if (zmq_bind(pull, ep) != 0)
            return NULL;
    }
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &len);
    return pull;
}

static void many_senders(const char *transport, int senders, size_t size,
                         long per)
{
    void *ctx = zmq_ctx_new(), *pull;
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    zesp_msg *msg = zesp_msg_new();
    struct seen s = { 0 };
    char endpoint[600];
    pid_t pid[16];
    size_t ivs, tags;
    int bad = 0, shared;

    pull = bind_pull(ctx, transport, endpoint, sizeof endpoint);
    CHECK(pull != NULL && sad != NULL);
    for (int i = 0; i < senders; i++)
        pid[i] = spawn_sender("lanes.sad", endpoint, (uint32_t)i, per, size,
                              -1);
    while (s.n < (size_t)(senders * per) && receive_one(pull, sad, msg, &s) == 0)
        ;
    for (int i = 0; i < senders; i++)
        bad += test_wait_status(pid[i]) != 0;
    count_repeats(&s, &ivs, &tags);
    shared = lanes_shared(&s);
    if (s.refused || ivs || tags || bad || shared ||
        s.accepted != senders * per)
        fprintf(stderr, "  %s, %d senders, %zu B: accepted %ld of %ld, "
                "refused %ld (%s), %zu (SPI, IV) repeated, %zu accepted "
                "twice, %d senders failed, %d lanes of two senders\n",
                transport, senders, size, s.accepted, senders * per,
                s.refused, s.refused ? zesp_strerror(s.last_err) : "-", ivs,
                tags, bad, shared);
    /* 16 senders, 63 lanes: a sender that finished is never followed in
     * its lane by one that started late, its messages maybe unread. */
    CHECK(shared == 0);
    CHECK(bad == 0);
    CHECK(s.accepted == senders * per);
    CHECK(s.refused == 0);
    CHECK(ivs == 0 && tags == 0);
    seen_free(&s);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

static void test_many_senders(void)
{
    static const size_t sizes[] = { 64, 1024, 65536, 1048576 };
    static const char *const transports[] = { "tcp", "ipc" };
    int quick = test_under_valgrind();

    make_sad("lanes.sad", ZESP_SA_LANES);
    for (int t = 0; t < 2; t++)
        for (int k = 4; k <= 16; k *= 4)
            for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
                long per = sizes[z] <= 1024 ? 2000 : sizes[z] <= 65536 ? 100
                                                                      : 8;
                if (quick)
                    per = per / 10 + 1;
                many_senders(transports[t], k, sizes[z], per);
            }
}

/* Senders killed with -9 at random points under load, each replaced by a
 * new process, which takes the dead one's lane or another: no (SPI, IV)
 * twice on the wire, no message accepted twice. */
static void test_kill_minus_nine(void)
{
    enum { SENDERS = 4, ROUNDS = 12 };
    void *ctx = zmq_ctx_new(), *pull;
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    zesp_msg *msg = zesp_msg_new();
    struct seen s = { 0 };
    char endpoint[600];
    int progress[SENDERS][2];
    pid_t pid[SENDERS];
    uint32_t next_id = 100;
    size_t ivs, tags;

    pull = bind_pull(ctx, "tcp", endpoint, sizeof endpoint);
    CHECK(pull != NULL && sad != NULL);
    for (int i = 0; i < SENDERS; i++) {
        CHECK(pipe(progress[i]) == 0);
        pid[i] = spawn_sender("lanes.sad", endpoint, next_id, -1, 64,
                              progress[i][1]);
        next_id++;
    }
    for (int round = 0; round < ROUNDS; round++) {
        int v = (int)randombytes_uniform(SENDERS);
        uint32_t ticks = 1 + randombytes_uniform(8);
        char c;
        /* Kill only once it has sent (ticks * 64) more messages. */
        for (uint32_t k = 0; k < ticks; k++) {
            struct pollfd p = { .fd = progress[v][0], .events = POLLIN };
            while (poll(&p, 1, 0) == 0)
                if (receive_one(pull, sad, msg, &s) != 0)
                    break;
            if (read(progress[v][0], &c, 1) != 1)
                break;
        }
        kill(pid[v], SIGKILL);
        test_wait_status(pid[v]);
        close(progress[v][0]);
        close(progress[v][1]);
        CHECK(pipe(progress[v]) == 0);
        pid[v] = spawn_sender("lanes.sad", endpoint, next_id, -1, 64,
                              progress[v][1]);
        next_id++;
    }
    for (int i = 0; i < SENDERS; i++) {
        kill(pid[i], SIGKILL);
        test_wait_status(pid[i]);
        close(progress[i][0]);
        close(progress[i][1]);
    }
    /* What is in flight still comes; then nothing for a while. */
    {
        int brief = 1000;
        zmq_setsockopt(pull, ZMQ_RCVTIMEO, &brief, sizeof brief);
        while (receive_one(pull, sad, msg, &s) == 0)
            ;
    }
    count_repeats(&s, &ivs, &tags);
    printf("     %d kill -9 of senders under load: %zu frames, %ld accepted, "
           "%ld refused, %zu (SPI, IV) repeated, %zu accepted twice\n",
           ROUNDS, s.n, s.accepted, s.refused, ivs, tags);
    CHECK(s.n > 0);
    CHECK(ivs == 0);
    CHECK(tags == 0);
    seen_free(&s);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

/* A process that forks after opening the SAD: parent and child each seal
 * in a lane of its own (two lanes on the wire), none refused.  The
 * process forks before it has any ZeroMQ thread (a child of a process
 * with threads may only exec); the frames travel over ZeroMQ after. */
static void test_forked_child_own_lane(void)
{
    zesp_sad *rx = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    zesp_sad *tx = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    zesp_msg *msg = zesp_msg_new();
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    struct seen s = { 0 };
    char endpoint[600];
    uint8_t *esp[2] = { NULL, NULL };
    size_t len[2] = { 0, 0 };
    uint16_t lanes[2] = { 0, 0 };
    int fds[2];
    void *ctx, *pull, *push;
    pid_t pid;

    CHECK(rx != NULL && tx != NULL && pipe(fds) == 0);
    /* The parent takes its lane before the fork. */
    CHECK_OK(zesp_seal(tx, LANES_SPI, &parts, &esp[0], &len[0]));
    fflush(NULL);
    if ((pid = fork()) == 0) {
        uint8_t *e;
        size_t n;
        int rc = zesp_seal(tx, LANES_SPI, &parts, &e, &n) != 0 ||
                 write(fds[1], e, n) != (ssize_t)n;
        _exit(rc);
    }
    CHECK(test_wait_status(pid) == 0);
    close(fds[1]);
    esp[1] = malloc(4096);
    if (esp[1] != NULL) {
        ssize_t r = read(fds[0], esp[1], 4096);
        len[1] = r > 0 ? (size_t)r : 0;
    }
    close(fds[0]);
    ctx = zmq_ctx_new();
    pull = bind_pull(ctx, "ipc", endpoint, sizeof endpoint);
    push = zmq_socket(ctx, ZMQ_PUSH);
    CHECK(pull != NULL && zmq_connect(push, endpoint) == 0);
    for (int i = 0; i < 2; i++)
        CHECK(len[i] > 0 && zmq_send(push, esp[i], len[i], 0) == (int)len[i]);
    for (int i = 0; i < 2; i++)
        CHECK(receive_one(pull, rx, msg, &s) == 0);
    for (size_t i = 0; i < s.n && i < 2; i++)
        lanes[i] = (uint16_t)(s.ivs[i] >> 48);
    CHECK(s.accepted == 2 && s.refused == 0);
    CHECK(lanes[0] != 0 && lanes[1] != 0 && lanes[0] != lanes[1]);
    seen_free(&s);
    zesp_buf_free(esp[0]);
    free(esp[1]);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

/* The lane of a sealed frame: the IV's top 16 bits. */
static uint16_t lane_of(const uint8_t *esp)
{
    return (uint16_t)(esp[8] << 8 | esp[9]);
}

/* The parent seals on tx, then a forked child (in directory to, if not
 * NULL) seals too: 0 if the child sealed in a lane other than its
 * parent's, 1 if it could not seal, 2 if in its parent's lane. */
static int child_seals_in_own_lane(zesp_sad *tx, const char *to,
                                   const char *who)
{
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp = NULL;
    size_t len;
    uint16_t mine = 0;
    pid_t pid;
    int st;

    CHECK_OK(zesp_seal(tx, LANES_SPI, &parts, &esp, &len));
    if (esp != NULL)
        mine = lane_of(esp);
    zesp_buf_free(esp);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        int rc = to != NULL && chdir(to) != 0 ? 4 : 0;
        esp = NULL;
        if (rc == 0 && zesp_seal(tx, LANES_SPI, &parts, &esp, &len) != 0) {
            fprintf(stderr, "  %s: %s\n", who, zesp_strerror(errno));
            rc = 1;
        } else if (rc == 0 && lane_of(esp) == mine) {
            rc = 2;                 /* its parent's lane */
        }
        _exit(rc);
    }
    st = test_wait_status(pid);
    printf("     %s seals: %s\n", who, st == 0 ? "yes, in a lane of its own"
           : st == 1 ? "no" : st == 2 ? "in its parent's lane" : "not run");
    return st;
}

/* A handle opened by a relative path, then a child that changed its
 * working directory (a daemon's chdir("/") after its fork): the child
 * opens the SAD file again for lanes of its own at its first claim, and
 * must find the file the handle was opened on.  Before, it opened the
 * path as given from its new directory: no such file (ZESP_EBADSAD had
 * another been there), and it could not send at all. */
static void test_child_elsewhere(void)
{
    int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    zesp_sad *tx = NULL;

    make_sad("elsewhere.sad", ZESP_SA_LANES);
    CHECK(here >= 0);
    if (here < 0 || chdir(dir) != 0)
        return;
    tx = zesp_sad_open("elsewhere.sad", 0, NULL);
    CHECK(fchdir(here) == 0);
    close(here);
    CHECK(tx != NULL);
    if (tx == NULL)
        return;
    CHECK(child_seals_in_own_lane(tx, "/", "a child in /") == 0);
    zesp_sad_free(tx);
}

/* A handle opened by a relative path, its directory renamed since (the
 * working directory with it): a forked child still finds the file by
 * that path.  Before, the child looked only by the path from the root as
 * it was at the open, no longer there (No such file or directory). */
static void test_child_after_rename(void)
{
    char sub[512], moved[512];
    int here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    zesp_sad *tx = NULL;
    bool moved_in;

    snprintf(sub, sizeof sub, "%s/before.d", dir);
    snprintf(moved, sizeof moved, "%s/after.d", dir);
    CHECK(here >= 0 && mkdir(sub, 0700) == 0);
    make_sad("before.d/renamed.sad", ZESP_SA_LANES);
    moved_in = here >= 0 && chdir(sub) == 0;
    CHECK(moved_in);
    if (!moved_in) {
        if (here >= 0)
            close(here);
        return;
    }
    tx = zesp_sad_open("renamed.sad", 0, NULL);
    CHECK(tx != NULL);
    CHECK(rename(sub, moved) == 0);
    if (tx != NULL) {
        CHECK(child_seals_in_own_lane(tx, NULL, "a child after its folder's "
                                      "rename") == 0);
        zesp_sad_free(tx);
    }
    CHECK(fchdir(here) == 0);
    close(here);
}

/* A process that forks before either side sent: the child shares its
 * parent's file description, so the lock of the lane it claims is the
 * parent's as much as its own.  With every other lane held by live
 * handles, the parent must find no lane (ZESP_ELANES), not the child's:
 * before, its lock on the child's byte succeeded, and two live processes
 * sent in one lane. */
static void test_fork_before_first_send(void)
{
    enum { OTHERS = ZESP_LANES_MAX - 2 };
    zesp_sad *tx, *other[OTHERS];
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    int told[2], done[2], rc;
    uint16_t child_lane = 0;
    uint8_t *esp = NULL;
    size_t n = 0;
    pid_t pid;

    make_sad("fork.sad", ZESP_SA_LANES);
    tx = zesp_sad_open(test_path_in(dir, "fork.sad"), 0, NULL);
    CHECK(tx != NULL && pipe(told) == 0 && pipe(done) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        uint16_t lane = 0;
        char c;
        close(told[0]);
        close(done[1]);
        if (zesp_seal(tx, LANES_SPI, &parts, &esp, &n) == 0)
            lane = lane_of(esp);
        /* Alive, holding the lane, until the parent has tried. */
        _exit(write(told[1], &lane, sizeof lane) != sizeof lane ||
              read(done[0], &c, 1) < 0);
    }
    close(told[1]);
    close(done[0]);
    CHECK(read(told[0], &child_lane, sizeof child_lane) ==
          sizeof child_lane);
    CHECK(child_lane != 0);
    for (int i = 0; i < OTHERS; i++) {
        other[i] = zesp_sad_open(test_path_in(dir, "fork.sad"), 0, NULL);
        CHECK(other[i] != NULL);
        CHECK_OK(zesp_seal(other[i], LANES_SPI, &parts, &esp, &n));
        CHECK(lane_of(esp) != child_lane);
        zesp_buf_free(esp);
    }
    rc = zesp_seal(tx, LANES_SPI, &parts, &esp, &n);
    if (rc == 0) {
        fprintf(stderr, "  parent sealed in lane %u, the child's is %u\n",
                lane_of(esp), child_lane);
        zesp_buf_free(esp);
    }
    CHECK(rc == -1 && errno == ZESP_ELANES);
    close(done[1]);
    CHECK(test_wait_status(pid) == 0);
    close(told[0]);
    for (int i = 0; i < OTHERS; i++)
        zesp_sad_free(other[i]);
    zesp_sad_free(tx);
}

/* _Fork() (glibc 2.34, POSIX 2024) runs no atfork handler, nor does a
 * raw clone: the child copies its parent's lane, the block of numbers the
 * parent took and the file description that holds the lane's lock.  The
 * parent seals, forks so, and both seal FRAMES more: no (SPI, IV) twice,
 * the child in a lane of its own.  Before, the child carried on from the
 * parent's block in the parent's lane: FRAMES pairs sealed twice. */
static void test_fork_without_handlers(void)
{
    enum { FRAMES = 8 };
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t head[2 * FRAMES + 1][ZESP_HEADERBYTES];
    uint8_t *frames[2 * FRAMES + 1];
    size_t n = 0, got = 0;
    uint8_t *esp = NULL;
    zesp_sad *tx;
    int fds[2];
    long dup;
    pid_t pid;

    make_sad("nohandlers.sad", ZESP_SA_LANES);
    tx = zesp_sad_open(test_path_in(dir, "nohandlers.sad"), 0, NULL);
    CHECK(tx != NULL && pipe(fds) == 0);
    /* The parent's lane and block, taken before the fork. */
    CHECK_OK(zesp_seal(tx, LANES_SPI, &parts, &esp, &n));
    memcpy(head[0], esp, ZESP_HEADERBYTES);
    zesp_buf_free(esp);
    fflush(NULL);
    if ((pid = _Fork()) == 0) {
        int rc = 0;
        close(fds[0]);
        for (int i = 0; i < FRAMES && rc == 0; i++) {
            rc = zesp_seal(tx, LANES_SPI, &parts, &esp, &n) != 0 ||
                 write(fds[1], esp, ZESP_HEADERBYTES) != ZESP_HEADERBYTES;
            if (esp != NULL)
                zesp_buf_free(esp);
            esp = NULL;
        }
        _exit(rc);
    }
    CHECK(pid > 0);
    close(fds[1]);
    for (int i = 0; i < FRAMES; i++) {
        CHECK_OK(zesp_seal(tx, LANES_SPI, &parts, &esp, &n));
        memcpy(head[1 + i], esp, ZESP_HEADERBYTES);
        zesp_buf_free(esp);
    }
    while (got < FRAMES &&
           read(fds[0], head[1 + FRAMES + got], ZESP_HEADERBYTES) ==
               ZESP_HEADERBYTES)
        got++;
    close(fds[0]);
    CHECK(test_wait_status(pid) == 0);
    CHECK(got == FRAMES);
    for (size_t i = 0; i < 1 + FRAMES + got; i++)
        frames[i] = head[i];
    dup = test_repeated_ivs(frames, 1 + FRAMES + got, true);
    if (dup != 0)
        fprintf(stderr, "  %ld (SPI, IV) sealed twice; parent's lane %u, "
                "child's %u\n", dup, lane_of(head[0]),
                got ? lane_of(head[1 + FRAMES]) : 0U);
    CHECK(dup == 0);
    CHECK(got == 0 || lane_of(head[1 + FRAMES]) != lane_of(head[0]));
    zesp_sad_free(tx);
}

/* A child that never sends keeps none of its parent's lanes: once the
 * parent let go of its handle, every lane is free again while the child
 * lives on with its copy (a pre-fork server's long-lived workers).  While
 * the parent holds its lane, the child's start takes nothing from it.
 * Before, the child's copy of the file description, and of the mapping
 * made from it, kept the parent's lock: 62 lanes of 63 for new senders,
 * one fewer with each parent restarted. */
static void test_child_keeps_no_lane(void)
{
    enum { LANES = ZESP_LANES_MAX - 1 };
    zesp_sad *tx, *probe, *fresh[LANES];
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    int told[2], done[2], got = 0;
    uint16_t parent_lane;
    uint8_t *esp = NULL;
    size_t n = 0;
    char c = 0;
    pid_t pid;

    make_sad("keep.sad", ZESP_SA_LANES);
    tx = zesp_sad_open(test_path_in(dir, "keep.sad"), 0, NULL);
    CHECK(tx != NULL && pipe(told) == 0 && pipe(done) == 0);
    CHECK_OK(zesp_seal(tx, LANES_SPI, &parts, &esp, &n));
    parent_lane = lane_of(esp);
    zesp_buf_free(esp);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        /* Started (its fork handlers have run); alive until told. */
        close(told[0]);
        close(done[1]);
        _exit(write(told[1], &c, 1) != 1 || read(done[0], &c, 1) < 0);
    }
    close(told[1]);
    close(done[0]);
    CHECK(pid > 0 && read(told[0], &c, 1) == 1);
    probe = zesp_sad_open(test_path_in(dir, "keep.sad"), 0, NULL);
    CHECK(probe != NULL);
    CHECK_OK(zesp_seal(probe, LANES_SPI, &parts, &esp, &n));
    CHECK(lane_of(esp) != parent_lane);
    zesp_buf_free(esp);
    zesp_sad_free(probe);
    zesp_sad_free(tx);
    for (int i = 0; i < LANES; i++) {
        fresh[i] = zesp_sad_open(test_path_in(dir, "keep.sad"), 0, NULL);
        CHECK(fresh[i] != NULL);
        if (zesp_seal(fresh[i], LANES_SPI, &parts, &esp, &n) == 0) {
            got++;
            zesp_buf_free(esp);
        }
    }
    if (got != LANES)
        fprintf(stderr, "  %d of %d lanes free with the child alive\n", got,
                LANES);
    CHECK(got == LANES);
    close(done[1]);
    CHECK(test_wait_status(pid) == 0);
    close(told[0]);
    for (int i = 0; i < LANES; i++)
        zesp_sad_free(fresh[i]);
}

/* A sender that knows no lanes (a plain SA, as strongSwan's) reaches a
 * receiver with them: its frames carry no lane and use the SA's window.
 * Deleting the SA takes every lane's window with it. */
static void test_without_lanes_and_delete(void)
{
    zesp_sad *out = zesp_sad_new(NULL), *lanes_out = zesp_sad_new(NULL);
    zesp_sad *in = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    zesp_sa_params plain = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params with = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_frame body = { "x", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    zesp_sad_stats before, after;
    uint8_t *esp;
    size_t n;

    plain.next_seq = 1000000;        /* above what the SA's window saw */
    CHECK_OK(zesp_sa_add(out, &plain));
    CHECK_OK(zesp_sa_add(lanes_out, &with));
    CHECK_OK(zesp_seal(out, LANES_SPI, &parts, &esp, &n));
    CHECK(esp[8] == 0 && esp[9] == 0);
    CHECK_OK(zesp_open_policy(in, POLICY, NULL, 0, esp, n, msg));
    zesp_buf_free(esp);
    /* A private SAD's sender is in lane 1. */
    with.next_seq = 0;
    CHECK_OK(zesp_seal(lanes_out, LANES_SPI, &parts, &esp, &n));
    CHECK(esp[8] == 0 && esp[9] == 1);
    zesp_buf_free(esp);
    CHECK_OK(zesp_sad_stats_get(in, &before));
    CHECK(before.sas > 2);           /* the lanes' windows */
    CHECK_OK(zesp_sa_del(in, LANES_SPI, ZESP_DIR_IN));
    CHECK_OK(zesp_sad_stats_get(in, &after));
    CHECK(after.sas == 1);           /* the outbound SA alone */
    CHECK_OK(zesp_sad_verify(in));
    zesp_msg_free(msg);
    zesp_sad_free(in);
    zesp_sad_free(out);
    zesp_sad_free(lanes_out);
}

/* A writer killed while it deletes the inbound lanes SA: the SA's slot
 * freed, its lanes' windows not yet (sa.c's sa_remove, cut short). */
static int die_deleting(const char *sad_name)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, sad_name), 0, NULL);
    struct sa_ref ref;
    uint32_t slot_no;

    if (sad == NULL || sad_lock(sad) != 0 ||
        sad_find(sad, LANES_SPI, ZESP_DIR_IN, &ref) != 0)
        return 1;
    slot_no = sad_slot_no(sad, ref.slot);
    atomic_fetch_add(&ref.slot->gen, 1);
    sad_index_remove(sad, slot_no);
    sad_slot_release(sad, slot_no);
    atomic_fetch_sub(&sad->hdr->live, 1);
    raise(SIGKILL);
    return 2;
}

/* A frame in lane 1 under the key a lane's window holds: none (zeroes).
 * Sealed afresh each time: a refused frame is wiped where it lies. */
static int open_forged(zesp_sad *forger, zesp_sad *in, zesp_msg *msg)
{
    zesp_frame body = { "forged", 6 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t n;
    int rc, e;

    if (zesp_seal(forger, LANES_SPI, &parts, &esp, &n) != 0)
        return -2;
    rc = zesp_open(in, NULL, 0, esp, n, msg);
    e = errno;
    zesp_buf_free(esp);
    errno = e;
    return rc;
}

/* A lane's window is a slot of its own that holds no key.  If the lanes
 * SA is gone before its windows (a writer killed between the two, as
 * here, or a receiver looking up in between), a frame in that lane finds
 * no SA: never the window, whose zero key anyone can seal under. */
static void test_lane_window_is_no_sa(void)
{
    zesp_sad *genuine = zesp_sad_new(NULL), *forger = zesp_sad_new(NULL);
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_sa_params other = test_sa(LANES_SPI + 1U, ZESP_DIR_IN, 0, 0);
    zesp_frame body = { "x", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    char a_sad[] = "orphan.sad";
    char *die_argv[] = { "test_lanes", "--die-deleting", dir, a_sad, NULL };
    zesp_sad *in;
    uint8_t *esp;
    size_t n;
    pid_t pid;

    make_sad(a_sad, ZESP_SA_LANES);
    in = zesp_sad_open(test_path_in(dir, a_sad), 0, NULL);
    CHECK(in != NULL && genuine != NULL && forger != NULL);
    /* A genuine message in lane 1 makes that lane's window. */
    CHECK_OK(zesp_sa_add(genuine, &p));
    CHECK_OK(zesp_seal(genuine, LANES_SPI, &parts, &esp, &n));
    CHECK(esp[8] == 0 && esp[9] == 1);
    CHECK_OK(zesp_open(in, NULL, 0, esp, n, msg));
    zesp_buf_free(esp);
    memset(p.key, 0, sizeof p.key);
    p.next_seq = 1000;               /* above what lane 1's window saw */
    CHECK_OK(zesp_sa_add(forger, &p));
    CHECK_ERR(open_forged(forger, in, msg), ZESP_EICV);

    pid = test_spawn_self(die_argv);
    CHECK(pid > 0 && test_wait_status(pid) == 128 + SIGKILL);
    CHECK_ERR(open_forged(forger, in, msg), ZESP_ENOSA);
    /* The next writer repairs what the dead one left. */
    CHECK_OK(zesp_sa_add(in, &other));
    CHECK_ERR(open_forged(forger, in, msg), ZESP_ENOSA);
    CHECK(zesp_msg_body_count(msg) == 0);
    zesp_msg_free(msg);
    zesp_sad_free(in);
    zesp_sad_free(genuine);
    zesp_sad_free(forger);
}

/*
 * fcntl() of this program, which the library's calls reach (it is linked
 * in whole): armed, the first lane lock a thread takes (lanes.c takes it
 * with the handle's lanes_lock held) waits there until hold_go, or until
 * the main thread, forking, waits on a lock itself (a fork that waits for
 * the lanes lock).  So a fork finds the lock held, every time.
 */
static _Atomic int hold_armed, hold_in, hold_go, forking;
static pid_t main_tid;

/* Is the main thread waiting on a futex (a mutex) now? */
static int main_waits(void)
{
    char path[64], text[32] = "";
    int fd, n = 0;
    ssize_t r;

    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)main_tid);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    r = read(fd, text, sizeof text - 1);
    close(fd);
    if (r <= 0)
        return 0;
    text[r] = '\0';
    return sscanf(text, "%d", &n) == 1 && n == SYS_futex;
}

int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    unsigned long arg;

    va_start(ap, cmd);
    arg = va_arg(ap, unsigned long);
    va_end(ap);
    if (cmd == F_OFD_SETLK && atomic_exchange(&hold_armed, 0)) {
        struct timespec ms = { 0, 1000000 };
        atomic_store(&hold_in, 1);
        while (!atomic_load(&hold_go) &&
               !(atomic_load(&forking) && main_waits()))
            nanosleep(&ms, NULL);
    }
    return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

struct sealer {
    zesp_sad *sad;
    int rc;
};

static void *seal_once(void *arg)
{
    struct sealer *t = arg;
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t n;

    t->rc = zesp_seal(t->sad, LANES_SPI, &parts, &esp, &n);
    if (t->rc == 0)
        zesp_buf_free(esp);
    return NULL;
}

/* A thread takes its lane (the handle's lanes lock held) while another
 * forks: the child must send, not wait for ever on a lock copied held,
 * whose holder it does not have.  Before, it hung (killed here by its
 * alarm). */
static void test_fork_while_taking_lane(void)
{
    zesp_sad *tx = zesp_sad_open(test_path_in(dir, "lanes.sad"), 0, NULL);
    struct sealer t = { tx, -1 };
    double until = test_now() + test_ms(10000) / 1000.0;
    pthread_t th;
    pid_t pid;

    CHECK(tx != NULL);
    main_tid = (pid_t)syscall(SYS_gettid);
    atomic_store(&hold_armed, 1);
    CHECK(pthread_create(&th, NULL, seal_once, &t) == 0);
    while (!atomic_load(&hold_in) && test_now() < until)
        sched_yield();
    CHECK(atomic_load(&hold_in));
    atomic_store(&forking, 1);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        struct sealer c = { tx, -1 };
        alarm((unsigned)(5 * test_timeout_scale()));
        seal_once(&c);
        _exit(c.rc == 0 ? 0 : 1);
    }
    atomic_store(&hold_go, 1);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(t.rc == 0);
    CHECK(pid > 0);
    int status = test_wait_status(pid);
    if (status != 0)
        fprintf(stderr, "  child: %s\n", status == 128 + SIGALRM
                ? "waited for ever on the lanes lock (alarm)" : "failed");
    CHECK(status == 0);
    atomic_store(&forking, 0);
    zesp_sad_free(tx);
}

/* One thread stopped just before it takes the mutex stop_at (a handle's
 * lanes lock), until stop_go; the rest of the process goes on. */
static pthread_mutex_t *_Atomic stop_at;
static _Atomic int stop_in, stop_go;

static int (*_Atomic real_lock)(pthread_mutex_t *);

int pthread_mutex_lock(pthread_mutex_t *m)
{
    pthread_mutex_t *want = m;

    if (atomic_load(&stop_at) == m &&
        atomic_compare_exchange_strong(&stop_at, &want, NULL)) {
        struct timespec ms = { 0, 1000000 };
        atomic_store(&stop_in, 1);
        while (!atomic_load(&stop_go))
            nanosleep(&ms, NULL);
    }
    if (real_lock == NULL)
        real_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT,
                                                      "pthread_mutex_lock");
    return real_lock(m);
}

/* A thread that used up its block of SA A's lane goes to take the next,
 * and is held up; meanwhile A is deleted, SA B is installed, and another
 * thread claims a lane of B and uses up its first block.  The late thread
 * must take nothing for B: before, B took A's slot, the late thread took
 * a block of its old lane's numbers into the claim that now held B's
 * other lane, those numbers went out in that lane, and the lane's own
 * count in the slot never passed them: the next process to hold the lane
 * sent them again, (key, IV) pairs sealed twice.  The late thread's claim
 * is checked again under the lock; and since senders pin their slot
 * (sad_pin), B no longer gets A's slot while the late thread is there. */
static void seal_into(zesp_sad *sad, uint32_t spi, unsigned count,
                      uint8_t (*head)[ZESP_HEADERBYTES], size_t *n)
{
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t len;

    for (unsigned i = 0; i < count; i++) {
        CHECK_OK(zesp_seal(sad, spi, &parts, &esp, &len));
        if (esp == NULL)
            return;
        memcpy(head[(*n)++], esp, ZESP_HEADERBYTES);
        zesp_buf_free(esp);
    }
}

static void test_lane_of_a_replaced_sa(void)
{
    enum { SPI_B = LANES_SPI + 1U, OTHERS = ZESP_LANES_MAX - 2,
           FRAMES = 3 * LANE_BLOCK - 1 + OTHERS };
    zesp_sad_opts opts = { .capacity = 3 };
    zesp_sa_params a = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_sa_params b = test_sa(SPI_B, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_sa_params filler = test_sa(0x5a0fffU, ZESP_DIR_OUT, 0, 0);
    static uint8_t head[FRAMES][ZESP_HEADERBYTES];
    uint8_t *frames[FRAMES];
    struct sealer late = { NULL, -2 };
    struct timespec ms = { 0, 1000000 };
    double until = test_now() + test_ms(10000) / 1e3;
    zesp_sad *tx, *other[OTHERS], *next;
    struct sa_ref ra, rb;
    size_t n = 0, mine;
    pthread_t t;
    long dup;

    b.key[0] ^= 1;                   /* another key, as a rekey gives */
    tx = zesp_sad_open(test_path_in(dir, "replaced.sad"), ZESP_SAD_CREATE, &opts);
    CHECK(tx != NULL);
    CHECK_OK(zesp_sa_add(tx, &a));
    CHECK_OK(zesp_sa_add(tx, &filler));
    /* A third slot, free, looked at after A's. */
    filler.spi++;
    CHECK_OK(zesp_sa_add(tx, &filler));
    CHECK_OK(zesp_sa_del(tx, filler.spi, ZESP_DIR_OUT));
    CHECK_OK(sad_find(tx, LANES_SPI, ZESP_DIR_OUT, &ra));
    /* A's lane's first block, used up; one more number is a new block. */
    seal_into(tx, LANES_SPI, LANE_BLOCK, head, &n);
    n = 0;                           /* A's frames: another key */
    atomic_store(&stop_at, &tx->lanes_lock);
    late.sad = tx;
    CHECK(pthread_create(&t, NULL, seal_once, &late) == 0);
    while (!atomic_load(&stop_in) && test_now() < until)
        nanosleep(&ms, NULL);
    if (!atomic_load(&stop_in)) {
        CHECK(atomic_load(&stop_in));    /* never came to the lock */
        atomic_store(&stop_go, 1);
    }
    CHECK_OK(zesp_sa_del(tx, LANES_SPI, ZESP_DIR_OUT));
    CHECK_OK(zesp_sa_add(tx, &b));
    CHECK_OK(sad_find(tx, SPI_B, ZESP_DIR_OUT, &rb));
    /* A's slot, first looked at, is pinned by the late thread (sad_pin):
     * B goes elsewhere.  Before pins, B was where A was. */
    CHECK(rb.slot != ra.slot);
    seal_into(tx, SPI_B, LANE_BLOCK, head, &n);
    mine = lane_of(head[0]);
    atomic_store(&stop_go, 1);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(late.rc == -1);            /* A is gone */
    seal_into(tx, SPI_B, LANE_BLOCK - 1U, head, &n);
    /* Every other lane held, the next process gets this one's. */
    for (int i = 0; i < OTHERS; i++) {
        other[i] = zesp_sad_open(test_path_in(dir, "replaced.sad"), 0, NULL);
        CHECK(other[i] != NULL);
        seal_into(other[i], SPI_B, 1, head, &n);
    }
    zesp_sad_free(tx);
    next = zesp_sad_open(test_path_in(dir, "replaced.sad"), 0, NULL);
    CHECK(next != NULL);
    seal_into(next, SPI_B, LANE_BLOCK, head, &n);
    CHECK(n == FRAMES);
    CHECK(lane_of(head[n - 1]) == mine);
    for (size_t i = 0; i < n; i++)
        frames[i] = head[i];
    dup = test_repeated_ivs(frames, n, true);
    if (dup != 0)
        fprintf(stderr, "  %ld (SPI, IV) of B sealed twice\n", dup);
    CHECK(dup == 0);
    zesp_sad_free(next);
    for (int i = 0; i < OTHERS; i++)
        zesp_sad_free(other[i]);
}

/* A new SAD name holding the SA p and n handles on it (h[0] made it),
 * each a file description of its own, hence a lane of its own: 0, or -1
 * if it could not be made. */
static int open_handles(const char *name, const zesp_sa_params *p,
                        zesp_sad *h[], int n)
{
    unlink(test_path_in(dir, name));
    h[0] = zesp_sad_open(test_path_in(dir, name), ZESP_SAD_CREATE, NULL);
    CHECK(h[0] != NULL);
    if (h[0] == NULL)
        return -1;
    CHECK_OK(zesp_sa_add(h[0], p));
    for (int i = 1; i < n; i++)
        CHECK((h[i] = zesp_sad_open(test_path_in(dir, name), 0, NULL)) !=
              NULL);
    return 0;
}

/* Every handle but the last seals one message, taking a lane each (as
 * that many processes would): how many did. */
static int all_but_last_take_a_lane(zesp_sad *h[], int n,
                                    const zesp_parts *parts)
{
    uint8_t *esp = NULL;
    size_t len = 0;
    int sealed = 0;

    for (int i = 0; i + 1 < n; i++)
        if (h[i] != NULL && zesp_seal(h[i], LANES_SPI, parts, &esp,
                                      &len) == 0) {
            sealed++;
            zesp_buf_free(esp);
        }
    return sealed;
}

/* Every lane held (63 handles on one SAD, each a lane of its own, as 63
 * processes would): a 64th sender is refused with ZESP_ELANES, having
 * sealed nothing.  Before, each refusal was charged to the SA's lifetimes
 * as a message sent and never given back: the SA's count of messages sent
 * grew with every refused try, and its hard limit of 64 messages was
 * reached after 63 (a sender retrying in a loop hard-expired the SA for
 * every other one). */
static void test_refused_lane_charges_nothing(void)
{
    enum { HANDLES = ZESP_LANES_MAX, TRIES = 5 };
    zesp_sad *h[HANDLES] = { NULL };
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_frame body = { "lane", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t len = 0;
    int sealed = 0, refused = 0;

    p.hard.messages = HANDLES;
    if (open_handles("full.sad", &p, h, HANDLES) != 0)
        return;
    /* Lanes 1 to 63, one per handle. */
    sealed = all_but_last_take_a_lane(h, HANDLES, &parts);
    CHECK(sealed == HANDLES - 1);
    for (int t = 0; t < TRIES && h[HANDLES - 1] != NULL; t++)
        if (zesp_seal(h[HANDLES - 1], LANES_SPI, &parts, &esp, &len) != 0 &&
            errno == ZESP_ELANES)
            refused++;
    CHECK(refused == TRIES);
    CHECK_OK(zesp_sa_info_get(h[0], LANES_SPI, ZESP_DIR_OUT, &info));
    printf("     %d sealed, %d refused for want of a lane: the SA counts "
           "%llu sent\n", sealed, refused,
           (unsigned long long)info.stats.messages);
    CHECK(info.stats.messages == (uint64_t)sealed);
    /* The 64th message is the SA's last under its hard limit. */
    CHECK_OK(zesp_seal(h[0], LANES_SPI, &parts, &esp, &len));
    zesp_buf_free(esp);
    for (int i = 0; i < HANDLES; i++)
        zesp_sad_free(h[i]);
}

/* Every lane held, as above: the sender with none is held up as it goes
 * to take one (its handle's lanes lock) while another sends the last
 * message the hard limit allows; then it is refused (ZESP_ELANES).  The
 * last message goes out, and the SA counts the limit's messages sent.
 * Before, the held sender had been charged already: the last message
 * found the limit passed, was refused and stopped the SA, which was left
 * one message short of its limit once the refused charge was given back. */
static void test_lane_wait_charges_nothing(void)
{
    enum { HANDLES = ZESP_LANES_MAX };
    zesp_sad *h[HANDLES] = { NULL };
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_frame body = { "lane", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    struct sealer held = { NULL, -2 };
    struct timespec ms = { 0, 1000000 };
    double until = test_now() + test_ms(10000) / 1e3;
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t len = 0;
    int last, last_err;
    pthread_t t;

    p.hard.messages = HANDLES;
    if (open_handles("held.sad", &p, h, HANDLES) != 0)
        return;
    CHECK(all_but_last_take_a_lane(h, HANDLES, &parts) == HANDLES - 1);
    if (h[HANDLES - 1] == NULL)
        goto out;
    atomic_store(&stop_in, 0);
    atomic_store(&stop_go, 0);
    atomic_store(&stop_at, &h[HANDLES - 1]->lanes_lock);
    held.sad = h[HANDLES - 1];
    CHECK(pthread_create(&t, NULL, seal_once, &held) == 0);
    while (!atomic_load(&stop_in) && test_now() < until)
        nanosleep(&ms, NULL);
    CHECK(atomic_load(&stop_in));
    errno = 0;
    last = zesp_seal(h[0], LANES_SPI, &parts, &esp, &len);
    last_err = errno;
    if (last == 0)
        zesp_buf_free(esp);
    atomic_store(&stop_go, 1);
    CHECK(pthread_join(t, NULL) == 0);
    atomic_store(&stop_at, NULL);
    atomic_store(&stop_in, 0);
    atomic_store(&stop_go, 0);
    CHECK_OK(zesp_sa_info_get(h[0], LANES_SPI, ZESP_DIR_OUT, &info));
    printf("     last message: %s; held sender: %s; the SA counts %llu "
           "sent of %d\n", last ? zesp_strerror(last_err) : "sent",
           held.rc ? "refused" : "sent",
           (unsigned long long)info.stats.messages, HANDLES);
    CHECK(last == 0);
    CHECK(held.rc == -1);
    CHECK(info.stats.messages == HANDLES);
    /* And the limit holds. */
    CHECK_ERR(zesp_seal(h[1], LANES_SPI, &parts, &esp, &len), ZESP_EEXPIRED);
out:
    for (int i = 0; i < HANDLES; i++)
        zesp_sad_free(h[i]);
}

/* One seal on the lanes SA of a handle: its lane, 0 if refused. */
static uint32_t seal_lane(zesp_sad *h)
{
    zesp_frame body = { "lane", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp = NULL;
    size_t len = 0;
    uint32_t lane;

    if (h == NULL || zesp_seal(h, LANES_SPI, &parts, &esp, &len) != 0)
        return 0;
    lane = lane_of(esp);
    zesp_buf_free(esp);
    return lane;
}

/* --seal-and-die's child: count seals on its own handle, then gone
 * without closing it, as a process killed is: its lane goes with it, and
 * nothing marks it let go. */
static int seal_and_die(const char *sad_name, long count)
{
    zesp_sad *h = zesp_sad_open(test_path_in(dir, sad_name), 0, NULL);

    for (long i = 0; i < count; i++)
        if (seal_lane(h) == 0)
            _exit(1);
    _exit(0);
}

static int spawn_seal_and_die(const char *sad_name, long count)
{
    char a_count[32];
    char *argv[] = { "test_lanes", "--seal-and-die", dir, (char *)sad_name,
                     a_count, NULL };

    snprintf(a_count, sizeof a_count, "%ld", count);
    return test_wait_status(test_spawn_self(argv)) == 0;
}

/* The lane let go last is taken last.  Lanes were ordered by the second of
 * their last block: every lane of a busy SA was as old as the others, and
 * the lowest numbered won, often the lane a process had just let go,
 * whose last messages the receiver may not have read yet: the new holder's
 * higher numbers pushed them below the lane's window (test_many_senders
 * failed so about once in fifteen runs under load: 305 to 3,500 genuine
 * messages refused).  Now the slot counts its lane uses: a block taken, a
 * handle closed. */
static void test_lane_let_go_taken_last(void)
{
    enum { HANDLES = ZESP_LANES_MAX - 1 };
    zesp_sad *h[HANDLES] = { NULL }, *late;
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    uint32_t lane[HANDLES], got, again;
    int ok = 1;

    /* Closed handles: a holder closes lane 10, then one closes lane 5. */
    if (open_handles("order.sad", &p, h, HANDLES) != 0)
        return;
    for (int i = 0; i < HANDLES; i++)
        ok &= (lane[i] = seal_lane(h[i])) == (uint32_t)i + 1U;
    CHECK(ok);                          /* never used, lowest first */
    zesp_sad_free(h[9]);
    zesp_sad_free(h[4]);
    h[9] = h[4] = NULL;
    late = zesp_sad_open(test_path_in(dir, "order.sad"), 0, NULL);
    got = seal_lane(late);
    again = seal_lane(h[4] = zesp_sad_open(test_path_in(dir, "order.sad"), 0,
                                           NULL));
    printf("     lanes 10 then 5 let go: the next two processes take %u "
           "then %u\n", got, again);
    CHECK(got == lane[9]);
    CHECK(again == lane[4]);

    /* Killed holders: nothing marks their lanes let go, their last block
     * says when they were used.  Lanes 5 then 63 let go; a process dies in
     * 5, one in 63, then one takes 5 again and a second block in it before
     * it dies: lane 63 is the one used longest ago. */
    zesp_sad_free(h[4]);
    zesp_sad_free(h[62]);
    h[4] = h[62] = NULL;
    CHECK(spawn_seal_and_die("order.sad", 1));
    CHECK(spawn_seal_and_die("order.sad", 1));
    CHECK(spawn_seal_and_die("order.sad", LANE_BLOCK + 1));
    zesp_sad_free(late);            /* lane 10: let go last */
    late = zesp_sad_open(test_path_in(dir, "order.sad"), 0, NULL);
    got = seal_lane(late);
    printf("     killed in lanes 5, 63, then 5 after a second block: the "
           "next takes %u\n", got);
    CHECK(got == lane[62]);
    zesp_sad_free(late);
    for (int i = 0; i < HANDLES; i++)
        zesp_sad_free(h[i]);
}

/* An SA put in the file by a library before the order (an upgrade with
 * the SAD kept): each lane's use is the second of its last block, and
 * the slot's count 0.  A lane let go now is still taken after every lane
 * that library used.  Before, those seconds read as newer than any count:
 * the lane just let go was taken again. */
static void test_lane_seconds_of_an_older_library(void)
{
    zesp_sa_params p = test_sa(LANES_SPI, ZESP_DIR_OUT, 0, ZESP_SA_LANES);
    zesp_sad *a, *b;
    struct sa_ref ref;
    uint32_t first, next;

    unlink(test_path_in(dir, "older.sad"));
    a = zesp_sad_open(test_path_in(dir, "older.sad"), ZESP_SAD_CREATE, NULL);
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK_OK(zesp_sa_add(a, &p));
    CHECK_OK(sad_find(a, LANES_SPI, ZESP_DIR_OUT, &ref));
    for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
        atomic_store(&ref.slot->lane_used[l], sad_now());
    atomic_store(&ref.slot->lane_used[0], 0);
    first = seal_lane(a);
    zesp_sad_free(a);                   /* its lane let go */
    b = zesp_sad_open(test_path_in(dir, "older.sad"), 0, NULL);
    next = seal_lane(b);
    printf("     every lane stamped by an older library, lane %u let go: "
           "the next process takes %u\n", first, next);
    CHECK(first != 0 && next != 0);
    CHECK(next != first);
    zesp_sad_free(b);
}

int main(int argc, char **argv)
{
    /* spawn_sender's child: --sender DIR SAD ENDPOINT ID COUNT SIZE FD */
    if (argc == 9 && strcmp(argv[1], "--sender") == 0) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return zesp_init() != 0 ? 2
               : sender(argv[3], argv[4], (uint32_t)strtoul(argv[5], NULL, 10),
                        strtol(argv[6], NULL, 10),
                        (size_t)strtoul(argv[7], NULL, 10),
                        (int)strtol(argv[8], NULL, 10));
    }
    /* test_lane_window_is_no_sa's writer: --die-deleting DIR SAD */
    if (argc == 4 && strcmp(argv[1], "--die-deleting") == 0) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return zesp_init() != 0 ? 2 : die_deleting(argv[3]);
    }
    /* test_lane_let_go_taken_last's killed holder: --seal-and-die DIR SAD N */
    if (argc == 5 && strcmp(argv[1], "--seal-and-die") == 0) {
        snprintf(dir, sizeof dir, "%s", argv[2]);
        return zesp_init() != 0 ? 2
               : seal_and_die(argv[3], strtol(argv[4], NULL, 10));
    }
    test_self(argv[0]);
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "lanes") != 0)
        return 2;
    RUN(test_many_senders);
    RUN(test_kill_minus_nine);
    RUN(test_forked_child_own_lane);
    RUN(test_fork_before_first_send);
    RUN(test_fork_while_taking_lane);
    RUN(test_child_keeps_no_lane);
    RUN(test_fork_without_handlers);
    RUN(test_child_elsewhere);
    RUN(test_child_after_rename);
    RUN(test_lane_of_a_replaced_sa);
    RUN(test_without_lanes_and_delete);
    RUN(test_lane_window_is_no_sa);
    RUN(test_refused_lane_charges_nothing);
    RUN(test_lane_wait_charges_nothing);
    RUN(test_lane_let_go_taken_last);
    RUN(test_lane_seconds_of_an_older_library);
    return test_done_in(dir);
}
