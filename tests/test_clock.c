/*
 * SA time lifetimes against steps of the wall clock (an NTP step, an
 * operator's `date -s`): a key lives as long as configured, no longer and
 * no shorter, whatever the wall clock does; and an SA past its soft time
 * says so without traffic, so that the key daemon rekeys an idle policy.
 *
 * The test steps the wall clock of its own process only: it defines
 * clock_gettime, which the library's calls reach first, and adds
 * `wall_shift` seconds to the wall clocks.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "keys.h"
#include "sad.h"
#include "test.h"
#include "zesp.h"

#define SPI 0x2000U

static _Atomic long wall_shift;
static _Atomic int no_clock;    /* every clock fails, as with EPERM */

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int rc;

    if (atomic_load(&no_clock)) {
        errno = EPERM;
        return -1;
    }
    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    rc = real(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += atomic_load(&wall_shift);
    return rc;
}

/* Real time (the monotonic clock, never stepped) since `from`.  An SA's
 * age is counted from `from` taken after its zesp_sa_add, never before:
 * the SAD's clock counts whole seconds, and an add that a loaded machine
 * delayed across a second's tick made the SA a second younger than a
 * `from` taken before it said, so a check that it expired came too soon. */
static void sleep_until(double from, double seconds)
{
    while (test_now() - from < seconds)
        usleep(20000);
}

struct pair {
    zesp_sad *out, *in;
    zesp_msg *msg;
};

static void pair_open(struct pair *p, zesp_lifetime soft, zesp_lifetime hard)
{
    zesp_sa_params o = test_sa(SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params i = test_sa(SPI, ZESP_DIR_IN, 0, 0);

    atomic_store(&wall_shift, 0);
    p->out = zesp_sad_new(NULL);
    p->in = zesp_sad_new(NULL);
    p->msg = zesp_msg_new();
    o.soft = i.soft = soft;
    o.hard = i.hard = hard;
    CHECK(p->out && p->in && p->msg);
    CHECK_OK(zesp_sa_add(p->out, &o));
    CHECK_OK(zesp_sa_add(p->in, &i));
}

static void pair_close(struct pair *p)
{
    atomic_store(&wall_shift, 0);
    zesp_msg_free(p->msg);
    zesp_sad_free(p->out);
    zesp_sad_free(p->in);
}

/* A message sealed and opened: 0, or the errno of the step that failed. */
static int round_trip(struct pair *p)
{
    zesp_frame body = { "tick", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t n;
    int err = 0;

    if (zesp_seal(p->out, SPI, &parts, &esp, &n) != 0)
        return errno;
    if (zesp_open(p->in, NULL, 0, esp, n, p->msg) != 0)
        err = errno;
    zesp_buf_free(esp);
    return err;
}

/* The clock set back by 2 s when the SA is 2 s old: it still stops 3 s
 * after it was made, not 3 s after the clock says it was. */
static void test_a_step_back_does_not_lengthen_a_key_life(void)
{
    struct pair p;
    double t0;

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .seconds = 3 });
    t0 = test_now();
    CHECK(round_trip(&p) == 0);
    sleep_until(t0, 2.0);
    atomic_store(&wall_shift, -2);
    sleep_until(t0, 3.05);
    CHECK(round_trip(&p) == ZESP_EEXPIRED);
    pair_close(&p);
}

/* The clock set back further than a young SA's age: the SA goes on. */
static void test_a_step_back_does_not_expire_a_young_sa(void)
{
    struct pair p;
    zesp_sa_info info;

    pair_open(&p, (zesp_lifetime){ .seconds = 50 },
              (zesp_lifetime){ .seconds = 60 });
    atomic_store(&wall_shift, -600);
    CHECK(round_trip(&p) == 0);
    CHECK_OK(zesp_sa_info_get(p.out, SPI, ZESP_DIR_OUT, &info));
    CHECK(!info.soft_expired && !info.hard_expired);
    CHECK_OK(zesp_sa_info_get(p.in, SPI, ZESP_DIR_IN, &info));
    CHECK(!info.soft_expired && !info.hard_expired);
    pair_close(&p);
}

/* The clock set an hour forward: no SA expires all at once. */
static void test_a_step_forward_does_not_expire_every_sa(void)
{
    struct pair p;
    zesp_sa_info info;

    pair_open(&p, (zesp_lifetime){ .seconds = 50 },
              (zesp_lifetime){ .seconds = 60 });
    atomic_store(&wall_shift, 3600);
    CHECK(round_trip(&p) == 0);
    CHECK_OK(zesp_sa_info_get(p.out, SPI, ZESP_DIR_OUT, &info));
    CHECK(!info.soft_expired && !info.hard_expired);
    CHECK(zesp_sad_expire(p.out) == 0 && zesp_sad_expire(p.in) == 0);
    pair_close(&p);
}

/* No message after the soft time: the SA says it is due for a rekey all
 * the same (zike asks only the SA), and one past its hard time too. */
