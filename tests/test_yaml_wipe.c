/*
 * A key written into a YAML file (an SA's key:, a peer's psk:) must not be
 * left in freed heap memory once the file is loaded: not in stdio's buffer,
 * not in libyaml's input buffers, not in the events' strings.  This program
 * replaces free() and realloc() (over glibc's own __libc_* functions) so
 * that every block released while a file loads is searched for the key
 * text before it goes back to the heap; realloc always moves, so the old
 * block of a growing string is searched too.
 *
 * What libyaml's scanner releases on its own while it builds a scalar
 * (the shorter copies a growing string leaves behind, realloc after
 * realloc) is out of the loader's reach: those hold a beginning of the
 * value, never all of it.  The claim checked is therefore exact: no block
 * freed during a load holds the whole key text.  The longest beginning of
 * it found is printed, to keep the measure in view (doc/threat-model.md).
 *
 * Replacing free() does not mix with a sanitizer's or valgrind's own
 * allocator: the program then says skip.
 */
#include <fcntl.h>
#include <malloc.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "test.h"
#include "zesp.h"
#include "zike.h"

#if defined(__SANITIZE_ADDRESS__)
#define WIPE_TEST_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define WIPE_TEST_SANITIZER 1
#endif
#endif
#ifndef WIPE_TEST_SANITIZER
#define WIPE_TEST_SANITIZER 0
#endif

/* 36 octets (KEYMAT) and a PSK, each text nowhere else in the program's
 * heap: a find is a copy the loader left. */
#define SA_KEY "hex:5a1e5a1e0bad0bad7e577e57c0dec0dec1a551f1edf00df00d" \
               "feedfacecafebabe1234ab"
#define PSK "inline-psk-marker-that-must-not-outlive-the-load-7f3a9c"

static char dir[128];

/* The search, armed only while a file loads. */
static const char *marker;
static size_t marker_len;
static int armed;
static size_t hits, longest_prefix, blocks_seen;

#if !WIPE_TEST_SANITIZER
static void search(const void *p)
{
    const unsigned char *b = p;
    size_t n = malloc_usable_size((void *)p), best = 0;

    blocks_seen++;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < marker_len && i + k < n && b[i + k] == (unsigned char)marker[k])
            k++;
        if (k == marker_len) {
            hits++;
            best = k;
            break;
        }
        if (k > best)
            best = k;
    }
    if (best > longest_prefix)
        longest_prefix = best;
}

extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);
extern void *__libc_realloc(void *p, size_t size);

void free(void *p)
{
    if (p != NULL && armed)
        search(p);
    __libc_free(p);
}

void *realloc(void *p, size_t size)
{
    void *q;
    size_t old;

    if (!armed || p == NULL || size == 0)
        return __libc_realloc(p, size);
    if ((q = __libc_malloc(size)) == NULL)
        return NULL;
    old = malloc_usable_size(p);
    memcpy(q, p, old < size ? old : size);
    search(p);
    __libc_free(p);
    return q;
}
#endif

static void arm(const char *m)
{
    marker = m;
    marker_len = strlen(m);
    hits = longest_prefix = blocks_seen = 0;
    armed = 1;
}

static void disarm(void)
{
    armed = 0;
}

/* Without stdio: its buffer would be a copy freed outside the search. */
static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    size_t len = strlen(text);
    int fd;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    return close(fd) == 0 ? path : NULL;
}

static void report(const char *what)
{
    printf("     %s: %zu blocks freed, whole key in %zu, longest beginning "
           "%zu of %zu characters\n", what, blocks_seen, hits, longest_prefix,
           marker_len);
}

/* The search sees what libc and libyaml free by themselves, so a pass
 * below is no blind spot. */
static void test_search_sees_libc_and_libyaml(void)
{
    const char *path = write_file("control.yaml", "key: \"" SA_KEY "\"\n");
    char buf[256];
    yaml_parser_t parser;
    yaml_event_t e;
    FILE *f;

    CHECK(path != NULL);
    if (path == NULL)
        return;
    arm(SA_KEY);
    f = fopen(path, "rb");
    CHECK(f != NULL && fread(buf, 1, sizeof buf, f) > 0);
    if (f != NULL)
        fclose(f);
    disarm();
    CHECK(hits >= 1);     /* stdio's buffer */
    arm(SA_KEY);
    CHECK(yaml_parser_initialize(&parser));
    yaml_parser_set_input_string(&parser, (const unsigned char *)
                                 "key: \"" SA_KEY "\"\n",
                                 strlen("key: \"" SA_KEY "\"\n"));
    while (yaml_parser_parse(&parser, &e)) {
        int end = e.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&e);
        if (end)
            break;
    }
    yaml_parser_delete(&parser);
    disarm();
    CHECK(hits >= 2);     /* the event's value, the parser's buffers */
    sodium_memzero(buf, sizeof buf);
}

