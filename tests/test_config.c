/*
 * The YAML loader: valid files install exactly what they say; each kind
 * of mistake is refused with FILE:LINE:COLUMN, the field and the reason,
 * and the SAD is left exactly as it was.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "acl_xattr.h"
#include "test.h"
#include "zesp.h"

static char dir[128];

#define KEY1 "hex:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
#define KEY2 "hex:202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f40414243"
/* Keys of their own, for SAs of one file (one key, one SPI). */
#define KEY3 "hex:303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f50515253"
#define KEY4 "hex:404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60616263"
#define KEY5 "hex:505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f70717273"

static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    f = fopen(path, "w");
    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static int count_sa(const zesp_sa_info *info, void *arg)
{
    (void)info;
    (*(int *)arg)++;
    return 0;
}

static int sa_count(zesp_sad *sad)
{
    int n = 0;

    zesp_sa_foreach(sad, count_sa, &n);
    return n;
}

static void test_valid_file(void)
{
    const char *path;
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_info info;
    zesp_policy pol;
    uint8_t key[ZESP_KEYBYTES];
    char err[512];

    path = write_file("good.yaml",
        "sas:\n"
        "  - spi: 0x1001\n"
        "    direction: out\n"
        "    transform: chacha20-poly1305\n"
        "    esn: false\n"
        "    key: \"" KEY1 "\"\n"
        "    peer: bob\n"
        "    lifetime:\n"
        "      soft: { seconds: 50m, messages: 1000, bytes: 1M }\n"
        "      hard: { seconds: 1h, messages: 2000, bytes: 2M }\n"
        "  - spi: 4098\n"
        "    direction: in\n"
        "    key: \"z85:ar.{NbQB=+c[cR@eg&FcfFLssg=mfIi5%2YjuU>)kTv.7\"\n"
        "    replay_window: 4096\n"
        "policies:\n"
        "  - name: payments\n"
        "    peer: bank\n"
        "    out: 0x1001\n"
        "    in: [0x1002]\n", 0600);
    if (zesp_config_load(sad, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_OK(zesp_config_check(path, err, sizeof err));
    CHECK_OK(zesp_sa_info_get(sad, 0x1001, ZESP_DIR_OUT, &info));
    CHECK(info.flags == (ZESP_SA_NO_ESN | ZESP_SA_MANUAL) &&
          strcmp(info.peer, "bob") == 0);
    CHECK(info.soft.seconds == 3000 && info.hard.seconds == 3600);
    CHECK(info.soft.messages == 1000 && info.hard.bytes == 2U << 20);
    CHECK_OK(zesp_sa_key_get(sad, 0x1001, ZESP_DIR_OUT, key));
    CHECK(key[0] == 0 && key[35] == 0x23);
    CHECK_OK(zesp_sa_info_get(sad, 0x1002, ZESP_DIR_IN, &info));
    CHECK(info.replay_window == 4096 && info.flags == ZESP_SA_MANUAL);
    CHECK_OK(zesp_sa_key_get(sad, 0x1002, ZESP_DIR_IN, key));
    CHECK(key[0] == 0x20 && key[35] == 0x43);
    CHECK_OK(zesp_policy_get(sad, "payments", &pol));
    CHECK(pol.out_spi == 0x1001 && pol.in_spi[0] == 0x1002);
    /* Loading again: every SPI is taken now, nothing changes. */
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "already in the SAD") != NULL);
    /* The direction, and how to load it again (it said neither). */
    CHECK(strstr(err, ":2:10: sas[0].spi: SPI 0x00001001 out is already in "
                      "the SAD: a load replaces no SA; remove it first "
                      "(zesp sa del 0x00001001 --dir out;") != NULL);
    CHECK(sa_count(sad) == 2);
    zesp_sad_free(sad);
}

