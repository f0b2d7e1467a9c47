/*
 * Group SAs (doc/wire-format.md 9): the Sender ID in the IV, checked
 * against an independent AEAD computation; many senders on one SPI and
 * key, each with its own replay window; unknown and tampered Sender IDs;
 * the 48-bit sequence limit; Ed25519 source signatures and a member that
 * forges another's messages; deleting a group SPI; the rules of
 * zesp_sa_add; two processes sending on one shared group SA; damaged
 * group slots in a SAD file.
 */
#include <fcntl.h>
#include <sodium.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys.h"
#include "packet.h"
#include "sad.h"
#include "test.h"
#include "zesp.h"

#define SPI_G 0x6001U
#define SPI_PAIR 0x6002U
#define PER_SENDER 10000
#define FORK_SENDERS 2
#define PER_CHILD 5000
#define IV_OFF 8U
#define NH_SIGNED 254U

static char dir[256];

static zesp_sa_params group_sa(uint32_t spi, uint32_t direction, uint32_t sid,
                               uint32_t flags)
{
    zesp_sa_params p = test_sa(spi, direction, 0, ZESP_SA_GROUP | flags);

    p.sender_id = sid;
    snprintf(p.peer, sizeof p.peer, "sender-%u", (unsigned)sid);
    return p;
}

/* A sender's Ed25519 key pair, fixed per seed byte. */
static void sign_keys(uint8_t seed_byte, uint8_t pk[32], uint8_t sk[64])
{
    uint8_t seed[crypto_sign_SEEDBYTES];

    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static zesp_sa_params signed_out(uint32_t sid, uint8_t seed_byte)
{
    zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_OUT, sid, ZESP_SA_SIGNED);
    uint8_t pk[32];

    sign_keys(seed_byte, pk, p.sign_key);
    return p;
}

static zesp_sa_params signed_in(uint32_t sid, uint8_t seed_byte)
{
    zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_IN, sid, ZESP_SA_SIGNED);
    uint8_t sk[64];

    sign_keys(seed_byte, p.sign_key, sk);
    sodium_memzero(sk, sizeof sk);
    return p;
}

static int seal_text(zesp_sad *sad, uint32_t spi, const char *text,
                     uint8_t **out, size_t *n)
{
    zesp_frame body = { text, strlen(text) };
    zesp_parts parts = { .body = &body, .nbody = 1 };

    return zesp_seal(sad, spi, &parts, out, n);
}

/* Open a copy, so the frame can be offered again.  msg points into the
 * copy (zesp_open decrypts in place): it lives until the next call. */
static uint8_t *last_copy;

static int open_copy(zesp_sad *sad, const uint8_t *frame, size_t n,
                     zesp_msg *msg)
{
    free(last_copy);
    if ((last_copy = malloc(n)) == NULL)
        return -1;
    memcpy(last_copy, frame, n);
    return zesp_open(sad, NULL, 0, last_copy, n, msg);
}

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t count_dups(uint64_t *v, size_t n)
{
    size_t dup = 0;

    qsort(v, n, sizeof *v, cmp_u64);
    for (size_t i = 1; i < n; i++)
        dup += v[i] == v[i - 1];
    return dup;
}

/* IV = Sender ID << 48 | seq, and the frame is exactly the RFC 7634 AEAD
 * of the zesp payload, recomputed here with libsodium from the KEYMAT. */
static void test_iv_layout_known_answer(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_OUT, 0x1234, 0);
    static const uint8_t iv[8] = { 0x12, 0x34, 0, 0, 0, 0, 0, 5 };
    /* nclear 0, one body frame "hello", no padding, Pad Length, NH 253 */
    static const uint8_t plain[] = { 0x00, 0, 0, 0, 5, 'h', 'e', 'l', 'l',
                                     'o', 0x00, 0xfd };
    uint8_t nonce[12], ad[12], ct[sizeof plain], icv[16];
    uint8_t *esp = NULL;
    size_t n = 0;

    p.next_seq = 5;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(seal_text(sad, SPI_G, "hello", &esp, &n));
    CHECK(n == 16 + sizeof plain + 16);
    if (esp == NULL || n != 16 + sizeof plain + 16)
        goto out;
    CHECK(memcmp(esp + IV_OFF, iv, sizeof iv) == 0);
    CHECK(load_be32(esp) == SPI_G && load_be32(esp + 4) == 5);
    memcpy(nonce, p.key + 32, 4);
    memcpy(nonce + 4, iv, 8);
    store_be32(ad, SPI_G);
    store_be32(ad + 4, 0);      /* ESN: the high half, 0 */
    store_be32(ad + 8, 5);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        ct, icv, NULL, plain, sizeof plain, ad, sizeof ad, NULL, nonce, p.key);
    CHECK(memcmp(esp + 16, ct, sizeof ct) == 0);
    CHECK(memcmp(esp + 16 + sizeof ct, icv, sizeof icv) == 0);
out:
    zesp_buf_free(esp);
    zesp_sad_free(sad);
}

static size_t from_hex(uint8_t *b, size_t max, const char *hex)
{
    size_t len = 0;

    return sodium_hex2bin(b, max, hex, strlen(hex), NULL, &len, NULL) == 0
               ? len : 0;
}

static bool equals_hex(const uint8_t *b, size_t n, const char *hex)
{
    uint8_t want[256];
    size_t len = 0;

    return sodium_hex2bin(want, sizeof want, hex, strlen(hex), NULL, &len,
                          NULL) == 0 && len == n && memcmp(b, want, n) == 0;
}

/* The frames of doc/wire-format.md 9.5: unsigned, signed. */
static const char *const worked_frames[2] = {
    "0000200000000001000300000000000104c61f49d1b869a9ede2dc5f841ac90c"
    "69cf46926528be9b898a7f7a2c14b7f06198c2c16285de19938c24ae33f33890"
    "49e437fc1af296f977e6c83a",
    "0000200100000001000400000000000182f35520deeec702568c2ca7e35f7044"
    "0fb7beeaf20c827c9b9fcd6290de419ed216afb717e2400e7e569b07df0fc45d"
    "c9a7f7ac5a829226198445bd6817a42a65b12f896806fa2271bec1f0cda52237"
    "20b31c7aeb6e273dd9f5f6b6640012566b63f2889e857c0eb7b434e6f3e8e4e7"
    "92ac773fb703526046f88904",
};

/* The frames of doc/wire-format.md 9.5, checked there with Python's
 * cryptography; accepted by the receiver's windows, and the raw API on a
 * signed window. */
