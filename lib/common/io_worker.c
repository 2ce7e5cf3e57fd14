/*
 * io_worker — a thread running blocking jobs for an event loop (see io_worker.h).
 *
 * Two FIFO lists under `lock`: `todo` (submitted, not started) and `finished` (work
 * returned, done not yet called). The worker waits on `cond` for todo; after a job it
 * moves it to finished and activates `done_ev`, whose callback (the loop's thread)
 * takes the finished list and calls each done.
 *
 * Threading: see io_worker.h. Lock order: `lock` is a leaf.
 */
#include "common/io_worker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/thread_name.h"

typedef struct io_job {
    te_io_work_fn work;
    te_io_done_fn done;
    void *arg;
    struct io_job *next;
} io_job_t;

struct te_io_worker {
    pthread_t thread;
    int started;
    char name[32];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    io_job_t *todo_head, *todo_tail;
    io_job_t *done_head, *done_tail;
    int stopping;
    size_t pending; /* loop thread only */
    struct event *done_ev;
};

static void list_push(io_job_t **head, io_job_t **tail, io_job_t *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *worker_main(void *arg)
{
    te_io_worker_t *w = arg;
    te_thread_set_name("te-", w->name);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->todo_head == NULL && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->todo_head == NULL)
            break;
        io_job_t *j = w->todo_head;
        w->todo_head = j->next;
        if (w->todo_head == NULL)
            w->todo_tail = NULL;
        pthread_mutex_unlock(&w->lock);
        j->work(j->arg);
        pthread_mutex_lock(&w->lock);
        list_push(&w->done_head, &w->done_tail, j);
        event_active(w->done_ev, EV_READ, 0);
        if (w->stopping)
            break; /* the jobs not started are dropped by io_worker_free */
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Calls done for every finished job (cancelled: how they are reported). */
static void drain_finished(te_io_worker_t *w, int cancelled)
{
    pthread_mutex_lock(&w->lock);
    io_job_t *j = w->done_head;
    w->done_head = w->done_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (j != NULL) {
        io_job_t *next = j->next;
        w->pending--;
        if (j->done)
            j->done(j->arg, cancelled);
        free(j);
        j = next;
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_finished(arg, 0);
}

te_io_worker_t *io_worker_new(struct event_base *base, const char *name, te_error_t *err)
{
    te_io_worker_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory starting the %s worker", name);
        return NULL;
    }
    snprintf(w->name, sizeof(w->name), "%s", name);
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done_ev = event_new(base, -1, 0, on_done, w);
    if (w->done_ev == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory starting the %s worker", name);
        goto cleanup;
    }
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        te_error_set(err, TE_EIO, "cannot start the %s worker thread", name);
        goto cleanup;
    }
    w->started = 1;
    return w;
cleanup:
    io_worker_free(w);
    return NULL;
}

te_status_t io_worker_submit(te_io_worker_t *w, te_io_work_fn work, te_io_done_fn done, void *arg)
{
    io_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return TE_ENOMEM;
    j->work = work;
    j->done = done;
    j->arg = arg;
    w->pending++;
    pthread_mutex_lock(&w->lock);
    list_push(&w->todo_head, &w->todo_tail, j);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return TE_OK;
}

size_t io_worker_pending(const te_io_worker_t *w) { return w->pending; }

void io_worker_free(te_io_worker_t *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stopping = 1;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    if (w->done_ev != NULL) {
        drain_finished(w, 1);
        event_free(w->done_ev);
    }
    io_job_t *j = w->todo_head;
    while (j != NULL) {
        io_job_t *next = j->next;
        if (j->done)
            j->done(j->arg, 2);
        free(j);
        j = next;
    }
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
