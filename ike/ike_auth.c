/*
 * IKE_AUTH (RFC 7296 1.2, 2.15), both roles: identities (ID_FQDN), AUTH by
 * a pre-shared key or an Ed25519 signature (RFC 8420), and the first child
 * SA (child.c), or none when the peer has no policies (childless, RFC
 * 6023).
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"
#include "transform.h"

/* The AUTH payload data of `who` (initiator or responder) with its ID'. */
static int auth_make(struct zike *z, struct ike_sa *sa,
                     const struct zike_peer *peer, const uint8_t *id_body,
                     size_t id_len, uint8_t *out, size_t *out_len,
                     uint8_t *method)
{
    uint8_t mac[IKE_PRF_BYTES];
    const uint8_t *msg = sa->initiator ? sa->msg1 : sa->msg2;
    size_t msg_len = sa->initiator ? sa->msg1_len : sa->msg2_len;
    const uint8_t *nonce = sa->initiator ? sa->nr : sa->ni;
    size_t nonce_len = sa->initiator ? sa->nr_len : sa->ni_len;
    int rc;

    ike_auth_octets_mac(mac, sa->initiator ? sa->keys->sk_pi
                                           : sa->keys->sk_pr,
                        id_body, id_len);
    if (peer->auth == ZIKE_AUTH_PSK) {
        *method = IKE_AUTH_PSK;
        *out_len = IKE_PRF_BYTES;
        rc = ike_auth_psk(out, peer->psk, peer->psk_len, msg, msg_len, nonce,
                          nonce_len, mac);
    } else {
        *method = IKE_AUTH_DIGSIG;
        rc = ike_auth_ed25519_sign(out, out_len, z->conf.sign_sk, msg,
                                   msg_len, nonce, nonce_len, mac);
    }
    sodium_memzero(mac, sizeof mac);
    return rc;
}

/* Check the peer's AUTH payload. */
static int auth_check(struct ike_sa *sa, const struct zike_peer *peer,
                      const struct ike_payload *pid,
                      const struct ike_payload *pauth)
{
    struct ike_auth a;
    uint8_t mac[IKE_PRF_BYTES], want[IKE_PRF_BYTES];
    const uint8_t *msg = sa->initiator ? sa->msg2 : sa->msg1;
    size_t msg_len = sa->initiator ? sa->msg2_len : sa->msg1_len;
    const uint8_t *nonce = sa->initiator ? sa->ni : sa->nr;
    size_t nonce_len = sa->initiator ? sa->ni_len : sa->nr_len;
    int rc = -1;

    if (ike_parse_auth(pauth, &a) != IKE_OK)
        return -1;
    ike_auth_octets_mac(mac, sa->initiator ? sa->keys->sk_pr
                                           : sa->keys->sk_pi,
                        pid->body, pid->len);
    if (peer->auth == ZIKE_AUTH_PSK && a.method == IKE_AUTH_PSK) {
        ike_auth_psk(want, peer->psk, peer->psk_len, msg, msg_len, nonce,
                     nonce_len, mac);
        rc = a.len == IKE_PRF_BYTES && sodium_memcmp(a.data, want,
                                                     IKE_PRF_BYTES) == 0
                 ? 0 : -1;
    } else if (peer->auth == ZIKE_AUTH_ED25519 &&
               a.method == IKE_AUTH_DIGSIG) {
        rc = ike_auth_ed25519_verify(a.data, a.len, peer->pubkey, msg,
                                     msg_len, nonce, nonce_len, mac);
    }
    sodium_memzero(want, sizeof want);
    sodium_memzero(mac, sizeof mac);
    return rc;
}

/* An identity of ours or of a peer: zike's identities are ID_FQDN. */
static bool id_is(const struct ike_id *id, const char *want)
{
    return id->type == IKE_ID_FQDN && id->len == strlen(want) &&
           memcmp(id->data, want, id->len) == 0;
}

/* The peer is who it says: the IKE SA is established with what the peer
 * authenticated with recorded (a reload that changes it ends the SA), and
 * replaces any older one with the peer.  false: it could not be. */
