/*
 * Whom a shared SAD trusts.  A file another user planted is refused and
 * left unwritten; so are a symbolic link, a file others may read or
 * write (by its mode or an ACL naming them), and a group-accessible one
 * unless a group SAD was asked for.  A
 * process that rewrites the file at random while a sender and receivers
 * run crashes nobody: every damage ends in an error, never in memory
 * outside the mapping.  A writer killed holding the lock leaves a SAD that
 * fresh processes attach to and use.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "sad.h"
#include "acl_xattr.h"
#include "new_file_watch.h"
#include "test.h"
#include "zesp.h"

static char dir[256];
static int skipped;

/* One byte from fd, waiting as long as a loaded machine may need. */
static int read_event(int fd, char *c)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };

    if (poll(&p, 1, test_ms(120000)) != 1)
        return -1;
    return read(fd, c, 1) == 1 ? 0 : -1;
}

/* A digest of the whole file: "nothing written" is checked byte for byte. */
static int file_digest(const char *path, uint8_t out[32])
{
    crypto_generichash_state st;
    uint8_t buf[65536];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW);

    if (fd < 0)
        return -1;
    crypto_generichash_init(&st, NULL, 0, 32);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        crypto_generichash_update(&st, buf, (size_t)n);
    close(fd);
    return crypto_generichash_final(&st, out, 32);
}

static void test_modes_refused(void)
{
    zesp_sa_params p = test_sa(0x1001, ZESP_DIR_OUT, 0, 0);
    zesp_sad_opts group = { .mode = 0660 }, world = { .mode = 0666 };
    const char *path = test_path_in(dir, "modes.sad");
    zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);

    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(chmod(path, 0644) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADMODE);
    CHECK(chmod(path, 0602) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADMODE);
    CHECK(chmod(path, 0660) == 0);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADGROUP);
    sad = zesp_sad_open(path, ZESP_SAD_GROUP, NULL);
    CHECK(sad != NULL);
    CHECK_OK(zesp_sa_add(sad, &p));
    zesp_sad_free(sad);
    CHECK(chmod(path, 0600) == 0);
    sad = zesp_sad_open(path, 0, NULL);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    /* Made group-shared, it opens as asked; never made open to all. */
    sad = zesp_sad_open(test_path_in(dir, "group.sad"), ZESP_SAD_CREATE, &group);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(zesp_sad_open(test_path_in(dir, "world.sad"), ZESP_SAD_CREATE, &world) ==
              NULL && errno == EINVAL);
    CHECK(access(test_path_in(dir, "world.sad"), F_OK) != 0);
}

static void test_symlink_refused(void)
{
    char link[600];
    uint8_t before[32], after[32];
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "real.sad"), ZESP_SAD_CREATE, NULL);

    zesp_sad_free(sad);
    snprintf(link, sizeof link, "%s", test_path_in(dir, "link.sad"));
    CHECK(symlink(test_path_in(dir, "real.sad"), link) == 0);
    CHECK(file_digest(test_path_in(dir, "real.sad"), before) == 0);
    CHECK(zesp_sad_open(link, 0, NULL) == NULL && errno == ZESP_ESADLINK);
    CHECK(zesp_sad_open(link, ZESP_SAD_CREATE, NULL) == NULL &&
          errno == ZESP_ESADLINK);
    CHECK(file_digest(test_path_in(dir, "real.sad"), after) == 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    /* A dangling link is not followed to create its target either. */
    snprintf(link, sizeof link, "%s", test_path_in(dir, "target.sad"));
    CHECK(symlink(link, test_path_in(dir, "dangling.sad")) == 0);
    CHECK(zesp_sad_open(test_path_in(dir, "dangling.sad"), ZESP_SAD_CREATE, NULL) ==
              NULL && errno == ZESP_ESADLINK);
    CHECK(access(test_path_in(dir, "target.sad"), F_OK) != 0);
}

/* A mode or group asked for (zike's sad: mode and group, zesp --group)
 * is set on the SAD at the path, never on another file found there: a
 * mistyped path naming a key of ours, or a hard link planted in a shared
 * folder, keeps its mode and group. */
