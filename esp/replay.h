#ifndef ZESP_REPLAY_H
#define ZESP_REPLAY_H

#include <stdatomic.h>
#include <stdint.h>

/* Storage, in ring entries, that a window of `window` sequence numbers needs. */
uint32_t replay_words(uint32_t window);
/* The largest window that many words hold. */
uint32_t replay_window_max(uint32_t words);

/* RFC 4303 Appendix A: the full sequence number from its low 32 bits. */
uint64_t replay_infer_esn(uint64_t top, uint32_t window, uint32_t seq_lo);

/* Both return 0 or a ZESP_E* code.  check changes nothing; commit marks seq
 * as received and is the only step that can move the window. */
int replay_check(_Atomic uint64_t *top, const _Atomic uint64_t *ring,
                 uint32_t words, uint32_t window, uint64_t seq);
int replay_commit(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                  uint32_t words, uint32_t window, uint64_t seq);

/* A window that counts every number up to `top` as received (and nothing
 * above): for a window that must refuse whatever came before it. */
void replay_start(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                  uint32_t words, uint64_t start);
/* Raise *top to seq if below: a top kept beside a window kept elsewhere. */
void replay_raise(_Atomic uint64_t *top, uint64_t seq);

/* A slot's window size and storage as read once from shared memory, fit
 * for indexing a ring of max_words entries: 0, or ZESP_EBADSAD. */
int replay_bounds(uint32_t words, uint32_t window, uint32_t max_words);

#endif
