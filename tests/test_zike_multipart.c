/*
 * zike's own sockets and a signal between the frames of a message
 * (ike/multipart.h): libzmq returns EINTR before a frame, the frame not
 * taken, after a message's first frame as much as before it.  A message
 * begun is read, or sent, to its end:
 *   - the control socket (ZMQ_REP, zikectl's channel): a request read
 *     whole, not its tail read later as a request of its own; its reply
 *     sent whole, both parts, so the socket answers the next one too;
 *   - a ZMQ_STREAM socket (listen, links): the bytes after a routing id
 *     read with it, not left to be taken for the next routing id; bytes
 *     sent after their routing id, the socket not left mid-message (the
 *     next message's routing id sent to the peer as bytes).
 * As tests/test_multipart.c does, the test defines zmq_send and
 * zmq_msg_recv, which zike's calls reach first, and has the numbered call
 * return EINTR without calling libzmq, as libzmq would.  Real sockets
 * (inproc REQ/REP; ZMQ_STREAM on tcp with a plain TCP client) carry every
 * frame.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "control.h"
#include "daemon.h"
#include "stream.h"
#include "test.h"
#include "zmq_eintr.h"

#define TIMEOUT_MS 20000   /* a bound, scaled (tests/test.h) */

/* What the daemon's own files give zike, not linked here. */
int zike_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len)
{
    (void)z, (void)to, (void)buf, (void)len;
    return -1;
}

bool zike_link_ready(struct zike *z, const struct zike_peer *p)
{
    (void)z, (void)p;
    return false;
}

struct route zike_route_to(struct zike *z, const struct zike_peer *p)
{
    struct route r;

    (void)z, (void)p;
    memset(&r, 0, sizeof r);
    return r;
}

int zike_reload(struct zike *z, char *why, size_t len)
{
    (void)z;
    snprintf(why, len, "not here");
    return -1;
}

int zmq_send(void *s, const void *buf, size_t len, int flags)
{
    static int (*real)(void *, const void *, size_t, int);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "zmq_send");
    return interrupted(&send_eintr_at, &sends) ? -1
                                               : real(s, buf, len, flags);
}

int zmq_msg_recv(zmq_msg_t *m, void *s, int flags)
{
    static int (*real)(zmq_msg_t *, void *, int);

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "zmq_msg_recv");
    return interrupted(&recv_eintr_at, &recvs) ? -1 : real(m, s, flags);
}

static struct zike z;           /* no peer: "rekey nosuch" is refused */
static void *ctx;

/* ---- the control socket --------------------------------------------------- */

/* zike's loop for its control socket, until req has its answer (1), or the
 * bound passed (0). */
static int serve_until_answered(void *rep, void *req)
{
    double end = test_now() + test_ms(TIMEOUT_MS) / 1000.0;

    while (test_now() < end) {
        zmq_pollitem_t items[] = { { rep, 0, ZMQ_POLLIN, 0 },
                                   { req, 0, ZMQ_POLLIN, 0 } };

        if (zmq_poll(items, 2, 100) < 0 && errno != EINTR)
            return 0;
        if (items[1].revents & ZMQ_POLLIN)
            return 1;
        if (items[0].revents & ZMQ_POLLIN)
            control_serve(&z, rep);
    }
    return 0;
}

/* The answer's parts, joined by '|'. */
static bool answer_is(void *req, const char *want)
{
    char got[512] = "";
    size_t used = 0;
    int more = 1;

    while (more && used < sizeof got - 1) {
        zmq_msg_t part;
        size_t n;

        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, req, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        n = zmq_msg_size(&part);
        if (used > 0 && used < sizeof got - 1)
            got[used++] = '|';
        if (n > sizeof got - 1 - used)
            n = sizeof got - 1 - used;
        memcpy(got + used, zmq_msg_data(&part), n);
        used += n;
        got[used] = '\0';
        zmq_msg_close(&part);
    }
    if (strcmp(got, want) != 0)
        fprintf(stderr, "# answered '%s', not '%s'\n", got, want);
    return strcmp(got, want) == 0;
}

static bool ask(void *req, void *rep, const char *cmd, const char *arg,
                const char *want)
{
    return zmq_send(req, cmd, strlen(cmd), ZMQ_SNDMORE) >= 0 &&
           zmq_send(req, arg, strlen(arg), 0) >= 0 &&
           serve_until_answered(rep, req) == 1 && answer_is(req, want);
}

static const char refused[] = "error|no peer named 'nosuch'\n";

/* A signal on request part `recv_at` (0: none) or reply part `send_at`:
 * that request answered as it asked, then the next one too. */
