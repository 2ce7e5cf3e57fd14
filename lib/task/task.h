/*
 * task — one deployed subtask (the seed's Task): built from a TaskDeploymentDescriptor
 * (its ResultPartitions with their buffer pools, its InputGates, its StreamTask; no
 * thread yet), then run on its own pthread: CREATED → DEPLOYING → RUNNING → FINISHED,
 * or CANCELING → CANCELED, or FAILED from any non-final state. Every run pushes exactly
 * one final state, with its cause, through the state listener.
 *
 * Threading: task_new / task_start / task_cancel / task_release_partitions / task_free
 * on the control thread; the task thread runs doRun and calls the state listener (which
 * must only hand the update to the control thread). State and metrics are atomics,
 * readable from any thread.
 */
#ifndef TE_TASK_H
#define TE_TASK_H

#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "runtime/task_metrics.h"
#include "shuffle/output_flusher.h"
#include "shuffle/shuffle_env.h"
#include "tdd.pb-c.h"
#include "te/operator.h"

struct te_checkpoint_report; /* runtime/subtask_checkpoint_coordinator.h */

typedef enum te_exec_state {
    TE_STATE_CREATED = 0,
    TE_STATE_DEPLOYING = 1,
    TE_STATE_RUNNING = 2,
    TE_STATE_FINISHED = 3,
    TE_STATE_CANCELING = 4,
    TE_STATE_CANCELED = 5,
    TE_STATE_FAILED = 6,
} te_exec_state_t;

typedef struct te_task te_task_t;

/* Finds the operator a chain position names (Flink's user-code class loading): a
 * built-in, or a user operator one of its parameters names. The task does not know
 * where operators come from (the executor hands it its resolver). `position` is the
 * chain position, `source_head` 1 for the head of a source task (a source and a sink
 * may share a name). Sets *consumed to the index of a parameter the resolver used
 * itself (not passed on to the operator), -1 for none. NULL + a message naming the
 * operator and the chain position in err. Control thread. */
typedef struct te_operator_resolver {
    const te_operator_def_t *(*resolve)(void *arg, const char *name, size_t position, int source_head,
                                        const char *const *keys, const char *const *values, size_t n,
                                        int *consumed, char *err, size_t errlen);
    void *arg; /* borrowed for task_new only */
} te_operator_resolver_t;

/* Called on the task thread (or the control thread for CANCELING) for every state the
 * task enters; cause is NULL unless FAILED/CANCELED with a reason. Borrowed strings. */
typedef void (*te_task_state_fn)(void *arg, te_task_t *task, te_exec_state_t state, const char *cause);

typedef struct te_task_services {
    /* Buffers, partition manager, remote transport and channel settings the task's
     * partitions and gates are built with (shuffle_env). */
    te_shuffle_env_t shuffle;
    te_output_flusher_t *flusher;
    int64_t default_buffer_timeout_ms; /* execution.buffer-timeout (job config may override) */
    int sched_policy;                  /* taskmanager.task.scheduling-policy (te_sched_policy_t; -1 = auto) */
    int64_t busy_poll_ns;              /* taskmanager.network.busy-poll (0 = off) */
    int64_t partition_request_timeout_ms;
    te_operator_resolver_t operators;       /* chain operator names -> definitions */
    int64_t input_stall_threshold_ms;       /* taskmanager.task.input-stall-threshold (0 = off) */
    const char *const *job_config_defaults; /* daemon defaults of job-level keys: key, value, ..., NULL */
    const char *const *job_config_enforced; /* daemon keys a job cannot override (io.allowed-dirs) */
    te_task_state_fn on_state;
    void *on_state_arg;
    /* Checkpoint acknowledgements / declines, called on the task thread (must only
     * hand the report to the control thread; strings borrowed for the call). NULL =
     * the task takes no checkpoints. */
    void (*on_checkpoint)(void *arg, te_task_t *task, const struct te_checkpoint_report *r);
    void *on_checkpoint_arg;
    /* Keyed state (issue #16): taskmanager.state.local.dir (a rocksdb task's instance
     * lives in <dir>/<job>/<vertex>-<subtask>-<attempt>); the daemon's snapshot threads
     * (asynchronous checkpoint parts; NULL = inline). */
    const char *state_local_dir;
    struct te_snapshot_pool *snapshot_pool;
    struct te_memory_budget *memory_budget; /* the slot's managed memory; NULL = unlimited */
} te_task_services_t;

