/*
 * Lifetimes charged by concurrent receivers: a message refused (a replay,
 * a forgery) consumes none of its SA's lifetime and does not stop the SA,
 * even while others are charging theirs.  Three receiver threads on one
 * inbound SA with a hard limit of LIMIT messages: one holds a second copy
 * of a message, held up (__wrap_replay_commit) as the window is about to
 * take its number, while the two others receive that message and the
 * last one the limit allows.  Before, the held copy had been charged
 * already: the last message found the limit passed, was refused and
 * stopped the SA, and the copy, refused as a replay, gave its charge
 * back, leaving the SA stopped one message short of its limit.  Forged
 * messages at the limit leave the SA as it was too.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "keys.h"
#include "replay.h"
#include "test.h"
#include "zesp.h"

#define CHARGE_SPI 0x6c0001U
#define LIMIT 3U                 /* the inbound SA's hard limit, messages */
#define FRAME_MAX 256U

/* The thread that is held up before its window commit, and the test's
 * two signals to and from it. */
static _Thread_local bool held_here;
static atomic_int held_waiting, held_go;

/* Wait for flag, at most ms (scaled): 0 once set, -1 if it never was. */
static int wait_flag(atomic_int *flag, int ms)
{
    double end = test_now() + test_ms(ms) / 1000.0;
    struct timespec tick = { 0, 1000000 };

    while (!atomic_load(flag)) {
        if (test_now() > end)
            return -1;
        nanosleep(&tick, NULL);
    }
    return 0;
}

int __real_replay_commit(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                         uint32_t words, uint32_t window, uint64_t seq);
int __wrap_replay_commit(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                         uint32_t words, uint32_t window, uint64_t seq);
int __wrap_replay_commit(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                         uint32_t words, uint32_t window, uint64_t seq)
{
    if (held_here) {
        atomic_store(&held_waiting, 1);
        /* Released by the test, or after the bound: then the test fails
         * on what the others found, not by hanging. */
        (void)wait_flag(&held_go, 10000);
    }
    return __real_replay_commit(top, ring, words, window, seq);
}

struct frame {
    uint8_t b[FRAME_MAX];
    size_t len;
};

struct receiver {
    zesp_sad *sad;
    struct frame f;
    bool held;
    int rc, err;
};

static void *receive(void *arg)
{
    struct receiver *r = arg;
    uint8_t *payload, nh;
    size_t plen;

    held_here = r->held;
    errno = 0;
    r->rc = zesp_esp_decrypt(r->sad, r->f.b, r->f.len, &payload, &plen, &nh,
                             NULL, NULL);
    r->err = errno;
    return NULL;
}

/* A receiver thread started on a copy of f. */
static int start(pthread_t *th, struct receiver *r, zesp_sad *sad,
                 const struct frame *f, bool held)
{
    r->sad = sad;
    r->f = *f;
    r->held = held;
    r->rc = -2;
    return pthread_create(th, NULL, receive, r);
}

static int run(zesp_sad *sad, const struct frame *f, int *err)
{
    struct receiver r;
    pthread_t th;

    if (start(&th, &r, sad, f, false) != 0)
        return -2;
    pthread_join(th, NULL);
    *err = r.err;
    return r.rc;
}

/* A sender's and a receiver's SAD, the receiver's SA stopping after
 * LIMIT messages, and LIMIT + 1 messages sealed. */
