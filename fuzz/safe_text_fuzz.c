/*
 * libFuzzer target: the escaper of text shown on terminals and in zike's
 * log (tools/safe_text.c) and the JSON writer's strings (tools/json.c),
 * over any bytes.  Checked: the text is valid UTF-8 with no character
 * that safe_text_escapes() names, so no control character, escape
 * sequence or line break gets through; undoing \\ and \xNN gives back the
 * input, NUL included, so nothing is lost or made up; a buffer too small
 * holds a prefix of the whole, cut between two characters; text escaped
 * already (backslashes kept) and a JSON string hold no such character
 * either.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "safe_text.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

/* Only text: UTF-8 throughout, nothing safe_text_escapes() names. */
static void only_text(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    while (len > 0) {
        uint32_t cp;
        size_t n = utf8_decode(p, len, &cp);
        REQUIRE(n != 0 && !safe_text_escapes(cp));
        p += n;
        len -= n;
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                                 : -1;
}

/* The bytes the text stands for, into out; their number. */
static size_t undo(const char *s, size_t len, uint8_t *out)
{
    size_t n = 0;

    for (size_t i = 0; i < len; n++) {
        if (s[i] != '\\') {
            out[n] = (uint8_t)s[i++];
            continue;
        }
        REQUIRE(i + 1 < len);
        if (s[i + 1] == '\\') {
            out[n] = '\\';
            i += 2;
            continue;
        }
        REQUIRE(s[i + 1] == 'x' && i + 3 < len && hexval(s[i + 2]) >= 0 &&
                hexval(s[i + 3]) >= 0);
        out[n] = (uint8_t)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
        i += 4;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *all = NULL, *cut, *str, *json = NULL;
    size_t all_len = 0, json_len = 0, back, small;
    uint8_t *orig;
    FILE *f;
    struct json j;

    if ((f = open_memstream(&all, &all_len)) == NULL)
        return 0;
    safe_text_write(f, (const char *)data, size, SAFE_TEXT_ALL);
    if (fclose(f) != 0)
        return 0;
    only_text(all, all_len);
    REQUIRE(all_len <= SAFE_TEXT_BYTES(size) - 1);
    orig = malloc(all_len + 1);
    REQUIRE(orig != NULL);
    back = undo(all, all_len, orig);
    REQUIRE(back == size && memcmp(orig, data, size) == 0);
    free(orig);

    /* Text escaped already (zikectl): backslashes kept, only text out. */
    if ((f = open_memstream(&json, &json_len)) == NULL)
        return 0;
    safe_text_write(f, (const char *)data, size, SAFE_TEXT_ESCAPED);
    if (fclose(f) == 0)
        only_text(json, json_len);
    free(json);
    json = NULL;

    /* The string form, up to the first NUL, in a buffer of any size. */
    str = malloc(size + 1);
    REQUIRE(str != NULL);
    memcpy(str, data, size);
    str[size] = '\0';
    small = size > 0 ? data[0] % (SAFE_TEXT_BYTES(size)) + 1 : 1;
    cut = malloc(small);
    REQUIRE(cut != NULL);
    safe_text(cut, small, str);
    REQUIRE(strlen(cut) < small && strncmp(cut, all, strlen(cut)) == 0);
    only_text(cut, strlen(cut));
    free(cut);

    if ((f = open_memstream(&json, &json_len)) != NULL) {
        json_init(&j, f);
        json_str(&j, NULL, str);
        if (fclose(f) == 0) {
            only_text(json, json_len);
            REQUIRE(json_len >= 2 && json[0] == '"' &&
                    json[json_len - 1] == '"');
        }
    }
    free(json);
    free(str);
    free(all);
    return 0;
}
