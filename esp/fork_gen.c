/*
 * A SAD handle copied into a forked child is a trap.  A private SAD is
 * anonymous memory: the child's copy of each outbound SA carries on from
 * the same sequence number as the parent's, so both would seal under one
 * key with one nonce.  A file SAD's handle shares its parent's file
 * description, and with it the lane locks (lanes.c).  Each handle notes
 * the generation it was made in; a child's differs, bumped by an atfork
 * handler, which costs one load per use to compare and no system call.
 */
#include "fork_gen.h"

#include <pthread.h>
#include <stdatomic.h>

static _Atomic uint32_t generation;
static pthread_once_t watched = PTHREAD_ONCE_INIT;
static int watch_err;

static void in_child(void)
{
    atomic_fetch_add(&generation, 1);
}

static void watch(void)
{
    watch_err = pthread_atfork(NULL, NULL, in_child);
}

int fork_gen_watch(void)
{
    if (pthread_once(&watched, watch) != 0 || watch_err != 0)
        return -1;
    return 0;
}

uint32_t fork_gen_now(void)
{
    return atomic_load_explicit(&generation, memory_order_relaxed);
}
