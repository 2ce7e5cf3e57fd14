/*
 * pipelined_subpartition — one PipelinedSubpartition of a PIPELINED ResultPartition
 * (Flink's PipelinedSubpartition with BufferBuilder/BufferConsumer folded into the
 * buffer itself).
 *
 * The queue holds one reference of each buffer. Only the tail may be unfinished: the
 * producer writes records into it and advances b->committed (release store) without
 * any lock. The reader may read [read_offset, committed) of the head when the head is
 * finished or a flush was requested; a finished, fully read head is popped. "Finished"
 * is what the subpartition was told under its lock (`tail_open` cleared by
 * buffer_finished or by adding the next buffer), never the producer's unlocked
 * b->finished store, so the reader and the backlog agree with the notifications.
 * Readability (nothing-readable -> readable) changes only under the lock: a data tail
 * becomes readable by buffer_finished or flush, an event by add, and release. The
 * invariant making that true: flush_requested is set only while it makes unread bytes
 * readable and is cleared by any poll after which nothing is readable, so committed bytes written
 * later (without the lock) never become readable without a flush or finish.
 * The listener is called on those transitions only, never per record.
 *
 * Deferred notifications (on while a periodic flush bounds every record's wait, see
 * pipelined_subpartition_set_deferred_notify): finished data buffers that make the
 * subpartition readable do not call the listener until SP_DEFER_BUFFERS of them are
 * queued untold; any other transition tells at once (an event, a flush, release), and
 * so does announce (the producer is out of buffers) — a reader keeping pace with its
 * producer is woken once per SP_DEFER_BUFFERS buffers instead of once per buffer, and
 * a full buffer waits at most for the next flush, as a partly filled one does.
 * `deferred` (the untold finished buffers) is non-zero only while something is
 * readable and the listener was not told.
 *
 * Priority events (the barriers of unaligned checkpoints) wait in their own FIFO that
 * poll serves first: they overtake every queued byte not yet read, which the producer
 * captures (as output channel state) under the same lock that orders the reader, so
 * each byte is either read before the barrier or captured, never both nor neither. A
 * priority add calls the priority listener when one is set (always: the reader may be
 * stalled on credit with data readable), the listener otherwise.
 *
 * Threading: producer entry points (add, buffer_finished) on the producing task thread;
 * flush from it or the output flusher; poll/is_available from the reader's thread
 * (consumer task or net thread); release from any thread. One mutex `mu` per
 * subpartition, taken per buffer / flush / poll, never per record; no other lock is
 * taken under it (buffers leaving the queue are recycled after unlocking). The listener is called with no lock held; `notifying` counts calls
 * in progress so detach can wait for them (a reader may free its context after detach).
 */
#include "shuffle/pipelined_subpartition.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/hot_mutex.h"

/* Finished buffers a reader is told of at once while deferring (see above): on the
 * 10 s window count of 10^7 bids, 2 halved the consumers' futex calls and context
 * switches, 4 halved them again (daemon CPU -12% against telling every buffer). */
#define SP_DEFER_BUFFERS 4

struct te_pipelined_subpartition {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* detach waits for notifying == 0 */
    te_buffer_t **ring;
    uint32_t cap, head, count;
    uint32_t read_offset; /* into the head buffer */
    uint32_t backlog;     /* finished data buffers still queued */
    int flush_requested;
    int tail_open; /* the last queued buffer is a data buffer not yet finished */
    int released;
    int has_reader;
    int defer; /* deferred notifications on */
    /* finished buffers readable and the listener not told (see the file comment);
     * written under mu, read without it by announce, whose caller (the producer) is the
     * only one making it non-zero */
    _Atomic int deferred;
    te_notifier_t listener;
    te_notifier_t prio_listener;
    uint32_t notifying;
    te_buffer_t *prio_head, *prio_tail; /* priority events, linked by next_free */
};

te_pipelined_subpartition_t *pipelined_subpartition_new(void)
{
    te_pipelined_subpartition_t *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    sp->cap = 8;
    sp->ring = calloc(sp->cap, sizeof(*sp->ring));
    if (sp->ring == NULL) {
        free(sp);
        return NULL;
    }
    te_hot_mutex_init(&sp->mu);
    pthread_cond_init(&sp->cv, NULL);
    return sp;
}

