/*
 * buffer — a refcounted view of one network-memory segment (Flink's NetworkBuffer).
 *
 * A buffer is handed out by a local buffer pool, written by one producer, then read by
 * any number of holders; each holder owns one reference and gives it back with
 * buffer_recycle(). When the last reference goes, the segment returns to the pool it
 * came from (waking a requester blocked on that pool). No copy is made between a local
 * producer and consumer: the consumer reads the producer's segment.
 *
 * The struct is visible (not opaque) so the per-record hot path (serializer and
 * deserializer) can touch `data`/`size` inline; everything else goes through functions.
 *
 * Threading: refcount is atomic; buffer_retain/buffer_recycle from any thread. The
 * contents are written only by the producer before it publishes `size`/`committed`.
 */
#ifndef TE_BUFFER_H
#define TE_BUFFER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum te_buffer_type {
    TE_BUFFER_DATA = 0,  /* serialized stream elements */
    TE_BUFFER_EVENT = 1, /* one serialized te_event_t */
} te_buffer_type_t;

struct te_local_buffer_pool;

typedef struct te_buffer {
    uint8_t *data;              /* segment start */
    uint32_t capacity;          /* segment size */
    _Atomic uint32_t committed; /* bytes written and visible to readers */
    _Atomic int finished;       /* producer will write no more */
    uint8_t type;               /* te_buffer_type_t */
    _Atomic int32_t refcnt;
    struct te_local_buffer_pool *owner; /* where the segment goes back */
    struct te_buffer *next_free;        /* pool free-list link (pool-internal) */
} te_buffer_t;

/* A read-only slice of a buffer handed to a consumer: bytes [offset, offset+len).
 * The consumer owns one reference of `buf` and must buffer_recycle(buf) when done. */
typedef struct te_buffer_slice {
    te_buffer_t *buf;
    uint32_t offset;
    uint32_t len;
    uint8_t type; /* te_buffer_type_t */
} te_buffer_slice_t;

static inline void buffer_retain(te_buffer_t *b)
{
    atomic_fetch_add_explicit(&b->refcnt, 1, memory_order_relaxed);
}

/* Drops one reference; the last one returns the segment to its owner pool. */
void buffer_recycle(te_buffer_t *b);
/* buffer_recycle of each of bufs[0..n) (NULL entries skipped), the segments going back
 * to each pool together: one pool lock and one wake-up of its requesters per pool, so
 * a producer woken by the recycling thread finds every buffer that thread freed. */
void buffer_recycle_batch(te_buffer_t **bufs, size_t n);

/* A buffer outside any pool (owner NULL, refcnt 1, type DATA): header and `capacity`
 * bytes in one allocation, freed by the last buffer_recycle. For side allocations that
 * must not wait for the pool (events). NULL when out of memory. */
te_buffer_t *buffer_new_unpooled(uint32_t capacity);

#endif
