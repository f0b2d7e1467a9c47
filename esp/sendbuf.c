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
 */
#include "sendbuf.h"

#include <errno.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* Capacities are rounded up to this, so that frames of nearly the same
 * size (padding, a few more bytes of body) share buffers. */
#define SENDBUF_ROUND (64U * 1024U)

union sendbuf {
    size_t cap;             /* bytes after the header */
    max_align_t align;
};

static _Atomic(union sendbuf *) spares[SENDBUF_SPARES];
static _Atomic unsigned evict_next;

static uint8_t *data_of(union sendbuf *b)
{
    return (uint8_t *)(b + 1);
}

/* Big enough, and not more than twice what is needed. */
static bool fits(const union sendbuf *b, size_t size)
{
    return b->cap >= size && b->cap / 2U <= size;
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
            free(b);
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
    free(old);
}

int sendbuf_msg_init(zmq_msg_t *msg, size_t size)
{
    union sendbuf *b;

    if (size < SENDBUF_MIN || size > SENDBUF_MAX)
        return zmq_msg_init_size(msg, size);
    if ((b = take(size)) == NULL) {
        size_t cap = (size + SENDBUF_ROUND - 1U) / SENDBUF_ROUND *
                     SENDBUF_ROUND;

        if ((b = malloc(sizeof *b + cap)) == NULL) {
            errno = ENOMEM;
            return -1;
        }
        b->cap = cap;
    }
    if (zmq_msg_init_data(msg, data_of(b), size, give_back, b) != 0) {
        int e = errno;
        free(b);
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
