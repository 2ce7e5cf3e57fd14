/*
 * Unit tests: the JobMaster state machine (lib/jobmaster/job_master) over fake
 * TaskExecutors (harness_fake_te.h) and a fake clock — placement on offered slots,
 * deployment, the end of a job, restart decisions (task failure, lost executor,
 * rejected deployment, the restart budget), cancellation, checkpoint coordination
 * (triggers on sources only, acks -> _metadata + confirmations, declines -> aborts,
 * tolerable failed checkpoints, restore on restart, savepoints and stop-with-savepoint),
 * Expected values are written out here from the rules, not computed by the code under
 * test (adoption: check_job_master_adopt.c; restart_strategy and
 * checkpoint_failure_manager: check_restart_strategy.c).
 *
 * Threading: single-threaded; no event loop runs (the JobMaster's timer is never
 * waited for: the tests move the fake clock and call job_master_drive).
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness_job_master.h"
#include "jobmaster/checkpoint_failure_manager.h"

/* ---- placement, deployment, the end ---------------------------------------------- */

START_TEST(test_deploy_and_finish)
{
    env_t e;
    env_setup(&e, (opts_t){0});
    job_master_start(e.jm);
    /* 3 shared slots requested with distinct allocation ids; all offered at once. */
    ck_assert_int_eq(e.prov.n_requests, 1);
    ck_assert_uint_eq(e.prov.n_reqs, 3);
    ck_assert(!te_id_equal(&e.prov.reqs[0].allocation_id, &e.prov.reqs[1].allocation_id));
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_DEPLOYING);
    ck_assert_int_eq(e.n_plans, 1);
    /* slot k on te(k % 2): te0 holds slots 0 and 2 -> src 0, sink 0, sink 2; te1 src 1, sink 1. */
    ck_assert_uint_eq(fake_te_count(&e.te[0], FAKE_SUBMIT), 3);
    ck_assert_uint_eq(fake_te_count(&e.te[1], FAKE_SUBMIT), 2);
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < fake_te_count(&e.te[i], FAKE_SUBMIT); k++) {
            const fake_call_t *c = fake_te_call(&e.te[i], FAKE_SUBMIT, k);
            size_t slot = (size_t)(c->slot - 10); /* the provider numbers slot k 10 + k */
            ck_assert_uint_eq(slot % 2, (size_t)i);
            ck_assert(te_id_equal(&c->allocation, &e.prov.reqs[slot].allocation_id));
            ck_assert_uint_eq(c->attempt, 0);
            ck_assert(!c->has_restore);
        }
    /* producers first: te0's first submission is the source */
    ck_assert_str_eq(fake_te_call(&e.te[0], FAKE_SUBMIT, 0)->task_name, "src (1/2)");
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    push_all(&e, 0, TE__EXECUTION_STATE__RUNNING);
    push_all(&e, 0, TE__EXECUTION_STATE__FINISHED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FINISHED);
    /* every slot freed with its allocation id, the provider released once */
    ck_assert_uint_eq(count(&e, FAKE_FREE_SLOT), 3);
    for (size_t s = 0; s < 3; s++)
        ck_assert(
            te_id_equal(&fake_te_call(&e.te[s % 2], FAKE_FREE_SLOT, s / 2)->id, &e.prov.reqs[s].allocation_id));
    ck_assert_int_eq(e.prov.n_releases, 1);
    te_job_result_t r;
    job_master_result(e.jm, &r);
    ck_assert_int_eq(r.state, TE_JOB_FINISHED);
    ck_assert_uint_eq(r.n_finished, 5);
    ck_assert_int_eq(e.states[e.n_states - 2], TE_JOB_RELEASING);
    env_teardown(&e);
}
END_TEST

