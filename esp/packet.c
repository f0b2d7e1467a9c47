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
#include <stdlib.h>
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
 * Associated data for the NULL transforms: header and payload.  With ESN the
 * high half of the sequence number sits between SPI and the low half, so
 * the bytes are gathered into a buffer; without, they are already in place.
 */
static uint8_t *null_aad(const struct esp_crypto *ec, const uint8_t *pkt,
                         size_t body_end, uint64_t seq, size_t *adlen)
{
    uint8_t *ad;

    if (!ec->esn) {
        *adlen = body_end;
        return (uint8_t *)pkt;
    }
    *adlen = body_end + 4U;
    if ((ad = malloc(*adlen)) == NULL)
        return NULL;
    memcpy(ad, pkt, 4);
    store_be32(ad + 4, (uint32_t)(seq >> 32));
    memcpy(ad + 8, pkt + 4, body_end - 4U);
    return ad;
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

int esp_seal(const struct esp_crypto *ec, uint32_t spi, uint64_t seq,
             uint64_t iv, uint8_t *pkt, size_t payload_len, size_t pad_len,
             uint8_t next_header)
{
    uint8_t nonce[NONCE_BYTES], ad[AAD_ESN_BYTES];
    uint8_t *body = pkt + ZESP_HEADERBYTES;
    size_t clen = payload_len + pad_len + ESP_TRAILER_BYTES;
    uint8_t *icv = body + clen;
    int rc;

    store_be32(pkt, spi);
    store_be32(pkt + 4, (uint32_t)seq);
    store_be64(pkt + 8, iv);
    for (size_t i = 0; i < pad_len; i++)
        body[payload_len + i] = (uint8_t)(i + 1U);
    body[clen - 2] = (uint8_t)pad_len;
    body[clen - 1] = next_header;
    make_nonce(nonce, ec->k, pkt);

    if (ec->t->encrypts) {
        size_t adlen = crypt_aad(ec, pkt, seq, ad);
        rc = transform_seal(ec->t, ec->k, body, icv, body, clen, ad, adlen,
                            nonce);
    } else {
        size_t adlen;
        uint8_t *aad = null_aad(ec, pkt, ZESP_HEADERBYTES + clen, seq, &adlen);
        if (aad == NULL)
            return ENOMEM;
        /* No plaintext; body stands in for the buffers libsodium wants
         * non-null. */
        rc = transform_seal(ec->t, ec->k, body, icv, body, 0, aad, adlen,
                            nonce);
        if (aad != pkt)
            free(aad);
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

int esp_open(const struct esp_crypto *ec, uint64_t seq, uint8_t *pkt,
             size_t len, size_t *payload_len, uint8_t *next_header)
{
    uint8_t nonce[NONCE_BYTES], ad[AAD_ESN_BYTES];
    uint8_t *body = pkt + ZESP_HEADERBYTES;
    size_t clen;
    int rc;

    if (len < ESP_MIN_BYTES || len % 4U != 0)
        return ZESP_EMALFORMED;
    clen = len - ZESP_HEADERBYTES - ZESP_ICVBYTES;
    make_nonce(nonce, ec->k, pkt);

    if (ec->t->encrypts) {
        size_t adlen = crypt_aad(ec, pkt, seq, ad);
        rc = transform_open(ec->t, ec->k, body, body, clen, body + clen, ad,
                            adlen, nonce);
    } else {
        size_t adlen;
        uint8_t *aad = null_aad(ec, pkt, ZESP_HEADERBYTES + clen, seq, &adlen);
        if (aad == NULL)
            return ENOMEM;
        rc = transform_open(ec->t, ec->k, body, body, 0, body + clen, aad,
                            adlen, nonce);
        if (aad != pkt)
            free(aad);
    }
    if (rc != 0)
        return ZESP_EICV;
    return check_trailer(body, clen, payload_len, next_header);
}
