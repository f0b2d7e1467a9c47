/*
 * zesp: the SA database from the command line.  See doc/zesp.1.
 *
 *   zesp [--sad PATH] [--group] [--state-dir DIR] [--json] COMMAND [ARGS]
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "commands.h"
#include "openmetrics.h"
#include "output.h"

static const char usage_text[] =
    "usage: zesp [--sad PATH] [--group] [--state-dir DIR] [--json] COMMAND\n"
    "            [ARGS]\n"
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
    "  stats [--openmetrics]         per-SA counters, each rejection apart\n"
    "                                (--openmetrics: for Prometheus)\n"
    "  expire                        remove SAs past a hard lifetime\n"
    "  flush                         remove every SA and policy\n"
    "  state init                    make the state directory where manual\n"
    "                                keys' sequence records are kept\n"
    "\n"
    "SAD: --sad PATH, else $ZESP_SAD, else the default path; --group: a\n"
    "SAD its group shares (made 0660; one of mode 0660 accepted).\n"
    "State directory: --state-dir DIR, else $ZESP_STATE_DIR, else the YAML\n"
    "file's state_dir, else /var/lib/zesp (root) or ~/.local/state/zesp.\n"
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
    if (apply && o->state_dir && zesp_sad_set_state_dir(sad, o->state_dir)) {
        zesp_sad_free(sad);
        return fail(o->state_dir);
    }
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
    struct json j;
    int stats;
    unsigned n;             /* listed */
};

static int list_one(const zesp_sa_info *sa, void *arg)
{
    struct list_state *st = arg;

    st->n++;
    if (st->o->json)
        (st->stats ? print_stats_json : print_sa_json)(&st->j, sa);
    else
        (st->stats ? print_stats_row : print_sa_row)(stdout, sa);
    return 0;
}

/* A policy's refusals, which outlive its SAs. */
static int policy_stats_one(const zesp_policy *p, void *arg)
{
    struct list_state *st = arg;

    if (st->o->json) {
        json_object(&st->j, NULL);
        json_str(&st->j, "name", p->name);
        rejected_json(&st->j, "rejected", p->rejected, false);
        json_end(&st->j, '}');
    } else {
        printf("policy %s: ", p->name);
        rejected_text(stdout, p->rejected);
        putchar('\n');
    }
    return 0;
}

static int cmd_sa_list(const struct options *o, zesp_sad *sad, int stats)
{
    struct list_state st = { .o = o, .stats = stats };
    zesp_sad_stats ss;

    if (zesp_sad_stats_get(sad, &ss) != 0)
        return fail("stats");
    json_init(&st.j, stdout);
    if (o->json && stats) {
        json_object(&st.j, NULL);
        json_object(&st.j, "sad");
        json_u64(&st.j, "rejected_nosa", ss.rejected_nosa);
        json_u64(&st.j, "rejected_malformed", ss.rejected_malformed);
        json_u64(&st.j, "sas", ss.sas);
        json_u64(&st.j, "capacity", ss.capacity);
        json_u64(&st.j, "repairs", ss.repairs);
        rejected_json(&st.j, "rejected", ss.rejected, false);
        json_end(&st.j, '}');
    }
    if (o->json)
        json_array(&st.j, stats ? "per_sa" : NULL);
    else
        (stats ? print_stats_header : print_sa_header)(stdout);
    zesp_sa_foreach(sad, list_one, &st);
    if (o->json)
        json_end(&st.j, ']');
    else if (st.n == 0)
        puts("no SAs");
    if (stats && o->json) {
        json_array(&st.j, "per_policy");
        zesp_policy_foreach(sad, policy_stats_one, &st);
        json_end(&st.j, ']');
        json_end(&st.j, '}');
    } else if (stats) {
        printf("SAD: %u of %u SAs; %llu writer repairs\n"
               "rejected on this host since the SAD was made: ", ss.sas,
               ss.capacity, (unsigned long long)ss.repairs);
        rejected_text(stdout, ss.rejected);
        putchar('\n');
        zesp_policy_foreach(sad, policy_stats_one, &st);
    }
    if (o->json)
        putchar('\n');
    return EXIT_OK;
}

/* The same counters for Prometheus (a textfile collector, or a scrape of
 * zike's metrics endpoint, which serves them too). */
static int cmd_openmetrics(zesp_sad *sad)
{
    if (om_sad(stdout, sad) != 0)
        return fail("stats");
    om_eof(stdout);
    return fflush(stdout) == 0 ? EXIT_OK : fail("stdout");
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
        if (o->json) {
            struct json j;
            json_init(&j, stdout);
            print_sa_json(&j, &info);
            putchar('\n');
        }
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

    st->n++;
    if (st->o->json)
        print_policy_json(&st->j, p);
    else
        print_policy_row(stdout, p);
    return 0;
}

static int cmd_policy(const struct options *o, zesp_sad *sad, int argc,
                      char **argv)
{
    struct list_state st = { .o = o };

    if (argc != 1 || strcmp(argv[0], "list") != 0)
        return usage_error("policy: expected list");
    json_init(&st.j, stdout);
    if (o->json)
        json_array(&st.j, NULL);
    else
        printf("%-24s %-16s %-10s %s\n", "NAME", "PEER", "OUT", "IN");
    zesp_policy_foreach(sad, policy_one, &st);
    if (o->json) {
        json_end(&st.j, ']');
        putchar('\n');
    } else if (st.n == 0) {
        puts("no policies");
    }
    return EXIT_OK;
}

/* The state directory: made once, before the first manual key is loaded;
 * never made implicitly (a lost one must not restart the numbering). */
static int cmd_state(const struct options *o, int argc, char **argv)
{
    const char *dir = o->state_dir ? o->state_dir : zesp_state_dir_default();

    if (argc != 1 || strcmp(argv[0], "init") != 0)
        return usage_error("state: expected init");
    if (zesp_state_dir_init(dir) != 0)
        return fail(dir[0] ? dir : "state directory");
    printf("%s: ready for manual keys' sequence records\n", dir);
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
        rc = argc == 0 ? cmd_sa_list(o, sad, 1)
             : argc == 1 && strcmp(argv[0], "--openmetrics") == 0
                 ? cmd_openmetrics(sad)
                 : usage_error("stats takes no argument but --openmetrics");
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

int main(int argc, char **argv)
{
    struct options o = { NULL, NULL, 0, 0 };
    int i = 1;

    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("zesp %s\n", ZESP_VERSION_STRING);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0)
            o.json = 1;
        else if (strcmp(argv[i], "--sad") == 0 && i + 1 < argc)
            o.sad_path = argv[++i];
        else if (strcmp(argv[i], "--group") == 0)
            o.group = 1;
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            o.state_dir = argv[++i];
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
    if (strcmp(cmd, "state") == 0)
        return cmd_state(&o, argc - i - 1, argv + i + 1);
    if (strcmp(cmd, "load") == 0 || strcmp(cmd, "check") == 0)
        return cmd_config(&o, argc - i - 1, argv + i + 1, cmd[0] == 'l');
    if (strcmp(cmd, "sa") == 0 || strcmp(cmd, "policy") == 0 ||
        strcmp(cmd, "stats") == 0 || strcmp(cmd, "flush") == 0 ||
        strcmp(cmd, "expire") == 0)
        return with_sad(&o, cmd, argc - i - 1, argv + i + 1);
    return usage_error("unknown command '%s'", cmd);
}
