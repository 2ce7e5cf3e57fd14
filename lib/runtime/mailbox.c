/*
 * mailbox — the task's TaskMailbox (see mailbox.h): MPSC queue of mails with
 * priorities, a consumer-private batch, and OPEN -> QUIESCED -> CLOSED states.
 *
 * Threading: producers (any thread) take `mu` to append to `shared[prio]`; the mailbox
 * thread alone owns `batch[prio]` and takes `mu` only to move the shared lists into the
 * batch (once per batch) or to block. `shared_count` / `shared_best` are atomics so the
 * mailbox thread can tell, without locking, whether the shared queue holds mail and of
 * which priority. Lock order: `mu` is a leaf (nothing is called while holding it).
 * With busy poll set, a mailbox_take that finds nothing first spins on `shared_count`
 * (bounded) before it sleeps on the condition variable.
 */
#include "runtime/mailbox.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/hot_mutex.h"

typedef struct mail_node {
    te_mail_t mail;
    struct mail_node *next;
} mail_node_t;

typedef struct mail_list {
    mail_node_t *head;
    mail_node_t *tail;
} mail_list_t;

struct te_mailbox {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    mail_list_t shared[TE_MAIL_PRIORITIES];
    _Atomic size_t shared_count;
    _Atomic int shared_best; /* highest priority present in shared, -1 when empty */
    _Atomic int state;
    /* Mailbox-thread private. */
    mail_list_t batch[TE_MAIL_PRIORITIES];
    size_t batch_count;
    int64_t busy_poll_ns;
};

static void list_append(mail_list_t *l, mail_node_t *n)
{
    n->next = NULL;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

/* Appends all of src to dst (FIFO kept) and empties src. */
static void list_splice(mail_list_t *dst, mail_list_t *src)
{
    if (src->head == NULL)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    src->head = src->tail = NULL;
}

static mail_node_t *list_pop(mail_list_t *l)
{
    mail_node_t *n = l->head;
    if (n) {
        l->head = n->next;
        if (l->head == NULL)
            l->tail = NULL;
    }
    return n;
}

static void list_drop_all(mail_list_t *l)
{
    mail_node_t *n;
    while ((n = list_pop(l)) != NULL) {
        mail_drop(&n->mail);
        free(n);
    }
}

te_mailbox_t *mailbox_new(void)
{
    te_mailbox_t *mb = calloc(1, sizeof(*mb));
    if (mb == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mb->cond, &ca);
    pthread_condattr_destroy(&ca);
    te_hot_mutex_init(&mb->mu);
    atomic_init(&mb->shared_count, 0);
    atomic_init(&mb->shared_best, -1);
    atomic_init(&mb->state, TE_MAILBOX_OPEN);
    return mb;
}

void mailbox_free(te_mailbox_t *mb)
{
    if (mb == NULL)
        return;
    mailbox_close(mb);
    pthread_cond_destroy(&mb->cond);
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

te_status_t mailbox_put_ex(te_mailbox_t *mb, void (*fn)(void *arg), void (*drop)(void *arg), void *arg,
                           int priority, const char *description)
{
    if (mb == NULL || fn == NULL || priority < 0 || priority >= TE_MAIL_PRIORITIES)
        return TE_EINVAL;
    if (atomic_load(&mb->state) != TE_MAILBOX_OPEN)
        return TE_ESTATE;
    mail_node_t *n = malloc(sizeof(*n));
    if (n == NULL)
        return TE_ENOMEM;
    n->mail.fn = fn;
    n->mail.drop = drop;
    n->mail.arg = arg;
    n->mail.priority = priority;
    n->mail.description = description ? description : "mail";
    pthread_mutex_lock(&mb->mu);
    if (atomic_load(&mb->state) != TE_MAILBOX_OPEN) {
        pthread_mutex_unlock(&mb->mu);
        free(n);
        return TE_ESTATE;
    }
    list_append(&mb->shared[priority], n);
    atomic_fetch_add(&mb->shared_count, 1);
    if (priority > atomic_load(&mb->shared_best))
        atomic_store(&mb->shared_best, priority);
    pthread_mutex_unlock(&mb->mu);
    /* After unlocking: the woken task takes mu at once and must not find it held. The
     * caller keeps the mailbox alive for the call. */
    pthread_cond_signal(&mb->cond);
    return TE_OK;
}

te_status_t mailbox_put(te_mailbox_t *mb, void (*fn)(void *arg), void *arg, int priority, const char *description)
{
    return mailbox_put_ex(mb, fn, NULL, arg, priority, description);
}

/* Caller holds mu: moves the shared queue into the batch. */
static void move_shared_to_batch_locked(te_mailbox_t *mb)
{
    size_t n = atomic_load(&mb->shared_count);
    if (n == 0)
        return;
    for (int p = 0; p < TE_MAIL_PRIORITIES; p++)
        list_splice(&mb->batch[p], &mb->shared[p]);
    mb->batch_count += n;
    atomic_store(&mb->shared_count, 0);
    atomic_store(&mb->shared_best, -1);
}

static int batch_best(const te_mailbox_t *mb)
{
    for (int p = TE_MAIL_PRIORITIES - 1; p >= 0; p--)
        if (mb->batch[p].head)
            return p;
    return -1;
}

static int batch_pop(te_mailbox_t *mb, te_mail_t *out)
{
    for (int p = TE_MAIL_PRIORITIES - 1; p >= 0; p--) {
        mail_node_t *n = list_pop(&mb->batch[p]);
        if (n) {
            *out = n->mail;
            free(n);
            mb->batch_count--;
            return 1;
        }
    }
    return 0;
}

int mailbox_try_take(te_mailbox_t *mb, te_mail_t *out)
{
    if (atomic_load(&mb->state) == TE_MAILBOX_CLOSED)
        return 0;
    /* Refill when the batch is empty, or when the shared queue holds a more urgent mail. */
    if (atomic_load(&mb->shared_count) > 0 &&
        (mb->batch_count == 0 || atomic_load(&mb->shared_best) > batch_best(mb))) {
        pthread_mutex_lock(&mb->mu);
        move_shared_to_batch_locked(mb);
        pthread_mutex_unlock(&mb->mu);
    }
    return batch_pop(mb, out);
}

void mailbox_set_busy_poll(te_mailbox_t *mb, int64_t ns) { mb->busy_poll_ns = ns > 0 ? ns : 0; }

/* Busy poll: waits up to busy_poll_ns (and not past the deadline) for a mail or a state
 * change without sleeping, so a mail put meanwhile costs its producer no futex wake-up
 * and this thread no scheduler round trip. */
static void take_spin(te_mailbox_t *mb, int64_t deadline_ms)
{
    int64_t until = te_clock_mono_ns() + mb->busy_poll_ns;
    if (deadline_ms >= 0 && deadline_ms * 1000000LL < until)
        until = deadline_ms * 1000000LL;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&mb->shared_count, memory_order_relaxed) > 0 ||
            atomic_load_explicit(&mb->state, memory_order_relaxed) != TE_MAILBOX_OPEN)
            return;
        te_cpu_relax();
        if ((i & 63) == 0 && te_clock_mono_ns() >= until)
            return;
    }
}

