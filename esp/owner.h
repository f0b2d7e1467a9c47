/* Whose files we trust to decide keys, records and configuration: our
 * own user's, or root's (who could change them anyway). */
#ifndef ZESP_OWNER_H
#define ZESP_OWNER_H

#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

static inline bool owner_trusted(uid_t uid)
{
    return uid == geteuid() || uid == 0;
}

#endif
