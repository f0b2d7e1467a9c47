/*
 * Group SAs over zike's IKE SAs, after G-IKEv2 (doc/zike.md 9).
 *
 * Key server (GCKS): for each group it serves it holds one current group
 * SA.  A member registers with GSA_REGISTRATION over its IKE SA and gets
 * the policy (GSA) and the key (KD, wrapped with GSK_w); a sender also gets
 * its Sender ID, fixed per sender identity (its index in the configuration
 * + 1), so that receivers can hold a replay window per sender from the
 * start.  A new key is made when the lifetime nears its end, when a member
 * leaves, dies or is removed from the configuration, and when a sender
 * registers again while its Sender ID was already issued with the current
 * key (it may have lost its sequence numbers: (key, Sender ID, sequence)
 * must never repeat), or any member registers again from a new IKE SA
 * that was sent the current key (it may have lost its replay windows).  New keys are pushed with GSA_INBAND_REKEY to every
 * member still in the group, receivers first, senders once the receivers
 * hold the key; a removed member is not told.  A member still allowed
 * whose Sender ID a reload moved, or who may no longer send, gets no key
 * under what it was registered as and is told to register again
 * (GSA_INBAND_REKEY with IDg and a Delete, no GSA, no KD).  So is each
 * member of a group that a reload stops serving, and it is then refused.
 * The keys a
 * member makes (joining, registering again, leaving, dying, refusing a
 * push as a group it does not join) are bounded:
 * for rekey-holddown after each, its registrations that would make one,
 * or make it a member again (its leave would), get TEMPORARY_FAILURE and
 * change nothing; it asks again later.  Leaves and deaths are never
 * refused, and need a registration first: so each member makes at most
 * one key per hold-down (two under rekey-on-join: its join and its
 * leave), keeping forward and backward access control.
 *
 * Member (GM): installs the group SA in the SAD (one inbound SA per sender
 * for receivers, the outbound SA with its Sender ID for senders), moves its
 * policy to a new SA after the activation delay and removes the old one
 * after the deactivation delay, so that no message is lost in a rekey.
 * It takes pushes only while registered: a push may overtake the answer
 * to its registration, and names no Sender ID.
 * It takes a group only with the source authentication its join
 * requires (source-auth; with a sign-key, signature or mac): what the key
 * server offers does not decide it.
 * It never takes another key under an SPI it holds, nor a key a newer
 * one replaced (fresh replay windows would accept its messages again),
 * and has one registration per group in flight: two answers would come
 * in no order, the older key last.
 * A reload that removes its join, or changes it, removes its SAs and
 * leaves: its key server hands it no key again and makes a new one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "gsa.h"

#define GROUP_RETRY_MS 2000U         /* a registration or push refused, lost */
#define GROUP_DENIED_RETRY_MS 30000U /* AUTHORIZATION_FAILED, unknown group */
#define GROUP_SENDERS_WAIT_MS 5000U  /* senders wait at most this for receivers */
#define GROUP_PUSH_BACKOFF_MAX_MS 300000U /* a member refusing every push */

static struct gcks_group *gcks_find(struct zike *z, const char *name)
{
    for (size_t i = 0; i < z->ngroups; i++)
        if (strcmp(z->groups[i].name, name) == 0)
            return &z->groups[i];
    return NULL;
}

static struct gm_group *gm_find(struct zike *z, const char *name)
{
    for (size_t i = 0; i < z->njoined; i++)
        if (strcmp(z->joined[i].name, name) == 0)
            return &z->joined[i];
    return NULL;
}

static const struct zike_join *join_conf(const struct zike *z,
                                         const char *name)
{
    for (size_t i = 0; i < z->conf.njoins; i++)
        if (strcmp(z->conf.joins[i].group, name) == 0)
            return &z->conf.joins[i];
    return NULL;
}

bool group_server_peer(const struct zike *z, const char *peer)
{
    for (size_t i = 0; i < z->conf.njoins; i++)
        if (strcmp(z->conf.joins[i].server, peer) == 0)
            return true;
    return false;
}

static bool notify_present(const struct ike_message *m, uint16_t type)
{
    struct ike_notify n;

    return ike_find_notify(m, type, &n);
}

/* The group a message names in its IDg payload. */
static bool group_named(const struct ike_message *m, char name[ZESP_NAME_MAX])
{
    const struct ike_payload *p = ike_find(m, IKE_PL_IDG);
    struct ike_id id;

    if (p == NULL || ike_parse_id(p, &id) != IKE_OK ||
        id.type != IKE_ID_KEY_ID || id.len == 0 || id.len >= ZESP_NAME_MAX ||
        memchr(id.data, 0, id.len) != NULL)
        return false;
    memcpy(name, id.data, id.len);
    name[id.len] = '\0';
    return true;
}

static const char *notify_name(uint16_t type)
{
    switch (type) {
    case IKE_N_INVALID_GROUP_ID: return "INVALID_GROUP_ID";
    case IKE_N_AUTHORIZATION_FAILED: return "AUTHORIZATION_FAILED";
    case IKE_N_REGISTRATION_FAILED: return "REGISTRATION_FAILED";
    case IKE_N_INVALID_SYNTAX: return "INVALID_SYNTAX";
    case IKE_N_TEMPORARY_FAILURE: return "TEMPORARY_FAILURE";
    default: return "an error";
    }
}

/* ---- what a reload owes ------------------------------------------------------ */

/* Owed over a live IKE SA with the peer only: without one, the peer's end
 * of the membership ends with its IKE SA (group_ike_sa_gone). */
static void notice_add(struct zike *z, const char *group, const char *peer,
                       uint32_t spi, bool leave)
{
    struct group_notice *n;

    if (peer[0] == '\0' || ike_sa_for_peer(z, peer) == NULL)
        return;
    for (size_t i = 0; i < z->nnotices; i++)
        if (z->notices[i].leave == leave &&
            strcmp(z->notices[i].group, group) == 0 &&
            strcmp(z->notices[i].peer, peer) == 0)
            return;
    if ((n = realloc(z->notices, (z->nnotices + 1) * sizeof *n)) == NULL) {
        zike_log(LOG_ERR, "group %s: cannot remember to tell %s: %s", group,
                 peer, strerror(errno));
        return;
    }
    z->notices = n;
    n = &z->notices[z->nnotices++];
    memset(n, 0, sizeof *n);
    snprintf(n->group, sizeof n->group, "%s", group);
    snprintf(n->peer, sizeof n->peer, "%s", peer);
    n->spi = spi;
    n->leave = leave;
}

static void notices_drop(struct zike *z, const char *peer)
{
    for (size_t i = 0; i < z->nnotices;)
        if (strcmp(z->notices[i].peer, peer) == 0)
            z->notices[i] = z->notices[--z->nnotices];
        else
            i++;
}

/* Whether we owe the server our leave from group, or it is on its way. */
static bool leave_owed(const struct zike *z, const struct ike_sa *sa,
                       const char *group)
{
    if (sa->req.kind == REQ_GSA_LEAVE && strcmp(sa->req.group, group) == 0)
        return true;
    for (size_t i = 0; i < z->nnotices; i++)
        if (z->notices[i].leave && strcmp(z->notices[i].group, group) == 0 &&
            strcmp(z->notices[i].peer, sa->peer_name) == 0)
            return true;
    return false;
}

/* ---- key server ------------------------------------------------------------ */

/* Whether members may still hold spi from one of the groups served: the
 * current SA of one, or one replaced whose lifetime has not ended. */
static bool spi_held_by_members(const struct zike *z, uint32_t spi)
{
    for (size_t i = 0; i < z->ngroups; i++) {
        const struct gcks_group *g = &z->groups[i];
        if (g->spi == spi)
            return true;
        for (size_t k = 0; k < GCKS_PAST_SPIS; k++)
            if (g->past[k].spi == spi && g->past[k].held_until > z->now)
                return true;
    }
    for (size_t i = 0; i < z->ngcks_held; i++)
        if (z->gcks_held[i].spi == spi && z->gcks_held[i].held_until > z->now)
            return true;
    return false;
}

/* An SPI members may hold of no group served now, until held_until: in
 * a free slot, else in the one ending first. */
static void spi_hold(struct zike *z, uint32_t spi, uint64_t held_until)
{
    struct gcks_past_spi *slot = NULL;

    if (spi == 0 || held_until <= z->now)
        return;
    for (size_t i = 0; i < z->ngcks_held; i++)
        if (z->gcks_held[i].spi == spi || z->gcks_held[i].held_until <= z->now) {
            slot = &z->gcks_held[i];
            break;
        }
    if (slot == NULL && z->ngcks_held < GCKS_STATE_MAX)
        slot = &z->gcks_held[z->ngcks_held++];
    if (slot == NULL) {
        slot = &z->gcks_held[0];
        for (size_t i = 1; i < z->ngcks_held; i++)
            if (z->gcks_held[i].held_until < slot->held_until)
                slot = &z->gcks_held[i];
    }
    if (slot->spi == spi && slot->held_until > held_until)
        return;
    slot->spi = spi;
    slot->held_until = held_until;
}

/* Adds one SPI still held; false if the file is full (it is left out). */
static bool state_add(struct gcks_state_spi *spis, size_t *n, uint32_t spi,
                      uint64_t held_until, uint64_t now, uint64_t wall)
{
    if (spi == 0 || held_until <= now)
        return true;
    if (*n == GCKS_STATE_MAX)
        return false;
    spis[*n].spi = spi;
    /* A wall clock that cannot be read: held until a time the next start
     * reads as the longest lifetime, rather than one near 1970 it would
     * forget at once. */
    spis[*n].until = wall == GCKS_STATE_WALL_UNKNOWN ? GCKS_STATE_UNTIL_FAR :
                     wall + (held_until - now);
    ++*n;
    return true;
}

static uint64_t key_end(const struct gcks_group *g,
                        const struct zike_group *gc);

/* Every SPI members may hold, written to the state file before a new
 * one is handed out (gcks_state.c): a restart avoids them all. */
static void group_state_save(struct zike *z)
{
    static struct gcks_state_spi spis[GCKS_STATE_MAX];
    const char *path = z->conf.group_state;
    uint64_t wall = gcks_state_wall_ms();
    size_t n = 0, left_out = 0;

    if (z->gcks_syncing || path[0] == '\0')
        return;
    for (size_t i = 0; i < z->ngroups; i++) {
        const struct gcks_group *g = &z->groups[i];
        const struct zike_group *gc = zike_conf_group(&z->conf, g->name);

        left_out += !state_add(spis, &n, g->spi, gc ? key_end(g, gc) :
                               g->created + ZIKE_GROUP_LIFETIME_MAX * 1000ULL,
                               z->now, wall);
        for (size_t k = 0; k < GCKS_PAST_SPIS; k++)
            left_out += !state_add(spis, &n, g->past[k].spi,
                                   g->past[k].held_until, z->now, wall);
    }
    for (size_t i = 0; i < z->ngcks_held; i++)
        left_out += !state_add(spis, &n, z->gcks_held[i].spi,
                               z->gcks_held[i].held_until, z->now, wall);
    /* Served SPIs first: those left out are of an earlier run or of a
     * group taken out, which members are the least likely to hold. */
    if (left_out)
        zike_log(LOG_WARNING, "key server state %s: %zu group SPI%s members "
                 "may hold left out (at most %u): a restart may hand %s out "
                 "again", path, left_out, left_out == 1 ? "" : "s",
                 GCKS_STATE_MAX, left_out == 1 ? "it" : "them");
    if (gcks_state_write(path, spis, n) != 0)
        zike_log(LOG_ERR, "key server state %s: cannot write: %s: a restart "
                 "may hand out a group SPI members still hold", path,
                 strerror(errno));
}

