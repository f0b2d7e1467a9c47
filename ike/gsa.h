/*
 * G-IKEv2's group payloads (RFC 9838), as zike uses them
 * for group SAs (doc/zike.md 9): the GSA payload (one ESP data-security
 * policy and the group-wide policy), the KD payload (the wrapped group key
 * and, for a sender at registration, its Sender ID) and the key wrap.
 * The parsers check every length against the bytes they have.
 */
#ifndef ZESP_IKE_GSA_H
#define ZESP_IKE_GSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikev2.h"
#include "zesp.h"

#define GSA_SENDERS_MAX 64U
#define GSA_RECEIVERS_MAX ZESP_SOURCE_MAC_MAX
#define GSA_NAME_MAX ZESP_PEER_MAX

/* GSA attributes (RFC 9838 4.4.2.2) and zesp's private-use ones. */
#define GSA_ATTR_KEY_LIFETIME 1U
#define GSA_ATTR_ZESP_SENDERS 16384U     /* the senders: id, name, key */
#define GSA_ATTR_ZESP_SOURCE_AUTH 16385U /* TV: GSA_SOURCE_AUTH_* */
#define GSA_ATTR_ZESP_RECEIVERS 16386U   /* source MACs: member ID, key */
/* How a member proves what it sends: ZESP_SOURCE_AUTH's values. */
#define GSA_SOURCE_AUTH_NONE 0U          /* (the attribute is left out) */
#define GSA_SOURCE_AUTH_SIGNATURE 1U     /* each message signed, Ed25519 */
#define GSA_SOURCE_AUTH_MAC 2U           /* a MAC per receiver */
#define GSA_RECEIVER_BYTES (2U + ZESP_SIGN_PUBLICBYTES)
/* Group-wide policy attributes (4.4.3.1): delays in seconds. */
#define GWP_ATD 1U
#define GWP_DTD 2U
#define GWP_SENDER_ID_BITS 3U
/* Key bag attributes (4.5.2.1, 4.5.3.3). */
#define KD_ATTR_SA_KEY 1U
#define KD_ATTR_GM_SENDER_ID 3U
/* Key Wrap Algorithm: private use, XChaCha20-Poly1305 under GSK_w. */
#define GSA_KWA_XCHACHA20POLY1305 1024U
#define GSA_WRAPPED_BYTES (8U + 24U + ZESP_KEYBYTES + 16U)
#define GSA_GSK_W_BYTES 32U

struct gsa_sender {
    uint16_t sid;
    char name[GSA_NAME_MAX];
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];   /* zero without source auth */
};

/* A receiver of a group with source MACs: the member ID of its entry in
 * each message (a sender's is its Sender ID) and its identity key. */
struct gsa_receiver {
    uint16_t id;
    uint8_t pk[ZESP_SIGN_PUBLICBYTES];
};

/* What a GSA payload says about one group SA. */
struct gsa_policy {
    uint32_t spi;
    uint16_t encr;                   /* IKE_ENCR_* = zesp transform */
    bool esn;
    uint32_t lifetime;               /* seconds, 0: none */
    uint16_t source_auth;            /* GSA_SOURCE_AUTH_* */
    uint16_t atd, dtd;               /* seconds */
    uint16_t sid_bits;
    struct gsa_sender senders[GSA_SENDERS_MAX];
    size_t nsenders;
    struct gsa_receiver receivers[GSA_RECEIVERS_MAX];
    size_t nreceivers;
    const char *why;                 /* gsa_parse's reason for an error */
};

/* What a KD payload carries: the wrapped KEYMAT of one SA, and a Sender ID
 * in the member key bag (0: none). */
struct gsa_kd {
    uint32_t spi;
    uint8_t wrapped[GSA_WRAPPED_BYTES];
    uint32_t sender_id;
};

void gsa_write(struct ike_writer *w, const struct gsa_policy *g);
int gsa_parse(const struct ike_payload *p, struct gsa_policy *g);
void kd_write(struct ike_writer *w, const struct gsa_kd *kd);
int kd_parse(const struct ike_payload *p, struct gsa_kd *kd);

/* GSK_w = prf+(SK_d, "Key Wrap for G-IKEv2") (RFC 9838 3.1.1). */
int gsa_gsk_w(uint8_t out[GSA_GSK_W_BYTES], const uint8_t *sk_d);
/* The wrapped key: Key ID 0 | KWK ID 0 | nonce | AEAD(KEYMAT), the SPI and
 * both IDs as associated data. */
int gsa_wrap(uint8_t out[GSA_WRAPPED_BYTES],
             const uint8_t gsk_w[GSA_GSK_W_BYTES], uint32_t spi,
             const uint8_t keymat[ZESP_KEYBYTES]);
int gsa_unwrap(uint8_t keymat[ZESP_KEYBYTES],
               const uint8_t gsk_w[GSA_GSK_W_BYTES], uint32_t spi,
               const uint8_t in[GSA_WRAPPED_BYTES]);

#endif
