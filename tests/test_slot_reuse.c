/*
 * A slot reused while a reader still holds it.  Readers take no lock: one
 * that found an SA can be preempted while a writer deletes it and installs
 * another SA in the same slot.  Whatever the late reader then does must
 * not touch the new SA.
 *
 * The interleaving is made, not waited for: clock_gettime is interposed,
 * and the receiver's clock reading after the message was decrypted (its
 * lifetime charge, before the replay window takes the number) is where the
 * SA is replaced, by the receiving thread itself.
 */
#include <dlfcn.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "test.h"
#include "zesp.h"

#define OLD_SPI 0x5e0001U
#define FILLER_SPI 0x5e0100U
#define LATE_SEQ 100000U        /* far above the new SA's first numbers */

static char dir[256];

static const char *in_dir(const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* The replacement, done once at the first clock reading that finds the
 * late message decrypted in place. */
static struct {
    _Atomic int armed;
    zesp_sad *sad;
    const uint8_t *plain;        /* where the payload is once decrypted */
    const char *text;
    zesp_sa_params next;
    int del_rc, add_rc;
} hook;

static int (*_Atomic real_clock)(clockid_t, struct timespec *);

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int armed = 1;

    if (clk == CLOCK_MONOTONIC_COARSE && atomic_load(&hook.armed) &&
        memcmp(hook.plain, hook.text, strlen(hook.text)) == 0 &&
        atomic_compare_exchange_strong(&hook.armed, &armed, 0)) {
        hook.del_rc = zesp_sa_del(hook.sad, OLD_SPI, ZESP_DIR_IN);
        hook.add_rc = zesp_sa_add(hook.sad, &hook.next);
    }
    if (real_clock == NULL)
        real_clock = (int (*)(clockid_t, struct timespec *))dlsym(
            RTLD_NEXT, "clock_gettime");
    return real_clock(clk, ts);
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
 * sent was refused as too old (a manual key's record moved ahead too). */
static void test_late_receiver(void)
{
    static const struct { const char *name; uint32_t spi; } rows[] = {
        { "same SPI, new key", OLD_SPI },
        { "another SPI", OLD_SPI + 1U },
    };

    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        zesp_sad_opts small = { .capacity = 3 };
        zesp_sa_params old_out = test_sa(OLD_SPI, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params old_in = test_sa(OLD_SPI, ZESP_DIR_IN, 0, 0);
        zesp_sa_params new_out = test_sa(rows[r].spi, ZESP_DIR_OUT, 0, 0);
        zesp_sa_params new_in = test_sa(rows[r].spi, ZESP_DIR_IN, 0, 0);
        zesp_sa_params filler;
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
        unlink(in_dir("rx.sad"));
        rx = zesp_sad_open(in_dir("rx.sad"), ZESP_SAD_CREATE, &small);
        CHECK(old_tx != NULL && new_tx != NULL && rx != NULL);
        if (old_tx == NULL || new_tx == NULL || rx == NULL)
            return;
        CHECK_OK(zesp_sa_add(old_tx, &old_out));
        CHECK_OK(zesp_sa_add(new_tx, &new_out));
        /* The old SA in the first slot, and the slot a writer looks at
         * first once it is free (the other two taken, one freed again). */
        CHECK_OK(zesp_sa_add(rx, &old_in));
        for (uint32_t i = 0; i < 2; i++) {
            filler = test_sa(FILLER_SPI + i, ZESP_DIR_IN, 0, 0);
            CHECK_OK(zesp_sa_add(rx, &filler));
        }
        CHECK_OK(zesp_sa_del(rx, FILLER_SPI + 1U, ZESP_DIR_IN));

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

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "slot_reuse") != 0)
        return 2;
    RUN(test_late_receiver);
    return test_done_in(dir);
}
