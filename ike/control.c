/* The control socket's commands (doc/zikectl.8). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "control.h"
#include "daemon.h"
#include "json.h"
#include "multipart.h"
#include "safe_text.h"
#include "stream.h"
#include "when.h"

#define ARGS_MAX 4U

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

/* How a served group's receivers know who sent: its source-auth. */
static const char *source_auth_name(const struct zike *z,
                                    const struct gcks_group *g)
{
    const struct zike_group *gc = zike_conf_group(&z->conf, g->name);

    return gc != NULL ? zike_source_auth_name(gc->source_auth) : "unknown";
}

static void served_json(struct json *j, const struct zike *z,
                        const struct gcks_group *g, size_t holding)
{
    json_object(j, NULL);
    json_str(j, "group", g->name);
    json_str(j, "source_auth", source_auth_name(z, g));
    json_strf(j, "spi", "0x%08x", g->spi);
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
        json_strf(j, "spi", "0x%08x", m->have_spi);
        json_bool(j, "rejoin", m->rejoin);
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
            json_strf(j, NULL, "0x%08x", g->sas[k].spi);
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
            served_json(&o->j, z, g, holding);
            continue;
        }
        put(o, "serves %s: SA 0x%08x, %zu members, %zu hold it, %llu rekeys, "
            "source-auth %s\n", g->name, g->spi, g->nmembers, holding,
            (unsigned long long)g->rekeys, source_auth_name(z, g));
        for (size_t k = 0; k < g->nmembers; k++) {
            const struct gcks_member *m = &g->members[k];
            put(o, "  member %s%s%s sender-id %u has 0x%08x%s\n", m->peer,
                m->sender ? " sender" : "", m->receiver ? " receiver" : "",
                m->sid, m->have_spi,
                m->rejoin ? " (to register again)" : "");
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
                put(o, " 0x%08x%s", g->sas[k].spi,
                    g->sas[k].retire_at ? "(old)" : "");
        put(o, "\n");
    }
    if (json) {
        json_end(&o->j, ']');
        json_end(&o->j, '}');
        put(o, "\n");
    } else if (z->ngroups == 0 && z->njoined == 0) {
        put(o, "no groups served or joined\n");
    }
}

/* A checking proxy's senders file (doc/configuration.md) for a signed
 * group served here: each sender's Sender ID (its place in senders, as
 * authorised() gives it) and sign-pubkey, under any SPI, since each new
 * key has a new SPI.  Public keys only. */
static bool senders(struct zike *z, struct out *o, const char *name)
{
    char shown[SAFE_TEXT_BYTES(CONTROL_ARG_MAX)];
    char id[SAFE_TEXT_BYTES(IKE_ID_MAX + 1)];
    char pk[41];
    const struct zike_group *gc = NULL;

    for (size_t i = 0; i < z->ngroups && gc == NULL; i++)
        if (strcmp(z->groups[i].name, name) == 0)
            gc = zike_conf_group(&z->conf, name);
    if (gc == NULL) {
        put(o, "not serving a group named '%s'\n",
            safe_text(shown, sizeof shown, name));
        return false;
    }
    if (gc->source_auth != ZIKE_SOURCE_AUTH_SIGNATURE) {
        put(o, "group %s: source-auth %s: only a signed group's senders can "
            "be checked (source MACs by receivers alone)\n", gc->name,
            zike_source_auth_name(gc->source_auth));
        return false;
    }
    put(o, "# The senders of group %s, served by %s: their public keys,\n"
        "# under any SPI (each new key has a new one).  For pubsub_proxy\n"
        "# --verify; again after the group's senders change.\n"
        "senders:\n", gc->name, safe_text(id, sizeof id, z->conf.id));
    for (size_t i = 0; i < gc->nsenders; i++) {
        const struct zike_group_sender *s = &gc->senders[i];

        if (zmq_z85_encode(pk, s->sign_pk, sizeof s->sign_pk) == NULL)
            return false;
        put(o, "  - { spi: any, sender_id: %zu, sign_key: \"z85:%s\" }"
            "  # %s\n", i + 1, pk, safe_text(id, sizeof id, s->id));
    }
    return true;
}

static const char *child_state(const struct child_sa *c)
{
    return c->rekeyed ? "rekeyed" : c->out_active ? "active" : "installed";
}

