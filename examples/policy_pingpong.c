/*
 * Two processes that know nothing of keys: each opens its host's shared
 * SAD (set up by `zesp load`), sends on a policy name, and receives.
 *
 *   policy_pingpong --sad PATH --policy NAME --bind ENDPOINT [--count N]
 *   policy_pingpong --sad PATH --policy NAME --connect ENDPOINT [--count N]
 *                   [--interval-ms MS] [--wait-sa MS] [--timeout-ms MS]
 *
 * --wait-sa lets a send on a policy with no SA yet raise an ACQUIRE for
 * the key daemon and wait up to MS for the SA.  --timeout-ms (default
 * 10000) bounds each wait for a message.
 *
 * The connecting side sends N pings and expects N pongs; the binding side
 * answers each ping it can verify.  Exit 0 when all N went both ways.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "endpoint.h"

static int usage(void)
{
    fprintf(stderr, "usage: policy_pingpong --sad PATH --policy NAME "
                    "(--bind|--connect) ENDPOINT [--count N] "
                    "[--interval-ms MS] [--wait-sa MS] [--timeout-ms MS]\n");
    return 2;
}

static int exchange(zesp_sad *sad, void *s, const char *policy, int count,
                    int initiator, int interval_ms)
{
    zesp_msg *msg = zesp_msg_new();
    int done = 0;

    for (int i = 0; i < count; i++) {
        char text[64];
        zesp_frame body = { text, 0 };
        zesp_parts parts = { .body = &body, .nbody = 1 };

        if (initiator) {
            if (interval_ms > 0 && i > 0)
                zmq_poll(NULL, 0, interval_ms);
            body.size = (size_t)snprintf(text, sizeof text, "ping %d", i);
            if (zesp_send_policy(sad, policy, s, &parts, 0) != 0) {
                fprintf(stderr, "pingpong: send: %s\n", zesp_strerror(errno));
                break;
            }
        }
        if (zesp_recv_policy(sad, policy, s, msg, 0) != 0) {
            fprintf(stderr, "pingpong: receive: %s\n", zesp_strerror(errno));
            break;
        }
        zesp_frame got = zesp_msg_body(msg, 0);
        if (!initiator) {
            body.size = (size_t)snprintf(text, sizeof text, "pong %.*s",
                                         (int)got.size,
                                         (const char *)got.data);
            if (zesp_send_policy(sad, policy, s, &parts, 0) != 0) {
                fprintf(stderr, "pingpong: send: %s\n", zesp_strerror(errno));
                break;
            }
        } else if (got.size < 4 || memcmp(got.data, "pong", 4) != 0) {
            break;
        }
        done++;
    }
    if (done != count)
        fprintf(stderr, "pingpong: %d of %d (%s)\n", done, count,
                zesp_strerror(errno));
    else
        printf("pingpong: %d messages each way on policy %s, last from %s\n",
               count, policy, zesp_msg_peer(msg));
    zesp_msg_free(msg);
    return done == count ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *policy = NULL, *bind = NULL, *connect = NULL;
    int count = 10, timeout = 10000, interval_ms = 0, wait_sa = 0, rc;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sad") == 0)
            path = argv[i + 1];
        else if (strcmp(argv[i], "--policy") == 0)
            policy = argv[i + 1];
        else if (strcmp(argv[i], "--bind") == 0)
            bind = argv[i + 1];
        else if (strcmp(argv[i], "--connect") == 0)
            connect = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval_ms = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--wait-sa") == 0)
            wait_sa = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout = atoi(argv[i + 1]);
        else
            return usage();
    }
    if (argc % 2 == 0 || policy == NULL || !bind == !connect || count <= 0)
        return usage();

    zesp_sad *sad = zesp_sad_open(path, 0, NULL);
    if (sad == NULL) {
        fprintf(stderr, "pingpong: SAD %s: %s\n",
                path ? path : zesp_sad_default_path(), zesp_strerror(errno));
        return 1;
    }
    if (wait_sa > 0)
        zesp_sad_set_acquire_timeout(sad, (uint32_t)wait_sa);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &timeout, sizeof timeout);
    if (endpoint_use(s, bind ? bind : connect, bind != NULL,
                     "pingpong") != 0)
        return 1;
    rc = exchange(sad, s, policy, count, connect != NULL, interval_ms);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    return rc;
}
