/*
 * A client of a service behind mdp_broker.
 *
 *   mdp_client --sad PATH --front EP --service NAME --policy POLICY
 *              [--reply POLICY] [--count N] [--interval-ms MS]
 *              [--timeout-ms MS] [--hop POLICY]
 *
 * Sends N requests "request I" on POLICY, the service name as a clear frame
 * bound to each, and waits for each answer (up to --timeout-ms, default
 * 2000) before the next.  Answers are verified (any worker's, only under
 * an SA of the --reply policy: by default POLICY itself, a pairwise one)
 * and must echo the request.  A request the broker tampered with
 * gets no answer: it is counted as unanswered.  With --hop the request is
 * also wrapped in the hop SA with the broker (doc/topologies.md).  Prints
 * what happened, and which workers answered; exits 0 when every request
 * was sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "bundle.h"

#define WORKERS_MAX 32

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
    zmq_connect(s, front);

    for (int i = 0; i < count; i++) {
        char text[64], want[64];
        zesp_frame svc = { service, strlen(service) };
        zesp_frame body = { text, (size_t)snprintf(text, sizeof text,
                                                   "request %d", i) };
        zesp_parts p = { .clear = &svc, .nclear = 1, .body = &body,
                         .nbody = 1 };
        int waited = 0, got = 0;

        if (interval > 0 && i > 0)
            zmq_poll(NULL, 0, interval);
        if (bundle_send(sad, policy, hop, s, &p) != 0) {
            fprintf(stderr, "mdp_client: send: %s\n", zesp_strerror(errno));
            return 1;
        }
        snprintf(want, sizeof want, ": request %d", i);
        while (!got && waited < timeout) {
            if (bundle_recv(sad, reply ? reply : policy, hop, s, 0, hopmsg,
                            msg, copy, sizeof copy) != 0) {
                if (errno == EAGAIN)
                    waited += slice;
                else
                    refused++;
                continue;
            }
            zesp_frame a = zesp_msg_body(msg, 0);
            size_t wl = strlen(want);
            const char *colon = memchr(a.data, ':', a.size);
            if (a.size < wl || colon == NULL ||
                memcmp((const char *)a.data + a.size - wl, want, wl) != 0)
                continue;               /* a late answer to an earlier one */
            got = 1;
            int k, n = (int)(colon - (const char *)a.data);
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
