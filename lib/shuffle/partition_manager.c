/*
 * partition_manager — the daemon's registry of produced ResultPartitions (Flink's
 * ResultPartitionManager) plus one-shot "tell me when partition X is registered"
 * listeners used by consumers that asked too early (PartitionNotFound, retried).
 *
 * Threading: every entry point is thread-safe under `mu`. Registration listeners are
 * called without `mu`, on the registering thread; `firing` counts such calls in
 * progress so cancel_listener can wait until none may still touch its argument.
 * Lock order: `mu` is never held while calling into a partition.
 */
#include "shuffle/partition_manager.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct pm_listener {
    te_id_t id;
    te_notifier_t n;
    struct pm_listener *next;
};

struct te_partition_manager {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* firing == 0 */
    te_result_partition_t **parts;
    uint32_t count, cap;
    struct pm_listener *listeners;
    uint32_t firing;
};

te_partition_manager_t *partition_manager_new(void)
{
    te_partition_manager_t *pm = calloc(1, sizeof(*pm));
    if (pm == NULL)
        return NULL;
    pthread_mutex_init(&pm->mu, NULL);
    pthread_cond_init(&pm->cv, NULL);
    return pm;
}

void partition_manager_free(te_partition_manager_t *pm)
{
    if (pm == NULL)
        return;
    for (uint32_t i = 0; i < pm->count; i++)
        result_partition_unref(pm->parts[i]);
    while (pm->listeners != NULL) {
        struct pm_listener *l = pm->listeners;
        pm->listeners = l->next;
        free(l);
    }
    free(pm->parts);
    pthread_cond_destroy(&pm->cv);
    pthread_mutex_destroy(&pm->mu);
    free(pm);
}

static int pm_find_locked(te_partition_manager_t *pm, const te_id_t *id)
{
    for (uint32_t i = 0; i < pm->count; i++)
        if (te_id_equal(result_partition_id(pm->parts[i]), id))
            return (int)i;
    return -1;
}

te_status_t partition_manager_register(te_partition_manager_t *pm, te_result_partition_t *rp, te_error_t *err)
{
    const te_id_t *id = result_partition_id(rp);
    pthread_mutex_lock(&pm->mu);
    if (pm_find_locked(pm, id) >= 0) {
        pthread_mutex_unlock(&pm->mu);
        return te_error_set(err, TE_EEXIST, "partition %s is registered already", te_id_str(id));
    }
    if (pm->count == pm->cap) {
        uint32_t ncap = pm->cap ? pm->cap * 2 : 16;
        te_result_partition_t **np = realloc(pm->parts, ncap * sizeof(*np));
        if (np == NULL) {
            pthread_mutex_unlock(&pm->mu);
            return te_error_set(err, TE_ENOMEM, "out of memory registering partition %s", te_id_str(id));
        }
        pm->parts = np;
        pm->cap = ncap;
    }
    result_partition_retain(rp);
    pm->parts[pm->count++] = rp;
    /* Take the listeners waiting for this id. */
    struct pm_listener *fire = NULL, **pp = &pm->listeners;
    while (*pp != NULL) {
        struct pm_listener *l = *pp;
        if (te_id_equal(&l->id, id)) {
            *pp = l->next;
            l->next = fire;
            fire = l;
        } else {
            pp = &l->next;
        }
    }
    if (fire != NULL)
        pm->firing++;
    pthread_mutex_unlock(&pm->mu);
    if (fire == NULL)
        return TE_OK;
    while (fire != NULL) {
        struct pm_listener *l = fire;
        fire = l->next;
        l->n.fn(l->n.arg);
        free(l);
    }
    pthread_mutex_lock(&pm->mu);
    if (--pm->firing == 0)
        pthread_cond_broadcast(&pm->cv);
    pthread_mutex_unlock(&pm->mu);
    return TE_OK;
}

void partition_manager_unregister(te_partition_manager_t *pm, const te_id_t *partition_id)
{
    te_result_partition_t *rp = NULL;
    pthread_mutex_lock(&pm->mu);
    int i = pm_find_locked(pm, partition_id);
    if (i >= 0) {
        rp = pm->parts[i];
        pm->parts[i] = pm->parts[--pm->count];
    }
    pthread_mutex_unlock(&pm->mu);
    result_partition_unref(rp);
}

te_subpartition_view_t *partition_manager_create_view(te_partition_manager_t *pm, const te_id_t *partition_id,
                                                      uint32_t sub, te_notifier_t listener, te_error_t *err)
{
    te_result_partition_t *rp = NULL;
    pthread_mutex_lock(&pm->mu);
    int i = pm_find_locked(pm, partition_id);
    if (i >= 0) {
        rp = pm->parts[i];
        result_partition_retain(rp);
    }
    pthread_mutex_unlock(&pm->mu);
    if (rp == NULL) {
        char hex[TE_ID_HEX_LEN + 1];
        te_error_set(err, TE_ENOTFOUND, "PartitionNotFound: partition %s is not registered",
                     te_id_to_hex(partition_id, hex));
        return NULL;
    }
    te_subpartition_view_t *v = result_partition_create_view(rp, sub, listener, err);
    result_partition_unref(rp);
    return v;
}

int partition_manager_notify_when_registered(te_partition_manager_t *pm, const te_id_t *partition_id,
                                             te_notifier_t n)
{
    pthread_mutex_lock(&pm->mu);
    if (pm_find_locked(pm, partition_id) >= 0) {
        pthread_mutex_unlock(&pm->mu);
        if (n.fn != NULL)
            n.fn(n.arg);
        return 1;
    }
    struct pm_listener *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        /* Cannot arm: report "registered" so the caller retries instead of waiting forever. */
        pthread_mutex_unlock(&pm->mu);
        if (n.fn != NULL)
            n.fn(n.arg);
        return 1;
    }
    l->id = *partition_id;
    l->n = n;
    l->next = pm->listeners;
    pm->listeners = l;
    pthread_mutex_unlock(&pm->mu);
    return 0;
}

void partition_manager_cancel_listener(te_partition_manager_t *pm, te_notifier_t n)
{
    pthread_mutex_lock(&pm->mu);
    struct pm_listener **pp = &pm->listeners;
    while (*pp != NULL) {
        struct pm_listener *l = *pp;
        if (l->n.fn == n.fn && l->n.arg == n.arg) {
            *pp = l->next;
            free(l);
        } else {
            pp = &l->next;
        }
    }
    while (pm->firing > 0)
        pthread_cond_wait(&pm->cv, &pm->mu);
    pthread_mutex_unlock(&pm->mu);
}

uint32_t partition_manager_count(te_partition_manager_t *pm)
{
    pthread_mutex_lock(&pm->mu);
    uint32_t n = pm->count;
    pthread_mutex_unlock(&pm->mu);
    return n;
}
