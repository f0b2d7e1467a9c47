/*
 * An IKE_SA_INIT flood for the cookie test: sends N well-formed requests
 * (fresh SPI, nonce and X25519 value each) to a zike and never completes
 * one, then counts the responses that asked for a COOKIE, until each
 * request has had its response or none came for MS (default 10000).
 *   ike_flood ENDPOINT N [MS]
 * Prints "sent N, responses R, cookies C".
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "ikev2.h"

int main(int argc, char **argv)
{
    uint8_t buf[1024];
    int n, responses = 0, cookies = 0, timeout = 10000, zero = 0;
    void *ctx, *s;

    if (argc < 3 || argc > 4 || (n = atoi(argv[2])) <= 0 ||
        (argc == 4 && (timeout = atoi(argv[3])) <= 0) || sodium_init() < 0)
        return 2;
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(s, argv[1]) != 0)
        return 1;
    for (int i = 0; i < n; i++) {
        struct ike_header h = { .exchange = IKE_SA_INIT,
                                .flags = IKE_FLAG_INITIATOR };
        struct ike_sa_payload sa = { .nproposals = 1 };
        uint8_t nonce[32], pub[32], priv[32];
        struct ike_writer w;
        size_t len;

        randombytes_buf(h.spi_i, 8);
        randombytes_buf(nonce, sizeof nonce);
        randombytes_buf(priv, sizeof priv);
        crypto_scalarmult_base(pub, priv);
        sa.proposals[0] = (struct ike_proposal){
            .number = 1, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
            .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                            { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                            { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
        ike_w_init(&w, buf, sizeof buf, &h);
        ike_w_sa(&w, &sa);
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
        ike_w_nonce(&w, nonce, sizeof nonce);
        if (ike_w_finish(&w, &len) != IKE_OK ||
            zmq_send(s, buf, len, 0) < 0)
            return 1;
    }
    while (responses < n) {
        struct ike_message m;
        int got = zmq_recv(s, buf, sizeof buf, 0);
        const struct ike_payload *p;
        struct ike_notify note;

        if (got < 0)
            break;
        responses++;
        if (ike_parse(buf, (size_t)got, &m) == IKE_OK &&
            (p = ike_find(&m, IKE_PL_NOTIFY)) != NULL &&
            ike_parse_notify(p, &note) == IKE_OK && note.type == IKE_N_COOKIE)
            cookies++;
    }
    printf("sent %d, responses %d, cookies %d\n", n, responses, cookies);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
