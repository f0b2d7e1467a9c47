/* Installing, removing and reporting SAs (the writers' side of the SAD). */
#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "datapath.h"
#include "lanes.h"
#include "replay.h"
#include "sad.h"
#include "seqstate.h"
#include "source_mac.h"
#include "transform.h"

static int fail(int err)
{
    errno = err;
    return -1;
}

#define SA_FLAGS_KNOWN (ZESP_SA_NO_ESN | ZESP_SA_GROUP | ZESP_SA_SIGNED | \
                        ZESP_SA_MANUAL | ZESP_SA_LANES | ZESP_SA_SOURCE_MAC | \
                        ZESP_SA_PER_PROCESS_WINDOW)

/* A signing key that is what it claims: the secret key's public half is
 * the one its seed derives (else every signature fails to verify), the
 * public key not all zeros. */
static bool sign_key_usable(const zesp_sa_params *p)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    bool ok;

    if (p->direction == ZESP_DIR_IN)
        return !sodium_is_zero(p->sign_key, ZESP_SIGN_PUBLICBYTES);
    ok = crypto_sign_seed_keypair(pk, sk, p->sign_key) == 0 &&
         sodium_memcmp(sk, p->sign_key, sizeof sk) == 0;
    sodium_memzero(sk, sizeof sk);
    return ok;
}

static int check_group(const zesp_sa_params *p)
{
    bool group = p->flags & ZESP_SA_GROUP;

    if (group != (p->sender_id != 0) || p->sender_id > ZESP_SENDER_ID_MAX)
        return EINVAL;
    /* Lanes are for pairwise SAs; their windows are made by receivers. */
    if ((p->flags & ZESP_SA_LANES) &&
        (group || p->next_seq > ZESP_SEQ_MAX_LANE))
        return EINVAL;
    if ((p->flags & ZESP_SA_SIGNED) && (!group || !sign_key_usable(p)))
        return EINVAL;
    /* One way to prove the source per SA: a receiver must know which. */
    if ((p->flags & ZESP_SA_SOURCE_MAC) &&
        (!group || (p->flags & ZESP_SA_SIGNED) ||
         !source_mac_params_valid(p)))
        return EINVAL;
    /* The Sender ID leaves 48 bits of the IV to the sequence number. */
    if (group && p->next_seq > ZESP_SEQ_MAX_GROUP)
        return EINVAL;
    return 0;
}

static int check_params(const zesp_sa_params *p, const struct transform **t)
{
    int err;

    uint32_t id = p->transform ? p->transform : ZESP_CHACHA20_POLY1305;

    if (p->direction != ZESP_DIR_IN && p->direction != ZESP_DIR_OUT)
        return EINVAL;
    if (p->spi == 0)     /* reserved for local use (RFC 4303 2.1) */
        return EINVAL;
    if (p->flags & ~SA_FLAGS_KNOWN)
        return EINVAL;
    /* A window is the receiver's: a sender's SA has none. */
    if ((p->flags & ZESP_SA_PER_PROCESS_WINDOW) &&
        p->direction != ZESP_DIR_IN)
        return EINVAL;
    if ((err = check_group(p)) != 0)
        return err;
    if ((*t = transform_find(id)) == NULL)
        return EINVAL;
    if (!transform_usable(*t))
        return ZESP_EUNSUPPORTED;
    if (p->replay_window != 0 &&
        (p->replay_window < ZESP_REPLAY_WINDOW_MIN ||
         p->replay_window > ZESP_REPLAY_WINDOW_MAX))
        return EINVAL;
    if ((p->flags & ZESP_SA_NO_ESN) && p->next_seq > ZESP_SEQ_MAX_32)
        return EINVAL;
    if (memchr(p->peer, 0, sizeof p->peer) == NULL)
        return EINVAL;
    if (p->seq_block != 0 && (!(p->flags & ZESP_SA_MANUAL) ||
                              !seqstate_block_valid(p->seq_block)))
        return EINVAL;
    return 0;
}

/* The replay window words a SAD's slots hold; sad NULL: a new SAD's. */
static uint32_t window_words(const struct zesp_sad *sad)
{
    struct sad_header fresh;

    if (sad != NULL)
        return sad->lay.max_window_words;
    return sad_layout_plan(NULL, &fresh) == 0 ? fresh.max_window_words : 0;
}

