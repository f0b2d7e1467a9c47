/*
 * An XSUB/XPUB proxy: publishers connect to --xsub, subscribers to --xpub.
 * It is plain ZeroMQ and holds no key: it forwards subscriptions and
 * messages, filtering on the clear topic frame, and can read nothing else.
 * It prints "pubsub_proxy: subscribe TOPIC" (or "unsubscribe") as each
 * subscriber's subscription passes, so that one can see who listens
 * before publishing.
 *
 *   pubsub_proxy --xsub EP --xpub EP
 */
#include <stdio.h>
#include <string.h>
#include <zmq.h>

/* Forward one whole message; from the subscribers' side, say what it is. */
static int forward(void *from, void *to, int subscriptions)
{
    for (int more = 1, first = 1; more; first = 0) {
        zmq_msg_t m;
        size_t ml = sizeof more;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, from, 0) < 0)
            return -1;
        zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
        const char *p = zmq_msg_data(&m);
        if (subscriptions && first && zmq_msg_size(&m) > 0 &&
            (*p == 0 || *p == 1))
            printf("pubsub_proxy: %s %.*s\n", *p ? "subscribe" : "unsubscribe",
                   (int)zmq_msg_size(&m) - 1, p + 1);
        if (zmq_msg_send(&m, to, more ? ZMQ_SNDMORE : 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *xsub_ep = NULL, *xpub_ep = NULL;
    int each = 1;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--xsub") == 0)
            xsub_ep = argv[i + 1];
        else if (strcmp(argv[i], "--xpub") == 0)
            xpub_ep = argv[i + 1];
    }
    if (xsub_ep == NULL || xpub_ep == NULL) {
        fprintf(stderr, "usage: pubsub_proxy --xsub EP --xpub EP\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *xsub = zmq_socket(ctx, ZMQ_XSUB);
    void *xpub = zmq_socket(ctx, ZMQ_XPUB);
    /* Every subscriber's subscription, not only a topic's first. */
    zmq_setsockopt(xpub, ZMQ_XPUB_VERBOSER, &each, sizeof each);
    if (zmq_bind(xsub, xsub_ep) != 0 || zmq_bind(xpub, xpub_ep) != 0) {
        fprintf(stderr, "pubsub_proxy: bind: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {                          /* until the process is stopped */
        zmq_pollitem_t items[] = { { xsub, 0, ZMQ_POLLIN, 0 },
                                   { xpub, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 2, -1) < 0 ||
            ((items[0].revents & ZMQ_POLLIN) && forward(xsub, xpub, 0)) ||
            ((items[1].revents & ZMQ_POLLIN) && forward(xpub, xsub, 1)))
            break;
    }
    zmq_close(xsub);
    zmq_close(xpub);
    zmq_ctx_term(ctx);
    return 1;
}
