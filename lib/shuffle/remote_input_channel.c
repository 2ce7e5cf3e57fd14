/*
 * remote_input_channel — RemoteInputChannel and its gate's buffer manager (see the
 * header for the credit model).
 *
 * Threading: gate ops (request / poll / failure / release) and remote_buffers_poll_hook
 * on the consuming task thread; reserve_buffer / commit_buffer / abort_buffer (and the
 * on_buffer wrapper) / on_backlog / on_failure / take_credit on the net thread. A
 * reserved buffer belongs to the net thread until commit or abort (release does not
 * touch it; commit or abort then recycles it). commit tells the gate after releasing
 * `mu`, its listener at once or at the flush of the caller's wake batch (counted in
 * `notifying` until then; release waits for those in progress). Lock order:
 * channel `mu` -> pool mutex, channel `mu` -> manager `mu`, channel `mu` -> gate queue
 * mutex. The manager never holds its mutex while taking a channel's. Buffers are
 * recycled outside `mu` except the ones pulled from the pool under it, which are never
 * recycled there.
 */
#include "shuffle/remote_input_channel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hot_mutex.h"
#include "shuffle/task_event.h"

struct te_remote_buffers {
    te_local_buffer_pool_t *pool; /* borrowed */
    uint32_t bpc;
    pthread_mutex_t mu;
    te_remote_input_channel_t **fifo; /* waiting channels (each holds a reference) */
    uint32_t head, count, cap;
    _Atomic uint32_t n_waiting;
    _Atomic uint64_t queued_bytes; /* data received by its channels, not polled yet */
    _Atomic uint32_t n_channels;   /* channels made on it */
};

/* The data slices queued ahead of a priority barrier when it arrived (one extra
 * reference each), until the task takes them as channel state. */
struct overtaken {
    uint64_t id;
    te_buffer_slice_t *s;
    size_t n;
    struct overtaken *next;
};

static void overtaken_free(struct overtaken *o)
{
    while (o != NULL) {
        struct overtaken *n = o->next;
        for (size_t i = 0; i < o->n; i++)
            buffer_recycle(o->s[i].buf);
        free(o->s);
        free(o);
        o = n;
    }
}

struct te_remote_input_channel {
    _Atomic int refs;
    te_input_gate_t *gate;
    uint32_t index;
    te_remote_buffers_t *rb;
    int floating; /* rb->bpc == 0, copied: the I/O thread may ask after the gate freed rb */
    const te_channel_transport_t *tr;
    char address[256];
    te_id_t pid;
    uint32_t sub;
    te_id_t receiver_id;
    int64_t backoff_initial_ms, backoff_max_ms;

    pthread_mutex_t mu;
    te_buffer_t *free_list; /* credited buffers, linked by next_free */
    uint32_t n_free;
    te_buffer_slice_t *q; /* received, not yet polled */
    uint32_t qhead, qcount, qcap;
    uint32_t q_data;             /* data buffers in q */
    uint64_t q_bytes;            /* their bytes (also counted in rb->queued_bytes) */
    uint32_t q_prio;             /* priority events at the head of q */
    struct overtaken *overtaken; /* per priority barrier: the data it overtook */
    te_buffer_t *reserved;       /* handed to the net thread by reserve_buffer, not committed yet */
    uint32_t reserved_size;
    _Atomic int notifying; /* commit_buffer's gate notifications in progress (after mu) */
    uint32_t expected_seq;
    uint32_t backlog;
    uint32_t unannounced;
    int requested, released, ended, failed, waiting;
    int at_barrier;               /* floating-only: an aligned barrier arrived, no buffers until resume */
    _Atomic uint32_t buffer_size; /* debloating: announced to the producer (task thread writes) */
    char cause[TE_ERROR_MSG_MAX];
};

/* Recycles a list of buffers linked by next_free (no lock held). */
static void ch_recycle_list(te_buffer_t *list)
{
    while (list != NULL) {
        te_buffer_t *b = list;
        list = b->next_free;
        b->next_free = NULL;
        buffer_recycle(b);
    }
}

