/*
 * executor_rpc — the TaskExecutor's side of the control-plane RPC (Flink's
 * TaskExecutorGateway): one handler per call kind in a table indexed by the call's
 * RpcMessage field number (register, slots, deployment, cancellation, checkpoints,
 * heartbeats, reports), and the pushes to a job's JobManager connection
 * (TaskExecutionState, AcknowledgeCheckpoint, DeclineCheckpoint).
 *
 * Adding a call: its message in proto/rpc.proto (a field number in the call range,
 * see RpcMessage), a handler below and one line in `calls`.
 *
 * Threading: everything runs on the control thread (rpc_server delivers calls there;
 * pushes come from the control queue). No locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "rpc/frame_codec.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "executor/resource_manager_connection.h"
#include "executor/task_executor_internal.h"

#define CTX "executor"

static int id_from(ProtobufCBinaryData b, te_id_t *out) { return te_id_from_bytes(b.data, b.len, out); }

/* A 16-byte id argument of a call: 0, or -1 after answering `code` with a message
 * naming the field (`what` prefixes it when not NULL) and the length received. */
static int id_arg(te_rpc_conn_t *conn, uint64_t call_id, Te__ErrorCode code, const char *what, const char *field,
                  ProtobufCBinaryData b, te_id_t *out)
{
    if (id_from(b, out) == 0)
        return 0;
    rpc_conn_replyf(conn, call_id, code, "%s%s%s must be 16 bytes, got %zu", what ? what : "", what ? ": " : "",
                    field, b.len);
    return -1;
}

static Te__ExecutionState to_wire_state(te_exec_state_t s) { return (Te__ExecutionState)s; }

/* ---------- pushes ---------- */

void executor_push_task_state(te_task_executor_t *te, te_task_record_t *r, te_exec_state_t s, const char *cause)
{
    /* The submitting connection, even after the job's JobManager was dropped (a
     * heartbeat timeout): it still learns why its tasks failed. */
    te_rpc_conn_t *conn = rpc_server_find_conn(te->rpc, r->conn_id);
    if (conn == NULL)
        return;
    Te__TaskExecutionState tes = TE__TASK_EXECUTION_STATE__INIT;
    tes.job_id.data = r->job_id.b;
    tes.job_id.len = TE_ID_LEN;
    tes.execution_attempt_id.data = r->exec_id.b;
    tes.execution_attempt_id.len = TE_ID_LEN;
    tes.state = to_wire_state(s);
    tes.cause = (char *)(cause ? cause : "");
    tes.restore_failed = s == TE_STATE_FAILED && task_restore_failed(r->task);
    te_task_metrics_t *m = task_metrics(r->task);
    tes.records_in = task_metrics_get(&m->num_records_in);
    tes.records_out = task_metrics_get(&m->num_records_out);
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    msg.body_case = TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE;
    msg.task_execution_state = &tes;
    if (rpc_conn_send(conn, &msg) != TE_OK)
        TE_WARN(CTX, "could not push %s of %s to the JobManager of job %s", task_state_name(s),
                te_id_str(&r->exec_id), te_id_str(&r->job_id));
    r->last_pushed = s;
}

/* The shared files of an incremental checkpoint's report (issue #16). */
void executor_update_free_shared(te_state_update_t *u)
{
    for (size_t i = 0; i < u->n_shared; i++) {
        free(u->shared[i]->path);
        free(u->shared[i]);
    }
    free(u->shared);
}

void executor_update_copy_shared(te_state_update_t *u, const te_checkpoint_report_t *rep)
{
    if (rep->n_shared == 0 || (u->shared = calloc(rep->n_shared, sizeof(*u->shared))) == NULL)
        return;
    for (size_t i = 0; i < rep->n_shared; i++) {
        Te__SharedStateFile *f = malloc(sizeof(*f));
        if (f == NULL)
            break;
        te__shared_state_file__init(f);
        f->path = strdup(rep->shared_paths[i]);
        f->size = rep->shared_sizes[i];
        u->shared[u->n_shared++] = f;
        if (f->path == NULL)
            break;
    }
    if (u->n_shared < rep->n_shared || u->shared[u->n_shared - 1]->path == NULL) { /* out of memory: decline */
        executor_update_free_shared(u);
        u->shared = NULL;
        u->n_shared = 0;
        u->ckpt = 2;
        free(u->cause);
        u->cause = strdup("out of memory reporting the shared files of an incremental checkpoint");
    }
}