te_status_t mailbox_take(te_mailbox_t *mb, int64_t deadline_ms, te_mail_t *out)
{
    if (mailbox_try_take(mb, out))
        return TE_OK;
    if (mb->busy_poll_ns > 0) {
        take_spin(mb, deadline_ms);
        if (mailbox_try_take(mb, out))
            return TE_OK;
    }
    struct timespec ts;
    if (deadline_ms >= 0) {
        ts.tv_sec = deadline_ms / 1000;
        ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    }
    te_status_t rc = TE_OK;
    pthread_mutex_lock(&mb->mu);
    for (;;) {
        int st = atomic_load(&mb->state);
        if (st == TE_MAILBOX_CLOSED) {
            rc = TE_ESTATE;
            break;
        }
        if (atomic_load(&mb->shared_count) > 0) {
            move_shared_to_batch_locked(mb);
            break;
        }
        if (st == TE_MAILBOX_QUIESCED) {
            rc = TE_ESTATE;
            break;
        }
        if (deadline_ms < 0) {
            pthread_cond_wait(&mb->cond, &mb->mu);
        } else if (pthread_cond_timedwait(&mb->cond, &mb->mu, &ts) != 0 && atomic_load(&mb->shared_count) == 0) {
            rc = TE_ETIMEOUT;
            break;
        }
    }
    pthread_mutex_unlock(&mb->mu);
    if (rc != TE_OK)
        return rc;
    return batch_pop(mb, out) ? TE_OK : TE_EINTERNAL;
}

int mailbox_has_mail(te_mailbox_t *mb) { return atomic_load(&mb->shared_count) > 0 || mb->batch_count > 0; }

void mailbox_quiesce(te_mailbox_t *mb)
{
    pthread_mutex_lock(&mb->mu);
    if (atomic_load(&mb->state) == TE_MAILBOX_OPEN)
        atomic_store(&mb->state, TE_MAILBOX_QUIESCED);
    pthread_cond_broadcast(&mb->cond);
    pthread_mutex_unlock(&mb->mu);
}

size_t mailbox_close(te_mailbox_t *mb)
{
    mail_list_t dropped[TE_MAIL_PRIORITIES] = {{0}};
    pthread_mutex_lock(&mb->mu);
    atomic_store(&mb->state, TE_MAILBOX_CLOSED);
    size_t n = atomic_load(&mb->shared_count) + mb->batch_count;
    for (int p = 0; p < TE_MAIL_PRIORITIES; p++) {
        list_splice(&dropped[p], &mb->batch[p]);
        list_splice(&dropped[p], &mb->shared[p]);
    }
    mb->batch_count = 0;
    atomic_store(&mb->shared_count, 0);
    atomic_store(&mb->shared_best, -1);
    pthread_cond_broadcast(&mb->cond);
    pthread_mutex_unlock(&mb->mu);
    /* drop callbacks run without the lock */
    for (int p = 0; p < TE_MAIL_PRIORITIES; p++)
        list_drop_all(&dropped[p]);
    return n;
}

te_mailbox_state_t mailbox_state(te_mailbox_t *mb) { return (te_mailbox_state_t)atomic_load(&mb->state); }

void mail_run(const te_mail_t *m) { m->fn(m->arg); }

void mail_drop(const te_mail_t *m)
{
    if (m->drop)
        m->drop(m->arg);
}
