/*
 * zike's exchange handling as an adversary sees it, without sockets: a
 * daemon state with one established IKE SA whose keys the test knows.
 * The test plays the peer: it seals requests, hands them to ike_handle,
 * and opens what zike sends back (zike_send is the test's).  Checked: a
 * retransmitted request is answered from the response cache, byte for
 * byte, without being processed twice; requests with old or future
 * message IDs, replayed or tampered messages, and responses nobody asked
 * for change nothing; a CREATE_CHILD_SA installs both SAs and answers
 * with the chosen proposal; one without KE is refused (PFS); a malformed
 * or overrunning one gets INVALID_SYNTAX and an unknown critical payload
 * UNSUPPORTED_CRITICAL_PAYLOAD, the IKE SA intact; DELETE takes the child
 * SA out of the SAD.  Group SAs (G-IKEv2), as key server: an unknown group
 * gets INVALID_GROUP_ID, a group the peer is not listed in
 * AUTHORIZATION_FAILED, a registration the GSA and the KD whose key unwraps
 * with GSK_w to the group key and carries the sender's ID; a sender
 * registering again and a member leaving each make a new key.  As member:
 * a registration response installs the outbound SA and one inbound SA per
 * other sender; a key that does not unwrap installs nothing; a push
 * installs the new SA and schedules the old one's removal.
 */
#include <sodium.h>

#include "gsa.h"
#include "spd.h"
#include "test.h"
#include "zike_harness.h"

/* Where the exchange type is in an IKE header (RFC 7296 3.1). */
#define IKE_EXCHANGE_AT 18U

/* Longer than zike waits before asking again for a refused child SA. */
#define CHILD_RETRY_TEST_MS 1100U

static struct ike_sa *established(void)
{
    uint8_t shared[32];

    randombytes_buf(shared, sizeof shared);
    return harness_established(shared);
}

static size_t peer_msg(struct ike_sa *sa, uint8_t exchange, bool response,
                       uint32_t mid, const uint8_t *chain, size_t len,
                       uint8_t *out, uint64_t *counter)
{
    size_t n = harness_seal(sa, exchange, response, mid, chain, len, out,
                            counter);

    CHECK(n != 0);
    return n;
}

/* Open what zike sent (a response from the responder: SK_er). */
static int open_sent(struct ike_sa *sa, size_t i, struct ike_message *m,
                     uint8_t *copy)
{
    memcpy(copy, sent[i], sent_len[i]);
    if (ike_parse(copy, sent_len[i], m) != IKE_OK)
        return -1;
    return ike_sk_open(copy, sent_len[i], m, sa->keys, false);
}

/* A CREATE_CHILD_SA request's payloads: our inbound SPI spi, for policy;
 * without KE, what a peer without PFS sends. */
static size_t child_request_for(uint8_t *chain, size_t cap, bool with_ke,
                                uint8_t *pub, uint32_t spi, const char *policy)
{
    struct ike_sa_payload sa = { .nproposals = 1 };
    struct ike_proposal *p = &sa.proposals[0];
    struct ike_writer w;
    uint8_t nonce[32];
    size_t len = 0;

    randombytes_buf(nonce, sizeof nonce);
    *p = (struct ike_proposal){ .number = 1, .protocol = IKE_PROTO_ESP,
                                .spi_size = 4,
                                .spi = { (uint8_t)(spi >> 24),
                                         (uint8_t)(spi >> 16),
                                         (uint8_t)(spi >> 8), (uint8_t)spi } };
    p->transforms[p->ntransforms++] =
        (struct ike_transform){ IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 };
    p->transforms[p->ntransforms++] =
        (struct ike_transform){ IKE_TT_DH, IKE_DH_CURVE25519, 0 };
    p->transforms[p->ntransforms++] =
        (struct ike_transform){ IKE_TT_ESN, IKE_ESN_YES, 0 };
    ike_w_init_chain(&w, chain, cap);
    ike_w_sa(&w, &sa);
    ike_w_nonce(&w, nonce, sizeof nonce);
    if (with_ke)
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, 32);
    ike_w_ts_any(&w, IKE_PL_TSI);
    ike_w_ts_any(&w, IKE_PL_TSR);
    ike_w_notify(&w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)policy,
                 strlen(policy));
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    return len;
}

static size_t child_request(uint8_t *chain, size_t cap, bool with_ke,
                            uint8_t *pub)
{
    return child_request_for(chain, cap, with_ke, pub, 0x4444, "pol");
}

static uint16_t first_notify(const struct ike_message *m)
{
    const struct ike_payload *p = ike_find(m, IKE_PL_NOTIFY);
    struct ike_notify n;

    return p && ike_parse_notify(p, &n) == IKE_OK ? n.type : 0;
}

static size_t count_sas(void)
{
    zesp_sad_stats st;

    return zesp_sad_stats_get(z.sad, &st) == 0 ? st.sas : 999;
}

static void create_child_and_cache(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE], copy[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32];
    struct ike_sa *sa = established();
    struct ike_message m;
    struct route from = { 0 };
    uint64_t ctr = 1;
    size_t len, clen;

    ike_x25519_keypair(pub, priv);
    clen = child_request(chain, sizeof chain, true, pub);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    memcpy(copy, msg, len);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1);
    CHECK(count_sas() == 2);                  /* inbound and outbound */
    CHECK(sa->mid_in == 1);
    CHECK(open_sent(sa, 0, &m, msg) == IKE_OK);
    CHECK(m.hdr.flags & IKE_FLAG_RESPONSE);
    CHECK(m.hdr.message_id == 0);
    CHECK(ike_find(&m, IKE_PL_SA) && ike_find(&m, IKE_PL_NONCE) &&
          ike_find(&m, IKE_PL_KE) && ike_find(&m, IKE_PL_TSI));
    /* The same request again: the cached response, nothing new. */
    memcpy(msg, copy, len);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 2);
    CHECK(sent_len[1] == sent_len[0] &&
          memcmp(sent[1], sent[0], sent_len[0]) == 0);
    CHECK(count_sas() == 2);
    CHECK(sa->mid_in == 1);
    /* A future message ID, and a tampered message: dropped, unanswered. */
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 5, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    len = peer_msg(sa, IKE_INFORMATIONAL, false, 1, (const uint8_t *)"", 1,
                   msg, &ctr);
    msg[len - 1] ^= 1;
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 2);
    /* A response to a request we never sent. */
    len = peer_msg(sa, IKE_INFORMATIONAL, true, 0, (const uint8_t *)"", 1,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 2);
    CHECK(z.stats.dropped_messages >= 3);
    sodium_memzero(priv, sizeof priv);
    harness_reset();
}

static void child_without_ke_refused(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32] = { 0 };
    struct ike_sa *sa = established();
    struct ike_message m;
    struct route from = { 0 };
    uint64_t ctr = 1;
    size_t len, clen;

    clen = child_request(chain, sizeof chain, false, pub);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1);
    CHECK(open_sent(sa, 0, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_NO_PROPOSAL_CHOSEN);
    CHECK(count_sas() == 0);
    harness_reset();
}