int group_state_load(struct zike *z)
{
    static struct gcks_state_spi spis[GCKS_STATE_MAX];
    const char *path = z->conf.group_state;
    char err[160];
    uint64_t wall = gcks_state_wall_ms();
    size_t n, held = 0;

    if (path[0] == '\0')
        return 0;
    /* A write a crash cut short left its temporary file, of a random
     * name no later write takes again: removed, or they would pile up. */
    if (gcks_state_leftovers(path, &n) != 0)
        zike_log(LOG_WARNING, "key server state %s: temporary files left by "
                 "a crash not removed: %s", path, strerror(errno));
    else if (n > 0)
        zike_log(LOG_INFO, "key server state %s: %zu temporary files left "
                 "by a crash removed", path, n);
    if (gcks_state_read(path, spis, GCKS_STATE_MAX, &n, err, sizeof err) != 0) {
        zike_log(LOG_ERR, "key server state %s: %s", path, err);
        return -1;
    }
    if (wall == GCKS_STATE_WALL_UNKNOWN && n > 0)
        zike_log(LOG_WARNING, "key server state %s: the wall clock cannot "
                 "be read: every SPI in it held for the longest lifetime",
                 path);
    for (size_t i = 0; i < n; i++)
        if (wall == GCKS_STATE_WALL_UNKNOWN || spis[i].until > wall) {
            /* No key outlives the longest lifetime from now: a time
             * beyond it (a wall clock set back since, or forward when
             * written) is held that long, not for years, where it would
             * never leave the file and crowd out the SPIs still held. */
            uint64_t left = wall == GCKS_STATE_WALL_UNKNOWN ? UINT64_MAX :
                            spis[i].until - wall;

            if (left > ZIKE_GROUP_LIFETIME_MAX * 1000ULL)
                left = ZIKE_GROUP_LIFETIME_MAX * 1000ULL;
            spi_hold(z, spis[i].spi, z->now + left);
            held++;
        }
    if (held)
        zike_log(LOG_NOTICE, "key server state %s: %zu group SPI%s members "
                 "may hold, avoided until their keys' lifetimes end", path,
                 held, held == 1 ? "" : "s");
    return 0;
}

/* A group SPI unused in this host's SAD, in either direction, and that
 * no member of a group served may hold: one would refuse the new key
 * under it (another key under an SPI it holds), and the push stall until
 * its old SA left. */
static uint32_t group_spi_new(struct zike *z)
{
    for (;;) {
        uint32_t spi = zike_new_spi(z);
        zesp_sa_info info;

        if (zesp_sa_info_get(z->sad, spi, ZESP_DIR_OUT, &info) != 0 &&
            !spi_held_by_members(z, spi))
            return spi;
    }
}

/* The SA a new key replaces, remembered until its lifetime ends: in
 * the slot of one whose lifetime ended, else of the one ending first. */
static void spi_retired(struct gcks_group *g, uint64_t held_until)
{
    struct gcks_past_spi *slot = &g->past[0];

    if (g->spi == 0)
        return;
    for (size_t k = 1; k < GCKS_PAST_SPIS; k++)
        if (g->past[k].held_until < slot->held_until)
            slot = &g->past[k];
    slot->spi = g->spi;
    slot->held_until = held_until;
}

/* What members are told about a group: any change needs a new key (a
 * sender added must have windows at every receiver). */
static void policy_sum(uint8_t out[16], const struct zike_group *gc)
{
    crypto_generichash_state st;

    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, (const uint8_t *)&gc->transform,
                              sizeof gc->transform);
    crypto_generichash_update(&st, (const uint8_t *)&gc->lifetime,
                              sizeof gc->lifetime);
    crypto_generichash_update(&st, (const uint8_t *)&gc->source_auth,
                              sizeof gc->source_auth);
    for (size_t i = 0; i < gc->nsenders; i++)
        crypto_generichash_update(&st, (const uint8_t *)&gc->senders[i],
                                  sizeof gc->senders[i]);
    /* Senders make a MAC for each receiver listed in the SA they hold:
     * a receiver added, removed or changed needs a new SA for them. */
    for (size_t i = 0; gc->source_auth == ZIKE_SOURCE_AUTH_MAC &&
                       i < gc->nreceivers; i++) {
        crypto_generichash_update(&st,
                                  (const uint8_t *)&gc->receivers[i].member_id,
                                  sizeof gc->receivers[i].member_id);
        crypto_generichash_update(&st, gc->receivers[i].sign_pk,
                                  sizeof gc->receivers[i].sign_pk);
    }
    crypto_generichash_final(&st, out, 16);
}

/* When the key's lifetime ends (ms): members hold it no longer. */
static uint64_t key_end(const struct gcks_group *g,
                        const struct zike_group *gc)
{
    return g->created + (uint64_t)gc->lifetime * 1000U;
}

/* How long a member holds an old key beside the new one: the activation
 * and deactivation time delays (ms). */
static uint64_t key_delays_ms(const struct zike_group *gc)
{
    return ((uint64_t)gc->atd + gc->dtd) * 1000U;
}

/* When to make the next key: at 80-90 % of the lifetime, yet early
 * enough that the old key, at every member, outlives the push, the
 * senders' wait for the receivers, ATD and DTD.  Never before half the
 * lifetime (the configuration keeps ATD + DTD below it). */
static uint64_t key_rekey_at(const struct zike *z, const struct gcks_group *g,
                             const struct zike_group *gc)
{
    uint64_t life_ms = (uint64_t)gc->lifetime * 1000U;
    uint64_t spare = key_delays_ms(gc) + GROUP_SENDERS_WAIT_MS;
    uint64_t at = z->now + life_ms - life_ms / 10 -
                  randombytes_uniform((uint32_t)(life_ms / 10) + 1U);

    if (at + spare > key_end(g, gc))
        at = spare < life_ms / 2 ? key_end(g, gc) - spare
                                 : z->now + life_ms / 2;
    return at;
}

static void gcks_new_key(struct zike *z, struct gcks_group *g,
                         const struct zike_group *gc, const char *why)
{
    uint32_t spi = group_spi_new(z);

    spi_retired(g, key_end(g, gc));
    g->spi = spi;
    randombytes_buf(g->key, ZESP_KEYBYTES);
    g->created = z->now;
    g->rekey_at = key_rekey_at(z, g, gc);
    /* Every sender still in the group gets this key with its Sender ID.
     * A member backed off from (push_refused) refused the key before
     * this one: this one is pushed at the next tick, not after the rest
     * of the backoff (up to 5 minutes of the senders' messages under it
     * that the member could not read); refused too, the wait doubles on
     * from where it was. */
    g->sids_issued = 0;
    for (size_t i = 0; i < g->nmembers; i++) {
        struct gcks_member *mb = &g->members[i];

        if (mb->sender && mb->sid)
            g->sids_issued |= UINT64_C(1) << (mb->sid - 1);
        if (!mb->rejoin && mb->push_backoff != 0)
            mb->push_after = 0;
    }
    policy_sum(g->policy_sum, gc);
    if (why != NULL) {
        g->rekeys++;
        z->stats.group_rekeys++;
    }
    group_state_save(z);
    zike_log(LOG_NOTICE, "group %s: new group SA 0x%08x%s%s", g->name, g->spi,
             why ? ": " : "", why ? why : "");
}

/* A key past its rekey time, or with no more than ATD + DTD left (a
 * reload may lengthen them), is never handed out: one made now is, so
 * that what a member is told is left of it covers the delays. */
static void gcks_key_fresh(struct zike *z, struct gcks_group *g,
                           const struct zike_group *gc)
{
    if (z->now >= g->rekey_at ||
        z->now + key_delays_ms(gc) >= key_end(g, gc))
        gcks_new_key(z, g, gc, "lifetime");
}

/* What is left of the key's lifetime (s), never more: a member that got
 * the key late, cut off from us since, stops using it when the others
 * do (RFC 9838 4.4.2.2.1: the time for which the SA is valid).  Never 0,
 * which says "no lifetime". */
static uint32_t key_life_left(const struct zike *z,
                              const struct gcks_group *g,
                              const struct zike_group *gc)
{
    uint64_t end = key_end(g, gc);
    uint64_t left = end > z->now ? (end - z->now) / 1000U : 0;

    return left ? (uint32_t)left : 1U;
}

/* When the peer's hold-down in g ends (ms); 0: it has none. */
static uint64_t holddown_end(const struct zike *z, const struct gcks_group *g,
                             const struct zike_group *gc, const char *peer)
{
    uint64_t span = (uint64_t)gc->rekey_holddown * 1000U;

    for (size_t i = 0; span && i < sizeof g->holddowns /
                                        sizeof g->holddowns[0]; i++) {
        const struct gcks_holddown *h = &g->holddowns[i];
        if (h->peer[0] != '\0' && strcmp(h->peer, peer) == 0)
            return z->now < h->at + span ? h->at + span : 0;
    }
    return 0;
}

/* A new key the peer made: its own slot, else one whose hold-down ended
 * (the oldest), so that the table never grows. */
static void holddown_start(struct zike *z, struct gcks_group *g,
                           const char *peer)
{
    struct gcks_holddown *slot = &g->holddowns[0];

    for (size_t i = 0; i < sizeof g->holddowns / sizeof g->holddowns[0];
         i++) {
        struct gcks_holddown *h = &g->holddowns[i];

        if (strcmp(h->peer, peer) == 0) {
            slot = h;
            break;
        }
        if (slot->peer[0] != '\0' &&
            (h->peer[0] == '\0' || h->at < slot->at))
            slot = h;
    }
    snprintf(slot->peer, sizeof slot->peer, "%s", peer);
    slot->at = z->now;
}

/* A new key that peer's registration, leave or death makes. */
static void gcks_member_rekey(struct zike *z, struct gcks_group *g,
                              const struct zike_group *gc, const char *peer,
                              const char *why)
{
    gcks_new_key(z, g, gc, why);
    holddown_start(z, g, peer);
}

/* Whether the peer's identity may join, and as what. */
static bool authorised(const struct zike_group *gc, const struct zike_peer *p,
                       bool *sender, bool *receiver, uint32_t *sid)
{
    *sender = *receiver = false;
    *sid = 0;
    for (size_t i = 0; i < gc->nsenders; i++)
        if (strcmp(gc->senders[i].id, p->id) == 0) {
            *sender = true;
            *sid = (uint32_t)i + 1U;
        }
    for (size_t i = 0; i < gc->nreceivers; i++)
        if (strcmp(gc->receivers[i].id, p->id) == 0)
            *receiver = true;
    return *sender || *receiver;
}

