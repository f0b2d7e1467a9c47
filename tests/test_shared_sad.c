/*
 * The shared SAD: a file mapped by many processes.  Creation and
 * permissions, refusal of damaged files, 4 processes sending on one SA
 * with no sequence number reused, 4 processes receiving on one SA with no
 * message accepted twice, 100,000 SAs, policies and ACQUIRE, and kill -9
 * of writers at random instants leaving the SAD consistent.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "test.h"
#include "zesp.h"

enum { PROCS = 4, PER_PROC = 2000 };

static char dir[256];

static const char *sad_path(const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int wait_child(pid_t pid)
{
    int status = 0;

    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_create_and_modes(void)
{
    zesp_sad_opts group = { .mode = 0660 };
    struct stat st;
    zesp_sad *a, *b, *c;
    zesp_sa_params p = test_sa(0x3001, ZESP_DIR_IN, 0, 0);
    zesp_sa_info info;

    CHECK(zesp_sad_open(sad_path("missing"), 0, NULL) == NULL &&
          errno == ENOENT);
    a = zesp_sad_open(sad_path("modes"), ZESP_SAD_CREATE, NULL);
    CHECK(a != NULL);
    CHECK(stat(sad_path("modes"), &st) == 0 && (st.st_mode & 0777) == 0600);
    c = zesp_sad_open(sad_path("group"), ZESP_SAD_CREATE, &group);
    CHECK(stat(sad_path("group"), &st) == 0 && (st.st_mode & 0777) == 0660);
    /* A second handle on the same file sees the same SAs at once. */
    b = zesp_sad_open(sad_path("modes"), 0, NULL);
    CHECK(b != NULL);
    CHECK_OK(zesp_sa_add(a, &p));
    CHECK_OK(zesp_sa_info_get(b, 0x3001, ZESP_DIR_IN, &info));
    CHECK(strcmp(zesp_sad_path(b), sad_path("modes")) == 0);
    CHECK_OK(zesp_sa_del(b, 0x3001, ZESP_DIR_IN));
    CHECK_ERR(zesp_sa_info_get(a, 0x3001, ZESP_DIR_IN, &info), ZESP_ENOSA);
    CHECK_OK(zesp_sad_verify(a));
    zesp_sad_free(a);
    zesp_sad_free(b);
    zesp_sad_free(c);
}

/* Keys stay in the file when a process closes its handle. */
static void test_keys_survive_close(void)
{
    zesp_sa_params p = test_sa(0x3002, ZESP_DIR_OUT, 0, 0);
    uint8_t key[ZESP_KEYBYTES];
    zesp_sad *a = zesp_sad_open(sad_path("keys"), ZESP_SAD_CREATE, NULL);

    CHECK_OK(zesp_sa_add(a, &p));
    zesp_sad_free(a);
    a = zesp_sad_open(sad_path("keys"), 0, NULL);
    CHECK_OK(zesp_sa_key_get(a, 0x3002, ZESP_DIR_OUT, key));
    CHECK(memcmp(key, p.key, sizeof key) == 0);
    zesp_sad_free(a);
}

static void write_at(const char *path, off_t off, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY);

    CHECK(fd >= 0 && pwrite(fd, data, n, off) == (ssize_t)n);
    close(fd);
}

/* Damaged, foreign, truncated and other-version files are refused. */
static void test_damaged_files_refused(void)
{
    const char *path = sad_path("damaged");
    zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
    struct stat st;
    uint32_t v = 99;
    uint8_t byte = 0x5a;

    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(stat(path, &st) == 0);

    CHECK(truncate(path, st.st_size - 4096) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADSIZE);
    CHECK(truncate(path, 0) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADSIZE);
    CHECK(truncate(path, 100) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_EBADSAD);
    unlink(path);

    /* Each field of the layout: any change is seen. */
    for (off_t off = 0; off < 96; off += 4) {
        sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
        zesp_sad_free(sad);
        write_at(path, off, &byte, 1);
        sad = zesp_sad_open(path, 0, NULL);
        CHECK(sad == NULL &&
              (errno == ZESP_EBADSAD || errno == ZESP_ESADVERSION));
        zesp_sad_free(sad);
        unlink(path);
    }
    sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
    zesp_sad_free(sad);
    write_at(path, 8, &v, sizeof v);     /* the version field */
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADVERSION);
    unlink(path);

    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    char junk[8192];
    randombytes_buf(junk, sizeof junk);
    CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
    close(fd);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_EBADSAD);
    CHECK(zesp_sad_open(dir, 0, NULL) == NULL);
    unlink(path);
}

