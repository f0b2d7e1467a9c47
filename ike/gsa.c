/* G-IKEv2's GSA and KD payloads and the key wrap (see gsa.h). */
#include <sodium.h>
#include <string.h>

#include "gsa.h"
#include "ike_crypto.h"

#define TS_IPV4_RANGE 7U
#define TS_IPV4_BYTES 16U
#define SUB_HEADER_BYTES 4U
#define TRANSFORM_LAST 0U
#define TRANSFORM_MORE 3U
#define ATTR_TV 0x8000U

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* Substructures carry their own length: written as 0, patched at the end. */
static size_t sub_begin(struct ike_writer *w, uint8_t protocol,
                        uint8_t spi_size)
{
    size_t at = w->len;

    ike_w_u8(w, protocol);
    ike_w_u8(w, spi_size);
    ike_w_u16(w, 0);
    return at;
}

static void sub_end(struct ike_writer *w, size_t at)
{
    if (!w->err)
        put16(w->buf + at + 2, (uint16_t)(w->len - at));
}

static void w_tv(struct ike_writer *w, uint16_t type, uint16_t value)
{
    ike_w_u16(w, (uint16_t)(ATTR_TV | type));
    ike_w_u16(w, value);
}

static void w_tlv(struct ike_writer *w, uint16_t type, const void *v,
                  size_t len)
{
    ike_w_u16(w, type);
    ike_w_u16(w, (uint16_t)len);
    ike_w_bytes(w, v, len);
}

static void w_ts_any(struct ike_writer *w)
{
    static const uint8_t any[TS_IPV4_BYTES] = {
        TS_IPV4_RANGE, 0, 0, TS_IPV4_BYTES, 0, 0, 0xff, 0xff,
        0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    };
    ike_w_bytes(w, any, sizeof any);
}

static void w_transform(struct ike_writer *w, bool last, uint8_t type,
                        uint16_t id, uint16_t key_bits)
{
    ike_w_u8(w, last ? TRANSFORM_LAST : TRANSFORM_MORE);
    ike_w_u8(w, 0);
    ike_w_u16(w, key_bits ? 12 : 8);
    ike_w_u8(w, type);
    ike_w_u8(w, 0);
    ike_w_u16(w, id);
    if (key_bits)
        w_tv(w, IKE_ATTR_KEY_LENGTH, key_bits);
}

static void w_receivers(struct ike_writer *w, const struct gsa_policy *g)
{
    uint8_t list[GSA_RECEIVERS_MAX * GSA_RECEIVER_BYTES];
    size_t n = 0;

    for (size_t i = 0; i < g->nreceivers && i < GSA_RECEIVERS_MAX; i++) {
        put16(list + n, g->receivers[i].id);
        memcpy(list + n + 2, g->receivers[i].pk, ZESP_SIGN_PUBLICBYTES);
        n += GSA_RECEIVER_BYTES;
    }
    w_tlv(w, GSA_ATTR_ZESP_RECEIVERS, list, n);
}

