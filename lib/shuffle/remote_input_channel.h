/*
 * remote_input_channel — Flink's RemoteInputChannel: an input channel whose producer
 * lives in another daemon. It owns no socket: a transport (the partition client of
 * lib/net, through te_channel_transport_t below — the shuffle layer never includes net
 * headers) sends the PartitionRequest, AddCredit and CancelPartitionRequest and feeds
 * received BufferResponses in: remote_input_channel_reserve_buffer once a header is
 * decoded (the payload is then read straight into the channel's buffer, no copy in
 * between), remote_input_channel_commit_buffer once the payload is in.
 *
 * Credit: the channel announces one credit per free buffer it holds for the sender.
 * Buffers come from the gate's pool (te_remote_buffers_t, one per gate). A channel
 * keeps `exclusive` + backlog buffers free-or-queued (exclusive plus floating on
 * backlog, Flink's numRequiredBuffers = backlog + initialCredit); what the pool cannot
 * give now is asked again, in FIFO order of the channels, each time the task polls its
 * gate (after the buffers it finished with were recycled).
 *
 * Floating-only (exclusive 0, FLIP-266's fallback when the arena cannot give every
 * channel its exclusive buffers): no initial credit (the PartitionRequest says
 * floating, proto/NETWORK.md); credit only for the backlog the producer announces, from
 * a pool whose size does not depend on the channel count; a channel holding a buffer
 * already waits its turn behind channels holding none. An aligned checkpoint barrier
 * would otherwise let data behind it pin the pool while other channels' barriers need
 * buffers: at that barrier the producer stops sending and the channel gives its unused
 * buffers back (their credit is void), until the gate op resume (the alignment ended)
 * sends ResumeConsumption and credit is announced anew. Events come
 * without credit (own unpooled buffer). Sequence numbers must be 0, 1, 2 ... per
 * channel; a gap fails the channel. A priority event (an unaligned checkpoint's
 * barrier) is queued ahead of the data already queued, which it records as overtaken
 * (the gate op take_overtaken hands those buffers to the task as channel state).
 *
 * Threading: new / request / poll / failure / release on the consuming task thread
 * (the gate's ops); on_* callbacks and the take_* accessors on the net thread; the
 * transport calls come from the task thread and must only hand work to the net thread.
 * Locks: the channel mutex `mu` guards everything mutable; under it the pool mutex and
 * the manager mutex may be taken (order: channel, then pool / manager), and the gate's
 * queue mutex (notify). After release returns, no callback reaches the gate, and the
 * pool only through the buffer the net thread may still be filling (recycled by its
 * commit or abort). The channel is refcounted: the gate's reference (dropped by release) and the
 * transport's (taken by request, dropped with remote_input_channel_unref).
 */
#ifndef TE_REMOTE_INPUT_CHANNEL_H
#define TE_REMOTE_INPUT_CHANNEL_H

#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_buffer_pool.h"

typedef struct te_remote_input_channel te_remote_input_channel_t;
typedef struct te_remote_buffers te_remote_buffers_t;

/* Implemented by the network layer. `ctx` is the transport's own object. */
typedef struct te_channel_transport {
    /* Start requesting (async). Takes a reference (remote_input_channel_retain) that it
     * drops with remote_input_channel_unref when it is done with the channel. */
    te_status_t (*request)(void *ctx, te_remote_input_channel_t *ch, te_error_t *err);
    /* The channel has credit to announce (remote_input_channel_take_credit). */
    void (*credit_available)(void *ctx, te_remote_input_channel_t *ch);
    /* The channel was released: cancel the request; no more callbacks are needed. */
    void (*release)(void *ctx, te_remote_input_channel_t *ch);
    void *ctx;
    /* A floating-only channel's alignment ended: ResumeConsumption (before any credit
     * announced after this call). NULL: the channel announces credit again only. */
    void (*resume)(void *ctx, te_remote_input_channel_t *ch);
    /* Buffer debloating: the channel's size changed (remote_input_channel_buffer_size);
     * send it to the producer (NewBufferSize). NULL: sizes are not sent. */
    void (*buffer_size)(void *ctx, te_remote_input_channel_t *ch);
} te_channel_transport_t;

/* Per gate: the buffer pool of its remote channels (borrowed: the gate owns it), the
 * exclusive buffers of each channel (0: floating-only) and the FIFO of channels waiting
 * for buffers. Freed after the gate. */
te_remote_buffers_t *remote_buffers_new(te_local_buffer_pool_t *pool, uint32_t exclusive_per_channel);
void remote_buffers_free(te_remote_buffers_t *rb);
/* A gate's network buffers for metrics (any thread): buffers of its pool in use (by
 * channels as credit or queued data, or by the task), as exclusive (within the
 * channels' exclusive reservation) and floating (the rest; all of them when
 * floating-only), and the data bytes received and not yet polled by the task. */
typedef struct te_gate_buffer_stats {
    int floating_only;
    uint32_t exclusive_in_use;
    uint32_t floating_in_use;
    uint64_t in_flight_bytes;
    uint32_t buffer_size; /* debloating's announced size; 0 = off (filled by shuffle_io_gate_stats) */
} te_gate_buffer_stats_t;
void remote_buffers_stats(te_remote_buffers_t *rb, te_gate_buffer_stats_t *out);
/* The gate's poll hook (input_gate_set_poll_hook): hands recycled buffers to waiting
 * channels. Task thread. */
