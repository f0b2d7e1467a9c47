/*
 * What happens to an IKE SA beyond the exchange that changes it.
 * Established: it gets its rekey time (80 to 90 % of its lifetime), the
 * peer's failures are forgotten, and an older IKE SA with the same peer is
 * replaced (RFC 7296 2.4: INITIAL_CONTACT, or a restarted peer).  Deleted:
 * the INFORMATIONAL DELETE that asks the peer to end it (1.4.1); from
 * then on it makes nothing new (dispatch.c).  Dead:
 * its child SAs leave the SAD, the groups it carried are told (group.c),
 * and a failed initiator waits before it tries the peer again.  Revoked
 * (a reload took its peer's credential away): dead at once but for the
 * DELETE, which still goes to the peer.
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

static int peer_index(struct zike *z, const char *name)
{
    for (size_t i = 0; i < z->conf.npeers; i++)
        if (strcmp(z->conf.peers[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* An initiator that failed waits before trying the peer again: 1 s,
 * doubling up to a minute, so that a wrong key or a dead peer is not
 * hammered. */
static void backoff(struct zike *z, struct ike_sa *sa)
{
    int i = peer_index(z, sa->peer_name);
    uint32_t n;

    if (i < 0)
        return;
    n = z->fails[i] < 6 ? z->fails[i] : 6;
    z->fails[i]++;
    z->retry_at[i] = z->now + (1000U << n);
}

/* Established (or rekeyed): the peer's failures are forgotten, and the
 * IKE SA gets its rekey time, 80 to 90 % of its lifetime. */
void ike_sa_established(struct zike *z, struct ike_sa *sa)
{
    int i = peer_index(z, sa->peer_name);
    uint64_t life_ms;

    sa->established_at = z->now;
    if (i < 0)
        return;
    z->fails[i] = 0;
    life_ms = (uint64_t)z->conf.peers[i].ike_lifetime * 1000U;
    sa->rekey_at = life_ms ? sa->last_heard + life_ms - life_ms / 10 -
                                 randombytes_uniform((uint32_t)(life_ms / 10) + 1)
                           : 0;
}

/* A new IKE SA with a peer replaces any older one (INITIAL_CONTACT or a
 * restarted daemon): the old child SAs stay in the SAD for the overlap so
 * that traffic in flight is still accepted, then go. */
void ike_sa_replace_old(struct zike *z, struct ike_sa *fresh)
{
    uint64_t by = z->now + z->conf.rekey_overlap_ms;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        if (sa == fresh || strcmp(sa->peer_name, fresh->peer_name) != 0 ||
            sa->state == IKE_ST_DEAD)
            continue;
        for (struct child_sa *c = sa->children; c; c = c->next)
            if (c->retire_at == 0 || c->retire_at > by)
                c->retire_at = by;
        sa->state = IKE_ST_DELETING;
        sa->req.kind = REQ_NONE;
    }
}

/* On its way out: we sent the DELETE that ends it or will send it, a
 * newer IKE SA with the peer replaced it, or a rekey moved its child SAs
 * away. */
bool ike_sa_deleting(const struct ike_sa *sa)
{
    return sa->state == IKE_ST_DELETING || sa->superseded ||
           sa->want_delete || sa->req.kind == REQ_DELETE_IKE;
}

void ike_sa_dead(struct zike *z, struct ike_sa *sa, const char *why)
{
    if (sa->superseded) {            /* rekeyed: nothing of it is left */
        sa->state = IKE_ST_DEAD;
        return;
    }
    if (why != NULL)
        zike_log(LOG_NOTICE, "peer %s: IKE SA %s", sa->peer_name[0] ?
                 sa->peer_name : "(unknown)", why);
    if (sa->initiator || sa->state == IKE_ST_ESTABLISHED)
        backoff(z, sa);
    if (sa->state == IKE_ST_ESTABLISHED)
        group_ike_sa_gone(z, sa, false);
    while (sa->children)
        child_remove(z, sa, sa->children);
    sa->state = IKE_ST_DEAD;
}

int ike_send_delete_ike(struct zike *z, struct ike_sa *sa)
{
    uint8_t chain[16];
    struct ike_writer w;
    size_t len;

    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_IKE, 0, NULL, 0);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    return ike_request(z, sa, REQ_DELETE_IKE, IKE_INFORMATIONAL, chain, len);
}

/* What the IKE SA was authenticated with is no longer accepted (or its
 * peer is gone): what it made leaves the SAD now, the groups drop the
 * peer and rekey, and the peer gets the DELETE, our request in flight
 * abandoned.  An IKE SA rekey in flight is let finish instead, so that
 * the peer's new IKE SA is not left alone: the new one inherits the
 * DELETE (ike_rekey.c). */
void ike_sa_revoke(struct zike *z, struct ike_sa *sa, const char *why)
{
    if (sa->superseded || sa->state == IKE_ST_DEAD)
        return;
    zike_log(LOG_WARNING, "peer %s: %s: IKE SA deleted, its child SAs "
             "removed", sa->peer_name, why);
    if (sa->state == IKE_ST_ESTABLISHED)
        group_ike_sa_gone(z, sa, true);
    group_server_revoked(z, sa->peer_name);
    while (sa->children)
        child_remove(z, sa, sa->children);
    if (sa->state != IKE_ST_ESTABLISHED || sa->req.kind == REQ_DELETE_IKE)
        return;                  /* replaced, or its DELETE is on its way */
    if (sa->req.kind == REQ_IKE_REKEY) {
        sa->want_delete = true;
        return;
    }
    sa->want_delete = false;
    sa->req.kind = REQ_NONE;
    if (ike_send_delete_ike(z, sa) != 0)
        ike_sa_dead(z, sa, "cannot send its DELETE");
}
