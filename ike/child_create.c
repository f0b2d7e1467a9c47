/*
 * CREATE_CHILD_SA for child SAs, both roles: a new child SA (RFC 7296
 * 1.3.1) or a rekeyed one (1.3.3), always with a fresh X25519 exchange.
 * Simultaneous rekeys of one child SA are both answered (2.25.1) and
 * resolved by the nonces (2.8.1); one the peer refused for now is asked
 * for again (2.25), and a rekey of a child SA we do not know while our
 * own request is in flight (its answer may make it) is refused for now.
 * An answer not taken (its SPI taken here, or a reload since we asked
 * that no longer allows it) has its half deleted at the peer.  The IKE
 * SA's own rekey is ike_rekey.c.
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

int child_create_start(struct zike *z, struct ike_sa *sa, const char *policy,
                       struct child_sa *old)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    uint8_t chain[4096];
    struct ike_writer w;
    size_t len;
    struct request *r = &sa->req;

    /* A policy a reload took away is not asked for again (a retry or a
     * rekey wanted before it). */
    if (peer == NULL || sa->state != IKE_ST_ESTABLISHED ||
        r->kind != REQ_NONE || !zike_conf_serves(peer, policy))
        return -1;
    snprintf(r->policy, sizeof r->policy, "%s", policy);
    r->spi_in = zike_new_spi(z);
    r->old_spi_in = old ? old->spi_in : 0;
    r->coll_spi_in = 0;
    r->offer = child_offer_of(peer);
    randombytes_buf(r->nonce, sizeof r->nonce);
    if (ike_x25519_keypair(r->dh_pub, r->dh_priv) != 0)
        return -1;
    ike_w_init_chain(&w, chain, sizeof chain);
    if (old != NULL) {
        uint8_t spi[4];
        put32(spi, old->spi_in);
        ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_REKEY_SA, spi, 4, NULL, 0);
    }
    w_child_request(&w, peer, r->spi_in, true);
    ike_w_nonce(&w, r->nonce, sizeof r->nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, r->dh_pub, sizeof r->dh_pub);
    w_child_tail(&w, policy, peer->lanes, NULL);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return -1;
    zike_log(LOG_INFO, "peer %s: %s child SA for policy %s", peer->name,
             old ? "rekeying" : "creating", policy);
    return ike_request(z, sa, REQ_CHILD, IKE_CREATE_CHILD_SA, chain, len);
}

/* The child our rekey of old made, if the peer's rekey of old crossed
 * ours and comes after ours completed (reordered, or retransmitted after
 * a loss): old is retiring and its DELETE not yet sent.  charon 5.9,
 * having answered ours, takes a refusal here as "not rekeyed" and loses
 * its outbound SA with old's DELETE (strongSwan issue #1896), so it is
 * answered, once per rekey of ours. */
static struct child_sa *late_rival(struct ike_sa *sa, const struct child_sa *old)
{
    if (old->unplugged || (sa->req.kind == REQ_DELETE_CHILD &&
                           sa->req.del_spi == old->spi_in))
        return NULL;
    for (struct child_sa *c = sa->children; c; c = c->next)
        if (c->replaced_spi_in == old->spi_in && c->low_nonce_len &&
            !c->rekeyed && !c->unplugged)
            return c;
    return NULL;
}

/* Both rekeys of old are done, ours (made ours) and now the peer's
 * (made theirs, with nonces ni and nr): RFC 7296 2.8.1, as both_made
 * below.  The child of the exchange holding the lowest of the four
 * nonces is redundant and deleted by its initiator; the other's
 * initiator deletes old. */
