/*
 * record_writer — the producer side of one ResultPartition for one task (Flink's
 * ChannelSelectorRecordWriter / BroadcastRecordWriter): selects channels, serializes
 * records into per-channel buffers requested from the partition's pool, and hands
 * full buffers to the subpartitions.
 *
 * Hot path: no malloc, no syscall, no lock per record (a lock per buffer).
 * When the pool has no buffer, emit waits for one (counted as back-pressured time);
 * callers that must not block check record_writer_is_available first and suspend.
 *
 * Threading: emit/broadcast/finish on the owning task thread only; flush_all may also
 * be called by the output flusher thread; counters are atomics readable anywhere.
 */
#ifndef TE_RECORD_WRITER_H
#define TE_RECORD_WRITER_H

#include <stdint.h>

#include "common/te_status.h"
#include "common/compiler.h"
#include "shuffle/channel_selector.h"
#include "shuffle/record_serializer.h"
#include "shuffle/task_event.h"
#include "shuffle/local_buffer_pool.h"
#include "shuffle/result_partition.h"

typedef struct te_record_writer te_record_writer_t;

/* record_writer_fixed_channel: the selector picks each record's channel (hash). */
#define TE_RECORD_WRITER_SELECT UINT32_MAX
/* record_writer_fixed_channel: round robin over the channels (rebalance, rescale), picked
 * inline. */
#define TE_RECORD_WRITER_ROUND_ROBIN (UINT32_MAX - 1)

/* The first member of every te_record_writer: what the inline per-record path reads and
 * writes (visible for that path only, as te_buffer_t is; the rest of the writer is
 * opaque). Task thread only, but for the counters, which other threads load relaxed. */
typedef struct te_record_writer_hot {
    te_buffer_t **open;          /* per channel: its open buffer when records may go straight into it
                           (never with a flush per record), else NULL */
    uint32_t fixed;              /* 0: every record goes to channel 0 (forward / one channel); or
                           TE_RECORD_WRITER_ROUND_ROBIN / TE_RECORD_WRITER_SELECT */
    uint32_t n;                  /* channels */
    uint32_t rr_last;            /* round robin: the channel picked last */
    const _Atomic int *released; /* the partition's released flag */
    te_channel_selector_t *sel;
    _Atomic uint64_t bytes_out; /* single-writer counter (records: the chain counts them) */
} te_record_writer_hot_t;

te_record_writer_t *record_writer_new(te_result_partition_t *rp, te_channel_selector_t *sel, int flush_always,
                                      te_error_t *err);
void record_writer_free(te_record_writer_t *rw);

/* The same element to every channel (watermarks, stream status, latency markers). */
te_status_t record_writer_broadcast_emit(te_record_writer_t *rw, const uint8_t *hdr, uint32_t hdr_len,
                                         const uint8_t *payload, uint32_t payload_len);
/* The element to channel c (a channel the selector picked, or the fixed one), by the
 * general path: buffer requests, records spanning buffers, a flush per record. */
te_status_t record_writer_emit_to(te_record_writer_t *rw, uint32_t c, const uint8_t *hdr, uint32_t hdr_len,
                                  const uint8_t *payload, uint32_t payload_len);

/* 0 when every record goes to channel 0 (forward, one channel), else
 * TE_RECORD_WRITER_ROUND_ROBIN or TE_RECORD_WRITER_SELECT. */
static inline uint32_t record_writer_fixed_channel(const te_record_writer_t *rw)
{
    return ((const te_record_writer_hot_t *)rw)->fixed;
}

