/*
 * Child SAs in the SAD.  A new child's two SAs go in with the initiator's
 * outbound key first (RFC 7296 2.17), soft lifetimes a random 10 to 20 %
 * below the hard ones; the responder's inbound SA before it answers.  The
 * outbound SA carries the policy make-before-break: at once when nothing
 * older serves it, else once the peer is seen on the new SA (1.3.3, 2.8),
 * and the SAs it replaces leave after the overlap.  An outbound SPI that
 * another peer's SA has, or that a policy sends on, is refused, SAs that
 * a killed zike left are adopted and retired, and the SAD's counters say
 * when to rekey.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "capture.h"
#include "daemon.h"
#include "spd.h"

/* A fresh inbound SPI, unused in the SAD (and never 0..255, RFC 4303). */
uint32_t zike_new_spi(struct zike *z)
{
    for (;;) {
        uint32_t spi = randombytes_random();
        zesp_sa_info info;

        if (spi < 256)
            continue;
        if (zesp_sa_info_get(z->sad, spi, ZESP_DIR_IN, &info) != 0)
            return spi;
    }
}

/* Soft limits a random 10 to 20 % below the hard ones, so that two peers
 * do not rekey in lockstep and a rekey has time to finish. */
static uint64_t jitter(uint64_t hard)
{
    uint64_t tenth = hard / 10, cut;

    if (hard == 0)
        return 0;
    cut = tenth + (tenth ? randombytes_uniform(
                               (uint32_t)(tenth > UINT32_MAX ? UINT32_MAX
                                                             : tenth))
                         : 0);
    return hard - cut > 0 ? hard - cut : 1;
}

/* After an install failed with ZESP_EFULL: what to change, since the
 * error alone does not say that the SAD's size is the operator's. */
void zike_sad_full(struct zike *z)
{
    zesp_sad_stats ss;

    if (zesp_sad_stats_get(z->sad, &ss) != 0)
        return;
    zike_log_limited(z, &z->peer_log[PEER_LOG_SAD_FULL], LOG_WARNING,
                     "SAD %s is full: %u of its %u SA slots in use (each "
                     "inbound child SA with lanes takes up to 63 more, twice "
                     "during a rekey): set sad.capacity higher and make the "
                     "SAD again (doc/sad.md, \"How many slots\")",
                     z->conf.sad_path, ss.sas, ss.capacity);
}

static int install_sa(struct zike *z, const struct zike_peer *peer,
                      uint32_t spi, uint32_t dir, uint32_t transform,
                      uint32_t sa_flags, const uint8_t key[ZESP_KEYBYTES])
{
    zesp_sa_params p;
    int rc;

    memset(&p, 0, sizeof p);
    p.spi = spi;
    p.direction = dir;
    p.transform = transform;
    p.flags = sa_flags;
    p.hard = peer->child_life;
    p.soft.seconds = jitter(p.hard.seconds);
    p.soft.messages = jitter(p.hard.messages);
    p.soft.bytes = jitter(p.hard.bytes);
    memcpy(p.key, key, ZESP_KEYBYTES);
    snprintf(p.peer, sizeof p.peer, "%s", peer->name);
    capture_child_key(spi, dir == ZESP_DIR_IN, key);
    rc = zesp_sa_add(z->sad, &p);
    sodium_memzero(&p, sizeof p);
    if (rc != 0) {
        int e = errno;
        zike_log(LOG_ERR, "peer %s: cannot install SA 0x%08x %s: %s",
                 peer->name, spi, dir == ZESP_DIR_IN ? "in" : "out",
                 zesp_strerror(e));
        if (e == ZESP_EFULL)
            zike_sad_full(z);
        errno = e;
    }
    return rc;
}

/* A policy never lists SAs that encrypt beside SAs that authenticate
 * only (zesp_policy_set refuses it: a policy whose SAs encrypt never
 * gets less).  An SA of the other kind than those before it (a reload
 * changed the peer's `esp` or the group's `transform`) takes the policy
 * over: the SAs of before no longer serve it, in or out, and what is
 * still in flight under them is refused.  Else the new SA would never be
 * listed, and every message under it refused until the next rekey. */