static int setup(zesp_sad **out, zesp_sad **in, struct frame m[LIMIT + 1])
{
    zesp_sa_params o = test_sa(CHARGE_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params i = test_sa(CHARGE_SPI, ZESP_DIR_IN, 0, 0);

    *out = zesp_sad_new(NULL);
    *in = zesp_sad_new(NULL);
    CHECK(*out != NULL && *in != NULL);
    if (*out == NULL || *in == NULL)
        return -1;
    i.hard.messages = LIMIT;
    CHECK_OK(zesp_sa_add(*out, &o));
    CHECK_OK(zesp_sa_add(*in, &i));
    for (unsigned k = 0; k <= LIMIT; k++) {
        char body[16];
        int n = snprintf(body, sizeof body, "message %u", k + 1U);

        CHECK(zesp_esp_bytes((size_t)n) <= FRAME_MAX);
        CHECK_OK(zesp_esp_encrypt(*out, CHARGE_SPI, body, (size_t)n, 59,
                                  m[k].b, &m[k].len));
    }
    return test_case_failed ? -1 : 0;
}

static void check_limit_reached(zesp_sad *in, const struct frame *past)
{
    zesp_sa_info info;
    int err = 0;

    CHECK_OK(zesp_sa_info_get(in, CHARGE_SPI, ZESP_DIR_IN, &info));
    printf("     the SA counts %llu received of %u\n",
           (unsigned long long)info.stats.messages, LIMIT);
    CHECK(info.stats.messages == LIMIT);
    /* And it holds: the next message is refused. */
    CHECK(run(in, past, &err) == -1 && err == ZESP_EEXPIRED);
}

/* Receiver A holds a copy of message 2, charged (before) and held up as
 * its window commit comes; B receives message 2, C message 3, the last
 * the limit allows; then A goes on and is refused as a replay.  Every
 * message the sender sent up to the limit is accepted. */
static void test_replay_held_at_the_limit(void)
{
    zesp_sad *out = NULL, *in = NULL;
    struct frame m[LIMIT + 1];
    struct receiver a, b, c;
    pthread_t ta, tb, tc;
    int err = 0;

    atomic_store(&held_waiting, 0);
    atomic_store(&held_go, 0);
    if (setup(&out, &in, m) != 0)
        goto out;
    CHECK(run(in, &m[0], &err) == 0);
    CHECK(start(&ta, &a, in, &m[1], true) == 0);
    CHECK(wait_flag(&held_waiting, 10000) == 0);
    CHECK(start(&tb, &b, in, &m[1], false) == 0);
    pthread_join(tb, NULL);
    CHECK(start(&tc, &c, in, &m[2], false) == 0);
    pthread_join(tc, NULL);
    atomic_store(&held_go, 1);
    pthread_join(ta, NULL);
    printf("     held copy: %s; message 2: %s; message 3: %s\n",
           a.rc ? zesp_strerror(a.err) : "accepted",
           b.rc ? zesp_strerror(b.err) : "accepted",
           c.rc ? zesp_strerror(c.err) : "accepted");
    CHECK(b.rc == 0);
    CHECK(c.rc == 0);
    CHECK(a.rc == -1 && a.err == ZESP_EREPLAY);
    check_limit_reached(in, &m[LIMIT]);
out:
    zesp_sad_free(out);
    zesp_sad_free(in);
}

/* Forged copies of the last message the limit allows, one byte changed
 * each, from three receivers at once while the SA is one message short:
 * all refused, the SA neither charged nor stopped, and the real message
 * accepted after them. */
static void test_forged_at_the_limit(void)
{
    enum { FORGED = 3 * 32 };
    zesp_sad *out = NULL, *in = NULL;
    struct frame m[LIMIT + 1];
    struct receiver r[3];
    pthread_t th[3];
    zesp_sa_info info;
    int err = 0, refused = 0;

    if (setup(&out, &in, m) != 0)
        goto out;
    for (unsigned k = 0; k + 1 < LIMIT; k++)
        CHECK(run(in, &m[k], &err) == 0);
    for (int i = 0; i < FORGED; i += 3) {
        for (int t = 0; t < 3; t++) {
            struct frame f = m[LIMIT - 1];

            f.b[8U + (size_t)(i + t) % (f.len - 8U)] ^= 0x01;
            CHECK(start(&th[t], &r[t], in, &f, false) == 0);
        }
        for (int t = 0; t < 3; t++) {
            pthread_join(th[t], NULL);
            refused += r[t].rc == -1 && (r[t].err == ZESP_EICV ||
                                         r[t].err == ZESP_EMALFORMED);
        }
    }
    CHECK(refused == FORGED);
    CHECK_OK(zesp_sa_info_get(in, CHARGE_SPI, ZESP_DIR_IN, &info));
    CHECK(!info.hard_expired && info.stats.messages == LIMIT - 1U);
    CHECK(run(in, &m[LIMIT - 1], &err) == 0);
    check_limit_reached(in, &m[LIMIT]);
out:
    zesp_sad_free(out);
    zesp_sad_free(in);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_replay_held_at_the_limit);
    RUN(test_forged_at_the_limit);
    return test_done();
}
