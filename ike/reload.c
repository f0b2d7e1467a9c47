/*
 * A configuration (re)loaded (SIGHUP, zikectl reload): every policy it
 * names exists in the SAD, a link per peer endpoint (those whose peer
 * keeps its endpoint are kept, connection and all), the groups follow it,
 * and the IKE SAs with peers it no longer names, or whose peer's
 * identity, method or key is not the one it authenticated with, are
 * deleted (ike_sa_cred.c).  The child SAs, and IKE SAs, that the new
 * file would not make now are rekeyed with what it says.  listen,
 * max-connections, control, sad and metrics take effect on restart only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "stream.h"

/* Every configured policy exists in the SAD, so that an application can
 * send on it and raise an ACQUIRE before any SA exists. */
void zike_declare_policies(struct zike *z)
{
    for (size_t i = 0; i < z->conf.npeers; i++)
        for (size_t k = 0; k < z->conf.peers[i].npolicies; k++) {
            zesp_policy pol;
            if (zesp_policy_get(z->sad, z->conf.peers[i].policies[k],
                                &pol) == 0)
                continue;
            memset(&pol, 0, sizeof pol);
            snprintf(pol.name, sizeof pol.name, "%s",
                     z->conf.peers[i].policies[k]);
            snprintf(pol.peer, sizeof pol.peer, "%s", z->conf.peers[i].name);
            if (zesp_policy_set(z->sad, &pol) != 0)
                zike_log(LOG_ERR, "policy %s: %s", pol.name,
                         zesp_strerror(errno));
        }
}

/* Child SAs of policies the peer no longer serves leave the SAD now, as
 * a revoked credential's do, and are never rekeyed; the timer tells the
 * peer with a DELETE (their retire time is now).  Its other SAs stay. */
static void revoke_policies(struct zike *z, struct ike_sa *sa,
                            const struct zike_peer *p)
{
    for (struct child_sa *c = sa->children, *next; c; c = next) {
        next = c->next;
        if (c->unplugged || zike_conf_serves(p, c->policy))
            continue;
        zike_log(LOG_WARNING, "peer %s: policy %s no longer allowed: child "
                 "SA 0x%08x/0x%08x removed", sa->peer_name, c->policy,
                 c->spi_in, c->spi_out);
        if (sa->state != IKE_ST_ESTABLISHED || c->transform == 0) {
            child_remove(z, sa, c);
            continue;
        }
        child_unplug(z, sa, c);
        c->rekeyed = true;
        c->retire_at = z->now;
    }
}

/* Does the new file still allow child c as it is?  Its AEAD must be the
 * peer's `esp` (when one is named) and its hard limits no longer than the
 * peer's `lifetime`: a child SA outlasting either carries traffic that
 * the new file wants otherwise (in clear, integrity only, when `esp` was
 * made an encrypting AEAD), for up to its whole lifetime.  Its `esn` and
 * `lanes` must be those it was made under: what a child has of them is
 * negotiated (a peer may not do lanes, or may offer the other ESN), so
 * only a change of the setting asks for another. */
static const char *child_unfit(struct zike *z, const struct child_sa *c,
                               const struct zike_peer *p)
{
    zesp_sa_info out;
    const zesp_lifetime *want = &p->child_life;

    if (p->esp_transform != 0 && c->transform != p->esp_transform)
        return "its esp transform changed";
    if (c->conf_esn != p->esn)
        return "its esn changed";
    if (c->conf_lanes != p->lanes)
        return "its lanes changed";
    if (zesp_sa_info_get(z->sad, c->spi_out, ZESP_DIR_OUT, &out) != 0)
        return NULL;
    if ((want->seconds && (!out.hard.seconds ||
                           out.hard.seconds > want->seconds)) ||
        (want->messages && (!out.hard.messages ||
                            out.hard.messages > want->messages)) ||
        (want->bytes && (!out.hard.bytes || out.hard.bytes > want->bytes)))
        return "its lifetime was shortened";
    return NULL;
}

/* Child SAs that the new file would not make now are rekeyed at once,
 * make-before-break: the rekey proposes what the file says, and the old
 * SA leaves after the overlap, so no message is lost on the way. */
static void rekey_unfit(struct zike *z, struct ike_sa *sa,
                        const struct zike_peer *p)
{
    if (sa->state != IKE_ST_ESTABLISHED)
        return;
    for (struct child_sa *c = sa->children; c; c = c->next) {
        const char *why;

        if (c->rekeyed || c->unplugged || c->transform == 0 ||
            (why = child_unfit(z, c, p)) == NULL)
            continue;
        zike_log(LOG_NOTICE, "peer %s: %s: child SA 0x%08x/0x%08x (%s) "
                 "rekeyed", sa->peer_name, why, c->spi_in, c->spi_out,
                 c->policy);
        c->want_rekey = true;
        c->rekey_after = 0;
    }
}

/* An IKE SA made with another AEAD than the peer's `ike` now names is
 * rekeyed with that one: its rekeys would otherwise keep the old AEAD for
 * as long as the IKE SA lives. */
static void rekey_ike_unfit(struct ike_sa *sa, const struct zike_peer *p)
{
    if (sa->state != IKE_ST_ESTABLISHED || sa->superseded ||
        p->ike_encr == 0 || sa->keys->aead_id == p->ike_encr)
        return;
    zike_log(LOG_NOTICE, "peer %s: its ike AEAD changed: IKE SA rekeyed",
             sa->peer_name);
    sa->want_ike_rekey = true;
}

