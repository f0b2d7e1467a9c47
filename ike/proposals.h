/*
 * The SA payloads zike offers and chooses (RFC 7296 2.7, 3.3): one
 * proposal, the AEADs in order of preference; the responder takes the
 * first of the initiator's that it accepts.
 */
#ifndef ZESP_IKE_PROPOSALS_H
#define ZESP_IKE_PROPOSALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikev2.h"
#include "transform.h"

/* AEADs (IKE_ENCR_* / enum zesp_transform, one numbering), in order of
 * preference: what we offer, or what we accept. */
struct encr_list {
    uint16_t id[TRANSFORM_PREFERRED_MAX];
    size_t n;
};

/* The configured AEAD alone, or with none configured (0) every fast one,
 * fastest first (transform_preferred): AES-256-GCM where this CPU has AES
 * instructions, then ChaCha20-Poly1305. */
struct encr_list encr_choice(uint32_t configured);
struct encr_list encr_one(uint16_t id);

/* One proposal offering encr; for ESP with pfs, the X25519 transform of a
 * CREATE_CHILD_SA (never in IKE_AUTH, RFC 7296 1.2). */
void ike_proposal(struct ike_sa_payload *sa, const struct encr_list *encr,
                  const uint8_t *spi, size_t spi_size, uint8_t proto,
                  bool esn_choice, bool esn, bool pfs);

/* Does p offer what we want?  *encr: the first of its AEADs, in its
 * order, that ok holds.  chosen: p is a responder's choice, which names
 * exactly one, and for ESP the ESN choice we offered (want_esn).  For
 * ESP the SPI must be 4 bytes and *esn gets the ESN choice: ours if
 * offered, else what is offered. */
bool proposal_pick(const struct ike_proposal *p, uint8_t proto,
                   const struct encr_list *ok, bool chosen, bool want_esn,
                   bool *esn, uint16_t *encr);

#endif
