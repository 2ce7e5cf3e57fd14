/*
 * shared_state_registry — the checkpoint coordinator's SharedStateRegistry: reference
 * counts of the shared files of incremental checkpoints (the SST files a RocksDB task
 * uploaded once and later checkpoints refer to, `_metadata` handles' "shared" lists).
 * A completed checkpoint adds one reference to every file it refers to; a checkpoint
 * that is discarded (pruned by retention, or found gone) removes them; a file whose
 * count reaches zero is deleted — never a file a retained checkpoint refers to. A
 * resumed job first registers every checkpoint retained in its directory.
 *
 * Savepoints (savepoint.c) copy each handle's snapshot file and are never registered
 * here; the shared files an incremental RocksDB snapshot refers to are not copied into
 * a savepoint yet, so such a savepoint still needs the job's shared/ directory.
 *
 * Threading: one thread (the JobMaster's); no locks.
 */
#ifndef TE_SHARED_STATE_REGISTRY_H
#define TE_SHARED_STATE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "jobmaster/checkpoint_metadata.h"

typedef struct te_shared_state_registry te_shared_state_registry_t;

te_shared_state_registry_t *shared_state_registry_new(void);
void shared_state_registry_free(te_shared_state_registry_t *r);

/* +1 reference on every shared file of m (once per checkpoint id: a second call is a
 * no-op). *new_bytes (may be NULL) = the bytes of the files no registered checkpoint
 * referred to before: what the checkpoint added. */
te_status_t shared_state_registry_register(te_shared_state_registry_t *r, const te_ckpt_metadata_t *m,
                                           uint64_t *new_bytes, te_error_t *err);
/* -1 reference on every file of checkpoint id; files at zero are deleted. Returns how
 * many were deleted. */
size_t shared_state_registry_unregister(te_shared_state_registry_t *r, uint64_t checkpoint_id);
/* Unregisters every registered checkpoint whose <job_dir>/chk-<id>/_metadata is gone
 * (after retention pruned the directory). Returns the files deleted. */
size_t shared_state_registry_sync(te_shared_state_registry_t *r, const char *job_dir);
/* Registers every valid checkpoint retained in job_dir (a job resumed in its
 * directory). */
te_status_t shared_state_registry_load(te_shared_state_registry_t *r, const char *job_dir, te_error_t *err);

/* References of path (0 when unknown); files and bytes counted. */
unsigned shared_state_registry_refs(const te_shared_state_registry_t *r, const char *path);
size_t shared_state_registry_files(const te_shared_state_registry_t *r);
uint64_t shared_state_registry_bytes(const te_shared_state_registry_t *r);

#endif