static void malformed_and_critical(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    /* A KE payload with 3 bytes of body: too short for its group. */
    static const uint8_t bad_ke[] = { IKE_PL_KE, 0, 0, 0, 7, 0, 31, 0 };
    /* A payload whose length runs past the end. */
    static const uint8_t overrun[] = { IKE_PL_NONCE, 0, 0, 0, 99, 1, 2, 3 };
    /* An unknown payload (type 200) marked critical. */
    static const uint8_t critical[] = { 200, 0, 0x80, 0, 4 };
    static const struct {
        uint8_t exchange;
        const uint8_t *body;
        size_t len;
        uint16_t notify;     /* the error each request is answered with */
    } cases[] = {
        { IKE_CREATE_CHILD_SA, bad_ke, sizeof bad_ke, IKE_N_INVALID_SYNTAX },
        { IKE_INFORMATIONAL, overrun, sizeof overrun, IKE_N_INVALID_SYNTAX },
        { IKE_INFORMATIONAL, critical, sizeof critical,
          IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD },
    };
    struct ike_sa *sa = established();
    struct ike_message m;
    struct route from = { 0 };
    uint64_t ctr = 1;
    size_t len;

    for (uint32_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        len = peer_msg(sa, cases[i].exchange, false, i, cases[i].body,
                       cases[i].len, msg, &ctr);
        ike_handle(&z, &from, msg, len);
        CHECK(nsent == i + 1);
        CHECK(open_sent(sa, i, &m, msg) == IKE_OK);
        CHECK(first_notify(&m) == cases[i].notify);
    }
    CHECK(sa->mid_in == 3);
    CHECK(sa->state == IKE_ST_ESTABLISHED && count_sas() == 0);
    harness_reset();
}

static void delete_child(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32], del[64];
    struct ike_sa *sa = established();
    struct ike_message m;
    struct route from = { 0 };
    struct ike_writer w;
    uint64_t ctr = 1;
    size_t len, clen;

    ike_x25519_keypair(pub, priv);
    clen = child_request(chain, sizeof chain, true, pub);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 2);
    /* The peer deletes its inbound SA 0x00004444 (our outbound). */
    ike_w_init_chain(&w, del, sizeof del);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, (const uint8_t *)"\0\0\x44\x44", 1);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    len = peer_msg(sa, IKE_INFORMATIONAL, false, 1, del, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 0);
    CHECK(nsent == 2);
    CHECK(open_sent(sa, 1, &m, msg) == IKE_OK);
    CHECK(ike_find(&m, IKE_PL_DELETE) != NULL);   /* our SPI in return */
    sodium_memzero(priv, sizeof priv);
    harness_reset();
}

static size_t registration(uint8_t *chain, size_t cap, const char *group,
                           uint16_t notify)
{
    static const uint8_t one[4] = { 0, 0, 0, 1 };
    struct ike_writer w;
    size_t len = 0;

    ike_w_init_chain(&w, chain, cap);
    ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, group, strlen(group));
    if (notify)
        ike_w_notify(&w, 0, notify, NULL, 0, one,
                     notify == IKE_N_GROUP_SENDER ? 4 : 0);
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    return len;
}

static void group_server(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[256], gsk_w[GSA_GSK_W_BYTES], key[ZESP_KEYBYTES];
    struct ike_sa *sa = established();
    struct gcks_group *g = &z.groups[0];
    struct ike_message m;
    struct route from = { 0 };
    struct gsa_policy pol;
    struct gsa_kd kd;
    uint64_t ctr = 1;
    uint32_t mid = 0, spi;
    size_t len, clen;

    CHECK(strcmp(g->name, "g") == 0 && g->spi >= 256);
    clen = registration(chain, sizeof chain, "nope", 0);
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(sa, nsent - 1, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_INVALID_GROUP_ID);
    clen = registration(chain, sizeof chain, "closed", IKE_N_GROUP_SENDER);
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(sa, nsent - 1, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_AUTHORIZATION_FAILED);
    CHECK(z.groups[1].nmembers == 0);

    spi = g->spi;
    clen = registration(chain, sizeof chain, "g", IKE_N_GROUP_SENDER);
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(sent_len[nsent - 1] > IKE_HEADER_BYTES &&
          sent[nsent - 1][IKE_EXCHANGE_AT] == 40);  /* RFC 9838 9.2 */
    CHECK(open_sent(sa, nsent - 1, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == 0);
    CHECK(gsa_parse(ike_find(&m, IKE_PL_GSA), &pol) == IKE_OK);
    /* The group's delays, as GWP_ATD and GWP_DTD (RFC 9838 4.4.3.1.1). */
    CHECK(pol.atd == 1 && pol.dtd == 2);
    CHECK(kd_parse(ike_find(&m, IKE_PL_KD), &kd) == IKE_OK);
    CHECK(pol.spi == spi && kd.spi == spi && kd.sender_id == 1);
    CHECK(pol.nsenders == 1 && pol.senders[0].sid == 1 &&
          strcmp(pol.senders[0].name, "peer") == 0 && pol.sid_bits == 16);
    CHECK(gsa_gsk_w(gsk_w, sa->keys->sk_d) == 0);
    CHECK(gsa_unwrap(key, gsk_w, kd.spi, kd.wrapped) == 0);
    CHECK(sodium_memcmp(key, g->key, ZESP_KEYBYTES) == 0);
    kd.wrapped[40] ^= 1;
    CHECK(gsa_unwrap(key, gsk_w, kd.spi, kd.wrapped) == -1);
    CHECK(g->nmembers == 1 && g->members[0].sid == 1 && g->rekeys == 0);

    /* The same sender again: its Sender ID was issued with this key. */
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(g->spi != spi && g->rekeys == 1 && g->nmembers == 1);
    /* A key made for another reason reaches the sender by a push, with its
     * Sender ID: registering again after that needs a new key too. */
    CHECK(group_rekey(&z, "g") == 0 && g->rekeys == 2);
    spi = g->spi;
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(g->spi != spi && g->rekeys == 3);
    spi = g->spi;
    /* It leaves: removed, and the others get a key it never sees. */
    clen = registration(chain, sizeof chain, "g", IKE_N_REGISTRATION_FAILED);
    len = peer_msg(sa, IKE_GSA_REGISTRATION, false, mid++, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(g->nmembers == 0 && g->spi != spi && g->rekeys == 4);
    sodium_memzero(key, sizeof key);
    harness_reset();
}

/* The delays a key server announces in group_answer (seconds). */
static uint16_t answer_atd = 0, answer_dtd = 1;

/* What a key server would answer for group "j": policy, wrapped key. */
static size_t group_answer(struct ike_sa *sa, uint8_t *chain, size_t cap,
                           uint32_t spi, const uint8_t *key, bool spoil,
                           uint32_t sid, bool idg)
{
    struct gsa_policy pol = { .spi = spi, .encr = 28, .esn = true,
                              .lifetime = 600, .atd = answer_atd,
                              .dtd = answer_dtd,
                              .sid_bits = 16, .nsenders = 3 };
    struct gsa_kd kd = { .spi = spi, .sender_id = sid };
    uint8_t gsk_w[GSA_GSK_W_BYTES];
    struct ike_writer w;
    size_t len = 0;

    pol.senders[0] = (struct gsa_sender){ .sid = 1, .name = "s1" };
    pol.senders[1] = (struct gsa_sender){ .sid = 2, .name = "s2" };
    pol.senders[2] = (struct gsa_sender){ .sid = 7, .name = "zike" };
    CHECK(gsa_gsk_w(gsk_w, sa->keys->sk_d) == 0);
    CHECK(gsa_wrap(kd.wrapped, gsk_w, spi, key) == 0);
    if (spoil)
        kd.wrapped[50] ^= 0x80;
    ike_w_init_chain(&w, chain, cap);
    if (idg)
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "j", 1);
    gsa_write(&w, &pol);
    kd_write(&w, &kd);
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    return len;
}

static void group_member(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[2048], key[ZESP_KEYBYTES];
    struct ike_sa *sa = established();
    struct gm_group *gg = &z.joined[0];
    struct route from = { 0 };
    zesp_sa_info info;
    zesp_policy pol;
    uint64_t ctr = 1;
    size_t len, clen;

    randombytes_buf(key, sizeof key);
    for (int spoil = 1; spoil >= 0; spoil--) {
        sa->req.kind = REQ_GSA_REGISTER;
        sa->req.exchange = IKE_GSA_REGISTRATION;
        sa->req.mid = sa->mid_out++;
        sa->req.resend_at = UINT64_MAX;
        snprintf(sa->req.group, sizeof sa->req.group, "j");
        clen = group_answer(sa, chain, sizeof chain, 0x7000, key, spoil, 7,
                            false);
        len = peer_msg(sa, IKE_GSA_REGISTRATION, true, sa->req.mid, chain,
                       clen, msg, &ctr);
        ike_handle(&z, &from, msg, len);
        CHECK(gg->registered == !spoil);
        CHECK(count_sas() == (spoil ? 0U : 3U));
    }
    CHECK(gg->sid == 7);
    CHECK(zesp_sa_info_get(z.sad, 0x7000, ZESP_DIR_OUT, &info) == 0 &&
          info.sender_id == 7 && (info.flags & ZESP_SA_GROUP));
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7000, ZESP_DIR_IN, 2, &info) == 0 &&
          strcmp(info.peer, "s2") == 0);
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7000, ZESP_DIR_IN, 7, &info) != 0);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7000);

    /* The key server pushes a new SA: installed now, the old one retires
     * after the delays. */
    clen = group_answer(sa, chain, sizeof chain, 0x7100, key, false, 0, true);
    len = peer_msg(sa, IKE_GSA_INBAND_REKEY, false, 0, chain, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 6U);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7100);
    CHECK(gg->sas[0].spi == 0x7000 && gg->sas[0].retire_at != 0);
    z.now += 2000;
    ike_tick(&z);
    CHECK(count_sas() == 3U);
    CHECK(zesp_sa_info_get(z.sad, 0x7000, ZESP_DIR_OUT, &info) != 0);
    sodium_memzero(key, sizeof key);
    memset(gg->sas, 0, sizeof gg->sas);
    gg->registered = false;
    harness_reset();
}

