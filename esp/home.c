/*
 * The home directory of zesp's defaults (~/.zesp/sad, ~/.local/state/zesp).
 *
 * A program run setuid, setgid or with file capabilities reads no path
 * from its caller's environment (secure_getenv).  Setgid or with
 * capabilities, it still runs as its caller's user: that user's home, and
 * the SAD and records he puts there, are his files, so its effective
 * user's, trusted, while the program holds what he may not (a group's
 * SAD, what it sends).  It has no default then and names its SAD and
 * state directory.  Setuid to another user, that user's home is used,
 * which the caller does not write; root's defaults are not in a home.
 */
#include "home.h"

#include <pwd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

static bool runs_as_its_caller_privileged(void)
{
    return getauxval(AT_SECURE) != 0 && geteuid() == getuid();
}

const char *effective_home(char *buf, size_t len)
{
    const char *home = secure_getenv("HOME");
    struct passwd pw, *found = NULL;

    if (runs_as_its_caller_privileged())
        return NULL;
    if (home != NULL && home[0] == '/')
        return home;
    if (getpwuid_r(geteuid(), &pw, buf, len, &found) != 0 || found == NULL ||
        found->pw_dir == NULL)
        return NULL;
    return found->pw_dir;
}