void remote_buffers_poll_hook(void *rb);

/* A channel of `gate` (index `index`) reading subpartition `sub` of `partition_id`
 * from the daemon whose data port is `address` ("host:port"). backoff in ms. */
te_remote_input_channel_t *remote_input_channel_new(te_input_gate_t *gate, uint32_t index, te_remote_buffers_t *rb,
                                                    const te_channel_transport_t *tr, const char *address,
                                                    const te_id_t *partition_id, uint32_t sub,
                                                    int64_t backoff_initial_ms, int64_t backoff_max_ms,
                                                    te_error_t *err);
extern const te_input_channel_ops_t remote_input_channel_ops;

void remote_input_channel_retain(te_remote_input_channel_t *ch);
void remote_input_channel_unref(te_remote_input_channel_t *ch);

/* Accessors (any thread; immutable after new). */
const char *remote_input_channel_address(const te_remote_input_channel_t *ch);
const te_id_t *remote_input_channel_partition_id(const te_remote_input_channel_t *ch);
uint32_t remote_input_channel_subpartition(const te_remote_input_channel_t *ch);
const te_id_t *remote_input_channel_receiver_id(const te_remote_input_channel_t *ch);
int64_t remote_input_channel_backoff_initial_ms(const te_remote_input_channel_t *ch);
int64_t remote_input_channel_backoff_max_ms(const te_remote_input_channel_t *ch);
/* Buffer debloating: the size announced to the producer (0 = none yet). Any thread. */
uint32_t remote_input_channel_buffer_size(const te_remote_input_channel_t *ch);
/* 1 when the channel has no exclusive buffers (floating-only). */
int remote_input_channel_is_floating(const te_remote_input_channel_t *ch);

/* Net thread: credit not announced yet (reset to 0). */
uint32_t remote_input_channel_take_credit(te_remote_input_channel_t *ch);
/* 1 once released or ended (EndOfPartition received) or failed: nothing more to do. */
int remote_input_channel_is_done(te_remote_input_channel_t *ch);

/* Net thread: the header of one BufferResponse arrived. Checks it and hands out the
 * buffer its `size` payload bytes go into: *out, bytes [0, size) of (*out)->data, owned
 * by the caller until it calls commit_buffer (payload complete) or abort_buffer (it
 * will not be). One buffer at a time per channel. Errors (the channel is failed with
 * the message too; the caller skips the payload): a sequence gap, data without credit,
 * a payload larger than a buffer, an event of the wrong size, a reservation still
 * open. TE_ECANCELED: released, ended or failed: skip the payload. */
te_status_t remote_input_channel_reserve_buffer(te_remote_input_channel_t *ch, uint32_t sequence, int is_event,
                                                uint32_t size, te_buffer_t **out, te_error_t *err);
/* Gate wake-ups the net thread defers to the end of a read batch: the buffers it
 * commits are queued in their gates at once (a task that is polling sees them), but a
 * task waiting for input is woken once for the batch instead of once per buffer (each
 * wake-up a futex call, and a preemption of the net thread by the woken task). Each
 * entry keeps its channel's release waiting, so the gate and its listener stay alive
 * until the flush; one listener is called once per batch. */
#define TE_RIC_WAKE_BATCH_MAX 32
typedef struct te_ric_wake_batch {
    uint32_t n;
    struct {
        te_remote_input_channel_t *ch;
        te_notifier_t wake;
    } e[TE_RIC_WAKE_BATCH_MAX];
} te_ric_wake_batch_t;
/* Net thread: calls the deferred listeners and lets their channels be released. */
void remote_input_channel_wake_flush(te_ric_wake_batch_t *wb);

/* Net thread: the payload of the reserved buffer `b` is complete: queue it for the gate
 * (an EndOfPartition event ends the channel) with the sender's backlog. Takes `b`.
 * The gate's listener is called before it returns, or, with `wb`, deferred to
 * remote_input_channel_wake_flush(wb) (a full batch is flushed first).
 * TE_ECANCELED when the channel was released (or failed) meanwhile: `b` is recycled. */
te_status_t remote_input_channel_commit_buffer(te_remote_input_channel_t *ch, te_buffer_t *b, uint32_t backlog,
                                               te_ric_wake_batch_t *wb, te_error_t *err);
/* Net thread: the payload of the reserved buffer `b` will not arrive (the connection is
 * gone). Takes `b`: a data buffer of a live channel is free again (the sequence number
 * is still expected), anything else is recycled. */
void remote_input_channel_abort_buffer(te_remote_input_channel_t *ch, te_buffer_t *b);
/* Net thread: one BufferResponse whose payload is at hand: reserve, `copy(arg, dst,
 * size)` (called at most once, not at all on error: the caller then skips the
 * payload), commit. Errors as reserve_buffer. */
te_status_t remote_input_channel_on_buffer(te_remote_input_channel_t *ch, uint32_t sequence, uint32_t backlog,
                                           int is_event, uint32_t size,
                                           void (*copy)(void *arg, uint8_t *dst, uint32_t size), void *arg,
                                           te_error_t *err);
/* Net thread: BacklogAnnouncement. */
void remote_input_channel_on_backlog(te_remote_input_channel_t *ch, uint32_t backlog);
/* Net thread: fails the channel (an ErrorResponse, a lost connection, retries used up).
 * Ignored once it ended or was released. */
void remote_input_channel_on_failure(te_remote_input_channel_t *ch, const char *cause);

#endif
