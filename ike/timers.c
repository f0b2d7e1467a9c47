/*
 * What zike does by itself, on each tick: retransmissions (RFC 7296 2.1),
 * and a peer that never answers declared dead (2.4); half-open IKE SAs
 * dropped (2.6); new child SAs activated and old ones retired
 * (make-before-break); child SAs that left the SAD behind our back
 * deleted with the peer; rekeys of child SAs and IKE SAs before their
 * limits (2.8); ACQUIREs; liveness checks (2.4).  And what zikectl asks
 * (rekey, terminate) and SIGTERM (delete every IKE SA).
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

static int send_delete_child(struct zike *z, struct ike_sa *sa,
                             struct child_sa *c)
{
    return child_delete_request(z, sa, c->spi_in);
}

/* Half of a child SA left the SAD behind our back (child_left_sad): the
 * child serves nothing now, and a policy that went on naming it would
 * fail every send for good.  As strongSwan does with an SA deleted from
 * the kernel: the other half leaves too, and the peer is told with a
 * DELETE (the loop below sends it: its retire time is now).  A newer
 * child of the policy carries it at once; with none, the policy has no
 * outbound SA left, and a new child is made at once for a start peer,
 * on the next ACQUIRE otherwise. */
static void child_gone(struct zike *z, struct ike_sa *sa, struct child_sa *c,
                       const struct zike_peer *peer, bool in_gone)
{
    zesp_policy pol;
    bool carried = zesp_policy_get(z->sad, c->policy, &pol) == 0 &&
                   pol.out_spi == c->spi_out;

    zike_log(LOG_WARNING, "peer %s: SA 0x%08x (%s) of child SA 0x%08x/0x%08x "
             "(%s) left the SAD: the child is deleted with the peer",
             sa->peer_name, in_gone ? c->spi_in : c->spi_out,
             in_gone ? "in" : "out", c->spi_in, c->spi_out, c->policy);
    child_unplug(z, sa, c);
    c->rekeyed = true;
    c->retire_at = z->now;
    for (struct child_sa *o = sa->children; o; o = o->next)
        if (o != c && !o->rekeyed && !o->unplugged &&
            strcmp(o->policy, c->policy) == 0) {
            if (carried)
                child_activate(z, sa, o);
            return;
        }
    if (peer != NULL && peer->start && sa->retry_policy[0] == '\0') {
        snprintf(sa->retry_policy, sizeof sa->retry_policy, "%s", c->policy);
        sa->retry_at = z->now;
    }
}

/* Which policies of this peer have an ACQUIRE pending in the SAD, with
 * no outbound SA: none named, or one named that left the SAD and no child
 * of ours holds (a killed zike's, removed before this one started). */
static const char *acquired_policy(struct zike *z, const struct zike_peer *p,
                                   struct ike_sa *sa)
{
    for (size_t i = 0; i < p->npolicies; i++) {
        zesp_policy pol;

        if (zesp_policy_get(z->sad, p->policies[i], &pol) != 0 ||
            pol.acquire == 0 || policy_has_out_sa(z, &pol))
            continue;
        if (sa == NULL || !child_live(sa, p->policies[i]))
            return p->policies[i];
    }
    return NULL;
}

static void tick_sa(struct zike *z, struct ike_sa *sa)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    bool in_gone;

    if (!ike_retransmit(z, sa))
        ike_sa_dead(z, sa, "lost, peer not answering: its SAs are removed");
    if (sa->state == IKE_ST_DEAD)
        return;
    if (sa->state == IKE_ST_HALF_OPEN &&
        z->now - sa->created > z->conf.half_open_ms) {
        sa->state = IKE_ST_DEAD;
        return;
    }
    for (struct child_sa *c = sa->children, *next; c; c = next) {
        next = c->next;
        if (sa->state == IKE_ST_ESTABLISHED && !sa->superseded &&
            c->transform != 0 && !c->unplugged && !c->lingering &&
            child_left_sad(z, c, &in_gone))
            child_gone(z, sa, c, peer, in_gone);
        /* A child we answered carries the policy once the peer is known
         * to hold it: its traffic on the new SA, a later request of its
         * (child_peer_progressed), its DELETE of the old child
         * (informational.c); at activate_at, the old child's retirement,
         * whatever the peer did. */
        if (!c->out_active && !c->rekeyed && c->activate_at &&
            (c->peer_holds || z->now >= c->activate_at ||
             child_seen_traffic(z, c)))
            child_activate(z, sa, c);
        /* Retired: in an established IKE SA the peer is told with a
         * DELETE (one at a time); SAs left by a replaced IKE SA or by a
         * killed zike (transform 0), and the inbound SA a DELETE left
         * for the overlap (child_linger), are removed here only. */
        if (c->retire_at && z->now >= c->retire_at) {
            if (sa->state == IKE_ST_ESTABLISHED && c->transform != 0 &&
                !c->lingering) {
                if (sa->req.kind == REQ_NONE)
                    send_delete_child(z, sa, c);
            } else {
                child_remove(z, sa, c);
            }
        }
    }
    if (sa->state == IKE_ST_DELETING && sa->children == NULL) {
        sa->state = IKE_ST_DEAD;
        return;
    }
    if (sa->superseded) {            /* waits for its DELETE, not forever */
        if (z->now >= sa->rekey_at && sa->req.kind == REQ_NONE)
            sa->state = IKE_ST_DEAD;
        return;
    }
    if (sa->state != IKE_ST_ESTABLISHED || peer == NULL ||
        sa->req.kind != REQ_NONE)
        return;
    if (sa->want_delete) {
        sa->want_delete = false;
        ike_send_delete_ike(z, sa);
        return;
    }
    if (sa->want_ike_rekey || (sa->rekey_at && z->now >= sa->rekey_at)) {
        sa->want_ike_rekey = false;
        if (ike_rekey_start(z, sa) == 0)
            return;
    }
    if (group_tick_sa(z, sa))
        return;
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (!c->rekeyed && c->transform != 0 && z->now >= c->rekey_after &&
            (c->want_rekey || child_soft_expired(z, c))) {
            c->want_rekey = false;
            if (child_create_start(z, sa, c->policy, c) == 0)
                return;
        }
    if (sa->retry_policy[0] != '\0' && z->now >= sa->retry_at) {
        char pol[ZESP_NAME_MAX];
        snprintf(pol, sizeof pol, "%s", sa->retry_policy);
        sa->retry_policy[0] = '\0';
        if (!child_live(sa, pol) && child_create_start(z, sa, pol, NULL) == 0)
            return;
    }
    {
        const char *pol = acquired_policy(z, peer, sa);
        if (pol != NULL && child_create_start(z, sa, pol, NULL) == 0)
            return;
    }
    if (sa->link_check) {
        struct route link = zike_route_to(z, peer);

        sa->link_check = false;
        if (link.sock != NULL) {
            listen_follow(z, sa, &link);  /* the mark goes with it */
            if (informational_dpd(z, sa) != 0)
                zike_log(LOG_WARNING, "peer %s: no liveness check on our "
                         "link made again: not sent", sa->peer_name);
            return;
        }
    }
    if (peer->dpd_seconds &&
        z->now - sa->last_heard >= (uint64_t)peer->dpd_seconds * 1000U) {
        zike_log(LOG_DEBUG, "peer %s: liveness check, nothing heard for "
                 "%llu ms", sa->peer_name,
                 (unsigned long long)(z->now - sa->last_heard));
        informational_dpd(z, sa);
    }
}

