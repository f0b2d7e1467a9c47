/*
 * openat, the test program's own (include this in one file only): armed
 * (new_watch), each new file named *.new (a SAD being made, a record
 * being written) is at once opened, with new_watch_flags, by
 * new_watch_uid, as a user a default ACL names could do before the file's
 * ACL is stripped: a descriptor opened then keeps its access to the file
 * after its rename, whatever its ACL and mode become.  new_seen says one
 * was made, new_opened that the other user opened it.
 */
#ifndef ZESP_NEW_FILE_WATCH_H
#define ZESP_NEW_FILE_WATCH_H

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static bool new_watch, new_seen, new_opened;
static uid_t new_watch_uid;
static int new_watch_flags;

int openat(int fd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    va_list ap;
    int rc, status;
    pid_t pid;

    if (flags & O_CREAT) {
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, unsigned);
        va_end(ap);
    }
    rc = (int)syscall(SYS_openat, fd, path, flags, mode);
    if (rc >= 0 && new_watch && (flags & O_CREAT) &&
        strlen(path) > 4 && strcmp(path + strlen(path) - 4, ".new") == 0) {
        char link[64], full[PATH_MAX + 256] = "";
        ssize_t n;

        /* By its full name: the library closes its directory's
         * descriptor in a child as it starts (fork_gen.c). */
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        if ((n = readlink(link, full, PATH_MAX)) > 0) {
            full[n] = '\0';
            snprintf(full + n, sizeof full - (size_t)n, "/%s", path);
        }
        new_seen = true;
        if ((pid = fork()) == 0)
            _exit(setgroups(0, NULL) == 0 && setgid(new_watch_uid) == 0 &&
                  setuid(new_watch_uid) == 0 &&
                  open(full, new_watch_flags) >= 0 ? 0 : 1);
        new_opened = pid > 0 && waitpid(pid, &status, 0) == pid &&
                     WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    return rc;
}

#endif
