/*
 * mailbox_processor — the task's MailboxProcessor: the loop that runs every pending
 * mail, then the default action (process input) once, again and again until all
 * actions are completed or something failed.
 *
 * The default action suspends itself when its input or output is unavailable; the loop
 * then blocks in mailbox_take (never spins) until a resume mail arrives (put by
 * mailbox_processor_resume or a waker from any thread) or, for a suspension with a
 * resume time, until that time passes. A resume that arrives before the matching
 * suspend is not lost: it is a mail processed before the default action runs again.
 *
 * Time blocked in take is added to metrics->idle_ns, the rest of the loop to busy_ns.
 *
 * Threading: run / suspend / all_actions_completed / fail on the mailbox thread;
 * mailbox_processor_resume and the waker functions from any thread. An optional mail
 * lock (the task's checkpoint lock) is held around every mail and default action run.
 */
#ifndef TE_MAILBOX_PROCESSOR_H
#define TE_MAILBOX_PROCESSOR_H

#include <pthread.h>
#include <stdint.h>

#include "common/te_status.h"
#include "runtime/mailbox.h"
#include "runtime/task_metrics.h"

typedef struct te_mailbox_processor te_mailbox_processor_t;

/* The default action. Returns TE_OK to be called again, anything else ends the loop
 * with that status (the message in err). Runs on the mailbox thread. */
typedef te_status_t (*te_default_action_fn)(void *arg, te_mailbox_processor_t *mp, te_error_t *err);

/* Borrows mb (must outlive the processor) and metrics (may be NULL). */
te_mailbox_processor_t *mailbox_processor_new(te_mailbox_t *mb, te_default_action_fn action, void *arg,
                                              te_task_metrics_t *metrics);
/* Detaches all wakers (later wakes do nothing) and frees. NULL is a no-op. */
void mailbox_processor_free(te_mailbox_processor_t *mp);

/* Held (borrowed) around each mail and each default action run. NULL = none. */
void mailbox_processor_set_lock(te_mailbox_processor_t *mp, pthread_mutex_t *lock);

/* Processing-time timers: `next(arg)` = the earliest timer (CLOCK_MONOTONIC ms, -1 none;
 * must be cheap: it is asked before every default action). Once the clock reaches it
 * the loop calls `fire(arg, now_ms, err)` on the mailbox thread under the mail lock, as
 * a mail would run (a non-TE_OK status ends the loop with it). A suspended loop's
 * blocking take waits at most until the earliest timer, so timers fire on time and
 * the loop never spins. */
typedef int64_t (*te_timer_next_fn)(void *arg);
typedef te_status_t (*te_timer_fire_fn)(void *arg, int64_t now_ms, te_error_t *err);
void mailbox_processor_set_timers(te_mailbox_processor_t *mp, te_timer_next_fn next, te_timer_fire_fn fire,
                                  void *arg);

/* Runs the loop on the calling thread (which becomes the mailbox thread) until
 * all_actions_completed (TE_OK), a failure (its status + err), or the mailbox is
 * closed (TE_ESTATE). */
te_status_t mailbox_processor_run(te_mailbox_processor_t *mp, te_error_t *err);

/* Mailbox thread (default action): stop calling the default action until resumed.
 * resume_at_ms = CLOCK_MONOTONIC ms at which to resume anyway, or -1. Suspending again
 * while suspended keeps the earlier of the two resume times. */
void mailbox_processor_suspend(te_mailbox_processor_t *mp, int64_t resume_at_ms);
int mailbox_processor_is_suspended(te_mailbox_processor_t *mp);
/* Any thread: resume the default action (puts one high-priority mail; repeated resumes
 * before it ran are coalesced). Safe while the processor is alive. */
void mailbox_processor_resume(te_mailbox_processor_t *mp);
/* Mailbox thread: end the loop once the current mail / action returns. */
void mailbox_processor_all_actions_completed(te_mailbox_processor_t *mp);
/* Mailbox thread (e.g. from a mail): end the loop with a failure. The first failure
 * wins. */
void mailbox_processor_fail(te_mailbox_processor_t *mp, te_status_t code, const char *msg);

/* A refcounted handle that resumes the processor from any thread and stays safe to use
 * after the processor was freed (a wake then does nothing). For listeners of objects
 * that may outlive the task (gates, buffer pools). */
typedef struct te_mailbox_waker te_mailbox_waker_t;
/* A new reference (NULL on out-of-memory). */
te_mailbox_waker_t *mailbox_processor_waker(te_mailbox_processor_t *mp);
void mailbox_waker_ref(te_mailbox_waker_t *w);
void mailbox_waker_unref(te_mailbox_waker_t *w);
void mailbox_waker_wake(te_mailbox_waker_t *w);
/* te_notifier_t-compatible: arg is a te_mailbox_waker_t (the reference is kept). */
void mailbox_waker_notify(void *waker);

#endif
