/*
 * A verifier's senders from YAML (doc/configuration.md, "Senders' public
 * keys"): public keys only, so the file may be readable by anyone.
 *
 *   senders:
 *     - { spi: 0x2001, sender_id: 4, sign_key: "hex:2543b92f..." }
 *     - { spi: any, sender_id: 5, sign_key: "z85:..." }
 *
 * An entry without spi (or spi: any) holds under every SPI (verify.c).
 * The whole file is checked before the verifier changes, and an error
 * says "FILE:LINE:COLUMN: FIELD: what"; of two entries that clash, the
 * second's, naming the first's line.
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "key.h"
#include "verify.h"
#include "yaml_fields.h"

#define FAIL(y, node, field, ...) YFAIL(y, node, field, __VA_ARGS__)

struct entry {
    uint32_t spi;               /* ZESP_SPI_ANY: any */
    uint32_t sid;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
};

static int read_spi(struct yctx *y, const struct ydoc_node *v,
                    const char *f, uint32_t *spi)
{
    uint64_t u;

    *spi = ZESP_SPI_ANY;
    if (v == NULL || (v->type == YDOC_SCALAR && strcmp(v->scalar, "any") == 0))
        return 0;
    if (yf_uint(y, v, f, UINT32_MAX, NULL, &u) != 0)
        return -1;
    if (u == 0)
        return FAIL(y, v, f, "SPI 0 is reserved (spi: any, or no spi, for "
                             "any SPI)");
    *spi = (uint32_t)u;
    return 0;
}

static int read_entry(struct yctx *y, const struct ydoc_node *n, size_t i,
                      struct entry *e)
{
    static const char *const keys[] = { "spi", "sender_id", "sign_key",
                                        NULL };
    const struct ydoc_node *v;
    char field[64], f[96];
    uint64_t sid;

