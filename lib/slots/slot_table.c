/*
 * slot_table — the TaskSlotTable (DESIGN §4): a fixed array of slots with their state
 * machine FREE → ALLOCATED → ACTIVE → RELEASING → FREE, one allocation timer per slot
 * (an evtimer on the control event_base), and a chained hash map execution id →
 * (task, slot) whose entries are also linked per slot for iteration.
 *
 * Threading: control thread only — every entry point, and the timer callback, run on
 * the thread that runs `base`. No locks. The timeout callback is called with no
 * internal state borrowed except the allocation id copy, so it may re-enter the table.
 */
#include "slots/slot_table.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

#define ST_CTX "slot_table"

typedef struct task_entry {
    te_id_t exec_id;
    void *task;
    int slot;
    struct task_entry *hnext;       /* hash bucket chain */
    struct task_entry *prev, *next; /* per-slot list */
} task_entry_t;

typedef struct slot {
    te_slot_table_t *table;
    int index;
    te_slot_state_t state;
    te_id_t job_id;
    te_id_t allocation_id;
    struct event *timer;
    task_entry_t *tasks; /* head of the per-slot list */
    int n_tasks;
} slot_t;

struct slot_table {
    struct event_base *base;
    int n_slots;
    slot_t *slots;
    slot_table_timeout_cb timeout_cb;
    void *arg;
    task_entry_t **buckets;
    size_t n_buckets; /* power of two */
    int n_tasks;
};

const char *slot_table_state_name(te_slot_state_t s)
{
    switch (s) {
    case TE_SLOT_FREE: return "FREE";
    case TE_SLOT_ALLOCATED: return "ALLOCATED";
    case TE_SLOT_ACTIVE: return "ACTIVE";
    case TE_SLOT_RELEASING: return "RELEASING";
    }
    return "UNKNOWN";
}

static void slot_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    slot_t *s = arg;
    if (s->state != TE_SLOT_ALLOCATED)
        return; /* raced with mark_active / free on this same thread: nothing to do */
    te_id_t alloc = s->allocation_id;
    te_slot_table_t *t = s->table;
    TE_INFO(ST_CTX, "slot %d: allocation %s timed out before a task activated it", s->index, te_id_str(&alloc));
    if (t->timeout_cb != NULL)
        t->timeout_cb(t->arg, &alloc);
}

te_slot_table_t *slot_table_new(struct event_base *base, int n_slots, slot_table_timeout_cb timeout_cb, void *arg)
{
    if (base == NULL || n_slots < 1)
        return NULL;
    te_slot_table_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->base = base;
    t->n_slots = n_slots;
    t->timeout_cb = timeout_cb;
    t->arg = arg;
    t->n_buckets = 64;
    while (t->n_buckets < (size_t)n_slots * 4)
        t->n_buckets <<= 1;
    t->buckets = calloc(t->n_buckets, sizeof(*t->buckets));
    t->slots = calloc((size_t)n_slots, sizeof(*t->slots));
    if (t->buckets == NULL || t->slots == NULL)
        goto cleanup;
    for (int i = 0; i < n_slots; i++) {
        slot_t *s = &t->slots[i];
        s->table = t;
        s->index = i;
        s->state = TE_SLOT_FREE;
        s->timer = evtimer_new(base, slot_on_timeout, s);
        if (s->timer == NULL)
            goto cleanup;
    }
    return t;
cleanup:
    slot_table_free(t);
    return NULL;
}

void slot_table_free(te_slot_table_t *t)
{
    if (t == NULL)
        return;
    if (t->buckets != NULL) {
        for (size_t b = 0; b < t->n_buckets; b++) {
            task_entry_t *e = t->buckets[b];
            while (e != NULL) {
                task_entry_t *n = e->hnext;
                free(e);
                e = n;
            }
        }
    }
    if (t->slots != NULL)
        for (int i = 0; i < t->n_slots; i++)
            if (t->slots[i].timer != NULL)
                event_free(t->slots[i].timer);
    free(t->buckets);
    free(t->slots);
    free(t);
}

