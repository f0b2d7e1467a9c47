/*
 * The AEAD backends (esp/transform.c): libsodium and, in a build with
 * OpenSSL, libcrypto.  Checked: both give the GCM specification's test
 * case 16 and RFC 7634 Appendix A byte for byte; for every transform, with
 * and without ESN, at every payload length from 0 to 3000 bytes and at
 * 4 KiB, 64 KiB and 1 MiB, a frame sealed by one backend is byte for byte
 * the other's, and each opens the other's; a changed byte is refused by
 * both, and what was decrypted is cleared; a payload sealed from parts left
 * in the sender's memory is the frame sealed in place; message_encode
 * leaves uncopied exactly the large body frames it lists; a message so
 * sealed opens with the other backend; zesp_esp_encrypt seals the payload
 * given wherever it lies about the packet; and AES runs on neither backend
 * without AES instructions; text longer than an AEAD allows is refused by
 * both at once.  Without OpenSSL the cross-backend cases check
 * libsodium against itself and the vectors, and say so.
 */
#include <sodium.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datapath.h"
#include "keys.h"
#include "message.h"
#include "packet.h"
#include "rfc7634_vectors.h"
#include "test.h"
#include "transform.h"

static const enum aead_backend backends[] = { AEAD_SODIUM, AEAD_OPENSSL };

static bool have_openssl(void)
{
    return transform_backend_available(transform_find(ZESP_CHACHA20_POLY1305),
                                       AEAD_OPENSSL);
}

/* The two sides of a cross check: libsodium and OpenSSL, or without
 * OpenSSL libsodium twice. */
static enum aead_backend side(size_t i)
{
    return i == 1 && have_openssl() ? AEAD_OPENSSL : AEAD_SODIUM;
}

static size_t hex(uint8_t *out, const char *s)
{
    size_t n = 0;

    for (; s[0] && s[1]; s += 2) {
        unsigned v;
        if (sscanf(s, "%2x", &v) != 1)
            abort();
        out[n++] = (uint8_t)v;
    }
    return n;
}

/* "The Galois/Counter Mode of Operation" (McGrew, Viega), test case 16:
 * AES-256, 96-bit IV, with associated data.  As RFC 4106 uses it, the IV's
 * first 4 bytes are the salt. */
