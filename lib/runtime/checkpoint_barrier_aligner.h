/*
 * checkpoint_barrier_aligner — the barrier handler of a CheckpointedInputGate (Flink's
 * SingleCheckpointBarrierHandler) over the flat input channels of a task (all gates).
 *
 * Aligned mode: the first barrier n starts an alignment; each channel that delivered
 * barrier n is blocked (ops->block: its data stays queued in the channel, unread) until
 * every live channel has delivered it (a finished channel counts as delivered); then all
 * channels are resumed and ops->trigger snapshots the task (with the alignment time).
 * Unaligned mode (FLIP-76): the first barrier n triggers the snapshot at once; the data
 * that then arrives on each channel before its barrier n is the channel state
 * (barrier_aligner_is_recording tells which channels are still recorded); when the last
 * barrier arrives ops->complete finishes the checkpoint.
 *
 * A CancelCheckpointMarker n, an external abort of n, or a barrier of a newer
 * checkpoint end the pending one (channels resumed, ops->abort with the cause).
 * Barriers and markers of checkpoints older than the newest seen are ignored.
 *
 * Threading: task thread only; no locks; callbacks run inside the calls.
 */
#ifndef TE_CHECKPOINT_BARRIER_ALIGNER_H
#define TE_CHECKPOINT_BARRIER_ALIGNER_H

#include <stdint.h>

#include "common/te_status.h"

typedef struct te_barrier_aligner_ops {
    void (*block)(void *arg, uint32_t ch);
    void (*resume_all)(void *arg);
    /* Snapshot now (aligned: every barrier arrived; unaligned: the first one). */
    te_status_t (*trigger)(void *arg, uint64_t id, uint64_t ts, uint64_t alignment_ns, te_error_t *err);
    /* Unaligned only: the last barrier arrived, the channel state is complete. */
    te_status_t (*complete)(void *arg, uint64_t id, te_error_t *err);
    /* The pending checkpoint id ended without completing (cause borrowed). */
    void (*abort)(void *arg, uint64_t id, const char *cause);
} te_barrier_aligner_ops_t;

typedef struct te_barrier_aligner te_barrier_aligner_t;

te_barrier_aligner_t *barrier_aligner_new(uint32_t n_channels, int unaligned, const te_barrier_aligner_ops_t *ops,
                                          void *arg);
void barrier_aligner_free(te_barrier_aligner_t *a);

te_status_t barrier_aligner_on_barrier(te_barrier_aligner_t *a, uint32_t ch, uint64_t id, uint64_t ts,
                                       te_error_t *err);
void barrier_aligner_on_cancel_marker(te_barrier_aligner_t *a, uint32_t ch, uint64_t id);
/* Channel ch delivered EndOfPartition. */
te_status_t barrier_aligner_on_channel_finished(te_barrier_aligner_t *a, uint32_t ch, te_error_t *err);
/* AbortCheckpoint from the coordinator: ends the alignment of id (when pending) and
 * makes later barriers of id and older be ignored. */
void barrier_aligner_abort(te_barrier_aligner_t *a, uint64_t id, const char *cause);

/* The pending checkpoint id (0 = none). */
uint64_t barrier_aligner_pending(const te_barrier_aligner_t *a);
/* Unaligned: 1 while data of ch belongs to the pending checkpoint's channel state. */
int barrier_aligner_is_recording(const te_barrier_aligner_t *a, uint32_t ch);
int barrier_aligner_is_blocked(const te_barrier_aligner_t *a, uint32_t ch);
/* checkpointAlignmentTime of the last triggered checkpoint (ns). */
/* The channels the pending checkpoint still waits for (neither its barrier nor
 * EndOfPartition yet): up to max of them into out, returns how many there are (0 when
 * no checkpoint is pending). */
uint32_t barrier_aligner_waiting_channels(const te_barrier_aligner_t *a, uint32_t *out, uint32_t max);
uint64_t barrier_aligner_last_alignment_ns(const te_barrier_aligner_t *a);

#endif
