/*
 * A publisher: one topic, protected end to end through any proxy.
 *
 *   publisher --sad PATH --policy POLICY --connect EP --topic TOPIC
 *             [--count N] [--interval-ms MS] [--wait-ms MS]
 *
 * Each message is [topic | ESP]: the topic clear (so that XSUB/XPUB proxies
 * and subscribers' filters work) and bound, the body "TOPIC #I" encrypted
 * under the policy's SA, a group SA when subscribers are on many hosts.
 * It publishes once a subscription to TOPIC reached it (an XPUB socket
 * sees them), waiting up to --wait-ms (default 10000), so that the first
 * messages are not lost to nobody.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "endpoint.h"

/* Wait up to ms for a subscription to topic on the XPUB socket s. */
static int subscribed(void *s, const char *topic, int ms)
{
    size_t tl = strlen(topic);
    int slice = 100;

    zmq_setsockopt(s, ZMQ_RCVTIMEO, &slice, sizeof slice);
    for (int waited = 0; waited < ms;) {
        unsigned char m[256];
        int n = zmq_recv(s, m, sizeof m, 0);
        if (n < 0) {
            waited += slice;
            continue;
        }
        if (n > 0 && m[0] == 1 && (size_t)n - 1 == tl &&
            memcmp(m + 1, topic, tl) == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *sad_path = NULL, *policy = NULL, *ep = NULL, *topic = NULL;
    int count = 10, interval = 100, sent = 0, wait_ms = 10000;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--sad") == 0)
            sad_path = argv[i + 1];
        else if (strcmp(argv[i], "--policy") == 0)
            policy = argv[i + 1];
        else if (strcmp(argv[i], "--connect") == 0)
            ep = argv[i + 1];
        else if (strcmp(argv[i], "--topic") == 0)
            topic = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0)
            count = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--interval-ms") == 0)
            interval = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--wait-ms") == 0)
            wait_ms = atoi(argv[i + 1]);
    }
    if (sad_path == NULL || policy == NULL || ep == NULL || topic == NULL) {
        fprintf(stderr, "usage: publisher --sad PATH --policy POLICY "
                "--connect EP --topic TOPIC [--count N] [--interval-ms MS] "
                "[--wait-ms MS]\n");
        return 2;
    }
    zesp_sad *sad = zesp_sad_open(sad_path, 0, NULL);
    if (sad == NULL) {
        fprintf(stderr, "publisher: SAD %s: %s\n", sad_path,
                zesp_strerror(errno));
        return 1;
    }
    zesp_sad_set_acquire_timeout(sad, 5000);
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_XPUB);
    int linger = 1000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (endpoint_use(s, ep, false, "publisher") != 0)
        return 1;
    if (!subscribed(s, topic, wait_ms))
        fprintf(stderr, "publisher: no subscriber to %s yet\n", topic);
    for (int i = 0; i < count; i++) {
        char text[128];
        zesp_frame t = { topic, strlen(topic) };
        zesp_frame body = { text, (size_t)snprintf(text, sizeof text,
                                                   "%s #%d", topic, i) };
        zesp_parts p = { .clear = &t, .nclear = 1, .body = &body, .nbody = 1 };

        if (zesp_send_policy(sad, policy, s, &p, 0) != 0)
            fprintf(stderr, "publisher: %s\n", zesp_strerror(errno));
        else
            sent++;
        if (interval > 0)
            zmq_poll(NULL, 0, interval);
    }
    printf("publisher: %d of %d messages on %s\n", sent, count, topic);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    return sent == count ? 0 : 1;
}
