/* The temporary file of a file written whole (temp_file.c). */
#ifndef ZESP_TEMP_FILE_H
#define ZESP_TEMP_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TEMP_FILE_TAG_BYTES 8U       /* random, hex in the name */
#define TEMP_FILE_SUFFIX ".new"
/* What a temporary name adds to its base: a dot, the tag, the suffix;
 * with the '\0'. */
#define TEMP_FILE_EXTRA (1U + 2U * TEMP_FILE_TAG_BYTES + sizeof TEMP_FILE_SUFFIX)

/* Make a new file for base (a name in dirfd, or a path with AT_FDCWD),
 * named BASE.<16 hex>.new into tmp, with O_CREAT | O_EXCL | O_NOFOLLOW:
 * open with access (O_WRONLY, or O_RDWR to map it), mode as given (less
 * the umask).  A descriptor, or -1 with errno (ENAMETOOLONG: tmp too
 * small). */
int temp_file_open(int dirfd, const char *base, int access, mode_t mode,
                   char *tmp, size_t tmplen);

/* Is the name's base (its first len bytes) one whose leftovers these are? */
typedef bool temp_file_base_fn(const char *name, size_t len, const void *arg);
/* The base is arg, a string: one file's leftovers. */
bool temp_file_base_is(const char *name, size_t len, const void *arg);

/* Remove the temporary files in dirfd that writers killed between create
 * and rename left: named as temp_file_open names them, of a base
 * is_base accepts, regular files of this user (in a folder others may
 * write, another's is not ours to judge; a symbolic link or a directory
 * of that name was not made by temp_file_open).  Only while no writer of
 * those bases can be at work (their lock held).  0 and *removed, or -1
 * with errno (what was removed is still counted). */
int temp_file_leftovers(int dirfd, temp_file_base_fn *is_base, const void *arg,
                        size_t *removed);

#endif
