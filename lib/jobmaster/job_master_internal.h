/*
 * job_master_internal — internal to job_master.c, job_master_checkpoint.c,
 * job_master_monitor.c and job_master_adopt.c only:
 * the JobMaster's record and what the files call of each other.
 *
 * Threading: as job_master.h (the event-loop thread).
 */
#ifndef TE_JOB_MASTER_INTERNAL_H
#define TE_JOB_MASTER_INTERNAL_H

#include "jobmaster/shared_state_registry.h"
#include "jobmaster/checkpoint_failure_manager.h"
#include "jobmaster/job_master.h"
#include "jobmaster/restart_strategy.h"

#define JM_MAX_ABORTS     32
#define JM_MAX_UNREADABLE 16

/* One task of the current attempt. */
typedef struct jm_task {
    int state;         /* Te__ExecutionState of the last push; -1 before any */
    uint8_t submitted; /* SubmitTask sent (and not rejected) */
    uint8_t final;     /* a final state was seen, or none can come any more */
    uint8_t cancel_sent;
    uint8_t restore_failed; /* it failed restoring its TaskRestore */
    uint64_t records_in, records_out;
} jm_task_t;

/* A TaskExecutor of the current attempt (indexed as in the plan). */
typedef struct jm_executor {
    te_tm_gateway_t *gw; /* the provider's */
    char *data_address;
    int lost;
} jm_executor_t;

/* Why an attempt ends the way it does. */
typedef enum jm_end {
    JM_END_NONE = 0,
    JM_END_FINISHED,
    JM_END_FAILED,
    JM_END_CANCELED,
} jm_end_t;

/* The kinds of gateway operation a JobMaster has in flight. */
typedef enum jm_op_kind {
    JM_OP_SUBMIT,
    JM_OP_CANCEL,
    JM_OP_FREE_SLOT,
    JM_OP_HEARTBEAT,
    JM_OP_TASK_REPORT,
    JM_OP_TRIGGER,
    JM_OP_CONFIRM,
    JM_OP_ABORT,
    JM_OP_METADATA, /* a checkpoint's _metadata being written by cfg.metadata_writer */
} jm_op_kind_t;

struct te_job_master {
    te_job_master_config_t cfg; /* strings below are our copies */
    te_job_master_listener_t listener;
    te_job_state_t state;
    int driving, again; /* drive guard: inputs during a drive run it again */
    struct event *timer;
    int64_t timer_at; /* -1: not armed */

    /* The job. */
    te_id_t job_id, jm_id;
    char job_hex[TE_ID_HEX_LEN + 1];
    char *graph_text, *ckpt_root, *job_dir;
    te_shared_state_registry_t *registry;   /* incremental checkpoints' shared files (with job_dir) */
    te_ckpt_metadata_t *latest;             /* what a restart restores */
    uint64_t protect_id;                    /* the checkpoint the attempt restored from (kept by retention) */
    uint64_t explicit_id;                   /* the checkpoint the user named: never fallen back from */
    uint64_t unreadable[JM_MAX_UNREADABLE]; /* checkpoints a restore could not read */
    size_t n_unreadable;
    uint64_t first_ckpt_id, next_ckpt_id; /* the ids this JobMaster hands out */
    size_t n_completed;
    long tolerable_failed_checkpoints;
    te_restart_strategy_t *restart;
    uint32_t attempt;
    te_job_adoption_t adopt; /* cfg->adopt (our arrays); n_tasks 0 = none */
    int adopting;            /* the current attempt is being adopted (WAITING_FOR_SLOTS) */
    int adopted;             /* the current attempt was adopted */
    int64_t deadline;        /* job timeout (monotonic), -1 none */
    int cancel_requested;
    char *cancel_why;

    /* The end of the current (or last) attempt. */
    jm_end_t end;
    char *cause, *task_cause;
    int cause_reported, recoverable, unreachable;
    int fallback; /* redeploy from the older checkpoint now in `latest` (not a restart) */
    size_t last_finished, last_failed, last_canceled;

    /* The current attempt. */
    te_job_plan_t *plan;
    jm_task_t *tasks;
    size_t n_tasks;
    uint8_t *slot_offered; /* per shared slot: 1 offered (allocated on its executor) */
    size_t n_slots, n_offered;
    int slots_requested, release_started, released;
    jm_executor_t *ex;
    size_t n_ex, cap_ex, n_lost;
    size_t n_open;    /* submitted && !final */
    size_t n_running; /* state RUNNING && !final */
    size_t n_finished, n_failed, n_canceled;
    size_t n_restore_failed; /* tasks that could not read their TaskRestore's state */
    size_t n_submit_pending;
    long first_failed; /* task index, -1 */
    char *first_cause;
    int cancelling; /* cancels were sent: CANCELED is expected */
    int forced;     /* stop waiting for the cancelled tasks */
    int64_t cancel_deadline;
    size_t n_inflight; /* gateway operations not completed */
    struct jm_op *ops; /* those operations (orphaned by job_master_free) */
    int64_t next_hb, next_progress;
    size_t n_reports_pending;
    uint64_t report_total;
    int report_any, no_task_report;
    int64_t start_ms, rate_sample_ms;
    uint64_t records_out;
    double records_per_s;
    int64_t restart_at;

    /* Checkpoints of the attempt (coord NULL: off). */
    te_ckpt_coord_t *coord;
    te_ckpt_failure_manager_t *failures;
    int64_t next_trigger;
    int ckpt_completed;
    uint64_t aborts[JM_MAX_ABORTS];
    size_t n_aborts;
    int ckpt_writing; /* a completed checkpoint's _metadata is being written: no trigger meanwhile */

