/*
 * The key server's memory of the group SPIs it handed out, kept on disk.
 *
 * A member refuses another key under an SPI it holds (its replay windows
 * and sequence numbers belong to the key it has), so a key server never
 * makes a new group SA under an SPI some member may still hold: a group's
 * current SA, or one replaced whose lifetime has not ended (group.c).  A
 * key server killed and started again must remember them too, or a new
 * SA may come under a held SPI: the members refuse it and go without
 * the group's key until their old SA expires.  So every SPI a member may
 * hold is written here before it is handed out, with when its key's
 * lifetime ends, and read again at start.
 *
 * The file is written as the SAD's state records are: a temporary file
 * (of a random name: its folder may be shared),
 * fsync'd, renamed over the old one, the directory fsync'd; a crash at
 * any instant leaves one whole file.  Mode 0600, and refused if others
 * may write it.  It holds no key.  Times are on the wall clock, since the
 * monotonic one starts again at a reboot; a wall clock stepped forward by
 * more than a lifetime forgets early (doc/zike.md 9.7).
 */
#include "gcks_state.h"
#include "dir_sync.h"
#include "temp_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


uint64_t gcks_state_wall_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec <= 0)
        return GCKS_STATE_WALL_UNKNOWN;
    return (uint64_t)ts.tv_sec * 1000U + (uint64_t)ts.tv_nsec / 1000000U;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* One line without its '\n': "SPI UNTIL". */
static bool parse_line(const char *s, size_t len, struct gcks_state_spi *out,
                       const char **why)
{
    size_t i;
    uint64_t until = 0;

    out->spi = 0;
    if (len < 10 || s[8] != ' ') {
        *why = "expected 8 hex digits, a space and a time";
        return false;
    }
    for (i = 0; i < 8; i++) {
        int d = hex_digit(s[i]);
        if (d < 0) {
            *why = "an SPI is 8 lower-case hex digits";
            return false;
        }
        out->spi = out->spi << 4 | (uint32_t)d;
    }
    if (out->spi < 256) {
        *why = "an SPI below 256 (reserved, RFC 4303 2.1)";
        return false;
    }
    if (s[9] == '0' || len - 9 > 20) {
        *why = "a time is 1 to 20 decimal digits, no leading zero";
        return false;
    }
    for (i = 9; i < len; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9) {
            *why = "a time is decimal digits";
            return false;
        }
        if (until > (UINT64_MAX - d) / 10) {
            *why = "a time beyond 2^64 ms";
            return false;
        }
        until = until * 10 + d;
    }
    out->until = until;
    return true;
}

int gcks_state_parse(const char *text, size_t len, struct gcks_state_spi *out,
                     size_t max, size_t *n, char *err, size_t errlen)
{
    size_t magic = sizeof GCKS_STATE_MAGIC - 1, line = 1;
    const char *p = text + magic, *end = text + len;

    *n = 0;
    if (len < magic || memcmp(text, GCKS_STATE_MAGIC, magic) != 0) {
        snprintf(err, errlen, "line 1: not a zike key server state file "
                 "(expected \"%.*s\")", (int)magic - 1, GCKS_STATE_MAGIC);
        return -1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *why;

        line++;
        if (nl == NULL) {
            snprintf(err, errlen, "line %zu: cut short (no newline)", line);
            return -1;
        }
        if (*n == max) {
            snprintf(err, errlen, "line %zu: more than %zu SPIs", line, max);
            return -1;
        }
        if (!parse_line(p, (size_t)(nl - p), &out[*n], &why)) {
            snprintf(err, errlen, "line %zu: %s", line, why);
            return -1;
        }
        ++*n;
        p = nl + 1;
    }
    return 0;
}

int gcks_state_read(const char *path, struct gcks_state_spi *out, size_t max,
                    size_t *n, char *err, size_t errlen)
{
    static char text[GCKS_STATE_BYTES_MAX + 1];
    struct stat st;
    size_t len = 0;
    int fd, rc = -1;

    *n = 0;
    /* O_NONBLOCK: a FIFO put in its place (by whoever may write its
     * folder) is refused below, not waited on for ever at start. */
    if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                             O_CLOEXEC)) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s", errno == ELOOP ? "a symbolic link"
                                                  : strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        goto out;
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        snprintf(err, errlen, "must be ours and mode 0600 (another user "
                 "could make us hand out a held SPI again)");
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, text + len, sizeof text - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
        if (len == sizeof text) {
            snprintf(err, errlen, "longer than %u bytes",
                     GCKS_STATE_BYTES_MAX);
            goto out;
        }
    }
    rc = gcks_state_parse(text, len, out, max, n, err, errlen);
out:
    close(fd);
    return rc;
}

int gcks_state_leftovers(const char *path, size_t *removed)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    int fd, rc, saved;

    *removed = 0;
    if (slash == NULL || (size_t)(slash - path) >= sizeof dir)
        return errno = EINVAL, -1;
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path),
             path);
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = temp_file_leftovers(fd, temp_file_base_is, slash + 1, removed);
    saved = errno;
    close(fd);
    return rc == 0 ? 0 : (errno = saved, -1);
}

int gcks_state_write(const char *path, const struct gcks_state_spi *spis,
                     size_t n)
{
    static char text[GCKS_STATE_BYTES_MAX];
    char temp[4096 + TEMP_FILE_EXTRA];
    size_t len;
    int fd, saved;

    if (n > GCKS_STATE_MAX)
        return errno = E2BIG, -1;
    len = (size_t)snprintf(text, sizeof text, "%s", GCKS_STATE_MAGIC);
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "%08x %llu\n", spis[i].spi,
                                (unsigned long long)spis[i].until);
    /* A name nobody can guess, made new (temp_file.c): in a folder others
     * may write (sticky, as /var/tmp), a fixed PATH.new another user made
     * first is one we may neither unlink nor open, and the state would
     * never be saved again. */
    if ((fd = temp_file_open(AT_FDCWD, path, O_WRONLY, 0600, temp,
                             sizeof temp)) < 0)
        return -1;
    if (write_full(fd, text, len) != 0 || fsync(fd) != 0) {
        saved = errno;
        close(fd);
        unlink(temp);
        return errno = saved, -1;
    }
    if (close(fd) != 0 || rename(temp, path) != 0) {
        saved = errno;
        unlink(temp);
        return errno = saved, -1;
    }
    if ((saved = dir_sync_of(path)) != 0)
        return errno = saved, -1;
    return 0;
}
