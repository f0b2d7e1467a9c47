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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "transform.h"
#include "yaml_doc.h"
#include "zesp.h"

#define CONFIG_MAX_SAS 4096U
#define CONFIG_MAX_POLICIES 1024U
#define Z85_KEY_CHARS 45U      /* 36 octets in Z85 */

struct config {
    struct ydoc doc;
    char *err;
    size_t errlen;
    zesp_sa_params *sas;
    const struct ydoc_node **sa_nodes;
    size_t nsas;
    zesp_policy *policies;
    const struct ydoc_node **policy_nodes;
    size_t npolicies;
};

#define FAIL(c, node, field, ...) \
    ydoc_error((c)->err, (c)->errlen, &(c)->doc, (node), (field), __VA_ARGS__)

static int want_type(struct config *c, const struct ydoc_node *n,
                     enum ydoc_type t, const char *field)
{
    if (n->type != t)
        return FAIL(c, n, field, "expected %s, found %s", ydoc_type_name(t),
                    ydoc_type_name(n->type));
    return 0;
}

/* Every key of a mapping must be one of `known` (a NULL-ended list). */
static int known_keys(struct config *c, const struct ydoc_node *map,
                      const char *field, const char *const *known)
{
    for (size_t i = 0; i < map->n; i += 2) {
        const char *key = map->items[i]->scalar;
        size_t k = 0;
        while (known[k] && strcmp(known[k], key) != 0)
            k++;
        if (known[k] == NULL) {
            char list[256] = "";
            for (k = 0; known[k]; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list),
                         "%s%s", k ? ", " : "", known[k]);
            return FAIL(c, map->items[i], field,
                        "unknown key '%s' (known: %s)", key, list);
        }
    }
    return 0;
}

