/*
 * checkpoint_coordinator — pending checkpoints, acks per task, completion, declines,
 * timeouts (rules in checkpoint_coordinator.h). Pending checkpoints are kept oldest
 * first in a small array (at most max_concurrent).
 *
 * Threading: a coordinator is used by one thread; no locks.
 */
#include "jobmaster/checkpoint_coordinator.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct te_ckpt_coord {
    size_t n_tasks;
    int64_t timeout_ms;
    size_t max_concurrent;
    uint64_t next_id;
    te_ckpt_checkpoint_t **pending; /* oldest first */
    size_t n_pending;
    te_ckpt_checkpoint_t *completed; /* the last completed */
    size_t n_subsumed;
    char cause[512];
};

static void checkpoint_free(te_ckpt_checkpoint_t *cp)
{
    if (cp == NULL)
        return;
    for (size_t t = 0; t < cp->n_tasks; t++) {
        for (size_t k = 0; k < cp->tasks[t].n_handles; k++)
            checkpoint_metadata_handle_clear(&cp->tasks[t].handles[k]);
        free(cp->tasks[t].handles);
    }
    free(cp->tasks);
    free(cp);
}

te_ckpt_coord_t *checkpoint_coordinator_new(size_t n_tasks, int64_t timeout_ms, size_t max_concurrent,
                                            uint64_t first_id, te_error_t *err)
{
    if (n_tasks == 0 || timeout_ms <= 0 || max_concurrent == 0 || first_id == 0) {
        te_error_set(err, TE_EINVAL,
                     "checkpoint coordinator: need tasks > 0, timeout > 0, max concurrent > 0, first id > 0 "
                     "(got %zu, %lld, %zu, %" PRIu64 ")",
                     n_tasks, (long long)timeout_ms, max_concurrent, first_id);
        return NULL;
    }
    te_ckpt_coord_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->pending = calloc(max_concurrent, sizeof(*c->pending))) == NULL) {
        free(c);
        te_error_set(err, TE_ENOMEM, "out of memory creating the checkpoint coordinator");
        return NULL;
    }
    c->n_tasks = n_tasks;
    c->timeout_ms = timeout_ms;
    c->max_concurrent = max_concurrent;
    c->next_id = first_id;
    return c;
}

void checkpoint_coordinator_free(te_ckpt_coord_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_pending; i++)
        checkpoint_free(c->pending[i]);
    free(c->pending);
    checkpoint_free(c->completed);
    free(c);
}

uint64_t checkpoint_coordinator_trigger(te_ckpt_coord_t *c, int64_t now_ms, int64_t timestamp_ms)
{
    if (c->n_pending >= c->max_concurrent)
        return 0;
    te_ckpt_checkpoint_t *cp = calloc(1, sizeof(*cp));
    if (cp == NULL || (cp->tasks = calloc(c->n_tasks, sizeof(*cp->tasks))) == NULL) {
        free(cp);
        return 0;
    }
    cp->id = c->next_id++;
    cp->trigger_ms = now_ms;
    cp->timestamp_ms = timestamp_ms;
    cp->n_tasks = c->n_tasks;
    c->pending[c->n_pending++] = cp;
    return cp->id;
}

static long find_pending(const te_ckpt_coord_t *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_pending; i++)
        if (c->pending[i]->id == id)
            return (long)i;
    return -1;
}

/* Removes pending[i] from the array (not freed). */
static te_ckpt_checkpoint_t *pending_remove(te_ckpt_coord_t *c, size_t i)
{
    te_ckpt_checkpoint_t *cp = c->pending[i];
    memmove(&c->pending[i], &c->pending[i + 1], (c->n_pending - i - 1) * sizeof(*c->pending));
    c->n_pending--;
    return cp;
}

void checkpoint_coordinator_ack_metrics(te_ckpt_coord_t *c, uint64_t id, uint64_t alignment_ns,
                                        uint64_t inflight_bytes, uint64_t start_delay_ms)
{
    long i = find_pending(c, id);
    if (i < 0)
        return;
    te_ckpt_checkpoint_t *cp = c->pending[i];
    if (alignment_ns > cp->alignment_ns_max)
        cp->alignment_ns_max = alignment_ns;
    cp->inflight_bytes += inflight_bytes;
    if (start_delay_ms > cp->start_delay_ms_max)
        cp->start_delay_ms_max = start_delay_ms;
}

