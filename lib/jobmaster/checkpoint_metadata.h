/*
 * checkpoint_metadata — the `_metadata` file of a completed checkpoint, written by
 * tectl (the checkpoint coordinator) once every task acknowledged, and read back to
 * restore a job (`tectl submit --from-checkpoint`) or to list retained checkpoints
 * (`tectl checkpoints`).
 *
 * Layout on disk (shared with the daemon, see the checkpoint contract):
 *
 *   <checkpoint dir>/<job id hex>/chk-<n>/_metadata          written here
 *   <checkpoint dir>/<job id hex>/chk-<n>/<vertex hex>-<i>   the tasks' snapshots
 *
 * `_metadata` is one JSON document:
 *
 *   { "format": 1, "job_id": "<32 hex>", "job_name": "...", "max_parallelism": 128,
 *     "checkpoint_id": 7, "timestamp": <wall ms at trigger>, "duration_ms": 42,
 *     "state_size": 12345, "job_graph": { ...the job JSON itself... },
 *     "vertices": [ { "id": "count", "vertex_id": "<32 hex>", "parallelism": 2,
 *                     "handles": [ { "path": "/abs/...", "size": 99,
 *                                    "key_groups": [0, 1, ...],
 *                                    "subtask_index": 0, "parallelism": 2,
 *                                    "shared": [ { "path": "/abs/...", "size": 9 } ] } ] } ] }
 *
 * `shared` (incremental checkpoints only; absent otherwise) lists the shared files the
 * handle's snapshot refers to (<dir>/<job>/shared/...): files an earlier checkpoint may
 * have written, kept as long as a retained checkpoint refers to them
 * (shared_state_registry.h).
 *
 * plus "checksum": "sha256:<64 hex>" over the document's canonical text (compact,
 * keys sorted, without the checksum member).
 *
 * It is written to a temp file, fsync'ed, renamed over `_metadata` and the directory
 * fsync'ed, so a reader sees either nothing or the whole document. A truncated,
 * otherwise unreadable or changed (checksum mismatch) `_metadata` makes its checkpoint
 * invalid: listing and picking the latest skip it with a warning naming the file. A
 * `_metadata` without a checksum (written before it existed) is read as it is.
 *
 * Threading: pure functions over the file system; no shared state.
 */
#ifndef TE_CHECKPOINT_METADATA_H
#define TE_CHECKPOINT_METADATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

#define TE_CKPT_METADATA_FILE "_metadata"
#define TE_CKPT_RETAINED      3 /* completed checkpoints kept per job */

/* A shared file an incremental checkpoint refers to. */
typedef struct te_ckpt_shared_file {
    char *path;
    uint64_t size;
} te_ckpt_shared_file_t;

/* One task's snapshot (a StateHandle). */
typedef struct te_ckpt_handle {
    char *path;
    uint64_t size;
    uint32_t *key_groups;
    size_t n_key_groups;
    uint32_t subtask_index;
    uint32_t parallelism;
    te_ckpt_shared_file_t *shared; /* incremental checkpoints */
    size_t n_shared;
} te_ckpt_handle_t;

/* The handles of one job vertex (identified by its id in the job graph). */
typedef struct te_ckpt_vertex {
    char *id;
    char *vertex_id; /* JobVertexID hex of the run that wrote it (informational) */
    uint32_t parallelism;
    te_ckpt_handle_t *handles;
    size_t n_handles;
} te_ckpt_vertex_t;

typedef struct te_ckpt_metadata {
    char *job_id; /* 32 hex */
    char *job_name;
    char *job_graph; /* the job JSON (compact text) */
    uint32_t max_parallelism;
    uint64_t checkpoint_id;
    int64_t timestamp_ms; /* wall clock at trigger */
    int64_t duration_ms;  /* trigger to completion */
    uint64_t state_size;  /* sum over the handles' sizes */
    te_ckpt_vertex_t *vertices;
    size_t n_vertices;
    char *dir; /* the chk-<n> directory (set by read; ignored by write) */
} te_ckpt_metadata_t;

