/*
 * A client of a service behind mdp_broker.
 *
 *   mdp_client --sad PATH --front EP --service NAME --policy POLICY
 *              [--reply POLICY] [--count N] [--interval-ms MS]
 *              [--timeout-ms MS] [--hop POLICY]
 *
 * Sends N requests on POLICY, the service name as a clear frame bound to
 * each, and waits for each answer (up to --timeout-ms, default 2000)
 * before the next.  A request's body is [REQUEST | request id | "request
 * I"]: the id is 16 random bytes, encrypted with the request, that the
 * worker echoes in its answer's body, [ANSWER | request id | text]
 * (examples/request_id.h).  An answer is taken only under an SA of the
 * --reply policy (by default POLICY itself, a pairwise one), only if it
 * is bound to the service asked (services may share a policy: a worker
 * of another one that served the request answers for its own), only if
 * it says it is an answer (where one SA carries both ways, a request, this
 * client's own, would otherwise pass), and only if it carries the id of
 * the request outstanding, once: the reply policy may be a group SA that
 * every client of the service holds, so without the id a broker could
 * hand this client another client's genuine answer, or an answer of this
 * host it withheld earlier (fresh to the replay window).
 * Any other answer is refused and counted, and the client waits on for
 * its own.  A request the broker tampered with gets no answer: it is
 * counted as unanswered.  With --hop the request is also wrapped in the
 * hop SA with the broker (doc/topologies.md).  Prints what happened, and
 * which workers answered; exits 0 when every request was sent.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <time.h>
#include <zesp.h>
#include <zmq.h>

#include "bundle.h"
#include "endpoint.h"
#include "request_id.h"

#define WORKERS_MAX 32

static long long now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether the worker bound one clear frame to the answer, the service
 * asked: services may share a policy, and the broker picks the worker.
 * A worker of another service that served the request anyway (it does
 * not check what the client bound) answers for that service, not this. */
static bool bound_to(const zesp_msg *msg, const char *service)
{
    zesp_frame f = zesp_msg_clear(msg, 0);

    return zesp_msg_clear_count(msg) == 1 && f.size == strlen(service) &&
           memcmp(f.data, service, f.size) == 0;
}

/* Whether msg is [ANSWER | id | "WORKER: ..."], the answer to the
 * request of id. */
static bool answers(const zesp_msg *msg, const uint8_t id[REQUEST_ID_BYTES])
{
    zesp_frame kind = zesp_msg_body(msg, 0);
    zesp_frame echoed = zesp_msg_body(msg, 1);

    return zesp_msg_body_count(msg) == 3 && kind.size == 1 &&
           *(const uint8_t *)kind.data == MDP_KIND_ANSWER &&
           echoed.size == REQUEST_ID_BYTES &&
           sodium_memcmp(echoed.data, id, REQUEST_ID_BYTES) == 0;
}

