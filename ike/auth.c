/*
 * The AUTH payload (RFC 7296 2.15): the signed octets are RealMessage |
 * Nonce of the peer | prf(SK_p, ID'), authenticated with a pre-shared key
 * (method 2) or an Ed25519 signature (method 14, RFC 7427 with RFC 8420's
 * AlgorithmIdentifier, PureEdDSA over the octets themselves).
 */
#include <stdlib.h>
#include <string.h>

#include "ike_crypto.h"

/* AlgorithmIdentifier { id-Ed25519 } in DER, after its length octet. */
static const uint8_t ed25519_alg[] = { 7, 0x30, 0x05, 0x06, 0x03,
                                       0x2b, 0x65, 0x70 };

void ike_auth_octets_mac(uint8_t out[IKE_PRF_BYTES], const uint8_t *sk_p,
                         const uint8_t *id_body, size_t id_len)
{
    struct ike_chunk c[] = { { id_body, id_len } };

    ike_prf(out, sk_p, IKE_PRF_BYTES, c, 1);
}

int ike_auth_psk(uint8_t out[IKE_PRF_BYTES], const uint8_t *psk,
                 size_t psk_len, const uint8_t *msg, size_t msg_len,
                 const uint8_t *nonce, size_t nonce_len,
                 const uint8_t mac_id[IKE_PRF_BYTES])
{
    static const char pad[] = "Key Pad for IKEv2";
    struct ike_chunk p[] = { { (const uint8_t *)pad, sizeof pad - 1 } };
    struct ike_chunk octets[] = { { msg, msg_len }, { nonce, nonce_len },
                                  { mac_id, IKE_PRF_BYTES } };
    uint8_t inner[IKE_PRF_BYTES];

    ike_prf(inner, psk, psk_len, p, 1);
    ike_prf(out, inner, sizeof inner, octets, 3);
    sodium_memzero(inner, sizeof inner);
    return 0;
}

/* The octets in one buffer, as crypto_sign wants them. */
static uint8_t *octets(const uint8_t *msg, size_t msg_len,
                       const uint8_t *nonce, size_t nonce_len,
                       const uint8_t mac_id[IKE_PRF_BYTES], size_t *len)
{
    uint8_t *b;

    *len = msg_len + nonce_len + IKE_PRF_BYTES;
    if ((b = malloc(*len)) == NULL)
        return NULL;
    memcpy(b, msg, msg_len);
    memcpy(b + msg_len, nonce, nonce_len);
    memcpy(b + msg_len + nonce_len, mac_id, IKE_PRF_BYTES);
    return b;
}

int ike_auth_ed25519_sign(uint8_t *out, size_t *out_len,
                          const uint8_t sk[crypto_sign_SECRETKEYBYTES],
                          const uint8_t *msg, size_t msg_len,
                          const uint8_t *nonce, size_t nonce_len,
                          const uint8_t mac_id[IKE_PRF_BYTES])
{
    size_t len;
    uint8_t *b = octets(msg, msg_len, nonce, nonce_len, mac_id, &len);
    int rc;

    if (b == NULL)
        return -1;
    memcpy(out, ed25519_alg, sizeof ed25519_alg);
    rc = crypto_sign_detached(out + sizeof ed25519_alg, NULL, b, len, sk);
    free(b);
    *out_len = sizeof ed25519_alg + crypto_sign_BYTES;
    return rc;
}

int ike_auth_ed25519_verify(const uint8_t *data, size_t len,
                            const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                            const uint8_t *msg, size_t msg_len,
                            const uint8_t *nonce, size_t nonce_len,
                            const uint8_t mac_id[IKE_PRF_BYTES])
{
    size_t blen;
    uint8_t *b;
    int rc;

    if (len != sizeof ed25519_alg + crypto_sign_BYTES ||
        memcmp(data, ed25519_alg, sizeof ed25519_alg) != 0)
        return -1;
    if ((b = octets(msg, msg_len, nonce, nonce_len, mac_id, &blen)) == NULL)
        return -1;
    rc = crypto_sign_verify_detached(data + sizeof ed25519_alg, b, blen, pk);
    free(b);
    return rc;
}
