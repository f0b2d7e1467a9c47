/* Which process, of those a fork makes, this is (fork_gen.c). */
#ifndef ZESP_FORK_GEN_H
#define ZESP_FORK_GEN_H

#include <stdint.h>

/* From the first call on, every child fork() makes has a generation of
 * its own.  Called before a SAD handle notes its generation: 0, or -1 if
 * the handler could not be registered (no handle may be made then). */
int fork_gen_watch(void);
/* This process's generation: a handle whose generation differs was made
 * in (or opened its file for) a parent. */
uint32_t fork_gen_now(void);

#endif
