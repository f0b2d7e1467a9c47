/*
 * zike as a group member, with two key servers, as an adversary sees it:
 * "peer" serves group "j", "other" serves group "j2" (both authenticated
 * IKE SAs, no sockets: tests/zike_harness.h).  The SPI of a group SA is
 * the key server's choice, and a receiver's policy accepts an SA by its
 * SPI; so a key server must not be able to name an SPI that another
 * group's SA or a pairwise SA holds on this host.  Checked: a push of
 * "j2" that reuses "j"'s SPI with Sender IDs "j" does not use is refused,
 * and a message sealed under "j2"'s key with that SPI is not accepted on
 * "j"'s policy; one that reuses "j"'s SPI and a Sender ID of "j", or a
 * pairwise SA's SPI, is refused and leaves the other SAs in place; one
 * with "j"'s SPI and key (its server a member of "j") cannot add a sender
 * to "j"; one on an SPI a pairwise policy still names after its SAs
 * left the SAD is refused; a push on an SPI of its own is installed.  And
 * the configuration gives no key server a policy it does not key: a join
 * naming another join's policy, or a pairwise peer's, is refused with
 * FILE:LINE:COL.
 */
#include <sodium.h>
#include <stdio.h>
#include <sys/stat.h>
/* glibc's unistd.h declares group_member(). */
#define group_member glibc_group_member
#include <unistd.h>
#undef group_member

#include "gsa.h"
#include "test.h"
#include "zike_harness.h"

#define SPI_J 0x7000U
#define SPI_J2 0x7400U
#define SPI_PAIRWISE 0x5000U
#define SID_OWN 7U          /* zike's Sender ID in "j" */
#define SID_FOREIGN 40U     /* a Sender ID "j" does not use */

static struct zike_join joins[2];
static uint8_t key_j[ZESP_KEYBYTES], key_j2[ZESP_KEYBYTES];
/* The GSA's KEY_LIFETIME in what the key servers send; 0: left out. */
static uint32_t lifetime_sent = 600;

/* An established IKE SA with the peer of that name. */
static struct ike_sa *established_with(const char *peer)
{
    uint8_t shared[32];
    struct ike_sa *sa;

    randombytes_buf(shared, sizeof shared);
    sa = harness_established(shared);
    snprintf(sa->peer_name, sizeof sa->peer_name, "%s", peer);
    return sa;
}

/* GSA and KD of group `group`: SPI spi, key, the senders' IDs (names
 * "s1", "s2", ...); with idg, the IDg first (a push). */
static size_t group_sa(struct ike_sa *sa, uint8_t *chain, size_t cap,
                       const char *group, uint32_t spi, const uint8_t *key,
                       const uint16_t *sids, size_t nsids, uint32_t own_sid,
                       bool idg)
{
    struct gsa_policy *pol = calloc(1, sizeof *pol);
    struct gsa_kd kd = { .spi = spi, .sender_id = own_sid };
    uint8_t gsk_w[GSA_GSK_W_BYTES];
    struct ike_writer w;
    size_t len = 0;

    if (pol == NULL)
        abort();
    pol->spi = spi;
    pol->encr = ZESP_CHACHA20_POLY1305;
    pol->esn = true;
    pol->lifetime = lifetime_sent;
    pol->dtd = 1;
    pol->sid_bits = ZESP_SENDER_ID_BITS;
    for (size_t i = 0; i < nsids; i++) {
        pol->senders[i].sid = sids[i];
        snprintf(pol->senders[i].name, GSA_NAME_MAX, "s%zu", i + 1);
    }
    pol->nsenders = nsids;
    CHECK(gsa_gsk_w(gsk_w, sa->keys->sk_d) == 0);
    CHECK(gsa_wrap(kd.wrapped, gsk_w, spi, key) == 0);
    ike_w_init_chain(&w, chain, cap);
    if (idg)
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, group, strlen(group));
    gsa_write(&w, pol);
    kd_write(&w, &kd);
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    sodium_memzero(gsk_w, sizeof gsk_w);
    free(pol);
    return len;
}