START_TEST(test_slots_offered_one_by_one)
{
    env_t e;
    env_setup(&e, (opts_t){.hold = 1});
    job_master_start(e.jm);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_WAITING_FOR_SLOTS);
    fake_provider_offer(&e.prov, 2);
    fake_provider_offer(&e.prov, 0);
    fake_provider_offer(&e.prov, 0); /* a duplicate offer is ignored */
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_WAITING_FOR_SLOTS);
    ck_assert_uint_eq(count(&e, FAKE_SUBMIT), 0);
    /* heartbeats go to the executors offering slots while the job waits */
    advance(&e, 1000);
    ck_assert_uint_eq(fake_te_count(&e.te[0], FAKE_HEARTBEAT), 1);
    fake_provider_offer(&e.prov, 1);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_DEPLOYING); /* the last offer deploys */
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    ck_assert_uint_eq(count(&e, FAKE_SUBMIT), 5);
    job_master_cancel(e.jm, NULL);
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELED);
    env_teardown(&e);
}
END_TEST

/* An executor lost after it offered its slot: its tasks are not deployed and count as
 * failed at once (nothing waits for them). */
START_TEST(test_executor_lost_before_deployment)
{
    env_t e;
    env_setup(&e, (opts_t){.hold = 1});
    job_master_start(e.jm);
    fake_provider_offer(&e.prov, 0);
    fake_provider_offer(&e.prov, 1);
    fake_te_lose(&e.te[1], "gone");
    fake_provider_offer(&e.prov, 2);
    ck_assert_uint_eq(fake_te_count(&e.te[1], FAKE_SUBMIT), 0);
    ck_assert_uint_eq(fake_te_count(&e.te[0], FAKE_SUBMIT), 3);
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    fake_te_push_all(&e.te[0], 0, TE__EXECUTION_STATE__CANCELED);
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    te_job_result_t r;
    job_master_result(e.jm, &r);
    ck_assert_str_eq(r.cause, "an executor was lost");
    ck_assert_uint_eq(r.n_failed, 2);
    env_teardown(&e);
}
END_TEST

START_TEST(test_unavailable_slots_fail_or_restart)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 1});
    e.prov.unavailable = 1;
    job_master_start(e.jm);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    ck_assert_str_eq(e.last_restart_cause, "the executors could not be used");
    ck_assert_ptr_nonnull(strstr(e.logs, "the fake has no slots"));
    e.prov.unavailable = 1;
    advance(&e, 200);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    ck_assert_int_eq(e.prov.n_requests, 2);
    ck_assert_int_eq(e.prov.n_releases, 2);
    env_teardown(&e);
}
END_TEST

/* ---- restart decisions ---------------------------------------------------------------- */

START_TEST(test_task_failure_restarts_then_fails)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 2});
    start_running(&e);
    const fake_call_t *sink = fake_te_call(&e.te[1], FAKE_SUBMIT, 1);
    ck_assert_str_eq(sink->task_name, "sink (2/3)");
    fake_te_push_state(&e.te[1], &sink->id, TE__EXECUTION_STATE__FAILED, "boom");
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    /* every other task is cancelled, the failed one is not */
    ck_assert_uint_eq(count(&e, FAKE_CANCEL), 4);
    for (size_t k = 0; k < fake_te_count(&e.te[1], FAKE_CANCEL); k++)
        ck_assert(!te_id_equal(&fake_te_call(&e.te[1], FAKE_CANCEL, k)->id, &sink->id));
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    ck_assert_int_eq(e.n_restarts, 1);
    ck_assert_str_eq(e.last_restart_cause, "sink (2/3) failed: boom");
    ck_assert_int_eq(e.last_restart_attempt, 1);
    ck_assert_uint_eq(e.last_restart_ckpt, 0);
    ck_assert_uint_eq(count(&e, FAKE_FREE_SLOT), 3);
    /* the backoff: nothing before 200 ms */
    advance(&e, 199);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    advance(&e, 1);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    ck_assert_int_eq(e.prov.last_attempt, 1);
    ck_assert_uint_eq(count(&e, FAKE_SUBMIT), 10);
    const fake_call_t *again = fake_te_call(&e.te[1], FAKE_SUBMIT, 3);
    ck_assert_uint_eq(again->attempt, 1);
    ck_assert(!te_id_equal(&again->id, &sink->id)); /* new execution ids */
    /* second failure: restart 2 of 2; third: FAILED */
    for (int round = 1; round <= 2; round++) {
        push_all(&e, (uint32_t)round, TE__EXECUTION_STATE__RUNNING);
        fake_te_push_state(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 3 * (size_t)round)->id,
                           TE__EXECUTION_STATE__FAILED, "again");
        deliver(&e);
        push_all(&e, (uint32_t)round, TE__EXECUTION_STATE__CANCELED);
        if (round == 1) {
            ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
            advance(&e, 200);
        }
    }
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    te_job_result_t r;
    job_master_result(e.jm, &r);
    ck_assert_str_eq(r.cause, "src (1/2) failed: again");
    ck_assert_str_eq(r.task_cause, "again");
    ck_assert_int_eq(r.restarts, 2);
    ck_assert(!r.cause_reported);
    env_teardown(&e);
}
END_TEST

