/*
 * Rekeying an IKE SA (RFC 7296 1.3.2, 2.18): a CREATE_CHILD_SA on the old
 * IKE SA carrying an IKE proposal with the new SPI, a nonce and a fresh
 * X25519 value.  SKEYSEED = prf(SK_d old, g^ir new | Ni | Nr); the child
 * SAs move to the new IKE SA unchanged (they stay in the SAD, nothing is
 * lost), and the rekey's initiator deletes the old IKE SA.  The AEAD is
 * the peer's `ike` as configured now (a reload that changes it rekeys the
 * IKE SA), else the old IKE SA's.
 *
 * Collisions.  Of two simultaneous IKE SA rekeys exactly one is made
 * (unlike child SAs, child_create.c, where both are): the peer's request
 * is refused with TEMPORARY_FAILURE when ours is in flight with the
 * higher nonce, and the peer, comparing the same two nonces, answers
 * ours; the loser's request fails and nothing is left to delete.  2.25.2
 * would have it answered, but an RFC peer loses nothing here: charon
 * (5.5 on) keeps the IKE SA it made answering ours and, its own request
 * failed, moves its child SAs to it (conclude_undetected_collision).
 * Refused too while a child SA of ours is being made (its answer would
 * come to an IKE SA that no longer holds the children), when the IKE SA
 * is already rekeyed (2.25), or while an IKE SA of the peer that a rekey
 * replaced still waits for its DELETE (one at a time: a peer that never
 * deleted them made them without bound).  A peer that answers our
 * request although it took over with its own (RFC 7296 2.8.2, both made)
 * is met by its rule: of the two new IKE SAs, the one holding the lowest
 * of the four nonces is redundant and deleted by its initiator, and the
 * other holds the child SAs.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "capture.h"
#include "daemon.h"

#define SUPERSEDED_MS 10000U   /* an old IKE SA waits at least this long */

/* How long a replaced IKE SA is kept: for its DELETE, and at least as
 * long as the rekey's initiator may send its request again, since our
 * answer may have been lost (RFC 7296 2.1): the retransmission is answered
 * from this SA's cache.  Freed sooner, the initiator would never learn of
 * the new IKE SA that holds the child SAs here, and would give the old
 * one, and its own child SAs, up. */
static uint64_t superseded_wait(const struct zike *z)
{
    uint64_t span = ike_retransmit_span(z);

    return span > SUPERSEDED_MS ? span : SUPERSEDED_MS;
}

/* The IKE SA's proposal, with its SPI; the transforms of ike_proposal. */
static void w_ike_proposal(struct ike_writer *w, uint8_t number,
                           uint16_t encr, const uint8_t spi[8])
{
    struct ike_sa_payload sa;
    struct encr_list one = encr_one(encr);

    ike_proposal(&sa, &one, spi, 8, IKE_PROTO_IKE, false, false, false);
    sa.proposals[0].number = number;
    ike_w_sa(w, &sa);
}

/* The AEAD an IKE SA rekey offers: the peer's `ike` when one is named (a
 * reload may have changed it since the IKE SA was made), else the IKE
 * SA's own. */
static uint16_t rekey_aead(struct zike *z, const struct ike_sa *sa)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);

    return peer != NULL && peer->ike_encr != 0 ? (uint16_t)peer->ike_encr
                                                 : sa->keys->aead_id;
}

/* The AEAD we accept in the peer's offer p, into *encr: the peer's `ike`
 * when one is named; else the IKE SA's own if offered, or any this host
 * runs fast, as IKE_SA_INIT would take it. */
static bool rekey_accepts(struct zike *z, const struct ike_sa *sa,
                          const struct ike_proposal *p, uint16_t *encr)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    struct encr_list fast = encr_choice(0);

    *encr = rekey_aead(z, sa);
    if (proposal_offers(p, IKE_TT_ENCR, *encr))
        return true;
    if (peer == NULL || peer->ike_encr != 0)
        return false;
    for (size_t i = 0; i < p->ntransforms; i++)
        for (size_t k = 0; k < fast.n; k++)
            if (p->transforms[i].type == IKE_TT_ENCR &&
                p->transforms[i].id == fast.id[k]) {
                *encr = fast.id[k];
                return true;
            }
    return false;
}

/* A rekey's new IKE SA, made: established with the old one's peer,
 * routes and what the peer authenticated with. */
static void made_from(struct zike *z, const struct ike_sa *old,
                      struct ike_sa *n)
{
    snprintf(n->peer_name, sizeof n->peer_name, "%s", old->peer_name);
    n->route = old->route;
    n->listen_route = old->listen_route;
    n->cred = old->cred;
    n->state = IKE_ST_ESTABLISHED;
    n->last_heard = z->now;
    sodium_memzero(n->keys->dh_priv, IKE_X25519_BYTES);
    capture_keys(n->spi_i, n->spi_r, n->keys);
}

