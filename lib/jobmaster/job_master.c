/*
 * job_master — the JobMaster state machine (see job_master.h): attempts, placement on
 * offered slots, deployment, task states, cancellation, release, restarts, the timer.
 * Checkpoint coordination lives in job_master_checkpoint.c (same record).
 *
 * Every input ends in job_master_drive, which runs machine() until the state stops
 * changing: one handler per state does that state's periodic work and decides the
 * next state. Gateway operations carry a jm_op_t and complete in jm_op_done;
 * n_inflight counts them so that an attempt is released only when nothing it started
 * can still answer.
 *
 * Threading: the thread of cfg->base only; no locks (job_master.h).
 */
#include "jobmaster/job_master_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/job_config_keys.h"

#define CTX "jobmaster"

static const char *const state_names[TE_JOB_N_STATES] = {
    [TE_JOB_CREATED] = "CREATED",     [TE_JOB_WAITING_FOR_SLOTS] = "WAITING_FOR_SLOTS",
    [TE_JOB_DEPLOYING] = "DEPLOYING", [TE_JOB_RUNNING] = "RUNNING",
    [TE_JOB_FAILING] = "FAILING",     [TE_JOB_CANCELLING] = "CANCELLING",
    [TE_JOB_RELEASING] = "RELEASING", [TE_JOB_RESTARTING] = "RESTARTING",
    [TE_JOB_FINISHED] = "FINISHED",   [TE_JOB_FAILED] = "FAILED",
    [TE_JOB_CANCELED] = "CANCELED",
};

typedef struct jm_op {
    te_job_master_t *jm; /* NULL: the JobMaster was freed first (the op only frees itself) */
    jm_op_kind_t kind;
    size_t index;              /* task, slot or executor */
    uint64_t id;               /* checkpoint id */
    struct jm_op *prev, *next; /* jm->ops */
    void *payload;             /* owned (jm_op_set_payload); freed with the op when orphaned */
    void (*free_payload)(void *);
} jm_op_t;

const char *job_master_state_name(te_job_state_t s)
{
    return (unsigned)s < TE_JOB_N_STATES ? state_names[s] : "UNKNOWN";
}

int job_master_state_is_terminal(te_job_state_t s)
{
    return s == TE_JOB_FINISHED || s == TE_JOB_FAILED || s == TE_JOB_CANCELED;
}

int jm_exec_state_is_final(int s)
{
    return s == TE__EXECUTION_STATE__FINISHED || s == TE__EXECUTION_STATE__CANCELED ||
           s == TE__EXECUTION_STATE__FAILED;
}

int64_t jm_now(const te_job_master_t *jm)
{
    return jm->cfg.clock_ms ? jm->cfg.clock_ms(jm->cfg.clock_arg) : te_clock_mono_ms();
}

static void vlog(te_job_master_t *jm, te_log_level_t level, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (jm->listener.on_log)
        jm->listener.on_log(jm->cfg.listener_arg, jm, level, msg);
    else if (level >= TE_LOG_WARN)
        TE_WARN(CTX, "job %s: %s", jm->job_hex, msg);
    else
        TE_DEBUG(CTX, "job %s: %s", jm->job_hex, msg);
}

void jm_logf(te_job_master_t *jm, te_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(jm, level, fmt, ap);
    va_end(ap);
}

void job_master_log(te_job_master_t *jm, te_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(jm, level, fmt, ap);
    va_end(ap);
}

void jm_set_state(te_job_master_t *jm, te_job_state_t s)
{
    te_job_state_t from = jm->state;
    if (from == s)
        return;
    jm->state = s;
    TE_DEBUG(CTX, "job %s: %s -> %s", jm->job_hex, state_names[from], state_names[s]);
    if (jm->listener.on_state)
        jm->listener.on_state(jm->cfg.listener_arg, jm, from, s);
}

void jm_set_text(char **dst, const char *src)
{
    free(*dst);
    *dst = src && src[0] ? strdup(src) : NULL;
}

void jm_fail(te_job_master_t *jm, int recoverable, int reported, const char *task_cause, const char *fmt, ...)
{
    if (jm->end != JM_END_NONE)
        return;
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    jm->end = JM_END_FAILED;
    jm_set_text(&jm->cause, buf);
    jm_set_text(&jm->task_cause, task_cause);
    jm->cause_reported = reported;
    jm->recoverable = recoverable;
}

static int deadline_passed(const te_job_master_t *jm) { return jm->deadline >= 0 && jm_now(jm) >= jm->deadline; }

/* ---- gateway operations --------------------------------------------------------- */

void *jm_op_new(te_job_master_t *jm, jm_op_kind_t kind, size_t index, uint64_t id)
{
    jm_op_t *op = malloc(sizeof(*op));
    if (op == NULL)
        return NULL;
    *op = (jm_op_t){jm, kind, index, id, NULL, jm->ops, NULL, NULL};
    if (jm->ops != NULL)
        jm->ops->prev = op;
    jm->ops = op;
    jm->n_inflight++;
    return op;
}

