/*
 * Manual keying from YAML (doc/configuration.md): SAs and policies.
 * Everything is parsed and checked first; only a configuration without a
 * single error is applied, and if applying fails half-way (the SAD full)
 * what was added is taken out again, so the SAD changes wholly or not at
 * all.
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "grow.h"
#include "key.h"
#include "sad.h"
#include "seqstate.h"
#include "spd.h"
#include "transform.h"
#include "yaml_fields.h"
#include "zesp.h"

#define CONFIG_MAX_SAS 4096U
#define CONFIG_MAX_POLICIES 1024U

struct config {
    struct yctx y;            /* first: the document and where errors go */
    zesp_sa_params *sas;
    const struct ydoc_node **sa_nodes;
    size_t nsas;
    size_t sas_len;           /* entries allocated: any may hold a key */
    zesp_policy *policies;
    const struct ydoc_node **policy_nodes;
    size_t npolicies;
    char state_dir[ZESP_STATE_DIR_MAX];   /* "": none given */
    char sad_path[4096];                  /* sad:, "": none given */
    zesp_sad_opts sad_opts;
    uint64_t seq_block;                   /* 0: the default */
};

#define FAIL(c, node, field, ...) YFAIL(&(c)->y, node, field, __VA_ARGS__)

static int parse_spi(struct config *c, const struct ydoc_node *n,
                     const char *field, uint32_t *spi)
{
    uint64_t v;

    if (yf_uint(&c->y, n, field, UINT32_MAX, NULL, &v) != 0)
        return -1;
    if (v == 0)
        return FAIL(c, n, field, "SPI 0 is reserved");
    *spi = (uint32_t)v;
    return 0;
}

/* hex: or z85: text of a KEYMAT or an Ed25519 key (key.c); why says
 * what was expected. */
static int decode_any(const char *text, uint8_t *key, size_t octets,
                      const char **why)
{
    uint8_t seed[crypto_sign_SEEDBYTES], pk[ZESP_SIGN_PUBLICBYTES];
    int rc;

    if (key_decode(text, key, octets) == 0)
        return 0;
    /* An Ed25519 secret key may also be given as its 32-octet seed, the
     * form `zesp keygen --identity` writes in NAME.key: libsodium's
     * 64-octet form is made of it. */
    if (octets == ZESP_SIGN_SECRETBYTES &&
        key_decode(text, seed, sizeof seed) == 0) {
        rc = crypto_sign_seed_keypair(pk, key, seed);
        sodium_memzero(seed, sizeof seed);
        if (rc == 0)
            return 0;
        *why = "an Ed25519 seed that makes no key";
        return -1;
    }
    if (octets == ZESP_KEYBYTES)
        *why = strncmp(text, "hex:", 4) == 0
                   ? "expected hex: and 72 hex digits (36 octets: key and salt)"
               : strncmp(text, "z85:", 4) == 0
                   ? "expected z85: and 45 Z85 characters (36 octets)"
                   : "expected hex:..., z85:... or file:PATH";
    else if (octets == ZESP_SIGN_SECRETBYTES)
        *why = "expected hex: and 128 hex digits or z85: and 80 "
               "characters (an Ed25519 secret key, 64 octets), its "
               "32-octet seed (64 digits, 40 characters), or file:PATH";
    else
        *why = "expected hex: and 64 hex digits or z85: and 40 "
               "characters (an Ed25519 public key, 32 octets), or "
               "file:PATH";
    return -1;
}

/* file:PATH, relative to the YAML file; refused if others may read it. */
static int read_key_file(struct config *c, const struct ydoc_node *n,
                         const char *field, const char *path, uint8_t *key,
                         size_t octets)
{
    char text[256];
    const char *why = NULL;
    int rc;

    if (yf_secret_line(&c->y, n, field, path, text, sizeof text,
                       false) != 0)
        return -1;
    rc = decode_any(text, key, octets, &why);
    /* NAME.key and NAME.pub of `zesp keygen --identity` hold bare Z85
     * (as zike's identity files and ZeroMQ's curve keys do): taken for an
     * Ed25519 key as if written z85:. */
    if (rc != 0 && octets != ZESP_KEYBYTES &&
        strlen(text) == Z85_CHARS(crypto_sign_SEEDBYTES)) {
        char z85[4 + sizeof text];

        snprintf(z85, sizeof z85, "z85:%s", text);
        rc = decode_any(z85, key, octets, &why);
        sodium_memzero(z85, sizeof z85);
    }
    sodium_memzero(text, sizeof text);
    if (rc != 0)
        return FAIL(c, n, field, "%s: %s", path, why);
    return 0;
}

