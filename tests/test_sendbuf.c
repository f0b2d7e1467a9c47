/*
 * The buffers of large ESP frames are reused (esp/sendbuf.c): a frame's
 * buffer that ZeroMQ is done with serves the next frame of about its size,
 * and none is reused while ZeroMQ still sends from it.  Over real tcp with
 * a bounded queue, the sending thread no longer faults in a fresh megabyte
 * for most messages.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "keys.h"
#include "sendbuf.h"
#include "test.h"
#include "zesp.h"

#define SPI_BIG 0x5001U
#define BIG (1024U * 1024U)
#define TIMEOUT_MS 20000
#define PAGE_BYTES 4096U
/* Faults of the sending thread a message, at most: an eighth of what a
 * fresh buffer of BIG bytes costs.  Before the buffers were reused, this
 * path took 37 to 74 a message on the 2-vCPU machine (queue of 4). */
#define FAULTS_PER_MESSAGE_MAX (BIG / PAGE_BYTES / 8U)

static size_t messages(void)
{
    return test_under_valgrind() ? 60U : 300U;
}

/* Message i: a size near BIG (three sizes in turn, so that near sizes share
 * buffers) and bytes of its own. */
static size_t size_of(size_t i)
{
    return BIG - (i % 3U) * 1000U;
}

static void fill(uint8_t *buf, size_t i)
{
    for (size_t j = 0; j < size_of(i); j++)
        buf[j] = (uint8_t)(i * 31U + j * 7U + (j >> 12));
}

static void sendbuf_reuses_spare(void)
{
    zmq_msg_t a, b;
    void *first;

    CHECK_OK(sendbuf_msg_init(&a, BIG));
    first = zmq_msg_data(&a);
    CHECK(zmq_msg_size(&a) == BIG);
    zmq_msg_close(&a);
    CHECK_OK(sendbuf_msg_init(&b, BIG - 100U));
    CHECK(zmq_msg_data(&b) == first);
    CHECK(zmq_msg_size(&b) == BIG - 100U);
    zmq_msg_close(&b);
}

/* A spare far bigger than a frame is kept for a frame of its size. */
static void sendbuf_keeps_big_for_big(void)
{
    zmq_msg_t big, small;
    void *spare;

    CHECK_OK(sendbuf_msg_init(&big, BIG));
    spare = zmq_msg_data(&big);
    zmq_msg_close(&big);
    CHECK_OK(sendbuf_msg_init(&small, SENDBUF_MIN));
    CHECK(zmq_msg_data(&small) != spare);
    zmq_msg_close(&small);
    CHECK_OK(sendbuf_msg_init(&big, BIG));
    CHECK(zmq_msg_data(&big) == spare);
    zmq_msg_close(&big);
}

struct receiver {
    void *socket;
    size_t got, wrong;
    int err;
};

static void *receive_all(void *arg)
{
    struct receiver *r = arg;
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params in = test_sa(SPI_BIG, ZESP_DIR_IN, ZESP_AES256GCM, 0);
    zesp_msg *msg = zesp_msg_new();
    uint8_t *want = malloc(BIG);

    if (sad == NULL || msg == NULL || want == NULL ||
        zesp_sa_add(sad, &in) != 0) {
        r->err = ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < messages(); i++) {
        zesp_frame body;

        if (zesp_recv(sad, r->socket, msg, 0) != 0) {
            r->err = errno;
            break;
        }
        r->got++;
        fill(want, i);
        body = zesp_msg_body(msg, 0);
        if (zesp_msg_body_count(msg) != 1 || body.size != size_of(i) ||
            memcmp(body.data, want, body.size) != 0 ||
            zesp_msg_seq(msg) != i + 1U)
            r->wrong++;
    }
out:
    free(want);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return NULL;
}

static long thread_faults(void)
{
    struct rusage u;

    return getrusage(RUSAGE_THREAD, &u) == 0 ? u.ru_minflt : -1;
}

