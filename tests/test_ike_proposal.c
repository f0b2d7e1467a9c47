/*
 * Which AEAD zike negotiates (ike/proposal.c), without sockets: the test
 * plays the initiating peer against a daemon state.  Checked: with no
 * AEAD configured zike offers AES-256-GCM first where this CPU has AES
 * instructions, then ChaCha20-Poly1305, and ChaCha20-Poly1305 alone
 * elsewhere; as responder, in IKE_SA_INIT and in CREATE_CHILD_SA, it takes
 * the first AEAD of the initiator's list that it runs fast, so both orders
 * are honoured, the SAs it installs use that AEAD, and an initiator that
 * offers only ChaCha20-Poly1305 gets it; with an AEAD configured it takes
 * that one or refuses (NO_PROPOSAL_CHOSEN, no SA); a responder's answer
 * naming two AEADs, or one that was not offered, is refused.
 */
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proposals.h"
#include "test.h"
#include "zike_harness.h"

#define AES IKE_ENCR_AES_GCM_16
#define CHACHA IKE_ENCR_CHACHA20_POLY1305

static bool have_aes(void)
{
    return zesp_transform_available(ZESP_AES256GCM);
}

static struct encr_list list2(uint16_t a, uint16_t b)
{
    struct encr_list l = { { a, b }, 2 };

    return l;
}

/* The AEAD of the single proposal of the SA payload in m, or 0. */
static uint16_t chosen_encr(const struct ike_message *m)
{
    const struct ike_payload *p = ike_find(m, IKE_PL_SA);
    struct ike_sa_payload sa;
    uint16_t encr = 0;

    if (p == NULL || ike_parse_sa(p, &sa) != IKE_OK || sa.nproposals != 1)
        return 0;
    for (size_t i = 0; i < sa.proposals[0].ntransforms; i++)
        if (sa.proposals[0].transforms[i].type == IKE_TT_ENCR) {
            if (encr != 0)
                return 0;           /* a choice names one */
            encr = sa.proposals[0].transforms[i].id;
        }
    return encr;
}

static uint16_t first_notify(const struct ike_message *m)
{
    const struct ike_payload *p = ike_find(m, IKE_PL_NOTIFY);
    struct ike_notify n;

    return p && ike_parse_notify(p, &n) == IKE_OK ? n.type : 0;
}

struct same {
    uint32_t transform;
    size_t n;
    bool mixed;
};

static int note_transform(const zesp_sa_info *info, void *arg)
{
    struct same *s = arg;

    s->mixed |= s->n && s->transform != info->transform;
    s->transform = info->transform;
    s->n++;
    return 0;
}

/* The transform of every SA in the SAD, if they all have the same; 0 if
 * there are none. */
static uint32_t installed_transform(void)
{
    struct same s = { 0, 0, false };

    zesp_sa_foreach(z.sad, note_transform, &s);
    return s.n && !s.mixed ? s.transform : 0;
}

static void default_offer_fastest_first(void)
{
    struct encr_list l = encr_choice(0);
    struct ike_sa_payload sa;

    if (have_aes()) {
        CHECK(l.n == 2 && l.id[0] == AES && l.id[1] == CHACHA);
    } else {
        CHECK(l.n == 1 && l.id[0] == CHACHA);
    }
    l = encr_choice(ZESP_CHACHA20_POLY1305);
    CHECK(l.n == 1 && l.id[0] == CHACHA);
    /* On the wire in that order, AES-GCM with its key length. */
    l = list2(AES, CHACHA);
    ike_proposal(&sa, &l, NULL, 0, IKE_PROTO_IKE, false, false, false);
    CHECK(sa.nproposals == 1 && sa.proposals[0].ntransforms == 4);
    CHECK(sa.proposals[0].transforms[0].type == IKE_TT_ENCR &&
          sa.proposals[0].transforms[0].id == AES &&
          sa.proposals[0].transforms[0].key_bits == 256);
    CHECK(sa.proposals[0].transforms[1].type == IKE_TT_ENCR &&
          sa.proposals[0].transforms[1].id == CHACHA &&
          sa.proposals[0].transforms[1].key_bits == 0);
}

