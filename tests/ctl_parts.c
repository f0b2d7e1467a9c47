/*
 * A control request zikectl never sends, for tests/test_zike_daemon.sh:
 *
 *   ctl_parts ENDPOINT COMMAND PARTS TIMEOUT-MS [SIZE]
 *
 * sends COMMAND followed by empty frames, PARTS frames in all (the last
 * one SIZE bytes long when SIZE is given), to zike's control socket, and
 * prints zike's answer as "STATUS: TEXT".  Exit 0 when zike answered, 5
 * (printing "disconnected") when zike closed the connection instead, 4
 * when neither happened within TIMEOUT-MS, 2 on usage errors.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MONITOR "inproc://ctl-parts-monitor"

/* Whether the monitor reports that the connection was closed. */
static int disconnected(void *mon)
{
    zmq_msg_t ev;
    uint16_t event = 0;
    int more;

    zmq_msg_init(&ev);
    if (zmq_msg_recv(&ev, mon, 0) >= 0 && zmq_msg_size(&ev) >= 2)
        memcpy(&event, zmq_msg_data(&ev), 2);
    more = zmq_msg_more(&ev);
    zmq_msg_close(&ev);
    if (more) {                         /* the endpoint's frame */
        zmq_msg_init(&ev);
        zmq_msg_recv(&ev, mon, 0);
        zmq_msg_close(&ev);
    }
    return event == ZMQ_EVENT_DISCONNECTED;
}

/* The reply, or the connection closed, within timeout ms. */
static int await(void *req, void *mon, int timeout)
{
    zmq_pollitem_t items[2] = { { req, 0, ZMQ_POLLIN, 0 },
                                { mon, 0, ZMQ_POLLIN, 0 } };
    char status[8] = "";
    zmq_msg_t reply;
    int rc = 4;

    while (zmq_poll(items, 2, timeout) > 0) {
        if (items[1].revents & ZMQ_POLLIN) {
            if (disconnected(mon)) {
                printf("disconnected\n");
                return 5;
            }
            continue;
        }
        if (zmq_recv(req, status, sizeof status - 1, 0) < 0)
            return 4;
        zmq_msg_init(&reply);
        if (zmq_msg_recv(&reply, req, 0) >= 0) {
            printf("%s: %.*s\n", status, (int)zmq_msg_size(&reply),
                   (const char *)zmq_msg_data(&reply));
            rc = 0;
        }
        zmq_msg_close(&reply);
        return rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    int timeout, zero = 0, rc = 4;
    void *ctx, *req, *mon;
    char *big = NULL;
    long parts, size = 0;

    if ((argc != 5 && argc != 6) ||
        (parts = strtol(argv[3], NULL, 10)) < 1 ||
        (timeout = atoi(argv[4])) < 1 ||
        (argc == 6 && (size = strtol(argv[5], NULL, 10)) < 0)) {
        fprintf(stderr, "usage: ctl_parts ENDPOINT COMMAND PARTS "
                "TIMEOUT-MS [SIZE]\n");
        return 2;
    }
    if (argc == 6 && parts < 2) {
        fprintf(stderr, "ctl_parts: SIZE needs 2 PARTS at least\n");
        return 2;
    }
    if (size > 0 && (big = malloc((size_t)size)) == NULL)
        return 2;
    if (big != NULL)
        memset(big, 'x', (size_t)size);
    ctx = zmq_ctx_new();
    req = zmq_socket(ctx, ZMQ_REQ);
    mon = zmq_socket(ctx, ZMQ_PAIR);
    zmq_setsockopt(req, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(mon, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_socket_monitor(req, MONITOR, ZMQ_EVENT_DISCONNECTED) != 0 ||
        zmq_connect(mon, MONITOR) != 0 || zmq_connect(req, argv[1]) != 0 ||
        zmq_send(req, argv[2], strlen(argv[2]),
                 parts > 1 ? ZMQ_SNDMORE : 0) < 0)
        goto out;
    for (long i = 1; i < parts; i++) {
        int last = i + 1 == parts;
        if (zmq_send(req, last ? big : "", last ? (size_t)size : 0,
                     last ? 0 : ZMQ_SNDMORE) < 0)
            goto out;
    }
    rc = await(req, mon, timeout);
out:
    if (rc == 4)
        fprintf(stderr, "ctl_parts: no answer from %s\n", argv[1]);
    zmq_socket_monitor(req, NULL, 0);
    zmq_close(mon);
    zmq_close(req);
    zmq_ctx_term(ctx);
    free(big);
    return rc;
}
