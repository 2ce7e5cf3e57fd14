/*
 * savepoint — a completed checkpoint made self-contained in a directory of its own
 * (Flink's savepoint): <root>/savepoint-<first 6 hex of the job id>-<checkpoint id>/
 * holding the checkpoint's snapshot files (hard links when the file system allows,
 * else fsync'd copies) — for an incremental RocksDB checkpoint also the shared files its
 * snapshots refer to, which a restore finds beside the snapshot file — and a _metadata
 * whose handle paths are relative to it and that lists no shared files (nothing in it
 * belongs to the job's shared-state registry), so the directory can be moved, outlives
 * the job's checkpoints and is never touched by checkpoint retention. `tectl submit
 * --from-savepoint` / the REST option from_savepoint start a job from it.
 *
 * Threading: pure file work on the calling thread (blocking: hard links are cheap;
 * copies take as long as the state is large).
 */
#ifndef TE_SAVEPOINT_H
#define TE_SAVEPOINT_H

#include <stddef.h>

#include "common/te_status.h"
#include "jobmaster/checkpoint_metadata.h"

/* Writes the savepoint of m (its handles' files must exist) under root; the directory
 * made goes to out (cap bytes). A failure removes what was made. */
te_status_t savepoint_write(const te_ckpt_metadata_t *m, const char *root, char *out, size_t cap, te_error_t *err);

#endif