/* zike's registration with "peer" for "j", answered with SPI_J, key_j. */
static void register_j(struct ike_sa *sa, uint64_t *ctr)
{
    static const uint16_t sids[] = { 1, 2, SID_OWN };
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[2048];
    struct route from = { 0 };
    size_t len;

    sa->req.kind = REQ_GSA_REGISTER;
    sa->req.exchange = IKE_GSA_REGISTRATION;
    sa->req.mid = sa->mid_out++;
    sa->req.resend_at = UINT64_MAX;
    snprintf(sa->req.group, sizeof sa->req.group, "j");
    sa->req.gsa_sender = joins[0].sender;   /* as the join asks: SID_OWN */
    len = group_sa(sa, chain, sizeof chain, "j", SPI_J, key_j, sids, 3,
                   SID_OWN, false);
    len = harness_seal(sa, IKE_GSA_REGISTRATION, true, sa->req.mid, chain,
                       len, msg, ctr);
    CHECK(len != 0);
    ike_handle(&z, &from, msg, len);
}

/* A push of "j2" on sa (from "other"); whether zike's answer is no error. */
static bool push_j2_key(struct ike_sa *sa, uint64_t *ctr, uint32_t spi,
                        const uint8_t *key, const uint16_t *sids,
                        size_t nsids)
{
    static uint8_t msg[IKE_MAX_MESSAGE], copy[IKE_MAX_MESSAGE];
    uint8_t chain[2048];
    struct route from = { 0 };
    struct ike_message m;
    size_t len;

    len = group_sa(sa, chain, sizeof chain, "j2", spi, key, sids, nsids, 0,
                   true);
    len = harness_seal(sa, IKE_GSA_INBAND_REKEY, false, sa->mid_in, chain,
                       len, msg, ctr);
    CHECK(len != 0);
    nsent = 0;
    ike_handle(&z, &from, msg, len);
    if (nsent != 1)
        return false;
    memcpy(copy, sent[0], sent_len[0]);
    return ike_parse(copy, sent_len[0], &m) == IKE_OK &&
           ike_sk_open(copy, sent_len[0], &m, sa->keys, false) == IKE_OK &&
           ike_error_notify(&m) == 0;
}

static bool push_j2(struct ike_sa *sa, uint64_t *ctr, uint32_t spi,
                    const uint16_t *sids, size_t nsids)
{
    return push_j2_key(sa, ctr, spi, key_j2, sids, nsids);
}

/* A group message sealed with key, SPI and Sender ID, opened by zike's
 * host on policy; each with a number of its own, so that none is a
 * replay. */
static int open_on(const char *policy, uint32_t spi, uint32_t sid,
                   const uint8_t *key)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_msg *msg = zesp_msg_new();
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    static uint64_t seq;
    zesp_sa_params p;
    uint8_t *esp = NULL;
    size_t n = 0;
    int rc = -1;

    memset(&p, 0, sizeof p);
    p.spi = spi;
    p.next_seq = ++seq;
    p.direction = ZESP_DIR_OUT;
    p.transform = ZESP_CHACHA20_POLY1305;
    p.flags = ZESP_SA_GROUP;
    p.sender_id = sid;
    memcpy(p.key, key, ZESP_KEYBYTES);
    if (sad != NULL && msg != NULL && zesp_sa_add(sad, &p) == 0 &&
        zesp_seal(sad, spi, &parts, &esp, &n) == 0)
        rc = zesp_open_policy(z.sad, policy, NULL, 0, esp, n, msg);
    sodium_memzero(&p, sizeof p);
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return rc;
}

static bool in_policy(const char *name, uint32_t spi)
{
    zesp_policy pol;

    if (zesp_policy_get(z.sad, name, &pol) != 0)
        return false;
    for (size_t i = 0; i < ZESP_POLICY_IN_MAX; i++)
        if (pol.in_spi[i] == spi)
            return true;
    return false;
}

static bool window(uint32_t spi, uint32_t sid)
{
    zesp_sa_info info;

    return zesp_sa_info_get_sender(z.sad, spi, ZESP_DIR_IN, sid, &info) == 0;
}

/* "j" as registered: its windows, its outbound SA, its messages read. */
static bool j_intact(void)
{
    zesp_sa_info info;

    return window(SPI_J, 1) && window(SPI_J, 2) &&
           zesp_sa_info_get(z.sad, SPI_J, ZESP_DIR_OUT, &info) == 0 &&
           info.sender_id == SID_OWN && in_policy("j", SPI_J) &&
           open_on("j", SPI_J, 2, key_j) == 0;
}