static struct gcks_member *member_find(struct gcks_group *g, const char *peer)
{
    for (size_t i = 0; i < g->nmembers; i++)
        if (strcmp(g->members[i].peer, peer) == 0)
            return &g->members[i];
    return NULL;
}

/* The member was sent the current key over sa. */
static void member_given(struct gcks_member *mb, const struct gcks_group *g,
                         const struct ike_sa *sa)
{
    mb->given_spi = g->spi;
    memcpy(mb->given_on, sa->spi_i, 8);
    memcpy(mb->given_on + 8, sa->spi_r, 8);
}

/* Asks again for the key it was sent, over another IKE SA: a restarted
 * zike (IKE SAs live in its memory only), which may have lost its replay
 * windows with its SAD. */
static bool member_asks_again(const struct gcks_member *mb,
                              const struct gcks_group *g,
                              const struct ike_sa *sa)
{
    return mb->given_spi == g->spi &&
           (memcmp(mb->given_on, sa->spi_i, 8) != 0 ||
            memcmp(mb->given_on + 8, sa->spi_r, 8) != 0);
}

/* An IKE SA rekey moves the peer to the new IKE SA, nothing lost: a
 * member given the key over the old one was given it over the new one,
 * or its registration there would be taken for a restart's. */
void group_ike_sa_rekeyed(struct zike *z, const struct ike_sa *old,
                          const struct ike_sa *fresh)
{
    for (size_t i = 0; i < z->ngroups; i++)
        for (size_t k = 0; k < z->groups[i].nmembers; k++) {
            struct gcks_member *mb = &z->groups[i].members[k];

            if (strcmp(mb->peer, old->peer_name) == 0 &&
                memcmp(mb->given_on, old->spi_i, 8) == 0 &&
                memcmp(mb->given_on + 8, old->spi_r, 8) == 0) {
                memcpy(mb->given_on, fresh->spi_i, 8);
                memcpy(mb->given_on + 8, fresh->spi_r, 8);
            }
        }
}

/* Remove a member; the caller rekeys. */
static bool member_remove(struct gcks_group *g, const char *peer)
{
    struct gcks_member *m = member_find(g, peer);

    if (m == NULL)
        return false;
    *m = g->members[--g->nmembers];
    return true;
}

static uint16_t gsa_source_auth(enum zike_source_auth a)
{
    switch (a) {
    case ZIKE_SOURCE_AUTH_SIGNATURE:
        return GSA_SOURCE_AUTH_SIGNATURE;
    case ZIKE_SOURCE_AUTH_MAC:
        return GSA_SOURCE_AUTH_MAC;
    default:
        return GSA_SOURCE_AUTH_NONE;
    }
}

/* The policy part every member gets; atd: the delay before senders use it. */
static void gsa_of(const struct zike *z, const struct gcks_group *g,
                   const struct zike_group *gc, uint16_t atd,
                   struct gsa_policy *pol)
{
    const struct zike_conf *conf = &z->conf;

    memset(pol, 0, sizeof *pol);
    pol->spi = g->spi;
    pol->encr = (uint16_t)gc->transform;
    pol->esn = true;
    pol->lifetime = key_life_left(z, g, gc);
    pol->source_auth = gsa_source_auth(gc->source_auth);
    pol->atd = atd;
    pol->dtd = gc->dtd;
    pol->sid_bits = ZESP_SENDER_ID_BITS;
    for (size_t i = 0; i < gc->nsenders && i < GSA_SENDERS_MAX; i++) {
        struct gsa_sender *s = &pol->senders[pol->nsenders++];
        const struct zike_peer *p = NULL;

        s->sid = (uint16_t)(i + 1);
        /* Receivers name a sender's SA after the peer, else its id. */
        for (size_t k = 0; k < conf->npeers; k++)
            if (strcmp(conf->peers[k].id, gc->senders[i].id) == 0)
                p = &conf->peers[k];
        snprintf(s->name, sizeof s->name, "%s",
                 p ? p->name : gc->senders[i].id);
        memcpy(s->pk, gc->senders[i].sign_pk, sizeof s->pk);
    }
    for (size_t i = 0; gc->source_auth == ZIKE_SOURCE_AUTH_MAC &&
                       i < gc->nreceivers && i < GSA_RECEIVERS_MAX; i++) {
        struct gsa_receiver *r = &pol->receivers[pol->nreceivers++];

        r->id = gc->receivers[i].member_id;
        memcpy(r->pk, gc->receivers[i].sign_pk, sizeof r->pk);
    }
}

/* GSA and KD (the key wrapped with this IKE SA's GSK_w) into w. */
static int w_group_sa(struct ike_writer *w, struct ike_sa *sa,
                      const struct gcks_group *g, const struct gsa_policy *pol,
                      uint32_t sid)
{
    uint8_t gsk_w[GSA_GSK_W_BYTES];
    struct gsa_kd kd;
    int rc = -1;

    memset(&kd, 0, sizeof kd);
    kd.spi = g->spi;
    kd.sender_id = sid;
    if (gsa_gsk_w(gsk_w, sa->keys->sk_d) == 0 &&
        gsa_wrap(kd.wrapped, gsk_w, g->spi, g->key) == 0) {
        gsa_write(w, pol);
        kd_write(w, &kd);
        rc = 0;
    }
    sodium_memzero(gsk_w, sizeof gsk_w);
    return rc;
}

static void respond_notify(struct zike *z, struct ike_sa *sa,
                           const struct route *from,
                           const struct ike_message *m, uint16_t type)
{
    uint8_t chain[64];
    struct ike_writer w;
    size_t len;

    ike_w_init_chain(&w, chain, sizeof chain);
    if (type)
        ike_w_notify(&w, 0, type, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, m->hdr.exchange, m->hdr.message_id, chain,
                    len);
}

/* Whether a receiver of the configuration, other than peer, does not hold
 * the current key: after the key server's start, none does. */
static bool receivers_missing(const struct zike *z,
                              const struct gcks_group *g,
                              const struct zike_group *gc,
                              const struct zike_peer *peer)
{
    for (size_t i = 0; i < gc->nreceivers; i++) {
        bool holds = strcmp(gc->receivers[i].id, peer->id) == 0;

        for (size_t k = 0; k < g->nmembers && !holds; k++) {
            const struct zike_peer *p = zike_conf_peer(&z->conf,
                                                       g->members[k].peer);
            holds = p != NULL && strcmp(p->id, gc->receivers[i].id) == 0 &&
                    g->members[k].have_spi == g->spi;
        }
        if (!holds)
            return true;
    }
    return false;
}

/* The activation delay a registration is told.  A key younger than the
 * group's may not be at every receiver yet: the newcomer waits as the
 * others do.  A sender also waits, as long as a push would
 * (GROUP_SENDERS_WAIT_MS from the key's making), for receivers that do
 * not hold the key yet: after a restart of the key server they come back
 * one by one, and a sender that moved first would not be read. */
static uint16_t registration_atd(const struct zike *z,
                                 const struct gcks_group *g,
                                 const struct zike_group *gc,
                                 const struct zike_peer *peer, bool sender)
{
    uint64_t age = z->now - g->created;
    uint16_t atd = age < (uint64_t)gc->atd * 1000U ? gc->atd : 0;

    if (sender && age < GROUP_SENDERS_WAIT_MS &&
        receivers_missing(z, g, gc, peer)) {
        uint64_t left = (GROUP_SENDERS_WAIT_MS - age + 999U) / 1000U;
        if (left > atd)
            atd = (uint16_t)left;
    }
    return atd;
}

/* TEMPORARY_FAILURE (RFC 7296 2.25: try again later), nothing changed:
 * the member made a new key less than rekey-holddown ago. */
static void gcks_held_down(struct zike *z, struct gcks_group *g,
                           const struct zike_group *gc, struct ike_sa *sa,
                           const struct route *from,
                           const struct ike_message *m, const char *peer,
                           uint64_t held)
{
    z->stats.group_holddown_refusals++;
    zike_log_limited(z, &z->holddown_log, LOG_NOTICE, "group %s: member %s "
                     "made a new key less than %u s ago (rekey-holddown): its "
                     "registration refused for %llu ms more", g->name, peer,
                     (unsigned)gc->rekey_holddown,
                     (unsigned long long)(held - z->now));
    respond_notify(z, sa, from, m, IKE_N_TEMPORARY_FAILURE);
}

/* A member's pushes start over: the next goes at the next tick, and a
 * refusal of it is said again (a registration, a reload). */
static void push_start_over(struct gcks_member *mb)
{
    mb->push_after = 0;
    mb->push_backoff = 0;
    mb->push_refused = 0;
}

