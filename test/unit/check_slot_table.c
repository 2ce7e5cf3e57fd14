/* Unit tests: slot_table — state transitions, allocation errors and idempotence, the
 * allocation timeout on a real event_base (and mark_active cancelling it), tasks and
 * the execution-id map, free with tasks → RELEASING → FREE, job lookups, snapshots. */
#include <check.h>
#include <event2/event.h>
#include <string.h>

#include "common/ids.h"
#include "slots/slot_table.h"

static te_id_t id_of(uint8_t tag, uint8_t n)
{
    te_id_t id;
    memset(&id, 0, sizeof(id));
    id.b[0] = tag;
    id.b[15] = n;
    return id;
}

#define JOB(n)   id_of(0xA0, (n))
#define ALLOC(n) id_of(0xB0, (n))
#define EXEC(n)  id_of(0xC0, (n))

typedef struct timeout_rec {
    int fired;
    te_id_t last;
    te_slot_table_t *t;
    int free_on_timeout;
} timeout_rec_t;

static void on_timeout(void *arg, const te_id_t *alloc)
{
    timeout_rec_t *r = arg;
    r->fired++;
    r->last = *alloc;
    if (r->free_on_timeout)
        ck_assert_int_eq(slot_table_free_slot(r->t, alloc, NULL, NULL), TE_OK);
}

static void run_for_ms(struct event_base *base, long ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

START_TEST(test_lifecycle)
{
    struct event_base *base = event_base_new();
    te_slot_table_t *t = slot_table_new(base, 3, NULL, NULL);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(slot_table_size(t), 3);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_FREE), 3);
    te_id_t j = JOB(1), a = ALLOC(1), x = EXEC(1);
    te_error_t e;
    int idx = -7;
    ck_assert_int_eq(slot_table_allocate(t, 1, &j, &a, 0, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 1);
    te_slot_info_t info;
    ck_assert_int_eq(slot_table_get(t, 1, &info), 0);
    ck_assert_int_eq(info.state, TE_SLOT_ALLOCATED);
    ck_assert(te_id_equal(&info.job_id, &j));
    ck_assert(te_id_equal(&info.allocation_id, &a));
    ck_assert_int_eq(slot_table_find_by_allocation(t, &a), 1);

    /* add_task before ACTIVE: not active */
    ck_assert_int_eq(slot_table_add_task(t, &j, &a, &x, NULL, &e), TE_ESTATE);
    ck_assert_ptr_nonnull(strstr(e.msg, "ALLOCATED"));

    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), 0);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), 0); /* ACTIVE stays ACTIVE */
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_ACTIVE), 1);
    int task_obj = 42;
    ck_assert_int_eq(slot_table_add_task(t, &j, &a, &x, &task_obj, &e), TE_OK);
    void *got = NULL;
    ck_assert_int_eq(slot_table_find_by_execution(t, &x, &got), 1);
    ck_assert_ptr_eq(got, &task_obj);
    ck_assert_int_eq(slot_table_n_tasks(t), 1);

    /* remove the task: the slot stays ACTIVE (only RELEASING slots free themselves) */
    got = NULL;
    ck_assert_int_eq(slot_table_remove_task(t, &x, &got), TE_OK);
    ck_assert_ptr_eq(got, &task_obj);
    ck_assert_int_eq(slot_table_remove_task(t, &x, NULL), TE_ENOTFOUND);
    ck_assert_int_eq(slot_table_find_by_execution(t, &x, NULL), -1);
    ck_assert_int_eq(slot_table_get(t, 1, &info), 0);
    ck_assert_int_eq(info.state, TE_SLOT_ACTIVE);

    /* free with no tasks → FREE at once */
    idx = -1;
    ck_assert_int_eq(slot_table_free_slot(t, &a, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_FREE), 3);
    ck_assert_int_eq(slot_table_get(t, 1, &info), 0);
    ck_assert(te_id_is_zero(&info.allocation_id));
    ck_assert_int_eq(slot_table_free_slot(t, &a, NULL, &e), TE_ENOTFOUND);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), -1);

    /* ACTIVE → ALLOCATED again (mark_inactive) */
    ck_assert_int_eq(slot_table_allocate(t, -1, &j, &a, 0, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 0);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), 0);
    ck_assert_int_eq(slot_table_mark_inactive(t, &a, 0), 0);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_ALLOCATED), 1);

    ck_assert_str_eq(slot_table_state_name(TE_SLOT_FREE), "FREE");
    ck_assert_str_eq(slot_table_state_name(TE_SLOT_ALLOCATED), "ALLOCATED");
    ck_assert_str_eq(slot_table_state_name(TE_SLOT_ACTIVE), "ACTIVE");
    ck_assert_str_eq(slot_table_state_name(TE_SLOT_RELEASING), "RELEASING");
    slot_table_free(t);
    slot_table_free(NULL);
    event_base_free(base);
}
END_TEST

