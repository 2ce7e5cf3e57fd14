/*
 * subtask_checkpoint_coordinator — the task side of a checkpoint (Flink's
 * SubtaskCheckpointCoordinator): snapshot every operator of the chain, emit the
 * CheckpointBarrier on every output, write the snapshot file durably
 * (checkpoint_storage) and report an acknowledgement or a decline through the
 * callback the task layer gave; abort (CancelCheckpointMarker downstream, decline);
 * notifyCheckpointComplete; and restore of the chain from the handles of a TaskRestore
 * (keyed state + timers of the subtask's key-group range from every handle, non-keyed
 * operator state only from the handle of the same subtask at the same parallelism).
 *
 * Unaligned checkpoints: perform(unaligned) takes the operator snapshot and emits the
 * barrier as a priority event that overtakes the queued output, whose bytes become
 * OUTPUT_CHANNEL sections (index = writer, sub = subpartition, name
 * "subpartitions=<n>"); a task with inputs keeps the snapshot open while
 * add_channel_state appends in-flight input (INPUT_CHANNEL, index = flat channel, name
 * "channels=<n>"), and complete writes and acknowledges it.
 *
 * Asynchronous snapshots: perform runs only the synchronous part on the task thread
 * (operator_chain_snapshot_state: views, not copies) and hands the rest to the
 * snapshot pool (async_checkpoint: serialise, write, fsync, rename); the task goes on
 * with its input at once and the acknowledgement is reported when the asynchronous
 * part ends — a failed one declines the checkpoint. AbortCheckpoint cancels a running
 * asynchronous part (its temp file is removed); cancel_all does so for every one when
 * the task is cancelled or fails (no report follows), wait_all lets them finish when it
 * ends normally (their acknowledgements precede FINISHED). Without a pool the
 * asynchronous part runs inline.
 *
 * Threading: the task thread (mails run under the checkpoint lock) calls everything;
 * reports come from the task thread (synchronous failures) or a snapshot thread, one
 * at a time (under a mutex shared with the running parts), never after cancel_all
 * returned; the report callback must only hand the report to another thread.
 */
#ifndef TE_SUBTASK_CHECKPOINT_COORDINATOR_H
#define TE_SUBTASK_CHECKPOINT_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/record_writer.h"

typedef struct te_operator_chain te_operator_chain_t; /* operator_chain.h */

typedef struct te_checkpoint_report {
    uint64_t checkpoint_id;
    int declined;
    const char *cause; /* declined: why (borrowed for the call) */
    const char *path;  /* acknowledged: absolute path of the snapshot file (borrowed) */
    uint64_t size;     /* bytes of the snapshot file */
    uint32_t subtask_index, parallelism;
    uint32_t kg_first, kg_last;
    uint64_t duration_ms;       /* from the trigger / first barrier to the durable file */
    uint64_t alignment_ns;      /* checkpointAlignmentTime */
    uint64_t inflight_bytes;    /* unaligned: channel state persisted with the snapshot */
    uint64_t start_delay_ms;    /* checkpointStartDelay: trigger (barrier timestamp) to the first barrier */
    uint64_t sync_duration_us;  /* the synchronous part: the task's pause */
    uint64_t async_duration_ms; /* the asynchronous part: serialise, write, fsync */
    /* incremental checkpoints: every shared file the snapshot refers to (borrowed) */
    const char *const *shared_paths;
    const uint64_t *shared_sizes;
    size_t n_shared;
} te_checkpoint_report_t;

typedef void (*te_checkpoint_report_fn)(void *arg, const te_checkpoint_report_t *r);

/* One handle of a TaskRestore (borrowed strings). */
typedef struct te_restore_handle {
    const char *path;
    uint32_t subtask_index;
    uint32_t parallelism;
} te_restore_handle_t;

