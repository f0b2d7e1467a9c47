/* zike's log: one line per event on stderr, with time, pid and level. */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "zike.h"

int zike_log_level = LOG_INFO;

void zike_log(int level, const char *fmt, ...)
{
    static const char *const names[] = { "emerg", "alert", "crit", "error",
                                         "warning", "notice", "info",
                                         "debug" };
    struct timespec ts;
    char line[1024];
    va_list ap;

    if (level > zike_log_level)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%lld.%03ld zike[%d] %s: %s\n", (long long)ts.tv_sec,
            ts.tv_nsec / 1000000, (int)getpid(),
            names[level & 7], line);
}

