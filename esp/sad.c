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
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "datapath.h"
#include "fork_gen.h"
#include "lanes.h"
#include "replay.h"

#define SAD_MAGIC UINT64_C(0x5a4553505341440a) /* "ZESPSAD\n" */
#define SAD_VERSION 8U    /* 2: group SAs; 3: seq_start, host-wide counters;
                             4: manual keys' records; 5: lanes;
                             6: source MAC keys; 7: ages on the
                             monotonic clock; 8: slot pins */
#define SAD_WINDOW_DEFAULT 8192U
#define SAD_POLICIES_DEFAULT 256U
#define SAD_POLICIES_MAX (1U << 16)
#define SAD_SPINS_BEFORE_CHECK 256U
/* The lock word of a robust futex (linux/futex.h). */
#define FUTEX_OWNER_DIED_BIT 0x40000000U
#define FUTEX_TID_BITS 0x3fffffffU
#ifndef SAD_SPINS_GIVE_UP                /* fuzzing sets it lower */
#define SAD_SPINS_GIVE_UP (256U * 10000U)    /* 10,000 waits: about 1 s */
#endif

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "the SAD needs lock-free 32- and 64-bit atomics");

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

static uint32_t pow2_at_least(uint32_t n)
{
    uint32_t p = 1;

    while (p < n)
        p <<= 1;
    return p;
}

/*
 * A large SAD is looked up at random: on 4 KiB pages nearly every lookup
 * misses the TLB as well as the cache.  Transparent huge pages, where the
 * system offers them for this kind of memory, make the TLB misses go away
 * (bench/README.md has the figures).  Only a hint: nothing depends on it.
 */
void sad_map_hint(void *map, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    (void)madvise(map, bytes, MADV_HUGEPAGE);
#else
    (void)map;
    (void)bytes;
#endif
}

uint64_t sad_now(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) != 0)
        return 0;                   /* not the stack's garbage */
    return (uint64_t)ts.tv_sec;
}

static uint32_t index_hash(uint32_t spi, uint32_t direction, uint32_t sender)
{
    uint32_t h = (spi ^ (direction << 30)) * 0x9e3779b1U;

    /* A group SPI's senders spread over the table, not one long run. */
    h = (h ^ (h >> 16) ^ sender) * 0x85ebca6bU;
    return h ^ (h >> 13);
}

