/*
 * checkpoint_storage — where a subtask's snapshot file of one checkpoint lives
 * (`<state.checkpoints.dir>/<job id hex>/chk-<n>/<job vertex id hex>-<subtask>`), how
 * it is written durably (streamed by checkpoint_writer: temp file, fsync, rename, fsync
 * of the directory) and read back (checked by checkpoint_reader; the format is in
 * snapshot.h).
 *
 * Threading: blocking file I/O on the caller's thread (the task thread). No state.
 */
#ifndef TE_CHECKPOINT_STORAGE_H
#define TE_CHECKPOINT_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/snapshot.h"

/* Encodes s and writes it to path; *size = bytes written. */
te_status_t checkpoint_storage_write(const char *path, const te_ckpt_snapshot_t *s, uint64_t *size,
                                     te_error_t *err);
/* Reads and decodes the snapshot file at path. */
te_ckpt_snapshot_t *checkpoint_storage_read(const char *path, te_error_t *err);

#endif
