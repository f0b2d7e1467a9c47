/*
 * A directory nobody else may write can still be renamed, removed when
 * empty, or swapped for another by whoever may write the directory above
 * it, or any above that: a sequence record's directory swapped for
 * another of ours has no record of a key, which then counts from 1 again.
 * So every directory above it, up to the root, must be this user's or
 * root's, and written by no one else, unless its sticky bit lets only an
 * entry's owner rename the entry (as /tmp's does).  The walk goes up
 * through "..", from the directory already open, so the directories
 * judged are the ones the open went through.  The mode's group bits are
 * an ACL's mask: a named user without them writes nothing.
 */
#include "dir_above.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "owner.h"

#define DIR_DEPTH_MAX 256

static bool others_cannot_rename_in(const struct stat *st)
{
    return owner_trusted(st->st_uid) &&
           (!(st->st_mode & (S_IWGRP | S_IWOTH)) || (st->st_mode & S_ISVTX));
}

bool dir_above_private(int dir)
{
    struct stat below, st;
    int fd = dir, up;
    bool ok = false;

    if (fstat(dir, &below) != 0)
        return false;
    for (int depth = 0; depth < DIR_DEPTH_MAX; depth++) {
        up = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd != dir)
            close(fd);
        if ((fd = up) < 0 || fstat(fd, &st) != 0)
            break;
        if (st.st_dev == below.st_dev && st.st_ino == below.st_ino) {
            ok = true;              /* the root is its own parent */
            break;
        }
        if (!others_cannot_rename_in(&st))
            break;
        below = st;
    }
    if (fd >= 0 && fd != dir)
        close(fd);
    return ok;
}
