/*
 * What the peer of an IKE SA authenticated with: its identity, the method,
 * and a BLAKE2b digest of the pre-shared key or Ed25519 public key (never
 * the key itself).  An operator who rotates a credential after a
 * compromise and reloads expects the old one to stop working at once: an
 * IKE SA whose peer's configuration no longer has what it was
 * authenticated with is deleted (reload.c).
 */
#include <stdio.h>
#include <string.h>

#include "daemon.h"

static const char cred_context[] = "zike peer credential";

int ike_cred_of(struct ike_cred *c, const struct zike_peer *peer)
{
    crypto_generichash_state st;
    const uint8_t method = (uint8_t)peer->auth;
    const uint8_t *key = peer->auth == ZIKE_AUTH_PSK ? peer->psk
                                                     : peer->pubkey;
    size_t key_len = peer->auth == ZIKE_AUTH_PSK ? peer->psk_len
                                                 : sizeof peer->pubkey;
    int rc = -1;

    memset(c, 0, sizeof *c);
    if (crypto_generichash_init(&st, NULL, 0, sizeof c->digest) != 0 ||
        crypto_generichash_update(&st, (const uint8_t *)cred_context,
                                  sizeof cred_context - 1) != 0 ||
        crypto_generichash_update(&st, &method, 1) != 0 ||
        crypto_generichash_update(&st, key, key_len) != 0 ||
        crypto_generichash_final(&st, c->digest, sizeof c->digest) != 0)
        goto out;
    snprintf(c->id, sizeof c->id, "%s", peer->id);
    c->auth = peer->auth;
    rc = 0;
out:
    sodium_memzero(&st, sizeof st);
    return rc;
}

const char *ike_sa_cred_changed(const struct ike_sa *sa,
                                const struct zike_peer *peer)
{
    struct ike_cred now;
    const char *why = NULL;

    if (sa->cred.auth == 0)
        return NULL;
    if (ike_cred_of(&now, peer) != 0)
        return "its credential cannot be checked";  /* fail closed */
    if (strcmp(sa->cred.id, now.id) != 0)
        why = "its identity changed";
    else if (sa->cred.auth != now.auth)
        why = "its authentication method changed";
    else if (sodium_memcmp(sa->cred.digest, now.digest,
                           sizeof now.digest) != 0)
        why = now.auth == ZIKE_AUTH_PSK ? "its pre-shared key changed"
                                        : "its public key changed";
    sodium_memzero(&now, sizeof now);
    return why;
}
