/* The control socket's commands (doc/zikectl.8). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "control.h"
#include "daemon.h"
#include "json.h"

#define ARGS_MAX 4U
#define ARG_MAX 256U

/* A reply grows as needed (open_memstream): nothing is cut. */
struct out {
    FILE *f;
    struct json j;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(o->f, fmt, ap);
    va_end(ap);
}

static void hex(char out[17], const uint8_t spi[8])
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", spi[i]);
}

static void served_json(struct json *j, const struct gcks_group *g,
                        size_t holding)
{
    json_object(j, NULL);
    json_str(j, "group", g->name);
    json_strf(j, "spi", "%08x", g->spi);
    json_u64(j, "members", g->nmembers);
    json_u64(j, "holding", holding);
    json_u64(j, "rekeys", g->rekeys);
    json_array(j, "peers");
    for (size_t k = 0; k < g->nmembers; k++) {
        const struct gcks_member *m = &g->members[k];
        json_object(j, NULL);
        json_str(j, "peer", m->peer);
        json_u64(j, "sender_id", m->sid);
        json_bool(j, "receiver", m->receiver);
        json_strf(j, "spi", "%08x", m->have_spi);
        json_end(j, '}');
    }
    json_end(j, ']');
    json_end(j, '}');
}

static void joined_json(struct json *j, const struct gm_group *g)
{
    json_object(j, NULL);
    json_str(j, "group", g->name);
    json_bool(j, "registered", g->registered);
    json_u64(j, "sender_id", g->sid);
    json_u64(j, "updates", g->updates);
    json_array(j, "spis");
    for (size_t k = 0; k < GM_SAS_MAX; k++)
        if (g->sas[k].spi)
            json_strf(j, NULL, "%08x", g->sas[k].spi);
    json_end(j, ']');
    json_end(j, '}');
}

/* Groups served (members, current SA) and joined (SAs held). */
static void groups(struct zike *z, struct out *o, bool json)
{
    if (json) {
        json_object(&o->j, NULL);
        json_array(&o->j, "served");
    }
    for (size_t i = 0; i < z->ngroups; i++) {
        const struct gcks_group *g = &z->groups[i];
        size_t holding = 0;

        for (size_t k = 0; k < g->nmembers; k++)
            holding += g->members[k].have_spi == g->spi;
        if (json) {
            served_json(&o->j, g, holding);
            continue;
        }
        put(o, "serves %s: SA %08x, %zu members, %zu hold it, %llu rekeys\n",
            g->name, g->spi, g->nmembers, holding,
            (unsigned long long)g->rekeys);
        for (size_t k = 0; k < g->nmembers; k++) {
            const struct gcks_member *m = &g->members[k];
            put(o, "  member %s%s%s sender-id %u has %08x\n", m->peer,
                m->sender ? " sender" : "", m->receiver ? " receiver" : "",
                m->sid, m->have_spi);
        }
    }
    if (json) {
        json_end(&o->j, ']');
        json_array(&o->j, "joined");
    }
    for (size_t i = 0; i < z->njoined; i++) {
        const struct gm_group *g = &z->joined[i];
        if (json) {
            joined_json(&o->j, g);
            continue;
        }
        put(o, "joined %s: %s, sender-id %u, %llu updates, SAs", g->name,
            g->registered ? "registered" : "not registered", g->sid,
            (unsigned long long)g->updates);
        for (size_t k = 0; k < GM_SAS_MAX; k++)
            if (g->sas[k].spi)
                put(o, " %08x%s", g->sas[k].spi,
                    g->sas[k].retire_at ? "(old)" : "");
        put(o, "\n");
    }
    if (json) {
        json_end(&o->j, ']');
        json_end(&o->j, '}');
        put(o, "\n");
    }
}

static const char *child_state(const struct child_sa *c)
{
    return c->rekeyed ? "rekeyed" : c->out_active ? "active" : "installed";
}

