/*
 * dispatcher_attempt — a job's last attempt in its store record (see
 * dispatcher_internal.h): the execution id of every task and the allocation id of every
 * slot of the attempt, written when an attempt is placed, and read back by a new leader
 * that adopts the running tasks instead of restarting the job.
 *
 * Threading: the event-loop thread only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/dispatcher_internal.h"

json_t *cl_attempt_json(const te_job_master_t *jm)
{
    const te_job_plan_t *plan = job_master_plan(jm);
    json_t *tasks = json_array(), *slots = json_array();
    char hex[TE_ID_HEX_LEN + 1];
    for (size_t t = 0; plan != NULL && t < job_plan_n_tasks(plan); t++)
        json_array_append_new(tasks, json_string(te_id_to_hex(&job_plan_task(plan, t)->execution_id, hex)));
    for (size_t s = 0; plan != NULL && s < job_plan_n_slots(plan); s++)
        json_array_append_new(slots, json_string(te_id_to_hex(&job_plan_slot(plan, s)->allocation_id, hex)));
    return json_pack("{s:I, s:o, s:o}", "number", (json_int_t)job_master_attempt(jm), "tasks", tasks, "slots",
                     slots);
}

/* The ids of a JSON array of hex strings (n of them) into out; 0 when one is not an id. */
static int ids_of(const json_t *arr, size_t n, te_id_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || te_id_from_hex(json_string_value(v), &out[i]) != 0)
            return 0;
    }
    return 1;
}

int cl_adoption_of(const cl_job_t *j, te_job_adoption_t *a)
{
    const json_t *tasks = json_object_get(j->attempt, "tasks"), *slots = json_object_get(j->attempt, "slots");
    json_int_t number = json_integer_value(json_object_get(j->attempt, "number"));
    size_t nt = json_array_size(tasks), ns = json_array_size(slots);
    memset(a, 0, sizeof(*a));
    if (j->d->cfg.adoption_timeout_ms <= 0 || nt == 0 || ns == 0 || number < 0 || number > UINT32_MAX)
        return 0;
    te_id_t *ex = calloc(nt, sizeof(*ex)), *al = calloc(ns, sizeof(*al));
    if (ex == NULL || al == NULL || !ids_of(tasks, nt, ex) || !ids_of(slots, ns, al)) {
        free(ex);
        free(al);
        return 0;
    }
    *a = (te_job_adoption_t){(uint32_t)number, ex, nt, al, ns, j->d->cfg.adoption_timeout_ms};
    return 1;
}

void cl_adoption_clear(te_job_adoption_t *a)
{
    free((void *)a->execution_ids);
    free((void *)a->allocation_ids);
    memset(a, 0, sizeof(*a));
}