te_ckpt_event_t checkpoint_coordinator_ack(te_ckpt_coord_t *c, uint64_t id, size_t task,
                                           const te_ckpt_handle_t *handles, size_t n_handles, uint64_t state_size,
                                           int64_t now_ms)
{
    long i = find_pending(c, id);
    if (i < 0 || task >= c->n_tasks)
        return TE_CKPT_IGNORED;
    te_ckpt_checkpoint_t *cp = c->pending[i];
    te_ckpt_task_ack_t *a = &cp->tasks[task];
    if (a->acked)
        return TE_CKPT_IGNORED;
    if (n_handles > 0) {
        a->handles = calloc(n_handles, sizeof(*a->handles));
        if (a->handles == NULL)
            return TE_CKPT_IGNORED; /* out of memory: the checkpoint will time out */
        for (size_t k = 0; k < n_handles; k++) {
            if (checkpoint_metadata_handle_copy(&a->handles[k], &handles[k], NULL) != TE_OK) {
                for (size_t m = 0; m < k; m++)
                    checkpoint_metadata_handle_clear(&a->handles[m]);
                free(a->handles);
                a->handles = NULL;
                return TE_CKPT_IGNORED;
            }
        }
        a->n_handles = n_handles;
    }
    a->acked = 1;
    a->state_size = state_size;
    cp->state_size += state_size;
    cp->n_acked++;
    if (cp->n_acked < cp->n_tasks)
        return TE_CKPT_ACKED;
    cp->complete_ms = now_ms;
    pending_remove(c, (size_t)i);
    /* Every older pending checkpoint is subsumed by this one. */
    c->n_subsumed = 0;
    while (c->n_pending > 0 && c->pending[0]->id < cp->id) {
        checkpoint_free(pending_remove(c, 0));
        c->n_subsumed++;
    }
    checkpoint_free(c->completed);
    c->completed = cp;
    return TE_CKPT_COMPLETED;
}

static uint64_t abort_at(te_ckpt_coord_t *c, size_t i)
{
    te_ckpt_checkpoint_t *cp = pending_remove(c, i);
    uint64_t id = cp->id;
    checkpoint_free(cp);
    return id;
}

te_ckpt_event_t checkpoint_coordinator_decline(te_ckpt_coord_t *c, uint64_t id, size_t task, const char *cause)
{
    long i = find_pending(c, id);
    if (i < 0 || task >= c->n_tasks)
        return TE_CKPT_IGNORED;
    snprintf(c->cause, sizeof(c->cause), "declined by task %zu: %s", task,
             cause && cause[0] ? cause : "(no cause)");
    abort_at(c, (size_t)i);
    return TE_CKPT_ABORTED;
}

uint64_t checkpoint_coordinator_expire(te_ckpt_coord_t *c, int64_t now_ms)
{
    for (size_t i = 0; i < c->n_pending; i++)
        if (now_ms - c->pending[i]->trigger_ms >= c->timeout_ms) {
            snprintf(c->cause, sizeof(c->cause), "not acknowledged by %zu of %zu tasks within %lld ms",
                     c->pending[i]->n_tasks - c->pending[i]->n_acked, c->pending[i]->n_tasks,
                     (long long)c->timeout_ms);
            return abort_at(c, i);
        }
    return 0;
}

uint64_t checkpoint_coordinator_task_gone(te_ckpt_coord_t *c, size_t task)
{
    if (task >= c->n_tasks)
        return 0;
    for (size_t i = 0; i < c->n_pending; i++)
        if (!c->pending[i]->tasks[task].acked) {
            snprintf(c->cause, sizeof(c->cause), "task %zu ended before acknowledging it", task);
            return abort_at(c, i);
        }
    return 0;
}

uint64_t checkpoint_coordinator_abort_oldest(te_ckpt_coord_t *c, const char *cause)
{
    if (c->n_pending == 0)
        return 0;
    snprintf(c->cause, sizeof(c->cause), "%s", cause ? cause : "aborted");
    return abort_at(c, 0);
}

size_t checkpoint_coordinator_n_pending(const te_ckpt_coord_t *c) { return c->n_pending; }

uint64_t checkpoint_coordinator_pending_id(const te_ckpt_coord_t *c, size_t i)
{
    return i < c->n_pending ? c->pending[i]->id : 0;
}

int64_t checkpoint_coordinator_next_deadline(const te_ckpt_coord_t *c)
{
    int64_t d = -1;
    for (size_t i = 0; i < c->n_pending; i++) {
        int64_t x = c->pending[i]->trigger_ms + c->timeout_ms;
        if (d < 0 || x < d)
            d = x;
    }
    return d;
}

uint64_t checkpoint_coordinator_next_id(const te_ckpt_coord_t *c) { return c->next_id; }
const te_ckpt_checkpoint_t *checkpoint_coordinator_completed(const te_ckpt_coord_t *c) { return c->completed; }
size_t checkpoint_coordinator_n_subsumed(const te_ckpt_coord_t *c) { return c->n_subsumed; }
const char *checkpoint_coordinator_abort_cause(const te_ckpt_coord_t *c) { return c->cause; }
