/*
 * Writes the seed corpus of ike_exchange_fuzz (see its header for the
 * input format): well-formed inner payload chains of each exchange zike
 * handles.  Deterministic, so running it again rewrites the same files.
 *   make_ike_seeds DIR [MESSAGE_DIR]
 * With MESSAGE_DIR, also a seed of ike_message_fuzz: an unencrypted message
 * with G-IKEv2's IDg, GSA and KD payloads.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "gsa.h"
#include "ikev2.h"

static uint8_t pub[32], nonce[32];

static void put(const char *dir, int n, uint8_t mode, uint8_t ex,
                const uint8_t *chain, size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof path, "%s/seed-%02d", dir, n);
    if ((f = fopen(path, "wb")) == NULL)
        return;
    fputc(mode, f);
    if (mode == 0)
        fputc(ex, f);
    fwrite(chain, 1, len, f);
    fclose(f);
}

static void esp_sa(struct ike_writer *w, bool dh)
{
    struct ike_sa_payload sa = { .nproposals = 1 };
    struct ike_proposal *p = &sa.proposals[0];

    *p = (struct ike_proposal){ .number = 1, .protocol = IKE_PROTO_ESP,
                                .spi_size = 4, .spi = { 0, 0, 0x20, 0 } };
    p->transforms[p->ntransforms++] =
        (struct ike_transform){ IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 };
    if (dh)
        p->transforms[p->ntransforms++] =
            (struct ike_transform){ IKE_TT_DH, IKE_DH_CURVE25519, 0 };
    p->transforms[p->ntransforms++] =
        (struct ike_transform){ IKE_TT_ESN, IKE_ESN_YES, 0 };
    ike_w_sa(w, &sa);
}

static void ike_sa(struct ike_writer *w)
{
    struct ike_sa_payload sa = { .nproposals = 1 };
    struct ike_proposal *p = &sa.proposals[0];

    *p = (struct ike_proposal){ .number = 1, .protocol = IKE_PROTO_IKE,
                                .spi_size = 8, .ntransforms = 3,
                                .spi = { 1, 2, 3, 4, 5, 6, 7, 8 } };
    p->transforms[0] =
        (struct ike_transform){ IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 };
    p->transforms[1] =
        (struct ike_transform){ IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 };
    p->transforms[2] = (struct ike_transform){ IKE_TT_DH, IKE_DH_CURVE25519, 0 };
    ike_w_sa(w, &sa);
}

static void tail(struct ike_writer *w)
{
    ike_w_ts_any(w, IKE_PL_TSI);
    ike_w_ts_any(w, IKE_PL_TSR);
    ike_w_notify(w, 0, IKE_N_ZESP_POLICY, NULL, 0, (const uint8_t *)"pol", 3);
}

int main(int argc, char **argv)
{
    uint8_t chain[2048], priv[32] = { 9 };
    struct ike_writer w;
    size_t len;
    int n = 0;

    if (argc < 2 || argc > 3 || sodium_init() < 0)
        return 2;
    crypto_scalarmult_base(pub, priv);
    memset(nonce, 0x5a, sizeof nonce);

    /* A new child SA, then a rekey of child SA 0x00002000. */
    for (int rekey = 0; rekey < 2; rekey++) {
        ike_w_init_chain(&w, chain, sizeof chain);
        if (rekey)
            ike_w_notify(&w, IKE_PROTO_ESP, IKE_N_REKEY_SA,
                         (const uint8_t *)"\0\0\x20\0", 4, NULL, 0);
        esp_sa(&w, true);
        ike_w_nonce(&w, nonce, sizeof nonce);
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
        tail(&w);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 0, 0, chain, len);
    }
    /* An IKE SA rekey request. */
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_sa(&w);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 0, 0, chain, len);
    /* INFORMATIONAL: delete child SAs, delete the IKE SA, liveness. */
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_ESP, 4, (const uint8_t *)"\0\0\x20\0\0\0\x30\0", 2);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 0, 1, chain, len);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_delete(&w, IKE_PROTO_IKE, 0, NULL, 0);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 0, 1, chain, len);
    put(argv[1], n++, 0, 1, (const uint8_t *)"", 1);
    /* IKE_AUTH with a (wrong) PSK AUTH and a child SA. */
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_w_id(&w, IKE_PL_IDI, IKE_ID_FQDN, "peer.example", 12);
    ike_w_auth(&w, 2, nonce, 32);
    esp_sa(&w, false);
    tail(&w);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 0, 2, chain, len);
    /* Responses: to our CREATE_CHILD_SA, and to our IKE SA rekey. */
    ike_w_init_chain(&w, chain, sizeof chain);
    esp_sa(&w, true);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    tail(&w);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 1, 0, chain, len);
    ike_w_init_chain(&w, chain, sizeof chain);
    ike_sa(&w);
    ike_w_nonce(&w, nonce, sizeof nonce);
    ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
    if (ike_w_finish(&w, &len) == IKE_OK)
        put(argv[1], n++, 2, 0, chain, len);
    /* G-IKEv2: a registration as a sender, a leave, a push of group "j"
     * (GSA, KD, Delete) and a registration response. */
    {
        struct gsa_policy g = { .spi = 0x6000, .encr = 28, .esn = true,
                                .lifetime = 600, .atd = 1, .dtd = 2,
                                .sid_bits = 16, .nsenders = 2 };
        struct gsa_kd kd = { .spi = 0x6000, .sender_id = 2 };
        static const uint8_t one[4] = { 0, 0, 0, 1 };

        g.senders[0] = (struct gsa_sender){ .sid = 1, .name = "peer" };
        g.senders[1] = (struct gsa_sender){ .sid = 2, .name = "zike" };
        for (int k = 0; k < 2; k++) {
            ike_w_init_chain(&w, chain, sizeof chain);
            ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "g", 1);
            ike_w_notify(&w, 0, k ? IKE_N_REGISTRATION_FAILED
                                  : IKE_N_GROUP_SENDER, NULL, 0, one,
                         k ? 0 : 4);
            if (ike_w_finish(&w, &len) == IKE_OK)
                put(argv[1], n++, 0, 3, chain, len);
        }
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "j", 1);
        gsa_write(&w, &g);
        kd.sender_id = 0;
        kd_write(&w, &kd);
        ike_w_delete(&w, IKE_PROTO_ESP, 4, (const uint8_t *)"\0\0\x50\0", 1);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 0, 4, chain, len);
        ike_w_init_chain(&w, chain, sizeof chain);
        gsa_write(&w, &g);
        kd.sender_id = 2;
        kd_write(&w, &kd);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 4, 0, chain, len);
        if (argc == 3) {
            struct ike_header h = { .exchange = IKE_GSA_REGISTRATION,
                                    .flags = IKE_FLAG_RESPONSE };
            uint8_t msg[4096];
            char path[4096];
            FILE *f;

            memset(h.spi_i, 0x42, 8);
            ike_w_init(&w, msg, sizeof msg, &h);
            ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "g", 1);
            gsa_write(&w, &g);
            kd_write(&w, &kd);
            snprintf(path, sizeof path, "%s/seed-gsa", argv[2]);
            if (ike_w_finish(&w, &len) == IKE_OK &&
                (f = fopen(path, "wb")) != NULL) {
                fwrite(msg, 1, len, f);
                fclose(f);
            }
        }
    }
    /* A whole IKE_SA_INIT request, unencrypted. */
    {
        struct ike_header h = { .exchange = IKE_SA_INIT,
                                .flags = IKE_FLAG_INITIATOR };
        uint8_t msg[1024];
        struct ike_sa_payload sa = { .nproposals = 1 };

        memset(h.spi_i, 0x77, 8);
        sa.proposals[0] = (struct ike_proposal){
            .number = 1, .protocol = IKE_PROTO_IKE, .ntransforms = 3,
            .transforms = { { IKE_TT_ENCR, IKE_ENCR_CHACHA20_POLY1305, 0 },
                            { IKE_TT_PRF, IKE_PRF_HMAC_SHA2_256, 0 },
                            { IKE_TT_DH, IKE_DH_CURVE25519, 0 } } };
        ike_w_init(&w, msg, sizeof msg, &h);
        ike_w_sa(&w, &sa);
        ike_w_ke(&w, IKE_DH_CURVE25519, pub, sizeof pub);
        ike_w_nonce(&w, nonce, sizeof nonce);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 3, 0, msg, len);
    }
    /* A group with source MACs (ZESP_RECEIVERS): a push and a
     * registration response of group "j". */
    {
        struct gsa_policy g = { .spi = 0x6100, .encr = 28, .esn = true,
                                .lifetime = 600, .atd = 1, .dtd = 2,
                                .sid_bits = 16, .nsenders = 2,
                                .source_auth = GSA_SOURCE_AUTH_MAC,
                                .nreceivers = 2 };
        struct gsa_kd kd = { .spi = 0x6100 };

        g.senders[0] = (struct gsa_sender){ .sid = 1, .name = "peer" };
        g.senders[1] = (struct gsa_sender){ .sid = 2, .name = "zike" };
        memset(g.senders[0].pk, 0x11, 32);
        memset(g.senders[1].pk, 0x22, 32);
        g.receivers[0].id = 2;
        memset(g.receivers[0].pk, 0x22, 32);
        g.receivers[1].id = 9;
        memset(g.receivers[1].pk, 0x99, 32);
        ike_w_init_chain(&w, chain, sizeof chain);
        ike_w_id(&w, IKE_PL_IDG, IKE_ID_KEY_ID, "j", 1);
        gsa_write(&w, &g);
        kd_write(&w, &kd);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 0, 4, chain, len);
        ike_w_init_chain(&w, chain, sizeof chain);
        gsa_write(&w, &g);
        kd.sender_id = 2;
        kd_write(&w, &kd);
        if (ike_w_finish(&w, &len) == IKE_OK)
            put(argv[1], n++, 4, 0, chain, len);
    }
    printf("%d seeds\n", n);
    return 0;
}
