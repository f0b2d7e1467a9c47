/*
 * IKEv2 (RFC 7296) numbers and the message codec that zike speaks, one IKE
 * message per ZeroMQ frame.  The codec checks every length against the
 * bytes it has, never reads past them, and refuses what RFC 7296 says to
 * refuse (a wrong major version, an unknown critical payload).
 */
#ifndef ZESP_IKEV2_H
#define ZESP_IKEV2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IKE_HEADER_BYTES 28U
#define IKE_PAYLOAD_HEADER_BYTES 4U
#define IKE_VERSION 0x20U            /* major 2, minor 0 */
#define IKE_MAX_MESSAGE 16384U       /* zike's limit on one message */
#define IKE_MAX_PAYLOADS 32U
#define IKE_MAX_PROPOSALS 8U
#define IKE_MAX_TRANSFORMS 16U
#define IKE_NONCE_MIN 16U
#define IKE_NONCE_MAX 256U

/* Exchange types (RFC 7296 3.1) */
enum ike_exchange {
    IKE_SA_INIT = 34,
    IKE_AUTH = 35,
    IKE_CREATE_CHILD_SA = 36,
    IKE_INFORMATIONAL = 37,
    /* G-IKEv2 (RFC 9838 9.2): registration over an IKE SA, and the
     * GCKS's push of new group SAs over it. */
    IKE_GSA_REGISTRATION = 40,
    IKE_GSA_INBAND_REKEY = 42,
};

/* Header flags */
#define IKE_FLAG_INITIATOR 0x08U
#define IKE_FLAG_VERSION 0x10U
#define IKE_FLAG_RESPONSE 0x20U

/* Payload types (RFC 7296 3.2) */
enum ike_payload_type {
    IKE_PL_NONE = 0,
    IKE_PL_SA = 33,
    IKE_PL_KE = 34,
    IKE_PL_IDI = 35,
    IKE_PL_IDR = 36,
    IKE_PL_CERT = 37,
    IKE_PL_CERTREQ = 38,
    IKE_PL_AUTH = 39,
    IKE_PL_NONCE = 40,
    IKE_PL_NOTIFY = 41,
    IKE_PL_DELETE = 42,
    IKE_PL_VENDOR = 43,
    IKE_PL_TSI = 44,
    IKE_PL_TSR = 45,
    IKE_PL_SK = 46,
    IKE_PL_CP = 47,
    IKE_PL_EAP = 48,
    IKE_PL_IDG = 50,             /* G-IKEv2: Group Identification */
    IKE_PL_GSA = 51,             /* G-IKEv2: Group Security Association */
    IKE_PL_KD = 52,              /* G-IKEv2: Key Download */
};

/* Transform types and the IDs zike uses (IANA IKEv2 registries) */
enum ike_transform_type {
    IKE_TT_ENCR = 1,
    IKE_TT_PRF = 2,
    IKE_TT_INTEG = 3,
    IKE_TT_DH = 4,
    IKE_TT_ESN = 5,
};
#define IKE_ENCR_AES_GCM_16 20U
#define IKE_ENCR_CHACHA20_POLY1305 28U
#define IKE_PRF_HMAC_SHA2_256 5U
#define IKE_DH_CURVE25519 31U
#define IKE_ESN_NO 0U
#define IKE_ESN_YES 1U
#define IKE_ATTR_KEY_LENGTH 14U

/* Protocol IDs */
#define IKE_PROTO_IKE 1U
#define IKE_PROTO_ESP 3U

/* Notify types used here (RFC 7296 3.10.1) */
#define IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD 1U
#define IKE_N_INVALID_MAJOR_VERSION 5U
#define IKE_N_INVALID_SYNTAX 7U
#define IKE_N_NO_PROPOSAL_CHOSEN 14U
#define IKE_N_INVALID_KE_PAYLOAD 17U
#define IKE_N_AUTHENTICATION_FAILED 24U
#define IKE_N_COOKIE 16390U

