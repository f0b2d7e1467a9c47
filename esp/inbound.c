/*
 * The receiver's side of an SA.  Every check that changes no state comes
 * first and the cheapest first; the replay window and the counters change
 * only once the sender's signature (signed group SAs), the ICV and, above
 * this layer, the clear-frame binding have been verified.
 */
#include "datapath.h"

#include <sodium.h>
#include <string.h>

#include "lanes.h"
#include "replay.h"
#include "seqstate.h"
#include "sign.h"
#include "source_mac.h"
#include "spd.h"

/* The Sender ID of a group frame: the IV's top bits (RFC 6054). */
static uint32_t frame_sender(const uint8_t *pkt)
{
    return ((uint32_t)pkt[8] << 8) | pkt[9];
}

/* The SA a frame came under, and the slot of the window it is checked
 * in: a pairwise SA by SPI, with its own window, or on a lanes SA the
 * window of the lane in the IV (none yet: made once the frame proved
 * authentic); else a group sender's window by SPI and the Sender ID in
 * the IV.  A pairwise SA without lanes never answers to a Sender ID, and
 * a lane's window, which holds no key, is never taken for a group
 * sender's: its SA may be gone before it (sa_remove, a killed writer). */
static int find_in(struct zesp_sad *sad, const uint8_t *pkt, size_t len,
                   struct in_ctx *ctx)
{
    uint32_t spi = load_be32(pkt);
    uint32_t sender = len >= ZESP_HEADERBYTES ? frame_sender(pkt) : 0;
    int err = sad_find(sad, spi, ZESP_DIR_IN, &ctx->ref);

    ctx->win_ref = ctx->ref;
    ctx->lane = 0;
    if (err == 0) {
        if (!(ctx->ref.slot->flags & ZESP_SA_LANES) || sender == 0)
            return 0;
        if (sender >= ZESP_LANES_MAX)
            return ZESP_EMALFORMED;
        ctx->lane = sender;
        err = sad_find_sender(sad, spi, ZESP_DIR_IN, sender, &ctx->win_ref);
        if (err == ZESP_ENOSA)
            ctx->win_ref.slot = NULL;
        return err == ZESP_ENOSA ? 0 : err;
    }
    if (err != ZESP_ENOSA || sender == 0)
        return err;
    err = sad_find_sender(sad, spi, ZESP_DIR_IN, sender, &ctx->ref);
    if (err == 0 && !(ctx->ref.slot->flags & ZESP_SA_GROUP)) {
        ctx->ref.slot = NULL;
        return ZESP_ENOSA;
    }
    ctx->win_ref = ctx->ref;
    return err;
}

/* The window's sizes, read once from its slot and bounded; then where it
 * is (the SAD's, or this process's own, as the SA says). */
static int window_of(struct zesp_sad *sad, struct in_ctx *ctx)
{
    const struct sa_slot *ws = ctx->win_ref.slot;
    struct window_ref *w = &ctx->win;
    int err;

    w->words = ws->window_words;
    w->window = ws->replay_window;
    if ((err = replay_bounds(w->words, w->window,
                             sad->lay.max_window_words)) != 0)
        return err;
    return sad_window(sad, &ctx->win_ref, ctx->ref.slot->flags, w);
}

/* The full sequence number against the window's top (RFC 4303 A2), and
 * the replay check.  A lane without a window yet has a top of where the
 * SA says its window starts and nothing received above it. */
static int window_check(struct in_ctx *ctx, const uint8_t *pkt)
{
    struct window_ref *w = &ctx->win;
    bool fresh = ctx->win_ref.slot == NULL;
    uint64_t top = fresh ? lanes_in_start(ctx->ref.slot, ctx->lane)
                         : atomic_load_explicit(w->top, memory_order_acquire);

    ctx->seq = load_be32(pkt + 4);
    if (ctx->ec.esn) {
        ctx->seq = replay_infer_esn(top, w->window, (uint32_t)ctx->seq);
        /* RFC 4303 A2 reads a number below the window as one of the next
         * epoch, whose ICV then fails.  Half an epoch ahead is no credible
         * gap in a sender's numbering: call it what it is, too old. */
        if (ctx->seq - top > ESN_MAX_AHEAD && ctx->seq > top)
            return ZESP_EOLD;
    }
    if (fresh)
        return ctx->seq <= top ? ZESP_EOLD : 0;
    return replay_check(w->top, w->ring, w->words, w->window, ctx->seq);
}

/* A signed group SA: the sender's signature over the frame as it came,
 * checked before anything is decrypted; *esp_len then leaves it out. */
static int check_signature(const struct in_ctx *ctx, const uint8_t *pkt,
                           size_t len, size_t *esp_len)
{
    if (!(ctx->ref.slot->flags & ZESP_SA_SIGNED)) {
        *esp_len = len;
        return 0;
    }
    return sign_frame_check(ctx->ref.key->sign_key, pkt, len, esp_len);
}