/* One mistake per file: where it is and what it says. */
static void test_mistakes(void)
{
    static const struct {
        const char *yaml;
        const char *want;
    } rows[] = {
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    colour: blue\n",
          ":5:5: sas[0]: unknown key 'colour'" },
        { "sa:\n  - spi: 1\n", ":1:1: (top): unknown key 'sa'" },
        { "sas:\n  - spi: 0\n    direction: out\n    key: \"" KEY1 "\"\n",
          ":2:10: sas[0].spi: SPI 0 is reserved" },
        { "sas:\n  - spi: 0x1ffffffff\n    direction: out\n    key: \"" KEY1
          "\"\n", ":2:10: sas[0].spi: 0x1ffffffff is above the maximum" },
        { "sas:\n  - spi: -3\n    direction: out\n    key: \"" KEY1 "\"\n",
          ":2:10: sas[0].spi: '-3' is not a non-negative integer" },
        { "sas:\n  - spi: 1\n    direction: sideways\n    key: \"" KEY1 "\"\n",
          ":3:16: sas[0].direction: expected in or out" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"hex:0011\"\n",
          ":4:10: sas[0].key: expected hex: and 72 hex digits" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"secret\"\n",
          ":4:10: sas[0].key: expected hex:..., z85:... or file:PATH" },
        { "sas:\n  - spi: 1\n    direction: out\n",
          ":2:5: sas[0]: 'key' is required" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    transform: rot13\n",
          ":5:16: sas[0].transform: unknown transform 'rot13'" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    esn: maybe\n", ":5:10: sas[0].esn: expected true or false" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    replay_window: 128\n",
          ":5:20: sas[0].replay_window: only inbound SAs" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    replay_window: 32\n",
          ":5:20: sas[0].replay_window: at least 64" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    lifetime: { soft: { seconds: 2h }, hard: { seconds: 1h } }\n",
          ":5:15: sas[0].lifetime: a soft limit is above its hard limit" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    lifetime: { hard: { bytes: 12X } }\n",
          ":5:32: sas[0].lifetime.hard.bytes: '12X' is not an integer" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "  - spi: 1\n    direction: out\n    key: \"" KEY2 "\"\n",
          ":5:10: sas[1].spi: SPI 0x00000001 out appears twice" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    sender_id: 3\n",
          ":5:16: sas[0].sender_id: only group SAs" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n", ":2:5: sas[0]: a group SA needs 'sender_id'" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 0\n",
          ":6:16: sas[0].sender_id: Sender ID 0 is reserved" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 65536\n",
          ":6:16: sas[0].sender_id: 65536 is above the maximum" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 2\n    sign_key: \"hex:00\"\n",
          ":7:15: sas[0].sign_key: expected hex: and 64 hex digits" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 2\n"
          "  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 2\n",
          ":7:10: sas[1].spi: SPI 0x00000001 in appears twice" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    group: true\n    sender_id: 2\n"
          "  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n",
          ":7:10: sas[1].spi: SPI 0x00000001 in appears twice" },
        { "policies:\n  - name: p\n    out: 7\n",
          ":3:10: policies[0].out: no outbound SA 0x00000007" },
        /* 0x1002 twice: whichever SPI was meant second is not on it. */
        { "sas:\n  - { spi: 0x1002, direction: in, key: \"" KEY1 "\" }\n"
          "policies:\n  - { name: p, in: [0x1002, 4098] }\n",
          ":4:29: policies[0].in[1]: 0x00001002 listed twice (also "
          "policies[0].in[0])" },
        { "policies:\n  - name: two words\n",
          ":2:11: policies[0].name: printable ASCII only: no spaces" },
        /* A name zikectl would take for its --json flag. */
        { "policies:\n  - name: --json\n",
          ":2:11: policies[0].name: '--json' begins with '-'" },
        /* Bytes above 0x7f are refused wherever char is unsigned too. */
        { "policies:\n  - name: caf\xc3\xa9\n",
          ":2:11: policies[0].name: printable ASCII only" },
        { "policies:\n  - peer: x\n", ":2:5: policies[0]: 'name' is required" },
        { "sas: [\n", ":2:1: YAML syntax" },
        { "sas:\n  - &a { spi: 1 }\n", "anchors" },
        /* A tag on a list or mapping as on a scalar: the reader does not
         * read it, so !!null {...} or !!str [...] would mean the data. */
        { "sas: !!set\n  - { spi: 1 }\n", ":1:6: tags are not allowed" },
        { "sas:\n  - !!null { spi: 1 }\n", ":2:5: tags are not allowed" },
        { "sas:\n  - spi: 1\n    spi: 2\n", ":3:5: duplicate key 'spi'" },
        /* A byte libyaml's reader refuses, where it is: not at 1:1. */
        { "sas:\n  - { spi: 1,\n      direction: \xff }\n",
          ":3:18: YAML syntax: invalid leading UTF-8 octet (byte 37 of the "
          "file: 0xFF)" },
        { "sas:\n  - { spi: 1,\n   \x01 }\n",
          ":3:4: YAML syntax: control characters are not allowed" },
        /* A byte order mark is no column, as libyaml counts them. */
        { "\xef\xbb\xbfsas: \x01\n",
          ":1:6: YAML syntax: control characters are not allowed (byte 9 of "
          "the file: 0x01)" },
        /* Lines ended by "\r" or "\r\n" (an old Mac's, Windows'), or
         * by NEL or LS (YAML 1.1 breaks), count as libyaml's marks count
         * them, in its reader's errors as in the others. */
        { "sas:\r  - { spi: 1,\r      direction: \xff }\r",
          ":3:18: YAML syntax: invalid leading UTF-8 octet (byte 37 of the "
          "file: 0xFF)" },
        { "sas:\r\n  - { spi: 1,\r\n      direction: \xff }\r\n",
          ":3:18: YAML syntax: invalid leading UTF-8 octet (byte 39 of the "
          "file: 0xFF)" },
        { "sas:\r\n  - { spi: 1,\r\n   \x01 }\r\n",
          ":3:4: YAML syntax: control characters are not allowed" },
        { "sas:\xc2\x85  - { spi: 1,\xe2\x80\xa8   \x01 }\n",
          ":3:4: YAML syntax: control characters are not allowed" },
        { "policies:\r  - peer: x\r", ":2:5: policies[0]: 'name' is required" },
        { "policies:\r\n  - peer: x\r\n",
          ":2:5: policies[0]: 'name' is required" },
        /* Past 2^64: out of range, not "not an integer". */
        { "sas:\n  - spi: 99999999999999999999999\n    direction: out\n"
          "    key: \"" KEY1 "\"\n",
          ":2:10: sas[0].spi: 99999999999999999999999 is above the maximum "
          "4294967295" },
        { "sas:\n  - spi: 0x10000000000000000\n    direction: out\n"
          "    key: \"" KEY1 "\"\n",
          ":2:10: sas[0].spi: 0x10000000000000000 is above the maximum" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    lifetime: { hard: { seconds: 99999999999999999999d } }\n",
          "sas[0].lifetime.hard.seconds: 99999999999999999999d is above the "
          "maximum" },
        /* d is a hex digit and the unit of days: 0x1d was 29 seconds. */
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    lifetime: { hard: { seconds: 0x1d } }\n",
          ":5:34: sas[0].lifetime.hard.seconds: '0x1d': hex 29, or 0x1 days? "
          "Write it in decimal: 29, or 1d" },
        { "", ":1:1: empty configuration" },
        { "state_dir: \"\"\n", ":1:12: state_dir: an empty path" },
        { "state_dir: [a]\n", ":1:12: state_dir: expected" },
        { "seq_block: 100\n",
          ":1:12: seq_block: a power of two from 16 to 1073741824" },
        { "seq_block: 8\n", ":1:12: seq_block: a power of two" },
        { "seq_block: 2G\n", ":1:12: seq_block: 2G is above the maximum" },
        { "- 1\n- 2\n", ":1:1: (top): expected a mapping, found a list" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    replay_scope: everyone\n",
          ":5:19: sas[0].replay_scope: expected host (a message is accepted "
          "once per host: load-balanced workers) or process (once per "
          "process: subscribers), found 'everyone'" },
        { "sas:\n  - spi: 1\n    direction: out\n    key: \"" KEY1 "\"\n"
          "    replay_scope: process\n",
          ":5:19: sas[0].replay_scope: only inbound SAs have a replay window" },
        { "policies:\n  - name: p\n    replay_scope: [process]\n",
          ":3:19: policies[0].replay_scope: expected" },
        { "sas:\n  - spi: 1\n    direction: in\n    key: \"" KEY1 "\"\n"
          "    replay_scope: host\n"
          "policies:\n  - name: p\n    replay_scope: process\n    in: [1]\n",
          ":9:10: policies[0].in[0]: the policy's replay_scope is process, "
          "but inbound SA 0x00000001 (sas[0]) says host" },
    };
    zesp_sad *sad = zesp_sad_new(NULL);
    char err[512];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *path = write_file("bad.yaml", rows[i].yaml, 0600);
        errno = 0;
        int rc = zesp_config_load(sad, path, err, sizeof err);
        int e = errno;
        if (rc != -1 || e != ZESP_ECONFIG ||
            strstr(err, rows[i].want) == NULL ||
            strncmp(err, path, strlen(path)) != 0) {
            fprintf(stderr, "  row %zu: want '%s', got '%s' (errno %d)\n", i,
                    rows[i].want, err, e);
            CHECK(!"error text");
        }
        CHECK(sa_count(sad) == 0);
    }
    zesp_sad_free(sad);
}

/* A number written with a leading 0 is octal to strtoull and YAML 1.1,
 * decimal to YAML 1.2 and to whoever padded it: 010 was Sender ID 8, the
 * one another host's file gives as 8, and two senders under one group key
 * with one Sender ID repeat nonces.  Refused, wherever a number is read;
 * 0 itself and 0x hex are not. */