/* Codec errors */
enum ike_error {
    IKE_OK = 0,
    IKE_ETRUNCATED,      /* shorter than its lengths say */
    IKE_ELENGTH,         /* a length field is impossible */
    IKE_EVERSION,        /* major version not 2 */
    IKE_ECRITICAL,       /* unknown payload marked critical */
    IKE_ETOOMANY,        /* more payloads, proposals or transforms than allowed */
    IKE_ETOOBIG,         /* larger than IKE_MAX_MESSAGE */
    IKE_ESYNTAX,         /* a payload's contents make no sense */
    IKE_ENOSPACE,        /* the writer's buffer is full */
    IKE_EAUTH,           /* the Encrypted payload's ICV does not verify */
};
const char *ike_strerror(int err);

struct ike_header {
    uint8_t spi_i[8];
    uint8_t spi_r[8];
    uint8_t next_payload;
    uint8_t version;
    uint8_t exchange;
    uint8_t flags;
    uint32_t message_id;
    uint32_t length;
};

struct ike_payload {
    uint8_t type;
    bool critical;
    const uint8_t *body;         /* after the generic payload header */
    size_t len;
};

struct ike_message {
    struct ike_header hdr;
    struct ike_payload payloads[IKE_MAX_PAYLOADS];
    size_t npayloads;
    uint8_t sk_first;            /* SK payload: type of the first inner payload */
    uint8_t unsupported_critical; /* with IKE_ECRITICAL: the payload type */
};

int ike_parse(const uint8_t *buf, size_t len, struct ike_message *m);
/* Appends the payloads of a chain (starting with type `first`) to m; the
 * decrypted contents of an SK payload are parsed with inner = true. */
int ike_parse_chain(const uint8_t *buf, size_t len, uint8_t first,
                    struct ike_message *m, bool inner);
const struct ike_payload *ike_find(const struct ike_message *m, uint8_t type);

struct ike_transform {
    uint8_t type;
    uint16_t id;
    uint16_t key_bits;           /* 0: no key length attribute */
};

struct ike_proposal {
    uint8_t number;
    uint8_t protocol;
    uint8_t spi_size;
    uint8_t spi[8];
    struct ike_transform transforms[IKE_MAX_TRANSFORMS];
    size_t ntransforms;
};

struct ike_sa_payload {
    struct ike_proposal proposals[IKE_MAX_PROPOSALS];
    size_t nproposals;
};

struct ike_ke { uint16_t group; const uint8_t *data; size_t len; };
struct ike_notify {
    uint8_t protocol;
    uint16_t type;
    const uint8_t *spi;
    size_t spi_size;
    const uint8_t *data;
    size_t len;
};

int ike_parse_sa(const struct ike_payload *p, struct ike_sa_payload *sa);
int ike_parse_ke(const struct ike_payload *p, struct ike_ke *ke);
int ike_parse_nonce(const struct ike_payload *p, const uint8_t **nonce,
                    size_t *len);
int ike_parse_notify(const struct ike_payload *p, struct ike_notify *n);
/* The first well-formed notify of that type (true), into out. */
bool ike_find_notify(const struct ike_message *m, uint16_t type,
                     struct ike_notify *out);
/* The type of the first error notify (below 16384, RFC 7296 3.10.1), or 0. */
#define IKE_N_STATUS_MIN 16384U
uint16_t ike_error_notify(const struct ike_message *m);

/* Identification (3.5): ID' (the body) is what AUTH covers. */
#define IKE_ID_FQDN 2U
#define IKE_ID_RFC822 3U
#define IKE_ID_KEY_ID 11U
#define IKE_ID_MAX 255U
struct ike_id { uint8_t type; const uint8_t *data; size_t len; };
int ike_parse_id(const struct ike_payload *p, struct ike_id *id);

struct ike_auth { uint8_t method; const uint8_t *data; size_t len; };
int ike_parse_auth(const struct ike_payload *p, struct ike_auth *a);

