/*
 * A Majordomo-style broker that routes what it cannot read.
 *
 *   mdp_broker --front EP --back EP [--hop-in POLICY --hop-out POLICY
 *              --sad PATH] [--max-message BYTES] [--heartbeat-ms MS]
 *              [--tamper N] [--tamper-service N] [--tamper-seq N]
 *              [--replay N] [--misroute N] [--swap-replies N]
 *
 * Clients (DEALER) send  [service | ESP]  to the front ROUTER; workers
 * (DEALER) say  [READY | service]  to the back ROUTER, answer
 * [client | service | ESP], and say  [HEARTBEAT | service]  every
 * --heartbeat-ms (default 2500, Majordomo's).  The broker queues requests
 * per service and hands each to the idle worker of that service idle the
 * longest.  A worker not heard from for HEARTBEAT_LIVENESS intervals (its
 * host gone without closing its connection, or hung) expires; one whose
 * connection closed is found gone at the next send to it
 * (ZMQ_ROUTER_MANDATORY).  Either way it is forgotten, and a request it
 * held is queued again, first, for the next worker (a worker that may
 * have read it shares the SAD's replay window with those of its host,
 * which refuse it then), up to REQUEST_TRIES workers; then it is dropped,
 * said on stderr.  A heartbeat from a worker the broker does not know (it
 * restarted, or expired the worker) makes it known and idle, as READY
 * does.  The service frame is
 * clear for it to route on, and bound into the ESP frame by the client, so
 * a changed service name is caught by the worker; the body is encrypted
 * end to end under a key the broker does not have.
 *
 * With --hop-in/--hop-out the broker also checks every hop (an SA bundle,
 * doc/topologies.md): each message arrives wrapped in an integrity-only SA
 * with its neighbour, the end-to-end ESP frame inside; the broker verifies
 * that SA (dropping forged, replayed and unauthenticated messages), and
 * wraps the same end-to-end frame for the next hop.  Workers' READY and
 * HEARTBEAT count only wrapped in their hop SA too, both frames bound
 * ([READY | service | hop ESP]): who cannot wrap them is handed no
 * request.  It still holds no end-to-end key.  A message it cannot wrap (its hop SA expired) is
 * dropped; the worker stays its own.
 *
 * A peer sending a frame over --max-message bytes (default 16 MiB) is
 * disconnected before it is buffered; each connection holds at most
 * LIMITS_HWM messages each way (limits.h).
 *
 * --tamper N flips a bit of the Nth request's ESP frame, --tamper-service N
 * changes the Nth request's service frame (routing it as before),
 * --tamper-seq N its sequence number (4096 ahead), --replay N forwards the
 * Nth request twice, --misroute N queues the Nth request received for
 * another service than the one it names, unchanged, --swap-replies N
 * keeps the Nth reply back and hands it, unchanged, to the client of the
 * next reply, just before that one (another client's answer, or an answer
 * its own host never received, fresh to its replay window): what a
 * hostile broker could do.  It prints
 * "mdp_broker: worker N ready for SERVICE" on each worker's first READY
 * (SERVICE escaped as tools/safe_text.h says: a line feed is \x0a),
 * a line on stderr for each worker found gone, and on SIGTERM what it did.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zesp.h>
#include <zmq.h>

#include "endpoint.h"
#include "limits.h"
#include "safe_text.h"

#define SERVICES_MAX 16
#define QUEUE_MAX 1024
#define PARTS_MAX 8
#define NAME_MAX_BYTES 64
#define WORKERS_MAX 256           /* live ones: the expired are forgotten */
#define ROUTING_ID_MAX 255        /* ZeroMQ's bound */
#define HEARTBEAT_MS_DEFAULT 2500 /* MDP/0.2's interval */
#define HEARTBEAT_LIVENESS 3      /* intervals of silence: expired */
#define REQUEST_TRIES 3           /* workers one request may outlive */

