/*
 * RFC 4303 packet layout with an AEAD (RFC 4106, RFC 7634) or an
 * integrity-only AEAD use (RFC 4543):
 *
 *   SPI (4) | Sequence Number, low 32 bits (4) | IV (8) |
 *   Payload | Padding (0-3) | Pad Length (1) | Next Header (1) | ICV (16)
 *
 * Nonce = salt (4) || IV (8).  AAD = SPI || [Seq high 32 bits, ESN only] ||
 * Seq low 32 bits; the NULL transforms authenticate, as RFC 4543 does, the
 * AAD, the IV and the whole (unencrypted) payload and trailer.
 */
#include "packet.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#define AAD_ESN_BYTES 12U
#define AAD_BYTES 8U

size_t esp_pad_len(size_t payload_len)
{
    /* Pad Length and Next Header end on a 4-byte boundary. */
    return (4U - (payload_len + ESP_TRAILER_BYTES) % 4U) % 4U;
}

size_t esp_packet_len(size_t payload_len)
{
    return ZESP_HEADERBYTES + payload_len + esp_pad_len(payload_len) +
           ESP_TRAILER_BYTES + ZESP_ICVBYTES;
}

static void make_nonce(uint8_t nonce[NONCE_BYTES], const struct sa_key *k,
                       const uint8_t *pkt)
{
    memcpy(nonce, k->salt, 4);
    memcpy(nonce + 4, pkt + 8, ZESP_IVBYTES);
}

/*
 * Associated data for the NULL transforms: header and payload.  With ESN
 * the high half of the sequence number sits between SPI and the low half,
 * where the packet has no room for it.  Copying the packet cost an
 * allocation as large as the message, and at 1 MiB glibc maps and faults
 * in a fresh one every time (about 1 ms per side, 4x GMAC itself); so the
 * bytes after the SPI move up 4 into the ICV's room instead, the high half
 * goes in the gap, and they move back afterwards.  The caller keeps the
 * ICV elsewhere meanwhile.
 */
static void esn_gap_open(uint8_t *pkt, size_t body_end, uint64_t seq)
{
    memmove(pkt + 8, pkt + 4, body_end - 4U);
    store_be32(pkt + 4, (uint32_t)(seq >> 32));
}

static void esn_gap_close(uint8_t *pkt, size_t body_end)
{
    memmove(pkt + 4, pkt + 8, body_end - 4U);
}

/* The NULL transforms' AEAD call, sealing or opening: no plaintext, the
 * whole packet up to body_end (and the ESN high half) as associated data.
 * The packet is as it came when this returns, ICV included. */
static int null_auth(const struct esp_crypto *ec, uint8_t *pkt,
                     size_t body_end, uint64_t seq,
                     const uint8_t nonce[NONCE_BYTES], bool seal)
{
    uint8_t *body = pkt + ZESP_HEADERBYTES, *icv = pkt + body_end;
    uint8_t tag[ZESP_ICVBYTES];
    size_t adlen = body_end;
    int rc;

    if (ec->esn) {
        memcpy(tag, icv, sizeof tag);
        icv = tag;
        esn_gap_open(pkt, body_end, seq);
        adlen += 4U;
    }
    /* body stands in for the buffers libsodium wants non-null. */
    rc = seal ? transform_seal(ec->t, ec->k, ec->backend, body, icv, NULL, 0,
                               pkt, adlen, nonce)
              : transform_open(ec->t, ec->k, ec->backend, body, body, 0, icv,
                               pkt, adlen, nonce);
    if (ec->esn) {
        esn_gap_close(pkt, body_end);
        memcpy(pkt + body_end, tag, sizeof tag);
    }
    return rc;
}

static size_t crypt_aad(const struct esp_crypto *ec, const uint8_t *pkt,
                        uint64_t seq, uint8_t ad[AAD_ESN_BYTES])
{
    memcpy(ad, pkt, 4);
    if (!ec->esn) {
        memcpy(ad + 4, pkt + 4, 4);
        return AAD_BYTES;
    }
    store_be32(ad + 4, (uint32_t)(seq >> 32));
    memcpy(ad + 8, pkt + 4, 4);
    return AAD_ESN_BYTES;
}

/* The plaintext as AEAD pieces: the parts read where they are, the bytes
 * between them and the trailer in place. */
static size_t plaintext_pieces(const uint8_t *body, size_t clen,
                               const struct payload_part *parts,
                               size_t nparts, struct aead_piece *out)
{
    size_t n = 0, at = 0;

    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].at > at)
            out[n++] = (struct aead_piece){ body + at, parts[i].at - at };
        out[n++] = (struct aead_piece){ parts[i].data, parts[i].len };
        at = parts[i].at + parts[i].len;
    }
    if (clen > at)
        out[n++] = (struct aead_piece){ body + at, clen - at };
    return n;
}

