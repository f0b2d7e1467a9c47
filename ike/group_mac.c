/*
 * Source MACs on the group SAs zike installs (doc/zike.md 9.6).  The key
 * server lists, beside the group key, each sender's and each receiver's
 * member ID and identity public key (ZESP_SENDERS, ZESP_RECEIVERS); each
 * member derives its pairwise keys itself from its own identity secret
 * key (the join's sign-key) with zesp_source_mac_key, bound to the SA's
 * SPI and KEYMAT.  No pairwise key travels, so the key server, trusted
 * for who the members are, never holds what would let a member pass off
 * a message as another's; a rekey gives new pairwise keys.
 */
#include <errno.h>
#include <sodium.h>
#include <syslog.h>

#include "daemon.h"
#include "gsa.h"

static const uint8_t *own_pk(const uint8_t *sk)
{
    return sk + crypto_sign_SEEDBYTES;
}

/* The member ID the key server lists for our key; 0: none. */
static uint16_t own_member_id(const struct gsa_policy *pol, const uint8_t *sk)
{
    for (size_t i = 0; i < pol->nreceivers; i++)
        if (sodium_memcmp(pol->receivers[i].pk, own_pk(sk),
                          ZESP_SIGN_PUBLICBYTES) == 0)
            return pol->receivers[i].id;
    return 0;
}

bool group_mac_usable(const char *group, const struct gsa_policy *pol,
                      const uint8_t *sk, uint32_t own_sid, bool receiver)
{
    size_t others = 0;

    if (sk == NULL) {
        zike_log(LOG_ERR, "group %s: source MACs need sign-key in join (this "
                 "member's identity key)", group);
        return false;
    }
    if (receiver && own_member_id(pol, sk) == 0) {
        zike_log(LOG_ERR, "group %s: our sign-key's public key is not among "
                 "the receivers the key server lists", group);
        return false;
    }
    if (own_sid == 0)
        return true;
    for (size_t i = 0; i < pol->nsenders; i++)
        if (pol->senders[i].sid == own_sid &&
            sodium_memcmp(pol->senders[i].pk, own_pk(sk),
                          ZESP_SIGN_PUBLICBYTES) != 0) {
            zike_log(LOG_ERR, "group %s: the key server lists another key "
                     "than our sign-key for our Sender ID %u", group,
                     own_sid);
            return false;
        }
    for (size_t i = 0; i < pol->nreceivers; i++)
        others += sodium_memcmp(pol->receivers[i].pk, own_pk(sk),
                                ZESP_SIGN_PUBLICBYTES) != 0;
    if (others == 0) {
        zike_log(LOG_ERR, "group %s: source MACs, but no receiver but us",
                 group);
        return false;
    }
    return true;
}

static int mac_out(zesp_sa_params *p, const struct gsa_policy *pol,
                   const uint8_t *sk)
{
    p->mac_count = 0;
    for (size_t i = 0; i < pol->nreceivers; i++) {
        const struct gsa_receiver *r = &pol->receivers[i];

        if (sodium_memcmp(r->pk, own_pk(sk), ZESP_SIGN_PUBLICBYTES) == 0)
            continue;                   /* our own messages */
        if (p->mac_count == ZESP_SOURCE_MAC_MAX ||
            zesp_source_mac_key(p->mac_key[p->mac_count], sk, r->pk, 1,
                                p->spi, p->sender_id, r->id, p->key) != 0)
            return -1;
        p->mac_id[p->mac_count++] = r->id;
    }
    return 0;
}

int group_mac_keys(zesp_sa_params *p, const struct gsa_policy *pol,
                   const uint8_t *sk, const struct gsa_sender *s)
{
    uint16_t me;

    errno = EINVAL;
    if (sk == NULL)
        return -1;
    if (p->direction == ZESP_DIR_OUT)
        return mac_out(p, pol, sk);
    if (s == NULL || (me = own_member_id(pol, sk)) == 0 ||
        zesp_source_mac_key(p->mac_key[0], sk, s->pk, 0, p->spi, s->sid, me,
                            p->key) != 0)
        return -1;
    p->mac_id[0] = me;
    p->mac_count = 1;
    return 0;
}
