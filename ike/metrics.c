/* zike's counters as OpenMetrics text (metrics.h), then its SAD's. */
#include <stddef.h>

#include "daemon.h"
#include "metrics.h"
#include "openmetrics.h"
#include "stream.h"

static void ike_sas(struct zike *z, FILE *f)
{
    uint64_t children = 0;

    om_family(f, "zike_ike_sas", OM_GAUGE, "IKE SAs now, by state");
    for (enum ike_state s = IKE_ST_INIT_SENT; s <= IKE_ST_DEAD; s++) {
        struct om_label l = { "state", ike_state_name(s) };
        uint64_t n = 0;
        for (const struct ike_sa *sa = z->sas; sa; sa = sa->next)
            n += sa->state == s;
        om_sample(f, "zike_ike_sas", OM_GAUGE, &l, 1, n);
    }
    for (const struct ike_sa *sa = z->sas; sa; sa = sa->next)
        for (const struct child_sa *c = sa->children; c; c = c->next)
            children++;
    om_single(f, "zike_child_sas", OM_GAUGE, "Child SAs now", children);
    om_single(f, "zike_listen_connections", OM_GAUGE,
              "Connections to listen now", z->listen_nconns);
    om_single(f, "zike_listen_authenticated", OM_GAUGE,
              "Connections to listen a live IKE SA's peer last spoke over",
              listen_authenticated(z));
}

static void counters(struct zike *z, FILE *f)
{
    static const struct {
        const char *name, *help;
        size_t offset;
    } table[] = {
#define C(name, field, help) \
    { name, help, offsetof(struct zike, stats.field) }
        C("zike_ike_established", ike_established,
          "IKE SAs established (IKE_AUTH done)"),
        C("zike_child_installed", child_installed, "Child SAs installed"),
        C("zike_ike_rekeys", ike_rekeys, "IKE SAs rekeyed"),
        C("zike_child_rekeys", rekeys, "Child SAs rekeyed"),
        C("zike_child_deleted", deleted, "Child SAs deleted by DELETE"),
        C("zike_auth_failures", auth_failed, "Authentications failed"),
        C("zike_cookies_sent", cookies_sent,
          "IKE_SA_INIT requests answered with a cookie (under load)"),
        C("zike_retransmits", retransmits, "Requests sent again"),
        C("zike_dead_peers", dead_peers,
          "Peers given up: no answer after every retransmit (DPD included)"),
        C("zike_spi_collisions", spi_collisions,
          "Outbound SPIs a peer chose twice, refused"),
        C("zike_ike_refused", ike_refused,
          "IKE_SA_INIT requests refused: max-ike-sas IKE SAs already"),
        C("zike_ike_rekeys_refused", ike_rekeys_refused,
          "IKE SA rekeys of a peer refused for now (TEMPORARY_FAILURE): it "
          "holds as many IKE SAs as a peer may"),
        C("zike_ike_init_invalid", ike_init_invalid,
          "IKE_SA_INIT requests refused: malformed, no acceptable proposal "
          "or a bad key exchange value"),
        C("zike_ike_requests_invalid", ike_requests_invalid,
          "IKE requests that verified but do not parse, or name an "
          "exchange not run in the IKE SA's state, answered with "
          "INVALID_SYNTAX or UNSUPPORTED_CRITICAL_PAYLOAD"),
        C("zike_group_rekeys", group_rekeys, "Group keys made anew"),
        C("zike_group_registrations", group_registrations,
          "Members registered to groups served"),
        C("zike_group_updates", group_updates,
          "Group SAs installed as a member"),
        C("zike_group_holddown_refusals", group_holddown_refusals,
          "Group registrations refused for now (TEMPORARY_FAILURE): the "
          "member made a new key less than rekey-holddown ago"),
#undef C
    };

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        om_single(f, table[i].name, OM_COUNTER, table[i].help,
                  *(const uint64_t *)((const char *)z + table[i].offset));
    om_family(f, "zike_dropped_messages", OM_COUNTER,
              "IKE messages dropped unanswered, by reason");
    for (int i = 0; i < IKE_DROP_REASONS; i++) {
        struct om_label l = { "reason", ike_drop_name((enum ike_drop)i) };
        om_sample(f, "zike_dropped_messages", OM_COUNTER, &l, 1,
                  z->stats.dropped[i]);
    }
}

static void groups(struct zike *z, FILE *f)
{
    om_family(f, "zike_group_members", OM_GAUGE,
              "Members of a group served, and how many hold its current key");
    for (size_t i = 0; i < z->ngroups; i++) {
        const struct gcks_group *g = &z->groups[i];
        struct om_label l[2] = { { "group", g->name }, { "key", "any" } };
        uint64_t holding = 0;

        for (size_t k = 0; k < g->nmembers; k++)
            holding += g->members[k].have_spi == g->spi;
        om_sample(f, "zike_group_members", OM_GAUGE, l, 1, g->nmembers);
        l[1].value = "current";
        om_sample(f, "zike_group_members", OM_GAUGE, l, 2, holding);
    }
    om_family(f, "zike_group_registered", OM_GAUGE,
              "1 when registered to a group joined and holding its key");
    for (size_t i = 0; i < z->njoined; i++) {
        struct om_label l = { "group", z->joined[i].name };
        om_sample(f, "zike_group_registered", OM_GAUGE, &l, 1,
                  z->joined[i].registered);
    }
}

void zike_metrics_write(struct zike *z, FILE *f)
{
    struct om_label v = { "version", ZESP_VERSION_STRING };

    om_family(f, "zike_build", OM_GAUGE, "zike's version");
    om_sample(f, "zike_build", OM_GAUGE, &v, 1, 1);
    ike_sas(z, f);
    counters(z, f);
    groups(z, f);
    om_sad(f, z->sad);          /* on failure, before its first family */
    om_eof(f);
}