struct message {                  /* a request waiting for a worker */
    zmq_msg_t parts[PARTS_MAX];
    int n;
    long number;                  /* counted and wrapped for the hop: > 0 */
    zmq_msg_t inner;              /* with hop SAs: the end-to-end ESP frame,
                                     to wrap again for another worker */
    int tries;                    /* workers that held it and are gone */
};

struct service {
    char name[NAME_MAX_BYTES];
    char shown[SAFE_TEXT_BYTES(NAME_MAX_BYTES)];  /* escaped, for the log:
                                                     any bytes a peer chose */
    struct message *queue[QUEUE_MAX];
    int nqueued;
};

struct worker {
    unsigned char id[ROUTING_ID_MAX];
    size_t len;                   /* 0: a free entry */
    struct service *service;
    struct message *held;         /* the request it was handed; NULL: idle */
    int64_t idle_since, expiry;   /* ms, monotonic */
};

static struct service services[SERVICES_MAX];
static int nservices;
static struct worker workers[WORKERS_MAX];
static int64_t heartbeat_ms = HEARTBEAT_MS_DEFAULT;
static volatile sig_atomic_t stop;
static struct {
    long requests, replies, dropped, tampered, replayed, gone, expired,
        requeued, workers, swapped;
} count;

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

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
    safe_text(services[nservices].shown, sizeof services[nservices].shown,
              services[nservices].name);
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