/* ---- reflection (RFC 7296 3.1) -------------------------------------------- */

/* What a reflected message could change. */
struct snapshot {
    uint32_t mid_in, mid_out, req_mid;
    enum req_kind req;
    enum ike_state state;
    size_t ike_sas, children, sad_sas, nsent;
};

static void snap(const struct ike_sa *sa, struct snapshot *s)
{
    memset(s, 0, sizeof *s);
    s->mid_in = sa->mid_in;
    s->mid_out = sa->mid_out;
    s->req = sa->req.kind;
    s->req_mid = sa->req.mid;
    s->state = sa->state;
    for (const struct ike_sa *i = z.sas; i; i = i->next)
        s->ike_sas++;
    for (const struct child_sa *c = sa->children; c; c = c->next)
        s->children++;
    s->sad_sas = count_sas();
    s->nsent = nsent;
}

/* zike's message sent[i], handed back to zike: dropped as reflected, and
 * nothing of sa changed. */
static bool reflect(const struct ike_sa *sa, size_t i)
{
    static uint8_t copy[IKE_MAX_MESSAGE];
    struct snapshot before, after;
    struct route from = { 0 };
    uint64_t dropped = z.stats.dropped[IKE_DROP_REFLECTED];

    if (i >= nsent)
        return false;
    snap(sa, &before);
    memcpy(copy, sent[i], sent_len[i]);
    ike_handle(&z, &from, copy, sent_len[i]);
    snap(sa, &after);
    return z.stats.dropped[IKE_DROP_REFLECTED] == dropped + 1 &&
           memcmp(&before, &after, sizeof before) == 0;
}

/* zike sends a request of its own now (ike_tick); its message ID is made
 * the one zike expects next from the peer, so that only the role check
 * can stop the reflection. */
static bool tick_sends(struct ike_sa *sa, enum req_kind kind)
{
    size_t n = nsent;

    sa->mid_in = sa->mid_out;
    ike_tick(&z);
    return nsent == n + 1 && sa->req.kind == kind;
}

static void cancel_request(struct ike_sa *sa)
{
    sa->req.kind = REQ_NONE;
    sa->mid_in = sa->mid_out;
    nsent = 0;
}

/* Every kind of request zike makes, sent back to it. */
static void reflected_requests(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32];
    struct ike_sa *sa = established();
    struct route from = { 0 };
    struct child_sa *c;
    uint64_t ctr = 1;
    size_t len, clen;

    z.now = 5000;
    ike_x25519_keypair(pub, priv);
    clen = child_request(chain, sizeof chain, true, pub);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK((c = sa->children) != NULL && count_sas() == 2);
    nsent = 0;
    /* G-IKEv2 registration with the peer as our key server (group "j"). */
    CHECK(tick_sends(sa, REQ_GSA_REGISTER));
    CHECK(reflect(sa, nsent - 1));
    cancel_request(sa);
    z.joined[0].retry_at = UINT64_MAX;
    /* CREATE_CHILD_SA rekeying a child SA. */
    c->want_rekey = true;
    CHECK(tick_sends(sa, REQ_CHILD));
    CHECK(reflect(sa, nsent - 1));
    cancel_request(sa);
    /* CREATE_CHILD_SA rekeying the IKE SA. */
    sa->want_ike_rekey = true;
    CHECK(tick_sends(sa, REQ_IKE_REKEY));
    CHECK(reflect(sa, nsent - 1));
    cancel_request(sa);
    /* INFORMATIONAL: a liveness check. */
    harness_peers[0].dpd_seconds = 1;
    sa->last_heard = 0;
    CHECK(tick_sends(sa, REQ_DPD));
    CHECK(reflect(sa, nsent - 1));
    cancel_request(sa);
    harness_peers[0].dpd_seconds = 0;
    /* INFORMATIONAL DELETE of a child SA, then of the IKE SA. */
    c->retire_at = z.now;
    CHECK(tick_sends(sa, REQ_DELETE_CHILD));
    CHECK(reflect(sa, nsent - 1));
    cancel_request(sa);
    c->retire_at = 0;
    sa->want_delete = true;
    CHECK(tick_sends(sa, REQ_DELETE_IKE));
    CHECK(reflect(sa, nsent - 1));
    CHECK(sa->state == IKE_ST_ESTABLISHED && count_sas() == 2);
    cancel_request(sa);
    /* GSA_INBAND_REKEY: a push of group "g" to the peer, a member. */
    {
        static const uint8_t one[4] = { 0, 0, 0, 1 };
        struct ike_writer w;
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "g", 1);
        ike_w_notify(&w, 0, IKE_N_GROUP_SENDER, NULL, 0, one, 4);
        CHECK(ike_w_finish(&w, &clen) == IKE_OK);
        len = peer_msg(sa, IKE_GSA_REGISTRATION, false, sa->mid_in, chain,
                       clen, msg, &ctr);
        ike_handle(&z, &from, msg, len);
        CHECK(z.groups[0].nmembers == 1);
        CHECK(group_rekey(&z, "g") == 0);
        nsent = 0;
        CHECK(tick_sends(sa, REQ_GSA_PUSH));
        CHECK(reflect(sa, nsent - 1));
        CHECK(z.groups[0].members[0].have_spi != z.groups[0].spi);
        cancel_request(sa);
        z.groups[0].nmembers = 0;
    }
    CHECK(z.stats.dropped[IKE_DROP_REFLECTED] == 7);
    z.joined[0].retry_at = 0;
    sodium_memzero(priv, sizeof priv);
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* zike waits for the answer to a request of its own of kind, with the
 * message ID and exchange of the response it has just sent. */