typedef struct te_subtask_ckpt_config {
    const char *task_name; /* borrowed */
    const char *dir;       /* state.checkpoints.dir (absolute or relative to the cwd) */
    const char *job_id_hex;
    const char *vertex_id_hex;
    uint32_t subtask_index, parallelism, max_parallelism;
    int unaligned;
    te_checkpoint_report_fn report;
    void *report_arg;
    struct te_snapshot_pool *pool; /* the asynchronous parts run here (borrowed); NULL = inline */
} te_subtask_ckpt_config_t;

typedef struct te_subtask_ckpt te_subtask_ckpt_t;

/* Copies cfg's strings. NULL when out of memory. */
te_subtask_ckpt_t *subtask_checkpoint_coordinator_new(const te_subtask_ckpt_config_t *cfg);
void subtask_checkpoint_coordinator_free(te_subtask_ckpt_t *sc);

/* Synchronous snapshot + barrier on every writer + (aligned) the asynchronous part
 * started (write + ack). A failed synchronous part declines the checkpoint (and sends
 * a CancelCheckpointMarker), a failed asynchronous part declines it later, neither
 * fails the task; only an output failure is returned. */
te_status_t subtask_checkpoint_perform(te_subtask_ckpt_t *sc, te_operator_chain_t *chain,
                                       te_record_writer_t **writers, size_t n_writers, uint64_t id, uint64_t ts,
                                       uint64_t alignment_ns, te_error_t *err);
/* The task's state store (borrowed): confirmations and aborts reach its incremental
 * checkpoints. Set before the first checkpoint. */
struct te_state_store;
void subtask_checkpoint_set_store(te_subtask_ckpt_t *sc, struct te_state_store *store);
/* The number of flat input channels (0 = a source: unaligned snapshots are written at
 * once). Set before the first checkpoint. */
void subtask_checkpoint_set_input_channels(te_subtask_ckpt_t *sc, uint32_t n);
/* Unaligned: in-flight bytes of flat input channel ch for the open snapshot id. */
void subtask_checkpoint_add_channel_state(te_subtask_ckpt_t *sc, uint64_t id, uint32_t ch, const uint8_t *data,
                                          size_t len);
/* Unaligned: every barrier arrived: write + ack the open snapshot id. */
void subtask_checkpoint_complete(te_subtask_ckpt_t *sc, uint64_t id);
/* Ends checkpoint id: drops an open snapshot, cancels its running asynchronous part,
 * sends a CancelCheckpointMarker on every writer, declines with cause when `decline`. */
void subtask_checkpoint_abort(te_subtask_ckpt_t *sc, te_record_writer_t **writers, size_t n_writers, uint64_t id,
                              const char *cause, int decline);
te_status_t subtask_checkpoint_notify_complete(te_subtask_ckpt_t *sc, te_operator_chain_t *chain, uint64_t id,
                                               te_error_t *err);
/* The last acknowledged checkpoint (0 none), for the status endpoint. Any thread. */
uint64_t subtask_checkpoint_last_id(const te_subtask_ckpt_t *sc);
/* The task ends normally: waits until every asynchronous part ended (and reported). */
void subtask_checkpoint_wait_all(te_subtask_ckpt_t *sc);
/* The task is cancelled or failed: cancels every asynchronous part (temp files removed
 * as they stop) and reports nothing more. Returns at once. */
void subtask_checkpoint_cancel_all(te_subtask_ckpt_t *sc);
/* Asynchronous parts running now. */
unsigned subtask_checkpoint_running(te_subtask_ckpt_t *sc);

/* Restores chain (before open) from the handles of every subtask of the vertex.
 * Returns the channel state to replay for this subtask (unaligned checkpoints) as a
 * snapshot holding only INPUT_CHANNEL and OUTPUT_CHANNEL sections in *channel_state
 * (NULL when none; the caller frees it with snapshot_free). Channel state restores
 * only at the parallelism it was taken at (an error names the snapshot otherwise). */
struct te_ckpt_snapshot;
te_status_t subtask_checkpoint_restore(te_operator_chain_t *chain, uint32_t subtask_index, uint32_t parallelism,
                                       uint32_t max_parallelism, const te_restore_handle_t *handles,
                                       size_t n_handles, struct te_ckpt_snapshot **channel_state, te_error_t *err);

#endif