static void ike_sa_json(struct zike *z, struct json *j,
                        const struct ike_sa *sa)
{
    char si[17], sr[17];

    hex(si, sa->spi_i);
    hex(sr, sa->spi_r);
    json_object(j, NULL);
    json_str(j, "peer", sa->peer_name);
    json_str(j, "state", ike_state_name(sa->state));
    json_str(j, "role", sa->initiator ? "initiator" : "responder");
    json_str(j, "spi_i", si);
    json_str(j, "spi_r", sr);
    json_u64(j, "age_ms", z->now - sa->created);
    json_array(j, "children");
    for (const struct child_sa *c = sa->children; c; c = c->next) {
        json_object(j, NULL);
        json_str(j, "policy", c->policy);
        json_strf(j, "spi_in", "%08x", c->spi_in);
        json_strf(j, "spi_out", "%08x", c->spi_out);
        json_str(j, "state", child_state(c));
        json_bool(j, "esn", c->esn);
        json_end(j, '}');
    }
    json_end(j, ']');
    json_end(j, '}');
}

static void list(struct zike *z, struct out *o, bool json)
{
    if (json) {
        json_object(&o->j, NULL);
        json_array(&o->j, "ike_sas");
    }
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        char si[17], sr[17];

        if (json) {
            ike_sa_json(z, &o->j, sa);
            continue;
        }
        hex(si, sa->spi_i);
        hex(sr, sa->spi_r);
        put(o, "%-16s %-11s %-9s %s_%s\n",
            sa->peer_name[0] ? sa->peer_name : "-", ike_state_name(sa->state),
            sa->initiator ? "initiator" : "responder", si, sr);
        for (struct child_sa *c = sa->children; c; c = c->next)
            put(o, "  child %-16s in %08x out %08x %s\n", c->policy,
                c->spi_in, c->spi_out, child_state(c));
    }
    if (json) {
        json_end(&o->j, ']');
        json_end(&o->j, '}');
        put(o, "\n");
    }
}

static void stat_line(struct out *o, bool json, const char *name, uint64_t v)
{
    if (json)
        json_u64(&o->j, name, v);
    else
        put(o, "%-22s %llu\n", name, (unsigned long long)v);
}

static void stats(struct zike *z, struct out *o, bool json)
{
    uint64_t ike = 0, child = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        ike++;
        for (struct child_sa *c = sa->children; c; c = c->next)
            child++;
    }
#define STATS(X) \
    X(ike_sas, ike) X(child_sas, child) \
    X(ike_established, z->stats.ike_established) \
    X(child_installed, z->stats.child_installed) \
    X(ike_rekeys, z->stats.ike_rekeys) X(rekeys, z->stats.rekeys) \
    X(deleted, z->stats.deleted) X(auth_failed, z->stats.auth_failed) \
    X(cookies_sent, z->stats.cookies_sent) \
    X(retransmits, z->stats.retransmits) \
    X(dead_peers, z->stats.dead_peers) \
    X(spi_collisions, z->stats.spi_collisions) \
    X(dropped_messages, z->stats.dropped_messages) \
    X(group_rekeys, z->stats.group_rekeys) \
    X(group_registrations, z->stats.group_registrations) \
    X(group_updates, z->stats.group_updates)
#define LINE(name, v) stat_line(o, json, #name, v);
    if (json) {
        json_object(&o->j, NULL);
        json_u64(&o->j, "pid", (uint64_t)getpid());
    }
    STATS(LINE)
    for (int i = 0; i < IKE_DROP_REASONS; i++) {
        char name[64];
        snprintf(name, sizeof name, "ike_dropped_%s",
                 ike_drop_name((enum ike_drop)i));
        stat_line(o, json, name, z->stats.dropped[i]);
    }
    if (json) {
        json_end(&o->j, '}');
        put(o, "\n");
    }
#undef STATS
#undef LINE
}