static void awaiting(struct ike_sa *sa, enum req_kind kind, size_t i)
{
    struct ike_message m;

    CHECK(i < nsent && ike_parse(sent[i], sent_len[i], &m) == IKE_OK);
    sa->req.kind = kind;
    sa->req.exchange = m.hdr.exchange;
    sa->req.mid = m.hdr.message_id;
    sa->req.resend_at = UINT64_MAX;
    sa->req.spi_in = 0x1000;
    snprintf(sa->req.policy, sizeof sa->req.policy, "pol");
    snprintf(sa->req.group, sizeof sa->req.group, "j");
    ike_x25519_keypair(sa->req.dh_pub, sa->req.dh_priv);
    randombytes_buf(sa->req.nonce, sizeof sa->req.nonce);
}

/* Every kind of response zike gives, sent back to it while it waits for
 * a response of that exchange with that message ID. */
static void reflected_responses(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32], del[64];
    struct ike_sa *sa = established();
    struct route from = { 0 };
    struct ike_writer w;
    uint64_t ctr = 1;
    size_t len, clen;

    z.now = 5000;
    z.joined[0].retry_at = UINT64_MAX;
    ike_x25519_keypair(pub, priv);
    /* CREATE_CHILD_SA, a new child SA. */
    clen = child_request_for(chain, sizeof chain, true, pub, 0x4444, "pol");
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1 && count_sas() == 2);
    awaiting(sa, REQ_CHILD, 0);
    CHECK(reflect(sa, 0));
    cancel_request(sa);
    /* INFORMATIONAL, a liveness check. */
    len = peer_msg(sa, IKE_INFORMATIONAL, false, sa->mid_in,
                   (const uint8_t *)"", 1, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    awaiting(sa, REQ_DPD, 0);
    CHECK(reflect(sa, 0));
    cancel_request(sa);
    /* INFORMATIONAL DELETE of a second child SA. */
    clen = child_request_for(chain, sizeof chain, true, pub, 0x4545, "pol");
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, sa->mid_in, chain, clen,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 4);
    nsent = 0;
    ike_w_init_chain(&w, del, sizeof del);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, (const uint8_t *)"\0\0\x45\x45", 1);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    len = peer_msg(sa, IKE_INFORMATIONAL, false, sa->mid_in, del, clen, msg,
                   &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 2);
    awaiting(sa, REQ_DELETE_CHILD, 0);
    sa->req.del_spi = sa->children->spi_in;
    CHECK(reflect(sa, 0));
    CHECK(count_sas() == 2);
    cancel_request(sa);
    /* GSA_REGISTRATION: the peer joins group "g". */
    {
        static const uint8_t one[4] = { 0, 0, 0, 1 };
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "g", 1);
        ike_w_notify(&w, 0, IKE_N_GROUP_SENDER, NULL, 0, one, 4);
        CHECK(ike_w_finish(&w, &clen) == IKE_OK);
        len = peer_msg(sa, IKE_GSA_REGISTRATION, false, sa->mid_in, chain,
                       clen, msg, &ctr);
        ike_handle(&z, &from, msg, len);
        awaiting(sa, REQ_GSA_REGISTER, 0);
        CHECK(reflect(sa, 0));
        CHECK(!z.joined[0].registered);
        cancel_request(sa);
        z.groups[0].nmembers = 0;
    }
    /* CREATE_CHILD_SA rekeying the IKE SA: the answer is on the old SA. */
    {
        struct ike_sa_payload prop = { .nproposals = 1 };
        struct ike_proposal *p = &prop.proposals[0];
        uint8_t nonce[32];
        *p = (struct ike_proposal){ .number = 1, .protocol = IKE_PROTO_IKE,
                                    .spi_size = 8, .ntransforms = 3 };
        randombytes_buf(p->spi, 8);
        p->transforms[0] = (struct ike_transform){ IKE_TT_ENCR,
                                                   IKE_ENCR_CHACHA20_POLY1305,
                                                   0 };
        p->transforms[1] = (struct ike_transform){ IKE_TT_PRF,
                                                   IKE_PRF_HMAC_SHA2_256, 0 };
        p->transforms[2] = (struct ike_transform){ IKE_TT_DH,
                                                   IKE_DH_CURVE25519, 0 };
        randombytes_buf(nonce, sizeof nonce);
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_sa(&w, &prop);
        ike_w_nonce(&w, nonce, sizeof nonce);
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, 32);
        CHECK(ike_w_finish(&w, &clen) == IKE_OK);
        len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, sa->mid_in, chain,
                       clen, msg, &ctr);
        ike_handle(&z, &from, msg, len);
        CHECK(sa->superseded && z.stats.ike_rekeys == 1);
        awaiting(sa, REQ_IKE_REKEY, 0);
        sa->superseded = false;
        CHECK(reflect(sa, 0));
        CHECK(z.stats.ike_rekeys == 1);
        cancel_request(sa);
    }
    CHECK(z.stats.dropped[IKE_DROP_REFLECTED] == 5);
    z.joined[0].retry_at = 0;
    sodium_memzero(priv, sizeof priv);
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* ---- the test as an IKE initiator: IKE_SA_INIT and IKE_AUTH to zike ------ */

struct initiator {
    struct ike_keys *keys;
    uint8_t spi_i[8], spi_r[8], ni[32], nr[IKE_NONCE_MAX];
    size_t nr_len;
    uint8_t msg1[1024];
    size_t msg1_len;
    uint64_t ctr;
};