static bool authenticated(struct zike *z, struct ike_sa *sa,
                          const struct zike_peer *peer)
{
    if (ike_cred_of(&sa->cred, peer) != 0)
        return false;
    sa->state = IKE_ST_ESTABLISHED;
    z->stats.ike_established++;
    ike_sa_established(z, sa);
    ike_sa_replace_old(z, sa);
    zike_log(LOG_NOTICE, "peer %s: IKE SA established (%s, %s, %s)",
             peer->name, sa->initiator ? "initiator" : "responder",
             zesp_transform_name(sa->keys->aead->id),
             peer->auth == ZIKE_AUTH_PSK ? "psk" : "ed25519");
    /* A responder whose link to the peer is up: the link has carried
     * nothing of ours, so to the peer's listen it is a stranger, closed at
     * its unauthenticated-timeout; a liveness check goes on it (timers.c).
     * An initiator's IKE_AUTH went on its link already. */
    if (!sa->initiator && zike_link_ready(z, peer))
        sa->link_check = true;
    return true;
}

/* A responder's IKE SA whose IKE_AUTH failed stays half open, its keys
 * wiped (nothing opens under it again: no second guess on it) and no peer
 * named, until half-open-timeout: counted against its source as any
 * half-open SA.  Dead at once, it freed its place for the next attempt,
 * so one address could have zike spend two X25519 per round trip (one of
 * its own), half-open-per-source never reached.  false: no keys slot. */
static bool keys_forgotten(struct ike_sa *sa)
{
    struct ike_keys *fresh = ike_keys_new();

    if (fresh == NULL)
        return false;
    ike_keys_free(sa->keys);
    sa->keys = fresh;
    sa->peer_name[0] = '\0';
    return true;
}

/* Initiator: the IKE_AUTH request, once IKE_SA_INIT gave the keys. */
void ike_auth_start(struct zike *z, struct ike_sa *sa)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    uint8_t chain[4096], auth[IKE_AUTH_MAX], idb[4 + IKE_ID_MAX];
    struct ike_writer w;
    size_t len, auth_len, id_len = strlen(z->conf.id);
    uint8_t method;

    if (peer == NULL)
        return;
    idb[0] = IKE_ID_FQDN;
    memset(idb + 1, 0, 3);
    memcpy(idb + 4, z->conf.id, id_len);
    if (auth_make(z, sa, peer, idb, 4 + id_len, auth, &auth_len,
                  &method) != 0) {
        ike_sa_dead(z, sa, "cannot compute AUTH");
        return;
    }
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDI, IKE_ID_FQDN, z->conf.id, id_len);
    ike_w_auth(&w, method, auth, auth_len);
    if (sa->auth_policy[0] != '\0') {     /* else childless (RFC 6023) */
        sa->auth_spi_in = zike_new_spi(z);
        w_child_request(&w, peer, sa->auth_spi_in, false);
        sa->req.offer = child_offer_of(peer);
        w_child_tail(&w, sa->auth_policy, peer->lanes, NULL);
    }
    ike_w_notify(&w, 0, IKE_N_INITIAL_CONTACT, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) != IKE_OK ||
        ike_request(z, sa, REQ_AUTH, IKE_AUTH, chain, len) != 0) {
        ike_sa_dead(z, sa, "cannot send IKE_AUTH");
        return;
    }
    sa->state = IKE_ST_AUTH_SENT;
}

