/*
 * The payload of a zesp message (Next Header 253):
 *
 *   nclear (1) | [BLAKE2b-256 of the clear frames (32), if nclear > 0] |
 *   { length (4, big endian) | frame bytes } for each body frame
 *
 * The digest covers, for each of the nclear clear frames that stand just
 * before the ESP frame: length (4, big endian) | frame bytes.  Being inside
 * the payload, it is covered by the ICV, which so binds the clear frames.
 */
#ifndef ZESP_MESSAGE_H
#define ZESP_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "zesp.h"

#define BINDING_BYTES 32U
#define FRAME_LEN_BYTES 4U
/* Smaller body frames are always copied: one more AEAD call costs more. */
#define FRAME_UNCOPIED_MIN 4096U

/* 0 and the payload size, or ZESP_ETOOBIG / EINVAL. */
int message_payload_len(const zesp_parts *parts, size_t *len);
/* Writes the payload at out, except for up to max_uncopied body frames of
 * FRAME_UNCOPIED_MIN bytes or more, which it leaves where they are and
 * lists in uncopied (esp_seal_parts reads them from there).  Returns how
 * many it listed. */
size_t message_encode(uint8_t *out, const zesp_parts *parts,
                      struct payload_part *uncopied, size_t max_uncopied);

/* Views of the decoded message; body points into the payload. */
struct message_view {
    size_t nclear;
    zesp_frame *body;
    size_t nbody;
    size_t body_cap;
};

/* pre: the frames before the ESP frame.  Returns 0, ZESP_EBINDING,
 * ZESP_EMALFORMED or ENOMEM. */
int message_decode(const uint8_t *payload, size_t len, const zesp_frame *pre,
                   size_t npre, struct message_view *view);

#endif
