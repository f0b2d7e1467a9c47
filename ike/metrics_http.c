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
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
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

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status,
                             const char *type, char *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result rc;

    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result fixed(struct MHD_Connection *c, unsigned status,
                             const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", (char *)text,
                 strlen(text), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
                              const char *url, const char *method,
                              const char *version, const char *upload,
                              size_t *upload_size, void **req)
{
    struct zike *z = cls;
    char *body = NULL;
    size_t len = 0;
    FILE *f;

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
    if ((f = open_memstream(&body, &len)) == NULL)
        return fixed(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    zike_metrics_write(z, f);
    if (fclose(f) != 0) {
        free(body);
        return fixed(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    }
    return reply(c, MHD_HTTP_OK, OM_CONTENT_TYPE, body, len,
                 MHD_RESPMEM_MUST_FREE);
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

int metrics_http_open(struct zike *z)
{
    const struct zike_conf *c = &z->conf;
    struct addrinfo hints, *ai = NULL;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
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

void metrics_http_run(struct zike *z)
{
    if (z->metrics_http == NULL)
        return;
    MHD_run(z->metrics_http);
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
    if (z->metrics_http != NULL)
        MHD_stop_daemon(z->metrics_http);
    z->metrics_http = NULL;
}
