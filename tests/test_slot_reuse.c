/*
 * A slot reused while a reader still holds it.  Readers take no lock: one
 * that found an SA can be preempted while a writer deletes it and installs
 * another SA in the same slot.  Whatever the late reader then does must
 * not touch the new SA.
 *
 * The interleaving is made, not waited for: clock_gettime is interposed,
 * and a sender's clock reading is where the SA is replaced, by the sending
 * thread itself.  The clock is read only for an SA with a limit in
 * seconds (lifetime.c), so the old SAs have one (timed()).
 *
 * Four gaps hold no library call to interpose.  Between a receiver's
 * in_open (the message decrypted) and its in_commit, and after in_commit
 * unpinned the slot: in_commit itself is wrapped at link time (-Wl,--wrap,
 * see Makefile.am).  Before out_begin reads a source-MAC SA's receivers:
 * transform_find, called just before, is wrapped too.  Between two reads
 * of a policy's inbound SPIs: a hardware
 * watchpoint (perf_event_open, a synchronous SIGTRAP in this thread) on
 * the first SPI; where the kernel gives none, that test says it skipped.
 */
#include <dlfcn.h>
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "sad.h"
#include "test.h"
#include "zesp.h"

#define OLD_SPI 0x5e0001U
#define FILLER_SPI 0x5e0100U
#define LATE_SEQ 100000U        /* far above the new SA's first numbers */

static char dir[256];

/* The replacement, done once as in_commit is called for the late
 * message, decrypted in place. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    const uint8_t *plain;        /* where the payload is once decrypted */
    const char *text;
    zesp_sa_params next;
    int del_rc, add_rc;
} hook;

/* The sender's turn: at its first clock reading (the lifetime charge,
 * after it found its SA), the outbound SA is replaced. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    zesp_sa_params next;
    int del_rc, add_rc;
} send_hook;

/* A receiver of this process's own windows: at its first clock reading
 * (the lifetime check, before it looks at its window), the inbound SA is
 * replaced and the new SA's first message received. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    zesp_sa_params next;
    uint8_t *frame;
    size_t len;
    int del_rc, add_rc, open_rc;
} own_hook;

static int (*_Atomic real_clock)(clockid_t, struct timespec *);

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int armed = 1;

    if (clk == CLOCK_MONOTONIC_COARSE &&
        atomic_compare_exchange_strong(&own_hook.armed, &armed, 0)) {
        uint8_t *payload, nh;
        size_t plen;

        own_hook.del_rc = zesp_sa_del(own_hook.sad, OLD_SPI, ZESP_DIR_IN);
        own_hook.add_rc = zesp_sa_add(own_hook.sad, &own_hook.next);
        own_hook.open_rc = zesp_esp_decrypt(own_hook.sad, own_hook.frame,
                                            own_hook.len, &payload, &plen,
                                            &nh, NULL, NULL);
    }
    armed = 1;
    if (clk == CLOCK_MONOTONIC_COARSE &&
        atomic_compare_exchange_strong(&send_hook.armed, &armed, 0)) {
        send_hook.del_rc = zesp_sa_del(send_hook.sad, OLD_SPI, ZESP_DIR_OUT);
        send_hook.add_rc = zesp_sa_add(send_hook.sad, &send_hook.next);
    }
    if (real_clock == NULL)
        real_clock = (int (*)(clockid_t, struct timespec *))dlsym(
            RTLD_NEXT, "clock_gettime");
    return real_clock(clk, ts);
}

/* The signer's turn: the SA replaced just before the frame is signed. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    zesp_sa_params next;
    int del_rc, add_rc;
} sign_hook;

static int (*_Atomic real_sign)(unsigned char *, unsigned long long *,
                                const unsigned char *, unsigned long long,
                                const unsigned char *);

int crypto_sign_detached(unsigned char *sig, unsigned long long *siglen,
                         const unsigned char *m, unsigned long long mlen,
                         const unsigned char *sk)
{
    int armed = 1;

    if (atomic_compare_exchange_strong(&sign_hook.armed, &armed, 0)) {
        sign_hook.del_rc = zesp_sa_del(sign_hook.sad, sign_hook.next.spi,
                                       ZESP_DIR_OUT);
        sign_hook.add_rc = zesp_sa_add(sign_hook.sad, &sign_hook.next);
    }
    if (real_sign == NULL)
        real_sign = (int (*)(unsigned char *, unsigned long long *,
                             const unsigned char *, unsigned long long,
                             const unsigned char *))dlsym(
            RTLD_NEXT, "crypto_sign_detached");
    return real_sign(sig, siglen, m, mlen, sk);
}

/* An SA whose lifetime checks read the clock, where the hooks run. */
static zesp_sa_params timed(zesp_sa_params p)
{
    p.hard.seconds = 3600;
    return p;
}

/* A source-MAC sender's turn: the SA replaced after its frame was sized
 * (out_begin, for the old SA's receivers) and before the MACs are
 * written, at the clear frames' binding; then every MAC's tag is checked
 * to fall within the frame, and one that would not is not written. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    zesp_sa_params next;
    int del_rc, add_rc;
    const uint8_t *frame;       /* the frame being sealed, once known */
    size_t frame_len;
    unsigned macs, outside;
} mac_hook;

static int (*_Atomic real_hash_final)(crypto_generichash_state *,
                                      unsigned char *, size_t);

