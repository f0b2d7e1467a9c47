/*
 * LD_PRELOAD for a key server under test: its first SPIs chosen for it.
 * libsodium's randombytes_random (zike draws SPIs with it) returns the
 * hex number in the file named by SPI_FORCE_FILE for its first
 * SPI_FORCE_TIMES calls (default 4), then random numbers again.  A key
 * server that knows a members' SPI is held draws again; one that forgot
 * hands a new key out under it.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint32_t randombytes_random(void)
{
    static uint32_t (*real)(void);
    static unsigned calls;
    const char *path = getenv("SPI_FORCE_FILE");
    const char *times = getenv("SPI_FORCE_TIMES");
    unsigned spi;
    FILE *f;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "randombytes_random");
    if (path != NULL && calls < (times ? (unsigned)atoi(times) : 4U) &&
        (f = fopen(path, "re")) != NULL) {
        int got = fscanf(f, "%x", &spi);
        fclose(f);
        if (got == 1) {
            calls++;
            return spi;
        }
    }
    return real ? real() : 0;
}
