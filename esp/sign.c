/* Ed25519 signatures over group messages, made and checked in place. */
#include "sign.h"

#include <sodium.h>
#include <string.h>

#include "packet.h"

_Static_assert(SIGN_PREFIX_BYTES == ZESP_HEADERBYTES,
               "the signed prefix stands in for the ESP header");
_Static_assert(ZESP_SIGNBYTES == crypto_sign_BYTES &&
               ZESP_SIGN_SECRETBYTES == crypto_sign_SECRETKEYBYTES &&
               ZESP_SIGN_PUBLICBYTES == crypto_sign_PUBLICKEYBYTES,
               "zesp.h sizes are libsodium's Ed25519 sizes");

static void put_prefix(uint8_t *p, uint32_t spi, uint32_t sender, uint64_t seq)
{
    store_be32(p, spi);
    store_be32(p + 4, sender);
    store_be64(p + 8, seq);
}

void sign_payload(const uint8_t sk[ZESP_SIGN_SECRETBYTES], uint32_t spi,
                  uint32_t sender, uint64_t seq, uint8_t *pkt, size_t msg_len)
{
    put_prefix(pkt, spi, sender, seq);
    crypto_sign_detached(pkt + ZESP_HEADERBYTES + msg_len, NULL, pkt,
                         SIGN_PREFIX_BYTES + msg_len, sk);
}

int sign_verify(const uint8_t pk[ZESP_SIGN_PUBLICBYTES], uint32_t spi,
                uint32_t sender, uint64_t seq, uint8_t *pkt,
                size_t payload_len, size_t *msg_len)
{
    uint8_t header[ZESP_HEADERBYTES];
    int rc;

    if (payload_len < ZESP_SIGNBYTES)
        return ZESP_EMALFORMED;
    *msg_len = payload_len - ZESP_SIGNBYTES;
    memcpy(header, pkt, sizeof header);
    put_prefix(pkt, spi, sender, seq);
    rc = crypto_sign_verify_detached(pkt + ZESP_HEADERBYTES + *msg_len, pkt,
                                     SIGN_PREFIX_BYTES + *msg_len, pk);
    memcpy(pkt, header, sizeof header);
    return rc == 0 ? 0 : ZESP_ESIGNATURE;
}
