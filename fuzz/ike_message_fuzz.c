/*
 * libFuzzer target: IKEv2 messages as a peer could send them.  The whole
 * message is parsed, then every payload zike reads (SA, KE, Nonce, Notify)
 * is parsed in turn, G-IKEv2's group payloads (IDg, GSA, KD) included.  The input is copied to a buffer of exactly its size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gsa.h"
#include "ikev2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ike_message m;
    uint8_t *buf = malloc(size ? size : 1);

    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    if (ike_parse(buf, size, &m) == IKE_OK)
        for (size_t i = 0; i < m.npayloads; i++) {
            const struct ike_payload *p = &m.payloads[i];
            struct ike_sa_payload sa;
            struct ike_ke ke;
            struct ike_notify n;
            const uint8_t *nonce;
            size_t len;
            struct gsa_policy g;
            struct gsa_kd kd;
            struct ike_id id;

            switch (p->type) {
            case IKE_PL_SA:
                ike_parse_sa(p, &sa);
                break;
            case IKE_PL_KE:
                ike_parse_ke(p, &ke);
                break;
            case IKE_PL_NONCE:
                ike_parse_nonce(p, &nonce, &len);
                break;
            case IKE_PL_NOTIFY:
                ike_parse_notify(p, &n);
                break;
            case IKE_PL_IDG:
                ike_parse_id(p, &id);
                break;
            case IKE_PL_GSA:
                gsa_parse(p, &g);
                break;
            case IKE_PL_KD:
                kd_parse(p, &kd);
                break;
            default:
                break;
            }
        }
    free(buf);
    return 0;
}
