/*
 * The demo's sender: sends protected messages, then plays the attacker on
 * the path: replays a captured message, flips a bit of a body, changes the
 * clear topic frame.  Usage: demo_sender KEY_FILE ENDPOINT
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "demo_common.h"
#include "endpoint.h"

static int send_raw(void *s, const char *topic, const uint8_t *esp, size_t n)
{
    return zmq_send(s, topic, strlen(topic), ZMQ_SNDMORE) < 0 ||
                   zmq_send(s, esp, n, 0) < 0
               ? -1
               : 0;
}

int main(int argc, char **argv)
{
    static const char *const bodies[] = { "hello", "how are you?",
                                          "the broker cannot read this",
                                          "one more", "last good one" };
    zesp_sad *sad = NULL;
    uint8_t *esp = NULL;
    size_t n;

    if (argc != 3) {
        fprintf(stderr, "usage: demo_sender KEY_FILE ENDPOINT\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (demo_sad(argv[1], ZESP_DIR_OUT, &sad) != 0)
        return 1;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    if (endpoint_use(s, argv[2], false, "sender") != 0)
        return 1;
    zesp_frame topic = { "greetings", 9 };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        zesp_frame body = { bodies[i], strlen(bodies[i]) };
        zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                             .nbody = 1 };
        if (zesp_send(sad, DEMO_SPI, s, &parts, 0) != 0) {
            fprintf(stderr, "sender: %s\n", zesp_strerror(errno));
            return 1;
        }
        printf("sender:   sent      '%s'\n", bodies[i]);
    }

    /* The attacker's turn, with a message captured on the wire. */
    zesp_frame body = { "transfer 10 EUR", 15 };
    zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                         .nbody = 1 };
    if (zesp_seal(sad, DEMO_SPI, &parts, &esp, &n) != 0)
        return 1;
    printf("sender:   sent      'transfer 10 EUR'\n");
    send_raw(s, "greetings", esp, n);
    printf("attacker: replays   'transfer 10 EUR'\n");
    send_raw(s, "greetings", esp, n);
    zesp_buf_free(esp);
    /* Messages the attacker holds back and alters before forwarding. */
    if (zesp_seal(sad, DEMO_SPI, &parts, &esp, &n) != 0)
        return 1;
    esp[ZESP_HEADERBYTES + 40] ^= 0x01;
    printf("attacker: flips one bit of a message\n");
    send_raw(s, "greetings", esp, n);
    zesp_buf_free(esp);
    if (zesp_seal(sad, DEMO_SPI, &parts, &esp, &n) != 0)
        return 1;
    printf("attacker: changes the clear topic frame of a message\n");
    send_raw(s, "greetinGs", esp, n);
    zesp_buf_free(esp);

    zesp_frame quit = { "quit", 4 };
    parts.body = &quit;
    if (zesp_send(sad, DEMO_SPI, s, &parts, 0) != 0)
        return 1;
    zmq_close(s);
    zmq_ctx_term(ctx);
    zesp_sad_free(sad);
    return 0;
}