/* Takes the channel's free (credited, unused) buffers out, for ch_recycle_list once mu
 * is released: the credit they stood for is void. Caller holds mu. */
static te_buffer_t *ch_take_free_locked(te_remote_input_channel_t *c)
{
    te_buffer_t *list = c->free_list;
    c->free_list = NULL;
    c->n_free = 0;
    c->unannounced = 0;
    return list;
}

/* ---- manager ---- */

te_remote_buffers_t *remote_buffers_new(te_local_buffer_pool_t *pool, uint32_t exclusive_per_channel)
{
    te_remote_buffers_t *rb = calloc(1, sizeof(*rb));
    if (rb == NULL)
        return NULL;
    rb->pool = pool;
    rb->bpc = exclusive_per_channel;
    te_hot_mutex_init(&rb->mu);
    atomic_init(&rb->n_waiting, 0);
    return rb;
}

void remote_buffers_free(te_remote_buffers_t *rb)
{
    if (rb == NULL)
        return;
    while (rb->count > 0) {
        te_remote_input_channel_t *c = rb->fifo[rb->head];
        rb->head = (rb->head + 1) % rb->cap;
        rb->count--;
        remote_input_channel_unref(c);
    }
    free(rb->fifo);
    pthread_mutex_destroy(&rb->mu);
    free(rb);
}

/* Caller holds c->mu (order channel -> manager). */
static void rb_enqueue(te_remote_buffers_t *rb, te_remote_input_channel_t *c)
{
    pthread_mutex_lock(&rb->mu);
    if (rb->count == rb->cap) {
        uint32_t ncap = rb->cap ? rb->cap * 2 : 16;
        te_remote_input_channel_t **f = malloc(ncap * sizeof(*f));
        if (f == NULL) {
            pthread_mutex_unlock(&rb->mu);
            return; /* out of memory: the channel still has its exclusive buffers */
        }
        for (uint32_t i = 0; i < rb->count; i++)
            f[i] = rb->fifo[(rb->head + i) % rb->cap];
        free(rb->fifo);
        rb->fifo = f;
        rb->cap = ncap;
        rb->head = 0;
    }
    remote_input_channel_retain(c);
    rb->fifo[(rb->head + rb->count) % rb->cap] = c;
    rb->count++;
    c->waiting = 1;
    atomic_store(&rb->n_waiting, rb->count);
    pthread_mutex_unlock(&rb->mu);
}

static te_remote_input_channel_t *rb_dequeue(te_remote_buffers_t *rb)
{
    te_remote_input_channel_t *c = NULL;
    pthread_mutex_lock(&rb->mu);
    if (rb->count > 0) {
        c = rb->fifo[rb->head];
        rb->head = (rb->head + 1) % rb->cap;
        rb->count--;
        atomic_store(&rb->n_waiting, rb->count);
    }
    pthread_mutex_unlock(&rb->mu);
    return c;
}

/* A floating-only gate whose guaranteed buffers are at least twice its channels lets
 * each channel keep one buffer credited ahead of the backlog it announced (else every
 * buffer would wait for a backlog announcement's round trip). Idle channels can pin at
 * most half of those buffers that way; with fewer buffers no channel is credited
 * ahead, so none can pin one that another channel's backlog needs. */
static uint32_t ch_ahead(te_remote_buffers_t *rb)
{
    if (rb->bpc > 0)
        return 0;
    uint32_t n = atomic_load_explicit(&rb->n_channels, memory_order_relaxed);
    return 2 * n <= local_buffer_pool_min_required(rb->pool) ? 1 : 0;
}

/* Tops the channel up to bpc + backlog buffers free or queued. Returns 1 when the pool
 * ran dry before that (the channel then waits in the manager's FIFO). A floating-only
 * channel that holds a buffer already waits its turn behind the channels waiting for
 * one, unless this is its turn (`turn`: called by the FIFO), so that one channel's
 * backlog cannot keep the others without buffers. Caller holds mu. */