long jm_executor_index(const te_job_master_t *jm, const te_tm_gateway_t *gw)
{
    for (size_t e = 0; e < jm->n_ex; e++)
        if (jm->ex[e].gw == gw)
            return (long)e;
    return -1;
}

te_tm_gateway_t *jm_task_gateway(const te_job_master_t *jm, size_t t)
{
    return jm->ex[job_plan_task(jm->plan, t)->executor].gw;
}

int jm_task_reachable(const te_job_master_t *jm, size_t t)
{
    return jm->tasks[t].submitted && !jm->tasks[t].final && !jm->ex[job_plan_task(jm->plan, t)->executor].lost;
}

/* Task t reached a final state (or can no longer report one). */
void jm_task_mark_final(te_job_master_t *jm, size_t t, int state)
{
    jm_task_t *ts = &jm->tasks[t];
    if (ts->final)
        return;
    if (ts->state == TE__EXECUTION_STATE__RUNNING)
        jm->n_running--;
    ts->final = 1;
    if (ts->submitted)
        jm->n_open--;
    if (state == TE__EXECUTION_STATE__FINISHED)
        jm->n_finished++;
    else if (state == TE__EXECUTION_STATE__FAILED)
        jm->n_failed++;
    else
        jm->n_canceled++;
    jm_ckpt_task_gone(jm, t, state == TE__EXECUTION_STATE__FINISHED || jm->cancelling);
}

void jm_attempt_deploying(te_job_master_t *jm)
{
    jm_set_state(jm, TE_JOB_DEPLOYING);
    if (jm->listener.on_plan)
        jm->listener.on_plan(jm->cfg.listener_arg, jm);
    int64_t now = jm_now(jm);
    jm->start_ms = now;
    jm->next_progress = now + jm->cfg.progress_interval_ms;
}

void jm_executor_lost(te_job_master_t *jm, size_t e, const char *cause)
{
    if (e >= jm->n_ex || jm->ex[e].lost)
        return;
    jm->ex[e].lost = 1;
    jm->n_lost++;
    jm_logf(jm, TE_LOG_ERROR, "lost the connection to executor %s: %s", tm_gateway_address(jm->ex[e].gw), cause);
    if (jm->tasks == NULL || jm->state < TE_JOB_DEPLOYING)
        return;
    for (size_t t = 0; t < jm->n_tasks; t++)
        if (job_plan_task(jm->plan, t)->executor == e && !jm->tasks[t].final)
            jm_task_mark_final(jm, t, TE__EXECUTION_STATE__FAILED);
}

static void cancel_task(te_job_master_t *jm, size_t t)
{
    jm_task_t *ts = &jm->tasks[t];
    if (!ts->submitted || ts->final || ts->cancel_sent || !jm_task_reachable(jm, t))
        return;
    ts->cancel_sent = 1;
    tm_gateway_cancel_task(jm_task_gateway(jm, t), &job_plan_task(jm->plan, t)->execution_id, jm_op_done,
                           jm_op_new(jm, JM_OP_CANCEL, t, 0));
}

static void on_submit_done(te_job_master_t *jm, size_t t, const te_tm_result_t *r)
{
    const te_plan_task_t *task = job_plan_task(jm->plan, t);
    jm->n_submit_pending--;
    if (r->lost) {
        jm_executor_lost(jm, task->executor, r->message);
        return;
    }
    if (r->code != TE__ERROR_CODE__OK) {
        jm_task_t *ts = &jm->tasks[t];
        ts->submitted = 0;
        if (!ts->final)
            jm->n_open--;
        if (jm->end != JM_END_NONE) {
            TE_DEBUG(CTX, "%s rejected by %s: %s", task->task_name, tm_gateway_address(jm_task_gateway(jm, t)),
                     r->message);
            return;
        }
        jm_logf(jm, TE_LOG_ERROR, "%s rejected by %s: %s", task->task_name,
                tm_gateway_address(jm_task_gateway(jm, t)), r->message);
        /* A bad TDD / chain (e.g. state that cannot be rescaled) fails every attempt alike. */
        int fatal = r->code == TE__ERROR_CODE__INVALID_CHAIN || r->code == TE__ERROR_CODE__INCONSISTENT_IDS ||
                    r->code == TE__ERROR_CODE__INVALID_ARGUMENT;
        jm_fail(jm, !fatal, 1, r->message, "%s", r->message);
        return;
    }
    if (jm->cancelling)
        cancel_task(jm, t); /* accepted after the cancellation started */
}