int crypto_generichash_final(crypto_generichash_state *st, unsigned char *out,
                             size_t outlen)
{
    int armed = 1;

    if (atomic_compare_exchange_strong(&mac_hook.armed, &armed, 0)) {
        /* The binding follows nclear, after the header. */
        mac_hook.frame = out - ZESP_HEADERBYTES - 1;
        mac_hook.del_rc = zesp_sa_del(mac_hook.sad, mac_hook.next.spi,
                                      ZESP_DIR_OUT);
        mac_hook.add_rc = zesp_sa_add(mac_hook.sad, &mac_hook.next);
    }
    if (real_hash_final == NULL)
        real_hash_final = (int (*)(crypto_generichash_state *,
                                   unsigned char *, size_t))dlsym(
            RTLD_NEXT, "crypto_generichash_final");
    return real_hash_final(st, out, outlen);
}

static int (*_Atomic real_chacha_seal)(
    unsigned char *, unsigned char *, unsigned long long *,
    const unsigned char *, unsigned long long, const unsigned char *,
    unsigned long long, const unsigned char *, const unsigned char *,
    const unsigned char *);

int crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    unsigned char *c, unsigned char *mac, unsigned long long *maclen_p,
    const unsigned char *m, unsigned long long mlen, const unsigned char *ad,
    unsigned long long adlen, const unsigned char *nsec,
    const unsigned char *npub, const unsigned char *k)
{
    /* A source MAC: nothing to encrypt (the ESP seal has the payload). */
    if (mac_hook.frame != NULL && mlen == 0) {
        mac_hook.macs++;
        if (mac < mac_hook.frame ||
            mac + crypto_aead_chacha20poly1305_ietf_ABYTES >
                mac_hook.frame + mac_hook.frame_len) {
            mac_hook.outside++;
            return -1;          /* not written past the buffer */
        }
    }
    if (real_chacha_seal == NULL)
        real_chacha_seal = (int (*)(
            unsigned char *, unsigned char *, unsigned long long *,
            const unsigned char *, unsigned long long, const unsigned char *,
            unsigned long long, const unsigned char *, const unsigned char *,
            const unsigned char *))dlsym(
            RTLD_NEXT, "crypto_aead_chacha20poly1305_ietf_encrypt_detached");
    return real_chacha_seal(c, mac, maclen_p, m, mlen, ad, adlen, nsec, npub,
                            k);
}

/* The receiver's report: once in_commit has returned, its slots unpinned,
 * the SA is deleted and another put in its slot, before the receiver
 * says which SA, Sender ID and peer the message came under. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    uint32_t spi;
    zesp_sa_params next;
    int del_rc, add_rc;
} report_hook;

struct in_ctx;
int __real_in_commit(struct in_ctx *ctx, size_t payload_len);
int __wrap_in_commit(struct in_ctx *ctx, size_t payload_len);

int __wrap_in_commit(struct in_ctx *ctx, size_t payload_len)
{
    int armed = 1, err;

    if (atomic_load(&hook.armed) &&
        memcmp(hook.plain, hook.text, strlen(hook.text)) == 0 &&
        atomic_compare_exchange_strong(&hook.armed, &armed, 0)) {
        hook.del_rc = zesp_sa_del(hook.sad, OLD_SPI, ZESP_DIR_IN);
        hook.add_rc = zesp_sa_add(hook.sad, &hook.next);
    }
    armed = 1;
    err = __real_in_commit(ctx, payload_len);

    if (err == 0 &&
        atomic_compare_exchange_strong(&report_hook.armed, &armed, 0)) {
        report_hook.del_rc = zesp_sa_del(report_hook.sad, report_hook.spi,
                                         ZESP_DIR_IN);
        report_hook.add_rc = zesp_sa_add(report_hook.sad, &report_hook.next);
    }
    return err;
}

/* sa in rx's first slot, and that slot the first a writer looks at once
 * it is free (the other two taken, one freed again). */
static void first_slot(zesp_sad *rx, const zesp_sa_params *sa)
{
    CHECK_OK(zesp_sa_add(rx, sa));
    for (uint32_t i = 0; i < 2; i++) {
        zesp_sa_params filler = test_sa(FILLER_SPI + i, ZESP_DIR_IN, 0, 0);
        CHECK_OK(zesp_sa_add(rx, &filler));
    }
    CHECK_OK(zesp_sa_del(rx, FILLER_SPI + 1U, ZESP_DIR_IN));
}

static void seal(zesp_sad *tx, uint32_t spi, const char *text, uint8_t *pkt,
                 size_t *len)
{
    CHECK_OK(zesp_esp_encrypt(tx, spi, text, strlen(text), 253, pkt, len));
}

/* A receiver that authenticated a message of the old SA and is then
 * preempted, before its replay window took the number, while the old SA
 * is deleted and a new one (the same SPI with a new key, or another SPI)
 * takes its slot.  Before, the late receiver marked the old message's
 * number in the new SA's window and charged it to the new SA's lifetime:
 * the new SA's top jumped to LATE_SEQ, and every message its sender then
 * sent was refused as too old (a manual key's record moved ahead too).
 * The refusal (ZESP_ENOSA) is counted as one of no SA: before, it was
 * counted against the new SA, and so against the policy that serves the
 * new SA's SPI, which the message never reached. */