static void test_worked_example(void)
{
    zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    zesp_frame clear = { "prices", 6 }, body = { "hello", 5 };
    zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                         .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    uint8_t seed[32], pk[32], raw[256], *payload, nh;
    size_t payload_len;

    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)(0x40 + i);
    for (int s = 0; s < 2; s++) {
        zesp_sa_params p = group_sa(0x2000U + (uint32_t)s, ZESP_DIR_OUT,
                                    3U + (uint32_t)s, s ? ZESP_SA_SIGNED : 0);
        uint8_t *esp = NULL;
        size_t n = 0;

        for (int i = 0; i < 36; i++)
            p.key[i] = (uint8_t)i;
        crypto_sign_seed_keypair(pk, p.sign_key, seed);
        CHECK_OK(zesp_sa_add(tx, &p));
        p.direction = ZESP_DIR_IN;
        memset(p.sign_key, 0, sizeof p.sign_key);
        memcpy(p.sign_key, pk, sizeof pk);
        CHECK_OK(zesp_sa_add(rx, &p));
        CHECK_OK(zesp_seal(tx, p.spi, &parts, &esp, &n));
        CHECK(esp != NULL && equals_hex(esp, n, worked_frames[s]));
        if (esp != NULL && n <= sizeof raw) {
            memcpy(raw, esp, n);
            CHECK_OK(zesp_open(rx, &clear, 1, esp, n, msg));
            CHECK(zesp_msg_sender_id(msg) == 3U + (uint32_t)s);
            /* The raw API on the same frame: a replay now. */
            CHECK_ERR(zesp_esp_decrypt(rx, raw, n, &payload, &payload_len,
                                       &nh, NULL, NULL), ZESP_EREPLAY);
        }
        zesp_buf_free(esp);
    }

    /* zesp_esp_decrypt on a signed window: the payload without its
     * signature; zesp_esp_encrypt does not sign, so its frames fail there. */
    {
        zesp_sa_params p = signed_out(4, 0x40);
        uint8_t *esp = NULL;
        size_t n = 0, len = 0;

        CHECK_OK(zesp_sa_add(tx, &p));
        p = signed_in(4, 0x40);
        CHECK_OK(zesp_sa_add(rx, &p));
        CHECK_OK(zesp_seal(tx, SPI_G, &parts, &esp, &n));
        if (esp != NULL) {
            CHECK_OK(zesp_esp_decrypt(rx, esp, n, &payload, &payload_len, &nh,
                                      NULL, NULL));
            CHECK(nh == NH_SIGNED && payload_len == 42);
        }
        zesp_buf_free(esp);
        CHECK_OK(zesp_esp_encrypt(tx, SPI_G, "raw", 3, NH_SIGNED, raw, &len));
        CHECK_ERR(zesp_esp_decrypt(rx, raw, len, &payload, &payload_len, &nh,
                                   NULL, NULL), ZESP_EMALFORMED);
    }
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
}

/* Two members with one key and SPI, 10,000 messages each, interleaved
 * into one receiver: every one accepted once, every replay refused, no
 * nonce used twice, and each sender's window its own. */
static void test_two_senders_interleaved(void)
{
    zesp_sad *a = zesp_sad_new(NULL), *b = zesp_sad_new(NULL);
    zesp_sad *rx = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_msg *msg = zesp_msg_new();
    static uint64_t nonces[2 * PER_SENDER];
    uint8_t *old[5];
    size_t old_n[5];
    int accepted[3] = { 0 }, replays = 0;
    zesp_sa_info info;

    p = group_sa(SPI_G, ZESP_DIR_OUT, 1, 0);
    CHECK_OK(zesp_sa_add(a, &p));
    p = group_sa(SPI_G, ZESP_DIR_OUT, 2, 0);
    CHECK_OK(zesp_sa_add(b, &p));
    for (uint32_t sid = 1; sid <= 2; sid++) {
        p = group_sa(SPI_G, ZESP_DIR_IN, sid, 0);
        CHECK_OK(zesp_sa_add(rx, &p));
    }
    for (int i = 0; i < 2 * PER_SENDER; i++) {
        zesp_sad *tx = i % 2 ? b : a;
        uint8_t *esp;
        size_t n;

        nonces[i] = 0;
        if (seal_text(tx, SPI_G, "interleaved", &esp, &n) != 0) {
            CHECK(!"seal");
            continue;
        }
        nonces[i] = load64(esp + IV_OFF);
        if (open_copy(rx, esp, n, msg) == 0) {
            uint32_t sid = zesp_msg_sender_id(msg);
            accepted[sid <= 2 ? sid : 0]++;
            CHECK(sid == (uint32_t)(i % 2 + 1));
            CHECK(strcmp(zesp_msg_peer(msg), sid == 1 ? "sender-1"
                                                      : "sender-2") == 0);
            CHECK(zesp_msg_seq(msg) == (uint64_t)(i / 2 + 1));
        }
        replays += open_copy(rx, esp, n, msg) == -1 && errno == ZESP_EREPLAY;
        zesp_buf_free(esp);
    }
    CHECK(accepted[1] == PER_SENDER && accepted[2] == PER_SENDER &&
          accepted[0] == 0);
    CHECK(replays == 2 * PER_SENDER);
    CHECK(count_dups(nonces, 2 * PER_SENDER) == 0);
    for (uint32_t sid = 1; sid <= 2; sid++) {
        CHECK_OK(zesp_sa_info_get_sender(rx, SPI_G, ZESP_DIR_IN, sid, &info));
        CHECK(info.sender_id == sid && info.seq == PER_SENDER);
        CHECK(info.stats.messages == PER_SENDER);
        CHECK(info.stats.rejected_replay == PER_SENDER);
        CHECK(info.stats.rejected_old == 0 && info.stats.rejected_icv == 0);
    }

    /* Sender 1 holds back five messages; sender 2 jumps ten million
     * numbers ahead.  Sender 1's window has not moved: all five pass. */
    for (int i = 0; i < 5; i++)
        if (seal_text(a, SPI_G, "late", &old[i], &old_n[i]) != 0)
            old[i] = NULL;
    CHECK_OK(zesp_sa_del(b, SPI_G, ZESP_DIR_OUT));
    p = group_sa(SPI_G, ZESP_DIR_OUT, 2, 0);
    p.next_seq = 10000000;
    CHECK_OK(zesp_sa_add(b, &p));
    for (int i = 0; i < 3; i++) {
        uint8_t *esp;
        size_t n;
        if (seal_text(b, SPI_G, "ahead", &esp, &n) == 0) {
            CHECK_OK(open_copy(rx, esp, n, msg));
            zesp_buf_free(esp);
        }
    }
    for (int i = 0; i < 5; i++) {
        CHECK(old[i] != NULL);
        if (old[i] != NULL)
            CHECK_OK(open_copy(rx, old[i], old_n[i], msg));
        zesp_buf_free(old[i]);
    }
    CHECK_OK(zesp_sa_info_get_sender(rx, SPI_G, ZESP_DIR_IN, 2, &info));
    CHECK(info.seq == 10000002);
    CHECK_OK(zesp_sa_info_get_sender(rx, SPI_G, ZESP_DIR_IN, 1, &info));
    CHECK(info.seq == PER_SENDER + 5 && info.stats.rejected_old == 0);
    zesp_msg_free(msg);
    zesp_sad_free(a);
    zesp_sad_free(b);
    zesp_sad_free(rx);
}

