/*
 * What zike counts as one source, for the limits an unauthenticated
 * party meets (half-open IKE SAs, connections to listen): an IPv6 address
 * by its /64, the least a site or subscriber is given (RFC 6177), which
 * holds 2^64 addresses for whoever wants one per request; an IPv4
 * address, IPv4-mapped too, as itself; anything else (ipc's user) by its
 * text.
 */
#include <arpa/inet.h>
#include <string.h>

#include "daemon.h"

/* The /64 or the mapped IPv4 address of addr; false: not an address. */
static bool source_key(const char *addr, uint8_t out[16])
{
    static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
    char text[ROUTE_ADDR_MAX];
    size_t n = strcspn(addr, "%");         /* a zone: fe80::1%eth0 */

    memset(out, 0, 16);
    if (n >= sizeof text)
        return false;
    memcpy(text, addr, n);
    text[n] = '\0';
    if (inet_pton(AF_INET6, text, out) == 1) {
        if (memcmp(out, mapped, sizeof mapped) != 0)
            memset(out + 8, 0, 8);
        return true;
    }
    if (inet_pton(AF_INET, text, out + 12) == 1) {
        memcpy(out, mapped, sizeof mapped);
        return true;
    }
    return false;
}

bool zike_same_source(const char *a, const char *b)
{
    uint8_t ka[16], kb[16];
    bool ip_a = source_key(a, ka), ip_b = source_key(b, kb);

    if (ip_a != ip_b)
        return false;
    return ip_a ? memcmp(ka, kb, sizeof ka) == 0 : strcmp(a, b) == 0;
}
