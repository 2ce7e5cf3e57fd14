/*
 * local_buffer_pool — a ResultPartition's or InputGate's share of the network arena
 * (Flink's LocalBufferPool).
 *
 * The pool owns `num_owned` segments: its reservation of min_required (taken at
 * creation, or `owed` by the arena and taken from it as segments come back) plus
 * segments borrowed from the arena (up to max) when its own free list is empty. A
 * recycled segment stays in the pool while the pool is at or below its reservation (or
 * someone waits for it and the arena owes no other pool); a borrowed one above the
 * reservation goes back to the arena so other pools can use it.
 *
 * Overdraft: while the arena cannot pay what it owes (the segments are borrowed by
 * pools whose data waits for this pool's task to consume it, and the task consumes
 * only while it has an output buffer), the pool hands out up to `owed` heap segments
 * of the segment size instead (Flink's overdraft buffers). They are freed when
 * recycled, so at most the reservation — bounded by the arena — is ever overdrawn.
 * A heap segment is told apart by its data following its header (buffer_new_unpooled);
 * an arena segment's data lies in the arena.
 *
 * Lifetime: destroy returns the free segments and marks the pool destroyed; the pool
 * struct lives on while buffers are outstanding (they point at it) and is freed by
 * whichever of destroy / the last recycle sees (destroyed && num_owned == 0).
 *
 * Threading: every function is thread-safe under the pool mutex `mu`; the arena mutex
 * is taken inside it (lock order: pool, then arena). The one-shot availability
 * notifier is called with no lock held, on the thread that recycled (or cancelled).
 * in_use is an atomic readable without the lock.
 */
#include "shuffle/local_buffer_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/hot_mutex.h"
#include "shuffle/network_buffer_pool.h"

/* A requester blocked while the pool could still grow from the arena re-checks the
 * arena this often (segments returned to the arena by other pools wake nobody here). */
#define LBP_ARENA_RECHECK_MS 20

struct te_local_buffer_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    te_network_buffer_pool_t *arena;
    char owner[96];
    uint32_t min_required;
    uint32_t max;
    te_buffer_t *free_list; /* guarded by mu */
    uint32_t num_owned;     /* segments from the arena: free + handed out */
    uint32_t owed;          /* of the reservation, not received from the arena yet */
    uint32_t overdrawn;     /* heap segments handed out (at most owed) */
    uint32_t waiters;       /* threads in request_blocking */
    int cancelled;
    int destroyed;
    te_notifier_t notifier;
    _Atomic uint32_t in_use;
};

te_local_buffer_pool_t *local_buffer_pool_new_reserved(struct te_network_buffer_pool *arena, const char *owner,
                                                       uint32_t min_required, uint32_t owed, uint32_t max,
                                                       te_buffer_t *reserved)
{
    te_local_buffer_pool_t *lp = calloc(1, sizeof(*lp));
    if (lp == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lp->cv, &ca);
    pthread_condattr_destroy(&ca);
    te_hot_mutex_init(&lp->mu);
    lp->arena = arena;
    snprintf(lp->owner, sizeof(lp->owner), "%s", owner ? owner : "?");
    lp->min_required = min_required;
    lp->max = max;
    lp->free_list = reserved;
    lp->num_owned = min_required - owed;
    lp->owed = owed;
    atomic_init(&lp->in_use, 0);
    return lp;
}

static void lbp_free(te_local_buffer_pool_t *lp)
{
    pthread_cond_destroy(&lp->cv);
    pthread_mutex_destroy(&lp->mu);
    free(lp);
}

static int lbp_overdrawn(const te_buffer_t *b) { return b->data == (const uint8_t *)(b + 1); }