static void test_late_receiver(void)
{
    static const struct { const char *name; uint32_t spi; } rows[] = {
        { "same SPI, new key", OLD_SPI },
        { "another SPI", OLD_SPI + 1U },
    };

    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        zesp_sad_opts small = { .capacity = 3 };
        zesp_sa_params old_out = timed(test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0));
        zesp_sa_params old_in = timed(test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0));
        zesp_sa_params new_out = test_sa(rows[r].spi, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params new_in = test_sa(rows[r].spi, ZESP_DIR_IN, 0, 0);
        zesp_sad *old_tx, *new_tx, *rx;
        uint8_t late[256], fresh[256], *payload;
        size_t late_len = 0, fresh_len = 0, plen;
        zesp_sa_info info;
        uint32_t spi;
        uint64_t seq;
        uint8_t nh;

        for (unsigned i = 0; i < 8; i++) {        /* a rekey's new key */
            new_out.key[i] ^= 0xa5;
            new_in.key[i] ^= 0xa5;
        }
        old_out.next_seq = LATE_SEQ;
        old_tx = zesp_sad_new(NULL);
        new_tx = zesp_sad_new(NULL);
        unlink(test_path_in(dir, "rx.sad"));
        rx = zesp_sad_open(test_path_in(dir, "rx.sad"), ZESP_SAD_CREATE, &small);
        CHECK(old_tx != NULL && new_tx != NULL && rx != NULL);
        if (old_tx == NULL || new_tx == NULL || rx == NULL)
            return;
        CHECK_OK(zesp_sa_add(old_tx, &old_out));
        CHECK_OK(zesp_sa_add(new_tx, &new_out));
        first_slot(rx, &old_in);
        zesp_policy pol = { .name = "new", .in_spi = { rows[r].spi } };
        zesp_sad_stats host;
        CHECK_OK(zesp_policy_set(rx, &pol));

        seal(old_tx, OLD_SPI, "late message", late, &late_len);
        hook.sad = rx;
        hook.plain = late + ZESP_HEADERBYTES;
        hook.text = "late message";
        hook.next = new_in;
        hook.del_rc = hook.add_rc = -2;
        atomic_store(&hook.armed, 1);
        CHECK_ERR(zesp_esp_decrypt(rx, late, late_len, &payload, &plen, &nh,
                                   &spi, &seq),
                  ZESP_ENOSA);
        atomic_store(&hook.armed, 0);
        CHECK(hook.del_rc == 0 && hook.add_rc == 0);
        CHECK_OK(zesp_policy_get(rx, "new", &pol));
        CHECK_OK(zesp_sad_stats_get(rx, &host));
        CHECK(pol.rejected[ZESP_REJ_NOSA] == 0);
        CHECK(host.rejected_nosa == 1 && host.rejected[ZESP_REJ_NOSA] == 1);
        if (pol.rejected[ZESP_REJ_NOSA] != 0 || host.rejected_nosa != 1)
            fprintf(stderr, "  %s: the new SA's policy counts %llu "
                    "refused for no SA, the host %llu of no SA\n",
                    rows[r].name,
                    (unsigned long long)pol.rejected[ZESP_REJ_NOSA],
                    (unsigned long long)host.rejected_nosa);

        /* The new SA is as it was installed: nothing received. */
        CHECK_OK(zesp_sa_info_get(rx, rows[r].spi, ZESP_DIR_IN, &info));
        CHECK(info.seq == 0);
        CHECK(info.stats.messages == 0 && info.stats.bytes == 0);
        if (info.seq != 0)
            fprintf(stderr, "  %s: the new SA's top is %llu\n", rows[r].name,
                    (unsigned long long)info.seq);

        /* And its sender's first message is accepted. */
        seal(new_tx, rows[r].spi, "first of the new SA", fresh, &fresh_len);
        CHECK_OK(zesp_esp_decrypt(rx, fresh, fresh_len, &payload, &plen,
                                  &nh, &spi, &seq));
        CHECK(seq == 1 && spi == rows[r].spi);
        CHECK(plen == strlen("first of the new SA") &&
              memcmp(payload, "first of the new SA", plen) == 0);

        zesp_sad_free(rx);
        zesp_sad_free(new_tx);
        zesp_sad_free(old_tx);
    }
}

/* A sender that found its SA and is preempted before it charges the
 * message to the SA's lifetimes, while the SA is deleted and a new one
 * (a rekey: the same SPI, a new key, a hard limit of one message) takes
 * its slot.  Before, the late sender charged the new SA and took its
 * first number, then failed (ZESP_ENOSA): the new SA's own first message
 * was past its hard limit, refused and the SA marked expired. */
