/*
 * The two ESP AEADs on OpenSSL's libcrypto (configure --with-openssl):
 * AES-256-GCM (aes) and ChaCha20-Poly1305, 12-byte nonce, 16-byte tag,
 * the same bytes as libsodium's.  Without OpenSSL the build has stubs
 * that say it is not there.
 */
#ifndef ZESP_AEAD_OPENSSL_H
#define ZESP_AEAD_OPENSSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "transform.h"

#ifdef ZESP_OPENSSL
bool openssl_aead_available(bool aes);
int openssl_aead_seal(bool aes, const uint8_t key[32],
                      const uint8_t nonce[NONCE_BYTES], uint8_t *c,
                      uint8_t icv[16], const struct aead_piece *m, size_t n,
                      const uint8_t *ad, size_t adlen);
int openssl_aead_open(bool aes, const uint8_t key[32],
                      const uint8_t nonce[NONCE_BYTES], uint8_t *m,
                      const uint8_t *c, size_t clen, const uint8_t icv[16],
                      const uint8_t *ad, size_t adlen);
#else
static inline bool openssl_aead_available(bool aes)
{
    (void)aes;
    return false;
}

static inline int openssl_aead_seal(bool aes, const uint8_t key[32],
                                    const uint8_t nonce[NONCE_BYTES],
                                    uint8_t *c, uint8_t icv[16],
                                    const struct aead_piece *m, size_t n,
                                    const uint8_t *ad, size_t adlen)
{
    (void)aes, (void)key, (void)nonce, (void)c, (void)icv, (void)m, (void)n;
    (void)ad, (void)adlen;
    return -1;
}

static inline int openssl_aead_open(bool aes, const uint8_t key[32],
                                    const uint8_t nonce[NONCE_BYTES],
                                    uint8_t *m, const uint8_t *c, size_t clen,
                                    const uint8_t icv[16], const uint8_t *ad,
                                    size_t adlen)
{
    (void)aes, (void)key, (void)nonce, (void)m, (void)c, (void)clen;
    (void)icv, (void)ad, (void)adlen;
    return -1;
}
#endif

#endif