static void on_cancel_done(te_job_master_t *jm, size_t t, const te_tm_result_t *r)
{
    if (r->lost)
        jm_executor_lost(jm, job_plan_task(jm->plan, t)->executor, r->message);
    else if (r->code == TE__ERROR_CODE__UNKNOWN_TASK)
        jm_task_mark_final(jm, t, TE__EXECUTION_STATE__CANCELED); /* already gone */
    else if (r->code != TE__ERROR_CODE__OK) {
        jm_logf(jm, TE_LOG_ERROR, "cancel %s: %s", job_plan_task(jm->plan, t)->task_name, r->message);
        jm_task_mark_final(jm, t, TE__EXECUTION_STATE__CANCELED);
    }
}

void jm_op_set_payload(void *arg, void *payload, void (*free_payload)(void *))
{
    jm_op_t *op = arg;
    op->payload = payload;
    op->free_payload = free_payload;
}

te_job_master_t *jm_op_finish(void *arg, void **payload)
{
    jm_op_t *op = arg;
    te_job_master_t *jm = op->jm;
    *payload = op->payload;
    if (jm == NULL) { /* orphaned: nobody takes the payload */
        if (op->free_payload != NULL && op->payload != NULL)
            op->free_payload(op->payload);
        *payload = NULL;
        free(op);
        return NULL;
    }
    if (op->prev)
        op->prev->next = op->next;
    else
        jm->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    jm->n_inflight--;
    free(op);
    return jm;
}

void jm_op_done(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    jm_op_t *op = arg;
    (void)gw;
    if (op == NULL)
        return; /* out of memory when it was started */
    jm_op_kind_t kind = op->kind;
    size_t index = op->index;
    uint64_t id = op->id;
    void *payload;
    te_job_master_t *jm = jm_op_finish(op, &payload);
    (void)payload; /* gateway operations carry none */
    if (jm == NULL)
        return;
    switch (kind) {
    case JM_OP_SUBMIT: on_submit_done(jm, index, r); break;
    case JM_OP_CANCEL: on_cancel_done(jm, index, r); break;
    case JM_OP_FREE_SLOT:
        if (r->lost || r->code != TE__ERROR_CODE__OK) {
            const te_plan_slot_t *slot = job_plan_slot(jm->plan, index);
            jm_logf(jm, TE_LOG_ERROR, "free slot %d on %s: %s", slot->slot_number,
                    tm_gateway_address(jm->ex[slot->executor].gw), r->message);
            if (r->lost && !jm->ex[slot->executor].lost) {
                jm->ex[slot->executor].lost = 1;
                jm->n_lost++;
            }
        }
        break;
    case JM_OP_HEARTBEAT:
    case JM_OP_TASK_REPORT: jm_monitor_op_done(jm, kind, index, r); break;
    case JM_OP_TRIGGER:
    case JM_OP_CONFIRM:
    case JM_OP_ABORT: jm_ckpt_op_done(jm, kind, index, id, r); break;
    case JM_OP_METADATA: break; /* completes through jm_ckpt_written */
    }
    job_master_drive(jm);
}

/* ---- attempts ---------------------------------------------------------------------- */

void jm_attempt_clear(te_job_master_t *jm)
{
    jm_ckpt_stop(jm);
    job_plan_free(jm->plan);
    jm->plan = NULL;
    free(jm->tasks);
    jm->tasks = NULL;
    free(jm->slot_offered);
    jm->slot_offered = NULL;
    for (size_t e = 0; e < jm->n_ex; e++)
        free(jm->ex[e].data_address);
    jm->n_ex = jm->n_lost = 0;
    jm->n_tasks = jm->n_slots = jm->n_offered = 0;
    jm->n_open = jm->n_running = jm->n_finished = jm->n_failed = jm->n_canceled = jm->n_restore_failed = 0;
    jm->n_submit_pending = jm->n_reports_pending = 0;
    jm->slots_requested = jm->release_started = jm->released = 0;
    jm->cancelling = jm->forced = 0;
    jm->first_failed = -1;
    free(jm->first_cause);
    jm->first_cause = NULL;
    jm->start_ms = jm->rate_sample_ms = 0;
    jm->records_out = 0;
    jm->records_per_s = 0;
    jm->no_task_report = 0;
}

