/*
 * Source authentication of group messages (doc/wire-format.md 9.4):
 * encrypt, then sign.  The sender seals the ESP frame as for any SA, then
 * signs, with Ed25519, the whole sealed frame (SPI, sequence number, IV
 * with its Sender ID, ciphertext, ICV) and appends the 64-byte signature.
 * Anyone with the sender's public key checks it without the group key:
 * receivers before they decrypt, proxies before they forward.
 */
#ifndef ZESP_SIGN_H
#define ZESP_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "zesp.h"

/* frame: a sealed ESP frame of esp_len bytes with room for the signature
 * after it.  0, or -1 if libsodium refused. */
int sign_frame(const uint8_t sk[ZESP_SIGN_SECRETBYTES], uint8_t *frame,
               size_t esp_len);

/* frame: len bytes, an ESP frame and its signature.  0 and the ESP
 * frame's length, or ZESP_EMALFORMED (too short, or not a whole number
 * of 4-byte words, for one) or ZESP_ESIGNATURE.  Reads only. */
int sign_frame_check(const uint8_t pk[ZESP_SIGN_PUBLICBYTES],
                     const uint8_t *frame, size_t len, size_t *esp_len);

/* The checks of the frame's shape that need no key. */
int sign_frame_shape(size_t len);

#endif
