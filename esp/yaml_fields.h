/* Typed fields of a YAML document, with errors that say where. */
#ifndef ZESP_YAML_FIELDS_H
#define ZESP_YAML_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "yaml_doc.h"
#include "zesp.h"

struct yctx {
    struct ydoc doc;
    char *err;
    size_t errlen;
};

#define YFAIL(y, node, field, ...) \
    ydoc_error((y)->err, (y)->errlen, &(y)->doc, (node), (field), __VA_ARGS__)

int yf_type(struct yctx *c, const struct ydoc_node *n, enum ydoc_type t,
            const char *field);
/* Every key of a mapping must be one of `known` (a NULL-ended list). */
int yf_known_keys(struct yctx *c, const struct ydoc_node *map,
                  const char *field, const char *const *known);
/* Decimal or 0x hex, with an optional suffix from `units` (KMG, smhd);
 * a leading 0 before a digit is refused (octal or decimal?). */
int yf_uint(struct yctx *c, const struct ydoc_node *n, const char *field,
            uint64_t max, const char *units, uint64_t *out);
/* A duration in milliseconds: a bare number is milliseconds; or a number
 * with ms, s, m or h (`10s`, `500ms`). */
int yf_millis(struct yctx *c, const struct ydoc_node *n, const char *field,
              uint64_t max, uint64_t *out);
int yf_bool(struct yctx *c, const struct ydoc_node *n, const char *field,
            int *out);
/* Where a message is accepted once: `host` (0: one window shared by the
 * host's processes) or `process` (1: ZESP_SA_PER_PROCESS_WINDOW). */
int yf_replay_scope(struct yctx *c, const struct ydoc_node *n,
                    const char *field, int *per_process);
/* 1 to outlen - 1 printable characters, no spaces. */
int yf_name(struct yctx *c, const struct ydoc_node *n, const char *field,
            char *out, size_t outlen);
/* An ESP transform by name (zesp_transform_name). */
int yf_transform(struct yctx *c, const struct ydoc_node *n,
                 const char *field, uint32_t *out);
int yf_limits(struct yctx *c, const struct ydoc_node *n, const char *field,
              zesp_lifetime *out);
/* { soft: limits, hard: limits }, no soft limit above its hard one. */
int yf_lifetime(struct yctx *c, const struct ydoc_node *n, const char *field,
                zesp_lifetime *soft, zesp_lifetime *hard);
/* The SAD: PATH, or { path: PATH, mode: 0660, group: NAME } (any key may
 * be missing: path becomes "", opts keeps its values); a relative PATH is
 * made relative to the file's folder.  A mode must give others nothing, a
 * group must exist. */
int yf_sad(struct yctx *c, const struct ydoc_node *n, const char *field,
           char *path, size_t pathlen, zesp_sad_opts *opts);
/* The YAML file at path into c->doc, if it is ours or root's and not
 * writable by every user (judged on the file read, by its fstat, not on
 * its path): 0, else -1 with the reason in c->err and c->doc empty. */
int yf_load(struct yctx *c, const char *path);
/* 0 if the document's file may hold a secret key written in it (neither
 * group nor others may read it); else -1 naming the field. */
int yf_inline_secret(struct yctx *c, const struct ydoc_node *n,
                     const char *field);
/* The first line of a secret file, relative to the YAML file; refused if
 * group or others may read it, and, if one_line, if anything but line
 * ends follows that line (a secret of free text, where any line would
 * pass for one). */
int yf_secret_line(struct yctx *c, const struct ydoc_node *n,
                   const char *field, const char *path, char *text,
                   size_t textlen, bool one_line);

#endif
