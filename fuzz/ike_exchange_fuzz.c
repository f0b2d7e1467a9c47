/*
 * libFuzzer target: zike's exchange handlers behind a valid IKE SA.
 *
 * Each input gets a fresh daemon state with one established IKE SA whose
 * keys the harness knows, so the fuzzed payloads are sealed into a
 * genuine Encrypted payload and reach the handlers, not only the ICV
 * check.  data[0] % 5 chooses:
 *   0  a request from the peer: data[1] % 5 picks CREATE_CHILD_SA,
 *      INFORMATIONAL, IKE_AUTH (the SA then half open), GSA_REGISTRATION
 *      (we are its key server) or GSA_INBAND_REKEY (it is ours); data[2..]
 *      is the chain of inner payloads (its first byte the first payload's
 *      type);
 *   1  a response to our CREATE_CHILD_SA request, the same way;
 *   2  a response to our IKE SA rekey request;
 *   3  data[1..] as a whole IKE message, unencrypted (IKE_SA_INIT and the
 *      parser);
 *   4  a response to our GSA_REGISTRATION of group "j".
 * Sends go nowhere; the SAD is private to the process.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zike_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t msg[IKE_MAX_MESSAGE];
    static const uint8_t exchanges[] = { IKE_CREATE_CHILD_SA,
                                         IKE_INFORMATIONAL, IKE_AUTH,
                                         IKE_GSA_REGISTRATION,
                                         IKE_GSA_INBAND_REKEY };
    static const uint8_t shared[32] = { 1, 2, 3 };
    struct route from;
    struct ike_sa *sa;
    size_t len = 0;
    uint64_t counter = 1;

    if (z.sad == NULL)
        harness_setup();
    if (size < 2)
        return 0;
    memset(&from, 0, sizeof from);
    z.now += 1000;
    sa = harness_established(shared);
    switch (data[0] % 5) {
    case 0: {
        uint8_t ex = exchanges[data[1] % 5];
        if (ex == IKE_AUTH) {
            sa->state = IKE_ST_HALF_OPEN;
            sa->msg1 = calloc(1, 64);
            sa->msg2 = calloc(1, 64);
            sa->msg1_len = sa->msg2_len = 64;
        }
        if (ex == IKE_GSA_INBAND_REKEY)
            z.joined[0].registered = true;  /* pushes reach a member only */
        if (size > 2)
            len = harness_seal(sa, ex, false, sa->mid_in, data + 2, size - 2,
                               msg, &counter);
        break;
    }
    case 1:
    case 2:
        sa->req.kind = data[0] % 5 == 1 ? REQ_CHILD : REQ_IKE_REKEY;
        sa->req.exchange = IKE_CREATE_CHILD_SA;
        sa->req.resend_at = UINT64_MAX;    /* no retransmission here */
        sa->req.mid = sa->mid_out++;
        snprintf(sa->req.policy, sizeof sa->req.policy, "pol");
        sa->req.spi_in = 0x1000;
        memset(sa->req.nonce, 0x55, sizeof sa->req.nonce);
        ike_x25519_keypair(sa->req.dh_pub, sa->req.dh_priv);
        if (size > 1)
            len = harness_seal(sa, exchanges[0], true, sa->req.mid, data + 1,
                               size - 1, msg, &counter);
        break;
    case 4:
        sa->req.kind = REQ_GSA_REGISTER;
        sa->req.exchange = IKE_GSA_REGISTRATION;
        sa->req.resend_at = UINT64_MAX;
        sa->req.mid = sa->mid_out++;
        snprintf(sa->req.group, sizeof sa->req.group, "j");
        sa->req.gsa_sender = harness_join.sender;   /* as the join asks */
        if (size > 1)
            len = harness_seal(sa, IKE_GSA_REGISTRATION, true, sa->req.mid,
                               data + 1, size - 1, msg, &counter);
        break;
    default:
        len = size - 1 > sizeof msg ? sizeof msg : size - 1;
        memcpy(msg, data + 1, len);
        break;
    }
    if (len)
        ike_handle(&z, &from, msg, len);
    ike_tick(&z);
    harness_reset();
    return 0;
}