/* AcknowledgeCheckpoint / DeclineCheckpoint to the task's JobManager connection. */
void executor_push_checkpoint(te_task_executor_t *te, te_task_record_t *r, const te_state_update_t *u)
{
    te_rpc_conn_t *conn = rpc_server_find_conn(te->rpc, r->conn_id);
    if (conn == NULL)
        return;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    Te__AcknowledgeCheckpoint ack = TE__ACKNOWLEDGE_CHECKPOINT__INIT;
    Te__DeclineCheckpoint dec = TE__DECLINE_CHECKPOINT__INIT;
    Te__StateHandle h = TE__STATE_HANDLE__INIT;
    Te__StateHandle *hp = &h;
    uint32_t *kgs = NULL;
    if (u->ckpt == 1) {
        size_t n_kg = u->ckpt_kg_last >= u->ckpt_kg_first ? u->ckpt_kg_last - u->ckpt_kg_first + 1 : 0;
        kgs = calloc(n_kg ? n_kg : 1, sizeof(*kgs));
        if (kgs == NULL)
            return;
        for (size_t i = 0; i < n_kg; i++)
            kgs[i] = u->ckpt_kg_first + (uint32_t)i;
        h.operator_uid = (char *)"";
        h.path = u->path ? u->path : (char *)"";
        h.size = u->ckpt_size;
        h.n_key_groups = n_kg;
        h.key_groups = kgs;
        h.subtask_index = u->ckpt_subtask;
        h.parallelism = u->ckpt_parallelism;
        h.n_shared = u->n_shared;
        h.shared = u->shared;
        ack.job_id.data = r->job_id.b;
        ack.job_id.len = TE_ID_LEN;
        ack.execution_attempt_id.data = r->exec_id.b;
        ack.execution_attempt_id.len = TE_ID_LEN;
        ack.checkpoint_id = u->ckpt_id;
        ack.n_handles = 1;
        ack.handles = &hp;
        ack.state_size = u->ckpt_size;
        ack.alignment_duration_ns = u->ckpt_alignment_ns;
        ack.persisted_in_flight_bytes = u->ckpt_inflight;
        ack.start_delay_ms = u->ckpt_start_delay_ms;
        msg.body_case = TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT;
        msg.acknowledge_checkpoint = &ack;
    } else {
        dec.job_id.data = r->job_id.b;
        dec.job_id.len = TE_ID_LEN;
        dec.execution_attempt_id.data = r->exec_id.b;
        dec.execution_attempt_id.len = TE_ID_LEN;
        dec.checkpoint_id = u->ckpt_id;
        dec.cause = u->cause ? u->cause : (char *)"";
        msg.body_case = TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT;
        msg.decline_checkpoint = &dec;
    }
    if (rpc_conn_send(conn, &msg) != TE_OK)
        TE_WARN(CTX, "could not push the %s of checkpoint %llu of %s to the JobManager of job %s",
                u->ckpt == 1 ? "acknowledgement" : "decline", (unsigned long long)u->ckpt_id,
                te_id_str(&r->exec_id), te_id_str(&r->job_id));
    free(kgs);
}

/* ---------- calls ---------- */

typedef enum { CKPT_TRIGGER, CKPT_CONFIRM, CKPT_ABORT } ckpt_call_t;

