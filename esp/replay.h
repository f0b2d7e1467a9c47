#ifndef ZESP_REPLAY_H
#define ZESP_REPLAY_H

#include <stdatomic.h>
#include <stdint.h>

/* Storage, in ring entries, that a window of `window` sequence numbers needs. */
uint32_t replay_words(uint32_t window);

/* RFC 4303 Appendix A: the full sequence number from its low 32 bits. */
uint64_t replay_infer_esn(uint64_t top, uint32_t window, uint32_t seq_lo);

/* Both return 0 or a ZESP_E* code.  check changes nothing; commit marks seq
 * as received and is the only step that can move the window. */
int replay_check(_Atomic uint64_t *top, const _Atomic uint64_t *ring,
                 uint32_t words, uint32_t window, uint64_t seq);
int replay_commit(_Atomic uint64_t *top, _Atomic uint64_t *ring,
                  uint32_t words, uint32_t window, uint64_t seq);

#endif
