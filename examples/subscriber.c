/*
 * A subscriber: verifies and decrypts what a publisher sent, through any
 * proxy.
 *
 *   subscriber --sad PATH --connect EP --topic TOPIC [--policy POLICY]
 *              [--count N] [--timeout-ms MS]
 *
 * Messages are accepted only under an SA of --policy (default: the
 * topic), never under another SA the host holds.
 *
 * Stops after N messages or MS without one; prints each, then how many it
 * accepted and refused.  It keeps its own replay windows (one per
 * publisher, ZESP_SAD_OWN_WINDOWS), so that several subscribers on one host
 * each accept every message once even where the SAs were installed
 * without replay_scope: process, the setting that says so for every
 * process (doc/configuration.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "endpoint.h"

int main(int argc, char **argv)
{
    const char *sad_path = NULL, *ep = NULL, *topic = NULL, *policy = NULL;
    int count = 10, timeout = 5000, accepted = 0, refused = 0, quiet = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sad") == 0)
            sad_path = argv[i + 1];
        else if (strcmp(argv[i], "--connect") == 0)
            ep = argv[i + 1];
        else if (strcmp(argv[i], "--topic") == 0)
            topic = argv[i + 1];
        else if (strcmp(argv[i], "--policy") == 0)
            policy = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout-ms") == 0)
            timeout = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--quiet") == 0)
            quiet = atoi(argv[i + 1]);
    }
    if (sad_path == NULL || ep == NULL || topic == NULL) {
        fprintf(stderr, "usage: subscriber --sad PATH --connect EP --topic "
                "TOPIC [--policy POLICY] [--count N] [--timeout-ms MS] "
                "[--quiet 1]\n");
        return 2;
    }
    if (policy == NULL)
        policy = topic;
    zesp_sad *sad = zesp_sad_open(sad_path, ZESP_SAD_OWN_WINDOWS, NULL);
    zesp_msg *msg = zesp_msg_new();
    if (sad == NULL || msg == NULL) {
        fprintf(stderr, "subscriber: SAD %s: %s\n", sad_path,
                zesp_strerror(errno));
        return 1;
    }
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_SUB);
    zmq_setsockopt(s, ZMQ_SUBSCRIBE, topic, strlen(topic));
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (endpoint_use(s, ep, false, "subscriber") != 0) {
        zmq_close(s);
        zmq_ctx_term(ctx);
        zesp_msg_free(msg);
        zesp_sad_free(sad);
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (accepted < count) {
        if (zesp_recv_policy(sad, policy, s, msg, 0) != 0) {
            if (errno == EAGAIN)
                break;
            refused++;
            fprintf(stderr, "subscriber: refused: %s\n", zesp_strerror(errno));
            continue;
        }
        zesp_frame body = zesp_msg_body(msg, 0);
        accepted++;
        if (!quiet)
            printf("subscriber: %.*s (from %s, sender %u, seq %llu)\n",
                   (int)body.size, (const char *)body.data,
                   zesp_msg_peer(msg), zesp_msg_sender_id(msg),
                   (unsigned long long)zesp_msg_seq(msg));
    }
    printf("subscriber: %d accepted, %d refused\n", accepted, refused);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return 0;
}