START_TEST(test_lost_executor_restarts)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 1});
    start_running(&e);
    fake_te_lose(&e.te[1], "connection reset");
    ck_assert_ptr_nonnull(strstr(e.logs, "lost the connection to executor te1:6122: connection reset"));
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    ck_assert_str_eq(e.last_restart_cause, "an executor was lost");
    /* no FreeSlot to the lost executor */
    ck_assert_uint_eq(fake_te_count(&e.te[1], FAKE_FREE_SLOT), 0);
    ck_assert_uint_eq(fake_te_count(&e.te[0], FAKE_FREE_SLOT), 2);
    env_teardown(&e);
}
END_TEST

START_TEST(test_rejected_deployment_is_not_restarted)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 5});
    e.te[1].answers[FAKE_SUBMIT] = TE__ERROR_CODE__INVALID_CHAIN;
    job_master_start(e.jm);
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    ck_assert_int_eq(e.n_restarts, 0);
    ck_assert_ptr_nonnull(strstr(e.logs, "rejected by te1:6122: FAKE_ERROR"));
    te_job_result_t r;
    job_master_result(e.jm, &r);
    ck_assert(r.cause_reported);
    /* a recoverable rejection (e.g. no slot) is restarted */
    env_teardown(&e);
    env_setup(&e, (opts_t){.restarts = 1});
    e.te[0].answers[FAKE_SUBMIT] = TE__ERROR_CODE__SLOT_NOT_AVAILABLE;
    job_master_start(e.jm);
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    env_teardown(&e);
}
END_TEST

/* ---- cancellation ------------------------------------------------------------------------ */

START_TEST(test_cancel_and_forced_cancel)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 3});
    start_running(&e);
    job_master_cancel(e.jm, NULL);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELLING);
    ck_assert_uint_eq(count(&e, FAKE_CANCEL), 5);
    deliver(&e);
    /* two tasks never answer; a second cancel stops waiting for them */
    fake_te_push_all(&e.te[0], 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELLING);
    job_master_cancel(e.jm, "interrupted again");
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELED);
    ck_assert_ptr_nonnull(strstr(e.logs, "interrupted again; not waiting for: src (2/2) sink (2/3)"));
    ck_assert_int_eq(e.n_restarts, 0);
    env_teardown(&e);
    /* the cancellation wait ends by itself after cancel_wait_ms */
    env_setup(&e, (opts_t){0});
    start_running(&e);
    job_master_cancel(e.jm, NULL);
    deliver(&e);
    advance(&e, 2999);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELLING);
    advance(&e, 1);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELED);
    ck_assert_ptr_nonnull(strstr(e.logs, "tasks did not reach a final state in time"));
    env_teardown(&e);
}
END_TEST