static int ch_ensure_buffers_turn_locked(te_remote_input_channel_t *c, int turn)
{
    if (c->released || c->ended || c->failed || c->at_barrier)
        return 0;
    uint32_t target = c->rb->bpc + c->backlog + ch_ahead(c->rb);
    uint32_t have = c->n_free + c->q_data + (c->reserved != NULL && c->reserved->type == TE_BUFFER_DATA);
    uint32_t got = 0;
    int dry = 0;
    if (c->rb->bpc == 0 && !turn && have > 0 && have < target &&
        atomic_load_explicit(&c->rb->n_waiting, memory_order_relaxed) > 0)
        dry = 1;
    while (!dry && have < target) {
        te_buffer_t *b = local_buffer_pool_request(c->rb->pool);
        if (b == NULL) {
            dry = 1;
            break;
        }
        b->next_free = c->free_list;
        c->free_list = b;
        c->n_free++;
        have++;
        got++;
    }
    if (got > 0) {
        int was = c->unannounced;
        c->unannounced += got;
        if (was == 0 && c->requested && c->tr->credit_available)
            c->tr->credit_available(c->tr->ctx, c);
    }
    if (dry && !c->waiting)
        rb_enqueue(c->rb, c);
    return dry;
}

static int ch_ensure_buffers_locked(te_remote_input_channel_t *c) { return ch_ensure_buffers_turn_locked(c, 0); }

void remote_buffers_poll_hook(void *arg)
{
    te_remote_buffers_t *rb = arg;
    uint32_t n = atomic_load_explicit(&rb->n_waiting, memory_order_relaxed);
    while (n-- > 0) {
        te_remote_input_channel_t *c = rb_dequeue(rb);
        if (c == NULL)
            break;
        pthread_mutex_lock(&c->mu);
        c->waiting = 0;
        int dry = ch_ensure_buffers_turn_locked(c, 1); /* re-queues itself when still short */
        pthread_mutex_unlock(&c->mu);
        remote_input_channel_unref(c);
        if (dry)
            break;
    }
}

/* ---- channel ---- */

te_remote_input_channel_t *remote_input_channel_new(te_input_gate_t *gate, uint32_t index, te_remote_buffers_t *rb,
                                                    const te_channel_transport_t *tr, const char *address,
                                                    const te_id_t *partition_id, uint32_t sub,
                                                    int64_t backoff_initial_ms, int64_t backoff_max_ms,
                                                    te_error_t *err)
{
    if (rb == NULL || tr == NULL || address == NULL || address[0] == '\0') {
        te_error_set(err, TE_EINVAL, "remote input channel %u: no producer address or no network transport",
                     index);
        return NULL;
    }
    te_remote_input_channel_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating a remote input channel");
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->gate = gate;
    c->index = index;
    c->rb = rb;
    c->floating = rb->bpc == 0;
    atomic_fetch_add_explicit(&rb->n_channels, 1, memory_order_relaxed);
    c->tr = tr;
    snprintf(c->address, sizeof(c->address), "%s", address);
    c->pid = *partition_id;
    c->sub = sub;
    te_id_random(&c->receiver_id);
    c->backoff_initial_ms = backoff_initial_ms;
    c->backoff_max_ms = backoff_max_ms;
    te_hot_mutex_init(&c->mu);
    return c;
}

void remote_input_channel_retain(te_remote_input_channel_t *c) { atomic_fetch_add(&c->refs, 1); }

void remote_input_channel_unref(te_remote_input_channel_t *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->q);
    free(c);
}

const char *remote_input_channel_address(const te_remote_input_channel_t *c) { return c->address; }
const te_id_t *remote_input_channel_partition_id(const te_remote_input_channel_t *c) { return &c->pid; }
uint32_t remote_input_channel_subpartition(const te_remote_input_channel_t *c) { return c->sub; }
const te_id_t *remote_input_channel_receiver_id(const te_remote_input_channel_t *c) { return &c->receiver_id; }
int64_t remote_input_channel_backoff_initial_ms(const te_remote_input_channel_t *c)
{
    return c->backoff_initial_ms;
}
int64_t remote_input_channel_backoff_max_ms(const te_remote_input_channel_t *c) { return c->backoff_max_ms; }

