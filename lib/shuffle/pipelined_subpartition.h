/*
 * pipelined_subpartition — internal to result_partition.c: one PipelinedSubpartition,
 * a queue of buffers (the tail possibly still being written by the producer) with a
 * backlog count, a flush flag and at most one reader.
 *
 * Threading: see pipelined_subpartition.c.
 */
#ifndef TE_PIPELINED_SUBPARTITION_H
#define TE_PIPELINED_SUBPARTITION_H

#include <stdint.h>

#include "shuffle/buffer.h"
#include "shuffle/local_buffer_pool.h"

typedef struct te_pipelined_subpartition te_pipelined_subpartition_t;

te_pipelined_subpartition_t *pipelined_subpartition_new(void);
/* Recycles queued buffers and frees. No reader may be attached. */
void pipelined_subpartition_free(te_pipelined_subpartition_t *sp);

/* Producer: appends b (takes one reference). An EVENT buffer is readable at once. */
void pipelined_subpartition_add(te_pipelined_subpartition_t *sp, te_buffer_t *b);
/* Producer: appends the priority event b (takes one reference), which the reader gets
 * before any queued data. capture(arg, data, len) is called (under the subpartition
 * lock; it must only copy) for each run of queued bytes not yet read, in order. */
void pipelined_subpartition_add_priority(te_pipelined_subpartition_t *sp, te_buffer_t *b,
                                         void (*capture)(void *arg, const uint8_t *data, uint32_t len), void *arg);
/* Producer: the tail data buffer was finished (b->finished set). */
void pipelined_subpartition_buffer_finished(te_pipelined_subpartition_t *sp);
/* Any thread: makes committed bytes readable. */
void pipelined_subpartition_flush(te_pipelined_subpartition_t *sp);
/* Any thread: drops queued buffers, refuses later adds, wakes the reader. */
void pipelined_subpartition_release(te_pipelined_subpartition_t *sp);
/* Any thread: while on, finished buffers tell the reader once SP_DEFER_BUFFERS of them
 * are queued untold, or with the next other transition (only while something flushes
 * the subpartition periodically: that bounds the wait); off tells the reader what it
 * was not told. */
void pipelined_subpartition_set_deferred_notify(te_pipelined_subpartition_t *sp, int on);
/* Producer (the only thread deferring, so a cheap check suffices when nothing is):
 * tells the reader what a deferred notification kept from it (the producer is out of
 * buffers: the reader must consume to recycle them). */
void pipelined_subpartition_announce(te_pipelined_subpartition_t *sp);

/* Reader: 0 and *err message when a reader is attached already or released. */
int pipelined_subpartition_attach(te_pipelined_subpartition_t *sp, te_notifier_t listener);
/* Reader: detaches; returns once no listener call is in progress. */
void pipelined_subpartition_detach(te_pipelined_subpartition_t *sp);
int pipelined_subpartition_poll(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out, uint32_t *backlog);
/* Reader: like poll, but returns only a priority event or an event at the head (for a
 * reader without credit for data). */
int pipelined_subpartition_poll_event(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out, uint32_t *backlog);
/* Reader: only a priority event (1 + slice), never anything else. */
int pipelined_subpartition_poll_priority(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out);
/* Reader: called (any thread, no lock held) on every priority add. */
void pipelined_subpartition_set_priority_listener(te_pipelined_subpartition_t *sp, te_notifier_t listener);
int pipelined_subpartition_is_available(te_pipelined_subpartition_t *sp);
uint32_t pipelined_subpartition_backlog(te_pipelined_subpartition_t *sp);

#endif
