/*
 * Writes the seed corpus of sad_attach_fuzz: small SAD files (16 SAs) as
 * zesp_sad_open makes them, empty, with SAs (a signed group SPI among
 * them) and policies, and with an SA deleted (a tombstone in the index).
 * Keys are fixed test keys.
 *   make_sad_seeds DIR
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "zesp.h"

static int copy(const char *from, const char *dir, int n)
{
    char to[4096], buf[65536];
    FILE *in = fopen(from, "rb"), *out;
    size_t got;

    snprintf(to, sizeof to, "%s/seed-%02d", dir, n);
    if (in == NULL || (out = fopen(to, "wb")) == NULL)
        return -1;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, got, out);
    fclose(in);
    return fclose(out);
}

int main(int argc, char **argv)
{
    zesp_sad_opts opts = { .capacity = 16, .policies = 4,
                           .max_replay_window = 64 };
    char path[64];
    zesp_sad *sad;
    int n = 0;

    if (argc != 2 || zesp_init() != 0)
        return 2;
    snprintf(path, sizeof path, "/tmp/zesp-sad-seed-%d", (int)getpid());
    unlink(path);
    if ((sad = zesp_sad_open(path, ZESP_SAD_CREATE, &opts)) == NULL)
        return 1;
    copy(path, argv[1], n++);
    for (uint32_t i = 0; i < 8; i++) {
        zesp_sa_params p;
        memset(&p, 0, sizeof p);
        p.spi = 0x100 + i;
        p.direction = i % 2 ? ZESP_DIR_OUT : ZESP_DIR_IN;
        p.replay_window = 64;
        p.flags = i % 3 == 0 ? ZESP_SA_NO_ESN : 0;
        p.hard.messages = i * 100;
        memset(p.key, (int)i, sizeof p.key);
        snprintf(p.peer, sizeof p.peer, "peer-%u", i);
        zesp_sa_add(sad, &p);
    }
    /* A group SPI: two senders' windows, signed, and our own sender. */
    for (uint32_t sid = 1; sid <= 3; sid++) {
        zesp_sa_params p;
        uint8_t pk[32], sk[64], seed[32];
        memset(&p, 0, sizeof p);
        memset(seed, (int)sid, sizeof seed);
        crypto_sign_seed_keypair(pk, sk, seed);
        p.spi = 0x200;
        p.direction = sid < 3 ? ZESP_DIR_IN : ZESP_DIR_OUT;
        p.replay_window = 64;
        p.flags = ZESP_SA_GROUP | ZESP_SA_SIGNED;
        p.sender_id = sid;
        memcpy(p.sign_key, sid < 3 ? pk : sk, sid < 3 ? sizeof pk : sizeof sk);
        memset(p.key, 0x20, sizeof p.key);
        zesp_sa_add(sad, &p);
    }
    {
        zesp_policy pol;
        memset(&pol, 0, sizeof pol);
        snprintf(pol.name, sizeof pol.name, "orders");
        snprintf(pol.peer, sizeof pol.peer, "peer-1");
        pol.out_spi = 0x101;
        pol.in_spi[0] = 0x100;
        zesp_policy_set(sad, &pol);
    }
    copy(path, argv[1], n++);
    zesp_sa_del(sad, 0x102, ZESP_DIR_IN);
    copy(path, argv[1], n++);
    zesp_sad_free(sad);
    unlink(path);
    printf("%d seeds\n", n);
    return 0;
}
