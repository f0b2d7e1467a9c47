/* The per-message steps shared by every send and receive entry point. */
#ifndef ZESP_DATAPATH_H
#define ZESP_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "packet.h"
#include "sad.h"

/* Next Header of a zesp message payload (RFC 3692 experimental value). */
#define ZESP_NEXT_HEADER 253U
/* Next Header of a signed one (group SAs, sign.h: a signature follows
 * the ICV), or of one with source MACs (source_mac.h: they end the
 * payload); the SA says which.  The other RFC 3692 value, so that a
 * receiver that expects neither refuses it. */
#define ZESP_NEXT_HEADER_SIGNED 254U

/* With ESN, a sequence number this far above the highest received is
 * taken for an old one (see inbound.c). */
#define ESN_MAX_AHEAD (UINT64_C(1) << 31)

/* Soft-expire SAs with 32- or 48-bit (group) sequence numbers this far
 * before they run out. */
#define SEQ32_SOFT_MARGIN UINT64_C(0x10000000)

struct out_ctx {
    struct sa_ref ref;
    uint32_t lane;          /* ZESP_SA_LANES: this process's; else 0 */
    struct esp_crypto ec;
    uint64_t seq;
    bool sign;              /* a zesp message on a ZESP_SA_SIGNED SA */
    bool mac;               /* on a ZESP_SA_SOURCE_MAC SA */
    uint32_t mac_count;     /* its receivers, as the frame was sized for */
    size_t msg_len;         /* the zesp payload */
    size_t payload_len;     /* the ESP payload: msg_len and any source MACs */
    size_t frame_len;       /* the ESP frame and any signature after it */
};

struct in_ctx {
    const char *policy;     /* the receiver's, checked; NULL: unchecked */
    struct zesp_sad *sad;
    struct sa_ref ref;      /* the SA: key, counters, lifetimes */
    struct sa_ref win_ref;  /* the slot whose window: the SA's own, or a
                               lane's (slot NULL: made once authentic) */
    uint32_t lane;
    struct window_ref win;
    struct esp_crypto ec;
    uint64_t seq;
    size_t opened;          /* bytes decrypted at dst + ZESP_HEADERBYTES */
    /* What the receiver reports of the SA, copied by in_commit with the
     * slot pinned: once unpinned, the slot may hold another SA. */
    uint32_t spi, sender_id;
    char *peer;             /* ZESP_PEER_MAX bytes to copy to; NULL: none */
};

/* Outbound: find the SA, charge the message to its lifetimes, take the next
 * sequence number.  message: payload_len is a zesp payload (Next Header
 * 253), to be signed on a signed SA; the frame then needs ctx->frame_len
 * bytes.  Returns 0 or a ZESP_E* / errno code. */
int out_begin(struct zesp_sad *sad, uint32_t spi, size_t payload_len,
              bool message, struct out_ctx *ctx);
/* Raw: seal payload_len bytes at pkt + ZESP_HEADERBYTES as they are,
 * but for the parts (esp_seal_parts) still elsewhere. */
int out_seal(struct out_ctx *ctx, uint8_t *pkt, size_t payload_len,
             uint8_t next_header, const struct payload_part *parts,
             size_t nparts);
/* Would the seal read parts of the payload where they are? */
bool out_reads_parts(const struct out_ctx *ctx);
/* A zesp message encoded at pkt + ZESP_HEADERBYTES, parts aside: sealed
 * with its Next Header, and the frame signed if the SA says so. */
int out_seal_message(struct out_ctx *ctx, uint8_t *pkt,
                     const struct payload_part *parts, size_t nparts);

/* Inbound: every check that changes no state (on a signed group SA the
 * source signature, before anything is decrypted), then the decryption.
 * The packet decrypted is at dst (len bytes), pkt itself when in place. */
int in_open(struct zesp_sad *sad, const uint8_t *pkt, size_t len,
            uint8_t *dst, struct in_ctx *ctx, size_t *payload_len,
            uint8_t *next_header);
/* After every other check passed: mark the sequence number, count, and
 * copy the SA's SPI, Sender ID and (ctx->peer) peer into ctx. */
int in_commit(struct in_ctx *ctx, size_t payload_len);
/* A message in_open decrypted and that is refused after all: its
 * plaintext at dst is wiped (a no-op if nothing was decrypted). */
void in_discard(struct in_ctx *ctx, uint8_t *dst);
/* Count a rejection by kind for the host, the SA (if one was found, and
 * is still in its slot) and the policy: the one received on, else the one
 * the SA serves.  Rejections only: it pins the slot. */
void count_rejection(struct zesp_sad *sad, const struct sa_ref *ref, int err,
                     const char *policy);

uint64_t lifetime_boot(void);
uint64_t lifetime_now(void);
void lifetime_start(struct sa_slot *s);
uint64_t lifetime_age(const struct sa_slot *s, uint64_t now);
/* The checks and charges read the clock only for an SA with a limit in
 * seconds, each once. */
int lifetime_check(struct sa_slot *s);
/* A message is charged once only its lifetime can refuse it (lifetime.c);
 * a charge refused is given back by the charge itself. */
int lifetime_charge_out(struct sa_slot *s, uint64_t bytes);
int lifetime_charge_in(struct sa_slot *s, uint64_t bytes);

#endif
