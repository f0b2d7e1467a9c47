/*
 * The RFC 4303 packet: RFC 7634 Appendix A reproduced byte for byte, the
 * raw ESP API with other Next Header values, padding rules, and ESN in the
 * associated data.
 */
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "keys.h"
#include "packet.h"
#include "rfc7634_vectors.h"
#include "test.h"
#include "transform.h"

static void kat_key(struct sa_key *k, uint32_t transform)
{
    memset(k, 0, sizeof *k);
    memcpy(k->key, zesp_kat7634_key, sizeof k->key);
    memcpy(k->salt, zesp_kat7634_salt, sizeof k->salt);
    transform_expand_key(transform_find(transform), k);
}

static uint64_t kat_iv(void)
{
    uint64_t iv = 0;

    for (int i = 0; i < 8; i++)
        iv = iv << 8 | zesp_kat7634_iv[i];
    return iv;
}

/* RFC 7634 Appendix A: seal the example's payload, get the example's ESP
 * packet, byte for byte; open it back. */
static void test_rfc7634_appendix_a(void)
{
    struct sa_key k;
    struct esp_crypto ec = { transform_find(ZESP_CHACHA20_POLY1305), &k,
                             false, AEAD_AUTO };
    uint8_t pkt[512];
    size_t plen;
    uint8_t nh;

    kat_key(&k, ZESP_CHACHA20_POLY1305);
    CHECK(zesp_kat7634_esp_len <= sizeof pkt);
    memcpy(pkt + ZESP_HEADERBYTES, zesp_kat7634_payload,
           zesp_kat7634_payload_len);
    CHECK(esp_seal(&ec, zesp_kat7634_spi, zesp_kat7634_seq, kat_iv(), pkt,
                   zesp_kat7634_payload_len, zesp_kat7634_pad_len,
                   zesp_kat7634_next_header) == 0);
    CHECK(memcmp(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len) == 0);

    memcpy(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len);
    CHECK(esp_open(&ec, zesp_kat7634_seq, pkt, zesp_kat7634_esp_len, &plen,
                   &nh) == 0);
    CHECK(plen == zesp_kat7634_payload_len);
    CHECK(nh == zesp_kat7634_next_header);
    CHECK(memcmp(pkt + ZESP_HEADERBYTES, zesp_kat7634_payload, plen) == 0);
}

/* The same example through the public API and a real SA. */
static void test_rfc7634_through_the_sad(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    uint8_t pkt[512], *payload;
    size_t plen;
    uint8_t nh;
    uint32_t spi;
    uint64_t seq;

    memset(&p, 0, sizeof p);
    p.spi = zesp_kat7634_spi;
    p.direction = ZESP_DIR_IN;
    p.transform = ZESP_CHACHA20_POLY1305;
    p.flags = ZESP_SA_NO_ESN;
    memcpy(p.key, zesp_kat7634_key, 32);
    memcpy(p.key + 32, zesp_kat7634_salt, 4);
    CHECK_OK(zesp_sa_add(sad, &p));
    memcpy(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len);
    CHECK_OK(zesp_esp_decrypt(sad, pkt, zesp_kat7634_esp_len, &payload, &plen,
                              &nh, &spi, &seq));
    CHECK(spi == zesp_kat7634_spi && seq == zesp_kat7634_seq);
    CHECK(nh == zesp_kat7634_next_header);
    CHECK(plen == zesp_kat7634_payload_len &&
          memcmp(payload, zesp_kat7634_payload, plen) == 0);
    memcpy(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len);
    CHECK_ERR(zesp_esp_decrypt(sad, pkt, zesp_kat7634_esp_len, &payload,
                               &plen, &nh, &spi, &seq),
              ZESP_EREPLAY);
    zesp_sad_free(sad);
}

/* Raw ESP round trips for every transform, payload length and Next
 * Header; lengths always a multiple of four. */
static void test_raw_roundtrip(void)
{
    uint8_t data[300], pkt[400], *payload;
    size_t n, plen;
    uint8_t nh;

    randombytes_buf(data, sizeof data);
    for (size_t t = 0; t < TEST_NTRANSFORMS; t++)
        for (uint32_t esn = 0; esn < 2; esn++) {
            zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
            CHECK_OK(test_sa_pair(out, in, 9, test_transforms[t],
                                  esn ? 0 : ZESP_SA_NO_ESN));
            for (size_t len = 0; len <= 260; len++) {
                CHECK(zesp_esp_bytes(len) % 4 == 0);
                CHECK(zesp_esp_bytes(len) - len - 34 < 4);
                CHECK_OK(zesp_esp_encrypt(out, 9, data, len, (uint8_t)len,
                                          pkt, &n));
                CHECK(n == zesp_esp_bytes(len));
                CHECK_OK(zesp_esp_decrypt(in, pkt, n, &payload, &plen, &nh,
                                          NULL, NULL));
                CHECK(plen == len && nh == (uint8_t)len);
                CHECK(len == 0 || memcmp(payload, data, len) == 0);
            }
            zesp_sad_free(out);
            zesp_sad_free(in);
        }
}

