/* The zesp tool's commands, and what they share. */
#ifndef ZESP_TOOL_COMMANDS_H
#define ZESP_TOOL_COMMANDS_H

#include <zesp.h>

/* Exit codes (doc/zesp.1). */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_CONFIG = 3,
    EXIT_SAD = 4,
};

/* The options only some commands take, as bits of options.given. */
enum {
    OPT_DIR = 1U << 0,
    OPT_SENDER = 1U << 1,
    OPT_KEY = 1U << 2,
    OPT_Z85 = 1U << 3,
    OPT_OUT = 1U << 4,
    OPT_IDENTITY = 1U << 5,
    OPT_OPENMETRICS = 1U << 6,
    OPT_CAPACITY = 1U << 7,
};

struct options {
    const char *sad_path;   /* NULL: $ZESP_SAD, else the default */
    const char *state_dir;  /* NULL: $ZESP_STATE_DIR, else the default */
    int json;
    int group;              /* --group: a group-shared SAD */
    const char *dir;        /* sa show, sa del: --dir in|out */
    const char *sender;     /* sa show: --sender ID */
    int key;                /* sa show: --key */
    int z85;                /* keygen */
    const char *out;        /* keygen: --out FILE */
    const char *identity;   /* keygen: --identity NAME */
    int openmetrics;        /* stats: --openmetrics */
    uint32_t capacity;      /* load: --capacity N, a new SAD's slots */
    unsigned given;         /* OPT_ bits of the options given */
};

int cmd_keygen(const struct options *o);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error: cmd does not take the first option of mask. */
int not_an_option_of(const char *cmd, unsigned mask);

#endif
