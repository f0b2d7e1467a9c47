/* Debug capture of IKE messages and keys (capture.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include "capture.h"
#include "ike_crypto.h"
#include "zike.h"
#include "transform.h"

static FILE *pcap, *keys, *esp_keys;

/* A new file, ours only: never one that exists, never through a symbolic
 * link (a link planted in /tmp would have the keys written where its
 * maker chose). */
static FILE *open_private(const char *path, const char *mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    FILE *f;

    if (fd < 0) {
        zike_log(LOG_ERR, "capture %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (a capture file must be new)" : "");
        return NULL;
    }
    if (fchmod(fd, 0600) != 0 || (f = fdopen(fd, mode)) == NULL) {
        close(fd);
        return NULL;
    }
    return f;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void be16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

int capture_open(const char *pcap_path, const char *keys_path)
{
    uint8_t ghdr[24] = { 0 };

    if (pcap_path != NULL) {
        if ((pcap = open_private(pcap_path, "wb")) == NULL)
            return -1;
        le32(ghdr, 0xa1b2c3d4U);          /* classic pcap, microseconds */
        ghdr[4] = 2;
        ghdr[6] = 4;
        le32(ghdr + 16, 65535);
        le32(ghdr + 20, 101);             /* LINKTYPE_RAW: IPv4 packets */
        if (fwrite(ghdr, sizeof ghdr, 1, pcap) != 1)
            return -1;
        fflush(pcap);
    }
    if (keys_path != NULL) {
        char esp_path[4096];
        snprintf(esp_path, sizeof esp_path, "%s.esp", keys_path);
        if ((keys = open_private(keys_path, "w")) == NULL ||
            (esp_keys = open_private(esp_path, "w")) == NULL)
            return -1;
    }
    return 0;
}

void capture_close(void)
{
    if (pcap)
        fclose(pcap);
    if (keys)
        fclose(keys);
    if (esp_keys)
        fclose(esp_keys);
    pcap = keys = esp_keys = NULL;
}

static uint16_t ip_sum(const uint8_t *h)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < 20; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffffU) + (sum >> 16);
    return (uint16_t)~sum;
}

void capture_message(const uint8_t *buf, size_t len, bool sent)
{
    uint8_t rec[16], hdr[28] = { 0 };
    struct timeval tv;
    size_t total = sizeof hdr + len;

    if (pcap == NULL || total > 65535)
        return;
    gettimeofday(&tv, NULL);
    le32(rec, (uint32_t)tv.tv_sec);
    le32(rec + 4, (uint32_t)tv.tv_usec);
    le32(rec + 8, (uint32_t)total);
    le32(rec + 12, (uint32_t)total);
    hdr[0] = 0x45;
    be16(hdr + 2, total);
    hdr[8] = 64;
    hdr[9] = 17;                          /* UDP */
    memcpy(hdr + 12, sent ? "\xc0\x00\x02\x01\xc0\x00\x02\x02"
                          : "\xc0\x00\x02\x02\xc0\x00\x02\x01", 8);
    be16(hdr + 10, ip_sum(hdr));
    be16(hdr + 20, 500);
    be16(hdr + 22, 500);
    be16(hdr + 24, 8 + len);
    if (fwrite(rec, sizeof rec, 1, pcap) == 1 &&
        fwrite(hdr, sizeof hdr, 1, pcap) == 1 &&
        fwrite(buf, len, 1, pcap) == 1)
        fflush(pcap);
}

static void put_hex(FILE *f, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        fprintf(f, "%02x", b[i]);
}

void capture_keys(const uint8_t spi_i[8], const uint8_t spi_r[8],
                  const struct ike_keys *k)
{
    if (keys == NULL)
        return;
    /* UAT syntax: byte fields as bare hex, strings quoted. */
    put_hex(keys, spi_i, 8);
    fputc(',', keys);
    put_hex(keys, spi_r, 8);
    fputc(',', keys);
    put_hex(keys, k->sk_ei, IKE_SK_E_BYTES);
    fputc(',', keys);
    put_hex(keys, k->sk_er, IKE_SK_E_BYTES);
    fprintf(keys, ",\"%s\",,,\"NONE [RFC4306]\"\n",
            k->aead->aes ? "AES-GCM-256 with 16 octet ICV [RFC5282]"
                         : "ChaCha20-Poly1305 [RFC7634]");
    fflush(keys);
}

void capture_child_key(uint32_t spi, bool in, const uint8_t key[36])
{
    if (esp_keys == NULL)
        return;
    fprintf(esp_keys, "%08x %s ", spi, in ? "in" : "out");
    put_hex(esp_keys, key, 36);
    fputc('\n', esp_keys);
    fflush(esp_keys);
}
