/*
 * The cryptography of IKEv2 in ike/: HMAC-SHA-256 against RFC 4231's
 * vectors, prf+ built block by block as RFC 7296 2.13 writes it, both
 * ends of an X25519 exchange deriving the same IKE SA keys, the Encrypted
 * payload sealed and opened (and refused when any byte is changed), and
 * the AUTH payload with a PSK and with Ed25519 (RFC 8420), and IKE SA
 * keys wiped the moment they are released.
 */
#include <sodium.h>

#include "ike_crypto.h"
#include "ikev2.h"
#include "test.h"
#include "transform.h"
#include "zesp.h"

static int unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t len;

    return sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &len, NULL) == 0
               ? (int)len : -1;
}

/* RFC 4231 test cases 1 and 2. */
static void hmac_sha256_rfc4231(void)
{
    uint8_t key[20], out[32], want[32];
    struct ike_chunk hi[] = { { (const uint8_t *)"Hi There", 8 } };
    struct ike_chunk q[] = { { (const uint8_t *)"what do ya want ", 16 },
                             { (const uint8_t *)"for nothing?", 12 } };

    memset(key, 0x0b, sizeof key);
    ike_prf(out, key, sizeof key, hi, 1);
    unhex(want, sizeof want, "b0344c61d8db38535ca8afceaf0bf12b"
                             "881dc200c9833da726e9376c2e32cff7");
    CHECK(memcmp(out, want, 32) == 0);
    ike_prf(out, (const uint8_t *)"Jefe", 4, q, 2);
    unhex(want, sizeof want, "5bdcc146bf60754e6a042426089575c7"
                             "5a003f089d2739839dec58b964ec3843");
    CHECK(memcmp(out, want, 32) == 0);
}

/* prf+ (K, S) = T1 | T2 | ..., T1 = prf(K, S | 0x01),
 * Tn = prf(K, Tn-1 | S | n). */
static void prf_plus_blocks(void)
{
    const uint8_t key[] = "some key", s[] = "seed material";
    uint8_t out[100], t[4][32], one = 1;
    struct ike_chunk seed[] = { { s, sizeof s - 1 } };

    CHECK_OK(ike_prf_plus(out, sizeof out, key, sizeof key - 1, seed, 1));
    {
        struct ike_chunk c[] = { { s, sizeof s - 1 }, { &one, 1 } };
        ike_prf(t[0], key, sizeof key - 1, c, 2);
    }
    for (uint8_t n = 2; n <= 4; n++) {
        struct ike_chunk c[] = { { t[n - 2], 32 }, { s, sizeof s - 1 },
                                 { &n, 1 } };
        ike_prf(t[n - 1], key, sizeof key - 1, c, 3);
    }
    CHECK(memcmp(out, t[0], 32) == 0);
    CHECK(memcmp(out + 32, t[1], 32) == 0);
    CHECK(memcmp(out + 64, t[2], 32) == 0);
    CHECK(memcmp(out + 96, t[3], 4) == 0);
    CHECK(ike_prf_plus(out, 255 * 32 + 1, key, 8, seed, 1) == -1);
}

struct pair {
    struct ike_keys *i, *r;
    uint8_t ni[32], nr[32], spi_i[8], spi_r[8];
};

static void pair_make(struct pair *p, uint16_t encr)
{
    uint8_t pi[32], si[32], pr[32], sr[32], gi[32], gr[32];

    randombytes_buf(p->ni, 32);
    randombytes_buf(p->nr, 32);
    randombytes_buf(p->spi_i, 8);
    randombytes_buf(p->spi_r, 8);
    p->i = ike_keys_new();
    p->r = ike_keys_new();
    CHECK(p->i && p->r);
    CHECK_OK(ike_x25519_keypair(pi, si));
    CHECK_OK(ike_x25519_keypair(pr, sr));
    CHECK_OK(ike_x25519_shared(gi, si, pr, 32));
    CHECK_OK(ike_x25519_shared(gr, sr, pi, 32));
    CHECK_OK(ike_derive(p->i, encr, NULL, gi, p->ni, 32, p->nr, 32,
                        p->spi_i, p->spi_r));
    CHECK_OK(ike_derive(p->r, encr, NULL, gr, p->ni, 32, p->nr, 32,
                        p->spi_i, p->spi_r));
}

static void pair_free(struct pair *p)
{
    ike_keys_free(p->i);
    ike_keys_free(p->r);
}

