/*
 * job_master_adopt — the JobMaster's adoption of a running attempt (see job_master.h,
 * "Adoption"): the ids of cfg->adopt put into the first plan, the slots the provider
 * offers taken as they are (no SubmitTask: every task counts as RUNNING until a push
 * says otherwise), checkpoints resumed (jm_ckpt_resume_adopted), and the way back to an
 * ordinary deployment when the provider cannot adopt it.
 *
 * Threading: as job_master.h (the event-loop thread).
 */
#include <stdlib.h>
#include <string.h>

#include "jobmaster/job_master_internal.h"

te_status_t jm_adopt_init(te_job_master_t *jm, const te_job_adoption_t *a, te_error_t *err)
{
    if (a == NULL || a->n_tasks == 0 || jm->cfg.slots.ops == NULL || jm->cfg.slots.ops->adopt == NULL)
        return TE_OK; /* nothing to adopt, or a provider that cannot: deploy */
    te_id_t *ex = malloc(a->n_tasks * sizeof(*ex));
    te_id_t *al = malloc((a->n_slots ? a->n_slots : 1) * sizeof(*al));
    if (ex == NULL || al == NULL) {
        free(ex);
        free(al);
        return te_error_set(err, TE_ENOMEM, "out of memory creating the JobMaster");
    }
    memcpy(ex, a->execution_ids, a->n_tasks * sizeof(*ex));
    memcpy(al, a->allocation_ids, a->n_slots * sizeof(*al));
    jm->adopt = *a;
    jm->adopt.execution_ids = ex;
    jm->adopt.allocation_ids = al;
    jm->adopting = 1;
    jm->attempt = a->attempt;
    return TE_OK;
}

void jm_adopt_clear(te_job_master_t *jm)
{
    free((void *)jm->adopt.execution_ids);
    free((void *)jm->adopt.allocation_ids);
    memset(&jm->adopt, 0, sizeof(jm->adopt));
}

void jm_adopt_plan(te_job_master_t *jm, te_error_t *err)
{
    te_error_t aerr = {0};
    if (job_plan_adopt_ids(jm->plan, jm->adopt.execution_ids, jm->adopt.n_tasks, jm->adopt.allocation_ids,
                           jm->adopt.n_slots, &aerr) == TE_OK)
        return;
    jm_logf(jm, TE_LOG_WARN, "attempt %u cannot be adopted: %s; deploying anew", jm->attempt, aerr.msg);
    job_plan_free(jm->plan);
    jm->adopting = 0;
    jm->attempt++;
    jm->plan = job_plan_new(jm->cfg.graph, &jm->job_id, 1, err);
}

void jm_adopt_running(te_job_master_t *jm)
{
    te_error_t err = {0};
    jm->adopting = 0;
    if ((jm->cfg.checkpoint_interval_ms > 0 || jm->job_dir != NULL) && jm_ckpt_start(jm, &err) != TE_OK) {
        jm_logf(jm, TE_LOG_ERROR, "%s", err.msg);
        jm_fail(jm, 1, 1, NULL, "%s", err.msg);
        return;
    }
    jm->adopted = 1;
    jm_attempt_deploying(jm);
    for (size_t t = 0; t < jm->n_tasks; t++) {
        jm_task_t *ts = &jm->tasks[t];
        ts->submitted = 1;
        ts->state = TE__EXECUTION_STATE__RUNNING;
        jm->n_open++;
        jm->n_running++;
    }
    jm_logf(jm, TE_LOG_INFO, "adopted the %zu running task(s) of attempt %u on %zu TaskExecutor(s): no restart",
            jm->n_tasks, jm->attempt, jm->n_ex);
    jm_ckpt_resume_adopted(jm);
}

void job_master_adopt_failed(te_job_master_t *jm, const char *cause)
{
    if (jm->state != TE_JOB_WAITING_FOR_SLOTS || !jm->adopting)
        return;
    jm_logf(jm, TE_LOG_WARN, "the running attempt %u cannot be adopted: %s; deploying the job anew%s", jm->attempt,
            cause, jm->latest ? " from its latest completed checkpoint" : "");
    jm_attempt_clear(jm);
    jm->adopting = 0;
    jm->attempt++;
    jm_attempt_begin(jm);
    job_master_drive(jm);
}

int job_master_adopted(const te_job_master_t *jm) { return jm->adopted; }