/* An unsigned integer, decimal or 0x hex, with an optional unit suffix. */
static int parse_uint(struct config *c, const struct ydoc_node *n,
                      const char *field, uint64_t max, const char *units,
                      uint64_t *out)
{
    static const struct { char suffix; uint64_t mult; } table[] = {
        { 'K', 1024ULL }, { 'M', 1024ULL * 1024 },
        { 'G', 1024ULL * 1024 * 1024 }, { 's', 1 }, { 'm', 60 },
        { 'h', 3600 }, { 'd', 86400 },
    };
    char *end;
    uint64_t v, mult = 1;

    if (want_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    errno = 0;
    if (n->scalar[0] == '-' || !isdigit((unsigned char)n->scalar[0]))
        return FAIL(c, n, field, "'%s' is not a non-negative integer",
                    n->scalar);
    v = strtoull(n->scalar, &end, 0);
    if (*end && units && strchr(units, *end) && end[1] == '\0') {
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
            if (table[i].suffix == *end)
                mult = table[i].mult;
        end++;
    }
    if (errno != 0 || *end != '\0')
        return FAIL(c, n, field, "'%s' is not an integer%s%s%s", n->scalar,
                    units ? " (suffixes: " : "", units ? units : "",
                    units ? ")" : "");
    if (v > max / mult)
        return FAIL(c, n, field, "%s is above the maximum %llu", n->scalar,
                    (unsigned long long)max);
    *out = v * mult;
    return 0;
}

static int parse_spi(struct config *c, const struct ydoc_node *n,
                     const char *field, uint32_t *spi)
{
    uint64_t v;

    if (parse_uint(c, n, field, UINT32_MAX, NULL, &v) != 0)
        return -1;
    if (v == 0)
        return FAIL(c, n, field, "SPI 0 is reserved");
    *spi = (uint32_t)v;
    return 0;
}

static int parse_bool(struct config *c, const struct ydoc_node *n,
                      const char *field, int *out)
{
    if (want_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strcmp(n->scalar, "true") == 0 || strcmp(n->scalar, "yes") == 0)
        *out = 1;
    else if (strcmp(n->scalar, "false") == 0 || strcmp(n->scalar, "no") == 0)
        *out = 0;
    else
        return FAIL(c, n, field, "expected true or false, found '%s'",
                    n->scalar);
    return 0;
}

static int parse_name(struct config *c, const struct ydoc_node *n,
                      const char *field, char *out, size_t outlen)
{
    if (want_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (n->scalar[0] == '\0' || strlen(n->scalar) >= outlen)
        return FAIL(c, n, field, "expected 1 to %zu characters", outlen - 1);
    for (const char *p = n->scalar; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return FAIL(c, n, field, "no spaces or control characters");
    memcpy(out, n->scalar, strlen(n->scalar) + 1);
    return 0;
}

/* "hex:..." or "z85:..." text into 36 octets. */
static int decode_key(const char *text, uint8_t key[ZESP_KEYBYTES],
                      const char **why)
{
    size_t len;

    if (strncmp(text, "hex:", 4) == 0) {
        if (sodium_hex2bin(key, ZESP_KEYBYTES, text + 4, strlen(text + 4),
                           NULL, &len, NULL) != 0 || len != ZESP_KEYBYTES ||
            strlen(text + 4) != 2 * ZESP_KEYBYTES) {
            *why = "expected hex: and 72 hex digits (36 octets: key and salt)";
            return -1;
        }
        return 0;
    }
    if (strncmp(text, "z85:", 4) == 0) {
        if (strlen(text + 4) != Z85_KEY_CHARS ||
            zmq_z85_decode(key, text + 4) == NULL) {
            *why = "expected z85: and 45 Z85 characters (36 octets)";
            return -1;
        }
        return 0;
    }
    *why = "expected hex:..., z85:... or file:PATH";
    return -1;
}

/* file:PATH, relative to the YAML file; refused if others may read it. */
static int read_key_file(struct config *c, const struct ydoc_node *n,
                         const char *field, const char *path,
                         uint8_t key[ZESP_KEYBYTES])
{
    char full[PATH_MAX], dir[PATH_MAX], text[256];
    const char *why = NULL;
    struct stat st;
    FILE *f;
    int rc;

    snprintf(dir, sizeof dir, "%s", c->doc.file);
    if (path[0] == '/')
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", dirname(dir), path);
    if ((f = fopen(full, "r")) == NULL)
        return FAIL(c, n, field, "%s: %s", full, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077) != 0) {
        fclose(f);
        return FAIL(c, n, field,
                    "%s: key file readable by others (mode %03o); chmod 600 it",
                    full, (unsigned)(st.st_mode & 0777));
    }
    memset(text, 0, sizeof text);
    if (fgets(text, sizeof text, f) == NULL)
        text[0] = '\0';
    fclose(f);
    text[strcspn(text, "\r\n")] = '\0';
    rc = decode_key(text, key, &why);
    sodium_memzero(text, sizeof text);
    if (rc != 0)
        return FAIL(c, n, field, "%s: %s", full, why);
    return 0;
}

static int parse_key(struct config *c, const struct ydoc_node *n,
                     const char *field, uint8_t key[ZESP_KEYBYTES])
{
    const char *why = NULL;

    if (want_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strncmp(n->scalar, "file:", 5) == 0)
        return read_key_file(c, n, field, n->scalar + 5, key);
    if (decode_key(n->scalar, key, &why) != 0)
        return FAIL(c, n, field, "%s", why);
    return 0;
}

static int parse_transform(struct config *c, const struct ydoc_node *n,
                           const char *field, uint32_t *out)
{
    static const uint32_t ids[] = { ZESP_CHACHA20_POLY1305, ZESP_AES256GCM,
                                    ZESP_NULL_AES256GMAC,
                                    ZESP_NULL_CHACHA20_POLY1305 };

    if (want_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(n->scalar, zesp_transform_name(ids[i])) == 0) {
            if (!zesp_transform_available(ids[i]))
                return FAIL(c, n, field, "%s is not supported on this CPU",
                            n->scalar);
            *out = ids[i];
            return 0;
        }
    return FAIL(c, n, field, "unknown transform '%s' (known: "
                "chacha20-poly1305, aes256gcm, null-aes256gmac, "
                "null-chacha20-poly1305)", n->scalar);
}

static int parse_limits(struct config *c, const struct ydoc_node *n,
                        const char *field, zesp_lifetime *out)
{
    static const char *const keys[] = { "seconds", "messages", "bytes", NULL };
    const struct ydoc_node *v;
    char f[128];

    if (want_type(c, n, YDOC_MAP, field) != 0 ||
        known_keys(c, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.seconds", field);
    if ((v = ydoc_get(n, "seconds")) &&
        parse_uint(c, v, f, UINT64_MAX, "smhd", &out->seconds) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.messages", field);
    if ((v = ydoc_get(n, "messages")) &&
        parse_uint(c, v, f, UINT64_MAX, NULL, &out->messages) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.bytes", field);
    if ((v = ydoc_get(n, "bytes")) &&
        parse_uint(c, v, f, UINT64_MAX, "KMG", &out->bytes) != 0)
        return -1;
    return 0;
}

static int soft_above_hard(uint64_t soft, uint64_t hard)
{
    return soft && hard && soft > hard;
}

static int parse_lifetime(struct config *c, const struct ydoc_node *n,
                          const char *field, zesp_sa_params *p)
{
    static const char *const keys[] = { "soft", "hard", NULL };
    const struct ydoc_node *v;
    char f[128];

    if (want_type(c, n, YDOC_MAP, field) != 0 ||
        known_keys(c, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.soft", field);
    if ((v = ydoc_get(n, "soft")) && parse_limits(c, v, f, &p->soft) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.hard", field);
    if ((v = ydoc_get(n, "hard")) && parse_limits(c, v, f, &p->hard) != 0)
        return -1;
    if (soft_above_hard(p->soft.seconds, p->hard.seconds) ||
        soft_above_hard(p->soft.messages, p->hard.messages) ||
        soft_above_hard(p->soft.bytes, p->hard.bytes))
        return FAIL(c, n, field, "a soft limit is above its hard limit");
    return 0;
}

static int parse_sa(struct config *c, const struct ydoc_node *n, size_t i,
                    zesp_sa_params *p)
{
    static const char *const keys[] = { "spi", "direction", "transform",
                                         "esn", "key", "replay_window",
                                         "peer", "lifetime", NULL };
    const struct ydoc_node *v;
    char field[64], f[96];
    uint64_t w;
    int esn = 1;

    snprintf(field, sizeof field, "sas[%zu]", i);
    memset(p, 0, sizeof *p);
    if (want_type(c, n, YDOC_MAP, field) != 0 ||
        known_keys(c, n, field, keys) != 0)
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
    if (want_type(c, v, YDOC_SCALAR, f) != 0)
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
        parse_transform(c, v, f, &p->transform) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.esn", field);
    if ((v = ydoc_get(n, "esn")) && parse_bool(c, v, f, &esn) != 0)
        return -1;
    p->flags = esn ? 0 : ZESP_SA_NO_ESN;
    snprintf(f, sizeof f, "%s.key", field);
    if (parse_key(c, ydoc_get(n, "key"), f, p->key) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.replay_window", field);
    if ((v = ydoc_get(n, "replay_window")) != NULL) {
        if (p->direction != ZESP_DIR_IN)
            return FAIL(c, v, f, "only inbound SAs have a replay window");
        if (parse_uint(c, v, f, ZESP_REPLAY_WINDOW_MAX, NULL, &w) != 0)
            return -1;
        if (w < ZESP_REPLAY_WINDOW_MIN)
            return FAIL(c, v, f, "at least %u", ZESP_REPLAY_WINDOW_MIN);
        p->replay_window = (uint32_t)w;
    }
    snprintf(f, sizeof f, "%s.peer", field);
    if ((v = ydoc_get(n, "peer")) &&
        parse_name(c, v, f, p->peer, sizeof p->peer) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.lifetime", field);
    if ((v = ydoc_get(n, "lifetime")) && parse_lifetime(c, v, f, p) != 0)
        return -1;
    return 0;
}

static const zesp_sa_params *find_sa(const struct config *c, uint32_t spi,
                                     uint32_t direction)
{
    for (size_t i = 0; i < c->nsas; i++)
        if (c->sas[i].spi == spi && c->sas[i].direction == direction)
            return &c->sas[i];
    return NULL;
}

/* An SA a policy names must be in this file or, when loading, the SAD. */
static int sa_known(const struct config *c, zesp_sad *sad, uint32_t spi,
                    uint32_t direction)
{
    zesp_sa_info info;

    return find_sa(c, spi, direction) != NULL ||
           (sad != NULL && zesp_sa_info_get(sad, spi, direction, &info) == 0);
}

static int parse_policy(struct config *c, zesp_sad *sad,
                        const struct ydoc_node *n, size_t i, zesp_policy *p)
{
    static const char *const keys[] = { "name", "peer", "out", "in", NULL };
    const struct ydoc_node *v;
    char field[64], f[96];

    snprintf(field, sizeof field, "policies[%zu]", i);
    memset(p, 0, sizeof *p);
    if (want_type(c, n, YDOC_MAP, field) != 0 ||
        known_keys(c, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.name", field);
    if ((v = ydoc_get(n, "name")) == NULL)
        return FAIL(c, n, field, "'name' is required");
    if (parse_name(c, v, f, p->name, sizeof p->name) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.peer", field);
    if ((v = ydoc_get(n, "peer")) &&
        parse_name(c, v, f, p->peer, sizeof p->peer) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.out", field);
    if ((v = ydoc_get(n, "out")) != NULL) {
        if (parse_spi(c, v, f, &p->out_spi) != 0)
            return -1;
        if (!sa_known(c, sad, p->out_spi, ZESP_DIR_OUT))
            return FAIL(c, v, f, "no outbound SA 0x%08x", p->out_spi);
    }
    snprintf(f, sizeof f, "%s.in", field);
    if ((v = ydoc_get(n, "in")) != NULL) {
        if (want_type(c, v, YDOC_SEQ, f) != 0)
            return -1;
        if (v->n > ZESP_POLICY_IN_MAX)
            return FAIL(c, v, f, "at most %u inbound SAs", ZESP_POLICY_IN_MAX);
        for (size_t k = 0; k < v->n; k++) {
            char fk[128];
            snprintf(fk, sizeof fk, "%s[%zu]", f, k);
            if (parse_spi(c, v->items[k], fk, &p->in_spi[k]) != 0)
                return -1;
            if (!sa_known(c, sad, p->in_spi[k], ZESP_DIR_IN))
                return FAIL(c, v->items[k], fk, "no inbound SA 0x%08x",
                            p->in_spi[k]);
        }
    }
    return 0;
}

static int parse_list(struct config *c, const struct ydoc_node *list,
                      const char *name, size_t max, size_t elem,
                      void **items, const struct ydoc_node ***nodes)
{
    if (want_type(c, list, YDOC_SEQ, name) != 0)
        return -1;
    if (list->n > max)
        return FAIL(c, list, name, "more than %zu entries", max);
    *items = calloc(list->n ? list->n : 1, elem);
    *nodes = calloc(list->n ? list->n : 1, sizeof **nodes);
    if (*items == NULL || *nodes == NULL)
        return FAIL(c, list, name, "out of memory");
    return 0;
}

static int parse_config(struct config *c, zesp_sad *sad)
{
    static const char *const keys[] = { "sas", "policies", NULL };
    const struct ydoc_node *root = c->doc.root, *sas, *pols;

    if (root == NULL)
        return FAIL(c, NULL, NULL, "empty configuration");
    if (want_type(c, root, YDOC_MAP, "(top)") != 0 ||
        known_keys(c, root, "(top)", keys) != 0)
        return -1;
    if ((sas = ydoc_get(root, "sas")) != NULL) {
        if (parse_list(c, sas, "sas", CONFIG_MAX_SAS, sizeof *c->sas,
                       (void **)&c->sas, &c->sa_nodes) != 0)
            return -1;
        for (size_t i = 0; i < sas->n; i++) {
            zesp_sa_info info;
            char field[32];
            if (parse_sa(c, sas->items[i], i, &c->sas[i]) != 0)
                return -1;
            snprintf(field, sizeof field, "sas[%zu].spi", i);
            if (find_sa(c, c->sas[i].spi, c->sas[i].direction) != NULL)
                return FAIL(c, ydoc_get(sas->items[i], "spi"), field,
                            "SPI 0x%08x %s appears twice", c->sas[i].spi,
                            c->sas[i].direction == ZESP_DIR_IN ? "in" : "out");
            if (sad && zesp_sa_info_get(sad, c->sas[i].spi,
                                        c->sas[i].direction, &info) == 0)
                return FAIL(c, ydoc_get(sas->items[i], "spi"), field,
                            "SPI 0x%08x is already in the SAD", c->sas[i].spi);
            c->sa_nodes[i] = sas->items[i];
            c->nsas++;
        }
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
    if (c->sas != NULL)
        sodium_memzero(c->sas, c->nsas * sizeof *c->sas);
    free(c->sas);
    free(c->sa_nodes);
    free(c->policies);
    free(c->policy_nodes);
    ydoc_free(&c->doc);
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
    for (; added < c->nsas; added++)
        if (zesp_sa_add(sad, &c->sas[added]) != 0) {
            err = errno;
            FAIL(c, c->sa_nodes[added], "sas", "cannot install SPI 0x%08x: %s",
                 c->sas[added].spi, zesp_strerror(err));
            goto undo;
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
    c.err = err ? err : scratch;
    c.errlen = err ? errlen : sizeof scratch;
    if (c.errlen)
        c.err[0] = '\0';
    if (path == NULL || (do_apply && sad == NULL)) {
        errno = EINVAL;
        return -1;
    }
    if (zesp_init() != 0 || ydoc_load(path, &c.doc, c.err, c.errlen) != 0)
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
