/*
 * zesp: the SA database from the command line.  See doc/zesp.1.
 *
 *   zesp [--sad PATH] [--json] COMMAND [ARGS]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "commands.h"
#include "output.h"

static const char usage_text[] =
    "usage: zesp [--sad PATH] [--group] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  keygen [--z85] [--out FILE]   new SA key material (36 octets)\n"
    "  keygen --identity NAME        new Ed25519 identity: NAME.key, NAME.pub\n"
    "  load FILE.yaml                install the SAs and policies of FILE\n"
    "  check FILE.yaml               check FILE, change nothing\n"
    "  sa list                       the SAs\n"
    "  sa show SPI [--dir in|out] [--sender ID] [--key]\n"
    "                                one SA (its key only with --key)\n"
    "  sa del SPI [--dir in|out]     remove an SA, wiping its key\n"
    "  policy list                   the policies\n"
    "  stats                         per-SA counters, each rejection apart\n"
    "  expire                        remove SAs past a hard lifetime\n"
    "  flush                         remove every SA and policy\n"
    "\n"
    "SAD: --sad PATH, else $ZESP_SAD, else the default path; --group: a\n"
    "SAD its group shares (made 0660; one of mode 0660 accepted).\n"
    "Exit: 0 ok, 1 failed, 2 usage, 3 bad configuration, 4 SAD unusable.\n";

int usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("zesp: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(zesp --help for usage)\n", stderr);
    return EXIT_USAGE;
}

static zesp_sad *open_sad(const struct options *o, int create)
{
    zesp_sad_opts group = { .mode = 0660 };
    zesp_sad *sad = zesp_sad_open(o->sad_path,
                                  (create ? ZESP_SAD_CREATE : 0) |
                                      (o->group ? ZESP_SAD_GROUP : 0),
                                  o->group ? &group : NULL);

    if (sad == NULL)
        fprintf(stderr, "zesp: SAD %s: %s\n",
                o->sad_path ? o->sad_path : zesp_sad_default_path(),
                zesp_strerror(errno));
    return sad;
}

static int fail(const char *what)
{
    fprintf(stderr, "zesp: %s: %s\n", what, zesp_strerror(errno));
    return EXIT_FAILED;
}

static int parse_spi(const char *text, uint32_t *spi)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 0);
    if (errno || *end || v == 0 || v > UINT32_MAX || text[0] == '-')
        return -1;
    *spi = (uint32_t)v;
    return 0;
}

static int cmd_config(const struct options *o, int argc, char **argv,
                      int apply)
{
    char err[1024];
    zesp_sad *sad = NULL;
    int rc;

    if (argc != 1)
        return usage_error("%s: expected one FILE.yaml", apply ? "load" : "check");
    if (apply && (sad = open_sad(o, 1)) == NULL)
        return EXIT_SAD;
    rc = apply ? zesp_config_load(sad, argv[0], err, sizeof err)
               : zesp_config_check(argv[0], err, sizeof err);
    zesp_sad_free(sad);
    if (rc != 0) {
        fprintf(stderr, "zesp: %s\n", err[0] ? err : zesp_strerror(errno));
        return errno == ZESP_ECONFIG ? EXIT_CONFIG : EXIT_FAILED;
    }
    printf("%s: %s\n", argv[0], apply ? "loaded" : "valid");
    return EXIT_OK;
}

struct list_state {
    const struct options *o;
    int count;
    int stats;
};

static int list_one(const zesp_sa_info *sa, void *arg)
{
    struct list_state *st = arg;

    if (st->o->json) {
        fputs(st->count ? ",\n  " : "\n  ", stdout);
        (st->stats ? print_stats_json : print_sa_json)(stdout, sa);
    } else
        (st->stats ? print_stats_row : print_sa_row)(stdout, sa);
    st->count++;
    return 0;
}

static int policy_stats_one(const zesp_policy *p, void *arg)
{
    struct list_state *st = arg;

    if (st->o->json) {
        fputs(st->count ? ",\n  {\"name\":" : "\n  {\"name\":", stdout);
        json_string(stdout, p->name);
        fputs(",\"rejected\":", stdout);
        rejected_json(stdout, p->rejected, false);
        fputc('}', stdout);
    } else {
        printf("policy %s: ", p->name);
        rejected_text(stdout, p->rejected);
        putchar('\n');
    }
    st->count++;
    return 0;
}

static int cmd_sa_list(const struct options *o, zesp_sad *sad, int stats)
{
    struct list_state st = { o, 0, stats };
    zesp_sad_stats ss;

    if (zesp_sad_stats_get(sad, &ss) != 0)
        return fail("stats");
    if (o->json)
        fputs(stats ? "{\"sad\":{" : "[", stdout);
    if (o->json && stats) {
        printf("\"rejected_nosa\":%llu,\"rejected_malformed\":%llu,"
               "\"sas\":%u,\"capacity\":%u,\"repairs\":%llu,\"rejected\":",
               (unsigned long long)ss.rejected_nosa,
               (unsigned long long)ss.rejected_malformed, ss.sas, ss.capacity,
               (unsigned long long)ss.repairs);
        rejected_json(stdout, ss.rejected, false);
        fputs("},\"per_sa\":[", stdout);
    }
    if (!o->json)
        (stats ? print_stats_header : print_sa_header)(stdout);
    zesp_sa_foreach(sad, list_one, &st);
    if (o->json && !stats)
        fputs("\n]\n", stdout);
    if (!stats)
        return EXIT_OK;
    st.count = 0;
    if (o->json)
        fputs("\n],\"per_policy\":[", stdout);
    else
        printf("SAD: %u of %u SAs; %llu writer repairs\n"
               "rejected on this host since the SAD was made: ",
               ss.sas, ss.capacity, (unsigned long long)ss.repairs);
    if (!o->json) {
        rejected_text(stdout, ss.rejected);
        putchar('\n');
    }
    zesp_policy_foreach(sad, policy_stats_one, &st);
    if (o->json)
        fputs("\n]}\n", stdout);
    return EXIT_OK;
}

/* SPI and direction; without --dir the SPI must be there in one only. */
static int sa_target(zesp_sad *sad, int argc, char **argv, uint32_t *spi,
                     uint32_t *dir, int *show_key, uint32_t *sender)
{
    zesp_sa_info info;
    int in, out;

    *dir = 0;
    if (argc < 1 || parse_spi(argv[0], spi) != 0)
        return usage_error("expected an SPI (1 to 0xffffffff)");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            i++;
            *dir = strcmp(argv[i], "in") == 0    ? ZESP_DIR_IN
                   : strcmp(argv[i], "out") == 0 ? ZESP_DIR_OUT
                                                 : 0;
            if (*dir == 0)
                return usage_error("--dir takes in or out");
        } else if (show_key && strcmp(argv[i], "--key") == 0)
            *show_key = 1;
        else if (sender && strcmp(argv[i], "--sender") == 0 && i + 1 < argc) {
            uint32_t v;
            /* Sender IDs are 1..0xffff: the SPI parser's range, checked. */
            if (parse_spi(argv[++i], &v) != 0 || v > ZESP_SENDER_ID_MAX)
                return usage_error("--sender takes a Sender ID (1 to 65535)");
            *sender = v;
        }
        else
            return usage_error("unknown argument '%s'", argv[i]);
    }
    if (*dir)
        return EXIT_OK;
    in = zesp_sa_info_get(sad, *spi, ZESP_DIR_IN, &info) == 0;
    out = zesp_sa_info_get(sad, *spi, ZESP_DIR_OUT, &info) == 0;
    if (in && out)
        return usage_error("SPI 0x%08x exists in both directions: add --dir",
                           *spi);
    *dir = out ? ZESP_DIR_OUT : ZESP_DIR_IN;
    return EXIT_OK;
}