/* An SA replaced while a frame is sealed under it: zesp_esp_encrypt says
 * ENOSA and leaves no frame in out.  Such a frame would carry a sequence
 * number of the old SA under the new one's key, whose own counter reaches
 * that number later: one nonce twice, if a caller sent it anyway.  out is
 * filled with 0xaa before each call; after ENOSA it must hold 0xaa (the
 * SA was gone before anything was written) or zeros (the seal was wiped),
 * never a header.  The SA is deleted and added again, as fast as it goes,
 * until enough calls have met the replacement mid-seal. */
struct churn {
    zesp_sad *sad;
    atomic_int stop;
};

static void *churn_sa(void *arg)
{
    struct churn *c = arg;
    zesp_sa_params p = test_sa(0x5eed, ZESP_DIR_OUT, ZESP_AES256GCM, 0);

    while (!atomic_load(&c->stop)) {
        zesp_sa_del(c->sad, p.spi, ZESP_DIR_OUT);
        p.key[0]++;
        if (zesp_sa_add(c->sad, &p) != 0)
            break;
    }
    return NULL;
}

static void test_encrypt_while_the_sa_is_replaced(void)
{
    static uint8_t data[16384], pkt[16384 + 64];
    struct churn c = { .sad = zesp_sad_new(NULL) };
    zesp_sa_params p = test_sa(0x5eed, ZESP_DIR_OUT, ZESP_AES256GCM, 0);
    unsigned mid_seal = 0, headers = 0;
    pthread_t t;
    size_t n;
    const size_t plen = zesp_esp_bytes(sizeof data);
    const double end = test_now() + test_ms(60000) / 1000.0;

    CHECK(c.sad != NULL);
    CHECK_OK(zesp_sa_add(c.sad, &p));
    randombytes_buf(data, sizeof data);
    CHECK(pthread_create(&t, NULL, churn_sa, &c) == 0);
    while (mid_seal < 20 && test_now() < end) {
        bool all_aa = true, all_zero = true;

        memset(pkt, 0xaa, plen);
        if (zesp_esp_encrypt(c.sad, 0x5eed, data, sizeof data, 4, pkt, &n)
            == 0 || errno != ZESP_ENOSA)
            continue;
        for (size_t i = 0; i < plen; i++) {
            all_aa = all_aa && pkt[i] == 0xaa;
            all_zero = all_zero && pkt[i] == 0;
        }
        if (!all_aa)
            mid_seal++;
        if (!all_aa && !all_zero)
            headers++;
    }
    atomic_store(&c.stop, 1);
    pthread_join(t, NULL);
    printf("# %u calls met the replacement mid-seal, %u left a frame\n",
           mid_seal, headers);
    CHECK(mid_seal >= 20);
    CHECK(headers == 0);
    zesp_sad_free(c.sad);
}

/* Seal a hand-made plaintext (payload, padding, trailer) as-is. */
static size_t seal_plaintext(const struct esp_crypto *ec, uint8_t *pkt,
                             const uint8_t *plain, size_t clen, uint32_t seq)
{
    struct aead_piece m = { plain, clen };
    uint8_t nonce[NONCE_BYTES], ad[8];

    store_be32(pkt, 1);
    store_be32(pkt + 4, seq);
    store_be64(pkt + 8, seq);
    memcpy(nonce, ec->k->salt, 4);
    memcpy(nonce + 4, pkt + 8, 8);
    memcpy(ad, pkt, 8);
    transform_seal(ec->t, ec->k, ec->backend, pkt + 16, pkt + 16 + clen, &m,
                   1, ad, sizeof ad, nonce);
    return 16 + clen + 16;
}

