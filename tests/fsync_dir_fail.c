/*
 * LD_PRELOAD for a program under test: fsync of a directory fails with
 * the errno given in FSYNC_DIR_ERRNO (a number; unset: the real fsync),
 * as some FUSE and network file systems answer EINVAL.  Files' fsync is
 * left alone.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int fsync(int fd)
{
    static int (*real)(int);
    const char *e = getenv("FSYNC_DIR_ERRNO");
    struct stat st;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "fsync");
    if (real == NULL)
        return errno = ENOSYS, -1;
    if (e != NULL && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = atoi(e);
        return -1;
    }
    return real(fd);
}
