/*
 * checkpoint_coordinator — the JobManager's CheckpointCoordinator reduced to a state
 * machine without sockets or clocks of its own (tectl drives it; unit tests drive it
 * directly): pending checkpoints, the acknowledgements per task, completion, declines,
 * timeouts, tasks that ended before acknowledging.
 *
 * A job's tasks are numbered 0..n_tasks-1 by the caller (tectl: the plan's task index).
 * A checkpoint completes when every task acknowledged it; then every older pending
 * checkpoint is subsumed (dropped). A decline, its timeout, or a task that can no
 * longer acknowledge (checkpoint_coordinator_task_gone) aborts it. Events for unknown / already
 * ended checkpoints, unknown tasks and duplicate acks are ignored (TE_CKPT_IGNORED).
 *
 * Ids: checkpoint_coordinator_trigger hands out first_id, first_id+1, ... (aborted ids are not
 * reused). Times are caller-supplied milliseconds (monotonic for timeouts).
 *
 * Threading: a coordinator is used by one thread; no locks.
 */
#ifndef TE_CHECKPOINT_COORDINATOR_H
#define TE_CHECKPOINT_COORDINATOR_H

#include <stddef.h>
#include <stdint.h>

#include "jobmaster/checkpoint_metadata.h"
#include "common/te_status.h"

typedef enum te_ckpt_event {
    TE_CKPT_IGNORED = 0, /* unknown checkpoint / task, duplicate, already ended */
    TE_CKPT_ACKED,       /* recorded; the checkpoint still waits for other tasks */
    TE_CKPT_COMPLETED,   /* every task acknowledged: see checkpoint_coordinator_completed */
    TE_CKPT_ABORTED,     /* the checkpoint is dropped: see checkpoint_coordinator_abort_cause */
} te_ckpt_event_t;

/* One task's acknowledgement. */
typedef struct te_ckpt_task_ack {
    int acked;
    te_ckpt_handle_t *handles; /* owned copies */
    size_t n_handles;
    uint64_t state_size;
} te_ckpt_task_ack_t;

/* A pending or completed checkpoint. */
typedef struct te_ckpt_checkpoint {
    uint64_t id;
    int64_t trigger_ms;          /* monotonic, as passed to trigger */
    int64_t timestamp_ms;        /* wall clock, as passed to trigger */
    int64_t complete_ms;         /* monotonic time of the last ack (completed ones) */
    uint64_t state_size;         /* sum of the acks' state sizes */
    uint64_t alignment_ns_max;   /* the longest checkpointAlignmentTime of a task */
    uint64_t inflight_bytes;     /* unaligned: channel state persisted by all tasks */
    uint64_t start_delay_ms_max; /* the longest checkpointStartDelay of a task */
    size_t n_tasks, n_acked;
    te_ckpt_task_ack_t *tasks; /* n_tasks */
} te_ckpt_checkpoint_t;

typedef struct te_ckpt_coord te_ckpt_coord_t;

/* timeout_ms > 0; max_concurrent >= 1 (tectl uses 1: no trigger while one is pending);
 * first_id >= 1. */
te_ckpt_coord_t *checkpoint_coordinator_new(size_t n_tasks, int64_t timeout_ms, size_t max_concurrent,
                                            uint64_t first_id, te_error_t *err);
void checkpoint_coordinator_free(te_ckpt_coord_t *c);

/* Starts checkpoint <next id>; returns it, or 0 when max_concurrent are pending. */
uint64_t checkpoint_coordinator_trigger(te_ckpt_coord_t *c, int64_t now_ms, int64_t timestamp_ms);

/* A task acknowledged checkpoint `id` with these handles (copied). */
te_ckpt_event_t checkpoint_coordinator_ack(te_ckpt_coord_t *c, uint64_t id, size_t task,
                                           const te_ckpt_handle_t *handles, size_t n_handles, uint64_t state_size,
                                           int64_t now_ms);

/* Metrics of a task's acknowledgement of pending checkpoint `id` (before its ack). */
void checkpoint_coordinator_ack_metrics(te_ckpt_coord_t *c, uint64_t id, uint64_t alignment_ns,
                                        uint64_t inflight_bytes, uint64_t start_delay_ms);

/* A task declined checkpoint `id`: aborts it. */
te_ckpt_event_t checkpoint_coordinator_decline(te_ckpt_coord_t *c, uint64_t id, size_t task, const char *cause);

/* Aborts the oldest pending checkpoint whose timeout passed; returns its id, 0 when
 * none. Call until it returns 0. */
uint64_t checkpoint_coordinator_expire(te_ckpt_coord_t *c, int64_t now_ms);

/* The task ended (finished, failed, unreachable) and cannot acknowledge any more:
 * aborts the oldest pending checkpoint it has not acknowledged; returns its id, 0
 * when none. Call until it returns 0. */
uint64_t checkpoint_coordinator_task_gone(te_ckpt_coord_t *c, size_t task);

/* Aborts the oldest pending checkpoint (cause given); returns its id, 0 when none. */
uint64_t checkpoint_coordinator_abort_oldest(te_ckpt_coord_t *c, const char *cause);

size_t checkpoint_coordinator_n_pending(const te_ckpt_coord_t *c);
/* The id of pending checkpoint i (0 = oldest), 0 when out of range. */
uint64_t checkpoint_coordinator_pending_id(const te_ckpt_coord_t *c, size_t i);
/* The earliest timeout deadline of the pending checkpoints (monotonic ms), -1 none. */
int64_t checkpoint_coordinator_next_deadline(const te_ckpt_coord_t *c);
/* The id the next trigger will use. */
uint64_t checkpoint_coordinator_next_id(const te_ckpt_coord_t *c);

/* The checkpoint the last TE_CKPT_COMPLETED was about (owned by the coordinator,
 * valid until the next call that completes one, or checkpoint_coordinator_free); NULL if none. */
const te_ckpt_checkpoint_t *checkpoint_coordinator_completed(const te_ckpt_coord_t *c);
/* How many pending checkpoints the last completion subsumed. */
size_t checkpoint_coordinator_n_subsumed(const te_ckpt_coord_t *c);
/* Why the last abort happened ("declined by task 3: ...", "timed out after 10000 ms"). */
const char *checkpoint_coordinator_abort_cause(const te_ckpt_coord_t *c);

#endif