static void push_cannot_take_another_groups_spi(void)
{
    static const uint16_t foreign[] = { SID_FOREIGN };
    static const uint16_t shared_sid[] = { 1, SID_FOREIGN };
    static const uint16_t all_sids[] = { 1, 2, SID_OWN, SID_FOREIGN };
    struct ike_sa *peer = established_with("peer");
    struct ike_sa *other = established_with("other");
    uint64_t ctr_peer = 1, ctr_other = 1;

    register_j(peer, &ctr_peer);
    CHECK(z.joined[0].registered && j_intact());
    z.joined[1].registered = true;        /* with "other": it takes pushes */

    /* j's SPI, a Sender ID j does not use: windows of j2's key would
     * answer on j's policy, which accepts by SPI. */
    CHECK(!push_j2(other, &ctr_other, SPI_J, foreign, 1));
    CHECK(!window(SPI_J, SID_FOREIGN));
    CHECK(!in_policy("j2", SPI_J));
    CHECK(open_on("j", SPI_J, SID_FOREIGN, key_j2) != 0);
    CHECK(j_intact());

    /* j's SPI and one of j's Sender IDs: refused, and j keeps its SAs. */
    CHECK(!push_j2(other, &ctr_other, SPI_J, shared_sid, 2));
    CHECK(j_intact());
    CHECK(open_on("j", SPI_J, 1, key_j2) != 0);

    /* j's SPI and j's key (j2's server is a member of j), j's senders
     * and one more: a sender j's server never named would be added. */
    CHECK(!push_j2_key(other, &ctr_other, SPI_J, key_j, all_sids, 4));
    CHECK(!window(SPI_J, SID_FOREIGN) && !in_policy("j2", SPI_J));
    CHECK(open_on("j", SPI_J, SID_FOREIGN, key_j) != 0);
    CHECK(j_intact());
    sodium_memzero(key_j, sizeof key_j);

    /* On an SPI of its own, j2's push is installed. */
    CHECK(push_j2(other, &ctr_other, SPI_J2, foreign, 1));
    CHECK(window(SPI_J2, SID_FOREIGN) && in_policy("j2", SPI_J2));
    CHECK(open_on("j2", SPI_J2, SID_FOREIGN, key_j2) == 0);
    CHECK(open_on("j", SPI_J2, SID_FOREIGN, key_j2) != 0);
    memset(z.joined[0].sas, 0, sizeof z.joined[0].sas);
    memset(z.joined[1].sas, 0, sizeof z.joined[1].sas);
    z.joined[0].registered = z.joined[1].registered = false;
    harness_reset();
}

static void push_cannot_take_a_pairwise_spi(void)
{
    static const uint16_t sids[] = { SID_FOREIGN };
    struct ike_sa *other = established_with("other");
    uint64_t ctr = 1;
    zesp_sa_params p;
    zesp_sa_info info;

    memset(&p, 0, sizeof p);
    p.spi = SPI_PAIRWISE;
    p.direction = ZESP_DIR_IN;
    p.transform = ZESP_CHACHA20_POLY1305;
    randombytes_buf(p.key, sizeof p.key);
    snprintf(p.peer, sizeof p.peer, "peer");
    CHECK_OK(zesp_sa_add(z.sad, &p));
    z.joined[1].registered = true;        /* with "other": it takes pushes */
    CHECK(!push_j2(other, &ctr, SPI_PAIRWISE, sids, 1));
    CHECK(zesp_sa_info_get(z.sad, SPI_PAIRWISE, ZESP_DIR_IN, &info) == 0 &&
          !(info.flags & ZESP_SA_GROUP) && strcmp(info.peer, "peer") == 0);
    CHECK(!window(SPI_PAIRWISE, SID_FOREIGN));
    sodium_memzero(&p, sizeof p);
    memset(z.joined[1].sas, 0, sizeof z.joined[1].sas);
    z.joined[1].registered = false;
    harness_reset();
}

/* A pairwise policy whose SAs left the SAD (zesp sa del, zesp expire)
 * still names their SPIs, and accepts, or sends on, whatever SA is
 * installed there next: a key server naming such an SPI for its group
 * is refused, and no message under its key is accepted on that policy. */
