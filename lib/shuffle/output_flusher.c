/*
 * output_flusher — one daemon thread flushing registered RecordWriters every
 * execution.buffer-timeout (Flink's OutputFlusher, one thread for all writers).
 *
 * The thread sleeps on a CLOCK_MONOTONIC condvar until the earliest writer deadline,
 * flushes every writer that is due (one at a time, with `mu` released while flushing),
 * and reschedules it one interval later.
 *
 * Threading: add/remove from task threads, start/stop/free from the owner (daemon
 * main). `mu` guards the entry list, `flushing` and `stop`; it is not held during
 * record_writer_flush_all (which takes subpartition locks). remove waits on `done`
 * while its writer is being flushed, so the caller may free the writer afterwards.
 * A writer added has its readers told of finished buffers in groups (deferred
 * notifications, pipelined_subpartition.c), which this flush bounds; remove ends that.
 */
#include "shuffle/output_flusher.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/thread_name.h"

struct flush_entry {
    te_record_writer_t *rw;
    int64_t interval_ms;
    int64_t next_ms;
};

struct te_output_flusher {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    pthread_cond_t done; /* a flush finished */
    struct flush_entry *e;
    uint32_t count, cap;
    te_record_writer_t *flushing;
    int stop;
    int running;
    pthread_t thread;
};

te_output_flusher_t *output_flusher_new(te_error_t *err)
{
    te_output_flusher_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&f->done, NULL);
    pthread_mutex_init(&f->mu, NULL);
    return f;
}

static int find_locked(te_output_flusher_t *f, te_record_writer_t *rw)
{
    for (uint32_t i = 0; i < f->count; i++)
        if (f->e[i].rw == rw)
            return (int)i;
    return -1;
}

static void *flusher_main(void *arg)
{
    te_output_flusher_t *f = arg;
    te_thread_set_name(NULL, "te-flusher");
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        int64_t now = te_clock_mono_ms();
        int due = -1;
        int64_t earliest = INT64_MAX;
        for (uint32_t i = 0; i < f->count; i++) {
            if (f->e[i].next_ms <= now) {
                due = (int)i;
                break;
            }
            if (f->e[i].next_ms < earliest)
                earliest = f->e[i].next_ms;
        }
        if (due < 0) {
            if (earliest == INT64_MAX) {
                pthread_cond_wait(&f->wake, &f->mu);
            } else {
                struct timespec ts;
                te_clock_deadline(&ts, earliest - now);
                pthread_cond_timedwait(&f->wake, &f->mu, &ts);
            }
            continue;
        }
        te_record_writer_t *rw = f->e[due].rw;
        f->flushing = rw;
        pthread_mutex_unlock(&f->mu);
        record_writer_flush_all(rw);
        pthread_mutex_lock(&f->mu);
        f->flushing = NULL;
        pthread_cond_broadcast(&f->done);
        int i = find_locked(f, rw); /* still there: remove waits for `flushing` */
        if (i >= 0) {
            struct flush_entry *e = &f->e[i];
            e->next_ms += e->interval_ms;
            now = te_clock_mono_ms();
            if (e->next_ms <= now)
                e->next_ms = now + e->interval_ms;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

te_status_t output_flusher_start(te_output_flusher_t *f, te_error_t *err)
{
    if (f->running)
        return TE_OK;
    f->stop = 0;
    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0)
        return te_error_set(err, TE_EIO, "cannot start the output flusher thread");
    f->running = 1;
    return TE_OK;
}

void output_flusher_stop(te_output_flusher_t *f)
{
    if (f == NULL || !f->running)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_signal(&f->wake);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    f->running = 0;
}

void output_flusher_free(te_output_flusher_t *f)
{
    if (f == NULL)
        return;
    output_flusher_stop(f);
    pthread_cond_destroy(&f->wake);
    pthread_cond_destroy(&f->done);
    pthread_mutex_destroy(&f->mu);
    free(f->e);
    free(f);
}

void output_flusher_add(te_output_flusher_t *f, te_record_writer_t *rw, int64_t interval_ms)
{
    if (interval_ms <= 0)
        return;
    pthread_mutex_lock(&f->mu);
    if (find_locked(f, rw) < 0) {
        if (f->count == f->cap) {
            uint32_t ncap = f->cap ? f->cap * 2 : 16;
            struct flush_entry *ne = realloc(f->e, ncap * sizeof(*ne));
            if (ne == NULL) {
                pthread_mutex_unlock(&f->mu);
                TE_ERROR("output-flusher", "out of memory: a record writer will not be flushed periodically");
                return;
            }
            f->e = ne;
            f->cap = ncap;
        }
        f->e[f->count++] = (struct flush_entry){rw, interval_ms, te_clock_mono_ms() + interval_ms};
        pthread_cond_signal(&f->wake);
    }
    pthread_mutex_unlock(&f->mu);
    record_writer_set_deferred_notify(rw, 1); /* this flush bounds how long a buffer waits */
}

void output_flusher_remove(te_output_flusher_t *f, te_record_writer_t *rw)
{
    pthread_mutex_lock(&f->mu);
    while (f->flushing == rw)
        pthread_cond_wait(&f->done, &f->mu);
    int i = find_locked(f, rw);
    if (i >= 0)
        f->e[i] = f->e[--f->count];
    pthread_mutex_unlock(&f->mu);
    if (i >= 0)
        record_writer_set_deferred_notify(rw, 0);
}