static void gcks_registration(struct zike *z, struct ike_sa *sa,
                              const struct route *from,
                              const struct ike_message *m)
{
    const struct zike_peer *peer = zike_conf_peer(&z->conf, sa->peer_name);
    const struct zike_group *gc;
    struct gcks_group *g;
    struct gcks_member *mb;
    struct gsa_policy pol;
    char name[ZESP_NAME_MAX];
    uint8_t chain[IKE_MAX_MESSAGE];
    struct ike_writer w;
    size_t len;
    bool sender, receiver, rekey_join, rekey_sid, rekey_again, again;
    const char *role;
    uint32_t sid;
    uint16_t atd;
    uint64_t held;

    if (!group_named(m, name) || peer == NULL) {
        respond_notify(z, sa, from, m, IKE_N_INVALID_SYNTAX);
        return;
    }
    if ((g = gcks_find(z, name)) == NULL ||
        (gc = zike_conf_group(&z->conf, name)) == NULL) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_UNKNOWN],
                         LOG_WARNING, "peer %s: asks to join unknown group "
                         "'%s'", peer->name, name);
        respond_notify(z, sa, from, m, IKE_N_INVALID_GROUP_ID);
        return;
    }
    if (notify_present(m, IKE_N_REGISTRATION_FAILED)) {
        respond_notify(z, sa, from, m, 0);
        if (member_remove(g, peer->name)) {
            zike_log(LOG_NOTICE, "group %s: member %s leaves", name,
                     peer->name);
            gcks_member_rekey(z, g, gc, peer->name, "a member left");
        } else {
            zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_NOT_MEMBER],
                             LOG_NOTICE, "group %s: member %s leaves", name,
                             peer->name);
        }
        return;
    }
    if (!authorised(gc, peer, &sender, &receiver, &sid) ||
        (notify_present(m, IKE_N_GROUP_SENDER) && !sender)) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_NOT_ALLOWED],
                         LOG_WARNING, "group %s: peer %s (%s) is not allowed "
                         "to join%s", name, peer->name, peer->id,
                         notify_present(m, IKE_N_GROUP_SENDER)
                             ? " as a sender" : "");
        respond_notify(z, sa, from, m, IKE_N_AUTHORIZATION_FAILED);
        return;
    }
    if (!notify_present(m, IKE_N_GROUP_SENDER)) {
        sender = false;
        sid = 0;
    }
    gcks_key_fresh(z, g, gc);
    mb = member_find(g, peer->name);
    /* Backward access control: the members there hold the current key,
     * so a newcomer gets one made after it asked. */
    rekey_join = gc->rekey_on_join && g->nmembers > 0 && mb == NULL;
    rekey_sid = sender && (g->sids_issued & (UINT64_C(1) << (sid - 1)));
    /* A member sent the current key that asks for it again from a new IKE
     * SA may have lost its replay windows (a host rebooted with its SAD
     * on tmpfs; its new IKE SA replaced the old one, which ends no
     * membership): the same key would let every message sent under it be
     * replayed to it. */
    rekey_again = !rekey_sid && mb != NULL && member_asks_again(mb, g, sa);
    /* A join makes no key without rekey-on-join, but the member's leave
     * will: refused too, else leaving and joining would be unbounded. */
    if ((mb == NULL || rekey_join || rekey_sid || rekey_again) &&
        (held = holddown_end(z, g, gc, peer->name)) != 0) {
        gcks_held_down(z, g, gc, sa, from, m, peer->name, held);
        return;
    }
    if (rekey_join)
        gcks_member_rekey(z, g, gc, peer->name, "a member joins");
    if (rekey_sid)
        gcks_member_rekey(z, g, gc, peer->name, "a sender registered again");
    if (rekey_again)
        gcks_member_rekey(z, g, gc, peer->name, "a member registered again");
    if (sender)
        g->sids_issued |= UINT64_C(1) << (sid - 1);
    again = mb != NULL && !rekey_sid && !rekey_again;
    if (mb == NULL) {
        if (g->nmembers == sizeof g->members / sizeof g->members[0]) {
            respond_notify(z, sa, from, m, IKE_N_REGISTRATION_FAILED);
            return;
        }
        mb = &g->members[g->nmembers++];
        memset(mb, 0, sizeof *mb);
        snprintf(mb->peer, sizeof mb->peer, "%s", peer->name);
    }
    mb->sender = sender;
    mb->receiver = receiver;
    mb->sid = sid;
    mb->have_spi = g->spi;
    member_given(mb, g, sa);
    mb->rejoin = false;
    push_start_over(mb);
    atd = registration_atd(z, g, gc, peer, sender);
    gsa_of(z, g, gc, atd, &pol);
    ike_w_init_chain(&w, chain, sizeof chain);
    if (w_group_sa(&w, sa, g, &pol, sid) != 0 ||
        ike_w_finish(&w, &len) != IKE_OK) {
        respond_notify(z, sa, from, m, IKE_N_REGISTRATION_FAILED);
        return;
    }
    ike_respond(z, sa, from, m->hdr.exchange, m->hdr.message_id, chain, len);
    z->stats.group_registrations++;
    role = sender ? (receiver ? "sender+receiver" : "sender")
                  : (receiver ? "receiver" : "");
    /* A member that registers again, no new key made, may do it in a
     * loop. */
    if (again)
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_AGAIN], LOG_NOTICE,
                         "group %s: %s registered as %s (SA 0x%08x)", name,
                         peer->name, role, g->spi);
    else
        zike_log(LOG_NOTICE, "group %s: %s registered as %s (SA 0x%08x)",
                 name, peer->name, role, g->spi);
}

/* May this member get the new key now?  Senders wait for every receiver
 * that does not send, so that nothing is sent that cannot be read; not for
 * ever: a receiver that does not answer is soon declared dead anyway. */
static bool push_allowed(struct zike *z, const struct gcks_group *g,
                         const struct gcks_member *mb)
{
    if (!mb->sender || z->now - g->created >= GROUP_SENDERS_WAIT_MS)
        return true;
    for (size_t i = 0; i < g->nmembers; i++) {
        const struct gcks_member *o = &g->members[i];
        if (!o->sender && !o->rejoin && o->have_spi != g->spi &&
            ike_sa_for_peer(z, o->peer) != NULL)
            return false;
    }
    return true;
}

/* GSA_INBAND_REKEY {IDg, D(ESP, the SPI it holds)}, no GSA and no KD:
 * what the member was registered as no longer holds; it registers again
 * and learns its Sender ID, or that it may no longer send. */
static bool gcks_tell_rejoin(struct zike *z, struct ike_sa *sa,
                             const char *group, uint32_t spi)
{
    uint8_t chain[256], old[4];
    struct ike_writer w;
    size_t len;

    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, group, strlen(group));
    put32(old, spi);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, old, 1);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return false;
    snprintf(sa->req.group, sizeof sa->req.group, "%s", group);
    sa->req.gsa_spi = 0;
    if (ike_request(z, sa, REQ_GSA_PUSH, IKE_GSA_INBAND_REKEY, chain,
                    len) != 0)
        return false;
    zike_log(LOG_INFO, "group %s: member %s told to register again",
             group, sa->peer_name);
    return true;
}

static bool gcks_push(struct zike *z, struct ike_sa *sa)
{
    for (size_t i = 0; i < z->ngroups; i++) {
        struct gcks_group *g = &z->groups[i];
        const struct zike_group *gc = zike_conf_group(&z->conf, g->name);
        struct gcks_member *mb = member_find(g, sa->peer_name);
        uint8_t chain[IKE_MAX_MESSAGE], old[4];
        struct gsa_policy pol;
        struct ike_writer w;
        size_t len;

        if (gc == NULL || mb == NULL || z->now < mb->push_after)
            continue;
        gcks_key_fresh(z, g, gc);
        if (mb->rejoin) {
            if (gcks_tell_rejoin(z, sa, g->name, mb->have_spi))
                return true;
            continue;
        }
        if (mb->have_spi == g->spi || !push_allowed(z, g, mb))
            continue;
        gsa_of(z, g, gc, gc->atd, &pol);
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, g->name, strlen(g->name));
        if (w_group_sa(&w, sa, g, &pol, 0) != 0)
            continue;
        if (mb->have_spi) {
            put32(old, mb->have_spi);
            ike_w_delete(&w, IKE_PROTO_ESP, 4, old, 1);
        }
        if (ike_w_finish(&w, &len) != IKE_OK)
            continue;
        snprintf(sa->req.group, sizeof sa->req.group, "%s", g->name);
        sa->req.gsa_spi = g->spi;
        if (ike_request(z, sa, REQ_GSA_PUSH, IKE_GSA_INBAND_REKEY, chain,
                        len) == 0) {
            member_given(mb, g, sa);
            return true;
        }
    }
    return false;
}

/* The longest wait between pushes to a member that refuses each: at most
 * GROUP_PUSH_BACKOFF_MAX_MS, and less than a key lives before it is
 * replaced (80 % of the lifetime at the earliest). */
static uint32_t push_backoff_max(const struct zike_group *gc)
{
    uint64_t most = GROUP_PUSH_BACKOFF_MAX_MS;

    if (gc != NULL && (uint64_t)gc->lifetime * 800U < most)
        most = (uint64_t)gc->lifetime * 800U;
    return most > GROUP_RETRY_MS ? (uint32_t)most : GROUP_RETRY_MS;
}

/* A member refused a push (it is not registered yet, or it refuses the
 * group's policy: a source-auth its join does not take, a key it holds
 * another under): pushed again after GROUP_RETRY_MS, then twice as long
 * after each refusal, up to push_backoff_max.  A member whose
 * configuration will not take the group refuses each push the same way
 * for as long as the two configurations differ: every GROUP_RETRY_MS, it
 * was a push and a line in the log every 2 s.  Said once per error; a
 * push taken, a registration, or a reload starts over. */
static void push_refused(struct zike *z, struct gcks_group *g,
                         struct gcks_member *mb, const char *peer,
                         uint16_t err)
{
    uint32_t wait = mb->push_backoff ? mb->push_backoff : GROUP_RETRY_MS;
    uint32_t most = push_backoff_max(zike_conf_group(&z->conf, g->name));

    if (wait > most)
        wait = most;
    if (mb->push_refused != err)
        zike_log(LOG_WARNING, "group %s: member %s refused the new SA (%s): "
                 "pushed again after %u s, then less often (up to %u s) "
                 "while it refuses", g->name, peer, notify_name(err),
                 wait / 1000U, most / 1000U);
    mb->push_refused = err;
    mb->push_after = z->now + wait;
    mb->push_backoff = wait > most / 2U ? most : wait * 2U;
}

static void gcks_push_done(struct zike *z, struct ike_sa *sa,
                           const struct ike_message *m)
{
    struct gcks_group *g = gcks_find(z, sa->req.group);
    struct gcks_member *mb = g ? member_find(g, sa->peer_name) : NULL;
    uint16_t err = ike_error_notify(m);

    if (mb == NULL)
        return;
    if (sa->req.gsa_spi == 0) {
        /* It registers again, or (a zike that does not know the notice)
         * it is removed, as it was before the notice existed. */
        if (!mb->rejoin)
            return;                      /* it has registered again */
        if (err == 0) {
            mb->push_after = UINT64_MAX; /* told: nothing until then */
            return;
        }
        zike_log(LOG_WARNING, "group %s: member %s cannot be told to "
                 "register again (%s): removed", g->name, sa->peer_name,
                 notify_name(err));
        member_remove(g, sa->peer_name);
        return;
    }
    if (err == IKE_N_INVALID_GROUP_ID) {
        /* It no longer joins (a reload took its join; a zike that does
         * not say so with a leave): it is pushed no key again, and the
         * one it was just sent is replaced.  A leave, so held down like
         * one: else joining and refusing each push makes a key a round. */
        const struct zike_group *gc = zike_conf_group(&z->conf, g->name);

        zike_log(LOG_NOTICE, "group %s: member %s no longer joins it",
                 g->name, sa->peer_name);
        member_remove(g, sa->peer_name);
        if (gc != NULL)
            gcks_member_rekey(z, g, gc, sa->peer_name,
                              "a member no longer joins");
        return;
    }
    if (err != 0) {
        push_refused(z, g, mb, sa->peer_name, err);
        return;
    }
    mb->have_spi = sa->req.gsa_spi;
    mb->push_backoff = 0;
    mb->push_refused = 0;
    zike_log(LOG_INFO, "group %s: member %s holds SA 0x%08x", g->name,
             sa->peer_name, mb->have_spi);
}

/* ---- member ------------------------------------------------------------------ */

/* What the member remembers of a group key: its digest, never the key. */
static void key_sum(uint8_t out[GM_KEY_SUM_BYTES], const uint8_t *key)
{
    static const char label[] = "zike group key sum";

    crypto_generichash(out, GM_KEY_SUM_BYTES, key, ZESP_KEYBYTES,
                       (const uint8_t *)label, sizeof label - 1);
}

static bool sum_is(const uint8_t sum[GM_KEY_SUM_BYTES], const uint8_t *key)
{
    uint8_t have[GM_KEY_SUM_BYTES];
    bool same;

    key_sum(have, key);
    same = sodium_memcmp(have, sum, sizeof have) == 0;
    sodium_memzero(have, sizeof have);
    return same;
}

static bool key_retired(const struct gm_group *gg, uint32_t spi,
                        const uint8_t *key)
{
    for (size_t i = 0; i < GM_RETIRED_MAX; i++)
        if (gg->retired[i].spi == spi && spi != 0 &&
            sum_is(gg->retired[i].key_sum, key))
            return true;
    return false;
}