static void w_ike_proposal(struct ike_writer *w)
{
    struct ike_sa_payload prop = { .nproposals = 1 };

    prop.proposals[0] = (struct ike_proposal){
        .number = 1, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                        { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                        { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
    ike_w_sa(w, &prop);
}

/* IKE_SA_INIT: zike answers, both derive the keys. */
static int initiator_init(struct initiator *t)
{
    static uint8_t copy[IKE_MAX_MESSAGE];
    struct ike_header h = { .exchange = IKE_SA_INIT,
                            .flags = IKE_FLAG_INITIATOR };
    uint8_t pub[32], priv[32], shared[32];
    const struct ike_payload *pke, *pn;
    struct route from = { 0 };
    struct ike_message m;
    struct ike_writer w;
    struct ike_ke ke;
    const uint8_t *nr;
    int rc = -1;

    memset(t, 0, sizeof *t);
    if ((t->keys = ike_keys_new()) == NULL)
        return -1;
    t->ctr = 1;
    randombytes_buf(t->spi_i, 8);
    randombytes_buf(t->ni, sizeof t->ni);
    ike_x25519_keypair(pub, priv);
    memcpy(h.spi_i, t->spi_i, 8);
    ike_w_init(&w, t->msg1, sizeof t->msg1, &h);
    w_ike_proposal(&w);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, 32);
    ike_w_nonce(&w, t->ni, sizeof t->ni);
    if (ike_w_finish(&w, &t->msg1_len) != IKE_OK)
        goto out;
    memcpy(copy, t->msg1, t->msg1_len);
    nsent = 0;
    ike_handle(&z, &from, copy, t->msg1_len);
    if (nsent != 1 || ike_parse(sent[0], sent_len[0], &m) != IKE_OK ||
        (pke = ike_find(&m, IKE_PL_KE)) == NULL ||
        (pn = ike_find(&m, IKE_PL_NONCE)) == NULL ||
        ike_parse_ke(pke, &ke) != IKE_OK ||
        ike_parse_nonce(pn, &nr, &t->nr_len) != IKE_OK ||
        ike_x25519_shared(shared, priv, ke.data, ke.len) != 0)
        goto out;
    memcpy(t->nr, nr, t->nr_len);
    memcpy(t->spi_r, m.hdr.spi_r, 8);
    rc = ike_derive(t->keys, IKE_ENCR_CHACHA20_POLY1305, NULL, shared, t->ni,
                    sizeof t->ni, t->nr, t->nr_len, t->spi_i, t->spi_r);
out:
    sodium_memzero(priv, sizeof priv);
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* IKE_AUTH as peer id (of id_type), with a child SA for policy (our
 * inbound SPI 0x5555); zike's answer opened into m (copy holds it). */
static int initiator_auth(struct initiator *t, uint8_t id_type,
                          const char *id, const char *policy,
                          struct ike_message *m, uint8_t *copy)
{
    struct ike_header h = { .exchange = IKE_AUTH, .message_id = 1,
                            .flags = IKE_FLAG_INITIATOR };
    uint8_t chain[2048], idb[4 + IKE_ID_MAX], mac[IKE_PRF_BYTES],
        auth[IKE_PRF_BYTES], spi[4] = { 0, 0, 0x55, 0x55 };
    static uint8_t out[IKE_MAX_MESSAGE];
    struct ike_sa_payload prop = { .nproposals = 1 };
    struct route from = { 0 };
    struct ike_writer w;
    size_t clen, idlen = strlen(id), sk_at, len;

    idb[0] = id_type;
    memset(idb + 1, 0, 3);
    memcpy(idb + 4, id, idlen);
    ike_auth_octets_mac(mac, t->keys->sk_pi, idb, 4 + idlen);
    ike_auth_psk(auth, harness_psk, sizeof harness_psk - 1, t->msg1,
                 t->msg1_len, t->nr, t->nr_len, mac);
    prop.proposals[0] = (struct ike_proposal){
        .number = 1, .protocol = IKE_PROTO_ESP, .spi_size = 4,
        .ntransforms = 2,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                        { IKE_TT_ESN, IKE_ESN_YES, 0 } } };
    memcpy(prop.proposals[0].spi, spi, 4);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDI, id_type, id, idlen);
    ike_w_auth(&w, IKE_AUTH_PSK, auth, sizeof auth);
    ike_w_sa(&w, &prop);
    ike_w_ts_any(&w, IKE_PL_TSI);
    ike_w_ts_any(&w, IKE_PL_TSR);
    ike_w_notify(&w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)policy,
                 strlen(policy));
    if (ike_w_finish(&w, &clen) != IKE_OK)
        return -1;
    memcpy(h.spi_i, t->spi_i, 8);
    memcpy(h.spi_r, t->spi_r, 8);
    ike_w_init(&w, out, sizeof out, &h);
    sk_at = w.len;
    ike_w_begin(&w, IKE_PL_SK, false);
    out[sk_at] = chain[0];
    memcpy(out + sk_at + 4 + 8, chain + 1, clen - 1);
    if (ike_sk_seal(out, sizeof out, sk_at, clen - 1, t->keys, true,
                    &t->ctr, &len) != IKE_OK)
        return -1;
    nsent = 0;
    ike_handle(&z, &from, out, len);
    if (nsent != 1)
        return -1;
    memcpy(copy, sent[0], sent_len[0]);
    if (ike_parse(copy, sent_len[0], m) != IKE_OK)
        return -1;
    return ike_sk_open(copy, sent_len[0], m, t->keys, false);
}

static struct ike_sa *responder_sa(const struct initiator *t)
{
    for (struct ike_sa *sa = z.sas; sa; sa = sa->next)
        if (memcmp(sa->spi_i, t->spi_i, 8) == 0)
            return sa;
    return NULL;
}

static uint16_t notify_in(const struct ike_message *m, uint16_t type)
{
    struct ike_notify n;

    return ike_find_notify(m, type, &n) ? type : 0;
}

/* IKE_SA_INIT and IKE_AUTH of zike, in both roles, sent back to it. */
static void reflected_init_and_auth(void)
{
    static uint8_t copy[IKE_MAX_MESSAGE], msg[IKE_MAX_MESSAGE];
    struct initiator t;
    struct ike_message m;
    struct ike_sa *sa;
    struct route from = { 0 };
    size_t len;

    z.now = 5000;
    /* Responder: its IKE_SA_INIT response and its IKE_AUTH response. */
    CHECK(initiator_init(&t) == 0);
    CHECK((sa = responder_sa(&t)) != NULL && sa->state == IKE_ST_HALF_OPEN);
    CHECK(reflect(sa, 0));
    CHECK(initiator_auth(&t, IKE_ID_FQDN, "peer.example", "pol", &m,
                         copy) == IKE_OK);
    CHECK(sa->state == IKE_ST_ESTABLISHED && count_sas() == 2);
    CHECK(reflect(sa, 0));
    ike_keys_free(t.keys);
    harness_reset();
    /* Initiator: its IKE_SA_INIT request, then (answered here as a
     * responder would) its IKE_AUTH request. */
    snprintf(harness_peers[0].endpoint, sizeof harness_peers[0].endpoint,
             "tcp://127.0.0.1:1");
    CHECK(ike_initiate(&z, &harness_peers[0], "pol") == 0);
    CHECK((sa = z.sas) != NULL && sa->state == IKE_ST_INIT_SENT);
    CHECK(reflect(sa, 0));
    CHECK(z.sas == sa && sa->next == NULL);     /* no responder SA made */
    {
        struct ike_header h = { .exchange = IKE_SA_INIT,
                                .flags = IKE_FLAG_RESPONSE };
        uint8_t pub[32], priv[32], nr[32];
        struct ike_writer w;
        memcpy(h.spi_i, sa->spi_i, 8);
        randombytes_buf(h.spi_r, 8);
        randombytes_buf(nr, sizeof nr);
        ike_x25519_keypair(pub, priv);
        ike_w_init(&w, msg, sizeof msg, &h);
        w_ike_proposal(&w);
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, 32);
        ike_w_nonce(&w, nr, sizeof nr);
        CHECK(ike_w_finish(&w, &len) == IKE_OK);
        nsent = 0;
        ike_handle(&z, &from, msg, len);
        sodium_memzero(priv, sizeof priv);
    }
    CHECK(sa->state == IKE_ST_AUTH_SENT && nsent == 1);
    sa->mid_in = 1;                  /* the request's message ID */
    CHECK(reflect(sa, 0));
    CHECK(sa->state == IKE_ST_AUTH_SENT);
    harness_peers[0].endpoint[0] = '\0';
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* An authenticated peer naming another peer's policy gets a notify, and
 * that policy's SAs (manual, or left from before a restart) stay. */