/* Unix time of a moment of zike's monotonic clock (ms). */
static uint64_t wall(const struct zike *z, time_t now, uint64_t at_ms)
{
    uint64_t ago = (z->now - at_ms) / 1000U;

    return (uint64_t)now > ago ? (uint64_t)now - ago : 0;
}

static uint64_t ago_s(const struct zike *z, uint64_t at_ms)
{
    return z->now > at_ms ? (z->now - at_ms) / 1000U : 0;
}

/* The newest handshake of an IKE SA: its own, or a child SA's. */
static uint64_t last_handshake(const struct ike_sa *sa)
{
    uint64_t t = sa->established_at;

    for (const struct child_sa *c = sa->children; c; c = c->next)
        if (c->installed_at > t)
            t = c->installed_at;
    return t;
}

/* A child SA's two SAs in the SAD (zeroed if one is gone). */
struct child_view {
    zesp_sa_info in, out;
    uint64_t used_s;          /* since installed in the SAD */
};

/* The age is the SAD's, the one its time limits count: not now minus
 * created, which a step of the wall clock would make say "expired" of an
 * SA good for an hour, or the reverse. */
static void child_view(struct zike *z, const struct child_sa *c,
                       struct child_view *v)
{
    memset(v, 0, sizeof *v);
    if (zesp_sa_info_get(z->sad, c->spi_in, ZESP_DIR_IN, &v->in) != 0)
        memset(&v->in, 0, sizeof v->in);
    if (zesp_sa_info_get(z->sad, c->spi_out, ZESP_DIR_OUT, &v->out) != 0)
        memset(&v->out, 0, sizeof v->out);
    if (v->out.spi != 0)
        v->used_s = v->out.age;
}

/* Seconds left to a limit of seconds; -1: no such limit. */
static int64_t left_s(uint64_t limit, uint64_t used)
{
    if (limit == 0)
        return -1;
    return used < limit ? (int64_t)(limit - used) : 0;
}

static void child_json(struct zike *z, struct json *j, time_t now,
                       const struct child_sa *c)
{
    struct child_view v;
    int64_t rekey, expire;

    child_view(z, c, &v);
    rekey = left_s(v.out.soft.seconds, v.used_s);
    expire = left_s(v.out.hard.seconds, v.used_s);
    json_object(j, NULL);
    json_str(j, "policy", c->policy);
    json_strf(j, "spi_in", "0x%08x", c->spi_in);
    json_strf(j, "spi_out", "0x%08x", c->spi_out);
    json_str(j, "state", child_state(c));
    json_bool(j, "esn", c->esn);
    json_bool(j, "lanes", c->lanes);
    json_u64(j, "installed", wall(z, now, c->installed_at));
    json_u64(j, "messages_in", v.in.stats.messages);
    json_u64(j, "bytes_in", v.in.stats.bytes);
    json_u64(j, "messages_out", v.out.stats.messages);
    json_u64(j, "bytes_out", v.out.stats.bytes);
    if (rekey >= 0 && !c->rekeyed)
        json_u64(j, "rekey_in", (uint64_t)rekey);
    if (expire >= 0)
        json_u64(j, "expires_in", (uint64_t)expire);
    json_object(j, "hard");
    json_u64(j, "seconds", v.out.hard.seconds);
    json_u64(j, "messages", v.out.hard.messages);
    json_u64(j, "bytes", v.out.hard.bytes);
    json_end(j, '}');
    json_end(j, '}');
}

static void ike_sa_json(struct zike *z, struct json *j, time_t now,
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
    json_u64(j, "established",
             sa->established_at ? wall(z, now, sa->established_at) : 0);
    json_u64(j, "last_handshake",
             last_handshake(sa) ? wall(z, now, last_handshake(sa)) : 0);
    json_u64(j, "last_heard_ms", z->now - sa->last_heard);
    if (sa->established_at && sa->rekey_at)
        json_u64(j, "rekey_in", sa->rekey_at > z->now
                                    ? (sa->rekey_at - z->now) / 1000U : 0);
    json_array(j, "children");
    for (const struct child_sa *c = sa->children; c; c = c->next)
        child_json(z, j, now, c);
    json_end(j, ']');
    json_end(j, '}');
}