static uint32_t slot_hash(const struct sa_slot *s)
{
    return index_hash(s->spi, s->direction, slot_index_sender(s));
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

static void layout_sum(const struct sad_header *h, uint8_t out[16])
{
    crypto_generichash(out, 16, (const uint8_t *)h,
                       offsetof(struct sad_header, sum), NULL, 0);
}

/* Everything of the layout that follows from its primary fields. */
static void layout_derive(struct sad_header *h)
{
    uint64_t off;

    h->index_size = pow2_at_least(h->capacity * 2U);
    h->slot_bytes = round_up(sizeof(struct sa_slot) +
                                 h->max_window_words * sizeof(uint64_t), 64);
    off = round_up(sizeof(struct sad_header), h->page);
    h->index_off = off;
    off = round_up(off + (uint64_t)h->index_size * sizeof(uint32_t), 64);
    h->slots_off = off;
    off = round_up(off + (uint64_t)h->capacity * h->slot_bytes, h->page);
    /* Keys start on a page of their own, so they can be locked alone. */
    h->keys_off = off;
    h->keys_bytes = round_up((uint64_t)h->capacity * sizeof(struct sa_key),
                             h->page);
    off += h->keys_bytes;
    h->policies_off = off;
    off += (uint64_t)h->policy_capacity * sizeof(struct policy_slot);
    h->total_bytes = round_up(off, h->page);
}

/* The layout a SAD with these options has; 0 or EINVAL. */
int sad_layout_plan(const zesp_sad_opts *opts, struct sad_header *h)
{
    uint32_t capacity = opts && opts->capacity ? opts->capacity
                                               : ZESP_SAD_CAPACITY_DEFAULT;
    uint32_t window = opts && opts->max_replay_window
                          ? opts->max_replay_window : SAD_WINDOW_DEFAULT;
    uint32_t policies = opts && opts->policies ? opts->policies
                                               : SAD_POLICIES_DEFAULT;

    if (capacity > ZESP_SAD_CAPACITY_MAX || policies > SAD_POLICIES_MAX ||
        window < ZESP_REPLAY_WINDOW_MIN || window > ZESP_REPLAY_WINDOW_MAX)
        return EINVAL;
    memset(h, 0, sizeof *h);
    h->magic = SAD_MAGIC;
    h->version = SAD_VERSION;
    h->capacity = capacity;
    h->max_window_words = replay_words(window);
    h->policy_capacity = pow2_at_least(policies);
    h->page = (uint32_t)sysconf(_SC_PAGESIZE);
    h->max_message = opts && opts->max_message ? opts->max_message
                                               : ZESP_MAX_MESSAGE_DEFAULT;
    layout_derive(h);
    layout_sum(h, h->sum);
    return 0;
}

/* Is the header one this code can trust, for a file of `size` bytes? */
int sad_layout_check(const struct sad_header *h, uint64_t size)
{
    struct sad_header want;
    uint8_t sum[16];

    if (size < sizeof *h || h->magic != SAD_MAGIC)
        return ZESP_EBADSAD;
    if (h->version != SAD_VERSION)
        return ZESP_ESADVERSION;
    layout_sum(h, sum);
    if (sodium_memcmp(sum, h->sum, sizeof sum) != 0)
        return ZESP_EBADSAD;
    /* The primary fields in range, the rest exactly what they imply. */
    memcpy(&want, h, offsetof(struct sad_header, sum));
    if (want.capacity == 0 || want.capacity > ZESP_SAD_CAPACITY_MAX ||
        want.policy_capacity == 0 || want.policy_capacity > SAD_POLICIES_MAX ||
        pow2_at_least(want.policy_capacity) != want.policy_capacity ||
        want.max_window_words > replay_words(ZESP_REPLAY_WINDOW_MAX) ||
        want.max_window_words < replay_words(ZESP_REPLAY_WINDOW_MIN) ||
        want.page != (uint32_t)sysconf(_SC_PAGESIZE))
        return ZESP_EBADSAD;
    layout_derive(&want);
    if (memcmp(&want, h, offsetof(struct sad_header, sum)) != 0)
        return ZESP_EBADSAD;
    if (size < h->total_bytes)
        return ZESP_ESADSIZE;
    return 0;
}

/* Attach to a mapping whose header `h` (a private copy) was checked. */
void sad_attach(struct zesp_sad *sad, uint8_t *map,
                       const struct sad_header *h)
{
    sad->hdr = (struct sad_header *)map;
    sad->lay = (struct sad_layout){
        .capacity = h->capacity,
        .index_size = h->index_size,
        .max_window_words = h->max_window_words,
        .policy_capacity = h->policy_capacity,
        .slot_bytes = h->slot_bytes,
        .keys_bytes = h->keys_bytes,
        .total_bytes = h->total_bytes,
        .max_message = h->max_message,
    };
    sad->index = (_Atomic uint32_t *)(map + h->index_off);
    sad->slots = map + h->slots_off;
    sad->keys = (struct sa_key *)(map + h->keys_off);
    sad->policies = (struct policy_slot *)(map + h->policies_off);
    /* Keys stay out of swap and core dumps where the system allows it. */
    sad->keys_locked = sodium_mlock(sad->keys, h->keys_bytes) == 0;
    (void)madvise(sad->keys, h->keys_bytes, MADV_DONTDUMP);
}

/* Fill fresh (zeroed) memory with an empty SAD of the planned layout. */
int sad_format(uint8_t *map, const struct sad_header *plan)
{
    memcpy(map, plan, sizeof *plan);
    return mutex_init_shared(&((struct sad_header *)map)->lock) ? ENOMEM : 0;
}

struct zesp_sad *sad_alloc(const zesp_sad_opts *opts)
{
    struct zesp_sad *sad;

    if (zesp_init() != 0)
        return NULL;
    if (fork_gen_watch() != 0) {
        errno = ENOMEM;
        return NULL;
    }
    (void)lifetime_boot();        /* a file read, once, before any message */
    if ((sad = calloc(1, sizeof *sad)) == NULL)
        return NULL;
    if (pthread_mutex_init(&sad->lanes_lock, NULL) != 0) {
        free(sad);
        return NULL;
    }
    if (pthread_mutex_init(&sad->own_lock, NULL) != 0) {
        pthread_mutex_destroy(&sad->lanes_lock);
        free(sad);
        return NULL;
    }
    sad->guard.lock[0] = &sad->lanes_lock;
    sad->guard.lock[1] = &sad->own_lock;
    fork_guard_add(&sad->guard);
    sad->lane_file.fd = -1;
    atomic_store(&sad->fork_gen, fork_gen_now());
    sad->acquire_timeout_ms = opts ? opts->acquire_timeout_ms : 0;
    return sad;
}

zesp_sad *zesp_sad_new(const zesp_sad_opts *opts)
{
    struct sad_header plan;
    struct zesp_sad *sad;
    uint8_t *map;
    int err;

    if ((err = sad_layout_plan(opts, &plan)) != 0) {
        errno = err;
        return NULL;
    }
    if ((sad = sad_alloc(opts)) == NULL)
        return NULL;
    map = mmap(NULL, plan.total_bytes, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        zesp_sad_free(sad);
        return NULL;
    }
    sad_map_hint(map, plan.total_bytes);
    if ((err = sad_format(map, &plan)) != 0) {
        munmap(map, plan.total_bytes);
        zesp_sad_free(sad);
        errno = err;
        return NULL;
    }
    sad_attach(sad, map, &plan);
    return sad;
}

/*
 * A window of this process alone refuses what the host accepted before the
 * process attached: it starts at the host's top (kept current by every
 * receiver, own windows or not) for the SAs live at attach, and at the top
 * an SA was installed with for SAs that came later, which this process
 * has seen from their first message.  So a restarted subscriber accepts
 * no replay of what came before, and misses nothing sent after.  Only
 * where the SA was at attach is noted then; the ring is made at the first
 * message, so a process pays for the windows it receives in alone.
 */
static void own_windows_attach(struct zesp_sad *sad)
{
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        uint32_t gen = atomic_load_explicit(&s->gen, memory_order_acquire);
        uint64_t top;

        if ((gen & 1U) ||
            atomic_load_explicit(&s->state, memory_order_acquire) !=
                SLOT_LIVE ||
            s->direction != ZESP_DIR_IN ||
            !(sad->own_all || (s->flags & ZESP_SA_PER_PROCESS_WINDOW)))
            continue;
        top = atomic_load_explicit(&s->seq, memory_order_acquire);
        if (atomic_load_explicit(&s->gen, memory_order_acquire) == gen) {
            sad->own[i].attach_gen = gen;
            sad->own[i].attach_top = top;
        }
    }
}