/* Huge pages: does this kernel give them on request (madvise)? */
static bool thp_available(void)
{
    char line[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

    if (f == NULL)
        return false;
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    fclose(f);
    return strstr(line, "[never]") == NULL && line[0] != '\0';
}

/* A burst of big frames deeper than the spares: each gets a buffer of
 * whole huge pages, aligned to one, that a near size reuses and a size
 * needing more pages does not; where the kernel gives huge pages, writing
 * a fresh megabyte faults at most a quarter of the 256 times small pages
 * take (none here: writing the header brought in the whole huge page;
 * AddressSanitizer's shadow of it adds 32). */
static void sendbuf_burst_huge_pages(void)
{
    enum { BURST = 3 * SENDBUF_SPARES, MARK = 0xa0 };
    const uintptr_t huge = 2U * 1024U * 1024U;
    zmq_msg_t m[BURST], other;
    long faults = 0;
    uint8_t *d;

    for (size_t i = 0; i < BURST; i++) {
        long before;

        CHECK_OK(sendbuf_msg_init(&m[i], BIG));
        d = zmq_msg_data(&m[i]);
        /* The header sits at the start of the first huge page. */
        CHECK((uintptr_t)d % huge != 0 && (uintptr_t)d % huge < 64U);
        before = thread_faults();
        memset(d, MARK + (int)i, BIG);   /* each frame's own mark */
        faults += thread_faults() - before;
    }
    if (thp_available() && !test_under_valgrind()) {
        long most = (long)(BURST * (BIG / PAGE_BYTES / 4U));

        if (faults > most)
            fprintf(stderr, "  %.1f faults a fresh megabyte\n",
                    (double)faults / BURST);
        CHECK(faults <= most);
    }
    for (size_t i = 0; i < BURST; i++)
        zmq_msg_close(&m[i]);
    /* Some of the burst are spares now, marked: three megabytes need two
     * huge pages, so a fresh (zeroed) mapping; a near size reuses one. */
    CHECK_OK(sendbuf_msg_init(&other, 3U * BIG));
    d = zmq_msg_data(&other);
    CHECK((uintptr_t)d % huge < 64U && d[0] == 0 && d[BIG - 1U] == 0);
    zmq_msg_close(&other);
    CHECK_OK(sendbuf_msg_init(&other, BIG - 5000U));
    d = zmq_msg_data(&other);
    CHECK(d[0] >= MARK && d[0] < MARK + BURST && d[BIG - 5001U] == d[0]);
    zmq_msg_close(&other);
}

/* Real tcp, a queue of 4 as a flow-controlled sender has: every message
 * arrives whole and in order, and the sender reuses its buffers. */
static void sendbuf_big_messages_tcp(void)
{
    void *ctx = zmq_ctx_new();
    void *pull = zmq_socket(ctx, ZMQ_PULL), *push = zmq_socket(ctx, ZMQ_PUSH);
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params out = test_sa(SPI_BIG, ZESP_DIR_OUT, ZESP_AES256GCM, 0);
    struct receiver r = { .socket = pull };
    int hwm = 4, ms = test_ms(TIMEOUT_MS);
    size_t n = messages(), warm = n / 3U;
    uint8_t *buf = malloc(BIG);
    char endpoint[256];
    size_t len = sizeof endpoint;
    long faults0 = 0, faults;
    pthread_t t;

    CHECK(sad != NULL && buf != NULL && pull != NULL && push != NULL);
    if (sad == NULL || buf == NULL || pull == NULL || push == NULL)
        goto out;
    CHECK_OK(zesp_sa_add(sad, &out));
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pull, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &ms, sizeof ms);
    zmq_setsockopt(push, ZMQ_SNDTIMEO, &ms, sizeof ms);
    zmq_setsockopt(push, ZMQ_LINGER, &ms, sizeof ms);
    CHECK_OK(zmq_bind(pull, "tcp://127.0.0.1:*"));
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &len);
    CHECK_OK(zmq_connect(push, endpoint));
    CHECK_OK(pthread_create(&t, NULL, receive_all, &r));
    for (size_t i = 0; i < n; i++) {
        zesp_frame body = { buf, size_of(i) };
        zesp_parts parts = { .body = &body, .nbody = 1 };

        if (i == warm)
            faults0 = thread_faults();
        fill(buf, i);   /* written before the count starts: no fault */
        if (zesp_send(sad, SPI_BIG, push, &parts, 0) != 0) {
            CHECK_OK(-1);
            break;
        }
    }
    faults = thread_faults() - faults0;
    pthread_join(t, NULL);
    CHECK(r.err == 0);
    CHECK(r.got == n);
    CHECK(r.wrong == 0);
    /* Under valgrind, its shadow memory faults too: not the thing counted. */
    if (!test_under_valgrind()) {
        if (faults > (long)((n - warm) * FAULTS_PER_MESSAGE_MAX))
            fprintf(stderr, "  %.1f faults a message\n",
                    (double)faults / (double)(n - warm));
        CHECK(faults >= 0 &&
              faults <= (long)((n - warm) * FAULTS_PER_MESSAGE_MAX));
    }
out:
    free(buf);
    zesp_sad_free(sad);
    if (push != NULL)
        zmq_close(push);
    if (pull != NULL)
        zmq_close(pull);
    zmq_ctx_term(ctx);
}

int main(void)
{
    RUN(sendbuf_reuses_spare);
    RUN(sendbuf_keeps_big_for_big);
    RUN(sendbuf_burst_huge_pages);
    RUN(sendbuf_big_messages_tcp);
    return test_done();
}
