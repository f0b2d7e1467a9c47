/* The sender's side of an SA: lifetimes, sequence numbers, sealing. */
#include "datapath.h"

#include <errno.h>

#include "lanes.h"
#include "seqstate.h"
#include "sign.h"
#include "source_mac.h"

/* seq_next: the SA's record must be written further first (manual keys). */
#define SEQ_UNRESERVED (-1)

/* The last number an SA may send: its ESN mode's, and for a group SA or
 * a lane the 48 bits the Sender ID or lane leaves in the IV, whichever is
 * lower.  A manually keyed SA stops there too: its key may have served a
 * group sender or lanes on the SPI before (seqstate.c), whose IVs carry
 * the Sender ID or lane above those 48 bits, and a pairwise number past
 * them would be one of those IVs again. */
static uint64_t seq_max(const struct sa_slot *s)
{
    uint64_t max = (s->flags & ZESP_SA_NO_ESN) ? ZESP_SEQ_MAX_32
                                               : ZESP_SEQ_MAX_ESN;

    if ((s->flags & (ZESP_SA_GROUP | ZESP_SA_LANES | ZESP_SA_MANUAL)) &&
        max > ZESP_SEQ_MAX_GROUP)
        max = ZESP_SEQ_MAX_GROUP;
    return max;
}

/* Take the next sequence number, of the SA or, with lanes, of this
 * process's lane; it never cycles (RFC 4303 3.3.3). */
static int seq_next(struct zesp_sad *sad, struct out_ctx *ctx)
{
    struct sa_slot *s = ctx->ref.slot;
    uint64_t max = seq_max(s), *seq = &ctx->seq;
    uint64_t cur = atomic_load_explicit(&s->seq, memory_order_relaxed);

    if (s->flags & ZESP_SA_LANES) {
        int err = lanes_next(sad, &ctx->ref, max, &ctx->lane, seq);
        if (err == LANE_UNRESERVED)
            return SEQ_UNRESERVED;
        if (err == 0 && max != ZESP_SEQ_MAX_ESN &&
            *seq >= max - SEQ32_SOFT_MARGIN)
            atomic_store_explicit(&s->soft_expired, 1, memory_order_relaxed);
        return err;
    }
    do {
        if (cur >= max)
            return ZESP_ESEQEXHAUSTED;
        if (cur >= atomic_load_explicit(&s->reserved, memory_order_acquire))
            return SEQ_UNRESERVED;
    } while (!atomic_compare_exchange_weak_explicit(
        &s->seq, &cur, cur + 1U, memory_order_relaxed, memory_order_relaxed));
    *seq = cur + 1U;
    if (max != ZESP_SEQ_MAX_ESN && *seq >= max - SEQ32_SOFT_MARGIN)
        atomic_store_explicit(&s->soft_expired, 1, memory_order_relaxed);
    return 0;
}

/* The message charged to the SA's lifetimes, and its sequence number. */
static int take_number(struct zesp_sad *sad, struct out_ctx *ctx)
{
    struct sa_slot *s = ctx->ref.slot;
    int err = 0;

    /* A stopped SA takes no number (a lane, a record written) to be
     * refused; one past its time is stopped by its first charge. */
    if (atomic_load_explicit(&s->hard_expired, memory_order_relaxed))
        return ZESP_EEXPIRED;
    if (!seqstate_seen(sad, &ctx->ref))
        err = seqstate_first_use(sad, &ctx->ref);
    while (err == 0 && (err = seq_next(sad, ctx)) == SEQ_UNRESERVED)
        err = seqstate_out_extend(sad, &ctx->ref);
    /* Charged once the number is taken: a try refused (no lane free, no
     * record written) charges nothing, not even for a moment, in which
     * another sender's charge would have found the limit passed and
     * stopped the SA (lifetime.c).  A number taken for a message the
     * lifetime then refuses is lost with the SA, which reached a limit. */
    if (err == 0)
        err = lifetime_charge_out(s, ctx->payload_len);
    if (err != 0)
        return err;
    if ((s->flags & ZESP_SA_MANUAL) &&
        ctx->seq + s->seq_block / 2U >= atomic_load(&s->reserved))
        seqstate_out_ahead(sad, &ctx->ref);
    return 0;
}