/* "12s of 1h", "20 of 1000", or without a limit just the use. */
static void used_of(struct out *o, const char *used, const char *limit,
                    bool has_limit, const char *unit)
{
    put(o, "%s%s%s%s%s", used, unit, has_limit ? " of " : "",
        has_limit ? limit : "", has_limit ? unit : "");
}

static void child_text(struct zike *z, struct out *o,
                       const struct child_sa *c)
{
    char a[WHEN_BYTES], b[WHEN_BYTES];
    struct child_view v;
    int64_t rekey, expire;
    uint64_t msgs, bytes;

    child_view(z, c, &v);
    rekey = left_s(v.out.soft.seconds, v.used_s);
    expire = left_s(v.out.hard.seconds, v.used_s);
    put(o, "  child %-16s in 0x%08x out 0x%08x %s\n", c->policy, c->spi_in,
        c->spi_out, child_state(c));
    put(o, "    installed %s ago", when_duration(a, ago_s(z, c->installed_at)));
    if (c->rekeyed && c->retire_at)
        put(o, ", replaced: deleted in %s",
            when_duration(a, c->retire_at > z->now
                                 ? (c->retire_at - z->now + 999) / 1000U : 0));
    else if (rekey > 0)
        put(o, ", rekeying in %s", when_duration(a, (uint64_t)rekey));
    else if (rekey == 0)
        put(o, ", rekey due");
    if (expire >= 0)
        put(o, ", expires in %s", when_duration(a, (uint64_t)expire));
    put(o, "\n    in  0x%08x: %llu messages, %s\n", c->spi_in,
        (unsigned long long)v.in.stats.messages,
        when_bytes(a, v.in.stats.bytes));
    put(o, "    out 0x%08x: %llu messages, %s\n", c->spi_out,
        (unsigned long long)v.out.stats.messages,
        when_bytes(a, v.out.stats.bytes));
    /* A limit holds for each SA: the busier one reaches it first. */
    msgs = v.in.stats.messages > v.out.stats.messages ? v.in.stats.messages
                                                      : v.out.stats.messages;
    bytes = v.in.stats.bytes > v.out.stats.bytes ? v.in.stats.bytes
                                                 : v.out.stats.bytes;
    put(o, "    lifetime used: ");
    used_of(o, when_duration(a, v.used_s),
            when_duration(b, v.out.hard.seconds), v.out.hard.seconds, "");
    put(o, ", ");
    snprintf(a, sizeof a, "%llu", (unsigned long long)msgs);
    snprintf(b, sizeof b, "%llu", (unsigned long long)v.out.hard.messages);
    used_of(o, a, b, v.out.hard.messages, " messages");
    put(o, ", ");
    used_of(o, when_bytes(a, bytes), when_bytes(b, v.out.hard.bytes),
            v.out.hard.bytes, "");
    put(o, "%s\n", v.out.hard.seconds || v.out.hard.messages ||
                        v.out.hard.bytes ? "" : " (no limits)");
}

static void ike_sa_text(struct zike *z, struct out *o, time_t now,
                        const struct ike_sa *sa)
{
    char si[17], sr[17], a[WHEN_BYTES], b[WHEN_BYTES];

    hex(si, sa->spi_i);
    hex(sr, sa->spi_r);
    put(o, "%-16s %-11s %-9s %s_%s\n",
        sa->peer_name[0] ? sa->peer_name : "-", ike_state_name(sa->state),
        sa->initiator ? "initiator" : "responder", si, sr);
    if (sa->established_at == 0) {
        put(o, "  created %s ago, last heard %s ago\n",
            when_duration(a, ago_s(z, sa->created)),
            when_duration(b, ago_s(z, sa->last_heard)));
    } else {
        put(o, "  established %s ago (%s)",
            when_duration(a, ago_s(z, sa->established_at)),
            when_iso8601(b, (time_t)wall(z, now, sa->established_at)));
        if (sa->rekey_at)
            put(o, ", rekeying in %s",
                when_duration(a, sa->rekey_at > z->now
                                     ? (sa->rekey_at - z->now) / 1000U : 0));
        put(o, "\n  last handshake %s ago, last heard %s ago\n",
            when_duration(a, ago_s(z, last_handshake(sa))),
            when_duration(b, ago_s(z, sa->last_heard)));
    }
    for (const struct child_sa *c = sa->children; c; c = c->next)
        child_text(z, o, c);
}

