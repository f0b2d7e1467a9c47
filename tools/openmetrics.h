/*
 * The one OpenMetrics text writer (openmetrics.io, the format Prometheus
 * scrapes), for `zesp stats --openmetrics` and zike's metrics endpoint:
 * a family is "# TYPE" and "# HELP", then its samples, all together; a
 * counter's samples end in _total; label values are escaped (\\, \", \n)
 * and bytes that are not UTF-8 replaced, so that any name parses; the
 * exposition ends with "# EOF".
 */
#ifndef ZESP_TOOL_OPENMETRICS_H
#define ZESP_TOOL_OPENMETRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zesp.h>

#define OM_CONTENT_TYPE \
    "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define OM_LABELS_MAX 6U

enum om_type { OM_COUNTER, OM_GAUGE };

struct om_label {
    const char *name;
    const char *value;
};

/* A family's metadata; name without _total. */
void om_family(FILE *f, const char *name, enum om_type type,
               const char *help);
/* One sample of the family last begun (nlabels <= OM_LABELS_MAX). */
void om_sample(FILE *f, const char *name, enum om_type type,
               const struct om_label *labels, size_t nlabels, uint64_t v);
/* A family of one sample without labels. */
void om_single(FILE *f, const char *name, enum om_type type,
               const char *help, uint64_t v);
void om_eof(FILE *f);

/* The SAD's counters and gauges: zesp_sa_* per SA, zesp_policy_* per
 * policy, zesp_sad_* for the host.  0, or -1 with errno. */
int om_sad(FILE *f, zesp_sad *sad);

#endif
