/*
 * Key material as text (zesp_key_generate, _format, _parse) and the frame
 * helper ZESP_STR: each form round-trips, and every malformed text, wrong
 * size, missing or too open key file is refused with its own error and
 * leaves the key cleared.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "zesp.h"

static char dir[128];

#define HEX36 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"

static const char *key_file(const char *name, const char *line, mode_t mode)
{
    static char path[256];
    int fd;

    snprintf(path, sizeof path, "file:%s/%s", dir, name);
    unlink(path + 5);
    if ((fd = open(path + 5, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
        return NULL;
    if (write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
        fchmod(fd, mode) != 0) {
        close(fd);
        return NULL;
    }
    close(fd);
    return path;
}

static int all_zero(const uint8_t *p, size_t n)
{
    uint8_t z = 0;
    for (size_t i = 0; i < n; i++)
        z |= p[i];
    return z == 0;
}

static void test_str_frame(void)
{
    zesp_frame f = ZESP_STR("prices");
    zesp_frame e = ZESP_STR("");

    CHECK(f.size == 6 && memcmp(f.data, "prices", 6) == 0);
    CHECK(e.size == 0);
}

static void test_generate_and_format(void)
{
    uint8_t a[ZESP_KEYBYTES], b[ZESP_KEYBYTES], back[ZESP_KEYBYTES];
    char text[ZESP_KEY_TEXTBYTES], small[ZESP_KEY_TEXTBYTES - 1];

    CHECK_OK(zesp_key_generate(a));
    CHECK_OK(zesp_key_generate(b));
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_OK(zesp_key_format(text, sizeof text, a, sizeof a, ZESP_KEY_HEX));
    CHECK(strncmp(text, "hex:", 4) == 0 && strlen(text) == 4 + 72);
    CHECK_OK(zesp_key_parse(back, sizeof back, text));
    CHECK(memcmp(a, back, sizeof a) == 0);
    CHECK_OK(zesp_key_format(text, sizeof text, a, sizeof a, ZESP_KEY_Z85));
    CHECK(strncmp(text, "z85:", 4) == 0 && strlen(text) == 4 + 45);
    CHECK_OK(zesp_key_parse(back, sizeof back, text));
    CHECK(memcmp(a, back, sizeof a) == 0);
    /* A buffer one short, an unknown format, Z85 of 3 octets. */
    CHECK_ERR(zesp_key_format(small, sizeof small, a, sizeof a, ZESP_KEY_HEX),
              EINVAL);
    CHECK(small[0] == '\0');
    CHECK_ERR(zesp_key_format(text, sizeof text, a, sizeof a, 7), EINVAL);
    CHECK_ERR(zesp_key_format(text, sizeof text, a, 3, ZESP_KEY_Z85), EINVAL);
}

static void test_parse_text(void)
{
    uint8_t k[ZESP_KEYBYTES], sk[ZESP_SIGN_SECRETBYTES];
    static const char *const bad[] = {
        "",                                 /* nothing */
        HEX36,                              /* no prefix */
        "hex:" HEX36 "0",                   /* 73 digits */
        "hex:" HEX36 "00",                  /* 37 octets */
        "hex:0001",                         /* 2 octets */
        "hex:zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223",
        "HEX:" HEX36,                       /* prefix is lower case */
        "z85:abc",                          /* too short */
        "z85:0123456789012345678901234567890123456789012345", /* 46 */
        "z85:01234567890123456789012345678901234567890123\"", /* not Z85 */
        "base64:AAAA",
    };

    CHECK_OK(zesp_key_parse(k, sizeof k, "hex:" HEX36));
    CHECK(k[0] == 0x00 && k[35] == 0x23);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(k, 0xaa, sizeof k);
        CHECK_ERR(zesp_key_parse(k, sizeof k, bad[i]), ZESP_EKEYTEXT);
        CHECK(all_zero(k, sizeof k));
    }
    /* The size asked for decides: 36 octets are no Ed25519 secret key. */
    CHECK_ERR(zesp_key_parse(sk, sizeof sk, "hex:" HEX36), ZESP_EKEYTEXT);
    CHECK_ERR(zesp_key_parse(NULL, 36, "hex:" HEX36), EINVAL);
    CHECK_ERR(zesp_key_parse(k, 0, "hex:" HEX36), EINVAL);
    CHECK_ERR(zesp_key_parse(k, sizeof k, NULL), EINVAL);
    CHECK(strstr(zesp_strerror(ZESP_EKEYTEXT), "hex:") != NULL);
}

