/* Tables and JSON for SAs, policies and counters. */
#include "output.h"

#include <ctype.h>
#include <string.h>

const char *direction_name(uint32_t direction)
{
    return direction == ZESP_DIR_IN ? "in" : "out";
}

void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void lifetime_json(FILE *f, const zesp_lifetime *l)
{
    fprintf(f, "{\"seconds\":%llu,\"messages\":%llu,\"bytes\":%llu}",
            (unsigned long long)l->seconds, (unsigned long long)l->messages,
            (unsigned long long)l->bytes);
}

/* An SA's rejection counters in the order of enum zesp_rejection (an SA
 * never counts "nosa": a message without an SA has none). */
static void rejections(const zesp_sa_stats *s, uint64_t out[ZESP_REJ_COUNT])
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

static bool sa_kind(unsigned kind)
{
    return kind != ZESP_REJ_NOSA;
}

/* {"malformed":N,...}: every kind, or an SA's kinds. */
void rejected_json(FILE *f, const uint64_t r[ZESP_REJ_COUNT], bool sa_only)
{
    bool first = true;

    fputc('{', f);
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++) {
        if (sa_only && !sa_kind(k))
            continue;
        fprintf(f, "%s\"%s\":%llu", first ? "" : ",", zesp_rejection_name(k),
                (unsigned long long)r[k]);
        first = false;
    }
    fputc('}', f);
}

/* "kind N, kind N": the kinds that are not 0, or "none". */
void rejected_text(FILE *f, const uint64_t r[ZESP_REJ_COUNT])
{
    bool any = false;

    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (r[k]) {
            fprintf(f, "%s%s %llu", any ? ", " : "", zesp_rejection_name(k),
                    (unsigned long long)r[k]);
            any = true;
        }
    if (!any)
        fputs("none", f);
}

/* A group SA's Sender ID, "-" for a pairwise SA. */
static const char *sender_text(const zesp_sa_info *sa, char buf[16])
{
    if (!(sa->flags & ZESP_SA_GROUP))
        return "-";
    snprintf(buf, 16, "%u%s", sa->sender_id,
             (sa->flags & ZESP_SA_SIGNED) ? ",signed" : "");
    return buf;
}

static void counters_json(FILE *f, const zesp_sa_stats *s)
{
    uint64_t r[ZESP_REJ_COUNT];

    rejections(s, r);
    fprintf(f, "\"messages\":%llu,\"bytes\":%llu,\"rejected\":",
            (unsigned long long)s->messages, (unsigned long long)s->bytes);
    rejected_json(f, r, true);
}

void print_sa_json(FILE *f, const zesp_sa_info *sa)
{
    fprintf(f, "{\"spi\":\"0x%08x\",\"direction\":\"%s\",\"transform\":",
            sa->spi, direction_name(sa->direction));
    json_string(f, zesp_transform_name(sa->transform));
    fprintf(f, ",\"esn\":%s,\"group\":%s,\"sender_id\":%u,\"signed\":%s,"
               "\"peer\":",
            (sa->flags & ZESP_SA_NO_ESN) ? "false" : "true",
            (sa->flags & ZESP_SA_GROUP) ? "true" : "false", sa->sender_id,
            (sa->flags & ZESP_SA_SIGNED) ? "true" : "false");
    json_string(f, sa->peer);
    fprintf(f, ",\"seq\":%llu,\"replay_window\":%u,\"created\":%llu,"
               "\"soft_expired\":%s,\"hard_expired\":%s,\"soft\":",
            (unsigned long long)sa->seq, sa->replay_window,
            (unsigned long long)sa->created,
            sa->soft_expired ? "true" : "false",
            sa->hard_expired ? "true" : "false");
    lifetime_json(f, &sa->soft);
    fprintf(f, ",\"hard\":");
    lifetime_json(f, &sa->hard);
    fputc(',', f);
    counters_json(f, &sa->stats);
    fputc('}', f);
}

void print_sa_header(FILE *f)
{
    fprintf(f, "%-10s %-3s %-22s %-3s %-12s %-16s %20s %12s %14s %s\n", "SPI",
            "DIR", "TRANSFORM", "ESN", "SENDER", "PEER", "SEQ", "MESSAGES",
            "BYTES", "STATE");
}

static const char *state(const zesp_sa_info *sa)
{
    return sa->hard_expired ? "expired" : sa->soft_expired ? "rekey" : "ok";
}

void print_sa_row(FILE *f, const zesp_sa_info *sa)
{
    char sender[16];

    fprintf(f, "0x%08x %-3s %-22s %-3s %-12s %-16s %20llu %12llu %14llu %s\n",
            sa->spi, direction_name(sa->direction),
            zesp_transform_name(sa->transform),
            (sa->flags & ZESP_SA_NO_ESN) ? "no" : "yes",
            sender_text(sa, sender), sa->peer,
            (unsigned long long)sa->seq,
            (unsigned long long)sa->stats.messages,
            (unsigned long long)sa->stats.bytes, state(sa));
}

