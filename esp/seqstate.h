/* Manual keys' persistent sequence records (seqstate.c, doc/sad.md). */
#ifndef ZESP_SEQSTATE_H
#define ZESP_SEQSTATE_H

#include <stdbool.h>
#include <stdint.h>

#include "sad.h"

#define SEQ_RECORD_ID_BYTES 32U

/* Where an SA added with ZESP_SA_MANUAL starts, from its key's record. */
struct seq_start {
    char dir[ZESP_STATE_DIR_MAX];
    uint8_t id[SEQ_RECORD_ID_BYTES];
    uint64_t block;
    uint64_t seq;           /* out: the last number taken; in: the window's
                               top, every number up to it refused */
    uint64_t reserved;
    /* in: the key's inbound records of the other kind that share IVs
     * with the windows (seqstate.c): [l] for lane l of a lanes SA, [0]
     * for a group sender's window (then in seq already) */
    uint64_t lane_floor[ZESP_LANES_MAX];
    /* out, ZESP_EEXIST: the records say the key served the other
     * direction on another SPI (0: on several) */
    uint32_t bound_direction, bound_spi;
};

/* An SA in the SAD that holds the key of one being installed. */
struct sa_key_clash {
    uint32_t spi, direction;
    bool recorded;      /* not in the SAD: its record names it (spi 0:
                           several SPIs) */
};

/* zesp_sa_add, with the state directory a YAML file names (or NULL); with
 * clash, ZESP_EEXIST and *clash for an SA in the SAD holding p's key that
 * may not share it (sa_may_share_key). */
int sa_add_in(struct zesp_sad *sad, const zesp_sa_params *p,
              const char *config_dir, struct sa_key_clash *clash);
/* Two SAs may hold one KEYMAT: one SA's two ends (one SPI), or group SAs
 * apart by Sender ID, without lanes (their IVs differ in the top bits). */
bool sa_may_share_key(uint32_t spi_a, uint32_t flags_a, uint32_t sender_a,
                      uint32_t spi_b, uint32_t flags_b, uint32_t sender_b);

/* The directory an install would use: the handle's, $ZESP_STATE_DIR, the
 * configuration's, the default, in that order; made absolute. */
int seqstate_dir(const struct zesp_sad *sad, const char *config_dir,
                 char out[ZESP_STATE_DIR_MAX]);
/* The directory the SAD's manual SAs use; false if it has none yet. */
bool seqstate_sad_dir(const struct zesp_sad *sad,
                      char out[ZESP_STATE_DIR_MAX]);
/* Before the SAD's lock is taken (the record's lock is taken first, never
 * inside the SAD's): read the key's record and write it ahead. */
int seqstate_begin(struct zesp_sad *sad, const zesp_sa_params *p,
                   const char *config_dir, struct seq_start *st);
/* Writers, lock held: the SAD's state directory is dir (set now if the SAD
 * had none yet), or ZESP_ESTATEDIR. */
int seqstate_claim_dir(struct zesp_sad *sad, const char *dir);
/* Writers, lock held: the slot's record fields (st NULL: no record). */
void seqstate_fill_slot(struct sa_slot *s, const struct seq_start *st);
bool seqstate_block_valid(uint64_t block);

/* The data path.  out_extend: the sender reached `reserved`; wait for the
 * record's lock and write the next block.  out_ahead: half a block before
 * it, one sender extends unless another already does.  in_extend: a
 * verified number above `reserved` is accepted only once this returns 0. */
int seqstate_out_extend(struct zesp_sad *sad, const struct sa_ref *ref);
void seqstate_out_ahead(struct zesp_sad *sad, const struct sa_ref *ref);
int seqstate_in_extend(struct zesp_sad *sad, const struct sa_ref *ref,
                       uint64_t seq);

/* The first use of a manual SA in this process (per slot generation):
 * the slot compared with its record, in case the SAD file is an older
 * copy put back; seen: nothing to do (a private SAD, another SA, done). */
static inline bool seqstate_seen(const struct zesp_sad *sad,
                                 const struct sa_ref *ref)
{
    return sad->record_seen == NULL || !(ref->slot->flags & ZESP_SA_MANUAL) ||
           atomic_load_explicit(&sad->record_seen[sad_slot_no(sad, ref->slot)],
                                memory_order_relaxed) == ref->gen;
}
int seqstate_first_use(struct zesp_sad *sad, const struct sa_ref *ref);
/* sa_add_in: the SA this process installed from its record now. */
void seqstate_seen_now(struct zesp_sad *sad, uint32_t slot_no);

#endif
