/*
 * The child SA part of IKE_AUTH and CREATE_CHILD_SA (RFC 7296 1.3.1), both
 * roles: the policy asked for (a ZESP_POLICY notify beside traffic
 * selectors that are echoed, 2.9), the proposal chosen (proposals.c), the
 * KEYMAT (2.17) and the two SAs in the SAD (install.c); the DELETE that
 * asks the peer to remove one (1.4.1); and the Nonce and KE of a
 * CREATE_CHILD_SA response, which an IKE SA rekey reads the same way.
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

/* The policy named in a ZESP_POLICY notify, or NULL. */
static bool find_policy_notify(const struct ike_message *m, char *out)
{
    for (size_t i = 0; i < m->npayloads; i++) {
        struct ike_notify n;
        if (m->payloads[i].type == IKE_PL_NOTIFY &&
            ike_parse_notify(&m->payloads[i], &n) == IKE_OK &&
            n.type == IKE_N_ZESP_POLICY && n.len > 0 &&
            n.len < ZESP_NAME_MAX && memchr(n.data, 0, n.len) == NULL) {
            memcpy(out, n.data, n.len);
            out[n.len] = '\0';
            return true;
        }
    }
    return false;
}

/* The policy a child SA request names (ZESP_POLICY notify; else the
 * peer's first), into policy: true if the peer may have it.  Checked
 * before anything of the policy is touched. */
bool child_policy(struct zike *z, const struct zike_peer *peer,
                  const struct ike_message *m, char *policy)
{
    if (!find_policy_notify(m, policy))
        snprintf(policy, ZESP_NAME_MAX, "%s", peer->policies[0]);
    if (zike_conf_serves(peer, policy))
        return true;
    zike_log_limited(z, &z->peer_log[PEER_LOG_POLICY_NOT_SERVED],
                     LOG_WARNING, "peer %s: asked for a child SA of policy "
                     "'%s', which it does not serve: refused", peer->name,
                     policy);
    return false;
}

/* The most of one TS payload zike echoes: a few selectors, as peers send
 * them (an IPv6 one is 40 bytes), with room to spare in an answer of
 * 4096 bytes beside the SA, Nonce, KE (or IDr and AUTH) and notifies. */
#define CHILD_TS_ECHO_MAX 1024U

/* The peer's traffic selectors, which w_child_tail echoes: each there
 * parses (RFC 7296 3.13) and fits in the answer; else *fail says why,
 * checked before a child SA is made (one made and not answered would
 * take the request's message ID and leave the peer without it). */
bool child_ts_fit(struct zike *z, const struct zike_peer *peer,
                  const struct ike_message *m, uint16_t *fail)
{
    static const uint8_t types[] = { IKE_PL_TSI, IKE_PL_TSR };

    for (size_t i = 0; i < sizeof types; i++) {
        const struct ike_payload *ts = ike_find(m, types[i]);

        if (ts == NULL)
            continue;
        if (ike_check_ts(ts) != IKE_OK)
            *fail = IKE_N_INVALID_SYNTAX;
        else if (ts->len > CHILD_TS_ECHO_MAX)
            *fail = IKE_N_TS_UNACCEPTABLE;
        else
            continue;
        zike_log_limited(z, &z->peer_log[PEER_LOG_TS_REFUSED], LOG_WARNING,
                         "peer %s: child SA refused: its traffic selectors %s",
                         peer->name, *fail == IKE_N_INVALID_SYNTAX
                             ? "do not parse"
                             : "are more than zike echoes");
        return false;
    }
    return true;
}

void w_child_tail(struct ike_writer *w, const char *policy, bool lanes,
                  const struct ike_message *req)
{
    const struct ike_payload *tsi = req ? ike_find(req, IKE_PL_TSI) : NULL;
    const struct ike_payload *tsr = req ? ike_find(req, IKE_PL_TSR) : NULL;

    if (tsi && tsr) {
        ike_w_raw(w, IKE_PL_TSI, tsi->body, tsi->len);
        ike_w_raw(w, IKE_PL_TSR, tsr->body, tsr->len);
    } else {
        ike_w_ts_any(w, IKE_PL_TSI);
        ike_w_ts_any(w, IKE_PL_TSR);
    }
    ike_w_notify(w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)policy,
                 strlen(policy));
    if (lanes)
        ike_w_notify(w, 0, IKE_N_ZESP_LANES, NULL, 0, NULL, 0);
}

