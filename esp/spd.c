/*
 * Policies (the SPD): what the application names when it sends, mapped to
 * the outbound SA that serves it now and the inbound SAs accepted for it.
 * Policies sit in an open-addressing table keyed by name; readers find
 * them without a lock and check the generation, like SAs.  A policy
 * whose SAs encrypt is never served by an integrity-only SA: a policy
 * listing both kinds is refused, and ZESP_POLICY_INTEGRITY_ONLY (set when
 * its SAs authenticate only) is checked again as a message arrives, since
 * an SPI it lists may be given to another SA later.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sad.h"
#include "spd.h"
#include "transform.h"

#define POLICY_FLAGS_KNOWN \
    (ZESP_POLICY_PER_PROCESS_WINDOW | ZESP_POLICY_INTEGRITY_ONLY)

static int fail(int err)
{
    errno = err;
    return -1;
}

static uint32_t name_hash(const char *name)
{
    uint32_t h = 2166136261U;   /* FNV-1a */

    for (; *name; name++)
        h = (h ^ (uint8_t)*name) * 16777619U;
    return h;
}

static bool name_valid(const char *name)
{
    size_t n = strnlen(name, ZESP_NAME_MAX);

    if (n == 0 || n == ZESP_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!spd_name_byte((unsigned char)name[i]))
            return false;
    return true;
}

/* Lock-free lookup: the live policy of that name, and its generation.  A
 * slot mid-change on the way could be that policy being rewritten: the
 * lookup waits for the writer rather than answer "no such policy" (a
 * sender would lose its message to a rekey). */
static struct policy_slot *policy_find(struct zesp_sad *sad, const char *name,
                                       uint32_t *gen)
{
    uint32_t mask = sad->lay.policy_capacity - 1U;
    uint32_t retries = 0;

    for (;;) {
        uint32_t pos = name_hash(name) & mask;
        bool busy = false;

        for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1U) & mask) {
            struct policy_slot *p = &sad->policies[pos];
            uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
            uint32_t state;
            bool match;

            if (g & 1U) {
                busy = true;
                continue;
            }
            state = atomic_load_explicit(&p->state, memory_order_acquire);
            match = state == POLICY_LIVE &&
                    strncmp(p->name, name, ZESP_NAME_MAX) == 0;
            /* The name read between two equal even generations, or the
             * slot is looked at again. */
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&p->gen, memory_order_relaxed) != g) {
                busy = true;
                continue;
            }
            if (state == POLICY_FREE)
                break;
            if (match) {
                *gen = g;
                return p;
            }
        }
        if (!busy || !sad_reader_wait(sad, &retries))
            return NULL;
    }
}

/* Writers only: a slot for a new policy of that name. */
static struct policy_slot *policy_slot_for(struct zesp_sad *sad,
                                           const char *name)
{
    uint32_t mask = sad->lay.policy_capacity - 1U;
    uint32_t pos = name_hash(name) & mask;

    for (uint32_t n = 0; n <= mask; n++, pos = (pos + 1U) & mask)
        if (atomic_load(&sad->policies[pos].state) != POLICY_LIVE)
            return &sad->policies[pos];
    return NULL;
}

static void policy_write(struct policy_slot *p, const zesp_policy *pol)
{
    char name[sizeof p->name] = { 0 };

    /* The name is never cleared in the slot: a writer killed here leaves
     * a rewritten policy under its name (the repair makes the slot valid
     * as it is), not a live policy with no name. */
    snprintf(name, sizeof name, "%s", pol->name);
    atomic_fetch_add(&p->gen, 1);
    memcpy(p->name, name, sizeof p->name);
    snprintf(p->peer, sizeof p->peer, "%s", pol->peer);
    atomic_store(&p->out_spi, pol->out_spi);
    for (uint32_t i = 0; i < POLICY_IN_MAX; i++)
        atomic_store(&p->in_spi[i], pol->in_spi[i]);
    p->flags = pol->flags;
    atomic_store(&p->acquire, 0);
    atomic_store(&p->state, POLICY_LIVE);
    atomic_fetch_add(&p->gen, 1);
}

enum sa_protection spd_transform_protection(uint32_t transform)
{
    const struct transform *t = transform_find(transform);

    if (t == NULL)
        return SA_ABSENT;
    return t->encrypts ? SA_ENCRYPTS : SA_INTEGRITY_ONLY;
}

enum sa_protection spd_sa_protection(struct zesp_sad *sad, uint32_t spi,
                                     uint32_t direction)
{
    zesp_sa_info info;

    if (spi == 0 || zesp_sa_info_get(sad, spi, direction, &info) != 0)
        return SA_ABSENT;
    return spd_transform_protection(info.transform);
}

