#ifndef ZESP_PACKET_H
#define ZESP_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "transform.h"

#define ESP_TRAILER_BYTES 2U   /* pad length, next header */
#define ESP_MIN_BYTES (ZESP_HEADERBYTES + ESP_TRAILER_BYTES + ZESP_ICVBYTES)

/* What the packet code needs to know about an SA. */
struct esp_crypto {
    const struct transform *t;
    const struct sa_key *k;
    bool esn;
    enum aead_backend backend;  /* AEAD_AUTO, but in tests */
};

/*
 * A part of the payload still in the sender's memory (a large body frame):
 * len bytes at offset `at` of the payload.  Sealed from there without a
 * copy into the packet when the AEAD call can read its input in pieces
 * (esp_seal_reads_parts), else copied first.  Parts come in the order of
 * `at` and do not overlap.
 */
struct payload_part {
    size_t at;
    const uint8_t *data;
    size_t len;
};
#define ESP_PARTS_MAX 8U

size_t esp_pad_len(size_t payload_len);
size_t esp_packet_len(size_t payload_len);

/*
 * Seal in place: the payload is already at pkt + ZESP_HEADERBYTES.  Writes
 * SPI, sequence number (low 32 bits), IV, padding, trailer, encrypts and
 * appends the ICV.  pad_len is normally esp_pad_len(payload_len).
 */
int esp_seal(const struct esp_crypto *ec, uint32_t spi, uint64_t seq,
             uint64_t iv, uint8_t *pkt, size_t payload_len, size_t pad_len,
             uint8_t next_header);
/* The same with parts of the payload (at most ESP_PARTS_MAX) elsewhere. */
int esp_seal_parts(const struct esp_crypto *ec, uint32_t spi, uint64_t seq,
                   uint64_t iv, uint8_t *pkt, size_t payload_len,
                   size_t pad_len, uint8_t next_header,
                   const struct payload_part *parts, size_t nparts);
/* Would esp_seal_parts read a payload of that length from its parts,
 * rather than copy them in first? */
bool esp_seal_reads_parts(const struct esp_crypto *ec, size_t payload_len);

/*
 * Verify and decrypt in place, given the full sequence number the receiver
 * inferred.  Returns 0, ZESP_EICV, or ZESP_EMALFORMED (bad padding after a
 * good ICV).  The payload is then at pkt + ZESP_HEADERBYTES; on failure
 * nothing decrypted is left there.
 */
int esp_open(const struct esp_crypto *ec, uint64_t seq, uint8_t *pkt,
             size_t len, size_t *payload_len, uint8_t *next_header);
/* The same, leaving pkt as it is: the packet, decrypted, goes to dst (len
 * bytes; dst == pkt is in place).  For a buffer others may be reading. */
int esp_open_to(const struct esp_crypto *ec, uint64_t seq, const uint8_t *pkt,
                size_t len, uint8_t *dst, size_t *payload_len,
                uint8_t *next_header);

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

/* One swap and one store where the compiler says how: GCC does not merge
 * the byte stores below into one (esp_seal_parts had some 90 instructions
 * of them per message). */
static inline void store_be32(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap32(v);
    memcpy(p, &v, sizeof v);
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
#endif
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

#endif
