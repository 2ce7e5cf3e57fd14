/*
 * input_gate — a SingleInputGate: input channels (local or external/remote), a FIFO
 * of channels that may have data (each queued at most once), and the gate's
 * persistent listener, fired when that FIFO goes from empty to non-empty.
 *
 * poll_next pops a channel, (re)requests its partition when a request is pending,
 * polls one buffer or event from it and re-queues it (silently: the task is polling
 * already) so it is polled again until it has nothing. Every other path that queues a
 * channel calls the listener when the FIFO goes from empty to non-empty — also
 * input_gate_resume_channels, which runs on the task thread but possibly from a mail
 * while the default action is suspended (an alignment aborted by the coordinator):
 * the task sleeps once poll_next said NOTHING, so whatever makes the gate available
 * again must wake it. EndOfPartition is consumed
 * here. A channel whose request keeps failing with EAGAIN past the deadline fails the
 * gate with "PartitionNotFound: ...".
 *
 * Threading: new/set_*_channel/request_partitions/poll_next/close/free on the
 * consuming task thread. input_gate_notify_channel_available from any thread (producer
 * threads, net thread, the registering thread): it takes only `mu`, which guards the
 * FIFO, the queued flags, `closed` and the listener. The listener runs without locks.
 * close releases channels without holding `mu` (their release waits for callbacks in
 * progress, which take `mu`), so after close no callback touches the gate.
 */
#include "shuffle/input_gate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/hot_mutex.h"
#include "common/log.h"
#include "shuffle/buffer_debloater.h"

struct gate_channel {
    const te_input_channel_ops_t *ops;
    void *impl;
    int finished;
    int pending;        /* request returned EAGAIN: retry when notified, fail after the deadline */
    uint8_t queued;     /* guarded by mu */
    uint8_t blocked;    /* checkpoint alignment: not polled until input_gate_resume_channels */
    uint8_t resume_due; /* an aligned barrier was polled from it: ops->resume once not blocked */
    uint32_t prio;      /* priority events announced, not yet polled (guarded by mu) */
};

struct te_input_gate {
    char owner[128];
    uint32_t index;
    uint32_t n;
    te_local_buffer_pool_t *pool;
    struct gate_channel *ch;

    pthread_mutex_t mu;
    uint32_t *fifo; /* capacity n */
    uint32_t head, count;
    int closed;
    te_notifier_t listener;
    te_notifier_t poll_hook; /* task thread only */

    uint32_t n_finished;
    uint32_t n_resume_due; /* channels with resume_due (task thread) */
    int failed;
    char failure[TE_ERROR_MSG_MAX];
    int64_t timeout_ms;
    int64_t deadline_ms;     /* of pending requests, -1 = none */
    uint32_t n_pending;      /* channels with pending = 1 */
    _Atomic uint32_t n_prio; /* sum of the channels' prio */
    _Atomic uint64_t bytes_in;
    te_buffer_debloater_t *debloat; /* buffer debloating, NULL = off (task thread) */
};

