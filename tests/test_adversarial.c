/*
 * An attacker on the wire against a live receiver: a million frames that
 * are random, tampered, truncated, oversized or replayed, sent over ipc
 * from another process, mixed with genuine messages.  Not one forged frame
 * may be accepted, every genuine one must be, nothing may crash, and the
 * receiver's memory must stay flat.  Under valgrind (tests/valgrind.sh
 * sets ZESP_TEST_UNDER_VALGRIND) 100,000 frames, and no resident memory
 * check: valgrind's own memory is what it would measure.
 */
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "test.h"
#include "zesp.h"

#define SPI 0x0a0a0001U
#define GENUINE_EVERY 1000L

/* Hostile frames sent: 1,000,000, or 100,000 under valgrind. */
static long attacks = 1000000L;

static long rss_kib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* One hostile frame of kind k, made from a genuine one. */
static size_t forge(unsigned k, uint8_t *out, const uint8_t *good, size_t n,
                    uint32_t r)
{
    switch (k % 6) {
    case 0:                                  /* random bytes, our SPI */
        randombytes_buf(out, 16 + r % 200);
        memcpy(out, good, 4);
        return 16 + r % 200;
    case 1:                                  /* one bit flipped */
        memcpy(out, good, n);
        out[r % n] ^= (uint8_t)(1U << (r % 8));
        return n;
    case 2:                                  /* truncated */
        memcpy(out, good, n);
        return r % n;
    case 3:                                  /* replayed as is */
        memcpy(out, good, n);
        return n;
    case 4:                                  /* oversized: trailing junk */
        memcpy(out, good, n);
        randombytes_buf(out + n, 4 + r % 60);
        return n + 4 + r % 60;
    default:                                 /* random SPI, random rest */
        randombytes_buf(out, 40 + r % 100);
        return 40 + r % 100;
    }
}

/* The attacker is forked before the receiver makes its zmq context, SAD
 * and message (a child may not close its parent's zmq objects); it waits
 * for the receiver to bind (a byte on fd), and releases everything it
 * makes before it exits.  It closes its socket only once the receiver has
 * closed fd (it has read all, or given up): libzmq may drop what a closed
 * ipc socket still holds when the peer's queue was full, linger or not
 * (zeromq/libzmq#4660), which valgrind on a busy machine made happen. */
static int attacker(const char *endpoint, int fd)
{
    void *ctx;
    void *s;
    zesp_sad *sad;
    zesp_sa_params p = test_sa(SPI, ZESP_DIR_OUT, 0, 0);
    uint8_t *replay = NULL, frame[512];
    size_t replay_n = 0;
    /* A short queue keeps the attacker close behind the receiver. */
    int linger = test_ms(60000), hwm = 1000, rc = 0;
    char bound;

    if (read(fd, &bound, 1) != 1)
        return 1;
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, ZMQ_PUSH);
    sad = zesp_sad_new(NULL);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (sad == NULL || zesp_sa_add(sad, &p) != 0 || zmq_connect(s, endpoint))
        rc = 1;
    for (long i = 0; i < attacks && rc == 0; i++) {
        if (i % GENUINE_EVERY == 0) {
            zesp_frame body = { "genuine", 7 };
            zesp_parts parts = { .body = &body, .nbody = 1 };
            zesp_buf_free(replay);
            replay = NULL;
            /* A genuine message, whose copies are attacked afterwards. */
            if (zesp_seal(sad, SPI, &parts, &replay, &replay_n) != 0 ||
                zmq_send(s, replay, replay_n, 0) < 0) {
                rc = 2;
                break;
            }
        }
        size_t n = forge((unsigned)i, frame, replay, replay_n,
                         randombytes_random());
        if (zmq_send(s, frame, n, 0) < 0)
            rc = 3;
    }
    if (rc == 0)
        zmq_send(s, "", 0, 0);               /* the end */
    if (rc == 0 && test_wait_readable(fd, 60000) != 1)
        rc = 4;                              /* the receiver never ended */
    close(fd);
    zesp_buf_free(replay);
    zesp_sad_free(sad);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

static void test_million_hostile_frames(void)
{
    char endpoint[128];
    void *ctx, *s;
    zesp_sad *sad;
    zesp_sa_params p = test_sa(SPI, ZESP_DIR_IN, 0, 0);
    zesp_msg *msg;
    long accepted = 0, refused = 0, rss_early = 0, rss_late;
    int timeout = test_ms(60000), fds[2];
    pid_t pid;

    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/zesp-adv-%d", (int)getpid());
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0) {
        close(fds[1]);
        _exit(attacker(endpoint, fds[0]));
    }
    close(fds[0]);
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, ZMQ_PULL);
    sad = zesp_sad_new(NULL);
    msg = zesp_msg_new();
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(zmq_bind(s, endpoint) == 0);
    CHECK(write(fds[1], "b", 1) == 1);       /* bound: the attacker starts */
    for (long i = 0;; i++) {
        if (zesp_recv(sad, s, msg, 0) == 0) {
            zesp_frame b = zesp_msg_body(msg, 0);
            CHECK(b.size == 7 && memcmp(b.data, "genuine", 7) == 0);
            accepted++;
        } else if (errno == EAGAIN) {
            fprintf(stderr, "  %ld frames not received\n",
                    attacks + attacks / GENUINE_EVERY + 1 - refused - accepted);
            CHECK(!"receiver timed out");
            break;
        } else {
            refused++;
        }
        if (i == 100000)
            rss_early = rss_kib();
        if (refused + accepted == attacks + attacks / GENUINE_EVERY + 1)
            break;
    }
    rss_late = rss_kib();
    close(fds[1]);                           /* all read: the attacker may go */
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(accepted == attacks / GENUINE_EVERY);
    /* Memory flat: no growth worth a leak after the first 100,000.  (Not
     * under AddressSanitizer, whose quarantine holds freed memory, nor
     * under valgrind, whose own memory is what would be measured; there
     * LeakSanitizer or memcheck checks instead.) */
#ifndef __SANITIZE_ADDRESS__
    if (!test_under_valgrind())
        CHECK(rss_early > 0 && rss_late - rss_early < 4096);
#endif
    zesp_sa_info info;
    zesp_sad_stats st;
    CHECK_OK(zesp_sa_info_get(sad, SPI, ZESP_DIR_IN, &info));
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    printf("  %ld hostile frames refused, %ld genuine accepted; "
           "icv %llu replay %llu old %llu malformed %llu+%llu nosa %llu; "
           "rss %ld -> %ld KiB\n", refused, accepted,
           (unsigned long long)info.stats.rejected_icv,
           (unsigned long long)info.stats.rejected_replay,
           (unsigned long long)info.stats.rejected_old,
           (unsigned long long)info.stats.rejected_malformed,
           (unsigned long long)st.rejected_malformed,
           (unsigned long long)st.rejected_nosa, rss_early, rss_late);
    CHECK(info.stats.messages == (uint64_t)accepted);
    CHECK(info.stats.rejected_replay > 0 && info.stats.rejected_icv > 0 &&
          info.stats.rejected_malformed > 0 && st.rejected_nosa > 0);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    zmq_close(s);
    zmq_ctx_term(ctx);
    unlink(endpoint + 6);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    if (test_under_valgrind()) {
        attacks = 100000L;
        printf("     under valgrind: %ld frames, no resident memory check\n",
               attacks);
    }
    RUN(test_million_hostile_frames);
    return test_done();
}
