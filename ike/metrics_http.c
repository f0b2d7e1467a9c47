/*
 * The metrics endpoint (metrics.h): GET /metrics over HTTP, served by
 * libmicrohttpd without a thread of its own.  Its epoll descriptor sits in
 * zike's zmq_poll, and MHD_run answers from zike's loop, so a scrape reads
 * zike's state between two events, never during one.  It serves counters,
 * names and SPIs, never keys; bound where the configuration says
 * (loopback, say), and small: few connections, short timeouts.
 *
 * libmicrohttpd's timeout is one of inactivity: a client that sends a
 * header line every few seconds (slowloris), or reads the answer a byte
 * at a time, would hold its connection for ever, and 16 such clients
 * every one there is.  So each request, from the moment its connection
 * waits for it to the last byte of the answer, has METRICS_REQUEST_S in
 * all; past that its socket is shut down and libmicrohttpd closes it.
 *
 * Building the exposition is the one dear thing here (about 8 ms of
 * zike's thread for 1,000 SAs), and anyone who can reach the endpoint
 * could ask for it without pause.  So builds are paced: the next comes no
 * sooner than METRICS_PACE_MS, or ten times the last build's duration,
 * after the last, which holds the endpoint to about a tenth of zike's
 * thread however large the SAD.  A request that comes sooner is suspended
 * and answered at the next build, with every other request of that turn
 * of the loop: each answer is fresh, some a little late.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>

#include "daemon.h"
#include "metrics.h"
#include "openmetrics.h"

#define METRICS_PATH "/metrics"
#define METRICS_TIMEOUT_S 10U           /* inactivity */
#define METRICS_REQUEST_S 10U           /* a request and its answer, all */
#define METRICS_PACE_MS 200U            /* between two builds, at least */
#define METRICS_PACE_FACTOR 10U         /* x the last build's duration */

/* A short text answer: an error, or where the metrics are. */
static enum MHD_Result fixed(struct MHD_Connection *c, unsigned status,
                             const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* This turn's exposition, built once for every answer of the turn. */
static struct MHD_Response *exposition(struct zike *z)
{
    uint64_t started = zike_clock_ms(), took;
    char *body = NULL;
    size_t len = 0;
    FILE *f;

    if (z->metrics_built != NULL)
        return z->metrics_built;
    if ((f = open_memstream(&body, &len)) == NULL)
        return NULL;
    zike_metrics_write(z, f);
    if (fclose(f) != 0) {
        free(body);
        return NULL;
    }
    z->metrics_built = MHD_create_response_from_buffer(len, body,
                                                       MHD_RESPMEM_MUST_FREE);
    if (z->metrics_built == NULL) {
        free(body);
        return NULL;
    }
    MHD_add_response_header(z->metrics_built, MHD_HTTP_HEADER_CONTENT_TYPE,
                            OM_CONTENT_TYPE);
    took = zike_clock_ms() - started;
    z->metrics_next_build =
        started + took + (took * METRICS_PACE_FACTOR > METRICS_PACE_MS
                              ? took * METRICS_PACE_FACTOR
                              : METRICS_PACE_MS);
    return z->metrics_built;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    struct zike *z = cls;
    struct MHD_Response *r;

    (void)version;
    (void)upload;
    (void)req;
    if (*upload_size != 0)
        return fixed(c, MHD_HTTP_BAD_REQUEST, "no body expected\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return fixed(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
    if (strcmp(url, METRICS_PATH) != 0 && strcmp(url, "/") != 0)
        return fixed(c, MHD_HTTP_NOT_FOUND, "zike serves /metrics\n");
    if (z->metrics_built == NULL && zike_clock_ms() < z->metrics_next_build &&
        z->metrics_nwaiting < METRICS_CONNECTIONS_MAX) {
        MHD_suspend_connection(c);           /* metrics_http_run resumes it */
        z->metrics_waiting[z->metrics_nwaiting++] = c;
        return MHD_YES;
    }
    if ((r = exposition(z)) == NULL)
        return fixed(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    return MHD_queue_response(c, MHD_HTTP_OK, r);
}

/* A connection begins waiting for a request: tracked, its clock set. */
static void connection(void *cls, struct MHD_Connection *c, void **ctx,
                       enum MHD_ConnectionNotificationCode what)
{
    struct zike *z = cls;
    struct metrics_conn *slot = *ctx;
    const union MHD_ConnectionInfo *i;

    if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (slot != NULL)
            slot->fd = -1;
        *ctx = NULL;
        return;
    }
    i = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (i == NULL)
        return;
    for (size_t k = 0; k < METRICS_CONNECTIONS_MAX; k++)
        if (z->metrics_conns[k].fd < 0) {
            z->metrics_conns[k] = (struct metrics_conn){ i->connect_fd,
                                                         z->now };
            *ctx = &z->metrics_conns[k];
            return;
        }
    shutdown(i->connect_fd, SHUT_RDWR);   /* untracked: not served */
}

/* A request answered: the connection's next one has its own time. */
static void completed(void *cls, struct MHD_Connection *c, void **req,
                      enum MHD_RequestTerminationCode why)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct zike *z = cls;

    (void)req;
    (void)why;
    if (i != NULL && i->socket_context != NULL)
        ((struct metrics_conn *)i->socket_context)->since = z->now;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];

    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    zike_log(LOG_WARNING, "metrics: %s", line);
}

