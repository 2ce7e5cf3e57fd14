/*
 * record_writer — the producer side of one ResultPartition for one task (Flink's
 * ChannelSelectorRecordWriter / BroadcastRecordWriter).
 *
 * Per channel: a serializer and the buffer being filled. The writer owns one reference
 * of that buffer and the subpartition queue another (added when the buffer is started),
 * so a concurrent release cannot recycle a segment the writer still writes into. Each
 * record advances b->committed (release store, inside the serializer); a full buffer
 * is marked finished and handed over with result_partition_buffer_finished. A buffer is
 * full at its capacity, which the writer cuts when it starts it to the size the
 * subpartition's reader announced (buffer debloating; the pool restores it). Hot path:
 * no malloc, no syscall, no lock per record (the subpartition lock per buffer only); a
 * small record that fits in its channel's open buffer is written straight into it by
 * the inline path in record_writer.h (hot.open mirrors each channel's `cur` unless
 * every record is flushed), and a forward (or single-channel) writer skips the channel
 * selector.
 *
 * Threading: emit / broadcast_emit / broadcast_event / finish on the owning task
 * thread only. flush_all may run concurrently on the output flusher thread: it only
 * touches the subpartitions (under their locks), never the serializers or `cur`.
 * Counters are atomics written by the task thread (relaxed) and readable anywhere.
 */
#include "shuffle/record_writer.h"

#include <stdlib.h>

#include "common/clock.h"
#include "shuffle/record_serializer.h"

struct rw_channel {
    te_record_serializer_t ser;
    te_buffer_t *cur; /* the writer's own reference, or NULL */
};

struct te_record_writer {
    te_record_writer_hot_t hot; /* first: record_writer_emit (inline) reads it through the writer pointer */
    te_result_partition_t *rp;
    te_local_buffer_pool_t *pool;
    te_channel_selector_t *sel;
    uint32_t n;
    int flush_always;
    struct rw_channel *ch;
    _Atomic uint64_t bp_ns;
    _Atomic int bp;
    _Atomic int64_t bp_since; /* monotonic ns when the current wait began; 0 = not waiting */
};

te_record_writer_t *record_writer_new(te_result_partition_t *rp, te_channel_selector_t *sel, int flush_always,
                                      te_error_t *err)
{
    te_record_writer_t *rw = calloc(1, sizeof(*rw));
    if (rw == NULL)
        goto cleanup;
    rw->n = result_partition_num_subpartitions(rp);
    rw->ch = calloc(rw->n, sizeof(*rw->ch));
    rw->hot.open = calloc(rw->n, sizeof(*rw->hot.open));
    if (rw->ch == NULL || rw->hot.open == NULL)
        goto cleanup;
    rw->rp = rp;
    rw->hot.released = result_partition_released_flag(rp);
    rw->pool = result_partition_pool(rp);
    rw->sel = rw->hot.sel = sel;
    te_partitioner_kind_t k = channel_selector_kind(sel);
    rw->hot.n = rw->n;
    if (k == TE__PARTITIONER__FORWARD || (rw->n == 1 && k != TE__PARTITIONER__BROADCAST)) {
        rw->hot.fixed = 0;
    } else if (k == TE__PARTITIONER__REBALANCE || k == TE__PARTITIONER__RESCALE) {
        rw->hot.fixed = TE_RECORD_WRITER_ROUND_ROBIN;
        rw->hot.rr_last = channel_selector_round_robin_last(sel);
    } else {
        rw->hot.fixed = TE_RECORD_WRITER_SELECT;
    }
    rw->flush_always = flush_always;
    return rw;

cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory creating a record writer");
    if (rw != NULL) {
        free(rw->ch);
        free(rw->hot.open);
    }
    free(rw);
    channel_selector_free(sel);
    return NULL;
}

/* The channel's open buffer (the writer's reference), mirrored for emit's fast path. */
static void rw_set_cur(te_record_writer_t *rw, uint32_t c, te_buffer_t *b)
{
    rw->ch[c].cur = b;
    rw->hot.open[c] = rw->flush_always ? NULL : b;
}

