#ifndef ZESP_TRANSFORM_H
#define ZESP_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sad.h"

#define NONCE_BYTES 12U   /* salt (4) || IV (8) */
#define TRANSFORM_PREFERRED_MAX 2U

/*
 * Who runs an AEAD call.  AEAD_AUTO: OpenSSL's libcrypto (configure
 * --with-openssl) for inputs of a transform's openssl_min bytes or more,
 * where its vectorized code runs at about twice libsodium's speed, and
 * libsodium below, where its smaller fixed cost per call wins.  The RFCs
 * fix every byte, so the frames are the same either way; tests force one
 * backend to seal and the other to open.
 */
enum aead_backend { AEAD_AUTO = 0, AEAD_SODIUM, AEAD_OPENSSL };

/*
 * One row per transform.  Every transform is an AEAD used either for
 * encryption (payload as plaintext) or, for the NULL transforms, integrity
 * only (payload as associated data, RFC 4543 style).
 */
struct transform {
    uint32_t id;
    const char *name;
    bool encrypts;
    bool aes;
    size_t openssl_min;     /* plaintext + associated data, AEAD_AUTO */
};

/* Plaintext to seal: len bytes read from src and sealed into the next len
 * bytes of the output.  src is either exactly those bytes (in place) or
 * memory that does not overlap the output. */
struct aead_piece {
    const uint8_t *src;
    size_t len;
};

const struct transform *transform_find(uint32_t id);
bool transform_usable(const struct transform *t);
void transform_expand_key(const struct transform *t, struct sa_key *k);
/* The AEADs a negotiation offers when none is configured, fastest first:
 * AES-256-GCM only where the CPU has AES instructions (without them it is
 * neither fast nor safe from cache timing), then ChaCha20-Poly1305. */
size_t transform_preferred(uint32_t ids[TRANSFORM_PREFERRED_MAX]);

bool transform_backend_available(const struct transform *t,
                                 enum aead_backend b);
/* The backend a call on len bytes of input would run on. */
enum aead_backend transform_backend(const struct transform *t,
                                    enum aead_backend want, size_t len);

/* Detached AEAD of the pieces, in order, into c.  -1 if the backend is not
 * available, or the text is longer than the AEAD allows. */
int transform_seal(const struct transform *t, const struct sa_key *k,
                   enum aead_backend b, uint8_t *c, uint8_t icv[16],
                   const struct aead_piece *m, size_t npieces,
                   const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES]);
/* m and c may be the same buffer.  -1 if the tag does not verify; m is
 * then cleared.  -1 at once, m untouched, for a text longer than the AEAD
 * allows. */
int transform_open(const struct transform *t, const struct sa_key *k,
                   enum aead_backend b, uint8_t *m, const uint8_t *c,
                   size_t clen, const uint8_t icv[16], const uint8_t *ad,
                   size_t adlen, const uint8_t nonce[NONCE_BYTES]);

#endif
