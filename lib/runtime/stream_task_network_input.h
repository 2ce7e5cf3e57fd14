/*
 * stream_task_network_input — Flink's StreamTaskNetworkInput (+ StreamOneInputProcessor
 * / StreamTwoInputProcessor selection): reads the task's input gates without ever
 * blocking, reassembles records per channel, decodes stream elements and pushes them
 * into the operator chain's head: records (input = the gate's input_gate_index, 0 or 1),
 * watermarks through a StatusWatermarkValve over all channels, stream status changes.
 * Gates are polled round robin, so one input with data is never starved by another.
 * Events (checkpoint barriers, cancel markers) and channel ends go to the barrier
 * aligner when one is set (the CheckpointedInputGate); without one they are skipped.
 *
 * Threading: the task thread only.
 */
#ifndef TE_STREAM_TASK_NETWORK_INPUT_H
#define TE_STREAM_TASK_NETWORK_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/input_gate.h"
#include "runtime/checkpoint_barrier_aligner.h"
#include "runtime/operator_chain.h"
#include "runtime/task_metrics.h"

typedef struct te_stream_task_network_input te_stream_task_network_input_t;

typedef enum te_input_status {
    TE_INPUT_MORE = 0,    /* more may be available now */
    TE_INPUT_NOTHING = 1, /* nothing available: wait for the gates' listeners */
    TE_INPUT_END = 2,     /* every gate ended */
} te_input_status_t;

/* Borrows gates, chain and metrics (may be NULL). */
te_stream_task_network_input_t *stream_task_network_input_new(te_input_gate_t **gates, size_t n_gates,
                                                              te_operator_chain_t *chain,
                                                              te_task_metrics_t *metrics, te_error_t *err);
void stream_task_network_input_free(te_stream_task_network_input_t *in);

/* Processes up to `budget` stream elements. */
te_status_t stream_task_network_input_emit_next(te_stream_task_network_input_t *in, uint32_t budget,
                                                te_input_status_t *status, te_error_t *err);
/* The barrier handler events go to (borrowed; NULL = skip events). Its block /
 * resume_all ops should call the two functions below with flat channel numbers
 * (gates in order, their channels in order). */
void stream_task_network_input_set_aligner(te_stream_task_network_input_t *in, te_barrier_aligner_t *a);
uint32_t stream_task_network_input_num_channels(const te_stream_task_network_input_t *in);
void stream_task_network_input_block_channel(te_stream_task_network_input_t *in, uint32_t flat);
void stream_task_network_input_resume_all(te_stream_task_network_input_t *in);

/* Unaligned checkpoints: receives in-flight bytes of flat input channel ch that belong
 * to checkpoint id's channel state (task thread). */
typedef void (*te_channel_state_sink_fn)(void *arg, uint64_t id, uint32_t ch, const uint8_t *data, size_t len);
/* Switches to unaligned checkpoints: priority events are polled ahead of data (also
 * between the records of a buffer) and in-flight data goes to sink. */
void stream_task_network_input_set_unaligned(te_stream_task_network_input_t *in, te_channel_state_sink_fn sink,
                                             void *arg);
/* From the aligner's trigger of checkpoint id: records what every channel's
 * deserializer holds unconsumed (plus recovered bytes not yet replayed). */
void stream_task_network_input_snapshot_inflight(te_stream_task_network_input_t *in, uint64_t id);
/* From the aligner's complete: records the buffers the barrier being handled overtook
 * in its channel (no-op when none is pending). */
void stream_task_network_input_flush_overtaken(te_stream_task_network_input_t *in);
/* Restore: bytes of flat channel `flat` to process before anything it receives. */
te_status_t stream_task_network_input_add_recovered(te_stream_task_network_input_t *in, uint32_t flat,
                                                    const uint8_t *data, size_t len, te_error_t *err);

/* Stall detection: elements and events handled so far; channels of live gates queued
 * for polling; blocked (aligning) channels holding data. */
uint64_t stream_task_network_input_progress(const te_stream_task_network_input_t *in);
uint32_t stream_task_network_input_num_queued(te_stream_task_network_input_t *in);
uint32_t stream_task_network_input_num_blocked_with_data(te_stream_task_network_input_t *in);

/* Earliest pending partition-request deadline of a live gate (monotonic ms), or -1. */
int64_t stream_task_network_input_pending_deadline_ms(te_stream_task_network_input_t *in);

#endif