/* TriggerCheckpoint / ConfirmCheckpoint / AbortCheckpoint: handed to the task's mailbox. */
static void checkpoint_call(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, ckpt_call_t kind,
                            ProtobufCBinaryData eid, uint64_t ckpt, uint64_t timestamp, int terminate)
{
    static const char *const names[] = {"TriggerCheckpoint", "ConfirmCheckpoint", "AbortCheckpoint"};
    const char *what = names[kind];
    te_id_t exec;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, what, "execution_attempt_id", eid, &exec) != 0)
        return;
    if (ckpt == 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "%s: checkpoint_id must be at least 1",
                        what);
        return;
    }
    te_task_record_t *r = executor_find_record(te, &exec);
    if (r == NULL) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__UNKNOWN_TASK, "%s: no task with execution attempt id %s",
                        what, te_id_str(&exec));
        return;
    }
    te_status_t rc;
    if (kind == CKPT_TRIGGER)
        rc = task_trigger_checkpoint(r->task, ckpt, timestamp, terminate);
    else if (kind == CKPT_CONFIRM)
        rc = task_confirm_checkpoint(r->task, ckpt);
    else
        rc = task_abort_checkpoint(r->task, ckpt);
    if (kind == CKPT_CONFIRM && rc == TE_OK && ckpt > r->last_confirmed)
        r->last_confirmed = ckpt;
    if (rc == TE_EINVAL)
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                        "%s: task %s (%s) is not a source task (checkpoints are triggered at the sources)%s", what,
                        task_name(r->task), te_id_str(&exec),
                        kind == CKPT_TRIGGER && terminate
                            ? ", or its source runs in its own thread and cannot stop at a barrier (stop with "
                              "savepoint)"
                            : "");
    else if (rc != TE_OK)
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "%s: task %s (%s) is %s, not running",
                        what, task_name(r->task), te_id_str(&exec), task_state_name(task_state(r->task)));
    else
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_trigger_checkpoint(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                    const void *body)
{
    const Te__TriggerCheckpoint *m = body;
    checkpoint_call(te, conn, call_id, CKPT_TRIGGER, m->execution_attempt_id, m->checkpoint_id, m->timestamp,
                    m->terminate);
}

static void call_confirm_checkpoint(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                    const void *body)
{
    const Te__ConfirmCheckpoint *m = body;
    checkpoint_call(te, conn, call_id, CKPT_CONFIRM, m->execution_attempt_id, m->checkpoint_id, 0, 0);
}

static void call_abort_checkpoint(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__AbortCheckpoint *m = body;
    checkpoint_call(te, conn, call_id, CKPT_ABORT, m->execution_attempt_id, m->checkpoint_id, 0, 0);
}

static void call_register_job_manager(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                      const void *body)
{
    const Te__RegisterJobManager *m = body;
    te_id_t job_id, master_id;
    if (id_from(m->job_id, &job_id) != 0 || id_from(m->job_master_id, &master_id) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                       "RegisterJobManager needs a 16-byte job_id and job_master_id");
        return;
    }
    te_job_manager_t *jm = executor_find_job(te, &job_id);
    /* A newer leader (high availability) takes the job over even while the deposed
     * one's connection is still open: its calls are refused from now on anyway. */
    int newer = jm != NULL && te->epoch_seen > jm->epoch;
    if (jm != NULL && !te_id_equal(&jm->job_master_id, &master_id) && !newer &&
        rpc_server_find_conn(te->rpc, jm->conn_id)) {
        char have[TE_ID_HEX_LEN + 1];
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__JOB_MASTER_MISMATCH,
                        "job %s is already led by JobManager %s (connection %s); got job_master_id %s",
                        te_id_str(&job_id), te_id_to_hex(&jm->job_master_id, have), "open", te_id_str(&master_id));
        return;
    }
    if (jm == NULL) {
        jm = calloc(1, sizeof(*jm));
        if (jm == NULL) {
            rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
            return;
        }
        jm->job_id = job_id;
        jm->next = te->jobs;
        te->jobs = jm;
    }
    jm->job_master_id = master_id;
    jm->conn_id = rpc_conn_id(conn);
    jm->retain = m->retain_tasks_on_disconnect;
    jm->epoch = te->epoch_seen;
    jm->last_heartbeat_ms = te_clock_mono_ms();
    snprintf(jm->job_name, sizeof(jm->job_name), "%s", m->job_name ? m->job_name : "");
    /* Cluster mode: the job's running tasks now report to this connection (a new leader
     * adopting them after a failover; their old JobManager connection is gone). */
    size_t adopted = 0;
    for (te_task_record_t *r = te->tasks; m->retain_tasks_on_disconnect && r; r = r->next)
        if (te_id_equal(&r->job_id, &job_id) && r->conn_id != jm->conn_id) {
            r->conn_id = jm->conn_id;
            r->repush = 1;
            adopted += !r->final_seen;
        }
    char what[64] = "";
    if (adopted > 0)
        snprintf(what, sizeof(what), ": it adopts %zu running task(s)", adopted);
    TE_INFO(CTX, "registered JobManager %s for job %s (%s) from %s%s", te_id_str(&master_id), te_id_str(&job_id),
            jm->job_name, rpc_conn_peer(conn), what);
    /* The answer lists the job's tasks here: a JobManager adopting them learns which
     * ones still run (a task that ended before this registration reported to no one). */
    Te__Response resp = TE__RESPONSE__INIT;
    resp.task_report = executor_task_report_new(te, &job_id); /* NULL (out of memory): none listed */
    rpc_conn_reply_response(conn, call_id, &resp);
    executor_task_report_free(resp.task_report);
}