/* Zeroed memory the kernel hands out as it is touched. */
int sad_own_windows_new(struct zesp_sad *sad, bool all)
{
    if ((sad->own = calloc(sad->lay.capacity, sizeof *sad->own)) == NULL)
        return -1;
    sad->own_all = all;
    own_windows_attach(sad);
    return 0;
}

/* The SA in the slot, seen for the first time by this process's windows:
 * where its window starts, in a ring made now if the slot has none. */
static int own_start(struct zesp_sad *sad, struct own_window *o,
                     const struct sa_ref *ref, uint32_t words)
{
    uint64_t top = ref->slot->seq_start;

    /* seq_start may have been raised since attach (seqstate.c: a SAD file
     * put back), never lowered. */
    if (o->attach_gen == ref->gen && o->attach_top > top)
        top = o->attach_top;

    if (o->ring == NULL &&
        (o->ring = calloc(sad->lay.max_window_words, sizeof *o->ring)) == NULL)
        return ENOMEM;
    replay_start(&o->top, o->ring, words, top);
    atomic_store_explicit(&o->gen, ref->gen, memory_order_release);
    return 0;
}

int sad_own_window(struct zesp_sad *sad, const struct sa_ref *ref,
                   struct window_ref *w)
{
    struct sa_slot *s = ref->slot;
    struct own_window *o;
    int err = 0;
    uint32_t i;

