/* OpenMetrics text exposition (openmetrics.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "openmetrics.h"
#include "utf8.h"

#define REPLACEMENT_CHARACTER "\xef\xbf\xbd"

/* An escaped-string of the OpenMetrics ABNF: \\, \" and \n escaped, any
 * other byte as it is if it is UTF-8. */
static void escaped(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = 0;
        /* A run of printable ASCII, the usual label, in one write. */
        while (p[n] >= 0x20 && p[n] < 0x7f && p[n] != '\\' && p[n] != '"')
            n++;
        if (n) {
            fwrite(p, 1, n, f);
            p += n;
            continue;
        }
        if (*p == '\\' || *p == '"') {
            fprintf(f, "\\%c", *p++);
        } else if (*p == '\n') {
            fputs("\\n", f);
            p++;
        } else if ((n = utf8_len(p)) == 0) {
            fputs(REPLACEMENT_CHARACTER, f);
            p++;
        } else {
            fwrite(p, 1, n, f);
            p += n;
        }
    }
}

void om_family(FILE *f, const char *name, enum om_type type,
               const char *help)
{
    fprintf(f, "# TYPE %s %s\n# HELP %s ", name,
            type == OM_COUNTER ? "counter" : "gauge", name);
    escaped(f, help);
    fputc('\n', f);
}

void om_sample(FILE *f, const char *name, enum om_type type,
               const struct om_label *labels, size_t nlabels, uint64_t v)
{
    fprintf(f, "%s%s", name, type == OM_COUNTER ? "_total" : "");
    for (size_t i = 0; i < nlabels && i < OM_LABELS_MAX; i++) {
        fprintf(f, "%c%s=\"", i ? ',' : '{', labels[i].name);
        escaped(f, labels[i].value);
        fputc('"', f);
    }
    fprintf(f, "%s %llu\n", nlabels ? "}" : "", (unsigned long long)v);
}

void om_single(FILE *f, const char *name, enum om_type type,
               const char *help, uint64_t v)
{
    om_family(f, name, type, help);
    om_sample(f, name, type, NULL, 0, v);
}

void om_eof(FILE *f)
{
    fputs("# EOF\n", f);
}

/* ---- The SAD --------------------------------------------------------- */

/* A snapshot of the SAs: a family's samples must come together, so each
 * family walks the same list. */
struct sa_list {
    zesp_sa_info *sa;
    size_t n, cap;
};

static int collect(const zesp_sa_info *info, void *arg)
{
    struct sa_list *l = arg;

    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        zesp_sa_info *grown = realloc(l->sa, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        l->sa = grown;
        l->cap = cap;
    }
    l->sa[l->n++] = *info;
    return 0;
}

/* What names one SA's series: a group inbound SA is one per sender. */
struct sa_labels {
    char spi[16], sender[16];
    struct om_label l[OM_LABELS_MAX];
};

static size_t sa_labels(struct sa_labels *s, const zesp_sa_info *sa)
{
    snprintf(s->spi, sizeof s->spi, "0x%08x", sa->spi);
    snprintf(s->sender, sizeof s->sender, "%u", sa->sender_id);
    s->l[0] = (struct om_label){ "spi", s->spi };
    s->l[1] = (struct om_label){ "direction",
                                 sa->direction == ZESP_DIR_IN ? "in" : "out" };
    s->l[2] = (struct om_label){ "sender_id", s->sender };
    s->l[3] = (struct om_label){ "peer", sa->peer };
    return 4;
}

enum sa_value { SA_MESSAGES, SA_BYTES, SA_SEQ, SA_CREATED };

static uint64_t sa_value(const zesp_sa_info *sa, enum sa_value v)
{
    switch (v) {
    case SA_MESSAGES: return sa->stats.messages;
    case SA_BYTES: return sa->stats.bytes;
    case SA_SEQ: return sa->seq;
    case SA_CREATED: return sa->created;
    }
    return 0;
}

static void sa_family(FILE *f, const struct sa_list *l, const char *name,
                      enum om_type type, const char *help, enum sa_value v)
{
    om_family(f, name, type, help);
    for (size_t i = 0; i < l->n; i++) {
        struct sa_labels s;
        size_t n = sa_labels(&s, &l->sa[i]);
        om_sample(f, name, type, s.l, n, sa_value(&l->sa[i], v));
    }
}

