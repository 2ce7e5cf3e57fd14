/*
 * resource_manager_adopt — adoption of running attempts (high availability; see
 * slot_provider.h's adopt): a new leader's JobMaster recovered a job whose last
 * attempt may still run. Its slots (the allocation ids its tasks run in) are held at
 * once, so that the leftover check of a registering TaskExecutor does not free them;
 * every TaskExecutor reports its tasks when it registers and with every heartbeat.
 * Once every task of the attempt is reported RUNNING (or FINISHED: a bounded source
 * that ended) by a usable TaskExecutor and every slot is in the slot view of one, the
 * JobMaster is registered there (RegisterJobManager: the TaskExecutor then reports those
 * tasks to this JobManager, and their last states again with the job's next Heartbeat)
 * and every slot is offered to it — once every task is listed running (or finished) by
 * the answers to those registrations too: a task that ended between its last report and
 * the registration told no JobManager, so its attempt is not adopted. A task reported cancelled or failed, a registration
 * refused, or the deadline passing with something missing ends the adoption
 * (job_master_adopt_failed): the JobMaster requests new slots and the held ones become
 * leftovers, freed (their tasks cancelled) before the new attempt is placed.
 *
 * Threading: the event-loop thread only; no locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/resource_manager_internal.h"
#include "common/log.h"

#define CTX        "resource-manager"
#define MAX_FAILED 64

void rm_executor_set_tasks(rm_executor_t *ex, const Te__TaskReport *rep)
{
    if (rep == NULL)
        return;
    rm_task_t *t = calloc(rep->n_tasks ? rep->n_tasks : 1, sizeof(*t));
    if (t == NULL)
        return; /* out of memory: the last report stays */
    size_t n = 0;
    for (size_t i = 0; i < rep->n_tasks; i++) {
        const Te__TaskStatus *st = rep->tasks[i];
        if (te_id_from_bytes(st->job_id.data, st->job_id.len, &t[n].job_id) != 0 ||
            te_id_from_bytes(st->execution_attempt_id.data, st->execution_attempt_id.len, &t[n].execution_id) !=
                0 ||
            te_id_from_bytes(st->allocation_id.data, st->allocation_id.len, &t[n].allocation_id) != 0)
            continue;
        t[n++].state = st->state;
    }
    free(ex->tasks);
    ex->tasks = t;
    ex->n_tasks = n;
}

void rm_adopt_end(rm_job_t *j)
{
    free(j->adopt_exec);
    free(j->adopt_confirmed);
    j->adopt_exec = NULL;
    j->adopt_confirmed = NULL;
    j->n_adopt_exec = 0;
    j->adopting = j->adopt_registering = 0;
    j->adopt_regs = 0;
    j->adopt_error[0] = '\0';
}

void rm_adopt(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n,
              const te_id_t *execution_ids, size_t n_tasks, int64_t deadline_ms)
{
    te_resource_manager_t *rm = self;
    rm_job_t *j = rm_job_of(rm, jm, 1);
    rm_req_t *r = calloc(n ? n : 1, sizeof(*r));
    te_id_t *ex = calloc(n_tasks ? n_tasks : 1, sizeof(*ex));
    unsigned char *confirmed = calloc(n_tasks ? n_tasks : 1, 1);
    if (j == NULL || r == NULL || ex == NULL || confirmed == NULL) {
        free(r);
        free(ex);
        free(confirmed);
        job_master_adopt_failed(jm, "out of memory");
        return;
    }
    rm_adopt_end(j);
    free(j->reqs);
    j->reqs = r;
    for (size_t i = 0; i < n; i++)
        j->reqs[i] = (rm_req_t){reqs[i].index, reqs[i].allocation_id, RM_REQ_ADOPTING, NULL, -1, 0};
    memcpy(ex, execution_ids, n_tasks * sizeof(*ex));
    j->adopt_exec = ex;
    j->adopt_confirmed = confirmed;
    j->n_adopt_exec = n_tasks;
    j->n_reqs = j->n_open = n;
    j->attempt = attempt;
    j->requesting = j->releasing = 0;
    j->adopting = 1;
    j->adopt_deadline = deadline_ms;
    snprintf(j->waiting, sizeof(j->waiting),
             "adopting attempt %u: waiting for the TaskExecutors running its %zu task(s) to register", attempt,
             n_tasks);
    TE_INFO(CTX, "job %s: looking for the %zu running task(s) of attempt %u to adopt (for %lld ms)", j->hex,
            n_tasks, attempt, (long long)(deadline_ms - rm_now()));
    rm_schedule(rm);
}

/* The task with this execution id as reported, and where. */
static const rm_task_t *find_task(te_resource_manager_t *rm, const te_id_t *exec, rm_executor_t **where)
{
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next)
        for (size_t i = 0; i < ex->n_tasks; i++)
            if (te_id_equal(&ex->tasks[i].execution_id, exec)) {
                *where = ex;
                return &ex->tasks[i];
            }
    return NULL;
}

