/*
 * The SA database: slots, the SPI index, and the writers' lock.
 *
 * The index is an open-addressing table with linear probing and
 * backward-shift deletion (no tombstones, so probes stay short forever).
 * Readers take no lock: a hit is checked against the slot itself, and a
 * miss is trusted only if no writer changed the index meanwhile
 * (index_version, a sequence lock).
 */
#include "sad.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "replay.h"

#define SAD_MAGIC UINT64_C(0x5a4553505341440a) /* "ZESPSAD\n" */
#define SAD_VERSION 1U
#define SAD_CAPACITY_DEFAULT 1024U
#define SAD_CAPACITY_MAX (1U << 24)

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

uint64_t sad_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (uint64_t)ts.tv_sec;
}

static uint32_t index_hash(uint32_t spi, uint32_t direction)
{
    uint32_t h = (spi ^ (direction << 30)) * 0x9e3779b1U;
    return h ^ (h >> 16);
}

static int mutex_init_shared(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    int rc;

    if ((rc = pthread_mutexattr_init(&a)) != 0)
        return rc;
    if ((rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
        (rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0)
        rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

zesp_sad *zesp_sad_new(const zesp_sad_opts *opts)
{
    uint32_t capacity = opts && opts->capacity ? opts->capacity
                                               : SAD_CAPACITY_DEFAULT;
    uint64_t max_message = opts && opts->max_message ? opts->max_message
                                                     : ZESP_MAX_MESSAGE_DEFAULT;
    uint32_t words = replay_words(ZESP_REPLAY_WINDOW_MAX);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t hdr_bytes, index_bytes, slot_bytes;
    uint32_t index_size = 1;
    struct zesp_sad *sad;
    uint8_t *map;

    if (zesp_init() != 0)
        return NULL;
    if (capacity > SAD_CAPACITY_MAX) {
        errno = EINVAL;
        return NULL;
    }
    while (index_size < capacity * 2U)
        index_size <<= 1;
    hdr_bytes = round_up(sizeof(struct sad_header), 64);
    index_bytes = round_up((size_t)index_size * sizeof(uint32_t), 64);
    slot_bytes = round_up(sizeof(struct sa_slot) +
                              (size_t)words * sizeof(uint64_t), 64);

    if ((sad = calloc(1, sizeof *sad)) == NULL)
        return NULL;
    sad->map_bytes = round_up(hdr_bytes + index_bytes +
                                  (size_t)capacity * slot_bytes, page);
    sad->keys_bytes = round_up((size_t)capacity * sizeof(struct sa_key), page);
    map = mmap(NULL, sad->map_bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        goto fail;
    sad->hdr = (struct sad_header *)map;
    sad->index = (_Atomic uint32_t *)(map + hdr_bytes);
    sad->slots = map + hdr_bytes + index_bytes;
    sad->keys = mmap(NULL, sad->keys_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (sad->keys == MAP_FAILED) {
        sad->keys = NULL;
        goto fail;
    }
    /* Keys stay out of swap and core dumps where the system allows it. */
    sad->keys_locked = sodium_mlock(sad->keys, sad->keys_bytes) == 0;
    (void)madvise(sad->keys, sad->keys_bytes, MADV_DONTDUMP);

    sad->hdr->magic = SAD_MAGIC;
    sad->hdr->version = SAD_VERSION;
    sad->hdr->capacity = capacity;
    sad->hdr->index_size = index_size;
    sad->hdr->max_window_words = words;
    sad->hdr->slot_bytes = slot_bytes;
    sad->hdr->max_message = max_message;
    if (mutex_init_shared(&sad->hdr->lock) != 0) {
        errno = ENOMEM;
        goto fail;
    }
    return sad;
fail:
    zesp_sad_free(sad);
    return NULL;
}

void zesp_sad_free(zesp_sad *sad)
{
    if (sad == NULL)
        return;
    if (sad->keys != NULL) {
        sodium_memzero(sad->keys, sad->keys_bytes);
        if (sad->keys_locked)
            sodium_munlock(sad->keys, sad->keys_bytes);
        munmap(sad->keys, sad->keys_bytes);
    }
    if (sad->hdr != NULL) {
        pthread_mutex_destroy(&sad->hdr->lock);
        munmap(sad->hdr, sad->map_bytes);
    }
    free(sad);
}

int sad_lock(struct zesp_sad *sad)
{
    int rc = pthread_mutex_lock(&sad->hdr->lock);

    /* A writer died holding the lock: its half-done index change is
     * repaired by rebuilding the index from the slots. */
    if (rc == EOWNERDEAD) {
        sad_index_rebuild(sad);
        rc = pthread_mutex_consistent(&sad->hdr->lock);
    }
    return rc;
}

void sad_unlock(struct zesp_sad *sad)
{
    pthread_mutex_unlock(&sad->hdr->lock);
}

static void index_begin(struct zesp_sad *sad)
{
    atomic_fetch_add_explicit(&sad->hdr->index_version, 1, memory_order_acq_rel);
}

static void index_end(struct zesp_sad *sad)
{
    atomic_fetch_add_explicit(&sad->hdr->index_version, 1, memory_order_release);
}

static struct sa_slot *index_entry(struct zesp_sad *sad, uint32_t pos)
{
    uint32_t v = atomic_load_explicit(&sad->index[pos], memory_order_acquire);

    return v ? sad_slot(sad, v - 1U) : NULL;
}

/* Writers only (lock held). */
void sad_index_insert(struct zesp_sad *sad, uint32_t slot_no)
{
    struct sa_slot *s = sad_slot(sad, slot_no);
    uint32_t mask = sad->hdr->index_size - 1U;
    uint32_t pos = index_hash(s->spi, s->direction) & mask;

    while (atomic_load_explicit(&sad->index[pos], memory_order_relaxed))
        pos = (pos + 1U) & mask;
    atomic_store_explicit(&sad->index[pos], slot_no + 1U, memory_order_release);
}

/* Writers only (lock held): remove, then shift later entries back so that
 * every entry stays reachable from its home position. */
void sad_index_remove(struct zesp_sad *sad, uint32_t slot_no)
{
    uint32_t mask = sad->hdr->index_size - 1U;
    struct sa_slot *s = sad_slot(sad, slot_no);
    uint32_t hole = index_hash(s->spi, s->direction) & mask;

    while (atomic_load_explicit(&sad->index[hole], memory_order_relaxed) !=
           slot_no + 1U)
        hole = (hole + 1U) & mask;
    index_begin(sad);
    for (uint32_t pos = (hole + 1U) & mask;; pos = (pos + 1U) & mask) {
        struct sa_slot *e = index_entry(sad, pos);
        uint32_t home;

        if (e == NULL)
            break;
        home = index_hash(e->spi, e->direction) & mask;
        /* e may fill the hole if the hole lies on e's probe path. */
        if (((pos - home) & mask) >= ((pos - hole) & mask)) {
            atomic_store_explicit(&sad->index[hole],
                                  atomic_load(&sad->index[pos]),
                                  memory_order_release);
            hole = pos;
        }
    }
    atomic_store_explicit(&sad->index[hole], 0, memory_order_release);
    index_end(sad);
}

void sad_index_rebuild(struct zesp_sad *sad)
{
    index_begin(sad);
    for (uint32_t i = 0; i < sad->hdr->index_size; i++)
        atomic_store_explicit(&sad->index[i], 0, memory_order_relaxed);
    for (uint32_t i = 0; i < sad->hdr->capacity; i++)
        if (atomic_load(&sad_slot(sad, i)->state) == SLOT_LIVE)
            sad_index_insert(sad, i);
    index_end(sad);
}

static bool slot_matches(struct sa_slot *s, uint32_t spi, uint32_t direction,
                         uint32_t *gen)
{
    *gen = atomic_load_explicit(&s->gen, memory_order_acquire);
    return !(*gen & 1U) &&
           atomic_load_explicit(&s->state, memory_order_acquire) == SLOT_LIVE &&
           s->spi == spi && s->direction == direction;
}

int sad_find(struct zesp_sad *sad, uint32_t spi, uint32_t direction,
             struct sa_ref *ref)
{
    uint32_t mask = sad->hdr->index_size - 1U;

    for (;;) {
        uint32_t v = atomic_load_explicit(&sad->hdr->index_version,
                                          memory_order_acquire);
        uint32_t pos = index_hash(spi, direction) & mask;

        for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1U) & mask) {
            uint32_t e = atomic_load_explicit(&sad->index[pos],
                                              memory_order_acquire);
            if (e == 0)
                break;
            if (slot_matches(sad_slot(sad, e - 1U), spi, direction, &ref->gen)) {
                ref->slot = sad_slot(sad, e - 1U);
                ref->key = &sad->keys[e - 1U];
                return 0;
            }
        }
        if (!(v & 1U) && atomic_load_explicit(&sad->hdr->index_version,
                                              memory_order_acquire) == v)
            return ZESP_ENOSA;
    }
}

bool sad_ref_valid(const struct sa_ref *ref)
{
    return atomic_load_explicit(&ref->slot->gen, memory_order_acquire) ==
           ref->gen;
}

int zesp_sad_stats_get(zesp_sad *sad, zesp_sad_stats *stats)
{
    if (sad == NULL || stats == NULL) {
        errno = EINVAL;
        return -1;
    }
    stats->rejected_nosa = atomic_load(&sad->hdr->rejected_nosa);
    stats->rejected_malformed = atomic_load(&sad->hdr->rejected_malformed);
    return 0;
}