    i = sad_slot_no(sad, s);
    o = &sad->own[i];
    /* An SA this process's windows have not seen yet (generations are
     * even, never 0 once live). */
    if (atomic_load_explicit(&o->gen, memory_order_acquire) != ref->gen) {
        pthread_mutex_lock(&sad->own_lock);
        /* Only for the SA the slot holds: a receiver late from an SA that
         * another replaced would start its window over the new SA's, and
         * the new SA's next receiver would start that afresh, accepting
         * again what it had accepted.  Generations only grow, so one
         * checked here, under the lock, was not yet passed by any window
         * started before. */
        if (!sad_ref_valid(ref))
            err = ZESP_ENOSA;
        else if (atomic_load(&o->gen) != ref->gen)
            err = own_start(sad, o, ref, w->words);
        pthread_mutex_unlock(&sad->own_lock);
    }
    w->top = &o->top;
    w->ring = o->ring;
    return err;
}

void sad_own_floor(struct zesp_sad *sad, const struct sa_ref *ref,
                   uint64_t floor)
{
    struct own_window *o;
    uint32_t words = ref->slot->window_words;

    if (sad->own == NULL ||
        replay_bounds(words, ref->slot->replay_window,
                      sad->lay.max_window_words) != 0)
        return;
    o = &sad->own[sad_slot_no(sad, ref->slot)];
    pthread_mutex_lock(&sad->own_lock);
    if (o->attach_gen == ref->gen && o->attach_top < floor)
        o->attach_top = floor;
    if (atomic_load(&o->gen) == ref->gen && o->ring != NULL &&
        atomic_load(&o->top) < floor)
        replay_start(&o->top, o->ring, words, floor);
    pthread_mutex_unlock(&sad->own_lock);
}

const char *zesp_sad_path(const zesp_sad *sad)
{
    return sad && sad->shared ? sad->path : "";
}

void zesp_sad_set_acquire_timeout(zesp_sad *sad, uint32_t ms)
{
    if (sad != NULL)
        sad->acquire_timeout_ms = ms;
}

void zesp_sad_free(zesp_sad *sad)
{
    if (sad == NULL)
        return;
    if (sad->hdr != NULL) {
        size_t keys_bytes = sad->lay.keys_bytes;

        if (sad->shared)
            lanes_let_go(sad);
        /* A private SAD's keys die with it; a shared SAD's belong to the
         * file (sodium_munlock would wipe them: plain munlock there). */
        if (!sad->shared)
            sodium_memzero(sad->keys, keys_bytes);
        if (sad->keys_locked)
            (void)munlock(sad->keys, keys_bytes);
        munmap(sad->hdr, sad->lay.total_bytes);
    }
    if (sad->own != NULL) {
        for (uint32_t i = 0; i < sad->lay.capacity; i++)
            free((void *)sad->own[i].ring);
        free(sad->own);
    }
    free((void *)sad->record_seen);
    /* Closing the file lets go of this process's lanes. */
    fork_fd_close(&sad->lane_file);
    free(atomic_load(&sad->lanes));
    fork_guard_remove(&sad->guard);
    pthread_mutex_destroy(&sad->own_lock);
    pthread_mutex_destroy(&sad->lanes_lock);
    free(sad);
}

/* Writers only: free a slot, its key wiped first.  Readers holding a
 * reference see the generation change and fail cleanly. */
void sad_slot_release(struct zesp_sad *sad, uint32_t slot_no)
{
    struct sa_slot *s = sad_slot(sad, slot_no);

    if (!(atomic_load(&s->gen) & 1U))
        atomic_fetch_add(&s->gen, 1);
    sodium_memzero(&sad->keys[slot_no], sizeof sad->keys[slot_no]);
    atomic_store(&s->state, SLOT_FREE);
    atomic_fetch_add(&s->gen, 1);
}

/* A lane's window whose lanes SA is gone: what a writer killed while it
 * deleted the SA leaves (sa.c takes the SA first, then its windows).  A
 * new lanes SA on the SPI would take it for its own lane's window. */
static bool lane_window_orphan(struct zesp_sad *sad, struct sa_slot *s)
{
    struct sa_ref base;

    return (s->flags & ZESP_SA_LANES) && slot_is_group_in(s) &&
           (sad_find(sad, s->spi, ZESP_DIR_IN, &base) != 0 ||
            !(base.slot->flags & ZESP_SA_LANES));
}

