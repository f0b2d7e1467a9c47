/*
 * zesp_bench: throughput, latency and CPU cost of zesp beside plain ZeroMQ
 * and ZeroMQ CURVE, measured in one run on this machine.
 *
 * Method, as libzmq's perf tools: throughput is a PUSH sender and a PULL
 * receiver in two processes, timed at the receiver from the first message
 * to the last (local_thr / remote_thr); latency is a REQ/REP round trip
 * repeated, both processes pinned to one CPU (local_lat / remote_lat).
 * CPU per message is each side's user + system time from getrusage.
 *
 *   zesp_bench [--smoke] [--markdown FILE] [--data FILE]
 *
 * --smoke runs every configuration with a handful of messages: it checks
 * that the benchmark works, never how fast anything is.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zesp.h>
#include <zmq.h>

#include "clock.h"
#include "endpoints.h"

#include "aead_openssl.h" /* the OpenSSL backend's raw AEAD */
#include "msg.h"      /* msg_open: a frame decrypted in place or apart */
#include "sad.h"      /* sad_find: the lookup alone, as the data path makes it */
#include "transform.h" /* the AEAD as zesp runs it, and the default one */

#define SPI_BENCH 0x00b0b001U
#define SPI_LANES (SPI_BENCH + 4U)  /* the shared SAD's SA with lanes */
#define SENDERS_MAX 16
#define SPI_REPLY 0x00b0c001U   /* the latency test's answers */

/* MODE_AEAD: plain ZeroMQ with the application sealing each message with
 * the bare AEAD, on the backend zesp would use for that size (nonce and
 * tag on the wire, nothing else): the "plain ZeroMQ + raw AEAD" that
 * zesp's own overhead is measured above. */
enum mode { MODE_PLAIN, MODE_CURVE, MODE_ZESP, MODE_AEAD };

struct config {
    const char *name;
    enum mode mode;
    uint32_t transform;
    int senders;        /* processes sharing one SA through a shared SAD
                           (with ZESP_SA_LANES: each in a lane of its own) */
    int broker;         /* through a forwarding broker process */
    uint32_t flags;     /* ZESP_SA_GROUP (Sender ID 1), ZESP_SA_SIGNED,
                           ZESP_SA_LANES (the shared SAD's SPI_LANES) */
    int slow;           /* runs this many times shorter (signatures) */
    int sa_each;        /* each sender process its own SA in the shared SAD */
};

/* zesp-default: what a user gets without naming a transform, the AEAD
 * two zike daemons that name none negotiate on this machine
 * (TRANSFORM_DEFAULT, set in main). */
#define TRANSFORM_DEFAULT 0xdefU

static struct config configs[] = {
    { "plain", MODE_PLAIN, 0, 1, 0, 0, 1, 0 },
    { "curve", MODE_CURVE, 0, 1, 0, 0, 1, 0 },
    { "zesp-default", MODE_ZESP, TRANSFORM_DEFAULT, 1, 0, 0, 1, 0 },
    { "zesp-chacha", MODE_ZESP, ZESP_CHACHA20_POLY1305, 1, 0, 0, 1, 0 },
    { "zesp-aesgcm", MODE_ZESP, ZESP_AES256GCM, 1, 0, 0, 1, 0 },
    { "zesp-null-gmac", MODE_ZESP, ZESP_NULL_AES256GMAC, 1, 0, 0, 1, 0 },
    { "zesp-null-chacha", MODE_ZESP, ZESP_NULL_CHACHA20_POLY1305, 1, 0, 0, 1, 0 },
    { "zmq+chacha", MODE_AEAD, ZESP_CHACHA20_POLY1305, 1, 0, 0, 1, 0 },
    { "zmq+aesgcm", MODE_AEAD, ZESP_AES256GCM, 1, 0, 0, 1, 0 },
    { "plain+broker", MODE_PLAIN, 0, 1, 1, 0, 1, 0 },
    { "zesp+broker", MODE_ZESP, ZESP_CHACHA20_POLY1305, 1, 1, 0, 1, 0 },
    { "plain-4proc", MODE_PLAIN, 0, 4, 0, 0, 1, 0 },
    { "zesp-4proc", MODE_ZESP, ZESP_CHACHA20_POLY1305, 4, 0, ZESP_SA_LANES, 1, 0 },
    { "zesp-4proc-nolanes", MODE_ZESP, ZESP_CHACHA20_POLY1305, 4, 0, 0, 1, 0 },
    { "plain-16proc", MODE_PLAIN, 0, 16, 0, 0, 1, 0 },
    { "zesp-16proc", MODE_ZESP, ZESP_CHACHA20_POLY1305, 16, 0, ZESP_SA_LANES, 1, 0 },
    { "zesp-4proc-4sa", MODE_ZESP, ZESP_CHACHA20_POLY1305, 4, 0, 0, 1, 1 },
    { "zesp-group", MODE_ZESP, ZESP_CHACHA20_POLY1305, 1, 0, ZESP_SA_GROUP, 1, 0 },
    { "zesp-group-signed", MODE_ZESP, ZESP_CHACHA20_POLY1305, 1, 0,
      ZESP_SA_GROUP | ZESP_SA_SIGNED, 50, 0 },
    { "zesp-group-mac8", MODE_ZESP, ZESP_CHACHA20_POLY1305, 1, 0,
      ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC, 1, 0 },
    { "zesp-group-aesgcm", MODE_ZESP, ZESP_AES256GCM, 1, 0, ZESP_SA_GROUP,
      1, 0 },
    { "zesp-group-mac8-aesgcm", MODE_ZESP, ZESP_AES256GCM, 1, 0,
      ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC, 1, 0 },
};
#define NCONFIGS (sizeof configs / sizeof configs[0])

static const size_t sizes[] = { 64, 1024, 65536, 1048576 };
#define NSIZES (sizeof sizes / sizeof sizes[0])

static int smoke;
static char sad_file[256];
static char curve_public[41], curve_secret[41];
static uint8_t sa_key[ZESP_KEYBYTES];
static uint8_t sign_pk[ZESP_SIGN_PUBLICBYTES], sign_sk[ZESP_SIGN_SECRETBYTES];

