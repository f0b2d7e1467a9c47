/*
 * libFuzzer target: a checking proxy's file of senders' public keys
 * (esp/verify_file.c, zesp_verifier_load).  The input is written to a file
 * and loaded into a verifier that already holds one sender (SPI 0x2001,
 * Sender ID 4), so that a file listing it again is refused.  The file is
 * taken whole or not at all: after an error the verifier holds that one
 * sender still, and the error is a terminated, non-empty sentence.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The Ed25519 base point: a valid public key. */
static const uint8_t first_pk[ZESP_SIGN_PUBLICBYTES] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};

static uint64_t senders(zesp_verifier *v)
{
    zesp_verifier_stats st;

    if (zesp_verifier_stats_get(v, &st) != 0)
        abort();
    return st.senders;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    char err[512];
    zesp_verifier *v;
    FILE *f;

    if (path[0] == '\0') {
        if (zesp_init() != 0)
            abort();
        /* On /dev/shm where there is one: a file per input. */
        snprintf(path, sizeof path, "%s/zesp-fuzz-verify-%d.yaml",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
                 (int)getpid());
    }
    if ((f = fopen(path, "wb")) == NULL)
        return 0;
    if (fchmod(fileno(f), 0644) != 0 ||
        (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    if ((v = zesp_verifier_new()) == NULL ||
        zesp_verifier_add(v, 0x2001, 4, first_pk) != 0)
        abort();
    memset(err, 'x', sizeof err);
    if (zesp_verifier_load(v, path, err, sizeof err) == 0) {
        if (senders(v) < 1)
            abort();
    } else if (memchr(err, '\0', sizeof err) == NULL || err[0] == '\0' ||
               senders(v) != 1) {
        abort();   /* a clear error, and the verifier as it was */
    }
    zesp_verifier_free(v);
    unlink(path);
    return 0;
}