/* A new deployment: plan, tasks, slot requests. */
void jm_attempt_begin(te_job_master_t *jm)
{
    te_error_t err = {0};
    jm->end = JM_END_NONE;
    jm->unreachable = 0;
    jm_set_text(&jm->cause, NULL);
    jm_set_text(&jm->task_cause, NULL);
    jm->plan = job_plan_new(jm->cfg.graph, &jm->job_id, 1, &err);
    if (jm->plan != NULL && jm->adopting)
        jm_adopt_plan(jm, &err);
    if (jm->plan != NULL) {
        job_plan_set_attempt(jm->plan, jm->attempt);
        jm->n_tasks = job_plan_n_tasks(jm->plan);
        jm->n_slots = job_plan_n_slots(jm->plan);
        jm->tasks = calloc(jm->n_tasks ? jm->n_tasks : 1, sizeof(*jm->tasks));
        jm->slot_offered = calloc(jm->n_slots ? jm->n_slots : 1, 1);
        if (jm->tasks == NULL || jm->slot_offered == NULL)
            te_error_set(&err, TE_ENOMEM, "out of memory planning attempt %u", jm->attempt);
        else if (jm->ckpt_root != NULL)
            job_plan_set_config(jm->plan, "state.checkpoints.dir", jm->ckpt_root, &err);
        if (err.code == TE_OK && jm->cfg.allow_non_restored_state)
            job_plan_set_config(jm->plan, TE_IGNORE_UNCLAIMED_STATE_KEY, "true", &err);
        /* Flink's key: sinks choose exactly-once (two-phase commit) when checkpoints run */
        char interval[32];
        snprintf(interval, sizeof(interval), "%lldms", (long long)jm->cfg.checkpoint_interval_ms);
        if (err.code == TE_OK && jm->cfg.checkpoint_interval_ms > 0)
            job_plan_set_config(jm->plan, "execution.checkpointing.interval", interval, &err);
    }
    jm_set_state(jm, TE_JOB_WAITING_FOR_SLOTS);
    if (err.code != TE_OK) {
        jm_logf(jm, TE_LOG_ERROR, "%s", err.msg);
        jm_fail(jm, 0, 1, NULL, "%s", err.msg);
        return;
    }
    for (size_t t = 0; t < jm->n_tasks; t++)
        jm->tasks[t].state = -1;
    te_slot_request_t *reqs = calloc(jm->n_slots ? jm->n_slots : 1, sizeof(*reqs));
    if (reqs == NULL) {
        jm_fail(jm, 0, 0, NULL, "out of memory requesting slots");
        return;
    }
    for (size_t s = 0; s < jm->n_slots; s++)
        reqs[s] = (te_slot_request_t){s, job_plan_slot(jm->plan, s)->allocation_id};
    jm->slots_requested = 1;
    if (jm->adopting)
        jm->cfg.slots.ops->adopt(jm->cfg.slots.self, jm, jm->attempt, reqs, jm->n_slots, jm->adopt.execution_ids,
                                 jm->adopt.n_tasks, jm_now(jm) + jm->adopt.timeout_ms);
    else
        jm->cfg.slots.ops->request(jm->cfg.slots.self, jm, jm->attempt, reqs, jm->n_slots);
    free(reqs);
}

/* Every slot is offered: TDDs, restore, report, checkpoints, then SubmitTask for all. */
static void deploy(te_job_master_t *jm)
{
    te_error_t err = {0};
    const char **addrs = calloc(jm->n_ex ? jm->n_ex : 1, sizeof(*addrs));
    if (addrs == NULL) {
        jm_fail(jm, 0, 0, NULL, "out of memory deploying the job");
        return;
    }
    for (size_t e = 0; e < jm->n_ex; e++)
        addrs[e] = jm->ex[e].data_address;
    te_status_t st = job_plan_build(jm->plan, addrs, &err);
    free(addrs);
    if (st == TE_OK && jm->latest != NULL)
        st = jm_ckpt_set_restore(jm, &err);
    if (st == TE_OK && (jm->cfg.checkpoint_interval_ms > 0 || jm->job_dir != NULL))
        st = jm_ckpt_start(jm, &err); /* without an interval: for savepoints only */
    if (st != TE_OK) {
        jm_logf(jm, TE_LOG_ERROR, "%s", err.msg);
        jm_fail(jm, 0, 1, NULL, "%s", err.msg);
        return;
    }
    jm_attempt_deploying(jm);
    for (size_t t = 0; t < jm->n_tasks; t++) {
        jm_task_t *ts = &jm->tasks[t];
        if (ts->final || jm->end != JM_END_NONE)
            continue;
        if (jm->ex[job_plan_task(jm->plan, t)->executor].lost) { /* lost after it offered the slot */
            jm_task_mark_final(jm, t, TE__EXECUTION_STATE__FAILED);
            continue;
        }
        ts->submitted = 1; /* a failed call may still have reached the daemon */
        jm->n_open++;
        jm->n_submit_pending++;
        tm_gateway_submit_task(jm_task_gateway(jm, t), &jm->jm_id, job_plan_task(jm->plan, t)->tdd, jm_op_done,
                               jm_op_new(jm, JM_OP_SUBMIT, t, 0));
    }
}