static void test_gcm_case16_both_backends(void)
{
    const struct transform *t = transform_find(ZESP_AES256GCM);
    uint8_t key[32], nonce[12], p[60], ad[20], want[60], tag[16];
    uint8_t c[60], icv[16], back[60];
    struct sa_key k;

    if (!transform_usable(t)) {
        printf("     skip: no AES instructions\n");
        return;
    }
    hex(key, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    hex(nonce, "cafebabefacedbaddecaf888");
    hex(p, "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
           "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    hex(ad, "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    hex(want, "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
              "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662");
    hex(tag, "76fc6ece0f4e1768cddf8853bb2d551b");
    memset(&k, 0, sizeof k);
    memcpy(k.key, key, 32);
    memcpy(k.salt, nonce, 4);
    transform_expand_key(t, &k);
    for (size_t b = 0; b < 2; b++) {
        struct aead_piece m = { p, sizeof p };
        if (!transform_backend_available(t, backends[b]))
            continue;
        CHECK(transform_seal(t, &k, backends[b], c, icv, &m, 1, ad, sizeof ad,
                             nonce) == 0);
        CHECK(memcmp(c, want, sizeof c) == 0 && memcmp(icv, tag, 16) == 0);
        CHECK(transform_open(t, &k, backends[b], back, want, sizeof want, tag,
                             ad, sizeof ad, nonce) == 0);
        CHECK(memcmp(back, p, sizeof p) == 0);
        icv[0] = tag[0] ^ 1U;
        CHECK(transform_open(t, &k, backends[b], back, want, sizeof want, icv,
                             ad, sizeof ad, nonce) == -1);
        CHECK(sodium_is_zero(back, sizeof back));
    }
}

static void kat7634_key(struct sa_key *k)
{
    memset(k, 0, sizeof *k);
    memcpy(k->key, zesp_kat7634_key, sizeof k->key);
    memcpy(k->salt, zesp_kat7634_salt, sizeof k->salt);
}

/* RFC 7634 Appendix A, sealed and opened by each backend. */
static void test_rfc7634_both_backends(void)
{
    struct sa_key k;
    struct esp_crypto ec = { transform_find(ZESP_CHACHA20_POLY1305), &k,
                             false, AEAD_AUTO };
    uint64_t iv = 0;
    uint8_t pkt[512], nh;
    size_t plen;

    kat7634_key(&k);
    for (int i = 0; i < 8; i++)
        iv = iv << 8 | zesp_kat7634_iv[i];
    for (size_t b = 0; b < 2; b++) {
        if (!transform_backend_available(ec.t, backends[b]))
            continue;
        ec.backend = backends[b];
        memset(pkt, 0, sizeof pkt);
        memcpy(pkt + ZESP_HEADERBYTES, zesp_kat7634_payload,
               zesp_kat7634_payload_len);
        CHECK(esp_seal(&ec, zesp_kat7634_spi, zesp_kat7634_seq, iv, pkt,
                       zesp_kat7634_payload_len, zesp_kat7634_pad_len,
                       zesp_kat7634_next_header) == 0);
        CHECK(memcmp(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len) == 0);
        memcpy(pkt, zesp_kat7634_esp, zesp_kat7634_esp_len);
        CHECK(esp_open(&ec, zesp_kat7634_seq, pkt, zesp_kat7634_esp_len,
                       &plen, &nh) == 0);
        CHECK(plen == zesp_kat7634_payload_len &&
              nh == zesp_kat7634_next_header &&
              memcmp(pkt + ZESP_HEADERBYTES, zesp_kat7634_payload, plen) == 0);
    }
}

static void test_key(struct sa_key *k, uint32_t transform)
{
    memset(k, 0, sizeof *k);
    for (size_t i = 0; i < sizeof k->key; i++)
        k->key[i] = (uint8_t)(i * 29U + transform);
    memcpy(k->salt, "salt", 4);
    transform_expand_key(transform_find(transform), k);
}

struct frames {
    uint8_t *sealed[2];     /* by each backend */
    uint8_t *opened;
    uint8_t *payload;
};

/* Seal payload (len) with each backend; the frames must be the same, each
 * open with the other backend, and a changed byte be refused by both.
 * Returns false at the first difference, to keep the output short. */
static bool cross(struct esp_crypto *ec, const struct frames *f, size_t len,
                  uint64_t seq, bool tamper)
{
    size_t n = esp_packet_len(len), plen;
    uint8_t nh;
    bool ok = true;

    for (size_t b = 0; b < 2; b++) {
        ec->backend = side(b);
        memcpy(f->sealed[b] + ZESP_HEADERBYTES, f->payload, len);
        ok &= esp_seal(ec, 0x5eed, seq, seq, f->sealed[b], len,
                       esp_pad_len(len), 59) == 0;
    }
    ok &= memcmp(f->sealed[0], f->sealed[1], n) == 0;
    for (size_t b = 0; b < 2 && ok; b++) {
        ec->backend = side(!b);
        ok &= esp_open_to(ec, seq, f->sealed[b], n, f->opened, &plen,
                          &nh) == 0 && plen == len && nh == 59 &&
              memcmp(f->opened + ZESP_HEADERBYTES, f->payload, len) == 0;
    }
    for (size_t b = 0; b < 2 && ok && tamper; b++) {
        ec->backend = side(b);
        f->sealed[0][n / 2] ^= 0x20;
        ok &= esp_open_to(ec, seq, f->sealed[0], n, f->opened, &plen,
                          &nh) == ZESP_EICV;
        /* What an encrypting transform decrypted is gone. */
        ok &= !ec->t->encrypts ||
              sodium_is_zero(f->opened + ZESP_HEADERBYTES,
                             n - ZESP_HEADERBYTES - ZESP_ICVBYTES);
        f->sealed[0][n / 2] ^= 0x20;
    }
    return ok;
}

static void test_byte_identical_across_backends(void)
{
    static const size_t big[] = { 4095, 4096, 4097, 65536, 1048576 };
    size_t max = 1048576, checked = 0;
    struct frames f;

    if (!have_openssl())
        printf("     note: no OpenSSL in this build: libsodium against itself\n");
    for (size_t b = 0; b < 2; b++)
        f.sealed[b] = malloc(esp_packet_len(max));
    f.opened = malloc(esp_packet_len(max));
    f.payload = malloc(max);
    if (!f.sealed[0] || !f.sealed[1] || !f.opened || !f.payload)
        abort();
    randombytes_buf(f.payload, max);
    for (size_t t = 0; t < TEST_NTRANSFORMS; t++) {
        struct sa_key k;
        struct esp_crypto ec = { transform_find(test_transforms[t]), &k,
                                 false, AEAD_AUTO };
        bool ok = true;

        if (!transform_usable(ec.t))
            continue;
        test_key(&k, test_transforms[t]);
        for (int esn = 0; esn < 2; esn++) {
            /* With ESN the high half of the number enters the ICV. */
            uint64_t seq = esn ? UINT64_C(0x0000000300000007) : 7U;
            ec.esn = esn;
            for (size_t len = 0; len <= 3000 && ok; len++, checked++)
                ok = cross(&ec, &f, len, seq, len % 97U == 0);
            for (size_t i = 0; i < sizeof big / sizeof big[0] && ok;
                 i++, checked++)
                ok = cross(&ec, &f, big[i], seq, true);
        }
        if (!ok)
            fprintf(stderr, "  %s: backends differ\n", ec.t->name);
        CHECK(ok);
    }
    CHECK(checked >= 2 * 3006);
    for (size_t b = 0; b < 2; b++)
        free(f.sealed[b]);
    free(f.opened);
    free(f.payload);
}

/* Parts of the payload left in the sender's memory seal to the frame the
 * payload gives in place, on either backend, for every transform. */
static void test_parts_seal_as_in_place(void)
{
    size_t len = 40000;
    uint8_t *payload = malloc(len), *a = malloc(esp_packet_len(len)),
            *b = malloc(esp_packet_len(len));
    /* At the start, between, adjacent, at the end: ESP_PARTS_MAX of them. */
    const struct { size_t at, len; } cut[ESP_PARTS_MAX] = {
        { 0, 5000 }, { 5000, 1 }, { 5003, 7000 }, { 12003, 4096 },
        { 16099, 13 }, { 20000, 9999 }, { 29999, 1 }, { 35000, 5000 },
    };

    if (!payload || !a || !b)
        abort();
    randombytes_buf(payload, len);
    for (size_t t = 0; t < TEST_NTRANSFORMS; t++)
        for (size_t be = 0; be < 2; be++) {
            struct sa_key k;
            struct esp_crypto ec = { transform_find(test_transforms[t]), &k,
                                     true, backends[be] };
            struct payload_part parts[ESP_PARTS_MAX];

            if (!transform_backend_available(ec.t, backends[be]))
                continue;
            test_key(&k, test_transforms[t]);
            memcpy(a + ZESP_HEADERBYTES, payload, len);
            CHECK(esp_seal(&ec, 9, 1, 1, a, len, esp_pad_len(len), 59) == 0);
            memset(b, 0xee, esp_packet_len(len));
            for (size_t i = 0; i < ESP_PARTS_MAX; i++)
                parts[i] = (struct payload_part){ cut[i].at,
                                                  payload + cut[i].at,
                                                  cut[i].len };
            /* Only what is not a part is in the packet beforehand. */
            for (size_t i = 0, at = 0; i <= ESP_PARTS_MAX; i++) {
                size_t end = i < ESP_PARTS_MAX ? cut[i].at : len;
                memcpy(b + ZESP_HEADERBYTES + at, payload + at, end - at);
                at = i < ESP_PARTS_MAX ? cut[i].at + cut[i].len : len;
            }
            CHECK(esp_seal_parts(&ec, 9, 1, 1, b, len, esp_pad_len(len), 59,
                                 parts, ESP_PARTS_MAX) == 0);
            CHECK(memcmp(a, b, esp_packet_len(len)) == 0);
        }
    free(payload);
    free(a);
    free(b);
}

/* The frames message_encode leaves uncopied are exactly those it lists:
 * from FRAME_UNCOPIED_MIN bytes, at most as many as asked; the rest of
 * the payload is written. */
static void test_encode_leaves_large_frames(void)
{
    enum { NBIG = ESP_PARTS_MAX + 2 };
    static uint8_t big[NBIG][FRAME_UNCOPIED_MIN + 1],
        under[FRAME_UNCOPIED_MIN - 1];
    zesp_frame body[2 * NBIG + 1], clear = { "topic", 5 };
    zesp_parts parts = { .clear = &clear, .nclear = 1, .body = body,
                         .nbody = 2 * NBIG + 1 };
    struct payload_part listed[ESP_PARTS_MAX];
    struct message_view v = { 0 };
    size_t len, n;
    uint8_t *out;

    memset(under, 0x55, sizeof under);
    body[0] = (zesp_frame){ under, sizeof under };
    for (size_t i = 0; i < NBIG; i++) {
        memset(big[i], (int)(i + 1), sizeof big[i]);
        body[1 + 2 * i] = (zesp_frame){ big[i], FRAME_UNCOPIED_MIN + i % 2 };
        body[2 + 2 * i] = (zesp_frame){ "small", 5 };
    }
    CHECK_OK(message_payload_len(&parts, &len));
    out = malloc(len);
    memset(out, 0xee, len);
    n = message_encode(out, &parts, listed, ESP_PARTS_MAX);
    CHECK(n == ESP_PARTS_MAX);
    for (size_t i = 0; i < n; i++) {
        CHECK(listed[i].data == big[i] &&
              listed[i].len == body[1 + 2 * i].size);
        CHECK(i == 0 || listed[i].at > listed[i - 1].at + listed[i - 1].len);
        /* Untouched: still the fill. */
        CHECK(out[listed[i].at] == 0xee &&
              out[listed[i].at + listed[i].len - 1] == 0xee);
        memcpy(out + listed[i].at, listed[i].data, listed[i].len);
    }
    /* With the listed frames put back, the payload decodes whole. */
    CHECK_OK(message_decode(out, len, &clear, 1, &v));
    CHECK(v.nbody == parts.nbody);
    for (size_t i = 0; i < v.nbody && i < parts.nbody; i++)
        CHECK(v.body[i].size == body[i].size &&
              memcmp(v.body[i].data, body[i].data, body[i].size) == 0);
    /* Asked for none, it copies everything. */
    memset(out, 0xee, len);
    CHECK(message_encode(out, &parts, listed, 0) == 0);
    CHECK_OK(message_decode(out, len, &clear, 1, &v));
    CHECK(v.nbody == parts.nbody && v.body[1].size == FRAME_UNCOPIED_MIN &&
          memcmp(v.body[1].data, big[0], FRAME_UNCOPIED_MIN) == 0);
    free(v.body);
    free(out);
}

/* A message zesp_seal sealed (large frames read where they are when the
 * backend allows) is the frame the other backend opens. */
static void test_sealed_message_opens_with_libsodium(void)
{
    static uint8_t big[3][100000];
    zesp_sad *out = zesp_sad_new(NULL);
    zesp_sa_params p = test_sa(0x77, ZESP_DIR_OUT, ZESP_CHACHA20_POLY1305, 0);
    zesp_frame body[4] = { { big[0], sizeof big[0] }, { "x", 1 },
                           { big[1], sizeof big[1] }, { big[2], 5000 } };
    zesp_parts parts = { .body = body, .nbody = 4 };
    struct esp_crypto ec = { transform_find(p.transform), NULL, true,
                             AEAD_SODIUM };
    struct message_view v = { 0 };
    struct sa_key k;
    uint8_t *esp, nh;
    size_t n, plen;

    randombytes_buf(big, sizeof big);
    CHECK_OK(zesp_sa_add(out, &p));
    CHECK_OK(zesp_seal(out, 0x77, &parts, &esp, &n));
    memset(&k, 0, sizeof k);
    memcpy(k.key, p.key, 32);
    memcpy(k.salt, p.key + 32, 4);
    ec.k = &k;
    CHECK(esp_open(&ec, 1, esp, n, &plen, &nh) == 0);
    CHECK_OK(message_decode(esp + ZESP_HEADERBYTES, plen, NULL, 0, &v));
    CHECK(v.nbody == 4);
    for (size_t i = 0; i < v.nbody && i < 4; i++)
        CHECK(v.body[i].size == body[i].size &&
              memcmp(v.body[i].data, body[i].data, body[i].size) == 0);
    free(v.body);
    zesp_buf_free(esp);
    zesp_sad_free(out);
}

/* zesp_esp_encrypt from a payload that overlaps the packet beyond the
 * body: just after it (where padding, trailer and ICV go) or just before
 * its header.  What it seals is the payload as given, on either backend:
 * before, a long payload (OpenSSL's) that missed the body but not the
 * trailer or header was read where it lay after those bytes had been
 * written over it. */
static void test_encrypt_from_overlapping_payload(void)
{
    enum { LEN = 4096, ROOM = 4 * LEN };   /* payload after the packet: 3 LEN + 8 */
    static uint8_t buf[ROOM], want[LEN];
    const size_t at = LEN, plen = ZESP_HEADERBYTES + LEN;
    /* Where the payload lies, from the packet's start. */
    const long offsets[] = { (long)plen, (long)plen - 8, 8L - LEN,
                             (long)ZESP_HEADERBYTES };

    for (size_t t = 0; t < 2; t++) {
        uint32_t tr = t ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305;
        if (!zesp_transform_available(tr))
            continue;
        for (size_t o = 0; o < sizeof offsets / sizeof offsets[0]; o++) {
            zesp_sad *out = zesp_sad_new(NULL), *in = zesp_sad_new(NULL);
            uint8_t *pkt = buf + at, *payload = pkt + offsets[o], *got, nh;
            size_t n = 0, got_len = 0;

            CHECK(out != NULL && in != NULL &&
                  test_sa_pair(out, in, 0x88, tr, 0) == 0);
            randombytes_buf(want, sizeof want);
            memcpy(payload, want, LEN);
            CHECK_OK(zesp_esp_encrypt(out, 0x88, payload, LEN, 4, pkt, &n));
            CHECK(n == zesp_esp_bytes(LEN));
            CHECK_OK(zesp_esp_decrypt(in, pkt, n, &got, &got_len, &nh, NULL,
                                      NULL));
            if (got_len != LEN || memcmp(got, want, LEN) != 0)
                fprintf(stderr, "  %s, payload at %+ld: sealed bytes differ "
                        "from the payload given\n", zesp_transform_name(tr),
                        offsets[o]);
            CHECK(got_len == LEN && memcmp(got, want, LEN) == 0);
            zesp_sad_free(out);
            zesp_sad_free(in);
        }
    }
}

/* One call on text of the AEAD's limit + 1 octet, in a child: 0 if it
 * was refused at once, without writing (the mapping is read-only) nor
 * reading it all (the alarm), else what ended the child. */
static int over_limit(const struct transform *t, enum aead_backend b,
                      bool seal, size_t len)
{
    uint8_t *text = mmap(NULL, len, PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint8_t nonce[NONCE_BYTES] = { 0 }, icv[16] = { 0 };
    struct aead_piece piece = { text, len };
    struct sa_key k;
    int status;
    pid_t pid;

    if (text == MAP_FAILED)
        return -2;
    test_key(&k, t->id);
    if ((pid = fork()) == 0) {
        alarm(10);
        _exit((seal ? transform_seal(t, &k, b, text, icv, &piece, 1, NULL, 0,
                                     nonce)
                    : transform_open(t, &k, b, text, text, len, icv, NULL, 0,
                                     nonce)) == -1 ? 0 : 1);
    }
    munmap(text, len);
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -3;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

/* Text longer than the AEAD allows (64 GiB for AES-GCM, 256 GiB for
 * ChaCha20-Poly1305) is refused by either backend before any work.
 * Before, libsodium aborted the process (sodium_misuse): a receiver whose
 * SAD allows such messages, in a build without OpenSSL, was brought down
 * by one frame from anyone; OpenSSL decrypted its 64 GiB before failing.
 * The text is a read-only mapping of zero pages: nothing is allocated. */
static void test_text_over_aead_limit_refused(void)
{
    const uint32_t ids[] = { ZESP_AES256GCM, ZESP_CHACHA20_POLY1305 };

    if (test_under_valgrind()) {
        printf("     skip: valgrind maps no 256 GiB\n");
        return;
    }
    for (size_t i = 0; i < 2; i++) {
        const struct transform *t = transform_find(ids[i]);
        size_t len = (t->aes ? crypto_aead_aes256gcm_MESSAGEBYTES_MAX
                             : crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX) +
                     1U;

        for (size_t b = 0; b < 2; b++)
            for (int seal = 0; seal < 2; seal++) {
                int end;
                if (!transform_backend_available(t, backends[b]))
                    continue;
                end = over_limit(t, backends[b], seal, len);
                if (end == -2) {
                    printf("     skip: no %zu octets of address space\n", len);
                    continue;
                }
                if (end != 0)
                    fprintf(stderr, "  %s on %s, %s %zu octets: %s %d\n",
                            t->name, b ? "OpenSSL" : "libsodium",
                            seal ? "seal" : "open", len,
                            end >= 100 ? "signal" : "exit",
                            end >= 100 ? end - 100 : end);
                CHECK(end == 0);
            }
    }
}

/* AEAD_AUTO: libsodium below a transform's threshold, OpenSSL (when
 * built in) from it on. */
static void test_auto_backend_by_length(void)
{
    for (size_t t = 0; t < TEST_NTRANSFORMS; t++) {
        const struct transform *tr = transform_find(test_transforms[t]);
        enum aead_backend above = have_openssl() ? AEAD_OPENSSL : AEAD_SODIUM;

        CHECK(transform_backend(tr, AEAD_AUTO, 0) == AEAD_SODIUM);
        CHECK(transform_backend(tr, AEAD_AUTO, tr->openssl_min - 1) ==
              AEAD_SODIUM);
        CHECK(transform_backend(tr, AEAD_AUTO, tr->openssl_min) == above);
        CHECK(transform_backend(tr, AEAD_SODIUM, 1U << 20) == AEAD_SODIUM);
    }
}

/* AES on either backend only with AES instructions: OpenSSL would run it
 * without them, on tables whose cache use leaks the key. */
static void test_aes_needs_aes_instructions(void)
{
    bool hw = crypto_aead_aes256gcm_is_available();
    const uint32_t aes[] = { ZESP_AES256GCM, ZESP_NULL_AES256GMAC };

    for (size_t i = 0; i < 2; i++) {
        const struct transform *t = transform_find(aes[i]);
        CHECK(transform_usable(t) == hw);
        CHECK(!transform_backend_available(t, AEAD_OPENSSL) || hw);
        CHECK(!transform_backend_available(t, AEAD_SODIUM) || hw);
        CHECK(zesp_transform_available(aes[i]) == hw);
    }
}

int main(void)
{
    if (zesp_init() != 0)
        return 1;
    printf("     backends: libsodium%s\n",
           have_openssl() ? " and OpenSSL" : " only");
    RUN(test_gcm_case16_both_backends);
    RUN(test_rfc7634_both_backends);
    RUN(test_byte_identical_across_backends);
    RUN(test_parts_seal_as_in_place);
    RUN(test_encode_leaves_large_frames);
    RUN(test_sealed_message_opens_with_libsodium);
    RUN(test_encrypt_from_overlapping_payload);
    RUN(test_text_over_aead_limit_refused);
    RUN(test_auto_backend_by_length);
    RUN(test_aes_needs_aes_instructions);
    return test_done();
}