static void test_late_sender(void)
{
    zesp_sad_opts two = { .capacity = 2 };
    zesp_sa_params old_out = timed(test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0));
    zesp_sa_params new_out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params filler = test_sa(FILLER_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_frame body = { "hello", 5 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_sad *tx = zesp_sad_new(&two);
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t len = 0;

    CHECK(tx != NULL);
    if (tx == NULL)
        return;
    new_out.key[0] ^= 0xa5;
    new_out.hard.messages = 1;
    /* The old SA in the first slot, the first slot looked at once free. */
    CHECK_OK(zesp_sa_add(tx, &old_out));
    CHECK_OK(zesp_sa_add(tx, &filler));
    CHECK_OK(zesp_sa_del(tx, FILLER_SPI, ZESP_DIR_OUT));
    send_hook.sad = tx;
    send_hook.next = new_out;
    send_hook.del_rc = send_hook.add_rc = -2;
    atomic_store(&send_hook.armed, 1);
    CHECK_ERR(zesp_seal(tx, OLD_SPI, &parts, &esp, &len), ZESP_ENOSA);
    atomic_store(&send_hook.armed, 0);
    CHECK(send_hook.del_rc == 0 && send_hook.add_rc == 0);

    CHECK_OK(zesp_sa_info_get(tx, OLD_SPI, ZESP_DIR_OUT, &info));
    CHECK(info.stats.messages == 0 && info.seq == 0 && !info.hard_expired);
    CHECK_OK(zesp_seal(tx, OLD_SPI, &parts, &esp, &len));
    CHECK(esp != NULL && len > 8 && esp[4] == 0 && esp[5] == 0 &&
          esp[6] == 0 && esp[7] == 1);      /* its first number */
    zesp_buf_free(esp);
    zesp_sad_free(tx);
}

/* A receiver with windows of its own (ZESP_SAD_OWN_WINDOWS) that found
 * the old SA and is preempted before it looks at its window, while the SA
 * is replaced in its slot and another thread of the process receives the
 * new SA's first message.  Before, the late receiver started a window for
 * the old SA in the slot's place, over the new SA's; the next message of
 * the new SA started the new SA's window afresh, and the first message,
 * replayed, was accepted a second time. */
static void test_late_receiver_own_window(void)
{
    zesp_sad_opts small = { .capacity = 3 };
    zesp_sa_params old_out = timed(test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0));
    zesp_sa_params old_in = timed(test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0));
    zesp_sa_params new_out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
    zesp_sa_params new_in = test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0);
    zesp_sad *old_tx = zesp_sad_new(NULL), *new_tx = zesp_sad_new(NULL), *rx;
    uint8_t late[256], first[256], copy[256], *payload, nh;
    size_t late_len = 0, first_len = 0, plen;
    int accepted = 0;

    new_out.key[0] ^= 0xa5;
    new_in.key[0] ^= 0xa5;
    unlink(test_path_in(dir, "own.sad"));
    rx = zesp_sad_open(test_path_in(dir, "own.sad"),
                       ZESP_SAD_CREATE | ZESP_SAD_OWN_WINDOWS, &small);
    CHECK(old_tx != NULL && new_tx != NULL && rx != NULL);
    if (old_tx == NULL || new_tx == NULL || rx == NULL)
        return;
    CHECK_OK(zesp_sa_add(old_tx, &old_out));
    CHECK_OK(zesp_sa_add(new_tx, &new_out));
    first_slot(rx, &old_in);
    /* The old SA's window started, as a receiver's would be. */
    seal(old_tx, OLD_SPI, "old", late, &late_len);
    CHECK_OK(zesp_esp_decrypt(rx, late, late_len, &payload, &plen, &nh,
                              NULL, NULL));

    seal(old_tx, OLD_SPI, "late message", late, &late_len);
    seal(new_tx, OLD_SPI, "first of the new SA", first, &first_len);
    memcpy(copy, first, first_len);
    own_hook.sad = rx;
    own_hook.next = new_in;
    own_hook.frame = copy;
    own_hook.len = first_len;
    own_hook.del_rc = own_hook.add_rc = own_hook.open_rc = -2;
    atomic_store(&own_hook.armed, 1);
    CHECK(zesp_esp_decrypt(rx, late, late_len, &payload, &plen, &nh, NULL,
                           NULL) == -1);
    atomic_store(&own_hook.armed, 0);
    CHECK(own_hook.del_rc == 0 && own_hook.add_rc == 0);
    CHECK(own_hook.open_rc == 0);        /* the new SA's first message */

    /* Replayed, it is refused, however often. */
    for (int i = 0; i < 3; i++) {
        memcpy(copy, first, first_len);
        accepted += zesp_esp_decrypt(rx, copy, first_len, &payload, &plen,
                                     &nh, NULL, NULL) == 0;
    }
    if (accepted != 0)
        fprintf(stderr, "  the new SA's first message accepted %d more "
                        "times\n", accepted);
    CHECK(accepted == 0);
    zesp_sad_free(rx);
    zesp_sad_free(new_tx);
    zesp_sad_free(old_tx);
}

static zesp_sa_params signed_group_out(uint8_t seed_byte, uint8_t pk[32])
{
    zesp_sa_params p = test_sa(OLD_SPI, ZESP_DIR_OUT, 0,
                               ZESP_SA_GROUP | ZESP_SA_SIGNED);
    uint8_t seed[crypto_sign_SEEDBYTES];

    p.sender_id = 1;
    p.key[0] ^= seed_byte;
    memset(seed, seed_byte, sizeof seed);
    crypto_sign_seed_keypair(pk, p.sign_key, seed);
    return p;
}

/* A sender of a signed group SA that encrypted its frame, checked that
 * its SA was still there, and is preempted before it signs, while the SA
 * is replaced in its slot (a group rekey: the same SPI, a new group key
 * and signing key).  Before, it went on to sign with whatever signing
 * key the slot then held (the new SA's here, or a wiped or half-written
 * one) and reported the frame sealed: the new sender's key signed a
 * frame of the old key, which no receiver of either SA accepts. */
