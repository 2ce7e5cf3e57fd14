/*
 * job_master — one job's JobMaster (Flink's JobMaster + its scheduler and
 * ExecutionGraph, reduced): an explicit state machine with one drive function that
 * places the job's subtasks on slots offered by a slot provider, deploys them through
 * TaskExecutor gateways, follows their states, coordinates checkpoints, cancels, frees
 * the slots and restarts the job from its latest completed checkpoint, reporting
 * everything through a listener (it prints nothing).
 *
 * States (te_job_state_t):
 *
 *   CREATED --start--> WAITING_FOR_SLOTS --all slots offered--> DEPLOYING
 *     --every task accepted--> RUNNING --every task FINISHED--> RELEASING --> FINISHED
 *   a task failed / an executor lost / a submit rejected / too many failed checkpoints
 *     --> FAILING (cancel the rest, bounded wait) --> RELEASING (free slots, release
 *     the provider) --> RESTARTING (backoff) --> WAITING_FOR_SLOTS ...   or --> FAILED
 *   job_master_cancel --> CANCELLING --> RELEASING --> CANCELED
 *
 * Adoption (high availability, cfg->adopt): the first attempt is one that already runs
 * (a new leader recovered the job). WAITING_FOR_SLOTS waits for the provider to find
 * every task running (or finished) and offer their slots, then the JobMaster goes to
 * RUNNING without SubmitTask (every task counts as RUNNING until a push says
 * otherwise): it confirms the latest completed checkpoint to the tasks (a two-phase
 * commit sink commits what that checkpoint covers, once), aborts the ids after it that
 * a deposed leader may have triggered (their directories are deleted) and checkpoints
 * on from the next id. When the provider cannot adopt it, a new attempt is deployed
 * from the latest checkpoint as usual.
 *
 * Each attempt (deployment) gets a new plan: new execution ids, attempt number + 1,
 * and, when a checkpoint completed, a TaskRestore from the latest one. Slots: one per
 * shared slot of the plan (slot sharing), requested from the provider with allocation
 * ids chosen here; where they come from is the provider's business (slot_provider.h).
 *
 * Driving: every input — a gateway completion, a push, an offer, the timer, an API
 * call — updates the record and calls job_master_drive, which runs the machine until
 * no transition applies and arms the one timer at the next deadline (heartbeat,
 * progress sample, checkpoint trigger or timeout, cancellation wait, restart backoff,
 * job timeout). Re-entrant inputs (a callback of the listener, a gateway completing
 * inside a call) are folded into the running drive. Nothing blocks, except writing a
 * checkpoint's _metadata (temp file, fsync, rename) when no metadata_writer is given.
 *
 * Threading: a JobMaster, its gateways, its provider and its listener belong to the
 * thread running cfg->base; many JobMasters may share that loop. No locks. Listener
 * callbacks must not free the JobMaster (free it once the loop is left, or from an
 * event of its own).
 */
#ifndef TE_JOB_MASTER_H
#define TE_JOB_MASTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/te_status.h"
#include "jobmaster/checkpoint_coordinator.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"
#include "jobmaster/slot_provider.h"
#include "jobmaster/task_manager_gateway.h"
#include "rpc.pb-c.h"

struct event_base;

typedef enum te_job_state {
    TE_JOB_CREATED = 0,
    TE_JOB_WAITING_FOR_SLOTS,
    TE_JOB_DEPLOYING,
    TE_JOB_RUNNING,
    TE_JOB_FAILING,
    TE_JOB_CANCELLING,
    TE_JOB_RELEASING,
    TE_JOB_RESTARTING,
    TE_JOB_FINISHED,
    TE_JOB_FAILED,
    TE_JOB_CANCELED,
    TE_JOB_N_STATES,
} te_job_state_t;

/* "RUNNING", ... */
const char *job_master_state_name(te_job_state_t s);
int job_master_state_is_terminal(te_job_state_t s);

/* A snapshot of the running attempt for progress displays. */
typedef struct te_job_progress {
    size_t tasks, running, finished, failed_or_cancelled;
    int64_t elapsed_ms;       /* since the attempt's tasks were submitted; 0 before */
    int sampled;              /* records_out / records_per_s are known */
    uint64_t records_out;     /* summed over the job's tasks at the last sample */
    double records_per_s;     /* between the last two samples */
    uint64_t last_checkpoint; /* id of the latest completed checkpoint, 0 = none */
} te_job_progress_t;

/* How the job ended (valid in a terminal state). */
typedef struct te_job_result {
    te_job_state_t state;   /* FINISHED, FAILED or CANCELED */
    const char *cause;      /* FAILED: "count (1/2) failed: ...", NULL otherwise */
    const char *task_cause; /* FAILED: the failed task's own cause, or NULL */
    int cause_reported;     /* the cause was already given to on_log */
    int unreachable;        /* FAILED: the last attempt could reach no TaskExecutor */
    long restarts, max_restarts;
    size_t n_finished, n_failed, n_canceled; /* tasks of the last attempt */
} te_job_result_t;

