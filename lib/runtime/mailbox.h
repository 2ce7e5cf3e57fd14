/*
 * mailbox — a task's TaskMailbox: a multi-producer single-consumer queue of mails
 * (actions to run on the task's mailbox thread), with priorities and a lock-free batch
 * for the consumer.
 *
 * Producers (any thread) append to a shared queue per priority under the mailbox
 * mutex. The mailbox thread moves the whole shared queue into its private batch under
 * the lock once, then pops from the batch without locking. Higher priority first, FIFO
 * within a priority. A mail of higher priority than anything in the batch that arrives
 * later is still taken first (the batch is refilled when the shared queue holds a
 * higher priority than the batch's best).
 *
 * States: OPEN -> QUIESCED (puts rejected with TE_ESTATE, pending mails still taken)
 * -> CLOSED (puts and takes rejected; close drops every pending mail, calling its
 * `drop` callback so the mail's arg is freed).
 *
 * Threading: mailbox_put / mailbox_quiesce / mailbox_state from any thread;
 * mailbox_take / mailbox_try_take / mailbox_has_mail / mailbox_close only on the mailbox thread
 * (or while no other thread takes). One mutex (the mailbox's); no other lock is taken
 * while holding it; mail callbacks are never called under it.
 */
#ifndef TE_MAILBOX_H
#define TE_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

typedef enum te_mail_priority {
    TE_MAIL_PRIO_DEFAULT = 0, /* ordinary mails (timers, checkpoint notifications) */
    TE_MAIL_PRIO_HIGH = 1,    /* resumes of the default action */
    TE_MAIL_PRIO_MAX = 2,     /* cancellation / end of the loop */
} te_mail_priority_t;

#define TE_MAIL_PRIORITIES 3

typedef enum te_mailbox_state {
    TE_MAILBOX_OPEN = 0,
    TE_MAILBOX_QUIESCED = 1,
    TE_MAILBOX_CLOSED = 2,
} te_mailbox_state_t;

/* A mail: `fn(arg)` runs on the mailbox thread. The mail owns `arg`: when a mail is
 * dropped without running (close / free), `drop(arg)` is called (may be NULL).
 * `description` must be a string with static storage (for logs). */
typedef struct te_mail {
    void (*fn)(void *arg);
    void (*drop)(void *arg);
    void *arg;
    int priority;
    const char *description;
} te_mail_t;

typedef struct te_mailbox te_mailbox_t;

te_mailbox_t *mailbox_new(void);
/* Drops pending mails (calling drop) and frees. NULL is a no-op. */
void mailbox_free(te_mailbox_t *mb);

/* Enqueues a mail. TE_ESTATE when the mailbox is QUIESCED or CLOSED (the caller keeps
 * ownership of arg then), TE_EINVAL on a bad priority, TE_ENOMEM. */
te_status_t mailbox_put(te_mailbox_t *mb, void (*fn)(void *arg), void *arg, int priority, const char *description);
/* The same with a drop callback for arg. */
te_status_t mailbox_put_ex(te_mailbox_t *mb, void (*fn)(void *arg), void (*drop)(void *arg), void *arg,
                           int priority, const char *description);

/* Mailbox thread: 1 and *out when a mail is pending, 0 otherwise (never blocks). */
int mailbox_try_take(te_mailbox_t *mb, te_mail_t *out);
/* Mailbox thread: waits for a mail. deadline_ms = CLOCK_MONOTONIC ms (te_clock_mono_ms)
 * or -1 for no deadline. TE_OK + *out, TE_ETIMEOUT when the deadline passed,
 * TE_ESTATE when the mailbox is CLOSED (or QUIESCED and empty). */
te_status_t mailbox_take(te_mailbox_t *mb, int64_t deadline_ms, te_mail_t *out);
/* taskmanager.network.busy-poll: mailbox_take spins up to ns for a mail before it
 * sleeps (0 = off). Mailbox thread, before its loop runs. */
void mailbox_set_busy_poll(te_mailbox_t *mb, int64_t ns);
/* Mailbox thread: 1 when a mail is pending (batch or shared queue). */
int mailbox_has_mail(te_mailbox_t *mb);

/* OPEN -> QUIESCED; wakes a blocked take. Any thread. */
void mailbox_quiesce(te_mailbox_t *mb);
/* -> CLOSED: drops every pending mail (calling drop, never fn) and wakes a blocked
 * take. Returns the number of mails dropped. Mailbox thread. */
size_t mailbox_close(te_mailbox_t *mb);
te_mailbox_state_t mailbox_state(te_mailbox_t *mb);

/* Runs a taken mail (fn(arg); the mail's arg is the fn's to free). */
void mail_run(const te_mail_t *m);
/* Disposes of a taken mail without running it (drop(arg)). */
void mail_drop(const te_mail_t *m);

#endif
