/*
 * libFuzzer target: a manual key's sequence record read from disk
 * (esp/seqstate.c), at install and again when a block runs out.  The input
 * is the record; the harness can give it the right magic and key digest
 * and the right checksum, so that the number in it is fuzzed too.  What
 * must hold: a record that is not whole and intact refuses the install;
 * from an intact record of mark M an outbound SA sends only numbers above
 * M and an inbound SA accepts only numbers above M; and every number sent
 * or accepted is on disk first (the record, read back, covers it).
 *
 *   byte 0   bit 0: inbound (else outbound); bit 1: ZESP_SA_NO_ESN;
 *            bit 2: magic and key digest put before the record; bit 3:
 *            checksum written at its place; bit 4: no record file;
 *            bits 5-7: messages sent (outbound) or sealed to it (inbound)
 *   byte 1   seq_block = 2^(4 + byte % 27)
 *   2..9     the SA's next_seq (little-endian)
 *   10..17   inbound: the first number its peer sends
 *   18..     the record file: with bit 2, of version 2 (SPI fields,
 *            esp/seqstate.c) when it is long enough for one, else of
 *            version 1 (no SPI fields, as older libraries wrote)
 *
 * The state directory is on /dev/shm where there is one: records are
 * fsync'd.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scratch_dir.h"
#include "zesp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The record's layouts (esp/seqstate.c, doc/sad.md): version 2, and 1
 * without the two SPI fields. */
#define MAGIC "ZESPSEQ2"
#define MAGIC_V1 "ZESPSEQ1"
#define ID_BYTES 32U
#define MARK_OFF (8U + ID_BYTES)
#define SUM_OFF (MARK_OFF + 24U)
#define RECORD_BYTES (SUM_OFF + 16U)
#define SUM_OFF_V1 (MARK_OFF + 8U)
#define RECORD_BYTES_V1 (SUM_OFF_V1 + 16U)
#define HEAD_BYTES 18U
#define SPI 0x7001U
#define MESSAGE_MAX 2048U

static const char domain[] = "zesp manual key sequence record v1";
static char dir[64];
static zesp_sad *sad, *peer;

static void dir_remove(void)
{
    fuzz_dir_remove(dir);
}

static void setup(void)
{
    zesp_sad_opts opts = { .capacity = 4 };

    if (zesp_init() != 0)
        abort();
    snprintf(dir, sizeof dir, "%s/zesp-fuzz-seq-%d",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (int)getpid());
    if (zesp_state_dir_init(dir) != 0 || (sad = zesp_sad_new(&opts)) == NULL ||
        zesp_sad_set_state_dir(sad, dir) != 0 ||
        (peer = zesp_sad_new(&opts)) == NULL)
        abort();
    atexit(dir_remove);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void record_id(const zesp_sa_params *p, uint8_t id[ID_BYTES])
{
    crypto_generichash_state h;
    uint8_t who[3] = { (uint8_t)p->direction, 0, 0 };

    crypto_generichash_init(&h, NULL, 0, ID_BYTES);
    crypto_generichash_update(&h, (const uint8_t *)domain, sizeof domain);
    crypto_generichash_update(&h, p->key, ZESP_KEYBYTES);
    crypto_generichash_update(&h, who, sizeof who);
    crypto_generichash_final(&h, id, ID_BYTES);
}

static void record_path(const uint8_t id[ID_BYTES], char *path, size_t len)
{
    char name[2 * ID_BYTES + 1];

    sodium_bin2hex(name, sizeof name, id, ID_BYTES);
    snprintf(path, len, "%s/%s", dir, name);
}

/* The record's mark if it is whole and intact. */
static bool record_intact(const uint8_t *rec, size_t len,
                          const uint8_t id[ID_BYTES], uint64_t *mark)
{
    uint8_t sum[16];
    size_t sum_off;

    if (len == RECORD_BYTES && memcmp(rec, MAGIC, 8) == 0)
        sum_off = SUM_OFF;
    else if (len == RECORD_BYTES_V1 && memcmp(rec, MAGIC_V1, 8) == 0)
        sum_off = SUM_OFF_V1;
    else
        return false;
    if (memcmp(rec + 8, id, ID_BYTES) != 0)
        return false;
    crypto_generichash(sum, sizeof sum, rec, sum_off, NULL, 0);
    if (memcmp(sum, rec + sum_off, sizeof sum) != 0)
        return false;
    *mark = le64(rec + MARK_OFF);
    return true;
}

/* The record on disk now, which must be intact. */
static uint64_t record_on_disk(const char *path, const uint8_t id[ID_BYTES])
{
    uint8_t rec[RECORD_BYTES + 1];
    uint64_t mark;
    ssize_t n;
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        abort();
    n = read(fd, rec, sizeof rec);
    close(fd);
    if (n < 0 || !record_intact(rec, (size_t)n, id, &mark))
        abort();
    return mark;
}

/* The record the input makes: its bytes, with a head and a sum if asked. */
static size_t record_make(const uint8_t *data, size_t size, uint8_t flags,
                          const uint8_t id[ID_BYTES], uint8_t *rec,
                          size_t cap)
{
    size_t len = 0, sum_off = SUM_OFF_V1, bytes = RECORD_BYTES_V1;
    bool v2 = size >= RECORD_BYTES - (8 + ID_BYTES);

    if (v2) {
        sum_off = SUM_OFF;
        bytes = RECORD_BYTES;
    }
    if (flags & 4) {
        memcpy(rec, v2 ? MAGIC : MAGIC_V1, 8);
        memcpy(rec + 8, id, ID_BYTES);
        len = 8 + ID_BYTES;
    }
    if (size > cap - len)
        size = cap - len;
    memcpy(rec + len, data, size);
    len += size;
    if ((flags & 8) && len >= sum_off) {
        crypto_generichash(rec + sum_off, 16, rec, sum_off, NULL, 0);
        if (len < bytes)
            len = bytes;
    }
    return len;
}

static void record_put(const char *path, const uint8_t *rec, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || (len && write(fd, rec, len) != (ssize_t)len) ||
        close(fd) != 0)
        abort();
}