/* Deep copy of src into dst (dst is overwritten). */
te_status_t checkpoint_metadata_handle_copy(te_ckpt_handle_t *dst, const te_ckpt_handle_t *src, te_error_t *err);
void checkpoint_metadata_handle_clear(te_ckpt_handle_t *h);

/* Frees m and everything it points to (NULL is fine). */
void checkpoint_metadata_free(te_ckpt_metadata_t *m);

/* "<job_dir>/chk-<id>" into buf. Returns buf (NULL when it does not fit). */
char *checkpoint_metadata_chk_dir(const char *job_dir, uint64_t id, char *buf, size_t cap);

/* Writes <job_dir>/chk-<m->checkpoint_id>/_metadata atomically (creating the
 * directories when missing). job_graph must be valid JSON. */
te_status_t checkpoint_metadata_write(const te_ckpt_metadata_t *m, const char *job_dir, te_error_t *err);
/* The same into dir/_metadata (a savepoint's directory). Handle paths that are relative
 * are read back relative to the directory of their _metadata (a savepoint can be
 * moved). */
te_status_t checkpoint_metadata_write_in(const te_ckpt_metadata_t *m, const char *dir, te_error_t *err);

/* Reads <chk_dir>/_metadata. NULL + err (naming the file: ENOTFOUND when missing,
 * EPROTO when truncated / not valid metadata). */
te_ckpt_metadata_t *checkpoint_metadata_read(const char *chk_dir, te_error_t *err);

/* Every valid completed checkpoint of the job directory, by ascending id, in *out
 * (free each with checkpoint_metadata_free, then the array). chk-* directories without a
 * `_metadata` (in progress or aborted) are not listed; corrupt ones are skipped with
 * a warning. A missing job_dir lists nothing. */
te_status_t checkpoint_metadata_list(const char *job_dir, te_ckpt_metadata_t ***out, size_t *n, te_error_t *err);

/* Like checkpoint_metadata_list over every job directory (32 hex characters) under root, or
 * only the job with this id (hex) when job_id != NULL. Ordered by job, then id. */
te_status_t checkpoint_metadata_list_root(const char *root, const char *job_id, te_ckpt_metadata_t ***out,
                                          size_t *n, te_error_t *err);

void checkpoint_metadata_list_free(te_ckpt_metadata_t **list, size_t n);

/* The valid checkpoint with the highest id in job_dir; NULL + ENOTFOUND when none. */
te_ckpt_metadata_t *checkpoint_metadata_latest(const char *job_dir, te_error_t *err);

/* dir holds a _metadata itself (names one checkpoint, not a job directory). */
int checkpoint_metadata_is_chk_dir(const char *dir);
/* `dir` is a chk-<n> directory (holding _metadata) or a job directory (then its
 * latest valid checkpoint). */
te_ckpt_metadata_t *checkpoint_metadata_resolve(const char *dir, te_error_t *err);

/* The highest n of any chk-<n> directory in job_dir (complete or not), 0 when none. */
uint64_t checkpoint_metadata_max_id(const char *job_dir);

/* Keeps the `keep` newest completed checkpoints of job_dir and deletes every chk-<n>
 * directory older than the oldest kept one (completed, aborted or abandoned) and every
 * one without a valid _metadata older than the newest completed one (aborted or
 * abandoned), except `protect_id` (0 = none). Sets *n_deleted when given. */
te_status_t checkpoint_metadata_retain(const char *job_dir, size_t keep, uint64_t protect_id, size_t *n_deleted,
                                       te_error_t *err);
/* Deletes chk-<id> of job_dir (an aborted checkpoint; best effort, NULL job_dir: no-op). */
void checkpoint_metadata_discard(const char *job_dir, uint64_t id);
/* Deletes every chk-<n> of job_dir with from_id <= n < below_id and no valid _metadata
 * (call when none of those can still be written: between attempts, at the end of a
 * job). */
te_status_t checkpoint_metadata_sweep(const char *job_dir, uint64_t from_id, uint64_t below_id, size_t *n_deleted,
                                      te_error_t *err);

#endif