/* The usable executor whose slot view holds (job, alloc), and the slot. */
static rm_executor_t *find_slot(te_resource_manager_t *rm, const rm_job_t *j, const te_id_t *alloc, int32_t *slot)
{
    for (rm_executor_t *ex = rm->executors; ex != NULL; ex = ex->next) {
        if (!rm_executor_usable(ex))
            continue;
        for (size_t i = 0; i < ex->n_slots; i++) {
            const rm_slot_t *s = &ex->slots[i];
            if (s->state != TE__SLOT_STATE__SLOT_FREE && te_id_equal(&s->job_id, &j->job_id) &&
                te_id_equal(&s->allocation_id, alloc)) {
                *slot = (int32_t)i;
                return ex;
            }
        }
    }
    return NULL;
}

static const char *exec_state_name(int s)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__execution_state__descriptor, s);
    return v ? v->name : "UNKNOWN";
}

typedef struct adopt_op {
    te_resource_manager_t *rm;
    uint64_t serial;
    rm_executor_t *ex;
} adopt_op_t;

/* A task the registrations' answers did not list as running: it ended between the
 * task report the adoption went by and the registration (its final state went to no
 * JobManager), so the attempt cannot be adopted. */
static void check_confirmed(rm_job_t *j)
{
    for (size_t i = 0; i < j->n_adopt_exec && j->adopt_error[0] == '\0'; i++)
        if (!j->adopt_confirmed[i])
            snprintf(j->adopt_error, sizeof(j->adopt_error),
                     "task %s was no longer running when the job was registered on its TaskExecutor",
                     te_id_str(&j->adopt_exec[i]));
}

/* Marks the attempt's tasks an answer to RegisterJobManager lists as running. */
static void confirm_tasks(rm_job_t *j, const Te__Response *resp)
{
    const Te__TaskReport *rep = resp != NULL ? resp->task_report : NULL;
    for (size_t k = 0; rep != NULL && k < rep->n_tasks; k++) {
        const Te__TaskStatus *st = rep->tasks[k];
        te_id_t exec;
        if ((st->state != TE__EXECUTION_STATE__RUNNING && st->state != TE__EXECUTION_STATE__FINISHED) ||
            te_id_from_bytes(st->execution_attempt_id.data, st->execution_attempt_id.len, &exec) != 0)
            continue;
        for (size_t i = 0; i < j->n_adopt_exec; i++)
            if (te_id_equal(&j->adopt_exec[i], &exec))
                j->adopt_confirmed[i] = 1;
    }
}

/* Every registration answered: offer every slot (or give up). */
static void registrations_done(te_resource_manager_t *rm, rm_job_t *j)
{
    te_job_master_t *jm = j->jm;
    check_confirmed(j);
    if (j->adopt_error[0] != '\0') {
        char why[sizeof(j->adopt_error)];
        snprintf(why, sizeof(why), "%s", j->adopt_error);
        j->adopting = j->adopt_registering = 0; /* rm_request cleans up (n_adopt_exec stays) */
        job_master_adopt_failed(jm, why);
        return;
    }
    size_t n = j->n_reqs;
    rm_req_t *reqs = malloc((n ? n : 1) * sizeof(*reqs));
    if (reqs == NULL) {
        j->adopting = j->adopt_registering = 0;
        job_master_adopt_failed(jm, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        j->reqs[i].state = RM_REQ_OFFERED;
        reqs[i] = j->reqs[i];
    }
    rm_adopt_end(j);
    j->n_open = 0;
    j->requesting = 1; /* served: released like any attempt */
    j->waiting[0] = '\0';
    TE_INFO(CTX, "job %s: every task of attempt %u runs; adopting its %zu slot(s)", j->hex, j->attempt, n);
    uint64_t serial = j->serial;
    for (size_t i = 0; i < n && rm_job_by_serial(rm, serial) != NULL; i++)
        job_master_offer_slot(jm, reqs[i].index, reqs[i].ex->gw, reqs[i].slot, reqs[i].ex->data_address);
    free(reqs);
}

static void on_adopt_registered(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r)
{
    adopt_op_t *op = arg;
    (void)gw;
    rm_job_t *j = rm_job_by_serial(op->rm, op->serial);
    if (j != NULL && j->adopt_registering) {
        if ((r->lost || r->code != TE__ERROR_CODE__OK) && j->adopt_error[0] == '\0')
            snprintf(j->adopt_error, sizeof(j->adopt_error), "TaskExecutor %s refused the job's registration: %s",
                     op->ex->resource_id, r->message);
        else if (!r->lost && r->code == TE__ERROR_CODE__OK)
            confirm_tasks(j, r->response);
        if (--j->adopt_regs == 0)
            registrations_done(op->rm, j);
    }
    free(op);
}

/* Every task and slot found RUNNING: registers the JobMaster on their executors. */
static void register_job(te_resource_manager_t *rm, rm_job_t *j)
{
    j->adopt_registering = 1;
    j->adopt_regs = 1; /* until every call below was sent */
    const te_id_t *token = job_master_fencing_token(j->jm);
    const char *name = job_graph_name(job_master_graph(j->jm));
    for (size_t i = 0; i < j->n_reqs; i++) {
        rm_executor_t *ex = j->reqs[i].ex;
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++)
            seen = j->reqs[k].ex == ex;
        adopt_op_t *op = seen ? NULL : malloc(sizeof(*op));
        if (op == NULL) {
            if (!seen && j->adopt_error[0] == '\0')
                snprintf(j->adopt_error, sizeof(j->adopt_error), "out of memory");
            continue;
        }
        *op = (adopt_op_t){rm, j->serial, ex};
        rm_job_add_tm(j, ex);
        j->adopt_regs++;
        tm_gateway_register_job_manager(ex->gw, &j->job_id, token, name, on_adopt_registered, op);
    }
    if (--j->adopt_regs == 0)
        registrations_done(rm, j);
}