static mode_t mode_of(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

static void test_other_file_keeps_its_mode(void)
{
    zesp_sad_opts group = { .mode = 0660 };
    const char key[] = "hex:000102030405060708090a0b0c0d0e0f\n";
    char link2[600];
    int fd = open(test_path_in(dir, "secret.key"), O_WRONLY | O_CREAT | O_EXCL, 0600);
    zesp_sad *sad;

    CHECK(fd >= 0 &&
          write(fd, key, sizeof key - 1) == (ssize_t)(sizeof key - 1));
    CHECK(fd >= 0 && fchmod(fd, 0600) == 0 && close(fd) == 0);
    CHECK(zesp_sad_open(test_path_in(dir, "secret.key"), ZESP_SAD_CREATE, &group) ==
              NULL && errno == ZESP_EBADSAD);
    CHECK(mode_of(test_path_in(dir, "secret.key")) == 0600);
    /* A SAD with another name too: whoever made the name chose the file. */
    sad = zesp_sad_open(test_path_in(dir, "named.sad"), ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    snprintf(link2, sizeof link2, "%s", test_path_in(dir, "hardlink.sad"));
    CHECK(link(test_path_in(dir, "named.sad"), link2) == 0);
    CHECK(zesp_sad_open(link2, ZESP_SAD_CREATE, &group) == NULL &&
          errno == ZESP_ESADLINK);
    CHECK(mode_of(test_path_in(dir, "named.sad")) == 0600);
    /* Its one name again: the mode asked for is set. */
    CHECK(unlink(link2) == 0);
    sad = zesp_sad_open(test_path_in(dir, "named.sad"), ZESP_SAD_CREATE, &group);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(mode_of(test_path_in(dir, "named.sad")) == 0660);
}

/* A creator killed while it made the file leaves its temporary file
 * behind: a later creator given the same pid (after a reboot, or in
 * another pid namespace sharing the folder) still makes the SAD. */
static void test_leftover_temporary_file(void)
{
    zesp_sa_params p = test_sa(0x1002, ZESP_DIR_OUT, 0, 0);
    char tmp[600];
    zesp_sad *sad;
    int fd;

    snprintf(tmp, sizeof tmp, "%s/.left.sad.%d.new", dir, (int)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0 && close(fd) == 0);
    sad = zesp_sad_open(test_path_in(dir, "left.sad"), ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL);
    CHECK(sad != NULL && zesp_sa_add(sad, &p) == 0);
    zesp_sad_free(sad);
}

/* The default place: never /tmp; a private directory made 0700. */
static void test_default_path(void)
{
    char home[600], want[700];
    struct stat st;
    zesp_sad *sad;

    snprintf(home, sizeof home, "%s/home", dir);
    CHECK(mkdir(home, 0700) == 0);
    if (geteuid() == 0) {
        CHECK(strcmp(zesp_sad_default_path(), "/run/zesp/sad") == 0);
        printf("     (root: the default is /run/zesp/sad; the user case "
               "runs as another user below)\n");
        return;
    }
    setenv("HOME", home, 1);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("ZESP_SAD");
    snprintf(want, sizeof want, "%s/.zesp/sad", home);
    CHECK(strcmp(zesp_sad_default_path(), want) == 0);
    sad = zesp_sad_open(NULL, ZESP_SAD_CREATE, NULL);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    snprintf(want, sizeof want, "%s/.zesp", home);
    CHECK(lstat(want, &st) == 0 && S_ISDIR(st.st_mode) &&
          (st.st_mode & 0777) == 0700);
    /* A runtime directory others may write in is refused. */
    CHECK(chmod(dir, 01777) == 0);
    setenv("XDG_RUNTIME_DIR", dir, 1);
    CHECK(zesp_sad_open(NULL, ZESP_SAD_CREATE, NULL) == NULL &&
          errno == ZESP_ESADDIR);
    CHECK(chmod(dir, 0700) == 0);
    unsetenv("XDG_RUNTIME_DIR");
}

/*
 * Another user plants a SAD (a valid one, open to all) where the victim
 * will look for it, and a symbolic link to a file of the victim's: the
 * victim refuses both, and writes nothing into either.
 */
enum { ATTACKER_UID = 65534, VICTIM_UID = 65532 };

static int become(uid_t uid)
{
    return setgroups(0, NULL) == 0 && setgid(uid) == 0 && setuid(uid) == 0
               ? 0 : -1;
}

static int attacker(const char *shared)
{
    char path[800], link[800];
    zesp_sad *sad;

    if (become(ATTACKER_UID) != 0)
        return 77;
    umask(0);
    snprintf(path, sizeof path, "%s/victim.sad", shared);
    if ((sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL)) == NULL)
        return 1;
    zesp_sad_free(sad);
    if (chmod(path, 0666) != 0)
        return 2;
    snprintf(link, sizeof link, "%s/victim-link.sad", shared);
    snprintf(path, sizeof path, "%s/victim-home/keys", shared);
    return symlink(path, link) == 0 ? 0 : 3;
}

/* A user without $XDG_RUNTIME_DIR: ~/.zesp/sad, the folder made 0700;
 * never a name in /tmp that someone else could take first. */
static int victim_default_path(const char *shared)
{
    char home[800], want[900];
    struct stat st;
    zesp_sad *sad;

    snprintf(home, sizeof home, "%s/victim-home", shared);
    setenv("HOME", home, 1);
    unsetenv("XDG_RUNTIME_DIR");
    unsetenv("ZESP_SAD");
    snprintf(want, sizeof want, "%s/.zesp/sad", home);
    if (strcmp(zesp_sad_default_path(), want) != 0)
        return 20;
    if ((sad = zesp_sad_open(NULL, ZESP_SAD_CREATE, NULL)) == NULL)
        return 21;
    zesp_sad_free(sad);
    snprintf(want, sizeof want, "%s/.zesp", home);
    if (lstat(want, &st) != 0 || !S_ISDIR(st.st_mode) ||
        (st.st_mode & 0777) != 0700 || st.st_uid != VICTIM_UID)
        return 22;
    /* A runtime directory others may write in is refused. */
    setenv("XDG_RUNTIME_DIR", shared, 1);
    if (zesp_sad_open(NULL, ZESP_SAD_CREATE, NULL) != NULL ||
        errno != ZESP_ESADDIR)
        return 23;
    return 0;
}

static int victim(const char *shared)
{
    char path[800];
    zesp_sad *sad;
    zesp_sa_params p = test_sa(0x2001, ZESP_DIR_OUT, 0, 0);

    if (become(VICTIM_UID) != 0)
        return 77;
    snprintf(path, sizeof path, "%s/victim.sad", shared);
    sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
    if (sad != NULL) {
        zesp_sa_add(sad, &p);      /* what the attacker wants to read */
        zesp_sad_free(sad);
        return 10;
    }
    if (errno != ZESP_ESADOWNER)
        return 11;
    /* Not even as a group SAD: the owner is who decides. */
    if (zesp_sad_open(path, ZESP_SAD_GROUP, NULL) != NULL ||
        errno != ZESP_ESADOWNER)
        return 12;
    snprintf(path, sizeof path, "%s/victim-link.sad", shared);
    if (zesp_sad_open(path, ZESP_SAD_CREATE, NULL) != NULL ||
        errno != ZESP_ESADLINK)
        return 13;
    return victim_default_path(shared);
}

static void test_planted_by_another_user(void)
{
    char shared[300], home[400], planted[400], target[500];
    uint8_t before[32], after[32];
    pid_t pid;
    int rc;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as two users\n");
        skipped++;
        return;
    }
    snprintf(shared, sizeof shared, "%s/shared", dir);
    snprintf(home, sizeof home, "%s/victim-home", shared);
    CHECK(mkdir(shared, 0700) == 0 && chmod(shared, 01777) == 0);
    CHECK(chmod(dir, 0755) == 0);
    CHECK(mkdir(home, 0700) == 0 && chown(home, VICTIM_UID, VICTIM_UID) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(attacker(shared));
    rc = test_wait_status(pid);
    if (rc == 77) {
        printf("     skip: this process may not become another user\n");
        skipped++;
        return;
    }
    CHECK(rc == 0);
    snprintf(planted, sizeof planted, "%s/victim.sad", shared);
    snprintf(target, sizeof target, "%s/keys", home);
    CHECK(file_digest(planted, before) == 0);
    if ((pid = fork()) == 0)
        _exit(victim(shared));
    rc = test_wait_status(pid);
    if (rc != 0)
        fprintf(stderr, "  victim: status %d\n", rc);
    CHECK(rc == 0);
    CHECK(file_digest(planted, after) == 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    CHECK(access(target, F_OK) != 0);
    CHECK(chmod(dir, 0700) == 0);
}

/*
 * A program installed setgid (or setuid, or with file capabilities), say
 * to let every user send on a group-shared SAD, is run by a user it does
 * not trust, with that user's environment: the places zesp takes from it
 * ($ZESP_SAD, $ZESP_STATE_DIR, $XDG_RUNTIME_DIR, $XDG_STATE_HOME, $HOME)
 * are ignored then, as glibc ignores LD_LIBRARY_PATH.  Else the user
 * hands the program a SAD of his own (his keys, which he reads: owned by
 * the program's effective user, so trusted) or a state directory of his
 * own, where he removes a manual key's record and the key counts from 1
 * again.  This very program, copied setgid, is the probe (main, argv[1]).
 */
enum { SETGID_GID = 1 };
#define SETGID_PROBE "--setgid-probe"

static int setgid_probe(void)
{
    zesp_sad *sad = zesp_sad_open(NULL, 0, NULL);
    const char *state = zesp_state_dir_default();

    printf("%lu\n%s\n%s\n%s\n", getauxval(AT_SECURE), zesp_sad_default_path(),
           state[0] ? state : "(none)", sad != NULL ? "opened" : "refused");
    zesp_sad_free(sad);
    return 0;
}

/* The user's own SAD and state directory, where the environment names. */
static int plant_own(const char *shared)
{
    char path[800];
    zesp_sad *sad;

    if (become(ATTACKER_UID) != 0)
        return 77;
    snprintf(path, sizeof path, "%s/own-state", shared);
    if (mkdir(path, 0700) != 0)
        return 1;
    snprintf(path, sizeof path, "%s/own.sad", shared);
    if ((sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL)) == NULL)
        return 2;
    zesp_sad_free(sad);
    return 0;
}

/* LeakSanitizer cannot look into a setgid process (not dumpable, its
 * /proc files closed to it, ASAN_OPTIONS unread): under ASan the probe
 * would fail at its exit, not on what it checks.  LSan asks this. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return getegid() != getgid();
}

static int run_probe(const char *probe, const char *shared, int out)
{
    char env[5][900];
    char *const argv[] = { (char *)probe, (char *)SETGID_PROBE, NULL };
    char *const envp[] = { env[0], env[1], env[2], env[3], env[4], NULL };

    snprintf(env[0], sizeof env[0], "ZESP_SAD=%s/own.sad", shared);
    snprintf(env[1], sizeof env[1], "ZESP_STATE_DIR=%s/own-state", shared);
    snprintf(env[2], sizeof env[2], "XDG_RUNTIME_DIR=%s", shared);
    snprintf(env[3], sizeof env[3], "XDG_STATE_HOME=%s", shared);
    snprintf(env[4], sizeof env[4], "HOME=%s", shared);
    if (become(ATTACKER_UID) != 0 || dup2(out, STDOUT_FILENO) < 0)
        return 77;
    execve(probe, argv, envp);
    return 78;
}

/* Is path in uid's home directory (the password database's)?  Where a
 * setgid program's defaults lay, that user's SAD and records: his files,
 * its effective user's, so trusted, and he writes them. */
static bool under_home_of(uid_t uid, const char *path)
{
    struct passwd *pw = getpwuid(uid);
    size_t n;

    if (pw == NULL || pw->pw_dir[0] != '/' || pw->pw_dir[1] == '\0')
        return false;
    n = strlen(pw->pw_dir);
    return strncmp(path, pw->pw_dir, n) == 0 && path[n] == '/';
}

static void test_setgid_program_ignores_environment(void)
{
    char shared[300], probe[400], buf[4096], line[4][1000];
    ssize_t n, got = 0;
    int fds[2], rc;
    pid_t pid;

    if (geteuid() != 0 || test_under_valgrind()) {
        printf("     skip: needs root (and no valgrind) to run setgid\n");
        skipped++;
        return;
    }
    snprintf(shared, sizeof shared, "%s/setgid", dir);
    snprintf(probe, sizeof probe, "%s/probe", shared);
    CHECK(mkdir(shared, 0700) == 0 && chown(shared, ATTACKER_UID, 0) == 0);
    CHECK(chmod(dir, 0755) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(plant_own(shared));
    if ((rc = test_wait_status(pid)) == 77) {
        printf("     skip: this process may not become another user\n");
        skipped++;
        return;
    }
    CHECK(rc == 0);
    snprintf(buf, sizeof buf, "cp /proc/%d/exe '%s' && chown 0:%d '%s' && "
             "chmod 2755 '%s'", (int)getpid(), probe, SETGID_GID, probe, probe);
    CHECK(system(buf) == 0);
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(run_probe(probe, shared, fds[1]));
    close(fds[1]);
    while ((n = read(fds[0], buf + got, sizeof buf - 1U - (size_t)got)) > 0)
        got += n;
    buf[got] = '\0';
    close(fds[0]);
    rc = test_wait_status(pid);
    memset(line, 0, sizeof line);
    if (rc == 77 || rc == 78) {
        printf("     skip: could not %s\n", rc == 77 ? "become another user"
               : "execute the copy (a noexec folder?)");
        skipped++;
    } else if (rc != 0 ||
               sscanf(buf, "%999[^\n]\n%999[^\n]\n%999[^\n]\n%999[^\n]",
                      line[0], line[1], line[2], line[3]) != 4) {
        fprintf(stderr, "  probe said: %s (status %d)\n", buf, rc);
        CHECK(0);
    } else if (strcmp(line[0], "1") != 0) {
        printf("     skip: the setgid bit was not honoured (nosuid?)\n");
        skipped++;
    } else {
        printf("     setgid: SAD %s, state %s, %s\n", line[1], line[2],
               line[3]);
        CHECK(strncmp(line[1], shared, strlen(shared)) != 0);
        CHECK(strncmp(line[2], shared, strlen(shared)) != 0);
        CHECK(strcmp(line[3], "refused") == 0);
        /* Nor in his home: a setgid program's effective user is he. */
        CHECK(!under_home_of(ATTACKER_UID, line[1]));
        CHECK(!under_home_of(ATTACKER_UID, line[2]));
    }
    CHECK(chmod(dir, 0700) == 0);
}

/*
 * A group-shared SAD also trusts the owner of its directory (a service's
 * RuntimeDirectory, made for it by root).  Another user who shares a
 * group with the victim makes the directory himself, in a place anyone
 * may write, one level down or two, and a SAD in it for that group: the
 * victim refuses it and writes nothing into it.  The directory root made
 * for a service, with the service's SAD in it, is still accepted.
 */
enum { SHARED_GID = 65533 };

static int become_member(uid_t uid)
{
    gid_t g = SHARED_GID;

    return setgroups(1, &g) == 0 && setgid(uid) == 0 && setuid(uid) == 0
               ? 0 : -1;
}

/* As the attacker, or as the service: a SAD of group SHARED_GID. */
static int group_owner(const char *const dirs[], const char *path)
{
    zesp_sad_opts opts = { .mode = 0660 };
    zesp_sad *sad;

    if (setgroups(0, NULL) != 0 || setgid(SHARED_GID) != 0 ||
        setuid(ATTACKER_UID) != 0)
        return 77;
    umask(022);
    for (; *dirs != NULL; dirs++)
        if (mkdir(*dirs, 0755) != 0)
            return 1;
    if ((sad = zesp_sad_open(path, ZESP_SAD_CREATE, &opts)) == NULL)
        return 2;
    zesp_sad_free(sad);
    return 0;
}

/* As the victim: 0 if it opened the SAD (and wrote a key into it). */
static int member_of_group(const char *path)
{
    zesp_sa_params p = test_sa(0x3001, ZESP_DIR_OUT, 0, 0);
    zesp_sad *sad;

    if (become_member(VICTIM_UID) != 0)
        return 77;
    if ((sad = zesp_sad_open(path, ZESP_SAD_GROUP, NULL)) == NULL)
        return errno == ZESP_ESADOWNER ? 10 : 11;
    zesp_sa_add(sad, &p);
    zesp_sad_free(sad);
    return 0;
}

static int run_as(int (*fn)(const char *const[], const char *),
                  const char *const dirs[], const char *path)
{
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(fn(dirs, path));
    return test_wait_status(pid);
}

static int member_opens(const char *path)
{
    pid_t pid;

    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(member_of_group(path));
    return test_wait_status(pid);
}

static void test_planted_directory(void)
{
    char shared[300], one[400], two_a[400], two[500], svc[400];
    char one_sad[600], two_sad[600], svc_sad[600];
    uint8_t before[32], after[32];
    int rc;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as two users\n");
        skipped++;
        return;
    }
    snprintf(shared, sizeof shared, "%s/anyone", dir);
    snprintf(one, sizeof one, "%s/zesp", shared);
    snprintf(two_a, sizeof two_a, "%s/run", shared);
    snprintf(two, sizeof two, "%s/zesp", two_a);
    snprintf(svc, sizeof svc, "%s/service", dir);
    snprintf(one_sad, sizeof one_sad, "%s/sad", one);
    snprintf(two_sad, sizeof two_sad, "%s/sad", two);
    snprintf(svc_sad, sizeof svc_sad, "%s/sad", svc);
    CHECK(chmod(dir, 0755) == 0);
    CHECK(mkdir(shared, 0700) == 0 && chmod(shared, 01777) == 0);
    rc = run_as(group_owner, (const char *const[]){ one, NULL }, one_sad);
    if (rc == 77) {
        printf("     skip: this process may not become another user\n");
        skipped++;
        return;
    }
    CHECK(rc == 0);
    CHECK(run_as(group_owner, (const char *const[]){ two_a, two, NULL },
                 two_sad) == 0);
    CHECK(file_digest(one_sad, before) == 0);
    CHECK(member_opens(one_sad) == 10);
    CHECK(file_digest(one_sad, after) == 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    CHECK(file_digest(two_sad, before) == 0);
    rc = member_opens(two_sad);
    if (rc != 10)
        fprintf(stderr, "  two levels down: status %d\n", rc);
    CHECK(rc == 10);
    CHECK(file_digest(two_sad, after) == 0);
    CHECK(memcmp(before, after, sizeof before) == 0);
    /* What root made for the service is the service's to share. */
    CHECK(mkdir(svc, 0755) == 0 && chown(svc, ATTACKER_UID, SHARED_GID) == 0);
    CHECK(run_as(group_owner, (const char *const[]){ NULL }, svc_sad) == 0);
    CHECK(member_opens(svc_sad) == 0);
    CHECK(chmod(dir, 0700) == 0);
}

/*
 * Whoever may write the SAD's directory may rename the SAD and put back
 * another SAD of its owner's kept there (an older copy: replay windows
 * behind, manual SAs' sequence numbers counting again).  A directory
 * others may write without the sticky bit is refused (ZESP_ESADDIR), as
 * a state directory is; with the sticky bit (as /tmp) it is not; one its
 * group may write only for a group-shared SAD of that group, whose
 * members hold its keys already.  Before, the victim used its SAD in all
 * three, and in a 0770 directory of a group the SAD is not of, and in a
 * sticky directory the attacker owns (its owner renames anything).
 */
/* No entry but . and ..; each other one named on stderr. */
static bool dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    bool empty = d != NULL;

    while (d != NULL && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "  left in %s: %s\n", path, e->d_name);
            empty = false;
        }
    if (d != NULL)
        closedir(d);
    return empty;
}