static int cmd_sa(const struct options *o, zesp_sad *sad, int argc,
                  char **argv)
{
    zesp_sa_info info;
    uint32_t spi, dir, sender = 0;
    int show_key = 0, rc;

    if (argc < 1)
        return usage_error("sa: expected list, show or del");
    if (strcmp(argv[0], "list") == 0)
        return argc == 1 ? cmd_sa_list(o, sad, 0)
                         : usage_error("sa list takes no argument");
    if (strcmp(argv[0], "show") == 0) {
        if ((rc = sa_target(sad, argc - 1, argv + 1, &spi, &dir, &show_key,
                            &sender)))
            return rc;
        if ((sender ? zesp_sa_info_get_sender(sad, spi, dir, sender, &info)
                    : zesp_sa_info_get(sad, spi, dir, &info)) != 0)
            return fail(argv[1]);
        if (o->json)
            print_sa_json(stdout, &info), putchar('\n');
        else
            print_sa_detail(stdout, &info);
        if (show_key) {
            uint8_t key[ZESP_KEYBYTES];
            char hex[2 * ZESP_KEYBYTES + 1];
            if (zesp_sa_key_get(sad, spi, dir, key) != 0)
                return fail("key");
            printf("  %-16s hex:%s\n", "key",
                   sodium_bin2hex(hex, sizeof hex, key, sizeof key));
            sodium_memzero(key, sizeof key);
            sodium_memzero(hex, sizeof hex);
        }
        return EXIT_OK;
    }
    if (strcmp(argv[0], "del") == 0) {
        if ((rc = sa_target(sad, argc - 1, argv + 1, &spi, &dir, NULL, NULL)))
            return rc;
        if (zesp_sa_del(sad, spi, dir) != 0)
            return fail(argv[1]);
        return EXIT_OK;
    }
    return usage_error("sa: unknown command '%s'", argv[0]);
}

