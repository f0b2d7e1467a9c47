/*
 * Source MACs on group SAs (doc/wire-format.md 9.7): pairwise keys from
 * the members' identity keys, one tag per receiver, each receiver checking
 * its own; and for both ways of proving the source (MACs, signatures) a
 * member holding the group key cannot pass off a message as another
 * member's to a third, over a real socket.
 */
#include <dlfcn.h>
#include <sodium.h>
#include <zmq.h>

#include "keys.h"
#include "packet.h"
#include "test.h"
#include "zesp.h"

#define SPI_KAT 0x00002002U
#define SPI_G 0x7001U
#define NH_SOURCE 254U
#define X_ID 4U          /* the sender */
#define Y_ID 5U          /* a receiver */
#define Z_ID 6U          /* another member, the forger */
#define ENTRY 18U

/* A member's identity: Ed25519 from a seed of 32 consecutive octets. */
static void member_keys(uint32_t id, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[32];

    for (unsigned i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(0x40U + (id - X_ID) * 0x20U + i);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void keymat(uint8_t key[ZESP_KEYBYTES])
{
    for (unsigned i = 0; i < ZESP_KEYBYTES; i++)
        key[i] = (uint8_t)i;
}

/* X's outbound SA, as member `as` (X itself, or a forger claiming X's
 * Sender ID with its own identity key), to the receivers listed. */
static zesp_sa_params mac_out(uint32_t spi, uint32_t transform, uint32_t as,
                              const uint32_t *rx, uint32_t n)
{
    zesp_sa_params p = test_sa(spi, ZESP_DIR_OUT, transform,
                               ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC);
    uint8_t pk[32], sk[64];

    keymat(p.key);
    p.sender_id = X_ID;
    member_keys(as, pk, sk);
    p.mac_count = n;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t rpk[32], rsk[64];
        member_keys(rx[i], rpk, rsk);
        p.mac_id[i] = rx[i];
        if (zesp_source_mac_key(p.mac_key[i], sk, rpk, 1, spi, X_ID, rx[i],
                                p.key) != 0)
            p.mac_count = 0;
    }
    sodium_memzero(sk, sizeof sk);
    return p;
}

/* Receiver `me`'s window for sender X. */
static zesp_sa_params mac_in(uint32_t spi, uint32_t transform, uint32_t me)
{
    zesp_sa_params p = test_sa(spi, ZESP_DIR_IN, transform,
                               ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC);
    uint8_t xpk[32], xsk[64], pk[32], sk[64];

    keymat(p.key);
    p.sender_id = X_ID;
    member_keys(X_ID, xpk, xsk);
    member_keys(me, pk, sk);
    p.mac_count = 1;
    p.mac_id[0] = me;
    if (zesp_source_mac_key(p.mac_key[0], sk, xpk, 0, spi, X_ID, me,
                            p.key) != 0)
        p.mac_count = 0;
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(xsk, sizeof xsk);
    return p;
}

/* The key from X to Y computed from the definition, not the library. */
static void key_as_documented(uint8_t out[32], uint32_t spi)
{
    uint8_t xpk[32], xsk[64], ypk[32], ysk[64], a[32], b[32], dh[32];
    uint8_t in[17 + 32 + 32 + 12 + 36], *p = in;

    member_keys(X_ID, xpk, xsk);
    member_keys(Y_ID, ypk, ysk);
    if (crypto_sign_ed25519_sk_to_curve25519(a, ysk) != 0 ||
        crypto_sign_ed25519_pk_to_curve25519(b, xpk) != 0 ||
        crypto_scalarmult(dh, a, b) != 0)
        memset(dh, 0, sizeof dh);
    memcpy(p, "zesp source mac 1", 17);
    p += 17;
    memcpy(p, xpk, 32);
    memcpy(p + 32, ypk, 32);
    p += 64;
    store_be32(p, spi);
    store_be32(p + 4, X_ID);
    store_be32(p + 8, Y_ID);
    keymat(p + 12);
    crypto_generichash(out, 32, in, sizeof in, dh, sizeof dh);
}

/* The KEYMAT, and the nonce and AAD of the frame's header (ESN, sequence
 * number < 2^32), as RFC 7634 makes them. */
static void frame_crypto(const uint8_t *esp, uint8_t key[36],
                         uint8_t nonce[12], uint8_t ad[12])
{
    keymat(key);
    memcpy(nonce, key + 32, 4);
    memcpy(nonce + 4, esp + 8, 8);
    memcpy(ad, esp, 4);
    store_be32(ad + 4, 0);
    memcpy(ad + 8, esp + 4, 4);
}

/* Decrypt a ChaCha20-Poly1305 ESN frame of sequence number < 2^32 with
 * the KEYMAT into m (the ESP payload, trailer included); its length. */
static size_t decrypt_raw(const uint8_t *esp, size_t n, uint8_t *m)
{
    uint8_t key[36], nonce[12], ad[12];

    frame_crypto(esp, key, nonce, ad);
    if (n < 34 || crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                      m, NULL, esp + 16, n - 32, esp + n - 16, ad, sizeof ad,
                      nonce, key) != 0)
        return 0;
    return n - 32;
}

