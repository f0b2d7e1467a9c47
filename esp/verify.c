/*
 * Checking a signed group's frames with public keys alone (wire-format.md
 * 9.6): what a proxy or broker that holds no group key does before it
 * forwards.  The sender is named in the clear (SPI, and the Sender ID in
 * the IV's top bits) and its signature covers the whole frame (sign.h),
 * so a forgery or a frame changed on the way is dropped here and never
 * reaches a receiver.  Once filled the table is only read: any number of
 * threads verify at once; the counters are atomic.
 *
 * An entry under any SPI (ZESP_SPI_ANY) serves a group whose key server
 * changes the SPI at every new key.  It stays sound: the signature covers
 * the SPI with the rest of the frame, so only the holder of the sender's
 * key passes; what it lets through besides is a genuine frame of the same
 * sender and key under another SA, which every receiver of this group
 * refuses for its ICV.  A Sender ID has one entry under any SPI or
 * entries under given SPIs, never both: a frame is never matched twice.
 */
#include "verify.h"

#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "packet.h"
#include "sign.h"

static uint32_t key_sender_id(uint64_t id)
{
    return (uint32_t)(id >> 32);
}

static int fail(int err)
{
    errno = err;
    return -1;
}

zesp_verifier *zesp_verifier_new(void)
{
    if (zesp_init() != 0)
        return NULL;
    return calloc(1, sizeof(zesp_verifier));
}

void zesp_verifier_free(zesp_verifier *v)
{
    if (v == NULL)
        return;
    free(v->senders);
    free(v);
}

/* The first sender whose id is not below id. */
static size_t lower_bound(const zesp_verifier *v, uint64_t id)
{
    size_t lo = 0, hi = v->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2U;
        if (v->senders[mid].id < id)
            lo = mid + 1U;
        else
            hi = mid;
    }
    return lo;
}

/* The Sender ID has this entry already, or one under any SPI beside an
 * entry under an SPI; at: where the new entry would go. */
static bool clashes(const zesp_verifier *v, uint32_t spi, uint32_t sender_id,
                    size_t at)
{
    size_t first = lower_bound(v, verifier_key(ZESP_SPI_ANY, sender_id));

    if (first == v->n || key_sender_id(v->senders[first].id) != sender_id)
        return false;                   /* none of its entries yet */
    return spi == ZESP_SPI_ANY ||
           v->senders[first].id == verifier_key(ZESP_SPI_ANY, sender_id) ||
           (at < v->n && v->senders[at].id == verifier_key(spi, sender_id));
}

int zesp_verifier_add(zesp_verifier *v, uint32_t spi, uint32_t sender_id,
                      const uint8_t pk[ZESP_SIGN_PUBLICBYTES])
{
    struct verifier_sender *s;
    uint64_t id = verifier_key(spi, sender_id);
    size_t at;

    if (v == NULL || pk == NULL || sender_id == 0 ||
        sender_id > ZESP_SENDER_ID_MAX ||
        crypto_core_ed25519_is_valid_point(pk) != 1)
        return fail(EINVAL);
    at = lower_bound(v, id);
    if (clashes(v, spi, sender_id, at))
        return fail(ZESP_EEXIST);
    if (v->n >= VERIFIER_MAX_SENDERS)
        return fail(ZESP_EFULL);
    if ((s = grow(v->senders, &v->cap, v->n, sizeof *s)) == NULL)
        return fail(ENOMEM);
    v->senders = s;
    memmove(s + at + 1, s + at, (v->n - at) * sizeof *s);
    s[at].id = id;
    memcpy(s[at].pk, pk, sizeof s[at].pk);
    v->n++;
    return 0;
}

/* The entry under the frame's SPI, else the one under any SPI: that
 * sorts just before where the SPI's would be, as the Sender ID then has
 * no other. */
static const struct verifier_sender *find(const zesp_verifier *v,
                                          uint32_t spi, uint32_t sender_id)
{
    uint64_t id = verifier_key(spi, sender_id);
    size_t at = lower_bound(v, id);

    if (at < v->n && v->senders[at].id == id)
        return &v->senders[at];
    id = verifier_key(ZESP_SPI_ANY, sender_id);
    if (at > 0 && v->senders[at - 1].id == id)
        return &v->senders[at - 1];
    return NULL;
}

/* The ESP frame (the last of the message): its sender's signature. */
static int check(const zesp_verifier *v, const zesp_frame *frames,
                 size_t nframes, uint32_t *sender_id)
{
    const struct verifier_sender *s;
    const uint8_t *f;
    size_t len, esp_len;
    uint32_t spi, sid;

    if (nframes == 0)
        return ZESP_EMALFORMED;
    f = frames[nframes - 1].data;
    len = frames[nframes - 1].size;
    if (f == NULL || sign_frame_shape(len) != 0)
        return ZESP_EMALFORMED;
    spi = load_be32(f);
    sid = ((uint32_t)f[8] << 8) | f[9];
    /* SPI 0 is reserved: no SA has it, and it is not "any". */
    if (spi == 0 || sid == 0 || (s = find(v, spi, sid)) == NULL)
        return ZESP_ENOSA;
    *sender_id = sid;
    return sign_frame_check(s->pk, f, len, &esp_len);
}

static void count(zesp_verifier *v, int err)
{
    static const struct { int err; enum zesp_rejection kind; } map[] = {
        { ZESP_EMALFORMED, ZESP_REJ_MALFORMED },
        { ZESP_ENOSA, ZESP_REJ_NOSA },
        { ZESP_ESIGNATURE, ZESP_REJ_SIGNATURE },
    };

    if (err == 0) {
        atomic_fetch_add_explicit(&v->verified, 1, memory_order_relaxed);
        return;
    }
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].err == err)
            atomic_fetch_add_explicit(&v->rejected[map[i].kind], 1,
                                      memory_order_relaxed);
}

int zesp_verify(zesp_verifier *v, const zesp_frame *frames, size_t nframes,
                uint32_t *sender_id)
{
    uint32_t sid = 0;
    int err;

    if (sender_id != NULL)
        *sender_id = 0;
    if (v == NULL || (nframes && frames == NULL))
        return fail(EINVAL);
    err = check(v, frames, nframes, &sid);
    count(v, err);
    if (err != 0)
        return fail(err);
    if (sender_id != NULL)
        *sender_id = sid;
    return 0;
}

int zesp_verifier_stats_get(zesp_verifier *v, zesp_verifier_stats *stats)
{
    if (v == NULL || stats == NULL)
        return fail(EINVAL);
    memset(stats, 0, sizeof *stats);
    stats->senders = v->n;
    stats->verified = atomic_load(&v->verified);
    for (size_t k = 0; k < ZESP_REJ_COUNT; k++)
        stats->rejected[k] = atomic_load(&v->rejected[k]);
    return 0;
}
