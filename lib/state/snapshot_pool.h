/*
 * snapshot_pool — the threads that run the asynchronous part of checkpoints
 * (`state.snapshot.threads`, Flink's asyncOperationsThreadPool): serialising state
 * views, writing and fsyncing snapshot files, uploading files of incremental
 * checkpoints; and freeing the state of ended tasks (large state takes seconds to free;
 * not on a task's or the control thread). One pool per daemon, shared by every task;
 * jobs run in submission order on the first free thread.
 *
 * Threading: submit from any thread; jobs run on the pool's threads ("te-snapshot-N").
 * free drains: it runs every queued job, then joins. Lock: the pool's mutex, a leaf
 * (never held while a job runs).
 */
#ifndef TE_SNAPSHOT_POOL_H
#define TE_SNAPSHOT_POOL_H

#include "common/te_status.h"

typedef struct te_snapshot_pool te_snapshot_pool_t;

/* threads: 1..64. NULL + err. */
te_snapshot_pool_t *snapshot_pool_new(unsigned threads, te_error_t *err);
/* Runs what is queued, joins the threads, frees. NULL is a no-op. */
void snapshot_pool_free(te_snapshot_pool_t *p);
/* Queues fn(arg). TE_ENOMEM, or TE_ESTATE once the pool is being freed (fn is not run). */
te_status_t snapshot_pool_submit(te_snapshot_pool_t *p, void (*fn)(void *arg), void *arg);
/* 1 on a pool thread (of any pool). */
int snapshot_pool_on_worker(void);
/* Jobs queued or running (for tests and the status endpoint). */
unsigned snapshot_pool_busy(te_snapshot_pool_t *p);

#endif
