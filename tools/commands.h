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

struct options {
    const char *sad_path;   /* NULL: $ZESP_SAD, else the default */
    const char *state_dir;  /* NULL: $ZESP_STATE_DIR, else the default */
    int json;
    int group;              /* --group: a group-shared SAD */
};

int cmd_keygen(const struct options *o, int argc, char **argv);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