static void gm_remove_sa(struct zike *z, struct gm_group *gg,
                         const struct zike_join *j, struct gm_sa *s)
{
    zesp_policy pol;

    zesp_sa_del(z->sad, s->spi, ZESP_DIR_IN);
    zesp_sa_del(z->sad, s->spi, ZESP_DIR_OUT);
    if (j != NULL) {
        zike_policy_in(z, j->policy, j->group, 0, s->spi);
        if (zesp_policy_get(z->sad, j->policy, &pol) == 0 &&
            pol.out_spi == s->spi)
            zesp_policy_set_out(z->sad, j->policy, 0);
    }
    zike_log(LOG_INFO, "group %s: group SA 0x%08x removed", gg->name, s->spi);
    memset(s, 0, sizeof *s);
}

/* An SA a newer one replaced leaves, and its key is not taken again. */
static void gm_retire(struct zike *z, struct gm_group *gg,
                      const struct zike_join *j, struct gm_sa *s)
{
    if (s->summed) {
        struct gm_retired *r = &gg->retired[gg->retired_next];

        r->spi = s->spi;
        memcpy(r->key_sum, s->key_sum, sizeof r->key_sum);
        gg->retired_next = (gg->retired_next + 1) % GM_RETIRED_MAX;
    }
    gm_remove_sa(z, gg, j, s);
}

static void gm_activate(struct zike *z, struct gm_group *gg,
                        const struct zike_join *j, struct gm_sa *s)
{
    s->activate_at = 0;
    if (zesp_policy_set_out(z->sad, j->policy, s->spi) != 0) {
        zike_log(LOG_ERR, "group %s: policy %s cannot send on 0x%08x: %s",
                 gg->name, j->policy, s->spi, zesp_strerror(errno));
        return;
    }
    zike_log(LOG_INFO, "group %s: policy %s now sends on group SA 0x%08x "
             "(Sender ID %u)", gg->name, j->policy, s->spi, gg->sid);
}

static int gm_add(struct zike *z, const struct zike_join *j,
                  const struct gsa_policy *pol, const struct gsa_sender *s,
                  uint32_t dir, uint32_t sid, const uint8_t *key)
{
    bool signed_ = pol->source_auth == GSA_SOURCE_AUTH_SIGNATURE;
    bool mac = pol->source_auth == GSA_SOURCE_AUTH_MAC;
    zesp_sa_params p;
    int rc;

    memset(&p, 0, sizeof p);
    p.spi = pol->spi;
    p.direction = dir;
    p.transform = pol->encr;
    p.flags = ZESP_SA_GROUP | (pol->esn ? 0 : ZESP_SA_NO_ESN) |
              (signed_ ? ZESP_SA_SIGNED : 0) | (mac ? ZESP_SA_SOURCE_MAC : 0);
    if (dir == ZESP_DIR_IN)
        p.flags |= zike_conf_in_flags(&z->conf, j->policy);
    p.sender_id = sid;
    p.hard.seconds = pol->lifetime;
    memcpy(p.key, key, ZESP_KEYBYTES);
    snprintf(p.peer, sizeof p.peer, "%s", s ? s->name : j->group);
    if (signed_ && dir == ZESP_DIR_IN)
        memcpy(p.sign_key, s->pk, ZESP_SIGN_PUBLICBYTES);
    else if (signed_)
        memcpy(p.sign_key, j->sign_sk, ZESP_SIGN_SECRETBYTES);
    rc = mac ? group_mac_keys(&p, pol, j->sign_sk, s) : 0;
    if (rc == 0)
        rc = zesp_sa_add(z->sad, &p);
    if (rc != 0 && errno == ZESP_EEXIST) {
        /* Left by an earlier zike on this host (the SAD outlives it):
         * the same key keeps its replay windows and sequence numbers. */
        uint8_t have[ZESP_KEYBYTES];
        if (zesp_sa_key_get(z->sad, p.spi, dir, have) == 0 &&
            sodium_memcmp(have, p.key, ZESP_KEYBYTES) == 0)
            rc = 0;
        sodium_memzero(have, sizeof have);
        errno = ZESP_EEXIST;
    }
    sodium_memzero(&p, sizeof p);
    if (rc != 0) {
        int e = errno;
        zike_log(LOG_ERR, "group %s: cannot install group SA 0x%08x %s "
                 "(Sender ID %u): %s", j->group, pol->spi,
                 dir == ZESP_DIR_IN ? "in" : "out", sid, zesp_strerror(e));
        if (e == ZESP_EFULL)
            zike_sad_full(z);
        errno = e;
    }
    return rc;
}

/* SAs of the policy that this zike does not know (an earlier zike left
 * them in the SAD) leave like any replaced SA. */
static void gm_adopt_orphans(struct zike *z, struct gm_group *gg,
                             const struct zike_join *j, uint64_t retire)
{
    zesp_policy pol;
    uint32_t spis[ZESP_POLICY_IN_MAX + 1];

    if (zesp_policy_get(z->sad, j->policy, &pol) != 0)
        return;
    memcpy(spis, pol.in_spi, sizeof pol.in_spi);
    spis[ZESP_POLICY_IN_MAX] = pol.out_spi;
    for (size_t i = 0; i <= ZESP_POLICY_IN_MAX; i++) {
        struct gm_sa *free_slot = NULL;
        bool known = spis[i] == 0;

        for (size_t k = 0; k < GM_SAS_MAX; k++) {
            known |= gg->sas[k].spi == spis[i];
            if (gg->sas[k].spi == 0 && free_slot == NULL)
                free_slot = &gg->sas[k];
        }
        if (known)
            continue;
        if (free_slot != NULL) {
            free_slot->spi = spis[i];
            free_slot->retire_at = retire;
        } else {
            struct gm_sa gone = { .spi = spis[i] };
            gm_remove_sa(z, gg, j, &gone);
        }
    }
}

/* The SAs the SAD holds under one SPI, and whether each could be the
 * group SA's being installed (left by an earlier zike). */
struct spi_holders {
    uint32_t spi;
    const struct gsa_policy *pol;
    bool in, out, foreign;
};

static int spi_holder(const zesp_sa_info *info, void *arg)
{
    struct spi_holders *h = arg;
    bool listed = false;

    if (info->spi != h->spi)
        return 0;
    for (size_t i = 0; i < h->pol->nsenders; i++)
        listed |= h->pol->senders[i].sid == info->sender_id;
    if (!(info->flags & ZESP_SA_GROUP)) {
        h->foreign = true;
    } else if (info->direction == ZESP_DIR_IN) {
        h->in = true;
        h->foreign |= !listed;
    } else {
        h->out = true;
    }
    return 0;
}

static bool same_key(struct zike *z, uint32_t spi, uint32_t dir,
                     const uint8_t *key)
{
    uint8_t have[ZESP_KEYBYTES];
    bool same = zesp_sa_key_get(z->sad, spi, dir, have) == 0 &&
                sodium_memcmp(have, key, ZESP_KEYBYTES) == 0;

    sodium_memzero(have, sizeof have);
    return same;
}

/* A policy other than the group's own that names an SPI. */
struct spi_named {
    uint32_t spi;
    const char *own;
};

static int names_spi(const zesp_policy *pol, void *arg)
{
    const struct spi_named *n = arg;

    if (n->own != NULL && strcmp(pol->name, n->own) == 0)
        return 0;
    if (pol->out_spi == n->spi)
        return 1;
    for (size_t k = 0; k < ZESP_POLICY_IN_MAX; k++)
        if (pol->in_spi[k] == n->spi)
            return 1;
    return 0;
}

/* Whether another group joined here holds spi, or a policy other than
 * the group's names it: a pairwise or manual one as well as another
 * group's, its SA there or gone (zesp sa del, zesp expire), since the
 * policy accepts, or sends on, whatever SA comes next under that SPI. */
static bool spi_held_elsewhere(struct zike *z, const struct gm_group *gg,
                               uint32_t spi)
{
    const struct zike_join *own = join_conf(z, gg->name);
    struct spi_named named = { spi, own != NULL ? own->policy : NULL };

    for (size_t i = 0; i < z->njoined; i++) {
        if (&z->joined[i] == gg)
            continue;
        for (size_t k = 0; k < GM_SAS_MAX; k++)
            if (z->joined[i].sas[k].spi == spi)
                return true;
    }
    return zesp_policy_foreach(z->sad, names_spi, &named) != 0;
}

/* A key server names its group's SPI, and a receiver's policy accepts an
 * SA by SPI: an SPI that a pairwise SA or another group's SA holds here,
 * or that another policy names, would let this key server's windows
 * answer on the other's policy (or its failed install delete them).
 * Free, or this SA's own as an earlier zike left it: group SAs of no
 * other group joined here, windows of the senders it lists, the same
 * key. */
static bool gm_spi_usable(struct zike *z, const struct gm_group *gg,
                          const struct gsa_policy *pol, const uint8_t *key)
{
    struct spi_holders h = { .spi = pol->spi, .pol = pol };

    if (zesp_sa_foreach(z->sad, spi_holder, &h) != 0 || h.foreign ||
        spi_held_elsewhere(z, gg, pol->spi) ||
        (h.in && !same_key(z, pol->spi, ZESP_DIR_IN, key)) ||
        (h.out && !same_key(z, pol->spi, ZESP_DIR_OUT, key))) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_SPI_TAKEN],
                         LOG_WARNING, "group %s: SPI 0x%08x is another SA's "
                         "or policy's on this host: the group SA is refused",
                         gg->name, pol->spi);
        return false;
    }
    return true;
}

/* slot becomes the SA sent on after the ATD; the others retire. */
static void gm_make_newest(struct zike *z, struct gm_group *gg,
                           const struct zike_join *j,
                           const struct gsa_policy *pol, struct gm_sa *slot,
                           uint64_t retire)
{
    for (size_t i = 0; i < GM_SAS_MAX; i++) {
        /* An older SA never becomes the one sent on after a newer. */
        gg->sas[i].activate_at = 0;
        if (gg->sas[i].spi && gg->sas[i].retire_at == 0)
            gg->sas[i].retire_at = retire;
    }
    slot->spi = pol->spi;
    slot->retire_at = 0;
    slot->activate_at = 0;
    if (j->sender) {
        slot->activate_at = z->now + (uint64_t)pol->atd * 1000U;
        if (pol->atd == 0)
            gm_activate(z, gg, j, slot);
    }
}

_Static_assert(GSA_SOURCE_AUTH_NONE == ZIKE_SOURCE_AUTH_NONE &&
               GSA_SOURCE_AUTH_SIGNATURE == ZIKE_SOURCE_AUTH_SIGNATURE &&
               GSA_SOURCE_AUTH_MAC == ZIKE_SOURCE_AUTH_MAC,
               "source-auth: one numbering on the wire and in the file");

/* What the join requires of the group's source authentication, and the
 * key server offers less or other: refused, said, never installed (the
 * member's configuration decides, as an SPD does, not the key server's).
 * Said once per offer: the member registers again every GROUP_RETRY_MS
 * and its server pushes again as often, each refused the same way, until
 * one of the two configurations changes (a reload of the join's says it
 * again). */
