/*
 * An IKE_SA_INIT flood for the cookie and half-open tests: sends N
 * well-formed requests (fresh SPI, nonce and X25519 value each) to a zike
 * and never completes one, then counts the responses, until each request
 * has had its final response or none came for MS (default 10000).  With
 * "cookies" it answers every COOKIE as a legitimate initiator would (RFC
 * 7296 2.6): over ZeroMQ the attacker's own connection brings the cookie
 * back, so a cookie costs it one round trip and nothing more.  With
 * "malformed" its requests have no SA payload (zike refuses them with
 * INVALID_SYNTAX and keeps nothing).  With "weak" its KE payload is the
 * X25519 value 0, of small order, which costs it nothing to send and zike
 * its X25519 work before the exchange fails; it answers COOKIEs too.
 *   ike_flood ENDPOINT N [MS [cookies|malformed|weak]]
 * Prints "sent N, responses R, cookies C, half-open H, refused T, invalid
 * I": H answers that made an IKE SA (a KE payload), T TEMPORARY_FAILUREs,
 * I INVALID_SYNTAXes.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "ikev2.h"

struct req {
    uint8_t spi[8], nonce[32], pub[32];
};

static bool malformed, weak;

static size_t build(const struct req *r, const uint8_t *cookie,
                    size_t cookie_len, uint8_t *buf, size_t cap)
{
    struct ike_header h = { .exchange = IKE_SA_INIT,
                            .flags = IKE_FLAG_INITIATOR };
    struct ike_sa_payload sa = { .nproposals = 1 };
    struct ike_writer w;
    size_t len;

    memcpy(h.spi_i, r->spi, 8);
    sa.proposals[0] = (struct ike_proposal){
        .number = 1, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                        { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                        { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
    ike_w_init(&w, buf, cap, &h);
    if (cookie_len)
        ike_w_notify(&w, 0, IKE_N_COOKIE, NULL, 0, cookie, cookie_len);
    if (!malformed)
        ike_w_sa(&w, &sa);
    ike_w_ke(&w, IKE_DH_CURVE25519, r->pub, sizeof r->pub);
    ike_w_nonce(&w, r->nonce, sizeof r->nonce);
    return ike_w_finish(&w, &len) == IKE_OK ? len : 0;
}

int main(int argc, char **argv)
{
    uint8_t buf[1024];
    int n, responses = 0, cookies = 0, made = 0, refused = 0;
    int timeout = 10000, zero = 0, one = 1, invalid = 0;
    bool answer_cookies = false;
    struct req *reqs;
    void *ctx, *s;

    if (argc < 3 || argc > 5 || (n = atoi(argv[2])) <= 0 ||
        (argc >= 4 && (timeout = atoi(argv[3])) <= 0) ||
        (argc == 5 && strcmp(argv[4], "cookies") != 0 &&
         strcmp(argv[4], "malformed") != 0 &&
         strcmp(argv[4], "weak") != 0) ||
        sodium_init() < 0 || (reqs = calloc((size_t)n, sizeof *reqs)) == NULL)
        return 2;
    malformed = argc == 5 && strcmp(argv[4], "malformed") == 0;
    weak = argc == 5 && strcmp(argv[4], "weak") == 0;
    answer_cookies = argc == 5 && !malformed;
    ctx = zmq_ctx_new();
    s = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_IPV6, &one, sizeof one);
    if (zmq_connect(s, argv[1]) != 0)
        return 1;
    for (int i = 0; i < n; i++) {
        uint8_t priv[32];
        size_t len;

        randombytes_buf(reqs[i].spi, 8);
        randombytes_buf(reqs[i].nonce, 32);
        randombytes_buf(priv, sizeof priv);
        if (weak)
            memset(reqs[i].pub, 0, sizeof reqs[i].pub);
        else
            crypto_scalarmult_base(reqs[i].pub, priv);
        if ((len = build(&reqs[i], NULL, 0, buf, sizeof buf)) == 0 ||
            zmq_send(s, buf, len, 0) < 0)
            return 1;
    }
    while (responses < n) {
        struct ike_message m;
        struct ike_notify note;
        int got = zmq_recv(s, buf, sizeof buf, 0);
        bool cookie;

        if (got < 0)
            break;
        if (ike_parse(buf, (size_t)got, &m) != IKE_OK) {
            responses++;
            continue;
        }
        cookie = ike_find_notify(&m, IKE_N_COOKIE, &note);
        cookies += cookie;
        if (cookie && answer_cookies) {
            uint8_t c[64], out[1024];
            size_t clen = note.len < sizeof c ? note.len : sizeof c, len;

            memcpy(c, note.data, clen);
            for (int i = 0; i < n; i++)
                if (memcmp(reqs[i].spi, m.hdr.spi_i, 8) == 0 &&
                    (len = build(&reqs[i], c, clen, out, sizeof out)) != 0 &&
                    zmq_send(s, out, len, 0) < 0)
                    return 1;
            continue;
        }
        responses++;
        made += ike_find(&m, IKE_PL_KE) != NULL;
        refused += ike_error_notify(&m) == IKE_N_TEMPORARY_FAILURE;
        invalid += ike_error_notify(&m) == IKE_N_INVALID_SYNTAX;
    }
    printf("sent %d, responses %d, cookies %d, half-open %d, refused %d, "
           "invalid %d\n", n, responses, cookies, made, refused, invalid);
    free(reqs);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return 0;
}