uint32_t sa_window_max(const struct zesp_sad *sad)
{
    uint32_t max = replay_window_max(window_words(sad));

    return max < ZESP_REPLAY_WINDOW_MAX ? max : ZESP_REPLAY_WINDOW_MAX;
}

/* One check for zesp_sa_add and for a configuration checked before it is
 * loaded (config.c), so that `zesp check` refuses what load would. */
int sa_check(const struct zesp_sad *sad, const zesp_sa_params *p,
             const struct transform **t)
{
    int err;

    if ((err = check_params(p, t)) != 0)
        return err;
    if (replay_words(p->replay_window ? p->replay_window
                                      : ZESP_REPLAY_WINDOW_DEFAULT) >
        window_words(sad))
        return EINVAL;
    return 0;
}

/* A free slot no late reader of its former SA still holds (sad_pin). */
static int free_slot(struct zesp_sad *sad, uint32_t *slot_no)
{
    uint32_t cap = sad->lay.capacity;

    for (uint32_t n = 0; n < cap; n++) {
        uint32_t i = (sad->hdr->free_hint + n) % cap;
        if (atomic_load(&sad_slot(sad, i)->state) == SLOT_FREE &&
            sad_slot_unpinned(sad_slot(sad, i))) {
            sad->hdr->free_hint = (i + 1U) % cap;
            *slot_no = i;
            return 0;
        }
    }
    return ZESP_EFULL;
}

static void fill_slot(struct zesp_sad *sad, uint32_t slot_no,
                      const zesp_sa_params *p, const struct transform *t,
                      const struct seq_start *st)
{
    struct sa_slot *s = sad_slot(sad, slot_no);
    struct sa_key *k = &sad->keys[slot_no];
    uint32_t window = p->replay_window ? p->replay_window
                                       : ZESP_REPLAY_WINDOW_DEFAULT;

    atomic_store(&s->state, SLOT_BUSY);
    s->spi = p->spi;
    s->direction = p->direction;
    s->transform = t->id;
    s->flags = p->flags;
    s->sender_id = p->sender_id;
    s->replay_window = window;
    s->window_words = replay_words(window);
    s->created = sad_now();
    lifetime_start(s);
    s->soft = p->soft;
    s->hard = p->hard;
    memcpy(s->peer, p->peer, sizeof s->peer);
    /* Outbound: the last number sent; inbound: the window's top, every
     * number up to it refused.  A manual key starts where its record says. */
    s->seq_start = st ? st->seq : p->next_seq ? p->next_seq - 1U : 0U;
    if (p->direction == ZESP_DIR_IN)
        replay_start(&s->seq, s->window, s->window_words, s->seq_start);
    else
        atomic_store(&s->seq, s->seq_start);
    for (uint32_t l = 0; l < ZESP_LANES_MAX; l++) {
        atomic_store(&s->lane_seq[l], s->seq_start);
        atomic_store(&s->lane_used[l], 0);     /* every lane unused */
    }
    seqstate_fill_slot(s, st);
    atomic_store(&s->soft_expired, 0);
    atomic_store(&s->hard_expired, 0);
    for (int c = 0; c < CNT_COUNT; c++)
        atomic_store(&s->counters[c], 0);
    memcpy(k->key, p->key, sizeof k->key);
    memcpy(k->salt, p->key + sizeof k->key, sizeof k->salt);
    sodium_memzero(k->sign_key, sizeof k->sign_key);
    if (p->flags & ZESP_SA_SIGNED)
        memcpy(k->sign_key, p->sign_key, p->direction == ZESP_DIR_OUT
                                             ? ZESP_SIGN_SECRETBYTES
                                             : ZESP_SIGN_PUBLICBYTES);
    source_mac_install(k, p);
    transform_expand_key(t, k);
}

/* Writers only (lock held): the window of a lane of an inbound lanes SA,
 * a slot indexed by (SPI, in, lane).  It holds the window alone: the key,
 * counters and lifetimes stay the base SA's, which the receiver uses. */