static void enter_releasing(te_job_master_t *jm)
{
    static const char *const causes[] = {[JM_END_NONE] = "job failed",
                                         [JM_END_FINISHED] = "job finished",
                                         [JM_END_FAILED] = "job failed",
                                         [JM_END_CANCELED] = "job cancelled"};
    jm_ckpt_stop(jm);
    jm_set_state(jm, TE_JOB_RELEASING);
    jm->last_finished = jm->n_finished;
    jm->last_failed = jm->n_failed;
    jm->last_canceled = jm->n_canceled;
    for (size_t s = 0; s < jm->n_slots; s++) {
        if (!jm->slot_offered[s])
            continue;
        const te_plan_slot_t *slot = job_plan_slot(jm->plan, s);
        if (jm->ex[slot->executor].lost)
            continue;
        tm_gateway_free_slot(jm->ex[slot->executor].gw, &slot->allocation_id, causes[jm->end], jm_op_done,
                             jm_op_new(jm, JM_OP_FREE_SLOT, s, 0));
    }
}

static void enter_cancelling(te_job_master_t *jm, te_job_state_t state)
{
    jm_set_state(jm, state);
    jm->cancelling = 1;
    jm->cancel_deadline = jm_now(jm) + jm->cfg.cancel_wait_ms;
    for (size_t t = jm->n_tasks; t-- > 0;)
        cancel_task(jm, t);
}

static int trouble(const te_job_master_t *jm)
{
    return jm->end != JM_END_NONE || jm->n_failed > 0 || (jm->n_canceled > 0 && !jm->cancelling) || jm->n_lost > 0;
}

/* The job timeout: cancel what runs, fail without restart. */
static int check_deadline(te_job_master_t *jm)
{
    if (!deadline_passed(jm) || jm->end != JM_END_NONE)
        return 0;
    jm_logf(jm, TE_LOG_ERROR, "the job did not end within its timeout of %lld ms: cancelling it",
            (long long)jm->cfg.timeout_ms);
    jm_fail(jm, 0, 1, NULL, "the job did not end within its timeout of %lld ms", (long long)jm->cfg.timeout_ms);
    return 1;
}

static void st_waiting_for_slots(te_job_master_t *jm)
{
    jm_monitor_tick(jm);
    if (jm->cancel_requested && jm->end == JM_END_NONE)
        jm->end = JM_END_CANCELED;
    check_deadline(jm);
    if (jm->end != JM_END_NONE) {
        enter_releasing(jm);
        return;
    }
    if (jm->n_offered < jm->n_slots)
        return;
    if (jm->adopting)
        jm_adopt_running(jm);
    else
        deploy(jm);
    if (jm->end != JM_END_NONE && jm->state == TE_JOB_WAITING_FOR_SLOTS)
        enter_releasing(jm);
}

static void st_running(te_job_master_t *jm)
{
    jm_ckpt_tick(jm, jm->state == TE_JOB_RUNNING && !trouble(jm) && !jm->cancel_requested);
    jm_monitor_tick(jm);
    if (jm->cancel_requested) {
        enter_cancelling(jm, TE_JOB_CANCELLING);
        return;
    }
    if (check_deadline(jm) || trouble(jm)) {
        enter_cancelling(jm, TE_JOB_FAILING);
        return;
    }
    if (jm->state == TE_JOB_DEPLOYING && jm->n_submit_pending == 0)
        jm_set_state(jm, TE_JOB_RUNNING);
    if (jm->state == TE_JOB_RUNNING && jm->n_open == 0) {
        jm->end = JM_END_FINISHED;
        enter_releasing(jm);
    }
}

/* Why the attempt ended, when no failure was recorded upfront. */
static void classify(te_job_master_t *jm)
{
    if (jm->end != JM_END_NONE)
        return;
    if (jm->first_failed >= 0) {
        const char *c = jm->first_cause && jm->first_cause[0] ? jm->first_cause : "(no cause given)";
        jm_fail(jm, 1, 0, jm->first_cause, "%s failed: %s",
                job_plan_task(jm->plan, (size_t)jm->first_failed)->task_name, c);
        /* The restored checkpoint is unreadable: an older one, or nothing (a restart
         * would read the same state). */
        if (jm->n_restore_failed > 0 && !(jm->fallback = jm_ckpt_fall_back(jm, jm->cause)))
            jm->recoverable = 0;
    } else if (jm->n_failed > 0) {
        jm_fail(jm, 1, 0, NULL, "%s", "an executor was lost");
    } else if (jm->n_canceled > 0 || jm->cancel_requested) {
        jm->end = JM_END_CANCELED;
    } else {
        jm->end = JM_END_FINISHED;
    }
}

static void st_cancelling(te_job_master_t *jm)
{
    jm_ckpt_tick(jm, 0);
    jm_monitor_tick(jm);
    if (jm->n_open > 0 && !jm->forced && jm_now(jm) < jm->cancel_deadline)
        return;
    if (jm->n_open > 0) {
        size_t cap = 64, len = 0;
        for (size_t t = 0; t < jm->n_tasks; t++)
            cap += strlen(job_plan_task(jm->plan, t)->task_name) + 1;
        char *list = malloc(cap);
        if (list != NULL) {
            list[0] = '\0';
            for (size_t t = 0; t < jm->n_tasks; t++)
                if (jm->tasks[t].submitted && !jm->tasks[t].final)
                    len += (size_t)snprintf(list + len, cap - len, " %s", job_plan_task(jm->plan, t)->task_name);
        }
        jm_logf(jm, TE_LOG_ERROR, "%s; not waiting for:%s",
                jm->forced ? (jm->cancel_why ? jm->cancel_why : "cancelled again")
                           : "tasks did not reach a final state in time",
                list ? list : " (out of memory)");
        free(list);
    }
    classify(jm);
    enter_releasing(jm);
}