/* A Sender ID with no window is no SA; a Sender ID changed on the way is
 * no SA or a wrong nonce; never a message. */
static void test_unknown_and_tampered_sender(void)
{
    zesp_sad *tx1 = zesp_sad_new(NULL), *tx4 = zesp_sad_new(NULL);
    zesp_sad *rx = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_msg *msg = zesp_msg_new();
    zesp_sad_stats st;
    uint8_t *esp = NULL;
    size_t n = 0;
    int nosa = 0, icv = 0, accepted = 0;

    p = group_sa(SPI_G, ZESP_DIR_OUT, 1, 0);
    CHECK_OK(zesp_sa_add(tx1, &p));
    p = group_sa(SPI_G, ZESP_DIR_OUT, 4, 0);
    CHECK_OK(zesp_sa_add(tx4, &p));
    /* Windows for 1 and 3 (1 with one bit flipped), none for 4. */
    p = group_sa(SPI_G, ZESP_DIR_IN, 1, 0);
    CHECK_OK(zesp_sa_add(rx, &p));
    p = group_sa(SPI_G, ZESP_DIR_IN, 3, 0);
    CHECK_OK(zesp_sa_add(rx, &p));

    CHECK_OK(seal_text(tx4, SPI_G, "who?", &esp, &n));
    CHECK_ERR(open_copy(rx, esp, n, msg), ZESP_ENOSA);
    CHECK_OK(zesp_sad_stats_get(rx, &st));
    CHECK(st.rejected_nosa == 1);
    zesp_buf_free(esp);

    CHECK_OK(seal_text(tx1, SPI_G, "from 1", &esp, &n));
    for (int bit = 0; bit < 16 && esp != NULL; bit++) {
        esp[IV_OFF + bit / 8] ^= (uint8_t)(1U << (bit % 8));
        if (open_copy(rx, esp, n, msg) == 0)
            accepted++;
        else if (errno == ZESP_ENOSA)
            nosa++;
        else if (errno == ZESP_EICV)
            icv++;
        esp[IV_OFF + bit / 8] ^= (uint8_t)(1U << (bit % 8));
    }
    CHECK(accepted == 0 && nosa == 15 && icv == 1);   /* 1 ^ 2 = 3 */
    CHECK_OK(open_copy(rx, esp, n, msg));              /* intact: fine */
    CHECK(zesp_msg_sender_id(msg) == 1);
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(tx1);
    zesp_sad_free(tx4);
    zesp_sad_free(rx);
}

/* Pairwise SAs beside group SAs work as before and answer to no sender. */
static void test_pairwise_beside_group(void)
{
    zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t n = 0;

    CHECK_OK(test_sa_pair(tx, rx, SPI_PAIR, 0, 0));
    p = group_sa(SPI_G, ZESP_DIR_IN, 1, 0);
    CHECK_OK(zesp_sa_add(rx, &p));
    CHECK_OK(seal_text(tx, SPI_PAIR, "pairwise", &esp, &n));
    CHECK(esp != NULL && load64(esp + IV_OFF) == 1);   /* IV = seq */
    CHECK_OK(open_copy(rx, esp, n, msg));
    CHECK(zesp_msg_sender_id(msg) == 0);
    CHECK(strcmp(zesp_msg_peer(msg), "test-peer") == 0);
    CHECK_ERR(zesp_sa_info_get_sender(rx, SPI_PAIR, ZESP_DIR_IN, 1, &info),
              ZESP_ENOSA);
    CHECK_OK(zesp_sa_info_get_sender(rx, SPI_PAIR, ZESP_DIR_IN, 0, &info));
    CHECK(info.sender_id == 0 && info.stats.messages == 1);
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
}

/* A group sender's numbers end at 2^48 - 1 (or 2^32 - 1 without ESN). */
static void test_seq_exhaustion(void)
{
    zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_OUT, 1, 0);
    static const uint8_t last_iv[8] = { 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff,
                                        0xff };
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t n = 0;

    p.next_seq = ZESP_SEQ_MAX_GROUP + 1U;
    CHECK_ERR(zesp_sa_add(tx, &p), EINVAL);
    p.next_seq = ZESP_SEQ_MAX_GROUP;
    CHECK_OK(zesp_sa_add(tx, &p));
    p = group_sa(SPI_G, ZESP_DIR_IN, 1, 0);
    p.next_seq = ZESP_SEQ_MAX_GROUP - 1U;
    CHECK_OK(zesp_sa_add(rx, &p));

    CHECK_OK(seal_text(tx, SPI_G, "last", &esp, &n));
    CHECK(esp != NULL && memcmp(esp + IV_OFF, last_iv, 8) == 0);
    if (esp != NULL)
        CHECK_OK(open_copy(rx, esp, n, msg));
    CHECK(zesp_msg_seq(msg) == ZESP_SEQ_MAX_GROUP);
    zesp_buf_free(esp);
    esp = NULL;
    CHECK_ERR(seal_text(tx, SPI_G, "one more", &esp, &n), ZESP_ESEQEXHAUSTED);
    CHECK_OK(zesp_sa_info_get(tx, SPI_G, ZESP_DIR_OUT, &info));
    CHECK(info.seq == ZESP_SEQ_MAX_GROUP && info.soft_expired);

    /* Without ESN the 32-bit limit is the lower one. */
    p = group_sa(SPI_G + 1U, ZESP_DIR_OUT, 1, ZESP_SA_NO_ESN);
    p.next_seq = ZESP_SEQ_MAX_32;
    CHECK_OK(zesp_sa_add(tx, &p));
    CHECK_OK(seal_text(tx, SPI_G + 1U, "last", &esp, &n));
    zesp_buf_free(esp);
    esp = NULL;
    CHECK_ERR(seal_text(tx, SPI_G + 1U, "more", &esp, &n),
              ZESP_ESEQEXHAUSTED);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
}