START_TEST(test_externally_cancelled_task_ends_the_job)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 3});
    start_running(&e);
    fake_te_push_state(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 1)->id, TE__EXECUTION_STATE__CANCELED, NULL);
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_CANCELED);
    ck_assert_int_eq(e.n_restarts, 0);
    env_teardown(&e);
}
END_TEST

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* Acks checkpoint id from every task of attempt `attempt`. */
static void ack_all(env_t *e, uint32_t attempt, uint64_t id)
{
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < fake_te_count(&e->te[i], FAKE_SUBMIT); k++) {
            const fake_call_t *c = fake_te_call(&e->te[i], FAKE_SUBMIT, k);
            if (c->attempt == attempt)
                fake_te_ack(&e->te[i], &c->id, id, c->task_name);
        }
    deliver(e);
}

START_TEST(test_checkpoint_trigger_ack_confirm)
{
    env_t e;
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .restarts = 1});
    start_running(&e);
    advance(&e, 99);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 0);
    advance(&e, 1);
    /* checkpoint 1 triggered on the two sources only */
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2);
    for (int i = 0; i < 2; i++) {
        const fake_call_t *t = fake_te_call(&e.te[i], FAKE_TRIGGER, 0);
        ck_assert_uint_eq(t->ckpt, 1);
        ck_assert(te_id_equal(&t->id, &fake_te_call(&e.te[i], FAKE_SUBMIT, 0)->id));
    }
    advance(&e, 100); /* one pending at a time */
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2);
    ack_all(&e, 0, 1);
    ck_assert_int_eq(e.n_checkpoints, 1);
    ck_assert_uint_eq(count(&e, FAKE_CONFIRM), 5);
    char chk[128];
    snprintf(chk, sizeof(chk), "%s/%s/chk-1", e.dir, job_master_job_hex(e.jm));
    te_error_t err = {0};
    te_ckpt_metadata_t *m = checkpoint_metadata_read(chk, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ck_assert_uint_eq(m->checkpoint_id, 1);
    ck_assert_uint_eq(m->n_vertices, 2);
    ck_assert_str_eq(m->vertices[1].id, "sink");
    ck_assert_uint_eq(m->vertices[1].n_handles, 3);
    checkpoint_metadata_free(m);
    /* the next interval triggers checkpoint 2 */
    advance(&e, 100);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 4);
    ck_assert_uint_eq(fake_te_call(&e.te[1], FAKE_TRIGGER, 1)->ckpt, 2);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    env_teardown(&e);
}
END_TEST

/* ---- savepoints --------------------------------------------------------------------- */

typedef struct sp_seen {
    int n;
    uint64_t id;
    char cause[256];
} sp_seen_t;

static void on_sp(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m, const char *cause)
{
    sp_seen_t *s = arg;
    (void)jm;
    s->n++;
    s->id = m ? m->checkpoint_id : 0;
    snprintf(s->cause, sizeof(s->cause), "%s", cause ? cause : "");
}

START_TEST(test_stop_with_savepoint_without_interval)
{
    env_t e;
    sp_seen_t sp = {0};
    te_error_t err = {0};
    env_setup(&e, (opts_t){0});
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 1, on_sp, &sp, &err), TE_ESTATE); /* not running */
    start_running(&e);
    advance(&e, 10000);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 0); /* no periodic checkpoints */
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 1, on_sp, &sp, &err), TE_OK);
    deliver(&e);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2); /* on the two sources, with terminate */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(fake_te_call(&e.te[i], FAKE_TRIGGER, 0)->terminate, 1);
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 0, on_sp, &sp, &err), TE_ESTATE); /* one at a time */
    ck_assert_int_eq(sp.n, 0);
    ack_all(&e, 0, 1);
    ck_assert_int_eq(sp.n, 1);
    ck_assert_uint_eq(sp.id, 1);
    ck_assert_uint_eq(count(&e, FAKE_CONFIRM), 5);
    push_all(&e, 0, TE__EXECUTION_STATE__FINISHED); /* the sources ended at the barrier */
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FINISHED);
    ck_assert_int_eq(sp.n, 1);
    env_teardown(&e);
}
END_TEST