static void list(struct zike *z, struct out *o, bool json)
{
    time_t now = time(NULL);

    if (json) {
        json_object(&o->j, NULL);
        json_array(&o->j, "ike_sas");
    }
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (json)
            ike_sa_json(z, &o->j, now, sa);
        else
            ike_sa_text(z, o, now, sa);
    if (json) {
        json_end(&o->j, ']');
        json_end(&o->j, '}');
        put(o, "\n");
    } else if (z->sas == NULL) {
        put(o, "no IKE SAs\n");
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
    X(ike_refused, z->stats.ike_refused) \
    X(ike_rekeys_refused, z->stats.ike_rekeys_refused) \
    X(ike_init_invalid, z->stats.ike_init_invalid) \
    X(ike_requests_invalid, z->stats.ike_requests_invalid) \
    X(dropped_messages, z->stats.dropped_messages) \
    X(group_rekeys, z->stats.group_rekeys) \
    X(group_registrations, z->stats.group_registrations) \
    X(group_updates, z->stats.group_updates) \
    X(group_holddown_refusals, z->stats.group_holddown_refusals)
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
    stat_line(o, json, "listen_connections", z->listen_nconns);
    stat_line(o, json, "listen_authenticated", listen_authenticated(z));
    if (json) {
        json_end(&o->j, '}');
        put(o, "\n");
    }
#undef STATS
#undef LINE
}

/* The reply, both parts, each sent again if a signal interrupts it: a REP
 * socket reads no request until it has answered the last one whole. */
static void answer(void *sock, bool ok, const char *text, size_t len)
{
    if (multipart_send_next(sock, ok ? "ok" : "error", ok ? 2 : 5,
                            ZMQ_SNDMORE) >= 0)
        multipart_send_next(sock, text, len, 0);
}

void control_serve(struct zike *z, void *sock)
{
    char args[ARGS_MAX][CONTROL_ARG_MAX];
    char shown[SAFE_TEXT_BYTES(CONTROL_ARG_MAX)];
    size_t nargs = 0;
    int more = 1;
    struct out o;
    char *reply = NULL;
    size_t reply_len = 0;
    bool ok = true, nul = false, json;
    const struct zike_peer *peer = NULL;

    memset(args, 0, sizeof args);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        /* A signal between parts would leave the rest for the next call,
         * read there as a request of its own (multipart.h). */
        if ((nargs == 0 ? zmq_msg_recv(&part, sock, ZMQ_DONTWAIT)
                        : multipart_recv_next(&part, sock,
                                              ZMQ_DONTWAIT)) < 0) {
            zmq_msg_close(&part);
            return;
        }
        more = zmq_msg_more(&part);
        if (nargs < ARGS_MAX && zmq_msg_size(&part) < CONTROL_ARG_MAX)
            memcpy(args[nargs], zmq_msg_data(&part), zmq_msg_size(&part));
        else
            ok = false;
        /* Parts are text: "list\0x" is not "list". */
        if (ok && strlen(args[nargs]) != zmq_msg_size(&part)) {
            nul = true;
            ok = false;
        }
        nargs++;
        zmq_msg_close(&part);
    }
    if ((o.f = open_memstream(&reply, &reply_len)) == NULL) {
        answer(sock, false, "out of memory\n", 14);
        return;
    }
    json_init(&o.j, o.f);
    /* Past ARGS_MAX parts, nargs counts parts that are not in args.
     * zikectl puts --json last: taken off, so that no command reads it
     * as its PEER, POLICY or GROUP (a command without a JSON answer
     * answers in text). */
    json = ok && nargs > 1 && strcmp(args[nargs - 1], "--json") == 0;
    if (json)
        nargs--;
    if (ok && nargs > 1)
        peer = zike_conf_peer(&z->conf, args[1]);
    if (!ok) {
        put(&o, nul ? "a part of the request holds a NUL byte\n"
                    : "request too long");
    } else if ((strcmp(args[0], "list") == 0 ||
                strcmp(args[0], "stats") == 0 ||
                strcmp(args[0], "groups") == 0 ||
                strcmp(args[0], "reload") == 0) && nargs != 1) {
        /* "list bob" listed every SA, as if bob's: an argument these
         * take none of is refused, as rekey's and terminate's are. */
        ok = false;
        put(&o, "usage: %s (no arguments)\n", args[0]);
    } else if (strcmp(args[0], "list") == 0) {
        list(z, &o, json);
    } else if (strcmp(args[0], "stats") == 0) {
        stats(z, &o, json);
    } else if (strcmp(args[0], "reload") == 0) {
        char why[1200];
        ok = zike_reload(z, why, sizeof why) == 0;
        put(&o, "%s\n", ok ? "reloaded" : why);
    } else if (strcmp(args[0], "initiate") == 0 ||
               strcmp(args[0], "terminate") == 0 ||
               strcmp(args[0], "rekey") == 0) {
        /* An argument too many, or a rekey's other than "ike", is
         * refused: "rekey bob IKE" rekeyed the child SAs and said so. */
        size_t most = args[0][0] == 't' ? 2 : 3;
        if (nargs < 2 || nargs > most ||
            (args[0][0] == 'r' && nargs == 3 && strcmp(args[2], "ike") != 0)) {
            ok = false;
            put(&o, "usage: %s\n", args[0][0] == 'i' ? "initiate PEER [POLICY]"
                                   : args[0][0] == 't' ? "terminate PEER"
                                                       : "rekey PEER [ike]");
        } else if (peer == NULL) {
            ok = false;
            put(&o, "no peer named '%s'\n",
                safe_text(shown, sizeof shown, args[1]));
        } else if (args[0][0] == 'i') {
            struct ike_sa *sa = ike_sa_for_peer(z, peer->name);
            const char *pol = nargs > 2 ? args[2] : NULL;
            if (sa != NULL && pol != NULL) {
                ok = false;
                put(&o, "peer %s: IKE SA exists; policies are added on "
                    "ACQUIRE\n", peer->name);
            } else if (sa == NULL && peer->endpoint[0] == '\0') {
                ok = false;
                put(&o, "peer %s has no endpoint: it initiates to us "
                    "(give it an endpoint to initiate to it)\n", peer->name);
            } else if (sa == NULL && pol != NULL &&
                       !zike_conf_serves(peer, pol)) {
                ok = false;
                put(&o, "peer %s does not serve policy '%s': name one "
                    "of its policies (its policies in zike's "
                    "configuration)\n",
                    peer->name, safe_text(shown, sizeof shown, pol));
            } else if (sa != NULL) {
                /* Nothing to do, and said so: "initiating" here had the
                 * operator wait for an exchange that never came. */
                put(&o, "peer %s: IKE SA exists already (%s): nothing "
                    "initiated\n", peer->name,
                    sa->state == IKE_ST_ESTABLISHED ? "established"
                                                    : "being negotiated");
            } else {
                ok = ike_initiate(z, peer, pol) == 0;
                put(&o, ok ? "initiating\n"
                           : "cannot initiate (zike's log says why)\n");
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
    } else if (strcmp(args[0], "senders") == 0) {
        /* A YAML file, for a proxy: no JSON of it. */
        ok = nargs == 2 && !json && senders(z, &o, args[1]);
        if (nargs != 2 || json)
            put(&o, "usage: senders GROUP (it prints a YAML file; no "
                "--json)\n");
    } else if ((strcmp(args[0], "leave") == 0 ||
                strcmp(args[0], "rekey-group") == 0) &&
               nargs != 2) {
        /* A known command without its group: say so, not "unknown". */
        ok = false;
        put(&o, "usage: %s GROUP\n", args[0]);
    } else if (strcmp(args[0], "leave") == 0) {
        ok = group_leave(z, args[1]) == 0;
        put(&o, ok ? "leaving\n" : "not a member of that group\n");
    } else if (strcmp(args[0], "rekey-group") == 0) {
        ok = group_rekey(z, args[1]) == 0;
        put(&o, ok ? "new group key made\n" : "not serving that group\n");
    } else {
        ok = false;
        put(&o, "unknown command '%s' (list, stats, groups, initiate, "
            "terminate, rekey, rekey-group, senders, leave, reload)\n",
            safe_text(shown, sizeof shown, args[0]));
    }
    if (fclose(o.f) != 0) {
        ok = false;
        reply_len = 0;
    }
    answer(sock, ok, reply ? reply : "", reply ? reply_len : 0);
    free(reply);
}