te_input_gate_t *input_gate_new(const char *owner, uint32_t gate_index, uint32_t n_channels,
                                te_local_buffer_pool_t *pool, te_error_t *err)
{
    te_status_t st = TE_ENOMEM; /* what a failure is unless it says otherwise */
    te_input_gate_t *g = NULL;
    if (n_channels == 0) {
        st = te_error_set(err, TE_EINVAL, "input gate %u of %s needs at least one channel", gate_index,
                          owner ? owner : "?");
        goto cleanup;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto cleanup;
    g->ch = calloc(n_channels, sizeof(*g->ch));
    g->fifo = calloc(n_channels, sizeof(*g->fifo));
    if (g->ch == NULL || g->fifo == NULL)
        goto cleanup;
    snprintf(g->owner, sizeof(g->owner), "%s", owner ? owner : "?");
    g->index = gate_index;
    g->n = n_channels;
    g->pool = pool;
    g->deadline_ms = -1;
    atomic_init(&g->bytes_in, 0);
    te_hot_mutex_init(&g->mu);
    return g;

cleanup:
    if (st == TE_ENOMEM)
        te_error_set(err, TE_ENOMEM, "out of memory creating input gate %u of %s", gate_index,
                     owner ? owner : "?");
    if (g != NULL) {
        free(g->ch);
        free(g->fifo);
        free(g);
    }
    local_buffer_pool_destroy(pool);
    return NULL;
}

void input_gate_free(te_input_gate_t *g)
{
    if (g == NULL)
        return;
    input_gate_close(g);
    local_buffer_pool_destroy(g->pool);
    pthread_mutex_destroy(&g->mu);
    free(g->ch);
    free(g->fifo);
    free(g->debloat);
    free(g);
}

te_status_t input_gate_set_channel(te_input_gate_t *g, uint32_t ch, const te_input_channel_ops_t *ops, void *impl,
                                   te_error_t *err)
{
    if (ch >= g->n || ops == NULL)
        return te_error_set(err, TE_EINVAL, "input gate %u of %s has %u channels; channel %u is invalid", g->index,
                            g->owner, g->n, ch);
    if (g->ch[ch].ops != NULL)
        return te_error_set(err, TE_EEXIST, "channel %u of input gate %u of %s is set already", ch, g->index,
                            g->owner);
    g->ch[ch].ops = ops;
    g->ch[ch].impl = impl;
    return TE_OK;
}

/* Queues `ch` (at most once). Returns the listener to call, if the FIFO was empty. */
static te_notifier_t gate_enqueue_locked(te_input_gate_t *g, uint32_t ch)
{
    te_notifier_t none = {NULL, NULL};
    if (g->closed || g->ch[ch].queued)
        return none;
    g->ch[ch].queued = 1;
    g->fifo[(g->head + g->count) % g->n] = ch;
    g->count++;
    return g->count == 1 ? g->listener : none;
}

te_notifier_t input_gate_enqueue_channel(te_input_gate_t *g, uint32_t ch, int priority)
{
    te_notifier_t n = {NULL, NULL};
    if (ch >= g->n)
        return n;
    pthread_mutex_lock(&g->mu);
    if (!g->closed) {
        if (priority) {
            g->ch[ch].prio++;
            atomic_fetch_add_explicit(&g->n_prio, 1, memory_order_release);
        }
        n = gate_enqueue_locked(g, ch);
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

void input_gate_notify_channel_available(te_input_gate_t *g, uint32_t ch)
{
    te_notifier_t n = input_gate_enqueue_channel(g, ch, 0);
    if (n.fn != NULL)
        n.fn(n.arg);
}

void input_gate_notify_priority(te_input_gate_t *g, uint32_t ch)
{
    te_notifier_t n = input_gate_enqueue_channel(g, ch, 1);
    if (n.fn != NULL)
        n.fn(n.arg);
}

int input_gate_has_priority(te_input_gate_t *g)
{
    return atomic_load_explicit(&g->n_prio, memory_order_acquire) > 0;
}

/* Re-queues from the task thread. Returns the listener to call when the FIFO was
 * empty: poll_next ignores it (the task is polling), resume_channels calls it. */
static te_notifier_t gate_requeue(te_input_gate_t *g, uint32_t ch)
{
    pthread_mutex_lock(&g->mu);
    te_notifier_t n = gate_enqueue_locked(g, ch);
    pthread_mutex_unlock(&g->mu);
    return n;
}

static int gate_dequeue(te_input_gate_t *g, uint32_t *ch)
{
    int got = 0;
    pthread_mutex_lock(&g->mu);
    if (g->count > 0) {
        *ch = g->fifo[g->head];
        g->head = (g->head + 1) % g->n;
        g->count--;
        g->ch[*ch].queued = 0;
        got = 1;
    }
    pthread_mutex_unlock(&g->mu);
    return got;
}

void input_gate_set_listener(te_input_gate_t *g, te_notifier_t n)
{
    pthread_mutex_lock(&g->mu);
    g->listener = n;
    pthread_mutex_unlock(&g->mu);
}

void input_gate_set_poll_hook(te_input_gate_t *g, te_notifier_t n) { g->poll_hook = n; }

static te_gate_result_t gate_fail(te_input_gate_t *g, const char *fmt, const char *a, const char *b)
{
    if (!g->failed) {
        g->failed = 1;
        snprintf(g->failure, sizeof(g->failure), fmt, a, b);
        TE_WARN(g->owner, "input gate %u failed: %s", g->index, g->failure);
    }
    return TE_GATE_ERROR;
}

te_status_t input_gate_request_partitions(te_input_gate_t *g, int64_t timeout_ms, te_error_t *err)
{
    g->timeout_ms = timeout_ms;
    for (uint32_t i = 0; i < g->n; i++) {
        struct gate_channel *c = &g->ch[i];
        if (c->ops == NULL)
            return te_error_set(err, TE_ESTATE, "channel %u of input gate %u of %s was never set", i, g->index,
                                g->owner);
        if (c->finished || c->pending)
            continue;
        te_error_t e;
        te_error_clear(&e);
        te_status_t st = c->ops->request(c->impl, &e);
        if (st == TE_EAGAIN) {
            c->pending = 1;
            g->n_pending++;
            if (g->deadline_ms < 0)
                g->deadline_ms = te_clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        } else if (st != TE_OK) {
            te_error_set(err, st, "input gate %u channel %u: %s", g->index, i, e.msg);
            return st;
        }
    }
    return TE_OK;
}

int64_t input_gate_pending_deadline_ms(te_input_gate_t *g)
{
    return g->n_pending > 0 && !g->failed ? g->deadline_ms : -1;
}

static void gate_clear_pending(te_input_gate_t *g, struct gate_channel *c)
{
    c->pending = 0;
    if (--g->n_pending == 0)
        g->deadline_ms = -1;
}

/* Fails the gate when a pending request outlived the deadline. */
static int gate_check_deadline(te_input_gate_t *g)
{
    if (g->n_pending == 0 || te_clock_mono_ms() < g->deadline_ms)
        return 0;
    for (uint32_t i = 0; i < g->n; i++) {
        struct gate_channel *c = &g->ch[i];
        if (!c->pending || c->finished)
            continue;
        /* One last try: the partition may have appeared just now. */
        te_error_t e;
        te_error_clear(&e);
        te_status_t st = c->ops->request(c->impl, &e);
        if (st == TE_OK) {
            gate_clear_pending(g, c);
            continue;
        }
        char what[96];
        if (c->ops->describe == NULL || c->ops->describe(c->impl, what, sizeof(what)) == 0)
            snprintf(what, sizeof(what), "channel %u", i);
        char ms[32];
        snprintf(ms, sizeof(ms), "%lld", (long long)g->timeout_ms);
        gate_fail(g, "PartitionNotFound: %s was not registered within %s ms", what, ms);
        return 1;
    }
    return 0;
}

/* An event slice polled from channel i: EndOfPartition finishes the channel (NOTHING),
 * others are returned (EVENT) and the channel re-queued. */
static te_gate_result_t gate_take_event(te_input_gate_t *g, uint32_t i, te_buffer_slice_t *s,
                                        te_gate_element_t *out)
{
    te_event_t ev;
    memset(&ev, 0, sizeof(ev));
    int bad = task_event_decode(s->buf->data + s->offset, s->len, &ev) != 0;
    buffer_recycle(s->buf);
    if (bad)
        return gate_fail(g, "%s%s", "corrupt event buffer on an input channel", "");
    if (ev.type == TE_EVENT_END_OF_PARTITION) {
        g->ch[i].finished = 1;
        g->n_finished++;
        return TE_GATE_NOTHING;
    }
    if (ev.type == TE_EVENT_CHECKPOINT_BARRIER && g->ch[i].ops->resume != NULL && !g->ch[i].resume_due) {
        g->ch[i].resume_due = 1;
        g->n_resume_due++;
    }
    (void)gate_requeue(g, i); /* the task is polling */
    out->channel = i;
    out->event = ev;
    memset(&out->slice, 0, sizeof(out->slice));
    return TE_GATE_EVENT;
}

te_gate_result_t input_gate_poll_priority(te_input_gate_t *g, te_gate_element_t *out)
{
    if (g->failed || g->closed)
        return TE_GATE_NOTHING;
    for (uint32_t i = 0; i < g->n && atomic_load_explicit(&g->n_prio, memory_order_acquire) > 0; i++) {
        pthread_mutex_lock(&g->mu);
        int has = g->ch[i].prio > 0;
        if (has) {
            g->ch[i].prio--;
            atomic_fetch_sub_explicit(&g->n_prio, 1, memory_order_release);
        }
        pthread_mutex_unlock(&g->mu);
        struct gate_channel *c = &g->ch[i];
        if (!has || c->finished || c->ops == NULL || c->ops->poll_priority == NULL || c->pending)
            continue;
        te_buffer_slice_t s;
        if (!c->ops->poll_priority(c->impl, &s))
            continue; /* taken through poll_next already: the announcement was stale */
        te_gate_result_t r = gate_take_event(g, i, &s, out);
        if (r != TE_GATE_NOTHING)
            return r;
    }
    return TE_GATE_NOTHING;
}

size_t input_gate_take_overtaken(te_input_gate_t *g, uint32_t ch, uint64_t id, te_buffer_slice_t **out)
{
    *out = NULL;
    if (ch >= g->n || g->ch[ch].ops == NULL || g->ch[ch].ops->take_overtaken == NULL || g->ch[ch].impl == NULL)
        return 0;
    return g->ch[ch].ops->take_overtaken(g->ch[ch].impl, id, out);
}

/* The channels an aligned barrier was polled from and that the task did not block for
 * it (or no longer blocks) get their ops->resume. */
static void gate_resume_due(te_input_gate_t *g)
{
    for (uint32_t i = 0; i < g->n && g->n_resume_due > 0; i++) {
        struct gate_channel *c = &g->ch[i];
        if (!c->resume_due || c->blocked)
            continue;
        c->resume_due = 0;
        g->n_resume_due--;
        if (c->impl != NULL && !c->finished)
            c->ops->resume(c->impl);
    }
}

void input_gate_enable_debloating(te_input_gate_t *g, int64_t target_ms, uint32_t segment_size)
{
    if (g->debloat == NULL && (g->debloat = malloc(sizeof(*g->debloat))) != NULL)
        buffer_debloater_init(g->debloat, target_ms, segment_size);
}

uint32_t input_gate_buffer_size(const te_input_gate_t *g)
{
    return g->debloat != NULL ? buffer_debloater_size(g->debloat) : 0;
}

/* Buffer debloating, once a period: a new size goes to every channel's producer. The
 * buffers in use are the gate pool's and those queued for its local channels. */
static void gate_debloat(te_input_gate_t *g)
{
    int64_t now = te_clock_mono_ns();
    if (!buffer_debloater_due(g->debloat, now))
        return;
    uint32_t in_use = g->pool != NULL ? local_buffer_pool_in_use(g->pool) : 0;
    for (uint32_t i = 0; i < g->n; i++)
        if (g->ch[i].impl != NULL && !g->ch[i].finished && g->ch[i].ops->buffers_in_use != NULL)
            in_use += g->ch[i].ops->buffers_in_use(g->ch[i].impl);
    uint32_t size = buffer_debloater_update(
        g->debloat, now, atomic_load_explicit(&g->bytes_in, memory_order_relaxed), in_use > 0 ? in_use : g->n);
    for (uint32_t i = 0; size > 0 && i < g->n; i++)
        if (g->ch[i].impl != NULL && !g->ch[i].finished && g->ch[i].ops->set_buffer_size != NULL)
            g->ch[i].ops->set_buffer_size(g->ch[i].impl, size);
}

te_gate_result_t input_gate_poll_next(te_input_gate_t *g, te_gate_element_t *out)
{
    if (g->failed)
        return TE_GATE_ERROR;
    if (g->closed)
        return gate_fail(g, "%s%s", "input gate closed", "");
    if (gate_check_deadline(g))
        return TE_GATE_ERROR;
    if (g->n_resume_due > 0)
        gate_resume_due(g);
    if (g->debloat != NULL)
        gate_debloat(g);
    if (g->poll_hook.fn != NULL)
        g->poll_hook.fn(g->poll_hook.arg);
    uint32_t i;
    while (gate_dequeue(g, &i)) {
        struct gate_channel *c = &g->ch[i];
        if (c->finished || c->ops == NULL || c->blocked)
            continue; /* a blocked channel keeps its data; resume re-queues it */
        if (c->pending) {
            te_error_t e;
            te_error_clear(&e);
            te_status_t st = c->ops->request(c->impl, &e);
            if (st == TE_EAGAIN)
                continue;
            if (st != TE_OK)
                return gate_fail(g, "%s%s", e.msg, "");
            gate_clear_pending(g, c);
        }
        te_buffer_slice_t s;
        if (!c->ops->poll(c->impl, &s)) {
            char cause[TE_ERROR_MSG_MAX];
            if (c->ops->failure(c->impl, cause, sizeof(cause)))
                return gate_fail(g, "%s%s", cause, "");
            continue;
        }
        if (s.type == TE_BUFFER_EVENT) {
            te_gate_result_t r = gate_take_event(g, i, &s, out);
            if (r == TE_GATE_NOTHING)
                continue;
            return r;
        }
        atomic_store_explicit(&g->bytes_in, atomic_load_explicit(&g->bytes_in, memory_order_relaxed) + s.len,
                              memory_order_relaxed);
        (void)gate_requeue(g, i); /* the task is polling */
        out->channel = i;
        out->slice = s;
        return TE_GATE_BUFFER;
    }
    if (g->n_finished == g->n)
        return TE_GATE_END;
    if (g->poll_hook.fn != NULL)
        g->poll_hook.fn(g->poll_hook.arg); /* buffers recycled during this poll */
    return TE_GATE_NOTHING;
}

const char *input_gate_failure(te_input_gate_t *g) { return g->failed ? g->failure : ""; }

void input_gate_block_channel(te_input_gate_t *g, uint32_t ch)
{
    if (ch < g->n)
        g->ch[ch].blocked = 1;
}

void input_gate_resume_channels(te_input_gate_t *g)
{
    te_notifier_t wake = {NULL, NULL};
    for (uint32_t i = 0; i < g->n; i++) {
        if (!g->ch[i].blocked)
            continue;
        g->ch[i].blocked = 0;
        if (g->ch[i].resume_due) {
            g->ch[i].resume_due = 0;
            g->n_resume_due--;
            g->ch[i].ops->resume(g->ch[i].impl);
        }
        te_notifier_t n = gate_requeue(g, i); /* it may have data queued meanwhile: poll it again */
        if (n.fn != NULL)
            wake = n;
    }
    /* The caller may be a mail (an aborted alignment) while the default action is
     * suspended: nothing else would wake it to poll the re-queued channels. */
    if (wake.fn != NULL)
        wake.fn(wake.arg);
}

uint32_t input_gate_num_queued(te_input_gate_t *g)
{
    uint32_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (uint32_t i = 0; !g->closed && i < g->count; i++) {
        const struct gate_channel *c = &g->ch[g->fifo[(g->head + i) % g->n]];
        n += !c->blocked && !c->finished; /* a blocked channel's data waits for the alignment */
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

uint32_t input_gate_num_blocked_with_data(te_input_gate_t *g)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        struct gate_channel *c = &g->ch[i];
        if (c->blocked && c->impl != NULL && c->ops->has_data != NULL && c->ops->has_data(c->impl))
            n++;
    }
    return n;
}

int input_gate_channel_finished(const te_input_gate_t *g, uint32_t ch) { return ch < g->n && g->ch[ch].finished; }
uint32_t input_gate_num_finished(const te_input_gate_t *g) { return g->n_finished; }

void input_gate_close(te_input_gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    int was_closed = g->closed;
    g->closed = 1;
    g->count = 0;
    for (uint32_t i = 0; i < g->n; i++)
        g->ch[i].queued = 0;
    pthread_mutex_unlock(&g->mu);
    if (was_closed)
        return;
    for (uint32_t i = 0; i < g->n; i++) {
        struct gate_channel *c = &g->ch[i];
        if (c->ops != NULL && c->impl != NULL)
            c->ops->release(c->impl);
        c->impl = NULL;
    }
}

uint32_t input_gate_num_channels(const te_input_gate_t *g) { return g->n; }
uint32_t input_gate_index(const te_input_gate_t *g) { return g->index; }

double input_gate_pool_usage(te_input_gate_t *g) { return g->pool ? local_buffer_pool_usage(g->pool) : 0.0; }

uint64_t input_gate_bytes_in(const te_input_gate_t *g)
{
    return atomic_load_explicit(&((te_input_gate_t *)g)->bytes_in, memory_order_relaxed);
}
