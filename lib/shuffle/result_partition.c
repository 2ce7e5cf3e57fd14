/*
 * result_partition — a PIPELINED ResultPartition: N pipelined subpartitions sharing one
 * local buffer pool, plus the reader views (see pipelined_subpartition.c for the queue).
 *
 * Lifetime: refcounted (producer task, partition manager, each view). The last unref
 * recycles queued buffers and destroys the pool (buffers still held by readers return
 * to the arena when recycled).
 *
 * Threading: producer calls (add_buffer, buffer_finished, add/broadcast_event, finish)
 * on the producing task thread; flush from it or the output flusher; views from the
 * reader's thread; release from any thread. `mu` guards only the release cause and the
 * released flag; it is never held while a subpartition lock is taken. Listeners run
 * with no lock held.
 */
#include "shuffle/result_partition.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "shuffle/pipelined_subpartition.h"

#define RP_CAUSE_MAX 512

struct te_result_partition {
    te_id_t id;
    char owner[128];
    uint32_t n;
    te_pipelined_subpartition_t **subs;
    _Atomic uint32_t *buffer_size; /* per subpartition: its reader's debloated size, 0 = a segment */
    te_local_buffer_pool_t *pool;
    _Atomic int refcnt;
    _Atomic int released;
    int finished;
    pthread_mutex_t mu;
    char cause[RP_CAUSE_MAX];
};

struct te_subpartition_view {
    te_result_partition_t *rp;
    uint32_t sub;
};

te_result_partition_t *result_partition_new(const te_id_t *partition_id, const char *owner,
                                            uint32_t n_subpartitions, te_local_buffer_pool_t *pool,
                                            te_error_t *err)
{
    te_status_t st = TE_ENOMEM; /* what a failure is unless it says otherwise */
    te_result_partition_t *rp = NULL;
    if (n_subpartitions == 0 || pool == NULL) {
        st = te_error_set(err, TE_EINVAL,
                          "result partition of %s needs at least one subpartition and a buffer pool",
                          owner ? owner : "?");
        goto cleanup;
    }
    rp = calloc(1, sizeof(*rp));
    if (rp == NULL)
        goto cleanup;
    rp->subs = calloc(n_subpartitions, sizeof(*rp->subs));
    rp->buffer_size = calloc(n_subpartitions, sizeof(*rp->buffer_size));
    if (rp->subs == NULL || rp->buffer_size == NULL)
        goto cleanup;
    for (uint32_t i = 0; i < n_subpartitions; i++) {
        rp->subs[i] = pipelined_subpartition_new();
        if (rp->subs[i] == NULL)
            goto cleanup;
    }
    rp->id = *partition_id;
    snprintf(rp->owner, sizeof(rp->owner), "%s", owner ? owner : "?");
    rp->n = n_subpartitions;
    rp->pool = pool;
    atomic_init(&rp->refcnt, 1);
    atomic_init(&rp->released, 0);
    pthread_mutex_init(&rp->mu, NULL);
    return rp;

cleanup:
    if (st == TE_ENOMEM)
        te_error_set(err, TE_ENOMEM, "out of memory creating the result partition of %s", owner ? owner : "?");
    if (rp != NULL) {
        if (rp->subs != NULL)
            for (uint32_t i = 0; i < n_subpartitions; i++)
                pipelined_subpartition_free(rp->subs[i]);
        free(rp->subs);
        free(rp->buffer_size);
        free(rp);
    }
    local_buffer_pool_destroy(pool);
    return NULL;
}

void result_partition_retain(te_result_partition_t *rp)
{
    atomic_fetch_add_explicit(&rp->refcnt, 1, memory_order_relaxed);
}

