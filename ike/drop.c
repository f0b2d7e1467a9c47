/*
 * IKE messages zike drops unanswered: a counter per reason, and a log line
 * per reason at most once a second that says how many went unlogged, so
 * that a flood of forgeries cannot fill the log or hide in it.  Other
 * lines that unauthenticated requests cause are limited the same way.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include "daemon.h"

#define LOG_LIMIT_INTERVAL_MS 1000U

static const struct {
    const char *name;          /* zikectl stats: ike_dropped_NAME */
    int level;
    const char *why;
} reasons[IKE_DROP_REASONS] = {
    [IKE_DROP_MALFORMED] = { "malformed", LOG_NOTICE, "malformed" },
    [IKE_DROP_UNKNOWN_SA] = { "unknown_sa", LOG_DEBUG,
                              "no IKE SA of ours has its SPIs" },
    [IKE_DROP_REFLECTED] = { "reflected", LOG_WARNING,
                             "reflected: we sent it (its I flag or SPIs, "
                             "RFC 7296 3.1, or our own IKE_SA_INIT "
                             "values)" },
    [IKE_DROP_UNEXPECTED] = { "unexpected", LOG_NOTICE,
                              "unexpected: it answers no request of ours, "
                              "or does not fit the IKE SA's state" },
    [IKE_DROP_MESSAGE_ID] = { "message_id", LOG_DEBUG,
                              "old or future message ID" },
    [IKE_DROP_ICV] = { "icv", LOG_NOTICE,
                       "no Encrypted payload, or it does not verify" },
    [IKE_DROP_SOURCE_LIMIT] = { "source_limit", LOG_NOTICE,
                                "IKE_SA_INIT from an address that has "
                                "half-open-per-source half-open IKE SAs" },
    [IKE_DROP_FRAMING] = { "framing", LOG_NOTICE,
                           "a connection to listen broke ZMTP as zike takes "
                           "it (ZMTP 3, NULL, a DEALER, one frame of at most "
                           "16 KiB per message) or stalled in it: closed" },
    [IKE_DROP_CONNECTION_LIMIT] = { "connection_limit", LOG_NOTICE,
                                    "a connection to listen past "
                                    "max-connections or "
                                    "connections-per-source, every other "
                                    "one authenticated: closed" },
    [IKE_DROP_EVICTED] = { "evicted", LOG_NOTICE,
                           "a connection to listen past max-connections or "
                           "connections-per-source: the unauthenticated one "
                           "idle longest closed for it" },
    [IKE_DROP_UNAUTHENTICATED] = { "unauthenticated", LOG_NOTICE,
                                   "a connection to listen that no live "
                                   "IKE SA's authenticated peer spoke over "
                                   "within unauthenticated-timeout of its "
                                   "opening or of the last one's end: "
                                   "closed" },
};

/* Whether a line limited by l may be written now: if so, *unlogged is how
 * many were held back since the last one; if not, this one is counted. */
static bool log_due(struct zike *z, struct log_limit *l, uint64_t *unlogged)
{
    if (l->at != 0 && z->now - l->at < LOG_LIMIT_INTERVAL_MS) {
        l->unlogged++;
        return false;
    }
    *unlogged = l->unlogged;
    l->at = z->now ? z->now : 1;
    l->unlogged = 0;
    return true;
}

void zike_log_limited(struct zike *z, struct log_limit *l, int level,
                      const char *fmt, ...)
{
    char line[1024];            /* as zike_log's own */
    uint64_t unlogged;
    va_list ap;

    if (!log_due(z, l, &unlogged))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    zike_log(level, "%s (%llu more unlogged)", line,
             (unsigned long long)unlogged);
}

const char *ike_drop_name(enum ike_drop why)
{
    return why < IKE_DROP_REASONS ? reasons[why].name : "?";
}

void ike_drop(struct zike *z, enum ike_drop why, const struct ike_sa *sa,
              const struct ike_message *m)
{
    if (why >= IKE_DROP_REASONS)
        return;
    z->stats.dropped[why]++;
    z->stats.dropped_messages++;
    if (m == NULL)
        zike_log_limited(z, &z->drop_log[why], reasons[why].level,
                         "dropped an IKE message: %s", reasons[why].why);
    else
        zike_log_limited(z, &z->drop_log[why], reasons[why].level,
                         "peer %s: dropped an IKE %s, exchange %u, message "
                         "ID %u: %s",
                         sa && sa->peer_name[0] ? sa->peer_name : "(unknown)",
                         m->hdr.flags & IKE_FLAG_RESPONSE ? "response"
                                                          : "request",
                         m->hdr.exchange, m->hdr.message_id,
                         reasons[why].why);
}
