/*
 * op_slices — the in-memory state of slicing window aggregation (Flink's slicing window
 * operators): a slice is a hash table from key bytes to a fixed-size accumulator, one
 * per slice of time; windows are merged from slices when they fire. Entries live in
 * the slice's arena (key bytes then accumulator, 8-byte aligned), indexed by an
 * open-addressing table; a slice that is no longer needed is cleared and reused with
 * its memory, so no allocation happens per record once the tables have grown.
 *
 * Like op_util, only the public ABI and libc.
 *
 * Threading: a slice belongs to one operator instance.
 */
#ifndef TE_OP_SLICES_H
#define TE_OP_SLICES_H

#include <stddef.h>
#include <stdint.h>

#include "operators/op_util.h"

typedef struct op_slice {
    int64_t id; /* slice number (start = id * slice length), or a window end when merging */
    uint32_t acc_size;
    uint64_t *slots; /* hash << 32 | (entry offset + 1); 0 = empty */
    uint32_t cap;    /* power of two */
    uint32_t n;      /* entries */
    op_buf_t arena;  /* entries: u32 hash | u32 keylen | key (padded to 8) | acc */
    op_buf_t order;  /* u32 entry offsets in insertion order */
} op_slice_t;

/* An empty slice for accumulators of acc_size bytes. */
void op_slice_init(op_slice_t *s, int64_t id, uint32_t acc_size);
/* Forgets every entry, keeping the memory. */
void op_slice_clear(op_slice_t *s, int64_t id);
void op_slice_release(op_slice_t *s);

/* The accumulator of key (NULL when absent). */
uint8_t *op_slice_find(op_slice_t *s, const uint8_t *key, uint32_t keylen);
/* The accumulator of key, inserted when absent (*created = 1; its bytes are then
 * uninitialised for the caller to fill). NULL when out of memory. */
uint8_t *op_slice_upsert(op_slice_t *s, const uint8_t *key, uint32_t keylen, int *created);

/* Entry i (0..n-1) in insertion order: its key and accumulator. */
uint8_t *op_slice_entry(op_slice_t *s, uint32_t i, const uint8_t **key, uint32_t *keylen);

#endif