static bool source_auth_accepted(struct gm_group *gg,
                                 const struct zike_join *j,
                                 const struct gsa_policy *pol)
{
    unsigned ok = j->source_auth_accepts;

    if (pol->source_auth <= GSA_SOURCE_AUTH_MAC &&
        (ok & (1U << pol->source_auth))) {
        gg->source_auth_refused = 0;
        return true;
    }
    if (gg->source_auth_refused == 1U + pol->source_auth)
        return false;
    gg->source_auth_refused = 1U + pol->source_auth;
    zike_log(LOG_ERR, "group %s: key server %s offers source-auth %s, the "
             "join requires %s: group SA 0x%08x refused", gg->name,
             gg->server[0] ? gg->server : j->server,
             zike_source_auth_name((enum zike_source_auth)pol->source_auth),
             ok == (1U << ZIKE_SOURCE_AUTH_SIGNATURE) ? "signature"
             : ok == (1U << ZIKE_SOURCE_AUTH_MAC) ? "mac"
                                                  : "signature or mac",
             pol->spi);
    return false;
}

/* Install a group SA; the ones before it leave after the delays. */
static int gm_install(struct zike *z, struct gm_group *gg,
                      const struct zike_join *j, const struct gsa_policy *pol,
                      const uint8_t *key)
{
    struct gm_sa *slot = NULL;
    uint64_t retire = z->now + ((uint64_t)pol->atd + pol->dtd) * 1000U;

    for (size_t i = 0; i < GM_SAS_MAX; i++) {
        struct gm_sa *s = &gg->sas[i];

        if (s->spi != pol->spi)
            continue;
        /* Another key under an SPI held here is never put over it (its
         * replay windows would restart), nor taken for a repeat. */
        if (s->summed ? !sum_is(s->key_sum, key)
                      : !same_key(z, pol->spi, j->sender ? ZESP_DIR_OUT
                                                         : ZESP_DIR_IN, key)) {
            zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_KEY_REFUSED],
                             LOG_WARNING, "group %s: another key under group "
                             "SA 0x%08x, which we hold: refused", gg->name,
                             pol->spi);
            return -1;
        }
        if (s->retire_at == 0)
            return 0;                      /* a repeated push */
        /* Retiring, yet the server's current SA: a push it sent before
         * our registration overtook this one, its answer, and was taken
         * for the newer.  The same key only, then it is the newest. */
        gm_make_newest(z, gg, j, pol, s, retire);
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_NEWEST_AGAIN],
                         LOG_NOTICE, "group %s: group SA 0x%08x is the "
                         "newest again", gg->name, pol->spi);
        return 0;
    }
    if (key_retired(gg, pol->spi, key)) {
        /* Sent before the key that replaced it (delivered late): taken
         * again, it would get new replay windows and be sent on again. */
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_KEY_REFUSED],
                         LOG_WARNING, "group %s: group SA 0x%08x was "
                         "replaced and removed: its key is not taken again",
                         gg->name, pol->spi);
        return -1;
    }
    if (!source_auth_accepted(gg, j, pol))
        return -1;
    if (pol->source_auth == GSA_SOURCE_AUTH_SIGNATURE && j->sender &&
        j->sign_sk == NULL) {
        zike_log(LOG_ERR, "group %s: source-auth needs sign-key in join",
                 gg->name);
        return -1;
    }
    if (pol->source_auth == GSA_SOURCE_AUTH_MAC &&
        !group_mac_usable(gg->name, pol, j->sign_sk, j->sender ? gg->sid : 0,
                          j->receiver))
        return -1;
    if (pol->sid_bits != ZESP_SENDER_ID_BITS) {
        zike_log(LOG_ERR, "group %s: %u-bit Sender IDs are not supported",
                 gg->name, pol->sid_bits);
        return -1;
    }
    if (!gm_spi_usable(z, gg, pol, key))
        return -1;
    for (size_t i = 0; i < GM_SAS_MAX && slot == NULL; i++)
        if (gg->sas[i].spi == 0)
            slot = &gg->sas[i];
    if (slot == NULL) {
        /* The oldest of those retiring goes, never the current one: it
         * is the one sent on, and read, until the new one's ATD. */
        for (size_t i = 0; i < GM_SAS_MAX; i++)
            if (gg->sas[i].retire_at &&
                (slot == NULL || gg->sas[i].retire_at < slot->retire_at))
                slot = &gg->sas[i];
        if (slot == NULL)
            slot = &gg->sas[0];
        gm_retire(z, gg, j, slot);
    }
    if (j->receiver)
        for (size_t i = 0; i < pol->nsenders; i++) {
            const struct gsa_sender *s = &pol->senders[i];
            if (j->sender && s->sid == gg->sid)
                continue;                  /* our own messages */
            if (gm_add(z, j, pol, s, ZESP_DIR_IN, s->sid, key) != 0)
                goto fail;
        }
    if (j->sender &&
        gm_add(z, j, pol, NULL, ZESP_DIR_OUT, gg->sid, key) != 0)
        goto fail;
    zike_policy_in(z, j->policy, j->group, j->receiver ? pol->spi : 0, 0);
    gm_make_newest(z, gg, j, pol, slot, retire);
    slot->expire_at = z->now + (uint64_t)pol->lifetime * 1000U;
    key_sum(slot->key_sum, key);
    slot->summed = true;
    gm_adopt_orphans(z, gg, j, retire);
    gg->updates++;
    z->stats.group_updates++;
    zike_log(LOG_NOTICE, "group %s: group SA 0x%08x installed (%s, %zu "
             "senders%s)", gg->name, pol->spi,
             zesp_transform_name(pol->encr), pol->nsenders,
             pol->source_auth == GSA_SOURCE_AUTH_SIGNATURE ? ", signed"
             : pol->source_auth == GSA_SOURCE_AUTH_MAC ? ", source MACs"
                                                        : "");
    return 0;
fail:
    zesp_sa_del(z->sad, pol->spi, ZESP_DIR_IN);
    zesp_sa_del(z->sad, pol->spi, ZESP_DIR_OUT);
    return -1;
}

/* The SAD ends the key after the KEY_LIFETIME sent, and never later
 * than the join's max-key-lifetime: RFC 9838 makes the attribute
 * optional (SHOULD NOT with in-band rekey, where the key server ends keys
 * with a Delete), so a key server that sends none, or a huge one, and
 * then stops pushing would otherwise keep the member on one key for
 * ever.  With no max-key-lifetime set, a lifetime a zike key server can
 * give (up to ZIKE_GROUP_LIFETIME_MAX) is kept as sent, so that a group
 * keyed for days loses no traffic, and none or a longer one (UINT32_MAX
 * reads as for ever) gets ZIKE_JOIN_MAX_KEY_LIFETIME. */
static void gm_bound_lifetime(const struct gm_group *gg,
                              const struct zike_join *j, const char *server,
                              struct gsa_policy *pol)
{
    uint32_t most = j->max_key_lifetime;

    if (most == 0) {
        if (pol->lifetime != 0 && pol->lifetime <= ZIKE_GROUP_LIFETIME_MAX)
            return;
        most = ZIKE_JOIN_MAX_KEY_LIFETIME;
    } else if (pol->lifetime != 0 && pol->lifetime <= most) {
        return;
    }
    zike_log(LOG_NOTICE, "group %s: %s gives group SA 0x%08x %s: it ends "
             "here after %u s (max-key-lifetime)", gg->name, server, pol->spi,
             pol->lifetime ? "a longer lifetime" : "no lifetime",
             (unsigned)most);
    pol->lifetime = most;
}

/* GSA and KD of a registration response or a push. */
static int gm_accept(struct zike *z, struct ike_sa *sa, struct gm_group *gg,
                     const struct zike_join *j, const struct ike_message *m,
                     bool registration)
{
    const struct ike_payload *pg = ike_find(m, IKE_PL_GSA);
    const struct ike_payload *pk = ike_find(m, IKE_PL_KD);
    struct gsa_policy *pol = calloc(1, sizeof *pol);
    uint8_t gsk_w[GSA_GSK_W_BYTES], key[ZESP_KEYBYTES];
    struct gsa_kd kd;
    int rc = -1;

    if (pol == NULL)
        return -1;
    if (pg == NULL || pk == NULL || gsa_parse(pg, pol) != IKE_OK ||
        kd_parse(pk, &kd) != IKE_OK || kd.spi != pol->spi ||
        pol->spi < 256) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_MALFORMED],
                         LOG_WARNING, "group %s: malformed group policy or "
                         "key download from %s%s%s", gg->name, sa->peer_name,
                         pol->why ? ": " : "", pol->why ? pol->why : "");
        goto out;
    }
    if (registration && j->sender) {
        if (kd.sender_id == 0 || kd.sender_id > ZESP_SENDER_ID_MAX) {
            zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_SENDER_ID],
                             LOG_WARNING, "group %s: no usable Sender ID "
                             "given", gg->name);
            goto out;
        }
        gg->sid = kd.sender_id;
    }
    if (gsa_gsk_w(gsk_w, sa->keys->sk_d) != 0 ||
        gsa_unwrap(key, gsk_w, kd.spi, kd.wrapped) != 0) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_UNWRAP], LOG_WARNING,
                         "group %s: the group key does not unwrap", gg->name);
        goto out;
    }
    gm_bound_lifetime(gg, j, sa->peer_name, pol);
    rc = gm_install(z, gg, j, pol, key);
out:
    sodium_memzero(gsk_w, sizeof gsk_w);
    sodium_memzero(key, sizeof key);
    free(pol);
    return rc;
}

static int gm_send_registration(struct zike *z, struct ike_sa *sa,
                                const char *group, bool sender, bool leave)
{
    static const uint8_t one[4] = { 0, 0, 0, 1 };
    uint8_t chain[256];
    struct ike_writer w;
    size_t len;

    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, group, strlen(group));
    if (leave)
        ike_w_notify(&w, 0, IKE_N_REGISTRATION_FAILED, NULL, 0, NULL, 0);
    else if (sender)
        ike_w_notify(&w, 0, IKE_N_GROUP_SENDER, NULL, 0, one, sizeof one);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    snprintf(sa->req.group, sizeof sa->req.group, "%s", group);
    sa->req.gsa_sender = sender && !leave;
    zike_log(LOG_INFO, "group %s: %s with %s", group,
             leave ? "leaving" : "registering", sa->peer_name);
    return ike_request(z, sa, leave ? REQ_GSA_LEAVE : REQ_GSA_REGISTER,
                       IKE_GSA_REGISTRATION, chain, len);
}

static void gm_drop_all(struct zike *z, struct gm_group *gg,
                        const struct zike_join *j)
{
    for (size_t i = 0; i < GM_SAS_MAX; i++)
        if (gg->sas[i].spi)
            gm_remove_sa(z, gg, j, &gg->sas[i]);
    gg->registered = false;
}

