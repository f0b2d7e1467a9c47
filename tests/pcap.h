/* Writing one packet into a classic pcap file, for third-party
 * dissectors (tshark) to check what we put on the wire. */
#ifndef ZESP_TEST_PCAP_H
#define ZESP_TEST_PCAP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t ip_checksum(const uint8_t *h, size_t len)
{
    uint32_t sum = 0;

    for (size_t i = 0; i < len; i += 2)
        sum += (uint32_t)(h[i] << 8 | h[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* One IPv4 packet of protocol `proto` carrying data, on Ethernet. */
static inline int pcap_write_ipv4(const char *path, uint8_t proto,
                                  const uint8_t *esp, size_t n)
{
    uint8_t ghdr[24] = { 0 }, rec[16] = { 0 }, frame[14 + 20 + 8192];
    uint8_t *ip = frame + 14;
    size_t len = 14 + 20 + n;
    FILE *f;

    if (n > 8192)
        return -1;
    put32le(ghdr, 0xa1b2c3d4U);        /* classic libpcap, microseconds */
    ghdr[4] = 2;
    ghdr[6] = 4;
    put32le(ghdr + 16, 65535);
    put32le(ghdr + 20, 1);             /* LINKTYPE_ETHERNET */
    put32le(rec, 1700000000U);
    put32le(rec + 8, (uint32_t)len);
    put32le(rec + 12, (uint32_t)len);

    memset(frame, 0, sizeof frame);
    memcpy(frame, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
    put16(frame + 12, 0x0800);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + n));
    put16(ip + 6, 0x4000);             /* don't fragment */
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, "\xc0\x00\x02\x01\xc0\x00\x02\x02", 8); /* 192.0.2.x */
    put16(ip + 10, ip_checksum(ip, 20));
    memcpy(ip + 20, esp, n);

    if ((f = fopen(path, "wb")) == NULL)
        return -1;
    if (fwrite(ghdr, sizeof ghdr, 1, f) != 1 ||
        fwrite(rec, sizeof rec, 1, f) != 1 || fwrite(frame, len, 1, f) != 1) {
        fclose(f);
        return -1;
    }
    return fclose(f);
}

/* One UDP datagram (port 500 to 500, as IKE) in IPv4. */
static inline int pcap_write_udp(const char *path, const uint8_t *data,
                                 size_t n)
{
    uint8_t dgram[8 + 8192];

    if (n > sizeof dgram - 8)
        return -1;
    put16(dgram, 500);
    put16(dgram + 2, 500);
    put16(dgram + 4, (uint16_t)(8 + n));
    put16(dgram + 6, 0);               /* no checksum: allowed in IPv4 */
    memcpy(dgram + 8, data, n);
    return pcap_write_ipv4(path, 17, dgram, 8 + n);
}

#endif
