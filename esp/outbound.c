/* The sender's side of an SA: lifetimes, sequence numbers, sealing. */
#include "datapath.h"

#include <errno.h>

/* Take the next sequence number; it never cycles (RFC 4303 3.3.3). */
static int seq_next(struct sa_slot *s, uint64_t *seq)
{
    uint64_t max = (s->flags & ZESP_SA_NO_ESN) ? ZESP_SEQ_MAX_32
                                               : ZESP_SEQ_MAX_ESN;
    uint64_t cur = atomic_load_explicit(&s->seq, memory_order_relaxed);

    do {
        if (cur >= max)
            return ZESP_ESEQEXHAUSTED;
    } while (!atomic_compare_exchange_weak_explicit(
        &s->seq, &cur, cur + 1U, memory_order_relaxed, memory_order_relaxed));
    *seq = cur + 1U;
    if ((s->flags & ZESP_SA_NO_ESN) && *seq >= max - SEQ32_SOFT_MARGIN)
        atomic_store_explicit(&s->soft_expired, 1, memory_order_relaxed);
    return 0;
}

int out_begin(struct zesp_sad *sad, uint32_t spi, size_t payload_len,
              struct out_ctx *ctx)
{
    struct sa_slot *s;
    int err;

    if ((err = sad_find(sad, spi, ZESP_DIR_OUT, &ctx->ref)) != 0) {
        struct sa_ref in;
        if (sad_find(sad, spi, ZESP_DIR_IN, &in) == 0)
            return ZESP_EDIRECTION;
        return err;
    }
    s = ctx->ref.slot;
    ctx->ec.t = transform_find(s->transform);
    ctx->ec.k = ctx->ref.key;
    ctx->ec.esn = !(s->flags & ZESP_SA_NO_ESN);
    if (payload_len > sad->hdr->max_message) {
        sa_count(s, CNT_REJ_TOOBIG, 1);
        return ZESP_ETOOBIG;
    }
    if ((err = lifetime_charge_out(s, payload_len, sad_now())) != 0)
        return err;
    if ((err = seq_next(s, &ctx->seq)) != 0)
        return err;
    return sad_ref_valid(&ctx->ref) ? 0 : ZESP_ENOSA;
}

int out_seal(struct out_ctx *ctx, uint8_t *pkt, size_t payload_len,
             uint8_t next_header)
{
    /* The IV is the sequence number: unique per SA, as RFC 4106 and RFC
     * 7634 require, and free to compute. */
    int err = esp_seal(&ctx->ec, ctx->ref.slot->spi, ctx->seq, ctx->seq, pkt,
                       payload_len, esp_pad_len(payload_len), next_header);

    if (err == 0 && !sad_ref_valid(&ctx->ref))
        err = ZESP_ENOSA;
    return err;
}
