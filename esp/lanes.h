/* Lanes: many processes sending on one SA, each in its own sequence space
 * (lanes.c, doc/wire-format.md 10). */
#ifndef ZESP_LANES_H
#define ZESP_LANES_H

#include <stdint.h>

#include "sad.h"

#define LANE_SHIFT 48U             /* the lane's place in the IV */

/* A process takes its lane's numbers from the slot this many at a time:
 * no shared write per message, and none lost but the rest of a block when
 * it exits. */
#define LANE_BLOCK 64U

/* The lane this process holds on the outbound SA of ref, claimed on first
 * use, and its next sequence number (at most max, nor above the SA's
 * reservation: then LANE_UNRESERVED): 0, ZESP_ELANES (all held),
 * ZESP_ESEQEXHAUSTED, or an errno. */
#define LANE_UNRESERVED (-1)
int lanes_next(struct zesp_sad *sad, const struct sa_ref *ref, uint64_t max,
               uint32_t *lane, uint64_t *seq);

/* The handle is closing: each lane it holds is marked used now (the last
 * of the slot's order), so that the next process takes a lane that has
 * been free longer, while this one's last messages may still be on their
 * way.  Before the mapping goes. */
void lanes_let_go(struct zesp_sad *sad);

/* The inbound window of a lane of the lanes SA base, made now if it has
 * none (its first authentic message): 0 or an error. */
int lanes_window(struct zesp_sad *sad, const struct sa_ref *base,
                 uint32_t lane, struct sa_ref *win);

/* Where the window of a lane (1 to ZESP_LANES_MAX - 1) of the inbound
 * lanes SA in base starts: every number up to it counts as received.  The
 * SA's seq_start, or above it where the key's records of a group Sender ID
 * that shares the lane's IVs say so (seqstate.c). */
static inline uint64_t lanes_in_start(const struct sa_slot *base,
                                      uint32_t lane)
{
    return atomic_load_explicit(&base->lane_seq[lane], memory_order_acquire);
}

/* Writers (lock held): make the window slot of a lane of base. */
int sa_add_lane_window(struct zesp_sad *sad, const struct sa_slot *base,
                       uint32_t lane);

#endif
