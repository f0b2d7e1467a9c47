/*
 * zesp: the SA database from the command line.  See doc/zesp.1.
 *
 *   zesp [--sad PATH] [--group] [--state-dir DIR] [--json] COMMAND [ARGS]
 *        (load also takes --capacity N)
 *
 * Options may come anywhere (GNU getopt_long permutes argv).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "commands.h"
#include "openmetrics.h"
#include "output.h"
#include "safe_text.h"
#include "std_streams.h"

static const char usage_text[] =
    "usage: zesp [--sad PATH] [--group] [--state-dir DIR] [--json] COMMAND\n"
    "            [ARGS]\n"
    "Options may come before or after the command.\n"
    "\n"
    "commands:\n"
    "  keygen [--z85] [--out FILE]   new SA key material (36 octets)\n"
    "  keygen --identity NAME        new Ed25519 identity: NAME.key, NAME.pub\n"
    "  load [--capacity N] FILE.yaml install the SAs and policies of FILE\n"
    "                                (--capacity: a new SAD's SA slots)\n"
    "  check FILE.yaml               check FILE as load would, change nothing\n"
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
    "SPI: 8 hex digits, 0x optional (0x00a11ce1, a11ce1).\n"
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

/* The SAD's path: --sad, else $ZESP_SAD, else the YAML file's sad:
 * (load), else the library's default (NULL). */
static const char *sad_path_of(const struct options *o, const char *file_path)
{
    const char *env = secure_getenv("ZESP_SAD");

    if (o->sad_path)
        return o->sad_path;
    return (env && *env) || !file_path || !*file_path ? NULL : file_path;
}

/* The SAD with the file's mode and group, or --group's 0660. */
static zesp_sad *try_open_sad(const struct options *o, int create,
                              const char *file_path, zesp_sad_opts *opts)
{
    if (o->group && opts->mode == 0)
        opts->mode = 0660;
    return zesp_sad_open(sad_path_of(o, file_path),
                         (create ? ZESP_SAD_CREATE : 0) |
                             (o->group || (opts->mode & 060)
                                  ? ZESP_SAD_GROUP : 0),
                         opts);
}

static void sad_failed(const struct options *o, const char *file_path)
{
    const char *path = sad_path_of(o, file_path);

    fprintf(stderr, "zesp: SAD %s: %s\n",
            path ? path : zesp_sad_default_path(), zesp_strerror(errno));
}

static zesp_sad *open_sad_as(const struct options *o, int create,
                             const char *file_path, zesp_sad_opts *opts)
{
    zesp_sad *sad = try_open_sad(o, create, file_path, opts);

    if (sad == NULL)
        sad_failed(o, file_path);
    return sad;
}

static zesp_sad *open_sad(const struct options *o, int create)
{
    zesp_sad_opts opts;

    memset(&opts, 0, sizeof opts);
    return open_sad_as(o, create, NULL, &opts);
}

/* A configuration error, as the loader writes it. */
#define CONFIG_ERR_BYTES 1024

/* The message quotes the file's keys and values: escaped, as any text
 * from elsewhere (a "\r" or ESC [ in a key would write over the line). */
static int config_failed(const char *err)
{
    int e = errno;
    char safe[SAFE_TEXT_BYTES(CONFIG_ERR_BYTES)];

    fprintf(stderr, "zesp: %s\n", err[0] ? safe_text(safe, sizeof safe, err)
                                          : zesp_strerror(e));
    return e == ZESP_ECONFIG ? EXIT_CONFIG : EXIT_FAILED;
}

static int fail(const char *what)
{
    fprintf(stderr, "zesp: %s: %s\n", what, zesp_strerror(errno));
    return EXIT_FAILED;
}

/* An SPI as every zesp tool prints it (0x and 8 hex digits), with or
 * without the 0x. */
static int parse_spi(const char *text, uint32_t *spi)
{
    const char *hex = text;
    size_t len;

    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X'))
        hex += 2;
    len = strlen(hex);
    if (len == 0 || len > 8 || strspn(hex, "0123456789abcdefABCDEF") != len)
        return -1;
    *spi = (uint32_t)strtoul(hex, NULL, 16);
    return *spi != 0 ? 0 : -1;
}

