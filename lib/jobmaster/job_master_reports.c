/*
 * job_master_reports — what the TaskExecutors report to a JobMaster (see job_master.h):
 * task state pushes (records in/out, RUNNING, the final state and its cause),
 * checkpoint acknowledgements and declines (to job_master_checkpoint.c), and a lost
 * gateway (its tasks fail). Each ends in job_master_drive.
 *
 * Threading: the thread of cfg->base only; no locks (job_master.h).
 */
#include "jobmaster/job_master_internal.h"

#include "common/log.h"

#define CTX "jobmaster"

static void on_task_state(te_job_master_t *jm, size_t t, const Te__TaskExecutionState *s)
{
    jm_task_t *ts = &jm->tasks[t];
    ts->records_in = s->records_in;
    ts->records_out = s->records_out;
    if (!ts->final) {
        if (ts->state == TE__EXECUTION_STATE__RUNNING)
            jm->n_running--;
        if (s->state == TE__EXECUTION_STATE__RUNNING)
            jm->n_running++;
    }
    ts->state = s->state;
    if (s->restore_failed && !ts->restore_failed) {
        ts->restore_failed = 1;
        jm->n_restore_failed++;
    }
    if (jm_exec_state_is_final(s->state)) {
        if (s->state == TE__EXECUTION_STATE__FAILED && jm->first_failed < 0) {
            jm->first_failed = (long)t;
            jm_set_text(&jm->first_cause, s->cause);
        }
        jm_task_mark_final(jm, t, s->state);
    }
    if (jm->listener.on_task_state)
        jm->listener.on_task_state(jm->cfg.listener_arg, jm, t, s);
}

void job_master_on_push(te_job_master_t *jm, te_tm_gateway_t *gw, const Te__RpcMessage *push)
{
    const ProtobufCBinaryData *exec;
    const char *what;
    switch (push->body_case) {
    case TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE:
        exec = push->task_execution_state ? &push->task_execution_state->execution_attempt_id : NULL;
        what = "state";
        break;
    case TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT:
        exec = push->acknowledge_checkpoint ? &push->acknowledge_checkpoint->execution_attempt_id : NULL;
        what = "checkpoint ack";
        break;
    case TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT:
        exec = push->decline_checkpoint ? &push->decline_checkpoint->execution_attempt_id : NULL;
        what = "checkpoint decline";
        break;
    default: return;
    }
    te_id_t id;
    long t;
    if (exec == NULL || jm->plan == NULL || jm->state < TE_JOB_DEPLOYING ||
        te_id_from_bytes(exec->data, exec->len, &id) != 0 || (t = job_plan_find_task(jm->plan, &id)) < 0) {
        TE_DEBUG(CTX, "%s: %s push for an unknown execution ignored", tm_gateway_address(gw), what);
        return;
    }
    if (push->body_case == TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE)
        on_task_state(jm, (size_t)t, push->task_execution_state);
    else if (push->body_case == TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT)
        jm_ckpt_on_ack(jm, (size_t)t, push->acknowledge_checkpoint);
    else
        jm_ckpt_on_decline(jm, (size_t)t, push->decline_checkpoint);
    job_master_drive(jm);
}

void job_master_on_gateway_lost(te_job_master_t *jm, te_tm_gateway_t *gw, const char *cause)
{
    long e = jm_executor_index(jm, gw);
    if (e < 0)
        return;
    jm_executor_lost(jm, (size_t)e, cause);
    job_master_drive(jm);
}