/* Looks the job up and checks the fencing token; replies on failure. */
static te_job_manager_t *fenced_job(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                    ProtobufCBinaryData job_bytes, ProtobufCBinaryData master_bytes)
{
    te_id_t job_id, master_id;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, NULL, "job_id", job_bytes, &job_id) != 0)
        return NULL;
    te_job_manager_t *jm = executor_find_job(te, &job_id);
    if (jm == NULL) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__UNKNOWN_JOB,
                        "no JobManager is registered for job %s (call RegisterJobManager first)",
                        te_id_str(&job_id));
        return NULL;
    }
    if (id_from(master_bytes, &master_id) != 0 || !te_id_equal(&master_id, &jm->job_master_id)) {
        char want[TE_ID_HEX_LEN + 1];
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__JOB_MASTER_MISMATCH,
                        "the job master id %s does not match the expected job master id %s of job %s",
                        master_bytes.len == TE_ID_LEN ? te_id_str(&master_id) : "(malformed)",
                        te_id_to_hex(&jm->job_master_id, want), te_id_str(&job_id));
        return NULL;
    }
    jm->last_heartbeat_ms = te_clock_mono_ms();
    return jm;
}

static void call_request_slot(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__RequestSlot *m = body;
    te_job_manager_t *jm = fenced_job(te, conn, call_id, m->job_id, m->job_master_id);
    if (jm == NULL)
        return;
    te_id_t alloc;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, NULL, "allocation_id", m->allocation_id, &alloc) !=
        0)
        return;
    if (te->shutting_down) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SHUTTING_DOWN, "the TaskExecutor is shutting down");
        return;
    }
    if (m->offer && te->rm == NULL) {
        rpc_conn_reply(
            conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
            "RequestSlot with offer: this TaskExecutor has no jobmanager.address to offer slots through");
        return;
    }
    long timeout = m->timeout_ms ? (long)m->timeout_ms : (long)te->slot_timeout_ms;
    int index = -1;
    te_error_t err;
    te_status_t s = slot_table_allocate(te->slots, m->slot_index, &jm->job_id, &alloc, timeout, &index, &err);
    if (s != TE_OK) {
        /* rpc.proto: taken, out of range or none free are all SLOT_NOT_AVAILABLE. */
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SLOT_NOT_AVAILABLE, err.msg);
        return;
    }
    TE_INFO(CTX, "allocated slot %d to job %s (allocation %s)", index, te_id_str(&jm->job_id), te_id_str(&alloc));
    Te__Response resp = TE__RESPONSE__INIT;
    resp.code = TE__ERROR_CODE__OK;
    resp.slot_index = index;
    rpc_conn_reply_response(conn, call_id, &resp);
    if (m->offer)
        rm_connection_offer_slot(te->rm, &jm->job_id, &alloc, index);
}

static Te__ErrorCode deploy_error_code(te_deploy_error_t why)
{
    switch (why) {
    case TE_DEPLOY_INCONSISTENT_IDS: return TE__ERROR_CODE__INCONSISTENT_IDS;
    case TE_DEPLOY_INVALID_CHAIN: return TE__ERROR_CODE__INVALID_CHAIN;
    case TE_DEPLOY_INSUFFICIENT_BUFFERS: return TE__ERROR_CODE__INSUFFICIENT_BUFFERS;
    default: return TE__ERROR_CODE__INTERNAL;
    }
}

/* Checks 4-7 of SubmitTask and the deployment into the ACTIVE slot of `alloc`. 0, or
 * -1 when refused (the reply is sent). */
