/*
 * zike without sockets, for tests/test_ike_exchange.c and
 * fuzz/ike_exchange_fuzz.c: a daemon state with two configured peers
 * ("peer", PSK, policy "pol"; "other", policy "otherpol"; groups served
 * and joined, see below), established IKE SAs whose keys the caller
 * knows, messages sealed as that peer would seal them, and a zike_send
 * that keeps the last 8 messages zike sent.
 */
#ifndef ZESP_ZIKE_HARNESS_H
#define ZESP_ZIKE_HARNESS_H

#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define HARNESS_SENT 8U

static struct zike z;
/* "peer" (policy "pol"), and "other" (policy "otherpol") */
static struct zike_peer harness_peers[2];
/* Groups: "g" served to the peer (sender and receiver), "closed" served to
 * someone else, "j" joined with the peer as key server (both roles). */
static struct zike_group harness_groups[2];
static struct zike_join harness_join;
static uint8_t harness_psk[] = "a-pre-shared-key-for-tests";
static uint8_t sent[HARNESS_SENT][IKE_MAX_MESSAGE];
static size_t sent_len[HARNESS_SENT], nsent;

int zike_send(struct zike *zz, const struct route *to, const uint8_t *buf,
              size_t len)
{
    (void)zz;
    (void)to;
    if (nsent < HARNESS_SENT) {
        memcpy(sent[nsent], buf, len);
        sent_len[nsent++] = len;
    }
    return 0;
}

/* A peer with an endpoint has its link, as a zike whose link was made
 * (unless harness_link_down: one a reload could not make): a socket
 * nothing here reads (zike_send takes every message). */
static bool harness_link_down;

bool zike_link_ready(struct zike *zz, const struct zike_peer *p)
{
    (void)zz;
    return p->endpoint[0] != '\0' && !harness_link_down;
}

struct route zike_route_to(struct zike *zz, const struct zike_peer *p)
{
    static int link;
    struct route r;

    (void)zz;
    memset(&r, 0, sizeof r);
    if (p->endpoint[0] != '\0' && !harness_link_down)
        r.sock = &link;
    return r;
}

static void harness_setup(void)
{
    zesp_sad_opts opts = { .capacity = 64, .policies = 16 };

    if (zesp_init() != 0 || (z.sad = zesp_sad_new(&opts)) == NULL)
        abort();
    zike_log_level = -1;
    snprintf(z.conf.id, sizeof z.conf.id, "zike.example");
    for (int i = 0; i < 2; i++) {
        struct zike_peer *p = &harness_peers[i];
        snprintf(p->name, sizeof p->name, "%s", i ? "other" : "peer");
        snprintf(p->id, sizeof p->id, "%s", i ? "other.example"
                                                : "peer.example");
        p->auth = ZIKE_AUTH_PSK;
        p->psk = harness_psk;
        p->psk_len = sizeof harness_psk - 1;
        p->ike_encr = IKE_ENCR_CHACHA20_POLY1305;
        p->esp_transform = ZESP_CHACHA20_POLY1305;
        p->esn = true;
        p->child_life.seconds = 3600;
        p->ike_lifetime = 3600;
        snprintf(p->policies[0], sizeof p->policies[0], "%s",
                 i ? "otherpol" : "pol");
        p->npolicies = 1;
    }
    z.conf.peers = harness_peers;
    z.conf.npeers = 2;
    z.conf.retransmit_ms = 500;
    z.conf.retransmit_tries = 3;
    z.conf.half_open_limit = 4;
    z.conf.max_ike_sas = 16;
    z.conf.rekey_overlap_ms = 100;
    snprintf(harness_groups[0].name, ZESP_NAME_MAX, "g");
    snprintf(harness_groups[1].name, ZESP_NAME_MAX, "closed");
    for (int i = 0; i < 2; i++) {
        struct zike_group *g = &harness_groups[i];
        g->transform = ZESP_CHACHA20_POLY1305;
        g->lifetime = 3600;
        g->atd = 1;
        g->dtd = 2;
        snprintf(g->senders[0].id, sizeof g->senders[0].id, "%s",
                 i ? "other.example" : "peer.example");
        snprintf(g->receivers[0].id, sizeof g->receivers[0].id, "%s",
                 i ? "other.example" : "peer.example");
        g->nsenders = g->nreceivers = 1;
    }
    z.conf.groups = harness_groups;
    z.conf.ngroups = 2;
    snprintf(harness_join.group, sizeof harness_join.group, "j");
    snprintf(harness_join.server, sizeof harness_join.server, "peer");
    snprintf(harness_join.policy, sizeof harness_join.policy, "j");
    harness_join.sender = harness_join.receiver = true;
    harness_join.source_auth_accepts = ZIKE_SOURCE_AUTH_ANY;
    z.conf.joins = &harness_join;
    z.conf.njoins = 1;
    if (group_sync_conf(&z) != 0)
        abort();
}

/* An established IKE SA with keys from `shared`, the peer its initiator. */
static struct ike_sa *harness_established(const uint8_t shared[32])
{
    struct ike_sa *sa = ike_sa_new(&z, false);

    if (sa == NULL)
        abort();
    memset(sa->spi_i, 0x11, 8);
    memset(sa->ni, 0x33, 32);
    sa->ni_len = 32;
    snprintf(sa->peer_name, sizeof sa->peer_name, "peer");
    sa->state = IKE_ST_ESTABLISHED;
    if (ike_derive(sa->keys, IKE_ENCR_CHACHA20_POLY1305, NULL, shared,
                   sa->ni, 32, sa->nr, sa->nr_len, sa->spi_i, sa->spi_r) != 0)
        abort();
    return sa;
}

/* The peer's message: chain (its first byte the first payload's type)
 * sealed on sa; 0 if it does not fit. */
static size_t harness_seal(struct ike_sa *sa, uint8_t exchange, bool response,
                           uint32_t mid, const uint8_t *chain, size_t len,
                           uint8_t *out, uint64_t *counter)
{
    struct ike_header h = { .exchange = exchange, .message_id = mid };
    struct ike_writer w;
    size_t sk_at, total = 0;

    memcpy(h.spi_i, sa->spi_i, 8);
    memcpy(h.spi_r, sa->spi_r, 8);
    h.flags = (uint8_t)(IKE_FLAG_INITIATOR |
                        (response ? IKE_FLAG_RESPONSE : 0));
    ike_w_init(&w, out, IKE_MAX_MESSAGE, &h);
    sk_at = w.len;
    ike_w_begin(&w, IKE_PL_SK, false);
    if (w.err || len < 1 || sk_at + 4 + 8 + len + 16 > IKE_MAX_MESSAGE)
        return 0;
    out[sk_at] = chain[0];
    memcpy(out + sk_at + 4 + 8, chain + 1, len - 1);
    if (ike_sk_seal(out, IKE_MAX_MESSAGE, sk_at, len - 1, sa->keys, true,
                    counter, &total) != IKE_OK)
        return 0;
    return total;
}

/* Back to no IKE SA and an empty SAD. */
static void harness_reset(void)
{
    while (z.sas)
        ike_sa_free(&z, z.sas);
    zesp_sad_flush(z.sad);
    nsent = 0;
    /* Each case logs afresh: the once-a-second limits start over. */
    memset(z.drop_log, 0, sizeof z.drop_log);
    memset(&z.auth_unknown_log, 0, sizeof z.auth_unknown_log);
    memset(&z.auth_failed_log, 0, sizeof z.auth_failed_log);
    memset(z.peer_log, 0, sizeof z.peer_log);
}

#endif
