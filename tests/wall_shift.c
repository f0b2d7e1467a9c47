/*
 * LD_PRELOAD for a daemon under test: its wall clock stepped, as an NTP
 * step or `date -s` would, without touching the host's.  The seconds to
 * add are read, at each call, from the file named by WALL_SHIFT_FILE (no
 * file, or no number: none).  The monotonic clocks are left alone.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long wall_shift(void)
{
    const char *path = getenv("WALL_SHIFT_FILE");
    long s = 0;
    FILE *f;

    if (path == NULL || (f = fopen(path, "re")) == NULL)
        return 0;
    if (fscanf(f, "%ld", &s) != 1)
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
    if (rc == 0 && is_wall(id))
        ts->tv_sec += wall_shift();
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
