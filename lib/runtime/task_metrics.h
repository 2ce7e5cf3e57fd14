/*
 * task_metrics — the counters of one task, written by its task thread (and source
 * thread) and read lock-free by the status endpoint (Flink's TaskIOMetricGroup names).
 *
 * Threading: every counter has one writer at a time — the owning task's thread, or its
 * source thread under the checkpoint lock (which orders it with the task thread) — so
 * an update is a relaxed load and a relaxed store, not an atomic read-modify-write (a
 * `lock add` per record costs ~20 cycles and serialises the pipeline); readers on any
 * thread load relaxed and may see a value a moment old, never a torn one.
 * The keyed-state gauges are published by the task thread, and last_checkpoint_* by the
 * snapshot thread reporting one of the task's checkpoints (one writer each at a time).
 */
#ifndef TE_TASK_METRICS_H
#define TE_TASK_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct te_task_metrics {
    _Atomic uint64_t num_records_in;
    _Atomic uint64_t num_records_out;
    _Atomic uint64_t num_bytes_in;
    _Atomic uint64_t num_bytes_out;
    _Atomic uint64_t backpressured_ns; /* total time waiting for an output buffer */
    _Atomic uint64_t idle_ns;          /* total time blocked waiting for input/mail */
    _Atomic uint64_t busy_ns;          /* total time processing */
    _Atomic int is_backpressured;      /* 1 while output is unavailable */
    _Atomic int64_t current_input_watermark;
    _Atomic uint64_t num_late_records_dropped;
    /* Input stalls (stream_task: the input has data, the task neither processes it nor
     * is back-pressured for taskmanager.task.input-stall-threshold): how many were
     * reported, and CLOCK_MONOTONIC ms since when the current one lasts (0 = none). */
    _Atomic uint64_t input_stalls;
    _Atomic int64_t input_stalled_since_ms;
    /* keyed state (gauges; the task thread publishes them every ~100 ms) */
    _Atomic uint64_t state_size_bytes; /* hashmap: memory; rocksdb: SST files + memtables */
    _Atomic uint64_t state_entries;    /* rocksdb: RocksDB's estimate */
    _Atomic uint64_t managed_memory_bytes;
    /* the last acknowledged checkpoint's parts */
    _Atomic uint64_t last_checkpoint_sync_us;
    _Atomic uint64_t last_checkpoint_async_ms;
} te_task_metrics_t;

/* Single-writer add (see above): never call it on a counter two threads may update
 * concurrently. */
static inline void task_metrics_add(_Atomic uint64_t *c, uint64_t d)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

static inline uint64_t task_metrics_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
