/* The replay window and ESN inference, as tables of (sequence, verdict). */
#include <stdatomic.h>
#include <stdint.h>

#include "replay.h"
#include "test.h"
#include "zesp.h"

#define WORDS_MAX 1024U

struct window {
    _Atomic uint64_t top;
    _Atomic uint64_t ring[WORDS_MAX];
    uint32_t words, size;
};

static void window_init(struct window *w, uint32_t size, uint64_t top)
{
    w->size = size;
    w->words = replay_words(size);
    atomic_store(&w->top, top);
    for (uint32_t i = 0; i < WORDS_MAX; i++)
        atomic_store(&w->ring[i], 0);
}

/* Receive: check (no state change), then commit, as the data path does. */
static int receive(struct window *w, uint64_t seq)
{
    int err = replay_check(&w->top, w->ring, w->words, w->size, seq);

    if (err == 0)
        err = replay_commit(&w->top, w->ring, w->words, w->size, seq);
    return err;
}

struct row {
    uint64_t seq;
    int want;
};
#define T(seq, want) { seq, want }

static int run_table(uint32_t size, const struct row *rows, size_t n)
{
    struct window w;
    int bad = 0;

    window_init(&w, size, 0);
    for (size_t i = 0; i < n; i++) {
        int got = receive(&w, rows[i].seq);
        if (got != rows[i].want) {
            fprintf(stderr, "  window %u row %zu seq %llu: want %d got %d\n",
                    size, i, (unsigned long long)rows[i].seq, rows[i].want,
                    got);
            bad++;
        }
    }
    return bad;
}

/* The same table WireGuard's self-test uses for its counter, scaled to a
 * window of 64 and ported to our verdicts. */
static void test_window_table(void)
{
    const uint32_t W = 64;
    const struct row rows[] = {
        T(0, ZESP_EOLD), T(1, 0), T(1, ZESP_EREPLAY), T(9, 0), T(8, 0),
        T(7, 0), T(7, ZESP_EREPLAY), T(W + 1, 0), T(W, 0),
        T(W - 1, 0), T(W + 1, ZESP_EREPLAY), T(2, 0),
        T(W + 2, 0), T(2, ZESP_EOLD), T(3, 0), T(3, ZESP_EREPLAY),
        T(1000, 0), T(1000 - W, ZESP_EOLD), T(1000 - W + 1, 0),
        T(1000 - W + 1, ZESP_EREPLAY), T(999, 0), T(1001, 0),
        T(1000 - W + 1, ZESP_EOLD), T(1000 - W + 2, 0),
        T(UINT64_C(1) << 40, 0), T(1001, ZESP_EOLD),
        T((UINT64_C(1) << 40) - 1, 0), T((UINT64_C(1) << 40) - W + 1, 0),
        T((UINT64_C(1) << 40) - W + 1, ZESP_EREPLAY),
        T((UINT64_C(1) << 40) - W, ZESP_EOLD),
    };

    CHECK(run_table(W, rows, sizeof rows / sizeof rows[0]) == 0);
}

/* Every window size: the edges at top - size and top - size + 1. */
static void test_window_sizes(void)
{
    const uint32_t sizes[] = { 64, 100, 1024, 4096, 8192, 16384 };

    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        uint32_t W = sizes[i];
        uint64_t top = 3ULL * W + 17U;
        struct row rows[] = {
            T(top, 0),
            T(top - W, ZESP_EOLD),
            T(top - W + 1, 0),
            T(top - W + 1, ZESP_EREPLAY),
            T(top - 1, 0),
            T(top + W, 0),
            T(top, ZESP_EOLD),
            T(top + 1, 0),
        };
        CHECK(run_table(W, rows, sizeof rows / sizeof rows[0]) == 0);
    }
}