void control_serve(struct zike *z, void *sock)
{
    char args[ARGS_MAX][ARG_MAX];
    size_t nargs = 0;
    int more = 1;
    struct out o;
    char *reply = NULL;
    size_t reply_len = 0;
    bool ok = true, json;
    const struct zike_peer *peer = NULL;

    memset(args, 0, sizeof args);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            return;
        }
        more = zmq_msg_more(&part);
        if (nargs < ARGS_MAX && zmq_msg_size(&part) < ARG_MAX)
            memcpy(args[nargs], zmq_msg_data(&part), zmq_msg_size(&part));
        else
            ok = false;
        nargs++;
        zmq_msg_close(&part);
    }
    if ((o.f = open_memstream(&reply, &reply_len)) == NULL) {
        zmq_send(sock, "error", 5, ZMQ_SNDMORE);
        zmq_send(sock, "out of memory\n", 14, 0);
        return;
    }
    json_init(&o.j, o.f);
    json = nargs > 1 && strcmp(args[nargs - 1], "--json") == 0;
    if (nargs > 1 && !json)
        peer = zike_conf_peer(&z->conf, args[1]);
    if (!ok) {
        put(&o, "request too long");
    } else if (strcmp(args[0], "list") == 0) {
        list(z, &o, json);
    } else if (strcmp(args[0], "stats") == 0) {
        stats(z, &o, json);
    } else if (strcmp(args[0], "reload") == 0) {
        ok = zike_reload(z) == 0;
        put(&o, ok ? "reloaded\n" : "reload refused: see the log\n");
    } else if (strcmp(args[0], "initiate") == 0 ||
               strcmp(args[0], "terminate") == 0 ||
               strcmp(args[0], "rekey") == 0) {
        if (peer == NULL) {
            ok = false;
            put(&o, "no peer named '%s'\n", nargs > 1 ? args[1] : "");
        } else if (args[0][0] == 'i') {
            struct ike_sa *sa = ike_sa_for_peer(z, peer->name);
            const char *pol = nargs > 2 ? args[2] : NULL;
            if (sa != NULL && pol != NULL) {
                ok = false;
                put(&o, "peer %s: IKE SA exists; policies are added on "
                    "ACQUIRE\n", peer->name);
            } else {
                ok = sa != NULL || ike_initiate(z, peer, pol) == 0;
                put(&o, ok ? "initiating\n" : "cannot initiate\n");
            }
        } else if (args[0][0] == 't') {
            ok = ike_terminate_peer(z, peer->name) == 0;
            put(&o, ok ? "terminating\n" : "no IKE SA with that peer\n");
        } else {
            bool ike = nargs > 2 && strcmp(args[2], "ike") == 0;
            ok = ike_rekey_peer(z, peer->name, ike) == 0;
            put(&o, ok ? (ike ? "rekeying the IKE SA\n" : "rekeying\n")
                       : "no established IKE SA\n");
        }
    } else if (strcmp(args[0], "groups") == 0) {
        groups(z, &o, json);
    } else if (strcmp(args[0], "leave") == 0 && nargs > 1) {
        ok = group_leave(z, args[1]) == 0;
        put(&o, ok ? "leaving\n" : "not a member of that group\n");
    } else if (strcmp(args[0], "rekey-group") == 0 && nargs > 1) {
        ok = group_rekey(z, args[1]) == 0;
        put(&o, ok ? "new group key made\n" : "not serving that group\n");
    } else {
        ok = false;
        put(&o, "unknown command '%s' (list, stats, groups, initiate, "
            "terminate, rekey, rekey-group, leave, reload)\n", args[0]);
    }
    if (fclose(o.f) != 0) {
        ok = false;
        reply_len = 0;
    }
    zmq_send(sock, ok ? "ok" : "error", ok ? 2 : 5, ZMQ_SNDMORE);
    zmq_send(sock, reply ? reply : "", reply ? reply_len : 0, 0);
    free(reply);
}