int sa_add_lane_window(struct zesp_sad *sad, const struct sa_slot *base,
                       uint32_t lane)
{
    uint32_t slot_no;
    struct sa_slot *s;
    int err;

    if (lane == 0 || lane >= ZESP_LANES_MAX)
        return ZESP_EMALFORMED;
    if ((err = free_slot(sad, &slot_no)) != 0)
        return err;
    s = sad_slot(sad, slot_no);
    atomic_fetch_add(&s->gen, 1);        /* odd: being written */
    atomic_store(&s->state, SLOT_BUSY);
    s->spi = base->spi;
    s->direction = ZESP_DIR_IN;
    s->transform = base->transform;
    s->flags = base->flags & (ZESP_SA_NO_ESN | ZESP_SA_LANES |
                              ZESP_SA_PER_PROCESS_WINDOW);
    s->sender_id = lane;
    s->replay_window = base->replay_window;
    s->window_words = base->window_words;
    s->created = sad_now();
    lifetime_start(s);
    memset(&s->soft, 0, sizeof s->soft);
    memset(&s->hard, 0, sizeof s->hard);
    memcpy(s->peer, base->peer, sizeof s->peer);
    s->seq_start = lanes_in_start(base, lane);
    replay_start(&s->seq, s->window, s->window_words, s->seq_start);
    seqstate_fill_slot(s, NULL);
    atomic_store(&s->soft_expired, 0);
    atomic_store(&s->hard_expired, 0);
    for (int c = 0; c < CNT_COUNT; c++)
        atomic_store(&s->counters[c], 0);
    sodium_memzero(&sad->keys[slot_no], sizeof sad->keys[slot_no]);
    atomic_fetch_add(&s->gen, 1);
    atomic_store(&s->state, SLOT_LIVE);
    sad_index_insert(sad, slot_no);
    atomic_fetch_add(&sad->hdr->live, 1);
    atomic_fetch_add(&sad->hdr->group_in, 1);
    sad_changed(sad);
    return 0;
}

/* Writers only: an SPI is pairwise or group in one direction, and a group
 * inbound SPI has one window per sender. */
static int add_conflict(struct zesp_sad *sad, const zesp_sa_params *p)
{
    bool group_in = p->direction == ZESP_DIR_IN && (p->flags & ZESP_SA_GROUP);
    struct sa_ref ref;

    if (sad_find(sad, p->spi, p->direction, &ref) == 0)
        return ZESP_EEXIST;
    if (group_in)
        return sad_find_sender(sad, p->spi, ZESP_DIR_IN, p->sender_id,
                               &ref) == 0 ? ZESP_EEXIST : 0;
    if (p->direction == ZESP_DIR_IN &&
        sad_find_group_lowest(sad, p->spi, &ref) == 0)
        return ZESP_EEXIST;
    return 0;
}

bool sa_may_share_key(uint32_t spi_a, uint32_t flags_a, uint32_t sender_a,
                      uint32_t spi_b, uint32_t flags_b, uint32_t sender_b)
{
    return spi_a == spi_b ||
           ((flags_a & flags_b & ZESP_SA_GROUP) &&
            !((flags_a | flags_b) & ZESP_SA_LANES) && sender_a != sender_b);
}

/* Writers only: an SA already in the SAD that holds p's key and may not
 * share it; other_direction: only one of the other direction (the API's
 * rule: one key on two SPIs of one direction shares one record, and so
 * one numbering, but each direction has its own).  A lane's window holds
 * no key. */
static int key_clash(struct zesp_sad *sad, const zesp_sa_params *p,
                     bool other_direction, struct sa_key_clash *clash)
{
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        const struct sa_slot *s = sad_slot(sad, i);
        const struct sa_key *k = &sad->keys[i];

        if (atomic_load(&s->state) != SLOT_LIVE ||
            ((s->flags & ZESP_SA_LANES) && slot_is_group_in(s)) ||
            (other_direction && s->direction == p->direction) ||
            sa_may_share_key(s->spi, s->flags, s->sender_id, p->spi, p->flags,
                             p->sender_id))
            continue;
        if (sodium_memcmp(k->key, p->key, sizeof k->key) == 0 &&
            sodium_memcmp(k->salt, p->key + sizeof k->key,
                          sizeof k->salt) == 0) {
            clash->spi = s->spi;
            clash->direction = s->direction;
            clash->recorded = false;
            return ZESP_EKEYREUSE;
        }
    }
    return 0;
}