/* Check a signed frame as the wire format says, with the public key
 * alone: the last 64 octets are the signature of everything before them.
 * Then, with the group key, that what they sign is an ESP frame whose
 * payload ends with Next Header 254. */
static bool signature_as_documented(const uint8_t *esp, size_t n,
                                    const uint8_t key[36],
                                    const uint8_t pk[32])
{
    size_t clen = n - 64 - 32;
    uint8_t nonce[12], ad[12], *m = malloc(n);
    bool ok = false;

    if (m == NULL || n < 36 + 64 ||
        crypto_sign_verify_detached(esp + n - 64, esp, n - 64, pk) != 0)
        goto out;
    memcpy(nonce, key + 32, 4);
    memcpy(nonce + 4, esp + IV_OFF, 8);
    memcpy(ad, esp, 4);
    store_be32(ad + 4, 0);               /* ESN high half is 0 here */
    memcpy(ad + 8, esp + 4, 4);
    ok = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
             m, NULL, esp + 16, clen, esp + n - 64 - 16, ad, sizeof ad, nonce,
             key) == 0 && m[clen - 1] == NH_SIGNED;
out:
    free(m);
    return ok;
}

static void test_signed(void)
{
    zesp_sad *alice = zesp_sad_new(NULL), *mallory = zesp_sad_new(NULL);
    zesp_sad *plain = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    zesp_sad *rx_unsigned = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_info info;
    uint8_t *good = NULL, *forged = NULL, *esp = NULL, pk[32], sk[64];
    size_t good_n = 0, forged_n = 0, n = 0;

    p = signed_out(1, 0xa1);
    CHECK_OK(zesp_sa_add(alice, &p));
    /* Mallory has the group key and claims Sender ID 1, but signs with
     * her own key; her SAD starts at the number alice uses next. */
    p = signed_out(1, 0x66);
    p.next_seq = 3;
    CHECK_OK(zesp_sa_add(mallory, &p));
    p = group_sa(SPI_G, ZESP_DIR_OUT, 1, 0);
    p.next_seq = 4;
    CHECK_OK(zesp_sa_add(plain, &p));
    p = signed_in(1, 0xa1);
    strcpy(p.peer, "alice");
    CHECK_OK(zesp_sa_add(rx, &p));
    p = signed_in(2, 0xb2);
    CHECK_OK(zesp_sa_add(rx, &p));
    p = group_sa(SPI_G, ZESP_DIR_IN, 1, 0);
    CHECK_OK(zesp_sa_add(rx_unsigned, &p));

    for (int i = 0; i < 2; i++) {
        CHECK_OK(seal_text(alice, SPI_G, "signed", &esp, &n));
        if (esp == NULL)
            continue;
        /* header, payload of 11, 3 padding, trailer, ICV, signature */
        CHECK(n == 16 + 11 + 3 + 2 + 16 + 64);
        sign_keys(0xa1, pk, sk);
        CHECK(signature_as_documented(esp, n, p.key, pk));
        sign_keys(0xb2, pk, sk);
        CHECK(!signature_as_documented(esp, n, p.key, pk));
        CHECK_OK(open_copy(rx, esp, n, msg));
        CHECK(zesp_msg_sender_id(msg) == 1);
        CHECK(strcmp(zesp_msg_peer(msg), "alice") == 0);
        CHECK(zesp_msg_body_count(msg) == 1 &&
              zesp_msg_body(msg, 0).size == 6 &&
              memcmp(zesp_msg_body(msg, 0).data, "signed", 6) == 0);
        /* A receiver without signatures takes the signature's last 16
         * octets for the ICV. */
        if (i == 0)
            CHECK_ERR(open_copy(rx_unsigned, esp, n, msg), ZESP_EICV);
        zesp_buf_free(esp);
        esp = NULL;
    }

    CHECK_OK(seal_text(mallory, SPI_G, "forged", &forged, &forged_n));
    CHECK_OK(seal_text(alice, SPI_G, "genuine", &good, &good_n));
    CHECK(forged != NULL && good != NULL &&
          load_be32(forged + 4) == 3 && load_be32(good + 4) == 3);
    if (forged != NULL) {
        CHECK_ERR(open_copy(rx, forged, forged_n, msg), ZESP_ESIGNATURE);
        /* Refused before decrypting: zesp_open works in place, and the
         * frame is as it came (a failed ICV would have zeroed it). */
        CHECK(last_copy != NULL &&
              memcmp(last_copy, forged, forged_n) == 0);
    }
    CHECK(zesp_msg_body_count(msg) == 0);
    CHECK_OK(zesp_sa_info_get_sender(rx, SPI_G, ZESP_DIR_IN, 1, &info));
    CHECK(info.stats.rejected_signature == 1 && info.seq == 2 &&
          info.stats.messages == 2);
    if (good != NULL)
        CHECK_OK(open_copy(rx, good, good_n, msg));   /* seq 3 still free */
    CHECK(zesp_msg_seq(msg) == 3);

    /* An unsigned frame on a signed window: its last 64 octets are no
     * signature; too short to hold one, it is malformed. */
    CHECK_OK(seal_text(plain, SPI_G, "unsigned, long enough to be signed "
                                     "if its end were a signature", &esp, &n));
    if (esp != NULL)
        CHECK_ERR(open_copy(rx, esp, n, msg), ZESP_ESIGNATURE);
    zesp_buf_free(esp);
    CHECK_OK(seal_text(plain, SPI_G, "short", &esp, &n));
    if (esp != NULL)
        CHECK_ERR(open_copy(rx, esp, n, msg), ZESP_EMALFORMED);
    CHECK_OK(zesp_sa_info_get_sender(rx, SPI_G, ZESP_DIR_IN, 1, &info));
    CHECK(info.stats.rejected_signature == 2 &&
          info.stats.rejected_malformed == 1 && info.seq == 3);
    CHECK(strstr(zesp_strerror(ZESP_ESIGNATURE), "signature") != NULL);

    /* A secret key whose public half is not its own is refused. */
    p = signed_out(7, 0x07);
    p.sign_key[40] ^= 1;
    CHECK_ERR(zesp_sa_add(alice, &p), EINVAL);
    zesp_buf_free(esp);
    zesp_buf_free(forged);
    zesp_buf_free(good);
    zesp_msg_free(msg);
    zesp_sad_free(alice);
    zesp_sad_free(mallory);
    zesp_sad_free(plain);
    zesp_sad_free(rx);
    zesp_sad_free(rx_unsigned);
}

