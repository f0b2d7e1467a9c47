/*
 * libFuzzer target: what a checking proxy is given (zesp_verify,
 * esp/verify.c, doc/wire-format.md 9.6): the frames of a message from
 * anyone who can connect, checked with public keys alone.
 *
 * Input: as the ESP targets' (esp_fuzz_keys.h, fuzz_split): data[0] % 4
 * frames before the last, each a length byte and its bytes, then the last
 * frame.  Each frame is copied into a buffer of exactly its size, so that
 * a read past it is caught by AddressSanitizer.  The verifier holds the
 * signed group's two senders under FUZZ_SIGNED_SPI and a third under any
 * SPI.  For every input: the frames are not written to; exactly one
 * counter moves (verified, or one kind of rejection); the outcome depends
 * on the last frame alone; a message of no frame is malformed; and a
 * message that passes is the last frame signed, over all its octets but
 * the last 64, by the key held for the Sender ID it names (checked again
 * here with libsodium), that Sender ID returned.
 */
#include <errno.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esp_fuzz_keys.h"
#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ANY_SENDER 3U

static zesp_verifier *verifier;
static uint8_t pks[ANY_SENDER + 1][ZESP_SIGN_PUBLICBYTES];

static void setup(void)
{
    uint8_t seed[32], sk[64];

    if (zesp_init() != 0 || (verifier = zesp_verifier_new()) == NULL ||
        fuzz_install_verifier(verifier) != 0)
        abort();
    /* The keys fuzz_install_verifier gave senders 1 and 2, and 3's. */
    for (uint32_t sid = 1; sid <= ANY_SENDER; sid++) {
        memset(seed, (int)sid, sizeof seed);
        if (crypto_sign_seed_keypair(pks[sid], sk, seed) != 0)
            abort();
        sodium_memzero(sk, sizeof sk);
    }
    if (zesp_verifier_add(verifier, ZESP_SPI_ANY, ANY_SENDER,
                          pks[ANY_SENDER]) != 0)
        abort();
}

static uint64_t outcomes(void)
{
    zesp_verifier_stats st;
    uint64_t sum;

    if (zesp_verifier_stats_get(verifier, &st) != 0)
        abort();
    sum = st.verified;
    for (size_t k = 0; k < ZESP_REJ_COUNT; k++)
        sum += st.rejected[k];
    return sum;
}

/* zesp_verify: 0, or the error it set. */
static int verify(const zesp_frame *f, size_t n, uint32_t *sid)
{
    uint64_t before = outcomes();
    int rc = zesp_verify(verifier, f, n, sid) == 0 ? 0 : errno;

    if (outcomes() != before + 1U)
        abort();                        /* each outcome counted once */
    if (rc != 0 && rc != ZESP_EMALFORMED && rc != ZESP_ENOSA &&
        rc != ZESP_ESIGNATURE)
        abort();
    if (rc != 0 && *sid != 0)
        abort();
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zesp_frame clear[3], f[4];
    uint8_t *copy[4] = { NULL, NULL, NULL, NULL };
    size_t k, at, n;
    uint32_t sid = 0, last_sid = 0;
    int rc, last_rc;

    if (verifier == NULL)
        setup();
    if (verify(NULL, 0, &sid) != ZESP_EMALFORMED)
        abort();
    if (size == 0)
        return 0;
    at = fuzz_split(data, size, clear, &k);
    for (n = 0; n < k; n++)
        f[n] = clear[n];
    f[n++] = (zesp_frame){ data + at, size - at };
    for (size_t i = 0; i < n; i++) {
        if ((copy[i] = malloc(f[i].size ? f[i].size : 1)) == NULL)
            goto out;
        memcpy(copy[i], f[i].data, f[i].size);
        f[i].data = copy[i];
    }
    rc = verify(f, n, &sid);
    for (size_t i = 0; i < n; i++)
        if (memcmp(copy[i], i < k ? clear[i].data : data + at,
                   f[i].size) != 0)
            abort();                    /* read only */
    last_rc = verify(&f[n - 1], 1, &last_sid);
    if (rc != last_rc || sid != last_sid)
        abort();                        /* the last frame decides */
    if (rc == 0) {
        const uint8_t *e = copy[n - 1];
        size_t len = f[n - 1].size;
        uint32_t spi, named;

        if (len < ZESP_SIGNBYTES || len % 4U != 0)
            abort();
        spi = (uint32_t)e[0] << 24 | (uint32_t)e[1] << 16 |
              (uint32_t)e[2] << 8 | e[3];
        named = (uint32_t)e[8] << 8 | e[9];
        if (named != sid || named == 0 || named > ANY_SENDER ||
            (named != ANY_SENDER && spi != FUZZ_SIGNED_SPI) || spi == 0 ||
            crypto_sign_verify_detached(e + len - ZESP_SIGNBYTES, e,
                                        len - ZESP_SIGNBYTES,
                                        pks[named]) != 0)
            abort();                    /* only what its sender signed */
    }
out:
    for (size_t i = 0; i < 4; i++)
        free(copy[i]);
    return 0;
}