static int victim_dir_writers(const char *const dirs[], const char *path)
{
    zesp_sad_opts opts = { .mode = 0660 };
    zesp_sad *sad;
    char p[700];

    (void)path;
    if (become_member(VICTIM_UID) != 0)
        return 77;
    umask(022);
    snprintf(p, sizeof p, "%s/sad", dirs[0]);         /* 0777, no sticky */
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE, NULL)) != NULL) {
        zesp_sad_free(sad);
        return 10;
    }
    if (errno != ZESP_ESADDIR)
        return 11;
    snprintf(p, sizeof p, "%s/sad", dirs[1]);         /* 01777 */
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE, NULL)) == NULL)
        return 12;
    zesp_sad_free(sad);
    snprintf(p, sizeof p, "%s/sad", dirs[2]);         /* 02770, the group's */
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE, NULL)) != NULL) {
        zesp_sad_free(sad);
        return 13;
    }
    if (errno != ZESP_ESADDIR)
        return 14;
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE | ZESP_SAD_GROUP,
                             &opts)) == NULL)
        return 15;
    zesp_sad_free(sad);
    /* That group SAD opened without the group flag: told to ask for it
     * (the directory would do for it), not that the directory is not
     * private. */
    if ((sad = zesp_sad_open(p, 0, NULL)) != NULL) {
        zesp_sad_free(sad);
        return 20;
    }
    if (errno != ZESP_ESADGROUP) {
        fprintf(stderr, "  a group SAD opened without the flag: %s\n",
                zesp_strerror(errno));
        return 21;
    }
    /* 0770 of the group, but the SAD is of the victim's own group (no
     * setgid bit gave it the directory's): the directory's members hold
     * none of its keys, yet may rename it. */
    snprintf(p, sizeof p, "%s/sad", dirs[3]);
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE | ZESP_SAD_GROUP,
                             &opts)) != NULL) {
        zesp_sad_free(sad);
        return 16;
    }
    if (errno != ZESP_ESADDIR)
        return 17;
    /* Refused, and nothing made: not the file, nor a temporary one. */
    if (!dir_is_empty(dirs[3]))
        return 22;
    /* Sticky, but the attacker's: a directory's owner renames anything. */
    snprintf(p, sizeof p, "%s/sad", dirs[4]);
    if ((sad = zesp_sad_open(p, ZESP_SAD_CREATE, NULL)) != NULL) {
        zesp_sad_free(sad);
        return 18;
    }
    if (errno != ZESP_ESADDIR)
        return 19;
    if (!dir_is_empty(dirs[4]))
        return 23;
    return 0;
}