static void late_collision(struct zike *z, struct ike_sa *sa,
                           struct child_sa *old, struct child_sa *ours,
                           struct child_sa *theirs, const uint8_t *ni,
                           size_t ni_len, const uint8_t *nr, size_t nr_len)
{
    bool i = ike_nonce_cmp(ni, ni_len, nr, nr_len) < 0;
    uint64_t peers_turn = z->now + ike_retransmit_span(z) +
                          z->conf.rekey_overlap_ms;

    ours->replaced_spi_in = 0;
    if (ike_nonce_cmp(ours->low_nonce, ours->low_nonce_len, i ? ni : nr,
                      i ? ni_len : nr_len) < 0) {
        zike_log(LOG_INFO, "peer %s: late simultaneous rekey of %s: the "
                 "peer's child SA 0x%08x/0x%08x wins, ours deleted",
                 sa->peer_name, ours->policy, theirs->spi_in,
                 theirs->spi_out);
        /* Ours carries the policy until theirs does (once the peer is
         * known to hold it: child_peer_progressed), then stays for the
         * overlap, so that what it sent last is still opened, and goes
         * (child_activate; at the latest the overlap after theirs'
         * activate_at). */
        ours->rekeyed = true;
        ours->out_active = false;
        if (theirs->activate_at) {
            ours->yields_to = theirs->spi_in;
            ours->retire_at = theirs->activate_at + z->conf.rekey_overlap_ms;
        } else {
            ours->retire_at = z->now + z->conf.rekey_overlap_ms;
        }
        if (old->retire_at < peers_turn)
            old->retire_at = peers_turn;
        return;
    }
    zike_log(LOG_INFO, "peer %s: late simultaneous rekey of %s: ours wins, "
             "the peer deletes its child SA 0x%08x/0x%08x", sa->peer_name,
             ours->policy, theirs->spi_in, theirs->spi_out);
    theirs->rekeyed = true;
    theirs->activate_at = 0;
    theirs->retire_at = peers_turn;
}

