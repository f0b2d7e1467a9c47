/*
 * The group part of zike's configuration (doc/zike.conf.5): `groups`, the
 * groups this zike serves as key server, and `join`, the groups it is a
 * member of.  Checked with the rest of the file.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "yaml_fields.h"
#include "zike.h"

#define FAIL(y, n, f, ...) YFAIL(y, n, f, __VA_ARGS__)

static int parse_pubkey(struct yctx *y, const struct ydoc_node *v,
                        const char *field, uint8_t pk[ZESP_SIGN_PUBLICBYTES])
{
    if (yf_type(y, v, YDOC_SCALAR, field) != 0)
        return -1;
    if (strlen(v->scalar) != 40 || zmq_z85_decode(pk, v->scalar) == NULL)
        return FAIL(y, v, field, "expected 40 Z85 characters");
    /* A point of small or mixed order, or not canonical, verifies no
     * signature and gives no X25519 secret: with source MACs every
     * member's install of the group SA would fail, not this member's. */
    if (crypto_core_ed25519_is_valid_point(pk) != 1)
        return FAIL(y, v, field, "not an Ed25519 public key (a canonical "
                    "point of the prime-order subgroup)");
    return 0;
}

/* Two members' keys that are one: equal, or equal but for the sign of x
 * (-A's secret is -a, so A's holder signs for -A too, and both have the
 * one X25519 key, so it derives every MAC key -A's holder would).  A key
 * listed twice would let one member send under two Sender IDs. */
static bool same_member_key(const uint8_t a[ZESP_SIGN_PUBLICBYTES],
                            const uint8_t b[ZESP_SIGN_PUBLICBYTES])
{
    enum { LAST = ZESP_SIGN_PUBLICBYTES - 1 };

    return sodium_memcmp(a, b, LAST) == 0 &&
           ((a[LAST] ^ b[LAST]) & 0x7fU) == 0;
}

/* The head of a `{ id, ... }` entry: a map of known keys whose id is
 * copied to id. */