static void push_cannot_take_a_pairwise_policys_spi(void)
{
    static const uint16_t sids[] = { SID_FOREIGN };
    struct ike_sa *other = established_with("other");
    zesp_policy pol = { .name = "pol", .peer = "peer",
                        .out_spi = SPI_PAIRWISE + 1,
                        .in_spi = { SPI_PAIRWISE } };
    uint64_t ctr = 1;

    CHECK_OK(zesp_policy_set(z.sad, &pol));
    z.joined[1].registered = true;        /* with "other": it takes pushes */
    CHECK(!push_j2(other, &ctr, SPI_PAIRWISE, sids, 1));
    CHECK(!window(SPI_PAIRWISE, SID_FOREIGN));
    CHECK(open_on("pol", SPI_PAIRWISE, SID_FOREIGN, key_j2) != 0);
    CHECK(!push_j2(other, &ctr, SPI_PAIRWISE + 1, sids, 1));
    CHECK(!window(SPI_PAIRWISE + 1, SID_FOREIGN));
    CHECK(zesp_policy_get(z.sad, "pol", &pol) == 0 &&
          pol.out_spi == SPI_PAIRWISE + 1 && pol.in_spi[0] == SPI_PAIRWISE);
    /* On an SPI no policy names, the push is installed. */
    CHECK(push_j2(other, &ctr, SPI_J2, sids, 1));
    CHECK(window(SPI_J2, SID_FOREIGN));
    memset(z.joined[1].sas, 0, sizeof z.joined[1].sas);
    z.joined[1].registered = false;
    harness_reset();
}

/* The hard time limit of every SA of SPI spi in the SAD: the outbound
 * SA and each sender's window; UINT64_MAX if any has none. */
static uint64_t time_limit(uint32_t spi, const uint16_t *sids, size_t nsids,
                           bool out)
{
    zesp_sa_info info;
    uint64_t most = 0;

    if (out) {
        if (zesp_sa_info_get(z.sad, spi, ZESP_DIR_OUT, &info) != 0)
            return 0;
        most = info.hard.seconds ? info.hard.seconds : UINT64_MAX;
    }
    for (size_t i = 0; i < nsids; i++) {
        if (zesp_sa_info_get_sender(z.sad, spi, ZESP_DIR_IN, sids[i],
                                    &info) != 0)
            return 0;
        if (info.hard.seconds == 0)
            return UINT64_MAX;
        if (info.hard.seconds > most)
            most = info.hard.seconds;
    }
    return most;
}

/* A key server that leaves KEY_LIFETIME out (RFC 9838 makes it optional:
 * SHOULD NOT with in-band rekey), or names the largest one, then stops
 * pushing: the member's group SAs still end, after the join's
 * max-key-lifetime (unset: a day), not never.  A lifetime below the
 * bound (unset: up to 30 days) is kept as sent. */
static void member_bounds_key_lifetime(void)
{
    static const uint16_t sids_j[] = { 1, 2 };
    static const uint16_t sids_j2[] = { SID_FOREIGN };
    struct ike_sa *peer = established_with("peer");
    struct ike_sa *other = established_with("other");
    uint64_t ctr_peer = 1, ctr_other = 1;

    lifetime_sent = 0;
    register_j(peer, &ctr_peer);
    CHECK(z.joined[0].registered && in_policy("j", SPI_J));
    CHECK(time_limit(SPI_J, sids_j, 2, true) != 0);
    CHECK(time_limit(SPI_J, sids_j, 2, true) <= 86400);

    z.joined[1].registered = true;        /* with "other": it takes pushes */
    lifetime_sent = UINT32_MAX;
    CHECK(push_j2(other, &ctr_other, SPI_J2, sids_j2, 1));
    CHECK(time_limit(SPI_J2, sids_j2, 1, false) != 0);
    CHECK(time_limit(SPI_J2, sids_j2, 1, false) <= 86400);

    lifetime_sent = 600;
    CHECK(push_j2(other, &ctr_other, SPI_J2 + 1, sids_j2, 1));
    CHECK(time_limit(SPI_J2 + 1, sids_j2, 1, false) == 600);
    /* A lifetime of days, as a zike key server may give, is kept when
     * the join sets no bound: the key does not end before its rekey. */
    lifetime_sent = 2U * 86400U;
    CHECK(push_j2(other, &ctr_other, SPI_J2 + 3, sids_j2, 1));
    CHECK(time_limit(SPI_J2 + 3, sids_j2, 1, false) == 2U * 86400U);
    /* The join's own bound, below what the key server sends. */
    joins[1].max_key_lifetime = 60;
    CHECK(push_j2(other, &ctr_other, SPI_J2 + 2, sids_j2, 1));
    CHECK(time_limit(SPI_J2 + 2, sids_j2, 1, false) == 60);
    joins[1].max_key_lifetime = 0;
    /* At its end with no new key, the member asks for one, once. */
    z.now += 86400U * 1000U;
    group_tick(&z);
    CHECK(!z.joined[0].registered && z.joined[0].retry_at <= z.now);
    CHECK(!z.joined[1].registered);
    lifetime_sent = 600;
    memset(z.joined[0].sas, 0, sizeof z.joined[0].sas);
    memset(z.joined[1].sas, 0, sizeof z.joined[1].sas);
    z.joined[0].registered = z.joined[1].registered = false;
    harness_reset();
}

