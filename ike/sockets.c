/*
 * zike's IKE sockets (doc/zike.md 1): a connection per peer endpoint
 * (links.c) carries our requests and their responses; the connections to
 * `listen` (listen.c) carry the peers' requests and our responses, back
 * to the connection they came from.  zike reads both as ZMTP itself
 * (zmtp.c).  One IKE message is one frame, at most IKE_MAX_MESSAGE bytes.
 */
#include "capture.h"
#include "daemon.h"

int zike_send(struct zike *z, const struct route *to, const uint8_t *buf,
              size_t len)
{
    if (to->sock == NULL)
        return -1;
    capture_message(buf, len, true);
    return to->zmtp ? listen_send(to, buf, len) : link_send(z, to, buf, len);
}