/* Error codes a rejected deployment carries (mapped to RPC ErrorCodes by the caller). */
typedef enum te_deploy_error {
    TE_DEPLOY_OK = 0,
    TE_DEPLOY_INCONSISTENT_IDS,
    TE_DEPLOY_INVALID_CHAIN,
    TE_DEPLOY_INSUFFICIENT_BUFFERS,
    TE_DEPLOY_INTERNAL,
} te_deploy_error_t;

/* Validates the TDD's ids and wiring (pure). TE_OK or TE_EINVAL with a message. */
te_status_t task_check_ids(const Te__TaskDeploymentDescriptor *tdd, te_error_t *err);

/* Builds the task (copies the TDD). On failure NULL, *why says which kind of error and
 * err the message; nothing stays allocated or registered. */
te_task_t *task_new(const Te__TaskDeploymentDescriptor *tdd, const te_task_services_t *svc, te_deploy_error_t *why,
                    te_error_t *err);
/* Starts the task thread. */
te_status_t task_start(te_task_t *t, te_error_t *err);
/* CANCELING, then the task thread ends the task as CANCELED. Idempotent; a task that
 * already reached a final state is left alone. Control thread. */
void task_cancel(te_task_t *t, const char *cause);
/* Cancels with the intention to FAIL (e.g. JobManager lost): the final state is FAILED
 * with this cause. */
void task_fail_external(te_task_t *t, const char *cause);
/* Re-interrupts a task stuck in cancellation (watchdog). */
void task_reinterrupt(te_task_t *t);
/* Joins the thread after the final state was pushed. */
void task_join(te_task_t *t);
/* Unregisters and releases the produced partitions (consumers still holding views keep
 * reading data already there only if the task FINISHED; otherwise they fail). */
void task_release_partitions(te_task_t *t, const char *cause);
void task_free(te_task_t *t);

te_exec_state_t task_state(const te_task_t *t);
const char *task_state_name(te_exec_state_t s);
int task_state_is_final(te_exec_state_t s);
const char *task_failure_cause(const te_task_t *t); /* valid once final */
/* It FAILED reading the state of its TaskRestore (a snapshot missing, unreadable or
 * corrupt); any thread, meaningful once final. */
int task_restore_failed(const te_task_t *t);
const te_id_t *task_execution_id(const te_task_t *t);
const te_id_t *task_job_id(const te_task_t *t);
const te_id_t *task_allocation_id(const te_task_t *t);
const char *task_name(const te_task_t *t);
uint32_t task_subtask_index(const te_task_t *t);
te_task_metrics_t *task_metrics(te_task_t *t);
/* Back-pressure, live: the task is waiting for an output buffer (in its mailbox or
 * inside an emit), and the total time spent so far, a wait in progress included.
 * Any thread. */
int task_is_backpressured(te_task_t *t);
uint64_t task_backpressured_ns(te_task_t *t);
/* Pool usages (0..1) for the status endpoint; safe while the task runs. */
double task_out_pool_usage(te_task_t *t);
double task_in_pool_usage(te_task_t *t);
/* The task's partitions and gates for their figures (shuffle_io_gate_stats), NULL
 * before deployment built them; same lifetime rules as the pool usages. */
const te_shuffle_io_t *task_shuffle_io(te_task_t *t);
int64_t task_start_time_ms(const te_task_t *t);

/* Checkpoints (control thread): hand TriggerCheckpoint (source tasks),
 * ConfirmCheckpoint and AbortCheckpoint to the task's mailbox. TE_OK, TE_ESTATE (not
 * running), TE_EINVAL (a trigger for a task that is not a source). */
te_status_t task_trigger_checkpoint(te_task_t *t, uint64_t id, uint64_t ts, int terminate);
te_status_t task_confirm_checkpoint(te_task_t *t, uint64_t id);
te_status_t task_abort_checkpoint(te_task_t *t, uint64_t id);
/* The last acknowledged checkpoint (id 0 = none): duration ms, bytes, alignment ns.
 * Any thread. */
void task_last_checkpoint(te_task_t *t, uint64_t *id, uint64_t *duration_ms, uint64_t *size,
                          uint64_t *alignment_ns);
int64_t task_end_time_ms(const te_task_t *t);

#endif
