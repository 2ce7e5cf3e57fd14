/*
 * state_store — the keyed state of one task (Flink's keyed state backends of a
 * StreamTask's operators, built by its StateBackend): which backend the job chose
 * (`state.backend.type`: hashmap | rocksdb), one te_state_backend_t per chain operator
 * that keeps keyed state (created on first use), and for rocksdb the task's one RocksDB
 * instance they share (a column family each, "op-<index>", behind a write-back cache:
 * state_cache.c), opened in the task's own directory under taskmanager.state.local.dir
 * and deleted with the store. The de-duplication state of each operator's timers lives
 * here too (always hashmap: timers are kept on the heap, Flink's HEAP timer service),
 * so an asynchronous snapshot of timers reads state the store keeps alive.
 *
 * References: the task holds one, every asynchronous snapshot in flight another (its
 * views read the backends); the last state_store_free frees everything (on whichever
 * thread drops it: a snapshot thread when the task ended first).
 *
 * Threading: the task thread creates backends; ref/free from any thread (atomic count).
 */
#ifndef TE_STATE_STORE_H
#define TE_STATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/state_backend.h"

typedef struct te_memory_budget te_memory_budget_t;
typedef struct te_snapshot_pool te_snapshot_pool_t;
typedef struct te_rocksdb_inc_snapshot te_rocksdb_inc_snapshot_t;
typedef struct te_rocksdb_manifest te_rocksdb_manifest_t;
typedef struct te_rocksdb_state_name te_rocksdb_state_name_t;

typedef struct te_state_store_config {
    const char *backend; /* "hashmap" (NULL = hashmap) or "rocksdb" */
    uint32_t max_parallelism;
    const char *task_name; /* for messages (copied) */
    /* rocksdb: the task's own directory (created; deleted with the store): the instance
     * in <local_dir>/db, native checkpoints in <local_dir>/chk-<n> */
    const char *local_dir;
    /* the slot's managed memory (managed_memory.h; NULL = unlimited, a private RocksDB
     * cache): hashmap slabs are reserved from it, rocksdb uses the slot's cache and
     * write-buffer manager */
    te_memory_budget_t *memory;
    /* where the last reference frees the state when it is dropped outside the pool (a
     * task's end): large state takes seconds to free; NULL = at once */
    te_snapshot_pool_t *pool;
    /* rocksdb + state.backend.incremental: shared files go to shared_dir
     * (<checkpoints>/<job>/shared), named after label ("<vertex>-<subtask>") */
    int incremental;
    const char *shared_dir;
    const char *label;
    /* rocksdb: state.backend.rocksdb.compaction.style (NULL: universal) */
    const char *compaction_style;
} te_state_store_config_t;

typedef struct te_state_store te_state_store_t;

/* NULL with a message naming the bad value (unknown backend, missing local_dir). The
 * RocksDB instance is opened on the first backend. */
te_state_store_t *state_store_new(const te_state_store_config_t *cfg, te_error_t *err);
/* Another reference (an asynchronous snapshot). */
te_state_store_t *state_store_ref(te_state_store_t *s);
/* Drops a reference; the last frees every backend (rocksdb: closes the instance and
 * deletes its directory) — on the snapshot pool when one was configured and this is
 * not a pool thread — and gives freed memory back to the system (malloc_trim). NULL is
 * a no-op. */
void state_store_free(te_state_store_t *s);

/* Checks a backend name: TE_OK for hashmap / rocksdb, else a message listing them. */
te_status_t state_store_check_backend(const char *backend, te_error_t *err);
/* Checks a RocksDB compaction style (NULL, universal, level), likewise. */
te_status_t state_store_check_compaction(const char *style, te_error_t *err);

const char *state_store_backend_name(const te_state_store_t *s);
/* The keyed state of chain operator op_index (created on first use). NULL + err. */
te_state_backend_t *state_store_backend(te_state_store_t *s, uint32_t op_index, te_error_t *err);
/* The backend of op_index when it exists, else NULL. */
te_state_backend_t *state_store_find(te_state_store_t *s, uint32_t op_index);
/* The timers' de-duplication state of op_index (a hashmap backend; created on first
 * use). NULL + err. */
te_state_backend_t *state_store_timers(te_state_store_t *s, uint32_t op_index, te_error_t *err);

/* Sum over the backends. */
void state_store_stats(te_state_store_t *s, te_state_stats_t *out);
/* Managed memory the store uses: hashmap: its slabs; rocksdb: the slot's cache (shared
 * by the slot's tasks). */
uint64_t state_store_managed_bytes(te_state_store_t *s);

/* ---- incremental checkpoints (rocksdb_incremental.h) ---- */

/* 1 when checkpoints are incremental (rocksdb and state.backend.incremental). */
int state_store_incremental(const te_state_store_t *s);
/* The synchronous part of checkpoint id: a native checkpoint of the instance (opened
 * now when no keyed state exists yet). NULL + err. */
te_rocksdb_inc_snapshot_t *state_store_snapshot_incremental(te_state_store_t *s, uint64_t id, uint32_t kg_first,
                                                            uint32_t kg_last,
                                                            const te_rocksdb_state_name_t *states, size_t n_states,
                                                            te_error_t *err);
/* Checkpoint id completed / was aborted or failed (no-ops unless incremental). */
void state_store_checkpoint_complete(te_state_store_t *s, uint64_t id);
void state_store_checkpoint_abort(te_state_store_t *s, uint64_t id);

/* ---- restore from RocksDB checkpoints ---- */

/* rocksdb only, before any backend exists: the instance becomes the checkpoint's (m),
 * with every key group outside kg_first..kg_last deleted; when it covers exactly that
 * range, its files become the base of the next incremental checkpoint. */
te_status_t state_store_restore_rocksdb(te_state_store_t *s, const te_rocksdb_manifest_t *m, uint32_t kg_first,
                                        uint32_t kg_last, te_error_t *err);
/* Any backend: adds the key groups kg_first..kg_last of every keyed state of m (read
 * from a temporary instance under local_dir) to the store's backends: state i of m to
 * the operator at targets[i] (< 0: dropped; targets NULL: where it was, its op_index). */
te_status_t state_store_import_rocksdb(te_state_store_t *s, const te_rocksdb_manifest_t *m, const long *targets,
                                       uint32_t kg_first, uint32_t kg_last, te_error_t *err);

#endif
