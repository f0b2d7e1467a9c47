/* The socket-free entry points: seal and open messages and raw ESP. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "datapath.h"
#include "message.h"
#include "msg.h"
#include "spd.h"

static int fail(int err)
{
    errno = err;
    return -1;
}

int zesp_seal(zesp_sad *sad, uint32_t spi, const zesp_parts *parts,
              uint8_t **out, size_t *out_size)
{
    struct payload_part uncopied[ESP_PARTS_MAX];
    struct out_ctx ctx;
    size_t payload_len, n;
    uint8_t *buf;
    int err;

    if (out != NULL)
        *out = NULL;
    if (out_size != NULL)
        *out_size = 0;
    if (sad == NULL || parts == NULL || out == NULL || out_size == NULL)
        return fail(EINVAL);
    if ((err = message_payload_len(parts, &payload_len)) != 0)
        return fail(err);
    if ((err = out_begin(sad, spi, payload_len, true, &ctx)) != 0)
        return fail(err);
    if ((buf = malloc(ctx.frame_len)) == NULL)
        return fail(ENOMEM);
    n = message_encode(buf + ZESP_HEADERBYTES, parts, uncopied,
                       out_reads_parts(&ctx) ? ESP_PARTS_MAX : 0);
    if ((err = out_seal_message(&ctx, buf, uncopied, n)) != 0) {
        sodium_memzero(buf, ctx.frame_len);     /* the message, in clear */
        free(buf);
        return fail(err);
    }
    *out = buf;
    *out_size = ctx.frame_len;
    return 0;
}

struct seal_args {
    const zesp_parts *parts;
    uint8_t **out;
    size_t *out_size;
};

static int seal_on(zesp_sad *sad, uint32_t spi, void *arg)
{
    struct seal_args *a = arg;

    return zesp_seal(sad, spi, a->parts, a->out, a->out_size);
}

int zesp_seal_policy(zesp_sad *sad, const char *policy,
                     const zesp_parts *parts, uint8_t **out,
                     size_t *out_size, int flags)
{
    struct seal_args a = { parts, out, out_size };

    if (out != NULL)
        *out = NULL;
    if (out_size != NULL)
        *out_size = 0;
    if (parts == NULL || out == NULL || out_size == NULL)
        return fail(EINVAL);
    return spd_on_out_sa(sad, policy, flags, seal_on, &a);
}

void zesp_buf_free(uint8_t *buf)
{
    free(buf);
}

int zesp_open_policy(zesp_sad *sad, const char *policy,
                     const zesp_frame *frames, size_t nframes, uint8_t *esp,
                     size_t esp_size, zesp_msg *msg)
{
    int err;

    if (sad == NULL || msg == NULL || esp == NULL || (nframes && !frames))
        return fail(EINVAL);
    msg_reset(msg);
    for (size_t i = 0; i < nframes; i++)
        if ((err = msg_push_pre(msg, frames[i].data, frames[i].size)) != 0)
            return fail(err);
    if ((err = msg_open(sad, policy, msg, esp, esp_size, esp, false,
                        false)) != 0)
        return fail(err);
    return 0;
}

int zesp_open(zesp_sad *sad, const zesp_frame *frames, size_t nframes,
              uint8_t *esp, size_t esp_size, zesp_msg *msg)
{
    return zesp_open_policy(sad, NULL, frames, nframes, esp, esp_size, msg);
}

static bool apart(const void *a, size_t alen, const void *b, size_t blen)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;

    return x + alen <= y || y + blen <= x;
}

size_t zesp_esp_bytes(size_t payload_len)
{
    return esp_packet_len(payload_len);
}

int zesp_esp_encrypt(zesp_sad *sad, uint32_t spi, const void *payload,
                     size_t len, uint8_t next_header, uint8_t *out,
                     size_t *out_len)
{
    struct payload_part part = { 0, payload, len };
    struct out_ctx ctx;
    size_t nparts = 0;
    int err;

    if (out_len != NULL)
        *out_len = 0;
    if (sad == NULL || out == NULL || out_len == NULL || (len && !payload))
        return fail(EINVAL);
    if ((err = out_begin(sad, spi, len, false, &ctx)) != 0)
        return fail(err);
    /* Read where it is if it does not overlap the packet, else moved in:
     * header, padding, trailer and ICV are written before it is read. */
    if (len && out_reads_parts(&ctx) &&
        apart(payload, len, out, esp_packet_len(len)))
        nparts = 1;
    else if (len)
        memmove(out + ZESP_HEADERBYTES, payload, len);
    if ((err = out_seal(&ctx, out, len, next_header, &part, nparts)) != 0) {
        /* The SA was replaced mid-seal: what out holds carries the old
         * SA's sequence number under whatever key was read, a nonce the
         * new SA's counter will reach.  No frame is left to be sent. */
        if (err == ZESP_ENOSA)
            sodium_memzero(out, esp_packet_len(len));
        return fail(err);
    }
    *out_len = esp_packet_len(len);
    return 0;
}

int zesp_esp_decrypt(zesp_sad *sad, uint8_t *pkt, size_t len,
                     uint8_t **payload, size_t *payload_len,
                     uint8_t *next_header, uint32_t *spi, uint64_t *seq)
{
    struct in_ctx ctx = { .policy = NULL };    /* any inbound SA */
    size_t plen;
    uint8_t nh;
    int err;

    if (sad == NULL || pkt == NULL || payload == NULL ||
        payload_len == NULL || next_header == NULL)
        return fail(EINVAL);
    *payload = NULL;
    *payload_len = 0;
    if ((err = in_open(sad, pkt, len, pkt, &ctx, &plen, &nh)) == 0)
        err = in_commit(&ctx, plen);
    if (err != 0) {
        in_discard(&ctx, pkt);
        count_rejection(sad, &ctx.ref, err, NULL);
        return fail(err);
    }
    *payload = pkt + ZESP_HEADERBYTES;
    *payload_len = plen;
    *next_header = nh;
    if (spi != NULL)
        *spi = ctx.spi;           /* copied pinned: the slot may be reused */
    if (seq != NULL)
        *seq = ctx.seq;
    return 0;
}
