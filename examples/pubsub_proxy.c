/*
 * An XSUB/XPUB proxy: publishers connect to --xsub, subscribers to --xpub.
 * It is plain ZeroMQ and holds no key: it forwards subscriptions and
 * messages, filtering on the clear topic frame, and can read nothing else.
 * It prints "pubsub_proxy: subscribe TOPIC" (or "unsubscribe") as each
 * subscriber's subscription passes (TOPIC escaped as tools/safe_text.h
 * says: a line feed is \x0a), so that one can see who listens
 * before publishing.  Subscribers send nothing else: any other message
 * from them is dropped ("pubsub_proxy: dropped from a subscriber: not a
 * subscription (N frames); dropped D"), never passed up to the
 * publishers.
 *
 * With --verify SENDERS.yaml (the public keys of a signed group's
 * senders, doc/configuration.md; never a group key) it checks each
 * message's origin before forwarding it (zesp_verify): a forgery, even
 * by a group member, an ESP frame changed on the way and a malformed one
 * are dropped, never reaching a subscriber (the topic is bound inside the
 * ESP frame, which only subscribers can check), and it prints one line for each,
 * with the totals: "pubsub_proxy: dropped: WHY (sender N); forwarded F,
 * dropped D".  Only signed group messages pass it.  SIGHUP reads the
 * file again: taken whole ("pubsub_proxy: reloaded FILE: checking the
 * signatures of N senders"), or, if it is refused, the senders held kept
 * ("pubsub_proxy: not reloaded, still checking N senders: WHY").  A group
 * keyed by zike needs no reload at its rekeys (`zikectl senders GROUP`
 * prints entries under any SPI), only when its senders change.
 *
 * A peer sending a frame over --max-message bytes (default 16 MiB) is
 * disconnected before it is buffered; each connection holds at most
 * LIMITS_HWM messages each way (limits.h).
 *
 *   pubsub_proxy --xsub EP --xpub EP [--verify SENDERS.yaml]
 *                [--max-message BYTES]
 *   kill -HUP PID    (with --verify) read SENDERS.yaml again
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <zesp.h>
#include <zmq.h>

#include "endpoint.h"
#include "limits.h"
#include "safe_text.h"

/* A message of more frames is dropped unread (a publisher sends 2). */
#define PROXY_MAX_FRAMES 64

struct proxy {
    zesp_verifier *verifier;    /* NULL: forward everything */
    unsigned long long forwarded, dropped;
    unsigned long long upstream_dropped;    /* from subscribers */
};

/* Forward one whole message (the publishers' side, without --verify). */
static int forward(void *from, void *to)
{
    for (int more = 1; more;) {
        zmq_msg_t m;
        size_t ml = sizeof more;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, from, 0) < 0)
            return -1;
        zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
        if (zmq_msg_send(&m, to, more ? ZMQ_SNDMORE : 0) < 0) {
            zmq_msg_close(&m);
            return -1;
        }
    }
    return 0;
}

/* The subscribers' side: forward a subscription (one frame, 1 or 0 then
 * the topic) and say what it is; drop anything else.  XSUB would pass
 * any other message up to every publisher, whose XPUB keeps what it has
 * not read without limit (the publisher example reads none once it
 * publishes): a subscriber could grow every publisher's memory. */