static void sa_rejected(FILE *f, const struct sa_list *l)
{
    om_family(f, "zesp_sa_rejected", OM_COUNTER,
              "Messages refused under the SA, by kind");
    for (size_t i = 0; i < l->n; i++) {
        uint64_t r[ZESP_REJ_COUNT];
        struct sa_labels s;
        size_t n = sa_labels(&s, &l->sa[i]);

        sa_rejections(&l->sa[i].stats, r);
        for (unsigned k = 0; k < ZESP_REJ_COUNT; k++) {
            if (!sa_rejection_kind(k))
                continue;
            s.l[n] = (struct om_label){ "kind", zesp_rejection_name(k) };
            om_sample(f, "zesp_sa_rejected", OM_COUNTER, s.l, n + 1, r[k]);
        }
    }
}

static void sa_expired(FILE *f, const struct sa_list *l)
{
    om_family(f, "zesp_sa_expired", OM_GAUGE,
              "1 when the SA reached its soft (rekey) or hard (stop) "
              "lifetime limit");
    for (size_t i = 0; i < l->n; i++) {
        struct sa_labels s;
        size_t n = sa_labels(&s, &l->sa[i]);

        s.l[n] = (struct om_label){ "limit", "soft" };
        om_sample(f, "zesp_sa_expired", OM_GAUGE, s.l, n + 1,
                  l->sa[i].soft_expired != 0);
        s.l[n] = (struct om_label){ "limit", "hard" };
        om_sample(f, "zesp_sa_expired", OM_GAUGE, s.l, n + 1,
                  l->sa[i].hard_expired != 0);
    }
}

static int policy_rejected(const zesp_policy *p, void *arg)
{
    FILE *f = arg;
    struct om_label l[3] = { { "policy", p->name }, { "peer", p->peer },
                             { "kind", "" } };

    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++) {
        l[2].value = zesp_rejection_name(k);
        om_sample(f, "zesp_policy_rejected", OM_COUNTER, l, 3,
                  p->rejected[k]);
    }
    return 0;
}

static void host(FILE *f, const zesp_sad_stats *ss)
{
    om_family(f, "zesp_sad_rejected", OM_COUNTER,
              "Messages refused on this host since the SAD was made, by "
              "kind, deleted SAs included");
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++) {
        struct om_label l = { "kind", zesp_rejection_name(k) };
        om_sample(f, "zesp_sad_rejected", OM_COUNTER, &l, 1, ss->rejected[k]);
    }
    om_single(f, "zesp_sad_sas", OM_GAUGE, "SAs installed", ss->sas);
    om_single(f, "zesp_sad_capacity", OM_GAUGE, "SAs the SAD can hold",
              ss->capacity);
    om_single(f, "zesp_sad_writer_repairs", OM_COUNTER,
              "Changes of writers killed midway, cleaned up after",
              ss->repairs);
}

int om_sad(FILE *f, zesp_sad *sad)
{
    struct sa_list l = { NULL, 0, 0 };
    zesp_sad_stats ss;
    int rc = -1;

    if (zesp_sad_stats_get(sad, &ss) != 0)
        return -1;
    if (zesp_sa_foreach(sad, collect, &l) != 0) {
        errno = ENOMEM;
        goto out;
    }
    sa_family(f, &l, "zesp_sa_messages", OM_COUNTER,
              "Messages sent (out) or accepted (in) under the SA",
              SA_MESSAGES);
    sa_family(f, &l, "zesp_sa_bytes", OM_COUNTER,
              "Body bytes sent (out) or accepted (in) under the SA", SA_BYTES);
    sa_rejected(f, &l);
    sa_family(f, &l, "zesp_sa_sequence_number", OM_GAUGE,
              "Last sequence number sent (out) or highest accepted (in)",
              SA_SEQ);
    sa_family(f, &l, "zesp_sa_installed_timestamp_seconds", OM_GAUGE,
              "When the SA was installed (unix time)", SA_CREATED);
    sa_expired(f, &l);
    om_family(f, "zesp_policy_rejected", OM_COUNTER,
              "Messages refused under the policy's SAs since it was made, "
              "by kind, across rekeys");
    zesp_policy_foreach(sad, policy_rejected, f);
    host(f, &ss);
    rc = 0;
out:
    free(l.sa);
    return rc;
}