static int deploy_in_slot(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, te_job_manager_t *jm,
                          const te_id_t *alloc, const Te__TaskDeploymentDescriptor *tdd)
{
    /* A bound on what one slot may hold (refused, never grown without limit). */
    int slot_index = slot_table_find_by_allocation(te->slots, alloc);
    int64_t max_tasks = config_get_int(te->cfg, TE_KEY_TASKMANAGER_SLOT_MAX_TASKS);
    int in_slot = slot_index >= 0 ? slot_table_tasks_of_slot(te->slots, slot_index, NULL, NULL, 0) : 0;
    if (in_slot >= max_tasks) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__SLOT_NOT_AVAILABLE,
                        "slot %d already holds %d tasks, the most taskmanager.slot.max-tasks (%lld) allows",
                        slot_index, in_slot, (long long)max_tasks);
        return -1;
    }
    /* 4-6: ids, chain, buffers (task_new checks in that order and unwinds). */
    te_task_services_t svc;
    executor_task_services(te, &svc);
    svc.memory_budget = slot_index >= 0 ? managed_memory_slot(te->managed, (unsigned)slot_index) : NULL;
    te_error_t err;
    te_error_clear(&err);
    te_deploy_error_t why;
    te_task_t *task = task_new(tdd, &svc, &why, &err);
    if (task == NULL) {
        TE_WARN(CTX, "rejected task submission: %s", err.msg);
        rpc_conn_reply(conn, call_id, deploy_error_code(why), err.msg);
        return -1;
    }
    /* 7: a new execution id. */
    if (executor_find_record(te, task_execution_id(task)) != NULL) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__DUPLICATE_EXECUTION,
                        "execution attempt %s is already deployed", te_id_str(task_execution_id(task)));
        task_free(task);
        return -1;
    }
    if (slot_table_add_task(te->slots, &jm->job_id, alloc, task_execution_id(task), task, &err) != TE_OK) {
        Te__ErrorCode code =
            err.code == TE_EEXIST ? TE__ERROR_CODE__DUPLICATE_EXECUTION : TE__ERROR_CODE__SLOT_NOT_FOUND;
        rpc_conn_reply(conn, call_id, code, err.msg);
        task_free(task);
        return -1;
    }
    te_task_record_t *r = calloc(1, sizeof(*r));
    if (r == NULL || task_start(task, &err) != TE_OK) {
        slot_table_remove_task(te->slots, task_execution_id(task), NULL);
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, r ? err.msg : "out of memory");
        free(r);
        task_free(task);
        return -1;
    }
    r->task = task;
    r->exec_id = *task_execution_id(task);
    r->job_id = jm->job_id;
    r->alloc_id = *alloc;
    r->conn_id = rpc_conn_id(conn);
    r->attempt_number = tdd->attempt_number;
    r->subtask_index = tdd->subtask_index;
    (void)te_id_from_bytes(tdd->task_information->job_vertex_id.data, tdd->task_information->job_vertex_id.len,
                           &r->vertex_id);
    r->rates.last_sample_ms = te_clock_mono_ms();
    r->next = te->tasks;
    te->tasks = r;
    TE_INFO(CTX, "deployed %s (%s) of job %s into allocation %s", task_name(task), te_id_str(&r->exec_id),
            te_id_str(&r->job_id), te_id_str(alloc));
    return 0;
}

