/* The transforms: which AEAD each one uses, and on which library. */
#include "transform.h"

#include <sodium.h>
#include <string.h>

#include "aead_openssl.h"

/*
 * Where OpenSSL takes over under AEAD_AUTO (bench/results/, "transforms"):
 * its call costs about 1 µs more than libsodium's (a context, the key
 * schedule), which its speed wins back from about 0.75 KiB (ChaCha20) and
 * 1.5 KiB (AES-GCM, where libsodium is fast too).
 */
#define OPENSSL_MIN_AES 1536U
#define OPENSSL_MIN_CHACHA 768U

static const struct transform transforms[] = {
    { ZESP_CHACHA20_POLY1305, "chacha20-poly1305", true, false,
      OPENSSL_MIN_CHACHA },
    { ZESP_AES256GCM, "aes256gcm", true, true, OPENSSL_MIN_AES },
    { ZESP_NULL_AES256GMAC, "null-aes256gmac", false, true, OPENSSL_MIN_AES },
    { ZESP_NULL_CHACHA20_POLY1305, "null-chacha20-poly1305", false, false,
      OPENSSL_MIN_CHACHA },
};

const struct transform *transform_find(uint32_t id)
{
    for (size_t i = 0; i < sizeof transforms / sizeof transforms[0]; i++)
        if (transforms[i].id == id)
            return &transforms[i];
    return NULL;
}

/* AES is used only with AES instructions, whatever the backend: OpenSSL
 * would run it without, on tables that leak the key through the cache. */
bool transform_usable(const struct transform *t)
{
    return !t->aes || crypto_aead_aes256gcm_is_available();
}

size_t transform_preferred(uint32_t ids[TRANSFORM_PREFERRED_MAX])
{
    size_t n = 0;

    if (transform_usable(transform_find(ZESP_AES256GCM)))
        ids[n++] = ZESP_AES256GCM;
    ids[n++] = ZESP_CHACHA20_POLY1305;
    return n;
}

void transform_expand_key(const struct transform *t, struct sa_key *k)
{
    if (t->aes)
        crypto_aead_aes256gcm_beforenm(&k->aes, k->key);
}

bool transform_backend_available(const struct transform *t,
                                 enum aead_backend b)
{
    if (!transform_usable(t))
        return false;
    return b != AEAD_OPENSSL || openssl_aead_available(t->aes);
}

enum aead_backend transform_backend(const struct transform *t,
                                    enum aead_backend want, size_t len)
{
    if (want != AEAD_AUTO)
        return want;
    return len >= t->openssl_min && openssl_aead_available(t->aes)
               ? AEAD_OPENSSL : AEAD_SODIUM;
}

/* The most text one AEAD call takes, as libsodium counts it (GCM's
 * 2^32 - 2 blocks, SP 800-38D; ChaCha20's 2^32 - 1, RFC 8439).  Above it
 * libsodium aborts the process and OpenSSL fails once it has done the
 * work: refused first, by both alike, and nothing decrypted to wipe. */
static size_t text_max(const struct transform *t)
{
    return t->aes ? crypto_aead_aes256gcm_MESSAGEBYTES_MAX
                  : crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX;
}

static size_t pieces_len(const struct aead_piece *m, size_t n)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        len += m[i].len;
    return len;
}

/* libsodium seals one buffer: the pieces are gathered into c first. */
static int sodium_seal(const struct transform *t, const struct sa_key *k,
                       uint8_t *c, uint8_t icv[16], const struct aead_piece *m,
                       size_t n, const uint8_t *ad, size_t adlen,
                       const uint8_t nonce[NONCE_BYTES])
{
    const uint8_t *src = c;
    size_t len = 0;

    if (n == 1) {
        src = m[0].src;
        len = m[0].len;
    } else {
        for (size_t i = 0; i < n; len += m[i++].len)
            if (m[i].len && m[i].src != c + len)
                memcpy(c + len, m[i].src, m[i].len);
    }
    if (t->aes)
        return crypto_aead_aes256gcm_encrypt_detached_afternm(
            c, icv, NULL, src, len, ad, adlen, NULL, nonce, &k->aes);
    return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        c, icv, NULL, src, len, ad, adlen, NULL, nonce, k->key);
}

int transform_seal(const struct transform *t, const struct sa_key *k,
                   enum aead_backend b, uint8_t *c, uint8_t icv[16],
                   const struct aead_piece *m, size_t npieces,
                   const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES])
{
    size_t len = pieces_len(m, npieces);

    if (len > text_max(t))
        return -1;
    b = transform_backend(t, b, len + adlen);
    if (b == AEAD_OPENSSL)
        return openssl_aead_seal(t->aes, k->key, nonce, c, icv, m, npieces,
                                 ad, adlen);
    return sodium_seal(t, k, c, icv, m, npieces, ad, adlen, nonce);
}

int transform_open(const struct transform *t, const struct sa_key *k,
                   enum aead_backend b, uint8_t *m, const uint8_t *c,
                   size_t clen, const uint8_t icv[16], const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[NONCE_BYTES])
{
    int rc;

    if (clen > text_max(t))
        return -1;
    b = transform_backend(t, b, clen + adlen);
    if (b == AEAD_OPENSSL)
        rc = openssl_aead_open(t->aes, k->key, nonce, m, c, clen, icv, ad,
                               adlen);
    else if (t->aes)
        rc = crypto_aead_aes256gcm_decrypt_detached_afternm(
            m, NULL, c, clen, icv, ad, adlen, nonce, &k->aes);
    else
        rc = crypto_aead_chacha20poly1305_ietf_decrypt_detached(
            m, NULL, c, clen, icv, ad, adlen, nonce, k->key);
    /* OpenSSL decrypts before it verifies: nothing unverified stays. */
    if (rc != 0 && clen)
        sodium_memzero(m, clen);
    return rc;
}
