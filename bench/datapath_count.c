/*
 * N sends and N receives of one 64-byte body over inproc PAIR, for
 * counting instructions per message under callgrind (the machine's load
 * does not change the counts): run it with N and 2N and subtract.
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.%p \
 *       build/bench/datapath_count MODE N [SIZE [timed]]
 *
 * MODE: plain (zmq_send, zmq_msg_recv), spi (zesp_send, zesp_recv), or
 * policy (zesp_send_policy, zesp_recv_policy), one AES-256-GCM SA in a
 * private SAD on each side; "timed" gives it soft and hard lifetimes in
 * seconds, messages and bytes, as zike installs them.  Not a timed
 * benchmark: see zesp_bench.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "zesp.h"

#define SPI 0x1000U
#define POLICY "count"

static zesp_sad *one_sa(uint32_t direction, int timed)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_policy pol;

    memset(&p, 0, sizeof p);
    p.spi = SPI;
    p.direction = direction;
    p.transform = ZESP_AES256GCM;
    memset(p.key, 0x42, sizeof p.key);
    if (timed) {
        p.soft = (zesp_lifetime){ .seconds = 3300, .messages = 1U << 30,
                                  .bytes = 1ULL << 40 };
        p.hard = (zesp_lifetime){ .seconds = 3600, .messages = 1U << 31,
                                  .bytes = 1ULL << 41 };
    }
    memset(&pol, 0, sizeof pol);
    snprintf(pol.name, sizeof pol.name, "%s", POLICY);
    if (direction == ZESP_DIR_OUT)
        pol.out_spi = SPI;
    else
        pol.in_spi[0] = SPI;
    if (sad == NULL || zesp_sa_add(sad, &p) != 0 ||
        zesp_policy_set(sad, &pol) != 0) {
        fprintf(stderr, "datapath_count: SA: %s\n", zesp_strerror(errno));
        exit(1);
    }
    return sad;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "spi";
    long n = argc > 2 ? atol(argv[2]) : 1000;
    size_t size = argc > 3 ? (size_t)atol(argv[3]) : 64;
    int plain = strcmp(mode, "plain") == 0;
    int policy = strcmp(mode, "policy") == 0;
    int timed = argc > 4 && strcmp(argv[4], "timed") == 0;
    void *ctx = zmq_ctx_new();
    void *tx = zmq_socket(ctx, ZMQ_PAIR), *rx = zmq_socket(ctx, ZMQ_PAIR);
    uint8_t *body = calloc(1, size ? size : 1);
    zesp_frame f = { body, size };
    zesp_parts parts = { .body = &f, .nbody = 1 };
    zesp_sad *out, *in;
    zesp_msg *msg;
    zmq_msg_t m;

    if (zesp_init() != 0 || tx == NULL || rx == NULL || body == NULL ||
        zmq_bind(rx, "inproc://count") != 0 ||
        zmq_connect(tx, "inproc://count") != 0)
        return 1;
    out = one_sa(ZESP_DIR_OUT, timed);
    in = one_sa(ZESP_DIR_IN, timed);
    msg = zesp_msg_new();
    zmq_msg_init(&m);
    for (long i = 0; i < n; i++) {
        int rc;

        if (plain)
            rc = zmq_send(tx, body, size, 0) < 0 ||
                 zmq_msg_recv(&m, rx, 0) < 0;
        else if (policy)
            rc = zesp_send_policy(out, POLICY, tx, &parts, 0) != 0 ||
                 zesp_recv_policy(in, POLICY, rx, msg, 0) != 0;
        else
            rc = zesp_send(out, SPI, tx, &parts, 0) != 0 ||
                 zesp_recv(in, rx, msg, 0) != 0;
        if (rc) {
            fprintf(stderr, "datapath_count: %s\n", zesp_strerror(errno));
            return 1;
        }
    }
    zmq_msg_close(&m);
    zesp_msg_free(msg);
    zesp_sad_free(out);
    zesp_sad_free(in);
    zmq_close(tx);
    zmq_close(rx);
    zmq_ctx_term(ctx);
    free(body);
    return 0;
}
