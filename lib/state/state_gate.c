/*
 * state_gate — one checkpoint's hold on the task's writes into its RocksDB instance
 * (state_gate.h says what it is for).
 *
 * Threading: any thread. The mutex guards state and refs; waiters sleep on the
 * condition variable until state leaves CLOSED.
 */
#include <pthread.h>
#include <stdlib.h>

#include "state/state_gate.h"

enum { GATE_CLOSED, GATE_OK, GATE_FAILED };

struct te_state_gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int state;
    int refs;
};

te_state_gate_t *state_gate_new(void)
{
    te_state_gate_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->state = GATE_CLOSED;
    g->refs = 1;
    return g;
}

te_state_gate_t *state_gate_ref(te_state_gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->refs++;
    pthread_mutex_unlock(&g->mu);
    return g;
}

void state_gate_unref(te_state_gate_t *g)
{
    if (g == NULL)
        return;
    pthread_mutex_lock(&g->mu);
    int last = --g->refs == 0;
    pthread_mutex_unlock(&g->mu);
    if (!last)
        return;
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

void state_gate_open(te_state_gate_t *g, int ok)
{
    pthread_mutex_lock(&g->mu);
    if (g->state == GATE_CLOSED) {
        g->state = ok ? GATE_OK : GATE_FAILED;
        pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
}

int state_gate_wait(te_state_gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    while (g->state == GATE_CLOSED)
        pthread_cond_wait(&g->cv, &g->mu);
    int ok = g->state == GATE_OK;
    pthread_mutex_unlock(&g->mu);
    return ok;
}
