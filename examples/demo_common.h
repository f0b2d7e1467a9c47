/* What both demo programs share: the SA they use, read from a key file. */
#ifndef ZESP_DEMO_COMMON_H
#define ZESP_DEMO_COMMON_H

#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <zesp.h>

#define DEMO_SPI 0x00001001U
#define DEMO_POLICY "demo"

/* The key file holds 36 bytes (key and salt) as 72 hex digits. */
static int demo_sad(const char *key_file, uint32_t direction, zesp_sad **sad)
{
    char hex[2 * ZESP_KEYBYTES + 2];
    zesp_sa_params p;
    size_t len = 0;
    FILE *f = fopen(key_file, "r");
    int rc = -1;

    memset(&p, 0, sizeof p);
    if (f == NULL || fgets(hex, sizeof hex, f) == NULL ||
        sodium_hex2bin(p.key, sizeof p.key, hex, strlen(hex), " \n", &len,
                       NULL) != 0 || len != sizeof p.key) {
        fprintf(stderr, "demo: %s: expected %u bytes of key as hex\n",
                key_file, ZESP_KEYBYTES);
        goto out;
    }
    /* pair_demo.sh makes a fresh key for every run, so no sequence record
     * is kept (no ZESP_SA_MANUAL): a key used again must have one. */
    p.spi = DEMO_SPI;
    p.direction = direction;
    p.transform = ZESP_CHACHA20_POLY1305;
    strcpy(p.peer, direction == ZESP_DIR_OUT ? "receiver" : "sender");
    zesp_policy pol = { .name = DEMO_POLICY };
    if (direction == ZESP_DIR_IN)
        pol.in_spi[0] = DEMO_SPI;
    else
        pol.out_spi = DEMO_SPI;
    if ((*sad = zesp_sad_new(NULL)) == NULL || zesp_sa_add(*sad, &p) != 0 ||
        zesp_policy_set(*sad, &pol) != 0) {
        fprintf(stderr, "demo: cannot install the SA: %s\n",
                zesp_strerror(errno));
        goto out;
    }
    rc = 0;
out:
    sodium_memzero(&p, sizeof p);
    sodium_memzero(hex, sizeof hex);
    if (f)
        fclose(f);
    return rc;
}

#endif