static void derive_both_ends(void)
{
    struct pair p;
    uint8_t zero[32] = { 0 }, out[32];

    pair_make(&p, IKE_ENCR_CHACHA20_POLY1305);
    CHECK(memcmp(p.i->sk_d, p.r->sk_d, 32) == 0);
    CHECK(memcmp(p.i->sk_ei, p.r->sk_ei, 36) == 0);
    CHECK(memcmp(p.i->sk_er, p.r->sk_er, 36) == 0);
    CHECK(memcmp(p.i->sk_pi, p.r->sk_pi, 32) == 0);
    CHECK(memcmp(p.i->sk_pr, p.r->sk_pr, 32) == 0);
    CHECK(memcmp(p.i->sk_ei, p.i->sk_er, 36) != 0);
    CHECK(memcmp(p.i->sk_pi, p.i->sk_pr, 32) != 0);
    pair_free(&p);
    /* A low-order point gives an all-zero secret: refused (RFC 8031). */
    CHECK(ike_x25519_shared(out, p.ni, zero, 32) != 0);
    CHECK(ike_x25519_shared(out, p.ni, zero, 31) != 0);
    {
        struct ike_keys *k = ike_keys_new();
        /* 12 is AES-CBC: not an AEAD zike speaks. */
        CHECK(k && ike_derive(k, 12, NULL, zero, p.ni, 32, p.nr, 32,
                              p.spi_i, p.spi_r) == -1);
        ike_keys_free(k);
    }
}

/* A message with an SK payload around an ID and a nonce payload. */
static size_t sealed(struct pair *p, uint8_t *buf, bool from_initiator,
                     uint64_t *counter)
{
    uint8_t chain[256];
    struct ike_header h = { .exchange = IKE_AUTH, .message_id = 1 };
    struct ike_writer w;
    size_t clen, len = 0, sk_at;

    memcpy(h.spi_i, p->spi_i, 8);
    memcpy(h.spi_r, p->spi_r, 8);
    h.flags = from_initiator ? IKE_FLAG_INITIATOR : IKE_FLAG_RESPONSE;
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDI, IKE_ID_FQDN, "alice.example", 13);
    ike_w_nonce(&w, p->ni, 32);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    ike_w_init(&w, buf, IKE_MAX_MESSAGE, &h);
    sk_at = w.len;
    ike_w_begin(&w, IKE_PL_SK, false);
    buf[sk_at] = chain[0];
    memcpy(buf + sk_at + 4 + IKE_SK_IV_BYTES, chain + 1, clen - 1);
    CHECK(ike_sk_seal(buf, IKE_MAX_MESSAGE, sk_at, clen - 1,
                      from_initiator ? p->i : p->r, from_initiator, counter,
                      &len) == IKE_OK);
    return len;
}

static void sk_round_trip(uint16_t encr)
{
    static uint8_t buf[IKE_MAX_MESSAGE], copy[IKE_MAX_MESSAGE];
    struct pair p;
    struct ike_message m;
    uint64_t counter = 7;
    size_t len;
    const struct ike_payload *id, *n;

    if (!zesp_transform_available(encr))
        return;
    pair_make(&p, encr);
    len = sealed(&p, buf, true, &counter);
    CHECK(counter == 8);
    /* The IV is the counter, big-endian, after the SK header. */
    CHECK(memcmp(buf + 32, "\0\0\0\0\0\0\0\x07", 8) == 0);
    memcpy(copy, buf, len);
    CHECK(ike_parse(buf, len, &m) == IKE_OK);
    CHECK(ike_sk_open(buf, len, &m, p.r, true) == IKE_OK);
    CHECK((id = ike_find(&m, IKE_PL_IDI)) != NULL);
    CHECK(id && id->len == 4 + 13 && memcmp(id->body + 4, "alice", 5) == 0);
    CHECK((n = ike_find(&m, IKE_PL_NONCE)) && n->len == 32 &&
          memcmp(n->body, p.ni, 32) == 0);
    /* Any byte changed, header included, and the wrong direction's key. */
    for (size_t at = 0; at < len; at += (at < 40 ? 1 : 7)) {
        memcpy(buf, copy, len);
        buf[at] ^= 0x20;
        if (ike_parse(buf, len, &m) == IKE_OK)
            CHECK(ike_sk_open(buf, len, &m, p.r, true) != IKE_OK);
    }
    memcpy(buf, copy, len);
    CHECK(ike_parse(buf, len, &m) == IKE_OK);
    CHECK(ike_sk_open(buf, len, &m, p.r, false) == IKE_EAUTH);
    pair_free(&p);
}

static void sk_chacha(void) { sk_round_trip(IKE_ENCR_CHACHA20_POLY1305); }
static void sk_aes_gcm(void) { sk_round_trip(IKE_ENCR_AES_GCM_16); }

