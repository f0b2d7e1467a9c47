/*
 * libFuzzer target: zike's exchange handlers behind a valid IKE SA.
 *
 * Each input gets a fresh daemon state with one established IKE SA whose
 * keys the harness knows, so the fuzzed payloads are sealed into a
 * genuine Encrypted payload and reach the handlers, not only the ICV
 * check.  data[0] % 4 chooses:
 *   0  a request from the peer: data[1] % 3 picks CREATE_CHILD_SA,
 *      INFORMATIONAL or IKE_AUTH (the SA then half open); data[2..] is the
 *      chain of inner payloads (its first byte the first payload's type);
 *   1  a response to our CREATE_CHILD_SA request, the same way;
 *   2  a response to our IKE SA rekey request;
 *   3  data[1..] as a whole IKE message, unencrypted (IKE_SA_INIT and the
 *      parser).
 * Sends go nowhere; the SAD is private to the process.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zike z;
static struct zike_peer peer;
static uint8_t psk[] = "fuzzing-pre-shared-key";

int zike_send(struct zike *zz, const struct route *to, const uint8_t *buf,
              size_t len)
{
    (void)zz;
    (void)to;
    (void)buf;
    (void)len;
    return 0;
}

struct route zike_route_to(struct zike *zz, const struct zike_peer *p)
{
    struct route r;

    (void)zz;
    (void)p;
    memset(&r, 0, sizeof r);
    return r;
}

static void setup(void)
{
    zesp_sad_opts opts = { .capacity = 64, .policies = 16 };

    if (zesp_init() != 0 || (z.sad = zesp_sad_new(&opts)) == NULL)
        abort();
    zike_log_level = -1;
    snprintf(z.conf.id, sizeof z.conf.id, "zike.example");
    snprintf(peer.name, sizeof peer.name, "peer");
    snprintf(peer.id, sizeof peer.id, "peer.example");
    peer.auth = ZIKE_AUTH_PSK;
    peer.psk = psk;
    peer.psk_len = sizeof psk - 1;
    peer.ike_encr = IKE_ENCR_CHACHA20_POLY1305;
    peer.esp_transform = ZESP_CHACHA20_POLY1305;
    peer.esn = true;
    peer.child_life.seconds = 3600;
    peer.ike_lifetime = 3600;
    snprintf(peer.policies[0], sizeof peer.policies[0], "pol");
    peer.npolicies = 1;
    z.conf.peers = &peer;
    z.conf.npeers = 1;
    z.conf.retransmit_ms = 500;
    z.conf.retransmit_tries = 3;
    z.conf.half_open_limit = 4;
    z.conf.max_ike_sas = 16;
    z.conf.rekey_overlap_ms = 100;
}

/* An IKE SA with fixed keys, established, the peer its initiator. */
static struct ike_sa *established(void)
{
    static const uint8_t shared[32] = { 1, 2, 3 };
    struct ike_sa *sa = ike_sa_new(&z, false);

    if (sa == NULL)
        abort();
    memset(sa->spi_i, 0x11, 8);
    memset(sa->spi_r, 0x22, 8);
    memset(sa->ni, 0x33, 32);
    sa->ni_len = 32;
    memset(sa->nr, 0x44, 32);
    sa->nr_len = 32;
    snprintf(sa->peer_name, sizeof sa->peer_name, "peer");
    sa->state = IKE_ST_ESTABLISHED;
    if ((sa->keys = ike_keys_new()) == NULL ||
        ike_derive(sa->keys, IKE_ENCR_CHACHA20_POLY1305, NULL, shared, sa->ni,
                   32, sa->nr, 32, sa->spi_i, sa->spi_r) != 0)
        abort();
    return sa;
}

/* Seal chain (first byte: first payload type) as the peer would. */
static size_t seal(struct ike_sa *sa, uint8_t exchange, bool response,
                   uint32_t mid, const uint8_t *chain, size_t len,
                   uint8_t *out)
{
    struct ike_header h = { .exchange = exchange, .message_id = mid };
    struct ike_writer w;
    uint64_t counter = 1;
    size_t sk_at, total;

    memcpy(h.spi_i, sa->spi_i, 8);
    memcpy(h.spi_r, sa->spi_r, 8);
    h.flags = (uint8_t)(IKE_FLAG_INITIATOR | (response ? IKE_FLAG_RESPONSE : 0));
    ike_w_init(&w, out, IKE_MAX_MESSAGE, &h);
    sk_at = w.len;
    ike_w_begin(&w, IKE_PL_SK, false);
    if (w.err || len < 1 || sk_at + 4 + 8 + len + 16 > IKE_MAX_MESSAGE)
        return 0;
    out[sk_at] = chain[0];
    memcpy(out + sk_at + 4 + 8, chain + 1, len - 1);
    if (ike_sk_seal(out, IKE_MAX_MESSAGE, sk_at, len - 1, sa->keys, true,
                    &counter, &total) != IKE_OK)
        return 0;
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    static const uint8_t exchanges[] = { IKE_CREATE_CHILD_SA,
                                         IKE_INFORMATIONAL, IKE_AUTH };
    struct route from;
    struct ike_sa *sa;
    size_t len = 0;

    if (z.sad == NULL)
        setup();
    if (size < 2)
        return 0;
    memset(&from, 0, sizeof from);
    z.now += 1000;
    sa = established();
    switch (data[0] % 4) {
    case 0: {
        uint8_t ex = exchanges[data[1] % 3];
        if (ex == IKE_AUTH) {
            sa->state = IKE_ST_HALF_OPEN;
            sa->msg1 = calloc(1, 64);
            sa->msg2 = calloc(1, 64);
            sa->msg1_len = sa->msg2_len = 64;
        }
        if (size > 2)
            len = seal(sa, ex, false, sa->mid_in, data + 2, size - 2, msg);
        break;
    }
    case 1:
    case 2:
        sa->req.kind = data[0] % 4 == 1 ? REQ_CHILD : REQ_IKE_REKEY;
        sa->req.mid = sa->mid_out++;
        snprintf(sa->req.policy, sizeof sa->req.policy, "pol");
        sa->req.spi_in = 0x1000;
        memset(sa->req.nonce, 0x55, sizeof sa->req.nonce);
        ike_x25519_keypair(sa->req.dh_pub, sa->req.dh_priv);
        if (size > 1)
            len = seal(sa, exchanges[0], true, sa->req.mid, data + 1,
                       size - 1, msg);
        break;
    default:
        len = size - 1 > sizeof msg ? sizeof msg : size - 1;
        memcpy(msg, data + 1, len);
        break;
    }
    if (len)
        ike_handle(&z, &from, msg, len);
    ike_tick(&z);
    while (z.sas)
        ike_sa_free(&z, z.sas);
    zesp_sad_flush(z.sad);
    return 0;
}