static void test_late_signer(void)
{
    zesp_sad_opts one = { .capacity = 1 };
    uint8_t old_pk[32], new_pk[32];
    zesp_sa_params old_out = signed_group_out(0xa1, old_pk);
    zesp_sa_params new_out = signed_group_out(0xb2, new_pk);
    zesp_frame body = { "late frame", 10 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_sad *tx = zesp_sad_new(&one);
    uint8_t *esp = NULL;
    size_t len = 0;
    int rc, err;

    CHECK(tx != NULL);
    if (tx == NULL)
        return;
    CHECK_OK(zesp_sa_add(tx, &old_out));
    sign_hook.sad = tx;
    sign_hook.next = new_out;
    sign_hook.del_rc = sign_hook.add_rc = -2;
    atomic_store(&sign_hook.armed, 1);
    errno = 0;
    rc = zesp_seal(tx, OLD_SPI, &parts, &esp, &len);
    err = errno;
    atomic_store(&sign_hook.armed, 0);
    CHECK(sign_hook.del_rc == 0 && sign_hook.add_rc == 0);
    CHECK(rc == -1 && err == ZESP_ENOSA && esp == NULL);
    if (rc == 0 && len > crypto_sign_BYTES) {
        size_t n = len - crypto_sign_BYTES;
        fprintf(stderr, "  sealed; signed by the %s key\n",
                crypto_sign_verify_detached(esp + n, esp, n, new_pk) == 0
                    ? "new SA's"
                : crypto_sign_verify_detached(esp + n, esp, n, old_pk) == 0
                    ? "old SA's" : "no SA's");
    }
    zesp_buf_free(esp);
    zesp_sad_free(tx);
}

/* A group sender with source MACs sized its frame for its SA's receivers
 * (out_begin) and was then preempted while the SA was replaced, in the
 * same slot, by one with more receivers (a member joined: a rekey).
 * Before, the MACs were then written for the new SA's count, past the
 * end of the frame's buffer: 31 entries, 558 octets of heap overwritten.
 * Both ways of sealing: zesp_seal, and zesp_send over a socket, whose
 * peer must get nothing. */
static void late_source_mac_sender(bool over_socket)
{
    zesp_sad_opts one = { .capacity = 1 };
    zesp_sa_params old_out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0,
                                     ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC);
    zesp_sa_params new_out = old_out;
    zesp_frame topic = { "topic", 5 }, body = { "late frame", 10 };
    zesp_parts parts = { .clear = &topic, .nclear = 1, .body = &body,
                         .nbody = 1 };
    zesp_sad *tx = zesp_sad_new(&one);
    /* nclear, binding, one body frame; then one entry and the count. */
    size_t msg_len = 1U + 32U + 4U + body.size;
    void *ctx = NULL, *a = NULL, *b = NULL;
    uint8_t *esp = NULL, got[256];
    size_t len = 0;
    int rc, err;

    CHECK(tx != NULL);
    if (tx == NULL)
        return;
    if (over_socket) {
        ctx = zmq_ctx_new();
        a = zmq_socket(ctx, ZMQ_PAIR);
        b = zmq_socket(ctx, ZMQ_PAIR);
        CHECK(zmq_bind(b, "inproc://late-mac") == 0 &&
              zmq_connect(a, "inproc://late-mac") == 0);
    }
    old_out.sender_id = 1;
    old_out.mac_count = 1;
    old_out.mac_id[0] = 2;
    randombytes_buf(old_out.mac_key[0], sizeof old_out.mac_key[0]);
    new_out.sender_id = 1;
    new_out.mac_count = ZESP_SOURCE_MAC_MAX;
    for (uint32_t i = 0; i < ZESP_SOURCE_MAC_MAX; i++) {
        new_out.mac_id[i] = 2U + i;
        randombytes_buf(new_out.mac_key[i], sizeof new_out.mac_key[i]);
    }
    for (unsigned i = 0; i < 8; i++)                /* a rekey's new key */
        new_out.key[i] ^= 0xa5;
    CHECK_OK(zesp_sa_add(tx, &old_out));
    mac_hook.sad = tx;
    mac_hook.next = new_out;
    mac_hook.del_rc = mac_hook.add_rc = -2;
    mac_hook.frame = NULL;
    mac_hook.frame_len = zesp_esp_bytes(msg_len + 2U + 18U);
    mac_hook.macs = mac_hook.outside = 0;
    atomic_store(&mac_hook.armed, 1);
    errno = 0;
    rc = over_socket ? zesp_send(tx, OLD_SPI, a, &parts, 0)
                     : zesp_seal(tx, OLD_SPI, &parts, &esp, &len);
    err = errno;
    atomic_store(&mac_hook.armed, 0);
    mac_hook.frame = NULL;
    CHECK(mac_hook.del_rc == 0 && mac_hook.add_rc == 0);
    if (mac_hook.outside)
        fprintf(stderr, "  %s: %u of %u MACs past the frame's %zu octets\n",
                over_socket ? "zesp_send" : "zesp_seal", mac_hook.outside,
                mac_hook.macs, mac_hook.frame_len);
    CHECK(mac_hook.outside == 0);
    CHECK(rc == -1 && err == ZESP_ENOSA && esp == NULL);
    if (over_socket) {
        /* Nothing of the message went: not even its clear frame. */
        CHECK(zmq_recv(b, got, sizeof got, ZMQ_DONTWAIT) == -1 &&
              errno == EAGAIN);
        zmq_close(a);
        zmq_close(b);
        zmq_ctx_term(ctx);
    }
    zesp_buf_free(esp);
    zesp_sad_free(tx);
}

static void test_late_source_mac_sender(void)
{
    late_source_mac_sender(false);
    late_source_mac_sender(true);
}

/* A sender by policy that found the source-MAC SA the policy names and is
 * preempted, before it reads the SA's receivers (out_begin, after
 * transform_find), while a rekey moves the policy to a new SA and deletes
 * the old one: the deleted slot's key material is wiped, receivers and
 * all.  transform_find is wrapped at link time (Makefile.am). */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    zesp_sa_params next;
    zesp_policy policy;
    uint32_t old_spi;
    int add_rc, set_rc, del_rc;
} begin_hook;

