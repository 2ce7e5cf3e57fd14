/*
 * result_partition — a PIPELINED ResultPartition: N PipelinedSubpartitions, each a
 * queue of buffers (the last one possibly still being written, Flink's
 * BufferBuilder/BufferConsumer pair) with a backlog count and at most one reader view.
 *
 * Producer side (the task thread's RecordWriter): add_buffer per buffer, flush,
 * finish. A flush (from the task thread or the output flusher thread) makes the bytes
 * committed so far readable without closing the buffer. Consumer side (a local input
 * channel on another task thread, or the partition server on the net thread): a view
 * that polls slices and is told, through its listener, when data becomes available.
 *
 * Threading: one mutex per subpartition, taken per buffer / flush / poll, never per
 * record. Listeners are called with no partition lock held. The partition is
 * refcounted: producer task, partition manager and each view hold a reference.
 */
#ifndef TE_RESULT_PARTITION_H
#define TE_RESULT_PARTITION_H

#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "shuffle/buffer.h"
#include "shuffle/task_event.h"
#include "shuffle/local_buffer_pool.h"

typedef struct te_result_partition te_result_partition_t;
typedef struct te_subpartition_view te_subpartition_view_t;

/* Takes ownership of pool. */
te_result_partition_t *result_partition_new(const te_id_t *partition_id, const char *owner,
                                            uint32_t n_subpartitions, te_local_buffer_pool_t *pool,
                                            te_error_t *err);
void result_partition_retain(te_result_partition_t *rp);
/* Drops one reference; the last frees queued buffers and destroys the pool. */
void result_partition_unref(te_result_partition_t *rp);

const te_id_t *result_partition_id(const te_result_partition_t *rp);
uint32_t result_partition_num_subpartitions(const te_result_partition_t *rp);
te_local_buffer_pool_t *result_partition_pool(te_result_partition_t *rp);

/* Producer: appends a buffer to subpartition `sub` (takes ownership of one reference).
 * The producer may keep writing into it (advancing b->committed) until it sets
 * b->finished, then calls result_partition_buffer_finished. */
void result_partition_add_buffer(te_result_partition_t *rp, uint32_t sub, te_buffer_t *b);
/* Producer: the last added buffer of `sub` was finished (full): count it in the backlog
 * and notify the reader if it had nothing to read. */
void result_partition_buffer_finished(te_result_partition_t *rp, uint32_t sub);
/* Makes committed bytes of `sub` (or all) readable now. Any thread. */
void result_partition_flush(te_result_partition_t *rp, uint32_t sub);
void result_partition_flush_all(te_result_partition_t *rp);
/* Deferred notifications of finished buffers on every subpartition (on while flushed
 * periodically; see pipelined_subpartition_set_deferred_notify), and announcing them. */
void result_partition_set_deferred_notify(te_result_partition_t *rp, int on);
/* announce_all: the producer only. */
void result_partition_announce_all(te_result_partition_t *rp);
/* Producer: appends an event buffer to `sub` (or every subpartition). Events are not
 * subject to the pool: they use a small side allocation if the pool is exhausted. */
te_status_t result_partition_add_event(te_result_partition_t *rp, uint32_t sub, const te_event_t *ev);
te_status_t result_partition_broadcast_event(te_result_partition_t *rp, const te_event_t *ev);
/* Producer: a priority event (the barrier of an unaligned checkpoint) on every
 * subpartition, ahead of the data queued there. capture(arg, sub, data, len) receives,
 * in order, every byte it overtook per subpartition (the output channel state); it
 * runs under the subpartition lock and must only copy. */
typedef void (*te_partition_capture_fn)(void *arg, uint32_t sub, const uint8_t *data, uint32_t len);
te_status_t result_partition_broadcast_priority_event(te_result_partition_t *rp, const te_event_t *ev,
                                                      te_partition_capture_fn capture, void *arg);
/* Producer: EndOfPartition on every subpartition, then no more writes. */
te_status_t result_partition_finish(te_result_partition_t *rp);
/* Drops all queued data and fails the views with `cause` (cancel / failure). Any thread. */
void result_partition_release(te_result_partition_t *rp, const char *cause);
int result_partition_is_released(te_result_partition_t *rp);
/* The flag result_partition_is_released reads (set once, release store), for a record
 * writer to test inline per record. Valid while rp is. */
const _Atomic int *result_partition_released_flag(te_result_partition_t *rp);

/* Consumer: the one reader of subpartition `sub`. `listener` is persistent: it is
 * called (any thread) each time the view goes from nothing-readable to readable, and on
 * release. NULL + err when sub is out of range, already has a reader, or released. */
te_subpartition_view_t *result_partition_create_view(te_result_partition_t *rp, uint32_t sub,
                                                     te_notifier_t listener, te_error_t *err);
/* Returns 1 and a slice (caller owns one reference of slice->buf) or 0 when nothing is
 * readable now. *backlog (may be NULL) = finished buffers still queued after this one. */
int subpartition_view_poll(te_subpartition_view_t *v, te_buffer_slice_t *out, uint32_t *backlog);
/* Like poll, but only an event (priority first): for a reader without credit. */
int subpartition_view_poll_event(te_subpartition_view_t *v, te_buffer_slice_t *out, uint32_t *backlog);
/* Only a priority event (1 + slice), never data or another event. */
int subpartition_view_poll_priority(te_subpartition_view_t *v, te_buffer_slice_t *out);
/* Called (any thread, no lock held) on every priority event added; set after create. */
void subpartition_view_set_priority_listener(te_subpartition_view_t *v, te_notifier_t listener);
/* Buffer debloating (FLIP-183): the size the reader wants the producer's buffers cut
 * at (0 = a whole segment; the producer also caps it at the segment). Any thread. */
void subpartition_view_set_buffer_size(te_subpartition_view_t *v, uint32_t size);
/* Finished buffers queued for the reader (any thread). */
uint32_t subpartition_view_backlog(te_subpartition_view_t *v);
/* Producer: the size announced for `sub` (0 = none), read when a buffer is started. */
uint32_t result_partition_buffer_size(te_result_partition_t *rp, uint32_t sub);
/* 1 when readable data (or an event) is queued now. */
int subpartition_view_is_available(te_subpartition_view_t *v);
/* When the partition was released: returns 1 and copies the cause. */
int subpartition_view_failure(te_subpartition_view_t *v, char *cause, size_t len);
/* Detaches the reader; queued buffers stay for no one and are freed with the partition. */
void subpartition_view_release(te_subpartition_view_t *v);

#endif