void child_create_request(struct zike *z, struct ike_sa *sa,
                          const struct route *from,
                          const struct ike_message *m)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    const struct ike_payload *pn = ike_find(m, IKE_PL_NONCE);
    const struct ike_payload *pke = ike_find(m, IKE_PL_KE);
    uint8_t chain[4096], nr[IKE_NONCE_BYTES], priv[IKE_X25519_BYTES],
        pub[IKE_X25519_BYTES], shared[IKE_X25519_BYTES];
    struct ike_writer w;
    struct ike_notify rekey;
    struct ike_ke ke;
    const uint8_t *ni;
    size_t ni_len, len;
    char policy[ZESP_NAME_MAX];
    struct child_sa *old = NULL, *late = NULL, *c;
    uint16_t fail = 0;
    struct keymat_in k;
    struct child_choice ch;

    ike_w_init_chain(&w, chain, sizeof chain);
    if (peer != NULL && pn != NULL && pke == NULL) {
        /* zike gives every new and rekeyed child SA forward secrecy. */
        zike_log_limited(z, &z->peer_log[PEER_LOG_NO_PFS], LOG_WARNING,
                         "peer %s: CREATE_CHILD_SA without a key exchange "
                         "refused (zike requires PFS: propose x25519)",
                         peer->name);
        ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_NO_PROPOSAL_CHOSEN, NULL, 0,
                     NULL, 0);
        goto reply;
    }
    if (peer == NULL || pn == NULL || pke == NULL ||
        ike_parse_nonce(pn, &ni, &ni_len) != IKE_OK ||
        ike_parse_ke(pke, &ke) != IKE_OK) {
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
        goto reply;
    }
    if (ke.group != IKE_DH_CURVE25519) {
        static const uint8_t g31[] = { 0, IKE_DH_CURVE25519 };
        ike_w_notify(&w, 0, IKE_N_INVALID_KE_PAYLOAD, NULL, 0, g31, 2);
        goto reply;
    }
    if (ike_find_notify(m, IKE_N_REKEY_SA, &rekey)) {
        if (rekey.spi_size == 4 &&
            (old = child_by_out(sa, be32(rekey.spi))) == NULL &&
            sa->req.kind == REQ_CHILD) {
            /* Perhaps the child our request in flight makes: the peer
             * answered, and the answer is still on its way (lost, to be
             * sent again).  CHILD_SA_NOT_FOUND would have the peer delete
             * that child silently and make another (RFC 7296 2.25), while
             * we install it when the answer comes: not now, rather. */
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TEMPORARY_FAILURE, NULL, 0,
                         NULL, 0);
            goto reply;
        }
        if (rekey.spi_size != 4 || old == NULL) {
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_CHILD_SA_NOT_FOUND,
                         rekey.spi, rekey.spi_size, NULL, 0);
            goto reply;
        }
        snprintf(policy, sizeof policy, "%s", old->policy);
        if (!zike_conf_serves(peer, policy)) {   /* revoked at a reload */
            zike_log_limited(z, &z->peer_log[PEER_LOG_REKEY_REVOKED],
                             LOG_WARNING, "peer %s: asked to rekey a child "
                             "SA of policy '%s', which it no longer serves: "
                             "refused", peer->name, policy);
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TS_UNACCEPTABLE, NULL, 0,
                         NULL, 0);
            goto reply;
        }
        /* A child already replaced (its rekey done, or deleted) is being
         * closed: not now (RFC 7296 2.25.1), unless our rekey of it, which
         * the peer's crossed, completed first (late_rival).  One we are
         * rekeying ourselves is answered as usual, whatever the nonces,
         * as 2.25.1 asks: both new children are made, and 2.8.1 picks the
         * one that stays (both_made).  Refusing it when our nonce was the
         * higher cost charon 5.9, which had answered ours, its outbound
         * SA: it forgot that the old child was rekeyed, and the old
         * child's DELETE took its only one (strongSwan issue #1896). */
        if (old->rekeyed && (late = late_rival(sa, old)) == NULL) {
            zike_log_limited(z, &z->peer_log[PEER_LOG_CHILD_REKEYED],
                             LOG_INFO, "peer %s: its rekey of %s refused for "
                             "now (TEMPORARY_FAILURE): the child SA is "
                             "already rekeyed", peer->name, old->policy);
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TEMPORARY_FAILURE, NULL, 0,
                         NULL, 0);
            goto reply;
        }
    } else if (!child_policy(z, peer, m, policy)) {
        ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_TS_UNACCEPTABLE, NULL, 0, NULL,
                     0);
        goto reply;
    }
    if (!child_ts_fit(z, peer, m, &fail)) {
        ike_w_notify(&w, fail == IKE_N_INVALID_SYNTAX ? 0 : IKE_PROTO_ESP,
                     fail, NULL, 0, NULL, 0);
        goto reply;
    }
    /* Every refusal that needs no key comes before our two X25519 (the
     * proposal, max-child-sas, the peer's SPI): else one looping on
     * CREATE_CHILD_SA with a proposal never chosen, or at its limit, with
     * any KE value, had zike spend them on every request only to refuse
     * it.  A rekey at the limit: the SAs it replaces go soon. */
    if (!child_choose(z, sa, peer, m, policy, &ch, &fail)) {
        if (fail == IKE_N_NO_ADDITIONAL_SAS && old != NULL)
            fail = IKE_N_TEMPORARY_FAILURE;
        ike_w_notify(&w, IKE_PROTO_ESP, fail, NULL, 0, NULL, 0);
        goto reply;
    }
    randombytes_buf(nr, sizeof nr);
    if (ike_x25519_keypair(pub, priv) != 0 ||
        ike_x25519_shared(shared, priv, ke.data, ke.len) != 0) {
        ike_w_notify(&w, 0, IKE_N_INVALID_SYNTAX, NULL, 0, NULL, 0);
        goto reply;
    }
    k = (struct keymat_in){ shared, ni, nr, ni_len, sizeof nr };
    c = child_respond(z, sa, peer, m, policy, &ch, &k, &w, &fail);
    if (c == NULL) {          /* child_choose judged max-child-sas */
        ike_w_notify(&w, IKE_PROTO_ESP, fail, NULL, 0, NULL, 0);
        goto reply;
    }
    ike_w_nonce(&w, nr, sizeof nr);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    w_child_tail(&w, policy, c->lanes, m);
    if (old != NULL && sa->req.kind == REQ_CHILD &&
        sa->req.old_spi_in == old->spi_in && ni_len <= IKE_NONCE_MAX) {
        /* Ours is in flight too: which of the two stays is known when it
         * is answered (child_create_response). */
        bool i = ike_nonce_cmp(ni, ni_len, nr, sizeof nr) < 0;
        sa->req.coll_spi_in = c->spi_in;
        sa->req.coll_nonce_len = i ? ni_len : sizeof nr;
        memcpy(sa->req.coll_nonce, i ? ni : nr, sa->req.coll_nonce_len);
    }
    if (late != NULL && ni_len <= IKE_NONCE_MAX)
        late_collision(z, sa, old, late, c, ni, ni_len, nr, sizeof nr);
    if (old != NULL) {
        child_retire_rekeyed(z, old);
        z->stats.rekeys++;
    }
    zike_log(LOG_NOTICE, "peer %s: child SA 0x%08x/0x%08x for policy %s "
             "installed%s", peer->name, c->spi_in, c->spi_out, policy,
             old ? " (rekey)" : "");
