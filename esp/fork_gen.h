/* Which process, of those a fork makes, this is (fork_gen.c). */
#ifndef ZESP_FORK_GEN_H
#define ZESP_FORK_GEN_H

#include <pthread.h>
#include <stdint.h>

/* From the first call on, every child has a generation of its own: one
 * fork() makes, and on Linux 4.14 or later (MADV_WIPEONFORK) one made
 * without the atfork handlers too (_Fork(), a raw clone).  Called before a
 * SAD handle notes its generation: 0, or -1 if the handler could not be
 * registered (no handle may be made then). */
int fork_gen_watch(void);
/* This process's generation: a handle whose generation differs was made
 * in (or opened its file for) a parent. */
uint32_t fork_gen_now(void);

/* The process-private locks of one SAD handle (its lanes, its own
 * windows): fork() waits until no thread holds them, so that no child
 * starts with one held by a thread it does not have. */
#define FORK_GUARD_LOCKS 2
struct fork_guard {
    pthread_mutex_t *lock[FORK_GUARD_LOCKS];
    struct fork_guard *prev, *next;
};
/* After fork_gen_watch(), the locks initialised; remove before they are
 * destroyed. */
void fork_guard_add(struct fork_guard *g);
void fork_guard_remove(struct fork_guard *g);

/* A descriptor whose locks are held for as long as any copy of it is open
 * (an flock'd state directory, seqstate.c; the lane locks of a SAD file,
 * lanes.c).  A child's copy would keep them after the parent let go, for
 * as long as the child lives: the child closes every such copy as it
 * starts, and finds f->fd -1.  Opened and listed, closed and unlisted,
 * each as one step that a fork cannot split. */
struct fork_fd {
    int fd;                      /* -1: closed, not listed */
    struct fork_fd *prev, *next;
};
/* openat(2) of path in dir (AT_FDCWD: as open(2)): f->fd, or -1 and
 * errno. */
int fork_fd_open(struct fork_fd *f, int dir, const char *path, int flags);
/* Closes f->fd if open (not if -1). */
void fork_fd_close(struct fork_fd *f);

#endif