static void test_leading_zero(void)
{
    static const struct {
        const char *yaml;
        const char *want;    /* NULL: valid */
    } rows[] = {
        { "sas:\n  - { spi: 0x6001, direction: in, key: \"" KEY1 "\",\n"
          "      group: true, sender_id: 010 }\n",
          ":3:31: sas[0].sender_id: '010': a leading 0" },
        { "sas:\n  - { spi: 0100, direction: out, key: \"" KEY1 "\" }\n",
          ":2:12: sas[0].spi: '0100': a leading 0" },
        { "sas:\n  - { spi: 1, direction: in, key: \"" KEY1 "\",\n"
          "      replay_window: 01024 }\n",
          ":3:22: sas[0].replay_window: '01024': a leading 0" },
        { "sas:\n  - { spi: 1, direction: out, key: \"" KEY1 "\",\n"
          "      lifetime: { hard: { seconds: 03600 } } }\n",
          ":3:36: sas[0].lifetime.hard.seconds: '03600': a leading 0" },
        { "sas:\n  - { spi: 1, direction: out, key: \"" KEY1 "\",\n"
          "      lifetime: { hard: { bytes: 01K } } }\n",
          "sas[0].lifetime.hard.bytes: '01K': a leading 0" },
        { "sas:\n  - { spi: 0x0100, direction: out, key: \"" KEY1 "\",\n"
          "      lifetime: { hard: { seconds: 0, messages: 0 } } }\n", NULL },
    };
    char err[512];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const char *path = write_file("zero.yaml", rows[i].yaml, 0600);
        int rc = zesp_config_check(path, err, sizeof err);
        if (rows[i].want == NULL ? rc != 0
                                 : rc != -1 || strstr(err, rows[i].want) == NULL) {
            fprintf(stderr, "  row %zu: want '%s', got '%s'\n", i,
                    rows[i].want ? rows[i].want : "valid",
                    rc == 0 ? "valid" : err);
            CHECK(!"leading zero");
        }
    }
}

/* replay_scope: process on an inbound SA, or on a policy, which gives it
 * to its inbound SAs (every sender's of a group SPI); host by default.
 * An SA in the SAD keeps its scope: a process policy cannot take one of
 * host.  The API refuses the flag where no window is. */
static void test_replay_scope(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params out = { .spi = 0x7209, .direction = ZESP_DIR_OUT,
                           .flags = ZESP_SA_PER_PROCESS_WINDOW };
    zesp_policy bad = { .name = "bad", .flags = 0x80 };
    zesp_sa_info info;
    zesp_policy pol;
    char err[512];
    const char *path;

    path = write_file("scope.yaml",
        "sas:\n"
        "  - { spi: 0x7201, direction: in, key: \"" KEY1 "\",\n"
        "      replay_scope: process }\n"
        "  - { spi: 0x7202, direction: in, key: \"" KEY3 "\" }\n"
        "  - { spi: 0x7203, direction: in, key: \"" KEY4 "\",\n"
        "      replay_scope: host }\n"
        "  - { spi: 0x7204, direction: out, key: \"" KEY5 "\" }\n"
        "  - { spi: 0x7205, direction: in, key: \"" KEY2 "\", group: true,\n"
        "      sender_id: 1 }\n"
        "  - { spi: 0x7205, direction: in, key: \"" KEY2 "\", group: true,\n"
        "      sender_id: 2 }\n"
        "policies:\n"
        "  - { name: prices, replay_scope: process, in: [0x7202, 0x7205] }\n"
        "  - { name: orders, replay_scope: host, out: 0x7204, in: [0x7203] }\n",
        0600);
    CHECK_OK(zesp_config_check(path, err, sizeof err));
    if (zesp_config_load(sad, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_OK(zesp_sa_info_get(sad, 0x7201, ZESP_DIR_IN, &info));
    CHECK(info.flags == (ZESP_SA_MANUAL | ZESP_SA_PER_PROCESS_WINDOW));
    CHECK_OK(zesp_sa_info_get(sad, 0x7202, ZESP_DIR_IN, &info));
    CHECK(info.flags == (ZESP_SA_MANUAL | ZESP_SA_PER_PROCESS_WINDOW));
    CHECK_OK(zesp_sa_info_get(sad, 0x7203, ZESP_DIR_IN, &info));
    CHECK(info.flags == ZESP_SA_MANUAL);
    CHECK_OK(zesp_sa_info_get(sad, 0x7204, ZESP_DIR_OUT, &info));
    CHECK(info.flags == ZESP_SA_MANUAL);
    for (uint32_t sender = 1; sender <= 2; sender++) {
        CHECK_OK(zesp_sa_info_get_sender(sad, 0x7205, ZESP_DIR_IN, sender,
                                         &info));
        CHECK(info.flags & ZESP_SA_PER_PROCESS_WINDOW);
    }
    CHECK_OK(zesp_policy_get(sad, "prices", &pol));
    CHECK(pol.flags == ZESP_POLICY_PER_PROCESS_WINDOW);
    CHECK_OK(zesp_policy_get(sad, "orders", &pol));
    CHECK(pol.flags == 0);
    /* 0x7203 is installed with host scope: a process policy is refused. */
    path = write_file("scope-sad.yaml",
        "policies:\n"
        "  - { name: fanout, replay_scope: process, in: [0x7203] }\n", 0600);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "scope-sad.yaml:2:") != NULL &&
          strstr(err, "policies[0].in[0]: the policy's replay_scope is "
                      "process, but inbound SA 0x00007203 is in the SAD "
                      "with replay_scope host") != NULL);
    CHECK_ERR(zesp_policy_get(sad, "fanout", &pol), ZESP_ENOPOLICY);
    CHECK_ERR(zesp_sa_add(sad, &out), EINVAL);
    CHECK_ERR(zesp_policy_set(sad, &bad), EINVAL);
    zesp_sad_free(sad);
}