/* A manual key's record is read and written ahead before the SAD's lock is
 * taken (seqstate.c: the lock order); an install that then fails has only
 * skipped numbers, and left its SPI named in the record (the key may then
 * serve the other direction on that SPI alone).  The records refuse a key
 * that served the other direction on another SPI (*clash recorded).
 * clash: the key is compared, under the lock, with every
 * SA's, as a configuration's were when it was checked (config.c): another
 * load may have installed one since.  Without clash (zesp_sa_add), a
 * manual key is compared with the other direction's SAs: a key pasted
 * into both directions of a pair numbers from 1 on both hosts. */
int sa_add_in(zesp_sad *sad, const zesp_sa_params *p, const char *config_dir,
              struct sa_key_clash *clash)
{
    const struct transform *t;
    struct seq_start st, *manual = NULL;
    struct sa_key_clash api_clash;
    bool other_direction = clash == NULL;
    uint32_t slot_no;
    int err;

    if (sad == NULL || p == NULL)
        return fail(EINVAL);
    if ((err = sa_check(sad, p, &t)) != 0)
        return fail(err);
    if ((p->flags & ZESP_SA_MANUAL) &&
        (err = seqstate_begin(sad, p, config_dir, manual = &st)) != 0) {
        if (err == ZESP_EKEYREUSE && clash != NULL)
            *clash = (struct sa_key_clash){ st.bound_spi, st.bound_direction,
                                            true };
        return fail(err);
    }
    if (manual != NULL && clash == NULL)
        clash = &api_clash;
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    if ((err = add_conflict(sad, p)) == 0 &&
        (clash == NULL ||
         (err = key_clash(sad, p, other_direction, clash)) == 0) &&
        (err = free_slot(sad, &slot_no)) == 0 &&
        (manual == NULL || (err = seqstate_claim_dir(sad, st.dir)) == 0)) {
        struct sa_slot *s = sad_slot(sad, slot_no);

        atomic_fetch_add(&s->gen, 1);        /* odd: being written */
        fill_slot(sad, slot_no, p, t, manual);
        atomic_fetch_add(&s->gen, 1);
        atomic_store(&s->state, SLOT_LIVE);
        if (manual != NULL)
            seqstate_seen_now(sad, slot_no);
        sad_index_insert(sad, slot_no);
        atomic_fetch_add(&sad->hdr->live, 1);
        if (slot_is_group_in(s))
            atomic_fetch_add(&sad->hdr->group_in, 1);
        sad_changed(sad);
    }
    sad_unlock(sad);
    return err ? fail(err) : 0;
}

int zesp_sa_add(zesp_sad *sad, const zesp_sa_params *p)
{
    return sa_add_in(sad, p, NULL, NULL);
}

static uint32_t remove_group_in(struct zesp_sad *sad, uint32_t spi);

/* Writers only: unlink a live SA and free its slot; an inbound lanes SA
 * takes its lanes' windows with it. */
static void sa_remove(struct zesp_sad *sad, struct sa_slot *s)
{
    uint32_t slot_no = sad_slot_no(sad, s);
    bool lanes = (s->flags & ZESP_SA_LANES) && s->direction == ZESP_DIR_IN &&
                 s->sender_id == 0;

    /* Odd first: readers now fail validity, and a writer killed while it
     * takes the lanes' windows away leaves the SA odd, so the repair
     * finishes the deletion.  Had the SA stayed whole without some of
     * its windows, the next frame of such a lane would have made the
     * window again from where the SA began, and every frame that lane's
     * window had accepted would have been accepted once more.  Windows
     * it left are the repair's too (sad.c); inbound.c refuses one alone. */
    atomic_fetch_add(&s->gen, 1);
    if (lanes)
        remove_group_in(sad, s->spi);
    sad_index_remove(sad, slot_no);
    if (slot_is_group_in(s))
        atomic_fetch_sub(&sad->hdr->group_in, 1);
    sad_slot_release(sad, slot_no);
    atomic_fetch_sub(&sad->hdr->live, 1);
    sad_changed(sad);
}

/* Writers only: every sender's window of an inbound group SPI, every
 * lane's of a lanes SPI. */
