/*
 * Lifetimes in seconds, messages and bytes, soft (the SA is marked for
 * rekey) and hard (the SA stops).  A message is charged once nothing but
 * its lifetime can refuse it any more: a sender's once it has its
 * sequence number, a receiver's once the replay window took its number.
 * A charge that would pass a hard limit is given back and stops the SA,
 * so that a hard limit of N messages sends (and accepts) exactly N even
 * with many senders (receivers).  Charged any earlier, a message refused
 * after (a replay, no lane free) would have held a charge for a moment:
 * another message charged then would have found the limit passed and
 * stopped the SA, and the refused one's charge, given back, would have
 * left it stopped short of its limit.  As it is, every charge but one that
 * overruns stays, and an overrun means the charges that stay reached the
 * limit (messages), or left no room for this message (bytes).
 *
 * An SA's age is counted on the monotonic clock, which every process of
 * the host shares and nobody steps, not on the wall clock: an NTP step or
 * `date -s` backwards would have let a key live on past its hard lifetime
 * (or, stepped back further than its age, killed it at once), and
 * forwards it would have expired every SA together before any rekey.  It
 * is zike's clock (and charon's), so the daemon and the SAD agree on an
 * SA's age; the coarse one, read from the vDSO for a few nanoseconds.  A
 * SAD file can outlive a boot (~/.zesp): an age from another boot is
 * counted on the wall clock (lifetime_age).
 */
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "datapath.h"

#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"

static _Atomic uint64_t this_boot;   /* 0: not read yet */
#define BOOT_UNKNOWN UINT64_MAX      /* unreadable here: not compared */

/* This boot's name, 64 bits of the kernel's random boot ID, read once
 * (sad_alloc: not on the data path). */
uint64_t lifetime_boot(void)
{
    uint64_t b = atomic_load_explicit(&this_boot, memory_order_relaxed);
    char id[37];
    ssize_t n = -1;
    int fd;

    if (b != 0)
        return b;
    if ((fd = open(BOOT_ID_PATH, O_RDONLY | O_CLOEXEC)) >= 0) {
        n = read(fd, id, sizeof id - 1U);
        close(fd);
    }
    b = BOOT_UNKNOWN;
    if (n >= 32 &&
        crypto_generichash((uint8_t *)&b, sizeof b, (const uint8_t *)id,
                           (size_t)n, NULL, 0) != 0)
        b = BOOT_UNKNOWN;
    if (b == 0)
        b = 1;
    atomic_store_explicit(&this_boot, b, memory_order_relaxed);
    return b;
}

uint64_t lifetime_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
        return UINT64_MAX;     /* no clock: every time limit is past */
    return (uint64_t)ts.tv_sec;
}

/* Writers: the SA is born now. */
void lifetime_start(struct sa_slot *s)
{
    s->born = lifetime_now();
    s->born_boot = lifetime_boot();
}

/* An age the monotonic clock cannot give (born in another boot, or in
 * one we cannot name: a service whose /proc hides the boot ID) is the
 * wall clock's, as before there was a boot to compare: a SAD kept across
 * a reboot goes on with its SAs' real ages, so a group receiver that
 * gets its key again keeps it, not an SA expired for good. */
uint64_t lifetime_age(const struct sa_slot *s, uint64_t now)
{
    uint64_t b = lifetime_boot(), wall;

    /* No clock now: past every limit, even for an SA born without one
     * (born UINT64_MAX too, which would have made it 0 s old). */
    if (now == UINT64_MAX)
        return UINT64_MAX;
    if (b != BOOT_UNKNOWN && s->born_boot == b && now >= s->born)
        return now - s->born;
    if ((wall = sad_now()) == 0)            /* no wall clock either */
        return UINT64_MAX;
    return wall >= s->created ? wall - s->created : UINT64_MAX;
}

static void mark(_Atomic uint32_t *flag)
{
    if (!atomic_load_explicit(flag, memory_order_relaxed))
        atomic_store_explicit(flag, 1, memory_order_relaxed);
}

static int over(uint64_t limit, uint64_t value)
{
    return limit && value >= limit;
}

/* The SA's age as its time limits count it, from the clock only if it
 * has one (0 otherwise: no limit reads it). */
static uint64_t timed_age(const struct sa_slot *s)
{
    if (s->hard.seconds == 0 && s->soft.seconds == 0)
        return 0;
    return lifetime_age(s, lifetime_now());
}

int lifetime_check(struct sa_slot *s)
{
    if (atomic_load_explicit(&s->hard_expired, memory_order_relaxed))
        return ZESP_EEXPIRED;
    if (over(s->hard.seconds, timed_age(s)) ||
        over(s->hard.messages,
             atomic_load_explicit(&s->counters[CNT_MESSAGES],
                                  memory_order_relaxed)) ||
        over(s->hard.bytes, atomic_load_explicit(&s->counters[CNT_BYTES],
                                                 memory_order_relaxed))) {
        mark(&s->hard_expired);
        return ZESP_EEXPIRED;
    }
    return 0;
}

static void soft_check(struct sa_slot *s, uint64_t messages, uint64_t bytes,
                       uint64_t age)
{
    if (over(s->soft.seconds, age) || over(s->soft.messages, messages) ||
        over(s->soft.bytes, bytes))
        mark(&s->soft_expired);
}

static void refund(struct sa_slot *s, uint64_t bytes)
{
    atomic_fetch_sub_explicit(&s->counters[CNT_MESSAGES], 1,
                              memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->counters[CNT_BYTES], bytes,
                              memory_order_relaxed);
}

/* Messages and bytes taken, or given back and the SA stopped if that
 * would pass a hard limit: whoever crosses it first, in any process. */
static int charge(struct sa_slot *s, uint64_t bytes, uint64_t age)
{
    uint64_t m, b;

    m = atomic_fetch_add_explicit(&s->counters[CNT_MESSAGES], 1,
                                  memory_order_relaxed) + 1U;
    b = atomic_fetch_add_explicit(&s->counters[CNT_BYTES], bytes,
                                  memory_order_relaxed) + bytes;
    if ((s->hard.messages && m > s->hard.messages) ||
        (s->hard.bytes && b > s->hard.bytes)) {
        refund(s, bytes);
        mark(&s->hard_expired);
        return ZESP_EEXPIRED;
    }
    soft_check(s, m, b, age);
    return 0;
}

/* Once the message has its sequence number (take_number looked at the
 * flag before it took one). */
int lifetime_charge_out(struct sa_slot *s, uint64_t bytes)
{
    uint64_t age = 0;

    if (atomic_load_explicit(&s->hard_expired, memory_order_relaxed) ||
        over(s->hard.seconds, age = timed_age(s))) {
        mark(&s->hard_expired);
        return ZESP_EEXPIRED;
    }
    return charge(s, bytes, age);
}

/* Once the replay window took the message's number: only a message
 * accepted but for its lifetime is charged. */
int lifetime_charge_in(struct sa_slot *s, uint64_t bytes)
{
    return charge(s, bytes, timed_age(s));
}