/* The new IKE SA takes the old one's peer, route, child SAs, what the
 * peer authenticated with, and a DELETE asked for. */
static void take_over(struct zike *z, struct ike_sa *old, struct ike_sa *n)
{
    made_from(z, old, n);
    n->want_delete = old->want_delete;
    n->children = old->children;
    old->children = NULL;
    /* A child answered on the old IKE SA: the message IDs of the new one
     * say nothing of whether the peer took that answer. */
    for (struct child_sa *c = n->children; c; c = c->next)
        if (c->activate_at)
            c->answered_mid = UINT32_MAX;
    old->superseded = true;
    old->rekey_at = z->now + superseded_wait(z);
    group_ike_sa_rekeyed(z, old, n);
    ike_sa_established(z, n);
    z->stats.ike_rekeys++;
}

int ike_rekey_start(struct zike *z, struct ike_sa *sa)
{
    struct request *r = &sa->req;
    uint8_t chain[512];
    struct ike_writer w;
    size_t len;

    if (sa->state != IKE_ST_ESTABLISHED || r->kind != REQ_NONE ||
        sa->superseded)
        return -1;
    randombytes_buf(r->new_spi, sizeof r->new_spi);
    randombytes_buf(r->nonce, sizeof r->nonce);
    if (ike_x25519_keypair(r->dh_pub, r->dh_priv) != 0)
        return -1;
    ike_w_init_chain(&w, chain, sizeof chain);
    r->ike_aead = rekey_aead(z, sa);
    w_ike_proposal(&w, 1, r->ike_aead, r->new_spi);
    ike_w_nonce(&w, r->nonce, sizeof r->nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, r->dh_pub, sizeof r->dh_pub);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    zike_log(LOG_INFO, "peer %s: rekeying the IKE SA", sa->peer_name);
    return ike_request(z, sa, REQ_IKE_REKEY, IKE_CREATE_CHILD_SA, chain, len);
}

/* An IKE SA of sa's peer that a rekey replaced and that still waits for
 * its DELETE.  An honest peer deletes it right after its rekey; one that
 * rekeyed again and again without would make IKE SAs without bound, each
 * kept while it may retransmit, all counted against max-ike-sas. */
static bool replaced_one_waits(const struct zike *z, const struct ike_sa *sa)
{
    for (const struct ike_sa *s = z->sas; s; s = s->next)
        if (s != sa && s->superseded && s->state != IKE_ST_DEAD &&
            strcmp(s->peer_name, sa->peer_name) == 0)
            return true;
    return false;
}

/* When to try an IKE SA rekey the peer did not take again.  Refused for
 * now (TEMPORARY_FAILURE, RFC 7296 2.25: the peer is making a child SA
 * of its own, or rekeying itself): soon, a tenth of the IKE SA's
 * lifetime, at most REKEY_RETRY_MS, at random between half and one and a
 * half of that so that the two ends' exchanges part.  The rekey is due
 * at 80-90 % of the lifetime: the fixed 10 s of before let a lifetime
 * under a minute run out with no rekey at all while its children were
 * rekeyed every few milliseconds.  Any other failure: REKEY_RETRY_MS. */
#define REKEY_RETRY_MS 10000U
static uint64_t rekey_retry_ms(struct zike *z, const struct ike_sa *sa,
                               const struct ike_message *m)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    uint64_t base = REKEY_RETRY_MS;

    if (ike_error_notify(m) != IKE_N_TEMPORARY_FAILURE)
        return REKEY_RETRY_MS;
    if (peer != NULL && peer->ike_lifetime != 0 &&
        (uint64_t)peer->ike_lifetime * 100U < base)
        base = (uint64_t)peer->ike_lifetime * 100U;
    return base / 2U + randombytes_uniform((uint32_t)base + 1U);
}

/* An authenticated peer that rekeys its IKE SA again and again, and never
 * deletes the old one, would leave one waiting per rekey: thousands a
 * second, past max-ike-sas (which only IKE_SA_INIT checks), and every
 * other initiator refused.  While one it replaced waits for its DELETE,
 * or it holds ZIKE_IKE_SAS_PER_PEER, its rekey waits (TEMPORARY_FAILURE,
 * no X25519 spent), counted and logged at most once a second. */