static uint32_t remove_group_in(struct zesp_sad *sad, uint32_t spi)
{
    uint32_t removed = 0;

    for (uint32_t i = 0;
         i < sad->lay.capacity && atomic_load(&sad->hdr->group_in) > 0; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        if (atomic_load(&s->state) == SLOT_LIVE && s->spi == spi &&
            slot_is_group_in(s)) {
            sa_remove(sad, s);
            removed++;
        }
    }
    return removed;
}

int zesp_sa_del(zesp_sad *sad, uint32_t spi, uint32_t direction)
{
    struct sa_ref ref;
    int err;

    if (sad == NULL)
        return fail(EINVAL);
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    if ((err = sad_find(sad, spi, direction, &ref)) == 0)
        sa_remove(sad, ref.slot);
    else if (direction == ZESP_DIR_IN && remove_group_in(sad, spi) > 0)
        err = 0;
    sad_unlock(sad);
    return err ? fail(err) : 0;
}

/* Past a hard limit: no further message could be sent or accepted. */
static bool hard_expired(const struct sa_slot *s, uint64_t now)
{
    return atomic_load(&s->hard_expired) ||
           (s->hard.seconds && lifetime_age(s, now) >= s->hard.seconds) ||
           (s->hard.messages &&
            atomic_load(&s->counters[CNT_MESSAGES]) >= s->hard.messages) ||
           (s->hard.bytes &&
            atomic_load(&s->counters[CNT_BYTES]) >= s->hard.bytes);
}

int zesp_sad_expire(zesp_sad *sad)
{
    uint64_t now = lifetime_now();
    int removed = 0, err;

    if (sad == NULL)
        return fail(EINVAL);
    if ((err = sad_lock(sad)) != 0)
        return fail(err);
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        if (atomic_load(&s->state) == SLOT_LIVE && hard_expired(s, now)) {
            sa_remove(sad, s);
            removed++;
        }
    }
    sad_unlock(sad);
    return removed;
}

int sad_flush_sas(struct zesp_sad *sad)
{
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        if (atomic_load(&s->state) == SLOT_LIVE)
            sa_remove(sad, s);
    }
    return 0;
}

static void fill_info(const struct sa_slot *s, zesp_sa_info *info)
{
    uint64_t now = lifetime_now();

    info->spi = s->spi;
    info->direction = s->direction;
    info->transform = s->transform;
    info->flags = s->flags;
    info->sender_id = s->sender_id;
    info->replay_window = s->direction == ZESP_DIR_IN ? s->replay_window : 0;
    info->seq = atomic_load(&s->seq);
    /* Each lane has its numbers: the highest is the SA's last sent. */
    if ((s->flags & ZESP_SA_LANES) && s->direction == ZESP_DIR_OUT)
        for (uint32_t l = 1; l < ZESP_LANES_MAX; l++)
            if (atomic_load(&s->lane_seq[l]) > info->seq)
                info->seq = atomic_load(&s->lane_seq[l]);
    info->created = s->created;
    info->age = lifetime_age(s, now);
    info->soft = s->soft;
    info->hard = s->hard;
    /* Due for a rekey by time with no message to set the flag (an idle
     * SA), or past a hard limit: the key daemon asks only here. */
    info->hard_expired = hard_expired(s, now);
    info->soft_expired = atomic_load(&s->soft_expired) || info->hard_expired ||
                         (s->soft.seconds &&
                          lifetime_age(s, now) >= s->soft.seconds);
    memcpy(info->peer, s->peer, sizeof info->peer);
    if (s->flags & ZESP_SA_MANUAL) {
        info->seq_reserved = atomic_load(&s->reserved);
        info->seq_block = s->seq_block;
    }
    info->stats.messages = atomic_load(&s->counters[CNT_MESSAGES]);
    info->stats.bytes = atomic_load(&s->counters[CNT_BYTES]);
#define REJ(kind) atomic_load(&s->counters[CNT_REJ(kind)])
    info->stats.rejected_malformed = REJ(ZESP_REJ_MALFORMED);
    info->stats.rejected_replay = REJ(ZESP_REJ_REPLAY);
    info->stats.rejected_old = REJ(ZESP_REJ_OLD);
    info->stats.rejected_icv = REJ(ZESP_REJ_ICV);
    info->stats.rejected_expired = REJ(ZESP_REJ_EXPIRED);
    info->stats.rejected_binding = REJ(ZESP_REJ_BINDING);
    info->stats.rejected_toobig = REJ(ZESP_REJ_TOOBIG);
    info->stats.rejected_signature = REJ(ZESP_REJ_SIGNATURE);
    info->stats.rejected_policy = REJ(ZESP_REJ_POLICY);
#undef REJ
    info->peer[sizeof info->peer - 1] = '\0';
}