static void call_submit_task(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__SubmitTask *m = body;
    const Te__TaskDeploymentDescriptor *tdd = m->tdd;
    if (tdd == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                       "SubmitTask carries no TaskDeploymentDescriptor");
        return;
    }
    if (te->shutting_down) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SHUTTING_DOWN, "the TaskExecutor is shutting down");
        return;
    }
    /* 1-2: a JobManager for the job, with the matching fencing token. */
    te_job_manager_t *jm = fenced_job(te, conn, call_id, tdd->job_id, m->job_master_id);
    if (jm == NULL)
        return;
    /* 3: an ACTIVE-able slot of the job for the allocation (tryMarkSlotActive). */
    te_id_t alloc;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, NULL, "allocation_id", tdd->allocation_id,
               &alloc) != 0)
        return;
    if (slot_table_mark_active(te->slots, &jm->job_id, &alloc) != 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__SLOT_NOT_FOUND,
                        "no task slot allocated for job %s and allocation %s", te_id_str(&jm->job_id),
                        te_id_str(&alloc));
        return;
    }
    if (deploy_in_slot(te, conn, call_id, jm, &alloc, tdd) != 0) {
        /* Refused after the slot was marked ACTIVE: a slot holding no task goes back to
         * ALLOCATED and its taskmanager.slot.timeout starts again (Flink's
         * markSlotInactive), so it is freed unless a deployment activates it in time. */
        int idx = slot_table_find_by_allocation(te->slots, &alloc);
        if (idx >= 0 && slot_table_tasks_of_slot(te->slots, idx, NULL, NULL, 0) == 0)
            slot_table_mark_inactive(te->slots, &alloc, te->slot_timeout_ms);
        return;
    }
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_cancel_task(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__CancelTask *m = body;
    te_id_t exec;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, NULL, "execution_attempt_id",
               m->execution_attempt_id, &exec) != 0)
        return;
    te_task_record_t *r = executor_find_record(te, &exec);
    if (r == NULL) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__UNKNOWN_TASK, "no task with execution attempt id %s",
                        te_id_str(&exec));
        return;
    }
    if (!r->final_seen && r->cancel_started_ms == 0)
        r->cancel_started_ms = te_clock_mono_ms();
    task_cancel(r->task, "the task was cancelled");
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_free_slot(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__FreeSlot *m = body;
    te_id_t alloc;
    if (id_arg(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, NULL, "allocation_id", m->allocation_id, &alloc) !=
        0)
        return;
    te_error_t err;
    const char *cause = m->cause && m->cause[0] ? m->cause : "freed by the JobManager";
    if (executor_free_slot(te, &alloc, cause, &err) != TE_OK) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SLOT_NOT_FOUND, err.msg);
        return;
    }
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_heartbeat(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__Heartbeat *m = body;
    if (m->job_id.len == 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
        return;
    }
    te_id_t job;
    te_job_manager_t *jm = id_from(m->job_id, &job) == 0 ? executor_find_job(te, &job) : NULL;
    if (jm == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__UNKNOWN_JOB,
                       "heartbeat for a job with no registered JobManager");
        return;
    }
    jm->last_heartbeat_ms = te_clock_mono_ms();
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
    /* The adopting JobManager runs the job now: the adopted tasks' last states again. */
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (r->repush && r->conn_id == rpc_conn_id(conn) && te_id_equal(&r->job_id, &job)) {
            r->repush = 0;
            /* a final state drained while no connection took it was never recorded as pushed */
            te_exec_state_t st = r->final_seen ? task_state(r->task) : r->last_pushed;
            if (st != TE_STATE_CREATED)
                executor_push_task_state(te, r, st, r->final_seen ? task_failure_cause(r->task) : NULL);
        }
}

static void call_disconnect(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__DisconnectJobManager *m = body;
    te_id_t job;
    if (id_from(m->job_id, &job) != 0 || executor_find_job(te, &job) == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__UNKNOWN_JOB, "no JobManager is registered for that job");
        return;
    }
    executor_disconnect_job(te, &job, m->cause && m->cause[0] ? m->cause : "DisconnectJobManager", 0);
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

/* The storage of a slot report (executor_slot_report_new). */
typedef struct slot_report_box {
    Te__SlotReport rep; /* first: the box is freed through it */
    te_slot_info_t *info;
    Te__SlotStatus *st;
    Te__SlotStatus **stp;
} slot_report_box_t;

void executor_slot_report_free(Te__SlotReport *rep)
{
    slot_report_box_t *b = (slot_report_box_t *)rep;
    if (b == NULL)
        return;
    free(b->info);
    free(b->st);
    free(b->stp);
    free(b);
}

Te__SlotReport *executor_slot_report_new(te_task_executor_t *te)
{
    int n = slot_table_size(te->slots);
    slot_report_box_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->info = calloc((size_t)n, sizeof(*b->info));
    b->st = calloc((size_t)n, sizeof(*b->st));
    b->stp = calloc((size_t)n, sizeof(*b->stp));
    if (b->info == NULL || b->st == NULL || b->stp == NULL) {
        executor_slot_report_free(&b->rep);
        return NULL;
    }
    slot_table_snapshot(te->slots, b->info, n);
    for (int i = 0; i < n; i++) {
        Te__SlotStatus *st = &b->st[i];
        te__slot_status__init(st);
        st->slot_index = b->info[i].index;
        st->state = (Te__SlotState)b->info[i].state;
        if (b->info[i].state != TE_SLOT_FREE) {
            st->job_id.data = b->info[i].job_id.b;
            st->job_id.len = TE_ID_LEN;
            st->allocation_id.data = b->info[i].allocation_id.b;
            st->allocation_id.len = TE_ID_LEN;
        }
        st->number_of_tasks = (uint32_t)b->info[i].n_tasks;
        b->stp[i] = st;
    }
    te__slot_report__init(&b->rep);
    b->rep.resource_id.data = (uint8_t *)te->resource_id;
    b->rep.resource_id.len = strlen(te->resource_id);
    b->rep.n_slots = (size_t)n;
    b->rep.slots = b->stp;
    b->rep.data_address = te->data_address;
    return &b->rep;
}