START_TEST(test_allocate_errors)
{
    struct event_base *base = event_base_new();
    te_slot_table_t *t = slot_table_new(base, 2, NULL, NULL);
    te_id_t j1 = JOB(1), j2 = JOB(2), a1 = ALLOC(1), a2 = ALLOC(2), a3 = ALLOC(3);
    te_error_t e;
    int idx;
    ck_assert_ptr_null(slot_table_new(base, 0, NULL, NULL));
    ck_assert_ptr_null(slot_table_new(NULL, 2, NULL, NULL));

    ck_assert_int_eq(slot_table_allocate(t, 2, &j1, &a1, 0, &idx, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "out of range"));
    ck_assert_int_eq(slot_table_allocate(t, 0, &j1, &a1, 0, &idx, &e), TE_OK);
    /* idempotent: same allocation, same slot (or any slot) */
    idx = -1;
    ck_assert_int_eq(slot_table_allocate(t, 0, &j1, &a1, 0, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 0);
    idx = -1;
    ck_assert_int_eq(slot_table_allocate(t, -1, &j1, &a1, 0, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 0);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_ALLOCATED), 1);
    /* slot taken by another allocation */
    ck_assert_int_eq(slot_table_allocate(t, 0, &j1, &a2, 0, &idx, &e), TE_EEXIST);
    ck_assert_ptr_nonnull(strstr(e.msg, "slot 0"));
    /* allocation id already used for another slot */
    ck_assert_int_eq(slot_table_allocate(t, 1, &j1, &a1, 0, &idx, &e), TE_EEXIST);
    ck_assert_ptr_nonnull(strstr(e.msg, "already holds slot 0"));
    /* same allocation id, other job */
    ck_assert_int_eq(slot_table_allocate(t, -1, &j2, &a1, 0, &idx, &e), TE_EEXIST);
    /* fill, then no free slot */
    ck_assert_int_eq(slot_table_allocate(t, -1, &j2, &a2, 0, &idx, &e), TE_OK);
    ck_assert_int_eq(idx, 1);
    ck_assert_int_eq(slot_table_allocate(t, -1, &j2, &a3, 0, &idx, &e), TE_EAGAIN);
    ck_assert_ptr_nonnull(strstr(e.msg, "no free slot"));
    /* mark_active needs the matching job */
    ck_assert_int_eq(slot_table_mark_active(t, &j2, &a1), -1);
    ck_assert_int_eq(slot_table_mark_active(t, &j1, &a3), -1);

    /* slots_of_job */
    int out[4];
    ck_assert_int_eq(slot_table_slots_of_job(t, &j2, out, 4), 1);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(slot_table_slots_of_job(t, &j1, out, 4), 1);
    ck_assert_int_eq(out[0], 0);
    te_id_t j9 = JOB(9);
    ck_assert_int_eq(slot_table_slots_of_job(t, &j9, out, 4), 0);
    slot_table_free(t);
    event_base_free(base);
}
END_TEST

START_TEST(test_add_task_errors)
{
    struct event_base *base = event_base_new();
    te_slot_table_t *t = slot_table_new(base, 2, NULL, NULL);
    te_id_t j1 = JOB(1), j2 = JOB(2), a1 = ALLOC(1), a2 = ALLOC(2), x1 = EXEC(1), x2 = EXEC(2);
    te_error_t e;
    ck_assert_int_eq(slot_table_add_task(t, &j1, &a1, &x1, NULL, &e), TE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "no slot"));
    ck_assert_int_eq(slot_table_allocate(t, 0, &j1, &a1, 0, NULL, &e), TE_OK);
    ck_assert_int_eq(slot_table_allocate(t, 1, &j2, &a2, 0, NULL, &e), TE_OK);
    ck_assert_int_eq(slot_table_mark_active(t, &j1, &a1), 0);
    ck_assert_int_eq(slot_table_mark_active(t, &j2, &a2), 0);
    ck_assert_int_eq(slot_table_add_task(t, &j2, &a1, &x1, NULL, &e), TE_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "belongs to job"));
    ck_assert_int_eq(slot_table_add_task(t, &j1, &a1, &x1, NULL, &e), TE_OK);
    /* duplicate execution id, also in another slot */
    ck_assert_int_eq(slot_table_add_task(t, &j1, &a1, &x1, NULL, &e), TE_EEXIST);
    ck_assert_int_eq(slot_table_add_task(t, &j2, &a2, &x1, NULL, &e), TE_EEXIST);
    ck_assert_ptr_nonnull(strstr(e.msg, "already registered"));
    ck_assert_int_eq(slot_table_add_task(t, &j2, &a2, &x2, NULL, &e), TE_OK);
    ck_assert_int_eq(slot_table_find_by_execution(t, &x1, NULL), 0);
    ck_assert_int_eq(slot_table_find_by_execution(t, &x2, NULL), 1);
    ck_assert_int_eq(slot_table_n_tasks(t), 2);
    slot_table_free(t); /* with tasks still registered: must not leak */
    event_base_free(base);
}
END_TEST

