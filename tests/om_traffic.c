/*
 * Traffic and refusals in a SAD file, for tests/test_metrics.sh to read
 * back through `zesp stats` in JSON and OpenMetrics:
 *
 *   om_traffic SAD POLICY PEER COUNT
 *
 * installs one SA each way (SPI 0x0000beef) for POLICY with PEER (any
 * bytes: the test's hostile names), seals COUNT messages and opens each
 * under the policy, then opens the first again (a replay), a copy with a
 * flipped byte (ICV), and a frame too short to be ESP (malformed, no SA).
 * It prints "accepted N replay N icv N malformed N".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zesp.h>

#include "keys.h"

#define SPI 0x0000beefU
#define BODY "twelve bytes"

static int die(const char *what)
{
    fprintf(stderr, "om_traffic: %s: %s\n", what, zesp_strerror(errno));
    return 1;
}

/* Open a copy of an ESP frame (opening decrypts in place). */
static int open_copy(zesp_sad *sad, const char *policy, const uint8_t *esp,
                     size_t len, int flip, zesp_msg *msg)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    if (copy == NULL)
        return -1;
    memcpy(copy, esp, len);
    if (flip && len)
        copy[len - 1] ^= 0x01;
    rc = zesp_open_policy(sad, policy, NULL, 0, copy, len, msg);
    free(copy);
    return rc;
}

int main(int argc, char **argv)
{
    zesp_sa_params out, in;
    zesp_policy pol;
    zesp_sad *sad;
    zesp_msg *msg;
    zesp_frame body = { BODY, sizeof BODY - 1 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    uint8_t *first = NULL, junk[4] = { 0, 0, 0, 1 };
    size_t first_len = 0;
    unsigned long count, accepted = 0, replay = 0, icv = 0, malformed = 0;

    if (argc != 5 || (count = strtoul(argv[4], NULL, 10)) == 0) {
        fprintf(stderr, "usage: om_traffic SAD POLICY PEER COUNT\n");
        return 2;
    }
    if (zesp_init() != 0 ||
        (sad = zesp_sad_open(argv[1], ZESP_SAD_CREATE, NULL)) == NULL)
        return die(argv[1]);
    out = test_sa(SPI, ZESP_DIR_OUT, ZESP_CHACHA20_POLY1305, 0);
    in = test_sa(SPI, ZESP_DIR_IN, ZESP_CHACHA20_POLY1305, 0);
    snprintf(out.peer, sizeof out.peer, "%s", argv[3]);
    snprintf(in.peer, sizeof in.peer, "%s", argv[3]);
    memset(&pol, 0, sizeof pol);
    snprintf(pol.name, sizeof pol.name, "%s", argv[2]);
    snprintf(pol.peer, sizeof pol.peer, "%s", argv[3]);
    pol.out_spi = SPI;
    pol.in_spi[0] = SPI;
    if (zesp_sa_add(sad, &out) != 0 || zesp_sa_add(sad, &in) != 0)
        return die("SA");
    if (zesp_policy_set(sad, &pol) != 0)
        return die("policy");
    if ((msg = zesp_msg_new()) == NULL)
        return die("message");
    for (unsigned long i = 0; i < count; i++) {
        uint8_t *esp;
        size_t len;
        if (zesp_seal_policy(sad, argv[2], &parts, &esp, &len, 0) != 0)
            return die("seal");
        accepted += open_copy(sad, argv[2], esp, len, 0, msg) == 0;
        if (first == NULL) {
            first = esp;
            first_len = len;
        } else {
            zesp_buf_free(esp);
        }
    }
    replay += open_copy(sad, argv[2], first, first_len, 0, msg) != 0 &&
              errno == ZESP_EREPLAY;
    zesp_buf_free(first);
    if (zesp_seal_policy(sad, argv[2], &parts, &first, &first_len, 0) != 0)
        return die("seal");
    icv += open_copy(sad, argv[2], first, first_len, 1, msg) != 0 &&
           errno == ZESP_EICV;
    zesp_buf_free(first);
    malformed += open_copy(sad, argv[2], junk, sizeof junk, 0, msg) != 0 &&
                 errno == ZESP_EMALFORMED;
    printf("accepted %lu replay %lu icv %lu malformed %lu\n", accepted,
           replay, icv, malformed);
    zesp_msg_free(msg);
    zesp_sad_free(sad);
    return accepted == count && replay == 1 && icv == 1 && malformed == 1
               ? 0 : 1;
}