START_TEST(test_savepoint_after_pending_checkpoint_then_declined)
{
    env_t e;
    sp_seen_t sp = {0};
    te_error_t err = {0};
    env_setup(&e, (opts_t){.checkpoint_interval = 100});
    start_running(&e);
    advance(&e, 100); /* checkpoint 1 pending */
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2);
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 0, on_sp, &sp, &err), TE_OK);
    deliver(&e);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2); /* waits for checkpoint 1 */
    ack_all(&e, 0, 1);
    advance(&e, 0);
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 4); /* savepoint 2 at once, not after the interval */
    const fake_call_t *t = fake_te_call(&e.te[0], FAKE_TRIGGER, 1);
    ck_assert_uint_eq(t->ckpt, 2);
    ck_assert_int_eq(t->terminate, 0);
    fake_te_decline(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 0)->id, 2, "disk full");
    deliver(&e);
    advance(&e, 0);
    ck_assert_int_eq(sp.n, 1);
    ck_assert_uint_eq(sp.id, 0);
    ck_assert_msg(strstr(sp.cause, "disk full") != NULL, "cause: %s", sp.cause);
    env_teardown(&e);
}
END_TEST

START_TEST(test_savepoint_fails_when_the_attempt_ends)
{
    env_t e;
    sp_seen_t sp = {0};
    te_error_t err = {0};
    env_setup(&e, (opts_t){.restarts = 1});
    start_running(&e);
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 0, on_sp, &sp, &err), TE_OK);
    deliver(&e);
    fake_te_push_state(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 0)->id, TE__EXECUTION_STATE__FAILED, "boom");
    deliver(&e);
    advance(&e, 0);
    ck_assert_int_eq(sp.n, 1);
    ck_assert_uint_eq(sp.id, 0);
    ck_assert_msg(strstr(sp.cause, "ended before acknowledging") != NULL, "cause: %s", sp.cause);
    env_teardown(&e);
}
END_TEST

/* A metadata writer that holds the writes until the test runs them. */
typedef struct held_write {
    const te_ckpt_metadata_t *m;
    char dir[256];
    void (*done)(void *arg, const te_error_t *err);
    void *arg;
    int n;
} held_write_t;

static void hold_write(void *self, const te_ckpt_metadata_t *m, const char *job_dir, size_t keep,
                       void (*done)(void *arg, const te_error_t *err), void *arg)
{
    held_write_t *h = self;
    (void)keep;
    h->m = m;
    snprintf(h->dir, sizeof(h->dir), "%s", job_dir);
    h->done = done;
    h->arg = arg;
    h->n++;
}

static void run_write(held_write_t *h)
{
    te_error_t err = {0};
    ck_assert_int_eq(checkpoint_metadata_write(h->m, h->dir, &err), TE_OK);
    void (*done)(void *, const te_error_t *) = h->done;
    h->done = NULL;
    done(h->arg, NULL);
}

START_TEST(test_metadata_written_off_the_loop)
{
    env_t e;
    held_write_t h = {0};
    sp_seen_t sp = {0};
    te_error_t err = {0};
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .writer = {hold_write, &h}});
    start_running(&e);
    advance(&e, 100);
    ack_all(&e, 0, 1);
    ck_assert_int_eq(h.n, 1); /* handed to the writer: not complete yet */
    ck_assert_int_eq(e.n_checkpoints, 0);
    ck_assert_uint_eq(count(&e, FAKE_CONFIRM), 0);
    ck_assert_int_eq(job_master_trigger_savepoint(e.jm, 0, on_sp, &sp, &err), TE_OK);
    advance(&e, 300); /* no trigger while the write runs, not even the savepoint */
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2);
    run_write(&h);
    deliver(&e);
    ck_assert_int_eq(e.n_checkpoints, 1);
    ck_assert_uint_eq(count(&e, FAKE_CONFIRM), 5);
    advance(&e, 0); /* now the savepoint (2) */
    ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 4);
    ack_all(&e, 0, 2);
    ck_assert_int_eq(sp.n, 0); /* reported once written */
    run_write(&h);
    deliver(&e);
    ck_assert_int_eq(sp.n, 1);
    ck_assert_uint_eq(sp.id, 2);
    /* a write still in flight when the JobMaster is freed completes harmlessly later */
    advance(&e, 100);
    ack_all(&e, 0, 3);
    ck_assert_int_eq(h.n, 3);
    job_master_free(e.jm);
    e.jm = NULL;
    h.done(h.arg, NULL); /* no JobMaster: the metadata it handed over is freed here */
    env_teardown(&e);
}
END_TEST