/* Writers only: what a writer that died left half done is finished or
 * undone, so that every slot is either free or a whole SA. */
static void sad_repair(struct zesp_sad *sad)
{
    uint32_t live = 0, group_in = 0;

    atomic_fetch_add(&sad->hdr->repairs, 1);
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        if ((atomic_load(&s->gen) & 1U) ||
            atomic_load(&s->state) == SLOT_BUSY)
            sad_slot_release(sad, i);
    }
    for (uint32_t i = 0; i < sad->lay.policy_capacity; i++)
        if (atomic_load(&sad->policies[i].gen) & 1U)
            atomic_fetch_add(&sad->policies[i].gen, 1);
    if (atomic_load(&sad->hdr->index_version) & 1U)
        atomic_fetch_add(&sad->hdr->index_version, 1);
    sad_index_rebuild(sad);
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        if (atomic_load(&s->state) != SLOT_LIVE)
            continue;
        if (lane_window_orphan(sad, s)) {
            atomic_fetch_add(&s->gen, 1);
            sad_index_remove(sad, i);
            sad_slot_release(sad, i);
            continue;
        }
        live++;
        group_in += slot_is_group_in(s);
    }
    atomic_store(&sad->hdr->live, live);
    atomic_store(&sad->hdr->group_in, group_in);
}

/*
 * The writers' lock as the file holds it could be damaged too, and glibc
 * trusts it: an owner on an unlocked mutex aborts, a lock word naming a
 * thread that does not exist waits forever.  A lock whose owner died is
 * what kill -9 of a writer leaves (the kernel clears the owner's thread id
 * in the lock word and sets OWNER_DIED, while glibc's __owner still names
 * the dead thread): that one is sound, and the next writer repairs.
 */
bool sad_lock_sane(pthread_mutex_t *m)
{
#ifdef __GLIBC__
    pthread_mutex_t ref;
    bool ok;
    unsigned lock, tid;
    int owner;

    if (mutex_init_shared(&ref) != 0)
        return false;
    ok = m->__data.__kind == ref.__data.__kind;
    pthread_mutex_destroy(&ref);
    if (!ok)
        return false;
    /* The futex word and the owner field change one after the other as
     * other processes lock and unlock: only a pair read twice alike is
     * judged. */
    for (int t = 0;; t++) {
        lock = __atomic_load_n((unsigned *)&m->__data.__lock, __ATOMIC_ACQUIRE);
        owner = __atomic_load_n(&m->__data.__owner, __ATOMIC_ACQUIRE);
        if ((lock == __atomic_load_n((unsigned *)&m->__data.__lock,
                                     __ATOMIC_ACQUIRE) &&
             owner == __atomic_load_n(&m->__data.__owner, __ATOMIC_ACQUIRE)) ||
            t == 1000)
            break;
        sched_yield();
    }
    if (lock & FUTEX_OWNER_DIED_BIT)
        return true;
    tid = lock & FUTEX_TID_BITS;
    if (tid == 0)
        return owner == 0;
    /* Held: by a thread that exists (not this one: it holds nothing yet). */
    if (tid == (unsigned)gettid())
        return false;
    return kill((pid_t)tid, 0) == 0 || errno == EPERM;
#else
    (void)m;
    return true;
#endif
}

/*
 * A reader that keeps finding the index mid-change checks whether the
 * writer changing it is dead; if so it repairs the SAD itself, so that no
 * reader waits forever on a killed writer.
 */
static void sad_unstick(struct zesp_sad *sad)
{
    int rc;

    /* Only a lock word a writer could have left is handed to glibc. */
    if (!sad_lock_sane(&sad->hdr->lock))
        return;
    rc = pthread_mutex_trylock(&sad->hdr->lock);

    if (rc == EBUSY)
        return;              /* a live writer: it will finish */
    if (rc == EOWNERDEAD || rc == 0) {
        if (rc == EOWNERDEAD ||
            (atomic_load(&sad->hdr->index_version) & 1U))
            sad_repair(sad);
        if (rc == EOWNERDEAD)
            pthread_mutex_consistent(&sad->hdr->lock);
        pthread_mutex_unlock(&sad->hdr->lock);
    }
}