/* Encrypt m back into the frame (same header): what any member can do. */
static void encrypt_raw(uint8_t *esp, size_t n, const uint8_t *m)
{
    uint8_t key[36], nonce[12], ad[12];

    frame_crypto(esp, key, nonce, ad);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        esp + 16, esp + n - 16, NULL, m, n - 32, ad, sizeof ad, NULL, nonce,
        key);
}

/* Y's entry in a decrypted payload checks out per the definition. */
static bool mac_as_documented(const uint8_t *esp, size_t n)
{
    uint8_t m[512], k[32], tag[16], nonce[12] = { 0 }, pre[512];
    size_t len = decrypt_raw(esp, n, m), count, plen;

    if (len == 0 || len > sizeof m || m[len - 1] != NH_SOURCE)
        return false;
    len -= 2U + m[len - 2];
    count = (size_t)m[len - 2] << 8 | m[len - 1];
    if (len < 2 + count * ENTRY)
        return false;
    plen = len - 2 - count * ENTRY;
    key_as_documented(k, load_be32(esp));
    store_be32(pre, load_be32(esp));
    store_be32(pre + 4, X_ID);
    store_be32(pre + 8, 0);
    memcpy(pre + 12, esp + 4, 4);
    memcpy(pre + 16, m, plen);
    memcpy(nonce + 8, esp + 4, 4);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        m + 500, tag, NULL, NULL, 0, pre, 16 + plen, NULL, nonce, k);
    for (size_t i = 0; i < count; i++) {
        const uint8_t *e = m + plen + i * ENTRY;
        if (((uint32_t)e[0] << 8 | e[1]) == Y_ID)
            return sodium_memcmp(e + 2, tag, 16) == 0;
    }
    return false;
}

static bool equals_hex(const uint8_t *b, size_t n, const char *hex)
{
    char s[2 * 512 + 1];

    if (n > 512)
        return false;
    sodium_bin2hex(s, sizeof s, b, n);
    if (getenv("ZESP_PRINT_KAT") != NULL)
        printf("# %s\n", s);
    return strcmp(s, hex) == 0;
}

static const zesp_frame prices = { "prices", 6 };

static int seal_kat(zesp_sad *sad, uint32_t spi, uint8_t **out, size_t *n)
{
    zesp_frame clear = { "prices", 6 }, body = { "hello", 5 };
    zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                         .nbody = 1 };

    return zesp_seal(sad, spi, &parts, out, n);
}

