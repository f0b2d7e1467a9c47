/* Who may rename a directory: whoever may write the one above it. */
#ifndef ZESP_DIR_ABOVE_H
#define ZESP_DIR_ABOVE_H

#include <stdbool.h>

bool dir_above_private(int dir);
/* And who may change where its name leads: dir, opened by path. */
bool dir_path_private(const char *path, int dir);

#endif
