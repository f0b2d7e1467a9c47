/*
 * An example's socket on the endpoint its command line names: IPv6 taken
 * as well as IPv4 (unless ZMQ_IPV6 is set, ZeroMQ refuses an IPv6 address
 * and binds a wildcard tcp address to IPv4 only; libzmq falls back to
 * IPv4 where the host has no IPv6), and a mistyped endpoint said rather
 * than ignored.
 */
#ifndef ZESP_EXAMPLES_ENDPOINT_H
#define ZESP_EXAMPLES_ENDPOINT_H

#include <stdbool.h>
#include <stdio.h>
#include <zmq.h>

/* 0, or -1 after PROG said on stderr which endpoint it could not use. */
static inline int endpoint_use(void *s, const char *ep, bool bind,
                               const char *prog)
{
    int ipv6 = 1;

    if (zmq_setsockopt(s, ZMQ_IPV6, &ipv6, sizeof ipv6) != 0 ||
        (bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) != 0) {
        fprintf(stderr, "%s: cannot %s %s: %s\n", prog,
                bind ? "bind" : "connect to", ep, zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

#endif
