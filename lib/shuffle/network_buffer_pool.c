/*
 * network_buffer_pool — the daemon's arena of network memory (Flink's
 * NetworkBufferPool): total_bytes / segment_size segments in one aligned allocation,
 * with one preallocated te_buffer_t header per segment so that requests never malloc.
 * Free segments form a singly linked list (te_buffer_t.next_free).
 *
 * Local pools are admitted against the arena's total: the sum of their min_required
 * (the reservations) never exceeds it. A pool takes its reservation at creation from
 * the free segments not owed to other pools; what is missing (segments other pools
 * borrowed above their own reservation) is owed to it — the arena's `debt` — and
 * paid as borrowed segments come back: while the arena is in debt, a recycled segment
 * above its pool's reservation returns to the arena and nobody borrows. Pools borrow
 * more, one at a time, up to their max while the arena has free segments beyond its
 * debt; borrowed segments come back when recycled (see local_buffer_pool.c). So a task
 * deployed after others borrowed the arena dry still runs (Flink redistributes the
 * arena over its pools for the same reason).
 *
 * Threading: every entry point is thread-safe under the arena mutex `mu`. Lock order:
 * a local pool's mutex may be held when taking `mu`, never the other way round.
 * available_segments is an atomic readable without the lock (status endpoint).
 */
#include "shuffle/network_buffer_pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/hot_mutex.h"
#include "shuffle/buffer.h"
#include "shuffle/local_buffer_pool.h"

struct te_network_buffer_pool {
    pthread_mutex_t mu;
    uint8_t *arena;
    te_buffer_t *headers; /* one per segment */
    uint32_t segment_size;
    uint32_t total;
    te_buffer_t *free_list;  /* guarded by mu */
    uint32_t reserved;       /* sum of the live pools' min_required (guarded by mu) */
    _Atomic uint32_t n_free; /* written under mu, read anywhere */
    _Atomic uint32_t debt;   /* reservations not handed out yet (written under mu) */
};