static void gm_response(struct zike *z, struct ike_sa *sa,
                        const struct ike_message *m, bool leave)
{
    struct gm_group *gg = gm_find(z, sa->req.group);
    const struct zike_join *j = join_conf(z, sa->req.group);
    uint16_t err = ike_error_notify(m);

    if (leave) {
        /* Asked for (zikectl leave), or owed by a reload that already
         * removed the SAs. */
        if (gg != NULL && j != NULL && gg->want_leave)
            gm_drop_all(z, gg, j);
        zike_log(LOG_NOTICE, "group %s: left %s", sa->req.group,
                 sa->peer_name);
        return;
    }
    if (gg == NULL || j == NULL || strcmp(j->server, sa->peer_name) != 0) {
        /* Registered as a reload took the join away, or gave it to
         * another key server: leave again. */
        if (err == 0)
            notice_add(z, sa->req.group, sa->peer_name, 0, true);
        return;
    }
    if (sa->req.gsa_sender != j->sender || leave_owed(z, sa, gg->name)) {
        /* A reload changed the join while the registration was on its
         * way: the answer, a key or a refusal, is for the join as it was
         * (a Sender ID, or none for a sender now; a refusal of the old
         * role), or a leave to this server is owed, which would end what
         * it gave.  Nothing of it is installed or held against the join;
         * the member registers again as it now is (after that leave). */
        zike_log(LOG_NOTICE, "group %s: %s answered a registration that a "
                 "reload has changed since: registering again", gg->name,
                 sa->peer_name);
        gg->retry_at = z->now;
        return;
    }
    if (err != 0) {
        zike_log(LOG_WARNING, "group %s: %s refused the registration (%s)",
                 gg->name, sa->peer_name, notify_name(err));
        /* No longer a member: the SAs its server gave go, so that
         * nothing is sent on a key we are no longer given. */
        if (err == IKE_N_AUTHORIZATION_FAILED ||
            err == IKE_N_INVALID_GROUP_ID) {
            gm_drop_all(z, gg, j);
            gg->server[0] = '\0';
        }
        gg->retry_at = z->now + (err == IKE_N_AUTHORIZATION_FAILED ||
                                         err == IKE_N_INVALID_GROUP_ID
                                     ? GROUP_DENIED_RETRY_MS
                                     : GROUP_RETRY_MS);
        return;
    }
    if (gm_accept(z, sa, gg, j, m, true) != 0) {
        gg->retry_at = z->now + GROUP_RETRY_MS;
        return;
    }
    gg->registered = true;
    snprintf(gg->server, sizeof gg->server, "%s", sa->peer_name);
    zike_log(LOG_NOTICE, "group %s: registered with %s%s", gg->name,
             sa->peer_name, j->sender ? " as a sender" : "");
}

static void gm_push(struct zike *z, struct ike_sa *sa,
                    const struct route *from, const struct ike_message *m)
{
    char name[ZESP_NAME_MAX];
    struct gm_group *gg;
    const struct zike_join *j;

    if (!group_named(m, name) || (gg = gm_find(z, name)) == NULL ||
        (j = join_conf(z, name)) == NULL ||
        strcmp(j->server, sa->peer_name) != 0) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_NOT_SERVED],
                         LOG_WARNING, "peer %s: group update for a group it "
                         "does not serve us", sa->peer_name);
        respond_notify(z, sa, from, m, IKE_N_INVALID_GROUP_ID);
        return;
    }
    if (leave_owed(z, sa, name)) {
        /* Its SAs went at a reload: a key it held then would come back
         * with new replay windows.  It leaves, and registers for a key
         * made after that. */
        respond_notify(z, sa, from, m, IKE_N_INVALID_GROUP_ID);
        return;
    }
    if (ike_find(m, IKE_PL_GSA) == NULL && ike_find(m, IKE_PL_KD) == NULL) {
        /* Our registration no longer holds (a reload moved our Sender
         * ID): register again; the SAs we have stay until the new one
         * replaces them. */
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_TOLD_AGAIN],
                         LOG_NOTICE, "group %s: %s asks us to register again",
                         gg->name, sa->peer_name);
        gg->registered = false;
        gg->retry_at = z->now;
        respond_notify(z, sa, from, m, 0);
        return;
    }
    if (!gg->registered) {
        /* Its requests and our registration's answer travel apart, in
         * no order: a push before the answer would be installed under a
         * Sender ID we may no longer hold (a push names none), and the
         * older key the answer brings would then replace it.  After a
         * leave it is a key we no longer take.  The server pushes again. */
        zike_log_limited(z, &z->peer_log[PEER_LOG_GROUP_EARLY], LOG_INFO,
                         "group %s: push from %s while not registered: "
                         "refused until we are", gg->name, sa->peer_name);
        respond_notify(z, sa, from, m, IKE_N_TEMPORARY_FAILURE);
        return;
    }
    if (gm_accept(z, sa, gg, j, m, false) != 0) {
        respond_notify(z, sa, from, m, IKE_N_INVALID_SYNTAX);
        return;
    }
    /* What it installed leaves with it if it is revoked. */
    snprintf(gg->server, sizeof gg->server, "%s", sa->peer_name);
    respond_notify(z, sa, from, m, 0);
}

/* ---- both ---------------------------------------------------------------------- */

void group_handle_request(struct zike *z, struct ike_sa *sa,
                          const struct route *from, const struct ike_message *m)
{
    if (m->hdr.exchange == IKE_GSA_REGISTRATION)
        gcks_registration(z, sa, from, m);
    else
        gm_push(z, sa, from, m);
}

void group_handle_response(struct zike *z, struct ike_sa *sa,
                           const struct ike_message *m)
{
    enum req_kind kind = sa->req.kind;

    sa->req.kind = REQ_NONE;
    if (kind == REQ_GSA_PUSH)
        gcks_push_done(z, sa, m);
    else
        gm_response(z, sa, m, kind == REQ_GSA_LEAVE);
}

/* What a reload owes this peer, before anything else is sent to it: a
 * leave before a registration again. */
static bool notice_send(struct zike *z, struct ike_sa *sa)
{
    for (size_t i = 0; i < z->nnotices;) {
        struct group_notice n = z->notices[i];

        if (strcmp(n.peer, sa->peer_name) != 0) {
            i++;
            continue;
        }
        z->notices[i] = z->notices[--z->nnotices];
        if (n.leave ? gm_send_registration(z, sa, n.group, false, true) == 0
                    : gcks_tell_rejoin(z, sa, n.group, n.spi))
            return true;
    }
    return false;
}

/* A registration for group on any IKE SA (one a rekey replaced holds
 * its own until answered or given up): a second on another would bring
 * a second answer, in no order with the first, and the older key, come
 * last, would be installed as the newest. */
static bool registration_in_flight(const struct zike *z, const char *group)
{
    for (const struct ike_sa *s = z->sas; s; s = s->next)
        if (s->state != IKE_ST_DEAD && s->req.kind == REQ_GSA_REGISTER &&
            strcmp(s->req.group, group) == 0)
            return true;
    return false;
}

bool group_tick_sa(struct zike *z, struct ike_sa *sa)
{
    if (notice_send(z, sa) || gcks_push(z, sa))
        return true;
    for (size_t i = 0; i < z->njoined; i++) {
        struct gm_group *gg = &z->joined[i];
        const struct zike_join *j = join_conf(z, gg->name);

        if (j == NULL || strcmp(j->server, sa->peer_name) != 0)
            continue;
        if (gg->want_leave) {
            if (gg->registered) {
                gg->registered = false;
                return gm_send_registration(z, sa, gg->name, j->sender,
                                            true) == 0;
            }
            continue;
        }
        if (!gg->registered && z->now >= gg->retry_at &&
            !registration_in_flight(z, gg->name)) {
            gg->retry_at = z->now + GROUP_RETRY_MS;
            if (gm_send_registration(z, sa, gg->name, j->sender, false) == 0)
                return true;
        }
    }
    return false;
}

/* The key in use reached its end with no new one pushed: the SAD refuses
 * it now; the member asks for the current key once (a key server that
 * answers with the same key changes nothing: it stays refused). */
static void gm_key_ended(struct zike *z, struct gm_group *gg,
                         struct gm_sa *s)
{
    s->expire_at = 0;
    if (gg->want_leave || !gg->registered)
        return;
    zike_log(LOG_WARNING, "group %s: group SA 0x%08x reached its lifetime "
             "with no new key from %s: registering again", gg->name, s->spi,
             gg->server);
    gg->registered = false;
    gg->retry_at = z->now;
}

void group_tick(struct zike *z)
{
    for (size_t i = 0; i < z->ngroups; i++) {
        struct gcks_group *g = &z->groups[i];
        const struct zike_group *gc = zike_conf_group(&z->conf, g->name);
        if (gc != NULL)
            gcks_key_fresh(z, g, gc);
    }
    for (size_t i = 0; i < z->njoined; i++) {
        struct gm_group *gg = &z->joined[i];
        const struct zike_join *j = join_conf(z, gg->name);

        for (size_t k = 0; j && k < GM_SAS_MAX; k++) {
            struct gm_sa *s = &gg->sas[k];
            if (s->spi == 0)
                continue;
            if (s->activate_at && z->now >= s->activate_at)
                gm_activate(z, gg, j, s);
            if (s->retire_at && z->now >= s->retire_at)
                gm_retire(z, gg, j, s);
            else if (s->retire_at == 0 && s->expire_at &&
                     z->now >= s->expire_at)
                gm_key_ended(z, gg, s);
        }
    }
}

/* An IKE SA died.  Key server: the peer's memberships end with it unless
 * another IKE SA with the peer lives on (it was replaced; one on its way
 * out, as at a revocation that deletes them all, does not count), and the
 * groups it was in get a new key: the peer's doing (its DELETE, or it
 * went silent), so held down, unless this side ended it.  Member:
 * registrations with that server must be made again; the SAs stay until
 * then. */
void group_ike_sa_gone(struct zike *z, struct ike_sa *sa, bool by_us)
{
    if (sa->peer_name[0] == '\0')
        return;
    for (struct ike_sa *o = z->sas; o; o = o->next)
        if (o != sa && o->state == IKE_ST_ESTABLISHED && !ike_sa_deleting(o) &&
            strcmp(o->peer_name, sa->peer_name) == 0)
            return;
    for (size_t i = 0; i < z->ngroups; i++) {
        struct gcks_group *g = &z->groups[i];
        const struct zike_group *gc = zike_conf_group(&z->conf, g->name);
        if (gc == NULL || !member_remove(g, sa->peer_name))
            continue;
        if (by_us)
            gcks_new_key(z, g, gc, "a member is gone");
        else
            gcks_member_rekey(z, g, gc, sa->peer_name, "a member is gone");
    }
    notices_drop(z, sa->peer_name);   /* its memberships ended with it */
    for (size_t i = 0; i < z->njoined; i++) {
        const struct zike_join *j = join_conf(z, z->joined[i].name);
        if (j != NULL && strcmp(j->server, sa->peer_name) == 0)
            z->joined[i].registered = false;
    }
}

/* The peer's credential or identity changed, or it left the
 * configuration: the group SAs it handed out were vouched for by what is
 * no longer trusted, so they leave the SAD now, as a revoked peer's child
 * SAs do, and the group is joined again through a new IKE SA. */
void group_server_revoked(struct zike *z, const char *peer)
{
    for (size_t i = 0; i < z->njoined; i++) {
        struct gm_group *gg = &z->joined[i];

        if (strcmp(gg->server, peer) != 0)
            continue;
        zike_log(LOG_WARNING, "group %s: key server %s revoked: its group "
                 "SAs removed", gg->name, peer);
        gm_drop_all(z, gg, join_conf(z, gg->name));
        gg->server[0] = '\0';
    }
}

