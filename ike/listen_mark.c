/*
 * The mark that keeps a connection to listen (listen.c) from being closed
 * for a newcomer or by unauthenticated-timeout.  A connection carries it
 * while an IKE SA vouches for it: one established, whose peer
 * authenticated, not on its way out (terminated, deleted by either side,
 * revoked by a reload, replaced, dead), and whose peer's newest
 * authenticated message to listen came over that connection
 * (listen_route, dispatch.c).  Where our requests go (route) does not
 * matter: a peer with an endpoint each way speaks to us over its link to
 * our listen, and we to it over ours; when the mark followed our route,
 * each side took it off the other's link as soon as it used its own, and
 * closed that link every unauthenticated-timeout.  So a revoked or
 * vanished peer's connection is an unauthenticated one again, and
 * unauthenticated-timeout counts from then, not from its opening: a peer
 * whose IKE SA ended for a reason it can mend (terminated, a changed key
 * put right) has the whole timeout to authenticate again over it.
 *
 * Cheap: the mark is set when such a message comes (ike_handle), and an
 * IKE SA that set one remembers it (marks_listen).  Only when that IKE SA
 * stops vouching (the timers look each tick, as they visit every IKE SA
 * anyway) or its peer speaks over another connection to listen are the
 * IKE SAs searched for another that vouches for the connection; a rekeyed
 * IKE SA's successor, which takes over its routes, is one.  Nothing is
 * searched per message.
 */
#include <syslog.h>

#include "stream.h"

static bool same_connection(const struct route *a, const struct route *b)
{
    return a->sock == b->sock && a->rid_len == b->rid_len &&
           memcmp(a->rid, b->rid, a->rid_len) == 0;
}

bool listen_vouches(const struct zike *z, const struct ike_sa *sa)
{
    return z->listener != NULL && sa->listen_route.sock == z->listener &&
           sa->state == IKE_ST_ESTABLISHED && sa->cred.auth != 0 &&
           !ike_sa_deleting(sa);
}

bool listen_mark(struct zike *z, struct ike_sa *sa, const struct route *from)
{
    if (!listen_vouches(z, sa) || !same_connection(&sa->listen_route, from))
        return false;
    sa->marks_listen = true;
    return true;
}

void listen_unmark(struct zike *z, struct ike_sa *sa)
{
    struct stream_conn *c;
    size_t i;

    if (!sa->marks_listen)
        return;
    sa->marks_listen = false;
    if (z->listener == NULL || sa->listen_route.sock != z->listener ||
        (i = listen_conn_index(z, sa->listen_route.rid,
                               sa->listen_route.rid_len)) == z->listen_nconns)
        return;                      /* no connection to listen, or closed */
    c = z->listen_conns[i];
    for (struct ike_sa *o = z->sas; o; o = o->next)
        if (o != sa && listen_vouches(z, o) &&
            stream_conn_is(c, o->listen_route.rid, o->listen_route.rid_len)) {
            o->marks_listen = true;  /* it holds the mark from now on */
            return;
        }
    if (!c->authentic)
        return;
    c->authentic = false;
    c->grace_from = z->now;
    zike_log(LOG_DEBUG, "peer %s: its connection to listen from %s is "
             "unauthenticated again", sa->peer_name[0] ? sa->peer_name : "?",
             c->addr[0] ? c->addr : "?");
}

bool listen_follow(struct zike *z, struct ike_sa *sa, const struct route *to)
{
    bool moved = !same_connection(&sa->route, to);

    if (z->listener != NULL && to->sock == z->listener) {
        if (!same_connection(&sa->listen_route, to))
            listen_unmark(z, sa);    /* the peer left that connection */
        sa->listen_route = *to;
    }
    sa->route = *to;
    return moved;
}
