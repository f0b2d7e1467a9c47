/*
 * Building and choosing proposals.  An initiator with no AEAD configured
 * offers every fast one, fastest first; the responder takes the first of
 * the initiator's list that it can run fast, so the initiator's order
 * decides between two that both can.  An AEAD offered is one the offerer
 * runs fast (zike offers AES-GCM only with AES instructions), so that
 * choice is fast at both ends; strongSwan's responder prefers its own
 * order (prefer_configured_proposals), which agrees whenever both ends
 * prefer AES-GCM.  The proposals are authenticated in IKE_AUTH, so no one
 * in between can steer the choice.
 */
#include "proposal.h"

#include <string.h>

#include "zesp.h"

struct encr_list encr_one(uint16_t id)
{
    struct encr_list l = { { id }, 1 };

    return l;
}

struct encr_list encr_choice(uint32_t configured)
{
    struct encr_list l = { { 0 }, 0 };
    uint32_t ids[TRANSFORM_PREFERRED_MAX];

    if (configured != 0)
        return encr_one((uint16_t)configured);
    l.n = transform_preferred(ids);
    for (size_t i = 0; i < l.n; i++)
        l.id[i] = (uint16_t)ids[i];
    return l;
}

static uint16_t key_bits(uint16_t encr)
{
    return encr == IKE_ENCR_AES_GCM_16 || encr == ZESP_NULL_AES256GMAC ? 256
                                                                       : 0;
}

void ike_proposal(struct ike_sa_payload *sa, const struct encr_list *encr,
                  const uint8_t *spi, size_t spi_size, uint8_t proto,
                  bool esn_choice, bool esn, bool pfs)
{
    struct ike_proposal *p = &sa->proposals[0];

    memset(sa, 0, sizeof *sa);
    sa->nproposals = 1;
    p->number = 1;
    p->protocol = proto;
    p->spi_size = (uint8_t)spi_size;
    if (spi_size)
        memcpy(p->spi, spi, spi_size);
    for (size_t i = 0; i < encr->n; i++)
        p->transforms[p->ntransforms++] = (struct ike_transform){
            IKE_TT_ENCR, encr->id[i], key_bits(encr->id[i]) };
    if (proto == IKE_PROTO_IKE) {
        p->transforms[p->ntransforms++] =
            (struct ike_transform){ IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 };
        p->transforms[p->ntransforms++] =
            (struct ike_transform){ IKE_TT_DH, IKE_DH_CURVE25519, 0 };
    } else {
        if (pfs)
            p->transforms[p->ntransforms++] =
                (struct ike_transform){ IKE_TT_DH, IKE_DH_CURVE25519, 0 };
        if (esn_choice)
            p->transforms[p->ntransforms++] = (struct ike_transform){
                IKE_TT_ESN, (uint16_t)(esn ? IKE_ESN_YES : IKE_ESN_NO), 0 };
    }
}

static bool listed(const struct encr_list *l, uint16_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->id[i] == id)
            return true;
    return false;
}

bool proposal_pick(const struct ike_proposal *p, uint8_t proto,
                   const struct encr_list *ok, bool chosen, bool want_esn,
                   bool *esn, uint16_t *encr)
{
    bool prf_ok = false, dh_ok = false, esn_no = false, esn_yes = false;
    size_t nencr = 0;

    *encr = 0;
    if (p->protocol != proto)
        return false;
    for (size_t i = 0; i < p->ntransforms; i++) {
        const struct ike_transform *t = &p->transforms[i];
        switch (t->type) {
        case IKE_TT_ENCR:
            nencr++;
            if (*encr == 0 && listed(ok, t->id) &&
                (t->key_bits == 0 || t->key_bits == 256))
                *encr = t->id;
            break;
        case IKE_TT_PRF:
            prf_ok |= t->id == IKE_PRF_HMAC_SHA2_256;
            break;
        case IKE_TT_DH:
            dh_ok |= t->id == IKE_DH_CURVE25519;
            break;
        case IKE_TT_ESN:
            esn_no |= t->id == IKE_ESN_NO;
            esn_yes |= t->id == IKE_ESN_YES;
            break;
        default:
            break;
        }
    }
    if (*encr == 0 || (chosen && nencr != 1))
        return false;
    if (proto == IKE_PROTO_IKE)
        return prf_ok && dh_ok;
    /* ESN is a choice, not a policy: ours if offered, else what is
     * offered; no ESN transform at all means no ESN. */
    if (want_esn ? esn_yes : esn_no)
        *esn = want_esn;
    else
        *esn = esn_yes;
    return p->spi_size == 4;
}
