/*
 * AES-256-GCM and ChaCha20-Poly1305 on OpenSSL's libcrypto (>= 3.0).
 *
 * Every call makes its own EVP_CIPHER_CTX and frees it before returning.
 * A context cannot be shared between threads and cannot live in the SAD
 * (it is pointers), and one kept per thread would keep each SA's key
 * schedule in the heap after the SA is deleted, where nobody wipes it.
 * Made per call it holds the key only for the call, and libcrypto's
 * providers wipe it when it is freed (OPENSSL_clear_free).  That costs
 * about half a microsecond, which is why transform.c sends only long
 * inputs here.  The ciphers themselves are fetched once: a fetched
 * EVP_CIPHER is immutable and may be shared by every thread.
 *
 * Errors are kept off the calling thread's OpenSSL error queue, which may
 * be the application's.
 */
#include "aead_openssl.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

/* libcrypto takes lengths as int: longer inputs go in chunks. */
#define CHUNK_MAX (1U << 30)
#define TAG_BYTES 16

static EVP_CIPHER *ciphers[2];          /* [aes] */
static pthread_once_t fetched = PTHREAD_ONCE_INIT;

static void fetch(void)
{
    ERR_set_mark();
    ciphers[false] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    ciphers[true] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    ERR_pop_to_mark();
}

bool openssl_aead_available(bool aes)
{
    return pthread_once(&fetched, fetch) == 0 && ciphers[aes] != NULL;
}

/* Associated data (out NULL) or text, in chunks libcrypto can take. */
static bool update(EVP_CIPHER_CTX *x, uint8_t *out, const uint8_t *in,
                   size_t len)
{
    while (len > 0) {
        int n = (int)(len < CHUNK_MAX ? len : CHUNK_MAX), done;

        if (EVP_CipherUpdate(x, out, &done, in, n) != 1 || done != n)
            return false;
        in += n;
        if (out != NULL)
            out += n;
        len -= (size_t)n;
    }
    return true;
}

static EVP_CIPHER_CTX *begin(bool aes, const uint8_t key[32],
                             const uint8_t nonce[NONCE_BYTES], int enc)
{
    EVP_CIPHER_CTX *x;

    if (!openssl_aead_available(aes) || (x = EVP_CIPHER_CTX_new()) == NULL)
        return NULL;
    /* Both ciphers default to the 12-byte nonce. */
    if (EVP_CipherInit_ex2(x, ciphers[aes], key, nonce, enc, NULL) != 1) {
        EVP_CIPHER_CTX_free(x);
        return NULL;
    }
    return x;
}

int openssl_aead_seal(bool aes, const uint8_t key[32],
                      const uint8_t nonce[NONCE_BYTES], uint8_t *c,
                      uint8_t icv[16], const struct aead_piece *m, size_t n,
                      const uint8_t *ad, size_t adlen)
{
    uint8_t tail[EVP_MAX_BLOCK_LENGTH];
    EVP_CIPHER_CTX *x;
    size_t off = 0;
    int done = 0;
    bool ok;

    ERR_set_mark();
    ok = (x = begin(aes, key, nonce, 1)) != NULL && update(x, NULL, ad, adlen);
    for (size_t i = 0; ok && i < n; off += m[i++].len)
        ok = update(x, c + off, m[i].src, m[i].len);
    ok = ok && EVP_EncryptFinal_ex(x, tail, &done) == 1 && done == 0 &&
         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, icv) == 1;
    EVP_CIPHER_CTX_free(x);
    ERR_pop_to_mark();
    return ok ? 0 : -1;
}

int openssl_aead_open(bool aes, const uint8_t key[32],
                      const uint8_t nonce[NONCE_BYTES], uint8_t *m,
                      const uint8_t *c, size_t clen, const uint8_t icv[16],
                      const uint8_t *ad, size_t adlen)
{
    uint8_t tail[EVP_MAX_BLOCK_LENGTH], tag[TAG_BYTES];
    EVP_CIPHER_CTX *x;
    int done = 0;
    bool ok;

    memcpy(tag, icv, sizeof tag);       /* the ctrl takes it non-const */
    ERR_set_mark();
    ok = (x = begin(aes, key, nonce, 0)) != NULL &&
         EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, tag) == 1 &&
         update(x, NULL, ad, adlen) && update(x, m, c, clen) &&
         EVP_DecryptFinal_ex(x, tail, &done) == 1 && done == 0;
    EVP_CIPHER_CTX_free(x);
    ERR_pop_to_mark();
    return ok ? 0 : -1;
}
