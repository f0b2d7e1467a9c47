/*
 * libFuzzer target: ESP frames and zesp messages against a live SAD.
 *
 * Input: k = data[0] % 4 clear frames, each a length byte and its bytes,
 * then the ESP frame.  The SAD holds an inbound SA for every transform,
 * with and without ESN (esp_fuzz_keys.h), so that inputs reach the replay
 * window, the AEAD, the trailer and the payload decoder, not only the SPI
 * lookup.  The frame is copied into a buffer of exactly its size, so that
 * any read past it is caught by AddressSanitizer.  After an input is
 * accepted the SAs are installed afresh, so that the replay window does
 * not make the next run of the same input behave differently.  A proxy's
 * verifier, with the signed group's public keys, checks every input too
 * (zesp_verify), and must agree with the receiver on a signed frame it
 * accepted.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esp_fuzz_keys.h"
#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static zesp_sad *sad;
static zesp_msg *msg;
static zesp_verifier *verifier;
/* Where the bytes read go, so that the compiler keeps the reads. */
static volatile size_t sink;

static void setup(void)
{
    zesp_sad_opts opts = { .max_message = 1U << 16 };

    if (zesp_init() != 0 || (sad = zesp_sad_new(&opts)) == NULL ||
        (msg = zesp_msg_new()) == NULL || fuzz_install(sad, ZESP_DIR_IN) != 0 ||
        (verifier = zesp_verifier_new()) == NULL ||
        fuzz_install_verifier(verifier) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zesp_frame clear[3];
    size_t k, at, sum = 0;
    uint8_t *esp, *payload, nh;
    size_t plen;
    uint32_t spi;
    uint64_t seq;
    bool accepted = false;

    if (sad == NULL)
        setup();
    if (size == 0)
        return 0;
    at = fuzz_split(data, size, clear, &k);
    if ((esp = malloc(size - at ? size - at : 1)) == NULL)
        return 0;
    memcpy(esp, data + at, size - at);
    /* What a checking proxy sees: the frames as they came. */
    bool verified = zesp_verify(verifier, &(zesp_frame){ esp, size - at }, 1,
                                NULL) == 0;
    if (zesp_open(sad, clear, k, esp, size - at, msg) == 0) {
        if (zesp_msg_spi(msg) == FUZZ_SIGNED_SPI && !verified)
            abort();
        for (size_t i = 0; i < zesp_msg_body_count(msg); i++) {
            zesp_frame f = zesp_msg_body(msg, i);
            for (size_t j = 0; j < f.size; j++)
                sum += ((const uint8_t *)f.data)[j];
        }
        for (size_t i = 0; i < zesp_msg_clear_count(msg); i++)
            sum += zesp_msg_clear(msg, i).size;
        accepted = true;
    }
    memcpy(esp, data + at, size - at);
    if (zesp_esp_decrypt(sad, esp, size - at, &payload, &plen, &nh, &spi,
                         &seq) == 0) {
        for (size_t j = 0; j < plen; j++)
            sum += payload[j];
        accepted = true;
    }
    free(esp);
    sink = sum;
    if (accepted && (zesp_sad_flush(sad) != 0 ||
                     fuzz_install(sad, ZESP_DIR_IN) != 0))
        abort();
    return 0;
}
