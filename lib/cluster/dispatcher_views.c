/*
 * dispatcher_views — the JSON the REST API serves about jobs (see dispatcher.h): the
 * job list, a job's details (vertices, subtasks with their TaskExecutor, state,
 * records, checkpoints, restarts, failure cause, why it waits), its checkpoints, and
 * its events since a sequence number (what `tectl attach` follows) with its progress.
 *
 * Threading: the event-loop thread; reads the records and JobMasters, changes nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatcher_internal.h"
#include "common/clock.h"
#include "jobmaster/job_events.h"

json_t *cl_options_json(const cl_options_t *o)
{
    return json_pack("{s:I, s:s, s:i, s:I, s:s?, s:b}", "checkpoint_interval",
                     (json_int_t)o->checkpoint_interval_ms, "checkpoint_dir",
                     o->checkpoint_root ? o->checkpoint_root : "", "restart_attempts", (int)o->restart_attempts,
                     "restart_backoff", (json_int_t)o->restart_backoff_ms, "from_savepoint", o->from_savepoint,
                     "allow_non_restored_state", o->allow_non_restored_state);
}

json_t *cl_vertices_json(const cl_job_t *j)
{
    const te_job_plan_t *plan = j->jm ? job_master_plan(j->jm) : NULL;
    if (plan == NULL && j->final_detail != NULL)
        return json_deep_copy(j->final_detail);
    json_t *vertices = json_array();
    for (size_t v = 0; v < job_graph_n_vertices(j->graph); v++) {
        const te_job_vertex_t *vx = job_graph_vertex(j->graph, v);
        json_t *ops = json_array(), *subtasks = json_array();
        for (size_t k = 0; k < vx->chain_len; k++)
            json_array_append_new(ops, json_pack("{s:s, s:s?}", "op", vx->chain[k].name, "uid", vx->chain[k].uid));
        for (uint32_t i = 0; plan != NULL && i < vx->parallelism; i++) {
            long t = job_plan_task_index(plan, v, i);
            if (t < 0)
                continue;
            const te_plan_task_t *task = job_plan_task(plan, (size_t)t);
            int final = 0;
            uint64_t rin = 0, rout = 0;
            int st = job_master_task_state(j->jm, (size_t)t, &final, &rin, &rout);
            char hex[TE_ID_HEX_LEN + 1];
            const te_plan_slot_t *slot = job_plan_slot(plan, task->slot);
            int placed = slot->slot_number >= 0 && task->executor < job_master_n_executors(j->jm);
            json_array_append_new(
                subtasks,
                json_pack("{s:i, s:s, s:s, s:s, s:s?, s:i, s:I, s:I}", "subtask", (int)i, "name", task->task_name,
                          "execution_id", te_id_to_hex(&task->execution_id, hex), "state",
                          job_event_exec_state_name(st), "taskmanager",
                          placed ? job_master_executor_address(j->jm, task->executor) : NULL, "slot",
                          (int)slot->slot_number, "records_in", (json_int_t)rin, "records_out", (json_int_t)rout));
        }
        json_array_append_new(vertices, json_pack("{s:s, s:i, s:o, s:o}", "id", vx->id, "parallelism",
                                                  (int)vx->parallelism, "operators", ops, "subtasks", subtasks));
    }
    return vertices;
}

json_t *cl_progress_json(const cl_job_t *j) { return j->jm != NULL ? job_event_progress(j->jm) : json_null(); }

static json_t *summary_json(const cl_job_t *j)
{
    int64_t end = j->end_ms > 0 ? j->end_ms : te_clock_wall_ms();
    return json_pack("{s:s, s:s, s:s, s:I, s:o, s:I, s:i, s:s?, s:o, s:b, s:b}", "job_id", j->hex, "name",
                     job_graph_name(j->graph), "state", job_master_state_name(j->state), "submitted_ms",
                     (json_int_t)j->submitted_ms, "end_ms", j->end_ms > 0 ? json_integer(j->end_ms) : json_null(),
                     "duration_ms", (json_int_t)(end - j->submitted_ms), "restarts", (int)j->restarts,
                     "failure_cause", j->cause, "last_checkpoint",
                     j->last_checkpoint ? json_incref(j->last_checkpoint) : json_null(), "recovered", j->recovered,
                     "adopted", j->adopted);
}

json_t *dispatcher_jobs_json(te_dispatcher_t *d)
{
    json_t *arr = json_array();
    for (const cl_job_t *j = d->jobs; j != NULL; j = j->next)
        json_array_append_new(arr, summary_json(j));
    return json_pack("{s:o}", "jobs", arr);
}

json_t *dispatcher_job_json(te_dispatcher_t *d, const char *job_hex)
{
    const cl_job_t *j = cl_find_job(d, job_hex);
    if (j == NULL)
        return NULL;
    json_t *o = summary_json(j);
    char why[400];
    const char *waiting = j->jm ? resource_manager_waiting_reason(d->cfg.rm, j->jm, why, sizeof(why)) : NULL;
    json_object_set_new(o, "waiting_reason", waiting ? json_string(waiting) : json_null());
    json_t *last = json_object_get(j->attempt, "number"); /* the last attempt's, once the JobMaster is gone */
    json_object_set_new(o, "attempt",
                        j->jm  ? json_integer(job_master_attempt(j->jm))
                        : last ? json_incref(last)
                               : json_null());
    json_object_set_new(o, "max_restarts", json_integer(j->max_restarts));
    json_object_set_new(o, "options", cl_options_json(&j->opt));
    json_object_set_new(
        o, "checkpoints",
        json_pack("{s:I, s:I}", "completed", (json_int_t)j->ckpt_completed, "failed", (json_int_t)j->ckpt_failed));
    size_t n_sp = json_array_size(j->savepoints);
    json_t *last_sp = n_sp > 0 ? json_array_get(j->savepoints, n_sp - 1) : NULL;
    json_object_set_new(o, "last_savepoint", last_sp ? json_incref(last_sp) : json_null());
    json_object_set_new(o, "savepoints", j->savepoints ? json_incref(j->savepoints) : json_array());
    json_object_set_new(o, "progress", cl_progress_json(j));
    json_object_set_new(o, "vertices", cl_vertices_json(j));
    return o;
}