/* The ESP SAs' flags: ESN as chosen; lanes if this peer's configuration
 * wants them and the other end said so too (a standard peer never does). */
static uint32_t child_flags(const struct zike_peer *peer,
                            const struct ike_message *m, bool esn)
{
    struct ike_notify n;
    uint32_t flags = esn ? 0 : ZESP_SA_NO_ESN;

    if (peer->lanes && ike_find_notify(m, IKE_N_ZESP_LANES, &n))
        flags |= ZESP_SA_LANES;
    return flags;
}

static int keymat_of(uint8_t keymat[2 * ZESP_KEYBYTES],
                     const struct ike_sa *sa, const struct keymat_in *k)
{
    return ike_child_keymat(keymat, 2 * ZESP_KEYBYTES, sa->keys->sk_d,
                            k->shared, k->ni, k->ni_len, k->nr, k->nr_len);
}

/* Responder side of a child SA, before any key exchange: the proposal
 * chosen, and each refusal that needs no key, so that a CREATE_CHILD_SA
 * refused costs no X25519.  Changes nothing; false: *fail says why. */
bool child_choose(struct zike *z, const struct ike_sa *sa,
                  const struct zike_peer *peer, const struct ike_message *m,
                  const char *policy, struct child_choice *ch, uint16_t *fail)
{
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    struct ike_sa_payload offer;

    *fail = 0;
    if (psa == NULL || ike_parse_sa(psa, &offer) != IKE_OK) {
        *fail = IKE_N_NO_PROPOSAL_CHOSEN;
        return false;
    }
    proposal_log(peer->name, "it offers", &offer);
    if (!pick_child(peer, &offer, false, &ch->spi_out, &ch->esn, &ch->number,
                    &ch->encr)) {
        *fail = IKE_N_NO_PROPOSAL_CHOSEN;
        return false;
    }
    if (!zike_conf_serves(peer, policy)) {
        *fail = IKE_N_TS_UNACCEPTABLE;
        return false;
    }
    if (!child_room(z, peer)) {
        *fail = IKE_N_NO_ADDITIONAL_SAS;
        return false;
    }
    if (child_spi_out_taken(z, sa, ch->spi_out)) {
        *fail = IKE_N_TEMPORARY_FAILURE;
        return false;
    }
    return true;
}

/* Responder side of a child SA (IKE_AUTH or CREATE_CHILD_SA), once
 * child_choose chose ch: install the inbound SA, write SA (and the tail)
 * into w; the outbound SA is installed now and carries the policy once
 * the initiator is known to hold the new child. */
struct child_sa *child_respond(struct zike *z, struct ike_sa *sa,
                               const struct zike_peer *peer,
                               const struct ike_message *m, const char *policy,
                               const struct child_choice *ch,
                               const struct keymat_in *k,
                               struct ike_writer *w, uint16_t *fail)
{
    struct ike_sa_payload chosen;
    uint8_t keymat[2 * ZESP_KEYBYTES], spi[4];
    uint32_t spi_in;
    struct encr_list one;
    struct child_sa *c;

