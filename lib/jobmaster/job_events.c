/*
 * job_events — JSON events of a JobMaster's reports (see job_events.h).
 *
 * Threading: the JobMaster's thread; pure builders.
 */
#include "jobmaster/job_events.h"

#include <stdio.h>
#include <time.h>

#include "common/clock.h"

const char *job_event_exec_state_name(int state)
{
    if (state < 0)
        return "SCHEDULED";
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__execution_state__descriptor, state);
    return v ? v->name : "UNKNOWN";
}

/* Adds "time" (now, UTC ISO-8601 with milliseconds) to ev. */
static json_t *stamped(json_t *ev)
{
    if (ev == NULL)
        return NULL;
    int64_t ms = te_clock_wall_ms();
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    char buf[64];
    gmtime_r(&sec, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
    json_object_set_new(ev, "time", json_string(buf));
    return ev;
}

json_t *job_event_plan(const te_job_master_t *jm)
{
    const te_job_plan_t *plan = job_master_plan(jm);
    json_t *tasks = json_array();
    for (size_t t = 0; plan != NULL && t < job_plan_n_tasks(plan); t++) {
        const te_plan_task_t *task = job_plan_task(plan, t);
        char hex[TE_ID_HEX_LEN + 1];
        json_array_append_new(tasks, json_pack("{s:s, s:s, s:s, s:i}", "execution_id",
                                               te_id_to_hex(&task->execution_id, hex), "task", task->task_name,
                                               "executor", job_master_executor_address(jm, task->executor), "slot",
                                               (int)job_plan_slot(plan, task->slot)->slot_number));
    }
    return stamped(json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:o}", "event", "plan", "job_id",
                             job_master_job_hex(jm), "job_name", job_graph_name(job_master_graph(jm)), "attempt",
                             (int)job_master_attempt(jm), "slots", plan ? (int)job_plan_n_slots(plan) : 0,
                             "executors", (int)job_master_n_executors(jm), "tasks", tasks));
}

json_t *job_event_task_state(const te_job_master_t *jm, size_t t, const Te__TaskExecutionState *s)
{
    const te_plan_task_t *task = job_plan_task(job_master_plan(jm), t);
    char hex[TE_ID_HEX_LEN + 1];
    return stamped(json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I}", "event", "state", "task", task->task_name, "execution_id",
        te_id_to_hex(&task->execution_id, hex), "executor", job_master_executor_address(jm, task->executor),
        "state", job_event_exec_state_name(s->state), "cause", s->cause && s->cause[0] ? s->cause : NULL,
        "records_in", (json_int_t)s->records_in, "records_out", (json_int_t)s->records_out));
}

json_t *job_event_progress(const te_job_master_t *jm)
{
    te_job_progress_t p;
    job_master_progress(jm, &p);
    return stamped(json_pack(
        "{s:s, s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:I}", "event", "progress", "tasks", (int)p.tasks, "running",
        (int)p.running, "finished", (int)p.finished, "failed_or_cancelled", (int)p.failed_or_cancelled,
        "elapsed_ms", (json_int_t)p.elapsed_ms, "records_out",
        p.sampled ? json_integer((json_int_t)p.records_out) : json_null(), "records_per_second",
        p.sampled ? json_real(p.records_per_s) : json_null(), "last_checkpoint", (json_int_t)p.last_checkpoint));
}

json_t *job_event_checkpoint(const te_ckpt_metadata_t *m, const te_ckpt_checkpoint_t *cp, const char *path)
{
    size_t n_tasks = 0;
    for (size_t v = 0; v < m->n_vertices; v++)
        n_tasks += m->vertices[v].n_handles;
    return stamped(json_pack("{s:s, s:I, s:I, s:I, s:i, s:s, s:I, s:f, s:I, s:I}", "event", "checkpoint",
                             "checkpoint_id", (json_int_t)m->checkpoint_id, "duration_ms",
                             (json_int_t)m->duration_ms, "state_size", (json_int_t)m->state_size, "tasks",
                             (int)n_tasks, "path", path, "start_delay_ms_max", (json_int_t)cp->start_delay_ms_max,
                             "alignment_ms_max", (double)cp->alignment_ns_max / 1e6, "in_flight_bytes",
                             (json_int_t)cp->inflight_bytes, "timestamp_ms", (json_int_t)m->timestamp_ms));
}

json_t *job_event_checkpoint_aborted(uint64_t id, const char *cause)
{
    return stamped(json_pack("{s:s, s:I, s:s}", "event", "checkpoint_aborted", "checkpoint_id", (json_int_t)id,
                             "cause", cause ? cause : ""));
}

json_t *job_event_restart(const char *cause, long attempt, long max_attempts, uint64_t checkpoint_id)
{
    return stamped(json_pack("{s:s, s:i, s:i, s:o, s:s}", "event", "restart", "attempt", (int)attempt,
                             "max_attempts", (int)max_attempts, "checkpoint_id",
                             checkpoint_id ? json_integer((json_int_t)checkpoint_id) : json_null(), "cause",
                             cause));
}

json_t *job_event_log(te_log_level_t level, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    return stamped(json_pack("{s:s, s:s, s:s}", "event", "log", "level",
                             (unsigned)level <= TE_LOG_OFF ? names[level] : "error", "message", msg));
}

json_t *job_event_end(const te_job_master_t *jm)
{
    te_job_result_t r;
    job_master_result(jm, &r);
    const te_ckpt_metadata_t *latest = job_master_latest_checkpoint(jm);
    const char *result = r.state == TE_JOB_FINISHED   ? "finished"
                         : r.state == TE_JOB_CANCELED ? "cancelled"
                                                      : "failed";
    int failed = r.state == TE_JOB_FAILED;
    return stamped(json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b, s:b, s:i, s:i, s:i, s:i, s:i, s:o}", "event", "end",
                             "job_id", job_master_job_hex(jm), "result", result, "cause",
                             failed ? r.task_cause : NULL, "message", failed ? r.cause : NULL, "cause_reported",
                             r.cause_reported, "unreachable", r.unreachable, "finished", (int)r.n_finished,
                             "failed", (int)r.n_failed, "cancelled", (int)r.n_canceled, "restarts",
                             (int)r.restarts, "max_restarts", (int)r.max_restarts, "checkpoint_id",
                             latest ? json_integer((json_int_t)latest->checkpoint_id) : json_null()));
}