/* Marks the channel's current buffer finished and drops the writer's reference. */
static void rw_finish_buffer(te_record_writer_t *rw, uint32_t c)
{
    te_buffer_t *b = rw->ch[c].cur;
    if (b == NULL)
        return;
    atomic_store_explicit(&b->finished, 1, memory_order_release);
    result_partition_buffer_finished(rw->rp, c);
    rw_set_cur(rw, c, NULL);
    buffer_recycle(b);
}

static void rw_finish_all(te_record_writer_t *rw)
{
    for (uint32_t c = 0; c < rw->n; c++)
        rw_finish_buffer(rw, c);
}

/* The pool is empty: the open buffers of the other channels are finished so that their
 * readers can consume and recycle them (a pool smaller than the channel count must not
 * be held entirely by half-filled buffers that are never finished), and readers not
 * told of a finished buffer yet are. 1 when any buffer was finished. */
static int rw_release_open(te_record_writer_t *rw)
{
    result_partition_announce_all(rw->rp);
    int any = 0;
    for (uint32_t c = 0; c < rw->n; c++)
        if (rw->ch[c].cur != NULL) {
            rw_finish_buffer(rw, c);
            any = 1;
        }
    return any;
}

static te_buffer_t *rw_request(te_record_writer_t *rw)
{
    te_buffer_t *b = local_buffer_pool_request(rw->pool);
    if (b != NULL)
        return b;
    if (rw_release_open(rw) && (b = local_buffer_pool_request(rw->pool)) != NULL)
        return b;
    atomic_store_explicit(&rw->bp, 1, memory_order_relaxed);
    int64_t t0 = te_clock_mono_ns();
    atomic_store_explicit(&rw->bp_since, t0, memory_order_relaxed);
    b = local_buffer_pool_request_blocking(rw->pool);
    int64_t dt = te_clock_mono_ns() - t0;
    atomic_store_explicit(&rw->bp_since, 0, memory_order_relaxed);
    atomic_store_explicit(&rw->bp_ns, atomic_load_explicit(&rw->bp_ns, memory_order_relaxed) + (uint64_t)dt,
                          memory_order_relaxed);
    atomic_store_explicit(&rw->bp, 0, memory_order_relaxed);
    return b;
}

/* Copies what the channel's serializer holds into buffers. */
static te_status_t rw_drain(te_record_writer_t *rw, uint32_t c)
{
    struct rw_channel *ch = &rw->ch[c];
    for (;;) {
        if (ch->cur == NULL) {
            te_buffer_t *b = rw_request(rw);
            if (b == NULL)
                return TE_ECANCELED;
            uint32_t cut = result_partition_buffer_size(rw->rp, c); /* debloating: the reader's size */
            if (cut > 0 && cut < b->capacity)
                b->capacity = cut; /* the pool gives it its segment size back */
            buffer_retain(b);      /* one reference for the queue, one for the writer */
            result_partition_add_buffer(rw->rp, c, b);
            rw_set_cur(rw, c, b);
        }
        te_ser_result_t r = record_serializer_copy_to_buffer(&ch->ser, ch->cur);
        if (r == TE_SER_FULL_RECORD)
            break;
        rw_finish_buffer(rw, c);
        if (r == TE_SER_FULL_RECORD_BUFFER_FULL)
            break;
    }
    if (rw->flush_always)
        result_partition_flush(rw->rp, c);
    return TE_OK;
}

static te_status_t rw_write(te_record_writer_t *rw, uint32_t c, const uint8_t *hdr, uint32_t hdr_len,
                            const uint8_t *payload, uint32_t payload_len)
{
    record_serializer_set(&rw->ch[c].ser, hdr, hdr_len, payload, payload_len);
    return rw_drain(rw, c);
}

te_status_t record_writer_write_raw(te_record_writer_t *rw, uint32_t sub, const uint8_t *data, size_t len)
{
    if (sub >= rw->n)
        return TE_EINVAL;
    while (len > 0) {
        uint32_t n = len > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)len;
        record_serializer_set_raw(&rw->ch[sub].ser, data, n);
        te_status_t st = rw_drain(rw, sub);
        if (st != TE_OK)
            return st;
        data += n;
        len -= n;
    }
    result_partition_flush(rw->rp, sub);
    return TE_OK;
}