/* A message sealed on out SA spi, opened under policy: 0 or errno. */
static int seal_and_open(zesp_sad *sad, uint32_t spi, const char *policy)
{
    zesp_frame body = { "card 4242", 9 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    uint8_t *esp = NULL;
    size_t len = 0;
    int rc = -1;

    errno = 0;
    if (msg != NULL && zesp_seal(sad, spi, &parts, &esp, &len) == 0)
        rc = zesp_open_policy(sad, policy, NULL, 0, esp, len, msg);
    rc = rc == 0 ? 0 : errno;
    zesp_buf_free(esp);
    zesp_msg_free(msg);
    return rc;
}

static zesp_sa_params sa_of(uint32_t spi, uint32_t direction,
                            uint32_t transform)
{
    zesp_sa_params p = { .spi = spi, .direction = direction,
                         .transform = transform };

    memset(p.key, 0x42, sizeof p.key);
    return p;
}

/* A policy whose SAs encrypt is not served by an integrity-only SA: a
 * file mixing the two on one policy is refused, and the SAD refuses such
 * an SA as the policy's outbound one, in its inbound list, or under an
 * SPI the policy lists that was given to it later; a policy whose SAs all
 * authenticate only keeps working. */
static void test_policy_protection(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_params p;
    zesp_policy pol;
    char err[512];
    const char *path;

    path = write_file("mixed.yaml",
        "sas:\n"
        "  - { spi: 0x7301, direction: out, key: \"" KEY1 "\" }\n"
        "  - { spi: 0x7302, direction: in, key: \"" KEY3 "\",\n"
        "      transform: null-chacha20-poly1305 }\n"
        "policies:\n"
        "  - { name: orders, out: 0x7301, in: [0x7302] }\n", 0600);
    CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "mixed.yaml:6:") != NULL &&
          strstr(err, "policies[0].in[0]: inbound SA 0x00007302 "
                      "authenticates only") != NULL);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(sa_count(sad) == 0);
    CHECK_ERR(zesp_policy_get(sad, "orders", &pol), ZESP_ENOPOLICY);

    /* Through the API: the policy encrypts (0x7311), a NULL SA (0x7312)
     * is refused in its lists. */
    p = sa_of(0x7311, ZESP_DIR_OUT, ZESP_CHACHA20_POLY1305);
    CHECK_OK(zesp_sa_add(sad, &p));
    p.direction = ZESP_DIR_IN;
    CHECK_OK(zesp_sa_add(sad, &p));
    p = sa_of(0x7312, ZESP_DIR_OUT, ZESP_NULL_CHACHA20_POLY1305);
    CHECK_OK(zesp_sa_add(sad, &p));
    p.direction = ZESP_DIR_IN;
    CHECK_OK(zesp_sa_add(sad, &p));
    memset(&pol, 0, sizeof pol);
    snprintf(pol.name, sizeof pol.name, "orders");
    pol.out_spi = 0x7311;
    pol.in_spi[0] = 0x7311;
    pol.in_spi[1] = 0x7312;
    CHECK_ERR(zesp_policy_set(sad, &pol), ZESP_EPOLICY);
    pol.in_spi[1] = 0;
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK(seal_and_open(sad, 0x7311, "orders") == 0);
    CHECK_ERR(zesp_policy_set_out(sad, "orders", 0x7312), ZESP_EPOLICY);
    CHECK_OK(zesp_policy_get(sad, "orders", &pol));
    CHECK(pol.out_spi == 0x7311);

    /* The inbound SA under a listed SPI replaced by a NULL one: a message
     * in clear under it is refused, before anything is opened. */
    CHECK_OK(zesp_sa_del(sad, 0x7311, ZESP_DIR_IN));
    p = sa_of(0x7311, ZESP_DIR_IN, ZESP_NULL_CHACHA20_POLY1305);
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK_OK(zesp_sa_del(sad, 0x7311, ZESP_DIR_OUT));
    p.direction = ZESP_DIR_OUT;
    CHECK_OK(zesp_sa_add(sad, &p));
    CHECK(seal_and_open(sad, 0x7311, "orders") == ZESP_EPOLICY);

    /* A policy of integrity-only SAs (a hop SA's) serves them. */
    memset(&pol, 0, sizeof pol);
    snprintf(pol.name, sizeof pol.name, "hop");
    pol.in_spi[0] = 0x7312;
    CHECK_OK(zesp_policy_set(sad, &pol));
    CHECK_OK(zesp_policy_set_out(sad, "hop", 0x7312));
    CHECK(seal_and_open(sad, 0x7312, "hop") == 0);
    zesp_sad_free(sad);
}

/* Group SAs: a signed sender, and two senders' windows on one SPI. */
/* lanes: true on a pairwise SA; refused on a group SA, with the why. */
static void test_lanes(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_info info;
    char err[512];
    const char *path;

    path = write_file("lanes.yaml",
                      "sas:\n"
                      "  - { spi: 0x7101, direction: out, key: \"" KEY1 "\",\n"
                      "      lanes: true }\n"
                      "  - { spi: 0x7102, direction: in, key: \"" KEY2 "\",\n"
                      "      lanes: yes }\n", 0600);
    if (zesp_config_load(sad, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_OK(zesp_sa_info_get(sad, 0x7101, ZESP_DIR_OUT, &info));
    CHECK(info.flags == (ZESP_SA_LANES | ZESP_SA_MANUAL));
    CHECK_OK(zesp_sa_info_get(sad, 0x7102, ZESP_DIR_IN, &info));
    CHECK(info.flags == (ZESP_SA_LANES | ZESP_SA_MANUAL));
    path = write_file("lanes-group.yaml",
                      "sas:\n"
                      "  - { spi: 0x7103, direction: out, key: \"" KEY1 "\",\n"
                      "      group: true, sender_id: 3, lanes: true }\n", 0600);
    CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "lanes-group.yaml:3:") != NULL &&
          strstr(err, "sas[0].lanes") != NULL &&
          strstr(err, "lanes are for pairwise SAs") != NULL);
    if (strstr(err, "lanes are for pairwise SAs") == NULL)
        fprintf(stderr, "  %s\n", err);
    zesp_sad_free(sad);
}