/* A group SA that proves its sender says so in the decrypted payload
 * (Next Header 254); with source MACs, ours is checked and taken off. */
static int check_payload_source(struct in_ctx *ctx, uint8_t *payload,
                                size_t *payload_len, uint8_t next_header)
{
    const struct sa_slot *s = ctx->ref.slot;

    if (next_header != ZESP_NEXT_HEADER_SIGNED)
        return ZESP_EMALFORMED;
    if (s->flags & ZESP_SA_SOURCE_MAC)
        return source_mac_check(ctx->ec.t, &ctx->ref, s->spi,
                                s->sender_id, ctx->seq, payload, *payload_len,
                                payload_len);
    return 0;
}

/* A lane's first authentic message: its window now, and the check again
 * in it (another receiver may have made it and taken this). */
static int lane_first(struct zesp_sad *sad, struct in_ctx *ctx,
                      const uint8_t *pkt)
{
    int err;

    if ((err = lanes_window(sad, &ctx->ref, ctx->lane, &ctx->win_ref)) != 0 ||
        (err = window_of(sad, ctx)) != 0)
        return err;
    return window_check(ctx, pkt);
}

static int rejection_kind(int err)
{
    static const struct { int err; enum zesp_rejection kind; } map[] = {
        { ZESP_EMALFORMED, ZESP_REJ_MALFORMED },
        { ZESP_ENOSA, ZESP_REJ_NOSA },
        { ZESP_EREPLAY, ZESP_REJ_REPLAY },
        { ZESP_EOLD, ZESP_REJ_OLD },
        { ZESP_EICV, ZESP_REJ_ICV },
        { ZESP_EEXPIRED, ZESP_REJ_EXPIRED },
        { ZESP_EBINDING, ZESP_REJ_BINDING },
        { ZESP_ETOOBIG, ZESP_REJ_TOOBIG },
        { ZESP_ESIGNATURE, ZESP_REJ_SIGNATURE },
        { ZESP_EPOLICY, ZESP_REJ_POLICY },
    };

    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].err == err)
            return (int)map[i].kind;
    return -1;
}

void count_rejection(struct zesp_sad *sad, const struct sa_ref *ref, int err,
                     const char *policy)
{
    int kind = rejection_kind(err);
    bool counted = false;
    uint32_t spi = 0;

    if (kind < 0)
        return;
    atomic_fetch_add_explicit(&sad->hdr->rejected[kind], 1,
                              memory_order_relaxed);
    /* Against the SA found only if its slot still holds it, pinned as a
     * receiver changes its SA's state (sad_pin): a slot given to another
     * SA since would have counted this message against the other, and
     * against the policy serving the other's SPI. */
    if (ref != NULL && ref->slot != NULL) {
        if (sad_pin(ref)) {
            sa_count(ref->slot, CNT_REJ(kind), 1);
            spi = ref->slot->spi;
            counted = true;
        }
        sad_unpin(ref);
    }
    if (!counted && err == ZESP_ENOSA)
        atomic_fetch_add(&sad->hdr->rejected_nosa, 1);
    else if (!counted && err == ZESP_EMALFORMED)
        atomic_fetch_add(&sad->hdr->rejected_malformed, 1);
    if (policy != NULL || counted)
        spd_count_rejection(sad, policy, spi, (enum zesp_rejection)kind);
}

/* A frame refused by the SA's keys: if the SA was deleted meanwhile, the
 * keys were wiped (sad_slot_release), and the frame is refused for want
 * of its SA, not counted as a forgery (ICV, signature or source MAC). */
static int gone_or(const struct in_ctx *ctx, int err)
{
    return sad_ref_valid(&ctx->ref) ? err : ZESP_ENOSA;
}

