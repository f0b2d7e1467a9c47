/*
 * Workers of a service behind mdp_broker.
 *
 *   mdp_worker --sad PATH --back EP --service NAME --reply POLICY
 *              [--policy POLICY] [--name NAME] [--processes K]
 *              [--hop POLICY] [--heartbeat-ms MS]
 *
 * Requests are accepted only under an SA of --policy (default: the
 * service's name), never under another SA the host holds.
 *
 * K processes (default 1) share the host's SAD: the service's inbound SA
 * (a group SA when several worker hosts serve it, so that whichever worker
 * the broker picks can read the request), its replay window, and the reply
 * policy's outbound SA.  Each process says READY to the broker, answers
 * every request [REQUEST | request id | text] it can verify with [ANSWER |
 * request id | "NAME/PROCESS: text"] on the reply policy (the id echoed,
 * encrypted, so that the client can tell its answer from any other the
 * broker hands it: examples/request_id.h), and says READY again after a
 * request it refuses: one it cannot verify, one that is not a request
 * with a request id (another worker's answer, where one SA carries both
 * ways), or one the client bound to another service (services may share
 * a policy; the broker, which picks the worker, is not trusted).  Every
 * --heartbeat-ms (default 2500: the broker's) it says HEARTBEAT, so that
 * the broker can tell a worker whose host is gone from a quiet one (a
 * request that takes longer than the broker's expiry needs a thread that
 * goes on saying it).  With --hop,
 * each message is first checked against the hop SA with the broker, and
 * answers, READY and HEARTBEAT are wrapped in it (doc/topologies.md).  On SIGTERM each process
 * prints what it answered and refused.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zesp.h>
#include <zmq.h>

#include "bundle.h"
#include "endpoint.h"
#include "request_id.h"

struct opts {
    const char *sad, *back, *service, *policy, *reply, *name, *hop;
    int processes;
    long heartbeat_ms;
};

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* [name | service], or with a hop policy [name | service | hop ESP]
 * with both frames bound in it, so that a broker checking hops hands
 * requests only to workers that hold the hop key.  A heartbeat is not
 * worth waiting for (the broker may be away): dropped when the
 * connection's queue is full. */
