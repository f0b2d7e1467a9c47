/* An SA's counters as the reports show them, shared by the text, JSON and
 * OpenMetrics writers. */
#ifndef ZESP_TOOL_COUNTERS_H
#define ZESP_TOOL_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include <zesp.h>

/* An SA's rejection counters in the order of enum zesp_rejection. */
void sa_rejections(const zesp_sa_stats *s, uint64_t out[ZESP_REJ_COUNT]);
/* Kinds an SA counts: all but "nosa" (a message without an SA has none). */
bool sa_rejection_kind(unsigned kind);

#endif