static void policy_of_another_peer(void)
{
    static uint8_t copy[IKE_MAX_MESSAGE];
    zesp_sa_params p = { .transform = ZESP_CHACHA20_POLY1305 };
    zesp_policy pol = { .name = "otherpol", .peer = "other",
                        .out_spi = 0x6001, .in_spi = { 0x6000 } };
    struct initiator t;
    struct ike_message m;
    struct ike_sa *sa;

    z.now = 5000;
    snprintf(p.peer, sizeof p.peer, "other");
    randombytes_buf(p.key, sizeof p.key);
    p.spi = 0x6000;
    p.direction = ZESP_DIR_IN;
    CHECK_OK(zesp_sa_add(z.sad, &p));
    p.spi = 0x6001;
    p.direction = ZESP_DIR_OUT;
    CHECK_OK(zesp_sa_add(z.sad, &p));
    CHECK_OK(zesp_policy_set(z.sad, &pol));
    /* A peer's own policy names an SA of another peer too (as a policy
     * shared by mistake would): not this peer's to retire either. */
    pol = (zesp_policy){ .name = "pol", .peer = "peer",
                         .in_spi = { 0x6000 } };
    CHECK_OK(zesp_policy_set(z.sad, &pol));

    CHECK(initiator_init(&t) == 0);
    CHECK(initiator_auth(&t, IKE_ID_FQDN, "peer.example", "otherpol", &m,
                         copy) == IKE_OK);
    CHECK((sa = responder_sa(&t)) != NULL && sa->state == IKE_ST_ESTABLISHED);
    CHECK(notify_in(&m, IKE_N_TS_UNACCEPTABLE) != 0);
    CHECK(ike_find(&m, IKE_PL_SA) == NULL);
    CHECK(sa->children == NULL && count_sas() == 2);
    z.now += 10 * z.conf.rekey_overlap_ms;
    ike_tick(&z);
    CHECK(count_sas() == 2);
    CHECK(zesp_policy_get(z.sad, "otherpol", &pol) == 0 &&
          pol.out_spi == 0x6001 && pol.in_spi[0] == 0x6000);
    ike_keys_free(t.keys);
    harness_reset();

    /* Its own policy: a child SA, and the other peer's SA left alone. */
    p.spi = 0x6000;
    p.direction = ZESP_DIR_IN;
    CHECK_OK(zesp_sa_add(z.sad, &p));
    pol = (zesp_policy){ .name = "pol", .peer = "peer",
                         .in_spi = { 0x6000 } };
    CHECK_OK(zesp_policy_set(z.sad, &pol));
    CHECK(initiator_init(&t) == 0);
    CHECK(initiator_auth(&t, IKE_ID_FQDN, "peer.example", "pol", &m,
                         copy) == IKE_OK);
    CHECK(ike_find(&m, IKE_PL_SA) != NULL && count_sas() == 3);
    z.now += 10 * z.conf.rekey_overlap_ms;
    ike_tick(&z);
    CHECK(count_sas() == 3);
    CHECK(zesp_sa_info_get(z.sad, 0x6000, ZESP_DIR_IN, &(zesp_sa_info){ 0 })
          == 0);
    ike_keys_free(t.keys);
    sodium_memzero(&p, sizeof p);
    harness_reset();
}

/* The identity's bytes with another ID type: refused. */
static void identity_type(void)
{
    static uint8_t copy[IKE_MAX_MESSAGE];
    struct initiator t;
    struct ike_message m;

    z.now = 5000;
    CHECK(initiator_init(&t) == 0);
    CHECK(initiator_auth(&t, IKE_ID_KEY_ID, "peer.example", "pol", &m,
                         copy) == IKE_OK);
    CHECK(notify_in(&m, IKE_N_AUTHENTICATION_FAILED) != 0);
    CHECK(count_sas() == 0);
    CHECK(responder_sa(&t) == NULL ||
          responder_sa(&t)->state == IKE_ST_DEAD);
    ike_keys_free(t.keys);
    harness_reset();
    CHECK(initiator_init(&t) == 0);
    CHECK(initiator_auth(&t, IKE_ID_FQDN, "peer.example", "pol", &m,
                         copy) == IKE_OK);
    CHECK(notify_in(&m, IKE_N_AUTHENTICATION_FAILED) == 0 &&
          count_sas() == 2);
    ike_keys_free(t.keys);
    harness_reset();
}

/* ---- outbound SPI collisions ----------------------------------------------- */

/* An outbound SA 0x6001 of peer "other" in the SAD. */
static void other_outbound(void)
{
    zesp_sa_params p = { .spi = 0x6001, .direction = ZESP_DIR_OUT,
                         .transform = ZESP_CHACHA20_POLY1305 };

    snprintf(p.peer, sizeof p.peer, "other");
    randombytes_buf(p.key, sizeof p.key);
    CHECK_OK(zesp_sa_add(z.sad, &p));
    sodium_memzero(&p, sizeof p);
}

static bool other_intact(void)
{
    zesp_sa_info info;

    return zesp_sa_info_get(z.sad, 0x6001, ZESP_DIR_OUT, &info) == 0 &&
           strcmp(info.peer, "other") == 0;
}

/* Responder: the peer picks, for our outbound SA, the SPI of another
 * peer's outbound SA.  Refused (TEMPORARY_FAILURE), the other SA kept;
 * with another SPI the child SA installs. */
static void spi_collision_responder(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32];
    struct ike_sa *sa = established();
    struct route from = { 0 };
    struct ike_message m;
    uint64_t ctr = 1;
    size_t len, clen;

    other_outbound();
    ike_x25519_keypair(pub, priv);
    clen = child_request_for(chain, sizeof chain, true, pub, 0x6001, "pol");
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(sa, 0, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_TEMPORARY_FAILURE);
    CHECK(count_sas() == 1 && other_intact());
    CHECK(z.stats.spi_collisions == 1);
    clen = child_request_for(chain, sizeof chain, true, pub, 0x6002, "pol");
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 1, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(sa, 1, &m, msg) == IKE_OK && ike_error_notify(&m) == 0);
    CHECK(count_sas() == 3 && other_intact());
    sodium_memzero(priv, sizeof priv);
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* The peer's answer to zike's CREATE_CHILD_SA: for zike's outbound SA,
 * SPI spi. */