static void test_group_sas(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    uint8_t seed[32], pk[32], sk[64];
    char pk_hex[65], sk_hex[129], yaml[2048], err[512];
    zesp_sa_info info;
    const char *path;

    memset(seed, 0x5e, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2hex(pk_hex, sizeof pk_hex, pk, sizeof pk);
    sodium_bin2hex(sk_hex, sizeof sk_hex, sk, sizeof sk);
    snprintf(yaml, sizeof yaml,
             "sas:\n"
             "  - { spi: 0x7001, direction: out, key: \"" KEY1 "\",\n"
             "      group: true, sender_id: 7, sign_key: \"hex:%s\" }\n"
             "  - { spi: 0x7001, direction: in, key: \"" KEY1 "\",\n"
             "      group: true, sender_id: 9, sign_key: \"hex:%s\",\n"
             "      peer: carol }\n"
             "  - { spi: 0x7001, direction: in, key: \"" KEY1 "\",\n"
             "      group: true, sender_id: 8 }\n",
             sk_hex, pk_hex);
    path = write_file("group.yaml", yaml, 0600);
    if (zesp_config_load(sad, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK(sa_count(sad) == 3);
    CHECK_OK(zesp_sa_info_get(sad, 0x7001, ZESP_DIR_OUT, &info));
    CHECK(info.sender_id == 7 &&
          info.flags == (ZESP_SA_GROUP | ZESP_SA_SIGNED | ZESP_SA_MANUAL));
    CHECK_OK(zesp_sa_info_get_sender(sad, 0x7001, ZESP_DIR_IN, 9, &info));
    CHECK(info.flags == (ZESP_SA_GROUP | ZESP_SA_SIGNED | ZESP_SA_MANUAL) &&
          strcmp(info.peer, "carol") == 0);
    CHECK_OK(zesp_sa_info_get(sad, 0x7001, ZESP_DIR_IN, &info));
    CHECK(info.sender_id == 8 && info.flags == (ZESP_SA_GROUP | ZESP_SA_MANUAL));

    /* A secret key whose halves do not belong together. */
    sk_hex[127] = sk_hex[127] == '0' ? '1' : '0';
    snprintf(yaml, sizeof yaml,
             "sas:\n  - spi: 0x7002\n    direction: out\n"
             "    key: \"" KEY1 "\"\n    group: true\n    sender_id: 1\n"
             "    sign_key: \"hex:%s\"\n", sk_hex);
    path = write_file("group.yaml", yaml, 0600);
    CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":7:15: sas[0].sign_key: not an Ed25519 secret key"));
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(sk_hex, sizeof sk_hex);
    zesp_sad_free(sad);
}

/* source_auth: mac: the sender's and a receiver's files derive the same
 * key, from identity keys; mistakes are refused with their place. */
static void member_hex(uint8_t b, char pk_hex[65], char sk_hex[129])
{
    uint8_t seed[32], pk[32], sk[64];

    memset(seed, b, sizeof seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_bin2hex(pk_hex, 65, pk, sizeof pk);
    sodium_bin2hex(sk_hex, 129, sk, sizeof sk);
    sodium_memzero(sk, sizeof sk);
}

static void test_source_mac_sas(void)
{
    static const struct { const char *sa, *want; } bad[] = {
        { "source_auth: macs", ":3:47: sas[0].source_auth: expected mac or "
                               "signature" },
        { "source_auth: signature", "source_auth: signature needs 'sign_key'" },
        { "source_auth: mac", "source_auth: mac needs 'member_key'" },
        { "member_id: 3", "'member_id' belongs to source_auth: mac" },
        { "source_auth: mac, member_key: \"hex:%2$s\"",
          "source_auth: mac on 'out' needs 'receivers'" },
        { "source_auth: mac, member_key: \"hex:%2$s\", receivers: [ { id: 2, "
          "key: \"hex:%1$s\" }, { id: 2, key: \"hex:%1$s\" } ]",
          "receiver 2 is listed twice" },
        { "source_auth: mac, member_key: \"hex:%2$s\", receivers: [ { id: 1, "
          "key: \"hex:%1$s\" } ]", "not this sender's own" },
    };
    zesp_sad *tx = zesp_sad_new(NULL), *rx = zesp_sad_new(NULL);
    char xpk[65], xsk[129], ypk[65], ysk[129], yaml[2048], sa[600], err[512];
    zesp_frame body = { "hi", 2 };
    zesp_parts parts = { .body = &body, .nbody = 1 };
    zesp_msg *msg = zesp_msg_new();
    zesp_sa_info info;
    uint8_t *esp = NULL;
    size_t n = 0;
    const char *path;

    member_hex(0x11, xpk, xsk);
    member_hex(0x22, ypk, ysk);
    snprintf(yaml, sizeof yaml,
             "sas:\n  - { spi: 0x7201, direction: out, key: \"" KEY1 "\",\n"
             "      group: true, sender_id: 1, source_auth: mac,\n"
             "      member_key: \"hex:%s\",\n"
             "      receivers: [ { id: 2, key: \"hex:%s\" },\n"
             "                   { id: 3, key: \"hex:%s\" } ] }\n",
             xsk, ypk, xpk);
    path = write_file("mac-x.yaml", yaml, 0600);
    if (zesp_config_load(tx, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    snprintf(yaml, sizeof yaml,
             "sas:\n  - { spi: 0x7201, direction: in, key: \"" KEY1 "\",\n"
             "      group: true, sender_id: 1, source_auth: mac,\n"
             "      member_key: \"hex:%s\", member_id: 2,\n"
             "      sender_key: \"hex:%s\" }\n", ysk, xpk);
    path = write_file("mac-y.yaml", yaml, 0600);
    if (zesp_config_load(rx, path, err, sizeof err) != 0)
        fprintf(stderr, "  %s\n", err);
    CHECK_OK(zesp_sa_info_get(tx, 0x7201, ZESP_DIR_OUT, &info));
    CHECK(info.flags == (ZESP_SA_GROUP | ZESP_SA_SOURCE_MAC | ZESP_SA_MANUAL));
    CHECK_OK(zesp_seal(tx, 0x7201, &parts, &esp, &n));
    if (esp != NULL)
        CHECK_OK(zesp_open(rx, NULL, 0, esp, n, msg));
    CHECK(zesp_msg_body_count(msg) == 1 && zesp_msg_sender_id(msg) == 1);
    zesp_buf_free(esp);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(sa, sizeof sa, bad[i].sa, ypk, xsk);
#pragma GCC diagnostic pop
        snprintf(yaml, sizeof yaml,
                 "sas:\n  - { spi: 0x7202, direction: out, key: \"" KEY1
                 "\",\n      group: true, sender_id: 1, %s }\n", sa);
        path = write_file("mac-bad.yaml", yaml, 0600);
        CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
        if (strstr(err, bad[i].want) == NULL) {
            CHECK(!"the reason given");
            fprintf(stderr, "  row %zu: %s\n", i, err);
        }
    }
    sodium_memzero(xsk, sizeof xsk);
    sodium_memzero(ysk, sizeof ysk);
    zesp_msg_free(msg);
    zesp_sad_free(tx);
    zesp_sad_free(rx);
}

/* Every fopen of the library passes here: a key file must not (stdio's
 * buffer would keep the key in freed memory). */
static int key_files_through_stdio;

FILE *fopen(const char *path, const char *mode)
{
    FILE *(*real)(const char *, const char *) =
        (FILE *(*)(const char *, const char *))dlsym(RTLD_NEXT, "fopen");
    size_t n = strlen(path);

    if (n > 4 && strcmp(path + n - 4, ".key") == 0 && mode[0] == 'r')
        key_files_through_stdio++;
    return real(path, mode);
}

/* Keys from files: found relative to the YAML, refused if others can read,
 * read without stdio; only the first line counts. */
static void test_key_files(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    char err[512];
    const char *path;

    write_file("sa.key", KEY2 "\n", 0600);
    path = write_file("keyfile.yaml",
                      "sas:\n  - spi: 9\n    direction: in\n"
                      "    key: file:sa.key\n", 0644);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    write_file("open.key", KEY2 "\n", 0644);
    path = write_file("keyfile.yaml",
                      "sas:\n  - spi: 10\n    direction: in\n"
                      "    key: file:open.key\n", 0644);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "readable by others (mode 644)") != NULL);
    path = write_file("keyfile.yaml",
                      "sas:\n  - spi: 10\n    direction: in\n"
                      "    key: file:missing.key\n", 0644);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "No such file") != NULL);
    CHECK(sa_count(sad) == 1);
    write_file("two.key", KEY3 "\r\nsomething else\n", 0600);
    path = write_file("keyfile.yaml",
                      "sas:\n  - spi: 11\n    direction: in\n"
                      "    key: file:two.key\n", 0644);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK(sa_count(sad) == 2);
    CHECK(key_files_through_stdio == 0);
    zesp_sad_free(sad);
}

/* A file with keys written in it is as secret as a key file; any file
 * decides keys and policies, so no other user may write it. */
