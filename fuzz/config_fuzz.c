/*
 * libFuzzer target: the YAML configuration loader.  The input is written
 * to a file (the loader's interface is a path) and loaded into a private
 * SAD; every outcome must be a clean success or a clean error message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    char err[512];
    zesp_sad *sad;
    FILE *f;

    if (path[0] == '\0') {
        if (zesp_init() != 0)
            abort();
        snprintf(path, sizeof path, "/tmp/zesp-fuzz-config-%d.yaml",
                 (int)getpid());
    }
    if ((f = fopen(path, "wb")) == NULL)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    zesp_sad_opts opts = { .capacity = 8 };
    if ((sad = zesp_sad_new(&opts)) == NULL)
        abort();
    if (zesp_config_load(sad, path, err, sizeof err) != 0 &&
        memchr(err, '\0', sizeof err) == NULL)
        abort();   /* an error message must always be a terminated string */
    zesp_sad_free(sad);
    unlink(path);
    return 0;
}