int group_leave(struct zike *z, const char *group)
{
    struct gm_group *gg = gm_find(z, group);

    if (gg == NULL)
        return -1;
    gg->want_leave = true;
    return 0;
}

int group_rekey(struct zike *z, const char *group)
{
    struct gcks_group *g = gcks_find(z, group);
    const struct zike_group *gc = zike_conf_group(&z->conf, group);

    if (g == NULL || gc == NULL)
        return -1;
    gcks_new_key(z, g, gc, "asked for");
    return 0;
}

/* A reload may have made a refusing member's configuration and the
 * group's agree: the next push goes now, and a refusal is said again. */
static void push_backoff_reset(struct gcks_group *g)
{
    for (size_t i = 0; i < g->nmembers; i++) {
        struct gcks_member *mb = &g->members[i];

        if (mb->rejoin || (mb->push_backoff == 0 && mb->push_refused == 0))
            continue;                  /* none refused (or told, waiting) */
        push_start_over(mb);
    }
}

/* Members the configuration no longer allows are removed; a group that
 * lost one gets a new key. */
static void gcks_recheck(struct zike *z, struct gcks_group *g,
                         const struct zike_group *gc)
{
    bool removed = false, changed = false;

    for (size_t i = 0; i < g->nmembers;) {
        struct gcks_member *mb = &g->members[i];
        const struct zike_peer *p = zike_conf_peer(&z->conf, mb->peer);
        bool s, r;
        uint32_t sid;

        if (p == NULL || !authorised(gc, p, &s, &r, &sid)) {
            zike_log(LOG_NOTICE, "group %s: member %s removed by the "
                     "configuration", g->name, mb->peer);
            *mb = g->members[--g->nmembers];
            removed = true;
            continue;
        }
        /* Still a member, but its Sender ID moved (a sender listed
         * before it was taken out) or it may no longer send: dropped
         * silently, it would send on the old key, readable by whoever was
         * removed, and never register again.  It gets no new key under
         * the old Sender ID, and is told to register again. */
        if (mb->sender && (!s || sid != mb->sid)) {
            zike_log(LOG_NOTICE, "group %s: member %s must register again: "
                     "%s", g->name, mb->peer, s ? "its Sender ID changed"
                                                : "it may no longer send");
            mb->sender = false;
            mb->sid = 0;
            mb->rejoin = true;
            mb->push_after = 0;
            changed = true;
        }
        i++;
    }
    if (removed) {
        gcks_new_key(z, g, gc, "a member was removed");
    } else if (changed) {
        gcks_new_key(z, g, gc, "a sender's Sender ID or role changed");
    } else {
        uint8_t sum[16];
        policy_sum(sum, gc);
        if (sodium_memcmp(sum, g->policy_sum, sizeof sum) != 0)
            gcks_new_key(z, g, gc, "its configuration changed");
    }
}

/* A policy that the group SAs of a join served and that the
 * configuration no longer names leaves the SAD: an application sending
 * on it is told there is no such policy, rather than waiting for an SA
 * nobody will give, and no SPI a later SA may reuse stays listed in it.
 * Only the policy zike made for that group: another's name is left. */
static void join_policy_forget(struct zike *z, const char *policy,
                               const char *group)
{
    zesp_policy pol;

    for (size_t i = 0; i < z->conf.npeers; i++)
        if (zike_conf_serves(&z->conf.peers[i], policy))
            return;
    for (size_t i = 0; i < z->conf.njoins; i++)
        if (strcmp(z->conf.joins[i].policy, policy) == 0)
            return;
    if (zesp_policy_get(z->sad, policy, &pol) != 0 ||
        strcmp(pol.peer, group) != 0)
        return;
    if (zesp_policy_del(z->sad, policy) != 0)
        zike_log(LOG_ERR, "policy %s: cannot remove: %s", policy,
                 zesp_strerror(errno));
    else
        zike_log(LOG_NOTICE, "policy %s removed: no peer or join names it",
                 policy);
}

/* The join as a member's SAs were installed for. */
static void join_was(const struct gm_group *gg, const char *server,
                     struct zike_join *was)
{
    memset(was, 0, sizeof *was);
    snprintf(was->group, sizeof was->group, "%s", gg->name);
    snprintf(was->server, sizeof was->server, "%s", server);
    snprintf(was->policy, sizeof was->policy, "%s", gg->policy);
    was->sender = gg->sender;
    was->receiver = gg->receiver;
    was->policy_flags = gg->policy_flags;
}

/* Its SAs go with what they were installed for; the key server that
 * gave them is told we leave (it hands us no key again and rekeys the
 * others), and the policy goes if nothing names it now. */
static void gm_forget(struct zike *z, struct gm_group *gg)
{
    struct zike_join was;

    join_was(gg, gg->server, &was);
    gm_drop_all(z, gg, &was);
    notice_add(z, gg->name, gg->server, 0, true);
    gg->server[0] = '\0';
    join_policy_forget(z, was.policy, was.group);
}

static bool join_sign_changed(const struct gm_group *gg,
                              const struct zike_join *j)
{
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
    bool changed;

    if ((j->sign_sk != NULL) != gg->signs)
        return true;
    if (j->sign_sk == NULL)
        return false;
    crypto_sign_ed25519_sk_to_pk(pk, j->sign_sk);
    changed = sodium_memcmp(pk, gg->sign_pk, sizeof pk) != 0;
    sodium_memzero(pk, sizeof pk);
    return changed;
}

/* The member's part of a reload: a join removed is left, one whose
 * server, role, policy, replay-scope or sign-key changed drops its SAs,
 * leaves and registers again. */
static void gm_sync(struct zike *z, struct gm_group *joined)
{
    for (size_t i = 0; i < z->njoined; i++)
        if (join_conf(z, z->joined[i].name) == NULL) {
            zike_log(LOG_NOTICE, "group %s: no longer joined: its group SAs "
                     "removed%s%s", z->joined[i].name,
                     z->joined[i].server[0] ? ", leaving " : "",
                     z->joined[i].server);
            gm_forget(z, &z->joined[i]);
        }
    for (size_t i = 0; i < z->conf.njoins; i++) {
        const struct zike_join *j = &z->conf.joins[i];
        struct gm_group *old = gm_find(z, j->group);

        if (old != NULL) {
            joined[i] = *old;
            /* Served by another key server now: what the old one handed
             * out goes, and the group is joined with the new one. */
            if (old->server[0] != '\0' &&
                strcmp(old->server, j->server) != 0) {
                zike_log(LOG_NOTICE, "group %s: key server now %s: the "
                         "group SAs of %s removed", old->name, j->server,
                         old->server);
                gm_forget(z, &joined[i]);
            } else if (old->sender != j->sender ||
                       old->receiver != j->receiver ||
                       strcmp(old->policy, j->policy) != 0 ||
                       old->policy_flags != j->policy_flags ||
                       old->source_auth_accepts != j->source_auth_accepts ||
                       join_sign_changed(old, j)) {
                /* Its SAs are the old join's: a receiver turned sender
                 * has no Sender ID for a push to install, a sender turned
                 * receiver still sends, inbound SAs keep the old
                 * replay-scope, outbound ones sign with the old key.
                 * They go; the key they held must not come back with new
                 * replay windows, so the member leaves (the others get a
                 * new key) and registers again as the configuration now
                 * says. */
                zike_log(LOG_NOTICE, "group %s: role, policy, replay-scope, "
                         "sign-key or source-auth changed: its group SAs "
                         "removed, leaving and registering again",
                         old->name);
                gm_forget(z, &joined[i]);
                joined[i].registered = false;
                joined[i].sid = 0;
                joined[i].retry_at = 0;
                joined[i].source_auth_refused = 0;
            }
        } else
            snprintf(joined[i].name, sizeof joined[i].name, "%s", j->group);
        joined[i].sender = j->sender;
        joined[i].receiver = j->receiver;
        snprintf(joined[i].policy, sizeof joined[i].policy, "%s", j->policy);
        joined[i].policy_flags = j->policy_flags;
        joined[i].signs = j->sign_sk != NULL;
        joined[i].source_auth_accepts = j->source_auth_accepts;
        memset(joined[i].sign_pk, 0, sizeof joined[i].sign_pk);
        if (j->sign_sk != NULL)
            crypto_sign_ed25519_sk_to_pk(joined[i].sign_pk, j->sign_sk);
    }
}

/* A group no longer served: each member is told to register again, is
 * refused (INVALID_GROUP_ID) and drops the group's SAs, rather than
 * sending on its key for the rest of its lifetime. */
static void gcks_forget(struct zike *z, const struct gcks_group *g)
{
    /* Its lifetime is the old configuration's: held for the longest. */
    spi_hold(z, g->spi, g->created + ZIKE_GROUP_LIFETIME_MAX * 1000ULL);
    for (size_t k = 0; k < GCKS_PAST_SPIS; k++)
        spi_hold(z, g->past[k].spi, g->past[k].held_until);
    zike_log(LOG_NOTICE, "group %s: no longer served: its %zu members told",
             g->name, g->nmembers);
    for (size_t i = 0; i < g->nmembers; i++)
        notice_add(z, g->name, g->members[i].peer, g->members[i].have_spi,
                   false);
}

static void group_arrays_free(struct zike *z)
{
    for (size_t i = 0; i < z->ngroups; i++)
        sodium_free(z->groups[i].key);
    free(z->groups);
    free(z->joined);
    z->groups = NULL;
    z->joined = NULL;
    z->ngroups = z->njoined = 0;
}

int group_sync_conf(struct zike *z)
{
    struct gcks_group *groups = NULL;
    struct gm_group *joined = NULL;

    if (z->conf.ngroups &&
        (groups = calloc(z->conf.ngroups, sizeof *groups)) == NULL)
        return -1;
    if (z->conf.njoins &&
        (joined = calloc(z->conf.njoins, sizeof *joined)) == NULL) {
        free(groups);
        return -1;
    }
    z->gcks_syncing = true;
    for (size_t i = 0; i < z->conf.ngroups; i++) {
        const struct zike_group *gc = &z->conf.groups[i];
        struct gcks_group *old = gcks_find(z, gc->name);

        if (old != NULL) {
            groups[i] = *old;
            old->key = NULL;
            old->name[0] = '\0';
            gcks_recheck(z, &groups[i], gc);
            push_backoff_reset(&groups[i]);
            continue;
        }
        snprintf(groups[i].name, sizeof groups[i].name, "%s", gc->name);
        if ((groups[i].key = sodium_malloc(ZESP_KEYBYTES)) == NULL)
            continue;
        gcks_new_key(z, &groups[i], gc, NULL);
    }
    for (size_t i = 0; i < z->ngroups; i++)
        if (z->groups[i].name[0] != '\0')
            gcks_forget(z, &z->groups[i]);
    gm_sync(z, joined);
    group_arrays_free(z);
    z->groups = groups;
    z->ngroups = z->conf.ngroups;
    z->joined = joined;
    z->njoined = z->conf.njoins;
    z->gcks_syncing = false;
    if (z->ngroups || z->ngcks_held)
        group_state_save(z);
    return 0;
}

void group_free(struct zike *z)
{
    group_arrays_free(z);
    free(z->notices);
    z->notices = NULL;
    z->nnotices = 0;
}
