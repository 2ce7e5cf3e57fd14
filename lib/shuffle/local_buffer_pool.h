/*
 * local_buffer_pool — a ResultPartition's or InputGate's share of the network arena
 * (Flink's LocalBufferPool): between min_required and max segments.
 *
 * Requests are per buffer, never per record. A producer that finds no buffer either
 * waits (request_blocking, interruptible by local_buffer_pool_cancel) or registers an
 * availability listener and suspends its mailbox default action; recycling a buffer
 * wakes both.
 *
 * Threading: all functions thread-safe (the pool's mutex; the arena's mutex is taken
 * after it, never before). Listeners are called without any pool lock held, from the
 * thread that recycled the buffer.
 */
#ifndef TE_LOCAL_BUFFER_POOL_H
#define TE_LOCAL_BUFFER_POOL_H

#include <stdint.h>

#include "shuffle/buffer.h"

typedef struct te_local_buffer_pool te_local_buffer_pool_t;

/* A one-shot callback: after it fires it is cleared and must be set again. */
typedef struct te_notifier {
    void (*fn)(void *arg);
    void *arg;
} te_notifier_t;

/* A fresh buffer (refcnt 1, committed 0, type DATA), or NULL when none is free now. */
te_buffer_t *local_buffer_pool_request(te_local_buffer_pool_t *lp);
/* Waits for a buffer; NULL only after local_buffer_pool_cancel (or destroy). */
te_buffer_t *local_buffer_pool_request_blocking(te_local_buffer_pool_t *lp);
/* 1 when a request would succeed now. */
int local_buffer_pool_is_available(te_local_buffer_pool_t *lp);
/* Arms a one-shot listener fired when a buffer becomes available. If one is available
 * already, fires it at once (on the caller's thread) and returns 1; else returns 0. */
int local_buffer_pool_notify_when_available(te_local_buffer_pool_t *lp, te_notifier_t n);
/* Wakes blocked requesters (they get NULL) and makes later blocking requests fail. */
void local_buffer_pool_cancel(te_local_buffer_pool_t *lp);
/* Returns the pool's reservation to the arena. Buffers still held return to the arena
 * when their last reference is recycled. */
void local_buffer_pool_destroy(te_local_buffer_pool_t *lp);

/* Internal (network_buffer_pool.c / buffer.c only). Builds a pool around `reserved`
 * (min_required - owed segments already taken from the arena, linked by next_free; the
 * arena owes the other `owed`). */
struct te_network_buffer_pool;
te_local_buffer_pool_t *local_buffer_pool_new_reserved(struct te_network_buffer_pool *arena, const char *owner,
                                                       uint32_t min_required, uint32_t owed, uint32_t max,
                                                       te_buffer_t *reserved);

/* Internal: buffer_recycle's path for the last reference of a pooled buffer. */
void local_buffer_pool_recycle_segment(te_local_buffer_pool_t *lp, te_buffer_t *b);
/* Internal: buffer_recycle_batch's path: several segments of this pool (linked by
 * next_free), under one lock, waking requesters once. */
void local_buffer_pool_recycle_segments(te_local_buffer_pool_t *lp, te_buffer_t *list);

uint32_t local_buffer_pool_in_use(te_local_buffer_pool_t *lp); /* buffers handed out, not yet recycled */
uint32_t local_buffer_pool_max(te_local_buffer_pool_t *lp);
uint32_t local_buffer_pool_min_required(te_local_buffer_pool_t *lp);
/* Segments of the reservation the arena still owes, and heap segments handed out in
 * their stead (overdraft, see local_buffer_pool.c). */
void local_buffer_pool_owed(te_local_buffer_pool_t *lp, uint32_t *owed, uint32_t *overdrawn);
/* in_use / max as a fraction 0..1 (inPoolUsage / outPoolUsage). */
double local_buffer_pool_usage(te_local_buffer_pool_t *lp);

#endif
