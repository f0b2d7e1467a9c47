/* Writing IKEv2 messages into a caller's buffer, payload by payload. */
#include <string.h>

#include "ikev2.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

void ike_w_bytes(struct ike_writer *w, const void *data, size_t len)
{
    if (w->err)
        return;
    if (len > w->cap - w->len || w->len + len > IKE_MAX_MESSAGE) {
        w->err = IKE_ENOSPACE;
        return;
    }
    if (len)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void ike_w_u8(struct ike_writer *w, uint8_t v)
{
    ike_w_bytes(w, &v, 1);
}

void ike_w_u16(struct ike_writer *w, uint16_t v)
{
    uint8_t b[2];

    put16(b, v);
    ike_w_bytes(w, b, 2);
}

void ike_w_u32(struct ike_writer *w, uint32_t v)
{
    uint8_t b[4];

    put32(b, v);
    ike_w_bytes(w, b, 4);
}

void ike_w_init(struct ike_writer *w, uint8_t *buf, size_t cap,
                const struct ike_header *h)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    ike_w_bytes(w, h->spi_i, 8);
    ike_w_bytes(w, h->spi_r, 8);
    w->next_at = w->len;             /* the header's Next Payload */
    ike_w_u8(w, IKE_PL_NONE);
    ike_w_u8(w, IKE_VERSION);
    ike_w_u8(w, h->exchange);
    ike_w_u8(w, h->flags);
    ike_w_u32(w, h->message_id);
    ike_w_u32(w, 0);                 /* length, set by ike_w_finish */
}

/* Start a payload: chain it from the previous one, write its header. */
void ike_w_begin(struct ike_writer *w, uint8_t type, bool critical)
{
    if (w->err)
        return;
    if (w->cap - w->len < IKE_PAYLOAD_HEADER_BYTES) {
        w->err = IKE_ENOSPACE;
        return;
    }
    w->buf[w->next_at] = type;
    w->next_at = w->len;
    w->open_at = w->len;
    ike_w_u8(w, IKE_PL_NONE);
    ike_w_u8(w, critical ? 0x80U : 0);
    ike_w_u16(w, 0);
}

void ike_w_end(struct ike_writer *w)
{
    size_t plen = w->len - w->open_at;

    if (w->err)
        return;
    if (plen > UINT16_MAX) {
        w->err = IKE_ETOOBIG;
        return;
    }
    put16(w->buf + w->open_at + 2, (uint16_t)plen);
}

void ike_w_init_chain(struct ike_writer *w, uint8_t *buf, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->buf = buf;
    w->cap = cap;
    w->chain = true;
    ike_w_u8(w, IKE_PL_NONE);        /* the first payload's type */
}

int ike_w_finish(struct ike_writer *w, size_t *len)
{
    if (w->err)
        return w->err;
    if (!w->chain)
        put32(w->buf + 24, (uint32_t)w->len);
    *len = w->len;
    return IKE_OK;
}

static void w_transform(struct ike_writer *w, const struct ike_transform *t,
                        bool last)
{
    ike_w_u8(w, last ? 0 : 3);
    ike_w_u8(w, 0);
    ike_w_u16(w, t->key_bits ? 12 : 8);
    ike_w_u8(w, t->type);
    ike_w_u8(w, 0);
    ike_w_u16(w, t->id);
    if (t->key_bits) {
        ike_w_u16(w, 0x8000U | IKE_ATTR_KEY_LENGTH);
        ike_w_u16(w, t->key_bits);
    }
}

void ike_w_sa(struct ike_writer *w, const struct ike_sa_payload *sa)
{
    ike_w_begin(w, IKE_PL_SA, false);
    for (size_t i = 0; i < sa->nproposals; i++) {
        const struct ike_proposal *pr = &sa->proposals[i];
        size_t len = 8U + pr->spi_size;

        for (size_t k = 0; k < pr->ntransforms; k++)
            len += pr->transforms[k].key_bits ? 12U : 8U;
        ike_w_u8(w, i + 1 < sa->nproposals ? 2 : 0);
        ike_w_u8(w, 0);
        ike_w_u16(w, (uint16_t)len);
        ike_w_u8(w, pr->number);
        ike_w_u8(w, pr->protocol);
        ike_w_u8(w, pr->spi_size);
        ike_w_u8(w, (uint8_t)pr->ntransforms);
        ike_w_bytes(w, pr->spi, pr->spi_size);
        for (size_t k = 0; k < pr->ntransforms; k++)
            w_transform(w, &pr->transforms[k], k + 1 == pr->ntransforms);
    }
    ike_w_end(w);
}

void ike_w_ke(struct ike_writer *w, uint16_t group, const uint8_t *data,
              size_t len)
{
    ike_w_begin(w, IKE_PL_KE, false);
    ike_w_u16(w, group);
    ike_w_u16(w, 0);
    ike_w_bytes(w, data, len);
    ike_w_end(w);
}

void ike_w_nonce(struct ike_writer *w, const uint8_t *nonce, size_t len)
{
    ike_w_begin(w, IKE_PL_NONCE, false);
    ike_w_bytes(w, nonce, len);
    ike_w_end(w);
}

void ike_w_notify(struct ike_writer *w, uint8_t protocol, uint16_t type,
                  const uint8_t *spi, size_t spi_size, const uint8_t *data,
                  size_t len)
{
    ike_w_begin(w, IKE_PL_NOTIFY, false);
    ike_w_u8(w, protocol);
    ike_w_u8(w, (uint8_t)spi_size);
    ike_w_u16(w, type);
    ike_w_bytes(w, spi, spi_size);
    ike_w_bytes(w, data, len);
    ike_w_end(w);
}

/* ID and AUTH payloads share a layout: a type octet, three reserved,
 * then the data. */
static void w_typed(struct ike_writer *w, uint8_t payload, uint8_t type,
                    const void *data, size_t len)
{
    ike_w_begin(w, payload, false);
    ike_w_u8(w, type);
    ike_w_u8(w, 0);
    ike_w_u16(w, 0);
    ike_w_bytes(w, data, len);
    ike_w_end(w);
}

void ike_w_id(struct ike_writer *w, uint8_t payload, uint8_t id_type,
              const void *data, size_t len)
{
    w_typed(w, payload, id_type, data, len);
}

void ike_w_auth(struct ike_writer *w, uint8_t method, const uint8_t *data,
                size_t len)
{
    w_typed(w, IKE_PL_AUTH, method, data, len);
}

void ike_w_ts_any(struct ike_writer *w, uint8_t payload)
{
    static const uint8_t any[] = {
        1, 0, 0, 0,                     /* one selector */
        7, 0, 0, 16,                    /* TS_IPV4_ADDR_RANGE, any proto */
        0, 0, 0xff, 0xff,               /* ports 0-65535 */
        0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff,
    };

    ike_w_raw(w, payload, any, sizeof any);
}

void ike_w_raw(struct ike_writer *w, uint8_t payload, const uint8_t *body,
               size_t len)
{
    ike_w_begin(w, payload, false);
    ike_w_bytes(w, body, len);
    ike_w_end(w);
}

void ike_w_delete(struct ike_writer *w, uint8_t protocol, uint8_t spi_size,
                  const uint8_t *spis, uint16_t count)
{
    ike_w_begin(w, IKE_PL_DELETE, false);
    ike_w_u8(w, protocol);
    ike_w_u8(w, spi_size);
    ike_w_u16(w, count);
    ike_w_bytes(w, spis, (size_t)spi_size * count);
    ike_w_end(w);
}
