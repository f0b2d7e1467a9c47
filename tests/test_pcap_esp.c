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
#include "pcap.h"
#include "zesp.h"

#define SPI 0x0badc0deU

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
    if (pcap_write_ipv4(path, 50, esp, n) != 0)
        return 1;
    esp[ZESP_HEADERBYTES + 3] ^= 0x10;
    snprintf(path, sizeof path, "%s/tampered.pcap", argv[1]);
    if (pcap_write_ipv4(path, 50, esp, n) != 0)
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
