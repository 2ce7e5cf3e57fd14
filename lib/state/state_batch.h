/*
 * state_batch — writes into a RocksDB instance, encoded as the instance stores them
 * (column family, key, value or delete), copied into one buffer so that another thread
 * can write them later: an incremental checkpoint's copy of what the state caches held
 * dirty at the barrier (state_gate.h), written by its asynchronous part.
 *
 * Threading: filled on one thread (the task's, at the barrier), then handed over;
 * written and freed on the thread that holds it. Column-family handles must outlive it
 * (the instance does: it is closed after the task's checkpoints).
 */
#ifndef TE_STATE_BATCH_H
#define TE_STATE_BATCH_H

#include <rocksdb/c.h>
#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/rocksdb_instance.h"

typedef struct te_state_batch te_state_batch_t;

/* NULL when out of memory. */
te_state_batch_t *state_batch_new(void);
void state_batch_free(te_state_batch_t *b);
/* Appends a put of (key, val) to cf, or a delete when val is NULL. 0, or -1 out of
 * memory. */
int state_batch_add(te_state_batch_t *b, rocksdb_column_family_handle_t *cf, const uint8_t *key, size_t keylen,
                    const uint8_t *val, size_t vallen);
/* Writes and deletes added. */
size_t state_batch_count(const te_state_batch_t *b);
/* Writes every one into inst, in order (several RocksDB writes: not atomic as a whole).
 * TE_OK, or the error. */
te_status_t state_batch_write(const te_state_batch_t *b, te_rocksdb_instance_t *inst, te_error_t *err);

#endif