static te_buffer_t *lbp_pop_locked(te_local_buffer_pool_t *lp)
{
    if (lp->cancelled)
        return NULL;
    te_buffer_t *b = lp->free_list;
    if (b != NULL) {
        lp->free_list = b->next_free;
    } else if (lp->owed > 0) {
        b = network_buffer_pool_take_segment(lp->arena, 1);
        if (b != NULL) {
            lp->owed--;
            lp->num_owned++;
        } else if (lp->overdrawn < lp->owed &&
                   (b = buffer_new_unpooled(network_buffer_pool_segment_size(lp->arena))) != NULL) {
            lp->overdrawn++;
        } else {
            return NULL;
        }
    } else if (lp->num_owned < lp->max) {
        b = network_buffer_pool_take_segment(lp->arena, 0);
        if (b == NULL)
            return NULL;
        lp->num_owned++;
    } else {
        return NULL;
    }
    b->next_free = NULL;
    b->owner = lp;
    b->type = TE_BUFFER_DATA;
    b->capacity = network_buffer_pool_segment_size(lp->arena); /* a writer may have cut it (debloating) */
    atomic_store_explicit(&b->committed, 0, memory_order_relaxed);
    atomic_store_explicit(&b->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&b->refcnt, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&lp->in_use, 1, memory_order_relaxed);
    return b;
}

te_buffer_t *local_buffer_pool_request(te_local_buffer_pool_t *lp)
{
    pthread_mutex_lock(&lp->mu);
    te_buffer_t *b = lbp_pop_locked(lp);
    pthread_mutex_unlock(&lp->mu);
    return b;
}

te_buffer_t *local_buffer_pool_request_blocking(te_local_buffer_pool_t *lp)
{
    te_buffer_t *b;
    pthread_mutex_lock(&lp->mu);
    lp->waiters++;
    while ((b = lbp_pop_locked(lp)) == NULL && !lp->cancelled) {
        if (lp->num_owned < lp->max) {
            struct timespec ts;
            te_clock_deadline(&ts, LBP_ARENA_RECHECK_MS);
            pthread_cond_timedwait(&lp->cv, &lp->mu, &ts);
        } else {
            pthread_cond_wait(&lp->cv, &lp->mu);
        }
    }
    lp->waiters--;
    if (lp->waiters == 0 && lp->destroyed)
        pthread_cond_broadcast(&lp->cv);
    pthread_mutex_unlock(&lp->mu);
    return b;
}

static int lbp_available_locked(te_local_buffer_pool_t *lp)
{
    if (lp->cancelled)
        return 0;
    if (lp->free_list != NULL)
        return 1;
    uint32_t n_free = network_buffer_pool_available_segments(lp->arena);
    if (lp->owed > 0)
        return n_free > 0 || lp->overdrawn < lp->owed;
    return lp->num_owned < lp->max && n_free > network_buffer_pool_debt(lp->arena);
}

int local_buffer_pool_is_available(te_local_buffer_pool_t *lp)
{
    pthread_mutex_lock(&lp->mu);
    int r = lbp_available_locked(lp);
    pthread_mutex_unlock(&lp->mu);
    return r;
}

int local_buffer_pool_notify_when_available(te_local_buffer_pool_t *lp, te_notifier_t n)
{
    pthread_mutex_lock(&lp->mu);
    if (lbp_available_locked(lp)) {
        pthread_mutex_unlock(&lp->mu);
        if (n.fn != NULL)
            n.fn(n.arg);
        return 1;
    }
    lp->notifier = n;
    pthread_mutex_unlock(&lp->mu);
    return 0;
}