static void say(zesp_sad *sad, const struct opts *o, void *s,
                const char *name, int flags)
{
    const char *service = o->service;

    if (o->hop != NULL) {
        zesp_frame clear[2] = { { name, strlen(name) },
                                { service, strlen(service) } };
        zesp_parts parts = { .clear = clear, .nclear = 2 };

        if (zesp_send_policy(sad, o->hop, s, &parts, flags) != 0 &&
            errno != EAGAIN)
            fprintf(stderr, "mdp_worker: cannot say %s: %s\n", name,
                    zesp_strerror(errno));
        return;
    }
    if (zmq_send(s, name, strlen(name), ZMQ_SNDMORE | flags) == (int)strlen(name))
        zmq_send(s, service, strlen(service), flags);
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Whether the client bound one clear frame, this service's name. */
static bool bound_to(const zesp_msg *msg, const char *service)
{
    zesp_frame f = zesp_msg_clear(msg, 0);

    return zesp_msg_clear_count(msg) == 1 && f.size == strlen(service) &&
           memcmp(f.data, service, f.size) == 0;
}

/* Whether the body is [REQUEST | request id | text], as mdp_client sends
 * it: not an answer, which has an id too. */
static bool is_request(const zesp_msg *msg)
{
    zesp_frame kind = zesp_msg_body(msg, 0);

    return zesp_msg_body_count(msg) == 3 && kind.size == 1 &&
           *(const uint8_t *)kind.data == MDP_KIND_REQUEST &&
           zesp_msg_body(msg, 1).size == REQUEST_ID_BYTES;
}

static int answer(zesp_sad *sad, const struct opts *o, void *s,
                  const zesp_frame *client, const zesp_frame *service,
                  const zesp_frame *id, const char *text)
{
    static const uint8_t kind = MDP_KIND_ANSWER;
    zesp_frame body[3] = { { &kind, 1 }, *id, { text, strlen(text) } };
    zesp_parts reply = { .envelope = client, .nenvelope = 1,
                         .clear = service, .nclear = 1, .body = body,
                         .nbody = 3 };

    return bundle_send(sad, o->reply, o->hop, s, &reply);
}

static int serve(const struct opts *o, int index)
{
    zesp_sad *sad = zesp_sad_open(o->sad, 0, NULL);
    zesp_msg *msg = zesp_msg_new(), *hop = zesp_msg_new();
    static uint8_t copy[1 << 16];
    long answered = 0, refused = 0;
    int timeout = o->heartbeat_ms / 2 < 200 ? (int)o->heartbeat_ms / 2 + 1
                                            : 200;
    int linger = 500;
    long long beat;

    if (sad == NULL || msg == NULL || hop == NULL) {
        fprintf(stderr, "mdp_worker: SAD %s: %s\n", o->sad,
                zesp_strerror(errno));
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (endpoint_use(s, o->back, false, "mdp_worker") != 0) {
        zmq_close(s);
        zmq_ctx_term(ctx);
        zesp_msg_free(msg);
        zesp_msg_free(hop);
        zesp_sad_free(sad);
        return 1;
    }
    say(sad, o, s, "READY", 0);
    beat = now_ms() + o->heartbeat_ms;
    while (!stop) {
        char text[512];
        if (now_ms() >= beat) {
            say(sad, o, s, "HEARTBEAT", ZMQ_DONTWAIT);
            beat = now_ms() + o->heartbeat_ms;
        }
        /* [client] envelope, [service] clear, the request body. */
        if (bundle_recv(sad, o->policy, o->hop, s, 1, hop, msg, copy,
                        sizeof copy) != 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            refused++;
            fprintf(stderr, "mdp_worker %s/%d: refused a request: %s\n",
                    o->name, index, zesp_strerror(errno));
            say(sad, o, s, "READY", 0);
            continue;
        }
        zesp_frame client = zesp_msg_envelope(msg, 0);
        zesp_frame service = zesp_msg_clear(msg, 0);
        zesp_frame id = zesp_msg_body(msg, 1);
        zesp_frame req = zesp_msg_body(msg, 2);
        /* The binding proves what the client named, not that it named
         * us: services may share a policy, and the broker picks. */
        if (!bound_to(msg, o->service)) {
            refused++;
            fprintf(stderr, "mdp_worker %s/%d: refused a request: bound "
                    "to another service than %s\n", o->name, index,
                    o->service);
            say(sad, o, s, "READY", 0);
            continue;
        }
        /* An answer (one SA may carry both ways), or nothing to echo:
         * its answer could not be told from another. */
        if (!is_request(msg)) {
            refused++;
            fprintf(stderr, "mdp_worker %s/%d: refused a request: not a "
                    "request with a request id\n", o->name, index);
            say(sad, o, s, "READY", 0);
            continue;
        }
        snprintf(text, sizeof text, "%s/%d: %.*s", o->name, index,
                 (int)req.size, (const char *)req.data);
        if (answer(sad, o, s, &client, &service, &id, text) != 0) {
            fprintf(stderr, "mdp_worker %s/%d: cannot answer: %s\n",
                    o->name, index, zesp_strerror(errno));
            continue;
        }
        answered++;
    }
    printf("mdp_worker %s/%d: answered %ld, refused %ld\n", o->name, index,
           answered, refused);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_msg_free(msg);
    zesp_msg_free(hop);
    zesp_sad_free(sad);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o = { .name = "worker", .processes = 1,
                      .heartbeat_ms = 2500 };
    struct sigaction sa;
    pid_t kids[64];
    int rc = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sad") == 0)
            o.sad = argv[i + 1];
        else if (strcmp(argv[i], "--back") == 0)
            o.back = argv[i + 1];
        else if (strcmp(argv[i], "--service") == 0)
            o.service = argv[i + 1];
        else if (strcmp(argv[i], "--reply") == 0)
            o.reply = argv[i + 1];
        else if (strcmp(argv[i], "--policy") == 0)
            o.policy = argv[i + 1];
        else if (strcmp(argv[i], "--name") == 0)
            o.name = argv[i + 1];
        else if (strcmp(argv[i], "--hop") == 0)
            o.hop = argv[i + 1];
        else if (strcmp(argv[i], "--processes") == 0)
            o.processes = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--heartbeat-ms") == 0)
            o.heartbeat_ms = atol(argv[i + 1]);
    }
    if (o.sad == NULL || o.back == NULL || o.service == NULL ||
        o.reply == NULL || o.processes < 1 || o.processes > 64 ||
        o.heartbeat_ms < 1) {
        fprintf(stderr, "usage: mdp_worker --sad PATH --back EP --service "
                "NAME --reply POLICY [--policy POLICY] [--name NAME] "
                "[--processes K] [--hop POLICY] [--heartbeat-ms MS]\n");
        return 2;
    }
    if (o.policy == NULL)
        o.policy = o.service;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* Each process makes its own ZeroMQ context after the fork. */
    for (int i = 0; i < o.processes; i++)
        if ((kids[i] = fork()) == 0)
            _exit(serve(&o, i + 1));
    /* A signal to the parent stops every process. */
    for (int left = o.processes; left > 0;) {
        int status;
        if (wait(&status) < 0) {
            if (errno != EINTR)
                break;
            for (int i = 0; i < o.processes; i++)
                kill(kids[i], SIGTERM);
            continue;
        }
        left--;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            rc = 1;
    }
    return rc;
}
