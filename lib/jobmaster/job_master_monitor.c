/*
 * job_master_monitor — what the JobMaster does periodically to watch its
 * TaskExecutors and tasks (part of the JobMaster record, see job_master_internal.h):
 * heartbeats to every TaskExecutor of the attempt (a lost heartbeat is a lost
 * executor), and, with progress_interval_ms, records samples (RequestTaskReport on
 * each executor: per-task records in/out, the job's records/s) reported through
 * on_progress once every executor answered.
 *
 * Threading: the JobMaster's event-loop thread; no locks.
 */
#include <string.h>

#include "jobmaster/job_master_internal.h"

#define CTX "jobmaster"

static void finish_sample(te_job_master_t *jm)
{
    int64_t now = jm_now(jm);
    if (jm->report_any && !jm->no_task_report) {
        if (jm->rate_sample_ms > 0 && now > jm->rate_sample_ms)
            jm->records_per_s =
                jm->report_total >= jm->records_out
                    ? (double)(jm->report_total - jm->records_out) * 1000.0 / (double)(now - jm->rate_sample_ms)
                    : 0;
        jm->records_out = jm->report_total;
        jm->rate_sample_ms = now;
    }
    if (jm->listener.on_progress)
        jm->listener.on_progress(jm->cfg.listener_arg, jm);
}

static void on_report_done(te_job_master_t *jm, size_t e, const te_tm_result_t *r)
{
    const Te__TaskReport *rep = r->response ? r->response->task_report : NULL;
    if (r->lost) {
        jm_executor_lost(jm, e, r->message);
    } else if (r->code != TE__ERROR_CODE__OK || rep == NULL) {
        jm->no_task_report = 1; /* e.g. an older daemon: no records/s, no retries */
        TE_DEBUG(CTX, "no task report from %s: %s", tm_gateway_address(jm->ex[e].gw),
                 r->code != TE__ERROR_CODE__OK ? r->message : "the reply carries none");
    } else {
        for (size_t i = 0; i < rep->n_tasks; i++) {
            const Te__TaskStatus *ts = rep->tasks[i];
            te_id_t id;
            long t;
            jm->report_total += ts->records_out;
            if (jm->plan != NULL &&
                te_id_from_bytes(ts->execution_attempt_id.data, ts->execution_attempt_id.len, &id) == 0 &&
                (t = job_plan_find_task(jm->plan, &id)) >= 0) {
                jm->tasks[t].records_in = ts->records_in;
                jm->tasks[t].records_out = ts->records_out;
            }
        }
        jm->report_any = 1;
    }
    if (--jm->n_reports_pending == 0)
        finish_sample(jm);
}

void jm_monitor_op_done(te_job_master_t *jm, jm_op_kind_t kind, size_t e, const te_tm_result_t *r)
{
    if (kind == JM_OP_TASK_REPORT)
        on_report_done(jm, e, r);
    else if (r->lost)
        jm_executor_lost(jm, e, r->message);
    else if (r->code != TE__ERROR_CODE__OK)
        jm_logf(jm, TE_LOG_ERROR, "heartbeat to %s: %s", tm_gateway_address(jm->ex[e].gw), r->message);
}

void jm_monitor_tick(te_job_master_t *jm)
{
    int64_t now = jm_now(jm);
    if (jm->n_ex > 0 && now >= jm->next_hb) {
        jm->next_hb = now + jm->cfg.heartbeat_interval_ms;
        for (size_t e = 0; e < jm->n_ex; e++)
            if (!jm->ex[e].lost)
                tm_gateway_heartbeat(jm->ex[e].gw, &jm->job_id, jm_op_done, jm_op_new(jm, JM_OP_HEARTBEAT, e, 0));
    }
    if (jm->cfg.progress_interval_ms <= 0 || jm->state < TE_JOB_DEPLOYING || jm->state > TE_JOB_CANCELLING ||
        now < jm->next_progress || jm->n_reports_pending > 0)
        return;
    jm->next_progress = now + jm->cfg.progress_interval_ms;
    jm->report_total = 0;
    jm->report_any = 0;
    for (size_t e = 0; e < jm->n_ex && !jm->no_task_report; e++) {
        if (jm->ex[e].lost)
            continue;
        jm->n_reports_pending++;
        tm_gateway_request_task_report(jm->ex[e].gw, &jm->job_id, jm_op_done,
                                       jm_op_new(jm, JM_OP_TASK_REPORT, e, 0));
    }
    if (jm->n_reports_pending == 0)
        finish_sample(jm);
}

void job_master_progress(const te_job_master_t *jm, te_job_progress_t *p)
{
    memset(p, 0, sizeof(*p));
    p->tasks = jm->n_tasks;
    p->running = jm->n_running;
    p->finished = jm->n_finished;
    p->failed_or_cancelled = jm->n_failed + jm->n_canceled;
    p->elapsed_ms = jm->start_ms > 0 ? jm_now(jm) - jm->start_ms : 0;
    p->sampled = jm->rate_sample_ms != 0;
    p->records_out = jm->records_out;
    p->records_per_s = jm->records_per_s;
    p->last_checkpoint = jm->n_completed > 0 && jm->latest ? jm->latest->checkpoint_id : 0;
}
