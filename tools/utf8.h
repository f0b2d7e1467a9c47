/* UTF-8 for the text writers (json.c, openmetrics.c): names come from
 * configurations and the SAD, and may hold any byte. */
#ifndef ZESP_TOOL_UTF8_H
#define ZESP_TOOL_UTF8_H

#include <stddef.h>

/* The length of the UTF-8 sequence at s (RFC 3629), 0 if it is not one. */
size_t utf8_len(const unsigned char *s);

#endif
