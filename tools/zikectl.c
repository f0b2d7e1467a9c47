/*
 * zikectl: talks to a running zike over its control socket.
 *   zikectl -s ENDPOINT [--json] list|stats|groups|reload
 *   zikectl -s ENDPOINT initiate|terminate|rekey PEER
 *   zikectl -s ENDPOINT rekey-group|senders|leave GROUP
 * Options anywhere (getopt_long permutes).  ENDPOINT defaults to
 * $ZIKE_CONTROL, else zike's own default: beside the default SAD
 * ($ZESP_SAD, else zesp_sad_default_path()), as zike binds it when its
 * configuration names no control:.  Exit 0 when zike said ok, 1 when it
 * refused (its reason on stderr), 2 on usage errors, 4 when zike did not
 * answer in 5 seconds or has no socket there (or another user listens).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zesp.h>
#include <zmq.h>

#include "../ike/control.h"
#include "owner.h"
#include "safe_text.h"
#include "std_streams.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_NO_ANSWER = 4 };

#define ARGS_MAX 6      /* the command and its arguments */
#define ENDPOINT_MAX 4200U

static const char usage_text[] =
    "usage: zikectl [-s ENDPOINT] [--json] COMMAND [ARG...]\n"
    "Options may come before or after the command.\n"
    "  -s, --socket ENDPOINT  zike's control socket (default $ZIKE_CONTROL,\n"
    "                         else beside the default SAD)\n"
    "      --json             list, stats and groups in JSON\n"
    "  -u, --user USER        also trust an ipc:// socket USER listens on\n"
    "                         (root and our own user are always trusted)\n"
    "  -h, --help             this text\n"
    "  -V, --version          zikectl's version\n"
    "commands: list, stats, groups, reload, initiate PEER [POLICY],\n"
    "  terminate PEER, rekey PEER [ike], rekey-group GROUP, senders GROUP,\n"
    "  leave GROUP\n"
    "Exit: 0 done, 1 zike refused (its reason on stderr) or its answer\n"
    "could not be printed, 2 usage, 4 no answer from zike.\n";

/* The same default as zike's configuration (zike_config.c). */
static const char *default_endpoint(char *buf, size_t len)
{
    const char *env = secure_getenv("ZIKE_CONTROL");

    if (env != NULL && *env)
        return env;
    snprintf(buf, len, "ipc://%.240s.ctl", zesp_sad_default_path());
    return buf;
}

/* ipc://@NAME is abstract: no file, no owner (zike binds one only with
 * control-unauthenticated), as tcp:// has none. */
static bool is_file_socket(const char *endpoint)
{
    return strncmp(endpoint, "ipc://", 6) == 0 && endpoint[6] != '@';
}

/* An ipc:// socket file that is not there: say so now, not in 5 s.  Whose
 * socket it is, is asked of the connection (peer_trusted), not here. */
static int socket_missing(const char *endpoint)
{
    struct stat st;

    if (!is_file_socket(endpoint))
        return 0;
    if (stat(endpoint + 6, &st) != 0) {
        fprintf(stderr, "zikectl: no zike at %s: %s (-s ENDPOINT or "
                "$ZIKE_CONTROL: the configuration's control:)\n", endpoint,
                strerror(errno));
        return 1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "zikectl: no zike at %s: not a socket\n", endpoint);
        return 1;
    }
    return 0;
}

/* The uid --user names (a name or a number): 0, or -1 if no such user. */
static int user_uid(const char *name, uid_t *uid)
{
    const struct passwd *pw = getpwnam(name);
    char *end;
    unsigned long n;

    if (pw != NULL) {
        *uid = pw->pw_uid;
        return 0;
    }
    errno = 0;
    n = strtoul(name, &end, 10);
    if (name[0] < '0' || name[0] > '9' || *end != '\0' || errno != 0 ||
        n >= (unsigned long)(uid_t)-1)
        return -1;
    *uid = (uid_t)n;
    return 0;
}

/* The connect to an ipc:// socket failed; libzmq's monitor says not why.
 * A socket we may not write (another user's zike, mode 0600) refuses the
 * connect (EACCES) as one nobody listens on does (ECONNREFUSED): told
 * apart here, or an operator not running zikectl as zike's user is told
 * that zike is not running. */
