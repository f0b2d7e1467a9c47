/*
 * Typed fields of a YAML document (yaml_doc.h), shared by the SA
 * configuration and the key daemon's: each reader checks the node and on
 * error writes "FILE:LINE:COL: FIELD: what" and returns -1.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "owner.h"
#include "sad.h"
#include "spd.h"
#include "yaml_fields.h"

int yf_type(struct yctx *c, const struct ydoc_node *n,
                     enum ydoc_type t, const char *field)
{
    if (n->type != t)
        return YFAIL(c, n, field, "expected %s, found %s", ydoc_type_name(t),
                    ydoc_type_name(n->type));
    return 0;
}

/* Every key of a mapping must be one of `known` (a NULL-ended list). */
int yf_known_keys(struct yctx *c, const struct ydoc_node *map,
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
            return YFAIL(c, map->items[i], field,
                        "unknown key '%s' (known: %s)", key, list);
        }
    }
    return 0;
}

struct suffix {
    const char *text;
    uint64_t mult;
};

/* Sizes and seconds: one letter each (`units` picks which apply). */
static const struct suffix plain_units[] = {
    { "K", 1024ULL }, { "M", 1024ULL * 1024 },
    { "G", 1024ULL * 1024 * 1024 }, { "s", 1 }, { "m", 60 },
    { "h", 3600 }, { "d", 86400 },
};

/* Milliseconds: a bare number is milliseconds, as these keys always
 * were; a unit says which was meant, so `5s` is not read as 5 ms. */
static const struct suffix millis_units[] = {
    { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
};

static bool unit_allowed(const struct suffix *table, size_t count,
                         const char *units, const char *text)
{
    for (size_t i = 0; i < count; i++)
        if (strcmp(table[i].text, text) == 0)
            return units == NULL || strchr(units, text[0]) != NULL;
    return false;
}

/* An unsigned integer, decimal (no leading 0) or 0x hex, then one of the
 * table's suffixes that `units` allows (NULL: any of them), or none. */
static int scaled_uint(struct yctx *c, const struct ydoc_node *n,
                       const char *field, uint64_t max,
                       const struct suffix *table, size_t count,
                       const char *units, const char *names, uint64_t *out)
{
    char *end;
    uint64_t v, mult = 1;
    bool hex;

    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    errno = 0;
    if (n->scalar[0] == '-' || !isdigit((unsigned char)n->scalar[0]))
        return YFAIL(c, n, field, "'%s' is not a non-negative integer",
                    n->scalar);
    /* A leading 0 is octal to strtoull and YAML 1.1, decimal to YAML 1.2
     * and to whoever padded the number: which was meant is not guessed. */
    if (n->scalar[0] == '0' && isdigit((unsigned char)n->scalar[1]))
        return YFAIL(c, n, field, "'%s': a leading 0 (octal in YAML 1.1, "
                     "decimal in YAML 1.2): write it without, or in 0x hex",
                     n->scalar);
    hex = n->scalar[0] == '0' && (n->scalar[1] == 'x' || n->scalar[1] == 'X');
    v = strtoull(n->scalar, &end, hex ? 16 : 10);
    for (size_t i = 0; *end && i < count; i++)
        if (strcmp(end, table[i].text) == 0 &&
            (units == NULL || strchr(units, table[i].text[0]))) {
            mult = table[i].mult;
            end += strlen(end);
        }
    if (*end != '\0')
        return YFAIL(c, n, field, "'%s' is not an integer%s%s%s", n->scalar,
                    names ? " (suffixes: " : "", names ? names : "",
                    names ? ")" : "");
    /* d is a hex digit and the unit of days: 0x1d is 29, or 0x1 days. */
    if (hex && errno != ERANGE && tolower((unsigned char)end[-1]) == 'd' &&
        unit_allowed(table, count, units, "d"))
        return YFAIL(c, n, field, "'%s': hex %llu, or %.*s days? Write "
                     "it in decimal: %llu, or %llud", n->scalar,
                     (unsigned long long)v, (int)(end - n->scalar - 1),
                     n->scalar, (unsigned long long)v,
                     (unsigned long long)(v >> 4));
    if (errno == ERANGE || v > max / mult)
        return YFAIL(c, n, field, "%s is above the maximum %llu%s", n->scalar,
                    (unsigned long long)max,
                    table == millis_units ? " ms" : "");
    *out = v * mult;
    return 0;
}

int yf_uint(struct yctx *c, const struct ydoc_node *n,
                      const char *field, uint64_t max, const char *units,
                      uint64_t *out)
{
    return scaled_uint(c, n, field, max, plain_units,
                       units ? sizeof plain_units / sizeof plain_units[0] : 0,
                       units, units, out);
}

int yf_millis(struct yctx *c, const struct ydoc_node *n, const char *field,
              uint64_t max, uint64_t *out)
{
    return scaled_uint(c, n, field, max, millis_units,
                       sizeof millis_units / sizeof millis_units[0], NULL,
                       "ms, s, m, h", out);
}

int yf_bool(struct yctx *c, const struct ydoc_node *n,
                      const char *field, int *out)
{
    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strcmp(n->scalar, "true") == 0 || strcmp(n->scalar, "yes") == 0)
        *out = 1;
    else if (strcmp(n->scalar, "false") == 0 || strcmp(n->scalar, "no") == 0)
        *out = 0;
    else
        return YFAIL(c, n, field, "expected true or false, found '%s'",
                    n->scalar);
    return 0;
}

