/* Reading IKEv2 messages: the header and the chain of generic payloads. */
#include <string.h>

#include "ikev2.h"

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

const char *ike_strerror(int err)
{
    static const char *const text[] = {
        [IKE_OK] = "ok",
        [IKE_ETRUNCATED] = "message shorter than its lengths say",
        [IKE_ELENGTH] = "impossible length field",
        [IKE_EVERSION] = "IKE major version is not 2",
        [IKE_ECRITICAL] = "unknown payload marked critical",
        [IKE_ETOOMANY] = "too many payloads, proposals or transforms",
        [IKE_ETOOBIG] = "message larger than allowed",
        [IKE_ESYNTAX] = "payload contents invalid",
        [IKE_ENOSPACE] = "no room left in the output buffer",
        [IKE_EAUTH] = "encrypted payload failed its integrity check",
    };

    if (err < 0 || (size_t)err >= sizeof text / sizeof text[0])
        return "unknown IKE codec error";
    return text[err];
}

/* Payload types this codec knows; others are skipped unless critical. */
static bool known_type(uint8_t t)
{
    return (t >= IKE_PL_SA && t <= IKE_PL_EAP) ||
           (t >= IKE_PL_IDG && t <= IKE_PL_KD);
}

int ike_parse(const uint8_t *buf, size_t len, struct ike_message *m)
{
    memset(m, 0, sizeof *m);
    if (len > IKE_MAX_MESSAGE)
        return IKE_ETOOBIG;
    if (len < IKE_HEADER_BYTES)
        return IKE_ETRUNCATED;
    memcpy(m->hdr.spi_i, buf, 8);
    memcpy(m->hdr.spi_r, buf + 8, 8);
    m->hdr.next_payload = buf[16];
    m->hdr.version = buf[17];
    m->hdr.exchange = buf[18];
    m->hdr.flags = buf[19];
    m->hdr.message_id = be32(buf + 20);
    m->hdr.length = be32(buf + 24);
    /* The major version is checked first: a version-3 message may have
     * a layout this code cannot know (RFC 7296 2.5). */
    if ((m->hdr.version >> 4) != 2)
        return IKE_EVERSION;
    if (m->hdr.length != len)
        return m->hdr.length > len ? IKE_ETRUNCATED : IKE_ELENGTH;

    return ike_parse_chain(buf + IKE_HEADER_BYTES, len - IKE_HEADER_BYTES,
                           m->hdr.next_payload, m, false);
}

int ike_parse_chain(const uint8_t *buf, size_t len, uint8_t first,
                    struct ike_message *m, bool inner)
{
    uint8_t next = first;
    size_t at = 0;

    while (next != IKE_PL_NONE) {
        struct ike_payload *p;
        size_t plen;

        if (len - at < IKE_PAYLOAD_HEADER_BYTES)
            return IKE_ETRUNCATED;
        plen = be16(buf + at + 2);
        if (plen < IKE_PAYLOAD_HEADER_BYTES)
            return IKE_ELENGTH;
        if (plen > len - at)
            return IKE_ETRUNCATED;
        if (!known_type(next)) {
            if (buf[at + 1] & 0x80U) {
                m->unsupported_critical = next;
                return IKE_ECRITICAL;
            }
            next = buf[at];
            at += plen;
            continue;
        }
        if (m->npayloads == IKE_MAX_PAYLOADS)
            return IKE_ETOOMANY;
        p = &m->payloads[m->npayloads++];
        p->type = next;
        p->critical = (buf[at + 1] & 0x80U) != 0;
        p->body = buf + at + IKE_PAYLOAD_HEADER_BYTES;
        p->len = plen - IKE_PAYLOAD_HEADER_BYTES;
        next = buf[at];
        at += plen;
        /* SK must come last; its Next Payload names the first payload
         * inside the encrypted data (RFC 7296 3.14).  It never nests. */
        if (p->type == IKE_PL_SK) {
            if (inner)
                return IKE_ESYNTAX;
            m->sk_first = next;
            return at == len ? IKE_OK : IKE_ESYNTAX;
        }
    }
    return at == len ? IKE_OK : IKE_ELENGTH;
}

