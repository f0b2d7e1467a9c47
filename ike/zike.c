/*
 * zike: the key daemon.  zike -c zike.yaml [--check]
 *
 * One thread, one zmq_poll loop: the ROUTER that peers send requests to,
 * a DEALER per configured peer endpoint for the requests zike sends, and
 * the control socket (a REP on ipc, mode 0600).  Signals only set flags:
 * SIGHUP reloads the configuration, SIGTERM and SIGINT delete the IKE SAs
 * and exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "capture.h"
#include "control.h"
#include "daemon.h"
#include "metrics.h"
#include "safe_text.h"

static volatile sig_atomic_t got_term, got_hup;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        got_hup = 1;
    else
        got_term = 1;
}

/* One zike per SAD too, whatever its control socket: zike takes the SAs
 * of its policies that no IKE SA of its own holds for ones an earlier
 * zike left (install.c, group.c's orphans) and retires them, and keeps
 * its key server state beside the SAD (SAD.gcks), which a second zike
 * would overwrite with its own list.  SAD.zike.lock, the lock of a zike
 * whose control socket is not a file, so one lock serves both then. */
static void sad_lock_path(const struct zike_conf *c, char *out, size_t len)
{
    snprintf(out, len, "%s.zike.lock", c->sad_path);
}

/* One zike per control socket: a lock beside it (ipc://PATH: PATH.lock),
 * or beside the SAD for another transport, held for the daemon's life and
 * naming its pid.  Taken before anything is opened or bound, so that a
 * second zike started by mistake changes nothing. */
static void lock_path(const struct zike_conf *c, char *out, size_t len)
{
    if (zike_endpoint_is_file(c->control))
        snprintf(out, len, "%s.lock", c->control + 6);
    else
        sad_lock_path(c, out, len);
}

/* And one per key server state file (gcks_state.c): group-state: may name
 * the same file for zikes on two SADs, each of which would overwrite the
 * other's SPIs and unlink its temporary file.  Its default (SAD.gcks) is
 * locked too: a zike on another SAD may name it. */
static void state_lock_path(const struct zike_conf *c, char *out, size_t len)
{
    snprintf(out, len, "%s.lock", c->group_state);
}

/* The SAD's lock above is by name, and a hard link gives the SAD another
 * (zesp_sad_open refuses a symbolic link, not a hard link unless it sets
 * the mode): so the file itself is locked too, by an open file
 * description lock on one byte far past any lane's (lanes.c: past the
 * file's end, one a slot and lane), which the kernel lets go however zike
 * ends.  0 and *fd (-1 where the file system has no such locks: said,
 * and the name's lock is all there is), or -1 with the reason logged. */
#define ZIKE_SAD_LOCK_BYTE ((off_t)1 << (sizeof(off_t) * 8 - 2))

static int sad_file_lock(const char *path, int *fd)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
                        .l_start = ZIKE_SAD_LOCK_BYTE, .l_len = 1 };
    bool held;

    if ((*fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        zike_log(LOG_ERR, "SAD %s: %s", path, strerror(errno));
        return -1;
    }
    if (fcntl(*fd, F_OFD_SETLK, &fl) == 0)
        return 0;
    held = errno == EAGAIN || errno == EACCES;
    if (held)
        zike_log(LOG_ERR, "another zike runs with SAD %s under another name "
                 "(a hard link to it); stop it first, or give this one its "
                 "own sad:", path);
    else
        zike_log(LOG_WARNING, "SAD %s: cannot lock the file itself (%s): a "
                 "hard link to it is not told from another SAD", path,
                 strerror(errno));
    close(*fd);
    *fd = -1;
    return held ? -1 : 0;
}

/* sad.capacity is used only when the SAD is made: an existing one with
 * another number of slots is refused at start, so that an operator who
 * raised it does not find out at the first full rekey (ZESP_EFULL). */
