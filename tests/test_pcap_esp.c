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
 *   DIR/signed.pcap    a signed group frame (wire-format.md 9.4) of an
 *                      AES-256-GCM group SA, its signature taken away:
 *                      the ESP frame it signs, which this program checks
 *                      against the signature with the public key alone
 *   DIR/sa_signed      the same line for it (Next Header 254)
 */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "pcap.h"
#include "zesp.h"

#define SPI 0x0badc0deU
#define SPI_GROUP 0x0badc0dfU

static int write_sa(const char *dir, const char *name, uint32_t spi,
                    const uint8_t key[ZESP_KEYBYTES], const zesp_frame *body)
{
    char path[4096], hex[2 * 2048 + 1];
    /* The payload the receiver must find: the zesp encoding of body. */
    uint8_t payload[64] = { 0, 0, 0, 0, (uint8_t)body->size };
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (body->size > sizeof payload - 5 || (f = fopen(path, "w")) == NULL)
        return -1;
    memcpy(payload + 5, body->data, body->size);
    fprintf(f, "0x%08x ", spi);
    fprintf(f, "%s ", sodium_bin2hex(hex, sizeof hex, key, ZESP_KEYBYTES));
    fprintf(f, "%s\n", sodium_bin2hex(hex, sizeof hex, payload, 5 + body->size));
    return fclose(f);
}

/* A signed group frame: the ESP frame before the signature into the pcap,
 * once the signature checked out over exactly those octets. */
static int write_signed(const char *dir, const zesp_frame *body)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p = test_sa(SPI_GROUP, ZESP_DIR_OUT, ZESP_AES256GCM,
                               ZESP_SA_NO_ESN | ZESP_SA_GROUP |
                               ZESP_SA_SIGNED);
    zesp_parts parts = { .body = body, .nbody = 1 };
    uint8_t pk[ZESP_SIGN_PUBLICBYTES], *esp = NULL;
    char path[4096];
    size_t n = 0;
    int rc = -1;

    p.sender_id = 7;
    randombytes_buf(p.key, sizeof p.key);
    crypto_sign_keypair(pk, p.sign_key);
    if (sad == NULL || zesp_sa_add(sad, &p) != 0 ||
        zesp_seal(sad, SPI_GROUP, &parts, &esp, &n) != 0 ||
        n < ZESP_SIGNBYTES)
        goto out;
    n -= ZESP_SIGNBYTES;
    if (crypto_sign_verify_detached(esp + n, esp, n, pk) != 0) {
        fprintf(stderr, "the signature does not cover the ESP frame\n");
        goto out;
    }
    snprintf(path, sizeof path, "%s/signed.pcap", dir);
    if (pcap_write_ipv4(path, 50, esp, n) != 0 ||
        write_sa(dir, "sa_signed", SPI_GROUP, p.key, body) != 0)
        goto out;
    rc = 0;
out:
    zesp_buf_free(esp);
    zesp_sad_free(sad);
    sodium_memzero(&p, sizeof p);
    return rc;
}

int main(int argc, char **argv)
{
    char path[4096];
    zesp_sad *sad;
    zesp_sa_params p;
    zesp_frame body = { "checked by a third party", 24 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *esp;
    size_t n;

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

    if (write_sa(argv[1], "sa", SPI, p.key, &body) != 0 ||
        write_signed(argv[1], &body) != 0)
        return 1;
    zesp_buf_free(esp);
    zesp_sad_free(sad);
    return 0;
}