/* A file zesp_config_check accepts, loaded with the search armed for
 * SA_KEY. */
static void check_accepted(const char *path, const char *what)
{
    char err[512] = "";

    CHECK(path != NULL);
    if (path == NULL)
        return;
    arm(SA_KEY);
    CHECK_OK(zesp_config_check(path, err, sizeof err));
    disarm();
    report(what);
    if (err[0])
        fprintf(stderr, "  %s\n", err);
}

static void test_sa_file(void)
{
    check_accepted(write_file("sa.yaml",
                              "sas:\n"
                              "  - spi: 0x71\n"
                              "    direction: in\n"
                              "    key: \"" SA_KEY "\"\n"),
                   "zesp_config_check");
    CHECK(hits == 0);
}

/* A file zesp_config_check refuses: the key in it left nowhere, and the
 * error names the file (FILE:... or FILE:LINE:...). */
static void check_refused(const char *name, const char *text,
                          const char *where, const char *what)
{
    const char *path = write_file(name, text);
    char err[512] = "";

    CHECK(path != NULL);
    if (path == NULL)
        return;
    arm(SA_KEY);
    CHECK(zesp_config_check(path, err, sizeof err) == -1);
    disarm();
    report(what);
    CHECK(strstr(err, where) != NULL);
    CHECK(hits == 0);
}

static void test_sa_file_refused(void)
{
    /* Refused half-way: the key was read, the events stop at the error. */
    check_refused("bad.yaml",
                  "sas:\n"
                  "  - spi: 0x72\n"
                  "    direction: in\n"
                  "    key: \"" SA_KEY "\"\n"
                  "    replay_window: [\n",
                  "bad.yaml:", "a refused file");
    /* The key is the token the parser refuses: still in libyaml's queue. */
    check_refused("bad2.yaml", "sas: [ { spi: 0x73 } \"" SA_KEY "\" ]\n",
                  "bad2.yaml:1:", "a key refused by the parser");
}

/* The advice of doc/configuration.md: a key in a file of its own never
 * passes through libyaml, so not even a beginning of it is left. */
static void test_key_file(void)
{
    const char *key = write_file("sa.key", SA_KEY "\n");

    CHECK(key != NULL && chmod(key, 0600) == 0);
    check_accepted(write_file("keyfile.yaml",
                              "sas:\n  - { spi: 0x74, direction: in, "
                              "key: file:sa.key }\n"),
                   "key: file:PATH");
    CHECK(hits == 0);
    CHECK(longest_prefix < 8);   /* "hex:" and a digit or so by chance */
}

static void test_zike_file(void)
{
    char text[1024], err[512] = "";
    struct zike_conf conf;
    const char *path;
    int rc;

    snprintf(text, sizeof text,
             "identity: { id: me.example }\n"
             "sad: %s/sad\n"
             "peers:\n"
             "  - name: bob\n"
             "    id: bob.example\n"
             "    endpoint: \"tcp://127.0.0.1:5999\"\n"
             "    auth: psk\n"
             "    psk: " PSK "\n"
             "    policies: [orders]\n", dir);
    path = write_file("zike.yaml", text);
    sodium_memzero(text, sizeof text);
    CHECK(path != NULL);
    if (path == NULL)
        return;
    arm(PSK);
    rc = zike_conf_load(path, &conf, err, sizeof err);
    disarm();
    CHECK(rc == 0);
    if (rc != 0)
        fprintf(stderr, "  %s\n", err);
    report("zike_conf_load");
    CHECK(hits == 0);
    if (rc == 0) {
        CHECK(conf.npeers == 1 && conf.peers[0].psk_len == strlen(PSK));
        arm(PSK);
        zike_conf_free(&conf);
        disarm();
        CHECK(hits == 0);
    }
}

int main(void)
{
    if (WIPE_TEST_SANITIZER || test_under_valgrind()) {
        printf("     skip: free() cannot be replaced under a sanitizer or "
               "valgrind\n");
        printf("0 passed, 0 failed, 1 skipped\n");
        return 0;
    }
    if (zesp_init() != 0 || test_mkdtemp(dir, sizeof dir, "yaml-wipe") != 0)
        return 2;
    RUN(test_search_sees_libc_and_libyaml);
    RUN(test_sa_file);
    RUN(test_sa_file_refused);
    RUN(test_key_file);
    RUN(test_zike_file);
    return test_done_in(dir);
}