typedef struct te_job_master te_job_master_t;

typedef struct te_job_master_listener {
    void (*on_state)(void *arg, te_job_master_t *jm, te_job_state_t from, te_job_state_t to);
    /* An attempt was placed; job_master_plan / job_master_executor_address describe it. */
    void (*on_plan)(void *arg, te_job_master_t *jm);
    /* A TaskExecutionState push for task t of the plan (borrowed). */
    void (*on_task_state)(void *arg, te_job_master_t *jm, size_t t, const Te__TaskExecutionState *s);
    /* A records sample was taken (see job_master_progress). */
    void (*on_progress)(void *arg, te_job_master_t *jm);
    /* Every task acknowledged, _metadata is written (m: its content; cp: the
     * coordinator's figures); confirmations are being sent. */
    void (*on_checkpoint)(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                          const te_ckpt_checkpoint_t *cp);
    void (*on_checkpoint_aborted)(void *arg, te_job_master_t *jm, uint64_t id, const char *cause);
    /* The job restarts after a failure: restart `attempt` of `max_attempts`, from
     * checkpoint `checkpoint_id` (0 = from the beginning). */
    void (*on_restart)(void *arg, te_job_master_t *jm, const char *cause, long attempt, long max_attempts,
                       uint64_t checkpoint_id);
    /* A message for a person (an error, a warning), without a program prefix. */
    void (*on_log)(void *arg, te_job_master_t *jm, te_log_level_t level, const char *msg);
} te_job_master_listener_t;

/* A savepoint's outcome: m (its metadata; its snapshots in the job's checkpoint
 * directory, chk-<id>) when it completed, else NULL and the cause. Called once. */
typedef void (*te_savepoint_done_fn)(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                                     const char *cause);

/* Writes a completed checkpoint's _metadata into job_dir (checkpoint_metadata_write)
 * and keeps the `keep` newest checkpoints (checkpoint_metadata_retain) off the event
 * loop, then calls done on the loop's thread (err NULL: written; a pruning failure is
 * only logged). m is borrowed until done. A JobManager hosting many jobs gives a
 * worker thread; without one (write NULL) the JobMaster does it on the loop. */
typedef struct te_ckpt_writer {
    void (*write)(void *self, const te_ckpt_metadata_t *m, const char *job_dir, size_t keep,
                  void (*done)(void *arg, const te_error_t *err), void *arg);
    void *self;
} te_ckpt_writer_t;

/* A running attempt to adopt instead of deploying a new one (high availability: a new
 * leader finds the job's tasks still running). Arrays in the plan's task / slot order. */
typedef struct te_job_adoption {
    uint32_t attempt;
    const te_id_t *execution_ids; /* n_tasks */
    size_t n_tasks;
    const te_id_t *allocation_ids; /* n_slots */
    size_t n_slots;
    int64_t timeout_ms; /* how long the TaskExecutors have to report them all RUNNING */
} te_job_adoption_t;

