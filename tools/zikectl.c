/*
 * zikectl: talks to a running zike over its control socket.
 *   zikectl -s ENDPOINT [--json] list|stats|groups|reload
 *   zikectl -s ENDPOINT initiate|terminate|rekey PEER
 *   zikectl -s ENDPOINT rekey-group|leave GROUP
 * ENDPOINT defaults to $ZIKE_CONTROL, else zike's own default: beside
 * the default SAD ($ZESP_SAD, else zesp_sad_default_path()), as zike binds
 * it when its configuration names no control:.  Exit 0 when zike said ok,
 * 1 when it refused, 2 on usage errors, 4 when zike did not answer in 5
 * seconds or has no socket there.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zesp.h>
#include <zmq.h>

#define ENDPOINT_MAX 4200U

/* The same default as zike's configuration (zike_config.c). */
static const char *default_endpoint(char *buf, size_t len)
{
    const char *env = getenv("ZIKE_CONTROL");

    if (env != NULL && *env)
        return env;
    snprintf(buf, len, "ipc://%.240s.ctl", zesp_sad_default_path());
    return buf;
}

/* An ipc:// socket file that is not there: say so now, not in 5 s. */
static int missing_socket(const char *endpoint)
{
    struct stat st;

    if (strncmp(endpoint, "ipc://", 6) != 0 || stat(endpoint + 6, &st) == 0)
        return 0;
    fprintf(stderr, "zikectl: no zike at %s: %s (-s ENDPOINT or "
            "$ZIKE_CONTROL: the configuration's control:)\n", endpoint,
            strerror(errno));
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: zikectl [-s ENDPOINT] [--json] COMMAND [ARG...]\n"
            "commands: list, stats, groups, reload, initiate PEER, "
            "terminate PEER, rekey PEER, rekey-group GROUP, leave GROUP\n");
    return 2;
}

int main(int argc, char **argv)
{
    char fallback[ENDPOINT_MAX];
    const char *endpoint = default_endpoint(fallback, sizeof fallback);
    const char *args[8];
    int nargs = 0, json = 0, rc = 4, timeout = 5000, zero = 0;
    void *ctx, *req;
    char status[8] = "";
    zmq_msg_t reply;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
            endpoint = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (nargs < 6)
            args[nargs++] = argv[i];
        else
            return usage();
    }
    if (endpoint == NULL || nargs == 0)
        return usage();
    if (json)
        args[nargs++] = "--json";
    if (missing_socket(endpoint))
        return 4;
    ctx = zmq_ctx_new();
    req = zmq_socket(ctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(req, endpoint) != 0) {
        fprintf(stderr, "zikectl: %s: %s\n", endpoint,
                zmq_strerror(zmq_errno()));
        rc = 2;
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
    fwrite(zmq_msg_data(&reply), 1, zmq_msg_size(&reply),
           strcmp(status, "ok") == 0 ? stdout : stderr);
    zmq_msg_close(&reply);
    rc = strcmp(status, "ok") == 0 ? 0 : 1;
    goto out;
timeout:
    fprintf(stderr, "zikectl: no answer from zike at %s\n", endpoint);
out:
    zmq_close(req);
    zmq_ctx_term(ctx);
    return rc;
}
