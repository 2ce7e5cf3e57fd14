/*
 * buffer_debloater — buffer debloating of one input gate (FLIP-183, Flink's
 * BufferDebloater with its ThroughputCalculator): every TE_DEBLOAT_PERIOD_MS the gate's
 * throughput (data bytes its task read over the period) gives the bytes that should be
 * in flight to it, throughput x target; spread over the buffers it has in use, that is
 * the size its producers should cut their buffers at, bounded by TE_DEBLOAT_MIN_SIZE
 * and the segment size. A change below TE_DEBLOAT_THRESHOLD_PCT percent of the size
 * announced last is ignored.
 *
 * Differences from Flink: the throughput is measured over wall time (Flink leaves out
 * the time the task was idle waiting for input: a gate that waits measures less here
 * and asks for smaller buffers, which costs nothing while it waits), and no moving
 * average smooths the size (the threshold alone damps it).
 *
 * Threading: the consuming task thread; buffer_debloater_size is readable anywhere.
 */
#ifndef TE_SHUFFLE_BUFFER_DEBLOATER_H
#define TE_SHUFFLE_BUFFER_DEBLOATER_H

#include <stdatomic.h>
#include <stdint.h>

#define TE_DEBLOAT_PERIOD_MS     200 /* Flink's buffer-debloat.period */
#define TE_DEBLOAT_THRESHOLD_PCT 25  /* Flink's buffer-debloat.threshold-percentages */
#define TE_DEBLOAT_MIN_SIZE      256 /* Flink's memory.min-segment-size */

typedef struct te_buffer_debloater {
    int64_t target_ms;
    uint32_t max_size;
    int64_t last_ns; /* start of the current period; 0 = not started */
    uint64_t last_bytes;
    _Atomic uint32_t size; /* announced last (the segment size until the first change) */
} te_buffer_debloater_t;

void buffer_debloater_init(te_buffer_debloater_t *d, int64_t target_ms, uint32_t segment_size);

/* The size for a throughput (bytes per second) spread over `buffers` buffers in use
 * (at least 1), bounded by [TE_DEBLOAT_MIN_SIZE, max_size]. */
uint32_t buffer_debloater_compute(uint64_t throughput, int64_t target_ms, uint32_t buffers, uint32_t max_size);

/* 1 when the current period is over (or none started): the caller counts its buffers
 * in use and calls buffer_debloater_update. */
static inline int buffer_debloater_due(const te_buffer_debloater_t *d, int64_t now_ns)
{
    return d->last_ns == 0 || now_ns - d->last_ns >= (int64_t)TE_DEBLOAT_PERIOD_MS * 1000000;
}

/* Called as the task polls its gate: bytes_in = the gate's data bytes read so far,
 * buffers = its buffers in use. Returns the new size to announce to the gate's
 * producers, or 0 (the period did not end, or the change is below the threshold). */
uint32_t buffer_debloater_update(te_buffer_debloater_t *d, int64_t now_ns, uint64_t bytes_in, uint32_t buffers);

/* The size announced last (the segment size before any). Any thread. */
uint32_t buffer_debloater_size(const te_buffer_debloater_t *d);

#endif