/* sa's route was a link, which the reload kept, made again or took away
 * (its peer has no endpoint now, or is gone): then its requests go to the
 * connection to our listen its peer spoke over last, if still open (the
 * peer's next authenticated message says where it is). */
static void route_again(struct zike *z, struct ike_sa *sa,
                        const struct zike_peer *p)
{
    struct route to = { .sock = NULL };

    if (p != NULL)
        to = zike_route_to(z, p);
    if (to.sock == NULL && sa->listen_route.sock != NULL &&
        listen_conn_index(z, sa->listen_route.rid,
                          sa->listen_route.rid_len) < z->listen_nconns)
        to = sa->listen_route;
    if (to.sock == NULL && p != NULL && sa->state == IKE_ST_ESTABLISHED)
        zike_log(LOG_WARNING, "peer %s: %s, and no connection of its to our "
                 "listen endpoint: requests to it wait until it speaks",
                 p->name, p->endpoint[0] ? "its link not made yet"
                                         : "no endpoint");
    listen_follow(z, sa, &to);
}

int zike_reload(struct zike *z, char *why, size_t whylen)
{
    struct zike_conf fresh;
    struct peer_link *kept[ZIKE_MAX_PEERS] = { NULL };
    bool links_failed;
    char err[1024];

    if (zike_conf_load(z->conf.file, &fresh, err, sizeof err) != 0) {
        zike_log(LOG_ERR, "reload refused, old configuration kept: %s", err);
        if (why != NULL)
            snprintf(why, whylen, "reload refused, old configuration "
                     "kept: %s", err);
        return -1;
    }
    if (strcmp(fresh.listen, z->conf.listen) != 0 ||
        fresh.max_connections != z->conf.max_connections ||
        strcmp(fresh.control, z->conf.control) != 0 ||
        strcmp(fresh.sad_path, z->conf.sad_path) != 0 ||
        fresh.sad_opts.mode != z->conf.sad_opts.mode ||
        strcmp(fresh.sad_opts.group, z->conf.sad_opts.group) != 0 ||
        fresh.sad_opts.capacity != z->conf.sad_opts.capacity ||
        strcmp(fresh.metrics, z->conf.metrics) != 0 ||
        strcmp(fresh.group_state, z->conf.group_state) != 0)
        zike_log(LOG_WARNING, "reload: listen, max-connections, control, "
                 "sad, metrics and group-state take effect on restart only");
    snprintf(fresh.listen, sizeof fresh.listen, "%s", z->conf.listen);
    fresh.max_connections = z->conf.max_connections; /* listen_conns' size */
    memcpy(fresh.metrics, z->conf.metrics, sizeof fresh.metrics);
    memcpy(fresh.metrics_host, z->conf.metrics_host,
           sizeof fresh.metrics_host);
    memcpy(fresh.metrics_port, z->conf.metrics_port,
           sizeof fresh.metrics_port);
    snprintf(fresh.control, sizeof fresh.control, "%s", z->conf.control);
    snprintf(fresh.sad_path, sizeof fresh.sad_path, "%s", z->conf.sad_path);
    fresh.sad_opts = z->conf.sad_opts;
    memcpy(fresh.group_state, z->conf.group_state, sizeof fresh.group_state);
    zike_keep_links(z, &fresh, kept);
    zike_close_links(z, 0);
    zike_conf_free(&z->conf);
    z->conf = fresh;
    /* The back-off is kept by index in conf.peers, which the new file may
     * order otherwise; and a reload is when a wrong key is put right:
     * every peer may be tried again at once. */
    memset(z->fails, 0, sizeof z->fails);
    memset(z->retry_at, 0, sizeof z->retry_at);
    zike_log_level = zike_log_verbose ? LOG_DEBUG : z->conf.log_level;
    /* Without a peer's link the rest still applies: a revocation must
     * not wait for a mistyped endpoint. */
    links_failed = zike_open_links(z, kept) != 0;
    zike_declare_policies(z);
    if (group_sync_conf(z) != 0)
        zike_log(LOG_ERR, "reload: groups: %s", strerror(errno));
    /* Every IKE SA routed to a link gets its peer's link now.  Those with
     * peers no longer configured, or whose peer's identity or credential
     * is not the one it authenticated with, are deleted: a rotated key
     * stops working at once. */
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        const struct zike_peer *p;
        const char *gone;

        if (sa->peer_name[0] == '\0' || sa->state == IKE_ST_DEAD)
            continue;
        p = zike_conf_peer(&z->conf, sa->peer_name);
        if (sa->route.rid_len == 0)
            route_again(z, sa, p);
        gone = p == NULL ? "removed from the configuration"
                         : ike_sa_cred_changed(sa, p);
        if (gone == NULL) {
            revoke_policies(z, sa, p);
            rekey_unfit(z, sa, p);
            rekey_ike_unfit(sa, p);
            continue;
        }
        if (sa->cred.auth != 0)
            ike_sa_revoke(z, sa, gone);
        else
            ike_sa_dead(z, sa, "terminated: its peer is no longer "
                        "configured");
    }
    zike_log(LOG_NOTICE, "configuration reloaded: %zu peer%s", z->conf.npeers,
             z->conf.npeers == 1 ? "" : "s");
    if (links_failed) {
        if (why != NULL)
            snprintf(why, whylen, "reloaded, but a peer's link cannot be "
                     "made yet (tried again each second): see the log");
        return -1;
    }
    return 0;
}