static bool sad_capacity_refused(const struct zike *z)
{
    zesp_sad_stats ss;

    if (z->conf.sad_opts.capacity == 0)
        return false;
    if (zesp_sad_stats_get(z->sad, &ss) != 0) {
        zike_log(LOG_ERR, "SAD %s: %s", z->conf.sad_path,
                 zesp_strerror(errno));
        return true;
    }
    if (ss.capacity == z->conf.sad_opts.capacity)
        return false;
    zike_log(LOG_ERR, "SAD %s has %u SA slots, sad.capacity says %u: a SAD's "
             "capacity is fixed when it is made; to change it, stop zike and "
             "the programs using it and remove the file (SAs loaded with "
             "zesp load must be loaded again), or set sad.capacity: %u",
             z->conf.sad_path, ss.capacity, z->conf.sad_opts.capacity,
             ss.capacity);
    return true;
}

#define LOCK_TRIES 8
#define ZIKE_LOCKS 3                  /* control, SAD, key server state */
#define LOCK_PATH_BYTES 4200          /* a path of 4096 and a suffix */

/* Each lock held is ours: removed, then let go. */
static void locks_drop(char lock[ZIKE_LOCKS][LOCK_PATH_BYTES], const int *fd)
{
    for (size_t i = 0; i < ZIKE_LOCKS; i++)
        if (fd[i] >= 0) {
            unlink(lock[i]);
            close(fd[i]);
        }
}

/* zike truncates its lock and writes its pid there: a file found under
 * the name must be one it made, not another user's (planted to hold the
 * lock) nor a hard link to some other file (that file would be lost). */
static bool lock_ours(int fd, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        zike_log(LOG_ERR, "lock %s: %s", path, strerror(errno));
        return false;
    }
    if (S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == geteuid())
        return true;
    zike_log(LOG_ERR, "lock %s: not a file of zike's own (owner uid %u, "
             "%ju links): remove it, or name another control:", path,
             (unsigned)st.st_uid, (uintmax_t)st.st_nlink);
    return false;
}

/* what: what the holder has ("control ipc://...", "SAD /run/zesp/sad");
 * fix: the settings a second zike must give a value of its own. */
static int take_lock(const char *path, const char *what, const char *fix)
{
    for (int i = 0; i < LOCK_TRIES; i++) {
        struct stat held, named;
        char pid[32] = "";
        ssize_t n;
        int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

        if (fd < 0) {
            zike_log(LOG_ERR, "lock %s: %s", path, strerror(errno));
            return -1;
        }
        if (!lock_ours(fd, path)) {
            close(fd);
            return -1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            if ((n = pread(fd, pid, sizeof pid - 1, 0)) > 0)
                pid[strcspn(pid, "\n")] = '\0';
            zike_log(LOG_ERR, "another zike (pid %s) runs with %s: it "
                     "holds %s; stop it first, or give this one its own %s",
                     pid[0] ? pid : "?", what, path, fix);
            close(fd);
            return -1;
        }
        /* The zike that held it removes it as it exits: lock the file
         * that has the name, not one already unlinked. */
        if (fstat(fd, &held) == 0 && stat(path, &named) == 0 &&
            held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
            n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
                zike_log(LOG_WARNING, "lock %s: cannot write our pid: %s",
                         path, strerror(errno));
            return fd;
        }
        close(fd);
    }
    zike_log(LOG_ERR, "lock %s: keeps changing; another zike starting?",
             path);
    return -1;
}

/* libzmq removes whatever has the name before it binds there (a socket
 * a zike that died left, it assumes): a control: or listen: mistyped as
 * the path of the SAD, the configuration or any file would delete that
 * file.  field: the setting's name, for the message. */
static bool ipc_path_taken(const char *endpoint, const char *field)
{
    const char *path = endpoint + 6;
    struct stat st;

    if (!zike_endpoint_is_file(endpoint) || lstat(path, &st) != 0 ||
        S_ISSOCK(st.st_mode))
        return false;
    zike_log(LOG_ERR, "%s %s: %s is there and is not a socket; zike "
             "will not replace it: remove it, or name another %s:",
             field, endpoint, path, field);
    return true;
}

