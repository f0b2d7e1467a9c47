/* A small test harness: each case is a function, each check inside it
 * records a failure with its line; the program closes with the line
 * "N passed, N failed" that tests/run adds up. */
#ifndef ZESP_TEST_H
#define ZESP_TEST_H

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int test_passed, test_failed, test_case_failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            if (test_case_failed++ < 5)                                    \
                fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__,  \
                        __LINE__, #cond);                                  \
        }                                                                  \
    } while (0)

/* expr must fail with -1 and errno err. */
#define CHECK_ERR(expr, err)                                               \
    do {                                                                   \
        errno = 0;                                                         \
        int rc_ = (expr);                                                  \
        int e_ = errno;                                                    \
        if (rc_ != -1 || e_ != (err)) {                                    \
            if (test_case_failed++ < 5)                                    \
                fprintf(stderr, "  %s:%d: %s: want errno %d, got rc %d errno %d (%s)\n", \
                        __FILE__, __LINE__, #expr, (int)(err), rc_, e_,    \
                        zesp_strerror(e_));                                \
        }                                                                  \
    } while (0)

#define CHECK_OK(expr)                                                     \
    do {                                                                   \
        errno = 0;                                                         \
        int rc_ = (expr);                                                  \
        if (rc_ != 0) {                                                    \
            int e_ = errno;                                                \
            if (test_case_failed++ < 5)                                    \
                fprintf(stderr, "  %s:%d: %s: rc %d errno %d (%s)\n",      \
                        __FILE__, __LINE__, #expr, rc_, e_,                \
                        zesp_strerror(e_));                                \
        }                                                                  \
    } while (0)

#define RUN(fn)                                                            \
    do {                                                                   \
        test_case_failed = 0;                                              \
        fn();                                                              \
        if (test_case_failed) {                                            \
            test_failed++;                                                 \
            printf("FAIL %s\n", #fn);                                      \
        } else {                                                           \
            test_passed++;                                                 \
            printf("ok   %s\n", #fn);                                      \
        }                                                                  \
        fflush(stdout);                                                    \
    } while (0)

/* ZESP_TEST_UNDER_VALGRIND=1, set by tests/valgrind.sh: a program then
 * runs fewer iterations where valgrind's slowness would make it too long,
 * and skips only the checks valgrind makes meaningless (resident memory);
 * every other assertion still holds. */
static inline int test_under_valgrind(void)
{
    const char *v = getenv("ZESP_TEST_UNDER_VALGRIND");

    return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

/*
 * Tests decide on events (a byte in a pipe, a counter in the SAD), never on
 * elapsed time; a bound only says how long a test waits for an event before
 * it calls its absence a failure.  Bounds are generous, and multiplied by
 * ZESP_TEST_TIMEOUT_SCALE (a whole number, default 1), the one knob shared
 * with the shell tests (tests/lib.sh): tests/valgrind.sh and sanitizer
 * builds (configure, check-local) set it higher.
 */
static inline int test_timeout_scale(void)
{
    const char *v = getenv("ZESP_TEST_TIMEOUT_SCALE");
    long n = v != NULL ? strtol(v, NULL, 10) : 1;

    return n >= 1 && n <= 1000 ? (int)n : 1;
}

/* Seconds on a monotonic clock, for deadlines. */
static inline double test_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A bound of ms milliseconds, scaled. */
static inline int test_ms(int ms)
{
    return ms * test_timeout_scale();
}

/* Wait for fd to become readable: 1 when it is, 0 when ms (scaled) passed
 * first, -1 on error. */
static inline int test_wait_readable(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int rc;

    do
        rc = poll(&p, 1, test_ms(ms));
    while (rc < 0 && errno == EINTR);
    return rc;
}

/* A scratch folder for one test program, removed by test_done_in(). */
/* The test program's own file, for a child that runs it afresh (fork,
 * then exec): main passes argv[0], made absolute here; a child asks with
 * NULL.  Not /proc/self/exe: under valgrind that is valgrind's tool,
 * which refuses to run, where argv[0] is the test itself (run natively,
 * as valgrind does not follow an exec unless told). */
static inline const char *test_self(const char *argv0)
{
    static char path[PATH_MAX];

    if (argv0 != NULL && realpath(argv0, path) == NULL)
        snprintf(path, sizeof path, "/proc/self/exe");
    return path;
}

/* This test program run afresh in a child (fork, then exec of
 * test_self), argv[0] its name and the rest its mode's arguments: the
 * child starts clean, where one that went on in a copy of a process with
 * ZeroMQ threads could find a lock (the sanitizers' allocator's) held by
 * a thread that is not there.  The child's pid, or -1. */
static inline pid_t test_spawn_self(char *const argv[])
{
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0) {
        execv(test_self(NULL), argv);
        _exit(127);
    }
    return pid;
}

static inline int test_mkdtemp(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/zesp-%s.XXXXXX", name);
    return mkdtemp(dir) != NULL ? 0 : -1;
}

/* name in the test's folder dir (one buffer: use it before the next). */
static inline const char *test_path_in(const char *dir, const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* A child's exit status, or 128 + the signal that ended it; -1 if none. */
static inline int test_wait_status(pid_t pid)
{
    int status = 0;

    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline int test_cmp12(const void *a, const void *b)
{
    return memcmp(a, b, 12);
}

/* How many of n ESP frames repeat an (SPI, IV) of another; with_spi
 * false: an IV alone (one key under several SPIs: the SPI is no part of
 * the nonce).  -1 if out of memory. */
static inline long test_repeated_ivs(uint8_t *const *frames, size_t n,
                                     bool with_spi)
{
    uint8_t *keys = calloc(n ? n : 1, 12);
    long dup = 0;

    if (keys == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (with_spi)
            memcpy(keys + 12 * i, frames[i], 4);
        memcpy(keys + 12 * i + 4, frames[i] + 8, 8);
    }
    qsort(keys, n, 12, test_cmp12);
    for (size_t i = 1; i < n; i++)
        dup += memcmp(keys + 12 * i, keys + 12 * (i - 1), 12) == 0;
    free(keys);
    return dup;
}

static inline int test_done(void);

static inline int test_done_in(const char *dir)
{
    char cmd[512];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        test_failed++;
    return test_done();
}

static inline int test_done(void)
{
    (void)test_case_failed;
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