static bool peer_has_room(struct zike *z, const struct ike_sa *sa)
{
    size_t held = ike_sas_of_peer(z, sa->peer_name);
    bool waits = replaced_one_waits(z, sa);

    if (held < ZIKE_IKE_SAS_PER_PEER && !waits)
        return true;
    z->stats.ike_rekeys_refused++;
    zike_log_limited(z, &z->rekey_refused_log, LOG_WARNING,
                     "peer %s: its IKE SA rekey refused for now "
                     "(TEMPORARY_FAILURE): %s", sa->peer_name,
                     waits ? "the IKE SA it replaced last still waits for "
                             "its DELETE"
                           : "it holds the most IKE SAs a peer may");
    return false;
}

/* Whether the peer's rekey of sa, with nonce ni, must wait (above). */
static bool collides(struct zike *z, const struct ike_sa *sa,
                     const uint8_t *ni, size_t ni_len)
{
    const char *why = NULL;

    if (sa->superseded)
        why = "the IKE SA is already rekeyed";
    else if (sa->req.kind == REQ_CHILD)
        why = "a child SA of ours is being made";
    else if (sa->req.kind == REQ_IKE_REKEY &&
             ike_nonce_cmp(sa->req.nonce, sizeof sa->req.nonce, ni,
                           ni_len) > 0)
        why = "simultaneous rekey, ours wins";
    if (why == NULL)
        return false;
    zike_log_limited(z, &z->peer_log[PEER_LOG_IKE_REKEY_WAIT], LOG_INFO,
                     "peer %s: its IKE SA rekey refused for now "
                     "(TEMPORARY_FAILURE): %s", sa->peer_name, why);
    return true;
}

bool ike_rekey_request(struct zike *z, struct ike_sa *sa,
                       const struct route *from, const struct ike_message *m)
{
    struct ike_sa_payload offer;
    const struct ike_proposal *p = ike_offer(m, &offer);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    uint8_t chain[512], shared[IKE_X25519_BYTES];
    struct ike_writer w;
    struct ike_ke ke;
    const uint8_t *ni;
    size_t ni_len, len;
    struct ike_sa *n;
    bool have_ni;
    uint16_t encr;

    if (p == NULL)
        return false;                  /* a child SA, not the IKE SA */
    ike_w_init_chain(&w, chain, sizeof chain);
    have_ni = pn != NULL && ike_parse_nonce(pn, &ni, &ni_len) == IKE_OK;
    if ((have_ni && collides(z, sa, ni, ni_len)) || !peer_has_room(z, sa)) {
        ike_w_notify(&w, 0, IKE_N_TEMPORARY_FAILURE, NULL, 0, NULL, 0);
        if (ike_w_finish(&w, &len) == IKE_OK)
            ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id,
                        chain, len);
        return true;
    }
    /* IKE SPIs are never zero (RFC 7296 3.1). */
    if (p->spi_size != 8 || sodium_is_zero(p->spi, 8) == 1 ||
        !rekey_accepts(z, sa, p, &encr) ||
        !proposal_offers(p, IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256) ||
        !proposal_offers(p, IKE_TT_DH, IKE_DH_CURVE25519) || !have_ni ||
        pke == NULL || ike_parse_ke(pke, &ke) != IKE_OK || ke.group != IKE_DH_CURVE25519 ||
        (n = ike_sa_new(z, false)) == NULL) {
        zike_log_limited(z, &z->peer_log[PEER_LOG_IKE_REKEY_REFUSED],
                         LOG_NOTICE, "peer %s: IKE SA rekey refused",
                         sa->peer_name);
        ike_w_notify(&w, 0, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0, NULL, 0);
        if (ike_w_finish(&w, &len) == IKE_OK)
            ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id,
                        chain, len);
        return true;
    }
    memcpy(n->spi_i, p->spi, 8);
    memcpy(n->ni, ni, ni_len);
    n->ni_len = ni_len;
    if (ike_x25519_shared(shared, n->keys->dh_priv, ke.data, ke.len) != 0 ||
        ike_derive(n->keys, encr, sa->keys->sk_d, shared, n->ni, n->ni_len,
                   n->nr, n->nr_len, n->spi_i, n->spi_r) != 0) {
        sodium_memzero(shared, sizeof shared);
        n->state = IKE_ST_DEAD;
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
        if (ike_w_finish(&w, &len) == IKE_OK)
            ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id,
                        chain, len);
        return true;
    }
    sodium_memzero(shared, sizeof shared);
    w_ike_proposal(&w, p->number, encr, n->spi_r);
    ike_w_nonce(&w, n->nr, n->nr_len);
    ike_w_ke(&w, IKE_DH_CURVE25519, n->dh_pub, sizeof n->dh_pub);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id,
                    chain, len);
    take_over(z, sa, n);
    zike_log(LOG_NOTICE, "peer %s: IKE SA rekeyed (responder)",
             n->peer_name);
    return true;
}

