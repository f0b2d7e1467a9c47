/* SA parameters for tests: fixed keys, so failures can be replayed. */
#ifndef ZESP_TEST_KEYS_H
#define ZESP_TEST_KEYS_H

#include <string.h>

#include "zesp.h"

static inline zesp_sa_params test_sa(uint32_t spi, uint32_t direction,
                                     uint32_t transform, uint32_t flags)
{
    zesp_sa_params p;

    memset(&p, 0, sizeof p);
    p.spi = spi;
    p.direction = direction;
    p.transform = transform;
    p.flags = flags;
    for (unsigned i = 0; i < ZESP_KEYBYTES; i++)
        p.key[i] = (uint8_t)(spi * 7U + i * 13U + transform);
    strcpy(p.peer, "test-peer");
    return p;
}

/* Install the same SA as outbound in one SAD and inbound in another. */
static inline int test_sa_pair(zesp_sad *out, zesp_sad *in, uint32_t spi,
                               uint32_t transform, uint32_t flags)
{
    zesp_sa_params o = test_sa(spi, ZESP_DIR_OUT, transform, flags);
    zesp_sa_params i = test_sa(spi, ZESP_DIR_IN, transform, flags);

    return zesp_sa_add(out, &o) || zesp_sa_add(in, &i) ? -1 : 0;
}

static const uint32_t test_transforms[] = {
    ZESP_CHACHA20_POLY1305, ZESP_AES256GCM, ZESP_NULL_AES256GMAC,
    ZESP_NULL_CHACHA20_POLY1305,
};
#define TEST_NTRANSFORMS (sizeof test_transforms / sizeof test_transforms[0])

#endif
