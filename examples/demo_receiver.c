/*
 * The demo's receiver: binds on 127.0.0.1, verifies every message, prints
 * what it accepted and what it refused and why, then the SA's counters.
 * Usage: demo_receiver KEY_FILE ENDPOINT_FILE
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "demo_common.h"

int main(int argc, char **argv)
{
    zesp_sad *sad = NULL;
    zesp_sa_info info;
    char endpoint[256];
    size_t len = sizeof endpoint;
    int timeout = 10000, done = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: demo_receiver KEY_FILE ENDPOINT_FILE\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (demo_sad(argv[1], ZESP_DIR_IN, &sad) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PULL);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0) {
        fprintf(stderr, "receiver: bind: %s\n", zmq_strerror(errno));
        return 1;
    }
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len);
    FILE *f = fopen(argv[2], "w");
    if (f == NULL || fprintf(f, "%s\n", endpoint) < 0 || fclose(f) != 0) {
        fprintf(stderr, "receiver: cannot write %s\n", argv[2]);
        return 1;
    }
    printf("receiver: listening on %s, SA 0x%08x (ChaCha20-Poly1305, ESN)\n",
           endpoint, DEMO_SPI);

    zesp_msg *msg = zesp_msg_new();
    while (!done) {
        if (zesp_recv_policy(sad, DEMO_POLICY, s, msg, 0) != 0) {
            if (errno == EAGAIN) {
                fprintf(stderr, "receiver: no message for 10 s, stopping\n");
                break;
            }
            printf("receiver: REJECTED  %s\n", zesp_strerror(errno));
            continue;
        }
        zesp_frame topic = zesp_msg_clear(msg, 0);
        zesp_frame body = zesp_msg_body(msg, 0);
        printf("receiver: accepted  seq %-3llu topic '%.*s' body '%.*s'\n",
               (unsigned long long)zesp_msg_seq(msg), (int)topic.size,
               (const char *)topic.data, (int)body.size,
               (const char *)body.data);
        done = body.size == 4 && memcmp(body.data, "quit", 4) == 0;
    }
    if (zesp_sa_info_get(sad, DEMO_SPI, ZESP_DIR_IN, &info) != 0)
        return 1;
    printf("receiver: SA 0x%08x: %llu accepted, %llu replayed, %llu forged "
           "(ICV), %llu with altered clear frames\n", info.spi,
           (unsigned long long)info.stats.messages,
           (unsigned long long)info.stats.rejected_replay,
           (unsigned long long)info.stats.rejected_icv,
           (unsigned long long)info.stats.rejected_binding);
    zesp_msg_free(msg);
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    /* The demo succeeds when every attack was caught and nothing else. */
    return info.stats.messages == 7 && info.stats.rejected_replay == 1 &&
                   info.stats.rejected_icv == 1 &&
                   info.stats.rejected_binding == 1
               ? 0
               : 1;
}
