/* Ed25519 signatures over sealed group frames (sign.h). */
#include "sign.h"

#include <sodium.h>

#include "packet.h"

_Static_assert(ZESP_SIGNBYTES == crypto_sign_BYTES &&
               ZESP_SIGN_SECRETBYTES == crypto_sign_SECRETKEYBYTES &&
               ZESP_SIGN_PUBLICBYTES == crypto_sign_PUBLICKEYBYTES,
               "zesp.h sizes are libsodium's Ed25519 sizes");
_Static_assert(ZESP_SIGNBYTES % 4U == 0,
               "a signed frame stays whole 4-byte words");

int sign_frame(const uint8_t sk[ZESP_SIGN_SECRETBYTES], uint8_t *frame,
               size_t esp_len)
{
    return crypto_sign_detached(frame + esp_len, NULL, frame, esp_len, sk) == 0
               ? 0 : -1;
}

int sign_frame_shape(size_t len)
{
    /* An ESP frame is whole 4-byte words (RFC 4303 2.4), so is the
     * signature: the sum is too. */
    if (len < ESP_MIN_BYTES + ZESP_SIGNBYTES || len % 4U != 0)
        return ZESP_EMALFORMED;
    return 0;
}

int sign_frame_check(const uint8_t pk[ZESP_SIGN_PUBLICBYTES],
                     const uint8_t *frame, size_t len, size_t *esp_len)
{
    int err;

    if ((err = sign_frame_shape(len)) != 0)
        return err;
    *esp_len = len - ZESP_SIGNBYTES;
    if (crypto_sign_verify_detached(frame + *esp_len, frame, *esp_len,
                                    pk) != 0)
        return ZESP_ESIGNATURE;
    return 0;
}
