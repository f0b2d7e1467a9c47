/*
 * Fault injection (issue 8): what happens when the disk is full, the SAD
 * path cannot be written or its permissions forbid it, and when receivers
 * or a broker are killed with -9 at random moments under load.  Each case
 * asserts a clear error and nothing left half made, or that afterwards no
 * message was accepted twice, the SAD is consistent and traffic resumes.
 * Loops are bounded and stop by themselves.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "test.h"
#include "zesp.h"

#define MESSAGES 3000
#define RECEIVERS 4
#define KILLS 12

static char dir[256];

static int files_in(const char *d)
{
    DIR *dp = opendir(d);
    struct dirent *e;
    int n = 0;

    if (dp == NULL)
        return -1;
    while ((e = readdir(dp)) != NULL)
        n += e->d_name[0] != '.';
    closedir(dp);
    return n;
}

/* A tiny file system (root only): creating a SAD larger than the free
 * space is ENOSPC at once, and leaves no file behind; a read-only one is
 * EROFS. */
static void test_full_and_readonly_disk(void)
{
    const char *mnt = test_path_in(dir, "small");
    zesp_sad_opts big = { .capacity = 65536 };
    zesp_sad_opts small = { .capacity = 16, .policies = 4,
                            .max_replay_window = 64 };

    if (geteuid() != 0 || mkdir(mnt, 0700) != 0 ||
        mount("tmpfs", mnt, "tmpfs", 0, "size=64k") != 0) {
        printf("     skip: needs root to mount a small tmpfs\n");
        return;
    }
    {
        char path[600];
        snprintf(path, sizeof path, "%s/sad", mnt);
        CHECK(zesp_sad_open(path, ZESP_SAD_CREATE, &big) == NULL);
        CHECK(errno == ENOSPC);
        CHECK(strstr(zesp_strerror(ENOSPC), "space") != NULL);
        CHECK(files_in(mnt) == 0);
        /* A small SAD still fits. */
        zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, &small);
        CHECK(sad != NULL);
        zesp_sad_free(sad);
        unlink(path);
        /* MS_REMOUNT ignores the type: "" rather than NULL, which
         * valgrind's memcheck would report as an unaddressable pointer. */
        CHECK(mount(NULL, mnt, "", MS_REMOUNT | MS_RDONLY, NULL) == 0);
        CHECK(zesp_sad_open(path, ZESP_SAD_CREATE, &small) == NULL);
        CHECK(errno == EROFS);
    }
    CHECK(umount(mnt) == 0);
    rmdir(mnt);
}

static void test_unwritable_path_and_permissions(void)
{
    const char *path = test_path_in(dir, "private.sad");
    zesp_sad *sad;
    pid_t pid;
    int status = -1;

    CHECK(zesp_sad_open("/nonexistent-zesp-dir/sad", ZESP_SAD_CREATE,
                        NULL) == NULL);
    CHECK(errno == ENOENT);
    CHECK((sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL)) != NULL);
    zesp_sad_free(sad);
    /* Another user may not open a SAD of mode 0600 (the folder open to
     * all, so that the file's own mode is what refuses).  Not root: the
     * file's mode taken away does the same. */
    CHECK(chmod(dir, 0755) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        zesp_sad *s;
        if (geteuid() == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(77);               /* cannot become another user */
        } else if (chmod(path, 0) != 0) {
            _exit(4);
        }
        s = zesp_sad_open(path, 0, NULL);
        int refused = s == NULL && errno == EACCES;
        if (!refused)
            fprintf(stderr, "  opened by another user: %s\n",
                    s ? "yes" : zesp_strerror(errno));
        zesp_sad_free(s);
        _exit(refused ? 0 : 1);
    }
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
        printf("     skip: this process may not become another user\n");
    else {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fprintf(stderr, "  child status %d/%d\n", WIFEXITED(status),
                    WEXITSTATUS(status));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    chmod(dir, 0700);
    unlink(path);
}

/* Receivers sharing one inbound SA, killed at random moments while they
 * open the same stream of messages, then restarted over the whole stream:
 * each sequence number accepted once, at most once.  A receiver is a
 * forked child: it releases its parent's SAD handle and messages, which
 * it inherited, and its own, before it exits.  It says it is at work (a
 * byte on `busy`) after its first messages, so that each kill lands
 * within its work however slow the machine. */