/* Between attempts: the job timeout ends a failed job instead of a restart. */
static int timed_out_between_attempts(te_job_master_t *jm)
{
    if (!deadline_passed(jm))
        return 0;
    if (jm->recoverable)
        jm_logf(jm, TE_LOG_ERROR, "the job did not end within its timeout of %lld ms",
                (long long)jm->cfg.timeout_ms);
    jm->recoverable = 0;
    return 1;
}

static void st_releasing(te_job_master_t *jm)
{
    if (jm->n_inflight > 0)
        return;
    if (jm->slots_requested && !jm->release_started) {
        jm->release_started = 1;
        jm->cfg.slots.ops->release(jm->cfg.slots.self, jm,
                                   jm->end == JM_END_FINISHED   ? "job finished"
                                   : jm->end == JM_END_CANCELED ? "job cancelled"
                                                                : "job failed");
    }
    if (jm->slots_requested && !jm->released)
        return;
    jm_attempt_clear(jm);
    /* Aborted checkpoints of the attempt whose directory came back (a task wrote its
     * snapshot after the abort): nothing writes them any more. */
    if (jm->job_dir != NULL && jm->next_ckpt_id > jm->first_ckpt_id)
        checkpoint_metadata_sweep(jm->job_dir, jm->first_ckpt_id, jm->next_ckpt_id, NULL, NULL);
    if (jm->end == JM_END_FINISHED) {
        jm_set_state(jm, TE_JOB_FINISHED);
        return;
    }
    if (jm->end == JM_END_CANCELED || jm->cancel_requested) {
        jm->end = JM_END_CANCELED;
        jm_set_state(jm, TE_JOB_CANCELED);
        return;
    }
    if (timed_out_between_attempts(jm))
        jm->fallback = 0;
    if (jm->fallback) { /* not a restart: the same deployment from an older checkpoint */
        jm->fallback = 0;
        jm->restart_at = jm_now(jm);
        jm_set_state(jm, TE_JOB_RESTARTING);
        return;
    }
    if (!restart_strategy_on_failure(jm->restart, jm->recoverable)) {
        jm_set_state(jm, TE_JOB_FAILED);
        return;
    }
    jm->restart_at = jm_now(jm) + restart_strategy_backoff_ms(jm->restart);
    jm_set_state(jm, TE_JOB_RESTARTING);
    if (jm->listener.on_restart)
        jm->listener.on_restart(jm->cfg.listener_arg, jm, jm->cause ? jm->cause : "the job failed",
                                restart_strategy_restarts(jm->restart), restart_strategy_max_attempts(jm->restart),
                                jm->latest ? jm->latest->checkpoint_id : 0);
}

static void st_restarting(te_job_master_t *jm)
{
    if (jm->cancel_requested) {
        jm->end = JM_END_CANCELED;
        jm_set_state(jm, TE_JOB_CANCELED);
        return;
    }
    if (timed_out_between_attempts(jm)) {
        jm_set_state(jm, TE_JOB_FAILED);
        return;
    }
    if (jm_now(jm) < jm->restart_at)
        return;
    jm->attempt++;
    jm_attempt_begin(jm);
}

static void machine(te_job_master_t *jm)
{
    for (;;) {
        te_job_state_t s = jm->state;
        switch (s) {
        case TE_JOB_WAITING_FOR_SLOTS: st_waiting_for_slots(jm); break;
        case TE_JOB_DEPLOYING:
        case TE_JOB_RUNNING: st_running(jm); break;
        case TE_JOB_FAILING:
        case TE_JOB_CANCELLING: st_cancelling(jm); break;
        case TE_JOB_RELEASING: st_releasing(jm); break;
        case TE_JOB_RESTARTING: st_restarting(jm); break;
        default: return; /* CREATED and the terminal states wait for nothing */
        }
        if (jm->state == s)
            return;
    }
}

/* ---- the timer ------------------------------------------------------------------ */

static void consider(int64_t *at, int64_t t)
{
    if (t >= 0 && (*at < 0 || t < *at))
        *at = t;
}