/* Writers: ZESP_POLICY_INTEGRITY_ONLY as the policy's SAs in the SAD say
 * (all authenticate only), or as asked when none is there yet; false if
 * they are of both kinds. */
static bool protection_of(struct zesp_sad *sad, const zesp_policy *pol,
                          uint32_t *flags)
{
    enum sa_protection out = spd_sa_protection(sad, pol->out_spi,
                                               ZESP_DIR_OUT);
    bool encrypts = out == SA_ENCRYPTS, integrity = out == SA_INTEGRITY_ONLY;

    for (uint32_t i = 0; i < POLICY_IN_MAX; i++) {
        enum sa_protection k = spd_sa_protection(sad, pol->in_spi[i],
                                                ZESP_DIR_IN);
        encrypts |= k == SA_ENCRYPTS;
        integrity |= k == SA_INTEGRITY_ONLY;
    }
    if (encrypts && integrity)
        return false;
    *flags = pol->flags & ~ZESP_POLICY_INTEGRITY_ONLY;
    if (integrity || (!encrypts && (pol->flags & ZESP_POLICY_INTEGRITY_ONLY)))
        *flags |= ZESP_POLICY_INTEGRITY_ONLY;
    return true;
}

/* An inbound SPI in two places: the SA meant in one of them is on no
 * policy, and its messages are refused with nothing said when it was set
 * (zesp load refuses the same list). */
static bool in_spis_distinct(const zesp_policy *pol)
{
    for (uint32_t i = 0; i < POLICY_IN_MAX; i++)
        for (uint32_t j = i + 1U; pol->in_spi[i] != 0 && j < POLICY_IN_MAX;
             j++)
            if (pol->in_spi[j] == pol->in_spi[i])
                return false;
    return true;
}

int zesp_policy_set(zesp_sad *sad, const zesp_policy *pol)
{
    struct policy_slot *p;
    zesp_policy checked;
    uint32_t gen;
    int err;

    if (sad == NULL || pol == NULL || !name_valid(pol->name) ||
        memchr(pol->peer, 0, sizeof pol->peer) == NULL ||
        (pol->flags & ~POLICY_FLAGS_KNOWN) || !in_spis_distinct(pol))
        return fail(EINVAL);
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    checked = *pol;
    if (!protection_of(sad, pol, &checked.flags)) {
        sad_unlock(sad);
        return fail(ZESP_EPOLICY);
    }
    pol = &checked;
    /* A new policy counts from zero; a changed one keeps counting. */
    if ((p = policy_find(sad, pol->name, &gen)) == NULL) {
        if ((p = policy_slot_for(sad, pol->name)) == NULL)
            err = ZESP_EFULL;
        else
            for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
                atomic_store(&p->rejected[k], 0);
    }
    if (err == 0) {
        policy_write(p, pol);
        sad_changed(sad);
    }
    sad_unlock(sad);
    return err ? fail(err) : 0;
}

static void policy_read(const struct policy_slot *p, zesp_policy *pol)
{
    memset(pol, 0, sizeof *pol);
    memcpy(pol->name, p->name, sizeof pol->name - 1U);
    memcpy(pol->peer, p->peer, sizeof pol->peer - 1U);
    pol->out_spi = atomic_load(&p->out_spi);
    for (uint32_t i = 0; i < POLICY_IN_MAX; i++)
        pol->in_spi[i] = atomic_load(&p->in_spi[i]);
    pol->flags = p->flags & POLICY_FLAGS_KNOWN;
    pol->acquire = atomic_load(&p->acquire);
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        pol->rejected[k] = atomic_load(&p->rejected[k]);
}

int zesp_policy_get(zesp_sad *sad, const char *name, zesp_policy *pol)
{
    struct policy_slot *p;
    uint32_t gen;

    if (pol != NULL)
        memset(pol, 0, sizeof *pol);
    if (sad == NULL || name == NULL || pol == NULL)
        return fail(EINVAL);
    for (uint32_t retries = 0;;) {
        if ((p = policy_find(sad, name, &gen)) == NULL)
            return fail(ZESP_ENOPOLICY);
        policy_read(p, pol);
        if (atomic_load(&p->gen) == gen)
            return 0;
        memset(pol, 0, sizeof *pol);      /* changed as we read: again */
        if (!sad_reader_wait(sad, &retries))
            return fail(ZESP_EBADSAD);
    }
}

/* Writers: change one policy under the lock; change answers 0 or an
 * errno code. */