static void policy_switch_kind(struct zike *z, zesp_policy *pol,
                               uint32_t add)
{
    enum sa_protection kind = spd_sa_protection(z->sad, add, ZESP_DIR_IN);
    bool dropped = false;

    if (kind == SA_ABSENT)
        return;
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++) {
        enum sa_protection k = spd_sa_protection(z->sad, pol->in_spi[i],
                                                 ZESP_DIR_IN);
        if (k != SA_ABSENT && k != kind) {
            pol->in_spi[i] = 0;
            dropped = true;
        }
    }
    if (pol->out_spi != 0) {
        enum sa_protection k = spd_sa_protection(z->sad, pol->out_spi,
                                                 ZESP_DIR_OUT);
        if (k != SA_ABSENT && k != kind) {
            pol->out_spi = 0;
            dropped = true;
        }
    }
    if (dropped)
        zike_log(LOG_NOTICE, "policy %s: SA 0x%08x %s: the SAs that %s no "
                 "longer serve it", pol->name, add,
                 kind == SA_ENCRYPTS ? "encrypts" : "authenticates only",
                 kind == SA_ENCRYPTS ? "authenticate only" : "encrypt");
}

/* A policy's inbound SPIs in the order they were added, oldest first,
 * with no gap: an SPI taken out closes up behind it. */
static void in_spis_close_up(zesp_policy *pol)
{
    size_t n = 0;

    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (pol->in_spi[i] != 0)
            pol->in_spi[n++] = pol->in_spi[i];
    while (n < ZESP_POLICY_IN_MAX)
        pol->in_spi[n++] = 0;
}

/* The slot to give up when all are taken: an SPI whose SA has left the
 * SAD, else the oldest (the first: in_spis_close_up keeps them in order).
 * Never the newest: that is the SA the peer's sender moves to, and each
 * of its messages would be refused as not serving the policy. */
static size_t in_spi_to_drop(struct zike *z, const zesp_policy *pol)
{
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (spd_sa_protection(z->sad, pol->in_spi[i], ZESP_DIR_IN) ==
            SA_ABSENT)
            return i;
    zike_log(LOG_INFO, "policy %s: lists %u inbound SAs, its most: SA "
             "0x%08x, the oldest, no longer serves it", pol->name,
             ZESP_POLICY_IN_MAX, pol->in_spi[0]);
    return 0;
}

/* Add or remove an inbound SPI of a policy, creating the policy. */
void zike_policy_in(struct zike *z, const char *name, const char *peer,
                    uint32_t add, uint32_t remove)
{
    zesp_policy pol;

    if (zesp_policy_get(z->sad, name, &pol) != 0) {
        memset(&pol, 0, sizeof pol);
        snprintf(pol.name, sizeof pol.name, "%s", name);
    }
    snprintf(pol.peer, sizeof pol.peer, "%s", peer);
    pol.flags = zike_conf_policy_flags(&z->conf, name);
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (remove && pol.in_spi[i] == remove)
            pol.in_spi[i] = 0;
    for (size_t i = 0; add && i < ZESP_POLICY_IN_MAX; i++)
        if (pol.in_spi[i] == add)
            add = 0;           /* there already: zesp_policy_set refuses two */
    if (add)
        policy_switch_kind(z, &pol, add);
    in_spis_close_up(&pol);
    if (add) {
        size_t last = ZESP_POLICY_IN_MAX - 1;

        if (pol.in_spi[last] != 0) {
            pol.in_spi[in_spi_to_drop(z, &pol)] = 0;
            in_spis_close_up(&pol);
        }
        pol.in_spi[last] = add;
        in_spis_close_up(&pol);
    }
    if (zesp_policy_set(z->sad, &pol) != 0)
        zike_log(LOG_ERR, "policy %s: cannot update: %s", name,
                 zesp_strerror(errno));
}

