/*
 * Proposals (RFC 7296 2.7, 3.3): the SA payloads zike offers and the ones
 * it accepts, for the IKE SA (an AEAD, PRF_HMAC_SHA2_256 and Curve25519)
 * and for child SAs (the peer's ESP transform, the ESN choice, and
 * Curve25519 in a CREATE_CHILD_SA).
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "daemon.h"

/* One proposal; for ESP with pfs, the X25519 transform of a
 * CREATE_CHILD_SA (never in IKE_AUTH, RFC 7296 1.2). */
void ike_proposal(struct ike_sa_payload *sa, uint16_t encr,
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
    p->transforms[p->ntransforms++] = (struct ike_transform){
        IKE_TT_ENCR, encr,
        (uint16_t)(encr == IKE_ENCR_AES_GCM_16 ||
                   encr == ZESP_NULL_AES256GMAC ? 256 : 0) };
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

/* Does a proposal offer exactly what we want?  For ESP, the transform
 * must match and the ESN choice be offered; *esn gets the one chosen. */
bool proposal_ok(const struct ike_proposal *p, uint8_t proto,
                 uint16_t encr, bool want_esn, bool *esn)
{
    bool encr_ok = false, prf_ok = false, dh_ok = false;
    bool esn_no = false, esn_yes = false;

    if (p->protocol != proto)
        return false;
    for (size_t i = 0; i < p->ntransforms; i++) {
        const struct ike_transform *t = &p->transforms[i];
        switch (t->type) {
        case IKE_TT_ENCR:
            if (t->id == encr && (t->key_bits == 0 || t->key_bits == 256))
                encr_ok = true;
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
    if (proto == IKE_PROTO_IKE)
        return encr_ok && prf_ok && dh_ok;
    /* ESN is a choice, not a policy: ours if offered, else what is
     * offered; no ESN transform at all means no ESN. */
    if (want_esn ? esn_yes : esn_no)
        *esn = want_esn;
    else
        *esn = esn_yes;
    return encr_ok && p->spi_size == 4;
}

/* The SA payload of a child SA request (IKE_AUTH or CREATE_CHILD_SA);
 * w_child_tail (child.c) writes the rest. */
void w_child_request(struct ike_writer *w, const struct zike_peer *peer,
                     uint32_t spi_in, bool pfs)
{
    struct ike_sa_payload prop;
    uint8_t spi[4];

    put32(spi, spi_in);
    ike_proposal(&prop, (uint16_t)peer->esp_transform, spi, 4, IKE_PROTO_ESP,
                 true, peer->esn, pfs);
    proposal_log(peer->name, "we offer", &prop);
    ike_w_sa(w, &prop);
}

/* Pick our ESP proposal from the offer; the offered SPI goes to *spi. */
bool pick_child(const struct zike_peer *peer,
                const struct ike_sa_payload *offer, uint32_t *spi,
                bool *esn, uint8_t *number)
{
    for (size_t i = 0; i < offer->nproposals; i++)
        if (proposal_ok(&offer->proposals[i], IKE_PROTO_ESP,
                        (uint16_t)peer->esp_transform, peer->esn, esn)) {
            *spi = be32(offer->proposals[i].spi);
            *number = offer->proposals[i].number;
            return *spi >= 256;
        }
    return false;
}

/* Pick the IKE SA's proposal from an offer: the first with an AEAD of
 * ours that this host runs, ChaCha20-Poly1305 before AES-256-GCM; *encr
 * gets the AEAD. */
const struct ike_proposal *pick_ike(const struct ike_sa_payload *offer,
                                    uint16_t *encr)
{
    const struct ike_proposal *pick = NULL;

    for (size_t i = 0; i < offer->nproposals && pick == NULL; i++) {
        bool esn;
        static const uint16_t ours[] = { IKE_ENCR_CHACHA20_POLY1305,
                                         IKE_ENCR_AES_GCM_16 };
        for (size_t k = 0; k < 2 && pick == NULL; k++)
            if (zesp_transform_available(ours[k]) &&
                proposal_ok(&offer->proposals[i], IKE_PROTO_IKE, ours[k],
                            false, &esn)) {
                pick = &offer->proposals[i];
                *encr = ours[k];
            }
    }
    return pick;
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