void gsa_write(struct ike_writer *w, const struct gsa_policy *g)
{
    uint8_t senders[GSA_SENDERS_MAX * (3 + GSA_NAME_MAX + 32)], life[4];
    size_t at, n = 0;

    ike_w_begin(w, IKE_PL_GSA, false);
    at = sub_begin(w, IKE_PROTO_ESP, 4);
    ike_w_u32(w, g->spi);
    w_ts_any(w);
    w_ts_any(w);
    w_transform(w, false, IKE_TT_ENCR, g->encr,
                g->encr == IKE_ENCR_AES_GCM_16 ? 256 : 0);
    w_transform(w, true, IKE_TT_ESN, g->esn ? IKE_ESN_YES : IKE_ESN_NO, 0);
    life[0] = (uint8_t)(g->lifetime >> 24);
    life[1] = (uint8_t)(g->lifetime >> 16);
    life[2] = (uint8_t)(g->lifetime >> 8);
    life[3] = (uint8_t)g->lifetime;
    if (g->lifetime)
        w_tlv(w, GSA_ATTR_KEY_LIFETIME, life, 4);
    for (size_t i = 0; i < g->nsenders && i < GSA_SENDERS_MAX; i++) {
        size_t len = strnlen(g->senders[i].name, GSA_NAME_MAX - 1);
        put16(senders + n, g->senders[i].sid);
        senders[n + 2] = (uint8_t)len;
        memcpy(senders + n + 3, g->senders[i].name, len);
        memcpy(senders + n + 3 + len, g->senders[i].pk, 32);
        n += 3 + len + 32;
    }
    w_tlv(w, GSA_ATTR_ZESP_SENDERS, senders, n);
    if (g->source_auth != GSA_SOURCE_AUTH_NONE)
        w_tv(w, GSA_ATTR_ZESP_SOURCE_AUTH, g->source_auth);
    if (g->nreceivers)
        w_receivers(w, g);
    sub_end(w, at);
    at = sub_begin(w, 0, 0);                 /* group-wide policy */
    w_tv(w, GWP_ATD, g->atd);
    w_tv(w, GWP_DTD, g->dtd);
    w_tv(w, GWP_SENDER_ID_BITS, g->sid_bits);
    sub_end(w, at);
    ike_w_end(w);
}

/* One attribute (RFC 7296 3.3.5): *type, and its value (a TV's 2 octets
 * or a TLV's bytes). */
static int next_attr(const uint8_t *b, size_t len, size_t *at, uint16_t *type,
                     const uint8_t **v, size_t *vlen)
{
    uint16_t t;

    if (len - *at < 4)
        return IKE_ETRUNCATED;
    t = be16(b + *at);
    *type = t & 0x7fffU;
    if (t & ATTR_TV) {
        *v = b + *at + 2;
        *vlen = 2;
        *at += 4;
        return IKE_OK;
    }
    *vlen = be16(b + *at + 2);
    if (*vlen > len - *at - 4)
        return IKE_ETRUNCATED;
    *v = b + *at + 4;
    *at += 4 + *vlen;
    return IKE_OK;
}

static int skip_ts(const uint8_t *b, size_t len, size_t *at)
{
    size_t tlen;

    if (len - *at < 8)
        return IKE_ETRUNCATED;
    tlen = be16(b + *at + 2);
    if (tlen < 8)
        return IKE_ELENGTH;
    if (tlen > len - *at)
        return IKE_ETRUNCATED;
    *at += tlen;
    return IKE_OK;
}

static int parse_senders(const uint8_t *v, size_t len, struct gsa_policy *g)
{
    size_t at = 0;

    while (at < len) {
        struct gsa_sender *s;
        size_t nlen;

        if (g->nsenders == GSA_SENDERS_MAX)
            return IKE_ETOOMANY;
        if (len - at < 3)
            return IKE_ETRUNCATED;
        nlen = v[at + 2];
        if (nlen == 0 || nlen >= GSA_NAME_MAX || len - at - 3 < nlen + 32)
            return IKE_ESYNTAX;
        s = &g->senders[g->nsenders++];
        s->sid = be16(v + at);
        if (s->sid == 0 || memchr(v + at + 3, 0, nlen) != NULL)
            return IKE_ESYNTAX;
        memcpy(s->name, v + at + 3, nlen);
        s->name[nlen] = '\0';
        memcpy(s->pk, v + at + 3 + nlen, 32);
        at += 3 + nlen + 32;
    }
    return IKE_OK;
}

static int bad(struct gsa_policy *g, int err, const char *why)
{
    g->why = why;
    return err;
}

