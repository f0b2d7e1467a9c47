/*
 * Proposals (RFC 7296 2.7, 3.3): the SA payloads zike offers and the ones
 * it accepts, for the IKE SA (an AEAD, PRF_HMAC_SHA2_256 and Curve25519)
 * and for child SAs (an ESP AEAD, the ESN choice, and Curve25519 in a
 * CREATE_CHILD_SA).  An initiator with no AEAD configured offers every
 * fast one, fastest first; the responder takes the first of the
 * initiator's list that it can run fast, so the initiator's order decides
 * between two that both can.  An AEAD offered is one the offerer runs fast
 * (zike offers AES-GCM only with AES instructions), so that choice is fast
 * at both ends; strongSwan's responder prefers its own order
 * (prefer_configured_proposals), which agrees whenever both ends prefer
 * AES-GCM.  The proposals are authenticated in IKE_AUTH, so no one in
 * between can steer the choice.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"


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
    /* An answer holds the ESN choice we offered, our only one (RFC 7296
     * 2.7: the responder picks from the offer). */
    if (chosen && (want_esn ? !esn_yes || esn_no : esn_yes))
        return false;
    /* Offered to us, ESN is a choice, not a policy: ours if offered, else
     * what is offered; no ESN transform at all means no ESN. */
    if (want_esn ? esn_yes : esn_no)
        *esn = want_esn;
    else
        *esn = esn_yes;
    return p->spi_size == 4;
}

/* The SA payload of a child SA request (IKE_AUTH or CREATE_CHILD_SA);
 * w_child_tail (child.c) writes the rest. */
void w_child_request(struct ike_writer *w, const struct zike_peer *peer,
                     uint32_t spi_in, bool pfs)
{
    struct encr_list offer = encr_choice(peer->esp_transform);
    struct ike_sa_payload prop;
    uint8_t spi[4];

    put32(spi, spi_in);
    ike_proposal(&prop, &offer, spi, 4, IKE_PROTO_ESP, true, peer->esn, pfs);
    proposal_log(peer->name, "we offer", &prop);
    ike_w_sa(w, &prop);
}

/* Pick our ESP proposal from the offer (chosen: the responder's answer
 * to ours); the offered SPI goes to *spi, the AEAD to *encr. */
bool pick_child(const struct zike_peer *peer,
                const struct ike_sa_payload *offer, bool chosen,
                uint32_t *spi, bool *esn, uint8_t *number, uint16_t *encr)
{
    struct encr_list ok = encr_choice(peer->esp_transform);

    for (size_t i = 0; i < offer->nproposals; i++)
        if (proposal_pick(&offer->proposals[i], IKE_PROTO_ESP, &ok, chosen,
                          peer->esn, esn, encr)) {
            *spi = be32(offer->proposals[i].spi);
            *number = offer->proposals[i].number;
            return *spi >= 256;
        }
    return false;
}

/* Pick the IKE SA's proposal from an offer: the first with an AEAD this
 * host runs fast (the peer is not known yet); *encr gets the AEAD. */
const struct ike_proposal *pick_ike(const struct ike_sa_payload *offer,
                                    uint16_t *encr)
{
    struct encr_list fast = encr_choice(0);

    for (size_t i = 0; i < offer->nproposals; i++) {
        bool esn;
        if (proposal_pick(&offer->proposals[i], IKE_PROTO_IKE, &fast, false,
                          false, &esn, encr))
            return &offer->proposals[i];
    }
    return NULL;
}

/* The IKE proposal of a CREATE_CHILD_SA (an IKE SA rekey), or NULL (a
 * child SA). */
const struct ike_proposal *ike_offer(const struct ike_message *m,
                                     struct ike_sa_payload *sa)
{
    const struct ike_payload *p = ike_find(m, IKE_PL_SA);

    if (p == NULL || ike_parse_sa(p, sa) != IKE_OK)
        return NULL;
    for (size_t i = 0; i < sa->nproposals; i++)
        if (sa->proposals[i].protocol == IKE_PROTO_IKE)
            return &sa->proposals[i];
    return NULL;
}

/* Does the proposal offer this transform? */
bool proposal_offers(const struct ike_proposal *p, uint8_t type, uint16_t id)
{
    for (size_t i = 0; i < p->ntransforms; i++)
        if (p->transforms[i].type == type && p->transforms[i].id == id)
            return true;
    return false;
}

/* One transform's name: "chacha20-poly1305", "prf-hmac-sha2-256",
 * "x25519", "esn", or its type and number. */
static int transform_text(char *out, size_t len, const struct ike_transform *t)
{
    switch (t->type) {
    case IKE_TT_ENCR:
        if (strcmp(zesp_transform_name(t->id), "unknown") != 0)
            return snprintf(out, len, " %s", zesp_transform_name(t->id));
        return snprintf(out, len, " encr-%u", t->id);
    case IKE_TT_PRF:
        if (t->id == IKE_PRF_HMAC_SHA2_256)
            return snprintf(out, len, " prf-hmac-sha2-256");
        return snprintf(out, len, " prf-%u", t->id);
    case IKE_TT_DH:
        if (t->id == IKE_DH_CURVE25519)
            return snprintf(out, len, " x25519");
        return snprintf(out, len, " dh-%u", t->id);
    case IKE_TT_ESN:
        return snprintf(out, len, " %s", t->id == IKE_ESN_YES ? "esn" : "no-esn");
    default:
        return snprintf(out, len, " type%u-%u", t->type, t->id);
    }
}

/* zike -v: the proposals offered and chosen, one line each, e.g.
 * "peer bob: we offer ESP proposal 1: chacha20-poly1305 x25519 esn". */
void proposal_log(const char *peer, const char *what,
                  const struct ike_sa_payload *sa)
{
    if (zike_log_level < LOG_DEBUG)
        return;
    for (size_t i = 0; i < sa->nproposals; i++) {
        const struct ike_proposal *p = &sa->proposals[i];
        char text[512];
        size_t used = 0;

        text[0] = '\0';
        for (size_t k = 0; k < p->ntransforms && used < sizeof text; k++) {
            int n = transform_text(text + used, sizeof text - used,
                                   &p->transforms[k]);
            if (n < 0)
                break;
            used += (size_t)n;
        }
        zike_log(LOG_DEBUG, "%s%s: %s %s proposal %u:%s",
                 peer ? "peer " : "IKE_SA_INIT", peer ? peer : "", what,
                 p->protocol == IKE_PROTO_IKE ? "IKE"
                 : p->protocol == IKE_PROTO_ESP ? "ESP" : "other",
                 p->number, text);
    }
}
