/*
 * zike's log: one line per event on stderr.  In a file or on a terminal a
 * line has its time (ISO 8601, UTC, milliseconds), the pid and the level.
 * When stderr is the journal (systemd sets JOURNAL_STREAM to the stream's
 * device:inode, systemd.exec(5)), a line starts instead with its syslog
 * priority, "<4>", which journald reads as the entry's priority
 * (sd-daemon(3)), so that journalctl -p filters it; the journal records
 * the time and the pid itself.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "safe_text.h"
#include "zike.h"

int zike_log_level = LOG_INFO;
bool zike_log_verbose;

/* Is stderr the stream JOURNAL_STREAM names?  A child whose stderr was
 * redirected inherits the variable, so the stream itself must match. */
static bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    uintmax_t dev, ino;
    struct stat st;
    int end = 0;

    if (env == NULL ||
        sscanf(env, "%ju:%ju%n", &dev, &ino, &end) != 2 || env[end] != '\0' ||
        fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

/* "2026-12-01T12:34:56.177Z" */
static void iso_time(char *out, size_t len)
{
    struct timespec ts;
    struct tm tm;
    char sec[32];

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        ts = (struct timespec){ 0 };   /* 1970: read as "no clock" */
    if (gmtime_r(&ts.tv_sec, &tm) == NULL ||
        strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(sec, sizeof sec, "%lld", (long long)ts.tv_sec);
    snprintf(out, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
}

void zike_log(int level, const char *fmt, ...)
{
    static const char *const names[] = { "emerg", "alert", "crit", "error",
                                         "warning", "notice", "info",
                                         "debug" };
    static int journal = -1;
    char line[1024], safe[SAFE_TEXT_BYTES(sizeof line)], when[64];
    va_list ap;

    if (level > zike_log_level)
        return;
    if (journal < 0)
        journal = stderr_is_journal();
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* A line may carry bytes from the network (an identity, a name): a
     * line feed among them would start a line, or a journal entry, of the
     * sender's own; an escape sequence would speak to the terminal. */
    safe_text(safe, sizeof safe, line);
    if (journal) {
        fprintf(stderr, "<%d>%s: %s\n", level & 7, names[level & 7], safe);
        return;
    }
    iso_time(when, sizeof when);
    fprintf(stderr, "%s zike[%d] %s: %s\n", when, (int)getpid(),
            names[level & 7], safe);
}