bool ike_find_notify(const struct ike_message *m, uint16_t type,
                     struct ike_notify *out)
{
    for (size_t i = 0; i < m->npayloads; i++)
        if (m->payloads[i].type == IKE_PL_NOTIFY &&
            ike_parse_notify(&m->payloads[i], out) == IKE_OK &&
            out->type == type)
            return true;
    return false;
}

uint16_t ike_error_notify(const struct ike_message *m)
{
    struct ike_notify n;

    for (size_t i = 0; i < m->npayloads; i++)
        if (m->payloads[i].type == IKE_PL_NOTIFY &&
            ike_parse_notify(&m->payloads[i], &n) == IKE_OK &&
            n.type < IKE_N_STATUS_MIN)
            return n.type;
    return 0;
}

const struct ike_payload *ike_find(const struct ike_message *m, uint8_t type)
{
    for (size_t i = 0; i < m->npayloads; i++)
        if (m->payloads[i].type == type)
            return &m->payloads[i];
    return NULL;
}

/* One transform substructure (RFC 7296 3.3.2), with its attributes. */
static int parse_transform(const uint8_t *b, size_t len,
                           struct ike_transform *t, size_t *used)
{
    size_t tlen, at = 8;

    if (len < 8)
        return IKE_ETRUNCATED;
    tlen = be16(b + 2);
    if (tlen < 8)
        return IKE_ELENGTH;
    if (tlen > len)
        return IKE_ETRUNCATED;
    t->type = b[4];
    t->id = be16(b + 6);
    t->key_bits = 0;
    while (at < tlen) {
        uint16_t type;

        if (tlen - at < 4)
            return IKE_ETRUNCATED;
        type = be16(b + at);
        if (type & 0x8000U) {            /* TV: the value is the length */
            if ((type & 0x7fffU) == IKE_ATTR_KEY_LENGTH)
                t->key_bits = be16(b + at + 2);
            at += 4;
        } else {                         /* TLV: skip it */
            size_t alen = be16(b + at + 2);
            if (alen > tlen - at - 4)
                return IKE_ETRUNCATED;
            at += 4 + alen;
        }
    }
    *used = tlen;
    return IKE_OK;
}

static int parse_proposal(const uint8_t *b, size_t len,
                          struct ike_proposal *pr, size_t *used, bool *last)
{
    size_t plen, at, ntrans;
    int err;

    if (len < 8)
        return IKE_ETRUNCATED;
    if (b[0] != 0 && b[0] != 2)
        return IKE_ESYNTAX;
    *last = b[0] == 0;
    plen = be16(b + 2);
    if (plen < 8)
        return IKE_ELENGTH;
    if (plen > len)
        return IKE_ETRUNCATED;
    pr->number = b[4];
    pr->protocol = b[5];
    pr->spi_size = b[6];
    ntrans = b[7];
    if (pr->spi_size > sizeof pr->spi)
        return IKE_ESYNTAX;
    if (8U + pr->spi_size > plen)
        return IKE_ETRUNCATED;
    memcpy(pr->spi, b + 8, pr->spi_size);
    if (ntrans > IKE_MAX_TRANSFORMS)
        return IKE_ETOOMANY;
    at = 8U + pr->spi_size;
    pr->ntransforms = 0;
    for (size_t i = 0; i < ntrans; i++) {
        size_t tused;
        bool more;

        if (plen - at < 8)
            return IKE_ETRUNCATED;
        more = b[at] == 3;
        if (b[at] != 0 && b[at] != 3)
            return IKE_ESYNTAX;
        if ((err = parse_transform(b + at, plen - at,
                                   &pr->transforms[i], &tused)) != IKE_OK)
            return err;
        pr->ntransforms++;
        at += tused;
        if (more != (i + 1 < ntrans))
            return IKE_ESYNTAX;
    }
    if (at != plen)
        return IKE_ELENGTH;
    *used = plen;
    return IKE_OK;
}

