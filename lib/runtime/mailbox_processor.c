/*
 * mailbox_processor — the MailboxProcessor loop (see mailbox_processor.h).
 *
 * Threading: the loop state (suspended, resume_at, completed, failure) is touched only
 * by the mailbox thread. `resume_pending` is an atomic that coalesces resume mails put
 * from any thread. A waker (refcounted) holds a pointer to the processor under its own
 * mutex; mailbox_processor_free clears it, so wakes fired later by objects that outlive
 * the task do nothing. Lock order: waker.mu -> mailbox mu; the optional mail lock is
 * taken by the mailbox thread only around mails and the default action, never while
 * holding the mailbox mutex.
 */
#include "runtime/mailbox_processor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/hot_mutex.h"

struct te_mailbox_waker {
    _Atomic int refs;
    pthread_mutex_t mu;
    te_mailbox_processor_t *mp; /* NULL once the processor is freed */
};

struct te_mailbox_processor {
    te_mailbox_t *mb;
    te_default_action_fn action;
    void *arg;
    te_task_metrics_t *metrics;
    pthread_mutex_t *lock;
    te_mailbox_waker_t *waker;
    te_timer_next_fn timer_next;
    te_timer_fire_fn timer_fire;
    void *timer_arg;
    _Atomic int resume_pending;
    /* mailbox thread only */
    int suspended;
    int64_t resume_at_ms;
    int completed;
    te_status_t fail_code;
    char fail_msg[TE_ERROR_MSG_MAX];
};

te_mailbox_processor_t *mailbox_processor_new(te_mailbox_t *mb, te_default_action_fn action, void *arg,
                                              te_task_metrics_t *metrics)
{
    te_mailbox_processor_t *mp = calloc(1, sizeof(*mp));
    te_mailbox_waker_t *w = calloc(1, sizeof(*w));
    if (mp == NULL || w == NULL || mb == NULL || action == NULL) {
        free(mp);
        free(w);
        return NULL;
    }
    atomic_init(&w->refs, 1);
    te_hot_mutex_init(&w->mu);
    w->mp = mp;
    mp->waker = w;
    mp->mb = mb;
    mp->action = action;
    mp->arg = arg;
    mp->metrics = metrics;
    mp->resume_at_ms = -1;
    mp->fail_code = TE_OK;
    atomic_init(&mp->resume_pending, 0);
    return mp;
}

void mailbox_processor_free(te_mailbox_processor_t *mp)
{
    if (mp == NULL)
        return;
    te_mailbox_waker_t *w = mp->waker;
    pthread_mutex_lock(&w->mu);
    w->mp = NULL;
    pthread_mutex_unlock(&w->mu);
    mailbox_waker_unref(w);
    free(mp);
}

void mailbox_processor_set_lock(te_mailbox_processor_t *mp, pthread_mutex_t *lock) { mp->lock = lock; }

void mailbox_processor_set_timers(te_mailbox_processor_t *mp, te_timer_next_fn next, te_timer_fire_fn fire,
                                  void *arg)
{
    mp->timer_next = next;
    mp->timer_fire = fire;
    mp->timer_arg = arg;
}

/* The earliest processing-time timer, -1 none. */
static int64_t next_timer(const te_mailbox_processor_t *mp)
{
    return mp->timer_next ? mp->timer_next(mp->timer_arg) : -1;
}

/* Fires the due timers (under the mail lock). */
static te_status_t fire_due_timers(te_mailbox_processor_t *mp, te_error_t *err)
{
    int64_t due = next_timer(mp);
    if (due < 0)
        return TE_OK;
    int64_t now = te_clock_mono_ms();
    if (now < due)
        return TE_OK;
    if (mp->lock)
        pthread_mutex_lock(mp->lock);
    te_status_t st = mp->timer_fire(mp->timer_arg, now, err);
    if (mp->lock)
        pthread_mutex_unlock(mp->lock);
    return st;
}

static void run_mail_locked(te_mailbox_processor_t *mp, const te_mail_t *m)
{
    if (mp->lock)
        pthread_mutex_lock(mp->lock);
    mail_run(m);
    if (mp->lock)
        pthread_mutex_unlock(mp->lock);
}

static int loop_done(const te_mailbox_processor_t *mp) { return mp->completed || mp->fail_code != TE_OK; }

/* Busy and idle time are published as the loop goes (not only at its end), so the
 * status endpoint sees them while the task runs: idle after each blocking wait, busy
 * at each wait and at least every 100 ms of continuous work. */
static void publish_busy(te_mailbox_processor_t *mp, int64_t *mark, int64_t now)
{
    if (mp->metrics && now > *mark)
        task_metrics_add(&mp->metrics->busy_ns, (uint64_t)(now - *mark));
    *mark = now;
}

