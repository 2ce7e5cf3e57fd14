/*
 * dir_job_store — the job store as files in a directory (see dir_job_store.h). put and
 * remove become io_worker jobs carrying their own copies of the id and text; the
 * worker writes / unlinks, and the job's completion reports on the event loop.
 *
 * Threading: the event loop's thread, except op_work (the worker thread), which
 * touches only its op and the file system.
 */
#include "cluster/dir_job_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file_io.h"
#include "common/io_worker.h"
#include "common/log.h"

#define CTX "job-store"

typedef struct dir_store {
    te_job_store_t base; /* first: the store header */
    char *dir;
    char describe[4200];
    te_io_worker_t *worker;
} dir_store_t;

typedef struct store_op {
    dir_store_t *s;
    char path[4200];
    char *text; /* NULL: remove */
    size_t len;
    te_error_t err;
    te_job_store_done_fn done;
    void *arg;
} store_op_t;

static const char *ds_describe(const te_job_store_t *base)
{
    const dir_store_t *s = (const dir_store_t *)base;
    return s->describe;
}

static int is_job_file(const char *name, char *hex)
{
    size_t n = strlen(name);
    if (n != 32 + 5 || strcmp(name + 32, ".json") != 0)
        return 0;
    for (size_t i = 0; i < 32; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    memcpy(hex, name, 32);
    hex[32] = '\0';
    return 1;
}

static te_status_t ds_load(te_job_store_t *base, te_job_store_record_fn fn, void *arg, te_error_t *err)
{
    dir_store_t *s = (dir_store_t *)base;
    DIR *d = opendir(s->dir);
    if (d == NULL)
        return te_error_set(err, TE_EIO, "cannot read the job store directory '%s': %s", s->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char hex[33], path[4400];
        snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.") != NULL) {
            TE_INFO(CTX, "deleting '%s' (a write that did not complete)", path);
            unlink(path);
            continue;
        }
        if (!is_job_file(e->d_name, hex))
            continue;
        te_error_t rerr = {0};
        char *text = file_read_all(path, NULL, &rerr);
        if (text == NULL) {
            TE_ERROR(CTX, "skipping a job record: %s", rerr.msg);
            continue;
        }
        fn(arg, hex, text);
        free(text);
    }
    closedir(d);
    return TE_OK;
}

static void op_work(void *arg)
{
    store_op_t *op = arg;
    if (op->text != NULL) {
        (void)file_write_durable(op->path, op->text, op->len, &op->err);
    } else if (unlink(op->path) != 0 && errno != ENOENT) {
        te_error_set(&op->err, TE_EIO, "cannot delete '%s': %s", op->path, strerror(errno));
    }
}

static void op_done(void *arg, int cancelled)
{
    store_op_t *op = arg;
    if (cancelled == 2)
        te_error_set(&op->err, TE_ECANCELED, "the job store was closed before '%s' was written", op->path);
    if (op->done)
        op->done(op->arg, op->err.code == TE_OK ? NULL : &op->err);
    free(op->text);
    free(op);
}

static void submit(dir_store_t *s, const char *job_hex, const char *record, te_job_store_done_fn done, void *arg)
{
    store_op_t *op = calloc(1, sizeof(*op));
    te_error_t err = {0};
    if (op != NULL && record != NULL && (op->text = strdup(record)) == NULL) {
        free(op);
        op = NULL;
    }
    if (op == NULL) {
        te_error_set(&err, TE_ENOMEM, "out of memory writing job %s to the job store", job_hex);
        if (done)
            done(arg, &err);
        return;
    }
    op->s = s;
    op->len = record ? strlen(record) : 0;
    op->done = done;
    op->arg = arg;
    snprintf(op->path, sizeof(op->path), "%s/%s.json", s->dir, job_hex);
    if (io_worker_submit(s->worker, op_work, op_done, op) != TE_OK) {
        te_error_set(&op->err, TE_ENOMEM, "out of memory writing job %s to the job store", job_hex);
        op_done(op, 0);
    }
}

static void ds_put(te_job_store_t *base, const char *job_hex, const char *record, te_job_store_done_fn done,
                   void *arg)
{
    submit((dir_store_t *)base, job_hex, record, done, arg);
}

static void ds_remove(te_job_store_t *base, const char *job_hex, te_job_store_done_fn done, void *arg)
{
    submit((dir_store_t *)base, job_hex, NULL, done, arg);
}

static void ds_free(te_job_store_t *base)
{
    dir_store_t *s = (dir_store_t *)base;
    io_worker_free(s->worker); /* completes what is pending */
    free(s->dir);
    free(s);
}

static const te_job_store_ops_t dir_ops = {ds_describe, ds_load, ds_put, ds_remove, ds_free, NULL, NULL};

te_job_store_t *dir_job_store_new(struct event_base *base, const char *dir, te_error_t *err)
{
    if (dir == NULL || dir[0] == '\0') {
        te_error_set(err, TE_EINVAL, "jobmanager.store.dir is empty");
        return NULL;
    }
    if (file_mkdirs(dir, err) != TE_OK)
        return NULL;
    if (access(dir, W_OK | X_OK) != 0) {
        te_error_set(err, TE_EIO, "the job store directory '%s' is not writable: %s", dir, strerror(errno));
        return NULL;
    }
    dir_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->base.ops = &dir_ops;
    snprintf(s->describe, sizeof(s->describe), "directory %s", dir);
    if ((s->worker = io_worker_new(base, "jobstore", err)) == NULL) {
        free(s->dir);
        free(s);
        return NULL;
    }
    return &s->base;
}
