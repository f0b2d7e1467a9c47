/*
 * The IKEv2 message codec: an IKE_SA_INIT request written and read back
 * field by field; a table of broken messages, each refused for its own
 * reason; every truncation of a good message refused.  With a directory
 * argument, also writes that request into DIR/ike_sa_init.pcap for
 * tests/test_ike_tshark.sh to have Wireshark decode it.
 */
#include <sodium.h>

#include "ikev2.h"
#include "pcap.h"
#include "test.h"

static uint8_t good[1024];
static size_t good_len;
static uint8_t ke_pub[32], nonce[32];

static size_t sa_init(uint8_t *buf, size_t cap)
{
    struct ike_header h = { .exchange = IKE_SA_INIT,
                            .flags = IKE_FLAG_INITIATOR };
    struct ike_sa_payload sa = { .nproposals = 2 };
    struct ike_writer w;
    size_t len = 0;

    memcpy(h.spi_i, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    sa.proposals[0] = (struct ike_proposal){
        .number = 1, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                        { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                        { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
    sa.proposals[1] = (struct ike_proposal){
        .number = 2, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_AES_GCM_16, 256 },
                        { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                        { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
    ike_w_init(&w, buf, cap, &h);
    ike_w_sa(&w, &sa);
    ike_w_ke(&w, IKE_DH_CURVE25519, ke_pub, sizeof ke_pub);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_notify(&w, 0, 16388 /* NAT_DETECTION_SOURCE_IP */, NULL, 0,
                 nonce, 20);
    return ike_w_finish(&w, &len) == IKE_OK ? len : 0;
}

static void test_sa_init_roundtrip(void)
{
    struct ike_message m;
    struct ike_sa_payload sa;
    struct ike_ke ke;
    struct ike_notify n;
    const uint8_t *np;
    size_t nlen;

    CHECK(good_len > IKE_HEADER_BYTES);
    CHECK(ike_parse(good, good_len, &m) == IKE_OK);
    CHECK(m.hdr.exchange == IKE_SA_INIT && m.hdr.version == IKE_VERSION);
    CHECK(m.hdr.flags == IKE_FLAG_INITIATOR && m.hdr.message_id == 0);
    CHECK(m.hdr.length == good_len && m.npayloads == 4);
    CHECK(m.payloads[0].type == IKE_PL_SA && m.payloads[1].type == IKE_PL_KE);
    CHECK(ike_parse_sa(ike_find(&m, IKE_PL_SA), &sa) == IKE_OK);
    CHECK(sa.nproposals == 2 && sa.proposals[1].ntransforms == 3);
    CHECK(sa.proposals[0].transforms[0].id == IKE_ENCR_CHACHA20_POLY1305);
    CHECK(sa.proposals[1].transforms[0].key_bits == 256);
    CHECK(sa.proposals[1].transforms[2].type == IKE_TT_DH &&
          sa.proposals[1].transforms[2].id == IKE_DH_CURVE25519);
    CHECK(ike_parse_ke(ike_find(&m, IKE_PL_KE), &ke) == IKE_OK);
    CHECK(ke.group == IKE_DH_CURVE25519 && ke.len == 32 &&
          memcmp(ke.data, ke_pub, 32) == 0);
    CHECK(ike_parse_nonce(ike_find(&m, IKE_PL_NONCE), &np, &nlen) == IKE_OK);
    CHECK(nlen == 32 && memcmp(np, nonce, 32) == 0);
    CHECK(ike_parse_notify(ike_find(&m, IKE_PL_NOTIFY), &n) == IKE_OK);
    CHECK(n.type == 16388 && n.len == 20 && n.spi_size == 0);
}

/* Broken messages: each refused, each for its own reason. */
static void test_broken_messages(void)
{
    static const struct {
        const char *what;
        size_t at;        /* byte to change */
        uint8_t value;
        int want;
    } rows[] = {
        { "major version 3", 17, 0x30, IKE_EVERSION },
        { "major version 1", 17, 0x10, IKE_EVERSION },
        { "length above the message", 27, 0xff, IKE_ETRUNCATED },
        { "length below the message", 27, 0x20, IKE_ELENGTH },
        { "first payload length 3", 31, 3, IKE_ELENGTH },
        { "first payload overruns", 30, 0x7f, IKE_ETRUNCATED },
        { "unknown critical payload", 16, 200, IKE_ECRITICAL },
    };
    struct ike_message m;
    uint8_t buf[1024];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        memcpy(buf, good, good_len);
        buf[rows[i].at] = rows[i].value;
        if (rows[i].want == IKE_ECRITICAL)
            buf[IKE_HEADER_BYTES + 1] = 0x80;
        int got = ike_parse(buf, good_len, &m);
        if (got != rows[i].want)
            fprintf(stderr, "  %s: want %s, got %s\n", rows[i].what,
                    ike_strerror(rows[i].want), ike_strerror(got));
        CHECK(got == rows[i].want);
    }
    /* An unknown payload not marked critical is skipped (RFC 7296 2.5). */
    memcpy(buf, good, good_len);
    buf[16] = 200;
    buf[IKE_HEADER_BYTES + 1] = 0;
    CHECK(ike_parse(buf, good_len, &m) == IKE_OK);
    CHECK(m.npayloads == 3 && m.payloads[0].type == IKE_PL_KE);
    CHECK(ike_parse(buf, IKE_MAX_MESSAGE + 1, &m) == IKE_ETOOBIG);
}

/* Every truncation of a good message is refused, none read past the end. */
static void test_truncations(void)
{
    struct ike_message m;

    for (size_t n = 0; n < good_len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, good, n);
        /* The header says the full length: always truncated. */
        CHECK(ike_parse(copy, n, &m) != IKE_OK);
        free(copy);
    }
}

/* SA payloads that lie about their proposals and transforms. */
static void test_bad_sa_payloads(void)
{
    struct ike_message m;
    struct ike_sa_payload sa;
    uint8_t buf[1024];
    size_t sa_at = IKE_HEADER_BYTES + IKE_PAYLOAD_HEADER_BYTES;

    memcpy(buf, good, good_len);
    buf[sa_at + 7] = 9;                  /* transform count too high */
    CHECK(ike_parse(buf, good_len, &m) == IKE_OK);
    CHECK(ike_parse_sa(&m.payloads[0], &sa) != IKE_OK);
    memcpy(buf, good, good_len);
    buf[sa_at] = 7;                      /* "last proposal" must be 0 or 2 */
    CHECK(ike_parse(buf, good_len, &m) == IKE_OK);
    CHECK(ike_parse_sa(&m.payloads[0], &sa) == IKE_ESYNTAX);
    memcpy(buf, good, good_len);
    buf[sa_at + 6] = 200;                /* SPI size beyond the payload */
    CHECK(ike_parse(buf, good_len, &m) == IKE_OK);
    CHECK(ike_parse_sa(&m.payloads[0], &sa) != IKE_OK);
}

/* The writer refuses to overrun its buffer, and says so at the end. */
static void test_writer_bounds(void)
{
    uint8_t small[60];
    size_t len;

    CHECK(sa_init(small, sizeof small) == 0);
    struct ike_header h = { .exchange = IKE_INFORMATIONAL };
    struct ike_writer w;
    ike_w_init(&w, small, sizeof small, &h);
    ike_w_nonce(&w, nonce, 32);
    CHECK(ike_w_finish(&w, &len) == IKE_ENOSPACE);
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 2;
    randombytes_buf(ke_pub, sizeof ke_pub);
    randombytes_buf(nonce, sizeof nonce);
    good_len = sa_init(good, sizeof good);
    if (argc == 2) {
        char path[4096];
        FILE *f;
        /* The raw message too: a seed for the ike_message fuzz target. */
        snprintf(path, sizeof path, "%s/ike_sa_init.bin", argv[1]);
        if ((f = fopen(path, "wb")) == NULL ||
            fwrite(good, 1, good_len, f) != good_len || fclose(f) != 0)
            return 1;
        snprintf(path, sizeof path, "%s/ike_sa_init.pcap", argv[1]);
        return pcap_write_udp(path, good, good_len) == 0 ? 0 : 1;
    }
    RUN(test_sa_init_roundtrip);
    RUN(test_broken_messages);
    RUN(test_truncations);
    RUN(test_bad_sa_payloads);
    RUN(test_writer_bounds);
    return test_done();
}
