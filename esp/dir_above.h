/* Who may rename a directory: whoever may write the one above it. */
#ifndef ZESP_DIR_ABOVE_H
#define ZESP_DIR_ABOVE_H

#include <stdbool.h>
#include <sys/stat.h>

bool dir_above_private(int dir);
/* And who may change where its name leads: dir, opened by path. */
bool dir_path_private(const char *path, int dir);
/* Its group may write only as a trusted user's own group (a user private
 * group, umask 002), no ACL naming anyone who may: dir open, st its stat. */
bool dir_group_write_owners_only(int dir, const struct stat *st);

#endif
