/*
 * network_buffer_pool — the one arena of network memory of a daemon
 * (taskmanager.memory.network.size / taskmanager.memory.segment-size segments, all
 * allocated at start) and the factory of local buffer pools drawing from it.
 *
 * Threading: all functions thread-safe (one mutex); counters readable lock-free.
 */
#ifndef TE_NETWORK_BUFFER_POOL_H
#define TE_NETWORK_BUFFER_POOL_H

#include <stdint.h>

#include "common/te_status.h"

typedef struct te_network_buffer_pool te_network_buffer_pool_t;
struct te_local_buffer_pool;
struct te_buffer;

/* Allocates total_bytes / segment_size segments up front. NULL + err on failure. */
te_network_buffer_pool_t *network_buffer_pool_new(uint64_t total_bytes, uint32_t segment_size, te_error_t *err);
/* Frees the arena. All local pools must have been destroyed and all buffers recycled. */
void network_buffer_pool_free(te_network_buffer_pool_t *p);

uint32_t network_buffer_pool_segment_size(const te_network_buffer_pool_t *p);
uint32_t network_buffer_pool_total_segments(const te_network_buffer_pool_t *p);
/* Segments not reserved by any local pool nor held by any buffer. */
uint32_t network_buffer_pool_available_segments(const te_network_buffer_pool_t *p);

/* Segments no pool has reserved: what the next pools can be admitted with. */
uint32_t network_buffer_pool_unreserved_segments(te_network_buffer_pool_t *p);
/* Segments reserved by pools but not handed to them yet (borrowed by others). */
uint32_t network_buffer_pool_debt(const te_network_buffer_pool_t *p);

/*
 * Creates a local pool that is guaranteed `min_required` segments (reserved now: taken
 * at once when free, else owed to it until others' borrowed segments come back) and
 * may grow to `max` when the arena has spare segments. When fewer than min_required
 * are left unreserved: NULL and err = TE_ENOBUFS with the message
 *   "Insufficient number of network buffers for <owner>: required <n>, but only <m>
 *    available. The total number of network buffers is currently set to <t> of <s>
 *    bytes each. You can increase this number by setting the configuration key
 *    'taskmanager.memory.network.size'."
 */
struct te_local_buffer_pool *network_buffer_pool_create_local(te_network_buffer_pool_t *p, const char *owner,
                                                              uint32_t min_required, uint32_t max,
                                                              te_error_t *err);

/* Internal (local_buffer_pool.c only): one free segment, or NULL when the arena is
 * empty. owed: a segment of the caller's reservation (pays the debt); else a borrowed
 * one, refused while the free segments are all owed. */
struct te_buffer *network_buffer_pool_take_segment(te_network_buffer_pool_t *p, int owed);
/* Internal: a destroyed pool's reservation and the part of it still owed to it. */
void network_buffer_pool_release_reservation(te_network_buffer_pool_t *p, uint32_t min_required, uint32_t owed);
/* Internal: gives back a list of segments linked by next_free (NULL-terminated). */
void network_buffer_pool_return_segments(te_network_buffer_pool_t *p, struct te_buffer *list);

#endif