/* A packet whose ICV is good but whose padding is wrong is refused. */
static void test_padding_checked(void)
{
    static const struct { const char *plain; size_t len; int want; } rows[] = {
        { "abcdefgh\x01\x02\x02\x04", 12, 0 },              /* pad 1,2 */
        { "abcdefgh\x01\x03\x02\x04", 12, ZESP_EMALFORMED }, /* pad 1,3 */
        { "abcdef\x03\x03\x03\x03\x04\x04", 12, ZESP_EMALFORMED },
        { "ab\x01\x02\x03\x04\x05\x06\x07\x08\x08\x04", 12, 0 },
        { "ab\x0b\x04", 4, ZESP_EMALFORMED },   /* pad longer than data */
    };
    struct sa_key k;
    struct esp_crypto ec = { transform_find(ZESP_CHACHA20_POLY1305), &k,
                             false, AEAD_AUTO };
    uint8_t pkt[64];
    size_t plen;
    uint8_t nh;

    kat_key(&k, ZESP_CHACHA20_POLY1305);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        size_t n = seal_plaintext(&ec, pkt, (const uint8_t *)rows[i].plain,
                                  rows[i].len, (uint32_t)i + 1U);
        CHECK(esp_open(&ec, i + 1U, pkt, n, &plen, &nh) == rows[i].want);
    }
}

/* The raw API: a packet whose ICV is good and whose padding is not is
 * refused, and zesp_esp_decrypt, which works in place, leaves none of
 * the plaintext in the caller's buffer. */
static void test_padding_refused_leaves_no_plaintext(void)
{
    static const char plain[] = "attack at dawn!!\x01\x03\x02\x04";
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    struct sa_key k;
    struct esp_crypto ec = { transform_find(ZESP_CHACHA20_POLY1305), &k,
                             false, AEAD_SODIUM };
    uint8_t pkt[64], *payload = NULL, nh = 0;
    size_t n, plen = 0;
    int visible = 0;

    CHECK(sad != NULL);
    if (sad == NULL)
        return;
    memset(&p, 0, sizeof p);
    p.spi = 1;
    p.direction = ZESP_DIR_IN;
    p.transform = ZESP_CHACHA20_POLY1305;
    p.flags = ZESP_SA_NO_ESN;
    memcpy(p.key, zesp_kat7634_key, 32);
    memcpy(p.key + 32, zesp_kat7634_salt, 4);
    CHECK_OK(zesp_sa_add(sad, &p));
    kat_key(&k, ZESP_CHACHA20_POLY1305);
    n = seal_plaintext(&ec, pkt, (const uint8_t *)plain, sizeof plain - 1U,
                       1);
    CHECK_ERR(zesp_esp_decrypt(sad, pkt, n, &payload, &plen, &nh, NULL, NULL),
              ZESP_EMALFORMED);
    CHECK(payload == NULL && plen == 0);
    for (size_t i = 0; i + 6U <= n; i++)
        visible |= memcmp(pkt + i, "attack", 6U) == 0;
    CHECK(!visible);
    sodium_memzero(&k, sizeof k);
    sodium_memzero(&p, sizeof p);
    zesp_sad_free(sad);
}

/* With ESN the high half of the sequence number is authenticated: the same
 * bytes opened as another epoch fail. */
static void test_esn_in_aad(void)
{
    struct sa_key k;
    struct esp_crypto esn = { transform_find(ZESP_AES256GCM), &k, true,
                              AEAD_AUTO };
    uint8_t pkt[64];
    size_t plen;
    uint8_t nh;
    uint64_t seq = (UINT64_C(7) << 32) | 5U;

    if (!zesp_transform_available(ZESP_AES256GCM))
        esn.t = transform_find(ZESP_CHACHA20_POLY1305);
    kat_key(&k, esn.t->id);
    memcpy(pkt + ZESP_HEADERBYTES, "payload", 7);
    CHECK(esp_seal(&esn, 1, seq, seq, pkt, 7, esp_pad_len(7), 59) == 0);
    CHECK(load_be32(pkt + 4) == 5U);
    uint8_t copy[64];
    memcpy(copy, pkt, sizeof copy);
    CHECK(esp_open(&esn, seq - (UINT64_C(1) << 32), copy, esp_packet_len(7),
                   &plen, &nh) == ZESP_EICV);
    struct esp_crypto plain = esn;
    plain.esn = false;
    memcpy(copy, pkt, sizeof copy);
    CHECK(esp_open(&plain, 5, copy, esp_packet_len(7), &plen, &nh) ==
          ZESP_EICV);
    CHECK(esp_open(&esn, seq, pkt, esp_packet_len(7), &plen, &nh) == 0);
}

/*
 * The NULL transforms with ESN (RFC 4543 3.3 and 5): the associated data is
 * SPI | Seq high | Seq low | IV | payload, padding, trailer.  The ICV is
 * checked against libsodium called directly on that layout, built apart;
 * opening (good or tampered) leaves the packet as it was.
 */
