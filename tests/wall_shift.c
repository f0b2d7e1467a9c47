/*
 * LD_PRELOAD for a daemon under test: its wall clock stepped, as an NTP
 * step or `date -s` would, without touching the host's.  The seconds to
 * add are read, at each call, from the file named by WALL_SHIFT_FILE (no
 * file, or no number: none).  The monotonic clocks are left alone.
 * "fail N" in it instead: CLOCK_REALTIME cannot be read (-1, EINVAL), and
 * the timespec is left holding N seconds, as a failed call leaves whatever
 * was there (tests/test_gcks_state_clock.sh).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

/* The seconds to add; *fail set when the file says "fail N". */
static long wall_shift(int *fail)
{
    const char *path = getenv("WALL_SHIFT_FILE");
    long s = 0;
    FILE *f;

    *fail = 0;
    if (path == NULL || (f = fopen(path, "re")) == NULL)
        return 0;
    if (fscanf(f, " fail %ld", &s) == 1)
        *fail = 1;
    else if (fseek(f, 0, SEEK_SET) != 0 || fscanf(f, "%ld", &s) != 1)
        s = 0;
    fclose(f);
    return s;
}

static int is_wall(clockid_t id)
{
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int rc;

    if (real == NULL)
        *(void **)&real = dlsym(RTLD_NEXT, "clock_gettime");
    if (real == NULL)
        return -1;
    rc = real(id, ts);
    if (rc == 0 && is_wall(id)) {
        int fail;
        long s = wall_shift(&fail);

        if (fail && id == CLOCK_REALTIME) {
            ts->tv_sec = s;
            ts->tv_nsec = 0;
            errno = EINVAL;
            return -1;
        }
        ts->tv_sec += fail ? 0 : s;
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;

    (void)tz;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (t != NULL)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
