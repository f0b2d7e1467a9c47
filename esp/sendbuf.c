/*
 * The ESP frames zesp_send hands to ZeroMQ are sealed in buffers that are
 * kept for the next message rather than freed.  A fresh buffer of 1 MiB
 * costs more than sealing into it: as the send queue shrinks and grows,
 * glibc hands its heap back and takes it again, and the kernel faults the
 * pages in one by one, 37 to 74 of 256 a message over tcp with a queue of
 * 4 (bench/results/2026-12-01-big-messages.md).  ZeroMQ frees a message in whichever thread
 * held it last (its I/O thread, an inproc peer), so the spares sit in a
 * few atomic slots: no lock that a thread could hold across a fork.  A
 * buffer comes back holding a sealed frame, as it went (or would have
 * gone) on the wire; one whose sealing failed is wiped before it is closed.
 *
 * Frames of a megabyte or more get buffers of whole 2 MiB pages, mapped on
 * their own and advised as transparent huge pages: when the queue is
 * deeper than the spares (a burst of big messages), every frame needs
 * fresh memory, and faulting in 4 KiB pages one by one cost 2.7 to 4.1 ms
 * a megabyte on the 2-vCPU machine (a virtual one, where each fault is
 * dear) against 0.11 ms for a huge page
 * (bench/results/2026-12-02-quiet.md).  Where the kernel has no huge page
 * to give, the same mapping is faulted in small pages as before.
 */
#include "sendbuf.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* Capacities are rounded up to this, so that frames of nearly the same
 * size (padding, a few more bytes of body) share buffers. */
#define SENDBUF_ROUND (64U * 1024U)

/* From this size of buffer (header included) up, whole huge pages. */
#define SENDBUF_HUGE_MIN (1024U * 1024U)
#define HUGE_PAGE (2U * 1024U * 1024U)

union sendbuf {
    struct {
        size_t cap;         /* bytes after the header */
        size_t mapped;      /* bytes mapped for it, or 0: from malloc */
    } h;
    max_align_t align;
};

static _Atomic(union sendbuf *) spares[SENDBUF_SPARES];
static _Atomic unsigned evict_next;

static uint8_t *data_of(union sendbuf *b)
{
    return (uint8_t *)(b + 1);
}

static size_t rounded(size_t size)
{
    return (size + SENDBUF_ROUND - 1U) / SENDBUF_ROUND * SENDBUF_ROUND;
}

/* The bytes mapped for a frame of size that gets huge pages, else 0. */
static size_t huge_len(size_t size)
{
    if (sizeof(union sendbuf) + rounded(size) < SENDBUF_HUGE_MIN)
        return 0;
    return (sizeof(union sendbuf) + size + HUGE_PAGE - 1U) / HUGE_PAGE *
           HUGE_PAGE;
}

/* A mapped buffer serves the frames that would map as many huge pages;
 * another, those it holds with not more than twice what is needed. */
static bool fits(const union sendbuf *b, size_t size)
{
    if (b->h.mapped)
        return huge_len(size) == b->h.mapped;
    return b->h.cap >= size && b->h.cap / 2U <= size;
}

static void release(union sendbuf *b)
{
    if (b != NULL && b->h.mapped)
        (void)munmap(b, b->h.mapped);
    else
        free(b);
}

/* A buffer of len bytes (whole huge pages, header included), aligned to a
 * huge page; NULL if it cannot be mapped. */
static union sendbuf *map_huge(size_t len)
{
    uint8_t *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t head;
    union sendbuf *b;

    if (p == MAP_FAILED)
        return NULL;
    /* Keep the aligned len bytes; hand back the head before them and the
     * HUGE_PAGE - head bytes after. */
    head = (HUGE_PAGE - (uintptr_t)p % HUGE_PAGE) % HUGE_PAGE;
    if (head)
        (void)munmap(p, head);
    (void)munmap(p + head + len, HUGE_PAGE - head);
    /* Only advice: without huge pages, small ones serve. */
    (void)madvise(p + head, len, MADV_HUGEPAGE);
    b = (union sendbuf *)(void *)(p + head);
    b->h.cap = len - sizeof *b;
    b->h.mapped = len;
    return b;
}

/* A new buffer for size bytes, rounded up so that near sizes share it. */
static union sendbuf *fresh(size_t size)
{
    size_t cap = rounded(size), len = huge_len(size);
    union sendbuf *b;

    if (len && (b = map_huge(len)) != NULL)
        return b;
    if ((b = malloc(sizeof *b + cap)) == NULL)
        return NULL;
    b->h.cap = cap;
    b->h.mapped = 0;
    return b;
}

static union sendbuf *take(size_t size)
{
    for (size_t i = 0; i < SENDBUF_SPARES; i++) {
        union sendbuf *none = NULL, *b = atomic_exchange(&spares[i], NULL);

        if (b == NULL)
            continue;
        if (fits(b, size))
            return b;
        /* Another size's: back in its slot, unless one came back there
         * meanwhile. */
        if (!atomic_compare_exchange_strong(&spares[i], &none, b))
            release(b);
    }
    return NULL;
}

/* ZeroMQ's free function: into an empty slot, else in place of a spare
 * (the oldest size gives way to the newest). */
static void give_back(void *data, void *hint)
{
    union sendbuf *b = hint, *old;

    (void)data;
    for (size_t i = 0; i < SENDBUF_SPARES; i++) {
        union sendbuf *none = NULL;

        if (atomic_compare_exchange_strong(&spares[i], &none, b))
            return;
    }
    old = atomic_exchange(&spares[atomic_fetch_add(&evict_next, 1U) %
                                  SENDBUF_SPARES], b);
    release(old);
}

int sendbuf_msg_init(zmq_msg_t *msg, size_t size)
{
    union sendbuf *b;

    if (size < SENDBUF_MIN || size > SENDBUF_MAX)
        return zmq_msg_init_size(msg, size);
    if ((b = take(size)) == NULL && (b = fresh(size)) == NULL) {
        errno = ENOMEM;
        return -1;
    }
    if (zmq_msg_init_data(msg, data_of(b), size, give_back, b) != 0) {
        int e = errno;
        release(b);
        errno = e;
        return -1;
    }
    return 0;
}

void sendbuf_msg_discard(zmq_msg_t *msg)
{
    sodium_memzero(zmq_msg_data(msg), zmq_msg_size(msg));
    zmq_msg_close(msg);
}