static size_t child_answer(struct ike_sa *sa, uint32_t spi, uint8_t *msg,
                           uint64_t *ctr)
{
    struct ike_sa_payload prop = { .nproposals = 1 };
    uint8_t chain[1024], pub[32], priv[32], nonce[32];
    struct ike_writer w;
    size_t clen = 0;

    ike_x25519_keypair(pub, priv);
    randombytes_buf(nonce, sizeof nonce);
    prop.proposals[0] = (struct ike_proposal){
        .number = 1, .protocol = IKE_PROTO_ESP, .spi_size = 4,
        .spi = { (uint8_t)(spi >> 24), (uint8_t)(spi >> 16),
                 (uint8_t)(spi >> 8), (uint8_t)spi },
        .ntransforms = 3,
        .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                        { IKE_TT_DH, IKE_DH_CURVE25519, 0 },
                        { IKE_TT_ESN, IKE_ESN_YES, 0 } } };
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_sa(&w, &prop);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, 32);
    ike_w_ts_any(&w, IKE_PL_TSI);
    ike_w_ts_any(&w, IKE_PL_TSR);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    sodium_memzero(priv, sizeof priv);
    return peer_msg(sa, IKE_CREATE_CHILD_SA, true, sa->req.mid, chain, clen,
                    msg, ctr);
}

/* Initiator: the peer answers zike's rekey with the SPI of another peer's
 * outbound SA.  zike installs nothing, deletes the peer's half, and asks
 * again; the second answer installs. */