static int parse_receivers(const uint8_t *v, size_t len, struct gsa_policy *g)
{
    if (g->nreceivers)
        return bad(g, IKE_ESYNTAX, "ZESP_RECEIVERS twice");
    if (len == 0 || len % GSA_RECEIVER_BYTES != 0)
        return bad(g, IKE_ELENGTH, "ZESP_RECEIVERS: not a whole number of "
                   "receivers");
    if (len / GSA_RECEIVER_BYTES > GSA_RECEIVERS_MAX)
        return bad(g, IKE_ETOOMANY, "ZESP_RECEIVERS: more receivers than "
                   "ZESP_SOURCE_MAC_MAX");
    for (size_t at = 0; at < len; at += GSA_RECEIVER_BYTES) {
        struct gsa_receiver *r = &g->receivers[g->nreceivers];

        r->id = be16(v + at);
        memcpy(r->pk, v + at + 2, ZESP_SIGN_PUBLICBYTES);
        if (r->id == 0)
            return bad(g, IKE_ESYNTAX, "ZESP_RECEIVERS: member ID 0");
        for (size_t k = 0; k < g->nreceivers; k++)
            if (g->receivers[k].id == r->id ||
                sodium_memcmp(g->receivers[k].pk, r->pk, sizeof r->pk) == 0)
                return bad(g, IKE_ESYNTAX, "ZESP_RECEIVERS: a member ID or "
                           "a key twice");
        g->nreceivers++;
    }
    return IKE_OK;
}

/* Source MACs need every receiver's key and every sender's, and a member
 * ID that is a Sender ID names that sender (one member, one key). */
static int check_source_auth(struct gsa_policy *g)
{
    if (g->source_auth > GSA_SOURCE_AUTH_MAC)
        return bad(g, IKE_ESYNTAX, "unknown ZESP_SOURCE_AUTH");
    if (g->source_auth != GSA_SOURCE_AUTH_MAC)
        return g->nreceivers == 0 ? IKE_OK
                                  : bad(g, IKE_ESYNTAX, "ZESP_RECEIVERS "
                                        "without source MACs");
    if (g->nreceivers == 0)
        return bad(g, IKE_ESYNTAX, "source MACs without ZESP_RECEIVERS");
    for (size_t i = 0; i < g->nsenders; i++) {
        if (sodium_is_zero(g->senders[i].pk, ZESP_SIGN_PUBLICBYTES))
            return bad(g, IKE_ESYNTAX, "source MACs: a sender without key");
        for (size_t k = 0; k < g->nreceivers; k++)
            if (g->receivers[k].id == g->senders[i].sid &&
                sodium_memcmp(g->receivers[k].pk, g->senders[i].pk,
                              ZESP_SIGN_PUBLICBYTES) != 0)
                return bad(g, IKE_ESYNTAX, "source MACs: a receiver's "
                           "member ID is another member's Sender ID");
    }
    return IKE_OK;
}

static int parse_tek(const uint8_t *b, size_t len, struct gsa_policy *g)
{
    size_t at = SUB_HEADER_BYTES + 4;
    bool have_encr = false, have_sn = false, last = false;
    int err;

    if (b[1] != 4 || len < at)
        return IKE_ESYNTAX;
    g->spi = be32(b + SUB_HEADER_BYTES);
    if ((err = skip_ts(b, len, &at)) != IKE_OK ||
        (err = skip_ts(b, len, &at)) != IKE_OK)
        return err;
    while (!last) {
        size_t tlen;
        uint16_t id;

        if (len - at < 8)
            return IKE_ETRUNCATED;
        last = b[at] == TRANSFORM_LAST;
        tlen = be16(b + at + 2);
        if (tlen < 8 || tlen > len - at)
            return IKE_ELENGTH;
        id = be16(b + at + 6);
        if (b[at + 4] == IKE_TT_ENCR) {
            if (id != IKE_ENCR_CHACHA20_POLY1305 && id != IKE_ENCR_AES_GCM_16)
                return IKE_ESYNTAX;
            g->encr = id;
            have_encr = true;
        } else if (b[at + 4] == IKE_TT_ESN) {
            if (id > IKE_ESN_YES)
                return IKE_ESYNTAX;
            g->esn = id == IKE_ESN_YES;
            have_sn = true;
        }
        at += tlen;
    }
    if (!have_encr || !have_sn)
        return IKE_ESYNTAX;
    while (at < len) {
        uint16_t type;
        const uint8_t *v;
        size_t vlen;

        if ((err = next_attr(b, len, &at, &type, &v, &vlen)) != IKE_OK)
            return err;
        if (type == GSA_ATTR_KEY_LIFETIME) {
            if (vlen != 4)
                return IKE_ESYNTAX;
            g->lifetime = be32(v);
        } else if (type == GSA_ATTR_ZESP_SENDERS) {
            if ((err = parse_senders(v, vlen, g)) != IKE_OK)
                return err;
        } else if (type == GSA_ATTR_ZESP_SOURCE_AUTH) {
            if (vlen != 2)
                return bad(g, IKE_ESYNTAX, "ZESP_SOURCE_AUTH is a TV");
            g->source_auth = be16(v);
        } else if (type == GSA_ATTR_ZESP_RECEIVERS) {
            if ((err = parse_receivers(v, vlen, g)) != IKE_OK)
                return err;
        }
    }
    return check_source_auth(g);
}

