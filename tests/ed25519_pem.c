/*
 * Writes a zike Ed25519 identity (zesp keygen --identity: Z85 text) as the
 * PEM files strongSwan reads: `ed25519_pem key NAME.key` prints the
 * PKCS#8 private key (RFC 8410), `ed25519_pem pub NAME.pub` the
 * SubjectPublicKeyInfo.  For the interoperability test only.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

int main(int argc, char **argv)
{
    static const uint8_t pkcs8[] = { 0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05,
                                     0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                                     0x04, 0x20 };
    static const uint8_t spki[] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b,
                                    0x65, 0x70, 0x03, 0x21, 0x00 };
    uint8_t der[64], raw[32];
    char text[64], b64[128];
    size_t len;
    FILE *f;
    int priv;

    if (argc != 3 || sodium_init() < 0)
        return 2;
    priv = strcmp(argv[1], "key") == 0;
    if ((f = fopen(argv[2], "r")) == NULL || fgets(text, sizeof text, f) == NULL)
        return 1;
    fclose(f);
    text[strcspn(text, "\r\n")] = '\0';
    if (strlen(text) != 40 || zmq_z85_decode(raw, text) == NULL)
        return 1;
    len = priv ? sizeof pkcs8 : sizeof spki;
    memcpy(der, priv ? pkcs8 : spki, len);
    memcpy(der + len, raw, 32);
    len += 32;
    sodium_bin2base64(b64, sizeof b64, der, len, sodium_base64_VARIANT_ORIGINAL);
    printf("-----BEGIN %s-----\n%s\n-----END %s-----\n",
           priv ? "PRIVATE KEY" : "PUBLIC KEY", b64,
           priv ? "PRIVATE KEY" : "PUBLIC KEY");
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(der, sizeof der);
    return 0;
}
