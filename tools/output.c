/* Tables and JSON for SAs, policies and counters. */
#include "output.h"
#include "counters.h"
#include "safe_text.h"
#include "when.h"

#include <ctype.h>
#include <string.h>

const char *direction_name(uint32_t direction)
{
    return direction == ZESP_DIR_IN ? "in" : "out";
}

static void lifetime_json(struct json *j, const char *key,
                          const zesp_lifetime *l)
{
    json_object(j, key);
    json_u64(j, "seconds", l->seconds);
    json_u64(j, "messages", l->messages);
    json_u64(j, "bytes", l->bytes);
    json_end(j, '}');
}

void rejected_json(struct json *j, const char *key,
                   const uint64_t r[ZESP_REJ_COUNT], bool sa_only)
{
    json_object(j, key);
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (!sa_only || sa_rejection_kind(k))
            json_u64(j, zesp_rejection_name(k), r[k]);
    json_end(j, '}');
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

/* A lane's own replay window (ZESP_SA_LANES, a receiver's window of one
 * sending process) is not an SA of its own: its row is indented, so that
 * rows starting with the SPI are the SAs. */
static const char *row_indent(const zesp_sa_info *sa)
{
    return (sa->flags & ZESP_SA_LANES) && sa->sender_id != 0 ? "  " : "";
}

/* A group SA's Sender ID, a lane, "-" for a pairwise SA. */
static const char *sender_text(const zesp_sa_info *sa, char buf[16])
{
    if (sa->flags & ZESP_SA_LANES) {
        if (sa->sender_id == 0)
            return "lanes";
        snprintf(buf, 16, "lane %u", sa->sender_id);
        return buf;
    }
    if (!(sa->flags & ZESP_SA_GROUP))
        return "-";
    snprintf(buf, 16, "%u%s", sa->sender_id,
             (sa->flags & ZESP_SA_SIGNED)       ? ",signed"
             : (sa->flags & ZESP_SA_SOURCE_MAC) ? ",mac"
                                                : "");
    return buf;
}

/* Where an inbound SA accepts a message once: "host" or "process"
 * (ZESP_SA_PER_PROCESS_WINDOW); "-" for an outbound SA, which has no
 * window. */
static const char *replay_scope(const zesp_sa_info *sa)
{
    if (sa->direction != ZESP_DIR_IN)
        return "-";
    return (sa->flags & ZESP_SA_PER_PROCESS_WINDOW) ? "process" : "host";
}

static const char *policy_scope(const zesp_policy *p)
{
    return (p->flags & ZESP_POLICY_PER_PROCESS_WINDOW) ? "process" : "host";
}

static void counters_json(struct json *j, const zesp_sa_stats *s)
{
    uint64_t r[ZESP_REJ_COUNT];

    sa_rejections(s, r);
    json_u64(j, "messages", s->messages);
    json_u64(j, "bytes", s->bytes);
    rejected_json(j, "rejected", r, true);
}

void print_sa_json(struct json *j, const zesp_sa_info *sa)
{
    json_object(j, NULL);
    json_strf(j, "spi", "0x%08x", sa->spi);
    json_str(j, "direction", direction_name(sa->direction));
    json_str(j, "transform", zesp_transform_name(sa->transform));
    json_bool(j, "esn", !(sa->flags & ZESP_SA_NO_ESN));
    json_bool(j, "group", sa->flags & ZESP_SA_GROUP);
    json_u64(j, "sender_id", sa->sender_id);
    json_bool(j, "signed", sa->flags & ZESP_SA_SIGNED);
    json_bool(j, "source_mac", sa->flags & ZESP_SA_SOURCE_MAC);
    json_str(j, "peer", sa->peer);
    json_bool(j, "manual", sa->flags & ZESP_SA_MANUAL);
    json_u64(j, "seq_reserved", sa->seq_reserved);
    json_u64(j, "seq_block", sa->seq_block);
    json_u64(j, "seq", sa->seq);
    json_u64(j, "replay_window", sa->replay_window);
    json_str(j, "replay_scope", replay_scope(sa));
    json_u64(j, "created", sa->created);
    json_bool(j, "soft_expired", sa->soft_expired);
    json_bool(j, "hard_expired", sa->hard_expired);
    lifetime_json(j, "soft", &sa->soft);
    lifetime_json(j, "hard", &sa->hard);
    counters_json(j, &sa->stats);
    json_end(j, '}');
}

void print_sa_header(FILE *f)
{
    fprintf(f, "%-10s %-3s %-22s %-3s %-12s %-16s %20s %12s %14s %-7s %s\n",
            "SPI", "DIR", "TRANSFORM", "ESN", "SENDER", "PEER", "SEQ",
            "MESSAGES", "BYTES", "STATE", "REPLAY");
}

static const char *state(const zesp_sa_info *sa)
{
    return sa->hard_expired ? "expired" : sa->soft_expired ? "rekey" : "ok";
}

void print_sa_row(FILE *f, const zesp_sa_info *sa)
{
    char sender[16], peer[SAFE_TEXT_BYTES(sizeof sa->peer)];

    fprintf(f, "%s0x%08x %-3s %-22s %-3s %-12s %-16s %20llu %12llu %14llu "
            "%-7s %s\n",
            row_indent(sa), sa->spi, direction_name(sa->direction),
            zesp_transform_name(sa->transform),
            (sa->flags & ZESP_SA_NO_ESN) ? "no" : "yes",
            sender_text(sa, sender), safe_text(peer, sizeof peer, sa->peer),
            (unsigned long long)sa->seq,
            (unsigned long long)sa->stats.messages,
            (unsigned long long)sa->stats.bytes, state(sa), replay_scope(sa));
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
    char iso[WHEN_BYTES], ago[WHEN_BYTES];
    char peer[SAFE_TEXT_BYTES(sizeof sa->peer)];
    time_t now = time(NULL);

    fprintf(f, "SA 0x%08x %s\n", sa->spi, direction_name(sa->direction));
    fprintf(f, "  %-16s %s\n", "transform", zesp_transform_name(sa->transform));
    fprintf(f, "  %-16s %s\n", "esn",
            (sa->flags & ZESP_SA_NO_ESN) ? "no (32-bit)" : "yes");
    if (sa->flags & ZESP_SA_GROUP)
        fprintf(f, "  %-16s sender %u, %s\n", "group", sa->sender_id,
                (sa->flags & ZESP_SA_SIGNED)       ? "signed (Ed25519)"
                : (sa->flags & ZESP_SA_SOURCE_MAC) ? "source MACs"
                                                   : "unsigned");
    fprintf(f, "  %-16s %s\n", "peer",
            safe_text(peer, sizeof peer, sa->peer));
    fprintf(f, "  %-16s %llu\n", sa->direction == ZESP_DIR_IN ? "highest seq"
                                                            : "last seq",
            (unsigned long long)sa->seq);
    if (sa->direction == ZESP_DIR_IN)
        fprintf(f, "  %-16s %u, accepted once per %s\n", "replay window",
                sa->replay_window, replay_scope(sa));
    if (sa->flags & ZESP_SA_MANUAL)
        fprintf(f, "  %-16s manual key, %s %llu (blocks of %llu)\n", "record",
                sa->direction == ZESP_DIR_IN ? "covers up to"
                                             : "reserved up to",
                (unsigned long long)sa->seq_reserved,
                (unsigned long long)sa->seq_block);
    fprintf(f, "  %-16s %s (%s ago)\n", "created",
            when_iso8601(iso, (time_t)sa->created),
            when_duration(ago, now > (time_t)sa->created
                                   ? (uint64_t)(now - (time_t)sa->created)
                                   : 0));
    fprintf(f, "  %-16s %s\n", "state", state(sa));
    lifetime_line(f, "soft lifetime", &sa->soft);
    lifetime_line(f, "hard lifetime", &sa->hard);
    fprintf(f, "  %-16s %llu\n  %-16s %llu\n", "messages",
            (unsigned long long)s->messages, "bytes",
            (unsigned long long)s->bytes);
    sa_rejections(s, r);
    fputs("  rejected:", f);
    for (unsigned k = 0, first = 1; k < ZESP_REJ_COUNT; k++)
        if (sa_rejection_kind(k)) {
            fprintf(f, "%s %s %llu", first ? "" : ",", zesp_rejection_name(k),
                    (unsigned long long)r[k]);
            first = 0;
        }
    fputc('\n', f);
}

void print_policy_json(struct json *j, const zesp_policy *p)
{
    json_object(j, NULL);
    json_str(j, "name", p->name);
    json_str(j, "peer", p->peer);
    json_strf(j, "out", "0x%08x", p->out_spi);
    json_array(j, "in");
    for (unsigned i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (p->in_spi[i])
            json_strf(j, NULL, "0x%08x", p->in_spi[i]);
    json_end(j, ']');
    json_str(j, "replay_scope", policy_scope(p));
    json_bool(j, "integrity_only", (p->flags & ZESP_POLICY_INTEGRITY_ONLY) != 0);
    json_u64(j, "acquire", p->acquire);
    rejected_json(j, "rejected", p->rejected, false);
    json_end(j, '}');
}

void print_policy_row(FILE *f, const zesp_policy *p)
{
    char name[SAFE_TEXT_BYTES(sizeof p->name)];
    char peer[SAFE_TEXT_BYTES(sizeof p->peer)];

    fprintf(f, "%-24s %-16s 0x%08x ", safe_text(name, sizeof name, p->name),
            safe_text(peer, sizeof peer, p->peer), p->out_spi);
    for (unsigned i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (p->in_spi[i])
            fprintf(f, "0x%08x ", p->in_spi[i]);
    fprintf(f, "%s%s%s\n",
            (p->flags & ZESP_POLICY_PER_PROCESS_WINDOW)
                ? " replay_scope=process" : "",
            (p->flags & ZESP_POLICY_INTEGRITY_ONLY) ? " integrity-only" : "",
            p->acquire ? " ACQUIRE" : "");
}

void print_stats_header(FILE *f)
{
    fprintf(f, "%-10s %-3s %12s %14s", "SPI", "DIR", "MESSAGES", "BYTES");
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (sa_rejection_kind(k)) {
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

    sa_rejections(s, r);
    fprintf(f, "%s0x%08x %-3s %12llu %14llu", row_indent(sa), sa->spi,
            direction_name(sa->direction), (unsigned long long)s->messages,
            (unsigned long long)s->bytes);
    for (unsigned k = 0; k < ZESP_REJ_COUNT; k++)
        if (sa_rejection_kind(k))
            fprintf(f, " %9llu", (unsigned long long)r[k]);
    fprintf(f, " %s\n", sender_text(sa, sender));
}

void print_stats_json(struct json *j, const zesp_sa_info *sa)
{
    json_object(j, NULL);
    json_strf(j, "spi", "0x%08x", sa->spi);
    json_str(j, "direction", direction_name(sa->direction));
    json_u64(j, "sender_id", sa->sender_id);
    counters_json(j, &sa->stats);
    json_end(j, '}');
}