static int policy_update(struct zesp_sad *sad, const char *name,
                         int (*change)(struct zesp_sad *sad,
                                       struct policy_slot *p, uint32_t v),
                         uint32_t v)
{
    struct policy_slot *p;
    uint32_t gen;
    int err;

    if (sad == NULL || name == NULL)
        return fail(EINVAL);
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    if ((p = policy_find(sad, name, &gen)) == NULL)
        err = ZESP_ENOPOLICY;
    else if ((err = change(sad, p, v)) == 0)
        sad_changed(sad);
    sad_unlock(sad);
    return err ? fail(err) : 0;
}

static int change_delete(struct zesp_sad *sad, struct policy_slot *p,
                         uint32_t v)
{
    (void)sad;
    (void)v;
    atomic_fetch_add(&p->gen, 1);
    atomic_store(&p->state, POLICY_DEAD);   /* probes go on past it */
    atomic_store(&p->out_spi, 0);
    atomic_fetch_add(&p->gen, 1);
    return 0;
}

/* Rekey: one atomic store, so every sender moves to the new SA at once.
 * An integrity-only SA only for a policy that allows it. */
static int change_out(struct zesp_sad *sad, struct policy_slot *p,
                      uint32_t spi)
{
    if (!(p->flags & ZESP_POLICY_INTEGRITY_ONLY) &&
        spd_sa_protection(sad, spi, ZESP_DIR_OUT) == SA_INTEGRITY_ONLY)
        return ZESP_EPOLICY;
    atomic_store(&p->out_spi, spi);
    atomic_store(&p->acquire, 0);
    return 0;
}

static int change_acquire_done(struct zesp_sad *sad, struct policy_slot *p,
                               uint32_t v)
{
    (void)sad;
    (void)v;
    atomic_store(&p->acquire, 0);
    return 0;
}

int zesp_policy_del(zesp_sad *sad, const char *name)
{
    return policy_update(sad, name, change_delete, 0);
}

int zesp_policy_set_out(zesp_sad *sad, const char *name, uint32_t spi)
{
    return policy_update(sad, name, change_out, spi);
}

int zesp_policy_acquire_done(zesp_sad *sad, const char *name)
{
    return policy_update(sad, name, change_acquire_done, 0);
}

int zesp_policy_foreach(zesp_sad *sad,
                        int (*fn)(const zesp_policy *policy, void *arg),
                        void *arg)
{
    if (sad == NULL || fn == NULL)
        return fail(EINVAL);
    for (uint32_t i = 0; i < sad->lay.policy_capacity; i++) {
        struct policy_slot *p = &sad->policies[i];
        uint32_t gen = atomic_load(&p->gen);
        zesp_policy pol;
        int rc;

        if ((gen & 1U) || atomic_load(&p->state) != POLICY_LIVE)
            continue;
        policy_read(p, &pol);
        if (atomic_load(&p->gen) != gen)
            continue;
        if ((rc = fn(&pol, arg)) != 0)
            return rc;
    }
    return 0;
}

void spd_flush(struct zesp_sad *sad)
{
    for (uint32_t i = 0; i < sad->lay.policy_capacity; i++) {
        struct policy_slot *p = &sad->policies[i];
        atomic_fetch_add(&p->gen, 1);
        atomic_store(&p->state, POLICY_FREE);
        memset(p->name, 0, sizeof p->name);
        atomic_store(&p->out_spi, 0);
        atomic_store(&p->acquire, 0);
        atomic_fetch_add(&p->gen, 1);
    }
}

int zesp_sad_flush(zesp_sad *sad)
{
    int err;

    if (sad == NULL)
        return fail(EINVAL);
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    sad_flush_sas(sad);
    spd_flush(sad);
    sad_changed(sad);
    sad_unlock(sad);
    return 0;
}

int spd_out_spi(struct zesp_sad *sad, const char *name, uint32_t *spi)
{
    struct policy_slot *p;
    uint32_t gen;

    if ((p = policy_find(sad, name, &gen)) == NULL)
        return ZESP_ENOPOLICY;
    *spi = atomic_load_explicit(&p->out_spi, memory_order_acquire);
    return 0;
}

static int policy_serves_in(const struct policy_slot *p, uint32_t spi,
                            bool encrypts)
{
    if (!encrypts && !(p->flags & ZESP_POLICY_INTEGRITY_ONLY))
        return ZESP_EPOLICY;
    for (uint32_t i = 0; i < POLICY_IN_MAX; i++)
        if (atomic_load_explicit(&p->in_spi[i], memory_order_relaxed) == spi)
            return 0;
    return ZESP_EPOLICY;
}

/* Were the policy's fields read since its generation was gen still its
 * own?  The seqlock's second read, as sad_ref_valid. */
static bool policy_unchanged(const struct policy_slot *p, uint32_t gen)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&p->gen, memory_order_relaxed) == gen;
}