bool esp_seal_reads_parts(const struct esp_crypto *ec, size_t payload_len)
{
    size_t clen = payload_len + esp_pad_len(payload_len) + ESP_TRAILER_BYTES;

    return ec->t->encrypts &&
           transform_backend(ec->t, ec->backend,
                             clen + (ec->esn ? AAD_ESN_BYTES : AAD_BYTES)) ==
               AEAD_OPENSSL;
}

int esp_seal(const struct esp_crypto *ec, uint32_t spi, uint64_t seq,
             uint64_t iv, uint8_t *pkt, size_t payload_len, size_t pad_len,
             uint8_t next_header)
{
    return esp_seal_parts(ec, spi, seq, iv, pkt, payload_len, pad_len,
                          next_header, NULL, 0);
}

int esp_seal_parts(const struct esp_crypto *ec, uint32_t spi, uint64_t seq,
                   uint64_t iv, uint8_t *pkt, size_t payload_len,
                   size_t pad_len, uint8_t next_header,
                   const struct payload_part *parts, size_t nparts)
{
    uint8_t nonce[NONCE_BYTES], ad[AAD_ESN_BYTES];
    uint8_t *body = pkt + ZESP_HEADERBYTES;
    size_t clen = payload_len + pad_len + ESP_TRAILER_BYTES;
    uint8_t *icv = body + clen;
    int rc;

    if (nparts > ESP_PARTS_MAX)
        return EINVAL;
    store_be32(pkt, spi);
    store_be32(pkt + 4, (uint32_t)seq);
    store_be64(pkt + 8, iv);
    for (size_t i = 0; i < pad_len; i++)
        body[payload_len + i] = (uint8_t)(i + 1U);
    body[clen - 2] = (uint8_t)pad_len;
    body[clen - 1] = next_header;
    make_nonce(nonce, ec->k, pkt);

    if (ec->t->encrypts) {
        struct aead_piece m[2 * ESP_PARTS_MAX + 1];
        size_t adlen = crypt_aad(ec, pkt, seq, ad);
        size_t n = plaintext_pieces(body, clen, parts, nparts, m);
        rc = transform_seal(ec->t, ec->k, ec->backend, body, icv, m, n, ad,
                            adlen, nonce);
    } else {
        /* The payload goes in clear: it must be in the packet. */
        for (size_t i = 0; i < nparts; i++)
            memcpy(body + parts[i].at, parts[i].data, parts[i].len);
        rc = null_auth(ec, pkt, ZESP_HEADERBYTES + clen, seq, nonce, true);
    }
    return rc == 0 ? 0 : ZESP_EICV;
}

static int check_trailer(const uint8_t *body, size_t clen,
                         size_t *payload_len, uint8_t *next_header)
{
    size_t pad_len = body[clen - 2];
    unsigned bad = 0;

    if (pad_len + ESP_TRAILER_BYTES > clen)
        return ZESP_EMALFORMED;
    *payload_len = clen - ESP_TRAILER_BYTES - pad_len;
    for (size_t i = 0; i < pad_len; i++)
        bad |= body[*payload_len + i] ^ (uint8_t)(i + 1U);
    if (bad)
        return ZESP_EMALFORMED;
    *next_header = body[clen - 1];
    return 0;
}

int esp_open_to(const struct esp_crypto *ec, uint64_t seq, const uint8_t *pkt,
                size_t len, uint8_t *dst, size_t *payload_len,
                uint8_t *next_header)
{
    uint8_t nonce[NONCE_BYTES], ad[AAD_ESN_BYTES];
    uint8_t *body = dst + ZESP_HEADERBYTES;
    size_t clen;
    int rc;

    if (len < ESP_MIN_BYTES || len % 4U != 0)
        return ZESP_EMALFORMED;
    clen = len - ZESP_HEADERBYTES - ZESP_ICVBYTES;
    make_nonce(nonce, ec->k, pkt);

    if (ec->t->encrypts) {
        size_t adlen = crypt_aad(ec, pkt, seq, ad);
        /* Out of place: the header copied, the payload decrypted across,
         * the ICV read where it came. */
        if (dst != pkt)
            memcpy(dst, pkt, ZESP_HEADERBYTES);
        rc = transform_open(ec->t, ec->k, ec->backend, body,
                            pkt + ZESP_HEADERBYTES, clen,
                            pkt + ZESP_HEADERBYTES + clen, ad, adlen, nonce);
    } else {
        /* Authenticated where it is to be read; null_auth moves bytes. */
        if (dst != pkt)
            memcpy(dst, pkt, len);
        rc = null_auth(ec, dst, ZESP_HEADERBYTES + clen, seq, nonce, false);
    }
    if (rc != 0)
        return ZESP_EICV;
    /* Refused after decryption: as transform_open, nothing of it stays. */
    if ((rc = check_trailer(body, clen, payload_len, next_header)) != 0)
        sodium_memzero(body, clen);
    return rc;
}

int esp_open(const struct esp_crypto *ec, uint64_t seq, uint8_t *pkt,
             size_t len, size_t *payload_len, uint8_t *next_header)
{
    return esp_open_to(ec, seq, pkt, len, pkt, payload_len, next_header);
}