/* The attacker (no group of the victim's) renames what is in dir. */
static int attacker_renames(const char *const dirs[], const char *path)
{
    char to[700];

    (void)dirs;
    if (become(ATTACKER_UID) != 0)
        return 77;
    snprintf(to, sizeof to, "%s.kept", path);
    return rename(path, to) == 0 && rename(to, path) == 0 ? 0 : 1;
}

static void test_dir_writers(void)
{
    char open_dir[300], sticky[300], grp[300], grp_other[300];
    char sticky_theirs[300], planted[400];
    int rc;

    if (geteuid() != 0) {
        printf("     skip: needs root to run as two users\n");
        skipped++;
        return;
    }
    snprintf(open_dir, sizeof open_dir, "%s/open", dir);
    snprintf(sticky, sizeof sticky, "%s/sticky", dir);
    snprintf(grp, sizeof grp, "%s/grp", dir);
    CHECK(chmod(dir, 0755) == 0);
    CHECK(mkdir(open_dir, 0700) == 0 && chmod(open_dir, 0777) == 0);
    CHECK(mkdir(sticky, 0700) == 0 && chmod(sticky, 01777) == 0);
    snprintf(grp_other, sizeof grp_other, "%s/grp_other", dir);
    snprintf(sticky_theirs, sizeof sticky_theirs, "%s/sticky_theirs", dir);
    CHECK(mkdir(grp, 0700) == 0 && chown(grp, 0, SHARED_GID) == 0 &&
          chmod(grp, 02770) == 0);
    CHECK(mkdir(grp_other, 0700) == 0 &&
          chown(grp_other, 0, SHARED_GID) == 0 && chmod(grp_other, 0770) == 0);
    CHECK(mkdir(sticky_theirs, 0700) == 0 &&
          chown(sticky_theirs, ATTACKER_UID, ATTACKER_UID) == 0 &&
          chmod(sticky_theirs, 01777) == 0);
    rc = run_as(victim_dir_writers,
                (const char *const[]){ open_dir, sticky, grp, grp_other,
                                       sticky_theirs, NULL }, NULL);
    if (rc == 77) {
        printf("     skip: this process may not become another user\n");
        skipped++;
        return;
    }
    if (rc != 0)
        fprintf(stderr, "  victim: status %d\n", rc);
    CHECK(rc == 0);
    /* Why: in the open directory another user renames what it likes. */
    snprintf(planted, sizeof planted, "%s/victims", open_dir);
    CHECK(mknod(planted, S_IFREG | 0600, 0) == 0 &&
          chown(planted, VICTIM_UID, VICTIM_UID) == 0);
    CHECK(run_as(attacker_renames, (const char *const[]){ NULL },
                 planted) == 0);
    CHECK(chmod(dir, 0700) == 0);
}

