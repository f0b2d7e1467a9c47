/*
 * The SA store: install, find, delete under churn; capacity; key wiping;
 * and many threads sending and receiving on one SA with no sequence number
 * reused and no message accepted twice.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sodium.h>

#include "keys.h"
#include "packet.h"
#include "sad.h"
#include "test.h"
#include "zesp.h"

static void test_add_find_delete_churn(void)
{
    zesp_sad_opts opts = { .capacity = 512 };
    zesp_sad *sad = zesp_sad_new(&opts);
    static uint8_t live[4096];
    zesp_sa_info info;
    uint32_t rnd = 1;

    for (uint32_t i = 0; i < 20000; i++) {
        rnd = rnd * 1103515245U + 12345U;
        uint32_t spi = 1U + (rnd >> 8) % 4095U;
        uint32_t dir = (rnd & 1U) ? ZESP_DIR_IN : ZESP_DIR_OUT;
        uint8_t bit = (uint8_t)dir;
        if (live[spi] & bit) {
            CHECK_OK(zesp_sa_del(sad, spi, dir));
            live[spi] &= (uint8_t)~bit;
        } else {
            zesp_sa_params p = test_sa(spi, dir, 0, 0);
            if (zesp_sa_add(sad, &p) == 0)
                live[spi] |= bit;
            else
                CHECK(errno == ZESP_EFULL);
        }
    }
    for (uint32_t spi = 1; spi < 4096; spi++)
        for (uint32_t dir = ZESP_DIR_IN; dir <= ZESP_DIR_OUT; dir++) {
            int found = zesp_sa_info_get(sad, spi, dir, &info) == 0;
            CHECK(found == !!(live[spi] & dir));
            if (found)
                CHECK(info.spi == spi && info.direction == dir);
        }
    zesp_sad_free(sad);
}

static void test_capacity(void)
{
    zesp_sad_opts opts = { .capacity = 8 };
    zesp_sad *sad = zesp_sad_new(&opts);

    for (uint32_t i = 0; i < 8; i++) {
        zesp_sa_params p = test_sa(100 + i, ZESP_DIR_IN, 0, 0);
        CHECK_OK(zesp_sa_add(sad, &p));
    }
    zesp_sa_params p = test_sa(999, ZESP_DIR_IN, 0, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EFULL);
    CHECK_OK(zesp_sa_del(sad, 103, ZESP_DIR_IN));
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_ERR(zesp_sa_del(sad, 103, ZESP_DIR_IN), ZESP_ENOSA);
    zesp_sad_free(sad);
}

/* A deleted SA's key is gone from memory, not just unlinked. */
static void test_key_wiped(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p = test_sa(42, ZESP_DIR_IN, 0, 0);
    struct sa_ref ref;
    const uint8_t *key;

    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(sad_find(sad, 42, ZESP_DIR_IN, &ref) == 0);
    key = ref.key->key;
    CHECK(memcmp(key, p.key, 32) == 0);
    CHECK_OK(zesp_sa_del(sad, 42, ZESP_DIR_IN));
    CHECK(sodium_is_zero(key, 32));
    CHECK(sodium_is_zero(ref.key->salt, 4));
    CHECK(!sad_ref_valid(&ref));
    zesp_sad_free(sad);
}

enum { THREADS = 4, PER_THREAD = 5000 };

struct shared {
    zesp_sad *out, *in;
    uint8_t *esp[THREADS * PER_THREAD];
    size_t n[THREADS * PER_THREAD];
    int accepted[THREADS];
    _Atomic int times[THREADS * PER_THREAD];
};

static struct shared sh;
static _Atomic int next_index;

static void *sender(void *arg)
{
    zesp_frame body = { "load", 4 };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    (void)arg;
    for (int i = 0; i < PER_THREAD; i++) {
        int k = atomic_fetch_add(&next_index, 1);
        if (zesp_seal(sh.out, 7, &parts, &sh.esp[k], &sh.n[k]) != 0)
            sh.esp[k] = NULL;
    }
    return NULL;
}

/* Each receiver tries every message: together they accept each once. */
static void *receiver(void *arg)
{
    int id = (int)(intptr_t)arg;
    zesp_msg *msg = zesp_msg_new();

    for (int k = 0; k < THREADS * PER_THREAD; k++) {
        int j = (k + id * 997) % (THREADS * PER_THREAD);
        uint8_t *copy = malloc(sh.n[j]);
        memcpy(copy, sh.esp[j], sh.n[j]);
        if (zesp_open(sh.in, NULL, 0, copy, sh.n[j], msg) == 0) {
            sh.accepted[id]++;
            atomic_fetch_add(&sh.times[j], 1);
        }
        free(copy);
    }
    zesp_msg_free(msg);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_threads_share_one_sa(void)
{
    pthread_t th[THREADS];
    uint64_t *seqs = malloc(sizeof(uint64_t) * THREADS * PER_THREAD);
    zesp_sa_params in = test_sa(7, ZESP_DIR_IN, 0, 0);
    int total = 0, dup = 0;

    zesp_sad_opts big = { .max_replay_window = ZESP_REPLAY_WINDOW_MAX };
    sh.out = zesp_sad_new(NULL);
    sh.in = zesp_sad_new(&big);
    zesp_sa_params out = test_sa(7, ZESP_DIR_OUT, 0, 0);
    in.replay_window = ZESP_REPLAY_WINDOW_MAX;
    CHECK_OK(zesp_sa_add(sh.out, &out));
    CHECK_OK(zesp_sa_add(sh.in, &in));
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, sender, NULL);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < THREADS * PER_THREAD; k++) {
        CHECK(sh.esp[k] != NULL);
        seqs[k] = load_be32(sh.esp[k] + 4);
    }
    qsort(seqs, THREADS * PER_THREAD, sizeof *seqs, cmp_u64);
    for (int k = 1; k < THREADS * PER_THREAD; k++)
        dup += seqs[k] == seqs[k - 1];
    CHECK(dup == 0);
    CHECK(seqs[THREADS * PER_THREAD - 1] == THREADS * PER_THREAD);

    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, receiver, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    for (int t = 0; t < THREADS; t++)
        total += sh.accepted[t];
    /* The window (16384) covers all 20000 but the oldest 3616, which may
     * be refused as too old once later ones arrived; none twice. */
    for (int k = 0; k < THREADS * PER_THREAD; k++)
        CHECK(atomic_load(&sh.times[k]) <= 1);
    CHECK(total >= (int)ZESP_REPLAY_WINDOW_MAX);
    zesp_sa_info info;
    CHECK_OK(zesp_sa_info_get(sh.in, 7, ZESP_DIR_IN, &info));
    CHECK(info.stats.messages == (uint64_t)total);
    for (int k = 0; k < THREADS * PER_THREAD; k++)
        zesp_buf_free(sh.esp[k]);
    free(seqs);
    zesp_sad_free(sh.out);
    zesp_sad_free(sh.in);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    RUN(test_add_find_delete_churn);
    RUN(test_capacity);
    RUN(test_key_wiped);
    RUN(test_threads_share_one_sa);
    return test_done();
}