/* A queued or held request, done with. */
static void message_free(struct message *m)
{
    close_all(m);
    zmq_msg_close(&m->inner);
    free(m);
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

struct hops {
    zesp_sad *sad;
    const char *in, *out;         /* policies towards clients, workers */
    zesp_msg *msg;
};

static int hop_refused(const char *why)
{
    fprintf(stderr, "mdp_broker: hop check refused a message: %s\n", why);
    return -1;
}

/*
 * The hop SA: verify the neighbour's wrapping.  m's last frame is the hop
 * ESP frame; it opens into h->msg only under an SA of policy (the
 * neighbour's hop policy), so forged, replayed and unwrapped messages
 * fail here, and so do messages under an SA of another hop policy.
 */
static int hop_open(const struct hops *h, const char *policy,
                    struct message *m)
{
    zesp_frame frames[PARTS_MAX];
    zmq_msg_t *esp = &m->parts[m->n - 1];

    for (int i = 0; i < m->n - 1; i++)
        frames[i] = (zesp_frame){ zmq_msg_data(&m->parts[i]),
                                  zmq_msg_size(&m->parts[i]) };
    if (zesp_open_policy(h->sad, policy, frames, (size_t)m->n - 1,
                         zmq_msg_data(esp), zmq_msg_size(esp), h->msg) != 0)
        return hop_refused(zesp_strerror(errno));
    return 0;
}

/* Whether what hop_open verified has route envelope frames, nclear clear
 * frames (bound by the neighbour) and nbody body frames. */
static bool hop_shaped(const struct hops *h, size_t route, size_t nclear,
                       size_t nbody)
{
    return zesp_msg_envelope_count(h->msg) == route &&
           zesp_msg_clear_count(h->msg) == nclear &&
           zesp_msg_body_count(h->msg) == nbody;
}

/* After hop_open: the inner ESP frame (the body) in place of the hop one,
 * ready for rewrap(). */
static void hop_inner(const struct hops *h, struct message *m)
{
    zesp_frame inner = zesp_msg_body(h->msg, 0);
    zmq_msg_t *esp = &m->parts[m->n - 1];
    zmq_msg_t copy;

    zmq_msg_init_size(&copy, inner.size);
    memcpy(zmq_msg_data(&copy), inner.data, inner.size);
    zmq_msg_close(esp);
    *esp = copy;
}

/* m is [route ids... | service | hop ESP] with `route` leading routing
 * frames; on success it becomes the same frames with the inner ESP frame
 * in place of the hop one. */
static int unwrap(const struct hops *h, const char *policy,
                  struct message *m, size_t route)
{
    if (hop_open(h, policy, m) != 0)
        return -1;
    if (!hop_shaped(h, route, 1, 1))
        return hop_refused("not the frames of a request or reply");
    hop_inner(h, m);
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

static long tamper_seq, misroute, received;
static long swap_replies, replies_received;
static struct message kept_reply;  /* --swap-replies: the reply kept back */

/* Number m, wrap it for the hop and do what a hostile broker was asked
 * to; -1 if it cannot be wrapped. */
static int prepare(struct message *m, const struct hops *h, long tamper,
                   long tamper_service)
{
    m->number = ++count.requests;
    if (h->sad && (zmq_msg_copy(&m->inner, &m->parts[m->n - 1]) != 0 ||
                   rewrap(h->sad, h->out, m) != 0))
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

static struct worker *worker_find(const zmq_msg_t *id)
{
    size_t len = zmq_msg_size((zmq_msg_t *)id);

    for (int i = 0; i < WORKERS_MAX; i++)
        if (workers[i].len == len &&
            memcmp(workers[i].id, zmq_msg_data((zmq_msg_t *)id), len) == 0)
            return &workers[i];
    return NULL;
}

/* The idle worker of s idle the longest, or NULL. */
static struct worker *worker_idle(const struct service *s)
{
    struct worker *best = NULL;

    for (int i = 0; i < WORKERS_MAX; i++) {
        struct worker *w = &workers[i];
        if (w->len != 0 && w->service == s && w->held == NULL &&
            (best == NULL || w->idle_since < best->idle_since))
            best = w;
    }
    return best;
}

/* Heard from: it lives for HEARTBEAT_LIVENESS intervals more. */
static void worker_heard(struct worker *w)
{
    w->expiry = now_ms() + HEARTBEAT_LIVENESS * heartbeat_ms;
}

static void worker_idle_now(struct worker *w)
{
    if (w->held != NULL)
        message_free(w->held);   /* answered, or refused by the worker */
    w->held = NULL;
    w->idle_since = now_ms();
    worker_heard(w);
}

/* A worker not known yet, idle for s; NULL when WORKERS_MAX are. */
static struct worker *worker_add(const zmq_msg_t *id, struct service *s)
{
    size_t len = zmq_msg_size((zmq_msg_t *)id);

    for (int i = 0; i < WORKERS_MAX; i++) {
        struct worker *w = &workers[i];
        if (w->len != 0)
            continue;
        if (len == 0 || len > sizeof w->id)
            return NULL;
        memcpy(w->id, zmq_msg_data((zmq_msg_t *)id), len);
        w->len = len;
        w->service = s;
        w->held = NULL;
        worker_idle_now(w);
        printf("mdp_broker: worker %ld ready for %s\n", ++count.workers,
               s->shown);
        return w;
    }
    fprintf(stderr, "mdp_broker: %d workers already, one more for %s "
            "refused\n", WORKERS_MAX, s->shown);
    return NULL;
}

/* m goes back first in its queue for the next worker: wrapped again for
 * the hop (the one who held it may have checked that frame), or dropped,
 * said on stderr, once REQUEST_TRIES workers are gone holding it. */
static void requeue(struct service *s, struct message *m,
                    const struct hops *h)
{
    const char *why = NULL;

    if (++m->tries >= REQUEST_TRIES)
        why = "its workers are gone";
    else if (s->nqueued == QUEUE_MAX)
        why = "the queue is full";
    else if (h->sad) {
        zmq_msg_close(&m->parts[m->n - 1]);
        zmq_msg_init(&m->parts[m->n - 1]);
        if (zmq_msg_copy(&m->parts[m->n - 1], &m->inner) != 0 ||
            rewrap(h->sad, h->out, m) != 0)
            why = "it cannot be wrapped again";
    }
    if (why != NULL) {
        fprintf(stderr, "mdp_broker: request %ld for %s dropped: %s\n",
                m->number, s->shown, why);
        count.dropped++;
        message_free(m);
        return;
    }
    memmove(s->queue + 1, s->queue, (size_t)s->nqueued++ * sizeof *s->queue);
    s->queue[0] = m;
    count.requeued++;
}

/* w is gone (why): forgotten, its request (if any) queued again. */
static void worker_gone(struct worker *w, const char *why,
                        const struct hops *h)
{
    fprintf(stderr, "mdp_broker: a worker for %s is gone (%s), forgotten%s\n",
            w->service->shown, why,
            w->held ? "; its request queued again" : "");
    if (w->held != NULL)
        requeue(w->service, w->held, h);
    w->held = NULL;
    w->len = 0;
}

/* Hand queued requests of s to its idle workers.  A worker that is gone
 * (its connection closed) is forgotten and the request handed to the next
 * idle one, or left first in the queue.  A worker holds its request until
 * it answers, says READY, or is gone. */
static void dispatch(void *back, struct service *s, const struct hops *h,
                     long tamper, long tamper_service, long replay)
{
    struct worker *w;

    while (s->nqueued > 0 && (w = worker_idle(s)) != NULL) {
        struct message *m = s->queue[0];

        /* A request that cannot be wrapped for the hop is dropped; the
         * worker, sent nothing, stays idle for the next one. */
        if (m->number == 0 && prepare(m, h, tamper, tamper_service) != 0) {
            memmove(s->queue, s->queue + 1,
                    (size_t)--s->nqueued * sizeof *s->queue);
            count.dropped++;
            message_free(m);
            continue;
        }
        zmq_msg_t id;
        zmq_msg_init_size(&id, w->len);
        memcpy(zmq_msg_data(&id), w->id, w->len);
        int sent = send_all(back, &id, m, 0);
        if (sent == 0 && m->number == replay &&
            send_all(back, &id, m, 0) == 0)
            count.replayed++;
        zmq_msg_close(&id);
        if (sent != 0) {
            count.gone++;
            worker_gone(w, zmq_strerror(zmq_errno()), h);
            continue;                   /* m stays first */
        }
        memmove(s->queue, s->queue + 1, (size_t)--s->nqueued * sizeof *s->queue);
        w->held = m;
    }
}

/* Workers not heard from for HEARTBEAT_LIVENESS intervals expire. */
static void expire(void *back, const struct hops *h, long tamper,
                   long tamper_service, long replay)
{
    int64_t now = now_ms();

    for (int i = 0; i < WORKERS_MAX; i++) {
        struct worker *w = &workers[i];
        if (w->len == 0 || w->expiry > now)
            continue;
        struct service *s = w->service;
        char why[64];
        snprintf(why, sizeof why, "no heartbeat for %lld ms",
                 (long long)(HEARTBEAT_LIVENESS * heartbeat_ms));
        count.expired++;
        worker_gone(w, why, h);
        dispatch(back, s, h, tamper, tamper_service, replay);
    }
}

/* --misroute: a service other than s, if the broker knows one. */
static struct service *service_other(struct service *s)
{
    for (int i = 0; i < nservices; i++)
        if (&services[i] != s)
            return &services[i];
    return s;
}

static void from_client(void *front, void *back, const struct hops *h,
                        long tamper, long tamper_service, long replay)
{
    struct message *m = calloc(1, sizeof *m);
    struct service *s = NULL;

    if (m == NULL)
        return;
    zmq_msg_init(&m->inner);
    /* [client | service | ESP] */
    if (recv_all(front, m) == 3 &&
        (h->sad == NULL || unwrap(h, h->in, m, 1) == 0) &&
        (s = service_named(zmq_msg_data(&m->parts[1]),
                           zmq_msg_size(&m->parts[1]))) != NULL &&
        ++received == misroute && service_other(s) != s) {
        s = service_other(s);
        count.tampered++;
    }
    if (s == NULL || s->nqueued == QUEUE_MAX) {
        count.dropped++;
        message_free(m);
        return;
    }
    s->queue[s->nqueued++] = m;
    dispatch(back, s, h, tamper, tamper_service, replay);
}

static bool is_command(zmq_msg_t *part, const char *name)
{
    size_t len = strlen(name);

    return zmq_msg_size(part) == len && memcmp(zmq_msg_data(part), name,
                                               len) == 0;
}

static bool is_ready(zmq_msg_t *part)
{
    return is_command(part, "READY");
}

/* READY or HEARTBEAT: what a worker says of itself. */
static bool is_worker_command(zmq_msg_t *part)
{
    return is_ready(part) || is_command(part, "HEARTBEAT");
}

/* What a worker sent: READY or HEARTBEAT ([worker | command | service]),
 * or a reply ([worker | client | service | ESP]).  With hop SAs each comes
 * wrapped in the hop SA, a command with both its frames bound
 * ([worker | command | service | hop ESP]): who cannot wrap it would
 * otherwise be handed requests it can neither read nor answer, for as
 * long as it says HEARTBEAT.  *reply: a reply, its hop frame replaced by
 * the inner one.  Whether it is either. */
static bool worker_says(const struct hops *h, struct message *m, bool *reply)
{
    *reply = false;
    if (h->sad == NULL) {
        *reply = m->n == 4;
        return *reply || (m->n == 3 && is_worker_command(&m->parts[1]));
    }
    if (m->n != 4) {
        hop_refused("not wrapped in the hop SA");
        return false;
    }
    if (hop_open(h, h->out, m) != 0)
        return false;
    if (is_worker_command(&m->parts[1]) && hop_shaped(h, 1, 2, 0)) {
        zmq_msg_close(&m->parts[--m->n]);     /* [worker | command | service] */
        return true;
    }
    if (hop_shaped(h, 2, 1, 1)) {
        hop_inner(h, m);
        *reply = true;
        return true;
    }
    hop_refused("not the frames of a command or reply");
    return false;
}

/* A reply [worker | client | service | inner ESP] to its client, wrapped
 * for the hop.  One that cannot be wrapped is dropped. */
static void deliver(void *front, const struct hops *h, struct message *m)
{
    if (h->sad && rewrap(h->sad, h->in, m) != 0) {
        count.dropped++;
        return;
    }
    send_all(front, NULL, m, 1);
    count.replies++;
}

/* --swap-replies: keep reply m back (a copy in kept_reply), or,
 * for the next reply m, hand the kept one to m's client first.  Whether m
 * was kept. */
static bool swap_reply(void *front, const struct hops *h, struct message *m)
{
    if (++replies_received == swap_replies) {
        for (int i = 0; i < m->n; i++) {
            zmq_msg_init(&kept_reply.parts[i]);
            zmq_msg_copy(&kept_reply.parts[i], &m->parts[i]);
        }
        kept_reply.n = m->n;
        return true;
    }
    if (kept_reply.n == 4) {
        zmq_msg_close(&kept_reply.parts[1]);
        zmq_msg_init(&kept_reply.parts[1]);
        zmq_msg_copy(&kept_reply.parts[1], &m->parts[1]);
        deliver(front, h, &kept_reply);
        close_all(&kept_reply);
        count.swapped++;
    }
    return false;
}

static void from_worker(void *front, void *back, const struct hops *h,
                        long tamper, long tamper_service, long replay)
{
    struct message m;
    struct service *s = NULL;
    int n = recv_all(back, &m);
    struct worker *w = n > 0 ? worker_find(&m.parts[0]) : NULL;
    bool reply;

    if (n == 0 || !worker_says(h, &m, &reply)) {
        count.dropped++;
        close_all(&m);
        return;
    }
    /* Anything it says tells the broker the worker lives. */
    if (w != NULL)
        worker_heard(w);
    if (!reply) {
        s = service_named(zmq_msg_data(&m.parts[2]),
                          zmq_msg_size(&m.parts[2]));
        if (s == NULL)
            count.dropped++;
        else if (w == NULL)
            w = worker_add(&m.parts[0], s);
        else if (is_ready(&m.parts[1])) {
            w->service = s;
            worker_idle_now(w);
        }
    } else {
        s = service_named(zmq_msg_data(&m.parts[2]),
                          zmq_msg_size(&m.parts[2]));
        /* A reply that cannot be wrapped for the client is dropped; its
         * worker, done with it, is idle all the same. */
        if (!swap_reply(front, h, &m))
            deliver(front, h, &m);
        if (s != NULL && w == NULL)
            w = worker_add(&m.parts[0], s);     /* expired, yet alive */
        else if (w != NULL)
            worker_idle_now(w);
        if (w != NULL)
            s = w->service;
    }
    if (s != NULL)
        dispatch(back, s, h, tamper, tamper_service, replay);
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
        else if (strcmp(argv[i], "--misroute") == 0)
            misroute = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--swap-replies") == 0)
            swap_replies = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--max-message") == 0)
            max_message = limits_parse(argv[i + 1]);
        else if (strcmp(argv[i], "--heartbeat-ms") == 0)
            heartbeat_ms = limits_parse(argv[i + 1]);
    }
    if (front_ep == NULL || back_ep == NULL || !h.in != !h.out ||
        (h.in && sad_path == NULL) || max_message < 0 || heartbeat_ms < 0) {
        fprintf(stderr, "usage: mdp_broker --front EP --back EP "
                "[--sad PATH --hop-in POLICY --hop-out POLICY] "
                "[--max-message BYTES] [--heartbeat-ms MS] [--tamper N] "
                "[--tamper-service N] "
                "[--tamper-seq N] [--replay N] [--misroute N] "
                "[--swap-replies N]\n");
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
    if (endpoint_use(front, front_ep, true, "mdp_broker") != 0 ||
        endpoint_use(back, back_ep, true, "mdp_broker") != 0)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("mdp_broker: routing on %s -> %s%s\n", front_ep, back_ep,
           h.sad ? ", checking every hop" : "");
    fflush(stdout);
    /* Expiry is checked at least twice an interval. */
    long slice = heartbeat_ms / 2 < 200 ? (long)heartbeat_ms / 2 + 1 : 200;
    while (!stop) {
        zmq_pollitem_t items[] = { { front, 0, ZMQ_POLLIN, 0 },
                                   { back, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, 2, slice) >= 0) {
            if (items[1].revents & ZMQ_POLLIN)
                from_worker(front, back, &h, tamper, tamper_service, replay);
            if (items[0].revents & ZMQ_POLLIN)
                from_client(front, back, &h, tamper, tamper_service, replay);
        }
        expire(back, &h, tamper, tamper_service, replay);
    }
    printf("mdp_broker: %ld requests forwarded, %ld replies, %ld dropped, "
           "%ld tampered, %ld replayed, %ld workers gone, %ld expired, "
           "%ld requests queued again, %ld replies swapped\n",
           count.requests, count.replies, count.dropped, count.tampered,
           count.replayed, count.gone, count.expired, count.requeued,
           count.swapped);
    for (int i = 0; i < WORKERS_MAX; i++)
        if (workers[i].len != 0 && workers[i].held != NULL)
            message_free(workers[i].held);
    for (int i = 0; i < nservices; i++)
        for (int k = 0; k < services[i].nqueued; k++)
            message_free(services[i].queue[k]);
    close_all(&kept_reply);
    zmq_close(front);
    zmq_close(back);
    zmq_ctx_term(ctx);
    zesp_msg_free(h.msg);
    zesp_sad_free(h.sad);
    return 0;
}
