/* A fuzz target's own scratch folder, emptied after each input and gone
 * at exit (atexit takes no argument: each target wraps these). */
#ifndef ZESP_FUZZ_SCRATCH_DIR_H
#define ZESP_FUZZ_SCRATCH_DIR_H

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

static inline void fuzz_dir_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
}

static inline void fuzz_dir_remove(const char *path)
{
    fuzz_dir_empty(path);
    rmdir(path);
}

#endif