void child_activate(struct zike *z, struct ike_sa *sa,
                    struct child_sa *c)
{
    if (c->out_active)
        return;
    if (zesp_policy_set_out(z->sad, c->policy, c->spi_out) != 0) {
        zike_log(LOG_ERR, "policy %s: cannot switch to SA 0x%08x: %s",
                 c->policy, c->spi_out, zesp_strerror(errno));
        return;
    }
    c->out_active = true;
    c->activate_at = 0;
    c->peer_holds = false;
    zike_log(LOG_INFO, "peer %s: policy %s now sends on SA 0x%08x",
             sa->peer_name, c->policy, c->spi_out);
    /* A child that carried the policy until this one did goes after the
     * overlap from now, so that what it sent last is still opened. */
    for (struct child_sa *o = sa->children; o; o = o->next)
        if (o != c && o->yields_to == c->spi_in) {
            o->yields_to = 0;
            if (o->retire_at == 0 ||
                o->retire_at > z->now + z->conf.rekey_overlap_ms)
                o->retire_at = z->now + z->conf.rekey_overlap_ms;
        }
}

/* The policy's outbound SA left with the child that carried it: a child
 * of the peer's, answered and not yet known to be held by it, takes the
 * policy now (the newest).  Sending on it may find no SA at the peer yet;
 * sending on nothing certainly fails. */
static void pending_takes_over(struct zike *z, const struct ike_sa *from,
                               const char *policy)
{
    struct child_sa *best = NULL;
    struct ike_sa *holder = NULL;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (sa->state != IKE_ST_DEAD &&
            strcmp(sa->peer_name, from->peer_name) == 0)
            for (struct child_sa *c = sa->children; c; c = c->next)
                if (c->activate_at && !c->rekeyed && !c->unplugged &&
                    !c->out_active && strcmp(c->policy, policy) == 0 &&
                    (best == NULL || c->installed_at >= best->installed_at)) {
                    best = c;
                    holder = sa;
                }
    if (best != NULL)
        child_activate(z, holder, best);
}

/* An authenticated request of the peer's, message ID mid, not a
 * retransmission: every child we answered in an earlier request of this
 * IKE SA is held by the peer now.  Our window and the peer's are one
 * request (RFC 7296 2.3: zike never sends SET_WINDOW_SIZE), so the peer
 * sent this one only once it had our answer to the one before, and it
 * installs a child as it takes the answer (child_complete), or deletes
 * it (child_answer_untaken: then this request is that DELETE, which
 * removes the child before the tick would switch to it).  The tick makes
 * the switch (tick_sa), after this request is carried out. */
void child_peer_progressed(struct ike_sa *sa, uint32_t mid)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->activate_at && c->answered_mid < mid)
            c->peer_holds = true;
}

/* Lingering inbound SAs are not counted by child_room (each was counted
 * while it lived), but a peer that rekeys and deletes in a loop must not
 * fill the SAD with them: past child_limit of them, the one due first
 * goes now. */
static void linger_room(struct zike *z, const struct ike_sa *of)
{
    const struct zike_peer *peer = ike_sa_peer(z, of);
    struct child_sa *first = NULL;
    struct ike_sa *holder = NULL;
    unsigned n = 0;

    if (peer == NULL)
        return;
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (strcmp(sa->peer_name, of->peer_name) == 0)
            for (struct child_sa *c = sa->children; c; c = c->next)
                if (c->lingering) {
                    n++;
                    if (first == NULL || c->retire_at < first->retire_at) {
                        first = c;
                        holder = sa;
                    }
                }
    if (n >= child_limit(peer) && first != NULL)
        child_remove(z, holder, first);
}

/* A DELETE of a child done (ours answered, or the peer's): our outbound
 * SA goes now.  Our inbound one stays for the overlap if the child was
 * replaced: the peer may have sent on it until the DELETE (a responder
 * of a rekey of ours that had not switched yet, an initiator that
 * switched just before), and those messages travel apart from IKE,
 * through brokers, so they may come after it.  As strongSwan's
 * delete_rekeyed_delay.  The tick removes it then, with no DELETE. */
