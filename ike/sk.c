/*
 * The Encrypted payload with an AEAD (RFC 7296 3.14, RFC 5282, RFC 7634):
 * IV (8) | ciphertext of (payloads | padding | pad length) | ICV (16), the
 * nonce salt (4) | IV, and as associated data the IKE header and the SK
 * payload's generic header.  zike never pads (an AEAD needs no blocks).
 */
#include <string.h>

#include "ike_crypto.h"
#include "sad.h"
#include "transform.h"

static void put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, size_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffffU);
}

int ike_sk_seal(uint8_t *buf, size_t cap, size_t sk_at, size_t plain_len,
                const struct ike_keys *k, bool initiator, uint64_t *counter,
                size_t *out_len)
{
    size_t head = sk_at + IKE_PAYLOAD_HEADER_BYTES;
    uint8_t *iv = buf + head, *plain = iv + IKE_SK_IV_BYTES;
    size_t total = head + IKE_SK_IV_BYTES + plain_len + 1 + IKE_SK_ICV_BYTES;
    const struct sa_key *key = initiator ? &k->ei : &k->er;
    struct aead_piece m = { plain, plain_len + 1 };
    uint8_t nonce[NONCE_BYTES];

    if (total > cap || total > IKE_MAX_MESSAGE)
        return IKE_ENOSPACE;
    plain[plain_len] = 0;                 /* pad length: no padding */
    put32(buf + 24, total);
    put16(buf + sk_at + 2, total - sk_at);
    for (int i = 0; i < 8; i++)
        iv[i] = (uint8_t)(*counter >> (56 - 8 * i));
    (*counter)++;
    memcpy(nonce, key->salt, 4);
    memcpy(nonce + 4, iv, IKE_SK_IV_BYTES);
    if (transform_seal(k->aead, key, AEAD_AUTO, plain, plain + plain_len + 1,
                       &m, 1, buf, head, nonce) != 0)
        return IKE_ESYNTAX;
    *out_len = total;
    return IKE_OK;
}

int ike_sk_open(uint8_t *buf, size_t len, struct ike_message *m,
                const struct ike_keys *k, bool from_initiator)
{
    const struct ike_payload *sk = ike_find(m, IKE_PL_SK);
    const struct sa_key *key = from_initiator ? &k->ei : &k->er;
    uint8_t nonce[NONCE_BYTES];
    uint8_t *iv, *ct;
    size_t ct_len, pad, head;

    /* Nothing that cannot be authenticated is IKE_ESYNTAX: that one is
     * answered as an authentic peer's mistake (RFC 7296 2.21). */
    if (sk == NULL || sk->len < IKE_SK_IV_BYTES + 1 + IKE_SK_ICV_BYTES)
        return IKE_EAUTH;
    head = (size_t)(sk->body - buf);
    if (head > len)
        return IKE_EAUTH;
    iv = buf + head;
    ct = iv + IKE_SK_IV_BYTES;
    ct_len = sk->len - IKE_SK_IV_BYTES - IKE_SK_ICV_BYTES;
    memcpy(nonce, key->salt, 4);
    memcpy(nonce + 4, iv, IKE_SK_IV_BYTES);
    if (transform_open(k->aead, key, AEAD_AUTO, ct, ct, ct_len, ct + ct_len,
                       buf, head, nonce) != 0)
        return IKE_EAUTH;
    pad = ct[ct_len - 1];
    if (pad + 1 > ct_len)
        return IKE_ESYNTAX;
    return ike_parse_chain(ct, ct_len - 1 - pad, m->sk_first, m, true);
}