int out_begin(struct zesp_sad *sad, uint32_t spi, size_t payload_len,
              bool message, struct out_ctx *ctx)
{
    struct sa_slot *s;
    int err;

    if (sad_private_forked(sad))
        return ZESP_EFORKED;
    if ((err = sad_find(sad, spi, ZESP_DIR_OUT, &ctx->ref)) != 0) {
        struct sa_ref in;
        if (sad_find(sad, spi, ZESP_DIR_IN, &in) == 0 ||
            sad_find_group_lowest(sad, spi, &in) == 0)
            return ZESP_EDIRECTION;
        return err;
    }
    s = ctx->ref.slot;
    if ((ctx->ec.t = transform_find(s->transform)) == NULL)
        return ZESP_EBADSAD;      /* the shared slot was damaged */
    ctx->ec.k = ctx->ref.key;
    ctx->ec.esn = !(s->flags & ZESP_SA_NO_ESN);
    ctx->ec.backend = AEAD_AUTO;
    /* Only zesp messages are signed: the raw API's callers size their
     * frames with zesp_esp_bytes, which has no room for a signature. */
    ctx->sign = message && (s->flags & ZESP_SA_SIGNED);
    ctx->mac = message && (s->flags & ZESP_SA_SOURCE_MAC);
    ctx->msg_len = payload_len;
    ctx->payload_len = payload_len;
    if (ctx->mac) {
        uint32_t n = ctx->ref.key->mac_count;
        /* Read unpinned: an SA deleted since sad_find has its key
         * material wiped, the count too (sad_slot_release); that is no
         * damage but a deleted SA, which a send by policy retries. */
        if (n == 0 || n > ZESP_SOURCE_MAC_MAX)
            return sad_ref_valid(&ctx->ref) ? ZESP_EBADSAD : ZESP_ENOSA;
        ctx->mac_count = n;
        ctx->payload_len += source_mac_trailer_len(n);
    }
    ctx->frame_len = esp_packet_len(ctx->payload_len) +
                     (ctx->sign ? ZESP_SIGNBYTES : 0U);
    if (ctx->payload_len > sad->lay.max_message) {
        /* Counted against the SA still in the slot only (sad_pin). */
        if (sad_pin(&ctx->ref))
            sa_count(s, CNT_REJ(ZESP_REJ_TOOBIG), 1);
        sad_unpin(&ctx->ref);
        return ZESP_ETOOBIG;
    }
    ctx->lane = 0;
    /* Pinned, the slot holds no other SA (sad_pin): a sender preempted
     * since it found its SA, while the SA was deleted and another took
     * the slot, charges the other SA nothing and takes none of its
     * numbers. */
    err = sad_pin(&ctx->ref) ? take_number(sad, ctx) : ZESP_ENOSA;
    sad_unpin(&ctx->ref);
    if (err != 0)
        return err;
    return sad_ref_valid(&ctx->ref) ? 0 : ZESP_ENOSA;
}

int out_seal(struct out_ctx *ctx, uint8_t *pkt, size_t payload_len,
             uint8_t next_header, const struct payload_part *parts,
             size_t nparts)
{
    const struct sa_slot *s = ctx->ref.slot;
    /* The IV is the sequence number: unique per SA, as RFC 4106 and RFC
     * 7634 require, and free to compute.  A group SA's members share the
     * key, so each puts its Sender ID in the top bits (RFC 6054 3.1). */
    uint64_t iv = ctx->seq;
    int err;

    if (s->flags & ZESP_SA_GROUP)
        iv |= (uint64_t)s->sender_id << (64U - ZESP_SENDER_ID_BITS);
    else if (ctx->lane != 0)
        iv |= (uint64_t)ctx->lane << LANE_SHIFT;
    err = esp_seal_parts(&ctx->ec, s->spi, ctx->seq, iv, pkt, payload_len,
                         esp_pad_len(payload_len), next_header, parts,
                         nparts);
    if (err == 0 && !sad_ref_valid(&ctx->ref))
        err = ZESP_ENOSA;
    return err;
}

bool out_reads_parts(const struct out_ctx *ctx)
{
    /* The MACs are computed over the plaintext, gathered first. */
    return !ctx->mac && esp_seal_reads_parts(&ctx->ec, ctx->payload_len);
}

int out_seal_message(struct out_ctx *ctx, uint8_t *pkt,
                     const struct payload_part *parts, size_t nparts)
{
    const struct sa_slot *s = ctx->ref.slot;
    int err;

    if (!ctx->sign && !ctx->mac)
        return out_seal(ctx, pkt, ctx->payload_len, ZESP_NEXT_HEADER, parts,
                        nparts);
    if (ctx->mac) {
        if (nparts != 0)
            return EINVAL;
        /* The slot's count is not read again: an SA put there since
         * out_begin may have more receivers than the frame has room for
         * (out_seal then refuses the frame). */
        if (source_mac_seal(ctx->ec.t, &ctx->ref, ctx->mac_count, s->spi,
                            s->sender_id, ctx->seq, pkt, ctx->msg_len) != 0)
            return sad_ref_valid(&ctx->ref) ? ENOMEM    /* expanded keys */
                                            : ZESP_ENOSA;
        return out_seal(ctx, pkt, ctx->payload_len, ZESP_NEXT_HEADER_SIGNED,
                        NULL, 0);
    }
    /* Encrypt, then sign what goes on the wire: whoever holds the public
     * key checks the sender without the group key. */
    if ((err = out_seal(ctx, pkt, ctx->payload_len, ZESP_NEXT_HEADER_SIGNED,
                        parts, nparts)) != 0)
        return err;
    if (sign_frame(ctx->ref.key->sign_key, pkt,
                   esp_packet_len(ctx->payload_len)) != 0)
        return EINVAL;
    /* The signing key was read from the slot after out_seal's check: an
     * SA put there meanwhile would have signed this SA's frame. */
    return sad_ref_valid(&ctx->ref) ? 0 : ZESP_ENOSA;
}