/* Deleting a group SPI removes every sender's window and wipes each key,
 * signing keys included; other SAs stay. */
static void test_del_group_wipes_keys(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    struct sa_ref ref[3];
    uint8_t key[ZESP_KEYBYTES];
    zesp_sad_stats st;

    for (uint32_t sid = 1; sid <= 3; sid++) {
        p = signed_in(sid, (uint8_t)sid);
        CHECK_OK(zesp_sa_add(sad, &p));
        CHECK(sad_find_sender(sad, SPI_G, ZESP_DIR_IN, sid, &ref[sid - 1]) == 0);
    }
    p = signed_out(9, 9);
    CHECK_OK(zesp_sa_add(sad, &p));
    p = test_sa(SPI_PAIR, ZESP_DIR_IN, 0, 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_sa_key_get(sad, SPI_G, ZESP_DIR_IN, key));
    p = group_sa(SPI_G, ZESP_DIR_IN, 1, 0);
    CHECK(memcmp(key, p.key, ZESP_KEYBYTES) == 0);
    for (int i = 0; i < 3; i++)
        CHECK(!sodium_is_zero(ref[i].key->sign_key, 32));

    CHECK_OK(zesp_sa_del(sad, SPI_G, ZESP_DIR_IN));
    for (int i = 0; i < 3; i++) {
        CHECK(!sad_ref_valid(&ref[i]));
        CHECK(sodium_is_zero((const uint8_t *)ref[i].key, sizeof *ref[i].key));
    }
    CHECK_ERR(zesp_sa_key_get(sad, SPI_G, ZESP_DIR_IN, key), ZESP_ENOSA);
    CHECK_ERR(zesp_sa_del(sad, SPI_G, ZESP_DIR_IN), ZESP_ENOSA);
    CHECK_OK(zesp_sa_key_get(sad, SPI_G, ZESP_DIR_OUT, key));
    CHECK_OK(zesp_sa_key_get(sad, SPI_PAIR, ZESP_DIR_IN, key));
    CHECK_OK(zesp_sad_stats_get(sad, &st));
    CHECK(st.sas == 2);
    CHECK_OK(zesp_sad_verify(sad));
    CHECK_OK(zesp_sa_del(sad, SPI_G, ZESP_DIR_OUT));
    CHECK_OK(zesp_sa_del(sad, SPI_PAIR, ZESP_DIR_IN));
    zesp_sad_free(sad);
}

static int collect(const zesp_sa_info *info, void *arg)
{
    uint32_t *mask = arg;

    if (info->spi == SPI_G && info->direction == ZESP_DIR_IN &&
        info->sender_id < 32)
        *mask |= 1U << info->sender_id;
    return 0;
}

static void test_add_rules_and_info(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_sa_info info;
    uint32_t seen = 0;
    uint8_t key[ZESP_KEYBYTES];

    p = group_sa(SPI_G, ZESP_DIR_IN, 0, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);             /* GROUP, sid 0 */
    p.sender_id = ZESP_SENDER_ID_MAX + 1U;
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);
    p = test_sa(SPI_G, ZESP_DIR_IN, 0, 0);
    p.sender_id = 5;
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);             /* sid, no GROUP */
    p = signed_in(5, 5);
    p.flags = ZESP_SA_SIGNED;
    p.sender_id = 0;
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);             /* SIGNED alone */
    p = group_sa(SPI_G, ZESP_DIR_IN, 5, 0x100);
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);             /* unknown flag */
    p = group_sa(SPI_G, ZESP_DIR_IN, 5, ZESP_SA_SIGNED); /* no public key */
    CHECK_ERR(zesp_sa_add(sad, &p), EINVAL);

    for (uint32_t sid = 7; sid >= 3; sid -= 2) {         /* 7, 5, 3 */
        p = group_sa(SPI_G, ZESP_DIR_IN, sid, 0);
        CHECK_OK(zesp_sa_add(sad, &p));
    }
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EEXIST);        /* same sender */
    p = test_sa(SPI_G, ZESP_DIR_IN, 0, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EEXIST);        /* pairwise on it */
    p = test_sa(SPI_PAIR, ZESP_DIR_IN, 0, 0);
    CHECK_OK(zesp_sa_add(sad, &p));
    p = group_sa(SPI_PAIR, ZESP_DIR_IN, 1, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EEXIST);        /* group on pairwise */
    p = group_sa(SPI_G, ZESP_DIR_OUT, 9, 0);
    CHECK_OK(zesp_sa_add(sad, &p));                      /* other direction */
    p = group_sa(SPI_G, ZESP_DIR_OUT, 10, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EEXIST);        /* one sender per SPI */
    p = test_sa(SPI_G, ZESP_DIR_OUT, 0, 0);
    CHECK_ERR(zesp_sa_add(sad, &p), ZESP_EEXIST);

    CHECK_OK(zesp_sa_info_get(sad, SPI_G, ZESP_DIR_IN, &info));
    CHECK(info.sender_id == 3 && (info.flags & ZESP_SA_GROUP));
    CHECK_OK(zesp_sa_info_get_sender(sad, SPI_G, ZESP_DIR_IN, 5, &info));
    CHECK(info.sender_id == 5 && strcmp(info.peer, "sender-5") == 0);
    CHECK_ERR(zesp_sa_info_get_sender(sad, SPI_G, ZESP_DIR_IN, 4, &info),
              ZESP_ENOSA);
    CHECK_ERR(zesp_sa_info_get_sender(sad, SPI_G, ZESP_DIR_IN, 0, &info),
              ZESP_ENOSA);
    CHECK_OK(zesp_sa_info_get(sad, SPI_G, ZESP_DIR_OUT, &info));
    CHECK(info.sender_id == 9);
    CHECK_OK(zesp_sa_info_get_sender(sad, SPI_G, ZESP_DIR_OUT, 9, &info));
    CHECK_ERR(zesp_sa_info_get_sender(sad, SPI_G, ZESP_DIR_OUT, 3, &info),
              ZESP_ENOSA);
    CHECK_OK(zesp_sa_foreach(sad, collect, &seen));
    CHECK(seen == ((1U << 3) | (1U << 5) | (1U << 7)));
    CHECK_OK(zesp_sa_key_get(sad, SPI_G, ZESP_DIR_IN, key));
    CHECK(memcmp(key, p.key, ZESP_KEYBYTES) == 0);       /* test keys by SPI */
    CHECK_OK(zesp_sad_verify(sad));

    CHECK_OK(zesp_sad_flush(sad));
    CHECK_ERR(zesp_sa_info_get(sad, SPI_G, ZESP_DIR_IN, &info), ZESP_ENOSA);
    p = test_sa(SPI_G, ZESP_DIR_IN, 0, 0);
    CHECK_OK(zesp_sa_add(sad, &p));      /* the SPI is free to be pairwise */
    zesp_sad_free(sad);
}

