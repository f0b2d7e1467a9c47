/*
 * A UDP-to-ZeroMQ relay for the strongSwan interoperability test: a
 * standard IKEv2 daemon speaks UDP port 500, zike speaks one IKE message
 * per ZeroMQ frame.  Each datagram is one frame and each frame one
 * datagram, untouched:
 *   - requests from the UDP peer go to zike's ROUTER through a DEALER, and
 *     zike's answers come back on it;
 *   - zike's own requests arrive on the relay's ROUTER (zike's peer
 *     endpoint), and the UDP peer's responses go back to that ROUTER.
 *   ike_udp_relay LOCAL_IP PEER_IP ZIKE_ENDPOINT RELAY_ENDPOINT SECONDS
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX 16384

int main(int argc, char **argv)
{
    struct sockaddr_in local = { .sin_family = AF_INET, .sin_port = htons(500) };
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_port = htons(500) };
    static uint8_t buf[MAX];
    uint8_t rid[256];
    size_t rid_len = 0;
    int fd, zero = 0;
    void *ctx, *dealer, *router;
    time_t end;

    if (argc != 6 || inet_pton(AF_INET, argv[1], &local.sin_addr) != 1 ||
        inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1) {
        fprintf(stderr, "usage: ike_udp_relay LOCAL_IP PEER_IP ZIKE_ENDPOINT "
                "RELAY_ENDPOINT SECONDS\n");
        return 2;
    }
    end = time(NULL) + atoi(argv[5]);
    if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
        bind(fd, (struct sockaddr *)&local, sizeof local) != 0) {
        perror("ike_udp_relay: udp");
        return 1;
    }
    ctx = zmq_ctx_new();
    dealer = zmq_socket(ctx, ZMQ_DEALER);
    router = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(dealer, argv[3]) != 0 || zmq_bind(router, argv[4]) != 0) {
        fprintf(stderr, "ike_udp_relay: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    while (time(NULL) < end) {
        zmq_pollitem_t items[] = { { NULL, fd, ZMQ_POLLIN, 0 },
                                   { dealer, 0, ZMQ_POLLIN, 0 },
                                   { router, 0, ZMQ_POLLIN, 0 } };
        ssize_t n;
        int got;

        if (zmq_poll(items, 3, 200) < 0)
            break;
        if (items[0].revents & ZMQ_POLLIN) {
            n = recv(fd, buf, sizeof buf, 0);
            if (n >= 28) {
                /* The Response flag (RFC 7296 3.1) says where it goes. */
                if ((buf[19] & 0x20) && rid_len) {
                    zmq_send(router, rid, rid_len, ZMQ_SNDMORE);
                    zmq_send(router, buf, (size_t)n, 0);
                } else {
                    zmq_send(dealer, buf, (size_t)n, 0);
                }
            }
        }
        if (items[1].revents & ZMQ_POLLIN &&
            (got = zmq_recv(dealer, buf, sizeof buf, 0)) > 0)
            sendto(fd, buf, (size_t)got, 0, (struct sockaddr *)&peer,
                   sizeof peer);
        if (items[2].revents & ZMQ_POLLIN) {
            got = zmq_recv(router, rid, sizeof rid, 0);
            if (got > 0)
                rid_len = (size_t)got;
            if ((got = zmq_recv(router, buf, sizeof buf, 0)) > 0)
                sendto(fd, buf, (size_t)got, 0, (struct sockaddr *)&peer,
                       sizeof peer);
        }
    }
    close(fd);
    zmq_close(dealer);
    zmq_close(router);
    zmq_ctx_term(ctx);
    return 0;
}