static void control_case(int recv_at, int send_at)
{
    void *rep = zmq_socket(ctx, ZMQ_REP), *req = zmq_socket(ctx, ZMQ_REQ);
    char endpoint[64];
    int zero = 0;

    CHECK(rep != NULL && req != NULL);
    if (rep == NULL || req == NULL)
        return;
    zmq_setsockopt(req, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(rep, ZMQ_LINGER, &zero, sizeof zero);
    /* An inproc name is free again only some time after its close. */
    snprintf(endpoint, sizeof endpoint, "inproc://control-%d-%d", recv_at,
             send_at);
    CHECK(zmq_bind(rep, endpoint) == 0);
    CHECK(zmq_connect(req, endpoint) == 0);
    CHECK(zmq_send(req, "rekey", 5, ZMQ_SNDMORE) == 5 &&
          zmq_send(req, "nosuch", 6, 0) == 6);
    arm_recv(recv_at);
    arm_send(send_at);
    CHECK(serve_until_answered(rep, req) == 1 && answer_is(req, refused));
    CHECK(recv_eintr_at == 0 && send_eintr_at == 0);   /* it landed */
    arm_recv(0);
    arm_send(0);
    CHECK(ask(req, rep, "rekey", "nosuch", refused));
    zmq_close(req);
    zmq_close(rep);
}

/* On the request's second part: before, control_serve returned there, and
 * the next call read "nosuch" as a request ("unknown command"). */
static void control_request_part_2(void) { control_case(2, 0); }

/* On the reply's first part: before, its second was sent as the whole
 * reply ("no peer named..." with no status). */
static void control_reply_part_1(void) { control_case(0, 1); }

/* On the reply's second part: before, the REP socket stayed mid-reply,
 * nothing reached zikectl, and no request was read again. */
static void control_reply_part_2(void) { control_case(0, 2); }

/* ---- a ZMQ_STREAM socket -------------------------------------------------- */

struct stream_pair {
    void *stream;
    int fd;                     /* a plain TCP client of it */
    uint8_t rid[ROUTE_ID_MAX];
    size_t rid_len;
};

/* The next message of the STREAM socket, read as listen.c and links.c do
 * (after a poll): 1 with one, 0 when the bound passed. */
static int stream_next(void *stream, zmq_msg_t *rid, zmq_msg_t *data)
{
    double end = test_now() + test_ms(TIMEOUT_MS) / 1000.0;

    while (test_now() < end) {
        zmq_pollitem_t item = { stream, 0, ZMQ_POLLIN, 0 };

        if (zmq_poll(&item, 1, 100) < 0 && errno != EINTR)
            return 0;
        if ((item.revents & ZMQ_POLLIN) && stream_recv(stream, rid, data) == 1)
            return 1;
    }
    return 0;
}

static bool stream_open(struct stream_pair *p)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    char endpoint[64];
    size_t len = sizeof endpoint;
    unsigned port;
    zmq_msg_t rid, data;
    bool ok;

    memset(p, 0, sizeof *p);
    p->fd = -1;
    if ((p->stream = zmq_socket(ctx, ZMQ_STREAM)) == NULL ||
        zmq_bind(p->stream, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(p->stream, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0 ||
        sscanf(endpoint, "tcp://127.0.0.1:%u", &port) != 1)
        return false;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((p->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(p->fd, (struct sockaddr *)&sin, sizeof sin) != 0)
        return false;
    /* The connection's opening: its routing id and no bytes. */
    zmq_msg_init(&rid);
    zmq_msg_init(&data);
    ok = stream_next(p->stream, &rid, &data) == 1 &&
         zmq_msg_size(&data) == 0;
    if (ok) {
        p->rid_len = zmq_msg_size(&rid);
        memcpy(p->rid, zmq_msg_data(&rid), p->rid_len);
    }
    zmq_msg_close(&rid);
    zmq_msg_close(&data);
    return ok;
}

static void stream_close(struct stream_pair *p)
{
    int zero = 0;

    if (p->fd >= 0)
        close(p->fd);
    if (p->stream != NULL) {
        zmq_setsockopt(p->stream, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(p->stream);
    }
}

/* A signal on the bytes after the routing id: they come with it.  Before,
 * stream_recv gave up there and the next read took them for a routing id:
 * the bytes lost, the connection's ZMTP stream broken. */
static void stream_receive_part_2(void)
{
    struct stream_pair p;
    zmq_msg_t rid, data;

    CHECK(stream_open(&p));
    CHECK(p.fd < 0 || write(p.fd, "hello", 5) == 5);
    zmq_msg_init(&rid);
    zmq_msg_init(&data);
    arm_recv(2);
    CHECK(stream_next(p.stream, &rid, &data) == 1);
    CHECK(recv_eintr_at == 0);
    CHECK(zmq_msg_size(&rid) == p.rid_len &&
          memcmp(zmq_msg_data(&rid), p.rid, p.rid_len) == 0);
    CHECK(zmq_msg_size(&data) == 5 &&
          memcmp(zmq_msg_data(&data), "hello", 5) == 0);
    arm_recv(0);
    zmq_msg_close(&rid);
    zmq_msg_close(&data);
    stream_close(&p);
}

/* A signal on the bytes after the routing id: they go, and so does the
 * next message.  Before, stream_send failed with the socket mid-message:
 * the next message's routing id went to the peer as its bytes, its bytes
 * were taken for a routing id, and so on for every message after. */
static void stream_send_part_2(void)
{
    struct stream_pair p;
    char got[16] = "";
    size_t used = 0;

    CHECK(stream_open(&p));
    arm_send(2);
    CHECK(stream_send(p.stream, p.rid, p.rid_len, (const uint8_t *)"abc",
                      3) == 0);
    CHECK(send_eintr_at == 0);
    arm_send(0);
    CHECK(stream_send(p.stream, p.rid, p.rid_len, (const uint8_t *)"def",
                      3) == 0);
    while (p.fd >= 0 && used < 6 && test_wait_readable(p.fd, TIMEOUT_MS) == 1) {
        ssize_t n = read(p.fd, got + used, sizeof got - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    got[used] = '\0';
    CHECK(strcmp(got, "abcdef") == 0);
    stream_close(&p);
}

int main(void)
{
    zike_log_level = -1;
    CHECK((ctx = zmq_ctx_new()) != NULL);
    RUN(control_request_part_2);
    RUN(control_reply_part_1);
    RUN(control_reply_part_2);
    RUN(stream_receive_part_2);
    RUN(stream_send_part_2);
    zmq_ctx_term(ctx);
    return test_done();
}
