/* The SAs the ESP fuzz target and its seed maker share: one per transform,
 * with and without ESN, SPIs 1 to 8; group SAs on SPI 9 (unsigned) and 10
 * (signed); fixed keys. */
#ifndef ZESP_FUZZ_KEYS_H
#define ZESP_FUZZ_KEYS_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "zesp.h"

static const uint32_t fuzz_transforms[] = {
    ZESP_CHACHA20_POLY1305, ZESP_AES256GCM, ZESP_NULL_AES256GMAC,
    ZESP_NULL_CHACHA20_POLY1305,
};

#define FUZZ_GROUP_SPI 9U
#define FUZZ_SIGNED_SPI 10U

/* Inbound: windows for Sender IDs 1 and 2; outbound: Sender ID 1. */
static inline int fuzz_install_group(zesp_sad *sad, uint32_t direction)
{
    uint32_t senders = direction == ZESP_DIR_IN ? 2U : 1U;

    for (uint32_t spi = FUZZ_GROUP_SPI; spi <= FUZZ_SIGNED_SPI; spi++)
        for (uint32_t sid = 1; sid <= senders; sid++) {
            uint8_t seed[32], pk[32], sk[64];
            zesp_sa_params p;

            memset(&p, 0, sizeof p);
            p.spi = spi;
            p.direction = direction;
            p.flags = ZESP_SA_GROUP |
                      (spi == FUZZ_SIGNED_SPI ? ZESP_SA_SIGNED : 0U);
            p.sender_id = sid;
            p.replay_window = 64;
            for (uint32_t b = 0; b < ZESP_KEYBYTES; b++)
                p.key[b] = (uint8_t)(spi * 16U + b);
            memset(seed, (int)sid, sizeof seed);
            crypto_sign_seed_keypair(pk, sk, seed);
            if (direction == ZESP_DIR_IN)
                memcpy(p.sign_key, pk, sizeof pk);
            else
                memcpy(p.sign_key, sk, sizeof sk);
            if (zesp_sa_add(sad, &p) != 0)
                return -1;
        }
    return 0;
}

/* A proxy's verifier: the signed group's public keys. */
static inline int fuzz_install_verifier(zesp_verifier *v)
{
    for (uint32_t sid = 1; sid <= 2; sid++) {
        uint8_t seed[32], pk[32], sk[64];

        memset(seed, (int)sid, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        sodium_memzero(sk, sizeof sk);
        if (zesp_verifier_add(v, FUZZ_SIGNED_SPI, sid, pk) != 0)
            return -1;
    }
    return 0;
}

static inline int fuzz_install(zesp_sad *sad, uint32_t direction)
{
    for (uint32_t i = 0; i < 8; i++) {
        zesp_sa_params p;
        memset(&p, 0, sizeof p);
        p.spi = i + 1U;
        p.direction = direction;
        p.transform = fuzz_transforms[i / 2];
        p.flags = (i % 2) ? ZESP_SA_NO_ESN : 0;
        p.replay_window = 64;
        for (uint32_t b = 0; b < ZESP_KEYBYTES; b++)
            p.key[b] = (uint8_t)(i * 16U + b);
        if (!zesp_transform_available(p.transform))
            continue;
        if (zesp_sa_add(sad, &p) != 0)
            return -1;
    }
    return fuzz_install_group(sad, direction);
}

/* Both ESP targets' input: data[0] % 4 clear frames, each a length byte
 * and its bytes; returns where the rest (the frame or payload) starts. */
static inline size_t fuzz_split(const uint8_t *data, size_t size,
                                zesp_frame clear[3], size_t *k)
{
    size_t at = 1;

    *k = data[0] % 4U;
    for (size_t i = 0; i < *k; i++) {
        size_t n = at < size ? data[at] : 0;
        at = at < size ? at + 1 : at;
        if (n > size - at)
            n = size - at;
        clear[i].data = data + at;
        clear[i].size = n;
        at += n;
    }
    return at;
}

#endif
