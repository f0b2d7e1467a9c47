/*
 * Writes ESP frames made by libzesp into pcap files, each inside an IPv4
 * packet (protocol 50) on Ethernet, so that a third-party decoder
 * (tests/test_tshark.sh runs Wireshark's) can check them:
 *
 *   DIR/good.pcap      one frame of an AES-256-GCM SA without ESN that
 *                      binds no clear frames
 *   DIR/tampered.pcap  the same frame with one ciphertext bit flipped
 *   DIR/sa             "SPI KEYMAT_HEX PAYLOAD_HEX": the SA and the payload
 *                      (zesp message encoding, Next Header 253) expected
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "zesp.h"

#define SPI 0x0badc0deU

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t ip_checksum(const uint8_t *h, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static int write_pcap(const char *path, const uint8_t *esp, size_t n)
{
    uint8_t ghdr[24] = { 0 }, rec[16] = { 0 }, frame[14 + 20 + 2048];
    uint8_t *ip = frame + 14;
    size_t len = 14 + 20 + n;
    FILE *f;

    if (n > 2048)
        return -1;
    put32le(ghdr, 0xa1b2c3d4U);        /* classic libpcap, microseconds */
    ghdr[4] = 2;
    ghdr[6] = 4;
    put32le(ghdr + 16, 65535);
    put32le(ghdr + 20, 1);             /* LINKTYPE_ETHERNET */
    put32le(rec, 1700000000U);
    put32le(rec + 8, (uint32_t)len);
    put32le(rec + 12, (uint32_t)len);

    memset(frame, 0, sizeof frame);
    memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    put16(frame + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + n));
    put16(ip + 6, 0x4000);             /* don't fragment */
    ip[8] = 64;
    ip[9] = 50;                        /* ESP */
    memcpy(ip + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8); /* 192.0.2.x */
    put16(ip + 10, ip_checksum(ip, 20));
    memcpy(ip + 20, esp, n);

    if ((f = fopen(path, "wb")) == NULL)
        return -1;
    if (fwrite(ghdr, sizeof ghdr, 1, f) != 1 ||
        fwrite(rec, sizeof rec, 1, f) != 1 || fwrite(frame, len, 1, f) != 1) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

int main(int argc, char **argv)
{
    char path[4096], hex[2 * 2048 + 1];
    zesp_sad *sad;
    zesp_sa_params p;
    zesp_frame body = { "checked by a third party", 24 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t n;
    FILE *f;

    if (argc != 2) {
        fprintf(stderr, "usage: test_pcap_esp DIR\n");
        return 2;
    }
    if (!zesp_transform_available(ZESP_AES256GCM)) {
        fprintf(stderr, "AES-256-GCM is not available on this CPU\n");
        return 77;
    }
    sad = zesp_sad_new(NULL);
    p = test_sa(SPI, ZESP_DIR_OUT, ZESP_AES256GCM, ZESP_SA_NO_ESN);
    randombytes_buf(p.key, sizeof p.key);
    if (sad == NULL || zesp_sa_add(sad, &p) != 0 ||
        zesp_seal(sad, SPI, &parts, &esp, &n) != 0) {
        fprintf(stderr, "seal: %s\n", zesp_strerror(errno));
        return 1;
    }
    snprintf(path, sizeof path, "%s/good.pcap", argv[1]);
    if (write_pcap(path, esp, n) != 0)
        return 1;
    esp[ZESP_HEADERBYTES + 3] ^= 0x10;
    snprintf(path, sizeof path, "%s/tampered.pcap", argv[1]);
    if (write_pcap(path, esp, n) != 0)
        return 1;

    snprintf(path, sizeof path, "%s/sa", argv[1]);
    if ((f = fopen(path, "w")) == NULL)
        return 1;
    fprintf(f, "0x%08x ", SPI);
    fprintf(f, "%s ", sodium_bin2hex(hex, sizeof hex, p.key, sizeof p.key));
    /* The payload the receiver must find: the zesp encoding of body. */
    uint8_t payload[64] = { 0, 0, 0, 0, 24 };
    memcpy(payload + 5, body.data, body.size);
    fprintf(f, "%s\n", sodium_bin2hex(hex, sizeof hex, payload, 5 + body.size));
    fclose(f);
    zesp_buf_free(esp);
    zesp_sad_free(sad);
    return 0;
}