static void pin_to_cpu0(void)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(0, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* How many messages make a run of about a second at that size. */
static long messages_for(size_t size, int latency)
{
    long n;

    if (smoke)
        return 20;
    if (latency)
        n = size <= 1024 ? 20000 : size <= 65536 ? 4000 : 400;
    else
        n = size <= 1024 ? 1000000 : size <= 65536 ? 40000 : 2000;
    return n;
}

/* The SPI this process sends on. */
static uint32_t send_spi = SPI_BENCH;

/* Each SPI its own key (and salt), so that no two SAs of a run ever
 * share a nonce under one key. */
static void spi_key(uint32_t spi, uint8_t key[ZESP_KEYBYTES])
{
    uint8_t b[4] = { (uint8_t)(spi >> 24), (uint8_t)(spi >> 16),
                     (uint8_t)(spi >> 8), (uint8_t)spi };

    crypto_generichash(key, ZESP_KEYBYTES, b, sizeof b, sa_key, 32);
}

/* Source-MAC groups: the sender (member 1) holds a key for each of
 * MAC_RECEIVERS members (2, 3, ...), from their identity keys; the one
 * receiver that runs is member 2.  Its peers' tags cost the sender the
 * same whether they run or not. */
#define MAC_RECEIVERS 8U

static void member_identity(uint32_t id, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    memset(seed, (int)id, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void source_macs(zesp_sa_params *p, uint32_t direction, uint32_t spi)
{
    uint8_t spk[32], ssk[64], rpk[32], rsk[64];
    uint8_t km[ZESP_KEYBYTES];
    int rc = 0;

    spi_key(spi, km);
    member_identity(1, spk, ssk);
    p->mac_count = direction == ZESP_DIR_OUT ? MAC_RECEIVERS : 1U;
    for (uint32_t i = 0; i < p->mac_count; i++) {
        p->mac_id[i] = 2U + i;
        member_identity(2U + i, rpk, rsk);
        rc |= direction == ZESP_DIR_OUT
                  ? zesp_source_mac_key(p->mac_key[i], ssk, rpk, 1, spi, 1,
                                        2U + i, km)
                  : zesp_source_mac_key(p->mac_key[i], rsk, spk, 0, spi, 1,
                                        2U + i, km);
    }
    if (rc != 0) {
        fprintf(stderr, "bench: source MAC keys\n");
        exit(1);
    }
}

/* A SAD with the SA on spi (and, for senders with an SA each, inbound,
 * one per sender on the SPIs that follow). */
static zesp_sad *bench_sad(const struct config *c, uint32_t direction,
                           uint32_t spi)
{
    zesp_sa_params p;
    zesp_sad *sad;

    memset(&p, 0, sizeof p);
    p.direction = direction;
    p.transform = c->transform;
    p.replay_window = ZESP_REPLAY_WINDOW_MAX;
    p.flags = c->flags;
    if (c->flags & ZESP_SA_GROUP)
        p.sender_id = 1;
    if (c->flags & ZESP_SA_SIGNED) {
        if (direction == ZESP_DIR_OUT)
            memcpy(p.sign_key, sign_sk, sizeof sign_sk);
        else
            memcpy(p.sign_key, sign_pk, sizeof sign_pk);
    }
    if (c->flags & ZESP_SA_SOURCE_MAC)
        source_macs(&p, direction, spi);
    /* Senders sharing one SA share one file; everyone else is private. */
    if (direction == ZESP_DIR_OUT && c->senders > 1)
        return zesp_sad_open(sad_file, 0, NULL);
    zesp_sad_opts opts = { .max_replay_window = ZESP_REPLAY_WINDOW_MAX };
    sad = zesp_sad_new(&opts);
    /* One inbound SA per sender process when each has its own. */
    for (int i = 0; i < (c->sa_each ? c->senders : 1); i++) {
        p.spi = spi + (uint32_t)i;
        spi_key(p.spi, p.key);
        if (sad == NULL || zesp_sa_add(sad, &p) != 0) {
            fprintf(stderr, "bench: SA: %s\n", zesp_strerror(errno));
            exit(1);
        }
    }
    return sad;
}

/* Every socket's queue bound, in messages (--hwm). */
static int queue_hwm = 10000;

static void *bench_socket(void *ctx, const struct config *c, int type,
                          int server, const char *bind, const char *connect)
{
    void *s = zmq_socket(ctx, type);
    int hwm = queue_hwm, linger = 5000, timeout = 20000;

    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (c->mode == MODE_CURVE) {
        if (server) {
            int one = 1;
            zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one);
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, curve_secret, 40);
        } else {
            char pub[41], sec[41];
            zmq_curve_keypair(pub, sec);
            zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, curve_public, 40);
            zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, pub, 40);
            zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, sec, 40);
        }
    }
    if ((bind && zmq_bind(s, bind) != 0) ||
        (connect && zmq_connect(s, connect) != 0)) {
        fprintf(stderr, "bench: %s: %s\n", bind ? bind : connect,
                zmq_strerror(errno));
        exit(1);
    }
    return s;
}

#define AEAD_NONCE 12U
#define AEAD_TAG 16U

static struct sa_key aead_key;

