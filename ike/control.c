/* The control socket's commands (doc/zikectl.8). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "control.h"
#include "daemon.h"

#define ARGS_MAX 4U
#define ARG_MAX 256U
#define OUT_MAX (64U * 1024U)

struct out {
    char *buf;
    size_t len;
};

__attribute__((format(printf, 2, 3)))
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->len >= OUT_MAX - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->len, OUT_MAX - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < OUT_MAX - o->len ? (size_t)n
                                                : OUT_MAX - o->len - 1;
}

static void hex(char out[17], const uint8_t spi[8])
{
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", spi[i]);
}

/* Groups served (members, current SA) and joined (SAs held). */
static void groups(struct zike *z, struct out *o, bool json)
{
    put(o, json ? "{\"served\":[" : "");
    for (size_t i = 0; i < z->ngroups; i++) {
        const struct gcks_group *g = &z->groups[i];
        size_t holding = 0;

        for (size_t k = 0; k < g->nmembers; k++)
            holding += g->members[k].have_spi == g->spi;
        if (json)
            put(o, "%s{\"group\":\"%s\",\"spi\":\"%08x\",\"members\":%zu,"
                "\"holding\":%zu,\"rekeys\":%llu,\"peers\":[",
                i ? "," : "", g->name, g->spi, g->nmembers, holding,
                (unsigned long long)g->rekeys);
        else
            put(o, "serves %s: SA %08x, %zu members, %zu hold it, %llu "
                "rekeys\n", g->name, g->spi, g->nmembers, holding,
                (unsigned long long)g->rekeys);
        for (size_t k = 0; k < g->nmembers; k++) {
            const struct gcks_member *m = &g->members[k];
            if (json)
                put(o, "%s{\"peer\":\"%s\",\"sender_id\":%u,"
                    "\"receiver\":%s,\"spi\":\"%08x\"}", k ? "," : "",
                    m->peer, m->sid, m->receiver ? "true" : "false",
                    m->have_spi);
            else
                put(o, "  member %s%s%s sender-id %u has %08x\n", m->peer,
                    m->sender ? " sender" : "",
                    m->receiver ? " receiver" : "", m->sid, m->have_spi);
        }
        put(o, json ? "]}" : "");
    }
    put(o, json ? "],\"joined\":[" : "");
    for (size_t i = 0; i < z->njoined; i++) {
        const struct gm_group *g = &z->joined[i];
        if (json) {
            put(o, "%s{\"group\":\"%s\",\"registered\":%s,"
                "\"sender_id\":%u,\"updates\":%llu,\"spis\":[",
                i ? "," : "", g->name, g->registered ? "true" : "false",
                g->sid, (unsigned long long)g->updates);
            for (size_t k = 0, n = 0; k < GM_SAS_MAX; k++)
                if (g->sas[k].spi)
                    put(o, "%s\"%08x\"", n++ ? "," : "", g->sas[k].spi);
            put(o, "]}");
        } else {
            put(o, "joined %s: %s, sender-id %u, %llu updates, SAs", g->name,
                g->registered ? "registered" : "not registered", g->sid,
                (unsigned long long)g->updates);
            for (size_t k = 0; k < GM_SAS_MAX; k++)
                if (g->sas[k].spi)
                    put(o, " %08x%s", g->sas[k].spi,
                        g->sas[k].retire_at ? "(old)" : "");
            put(o, "\n");
        }
    }
    put(o, json ? "]}\n" : "");
}

static void list(struct zike *z, struct out *o, bool json)
{
    bool first = true;

    if (json)
        put(o, "{\"ike_sas\":[");
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        char si[17], sr[17];
        bool cfirst = true;

        hex(si, sa->spi_i);
        hex(sr, sa->spi_r);
        if (json) {
            put(o, "%s{\"peer\":\"%s\",\"state\":\"%s\",\"role\":\"%s\","
                "\"spi_i\":\"%s\",\"spi_r\":\"%s\",\"age_ms\":%llu,"
                "\"children\":[", first ? "" : ",", sa->peer_name,
                ike_state_name(sa->state),
                sa->initiator ? "initiator" : "responder", si, sr,
                (unsigned long long)(z->now - sa->created));
        } else {
            put(o, "%-16s %-11s %-9s %s_%s\n",
                sa->peer_name[0] ? sa->peer_name : "-",
                ike_state_name(sa->state),
                sa->initiator ? "initiator" : "responder", si, sr);
        }
        for (struct child_sa *c = sa->children; c; c = c->next) {
            const char *state = c->rekeyed ? "rekeyed"
                                : c->out_active ? "active" : "installed";
            if (json)
                put(o, "%s{\"policy\":\"%s\",\"spi_in\":\"%08x\","
                    "\"spi_out\":\"%08x\",\"state\":\"%s\",\"esn\":%s}",
                    cfirst ? "" : ",", c->policy, c->spi_in, c->spi_out,
                    state, c->esn ? "true" : "false");
            else
                put(o, "  child %-16s in %08x out %08x %s\n", c->policy,
                    c->spi_in, c->spi_out, state);
            cfirst = false;
        }
        if (json)
            put(o, "]}");
        first = false;
    }
    if (json)
        put(o, "]}\n");
}

static void stats(struct zike *z, struct out *o, bool json)
{
    size_t ike = 0, child = 0;

    for (struct ike_sa *sa = z->sas; sa; sa = sa->next) {
        ike++;
        for (struct child_sa *c = sa->children; c; c = c->next)
            child++;
    }
#define STATS(X) \
    X(ike_sas, ike) X(child_sas, child) \
    X(ike_established, z->stats.ike_established) \
    X(child_installed, z->stats.child_installed) \
    X(ike_rekeys, z->stats.ike_rekeys) X(rekeys, z->stats.rekeys) X(deleted, z->stats.deleted) \
    X(auth_failed, z->stats.auth_failed) \
    X(cookies_sent, z->stats.cookies_sent) \
    X(retransmits, z->stats.retransmits) \
    X(dead_peers, z->stats.dead_peers) \
    X(dropped_messages, z->stats.dropped_messages)
#define TEXT(name, v) put(o, "%-18s %llu\n", #name, (unsigned long long)(v));
#define JSON(name, v) put(o, ",\"%s\":%llu", #name, (unsigned long long)(v));
    if (json) {
        put(o, "{\"pid\":%d", (int)getpid());
        STATS(JSON)
        put(o, "}\n");
    } else {
        STATS(TEXT)
    }
#undef STATS
#undef TEXT
#undef JSON
}

void control_serve(struct zike *z, void *sock)
{
    char args[ARGS_MAX][ARG_MAX];
    size_t nargs = 0;
    int more = 1;
    struct out o = { NULL, 0 };
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
    if ((o.buf = calloc(1, OUT_MAX)) == NULL)
        return;
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
    zmq_send(sock, ok ? "ok" : "error", ok ? 2 : 5, ZMQ_SNDMORE);
    zmq_send(sock, o.buf, o.len, 0);
    free(o.buf);
}