/* The lowest of an IKE SA's two nonces. */
static const uint8_t *lowest(const struct ike_sa *sa, size_t *len)
{
    bool i = ike_nonce_cmp(sa->ni, sa->ni_len, sa->nr, sa->nr_len) < 0;

    *len = i ? sa->ni_len : sa->nr_len;
    return i ? sa->ni : sa->nr;
}

/* The peer answered our rekey of old after we had taken over with its own
 * (theirs), which a zike peer never does (it refuses one of the two), but
 * RFC 7296 2.8.2 allows: both are made.  The one with the lowest nonce is
 * redundant, deleted by whoever initiated it; the other holds the child
 * SAs, and the old IKE SA's DELETE comes from the winner's initiator. */
static void both_made(struct zike *z, struct ike_sa *old, struct ike_sa *ours)
{
    struct ike_sa *theirs = NULL;
    const uint8_t *a, *b;
    size_t alen, blen;

    for (struct ike_sa *s = z->sas; s; s = s->next)
        if (s != ours && !s->initiator && !s->superseded &&
            s->state == IKE_ST_ESTABLISHED &&
            strcmp(s->peer_name, old->peer_name) == 0)
            theirs = s;
    made_from(z, old, ours);
    a = lowest(ours, &alen);
    if (theirs != NULL)
        b = lowest(theirs, &blen);
    if (theirs == NULL || ike_nonce_cmp(a, alen, b, blen) < 0) {
        zike_log(LOG_INFO, "peer %s: simultaneous IKE SA rekey: the "
                 "peer's new IKE SA wins, ours deleted", ours->peer_name);
        ours->superseded = true;       /* holds nothing: dies with DELETE */
        ike_send_delete_ike(z, ours);
        return;
    }
    zike_log(LOG_NOTICE, "peer %s: simultaneous IKE SA rekey: ours wins, "
             "the child SAs move to it", ours->peer_name);
    take_over(z, theirs, ours);
    ike_send_delete_ike(z, old);
}

void ike_rekey_response(struct zike *z, struct ike_sa *sa,
                        const struct ike_message *m)
{
    struct request *r = &sa->req;
    struct ike_sa_payload got;
    const struct ike_proposal *p = ike_offer(m, &got);
    uint8_t shared[IKE_X25519_BYTES];
    const uint8_t *nr;
    size_t nr_len;
    struct ike_sa *n;

    r->kind = REQ_NONE;
    if (ike_error_notify(m) == IKE_N_TEMPORARY_FAILURE || p == NULL ||
        p->spi_size != 8 || sodium_is_zero(p->spi, 8) == 1 ||
        !proposal_offers(p, IKE_TT_ENCR, r->ike_aead) ||
        ike_response_ke(m, r->dh_priv, shared, &nr, &nr_len) != 0 ||
        (n = ike_sa_new(z, true)) == NULL) {
        if (sa->superseded)
            zike_log(LOG_INFO, "peer %s: our IKE SA rekey refused: the "
                     "peer's own rekey replaced the IKE SA", sa->peer_name);
        else if (ike_error_notify(m) == IKE_N_TEMPORARY_FAILURE)
            zike_log(LOG_INFO, "peer %s: IKE SA rekey refused for now "
                     "(TEMPORARY_FAILURE); the old one stays",
                     sa->peer_name);
        else
            zike_log(LOG_WARNING, "peer %s: IKE SA rekey failed; the old "
                     "one stays", sa->peer_name);
        sodium_memzero(r->dh_priv, sizeof r->dh_priv);
        sodium_memzero(shared, sizeof shared);
        if (!sa->superseded)
            sa->rekey_at = z->now + rekey_retry_ms(z, sa, m);
        return;
    }
    memcpy(n->spi_i, r->new_spi, 8);
    memcpy(n->spi_r, p->spi, 8);
    memcpy(n->ni, r->nonce, sizeof r->nonce);
    n->ni_len = sizeof r->nonce;
    memcpy(n->nr, nr, nr_len);
    n->nr_len = nr_len;
    if (ike_derive(n->keys, r->ike_aead, sa->keys->sk_d, shared, n->ni,
                   n->ni_len, n->nr, n->nr_len, n->spi_i, n->spi_r) != 0) {
        sodium_memzero(shared, sizeof shared);
        n->state = IKE_ST_DEAD;
        return;
    }
    sodium_memzero(shared, sizeof shared);
    if (sa->superseded) {
        both_made(z, sa, n);
        return;
    }
    take_over(z, sa, n);
    zike_log(LOG_NOTICE, "peer %s: IKE SA rekeyed (initiator)",
             n->peer_name);
    /* The old IKE SA goes; its DELETE travels on the old keys. */
    ike_send_delete_ike(z, sa);
}