/* The receiver's turn: in_open found the inbound SA, which is deleted
 * before the frame is checked with its key. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    int del_rc;
} open_hook;

struct transform;
const struct transform *__real_transform_find(uint32_t id);
const struct transform *__wrap_transform_find(uint32_t id);

const struct transform *__wrap_transform_find(uint32_t id)
{
    const struct transform *t = __real_transform_find(id);
    int armed = 1;

    if (atomic_compare_exchange_strong(&open_hook.armed, &armed, 0))
        open_hook.del_rc = zesp_sa_del(open_hook.sad, OLD_SPI, ZESP_DIR_IN);
    armed = 1;
    if (atomic_compare_exchange_strong(&begin_hook.armed, &armed, 0)) {
        begin_hook.add_rc = zesp_sa_add(begin_hook.sad, &begin_hook.next);
        begin_hook.set_rc = zesp_policy_set(begin_hook.sad,
                                            &begin_hook.policy);
        begin_hook.del_rc = zesp_sa_del(begin_hook.sad, begin_hook.old_spi,
                                        ZESP_DIR_OUT);
    }
    return t;
}

/* Before, the late sender read the wiped count (0) and failed with
 * ZESP_EBADSAD, "the SAD is damaged": zesp_seal_policy gave up, where a
 * deleted SA (ZESP_ENOSA) has it look the policy up again and seal with
 * its new SA. */
static void test_late_source_mac_begin(void)
{
    zesp_sa_params old_out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0,
                                     ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC);
    zesp_sa_params new_out = test_sa(OLD_SPI + 1U, ZESP_DIR_OUT, 0,
                                     ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC);
    zesp_policy p;
    zesp_frame body = { "rekeyed", 7 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_sad *tx = zesp_sad_new(NULL);
    uint8_t *esp = NULL;
    size_t len = 0;
    int rc, err;

    CHECK(tx != NULL);
    if (tx == NULL)
        return;
    old_out.sender_id = new_out.sender_id = 1;
    old_out.mac_count = new_out.mac_count = 1;
    old_out.mac_id[0] = new_out.mac_id[0] = 2;
    randombytes_buf(old_out.mac_key[0], sizeof old_out.mac_key[0]);
    randombytes_buf(new_out.mac_key[0], sizeof new_out.mac_key[0]);
    CHECK_OK(zesp_sa_add(tx, &old_out));
    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "group");
    p.out_spi = OLD_SPI;
    CHECK_OK(zesp_policy_set(tx, &p));
    /* A send by policy waits for an SA, as an application's would: a
     * bound only, the policy names the new SA before the send fails. */
    zesp_sad_set_acquire_timeout(tx, 10000U * (uint32_t)test_timeout_scale());
    begin_hook.sad = tx;
    begin_hook.next = new_out;
    begin_hook.policy = p;
    begin_hook.policy.out_spi = OLD_SPI + 1U;
    begin_hook.old_spi = OLD_SPI;
    begin_hook.add_rc = begin_hook.set_rc = begin_hook.del_rc = -2;
    atomic_store(&begin_hook.armed, 1);
    errno = 0;
    rc = zesp_seal_policy(tx, "group", &parts, &esp, &len, 0);
    err = errno;
    atomic_store(&begin_hook.armed, 0);
    CHECK(begin_hook.add_rc == 0 && begin_hook.set_rc == 0 &&
          begin_hook.del_rc == 0);
    if (rc != 0)
        fprintf(stderr, "  zesp_seal_policy: %s\n", zesp_strerror(err));
    CHECK(rc == 0 && esp != NULL);
    if (rc == 0 && esp != NULL && len >= 4)
        CHECK(((uint32_t)esp[0] << 24 | (uint32_t)esp[1] << 16 |
               (uint32_t)esp[2] << 8 | esp[3]) == OLD_SPI + 1U);
    zesp_buf_free(esp);
    zesp_sad_free(tx);
}

/* A receiver that found a message's SA (in_open, at transform_find) and
 * is preempted, before it checks the frame, while the SA is deleted: the
 * deletion wipes its key (sad_slot_release).  Before, the frame was then
 * checked with the wiped key and refused as a forgery: ZESP_EICV, or
 * ZESP_ESIGNATURE for a signed SA, counted among the ICV or signature
 * failures that say someone forges frames.  The SA is gone: ZESP_ENOSA. */
