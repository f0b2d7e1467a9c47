/* The table of a verifier (verify.c), filled by its loader
 * (verify_file.c). */
#ifndef ZESP_VERIFY_H
#define ZESP_VERIFY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "zesp.h"

/* More senders than this in one verifier is a mistake, not a group. */
#define VERIFIER_MAX_SENDERS (1U << 20)

struct verifier_sender {
    /* Sender ID << 32 | SPI, the sort key: a sender's entries are side by
     * side, its entry under any SPI (ZESP_SPI_ANY, 0) first. */
    uint64_t id;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
};

static inline uint64_t verifier_key(uint32_t spi, uint32_t sender_id)
{
    return (uint64_t)sender_id << 32 | spi;
}

struct zesp_verifier {
    struct verifier_sender *senders;    /* sorted by id, no two alike */
    size_t n, cap;
    _Atomic uint64_t verified;
    _Atomic uint64_t rejected[ZESP_REJ_COUNT];
};

#endif