static int policy_one(const zesp_policy *p, void *arg)
{
    struct list_state *st = arg;

    if (st->o->json) {
        fputs(st->count ? ",\n  " : "\n  ", stdout);
        print_policy_json(stdout, p);
    } else
        print_policy_row(stdout, p);
    st->count++;
    return 0;
}

static int cmd_policy(const struct options *o, zesp_sad *sad, int argc,
                      char **argv)
{
    struct list_state st = { o, 0, 0 };

    if (argc != 1 || strcmp(argv[0], "list") != 0)
        return usage_error("policy: expected list");
    if (o->json)
        putchar('[');
    else
        printf("%-24s %-16s %-10s %s\n", "NAME", "PEER", "OUT", "IN");
    zesp_policy_foreach(sad, policy_one, &st);
    if (o->json)
        fputs("\n]\n", stdout);
    return EXIT_OK;
}

/* Commands that work on an existing SAD. */
static int with_sad(const struct options *o, const char *cmd, int argc,
                    char **argv)
{
    zesp_sad *sad = open_sad(o, 0);
    int rc;

    if (sad == NULL)
        return EXIT_SAD;
    if (strcmp(cmd, "sa") == 0)
        rc = cmd_sa(o, sad, argc, argv);
    else if (strcmp(cmd, "policy") == 0)
        rc = cmd_policy(o, sad, argc, argv);
    else if (strcmp(cmd, "stats") == 0)
        rc = argc ? usage_error("stats takes no argument")
                  : cmd_sa_list(o, sad, 1);
    else if (strcmp(cmd, "flush") == 0)
        rc = argc ? usage_error("flush takes no argument")
             : zesp_sad_flush(sad) ? fail("flush") : EXIT_OK;
    else {
        int n = argc ? -1 : zesp_sad_expire(sad);
        rc = argc ? usage_error("expire takes no argument")
             : n < 0 ? fail("expire") : (printf("%d SAs expired\n", n), 0);
    }
    zesp_sad_free(sad);
    return rc;
}

/* The version, and the transforms this host can run: what a manually
 * keyed SA may name on it (doc/configuration.md, "Which transform"). */
static int print_version(void)
{
    static const uint32_t ids[] = { ZESP_CHACHA20_POLY1305, ZESP_AES256GCM,
                                    ZESP_NULL_AES256GMAC,
                                    ZESP_NULL_CHACHA20_POLY1305 };

    printf("zesp %s\ntransforms on this host:", ZESP_VERSION_STRING);
    if (zesp_init() != 0)
        return EXIT_FAILED;
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++)
        if (zesp_transform_available(ids[k]))
            printf(" %s", zesp_transform_name(ids[k]));
    printf("\n");
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    struct options o = { NULL, 0, 0 };
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            return print_version();
        } else if (strcmp(argv[i], "--json") == 0)
            o.json = 1;
        else if (strcmp(argv[i], "--sad") == 0 && i + 1 < argc)
            o.sad_path = argv[++i];
        else if (strcmp(argv[i], "--group") == 0)
            o.group = 1;
        else
            return usage_error("unknown option '%s'", argv[i]);
    }
    if (i == argc)
        return usage_error("no command");
    if (zesp_init() != 0) {
        fprintf(stderr, "zesp: cannot initialise libsodium\n");
        return EXIT_FAILED;
    }
    const char *cmd = argv[i];
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(&o, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "load") == 0 || strcmp(cmd, "check") == 0)
        return cmd_config(&o, argc - i - 1, argv + i + 1, cmd[0] == 'l');
    if (strcmp(cmd, "sa") == 0 || strcmp(cmd, "policy") == 0 ||
        strcmp(cmd, "stats") == 0 || strcmp(cmd, "flush") == 0 ||
        strcmp(cmd, "expire") == 0)
        return with_sad(&o, cmd, argc - i - 1, argv + i + 1);
    return usage_error("unknown command '%s'", cmd);
}
