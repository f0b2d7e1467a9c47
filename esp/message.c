/* Encoding the frames of a message into an ESP payload, and back. */
#include "message.h"

#include <errno.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "packet.h"

/* The digest frames each clear frame by a 4-octet length: a sender binds
 * no frame longer than that says (message_payload_len), and a receiver
 * takes none as bound, or a frame of 4 GiB + n would hash as one of n
 * followed by what were the sender's next lengths and frames. */
static bool bindable(const zesp_frame *clear, size_t nclear)
{
    for (size_t i = 0; i < nclear; i++)
        if (clear[i].size > UINT32_MAX)
            return false;
    return true;
}

int message_payload_len(const zesp_parts *parts, size_t *len)
{
    size_t n = 1U + (parts->nclear ? BINDING_BYTES : 0U);

    if (parts->nclear > ZESP_MAX_CLEAR_FRAMES ||
        (parts->nclear && parts->clear == NULL) ||
        (parts->nbody && parts->body == NULL))
        return EINVAL;
    if (!bindable(parts->clear, parts->nclear))
        return ZESP_ETOOBIG;
    for (size_t i = 0; i < parts->nbody; i++) {
        size_t f = parts->body[i].size;
        if (f > UINT32_MAX || n + FRAME_LEN_BYTES + f < n)
            return ZESP_ETOOBIG;
        n += FRAME_LEN_BYTES + f;
    }
    *len = n;
    return 0;
}

static void binding(uint8_t out[BINDING_BYTES], const zesp_frame *clear,
                    size_t nclear)
{
    crypto_generichash_state st;
    uint8_t len[FRAME_LEN_BYTES];

    crypto_generichash_init(&st, NULL, 0, BINDING_BYTES);
    for (size_t i = 0; i < nclear; i++) {
        store_be32(len, (uint32_t)clear[i].size);
        crypto_generichash_update(&st, len, sizeof len);
        crypto_generichash_update(&st, clear[i].data, clear[i].size);
    }
    crypto_generichash_final(&st, out, BINDING_BYTES);
}

size_t message_encode(uint8_t *out, const zesp_parts *parts,
                      struct payload_part *uncopied, size_t max_uncopied)
{
    uint8_t *p = out;
    size_t n = 0;

    *p++ = (uint8_t)parts->nclear;
    if (parts->nclear) {
        binding(p, parts->clear, parts->nclear);
        p += BINDING_BYTES;
    }
    for (size_t i = 0; i < parts->nbody; i++) {
        const zesp_frame *f = &parts->body[i];

        store_be32(p, (uint32_t)f->size);
        p += FRAME_LEN_BYTES;
        if (f->size >= FRAME_UNCOPIED_MIN && n < max_uncopied)
            uncopied[n++] = (struct payload_part){ (size_t)(p - out),
                                                   f->data, f->size };
        else if (f->size)
            memcpy(p, f->data, f->size);
        p += f->size;
    }
    return n;
}

static int push_body(struct message_view *v, const uint8_t *data, size_t size)
{
    zesp_frame *body = grow(v->body, &v->body_cap, v->nbody, sizeof *body);

    if (body == NULL)
        return ENOMEM;
    v->body = body;
    v->body[v->nbody].data = data;
    v->body[v->nbody].size = size;
    v->nbody++;
    return 0;
}

int message_decode(const uint8_t *payload, size_t len, const zesp_frame *pre,
                   size_t npre, struct message_view *view)
{
    const uint8_t *p = payload, *end = payload + len;
    int err;

    view->nbody = 0;
    if (len < 1U)
        return ZESP_EMALFORMED;
    view->nclear = *p++;
    if (view->nclear) {
        uint8_t want[BINDING_BYTES];

        if ((size_t)(end - p) < BINDING_BYTES)
            return ZESP_EMALFORMED;
        if (npre < view->nclear ||
            !bindable(pre + npre - view->nclear, view->nclear))
            return ZESP_EBINDING;
        binding(want, pre + npre - view->nclear, view->nclear);
        if (sodium_memcmp(want, p, BINDING_BYTES) != 0)
            return ZESP_EBINDING;
        p += BINDING_BYTES;
    }
    while (p < end) {
        size_t f;

        if ((size_t)(end - p) < FRAME_LEN_BYTES)
            return ZESP_EMALFORMED;
        f = load_be32(p);
        p += FRAME_LEN_BYTES;
        if ((size_t)(end - p) < f)
            return ZESP_EMALFORMED;
        if ((err = push_body(view, p, f)) != 0)
            return err;
        p += f;
    }
    return 0;
}
