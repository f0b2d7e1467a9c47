/*
 * Writes the seed corpus of esp_open_fuzz: valid messages of every SA the
 * target installs (0 to 2 clear frames, 0 to 3 body frames), and a few
 * truncated ones.  Usage: make_seeds DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_fuzz_keys.h"

static void write_seed(const char *dir, int n, const uint8_t *clear_in,
                       size_t k, const zesp_frame *clear, const uint8_t *esp,
                       size_t esp_n)
{
    char path[4096];
    FILE *f;

    (void)clear_in;
    snprintf(path, sizeof path, "%s/seed-%02d", dir, n);
    if ((f = fopen(path, "wb")) == NULL)
        exit(1);
    fputc((int)k, f);
    for (size_t i = 0; i < k; i++) {
        fputc((int)clear[i].size, f);
        fwrite(clear[i].data, 1, clear[i].size, f);
    }
    fwrite(esp, 1, esp_n, f);
    fclose(f);
}

int main(int argc, char **argv)
{
    zesp_sad *sad;
    int n = 0;

    if (argc != 2 || zesp_init() != 0 || (sad = zesp_sad_new(NULL)) == NULL ||
        fuzz_install(sad, ZESP_DIR_OUT) != 0)
        return 2;
    for (uint32_t spi = 1; spi <= 8; spi++) {
        zesp_frame clear[2] = { { "svc", 3 }, { "topic.a", 7 } };
        zesp_frame body[3] = { { "hello", 5 }, { "", 0 }, { "world!", 6 } };
        for (size_t k = 0; k <= 2; k += 1 + (spi % 2)) {
            zesp_parts parts = { .clear = clear, .nclear = k, .body = body,
                                 .nbody = (spi + k) % 4 };
            uint8_t *esp;
            size_t esp_n;
            if (zesp_seal(sad, spi, &parts, &esp, &esp_n) != 0)
                continue;
            write_seed(argv[1], n++, NULL, k, clear, esp, esp_n);
            if (spi == 1)
                write_seed(argv[1], n++, NULL, k, clear, esp, esp_n / 2);
            zesp_buf_free(esp);
        }
    }
    /* Payload seeds for esp_payload_fuzz: well-formed zesp payloads. */
    static const uint8_t payloads[][24] = {
        { 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o' },
        { 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0, 0, 2, 'y', 'z' },
        { 0 },
    };
    static const size_t lens[] = { 10, 16, 1 };
    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/../esp_payload/seed-%02d", argv[1], i);
        FILE *f = fopen(path, "wb");
        if (f == NULL)
            return 1;
        fputc(0, f);
        fwrite(payloads[i], 1, lens[i], f);
        fclose(f);
    }
    zesp_sad_free(sad);
    printf("%d seeds\n", n);
    return 0;
}
