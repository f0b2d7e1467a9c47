/*
 * The metrics endpoint (metrics.h): GET /metrics over HTTP, served by
 * libmicrohttpd without a thread of its own.  Its epoll descriptor sits in
 * zike's zmq_poll, and MHD_run answers from zike's loop, so a scrape reads
 * zike's state between two events, never during one.  It serves counters,
 * names and SPIs, never keys; bound where the configuration says
 * (loopback, say), and small: few connections, short timeouts.
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
#define METRICS_CONNECTIONS_MAX 16U
#define METRICS_TIMEOUT_S 10U

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
    if (z->metrics_http != NULL)
        MHD_run(z->metrics_http);
}

void metrics_http_close(struct zike *z)
{
    if (z->metrics_http != NULL)
        MHD_stop_daemon(z->metrics_http);
    z->metrics_http = NULL;
}