uint32_t remote_input_channel_take_credit(te_remote_input_channel_t *c)
{
    pthread_mutex_lock(&c->mu);
    uint32_t n = c->released ? 0 : c->unannounced;
    c->unannounced = 0;
    pthread_mutex_unlock(&c->mu);
    return n;
}

int remote_input_channel_is_done(te_remote_input_channel_t *c)
{
    pthread_mutex_lock(&c->mu);
    int d = c->released || c->ended || c->failed;
    pthread_mutex_unlock(&c->mu);
    return d;
}

static int q_grow_locked(te_remote_input_channel_t *c)
{
    if (c->qcount == c->qcap) {
        uint32_t ncap = c->qcap ? c->qcap * 2 : 8;
        te_buffer_slice_t *q = malloc(ncap * sizeof(*q));
        if (q == NULL)
            return -1;
        for (uint32_t i = 0; i < c->qcount; i++)
            q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qcap = ncap;
        c->qhead = 0;
    }
    return 0;
}

static int q_push_locked(te_remote_input_channel_t *c, te_buffer_slice_t s)
{
    if (q_grow_locked(c) != 0)
        return -1;
    c->q[(c->qhead + c->qcount) % c->qcap] = s;
    c->qcount++;
    if (s.type == TE_BUFFER_DATA) {
        c->q_data++;
        c->q_bytes += s.len;
        atomic_fetch_add_explicit(&c->rb->queued_bytes, s.len, memory_order_relaxed);
    }
    return 0;
}

/* A priority event (an unaligned checkpoint's barrier): queued after the priority
 * events already at the head, ahead of all data, which it records as overtaken. */
static int q_push_priority_locked(te_remote_input_channel_t *c, te_buffer_slice_t s)
{
    te_event_t ev;
    if (task_event_decode(s.buf->data + s.offset, s.len, &ev) != 0)
        return -1;
    struct overtaken *o = calloc(1, sizeof(*o));
    if (o == NULL || q_grow_locked(c) != 0) {
        free(o);
        return -1;
    }
    o->id = ev.checkpoint_id;
    if (c->q_data > 0) {
        o->s = malloc(c->q_data * sizeof(*o->s));
        if (o->s == NULL) {
            free(o);
            return -1;
        }
        for (uint32_t i = 0; i < c->qcount; i++) {
            te_buffer_slice_t *q = &c->q[(c->qhead + i) % c->qcap];
            if (q->type != TE_BUFFER_DATA)
                continue;
            buffer_retain(q->buf);
            o->s[o->n++] = *q;
        }
    }
    struct overtaken **tail = &c->overtaken;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = o;
    /* shift [q_prio, qcount) one place towards the tail */
    for (uint32_t i = c->qcount; i > c->q_prio; i--)
        c->q[(c->qhead + i) % c->qcap] = c->q[(c->qhead + i - 1) % c->qcap];
    c->q[(c->qhead + c->q_prio) % c->qcap] = s;
    c->qcount++;
    c->q_prio++;
    return 0;
}

static void fail_locked(te_remote_input_channel_t *c, const char *cause)
{
    if (c->released || c->ended || c->failed)
        return;
    c->failed = 1;
    snprintf(c->cause, sizeof(c->cause), "%s", cause);
    input_gate_notify_channel_available(c->gate, c->index);
}

void remote_input_channel_on_failure(te_remote_input_channel_t *c, const char *cause)
{
    pthread_mutex_lock(&c->mu);
    fail_locked(c, cause);
    pthread_mutex_unlock(&c->mu);
}

static const char *ch_what(te_remote_input_channel_t *c, char *buf, size_t len)
{
    char hex[TE_ID_HEX_LEN + 1];
    snprintf(buf, len, "partition %s subpartition %u from %.120s", te_id_to_hex(&c->pid, hex), c->sub, c->address);
    return buf;
}

