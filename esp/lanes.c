/*
 * Lanes: many processes sending on one pairwise SA (ZESP_SA_LANES).
 *
 * Processes that share an SA send over connections of their own, so the
 * receiver, taking their messages in turn from each connection, sees one
 * sequence number space far out of order and would refuse what falls
 * below its window.  So each sending process has a lane: its own sequence
 * numbers, kept in the slot (lane_seq), with the lane in the top 16 bits
 * of the IV below them, the way a group's Sender ID is (RFC 6054); the
 * receiver keeps a replay window per lane.
 *
 * A process claims a lane with an open file description lock (F_OFD_SETLK)
 * on one byte of the SAD file, past its end: one byte per slot and lane.
 * The kernel lets go of it when the process dies, however it dies, so a
 * lane is never held by two live processes, and a dead one's lane is free
 * for the next.  Its numbers continue from the slot, where a holder takes
 * them a block at a time, so no (key, nonce) pair is ever used twice
 * whoever was killed.  The free lane used longest ago is taken first:
 * messages of a process just gone may still be on their way, and a new
 * process in the same lane would push them below the receiver's window.
 * "Ago" is an order, not a time: the slot counts (lane_used[0]) each time
 * a lane takes a block or is let go, and the lane keeps the count it last
 * had.  A clock's second made every lane of a busy SA equally old, and
 * the lowest numbered won the tie: often the one just let go.
 * The locks are taken through a file description of their own, never
 * mapped: a forked child shares its parent's descriptions, and a mapping
 * it copied would hold its description's locks for as long as the child
 * lives.  The child closes its copy of the lanes' description as it starts
 * (fork_gen.c), so that its parent's lanes go when the parent lets go of
 * them, and opens the file again before it claims a lane of its own.
 *
 * The receiver's window of a lane is a slot of its own, indexed by (SPI,
 * in, lane) like a group sender's, made when the lane's first message has
 * passed the ICV: a forger cannot fill the SAD with lanes.
 */
#include "lanes.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fork_gen.h"
#include "replay.h"

/* The lane a handle holds on one slot, for the SA of generation gen, and
 * the block of numbers it took: next up to end. */
struct lane_claim {
    _Atomic uint32_t gen;
    _Atomic uint32_t lane;      /* 0: none */
    _Atomic uint64_t next;
    _Atomic uint64_t end;
};

/* The lock byte of (slot, lane): past the end of the file. */
static off_t lock_byte(const struct zesp_sad *sad, uint32_t slot_no,
                       uint32_t lane)
{
    return (off_t)(sad->lay.total_bytes +
                   (uint64_t)slot_no * ZESP_LANES_MAX + lane);
}

static int lock_lane(int fd, off_t at, short type)
{
    struct flock fl = { .l_type = type, .l_whence = SEEK_SET,
                        .l_start = at, .l_len = 1 };

    return fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno;
}

/* The handle's file opened again by path, if it is still there: 0,
 * ZESP_EBADSAD (another file there), or an errno. */
static int reopen_at(struct zesp_sad *sad, const char *path)
{
    struct stat st;

    if (fork_fd_open(&sad->lane_file, AT_FDCWD, path,
                     O_RDWR | O_NOFOLLOW | O_CLOEXEC) < 0)
        return errno;
    if (fstat(sad->lane_file.fd, &st) != 0 ||
        (uint64_t)st.st_ino != sad->file_ino ||
        (uint64_t)st.st_dev != sad->file_dev) {
        fork_fd_close(&sad->lane_file);
        return ZESP_EBADSAD;
    }
    return 0;
}

/* A child after fork: a file description of its own, so that its lanes
 * are its own; the same file, or none.  Its copy of the parent's was
 * closed as it started.  The path from the root first (a daemon's
 * chdir), then the path as given (relative, it still names the file
 * where the working directory is the one it was opened in, though that
 * directory was renamed since, or the process chroot'ed into it). */
static int reopen(struct zesp_sad *sad, struct lane_claim *all)
{
    int err;

    fork_fd_close(&sad->lane_file);
    if ((err = reopen_at(sad, sad->file_path)) != 0 &&
        strcmp(sad->file_path, sad->path) != 0 &&
        reopen_at(sad, sad->path) == 0)
        err = 0;
    if (err != 0)
        return err;
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        atomic_store(&all[i].lane, 0);
        atomic_store(&all[i].gen, 0);
    }
    atomic_store(&sad->fork_gen, fork_gen_now());
    return 0;
}

/* A lane of the slot is used now: the next count of the slot's order. */
static void lane_touch(struct sa_slot *s, uint32_t lane)
{
    atomic_store_explicit(&s->lane_used[lane],
                          atomic_fetch_add(&s->lane_used[0], 1) + 1U,
                          memory_order_relaxed);
}

