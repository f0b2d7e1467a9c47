/* JSON output (json.h). */
#include <stdarg.h>
#include <string.h>

#include "json.h"
#include "safe_text.h"
#include "utf8.h"

void json_quote(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    fputc('"', f);
    while (*p) {
        uint32_t cp;
        size_t n = utf8_decode(p, 4, &cp);  /* stops at the NUL */
        if (*p == '"' || *p == '\\') {
            fprintf(f, "\\%c", *p++);
        } else if (n == 0) {
            fputs("\\ufffd", f);          /* not UTF-8: replaced */
            p++;
        } else if (safe_text_escapes(cp)) {
            /* RFC 8259 needs only C0; the rest reaches terminals too. */
            fprintf(f, "\\u%04x", (unsigned)cp);
            p += n;
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
