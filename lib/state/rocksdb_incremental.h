/*
 * rocksdb_incremental — incremental checkpoints of a task's RocksDB instance
 * (`state.backend.incremental: true`; Flink's RocksIncrementalSnapshotStrategy and
 * its restore operations).
 *
 * A checkpoint's synchronous part copies what the state caches hold dirty into a batch
 * and closes a gate on the task's writes into the instance (state_gate.h); its
 * asynchronous part writes the batch, switches the instance's memtables, opens the
 * gate, waits for their flush and takes RocksDB's native checkpoint (hard links of the
 * SST files into <local>/chk-<n>) — rocksdb_instance_capture_*. It then uploads the SST
 * files that the base — the files of the last confirmed checkpoint — does not hold, as
 * shared files `<state.checkpoints.dir>/<job>/shared/<instance uid>-<n>-<name>` (a hard
 * link when the checkpoint directory is on the same file system, else a copy; fsynced),
 * refers to the others, and writes the manifest as the ROCKSDB section of the
 * subtask's snapshot file:
 *
 *   all integers little endian
 *   "TERI" | u32 version (1) | u32 max_parallelism | u32 kg_first | u32 kg_last
 *   u32 n_states, then per keyed state: u32 operator index | u32 len | operator name
 *   u32 n_files, then per file: u8 kind | u16 len | name in the instance, then
 *     kind 1 (shared SST): u16 len | absolute path | u64 size | u32 crc32c(content)
 *     kind 2 (private: MANIFEST, CURRENT, OPTIONS, an empty WAL): u64 size | content
 *
 * Every shared file a checkpoint refers to is reported with its acknowledgement, so
 * the coordinator's shared-state registry counts references and deletes a file only
 * when no retained checkpoint refers to it. Confirmation of checkpoint n makes n's
 * files the base (and deletes what checkpoints aborted before n uploaded); an abort, a
 * decline or a cancelled upload deletes what that checkpoint uploaded.
 *
 * Restore materialises a manifest into a directory: every shared file copied (or
 * linked) and checked against its size and checksum, the private files written; a
 * missing or corrupt file is an error naming it. An instance restored in place adopts
 * the manifest as its base when its files lie in this job's shared directory (Flink's
 * claim mode); otherwise its first checkpoint uploads everything (no-claim).
 *
 * Threading: the task thread takes snapshots, confirms, aborts; snapshot threads write
 * (upload); `mu` guards the base and the pending checkpoints (a leaf lock, not held
 * during file I/O).
 */
#ifndef TE_ROCKSDB_INCREMENTAL_H
#define TE_ROCKSDB_INCREMENTAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/checkpoint_writer.h"
#include "state/rocksdb_instance.h"
#include "state/state_batch.h"
#include "state/state_gate.h"

#define TE_ROCKSDB_MANIFEST_VERSION 1u

typedef struct te_rocksdb_incremental te_rocksdb_incremental_t;
typedef struct te_rocksdb_inc_snapshot te_rocksdb_inc_snapshot_t;

/* A keyed state in the instance: column family "op-<index>" of operator `name`. */
typedef struct te_rocksdb_state_name {
    uint32_t op_index;
    const char *name;
} te_rocksdb_state_name_t;

/* A shared file a checkpoint refers to (for the acknowledgement); non-zero fails the
 * checkpoint (a reference the coordinator would not count could be deleted). */
typedef int (*te_rocksdb_shared_fn)(void *arg, const char *path, uint64_t size);

/* shared_dir: <checkpoints>/<job>/shared; label names the task's files
 * ("<vertex>-<subtask>"). NULL when out of memory. */
te_rocksdb_incremental_t *rocksdb_incremental_new(const char *shared_dir, const char *label);
void rocksdb_incremental_free(te_rocksdb_incremental_t *x);

/* Synchronous part: a native checkpoint of inst into local_chk_dir (must not exist),
 * begun by the asynchronous part once it has written batch (the caches' dirty entries at
 * the barrier; ownership passes) and opened gate (a reference taken; opened failed when
 * s is released first). states: the keyed states the manifest names (copied). NULL +
 * err (batch freed, gate opened failed). */
te_rocksdb_inc_snapshot_t *rocksdb_incremental_snapshot(te_rocksdb_incremental_t *x, te_rocksdb_instance_t *inst,
                                                        uint64_t checkpoint_id, uint32_t max_parallelism,
                                                        uint32_t kg_first, uint32_t kg_last,
                                                        const te_rocksdb_state_name_t *states, size_t n_states,
                                                        const char *local_chk_dir, te_state_batch_t *batch,
                                                        te_state_gate_t *gate, te_error_t *err);
/* Asynchronous part: writes the batch, begins and ends the native checkpoint (opening
 * the gate in between; TE_ESTATE: it would not be the state at the barrier; decline),
 * uploads, then writes the manifest into w's current section;
 * shared(arg, path, size) for every shared file referred to. */
te_status_t rocksdb_incremental_write(te_rocksdb_inc_snapshot_t *s, te_ckpt_writer_t *w,
                                      te_rocksdb_shared_fn shared, void *arg, te_error_t *err);
/* Deletes the local checkpoint directory and frees s (any thread). */
void rocksdb_incremental_release(te_rocksdb_inc_snapshot_t *s);

/* Checkpoint `id` completed / was aborted (or its asynchronous part failed). */
void rocksdb_incremental_complete(te_rocksdb_incremental_t *x, uint64_t id);
void rocksdb_incremental_abort(te_rocksdb_incremental_t *x, uint64_t id);

/* ---- restore ---- */

typedef struct te_rocksdb_manifest te_rocksdb_manifest_t;

/* Parses a ROCKSDB section (what: the path of the snapshot file that holds it, for
 * messages and for finding shared files beside it). NULL + err. */
te_rocksdb_manifest_t *rocksdb_incremental_parse(const uint8_t *data, size_t len, uint32_t version,
                                                 const char *what, te_error_t *err);
void rocksdb_incremental_manifest_free(te_rocksdb_manifest_t *m);
void rocksdb_incremental_manifest_range(const te_rocksdb_manifest_t *m, uint32_t *max_parallelism,
                                        uint32_t *kg_first, uint32_t *kg_last);
size_t rocksdb_incremental_manifest_states(const te_rocksdb_manifest_t *m);
const te_rocksdb_state_name_t *rocksdb_incremental_manifest_state(const te_rocksdb_manifest_t *m, size_t i);
/* Writes the instance's files into dir (created; must be empty). A shared file is taken
 * from beside the snapshot file when a copy of that name lies there (a savepoint carries
 * its own copies, see jobmaster/savepoint.h), else from the path it was uploaded to;
 * either way its size and checksum must match. */
te_status_t rocksdb_incremental_materialize(const te_rocksdb_manifest_t *m, const char *dir, te_error_t *err);
/* The restored instance is exactly m: its files become the base when they lie in x's
 * shared directory. */
void rocksdb_incremental_adopt(te_rocksdb_incremental_t *x, const te_rocksdb_manifest_t *m);

#endif