static int parse_gw(const uint8_t *b, size_t len, struct gsa_policy *g)
{
    size_t at = SUB_HEADER_BYTES;

    while (at < len) {
        uint16_t type;
        const uint8_t *v;
        size_t vlen;
        int err = next_attr(b, len, &at, &type, &v, &vlen);

        if (err != IKE_OK)
            return err;
        if (vlen != 2)
            continue;
        if (type == GWP_ATD)
            g->atd = be16(v);
        else if (type == GWP_DTD)
            g->dtd = be16(v);
        else if (type == GWP_SENDER_ID_BITS)
            g->sid_bits = be16(v);
    }
    return IKE_OK;
}

/* Exactly one ESP policy is expected; other protocols' are skipped. */
int gsa_parse(const struct ike_payload *p, struct gsa_policy *g)
{
    size_t at = 0, tek = 0;

    memset(g, 0, sizeof *g);
    while (at < p->len) {
        size_t len;
        int err = IKE_OK;

        if (p->len - at < SUB_HEADER_BYTES)
            return IKE_ETRUNCATED;
        len = be16(p->body + at + 2);
        if (len < SUB_HEADER_BYTES || len > p->len - at)
            return IKE_ELENGTH;
        if (p->body[at] == IKE_PROTO_ESP) {
            if (tek++)
                return IKE_ETOOMANY;
            err = parse_tek(p->body + at, len, g);
        } else if (p->body[at] == 0) {
            err = parse_gw(p->body + at, len, g);
        }
        if (err != IKE_OK)
            return err;
        at += len;
    }
    return tek == 1 ? IKE_OK : IKE_ESYNTAX;
}

void kd_write(struct ike_writer *w, const struct gsa_kd *kd)
{
    size_t at;

    ike_w_begin(w, IKE_PL_KD, false);
    at = sub_begin(w, IKE_PROTO_ESP, 4);
    ike_w_u32(w, kd->spi);
    w_tlv(w, KD_ATTR_SA_KEY, kd->wrapped, GSA_WRAPPED_BYTES);
    sub_end(w, at);
    if (kd->sender_id) {
        uint8_t sid[4] = { (uint8_t)(kd->sender_id >> 24),
                           (uint8_t)(kd->sender_id >> 16),
                           (uint8_t)(kd->sender_id >> 8),
                           (uint8_t)kd->sender_id };
        at = sub_begin(w, 0, 0);             /* member key bag */
        w_tlv(w, KD_ATTR_GM_SENDER_ID, sid, 4);
        sub_end(w, at);
    }
    ike_w_end(w);
}

static int parse_bag(const uint8_t *b, size_t len, size_t at,
                     struct gsa_kd *kd, bool group)
{
    bool have_key = false;

