/* An SA's counters (counters.h). */
#include <string.h>

#include "counters.h"

void sa_rejections(const zesp_sa_stats *s, uint64_t out[ZESP_REJ_COUNT])
{
    memset(out, 0, ZESP_REJ_COUNT * sizeof *out);
    out[ZESP_REJ_MALFORMED] = s->rejected_malformed;
    out[ZESP_REJ_REPLAY] = s->rejected_replay;
    out[ZESP_REJ_OLD] = s->rejected_old;
    out[ZESP_REJ_ICV] = s->rejected_icv;
    out[ZESP_REJ_EXPIRED] = s->rejected_expired;
    out[ZESP_REJ_BINDING] = s->rejected_binding;
    out[ZESP_REJ_TOOBIG] = s->rejected_toobig;
    out[ZESP_REJ_SIGNATURE] = s->rejected_signature;
    out[ZESP_REJ_POLICY] = s->rejected_policy;
}

bool sa_rejection_kind(unsigned kind)
{
    return kind != ZESP_REJ_NOSA;
}
