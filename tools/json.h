/*
 * The one JSON writer, for zesp and for zike's control replies (zikectl):
 * the writer places the commas, and every string is escaped (RFC 8259 7),
 * bytes that are not UTF-8 included, so that any name gives valid JSON;
 * so are C1 controls and the bidirectional and line-separator characters
 * (safe_text.h), so that JSON printed on a terminal is only text.
 */
#ifndef ZESP_TOOL_JSON_H
#define ZESP_TOOL_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_DEPTH_MAX 16U

struct json {
    FILE *f;
    unsigned depth;
    bool started[JSON_DEPTH_MAX];   /* a member or element written */
};

void json_init(struct json *j, FILE *f);
/* key: the member's name inside an object, NULL inside an array or at the
 * top. */
void json_object(struct json *j, const char *key);
void json_array(struct json *j, const char *key);
void json_end(struct json *j, char closing);   /* '}' or ']' */
void json_str(struct json *j, const char *key, const char *v);
void json_strf(struct json *j, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void json_u64(struct json *j, const char *key, uint64_t v);
void json_bool(struct json *j, const char *key, bool v);
/* A string as a JSON string, quotes included. */
void json_quote(FILE *f, const char *s);

#endif
