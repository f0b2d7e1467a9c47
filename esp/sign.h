/*
 * Source authentication of group messages (doc/wire-format.md 9.5): the
 * sender signs, with Ed25519, SPI (4) || Sender ID (4) || sequence number
 * (8) || the zesp payload, and appends the 64-byte signature to the
 * payload before it is encrypted.
 */
#ifndef ZESP_SIGN_H
#define ZESP_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "zesp.h"

/* What is signed before the payload: as long as the ESP header that it
 * stands in for while signing, so nothing is copied. */
#define SIGN_PREFIX_BYTES 16U

/* pkt is an ESP frame being built: the payload of msg_len bytes at
 * pkt + ZESP_HEADERBYTES, room for the signature after it.  Overwrites the
 * header (esp_seal writes it afterwards). */
void sign_payload(const uint8_t sk[ZESP_SIGN_SECRETBYTES], uint32_t spi,
                  uint32_t sender, uint64_t seq, uint8_t *pkt, size_t msg_len);

/* pkt: a decrypted ESP frame whose payload of payload_len bytes ends with
 * the signature.  0 and *msg_len, or ZESP_EMALFORMED (no room for a
 * signature) or ZESP_ESIGNATURE.  The header is left as it was. */
int sign_verify(const uint8_t pk[ZESP_SIGN_PUBLICBYTES], uint32_t spi,
                uint32_t sender, uint64_t seq, uint8_t *pkt,
                size_t payload_len, size_t *msg_len);

#endif
