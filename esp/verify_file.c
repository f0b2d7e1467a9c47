/*
 * A verifier's senders from YAML (doc/configuration.md, "Senders' public
 * keys"): public keys only, so the file may be readable by anyone.
 *
 *   senders:
 *     - { spi: 0x2001, sender_id: 4, sign_key: "hex:2543b92f..." }
 *
 * The whole file is checked before the verifier changes, and an error
 * says "FILE:LINE:COLUMN: FIELD: what".
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

static int parse_sender(struct yctx *y, const struct ydoc_node *n, size_t i,
                        zesp_verifier *t)
{
    static const char *const keys[] = { "spi", "sender_id", "sign_key",
                                        NULL };
    const struct ydoc_node *v;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
    char field[64], f[96];
    uint64_t spi, sid;

    snprintf(field, sizeof field, "senders[%zu]", i);
    if (yf_type(y, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(y, n, field, keys) != 0)
        return -1;
    for (const char *const *k = keys; *k; k++)
        if (ydoc_get(n, *k) == NULL)
            return FAIL(y, n, field, "'%s' is required", *k);
    snprintf(f, sizeof f, "%s.spi", field);
    if (yf_uint(y, ydoc_get(n, "spi"), f, UINT32_MAX, NULL, &spi) != 0)
        return -1;
    if (spi == 0)
        return FAIL(y, ydoc_get(n, "spi"), f, "SPI 0 is reserved");
    snprintf(f, sizeof f, "%s.sender_id", field);
    v = ydoc_get(n, "sender_id");
    if (yf_uint(y, v, f, ZESP_SENDER_ID_MAX, NULL, &sid) != 0)
        return -1;
    if (sid == 0)
        return FAIL(y, v, f, "Sender IDs are 1 to %u", ZESP_SENDER_ID_MAX);
    snprintf(f, sizeof f, "%s.sign_key", field);
    v = ydoc_get(n, "sign_key");
    if (yf_type(y, v, YDOC_SCALAR, f) != 0)
        return -1;
    if (key_decode(v->scalar, pk, sizeof pk) != 0)
        return FAIL(y, v, f, "expected hex: and 64 hex digits or z85: and "
                             "40 characters (an Ed25519 public key)");
    if (zesp_verifier_add(t, (uint32_t)spi, (uint32_t)sid, pk) == 0)
        return 0;
    if (errno == ZESP_EEXIST)
        return FAIL(y, n, field, "SPI 0x%08x, Sender ID %u: listed twice",
                    (unsigned)spi, (unsigned)sid);
    if (errno == EINVAL)
        return FAIL(y, v, f, "not an Ed25519 public key");
    return FAIL(y, n, field, "%s", zesp_strerror(errno));
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
        if (parse_sender(y, list->items[i], i, t) != 0)
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
