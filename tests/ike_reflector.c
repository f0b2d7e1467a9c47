/*
 * A man in the middle for the reflection test (tests/test_zike_reflect.sh):
 * it relays IKE messages between two zikes, unchanged, and sends each
 * distinct message also back to the zike that sent it, as an attacker on
 * the path can.  An IKE_SA_INIT, whose header nothing authenticates, goes
 * back a second time with the flags of the other role: a request as its
 * own answer (I clear, R set), a response as a new request (I set, R
 * clear, SPIr zero).  On SIGUSR2 it stops reflecting live and says "quiet"; on
 * SIGUSR1 it stops too and sends back, once more, every message it has
 * seen of the current IKE SA (the SPIs of the last message relayed).
 *   ike_reflector BIND_ENDPOINT CONNECT_ENDPOINT SECONDS
 * BIND_ENDPOINT is the initiator's peer endpoint (its DEALER connects
 * there), CONNECT_ENDPOINT the responder's listen endpoint.  Each message
 * sent back is a line on stdout:
 *   reflect|flip|replay to=initiator|responder exchange=N response=0|1
 * (for flip, response= is what the flags say now)
 * and a replay ends with the line "replayed N".
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_MESSAGE 16384U
#define MAX_SEEN 4096U
#define HEADER_BYTES 28U
#define EXCHANGE_AT 18U
#define FLAGS_AT 19U
#define IKE_SA_INIT 34U
#define FLAG_INITIATOR 0x08U
#define FLAG_RESPONSE 0x20U

struct seen {
    uint8_t hash[16];
    uint8_t *msg;
    size_t len;
    int from_initiator;      /* sent by the initiator zike */
};

static struct seen seen[MAX_SEEN];
static size_t nseen;
static volatile sig_atomic_t replay_now, quiet_now;

static void on_usr1(int sig)
{
    (void)sig;
    replay_now = 1;
}

static void on_usr2(int sig)
{
    (void)sig;
    quiet_now = 1;
}

/* Remembered: false if this message was seen before (a retransmission). */
static int remember(const uint8_t *msg, size_t len, int from_initiator)
{
    uint8_t h[16];

    crypto_generichash(h, sizeof h, msg, len, NULL, 0);
    for (size_t i = 0; i < nseen; i++)
        if (memcmp(seen[i].hash, h, sizeof h) == 0)
            return 0;
    if (nseen == MAX_SEEN || (seen[nseen].msg = malloc(len)) == NULL)
        return 0;
    memcpy(seen[nseen].hash, h, sizeof h);
    memcpy(seen[nseen].msg, msg, len);
    seen[nseen].len = len;
    seen[nseen].from_initiator = from_initiator;
    nseen++;
    return 1;
}

/* to_initiator: the message goes back to the initiator zike (it sent it). */
static void note(const char *what, const uint8_t *msg, int to_initiator)
{
    printf("%s to=%s exchange=%u response=%u\n", what,
           to_initiator ? "initiator" : "responder", msg[18],
           (msg[19] & 0x20) ? 1U : 0U);
    fflush(stdout);
}

/* Back to its sender: the initiator zike on the ROUTER, the responder on
 * the DEALER. */
