/*
 * A full consistency check of a SAD, for tests and tools: every slot is
 * free or a whole SA, the index holds exactly the live SAs, nothing is
 * half-written.  It takes the writers' lock, so a writer that died is
 * repaired first, as any writer would.
 */
#include <errno.h>

#include "replay.h"
#include "sad.h"
#include "seqstate.h"
#include "transform.h"

#define SLOT_FLAGS_KNOWN (ZESP_SA_NO_ESN | ZESP_SA_GROUP | ZESP_SA_SIGNED | \
                          ZESP_SA_MANUAL | ZESP_SA_LANES | ZESP_SA_SOURCE_MAC | \
                          ZESP_SA_PER_PROCESS_WINDOW)

/* What zesp_sa_add (and a receiver making a lane's window) allows of flags
 * and Sender ID, and nothing else. */
static bool group_sane(const struct sa_slot *s)
{
    bool group = s->flags & ZESP_SA_GROUP, lanes = s->flags & ZESP_SA_LANES;

    if ((s->flags & ~SLOT_FLAGS_KNOWN) ||
        ((s->flags & ZESP_SA_PER_PROCESS_WINDOW) &&
         s->direction != ZESP_DIR_IN))
        return false;
    if (lanes)          /* the SA (sender 0), or an inbound lane's window */
        return !group &&
               !(s->flags & (ZESP_SA_SIGNED | ZESP_SA_SOURCE_MAC)) &&
               s->sender_id < ZESP_LANES_MAX &&
               (s->sender_id == 0 || s->direction == ZESP_DIR_IN);
    return group == (s->sender_id != 0) &&
           s->sender_id <= ZESP_SENDER_ID_MAX &&
           (group || !(s->flags & (ZESP_SA_SIGNED | ZESP_SA_SOURCE_MAC)));
}

static bool slot_sane(const struct zesp_sad *sad, const struct sa_slot *s)
{
    return group_sane(s) &&
           (!(s->flags & ZESP_SA_MANUAL) || seqstate_block_valid(s->seq_block)) &&
           (s->direction == ZESP_DIR_IN || s->direction == ZESP_DIR_OUT) &&
           s->spi != 0 && transform_find(s->transform) != NULL &&
           s->replay_window >= ZESP_REPLAY_WINDOW_MIN &&
           s->replay_window <= ZESP_REPLAY_WINDOW_MAX &&
           s->window_words == replay_words(s->replay_window) &&
           s->window_words <= sad->lay.max_window_words;
}

/* A slot read whole: a live SA that is not sane, read between two equal
 * even generations (a writer at work on it makes the generation odd, and
 * another after), is damaged.  A slot that a writer keeps changing is
 * being written by a live process: not judged. */
#define SLOT_READ_TRIES 64

static bool slot_damaged(const struct zesp_sad *sad, const struct sa_slot *s)
{
    for (int t = 0; t < SLOT_READ_TRIES; t++) {
        uint32_t gen = atomic_load(&s->gen), state;
        bool sane;

        if (gen & 1U)
            continue;
        state = atomic_load(&s->state);
        if (state > SLOT_LIVE)
            return true;
        if (state != SLOT_LIVE)
            return false;
        sane = slot_sane(sad, s);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&s->gen, memory_order_relaxed) == gen)
            return !sane;
    }
    return false;
}

/* Without the lock, at attach, while other processes may be writing:
 * values no writer could have left, however it died (an index entry past
 * the slots, an unknown slot state, a live SA whose window does not
 * fit), mean a file damaged from outside. */
int sad_sane(const struct zesp_sad *sad)
{
    for (uint32_t i = 0; i < sad->lay.index_size; i++)
        if (atomic_load(&sad->index[i]) > sad->lay.capacity)
            return ZESP_EBADSAD;
    for (uint32_t i = 0; i < sad->lay.capacity; i++)
        if (slot_damaged(sad, sad_slot((struct zesp_sad *)sad, i)))
            return ZESP_EBADSAD;
    return 0;
}

static int verify_locked(struct zesp_sad *sad)
{
    uint32_t live = 0, indexed = 0, group_in = 0;

    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        uint32_t state = atomic_load(&s->state);
        struct sa_ref ref;

        if (atomic_load(&s->gen) & 1U)
            return ZESP_EBADSAD;
        if (state == SLOT_FREE)
            continue;
        if (state != SLOT_LIVE || !slot_sane(sad, s))
            return ZESP_EBADSAD;
        if (sad_find_sender(sad, s->spi, s->direction, slot_index_sender(s),
                            &ref) != 0 || ref.slot != s)
            return ZESP_EBADSAD;
        live++;
        group_in += slot_is_group_in(s);
    }
    for (uint32_t i = 0; i < sad->lay.index_size; i++) {
        uint32_t e = atomic_load(&sad->index[i]);
        if (e == 0)
            continue;
        if (e > sad->lay.capacity ||
            atomic_load(&sad_slot(sad, e - 1U)->state) != SLOT_LIVE)
            return ZESP_EBADSAD;
        indexed++;
    }
    if (live != indexed || live != atomic_load(&sad->hdr->live) ||
        group_in != atomic_load(&sad->hdr->group_in))
        return ZESP_EBADSAD;
    for (uint32_t i = 0; i < sad->lay.policy_capacity; i++)
        if (atomic_load(&sad->policies[i].gen) & 1U)
            return ZESP_EBADSAD;
    return 0;
}

int zesp_sad_verify(zesp_sad *sad)
{
    int err;

    if (sad == NULL) {
        errno = EINVAL;
        return -1;
    }
    if ((err = sad_lock(sad)) != 0) {
        errno = err;
        return -1;
    }
    err = verify_locked(sad);
    sad_unlock(sad);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