int ike_parse_sa(const struct ike_payload *p, struct ike_sa_payload *sa)
{
    size_t at = 0;
    bool last = false;
    int err;

    memset(sa, 0, sizeof *sa);
    while (!last) {
        size_t used;

        if (sa->nproposals == IKE_MAX_PROPOSALS)
            return IKE_ETOOMANY;
        if ((err = parse_proposal(p->body + at, p->len - at,
                                  &sa->proposals[sa->nproposals], &used,
                                  &last)) != IKE_OK)
            return err;
        sa->nproposals++;
        at += used;
    }
    return at == p->len && sa->nproposals ? IKE_OK : IKE_ESYNTAX;
}

int ike_parse_ke(const struct ike_payload *p, struct ike_ke *ke)
{
    if (p->len < 4)
        return IKE_ETRUNCATED;
    ke->group = be16(p->body);
    ke->data = p->body + 4;
    ke->len = p->len - 4;
    return ke->len ? IKE_OK : IKE_ESYNTAX;
}

int ike_parse_nonce(const struct ike_payload *p, const uint8_t **nonce,
                    size_t *len)
{
    if (p->len < IKE_NONCE_MIN || p->len > IKE_NONCE_MAX)
        return IKE_ESYNTAX;
    *nonce = p->body;
    *len = p->len;
    return IKE_OK;
}

int ike_parse_notify(const struct ike_payload *p, struct ike_notify *n)
{
    if (p->len < 4)
        return IKE_ETRUNCATED;
    n->protocol = p->body[0];
    n->spi_size = p->body[1];
    n->type = be16(p->body + 2);
    if (4U + n->spi_size > p->len)
        return IKE_ETRUNCATED;
    n->spi = p->body + 4;
    n->data = p->body + 4 + n->spi_size;
    n->len = p->len - 4 - n->spi_size;
    return IKE_OK;
}

int ike_parse_id(const struct ike_payload *p, struct ike_id *id)
{
    if (p->len < 5)
        return p->len < 4 ? IKE_ETRUNCATED : IKE_ESYNTAX;
    if (p->len - 4 > IKE_ID_MAX)
        return IKE_ESYNTAX;
    id->type = p->body[0];
    id->data = p->body + 4;
    id->len = p->len - 4;
    return IKE_OK;
}

int ike_parse_auth(const struct ike_payload *p, struct ike_auth *a)
{
    if (p->len < 5)
        return p->len < 4 ? IKE_ETRUNCATED : IKE_ESYNTAX;
    a->method = p->body[0];
    a->data = p->body + 4;
    a->len = p->len - 4;
    return IKE_OK;
}

int ike_parse_delete(const struct ike_payload *p, struct ike_delete *d)
{
    if (p->len < 4)
        return IKE_ETRUNCATED;
    d->protocol = p->body[0];
    d->spi_size = p->body[1];
    d->count = be16(p->body + 2);
    d->spis = p->body + 4;
    if (d->protocol == IKE_PROTO_IKE ? d->spi_size != 0 || d->count != 0
                                     : d->spi_size != 4)
        return IKE_ESYNTAX;
    if ((size_t)d->count * d->spi_size != p->len - 4)
        return IKE_ELENGTH;
    return IKE_OK;
}

int ike_check_ts(const struct ike_payload *p)
{
    size_t n, at = 4;

    if (p->len < 4)
        return IKE_ETRUNCATED;
    n = p->body[0];
    if (n == 0)
        return IKE_ESYNTAX;
    for (size_t i = 0; i < n; i++) {
        size_t tlen;

        if (p->len - at < 8)
            return IKE_ETRUNCATED;
        tlen = be16(p->body + at + 2);
        if (tlen < 8 || tlen > p->len - at)
            return IKE_ELENGTH;
        at += tlen;
    }
    return at == p->len ? IKE_OK : IKE_ELENGTH;
}