/*
 * An ACL gives a named user what the mode does not show: the group bits
 * of a file with an ACL are its mask, so a 0660 group-shared SAD may be
 * readable and writable by a user outside the group.  Refused; a SAD made
 * in a directory whose default ACL names a user is made without it; and
 * asking an existing SAD for mode 0660 does not widen a mask that would
 * let a named user in.
 */
/* An ACL: the owner, a named user (ATTACKER_UID) with rw, the group and
 * the mask with group_mask, others nothing. */
static int set_acl(const char *path, const char *xattr, unsigned group_mask)
{
    return acl_xattr_set(path, xattr, 6, ATTACKER_UID, 6, group_mask);
}

static void test_acl_named_user(void)
{
    zesp_sad_opts group = { .mode = 0660 };
    const char *path = test_path_in(dir, "acl.sad");
    char sub[600], made[700];
    struct stat st;
    zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, &group);

    CHECK(sad != NULL);
    zesp_sad_free(sad);
    if (set_acl(path, "system.posix_acl_access", 6) != 0) {
        printf("     skip: no POSIX ACLs here (%s)\n", strerror(errno));
        skipped++;
        return;
    }
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0660);
    CHECK(zesp_sad_open(path, ZESP_SAD_GROUP, NULL) == NULL &&
          errno == ZESP_ESADMODE);
    CHECK(zesp_sad_open(path, ZESP_SAD_CREATE, &group) == NULL &&
          errno == ZESP_ESADMODE);
    /* The named user's entry masked out: 0600, harmless, opened; not
     * widened by asking for 0660. */
    CHECK(set_acl(path, "system.posix_acl_access", 0) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    sad = zesp_sad_open(path, ZESP_SAD_CREATE, &group);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* Made where the directory's default ACL names a user: without it. */
    snprintf(sub, sizeof sub, "%s", test_path_in(dir, "acl-dir"));
    snprintf(made, sizeof made, "%s/sad", sub);
    CHECK(mkdir(sub, 0700) == 0);
    CHECK(set_acl(sub, "system.posix_acl_default", 6) == 0);
    sad = zesp_sad_open(made, ZESP_SAD_CREATE, &group);
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(!acl_xattr_names_a_user(made, 6));
    CHECK(stat(made, &st) == 0 && (st.st_mode & 0777) == 0660);
}