static void lifetime_line(FILE *f, const char *name, const zesp_lifetime *l)
{
    fprintf(f, "  %-16s seconds %llu, messages %llu, bytes %llu (0: none)\n",
            name, (unsigned long long)l->seconds,
            (unsigned long long)l->messages, (unsigned long long)l->bytes);
}

void print_sa_detail(FILE *f, const zesp_sa_info *sa)
{
    const zesp_sa_stats *s = &sa->stats;
    uint64_t r[ZESP_REJ_COUNT];

    fprintf(f, "SA 0x%08x %s\n", sa->spi, direction_name(sa->direction));
    fprintf(f, "  %-16s %s\n", "transform", zesp_transform_name(sa->transform));
    fprintf(f, "  %-16s %s\n", "esn",
            (sa->flags & ZESP_SA_NO_ESN) ? "no (32-bit)" : "yes");
    if (sa->flags & ZESP_SA_GROUP)
        fprintf(f, "  %-16s sender %u, %s\n", "group", sa->sender_id,
                (sa->flags & ZESP_SA_SIGNED) ? "signed (Ed25519)"
                                             : "unsigned");
    fprintf(f, "  %-16s %s\n", "peer", sa->peer);
    fprintf(f, "  %-16s %llu\n", sa->direction == ZESP_DIR_IN ? "highest seq"
                                                            : "last seq",
            (unsigned long long)sa->seq);
    if (sa->direction == ZESP_DIR_IN)
        fprintf(f, "  %-16s %u\n", "replay window", sa->replay_window);
    fprintf(f, "  %-16s %llu (unix time)\n", "created",
            (unsigned long long)sa->created);
    fprintf(f, "  %-16s %s\n", "state", state(sa));
    lifetime_line(f, "soft lifetime", &sa->soft);
    lifetime_line(f, "hard lifetime", &sa->hard);
    fprintf(f, "  %-16s %llu\n  %-16s %llu\n", "messages",
            (unsigned long long)s->messages, "bytes",
            (unsigned long long)s->bytes);
    rejections(s, r);
    fputs("  rejected:", f);
    for (unsigned k = 0, first = 1; k < ZESP_REJ_COUNT; k++)
        if (sa_kind(k)) {
            fprintf(f, "%s %s %llu", first ? "" : ",", zesp_rejection_name(k),
                    (unsigned long long)r[k]);
            first = 0;
        }
    fputc('\n', f);
}

void print_policy_json(FILE *f, const zesp_policy *p)
{
    fprintf(f, "{\"name\":");
    json_string(f, p->name);
    fprintf(f, ",\"peer\":");
    json_string(f, p->peer);
    fprintf(f, ",\"out\":\"0x%08x\",\"in\":[", p->out_spi);
    for (unsigned i = 0, first = 1; i < ZESP_POLICY_IN_MAX; i++)
        if (p->in_spi[i]) {
            fprintf(f, "%s\"0x%08x\"", first ? "" : ",", p->in_spi[i]);
            first = 0;
        }
    fprintf(f, "],\"acquire\":%llu,\"rejected\":",
            (unsigned long long)p->acquire);
    rejected_json(f, p->rejected, false);
    fputc('}', f);
}

void print_policy_row(FILE *f, const zesp_policy *p)
{
    fprintf(f, "%-24s %-16s 0x%08x ", p->name, p->peer, p->out_spi);
    for (unsigned i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (p->in_spi[i])
            fprintf(f, "0x%08x ", p->in_spi[i]);
    fprintf(f, "%s\n", p->acquire ? " ACQUIRE" : "");
}

void print_stats_header(FILE *f)
{
    fprintf(f, "%-10s %-3s %12s %14s", "SPI", "DIR", "MESSAGES", "BYTES");
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (sa_kind(k)) {
            char name[16];
            size_t i;
            for (i = 0; zesp_rejection_name(k)[i] && i + 1 < sizeof name; i++)
                name[i] = (char)toupper((unsigned char)zesp_rejection_name(k)[i]);
            name[i] = '\0';
            fprintf(f, " %9s", name);
        }
    fprintf(f, " %s\n", "SENDER");
}

void print_stats_row(FILE *f, const zesp_sa_info *sa)
{
    const zesp_sa_stats *s = &sa->stats;
    uint64_t r[ZESP_REJ_COUNT];
    char sender[16];

    rejections(s, r);
    fprintf(f, "0x%08x %-3s %12llu %14llu", sa->spi,
            direction_name(sa->direction), (unsigned long long)s->messages,
            (unsigned long long)s->bytes);
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (sa_kind(k))
            fprintf(f, " %9llu", (unsigned long long)r[k]);
    fprintf(f, " %s\n", sender_text(sa, sender));
}

void print_stats_json(FILE *f, const zesp_sa_info *sa)
{
    fprintf(f, "{\"spi\":\"0x%08x\",\"direction\":\"%s\",\"sender_id\":%u,",
            sa->spi, direction_name(sa->direction), sa->sender_id);
    counters_json(f, &sa->stats);
    fputc('}', f);
}
