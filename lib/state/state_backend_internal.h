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

#include "state/rocksdb_instance.h"
#include "state/state_backend.h"

/* An implementation. get: 1 found (*val borrowed until the next call on impl), 0
 * absent, -1 error; put: 0 or -1; del: 1 removed, 0 absent, -1 error; after -1,
 * error() says why. group_entries is exact. stats: approximate bytes held (memory for
 * hashmap, disk + memtables for rocksdb) and entries. */
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
} te_state_backend_ops_t;

extern const te_state_backend_ops_t hashmap_state_backend_ops;
extern const te_state_backend_ops_t rocksdb_state_backend_ops;

/* Implementations' constructors (NULL when out of memory / with err). budget: the
 * slot's managed memory every slab is reserved from (NULL = unlimited). */
struct te_memory_budget;
void *hashmap_state_backend_create(uint32_t max_parallelism, struct te_memory_budget *budget);
void *rocksdb_state_backend_create(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                   uint32_t max_parallelism, te_error_t *err);

/* Wraps impl (ownership passes; destroyed by state_backend_free). NULL when out of
 * memory (impl is destroyed then). */
te_state_backend_t *state_backend_wrap(const te_state_backend_ops_t *ops, void *impl, uint32_t max_parallelism);
/* put with the key group given (restores and imports know it). */
int state_backend_put_kg(te_state_backend_t *b, uint32_t kg, const uint8_t *key, uint32_t keylen,
                         const uint8_t *ns, uint32_t nslen, const uint8_t *val, uint32_t vallen);

/* rocksdb: deletes every key group of cf outside kg_first..kg_last (delete-range). */
te_status_t rocksdb_state_backend_keep_range(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf,
                                             uint32_t kg_first, uint32_t kg_last, te_error_t *err);

#endif
