/* Reading a YAML file into a ydoc tree with libyaml's event parser. */
#include "yaml_doc.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

struct builder {
    struct ydoc *doc;
    struct ydoc_node *stack[YDOC_MAX_DEPTH];
    size_t depth;
    char *err;
    size_t errlen;
};

const char *ydoc_type_name(enum ydoc_type t)
{
    return t == YDOC_MAP ? "a mapping" : t == YDOC_SEQ ? "a list" : "a scalar";
}

int ydoc_error(char *err, size_t errlen, const struct ydoc *doc,
               const struct ydoc_node *at, const char *field,
               const char *fmt, ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return -1;
    n = snprintf(err, errlen, "%s:%u:%u: %s%s", doc->file, at ? at->line : 1,
                 at ? at->col : 1, field ? field : "", field ? ": " : "");
    if (n >= 0 && (size_t)n < errlen) {
        va_start(ap, fmt);
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void node_free(struct ydoc_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        node_free(n->items[i]);
    free(n->items);
    if (n->scalar != NULL) {
        /* Scalars may hold key material: wipe before freeing, where the
         * compiler may not drop the wipe as a dead store. */
        sodium_memzero(n->scalar, strlen(n->scalar));
        free(n->scalar);
    }
    free(n);
}

void ydoc_free(struct ydoc *doc)
{
    if (doc == NULL)
        return;
    node_free(doc->root);
    doc->root = NULL;
}

static int fail_at(struct builder *b, const yaml_mark_t *m, const char *what)
{
    struct ydoc_node at = { .line = (unsigned)m->line + 1U,
                            .col = (unsigned)m->column + 1U };
    return ydoc_error(b->err, b->errlen, b->doc, &at, NULL, "%s", what);
}

static int append(struct ydoc_node *parent, struct ydoc_node *child)
{
    struct ydoc_node **items = realloc(parent->items,
                                       (parent->n + 1) * sizeof *items);
    if (items == NULL)
        return -1;
    parent->items = items;
    parent->items[parent->n++] = child;
    return 0;
}

static bool duplicate_key(const struct ydoc_node *map,
                          const struct ydoc_node *key)
{
    if (map->n % 2 != 0 || key->type != YDOC_SCALAR)
        return false;    /* key is the value of a pair, or not a scalar */
    for (size_t i = 0; i < map->n; i += 2)
        if (map->items[i]->type == YDOC_SCALAR &&
            strcmp(map->items[i]->scalar, key->scalar) == 0)
            return true;
    return false;
}

/* Attach a finished node to its parent, or make it the root. */
static int attach(struct builder *b, struct ydoc_node *n, const yaml_mark_t *m)
{
    if (b->depth == 0) {
        if (b->doc->root != NULL) {
            node_free(n);
            return fail_at(b, m, "more than one document");
        }
        b->doc->root = n;
        return 0;
    }
    struct ydoc_node *parent = b->stack[b->depth - 1];
    if (parent->type == YDOC_MAP && parent->n % 2 == 0 &&
        n->type != YDOC_SCALAR) {
        node_free(n);
        return fail_at(b, m, "a mapping key must be a plain scalar");
    }
    if (parent->type == YDOC_MAP && duplicate_key(parent, n)) {
        int rc = fail_at(b, m, "duplicate key");
        size_t len = strlen(b->err);
        snprintf(b->err + len, b->errlen - len, " '%s'", n->scalar);
        node_free(n);
        return rc;
    }
    if (append(parent, n) != 0) {
        node_free(n);
        return fail_at(b, m, "out of memory");
    }
    return 0;
}

static struct ydoc_node *new_node(struct builder *b, enum ydoc_type t,
                                  const yaml_mark_t *m)
{
    struct ydoc_node *n;

    if (++b->doc->nodes > YDOC_MAX_NODES) {
        fail_at(b, m, "too many nodes");
        return NULL;
    }
    if ((n = calloc(1, sizeof *n)) == NULL) {
        fail_at(b, m, "out of memory");
        return NULL;
    }
    n->type = t;
    n->line = (unsigned)m->line + 1U;
    n->col = (unsigned)m->column + 1U;
    return n;
}

static int on_event(struct builder *b, yaml_event_t *e, int *done)
{
    const yaml_mark_t *m = &e->start_mark;
    struct ydoc_node *n;

    switch (e->type) {
    case YAML_STREAM_START_EVENT:
    case YAML_DOCUMENT_START_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    case YAML_STREAM_END_EVENT:
        *done = 1;
        return 0;
    case YAML_ALIAS_EVENT:
        return fail_at(b, m, "aliases are not allowed");
    case YAML_SCALAR_EVENT:
        if (e->data.scalar.anchor || (e->data.scalar.tag &&
                                      e->data.scalar.plain_implicit == 0 &&
                                      e->data.scalar.quoted_implicit == 0))
            return fail_at(b, m, "anchors and tags are not allowed");
        if (e->data.scalar.length > YDOC_MAX_SCALAR)
            return fail_at(b, m, "value too long");
        if ((n = new_node(b, YDOC_SCALAR, m)) == NULL)
            return -1;
        if ((n->scalar = strndup((const char *)e->data.scalar.value,
                                 e->data.scalar.length)) == NULL ||
            strlen(n->scalar) != e->data.scalar.length) {
            node_free(n);
            return fail_at(b, m, "a value holds a NUL byte");
        }
        return attach(b, n, m);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if ((e->type == YAML_SEQUENCE_START_EVENT ? e->data.sequence_start.anchor
                                                  : e->data.mapping_start.anchor))
            return fail_at(b, m, "anchors are not allowed");
        if (b->depth == YDOC_MAX_DEPTH)
            return fail_at(b, m, "nested too deeply");
        n = new_node(b, e->type == YAML_MAPPING_START_EVENT ? YDOC_MAP
                                                            : YDOC_SEQ, m);
        if (n == NULL)
            return -1;
        b->stack[b->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        n = b->stack[--b->depth];
        return attach(b, n, &(yaml_mark_t){ .line = n->line - 1U,
                                            .column = n->col - 1U });
    default:
        return fail_at(b, m, "unexpected YAML event");
    }
}

int ydoc_load(const char *path, struct ydoc *doc, char *err, size_t errlen)
{
    struct builder b = { .doc = doc, .err = err, .errlen = errlen };
    yaml_parser_t parser;
    struct stat st;
    FILE *f;
    long size;
    int done = 0, rc = 0;

    memset(doc, 0, sizeof *doc);
    snprintf(doc->file, sizeof doc->file, "%s", path);
    if ((f = fopen(path, "rb")) == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    /* The file read, not the path looked at before: what the trust
     * checks (yaml_fields.c) judge is what was parsed. */
    if (fstat(fileno(f), &st) != 0) {
        int e = errno;
        fclose(f);
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    doc->file_mode = (unsigned)(st.st_mode & 07777);
    doc->file_uid = (unsigned)st.st_uid;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || size > (long)YDOC_MAX_FILE) {
        fclose(f);
        snprintf(err, errlen, "%s: larger than %u bytes, or unreadable", path,
                 YDOC_MAX_FILE);
        return -1;
    }
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    while (!done && rc == 0) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            yaml_mark_t m = parser.problem_mark;
            struct ydoc_node at = { .line = (unsigned)m.line + 1U,
                                    .col = (unsigned)m.column + 1U };
            rc = ydoc_error(err, errlen, doc, &at, NULL, "YAML syntax: %s%s%s",
                            parser.problem ? parser.problem : "error",
                            parser.context ? " " : "",
                            parser.context ? parser.context : "");
            break;
        }
        rc = on_event(&b, &e, &done);
        yaml_event_delete(&e);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    while (b.depth > 0)
        node_free(b.stack[--b.depth]);
    if (rc != 0)
        ydoc_free(doc);
    return rc;
}

const struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key)
{
    if (map == NULL || map->type != YDOC_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->items[i]->scalar, key) == 0)
            return map->items[i + 1];
    return NULL;
}