void local_buffer_pool_recycle_segments(te_local_buffer_pool_t *lp, te_buffer_t *list)
{
    int free_now = 0, kept = 0;
    te_notifier_t n = {NULL, NULL};
    pthread_mutex_lock(&lp->mu);
    while (list != NULL) {
        te_buffer_t *b = list;
        list = b->next_free;
        b->owner = NULL;
        atomic_fetch_sub_explicit(&lp->in_use, 1, memory_order_relaxed);
        if (lbp_overdrawn(b)) {
            free(b);
            lp->overdrawn--;
            free_now = lp->destroyed && lp->num_owned == 0 && lp->overdrawn == 0;
            if (!lp->destroyed) {
                kept++; /* another may be overdrawn now */
                if (lp->notifier.fn != NULL) {
                    n = lp->notifier;
                    lp->notifier.fn = NULL;
                }
            }
            continue;
        }
        int spare = lp->num_owned > lp->min_required &&
                    ((lp->waiters == 0 && lp->notifier.fn == NULL) || network_buffer_pool_debt(lp->arena) > 0);
        if (lp->destroyed || spare) {
            b->next_free = NULL;
            network_buffer_pool_return_segments(lp->arena, b);
            lp->num_owned--;
            free_now = lp->destroyed && lp->num_owned == 0 && lp->overdrawn == 0;
        } else {
            b->next_free = lp->free_list;
            lp->free_list = b;
            kept++;
            if (lp->notifier.fn != NULL) {
                n = lp->notifier;
                lp->notifier.fn = NULL;
            }
        }
    }
    /* Requesters are woken once the whole batch is in: a woken producer finds all of
     * it (one wake-up per batch, not one per buffer, each preempting the recycler). */
    if (kept > 0 && lp->waiters > 0) {
        if (kept > 1)
            pthread_cond_broadcast(&lp->cv);
        else
            pthread_cond_signal(&lp->cv);
    }
    pthread_mutex_unlock(&lp->mu);
    if (n.fn != NULL)
        n.fn(n.arg);
    if (free_now)
        lbp_free(lp);
}

void local_buffer_pool_recycle_segment(te_local_buffer_pool_t *lp, te_buffer_t *b)
{
    b->next_free = NULL;
    local_buffer_pool_recycle_segments(lp, b);
}

void local_buffer_pool_cancel(te_local_buffer_pool_t *lp)
{
    pthread_mutex_lock(&lp->mu);
    lp->cancelled = 1;
    pthread_cond_broadcast(&lp->cv);
    te_notifier_t n = lp->notifier;
    lp->notifier.fn = NULL;
    pthread_mutex_unlock(&lp->mu);
    /* Wake a suspended producer so it notices the cancellation. */
    if (n.fn != NULL)
        n.fn(n.arg);
}

void local_buffer_pool_destroy(te_local_buffer_pool_t *lp)
{
    if (lp == NULL)
        return;
    pthread_mutex_lock(&lp->mu);
    lp->cancelled = 1;
    lp->destroyed = 1;
    lp->notifier.fn = NULL;
    pthread_cond_broadcast(&lp->cv);
    while (lp->waiters > 0)
        pthread_cond_wait(&lp->cv, &lp->mu);
    uint32_t n = 0;
    for (te_buffer_t *b = lp->free_list; b != NULL; b = b->next_free)
        n++;
    network_buffer_pool_return_segments(lp->arena, lp->free_list);
    network_buffer_pool_release_reservation(lp->arena, lp->min_required, lp->owed);
    lp->owed = 0;
    lp->free_list = NULL;
    lp->num_owned -= n;
    int free_now = lp->num_owned == 0 && lp->overdrawn == 0;
    pthread_mutex_unlock(&lp->mu);
    if (free_now)
        lbp_free(lp);
}

uint32_t local_buffer_pool_in_use(te_local_buffer_pool_t *lp)
{
    return atomic_load_explicit(&lp->in_use, memory_order_relaxed);
}

uint32_t local_buffer_pool_max(te_local_buffer_pool_t *lp) { return lp->max; }
uint32_t local_buffer_pool_min_required(te_local_buffer_pool_t *lp) { return lp->min_required; }

double local_buffer_pool_usage(te_local_buffer_pool_t *lp)
{
    if (lp == NULL || lp->max == 0)
        return 0.0;
    double u = (double)local_buffer_pool_in_use(lp) / (double)lp->max;
    return u > 1.0 ? 1.0 : u;
}

void local_buffer_pool_owed(te_local_buffer_pool_t *lp, uint32_t *owed, uint32_t *overdrawn)
{
    pthread_mutex_lock(&lp->mu);
    *owed = lp->owed;
    *overdrawn = lp->overdrawn;
    pthread_mutex_unlock(&lp->mu);
}