static void test_an_idle_sa_past_its_soft_time_is_due(void)
{
    struct pair p;
    zesp_sa_info info;
    double t0;

    pair_open(&p, (zesp_lifetime){ .seconds = 1 },
              (zesp_lifetime){ .seconds = 60 });
    t0 = test_now();
    sleep_until(t0, 1.05);
    CHECK_OK(zesp_sa_info_get(p.out, SPI, ZESP_DIR_OUT, &info));
    CHECK(info.soft_expired && !info.hard_expired);
    CHECK_OK(zesp_sa_info_get(p.in, SPI, ZESP_DIR_IN, &info));
    CHECK(info.soft_expired && !info.hard_expired);
    pair_close(&p);

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .seconds = 1 });
    t0 = test_now();
    sleep_until(t0, 1.05);
    CHECK_OK(zesp_sa_info_get(p.out, SPI, ZESP_DIR_OUT, &info));
    CHECK(info.soft_expired && info.hard_expired);
    pair_close(&p);
}

/* The live SA of a private SAD, as its slot. */
static struct sa_slot *only_slot(zesp_sad *sad)
{
    for (uint32_t i = 0; i < sad->lay.capacity; i++)
        if (atomic_load(&sad_slot(sad, i)->state) == SLOT_LIVE)
            return sad_slot(sad, i);
    return NULL;
}

/* A SAD file kept across a reboot (~/.zesp): an SA born in another boot
 * is aged by the wall clock, which is all that spans two boots.  A young
 * one goes on (a group receiver given its key again keeps the SA it had,
 * not one expired for good); one past its limit by the wall clock is
 * expired; and a wall clock that went back before its creation leaves no
 * age to trust: past every time limit. */
static void test_an_age_from_another_boot_is_the_wall_clocks(void)
{
    struct pair p;
    struct sa_slot *s;

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .seconds = 60 });
    CHECK(round_trip(&p) == 0);
    CHECK((s = only_slot(p.out)) != NULL);
    if (s != NULL)
        s->born_boot ^= 1U;
    CHECK(round_trip(&p) == 0);
    if (s != NULL)
        s->created -= 120;              /* 2 minutes old by the wall */
    CHECK(round_trip(&p) == ZESP_EEXPIRED);
    pair_close(&p);

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .seconds = 60 });
    CHECK((s = only_slot(p.in)) != NULL);
    if (s != NULL) {
        s->born_boot ^= 1U;
        s->created += 3600;             /* made "later" than now */
    }
    CHECK(round_trip(&p) == ZESP_EEXPIRED);
    pair_close(&p);

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .messages = 10 });
    CHECK((s = only_slot(p.out)) != NULL);
    if (s != NULL) {
        s->born_boot ^= 1U;
        s->created += 3600;
    }
    CHECK(round_trip(&p) == 0);
    pair_close(&p);
}

/* No clock at all, from the SA's making on (a sandbox that denies
 * clock_gettime): no age can be told, so every time limit is past, hard
 * or soft alone, on each side; an SA without one goes on. */
static void test_no_clock_is_past_every_time_limit(void)
{
    struct pair p;
    zesp_sa_info info;

    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ 0 });
    atomic_store(&no_clock, 1);
    CHECK(zesp_sad_expire(p.out) == 0);
    CHECK(round_trip(&p) == 0);
    atomic_store(&no_clock, 0);
    pair_close(&p);

    atomic_store(&no_clock, 1);
    pair_open(&p, (zesp_lifetime){ 0 }, (zesp_lifetime){ .seconds = 3600 });
    CHECK(round_trip(&p) == ZESP_EEXPIRED);
    CHECK_OK(zesp_sa_info_get(p.in, SPI, ZESP_DIR_IN, &info));
    CHECK(info.hard_expired);
    atomic_store(&no_clock, 0);
    pair_close(&p);

    atomic_store(&no_clock, 1);
    pair_open(&p, (zesp_lifetime){ .seconds = 3600 }, (zesp_lifetime){ 0 });
    CHECK(round_trip(&p) == 0);
    CHECK_OK(zesp_sa_info_get(p.out, SPI, ZESP_DIR_OUT, &info));
    CHECK(info.soft_expired && !info.hard_expired);
    CHECK_OK(zesp_sa_info_get(p.in, SPI, ZESP_DIR_IN, &info));
    CHECK(info.soft_expired && !info.hard_expired);
    atomic_store(&no_clock, 0);
    pair_close(&p);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    RUN(test_a_step_back_does_not_lengthen_a_key_life);
    RUN(test_a_step_back_does_not_expire_a_young_sa);
    RUN(test_a_step_forward_does_not_expire_every_sa);
    RUN(test_an_idle_sa_past_its_soft_time_is_due);
    RUN(test_an_age_from_another_boot_is_the_wall_clocks);
    RUN(test_no_clock_is_past_every_time_limit);
    return test_done();
}