static void test_file_permissions(void)
{
    static const mode_t open_modes[] = { 0644, 0640, 0604, 0660 };
    zesp_sad *sad = zesp_sad_new(NULL);
    char err[512], want[256];
    const char *path;
    uid_t nobody = 65534;

    for (size_t i = 0; i < sizeof open_modes / sizeof open_modes[0]; i++) {
        path = write_file("inline.yaml",
                          "sas:\n  - { spi: 0x71, direction: in, key: \""
                          KEY1 "\" }\n", open_modes[i]);
        CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
        snprintf(want, sizeof want, ":2:38: sas[0].key: a secret key written "
                 "into a file others may read (mode %03o): chmod 600 %s",
                 (unsigned)open_modes[i], path);
        CHECK(strstr(err, want) != NULL);
        CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    }
    /* An out SA's signing key is secret too; an in SA's public key not. */
    write_file("perm.key", KEY1 "\n", 0600);
    path = write_file("inline.yaml",
                      "sas:\n  - { spi: 0x72, direction: out, key: file:perm.key,"
                      "\n      group: true, sender_id: 1, sign_key: \"hex:"
                      "00000000000000000000000000000000000000000000000000000000"
                      "00000000000000000000000000000000000000000000000000000000"
                      "0000000000000000\" }\n", 0644);
    CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":3:44: sas[0].sign_key: a secret key written") != NULL);
    CHECK(sa_count(sad) == 0);
    /* Keys in files of their own: the YAML may be read by anyone. */
    path = write_file("public.yaml",
                      "sas:\n  - { spi: 0x73, direction: in, key: file:perm.key }\n",
                      0644);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK(sa_count(sad) == 1);
    /* ...but not written by anyone. */
    path = write_file("public.yaml",
                      "sas:\n  - { spi: 0x74, direction: in, key: file:perm.key }\n",
                      0646);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    snprintf(want, sizeof want, "%s: any user may write it (mode 646): "
             "chmod o-w it", path);
    CHECK(strcmp(err, want) == 0);
    CHECK(sa_count(sad) == 1);
    if (geteuid() == 0) {
        /* Another user's: it could rewrite what we load. */
        path = write_file("public.yaml",
                          "sas:\n  - { spi: 0x75, direction: in, key: file:perm.key }\n",
                          0644);
        CHECK(chown(path, nobody, (gid_t)-1) == 0);
        CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
        CHECK(strstr(err, "owned by uid 65534, not by this user (uid 0) nor "
                          "root: chown it") != NULL);
        CHECK(sa_count(sad) == 1);
    }
    zesp_sad_free(sad);
}

/* A file's mode shows only an ACL's mask in its group bits: a 0660 file
 * may also be written by a user the ACL names, who is not the group. */
static void test_acl_named_writer(void)
{
    zesp_sad *sad = zesp_sad_new(NULL);
    char err[512];
    const char *path;

    write_file("acl.key", KEY1 "\n", 0600);
    path = write_file("acl.yaml",
                      "sas:\n  - { spi: 0x76, direction: in, key: file:acl.key }\n",
                      0660);
    CHECK_OK(zesp_config_check(path, err, sizeof err));   /* the group may */
    if (acl_xattr_set(path, "system.posix_acl_access", 6, 65534, 6, 6) != 0) {
        printf("     skip: no POSIX ACLs here (%s)\n", strerror(errno));
        zesp_sad_free(sad);
        return;
    }
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, "acl.yaml: its ACL lets a user or group it names "
                      "write it: setfacl -b it") != NULL);
    CHECK_ERR(zesp_config_check(path, err, sizeof err), ZESP_ECONFIG);
    CHECK(sa_count(sad) == 0);
    /* Named, but only to read (the mask says so): no writer. */
    CHECK(acl_xattr_set(path, "system.posix_acl_access", 6, 65534, 6, 4) == 0);
    CHECK_OK(zesp_config_check(path, err, sizeof err));
    zesp_sad_free(sad);
}

/* Manual keys' records go to this run's folder, never the host's, and a
 * folder of each test's own: the records remember the SPIs each key had,
 * and the tests give the same few keys to SAs of both directions. */
static int fresh_state_dir(const char *name)
{
    char state[192];

    snprintf(state, sizeof state, "%s/state-%s", dir, name);
    return setenv("ZESP_STATE_DIR", state, 1) == 0 &&
                   zesp_state_dir_init(state) == 0 ? 0 : -1;
}

/* One key, one SPI: a key pasted into both directions would repeat every
 * nonce, each SA counting from 1; a group's senders apart by Sender ID. */
static void test_key_on_two_spis(void)
{
    static const struct {
        const char *yaml;
        const char *refusal;    /* NULL: loads */
    } rows[] = {
        { "sas:\n  - { spi: 0x81, direction: out, key: \"" KEY1 "\" }\n"
          "  - { spi: 0x82, direction: in, key: \"" KEY1 "\" }\n",
          ":3:38: sas[1].key: the same key as sas[0] (SPI 0x00000081): each "
          "SA numbers its messages from 1, so two SPIs under one key repeat "
          "nonces; give each SA its own key (zesp keygen)" },
        { "sas:\n  - { spi: 0x83, direction: in, key: \"" KEY1 "\" }\n"
          "  - { spi: 0x84, direction: in, key: \"" KEY2 "\" }\n"
          "  - { spi: 0x85, direction: in, key: \"" KEY1 "\" }\n",
          ":4:38: sas[2].key: the same key as sas[0] (SPI 0x00000083)" },
        /* A group member and a pairwise SA: the pairwise IV has no
         * Sender ID to keep it apart. */
        { "sas:\n  - { spi: 0x86, direction: out, key: \"" KEY1 "\", "
          "group: true, sender_id: 1 }\n"
          "  - { spi: 0x87, direction: in, key: \"" KEY1 "\" }\n",
          "sas[1].key: the same key as sas[0] (SPI 0x00000086)" },
        /* The same Sender ID on two group SPIs. */
        { "sas:\n  - { spi: 0x88, direction: out, key: \"" KEY1 "\", "
          "group: true, sender_id: 4 }\n"
          "  - { spi: 0x89, direction: in, key: \"" KEY1 "\", "
          "group: true, sender_id: 4 }\n",
          "sas[1].key: the same key as sas[0] (SPI 0x00000088)" },
        /* Loops back: one SA's two ends in one SAD. */
        { "sas:\n  - { spi: 0x8a, direction: out, key: \"" KEY1 "\" }\n"
          "  - { spi: 0x8a, direction: in, key: \"" KEY1 "\" }\n", NULL },
        /* Group senders under one key, apart by Sender ID. */
        { "sas:\n  - { spi: 0x8b, direction: out, key: \"" KEY2 "\", "
          "group: true, sender_id: 1 }\n"
          "  - { spi: 0x8c, direction: in, key: \"" KEY2 "\", "
          "group: true, sender_id: 2 }\n", NULL },
    };
    char err[512];

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        zesp_sad *sad = zesp_sad_new(NULL);
        const char *path = write_file("twice.yaml", rows[i].yaml, 0600);
        int rc = zesp_config_load(sad, path, err, sizeof err);
        if (rows[i].refusal == NULL) {
            if (rc != 0)
                fprintf(stderr, "  row %zu: %s\n", i, err);
            CHECK(rc == 0 && sa_count(sad) == 2);
        } else {
            if (rc == 0 || strstr(err, rows[i].refusal) == NULL)
                fprintf(stderr, "  row %zu: want '%s', got '%s'\n", i,
                        rows[i].refusal, rc == 0 ? "loaded" : err);
            CHECK(rc == -1 && errno == ZESP_ECONFIG &&
                  strstr(err, rows[i].refusal) != NULL && sa_count(sad) == 0);
        }
        zesp_sad_free(sad);
    }
    /* The loop back's SAs are gone, its key's records are not: the key in
     * on another SPI is its peer numbering from 1 under it again. */
    zesp_sad *sad = zesp_sad_new(NULL);
    const char *path = write_file("again.yaml",
        "sas:\n  - { spi: 0x97, direction: in, key: \"" KEY1 "\" }\n", 0600);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":2:38: sas[0].key: this key served SPI 0x0000008a "
                      "out (the state directory's records say so)") != NULL);
    CHECK(sa_count(sad) == 0);
    zesp_sad_free(sad);
    /* A second file's key against the SAs the first one installed. */
    CHECK_OK(fresh_state_dir("test_key_on_two_spis-second"));
    sad = zesp_sad_new(NULL);
    path = write_file("first.yaml",
        "sas:\n  - { spi: 0x91, direction: out, key: \"" KEY1 "\" }\n"
        "  - { spi: 0x92, direction: out, key: \"" KEY2 "\", group: true, "
        "sender_id: 1 }\n", 0600);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    path = write_file("second.yaml",
        "sas:\n  - { spi: 0x93, direction: in, key: \"" KEY3 "\" }\n"
        "  - { spi: 0x94, direction: in, key: \"" KEY1 "\" }\n", 0600);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ECONFIG);
    CHECK(strstr(err, ":3:38: sas[1].key: the same key as SPI 0x00000091 "
                      "out, already in the SAD: each SA numbers its messages "
                      "from 1") != NULL);
    /* A check has no SAD to compare with. */
    CHECK_OK(zesp_config_check(path, err, sizeof err));
    path = write_file("second.yaml",
        "sas:\n  - { spi: 0x95, direction: in, key: \"" KEY2 "\", group: "
        "true, sender_id: 2 }\n", 0600);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK(sa_count(sad) == 3);
    zesp_sad_free(sad);
}

