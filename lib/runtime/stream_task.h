/*
 * stream_task — the invokable of a Task (Flink's StreamTask and its SourceStreamTask /
 * OneInputStreamTask / TwoInputStreamTask variants): builds the OperatorChain, runs the
 * mailbox loop over the task's inputs and outputs, and tears everything down.
 *
 *   stream_task_invoke = beforeInvoke (chain setup, init, initialize_state + open in
 *   reverse topological order, request partitions) -> mailbox_processor_run ->
 *   afterInvoke (end input, close operators head first, quiesce, drain the mailbox,
 *   flush and finish outputs) -> cleanUpInvoke (always: dispose operators, stop the
 *   source thread, close the mailbox).
 *
 * The task layer builds the partitions (record writers) and input gates and lends them
 * here; the stream task never frees them.
 *
 * Threading: stream_task_invoke runs on the task thread (which becomes the mailbox
 * thread); stream_task_cancel may be called from any thread; new/free/validate from
 * any single thread while the task is not running.
 */
#ifndef TE_STREAM_TASK_H
#define TE_STREAM_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "shuffle/input_gate.h"
#include "shuffle/output_flusher.h"
#include "shuffle/record_writer.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "runtime/task_metrics.h"
#include "state/state_store.h"
#include "te/operator.h"

typedef enum te_invokable {
    TE_INVOKABLE_SOURCE = 1,
    TE_INVOKABLE_ONE_INPUT = 2,
    TE_INVOKABLE_TWO_INPUT = 3,
} te_invokable_t;

/* One operator of a chain, as the TDD names it, with its definition already resolved
 * by the caller (built-in registry or plugin loader). All pointers borrowed. */
typedef struct te_chain_op_config {
    const te_operator_def_t *def;
    const char *name;
    const char *uid;
    size_t n_params;
    const char *const *param_keys;
    const char *const *param_values;
    uint64_t unread_fields; /* main output fields no consumer reads (TDD; 0 = all read) */
} te_chain_op_config_t;

typedef struct te_stream_task_env {
    const char *task_name; /* "Tokenize (1/2)" — borrowed */
    te_id_t execution_id;
    uint32_t subtask_index;
    uint32_t parallelism;
    uint32_t max_parallelism;
    te_invokable_t invokable;
    const te_chain_op_config_t *chain; /* head first; borrowed for the task's life */
    size_t n_chain;
    te_record_writer_t **writers; /* one per produced partition; borrowed */
    size_t n_writers;
    const char *const *writer_tags;      /* per writer: NULL/"" = main output, else the side-output tag
                                       whose records it carries; NULL array = all main */
    const te_schema_t *input_schemas[2]; /* of the head's inputs (borrowed); NULL = text */
    const char *const *config_keys;      /* the job configuration seen by operators (borrowed) */
    const char *const *config_values;
    size_t n_config;
    te_input_gate_t **gates; /* borrowed; input_gate_index() = input 0 or 1 */
    size_t n_gates;
    te_output_flusher_t *flusher; /* borrowed; NULL = none */
    int64_t buffer_timeout_ms;    /* execution.buffer-timeout: >0 flusher, 0 per record, -1 full buffers only */
    int64_t busy_poll_ns;         /* taskmanager.network.busy-poll: a task with input spins this long for it */
    int64_t partition_request_timeout_ms;
    /* Network-input tasks: report an input stall (data in the gates, nothing processed,
     * not back-pressured) lasting this long — metric + WARN; 0 = off. */
    int64_t input_stall_threshold_ms;
    te_task_metrics_t *metrics; /* borrowed; written by the task's threads */
    /* Checkpoints: NULL = the task takes none (triggers are declined). Borrowed. */
    const te_subtask_ckpt_config_t *checkpoint;
    /* TaskRestore: the handles of every subtask of the vertex (borrowed); restored
     * before open. */
    const te_restore_handle_t *restore;
    size_t n_restore;
    /* Keyed state: the backend and where it lives (borrowed; NULL = in-memory hashmap).
     * The store is created on the task thread before the operators are set up. */
    const te_state_store_config_t *state;
} te_stream_task_env_t;

typedef struct te_stream_task te_stream_task_t;

/* Checks the chain without running anything: every operator has a def, its kind fits its
 * position and the invokable, and its setup accepts its parameters (then disposes it).
 * The error names the operator (index and name) and the problem. */
te_status_t stream_task_validate_chain(te_invokable_t invokable, const te_chain_op_config_t *chain, size_t n_chain,
                                       uint32_t subtask_index, uint32_t parallelism, uint32_t max_parallelism,
                                       te_error_t *err);

/* The same with the schemas of the head's inputs (NULL or a NULL entry = text),
 * returning the set-up chain (operator_chain_output_schema & co. tell what it derived;
 * operator_chain_free disposes it). NULL with err on a bad chain. */
struct te_operator_chain;
struct te_operator_chain *stream_task_check_chain(te_invokable_t invokable, const te_chain_op_config_t *chain,
                                                  size_t n_chain, uint32_t subtask_index, uint32_t parallelism,
                                                  uint32_t max_parallelism, const te_schema_t *const inputs[2],
                                                  te_error_t *err);

/* Copies env (the pointed-to objects stay borrowed). */
te_stream_task_t *stream_task_new(const te_stream_task_env_t *env, te_error_t *err);
/* Runs the whole lifecycle on the calling thread. TE_OK = finished normally;
 * TE_ECANCELED = cancelled; anything else = failed, with the cause in err. */
te_status_t stream_task_invoke(te_stream_task_t *st, te_error_t *err);
/* After stream_task_invoke failed (task thread): it could not read the state of its
 * TaskRestore (a snapshot missing, unreadable or corrupt). */
int stream_task_restore_failed(const te_stream_task_t *st);
/* Asks a running (or not yet started) invoke to stop soon: a priority mail ends the
 * loop, a blocking source is cancelled. Any thread; idempotent. */
void stream_task_cancel(te_stream_task_t *st);
void stream_task_free(te_stream_task_t *st);

/* Checkpoints, from any thread (each becomes a mail run under the checkpoint lock):
 * trigger (source tasks: snapshot + barrier on every output), notify complete
 * (operators' notify_checkpoint_complete: file sinks commit), abort (ends an
 * alignment / drops an open unaligned snapshot). TE_ESTATE when the task does not run
 * (any more) or takes no checkpoints; TE_EINVAL for a trigger of a non-source task.
 * terminate (stop-with-savepoint): right after the snapshot and barrier the source ends
 * its input as at the end of a bounded one; TE_EINVAL for a source in its own thread. */
te_status_t stream_task_trigger_checkpoint(te_stream_task_t *st, uint64_t id, uint64_t ts, int terminate);
te_status_t stream_task_notify_checkpoint_complete(te_stream_task_t *st, uint64_t id);
te_status_t stream_task_abort_checkpoint(te_stream_task_t *st, uint64_t id);

#endif
