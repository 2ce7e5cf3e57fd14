/*
 * io_worker — one thread that runs blocking work (fsync'd file writes, directory
 * scans) for an event loop, so that the loop's thread never waits on a disk: the loop
 * submits a job (work + done), the worker runs `work` in submission order, and `done`
 * runs afterwards on the loop's thread.
 *
 * Threading: io_worker_new / _submit / _free on the loop's thread (the one running
 * `base`); `work` on the worker thread (it must not touch the loop or anything of its
 * thread); `done` on the loop's thread. A mutex guards the two queues (a leaf lock:
 * nothing is called while it is held). evthread_use_pthreads() must have been called
 * before `base` was created.
 */
#ifndef TE_IO_WORKER_H
#define TE_IO_WORKER_H

#include "common/te_status.h"

struct event_base;

typedef struct te_io_worker te_io_worker_t;

/* Runs on the worker thread. */
typedef void (*te_io_work_fn)(void *arg);
/* Runs on the loop's thread after work returned; `cancelled` when the worker was freed
 * first (work did run, unless it had not started: then cancelled = 2). */
typedef void (*te_io_done_fn)(void *arg, int cancelled);

/* Starts the thread (named te-<name>). NULL + err. */
te_io_worker_t *io_worker_new(struct event_base *base, const char *name, te_error_t *err);
/* Queues a job. TE_ENOMEM (nothing queued) when out of memory. */
te_status_t io_worker_submit(te_io_worker_t *w, te_io_work_fn work, te_io_done_fn done, void *arg);
/* Jobs queued or running (not yet done). */
size_t io_worker_pending(const te_io_worker_t *w);
/* Finishes the job running, drops the ones not started (done(arg, 2)), calls done(arg,
 * 1) for finished ones not yet reported, joins the thread. NULL: no-op. */
void io_worker_free(te_io_worker_t *w);

#endif