static const char *sad_path(const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    CHECK(f != NULL && fputs(text, f) >= 0);
    if (f != NULL)
        fclose(f);
}

/* A proxy's check with public keys alone (wire-format.md 9.6): the worked
 * example's frame and a sender's frames pass; a member's forgery, every
 * changed part of a frame, a frame cut short and an unknown sender are
 * refused, each counted; the senders' file, all or nothing. */
static void test_verify(void)
{
    zesp_verifier *v = zesp_verifier_new();
    zesp_sad *alice = zesp_sad_new(NULL), *mallory = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_verifier_stats st;
    uint8_t frame[256], pk[32], sk[64], *esp = NULL, *forged = NULL;
    size_t n = 0, forged_n = 0, len;
    uint32_t sid = 99;
    char err[512], yaml[1024], pk_hex[65];
    zesp_frame f[2] = { { "prices", 6 }, { NULL, 0 } };
    static const size_t flips[] = { 0, 5, 9, 15, 16, 40, 80 };

    CHECK(v != NULL);
    if (v == NULL)
        return;
    /* The worked example, from its public key in a senders' file. */
    snprintf(yaml, sizeof yaml, "senders:\n  - { spi: 0x2001, sender_id: 4, "
             "sign_key: \"hex:2543b92ff1095511476adc8369db6ddc933665a119"
             "78dda1404ee1066ca9559d\" }\n");
    write_file(sad_path("senders.yaml"), yaml);
    CHECK_OK(zesp_verifier_load(v, sad_path("senders.yaml"), err, sizeof err));
    len = from_hex(frame, sizeof frame, worked_frames[1]);
    f[1] = (zesp_frame){ frame, len };
    CHECK_OK(zesp_verify(v, f, 2, &sid));
    CHECK(sid == 4);
    frame[len - 1] ^= 1;
    CHECK_ERR(zesp_verify(v, f, 2, &sid), ZESP_ESIGNATURE);
    CHECK(sid == 0);

    /* Alice's key, and Mallory's: she has the group key and alice's
     * Sender ID, not alice's signing key. */
    p = signed_out(1, 0xa1);
    CHECK_OK(zesp_sa_add(alice, &p));
    p = signed_out(1, 0x66);
    CHECK_OK(zesp_sa_add(mallory, &p));
    sign_keys(0xa1, pk, sk);
    CHECK_OK(zesp_verifier_add(v, SPI_G, 1, pk));
    CHECK_ERR(zesp_verifier_add(v, SPI_G, 1, pk), ZESP_EEXIST);
    CHECK_OK(seal_text(alice, SPI_G, "genuine, and long enough to cut", &esp,
                       &n));
    CHECK_OK(seal_text(mallory, SPI_G, "forged", &forged, &forged_n));
    if (esp == NULL || forged == NULL || n > sizeof frame)
        goto out;
    f[1] = (zesp_frame){ esp, n };
    CHECK_OK(zesp_verify(v, f, 2, &sid));
    CHECK(sid == 1);
    CHECK_OK(zesp_verify(v, &f[1], 1, NULL));    /* no clear frame */
    f[1] = (zesp_frame){ forged, forged_n };
    CHECK_ERR(zesp_verify(v, f, 2, NULL), ZESP_ESIGNATURE);
    /* SPI, sequence number, Sender ID, IV, ciphertext, ICV, signature:
     * a bit changed anywhere is refused (a changed SPI or Sender ID names
     * a sender it holds no key for). */
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        size_t at = flips[i] < 80 ? flips[i] : n - 1 - (flips[i] - 80);
        memcpy(frame, esp, n);
        frame[at] ^= 0x04;
        f[1] = (zesp_frame){ frame, n };
        CHECK_ERR(zesp_verify(v, f, 2, NULL),
                  at < 4 || at == 9 ? ZESP_ENOSA : ZESP_ESIGNATURE);
    }
    memcpy(frame, esp, n);
    f[1] = (zesp_frame){ frame, n - 4 };           /* cut short */
    CHECK_ERR(zesp_verify(v, f, 2, NULL), ZESP_ESIGNATURE);
    f[1] = (zesp_frame){ frame, n - 2 };           /* not whole words */
    CHECK_ERR(zesp_verify(v, f, 2, NULL), ZESP_EMALFORMED);
    f[1] = (zesp_frame){ frame, 36 + 60 };         /* no room to sign */
    CHECK_ERR(zesp_verify(v, f, 2, NULL), ZESP_EMALFORMED);
    CHECK_ERR(zesp_verify(v, f, 0, NULL), ZESP_EMALFORMED);
    CHECK_OK(zesp_verifier_stats_get(v, &st));
    CHECK(st.senders == 2 && st.verified == 3 &&
          st.rejected[ZESP_REJ_SIGNATURE] == 8 &&
          st.rejected[ZESP_REJ_NOSA] == 2 &&
          st.rejected[ZESP_REJ_MALFORMED] == 3);

    /* Refused files change nothing, and say where. */
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    snprintf(yaml, sizeof yaml, "senders:\n  - { spi: 0x7001, sender_id: 2, "
             "sign_key: \"hex:%s\" }\n  - { spi: 0x%x, sender_id: 1, "
             "sign_key: \"hex:%s\" }\n", pk_hex, SPI_G, pk_hex);
    write_file(sad_path("senders.yaml"), yaml);
    CHECK_ERR(zesp_verifier_load(v, sad_path("senders.yaml"), err,
                                 sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":3:5: senders[1]: SPI 0x00006001, Sender ID 1: "
                      "listed twice") != NULL);
    write_file(sad_path("senders.yaml"),
               "senders:\n  - { spi: 0x7001, sender_id: 0, sign_key: x }\n");
    CHECK_ERR(zesp_verifier_load(v, sad_path("senders.yaml"), err,
                                 sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":2:31: senders[0].sender_id: Sender IDs are 1 to")
          != NULL);
    write_file(sad_path("senders.yaml"),
               "senders:\n  - { spi: 0x7001, sender_id: 2, sign_key: "
               "\"hex:00\" }\n");
    CHECK_ERR(zesp_verifier_load(v, sad_path("senders.yaml"), err,
                                 sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "senders[0].sign_key: expected hex:") != NULL);
    write_file(sad_path("senders.yaml"), "senders:\n  - { spi: 0x7001 }\n");
    CHECK_ERR(zesp_verifier_load(v, sad_path("senders.yaml"), err,
                                 sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "senders[0]: 'sender_id' is required") != NULL);
    CHECK_OK(zesp_verifier_stats_get(v, &st));
    CHECK(st.senders == 2);
    memset(pk, 0, sizeof pk);
    CHECK_ERR(zesp_verifier_add(v, 0x7001, 2, pk), EINVAL);
    CHECK_ERR(zesp_verifier_add(v, 0x7001, 0x10000, pk), EINVAL);