int yf_replay_scope(struct yctx *c, const struct ydoc_node *n,
                    const char *field, int *per_process)
{
    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (strcmp(n->scalar, "host") == 0)
        *per_process = 0;
    else if (strcmp(n->scalar, "process") == 0)
        *per_process = 1;
    else
        return YFAIL(c, n, field, "expected host (a message is accepted "
                     "once per host: load-balanced workers) or process "
                     "(once per process: subscribers), found '%s'",
                     n->scalar);
    return 0;
}

int yf_name(struct yctx *c, const struct ydoc_node *n,
                      const char *field, char *out, size_t outlen)
{
    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    if (n->scalar[0] == '\0' || strlen(n->scalar) >= outlen)
        return YFAIL(c, n, field, "expected 1 to %zu characters", outlen - 1);
    for (const char *p = n->scalar; *p; p++)
        if (!spd_name_byte((unsigned char)*p))
            return YFAIL(c, n, field, "printable ASCII only: no spaces, "
                         "control characters or non-ASCII bytes");
    /* zesp and zikectl take names as arguments: "-x" would be an option. */
    if (n->scalar[0] == '-')
        return YFAIL(c, n, field, "'%s' begins with '-', which zesp and "
                     "zikectl would read as an option", n->scalar);
    memcpy(out, n->scalar, strlen(n->scalar) + 1);
    return 0;
}

int yf_transform(struct yctx *c, const struct ydoc_node *n,
                           const char *field, uint32_t *out)
{
    static const uint32_t ids[] = { ZESP_CHACHA20_POLY1305, ZESP_AES256GCM,
                                    ZESP_NULL_AES256GMAC,
                                    ZESP_NULL_CHACHA20_POLY1305 };

    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (strcmp(n->scalar, zesp_transform_name(ids[i])) == 0) {
            if (!zesp_transform_available(ids[i]))
                return YFAIL(c, n, field, "%s is not supported on this CPU",
                            n->scalar);
            *out = ids[i];
            return 0;
        }
    return YFAIL(c, n, field, "unknown transform '%s' (known: "
                "chacha20-poly1305, aes256gcm, null-aes256gmac, "
                "null-chacha20-poly1305)", n->scalar);
}