START_TEST(test_free_with_tasks_releasing)
{
    struct event_base *base = event_base_new();
    te_slot_table_t *t = slot_table_new(base, 2, NULL, NULL);
    te_id_t j = JOB(1), a = ALLOC(1);
    te_error_t e;
    ck_assert_int_eq(slot_table_allocate(t, 1, &j, &a, 0, NULL, &e), TE_OK);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), 0);
    enum { N = 50 };
    int objs[N];
    for (int i = 0; i < N; i++) {
        te_id_t x = EXEC((uint8_t)i);
        x.b[7] = (uint8_t)(i * 7);
        ck_assert_int_eq(slot_table_add_task(t, &j, &a, &x, &objs[i], &e), TE_OK);
    }
    /* tasks_of_slot lists exactly the registered ones */
    te_id_t ids[N];
    void *ptrs[N];
    ck_assert_int_eq(slot_table_tasks_of_slot(t, 1, ids, ptrs, N), N);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) {
        int k = (int)((int *)ptrs[i] - objs);
        ck_assert(k >= 0 && k < N);
        ck_assert_int_eq(ids[i].b[15], k);
        seen[k]++;
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_int_eq(slot_table_tasks_of_slot(t, 1, ids, NULL, 3), N); /* cap honoured */
    ck_assert_int_eq(slot_table_tasks_of_slot(t, 0, ids, NULL, N), 0);
    ck_assert_int_eq(slot_table_tasks_of_slot(t, 5, ids, NULL, N), -1);

    ck_assert_int_eq(slot_table_free_slot(t, &a, NULL, &e), TE_OK);
    te_slot_info_t info;
    slot_table_get(t, 1, &info);
    ck_assert_int_eq(info.state, TE_SLOT_RELEASING);
    ck_assert_int_eq(info.n_tasks, N);
    ck_assert_int_eq(slot_table_free_slot(t, &a, NULL, &e), TE_OK); /* again: fine */
    /* not allocatable, no new tasks while releasing */
    te_id_t j2 = JOB(2), a2 = ALLOC(2), xn = EXEC(200);
    ck_assert_int_eq(slot_table_allocate(t, 1, &j2, &a2, 0, NULL, &e), TE_EEXIST);
    ck_assert_int_eq(slot_table_allocate(t, -1, &j, &a, 0, NULL, &e), TE_ESTATE);
    ck_assert_int_eq(slot_table_add_task(t, &j, &a, &xn, NULL, &e), TE_ESTATE);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), -1);
    /* remove every task (the caller "fails" them); the last remove frees the slot */
    for (int i = 0; i < N; i++) {
        slot_table_get(t, 1, &info);
        ck_assert_int_eq(info.state, TE_SLOT_RELEASING);
        ck_assert_int_eq(slot_table_remove_task(t, &ids[i], NULL), TE_OK);
    }
    slot_table_get(t, 1, &info);
    ck_assert_int_eq(info.state, TE_SLOT_FREE);
    ck_assert_int_eq(info.n_tasks, 0);
    ck_assert_int_eq(slot_table_n_tasks(t), 0);
    ck_assert_int_eq(slot_table_find_by_allocation(t, &a), -1);
    ck_assert_int_eq(slot_table_allocate(t, 1, &j2, &a2, 0, NULL, &e), TE_OK);
    slot_table_free(t);
    event_base_free(base);
}
END_TEST