static void spi_collision_initiator(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE], copy[IKE_MAX_MESSAGE];
    uint8_t chain[1024], pub[32], priv[32];
    struct ike_sa *sa = established();
    struct route from = { 0 };
    struct ike_message m;
    struct ike_delete d;
    struct child_sa *c;
    uint32_t first_spi_in;
    zesp_policy pol;
    uint64_t ctr = 1;
    size_t len, clen;

    z.now = 5000;
    z.joined[0].retry_at = UINT64_MAX;
    other_outbound();
    ike_x25519_keypair(pub, priv);
    clen = child_request(chain, sizeof chain, true, pub);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK((c = sa->children) != NULL && count_sas() == 3);
    nsent = 0;
    c->want_rekey = true;
    ike_tick(&z);
    CHECK(sa->req.kind == REQ_CHILD && nsent == 1);
    first_spi_in = sa->req.spi_in;
    len = child_answer(sa, 0x6001, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(z.stats.spi_collisions == 1);
    CHECK(count_sas() == 3 && other_intact());
    /* The peer's half goes: a DELETE of the inbound SPI zike offered. */
    CHECK(sa->req.kind == REQ_DELETE_CHILD && nsent == 2);
    CHECK(open_sent(sa, 1, &m, copy) == IKE_OK &&
          ike_find(&m, IKE_PL_DELETE) != NULL &&
          ike_parse_delete(ike_find(&m, IKE_PL_DELETE), &d) == IKE_OK &&
          d.count == 1 && ((uint32_t)d.spis[0] << 24 | d.spis[1] << 16 |
                           d.spis[2] << 8 | d.spis[3]) ==
                              first_spi_in);
    len = peer_msg(sa, IKE_INFORMATIONAL, true, sa->req.mid,
                   (const uint8_t *)"", 1, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(sa->req.kind == REQ_NONE);
    /* Asked again after a short delay, with a fresh SPI. */
    z.now += CHILD_RETRY_TEST_MS;
    ike_tick(&z);
    CHECK(sa->req.kind == REQ_CHILD && sa->req.spi_in != first_spi_in);
    len = child_answer(sa, 0x6003, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 5 && other_intact());
    CHECK(zesp_policy_get(z.sad, "pol", &pol) == 0 && pol.out_spi == 0x6003);
    sodium_memzero(priv, sizeof priv);
    z.joined[0].retry_at = 0;
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* TEMPORARY_FAILURE for a new child SA: zike asks again, although nothing
 * asks it to any more (the ACQUIRE is cleared here, as the child SA of an
 * IKE_AUTH has none). */
static void temporary_failure_retried(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    struct ike_sa *sa = established();
    struct route from = { 0 };
    uint8_t chain[16];
    struct ike_writer w;
    uint64_t ctr = 1;
    size_t len, clen;

    z.now = 5000;
    z.joined[0].retry_at = UINT64_MAX;
    zike_policy_in(&z, "pol", "peer", 0, 0);
    spd_acquire(z.sad, "pol");
    ike_tick(&z);
    CHECK(sa->req.kind == REQ_CHILD && sa->req.old_spi_in == 0);
    CHECK_OK(zesp_policy_acquire_done(z.sad, "pol"));
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TEMPORARY_FAILURE, NULL, 0, NULL,
                 0);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    len = peer_msg(sa, IKE_CREATE_CHILD_SA, true, sa->req.mid, chain, clen,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(sa->req.kind == REQ_NONE);
    z.now += CHILD_RETRY_TEST_MS;
    ike_tick(&z);
    CHECK(sa->req.kind == REQ_CHILD && strcmp(sa->req.policy, "pol") == 0);
    len = child_answer(sa, 0x6004, msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(count_sas() == 2);
    z.joined[0].retry_at = 0;
    harness_reset();
    memset(&z.stats, 0, sizeof z.stats);
}

/* The first notify of an opened message, by its bytes. */
static bool has_notify(const struct ike_message *m, uint16_t type)
{
    struct ike_notify n;

    return ike_find_notify(m, type, &n);
}

static size_t count_payloads(const struct ike_message *m, uint8_t type)
{
    size_t k = 0;

    for (size_t i = 0; i < m->npayloads; i++)
        k += m->payloads[i].type == type;
    return k;
}

/* The group key of the KD in an opened answer on sa, and its SPI. */
static uint32_t answer_key(struct ike_sa *sa, const struct ike_message *m,
                           uint8_t key[ZESP_KEYBYTES])
{
    uint8_t gsk_w[GSA_GSK_W_BYTES];
    struct gsa_kd kd;

    if (kd_parse(ike_find(m, IKE_PL_KD), &kd) != IKE_OK ||
        gsa_gsk_w(gsk_w, sa->keys->sk_d) != 0 ||
        gsa_unwrap(key, gsk_w, kd.spi, kd.wrapped) != 0)
        kd.spi = 0;
    sodium_memzero(gsk_w, sizeof gsk_w);
    return kd.spi;
}

/* rekey-on-join (backward access control): a member that joins a group
 * with members gets a key made at its registration, never the key the
 * others held; the others are pushed the new one (GSA_INBAND_REKEY, 42). */
static void group_rekey_on_join(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[256], k1[ZESP_KEYBYTES], k2[ZESP_KEYBYTES];
    struct ike_sa *a = established(), *b = established();
    struct zike_group *gc = &harness_groups[0];
    struct gcks_group *g = &z.groups[0];
    struct route from = { 0 };
    struct ike_message m;
    struct gsa_policy gp;
    uint64_t ca = 1, cb = 1;
    uint64_t rekeys, joined_at;
    uint32_t spi1, spi2;
    size_t len, clen;

    snprintf(b->peer_name, sizeof b->peer_name, "other");
    snprintf(gc->receivers[1].id, sizeof gc->receivers[1].id, "other.example");
    gc->nreceivers = 2;
    gc->rekey_on_join = true;
    z.now = 10000;
    CHECK(g->nmembers == 0 && group_rekey(&z, "g") == 0);  /* no Sender IDs out */
    rekeys = g->rekeys;
    /* The first member: nobody held the current key, it is given as is. */
    clen = registration(chain, sizeof chain, "g", IKE_N_GROUP_SENDER);
    len = peer_msg(a, IKE_GSA_REGISTRATION, false, a->mid_in, chain, clen,
                   msg, &ca);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(a, nsent - 1, &m, msg) == IKE_OK);
    spi1 = answer_key(a, &m, k1);
    CHECK(spi1 != 0 && spi1 == g->spi && g->rekeys == rekeys);
    /* A sender whose receivers do not hold the key yet (as after the key
     * server's restart) waits for them as a push would, 5 s from the
     * key's making, not only the group's 1 s. */
    CHECK(gsa_parse(ike_find(&m, IKE_PL_GSA), &gp) == IKE_OK && gp.atd == 5);
    /* The second, later: a new key, made once it asked. */
    z.now = joined_at = 20000;
    clen = registration(chain, sizeof chain, "g", 0);
    len = peer_msg(b, IKE_GSA_REGISTRATION, false, b->mid_in, chain, clen,
                   msg, &cb);
    ike_handle(&z, &from, msg, len);
    CHECK(open_sent(b, nsent - 1, &m, msg) == IKE_OK);
    CHECK(count_payloads(&m, IKE_PL_KD) == 1 &&
          count_payloads(&m, IKE_PL_GSA) == 1);
    spi2 = answer_key(b, &m, k2);
    CHECK(spi2 != 0 && spi2 != spi1 && spi2 == g->spi);
    CHECK(g->created >= joined_at && g->rekeys == rekeys + 1);
    CHECK(sodium_memcmp(k1, k2, ZESP_KEYBYTES) != 0);
    CHECK(g->nmembers == 2);
    /* The first member is pushed the new key. */
    nsent = 0;
    a->mid_in = a->mid_out;
    ike_tick(&z);
    CHECK(nsent == 1 && a->req.kind == REQ_GSA_PUSH &&
          sent[0][IKE_EXCHANGE_AT] == 42);         /* RFC 9838 9.2 */
    a->req.kind = REQ_NONE;
    /* Registering again as a member already there: no new key. */
    len = peer_msg(b, IKE_GSA_REGISTRATION, false, b->mid_in, chain, clen,
                   msg, &cb);
    ike_handle(&z, &from, msg, len);
    CHECK(g->rekeys == rekeys + 1 && g->spi == spi2);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
    gc->rekey_on_join = false;
    gc->nreceivers = 1;
    g->nmembers = 0;
    harness_reset();
}

/* A member honours the delays it is given (RFC 9838 4.4.3.1.1): as a
 * sender it moves to a new SA ATD after receiving it; the old SA is kept
 * DTD after that for what is still in flight.  Receiving on a new SA
 * starts at once.  And leaving says REGISTRATION_FAILED (49). */
static void group_member_delays(void)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[2048], key[ZESP_KEYBYTES];
    struct ike_sa *sa = established();
    struct gm_group *gg = &z.joined[0];
    struct route from = { 0 };
    struct ike_message m;
    zesp_sa_info info;
    zesp_policy pol;
    uint64_t ctr = 1, t0;
    size_t len, clen;

    answer_atd = 3;
    answer_dtd = 4;
    z.now = 50000;
    randombytes_buf(key, sizeof key);
    sa->req.kind = REQ_GSA_REGISTER;
    sa->req.exchange = IKE_GSA_REGISTRATION;
    sa->req.mid = sa->mid_out++;
    sa->req.resend_at = UINT64_MAX;
    snprintf(sa->req.group, sizeof sa->req.group, "j");
    clen = group_answer(sa, chain, sizeof chain, 0x7200, key, false, 7, false);
    len = peer_msg(sa, IKE_GSA_REGISTRATION, true, sa->req.mid, chain, clen,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(gg->registered);
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7200, ZESP_DIR_IN, 2, &info) == 0);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi != 0x7200);
    z.now += 2999;
    ike_tick(&z);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi != 0x7200);
    z.now += 1;
    ike_tick(&z);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7200);

    /* A push: received on at once, sent on after ATD, the old SA kept
     * DTD longer. */
    t0 = z.now;
    clen = group_answer(sa, chain, sizeof chain, 0x7300, key, false, 0, true);
    len = peer_msg(sa, IKE_GSA_INBAND_REKEY, false, sa->mid_in, chain, clen,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7300, ZESP_DIR_IN, 1, &info) == 0);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7200);
    z.now = t0 + 2999;
    ike_tick(&z);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7200);
    z.now = t0 + 3000;
    ike_tick(&z);
    CHECK(zesp_policy_get(z.sad, "j", &pol) == 0 && pol.out_spi == 0x7300);
    z.now = t0 + 3000 + 3999;
    ike_tick(&z);
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7200, ZESP_DIR_IN, 2, &info) == 0);
    z.now = t0 + 7000;
    ike_tick(&z);
    CHECK(zesp_sa_info_get_sender(z.sad, 0x7200, ZESP_DIR_IN, 2, &info) != 0);
    CHECK(zesp_sa_info_get(z.sad, 0x7200, ZESP_DIR_OUT, &info) != 0);

    /* Leaving: GSA_REGISTRATION with N(REGISTRATION_FAILED), 49. */
    nsent = 0;
    sa->mid_in = sa->mid_out;
    CHECK(group_leave(&z, "j") == 0);
    ike_tick(&z);
    CHECK(nsent == 1 && sa->req.kind == REQ_GSA_LEAVE &&
          sent[0][IKE_EXCHANGE_AT] == 40);
    CHECK(open_sent(sa, 0, &m, msg) == IKE_OK && has_notify(&m, 49) &&
          IKE_N_REGISTRATION_FAILED == 49);
    sa->req.kind = REQ_NONE;
    gg->want_leave = false;
    answer_atd = 0;
    answer_dtd = 1;
    sodium_memzero(key, sizeof key);
    memset(gg->sas, 0, sizeof gg->sas);
    gg->registered = false;
    harness_reset();
}

int main(void)
{
    harness_setup();
    RUN(create_child_and_cache);
    RUN(child_without_ke_refused);
    RUN(malformed_and_critical);
    RUN(delete_child);
    RUN(group_server);
    RUN(group_member);
    RUN(reflected_requests);
    RUN(reflected_responses);
    RUN(reflected_init_and_auth);
    RUN(policy_of_another_peer);
    RUN(identity_type);
    RUN(spi_collision_responder);
    RUN(spi_collision_initiator);
    RUN(temporary_failure_retried);
    RUN(group_rekey_on_join);
    RUN(group_member_delays);
    group_free(&z);
    zesp_sad_free(z.sad);
    return test_done();
}