void remote_input_channel_wake_flush(te_ric_wake_batch_t *wb)
{
    uint32_t n = wb->n;
    wb->n = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (wb->e[i].wake.fn != NULL)
            wb->e[i].wake.fn(wb->e[i].wake.arg);
        atomic_fetch_sub_explicit(&wb->e[i].ch->notifying, 1, memory_order_release);
    }
}

/* After commit queued a buffer (c->notifying counted): calls the gate's listener `w`
 * now (no batch) or leaves it to the batch's flush, once per listener. */
static void ch_wake(te_remote_input_channel_t *c, te_notifier_t w, te_ric_wake_batch_t *wb)
{
    if (w.fn == NULL || wb == NULL) {
        if (w.fn != NULL)
            w.fn(w.arg);
        atomic_fetch_sub_explicit(&c->notifying, 1, memory_order_release);
        return;
    }
    for (uint32_t i = 0; i < wb->n; i++)
        if (wb->e[i].wake.fn == w.fn && wb->e[i].wake.arg == w.arg) {
            /* called by that entry, whose channel keeps the listener alive */
            atomic_fetch_sub_explicit(&c->notifying, 1, memory_order_release);
            return;
        }
    if (wb->n == TE_RIC_WAKE_BATCH_MAX)
        remote_input_channel_wake_flush(wb);
    wb->e[wb->n].ch = c;
    wb->e[wb->n].wake = w;
    wb->n++;
}

te_status_t remote_input_channel_reserve_buffer(te_remote_input_channel_t *c, uint32_t sequence, int is_event,
                                                uint32_t size, te_buffer_t **out, te_error_t *err)
{
    char what[240];
    te_status_t st = TE_OK;
    pthread_mutex_lock(&c->mu);
    if (c->released || c->failed || c->ended) {
        pthread_mutex_unlock(&c->mu);
        return TE_ECANCELED;
    }
    if (c->reserved != NULL) {
        st = te_error_set(err, TE_ESTATE, "a buffer on %s began before the previous one was complete",
                          ch_what(c, what, sizeof(what)));
        goto cleanup;
    }
    if (sequence != c->expected_seq) {
        st = te_error_set(err, TE_EPROTO, "buffer out of order on %s: expected sequence number %u, got %u",
                          ch_what(c, what, sizeof(what)), c->expected_seq, sequence);
        goto cleanup;
    }
    te_buffer_t *b;
    if (is_event) {
        if (size != TE_EVENT_ENCODED_LEN) {
            st = te_error_set(err, TE_EPROTO, "event of %u bytes on %s (events have %d)", size,
                              ch_what(c, what, sizeof(what)), TE_EVENT_ENCODED_LEN);
            goto cleanup;
        }
        b = buffer_new_unpooled(size);
        if (b == NULL) {
            st = te_error_set(err, TE_ENOMEM, "out of memory receiving an event on %s",
                              ch_what(c, what, sizeof(what)));
            goto cleanup;
        }
        b->type = TE_BUFFER_EVENT;
    } else {
        b = c->free_list;
        if (b == NULL) {
            st = te_error_set(err, TE_EPROTO, "the producer sent a data buffer without credit on %s%s",
                              ch_what(c, what, sizeof(what)),
                              c->rb->bpc > 0 ? ""
                                             : " (a floating-only channel: a producer that does not support "
                                               "them ignores their PartitionRequest's floating flag; upgrade "
                                               "it, or give this gate exclusive buffers)");
            goto cleanup;
        }
        if (size > b->capacity) {
            st = te_error_set(err, TE_EPROTO,
                              "a buffer of %u bytes on %s does not fit this daemon's %u-byte "
                              "segments (use the same 'taskmanager.memory.segment-size' on every daemon)",
                              size, ch_what(c, what, sizeof(what)), b->capacity);
            goto cleanup;
        }
        c->free_list = b->next_free;
        b->next_free = NULL;
        c->n_free--;
    }
    c->reserved = b;
    c->reserved_size = size;
    pthread_mutex_unlock(&c->mu);
    *out = b;
    return TE_OK;
cleanup:
    fail_locked(c, err ? err->msg : "protocol error");
    pthread_mutex_unlock(&c->mu);
    return st;
}

