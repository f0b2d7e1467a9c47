/* Reading a YAML file into a ydoc tree with libyaml's event parser. */
#include "yaml_doc.h"
#include "acl.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
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
    /* Each key is compared with the mapping's others: their number is
     * bounded, or 50,000 keys in a file of 600 KB take minutes. */
    if (parent->type == YDOC_MAP && parent->n % 2 == 0 &&
        parent->n / 2 >= YDOC_MAX_KEYS) {
        ydoc_error(b->err, b->errlen, b->doc, n, NULL, "more than %u keys "
                   "in the mapping of line %u", YDOC_MAX_KEYS, parent->line);
        node_free(n);
        return -1;
    }
    if (parent->type == YDOC_MAP && duplicate_key(parent, n)) {
        ydoc_error(b->err, b->errlen, b->doc, n, NULL, "duplicate key '%s'",
                   n->scalar);
        node_free(n);
        return -1;
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
        /* Not read, so refused as on a scalar: !!null {...} is data. */
        if (e->type == YAML_SEQUENCE_START_EVENT
                ? e->data.sequence_start.tag && !e->data.sequence_start.implicit
                : e->data.mapping_start.tag && !e->data.mapping_start.implicit)
            return fail_at(b, m, "tags are not allowed");
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

/* libyaml frees what it allocates without wiping it.  What a key written
 * into the file may have left in the strings of an event or of a token
 * still queued, or in the parser's input buffers, is wiped here first.
 * (The scanner's own growing copies of a scalar are out of our reach:
 * doc/threat-model.md.) */
static void wipe_str(yaml_char_t *s)
{
    if (s != NULL)
        sodium_memzero(s, strlen((const char *)s));
}

static void event_wipe(yaml_event_t *e)
{
    switch (e->type) {
    case YAML_SCALAR_EVENT:
        if (e->data.scalar.value != NULL)
            sodium_memzero(e->data.scalar.value, e->data.scalar.length);
        wipe_str(e->data.scalar.anchor);
        wipe_str(e->data.scalar.tag);
        break;
    case YAML_ALIAS_EVENT:
        wipe_str(e->data.alias.anchor);
        break;
    case YAML_SEQUENCE_START_EVENT:
        wipe_str(e->data.sequence_start.anchor);
        wipe_str(e->data.sequence_start.tag);
        break;
    case YAML_MAPPING_START_EVENT:
        wipe_str(e->data.mapping_start.anchor);
        wipe_str(e->data.mapping_start.tag);
        break;
    default:
        break;
    }
}

static void token_wipe(yaml_token_t *t)
{
    switch (t->type) {
    case YAML_SCALAR_TOKEN:
        if (t->data.scalar.value != NULL)
            sodium_memzero(t->data.scalar.value, t->data.scalar.length);
        break;
    case YAML_ALIAS_TOKEN:
        wipe_str(t->data.alias.value);
        break;
    case YAML_ANCHOR_TOKEN:
        wipe_str(t->data.anchor.value);
        break;
    case YAML_TAG_TOKEN:
        wipe_str(t->data.tag.handle);
        wipe_str(t->data.tag.suffix);
        break;
    default:
        break;
    }
}

static void parser_wipe_delete(yaml_parser_t *p)
{
    for (yaml_token_t *t = p->tokens.head; t != NULL && t != p->tokens.tail;
         t++)
        token_wipe(t);
    if (p->raw_buffer.start != NULL)
        sodium_memzero(p->raw_buffer.start,
                       (size_t)(p->raw_buffer.end - p->raw_buffer.start));
    if (p->buffer.start != NULL)
        sodium_memzero(p->buffer.start,
                       (size_t)(p->buffer.end - p->buffer.start));
    yaml_parser_delete(p);
}

/* The whole file, into guarded memory that sodium_free wipes (locked
 * where the system allows it): never through stdio, whose buffer fclose
 * frees unwiped.  The size and trust of the file read, not of the path
 * looked at before: what yaml_fields.c judges is what was parsed. */
static int read_file(const char *path, struct ydoc *doc, unsigned char **text,
                     size_t *len, char *err, size_t errlen)
{
    struct stat st;
    unsigned char *buf = NULL;
    size_t cap, got = 0;
    int fd, e = 0;

    /* O_NONBLOCK: a FIFO is refused below, not waited on for ever. */
    if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > YDOC_MAX_FILE) {
        e = EFBIG;
        snprintf(err, errlen, "%s: larger than %u bytes", path,
                 YDOC_MAX_FILE);
        goto fail;
    }
    doc->file_mode = (unsigned)(st.st_mode & 07777);
    doc->file_uid = (unsigned)st.st_uid;
    doc->file_named_write = (acl_named_perms(fd, false) & ACL_WRITE) != 0;
    /* One byte more than fstat said, to see a file that grew meanwhile. */
    cap = (size_t)st.st_size + 1;
    if ((buf = sodium_malloc(cap)) == NULL) {
        e = errno ? errno : ENOMEM;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        goto fail;
    }
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            snprintf(err, errlen, "%s: %s", path, strerror(e));
            goto fail;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got == cap) {
        e = EAGAIN;
        snprintf(err, errlen, "%s: changed while it was read; try again",
                 path);
        goto fail;
    }
    close(fd);
    *text = buf;
    *len = got;
    return 0;