static void test_parse_file(void)
{
    uint8_t k[ZESP_KEYBYTES];
    const char *path;

    CHECK((path = key_file("good.key", "hex:" HEX36 "\n", 0600)) != NULL);
    CHECK_OK(zesp_key_parse(k, sizeof k, path));
    CHECK(k[1] == 0x01 && k[35] == 0x23);
    CHECK((path = key_file("norl.key", "hex:" HEX36, 0400)) != NULL);
    CHECK_OK(zesp_key_parse(k, sizeof k, path));
    /* Readable by group, or by others: refused, key cleared. */
    CHECK((path = key_file("group.key", "hex:" HEX36 "\n", 0640)) != NULL);
    memset(k, 0xaa, sizeof k);
    CHECK_ERR(zesp_key_parse(k, sizeof k, path), ZESP_EKEYFILE);
    CHECK(all_zero(k, sizeof k));
    CHECK((path = key_file("world.key", "hex:" HEX36 "\n", 0604)) != NULL);
    CHECK_ERR(zesp_key_parse(k, sizeof k, path), ZESP_EKEYFILE);
    CHECK(strstr(zesp_strerror(ZESP_EKEYFILE), "chmod 600") != NULL);
    /* Another user's, mode 0600 (root can chown it there): whoever owns
     * it could rewrite the key.  Root's serves everyone. */
    if (geteuid() == 0) {
        CHECK((path = key_file("theirs.key", "hex:" HEX36 "\n", 0600)) !=
              NULL);
        CHECK(chown(path + 5, 65534, 65534) == 0);
        memset(k, 0xaa, sizeof k);
        CHECK_ERR(zesp_key_parse(k, sizeof k, path), ZESP_EKEYFILE);
        CHECK(all_zero(k, sizeof k));
        CHECK(strstr(zesp_strerror(ZESP_EKEYFILE), "chown") != NULL);
    }
    /* A file of a malformed key, a missing file, a directory. */
    CHECK((path = key_file("short.key", "hex:0001\n", 0600)) != NULL);
    CHECK_ERR(zesp_key_parse(k, sizeof k, path), ZESP_EKEYTEXT);
    CHECK_ERR(zesp_key_parse(k, sizeof k, "file:/nonexistent/zesp.key"),
              ENOENT);
    CHECK_ERR(zesp_key_parse(k, sizeof k, "file:"), ENOENT);
}

/* A key file's name is the file itself: whoever may write its folder
 * could put there a link to a file of ours whose first line it knows, or
 * a FIFO (which it may feed, or leave open(2) waiting on for ever). */
static void test_parse_file_kinds(void)
{
    uint8_t k[ZESP_KEYBYTES];
    char link[256], fifo[256], text[300];
    const char *target;
    int fd;

    CHECK((target = key_file("target.key", "hex:" HEX36 "\n", 0600)) != NULL);
    snprintf(link, sizeof link, "%s/link.key", dir);
    CHECK(symlink(target + 5, link) == 0);
    snprintf(text, sizeof text, "file:%s", link);
    memset(k, 0xaa, sizeof k);
    CHECK_ERR(zesp_key_parse(k, sizeof k, text), ELOOP);
    CHECK(all_zero(k, sizeof k));
    /* A FIFO with the line already in it: read at once were it taken. */
    snprintf(fifo, sizeof fifo, "%s/fifo.key", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK((fd = open(fifo, O_RDWR | O_NONBLOCK)) >= 0);
    CHECK(write(fd, "hex:" HEX36 "\n", 4 + 72 + 1) == 4 + 72 + 1);
    snprintf(text, sizeof text, "file:%s", fifo);
    memset(k, 0xaa, sizeof k);
    CHECK_ERR(zesp_key_parse(k, sizeof k, text), EINVAL);
    CHECK(all_zero(k, sizeof k));
    close(fd);
    unlink(link);
    unlink(fifo);
}

int main(void)
{
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "key") != 0)
        return 2;
    RUN(test_str_frame);
    RUN(test_generate_and_format);
    RUN(test_parse_text);
    RUN(test_parse_file);
    RUN(test_parse_file_kinds);
    return test_done_in(dir);
}
