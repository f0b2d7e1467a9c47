/*
 * A worker of tests/test_broker_attacks.sh that holds a service's keys
 * and checks less than examples/mdp_worker: it serves the first request
 * it can open, whichever service the client bound it to, and binds its
 * own service name to the answer, the request id echoed.
 *
 *   lax_worker SAD BACK SERVICE POLICY REPLY
 *
 * Says [READY | SERVICE] to the broker at BACK, answers one request
 * [REQUEST | id | text] on POLICY with [ANSWER | id | "lax: text"] on
 * REPLY, prints "lax_worker: answered" and exits 0.  Services may share
 * a policy (doc/topologies.md 1): such a worker's answer is one a client
 * must refuse as the answer from another service than it asked.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "../examples/request_id.h"

int main(int argc, char **argv)
{
    static const uint8_t kind = MDP_KIND_ANSWER;
    const char *service;
    zesp_sad *sad;
    zesp_msg *msg;
    void *ctx, *s;
    int linger = 2000, rc = 1;

    if (argc != 6) {
        fprintf(stderr, "usage: lax_worker SAD BACK SERVICE POLICY REPLY\n");
        return 2;
    }
    service = argv[3];
    if ((sad = zesp_sad_open(argv[1], 0, NULL)) == NULL ||
        (msg = zesp_msg_new()) == NULL) {
        fprintf(stderr, "lax_worker: %s: %s\n", argv[1], zesp_strerror(errno));
        return 1;
    }
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, argv[2]) != 0 ||
        zmq_send(s, "READY", 5, ZMQ_SNDMORE) != 5 ||
        zmq_send(s, service, strlen(service), 0) != (int)strlen(service))
        goto out;
    for (;;) {
        if (zesp_recv_policy(sad, argv[4], s, msg, 0) != 0) {
            fprintf(stderr, "lax_worker: refused: %s\n", zesp_strerror(errno));
            continue;
        }
        if (zesp_msg_body_count(msg) == 3 &&
            zesp_msg_body(msg, 1).size == REQUEST_ID_BYTES)
            break;
    }
    zesp_frame client = zesp_msg_envelope(msg, 0);
    zesp_frame own = { service, strlen(service) };
    char text[256];
    zesp_frame req = zesp_msg_body(msg, 2);
    zesp_frame body[3] = {
        { &kind, 1 }, zesp_msg_body(msg, 1),
        { text, (size_t)snprintf(text, sizeof text, "lax: %.*s",
                                 (int)(req.size < 200 ? req.size : 200),
                                 (const char *)req.data) } };
    zesp_parts answer = { .envelope = &client, .nenvelope = 1,
                          .clear = &own, .nclear = 1, .body = body,
                          .nbody = 3 };
    if (zesp_send_policy(sad, argv[5], s, &answer, 0) != 0) {
        fprintf(stderr, "lax_worker: send: %s\n", zesp_strerror(errno));
        goto out;
    }
    puts("lax_worker: answered");
    rc = 0;
out:
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return rc;
}