/* Both ends derive one key per direction; nobody else derives it. */
static void test_key_derivation(void)
{
    uint8_t xpk[32], xsk[64], ypk[32], ysk[64], zpk[32], zsk[64];
    uint8_t km[36], kxy[32], kyx[32], k2[32], kdoc[32];

    keymat(km);
    member_keys(X_ID, xpk, xsk);
    member_keys(Y_ID, ypk, ysk);
    member_keys(Z_ID, zpk, zsk);
    CHECK_OK(zesp_source_mac_key(kxy, xsk, ypk, 1, SPI_KAT, X_ID, Y_ID, km));
    CHECK_OK(zesp_source_mac_key(k2, ysk, xpk, 0, SPI_KAT, X_ID, Y_ID, km));
    CHECK(memcmp(kxy, k2, 32) == 0);
    key_as_documented(kdoc, SPI_KAT);
    CHECK(memcmp(kxy, kdoc, 32) == 0);
    CHECK_OK(zesp_source_mac_key(kyx, ysk, xpk, 1, SPI_KAT, Y_ID, X_ID, km));
    CHECK(memcmp(kxy, kyx, 32) != 0);
    /* Z, claiming X's ID, with its own identity key. */
    CHECK_OK(zesp_source_mac_key(k2, zsk, ypk, 1, SPI_KAT, X_ID, Y_ID, km));
    CHECK(memcmp(kxy, k2, 32) != 0);
    /* Another group SA (SPI, or KEYMAT of the next generation). */
    CHECK_OK(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT + 1, X_ID, Y_ID, km));
    CHECK(memcmp(kxy, k2, 32) != 0);
    km[0] ^= 1;
    CHECK_OK(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT, X_ID, Y_ID, km));
    CHECK(memcmp(kxy, k2, 32) != 0);
    CHECK_ERR(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT, X_ID, X_ID, km),
              EINVAL);
    CHECK_ERR(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT, 0, Y_ID, km),
              EINVAL);
    CHECK_ERR(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT, X_ID, 0x10000, km),
              EINVAL);
    xsk[40] ^= 1;        /* halves that disagree */
    CHECK_ERR(zesp_source_mac_key(k2, xsk, ypk, 1, SPI_KAT, X_ID, Y_ID, km),
              EINVAL);
    memset(ypk, 0, sizeof ypk);   /* a low-order point */
    CHECK_ERR(zesp_source_mac_key(k2, ysk, ypk, 1, SPI_KAT, Y_ID, X_ID, km),
              EINVAL);
    CHECK(sodium_is_zero(k2, sizeof k2));
}

/* doc/wire-format.md 9.7: the frame, and Y's tag recomputed here. */
#define KAT_FRAME \
    "0000200200000001000400000000000182f35520deeec702568c2ca7e35f7044" \
    "0fb7beeaf20c827c9b9fcd6290de419ed216afb717e2400e7e569bfc95433b69" \
    "7455fed8119d65b1629a70a2f3fdaacc52f39887ac74fffc8eb9fa682fdd51a0" \
    "b023920f93d459e8674de57c7a0dd21555538946"

static void test_known_answer(void)
{
    static const uint32_t rx[] = { Y_ID, Z_ID };
    zesp_sad *tx = zesp_sad_new(NULL), *ry = zesp_sad_new(NULL);
    zesp_sa_params p = mac_out(SPI_KAT, ZESP_CHACHA20_POLY1305, X_ID, rx, 2);
    zesp_msg *msg = zesp_msg_new();
    uint8_t *esp = NULL;
    size_t n = 0;

    CHECK(p.mac_count == 2);
    CHECK_OK(zesp_sa_add(tx, &p));
    p = mac_in(SPI_KAT, ZESP_CHACHA20_POLY1305, Y_ID);
    CHECK_OK(zesp_sa_add(ry, &p));
    CHECK_OK(seal_kat(tx, SPI_KAT, &esp, &n));
    /* header, 42 payload, 2 x 18 entries, count, 2 padding, trailer, ICV */
    CHECK(n == 16 + 42 + 36 + 2 + 2 + 2 + 16);
    if (esp != NULL) {
        CHECK(equals_hex(esp, n, KAT_FRAME));
        CHECK(mac_as_documented(esp, n));
        CHECK_OK(zesp_open(ry, &prices, 1, esp, n, msg));
        CHECK(zesp_msg_sender_id(msg) == X_ID &&
              zesp_msg_body_count(msg) == 1 &&
              zesp_msg_body(msg, 0).size == 5 &&
              zesp_msg_clear_count(msg) == 1);
    }
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(ry);
}

/* One frame to 8 receivers: each accepts it with its own entry; a member
 * without an entry, or a window without MACs, refuses it. */