/* What was bound at the control path is a socket only our user may
 * connect to (read without following a link). */
static bool control_private(const struct zike *z)
{
    struct stat st;

    if (lstat(z->conf.control + 6, &st) != 0) {
        zike_log(LOG_ERR, "control %s: %s", z->conf.control, strerror(errno));
        return false;
    }
    if (S_ISSOCK(st.st_mode) && st.st_uid == geteuid() &&
        (st.st_mode & 077) == 0)
        return true;
    zike_log(LOG_ERR, "control %s: not a socket of mode 0600 that is ours "
             "(mode %04o, owner uid %u)", z->conf.control,
             (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
    return false;
}

/* Bind the control socket readable and writable by our user only. */
static int open_control(struct zike *z)
{
    mode_t old;
    int64_t max = CONTROL_FRAME_MAX;
    int rc = -1;

    if (ipc_path_taken(z->conf.control, "control"))
        return -1;
    /* The socket is made 0600 as it is bound: a chmod after would follow
     * a link swapped in meanwhile by whoever may write the folder. */
    old = umask(0177);
    if ((z->control = zmq_socket(z->ctx, ZMQ_REP)) != NULL &&
        zmq_setsockopt(z->control, ZMQ_MAXMSGSIZE, &max, sizeof max) == 0 &&
        zmq_bind(z->control, z->conf.control) == 0)
        rc = 0;
    umask(old);
    if (rc != 0) {
        zike_log(LOG_ERR, "control %s: %s", z->conf.control,
                 zmq_strerror(zmq_errno()));
        return -1;
    }
    z->control_bound = true;
    if (!zike_endpoint_is_file(z->conf.control))
        zike_log(LOG_WARNING, "control %s has no authentication "
                 "(control-unauthenticated: true)", z->conf.control);
    if (zike_endpoint_is_file(z->conf.control) && !control_private(z))
        return -1;
    return 0;
}

/* Locked key memory is left out of a core (MADV_DONTDUMP), the heap is
 * not: an IKE SA's digest of its peer's key, which a reader may test
 * guesses of the key against, a CREATE_CHILD_SA request's X25519 secret,
 * whatever libyaml left of an inline key.  No core then, and no ptrace
 * or /proc/PID/mem by other processes of our user.  Before the
 * configuration is read, so that --check is covered too. */
static int keep_out_of_core_dumps(void)
{
    const struct rlimit none = { 0, 0 };

    if (setrlimit(RLIMIT_CORE, &none) != 0 ||
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fprintf(stderr, "zike: cannot keep keys out of core dumps: %s\n",
                strerror(errno));
        return -1;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stdout,
            "usage: zike -c FILE [--check] [-v]\n"
            "  -c, --config FILE  the configuration (zike.conf(5))\n"
            "      --check        check the configuration and exit\n"
            "  -v, --verbose      log at debug level\n"
            "  -h, --help         this text\n"
            "  -V, --version      zike's version\n"
            "      --capture FILE       debug: IKE messages into a pcap file\n"
            "      --capture-keys FILE  debug: IKE SA keys for Wireshark\n"
            "Exit: 0 ok, 1 failed, 2 usage, 3 bad configuration.\n");
    return 0;
}

/* what NULL: getopt has said what was wrong. */
static int usage_error(const char *what)
{
    if (what != NULL)
        fprintf(stderr, "zike: %s\n", what);
    fputs("(zike --help for usage)\n", stderr);
    return 2;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, 'C' },
        { "verbose", no_argument, NULL, 'v' },
        { "capture", required_argument, NULL, 'P' },
        { "capture-keys", required_argument, NULL, 'K' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    struct zike *z;
    const char *file = NULL, *pcap_path = NULL, *keys_path = NULL;
    char err[1024], lock[ZIKE_LOCKS][LOCK_PATH_BYTES], what[LOCK_PATH_BYTES];
    bool check = false, verbose = false;
    struct sigaction sa;
    int opt, rc = 1, lock_fd[ZIKE_LOCKS] = { -1, -1, -1 }, sad_fd = -1;
    uint64_t last_tick = 0;

    argv[0] = (char *)"zike";       /* getopt's messages begin with it */
    while ((opt = getopt_long(argc, argv, "c:vhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': file = optarg; break;
        case 'C': check = true; break;
        case 'v': verbose = true; break;
        case 'P': pcap_path = optarg; break;
        case 'K': keys_path = optarg; break;
        case 'h': return usage();
        case 'V': printf("zike %s\n", ZESP_VERSION_STRING); return 0;
        default: return usage_error(NULL);
        }
    }
    if (file == NULL)
        return usage_error("no configuration: -c FILE");
    if (optind != argc)
        return usage_error("unexpected argument");
    if (keep_out_of_core_dumps() != 0)
        return 1;
    if (zesp_init() != 0 || (z = calloc(1, sizeof *z)) == NULL) {
        fprintf(stderr, "zike: cannot initialise\n");
        return 1;
    }
    if (zike_conf_load(file, &z->conf, err, sizeof err) != 0) {
        char safe[SAFE_TEXT_BYTES(sizeof err)];

        /* It quotes the file's keys and values: escaped, as the log does. */
        fprintf(stderr, "zike: %s\n",
                err[0] ? safe_text(safe, sizeof safe, err) : strerror(errno));
        free(z);
        return 3;
    }
    if (check) {
        printf("%s: ok (%zu peer%s, %zu group%s served, %zu joined)\n",
               file, z->conf.npeers, z->conf.npeers == 1 ? "" : "s",
               z->conf.ngroups, z->conf.ngroups == 1 ? "" : "s",
               z->conf.njoins);
        zike_conf_free(&z->conf);
        free(z);
        return 0;
    }
    zike_log_verbose = verbose;
    zike_log_level = verbose ? LOG_DEBUG : z->conf.log_level;
    lock_path(&z->conf, lock[0], sizeof lock[0]);
    sad_lock_path(&z->conf, lock[1], sizeof lock[1]);
    state_lock_path(&z->conf, lock[2], sizeof lock[2]);
    if (strcmp(lock[1], lock[0]) == 0)
        lock[1][0] = '\0';                /* control not a file: one lock */
    for (size_t i = 0; i < ZIKE_LOCKS; i++) {
        static const char *const fix[ZIKE_LOCKS] = {
            "control: and sad:", "sad: (one zike per SAD)", "group-state:",
        };
        static const char *const held[ZIKE_LOCKS] = {
            "control", "SAD", "key server state",
        };

        snprintf(what, sizeof what, "%s %s", held[i], i == 0 ?
                 z->conf.control : i == 1 ? z->conf.sad_path
                                          : z->conf.group_state);
        if (lock[i][0] != '\0' &&
            (lock_fd[i] = take_lock(lock[i], what, fix[i])) < 0) {
            locks_drop(lock, lock_fd);
            zike_conf_free(&z->conf);
            free(z);
            return 1;
        }
    }
    randombytes_buf(z->cookie_secret, sizeof z->cookie_secret);
    z->now = zike_clock_ms();

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((z->sad = zesp_sad_open(z->conf.sad_path, ZESP_SAD_CREATE |
                                    (z->conf.sad_opts.mode & 060 ?
                                         ZESP_SAD_GROUP : 0),
                                &z->conf.sad_opts)) == NULL) {
        zike_log(LOG_ERR, "SAD %s: %s", z->conf.sad_path,
                 zesp_strerror(errno));
        goto out;
    }
    if (sad_file_lock(z->conf.sad_path, &sad_fd) != 0 ||
        sad_capacity_refused(z))
        goto out;
    if (group_state_load(z) != 0)
        goto out;
    if (group_sync_conf(z) != 0) {
        zike_log(LOG_ERR, "groups: %s", strerror(errno));
        goto out;
    }
    if ((pcap_path || keys_path) && capture_open(pcap_path, keys_path) != 0) {
        zike_log(LOG_ERR, "capture: %s", strerror(errno));
        goto out;
    }
    if (pcap_path || keys_path)
        zike_log(LOG_WARNING, "debug capture on%s", keys_path ?
                 ": IKE keys are being written to a file" : "");
    if ((z->ctx = zmq_ctx_new()) == NULL)
        goto out;
    if (z->conf.listen[0] != '\0' &&
        (ipc_path_taken(z->conf.listen, "listen") || listen_open(z) != 0))
        goto out;
    if (open_control(z) != 0 || zike_open_links(z, NULL) != 0 ||
        metrics_http_open(z) != 0)
        goto out;
    zike_declare_policies(z);
    zike_log(LOG_NOTICE, "zike %s: id %s, listening on %s, SAD %s, %zu "
             "peer%s", ZESP_VERSION_STRING, z->conf.id,
             z->conf.listen[0] ? z->conf.listen : "(nothing)",
             z->conf.sad_path, z->conf.npeers, z->conf.npeers == 1 ? "" : "s");

    while (!got_term) {
        zmq_pollitem_t items[3 + ZIKE_MAX_PEERS];
        void *socks[3 + ZIKE_MAX_PEERS];
        size_t n = 0;
        int http = metrics_http_fd(z);

        items[n] = (zmq_pollitem_t){ z->control, 0, ZMQ_POLLIN, 0 };
        socks[n++] = z->control;
        if (z->listener) {
            items[n] = (zmq_pollitem_t){ z->listener, 0, ZMQ_POLLIN, 0 };
            socks[n++] = z->listener;
        }
        for (size_t i = 0; i < z->conf.npeers; i++)
            if (zike_link_socket(z, i)) {
                items[n] = (zmq_pollitem_t){ zike_link_socket(z, i), 0,
                                             ZMQ_POLLIN, 0 };
                socks[n++] = zike_link_socket(z, i);
            }
        if (http >= 0) {
            items[n] = (zmq_pollitem_t){ NULL, http, ZMQ_POLLIN, 0 };
            socks[n++] = NULL;
        }
        if (zmq_poll(items, (int)n, 25) < 0 && zmq_errno() != EINTR) {
            zike_log(LOG_ERR, "poll: %s", zmq_strerror(zmq_errno()));
            goto out;
        }
        z->now = zike_clock_ms();
        for (size_t i = 0; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN) || socks[i] == NULL)
                continue;
            if (socks[i] == z->control)
                control_serve(z, z->control);
            else if (socks[i] == z->listener)
                for (int k = 0; k < 64 && listen_receive(z); k++)
                    ;
            else
                for (int k = 0; k < 64 && link_receive(z, socks[i]); k++)
                    ;
        }
        metrics_http_run(z);       /* its timeouts too: every turn */
        if (got_hup) {
            got_hup = 0;
            zike_reload(z, NULL, 0);
        }
        if (z->now - last_tick >= 25) {
            last_tick = z->now;
            ike_tick(z);
            if (z->listener)
                listen_expire(z);
            links_tick(z);
        }
    }
    zike_log(LOG_NOTICE, "stopping: deleting IKE SAs");
    ike_shutdown(z);
    /* Give the DELETEs a moment to leave. */
    {
        int linger = 500;
        zike_close_links(z, linger);
        if (z->listener)
            zmq_setsockopt(z->listener, ZMQ_LINGER, &linger, sizeof linger);
    }
    rc = 0;
out:
    metrics_http_close(z);
    while (z->sas)
        ike_sa_free(z, z->sas);
    group_free(z);
    zike_close_links(z, 0);
    listen_close(z);
    if (z->control)
        zmq_close(z->control);
    if (z->ctx)
        zmq_ctx_term(z->ctx);
    if (z->control_bound && zike_endpoint_is_file(z->conf.control))
        unlink(z->conf.control + 6);
    locks_drop(lock, lock_fd);
    if (sad_fd >= 0)
        close(sad_fd);
    capture_close();
    zesp_sad_free(z->sad);
    zike_conf_free(&z->conf);
    sodium_memzero(z->cookie_secret, sizeof z->cookie_secret);
    free(z);
    return rc;
}