int main(int argc, char **argv)
{
    const char *sad_path = NULL, *front = NULL, *service = NULL,
               *policy = NULL, *reply = NULL, *hop = NULL;
    int count = 10, interval = 0, timeout = 2000;
    char workers[WORKERS_MAX][64];
    long per[WORKERS_MAX] = { 0 }, answered = 0, unanswered = 0, refused = 0;
    int nworkers = 0;
    static uint8_t copy[1 << 16];

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sad") == 0)
            sad_path = argv[i + 1];
        else if (strcmp(argv[i], "--front") == 0)
            front = argv[i + 1];
        else if (strcmp(argv[i], "--service") == 0)
            service = argv[i + 1];
        else if (strcmp(argv[i], "--policy") == 0)
            policy = argv[i + 1];
        else if (strcmp(argv[i], "--reply") == 0)
            reply = argv[i + 1];
        else if (strcmp(argv[i], "--hop") == 0)
            hop = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout = atoi(argv[i + 1]);
    }
    if (sad_path == NULL || front == NULL || service == NULL ||
        policy == NULL || count < 1) {
        fprintf(stderr, "usage: mdp_client --sad PATH --front EP --service "
                "NAME --policy POLICY [--reply POLICY] [--count N] "
                "[--interval-ms MS] "
                "[--timeout-ms MS] [--hop POLICY]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "mdp_client: libsodium cannot start\n");
        return 1;
    }
    zesp_sad *sad = zesp_sad_open(sad_path, 0, NULL);
    zesp_msg *msg = zesp_msg_new(), *hopmsg = zesp_msg_new();
    if (sad == NULL || msg == NULL || hopmsg == NULL) {
        fprintf(stderr, "mdp_client: SAD %s: %s\n", sad_path,
                zesp_strerror(errno));
        return 1;
    }
    zesp_sad_set_acquire_timeout(sad, 5000);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 1000, slice = 100;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &slice, sizeof slice);
    if (endpoint_use(s, front, false, "mdp_client") != 0) {
        zmq_close(s);
        zmq_ctx_term(ctx);
        zesp_msg_free(msg);
        zesp_msg_free(hopmsg);
        zesp_sad_free(sad);
        return 1;
    }

    for (int i = 0; i < count; i++) {
        char text[64];
        uint8_t id[REQUEST_ID_BYTES];
        static const uint8_t kind = MDP_KIND_REQUEST;
        zesp_frame svc = { service, strlen(service) };
        zesp_frame body[3] = { { &kind, 1 }, { id, sizeof id },
                               { text, (size_t)snprintf(text, sizeof text,
                                                        "request %d", i) } };
        zesp_parts p = { .clear = &svc, .nclear = 1, .body = body,
                         .nbody = 3 };
        int got = 0;

        if (interval > 0 && i > 0)
            zmq_poll(NULL, 0, interval);
        randombytes_buf(id, sizeof id);
        if (bundle_send(sad, policy, hop, s, &p) != 0) {
            fprintf(stderr, "mdp_client: send: %s\n", zesp_strerror(errno));
            return 1;
        }
        /* Answers that are not this request's do not make it wait longer. */
        for (long long end = now_ms() + timeout; !got && now_ms() < end;) {
            if (bundle_recv(sad, reply ? reply : policy, hop, s, 0, hopmsg,
                            msg, copy, sizeof copy) != 0) {
                if (errno != EAGAIN)
                    refused++;
                continue;
            }
            if (!bound_to(msg, service)) {
                refused++;
                fprintf(stderr, "mdp_client: refused an answer: bound to "
                        "another service than %s\n", service);
                continue;
            }
            if (!answers(msg, id)) {
                /* Another client's, a late or second one to an earlier
                 * request of ours, a request: not this request's answer. */
                refused++;
                fprintf(stderr, "mdp_client: refused an answer: not to the "
                        "request outstanding\n");
                continue;
            }
            got = 1;
            zesp_frame a = zesp_msg_body(msg, 2);
            const char *colon = memchr(a.data, ':', a.size);
            int k, n = colon ? (int)(colon - (const char *)a.data) : 0;
            for (k = 0; k < nworkers && (strlen(workers[k]) != (size_t)n ||
                                         memcmp(workers[k], a.data, (size_t)n));
                 k++)
                ;
            if (k == nworkers && nworkers < WORKERS_MAX && n < 64) {
                memcpy(workers[k], a.data, (size_t)n);
                workers[k][n] = '\0';
                nworkers++;
            }
            if (k < WORKERS_MAX)
                per[k]++;
        }
        if (got)
            answered++;
        else
            unanswered++;
    }
    printf("mdp_client: %d requests, %ld answered, %ld unanswered, "
           "%ld answers refused, %d workers answered\n", count, answered,
           unanswered, refused, nworkers);
    for (int k = 0; k < nworkers; k++)
        printf("mdp_client:   %s answered %ld\n", workers[k], per[k]);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_msg_free(msg);
    zesp_msg_free(hopmsg);
    zesp_sad_free(sad);
    return 0;
}
