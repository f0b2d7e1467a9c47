/* A file written whole and its new name made durable: the directory that
 * holds it fsync'd. */
#ifndef ZESP_DIR_SYNC_H
#define ZESP_DIR_SYNC_H

#include <stddef.h>

/* fsync the directory that path's last part is in ("." for a bare name,
 * "/" for "/x").  0, also where the file system cannot fsync a directory
 * (EINVAL, EROFS: the file's own fsync is all there is), or an errno. */
int dir_sync_of(const char *path);

/* Write all n bytes of p to fd, again after EINTR or a short write.
 * 0, or -1 with errno set (EIO if write returned 0). */
int write_full(int fd, const void *p, size_t n);

#endif
