/*
 * An XSUB/XPUB proxy: publishers connect to --xsub, subscribers to --xpub.
 * It is plain ZeroMQ and holds no key: it forwards subscriptions and
 * messages, filtering on the clear topic frame, and can read nothing else.
 *
 *   pubsub_proxy --xsub EP --xpub EP
 */
#include <stdio.h>
#include <string.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    const char *xsub_ep = NULL, *xpub_ep = NULL;

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
    if (zmq_bind(xsub, xsub_ep) != 0 || zmq_bind(xpub, xpub_ep) != 0) {
        fprintf(stderr, "pubsub_proxy: bind: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    zmq_proxy(xsub, xpub, NULL);        /* until the process is stopped */
    return 0;
}