void child_linger(struct zike *z, struct ike_sa *sa, struct child_sa *c)
{
    zesp_policy pol;

    if (c->lingering)         /* both sent a DELETE of it: one is enough */
        return;
    if (!c->rekeyed || c->unplugged || c->spi_in == 0 ||
        z->conf.rekey_overlap_ms == 0) {
        child_remove(z, sa, c);
        return;
    }
    linger_room(z, sa);
    c->lingering = true;
    c->out_active = false;
    c->activate_at = 0;
    c->retire_at = z->now + z->conf.rekey_overlap_ms;
    zesp_sa_del(z->sad, c->spi_out, ZESP_DIR_OUT);
    if (zesp_policy_get(z->sad, c->policy, &pol) == 0 &&
        pol.out_spi == c->spi_out) {
        zesp_policy_set_out(z->sad, c->policy, 0);
        pending_takes_over(z, sa, c->policy);
    }
}

/* Take a child out of the SAD (both directions), once: its SPIs are
 * free for new SAs from then on. */
void child_unplug(struct zike *z, struct ike_sa *sa, struct child_sa *c)
{
    if (c->unplugged)
        return;
    c->unplugged = true;
    c->out_active = false;
    if (c->spi_in != 0) {     /* 0: an outbound orphan alone */
        zesp_sa_del(z->sad, c->spi_in, ZESP_DIR_IN);
        zike_policy_in(z, c->policy, sa->peer_name, 0, c->spi_in);
    }
    zesp_sa_del(z->sad, c->spi_out, ZESP_DIR_OUT);
    {
        zesp_policy pol;
        if (zesp_policy_get(z->sad, c->policy, &pol) == 0 &&
            pol.out_spi == c->spi_out) {
            zesp_policy_set_out(z->sad, c->policy, 0);
            pending_takes_over(z, sa, c->policy);
        }
    }
}

/* Take a child out of the SAD and of the IKE SA. */
void child_remove(struct zike *z, struct ike_sa *sa,
                  struct child_sa *c)
{
    struct child_sa **pp;

    child_unplug(z, sa, c);
    zike_log(LOG_INFO, "peer %s: child SA 0x%08x/0x%08x (%s) removed",
             sa->peer_name, c->spi_in, c->spi_out, c->policy);
    for (pp = &sa->children; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    /* Its SPI may come again: no child replaces that one. */
    for (struct child_sa *o = sa->children; o; o = o->next)
        if (o->replaced_spi_in == c->spi_in)
            o->replaced_spi_in = 0;
    free(c);
}

struct child_sa *child_by_in(struct ike_sa *sa, uint32_t spi)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->spi_in == spi)
            return c;
    return NULL;
}

struct child_sa *child_by_out(struct ike_sa *sa, uint32_t spi)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->spi_out == spi)
            return c;
    return NULL;
}

/* The policy that sends on an outbound SPI, into name. */
struct sender_of {
    uint32_t spi;
    char name[ZESP_NAME_MAX];
};

static int sends_on(const zesp_policy *pol, void *arg)
{
    struct sender_of *s = arg;

    if (pol->out_spi != s->spi)
        return 0;
    snprintf(s->name, sizeof s->name, "%s", pol->name);
    return 1;
}

/* The SAD indexes outbound SAs by the SPI the peer chose, and two peers
 * may choose the same one (at 100,000 SAs more likely than not; a hostile
 * peer at will).  Such a child SA is not installed and nothing of the
 * other SA is touched: the responder refuses it (TEMPORARY_FAILURE), the
 * initiator deletes the responder's half, and the initiator asks again
 * with a fresh SPI, so that the peer chooses again too.  An SPI that a
 * policy sends on is taken even when its SA has left the SAD (zesp sa
 * del, zesp expire): an SA installed there would carry that policy's
 * messages, another peer's or a manual one's, under this peer's key. */
bool child_spi_out_taken(struct zike *z, const struct ike_sa *sa,
                         uint32_t spi)
{
    struct sender_of policy = { .spi = spi };
    zesp_sa_info info;
    bool held = zesp_sa_info_get(z->sad, spi, ZESP_DIR_OUT, &info) == 0;

    if (!held && zesp_policy_foreach(z->sad, sends_on, &policy) == 0)
        return false;
    z->stats.spi_collisions++;
    if (held)
        zike_log_limited(z, &z->peer_log[PEER_LOG_SPI_TAKEN], LOG_NOTICE,
                         "peer %s chose SPI 0x%08x for our outbound SA, "
                         "which peer %s's outbound SA has: this child SA is "
                         "not installed, and is asked for again",
                         sa->peer_name, spi,
                         info.peer[0] ? info.peer : "(manual)");
    else
        zike_log_limited(z, &z->peer_log[PEER_LOG_SPI_TAKEN], LOG_NOTICE,
                         "peer %s chose SPI 0x%08x for our outbound SA, "
                         "which policy %s sends on (its SA gone): this child "
                         "SA is not installed, and is asked for again",
                         sa->peer_name, spi,
                         policy.name[0] ? policy.name : "(unreadable)");
    return true;
}