/* A write the metadata writer gives up because the JobManager stops (TE_ECANCELED:
 * deposed, shutting down) is abandoned quietly; an I/O error is a checkpoint failure
 * (tolerable 0: the job fails over). */
START_TEST(test_cancelled_metadata_write_is_not_a_failure)
{
    env_t e;
    held_write_t h = {0};
    te_error_t cancel = {0}, io = {0};
    te_error_set(&cancel, TE_ECANCELED, "the JobManager stopped");
    te_error_set(&io, TE_EIO, "disk full");
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .restarts = 1, .writer = {hold_write, &h}});
    start_running(&e);
    advance(&e, 100);
    ack_all(&e, 0, 1);
    ck_assert_int_eq(h.n, 1);
    h.done(h.arg, &cancel);
    deliver(&e);
    ck_assert_int_eq(e.n_checkpoints, 0);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    ck_assert_uint_eq(count(&e, FAKE_CANCEL), 0);
    advance(&e, 100);
    ack_all(&e, 0, 2);
    ck_assert_int_eq(h.n, 2);
    h.done(h.arg, &io);
    deliver(&e);
    ck_assert_int_eq(e.n_checkpoints, 0);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    env_teardown(&e);
}
END_TEST

START_TEST(test_decline_counts_against_tolerable_failures)
{
    /* default tolerable-failed-checkpoints 0: the first decline fails the job over */
    env_t e;
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .restarts = 1});
    start_running(&e);
    advance(&e, 100);
    ack_all(&e, 0, 1);
    advance(&e, 100);
    /* a task wrote its snapshot of checkpoint 2 before another declined it */
    char chk2[400];
    snprintf(chk2, sizeof(chk2), "mkdir -p %s/%s/chk-2 && touch %s/%s/chk-2/v-0", e.dir, job_master_job_hex(e.jm),
             e.dir, job_master_job_hex(e.jm));
    ck_assert_int_eq(system(chk2), 0);
    const fake_call_t *sink = fake_te_call(&e.te[1], FAKE_SUBMIT, 1);
    fake_te_decline(&e.te[1], &sink->id, 2, "disk full");
    snprintf(chk2, sizeof(chk2), "%s/%s/chk-2", e.dir, job_master_job_hex(e.jm));
    ck_assert_int_ne(access(chk2, F_OK), 0); /* the aborted checkpoint's directory is gone */
    ck_assert_int_eq(e.n_aborted, 1);
    ck_assert_uint_eq(e.last_aborted, 2);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    ck_assert_uint_eq(count(&e, FAKE_ABORT), 5);
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RESTARTING);
    ck_assert_str_eq(e.last_restart_cause, TE_CKPT_EXCEEDED_TOLERABLE_MESSAGE);
    ck_assert_uint_eq(e.last_restart_ckpt, 1);
    /* the new attempt restores checkpoint 1: every task gets its vertex's handles */
    advance(&e, 200);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    for (int i = 0; i < 2; i++)
        for (size_t k = 0; k < fake_te_count(&e.te[i], FAKE_SUBMIT); k++) {
            const fake_call_t *c = fake_te_call(&e.te[i], FAKE_SUBMIT, k);
            if (c->attempt != 1)
                continue;
            ck_assert(c->has_restore);
            ck_assert_uint_eq(c->restore_id, 1);
            ck_assert_uint_eq(c->n_restore_handles, strncmp(c->task_name, "src", 3) == 0 ? 2 : 3);
        }
    env_teardown(&e);
}
END_TEST