void ike_tick(struct zike *z)
{
    group_tick(z);
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        tick_sa(z, sa);
    /* An IKE SA that stopped vouching for a connection to listen (its
     * peer revoked, gone, or its IKE SA rekeyed away) gives up its mark
     * before it is freed. */
    for (struct ike_sa *sa = z->sas, *next; sa; sa = next) {
        next = sa->next;
        if (sa->marks_listen && !listen_vouches(z, sa))
            listen_unmark(z, sa);
        if (sa->state == IKE_ST_DEAD)
            ike_sa_free(z, sa);
    }
    /* Peers to start, and ACQUIREs for peers with no IKE SA. */
    for (size_t i = 0; i < z->conf.npeers; i++) {
        const struct zike_peer *p = &z->conf.peers[i];
        const char *pol;

        /* A link a reload could not make yet (links.c) is waited for:
         * an IKE_SA_INIT sent nowhere would be retransmitted nowhere. */
        if (p->endpoint[0] == '\0' || zike_route_to(z, p).sock == NULL ||
            ike_sa_for_peer(z, p->name) != NULL || z->now < z->retry_at[i])
            continue;
        if (p->start || group_server_peer(z, p->name))
            ike_initiate(z, p, NULL);
        else if ((pol = acquired_policy(z, p, NULL)) != NULL)
            ike_initiate(z, p, pol);
    }
}

/* Our link to the peer came back after a break (links.c): to the peer's
 * listen it is a new connection, unauthenticated (a flood may displace
 * it, unauthenticated-timeout closes it) until a message of ours verifies
 * on it, and the peer's own requests, without our endpoint, go nowhere
 * until then.  Our requests move to it; the one in flight goes again at
 * once, and a new one follows (a liveness check, unless another request
 * comes first, tick_sa): a retransmission the peer answers from its cache
 * proves nothing fresh and authenticates nothing. */
void ike_link_back(struct zike *z, const struct zike_peer *peer)
{
    struct ike_sa *sa = ike_sa_for_peer(z, peer->name);
    struct route link = zike_route_to(z, peer);

    if (sa == NULL || sa->state != IKE_ST_ESTABLISHED || link.sock == NULL)
        return;
    zike_log(LOG_INFO, "peer %s: our connection to %s came back: %s",
             peer->name, peer->endpoint, sa->req.kind != REQ_NONE ?
             "the request in flight sent again on it, then a liveness check"
             : "liveness check on it");
    listen_follow(z, sa, &link);     /* the mark goes with it */
    sa->link_check = true;
    ike_resend(z, sa);
}

int ike_rekey_peer(struct zike *z, const char *peer, bool ike)
{
    struct ike_sa *sa = ike_sa_for_peer(z, peer);

    if (sa == NULL || sa->state != IKE_ST_ESTABLISHED)
        return -1;
    if (ike) {
        sa->want_ike_rekey = true;
        return 0;
    }
    for (struct child_sa *c = sa->children; c; c = c->next)
        c->want_rekey = !c->rekeyed;
    return 0;
}

int ike_terminate_peer(struct zike *z, const char *peer)
{
    struct ike_sa *sa = ike_sa_for_peer(z, peer);

    if (sa == NULL)
        return -1;
    if (sa->state == IKE_ST_ESTABLISHED)
        sa->want_delete = true;
    else
        ike_sa_dead(z, sa, "terminated");
    return 0;
}

/* SIGTERM: every established IKE SA is deleted (the peer removes its SAs),
 * ours leave the SAD. */
void ike_shutdown(struct zike *z)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (sa->state == IKE_ST_ESTABLISHED) {
            sa->req.kind = REQ_NONE;
            ike_send_delete_ike(z, sa);
        }
        ike_sa_dead(z, sa, NULL);
    }
}
