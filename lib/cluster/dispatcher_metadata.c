/*
 * dispatcher_metadata — the JobMasters' checkpoint metadata writer (see
 * dispatcher_internal.h): a completed checkpoint's _metadata is written on the
 * Dispatcher's I/O worker, off the event loop; with a job store that keeps checkpoint
 * pointers (etcd) the pointer is recorded next, and only then are old checkpoints
 * pruned, so the pointer never names a pruned checkpoint. A write that finishes while
 * the Dispatcher closes (dispatcher_free drains the worker after the store is gone)
 * records nothing and reports TE_ECANCELED.
 *
 * Threading: the event-loop thread, except meta_work on the I/O worker's thread (it
 * touches only its own meta_write_t and the files).
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatcher_internal.h"
#include "common/io_worker.h"
#include "common/log.h"
#include "jobmaster/checkpoint_metadata.h"

#define CTX "dispatcher"

/* One write, from cl_metadata_write to its done. */
typedef struct meta_write {
    const te_ckpt_metadata_t *m; /* borrowed until done */
    char *job_dir;
    size_t keep;
    te_error_t err;
    void (*done)(void *arg, const te_error_t *err);
    void *arg;
    te_dispatcher_t *d;
    int retain_later; /* after the pointer is recorded */
    int retain_only;  /* a job of its own: prune, nothing else */
} meta_write_t;

static void meta_free(meta_write_t *w)
{
    free(w->job_dir);
    free(w);
}

static void meta_work(void *arg)
{
    meta_write_t *w = arg;
    te_error_t rerr = {0};
    if (!w->retain_only && checkpoint_metadata_write(w->m, w->job_dir, &w->err) != TE_OK)
        return;
    if (!w->retain_later && checkpoint_metadata_retain(w->job_dir, w->keep, 0, NULL, &rerr) != TE_OK)
        TE_WARN(CTX, "pruning old checkpoints of %s: %s", w->job_dir, rerr.msg);
}

static void retain_done(void *arg, int cancelled)
{
    (void)cancelled;
    meta_free(arg);
}

static void on_pointer(void *arg, const te_error_t *err)
{
    meta_write_t *w = arg;
    if (err != NULL) {
        te_error_t e = {0};
        if (w->d->closing) /* deposed or shutting down: not a failure of the job's checkpoints */
            te_error_set(&e, TE_ECANCELED,
                         "the JobManager stopped before the checkpoint was recorded in the job "
                         "store: %s",
                         err->msg);
        else
            te_error_set(&e, err->code, "the checkpoint was not recorded in the job store: %s", err->msg);
        w->done(w->arg, &e);
        meta_free(w);
        return;
    }
    w->done(w->arg, NULL);
    w->retain_later = 0;
    w->retain_only = 1;
    w->m = NULL;
    if (w->d->closing || io_worker_submit(w->d->io, meta_work, retain_done, w) != TE_OK)
        meta_free(w);
}

static void meta_done(void *arg, int cancelled)
{
    meta_write_t *w = arg;
    if (cancelled == 2)
        te_error_set(&w->err, TE_ECANCELED,
                     "the JobManager stopped before the checkpoint's _metadata was written");
    else if (w->err.code == TE_OK && w->retain_later && (cancelled || w->d->closing))
        /* dispatcher_free drains the worker after the store is gone: it is not written */
        te_error_set(&w->err, TE_ECANCELED,
                     "the JobManager stopped before the checkpoint was recorded in the job store");
    if (w->err.code == TE_OK && w->retain_later) {
        char dir[4300];
        const char *hex = strrchr(w->job_dir, '/');
        if (checkpoint_metadata_chk_dir(w->job_dir, w->m->checkpoint_id, dir, sizeof(dir)) == NULL)
            snprintf(dir, sizeof(dir), "%s", w->job_dir);
        job_store_put_checkpoint(w->d->cfg.store, hex ? hex + 1 : w->job_dir, w->m->checkpoint_id, dir, on_pointer,
                                 w);
        return;
    }
    w->done(w->arg, w->err.code == TE_OK ? NULL : &w->err);
    meta_free(w);
}

void cl_metadata_write(void *self, const te_ckpt_metadata_t *m, const char *job_dir, size_t keep,
                       void (*done)(void *arg, const te_error_t *err), void *arg)
{
    te_dispatcher_t *d = self;
    meta_write_t *w = calloc(1, sizeof(*w));
    te_error_t err = {0};
    if (w == NULL || (w->job_dir = strdup(job_dir)) == NULL) {
        free(w);
        te_error_set(&err, TE_ENOMEM, "out of memory writing the checkpoint's _metadata");
        done(arg, &err);
        return;
    }
    *w = (meta_write_t){m, w->job_dir, keep, {0}, done, arg, d, job_store_keeps_checkpoints(d->cfg.store), 0};
    if (io_worker_submit(d->io, meta_work, meta_done, w) != TE_OK) {
        te_error_set(&w->err, TE_ENOMEM, "out of memory writing the checkpoint's _metadata");
        meta_done(w, 0);
    }
}