enum { BUSY_AFTER = 50, BUSY_WAIT_MS = 30000 };

static int receiver(zesp_sad *parent, uint8_t **esp, const size_t *len,
                    int fd, int busy, int start)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "shared.sad"), 0, NULL);
    zesp_msg *msg = zesp_msg_new();
    int rc = sad == NULL || msg == NULL ? 1 : 0;

    zesp_sad_free(parent);
    for (int k = 0; k < MESSAGES && rc == 0; k++) {
        int i = (start + k) % MESSAGES;
        uint8_t copy[256];
        memcpy(copy, esp[i], len[i]);
        if (zesp_open(sad, NULL, 0, copy, len[i], msg) == 0) {
            uint64_t seq = zesp_msg_seq(msg);
            if (write(fd, &seq, sizeof seq) != (ssize_t)sizeof seq)
                rc = 2;
        }
        if (k + 1 == BUSY_AFTER && write(busy, "r", 1) != 1)
            rc = 3;
    }
    for (int i = 0; i < MESSAGES; i++)
        zesp_buf_free(esp[i]);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return rc;
}

static void test_kill_receivers(void)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "shared.sad"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params out = test_sa(0x7001, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params in = test_sa(0x7001, ZESP_DIR_IN, 0, 0);
    static uint8_t *esp[MESSAGES];
    static size_t len[MESSAGES];
    static uint8_t seen[MESSAGES + 1];
    zesp_frame body = { "payload", 7 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    int fds[2], busy[2], dups = 0, accepted = 0, killed = 0, late = 0;
    uint64_t seq;

    in.replay_window = 4096;
    CHECK(sad != NULL);
    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_sa_add(sad, &in));
    for (int i = 0; i < MESSAGES; i++)
        CHECK_OK(zesp_seal(sad, 0x7001, &parts, &esp[i], &len[i]));
    CHECK(pipe(fds) == 0 && pipe(busy) == 0);
    for (int round = 0; round <= KILLS / RECEIVERS; round++) {
        pid_t pid[RECEIVERS];
        fflush(NULL);
        for (int r = 0; r < RECEIVERS; r++)
            if ((pid[r] = fork()) == 0)
                _exit(receiver(sad, esp, len, fds[1], busy[1],
                               r * MESSAGES / RECEIVERS));
        /* Each at work (the reports wait in their pipe, which holds all
         * MESSAGES of them, until the end). */
        for (int r = 0; r < RECEIVERS; r++) {
            char b;
            late += test_wait_readable(busy[0], BUSY_WAIT_MS) != 1 ||
                    read(busy[0], &b, 1) != 1;
        }
        if (round < KILLS / RECEIVERS) {
            /* Kill each at a random moment within its work. */
            for (int r = 0; r < RECEIVERS; r++) {
                usleep(randombytes_uniform(3000));
                kill(pid[r], SIGKILL);
                killed++;
            }
        }
        for (int r = 0; r < RECEIVERS; r++)
            waitpid(pid[r], NULL, 0);
    }
    close(fds[1]);
    close(busy[0]);
    close(busy[1]);
    while (read(fds[0], &seq, sizeof seq) == (ssize_t)sizeof seq) {
        if (seq == 0 || seq > MESSAGES)
            continue;
        dups += seen[seq]++ != 0;
        accepted++;
    }
    close(fds[0]);
    printf("     %d receivers killed; %d accepted, %d twice\n", killed,
           accepted, dups);
    CHECK(late == 0);
    CHECK(dups == 0);
    /* The last round was not killed: every message was accepted by some
     * receiver, except at most one per kill whose report died with it. */
    CHECK(accepted >= MESSAGES - killed && accepted <= MESSAGES);
    CHECK_OK(zesp_sad_verify(sad));
    for (int i = 0; i < MESSAGES; i++)
        zesp_buf_free(esp[i]);
    zesp_sad_free(sad);
}

/* A forwarding broker killed with -9 and restarted under load: messages
 * in it are lost (zesp does not promise delivery), none is accepted
 * twice, and traffic flows again after each restart.  The broker is a
 * forked child of a process with a zmq context: it never touches that
 * context (a child may not close its parent's zmq objects) and is always
 * ended by SIGKILL. */
