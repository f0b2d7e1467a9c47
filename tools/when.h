/* Times for people: "3m 12s ago", "in 52m", ISO 8601 in UTC; never raw
 * epoch seconds in text output (JSON keeps the numbers). */
#ifndef ZESP_TOOL_WHEN_H
#define ZESP_TOOL_WHEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define WHEN_BYTES 32U

/* "45s", "3m 12s", "2h 5m", "3d 4h": the two largest units. */
const char *when_duration(char buf[WHEN_BYTES], uint64_t seconds);
/* "2026-12-01T14:08:28Z" */
const char *when_iso8601(char buf[WHEN_BYTES], time_t t);
/* "12 KiB", "3.4 MiB": bytes in binary units ("512 B" below 1 KiB). */
const char *when_bytes(char buf[WHEN_BYTES], uint64_t bytes);

#endif