void ike_auth_request(struct zike *z, struct ike_sa *sa,
                      const struct route *from, const struct ike_message *m)
{
    const struct ike_payload *pid = ike_find(m, IKE_PL_IDI);
    const struct ike_payload *pauth = ike_find(m, IKE_PL_AUTH);
    const struct zike_peer *peer;
    struct ike_id id;
    uint8_t chain[4096], auth[IKE_AUTH_MAX], idb[4 + IKE_ID_MAX];
    struct ike_writer w;
    size_t len, auth_len, id_len = strlen(z->conf.id);
    uint8_t method;
    char policy[ZESP_NAME_MAX];
    uint16_t fail = 0, ts_fail = 0;
    struct child_sa *c;
    struct child_choice ch;
    const struct keymat_in k = { NULL, sa->ni, sa->nr, sa->ni_len,
                                 sa->nr_len };

    /* Anyone who reaches listen can have IKE_AUTH refused again and again,
     * for one X25519 of ours each: logged at most once a second per kind
     * (unknown identities; known peers refused), each counted. */
    if (pid == NULL || pauth == NULL || ike_parse_id(pid, &id) != IKE_OK) {
        zike_log_limited(z, &z->auth_unknown_log, LOG_WARNING,
                         "IKE_AUTH: no identity or AUTH payload");
        goto auth_failed;
    }
    /* A log line would end the identity at the NUL, and name another. */
    if (memchr(id.data, 0, id.len) != NULL) {
        zike_log_limited(z, &z->auth_unknown_log, LOG_WARNING,
                         "IKE_AUTH: an identity with a NUL byte in it "
                         "(after '%s')", (const char *)id.data);
        goto auth_failed;
    }
    if ((peer = zike_conf_peer_by_id(&z->conf, id.data, id.len)) == NULL) {
        zike_log_limited(z, &z->auth_unknown_log, LOG_WARNING,
                         "IKE_AUTH: unknown peer identity '%.*s'",
                         (int)id.len, (const char *)id.data);
        goto auth_failed;
    }
    if (!id_is(&id, peer->id)) {
        zike_log_limited(z, &z->auth_unknown_log, LOG_WARNING,
                         "IKE_AUTH: identity '%s' of type %u refused: zike's "
                         "identities are of type ID_FQDN (%u)", peer->id,
                         id.type, IKE_ID_FQDN);
        goto auth_failed;
    }
    snprintf(sa->peer_name, sizeof sa->peer_name, "%s", peer->name);
    if (auth_check(sa, peer, pid, pauth) != 0) {
        zike_log_limited(z, &z->auth_failed_log, LOG_WARNING,
                         "peer %s: authentication failed (%s)", peer->name,
                         peer->auth == ZIKE_AUTH_PSK
                             ? "wrong pre-shared key"
                             : "bad Ed25519 signature or wrong key");
        goto auth_failed;
    }
    /* IKE_SA_INIT could not know the peer, and took any AEAD we run fast:
     * the one its configuration names is enforced here, where it is. */
    if (peer->ike_encr != 0 && sa->keys->aead_id != peer->ike_encr) {
        zike_log_limited(z, &z->auth_failed_log, LOG_WARNING,
                         "peer %s: its IKE SA uses %s, its configuration "
                         "names ike: %s", peer->name,
                         zesp_transform_name(sa->keys->aead_id),
                         zesp_transform_name(peer->ike_encr));
        goto auth_failed;
    }
    listen_follow(z, sa, from);      /* not marked: not yet established */
    sa->last_heard = z->now;
    if (!authenticated(z, sa, peer))
        goto auth_failed;

    idb[0] = IKE_ID_FQDN;
    memset(idb + 1, 0, 3);
    memcpy(idb + 4, z->conf.id, id_len);
    if (auth_make(z, sa, peer, idb, 4 + id_len, auth, &auth_len,
                  &method) != 0)
        goto auth_failed;
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDR, IKE_ID_FQDN, z->conf.id, id_len);
    ike_w_auth(&w, method, auth, auth_len);
    if (ike_find(m, IKE_PL_SA) == NULL) {   /* childless (RFC 6023) */
        if (ike_w_finish(&w, &len) == IKE_OK)
            ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
        return;
    }
    c = NULL;
    fail = IKE_N_TS_UNACCEPTABLE;
    /* Selectors zike cannot echo fail the child alone: TS_UNACCEPTABLE
     * (an INVALID_SYNTAX here would end the IKE SA, RFC 7296 2.21.2). */
    if (child_policy(z, peer, m, policy) &&
        child_ts_fit(z, peer, m, &ts_fail)) {
        child_adopt_orphans(z, sa, policy);
        if (child_choose(z, sa, peer, m, policy, &ch, &fail))
            c = child_respond(z, sa, peer, m, policy, &ch, &k, &w, &fail);
    }
    if (c != NULL) {
        w_child_tail(&w, policy, c->lanes, m);
        zike_log(LOG_NOTICE, "peer %s: child SA 0x%08x/0x%08x for policy %s "
                 "installed", peer->name, c->spi_in, c->spi_out, policy);
    } else {
        zike_log(LOG_WARNING, "peer %s: no child SA for policy %s "
                 "(notify %u)", peer->name, policy, fail);
        ike_w_notify(&w, IKE_PROTO_ESP, fail, NULL, 0, NULL, 0);
    }
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
    return;