static void call_slot_report(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    (void)body;
    Te__SlotReport *rep = executor_slot_report_new(te);
    if (rep == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
        return;
    }
    Te__Response resp = TE__RESPONSE__INIT;
    resp.slot_report = rep;
    rpc_conn_reply_response(conn, call_id, &resp);
    executor_slot_report_free(rep);
}

/* The storage of a task report (executor_task_report_new). */
typedef struct task_report_box {
    Te__TaskReport rep; /* first: the box is freed through it */
    Te__TaskStatus *st;
    Te__TaskStatus **stp;
} task_report_box_t;

void executor_task_report_free(Te__TaskReport *rep)
{
    task_report_box_t *b = (task_report_box_t *)rep;
    if (b == NULL)
        return;
    free(b->st);
    free(b->stp);
    free(b);
}

Te__TaskReport *executor_task_report_new(te_task_executor_t *te, const te_id_t *job_id)
{
    size_t n = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        n += job_id == NULL || te_id_equal(&r->job_id, job_id);
    task_report_box_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->st = calloc(n ? n : 1, sizeof(*b->st))) == NULL ||
        (b->stp = calloc(n ? n : 1, sizeof(*b->stp))) == NULL) {
        executor_task_report_free(b ? &b->rep : NULL);
        return NULL;
    }
    Te__TaskStatus *st = b->st;
    size_t i = 0;
    for (te_task_record_t *r = te->tasks; r && i < n; r = r->next) {
        if (job_id != NULL && !te_id_equal(&r->job_id, job_id))
            continue;
        te__task_status__init(&st[i]);
        te_job_manager_t *jm = executor_find_job(te, &r->job_id);
        te_task_metrics_t *met = task_metrics(r->task);
        st[i].job_id.data = r->job_id.b;
        st[i].job_id.len = TE_ID_LEN;
        st[i].job_name = jm ? jm->job_name : (char *)"";
        st[i].execution_attempt_id.data = r->exec_id.b;
        st[i].execution_attempt_id.len = TE_ID_LEN;
        st[i].task_name = (char *)task_name(r->task);
        st[i].state = to_wire_state(task_state(r->task));
        st[i].slot_index = r->slot_freed ? -1 : slot_table_find_by_allocation(te->slots, &r->alloc_id);
        st[i].allocation_id.data = r->alloc_id.b;
        st[i].allocation_id.len = TE_ID_LEN;
        st[i].records_in = task_metrics_get(&met->num_records_in);
        st[i].records_out = task_metrics_get(&met->num_records_out);
        /* The cause is the task thread's until its final state was drained. */
        const char *cause = r->final_seen ? task_failure_cause(r->task) : NULL;
        st[i].cause = (char *)(cause ? cause : "");
        st[i].attempt_number = r->attempt_number;
        st[i].vertex_id.data = r->vertex_id.b;
        st[i].vertex_id.len = TE_ID_LEN;
        st[i].subtask_index = r->subtask_index;
        st[i].last_completed_checkpoint = r->last_confirmed;
        b->stp[i] = &st[i];
        i++;
    }
    te__task_report__init(&b->rep);
    b->rep.resource_id.data = (uint8_t *)te->resource_id;
    b->rep.resource_id.len = strlen(te->resource_id);
    b->rep.n_tasks = i;
    b->rep.tasks = b->stp;
    return &b->rep;
}

/* RequestTaskReport: every task record (running, or final with its slot still
 * allocated), optionally of one job. */
