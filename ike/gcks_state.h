/*
 * The key server's memory of the group SPIs it handed out, on disk
 * (gcks_state.c): what a restart must not forget.
 */
#ifndef ZIKE_GCKS_STATE_H
#define ZIKE_GCKS_STATE_H

#include <stddef.h>
#include <stdint.h>

/* At most this many SPIs in the file: every group's current and replaced
 * SAs (ZIKE_MAX_GROUPS x (1 + GCKS_PAST_SPIS)), and as many again of
 * groups no longer served or of an earlier run. */
#define GCKS_STATE_MAX 1024U
/* A file longer than its largest content is refused unread. */
#define GCKS_STATE_LINE_MAX 32U
#define GCKS_STATE_BYTES_MAX (32U + GCKS_STATE_MAX * GCKS_STATE_LINE_MAX)
#define GCKS_STATE_MAGIC "zike-gcks-spis 1\n"

/* An SPI members may hold until `until` (ms since the epoch, wall clock:
 * the monotonic clock starts again at a reboot). */
struct gcks_state_spi {
    uint32_t spi;
    uint64_t until;
};

/* Parses a file's text: the magic line, then one "SPI UNTIL\n" line per
 * SPI (8 lower-case hex digits, SPI >= 256; decimal ms, no leading zero),
 * at most max of them.  0, or -1 with err a sentence naming the line. */
int gcks_state_parse(const char *text, size_t len, struct gcks_state_spi *out,
                     size_t max, size_t *n, char *err, size_t errlen);

/* Reads path: 0 (n = 0 when there is no file), or -1 with err.  Refused:
 * not a regular file, a symbolic link, not ours, readable or writable by
 * others than its owner, too long, or what gcks_state_parse refuses. */
int gcks_state_read(const char *path, struct gcks_state_spi *out, size_t max,
                    size_t *n, char *err, size_t errlen);

/* Writes the n SPIs to path: a temporary file (mode 0600) written,
 * fsync'd and renamed over path, the directory fsync'd, so that a crash
 * leaves the old file or the new one whole.  0, or -1 with errno. */
int gcks_state_write(const char *path, const struct gcks_state_spi *spis,
                     size_t n);

/* Removes the temporary files of path's writes that a crash left (path's
 * name, a dot, 16 hex digits, ".new"; ours only: in a sticky folder
 * another's is not ours to judge).  Only while path's lock is held: no
 * other zike writes it.  0 and *removed, or -1 with errno (what was
 * removed is still counted). */
int gcks_state_leftovers(const char *path, size_t *removed);

/* Now on the wall clock, ms since the epoch, or GCKS_STATE_WALL_UNKNOWN
 * when it cannot be read.  Unknown, the times fail safe, towards holding:
 * an SPI is written as held until GCKS_STATE_UNTIL_FAR, and every SPI
 * read is held for the longest group lifetime (group.c). */
#define GCKS_STATE_WALL_UNKNOWN 0U
#define GCKS_STATE_UNTIL_FAR UINT64_MAX
uint64_t gcks_state_wall_ms(void);

#endif
