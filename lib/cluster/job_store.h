/*
 * job_store — where the Dispatcher keeps the jobs it accepted (Flink's JobGraphStore):
 * one record per job, an opaque JSON text the Dispatcher writes (graph, submit
 * options, status) under the job's id. A job is acknowledged only after its record is
 * durable; at start the JobManager reads every record and recovers the unfinished
 * jobs.
 *
 * Implementations: dir_job_store (jobmanager.store.dir: one file per job, written
 * temp + fsync + rename on a worker thread); etcd_job_store (high availability: the
 * records and each job's checkpoint pointer in etcd, every write guarded by the
 * leadership).
 *
 * Checkpoint pointers (Flink's CompletedCheckpointStore + CheckpointIDCounter), optional:
 * a store that keeps them is told each completed checkpoint (its id and directory)
 * after its _metadata is durable and before it counts; recovery then restores the
 * pointer's checkpoint, never a newer _metadata it does not name (one a deposed leader
 * wrote). A store without them (the directory) leaves the _metadata files as the
 * pointers.
 *
 * Contract: put and remove return at once; `done` runs later on the event loop with
 * NULL (durable) or the error; operations on one job complete in the order issued.
 * load is synchronous (start-up, before anything is served). Freeing the store
 * completes pending operations with an error ("the job store was closed").
 *
 * Threading: the event loop's thread (the one the store was made with).
 */
#ifndef TE_JOB_STORE_H
#define TE_JOB_STORE_H

#include <stdint.h>

#include "common/te_status.h"

typedef struct te_job_store te_job_store_t;

/* err NULL: done (durable). */
typedef void (*te_job_store_done_fn)(void *arg, const te_error_t *err);
/* One stored record: the job's id (32 hex) and its text (both borrowed). */
typedef void (*te_job_store_record_fn)(void *arg, const char *job_hex, const char *record);

typedef struct te_job_store_ops {
    /* "directory /var/lib/te/jobstore", for messages. */
    const char *(*describe)(const te_job_store_t *s);
    te_status_t (*load)(te_job_store_t *s, te_job_store_record_fn fn, void *arg, te_error_t *err);
    /* Creates or replaces the record (text copied). */
    void (*put)(te_job_store_t *s, const char *job_hex, const char *record, te_job_store_done_fn done, void *arg);
    void (*remove)(te_job_store_t *s, const char *job_hex, te_job_store_done_fn done, void *arg);
    void (*free)(te_job_store_t *s);
    /* Optional (see above). put_checkpoint: as put. latest_checkpoint (synchronous,
     * recovery): the directory of the job's latest checkpoint (malloc'd, *id its id), or
     * NULL with err->code TE_OK when there is none, else the error. */
    void (*put_checkpoint)(te_job_store_t *s, const char *job_hex, uint64_t id, const char *dir,
                           te_job_store_done_fn done, void *arg);
    char *(*latest_checkpoint)(te_job_store_t *s, const char *job_hex, uint64_t *id, te_error_t *err);
} te_job_store_ops_t;

/* Every implementation starts with this header. */
struct te_job_store {
    const te_job_store_ops_t *ops;
};

static inline const char *job_store_describe(const te_job_store_t *s) { return s->ops->describe(s); }
static inline te_status_t job_store_load(te_job_store_t *s, te_job_store_record_fn fn, void *arg, te_error_t *err)
{
    return s->ops->load(s, fn, arg, err);
}
static inline void job_store_put(te_job_store_t *s, const char *job_hex, const char *record,
                                 te_job_store_done_fn done, void *arg)
{
    s->ops->put(s, job_hex, record, done, arg);
}
static inline void job_store_remove(te_job_store_t *s, const char *job_hex, te_job_store_done_fn done, void *arg)
{
    s->ops->remove(s, job_hex, done, arg);
}
static inline int job_store_keeps_checkpoints(const te_job_store_t *s) { return s->ops->put_checkpoint != NULL; }
static inline void job_store_put_checkpoint(te_job_store_t *s, const char *job_hex, uint64_t id, const char *dir,
                                            te_job_store_done_fn done, void *arg)
{
    if (s->ops->put_checkpoint == NULL)
        done(arg, NULL);
    else
        s->ops->put_checkpoint(s, job_hex, id, dir, done, arg);
}
static inline char *job_store_latest_checkpoint(te_job_store_t *s, const char *job_hex, uint64_t *id,
                                                te_error_t *err)
{
    return s->ops->latest_checkpoint ? s->ops->latest_checkpoint(s, job_hex, id, err) : NULL;
}
/* NULL: no-op. */
static inline void job_store_free(te_job_store_t *s)
{
    if (s != NULL)
        s->ops->free(s);
}

#endif