static int forward_subscription(struct proxy *px, void *from, void *to)
{
    zmq_msg_t m;
    int more = 0, frames = 1;
    size_t ml = sizeof more;

    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, from, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
    const char *p = zmq_msg_data(&m);
    size_t len = zmq_msg_size(&m);
    if (more || len == 0 || (*p != 0 && *p != 1)) {
        zmq_msg_close(&m);
        for (; more; frames++) {        /* the rest of it, unread */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, from, 0) < 0) {
                zmq_msg_close(&m);
                return -1;
            }
            ml = sizeof more;
            zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
            zmq_msg_close(&m);
        }
        px->upstream_dropped++;
        printf("pubsub_proxy: dropped from a subscriber: not a subscription "
               "(%d frames); dropped %llu\n", frames, px->upstream_dropped);
        return 0;
    }
    /* A subscription is whatever bytes a subscriber chose: escaped, so
     * that it cannot write lines of this log. */
    printf("pubsub_proxy: %s ", *p ? "subscribe" : "unsubscribe");
    safe_text_write(stdout, p + 1, len - 1, SAFE_TEXT_ALL);
    putchar('\n');
    if (zmq_msg_send(&m, to, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    return 0;
}

/* Read one whole message into m (at most PROXY_MAX_FRAMES frames, the
 * rest read and discarded); *n frames kept, *whole if none was lost. */
static int read_message(void *from, zmq_msg_t *m, int *n, int *whole)
{
    int more = 1;

    *n = 0;
    *whole = 1;
    while (more) {
        size_t ml = sizeof more;
        zmq_msg_t extra, *into = *n < PROXY_MAX_FRAMES ? &m[*n] : &extra;

        zmq_msg_init(into);
        if (zmq_msg_recv(into, from, 0) < 0) {
            zmq_msg_close(into);
            return -1;
        }
        zmq_getsockopt(from, ZMQ_RCVMORE, &more, &ml);
        if (into == &extra) {
            zmq_msg_close(&extra);
            *whole = 0;
        } else {
            (*n)++;
        }
    }
    return 0;
}

/* The publishers' side with --verify: forward a message only if its
 * sender's signature holds. */
static int forward_checked(struct proxy *px, void *from, void *to)
{
    zmq_msg_t m[PROXY_MAX_FRAMES];
    zesp_frame f[PROXY_MAX_FRAMES];
    uint32_t sender = 0;
    int n, whole, rc = 0, err = 0;

    if (read_message(from, m, &n, &whole) != 0)
        return -1;
    for (int i = 0; i < n; i++)
        f[i] = (zesp_frame){ zmq_msg_data(&m[i]), zmq_msg_size(&m[i]) };
    if (!whole)
        err = ZESP_EMALFORMED;
    else if (zesp_verify(px->verifier, f, (size_t)n, &sender) != 0)
        err = errno;
    if (err == 0) {
        for (int i = 0; i < n && rc == 0; i++)
            rc = zmq_msg_send(&m[i], to, i + 1 < n ? ZMQ_SNDMORE : 0) < 0;
        px->forwarded++;
    } else {
        const uint8_t *esp = n ? f[n - 1].data : NULL;
        unsigned claimed = n && f[n - 1].size >= 10 ? (esp[8] << 8 | esp[9])
                                                    : 0;
        px->dropped++;
        printf("pubsub_proxy: dropped: %s (sender %u); forwarded %llu, "
               "dropped %llu\n", whole ? zesp_strerror(err)
                                       : "more frames than a message has",
               claimed, px->forwarded, px->dropped);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&m[i]);
    return rc ? -1 : 0;
}

static unsigned long long senders_held(zesp_verifier *v)
{
    zesp_verifier_stats st;

    return zesp_verifier_stats_get(v, &st) == 0 ? st.senders : 0;
}

/* SIGHUP arrives as a readable fd that zmq_poll watches, never as an
 * interrupted call in the middle of a message: blocked in every thread
 * (libzmq's start after this), read through a signalfd.  -1: none. */
static int hangup_fd(void)
{
    sigset_t hup;

    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &hup, NULL) != 0)
        return -1;
    return signalfd(-1, &hup, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* The senders file again, taken whole; if it is refused, the senders
 * held stay.  The reason is escaped: a file's text writes no line of
 * this log. */
static void reload(struct proxy *px, int fd, const char *path)
{
    struct signalfd_siginfo si;
    zesp_verifier *v;
    char err[512] = "";

    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
        ;                               /* one reload for any number */
    if ((v = zesp_verifier_new()) == NULL ||
        zesp_verifier_load(v, path, err, sizeof err) != 0) {
        if (err[0] == '\0')
            snprintf(err, sizeof err, "%s", zesp_strerror(errno));
        printf("pubsub_proxy: not reloaded, still checking %llu senders: ",
               senders_held(px->verifier));
        safe_text_write(stdout, err, strlen(err), SAFE_TEXT_ALL);
        putchar('\n');
        zesp_verifier_free(v);
        return;
    }
    zesp_verifier_free(px->verifier);
    px->verifier = v;
    printf("pubsub_proxy: reloaded ");
    safe_text_write(stdout, path, strlen(path), SAFE_TEXT_ALL);
    printf(": checking the signatures of %llu senders\n", senders_held(v));
}

int main(int argc, char **argv)
{
    const char *xsub_ep = NULL, *xpub_ep = NULL, *senders = NULL;
    struct proxy px = { NULL, 0, 0, 0 };
    int each = 1, hup = -1;
    int64_t max_message = LIMITS_MAX_MESSAGE_DEFAULT;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--xsub") == 0)
            xsub_ep = argv[i + 1];
        else if (strcmp(argv[i], "--xpub") == 0)
            xpub_ep = argv[i + 1];
        else if (strcmp(argv[i], "--verify") == 0)
            senders = argv[i + 1];
        else if (strcmp(argv[i], "--max-message") == 0)
            max_message = limits_parse(argv[i + 1]);
    }
    if (xsub_ep == NULL || xpub_ep == NULL || max_message < 0) {
        fprintf(stderr, "usage: pubsub_proxy --xsub EP --xpub EP "
                "[--verify SENDERS.yaml] [--max-message BYTES]\n"
                "  --verify: forward only messages its senders signed; "
                "SIGHUP reads the file again\n"
                "  (zikectl senders GROUP prints one for a group keyed by "
                "zike)\n");
        return 2;
    }
    if (senders != NULL) {
        char err[512];
        if ((px.verifier = zesp_verifier_new()) == NULL ||
            zesp_verifier_load(px.verifier, senders, err, sizeof err) != 0) {
            fprintf(stderr, "pubsub_proxy: %s\n",
                    px.verifier ? err : zesp_strerror(errno));
            return 1;
        }
        if ((hup = hangup_fd()) < 0) {
            fprintf(stderr, "pubsub_proxy: SIGHUP: %s\n", strerror(errno));
            return 1;
        }
    }
    void *ctx = zmq_ctx_new();
    void *xsub = zmq_socket(ctx, ZMQ_XSUB);
    void *xpub = zmq_socket(ctx, ZMQ_XPUB);
    /* Every subscriber's subscription, not only a topic's first. */
    if (xsub == NULL || xpub == NULL ||
        zmq_setsockopt(xpub, ZMQ_XPUB_VERBOSER, &each, sizeof each) != 0 ||
        limits_apply(xsub, max_message) != 0 ||
        limits_apply(xpub, max_message) != 0) {
        fprintf(stderr, "pubsub_proxy: sockets: %s\n",
                zmq_strerror(zmq_errno()));
        return 1;
    }
    if (endpoint_use(xsub, xsub_ep, true, "pubsub_proxy") != 0 ||
        endpoint_use(xpub, xpub_ep, true, "pubsub_proxy") != 0)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (px.verifier != NULL)
        printf("pubsub_proxy: checking the signatures of %llu senders\n",
               senders_held(px.verifier));
    for (;;) {                          /* until the process is stopped */
        zmq_pollitem_t items[] = { { xsub, 0, ZMQ_POLLIN, 0 },
                                   { xpub, 0, ZMQ_POLLIN, 0 },
                                   { NULL, hup, ZMQ_POLLIN, 0 } };
        if (zmq_poll(items, hup >= 0 ? 3 : 2, -1) < 0)
            break;
        if (items[2].revents & ZMQ_POLLIN)
            reload(&px, hup, senders);
        if ((items[0].revents & ZMQ_POLLIN) &&
            (px.verifier ? forward_checked(&px, xsub, xpub)
                         : forward(xsub, xpub)) != 0)
            break;
        if ((items[1].revents & ZMQ_POLLIN) &&
            forward_subscription(&px, xpub, xsub) != 0)
            break;
    }
    zmq_close(xsub);
    zmq_close(xpub);
    zmq_ctx_term(ctx);
    zesp_verifier_free(px.verifier);
    if (hup >= 0)
        close(hup);
    return 1;
}
