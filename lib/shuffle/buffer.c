/*
 * buffer — refcounted views of network-memory segments (see buffer.h).
 *
 * Threading: buffer_recycle from any thread. The reference count is atomic; the last
 * reference hands the segment to its owner local pool (which takes the pool mutex) or,
 * for unpooled side buffers (owner NULL), frees the single allocation. No lock here.
 */
#include "shuffle/buffer.h"

#include <stdlib.h>

#include "shuffle/local_buffer_pool.h"

void buffer_recycle(te_buffer_t *b)
{
    if (b == NULL)
        return;
    if (atomic_fetch_sub_explicit(&b->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    if (b->owner == NULL)
        free(b);
    else
        local_buffer_pool_recycle_segment(b->owner, b);
}

void buffer_recycle_batch(te_buffer_t **bufs, size_t n)
{
    enum { GROUPS = 8 };
    te_local_buffer_pool_t *pool[GROUPS];
    te_buffer_t *list[GROUPS];
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        te_buffer_t *b = bufs[i];
        if (b == NULL || atomic_fetch_sub_explicit(&b->refcnt, 1, memory_order_acq_rel) != 1)
            continue;
        if (b->owner == NULL) {
            free(b);
            continue;
        }
        size_t g = 0;
        while (g < ng && pool[g] != b->owner)
            g++;
        if (g == GROUPS) { /* more pools than groups: hand the groups over, start again */
            for (g = 0; g < ng; g++)
                local_buffer_pool_recycle_segments(pool[g], list[g]);
            ng = 0;
            g = 0;
        }
        if (g == ng) {
            pool[ng] = b->owner;
            list[ng++] = NULL;
        }
        b->next_free = list[g];
        list[g] = b;
    }
    for (size_t g = 0; g < ng; g++)
        local_buffer_pool_recycle_segments(pool[g], list[g]);
}

te_buffer_t *buffer_new_unpooled(uint32_t capacity)
{
    te_buffer_t *b = malloc(sizeof(*b) + (capacity ? capacity : 1));
    if (b == NULL)
        return NULL;
    b->data = (uint8_t *)(b + 1);
    b->capacity = capacity;
    atomic_init(&b->committed, 0);
    atomic_init(&b->finished, 0);
    b->type = TE_BUFFER_DATA;
    atomic_init(&b->refcnt, 1);
    b->owner = NULL;
    b->next_free = NULL;
    return b;
}