static void test_null_esn_layout(void)
{
    static const uint32_t nulls[] = { ZESP_NULL_AES256GMAC,
                                      ZESP_NULL_CHACHA20_POLY1305 };
    uint64_t seq = (UINT64_C(3) << 32) | 9U;
    size_t len = 301, clen = len + esp_pad_len(len) + 2U;

    for (size_t t = 0; t < 2; t++) {
        struct sa_key k;
        struct esp_crypto ec = { transform_find(nulls[t]), &k, true,
                                 AEAD_AUTO };
        uint8_t pkt[400], copy[400], aad[400], nonce[NONCE_BYTES], mac[16];
        size_t n = esp_packet_len(len), plen;
        uint8_t nh;

        if (!transform_usable(ec.t))
            continue;
        kat_key(&k, nulls[t]);
        randombytes_buf(pkt + ZESP_HEADERBYTES, len);
        CHECK(esp_seal(&ec, 0x4543, seq, seq, pkt, len, esp_pad_len(len),
                       59) == 0);
        /* The layout, built apart from the packet. */
        memcpy(aad, pkt, 4);
        store_be32(aad + 4, (uint32_t)(seq >> 32));
        memcpy(aad + 8, pkt + 4, ZESP_HEADERBYTES - 4U + clen);
        memcpy(nonce, k.salt, 4);
        memcpy(nonce + 4, pkt + 8, 8);
        if (ec.t->aes)
            crypto_aead_aes256gcm_encrypt_detached(
                copy, mac, NULL, copy, 0, aad, ZESP_HEADERBYTES + 4U + clen,
                NULL, nonce, k.key);
        else
            crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                copy, mac, NULL, copy, 0, aad, ZESP_HEADERBYTES + 4U + clen,
                NULL, nonce, k.key);
        CHECK(memcmp(pkt + n - 16U, mac, 16) == 0);
        /* The payload travels in the clear. */
        CHECK(load_be32(pkt) == 0x4543 && load_be32(pkt + 4) == 9U);
        memcpy(copy, pkt, n);
        CHECK(esp_open(&ec, seq, pkt, n, &plen, &nh) == 0);
        CHECK(plen == len && nh == 59 && memcmp(pkt, copy, n) == 0);
        /* A flipped bit in the ICV's first bytes (where the high half is
         * put meanwhile), and the packet is still as it came. */
        pkt[n - 16U] ^= 1;
        memcpy(copy, pkt, n);
        CHECK(esp_open(&ec, seq, pkt, n, &plen, &nh) == ZESP_EICV);
        CHECK(memcmp(pkt, copy, n) == 0);
    }
}

/* The worked example of doc/wire-format.md, checked there with an
 * independent implementation: a zesp message, byte for byte. */
static void test_wire_format_example(void)
{
    static const uint8_t want[76] = {
        0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x91, 0x7d, 0x89, 0xdc, 0x75, 0x0c, 0x0b, 0xc7,
        0xae, 0x38, 0x4a, 0xed, 0x5f, 0xc0, 0xee, 0x2b, 0x52, 0xad, 0xaa, 0xe9,
        0x3b, 0xa3, 0x65, 0xba, 0x5d, 0x46, 0x5f, 0xd2, 0x58, 0xbd, 0x59, 0x75,
        0xe4, 0x7b, 0x57, 0xed, 0x1a, 0x97, 0xd3, 0x2b, 0xc5, 0xc8, 0x24, 0x47,
        0x69, 0xa4, 0x43, 0xbd, 0x1a, 0xca, 0x40, 0x9e, 0x2f, 0x5c, 0xf1, 0xc0,
        0x62, 0x5d, 0x83, 0x5f,
    };
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_frame clear = { "prices", 6 }, body = { "hello", 5 };
    zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                         .nbody = 1 };
    uint8_t *esp;
    size_t n;

    memset(&p, 0, sizeof p);
    p.spi = 0x1000;
    p.direction = ZESP_DIR_OUT;
    p.transform = ZESP_CHACHA20_POLY1305;
    for (unsigned i = 0; i < ZESP_KEYBYTES; i++)
        p.key[i] = (uint8_t)i;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_seal(sad, 0x1000, &parts, &esp, &n));
    CHECK(n == sizeof want && memcmp(esp, want, n) == 0);
    zesp_buf_free(esp);
    zesp_sad_free(sad);
}

int main(void)
{
    if (zesp_init() != 0)
        return 2;
    RUN(test_rfc7634_appendix_a);
    RUN(test_rfc7634_through_the_sad);
    RUN(test_raw_roundtrip);
    RUN(test_padding_checked);
    RUN(test_padding_refused_leaves_no_plaintext);
    RUN(test_esn_in_aad);
    RUN(test_null_esn_layout);
    RUN(test_wire_format_example);
    RUN(test_encrypt_while_the_sa_is_replaced);
    return test_done();
}