/* The SAD is shared by every peer: one peer, authenticated but hostile or
 * broken, that asks for child SAs in a loop (new ones, or rekeys whose old
 * SAs it never deletes, or IKE SAs made again and again) must not fill it
 * for the others.  Its children are counted across all its IKE SAs,
 * those being replaced included, until they leave the SAD. */
unsigned child_limit(const struct zike_peer *peer)
{
    if (peer->max_child_sas != 0)
        return peer->max_child_sas;
    return ZIKE_CHILD_SAS_PER_POLICY *
           (unsigned)(peer->npolicies ? peer->npolicies : 1);
}

bool child_room(struct zike *z, const struct zike_peer *peer)
{
    unsigned n = 0;

    for (const struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (sa->state != IKE_ST_DEAD && strcmp(sa->peer_name, peer->name) == 0)
            for (const struct child_sa *c = sa->children; c; c = c->next)
                n += !c->unplugged && !c->lingering;
    if (n < child_limit(peer))
        return true;
    zike_log_limited(z, &z->peer_log[PEER_LOG_CHILD_LIMIT], LOG_WARNING,
                     "peer %s: holds %u child SAs, its limit "
                     "(max-child-sas): no more until some are deleted",
                     peer->name, n);
    return false;
}

/* A child SA to ask for again (its SPI collided, or TEMPORARY_FAILURE)
 * after a short random delay (RFC 7296 2.25): a rekey with its old child,
 * a new child by its policy. */
#define CHILD_RETRY_MS 200U

#define CHILD_RETRY_JITTER_MS 800U

void child_retry(struct zike *z, struct ike_sa *sa, const char *policy,
                 uint32_t old_spi_in)
{
    uint64_t at = z->now + CHILD_RETRY_MS +
                  randombytes_uniform(CHILD_RETRY_JITTER_MS);
    struct child_sa *old = old_spi_in ? child_by_in(sa, old_spi_in) : NULL;

    if (old != NULL) {
        old->want_rekey = true;
        old->rekey_after = at;
        return;
    }
    snprintf(sa->retry_policy, sizeof sa->retry_policy, "%s", policy);
    sa->retry_at = at;
}

/* Install both SAs of a new child.  KEYMAT: the initiator's outbound key
 * first (2.17).  The initiator of the exchange and a responder-created
 * first child differ only in which half goes out, and in when the
 * outbound SA starts to carry the policy. */
struct child_sa *child_install(struct zike *z, struct ike_sa *sa,
                               const char *policy, uint32_t spi_in,
                               uint32_t spi_out, uint32_t transform,
                               uint32_t sa_flags, const uint8_t *keymat,
                               bool exchange_initiator, bool in_only)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    const uint8_t *k_in = exchange_initiator ? keymat + ZESP_KEYBYTES : keymat;
    const uint8_t *k_out = exchange_initiator ? keymat : keymat + ZESP_KEYBYTES;
    struct child_sa *c;

    if (peer == NULL || (c = calloc(1, sizeof *c)) == NULL)
        return NULL;
    snprintf(c->policy, sizeof c->policy, "%s", policy);
    c->spi_in = spi_in;
    c->installed_at = z->now;
    c->spi_out = spi_out;
    c->transform = transform;
    c->esn = !(sa_flags & ZESP_SA_NO_ESN);
    c->lanes = (sa_flags & ZESP_SA_LANES) != 0;
    c->conf_esn = peer->esn;
    c->conf_lanes = peer->lanes;
    if (install_sa(z, peer, spi_in, ZESP_DIR_IN, transform,
                   sa_flags | zike_conf_in_flags(&z->conf, policy),
                   k_in) != 0) {
        free(c);
        return NULL;
    }
    if (!in_only &&
        install_sa(z, peer, spi_out, ZESP_DIR_OUT, transform, sa_flags,
                   k_out) != 0) {
        zesp_sa_del(z->sad, spi_in, ZESP_DIR_IN);
        free(c);
        return NULL;
    }
    zike_policy_in(z, policy, peer->name, spi_in, 0);
    if (c->lanes)
        zike_log(LOG_INFO, "peer %s: child SA 0x%08x/0x%08x has lanes",
                 peer->name, spi_in, spi_out);
    c->next = sa->children;
    sa->children = c;
    z->stats.child_installed++;
    return c;
}