/* What an initiator accepts back: one AEAD, one it offered. */
static void answer_must_name_one_offered(void)
{
    struct encr_list both = list2(AES, CHACHA), chacha = encr_one(CHACHA);
    struct ike_sa_payload sa;
    uint16_t encr;
    bool esn;

    ike_proposal(&sa, &both, NULL, 0, IKE_PROTO_IKE, false, false, false);
    CHECK(proposal_pick(&sa.proposals[0], IKE_PROTO_IKE, &both, false, false,
                        &esn, &encr) && encr == AES);
    CHECK(!proposal_pick(&sa.proposals[0], IKE_PROTO_IKE, &both, true, false,
                         &esn, &encr));
    ike_proposal(&sa, &both, (const uint8_t *)"\0\0\1\0", 4, IKE_PROTO_ESP,
                 true, true, false);
    CHECK(proposal_pick(&sa.proposals[0], IKE_PROTO_ESP, &chacha, false,
                        true, &esn, &encr) && encr == CHACHA && esn);
    sa.proposals[0].transforms[1].id = AES;         /* AES twice */
    CHECK(!proposal_pick(&sa.proposals[0], IKE_PROTO_ESP, &chacha, false,
                         true, &esn, &encr));
}

/* An IKE_SA_INIT request offering encr, handed to zike; its response's
 * chosen AEAD, or 0. */
static uint16_t init_exchange(const struct encr_list *encr)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    struct ike_header h = { .exchange = IKE_SA_INIT,
                            .flags = IKE_FLAG_INITIATOR };
    uint8_t pub[32], priv[32], nonce[32];
    struct ike_sa_payload sa;
    struct ike_message m;
    struct ike_writer w;
    struct route from = { 0 };
    size_t len = 0;
    uint16_t got = 0;

    randombytes_buf(h.spi_i, sizeof h.spi_i);
    randombytes_buf(nonce, sizeof nonce);
    ike_x25519_keypair(pub, priv);
    ike_proposal(&sa, encr, NULL, 0, IKE_PROTO_IKE, false, false, false);
    ike_w_init(&w, msg, sizeof msg, &h);
    ike_w_sa(&w, &sa);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    ike_w_nonce(&w, nonce, sizeof nonce);
    CHECK(ike_w_finish(&w, &len) == IKE_OK);
    nsent = 0;
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1);
    if (nsent == 1 && ike_parse(sent[0], sent_len[0], &m) == IKE_OK)
        got = ike_find(&m, IKE_PL_SA) ? chosen_encr(&m) : first_notify(&m);
    sodium_memzero(priv, sizeof priv);
    harness_reset();
    return got;
}

static void init_responder_takes_initiators_first(void)
{
    struct encr_list l;

    l = list2(CHACHA, AES);
    CHECK(init_exchange(&l) == CHACHA);
    l = list2(AES, CHACHA);
    CHECK(init_exchange(&l) == (have_aes() ? AES : CHACHA));
    l = encr_one(CHACHA);
    CHECK(init_exchange(&l) == CHACHA);
    l = encr_one(AES);
    CHECK(init_exchange(&l) == (have_aes() ? AES : IKE_N_NO_PROPOSAL_CHOSEN));
}

/* A CREATE_CHILD_SA offering encr on an established IKE SA; the AEAD of
 * the response, or its notify. */