static void sends(const zesp_sa_params *p, unsigned count, uint64_t mark,
                  const char *path, const uint8_t id[ID_BYTES])
{
    uint8_t out[MESSAGE_MAX];
    zesp_sa_info info;
    size_t len;
    bool sent = false;

    for (unsigned i = 0; i < count; i++)
        sent |= zesp_esp_encrypt(sad, p->spi, "m", 1, 253, out, &len) == 0;
    if (!sent)
        return;
    if (zesp_sa_info_get(sad, p->spi, ZESP_DIR_OUT, &info) != 0 ||
        info.seq <= mark || info.seq_reserved < info.seq ||
        record_on_disk(path, id) < info.seq)
        abort();
}

static void receives(const zesp_sa_params *p, unsigned count, uint64_t first,
                     uint64_t mark, const char *path,
                     const uint8_t id[ID_BYTES])
{
    zesp_sa_params s = *p;
    uint8_t pkt[MESSAGE_MAX], *payload, nh;
    size_t len, plen;
    uint32_t spi;
    uint64_t seq, top = 0;

    s.direction = ZESP_DIR_OUT;
    s.flags &= ~ZESP_SA_MANUAL;
    s.seq_block = 0;
    s.next_seq = first;
    if (zesp_sa_add(peer, &s) != 0)
        return;
    for (unsigned i = 0; i < count; i++) {
        if (zesp_esp_encrypt(peer, s.spi, "m", 1, 253, pkt, &len) != 0)
            break;
        if (zesp_esp_decrypt(sad, pkt, len, &payload, &plen, &nh, &spi,
                             &seq) != 0)
            continue;
        if (seq <= mark)
            abort();    /* a number the record says was accepted before */
        top = seq > top ? seq : top;
    }
    zesp_sad_flush(peer);
    if (top && record_on_disk(path, id) < top)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags, id[ID_BYTES], rec[4096];
    char path[192];
    zesp_sa_params p;
    uint64_t mark = 0, base;
    size_t len;
    bool intact;

    if (sad == NULL)
        setup();
    if (size < HEAD_BYTES)
        return 0;
    flags = data[0];
    memset(&p, 0, sizeof p);
    p.spi = SPI;
    p.direction = (flags & 1) ? ZESP_DIR_IN : ZESP_DIR_OUT;
    p.flags = ZESP_SA_MANUAL | ((flags & 2) ? ZESP_SA_NO_ESN : 0);
    p.seq_block = UINT64_C(1) << (4 + data[1] % 27);
    p.next_seq = le64(data + 2);
    memset(p.key, 0x42, sizeof p.key);
    record_id(&p, id);
    record_path(id, path, sizeof path);
    len = record_make(data + HEAD_BYTES, size - HEAD_BYTES, flags, id, rec,
                      sizeof rec);
    intact = (flags & 16) || record_intact(rec, len, id, &mark);
    if (!(flags & 16))
        record_put(path, rec, len);
    base = p.next_seq ? p.next_seq - 1U : 0U;
    if (zesp_sa_add(sad, &p) != 0) {
        if (intact && errno != ZESP_ESEQEXHAUSTED && errno != EINVAL)
            abort();    /* an intact record, or none, must be taken */
    } else {
        if (!intact)
            abort();    /* a damaged record must be refused */
        if (p.direction == ZESP_DIR_OUT)
            sends(&p, flags >> 5, mark > base ? mark : base, path, id);
        else
            receives(&p, flags >> 5, le64(data + 10), mark, path, id);
    }
    zesp_sad_flush(sad);
    fuzz_dir_empty(dir);
    return 0;
}
