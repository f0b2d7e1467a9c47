/*
 * Writes the seed corpus of esp_open_fuzz: valid messages of every SA the
 * target installs (0 to 2 clear frames, 0 to 3 body frames), a few
 * truncated ones, then the special cases of extra_seeds().  Sealing is
 * deterministic (the IV is the sequence number), so running it again
 * rewrites the same files.  Usage: make_seeds DIR
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

/* Writes one seed of raw bytes. */
static void write_raw(const char *dir, int n, const uint8_t *b, size_t len)
{
    zesp_frame none[1] = { { "", 0 } };

    write_seed(dir, n, NULL, 0, none, b, len);
}

/* Seals parts on spi and writes the message with the frames given (which
 * need not be the clear frames sealed: envelope frames, a wrong binding). */
static int seal_seed(const char *dir, int n, zesp_sad *sad, uint32_t spi,
                     const zesp_parts *parts, size_t k, const zesp_frame *fr)
{
    uint8_t *esp;
    size_t esp_n;

    if (zesp_seal(sad, spi, parts, &esp, &esp_n) != 0)
        return n;
    write_seed(dir, n, NULL, k, fr, esp, esp_n);
    zesp_buf_free(esp);
    return n + 1;
}

/* Cases the loop in main does not make: envelope frames before the clear
 * ones, a broken binding, a foreign Next Header, a large body, and frames
 * that fail before the AEAD.  Appended after the others, so that the
 * numbers of the first seeds stay the same. */
static int extra_seeds(const char *dir, int n, zesp_sad *sad)
{
    static uint8_t big[1100];
    zesp_frame clear[2] = { { "svc", 3 }, { "topic.a", 7 } };
    zesp_frame body[2] = { { "hello", 5 }, { big, sizeof big } };
    /* A ROUTER identity, then the clear frames. */
    zesp_frame env_clear[3] = { { "\x00id-1", 5 }, { "svc", 3 },
                                { "topic.a", 7 } };
    zesp_frame wrong[2] = { { "svc", 3 }, { "topic.b", 7 } };
    zesp_parts p;
    uint8_t frame[64];
    size_t len;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31U);
    /* 1 envelope + 2 clear frames (SPI 1) and 2 envelope + 1 (SPI 6). */
    p = (zesp_parts){ .clear = clear, .nclear = 2, .body = body, .nbody = 1 };
    n = seal_seed(dir, n, sad, 1, &p, 3, env_clear);
    p.nclear = 1;
    {
        zesp_frame fr[3] = { { "\x00id-1", 5 }, { "hop", 3 }, { "svc", 3 } };
        n = seal_seed(dir, n, sad, 6, &p, 3, fr);
    }
    /* Clear frames that differ from those sealed, or too few of them. */
    p.nclear = 2;
    n = seal_seed(dir, n, sad, 2, &p, 2, wrong);
    n = seal_seed(dir, n, sad, 7, &p, 1, clear + 1);
    /* A body frame of 1100 bytes (over 1 KiB, for a SAD with a small
     * max_message). */
    p = (zesp_parts){ .body = body, .nbody = 2 };
    n = seal_seed(dir, n, sad, 3, &p, 0, NULL);
    /* Next Header 4 (IPv4): zesp_esp_decrypt takes it, zesp_open not. */
    if (zesp_esp_encrypt(sad, 8, "\x45\x00\x00\x14", 4, 4, frame,
                         &len) == 0)
        write_raw(dir, n++, frame, len);
    /* A zesp payload whose frame length runs past its end. */
    if (zesp_esp_encrypt(sad, 4, "\x00\x00\x00\x00\x09hi", 7, 253, frame,
                         &len) == 0)
        write_raw(dir, n++, frame, len);
    /* Before the AEAD: garbage under a known SPI (ICV), an unknown SPI,
     * SPI 0, 7 bytes, a length not a multiple of 4, and an old sequence
     * number (0: below any window). */
    memset(frame, 0xa5, sizeof frame);
    memcpy(frame, "\x00\x00\x00\x01\x00\x00\x00\x07", 8);
    write_raw(dir, n++, frame, 48);
    memcpy(frame, "\x12\x34\x56\x78", 4);
    write_raw(dir, n++, frame, 48);
    memcpy(frame, "\x00\x00\x00\x00", 4);
    write_raw(dir, n++, frame, 36);
    write_raw(dir, n++, frame, 7);
    memcpy(frame, "\x00\x00\x00\x05", 4);
    write_raw(dir, n++, frame, 50);
    memcpy(frame, "\x00\x00\x00\x02\x00\x00\x00\x00", 8);
    write_raw(dir, n++, frame, 48);
    return n;
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
    n = extra_seeds(argv[1], n, sad);
    /* Group frames: Sender ID 1 in the IV, unsigned and signed. */
    for (uint32_t spi = FUZZ_GROUP_SPI; spi <= FUZZ_SIGNED_SPI; spi++) {
        zesp_frame clear = { "svc", 3 }, body = { "group", 5 };
        zesp_parts parts = { .clear = &clear, .nclear = 1, .body = &body,
                             .nbody = 1 };
        n = seal_seed(argv[1], n, sad, spi, &parts, 1, &clear);
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