static void timer_rearm(te_job_master_t *jm)
{
    int64_t at = -1;
    te_job_state_t s = jm->state;
    if (job_master_state_is_terminal(s) || s == TE_JOB_CREATED) {
        evtimer_del(jm->timer);
        jm->timer_at = -1;
        return;
    }
    if (s <= TE_JOB_CANCELLING && jm->n_ex > 0)
        consider(&at, jm->next_hb);
    if (s >= TE_JOB_DEPLOYING && s <= TE_JOB_CANCELLING && jm->cfg.progress_interval_ms > 0 &&
        jm->n_reports_pending == 0)
        consider(&at, jm->next_progress);
    if (jm->coord != NULL)
        consider(&at, jm_ckpt_next_deadline(jm, s == TE_JOB_RUNNING));
    if (s == TE_JOB_FAILING || s == TE_JOB_CANCELLING)
        consider(&at, jm->cancel_deadline);
    if (s == TE_JOB_RESTARTING)
        consider(&at, jm->restart_at);
    consider(&at, jm->deadline);
    if (at == jm->timer_at)
        return;
    evtimer_del(jm->timer);
    jm->timer_at = at;
    if (at < 0)
        return;
    int64_t left = at - jm_now(jm);
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    evtimer_add(jm->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    te_job_master_t *jm = arg;
    (void)fd;
    (void)what;
    jm->timer_at = -1;
    job_master_drive(jm);
}

void job_master_drive(te_job_master_t *jm)
{
    if (jm->driving) {
        jm->again = 1;
        return;
    }
    jm->driving = 1;
    do {
        jm->again = 0;
        machine(jm);
    } while (jm->again);
    jm->driving = 0;
    timer_rearm(jm);
}

/* ---- API -------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static te_status_t read_tolerable(te_job_master_t *jm, te_error_t *err)
{
    size_t n;
    const te_job_kv_t *cfg = job_graph_config(jm->cfg.graph, &n);
    jm->tolerable_failed_checkpoints = TE_CKPT_TOLERABLE_FAILURES_DEFAULT;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cfg[i].key, TE_CKPT_TOLERABLE_FAILURES_KEY) != 0)
            continue;
        char *end;
        long v = strtol(cfg[i].value, &end, 10);
        if (end == cfg[i].value || *end != '\0' || v < 0)
            return te_error_set(err, TE_EINVAL, "config.%s: '%s' is not a non-negative integer",
                                TE_CKPT_TOLERABLE_FAILURES_KEY, cfg[i].value);
        jm->tolerable_failed_checkpoints = v;
    }
    return TE_OK;
}

te_job_master_t *job_master_new(const te_job_master_config_t *cfg, te_error_t *err)
{
    te_job_master_t *jm = calloc(1, sizeof(*jm));
    if (jm == NULL) {
        checkpoint_metadata_free(cfg->restore);
        te_error_set(err, TE_ENOMEM, "out of memory creating the JobMaster");
        return NULL;
    }
    jm->cfg = *cfg;
    jm->latest = cfg->restore;
    jm->cfg.restore = NULL;
    if (cfg->listener != NULL)
        jm->listener = *cfg->listener;
    jm->job_id = cfg->job_id;
    te_id_random(&jm->jm_id);
    te_id_to_hex(&jm->job_id, jm->job_hex);
    jm->first_failed = -1;
    jm->timer_at = -1;
    jm->deadline = cfg->timeout_ms > 0 ? jm_now(jm) + cfg->timeout_ms : -1;
    jm->graph_text = dup_or_null(cfg->graph_text);
    jm->ckpt_root = dup_or_null(cfg->checkpoint_root);
    if (jm->ckpt_root != NULL && (jm->job_dir = malloc(strlen(jm->ckpt_root) + TE_ID_HEX_LEN + 2)) != NULL)
        sprintf(jm->job_dir, "%s/%s", jm->ckpt_root, jm->job_hex);
    jm->cfg.adopt = NULL;
    if (jm_adopt_init(jm, cfg->adopt, err) != TE_OK)
        goto cleanup;
    jm->restart = restart_strategy_fixed_delay_new(cfg->restart_attempts, cfg->restart_backoff_ms);
    jm->timer = evtimer_new(cfg->base, on_timer, jm);
    if ((cfg->graph_text && !jm->graph_text) || (cfg->checkpoint_root && (!jm->ckpt_root || !jm->job_dir)) ||
        jm->restart == NULL || jm->timer == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory creating the JobMaster");
        goto cleanup;
    }
    if (cfg->slots.ops == NULL || cfg->heartbeat_interval_ms <= 0 ||
        (cfg->checkpoint_interval_ms > 0 && (cfg->checkpoint_timeout_ms <= 0 || jm->job_dir == NULL))) {
        te_error_set(err, TE_EINVAL,
                     "JobMaster configuration: a slot provider, a positive heartbeat interval and, with "
                     "checkpoints, a timeout and a checkpoint directory are required");
        goto cleanup;
    }
    if (read_tolerable(jm, err) != TE_OK || (jm->latest != NULL && jm_ckpt_check_restore(jm, err) != TE_OK))
        goto cleanup;
    if (jm->latest != NULL && cfg->restore_explicit)
        jm->explicit_id = jm->latest->checkpoint_id;
    if (jm->job_dir != NULL) { /* the shared files of the job's retained (incremental) checkpoints */
        if ((jm->registry = shared_state_registry_new()) == NULL) {
            te_error_set(err, TE_ENOMEM, "out of memory");
            goto cleanup;
        }
        te_error_t lerr = {0};
        if (shared_state_registry_load(jm->registry, jm->job_dir, &lerr) != TE_OK) {
            if (lerr.code == TE_ENOMEM) {
                te_error_set(err, TE_ENOMEM, "%s", lerr.msg);
                goto cleanup;
            }
            /* a directory that cannot be read fails the checkpoints, reported there */
            TE_WARN(CTX, "job %s: reading the checkpoints in '%s': %s", jm->job_hex, jm->job_dir, lerr.msg);
        }
    }
    uint64_t max = jm->job_dir ? checkpoint_metadata_max_id(jm->job_dir) : 0;
    if (jm->latest != NULL && jm->latest->checkpoint_id > max)
        max = jm->latest->checkpoint_id;
    jm->first_ckpt_id = jm->next_ckpt_id = max + 1;
    return jm;
