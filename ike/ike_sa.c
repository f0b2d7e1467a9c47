/*
 * The IKE SAs zike keeps: one is made with its SPI (RFC 7296 2.6), its
 * nonce (2.10) and its X25519 key pair, found by its peer, and freed with
 * its keys wiped.  The exchanges find an IKE SA here; the dispatcher finds
 * the one a message belongs to by its SPIs (dispatch.c).
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

const char *ike_state_name(enum ike_state s)
{
    switch (s) {
    case IKE_ST_INIT_SENT: return "init-sent";
    case IKE_ST_HALF_OPEN: return "half-open";
    case IKE_ST_AUTH_SENT: return "auth-sent";
    case IKE_ST_ESTABLISHED: return "established";
    case IKE_ST_DELETING: return "deleting";
    case IKE_ST_DEAD: return "dead";
    }
    return "?";
}

const struct zike_peer *ike_sa_peer(struct zike *z, const struct ike_sa *sa)
{
    return sa->peer_name[0] ? zike_conf_peer(&z->conf, sa->peer_name) : NULL;
}

struct ike_sa *ike_sa_new(struct zike *z, bool initiator)
{
    struct ike_sa *sa = calloc(1, sizeof *sa);

    if (sa == NULL)
        return NULL;
    if ((sa->keys = ike_keys_new()) == NULL) {
        free(sa);
        return NULL;
    }
    sa->initiator = initiator;
    sa->created = sa->last_heard = z->now;
    randombytes_buf(initiator ? sa->spi_i : sa->spi_r, 8);
    if (initiator) {
        sa->ni_len = IKE_NONCE_BYTES;
        randombytes_buf(sa->ni, sa->ni_len);
    } else {
        sa->nr_len = IKE_NONCE_BYTES;
        randombytes_buf(sa->nr, sa->nr_len);
    }
    if (ike_x25519_keypair(sa->dh_pub, sa->keys->dh_priv) != 0) {
        ike_keys_free(sa->keys);
        free(sa);
        return NULL;
    }
    sa->next = z->sas;
    z->sas = sa;
    return sa;
}

void ike_sa_free(struct zike *z, struct ike_sa *sa)
{
    struct ike_sa **pp;

    for (pp = &z->sas; *pp; pp = &(*pp)->next)
        if (*pp == sa) {
            *pp = sa->next;
            break;
        }
    while (sa->children) {
        struct child_sa *c = sa->children;
        sa->children = c->next;
        free(c);
    }
    ike_keys_free(sa->keys);
    free(sa->msg1);
    free(sa->msg2);
    free(sa->req.buf);
    free(sa->resp);
    sodium_memzero(&sa->req, sizeof sa->req);
    sodium_memzero(&sa->cred, sizeof sa->cred);
    free(sa);
}

/* The IKE SAs zike holds with a peer, whatever their state but dead. */
size_t ike_sas_of_peer(const struct zike *z, const char *peer)
{
    size_t n = 0;

    for (const struct ike_sa *sa = z->sas; sa; sa = sa->next)
        n += sa->state != IKE_ST_DEAD && strcmp(sa->peer_name, peer) == 0;
    return n;
}

/* The IKE SA with a peer that is alive (not being replaced), or NULL. */
struct ike_sa *ike_sa_for_peer(struct zike *z, const char *peer)
{
    for (struct ike_sa *sa = z->sas; sa; sa = sa->next)
        if (strcmp(sa->peer_name, peer) == 0 && !sa->superseded &&
            sa->state != IKE_ST_DEAD && sa->state != IKE_ST_DELETING)
            return sa;
    return NULL;
}
