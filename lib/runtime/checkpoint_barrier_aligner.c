/*
 * checkpoint_barrier_aligner — aligned and unaligned barrier handling over the flat
 * input channels of one task (see checkpoint_barrier_aligner.h).
 *
 * State: `pending` (0 = idle), `arrived[ch]` for the pending checkpoint, `finished[ch]`
 * for channels that delivered EndOfPartition, `latest` = the newest checkpoint id seen
 * (barrier, marker or abort) so stale events are ignored.
 *
 * Threading: task thread only; no locks.
 */
#include "runtime/checkpoint_barrier_aligner.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/clock.h"

struct te_barrier_aligner {
    uint32_t n;
    int unaligned;
    te_barrier_aligner_ops_t ops;
    void *arg;
    uint8_t *arrived;
    uint8_t *finished;
    uint32_t n_arrived; /* arrived and not finished */
    uint32_t n_finished;
    uint64_t pending;
    uint64_t pending_ts;
    int triggered; /* unaligned: the snapshot was taken */
    uint64_t latest;
    int64_t start_ns;
    uint64_t last_alignment_ns;
};

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

te_barrier_aligner_t *barrier_aligner_new(uint32_t n_channels, int unaligned, const te_barrier_aligner_ops_t *ops,
                                          void *arg)
{
    te_barrier_aligner_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->n = n_channels;
    a->unaligned = unaligned;
    a->ops = *ops;
    a->arg = arg;
    a->arrived = calloc(n_channels ? n_channels : 1, 1);
    a->finished = calloc(n_channels ? n_channels : 1, 1);
    if (a->arrived == NULL || a->finished == NULL) {
        barrier_aligner_free(a);
        return NULL;
    }
    return a;
}

void barrier_aligner_free(te_barrier_aligner_t *a)
{
    if (a == NULL)
        return;
    free(a->arrived);
    free(a->finished);
    free(a);
}

static void reset(te_barrier_aligner_t *a)
{
    int had_blocked = !a->unaligned && a->n_arrived > 0;
    for (uint32_t i = 0; i < a->n; i++)
        a->arrived[i] = 0;
    a->n_arrived = 0;
    a->pending = 0;
    a->triggered = 0;
    if (had_blocked && a->ops.resume_all)
        a->ops.resume_all(a->arg);
}

static void end_pending(te_barrier_aligner_t *a, const char *cause)
{
    uint64_t id = a->pending;
    if (id == 0)
        return;
    reset(a);
    if (a->ops.abort)
        a->ops.abort(a->arg, id, cause);
}

/* Every live channel delivered the pending barrier: finish. */
static te_status_t maybe_done(te_barrier_aligner_t *a, te_error_t *err)
{
    if (a->pending == 0 || a->n_arrived + a->n_finished < a->n)
        return TE_OK;
    uint64_t id = a->pending, ts = a->pending_ts;
    if (a->unaligned) {
        reset(a);
        return a->ops.complete ? a->ops.complete(a->arg, id, err) : TE_OK;
    }
    a->last_alignment_ns = (uint64_t)(now_ns() - a->start_ns);
    reset(a); /* resumes the blocked channels */
    return a->ops.trigger(a->arg, id, ts, a->last_alignment_ns, err);
}

te_status_t barrier_aligner_on_barrier(te_barrier_aligner_t *a, uint32_t ch, uint64_t id, uint64_t ts,
                                       te_error_t *err)
{
    if (ch >= a->n)
        return te_error_set(err, TE_EINTERNAL, "barrier on channel %u of %u", ch, a->n);
    if (id < a->latest || (id == a->latest && a->pending != id))
        return TE_OK; /* stale: an older or already ended checkpoint */
    if (a->pending != 0 && id > a->pending) {
        char cause[96];
        snprintf(cause, sizeof(cause), "checkpoint %llu was subsumed by the barrier of checkpoint %llu",
                 (unsigned long long)a->pending, (unsigned long long)id);
        end_pending(a, cause);
    }
    a->latest = id;
    if (a->pending == 0) {
        a->pending = id;
        a->pending_ts = ts;
        a->start_ns = now_ns();
        if (a->unaligned) {
            a->triggered = 1;
            a->arrived[ch] = 1;
            a->n_arrived++;
            a->last_alignment_ns = 0;
            te_status_t rc = a->ops.trigger(a->arg, id, ts, 0, err);
            if (rc != TE_OK)
                return rc;
            return maybe_done(a, err);
        }
    }
    if (a->arrived[ch] || a->finished[ch])
        return TE_OK; /* a duplicate barrier: ignore */
    a->arrived[ch] = 1;
    a->n_arrived++;
    if (!a->unaligned && a->n_arrived + a->n_finished < a->n && a->ops.block)
        a->ops.block(a->arg, ch);
    return maybe_done(a, err);
}

void barrier_aligner_on_cancel_marker(te_barrier_aligner_t *a, uint32_t ch, uint64_t id)
{
    (void)ch;
    if (id < a->latest || (id == a->latest && a->pending != id))
        return;
    char cause[96];
    snprintf(cause, sizeof(cause), "checkpoint %llu was cancelled upstream (CancelCheckpointMarker)",
             (unsigned long long)id);
    if (a->pending != 0 && a->pending <= id)
        end_pending(a, cause);
    a->latest = id;
}

te_status_t barrier_aligner_on_channel_finished(te_barrier_aligner_t *a, uint32_t ch, te_error_t *err)
{
    if (ch >= a->n || a->finished[ch])
        return TE_OK;
    a->finished[ch] = 1;
    a->n_finished++;
    if (a->arrived[ch]) {
        a->arrived[ch] = 0;
        a->n_arrived--;
    }
    return maybe_done(a, err);
}

void barrier_aligner_abort(te_barrier_aligner_t *a, uint64_t id, const char *cause)
{
    if (a->pending != 0 && a->pending <= id)
        end_pending(a, cause ? cause : "aborted by the checkpoint coordinator");
    if (id > a->latest)
        a->latest = id;
}

uint64_t barrier_aligner_pending(const te_barrier_aligner_t *a) { return a->pending; }

int barrier_aligner_is_recording(const te_barrier_aligner_t *a, uint32_t ch)
{
    return a->unaligned && a->pending != 0 && ch < a->n && !a->arrived[ch] && !a->finished[ch];
}

int barrier_aligner_is_blocked(const te_barrier_aligner_t *a, uint32_t ch)
{
    return !a->unaligned && a->pending != 0 && ch < a->n && a->arrived[ch] && a->n_arrived + a->n_finished < a->n;
}

uint32_t barrier_aligner_waiting_channels(const te_barrier_aligner_t *a, uint32_t *out, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t ch = 0; a->pending != 0 && ch < a->n; ch++) {
        if (a->arrived[ch] || a->finished[ch])
            continue;
        if (n < max)
            out[n] = ch;
        n++;
    }
    return n;
}

uint64_t barrier_aligner_last_alignment_ns(const te_barrier_aligner_t *a) { return a->last_alignment_ns; }