    /* A savepoint asked for (job_master_trigger_savepoint): triggered as soon as no
     * checkpoint is pending (sp_wanted), then known by its id (sp_id). */
    int sp_wanted, sp_terminate;
    uint64_t sp_id;
    te_savepoint_done_fn sp_done;
    void *sp_arg;
};

/* job_master.c */
int64_t jm_now(const te_job_master_t *jm);
/* Moves to state s (the listener hears of it). */
void jm_set_state(te_job_master_t *jm, te_job_state_t s);
/* Ends the current attempt's records / plans the next one and asks for its slots (or
 * for the adoption of the running one). */
void jm_attempt_clear(te_job_master_t *jm);
void jm_attempt_begin(te_job_master_t *jm);
void jm_logf(te_job_master_t *jm, te_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts a gateway operation for the JobMaster (counted in n_inflight). */
void *jm_op_new(te_job_master_t *jm, jm_op_kind_t kind, size_t index, uint64_t id);
void jm_op_done(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r);
/* An operation's payload (owned: freed with free_payload when the JobMaster was freed
 * before the operation completed). */
void jm_op_set_payload(void *op, void *payload, void (*free_payload)(void *));
/* Ends an operation (unlinked, uncounted, freed): its JobMaster and payload, or NULL
 * when the JobMaster was freed first (the payload is freed then). */
te_job_master_t *jm_op_finish(void *op, void **payload);
te_tm_gateway_t *jm_task_gateway(const te_job_master_t *jm, size_t t);
/* The task can still take calls. */
int jm_task_reachable(const te_job_master_t *jm, size_t t);
void jm_executor_lost(te_job_master_t *jm, size_t e, const char *cause);
/* The index of gw among the attempt's executors, or -1. */
long jm_executor_index(const te_job_master_t *jm, const te_tm_gateway_t *gw);
/* FINISHED, CANCELED or FAILED. */
int jm_exec_state_is_final(int s);
/* Task t reached a final state (or can no longer report one): the counters follow. */
void jm_task_mark_final(te_job_master_t *jm, size_t t, int state);
/* *dst = a copy of src (NULL for NULL or ""), the old one freed. */
void jm_set_text(char **dst, const char *src);
/* Records a failure that ends the attempt (the first one wins). */
void jm_fail(te_job_master_t *jm, int recoverable, int reported, const char *task_cause, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* job_master_monitor.c */
/* Heartbeats and records samples when due. */
void jm_monitor_tick(te_job_master_t *jm);
void jm_monitor_op_done(te_job_master_t *jm, jm_op_kind_t kind, size_t e, const te_tm_result_t *r);

/* job_master_adopt.c */
/* Copies cfg->adopt (a = NULL or a provider without adopt: nothing). */
te_status_t jm_adopt_init(te_job_master_t *jm, const te_job_adoption_t *a, te_error_t *err);
void jm_adopt_clear(te_job_master_t *jm);
/* Puts the adopted ids into the new plan; when they do not fit, plans a new attempt
 * instead (err: planning that failed). */
void jm_adopt_plan(te_job_master_t *jm, te_error_t *err);
/* Every slot of the adopted attempt was offered: RUNNING without SubmitTask. */
void jm_adopt_running(te_job_master_t *jm);
/* An attempt's tasks go out (deployed, or adopted running): DEPLOYING, the listener's
 * on_plan, the attempt's start and progress clocks. */
void jm_attempt_deploying(te_job_master_t *jm);

/* job_master_checkpoint.c */
te_status_t jm_ckpt_start(te_job_master_t *jm, te_error_t *err);
void jm_ckpt_stop(te_job_master_t *jm);
/* Completions, timeouts, aborts; triggers when `trigger`. */
void jm_ckpt_tick(te_job_master_t *jm, int trigger);
int64_t jm_ckpt_next_deadline(const te_job_master_t *jm, int trigger);
void jm_ckpt_on_ack(te_job_master_t *jm, size_t t, const Te__AcknowledgeCheckpoint *a);
void jm_ckpt_on_decline(te_job_master_t *jm, size_t t, const Te__DeclineCheckpoint *d);
/* Task t can no longer acknowledge (quietly: it finished, or we cancel). */
void jm_ckpt_task_gone(te_job_master_t *jm, size_t t, int quiet);
void jm_ckpt_op_done(te_job_master_t *jm, jm_op_kind_t kind, size_t t, uint64_t id, const te_tm_result_t *r);
/* Sets every task's TaskRestore from jm->latest. */
te_status_t jm_ckpt_set_restore(te_job_master_t *jm, te_error_t *err);
/* Checks jm->latest against the graph (max parallelism; warnings). */
te_status_t jm_ckpt_check_restore(te_job_master_t *jm, te_error_t *err);
/* The attempt restored jm->latest and a task could not read its state (cause): puts
 * the previous retained valid checkpoint in its place, unless the user named it.
 * Returns 1 when there is one to redeploy from. */
int jm_ckpt_fall_back(te_job_master_t *jm, const char *cause);
/* An adopted attempt runs: ConfirmCheckpoint of the latest completed checkpoint to every
 * task, AbortCheckpoint of every id after it that a deposed leader may have triggered
 * (their directories deleted). */
void jm_ckpt_resume_adopted(te_job_master_t *jm);

#endif