static void recycle_list(te_buffer_t *list)
{
    while (list != NULL) {
        te_buffer_t *n = list->next_free;
        list->next_free = NULL;
        buffer_recycle(list);
        list = n;
    }
}

static te_buffer_t *sp_at(te_pipelined_subpartition_t *sp, uint32_t i)
{
    return sp->ring[(sp->head + i) % sp->cap];
}

static te_buffer_t *sp_pop_locked(te_pipelined_subpartition_t *sp)
{
    te_buffer_t *b = sp->ring[sp->head];
    sp->ring[sp->head] = NULL;
    sp->head = (sp->head + 1) % sp->cap;
    sp->count--;
    sp->read_offset = 0;
    if (b->type == TE_BUFFER_DATA && sp->backlog > 0)
        sp->backlog--;
    return b;
}

static int sp_push_locked(te_pipelined_subpartition_t *sp, te_buffer_t *b)
{
    if (sp->count == sp->cap) {
        uint32_t ncap = sp->cap * 2;
        te_buffer_t **r = malloc(ncap * sizeof(*r));
        if (r == NULL)
            return -1;
        for (uint32_t i = 0; i < sp->count; i++)
            r[i] = sp_at(sp, i);
        free(sp->ring);
        sp->ring = r;
        sp->cap = ncap;
        sp->head = 0;
    }
    sp->ring[(sp->head + sp->count) % sp->cap] = b;
    sp->count++;
    return 0;
}

/* Drains the queue into a list (linked through next_free, which is unused while a
 * buffer is queued) so the caller can recycle it after unlocking. */
static te_buffer_t *sp_take_all_locked(te_pipelined_subpartition_t *sp)
{
    te_buffer_t *list = NULL, **tail = &list;
    while (sp->count > 0) {
        te_buffer_t *b = sp_pop_locked(sp);
        b->next_free = NULL;
        *tail = b;
        tail = &b->next_free;
    }
    sp->backlog = 0;
    sp->flush_requested = 0;
    sp->tail_open = 0;
    if (sp->prio_head != NULL) {
        *tail = sp->prio_head;
        sp->prio_head = sp->prio_tail = NULL;
    }
    return list;
}

void pipelined_subpartition_free(te_pipelined_subpartition_t *sp)
{
    if (sp == NULL)
        return;
    pthread_mutex_lock(&sp->mu);
    te_buffer_t *list = sp_take_all_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    recycle_list(list);
    pthread_cond_destroy(&sp->cv);
    pthread_mutex_destroy(&sp->mu);
    free(sp->ring);
    free(sp);
}

/* Pops finished data buffers at the head that the reader has read completely (it read
 * them through a flush before they were finished): they must not hold their segment
 * until the next poll, which may never come while the producer waits for a buffer.
 * Returns them as a list for recycling after unlocking. */
static te_buffer_t *sp_trim_locked(te_pipelined_subpartition_t *sp)
{
    te_buffer_t *list = NULL;
    while (sp->count > 0 && !(sp->count == 1 && sp->tail_open)) {
        te_buffer_t *h = sp->ring[sp->head];
        if (h->type != TE_BUFFER_DATA ||
            atomic_load_explicit(&h->committed, memory_order_acquire) != sp->read_offset)
            break;
        sp_pop_locked(sp);
        h->next_free = list;
        list = h;
    }
    return list;
}

/* 1 when poll would return something now. */
static int sp_readable_locked(te_pipelined_subpartition_t *sp)
{
    if (sp->released || sp->prio_head != NULL)
        return 1;
    for (uint32_t i = 0; i < sp->count; i++) {
        te_buffer_t *b = sp_at(sp, i);
        if (b->type != TE_BUFFER_DATA)
            return 1;
        int fin = !(i == sp->count - 1 && sp->tail_open);
        uint32_t c = atomic_load_explicit(&b->committed, memory_order_acquire);
        uint32_t off = i == 0 ? sp->read_offset : 0;
        if (c > off)
            return fin || sp->flush_requested;
        if (!fin)
            return 0;
    }
    return 0;
}

