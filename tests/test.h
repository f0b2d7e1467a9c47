/* A small test harness: each case is a function, each check inside it
 * records a failure with its line; the program closes with the line
 * "N passed, N failed" that tests/run adds up. */
#ifndef ZESP_TEST_H
#define ZESP_TEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A scratch folder for one test program, removed by test_done_in(). */
static inline int test_mkdtemp(char *dir, size_t len, const char *name)
{
    snprintf(dir, len, "/tmp/zesp-%s.XXXXXX", name);
    return mkdtemp(dir) != NULL ? 0 : -1;
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
