/*
 * libFuzzer target: zike's configuration loader (ike/zike_config.c).  The
 * input is written to a file of mode 0600 (so that inline keys are taken)
 * and loaded; every outcome must be a configuration or a terminated error
 * message, with nothing leaked.  A key file named "k.key" (a valid Ed25519
 * seed in Z85) and "p.psk" sit beside it for `key:` and `psk: file:` to
 * find.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "zike.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], path[128];

static void dir_remove(void)
{
    static const char *const names[] = { "k.key", "p.psk", "zike.yaml" };
    char p[192];

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void put(const char *name, const char *text)
{
    char p[192];
    int fd;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
        write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct zike_conf conf;
    char err[1024];
    int fd;

    if (dir[0] == '\0') {
        if (zesp_init() != 0)
            abort();
        snprintf(dir, sizeof dir, "/tmp/zike-fuzz-%d", (int)getpid());
        mkdir(dir, 0700);
        put("k.key", "nz/qGZT!{][?uW>JBv&)pd.F1)6U/<GS%Ll=a9Z:\n");
        put("p.psk", "a-pre-shared-key-in-a-file\n");
        snprintf(path, sizeof path, "%s/zike.yaml", dir);
        atexit(dir_remove);
    }
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    err[0] = '\0';
    if (zike_conf_load(path, &conf, err, sizeof err) == 0)
        zike_conf_free(&conf);
    else if (memchr(err, '\0', sizeof err) == NULL)
        abort();
    return 0;
}