START_TEST(test_tolerable_expirations)
{
    env_t e;
    env_setup(&e, (opts_t){.config = "\"" TE_CKPT_TOLERABLE_FAILURES_KEY "\": 2",
                           .checkpoint_interval = 100,
                           .restarts = 1});
    start_running(&e);
    /* checkpoints 1 and 2 expire (timeout 500 ms): tolerated */
    for (uint64_t id = 1; id <= 2; id++) {
        advance(&e, 100);
        ck_assert_uint_eq(count(&e, FAKE_TRIGGER), 2 * id);
        advance(&e, 500);
        ck_assert_uint_eq(e.last_aborted, id);
    }
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    /* 3 completes: the count starts again; 4, 5 expire; 6 expiring is the third in a row */
    advance(&e, 100);
    ack_all(&e, 0, 3);
    ck_assert_int_eq(e.n_checkpoints, 1);
    for (uint64_t id = 4; id <= 6; id++) {
        advance(&e, 100);
        advance(&e, 500);
        ck_assert_uint_eq(e.last_aborted, id);
        ck_assert_int_eq(job_master_state(e.jm), id < 6 ? TE_JOB_RUNNING : TE_JOB_FAILING);
    }
    env_teardown(&e);
}
END_TEST

START_TEST(test_finished_task_aborts_quietly)
{
    env_t e;
    env_setup(&e, (opts_t){.checkpoint_interval = 100});
    start_running(&e);
    advance(&e, 100);
    /* a source finishes while checkpoint 1 waits for it: aborted quietly, not counted */
    fake_te_push_state(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 0)->id, TE__EXECUTION_STATE__FINISHED, NULL);
    deliver(&e);
    ck_assert_int_eq(e.n_aborted, 0);
    ck_assert_uint_eq(count(&e, FAKE_ABORT), 4);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    push_all(&e, 0, TE__EXECUTION_STATE__FINISHED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FINISHED);
    env_teardown(&e);
}
END_TEST

/* A restored checkpoint a task cannot read: the previous retained one is deployed
 * instead (not a restart); with none older the job fails without further restarts. */
START_TEST(test_unreadable_checkpoint_falls_back)
{
    env_t e;
    env_setup(&e, (opts_t){.checkpoint_interval = 100, .restarts = 1});
    start_running(&e);
    for (uint64_t id = 1; id <= 2; id++) {
        advance(&e, 100);
        ack_all(&e, 0, id);
    }
    ck_assert_int_eq(e.n_checkpoints, 2);
    fake_te_push_state(&e.te[0], &fake_te_call(&e.te[0], FAKE_SUBMIT, 1)->id, TE__EXECUTION_STATE__FAILED, "x");
    deliver(&e);
    push_all(&e, 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_uint_eq(e.last_restart_ckpt, 2);
    advance(&e, 200);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    /* attempt 1 restored checkpoint 2; a task cannot read it */
    const fake_call_t *c = fake_te_call(&e.te[1], FAKE_SUBMIT, 2);
    ck_assert_uint_eq(c->attempt, 1);
    ck_assert_uint_eq(c->restore_id, 2);
    fake_te_push_state_ex(&e.te[1], &c->id, TE__EXECUTION_STATE__FAILED, "checksum mismatch", 1);
    deliver(&e);
    push_all(&e, 1, TE__EXECUTION_STATE__CANCELED);
    ck_assert_msg(strstr(e.logs, "checkpoint 2 cannot be restored (src (2/2) failed: checksum mismatch): falling "
                                 "back to checkpoint 1") != NULL,
                  "%s", e.logs);
    ck_assert_int_eq(e.n_restarts, 1); /* not a restart */
    advance(&e, 0);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    c = fake_te_call(&e.te[1], FAKE_SUBMIT, 4);
    ck_assert_uint_eq(c->attempt, 2);
    ck_assert_uint_eq(c->restore_id, 1);
    /* checkpoint 1 unreadable too: nothing older, no restart is tried */
    fake_te_push_state_ex(&e.te[1], &c->id, TE__EXECUTION_STATE__FAILED, "gone", 1);
    deliver(&e);
    push_all(&e, 2, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    ck_assert_ptr_nonnull(
        strstr(e.logs, "checkpoint 1 cannot be restored and no older retained checkpoint is valid"));
    env_teardown(&e);
}
END_TEST

/* ---- progress, timeouts --------------------------------------------------------------------- */

START_TEST(test_heartbeats_and_lost_heartbeat)
{
    env_t e;
    env_setup(&e, (opts_t){.restarts = 0});
    start_running(&e);
    advance(&e, 1000);
    ck_assert_uint_eq(fake_te_count(&e.te[0], FAKE_HEARTBEAT), 1);
    ck_assert_uint_eq(fake_te_count(&e.te[1], FAKE_HEARTBEAT), 1);
    e.te[0].answers[FAKE_HEARTBEAT] = TE__ERROR_CODE__UNKNOWN_JOB;
    advance(&e, 1000);
    ck_assert_ptr_nonnull(strstr(e.logs, "heartbeat to te0:6122: FAKE_ERROR"));
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RUNNING);
    e.te[1].lose_calls = 1;
    advance(&e, 1000);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILING);
    deliver(&e);
    fake_te_push_all(&e.te[0], 0, TE__EXECUTION_STATE__CANCELED);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_RELEASING); /* until FreeSlot is answered */
    deliver(&e);
    ck_assert_int_eq(job_master_state(e.jm), TE_JOB_FAILED);
    te_job_result_t r;
    job_master_result(e.jm, &r);
    ck_assert_str_eq(r.cause, "an executor was lost");
    env_teardown(&e);
}
END_TEST