bool sad_reader_wait(struct zesp_sad *sad, uint32_t *retries)
{
    if (++*retries % SAD_SPINS_BEFORE_CHECK == 0) {
        sad_unstick(sad);
        /* Yields first; then 100 us sleeps, so that giving up takes about
         * 1 s of a writer stopped mid-change: 10,000 yields alone take
         * some 5 ms where nothing else runs, and a live writer preempted
         * that long made readers miss an SA or a policy, or call a sound
         * SAD damaged. */
        if (*retries < SAD_SPINS_BEFORE_CHECK * 100U)
            sched_yield();
        else
            nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
        /* Mid-change for this long, and no writer could repair it (a
         * damaged lock): the file is damaged, not busy. */
        if (*retries >= SAD_SPINS_GIVE_UP)
            return false;
    }
    return true;
}

/* No clock to set a deadline by (a sandbox that denies clock_gettime,
 * test_clock): tries a millisecond apart, as many as the deadline has
 * milliseconds, rather than refusing every write there. */
static int lock_without_clock(pthread_mutex_t *lock)
{
    for (long tries = 0;; tries++) {
        int rc = pthread_mutex_trylock(lock);

        if (rc != EBUSY)
            return rc;
        if (tries >= SAD_LOCK_TIMEOUT_S * 1000L)
            return ETIMEDOUT;
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
}

int sad_lock(struct zesp_sad *sad)
{
    struct timespec deadline;
    int rc;

    /* Writers hold the lock for microseconds.  Longer than this, the lock
     * word is damaged (it names a live thread that is no writer): say so
     * rather than wait for ever. */
    if (!sad_lock_sane(&sad->hdr->lock))
        return ZESP_EBADSAD;
    /* The deadline on the monotonic clock: the wall clock may fail (its
     * deadline was then whatever the stack held: a write refused at once)
     * or be stepped (a step forward timed a waiter out at once, a step
     * back made it wait that much longer for a damaged lock). */
    if (clock_gettime(CLOCK_MONOTONIC, &deadline) == 0) {
        deadline.tv_sec += SAD_LOCK_TIMEOUT_S;
        rc = pthread_mutex_clocklock(&sad->hdr->lock, CLOCK_MONOTONIC,
                                     &deadline);
    } else {
        rc = lock_without_clock(&sad->hdr->lock);
    }

    /* A writer died holding the lock: repair, then carry on.  An index
     * left mid-change with the lock free (a damaged file) is repaired
     * too, or every lookup of this writer would wait for it forever. */
    if (rc == EOWNERDEAD) {
        sad_repair(sad);
        rc = pthread_mutex_consistent(&sad->hdr->lock);
    } else if (rc == 0 && (atomic_load(&sad->hdr->index_version) & 1U)) {
        sad_repair(sad);
    }
    return rc;
}

void sad_unlock(struct zesp_sad *sad)
{
    pthread_mutex_unlock(&sad->hdr->lock);
}

void sad_changed(struct zesp_sad *sad)
{
    atomic_fetch_add_explicit(&sad->hdr->changes, 1, memory_order_release);
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

    return v && v <= sad->lay.capacity ? sad_slot(sad, v - 1U) : NULL;
}

/* Writers only (lock held). */
void sad_index_insert(struct zesp_sad *sad, uint32_t slot_no)
{
    struct sa_slot *s = sad_slot(sad, slot_no);
    uint32_t mask = sad->lay.index_size - 1U;
    uint32_t pos = slot_hash(s) & mask;

    /* The index has more entries than there are slots, so a free one
     * exists; the bound only guards against a damaged index. */
    for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1U) & mask)
        if (atomic_load_explicit(&sad->index[pos], memory_order_relaxed) == 0) {
            atomic_store_explicit(&sad->index[pos], slot_no + 1U,
                                  memory_order_release);
            return;
        }
}

/* Writers only (lock held): remove, then shift later entries back so that
 * every entry stays reachable from its home position. */