out:
    zesp_buf_free(esp);
    zesp_buf_free(forged);
    zesp_sad_free(alice);
    zesp_sad_free(mallory);
    zesp_verifier_free(v);
}

/* A sender under any SPI (a group whose key server makes a new SPI for
 * each key, zikectl senders): its frames pass under every SPI, a forgery
 * under none; an entry under an SPI is found first; one Sender ID under
 * any SPI and an SPI, or with two keys, is refused, naming both lines. */
static void test_verify_any_spi(void)
{
    zesp_verifier *v = zesp_verifier_new();
    zesp_sad *alice = zesp_sad_new(NULL), *mallory = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_verifier_stats st;
    uint8_t pk[32], bob_pk[32], sk[64], *esp[3] = { NULL }, *forged = NULL;
    size_t n[3], forged_n;
    uint32_t sid = 0;
    static const uint32_t spis[3] = { SPI_G, 0x7a5e3c01U, 0xfffffffeU };
    char err[512], yaml[1024], a_hex[65], b_hex[65];
    zesp_frame f;

    CHECK(v != NULL && alice != NULL && mallory != NULL);
    if (v == NULL || alice == NULL || mallory == NULL)
        goto out;
    sign_keys(0xa1, pk, sk);
    sign_keys(0xb0, bob_pk, sk);
    sodium_bin2hex(a_hex, sizeof a_hex, pk, sizeof pk);
    sodium_bin2hex(b_hex, sizeof b_hex, bob_pk, sizeof bob_pk);
    /* alice under any SPI (spi left out, and said), bob under one */
    snprintf(yaml, sizeof yaml, "senders:\n"
             "  - { sender_id: 1, sign_key: \"hex:%s\" }\n"
             "  - { spi: 0x7a5e3c01, sender_id: 2, sign_key: \"hex:%s\" }\n"
             "  - { spi: any, sender_id: 3, sign_key: \"hex:%s\" }\n",
             a_hex, b_hex, b_hex);
    write_file(sad_path("senders.yaml"), yaml);
    CHECK_OK(zesp_verifier_load(v, sad_path("senders.yaml"), err, sizeof err));
    for (int i = 0; i < 3; i++) {
        p = signed_out(1, 0xa1);
        p.spi = spis[i];
        CHECK_OK(zesp_sa_add(alice, &p));
        CHECK_OK(seal_text(alice, spis[i], "under a new SPI", &esp[i], &n[i]));
    }
    p = signed_out(1, 0x66);
    CHECK_OK(zesp_sa_add(mallory, &p));
    CHECK_OK(seal_text(mallory, SPI_G, "forged", &forged, &forged_n));
    if (esp[0] == NULL || esp[1] == NULL || esp[2] == NULL || forged == NULL)
        goto out;
    for (int i = 0; i < 3; i++) {
        f = (zesp_frame){ esp[i], n[i] };
        CHECK_OK(zesp_verify(v, &f, 1, &sid));
        CHECK(sid == 1);
    }
    f = (zesp_frame){ forged, forged_n };
    CHECK_ERR(zesp_verify(v, &f, 1, NULL), ZESP_ESIGNATURE);
    /* SPI 0 is reserved on the wire: never "any" there. */
    memcpy(esp[0], (const uint8_t[4]){ 0, 0, 0, 0 }, 4);
    f = (zesp_frame){ esp[0], n[0] };
    CHECK_ERR(zesp_verify(v, &f, 1, NULL), ZESP_ENOSA);
    CHECK_OK(zesp_verifier_stats_get(v, &st));
    CHECK(st.senders == 3 && st.verified == 3 &&
          st.rejected[ZESP_REJ_SIGNATURE] == 1 &&
          st.rejected[ZESP_REJ_NOSA] == 1);
    /* The API: any SPI and an SPI for one Sender ID clash either way. */
    CHECK_ERR(zesp_verifier_add(v, SPI_G, 1, pk), ZESP_EEXIST);
    CHECK_ERR(zesp_verifier_add(v, ZESP_SPI_ANY, 2, bob_pk), ZESP_EEXIST);
    CHECK_ERR(zesp_verifier_add(v, ZESP_SPI_ANY, 3, pk), ZESP_EEXIST);
    CHECK_OK(zesp_verifier_add(v, 0x7a5e3c02U, 2, bob_pk));

    /* Refused files, each naming the line of the entry it clashes with. */
    /* Each: two entries (their keys alice's, a, or bob's, b), the error. */
    static const struct {
        const char *first, *second;
        char keys[3];
        const char *said;
    } bad[] = {
        { "sender_id: 9", "spi: any, sender_id: 9", "ab",
          ":3:5: senders[1]: any SPI, Sender ID 9: two keys (the other at "
          "senders[0], line 2)" },
        { "sender_id: 9", "sender_id: 9", "aa",
          ":3:5: senders[1]: any SPI, Sender ID 9: listed twice (also at "
          "senders[0], line 2)" },
        { "spi: 0x1234, sender_id: 9", "spi: any, sender_id: 9", "ab",
          ":3:5: senders[1]: Sender ID 9 under any SPI, and under SPI "
          "0x00001234 at senders[0] (line 2): ambiguous" },
        { "sender_id: 9", "spi: 0x1234, sender_id: 9", "ab",
          ":3:5: senders[1]: Sender ID 9 under SPI 0x00001234, and under any "
          "SPI at senders[0] (line 2): ambiguous" },
        { "sender_id: 11", "spi: 0, sender_id: 9", "aa",
          ":3:12: senders[1].spi: SPI 0 is reserved (spi: any" },
        { "sender_id: 10", "sender_id: 3", "ab",
          ":3:5: senders[1]: any SPI, Sender ID 3: listed twice (held "
          "before this file)" },
        { "sender_id: 10", "spi: 0x4321, sender_id: 3", "ab",
          ":3:5: senders[1]: Sender ID 3 under SPI 0x00004321: ambiguous "
          "beside its entry held before this file" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(yaml, sizeof yaml, "senders:\n"
                 "  - { %s, sign_key: \"hex:%s\" }\n"
                 "  - { %s, sign_key: \"hex:%s\" }\n", bad[i].first,
                 bad[i].keys[0] == 'a' ? a_hex : b_hex, bad[i].second,
                 bad[i].keys[1] == 'a' ? a_hex : b_hex);
        write_file(sad_path("senders.yaml"), yaml);
        CHECK_ERR(zesp_verifier_load(v, sad_path("senders.yaml"), err,
                                     sizeof err), ZESP_ECONFIG);
        CHECK(strstr(err, bad[i].said) != NULL);
        if (strstr(err, bad[i].said) == NULL)
            fprintf(stderr, "# case %zu: %s\n", i, err);
    }
    CHECK_OK(zesp_verifier_stats_get(v, &st));
    CHECK(st.senders == 4);
out:
    for (int i = 0; i < 3; i++)
        zesp_buf_free(esp[i]);
    zesp_buf_free(forged);
    zesp_sad_free(alice);
    zesp_sad_free(mallory);
    zesp_verifier_free(v);
}

/* Child: seal on the shared group SA, write each IV to fd. */
static int seal_child(int fd)
{
    zesp_sad *sad = zesp_sad_open(sad_path("shared"), 0, NULL);

    if (sad == NULL)
        return 1;
    for (int i = 0; i < PER_CHILD; i++) {
        uint8_t *esp;
        size_t n;
        if (seal_text(sad, SPI_G, "x", &esp, &n) != 0)
            return 2;
        if (write(fd, esp + IV_OFF, 8) != 8)
            return 3;
        zesp_buf_free(esp);
    }
    zesp_sad_free(sad);
    return 0;
}

static void test_two_processes_one_group_sa(void)
{
    zesp_sad *sad = zesp_sad_open(sad_path("shared"), ZESP_SAD_CREATE, NULL);
    zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_OUT, 0x42, 0);
    static uint8_t raw[FORK_SENDERS * PER_CHILD * 8];
    static uint64_t ivs[FORK_SENDERS * PER_CHILD];
    pid_t pid[FORK_SENDERS];
    zesp_sa_info info;
    int fds[2], status, wrong_sender = 0;
    size_t got = 0;

    CHECK(sad != NULL);
    if (sad == NULL)
        return;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    for (int i = 0; i < FORK_SENDERS; i++)
        if ((pid[i] = fork()) == 0) {
            int rc = seal_child(fds[1]);
            zesp_sad_free(sad);         /* the parent's, inherited */
            free(last_copy);
            _exit(rc);
        }
    close(fds[1]);
    for (ssize_t r; (r = read(fds[0], raw + got, sizeof raw - got)) > 0;)
        got += (size_t)r;
    close(fds[0]);
    for (int i = 0; i < FORK_SENDERS; i++)
        CHECK(waitpid(pid[i], &status, 0) == pid[i] && WIFEXITED(status) &&
              WEXITSTATUS(status) == 0);
    CHECK(got == sizeof raw);
    for (size_t i = 0; i < FORK_SENDERS * PER_CHILD; i++) {
        ivs[i] = load64(raw + 8 * i);
        wrong_sender += (ivs[i] >> 48) != 0x42;
    }
    CHECK(wrong_sender == 0);
    CHECK(count_dups(ivs, FORK_SENDERS * PER_CHILD) == 0);
    CHECK_OK(zesp_sa_info_get(sad, SPI_G, ZESP_DIR_OUT, &info));
    CHECK(info.seq == FORK_SENDERS * PER_CHILD);
    zesp_sad_free(sad);
}

