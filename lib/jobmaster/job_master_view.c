/*
 * job_master_view — what a JobMaster's owner reads of it (job_master.h's accessors): its
 * state, ids, graph and plan, per-task states and record counts, checkpoints, the
 * result. The state machine itself is job_master.c.
 *
 * Threading: the JobMaster's thread (its event loop), like every call on it.
 */
#include <string.h>

#include "jobmaster/job_master_internal.h"

te_job_state_t job_master_state(const te_job_master_t *jm) { return jm->state; }
const te_id_t *job_master_job_id(const te_job_master_t *jm) { return &jm->job_id; }
const char *job_master_job_hex(const te_job_master_t *jm) { return jm->job_hex; }
const te_id_t *job_master_fencing_token(const te_job_master_t *jm) { return &jm->jm_id; }
const te_job_graph_t *job_master_graph(const te_job_master_t *jm) { return jm->cfg.graph; }
uint32_t job_master_attempt(const te_job_master_t *jm) { return jm->attempt; }
const te_job_plan_t *job_master_plan(const te_job_master_t *jm) { return jm->plan; }
size_t job_master_n_executors(const te_job_master_t *jm) { return jm->n_ex; }

const char *job_master_executor_address(const te_job_master_t *jm, size_t e)
{
    return e < jm->n_ex ? tm_gateway_address(jm->ex[e].gw) : "?";
}

int job_master_task_state(const te_job_master_t *jm, size_t t, int *final, uint64_t *records_in,
                          uint64_t *records_out)
{
    if (t >= jm->n_tasks || jm->tasks == NULL)
        return -1;
    if (final)
        *final = jm->tasks[t].final;
    if (records_in)
        *records_in = jm->tasks[t].records_in;
    if (records_out)
        *records_out = jm->tasks[t].records_out;
    return jm->tasks[t].state;
}

const te_ckpt_metadata_t *job_master_latest_checkpoint(const te_job_master_t *jm) { return jm->latest; }
size_t job_master_n_checkpoints(const te_job_master_t *jm) { return jm->n_completed; }

void job_master_result(const te_job_master_t *jm, te_job_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->state = jm->state;
    if (jm->state == TE_JOB_FAILED) {
        r->cause = jm->cause;
        r->task_cause = jm->task_cause;
        r->cause_reported = jm->cause_reported;
        r->unreachable = jm->unreachable;
    }
    r->restarts = restart_strategy_restarts(jm->restart);
    r->max_restarts = restart_strategy_max_attempts(jm->restart);
    r->n_finished = jm->last_finished;
    r->n_failed = jm->last_failed;
    r->n_canceled = jm->last_canceled;
}
