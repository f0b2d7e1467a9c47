/*
 * Anti-replay window in the manner of RFC 6479: a ring of words, each
 * holding the received-bits of one block of 32 sequence numbers, so the
 * window slides by overwriting whole entries and never shifts bits.
 *
 * To be safe with many receivers (threads or processes sharing one SA) and
 * no lock, each 64-bit entry carries the low 32 bits of its block number
 * beside its 32-bit bitmap, and is only ever changed by compare-and-swap.
 * A block can therefore not be marked in an entry that a later block has
 * taken over, and no received bit is ever lost to a concurrent slide.
 */
#include "replay.h"

#include "zesp.h"

#define BLOCK_SHIFT 5U
#define BLOCK_BITS (1U << BLOCK_SHIFT)

uint32_t replay_words(uint32_t window)
{
    uint32_t need = window / BLOCK_BITS + 2U;
    uint32_t words = 1;

    while (words < need)
        words <<= 1;
    return words;
}

uint32_t replay_window_max(uint32_t words)
{
    return words > 2U ? (words - 2U) * BLOCK_BITS + BLOCK_BITS - 1U : 0;
}

uint64_t replay_infer_esn(uint64_t top, uint32_t window, uint32_t seq_lo)
{
    uint32_t th = (uint32_t)(top >> 32);
    uint32_t tl = (uint32_t)top;
    uint32_t bottom = tl - window + 1U;   /* wraps as RFC 4303 A2.1 intends */
    uint32_t sh;

    if (tl >= window - 1U)
        sh = seq_lo >= bottom ? th : th + 1U;
    else
        sh = seq_lo >= bottom ? (th ? th - 1U : 0U) : th;
    return ((uint64_t)sh << 32) | seq_lo;
}

enum entry_age { ENTRY_OLDER, ENTRY_SAME, ENTRY_NEWER };

/* Compare the entry's block with `block`, rebuilding the entry's full block
 * number as the latest one at or below the top block with those low bits. */
static enum entry_age entry_age(uint64_t entry, uint64_t block, uint64_t top)
{
    uint64_t top_block = top >> BLOCK_SHIFT;
    uint32_t back = (uint32_t)top_block - (uint32_t)(entry >> 32);
    uint64_t full = top_block - back;

    if (back > top_block || full < block)
        return ENTRY_OLDER;
    return full == block ? ENTRY_SAME : ENTRY_NEWER;
}

static int too_old(uint64_t top, uint32_t window, uint64_t seq)
{
    return top >= window && seq <= top - window;
}

int replay_check(_Atomic uint64_t *top_p, const _Atomic uint64_t *ring,
                 uint32_t words, uint32_t window, uint64_t seq)
{
    uint64_t block = seq >> BLOCK_SHIFT;
    uint64_t bit = UINT64_C(1) << (seq & (BLOCK_BITS - 1U));
    uint64_t entry, top;

    if (seq == 0)
        return ZESP_EOLD;
    entry = atomic_load_explicit(&ring[block & (words - 1U)],
                                 memory_order_acquire);
    top = atomic_load_explicit(top_p, memory_order_acquire);
    if (seq > top)
        return 0;
    if (too_old(top, window, seq))
        return ZESP_EOLD;
    switch (entry_age(entry, block, top)) {
    case ENTRY_OLDER:
        return 0;
    case ENTRY_SAME:
        return (entry & bit) ? ZESP_EREPLAY : 0;
    default:
        return ZESP_EOLD;
    }
}

int replay_commit(_Atomic uint64_t *top_p, _Atomic uint64_t *ring,
                  uint32_t words, uint32_t window, uint64_t seq)
{
    _Atomic uint64_t *slot = &ring[(seq >> BLOCK_SHIFT) & (words - 1U)];
    uint64_t block = seq >> BLOCK_SHIFT;
    uint64_t bit = UINT64_C(1) << (seq & (BLOCK_BITS - 1U));
    uint64_t top = atomic_load_explicit(top_p, memory_order_acquire);
    uint64_t entry, next;

    if (seq == 0)
        return ZESP_EOLD;
    /* Raise the top first, so that no entry is ever newer than the top. */
    if (seq > top)
        replay_raise(top_p, seq);
    entry = atomic_load_explicit(slot, memory_order_acquire);
    do {
        top = atomic_load_explicit(top_p, memory_order_acquire);
        if (too_old(top, window, seq))
            return ZESP_EOLD;
        switch (entry_age(entry, block, top)) {
        case ENTRY_OLDER:
            next = ((uint64_t)(uint32_t)block << 32) | bit;
            break;
        case ENTRY_SAME:
            if (entry & bit)
                return ZESP_EREPLAY;
            next = entry | bit;
            break;
        default:
            return ZESP_EOLD;
        }
    } while (!atomic_compare_exchange_weak_explicit(slot, &entry, next,
                                                    memory_order_acq_rel,
                                                    memory_order_acquire));
    return 0;
}

int replay_bounds(uint32_t words, uint32_t window, uint32_t max_words)
{
    if (words == 0 || (words & (words - 1U)) != 0 || words > max_words ||
        window < ZESP_REPLAY_WINDOW_MIN || window / BLOCK_BITS + 2U > words)
        return ZESP_EBADSAD;
    return 0;
}

void replay_start(_Atomic uint64_t *top_p, _Atomic uint64_t *ring,
                  uint32_t words, uint64_t start)
{
    uint64_t top_block = start >> BLOCK_SHIFT;

    for (uint32_t k = 0; k < words; k++)
        atomic_store_explicit(&ring[k], 0, memory_order_relaxed);
    /* The top's own block up to its bit, every block below it whole. */
    for (uint64_t n = 0; n < words && n <= top_block; n++) {
        uint64_t block = top_block - n;
        uint64_t bits = n == 0 ? (UINT64_C(2) << (start & (BLOCK_BITS - 1U))) - 1U
                               : (UINT64_C(1) << BLOCK_BITS) - 1U;
        atomic_store_explicit(&ring[block & (words - 1U)],
                              ((uint64_t)(uint32_t)block << 32) | bits,
                              memory_order_relaxed);
    }
    atomic_store_explicit(top_p, start, memory_order_release);
}

void replay_raise(_Atomic uint64_t *top_p, uint64_t seq)
{
    uint64_t top = atomic_load_explicit(top_p, memory_order_relaxed);

    while (seq > top &&
           !atomic_compare_exchange_weak_explicit(top_p, &top, seq,
                                                  memory_order_acq_rel,
                                                  memory_order_relaxed))
        ;
}
