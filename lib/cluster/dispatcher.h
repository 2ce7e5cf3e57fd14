/*
 * dispatcher — the JobManager's Dispatcher (Flink's Dispatcher + JobManagerRunner,
 * reduced): accepts jobs (the job graph JSON plus submit options), writes each to the
 * job store before acknowledging it, runs one JobMaster per job (lib/jobmaster) with
 * slots from the ResourceManager, keeps what the REST API shows (state, subtasks,
 * checkpoints, restarts, failure cause, an event log that `tectl attach` follows), and
 * keeps ended jobs as history (jobmanager.job.history, in the store too). At start it
 * recovers every unfinished job in the store from its latest completed checkpoint.
 *
 * Submit body (POST /v1/jobs): either a bare job graph, or
 *   {"job": <job graph>, "checkpoint_interval": "1s", "checkpoint_dir": "/abs/dir",
 *    "restart_attempts": 3, "restart_backoff": "500ms", "from_savepoint": "/abs/dir",
 *    "allow_non_restored_state": false}
 * (durations as strings with units or integer milliseconds; null = the default). Unknown options, a bad
 * value, an invalid graph or an unusable savepoint are answered 400 with the reason and
 * nothing is stored; a store that cannot be written is answered 503 and nothing stays.
 *
 * Threading: the JobManager's event-loop thread; no locks. Replies may be given from
 * inside the call or later from the loop.
 */
#ifndef TE_DISPATCHER_H
#define TE_DISPATCHER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/job_store.h"
#include "cluster/resource_manager.h"
#include "common/te_status.h"

struct event_base;

typedef struct te_dispatcher te_dispatcher_t;

typedef struct te_dispatcher_config {
    struct event_base *base;
    te_job_store_t *store;       /* taken when dispatcher_new succeeds; freed by dispatcher_free */
    te_resource_manager_t *rm;   /* borrowed */
    const char *checkpoint_root; /* absolute: where jobs without checkpoint_dir checkpoint */
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_timeout_ms; /* a recovered job waits this long for its TaskExecutors */
    int64_t adoption_timeout_ms;  /* a recovered job's running tasks are adopted when reported
                                     RUNNING within this (0 = never adopt: restart) */
    int64_t checkpoint_timeout_ms;
    long restart_attempts; /* defaults of jobs that do not set them */
    int64_t restart_backoff_ms;
    size_t history; /* ended jobs kept */
} te_dispatcher_config_t;

/* An HTTP answer: status code and body (a NEW reference, handed over). */
typedef void (*te_dispatch_reply_fn)(void *arg, int status, json_t *body);

te_dispatcher_t *dispatcher_new(const te_dispatcher_config_t *cfg, te_error_t *err);
/* Reads the store: ended jobs become history, unfinished ones adopt the tasks of their
 * last attempt when those still run (adoption_timeout_ms), else are started again from
 * their latest completed checkpoint. Returns how many were recovered (or -1 + err). */
long dispatcher_recover(te_dispatcher_t *d, te_error_t *err);
/* Frees the store (pending writes complete first) and every job (JobMasters included;
 * their tasks keep running on the TaskExecutors until a JobManager takes them over or
 * heartbeat.timeout). NULL: no-op. */
void dispatcher_free(te_dispatcher_t *d);
/* SIGHUP: the heartbeat interval of JobMasters started from now on. */
void dispatcher_set_heartbeat(te_dispatcher_t *d, int64_t interval_ms);
/* For the ResourceManager: whether job_id is one of ours (running or ended). */
int dispatcher_knows_job(void *d, const te_id_t *job_id);

/* POST /v1/jobs: 202 {"job_id": ...} once stored; 400 / 503 {"error": ...}. */
void dispatcher_submit(te_dispatcher_t *d, const char *body, size_t len, te_dispatch_reply_fn reply, void *arg);
/* DELETE /v1/jobs/<id>: 202 (cancelling), 404, 409 (already ended). */
void dispatcher_cancel(te_dispatcher_t *d, const char *job_hex, te_dispatch_reply_fn reply, void *arg);

/* POST /v1/jobs/<id>/savepoints {"dir": "/abs"} (stop = 0) and POST
 * /v1/jobs/<id>/stop {"savepoint_dir": "/abs"} (stop = 1: stop-with-savepoint): 200
 * {"job_id", "checkpoint_id", "path"} once the savepoint directory is in place (a stopped
 * job then finishes); 400 bad body, 404, 409 not running or a savepoint pending, 500
 * the savepoint failed (its cause). */
void dispatcher_savepoint(te_dispatcher_t *d, const char *job_hex, const char *body, size_t len, int stop,
                          te_dispatch_reply_fn reply, void *arg);
/* Stops every reply to requests still pending (the REST API is going away). */
void dispatcher_close(te_dispatcher_t *d);

/* Views (NEW references; NULL = unknown job). */
json_t *dispatcher_jobs_json(te_dispatcher_t *d);
json_t *dispatcher_job_json(te_dispatcher_t *d, const char *job_hex);
json_t *dispatcher_checkpoints_json(te_dispatcher_t *d, const char *job_hex);
/* Events with seq > since (at most `max`), the job's state and its progress. */
json_t *dispatcher_events_json(te_dispatcher_t *d, const char *job_hex, uint64_t since, size_t max);

/* Counts for /metrics and the overview. */
typedef struct te_dispatcher_counts {
    size_t jobs_by_state[16]; /* te_job_state_t */
    uint64_t restarts, checkpoints_completed, checkpoints_failed, submitted;
    uint64_t adopted; /* jobs whose running tasks this JobManager adopted */
    double checkpoint_duration_seconds_sum;
} te_dispatcher_counts_t;
void dispatcher_counts(const te_dispatcher_t *d, te_dispatcher_counts_t *c);

#endif