static int parse_entry_id(struct yctx *y, const struct ydoc_node *n,
                          const char *field, const char *const *keys,
                          char *id, size_t idlen)
{
    const struct ydoc_node *v;
    char f[160];

    if (yf_type(y, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(y, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.id", field);
    if ((v = ydoc_get(n, "id")) == NULL)
        return FAIL(y, n, f, "missing");
    return zike_conf_text(y, v, f, id, idlen);
}

static int parse_sender(struct yctx *y, const struct ydoc_node *n,
                        const char *field, struct zike_group_sender *s,
                        enum zike_source_auth source_auth)
{
    static const char *const keys[] = { "id", "sign-pubkey", NULL };
    const struct ydoc_node *v;
    char f[160];

    if (n->type == YDOC_SCALAR) {
        if (source_auth != ZIKE_SOURCE_AUTH_NONE)
            return FAIL(y, n, field, "source-auth: give {id, sign-pubkey}");
        return zike_conf_text(y, n, field, s->id, sizeof s->id);
    }
    if (parse_entry_id(y, n, field, keys, s->id, sizeof s->id) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.sign-pubkey", field);
    if ((v = ydoc_get(n, "sign-pubkey")) == NULL)
        return source_auth != ZIKE_SOURCE_AUTH_NONE
                   ? FAIL(y, n, f, "missing (source-auth is on)") : 0;
    /* A key given asks for the sender's messages to be its own: without
     * source-auth it would check nothing, and any member could send as
     * this one. */
    if (source_auth == ZIKE_SOURCE_AUTH_NONE)
        return FAIL(y, v, f, "only with source-auth (signature or mac): "
                    "without it no message is checked against this key, "
                    "and any member may send as '%s'", s->id);
    return parse_pubkey(y, v, f, s->sign_pk);
}

static int parse_senders(struct yctx *y, const struct ydoc_node *n,
                         const char *field, struct zike_group *g)
{
    char f[128];

    if (yf_type(y, n, YDOC_SEQ, field) != 0)
        return -1;
    if (n->n > ZIKE_GROUP_MEMBERS_MAX)
        return FAIL(y, n, field, "at most %u", ZIKE_GROUP_MEMBERS_MAX);
    for (size_t i = 0; i < n->n; i++) {
        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (parse_sender(y, n->items[i], f, &g->senders[i],
                         g->source_auth) != 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(g->senders[k].id, g->senders[i].id) == 0)
                return FAIL(y, n->items[i], f, "'%s' listed twice",
                            g->senders[i].id);
            if (g->source_auth != ZIKE_SOURCE_AUTH_NONE &&
                same_member_key(g->senders[k].sign_pk,
                                g->senders[i].sign_pk)) {
                snprintf(f, sizeof f, "%s[%zu].sign-pubkey", field, i);
                return FAIL(y, ydoc_get(n->items[i], "sign-pubkey"), f,
                            "'%s': '%s''s key: one key, one member",
                            g->senders[i].id, g->senders[k].id);
            }
        }
    }
    g->nsenders = n->n;
    return 0;
}

/* Source MACs: one member, one member ID and one key.  A receiver that
 * sends has its Sender ID and its key in senders; one that does not gives
 * both, its member ID outside the Sender IDs. */
static int receiver_mac_id(struct yctx *y, const struct ydoc_node *n,
                           const char *field, const struct zike_group *g,
                           struct zike_group_receiver *r, bool have_id,
                           bool have_pk)
{
    char f[160];

    for (size_t k = 0; k < g->nsenders; k++) {
        const struct zike_group_sender *s = &g->senders[k];

        if (strcmp(s->id, r->id) == 0) {
            if (have_id && r->member_id != k + 1)
                return FAIL(y, n, field, "'%s' sends: its member ID is its "
                            "Sender ID %zu", r->id, k + 1);
            if (have_pk && sodium_memcmp(r->sign_pk, s->sign_pk,
                                         sizeof r->sign_pk) != 0)
                return FAIL(y, n, field, "'%s': sign-pubkey differs from its "
                            "sign-pubkey in senders", r->id);
            r->member_id = (uint16_t)(k + 1);
            memcpy(r->sign_pk, s->sign_pk, sizeof r->sign_pk);
            return 0;
        }
        if (have_pk && same_member_key(r->sign_pk, s->sign_pk))
            return FAIL(y, n, field, "'%s': sign-pubkey is sender '%s''s: "
                        "one key, one member", r->id, s->id);
    }
    snprintf(f, sizeof f, "%s.member-id", field);
    if (!have_id)
        return FAIL(y, n, f, "missing (source-auth: mac: the ID of its "
                    "entry in each message)");
    if (r->member_id <= g->nsenders)
        return FAIL(y, n, f, "%u is the Sender ID of '%s'", r->member_id,
                    g->senders[r->member_id - 1].id);
    snprintf(f, sizeof f, "%s.sign-pubkey", field);
    if (!have_pk)
        return FAIL(y, n, f, "missing (source-auth: mac)");
    return 0;
}

static int parse_receiver(struct yctx *y, const struct ydoc_node *n,
                          const char *field, const struct zike_group *g,
                          struct zike_group_receiver *r)
{
    static const char *const keys[] = { "id", "member-id", "sign-pubkey",
                                        NULL };
    bool mac = g->source_auth == ZIKE_SOURCE_AUTH_MAC;
    const struct ydoc_node *vid = NULL, *vpk = NULL;
    char f[160];
    uint64_t u;

    if (n->type == YDOC_SCALAR) {
        if (zike_conf_text(y, n, field, r->id, sizeof r->id) != 0)
            return -1;
    } else {
        if (parse_entry_id(y, n, field, keys, r->id, sizeof r->id) != 0)
            return -1;
        snprintf(f, sizeof f, "%s.member-id", field);
        if ((vid = ydoc_get(n, "member-id")) != NULL) {
            if (!mac)
                return FAIL(y, vid, f, "only with source-auth: mac");
            if (yf_uint(y, vid, f, ZESP_SENDER_ID_MAX, NULL, &u) != 0)
                return -1;
            if (u == 0)
                return FAIL(y, vid, f, "1 to %u", ZESP_SENDER_ID_MAX);
            r->member_id = (uint16_t)u;
        }
        snprintf(f, sizeof f, "%s.sign-pubkey", field);
        if ((vpk = ydoc_get(n, "sign-pubkey")) != NULL) {
            if (!mac)
                return FAIL(y, vpk, f, "only with source-auth: mac");
            if (parse_pubkey(y, vpk, f, r->sign_pk) != 0)
                return -1;
        }
    }
    return mac ? receiver_mac_id(y, n, field, g, r, vid != NULL, vpk != NULL)
               : 0;
}

static int parse_receivers(struct yctx *y, const struct ydoc_node *n,
                           const char *field, struct zike_group *g)
{
    bool mac = g->source_auth == ZIKE_SOURCE_AUTH_MAC;
    char f[128];

    if (yf_type(y, n, YDOC_SEQ, field) != 0)
        return -1;
    if (n->n > ZIKE_GROUP_MEMBERS_MAX)
        return FAIL(y, n, field, "at most %u", ZIKE_GROUP_MEMBERS_MAX);
    if (mac && n->n > ZESP_SOURCE_MAC_MAX)
        return FAIL(y, n, field, "at most %u with source-auth: mac (a MAC "
                    "per receiver in each message; larger groups sign)",
                    ZESP_SOURCE_MAC_MAX);
    for (size_t i = 0; i < n->n; i++) {
        struct zike_group_receiver *r = &g->receivers[i];

        snprintf(f, sizeof f, "%s[%zu]", field, i);
        if (parse_receiver(y, n->items[i], f, g, r) != 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            const struct zike_group_receiver *o = &g->receivers[k];
            if (strcmp(o->id, r->id) == 0)
                return FAIL(y, n->items[i], f, "'%s' listed twice", r->id);
            if (mac && o->member_id == r->member_id)
                return FAIL(y, n->items[i], f, "member ID %u twice (also "
                            "'%s')", r->member_id, o->id);
            if (mac && same_member_key(o->sign_pk, r->sign_pk))
                return FAIL(y, n->items[i], f, "'%s': sign-pubkey is "
                            "'%s''s too: one key, one member", r->id, o->id);
        }
    }
    g->nreceivers = n->n;
    return 0;
}

/* source-auth's values, as the configuration and zikectl name them. */
static const char *const source_auth_names[] = {
    [ZIKE_SOURCE_AUTH_NONE] = "false",
    [ZIKE_SOURCE_AUTH_SIGNATURE] = "signature",
    [ZIKE_SOURCE_AUTH_MAC] = "mac",
};

const char *zike_source_auth_name(enum zike_source_auth a)
{
    return (size_t)a < sizeof source_auth_names / sizeof source_auth_names[0]
               ? source_auth_names[a]
               : "unknown";
}

static int parse_source_auth(struct yctx *y, const struct ydoc_node *v,
                             const char *field, enum zike_source_auth *out)
{
    if (yf_type(y, v, YDOC_SCALAR, field) != 0)
        return -1;
    if (strcmp(v->scalar, "true") == 0) {    /* before mac existed */
        *out = ZIKE_SOURCE_AUTH_SIGNATURE;
        return 0;
    }
    for (size_t i = 0;
         i < sizeof source_auth_names / sizeof source_auth_names[0]; i++)
        if (strcmp(v->scalar, source_auth_names[i]) == 0) {
            *out = (enum zike_source_auth)i;
            return 0;
        }
    return FAIL(y, v, field, "expected signature, mac or false, found '%s'",
                v->scalar);
}

static int parse_delay(struct yctx *y, const struct ydoc_node *n,
                       const char *field, uint16_t *out)
{
    uint64_t u;

    if (yf_uint(y, n, field, 3600, "smh", &u) != 0)
        return -1;
    *out = (uint16_t)u;
    return 0;
}

static int parse_group(struct yctx *y, const struct ydoc_node *n, size_t i,
                       struct zike_group *g)
{
    static const char *const keys[] = {
        "name", "transform", "lifetime", "activation-delay",
        "deactivation-delay", "source-auth", "rekey-on-join",
        "rekey-holddown", "senders", "receivers", NULL };
    const struct ydoc_node *v;
    char f[64];
    uint64_t u;
    int b;

#define F(key) (snprintf(f, sizeof f, "groups[%zu].%s", i, key), f)
    if (yf_type(y, n, YDOC_MAP, F("")) != 0 ||
        yf_known_keys(y, n, F(""), keys) != 0)
        return -1;
    g->transform = ZESP_CHACHA20_POLY1305;
    g->lifetime = 3600;
    g->atd = 1;
    g->dtd = 5;
    g->rekey_holddown = ZIKE_GROUP_REKEY_HOLDDOWN;
    if ((v = ydoc_get(n, "name")) == NULL)
        return FAIL(y, n, F("name"), "missing");
    if (yf_name(y, v, F("name"), g->name, sizeof g->name) != 0)
        return -1;
    if ((v = ydoc_get(n, "transform"))) {
        if (yf_transform(y, v, F("transform"), &g->transform) != 0)
            return -1;
        if (g->transform != ZESP_CHACHA20_POLY1305 &&
            g->transform != ZESP_AES256GCM)
            return FAIL(y, v, F("transform"), "a group SA encrypts: "
                        "chacha20-poly1305 or aes256gcm");
    }
    if ((v = ydoc_get(n, "lifetime"))) {
        if (yf_uint(y, v, F("lifetime"), ZIKE_GROUP_LIFETIME_MAX, "smhd", &u) != 0)
            return -1;
        if (u < 4)
            return FAIL(y, v, F("lifetime"), "at least 4 seconds");
        g->lifetime = (uint32_t)u;
    }
    if ((v = ydoc_get(n, "activation-delay")) &&
        parse_delay(y, v, F("activation-delay"), &g->atd) != 0)
        return -1;
    if ((v = ydoc_get(n, "deactivation-delay")) &&
        parse_delay(y, v, F("deactivation-delay"), &g->dtd) != 0)
        return -1;
    if ((uint64_t)g->atd + g->dtd >= g->lifetime / 2)
        return FAIL(y, n, F("lifetime"), "must be more than twice the "
                    "activation and deactivation delays");
    if ((v = ydoc_get(n, "source-auth")) &&
        parse_source_auth(y, v, F("source-auth"), &g->source_auth) != 0)
        return -1;
    if ((v = ydoc_get(n, "rekey-on-join"))) {
        if (yf_bool(y, v, F("rekey-on-join"), &b) != 0)
            return -1;
        g->rekey_on_join = b;
    }
    if ((v = ydoc_get(n, "rekey-holddown")) &&
        parse_delay(y, v, F("rekey-holddown"), &g->rekey_holddown) != 0)
        return -1;
    if ((v = ydoc_get(n, "senders")) &&
        parse_senders(y, v, F("senders"), g) != 0)
        return -1;
    if ((v = ydoc_get(n, "receivers")) &&
        parse_receivers(y, v, F("receivers"), g) != 0)
        return -1;
    if (g->nsenders + g->nreceivers == 0)
        return FAIL(y, n, F("senders"), "a group needs members "
                    "(senders, receivers)");
    if (g->source_auth == ZIKE_SOURCE_AUTH_MAC && g->nreceivers == 0)
        return FAIL(y, n, F("receivers"), "missing (source-auth: mac: "
                    "senders make a MAC for each receiver)");
    return 0;
#undef F
}

static int parse_join(struct yctx *y, const struct ydoc_node *n, size_t i,
                      struct zike_conf *c, struct zike_join *j)
{
    static const char *const keys[] = {
        "group", "server", "role", "policy", "sign-key", "replay-scope",
        "max-key-lifetime", "source-auth", NULL };
    const struct ydoc_node *v;
    const struct zike_peer *server;
    uint64_t u;
    char f[64];

#define F(key) (snprintf(f, sizeof f, "join[%zu].%s", i, key), f)
    if (yf_type(y, n, YDOC_MAP, F("")) != 0 ||
        yf_known_keys(y, n, F(""), keys) != 0)
        return -1;
    if ((v = ydoc_get(n, "group")) == NULL)
        return FAIL(y, n, F("group"), "missing");
    if (yf_name(y, v, F("group"), j->group, sizeof j->group) != 0)
        return -1;
    if ((v = ydoc_get(n, "server")) == NULL)
        return FAIL(y, n, F("server"), "missing (the peer that serves it)");
    if (yf_name(y, v, F("server"), j->server, sizeof j->server) != 0)
        return -1;
    if ((server = zike_conf_peer(c, j->server)) == NULL)
        return FAIL(y, v, F("server"), "no peer named '%s'", j->server);
    if (server->endpoint[0] == '\0')
        return FAIL(y, v, F("server"), "peer '%s' needs an endpoint: members "
                    "initiate to their key server", j->server);
    if ((v = ydoc_get(n, "role")) == NULL)
        return FAIL(y, n, F("role"), "missing (sender, receiver or both)");
    if (yf_type(y, v, YDOC_SCALAR, F("role")) != 0)
        return -1;
    j->sender = strcmp(v->scalar, "sender") == 0 ||
                strcmp(v->scalar, "both") == 0;
    j->receiver = strcmp(v->scalar, "receiver") == 0 ||
                  strcmp(v->scalar, "both") == 0;
    if (!j->sender && !j->receiver)
        return FAIL(y, v, F("role"), "expected sender, receiver or both, "
                    "found '%s'", v->scalar);
    snprintf(j->policy, sizeof j->policy, "%s", j->group);
    if ((v = ydoc_get(n, "policy")) &&
        yf_name(y, v, F("policy"), j->policy, sizeof j->policy) != 0)
        return -1;
    if ((v = ydoc_get(n, "replay-scope")) &&
        zike_conf_replay_scope(y, v, F("replay-scope"), &j->policy_flags) != 0)
        return -1;
    j->max_key_lifetime = 0;                 /* gm_bound_lifetime */
    if ((v = ydoc_get(n, "max-key-lifetime"))) {
        if (yf_uint(y, v, F("max-key-lifetime"), ZIKE_GROUP_LIFETIME_MAX,
                    "smhd", &u) != 0)
            return -1;
        if (u < 4)
            return FAIL(y, v, F("max-key-lifetime"), "at least 4 seconds");
        j->max_key_lifetime = (uint32_t)u;
    }
    /* Receivers need it too in a group with source MACs. */
    if ((v = ydoc_get(n, "sign-key")) &&
        zike_conf_sign_key(y, v, F("sign-key"), &j->sign_sk) != 0)
        return -1;
    /* The member's own policy decides, as an SPD does: a key server
     * misconfigured, or not the one meant, does not turn origin
     * authentication off unseen.  A sign-key says some is expected. */
    j->source_auth_accepts = j->sign_sk != NULL
        ? (1U << ZIKE_SOURCE_AUTH_SIGNATURE) | (1U << ZIKE_SOURCE_AUTH_MAC)
        : ZIKE_SOURCE_AUTH_ANY;
    if ((v = ydoc_get(n, "source-auth"))) {
        enum zike_source_auth a;

        if (parse_source_auth(y, v, F("source-auth"), &a) != 0)
            return -1;
        j->source_auth_accepts = a == ZIKE_SOURCE_AUTH_NONE
                                     ? ZIKE_SOURCE_AUTH_ANY : 1U << a;
        if (j->sign_sk == NULL && (a == ZIKE_SOURCE_AUTH_MAC ||
                                   (a == ZIKE_SOURCE_AUTH_SIGNATURE &&
                                    j->sender)))
            return FAIL(y, v, F("source-auth"), "%s needs sign-key%s",
                        v->scalar, a == ZIKE_SOURCE_AUTH_MAC
                                       ? "" : " for a sender");
    }
    return 0;
#undef F
}

/* A policy is sent on under one key manager: a join's group SA would
 * take the outbound traffic of a pairwise peer's policy, or of another
 * group's, on the key of a key server not meant to read it. */
static int join_policy_own(struct yctx *y, const struct ydoc_node *n,
                           size_t i, const struct zike_conf *c)
{
    const struct zike_join *j = &c->joins[i];
    const struct ydoc_node *v = ydoc_get(n, "policy");
    char f[64];

    snprintf(f, sizeof f, "join[%zu].policy", i);
    for (size_t k = 0; k < i; k++)
        if (strcmp(c->joins[k].policy, j->policy) == 0)
            return FAIL(y, v ? v : n, f, "'%s'%s is join[%zu]'s policy too "
                        "(group '%s'): one group per policy", j->policy,
                        v ? "" : " (the group's name)", k, c->joins[k].group);
    for (size_t k = 0; k < c->npeers; k++)
        if (zike_conf_serves(&c->peers[k], j->policy))
            return FAIL(y, v ? v : n, f, "'%s'%s is peer '%s''s policy too: "
                        "a group's policy is its own", j->policy,
                        v ? "" : " (the group's name)", c->peers[k].name);
    return 0;
}

/* A member registers over an IKE SA, which only a peer has: an identity
 * that is no peer's (a typo, a peer since removed) would be a member
 * that never joins, and, as a sender, a Sender ID held for no one. */
static int members_are_peers(struct yctx *y, const struct ydoc_node *n,
                             size_t i, const struct zike_conf *c,
                             const struct zike_group *g)
{
    static const char *const lists[] = { "senders", "receivers" };
    char f[96];

    for (size_t l = 0; l < 2; l++) {
        const struct ydoc_node *v = ydoc_get(n, lists[l]);
        size_t count = l == 0 ? g->nsenders : g->nreceivers;

        for (size_t k = 0; v != NULL && k < count; k++) {
            const char *id = l == 0 ? g->senders[k].id : g->receivers[k].id;

            if (zike_conf_peer_by_id(c, (const uint8_t *)id,
                                     strlen(id)) != NULL)
                continue;
            snprintf(f, sizeof f, "groups[%zu].%s[%zu]", i, lists[l], k);
            return FAIL(y, v->items[k], f, "'%s' is no peer's id: a member "
                        "registers over an IKE SA, so it must be a peer "
                        "(peers[].id) too", id);
        }
    }
    return 0;
}

int zike_conf_groups(struct yctx *y, const struct ydoc_node *root,
                     struct zike_conf *c)
{
    const struct ydoc_node *v;
    char f[64];

    if ((v = ydoc_get(root, "groups"))) {
        if (yf_type(y, v, YDOC_SEQ, "groups") != 0)
            return -1;
        if (v->n > ZIKE_MAX_GROUPS)
            return FAIL(y, v, "groups", "at most %u", ZIKE_MAX_GROUPS);
        if ((c->groups = calloc(v->n ? v->n : 1, sizeof *c->groups)) == NULL)
            return FAIL(y, v, "groups", "%s", strerror(errno));
        for (size_t i = 0; i < v->n; i++) {
            c->ngroups = i + 1;
            if (parse_group(y, v->items[i], i, &c->groups[i]) != 0 ||
                members_are_peers(y, v->items[i], i, c, &c->groups[i]) != 0)
                return -1;
            for (size_t k = 0; k < i; k++)
                if (strcmp(c->groups[k].name, c->groups[i].name) == 0)
                    return FAIL(y, ydoc_get(v->items[i], "name"),
                                (snprintf(f, sizeof f, "groups[%zu].name", i),
                                 f), "group '%s' twice (also groups[%zu])",
                                c->groups[i].name, k);
        }
    }
    if ((v = ydoc_get(root, "join"))) {
        if (yf_type(y, v, YDOC_SEQ, "join") != 0)
            return -1;
        if (v->n > ZIKE_MAX_GROUPS)
            return FAIL(y, v, "join", "at most %u", ZIKE_MAX_GROUPS);
        if ((c->joins = calloc(v->n ? v->n : 1, sizeof *c->joins)) == NULL)
            return FAIL(y, v, "join", "%s", strerror(errno));
        for (size_t i = 0; i < v->n; i++) {
            c->njoins = i + 1;
            if (parse_join(y, v->items[i], i, c, &c->joins[i]) != 0)
                return -1;
            for (size_t k = 0; k < i; k++)
                if (strcmp(c->joins[k].group, c->joins[i].group) == 0)
                    return FAIL(y, ydoc_get(v->items[i], "group"),
                                (snprintf(f, sizeof f, "join[%zu].group", i),
                                 f), "group '%s' joined twice (also "
                                "join[%zu])", c->joins[i].group, k);
            if (join_policy_own(y, v->items[i], i, c) != 0)
                return -1;
        }
    }
    return 0;
}

const struct zike_group *zike_conf_group(const struct zike_conf *conf,
                                         const char *name)
{
    for (size_t i = 0; i < conf->ngroups; i++)
        if (strcmp(conf->groups[i].name, name) == 0)
            return &conf->groups[i];
    return NULL;
}
