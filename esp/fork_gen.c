/*
 * A SAD handle copied into a forked child is a trap.  A private SAD is
 * anonymous memory: the child's copy of each outbound SA carries on from
 * the same sequence number as the parent's, so both would seal under one
 * key with one nonce.  A file SAD's handle shares its parent's file
 * description, and with it the lane locks (lanes.c).  Each handle notes
 * the generation it was made in; a child's differs, which costs one load
 * per use to compare and no system call.  The generation is kept in a page
 * the kernel gives a child zeroed (MADV_WIPEONFORK), so that a child made
 * without the atfork handlers (_Fork(), a raw clone) finds none and takes
 * a new one at its first use: with an atfork handler alone, such a child
 * sealed in its parent's lane, from its parent's block, with its parent's
 * nonces.
 *
 * A child also copies every mutex as it was: one that another thread of
 * the parent held at the fork stays locked in the child for ever (that
 * thread is not there to let go), and the child's first send waits on it
 * for ever.  So fork() takes every handle's locks first, in the order the
 * list has them, and lets go of them in parent and child: what they guard
 * is whole in both.  They are held for microseconds (no system call that
 * waits on another process), so fork() waits no longer.
 *
 * An flock belongs to an open file description, which a child shares, and
 * is let go when the last descriptor of it is closed: a child forked while
 * another thread held a state directory's lock would keep it, after that
 * thread closed its own, until the child exits or execs, and every writer
 * of records in that directory, on the whole host, would wait for it.
 * fork() does not wait for such a section (it waits on other processes and
 * on fsync); the child closes its copies of every descriptor open in one,
 * first thing (a waiter may wait for that moment too, no longer).  A lane's
 * lock (lanes.c) is the same: a child that never sends would keep its
 * parent's lanes after the parent let go of them, so the description that
 * holds them is listed here too, for as long as the handle lives.
 * Only the open and the close are under a lock fork() takes, so that no
 * copy is made of a descriptor not yet listed, or listed no longer.
 */
#include "fork_gen.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

/* The last generation given out: a child starts from its parent's count,
 * so the one it takes differs from every one its handles were made in. */
static _Atomic uint32_t generations;
/* This process's generation, 0 until it takes one: in a wipe-on-fork page,
 * or, where the kernel has none (before Linux 4.14), in this word, which
 * only the atfork handler clears. */
static _Atomic uint32_t own_word;
static _Atomic(_Atomic uint32_t *) own = &own_word;
static pthread_once_t watched = PTHREAD_ONCE_INIT;
static int watch_err;
static pthread_mutex_t guards_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fork_guard *guards;
static pthread_mutex_t fds_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fork_fd *fds;

static void before(void)
{
    pthread_mutex_lock(&guards_lock);
    for (struct fork_guard *g = guards; g != NULL; g = g->next)
        for (unsigned i = 0; i < FORK_GUARD_LOCKS; i++)
            pthread_mutex_lock(g->lock[i]);
    pthread_mutex_lock(&fds_lock);
}

static void after(void)
{
    pthread_mutex_unlock(&fds_lock);
    for (struct fork_guard *g = guards; g != NULL; g = g->next)
        for (unsigned i = FORK_GUARD_LOCKS; i-- > 0;)
            pthread_mutex_unlock(g->lock[i]);
    pthread_mutex_unlock(&guards_lock);
}

static void in_child(void)
{
    /* Their threads are the parent's: the child has none inside. */
    for (struct fork_fd *f = fds; f != NULL; f = f->next) {
        (void)close(f->fd);
        f->fd = -1;              /* its number may be reused */
    }
    fds = NULL;
    atomic_store(atomic_load(&own), 0);
    after();
}

static void watch_pages(void)
{
    size_t size = (size_t)sysconf(_SC_PAGESIZE);
    _Atomic uint32_t *page = mmap(NULL, size, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (page == MAP_FAILED)
        return;
    if (madvise(page, size, MADV_WIPEONFORK) != 0) {
        (void)munmap(page, size);
        return;
    }
    atomic_store(page, fork_gen_now());
    atomic_store_explicit(&own, page, memory_order_release);
}

static void watch(void)
{
    watch_pages();
    watch_err = pthread_atfork(before, after, in_child);
}

int fork_gen_watch(void)
{
    if (pthread_once(&watched, watch) != 0 || watch_err != 0)
        return -1;
    return 0;
}

/* The first use in a child: a generation no handle it copied was made in.
 * Threads racing here agree on the first one stored. */
static uint32_t take_generation(_Atomic uint32_t *mine)
{
    uint32_t none = 0, g;

    while ((g = atomic_fetch_add(&generations, 1) + 1U) == 0)
        ;
    return atomic_compare_exchange_strong(mine, &none, g) ? g : none;
}

uint32_t fork_gen_now(void)
{
    _Atomic uint32_t *mine = atomic_load_explicit(&own, memory_order_acquire);
    uint32_t g = atomic_load_explicit(mine, memory_order_relaxed);

    return g != 0 ? g : take_generation(mine);
}

void fork_guard_add(struct fork_guard *g)
{
    pthread_mutex_lock(&guards_lock);
    g->prev = NULL;
    g->next = guards;
    if (guards != NULL)
        guards->prev = g;
    guards = g;
    pthread_mutex_unlock(&guards_lock);
}

void fork_guard_remove(struct fork_guard *g)
{
    pthread_mutex_lock(&guards_lock);
    if (g->prev != NULL)
        g->prev->next = g->next;
    else
        guards = g->next;
    if (g->next != NULL)
        g->next->prev = g->prev;
    pthread_mutex_unlock(&guards_lock);
}

int fork_fd_open(struct fork_fd *f, int dir, const char *path, int flags)
{
    int err;

    if (fork_gen_watch() != 0) {
        errno = ENOMEM;
        return f->fd = -1;
    }
    pthread_mutex_lock(&fds_lock);
    f->fd = openat(dir, path, flags);
    err = errno;
    if (f->fd >= 0) {
        f->prev = NULL;
        f->next = fds;
        if (fds != NULL)
            fds->prev = f;
        fds = f;
    }
    pthread_mutex_unlock(&fds_lock);
    errno = err;
    return f->fd;
}

void fork_fd_close(struct fork_fd *f)
{
    pthread_mutex_lock(&fds_lock);
    if (f->fd >= 0) {
        if (f->prev != NULL)
            f->prev->next = f->next;
        else
            fds = f->next;
        if (f->next != NULL)
            f->next->prev = f->prev;
        (void)close(f->fd);
        f->fd = -1;
    }
    pthread_mutex_unlock(&fds_lock);
}
