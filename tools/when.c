/* Times and sizes for people (when.h). */
#include <stdio.h>

#include "when.h"

const char *when_duration(char buf[WHEN_BYTES], uint64_t s)
{
    static const struct {
        char unit;
        uint64_t seconds;
    } units[] = { { 'd', 86400 }, { 'h', 3600 }, { 'm', 60 }, { 's', 1 } };

    for (size_t i = 0; i + 1 < sizeof units / sizeof units[0]; i++) {
        uint64_t big = s / units[i].seconds;
        uint64_t small = s % units[i].seconds / units[i + 1].seconds;
        if (big == 0)
            continue;
        if (small == 0)
            snprintf(buf, WHEN_BYTES, "%llu%c", (unsigned long long)big,
                     units[i].unit);
        else
            snprintf(buf, WHEN_BYTES, "%llu%c %llu%c",
                     (unsigned long long)big, units[i].unit,
                     (unsigned long long)small, units[i + 1].unit);
        return buf;
    }
    snprintf(buf, WHEN_BYTES, "%llus", (unsigned long long)s);
    return buf;
}

const char *when_iso8601(char buf[WHEN_BYTES], time_t t)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, WHEN_BYTES, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, WHEN_BYTES, "(time unknown)");
    return buf;
}

const char *when_bytes(char buf[WHEN_BYTES], uint64_t bytes)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB",
                                         "EiB" };
    double v = (double)bytes;
    size_t i = 0;

    if (bytes < 1024) {
        snprintf(buf, WHEN_BYTES, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    for (v /= 1024; v >= 1024 && i + 1 < sizeof units / sizeof units[0]; i++)
        v /= 1024;
    snprintf(buf, WHEN_BYTES, v < 10 ? "%.1f %s" : "%.0f %s", v, units[i]);
    return buf;
}
