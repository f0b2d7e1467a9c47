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
    uint64_t id;            /* SPI << 16 | Sender ID: the sort key */
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
};

struct zesp_verifier {
    struct verifier_sender *senders;    /* sorted by id, no two alike */
    size_t n, cap;
    _Atomic uint64_t verified;
    _Atomic uint64_t rejected[ZESP_REJ_COUNT];
};

#endif
