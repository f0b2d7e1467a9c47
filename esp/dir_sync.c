/*
 * A file's fsync makes its data durable, not its name: after a crash the
 * new entry, or a rename, may be gone from the directory, data and all,
 * until the directory itself is fsync'd.  For what zesp writes once and
 * must find again (a state directory made, a key file), a missing entry
 * reads as "never made".  Shared by the library (seqstate.c, and zike's
 * gcks_state.c through libzesp_core) and the zesp tool (keygen.c), each
 * with its own copy.
 */
#include "dir_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int dir_sync_of(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    int fd, err = 0;

    if (len >= sizeof dir)
        return ENAMETOOLONG;
    if (len == 0) {
        strcpy(dir, ".");
    } else {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    /* A file system that cannot fsync a directory (EINVAL or EROFS: some
     * FUSE and network ones) offers nothing more to ask: the file itself
     * was fsync'd, and its name is as durable as that file system makes
     * any.  Failing there refused every key and state file on it. */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL && errno != EROFS))
        err = errno;
    if (fd >= 0)
        close(fd);
    return err;
}

int write_full(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;

    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0)
            return errno = EIO, -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}