    while (at < len) {
        uint16_t type;
        const uint8_t *v;
        size_t vlen;
        int err = next_attr(b, len, &at, &type, &v, &vlen);

        if (err != IKE_OK)
            return err;
        if (group && type == KD_ATTR_SA_KEY) {
            if (vlen != GSA_WRAPPED_BYTES || have_key)
                return IKE_ESYNTAX;
            memcpy(kd->wrapped, v, vlen);
            have_key = true;
        } else if (!group && type == KD_ATTR_GM_SENDER_ID) {
            if (vlen != 4)
                return IKE_ESYNTAX;
            kd->sender_id = be32(v);
        }
    }
    return !group || have_key ? IKE_OK : IKE_ESYNTAX;
}

int kd_parse(const struct ike_payload *p, struct gsa_kd *kd)
{
    size_t at = 0, bags = 0;

    memset(kd, 0, sizeof *kd);
    while (at < p->len) {
        const uint8_t *b = p->body + at;
        size_t len;
        int err = IKE_OK;

        if (p->len - at < SUB_HEADER_BYTES)
            return IKE_ETRUNCATED;
        len = be16(b + 2);
        if (len < SUB_HEADER_BYTES || len > p->len - at)
            return IKE_ELENGTH;
        if (b[0] == IKE_PROTO_ESP) {
            if (bags++ || b[1] != 4 || len < SUB_HEADER_BYTES + 4)
                return IKE_ESYNTAX;
            kd->spi = be32(b + SUB_HEADER_BYTES);
            err = parse_bag(b, len, SUB_HEADER_BYTES + 4, kd, true);
        } else if (b[0] == 0) {
            err = parse_bag(b, len, SUB_HEADER_BYTES, kd, false);
        }
        if (err != IKE_OK)
            return err;
        at += len;
    }
    return bags == 1 ? IKE_OK : IKE_ESYNTAX;
}

int gsa_gsk_w(uint8_t out[GSA_GSK_W_BYTES], const uint8_t *sk_d)
{
    static const char label[] = "Key Wrap for G-IKEv2";
    struct ike_chunk c = { (const uint8_t *)label, sizeof label - 1 };

    return ike_prf_plus(out, GSA_GSK_W_BYTES, sk_d, IKE_PRF_BYTES, &c, 1);
}

#define WRAP_HEAD 8U
#define WRAP_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES

static void wrap_ad(uint8_t ad[12], const uint8_t head[WRAP_HEAD],
                    uint32_t spi)
{
    memcpy(ad, head, WRAP_HEAD);
    ad[8] = (uint8_t)(spi >> 24);
    ad[9] = (uint8_t)(spi >> 16);
    ad[10] = (uint8_t)(spi >> 8);
    ad[11] = (uint8_t)spi;
}

int gsa_wrap(uint8_t out[GSA_WRAPPED_BYTES],
             const uint8_t gsk_w[GSA_GSK_W_BYTES], uint32_t spi,
             const uint8_t keymat[ZESP_KEYBYTES])
{
    uint8_t ad[12];

    memset(out, 0, WRAP_HEAD);              /* Key ID 0, KWK ID 0: GSK_w */
    randombytes_buf(out + WRAP_HEAD, WRAP_NONCE);
    wrap_ad(ad, out, spi);
    return crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + WRAP_HEAD + WRAP_NONCE, NULL, keymat, ZESP_KEYBYTES, ad,
        sizeof ad, NULL, out + WRAP_HEAD, gsk_w);
}

int gsa_unwrap(uint8_t keymat[ZESP_KEYBYTES],
               const uint8_t gsk_w[GSA_GSK_W_BYTES], uint32_t spi,
               const uint8_t in[GSA_WRAPPED_BYTES])
{
    uint8_t ad[12];

    if (!sodium_is_zero(in, WRAP_HEAD))
        return -1;                          /* only GSK_w is known here */
    wrap_ad(ad, in, spi);
    return crypto_aead_xchacha20poly1305_ietf_decrypt(
        keymat, NULL, NULL, in + WRAP_HEAD + WRAP_NONCE,
        GSA_WRAPPED_BYTES - WRAP_HEAD - WRAP_NONCE, ad, sizeof ad,
        in + WRAP_HEAD, gsk_w);
}
