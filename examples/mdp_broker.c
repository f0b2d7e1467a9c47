/*
 * A Majordomo-style broker that routes what it cannot read.
 *
 *   mdp_broker --front EP --back EP [--hop-in POLICY --hop-out POLICY
 *              --sad PATH] [--max-message BYTES] [--tamper N]
 *              [--tamper-service N] [--tamper-seq N] [--replay N]
 *
 * Clients (DEALER) send  [service | ESP]  to the front ROUTER; workers
 * (DEALER) say  [READY | service]  to the back ROUTER and answer
 * [client | service | ESP].  The broker queues requests per service and
 * hands each to an idle worker of that service; a worker gone while idle
 * (its connection closed: ZMQ_ROUTER_MANDATORY says so) is forgotten and
 * the request handed to the next.  The service frame is
 * clear for it to route on, and bound into the ESP frame by the client, so
 * a changed service name is caught by the worker; the body is encrypted
 * end to end under a key the broker does not have.
 *
 * With --hop-in/--hop-out the broker also checks every hop (an SA bundle,
 * doc/topologies.md): each message arrives wrapped in an integrity-only SA
 * with its neighbour, the end-to-end ESP frame inside; the broker verifies
 * that SA (dropping forged, replayed and unauthenticated messages), and
 * wraps the same end-to-end frame for the next hop.  It still holds no
 * end-to-end key.  A message it cannot wrap (its hop SA expired) is
 * dropped; the worker stays its own.
 *
 * A peer sending a frame over --max-message bytes (default 16 MiB) is
 * disconnected before it is buffered; each connection holds at most
 * LIMITS_HWM messages each way (limits.h).
 *
 * --tamper N flips a bit of the Nth request's ESP frame, --tamper-service N
 * changes the Nth request's service frame (routing it as before),
 * --tamper-seq N its sequence number (4096 ahead), --replay N forwards the
 * Nth request twice: what a hostile broker could do.  It prints
 * "mdp_broker: worker N ready for SERVICE" on each worker's first READY,
 * a line on stderr for each worker found gone, and on SIGTERM what it did.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#include "limits.h"

#define SERVICES_MAX 16
#define QUEUE_MAX 1024
#define PARTS_MAX 8
#define NAME_MAX_BYTES 64
#define WORKERS_MAX 64

struct message {                  /* a request waiting for a worker */
    zmq_msg_t parts[PARTS_MAX];
    int n;
    long number;                  /* counted and wrapped for the hop: > 0 */
};

struct service {
    char name[NAME_MAX_BYTES];
    zmq_msg_t idle[QUEUE_MAX];    /* routing ids of idle workers */
    int nidle;
    struct message *queue[QUEUE_MAX];
    int nqueued;
};

static struct service services[SERVICES_MAX];
static int nservices;
static struct {                   /* workers seen, by routing id */
    unsigned char id[NAME_MAX_BYTES];
    size_t len;
} workers[WORKERS_MAX];
static int nworkers;
static volatile sig_atomic_t stop;
static struct {
    long requests, replies, dropped, tampered, replayed, gone;
} count;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static struct service *service_named(const void *name, size_t len)
{
    for (int i = 0; i < nservices; i++)
        if (strlen(services[i].name) == len &&
            memcmp(services[i].name, name, len) == 0)
            return &services[i];
    if (nservices == SERVICES_MAX || len == 0 || len >= NAME_MAX_BYTES)
        return NULL;
    memcpy(services[nservices].name, name, len);
    services[nservices].name[len] = '\0';
    return &services[nservices++];
}

/* Read a whole multipart message; 0 parts on error. */
static int recv_all(void *s, struct message *m)
{
    int more = 1;

    m->n = 0;
    while (more) {
        size_t len = sizeof more;
        zmq_msg_t scrap, *part = m->n < PARTS_MAX ? &m->parts[m->n] : &scrap;
        zmq_msg_init(part);
        if (zmq_msg_recv(part, s, 0) < 0) {
            zmq_msg_close(part);
            break;
        }
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len);
        if (part == &scrap)
            zmq_msg_close(part);        /* too many parts: refused below */
        else
            m->n++;
    }
    return m->n;
}

static void close_all(struct message *m)
{
    for (int i = 0; i < m->n; i++)
        zmq_msg_close(&m->parts[i]);
    m->n = 0;
}

/* Send parts[from..n-1], after an optional first frame (a routing id).
 * -1 if it could not be sent whole: on the workers' ROUTER
 * (ZMQ_ROUTER_MANDATORY), EHOSTUNREACH for a worker that is gone. */
