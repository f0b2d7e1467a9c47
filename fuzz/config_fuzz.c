/*
 * libFuzzer target: the YAML configuration loader.  The input is written
 * to a file (the loader's interface is a path) and loaded into a private
 * SAD; every outcome must be a clean success or a clean error message.
 * Manual keys' records go to a folder of this run, emptied after each
 * input, whatever state_dir the input names.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch_dir.h"
#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char state_dir[64];

static void state_remove(void)
{
    fuzz_dir_remove(state_dir);
}

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
        snprintf(state_dir, sizeof state_dir, "/tmp/zesp-fuzz-config-%d.state",
                 (int)getpid());
        if (zesp_state_dir_init(state_dir) != 0)
            abort();
        atexit(state_remove);
    }
    if ((f = fopen(path, "wb")) == NULL)
        return 0;
    /* Private, as a file with keys written in it must be. */
    if (fchmod(fileno(f), 0600) != 0)
        abort();
    fwrite(data, 1, size, f);
    fclose(f);
    zesp_sad_opts opts = { .capacity = 8 };
    if ((sad = zesp_sad_new(&opts)) == NULL ||
        zesp_sad_set_state_dir(sad, state_dir) != 0)
        abort();
    if (zesp_config_load(sad, path, err, sizeof err) != 0 &&
        memchr(err, '\0', sizeof err) == NULL)
        abort();   /* an error message must always be a terminated string */
    zesp_sad_free(sad);
    fuzz_dir_empty(state_dir);
    unlink(path);
    return 0;
}