static inline int deferred_get(te_pipelined_subpartition_t *sp)
{
    return atomic_load_explicit(&sp->deferred, memory_order_relaxed);
}

static inline void deferred_set(te_pipelined_subpartition_t *sp, int v)
{
    atomic_store_explicit(&sp->deferred, v, memory_order_relaxed);
}

/* Takes a listener call ticket when the transition warrants one — nothing was readable
 * (or the listener was not told: deferred) and something is. Caller holds mu. */
static te_notifier_t sp_begin_notify_locked(te_pipelined_subpartition_t *sp, int was_readable)
{
    te_notifier_t n = {NULL, NULL};
    if ((!was_readable || deferred_get(sp)) && sp->has_reader && sp->listener.fn != NULL &&
        sp_readable_locked(sp)) {
        n = sp->listener;
        sp->notifying++;
        deferred_set(sp, 0);
    }
    return n;
}

/* The same after a data buffer was finished: deferred instead, while deferring is on,
 * when that made the subpartition readable or adds to the buffers not told yet, up to
 * SP_DEFER_BUFFERS of them. */
static te_notifier_t sp_finished_notify_locked(te_pipelined_subpartition_t *sp, int was_readable)
{
    int d = deferred_get(sp);
    if (sp->defer && (d ? d < SP_DEFER_BUFFERS - 1 : !was_readable) && sp->has_reader && sp_readable_locked(sp)) {
        deferred_set(sp, d + 1);
        return (te_notifier_t){NULL, NULL};
    }
    return sp_begin_notify_locked(sp, was_readable);
}

static void sp_end_notify(te_pipelined_subpartition_t *sp, te_notifier_t n)
{
    if (n.fn == NULL)
        return;
    n.fn(n.arg);
    pthread_mutex_lock(&sp->mu);
    if (--sp->notifying == 0)
        pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
}

/* Producer: takes mu for adding b; when released, recycles b and returns 0 unlocked. */
static int sp_lock_unreleased(te_pipelined_subpartition_t *sp, te_buffer_t *b)
{
    pthread_mutex_lock(&sp->mu);
    if (!sp->released)
        return 1;
    pthread_mutex_unlock(&sp->mu);
    buffer_recycle(b);
    return 0;
}

void pipelined_subpartition_add(te_pipelined_subpartition_t *sp, te_buffer_t *b)
{
    if (!sp_lock_unreleased(sp, b))
        return;
    int was = sp_readable_locked(sp);
    if (sp_push_locked(sp, b) != 0) {
        pthread_mutex_unlock(&sp->mu);
        buffer_recycle(b); /* out of memory growing the ring: the data is lost */
        return;
    }
    int finished = sp->tail_open;
    if (finished) {
        /* Only the tail may stay unfinished: the producer finishes before adding. */
        atomic_store_explicit(&sp_at(sp, sp->count - 2)->finished, 1, memory_order_release);
        sp->backlog++;
    }
    if (b->type != TE_BUFFER_DATA)
        atomic_store_explicit(&b->finished, 1, memory_order_release);
    sp->tail_open = b->type == TE_BUFFER_DATA;
    te_buffer_t *drop = sp_trim_locked(sp);
    te_notifier_t n = {NULL, NULL};
    if (b->type != TE_BUFFER_DATA)
        n = sp_begin_notify_locked(sp, was); /* an event: a deferred notification too */
    else if (finished)
        n = sp_finished_notify_locked(sp, was);
    else if (!was)
        n = sp_begin_notify_locked(sp, was); /* an empty buffer: readable only if released */
    pthread_mutex_unlock(&sp->mu);
    recycle_list(drop);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_add_priority(te_pipelined_subpartition_t *sp, te_buffer_t *b,
                                         void (*capture)(void *arg, const uint8_t *data, uint32_t len), void *arg)
{
    if (!sp_lock_unreleased(sp, b))
        return;
    int was = sp_readable_locked(sp);
    for (uint32_t i = 0; capture != NULL && i < sp->count; i++) {
        te_buffer_t *q = sp_at(sp, i);
        if (q->type != TE_BUFFER_DATA)
            continue;
        uint32_t off = i == 0 ? sp->read_offset : 0;
        uint32_t c = atomic_load_explicit(&q->committed, memory_order_acquire);
        if (c > off)
            capture(arg, q->data + off, c - off);
    }
    atomic_store_explicit(&b->finished, 1, memory_order_release);
    b->next_free = NULL;
    if (sp->prio_tail != NULL)
        sp->prio_tail->next_free = b;
    else
        sp->prio_head = b;
    sp->prio_tail = b;
    te_notifier_t n = {NULL, NULL};
    if (sp->has_reader && sp->prio_listener.fn != NULL) {
        n = sp->prio_listener;
        sp->notifying++;
    } else {
        n = sp_begin_notify_locked(sp, was);
    }
    pthread_mutex_unlock(&sp->mu);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_set_priority_listener(te_pipelined_subpartition_t *sp, te_notifier_t listener)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->has_reader)
        sp->prio_listener = listener;
    pthread_mutex_unlock(&sp->mu);
}