static void auth_psk(void)
{
    uint8_t a[32], b[32], mac[32];
    const uint8_t msg[] = "IKE_SA_INIT request", nonce[32] = { 1 };
    const uint8_t id[] = "\x02\0\0\0alice.example", skp[32] = { 9 };

    ike_auth_octets_mac(mac, skp, id, sizeof id - 1);
    CHECK_OK(ike_auth_psk(a, (const uint8_t *)"secret-secret-16", 16, msg,
                          sizeof msg, nonce, 32, mac));
    CHECK_OK(ike_auth_psk(b, (const uint8_t *)"secret-secret-16", 16, msg,
                          sizeof msg, nonce, 32, mac));
    CHECK(memcmp(a, b, 32) == 0);
    CHECK_OK(ike_auth_psk(b, (const uint8_t *)"secret-secret-17", 16, msg,
                          sizeof msg, nonce, 32, mac));
    CHECK(memcmp(a, b, 32) != 0);
    /* By hand: prf(prf(PSK, "Key Pad for IKEv2"), octets). */
    {
        struct ike_chunk pad[] = { { (const uint8_t *)"Key Pad for IKEv2",
                                     17 } };
        struct ike_chunk oct[] = { { msg, sizeof msg }, { nonce, 32 },
                                   { mac, 32 } };
        uint8_t k[32];
        ike_prf(k, (const uint8_t *)"secret-secret-16", 16, pad, 1);
        ike_prf(b, k, 32, oct, 3);
        CHECK(memcmp(a, b, 32) == 0);
    }
}

static void auth_ed25519(void)
{
    uint8_t pk[32], sk[64], pk2[32], sk2[64], sig[IKE_AUTH_MAX], mac[32];
    uint8_t msg[64] = "IKE_SA_INIT response", nonce[32] = { 3 };
    size_t len;
    static const uint8_t alg[] = { 7, 0x30, 5, 6, 3, 0x2b, 0x65, 0x70 };

    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk2, sk2);
    randombytes_buf(mac, sizeof mac);
    CHECK_OK(ike_auth_ed25519_sign(sig, &len, sk, msg, sizeof msg, nonce, 32,
                                   mac));
    CHECK(len == 8 + 64 && memcmp(sig, alg, 8) == 0);
    CHECK_OK(ike_auth_ed25519_verify(sig, len, pk, msg, sizeof msg, nonce,
                                     32, mac));
    CHECK(ike_auth_ed25519_verify(sig, len, pk2, msg, sizeof msg, nonce, 32,
                                  mac) != 0);
    msg[0] ^= 1;
    CHECK(ike_auth_ed25519_verify(sig, len, pk, msg, sizeof msg, nonce, 32,
                                  mac) != 0);
    msg[0] ^= 1;
    sig[3] ^= 1;    /* the AlgorithmIdentifier must be Ed25519's */
    CHECK(ike_auth_ed25519_verify(sig, len, pk, msg, sizeof msg, nonce, 32,
                                  mac) != 0);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk2, sizeof sk2);
}

static void child_keymat(void)
{
    uint8_t km[72], km2[72], skd[32] = { 5 }, ni[32] = { 1 }, nr[32] = { 2 };
    uint8_t g[32] = { 7 };

    CHECK_OK(ike_child_keymat(km, sizeof km, skd, NULL, ni, 32, nr, 32));
    {
        struct ike_chunk s[] = { { ni, 32 }, { nr, 32 } };
        CHECK_OK(ike_prf_plus(km2, sizeof km2, skd, 32, s, 2));
        CHECK(memcmp(km, km2, sizeof km) == 0);
    }
    CHECK(memcmp(km, km + 36, 36) != 0);
    /* With a new DH secret (CREATE_CHILD_SA): prf+(SK_d, g^ir | Ni | Nr). */
    CHECK_OK(ike_child_keymat(km, sizeof km, skd, g, ni, 32, nr, 32));
    {
        struct ike_chunk s[] = { { g, 32 }, { ni, 32 }, { nr, 32 } };
        CHECK_OK(ike_prf_plus(km2, sizeof km2, skd, 32, s, 3));
        CHECK(memcmp(km, km2, sizeof km) == 0);
    }
}

/* Keys released are wiped at once (the pool reuses the memory; all but
 * its free-list link must read zero). */
static void keys_wiped_on_free(void)
{
    struct ike_keys *k = ike_keys_new();
    const uint8_t *b = (const uint8_t *)k;
    size_t nonzero = 0;

    CHECK(k != NULL);
    memset(k->sk_d, 0xa5, sizeof k->sk_d);
    memset(k->sk_ei, 0xa5, sizeof k->sk_ei);
    memset(k->dh_priv, 0xa5, sizeof k->dh_priv);
    memset(k->ei.key, 0xa5, sizeof k->ei.key);
    ike_keys_free(k);
    for (size_t i = sizeof(void *); i < sizeof *k; i++)
        nonzero += b[i] != 0;
    CHECK(nonzero == 0);
    /* The next one is the same memory, handed out zeroed. */
    CHECK(ike_keys_new() == k);
    CHECK(sodium_is_zero(b, sizeof *k));
    ike_keys_free(k);
}

int main(void)
{
    if (zesp_init() != 0)
        return 1;
    RUN(hmac_sha256_rfc4231);
    RUN(prf_plus_blocks);
    RUN(derive_both_ends);
    RUN(sk_chacha);
    RUN(sk_aes_gcm);
    RUN(auth_psk);
    RUN(auth_ed25519);
    RUN(child_keymat);
    RUN(keys_wiped_on_free);
    return test_done();
}