fail:
    sodium_free(buf);
    if (fd >= 0)
        close(fd);
    errno = e;
    return -1;
}

/* The length of the line break at text[i] as libyaml's scanner counts
 * them (yaml_private.h IS_BREAK, SKIP_LINE): "\r\n" one break, "\r" and
 * "\n" alone, NEL, LS and PS; 0 if none. */
static size_t break_at(const unsigned char *text, size_t len, size_t i)
{
    if (text[i] == '\r')
        return i + 1 < len && text[i + 1] == '\n' ? 2 : 1;
    if (text[i] == '\n')
        return 1;
    if (i + 1 < len && text[i] == 0xc2 && text[i + 1] == 0x85)
        return 2;
    if (i + 2 < len && text[i] == 0xe2 && text[i + 1] == 0x80 &&
        (text[i + 2] == 0xa8 || text[i + 2] == 0xa9))
        return 3;
    return 0;
}

/* libyaml's reader (bad UTF-8, a control character) gives where as a
 * byte offset, its mark left at 1:1: the line and column are counted
 * here, in characters and line breaks as the scanner's are (a byte order
 * mark is none; "\r" and "\r\n" end lines as "\n" does). */
static void offset_at(const unsigned char *text, size_t len, size_t offset,
                      struct ydoc_node *at)
{
    size_t bom = len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;

    at->line = 1;
    at->col = 1;
    for (size_t i = bom, n; i < offset && i < len; i++)
        if ((n = break_at(text, len, i)) != 0 && i + n <= offset) {
            at->line++;
            at->col = 1;
            i += n - 1;
        } else if ((text[i] & 0xc0U) != 0x80U) {
            at->col++;
        }
}

static int syntax_error(const yaml_parser_t *p, const unsigned char *text,
                        size_t len, const struct ydoc *doc, char *err,
                        size_t errlen)
{
    struct ydoc_node at = { .line = (unsigned)p->problem_mark.line + 1U,
                            .col = (unsigned)p->problem_mark.column + 1U };

    if (p->error == YAML_READER_ERROR) {
        char value[16] = "";

        if (p->encoding == YAML_UTF8_ENCODING)
            offset_at(text, len, p->problem_offset, &at);
        if (p->problem_value >= 0)
            snprintf(value, sizeof value, ": 0x%02X", p->problem_value);
        return ydoc_error(err, errlen, doc, &at, NULL, "YAML syntax: %s "
                          "(byte %zu of the file%s)",
                          p->problem ? p->problem : "error",
                          p->problem_offset + 1, value);
    }
    return ydoc_error(err, errlen, doc, &at, NULL, "YAML syntax: %s%s%s",
                      p->problem ? p->problem : "error",
                      p->context ? " " : "", p->context ? p->context : "");
}

int ydoc_load(const char *path, struct ydoc *doc, char *err, size_t errlen)
{
    struct builder b = { .doc = doc, .err = err, .errlen = errlen };
    yaml_parser_t parser;
    unsigned char *text;
    size_t len;
    int done = 0, rc = 0;

    memset(doc, 0, sizeof *doc);
    snprintf(doc->file, sizeof doc->file, "%s", path);
    if (sodium_init() < 0) {
        snprintf(err, errlen, "%s: libsodium cannot start", path);
        errno = ENOSYS;
        return -1;
    }
    if (read_file(path, doc, &text, &len, err, errlen) != 0)
        return -1;
    if (!yaml_parser_initialize(&parser)) {
        sodium_free(text);
        snprintf(err, errlen, "%s: out of memory", path);
        errno = ENOMEM;
        return -1;
    }
    yaml_parser_set_input_string(&parser, text, len);
    while (!done && rc == 0) {
        yaml_event_t e;
        if (!yaml_parser_parse(&parser, &e)) {
            rc = syntax_error(&parser, text, len, doc, err, errlen);
            break;
        }
        rc = on_event(&b, &e, &done);
        event_wipe(&e);
        yaml_event_delete(&e);
    }
    parser_wipe_delete(&parser);
    sodium_free(text);
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