static void call_task_report(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body)
{
    const Te__RequestTaskReport *m = body;
    te_id_t job;
    int filter = m != NULL && m->job_id.len > 0;
    if (filter && id_from(m->job_id, &job) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                       "job_id must be 16 bytes (or empty for every job)");
        return;
    }
    Te__TaskReport *rep = executor_task_report_new(te, filter ? &job : NULL);
    if (rep == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
        return;
    }
    Te__Response resp = TE__RESPONSE__INIT;
    resp.task_report = rep;
    rpc_conn_reply_response(conn, call_id, &resp);
    executor_task_report_free(rep);
}

/* ---------- the call table ---------- */

typedef void (*call_fn)(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const void *body);

/* Indexed by the RpcMessage field number of the call (its body_case). */
static const call_fn calls[] = {
    [TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER] = call_register_job_manager,
    [TE__RPC_MESSAGE__BODY_REQUEST_SLOT] = call_request_slot,
    [TE__RPC_MESSAGE__BODY_SUBMIT_TASK] = call_submit_task,
    [TE__RPC_MESSAGE__BODY_CANCEL_TASK] = call_cancel_task,
    [TE__RPC_MESSAGE__BODY_FREE_SLOT] = call_free_slot,
    [TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT] = call_trigger_checkpoint,
    [TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT] = call_confirm_checkpoint,
    [TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT] = call_abort_checkpoint,
    [TE__RPC_MESSAGE__BODY_HEARTBEAT] = call_heartbeat,
    [TE__RPC_MESSAGE__BODY_DISCONNECT_JOB_MANAGER] = call_disconnect,
    [TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT] = call_slot_report,
    [TE__RPC_MESSAGE__BODY_REQUEST_TASK_REPORT] = call_task_report,
};

void executor_on_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call)
{
    te_task_executor_t *te = arg;
    size_t bc = (size_t)call->body_case;
    const void *body = frame_message_body(call);
    if (bc >= sizeof(calls) / sizeof(calls[0]) || calls[bc] == NULL || body == NULL) {
        rpc_conn_replyf(conn, call->call_id, TE__ERROR_CODE__MALFORMED_MESSAGE,
                        "unknown or missing call (%s): this TaskExecutor has no handler for it",
                        frame_message_body_name(call));
        return;
    }
    if (call->epoch != 0 && call->epoch < te->epoch_seen) {
        TE_WARN(CTX, "refused %s of JobManager epoch %llu from %s: following epoch %llu (STALE_EPOCH)",
                frame_message_body_name(call), (unsigned long long)call->epoch, rpc_conn_peer(conn),
                (unsigned long long)te->epoch_seen);
        rpc_conn_replyf(conn, call->call_id, TE__ERROR_CODE__STALE_EPOCH,
                        "%s of JobManager epoch %llu refused: this TaskExecutor follows epoch %llu (a newer "
                        "leader); the sender is no longer the leader",
                        frame_message_body_name(call), (unsigned long long)call->epoch,
                        (unsigned long long)te->epoch_seen);
        return;
    }
    if (call->epoch > te->epoch_seen)
        executor_epoch_seen(te, call->epoch);
    calls[bc](te, conn, call->call_id, body);
}

void executor_epoch_seen(te_task_executor_t *te, uint64_t epoch)
{
    if (epoch <= te->epoch_seen)
        return;
    TE_INFO(CTX, "following JobManager epoch %llu (calls of epoch %llu and older are refused from now on)",
            (unsigned long long)epoch, (unsigned long long)te->epoch_seen);
    te->epoch_seen = epoch;
    /* A newer leader may adopt the running tasks of the jobs an older one led: their
     * heartbeat.timeout starts over, so that it has the whole timeout to register them. */
    int64_t now = te_clock_mono_ms();
    for (te_job_manager_t *jm = te->jobs; jm != NULL; jm = jm->next)
        if (jm->retain && jm->epoch < epoch && executor_job_has_live_tasks(te, &jm->job_id)) {
            TE_INFO(CTX, "job %s (%s): its tasks keep running for heartbeat.timeout (%lld ms) more, for the new "
                    "leader to adopt them", te_id_str(&jm->job_id), jm->job_name, (long long)te->heartbeat_timeout_ms);
            jm->last_heartbeat_ms = now;
        }
    if (te->rm != NULL)
        rm_connection_epoch_seen(te->rm, epoch);
}