te_network_buffer_pool_t *network_buffer_pool_new(uint64_t total_bytes, uint32_t segment_size, te_error_t *err)
{
    te_network_buffer_pool_t *p = NULL;
    if (segment_size < 64) {
        te_error_set(err, TE_EINVAL, "network segment size %u is too small (minimum 64 bytes)", segment_size);
        return NULL;
    }
    uint64_t n = total_bytes / segment_size;
    if (n == 0 || n > UINT32_MAX) {
        te_error_set(err, TE_EINVAL,
                     "network memory of %llu bytes does not give a usable number of %u-byte segments",
                     (unsigned long long)total_bytes, segment_size);
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto cleanup;
    p->segment_size = segment_size;
    p->total = (uint32_t)n;
    if (posix_memalign((void **)&p->arena, 4096, (size_t)n * segment_size) != 0) {
        p->arena = NULL;
        goto cleanup;
    }
    p->headers = calloc(n, sizeof(te_buffer_t));
    if (p->headers == NULL)
        goto cleanup;
    te_hot_mutex_init(&p->mu);
    for (uint32_t i = p->total; i-- > 0;) {
        te_buffer_t *b = &p->headers[i];
        b->data = p->arena + (size_t)i * segment_size;
        b->capacity = segment_size;
        b->next_free = p->free_list;
        p->free_list = b;
    }
    atomic_init(&p->n_free, p->total);
    atomic_init(&p->debt, 0);
    return p;

cleanup:
    te_error_set(err, TE_ENOMEM, "cannot allocate %llu bytes of network memory", (unsigned long long)total_bytes);
    if (p != NULL) {
        free(p->arena);
        free(p);
    }
    return NULL;
}

void network_buffer_pool_free(te_network_buffer_pool_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_destroy(&p->mu);
    free(p->headers);
    free(p->arena);
    free(p);
}

uint32_t network_buffer_pool_segment_size(const te_network_buffer_pool_t *p) { return p->segment_size; }
uint32_t network_buffer_pool_total_segments(const te_network_buffer_pool_t *p) { return p->total; }

uint32_t network_buffer_pool_available_segments(const te_network_buffer_pool_t *p)
{
    return atomic_load_explicit(&((te_network_buffer_pool_t *)p)->n_free, memory_order_relaxed);
}

uint32_t network_buffer_pool_unreserved_segments(te_network_buffer_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    uint32_t n = p->total - p->reserved;
    pthread_mutex_unlock(&p->mu);
    return n;
}

uint32_t network_buffer_pool_debt(const te_network_buffer_pool_t *p)
{
    return atomic_load_explicit(&((te_network_buffer_pool_t *)p)->debt, memory_order_relaxed);
}

te_buffer_t *network_buffer_pool_take_segment(te_network_buffer_pool_t *p, int owed)
{
    pthread_mutex_lock(&p->mu);
    te_buffer_t *b = p->free_list;
    uint32_t debt = atomic_load_explicit(&p->debt, memory_order_relaxed);
    uint32_t n_free = atomic_load_explicit(&p->n_free, memory_order_relaxed);
    if (!owed && n_free <= debt)
        b = NULL; /* what is free is owed to others */
    if (b != NULL) {
        p->free_list = b->next_free;
        b->next_free = NULL;
        atomic_store_explicit(&p->n_free, n_free - 1, memory_order_relaxed);
        if (owed && debt > 0)
            atomic_store_explicit(&p->debt, debt - 1, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->mu);
    return b;
}

void network_buffer_pool_release_reservation(te_network_buffer_pool_t *p, uint32_t min_required, uint32_t owed)
{
    pthread_mutex_lock(&p->mu);
    p->reserved -= min_required;
    uint32_t debt = atomic_load_explicit(&p->debt, memory_order_relaxed);
    atomic_store_explicit(&p->debt, debt - owed, memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
}

void network_buffer_pool_return_segments(te_network_buffer_pool_t *p, te_buffer_t *list)
{
    if (list == NULL)
        return;
    uint32_t n = 1;
    te_buffer_t *last = list;
    while (last->next_free != NULL) {
        last = last->next_free;
        n++;
    }
    pthread_mutex_lock(&p->mu);
    last->next_free = p->free_list;
    p->free_list = list;
    atomic_store_explicit(&p->n_free, atomic_load_explicit(&p->n_free, memory_order_relaxed) + n,
                          memory_order_relaxed);
    pthread_mutex_unlock(&p->mu);
}

struct te_local_buffer_pool *network_buffer_pool_create_local(te_network_buffer_pool_t *p, const char *owner,
                                                              uint32_t min_required, uint32_t max, te_error_t *err)
{
    if (max < min_required)
        max = min_required;
    if (max == 0) {
        te_error_set(err, TE_EINVAL, "buffer pool of %s must allow at least one buffer", owner);
        return NULL;
    }
    te_buffer_t *reserved = NULL;
    pthread_mutex_lock(&p->mu);
    uint32_t avail = p->total - p->reserved;
    if (avail < min_required) {
        pthread_mutex_unlock(&p->mu);
        te_error_set(err, TE_ENOBUFS,
                     "Insufficient number of network buffers for %s: required %u, but only %u available. "
                     "The total number of network buffers is currently set to %u of %u bytes each. "
                     "You can increase this number by setting the configuration key "
                     "'taskmanager.memory.network.size'.",
                     owner, min_required, avail, p->total, p->segment_size);
        return NULL;
    }
    /* the free segments not owed to earlier pools; the rest is owed to this one */
    uint32_t n_free = atomic_load_explicit(&p->n_free, memory_order_relaxed);
    uint32_t debt = atomic_load_explicit(&p->debt, memory_order_relaxed);
    uint32_t take = n_free > debt ? n_free - debt : 0;
    if (take > min_required)
        take = min_required;
    for (uint32_t i = 0; i < take; i++) {
        te_buffer_t *b = p->free_list;
        p->free_list = b->next_free;
        b->next_free = reserved;
        reserved = b;
    }
    uint32_t owed = min_required - take;
    atomic_store_explicit(&p->n_free, n_free - take, memory_order_relaxed);
    atomic_store_explicit(&p->debt, debt + owed, memory_order_relaxed);
    p->reserved += min_required;
    pthread_mutex_unlock(&p->mu);

    struct te_local_buffer_pool *lp = local_buffer_pool_new_reserved(p, owner, min_required, owed, max, reserved);
    if (lp == NULL) {
        network_buffer_pool_return_segments(p, reserved);
        network_buffer_pool_release_reservation(p, min_required, owed);
        te_error_set(err, TE_ENOMEM, "cannot allocate the buffer pool of %s", owner);
    }
    return lp;
}