te_status_t record_writer_emit_to(te_record_writer_t *rw, uint32_t c, const uint8_t *hdr, uint32_t hdr_len,
                                  const uint8_t *payload, uint32_t payload_len)
{
    if (atomic_load_explicit(rw->hot.released, memory_order_acquire))
        return TE_ECANCELED;
    if (c >= rw->n)
        return TE_EINTERNAL;
    te_buffer_t *b = rw->ch[c].cur;
    te_status_t st = TE_OK;
    if (b != NULL && record_serializer_write_whole(b, hdr, hdr_len, payload, payload_len)) {
        if (rw->flush_always)
            result_partition_flush(rw->rp, c);
    } else {
        st = rw_write(rw, c, hdr, hdr_len, payload, payload_len);
    }
    if (st == TE_OK)
        record_writer_count(&rw->hot, 4ull + hdr_len + payload_len);
    return st;
}

te_status_t record_writer_broadcast_emit(te_record_writer_t *rw, const uint8_t *hdr, uint32_t hdr_len,
                                         const uint8_t *payload, uint32_t payload_len)
{
    if (result_partition_is_released(rw->rp))
        return TE_ECANCELED;
    for (uint32_t c = 0; c < rw->n; c++) {
        te_status_t st = rw_write(rw, c, hdr, hdr_len, payload, payload_len);
        if (st != TE_OK)
            return st;
    }
    record_writer_count(&rw->hot, (4ull + hdr_len + payload_len) * rw->n);
    return TE_OK;
}

te_status_t record_writer_broadcast_event(te_record_writer_t *rw, const te_event_t *ev)
{
    rw_finish_all(rw);
    return result_partition_broadcast_event(rw->rp, ev);
}

te_status_t record_writer_broadcast_priority_event(te_record_writer_t *rw, const te_event_t *ev,
                                                   te_partition_capture_fn capture, void *arg)
{
    /* The open buffers stay open: the capture takes their committed bytes, and what is
     * written after the event follows it. */
    return result_partition_broadcast_priority_event(rw->rp, ev, capture, arg);
}

void record_writer_flush_all(te_record_writer_t *rw) { result_partition_flush_all(rw->rp); }

void record_writer_set_deferred_notify(te_record_writer_t *rw, int on)
{
    result_partition_set_deferred_notify(rw->rp, on);
}

te_status_t record_writer_finish(te_record_writer_t *rw)
{
    rw_finish_all(rw);
    return result_partition_finish(rw->rp);
}

void record_writer_free(te_record_writer_t *rw)
{
    if (rw == NULL)
        return;
    /* Open buffers are finished so readers can still drain what was written. */
    rw_finish_all(rw);
    channel_selector_free(rw->sel);
    free(rw->ch);
    free(rw->hot.open);
    free(rw);
}

int record_writer_is_available(te_record_writer_t *rw)
{
    if (local_buffer_pool_is_available(rw->pool))
        return 1;
    /* about to suspend until a buffer is recycled: let the open ones be */
    return rw_release_open(rw) && local_buffer_pool_is_available(rw->pool);
}

int record_writer_notify_when_available(te_record_writer_t *rw, te_notifier_t n)
{
    return local_buffer_pool_notify_when_available(rw->pool, n);
}

uint64_t record_writer_bytes_out(const te_record_writer_t *rw)
{
    return atomic_load_explicit(&((te_record_writer_t *)rw)->hot.bytes_out, memory_order_relaxed);
}

uint64_t record_writer_backpressured_ns(const te_record_writer_t *rw)
{
    te_record_writer_t *w = (te_record_writer_t *)rw;
    uint64_t done = atomic_load_explicit(&w->bp_ns, memory_order_relaxed);
    int64_t since = atomic_load_explicit(&w->bp_since, memory_order_relaxed);
    if (since != 0) { /* a wait in progress counts as it goes */
        int64_t now = te_clock_mono_ns();
        if (now > since)
            done += (uint64_t)(now - since);
    }
    return done;
}

int record_writer_is_backpressured(const te_record_writer_t *rw)
{
    return atomic_load_explicit(&((te_record_writer_t *)rw)->bp, memory_order_relaxed);
}

te_result_partition_t *record_writer_partition(te_record_writer_t *rw) { return rw->rp; }