static int send_all(void *s, const zmq_msg_t *first, struct message *m,
                    int from)
{
    if (first != NULL) {
        zmq_msg_t id;
        zmq_msg_init(&id);
        zmq_msg_copy(&id, (zmq_msg_t *)first);
        if (zmq_msg_send(&id, s, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return -1;
        }
    }
    for (int i = from; i < m->n; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, &m->parts[i]);
        if (zmq_msg_send(&copy, s, (i + 1 < m->n ? ZMQ_SNDMORE : 0) |
                                   ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&copy);
            return -1;
        }
    }
    return 0;
}

/*
 * The hop SA: verify the neighbour's wrapping, then wrap the same inner
 * frames for the next neighbour.  m is [route ids... | service | hop ESP]
 * with `route` leading routing frames; on success it becomes the same
 * frames with the inner ESP frame in place of the hop one, ready for
 * rewrap().  Forged, replayed or unwrapped messages fail here, and so do
 * messages under an SA of another hop policy than this neighbour's.
 */
static int unwrap(zesp_sad *sad, const char *policy, struct message *m,
                  int route, zesp_msg *msg)
{
    zesp_frame frames[PARTS_MAX];
    zmq_msg_t *esp = &m->parts[m->n - 1];

    for (int i = 0; i < m->n - 1; i++)
        frames[i] = (zesp_frame){ zmq_msg_data(&m->parts[i]),
                                  zmq_msg_size(&m->parts[i]) };
    if (zesp_open_policy(sad, policy, frames, (size_t)m->n - 1,
                         zmq_msg_data(esp), zmq_msg_size(esp), msg) != 0 ||
        zesp_msg_clear_count(msg) != 1 || zesp_msg_body_count(msg) != 1 ||
        zesp_msg_envelope_count(msg) != (size_t)route) {
        fprintf(stderr, "mdp_broker: hop check refused a message: %s\n",
                zesp_strerror(errno));
        return -1;
    }
    zesp_frame inner = zesp_msg_body(msg, 0);
    zmq_msg_t copy;
    zmq_msg_init_size(&copy, inner.size);
    memcpy(zmq_msg_data(&copy), inner.data, inner.size);
    zmq_msg_close(esp);
    *esp = copy;
    return 0;
}

/* m: [route... | service | inner ESP] -> the same with a hop ESP frame. */
static int rewrap(zesp_sad *sad, const char *policy, struct message *m)
{
    zesp_frame clear = { zmq_msg_data(&m->parts[m->n - 2]),
                         zmq_msg_size(&m->parts[m->n - 2]) };
    zesp_frame body = { zmq_msg_data(&m->parts[m->n - 1]),
                        zmq_msg_size(&m->parts[m->n - 1]) };
    zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                         .nbody = 1 };
    uint8_t *out;
    size_t len;

    if (zesp_seal_policy(sad, policy, &parts, &out, &len, ZESP_DONTWAIT)
        != 0) {
        fprintf(stderr, "mdp_broker: cannot wrap for %s: %s\n", policy,
                zesp_strerror(errno));
        return -1;
    }
    zmq_msg_close(&m->parts[m->n - 1]);
    zmq_msg_init_size(&m->parts[m->n - 1], len);
    memcpy(zmq_msg_data(&m->parts[m->n - 1]), out, len);
    zesp_buf_free(out);
    return 0;
}

struct hops {
    zesp_sad *sad;
    const char *in, *out;         /* policies towards clients, workers */
    zesp_msg *msg;
};

static long tamper_seq;

/* Number m, wrap it for the hop and do what a hostile broker was asked
 * to; -1 if it cannot be wrapped. */
static int prepare(struct message *m, const struct hops *h, long tamper,
                   long tamper_service)
{
    m->number = ++count.requests;
    if (h->sad && rewrap(h->sad, h->out, m) != 0)
        return -1;
    if (count.requests == tamper) {
        uint8_t *esp = zmq_msg_data(&m->parts[m->n - 1]);
        esp[zmq_msg_size(&m->parts[m->n - 1]) / 2] ^= 0x04;
        count.tampered++;
    }
    if (count.requests == tamper_seq &&
        zmq_msg_size(&m->parts[m->n - 1]) >= 8) {
        ((uint8_t *)zmq_msg_data(&m->parts[m->n - 1]))[6] ^= 0x10;
        count.tampered++;
    }
    if (count.requests == tamper_service && zmq_msg_size(&m->parts[1]) > 0) {
        ((uint8_t *)zmq_msg_data(&m->parts[1]))[0] ^= 0x20;
        count.tampered++;
    }
    return 0;
}

