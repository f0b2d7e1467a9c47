#ifndef ZESP_SPD_H
#define ZESP_SPD_H

#include <stdbool.h>
#include <stdint.h>

#include "sad.h"

/* The data path's view of policies: no lock, no system call. */
/* A byte a name (policy, peer, group) may hold: printable ASCII, no space.
 * Tested as unsigned, so that the answer is the same where char is signed
 * (x86) and where it is not (arm64). */
static inline bool spd_name_byte(unsigned char c)
{
    return c > ' ' && c < 0x7f;
}

/* What an SA gives a message's body: a policy's SAs all encrypt, or all
 * authenticate only (NULL transforms). */
enum sa_protection { SA_ABSENT = -1, SA_INTEGRITY_ONLY = 0, SA_ENCRYPTS = 1 };
/* Of a transform (SA_ABSENT: unknown), and of an SA in the SAD (SA_ABSENT:
 * none there, spi 0 included). */
enum sa_protection spd_transform_protection(uint32_t transform);
enum sa_protection spd_sa_protection(struct zesp_sad *sad, uint32_t spi,
                                     uint32_t direction);

int spd_out_spi(struct zesp_sad *sad, const char *name, uint32_t *spi);
void spd_acquire(struct zesp_sad *sad, const char *name);
/* send(sad, spi, arg) on the policy's outbound SA; with none usable (none
 * yet, or deleted, expired, out of sequence numbers) an ACQUIRE is raised
 * and the SAD's acquire timeout waited out, unless ZESP_DONTWAIT.  For
 * zesp_send_policy and zesp_seal_policy: 0, or -1 with errno. */
int spd_on_out_sa(struct zesp_sad *sad, const char *policy, int flags,
                  int (*send)(struct zesp_sad *sad, uint32_t spi, void *arg),
                  void *arg);

/* Does the policy accept messages under inbound SA spi, whose transform
 * encrypts or not?  0, ZESP_EPOLICY (it does not: another's SA, or one
 * that authenticates only where the policy is not ZESP_POLICY_INTEGRITY_
 * ONLY), or ZESP_ENOPOLICY (no such policy). */
int spd_serves_in(struct zesp_sad *sad, const char *name, uint32_t spi,
                  bool encrypts);
/* Count a rejection for the policy named, or (name NULL) for every policy
 * that accepts inbound SA spi. */
void spd_count_rejection(struct zesp_sad *sad, const char *name, uint32_t spi,
                         enum zesp_rejection kind);

#endif
