/* UTF-8 sequences (utf8.h). */
#include "utf8.h"

size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp)
{
    size_t n;
    uint32_t c;

    if (avail == 0)
        return 0;
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xe0) == 0xc0)
        n = 2, c = s[0] & 0x1fU;
    else if ((s[0] & 0xf0) == 0xe0)
        n = 3, c = s[0] & 0x0fU;
    else if ((s[0] & 0xf8) == 0xf0)
        n = 4, c = s[0] & 0x07U;
    else
        return 0;
    if (n > avail)
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
    *cp = c;
    return n;
}

/* A NUL ends the sequence early (it is no continuation byte), so no byte
 * past the string is read. */
size_t utf8_len(const unsigned char *s)
{
    uint32_t cp;

    return utf8_decode(s, 4, &cp);
}
