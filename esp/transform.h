#ifndef ZESP_TRANSFORM_H
#define ZESP_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sad.h"

#define NONCE_BYTES 12U   /* salt (4) || IV (8) */

/*
 * One row per transform.  Every transform is an AEAD from libsodium used
 * either for encryption (payload as plaintext) or, for the NULL transforms,
 * integrity only (payload as associated data, RFC 4543 style).
 */
struct transform {
    uint32_t id;
    const char *name;
    bool encrypts;
    bool aes;
};

const struct transform *transform_find(uint32_t id);
bool transform_usable(const struct transform *t);
void transform_expand_key(const struct transform *t, struct sa_key *k);

/* Detached AEAD through the transform's libsodium primitive.  m and c may be
 * the same buffer.  open returns -1 if the tag does not verify. */
int transform_seal(const struct transform *t, const struct sa_key *k,
                   uint8_t *c, uint8_t icv[16], const uint8_t *m, size_t mlen,
                   const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES]);
int transform_open(const struct transform *t, const struct sa_key *k,
                   uint8_t *m, const uint8_t *c, size_t clen,
                   const uint8_t icv[16], const uint8_t *ad, size_t adlen,
                   const uint8_t nonce[NONCE_BYTES]);

#endif