/* Pops the first priority event. Caller holds mu. */
static int sp_pop_priority_locked(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out)
{
    te_buffer_t *p = sp->prio_head;
    if (p == NULL)
        return 0;
    sp->prio_head = p->next_free;
    if (sp->prio_head == NULL)
        sp->prio_tail = NULL;
    p->next_free = NULL;
    out->buf = p;
    out->offset = 0;
    out->len = atomic_load_explicit(&p->committed, memory_order_acquire);
    out->type = p->type;
    return 1;
}

int pipelined_subpartition_poll_priority(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out)
{
    pthread_mutex_lock(&sp->mu);
    int got = !sp->released && sp_pop_priority_locked(sp, out);
    pthread_mutex_unlock(&sp->mu);
    return got;
}

int pipelined_subpartition_poll_event(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out, uint32_t *backlog)
{
    int got = 0;
    pthread_mutex_lock(&sp->mu);
    if (!sp->released) {
        got = sp_pop_priority_locked(sp, out);
        if (!got && sp->count > 0 && sp->ring[sp->head]->type != TE_BUFFER_DATA) {
            te_buffer_t *h = sp_pop_locked(sp);
            out->buf = h;
            out->offset = 0;
            out->len = atomic_load_explicit(&h->committed, memory_order_acquire);
            out->type = h->type;
            got = 1;
        }
    }
    if (backlog != NULL)
        *backlog = sp->backlog;
    pthread_mutex_unlock(&sp->mu);
    return got;
}