static void test_eight_receivers(void)
{
    uint32_t rx[8];
    zesp_sad *tx = zesp_sad_new(NULL), *r[9], *plain = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    zesp_sa_info info;
    uint8_t *esp = NULL, *copy;
    size_t n = 0;

    for (unsigned t = 0; t < 2; t++) {
        uint32_t tr = t ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305;
        zesp_sad *tx_t = zesp_sad_new(NULL);

        if (tr == ZESP_AES256GCM && !crypto_aead_aes256gcm_is_available()) {
            zesp_sad_free(tx_t);
            continue;
        }
        for (uint32_t i = 0; i < 8; i++)
            rx[i] = 10U + i;
        p = mac_out(SPI_G + t, tr, X_ID, rx, 8);
        CHECK_OK(zesp_sa_add(tx_t, &p));
        for (unsigned i = 0; i < 9; i++) {
            r[i] = zesp_sad_new(NULL);
            p = mac_in(SPI_G + t, tr, 10U + i);   /* 18: not a receiver */
            CHECK_OK(zesp_sa_add(r[i], &p));
        }
        for (int round = 0; round < 3; round++) {
            CHECK_OK(seal_kat(tx_t, SPI_G + t, &esp, &n));
            if (esp == NULL)
                break;
            copy = malloc(n);
            for (unsigned i = 0; i < 9 && copy != NULL; i++) {
                memcpy(copy, esp, n);
                if (i < 8)
                    CHECK_OK(zesp_open(r[i], &prices, 1, copy, n, msg));
                else
                    CHECK_ERR(zesp_open(r[i], &prices, 1, copy, n, msg),
                              ZESP_ESIGNATURE);
            }
            free(copy);
            zesp_buf_free(esp);
            esp = NULL;
        }
        CHECK_OK(zesp_sa_info_get_sender(r[8], SPI_G + t, ZESP_DIR_IN, X_ID,
                                         &info));
        CHECK(info.stats.rejected_signature == 3 && info.seq == 0);
        CHECK_OK(zesp_sa_info_get_sender(r[7], SPI_G + t, ZESP_DIR_IN, X_ID,
                                         &info));
        CHECK(info.stats.messages == 3 && info.seq == 3);
        for (unsigned i = 0; i < 9; i++)
            zesp_sad_free(r[i]);
        zesp_sad_free(tx_t);
    }
    /* A group window without source authentication refuses Next Header
     * 254 from a MAC sender. */
    for (uint32_t i = 0; i < 8; i++)
        rx[i] = 10U + i;
    p = mac_out(SPI_G, ZESP_CHACHA20_POLY1305, X_ID, rx, 8);
    CHECK_OK(zesp_sa_add(tx, &p));
    p = test_sa(SPI_G, ZESP_DIR_IN, ZESP_CHACHA20_POLY1305, ZESP_SA_GROUP);
    keymat(p.key);
    p.sender_id = X_ID;
    CHECK_OK(zesp_sa_add(plain, &p));
    CHECK_OK(seal_kat(tx, SPI_G, &esp, &n));
    if (esp != NULL)
        CHECK_ERR(zesp_open(plain, &prices, 1, esp, n, msg), ZESP_EMALFORMED);
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(plain);
}

/* Z holds the group key and sees X's genuine frame to Y: it changes the
 * payload and seals it again under the group key, X's entries kept. */
static void test_entries_do_not_move_to_another_payload(void)
{
    static const uint32_t rx[] = { Y_ID, Z_ID };
    zesp_sad *tx = zesp_sad_new(NULL), *ry = zesp_sad_new(NULL);
    zesp_sa_params p = mac_out(SPI_KAT, ZESP_CHACHA20_POLY1305, X_ID, rx, 2);
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_info info;
    uint8_t *esp = NULL, m[256], *copy = NULL;
    size_t n = 0, len;

    CHECK_OK(zesp_sa_add(tx, &p));
    p = mac_in(SPI_KAT, ZESP_CHACHA20_POLY1305, Y_ID);
    CHECK_OK(zesp_sa_add(ry, &p));
    CHECK_OK(seal_kat(tx, SPI_KAT, &esp, &n));
    if (esp == NULL || (copy = malloc(n)) == NULL)
        goto out;
    memcpy(copy, esp, n);
    len = decrypt_raw(esp, n, m);
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(m + i, "hello", 5) == 0) {
            m[i] = 'j';                  /* "hello" becomes "jello" */
            break;
        }
    encrypt_raw(esp, n, m);
    CHECK_ERR(zesp_open(ry, &prices, 1, esp, n, msg), ZESP_ESIGNATURE);
    CHECK_OK(zesp_sa_info_get_sender(ry, SPI_KAT, ZESP_DIR_IN, X_ID, &info));
    CHECK(info.stats.rejected_signature == 1 && info.seq == 0);
    /* The window did not move: X's own frame of that number passes. */
    CHECK_OK(zesp_open(ry, &prices, 1, copy, n, msg));
    CHECK(zesp_msg_body_count(msg) == 1 &&
          memcmp(zesp_msg_body(msg, 0).data, "hello", 5) == 0);
out:
    free(copy);
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(ry);
}

