/*
 * zike's metrics: the OpenMetrics text of its counters and of its SAD
 * (metrics.c), and the HTTP endpoint that serves it (metrics_http.c, with
 * libmicrohttpd; without it, configuration refuses the metrics: key).
 * The endpoint runs in zike's one thread: its epoll descriptor is polled
 * beside the ZeroMQ sockets, and requests are answered from the loop, so
 * the state it reads never changes under it.
 */
#ifndef ZESP_IKE_METRICS_H
#define ZESP_IKE_METRICS_H

#include "config.h"

#include <stdio.h>

struct zike;

void zike_metrics_write(struct zike *z, FILE *f);

#ifdef HAVE_MHD
int metrics_http_open(struct zike *z);   /* 0: serving, or none asked */
int metrics_http_fd(const struct zike *z); /* to poll; -1: none */
void metrics_http_run(struct zike *z);   /* answer what is ready */
void metrics_http_close(struct zike *z);
#else
static inline int metrics_http_open(struct zike *z) { (void)z; return 0; }
static inline int metrics_http_fd(const struct zike *z) { (void)z; return -1; }
static inline void metrics_http_run(struct zike *z) { (void)z; }
static inline void metrics_http_close(struct zike *z) { (void)z; }
#endif

#endif