/* A number in decimal digits alone, 1 to max. */
static int parse_decimal(const char *text, unsigned long max, uint32_t *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (errno || *end || text[0] < '0' || text[0] > '9' || v == 0 || v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_sender(const char *text, uint32_t *sender)
{
    return parse_decimal(text, ZESP_SENDER_ID_MAX, sender);
}

/* The SAD's slots are fixed when it is made: an existing one with other
 * than the number asked for (--capacity, the file's sad.capacity) is
 * refused before anything is loaded, rather than fill up later. */
static int capacity_refused(zesp_sad *sad, const struct options *o,
                            const char *file_path, const zesp_sad_opts *opts)
{
    const char *path = sad_path_of(o, file_path);
    zesp_sad_stats ss;

    if (opts->capacity == 0)
        return 0;
    if (zesp_sad_stats_get(sad, &ss) != 0) {
        sad_failed(o, file_path);
        return 1;
    }
    if (ss.capacity == opts->capacity)
        return 0;
    fprintf(stderr, "zesp: SAD %s has %u SA slots, not the %u asked for "
            "(%s): a SAD's capacity is fixed when it is made; to change it, "
            "stop zike and the programs using it, remove the file and load "
            "again. Nothing loaded\n", path ? path : zesp_sad_default_path(),
            ss.capacity, opts->capacity,
            o->capacity ? "--capacity" : "sad.capacity");
    return 1;
}

/* load makes a SAD only for a file that a new SAD would take whole:
 * checked first, so that a missing or bad file leaves nothing behind. */
static int cmd_config(const struct options *o, int argc, char **argv,
                      int apply)
{
    char err[CONFIG_ERR_BYTES], sad_path[4096];
    zesp_sad_opts opts;
    zesp_sad *sad = NULL;
    int rc;

    if (argc != 1)
        return usage_error("%s: expected one FILE.yaml", apply ? "load" : "check");
    memset(&opts, 0, sizeof opts);
    if (!apply) {
        if (zesp_config_check(argv[0], err, sizeof err) != 0)
            return config_failed(err);
    } else {
        if (zesp_config_sad(argv[0], sad_path, sizeof sad_path, &opts, err,
                            sizeof err) != 0)
            return config_failed(err);
        if (o->capacity)
            opts.capacity = o->capacity;
        /* A new SAD takes the whole file: checked before it is made. */
        if ((sad = try_open_sad(o, 0, sad_path, &opts)) == NULL) {
            if (errno != ENOENT) {
                sad_failed(o, sad_path);
                return EXIT_SAD;
            }
            if (zesp_config_check(argv[0], err, sizeof err) != 0)
                return config_failed(err);
        } else if (capacity_refused(sad, o, sad_path, &opts)) {
            zesp_sad_free(sad);
            return EXIT_SAD;
        }
        /* Opened (again) to make it, or set its mode and group. */
        zesp_sad_free(sad);
        if ((sad = open_sad_as(o, 1, sad_path, &opts)) == NULL)
            return EXIT_SAD;
        if (capacity_refused(sad, o, sad_path, &opts)) {   /* made meanwhile */
            zesp_sad_free(sad);
            return EXIT_SAD;
        }
    }
    if (apply && o->state_dir && zesp_sad_set_state_dir(sad, o->state_dir)) {
        zesp_sad_free(sad);
        return fail(o->state_dir);
    }
    rc = apply ? zesp_config_load(sad, argv[0], err, sizeof err) : 0;
    zesp_sad_free(sad);
    if (rc != 0)
        return config_failed(err);
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
        char name[SAFE_TEXT_BYTES(sizeof p->name)];
        printf("policy %s: ", safe_text(name, sizeof name, p->name));
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
    return EXIT_OK;
}

/* SPI and direction; without --dir the SPI must be there in one only. */
static int sa_target(const struct options *o, zesp_sad *sad, int argc,
                     char **argv, uint32_t *spi, uint32_t *dir)
{
    zesp_sa_info info;
    int in, out;

    if (argc < 1 || parse_spi(argv[0], spi) != 0)
        return usage_error("expected an SPI (8 hex digits, 0x optional)");
    if (argc > 1)
        return usage_error("unexpected '%s'", argv[1]);
    *dir = 0;
    if (o->dir != NULL) {
        *dir = strcmp(o->dir, "in") == 0    ? ZESP_DIR_IN
               : strcmp(o->dir, "out") == 0 ? ZESP_DIR_OUT
                                            : 0;
        return *dir ? EXIT_OK : usage_error("--dir takes in or out");
    }
    in = zesp_sa_info_get(sad, *spi, ZESP_DIR_IN, &info) == 0;
    out = zesp_sa_info_get(sad, *spi, ZESP_DIR_OUT, &info) == 0;
    if (in && out)
        return usage_error("SPI 0x%08x exists in both directions: add --dir",
                           *spi);
    *dir = out ? ZESP_DIR_OUT : ZESP_DIR_IN;
    return EXIT_OK;
}

static int cmd_sa_show(const struct options *o, zesp_sad *sad, int argc,
                       char **argv)
{
    zesp_sa_info info;
    uint32_t spi, dir, sender = 0;
    int rc;

    if (o->sender && parse_sender(o->sender, &sender) != 0)
        return usage_error("--sender takes a Sender ID (1 to %u)",
                           ZESP_SENDER_ID_MAX);
    if ((rc = sa_target(o, sad, argc, argv, &spi, &dir)))
        return rc;
    if ((sender ? zesp_sa_info_get_sender(sad, spi, dir, sender, &info)
                : zesp_sa_info_get(sad, spi, dir, &info)) != 0) {
        /* The SA is there, the Sender ID is not: say that, not "no SA". */
        if (sender && errno == ZESP_ENOSA &&
            zesp_sa_info_get(sad, spi, dir, &info) == 0) {
            fprintf(stderr, "zesp: %s: SPI 0x%08x %s has no Sender ID %u "
                    "(zesp sa list shows its senders)\n", argv[0], spi,
                    dir == ZESP_DIR_IN ? "in" : "out", sender);
            return EXIT_FAILED;
        }
        return fail(argv[0]);
    }
    if (o->json) {
        struct json j;
        json_init(&j, stdout);
        print_sa_json(&j, &info);
        putchar('\n');
    } else {
        print_sa_detail(stdout, &info);
    }
    if (o->key) {
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

static int cmd_sa(const struct options *o, zesp_sad *sad, int argc,
                  char **argv)
{
    uint32_t spi, dir;
    int rc;

    if (argc < 1)
        return usage_error("sa: expected list, show or del");
    if (strcmp(argv[0], "list") == 0) {
        if (o->given)
            return not_an_option_of("sa list", o->given);
        return argc == 1 ? cmd_sa_list(o, sad, 0)
                         : usage_error("sa list takes no argument");
    }
    if (strcmp(argv[0], "show") == 0)
        return cmd_sa_show(o, sad, argc - 1, argv + 1);
    if (strcmp(argv[0], "del") == 0) {
        if (o->given & ~OPT_DIR)
            return not_an_option_of("sa del", o->given & ~OPT_DIR);
        if ((rc = sa_target(o, sad, argc - 1, argv + 1, &spi, &dir)))
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
    zesp_sad *sad;
    int rc;

    /* Two formats asked for: neither is chosen silently. */
    if (strcmp(cmd, "stats") == 0 && o->openmetrics && o->json)
        return usage_error("stats: --openmetrics and --json are two "
                           "formats; give one");
    if ((sad = open_sad(o, 0)) == NULL)
        return EXIT_SAD;
    if (strcmp(cmd, "sa") == 0)
        rc = cmd_sa(o, sad, argc, argv);
    else if (strcmp(cmd, "policy") == 0)
        rc = cmd_policy(o, sad, argc, argv);
    else if (strcmp(cmd, "stats") == 0)
        rc = argc ? usage_error("stats takes no argument")
             : o->openmetrics ? cmd_openmetrics(sad)
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

/* Every option, before or after the command (GNU getopt permutes); a
 * command refuses those that are not its own. */
static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "sad", required_argument, NULL, 'S' },
    { "group", no_argument, NULL, 'G' },
    { "state-dir", required_argument, NULL, 'T' },
    { "json", no_argument, NULL, 'j' },
    { "dir", required_argument, NULL, 'd' },
    { "sender", required_argument, NULL, 'n' },
    { "key", no_argument, NULL, 'k' },
    { "z85", no_argument, NULL, 'z' },
    { "out", required_argument, NULL, 'o' },
    { "identity", required_argument, NULL, 'i' },
    { "openmetrics", no_argument, NULL, 'm' },
    { "capacity", required_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
};

static const struct {
    const char *name;
    unsigned options;          /* OPT_ bits it takes */
} commands[] = {
    { "keygen", OPT_Z85 | OPT_OUT | OPT_IDENTITY },
    { "load", OPT_CAPACITY }, { "check", 0 }, { "state", 0 },
    { "sa", OPT_DIR | OPT_SENDER | OPT_KEY },
    { "policy", 0 }, { "stats", OPT_OPENMETRICS }, { "expire", 0 },
    { "flush", 0 },
};

static unsigned option_bit(int opt)
{
    switch (opt) {
    case 'd': return OPT_DIR;
    case 'n': return OPT_SENDER;
    case 'k': return OPT_KEY;
    case 'z': return OPT_Z85;
    case 'o': return OPT_OUT;
    case 'i': return OPT_IDENTITY;
    case 'm': return OPT_OPENMETRICS;
    case 'c': return OPT_CAPACITY;
    default: return 0;
    }
}

/* The first of the options in mask, for an error. */
int not_an_option_of(const char *cmd, unsigned mask)
{
    const struct option *lo = longopts;

    while (lo->name && !(option_bit(lo->val) & mask))
        lo++;
    return usage_error("%s takes no --%s", cmd, lo->name ? lo->name : "?");
}

/* A new SAD's SA slots: decimal without a leading 0, 1 to
 * ZESP_SAD_CAPACITY_MAX. */
static int parse_capacity(const char *text, uint32_t *slots)
{
    return text[0] == '0' ? -1
                          : parse_decimal(text, ZESP_SAD_CAPACITY_MAX, slots);
}

/* Options into o; -1 with the exit code in *rc when done or refused. */
static int parse_options(int argc, char **argv, struct options *o, int *rc,
                         const char **cmd)
{
    int opt;

    while ((opt = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
        o->given |= option_bit(opt);
        switch (opt) {
        case 'h': fputs(usage_text, stdout); *rc = EXIT_OK; *cmd = "--help";
                  return -1;
        case 'V': *rc = print_version(); *cmd = "--version";
                  return -1;
        case 'S': o->sad_path = optarg; break;
        case 'G': o->group = 1; break;
        case 'T': o->state_dir = optarg; break;
        case 'j': o->json = 1; break;
        case 'd': o->dir = optarg; break;
        case 'n': o->sender = optarg; break;
        case 'k': o->key = 1; break;
        case 'z': o->z85 = 1; break;
        case 'o': o->out = optarg; break;
        case 'i': o->identity = optarg; break;
        case 'm': o->openmetrics = 1; break;
        case 'c':
            if (parse_capacity(optarg, &o->capacity) != 0) {
                *rc = usage_error("--capacity takes a number of SA slots, "
                                  "1 to %u (not '%s')",
                                  ZESP_SAD_CAPACITY_MAX, optarg);
                return -1;
            }
            break;
        default:   /* getopt said what was wrong */
            fputs("(zesp --help for usage)\n", stderr);
            *rc = EXIT_USAGE;
            return -1;
        }
    }
    return 0;
}

/* The command named by argv after the options. */
static int run(struct options *o, int argc, char **argv, const char **cmd)
{
    size_t k;
    int nargs;
    char **args;

    if (optind == argc)
        return usage_error("no command");
    *cmd = argv[optind];
    args = argv + optind + 1;
    nargs = argc - optind - 1;
    for (k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(*cmd, commands[k].name) == 0)
            break;
    if (k == sizeof commands / sizeof commands[0])
        return usage_error("unknown command '%s'", *cmd);
    if (o->given & ~commands[k].options)
        return not_an_option_of(*cmd, o->given & ~commands[k].options);
    if (zesp_init() != 0) {
        fprintf(stderr, "zesp: cannot initialise libsodium\n");
        return EXIT_FAILED;
    }
    if (strcmp(*cmd, "keygen") == 0)
        return nargs ? usage_error("keygen: unexpected '%s'", args[0])
               : o->identity && (o->given & (OPT_Z85 | OPT_OUT))
                   ? usage_error("keygen --identity takes no --z85 or --out")
                   : cmd_keygen(o);
    if (strcmp(*cmd, "state") == 0)
        return cmd_state(o, nargs, args);
    if (strcmp(*cmd, "load") == 0 || strcmp(*cmd, "check") == 0)
        return cmd_config(o, nargs, args, (*cmd)[0] == 'l');
    return with_sad(o, *cmd, nargs, args);
}

int main(int argc, char **argv)
{
    struct options o;
    const char *cmd = "zesp";
    int rc;

    if (std_fds_open() != 0)
        return EXIT_FAILED;
    memset(&o, 0, sizeof o);
    argv[0] = (char *)"zesp";     /* getopt's messages begin with it */
    if (parse_options(argc, argv, &o, &rc, &cmd) == 0)
        rc = run(&o, argc, argv, &cmd);
    /* Every command's output checked once, here (keygen's before it
     * keeps its files): a listing cut short by a full disk is not a
     * listing.  A command that failed has said why. */
    if (rc == EXIT_OK && stdout_done("zesp", cmd) != 0)
        rc = EXIT_FAILED;
    return rc;
}