    *fail = 0;
    spi_in = zike_new_spi(z);
    if (keymat_of(keymat, sa, k) != 0 ||
        (c = child_install(z, sa, policy, spi_in, ch->spi_out, ch->encr,
                           child_flags(peer, m, ch->esn), keymat, false,
                           false)) == NULL) {
        sodium_memzero(keymat, sizeof keymat);
        *fail = IKE_N_TEMPORARY_FAILURE;
        return NULL;
    }
    sodium_memzero(keymat, sizeof keymat);
    {
        /* A policy with no outbound SA yet has nothing older to fall back
         * on: the new one serves it now.  Otherwise the old SA keeps
         * carrying it until the initiator is known to hold the new one
         * (child_peer_progressed), not after a delay guessed for it: an
         * initiator held up, or whose answer was lost, installs it later,
         * and a message sent on it before found no SA there.  At the
         * latest when the old child retires (child_retire_rekeyed): by
         * then the initiator has taken our answer or given up the IKE SA,
         * and the old child is going either way. */
        zesp_policy pol;
        if (zesp_policy_get(z->sad, policy, &pol) != 0 || pol.out_spi == 0)
            child_activate(z, sa, c);
        else {
            c->activate_at = z->now + ike_retransmit_span(z) +
                             z->conf.rekey_overlap_ms;
            c->answered_mid = m->hdr.message_id;
        }
    }
    put32(spi, spi_in);
    one = encr_one(ch->encr);
    ike_proposal(&chosen, &one, spi, 4, IKE_PROTO_ESP, true, ch->esn,
                 k->shared != NULL);
    chosen.proposals[0].number = ch->number;
    proposal_log(peer->name, "we choose", &chosen);
    ike_w_sa(w, &chosen);
    return c;
}

/* What the configuration no longer allows of an answer that chose a
 * proposal (a reload since we asked), or NULL.  The AEAD and ESN choice
 * are pick_child's; lanes the peer made that the file now refuses would
 * leave its messages refused here (a Sender ID on an SA without lanes). */
static const char *answer_unfit(const struct zike_peer *peer,
                                const struct ike_message *m,
                                const struct ike_sa_payload *got,
                                const char *policy, uint32_t *spi_out,
                                bool *esn, uint16_t *encr)
{
    struct ike_notify n;
    uint8_t number;

    if (!zike_conf_serves(peer, policy))
        return "the policy is no longer served";
    if (!pick_child(peer, got, true, spi_out, esn, &number, encr))
        return "it chose what the configuration does not allow";
    if (!peer->lanes && ike_find_notify(m, IKE_N_ZESP_LANES, &n))
        return "it made lanes, which the configuration does not allow";
    return NULL;
}

/* Initiator: the child part of a response (IKE_AUTH or CREATE_CHILD_SA).
 * NULL, and *why, when none is made. */
struct child_sa *child_complete(struct zike *z, struct ike_sa *sa,
                                const struct zike_peer *peer,
                                const struct ike_message *m,
                                const char *policy, uint32_t spi_in,
                                const struct keymat_in *k,
                                enum child_untaken *why)
{
    const struct ike_payload *psa = ike_find(m, IKE_PL_SA);
    struct ike_sa_payload got;
    uint8_t keymat[2 * ZESP_KEYBYTES];
    uint32_t spi_out;
    uint16_t encr;
    bool esn;
    struct child_sa *c;
    uint16_t err = ike_error_notify(m);
    bool parsed = err == 0 && psa != NULL && ike_parse_sa(psa, &got) == IKE_OK;
    const char *unfit;

    *why = CHILD_NOT_MADE;
    if (parsed)
        proposal_log(peer->name, "it chose", &got);
    if (!parsed || got.nproposals != 1) {
        zike_log(LOG_WARNING, "peer %s: no child SA for policy %s "
                 "(notify %u)", peer->name, policy, err);
        return NULL;
    }
    /* It chose: the peer holds its half from now on. */
    if ((unfit = answer_unfit(peer, m, &got, policy, &spi_out, &esn,
                              &encr)) != NULL) {
        zike_log(LOG_WARNING, "peer %s: its child SA for policy %s not "
                 "taken: %s", peer->name, policy, unfit);
        *why = CHILD_UNFIT;
        return NULL;
    }
    if (child_spi_out_taken(z, sa, spi_out)) {
        *why = CHILD_COLLIDED;
        return NULL;
    }
    /* From here a failure is ours alone: the peer holds its half, and
     * would take our next request for the sign that we hold ours too
     * (its switch on evidence), unless our DELETE comes first. */
    *why = CHILD_NOT_INSTALLED;
    if (keymat_of(keymat, sa, k) != 0) {
        sodium_memzero(keymat, sizeof keymat);
        return NULL;
    }
    c = child_install(z, sa, policy, spi_in, spi_out, encr,
                      child_flags(peer, m, esn), keymat, true, false);
    sodium_memzero(keymat, sizeof keymat);
    if (c == NULL)
        return NULL;
    zike_log(LOG_NOTICE, "peer %s: child SA 0x%08x/0x%08x for policy %s "
             "installed", peer->name, c->spi_in, c->spi_out, policy);
    return c;
}