te_status_t mailbox_processor_run(te_mailbox_processor_t *mp, te_error_t *err)
{
    int64_t mark = te_clock_mono_ns(); /* busy time is counted from here */
    te_status_t rc = TE_OK;
    te_mail_t m;

    while (!loop_done(mp)) {
        /* 1. every mail available now */
        while (!loop_done(mp) && mailbox_try_take(mp->mb, &m))
            run_mail_locked(mp, &m);
        if (loop_done(mp))
            break;
        /* 1b. processing-time timers that are due */
        te_status_t tst = fire_due_timers(mp, err);
        if (tst != TE_OK) {
            rc = tst;
            goto cleanup;
        }
        if (loop_done(mp))
            break;
        /* 2. suspended: block for the next mail (or the resume time, or a timer) */
        if (mp->suspended) {
            int64_t deadline = mp->resume_at_ms, timer = next_timer(mp);
            if (timer >= 0 && (deadline < 0 || timer < deadline))
                deadline = timer;
            publish_busy(mp, &mark, te_clock_mono_ns());
            te_status_t st = mailbox_take(mp->mb, deadline, &m);
            int64_t t1 = te_clock_mono_ns();
            if (mp->metrics)
                task_metrics_add(&mp->metrics->idle_ns, (uint64_t)(t1 - mark));
            mark = t1;
            if (st == TE_ETIMEOUT) {
                if (mp->resume_at_ms >= 0 && te_clock_mono_ms() >= mp->resume_at_ms) {
                    mp->suspended = 0;
                    mp->resume_at_ms = -1;
                } /* else a timer is due: fired at the top of the loop */
            } else if (st == TE_OK) {
                run_mail_locked(mp, &m);
            } else {
                rc = te_error_set(err, TE_ESTATE, "mailbox closed while the task was running");
                goto cleanup;
            }
            continue;
        }
        /* 3. the default action, once */
        if (mp->lock)
            pthread_mutex_lock(mp->lock);
        te_status_t st = mp->action(mp->arg, mp, err);
        if (mp->lock)
            pthread_mutex_unlock(mp->lock);
        if (st != TE_OK) {
            rc = st;
            goto cleanup;
        }
        int64_t now = te_clock_mono_ns();
        if (now - mark >= 100 * 1000000LL)
            publish_busy(mp, &mark, now);
    }
    if (mp->fail_code != TE_OK)
        rc = te_error_set(err, mp->fail_code, "%s", mp->fail_msg);

cleanup:
    publish_busy(mp, &mark, te_clock_mono_ns());
    return rc;
}

void mailbox_processor_suspend(te_mailbox_processor_t *mp, int64_t resume_at_ms)
{
    if (!mp->suspended) {
        mp->suspended = 1;
        mp->resume_at_ms = resume_at_ms;
    } else if (resume_at_ms >= 0 && (mp->resume_at_ms < 0 || resume_at_ms < mp->resume_at_ms)) {
        mp->resume_at_ms = resume_at_ms;
    }
}

int mailbox_processor_is_suspended(te_mailbox_processor_t *mp) { return mp->suspended; }

static void resume_mail(void *arg)
{
    te_mailbox_processor_t *mp = arg;
    atomic_store(&mp->resume_pending, 0);
    mp->suspended = 0;
    mp->resume_at_ms = -1;
}

void mailbox_processor_resume(te_mailbox_processor_t *mp)
{
    if (atomic_exchange(&mp->resume_pending, 1) != 0)
        return; /* a resume mail is queued already */
    if (mailbox_put(mp->mb, resume_mail, mp, TE_MAIL_PRIO_HIGH, "resume default action") != TE_OK)
        atomic_store(&mp->resume_pending, 0);
}

void mailbox_processor_all_actions_completed(te_mailbox_processor_t *mp) { mp->completed = 1; }

void mailbox_processor_fail(te_mailbox_processor_t *mp, te_status_t code, const char *msg)
{
    if (mp->fail_code != TE_OK)
        return;
    mp->fail_code = code == TE_OK ? TE_EINTERNAL : code;
    snprintf(mp->fail_msg, sizeof(mp->fail_msg), "%s", msg ? msg : "failed");
}

te_mailbox_waker_t *mailbox_processor_waker(te_mailbox_processor_t *mp)
{
    mailbox_waker_ref(mp->waker);
    return mp->waker;
}

void mailbox_waker_ref(te_mailbox_waker_t *w) { atomic_fetch_add(&w->refs, 1); }

void mailbox_waker_unref(te_mailbox_waker_t *w)
{
    if (w == NULL)
        return;
    if (atomic_fetch_sub(&w->refs, 1) == 1) {
        pthread_mutex_destroy(&w->mu);
        free(w);
    }
}

void mailbox_waker_wake(te_mailbox_waker_t *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->mp)
        mailbox_processor_resume(w->mp);
    pthread_mutex_unlock(&w->mu);
}

void mailbox_waker_notify(void *waker) { mailbox_waker_wake(waker); }