/* The configuration keeps each policy to one key manager: a second join
 * naming a join's policy, or a join naming a pairwise peer's policy,
 * would let that group's key server move the policy's outbound traffic
 * onto its own group SA.  Such a file is refused, saying where; distinct
 * policies load. */
static void config_one_manager_per_policy(void)
{
    static const struct {
        const char *peer_policies, *join_a, *join_b, *want;
    } rows[] = {
        { "[orders]", "policy: p", "policy: p",
          ":7:53: join[1].policy: 'p' is join[0]'s policy too (group 'a'): "
          "one group per policy" },
        { "[orders]", "replay-scope: host", "policy: a",
          ":7:53: join[1].policy: 'a' is join[0]'s policy too (group 'a')" },
        { "[orders]", "policy: b", "replay-scope: host",
          ":7:5: join[1].policy: 'b' (the group's name) is join[0]'s "
          "policy too" },
        { "[orders]", "policy: orders", "policy: q",
          ":6:53: join[0].policy: 'orders' is peer 'gcks''s policy too: "
          "a group's policy is its own" },
        { "[orders, b]", "policy: p", "replay-scope: host",
          ":7:5: join[1].policy: 'b' (the group's name) is peer 'gcks''s "
          "policy too" },
        { "[orders, { name: q }]", "policy: p", "policy: q",
          "join[1].policy: 'q' is peer 'gcks''s policy too" },
        { "[orders]", "policy: p", "policy: q", NULL },
        { "[]", "replay-scope: host", "replay-scope: host", NULL },
    };
    char dir[64], path[128], sad[128], err[512];

    if (test_mkdtemp(dir, sizeof dir, "gsaconf") != 0) {
        CHECK(0);
        return;
    }
    snprintf(path, sizeof path, "%s/zike.yaml", dir);
    snprintf(sad, sizeof sad, "%s/sad", dir);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct zike_conf c;
        FILE *f = fopen(path, "w");
        int rc;

        CHECK(f != NULL);
        if (f == NULL)
            break;
        fprintf(f, "identity: { id: me.example }\n"
                   "sad: %s\n"
                   "peers:\n"
                   "  - { name: gcks, id: gcks.example, endpoint: \"tcp://"
                   "127.0.0.1:5999\", auth: psk, psk: %s, policies: %s }\n"
                   "join:\n"
                   "  - { group: a, server: gcks, role: sender, %s }\n"
                   "  - { group: b, server: gcks, role: sender, %s }\n",
                sad, (const char *)harness_psk, rows[i].peer_policies,
                rows[i].join_a, rows[i].join_b);
        CHECK(fclose(f) == 0 && chmod(path, 0600) == 0);
        err[0] = '\0';
        rc = zike_conf_load(path, &c, err, sizeof err);
        if (rows[i].want == NULL) {
            CHECK(rc == 0);
            if (rc != 0)
                printf("  row %zu: %s\n", i, err);
            else
                zike_conf_free(&c);
            continue;
        }
        CHECK(rc == -1 && strstr(err, rows[i].want) != NULL &&
              strncmp(err, path, strlen(path)) == 0);
        if (rc == 0)
            zike_conf_free(&c);
        if (strstr(err, rows[i].want) == NULL)
            printf("  row %zu: want '%s', got '%s'\n", i, rows[i].want, err);
    }
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    harness_setup();
    joins[0] = harness_join;
    snprintf(joins[1].group, sizeof joins[1].group, "j2");
    snprintf(joins[1].server, sizeof joins[1].server, "other");
    snprintf(joins[1].policy, sizeof joins[1].policy, "j2");
    joins[1].receiver = true;
    joins[1].source_auth_accepts = ZIKE_SOURCE_AUTH_ANY;
    z.conf.joins = joins;
    z.conf.njoins = 2;
    if (group_sync_conf(&z) != 0)
        abort();
    randombytes_buf(key_j, sizeof key_j);
    randombytes_buf(key_j2, sizeof key_j2);
    RUN(push_cannot_take_another_groups_spi);
    RUN(push_cannot_take_a_pairwise_spi);
    RUN(push_cannot_take_a_pairwise_policys_spi);
    RUN(member_bounds_key_lifetime);
    RUN(config_one_manager_per_policy);
    sodium_memzero(key_j2, sizeof key_j2);
    group_free(&z);
    zesp_sad_free(z.sad);
    return test_done();
}
