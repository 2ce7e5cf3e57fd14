/*
 * snapshot_pool — a fixed pool of threads over a FIFO of jobs (see snapshot_pool.h).
 *
 * Threading: mu guards the queue, `busy` and `stopping`; workers wait on `cv`. A job
 * runs without the lock.
 */
#include "state/snapshot_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/thread_name.h"

typedef struct pool_job {
    void (*fn)(void *arg);
    void *arg;
    struct pool_job *next;
} pool_job_t;

struct te_snapshot_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pool_job_t *head, *tail;
    unsigned busy; /* queued + running */
    int stopping;
    pthread_t *threads;
    unsigned n_threads;
};

static __thread int on_worker;

int snapshot_pool_on_worker(void) { return on_worker; }

typedef struct worker_arg {
    te_snapshot_pool_t *p;
    unsigned index;
} worker_arg_t;

static void *worker(void *arg)
{
    worker_arg_t *wa = arg;
    te_snapshot_pool_t *p = wa->p;
    char name[16];
    snprintf(name, sizeof(name), "%u", wa->index);
    te_thread_set_name("te-snapshot-", name);
    free(wa);
    on_worker = 1;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        pool_job_t *j = p->head;
        if (j == NULL)
            break; /* stopping and drained */
        p->head = j->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->mu);
        j->fn(j->arg);
        free(j);
        pthread_mutex_lock(&p->mu);
        p->busy--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

te_snapshot_pool_t *snapshot_pool_new(unsigned threads, te_error_t *err)
{
    if (threads < 1 || threads > 64) {
        te_error_set(err, TE_EINVAL, "state.snapshot.threads = %u is not in 1..64", threads);
        return NULL;
    }
    te_snapshot_pool_t *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->threads = calloc(threads, sizeof(pthread_t))) == NULL) {
        free(p);
        te_error_set(err, TE_ENOMEM, "out of memory creating the snapshot pool");
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (unsigned i = 0; i < threads; i++) {
        worker_arg_t *wa = malloc(sizeof(*wa));
        if (wa != NULL)
            *wa = (worker_arg_t){p, i};
        if (wa == NULL || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            te_error_set(err, TE_ENOMEM, "cannot start snapshot thread %u", i);
            snapshot_pool_free(p);
            return NULL;
        }
        p->n_threads = i + 1;
    }
    return p;
}

void snapshot_pool_free(te_snapshot_pool_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

te_status_t snapshot_pool_submit(te_snapshot_pool_t *p, void (*fn)(void *arg), void *arg)
{
    pool_job_t *j = malloc(sizeof(*j));
    if (j == NULL)
        return TE_ENOMEM;
    *j = (pool_job_t){fn, arg, NULL};
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        pthread_mutex_unlock(&p->mu);
        free(j);
        return TE_ESTATE;
    }
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->busy++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return TE_OK;
}

unsigned snapshot_pool_busy(te_snapshot_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    unsigned n = p->busy;
    pthread_mutex_unlock(&p->mu);
    return n;
}