static void test_late_receiver_key(void)
{
    for (int sign = 0; sign < 2; sign++) {
        uint8_t pk[32];
        zesp_sa_params out = sign ? signed_group_out(0xc3, pk)
                                  : test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params in = out;
        zesp_frame body = { "genuine", 7 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
        zesp_msg *msg = zesp_msg_new();
        zesp_sad_stats st;
        uint8_t *esp = NULL;
        size_t len = 0;
        int rc, err;

        CHECK(tx != NULL && rx != NULL && msg != NULL);
        if (tx == NULL || rx == NULL || msg == NULL)
            return;
        in.direction = ZESP_DIR_IN;
        if (sign) {
            sodium_memzero(in.sign_key, sizeof in.sign_key);
            memcpy(in.sign_key, pk, sizeof pk);
        }
        CHECK_OK(zesp_sa_add(tx, &out));
        CHECK_OK(zesp_sa_add(rx, &in));
        CHECK_OK(zesp_seal(tx, OLD_SPI, &parts, &esp, &len));
        open_hook.sad = rx;
        open_hook.del_rc = -2;
        atomic_store(&open_hook.armed, 1);
        errno = 0;
        rc = zesp_open(rx, NULL, 0, esp, len, msg);
        err = errno;
        atomic_store(&open_hook.armed, 0);
        CHECK(open_hook.del_rc == 0);
        if (rc == 0 || err != ZESP_ENOSA)
            fprintf(stderr, "  %s SA: %s\n", sign ? "signed" : "plain",
                    rc == 0 ? "accepted" : zesp_strerror(err));
        CHECK(rc == -1 && err == ZESP_ENOSA);
        CHECK_OK(zesp_sad_stats_get(rx, &st));
        CHECK(st.rejected[ZESP_REJ_ICV] == 0 &&
              st.rejected[ZESP_REJ_SIGNATURE] == 0);
        zesp_buf_free(esp);
        zesp_msg_free(msg);
        zesp_sad_free(rx);
        zesp_sad_free(tx);
    }
}

/* A genuine message of the old SA (peer "alice"), accepted, and its SA
 * then replaced in its slot by a group SA of another peer and Sender ID
 * before the receiver reported it.  Before, the report was read from the
 * slot after the unpin: the message was said to come from "mallory", of
 * Sender ID 9 and SPI OLD_SPI + 2, whose SA never carried it. */
static void test_late_report(void)
{
    for (int form = 0; form < 2; form++) {
        zesp_sad_opts small = { .capacity = 3 };
        zesp_sa_params out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params in = test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0);
        zesp_sa_params other = test_sa(OLD_SPI + 2U, ZESP_DIR_IN, 0,
                                       ZESP_SA_GROUP);
        zesp_sad *tx = zesp_sad_new(NULL), *rx;
        zesp_msg *msg = zesp_msg_new();
        zesp_frame body = { "from alice", 10 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        uint8_t *pkt = NULL, *payload, nh;
        size_t len = 0, plen;
        uint32_t spi = 0;
        int rc;

        strcpy(in.peer, "alice");
        strcpy(other.peer, "mallory");
        other.sender_id = 9;
        unlink(test_path_in(dir, "report.sad"));
        rx = zesp_sad_open(test_path_in(dir, "report.sad"), ZESP_SAD_CREATE,
                           &small);
        CHECK(tx != NULL && rx != NULL && msg != NULL);
        if (tx == NULL || rx == NULL || msg == NULL)
            return;
        CHECK_OK(zesp_sa_add(tx, &out));
        first_slot(rx, &in);

        CHECK_OK(zesp_seal(tx, OLD_SPI, &parts, &pkt, &len));
        report_hook.sad = rx;
        report_hook.spi = OLD_SPI;
        report_hook.next = other;
        report_hook.del_rc = report_hook.add_rc = -2;
        atomic_store(&report_hook.armed, 1);
        if (form == 0)
            rc = zesp_open(rx, NULL, 0, pkt, len, msg);
        else
            rc = zesp_esp_decrypt(rx, pkt, len, &payload, &plen, &nh, &spi,
                                  NULL);
        atomic_store(&report_hook.armed, 0);
        CHECK(report_hook.del_rc == 0 && report_hook.add_rc == 0);
        CHECK(rc == 0);
        if (rc != 0 || report_hook.add_rc != 0)
            fprintf(stderr, "  form %d: rc %d (%s), add %d\n", form, rc,
                    zesp_strerror(errno), report_hook.add_rc);
        if (form == 0) {
            if (strcmp(zesp_msg_peer(msg), "alice") != 0 ||
                zesp_msg_spi(msg) != OLD_SPI || zesp_msg_sender_id(msg) != 0)
                fprintf(stderr, "  zesp_open: reported from %s, SPI %#x, "
                                "Sender ID %u\n",
                        zesp_msg_peer(msg), zesp_msg_spi(msg),
                        zesp_msg_sender_id(msg));
            CHECK(strcmp(zesp_msg_peer(msg), "alice") == 0);
            CHECK(zesp_msg_spi(msg) == OLD_SPI);
            CHECK(zesp_msg_sender_id(msg) == 0);
        } else {
            if (spi != OLD_SPI)
                fprintf(stderr, "  zesp_esp_decrypt: reported SPI %#x\n",
                        spi);
            CHECK(spi == OLD_SPI);
        }
        zesp_buf_free(pkt);
        zesp_msg_free(msg);
        zesp_sad_free(rx);
        zesp_sad_free(tx);
    }
}

/* A hardware watchpoint, disabled, on 4 bytes at addr for this thread:
 * the access traps (SIGTRAP) once made.  -1 where there is none. */
static int watch_open(const void *addr)
{
    struct perf_event_attr a;

    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_BREAKPOINT;
    a.bp_type = HW_BREAKPOINT_RW;       /* x86 watches no read alone */
    a.bp_addr = (uintptr_t)addr;
    a.bp_len = HW_BREAKPOINT_LEN_4;
    a.sample_period = 1;
    a.disabled = 1;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    a.sigtrap = 1;
    a.remove_on_exec = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
                        PERF_FLAG_FD_CLOEXEC);
}

/* The policy's change, made as the receiver has read its first inbound
 * SPI and before it reads the others. */
static struct {
    int fd;
    zesp_sad *sad;
    void (*change)(zesp_sad *sad);
    int fired;
} watch;