typedef struct te_job_master_config {
    struct event_base *base;
    const te_job_graph_t *graph; /* borrowed: must outlive the JobMaster */
    const char *graph_text;      /* the job JSON (copied), for _metadata */
    te_id_t job_id;
    te_slot_provider_t slots;
    /* Checkpoints. */
    const char *checkpoint_root;      /* absolute, or NULL (then no checkpoint is written); copied */
    int64_t checkpoint_interval_ms;   /* 0 = no checkpoints */
    int64_t checkpoint_timeout_ms;    /* > 0 when checkpointing */
    te_ckpt_writer_t metadata_writer; /* optional: where _metadata is written (see above) */
    te_ckpt_metadata_t *restore;      /* taken: start from this checkpoint; NULL = fresh */
    /* Adopt this running attempt (copied; NULL = deploy). When it cannot be adopted (a
     * task missing or not RUNNING within its timeout) the job is deployed anew from
     * `restore`. The provider must have an adopt operation. */
    const te_job_adoption_t *adopt;
    int restore_explicit; /* the user named that checkpoint: never fall back from it */
    /* State of the restore that the job does not claim (a vertex it no longer has; within
     * a chain, a uid it no longer has) is dropped (Flink's allowNonRestoredState), else
     * refused: job_master_new fails for a vertex, the task for an operator. */
    int allow_non_restored_state;
    /* Restarts (fixed delay). */
    long restart_attempts;
    int64_t restart_backoff_ms;
    /* Liveness. */
    int64_t heartbeat_interval_ms;            /* > 0 */
    int64_t timeout_ms;                       /* > 0: cancel and fail the job when it has not ended by then */
    int64_t cancel_wait_ms;                   /* how long a cancellation waits for final states */
    int64_t progress_interval_ms;             /* > 0: sample the tasks' records (RequestTaskReport) */
    const te_job_master_listener_t *listener; /* copied; NULL = none */
    void *listener_arg;
    /* Monotonic milliseconds (tests pass a fake clock); NULL = te_clock_mono_ms. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
} te_job_master_config_t;

/* Checks the configuration and the restore checkpoint against the graph (max
 * parallelism; vertices without state or state without a vertex are warned about
 * through on_log). The job configuration key
 * execution.checkpointing.tolerable-failed-checkpoints (default 0) is read from the
 * graph. NULL + err (cfg->restore is freed then too). */
te_job_master_t *job_master_new(const te_job_master_config_t *cfg, te_error_t *err);
/* NULL: no-op. Do not call from a listener callback. In a non-terminal state nothing
 * is cancelled or freed on the TaskExecutors; operations still in flight complete
 * harmlessly later (the provider must no longer forward to this JobMaster). */
void job_master_free(te_job_master_t *jm);

/* CREATED -> WAITING_FOR_SLOTS: asks the provider for the first attempt's slots. */
void job_master_start(te_job_master_t *jm);
/* Cancels the job (its tasks are cancelled, the slots freed; it ends CANCELED unless
 * it finished first). Called again while tasks are being cancelled, it stops waiting
 * for them: `why` (e.g. "interrupted again") then prefixes the list of tasks not
 * waited for. */
void job_master_cancel(te_job_master_t *jm, const char *why);
/* Takes a savepoint: a checkpoint triggered at once (after the one pending, if any)
 * whose completion or abort is reported through done (from the loop; never from inside
 * this call). terminate (stop-with-savepoint): the sources end their input right after
 * its barrier, so the job FINISHES once it completed. TE_ESTATE + err when the job is
 * not RUNNING, has no checkpoint directory, or a savepoint is already pending. */
te_status_t job_master_trigger_savepoint(te_job_master_t *jm, int terminate, te_savepoint_done_fn done, void *arg,
                                         te_error_t *err);
/* Runs the machine now (every input does this; tests call it after moving the clock). */
void job_master_drive(te_job_master_t *jm);

/* ---- from the slot provider ---- */

/* Request `index` is served: slot `slot_number` of the TaskExecutor behind gw (whose
 * data port is data_address, copied). Ignored unless the JobMaster waits for it. */
void job_master_offer_slot(te_job_master_t *jm, size_t index, te_tm_gateway_t *gw, int32_t slot_number,
                           const char *data_address);
/* The running attempt cannot be adopted (cause): the job is deployed anew from its
 * latest checkpoint. Ignored unless the JobMaster waits for an adoption. */
void job_master_adopt_failed(te_job_master_t *jm, const char *cause);
/* The job runs the tasks it adopted (not deployed by this JobMaster). */
int job_master_adopted(const te_job_master_t *jm);
/* The provider cannot serve this attempt (the cause was given to job_master_log by
 * the provider, or is given here when not NULL). unreachable: no TaskExecutor could
 * be reached at all. */
void job_master_slots_unavailable(te_job_master_t *jm, int unreachable, const char *cause);
/* The provider finished releasing the attempt. */
void job_master_slots_released(te_job_master_t *jm);
/* Forwarded from the gateways of the attempt. */
void job_master_on_push(te_job_master_t *jm, te_tm_gateway_t *gw, const Te__RpcMessage *push);
void job_master_on_gateway_lost(te_job_master_t *jm, te_tm_gateway_t *gw, const char *cause);
/* A message through the listener's on_log (providers use it). */
void job_master_log(te_job_master_t *jm, te_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- reading ---- */

te_job_state_t job_master_state(const te_job_master_t *jm);
const te_id_t *job_master_job_id(const te_job_master_t *jm);
/* "<32 hex>" */
const char *job_master_job_hex(const te_job_master_t *jm);
/* The fencing token sent with RegisterJobManager, RequestSlot and SubmitTask. */
const te_id_t *job_master_fencing_token(const te_job_master_t *jm);
const te_job_graph_t *job_master_graph(const te_job_master_t *jm);
/* The attempt number (0 = first deployment). */
uint32_t job_master_attempt(const te_job_master_t *jm);
/* The plan of the current attempt (NULL between attempts). */
const te_job_plan_t *job_master_plan(const te_job_master_t *jm);
/* The executors of the attempt (the plan's executor indexes). */
size_t job_master_n_executors(const te_job_master_t *jm);
const char *job_master_executor_address(const te_job_master_t *jm, size_t e);
/* Task t of the current attempt: its last state (-1 before any push), final flag and
 * the records counted by the last sample or push. */
int job_master_task_state(const te_job_master_t *jm, size_t t, int *final, uint64_t *records_in,
                          uint64_t *records_out);
void job_master_progress(const te_job_master_t *jm, te_job_progress_t *p);
/* The latest completed checkpoint (or the one restored from), NULL = none. */
const te_ckpt_metadata_t *job_master_latest_checkpoint(const te_job_master_t *jm);
/* Checkpoints completed by this JobMaster. */
size_t job_master_n_checkpoints(const te_job_master_t *jm);
/* Valid in a terminal state. */
void job_master_result(const te_job_master_t *jm, te_job_result_t *r);

#endif
