/*
 * libFuzzer target: attaching a SAD file that someone damaged.  The input
 * is written to a file and opened as the host's SAD; a file that is
 * accepted is then checked and repaired (zesp_sad_verify), listed, looked
 * up, written to and read from, as the library and the tools would.  The
 * header is guarded by a digest, so most inputs that get past it are
 * mutations of the slots, the index, the policies and the keys: exactly
 * what a process killed mid-write or a stray write would leave.
 * Seeds: small SAD files with SAs and policies (fuzz/make_sad_seeds.c).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static volatile size_t sink;

static int count_sa(const zesp_sa_info *info, void *arg)
{
    (void)info;
    (*(size_t *)arg)++;
    return 0;
}

static int count_policy(const zesp_policy *p, void *arg)
{
    (void)p;
    (*(size_t *)arg)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zesp_sad *sad;
    zesp_sad_stats st;
    zesp_sa_info info;
    zesp_policy pol;
    zesp_sa_params p;
    size_t n = 0;
    int fd;

    if (path[0] == '\0') {
        if (zesp_init() != 0)
            abort();
        snprintf(path, sizeof path, "/tmp/zesp-sad-fuzz-%d", (int)getpid());
    }
    unlink(path);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    if ((sad = zesp_sad_open(path, 0, NULL)) == NULL) {
        unlink(path);
        return 0;
    }
    (void)zesp_sad_verify(sad);
    zesp_sa_foreach(sad, count_sa, &n);
    zesp_policy_foreach(sad, count_policy, &n);
    if (zesp_sad_stats_get(sad, &st) == 0)
        n += st.sas;
    for (uint32_t spi = 0x100; spi < 0x108; spi++)
        if (zesp_sa_info_get(sad, spi, ZESP_DIR_IN, &info) == 0)
            n += info.replay_window;
    if (zesp_policy_get(sad, "orders", &pol) == 0)
        n += pol.out_spi;
    /* A writer after the damage: add, use and remove an SA. */
    memset(&p, 0, sizeof p);
    p.spi = 0x5eed;
    p.direction = ZESP_DIR_OUT;
    if (zesp_sa_add(sad, &p) == 0) {
        zesp_frame body = { "x", 1 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        uint8_t *esp;
        size_t len;
        if (zesp_seal(sad, 0x5eed, &parts, &esp, &len) == 0) {
            n += len;
            zesp_buf_free(esp);
        }
        zesp_sa_del(sad, 0x5eed, ZESP_DIR_OUT);
    }
    (void)zesp_sad_expire(sad);
    sink = n;
    zesp_sad_free(sad);
    unlink(path);
    return 0;
}