/* Hand queued requests of s to its idle workers.  A worker that is gone
 * (it died while idle: its connection closed) is forgotten and the
 * request handed to the next idle one, or left first in the queue. */
static void dispatch(void *back, struct service *s, const struct hops *h,
                     long tamper, long tamper_service, long replay)
{
    while (s->nidle > 0 && s->nqueued > 0) {
        struct message *m = s->queue[0];
        int sent = -1;

        /* A request that cannot be wrapped for the hop is dropped; the
         * worker, sent nothing, stays idle for the next one. */
        if (m->number == 0 && prepare(m, h, tamper, tamper_service) != 0) {
            memmove(s->queue, s->queue + 1,
                    (size_t)--s->nqueued * sizeof *s->queue);
            count.dropped++;
            close_all(m);
            free(m);
            continue;
        }
        while (sent != 0 && s->nidle > 0) {
            zmq_msg_t worker = s->idle[0];

            memmove(s->idle, s->idle + 1, (size_t)--s->nidle * sizeof *s->idle);
            sent = send_all(back, &worker, m, 0);
            if (sent == 0 && m->number == replay &&
                send_all(back, &worker, m, 0) == 0)
                count.replayed++;
            if (sent != 0) {
                count.gone++;
                fprintf(stderr, "mdp_broker: a worker for %s is gone (%s), "
                        "forgotten\n", s->name, zmq_strerror(zmq_errno()));
            }
            zmq_msg_close(&worker);
        }
        if (sent != 0)
            break;                      /* no worker left: m waits */
        memmove(s->queue, s->queue + 1, (size_t)--s->nqueued * sizeof *s->queue);
        close_all(m);
        free(m);
    }
}

static void from_client(void *front, void *back, const struct hops *h,
                        long tamper, long tamper_service, long replay)
{
    struct message *m = calloc(1, sizeof *m);
    struct service *s;

    if (m == NULL)
        return;
    /* [client | service | ESP] */
    if (recv_all(front, m) != 3 ||
        (h->sad && unwrap(h->sad, h->in, m, 1, h->msg) != 0) ||
        (s = service_named(zmq_msg_data(&m->parts[1]),
                           zmq_msg_size(&m->parts[1]))) == NULL ||
        s->nqueued == QUEUE_MAX) {
        count.dropped++;
        close_all(m);
        free(m);
        return;
    }
    s->queue[s->nqueued++] = m;
    dispatch(back, s, h, tamper, tamper_service, replay);
}

/* A worker's first READY is announced (one can wait for the workers). */
static void announce(zmq_msg_t *id, const struct service *s)
{
    size_t len = zmq_msg_size(id);

    for (int i = 0; i < nworkers; i++)
        if (workers[i].len == len && memcmp(workers[i].id, zmq_msg_data(id),
                                            len) == 0)
            return;
    if (nworkers == WORKERS_MAX || len > sizeof workers[0].id)
        return;
    memcpy(workers[nworkers].id, zmq_msg_data(id), len);
    workers[nworkers++].len = len;
    printf("mdp_broker: worker %d ready for %s\n", nworkers, s->name);
}

static void from_worker(void *front, void *back, const struct hops *h,
                        long tamper, long tamper_service, long replay)
{
    struct message m;
    struct service *s;
    int n = recv_all(back, &m);

    /* [worker | READY | service] or [worker | client | service | ESP] */
    if (n == 3 && zmq_msg_size(&m.parts[1]) == 5 &&
        memcmp(zmq_msg_data(&m.parts[1]), "READY", 5) == 0) {
        s = service_named(zmq_msg_data(&m.parts[2]),
                          zmq_msg_size(&m.parts[2]));
        if (s != NULL)
            announce(&m.parts[0], s);
    } else if (n == 4 && (!h->sad || unwrap(h->sad, h->out, &m, 2,
                                            h->msg) == 0)) {
        s = service_named(zmq_msg_data(&m.parts[2]),
                          zmq_msg_size(&m.parts[2]));
        /* A reply that cannot be wrapped for the client is dropped; its
         * worker, done with it, is idle all the same. */
        if (h->sad && rewrap(h->sad, h->in, &m) != 0) {
            count.dropped++;
        } else {
            send_all(front, NULL, &m, 1);
            count.replies++;
        }
    } else {
        count.dropped++;
        s = NULL;
    }
    if (s != NULL && s->nidle < QUEUE_MAX) {     /* the worker is idle */
        zmq_msg_init(&s->idle[s->nidle]);
        zmq_msg_copy(&s->idle[s->nidle++], &m.parts[0]);
        dispatch(back, s, h, tamper, tamper_service, replay);
    }
    close_all(&m);
}