static void say_unconnected(const char *endpoint)
{
    const char *path = endpoint + 6;
    struct stat st;

    if (faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) != 0 && errno == EACCES &&
        stat(path, &st) == 0) {
        fprintf(stderr, "zikectl: %s: %s: a socket of uid %u (mode %04o) "
                "that uid %u may not connect to (run zikectl as zike's "
                "user)\n", endpoint, strerror(EACCES), (unsigned)st.st_uid,
                (unsigned)(st.st_mode & 07777), (unsigned)geteuid());
        return;
    }
    fprintf(stderr, "zikectl: no zike at %s: nothing listens\n", endpoint);
}

/* The connection to an ipc:// socket, once made: whoever listens on it
 * must be our user, root, or the user --user names.  Asked of the
 * connection (SO_PEERCRED of the fd the monitor names), not of the file:
 * a stat of the path, then a connect by name, let whoever may write the
 * folder swap the socket in between; and the file's owner says nothing of
 * who listens (a socket is chowned, renamed, linked).  Where zike does not
 * run, whoever may write the folder (/tmp, a shared one) can bind its own,
 * which would be told our commands, answer "ok" to a terminate or rekey
 * never done, and fill the terminal with whatever --json writes
 * unescaped.  libzmq reconnects by name: reconnection is off
 * (ZMQ_RECONNECT_IVL -1), so the connection checked is the only one. */
static int peer_trusted(void *mon, const char *endpoint, int timeout,
                        bool have_user, uid_t user)
{
    zmq_pollitem_t it = { .socket = mon, .events = ZMQ_POLLIN };
    uint8_t ev[6];
    uint16_t event;
    uint32_t value;
    struct ucred cred;
    socklen_t len = sizeof cred;

    for (;;) {
        int n, more = 0;
        size_t more_len = sizeof more;

        if (zmq_poll(&it, 1, timeout) <= 0)
            return -1;
        if ((n = zmq_recv(mon, ev, sizeof ev, 0)) < 0)
            return -1;
        while (zmq_getsockopt(mon, ZMQ_RCVMORE, &more, &more_len) == 0 &&
               more && zmq_recv(mon, NULL, 0, 0) >= 0)
            ;                           /* the endpoint frame */
        if (n != (int)sizeof ev)
            continue;
        memcpy(&event, ev, 2);
        memcpy(&value, ev + 2, 4);
        if (event == ZMQ_EVENT_CONNECTED)
            break;
        if (event == ZMQ_EVENT_CLOSED || event == ZMQ_EVENT_CONNECT_RETRIED) {
            say_unconnected(endpoint);
            return 1;
        }
    }
    errno = EBADF;
    if (value > INT_MAX ||
        getsockopt((int)value, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        len != sizeof cred) {
        fprintf(stderr, "zikectl: %s: whose socket it is cannot be told "
                "(%s): not used\n", endpoint, strerror(errno));
        return 1;
    }
    if (owner_trusted(cred.uid) || (have_user && cred.uid == user))
        return 0;
    fprintf(stderr, "zikectl: %s: a socket of uid %u, neither ours (uid %u) "
            "nor root's: not zike's control socket, not used (run zikectl "
            "as zike's user, or with --user %u if it is the zike you "
            "mean)\n", endpoint, (unsigned)cred.uid, (unsigned)geteuid(),
            (unsigned)cred.uid);
    return 1;
}

static int usage_error(const char *what)
{
    if (what != NULL)
        fprintf(stderr, "zikectl: %s\n", what);
    fputs("(zikectl --help for usage)\n", stderr);
    return EXIT_USAGE;
}

/* zike's text, line by line.  zike escapes what it quotes; here any
 * control character left is escaped too (safe_text.h), so that only text
 * reaches the terminal.  A refusal goes to stderr, each line prefixed as
 * our own messages are. */
static void print_lines(FILE *f, const char *prefix, const char *text,
                        size_t len)
{
    size_t start = 0;

    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        fputs(prefix, f);
        safe_text_write(f, text + start, end - start, SAFE_TEXT_ESCAPED);
        fputc('\n', f);
        start = end + 1;
    }
}

