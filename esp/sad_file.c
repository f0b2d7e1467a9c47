/*
 * The host's shared SAD: a file of keys, mapped by every process that uses
 * them.  Whoever may write it reads every key and steers every process
 * that maps it, so a file is used only when its owner and mode say it is
 * ours: owned by this user or by root (for a group-shared SAD, also by the
 * owner of a directory that nobody else may write, made for it by root in
 * a directory of root's alone), read and written by no other user (by its
 * mode, nor by an ACL naming users or groups), and by its group only when
 * a group-shared SAD was asked for.  The file is opened through its
 * directory without following a symbolic link, so the file checked is the
 * file mapped.  The default place is a directory only this user may
 * write, never /tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "dir_above.h"
#include "home.h"
#include "owner.h"
#include "sad.h"
#include "temp_file.h"

#define SAD_DIR_MODE 0700
#define SAD_FILE_MODE 0600
#define SAD_ROOT_DIR "/run/zesp"

/* The directory a SAD file is opened through, and the file's name in it;
 * whether root gave it to its owner (its parent root's alone). */
struct sad_dir {
    int fd;
    struct stat st;
    bool given_by_root;
    char name[NAME_MAX + 1];
};

/* Where a program run setuid, setgid or with file capabilities looks is
 * none of its caller's business: secure_getenv reads nothing there, so
 * the caller cannot hand it a SAD of his own (his file, the program's
 * effective user's, so trusted), with keys he reads; nor can his home
 * (home.c). */
static const char *home_dir(void)
{
    static char buf[4096];

    return effective_home(buf, sizeof buf);
}

const char *zesp_sad_default_path(void)
{
    static char path[4096];
    const char *env = secure_getenv("ZESP_SAD");
    const char *run = secure_getenv("XDG_RUNTIME_DIR");
    const char *home;

    if (env != NULL && *env)
        return env;
    if (geteuid() == 0)
        return SAD_ROOT_DIR "/sad";
    if (run != NULL && run[0] == '/')
        snprintf(path, sizeof path, "%s/zesp.sad", run);
    else if ((home = home_dir()) != NULL)
        snprintf(path, sizeof path, "%s/.zesp/sad", home);
    else
        snprintf(path, sizeof path, "(no home directory)/.zesp/sad");
    return path;
}

/* What zesp does with the default path's directory: nothing for
 * $ZESP_SAD; check $XDG_RUNTIME_DIR, which the system made; make and
 * check /run/zesp (root) or ~/.zesp (without $XDG_RUNTIME_DIR). */
enum default_dir { DEFAULT_DIR_NONE, DEFAULT_DIR_CHECK, DEFAULT_DIR_MAKE };

static enum default_dir default_dir_kind(void)
{
    const char *env = secure_getenv("ZESP_SAD");
    const char *run = secure_getenv("XDG_RUNTIME_DIR");

    if (env != NULL && *env)
        return DEFAULT_DIR_NONE;
    if (geteuid() != 0 && run != NULL && run[0] == '/')
        return DEFAULT_DIR_CHECK;
    return DEFAULT_DIR_MAKE;
}

/* A directory that holds keys: ours, and nobody else may write in it. */
static int dir_private(const struct stat *st)
{
    if (!S_ISDIR(st->st_mode) || st->st_uid != geteuid() ||
        (st->st_mode & (S_IWGRP | S_IWOTH)))
        return ZESP_ESADDIR;
    return 0;
}

/* Make the default directory if it is missing (0700), then check it; a
 * symbolic link in its place is refused. */
static int make_default_dir(const char *path, bool create)
{
    char dir[4096];
    char *slash;
    struct stat st;

    snprintf(dir, sizeof dir, "%s", path);
    if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
        return EINVAL;
    *slash = '\0';
    if (create && mkdir(dir, SAD_DIR_MODE) != 0 && errno != EEXIST)
        return errno;
    if (lstat(dir, &st) != 0)
        return errno;
    return dir_private(&st);
}

/* Only root could have made the directory at fd for its owner: its
 * parent is root's and nobody else may write in it.  A directory made in
 * /tmp, /dev/shm or one's own home could be anyone's. */
static bool made_by_root(int fd)
{
    struct stat st;
    int parent = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    bool ok;

    if (parent < 0)
        return false;
    ok = fstat(parent, &st) == 0 && st.st_uid == 0 &&
         !(st.st_mode & (S_IWGRP | S_IWOTH));
    close(parent);
    return ok;
}