static void send_back(void *router, void *dealer, const uint8_t *rid,
                      size_t rid_len, const uint8_t *msg, size_t len,
                      int sent_by_initiator)
{
    if (sent_by_initiator) {
        if (rid_len == 0)
            return;
        zmq_send(router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(router, msg, len, ZMQ_DONTWAIT);
    } else {
        zmq_send(dealer, msg, len, ZMQ_DONTWAIT);
    }
}

/* An IKE_SA_INIT back to its sender once more, as sent by the other
 * role. */
static void flip_back(void *router, void *dealer, const uint8_t *rid,
                      size_t rid_len, const uint8_t *msg, size_t len,
                      int sent_by_initiator)
{
    static uint8_t flipped[MAX_MESSAGE];

    if (msg[EXCHANGE_AT] != IKE_SA_INIT)
        return;
    memcpy(flipped, msg, len);
    if (msg[FLAGS_AT] & FLAG_RESPONSE) {
        flipped[FLAGS_AT] = FLAG_INITIATOR;
        memset(flipped + 8, 0, 8);
    } else {
        flipped[FLAGS_AT] = FLAG_RESPONSE;
    }
    send_back(router, dealer, rid, rid_len, flipped, len, sent_by_initiator);
    note("flip", flipped, sent_by_initiator);
}

int main(int argc, char **argv)
{
    static uint8_t buf[MAX_MESSAGE], last_spis[16];
    uint8_t rid[256];
    size_t rid_len = 0;
    int zero = 0, live = 1;
    void *ctx, *router, *dealer;
    struct sigaction sa;
    time_t end;

    if (argc != 4 || sodium_init() < 0) {
        fprintf(stderr, "usage: ike_reflector BIND_ENDPOINT "
                "CONNECT_ENDPOINT SECONDS\n");
        return 2;
    }
    end = time(NULL) + atoi(argv[3]);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = on_usr2;
    sigaction(SIGUSR2, &sa, NULL);
    ctx = zmq_ctx_new();
    router = zmq_socket(ctx, ZMQ_ROUTER);
    dealer = zmq_socket(ctx, ZMQ_DEALER);
    zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(dealer, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(router, argv[1]) != 0 || zmq_connect(dealer, argv[2]) != 0) {
        fprintf(stderr, "ike_reflector: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    while (time(NULL) < end) {
        zmq_pollitem_t items[] = { { router, 0, ZMQ_POLLIN, 0 },
                                   { dealer, 0, ZMQ_POLLIN, 0 } };
        int got, more = 0;
        size_t more_len = sizeof more;

        if (quiet_now) {
            quiet_now = 0;
            live = 0;
            printf("quiet\n");
            fflush(stdout);
        }
        if (replay_now) {
            size_t n = 0;
            replay_now = 0;
            live = 0;
            for (size_t i = 0; i < nseen; i++)
                if (memcmp(seen[i].msg, last_spis, 16) == 0) {
                    send_back(router, dealer, rid, rid_len, seen[i].msg,
                              seen[i].len, seen[i].from_initiator);
                    note("replay", seen[i].msg, seen[i].from_initiator);
                    n++;
                }
            printf("replayed %zu\n", n);
            fflush(stdout);
        }
        if (zmq_poll(items, 2, 100) < 0)
            continue;                     /* EINTR: a signal */
        if (items[0].revents & ZMQ_POLLIN) {
            /* From the initiator zike: [routing id] message. */
            if ((got = zmq_recv(router, rid, sizeof rid, 0)) < 0)
                continue;
            rid_len = (size_t)got;
            zmq_getsockopt(router, ZMQ_RCVMORE, &more, &more_len);
            if (!more || (got = zmq_recv(router, buf, sizeof buf, 0)) <
                             (int)HEADER_BYTES)
                continue;
            zmq_send(dealer, buf, (size_t)got, 0);
            memcpy(last_spis, buf, 16);
            if (remember(buf, (size_t)got, 1) && live) {
                send_back(router, dealer, rid, rid_len, buf, (size_t)got, 1);
                note("reflect", buf, 1);
                flip_back(router, dealer, rid, rid_len, buf, (size_t)got, 1);
            }
        }
        if (items[1].revents & ZMQ_POLLIN) {
            /* From the responder zike. */
            if ((got = zmq_recv(dealer, buf, sizeof buf, 0)) <
                    (int)HEADER_BYTES || rid_len == 0)
                continue;
            zmq_send(router, rid, rid_len, ZMQ_SNDMORE);
            zmq_send(router, buf, (size_t)got, 0);
            memcpy(last_spis, buf, 16);
            if (remember(buf, (size_t)got, 0) && live) {
                send_back(router, dealer, rid, rid_len, buf, (size_t)got, 0);
                note("reflect", buf, 0);
                flip_back(router, dealer, rid, rid_len, buf, (size_t)got, 0);
            }
        }
    }
    for (size_t i = 0; i < nseen; i++)
        free(seen[i].msg);
    zmq_close(router);
    zmq_close(dealer);
    zmq_ctx_term(ctx);
    return 0;
}