/* octets: ZESP_KEYBYTES (KEYMAT) or an Ed25519 key's size. */
static int parse_key(struct config *c, const struct ydoc_node *n,
                     const char *field, uint8_t *key, size_t octets)
{
    const char *why = NULL;

    if (yf_type(&c->y, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strncmp(n->scalar, "file:", 5) == 0)
        return read_key_file(c, n, field, n->scalar + 5, key, octets);
    if (octets != ZESP_SIGN_PUBLICBYTES && yf_inline_secret(&c->y, n, field))
        return -1;
    if (decode_any(n->scalar, key, octets, &why) != 0)
        return FAIL(c, n, field, "%s", why);
    return 0;
}

/* group, sender_id, sign_key (doc/configuration.md, group SAs). */
static int parse_group(struct config *c, const struct ydoc_node *n,
                       const char *field, zesp_sa_params *p)
{
    const struct ydoc_node *v;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES], sk[ZESP_SIGN_SECRETBYTES];
    char f[96];
    uint64_t sid;
    int group = 0, ok;

    snprintf(f, sizeof f, "%s.group", field);
    if ((v = ydoc_get(n, "group")) && yf_bool(&c->y, v, f, &group) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.sender_id", field);
    v = ydoc_get(n, "sender_id");
    if (!group) {
        if (v != NULL || ydoc_get(n, "sign_key") != NULL)
            return FAIL(c, v ? v : ydoc_get(n, "sign_key"), f,
                        "only group SAs (group: true) have a Sender ID and "
                        "a signing key");
        return 0;
    }
    if (v == NULL)
        return FAIL(c, n, field, "a group SA needs 'sender_id'");
    if (yf_uint(&c->y, v, f, ZESP_SENDER_ID_MAX, NULL, &sid) != 0)
        return -1;
    if (sid == 0)
        return FAIL(c, v, f, "Sender ID 0 is reserved (1 to %u)",
                    ZESP_SENDER_ID_MAX);
    p->flags |= ZESP_SA_GROUP;
    p->sender_id = (uint32_t)sid;
    if ((v = ydoc_get(n, "sign_key")) == NULL)
        return 0;
    snprintf(f, sizeof f, "%s.sign_key", field);
    if (parse_key(c, v, f, p->sign_key, p->direction == ZESP_DIR_OUT
                                            ? ZESP_SIGN_SECRETBYTES
                                            : ZESP_SIGN_PUBLICBYTES) != 0)
        return -1;
    p->flags |= ZESP_SA_SIGNED;
    if (p->direction == ZESP_DIR_IN)
        return 0;
    ok = crypto_sign_seed_keypair(pk, sk, p->sign_key) == 0 &&
         sodium_memcmp(sk, p->sign_key, sizeof sk) == 0;
    sodium_memzero(sk, sizeof sk);
    return ok ? 0 : FAIL(c, v, f, "not an Ed25519 secret key: its public "
                                  "half is not the one its seed makes");
}

/* source_auth: mac, a group sender's receivers or a receiver's sender,
 * keyed from identity keys (doc/configuration.md, group SAs). */
static int parse_mac_receiver(struct config *c, const struct ydoc_node *r,
                              const char *field, const uint8_t sk[64],
                              zesp_sa_params *p)
{
    static const char *const keys[] = { "id", "key", NULL };
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
    uint32_t i = p->mac_count;
    char f[160];
    uint64_t id;

    if (yf_type(&c->y, r, YDOC_MAP, field) != 0 ||
        yf_known_keys(&c->y, r, field, keys) != 0)
        return -1;
    if (ydoc_get(r, "id") == NULL || ydoc_get(r, "key") == NULL)
        return FAIL(c, r, field, "a receiver needs 'id' and 'key'");
    snprintf(f, sizeof f, "%s.id", field);
    if (yf_uint(&c->y, ydoc_get(r, "id"), f, ZESP_SENDER_ID_MAX, NULL,
                &id) != 0)
        return -1;
    if (id == 0 || id == p->sender_id)
        return FAIL(c, ydoc_get(r, "id"), f, "a member ID from 1 to %u, "
                    "not this sender's own", ZESP_SENDER_ID_MAX);
    for (uint32_t j = 0; j < i; j++)
        if (p->mac_id[j] == id)
            return FAIL(c, ydoc_get(r, "id"), f, "receiver %llu is listed "
                        "twice", (unsigned long long)id);
    snprintf(f, sizeof f, "%s.key", field);
    if (parse_key(c, ydoc_get(r, "key"), f, pk, sizeof pk) != 0)
        return -1;
    p->mac_id[i] = (uint32_t)id;
    if (zesp_source_mac_key(p->mac_key[i], sk, pk, 1, p->spi, p->sender_id,
                            (uint32_t)id, p->key) != 0)
        return FAIL(c, ydoc_get(r, "key"), f, "not a usable Ed25519 public "
                    "key");
    p->mac_count = i + 1U;
    return 0;
}

static int parse_mac_peers(struct config *c, const struct ydoc_node *n,
                           const char *field, const uint8_t sk[64],
                           zesp_sa_params *p)
{
    const struct ydoc_node *v;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
    char f[96];
    uint64_t id;

    if (p->direction == ZESP_DIR_OUT) {
        snprintf(f, sizeof f, "%s.receivers", field);
        if ((v = ydoc_get(n, "receivers")) == NULL ||
            yf_type(&c->y, v, YDOC_SEQ, f) != 0)
            return v ? -1 : FAIL(c, n, field, "source_auth: mac on 'out' "
                                 "needs 'receivers'");
        if (v->n == 0 || v->n > ZESP_SOURCE_MAC_MAX)
            return FAIL(c, v, f, "1 to %u receivers (larger groups: "
                        "signatures)", ZESP_SOURCE_MAC_MAX);
        for (size_t i = 0; i < v->n; i++) {
            char rf[128];
            snprintf(rf, sizeof rf, "%s[%zu]", f, i);
            if (parse_mac_receiver(c, v->items[i], rf, sk, p) != 0)
                return -1;
        }
        return 0;
    }
    if (ydoc_get(n, "member_id") == NULL || ydoc_get(n, "sender_key") == NULL)
        return FAIL(c, n, field, "source_auth: mac on 'in' needs "
                    "'member_id' and 'sender_key'");
    snprintf(f, sizeof f, "%s.member_id", field);
    v = ydoc_get(n, "member_id");
    if (yf_uint(&c->y, v, f, ZESP_SENDER_ID_MAX, NULL, &id) != 0)
        return -1;
    if (id == 0 || id == p->sender_id)
        return FAIL(c, v, f, "this host's member ID, 1 to %u, not the "
                    "sender's", ZESP_SENDER_ID_MAX);
    snprintf(f, sizeof f, "%s.sender_key", field);
    v = ydoc_get(n, "sender_key");
    if (parse_key(c, v, f, pk, sizeof pk) != 0)
        return -1;
    p->mac_count = 1;
    p->mac_id[0] = (uint32_t)id;
    if (zesp_source_mac_key(p->mac_key[0], sk, pk, 0, p->spi, p->sender_id,
                            (uint32_t)id, p->key) != 0)
        return FAIL(c, v, f, "not a usable Ed25519 public key");
    return 0;
}

static int parse_source_auth(struct config *c, const struct ydoc_node *n,
                             const char *field, zesp_sa_params *p)
{
    static const char *const mac_keys[] = { "member_key", "receivers",
                                            "member_id", "sender_key", NULL };
    const struct ydoc_node *v = ydoc_get(n, "source_auth"), *k;
    uint8_t sk[ZESP_SIGN_SECRETBYTES];
    char f[96];
    int rc;

    snprintf(f, sizeof f, "%s.source_auth", field);
    if (v != NULL && yf_type(&c->y, v, YDOC_SCALAR, f) != 0)
        return -1;
    if (v == NULL || strcmp(v->scalar, "mac") != 0) {
        for (const char *const *m = mac_keys; *m; m++)
            if ((k = ydoc_get(n, *m)) != NULL)
                return FAIL(c, k, field, "'%s' belongs to source_auth: mac",
                            *m);
        if (v == NULL)
            return 0;
        if (strcmp(v->scalar, "signature") != 0)
            return FAIL(c, v, f, "expected mac or signature, found '%s'",
                        v->scalar);
        return (p->flags & ZESP_SA_SIGNED) ? 0
               : FAIL(c, v, f, "source_auth: signature needs 'sign_key'");
    }
    if (!(p->flags & ZESP_SA_GROUP) || (p->flags & ZESP_SA_SIGNED))
        return FAIL(c, v, f, "source_auth: mac is for group SAs without "
                    "'sign_key'");
    if ((k = ydoc_get(n, p->direction == ZESP_DIR_OUT ? "member_id"
                                                      : "receivers")) != NULL)
        return FAIL(c, k, field, "'%s' is not for a direction %s SA",
                    p->direction == ZESP_DIR_OUT ? "member_id" : "receivers",
                    p->direction == ZESP_DIR_OUT ? "out" : "in");
    if ((k = ydoc_get(n, "member_key")) == NULL)
        return FAIL(c, n, field, "source_auth: mac needs 'member_key' (this "
                    "host's Ed25519 secret key)");
    snprintf(f, sizeof f, "%s.member_key", field);
    if (parse_key(c, k, f, sk, sizeof sk) != 0)
        return -1;
    p->flags |= ZESP_SA_SOURCE_MAC;
    rc = parse_mac_peers(c, n, field, sk, p);
    sodium_memzero(sk, sizeof sk);
    return rc;
}

/* What the SAD would refuse when the SA is installed, said now, so that
 * check and load refuse the same files (sad NULL: a new SAD). */
static int sad_accepts(struct config *c, const zesp_sad *sad,
                       const struct ydoc_node *n, const char *field,
                       const zesp_sa_params *p)
{
    const struct ydoc_node *w = ydoc_get(n, "replay_window");
    const struct transform *t;
    char f[96];
    int err = sa_check(sad, p, &t);

    if (err == 0)
        return 0;
    if (w != NULL && p->replay_window > sa_window_max(sad)) {
        snprintf(f, sizeof f, "%s.replay_window", field);
        return FAIL(c, w, f, "at most %u in %s", sa_window_max(sad),
                    sad ? "this SAD" : "a new SAD");
    }
    return FAIL(c, n, field, "the SAD refuses this SA: %s",
                zesp_strerror(err));
}

static int parse_sa(struct config *c, const zesp_sad *sad,
                    const struct ydoc_node *n, size_t i, zesp_sa_params *p)
{
    static const char *const keys[] = { "spi", "direction", "transform",
                                         "esn", "key", "replay_window",
                                         "peer", "lifetime", "group",
                                         "sender_id", "sign_key", "lanes",
                                         "source_auth", "member_key",
                                         "receivers", "member_id",
                                         "sender_key", "replay_scope", NULL };
    const struct ydoc_node *v;
    char field[64], f[96];
    uint64_t w;
    int esn = 1, lanes = 0, per_process = 0;

    snprintf(field, sizeof field, "sas[%zu]", i);
    memset(p, 0, sizeof *p);
    if (yf_type(&c->y, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(&c->y, n, field, keys) != 0)
        return -1;
    for (const char *const *k = (const char *const[]){ "spi", "direction",
                                                       "key", NULL };
         *k; k++)
        if (ydoc_get(n, *k) == NULL)
            return FAIL(c, n, field, "'%s' is required", *k);
    snprintf(f, sizeof f, "%s.spi", field);
    if (parse_spi(c, ydoc_get(n, "spi"), f, &p->spi) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.direction", field);
    v = ydoc_get(n, "direction");
    if (yf_type(&c->y, v, YDOC_SCALAR, f) != 0)
        return -1;
    if (strcmp(v->scalar, "in") == 0)
        p->direction = ZESP_DIR_IN;
    else if (strcmp(v->scalar, "out") == 0)
        p->direction = ZESP_DIR_OUT;
    else
        return FAIL(c, v, f, "expected in or out, found '%s'", v->scalar);
    p->transform = ZESP_CHACHA20_POLY1305;
    snprintf(f, sizeof f, "%s.transform", field);
    if ((v = ydoc_get(n, "transform")) &&
        yf_transform(&c->y, v, f, &p->transform) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.esn", field);
    if ((v = ydoc_get(n, "esn")) && yf_bool(&c->y, v, f, &esn) != 0)
        return -1;
    /* Every key of a file is a manual key: its numbering is recorded. */
    p->flags = ZESP_SA_MANUAL | (esn ? 0 : ZESP_SA_NO_ESN);
    p->seq_block = c->seq_block;
    snprintf(f, sizeof f, "%s.key", field);
    if (parse_key(c, ydoc_get(n, "key"), f, p->key, ZESP_KEYBYTES) != 0)
        return -1;
    if (parse_group(c, n, field, p) != 0 ||
        parse_source_auth(c, n, field, p) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.lanes", field);
    if ((v = ydoc_get(n, "lanes")) && yf_bool(&c->y, v, f, &lanes) != 0)
        return -1;
    if (lanes && (p->flags & ZESP_SA_GROUP))
        return FAIL(c, v, f, "a group SA has a Sender ID per sender: lanes "
                             "are for pairwise SAs");
    if (lanes)
        p->flags |= ZESP_SA_LANES;
    snprintf(f, sizeof f, "%s.replay_window", field);
    if ((v = ydoc_get(n, "replay_window")) != NULL) {
        if (p->direction != ZESP_DIR_IN)
            return FAIL(c, v, f, "only inbound SAs have a replay window");
        if (yf_uint(&c->y, v, f, ZESP_REPLAY_WINDOW_MAX, NULL, &w) != 0)
            return -1;
        if (w < ZESP_REPLAY_WINDOW_MIN)
            return FAIL(c, v, f, "at least %u", ZESP_REPLAY_WINDOW_MIN);
        p->replay_window = (uint32_t)w;
    }
    snprintf(f, sizeof f, "%s.replay_scope", field);
    if ((v = ydoc_get(n, "replay_scope")) != NULL) {
        if (p->direction != ZESP_DIR_IN)
            return FAIL(c, v, f, "only inbound SAs have a replay window");
        if (yf_replay_scope(&c->y, v, f, &per_process) != 0)
            return -1;
        if (per_process)
            p->flags |= ZESP_SA_PER_PROCESS_WINDOW;
    }
    snprintf(f, sizeof f, "%s.peer", field);
    if ((v = ydoc_get(n, "peer")) &&
        yf_name(&c->y, v, f, p->peer, sizeof p->peer) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.lifetime", field);
    if ((v = ydoc_get(n, "lifetime")) && yf_lifetime(&c->y, v, f, &p->soft, &p->hard) != 0)
        return -1;
    return sad_accepts(c, sad, n, field, p);
}

static const zesp_sa_params *find_sa(const struct config *c, uint32_t spi,
                                     uint32_t direction)
{
    for (size_t i = 0; i < c->nsas; i++)
        if (c->sas[i].spi == spi && c->sas[i].direction == direction)
            return &c->sas[i];
    return NULL;
}

/* An SA of this file the new one may not stand beside: the same SPI and
 * direction, unless both are inbound group SAs of different senders. */
static const zesp_sa_params *clashing_sa(const struct config *c,
                                         const zesp_sa_params *p)
{
    for (size_t i = 0; i < c->nsas; i++) {
        const zesp_sa_params *q = &c->sas[i];
        bool windows = p->direction == ZESP_DIR_IN &&
                       (p->flags & q->flags & ZESP_SA_GROUP) &&
                       p->sender_id != q->sender_id;
        if (q->spi == p->spi && q->direction == p->direction && !windows)
            return q;
    }
    return NULL;
}

/* A policy with replay_scope: process gives it to its inbound SAs of this
 * file (every Sender ID's of a group SPI), unless one says host; an SA
 * already in the SAD keeps the scope it was installed with, so it must
 * have it. */
static int inherit_scope(struct config *c, zesp_sad *sad,
                         const struct ydoc_node *n, const char *f,
                         uint32_t spi)
{
    const struct ydoc_node *own;
    zesp_sa_info info;
    bool found = false;

    for (size_t i = 0; i < c->nsas; i++) {
        zesp_sa_params *q = &c->sas[i];
        if (q->spi != spi || q->direction != ZESP_DIR_IN)
            continue;
        found = true;
        own = ydoc_get(c->sa_nodes[i], "replay_scope");
        if (own != NULL && !(q->flags & ZESP_SA_PER_PROCESS_WINDOW))
            return FAIL(c, n, f, "the policy's replay_scope is process, but "
                        "inbound SA 0x%08x (sas[%zu]) says host: remove one",
                        spi, i);
        q->flags |= ZESP_SA_PER_PROCESS_WINDOW;
    }
    if (found || sad == NULL ||
        zesp_sa_info_get(sad, spi, ZESP_DIR_IN, &info) != 0 ||
        (info.flags & ZESP_SA_PER_PROCESS_WINDOW))
        return 0;
    return FAIL(c, n, f, "the policy's replay_scope is process, but inbound "
                "SA 0x%08x is in the SAD with replay_scope host, which an "
                "installed SA keeps: install its key again under a new SPI "
                "with replay_scope: process", spi);
}

/* An SA a policy names must be in this file or, when loading, the SAD. */
static int sa_known(const struct config *c, zesp_sad *sad, uint32_t spi,
                    uint32_t direction)
{
    zesp_sa_info info;

    return find_sa(c, spi, direction) != NULL ||
           (sad != NULL && zesp_sa_info_get(sad, spi, direction, &info) == 0);
}

/* What the SA a policy names gives its bodies, from this file's SAs or
 * else the SAD's (SA_ABSENT: not known; the SAD refuses the policy later
 * if it is not there). */
static enum sa_protection sa_encrypts(const struct config *c, zesp_sad *sad,
                                      uint32_t spi, uint32_t direction)
{
    const zesp_sa_params *q = find_sa(c, spi, direction);

    if (q != NULL)
        return spd_transform_protection(q->transform);
    return sad != NULL ? spd_sa_protection(sad, spi, direction) : SA_ABSENT;
}

/* The SAs of one policy all encrypt, or all authenticate only: a NULL SA
 * among encrypting ones would take the policy's bodies in clear, unseen by
 * the application (zesp_policy_set refuses the mix too). */
static int one_protection(struct config *c, zesp_sad *sad,
                          const struct ydoc_node *n, const char *field,
                          const zesp_policy *p)
{
    const struct ydoc_node *in = ydoc_get(n, "in");
    int first = p->out_spi ? sa_encrypts(c, sad, p->out_spi, ZESP_DIR_OUT)
                           : -1;
    uint32_t first_spi = p->out_spi;
    const char *first_dir = "outbound";
    char f[128];

    for (size_t k = 0; in != NULL && k < in->n; k++) {
        int e = sa_encrypts(c, sad, p->in_spi[k], ZESP_DIR_IN);
        if (e < 0)
            continue;
        if (first < 0) {
            first = e;
            first_spi = p->in_spi[k];
            first_dir = "inbound";
            continue;
        }
        if (e == first)
            continue;
        snprintf(f, sizeof f, "%s.in[%zu]", field, k);
        return FAIL(c, in->items[k], f, "inbound SA 0x%08x %s, but %s SA "
                    "0x%08x %s: the SAs of one policy all encrypt, or all "
                    "authenticate only", p->in_spi[k],
                    e ? "encrypts" : "authenticates only (a NULL transform)",
                    first_dir, first_spi,
                    first ? "encrypts" : "authenticates only");
    }
    return 0;
}

static int parse_policy(struct config *c, zesp_sad *sad,
                        const struct ydoc_node *n, size_t i, zesp_policy *p)
{
    static const char *const keys[] = { "name", "peer", "out", "in",
                                         "replay_scope", NULL };
    const struct ydoc_node *v;
    char field[64], f[96];
    int per_process = 0;

    snprintf(field, sizeof field, "policies[%zu]", i);
    memset(p, 0, sizeof *p);
    if (yf_type(&c->y, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(&c->y, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.name", field);
    if ((v = ydoc_get(n, "name")) == NULL)
        return FAIL(c, n, field, "'name' is required");
    if (yf_name(&c->y, v, f, p->name, sizeof p->name) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.peer", field);
    if ((v = ydoc_get(n, "peer")) &&
        yf_name(&c->y, v, f, p->peer, sizeof p->peer) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.out", field);
    if ((v = ydoc_get(n, "out")) != NULL) {
        if (parse_spi(c, v, f, &p->out_spi) != 0)
            return -1;
        if (!sa_known(c, sad, p->out_spi, ZESP_DIR_OUT))
            return FAIL(c, v, f, "no outbound SA 0x%08x", p->out_spi);
    }
    snprintf(f, sizeof f, "%s.replay_scope", field);
    if ((v = ydoc_get(n, "replay_scope")) != NULL &&
        yf_replay_scope(&c->y, v, f, &per_process) != 0)
        return -1;
    if (per_process)
        p->flags |= ZESP_POLICY_PER_PROCESS_WINDOW;
    snprintf(f, sizeof f, "%s.in", field);
    if ((v = ydoc_get(n, "in")) != NULL) {
        if (yf_type(&c->y, v, YDOC_SEQ, f) != 0)
            return -1;
        if (v->n > ZESP_POLICY_IN_MAX)
            return FAIL(c, v, f, "at most %u inbound SAs", ZESP_POLICY_IN_MAX);
        for (size_t k = 0; k < v->n; k++) {
            char fk[128];
            snprintf(fk, sizeof fk, "%s[%zu]", f, k);
            if (parse_spi(c, v->items[k], fk, &p->in_spi[k]) != 0)
                return -1;
            /* A slot taken twice: the SPI meant there is not on it. */
            for (size_t j = 0; j < k; j++)
                if (p->in_spi[j] == p->in_spi[k])
                    return FAIL(c, v->items[k], fk, "0x%08x listed twice "
                                "(also %s[%zu])", p->in_spi[k], f, j);
            if (!sa_known(c, sad, p->in_spi[k], ZESP_DIR_IN))
                return FAIL(c, v->items[k], fk, "no inbound SA 0x%08x",
                            p->in_spi[k]);
            if (per_process &&
                inherit_scope(c, sad, v->items[k], fk, p->in_spi[k]) != 0)
                return -1;
        }
    }
    return one_protection(c, sad, n, field, p);
}

static int parse_list(struct config *c, const struct ydoc_node *list,
                      const char *name, size_t max, size_t elem,
                      void **items, const struct ydoc_node ***nodes)
{
    if (yf_type(&c->y, list, YDOC_SEQ, name) != 0)
        return -1;
    if (list->n > max)
        return FAIL(c, list, name, "more than %zu entries", max);
    *items = calloc(list->n ? list->n : 1, elem);
    *nodes = calloc(list->n ? list->n : 1, sizeof **nodes);
    if (*items == NULL || *nodes == NULL)
        return FAIL(c, list, name, "out of memory");
    return 0;
}

/* state_dir: absolute, or relative to the file's folder, as key files. */
static int parse_state_dir(struct config *c, const struct ydoc_node *n)
{
    char file[sizeof c->y.doc.file];
    int len;

    if (yf_type(&c->y, n, YDOC_SCALAR, "state_dir") != 0)
        return -1;
    if (n->scalar[0] == '\0')
        return FAIL(c, n, "state_dir", "an empty path");
    if (n->scalar[0] == '/')
        len = snprintf(c->state_dir, sizeof c->state_dir, "%s", n->scalar);
    else {
        snprintf(file, sizeof file, "%s", c->y.doc.file);
        len = snprintf(c->state_dir, sizeof c->state_dir, "%s/%s",
                       dirname(file), n->scalar);
    }
    if (len < 0 || len >= (int)sizeof c->state_dir)
        return FAIL(c, n, "state_dir", "longer than %u characters",
                    ZESP_STATE_DIR_MAX - 1U);
    return 0;
}

/* sad: { path, mode, group }: the SAD zesp load opens (a relative path
 * is relative to the file's folder, as key files: yf_sad). */
static int parse_sad(struct config *c, const struct ydoc_node *n)
{
    return yf_sad(&c->y, n, "sad", c->sad_path, sizeof c->sad_path,
                  &c->sad_opts);
}

/* seq_block: how many numbers each write of a record reserves. */
static int parse_seq_block(struct config *c, const struct ydoc_node *n)
{
    if (yf_uint(&c->y, n, "seq_block", ZESP_SEQ_BLOCK_MAX, "KMG",
                &c->seq_block) != 0)
        return -1;
    if (!seqstate_block_valid(c->seq_block))
        return FAIL(c, n, "seq_block", "a power of two from %u to %llu",
                    ZESP_SEQ_BLOCK_MIN,
                    (unsigned long long)ZESP_SEQ_BLOCK_MAX);
    return 0;
}

/*
 * One KEYMAT, one SPI.  Each SA counts its sequence numbers, and so its
 * IVs, from 1 on its own, so the same key on two SPIs repeats nonces: a
 * key pasted into both directions of a pair is the usual way, in one file
 * or in a second file loaded beside the first.  Only group SAs may share
 * a key across SPIs, each sender with a Sender ID of its own in the IV's
 * top bits (where lanes put theirs: no lanes then).  Keys are compared
 * through a hash under a key of this load's, never themselves.
 */
struct key_use {
    uint32_t spi, direction, flags, sender_id;
    uint8_t fp[16];
};

struct key_uses {
    struct key_use *v;
    size_t n, cap;
};

static bool may_share_key(const struct key_use *a, const struct key_use *b)
{
    return sa_may_share_key(a->spi, a->flags, a->sender_id, b->spi, b->flags,
                            b->sender_id);
}

static int add_sad_use(const zesp_sa_info *info, void *arg)
{
    struct key_uses *u = arg;
    struct key_use *v = grow(u->v, &u->cap, u->n, sizeof *v);

    if (v == NULL)
        return -1;
    u->v = v;
    u->v[u->n++] = (struct key_use){ .spi = info->spi,
                                     .direction = info->direction,
                                     .flags = info->flags,
                                     .sender_id = info->sender_id };
    return 0;
}

/* The SAs already in the SAD, each with its key's fingerprint (an SA
 * gone meanwhile is left out). */
static int sad_uses(zesp_sad *sad, const uint8_t *salt, size_t saltlen,
                    struct key_uses *u)
{
    uint8_t key[ZESP_KEYBYTES];
    size_t kept = 0;

    if (zesp_sa_foreach(sad, add_sad_use, u) != 0)
        return -1;
    for (size_t i = 0; i < u->n; i++) {
        if (zesp_sa_key_get(sad, u->v[i].spi, u->v[i].direction, key) != 0)
            continue;
        crypto_generichash(u->v[i].fp, sizeof u->v[i].fp, key, sizeof key,
                           salt, saltlen);
        u->v[kept++] = u->v[i];
    }
    sodium_memzero(key, sizeof key);
    u->n = kept;
    return 0;
}

/* sas[i]'s key is SPI spi's, an SA in the SAD. */
static int key_in_sad(struct config *c, size_t i, uint32_t spi,
                      uint32_t direction)
{
    char field[32];

    snprintf(field, sizeof field, "sas[%zu].key", i);
    return FAIL(c, ydoc_get(c->sa_nodes[i], "key"), field,
                "the same key as SPI 0x%08x %s, already in the SAD: each SA "
                "numbers its messages from 1, so two SPIs under one key "
                "repeat nonces; give each SA its own key (zesp keygen)",
                spi, direction == ZESP_DIR_IN ? "in" : "out");
}

/* The state directory's records say SA i's key served the other
 * direction on another SPI (0: on several), since deleted or in another
 * SAD. */
static int key_recorded(struct config *c, size_t i, uint32_t spi,
                        uint32_t direction)
{
    char field[32], where[48];

    snprintf(field, sizeof field, "sas[%zu].key", i);
    if (spi != 0)
        snprintf(where, sizeof where, "SPI 0x%08x %s", spi,
                 direction == ZESP_DIR_IN ? "in" : "out");
    else
        snprintf(where, sizeof where, "SAs %s on other SPIs",
                 direction == ZESP_DIR_IN ? "in" : "out");
    return FAIL(c, ydoc_get(c->sa_nodes[i], "key"), field,
                "this key served %s (the state directory's records say "
                "so): its peer would number from 1 under it; give each "
                "direction its own key (zesp keygen)", where);
}

static int key_on_two_spis(struct config *c, zesp_sad *sad)
{
    uint8_t salt[crypto_generichash_KEYBYTES];
    struct key_uses in_sad = { 0 };
    struct key_use *f;
    int rc = 0;

    if (c->nsas == 0)
        return 0;
    if ((f = calloc(c->nsas, sizeof *f)) == NULL)
        return FAIL(c, NULL, "sas", "out of memory");
    randombytes_buf(salt, sizeof salt);
    for (size_t i = 0; i < c->nsas; i++) {
        f[i] = (struct key_use){ .spi = c->sas[i].spi,
                                 .direction = c->sas[i].direction,
                                 .flags = c->sas[i].flags,
                                 .sender_id = c->sas[i].sender_id };
        crypto_generichash(f[i].fp, sizeof f[i].fp, c->sas[i].key,
                           ZESP_KEYBYTES, salt, sizeof salt);
    }
    if (sad != NULL && sad_uses(sad, salt, sizeof salt, &in_sad) != 0)
        rc = FAIL(c, NULL, "sas", "out of memory");
    for (size_t i = 0; i < c->nsas && rc == 0; i++) {
        const struct ydoc_node *at = ydoc_get(c->sa_nodes[i], "key");
        char field[32];

        snprintf(field, sizeof field, "sas[%zu].key", i);
        for (size_t j = 0; j < i && rc == 0; j++)
            if (!may_share_key(&f[i], &f[j]) &&
                memcmp(f[i].fp, f[j].fp, sizeof f[i].fp) == 0)
                rc = FAIL(c, at, field, "the same key as sas[%zu] (SPI "
                          "0x%08x): each SA numbers its messages from 1, so "
                          "two SPIs under one key repeat nonces; give each "
                          "SA its own key (zesp keygen)", j, f[j].spi);
        for (size_t j = 0; j < in_sad.n && rc == 0; j++)
            if (!may_share_key(&f[i], &in_sad.v[j]) &&
                memcmp(f[i].fp, in_sad.v[j].fp, sizeof f[i].fp) == 0)
                rc = key_in_sad(c, i, in_sad.v[j].spi, in_sad.v[j].direction);
    }
    sodium_memzero(salt, sizeof salt);
    sodium_memzero(f, c->nsas * sizeof *f);
    free(f);
    if (in_sad.v != NULL)
        sodium_memzero(in_sad.v, in_sad.cap * sizeof *in_sad.v);
    free(in_sad.v);
    return rc;
}

static int parse_config(struct config *c, zesp_sad *sad)
{
    static const char *const keys[] = { "sas", "policies", "state_dir",
                                         "seq_block", "sad", NULL };
    const struct ydoc_node *root = c->y.doc.root, *sas, *pols, *v;

    if (root == NULL)
        return FAIL(c, NULL, NULL, "empty configuration");
    if (yf_type(&c->y, root, YDOC_MAP, "(top)") != 0 ||
        yf_known_keys(&c->y, root, "(top)", keys) != 0)
        return -1;
    if ((v = ydoc_get(root, "state_dir")) && parse_state_dir(c, v) != 0)
        return -1;
    if ((v = ydoc_get(root, "seq_block")) && parse_seq_block(c, v) != 0)
        return -1;
    if ((v = ydoc_get(root, "sad")) && parse_sad(c, v) != 0)
        return -1;
    if ((sas = ydoc_get(root, "sas")) != NULL) {
        if (parse_list(c, sas, "sas", CONFIG_MAX_SAS, sizeof *c->sas,
                       (void **)&c->sas, &c->sa_nodes) != 0)
            return -1;
        c->sas_len = sas->n;
        for (size_t i = 0; i < sas->n; i++) {
            zesp_sa_info info;
            char field[32];
            if (parse_sa(c, sad, sas->items[i], i, &c->sas[i]) != 0)
                return -1;
            snprintf(field, sizeof field, "sas[%zu].spi", i);
            if (clashing_sa(c, &c->sas[i]) != NULL)
                return FAIL(c, ydoc_get(sas->items[i], "spi"), field,
                            "SPI 0x%08x %s appears twice", c->sas[i].spi,
                            c->sas[i].direction == ZESP_DIR_IN ? "in" : "out");
            /* A file loaded again, say after an edit: nothing installed
             * is replaced, so say how to replace it. */
            if (sad && zesp_sa_info_get(sad, c->sas[i].spi,
                                        c->sas[i].direction, &info) == 0) {
                const char *d = c->sas[i].direction == ZESP_DIR_IN ? "in"
                                                                    : "out";
                return FAIL(c, ydoc_get(sas->items[i], "spi"), field,
                            "SPI 0x%08x %s is already in the SAD: a load "
                            "replaces no SA; remove it first (zesp sa del "
                            "0x%08x --dir %s; its key, loaded again, "
                            "continues its numbering)", c->sas[i].spi, d,
                            c->sas[i].spi, d);
            }
            c->sa_nodes[i] = sas->items[i];
            c->nsas++;
        }
        if (key_on_two_spis(c, sad) != 0)
            return -1;
    }
    if ((pols = ydoc_get(root, "policies")) != NULL) {
        if (parse_list(c, pols, "policies", CONFIG_MAX_POLICIES,
                       sizeof *c->policies, (void **)&c->policies,
                       &c->policy_nodes) != 0)
            return -1;
        for (size_t i = 0; i < pols->n; i++) {
            if (parse_policy(c, sad, pols->items[i], i, &c->policies[i]) != 0)
                return -1;
            for (size_t k = 0; k < i; k++)
                if (strcmp(c->policies[k].name, c->policies[i].name) == 0)
                    return FAIL(c, ydoc_get(pols->items[i], "name"),
                                "policies", "policy '%s' appears twice",
                                c->policies[i].name);
            c->policy_nodes[i] = pols->items[i];
            c->npolicies++;
        }
    }
    return 0;
}

static void config_free(struct config *c)
{
    /* Every entry, not only the nsas accepted: the one refused last may
     * have its key decoded already. */
    if (c->sas != NULL)
        sodium_memzero(c->sas, c->sas_len * sizeof *c->sas);
    free(c->sas);
    free(c->sa_nodes);
    free(c->policies);
    free(c->policy_nodes);
    ydoc_free(&c->y.doc);
}

/* Why an SA was not installed; for its record, which directory. */
static void install_failed(struct config *c, zesp_sad *sad, size_t i, int err)
{
    char dir[ZESP_STATE_DIR_MAX], have[ZESP_STATE_DIR_MAX], what[2200];
    bool state = err >= ZESP_ENOSTATE && err <= ZESP_ESTATEDIR;

    what[0] = '\0';
    if (state && seqstate_dir(sad, c->state_dir[0] ? c->state_dir : NULL,
                              dir) != 0)
        snprintf(dir, sizeof dir, "none: no default for this user");
    if (err == ZESP_ESTATEDIR && seqstate_sad_dir(sad, have))
        snprintf(what, sizeof what, " (%s; asked for %s)", have, dir);
    else if (state)
        snprintf(what, sizeof what, " (state directory %s)", dir);
    FAIL(c, c->sa_nodes[i], "sas", "cannot install SPI 0x%08x: %s%s",
         c->sas[i].spi, zesp_strerror(err), what);
}

/* Apply: add the SAs, then set the policies; on any failure undo. */
static int apply(struct config *c, zesp_sad *sad)
{
    zesp_policy *before = calloc(c->npolicies ? c->npolicies : 1,
                                 sizeof *before);
    int *existed = calloc(c->npolicies ? c->npolicies : 1, sizeof *existed);
    size_t added = 0, set = 0;
    int err = 0;

    if (before == NULL || existed == NULL) {
        err = ENOMEM;
        goto out;
    }
    /* Each key compared again as it is installed: another load may have
     * installed it since this file was checked against the SAD. */
    for (; added < c->nsas; added++) {
        struct sa_key_clash clash = { 0, 0, false };
        if (sa_add_in(sad, &c->sas[added],
                      c->state_dir[0] ? c->state_dir : NULL, &clash) != 0) {
            err = errno;
            if (clash.recorded) {
                key_recorded(c, added, clash.spi, clash.direction);
                err = ZESP_ECONFIG;
            } else if (clash.spi != 0) {
                key_in_sad(c, added, clash.spi, clash.direction);
                err = ZESP_ECONFIG;
            } else {
                install_failed(c, sad, added, err);
            }
            goto undo;
        }
    }
    for (; set < c->npolicies; set++) {
        existed[set] = zesp_policy_get(sad, c->policies[set].name,
                                       &before[set]) == 0;
        if (zesp_policy_set(sad, &c->policies[set]) != 0) {
            err = errno;
            FAIL(c, c->policy_nodes[set], "policies", "cannot set '%s': %s",
                 c->policies[set].name, zesp_strerror(err));
            goto undo;
        }
    }
    goto out;
undo:
    while (set-- > 0) {
        if (existed[set])
            zesp_policy_set(sad, &before[set]);
        else
            zesp_policy_del(sad, c->policies[set].name);
    }
    while (added-- > 0)
        zesp_sa_del(sad, c->sas[added].spi, c->sas[added].direction);
out:
    free(before);
    free(existed);
    return err;
}

static int run(zesp_sad *sad, const char *path, char *err, size_t errlen,
               int do_apply)
{
    struct config c;
    char scratch[512];
    int rc = -1, e = ZESP_ECONFIG;

    memset(&c, 0, sizeof c);
    c.y.err = err ? err : scratch;
    c.y.errlen = err ? errlen : sizeof scratch;
    if (c.y.errlen)
        c.y.err[0] = '\0';
    if (path == NULL || (do_apply && sad == NULL)) {
        errno = EINVAL;
        return -1;
    }
    if (zesp_init() != 0 || yf_load(&c.y, path) != 0)
        goto out;
    if (parse_config(&c, sad) != 0)
        goto out;
    if (do_apply && (e = apply(&c, sad)) != 0)
        goto out;
    rc = 0;
out:
    config_free(&c);
    if (rc != 0)
        errno = e;
    return rc;
}

int zesp_config_load(zesp_sad *sad, const char *path, char *err,
                     size_t errlen)
{
    return run(sad, path, err, errlen, 1);
}

int zesp_config_check(const char *path, char *err, size_t errlen)
{
    return run(NULL, path, err, errlen, 0);
}

int zesp_config_sad(const char *path, char *sad_path, size_t sad_path_len,
                    zesp_sad_opts *opts, char *err, size_t errlen)
{
    struct config c;
    char scratch[512];
    const struct ydoc_node *v;
    int rc = -1;

    memset(&c, 0, sizeof c);
    c.y.err = err ? err : scratch;
    c.y.errlen = err ? errlen : sizeof scratch;
    if (c.y.errlen)
        c.y.err[0] = '\0';
    if (path == NULL || sad_path == NULL || sad_path_len == 0 ||
        opts == NULL) {
        errno = EINVAL;
        return -1;
    }
    c.sad_opts = *opts;
    if (yf_load(&c.y, path) != 0)
        goto out;
    if (c.y.doc.root && c.y.doc.root->type == YDOC_MAP &&
        (v = ydoc_get(c.y.doc.root, "sad")) && parse_sad(&c, v) != 0)
        goto out;
    if (strlen(c.sad_path) >= sad_path_len) {
        FAIL(&c, NULL, "sad.path", "longer than %zu characters",
             sad_path_len - 1);
        goto out;
    }
    memcpy(sad_path, c.sad_path, strlen(c.sad_path) + 1);
    *opts = c.sad_opts;
    rc = 0;
out:
    config_free(&c);
    if (rc != 0)
        errno = ZESP_ECONFIG;
    return rc;
}
