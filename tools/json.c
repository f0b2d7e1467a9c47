/* JSON output (json.h). */
#include <stdarg.h>
#include <string.h>

#include "json.h"

/* The length of the UTF-8 sequence at s (RFC 3629), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n;
    uint32_t c;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, c = s[0] & 0x1fU;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, c = s[0] & 0x0fU;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, c = s[0] & 0x07U;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3fU);
    }
    /* No overlong forms, no surrogates, nothing past U+10FFFF. */
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
        (n == 4 && c < 0x10000) || (c >= 0xd800 && c <= 0xdfff) ||
        c > 0x10ffff)
        return 0;
    return n;
}

void json_quote(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        size_t n;
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(f, "\\u%04x", *p++);
        } else if ((n = utf8_len(p)) == 0) {
            fputs("\\ufffd", f);          /* not UTF-8: replaced */
            p++;
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
    fputc('"', f);
}

void json_init(struct json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* The comma and the key before a value. */
static void member(struct json *j, const char *key)
{
    if (j->started[j->depth])
        fputc(',', j->f);
    j->started[j->depth] = true;
    if (key != NULL) {
        json_quote(j->f, key);
        fputc(':', j->f);
    }
}

static void open_with(struct json *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->f);
    if (j->depth + 1 < JSON_DEPTH_MAX)
        j->started[++j->depth] = false;
}

void json_object(struct json *j, const char *key)
{
    open_with(j, key, '{');
}

void json_array(struct json *j, const char *key)
{
    open_with(j, key, '[');
}

void json_end(struct json *j, char closing)
{
    fputc(closing, j->f);
    if (j->depth > 0)
        j->depth--;
}

void json_str(struct json *j, const char *key, const char *v)
{
    member(j, key);
    json_quote(j->f, v);
}

void json_strf(struct json *j, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_str(j, key, buf);
}

void json_u64(struct json *j, const char *key, uint64_t v)
{
    member(j, key);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void json_bool(struct json *j, const char *key, bool v)
{
    member(j, key);
    fputs(v ? "true" : "false", j->f);
}