/* Out of order within the window: every number accepted exactly once. */
static void test_out_of_order_once(void)
{
    enum { W = 1024 };
    struct window w;
    uint64_t order[W];

    window_init(&w, W, 0);
    for (uint32_t i = 0; i < W; i++)
        order[i] = i + 1U;
    for (uint32_t i = W - 1; i > 0; i--) {  /* deterministic shuffle */
        uint32_t j = (i * 2654435761U) % (i + 1U);
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint32_t i = 0; i < W; i++)
        CHECK(receive(&w, order[i]) == 0);
    for (uint32_t i = 0; i < W; i++)
        CHECK(receive(&w, order[i]) == ZESP_EREPLAY);
    CHECK(receive(&w, W + 1U) == 0);
    CHECK(receive(&w, 1) == ZESP_EOLD);
}

/* A check alone never changes the window. */
static void test_check_is_pure(void)
{
    struct window w;

    window_init(&w, 64, 0);
    CHECK(replay_check(&w.top, w.ring, w.words, w.size, 500) == 0);
    CHECK(atomic_load(&w.top) == 0);
    CHECK(replay_check(&w.top, w.ring, w.words, w.size, 500) == 0);
    CHECK(receive(&w, 500) == 0);
    CHECK(replay_check(&w.top, w.ring, w.words, w.size, 500) == ZESP_EREPLAY);
}

/* A huge jump forward, then back inside the new window only. */
static void test_jump_forward(void)
{
    struct window w;
    uint64_t far = UINT64_C(0x123456789);

    window_init(&w, 128, 0);
    for (uint64_t s = 1; s <= 200; s++)
        CHECK(receive(&w, s) == 0);
    CHECK(receive(&w, far) == 0);
    CHECK(receive(&w, 199) == ZESP_EOLD);
    for (uint64_t s = far - 127; s < far; s++)
        CHECK(receive(&w, s) == 0);
    for (uint64_t s = far - 127; s <= far; s++)
        CHECK(receive(&w, s) == ZESP_EREPLAY);
}

/* RFC 4303 Appendix A: the high half of the sequence number, inferred. */
static void test_esn_inference(void)
{
    const uint32_t W = 64;
    const uint64_t B = UINT64_C(1) << 32;
    const struct { uint64_t top; uint32_t lo; uint64_t want; } rows[] = {
        { 0, 1, 1 },
        { 5, 3, 3 },
        { 100, 37, 37 },                       /* inside the window */
        { 100, 36, B + 36 },                   /* below it: next epoch */
        { B - 1, 0, B },                       /* crossing 2^32 */
        { B - 1, 0xfffffff0U, B - 16 },
        { B + 3, 0xfffffff0U, B - 16 },        /* just crossed, late packet */
        { B + 3, 7, B + 7 },
        { B + 100, 50, B + 50 },
        { 3 * B + 10, 0xffffffe0U, 3 * B - 32 },
        { 10, 0xfffffff0U, 0xfffffff0U },      /* no epoch below zero */
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        uint64_t got = replay_infer_esn(rows[i].top, W, rows[i].lo);
        if (got != rows[i].want)
            fprintf(stderr, "  row %zu: want %llx got %llx\n", i,
                    (unsigned long long)rows[i].want,
                    (unsigned long long)got);
        CHECK(got == rows[i].want);
    }
}

/* Receiving across the 2^32 boundary, in and out of order. */
static void test_window_across_2_32(void)
{
    const uint64_t B = UINT64_C(1) << 32;
    struct window w;

    window_init(&w, 64, B - 10);
    for (uint64_t s = B - 9; s < B + 20; s += 2)
        CHECK(receive(&w, s) == 0);
    for (uint64_t s = B - 8; s < B + 20; s += 2)
        CHECK(receive(&w, s) == 0);
    for (uint64_t s = B - 9; s < B + 20; s++)
        CHECK(receive(&w, s) == ZESP_EREPLAY);
}

int main(void)
{
    RUN(test_window_table);
    RUN(test_window_sizes);
    RUN(test_out_of_order_once);
    RUN(test_check_is_pure);
    RUN(test_jump_forward);
    RUN(test_esn_inference);
    RUN(test_window_across_2_32);
    return test_done();
}
