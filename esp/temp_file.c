/*
 * A file written whole is written to a temporary file, fsync'd, renamed
 * over the old one, and its directory fsync'd (dir_sync.c): a crash at any
 * instant leaves the old file or the new one.  The temporary file's name
 * is random, made new with O_EXCL and without following a link.  A fixed
 * name (FILE.new) in a folder others may write (a group's, or a sticky
 * one as /var/tmp) is one another user, or a crashed writer, can take
 * first: a file we may not unlink, a directory, a link.  The next write
 * fails there, and every one after it.  A random name nobody can take
 * first; what a killed writer leaves is found by its form and removed,
 * under the writers' lock (temp_file_leftovers).  Shared by the sequence
 * records (seqstate.c), the SAD's creation (sad_file.c) and zike's
 * key-server state (gcks_state.c).
 */
#include "temp_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int temp_file_open(int dirfd, const char *base, int access, mode_t mode,
                   char *tmp, size_t tmplen)
{
    char tag[2 * TEMP_FILE_TAG_BYTES + 1];
    uint8_t rnd[TEMP_FILE_TAG_BYTES];

    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(tag, sizeof tag, rnd, sizeof rnd);
    if ((size_t)snprintf(tmp, tmplen, "%s.%s" TEMP_FILE_SUFFIX, base, tag) >=
        tmplen)
        return errno = ENAMETOOLONG, -1;
    return openat(dirfd, tmp,
                  access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
}

/* The length of name's base if it is a temporary name, else 0. */
static size_t temp_base_len(const char *name)
{
    size_t n = strlen(name), tail = TEMP_FILE_EXTRA - 1U;

    if (n <= tail || name[n - tail] != '.' ||
        strcmp(name + n - sizeof TEMP_FILE_SUFFIX + 1U, TEMP_FILE_SUFFIX) != 0)
        return 0;
    for (size_t i = n - tail + 1U; i < n - sizeof TEMP_FILE_SUFFIX + 1U; i++)
        if (!lower_hex(name[i]))
            return 0;
    return n - tail;
}

bool temp_file_base_is(const char *name, size_t len, const void *arg)
{
    const char *base = arg;

    return strlen(base) == len && memcmp(name, base, len) == 0;
}

int temp_file_leftovers(int dirfd, temp_file_base_fn *is_base, const void *arg,
                        size_t *removed)
{
    struct dirent *e;
    struct stat st;
    DIR *d;
    int fd, rc = 0, saved = 0;
    size_t len;

    *removed = 0;
    /* A descriptor of its own: readdir's position is the description's. */
    if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    if ((d = fdopendir(fd)) == NULL) {
        saved = errno;
        close(fd);
        return errno = saved, -1;
    }
    while ((errno = 0, e = readdir(d)) != NULL) {
        if ((len = temp_base_len(e->d_name)) == 0 ||
            !is_base(e->d_name, len, arg) ||
            fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (unlinkat(fd, e->d_name, 0) == 0)
            ++*removed;
        else if (errno != ENOENT && rc == 0)
            rc = -1, saved = errno;
    }
    if (rc == 0 && errno != 0)
        rc = -1, saved = errno;
    closedir(d);
    return rc == 0 ? 0 : (errno = saved, -1);
}