/*
 * flock, the program's own (the statically linked library calls it): it
 * counts the callers that wait for a lock, so that a test knows when two
 * loads have both checked their files and wait for the state directory.
 */
static _Atomic int flock_waiters;

int flock(int fd, int op)
{
    if (!(op & LOCK_NB))
        atomic_fetch_add(&flock_waiters, 1);
    return (int)syscall(SYS_flock, fd, op);
}

struct loader {
    zesp_sad *sad;
    char path[256];
    char err[512];
    int rc;
};

static void *load_file(void *arg)
{
    struct loader *l = arg;

    l->rc = zesp_config_load(l->sad, l->path, l->err, sizeof l->err);
    return NULL;
}

/*
 * Two `zesp load`s at once, into one SAD file, of two files that give one
 * key to two SPIs: each file alone, checked against the SAD, is fine, and
 * the second load of the two, run after the first, is refused.  Both loads
 * here have checked their files (the SAD was empty) and wait for the state
 * directory's lock, held by the test, when they install.  Only one may
 * install.  Before, both did: a group sender (Sender ID 1) and a lanes SA
 * under one key each sent the other's IVs (lane 1 is Sender ID 1), and a
 * key both in and out counted from 1 on both hosts.
 */
static void test_key_on_two_spis_concurrent_loads(void)
{
    static const struct {
        const char *a, *b;
    } rows[] = {
        { "seq_block: 16\nsas:\n  - { spi: 0xa1, direction: out, key: \""
          KEY4 "\", group: true, sender_id: 1 }\n",
          "seq_block: 16\nsas:\n  - { spi: 0xa2, direction: out, key: \""
          KEY4 "\", lanes: true }\n" },
        { "sas:\n  - { spi: 0xa3, direction: out, key: \"" KEY5 "\" }\n",
          "sas:\n  - { spi: 0xa4, direction: in, key: \"" KEY5 "\" }\n" },
    };
    const char *state = getenv("ZESP_STATE_DIR");

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct loader l[2];
        char sad_path[256], name[32];
        double until = test_now() + test_ms(10000) / 1000.0;
        pthread_t th[2];
        int held = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int installed = 0;

        snprintf(sad_path, sizeof sad_path, "%s/concurrent%zu.sad", dir, i);
        CHECK(held >= 0 && syscall(SYS_flock, held, LOCK_EX) == 0);
        atomic_store(&flock_waiters, 0);
        for (int k = 0; k < 2; k++) {
            const char *path;
            l[k].sad = zesp_sad_open(sad_path, ZESP_SAD_CREATE, NULL);
            CHECK(l[k].sad != NULL);
            snprintf(name, sizeof name, "concurrent%zu%c.yaml", i, 'a' + k);
            path = write_file(name, k ? rows[i].b : rows[i].a, 0600);
            CHECK(path != NULL);
            snprintf(l[k].path, sizeof l[k].path, "%s", path ? path : "");
            l[k].rc = -1;
            l[k].err[0] = '\0';
            CHECK(pthread_create(&th[k], NULL, load_file, &l[k]) == 0);
        }
        while (atomic_load(&flock_waiters) < 2 && test_now() < until)
            sched_yield();
        CHECK(atomic_load(&flock_waiters) >= 2);
        close(held);            /* both loads go on: the lock is free */
        for (int k = 0; k < 2; k++) {
            CHECK(pthread_join(th[k], NULL) == 0);
            installed += l[k].rc == 0;
        }
        if (installed != 1)
            fprintf(stderr, "  row %zu: %d of 2 loads installed ('%s', "
                    "'%s')\n", i, installed, l[0].err, l[1].err);
        CHECK(installed == 1);
        CHECK(sa_count(l[0].sad) == 1);
        for (int k = 0; k < 2 && installed == 1; k++)
            if (l[k].rc != 0)
                CHECK(strstr(l[k].err, "the same key as SPI 0x000000a") !=
                          NULL ||
                      strstr(l[k].err, "this key served SPI 0x000000a") !=
                          NULL);
        if (i == 0) {
            /* What each SA sends, where it was installed. */
            uint8_t *frames[80];
            size_t n = 0;
            for (int k = 0; k < 2; k++)
                for (int m = 0; m < 40; m++) {
                    zesp_frame body = { "x", 1 };
                    zesp_parts parts = { .body = &body, .nbody = 1 };
                    size_t len;
                    if (zesp_seal(l[k].sad, k ? 0xa2 : 0xa1, &parts,
                                  &frames[n], &len) == 0)
                        n++;
                }
            long twice = test_repeated_ivs(frames, n, false);
            if (twice != 0)
                fprintf(stderr, "  %ld of %zu IVs sent twice under one key\n",
                        twice, n);
            CHECK(twice == 0 && n == (installed == 1 ? 40U : 80U));
            for (size_t m = 0; m < n; m++)
                zesp_buf_free(frames[m]);
        }
        for (int k = 0; k < 2; k++)
            zesp_sad_free(l[k].sad);
    }
}