int yf_limits(struct yctx *c, const struct ydoc_node *n,
                        const char *field, zesp_lifetime *out)
{
    static const char *const keys[] = { "seconds", "messages", "bytes", NULL };
    const struct ydoc_node *v;
    char f[128];

    if (yf_type(c, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(c, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.seconds", field);
    if ((v = ydoc_get(n, "seconds")) &&
        yf_uint(c, v, f, UINT64_MAX, "smhd", &out->seconds) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.messages", field);
    if ((v = ydoc_get(n, "messages")) &&
        yf_uint(c, v, f, UINT64_MAX, NULL, &out->messages) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.bytes", field);
    if ((v = ydoc_get(n, "bytes")) &&
        yf_uint(c, v, f, UINT64_MAX, "KMG", &out->bytes) != 0)
        return -1;
    return 0;
}

static int soft_above_hard(uint64_t soft, uint64_t hard)
{
    return soft && hard && soft > hard;
}

int yf_lifetime(struct yctx *c, const struct ydoc_node *n,
                const char *field, zesp_lifetime *soft, zesp_lifetime *hard)
{
    static const char *const keys[] = { "soft", "hard", NULL };
    const struct ydoc_node *v;
    char f[128];

    if (yf_type(c, n, YDOC_MAP, field) != 0 ||
        yf_known_keys(c, n, field, keys) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.soft", field);
    if ((v = ydoc_get(n, "soft")) && yf_limits(c, v, f, soft) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.hard", field);
    if ((v = ydoc_get(n, "hard")) && yf_limits(c, v, f, hard) != 0)
        return -1;
    if (soft_above_hard(soft[0].seconds, hard[0].seconds) ||
        soft_above_hard(soft[0].messages, hard[0].messages) ||
        soft_above_hard(soft[0].bytes, hard[0].bytes))
        return YFAIL(c, n, field, "a soft limit is above its hard limit");
    return 0;
}


/* The first line of a key file, into text (which the caller wipes): read
 * with read(2) straight into it, never through stdio, whose buffer would
 * keep a copy of the key in freed memory. */
int yf_secret_line(struct yctx *c, const struct ydoc_node *n,
                   const char *field, const char *path, char *text,
                   size_t textlen, bool one_line)
{
    char full[PATH_MAX], dir[PATH_MAX];
    unsigned mode, owner;
    bool more;
    int err;

    snprintf(dir, sizeof dir, "%s", c->doc.file);
    if (path[0] == '/')
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", dirname(dir), path);
    err = key_read_line(full, text, textlen, &mode, &owner, &more);
    if (err == ZESP_EKEYFILE && (mode & 077) != 0)
        return YFAIL(c, n, field,
                     "%s: key file readable by others (mode %03o); chmod 600 it",
                     full, mode);
    if (err == ZESP_EKEYFILE)
        return YFAIL(c, n, field,
                     "%s: key file owned by uid %u, not by this user (uid %u) "
                     "nor root; chown it", full, owner, (unsigned)geteuid());
    if (err == ELOOP)
        return YFAIL(c, n, field, "%s: a symbolic link: name the key file "
                     "itself", full);
    if (err == EINVAL)
        return YFAIL(c, n, field, "%s: not a regular file", full);
    if (err != 0)
        return YFAIL(c, n, field, "%s: %s", full, strerror(err));
    if (one_line && more) {
        sodium_memzero(text, textlen);
        return YFAIL(c, n, field, "%s: more than one line: the file holds "
                     "the key alone, on one line (a line before it, a "
                     "comment say, would be taken for the key)", full);
    }
    return 0;
}

/* Whoever may write a configuration chooses its keys and policies. */
static int file_trusted(struct yctx *c)
{
    const struct ydoc *d = &c->doc;

    if (!owner_trusted((uid_t)d->file_uid)) {
        snprintf(c->err, c->errlen, "%s: owned by uid %u, not by this user "
                 "(uid %u) nor root: chown it", d->file, d->file_uid,
                 (unsigned)geteuid());
        return -1;
    }
    if (d->file_mode & S_IWOTH) {
        snprintf(c->err, c->errlen, "%s: any user may write it (mode %03o): "
                 "chmod o-w it", d->file, d->file_mode & 0777U);
        return -1;
    }
    /* The group bits of a file with an ACL are its mask: "the group may
     * write" would let in every user and group the ACL names. */
    if (d->file_named_write) {
        snprintf(c->err, c->errlen, "%s: its ACL lets a user or group it "
                 "names write it: setfacl -b it", d->file);
        return -1;
    }
    return 0;
}

int yf_load(struct yctx *c, const char *path)
{
    if (ydoc_load(path, &c->doc, c->err, c->errlen) != 0)
        return -1;
    if (file_trusted(c) != 0) {
        ydoc_free(&c->doc);
        return -1;
    }
    return 0;
}

/* A key written into the file itself is as secret as a key file. */
int yf_inline_secret(struct yctx *c, const struct ydoc_node *n,
                     const char *field)
{
    if ((c->doc.file_mode & 077) == 0)
        return 0;
    return YFAIL(c, n, field, "a secret key written into a file others may "
                 "read (mode %03o): chmod 600 %s, or keep the key in a file "
                 "of its own (file:PATH)", c->doc.file_mode & 0777U,
                 c->doc.file);
}

/* mode: octal, as chmod takes it; owner read-write, the group at most
 * read-write, nothing for others. */
static int sad_mode(struct yctx *c, const struct ydoc_node *n,
                    const char *field, uint32_t *mode)
{
    size_t len;
    unsigned long v;

    if (yf_type(c, n, YDOC_SCALAR, field) != 0)
        return -1;
    len = strlen(n->scalar);
    if (len == 0 || len > 5 || strspn(n->scalar, "01234567") != len)
        return YFAIL(c, n, field, "'%s' is not an octal mode such as 0600 "
                     "or 0660", n->scalar);
    v = strtoul(n->scalar, NULL, 8);
    if (v & 07)
        return YFAIL(c, n, field, "mode %04lo gives other users access to "
                     "the keys: use 0600, 0640 or 0660", v);
    if (!sad_mode_valid((uint32_t)v))
        return YFAIL(c, n, field, "mode %04lo: the owner must read and write "
                     "(0600), the group may read or write (0640, 0660), "
                     "nothing else", v);
    *mode = (uint32_t)v;
    return 0;
}

int yf_sad(struct yctx *c, const struct ydoc_node *n, const char *field,
           char *path, size_t pathlen, zesp_sad_opts *opts)
{
    static const char *const keys[] = { "path", "mode", "group", "capacity",
                                        NULL };
    const struct ydoc_node *v;
    char f[64], dir[sizeof c->doc.file];
    uint64_t slots;
    gid_t gid;
    int len;

    path[0] = '\0';
    if (n->type == YDOC_SCALAR)
        v = n;
    else if (yf_type(c, n, YDOC_MAP, field) != 0 ||
             yf_known_keys(c, n, field, keys) != 0)
        return -1;
    else
        v = ydoc_get(n, "path");
    snprintf(f, sizeof f, "%s%s", field, v == n ? "" : ".path");
    if (v != NULL) {
        if (yf_type(c, v, YDOC_SCALAR, f) != 0)
            return -1;
        if (v->scalar[0] == '\0')
            return YFAIL(c, v, f, "an empty path");
        /* Relative to the file's folder, as key files: not to the
         * working directory of whichever program reads it. */
        snprintf(dir, sizeof dir, "%s", c->doc.file);
        len = v->scalar[0] == '/'
                  ? snprintf(path, pathlen, "%s", v->scalar)
                  : snprintf(path, pathlen, "%s/%s", dirname(dir), v->scalar);
        if (len < 0 || (size_t)len >= pathlen) {
            path[0] = '\0';
            return YFAIL(c, v, f, "longer than %zu characters (a relative "
                         "path with this file's folder)", pathlen - 1);
        }
    }
    if (n->type == YDOC_SCALAR)
        return 0;
    snprintf(f, sizeof f, "%s.mode", field);
    if ((v = ydoc_get(n, "mode")) && sad_mode(c, v, f, &opts->mode) != 0)
        return -1;
    snprintf(f, sizeof f, "%s.group", field);
    if ((v = ydoc_get(n, "group"))) {
        if (yf_name(c, v, f, opts->group, sizeof opts->group) != 0)
            return -1;
        if (sad_group_id(opts->group, &gid) != 0)
            return YFAIL(c, v, f, "group '%s' does not exist (groupadd it, "
                         "or name another)", opts->group);
    }
    snprintf(f, sizeof f, "%s.capacity", field);
    if ((v = ydoc_get(n, "capacity"))) {
        if (yf_uint(c, v, f, ZESP_SAD_CAPACITY_MAX, "KM", &slots) != 0)
            return -1;
        if (slots == 0)
            return YFAIL(c, v, f, "0 SA slots: at least 1 (default %u)",
                         ZESP_SAD_CAPACITY_DEFAULT);
        opts->capacity = (uint32_t)slots;
    }
    return 0;
}