te_status_t remote_input_channel_commit_buffer(te_remote_input_channel_t *c, te_buffer_t *b, uint32_t backlog,
                                               te_ric_wake_batch_t *wb, te_error_t *err)
{
    char what[240];
    te_status_t st = TE_OK;
    pthread_mutex_lock(&c->mu);
    uint32_t size = c->reserved_size;
    int is_event = b->type == TE_BUFFER_EVENT;
    c->reserved = NULL;
    if (c->released || c->failed || c->ended) {
        pthread_mutex_unlock(&c->mu);
        buffer_recycle(b); /* released while the payload arrived: nobody polls it */
        return TE_ECANCELED;
    }
    atomic_store_explicit(&b->committed, size, memory_order_relaxed);
    atomic_store_explicit(&b->finished, 1, memory_order_relaxed);
    te_buffer_slice_t s = {b, 0, size, is_event ? TE_BUFFER_EVENT : TE_BUFFER_DATA};
    int prio = is_event && b->data[0] == TE_EVENT_WIRE_UNALIGNED_BARRIER;
    if ((prio ? q_push_priority_locked(c, s) : q_push_locked(c, s)) != 0) {
        /* Cannot happen for data beyond the ring's growth; give the buffer back. */
        if (is_event) {
            buffer_recycle(b);
        } else {
            b->next_free = c->free_list;
            c->free_list = b;
            c->n_free++;
        }
        st = te_error_set(err, TE_ENOMEM, "out of memory queueing a buffer on %s", ch_what(c, what, sizeof(what)));
        goto cleanup;
    }
    c->expected_seq++;
    te_buffer_t *give_back = NULL;
    if (is_event && size == TE_EVENT_ENCODED_LEN && b->data[0] == TE_EVENT_END_OF_PARTITION) {
        /* Nothing follows; later failures (connection closed) do not count. Credit the
         * producer did not use (announced backlog it sent fewer buffers for, or one
         * ahead) goes back to the gate: an ended channel kept it until the task ended,
         * and a floating-only gate whose ended channels held its last buffers starved
         * the channels still running. */
        c->ended = 1;
        give_back = ch_take_free_locked(c);
    } else if (is_event && c->rb->bpc == 0 && b->data[0] == TE_EVENT_CHECKPOINT_BARRIER) {
        /* Floating-only, aligned barrier: the producer sends nothing more until resume,
         * and the credited buffers go back to the gate for the other channels'
         * barriers; the credit they stood for is void (proto/NETWORK.md). */
        c->at_barrier = 1;
        give_back = ch_take_free_locked(c);
        c->backlog = 0;
    } else {
        c->backlog = backlog;
    }
    /* The gate is told after mu is released: the task it wakes polls at once, and
     * must not find mu held by this (preempted) thread. release waits for it. A
     * priority event is announced as such (the task takes it between records). */
    int notify = prio || c->qcount == 1;
    if (notify)
        atomic_fetch_add_explicit(&c->notifying, 1, memory_order_relaxed);
    if (!c->ended)
        ch_ensure_buffers_locked(c);
    pthread_mutex_unlock(&c->mu);
    ch_recycle_list(give_back);
    if (notify)
        ch_wake(c, input_gate_enqueue_channel(c->gate, c->index, prio), wb);
    return TE_OK;
cleanup:
    fail_locked(c, err ? err->msg : "protocol error");
    pthread_mutex_unlock(&c->mu);
    return st;
}

void remote_input_channel_abort_buffer(te_remote_input_channel_t *c, te_buffer_t *b)
{
    pthread_mutex_lock(&c->mu);
    c->reserved = NULL;
    int keep = b->type == TE_BUFFER_DATA && !(c->released || c->failed || c->ended);
    if (keep) { /* free again: the next BufferResponse may use it */
        b->next_free = c->free_list;
        c->free_list = b;
        c->n_free++;
    }
    pthread_mutex_unlock(&c->mu);
    if (!keep)
        buffer_recycle(b);
}

