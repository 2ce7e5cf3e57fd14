/*
 * job_store — where the Dispatcher keeps the jobs it accepted (Flink's JobGraphStore):
 * one record per job, an opaque JSON text the Dispatcher writes (graph, submit
 * options, status) under the job's id. A job is acknowledged only after its record is
 * durable; at start the JobManager reads every record and recovers the unfinished
 * jobs.
 *
 * Implementations: dir_job_store (jobmanager.store.dir: one file per job, written
 * temp + fsync + rename on a worker thread); the etcd store of high availability
 * (issue #15) goes behind the same table.
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
/* NULL: no-op. */
static inline void job_store_free(te_job_store_t *s)
{
    if (s != NULL)
        s->ops->free(s);
}

#endif