/* Freed while calls are in flight (a job removed while a TaskExecutor is slow): their
 * completions come later and find no JobMaster (run under ASan: no use after free). */
START_TEST(test_free_with_calls_in_flight)
{
    env_t e;
    env_setup(&e, (opts_t){0});
    start_running(&e);
    e.now += 1000;
    job_master_drive(e.jm); /* heartbeats sent, not answered */
    job_master_cancel(e.jm, NULL);
    ck_assert_uint_gt(e.te[0].n_calls, e.te[0].n_answered);
    job_master_free(e.jm);
    e.jm = NULL;
    deliver(&e);
    ck_assert_uint_eq(e.te[0].n_calls, e.te[0].n_answered);
    env_teardown(&e);
}
END_TEST

/* ---- restart strategy, failure manager ----------------------------------------------------- */

Suite *job_master_suite(void)
{
    Suite *s = suite_create("job_master");
    TCase *tc = tcase_create("job_master");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_deploy_and_finish);
    tcase_add_test(tc, test_slots_offered_one_by_one);
    tcase_add_test(tc, test_executor_lost_before_deployment);
    tcase_add_test(tc, test_unavailable_slots_fail_or_restart);
    tcase_add_test(tc, test_task_failure_restarts_then_fails);
    tcase_add_test(tc, test_lost_executor_restarts);
    tcase_add_test(tc, test_rejected_deployment_is_not_restarted);
    tcase_add_test(tc, test_cancel_and_forced_cancel);
    tcase_add_test(tc, test_externally_cancelled_task_ends_the_job);
    tcase_add_test(tc, test_checkpoint_trigger_ack_confirm);
    tcase_add_test(tc, test_stop_with_savepoint_without_interval);
    tcase_add_test(tc, test_savepoint_after_pending_checkpoint_then_declined);
    tcase_add_test(tc, test_savepoint_fails_when_the_attempt_ends);
    tcase_add_test(tc, test_metadata_written_off_the_loop);
    tcase_add_test(tc, test_cancelled_metadata_write_is_not_a_failure);
    tcase_add_test(tc, test_decline_counts_against_tolerable_failures);
    tcase_add_test(tc, test_tolerable_expirations);
    tcase_add_test(tc, test_finished_task_aborts_quietly);
    tcase_add_test(tc, test_unreadable_checkpoint_falls_back);
    tcase_add_test(tc, test_heartbeats_and_lost_heartbeat);
    tcase_add_test(tc, test_free_with_calls_in_flight);
    suite_add_tcase(s, tc);
    return s;
}