static int broker(const char *front, const char *back)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    int rc = 1;

    if (zmq_bind(pull, front) == 0 && zmq_bind(push, back) == 0) {
        zmq_proxy(pull, push, NULL);
        rc = 0;
    }
    zmq_close(pull);
    zmq_close(push);
    zmq_ctx_term(ctx);
    return rc;
}

/* One round of traffic through the broker: at least ROUND_SENDS sends,
 * and until a message sent in this round came through (or the bound
 * passed).  Returns how many of this round's messages came through. */
enum { ROUND_SENDS = 3000, ROUND_WAIT_MS = 30000, SEEN_MAX = 1 << 20 };

static int traffic_round(zesp_sad *tx, zesp_sad *rx, void *push, void *pull,
                         zesp_msg *msg, uint8_t *seen, int *dups,
                         uint64_t *sent)
{
    zesp_frame body = { "m", 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    double end = test_now() + test_ms(ROUND_WAIT_MS) / 1000.0;
    zesp_sa_info info;
    uint64_t first;
    int fresh = 0;

    CHECK_OK(zesp_sa_info_get(tx, 0x7002, ZESP_DIR_OUT, &info));
    first = info.seq + 1U;
    for (int i = 0; (i < ROUND_SENDS || fresh == 0) && test_now() < end;
         i++) {
        if (zesp_send(tx, 0x7002, push, &parts, ZESP_DONTWAIT) == 0)
            (*sent)++;
        while (zesp_recv(rx, pull, msg, ZESP_DONTWAIT) == 0) {
            uint64_t s = zesp_msg_seq(msg);
            if (s < SEEN_MAX)
                *dups += seen[s]++ != 0;
            fresh += s >= first;
        }
        usleep(100);
    }
    while (zesp_recv(rx, pull, msg, 0) == 0) {
        uint64_t s = zesp_msg_seq(msg);
        if (s < SEEN_MAX)
            *dups += seen[s]++ != 0;
        fresh += s >= first;
    }
    return fresh;
}

/* The broker in a process of its own (main's --broker), started clean. */
static pid_t spawn_broker(const char *front, const char *back)
{
    char *argv[] = { "test_faults", "--broker", (char *)front, (char *)back,
                     NULL };

    return test_spawn_self(argv);
}

static void test_kill_broker(void)
{
    char front[300], back[300];
    zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    void *ctx = zmq_ctx_new(), *push, *pull;
    zesp_msg *msg = zesp_msg_new();
    static uint8_t seen[SEEN_MAX];
    int dups = 0, zero = 0, hwm = 200, timeout = 20, silent = 0, fresh = 0;
    uint64_t sent = 0;
    pid_t b;

    snprintf(front, sizeof front, "ipc://%s/front", dir);
    snprintf(back, sizeof back, "ipc://%s/back", dir);
    CHECK_OK(test_sa_pair(tx, rx, 0x7002, 0, 0));
    push = zmq_socket(ctx, ZMQ_PUSH);
    pull = zmq_socket(ctx, ZMQ_PULL);
    zmq_setsockopt(push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(push, ZMQ_RECONNECT_IVL, &timeout, sizeof timeout);
    zmq_setsockopt(pull, ZMQ_RECONNECT_IVL, &timeout, sizeof timeout);
    b = spawn_broker(front, back);
    CHECK(zmq_connect(push, front) == 0 && zmq_connect(pull, back) == 0);
    for (int round = 0; round <= 5; round++) {
        /* Traffic flows through each broker, the first and every one
         * restarted after a kill. */
        fresh = traffic_round(tx, rx, push, pull, msg, seen, &dups, &sent);
        silent += fresh == 0;
        if (round == 5)
            break;
        kill(b, SIGKILL);
        waitpid(b, NULL, 0);
        unlink(front + 6);
        unlink(back + 6);
        b = spawn_broker(front, back);
    }
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    printf("     5 broker kills; %llu sent, none accepted twice: %s; %d "
           "after the last restart\n", (unsigned long long)sent,
           dups ? "no" : "yes", fresh);
    CHECK(dups == 0);
    CHECK(silent == 0);
    CHECK(fresh > 0);
    zesp_msg_free(msg);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "--broker") == 0)
        return broker(argv[2], argv[3]);
    test_self(argv[0]);
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "faults") != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    RUN(test_full_and_readonly_disk);
    RUN(test_unwritable_path_and_permissions);
    RUN(test_kill_receivers);
    RUN(test_kill_broker);
    return test_done_in(dir);
}
