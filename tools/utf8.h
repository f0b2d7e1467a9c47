/* UTF-8 for the text writers (json.c, openmetrics.c, safe_text.c): names
 * come from configurations, the SAD and peers, and may hold any byte. */
#ifndef ZESP_TOOL_UTF8_H
#define ZESP_TOOL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length of the UTF-8 sequence (RFC 3629) in the avail bytes at s,
 * 0 if it is not one; its code point into *cp. */
size_t utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);
/* The same at s, NUL-terminated. */
size_t utf8_len(const unsigned char *s);

#endif