static void write_at(const char *path, off_t off, const void *v, size_t n)
{
    int fd = open(path, O_WRONLY);

    CHECK(fd >= 0 && pwrite(fd, v, n, off) == (ssize_t)n);
    if (fd >= 0)
        close(fd);
}

/* A group slot whose Sender ID or flags no writer could have left makes
 * the file refused; so does a file of the previous layout version. */
static void test_damaged_group_slot_refused(void)
{
    static const struct { size_t field; uint32_t value; } damage[] = {
        { offsetof(struct sa_slot, sender_id), ZESP_SENDER_ID_MAX + 1U },
        { offsetof(struct sa_slot, sender_id), 0 },
        { offsetof(struct sa_slot, flags), ZESP_SA_SIGNED },
        { offsetof(struct sa_slot, flags), 0x80 | ZESP_SA_GROUP },
    };
    const char *path = sad_path("damaged");
    uint32_t v1 = 1;

    for (size_t i = 0; i < sizeof damage / sizeof damage[0]; i++) {
        zesp_sad *sad = zesp_sad_open(path, ZESP_SAD_CREATE, NULL);
        zesp_sa_params p = group_sa(SPI_G, ZESP_DIR_IN, 2, 0);
        struct sa_ref ref;
        off_t off = 0;

        CHECK(sad != NULL);
        if (sad == NULL)
            return;
        CHECK_OK(zesp_sa_add(sad, &p));
        if (sad_find_sender(sad, SPI_G, ZESP_DIR_IN, 2, &ref) == 0)
            off = (off_t)((uint8_t *)ref.slot - (uint8_t *)sad->hdr +
                          damage[i].field);
        zesp_sad_free(sad);
        CHECK(off > 0);
        sad = zesp_sad_open(path, 0, NULL);     /* intact: accepted */
        CHECK(sad != NULL);
        zesp_sad_free(sad);
        write_at(path, off, &damage[i].value, sizeof damage[i].value);
        sad = zesp_sad_open(path, 0, NULL);
        CHECK(sad == NULL && errno == ZESP_EBADSAD);
        zesp_sad_free(sad);
        unlink(path);
    }
    zesp_sad_free(zesp_sad_open(path, ZESP_SAD_CREATE, NULL));
    write_at(path, offsetof(struct sad_header, version), &v1, sizeof v1);
    CHECK(zesp_sad_open(path, 0, NULL) == NULL && errno == ZESP_ESADVERSION);
    unlink(path);
}

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "group") != 0)
        return 1;
    RUN(test_iv_layout_known_answer);
    RUN(test_worked_example);
    RUN(test_two_senders_interleaved);
    RUN(test_unknown_and_tampered_sender);
    RUN(test_pairwise_beside_group);
    RUN(test_seq_exhaustion);
    RUN(test_signed);
    RUN(test_verify);
    RUN(test_verify_any_spi);
    RUN(test_del_group_wipes_keys);
    RUN(test_add_rules_and_info);
    RUN(test_two_processes_one_group_sa);
    RUN(test_damaged_group_slot_refused);
    free(last_copy);
    return test_done_in(dir);
}