/*
 * Over tcp: Z, a member with the group key, sends on X's Sender ID to Y,
 * proving the source with what it holds (its own identity key, as MAC
 * keys or as signing key).  Y refuses, counts it, and its window for X
 * does not move: X's genuine message of the same number is accepted.
 */
static void forge_over_socket(bool signature)
{
    static const uint32_t to_y[] = { Y_ID };
    zesp_sad *x = zesp_sad_new(NULL), *z = zesp_sad_new(NULL);
    zesp_sad *y = zesp_sad_new(NULL);
    void *ctx = zmq_ctx_new(), *push = zmq_socket(ctx, ZMQ_PUSH);
    void *pull = zmq_socket(ctx, ZMQ_PULL);
    int timeout = test_ms(20000), linger = 0;
    zesp_frame body[2] = { { "from X", 6 }, { "from Z", 6 } };
    zesp_parts parts = { .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    zesp_sa_info info;
    char endpoint[64];
    size_t elen = sizeof endpoint;
    uint8_t pk[32];

    if (signature) {
        p = test_sa(SPI_G, ZESP_DIR_OUT, 0, ZESP_SA_GROUP | ZESP_SA_SIGNED);
        keymat(p.key);
        p.sender_id = X_ID;
        member_keys(X_ID, pk, p.sign_key);
        CHECK_OK(zesp_sa_add(x, &p));
        member_keys(Z_ID, pk, p.sign_key);     /* Z signs as itself */
        CHECK_OK(zesp_sa_add(z, &p));
        p.direction = ZESP_DIR_IN;
        member_keys(X_ID, p.sign_key, (uint8_t[64]){ 0 });
        sodium_memzero(p.sign_key + 32, 32);
        CHECK_OK(zesp_sa_add(y, &p));
    } else {
        p = mac_out(SPI_G, 0, X_ID, to_y, 1);
        CHECK_OK(zesp_sa_add(x, &p));
        p = mac_out(SPI_G, 0, Z_ID, to_y, 1);  /* Z's own key with Y */
        CHECK(p.mac_count == 1);
        CHECK_OK(zesp_sa_add(z, &p));
        p = mac_in(SPI_G, 0, Y_ID);
        CHECK_OK(zesp_sa_add(y, &p));
    }
    zmq_setsockopt(pull, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(pull, ZMQ_LINGER, &linger, sizeof linger);
    CHECK(zmq_bind(pull, "tcp://127.0.0.1:*") == 0);
    zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, endpoint, &elen);
    CHECK(zmq_connect(push, endpoint) == 0);

    parts.body = &body[1];
    CHECK_OK(zesp_send(z, SPI_G, push, &parts, 0));
    parts.body = &body[0];
    CHECK_OK(zesp_send(x, SPI_G, push, &parts, 0));
    CHECK_ERR(zesp_recv(y, pull, msg, 0), ZESP_ESIGNATURE);
    CHECK_OK(zesp_recv(y, pull, msg, 0));
    CHECK(zesp_msg_sender_id(msg) == X_ID && zesp_msg_seq(msg) == 1 &&
          zesp_msg_body_count(msg) == 1 &&
          memcmp(zesp_msg_body(msg, 0).data, "from X", 6) == 0);
    CHECK_OK(zesp_sa_info_get_sender(y, SPI_G, ZESP_DIR_IN, X_ID, &info));
    CHECK(info.stats.rejected_signature == 1 && info.stats.messages == 1 &&
          info.seq == 1);
    zesp_msg_free(msg);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    zesp_sad_free(x);
    zesp_sad_free(y);
    zesp_sad_free(z);
}

static void test_member_cannot_forge_mac(void)
{
    forge_over_socket(false);
}

static void test_member_cannot_forge_signature(void)
{
    forge_over_socket(true);
}

/* What zesp_sa_add refuses of a source-MAC SA. */
static void test_add_rules(void)
{
    static const uint32_t rx[] = { Y_ID, Z_ID };
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p = mac_out(SPI_G, 0, X_ID, rx, 2), q;

    q = p;
    q.flags &= ~ZESP_SA_GROUP;
    q.sender_id = 0;
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);          /* pairwise */
    q = p;
    q.flags |= ZESP_SA_SIGNED;
    member_keys(X_ID, (uint8_t[32]){ 0 }, q.sign_key);
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);          /* both ways */
    q = p;
    q.mac_count = 0;
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);
    q.mac_count = ZESP_SOURCE_MAC_MAX + 1;
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);
    q = p;
    q.mac_id[1] = Y_ID;                                /* twice */
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);
    q = p;
    q.mac_id[1] = X_ID;                                /* ourselves */
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);
    q = p;
    memset(q.mac_key[0], 0, ZESP_SOURCE_MAC_KEYBYTES);
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);
    q = mac_in(SPI_G, 0, Y_ID);
    q.mac_count = 2;
    q.mac_id[1] = Z_ID;
    memset(q.mac_key[1], 1, ZESP_SOURCE_MAC_KEYBYTES);
    CHECK_ERR(zesp_sa_add(sad, &q), EINVAL);          /* in: one key */
    CHECK_OK(zesp_sa_add(sad, &p));
    zesp_sad_free(sad);
}