    snprintf(field, sizeof field, "senders[%zu]", i);
    if (yf_type(y, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(y, n, field, keys) != 0)
        return -1;
    for (const char *const *k = keys + 1; *k; k++)
        if (ydoc_get(n, *k) == NULL)
            return FAIL(y, n, field, "'%s' is required", *k);
    snprintf(f, sizeof f, "%s.spi", field);
    if (read_spi(y, ydoc_get(n, "spi"), f, &e->spi) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.sender_id", field);
    v = ydoc_get(n, "sender_id");
    if (yf_uint(y, v, f, ZESP_SENDER_ID_MAX, NULL, &sid) != 0)
        return -1;
    if (sid == 0)
        return FAIL(y, v, f, "Sender IDs are 1 to %u", ZESP_SENDER_ID_MAX);
    e->sid = (uint32_t)sid;
    snprintf(f, sizeof f, "%s.sign_key", field);
    v = ydoc_get(n, "sign_key");
    if (yf_type(y, v, YDOC_SCALAR, f) != 0)
        return -1;
    if (key_decode(v->scalar, e->pk, sizeof e->pk) != 0)
        return FAIL(y, v, f, "expected hex: and 64 hex digits or z85: and "
                             "40 characters (an Ed25519 public key)");
    if (crypto_core_ed25519_is_valid_point(e->pk) != 1)
        return FAIL(y, v, f, "not an Ed25519 public key");
    return 0;
}

static void spi_text(char out[16], uint32_t spi)
{
    if (spi == ZESP_SPI_ANY)
        snprintf(out, 16, "any SPI");
    else
        snprintf(out, 16, "SPI 0x%08x", (unsigned)spi);
}

/* Entry i clashed (ZESP_EEXIST): with which earlier entry, and how. */
static int clash(struct yctx *y, const struct ydoc_node *list, size_t i,
                 const struct entry *e, const zesp_verifier *t)
{
    const struct ydoc_node *n = list->items[i];
    char field[64], here[16], there[16];

    snprintf(field, sizeof field, "senders[%zu]", i);
    spi_text(here, e->spi);
    for (size_t k = 0; k < i; k++) {
        struct entry o;
        unsigned line = list->items[k]->line;

        /* Entries before i were read without error. */
        if (read_entry(y, list->items[k], k, &o) != 0 || o.sid != e->sid ||
            (o.spi != e->spi && o.spi != ZESP_SPI_ANY &&
             e->spi != ZESP_SPI_ANY))
            continue;
        spi_text(there, o.spi);
        if (o.spi != e->spi)
            return FAIL(y, n, field, "Sender ID %u under %s, and under %s "
                        "at senders[%zu] (line %u): ambiguous, give one or "
                        "the other", (unsigned)e->sid, here, there, k, line);
        if (sodium_memcmp(o.pk, e->pk, sizeof o.pk) != 0)
            return FAIL(y, n, field, "%s, Sender ID %u: two keys (the other "
                        "at senders[%zu], line %u)", here, (unsigned)e->sid,
                        k, line);
        return FAIL(y, n, field, "%s, Sender ID %u: listed twice (also at "
                    "senders[%zu], line %u)", here, (unsigned)e->sid, k,
                    line);
    }
    /* Not in this file: with an entry the verifier held before it. */
    for (size_t k = 0; k < t->n; k++)
        if (t->senders[k].id == verifier_key(e->spi, e->sid))
            return FAIL(y, n, field, "%s, Sender ID %u: listed twice (held "
                        "before this file)", here, (unsigned)e->sid);
    return FAIL(y, n, field, "Sender ID %u under %s: ambiguous beside its "
                "entry held before this file", (unsigned)e->sid, here);
}

static int parse_sender(struct yctx *y, const struct ydoc_node *list,
                        size_t i, zesp_verifier *t)
{
    struct entry e;
    char field[64];

    if (read_entry(y, list->items[i], i, &e) != 0)
        return -1;
    if (zesp_verifier_add(t, e.spi, e.sid, e.pk) == 0)
        return 0;
    if (errno == ZESP_EEXIST)
        return clash(y, list, i, &e, t);
    snprintf(field, sizeof field, "senders[%zu]", i);
    return FAIL(y, list->items[i], field, "%s", zesp_strerror(errno));
}

static int parse(struct yctx *y, zesp_verifier *t)
{
    const struct ydoc_node *root = y->doc.root, *list;
    static const char *const top[] = { "senders", NULL };

    if (root == NULL)
        return FAIL(y, NULL, "senders", "the file is empty");
    if (yf_type(y, root, YDOC_MAP, "(top)") != 0 ||
        yf_known_keys(y, root, "(top)", top) != 0)
        return -1;
    if ((list = ydoc_get(root, "senders")) == NULL)
        return FAIL(y, root, "senders", "'senders' is required");
    if (yf_type(y, list, YDOC_SEQ, "senders") != 0)
        return -1;
    for (size_t i = 0; i < list->n; i++)
        if (parse_sender(y, list, i, t) != 0)
            return -1;
    return 0;
}

int zesp_verifier_load(zesp_verifier *v, const char *path, char *err,
                       size_t errlen)
{
    struct yctx y = { .errlen = 0 };
    zesp_verifier t = { .n = 0 };
    char scratch[512];
    int rc = -1, e = ZESP_ECONFIG;

    y.err = err ? err : scratch;
    y.errlen = err ? errlen : sizeof scratch;
    if (y.errlen)
        y.err[0] = '\0';
    if (v == NULL || path == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* The senders already there first, so that the file's are checked
     * against them too; v takes the whole table only at the end. */
    if (v->n && (t.senders = malloc(v->n * sizeof *t.senders)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (v->n)
        memcpy(t.senders, v->senders, v->n * sizeof *t.senders);
    t.n = t.cap = v->n;
    if (zesp_init() != 0 || yf_load(&y, path) != 0 || parse(&y, &t) != 0)
        goto out;
    free(v->senders);
    v->senders = t.senders;
    v->n = t.n;
    v->cap = t.cap;
    t.senders = NULL;
    rc = 0;
out:
    free(t.senders);
    ydoc_free(&y.doc);
    if (rc != 0)
        errno = e;
    return rc;
}