te_status_t remote_input_channel_on_buffer(te_remote_input_channel_t *c, uint32_t sequence, uint32_t backlog,
                                           int is_event, uint32_t size,
                                           void (*copy)(void *arg, uint8_t *dst, uint32_t size), void *arg,
                                           te_error_t *err)
{
    te_buffer_t *b;
    te_status_t st = remote_input_channel_reserve_buffer(c, sequence, is_event, size, &b, err);
    if (st != TE_OK)
        return st;
    copy(arg, b->data, size);
    return remote_input_channel_commit_buffer(c, b, backlog, NULL, err);
}

void remote_input_channel_on_backlog(te_remote_input_channel_t *c, uint32_t backlog)
{
    pthread_mutex_lock(&c->mu);
    if (c->at_barrier) { /* announced before the barrier: void */
        pthread_mutex_unlock(&c->mu);
        return;
    }
    c->backlog = backlog;
    ch_ensure_buffers_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* ---- gate ops (task thread) ---- */

static te_status_t ric_request(void *ch, te_error_t *err)
{
    te_remote_input_channel_t *c = ch;
    pthread_mutex_lock(&c->mu);
    if (c->requested) {
        pthread_mutex_unlock(&c->mu);
        return TE_OK;
    }
    ch_ensure_buffers_locked(c); /* exclusive buffers: the initial credit */
    c->requested = 1;
    pthread_mutex_unlock(&c->mu);
    te_status_t st = c->tr->request(c->tr->ctx, c, err);
    if (st != TE_OK) {
        pthread_mutex_lock(&c->mu);
        c->requested = 0;
        pthread_mutex_unlock(&c->mu);
    }
    return st;
}

static int ric_poll_impl(te_remote_input_channel_t *c, te_buffer_slice_t *out, int priority_only)
{
    pthread_mutex_lock(&c->mu);
    if (c->failed || c->qcount == 0 || (priority_only && c->q_prio == 0)) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    if (c->q_prio > 0)
        c->q_prio--;
    *out = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qcount--;
    if (out->type == TE_BUFFER_DATA) {
        c->q_data--;
        c->q_bytes -= out->len;
        atomic_fetch_sub_explicit(&c->rb->queued_bytes, out->len, memory_order_relaxed);
    }
    ch_ensure_buffers_locked(c);
    pthread_mutex_unlock(&c->mu);
    return 1;
}

static int ric_poll(void *ch, te_buffer_slice_t *out) { return ric_poll_impl(ch, out, 0); }
static int ric_poll_priority(void *ch, te_buffer_slice_t *out) { return ric_poll_impl(ch, out, 1); }

static size_t ric_take_overtaken(void *ch, uint64_t id, te_buffer_slice_t **out)
{
    te_remote_input_channel_t *c = ch;
    struct overtaken *stale = NULL, *found = NULL;
    pthread_mutex_lock(&c->mu);
    struct overtaken **pp = &c->overtaken;
    while (*pp != NULL && found == NULL) {
        struct overtaken *o = *pp;
        if (o->id > id)
            break;
        *pp = o->next;
        o->next = NULL;
        if (o->id == id) {
            found = o;
        } else { /* an older barrier's, never taken: its checkpoint ended */
            o->next = stale;
            stale = o;
        }
    }
    pthread_mutex_unlock(&c->mu);
    overtaken_free(stale);
    *out = NULL;
    if (found == NULL)
        return 0;
    size_t n = found->n;
    *out = found->s;
    free(found);
    return n;
}

static int ric_failure(void *ch, char *cause, size_t len)
{
    te_remote_input_channel_t *c = ch;
    pthread_mutex_lock(&c->mu);
    int f = c->failed;
    if (f)
        snprintf(cause, len, "%s", c->cause);
    pthread_mutex_unlock(&c->mu);
    return f;
}

static int ric_has_data(void *ch)
{
    te_remote_input_channel_t *c = ch;
    pthread_mutex_lock(&c->mu);
    int has = c->qcount > 0;
    pthread_mutex_unlock(&c->mu);
    return has;
}

/* Gate op: the alignment of the channel's aligned barrier ended (floating-only: credit
 * comes back; the producer is told first, so that it voids the old credit before any
 * new one arrives). */
static void ric_resume(void *ch)
{
    te_remote_input_channel_t *c = ch;
    pthread_mutex_lock(&c->mu);
    int was = c->at_barrier;
    c->at_barrier = 0;
    int requested = c->requested;
    pthread_mutex_unlock(&c->mu);
    if (!was)
        return;
    if (requested && c->tr->resume != NULL)
        c->tr->resume(c->tr->ctx, c);
    pthread_mutex_lock(&c->mu);
    ch_ensure_buffers_locked(c);
    pthread_mutex_unlock(&c->mu);
}

/* Gate op (task thread): buffer debloating's size; sent now if the request is out,
 * else with it (the transport reads it after the PartitionRequest). */
static void ric_set_buffer_size(void *ch, uint32_t size)
{
    te_remote_input_channel_t *c = ch;
    if (atomic_exchange_explicit(&c->buffer_size, size, memory_order_relaxed) == size)
        return;
    pthread_mutex_lock(&c->mu);
    int live = c->requested && !c->released && !c->ended && !c->failed;
    pthread_mutex_unlock(&c->mu);
    if (live && c->tr->buffer_size != NULL)
        c->tr->buffer_size(c->tr->ctx, c);
}

uint32_t remote_input_channel_buffer_size(const te_remote_input_channel_t *c)
{
    return atomic_load_explicit(&((te_remote_input_channel_t *)c)->buffer_size, memory_order_relaxed);
}

static void ric_release(void *ch)
{
    te_remote_input_channel_t *c = ch;
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->mu);
    c->released = 1;
    te_buffer_t *free_list = ch_take_free_locked(c);
    uint32_t n = c->qcount, head = c->qhead, cap = c->qcap;
    te_buffer_slice_t *q = c->q;
    c->q = NULL;
    c->qcount = c->qcap = c->qhead = c->q_data = c->q_prio = 0;
    atomic_fetch_sub_explicit(&c->rb->queued_bytes, c->q_bytes, memory_order_relaxed);
    c->q_bytes = 0;
    struct overtaken *ovt = c->overtaken;
    c->overtaken = NULL;
    int requested = c->requested;
    pthread_mutex_unlock(&c->mu);
    while (atomic_load_explicit(&c->notifying, memory_order_acquire) > 0)
        sched_yield(); /* a commit_buffer is telling the gate: no callback after release */
    ch_recycle_list(free_list);
    for (uint32_t i = 0; i < n; i++)
        buffer_recycle(q[(head + i) % cap].buf);
    free(q);
    overtaken_free(ovt);
    if (requested)
        c->tr->release(c->tr->ctx, c);
    remote_input_channel_unref(c);
}

const te_input_channel_ops_t remote_input_channel_ops = {
    .request = ric_request,
    .poll = ric_poll,
    .failure = ric_failure,
    .release = ric_release,
    .poll_priority = ric_poll_priority,
    .take_overtaken = ric_take_overtaken,
    .has_data = ric_has_data,
    .resume = ric_resume,
    .set_buffer_size = ric_set_buffer_size,
};

int remote_input_channel_is_floating(const te_remote_input_channel_t *c) { return c->floating; }

void remote_buffers_stats(te_remote_buffers_t *rb, te_gate_buffer_stats_t *out)
{
    uint32_t in_use = local_buffer_pool_in_use(rb->pool);
    uint32_t reserved = rb->bpc > 0 ? local_buffer_pool_min_required(rb->pool) : 0;
    out->floating_only = rb->bpc == 0;
    out->exclusive_in_use = in_use < reserved ? in_use : reserved;
    out->floating_in_use = in_use - out->exclusive_in_use;
    out->in_flight_bytes = atomic_load_explicit(&rb->queued_bytes, memory_order_relaxed);
}