reply:
    sodium_memzero(priv, sizeof priv);
    sodium_memzero(shared, sizeof shared);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_CREATE_CHILD_SA, m->hdr.message_id, chain,
                len);
}

/* Our rekey was answered after we had answered the peer's rekey of the
 * same child, as RFC 7296 2.25.1 asks of both sides (a zike of before
 * refused the one with the lower nonce): both new children exist.
 * The one made by the exchange with the lowest of the four nonces is
 * redundant, deleted by whoever initiated that exchange; the other's
 * initiator deletes the old child.  True if ours is the redundant one:
 * it goes at once, and the peer's carries the policy once the peer is
 * known to hold it (as for any child we answered: tick_sa). */
static bool both_made(struct zike *z, struct ike_sa *sa, struct child_sa *ours,
                      const struct request *r, const uint8_t *nr,
                      size_t nr_len)
{
    struct child_sa *theirs = child_by_in(sa, r->coll_spi_in);
    struct child_sa *old = child_by_in(sa, r->old_spi_in);
    bool i = ike_nonce_cmp(r->nonce, sizeof r->nonce, nr, nr_len) < 0;
    const uint8_t *low = i ? r->nonce : nr;
    size_t low_len = i ? sizeof r->nonce : nr_len;

    if (theirs == NULL || theirs->unplugged)
        return false;
    if (ike_nonce_cmp(low, low_len, r->coll_nonce, r->coll_nonce_len) < 0) {
        zike_log(LOG_INFO, "peer %s: simultaneous rekey of %s: the peer's "
                 "child SA 0x%08x/0x%08x wins, ours deleted", sa->peer_name,
                 ours->policy, theirs->spi_in, theirs->spi_out);
        /* Theirs takes the policy over as any child we answered does,
         * once the peer is known to hold it (its traffic, a later
         * request of its, its DELETE of the old child), not now: the
         * peer installs it only when our answer to its request reaches
         * it, which this answer to ours does not prove (it may have been
         * sent first).  Switched now, a message sent on theirs before
         * the peer took our answer found no SA there (ZESP_ENOSA).
         * Until then the old child carries the policy. */
        ours->rekeyed = true;
        ours->retire_at = z->now;
        return true;
    }
    zike_log(LOG_INFO, "peer %s: simultaneous rekey of %s: ours wins, the "
             "peer deletes its child SA 0x%08x/0x%08x", sa->peer_name,
             ours->policy, theirs->spi_in, theirs->spi_out);
    /* The old child's DELETE is ours to send, as after any rekey of ours. */
    if (old != NULL &&
        (old->retire_at == 0 ||
         old->retire_at > z->now + z->conf.rekey_overlap_ms))
        old->retire_at = z->now + z->conf.rekey_overlap_ms;
    return false;
}

/* Our rekey's answer not taken (child_answer_untaken), and the peer's
 * rekey of the same child answered meanwhile: the peer holds both new
 * children and settles them by 2.8.1 as if ours were made.  If ours was
 * the redundant one, the peer keeps its own, which takes the policy over
 * as any rekey of the peer's does (once the peer is known to hold it).
 * Else it deletes its own too, and nothing newer than the old child is
 * left at either end: its own child is counted as replaced here (it
 * does not hold the policy's retry back, and retires if the peer's
 * DELETE does not come), the old child carries the policy until it
 * retires, and true: a new child SA is to be asked for. */