/* How far a lane's count may run ahead of the slot's as a lane reads
 * them (lanes_by_age): far more than the processes that could touch a
 * lane between the two reads. */
#define LANE_USED_SLACK (UINT64_C(1) << 20)

/* The lanes of a slot, the one used longest ago (or never) first. */
static void lanes_by_age(const struct sa_slot *s, uint32_t order[])
{
    uint64_t used[ZESP_LANES_MAX], count;

    for (uint32_t l = 1; l < ZESP_LANES_MAX; l++) {
        used[l] = atomic_load(&s->lane_used[l]);
        order[l - 1] = l;
    }
    /* A lane's use far past the slot's count is no count: the second of
     * its last block, as a library before the order wrote it (an SA put
     * in the file before an upgrade, or a process still running the old
     * library).  Those seconds, about 2^31, would make every lane the old
     * library used look newer than one the order just let go, which would
     * be taken first again: they read as used before any count.  (Read
     * after the lanes, the count is at least any lane's but for a race of
     * a few: the margin.) */
    count = atomic_load(&s->lane_used[0]);
    for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
        if (used[l] > count + LANE_USED_SLACK)
            used[l] = 0;
    /* Insertion sort: 63 entries, once per process and SA. */
    for (uint32_t i = 1; i < ZESP_LANES_MAX - 1U; i++)
        for (uint32_t j = i; j > 0 && used[order[j]] < used[order[j - 1]]; j--) {
            uint32_t t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

static int claim_slow(struct zesp_sad *sad, const struct sa_ref *ref,
                      struct lane_claim *all, uint32_t slot_no)
{
    struct lane_claim *c = &all[slot_no];
    uint32_t order[ZESP_LANES_MAX - 1U];
    int err = 0;
    uint32_t held;

    if (atomic_load(&sad->fork_gen) != fork_gen_now() &&
        (err = reopen(sad, all)) != 0)
        return err;
    held = atomic_load(&c->lane);
    if (atomic_load(&c->gen) == ref->gen && held != 0)
        return 0;
    /* The slot holds another SA now: its lane of the old one goes. */
    if (held != 0)
        (void)lock_lane(sad->lane_file.fd, lock_byte(sad, slot_no, held),
                        F_UNLCK);
    atomic_store(&c->lane, 0);
    lanes_by_age(ref->slot, order);
    for (uint32_t i = 0; i < ZESP_LANES_MAX - 1U; i++) {
        err = lock_lane(sad->lane_file.fd,
                        lock_byte(sad, slot_no, order[i]), F_WRLCK);
        if (err == 0) {
            /* An empty block: the first number takes one from the slot. */
            atomic_store(&c->end, 0);
            atomic_store(&c->next, 1);
            atomic_store(&c->gen, ref->gen);
            atomic_store(&c->lane, order[i]);
            return 0;
        }
        if (err != EAGAIN && err != EACCES)
            return err;
    }
    return ZESP_ELANES;
}

/* The claim of this handle on the slot of ref, made if need be. */
static int claim(struct zesp_sad *sad, const struct sa_ref *ref,
                 struct lane_claim **out)
{
    struct lane_claim *all, *c;
    uint32_t slot_no = sad_slot_no(sad, ref->slot);
    int err;

    if ((all = atomic_load_explicit(&sad->lanes, memory_order_acquire))) {
        c = &all[slot_no];
        if (atomic_load_explicit(&c->lane, memory_order_acquire) != 0 &&
            atomic_load_explicit(&c->gen, memory_order_acquire) == ref->gen &&
            atomic_load_explicit(&sad->fork_gen, memory_order_relaxed) ==
                fork_gen_now()) {
            *out = c;
            return 0;
        }
    }
    pthread_mutex_lock(&sad->lanes_lock);
    if ((all = atomic_load(&sad->lanes)) == NULL) {
        /* Zeroed pages, touched only for the slots this process sends on.
         * The handle's generation is the one it was opened in: a child
         * forked since reopens the file at its first claim. */
        if ((all = calloc(sad->lay.capacity, sizeof *all)) != NULL)
            atomic_store_explicit(&sad->lanes, all, memory_order_release);
    }
    if (all == NULL)
        err = ENOMEM;
    else if ((err = claim_slow(sad, ref, all, slot_no)) == 0)
        *out = &all[slot_no];
    pthread_mutex_unlock(&sad->lanes_lock);
    return err;
}

static void raise_to(_Atomic uint64_t *v, uint64_t to)
{
    uint64_t cur = atomic_load(v);

    while (cur < to && !atomic_compare_exchange_weak(v, &cur, to))
        ;
}

/* The holder's block is used up: the next from the slot.  Only this
 * process holds the lane, but its threads may race here: the lock keeps
 * one taking a block at a time.  next is raised before end, so that no
 * thread hands out a number between two blocks (the slot's may have
 * jumped: seqstate.c raises it above what another SA of the key used).
 * A thread that found the claim before its SA went may come here after
 * another thread claimed another lane of the SA in its slot: it takes
 * nothing, or that lane would send numbers its own count never passed. */
static int refill(struct zesp_sad *sad, const struct sa_ref *ref,
                  uint32_t lane, struct lane_claim *c, uint64_t max)
{
    struct sa_slot *s = ref->slot;
    _Atomic uint64_t *slot_seq = &s->lane_seq[lane];
    uint64_t cur, end;
    int err = 0;

    pthread_mutex_lock(&sad->lanes_lock);
    if (atomic_load(&c->gen) != ref->gen || atomic_load(&c->lane) != lane) {
        err = ZESP_ENOSA;
        goto out;
    }
    if (atomic_load(&c->next) <= atomic_load(&c->end))
        goto out;                        /* another thread refilled */
    cur = atomic_load(slot_seq);
    do {
        uint64_t reserved = atomic_load(&s->reserved);
        if (cur >= max) {
            err = ZESP_ESEQEXHAUSTED;
            goto out;
        }
        if (cur >= reserved) {
            err = LANE_UNRESERVED;
            goto out;
        }
        end = cur + LANE_BLOCK;
        if (end > max)
            end = max;
        if (end > reserved)
            end = reserved;
    } while (!atomic_compare_exchange_weak(slot_seq, &cur, end));
    lane_touch(s, lane);
    raise_to(&c->next, cur + 1U);
    atomic_store(&c->end, end);
out:
    pthread_mutex_unlock(&sad->lanes_lock);
    return err;
}

int lanes_next(struct zesp_sad *sad, const struct sa_ref *ref, uint64_t max,
               uint32_t *lane, uint64_t *seq)
{
    struct lane_claim *c;
    uint64_t n;
    int err;

    /* A private SAD is one process's: one lane, numbers from the slot. */
    if (!sad->shared) {
        struct sa_slot *s = ref->slot;
        n = atomic_load_explicit(&s->lane_seq[1], memory_order_relaxed);
        do {
            if (n >= max)
                return ZESP_ESEQEXHAUSTED;
            if (n >= atomic_load_explicit(&s->reserved, memory_order_acquire))
                return LANE_UNRESERVED;
        } while (!atomic_compare_exchange_weak(&s->lane_seq[1], &n, n + 1U));
        *lane = 1;
        *seq = n + 1U;
        return 0;
    }
    if ((err = claim(sad, ref, &c)) != 0)
        return err;
    *lane = atomic_load_explicit(&c->lane, memory_order_relaxed);
    for (;;) {
        n = atomic_load(&c->next);
        while (n <= atomic_load(&c->end))
            if (atomic_compare_exchange_weak(&c->next, &n, n + 1U)) {
                *seq = n;
                return 0;
            }
        if ((err = refill(sad, ref, *lane, c, max)) != 0)
            return err;
    }
}

void lanes_let_go(struct zesp_sad *sad)
{
    struct lane_claim *all = atomic_load(&sad->lanes);

    /* A forked child's claims are its parent's, never its own. */
    if (all == NULL || atomic_load(&sad->fork_gen) != fork_gen_now())
        return;
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        uint32_t lane = atomic_load(&all[i].lane);
        struct sa_ref ref = { .slot = sad_slot(sad, i),
                              .gen = atomic_load(&all[i].gen) };

        if (lane == 0)
            continue;
        /* Pinned, the slot still holds the SA the lane was of. */
        if (sad_pin(&ref))
            lane_touch(ref.slot, lane);
        sad_unpin(&ref);
    }
}

int lanes_window(struct zesp_sad *sad, const struct sa_ref *base,
                 uint32_t lane, struct sa_ref *win)
{
    const struct sa_slot *b = base->slot;
    int err;

    if ((err = sad_find_sender(sad, b->spi, ZESP_DIR_IN, lane, win)) !=
        ZESP_ENOSA)
        return err;
    if ((err = sad_lock(sad)) != 0)
        return err;
    /* The base may have gone, or another receiver made the window first. */
    if (!sad_ref_valid(base))
        err = ZESP_ENOSA;
    else if (sad_find_sender(sad, b->spi, ZESP_DIR_IN, lane, win) != 0)
        err = sa_add_lane_window(sad, b, lane);
    sad_unlock(sad);
    if (err == 0)
        err = sad_find_sender(sad, b->spi, ZESP_DIR_IN, lane, win);
    return err;
}
