/*
 * libFuzzer target: the zesp message payload behind a valid ICV.
 *
 * Random bytes rarely authenticate, so esp_open_fuzz seldom reaches the
 * payload decoder.  Here the input is sealed as the payload of an ESP
 * frame (Next Header 253) with a real outbound SA, then opened by the
 * matching inbound SA: the decoder gets arbitrary content that passed the
 * ICV, as it would from a buggy or hostile key holder.  Input: k =
 * data[0] % 4 clear frames (length byte, bytes), then the payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esp_fuzz_keys.h"
#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static zesp_sad *out, *in;
static zesp_msg *msg;

static void setup(void)
{
    if (zesp_init() != 0 || (out = zesp_sad_new(NULL)) == NULL ||
        (in = zesp_sad_new(NULL)) == NULL || (msg = zesp_msg_new()) == NULL ||
        fuzz_install(out, ZESP_DIR_OUT) != 0 ||
        fuzz_install(in, ZESP_DIR_IN) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zesp_frame clear[3];
    size_t k, at, n, sum = 0;
    uint8_t *esp;

    if (out == NULL)
        setup();
    if (size == 0)
        return 0;
    at = fuzz_split(data, size, clear, &k);
    if ((esp = malloc(zesp_esp_bytes(size - at))) == NULL)
        return 0;
    /* SPI 1: ChaCha20-Poly1305 with ESN; sequence numbers keep rising. */
    if (zesp_esp_encrypt(out, 1, data + at, size - at, 253, esp, &n) == 0 &&
        zesp_open(in, clear, k, esp, n, msg) == 0)
        for (size_t i = 0; i < zesp_msg_body_count(msg); i++) {
            zesp_frame f = zesp_msg_body(msg, i);
            for (size_t j = 0; j < f.size; j++)
                sum += ((const uint8_t *)f.data)[j];
        }
    free(esp);
    return (int)(sum & 0);
}