/* Responder of a rekey: the initiator deletes the old child (2.8) once
 * our answer reached it, rekey-overlap later; by then plus the time it
 * may retransmit its request, an initiator that lives and keeps to the
 * protocol has done so.  One that has not is not waited for longer: the
 * old child is retired by our own DELETE, never before the initiator's
 * could have come. */
void child_retire_rekeyed(struct zike *z, struct child_sa *old)
{
    old->rekeyed = true;
    if (old->retire_at == 0)
        old->retire_at = z->now + ike_retransmit_span(z) +
                         z->conf.rekey_overlap_ms;
}

/* Retire every other live child of the policy: the new one replaces it. */
void child_retire_others(struct zike *z, struct ike_sa *sa,
                         struct child_sa *fresh)
{
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c != fresh && strcmp(c->policy, fresh->policy) == 0 &&
            !c->rekeyed) {
            c->rekeyed = true;
            c->out_active = false;
            if (c->retire_at == 0)
                c->retire_at = z->now + z->conf.rekey_overlap_ms;
        }
}

/* Is spi (dir) in the SAD a child SA with this peer?  A manual SA's
 * peer is a label the operator wrote, and a group SA's the key server's
 * word: neither is a child SA a killed zike left. */
static bool sa_of_peer(struct zike *z, uint32_t spi, uint32_t dir,
                       const char *peer)
{
    zesp_sa_info info;

    return spi != 0 && zesp_sa_info_get(z->sad, spi, dir, &info) == 0 &&
           !(info.flags & (ZESP_SA_MANUAL | ZESP_SA_GROUP)) &&
           strcmp(info.peer, peer) == 0;
}

/* Child SAs in the SAD for this policy that no IKE SA of ours owns (left
 * by a zike killed before): retired once the new child carries traffic.
 * Only SAs recorded as this peer's are taken: whatever else the policy
 * names (a manual SA, another peer's) is not this IKE SA's to delete.
 * The caller has checked that the peer serves the policy. */
/* The peer's outbound SAs that no child of ours holds and no policy sends
 * on: a killed zike's old SAs of a rekey in overlap, which no inbound
 * orphan names (the policy pairs its inbound SAs with its current
 * outbound one only). */
#define ORPHANS_OUT_MAX 16U
struct orphans_out {
    struct zike *z;
    const char *peer;
    uint32_t spi[ORPHANS_OUT_MAX];
    size_t n;
};

/* Whether a child SA of any IKE SA of ours holds that SPI. */
static bool child_owned(struct zike *z, uint32_t spi, uint32_t dir)
{
    for (struct ike_sa *s = z->sas; s; s = s->next)
        if ((dir == ZESP_DIR_IN ? child_by_in(s, spi) : child_by_out(s, spi))
            != NULL)
            return true;
    return false;
}

static int orphan_out(const zesp_sa_info *info, void *arg)
{
    struct orphans_out *o = arg;
    uint32_t spi = info->spi;
    struct sender_of sender = { .spi = spi };

    if (info->direction != ZESP_DIR_OUT || strcmp(info->peer, o->peer) != 0 ||
        (info->flags & (ZESP_SA_GROUP | ZESP_SA_MANUAL)) ||
        child_owned(o->z, spi, ZESP_DIR_OUT) ||
        zesp_policy_foreach(o->z->sad, sends_on, &sender) != 0)
        return 0;
    if (o->n < ORPHANS_OUT_MAX)
        o->spi[o->n++] = spi;
    return 0;
}

