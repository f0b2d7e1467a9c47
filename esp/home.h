/* The home directory zesp's default paths lie in. */
#ifndef ZESP_HOME_H
#define ZESP_HOME_H

#include <stddef.h>

/* The effective user's home ($HOME, else the password database's; buf
 * holds the entry), or NULL: none, or the program runs setgid or with
 * file capabilities, as its caller's user (home.c). */
const char *effective_home(char *buf, size_t len);

#endif