json_t *dispatcher_checkpoints_json(te_dispatcher_t *d, const char *job_hex)
{
    const cl_job_t *j = cl_find_job(d, job_hex);
    if (j == NULL)
        return NULL;
    return json_pack("{s:s, s:I, s:I, s:o, s:O}", "job_id", j->hex, "completed", (json_int_t)j->ckpt_completed,
                     "failed", (json_int_t)j->ckpt_failed, "latest",
                     j->last_checkpoint ? json_incref(j->last_checkpoint) : json_null(), "history",
                     j->ckpt_history);
}

json_t *dispatcher_events_json(te_dispatcher_t *d, const char *job_hex, uint64_t since, size_t max)
{
    const cl_job_t *j = cl_find_job(d, job_hex);
    if (j == NULL)
        return NULL;
    json_t *events = json_array();
    size_t n = json_array_size(j->events), k;
    json_t *ev;
    json_array_foreach(j->events, k, ev)
    {
        (void)n;
        if ((uint64_t)json_integer_value(json_object_get(ev, "seq")) <= since)
            continue;
        if (json_array_size(events) >= max)
            break;
        json_array_append(events, ev);
    }
    return json_pack("{s:s, s:s, s:s, s:b, s:I, s:o, s:o}", "job_id", j->hex, "name", job_graph_name(j->graph),
                     "state", job_master_state_name(j->state), "ended", job_master_state_is_terminal(j->state),
                     "last_seq", (json_int_t)j->next_seq, "progress", cl_progress_json(j), "events", events);
}
