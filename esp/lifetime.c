/*
 * Lifetimes in seconds, messages and bytes, soft (the SA is marked for
 * rekey) and hard (the SA stops).  Outbound charges are taken before the
 * message is sent and given back if they overrun, so that a hard limit of
 * N messages sends exactly N even with many senders.
 */
#include "datapath.h"

static void mark(_Atomic uint32_t *flag)
{
    if (!atomic_load_explicit(flag, memory_order_relaxed))
        atomic_store_explicit(flag, 1, memory_order_relaxed);
}

static int over(uint64_t limit, uint64_t value)
{
    return limit && value >= limit;
}

int lifetime_check(struct sa_slot *s, uint64_t now)
{
    if (atomic_load_explicit(&s->hard_expired, memory_order_relaxed))
        return ZESP_EEXPIRED;
    if (over(s->hard.seconds, now - s->created) ||
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
                       uint64_t now)
{
    if (over(s->soft.seconds, now - s->created) ||
        over(s->soft.messages, messages) || over(s->soft.bytes, bytes))
        mark(&s->soft_expired);
}

int lifetime_charge_out(struct sa_slot *s, uint64_t bytes, uint64_t now)
{
    uint64_t m, b;

    if (atomic_load_explicit(&s->hard_expired, memory_order_relaxed) ||
        over(s->hard.seconds, now - s->created)) {
        mark(&s->hard_expired);
        return ZESP_EEXPIRED;
    }
    m = atomic_fetch_add_explicit(&s->counters[CNT_MESSAGES], 1,
                                  memory_order_relaxed) + 1U;
    b = atomic_fetch_add_explicit(&s->counters[CNT_BYTES], bytes,
                                  memory_order_relaxed) + bytes;
    if ((s->hard.messages && m > s->hard.messages) ||
        (s->hard.bytes && b > s->hard.bytes)) {
        atomic_fetch_sub_explicit(&s->counters[CNT_MESSAGES], 1,
                                  memory_order_relaxed);
        atomic_fetch_sub_explicit(&s->counters[CNT_BYTES], bytes,
                                  memory_order_relaxed);
        mark(&s->hard_expired);
        return ZESP_EEXPIRED;
    }
    soft_check(s, m, b, now);
    return 0;
}

void lifetime_charge_in(struct sa_slot *s, uint64_t bytes, uint64_t now)
{
    uint64_t m = atomic_fetch_add_explicit(&s->counters[CNT_MESSAGES], 1,
                                           memory_order_relaxed) + 1U;
    uint64_t b = atomic_fetch_add_explicit(&s->counters[CNT_BYTES], bytes,
                                           memory_order_relaxed) + bytes;

    soft_check(s, m, b, now);
}