/* MODE_AEAD: nonce (this process, a counter) || ciphertext || tag. */
static int aead_send(const struct config *c, void *s, const uint8_t *buf,
                     size_t size)
{
    static uint64_t counter;
    struct aead_piece in = { buf, size };
    zmq_msg_t m;
    uint8_t *p;

    if (zmq_msg_init_size(&m, AEAD_NONCE + size + AEAD_TAG) != 0)
        return -1;
    p = zmq_msg_data(&m);
    uint32_t pid = (uint32_t)getpid();
    memcpy(p, &pid, 4);
    counter++;
    memcpy(p + 4, &counter, 8);
    if (transform_seal(transform_find(c->transform), &aead_key, AEAD_AUTO,
                       p + AEAD_NONCE, p + AEAD_NONCE + size, &in, 1, NULL, 0,
                       p) != 0 ||
        zmq_msg_send(&m, s, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    return 0;
}

static int aead_recv(const struct config *c, void *s, zmq_msg_t *part)
{
    if (zmq_msg_recv(part, s, 0) < 0)
        return -1;
    uint8_t *p = zmq_msg_data(part);
    size_t len = zmq_msg_size(part);
    if (len < AEAD_NONCE + AEAD_TAG) {
        errno = EPROTO;
        return -1;
    }
    size_t size = len - AEAD_NONCE - AEAD_TAG;
    int rc = transform_open(transform_find(c->transform), &aead_key,
                            AEAD_AUTO, p + AEAD_NONCE, p + AEAD_NONCE, size,
                            p + AEAD_NONCE + size, NULL, 0, p);
    if (rc != 0)
        errno = EBADMSG;
    return rc;
}

/* One message out, as the configuration sends it. */
static int send_one(const struct config *c, zesp_sad *sad, void *s,
                    const uint8_t *buf, size_t size)
{
    if (c->mode == MODE_AEAD)
        return aead_send(c, s, buf, size);
    if (c->mode == MODE_ZESP) {
        zesp_frame body = { buf, size };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        return zesp_send(sad, send_spi, s, &parts, 0);
    }
    return zmq_send(s, buf, size, 0) < 0 ? -1 : 0;
}

static int recv_one(const struct config *c, zesp_sad *sad, void *s,
                    zesp_msg *msg, zmq_msg_t *part)
{
    if (c->mode == MODE_AEAD)
        return aead_recv(c, s, part);
    if (c->mode == MODE_ZESP)
        return zesp_recv(sad, s, msg, 0);
    return zmq_msg_recv(part, s, 0) < 0 ? -1 : 0;
}

struct result {
    double msgs_per_s, mb_per_s, cpu_us_send, cpu_us_recv;
    double p50_us, p99_us;
    double refused;     /* fraction of the messages the receiver refused */
    double mean_us;     /* mean round trip */
    long count;         /* messages, or round trips */
};

/* Sender process: n messages, then its CPU seconds through the pipe. */
static void thr_sender(const struct config *c, const char *endpoint,
                       size_t size, long n, int fd)
{
    void *ctx = zmq_ctx_new();
    void *s = bench_socket(ctx, c, ZMQ_PUSH, 0, NULL, endpoint);
    zesp_sad *sad = c->mode == MODE_ZESP ? bench_sad(c, ZESP_DIR_OUT, send_spi)
                                         : NULL;
    uint8_t *buf = calloc(1, size);
    double cpu0 = cpu_seconds();

    for (long i = 0; i < n; i++)
        if (send_one(c, sad, s, buf, size) != 0) {
            fprintf(stderr, "bench: send: %s\n", zesp_strerror(errno));
            _exit(1);
        }
    double cpu = cpu_seconds() - cpu0;
    zmq_close(s);
    zmq_ctx_term(ctx);
    if (write(fd, &cpu, sizeof cpu) != sizeof cpu)
        _exit(1);
    _exit(0);
}

static void forwarder(const char *front, const char *back)
{
    void *ctx = zmq_ctx_new();
    void *in = zmq_socket(ctx, ZMQ_PULL), *out = zmq_socket(ctx, ZMQ_PUSH);
    int hwm = queue_hwm;

    zmq_setsockopt(in, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(out, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(in, front) != 0 || zmq_connect(out, back) != 0)
        _exit(1);
    zmq_proxy(in, out, NULL);
    _exit(0);
}

static int run_counter;

static struct result throughput(const struct config *c, const char *transport,
                                size_t size)
{
    struct result r = { 0 };
    char a[128], b[128];
    long n = messages_for(size, 0) / (c->slow > 1 && !smoke ? c->slow : 1),
         per = n / c->senders;
    void *ctx = zmq_ctx_new();
    int fds[2];
    pid_t kids[SENDERS_MAX], fwd = 0;
    uint32_t spi = (c->flags & ZESP_SA_LANES) ? SPI_LANES : SPI_BENCH;
    zesp_sad *sad = c->mode == MODE_ZESP ? bench_sad(c, ZESP_DIR_IN, spi)
                                         : NULL;
    zesp_msg *msg = zesp_msg_new();
    zmq_msg_t part;

    bench_endpoints(transport, "zesp-bench", 27000, run_counter++ % 500, a, b,
                    sizeof a);
    /* The receiver binds the endpoint the sender (or broker) reaches. */
    void *s = bench_socket(ctx, c, ZMQ_PULL, 1, c->broker ? b : a, NULL);
    if (pipe(fds) != 0)
        exit(1);
    fflush(NULL);
    if (c->broker && (fwd = fork()) == 0)
        forwarder(a, b);
    for (int i = 0; i < c->senders; i++)
        if ((kids[i] = fork()) == 0) {
            send_spi = c->sa_each ? SPI_BENCH + (uint32_t)i : spi;
            thr_sender(c, a, size, per, fds[1]);
        }
    zmq_msg_init(&part);
    double t0 = 0, cpu0 = 0;
    long got = 0, rejected = 0;
    int why = 0;
    for (long i = 0; i < per * c->senders; i++) {
        if (recv_one(c, sad, s, msg, &part) != 0) {
            if (errno == EAGAIN) {
                fprintf(stderr, "bench: %s: receive timed out\n", c->name);
                break;
            }
            if (rejected++ == 0)  /* e.g. outside the replay window */
                why = errno;
        }
        if (i == 0) {
            t0 = now();
            cpu0 = cpu_seconds();
        }
        got++;
    }
    if (rejected)
        fprintf(stderr, "bench: %s %zu B: %ld of %ld messages refused (%s)\n",
                c->name, size, rejected, got, zesp_strerror(why));
    double elapsed = now() - t0, cpu_recv = cpu_seconds() - cpu0;
    double cpu_send = 0, one;
    for (int i = 0; i < c->senders; i++) {
        if (read(fds[0], &one, sizeof one) == sizeof one)
            cpu_send += one;
        waitpid(kids[i], NULL, 0);
    }
    if (fwd) {
        kill(fwd, SIGTERM);
        waitpid(fwd, NULL, 0);
    }
    close(fds[0]);
    close(fds[1]);
    zmq_msg_close(&part);
    if (got > 1 && elapsed > 0) {
        /* Refused messages are not delivered: not counted as throughput. */
        r.msgs_per_s = (double)(got - 1 - rejected) / elapsed;
        r.refused = (double)rejected / (double)got;
        r.count = got;
        r.mb_per_s = r.msgs_per_s * (double)size / 1e6;
        r.cpu_us_send = cpu_send / (double)got * 1e6;
        r.cpu_us_recv = cpu_recv / (double)got * 1e6;
    }
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    zmq_close(s);
    zmq_ctx_term(ctx);
    bench_endpoints_remove(a, b);
    return r;
}

/* Is name one of the comma-separated names of list? */
static int listed(const char *list, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return 1;
    return 0;
}

static int repeats = 3;

static size_t config_index(const char *name)
{
    for (size_t k = 0; k < NCONFIGS; k++)
        if (strcmp(configs[k].name, name) == 0)
            return k;
    abort();
}

/* CPU of both sides per message, ns. */
static double cpu_ns(const struct result *r)
{
    return (r->cpu_us_send + r->cpu_us_recv) * 1e3;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Echo side of the latency test: answers every request with itself. */
static void lat_server(const struct config *c, const char *endpoint,
                       long n, size_t size)
{
    pin_to_cpu0();   /* before the context: its I/O thread inherits it */
    void *ctx = zmq_ctx_new();
    void *s = bench_socket(ctx, c, ZMQ_REP, 0, NULL, endpoint);
    zesp_sad *in = NULL, *out = NULL;
    zesp_msg *msg = zesp_msg_new();
    uint8_t *buf = calloc(1, size);
    zmq_msg_t part;

    if (c->mode == MODE_ZESP) {
        struct config one = *c;
        one.senders = 1;
        in = bench_sad(&one, ZESP_DIR_IN, SPI_BENCH);
        out = bench_sad(&one, ZESP_DIR_OUT, SPI_REPLY);
        send_spi = SPI_REPLY;
    }
    zmq_msg_init(&part);
    for (long i = 0; i < n; i++) {
        if (recv_one(c, in, s, msg, &part) != 0 ||
            send_one(c, out, s, buf, size) != 0)
            _exit(1);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

static struct result latency(const struct config *c, const char *transport,
                             size_t size)
{
    struct result r = { 0 };
    struct config one = *c;
    char a[128], b[128];
    long n = messages_for(size, 1) / (c->slow > 1 && !smoke ? c->slow : 1);
    double *rtt = calloc((size_t)n, sizeof *rtt);
    uint8_t *buf = calloc(1, size);
    zmq_msg_t part;
    pid_t kid;

    one.senders = 1;
    bench_endpoints(transport, "zesp-bench", 27000, run_counter++ % 500, a, b,
                    sizeof a);
    /* Every thread on one CPU, ZeroMQ's I/O threads too: they inherit the
     * affinity of the thread that makes the context.  The child pins
     * itself again (it inherits it anyway). */
    pin_to_cpu0();
    void *ctx = zmq_ctx_new();
    void *s = bench_socket(ctx, c, ZMQ_REQ, 1, a, NULL);
    zesp_sad *in = NULL, *out = NULL;
    zesp_msg *msg = zesp_msg_new();
    if (c->mode == MODE_ZESP) {
        in = bench_sad(&one, ZESP_DIR_IN, SPI_REPLY);
        out = bench_sad(&one, ZESP_DIR_OUT, SPI_BENCH);
    }
    fflush(NULL);
    if ((kid = fork()) == 0)
        lat_server(c, a, n, size);
    zmq_msg_init(&part);
    long done = 0;
    for (long i = 0; i < n; i++) {
        double t = now();
        if (send_one(c, out, s, buf, size) != 0 ||
            recv_one(c, in, s, msg, &part) != 0)
            break;
        rtt[done++] = (now() - t) * 1e6;
    }
    waitpid(kid, NULL, 0);
    if (done > 0) {
        qsort(rtt, (size_t)done, sizeof *rtt, cmp_double);
        r.p50_us = rtt[done / 2];
        r.p99_us = rtt[(size_t)((double)done * 0.99)];
        double sum = 0;
        for (long i = 0; i < done; i++)
            sum += rtt[i];
        r.mean_us = sum / (double)done;
        r.count = done;
    }
    zmq_msg_close(&part);
    zesp_msg_free(msg);
    zesp_sad_free(in);
    zesp_sad_free(out);
    zmq_close(s);
    zmq_ctx_term(ctx);
    bench_endpoints_remove(a, b);
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int i = 0; i < CPU_SETSIZE; i++)
        CPU_SET(i, &all);
    sched_setaffinity(0, sizeof all, &all);
    free(rtt);
    free(buf);
    return r;
}

static int by_rate(const void *x, const void *y)
{
    double a = ((const struct result *)x)->msgs_per_s,
           b = ((const struct result *)y)->msgs_per_s;
    return a < b ? -1 : a > b;
}

static int by_p50(const void *x, const void *y)
{
    double a = ((const struct result *)x)->p50_us,
           b = ((const struct result *)y)->p50_us;
    return a < b ? -1 : a > b;
}

/*
 * Runs on 2 shared vCPUs vary by tens of percent, and a latency run's
 * median round trip now and then sits 10 µs from the others': the run
 * that is the median of a few, by rate or by p50.
 */
static struct result median_run(struct result (*run)(const struct config *,
                                                     const char *, size_t),
                                int (*by)(const void *, const void *),
                                const struct config *c, const char *transport,
                                size_t size)
{
    struct result r[9];
    int n = smoke ? 1 : repeats;

    for (int i = 0; i < n; i++)
        r[i] = run(c, transport, size);
    qsort(r, (size_t)n, sizeof r[0], by);
    return r[n / 2];
}

/*
 * The loops without sockets time their work three times and keep the
 * fastest: what they measure is the code, and a slower pass only says that
 * something else had the CPU or the cache meanwhile.
 */
static int passes(void)
{
    return smoke ? 1 : 3;
}

static double fastest(double best, double ns)
{
    return best < 0 || ns < best ? ns : best;
}

/* Not a zesp transform: the cipher CURVE seals its messages with. */
#define CURVE_BOX 0xc0be

/* One encrypt + decrypt of m with the bare cipher, on backend b (AEAD_AUTO:
 * the one zesp picks for that size); non-zero if it fails. */
static int raw_seal_open(uint32_t transform, enum aead_backend b, uint8_t *m,
                         size_t size, long i, const struct sa_key *k)
{
    const struct transform *t = transform_find(transform);
    uint8_t nonce[24] = { (uint8_t)i }, ad[12] = { 0 }, mac[16];
    struct aead_piece in = { m, size };

    if (transform == CURVE_BOX) {
        crypto_secretbox_detached(m, mac, m, size, nonce, k->key);
        return crypto_secretbox_open_detached(m, m, mac, size, nonce, k->key);
    }
    if (b == AEAD_AUTO)
        b = transform_backend(t, b, size + sizeof ad);
    if (b == AEAD_OPENSSL)
        return openssl_aead_seal(t->aes, k->key, nonce, m, mac, &in, 1, ad,
                                 sizeof ad) |
               openssl_aead_open(t->aes, k->key, nonce, m, m, size, mac, ad,
                                 sizeof ad);
    if (transform == ZESP_AES256GCM) {
        crypto_aead_aes256gcm_encrypt_detached_afternm(
            m, mac, NULL, m, size, ad, sizeof ad, NULL, nonce, &k->aes);
        return crypto_aead_aes256gcm_decrypt_detached_afternm(
            m, NULL, m, size, mac, ad, sizeof ad, nonce, &k->aes);
    }
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        m, mac, NULL, m, size, ad, sizeof ad, NULL, nonce, k->key);
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        m, NULL, m, size, mac, ad, sizeof ad, nonce, k->key);
}

/* The raw cost of the cipher alone: encrypt + decrypt, ns per message;
 * -1 if that backend is not there. */
static double raw_aead_ns(uint32_t transform, enum aead_backend b,
                          size_t size)
{
    uint8_t *m = calloc(1, size + 16);
    long n = smoke ? 10 : size <= 1024 ? 200000 : size <= 65536 ? 5000 : 300;
    struct sa_key k = { .key = { 1 } };
    double ns = -1;
    int bad = m == NULL;

    if (transform != CURVE_BOX &&
        !transform_backend_available(transform_find(transform),
                                     b == AEAD_AUTO ? AEAD_SODIUM : b))
        bad = 1;
    crypto_aead_aes256gcm_beforenm(&k.aes, k.key);
    for (int pass = 0; pass < passes() && !bad; pass++) {
        double t0 = now();
        for (long i = 0; i < n; i++)
            bad |= raw_seal_open(transform, b, m, size, i, &k);
        ns = fastest(ns, (now() - t0) / (double)n * 1e9);
    }
    free(m);
    return bad ? -1 : ns;
}

/* The backend zesp runs a payload of that size on. */
static const char *backend_name(uint32_t transform, size_t size)
{
    return transform_backend(transform_find(transform), AEAD_AUTO,
                             size + 12U) == AEAD_OPENSSL ? "OpenSSL"
                                                         : "libsodium";
}

/* The SPIs of a SAD of count SAs: spread over the SPI space. */
static uint32_t bench_spi(uint32_t i)
{
    return 0x1000U + i * 2654435761U % 0x7fffffffU;
}

/*
 * zesp's data path without ZeroMQ: zesp_esp_encrypt then zesp_esp_decrypt
 * (SA lookup, sequence number, lifetime, replay window, AEAD, counters) on
 * one SA of count, taken in turn, ns per message.  Minus the raw AEAD it is
 * the CPU zesp itself adds; with many SAs it shows what a large SAD costs.
 */
static double datapath_ns(uint32_t transform, size_t size, uint32_t count)
{
    zesp_sad_opts opts = { .capacity = count, .max_replay_window = 64 };
    zesp_sad *out = zesp_sad_new(&opts), *in = zesp_sad_new(&opts);
    long n = smoke ? 10 : size <= 1024 ? 400000 : size <= 65536 ? 10000 : 600;
    uint8_t *payload = calloc(1, size), *pkt = malloc(zesp_esp_bytes(size));
    zesp_sa_params p;
    int bad = out == NULL || in == NULL || payload == NULL || pkt == NULL;

    memset(&p, 0, sizeof p);
    p.transform = transform;
    p.replay_window = 64;
    for (uint32_t i = 0; i < count && !bad; i++) {
        p.spi = bench_spi(i);
        spi_key(p.spi, p.key);
        p.direction = ZESP_DIR_OUT;
        bad |= zesp_sa_add(out, &p) != 0;
        p.direction = ZESP_DIR_IN;
        bad |= zesp_sa_add(in, &p) != 0;
    }
    if (n < (long)count)
        n = count;
    double ns = -1;
    for (int pass = 0; pass < passes(); pass++) {
        double t0 = now();
        for (long i = 0; i < n && !bad; i++) {
            uint32_t spi = bench_spi((uint32_t)(i % count));
            uint8_t *body, nh;
            size_t len, blen;
            bad |= zesp_esp_encrypt(out, spi, payload, size, 59, pkt, &len) != 0 ||
                   zesp_esp_decrypt(in, pkt, len, &body, &blen, &nh, NULL, NULL) != 0;
        }
        ns = fastest(ns, (now() - t0) / (double)n * 1e9);
    }
    zesp_sad_free(out);
    zesp_sad_free(in);
    free(payload);
    free(pkt);
    return bad ? -1 : ns;
}

/*
 * Receiving a frame ZeroMQ shares with other messages (a PUB's fan-out in
 * one process): zesp_recv decrypts it into the message's own memory
 * instead of in place.  Seal + open, ns per message, either way; the
 * difference is what sharing costs.
 */
static double open_ns(uint32_t transform, size_t size, int apart)
{
    zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
    long n = smoke ? 10 : size <= 1024 ? 200000 : size <= 65536 ? 5000 : 300;
    uint8_t *body = calloc(1, size);
    zesp_frame f = { body, size };
    zesp_parts parts = { .body = &f, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    double ns = -1;
    int bad = out == NULL || in == NULL || body == NULL || msg == NULL;

    memset(&p, 0, sizeof p);
    p.transform = transform;
    p.spi = SPI_BENCH;
    spi_key(p.spi, p.key);
    p.direction = ZESP_DIR_OUT;
    bad |= out == NULL || zesp_sa_add(out, &p) != 0;
    p.direction = ZESP_DIR_IN;
    bad |= in == NULL || zesp_sa_add(in, &p) != 0;
    for (int pass = 0; pass < passes() && !bad; pass++) {
        double t0 = now();
        for (long i = 0; i < n && !bad; i++) {
            uint8_t *esp;
            size_t len;
            if (zesp_seal(out, SPI_BENCH, &parts, &esp, &len) != 0) {
                bad = 1;
                break;
            }
            msg_reset(msg);
            bad |= msg_open(in, NULL, msg, esp, len,
                            apart ? msg_own_buffer(msg, len) : esp,
                            false, apart) != 0;
            zesp_buf_free(esp);
        }
        ns = fastest(ns, (now() - t0) / (double)n * 1e9);
    }
    zesp_msg_free(msg);
    zesp_sad_free(out);
    zesp_sad_free(in);
    free(body);
    return bad ? -1 : ns;
}

/*
 * SPI lookups as the data path makes them (sad_find: index, then the
 * slot's identity and generation), SAs taken in a scattered order that no
 * cache can follow at 100,000: the worst case, not a typical one.  With
 * burst > 1 each SA is looked up that many times in a row, as a stream of
 * messages on one SA would.
 */
static double lookup_ns(uint32_t count, uint32_t burst)
{
    zesp_sad_opts opts = { .capacity = count, .max_replay_window = 64 };
    zesp_sad *sad = zesp_sad_new(&opts);
    uint32_t rounds = smoke ? 1000 : 4000000;
    uint32_t *spis = calloc(count, sizeof *spis);
    zesp_sa_params p;
    struct sa_ref ref;
    uint32_t miss = 0, bad = sad == NULL || spis == NULL;

    memset(&p, 0, sizeof p);
    p.direction = ZESP_DIR_IN;
    p.replay_window = 64;
    for (uint32_t i = 0; i < count && !bad; i++) {
        p.spi = spis[i] = bench_spi(i);
        bad |= zesp_sa_add(sad, &p) != 0;
    }
    double ns = -1;
    for (int pass = 0; pass < passes(); pass++) {
        double t0 = now();
        for (uint32_t i = 0, j = 0, b = 0; i < rounds && !bad; i++) {
            miss += sad_find(sad, spis[j], ZESP_DIR_IN, &ref) != 0;
            if (++b == burst) {
                b = 0;
                j = j + 1U == count ? 0 : j + 1U;
            }
        }
        ns = fastest(ns, (now() - t0) / rounds * 1e9);
    }
    zesp_sad_free(sad);
    free(spis);
    return miss || bad ? -1 : ns;
}

/* One row of the main table: a configuration at one size and transport,
 * beside plain ZeroMQ (k = 0) and CURVE (k = 1) of the same run. */
static void print_row(FILE *f, const char *transport, size_t size, size_t k,
                      const struct result *thr, const struct result *lat)
{
    const struct result *r = &thr[k], *l = &lat[k];
    double xp = thr[0].msgs_per_s, xc = thr[1].msgs_per_s;

    fprintf(f, "| %s | %zu | %s | %.0f | %.1f | %.2f | %.2f | ", transport,
            size, configs[k].name, r->msgs_per_s, r->mb_per_s, r->cpu_us_send,
            r->cpu_us_recv);
    if (xp > 0)
        fprintf(f, "%.2f | ", r->msgs_per_s / xp);
    else
        fprintf(f, "- | ");
    if (xc > 0)
        fprintf(f, "%.2f | ", r->msgs_per_s / xc);
    else
        fprintf(f, "- | ");
    fprintf(f, "%.1f%% | ", 100.0 * r->refused);
    if (l->p50_us > 0)
        fprintf(f, "%.1f | %.1f | %+.1f |\n", l->p50_us, l->p99_us,
                l->p50_us - lat[0].p50_us);
    else
        fprintf(f, "- | - | - |\n");
    fflush(f);
}

/* The same figures in the lines libzmq's perf tools print (local_thr,
 * remote_lat), so that they compare with theirs. */
static void print_zmq_lines(FILE *f, const char *transport, size_t size,
                            size_t k, const struct result *r,
                            const struct result *l)
{
    fprintf(f, "# %s %s\n", transport, configs[k].name);
    fprintf(f, "message size: %zu [B]\n", size);
    fprintf(f, "message count: %ld\n", r->count);
    fprintf(f, "mean throughput: %.0f [msg/s]\n", r->msgs_per_s);
    fprintf(f, "mean throughput: %.3f [Mb/s]\n",
            r->msgs_per_s * (double)size * 8 / 1e6);
    if (l->mean_us > 0) {
        fprintf(f, "roundtrip count: %ld\n", l->count);
        fprintf(f, "average latency: %.3f [us]\n", l->mean_us / 2);
    }
    fprintf(f, "\n");
}

static void print_header(FILE *f)
{
    fprintf(f, "| transport | size | config | msgs/s | MB/s | CPU µs/msg send | "
               "CPU µs/msg recv | x plain | x curve | refused | p50 µs | "
               "p99 µs | p50 added µs |\n");
    fprintf(f, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

int main(int argc, char **argv)
{
    const char *markdown = NULL, *data = NULL, *only = NULL, *only_tr = NULL,
               *zmq_lines = NULL;
    size_t only_size = 0;
    const char *transports[] = { "tcp", "ipc" };
    static struct result thr[2][NSIZES][NCONFIGS], lat[2][NSIZES][NCONFIGS];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--markdown") == 0 && i + 1 < argc)
            markdown = argv[++i];
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
            data = argv[++i];
        else if (strcmp(argv[i], "--zmq-lines") == 0 && i + 1 < argc)
            zmq_lines = argv[++i];
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            only_size = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--transport") == 0 && i + 1 < argc)
            only_tr = argv[++i];
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc &&
                 atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 9)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--hwm") == 0 && i + 1 < argc &&
                 atoi(argv[i + 1]) >= 1)
            queue_hwm = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: zesp_bench [--smoke] [--markdown FILE] "
                            "[--data FILE] [--config NAME[,NAME...]] [--size BYTES] "
                            "[--transport tcp|ipc] [--repeat 1-9] "
                            "[--hwm MESSAGES] [--zmq-lines FILE]\n");
            return 2;
        }
    }
    if (zesp_init() != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    randombytes_buf(sa_key, sizeof sa_key);
    memcpy(aead_key.key, sa_key, sizeof aead_key.key);
    if (zesp_transform_available(ZESP_AES256GCM))
        crypto_aead_aes256gcm_beforenm(&aead_key.aes, aead_key.key);
    uint32_t preferred[TRANSFORM_PREFERRED_MAX];
    transform_preferred(preferred);
    configs[config_index("zesp-default")].transform = preferred[0];
    printf("zesp-default is %s here; the AEADs run on %s\n",
           zesp_transform_name(preferred[0]),
           transform_backend_available(transform_find(ZESP_CHACHA20_POLY1305),
                                       AEAD_OPENSSL)
               ? "libsodium and, for long messages, OpenSSL"
               : "libsodium (no OpenSSL in this build)");
    crypto_sign_keypair(sign_pk, sign_sk);
    zmq_curve_keypair(curve_public, curve_secret);

    /* The shared SAD the multi-process senders use. */
    snprintf(sad_file, sizeof sad_file, "/tmp/zesp-bench-%d.sad", (int)getpid());
    zesp_sad *shared = zesp_sad_open(sad_file, ZESP_SAD_CREATE, NULL);
    zesp_sa_params p;
    memset(&p, 0, sizeof p);
    p.direction = ZESP_DIR_OUT;
    /* SPI_BENCH for the senders sharing one SA, the next ones for the
     * senders that have one each (zesp-4proc-4sa), then SPI_LANES. */
    for (uint32_t i = 0; i < 5; i++) {
        p.spi = SPI_BENCH + i;
        p.flags = p.spi == SPI_LANES ? ZESP_SA_LANES : 0;
        spi_key(p.spi, p.key);
        if (shared == NULL || zesp_sa_add(shared, &p) != 0) {
            fprintf(stderr, "bench: shared SAD: %s\n", zesp_strerror(errno));
            return 1;
        }
    }

    FILE *md = markdown ? fopen(markdown, "w") : NULL;
    FILE *dat = data ? fopen(data, "w") : NULL;
    FILE *zl = zmq_lines ? fopen(zmq_lines, "w") : NULL;
    if (dat)
        fprintf(dat, "# transport size plain curve zesp-chacha zesp-aesgcm "
                     "zesp-default (msgs/s)\n");
    printf("zesp_bench%s: %ld messages per throughput run at 64 B\n",
           smoke ? " (smoke: counts too small to mean anything)" : "",
           messages_for(64, 0));
    print_header(stdout);
    if (md)
        print_header(md);
    for (int t = 0; t < 2; t++)
        for (size_t z = 0; z < NSIZES; z++) {
            if ((only_tr && strcmp(only_tr, transports[t]) != 0) ||
                (only_size && only_size != sizes[z]))
                continue;
            int ran[NCONFIGS] = { 0 };
            for (size_t k = 0; k < NCONFIGS; k++) {
                const struct config *c = &configs[k];
                /* A chosen configuration still runs beside plain and CURVE. */
                if (only && k > 1 && !listed(only, c->name))
                    continue;
                if (c->transform && !zesp_transform_available(c->transform))
                    continue;
                if (c->mode == MODE_CURVE && !zmq_has("curve"))
                    continue;
                thr[t][z][k] = median_run(throughput, by_rate, c,
                                          transports[t], sizes[z]);
                if (c->senders == 1 && !c->broker)
                    lat[t][z][k] = median_run(latency, by_p50, c,
                                              transports[t], sizes[z]);
                ran[k] = 1;
            }
            /* Printed once the size is done: plain's ratio to CURVE too. */
            for (size_t k = 0; k < NCONFIGS; k++)
                if (ran[k]) {
                    print_row(stdout, transports[t], sizes[z], k, thr[t][z], lat[t][z]);
                    if (md)
                        print_row(md, transports[t], sizes[z], k, thr[t][z], lat[t][z]);
                    if (zl)
                        print_zmq_lines(zl, transports[t], sizes[z], k,
                                        &thr[t][z][k], &lat[t][z][k]);
                }
            if (dat) {
                fprintf(dat, "%s %zu", transports[t], sizes[z]);
                for (size_t i = 0; i < 5; i++) {
                    static const char *const plotted[] = {
                        "plain", "curve", "zesp-chacha", "zesp-aesgcm",
                        "zesp-default" };
                    fprintf(dat, " %.0f",
                            thr[t][z][config_index(plotted[i])].msgs_per_s);
                }
                fprintf(dat, "\n");
            }
        }

    /* zesp's own CPU per message, both sides, over tcp: above plain
     * ZeroMQ + the raw AEAD's encrypt + decrypt as two figures: the sum of
     * the separate costs, and the same run of plain ZeroMQ whose
     * application seals each message with the bare AEAD (zmq+...), which
     * pays ZeroMQ's extra wake-ups of a slower sender just as zesp does. */
    for (FILE *f = stdout; f; f = f == stdout ? md : NULL) {
        fprintf(f, "\n| size | transform | plain ns | raw AEAD ns | zmq+AEAD ns | "
                   "zesp ns | own ns above plain + raw | own / raw | "
                   "own ns above zmq+AEAD | own / raw |\n");
        fprintf(f, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    for (size_t z = 0; z < NSIZES; z++)
        for (int aes = 0; aes < 2; aes++) {
            uint32_t tr = aes ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305;
            const struct result *pl = &thr[0][z][config_index("plain")];
            const struct result *ze = &thr[0][z][config_index(
                aes ? "zesp-aesgcm" : "zesp-chacha")];
            const struct result *za = &thr[0][z][config_index(
                aes ? "zmq+aesgcm" : "zmq+chacha")];
            if (pl->msgs_per_s <= 0 || ze->msgs_per_s <= 0 ||
                za->msgs_per_s <= 0 || !zesp_transform_available(tr))
                continue;
            double raw = raw_aead_ns(tr, AEAD_AUTO, sizes[z]);
            double plain = cpu_ns(pl), zesp = cpu_ns(ze), bare = cpu_ns(za);
            double o1 = zesp - plain - raw, o2 = zesp - bare;
            for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
                fprintf(f, "| %zu | %s | %.0f | %.0f | %.0f | %.0f | %.0f | "
                           "%.0f%% | %.0f | %.0f%% |\n",
                        sizes[z], zesp_transform_name(tr), plain, raw, bare,
                        zesp, o1, 100.0 * o1 / raw, o2, 100.0 * o2 / raw);
        }
    /* The same without ZeroMQ: what zesp's own code costs.  ESP adds a
     * trailer (and zesp messages a frame length), so the AEAD works on a
     * few more bytes than the message: its cost on the ESP payload is
     * shown apart, as the format's and not the code's. */
    for (FILE *f = stdout; f; f = f == stdout ? md : NULL) {
        fprintf(f, "\n| size | transform | backend | raw AEAD ns | raw AEAD ns, "
                   "ESP payload length | zesp encrypt + decrypt ns | own ns | "
                   "own / raw |\n");
        fprintf(f, "|---:|---|---|---:|---:|---:|---:|---:|\n");
    }
    for (size_t z = 0; z < NSIZES; z++)
        for (int aes = 0; aes < 2; aes++) {
            uint32_t tr = aes ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305;
            if (!zesp_transform_available(tr) ||
                (only_size && only_size != sizes[z]))
                continue;
            size_t esp_payload = zesp_esp_bytes(sizes[z]) - ZESP_HEADERBYTES -
                                 ZESP_ICVBYTES;
            double raw = raw_aead_ns(tr, AEAD_AUTO, sizes[z]);
            double raw_esp = raw_aead_ns(tr, AEAD_AUTO, esp_payload);
            double dp = datapath_ns(tr, sizes[z], 1);
            for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
                fprintf(f, "| %zu | %s | %s | %.0f | %.0f (%zu B) | %.0f | "
                           "%.0f | %.0f%% |\n",
                        sizes[z], zesp_transform_name(tr),
                        backend_name(tr, esp_payload), raw, raw_esp,
                        esp_payload, dp, dp - raw_esp,
                        100.0 * (dp - raw_esp) / raw);
        }
    /* A frame ZeroMQ shares, decrypted apart rather than in place. */
    for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
        fprintf(f, "\n| size | transform | seal + open in place ns | seal + "
                   "open apart ns (a frame ZeroMQ shares) | sharing costs |\n"
                   "|---:|---|---:|---:|---:|\n");
    for (size_t z = 0; z < NSIZES; z++)
        for (int aes = 0; aes < 2; aes++) {
            uint32_t tr = aes ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305;
            if (!zesp_transform_available(tr) ||
                (only_size && only_size != sizes[z]))
                continue;
            double in_place = open_ns(tr, sizes[z], 0);
            double apart = open_ns(tr, sizes[z], 1);
            for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
                fprintf(f, "| %zu | %s | %.0f | %.0f | %+.0f%% |\n", sizes[z],
                        zesp_transform_name(tr), in_place, apart,
                        100.0 * (apart - in_place) / in_place);
        }
    /* The ciphers alone, on each backend, CURVE's beside ours (-1: not
     * in this build or on this CPU). */
    for (FILE *f = stdout; f; f = f == stdout ? md : NULL) {
        fprintf(f, "\n| size | ChaCha20-Poly1305 ns, libsodium | ChaCha20-"
                   "Poly1305 ns, OpenSSL | AES-256-GCM ns, libsodium | "
                   "AES-256-GCM ns, OpenSSL | XSalsa20-Poly1305 ns (CURVE's, "
                   "libsodium) |\n|---:|---:|---:|---:|---:|---:|\n");
    }
    for (size_t z = 0; z < NSIZES; z++) {
        if (only_size && only_size != sizes[z])
            continue;
        double cs = raw_aead_ns(ZESP_CHACHA20_POLY1305, AEAD_SODIUM, sizes[z]);
        double co = raw_aead_ns(ZESP_CHACHA20_POLY1305, AEAD_OPENSSL, sizes[z]);
        double as = raw_aead_ns(ZESP_AES256GCM, AEAD_SODIUM, sizes[z]);
        double ao = raw_aead_ns(ZESP_AES256GCM, AEAD_OPENSSL, sizes[z]);
        double rx = raw_aead_ns(CURVE_BOX, AEAD_SODIUM, sizes[z]);
        for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
            fprintf(f, "| %zu | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
                    sizes[z], cs, co, as, ao, rx);
    }
    for (FILE *f = stdout; f; f = f == stdout ? md : NULL) {
        fprintf(f, "\n| SAs in the SAD | SPI lookup ns, scattered | SPI lookup ns, "
                   "16 in a row per SA | 64 B encrypt + decrypt ns (chacha, "
                   "scattered) |\n|---:|---:|---:|---:|\n");
        fflush(f);
    }
    const uint32_t counts[] = { 1, 10000, 100000 };
    for (size_t i = 0; i < 3; i++) {
        double ns = lookup_ns(counts[i], 1), burst = lookup_ns(counts[i], 16);
        double dp = datapath_ns(ZESP_CHACHA20_POLY1305, 64, counts[i]);
        for (FILE *f = stdout; f; f = f == stdout ? md : NULL)
            fprintf(f, "| %u | %.1f | %.1f | %.0f |\n", counts[i], ns, burst,
                    dp);
    }
    if (md)
        fclose(md);
    if (dat)
        fclose(dat);
    if (zl)
        fclose(zl);
    zesp_sad_free(shared);
    unlink(sad_file);
    return 0;
}