/* The SA an SPI names for reports: pairwise or outbound group, else the
 * inbound group window of the lowest Sender ID. */
static int find_any(struct zesp_sad *sad, uint32_t spi, uint32_t direction,
                    struct sa_ref *ref)
{
    int err = sad_find(sad, spi, direction, ref);

    if (err == ZESP_ENOSA && direction == ZESP_DIR_IN)
        err = sad_find_group_lowest(sad, spi, ref);
    return err;
}

static int info_of(const struct sa_ref *ref, zesp_sa_info *info)
{
    fill_info(ref->slot, info);
    if (!sad_ref_valid(ref)) {
        memset(info, 0, sizeof *info);
        return fail(ZESP_ENOSA);
    }
    return 0;
}

int zesp_sa_info_get(zesp_sad *sad, uint32_t spi, uint32_t direction,
                     zesp_sa_info *info)
{
    struct sa_ref ref;
    int err;

    if (info != NULL)
        memset(info, 0, sizeof *info);
    if (sad == NULL || info == NULL)
        return fail(EINVAL);
    if ((err = find_any(sad, spi, direction, &ref)) != 0)
        return fail(err);
    return info_of(&ref, info);
}

int zesp_sa_info_get_sender(zesp_sad *sad, uint32_t spi, uint32_t direction,
                            uint32_t sender_id, zesp_sa_info *info)
{
    struct sa_ref ref;
    int err;

    if (info != NULL)
        memset(info, 0, sizeof *info);
    if (sad == NULL || info == NULL)
        return fail(EINVAL);
    /* An outbound group SA is indexed by SPI alone: its own Sender ID is
     * checked in the slot. */
    if (direction == ZESP_DIR_OUT) {
        err = sad_find(sad, spi, direction, &ref);
        if (err == 0 && ref.slot->sender_id != sender_id)
            err = ZESP_ENOSA;
    } else {
        err = sad_find_sender(sad, spi, direction, sender_id, &ref);
    }
    if (err != 0)
        return fail(err);
    return info_of(&ref, info);
}

int zesp_sa_foreach(zesp_sad *sad,
                    int (*fn)(const zesp_sa_info *info, void *arg), void *arg)
{
    if (sad == NULL || fn == NULL)
        return fail(EINVAL);
    for (uint32_t i = 0; i < sad->lay.capacity; i++) {
        struct sa_slot *s = sad_slot(sad, i);
        uint32_t gen = atomic_load_explicit(&s->gen, memory_order_acquire);
        zesp_sa_info info;
        int rc;

        if ((gen & 1U) || atomic_load(&s->state) != SLOT_LIVE)
            continue;
        memset(&info, 0, sizeof info);
        fill_info(s, &info);
        if (atomic_load_explicit(&s->gen, memory_order_acquire) != gen)
            continue;
        if ((rc = fn(&info, arg)) != 0)
            return rc;
    }
    return 0;
}

int zesp_sa_key_get(zesp_sad *sad, uint32_t spi, uint32_t direction,
                    uint8_t key[ZESP_KEYBYTES])
{
    struct sa_ref ref;
    int err;

    if (sad == NULL || key == NULL)
        return fail(EINVAL);
    if ((err = find_any(sad, spi, direction, &ref)) != 0)
        return fail(err);
    memcpy(key, ref.key->key, sizeof ref.key->key);
    memcpy(key + sizeof ref.key->key, ref.key->salt, sizeof ref.key->salt);
    if (!sad_ref_valid(&ref)) {
        sodium_memzero(key, ZESP_KEYBYTES);
        return fail(ZESP_ENOSA);
    }
    return 0;
}