void result_partition_unref(te_result_partition_t *rp)
{
    if (rp == NULL || atomic_fetch_sub_explicit(&rp->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    for (uint32_t i = 0; i < rp->n; i++)
        pipelined_subpartition_free(rp->subs[i]);
    free(rp->subs);
    free(rp->buffer_size);
    local_buffer_pool_destroy(rp->pool);
    pthread_mutex_destroy(&rp->mu);
    free(rp);
}

const te_id_t *result_partition_id(const te_result_partition_t *rp) { return &rp->id; }
uint32_t result_partition_num_subpartitions(const te_result_partition_t *rp) { return rp->n; }
te_local_buffer_pool_t *result_partition_pool(te_result_partition_t *rp) { return rp->pool; }

void result_partition_add_buffer(te_result_partition_t *rp, uint32_t sub, te_buffer_t *b)
{
    if (sub >= rp->n) {
        buffer_recycle(b);
        return;
    }
    pipelined_subpartition_add(rp->subs[sub], b);
}

void result_partition_buffer_finished(te_result_partition_t *rp, uint32_t sub)
{
    if (sub < rp->n)
        pipelined_subpartition_buffer_finished(rp->subs[sub]);
}

void result_partition_flush(te_result_partition_t *rp, uint32_t sub)
{
    if (sub < rp->n)
        pipelined_subpartition_flush(rp->subs[sub]);
}

void result_partition_flush_all(te_result_partition_t *rp)
{
    for (uint32_t i = 0; i < rp->n; i++)
        pipelined_subpartition_flush(rp->subs[i]);
}

void result_partition_set_deferred_notify(te_result_partition_t *rp, int on)
{
    for (uint32_t i = 0; i < rp->n; i++)
        pipelined_subpartition_set_deferred_notify(rp->subs[i], on);
}

void result_partition_announce_all(te_result_partition_t *rp)
{
    for (uint32_t i = 0; i < rp->n; i++)
        pipelined_subpartition_announce(rp->subs[i]);
}

/* An EVENT buffer: from the pool when one is free now, else a side allocation. */
static te_buffer_t *rp_event_buffer(te_result_partition_t *rp, const te_event_t *ev)
{
    te_buffer_t *b = local_buffer_pool_request(rp->pool);
    if (b == NULL || b->capacity < TE_EVENT_ENCODED_LEN) {
        buffer_recycle(b);
        b = buffer_new_unpooled(TE_EVENT_ENCODED_LEN);
        if (b == NULL)
            return NULL;
    }
    task_event_encode(ev, b->data);
    b->type = TE_BUFFER_EVENT;
    atomic_store_explicit(&b->committed, TE_EVENT_ENCODED_LEN, memory_order_relaxed);
    atomic_store_explicit(&b->finished, 1, memory_order_release);
    return b;
}

te_status_t result_partition_add_event(te_result_partition_t *rp, uint32_t sub, const te_event_t *ev)
{
    if (sub >= rp->n)
        return TE_EINVAL;
    if (atomic_load_explicit(&rp->released, memory_order_acquire))
        return TE_ECANCELED;
    te_buffer_t *b = rp_event_buffer(rp, ev);
    if (b == NULL)
        return TE_ENOMEM;
    pipelined_subpartition_add(rp->subs[sub], b);
    return TE_OK;
}

te_status_t result_partition_broadcast_event(te_result_partition_t *rp, const te_event_t *ev)
{
    for (uint32_t i = 0; i < rp->n; i++) {
        te_status_t st = result_partition_add_event(rp, i, ev);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}

typedef struct rp_capture {
    te_partition_capture_fn fn;
    void *arg;
    uint32_t sub;
} rp_capture_t;

static void rp_capture_run(void *arg, const uint8_t *data, uint32_t len)
{
    rp_capture_t *c = arg;
    c->fn(c->arg, c->sub, data, len);
}

te_status_t result_partition_broadcast_priority_event(te_result_partition_t *rp, const te_event_t *ev,
                                                      te_partition_capture_fn capture, void *arg)
{
    if (atomic_load_explicit(&rp->released, memory_order_acquire))
        return TE_ECANCELED;
    for (uint32_t i = 0; i < rp->n; i++) {
        te_buffer_t *b = rp_event_buffer(rp, ev);
        if (b == NULL)
            return TE_ENOMEM;
        rp_capture_t c = {capture, arg, i};
        pipelined_subpartition_add_priority(rp->subs[i], b, capture ? rp_capture_run : NULL, &c);
    }
    return TE_OK;
}

te_status_t result_partition_finish(te_result_partition_t *rp)
{
    if (rp->finished)
        return TE_ESTATE;
    te_event_t eop = {.type = TE_EVENT_END_OF_PARTITION, .checkpoint_id = 0, .timestamp = 0};
    te_status_t st = result_partition_broadcast_event(rp, &eop);
    if (st == TE_OK)
        rp->finished = 1;
    return st;
}

void result_partition_release(te_result_partition_t *rp, const char *cause)
{
    pthread_mutex_lock(&rp->mu);
    if (atomic_load_explicit(&rp->released, memory_order_relaxed)) {
        pthread_mutex_unlock(&rp->mu);
        return;
    }
    snprintf(rp->cause, sizeof(rp->cause), "%s", cause ? cause : "partition released");
    atomic_store_explicit(&rp->released, 1, memory_order_release);
    pthread_mutex_unlock(&rp->mu);
    TE_DEBUG(rp->owner, "result partition %s released: %s", te_id_str(&rp->id), rp->cause);
    local_buffer_pool_cancel(rp->pool);
    for (uint32_t i = 0; i < rp->n; i++)
        pipelined_subpartition_release(rp->subs[i]);
}

int result_partition_is_released(te_result_partition_t *rp)
{
    return atomic_load_explicit(&rp->released, memory_order_acquire);
}

const _Atomic int *result_partition_released_flag(te_result_partition_t *rp) { return &rp->released; }

te_subpartition_view_t *result_partition_create_view(te_result_partition_t *rp, uint32_t sub,
                                                     te_notifier_t listener, te_error_t *err)
{
    char hex[TE_ID_HEX_LEN + 1];
    if (sub >= rp->n) {
        te_error_set(err, TE_EINVAL, "partition %s has %u subpartitions; subpartition %u does not exist",
                     te_id_to_hex(&rp->id, hex), rp->n, sub);
        return NULL;
    }
    if (result_partition_is_released(rp)) {
        te_error_set(err, TE_ESTATE, "partition %s was released: %s", te_id_to_hex(&rp->id, hex), rp->cause);
        return NULL;
    }
    te_subpartition_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if (!pipelined_subpartition_attach(rp->subs[sub], listener)) {
        free(v);
        te_error_set(err, TE_ESTATE, "subpartition %u of partition %s already has a reader or was released", sub,
                     te_id_to_hex(&rp->id, hex));
        return NULL;
    }
    result_partition_retain(rp);
    v->rp = rp;
    v->sub = sub;
    return v;
}

int subpartition_view_poll(te_subpartition_view_t *v, te_buffer_slice_t *out, uint32_t *backlog)
{
    return pipelined_subpartition_poll(v->rp->subs[v->sub], out, backlog);
}

uint32_t subpartition_view_backlog(te_subpartition_view_t *v)
{
    return pipelined_subpartition_backlog(v->rp->subs[v->sub]);
}

int subpartition_view_poll_event(te_subpartition_view_t *v, te_buffer_slice_t *out, uint32_t *backlog)
{
    return pipelined_subpartition_poll_event(v->rp->subs[v->sub], out, backlog);
}

int subpartition_view_poll_priority(te_subpartition_view_t *v, te_buffer_slice_t *out)
{
    return pipelined_subpartition_poll_priority(v->rp->subs[v->sub], out);
}

void subpartition_view_set_priority_listener(te_subpartition_view_t *v, te_notifier_t listener)
{
    pipelined_subpartition_set_priority_listener(v->rp->subs[v->sub], listener);
}

void subpartition_view_set_buffer_size(te_subpartition_view_t *v, uint32_t size)
{
    atomic_store_explicit(&v->rp->buffer_size[v->sub], size, memory_order_relaxed);
}

uint32_t result_partition_buffer_size(te_result_partition_t *rp, uint32_t sub)
{
    return atomic_load_explicit(&rp->buffer_size[sub], memory_order_relaxed);
}

int subpartition_view_is_available(te_subpartition_view_t *v)
{
    return pipelined_subpartition_is_available(v->rp->subs[v->sub]);
}

int subpartition_view_failure(te_subpartition_view_t *v, char *cause, size_t len)
{
    te_result_partition_t *rp = v->rp;
    if (!result_partition_is_released(rp))
        return 0;
    if (cause != NULL && len > 0) {
        pthread_mutex_lock(&rp->mu);
        snprintf(cause, len, "%s", rp->cause);
        pthread_mutex_unlock(&rp->mu);
    }
    return 1;
}

void subpartition_view_release(te_subpartition_view_t *v)
{
    if (v == NULL)
        return;
    pipelined_subpartition_detach(v->rp->subs[v->sub]);
    result_partition_unref(v->rp);
    free(v);
}
