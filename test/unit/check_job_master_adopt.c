/*
 * Unit tests: the JobMaster's adoption of a running attempt (lib/jobmaster/
 * job_master_adopt, high availability) over fake TaskExecutors and the fake provider
 * (harness_job_master.h): the provider is asked to adopt the given ids, the job runs
 * without a SubmitTask, a checkpoint id a deposed leader may have used is aborted and
 * its directory deleted, checkpoints go on from the next id and are confirmed to every
 * task; a failed adoption deploys a new attempt. Expected values are written out here
 * from the rules.
 *
 * Threading: single-threaded; no event loop runs.
 */
#define _GNU_SOURCE
#include "harness_job_master.h"

/* Random ids of a running attempt (5 tasks in 3 slots) to adopt. */
static void adoption_ids(te_id_t *ids)
{
    for (int i = 0; i < 8; i++)
        te_id_random(&ids[i]);
}

START_TEST(test_adopt_running_attempt)
{
    env_t e;
    te_id_t ids[8], *execs = ids, *allocs = ids + 5;
    adoption_ids(ids);
    te_job_adoption_t a = {4, execs, 5, allocs, 3, 1000};
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .adopt = &a, .stale_chk = 2});
    job_master_start(e.jm);
    /* the provider is asked to adopt attempt 4 with the given ids, nothing is requested */
    ck_assert(e.prov.n_adopts == 1 && e.prov.n_requests == 0 && e.prov.last_attempt == 4);
    ck_assert(e.prov.n_reqs == 3 && e.prov.n_adopt_execs == 5);
    for (int i = 0; i < 5; i++)
        ck_assert(te_id_equal(&e.prov.adopt_execs[i], &execs[i]) &&
                  (i >= 3 || te_id_equal(&e.prov.reqs[i].allocation_id, &allocs[i])));
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_WAITING_FOR_SLOTS);
    for (size_t k = 0; k < 3; k++)
        fake_provider_offer(&e.prov, k);
    deliver(&e);
    /* running without a single SubmitTask, under the same ids and attempt */
    ck_assert(job_master_state(e.jm) == TE_JOB_RUNNING && count(&e, FAKE_SUBMIT) == 0 && e.n_plans == 1);
    ck_assert(job_master_adopted(e.jm) && job_master_attempt(e.jm) == 4);
    for (size_t i = 0; i < 5; i++)
        ck_assert(te_id_equal(&job_plan_task(job_master_plan(e.jm), i)->execution_id, &execs[i]));
    /* no completed checkpoint: nothing confirmed; ids 1 and 2 (chk-2 exists) aborted on
     * every task and chk-2 deleted */
    ck_assert_uint_eq(count(&e, FAKE_CONFIRM), 0);
    ck_assert_uint_eq(count(&e, FAKE_ABORT), 10);
    char chk[256];
    snprintf(chk, sizeof(chk), "%s/%s/chk-2", e.dir, job_master_job_hex(e.jm));
    ck_assert_int_ne(access(chk, F_OK), 0);
    /* checkpoint 3 (the next id) is triggered on the two sources (tasks 0 and 1) */
    advance(&e, 100);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2);
    for (int i = 0; i < 2; i++) {
        const fake_call_t *t = fake_te_call(&e.te[i], FAKE_TRIGGER, 0);
        ck_assert_uint_eq(t->ckpt, 3);
        ck_assert(te_id_equal(&t->id, &execs[0]) || te_id_equal(&t->id, &execs[1]));
    }
    /* acknowledged by all five: completed and confirmed to all five; then they finish */
    for (int i = 0; i < 5; i++)
        fake_te_ack(&e.te[i % 2], &execs[i], 3, "adopted");
    deliver(&e);
    ck_assert(e.n_checkpoints == 1 && e.last_checkpoint == 3 && count(&e, FAKE_CONFIRM) == 5);
    for (int i = 0; i < 5; i++)
        fake_te_push_state(&e.te[i % 2], &execs[i], TE__EXECUTION_STATE__FINISHED, NULL);
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FINISHED);
    ck_assert_uint_eq(count(&e, FAKE_FREE_SLOT), 3);
    env_teardown(&e);
}
END_TEST

START_TEST(test_adopt_failed_deploys_anew)
{
    env_t e;
    te_id_t ids[8], *execs = ids, *allocs = ids + 5;
    adoption_ids(ids);
    te_job_adoption_t a = {4, execs, 5, allocs, 3, 1000};
    env_setup(&e, (opts_t){.adopt = &a});
    job_master_start(e.jm);
    ck_assert_int_eq(e.prov.n_adopts, 1);
    job_master_adopt_failed(e.jm, "task x is FAILED");
    /* a new attempt (5) with new ids, deployed on the slots the provider offers */
    ck_assert_int_eq(e.prov.n_requests, 1);
    ck_assert_uint_eq(e.prov.last_attempt, 5);
    for (int i = 0; i < 3; i++)
        ck_assert(!te_id_equal(&e.prov.reqs[i].allocation_id, &allocs[i]));
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_DEPLOYING);
    ck_assert(count(&e, FAKE_SUBMIT) == 5 && fake_te_call(&e.te[0], FAKE_SUBMIT, 0)->attempt == 5);
    ck_assert_int_eq(job_master_adopted(e.jm), 0);
    ck_assert_ptr_nonnull(strstr(e.logs, "cannot be adopted: task x is FAILED"));
    /* a second report is ignored */
    job_master_adopt_failed(e.jm, "again");
    ck_assert_int_eq(e.prov.n_requests, 1);
    deliver(&e); /* the SubmitTask calls answered: nothing in flight at the teardown */
    env_teardown(&e);
}
END_TEST

Suite *job_master_adopt_suite(void)
{
    Suite *s = suite_create("job_master_adopt");
    TCase *tc = tcase_create("job_master_adopt");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_adopt_running_attempt);
    tcase_add_test(tc, test_adopt_failed_deploys_anew);
    suite_add_tcase(s, tc);
    return s;
}
