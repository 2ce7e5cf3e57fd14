/*
 * input_gate — a SingleInputGate: one input channel per producer subtask of a consumed
 * result, a queue of channels that have data, and the gate's availability listener
 * that wakes the consuming task's mailbox. Channels plug in through
 * te_input_channel_ops_t: LocalInputChannel (local_input_channel.h) reads a
 * subpartition view of a partition in this daemon (no copy), RemoteInputChannel
 * (remote_input_channel.h) one of another daemon; shuffle_env builds both.
 *
 * poll_next never blocks. EndOfPartition events are consumed here: a channel that
 * delivered one is finished; when all are, poll_next returns TE_GATE_END.
 *
 * Threading: poll_next / request_partitions / close on the consuming task thread; the
 * channels' data-available callbacks come from producer threads or the net thread and
 * take only the gate's queue mutex. The gate's listener is called without locks.
 */
#ifndef TE_INPUT_GATE_H
#define TE_INPUT_GATE_H

#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "shuffle/buffer.h"
#include "shuffle/task_event.h"
#include "shuffle/local_buffer_pool.h"

typedef struct te_input_gate te_input_gate_t;

typedef enum te_gate_result {
    TE_GATE_NOTHING = 0, /* nothing available now: wait for the listener */
    TE_GATE_BUFFER = 1,  /* out->slice holds data of out->channel (caller owns the ref) */
    TE_GATE_EVENT = 2,   /* out->event (barriers, cancel markers) from out->channel */
    TE_GATE_END = 3,     /* every channel delivered EndOfPartition */
    TE_GATE_ERROR = 4,   /* a channel failed; input_gate_failure() tells why */
} te_gate_result_t;

typedef struct te_gate_element {
    uint32_t channel;
    te_buffer_slice_t slice;
    te_event_t event;
} te_gate_element_t;

/* A channel implementation (local or remote). The gate calls these on the task thread;
 * the channel calls input_gate_notify_channel_available() from any thread. */
typedef struct te_input_channel_ops {
    /* Starts consuming; may return TE_EAGAIN when the partition is not there yet (the
     * channel then notifies the gate when it should be retried). */
    te_status_t (*request)(void *ch, te_error_t *err);
    /* 1 + slice when a buffer/event is readable. */
    int (*poll)(void *ch, te_buffer_slice_t *out);
    /* 1 + cause when the channel failed. */
    int (*failure)(void *ch, char *cause, size_t len);
    void (*release)(void *ch);
    /* Optional (unaligned checkpoints): 1 + slice when a priority event is queued (they
     * are always at the head); never data or another event, so a stale announcement
     * cannot take an EndOfPartition or a marker ahead of the data before it. */
    int (*poll_priority)(void *ch, te_buffer_slice_t *out);
    /* Optional: the data slices queued in the channel that the priority barrier of
     * checkpoint id overtook when it arrived (one reference each, which the caller
     * recycles; the array is malloc'd, the caller frees it). Returns the count. */
    size_t (*take_overtaken)(void *ch, uint64_t id, te_buffer_slice_t **out);
    /* Optional: what the channel reads, for messages ("partition <id> subpartition 2");
     * 1 when written into buf. */
    int (*describe)(void *ch, char *buf, size_t len);
    /* Optional: 1 when a buffer or event is queued (a cheap look, no poll). Used to tell
     * whether a channel blocked for an alignment holds data (stall reports). */
    int (*has_data)(void *ch);
    /* Optional: an aligned checkpoint barrier polled from the channel is behind it — the
     * channel's alignment ended (input_gate_resume_channels) or the channel was not
     * blocked for one. A floating-only remote channel gets its credit back then. */
    void (*resume)(void *ch);
    /* Optional (buffer debloating, task thread): the producer should cut the buffers it
     * starts for this channel at `size` bytes. */
    void (*set_buffer_size)(void *ch, uint32_t size);
    /* Optional (buffer debloating, task thread): buffers holding this channel's data
     * outside the gate's pool — a local channel's are its subpartition's queue. */
    uint32_t (*buffers_in_use)(void *ch);
} te_input_channel_ops_t;

/* pool may be NULL (local channels only); the gate takes ownership of it. */
te_input_gate_t *input_gate_new(const char *owner, uint32_t gate_index, uint32_t n_channels,
                                te_local_buffer_pool_t *pool, te_error_t *err);
/* Releases channels and frees. */
void input_gate_free(te_input_gate_t *g);

/* Channel `ch` is `impl` (a local or remote channel made for this gate and index); the
 * gate owns it from now on and calls ops->release on close. On failure the caller
 * still owns impl. */
te_status_t input_gate_set_channel(te_input_gate_t *g, uint32_t ch, const te_input_channel_ops_t *ops, void *impl,
                                   te_error_t *err);
