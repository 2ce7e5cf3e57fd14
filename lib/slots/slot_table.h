/*
 * slot_table — the TaskSlotTable: `taskmanager.numberOfTaskSlots` slots, each
 * FREE → ALLOCATED → ACTIVE → RELEASING → FREE, plus the table-wide map
 * execution id → (task, slot).
 *
 * allocate starts a timer (taskmanager.slot.timeout) on the control event_base; if the
 * slot is not marked active before it fires, timeout_cb(arg, allocation_id) runs (the
 * daemon then frees the slot). mark_active (the seed's tryMarkSlotActive) cancels it.
 * add_task needs an ACTIVE slot of the same job. free_slot on a slot with tasks moves
 * it to RELEASING (the caller fails the tasks); removing the last task frees it.
 *
 * Threading: the control thread only (the one running `base`). Not thread-safe; task
 * threads report through the control queue.
 */
#ifndef TE_SLOT_TABLE_H
#define TE_SLOT_TABLE_H

#include <stddef.h>

#include "common/ids.h"
#include "common/te_status.h"

struct event_base;

typedef enum te_slot_state {
    TE_SLOT_FREE = 0,
    TE_SLOT_ALLOCATED,
    TE_SLOT_ACTIVE,
    TE_SLOT_RELEASING,
} te_slot_state_t;

#define TE_SLOT_N_STATES 4

/* Called on the control thread when an ALLOCATED slot's timeout passes. The
 * allocation id is borrowed until the callback returns; the callback may call any
 * slot_table function (typically slot_table_free_slot). */
typedef void (*slot_table_timeout_cb)(void *arg, const te_id_t *allocation_id);

typedef struct slot_table te_slot_table_t;

/* One slot, as seen by reports and the status endpoint. ids are zero when FREE. */
typedef struct te_slot_info {
    int index;
    te_slot_state_t state;
    te_id_t job_id;
    te_id_t allocation_id;
    int n_tasks;
} te_slot_info_t;

/* base: the control event_base (borrowed, must outlive the table). n_slots >= 1.
 * timeout_cb may be NULL (timeouts then only log). Returns NULL on bad arguments or
 * out of memory. */
te_slot_table_t *slot_table_new(struct event_base *base, int n_slots, slot_table_timeout_cb timeout_cb, void *arg);
/* Cancels all timers; tasks still registered are forgotten (pointers are borrowed). */
void slot_table_free(te_slot_table_t *t);

int slot_table_size(const te_slot_table_t *t);

/* Allocates slot `index` (or the first FREE slot when index < 0) for (job, allocation)
 * and starts the allocation timeout when timeout_ms > 0. Idempotent: the same
 * allocation asking again for its own slot (or any slot) gets TE_OK and its index.
 * Errors: TE_EINVAL index out of range / NULL ids; TE_EEXIST slot taken by another
 * allocation, or the allocation id already holds another slot (or belongs to another
 * job); TE_EAGAIN no free slot. *index_out (may be NULL) gets the slot index. */
te_status_t slot_table_allocate(te_slot_table_t *t, int index, const te_id_t *job_id, const te_id_t *allocation_id,
                                long timeout_ms, int *index_out, te_error_t *err);

/* ALLOCATED → ACTIVE (cancels the timeout); ACTIVE stays ACTIVE. Returns 0, or -1 when
 * no ALLOCATED/ACTIVE slot holds this (job, allocation). */
int slot_table_mark_active(te_slot_table_t *t, const te_id_t *job_id, const te_id_t *allocation_id);

/* ACTIVE → ALLOCATED and restarts the timeout (the seed's markSlotInactive; used when
 * the last task of a slot finishes and the JobManager keeps the slot). Returns 0/-1. */
int slot_table_mark_inactive(te_slot_table_t *t, const te_id_t *allocation_id, long timeout_ms);

/* Registers a task in the slot of `allocation_id`. task is borrowed (the table never
 * dereferences it). Errors: TE_ENOTFOUND no slot for that allocation; TE_ESTATE slot
 * not ACTIVE; TE_EINVAL slot belongs to another job; TE_EEXIST execution id already
 * registered (in any slot). */
te_status_t slot_table_add_task(te_slot_table_t *t, const te_id_t *job_id, const te_id_t *allocation_id,
                                const te_id_t *execution_id, void *task, te_error_t *err);

/* Unregisters a task; *task_out (may be NULL) gets its pointer. When the slot is
 * RELEASING and this was its last task, the slot becomes FREE. TE_ENOTFOUND when
 * unknown. */
te_status_t slot_table_remove_task(te_slot_table_t *t, const te_id_t *execution_id, void **task_out);

/* Frees the slot of `allocation_id`: with no tasks → FREE at once (timer cancelled);
 * with tasks → RELEASING (the caller fails them; the last remove frees the slot).
 * Freeing a RELEASING slot again is TE_OK. TE_ENOTFOUND when no slot has it.
 * *index_out (may be NULL) gets the slot index. */
te_status_t slot_table_free_slot(te_slot_table_t *t, const te_id_t *allocation_id, int *index_out,
                                 te_error_t *err);

/* Lookups. Return the slot index or -1. task_out may be NULL. */
int slot_table_find_by_execution(const te_slot_table_t *t, const te_id_t *execution_id, void **task_out);
int slot_table_find_by_allocation(const te_slot_table_t *t, const te_id_t *allocation_id);

/* Copies up to `cap` execution ids (and task pointers, when tasks_out != NULL) of the
 * slot `index` into the arrays; returns the slot's number of tasks (may exceed cap),
 * or -1 for a bad index. A copy, so the caller may remove tasks while walking it. */
int slot_table_tasks_of_slot(const te_slot_table_t *t, int index, te_id_t *exec_out, void **tasks_out, int cap);

/* Copies up to `cap` indices of slots (any non-FREE state) held by job_id; returns the
 * number of such slots (may exceed cap). */
int slot_table_slots_of_job(const te_slot_table_t *t, const te_id_t *job_id, int *out, int cap);

int slot_table_count(const te_slot_table_t *t, te_slot_state_t state);
int slot_table_n_tasks(const te_slot_table_t *t); /* tasks registered table-wide */

/* Fills info for one slot; returns 0 or -1 for a bad index. */
int slot_table_get(const te_slot_table_t *t, int index, te_slot_info_t *out);
/* Fills up to `cap` entries (slot order); returns the number of slots. */
int slot_table_snapshot(const te_slot_table_t *t, te_slot_info_t *out, int cap);

/* "FREE", "ALLOCATED", "ACTIVE", "RELEASING". */
const char *slot_table_state_name(te_slot_state_t s);

#endif