int in_open(struct zesp_sad *sad, const uint8_t *pkt, size_t len,
            uint8_t *dst, struct in_ctx *ctx, size_t *payload_len,
            uint8_t *next_header)
{
    struct window_ref *w = &ctx->win;
    struct sa_slot *s;
    size_t esp_len;
    int err;

    ctx->ref.slot = NULL;
    ctx->sad = sad;
    ctx->opened = 0;
    if (sad_private_forked(sad))
        return ZESP_EFORKED;
    if (len < 8U)
        return ZESP_EMALFORMED;
    if ((err = find_in(sad, pkt, len, ctx)) != 0)
        return err;
    s = ctx->ref.slot;
    if ((ctx->ec.t = transform_find(s->transform)) == NULL)
        return ZESP_EBADSAD;
    /* The receiver's policy first: an SA that does not serve it, or that
     * leaves the body in clear where the policy's SAs encrypt, is refused
     * whatever the message holds (RFC 4301 5.2). */
    if (ctx->policy != NULL &&
        (err = spd_serves_in(sad, ctx->policy, s->spi,
                             ctx->ec.t->encrypts)) != 0)
        return err;
    /* What indexes memory is read once from the shared slot and bounded
     * by this process's own copy of the layout. */
    w->words = s->window_words;
    w->window = s->replay_window;
    if ((err = replay_bounds(w->words, w->window,
                             sad->lay.max_window_words)) != 0)
        return err;
    ctx->ec.k = ctx->ref.key;
    ctx->ec.esn = !(s->flags & ZESP_SA_NO_ESN);
    ctx->ec.backend = AEAD_AUTO;
    if (len > sad->lay.max_message + ESP_MIN_BYTES + 3U +
                  ((s->flags & ZESP_SA_SIGNED) ? ZESP_SIGNBYTES : 0U))
        return ZESP_ETOOBIG;
    if (len < ESP_MIN_BYTES || len % 4U != 0)
        return ZESP_EMALFORMED;
    if ((err = lifetime_check(s)) != 0)
        return err;
    if (ctx->win_ref.slot != NULL && (err = window_of(sad, ctx)) != 0)
        return err;
    if ((err = window_check(ctx, pkt)) != 0)
        return err;
    if ((err = check_signature(ctx, pkt, len, &esp_len)) != 0)
        return gone_or(ctx, err);
    if ((err = esp_open_to(&ctx->ec, ctx->seq, pkt, esp_len, dst,
                           payload_len, next_header)) != 0)
        return gone_or(ctx, err);
    /* From here on a refusal wipes what was decrypted. */
    ctx->opened = esp_len - ZESP_HEADERBYTES - ZESP_ICVBYTES;
    /* The frame's length left room for the most padding: the payload
     * itself is held to the limit, as a sender's is. */
    if (*payload_len > sad->lay.max_message)
        err = ZESP_ETOOBIG;
    else if (!sad_ref_valid(&ctx->ref))
        err = ZESP_ENOSA;
    else if (ctx->win_ref.slot == NULL)
        err = lane_first(sad, ctx, pkt);
    if (err == 0 && (s->flags & (ZESP_SA_SIGNED | ZESP_SA_SOURCE_MAC)) &&
        (err = check_payload_source(ctx, dst, payload_len,
                                    *next_header)) != 0)
        err = gone_or(ctx, err);
    if (err != 0)
        in_discard(ctx, dst);
    return err;
}

void in_discard(struct in_ctx *ctx, uint8_t *dst)
{
    if (ctx->opened != 0)
        sodium_memzero(dst + ZESP_HEADERBYTES, ctx->opened);
    ctx->opened = 0;
}

/* in_commit with the slots pinned: the SA in them is the one found. */
static int commit_pinned(struct in_ctx *ctx, size_t payload_len)
{
    struct sa_slot *s = ctx->ref.slot;
    struct window_ref *w = &ctx->win;
    int err = 0;

    /* A manual key's record covers a number before it is accepted, and
     * what the record says was accepted stays refused (first use). */
    if (!seqstate_seen(ctx->sad, &ctx->ref))
        err = seqstate_first_use(ctx->sad, &ctx->ref);
    if (err == 0 &&
        ctx->seq > atomic_load_explicit(&s->reserved, memory_order_acquire))
        err = seqstate_in_extend(ctx->sad, &ctx->ref, ctx->seq);
    /* Charged once the window took the number: a replay refused costs
     * nothing, not even for a moment, in which another receiver's charge
     * would have found the limit passed and stopped the SA (lifetime.c).
     * A number taken for a message its lifetime then refuses is lost
     * with the SA, which has reached its limit. */
    if (err == 0 &&
        (err = replay_commit(w->top, w->ring, w->words, w->window,
                             ctx->seq)) == 0)
        err = lifetime_charge_in(s, payload_len);
    if (err != 0)
        return err;
    /* A window of this process alone: the host's top stays current, for
     * the processes that attach later (sad_own_window). */
    if (w->top != &ctx->win_ref.slot->seq)
        replay_raise(&ctx->win_ref.slot->seq, ctx->seq);
    /* What the receiver reports, read while no other SA can be put in the
     * slot (a deletion leaves these fields as they were). */
    ctx->spi = s->spi;
    ctx->sender_id = s->sender_id;
    if (ctx->peer != NULL)
        memcpy(ctx->peer, s->peer, ZESP_PEER_MAX);
    return 0;
}

/* The SA may have been deleted, and its slot given to another SA, since
 * in_open checked it: the window and counters are touched, and what is
 * reported of the SA read, only with the slots pinned and the SA found in
 * them still.  Once unpinned, the slot is not read again. */
int in_commit(struct in_ctx *ctx, size_t payload_len)
{
    const struct sa_ref *win = &ctx->win_ref;
    bool lane = win->slot != ctx->ref.slot;
    bool held = sad_pin(&ctx->ref);
    int err;

    if (lane)
        held = sad_pin(win) && held;
    err = held ? commit_pinned(ctx, payload_len) : ZESP_ENOSA;
    if (lane)
        sad_unpin(win);
    sad_unpin(&ctx->ref);
    if (err == 0 && !sad_ref_valid(win))
        err = ZESP_ENOSA;        /* deleted meanwhile: its slot is free */
    return err;
}