static void on_watch(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)si;
    (void)uc;
    ioctl(watch.fd, PERF_EVENT_IOC_DISABLE, 0);   /* the change writes */
    watch.fired++;
    watch.change(watch.sad);
}

static zesp_policy policy_of(const char *name, uint32_t in0, uint32_t in1)
{
    zesp_policy p;

    memset(&p, 0, sizeof p);
    snprintf(p.name, sizeof p.name, "%s", name);
    p.in_spi[0] = in0;
    p.in_spi[1] = in1;
    return p;
}

/* A rekey's policy_set: the message's SA moves from the second place of
 * the list to the first, served before and after. */
static void swap_places(zesp_sad *sad)
{
    zesp_policy p = policy_of("p", OLD_SPI, OLD_SPI + 1U);

    CHECK_OK(zesp_policy_set(sad, &p));
}

/* The policy deleted and its slot given to another, which serves the
 * message's SA (the only slot: the next policy takes it). */
static void reuse_slot(zesp_sad *sad)
{
    zesp_policy q = policy_of("q", OLD_SPI + 1U, OLD_SPI);

    CHECK_OK(zesp_policy_del(sad, "p"));
    CHECK_OK(zesp_policy_set(sad, &q));
}

/* A receiver checking a message's SA against its policy's inbound SPIs
 * while a writer changes the policy.  Before, the SPIs were read with no
 * check that the policy stayed the same: after a rekey that moved the
 * SA (served throughout) the scan saw neither place hold it, and a
 * genuine message was refused (ZESP_EPOLICY); after the policy was
 * deleted and its slot given to another policy, the message was checked
 * against the other's list and accepted under "p", which does not serve
 * its SA. */
static void test_policy_mid_scan(void)
{
    static const struct {
        const char *name;
        uint32_t in1;                  /* "p" as first set: OLD_SPI + 1, in1 */
        void (*change)(zesp_sad *sad);
        int want;                      /* 0: accepted; else the error */
    } rows[] = {
        { "rekey moves the SA", OLD_SPI, swap_places, 0 },
        { "slot reused", 0, reuse_slot, ZESP_ENOPOLICY },
    };
    struct sigaction sa, old;

    if (test_under_valgrind()) {
        printf("  skipped under valgrind (no hardware watchpoints)\n");
        return;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_watch;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGTRAP, &sa, &old) == 0);
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        zesp_sad_opts one = { .capacity = 4, .policies = 1 };
        zesp_sa_params out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params in = test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0);
        zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(&one);
        zesp_policy p = policy_of("p", OLD_SPI + 1U, rows[r].in1);
        zesp_frame body = { "to p", 4 };
        zesp_parts parts = { .body = &body, .nbody = 1 };
        zesp_msg *msg = zesp_msg_new();
        uint8_t *esp = NULL;
        size_t len = 0;
        int rc, err;

        CHECK(tx != NULL && rx != NULL && msg != NULL);
        if (tx == NULL || rx == NULL || msg == NULL)
            break;
        CHECK_OK(zesp_sa_add(tx, &out));
        CHECK_OK(zesp_sa_add(rx, &in));
        CHECK(test_sa_pair(tx, rx, OLD_SPI + 1U, 0, 0) == 0);
        CHECK_OK(zesp_policy_set(rx, &p));
        CHECK_OK(zesp_seal(tx, OLD_SPI, &parts, &esp, &len));
        CHECK(atomic_load(&rx->policies[0].state) == POLICY_LIVE &&
              strcmp(rx->policies[0].name, "p") == 0);
        watch.fd = watch_open(&rx->policies[0].in_spi[0]);
        if (watch.fd < 0) {
            printf("  skipped: no hardware watchpoint (perf_event_open: "
                   "%s)\n", strerror(errno));
            zesp_buf_free(esp);
            zesp_msg_free(msg);
            zesp_sad_free(rx);
            zesp_sad_free(tx);
            break;
        }
        watch.sad = rx;
        watch.change = rows[r].change;
        watch.fired = 0;
        CHECK(ioctl(watch.fd, PERF_EVENT_IOC_ENABLE, 0) == 0);
        errno = 0;
        rc = zesp_open_policy(rx, "p", NULL, 0, esp, len, msg);
        err = errno;
        ioctl(watch.fd, PERF_EVENT_IOC_DISABLE, 0);
        close(watch.fd);
        CHECK(watch.fired == 1);        /* the change came mid-scan */
        if (rows[r].want == 0 ? rc != 0 : rc == 0 || err != rows[r].want)
            fprintf(stderr, "  %s: %s (%s)\n", rows[r].name,
                    rc == 0 ? "accepted" : "refused",
                    rc == 0 ? "-" : zesp_strerror(err));
        if (rows[r].want == 0)
            CHECK(rc == 0);
        else
            CHECK(rc == -1 && err == rows[r].want);
        zesp_buf_free(esp);
        zesp_msg_free(msg);
        zesp_sad_free(rx);
        zesp_sad_free(tx);
    }
    sigaction(SIGTRAP, &old, NULL);
}

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "slot_reuse") != 0)
        return 2;
    RUN(test_late_receiver);
    RUN(test_late_signer);
    RUN(test_late_source_mac_sender);
    RUN(test_late_source_mac_begin);
    RUN(test_late_sender);
    RUN(test_late_receiver_own_window);
    RUN(test_late_receiver_key);
    RUN(test_late_report);
    RUN(test_policy_mid_scan);
    return test_done_in(dir);
}
