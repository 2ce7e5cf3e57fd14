/*
 * task_metrics — the counters of one task, written by its task thread (and source
 * thread) and read lock-free by the status endpoint (Flink's TaskIOMetricGroup names).
 *
 * Threading: relaxed atomics; writers are the owning task's threads only (and the
 * snapshot thread reporting one of its checkpoints, for the last_checkpoint_* ones).
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
    /* keyed state (gauges; the task thread publishes them every ~100 ms) */
    _Atomic uint64_t state_size_bytes; /* hashmap: memory; rocksdb: SST files + memtables */
    _Atomic uint64_t state_entries;    /* rocksdb: RocksDB's estimate */
    _Atomic uint64_t managed_memory_bytes;
    /* the last acknowledged checkpoint's parts */
    _Atomic uint64_t last_checkpoint_sync_us;
    _Atomic uint64_t last_checkpoint_async_ms;
} te_task_metrics_t;

static inline void task_metrics_add(_Atomic uint64_t *c, uint64_t d)
{
    atomic_fetch_add_explicit(c, d, memory_order_relaxed);
}

static inline uint64_t task_metrics_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

#endif
