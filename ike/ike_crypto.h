/*
 * The cryptography of IKEv2 (RFC 7296 2.13-2.15, RFC 5282, RFC 7634,
 * RFC 8420) on top of libsodium: the PRF and prf+, the IKE SA and child SA
 * keys, the Encrypted (SK) payload and the AUTH payload.
 */
#ifndef ZESP_IKE_CRYPTO_H
#define ZESP_IKE_CRYPTO_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikev2.h"
#include "sad.h"

struct transform;

#define IKE_PRF_BYTES 32U             /* HMAC-SHA-256 */
#define IKE_SK_E_BYTES 36U            /* AEAD key (32) and salt (4) */
#define IKE_SK_IV_BYTES 8U
#define IKE_SK_ICV_BYTES 16U
#define IKE_X25519_BYTES 32U
#define IKE_NONCE_BYTES 32U

/* prf(key, data...) with HMAC-SHA-256 over the concatenation of n parts. */
struct ike_chunk { const uint8_t *p; size_t len; };
void ike_prf(uint8_t out[IKE_PRF_BYTES], const uint8_t *key, size_t keylen,
             const struct ike_chunk *parts, size_t n);
/* prf+ (RFC 7296 2.13): fills out[len], len at most 255 x 32 bytes. */
int ike_prf_plus(uint8_t *out, size_t len, const uint8_t *key, size_t keylen,
                 const struct ike_chunk *parts, size_t n);

/* The keys of one IKE SA in locked memory (ike_keys_new, from a pool:
 * not thread-safe; zike has one thread): the expanded AEAD keys first,
 * for their alignment, and the X25519 secret used until the keys are
 * made. */
struct ike_keys {
    struct sa_key ei, er;             /* expanded AEAD keys */
    uint8_t sk_d[IKE_PRF_BYTES];
    uint8_t sk_pi[IKE_PRF_BYTES];
    uint8_t sk_pr[IKE_PRF_BYTES];
    uint8_t sk_ei[IKE_SK_E_BYTES];
    uint8_t sk_er[IKE_SK_E_BYTES];
    uint8_t dh_priv[IKE_X25519_BYTES];
    const struct transform *aead;
    uint16_t aead_id;                 /* IKE_ENCR_* */
};

struct ike_keys *ike_keys_new(void);
void ike_keys_free(struct ike_keys *k);

/* SKEYSEED and its keys.  old_sk_d NULL: SKEYSEED = prf(Ni | Nr, g^ir);
 * else (IKE SA rekey) prf(SK_d old, g^ir | Ni | Nr). */
int ike_derive(struct ike_keys *k, uint16_t encr, const uint8_t *old_sk_d,
               const uint8_t shared[IKE_X25519_BYTES],
               const uint8_t *ni, size_t ni_len,
               const uint8_t *nr, size_t nr_len,
               const uint8_t spi_i[8], const uint8_t spi_r[8]);

/* Child SA KEYMAT (2.17): prf+(SK_d, [g^ir] | Ni | Nr), the initiator's
 * outbound key first.  shared NULL when there was no new KE. */
int ike_child_keymat(uint8_t *keymat, size_t len, const uint8_t *sk_d,
                     const uint8_t *shared, const uint8_t *ni, size_t ni_len,
                     const uint8_t *nr, size_t nr_len);

/* X25519 (RFC 8031): a fresh key pair, and the shared secret (fails on an
 * all-zero result, as 8031 2.2 asks). */
int ike_x25519_keypair(uint8_t pub[IKE_X25519_BYTES],
                       uint8_t priv[IKE_X25519_BYTES]);
int ike_x25519_shared(uint8_t shared[IKE_X25519_BYTES],
                      const uint8_t priv[IKE_X25519_BYTES],
                      const uint8_t *peer_pub, size_t peer_len);

/*
 * The Encrypted payload.  ike_sk_seal takes a whole message whose last
 * payload is SK with `plain_len` bytes of inner payloads after an 8-byte
 * IV gap, i.e. buf = header .. SK header | IV | plaintext, and room for the
 * pad length byte and the ICV after it; it fills the IV from *counter,
 * encrypts in place, sets the lengths and returns the message length.
 * ike_sk_open decrypts the SK payload of a parsed message in place and
 * parses the inner payloads into m.  IKE_EAUTH: nothing in the message is
 * authenticated (no SK payload, one too short for IV and ICV, or an ICV
 * that does not verify); any other error comes after the ICV verified.
 */
int ike_sk_seal(uint8_t *buf, size_t cap, size_t sk_at, size_t plain_len,
                const struct ike_keys *k, bool initiator, uint64_t *counter,
                size_t *out_len);
int ike_sk_open(uint8_t *buf, size_t len, struct ike_message *m,
                const struct ike_keys *k, bool from_initiator);

/* AUTH payload data.  The octets signed: RealMessage | Nonce(peer) |
 * prf(SK_p, ID').  Methods: IKE_AUTH_PSK (2) and IKE_AUTH_DIGSIG (14,
 * Ed25519 per RFC 8420: ASN.1 length, AlgorithmIdentifier, signature). */
#define IKE_AUTH_PSK 2U
#define IKE_AUTH_DIGSIG 14U
#define IKE_AUTH_MAX 128U
void ike_auth_octets_mac(uint8_t out[IKE_PRF_BYTES], const uint8_t *sk_p,
                         const uint8_t *id_body, size_t id_len);
int ike_auth_psk(uint8_t out[IKE_PRF_BYTES], const uint8_t *psk,
                 size_t psk_len, const uint8_t *msg, size_t msg_len,
                 const uint8_t *nonce, size_t nonce_len,
                 const uint8_t mac_id[IKE_PRF_BYTES]);
int ike_auth_ed25519_sign(uint8_t *out, size_t *out_len,
                          const uint8_t sk[crypto_sign_SECRETKEYBYTES],
                          const uint8_t *msg, size_t msg_len,
                          const uint8_t *nonce, size_t nonce_len,
                          const uint8_t mac_id[IKE_PRF_BYTES]);
int ike_auth_ed25519_verify(const uint8_t *data, size_t len,
                            const uint8_t pk[crypto_sign_PUBLICKEYBYTES],
                            const uint8_t *msg, size_t msg_len,
                            const uint8_t *nonce, size_t nonce_len,
                            const uint8_t mac_id[IKE_PRF_BYTES]);

#endif
