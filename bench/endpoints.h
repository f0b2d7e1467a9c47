/* The benchmarks' endpoints: a pair per run, and their removal after it. */
#ifndef ZESP_BENCH_ENDPOINTS_H
#define ZESP_BENCH_ENDPOINTS_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Run k's two endpoints over transport: tcp ports from port + 2k on
 * 127.0.0.1, or ipc files in /tmp named after name, this process and k. */
static inline void bench_endpoints(const char *transport, const char *name,
                                   int port, int k, char *a, char *b,
                                   size_t len)
{
    if (strcmp(transport, "tcp") == 0) {
        snprintf(a, len, "tcp://127.0.0.1:%d", port + 2 * k);
        snprintf(b, len, "tcp://127.0.0.1:%d", port + 2 * k + 1);
    } else {
        snprintf(a, len, "ipc:///tmp/%s-%d-%d-a", name, (int)getpid(), k);
        snprintf(b, len, "ipc:///tmp/%s-%d-%d-b", name, (int)getpid(), k);
    }
}

/* libzmq leaves a bound ipc endpoint's file behind: a run removes its
 * own, so that make bench does not fill /tmp. */
static inline void bench_endpoints_remove(const char *a, const char *b)
{
    const char *e[2] = { a, b };

    for (int i = 0; i < 2; i++)
        if (strncmp(e[i], "ipc://", 6) == 0)
            (void)unlink(e[i] + 6);
}

#endif