/* Child: open the SAD by path, seal PER_PROC messages, write their
 * sequence numbers to fd.  The children of this file release what they
 * inherited from the parent (its SAD handles, sealed messages) and what
 * they made before they exit. */
static int seal_child(zesp_sad *parent, int fd)
{
    zesp_sad *sad = zesp_sad_open(sad_path("shared"), 0, NULL);
    zesp_frame body = { "x", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    int rc = sad == NULL ? 1 : 0;

    zesp_sad_free(parent);
    for (int i = 0; i < PER_PROC && rc == 0; i++) {
        uint8_t *esp;
        size_t n;
        uint32_t seq;
        if (zesp_seal(sad, 0x4001, &parts, &esp, &n) != 0) {
            rc = 2;
            break;
        }
        memcpy(&seq, esp + 4, 4);
        if (write(fd, &seq, 4) != 4)
            rc = 3;
        zesp_buf_free(esp);
    }
    zesp_sad_free(sad);
    return rc;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void test_four_senders_one_sa(void)
{
    zesp_sad *sad = zesp_sad_open(sad_path("shared"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params p = test_sa(0x4001, ZESP_DIR_OUT, 0, 0);
    static uint32_t seqs[PROCS * PER_PROC];
    pid_t pid[PROCS];
    int fds[2], dup = 0;
    size_t got = 0;

    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    for (int i = 0; i < PROCS; i++)
        if ((pid[i] = fork()) == 0)
            _exit(seal_child(sad, fds[1]));
    close(fds[1]);
    for (ssize_t r; (r = read(fds[0], (uint8_t *)seqs + got,
                              sizeof seqs - got)) > 0;)
        got += (size_t)r;
    close(fds[0]);
    for (int i = 0; i < PROCS; i++)
        CHECK(wait_child(pid[i]) == 0);
    CHECK(got == sizeof seqs);
    qsort(seqs, PROCS * PER_PROC, sizeof seqs[0], cmp_u32);
    for (int i = 1; i < PROCS * PER_PROC; i++)
        dup += seqs[i] == seqs[i - 1];
    CHECK(dup == 0);
    zesp_sa_info info;
    CHECK_OK(zesp_sa_info_get(sad, 0x4001, ZESP_DIR_OUT, &info));
    CHECK(info.seq == PROCS * PER_PROC && info.stats.messages == info.seq);
    zesp_sad_free(sad);
}

/* Child: try to open every message, in its own order; write the index of
 * each one it accepted to fd. */
static int open_child(zesp_sad *parent_in, zesp_sad *parent_out, int id,
                      int fd, uint8_t **esp, size_t *n, int count)
{
    zesp_sad *sad = zesp_sad_open(sad_path("recv"), 0, NULL);
    zesp_msg *msg = zesp_msg_new();
    uint8_t *copy = malloc(4096);
    int rc = sad == NULL || msg == NULL || copy == NULL ? 1 : 0;

    zesp_sad_free(parent_in);
    zesp_sad_free(parent_out);
    for (int k = 0; k < count && rc == 0; k++) {
        int j = (k * (2 * id + 1) + id * 131) % count;
        memcpy(copy, esp[j], n[j]);
        if (zesp_open(sad, NULL, 0, copy, n[j], msg) == 0 &&
            write(fd, &j, sizeof j) != (ssize_t)sizeof j)
            rc = 2;
    }
    for (int k = 0; k < count; k++)
        zesp_buf_free(esp[k]);
    free(copy);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return rc;
}

static void test_four_receivers_one_sa(void)
{
    enum { COUNT = 3001 };   /* odd: each child's stride covers every one */
    zesp_sad_opts opts = { .max_replay_window = ZESP_REPLAY_WINDOW_MAX };
    zesp_sad *in = zesp_sad_open(sad_path("recv"), ZESP_SAD_CREATE, &opts);
    zesp_sad *out = zesp_sad_new(NULL);
    zesp_sa_params pi = test_sa(0x5001, ZESP_DIR_IN, 0, 0);
    zesp_sa_params po = test_sa(0x5001, ZESP_DIR_OUT, 0, 0);
    zesp_frame body = { "once", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    static uint8_t *esp[COUNT];
    static size_t n[COUNT];
    static int times[COUNT];
    pid_t pid[PROCS];
    int fds[2], j, total = 0, twice = 0;

    pi.replay_window = ZESP_REPLAY_WINDOW_MAX;
    CHECK_OK(zesp_sa_add(in, &pi));
    CHECK_OK(zesp_sa_add(out, &po));
    for (int i = 0; i < COUNT; i++)
        CHECK_OK(zesp_seal(out, 0x5001, &parts, &esp[i], &n[i]));
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    for (int i = 0; i < PROCS; i++)
        if ((pid[i] = fork()) == 0)
            _exit(open_child(in, out, i, fds[1], esp, n, COUNT));
    close(fds[1]);
    while (read(fds[0], &j, sizeof j) == (ssize_t)sizeof j)
        if (j >= 0 && j < COUNT)
            times[j]++;
    close(fds[0]);
    for (int i = 0; i < PROCS; i++)
        CHECK(wait_child(pid[i]) == 0);
    for (int i = 0; i < COUNT; i++) {
        total += times[i];
        twice += times[i] > 1;
        zesp_buf_free(esp[i]);
    }
    CHECK(twice == 0);
    CHECK(total == COUNT);   /* the window holds them all: each exactly once */
    zesp_sa_info info;
    CHECK_OK(zesp_sa_info_get(in, 0x5001, ZESP_DIR_IN, &info));
    CHECK(info.stats.messages == COUNT);
    CHECK(info.stats.rejected_replay == (PROCS - 1) * COUNT);
    zesp_sad_free(in);
    zesp_sad_free(out);
}

/* Open a copy of a sealed frame (zesp_open decrypts in place). */
static int open_frame(zesp_sad *sad, const uint8_t *esp, size_t n,
                      zesp_msg *msg, uint8_t *copy)
{
    memcpy(copy, esp, n);
    return zesp_open(sad, NULL, 0, copy, n, msg);
}

/* Two subscribers on one host each accept every message with their own
 * windows (ZESP_SAD_OWN_WINDOWS) and still refuse a replay; without the
 * flag the host's processes share one window: once per host. */
static void test_own_windows(void)
{
    enum { COUNT = 200 };
    zesp_sad *host = zesp_sad_open(sad_path("own"), ZESP_SAD_CREATE, NULL);
    zesp_sad *sub1 = zesp_sad_open(sad_path("own"), ZESP_SAD_OWN_WINDOWS, NULL);
    zesp_sad *sub2 = zesp_sad_open(sad_path("own"), ZESP_SAD_OWN_WINDOWS, NULL);
    zesp_sad *worker = zesp_sad_open(sad_path("own"), 0, NULL);
    zesp_sad *out = zesp_sad_new(NULL);
    zesp_sa_params pi = test_sa(0x6001, ZESP_DIR_IN, 0, 0);
    zesp_sa_params po = test_sa(0x6001, ZESP_DIR_OUT, 0, 0);
    zesp_frame body = { "fan-out", 7 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    static uint8_t copy[256];
    int both = 0, shared_first = 0, shared_again = 0, replays = 0;
    zesp_sa_info info;

    CHECK(host && sub1 && sub2 && worker && out && msg);
    if (!host || !sub1 || !sub2 || !worker || !out || !msg)
        return;
    CHECK_OK(zesp_sa_add(host, &pi));
    CHECK_OK(zesp_sa_add(out, &po));
    for (int i = 0; i < COUNT; i++) {
        uint8_t *esp;
        size_t n;
        CHECK_OK(zesp_seal(out, 0x6001, &parts, &esp, &n));
        both += open_frame(sub1, esp, n, msg, copy) == 0 &&
                open_frame(sub2, esp, n, msg, copy) == 0;
        replays += open_frame(sub1, esp, n, msg, copy) == -1 &&
                   errno == ZESP_EREPLAY;
        shared_first += open_frame(worker, esp, n, msg, copy) == 0;
        shared_again += open_frame(host, esp, n, msg, copy) == 0;
        zesp_buf_free(esp);
    }
    CHECK(both == COUNT);
    CHECK(replays == COUNT);
    CHECK(shared_first == COUNT && shared_again == 0);
    CHECK_OK(zesp_sa_info_get(host, 0x6001, ZESP_DIR_IN, &info));
    CHECK(info.stats.messages == 3 * COUNT);   /* counters stay shared */
    /* A new SA in the slot starts a fresh window of this process. */
    CHECK_OK(zesp_sa_del(host, 0x6001, ZESP_DIR_IN));
    CHECK_OK(zesp_sa_add(host, &pi));
    {
        uint8_t *esp;
        size_t n;
        zesp_sad *out2 = zesp_sad_new(NULL);
        CHECK_OK(zesp_sa_add(out2, &po));
        CHECK_OK(zesp_seal(out2, 0x6001, &parts, &esp, &n));
        CHECK_OK(open_frame(sub1, esp, n, msg, copy));
        zesp_buf_free(esp);
        zesp_sad_free(out2);
    }
    zesp_msg_free(msg);
    zesp_sad_free(sub1);
    zesp_sad_free(sub2);
    zesp_sad_free(worker);
    zesp_sad_free(host);
    zesp_sad_free(out);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 100,000 SAs: all installed, each found, lookup as fast as with one. */
static void test_hundred_thousand_sas(void)
{
    enum { N = 100000 };
    zesp_sad_opts opts = { .capacity = N, .max_replay_window = 64 };
    zesp_sad *sad = zesp_sad_open(sad_path("big"), ZESP_SAD_CREATE, &opts);
    zesp_sa_info info;
    int missing = 0;

    CHECK(sad != NULL);
    if (sad == NULL)
        return;
    for (uint32_t i = 0; i < N; i++) {
        zesp_sa_params p = test_sa(0x10000000U + i * 2654435761U % 0x0fffffffU,
                                   ZESP_DIR_IN, 0, 0);
        p.replay_window = 64;
        if (zesp_sa_add(sad, &p) != 0)
            missing++;
    }
    CHECK(missing == 0);
    double t0 = now_s();
    for (uint32_t i = 0; i < N; i++)
        missing += zesp_sa_info_get(sad, 0x10000000U +
                                             i * 2654435761U % 0x0fffffffU,
                                    ZESP_DIR_IN, &info) != 0;
    double per = (now_s() - t0) / N * 1e9;
    CHECK(missing == 0);
    printf("  100000 SAs: %.0f ns per lookup (with info copy)\n", per);
    zesp_sa_params extra = test_sa(7, ZESP_DIR_IN, 0, 0);
    extra.replay_window = 64;
    CHECK_ERR(zesp_sa_add(sad, &extra), ZESP_EFULL);
    CHECK_OK(zesp_sad_verify(sad));
    zesp_sad_free(sad);
    unlink(sad_path("big"));
}

/* Policies: send on a name; none -> ACQUIRE; rekey swaps atomically. */
struct later {
    zesp_sad *sad;
    uint32_t spi;
};

/* The daemon's part: once the sender waits (it raised ACQUIRE), install
 * an SA for the policy. */
static void *install_later(void *arg)
{
    struct later *l = arg;
    zesp_sa_params p = test_sa(l->spi, ZESP_DIR_OUT, 0, 0);
    zesp_policy pol;

    for (int ms = 0; ms < test_ms(30000); ms++) {
        if (zesp_policy_get(l->sad, "payments", &pol) == 0 && pol.acquire)
            break;
        usleep(1000);
    }
    zesp_sa_add(l->sad, &p);
    zesp_policy_set_out(l->sad, "payments", l->spi);
    return NULL;
}

static void test_policies_and_acquire(void)
{
    zesp_sad *sad = zesp_sad_open(sad_path("spd"), ZESP_SAD_CREATE, NULL);
    zesp_sad *in = zesp_sad_new(NULL);
    zesp_policy pol, got;
    void *ctx = zmq_ctx_new();
    void *a = zmq_socket(ctx, ZMQ_PAIR), *b = zmq_socket(ctx, ZMQ_PAIR);
    zesp_frame body = { "pay", 3 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    pthread_t th;

    zmq_bind(a, "inproc://spd");
    zmq_connect(b, "inproc://spd");
    memset(&pol, 0, sizeof pol);
    strcpy(pol.name, "payments");
    strcpy(pol.peer, "bank");
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_ERR(zesp_send_policy(sad, "nothing", b, &parts, 0), ZESP_ENOPOLICY);
    CHECK_ERR(zesp_send_policy(sad, "payments", b, &parts, 0), ZESP_EACQUIRE);
    CHECK_OK(zesp_policy_get(sad, "payments", &got));
    CHECK(got.acquire != 0 && got.out_spi == 0 && strcmp(got.peer, "bank") == 0);

    /* A sender that waits gets through once the daemon installs an SA. */
    struct later l = { sad, 0x6001 };
    CHECK_OK(zesp_policy_acquire_done(sad, "payments"));
    zesp_sad_set_acquire_timeout(sad, (uint32_t)test_ms(30000));
    pthread_create(&th, NULL, install_later, &l);
    CHECK_OK(zesp_send_policy(sad, "payments", b, &parts, 0));
    pthread_join(th, NULL);
    CHECK_OK(zesp_policy_get(sad, "payments", &got));
    CHECK(got.acquire == 0 && got.out_spi == 0x6001);

    /* Rekey: a new outbound SA, swapped in; the receiver holds both. */
    zesp_sa_params in1 = test_sa(0x6001, ZESP_DIR_IN, 0, 0);
    zesp_sa_params in2 = test_sa(0x6002, ZESP_DIR_IN, 0, 0);
    zesp_sa_params out2 = test_sa(0x6002, ZESP_DIR_OUT, 0, 0);
    CHECK_OK(zesp_sa_add(in, &in1));
    CHECK_OK(zesp_sa_add(in, &in2));
    CHECK_OK(zesp_recv(in, a, msg, 0));
    CHECK(zesp_msg_spi(msg) == 0x6001);
    CHECK_OK(zesp_sa_add(sad, &out2));
    CHECK_OK(zesp_policy_set_out(sad, "payments", 0x6002));
    CHECK_OK(zesp_send_policy(sad, "payments", b, &parts, 0));
    CHECK_OK(zesp_recv(in, a, msg, 0));
    CHECK(zesp_msg_spi(msg) == 0x6002);
    /* zesp_seal_policy: the same SA, without a socket. */
    {
        uint8_t *esp;
        size_t n;
        CHECK_ERR(zesp_seal_policy(sad, "nothing", &parts, &esp, &n, 0),
                  ZESP_ENOPOLICY);
        CHECK_ERR(zesp_seal_policy(sad, "payments", &parts, NULL, &n, 0),
                  EINVAL);
        CHECK_OK(zesp_seal_policy(sad, "payments", &parts, &esp, &n, 0));
        CHECK_OK(zesp_open(in, NULL, 0, esp, n, msg));
        CHECK(zesp_msg_spi(msg) == 0x6002 && zesp_msg_seq(msg) == 2);
        zesp_buf_free(esp);
    }

    /* An expired SA behind a policy raises ACQUIRE again. */
    CHECK_OK(zesp_sa_del(sad, 0x6002, ZESP_DIR_OUT));
    zesp_sad_set_acquire_timeout(sad, 0);
    CHECK_ERR(zesp_send_policy(sad, "payments", b, &parts, 0), ZESP_EACQUIRE);
    CHECK_OK(zesp_policy_acquire_done(sad, "payments"));
    {
        uint8_t *esp = (uint8_t *)&esp;
        size_t n = 1;
        CHECK_ERR(zesp_seal_policy(sad, "payments", &parts, &esp, &n,
                                   ZESP_DONTWAIT), ZESP_EACQUIRE);
        CHECK(esp == NULL && n == 0);
        CHECK_OK(zesp_policy_set_out(sad, "payments", 0));
        esp = (uint8_t *)&esp;
        n = 1;
        CHECK_ERR(zesp_seal_policy(sad, "payments", &parts, &esp, &n,
                                   ZESP_DONTWAIT), ZESP_EACQUIRE);
        CHECK(esp == NULL && n == 0);
        CHECK_OK(zesp_policy_get(sad, "payments", &got));
        CHECK(got.acquire != 0);
        CHECK_OK(zesp_policy_acquire_done(sad, "payments"));
    }
    CHECK_OK(zesp_policy_del(sad, "payments"));
    CHECK_ERR(zesp_policy_get(sad, "payments", &got), ZESP_ENOPOLICY);
    strcpy(pol.name, "bad name");
    CHECK_ERR(zesp_policy_set(sad, &pol), EINVAL);
    /* An inbound SPI listed twice (as zesp load refuses it): the SA meant
     * in the second place is on no policy; the policy is not made. */
    strcpy(pol.name, "twice");
    pol.in_spi[0] = pol.in_spi[2] = 0x6001;
    CHECK_ERR(zesp_policy_set(sad, &pol), EINVAL);
    CHECK_ERR(zesp_policy_get(sad, "twice", &got), ZESP_ENOPOLICY);
    pol.in_spi[2] = 0x6002;
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_OK(zesp_sad_flush(sad));
    CHECK_OK(zesp_sad_verify(sad));
    zesp_msg_free(msg);
    zmq_close(a);
    zmq_close(b);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    zesp_sad_free(in);
}

/* The key daemon rewrites a policy (zesp_policy_set, as on every rekey)
 * while a process looks it up and seals on it: a lookup never misses the
 * policy mid-rewrite (it waits for the writer), so no send is lost to
 * ZESP_ENOPOLICY. */
struct rewriter {
    const char *path;
    atomic_int stop;
    atomic_long writes;
};

static void *rewrite_policy(void *arg)
{
    struct rewriter *r = arg;
    zesp_sad *sad = zesp_sad_open(r->path, 0, NULL);
    zesp_policy pol;

    memset(&pol, 0, sizeof pol);
    strcpy(pol.name, "rekeyed");
    strcpy(pol.peer, "bank");
    pol.out_spi = 0x6101;
    for (long i = 0; sad != NULL && !atomic_load(&r->stop); i++) {
        pol.in_spi[0] = 0x6101;
        pol.in_spi[1] = (uint32_t)(i & 1) ? 0x6102 : 0;
        if (zesp_policy_set(sad, &pol) == 0)
            atomic_fetch_add(&r->writes, 1);
    }
    zesp_sad_free(sad);
    return NULL;
}

static void test_policy_read_during_rewrite(void)
{
    struct rewriter r = { sad_path("rewrite"), 0, 0 };
    zesp_sad *sad = zesp_sad_open(r.path, ZESP_SAD_CREATE, NULL);
    zesp_sa_params out = test_sa(0x6101, ZESP_DIR_OUT, 0, 0);
    zesp_frame body = { "pay", 3 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_policy pol;
    long lookups = 0, missed = 0;
    pthread_t th;

    memset(&pol, 0, sizeof pol);
    strcpy(pol.name, "rekeyed");
    pol.out_spi = 0x6101;
    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK(pthread_create(&th, NULL, rewrite_policy, &r) == 0);
    /* Lookups while the writer writes, until both have done many (under
     * valgrind the threads take turns); then the writer stops. */
    while (lookups < 100000 || atomic_load(&r.writes) < 2000) {
        uint8_t *esp;
        size_t n;

        missed += zesp_policy_get(sad, "rekeyed", &pol) != 0;
        if (zesp_seal_policy(sad, "rekeyed", &parts, &esp, &n,
                             ZESP_DONTWAIT) == 0)
            zesp_buf_free(esp);
        else
            missed++;
        lookups += 2;
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    CHECK(atomic_load(&r.writes) >= 2000 && missed == 0);
    if (test_case_failed)
        fprintf(stderr, "  %ld of %ld lookups missed the policy during "
                "%ld rewrites\n", missed, lookups, atomic_load(&r.writes));
    zesp_sad_free(sad);
    unlink(r.path);
}

static int file_contains(const char *path, const uint8_t *needle, size_t n)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf;
    size_t len, found = 0;

    if (f == NULL || fstat(fileno(f), &st) != 0 ||
        (buf = malloc((size_t)st.st_size)) == NULL) {
        if (f)
            fclose(f);
        return -1;
    }
    len = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    for (size_t i = 0; i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return (int)found;
}

/* Hard-expired SAs are removed and their keys wiped in the file. */
static void test_expire_wipes_keys(void)
{
    const char *path = sad_path("expire");
    zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
    zesp_sa_params p = test_sa(0x8001, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params q = test_sa(0x8002, ZESP_DIR_OUT, 0, 0);
    zesp_frame body = { "e", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_sa_info info;
    uint8_t *esp;
    size_t n;

    randombytes_buf(p.key, sizeof p.key);
    randombytes_buf(q.key, sizeof q.key);
    p.hard.messages = 2;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_sa_add(sad, &q));
    CHECK(file_contains(path, p.key, 32) == 1);
    for (int i = 0; i < 3; i++)
        if (zesp_seal(sad, 0x8001, &parts, &esp, &n) == 0)
            zesp_buf_free(esp);
    CHECK_OK(zesp_sa_info_get(sad, 0x8001, ZESP_DIR_OUT, &info));
    CHECK(info.hard_expired && info.stats.messages == 2);
    CHECK(zesp_sad_expire(sad) == 1);
    CHECK_ERR(zesp_sa_info_get(sad, 0x8001, ZESP_DIR_OUT, &info), ZESP_ENOSA);
    CHECK_OK(zesp_sa_info_get(sad, 0x8002, ZESP_DIR_OUT, &info));
    zesp_sad_free(sad);
    CHECK(file_contains(path, p.key, 32) == 0);
    CHECK(file_contains(path, q.key, 32) == 1);
    sad = zesp_sad_open(path, 0, NULL);
    CHECK_OK(zesp_sad_flush(sad));
    zesp_sad_free(sad);
    CHECK(file_contains(path, q.key, 32) == 0);
}

/* Writers killed with -9 at random instants while readers send: the SAD
 * stays consistent, usable, and no sequence number is ever reused.  The
 * children run until killed; one that returns early releases its own and
 * its parent's SAD handle and buffer.  Each says it is at work (a byte on
 * `busy`) before the parent picks the instant to kill it, so that every
 * kill lands in the middle of its work however slow the machine. */
enum { SEALED_BEFORE_BUSY = 16, BUSY_WAIT_MS = 30000 };

static int churn_child(zesp_sad *parent, void *parent_buf, int id, int busy)
{
    zesp_sad *sad = zesp_sad_open(sad_path("crash"), 0, NULL);

    zesp_sad_free(parent);
    free(parent_buf);
    if (sad == NULL)
        return 1;
    for (uint32_t i = 0;; i++) {
        zesp_sa_params p = test_sa(0x7000U + (uint32_t)id * 1000U + i % 64U,
                                   ZESP_DIR_IN, 0, 0);
        zesp_sa_add(sad, &p);
        zesp_sa_del(sad, p.spi, ZESP_DIR_IN);
        if (i % 64 == 0)
            zesp_sad_expire(sad);
        if (i == 0 && write(busy, "w", 1) != 1)
            break;
    }
    zesp_sad_free(sad);
    return 2;
}

static int sender_child(zesp_sad *parent, void *parent_buf, int fd, int busy)
{
    zesp_sad *sad = zesp_sad_open(sad_path("crash"), 0, NULL);
    zesp_frame body = { "s", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    zesp_sad_free(parent);
    free(parent_buf);
    if (sad == NULL)
        return 1;
    for (int sealed = 0;;) {
        uint8_t *esp;
        size_t n;
        if (zesp_seal(sad, 0x7fff, &parts, &esp, &n) == 0) {
            ssize_t w = write(fd, esp + 4, 4);
            zesp_buf_free(esp);
            if (w != 4)
                break;
            if (++sealed == SEALED_BEFORE_BUSY && write(busy, "s", 1) != 1)
                break;
        }
    }
    zesp_sad_free(sad);
    return 0;
}

/* Read what the senders wrote to fd (non-blocking) into seqs. */
static void drain_seqs(int fd, uint32_t *seqs, size_t cap, size_t *got)
{
    for (ssize_t r; *got < cap &&
                    (r = read(fd, (uint8_t *)seqs + *got, cap - *got)) > 0;)
        *got += (size_t)r;
}

/* Wait for n bytes on busy (one from each child at work), reading the
 * sender's pipe meanwhile, a read at a time, so that it never blocks on a
 * full pipe and never keeps this loop from seeing busy. */
static int wait_busy(int busy, int n, int seq_fd, uint32_t *seqs, size_t cap,
                     size_t *got)
{
    double end = test_now() + test_ms(BUSY_WAIT_MS) / 1000.0;

    while (n > 0 && test_now() < end) {
        struct pollfd p[2] = { { .fd = busy, .events = POLLIN },
                               { .fd = seq_fd, .events = POLLIN } };
        char b[4];
        ssize_t r;
        if (poll(p, 2, 100) < 0 && errno != EINTR)
            return -1;
        if ((p[1].revents & POLLIN) && *got < cap &&
            (r = read(seq_fd, (uint8_t *)seqs + *got, cap - *got)) > 0)
            *got += (size_t)r;
        if ((p[0].revents & POLLIN) &&
            (r = read(busy, b, (size_t)n < sizeof b ? (size_t)n : sizeof b)) > 0)
            n -= (int)r;
    }
    return n == 0 ? 0 : -1;
}

static void test_kill_minus_nine(void)
{
    enum { ROUNDS = 40 };
    const size_t cap = sizeof(uint32_t) * 4000000;
    zesp_sad *sad = zesp_sad_open(sad_path("crash"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params p = test_sa(0x7fff, ZESP_DIR_OUT, 0, 0);
    uint32_t *seqs = malloc(cap);
    size_t got = 0;
    int fds[2], busy[2], dup = 0, late = 0;
    unsigned seed = 12345;

    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(pipe(fds) == 0 && pipe(busy) == 0);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    for (int round = 0; round < ROUNDS; round++) {
        pid_t w[2], s;
        fflush(NULL);
        for (int i = 0; i < 2; i++)
            if ((w[i] = fork()) == 0)
                _exit(churn_child(sad, seqs, i, busy[1]));
        if ((s = fork()) == 0)
            _exit(sender_child(sad, seqs, fds[1], busy[1]));
        /* All three at work; then a random instant within it. */
        late += wait_busy(busy[0], 3, fds[0], seqs, cap, &got) != 0;
        usleep(rand_r(&seed) % 20000);
        kill(w[0], SIGKILL);
        usleep(rand_r(&seed) % 3000);
        kill(w[1], SIGKILL);
        kill(s, SIGKILL);
        for (int i = 0; i < 2; i++)
            wait_child(w[i]);
        wait_child(s);
        drain_seqs(fds[0], seqs, cap, &got);
        /* After every crash: consistent, and writable. */
        CHECK_OK(zesp_sad_verify(sad));
        zesp_sa_params q = test_sa(0x7ffe, ZESP_DIR_IN, 0, 0);
        CHECK_OK(zesp_sa_add(sad, &q));
        CHECK_OK(zesp_sa_del(sad, 0x7ffe, ZESP_DIR_IN));
    }
    close(fds[0]);
    close(fds[1]);
    close(busy[0]);
    close(busy[1]);
    got /= sizeof(uint32_t);
    qsort(seqs, got, sizeof *seqs, cmp_u32);
    for (size_t i = 1; i < got; i++)
        dup += seqs[i] == seqs[i - 1];
    zesp_sad_stats st;
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    CHECK(late == 0);        /* every child got to work before its kill */
    CHECK(got >= (size_t)ROUNDS * SEALED_BEFORE_BUSY);
    CHECK(dup == 0);
    CHECK(st.repairs > 0);   /* writers were killed holding the lock */
    printf("  %d rounds of kill -9, %zu messages sealed, none reused, "
           "%llu repairs\n", ROUNDS, got, (unsigned long long)st.repairs);
    free(seqs);
    zesp_sad_free(sad);
}

/* In a child about to die: the first time the library prints this string
 * into a buffer (the name into a policy's slot), the process is killed. */
static const char *die_printing;

int snprintf(char *str, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    if (die_printing != NULL && strcmp(fmt, "%s") == 0) {
        va_list cp;
        va_copy(cp, ap);
        if (strcmp(va_arg(cp, const char *), die_printing) == 0)
            raise(SIGKILL);
        va_end(cp);
    }
    n = vsnprintf(str, size, fmt, ap);
    va_end(ap);
    return n;
}

static int count_policies(const zesp_policy *pol, void *arg)
{
    int *n = arg;

    *n += 1;
    if (pol->name[0] == '\0')
        *n += 100;
    return 0;
}

/* A writer killed while it rewrites a policy (a rekey adds an inbound
 * SPI: zesp_policy_set of the same name).  The next writer repairs what
 * it left; the policy must still be found by its name, as it was or as
 * it was to be, and no nameless policy be left live.  Before, the rewrite
 * cleared the name before writing it again, and the repair made the slot
 * valid as it was: the policy was gone (ZESP_ENOPOLICY for every sender
 * and receiver until rewritten) and a policy with an empty name stayed. */
static void test_killed_rewriting_policy(void)
{
    zesp_sad *sad = zesp_sad_open(sad_path("policy_kill"), ZESP_SAD_CREATE,
                                  NULL);
    zesp_sa_params o = test_sa(0x6001, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params i1 = test_sa(0x6002, ZESP_DIR_IN, 0, 0);
    zesp_sa_params i2 = test_sa(0x6003, ZESP_DIR_IN, 0, 0);
    zesp_policy pol, got;
    zesp_sad_stats st;
    int n = 0;
    pid_t pid;

    CHECK(sad != NULL);
    if (sad == NULL)
        return;
    CHECK_OK(zesp_sa_add(sad, &o));
    CHECK_OK(zesp_sa_add(sad, &i1));
    CHECK_OK(zesp_sa_add(sad, &i2));
    memset(&pol, 0, sizeof pol);
    strcpy(pol.name, "orders");
    strcpy(pol.peer, "test-peer");
    pol.out_spi = 0x6001;
    pol.in_spi[0] = 0x6002;
    CHECK_OK(zesp_policy_set(sad, &pol));
    pol.in_spi[1] = 0x6003;
    fflush(NULL);
    if ((pid = fork()) == 0) {
        die_printing = "orders";
        zesp_policy_set(sad, &pol);
        _exit(3);                        /* not killed: the hook missed */
    }
    CHECK(pid > 0 && wait_child(pid) == 128 + SIGKILL);

    CHECK_OK(zesp_sa_del(sad, 0x6001, ZESP_DIR_OUT));   /* the repair */
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    CHECK(st.repairs > 0);
    CHECK_OK(zesp_policy_get(sad, "orders", &got));
    CHECK_OK(zesp_policy_foreach(sad, count_policies, &n));
    CHECK(n == 1);                       /* one policy, with a name */
    zesp_sad_free(sad);
}

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "sad") != 0)
        return 2;
    RUN(test_create_and_modes);
    RUN(test_keys_survive_close);
    RUN(test_damaged_files_refused);
    RUN(test_four_senders_one_sa);
    RUN(test_four_receivers_one_sa);
    RUN(test_own_windows);
    RUN(test_hundred_thousand_sas);
    RUN(test_policies_and_acquire);
    RUN(test_policy_read_during_rewrite);
    RUN(test_expire_wipes_keys);
    RUN(test_kill_minus_nine);
    RUN(test_killed_rewriting_policy);
    return test_done_in(dir);
}