auth_failed:
    z->stats.auth_failed++;
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_notify(&w, 0, IKE_N_AUTHENTICATION_FAILED, NULL, 0, NULL, 0);
    if (ike_w_finish(&w, &len) == IKE_OK)
        ike_respond(z, sa, from, IKE_AUTH, m->hdr.message_id, chain, len);
    if (sa->state == IKE_ST_HALF_OPEN && keys_forgotten(sa))
        return;
    ike_sa_dead(z, sa, NULL);
}

void ike_auth_response(struct zike *z, struct ike_sa *sa,
                       const struct ike_message *m)
{
    const struct zike_peer *peer = ike_sa_peer(z, sa);
    const struct ike_payload *pid = ike_find(m, IKE_PL_IDR);
    const struct ike_payload *pauth = ike_find(m, IKE_PL_AUTH);
    struct ike_id id;
    struct child_sa *c;
    uint16_t err = ike_error_notify(m);
    enum child_untaken why;
    const struct keymat_in k = { NULL, sa->ni, sa->nr, sa->ni_len,
                                 sa->nr_len };

    sa->req.kind = REQ_NONE;
    if (peer == NULL)
        return;
    if (err == IKE_N_AUTHENTICATION_FAILED) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: it refused our authentication "
                 "(AUTHENTICATION_FAILED)", peer->name);
        ike_sa_dead(z, sa, NULL);
        return;
    }
    if (pid == NULL || pauth == NULL || ike_parse_id(pid, &id) != IKE_OK ||
        !id_is(&id, peer->id)) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: responder identity is not '%s' "
                 "(of type ID_FQDN)", peer->name, peer->id);
        ike_sa_dead(z, sa, NULL);
        return;
    }
    if (auth_check(sa, peer, pid, pauth) != 0) {
        z->stats.auth_failed++;
        zike_log(LOG_WARNING, "peer %s: authentication of the responder "
                 "failed (%s)", peer->name, peer->auth == ZIKE_AUTH_PSK
                 ? "wrong pre-shared key" : "bad signature or wrong key");
        ike_sa_dead(z, sa, NULL);
        return;
    }
    if (!authenticated(z, sa, peer)) {
        ike_sa_dead(z, sa, "cannot record the peer's credential");
        return;
    }
    if (sa->auth_policy[0] == '\0')
        return;                           /* childless (RFC 6023) */
    child_adopt_orphans(z, sa, sa->auth_policy);
    c = child_complete(z, sa, peer, m, sa->auth_policy, sa->auth_spi_in, &k,
                       &why);
    if (c != NULL) {
        child_activate(z, sa, c);
        child_retire_others(z, sa, c);
    } else if (why != CHILD_NOT_MADE) {
        child_answer_untaken(z, sa, why, &sa->req.offer, sa->auth_policy,
                             sa->auth_spi_in, 0, false);
    } else if (err == IKE_N_TEMPORARY_FAILURE) {
        child_retry(z, sa, sa->auth_policy, 0);
    }
    /* Policies of this peer that also want SAs now (ACQUIRE) are served by
     * ike_tick with CREATE_CHILD_SA. */
}