/* A sender preempted while it expands an SA's AES keys, and the SA
 * replaced in its slot meanwhile: this file's crypto_aead_aes256gcm_beforenm
 * comes before libsodium's (an executable's symbol interposes on a
 * library's calls), expands the key it was given, then, once armed,
 * deletes the SA and adds another, which takes the same slot (a SAD of
 * one).  On x86 as on arm64, no timing needed. */
static zesp_sad *replace_in;
static zesp_sa_params replace_with;
static int replaced;

int crypto_aead_aes256gcm_beforenm(crypto_aead_aes256gcm_state *st,
                                   const unsigned char *k)
{
    static int (*real)(crypto_aead_aes256gcm_state *, const unsigned char *);
    zesp_sad *sad = replace_in;
    int rc;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "crypto_aead_aes256gcm_beforenm");
    if (real == NULL)
        return -1;
    rc = real(st, k);
    if (sad != NULL) {
        replace_in = NULL;
        replaced = zesp_sa_del(sad, SPI_G, ZESP_DIR_OUT) == 0 &&
                   zesp_sa_add(sad, &replace_with) == 0;
    }
    return rc;
}

/* A thread's expanded keys are kept for the SA they were read from, named
 * by its slot and its install's random epoch: keys read while the slot
 * changed are not kept under the new SA's epoch.  Before, they were: the
 * sender went on tagging the new SA's messages with the old SA's keys,
 * every receiver refusing them, until the SA was replaced again (and a
 * receiver's cache, with keys read mid-wipe, could have checked tags
 * under zeros). */
static void test_keys_of_a_replaced_sa_not_kept(void)
{
    static const uint32_t rx[] = { Y_ID };
    zesp_sad_opts one = { .capacity = 1 };
    zesp_sad *tx, *ry;
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_params p;
    uint8_t *esp = NULL;
    size_t n = 0;
    int rc;

    if (!crypto_aead_aes256gcm_is_available()) {
        printf("# skip: no AES-GCM on this CPU\n");
        zesp_msg_free(msg);
        return;
    }
    tx = zesp_sad_new(&one);
    ry = zesp_sad_new(NULL);
    p = mac_out(SPI_G, ZESP_AES256GCM, X_ID, rx, 1);
    CHECK_OK(zesp_sa_add(tx, &p));
    replace_with = mac_out(SPI_G + 1U, ZESP_AES256GCM, X_ID, rx, 1);
    p = mac_in(SPI_G + 1U, ZESP_AES256GCM, Y_ID);
    CHECK_OK(zesp_sa_add(ry, &p));
    replace_in = tx;
    rc = seal_kat(tx, SPI_G, &esp, &n);
    replace_in = NULL;
    CHECK(replaced);
    CHECK(rc != 0);          /* its SA gone while it was sealed */
    zesp_buf_free(esp);
    esp = NULL;
    for (int i = 0; i < 2; i++) {
        CHECK_OK(seal_kat(tx, SPI_G + 1U, &esp, &n));
        if (esp != NULL)
            CHECK_OK(zesp_open(ry, &prices, 1, esp, n, msg));
        zesp_buf_free(esp);
        esp = NULL;
    }
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(ry);
    sodium_memzero(&replace_with, sizeof replace_with);
}

int main(void)
{
    if (zesp_init() != 0)
        return 1;
    RUN(test_key_derivation);
    RUN(test_known_answer);
    RUN(test_eight_receivers);
    RUN(test_entries_do_not_move_to_another_payload);
    RUN(test_member_cannot_forge_mac);
    RUN(test_member_cannot_forge_signature);
    RUN(test_add_rules);
    RUN(test_keys_of_a_replaced_sa_not_kept);
    return test_done();
}
