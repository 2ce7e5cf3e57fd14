/*
 * dispatcher_internal — internal to dispatcher.c (jobs: submit, store, JobMasters,
 * recovery, history) and dispatcher_views.c (the JSON the REST API serves): the job
 * record and what the files call of each other.
 *
 * Threading: as dispatcher.h (the event-loop thread).
 */
#ifndef TE_DISPATCHER_INTERNAL_H
#define TE_DISPATCHER_INTERNAL_H

#include "cluster/dispatcher.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_master.h"

#define CL_MAX_EVENTS 4096 /* per job; the oldest go first */

/* A job's submit options (normalized). */
typedef struct cl_options {
    int64_t checkpoint_interval_ms;
    char *checkpoint_root; /* absolute */
    long restart_attempts;
    int64_t restart_backoff_ms;
    char *from_savepoint; /* NULL = none */
    int allow_non_restored_state;
} cl_options_t;

typedef struct cl_job {
    te_dispatcher_t *d;
    te_id_t id;
    char hex[TE_ID_HEX_LEN + 1];
    json_t *graph_json; /* the job graph as submitted */
    char *graph_text;
    te_job_graph_t *graph;
    cl_options_t opt;
    te_job_master_t *jm; /* NULL once ended (or before start) */
    te_job_state_t state;
    int64_t submitted_ms, end_ms; /* wall clock */
    char *cause;                  /* FAILED: why */
    long restarts, max_restarts;
    int recovered; /* started again from the store by a new JobManager process */
    /* checkpoints */
    uint64_t ckpt_completed, ckpt_failed;
    double ckpt_duration_sum_s;
    json_t *last_checkpoint; /* {"id", "path", "duration_ms", "size", "time_ms"} or NULL */
    json_t *ckpt_history;    /* the last completed / aborted checkpoints, newest last */
    json_t *final_detail;    /* vertices/subtasks at the end (the JobMaster is gone) */
    json_t *executors;       /* RPC addresses of the TaskExecutors of the last attempt (stored) */
    json_t *attempt;         /* the last attempt's {"number", "tasks", "slots"} (execution and
                                allocation ids, stored): what a new leader adopts */
    int adopted;             /* this JobManager adopted its running tasks */
    json_t *savepoints;      /* the savepoints taken, oldest first: [{"id", "path", "time_ms",
                                "stop"}], the last CL_SAVEPOINTS_KEPT (stored) */
    /* events for attach */
    json_t *events;
    uint64_t next_seq;
    /* the store */
    int stored;      /* the record is durable */
    int store_busy;  /* a write is in flight */
    int store_dirty; /* changed since that write */
    struct cl_job *next;
} cl_job_t;

#define CL_SAVEPOINTS_KEPT 20 /* savepoint pointers a job record keeps */

struct te_dispatcher {
    te_dispatcher_config_t cfg;
    cl_job_t *jobs;          /* newest first */
    struct event *reaper;    /* frees the JobMasters of ended jobs outside their callbacks */
    struct te_io_worker *io; /* the JobMasters' _metadata writes and pruning */
    uint64_t n_submitted;
    int closing;
};

/* dispatcher.c */
cl_job_t *cl_find_job(te_dispatcher_t *d, const char *hex);
/* Appends an event (NEW reference; "seq" and "time_ms" are added). */
void cl_event(cl_job_t *j, json_t *ev);

/* dispatcher_views.c */
/* The job's vertices with their subtasks (live from the JobMaster, else the snapshot
 * taken at its end). NEW reference. */
json_t *cl_vertices_json(const cl_job_t *j);
/* The options as a submit body would give them (durations in milliseconds): the store
 * record and the REST view. */
json_t *cl_options_json(const cl_options_t *o);
json_t *cl_progress_json(const cl_job_t *j);

/* dispatcher_metadata.c */
/* The JobMasters' metadata_writer (self: the Dispatcher): _metadata on the I/O worker,
 * then the pointer in the store, then the pruning. */
void cl_metadata_write(void *self, const te_ckpt_metadata_t *m, const char *job_dir, size_t keep,
                       void (*done)(void *arg, const te_error_t *err), void *arg);

/* dispatcher_attempt.c */
/* The attempt of jm's plan as the job record stores it: {"number", "tasks": [execution
 * ids], "slots": [allocation ids]} (NEW reference). */
json_t *cl_attempt_json(const te_job_master_t *jm);
/* The stored last attempt of a recovered job to adopt (its arrays allocated: free with
 * cl_adoption_clear); 0 when there is none usable or adoption is off. */
int cl_adoption_of(const cl_job_t *j, te_job_adoption_t *a);
void cl_adoption_clear(te_job_adoption_t *a);

#endif