START_TEST(test_timeout_fires)
{
    struct event_base *base = event_base_new();
    timeout_rec_t r = {0};
    te_slot_table_t *t = slot_table_new(base, 2, on_timeout, &r);
    r.t = t;
    r.free_on_timeout = 1;
    te_id_t j = JOB(1), a = ALLOC(1), a2 = ALLOC(2);
    ck_assert_int_eq(slot_table_allocate(t, 0, &j, &a, 20, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_allocate(t, 1, &j, &a2, 0, NULL, NULL), TE_OK); /* no timer */
    for (int i = 0; i < 100 && r.fired == 0; i++)
        run_for_ms(base, 50);
    ck_assert_int_eq(r.fired, 1);
    ck_assert(te_id_equal(&r.last, &a));
    ck_assert_int_eq(slot_table_find_by_allocation(t, &a), -1); /* the callback freed it */
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_FREE), 1);
    ck_assert_int_eq(slot_table_find_by_allocation(t, &a2), 1);
    run_for_ms(base, 60);
    ck_assert_int_eq(r.fired, 1); /* fires once */
    slot_table_free(t);
    event_base_free(base);
}
END_TEST

START_TEST(test_mark_active_cancels_timeout)
{
    struct event_base *base = event_base_new();
    timeout_rec_t r = {0};
    te_slot_table_t *t = slot_table_new(base, 2, on_timeout, &r);
    r.t = t;
    r.free_on_timeout = 1;
    te_id_t j = JOB(1), a = ALLOC(1), b = ALLOC(2);
    ck_assert_int_eq(slot_table_allocate(t, 0, &j, &a, 30, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_allocate(t, 1, &j, &b, 30, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a), 0);
    /* b is the control: its timer must fire; a's must not */
    for (int i = 0; i < 100 && r.fired == 0; i++)
        run_for_ms(base, 50);
    run_for_ms(base, 100);
    ck_assert_int_eq(r.fired, 1);
    ck_assert(te_id_equal(&r.last, &b));
    te_slot_info_t info;
    slot_table_get(t, 0, &info);
    ck_assert_int_eq(info.state, TE_SLOT_ACTIVE);
    /* free cancels the timer too */
    ck_assert_int_eq(slot_table_allocate(t, 1, &j, &b, 30, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_free_slot(t, &b, NULL, NULL), TE_OK);
    run_for_ms(base, 150);
    ck_assert_int_eq(r.fired, 1);
    /* mark_inactive restarts it */
    ck_assert_int_eq(slot_table_mark_inactive(t, &a, 20), 0);
    for (int i = 0; i < 100 && r.fired == 1; i++)
        run_for_ms(base, 50);
    ck_assert_int_eq(r.fired, 2);
    ck_assert(te_id_equal(&r.last, &a));
    slot_table_free(t);
    event_base_free(base);
}
END_TEST

START_TEST(test_snapshot)
{
    struct event_base *base = event_base_new();
    te_slot_table_t *t = slot_table_new(base, 4, NULL, NULL);
    te_id_t j = JOB(1), a0 = ALLOC(10), a2 = ALLOC(12), x = EXEC(1);
    ck_assert_int_eq(slot_table_allocate(t, 0, &j, &a0, 0, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_allocate(t, 2, &j, &a2, 0, NULL, NULL), TE_OK);
    ck_assert_int_eq(slot_table_mark_active(t, &j, &a2), 0);
    ck_assert_int_eq(slot_table_add_task(t, &j, &a2, &x, NULL, NULL), TE_OK);
    te_slot_info_t snap[4];
    ck_assert_int_eq(slot_table_snapshot(t, snap, 4), 4);
    te_slot_state_t want[4] = {TE_SLOT_ALLOCATED, TE_SLOT_FREE, TE_SLOT_ACTIVE, TE_SLOT_FREE};
    int want_tasks[4] = {0, 0, 1, 0};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(snap[i].index, i);
        ck_assert_int_eq(snap[i].state, want[i]);
        ck_assert_int_eq(snap[i].n_tasks, want_tasks[i]);
    }
    ck_assert(te_id_equal(&snap[2].allocation_id, &a2));
    ck_assert(te_id_equal(&snap[0].job_id, &j));
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_FREE), 2);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_ALLOCATED), 1);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_ACTIVE), 1);
    ck_assert_int_eq(slot_table_count(t, TE_SLOT_RELEASING), 0);
    ck_assert_int_eq(slot_table_snapshot(t, snap, 2), 4); /* partial fill */
    ck_assert_int_eq(slot_table_get(t, 4, snap), -1);
    slot_table_free(t);
    event_base_free(base);
}
END_TEST

Suite *slot_table_suite(void)
{
    Suite *s = suite_create("slot_table");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_lifecycle);
    tcase_add_test(tc, test_allocate_errors);
    tcase_add_test(tc, test_add_task_errors);
    tcase_add_test(tc, test_free_with_tasks_releasing);
    tcase_add_test(tc, test_timeout_fires);
    tcase_add_test(tc, test_mark_active_cancels_timeout);
    tcase_add_test(tc, test_snapshot);
    suite_add_tcase(s, tc);
    return s;
}
