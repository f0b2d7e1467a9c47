/*
 * Source MACs of group messages (doc/wire-format.md 9.7): after the zesp
 * payload, one entry per receiver, its member ID and a tag under the key
 * that only the sender and that receiver hold, then the number of
 * entries.  A receiver checks its own entry only.
 */
#ifndef ZESP_SOURCE_MAC_H
#define ZESP_SOURCE_MAC_H

#include <stddef.h>
#include <stdint.h>

#include "sad.h"
#include "transform.h"

#define SOURCE_MAC_ID_BYTES 2U
#define SOURCE_MAC_ENTRY_BYTES (SOURCE_MAC_ID_BYTES + ZESP_SOURCE_MAC_TAGBYTES)
#define SOURCE_MAC_COUNT_BYTES 2U

/* The octets the entries of n receivers add to the payload. */
size_t source_mac_trailer_len(uint32_t n);

/* pkt is an ESP frame being built: the zesp payload of msg_len bytes at
 * pkt + ZESP_HEADERBYTES, room for the trailer of n entries after it
 * (n as the frame was sized: the SA's count is not read again, another SA
 * may hold the slot by now).  Overwrites the header (esp_seal writes it
 * afterwards).  0, or -1 if an AEAD call failed or the SA ref names is
 * gone (the caller tells which: sad_ref_valid). */
int source_mac_seal(const struct transform *t, const struct sa_ref *ref,
                    uint32_t n, uint32_t spi, uint32_t sender, uint64_t seq,
                    uint8_t *pkt, size_t msg_len);

/* pkt: a decrypted ESP frame whose payload of payload_len bytes ends with
 * the trailer.  0 and *msg_len, or ZESP_EMALFORMED (no well-formed
 * trailer) or ZESP_ESIGNATURE (no entry for us, or a wrong tag).  The
 * header is left as it was. */
int source_mac_check(const struct transform *t, const struct sa_ref *ref,
                     uint32_t spi, uint32_t sender, uint64_t seq,
                     uint8_t *pkt, size_t payload_len, size_t *msg_len);

/* Install: the params' receivers and keys into the SA's key, and a fresh
 * identity for this process's expanded keys (see source_mac.c). */
void source_mac_install(struct sa_key *k, const zesp_sa_params *p);
/* The checks zesp_sa_add makes of the params' receivers. */
bool source_mac_params_valid(const zesp_sa_params *p);

#endif