/* A group-shared SAD made where the directory's default ACL names a user
 * (with read and write, under a mask that allows them): that user cannot
 * open it while it is made.  Before, the file was created with the mode
 * asked for, 0660, which let the default ACL's named entry through its
 * mask until the ACL was stripped: ATTACKER_UID opened it in that window
 * and, the descriptor kept, would read every key put in it later. */
static void test_acl_default_while_made(void)
{
    zesp_sad_opts group = { .mode = 0660 };
    char sub[600], made[700];
    struct stat st;
    zesp_sad *sad;

    if (geteuid() != 0) {
        printf("     skip: needs root to open it as another user\n");
        skipped++;
        return;
    }
    snprintf(sub, sizeof sub, "%s", test_path_in(dir, "acl-made"));
    snprintf(made, sizeof made, "%s/sad", sub);
    CHECK(stat(dir, &st) == 0 && chmod(dir, 0711) == 0);
    CHECK(mkdir(sub, 0711) == 0 && chmod(sub, 0711) == 0);
    if (set_acl(sub, "system.posix_acl_default", 6) != 0) {
        printf("     skip: no POSIX ACLs here (%s)\n", strerror(errno));
        skipped++;
        chmod(dir, st.st_mode & 07777);
        return;
    }
    new_watch_uid = ATTACKER_UID;
    new_watch_flags = O_RDONLY;
    new_watch = true;
    sad = zesp_sad_open(made, ZESP_SAD_CREATE, &group);
    new_watch = false;
    CHECK(sad != NULL);
    zesp_sad_free(sad);
    CHECK(new_seen);
    if (new_opened)
        fprintf(stderr, "  uid %u opened the SAD being made\n",
                (unsigned)ATTACKER_UID);
    CHECK(!new_opened);
    CHECK(!acl_xattr_names_a_user(made, 6));
    CHECK(chmod(dir, st.st_mode & 07777) == 0);
}

/*
 * Damage from outside while the SAD is in use: a process rewrites bytes of
 * the header, the index and the slots at random while a publisher sends
 * and two subscribers (one sharing the host's windows, one with its own)
 * receive.  Nobody crashes, every failure is an error, every message
 * accepted is one the publisher sent.
 */
enum { DAMAGE_SECONDS = 10, BODY_BYTES = 48 };
#define DAMAGE_SPI 0x5001U

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

static void stop_on_term(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
}

/* A body names its number and is otherwise its number's digest. */
static void make_body(uint64_t n, uint8_t body[BODY_BYTES])
{
    memcpy(body, &n, sizeof n);
    crypto_generichash(body + 8, BODY_BYTES - 8, body, 8, NULL, 0);
}

static bool body_genuine(zesp_frame f)
{
    uint8_t want[BODY_BYTES];
    uint64_t n;

    if (f.size != BODY_BYTES)
        return false;
    memcpy(&n, f.data, sizeof n);
    make_body(n, want);
    return memcmp(want, f.data, BODY_BYTES) == 0;
}

struct tally {
    uint64_t ok, refused, foreign_errno, bad_body;
};

static bool zesp_error(int e)
{
    return (e > ZESP_EBASE && e < ZESP_ELAST) || e == EAGAIN || e == EINTR;
}

