/*
 * state_backend_internal — internal to lib/state: the function table a keyed-state
 * implementation fills (hashmap_state_backend.c, rocksdb_state_backend.c) and how the
 * state store wraps an implementation into a te_state_backend_t. Not for other layers:
 * they use state_backend.h and state_store.h.
 *
 * Threading: as state_backend.h (an implementation is used by its task thread).
 */
#ifndef TE_STATE_BACKEND_INTERNAL_H
#define TE_STATE_BACKEND_INTERNAL_H

#include <rocksdb/c.h>
#include <string.h>

#include "state/rocksdb_instance.h"
#include "state/state_backend.h"
#include "state/state_batch.h"
#include "state/state_gate.h"

/* An implementation. get: 1 found (*val borrowed until the next call on impl), 0
 * absent, -1 error; put: 0 or -1; del: 1 removed, 0 absent, -1 error; after -1,
 * error() says why. group_entries is exact. stats: approximate bytes held (memory for
 * hashmap, disk + memtables for rocksdb) and entries. */
/* One write of a batch (write_batch). */
typedef struct te_state_write {
    uint32_t kg, keylen, nslen, vallen;
    const uint8_t *key, *ns, *val;
    int del;
} te_state_write_t;

typedef struct te_state_backend_ops {
    const char *name;
    void (*destroy)(void *impl);
    int (*get)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
               const uint8_t **val, uint32_t *vallen);
    int (*put)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
               const uint8_t *val, uint32_t vallen);
    int (*del)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen);
    /* Optional: put to the entry the previous call on impl, a get, found, when key and
     * namespace are that entry's (a read-modify-write: counts, aggregates): 0 or -1 as
     * put; 1 when they are not or impl cannot (something happened since the get): the
     * caller puts as usual. */
    int (*put_again)(void *impl, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                     const uint8_t *val, uint32_t vallen);
    /* Optional: state_backend_add_i64 in one lookup (kg as get's); 0 or -1 as put.
     * Without it the generic layer gets and puts. */
    int (*add_i64)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                   int64_t delta, int64_t *sum);
    /* Optional: room for n more entries in key group kg (a restore says how many a
     * group brings before it puts them): a hint; the puts report what goes wrong. */
    void (*reserve_group)(void *impl, uint32_t kg, uint64_t n);
    int (*foreach_group)(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg);
    uint64_t (*group_entries)(void *impl, uint32_t kg);
    void (*stats)(void *impl, te_state_stats_t *out);
    const char *(*error)(void *impl);
    /* Views (state_backend.h): take on the owner's thread (the synchronous part); walk,
     * count and release on any thread while the owner goes on. view_foreach_group
     * returns fn's non-zero, or -1 with view_error saying why; view_group_entries is
     * UINT64_MAX when the view cannot tell without walking. */
    void *(*view_take)(void *impl, te_error_t *err);
    int (*view_foreach_group)(void *view, uint32_t kg, te_state_visit_fn fn, void *arg);
    uint64_t (*view_group_entries)(void *view, uint32_t kg);
    /* The writer is done with key group kg (may be NULL). */
    void (*view_group_done)(void *view, uint32_t kg);
    void (*view_release)(void *view);
    const char *(*view_error)(void *view);
    /* Optional: n writes in one batch (a cache's write-back): each a put, or a delete
     * when del (no result: deleting an absent entry is no error). 0 or -1. */
    int (*write_batch)(void *impl, const struct te_state_write *w, size_t n);
    /* Optional: writes back what the implementation holds elsewhere (a cache) so that
     * a reader of what lies behind it sees every update. 0 or -1 (error() says why). */
    int (*flush)(void *impl);
    /* Optional (rocksdb): appends n writes to `out` encoded as the implementation
     * stores them (state_batch.h), for a write on another thread. 0 or -1. */
    int (*batch_encode)(void *impl, te_state_batch_t *out, const struct te_state_write *w, size_t n);
    /* Optional (a cache): instead of writing back, appends what it holds dirty to `out`
     * and holds every later write into the implementation until `gate` opens (takes a
     * reference; opened failed, what it appended is dirty again). Waits for an earlier
     * gate first. 0 or -1 (error() says why; nothing captured). */
    int (*capture)(void *impl, te_state_batch_t *out, te_state_gate_t *gate);
} te_state_backend_ops_t;

extern const te_state_backend_ops_t hashmap_state_backend_ops;
extern const te_state_backend_ops_t rocksdb_state_backend_ops;
extern const te_state_backend_ops_t state_cache_ops;

/* state_cache.c: a write-back cache of at most max_entries entries and max_bytes bytes,
 * writing back when max_dirty entries are dirty, in front of inner (its ops, which must
 * have write_batch, and batch_encode for capture; ownership passes, destroyed with the
 * cache or here on failure). NULL + err. */
typedef struct te_state_cache_config {
    uint32_t max_entries;
    uint64_t max_bytes;
    uint32_t max_dirty;
} te_state_cache_config_t;
void *state_cache_create(const te_state_backend_ops_t *ops, void *inner, const te_state_cache_config_t *cfg,
                         te_error_t *err);
/* A new cache (nothing captured yet) holds its writes into inner until gate opens, as
 * the caches that captured for it do (a reference taken). */
void state_cache_hold(void *cache, te_state_gate_t *gate);

/* Implementations' constructors (NULL when out of memory / with err). budget: the
 * slot's managed memory every slab is reserved from (NULL = unlimited). */
struct te_memory_budget;
void *hashmap_state_backend_create(uint32_t max_parallelism, struct te_memory_budget *budget);
void *rocksdb_state_backend_create(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                   uint32_t max_parallelism, te_error_t *err);

/* Up to 8 bytes as one word, by overlapping loads (no call, no loop). */
static inline uint64_t state_hash_tail(const uint8_t *p, uint32_t n)
{
    uint32_t a, z;
    if (n >= 4) {
        memcpy(&a, p, 4);
        memcpy(&z, p + n - 4, 4);
        return (uint64_t)a | (uint64_t)z << 32;
    }
    return n ? (uint64_t)p[0] | (uint64_t)p[n >> 1] << 8 | (uint64_t)p[n - 1] << 16 : 0;
}

static inline uint64_t state_hash_mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

/* The bytes' hash folded into h (the hashmap's tables, the state cache), a word at a time; the length is part of it. */
static inline uint64_t state_hash_bytes(uint64_t h, const uint8_t *p, uint32_t n)
{
    h = state_hash_mix(h, n);
    for (; n > 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = state_hash_mix(h, v);
    }
    return state_hash_mix(h, state_hash_tail(p, n));
}

/* Wraps impl (ownership passes; destroyed by state_backend_free). NULL when out of
 * memory (impl is destroyed then). */
te_state_backend_t *state_backend_wrap(const te_state_backend_ops_t *ops, void *impl, uint32_t max_parallelism);
/* An incremental checkpoint's copy of what a cache in front of b holds dirty (ops
 * capture; see state_gate.h); a backend without a cache is flushed instead. 0 or -1
 * (state_backend_error says why). */
int state_backend_capture(te_state_backend_t *b, te_state_batch_t *out, te_state_gate_t *gate);
/* put with the key group given (restores and imports know it). */
int state_backend_put_kg(te_state_backend_t *b, uint32_t kg, const uint8_t *key, uint32_t keylen,
                         const uint8_t *ns, uint32_t nslen, const uint8_t *val, uint32_t vallen);

/* rocksdb: deletes every key group of cf outside kg_first..kg_last (delete-range). */
te_status_t rocksdb_state_backend_keep_range(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                             uint32_t kg_first, uint32_t kg_last, te_error_t *err);

#endif
