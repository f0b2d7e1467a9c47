/*
 * A YAML document as a small tree whose every node knows its line and
 * column, so that a configuration error can say where it is.  Schema-free:
 * the SA configuration and the key daemon's use it alike.  Bounded in file
 * size, depth, node count, keys per mapping and scalar length; anchors,
 * aliases, tags and duplicate keys are refused.
 */
#ifndef ZESP_YAML_DOC_H
#define ZESP_YAML_DOC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define YDOC_MAX_FILE (1U << 20)
#define YDOC_MAX_DEPTH 32U
#define YDOC_MAX_NODES 100000U
#define YDOC_MAX_SCALAR 4096U
#define YDOC_MAX_KEYS 1024U      /* in one mapping */

enum ydoc_type { YDOC_SCALAR, YDOC_MAP, YDOC_SEQ };

struct ydoc_node {
    enum ydoc_type type;
    unsigned line, col;          /* 1-based */
    char *scalar;                /* YDOC_SCALAR: the text */
    struct ydoc_node **items;    /* SEQ: items; MAP: key, value, key, ... */
    size_t n;                    /* SEQ: items; MAP: 2 x pairs */
};

struct ydoc {
    struct ydoc_node *root;      /* NULL for an empty document */
    char file[4096];
    size_t nodes;
    unsigned file_mode;          /* of the file read (fstat), & 07777 */
    unsigned file_uid;           /* its owner */
    bool file_named_write;       /* its ACL lets a named user or group write */
};

/* 0, or -1 with "FILE:LINE:COL: what" in err. */
int ydoc_load(const char *path, struct ydoc *doc, char *err, size_t errlen);
void ydoc_free(struct ydoc *doc);

/* The value of `key` in a map, or NULL. */
const struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key);
const char *ydoc_type_name(enum ydoc_type t);

/* Writes "FILE:LINE:COL: FIELD: message" into err and returns -1. */
int ydoc_error(char *err, size_t errlen, const struct ydoc *doc,
               const struct ydoc_node *at, const char *field,
               const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
