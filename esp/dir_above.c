/*
 * A directory nobody else may write can still be renamed, removed when
 * empty, or swapped for another by whoever may write the directory above
 * it, or any above that: a sequence record's directory swapped for
 * another of ours has no record of a key, which then counts from 1 again.
 * So every directory above it, up to the root, must be this user's or
 * root's, and written by no one else, unless its sticky bit lets only an
 * entry's owner rename the entry (as /tmp's does).  The walk goes up
 * through "..", from the directory already open, so the directories
 * judged are the ones it is in, whatever its name.  The mode's group bits are
 * an ACL's mask: a named user without them writes nothing; the owning
 * group may write where it is a user private group of a trusted user.
 *
 * The ".." walk judges where the directory is, not the way its name
 * leads there: a symbolic link on the way (a team's folder linking to
 * ours) is replaced by whoever may write the directory it sits in, and
 * the name then leads to another directory of ours.  So the name is
 * also looked up one part at a time, links followed by hand, and every
 * directory a part is looked up in judged the same way
 * (dir_path_private); /home -> /data/home, a link only root may replace,
 * is no reason to refuse.
 */
#include "dir_above.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "owner.h"

#define DIR_DEPTH_MAX 256
#define DIR_LINKS_MAX 40     /* as the kernel's own lookup (ELOOP) */

/*
 * A user private group (Debian's, Ubuntu's, Fedora's: each user's primary
 * group bears his name and has him alone) writes nothing another could:
 * his folders, made with the umask 002 those systems give him, are 0775.
 * The group must be the primary group of a user we trust, of his name,
 * with no other member named (as Debian's OpenSSH allows for its
 * StrictModes); a user given another's as his primary group is not
 * looked for (that would enumerate every user, not thread-safe).
 */
static bool group_is_trusted_users_own(gid_t gid)
{
    struct passwd pw, *user = NULL;
    struct group gr, *group = NULL;
    char buf[16384];
    bool own;

    if (getgrgid_r(gid, &gr, buf, sizeof buf / 2, &group) != 0 ||
        group == NULL ||
        getpwnam_r(group->gr_name, &pw, buf + sizeof buf / 2, sizeof buf / 2,
                   &user) != 0 || user == NULL)
        return false;
    own = user->pw_gid == gid && owner_trusted(user->pw_uid);
    for (char **m = group->gr_mem; own && *m != NULL; m++)
        own = strcmp(*m, user->pw_name) == 0;
    return own;
}

/* Its group bits may be an ACL's mask: then no user or group the ACL
 * names may write.  fd is O_PATH: the ACL is read from one opened for it
 * (none opened: refused). */
bool dir_group_write_owners_only(int fd, const struct stat *st)
{
    int rd;
    bool ok;

    if (!group_is_trusted_users_own(st->st_gid) ||
        (rd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return false;
    ok = !(acl_named_perms(rd, false) & ACL_WRITE);
    close(rd);
    return ok;
}

static bool others_cannot_rename_in(int fd, const struct stat *st)
{
    return owner_trusted(st->st_uid) &&
           ((st->st_mode & S_ISVTX) ||
            (!(st->st_mode & S_IWOTH) &&
             (!(st->st_mode & S_IWGRP) ||
              dir_group_write_owners_only(fd, st))));
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
        if (!others_cannot_rename_in(fd, &st))
            break;
        below = st;
    }
    if (fd >= 0 && fd != dir)
        close(fd);
    return ok;
}

/* The last part of what path names, looked up from fd (taken, closed on
 * failure) in directories others cannot rename in; -1 if any is not. */
static int walk(int fd, const char *path, int *links)
{
    char name[NAME_MAX + 1], *target;
    struct stat st;
    ssize_t len;
    size_t n;
    int next;

    while (fd >= 0 && *path != '\0') {
        if ((n = strcspn(path, "/")) == 0) {
            path++;
            continue;
        }
        if (n > NAME_MAX || fstat(fd, &st) != 0 ||
            !others_cannot_rename_in(fd, &st))
            goto fail;
        memcpy(name, path, n);
        name[n] = '\0';
        path += n;
        next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 || fstat(next, &st) != 0) {
            if (next >= 0)
                close(next);
            goto fail;
        }
        if (!S_ISLNK(st.st_mode)) {
            close(fd);
            fd = next;
            continue;
        }
        target = malloc(PATH_MAX);
        len = target == NULL || ++*links > DIR_LINKS_MAX
                  ? -1 : readlinkat(next, "", target, PATH_MAX - 1);
        close(next);
        if (len > 0) {
            target[len] = '\0';
            if (target[0] == '/') {
                close(fd);
                fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
            }
            fd = walk(fd, target, links);
        }
        free(target);
        if (len <= 0)
            goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

bool dir_path_private(const char *path, int dir)
{
    struct stat at, st;
    int links = 0;
    int fd = open(path[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    bool same;

    if (fd >= 0 && path[0] != '/' && !dir_above_private(fd)) {
        close(fd);
        return false;
    }
    if (fd < 0 || (fd = walk(fd, path, &links)) < 0)
        return false;
    same = fstat(fd, &at) == 0 && fstat(dir, &st) == 0 &&
           at.st_dev == st.st_dev && at.st_ino == st.st_ino;
    close(fd);
    return same;
}
