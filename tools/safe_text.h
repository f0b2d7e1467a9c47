/*
 * Text from elsewhere (an identity a peer sent, a name in the SAD, a
 * reply of zike) made safe to show, for zike's log, zikectl and zesp: a
 * terminal or a log reader sees each byte as text and nothing else.
 * Printable ASCII and UTF-8 stay as they are; a backslash is written \\;
 * control characters (C0, DEL, C1: ESC [ and CSI start terminal escape
 * sequences, a line feed starts a line of the sender's own), the
 * bidirectional and line-separator characters (which reorder or break
 * what a viewer shows) and bytes that are not UTF-8 are written \xNN,
 * one per byte.  So the result is valid UTF-8 on one line, and says
 * which bytes came.
 */
#ifndef ZESP_TOOL_SAFE_TEXT_H
#define ZESP_TOOL_SAFE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The size of a buffer that holds any n bytes escaped, NUL included. */
#define SAFE_TEXT_BYTES(n) (4U * (size_t)(n) + 1U)

/* Is the code point one that is not shown as it is (JSON escapes them
 * too: json.c)? */
bool safe_text_escapes(uint32_t cp);

/* s (NUL-terminated) escaped into out, which is always terminated (size
 * > 0) and cut before a character that does not fit.  Returns out. */
char *safe_text(char *out, size_t size, const char *s);

/* The len bytes at s, NUL included, escaped onto f; with
 * SAFE_TEXT_ESCAPED, a backslash is left as it is: for text that was
 * escaped already (zike's replies, for zikectl), which stays as it was
 * and loses any control character that a peer of ours did not escape. */
enum { SAFE_TEXT_ALL = 0, SAFE_TEXT_ESCAPED = 1 };
void safe_text_write(FILE *f, const char *s, size_t len, int how);

#endif