int main(int argc, char **argv)
{
    const char *front_ep = NULL, *back_ep = NULL, *sad_path = NULL;
    struct hops h = { 0 };
    long tamper = 0, tamper_service = 0, replay = 0;
    int64_t max_message = LIMITS_MAX_MESSAGE_DEFAULT;
    int mandatory = 1;
    struct sigaction sa;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--front") == 0)
            front_ep = argv[i + 1];
        else if (strcmp(argv[i], "--back") == 0)
            back_ep = argv[i + 1];
        else if (strcmp(argv[i], "--sad") == 0)
            sad_path = argv[i + 1];
        else if (strcmp(argv[i], "--hop-in") == 0)
            h.in = argv[i + 1];
        else if (strcmp(argv[i], "--hop-out") == 0)
            h.out = argv[i + 1];
        else if (strcmp(argv[i], "--tamper") == 0)
            tamper = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--tamper-service") == 0)
            tamper_service = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--replay") == 0)
            replay = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--tamper-seq") == 0)
            tamper_seq = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--max-message") == 0)
            max_message = limits_parse(argv[i + 1]);
    }
    if (front_ep == NULL || back_ep == NULL || !h.in != !h.out ||
        (h.in && sad_path == NULL) || max_message < 0) {
        fprintf(stderr, "usage: mdp_broker --front EP --back EP "
                "[--sad PATH --hop-in POLICY --hop-out POLICY] "
                "[--max-message BYTES] [--tamper N] [--tamper-service N] "
                "[--tamper-seq N] [--replay N]\n");
        return 2;
    }
    if (h.in && ((h.sad = zesp_sad_open(sad_path, 0, NULL)) == NULL ||
                 (h.msg = zesp_msg_new()) == NULL)) {
        fprintf(stderr, "mdp_broker: SAD %s: %s\n", sad_path,
                zesp_strerror(errno));
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    void *ctx = zmq_ctx_new();
    void *front = zmq_socket(ctx, ZMQ_ROUTER);
    void *back = zmq_socket(ctx, ZMQ_ROUTER);
    int linger = 0;                     /* stopping drops what is queued */
    if (front == NULL || back == NULL ||
        zmq_setsockopt(front, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(back, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        limits_apply(front, max_message) != 0 ||
        limits_apply(back, max_message) != 0 ||
        /* A send to a worker that is gone fails, rather than vanishing. */
        zmq_setsockopt(back, ZMQ_ROUTER_MANDATORY, &mandatory,
                       sizeof mandatory) != 0) {
        fprintf(stderr, "mdp_broker: sockets: %s\n", zmq_strerror(errno));
        return 1;
    }
    if (zmq_bind(front, front_ep) != 0 || zmq_bind(back, back_ep) != 0) {
        fprintf(stderr, "mdp_broker: bind: %s\n", zmq_strerror(errno));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("mdp_broker: routing on %s -> %s%s\n", front_ep, back_ep,
           h.sad ? ", checking every hop" : "");
    fflush(stdout);
    while (!stop) {
        zmq_pollitem_t items[] = { { front, 0, ZMQ_POLLIN, 0 },
                                   { back, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 2, 200) < 0)
            continue;
        if (items[1].revents & ZMQ_POLLIN)
            from_worker(front, back, &h, tamper, tamper_service, replay);
        if (items[0].revents & ZMQ_POLLIN)
            from_client(front, back, &h, tamper, tamper_service, replay);
    }
    printf("mdp_broker: %ld requests forwarded, %ld replies, %ld dropped, "
           "%ld tampered, %ld replayed, %ld workers gone\n", count.requests,
           count.replies, count.dropped, count.tampered, count.replayed,
           count.gone);
    for (int i = 0; i < nservices; i++) {
        for (int k = 0; k < services[i].nidle; k++)
            zmq_msg_close(&services[i].idle[k]);
        for (int k = 0; k < services[i].nqueued; k++) {
            close_all(services[i].queue[k]);
            free(services[i].queue[k]);
        }
    }
    zmq_close(front);
    zmq_close(back);
    zmq_ctx_term(ctx);
    zesp_msg_free(h.msg);
    zesp_sad_free(h.sad);
    return 0;
}