/* For channel implementations: data or a failure arrived on channel ch (any thread). */
void input_gate_notify_channel_available(te_input_gate_t *g, uint32_t ch);
/* As notify_channel_available (priority: as notify_priority), but the gate's listener
 * is returned instead of called (fn NULL when no call is due): the caller calls it,
 * later if it likes (the net thread does at the end of a read batch), while it keeps
 * the gate alive. The channel is queued at once: a task already polling sees it. */
te_notifier_t input_gate_enqueue_channel(te_input_gate_t *g, uint32_t ch, int priority);
/* For channel implementations: a priority event (an unaligned checkpoint's barrier)
 * arrived on channel ch (any thread); the task takes it with input_gate_poll_priority
 * ahead of data, between records. */
void input_gate_notify_priority(te_input_gate_t *g, uint32_t ch);
/* Task thread: 1 when a priority event was announced and not yet polled. */
int input_gate_has_priority(te_input_gate_t *g);
/* Task thread: the next event of a channel that announced a priority event
 * (TE_GATE_EVENT), or TE_GATE_NOTHING. EndOfPartition is consumed as in poll_next. */
te_gate_result_t input_gate_poll_priority(te_input_gate_t *g, te_gate_element_t *out);
/* Task thread: see te_input_channel_ops_t.take_overtaken (0 for local channels). */
size_t input_gate_take_overtaken(te_input_gate_t *g, uint32_t ch, uint64_t id, te_buffer_slice_t **out);

/* Persistent listener: fired when the gate goes from nothing-available to available
 * (data, end, error, or a partition to retry). */
void input_gate_set_listener(te_input_gate_t *g, te_notifier_t n);
/* Persistent hook called on the task thread at the start of every poll_next and before
 * it reports nothing available (remote channels reclaim recycled buffers there). Set
 * before the task runs. */
void input_gate_set_poll_hook(te_input_gate_t *g, te_notifier_t n);

/* Requests every channel's partition. A producer not registered yet is waited for;
 * when it has not appeared `timeout_ms` after this call, poll_next reports
 * "PartitionNotFound: ..." as an error. */
te_status_t input_gate_request_partitions(te_input_gate_t *g, int64_t timeout_ms, te_error_t *err);
/* Monotonic ms deadline of the earliest pending partition request, or -1. The task
 * must poll again by then even if not notified. */
int64_t input_gate_pending_deadline_ms(te_input_gate_t *g);

te_gate_result_t input_gate_poll_next(te_input_gate_t *g, te_gate_element_t *out);
/* The failure message after TE_GATE_ERROR. */
const char *input_gate_failure(te_input_gate_t *g);

/* Checkpoint alignment (task thread): a blocked channel is not polled — its buffers and
 * events stay queued in the channel, in order, none dropped — until
 * input_gate_resume_channels unblocks every blocked channel and re-queues it, calling
 * the listener when that makes the gate available (it may run from a mail while the
 * task sleeps: an alignment aborted by the coordinator). */
void input_gate_block_channel(te_input_gate_t *g, uint32_t ch);
void input_gate_resume_channels(te_input_gate_t *g);
/* Task thread: channels queued as having data (the FIFO the task polls), and blocked
 * channels that hold data (0 for channels without has_data). A task asleep while the
 * first is non-zero missed a wake-up; one asleep with the second non-zero waits for
 * the rest of an alignment. */
uint32_t input_gate_num_queued(te_input_gate_t *g);
uint32_t input_gate_num_blocked_with_data(te_input_gate_t *g);
/* 1 once channel ch delivered EndOfPartition; the count of such channels. */
int input_gate_channel_finished(const te_input_gate_t *g, uint32_t ch);
uint32_t input_gate_num_finished(const te_input_gate_t *g);

/* Releases every channel's view (cancel / end). Idempotent. Any queued data is dropped. */
void input_gate_close(te_input_gate_t *g);

uint32_t input_gate_num_channels(const te_input_gate_t *g);
uint32_t input_gate_index(const te_input_gate_t *g);
/* inPoolUsage: buffers held by this gate's channels over their capacity (0..1). */
double input_gate_pool_usage(te_input_gate_t *g);
uint64_t input_gate_bytes_in(const te_input_gate_t *g);
/* Buffer debloating (buffer_debloater.h): the gate measures its throughput as its task
 * polls and announces a buffer size to its channels' producers. Before the task runs. */
void input_gate_enable_debloating(te_input_gate_t *g, int64_t target_ms, uint32_t segment_size);
/* The size announced last (the segment size before any); 0 when debloating is off. */
uint32_t input_gate_buffer_size(const te_input_gate_t *g);

#endif