int slot_table_size(const te_slot_table_t *t) { return t == NULL ? 0 : t->n_slots; }

static slot_t *slot_of_allocation(const te_slot_table_t *t, const te_id_t *alloc)
{
    for (int i = 0; i < t->n_slots; i++) {
        slot_t *s = &t->slots[i];
        if (s->state != TE_SLOT_FREE && te_id_equal(&s->allocation_id, alloc))
            return s;
    }
    return NULL;
}

static void slot_start_timer(slot_t *s, long timeout_ms)
{
    evtimer_del(s->timer);
    if (timeout_ms <= 0)
        return;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void slot_make_free(slot_t *s)
{
    evtimer_del(s->timer);
    s->state = TE_SLOT_FREE;
    memset(&s->job_id, 0, sizeof(s->job_id));
    memset(&s->allocation_id, 0, sizeof(s->allocation_id));
}

te_status_t slot_table_allocate(te_slot_table_t *t, int index, const te_id_t *job_id, const te_id_t *allocation_id,
                                long timeout_ms, int *index_out, te_error_t *err)
{
    if (t == NULL || job_id == NULL || allocation_id == NULL)
        return te_error_set(err, TE_EINVAL, "slot_table_allocate: NULL argument");
    if (index >= t->n_slots)
        return te_error_set(err, TE_EINVAL,
                            "slot index %d out of range: this TaskExecutor has %d "
                            "slots (0..%d, taskmanager.numberOfTaskSlots)",
                            index, t->n_slots, t->n_slots - 1);
    slot_t *held = slot_of_allocation(t, allocation_id);
    if (held != NULL) {
        if (!te_id_equal(&held->job_id, job_id))
            return te_error_set(err, TE_EEXIST, "allocation %s already holds slot %d for another job (%s)",
                                te_id_str(allocation_id), held->index, te_id_str(&held->job_id));
        if (index >= 0 && index != held->index)
            return te_error_set(err, TE_EEXIST, "allocation %s already holds slot %d; cannot also take slot %d",
                                te_id_str(allocation_id), held->index, index);
        if (held->state == TE_SLOT_RELEASING)
            return te_error_set(err, TE_ESTATE, "allocation %s: slot %d is being released",
                                te_id_str(allocation_id), held->index);
        if (index_out != NULL)
            *index_out = held->index; /* idempotent repeat */
        return TE_OK;
    }
    slot_t *s = NULL;
    if (index >= 0) {
        s = &t->slots[index];
        if (s->state != TE_SLOT_FREE)
            return te_error_set(err, TE_EEXIST, "slot %d is %s by another allocation (%s)", index,
                                s->state == TE_SLOT_RELEASING ? "still being released" : "taken",
                                te_id_str(&s->allocation_id));
    } else {
        for (int i = 0; i < t->n_slots && s == NULL; i++)
            if (t->slots[i].state == TE_SLOT_FREE)
                s = &t->slots[i];
        if (s == NULL)
            return te_error_set(err, TE_EAGAIN,
                                "no free slot: all %d slots are in use "
                                "(taskmanager.numberOfTaskSlots)",
                                t->n_slots);
    }
    s->state = TE_SLOT_ALLOCATED;
    s->job_id = *job_id;
    s->allocation_id = *allocation_id;
    slot_start_timer(s, timeout_ms);
    TE_DEBUG(ST_CTX, "slot %d allocated to job %s allocation %s", s->index, te_id_str(job_id),
             te_id_str(allocation_id));
    if (index_out != NULL)
        *index_out = s->index;
    return TE_OK;
}

int slot_table_mark_active(te_slot_table_t *t, const te_id_t *job_id, const te_id_t *allocation_id)
{
    if (t == NULL || job_id == NULL || allocation_id == NULL)
        return -1;
    slot_t *s = slot_of_allocation(t, allocation_id);
    if (s == NULL || !te_id_equal(&s->job_id, job_id))
        return -1;
    if (s->state == TE_SLOT_ALLOCATED) {
        evtimer_del(s->timer);
        s->state = TE_SLOT_ACTIVE;
        return 0;
    }
    return s->state == TE_SLOT_ACTIVE ? 0 : -1;
}

int slot_table_mark_inactive(te_slot_table_t *t, const te_id_t *allocation_id, long timeout_ms)
{
    if (t == NULL || allocation_id == NULL)
        return -1;
    slot_t *s = slot_of_allocation(t, allocation_id);
    if (s == NULL)
        return -1;
    if (s->state == TE_SLOT_ACTIVE) {
        s->state = TE_SLOT_ALLOCATED;
        slot_start_timer(s, timeout_ms);
        return 0;
    }
    return s->state == TE_SLOT_ALLOCATED ? 0 : -1;
}

static size_t bucket_of(const te_slot_table_t *t, const te_id_t *id)
{
    return (size_t)te_id_hash(id) & (t->n_buckets - 1);
}

static task_entry_t *entry_find(const te_slot_table_t *t, const te_id_t *exec_id)
{
    for (task_entry_t *e = t->buckets[bucket_of(t, exec_id)]; e != NULL; e = e->hnext)
        if (te_id_equal(&e->exec_id, exec_id))
            return e;
    return NULL;
}

te_status_t slot_table_add_task(te_slot_table_t *t, const te_id_t *job_id, const te_id_t *allocation_id,
                                const te_id_t *execution_id, void *task, te_error_t *err)
{
    if (t == NULL || job_id == NULL || allocation_id == NULL || execution_id == NULL)
        return te_error_set(err, TE_EINVAL, "slot_table_add_task: NULL argument");
    slot_t *s = slot_of_allocation(t, allocation_id);
    if (s == NULL)
        return te_error_set(err, TE_ENOTFOUND, "no slot is allocated for allocation %s", te_id_str(allocation_id));
    if (!te_id_equal(&s->job_id, job_id))
        return te_error_set(err, TE_EINVAL, "slot %d (allocation %s) belongs to job %s, not to job %s", s->index,
                            te_id_str(allocation_id), te_id_str(&s->job_id), te_id_str(job_id));
    if (s->state != TE_SLOT_ACTIVE)
        return te_error_set(err, TE_ESTATE, "slot %d (allocation %s) is %s, not ACTIVE", s->index,
                            te_id_str(allocation_id), slot_table_state_name(s->state));
    if (entry_find(t, execution_id) != NULL)
        return te_error_set(err, TE_EEXIST, "execution %s is already registered", te_id_str(execution_id));
    task_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory registering a task");
    e->exec_id = *execution_id;
    e->task = task;
    e->slot = s->index;
    size_t b = bucket_of(t, execution_id);
    e->hnext = t->buckets[b];
    t->buckets[b] = e;
    e->next = s->tasks;
    if (s->tasks != NULL)
        s->tasks->prev = e;
    s->tasks = e;
    s->n_tasks++;
    t->n_tasks++;
    return TE_OK;
}

te_status_t slot_table_remove_task(te_slot_table_t *t, const te_id_t *execution_id, void **task_out)
{
    if (t == NULL || execution_id == NULL)
        return TE_EINVAL;
    size_t b = bucket_of(t, execution_id);
    task_entry_t **pp = &t->buckets[b];
    while (*pp != NULL && !te_id_equal(&(*pp)->exec_id, execution_id))
        pp = &(*pp)->hnext;
    task_entry_t *e = *pp;
    if (e == NULL)
        return TE_ENOTFOUND;
    *pp = e->hnext;
    slot_t *s = &t->slots[e->slot];
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->tasks = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    s->n_tasks--;
    t->n_tasks--;
    if (task_out != NULL)
        *task_out = e->task;
    free(e);
    if (s->n_tasks == 0 && s->state == TE_SLOT_RELEASING) {
        TE_DEBUG(ST_CTX, "slot %d: last task removed, slot is free", s->index);
        slot_make_free(s);
    }
    return TE_OK;
}

te_status_t slot_table_free_slot(te_slot_table_t *t, const te_id_t *allocation_id, int *index_out, te_error_t *err)
{
    if (t == NULL || allocation_id == NULL)
        return te_error_set(err, TE_EINVAL, "slot_table_free_slot: NULL argument");
    slot_t *s = slot_of_allocation(t, allocation_id);
    if (s == NULL)
        return te_error_set(err, TE_ENOTFOUND, "no slot is allocated for allocation %s", te_id_str(allocation_id));
    if (index_out != NULL)
        *index_out = s->index;
    if (s->n_tasks == 0) {
        slot_make_free(s);
    } else {
        evtimer_del(s->timer);
        s->state = TE_SLOT_RELEASING;
    }
    return TE_OK;
}

int slot_table_find_by_execution(const te_slot_table_t *t, const te_id_t *execution_id, void **task_out)
{
    if (t == NULL || execution_id == NULL)
        return -1;
    task_entry_t *e = entry_find(t, execution_id);
    if (e == NULL)
        return -1;
    if (task_out != NULL)
        *task_out = e->task;
    return e->slot;
}

int slot_table_find_by_allocation(const te_slot_table_t *t, const te_id_t *allocation_id)
{
    if (t == NULL || allocation_id == NULL)
        return -1;
    slot_t *s = slot_of_allocation(t, allocation_id);
    return s == NULL ? -1 : s->index;
}

int slot_table_tasks_of_slot(const te_slot_table_t *t, int index, te_id_t *exec_out, void **tasks_out, int cap)
{
    if (t == NULL || index < 0 || index >= t->n_slots)
        return -1;
    const slot_t *s = &t->slots[index];
    int i = 0;
    for (const task_entry_t *e = s->tasks; e != NULL && i < cap; e = e->next, i++) {
        if (exec_out != NULL)
            exec_out[i] = e->exec_id;
        if (tasks_out != NULL)
            tasks_out[i] = e->task;
    }
    return s->n_tasks;
}

int slot_table_slots_of_job(const te_slot_table_t *t, const te_id_t *job_id, int *out, int cap)
{
    if (t == NULL || job_id == NULL)
        return 0;
    int n = 0;
    for (int i = 0; i < t->n_slots; i++) {
        const slot_t *s = &t->slots[i];
        if (s->state != TE_SLOT_FREE && te_id_equal(&s->job_id, job_id)) {
            if (out != NULL && n < cap)
                out[n] = i;
            n++;
        }
    }
    return n;
}

int slot_table_count(const te_slot_table_t *t, te_slot_state_t state)
{
    if (t == NULL)
        return 0;
    int n = 0;
    for (int i = 0; i < t->n_slots; i++)
        if (t->slots[i].state == state)
            n++;
    return n;
}

int slot_table_n_tasks(const te_slot_table_t *t) { return t == NULL ? 0 : t->n_tasks; }

int slot_table_get(const te_slot_table_t *t, int index, te_slot_info_t *out)
{
    if (t == NULL || out == NULL || index < 0 || index >= t->n_slots)
        return -1;
    const slot_t *s = &t->slots[index];
    out->index = index;
    out->state = s->state;
    out->job_id = s->job_id;
    out->allocation_id = s->allocation_id;
    out->n_tasks = s->n_tasks;
    return 0;
}

int slot_table_snapshot(const te_slot_table_t *t, te_slot_info_t *out, int cap)
{
    if (t == NULL)
        return 0;
    for (int i = 0; i < t->n_slots && i < cap && out != NULL; i++)
        slot_table_get(t, i, &out[i]);
    return t->n_slots;
}