void pipelined_subpartition_buffer_finished(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->released || !sp->tail_open) {
        pthread_mutex_unlock(&sp->mu);
        return;
    }
    int was = sp_readable_locked(sp);
    sp->tail_open = 0;
    sp->backlog++;
    te_buffer_t *drop = sp_trim_locked(sp);
    te_notifier_t n = sp_finished_notify_locked(sp, was);
    pthread_mutex_unlock(&sp->mu);
    recycle_list(drop);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_flush(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->released || ((sp->count == 0 || sp->flush_requested) && !deferred_get(sp))) {
        pthread_mutex_unlock(&sp->mu);
        return;
    }
    int was = sp_readable_locked(sp);
    /* Keep the flag only when it makes unread bytes readable (see the file comment). */
    if (sp->count > 0 && !sp->flush_requested) {
        sp->flush_requested = 1;
        if (!sp_readable_locked(sp))
            sp->flush_requested = 0;
    }
    te_notifier_t n = sp_begin_notify_locked(sp, was);
    pthread_mutex_unlock(&sp->mu);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_set_deferred_notify(te_pipelined_subpartition_t *sp, int on)
{
    pthread_mutex_lock(&sp->mu);
    sp->defer = on != 0;
    te_notifier_t n = {NULL, NULL};
    if (!on)
        n = sp_begin_notify_locked(sp, 1); /* a deferred one now */
    pthread_mutex_unlock(&sp->mu);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_announce(te_pipelined_subpartition_t *sp)
{
    if (!deferred_get(sp)) /* only the producer, which calls this, sets it: 0 is exact */
        return;
    pthread_mutex_lock(&sp->mu);
    te_notifier_t n = sp->released ? (te_notifier_t){NULL, NULL} : sp_begin_notify_locked(sp, 1);
    pthread_mutex_unlock(&sp->mu);
    sp_end_notify(sp, n);
}

void pipelined_subpartition_release(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    if (sp->released) {
        pthread_mutex_unlock(&sp->mu);
        return;
    }
    te_buffer_t *list = sp_take_all_locked(sp);
    sp->released = 1;
    te_notifier_t n = sp_begin_notify_locked(sp, 0);
    pthread_mutex_unlock(&sp->mu);
    recycle_list(list);
    sp_end_notify(sp, n);
}

int pipelined_subpartition_attach(te_pipelined_subpartition_t *sp, te_notifier_t listener)
{
    pthread_mutex_lock(&sp->mu);
    int ok = !sp->has_reader && !sp->released;
    if (ok) {
        sp->has_reader = 1;
        sp->listener = listener;
    }
    pthread_mutex_unlock(&sp->mu);
    return ok;
}

void pipelined_subpartition_detach(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    sp->has_reader = 0;
    sp->listener.fn = NULL;
    sp->prio_listener.fn = NULL;
    while (sp->notifying > 0)
        pthread_cond_wait(&sp->cv, &sp->mu);
    pthread_mutex_unlock(&sp->mu);
}

int pipelined_subpartition_poll(te_pipelined_subpartition_t *sp, te_buffer_slice_t *out, uint32_t *backlog)
{
    int got = 0;
    te_buffer_t *drop = NULL;
    pthread_mutex_lock(&sp->mu);
    if (!sp->released && sp_pop_priority_locked(sp, out)) {
        if (backlog != NULL)
            *backlog = sp->backlog;
        pthread_mutex_unlock(&sp->mu);
        return 1;
    }
    while (!sp->released && sp->count > 0) {
        te_buffer_t *h = sp->ring[sp->head];
        if (h->type != TE_BUFFER_DATA) {
            sp_pop_locked(sp);
            out->buf = h; /* the queue's reference moves to the caller */
            out->offset = 0;
            out->len = atomic_load_explicit(&h->committed, memory_order_acquire);
            out->type = h->type;
            got = 1;
            break;
        }
        int fin = !(sp->count == 1 && sp->tail_open);
        uint32_t c = atomic_load_explicit(&h->committed, memory_order_acquire);
        if (c == sp->read_offset) {
            if (!fin)
                break;
            sp_pop_locked(sp); /* finished and fully read: drop the queue's reference */
            h->next_free = drop;
            drop = h;
            continue;
        }
        if (!fin && !sp->flush_requested)
            break;
        out->buf = h;
        out->offset = sp->read_offset;
        out->len = c - sp->read_offset;
        out->type = TE_BUFFER_DATA;
        got = 1;
        if (fin) {
            sp_pop_locked(sp);
        } else {
            buffer_retain(h);
            sp->read_offset = c;
            sp->flush_requested = 0; /* the unfinished tail was read */
        }
        break;
    }
    if (sp->flush_requested && !sp_readable_locked(sp))
        sp->flush_requested = 0; /* nothing unread: a later flush must notify again */
    if (got)
        deferred_set(sp, 0); /* the reader is reading: it polls again after this */
    if (backlog != NULL)
        *backlog = sp->backlog;
    pthread_mutex_unlock(&sp->mu);
    recycle_list(drop);
    return got;
}

int pipelined_subpartition_is_available(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    int r = sp_readable_locked(sp);
    pthread_mutex_unlock(&sp->mu);
    return r;
}

uint32_t pipelined_subpartition_backlog(te_pipelined_subpartition_t *sp)
{
    pthread_mutex_lock(&sp->mu);
    uint32_t r = sp->backlog;
    pthread_mutex_unlock(&sp->mu);
    return r;
}
