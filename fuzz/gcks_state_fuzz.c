/*
 * libFuzzer target: the key server's state file (ike/gcks_state.c,
 * gcks_state_parse), over any bytes.  Checked: a text accepted is the
 * magic line and one "SPI UNTIL\n" line per SPI, at most the bound, each
 * SPI 256 or above, and written again it is the same bytes (one way to
 * write each file, so nothing is read that the writer did not mean); a
 * text refused says why, naming a line, and yields no SPI.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcks_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c) do { if (!(c)) abort(); } while (0)

static struct gcks_state_spi spis[GCKS_STATE_MAX];
static char again[GCKS_STATE_BYTES_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The bound is small here, so that "too many" is reached. */
    size_t max = size > 0 ? data[0] % 8U : 0, n = 99, len;
    char err[160] = "";
    int rc;

    if (size > 0) {
        data++;
        size--;
    }
    rc = gcks_state_parse((const char *)data, size, spis, max, &n, err,
                          sizeof err);
    if (rc != 0) {
        REQUIRE(rc == -1 && n <= max && strncmp(err, "line ", 5) == 0);
        return 0;
    }
    REQUIRE(n <= max);
    len = (size_t)snprintf(again, sizeof again, "%s", GCKS_STATE_MAGIC);
    for (size_t i = 0; i < n; i++) {
        REQUIRE(spis[i].spi >= 256);
        len += (size_t)snprintf(again + len, sizeof again - len,
                                "%08x %llu\n", spis[i].spi,
                                (unsigned long long)spis[i].until);
    }
    REQUIRE(len == size && memcmp(again, data, size) == 0);
    return 0;
}