/* The Nonce and X25519 KE of a CREATE_CHILD_SA response (child or IKE
 * SA), and the shared secret with our half priv, which is wiped either
 * way. */
int ike_response_ke(const struct ike_message *m, uint8_t *priv,
                    uint8_t shared[IKE_X25519_BYTES], const uint8_t **nonce,
                    size_t *nonce_len)
{
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    struct ike_ke ke;
    int rc = -1;

    if (pn != NULL && pke != NULL &&
        ike_parse_nonce(pn, nonce, nonce_len) == IKE_OK &&
        ike_parse_ke(pke, &ke) == IKE_OK && ke.group == IKE_DH_CURVE25519 &&
        ike_x25519_shared(shared, priv, ke.data, ke.len) == 0)
        rc = 0;
    sodium_memzero(priv, IKE_X25519_BYTES);
    return rc;
}

/* DELETE of the child SA whose inbound SPI (ours) is spi_in: the peer
 * removes its half; ours goes when it answers. */
int child_delete_request(struct zike *z, struct ike_sa *sa, uint32_t spi_in)
{
    uint8_t chain[64], spi[4];
    struct ike_writer w;
    size_t len;

    put32(spi, spi_in);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, spi, 1);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    sa->req.del_spi = spi_in;
    return ike_request(z, sa, REQ_DELETE_CHILD, IKE_INFORMATIONAL, chain, len);
}

struct child_offer child_offer_of(const struct zike_peer *peer)
{
    return (struct child_offer){ peer->esp_transform, peer->esn,
                                 peer->lanes };
}

/* An answer that chose a proposal, not taken (child_complete, why): the
 * peer holds its half and sends on it soon, so a DELETE of the inbound
 * SPI we offered (spi_in) takes it out.  The old child of a rekey is
 * replaced to the peer (it refuses to rekey it again), so it retires as a
 * rekey's responder retires it.  A new child SA of the policy is asked
 * for, with what the configuration says now, after an SPI collision or
 * a child we could not install (the SAD full: its slots free again as
 * lingering SAs go), or when a reload since we asked changed what we
 * offer and the policy is still served, or when nothing newer than the
 * old child is left (again: a collision settled against the peer's own
 * child); not when the peer chose what we never offered, which it would
 * do again. */
void child_answer_untaken(struct zike *z, struct ike_sa *sa,
                          enum child_untaken why,
                          const struct child_offer *asked, const char *policy,
                          uint32_t spi_in, uint32_t old_spi_in, bool again)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    struct child_sa *old = old_spi_in ? child_by_in(sa, old_spi_in) : NULL;
    char pol[ZESP_NAME_MAX];
    bool changed = false;

    if (peer != NULL) {
        struct child_offer now = child_offer_of(peer);
        changed = now.esp != asked->esp || now.esn != asked->esn ||
                  now.lanes != asked->lanes;
    }
    snprintf(pol, sizeof pol, "%s", policy);   /* may be sa->req's */
    if (old != NULL)
        child_retire_rekeyed(z, old);
    zike_log(LOG_NOTICE, "peer %s: DELETE of its half of child SA 0x%08x "
             "(%s), not taken", sa->peer_name, spi_in, pol);
    if (child_delete_request(z, sa, spi_in) != 0)
        zike_log(LOG_WARNING, "peer %s: no DELETE of its child SA 0x%08x "
                 "not taken: it goes with the IKE SA", sa->peer_name,
                 spi_in);
    if (peer != NULL &&
        (why == CHILD_COLLIDED || why == CHILD_NOT_INSTALLED ||
         ((changed || again) && zike_conf_serves(peer, pol))))
        child_retry(z, sa, pol, 0);
}