static int publisher(const char *endpoint, int out)
{
    void *ctx = zmq_ctx_new(), *pub = zmq_socket(ctx, ZMQ_PUB);
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "send.sad"), 0, NULL);
    struct tally t = { 0 };
    uint8_t body[BODY_BYTES];
    zesp_frame f = { body, sizeof body };
    zesp_parts parts = { .body = &f, .nbody = 1 };
    int linger = 0;

    stop_on_term();
    if (sad == NULL || zmq_bind(pub, endpoint) != 0)
        return 1;
    zmq_setsockopt(pub, ZMQ_LINGER, &linger, sizeof linger);
    for (uint64_t n = 0; !stop; n++) {
        make_body(n, body);
        if (zesp_send(sad, DAMAGE_SPI, pub, &parts, 0) == 0)
            t.ok++;
        else if (zesp_error(errno))
            t.refused++;
        else
            t.foreign_errno++;
        usleep(200);                 /* a steady stream, not a flood */
    }
    zesp_sad_free(sad);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    return write(out, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 2;
}

static int subscriber(const char *endpoint, int flags, int ready, int out)
{
    void *ctx = zmq_ctx_new(), *sub = zmq_socket(ctx, ZMQ_SUB);
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "damage.sad"), flags, NULL);
    zesp_msg *msg = zesp_msg_new();
    struct tally t = { 0 };
    int timeout = 100, said_ready = 0;

    stop_on_term();
    if (sad == NULL || msg == NULL || zmq_connect(sub, endpoint) != 0)
        return 1;
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    while (!stop) {
        if (zesp_recv(sad, sub, msg, 0) == 0) {
            t.ok++;
            if (zesp_msg_body_count(msg) != 1 ||
                !body_genuine(zesp_msg_body(msg, 0)))
                t.bad_body++;
            if (!said_ready++ && write(ready, "r", 1) != 1)
                return 2;
        } else if (zesp_error(errno)) {
            t.refused += errno != EAGAIN && errno != EINTR;
        } else {
            t.foreign_errno++;
        }
    }
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    zmq_close(sub);
    zmq_ctx_term(ctx);
    return write(out, &t, sizeof t) == (ssize_t)sizeof t ? 0 : 3;
}

static uint8_t *map_region(const char *path, size_t region)
{
    int fd = open(path, O_RDWR);
    uint8_t *map;

    if (fd < 0)
        return NULL;
    map = mmap(NULL, region, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    return map == MAP_FAILED ? NULL : map;
}

/* Rewrite random bytes of the header, index and slots until stopped: the
 * receivers' SAD all the time, the sender's now and then (so that the
 * stream goes on long enough to test the receivers). */
static int damager(size_t region, int out)
{
    uint8_t *recv_map = map_region(test_path_in(dir, "damage.sad"), region);
    uint8_t *send_map = map_region(test_path_in(dir, "send.sad"), region);
    uint64_t writes = 0;

    stop_on_term();
    if (recv_map == NULL || send_map == NULL)
        return 1;
    while (!stop) {
        uint8_t *map = randombytes_uniform(50) == 0 ? send_map : recv_map;
        map[randombytes_uniform((uint32_t)region)] =
            (uint8_t)randombytes_random();
        writes++;
        usleep(100);
    }
    munmap(recv_map, region);
    munmap(send_map, region);
    return write(out, &writes, sizeof writes) == (ssize_t)sizeof writes ? 0 : 3;
}

static void test_random_damage_while_in_use(void)
{
    zesp_sad_opts opts = { .capacity = 4,
                          .max_replay_window = ZESP_REPLAY_WINDOW_DEFAULT };
    zesp_sa_params out = test_sa(DAMAGE_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params in = test_sa(DAMAGE_SPI, ZESP_DIR_IN, 0, 0);
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "damage.sad"), ZESP_SAD_CREATE,
                                  &opts);
    zesp_sad *send = zesp_sad_open(test_path_in(dir, "send.sad"), ZESP_SAD_CREATE,
                                   &opts);
    char endpoint[600], c;
    int results[4][2], ready[2], rc[4];
    struct tally t[3];
    uint64_t writes = 0;
    pid_t pid[4];
    size_t region;

    CHECK(sad != NULL && send != NULL);
    if (sad == NULL || send == NULL)
        return;
    CHECK_OK(zesp_sa_add(send, &out));
    CHECK_OK(zesp_sa_add(sad, &in));
    /* Everything but the keys and the policies. */
    region = (size_t)sad->hdr->keys_off;
    zesp_sad_free(sad);
    zesp_sad_free(send);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/damage.ipc", dir);
    for (int i = 0; i < 4; i++)
        CHECK(pipe(results[i]) == 0);
    CHECK(pipe(ready) == 0);
    fflush(NULL);
    if ((pid[0] = fork()) == 0)
        _exit(publisher(endpoint, results[0][1]));
    if ((pid[1] = fork()) == 0)
        _exit(subscriber(endpoint, 0, ready[1], results[1][1]));
    if ((pid[2] = fork()) == 0)
        _exit(subscriber(endpoint, ZESP_SAD_OWN_WINDOWS, ready[1],
                         results[2][1]));
    /* Damage begins once both subscribers have taken a genuine message. */
    CHECK(read_event(ready[0], &c) == 0 && read_event(ready[0], &c) == 0);
    if ((pid[3] = fork()) == 0)
        _exit(damager(region, results[3][1]));
    sleep(DAMAGE_SECONDS);      /* how long the damage lasts, not a wait */
    kill(pid[3], SIGTERM);
    rc[3] = test_wait_status(pid[3]);
    for (int i = 0; i < 3; i++)
        kill(pid[i], SIGTERM);
    for (int i = 0; i < 3; i++)
        rc[i] = test_wait_status(pid[i]);
    memset(t, 0, sizeof t);
    for (int i = 0; i < 4; i++) {
        if (rc[i] != 0)
            fprintf(stderr, "  process %d: status %d\n", i, rc[i]);
        CHECK(rc[i] == 0);
        close(results[i][1]);
        if (rc[i] == 0 && i < 3)
            CHECK(read(results[i][0], &t[i], sizeof t[i]) ==
                  (ssize_t)sizeof t[i]);
        else if (rc[i] == 0)
            CHECK(read(results[i][0], &writes, sizeof writes) ==
                  (ssize_t)sizeof writes);
        close(results[i][0]);
    }
    close(ready[0]);
    close(ready[1]);
    for (int i = 0; i < 3; i++) {
        CHECK(t[i].foreign_errno == 0);
        CHECK(t[i].bad_body == 0);
    }
    CHECK(writes > 0);
    CHECK(t[0].refused + t[1].refused + t[2].refused > 0);
    printf("     %llu bytes damaged; sent %llu (%llu refused), received "
           "%llu and %llu (%llu and %llu refused), none forged\n",
           (unsigned long long)writes, (unsigned long long)t[0].ok,
           (unsigned long long)t[0].refused, (unsigned long long)t[1].ok,
           (unsigned long long)t[2].ok, (unsigned long long)t[1].refused,
           (unsigned long long)t[2].refused);
    unlink(test_path_in(dir, "damage.sad"));
    unlink(test_path_in(dir, "send.sad"));
}