static bool untaken_in_collision(struct zike *z, struct ike_sa *sa,
                                 const struct request *r, const uint8_t *nr,
                                 size_t nr_len)
{
    struct child_sa *theirs = child_by_in(sa, r->coll_spi_in);
    struct child_sa *old = child_by_in(sa, r->old_spi_in);
    bool i = ike_nonce_cmp(r->nonce, sizeof r->nonce, nr, nr_len) < 0;

    if (theirs != NULL && !theirs->unplugged &&
        ike_nonce_cmp(i ? r->nonce : nr, i ? sizeof r->nonce : nr_len,
                      r->coll_nonce, r->coll_nonce_len) < 0)
        return false;
    if (theirs != NULL && !theirs->unplugged) {
        bool carried = theirs->out_active;
        theirs->rekeyed = true;
        theirs->out_active = false;
        theirs->activate_at = 0;
        if (theirs->retire_at == 0)
            theirs->retire_at = z->now + ike_retransmit_span(z) +
                                z->conf.rekey_overlap_ms;
        if (carried && old != NULL && !old->unplugged) {
            old->out_active = false;
            child_activate(z, sa, old);
        }
    }
    return true;
}

void child_create_response(struct zike *z, struct ike_sa *sa,
                           const struct ike_message *m)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    struct request *r = &sa->req;
    uint8_t shared[IKE_X25519_BYTES];
    const uint8_t *nr;
    size_t nr_len;
    struct child_sa *c;
    enum child_untaken why;
    struct keymat_in k;

    r->kind = REQ_NONE;
    if (peer == NULL)
        return;
    if (ike_error_notify(m) == IKE_N_TEMPORARY_FAILURE) {
        /* A simultaneous rekey that a zike of before refused (its nonce
         * the higher: its child replaces the old one, and ours is not
         * retried), one that crossed the peer's finished rekey of the
         * child, or an SPI the peer could not take. */
        zike_log(LOG_INFO, "peer %s: %s of %s refused for now "
                 "(TEMPORARY_FAILURE)", peer->name,
                 r->old_spi_in ? "rekey" : "child SA", r->policy);
        child_retry(z, sa, r->policy, r->old_spi_in);
        sodium_memzero(r->dh_priv, sizeof r->dh_priv);
        return;
    }
    if (ike_error_notify(m) != 0 ||
        ike_response_ke(m, r->dh_priv, shared, &nr, &nr_len) != 0) {
        zike_log(LOG_WARNING, "peer %s: CREATE_CHILD_SA for %s failed "
                 "(notify %u)", peer->name, r->policy, ike_error_notify(m));
        sodium_memzero(r->dh_priv, sizeof r->dh_priv);
        return;
    }
    k = (struct keymat_in){ shared, r->nonce, nr, sizeof r->nonce, nr_len };
    c = child_complete(z, sa, peer, m, r->policy, r->spi_in, &k, &why);
    sodium_memzero(shared, sizeof shared);
    if (c == NULL && why != CHILD_NOT_MADE) {
        bool again = r->coll_spi_in != 0 && r->old_spi_in != 0 &&
                     untaken_in_collision(z, sa, r, nr, nr_len);
        child_answer_untaken(z, sa, why, &r->offer, r->policy, r->spi_in,
                             r->old_spi_in, again);
    }
    if (c == NULL)
        return;
    if (r->coll_spi_in && both_made(z, sa, c, r, nr, nr_len))
        return;
    /* Make before break: the peer has its inbound SA (it answered), so the
     * policy switches now; the old SAs stay for the overlap, then a DELETE
     * takes them out of both SADs. */
    child_activate(z, sa, c);
    if (r->old_spi_in) {
        /* For a peer's rekey of the old child that crossed ours and comes
         * now (late_rival). */
        bool i = ike_nonce_cmp(r->nonce, sizeof r->nonce, nr, nr_len) < 0;
        c->replaced_spi_in = r->old_spi_in;
        c->low_nonce_len = i ? sizeof r->nonce : nr_len;
        memcpy(c->low_nonce, i ? r->nonce : nr, c->low_nonce_len);
        z->stats.rekeys++;
    }
    child_retire_others(z, sa, c);
    if (r->old_spi_in) {
        /* The old child's DELETE goes at once (RFC 7296 2.8): it is the
         * sign the responder waits for to switch to the new child, and
         * each side keeps the old inbound SA for the overlap after it
         * (child_linger), for what is still on its way. */
        struct child_sa *old = child_by_in(sa, r->old_spi_in);
        if (old != NULL && old->rekeyed)
            old->retire_at = z->now;
    }
}
