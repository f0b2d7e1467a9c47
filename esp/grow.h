/* Growing an array by doubling: the one helper every list here uses. */
#ifndef ZESP_GROW_H
#define ZESP_GROW_H

#include <stdlib.h>

/* The array `items` (n used, *cap allocated) with room for one more:
 * moved if need be; NULL when memory runs out (items then unchanged). */
static inline void *grow(void *items, size_t *cap, size_t n, size_t elem)
{
    size_t want;
    void *bigger;

    if (n < *cap)
        return items;
    want = *cap ? *cap * 2U : 8U;
    if ((bigger = realloc(items, want * elem)) != NULL)
        *cap = want;
    return bigger;
}

#endif