static uint16_t child_exchange(const struct encr_list *encr)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    uint8_t chain[1024], nonce[32], pub[32], priv[32];
    struct ike_sa *ike;
    struct ike_sa_payload sa;
    struct ike_message m;
    struct ike_writer w;
    struct route from = { 0 };
    uint64_t ctr = 1;
    size_t len = 0, clen = 0;
    uint16_t got = 0;

    randombytes_buf(chain, 32);
    ike = harness_established(chain);
    randombytes_buf(nonce, sizeof nonce);
    ike_x25519_keypair(pub, priv);
    ike_proposal(&sa, encr, (const uint8_t *)"\0\0\x44\x44", 4, IKE_PROTO_ESP,
                 true, true, true);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_sa(&w, &sa);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    ike_w_ts_any(&w, IKE_PL_TSI);
    ike_w_ts_any(&w, IKE_PL_TSR);
    ike_w_notify(&w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)"pol", 3);
    CHECK(ike_w_finish(&w, &clen) == IKE_OK);
    len = harness_seal(ike, IKE_CREATE_CHILD_SA, false, 0, chain, clen, msg,
                       &ctr);
    CHECK(len != 0);
    nsent = 0;
    ike_handle(&z, &from, msg, len);
    CHECK(nsent == 1);
    if (nsent == 1) {
        memcpy(msg, sent[0], sent_len[0]);
        if (ike_parse(msg, sent_len[0], &m) == IKE_OK &&
            ike_sk_open(msg, sent_len[0], &m, ike->keys, false) == IKE_OK)
            got = ike_find(&m, IKE_PL_SA) ? chosen_encr(&m) : first_notify(&m);
    }
    sodium_memzero(priv, sizeof priv);
    return got;
}

static void child_responder_takes_initiators_first(void)
{
    uint32_t configured = harness_peers[0].esp_transform;
    struct encr_list l;

    harness_peers[0].esp_transform = 0;                 /* not configured: negotiated */
    l = list2(CHACHA, AES);
    CHECK(child_exchange(&l) == CHACHA);
    CHECK(installed_transform() == ZESP_CHACHA20_POLY1305);
    harness_reset();
    l = list2(AES, CHACHA);
    CHECK(child_exchange(&l) == (have_aes() ? AES : CHACHA));
    CHECK(installed_transform() ==
          (have_aes() ? ZESP_AES256GCM : ZESP_CHACHA20_POLY1305));
    harness_reset();
    /* An initiator without AES instructions offers ChaCha20 alone. */
    l = encr_one(CHACHA);
    CHECK(child_exchange(&l) == CHACHA);
    CHECK(installed_transform() == ZESP_CHACHA20_POLY1305);
    harness_reset();
    harness_peers[0].esp_transform = configured;
}

static void child_configured_aead_only(void)
{
    uint32_t configured = harness_peers[0].esp_transform;
    struct encr_list l;

    harness_peers[0].esp_transform = ZESP_CHACHA20_POLY1305;
    l = list2(AES, CHACHA);
    CHECK(child_exchange(&l) == CHACHA);
    CHECK(installed_transform() == ZESP_CHACHA20_POLY1305);
    harness_reset();
    l = encr_one(AES);
    CHECK(child_exchange(&l) == IKE_N_NO_PROPOSAL_CHOSEN);
    CHECK(installed_transform() == 0);
    harness_reset();
    harness_peers[0].esp_transform = configured;
}

/* A responder's ESP answer holds the ESN choice we offered, our only one
 * (RFC 7296 2.7); offered to us, either is taken. */
static void answer_esn_must_be_offered(void)
{
    struct encr_list chacha = encr_one(CHACHA);
    struct ike_sa_payload sa;
    uint16_t encr;
    bool esn;

    for (int offered = 0; offered <= 1; offered++) {
        for (int answered = 0; answered <= 1; answered++) {
            ike_proposal(&sa, &chacha, (const uint8_t *)"\0\0\1\0", 4,
                         IKE_PROTO_ESP, true, answered, false);
            esn = !answered;
            CHECK(proposal_pick(&sa.proposals[0], IKE_PROTO_ESP, &chacha,
                                true, offered, &esn, &encr) ==
                  (offered == answered));
            if (offered == answered)
                CHECK(esn == (bool)offered);
            CHECK(proposal_pick(&sa.proposals[0], IKE_PROTO_ESP, &chacha,
                                false, offered, &esn, &encr) &&
                  esn == (bool)answered);
        }
    }
}

int main(void)
{
    harness_setup();
    printf("     AES instructions here: %s\n", have_aes() ? "yes" : "no");
    RUN(default_offer_fastest_first);
    RUN(answer_must_name_one_offered);
    RUN(init_responder_takes_initiators_first);
    RUN(child_responder_takes_initiators_first);
    RUN(child_configured_aead_only);
    RUN(answer_esn_must_be_offered);
    group_free(&z);
    zesp_sad_free(z.sad);
    return test_done();
}