/* Delete (3.11): SPIs of one protocol, spi_size bytes each. */
struct ike_delete {
    uint8_t protocol;
    uint8_t spi_size;
    uint16_t count;
    const uint8_t *spis;
};
int ike_parse_delete(const struct ike_payload *p, struct ike_delete *d);

/* Traffic selectors (3.13): checked for form only; zike serves the
 * policy named in its ZESP_POLICY notify and echoes the peer's TS. */
int ike_check_ts(const struct ike_payload *p);

/* zike's private notifies: the name of the policy a child SA serves; and
 * that both ESP SAs of a child have lanes, many sending processes each
 * with its own sequence numbers (doc/wire-format.md 10), no data. */
#define IKE_N_ZESP_POLICY 40960U
#define IKE_N_ZESP_LANES 40961U
#define IKE_N_INITIAL_CONTACT 16384U
#define IKE_N_REKEY_SA 16393U
#define IKE_N_SIGNATURE_HASH_ALGORITHMS 16431U
#define IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED 16394U
#define IKE_N_NO_ADDITIONAL_SAS 35U
#define IKE_N_TEMPORARY_FAILURE 43U
#define IKE_N_CHILD_SA_NOT_FOUND 44U
#define IKE_N_INVALID_SPI 11U
#define IKE_N_TS_UNACCEPTABLE 38U
/* G-IKEv2 notifies (RFC 9838 4.7, numbers 9.2). */
#define IKE_N_INVALID_GROUP_ID 45U
#define IKE_N_AUTHORIZATION_FAILED 46U
#define IKE_N_REGISTRATION_FAILED 49U
#define IKE_N_GROUP_SENDER 16429U

/* Writing: header, then payloads one after the other; ike_w_finish sets
 * the chain of Next Payload fields and the length.  Any error sticks. */
struct ike_writer {
    uint8_t *buf;
    size_t cap, len;
    size_t next_at;              /* where the pending Next Payload goes */
    size_t open_at;              /* start of the payload being written */
    bool chain;                  /* no IKE header (ike_w_init_chain) */
    int err;
};

void ike_w_init(struct ike_writer *w, uint8_t *buf, size_t cap,
                const struct ike_header *h);
void ike_w_begin(struct ike_writer *w, uint8_t type, bool critical);
void ike_w_bytes(struct ike_writer *w, const void *data, size_t len);
void ike_w_u8(struct ike_writer *w, uint8_t v);
void ike_w_u16(struct ike_writer *w, uint16_t v);
void ike_w_u32(struct ike_writer *w, uint32_t v);
void ike_w_end(struct ike_writer *w);
int ike_w_finish(struct ike_writer *w, size_t *len);

void ike_w_sa(struct ike_writer *w, const struct ike_sa_payload *sa);
void ike_w_ke(struct ike_writer *w, uint16_t group, const uint8_t *data,
              size_t len);
void ike_w_nonce(struct ike_writer *w, const uint8_t *nonce, size_t len);
void ike_w_notify(struct ike_writer *w, uint8_t protocol, uint16_t type,
                  const uint8_t *spi, size_t spi_size, const uint8_t *data,
                  size_t len);

void ike_w_id(struct ike_writer *w, uint8_t payload, uint8_t id_type,
              const void *data, size_t len);
void ike_w_auth(struct ike_writer *w, uint8_t method, const uint8_t *data,
                size_t len);
/* A TS payload of one selector covering every IPv4 address and port. */
void ike_w_ts_any(struct ike_writer *w, uint8_t payload);
/* A TS payload with the body given (echoing the peer's). */
void ike_w_raw(struct ike_writer *w, uint8_t payload, const uint8_t *body,
               size_t len);
void ike_w_delete(struct ike_writer *w, uint8_t protocol, uint8_t spi_size,
                  const uint8_t *spis, uint16_t count);
/* Start a chain of payloads with no IKE header (the plaintext of an SK
 * payload): buf[0] receives the first payload's type, the chain follows. */
void ike_w_init_chain(struct ike_writer *w, uint8_t *buf, size_t cap);

#endif
