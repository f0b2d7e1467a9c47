/*
 * INFORMATIONAL (RFC 7296 1.4), both roles: DELETE of child SAs and of the
 * IKE SA (1.4.1), and the empty request that checks that the peer is
 * alive (2.4).  A child deleted leaves its policy to our newer child, or
 * to the one it replaced when the peer did not take our answer.
 */
#include <string.h>
#include <syslog.h>

#include "daemon.h"

/* The peer deleted the child that a rekey of its made, before the child
 * it replaced retired: it did not take our answer (child_answer_untaken:
 * a reload since it asked, an SPI taken there), and asks for a new one
 * now.  Until then the replaced child, still in both SADs, carries the
 * policy again rather than nothing. */
static void carry_on_replaced(struct zike *z, struct ike_sa *sa,
                              const char *policy)
{
    struct child_sa *newest = NULL;
    zesp_policy pol;

    if (zesp_policy_get(z->sad, policy, &pol) != 0 || pol.out_spi != 0)
        return;
    for (struct child_sa *o = sa->children; o; o = o->next)
        if (strcmp(o->policy, policy) == 0 && !o->unplugged &&
            !o->lingering && o->transform != 0 &&
            (newest == NULL || o->installed_at > newest->installed_at))
            newest = o;
    if (newest == NULL)
        return;
    zike_log(LOG_INFO, "peer %s: deleted the child SA that replaced "
             "0x%08x/0x%08x (%s), which carries the policy again until it "
             "retires", sa->peer_name, newest->spi_in, newest->spi_out,
             policy);
    newest->out_active = false;
    child_activate(z, sa, newest);
}

void informational_request(struct zike *z, struct ike_sa *sa,
                           const struct route *from,
                           const struct ike_message *m)
{
    /* Our inbound SPI of each child removed: no more than the request
     * named, each in 4 bytes, so the answer fits as the request did. */
    uint8_t chain[IKE_MAX_MESSAGE], spis[IKE_MAX_MESSAGE];
    struct ike_writer w;
    size_t len, n = 0;
    bool delete_ike = false;

    ike_w_init_chain(&w, chain, sizeof chain);
    for (size_t i = 0; i < m->npayloads; i++) {
        struct ike_delete d;
        if (m->payloads[i].type != IKE_PL_DELETE ||
            ike_parse_delete(&m->payloads[i], &d) != IKE_OK)
            continue;
        if (d.protocol == IKE_PROTO_IKE) {
            delete_ike = true;
            continue;
        }
        /* zike's child SAs are ESP: an AH SA, or one of no IKEv2 protocol
         * (RFC 7296 3.11), is none of them, whatever its SPI. */
        if (d.protocol != IKE_PROTO_ESP)
            continue;
        for (size_t k = 0; k < d.count; k++) {
            struct child_sa *c = child_by_out(sa, be32(d.spis + 4 * k));
            char policy[ZESP_NAME_MAX];
            bool carried;
            if (c == NULL)
                continue;
            if (n < sizeof spis / 4)
                put32(spis + 4 * n++, c->spi_in);
            /* The peer stops using it; our newer child takes over now. */
            for (struct child_sa *o = sa->children; o; o = o->next)
                if (o != c && !o->rekeyed &&
                    strcmp(o->policy, c->policy) == 0)
                    child_activate(z, sa, o);
            snprintf(policy, sizeof policy, "%s", c->policy);
            carried = c->out_active;
            child_linger(z, sa, c);
            if (carried)
                carry_on_replaced(z, sa, policy);
            z->stats.deleted++;
        }
    }
    if (n)
        ike_w_delete(&w, IKE_PROTO_ESP, 4, spis, (uint16_t)n);
    if (ike_w_finish(&w, &len) != IKE_OK)
        return;
    ike_respond(z, sa, from, IKE_INFORMATIONAL, m->hdr.message_id, chain, len);
    if (delete_ike) {
        zike_log(LOG_NOTICE, "peer %s: deleted the IKE SA", sa->peer_name);
        ike_sa_dead(z, sa, NULL);
    }
}

void informational_response(struct zike *z, struct ike_sa *sa,
                            const struct ike_message *m)
{
    enum req_kind kind = sa->req.kind;

    (void)m;
    sa->req.kind = REQ_NONE;
    if (kind == REQ_DELETE_CHILD) {
        struct child_sa *c = child_by_in(sa, sa->req.del_spi);
        if (c != NULL) {
            child_linger(z, sa, c);
            z->stats.deleted++;
        }
    } else if (kind == REQ_DELETE_IKE) {
        /* Ours (zikectl terminate, a revocation): the member did not
         * leave of itself, its groups' keys are not held against it. */
        if (sa->state == IKE_ST_ESTABLISHED && !sa->superseded)
            group_ike_sa_gone(z, sa, true);
        ike_sa_dead(z, sa, "deleted");
    }
}

int informational_dpd(struct zike *z, struct ike_sa *sa)
{
    uint8_t chain[1] = { IKE_PL_NONE };

    /* An SK payload with nothing inside: chain is the type byte only. */
    return ike_request(z, sa, REQ_DPD, IKE_INFORMATIONAL, chain, 1);
}