static int dir_open(const char *path, struct sad_dir *d)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) : 0;

    if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return EISDIR;
    if (strlen(name) >= sizeof d->name || dir_len >= sizeof dir)
        return ENAMETOOLONG;
    memcpy(d->name, name, strlen(name) + 1U);
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (dir_len == 0)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)dir_len, path);
    if ((d->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return errno;
    if (fstat(d->fd, &d->st) != 0) {
        int err = errno;
        close(d->fd);
        return err;
    }
    d->given_by_root = made_by_root(d->fd);
    return 0;
}

/*
 * What dir_writers_trusted could not judge before the file was found: the
 * directory's owner renames in it whatever its mode and sticky bit, so
 * it must be trusted, or the SAD's own owner (a service's directory,
 * file_trusted); and a group may write it only as the SAD's own group,
 * whose members read or write its keys already (a directory 0770 of
 * another group, "staff", gives the SAD to people who hold none of it),
 * or as the owner's user private group.
 */
static int dir_keeps_file(const struct stat *st, const struct sad_dir *d)
{
    if (!owner_trusted(d->st.st_uid) && d->st.st_uid != st->st_uid)
        return ZESP_ESADDIR;
    if ((d->st.st_mode & S_IWGRP) && !(d->st.st_mode & S_ISVTX) &&
        !(d->st.st_gid == st->st_gid &&
          (st->st_mode & (S_IRGRP | S_IWGRP))) &&
        !dir_group_write_owners_only(d->fd, &d->st))
        return ZESP_ESADDIR;
    return 0;
}

/*
 * May this process trust the file at fd?  The owner first (a file someone
 * else made could have been planted to read the keys put in it), then who
 * else may read or write it: the mode's group bits are only an ACL's mask,
 * and a 0660 file may be a named user's too.
 */
static int file_trusted(int fd, const struct stat *st, const struct sad_dir *d,
                        bool group)
{
    bool dir_owner = group && st->st_uid == d->st.st_uid &&
                     !(d->st.st_mode & (S_IWGRP | S_IWOTH)) &&
                     d->given_by_root;

    if (!S_ISREG(st->st_mode))
        return ZESP_EBADSAD;
    if (st->st_uid != geteuid() && st->st_uid != 0 && !dir_owner)
        return ZESP_ESADOWNER;
    if (st->st_mode & (S_IROTH | S_IWOTH))
        return ZESP_ESADMODE;
    if ((st->st_mode & (S_IRGRP | S_IWGRP)) && !group)
        return ZESP_ESADGROUP;
    if (acl_named_perms(fd, false) & (ACL_READ | ACL_WRITE))
        return ZESP_ESADMODE;
    return dir_keeps_file(st, d);
}

/* The mode of a new SAD: the owner reads and writes; the group may too
 * (a group-shared SAD); others never. */
bool sad_mode_valid(uint32_t mode)
{
    return (mode & 0600) == 0600 && !(mode & ~(uint32_t)0660);
}

static int create_mode(const zesp_sad_opts *opts, mode_t *mode)
{
    *mode = opts && opts->mode ? (mode_t)opts->mode : SAD_FILE_MODE;
    return sad_mode_valid(*mode) ? 0 : EINVAL;
}

/* A group by name, or by number. */
int sad_group_id(const char *name, gid_t *gid)
{
    char buf[4096], *end;
    struct group gr, *found = NULL;
    unsigned long n;

    if (name[0] == '\0' || memchr(name, '\0', ZESP_GROUP_MAX) == NULL)
        return ZESP_ENOGROUP;
    errno = 0;
    n = strtoul(name, &end, 10);
    if (name[0] >= '0' && name[0] <= '9' && *end == '\0' && errno == 0 &&
        n < (gid_t)-1) {
        *gid = (gid_t)n;
        return 0;
    }
    if (getgrnam_r(name, &gr, buf, sizeof buf, &found) != 0 || found == NULL)
        return ZESP_ENOGROUP;
    *gid = found->gr_gid;
    return 0;
}

/* Give the file the group and mode asked for: owner-only while its group
 * changes, so that neither group ever holds more than it was given.  No
 * chown when the group is already right (a service's own group): a
 * sandbox may forbid the call. */
static int set_access(int fd, const zesp_sad_opts *opts, mode_t mode)
{
    struct stat st;
    gid_t gid;
    int err;

    if (opts && opts->group[0] != '\0') {
        if ((err = sad_group_id(opts->group, &gid)) != 0)
            return err;
        if (fstat(fd, &st) != 0)
            return errno;
        if (st.st_gid != gid && (fchmod(fd, mode & 0600) != 0 ||
                                 fchown(fd, (uid_t)-1, gid) != 0))
            return errno;
    }
    return fchmod(fd, mode) != 0 ? errno : 0;
}

/* The header of the file at fd, read once into h and checked there. */
static int header_read(int fd, const struct stat *st, struct sad_header *h)
{
    if ((size_t)st->st_size < sizeof *h)
        return st->st_size == 0 ? ZESP_ESADSIZE : ZESP_EBADSAD;
    if (pread(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h)
        return ZESP_ESADSIZE;
    return sad_layout_check(h, (uint64_t)st->st_size);
}

/* ZESP_SAD_CREATE with a mode or group: an existing SAD of ours gets
 * them too.  Another's is left to file_trusted.  Nothing else found at
 * the path is given to the group: not a file that is no SAD (a mistyped
 * path naming a key of ours), nor one with another name too (a hard
 * link, made by whoever may write the folder, to a file it chose). */
static int adjust_existing(int fd, const zesp_sad_opts *opts)
{
    struct sad_header h;
    struct stat st;
    mode_t mode;
    int err;

    if (opts == NULL || (opts->mode == 0 && opts->group[0] == '\0'))
        return 0;
    if ((err = create_mode(opts, &mode)) != 0)
        return err;
    if (fstat(fd, &st) != 0)
        return errno;
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid())
        return 0;
    if (st.st_nlink != 1)
        return ZESP_ESADLINK;
    if ((err = header_read(fd, &st, &h)) != 0)
        return err;
    if (opts->mode == 0)
        mode = st.st_mode & 0777;
    /* Others had access, or would once the mask widened: not ours to fix. */
    if (!sad_mode_valid(mode) ||
        (acl_named_perms(fd, true) & (ACL_READ | ACL_WRITE)))
        return 0;
    return set_access(fd, opts, mode);
}

/* Make the file complete under a temporary name, then link it into place,
 * so that nobody ever maps a half-made SAD.  EEXIST if another won.  The
 * file is judged as map_file will judge it before it gets its name: one
 * refused there (a directory whose group may write it and is not the
 * SAD's, one another user owns) was left behind, a SAD nobody may use
 * in the caller's name. */
static int create_file(const struct sad_dir *d, const zesp_sad_opts *opts,
                       bool group)
{
    char hidden[NAME_MAX + 2], tmp[NAME_MAX + 2 + TEMP_FILE_EXTRA];
    struct sad_header plan;
    mode_t mode;
    uint8_t *map;
    int fd, err;

    if ((err = create_mode(opts, &mode)) != 0 ||
        (err = sad_layout_plan(opts, &plan)) != 0)
        return err;
    /* A random name (.NAME.<16 hex>.new, temp_file.c), not the pid: a
     * creator killed here leaves its file, and a later one given the same
     * pid (after a reboot, or in another pid namespace) would find it and
     * never make the SAD.  Made the owner's alone: a directory's default
     * ACL gives the users it names what the mode's group bits let through
     * its mask, and one of them who opened the file before its ACL is
     * stripped below would keep that descriptor, and read the keys later
     * put in it. */
    if ((size_t)snprintf(hidden, sizeof hidden, ".%s", d->name) >=
        sizeof hidden)
        return ENAMETOOLONG;
    fd = temp_file_open(d->fd, hidden, O_RDWR, SAD_FILE_MODE, tmp,
                        sizeof tmp);
    if (fd < 0)
        return errno;
    /* The mode asked for, whatever the umask or the directory's ACL. */
    if ((err = acl_strip(fd)) == 0)
        err = set_access(fd, opts, mode);
    if (!err) {
        struct stat st;

        err = fstat(fd, &st) != 0 ? errno : file_trusted(fd, &st, d, group);
    }
    /* Reserve every block now: a full disk is ENOSPC here, not SIGBUS in
     * some process when it first touches a page of the mapping. */
    if (!err) {
        err = posix_fallocate(fd, 0, (off_t)plan.total_bytes);
        /* A file system without fallocate: size it; blocks come later. */
        if (err == EOPNOTSUPP || err == EINVAL)
            err = ftruncate(fd, (off_t)plan.total_bytes) != 0 ? errno : 0;
    }
    if (!err) {
        map = mmap(NULL, plan.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
                   fd, 0);
        if (map == MAP_FAILED)
            err = errno;
        else {
            sad_map_hint(map, plan.total_bytes);
            err = sad_format(map, &plan);
            if (!err && msync(map, plan.total_bytes, MS_SYNC) != 0)
                err = errno;
            munmap(map, plan.total_bytes);
        }
    }
    if (!err && linkat(d->fd, tmp, d->fd, d->name, 0) != 0)
        err = errno;
    close(fd);
    unlinkat(d->fd, tmp, 0);
    return err;
}

static void detach(struct zesp_sad *sad)
{
    if (sad->keys_locked)
        (void)munlock(sad->keys, sad->lay.keys_bytes);
    munmap(sad->hdr, sad->lay.total_bytes);
    sad->hdr = NULL;
}

/* path from the root: a relative one after the working directory now, in
 * which it was just opened; as given if that cannot be told. */
static void path_from_root(const char *path, char *out, size_t size)
{
    char cwd[4096];

    if (path[0] == '/' || getcwd(cwd, sizeof cwd) == NULL ||
        (size_t)snprintf(out, size, "%s/%s", cwd, path) >= size)
        snprintf(out, size, "%s", path);
}

/* Map a trusted file.  Its header is read once into private memory and
 * checked there; the layout comes from that copy alone (sad_attach). */
static int map_file(struct zesp_sad *sad, const char *path, int fd,
                    const struct sad_dir *d, bool group)
{
    struct sad_header h;
    struct stat st;
    uint8_t *map;
    int err;

    if (fstat(fd, &st) != 0)
        return errno;
    if ((err = file_trusted(fd, &st, d, group)) != 0)
        return err;
    if ((err = header_read(fd, &st, &h)) != 0)
        return err;
    map = mmap(NULL, h.total_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return errno;
    sad_map_hint(map, h.total_bytes);
    sad_attach(sad, map, &h);
    if ((err = sad_sane(sad)) != 0 ||
        (err = sad_lock_sane(&sad->hdr->lock) ? 0 : ZESP_EBADSAD) != 0) {
        detach(sad);
        return err;
    }
    if ((sad->record_seen = calloc(sad->lay.capacity,
                                   sizeof *sad->record_seen)) == NULL) {
        detach(sad);
        return ENOMEM;
    }
    sad->shared = true;
    sad->group = (st.st_mode & (S_IRGRP | S_IWGRP)) != 0;
    snprintf(sad->path, sizeof sad->path, "%s", path);
    path_from_root(path, sad->file_path, sizeof sad->file_path);
    sad->file_ino = (uint64_t)st.st_ino;
    sad->file_dev = (uint64_t)st.st_dev;
    /* A writer killed holding the lock: repair now, as the next writer
     * would, so that readers never wait on what it left half done. */
    if ((err = sad_lock(sad)) != 0) {
        detach(sad);
        return err;
    }
    sad_unlock(sad);
    return 0;
}

/* The file, opened once more, for the lanes' locks alone (lanes.c).  A
 * mapping holds the file description it was made from, and every child's
 * copy of the mapping holds it too, whatever the child closes: locks taken
 * through it would outlive this process's handle in a child that lives on.
 * 0, an errno (ZESP_ESADLINK: a symbolic link), or -1: the name was given
 * to another file between the two opens. */
static int open_lane_file(struct zesp_sad *sad, const struct sad_dir *d,
                          int fd)
{
    struct stat mapped, st;
    int err;

    if (fork_fd_open(&sad->lane_file, d->fd, d->name,
                     O_RDWR | O_NOFOLLOW | O_CLOEXEC) < 0)
        return errno == ELOOP ? ZESP_ESADLINK : errno;
    if (fstat(fd, &mapped) != 0 || fstat(sad->lane_file.fd, &st) != 0)
        err = errno;
    else if (st.st_ino != mapped.st_ino || st.st_dev != mapped.st_dev)
        err = -1;
    else
        return 0;
    fork_fd_close(&sad->lane_file);
    return err;
}

/*
 * Whoever may write the SAD's directory may rename the SAD, and put back
 * in its place another SAD of ours it kept there: an older copy, whose
 * replay windows let through again what was accepted since, and whose
 * manual SAs count their sequence numbers (the nonces) from where they
 * were.  So, as for a state directory: nobody else may write it, unless
 * its sticky bit lets only an entry's owner rename it (/tmp).  Its group
 * may when that is the owner's own group, or the SAD is the group's
 * (ZESP_SAD_GROUP, a mode with group bits): its members hold every key
 * in it already.  Its owner is judged with the file (file_trusted).
 */
static int dir_writers_trusted(const struct sad_dir *d, bool group)
{
    if (d->st.st_mode & S_ISVTX)
        return 0;
    if ((d->st.st_mode & S_IWOTH) ||
        (acl_named_perms(d->fd, false) & ACL_WRITE))
        return ZESP_ESADDIR;
    if ((d->st.st_mode & S_IWGRP) && !group &&
        !dir_group_write_owners_only(d->fd, &d->st))
        return ZESP_ESADDIR;
    return 0;
}

/* The directory refused for a SAD that is not group-shared, its group
 * writing it: is the file a group-shared SAD of that group, that the
 * directory would be accepted for with ZESP_SAD_GROUP?  Then the caller
 * is told to ask for one (ZESP_ESADGROUP), not that the directory is not
 * private: the group that may write it holds the SAD's keys already. */
static bool group_sad_of_dir(const struct sad_dir *d)
{
    struct stat st;

    return dir_writers_trusted(d, true) == 0 &&
           fstatat(d->fd, d->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IWGRP)) &&
           st.st_gid == d->st.st_gid;
}

static int open_file(struct zesp_sad *sad, const char *path, int flags,
                     const zesp_sad_opts *opts)
{
    bool group = (flags & ZESP_SAD_GROUP) ||
                 (opts && (opts->mode & (S_IRGRP | S_IWGRP)));
    struct sad_dir d;
    int fd, err;

    if ((err = dir_open(path, &d)) != 0)
        return err;
    if ((err = dir_writers_trusted(&d, group)) != 0) {
        if (!group && group_sad_of_dir(&d))
            err = ZESP_ESADGROUP;
        close(d.fd);
        return err;
    }
    for (int attempt = 0; attempt < 3; attempt++) {
        fd = openat(d.fd, d.name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && (flags & ZESP_SAD_CREATE)) {
            err = create_file(&d, opts, group);
            if (err != 0 && err != EEXIST)
                break;
            continue;
        }
        if (fd < 0) {
            err = errno == ELOOP ? ZESP_ESADLINK : errno;
            break;
        }
        if ((flags & ZESP_SAD_CREATE) && (err = adjust_existing(fd, opts))) {
            close(fd);
            break;
        }
        /* A description of its own stays open: its lock bytes hold this
         * process's lanes.  The mapping keeps fd's. */
        if ((err = open_lane_file(sad, &d, fd)) == -1) {
            close(fd);
            err = ZESP_EBADSAD;  /* replaced, again and again */
            continue;
        }
        if (err == 0 && (err = map_file(sad, path, fd, &d, group)) != 0)
            fork_fd_close(&sad->lane_file);
        close(fd);
        break;
    }
    close(d.fd);
    return err != 0 ? err : sad->hdr == NULL ? ENOENT : 0;
}

zesp_sad *zesp_sad_open(const char *path, int flags, const zesp_sad_opts *opts)
{
    struct zesp_sad *sad;
    int err = 0;

    if (path == NULL) {
        enum default_dir kind = default_dir_kind();

        path = zesp_sad_default_path();
        if (kind != DEFAULT_DIR_NONE)
            err = make_default_dir(path, kind == DEFAULT_DIR_MAKE &&
                                             (flags & ZESP_SAD_CREATE));
    }
    if (err != 0) {
        errno = err;
        return NULL;
    }
    if ((sad = sad_alloc(opts)) == NULL)
        return NULL;
    if ((err = open_file(sad, path, flags, opts)) != 0) {
        zesp_sad_free(sad);
        errno = err;
        return NULL;
    }
    if (sad_own_windows_new(sad, (flags & ZESP_SAD_OWN_WINDOWS) != 0) != 0) {
        zesp_sad_free(sad);
        errno = ENOMEM;
        return NULL;
    }
    return sad;
}