void sad_index_remove(struct zesp_sad *sad, uint32_t slot_no)
{
    uint32_t mask = sad->lay.index_size - 1U;
    struct sa_slot *s = sad_slot(sad, slot_no);
    uint32_t hole = slot_hash(s) & mask;

    for (uint32_t n = 0;
         atomic_load_explicit(&sad->index[hole], memory_order_relaxed) !=
         slot_no + 1U;
         n++, hole = (hole + 1U) & mask)
        if (n == mask)
            return;                   /* not indexed: nothing to remove */
    index_begin(sad);
    for (uint32_t pos = (hole + 1U) & mask;; pos = (pos + 1U) & mask) {
        struct sa_slot *e = index_entry(sad, pos);
        uint32_t home;

        if (e == NULL)
            break;
        home = slot_hash(e) & mask;
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
    for (uint32_t i = 0; i < sad->lay.index_size; i++)
        atomic_store_explicit(&sad->index[i], 0, memory_order_relaxed);
    for (uint32_t i = 0; i < sad->lay.capacity; i++)
        if (atomic_load(&sad_slot(sad, i)->state) == SLOT_LIVE)
            sad_index_insert(sad, i);
    index_end(sad);
}

static bool slot_matches(struct sa_slot *s, uint32_t spi, uint32_t direction,
                         uint32_t sender, uint32_t *gen)
{
    *gen = atomic_load_explicit(&s->gen, memory_order_acquire);
    return !(*gen & 1U) &&
           atomic_load_explicit(&s->state, memory_order_acquire) == SLOT_LIVE &&
           s->spi == spi && s->direction == direction &&
           slot_index_sender(s) == sender;
}

int sad_find_sender(struct zesp_sad *sad, uint32_t spi, uint32_t direction,
                    uint32_t sender, struct sa_ref *ref)
{
    uint32_t mask = sad->lay.index_size - 1U;
    uint32_t retries = 0;

    for (;;) {
        uint32_t v = atomic_load_explicit(&sad->hdr->index_version,
                                          memory_order_acquire);
        uint32_t pos = index_hash(spi, direction, sender) & mask;

        for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1U) & mask) {
            uint32_t e = atomic_load_explicit(&sad->index[pos],
                                              memory_order_acquire);
            if (e == 0)
                break;
            if (e > sad->lay.capacity)     /* damaged: never followed */
                continue;
            if (slot_matches(sad_slot(sad, e - 1U), spi, direction, sender,
                             &ref->gen)) {
                ref->slot = sad_slot(sad, e - 1U);
                ref->key = &sad->keys[e - 1U];
                return 0;
            }
        }
        if (!(v & 1U) && atomic_load_explicit(&sad->hdr->index_version,
                                              memory_order_acquire) == v)
            return ZESP_ENOSA;
        if (!sad_reader_wait(sad, &retries))
            return ZESP_EBADSAD;
    }
}

int sad_find_group_lowest(struct zesp_sad *sad, uint32_t spi,
                          struct sa_ref *ref)
{
    uint32_t best = ZESP_SENDER_ID_MAX + 1U;

    if (atomic_load_explicit(&sad->hdr->group_in, memory_order_acquire) == 0)
        return ZESP_ENOSA;
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        uint32_t gen, sender;

        if (s->spi != spi || s->direction != ZESP_DIR_IN)
            continue;
        sender = slot_index_sender(s);
        if (sender == 0 || sender >= best ||
            !slot_matches(s, spi, ZESP_DIR_IN, sender, &gen))
            continue;
        best = sender;
        ref->slot = s;
        ref->key = &sad->keys[i];
        ref->gen = gen;
    }
    return best <= ZESP_SENDER_ID_MAX ? 0 : ZESP_ENOSA;
}

/* A seqlock's second read: the fence keeps the plain reads of the slot
 * made since the reference was taken (its key, its fields) before this
 * load of the generation, which an acquire load alone does not do on a
 * weakly ordered CPU (a compiler barrier only on x86). */
bool sad_ref_valid(const struct sa_ref *ref)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&ref->slot->gen, memory_order_relaxed) ==
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
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        stats->rejected[k] = atomic_load(&sad->hdr->rejected[k]);
    stats->repairs = atomic_load(&sad->hdr->repairs);
    stats->sas = atomic_load(&sad->hdr->live);
    stats->capacity = sad->lay.capacity;
    stats->keys_locked = sad->keys_locked;
    return 0;
}

bool sad_private_forked(struct zesp_sad *sad)
{
    return !sad->shared &&
           atomic_load_explicit(&sad->fork_gen, memory_order_relaxed) !=
               fork_gen_now();
}
