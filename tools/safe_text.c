/* Text made safe to show (safe_text.h). */
#include <string.h>

#include "safe_text.h"
#include "utf8.h"

bool safe_text_escapes(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||     /* C0, DEL, C1 */
           cp == 0x200e || cp == 0x200f ||                /* LRM, RLM */
           (cp >= 0x2028 && cp <= 0x202e) ||  /* LS, PS, LRE..RLO */
           (cp >= 0x2066 && cp <= 0x2069);    /* LRI..PDI */
}

/* The next character of s as shown, into piece; the bytes it took. */
static size_t one(const unsigned char *s, size_t avail, int how,
                  char piece[17])
{
    static const char hex[] = "0123456789abcdef";
    uint32_t cp;
    size_t n = utf8_decode(s, avail, &cp), k = 0;

    if (n != 0 && cp == '\\' && how != SAFE_TEXT_ESCAPED) {
        memcpy(piece, "\\\\", 3);
        return 1;
    }
    if (n != 0 && !safe_text_escapes(cp)) {
        memcpy(piece, s, n);
        piece[n] = '\0';
        return n;
    }
    if (n == 0)
        n = 1;                          /* not UTF-8: that byte alone */
    for (size_t i = 0; i < n; i++) {
        piece[k++] = '\\';
        piece[k++] = 'x';
        piece[k++] = hex[s[i] >> 4];
        piece[k++] = hex[s[i] & 15];
    }
    piece[k] = '\0';
    return n;
}

char *safe_text(char *out, size_t size, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), at = 0;
    char piece[17];

    while (len > 0) {
        size_t used = one(p, len, SAFE_TEXT_ALL, piece);
        size_t plen = strlen(piece);
        if (at + plen >= size)
            break;
        memcpy(out + at, piece, plen);
        at += plen;
        p += used;
        len -= used;
    }
    out[at] = '\0';
    return out;
}

void safe_text_write(FILE *f, const char *s, size_t len, int how)
{
    const unsigned char *p = (const unsigned char *)s;
    char piece[17];

    while (len > 0) {
        size_t used = one(p, len, how, piece);
        fputs(piece, f);
        p += used;
        len -= used;
    }
}
