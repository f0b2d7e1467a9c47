/*
 * The processes of tests/test_reload.sh: a sender and a receiver over tcp
 * that know only their host's SAD, an attacker replaying what it captured,
 * and a reader of captures.
 *
 *   seq_peer send   --sad S --policy P --connect EP --count N
 *   seq_peer recv   --sad S --endpoint-file F --capture FILE
 *   seq_peer replay --connect EP --capture FILE
 *   seq_peer ivs    --capture FILE [--from I] [--to J]
 *
 * send sends N messages on policy P (zesp_send_policy), printing "sent I"
 * after each.  recv binds a PULL socket on tcp://127.0.0.1, writes its
 * endpoint to F, and for every message appends the ESP frame, as it came
 * off the wire, to FILE (a 4-byte big-endian length, then the frame)
 * before opening it; it prints "ok SEQ" or "refused WHY" for each, until
 * it is terminated.  replay sends every frame of FILE again as it was.
 * ivs prints "SPI IV" in hex for frames I to J - 1 of FILE.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>
#include <zmq.h>

#define FRAME_MAX (1U << 20)

struct opts {
    const char *sad, *policy, *connect, *endpoint_file, *capture;
    long count, from, to;
};

static int die(const char *what, const char *why)
{
    fprintf(stderr, "seq_peer: %s: %s\n", what, why);
    return 1;
}

static int parse(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    o->to = -1;
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(k, "--sad") == 0)
            o->sad = v;
        else if (strcmp(k, "--policy") == 0)
            o->policy = v;
        else if (strcmp(k, "--connect") == 0)
            o->connect = v;
        else if (strcmp(k, "--endpoint-file") == 0)
            o->endpoint_file = v;
        else if (strcmp(k, "--capture") == 0)
            o->capture = v;
        else if (strcmp(k, "--count") == 0)
            o->count = strtol(v, NULL, 10);
        else if (strcmp(k, "--from") == 0)
            o->from = strtol(v, NULL, 10);
        else if (strcmp(k, "--to") == 0)
            o->to = strtol(v, NULL, 10);
        else
            return -1;
    }
    return 0;
}

static int send_msgs(const struct opts *o)
{
    zesp_sad *sad = zesp_sad_open(o->sad, 0, NULL);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUSH);
    int rc = 0;

    if (sad == NULL)
        return die(o->sad, zesp_strerror(errno));
    if (zmq_connect(s, o->connect) != 0)
        return die(o->connect, zmq_strerror(errno));
    for (long i = 0; i < o->count; i++) {
        char text[32];
        zesp_frame body = { text, (size_t)snprintf(text, sizeof text,
                                                   "message %ld", i) };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        if (zesp_send_policy(sad, o->policy, s, &parts, 0) != 0) {
            rc = die("send", zesp_strerror(errno));
            break;
        }
        printf("sent %ld\n", i + 1);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    return rc;
}

static int put_frame(FILE *f, const void *data, size_t n)
{
    uint8_t len[4] = { (uint8_t)(n >> 24), (uint8_t)(n >> 16),
                       (uint8_t)(n >> 8), (uint8_t)n };

    return fwrite(len, 1, 4, f) == 4 && fwrite(data, 1, n, f) == n &&
                   fflush(f) == 0
               ? 0
               : -1;
}

/* The next frame of a capture into buf; 0 at the end, -1 if damaged. */
static long get_frame(FILE *f, uint8_t *buf)
{
    uint8_t len[4];
    size_t n;

    if (fread(len, 1, 4, f) != 4)
        return 0;
    n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 |
        len[3];
    if (n == 0 || n > FRAME_MAX || fread(buf, 1, n, f) != n)
        return -1;
    return (long)n;
}

static int receive(const struct opts *o)
{
    zesp_sad *sad = zesp_sad_open(o->sad, 0, NULL);
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PULL);
    FILE *cap = fopen(o->capture, "ab"), *ep;
    zesp_msg *msg = zesp_msg_new();
    char endpoint[256];
    size_t len = sizeof endpoint;
    zmq_msg_t part;

    if (sad == NULL || cap == NULL)
        return die(sad ? o->capture : o->sad, strerror(errno));
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0 ||
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
        return die("bind", zmq_strerror(errno));
    if ((ep = fopen(o->endpoint_file, "w")) == NULL ||
        fprintf(ep, "%s\n", endpoint) < 0 || fclose(ep) != 0)
        return die(o->endpoint_file, strerror(errno));
    zmq_msg_init(&part);
    for (;;) {
        int more;
        /* Only the last frame is kept: these messages have no others. */
        do {
            if (zmq_msg_recv(&part, s, 0) < 0)
                return die("receive", zmq_strerror(errno));
            more = zmq_msg_more(&part);
        } while (more);
        uint8_t *esp = zmq_msg_data(&part);
        size_t n = zmq_msg_size(&part);
        if (put_frame(cap, esp, n) != 0)
            return die(o->capture, strerror(errno));
        if (zesp_open(sad, NULL, 0, esp, n, msg) == 0)
            printf("ok %llu\n", (unsigned long long)zesp_msg_seq(msg));
        else
            printf("refused %s\n", zesp_strerror(errno));
    }
}

static int replay(const struct opts *o)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_PUSH);
    FILE *cap = fopen(o->capture, "rb");
    uint8_t *buf = malloc(FRAME_MAX);
    long n, sent = 0;

    if (cap == NULL || buf == NULL)
        return die(o->capture, strerror(errno));
    if (zmq_connect(s, o->connect) != 0)
        return die(o->connect, zmq_strerror(errno));
    while ((n = get_frame(cap, buf)) > 0 && zmq_send(s, buf, (size_t)n, 0) >= 0)
        sent++;
    printf("replayed %ld\n", sent);
    fclose(cap);
    free(buf);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return n < 0 ? die(o->capture, "damaged capture") : 0;
}

static int ivs(const struct opts *o)
{
    FILE *cap = fopen(o->capture, "rb");
    uint8_t *buf = malloc(FRAME_MAX);
    long n;

    if (cap == NULL || buf == NULL)
        return die(o->capture, strerror(errno));
    for (long i = 0; (n = get_frame(cap, buf)) > 0; i++) {
        if (i < o->from || (o->to >= 0 && i >= o->to) || n < 16)
            continue;
        for (int k = 0; k < 4; k++)
            printf("%02x", buf[k]);
        putchar(' ');
        for (int k = 8; k < 16; k++)
            printf("%02x", buf[k]);
        putchar('\n');
    }
    fclose(cap);
    free(buf);
    return n < 0 ? die(o->capture, "damaged capture") : 0;
}

int main(int argc, char **argv)
{
    struct opts o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: seq_peer send|recv|replay|ivs OPTIONS\n");
        return 2;
    }
    if (strcmp(argv[1], "send") == 0 && o.sad && o.policy && o.connect)
        return send_msgs(&o);
    if (strcmp(argv[1], "recv") == 0 && o.sad && o.endpoint_file && o.capture)
        return receive(&o);
    if (strcmp(argv[1], "replay") == 0 && o.connect && o.capture)
        return replay(&o);
    if (strcmp(argv[1], "ivs") == 0 && o.capture)
        return ivs(&o);
    fprintf(stderr, "seq_peer: missing options for %s\n", argv[1]);
    return 2;
}