/* A child SA, not ours to rekey, that leaves the SAD after the overlap
 * (the timer removes it: transform 0, nothing to tell the peer). */
static bool adopt(struct zike *z, struct ike_sa *sa, const char *policy,
                  uint32_t spi_in, uint32_t spi_out)
{
    struct child_sa *c = calloc(1, sizeof *c);

    if (c == NULL)
        return false;
    snprintf(c->policy, sizeof c->policy, "%s", policy);
    c->spi_in = spi_in;
    c->spi_out = spi_out;
    c->rekeyed = true;
    c->retire_at = z->now + z->conf.rekey_overlap_ms;
    c->next = sa->children;
    sa->children = c;
    return true;
}

void child_adopt_orphans(struct zike *z, struct ike_sa *sa,
                         const char *policy)
{
    struct orphans_out outs = { .z = z, .peer = sa->peer_name };
    zesp_policy pol;
    uint32_t out;

    if (zesp_policy_get(z->sad, policy, &pol) != 0)
        return;
    out = sa_of_peer(z, pol.out_spi, ZESP_DIR_OUT, sa->peer_name)
              ? pol.out_spi : 0;
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++) {
        uint32_t spi = pol.in_spi[i];

        if (!sa_of_peer(z, spi, ZESP_DIR_IN, sa->peer_name) ||
            child_owned(z, spi, ZESP_DIR_IN) || !adopt(z, sa, policy, spi, out))
            continue;
        zike_log(LOG_INFO, "policy %s: SA 0x%08x from before a restart will "
                 "be retired", policy, spi);
    }
    zesp_sa_foreach(z->sad, orphan_out, &outs);
    for (size_t i = 0; i < outs.n && adopt(z, sa, policy, 0, outs.spi[i]); i++)
        zike_log(LOG_INFO, "peer %s: outbound SA 0x%08x from before a "
                 "restart will be retired", sa->peer_name, outs.spi[i]);
}

bool child_soft_expired(struct zike *z, const struct child_sa *c)
{
    zesp_sa_info in, out;

    if (zesp_sa_info_get(z->sad, c->spi_out, ZESP_DIR_OUT, &out) == 0 &&
        out.soft_expired)
        return true;
    return zesp_sa_info_get(z->sad, c->spi_in, ZESP_DIR_IN, &in) == 0 &&
           in.soft_expired;
}

/* Whether the SAD says it has no such SA: not a lookup that failed for
 * another reason (a damaged SAD), which is no reason to delete a child. */
static bool sa_missing(struct zike *z, uint32_t spi, uint32_t dir)
{
    zesp_sa_info info;

    return zesp_sa_info_get(z->sad, spi, dir, &info) != 0 &&
           errno == ZESP_ENOSA;
}

/* Whether a policy has an outbound SA to send on: its SPI named, and
 * the SA still in the SAD. */
bool policy_has_out_sa(struct zike *z, const zesp_policy *pol)
{
    return pol->out_spi != 0 && !sa_missing(z, pol->out_spi, ZESP_DIR_OUT);
}

/* Whether an SA of a child has left the SAD: an operator's `zesp sa del`,
 * or `zesp expire` past a hard lifetime, takes one out with no word to
 * zike.  Into in_gone, which one. */
bool child_left_sad(struct zike *z, const struct child_sa *c, bool *in_gone)
{
    *in_gone = sa_missing(z, c->spi_in, ZESP_DIR_IN);
    return *in_gone || sa_missing(z, c->spi_out, ZESP_DIR_OUT);
}

bool child_seen_traffic(struct zike *z, const struct child_sa *c)
{
    zesp_sa_info in;

    return zesp_sa_info_get(z->sad, c->spi_in, ZESP_DIR_IN, &in) == 0 &&
           in.stats.messages > 0;
}

bool child_live(const struct ike_sa *sa, const char *policy)
{
    for (const struct child_sa *c = sa->children; c; c = c->next)
        if (strcmp(c->policy, policy) == 0 && !c->rekeyed)
            return true;
    return false;
}