/* 1: found (registration started), 0: keep waiting, -1: failed (why). */
static int check_job(te_resource_manager_t *rm, rm_job_t *j, int64_t now, char *why, size_t cap)
{
    char missing[300] = "";
    for (size_t i = 0; i < j->n_adopt_exec; i++) {
        rm_executor_t *where = NULL;
        const rm_task_t *t = find_task(rm, &j->adopt_exec[i], &where);
        if (t != NULL && (t->state == TE__EXECUTION_STATE__CANCELING ||
                          t->state == TE__EXECUTION_STATE__CANCELED || t->state == TE__EXECUTION_STATE__FAILED)) {
            snprintf(why, cap, "task %s is %s on TaskExecutor %s", te_id_str(&j->adopt_exec[i]),
                     exec_state_name(t->state), where->resource_id);
            return -1;
        }
        if (missing[0] != '\0')
            continue;
        if (t == NULL)
            snprintf(missing, sizeof(missing), "task %s is reported by no registered TaskExecutor",
                     te_id_str(&j->adopt_exec[i]));
        else if (!rm_executor_usable(where))
            snprintf(missing, sizeof(missing), "TaskExecutor %s (task %s) is not reachable yet",
                     where->resource_id, te_id_str(&j->adopt_exec[i]));
        else if (t->state != TE__EXECUTION_STATE__RUNNING && t->state != TE__EXECUTION_STATE__FINISHED)
            snprintf(missing, sizeof(missing), "task %s is %s, not RUNNING yet", te_id_str(&j->adopt_exec[i]),
                     exec_state_name(t->state));
    }
    for (size_t i = 0; i < j->n_reqs && missing[0] == '\0'; i++) {
        rm_req_t *req = &j->reqs[i];
        if ((req->ex = find_slot(rm, j, &req->allocation_id, &req->slot)) == NULL)
            snprintf(missing, sizeof(missing), "allocation %s is in no slot of a reachable TaskExecutor",
                     te_id_str(&req->allocation_id));
    }
    if (missing[0] == '\0') {
        register_job(rm, j);
        return 1;
    }
    for (size_t i = 0; i < j->n_reqs; i++)
        j->reqs[i].ex = NULL;
    if (now >= j->adopt_deadline) {
        snprintf(why, cap, "%s within high-availability.adoption-timeout", missing);
        return -1;
    }
    snprintf(j->waiting, sizeof(j->waiting), "adopting attempt %u: %.250s", j->attempt, missing);
    return 0;
}

void rm_adopt_check(te_resource_manager_t *rm, int64_t now)
{
    uint64_t failed[MAX_FAILED];
    char why[MAX_FAILED][400];
    size_t n = 0;
    for (rm_job_t *j = rm->jobs; j != NULL && n < MAX_FAILED; j = j->next) {
        if (!j->adopting || j->adopt_registering)
            continue;
        if (check_job(rm, j, now, why[n], sizeof(why[n])) < 0) {
            j->adopting = 0; /* rm_request cleans up (n_adopt_exec stays) */
            failed[n++] = j->serial;
        }
    }
    /* The JobMasters request new slots from inside: records first. */
    for (size_t k = 0; k < n; k++) {
        rm_job_t *j = rm_job_by_serial(rm, failed[k]);
        if (j != NULL) {
            TE_WARN(CTX, "job %s: attempt %u cannot be adopted: %s", j->hex, j->attempt, why[k]);
            job_master_adopt_failed(j->jm, why[k]);
        }
    }
}
