/*
 * proxy_bench: the forwarding rate of a proxy that checks each signed
 * group message's origin (zesp_verify, doc/topologies.md 2) beside the
 * same proxy forwarding blindly.
 *
 * Three processes: a sender that seals and signs a few frames before the
 * clock starts and then sends them round and round ([topic | frame], a
 * verifier keeps no replay window), the proxy (PULL -> PUSH, one message
 * at a time, as examples/pubsub_proxy), and a receiver that only counts
 * what arrives, timed from the first message to the last.  So the rate is
 * the proxy's, not the signer's or the subscribers'.
 *
 *   proxy_bench [--smoke] [--transport tcp|ipc] [--size BYTES] [--repeat N]
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
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

#define SPI_GROUP 0x00006001U
#define SENDER_ID 1U
#define FRAMES 64               /* distinct frames the sender cycles */
#define HWM 10000

static int smoke;
static uint8_t pk[ZESP_SIGN_PUBLICBYTES], sk[ZESP_SIGN_SECRETBYTES];

static void *socket_at(void *ctx, int type, const char *bind,
                       const char *connect)
{
    void *s = zmq_socket(ctx, type);
    int hwm = HWM, linger = 5000, timeout = 20000;

    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if ((bind && zmq_bind(s, bind) != 0) ||
        (connect && zmq_connect(s, connect) != 0)) {
        fprintf(stderr, "proxy_bench: %s: %s\n", bind ? bind : connect,
                zmq_strerror(errno));
        _exit(1);
    }
    return s;
}

/* The signed group sender's SA, a fresh key, signing with sk. */
static int add_signed_sender(zesp_sad *sad)
{
    zesp_sa_params p;
    int rc;

    memset(&p, 0, sizeof p);
    p.spi = SPI_GROUP;
    p.direction = ZESP_DIR_OUT;
    p.flags = ZESP_SA_GROUP | ZESP_SA_SIGNED;
    p.sender_id = SENDER_ID;
    randombytes_buf(p.key, sizeof p.key);
    memcpy(p.sign_key, sk, sizeof sk);
    rc = zesp_sa_add(sad, &p);
    sodium_memzero(&p, sizeof p);
    return rc;
}

static void sender(const char *ep, size_t size, long n)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    uint8_t *frames[FRAMES], *body = calloc(1, size);
    size_t lens[FRAMES];
    void *ctx = zmq_ctx_new(), *s = socket_at(ctx, ZMQ_PUSH, NULL, ep);
    zesp_frame topic = ZESP_STR("prices"), b = { body, size };
    zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &b,
                         .nbody = 1 };

    if (sad == NULL || body == NULL || add_signed_sender(sad) != 0)
        _exit(1);
    for (int i = 0; i < FRAMES; i++)
        if (zesp_seal(sad, SPI_GROUP, &parts, &frames[i], &lens[i]) != 0)
            _exit(1);
    for (long i = 0; i < n; i++)
        if (zmq_send(s, topic.data, topic.size, ZMQ_SNDMORE) < 0 ||
            zmq_send(s, frames[i % FRAMES], lens[i % FRAMES], 0) < 0)
            _exit(1);
    zmq_close(s);
    zmq_ctx_term(ctx);
    _exit(0);
}

/* One message at a time, checked or not; its CPU seconds into fd. */
static void proxy(const char *front, const char *back, int check, long n,
                  int fd)
{
    zesp_verifier *v = zesp_verifier_new();
    void *ctx = zmq_ctx_new();
    void *in = socket_at(ctx, ZMQ_PULL, front, NULL);
    void *out = socket_at(ctx, ZMQ_PUSH, NULL, back);
    zmq_msg_t m[2];
    double cpu0 = 0;
    long dropped = 0;

    if (v == NULL || zesp_verifier_add(v, SPI_GROUP, SENDER_ID, pk) != 0)
        _exit(1);
    for (long i = 0; i < n; i++) {
        zesp_frame f[2];
        zmq_msg_init(&m[0]);
        zmq_msg_init(&m[1]);
        if (zmq_msg_recv(&m[0], in, 0) < 0 || zmq_msg_recv(&m[1], in, 0) < 0)
            _exit(1);
        if (i == 0)
            cpu0 = cpu_seconds();
        for (int k = 0; k < 2; k++)
            f[k] = (zesp_frame){ zmq_msg_data(&m[k]), zmq_msg_size(&m[k]) };
        if (check && zesp_verify(v, f, 2, NULL) != 0) {
            dropped++;
            zmq_msg_close(&m[0]);
            zmq_msg_close(&m[1]);
            continue;
        }
        if (zmq_msg_send(&m[0], out, ZMQ_SNDMORE) < 0 ||
            zmq_msg_send(&m[1], out, 0) < 0)
            _exit(1);
    }
    double cpu = cpu_seconds() - cpu0;
    if (dropped)
        fprintf(stderr, "proxy_bench: %ld dropped\n", dropped);
    if (write(fd, &cpu, sizeof cpu) != sizeof cpu)
        _exit(1);
    zmq_close(in);
    zmq_close(out);
    zmq_ctx_term(ctx);
    zesp_verifier_free(v);
    _exit(dropped ? 1 : 0);
}

