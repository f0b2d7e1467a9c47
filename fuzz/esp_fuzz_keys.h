/* The SAs the ESP fuzz target and its seed maker share: one per transform,
 * with and without ESN, SPIs 1 to 8, fixed keys. */
#ifndef ZESP_FUZZ_KEYS_H
#define ZESP_FUZZ_KEYS_H

#include <string.h>

#include "zesp.h"

static const uint32_t fuzz_transforms[] = {
    ZESP_CHACHA20_POLY1305, ZESP_AES256GCM, ZESP_NULL_AES256GMAC,
    ZESP_NULL_CHACHA20_POLY1305,
};

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
    return 0;
}

#endif