cleanup:
    job_master_free(jm);
    return NULL;
}

void job_master_free(te_job_master_t *jm)
{
    if (jm == NULL)
        return;
    for (jm_op_t *op = jm->ops; op != NULL; op = op->next)
        op->jm = NULL; /* completions still to come find no JobMaster */
    jm_attempt_clear(jm);
    free(jm->ex);
    if (jm->timer != NULL)
        event_free(jm->timer);
    restart_strategy_free(jm->restart);
    jm_adopt_clear(jm);
    checkpoint_failure_manager_free(jm->failures);
    checkpoint_metadata_free(jm->latest);
    shared_state_registry_free(jm->registry);
    free(jm->graph_text);
    free(jm->ckpt_root);
    free(jm->job_dir);
    free(jm->cause);
    free(jm->task_cause);
    free(jm->cancel_why);
    free(jm);
}

void job_master_start(te_job_master_t *jm)
{
    if (jm->state != TE_JOB_CREATED)
        return;
    jm->next_hb = jm_now(jm) + jm->cfg.heartbeat_interval_ms;
    jm_attempt_begin(jm);
    job_master_drive(jm);
}

void job_master_cancel(te_job_master_t *jm, const char *why)
{
    if (job_master_state_is_terminal(jm->state))
        return;
    if (jm->state == TE_JOB_CREATED) {
        jm->end = JM_END_CANCELED;
        jm_set_state(jm, TE_JOB_CANCELED);
        return;
    }
    if (jm->state == TE_JOB_FAILING || jm->state == TE_JOB_CANCELLING) {
        jm->forced = 1;
        jm_set_text(&jm->cancel_why, why);
    }
    jm->cancel_requested = 1;
    job_master_drive(jm);
}

void job_master_offer_slot(te_job_master_t *jm, size_t index, te_tm_gateway_t *gw, int32_t slot_number,
                           const char *data_address)
{
    if (jm->state != TE_JOB_WAITING_FOR_SLOTS || index >= jm->n_slots || jm->slot_offered[index]) {
        TE_DEBUG(CTX, "job %s: offer of slot %d on %s for request %zu ignored", jm->job_hex, slot_number,
                 tm_gateway_address(gw), index);
        return;
    }
    long e = jm_executor_index(jm, gw);
    if (e < 0) {
        if (jm->n_ex == jm->cap_ex) {
            size_t cap = jm->cap_ex ? jm->cap_ex * 2 : 8;
            jm_executor_t *ex = realloc(jm->ex, cap * sizeof(*ex));
            if (ex == NULL) {
                jm_fail(jm, 1, 0, NULL, "out of memory accepting a slot");
                job_master_drive(jm);
                return;
            }
            jm->ex = ex;
            jm->cap_ex = cap;
        }
        e = (long)jm->n_ex++;
        jm->ex[e] = (jm_executor_t){gw, strdup(data_address ? data_address : ""), 0};
    }
    job_plan_assign_slot(jm->plan, index, (size_t)e, slot_number);
    jm->slot_offered[index] = 1;
    jm->n_offered++;
    job_master_drive(jm);
}

void job_master_slots_unavailable(te_job_master_t *jm, int unreachable, const char *cause)
{
    if (jm->state != TE_JOB_WAITING_FOR_SLOTS)
        return;
    if (cause != NULL)
        jm_logf(jm, TE_LOG_ERROR, "%s", cause);
    if (jm->end == JM_END_NONE)
        jm->unreachable = unreachable;
    jm_fail(jm, 1, 1, NULL, "%s", "the executors could not be used");
    job_master_drive(jm);
}

void job_master_slots_released(te_job_master_t *jm)
{
    jm->released = 1;
    job_master_drive(jm);
}