static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "user", required_argument, NULL, 'u' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    char fallback[ENDPOINT_MAX];
    const char *endpoint = default_endpoint(fallback, sizeof fallback);
    const char *args[ARGS_MAX + 1];
    int nargs = 0, json = 0, rc = EXIT_NO_ANSWER, timeout = 5000, zero = 0;
    int opt, never = -1, one = 1;
    bool have_user = false;
    uid_t user = 0;
    void *ctx, *req, *mon = NULL;
    char status[8] = "", what[96];
    zmq_msg_t reply;

    argv[0] = (char *)"zikectl";    /* getopt's messages begin with it */
    while ((opt = getopt_long(argc, argv, "s:u:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': endpoint = optarg; break;
        case 'j': json = 1; break;
        case 'u':
            if (user_uid(optarg, &user) != 0) {
                snprintf(what, sizeof what, "--user %.40s: no such user",
                         optarg);
                return usage_error(what);
            }
            have_user = true;
            break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case 'V': printf("zikectl %s\n", ZESP_VERSION_STRING); return EXIT_OK;
        default: return usage_error(NULL);
        }
    }
    for (; optind < argc; optind++) {
        if (nargs == ARGS_MAX)
            return usage_error("too many arguments");
        /* zike would close a frame over CONTROL_FRAME_MAX unanswered:
         * say so here, not "no answer" in 5 s. */
        if (strlen(argv[optind]) >= CONTROL_ARG_MAX) {
            snprintf(what, sizeof what, "an argument of %zu bytes: zike "
                     "takes fewer than %u", strlen(argv[optind]),
                     CONTROL_ARG_MAX);
            return usage_error(what);
        }
        args[nargs++] = argv[optind];
    }
    if (nargs == 0)
        return usage_error("no command");
    if (json)
        args[nargs++] = "--json";
    if (socket_missing(endpoint))
        return EXIT_NO_ANSWER;
    ctx = zmq_ctx_new();
    req = zmq_socket(ctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    if (is_file_socket(endpoint) &&
        (zmq_setsockopt(req, ZMQ_RECONNECT_IVL, &never, sizeof never) != 0 ||
         zmq_setsockopt(req, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
         zmq_socket_monitor(req, "inproc://zikectl-monitor",
                            ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CLOSED |
                                ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
         (mon = zmq_socket(ctx, ZMQ_PAIR)) == NULL ||
         zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
         zmq_connect(mon, "inproc://zikectl-monitor") != 0)) {
        fprintf(stderr, "zikectl: %s: %s\n", endpoint,
                zmq_strerror(zmq_errno()));
        goto out;
    }
    if (zmq_connect(req, endpoint) != 0) {
        fprintf(stderr, "zikectl: %s: %s\n", endpoint,
                zmq_strerror(zmq_errno()));
        rc = EXIT_USAGE;
        goto out;
    }
    if (mon != NULL) {
        int t = peer_trusted(mon, endpoint, timeout, have_user, user);
        if (t < 0)
            goto timeout;
        if (t > 0)
            goto out;
    }
    for (int i = 0; i < nargs; i++)
        if (zmq_send(req, args[i], strlen(args[i]),
                     i + 1 < nargs ? ZMQ_SNDMORE : 0) < 0)
            goto timeout;
    if (zmq_recv(req, status, sizeof status - 1, 0) < 0)
        goto timeout;
    zmq_msg_init(&reply);
    if (zmq_msg_recv(&reply, req, 0) < 0) {
        zmq_msg_close(&reply);
        goto timeout;
    }
    rc = strcmp(status, "ok") == 0 ? EXIT_OK : EXIT_REFUSED;
    if (rc == EXIT_OK && json)     /* zike's JSON writer escaped it */
        fwrite(zmq_msg_data(&reply), 1, zmq_msg_size(&reply), stdout);
    else
        print_lines(rc == EXIT_OK ? stdout : stderr,
                    rc == EXIT_OK ? "" : "zikectl: ", zmq_msg_data(&reply),
                    zmq_msg_size(&reply));
    zmq_msg_close(&reply);
    goto out;
timeout:
    fprintf(stderr, "zikectl: no answer from zike at %s\n", endpoint);
out:
    if (mon != NULL) {
        zmq_socket_monitor(req, NULL, 0);
        zmq_close(mon);
    }
    zmq_close(req);
    zmq_ctx_term(ctx);
    return rc;
}

/* What zike said, printed: into a full disk or a closed stdout it was
 * not, and exit 0 would say it was. */
int main(int argc, char **argv)
{
    int rc;

    if (std_fds_open() != 0)
        return EXIT_REFUSED;
    rc = run(argc, argv);
    if (rc == EXIT_OK && stdout_done("zikectl", NULL) != 0)
        rc = EXIT_REFUSED;
    return rc;
}
