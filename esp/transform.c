/* The transforms: which libsodium AEAD each one uses and how. */
#include "transform.h"

#include <sodium.h>

static const struct transform transforms[] = {
    { ZESP_CHACHA20_POLY1305, "chacha20-poly1305", true, false },
    { ZESP_AES256GCM, "aes256gcm", true, true },
    { ZESP_NULL_AES256GMAC, "null-aes256gmac", false, true },
    { ZESP_NULL_CHACHA20_POLY1305, "null-chacha20-poly1305", false, false },
};

const struct transform *transform_find(uint32_t id)
{
    for (size_t i = 0; i < sizeof transforms / sizeof transforms[0]; i++)
        if (transforms[i].id == id)
            return &transforms[i];
    return NULL;
}

bool transform_usable(const struct transform *t)
{
    return !t->aes || crypto_aead_aes256gcm_is_available();
}

void transform_expand_key(const struct transform *t, struct sa_key *k)
{
    if (t->aes)
        crypto_aead_aes256gcm_beforenm(&k->aes, k->key);
}

int transform_seal(const struct transform *t, const struct sa_key *k,
                   uint8_t *c, uint8_t icv[16], const uint8_t *m, size_t mlen,
                   const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES])
{
    if (t->aes)
        return crypto_aead_aes256gcm_encrypt_detached_afternm(
            c, icv, NULL, m, mlen, ad, adlen, NULL, nonce, &k->aes);
    return crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        c, icv, NULL, m, mlen, ad, adlen, NULL, nonce, k->key);
}

int transform_open(const struct transform *t, const struct sa_key *k,
                   uint8_t *m, const uint8_t *c, size_t clen,
                   const uint8_t icv[16], const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES])
{
    if (t->aes)
        return crypto_aead_aes256gcm_decrypt_detached_afternm(
            m, NULL, c, clen, icv, ad, adlen, nonce, &k->aes);
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        m, NULL, c, clen, icv, ad, adlen, nonce, k->key);
}