/* An address of every interface (0.0.0.0, [::]): the endpoint has no
 * authentication, so this serves the peers', policies' and SPIs' names
 * to whoever reaches the host. */
static bool every_interface(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)(const void *)a)->sin_addr.s_addr
               == htonl(INADDR_ANY);
    return a->sa_family == AF_INET6 &&
           IN6_IS_ADDR_UNSPECIFIED(
               &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr);
}

int metrics_http_open(struct zike *z)
{
    const struct zike_conf *c = &z->conf;
    struct addrinfo hints, *ai = NULL;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME;
    int rc;

    for (size_t k = 0; k < METRICS_CONNECTIONS_MAX; k++)
        z->metrics_conns[k].fd = -1;
    if (c->metrics[0] == '\0')
        return 0;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    if ((rc = getaddrinfo(c->metrics_host, c->metrics_port, &hints, &ai))) {
        zike_log(LOG_ERR, "metrics %s: %s", c->metrics, gai_strerror(rc));
        return -1;
    }
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (every_interface(ai->ai_addr))
        zike_log(LOG_WARNING, "metrics %s: on every interface, with no "
                 "authentication: whoever reaches this host reads its "
                 "peers', policies' and SPIs' names and counters; name a "
                 "loopback or management address", c->metrics);
    z->metrics_http = MHD_start_daemon(
        flags, (uint16_t)strtoul(c->metrics_port, NULL, 10), NULL, NULL,
        answer, z, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
        MHD_OPTION_NOTIFY_CONNECTION, connection, z,
        MHD_OPTION_NOTIFY_COMPLETED, completed, z,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (z->metrics_http == NULL) {
        zike_log(LOG_ERR, "metrics %s: cannot serve it (the address in "
                 "use, or not this host's?)", c->metrics);
        return -1;
    }
    zike_log(LOG_NOTICE, "metrics on %s%s", c->metrics,
             strstr(c->metrics + 7, "/metrics") ? "" : METRICS_PATH);
    return 0;
}

int metrics_http_fd(const struct zike *z)
{
    const union MHD_DaemonInfo *i;

    if (z->metrics_http == NULL ||
        (i = MHD_get_daemon_info(z->metrics_http,
                                 MHD_DAEMON_INFO_EPOLL_FD)) == NULL)
        return -1;
    return i->epoll_fd;
}

static void resume_waiting(struct zike *z)
{
    for (size_t i = 0; i < z->metrics_nwaiting; i++)
        MHD_resume_connection(z->metrics_waiting[i]);
    z->metrics_nwaiting = 0;
}

void metrics_http_run(struct zike *z)
{
    if (z->metrics_http == NULL)
        return;
    MHD_run(z->metrics_http);
    if (z->metrics_nwaiting && zike_clock_ms() >= z->metrics_next_build) {
        resume_waiting(z);
        MHD_run(z->metrics_http);           /* answers them, one build */
    }
    if (z->metrics_built != NULL) {          /* the next turn builds anew */
        MHD_destroy_response(z->metrics_built);
        z->metrics_built = NULL;
    }
    for (size_t k = 0; k < METRICS_CONNECTIONS_MAX; k++) {
        struct metrics_conn *m = &z->metrics_conns[k];
        if (m->fd >= 0 && m->since != UINT64_MAX &&
            z->now - m->since > METRICS_REQUEST_S * 1000U) {
            shutdown(m->fd, SHUT_RDWR);   /* MHD reads the end, closes */
            m->since = UINT64_MAX;
        }
    }
}

void metrics_http_close(struct zike *z)
{
    if (z->metrics_http != NULL) {
        resume_waiting(z);          /* libmicrohttpd stops none suspended */
        MHD_stop_daemon(z->metrics_http);
    }
    if (z->metrics_built != NULL)
        MHD_destroy_response(z->metrics_built);
    z->metrics_built = NULL;
    z->metrics_http = NULL;
}