/* A load that fails while applying leaves the SAD as it was. */
static void test_all_or_nothing(void)
{
    zesp_sad_opts small = { .capacity = 3 };
    zesp_sad *sad = zesp_sad_new(&small);
    zesp_sa_params p;
    zesp_policy pol;
    char err[512];
    const char *path;

    memset(&p, 0, sizeof p);
    p.spi = 100;
    p.direction = ZESP_DIR_OUT;
    CHECK_OK(zesp_sa_add(sad, &p));
    memset(&pol, 0, sizeof pol);
    strcpy(pol.name, "keep");
    pol.out_spi = 100;
    CHECK_OK(zesp_policy_set(sad, &pol));
    path = write_file("three.yaml",
                      "sas:\n"
                      "  - { spi: 1, direction: out, key: \"" KEY1 "\" }\n"
                      "  - { spi: 2, direction: out, key: \"" KEY3 "\" }\n"
                      "  - { spi: 3, direction: out, key: \"" KEY4 "\" }\n"
                      "policies:\n  - { name: keep, out: 1 }\n", 0600);
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_EFULL);
    CHECK(strstr(err, "cannot install SPI 0x00000003") != NULL);
    CHECK(sa_count(sad) == 1);
    CHECK_OK(zesp_policy_get(sad, "keep", &pol));
    CHECK(pol.out_spi == 100);
    CHECK_OK(zesp_sad_verify(sad));
    zesp_sad_free(sad);
}

static int count_files(const char *path)
{
    char cmd[300];
    FILE *p;
    int n = -1;

    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", path);
    if ((p = popen(cmd, "r")) != NULL) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* state_dir and seq_block of a file; the handle and $ZESP_STATE_DIR come
 * before the file's state_dir. */
static void test_state_settings(void)
{
    const char *env = getenv("ZESP_STATE_DIR");
    char saved[256], st[256], other[256], err[1024];
    zesp_sad *sad = zesp_sad_new(NULL);
    zesp_sa_info info;
    const char *path;

    snprintf(saved, sizeof saved, "%s", env ? env : "");
    snprintf(st, sizeof st, "%s/st", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    unsetenv("ZESP_STATE_DIR");
    path = write_file("state.yaml",
                      "state_dir: st\nseq_block: 64\nsas:\n"
                      "  - { spi: 0x51, direction: out, key: \"" KEY1 "\" }\n",
                      0600);
    /* Never made implicitly: the load says how to make it. */
    CHECK_ERR(zesp_config_load(sad, path, err, sizeof err), ZESP_ENOSTATE);
    CHECK(strstr(err, "cannot install SPI 0x00000051") != NULL &&
          strstr(err, "zesp state init") != NULL && strstr(err, st) != NULL);
    CHECK(access(st, F_OK) != 0 && sa_count(sad) == 0);
    CHECK_OK(zesp_state_dir_init(st));
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK_OK(zesp_sa_info_get(sad, 0x51, ZESP_DIR_OUT, &info));
    CHECK(info.seq_block == 64 && info.seq_reserved == 64 && info.seq == 0);
    CHECK(count_files(st) == 1);
    zesp_sad_free(sad);

    /* $ZESP_STATE_DIR before the file's; the handle's before both. */
    setenv("ZESP_STATE_DIR", other, 1);
    CHECK_OK(zesp_state_dir_init(other));
    sad = zesp_sad_new(NULL);
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK(count_files(other) == 1 && count_files(st) == 1);
    zesp_sad_free(sad);
    sad = zesp_sad_new(NULL);
    CHECK_OK(zesp_sad_set_state_dir(sad, st));
    CHECK_OK(zesp_config_load(sad, path, err, sizeof err));
    CHECK_OK(zesp_sa_info_get(sad, 0x51, ZESP_DIR_OUT, &info));
    CHECK(info.seq == 64 && info.seq_reserved == 128);   /* continued */
    zesp_sad_free(sad);
    setenv("ZESP_STATE_DIR", saved, 1);
}

/* Each key of a mapping is compared with the others (duplicate keys are
 * refused): 50,000 keys in a file of 600 KB took minutes.  A mapping
 * holds at most YDOC_MAX_KEYS (1024) keys; the 1025th is refused where
 * it is, before the rest is read. */
static void test_keys_per_mapping(void)
{
    size_t cap = 1100 * 16, len = 0;
    char *yaml = malloc(cap), err[512];
    const char *path;

    CHECK(yaml != NULL);
    if (yaml == NULL)
        return;
    /* spi and k1 to k1023: 1024 keys, on lines 2 to 1025. */
    len += (size_t)snprintf(yaml + len, cap - len, "sas:\n  - spi: 1\n");
    for (unsigned i = 1; i < 1024; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "    k%u: 1\n", i);
    path = write_file("keys.yaml", yaml, 0600);
    CHECK(zesp_config_check(path, err, sizeof err) == -1);
    CHECK(strstr(err, ":3:5: sas[0]: unknown key 'k1'") != NULL);
    snprintf(yaml + len, cap - len, "    kk: 1\n");
    path = write_file("keys.yaml", yaml, 0600);
    CHECK(zesp_config_check(path, err, sizeof err) == -1);
    if (strstr(err, ":1026:5: more than 1024 keys in the mapping of line 2")
        == NULL) {
        fprintf(stderr, "  got '%s'\n", err);
        CHECK(!"the 1025th key refused");
    }
    free(yaml);
}

/* err given with errlen 0: nothing written there.  Before, a duplicate
 * key appended its name at strlen(err) of a buffer never written, with
 * a length of 0 - strlen: past the end of the caller's buffer. */
static void test_err_len_zero(void)
{
    struct {
        char err[32];
        char after[32];
    } b;
    const char *path = write_file("dup.yaml", "sas:\n  - spi: 1\n    spi: 2\n",
                                  0600);
    bool intact = true;

    memset(&b, 'G', sizeof b);
    b.err[sizeof b.err - 1] = '\0';
    errno = 0;
    CHECK(zesp_config_check(path, b.err, 0) == -1 && errno == ZESP_ECONFIG);
    for (size_t i = 0; i < sizeof b; i++)
        intact = intact && ((char *)&b)[i] == (i == sizeof b.err - 1 ? '\0'
                                                                     : 'G');
    CHECK(intact);
}

static void test_missing_file(void)
{
    char err[512];

    CHECK(zesp_config_check("/nonexistent/zesp.yaml", err, sizeof err) == -1);
    CHECK(strstr(err, "No such file") != NULL);
}

#define RUN_FRESH(fn)                                                      \
    do {                                                                   \
        if (fresh_state_dir(#fn) != 0)                                     \
            return 2;                                                      \
        RUN(fn);                                                           \
    } while (0)

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "config") != 0)
        return 2;
    RUN_FRESH(test_valid_file);
    RUN_FRESH(test_mistakes);
    RUN_FRESH(test_leading_zero);
    RUN_FRESH(test_key_files);
    RUN_FRESH(test_file_permissions);
    RUN_FRESH(test_acl_named_writer);
    RUN_FRESH(test_key_on_two_spis);
    RUN_FRESH(test_key_on_two_spis_concurrent_loads);
    RUN_FRESH(test_group_sas);
    RUN_FRESH(test_source_mac_sas);
    RUN_FRESH(test_lanes);
    RUN_FRESH(test_replay_scope);
    RUN_FRESH(test_policy_protection);
    RUN_FRESH(test_all_or_nothing);
    RUN_FRESH(test_state_settings);
    RUN_FRESH(test_keys_per_mapping);
    RUN_FRESH(test_err_len_zero);
    RUN_FRESH(test_missing_file);
    return test_done_in(dir);
}