/* The flags and SPIs read between two equal generations: policy_write
 * stores the SPIs one by one, and a slot deleted and given to another
 * policy holds the other's.  Read across a change, a rekey that kept the
 * SA could refuse its message, and another policy's list accept it; so
 * the policy is then found and read again, as a probe waits for a writer
 * (sad_reader_wait).  Apart from the first try, and not inlined in it,
 * so that the data path pays only the second read of the generation (its
 * registers are not saved for a loop it rarely enters). */
__attribute__((noinline))
static int serves_in_again(struct zesp_sad *sad, const char *name,
                           uint32_t spi, bool encrypts)
{
    for (uint32_t retries = 0;;) {
        struct policy_slot *p;
        uint32_t gen;
        int err;

        if (!sad_reader_wait(sad, &retries))
            return ZESP_EBADSAD;
        if ((p = policy_find(sad, name, &gen)) == NULL)
            return ZESP_ENOPOLICY;
        err = policy_serves_in(p, spi, encrypts);
        if (policy_unchanged(p, gen))
            return err;
    }
}

int spd_serves_in(struct zesp_sad *sad, const char *name, uint32_t spi,
                  bool encrypts)
{
    struct policy_slot *p;
    uint32_t gen;
    int err;

    if ((p = policy_find(sad, name, &gen)) == NULL)
        return ZESP_ENOPOLICY;
    err = policy_serves_in(p, spi, encrypts);
    if (policy_unchanged(p, gen))
        return err;
    return serves_in_again(sad, name, spi, encrypts);
}

/* Is p a live policy with spi among its inbound SPIs?  Its state and
 * SPIs read between two equal even generations (policy_find's seqlock),
 * as a writer rewriting it or giving its slot to another policy stores
 * them one by one; read while one does, the slot is looked at again. */
static bool policy_lists_in(struct zesp_sad *sad, const struct policy_slot *p,
                            uint32_t spi)
{
    uint32_t retries = 0;

    for (;;) {
        uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
        bool listed = false;

        if (!(g & 1U)) {
            if (atomic_load_explicit(&p->state, memory_order_relaxed) !=
                POLICY_LIVE)
                return false;
            for (uint32_t k = 0; k < POLICY_IN_MAX && !listed; k++)
                listed = atomic_load_explicit(&p->in_spi[k],
                                              memory_order_relaxed) == spi;
            if (policy_unchanged(p, g))
                return listed;
        }
        if (!sad_reader_wait(sad, &retries))
            return false;
    }
}

/* Rejections only: a scan of the policies is cheap beside what a refused
 * message already cost, and the accepting path never pays it. */
void spd_count_rejection(struct zesp_sad *sad, const char *name, uint32_t spi,
                         enum zesp_rejection kind)
{
    struct policy_slot *p;
    uint32_t gen;

    if (name != NULL) {
        if ((p = policy_find(sad, name, &gen)) != NULL)
            atomic_fetch_add_explicit(&p->rejected[kind], 1,
                                      memory_order_relaxed);
        return;
    }
    for (uint32_t i = 0; i < sad->lay.policy_capacity; i++)
        if (policy_lists_in(sad, &sad->policies[i], spi))
            atomic_fetch_add_explicit(&sad->policies[i].rejected[kind], 1,
                                      memory_order_relaxed);
}

/* A sender found no usable SA: tell the key daemon (the first time). */
void spd_acquire(struct zesp_sad *sad, const char *name)
{
    struct policy_slot *p;
    uint32_t gen;
    uint64_t none = 0;

    if ((p = policy_find(sad, name, &gen)) != NULL &&
        atomic_compare_exchange_strong(&p->acquire, &none, sad_now()))
        sad_changed(sad);
}

/* Failures that a new SA would cure: the key daemon is asked for one. */
static bool needs_new_sa(int err)
{
    return err == ZESP_ENOSA || err == ZESP_EEXPIRED ||
           err == ZESP_ESEQEXHAUSTED;
}

int spd_on_out_sa(struct zesp_sad *sad, const char *policy, int flags,
                  int (*send)(struct zesp_sad *sad, uint32_t spi, void *arg),
                  void *arg)
{
    uint64_t waited_us = 0;
    uint32_t spi;
    int err;

    if (sad == NULL || policy == NULL)
        return fail(EINVAL);
    for (;;) {
        if ((err = spd_out_spi(sad, policy, &spi)) != 0)
            return fail(err);
        if (spi != 0) {
            if (send(sad, spi, arg) == 0)
                return 0;
            if (!needs_new_sa(errno))
                return -1;
        }
        spd_acquire(sad, policy);
        if ((flags & ZESP_DONTWAIT) ||
            waited_us >= (uint64_t)sad->acquire_timeout_ms * 1000U)
            return fail(ZESP_EACQUIRE);
        usleep(1000);
        waited_us += 1000;
    }
}
