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
#include "test.h"
#include "zike_harness.h"

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

static size_t child_request(uint8_t *chain, size_t cap, bool with_ke,
                            uint8_t *pub)
{
    struct ike_sa_payload sa = { .nproposals = 1 };
    struct ike_proposal *p = &sa.proposals[0];
    struct ike_writer w;
    uint8_t nonce[32];
    size_t len = 0;

    randombytes_buf(nonce, sizeof nonce);
    *p = (struct ike_proposal){ .number = 1, .protocol = IKE_PROTO_ESP,
                                .spi_size = 4, .spi = { 0, 0, 0x44, 0x44 } };
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
    ike_w_notify(&w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)"pol", 3);
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    return len;
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
    struct ike_sa *sa = established();
    struct ike_message m;
    struct route from = { 0 };
    uint64_t ctr = 1;
    size_t len;
    /* A KE payload with 3 bytes of body: too short for its group. */
    const uint8_t bad_ke[] = { IKE_PL_KE, 0, 0, 0, 7, 0, 31, 0 };
    /* A payload whose length runs past the end. */
    const uint8_t overrun[] = { IKE_PL_NONCE, 0, 0, 0, 99, 1, 2, 3 };
    /* An unknown payload (type 200) marked critical. */
    const uint8_t critical[] = { 200, 0, 0x80, 0, 4 };

    len = peer_msg(sa, IKE_CREATE_CHILD_SA, false, 0, bad_ke, sizeof bad_ke,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1);
    CHECK(open_sent(sa, 0, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_INVALID_SYNTAX);
    len = peer_msg(sa, IKE_INFORMATIONAL, false, 1, overrun, sizeof overrun,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 2);
    CHECK(open_sent(sa, 1, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_INVALID_SYNTAX);
    len = peer_msg(sa, IKE_INFORMATIONAL, false, 2, critical, sizeof critical,
                   msg, &ctr);
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 3);
    CHECK(open_sent(sa, 2, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
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
    CHECK(open_sent(sa, nsent - 1, &m, msg) == IKE_OK);
    CHECK(first_notify(&m) == 0);
    CHECK(gsa_parse(ike_find(&m, IKE_PL_GSA), &pol) == IKE_OK);
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

/* What a key server would answer for group "j": policy, wrapped key. */
static size_t group_answer(struct ike_sa *sa, uint8_t *chain, size_t cap,
                           uint32_t spi, const uint8_t *key, bool spoil,
                           uint32_t sid, bool idg)
{
    struct gsa_policy pol = { .spi = spi, .encr = 28, .esn = true,
                              .lifetime = 600, .atd = 0, .dtd = 1,
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

int main(void)
{
    harness_setup();
    RUN(create_child_and_cache);
    RUN(child_without_ke_refused);
    RUN(malformed_and_critical);
    RUN(delete_child);
    RUN(group_server);
    RUN(group_member);
    group_free(&z);
    zesp_sad_free(z.sad);
    return test_done();
}