/*
 * kill -9 of a writer holding the lock, 50 times: each time a fresh `zesp
 * sa list` and a fresh process that sends still work.
 */
enum { LOCK_ROUNDS = 50 };
#define LOCK_SPI 0x6001U

static int lock_holder(int ready)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "lock.sad"), 0, NULL);

    if (sad == NULL || sad_lock(sad) != 0)
        return 1;
    if (write(ready, "l", 1) != 1)
        return 2;
    for (;;)
        pause();
}

static int run_zesp_list(void)
{
    const char *tool = getenv("ZESP_TOOL") ? getenv("ZESP_TOOL")
                                           : "./tools/zesp";
    pid_t pid = fork();

    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(tool, tool, "--sad", test_path_in(dir, "lock.sad"), "sa", "list",
              (char *)NULL);
        _exit(127);
    }
    return test_wait_status(pid);
}

/* A fresh process: attach, then send one message to the parent. */
static int fresh_sender(const char *endpoint)
{
    void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH);
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "lock.sad"), 0, NULL);
    zesp_frame body = { "after the crash", 15 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    int rc = 0;

    if (sad == NULL)
        rc = 1;
    else if (zmq_connect(push, endpoint) != 0 ||
             zesp_send(sad, LOCK_SPI, push, &parts, 0) != 0)
        rc = 2;
    zesp_sad_free(sad);
    zmq_close(push);
    zmq_ctx_term(ctx);
    return rc;
}

static void test_killed_holding_the_lock(void)
{
    zesp_sad *sad = zesp_sad_open(test_path_in(dir, "lock.sad"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params out = test_sa(LOCK_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params in = test_sa(LOCK_SPI, ZESP_DIR_IN, 0, 0);
    void *ctx = zmq_ctx_new(), *pull = zmq_socket(ctx, ZMQ_PULL);
    zesp_msg *msg = zesp_msg_new();
    char endpoint[600];
    int listed = 0, sent = 0, received = 0;

    CHECK(sad != NULL);
    CHECK_OK(zesp_sa_add(sad, &out));
    CHECK_OK(zesp_sa_add(sad, &in));
    zesp_sad_free(sad);
    snprintf(endpoint, sizeof endpoint, "ipc://%s/lock.ipc", dir);
    CHECK(zmq_bind(pull, endpoint) == 0);
    CHECK(zmq_setsockopt(pull, ZMQ_RCVTIMEO, &(int){ test_ms(120000) },
                         sizeof(int)) == 0);
    for (int round = 0; round < LOCK_ROUNDS; round++) {
        int ready[2];
        pid_t pid;
        char c;

        CHECK(pipe(ready) == 0);
        fflush(NULL);
        if ((pid = fork()) == 0)
            _exit(lock_holder(ready[1]));
        close(ready[1]);
        /* Killed only once it holds the lock. */
        if (read_event(ready[0], &c) != 0) {
            CHECK(!"the lock holder took the lock");
            kill(pid, SIGKILL);
        }
        close(ready[0]);
        kill(pid, SIGKILL);
        test_wait_status(pid);
        listed += run_zesp_list() == 0;
        if ((pid = fork()) == 0)
            _exit(fresh_sender(endpoint));
        sent += test_wait_status(pid) == 0;
    }
    sad = zesp_sad_open(test_path_in(dir, "lock.sad"), 0, NULL);
    CHECK(sad != NULL);
    for (int i = 0; sad != NULL && i < sent; i++)
        received += zesp_recv(sad, pull, msg, 0) == 0 &&
                    zesp_msg_body(msg, 0).size == 15;
    CHECK(listed == LOCK_ROUNDS);
    CHECK(sent == LOCK_ROUNDS);
    CHECK(received == LOCK_ROUNDS);
    CHECK(sad != NULL && zesp_sad_verify(sad) == 0);
    printf("     %d of %d kill -9 with the lock held: zesp sa list %d, "
           "sends %d, received %d\n", LOCK_ROUNDS, LOCK_ROUNDS, listed, sent,
           received);
    zesp_sad_free(sad);
    zesp_msg_free(msg);
    zmq_close(pull);
    zmq_ctx_term(ctx);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], SETGID_PROBE) == 0)
        return zesp_init() == 0 ? setgid_probe() : 2;
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "trust") != 0)
        return 2;
    RUN(test_modes_refused);
    RUN(test_symlink_refused);
    RUN(test_other_file_keeps_its_mode);
    RUN(test_leftover_temporary_file);
    RUN(test_default_path);
    RUN(test_planted_by_another_user);
    RUN(test_planted_directory);
    RUN(test_dir_writers);
    RUN(test_setgid_program_ignores_environment);
    RUN(test_acl_named_user);
    RUN(test_acl_default_while_made);
    RUN(test_killed_holding_the_lock);
    if (!test_under_valgrind())
        RUN(test_random_damage_while_in_use);
    if (skipped) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            test_failed++;
        printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed,
               skipped);
        return test_failed ? 1 : 0;
    }
    return test_done_in(dir);
}