/* One record of `bytes` written: the single-writer counter (a store, not a locked add). */
static inline void record_writer_count(te_record_writer_hot_t *h, uint64_t bytes)
{
    atomic_store_explicit(&h->bytes_out, atomic_load_explicit(&h->bytes_out, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
}

/* The per-record case, inline: a record into channel c's open buffer when it fits. 1 =
 * written and counted; 0 = nothing done (use record_writer_emit_to). The header has at
 * most 32 bytes; any_size (a constant): 0 = the payload too (copied without any call,
 * so a caller's fast path needs no stack frame), 1 = a payload of any size (more than
 * 32 bytes is a memcpy call: the selected channels' path, whose caller has a frame
 * anyway). prefetch (a constant): ask for the cache lines the channel's next record
 * goes to (worth it when records of other channels come in between; a fixed channel
 * writes sequentially); always with any_size. */
static TE_ALWAYS_INLINE int record_writer_write_open(te_record_writer_t *rw, uint32_t c, const uint8_t *hdr,
                                                     uint32_t hdr_len, const uint8_t *payload,
                                                     uint32_t payload_len, int any_size, int prefetch)
{
    te_record_writer_hot_t *h = (te_record_writer_hot_t *)rw;
    te_buffer_t *b = h->open[c];
    if (TE_LIKELY(b != NULL && hdr_len <= RECORD_SERIALIZER_SMALL_HEADER &&
                  (any_size || payload_len <= RECORD_SERIALIZER_SMALL_PAYLOAD) &&
                  !atomic_load_explicit(h->released, memory_order_acquire) &&
                  (any_size ? record_serializer_write_small_hdr(b, hdr, hdr_len, payload, payload_len)
                            : record_serializer_write_small(b, hdr, hdr_len, payload, payload_len, prefetch)))) {
        record_writer_count(h, 4ull + hdr_len + payload_len);
        return 1;
    }
    return 0;
}

/* One serialized element (hdr + payload) to the channel(s) the selector picks from the
 * payload. TE_ECANCELED when the partition was released or the pool cancelled while
 * waiting for a buffer. */
static TE_ALWAYS_INLINE te_status_t record_writer_emit(te_record_writer_t *rw, const uint8_t *hdr,
                                                       uint32_t hdr_len, const uint8_t *payload,
                                                       uint32_t payload_len)
{
    te_record_writer_hot_t *h = (te_record_writer_hot_t *)rw;
    uint32_t c = h->fixed;
    if (c == TE_RECORD_WRITER_ROUND_ROBIN) { /* channel_selector_select's rule, inline */
        c = h->rr_last + 1 == h->n ? 0 : h->rr_last + 1;
        h->rr_last = c;
    } else if (c == TE_RECORD_WRITER_SELECT) {
        c = channel_selector_select(h->sel, payload, payload_len);
        if (TE_UNLIKELY(c == TE_SELECT_BROADCAST))
            return record_writer_broadcast_emit(rw, hdr, hdr_len, payload, payload_len);
    }
    if (record_writer_write_open(rw, c, hdr, hdr_len, payload, payload_len, 1, 1))
        return TE_OK;
    return record_writer_emit_to(rw, c, hdr, hdr_len, payload, payload_len);
}

/* An event to every channel, after the data written so far (flushes first). */
te_status_t record_writer_broadcast_event(te_record_writer_t *rw, const te_event_t *ev);
/* A priority event (unaligned barrier) on every channel ahead of their queued data,
 * which capture receives (see result_partition_broadcast_priority_event). */
te_status_t record_writer_broadcast_priority_event(te_record_writer_t *rw, const te_event_t *ev,
                                                   te_partition_capture_fn capture, void *arg);
/* Replays recovered output channel state: raw serialized bytes into channel `sub`
 * (blocking for buffers like emit), then flushes it. */
te_status_t record_writer_write_raw(te_record_writer_t *rw, uint32_t sub, const uint8_t *data, size_t len);
/* Makes everything written so far readable. Task thread or output flusher. */
void record_writer_flush_all(te_record_writer_t *rw);
/* Any thread: see result_partition_set_deferred_notify (the output flusher turns it on
 * while it flushes the writer). */
void record_writer_set_deferred_notify(te_record_writer_t *rw, int on);
/* Finishes open buffers, then EndOfPartition on every channel. */
te_status_t record_writer_finish(te_record_writer_t *rw);

int record_writer_is_available(te_record_writer_t *rw);
/* One-shot listener for buffer availability; 1 = available already (fired now). */
int record_writer_notify_when_available(te_record_writer_t *rw, te_notifier_t n);

uint64_t record_writer_bytes_out(const te_record_writer_t *rw);
/* Total nanoseconds spent waiting for a buffer, including a wait in progress (any
 * thread; may read slightly low at the instant a wait ends). */
uint64_t record_writer_backpressured_ns(const te_record_writer_t *rw);
/* 1 while emit is waiting for a buffer. */
int record_writer_is_backpressured(const te_record_writer_t *rw);
te_result_partition_t *record_writer_partition(te_record_writer_t *rw);

#endif
