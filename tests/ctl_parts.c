/*
 * A control request zikectl never sends, for tests/test_zike_daemon.sh:
 *
 *   ctl_parts ENDPOINT COMMAND PARTS TIMEOUT-MS
 *
 * sends COMMAND followed by empty frames, PARTS frames in all, to zike's
 * control socket, and prints zike's answer as "STATUS: TEXT".  Exit 0
 * when zike answered, 4 when it did not within TIMEOUT-MS, 2 on usage
 * errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    int timeout, zero = 0, rc = 4;
    char status[8] = "";
    zmq_msg_t reply;
    void *ctx, *req;
    long parts;

    if (argc != 5 || (parts = strtol(argv[3], NULL, 10)) < 1 ||
        (timeout = atoi(argv[4])) < 1) {
        fprintf(stderr, "usage: ctl_parts ENDPOINT COMMAND PARTS "
                "TIMEOUT-MS\n");
        return 2;
    }
    ctx = zmq_ctx_new();
    req = zmq_socket(ctx, ZMQ_REQ);
    zmq_setsockopt(req, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(req, argv[1]) != 0 ||
        zmq_send(req, argv[2], strlen(argv[2]),
                 parts > 1 ? ZMQ_SNDMORE : 0) < 0)
        goto out;
    for (long i = 1; i < parts; i++)
        if (zmq_send(req, "", 0, i + 1 < parts ? ZMQ_SNDMORE : 0) < 0)
            goto out;
    if (zmq_recv(req, status, sizeof status - 1, 0) < 0)
        goto out;
    zmq_msg_init(&reply);
    if (zmq_msg_recv(&reply, req, 0) >= 0) {
        printf("%s: %.*s\n", status, (int)zmq_msg_size(&reply),
               (const char *)zmq_msg_data(&reply));
        rc = 0;
    }
    zmq_msg_close(&reply);
out:
    if (rc != 0)
        fprintf(stderr, "ctl_parts: no answer from %s\n", argv[1]);
    zmq_close(req);
    zmq_ctx_term(ctx);
    return rc;
}
