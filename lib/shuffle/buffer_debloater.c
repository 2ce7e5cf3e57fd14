/*
 * buffer_debloater — the buffer size an input gate asks its producers for (see
 * buffer_debloater.h for the rule and how it differs from Flink's).
 *
 * Threading: init/update on the consuming task thread; `size` is an atomic read by
 * metrics on any thread.
 */
#include "shuffle/buffer_debloater.h"

void buffer_debloater_init(te_buffer_debloater_t *d, int64_t target_ms, uint32_t segment_size)
{
    d->target_ms = target_ms;
    d->max_size = segment_size < TE_DEBLOAT_MIN_SIZE ? TE_DEBLOAT_MIN_SIZE : segment_size;
    d->last_ns = 0;
    d->last_bytes = 0;
    atomic_init(&d->size, d->max_size);
}

uint32_t buffer_debloater_compute(uint64_t throughput, int64_t target_ms, uint32_t buffers, uint32_t max_size)
{
    uint64_t desired = throughput * (uint64_t)target_ms / 1000;
    uint64_t size = desired / (buffers > 0 ? buffers : 1);
    if (size > max_size)
        size = max_size;
    if (size < TE_DEBLOAT_MIN_SIZE)
        size = TE_DEBLOAT_MIN_SIZE;
    return (uint32_t)size;
}

uint32_t buffer_debloater_update(te_buffer_debloater_t *d, int64_t now_ns, uint64_t bytes_in, uint32_t buffers)
{
    if (d->last_ns == 0) {
        d->last_ns = now_ns;
        d->last_bytes = bytes_in;
        return 0;
    }
    if (!buffer_debloater_due(d, now_ns))
        return 0;
    int64_t dt = now_ns - d->last_ns;
    uint64_t throughput = (bytes_in - d->last_bytes) * 1000000000ull / (uint64_t)dt;
    d->last_ns = now_ns;
    d->last_bytes = bytes_in;
    uint32_t size = buffer_debloater_compute(throughput, d->target_ms, buffers, d->max_size);
    uint32_t last = atomic_load_explicit(&d->size, memory_order_relaxed);
    uint32_t diff = size > last ? size - last : last - size;
    if ((uint64_t)diff * 100 < (uint64_t)last * TE_DEBLOAT_THRESHOLD_PCT)
        return 0;
    atomic_store_explicit(&d->size, size, memory_order_relaxed);
    return size;
}

uint32_t buffer_debloater_size(const te_buffer_debloater_t *d)
{
    return atomic_load_explicit(&((te_buffer_debloater_t *)d)->size, memory_order_relaxed);
}