struct result {
    double msgs_per_s, cpu_us;
};

static struct result run(const char *transport, size_t size, int check,
                         int k)
{
    struct result r = { 0, 0 };
    char a[128], b[128];
    long n = smoke ? 20 : check ? 40000 : 400000;
    int fds[2];
    pid_t kids[2];
    void *ctx = zmq_ctx_new();

    bench_endpoints(transport, "zesp-pbench", 27600, k, a, b, sizeof a);
    void *s = socket_at(ctx, ZMQ_PULL, b, NULL);
    if (pipe(fds) != 0)
        exit(1);
    fflush(NULL);
    if ((kids[0] = fork()) == 0)
        proxy(a, b, check, n, fds[1]);
    if ((kids[1] = fork()) == 0)
        sender(a, size, n);
    double t0 = 0;
    long got = 0;
    zmq_msg_t m;
    zmq_msg_init(&m);
    for (int more = 0; got < n;) {
        size_t ml = sizeof more;
        if (zmq_msg_recv(&m, s, 0) < 0)
            break;
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
        if (more)
            continue;
        if (got++ == 0)
            t0 = now();
    }
    double elapsed = now() - t0, cpu = 0;
    if (read(fds[0], &cpu, sizeof cpu) != sizeof cpu)
        cpu = 0;
    for (int i = 0; i < 2; i++)
        waitpid(kids[i], NULL, 0);
    close(fds[0]);
    close(fds[1]);
    zmq_msg_close(&m);
    zmq_close(s);
    zmq_ctx_term(ctx);
    bench_endpoints_remove(a, b);
    if (got == n && got > 1 && elapsed > 0) {
        r.msgs_per_s = (double)(got - 1) / elapsed;
        r.cpu_us = cpu / (double)got * 1e6;
    } else {
        fprintf(stderr, "proxy_bench: %ld of %ld messages arrived\n", got, n);
    }
    return r;
}

/* zesp_verify alone, in this process: µs per frame of that size. */
static double verify_us(size_t size)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_verifier *v = zesp_verifier_new();
    uint8_t *body = calloc(1, size), *esp = NULL;
    size_t len = 0;
    zesp_frame b = { body, size }, f;
    zesp_parts parts = { .body = &b, .nbody = 1 };
    long n = smoke ? 10 : 20000;
    double t0;

    if (sad == NULL || v == NULL || body == NULL ||
        add_signed_sender(sad) != 0 ||
        zesp_verifier_add(v, SPI_GROUP, SENDER_ID, pk) != 0 ||
        zesp_seal(sad, SPI_GROUP, &parts, &esp, &len) != 0)
        exit(1);
    f = (zesp_frame){ esp, len };
    t0 = cpu_seconds();
    for (long i = 0; i < n; i++)
        if (zesp_verify(v, &f, 1, NULL) != 0)
            exit(1);
    t0 = (cpu_seconds() - t0) / (double)n * 1e6;
    zesp_buf_free(esp);
    free(body);
    zesp_verifier_free(v);
    zesp_sad_free(sad);
    return t0;
}

static int by_rate(const void *x, const void *y)
{
    const struct result *a = x, *b = y;

    return (a->msgs_per_s > b->msgs_per_s) - (a->msgs_per_s < b->msgs_per_s);
}

int main(int argc, char **argv)
{
    const char *only_tr = NULL;
    size_t only_size = 0;
    int repeats = 3, k = 0;
    static const size_t sizes[] = { 64, 1024 };
    static const char *const transports[] = { "tcp", "ipc" };

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0)
            smoke = 1;
        else if (strcmp(argv[i], "--transport") == 0 && i + 1 < argc)
            only_tr = argv[++i];
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            only_size = (size_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc &&
                 atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 9)
            repeats = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: proxy_bench [--smoke] [--transport "
                            "tcp|ipc] [--size BYTES] [--repeat 1-9]\n");
            return 2;
        }
    }
    if (zesp_init() != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    crypto_sign_keypair(pk, sk);
    for (size_t z = 0; z < 2; z++) {
        double us = verify_us(sizes[z]);
        printf("zesp_verify alone, %zu B: %.1f CPU µs a frame (%.0f frames/s "
               "a core)\n", sizes[z], us, 1e6 / us);
    }
    printf("| transport | size | proxy | msgs/s | proxy CPU µs/msg |\n"
           "| --- | --- | --- | --- | --- |\n");
    for (size_t t = 0; t < 2; t++)
        for (size_t z = 0; z < 2; z++) {
            if ((only_tr && strcmp(only_tr, transports[t]) != 0) ||
                (only_size && only_size != sizes[z]))
                continue;
            for (int check = 0; check < 2; check++) {
                struct result r[9];
                for (int i = 0; i < repeats; i++)
                    r[i] = run(transports[t], sizes[z], check, k++);
                qsort(r, (size_t)repeats, sizeof r[0], by_rate);
                printf("| %s | %zu B | %s | %.0f | %.2f |\n", transports[t],
                       sizes[z], check ? "checking" : "forwarding",
                       r[repeats / 2].msgs_per_s, r[repeats / 2].cpu_us);
            }
        }
    return 0;
}
