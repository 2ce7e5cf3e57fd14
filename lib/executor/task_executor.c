/*
 * task_executor — the control-plane glue of the daemon: RPC calls (RegisterJobManager,
 * RequestSlot, SubmitTask, CancelTask, FreeSlot, Heartbeat, DisconnectJobManager,
 * RequestSlotReport, RequestTaskReport), the JobManager table with fencing and heartbeats, the registry
 * of deployed tasks, the control queue that carries task state changes from task
 * threads to the job's connection, and the cancellation watchdog.
 *
 * Threading: all functions run on the control thread, except on_task_state, which any
 * task thread calls: it only appends to the queue (queue_lock) and activates
 * queue_event. Lock order: queue_lock is a leaf (nothing is called while holding it).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dir_util.h"
#include "common/log.h"
#include "common/thread_sched.h"
#include "common/tls.h"
#include "operators/plugin_loader.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "executor/task_executor_internal.h"

#define CTX "executor"

/* ---------- small helpers ---------- */

static int id_from(ProtobufCBinaryData b, te_id_t *out) { return te_id_from_bytes(b.data, b.len, out); }

static te_job_manager_t *find_job(te_task_executor_t *te, const te_id_t *job_id)
{
    for (te_job_manager_t *j = te->jobs; j; j = j->next)
        if (te_id_equal(&j->job_id, job_id))
            return j;
    return NULL;
}

te_task_record_t *executor_find_record(te_task_executor_t *te, const te_id_t *exec_id)
{
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (te_id_equal(&r->exec_id, exec_id))
            return r;
    return NULL;
}

static Te__ExecutionState to_wire_state(te_exec_state_t s) { return (Te__ExecutionState)s; }

/* ---------- pushes ---------- */

static void push_task_state(te_task_executor_t *te, te_task_record_t *r, te_exec_state_t s, const char *cause)
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
static void update_free_shared(te_state_update_t *u)
{
    for (size_t i = 0; i < u->n_shared; i++) {
        free(u->shared[i]->path);
        free(u->shared[i]);
    }
    free(u->shared);
}

static void update_copy_shared(te_state_update_t *u, const te_checkpoint_report_t *rep)
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
        update_free_shared(u);
        u->shared = NULL;
        u->n_shared = 0;
        u->ckpt = 2;
        free(u->cause);
        u->cause = strdup("out of memory reporting the shared files of an incremental checkpoint");
    }
}

/* AcknowledgeCheckpoint / DeclineCheckpoint to the task's JobManager connection. */
static void push_checkpoint(te_task_executor_t *te, te_task_record_t *r, const te_state_update_t *u)
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

/* ---------- records and slots ---------- */

static void snapshot_to_history(te_task_executor_t *te, te_task_record_t *r)
{
    json_t *snap = executor_task_json(te, r);
    if (snap == NULL)
        return;
    json_array_append_new(te->history, snap);
    while (json_array_size(te->history) > TE_HISTORY_MAX)
        json_array_remove(te->history, 0);
}

/* Drops a final task's record: partitions unregistered, task freed, snapshot kept. */
static void drop_record(te_task_executor_t *te, te_task_record_t *r)
{
    te_task_record_t **pp = &te->tasks;
    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    snapshot_to_history(te, r);
    task_release_partitions(r->task, NULL);
    task_free(r->task);
    free(r);
}

static void maybe_shutdown_done(te_task_executor_t *te)
{
    if (!te->shutting_down || te->shutdown_done == NULL)
        return;
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (!r->final_seen)
            return;
    void (*done)(void *) = te->shutdown_done;
    te->shutdown_done = NULL;
    done(te->shutdown_arg);
}

/* Frees a slot: running tasks in it fail with `cause`; final ones are dropped. */
static te_status_t free_slot(te_task_executor_t *te, const te_id_t *alloc_id, const char *cause, te_error_t *err)
{
    int index = -1;
    te_status_t s = slot_table_free_slot(te->slots, alloc_id, &index, err);
    if (s != TE_OK)
        return s;
    TE_INFO(CTX, "freeing slot %d (allocation %s): %s", index, te_id_str(alloc_id), cause);
    te_task_record_t *r = te->tasks;
    while (r) {
        te_task_record_t *next = r->next;
        if (te_id_equal(&r->alloc_id, alloc_id)) {
            if (r->final_seen) {
                drop_record(te, r);
            } else {
                r->slot_freed = 1;
                if (r->cancel_started_ms == 0)
                    r->cancel_started_ms = te_clock_mono_ms();
                char why[512];
                snprintf(why, sizeof(why), "the slot was freed: %s", cause);
                task_fail_external(r->task, why);
            }
        }
        r = next;
    }
    return TE_OK;
}

/* Fails every task of the job and frees its slots; forgets the JobManager. */
static void disconnect_job(te_task_executor_t *te, const te_id_t *job_id, const char *reason)
{
    te_job_manager_t **pp = &te->jobs;
    while (*pp && !te_id_equal(&(*pp)->job_id, job_id))
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    te_job_manager_t *jm = *pp;
    TE_WARN(CTX, "JobManager of job %s (%s) disconnected: %s", te_id_str(job_id), jm->job_name, reason);
    char cause[512];
    snprintf(cause, sizeof(cause), "the JobManager of job %s was lost: %s", te_id_str(job_id), reason);
    int idx[1024];
    int n = slot_table_slots_of_job(te->slots, job_id, idx, 1024);
    if (n > 1024)
        n = 1024;
    for (int i = 0; i < n; i++) {
        te_slot_info_t info;
        if (slot_table_get(te->slots, idx[i], &info) == 0)
            free_slot(te, &info.allocation_id, cause, NULL);
    }
    /* Tasks of the job not in a slot any more (should not happen) fail too. */
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (te_id_equal(&r->job_id, job_id) && !r->final_seen)
            task_fail_external(r->task, cause);
    *pp = jm->next;
    free(jm);
}

/* ---------- the control queue: task threads → control thread ---------- */

static void handle_update(te_task_executor_t *te, te_task_t *task, te_exec_state_t state, const char *cause)
{
    te_task_record_t *r = executor_find_record(te, task_execution_id(task));
    if (r == NULL)
        return;
    if (state == TE_STATE_CANCELING && r->cancel_started_ms == 0)
        r->cancel_started_ms = te_clock_mono_ms();
    if (task_state_is_final(state)) {
        r->final_seen = 1;
        task_join(task);
        slot_table_remove_task(te->slots, &r->exec_id, NULL);
        executor_sample_rates(te, r, te_clock_mono_ms());
        push_task_state(te, r, state, cause);
        if (r->slot_freed)
            drop_record(te, r);
        maybe_shutdown_done(te);
        return;
    }
    push_task_state(te, r, state, cause);
}

static void on_queue(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_task_executor_t *te = arg;
    pthread_mutex_lock(&te->queue_lock);
    te_state_update_t *u = te->queue_head;
    te->queue_head = te->queue_tail = NULL;
    pthread_mutex_unlock(&te->queue_lock);
    while (u) {
        te_state_update_t *next = u->next;
        if (u->ckpt) {
            te_task_record_t *r = executor_find_record(te, task_execution_id(u->task));
            if (r != NULL)
                push_checkpoint(te, r, u);
        } else {
            handle_update(te, u->task, u->state, u->cause);
        }
        free(u->cause);
        free(u->path);
        update_free_shared(u);
        free(u);
        u = next;
    }
}

/* Task listener: any thread. On the control thread (CANCELING from task_cancel) the
 * update is handled at once, so it cannot be overtaken by the final state. */
static void on_task_state(void *arg, te_task_t *task, te_exec_state_t state, const char *cause)
{
    te_task_executor_t *te = arg;
    if (pthread_equal(pthread_self(), te->control_thread) && !task_state_is_final(state)) {
        handle_update(te, task, state, cause);
        return;
    }
    te_state_update_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        TE_ERROR(CTX, "out of memory queueing a state update of %s", task_name(task));
        return;
    }
    u->task = task;
    u->state = state;
    u->cause = cause ? strdup(cause) : NULL;
    pthread_mutex_lock(&te->queue_lock);
    if (te->queue_tail)
        te->queue_tail->next = u;
    else
        te->queue_head = u;
    te->queue_tail = u;
    pthread_mutex_unlock(&te->queue_lock);
    event_active(te->queue_event, EV_READ, 0);
}

/* Checkpoint report listener: task threads. Queued like states, so an ack is pushed
 * before the task's final state. */
static void on_task_checkpoint(void *arg, te_task_t *task, const te_checkpoint_report_t *rep)
{
    te_task_executor_t *te = arg;
    te_state_update_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        TE_ERROR(CTX, "out of memory queueing a checkpoint report of %s", task_name(task));
        return;
    }
    u->task = task;
    u->ckpt = rep->declined ? 2 : 1;
    u->ckpt_id = rep->checkpoint_id;
    u->ckpt_size = rep->size;
    u->ckpt_alignment_ns = rep->alignment_ns;
    u->ckpt_inflight = rep->inflight_bytes;
    u->ckpt_start_delay_ms = rep->start_delay_ms;
    u->ckpt_subtask = rep->subtask_index;
    u->ckpt_parallelism = rep->parallelism;
    u->ckpt_kg_first = rep->kg_first;
    u->ckpt_kg_last = rep->kg_last;
    u->cause = rep->cause ? strdup(rep->cause) : NULL;
    u->path = rep->path ? strdup(rep->path) : NULL;
    update_copy_shared(u, rep);
    pthread_mutex_lock(&te->queue_lock);
    if (te->queue_tail)
        te->queue_tail->next = u;
    else
        te->queue_head = u;
    te->queue_tail = u;
    pthread_mutex_unlock(&te->queue_lock);
    event_active(te->queue_event, EV_READ, 0);
}

/* TriggerCheckpoint / ConfirmCheckpoint / AbortCheckpoint: handed to the task's mailbox. */
static void call_checkpoint(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                            const Te__RpcMessage *call)
{
    ProtobufCBinaryData eid;
    uint64_t ckpt;
    const char *what;
    if (call->body_case == TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT && call->trigger_checkpoint) {
        eid = call->trigger_checkpoint->execution_attempt_id;
        ckpt = call->trigger_checkpoint->checkpoint_id;
        what = "TriggerCheckpoint";
    } else if (call->body_case == TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT && call->confirm_checkpoint) {
        eid = call->confirm_checkpoint->execution_attempt_id;
        ckpt = call->confirm_checkpoint->checkpoint_id;
        what = "ConfirmCheckpoint";
    } else if (call->body_case == TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT && call->abort_checkpoint) {
        eid = call->abort_checkpoint->execution_attempt_id;
        ckpt = call->abort_checkpoint->checkpoint_id;
        what = "AbortCheckpoint";
    } else {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__MALFORMED_MESSAGE, "empty checkpoint call");
        return;
    }
    te_id_t exec;
    if (id_from(eid, &exec) != 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                        "%s: execution_attempt_id must be 16 bytes, got %zu", what, eid.len);
        return;
    }
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
    if (call->body_case == TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT)
        rc = task_trigger_checkpoint(r->task, ckpt, call->trigger_checkpoint->timestamp);
    else if (call->body_case == TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT)
        rc = task_confirm_checkpoint(r->task, ckpt);
    else
        rc = task_abort_checkpoint(r->task, ckpt);
    if (rc == TE_EINVAL)
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                        "%s: task %s (%s) is not a source task; checkpoints are triggered at the sources", what,
                        task_name(r->task), te_id_str(&exec));
    else if (rc != TE_OK)
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "%s: task %s (%s) is %s, not running",
                        what, task_name(r->task), te_id_str(&exec), task_state_name(task_state(r->task)));
    else
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

/* ---------- periodic: heartbeats, watchdog, rates ---------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_task_executor_t *te = arg;
    int64_t now = te_clock_mono_ms();
    te_job_manager_t *j = te->jobs;
    while (j) {
        te_job_manager_t *next = j->next;
        if (te->heartbeat_timeout_ms > 0 && now - j->last_heartbeat_ms > te->heartbeat_timeout_ms) {
            char why[128];
            snprintf(why, sizeof(why), "no heartbeat for %lld ms (heartbeat.timeout)",
                     (long long)te->heartbeat_timeout_ms);
            te_id_t id = j->job_id;
            disconnect_job(te, &id, why);
        }
        j = next;
    }
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        if (!r->final_seen)
            executor_sample_rates(te, r, now);
        if (r->final_seen || r->cancel_started_ms == 0)
            continue;
        int64_t waited = now - r->cancel_started_ms;
        if (te->cancel_timeout_ms > 0 && waited > te->cancel_timeout_ms) {
            char why[512];
            snprintf(why, sizeof(why), "task %s (%s) did not stop within task.cancellation.timeout (%lld ms)",
                     task_name(r->task), te_id_str(&r->exec_id), (long long)te->cancel_timeout_ms);
            TE_ERROR(CTX, "%s", why);
            if (te->fatal)
                te->fatal(te->fatal_arg, why);
            return;
        }
        if (te->cancel_interval_ms > 0 && now - r->last_reinterrupt_ms >= te->cancel_interval_ms &&
            waited >= te->cancel_interval_ms) {
            TE_WARN(CTX, "task %s is still cancelling after %lld ms; interrupting it again", task_name(r->task),
                    (long long)waited);
            r->last_reinterrupt_ms = now;
            task_reinterrupt(r->task);
        }
    }
}

/* ---------- RPC calls ---------- */

static void slot_timeout(void *arg, const te_id_t *alloc_id)
{
    te_task_executor_t *te = arg;
    TE_WARN(CTX, "allocation %s was not activated within taskmanager.slot.timeout; freeing its slot",
            te_id_str(alloc_id));
    free_slot(te, alloc_id, "the allocation timed out", NULL);
}

static void call_register_job_manager(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                      const Te__RegisterJobManager *m)
{
    te_id_t job_id, master_id;
    if (id_from(m->job_id, &job_id) != 0 || id_from(m->job_master_id, &master_id) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                       "RegisterJobManager needs a 16-byte job_id and job_master_id");
        return;
    }
    te_job_manager_t *jm = find_job(te, &job_id);
    if (jm != NULL && !te_id_equal(&jm->job_master_id, &master_id) && rpc_server_find_conn(te->rpc, jm->conn_id)) {
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
    jm->last_heartbeat_ms = te_clock_mono_ms();
    snprintf(jm->job_name, sizeof(jm->job_name), "%s", m->job_name ? m->job_name : "");
    TE_INFO(CTX, "registered JobManager %s for job %s (%s) from %s", te_id_str(&master_id), te_id_str(&job_id),
            jm->job_name, rpc_conn_peer(conn));
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

/* Looks the job up and checks the fencing token; replies on failure. */
static te_job_manager_t *fenced_job(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                                    ProtobufCBinaryData job_bytes, ProtobufCBinaryData master_bytes)
{
    te_id_t job_id, master_id;
    if (id_from(job_bytes, &job_id) != 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, "job_id must be 16 bytes, got %zu",
                        job_bytes.len);
        return NULL;
    }
    te_job_manager_t *jm = find_job(te, &job_id);
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

static void call_request_slot(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                              const Te__RequestSlot *m)
{
    te_job_manager_t *jm = fenced_job(te, conn, call_id, m->job_id, m->job_master_id);
    if (jm == NULL)
        return;
    te_id_t alloc;
    if (id_from(m->allocation_id, &alloc) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, "allocation_id must be 16 bytes");
        return;
    }
    if (te->shutting_down) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SHUTTING_DOWN, "the TaskExecutor is shutting down");
        return;
    }
    long timeout = m->timeout_ms ? (long)m->timeout_ms : (long)te->slot_timeout_ms;
    int index = -1;
    te_error_t err;
    te_status_t s = slot_table_allocate(te->slots, m->slot_index, &jm->job_id, &alloc, timeout, &index, &err);
    if (s != TE_OK) {
        Te__ErrorCode code =
            s == TE_EINVAL ? TE__ERROR_CODE__INVALID_ARGUMENT : TE__ERROR_CODE__SLOT_NOT_AVAILABLE;
        rpc_conn_reply(conn, call_id, code, err.msg);
        return;
    }
    TE_INFO(CTX, "allocated slot %d to job %s (allocation %s)", index, te_id_str(&jm->job_id), te_id_str(&alloc));
    Te__Response resp = TE__RESPONSE__INIT;
    resp.code = TE__ERROR_CODE__OK;
    resp.slot_index = index;
    rpc_conn_reply_response(conn, call_id, &resp);
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

static void call_submit_task(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                             const Te__SubmitTask *m)
{
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
    if (id_from(tdd->allocation_id, &alloc) != 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__INCONSISTENT_IDS, "allocation_id must be 16 bytes, got %zu",
                        tdd->allocation_id.len);
        return;
    }
    if (slot_table_mark_active(te->slots, &jm->job_id, &alloc) != 0) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__SLOT_NOT_FOUND,
                        "no task slot allocated for job %s and allocation %s", te_id_str(&jm->job_id),
                        te_id_str(&alloc));
        return;
    }
    /* A bound on what one slot may hold (refused, never grown without limit). */
    int slot_index = slot_table_find_by_allocation(te->slots, &alloc);
    int64_t max_tasks = config_get_int(te->cfg, "taskmanager.slot.max-tasks");
    int in_slot = slot_index >= 0 ? slot_table_tasks_of_slot(te->slots, slot_index, NULL, NULL, 0) : 0;
    if (in_slot >= max_tasks) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__SLOT_NOT_AVAILABLE,
                        "slot %d already holds %d tasks, the most taskmanager.slot.max-tasks (%lld) allows",
                        slot_index, in_slot, (long long)max_tasks);
        return;
    }
    /* 4-6: ids, chain, buffers (task_new checks in that order and unwinds). */
    te_task_services_t svc = {
        .buffers = te->buffers,
        .partitions = te->partitions,
        .flusher = te->flusher,
        .default_buffer_timeout_ms = config_get_int(te->cfg, "execution.buffer-timeout"),
        .sched_policy = te_sched_policy_parse(config_get_str(te->cfg, "taskmanager.task.scheduling-policy")),
        .partition_request_timeout_ms = config_get_int(te->cfg, "taskmanager.network.request-backoff.max"),
        .buffers_per_channel = (uint32_t)config_get_int(te->cfg, "taskmanager.network.memory.buffers-per-channel"),
        .floating_buffers_per_gate =
            (uint32_t)config_get_int(te->cfg, "taskmanager.network.memory.floating-buffers-per-gate"),
        .plugins_dir = config_get_str(te->cfg, "plugins.dir"),
        .job_config_defaults = te->job_config_defaults,
        .job_config_enforced = te->job_config_enforced,
        .transport = te->data_client ? partition_client_transport(te->data_client) : NULL,
        .request_backoff_initial_ms = config_get_int(te->cfg, "taskmanager.network.request-backoff.initial"),
        .request_backoff_max_ms = config_get_int(te->cfg, "taskmanager.network.request-backoff.max"),
        .on_state = on_task_state,
        .on_state_arg = te,
        .on_checkpoint = on_task_checkpoint,
        .on_checkpoint_arg = te,
        .state_local_dir = te->state_dir,
        .snapshot_pool = te->snapshot_pool,
        .memory_budget = slot_index >= 0 ? managed_memory_slot(te->managed, (unsigned)slot_index) : NULL,
    };
    te_error_t err;
    te_error_clear(&err);
    te_deploy_error_t why;
    te_task_t *task = task_new(tdd, &svc, &why, &err);
    if (task == NULL) {
        TE_WARN(CTX, "rejected task submission: %s", err.msg);
        rpc_conn_reply(conn, call_id, deploy_error_code(why), err.msg);
        return;
    }
    /* 7: a new execution id. */
    if (executor_find_record(te, task_execution_id(task)) != NULL) {
        rpc_conn_replyf(conn, call_id, TE__ERROR_CODE__DUPLICATE_EXECUTION,
                        "execution attempt %s is already deployed", te_id_str(task_execution_id(task)));
        task_free(task);
        return;
    }
    if (slot_table_add_task(te->slots, &jm->job_id, &alloc, task_execution_id(task), task, &err) != TE_OK) {
        Te__ErrorCode code =
            err.code == TE_EEXIST ? TE__ERROR_CODE__DUPLICATE_EXECUTION : TE__ERROR_CODE__SLOT_NOT_FOUND;
        rpc_conn_reply(conn, call_id, code, err.msg);
        task_free(task);
        return;
    }
    te_task_record_t *r = calloc(1, sizeof(*r));
    if (r == NULL || task_start(task, &err) != TE_OK) {
        slot_table_remove_task(te->slots, task_execution_id(task), NULL);
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, r ? err.msg : "out of memory");
        free(r);
        task_free(task);
        return;
    }
    r->task = task;
    r->exec_id = *task_execution_id(task);
    r->job_id = jm->job_id;
    r->alloc_id = alloc;
    r->conn_id = rpc_conn_id(conn);
    r->rates.last_sample_ms = te_clock_mono_ms();
    r->next = te->tasks;
    te->tasks = r;
    TE_INFO(CTX, "deployed %s (%s) of job %s into allocation %s", task_name(task), te_id_str(&r->exec_id),
            te_id_str(&r->job_id), te_id_str(&alloc));
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_cancel_task(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                             const Te__CancelTask *m)
{
    te_id_t exec;
    if (id_from(m->execution_attempt_id, &exec) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "execution_attempt_id must be 16 bytes");
        return;
    }
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

static void call_free_slot(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const Te__FreeSlot *m)
{
    te_id_t alloc;
    if (id_from(m->allocation_id, &alloc) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT, "allocation_id must be 16 bytes");
        return;
    }
    te_error_t err;
    const char *cause = m->cause && m->cause[0] ? m->cause : "freed by the JobManager";
    if (free_slot(te, &alloc, cause, &err) != TE_OK) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__SLOT_NOT_FOUND, err.msg);
        return;
    }
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_heartbeat(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id, const Te__Heartbeat *m)
{
    if (m->job_id.len == 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
        return;
    }
    te_id_t job;
    te_job_manager_t *jm = id_from(m->job_id, &job) == 0 ? find_job(te, &job) : NULL;
    if (jm == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__UNKNOWN_JOB,
                       "heartbeat for a job with no registered JobManager");
        return;
    }
    jm->last_heartbeat_ms = te_clock_mono_ms();
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_disconnect(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                            const Te__DisconnectJobManager *m)
{
    te_id_t job;
    if (id_from(m->job_id, &job) != 0 || find_job(te, &job) == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__UNKNOWN_JOB, "no JobManager is registered for that job");
        return;
    }
    disconnect_job(te, &job, m->cause && m->cause[0] ? m->cause : "DisconnectJobManager");
    rpc_conn_reply(conn, call_id, TE__ERROR_CODE__OK, NULL);
}

static void call_slot_report(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id)
{
    int n = slot_table_size(te->slots);
    te_slot_info_t *info = calloc((size_t)n, sizeof(*info));
    Te__SlotStatus *st = calloc((size_t)n, sizeof(*st));
    Te__SlotStatus **stp = calloc((size_t)n, sizeof(*stp));
    if (info == NULL || st == NULL || stp == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
        goto cleanup;
    }
    slot_table_snapshot(te->slots, info, n);
    for (int i = 0; i < n; i++) {
        te__slot_status__init(&st[i]);
        st[i].slot_index = info[i].index;
        st[i].state = (Te__SlotState)info[i].state;
        if (info[i].state != TE_SLOT_FREE) {
            st[i].job_id.data = info[i].job_id.b;
            st[i].job_id.len = TE_ID_LEN;
            st[i].allocation_id.data = info[i].allocation_id.b;
            st[i].allocation_id.len = TE_ID_LEN;
        }
        st[i].number_of_tasks = (uint32_t)info[i].n_tasks;
        stp[i] = &st[i];
    }
    Te__SlotReport rep = TE__SLOT_REPORT__INIT;
    rep.resource_id.data = (uint8_t *)te->resource_id;
    rep.resource_id.len = strlen(te->resource_id);
    rep.n_slots = (size_t)n;
    rep.slots = stp;
    rep.data_address = te->data_address;
    Te__Response resp = TE__RESPONSE__INIT;
    resp.slot_report = &rep;
    rpc_conn_reply_response(conn, call_id, &resp);
cleanup:
    free(info);
    free(st);
    free(stp);
}

/* RequestTaskReport: every task record (running, or final with its slot still
 * allocated), optionally of one job. */
static void call_task_report(te_task_executor_t *te, te_rpc_conn_t *conn, uint64_t call_id,
                             const Te__RequestTaskReport *m)
{
    te_id_t job;
    int filter = m != NULL && m->job_id.len > 0;
    if (filter && id_from(m->job_id, &job) != 0) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INVALID_ARGUMENT,
                       "job_id must be 16 bytes (or empty for every job)");
        return;
    }
    size_t n = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        n += !filter || te_id_equal(&r->job_id, &job);
    Te__TaskStatus *st = calloc(n ? n : 1, sizeof(*st));
    Te__TaskStatus **stp = calloc(n ? n : 1, sizeof(*stp));
    if (st == NULL || stp == NULL) {
        rpc_conn_reply(conn, call_id, TE__ERROR_CODE__INTERNAL, "out of memory");
        goto cleanup;
    }
    size_t i = 0;
    for (te_task_record_t *r = te->tasks; r && i < n; r = r->next) {
        if (filter && !te_id_equal(&r->job_id, &job))
            continue;
        te__task_status__init(&st[i]);
        te_job_manager_t *jm = find_job(te, &r->job_id);
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
        stp[i] = &st[i];
        i++;
    }
    Te__TaskReport rep = TE__TASK_REPORT__INIT;
    rep.resource_id.data = (uint8_t *)te->resource_id;
    rep.resource_id.len = strlen(te->resource_id);
    rep.n_tasks = i;
    rep.tasks = stp;
    Te__Response resp = TE__RESPONSE__INIT;
    resp.task_report = &rep;
    rpc_conn_reply_response(conn, call_id, &resp);
cleanup:
    free(st);
    free(stp);
}

static void on_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call)
{
    te_task_executor_t *te = arg;
    uint64_t id = call->call_id;
    switch (call->body_case) {
    case TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER:
        call_register_job_manager(te, conn, id, call->register_job_manager);
        break;
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT: call_request_slot(te, conn, id, call->request_slot); break;
    case TE__RPC_MESSAGE__BODY_SUBMIT_TASK: call_submit_task(te, conn, id, call->submit_task); break;
    case TE__RPC_MESSAGE__BODY_CANCEL_TASK: call_cancel_task(te, conn, id, call->cancel_task); break;
    case TE__RPC_MESSAGE__BODY_FREE_SLOT: call_free_slot(te, conn, id, call->free_slot); break;
    case TE__RPC_MESSAGE__BODY_HEARTBEAT: call_heartbeat(te, conn, id, call->heartbeat); break;
    case TE__RPC_MESSAGE__BODY_DISCONNECT_JOB_MANAGER:
        call_disconnect(te, conn, id, call->disconnect_job_manager);
        break;
    case TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT: call_slot_report(te, conn, id); break;
    case TE__RPC_MESSAGE__BODY_REQUEST_TASK_REPORT:
        call_task_report(te, conn, id, call->request_task_report);
        break;
    case TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT:
    case TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT: call_checkpoint(te, conn, id, call); break;
    default: rpc_conn_reply(conn, id, TE__ERROR_CODE__MALFORMED_MESSAGE, "unknown or missing call"); break;
    }
}

static void on_conn_closed(void *arg, uint64_t conn_id)
{
    te_task_executor_t *te = arg;
    te_job_manager_t *j = te->jobs;
    while (j) {
        te_job_manager_t *next = j->next;
        if (j->conn_id == conn_id) {
            te_id_t id = j->job_id;
            disconnect_job(te, &id, "its RPC connection closed");
        }
        j = next;
    }
}

/* ---------- lifecycle ---------- */

static void apply_live(te_task_executor_t *te, const te_config_t *cfg)
{
    te->heartbeat_timeout_ms = config_get_int(cfg, "heartbeat.timeout");
    te->slot_timeout_ms = config_get_int(cfg, "taskmanager.slot.timeout");
    te->cancel_interval_ms = config_get_int(cfg, "task.cancellation.interval");
    te->cancel_timeout_ms = config_get_int(cfg, "task.cancellation.timeout");
    if (te->rpc != NULL)
        rpc_server_set_idle_timeout(te->rpc, config_get_int(cfg, "taskmanager.rpc.idle-timeout"));
    /* Job-level keys: what a job that does not set them gets (copied into each task). */
    static const char *const job_keys[] = {
        "pipeline.auto-watermark-interval",          "execution.buffer-timeout", "state.checkpoints.dir",
        "execution.checkpointing.unaligned.enabled", "state.backend.type",       "state.backend.incremental"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(job_keys) / sizeof(job_keys[0]); i++) {
        te->job_config_defaults[n++] = job_keys[i];
        te->job_config_defaults[n++] = config_get_str(cfg, job_keys[i]);
    }
    te->job_config_defaults[n] = NULL;
    te->job_config_enforced[0] = "io.allowed-dirs";
    te->job_config_enforced[1] = config_get_str(cfg, "io.allowed-dirs");
    te->job_config_enforced[2] = NULL;
}

/* The data plane: I/O threads, partition server (taskmanager.data.port), client. */
static te_status_t executor_start_network(te_task_executor_t *te, const te_config_t *cfg, const char *bind,
                                          te_error_t *err)
{
    int n = (int)config_get_int(cfg, "taskmanager.network.io-threads");
    te->net_io = calloc((size_t)n, sizeof(*te->net_io));
    if (te->net_io == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "net-io-%d", i);
        te->net_io[i] = net_io_thread_new(name, err);
        if (te->net_io[i] == NULL)
            return err ? err->code : TE_ENOMEM;
        te->n_net_io = i + 1;
    }
    te->data_server = partition_server_new(te->net_io, n, bind, (int)config_get_int(cfg, "taskmanager.data.port"),
                                           te->partitions, err);
    if (te->data_server == NULL)
        return err ? err->code : TE_EIO;
    te->data_client = partition_client_new(te->net_io, n, network_buffer_pool_segment_size(te->buffers), err);
    if (te->data_client == NULL)
        return err ? err->code : TE_ENOMEM;
    partition_server_set_security(te->data_server, te->security);
    partition_client_set_security(te->data_client, te->security);
    for (int i = 0; i < n; i++)
        if (net_io_thread_start(te->net_io[i], err) != TE_OK)
            return err ? err->code : TE_EIO;
    return TE_OK;
}

/* After every task was freed: stop the threads, then free what lived on them. */
static void executor_stop_network(te_task_executor_t *te)
{
    for (int i = 0; i < te->n_net_io; i++)
        net_io_thread_stop(te->net_io[i]);
    partition_server_free(te->data_server);
    partition_client_free(te->data_client);
    te->data_server = NULL;
    te->data_client = NULL;
    for (int i = 0; i < te->n_net_io; i++)
        net_io_thread_free(te->net_io[i]);
    free(te->net_io);
    te->net_io = NULL;
    te->n_net_io = 0;
}

/* This daemon's local state directory (issue #16): <taskmanager.state.local.dir>/
 * te-<resource id>, so daemons sharing a working directory never touch each other's
 * RocksDB instances. What a killed earlier run on the same resource id left there is
 * deleted now (its tasks are gone), the rest at shutdown. */
static void executor_state_dir(te_task_executor_t *te, const te_config_t *cfg)
{
    char rid[160];
    snprintf(rid, sizeof(rid), "%s", te->resource_id);
    for (char *p = rid; *p; p++)
        if (*p == '/' || *p == ':' || *p == ' ')
            *p = '_';
    snprintf(te->state_dir, sizeof(te->state_dir), "%s/te-%s", config_get_str(cfg, "taskmanager.state.local.dir"),
             rid);
    if (dir_remove_tree(te->state_dir) != 0)
        TE_WARN(CTX, "cannot delete the old local state in '%s': %s", te->state_dir, strerror(errno));
}

te_task_executor_t *task_executor_new(struct event_base *base, const te_config_t *cfg, te_fatal_fn fatal,
                                      void *fatal_arg, te_error_t *err)
{
    te_task_executor_t *te = calloc(1, sizeof(*te));
    if (te == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    te->base = base;
    te->cfg = cfg;
    te->fatal = fatal;
    te->fatal_arg = fatal_arg;
    te->control_thread = pthread_self();
    te->started_ms = te_clock_wall_ms();
    pthread_mutex_init(&te->queue_lock, NULL);
    te->history = json_array();
    apply_live(te, cfg);

    const char *bind = config_get_str(cfg, "taskmanager.bind-host");
    const char *host = config_get_str(cfg, "taskmanager.host");

    te->security = security_from_config(cfg, err); /* before any listener opens */
    if (te->security == NULL)
        goto cleanup;
    te->buffers = network_buffer_pool_new((uint64_t)config_get_int(cfg, "taskmanager.memory.network.size"),
                                          (uint32_t)config_get_int(cfg, "taskmanager.memory.segment-size"), err);
    if (te->buffers == NULL)
        goto cleanup;
    te->partitions = partition_manager_new();
    te->flusher = output_flusher_new(err);
    if (te->partitions == NULL || te->flusher == NULL || output_flusher_start(te->flusher, err) != TE_OK)
        goto cleanup;
    te->snapshot_pool = snapshot_pool_new((unsigned)config_get_int(cfg, "state.snapshot.threads"), err);
    if (te->snapshot_pool == NULL)
        goto cleanup;
    te->managed = managed_memory_new((uint64_t)config_get_int(cfg, "taskmanager.memory.managed.size"),
                                     (unsigned)config_get_int(cfg, "taskmanager.numberOfTaskSlots"), err);
    if (te->managed == NULL)
        goto cleanup;
    TE_INFO(CTX, "managed memory for keyed state: %.1f MiB, %.1f MiB per slot",
            (double)managed_memory_total(te->managed) / (1 << 20),
            (double)managed_memory_limit(managed_memory_slot(te->managed, 0)) / (1 << 20));
    if (executor_start_network(te, cfg, bind, err) != TE_OK)
        goto cleanup;
    te->slots = slot_table_new(base, (int)config_get_int(cfg, "taskmanager.numberOfTaskSlots"), slot_timeout, te);
    if (te->slots == NULL) {
        te_error_set(err, TE_ENOMEM, "cannot create the slot table");
        goto cleanup;
    }
    te->queue_event = event_new(base, -1, 0, on_queue, te);
    te->tick_event = event_new(base, -1, EV_PERSIST, on_tick, te);
    struct timeval one_second = {1, 0};
    if (te->queue_event == NULL || te->tick_event == NULL || event_add(te->tick_event, &one_second) != 0) {
        te_error_set(err, TE_ENOMEM, "cannot create control events");
        goto cleanup;
    }
    te->rpc = rpc_server_new(base, bind, (int)config_get_int(cfg, "taskmanager.rpc.port"),
                             (size_t)config_get_int(cfg, "taskmanager.rpc.max-frame-size"),
                             (int)config_get_int(cfg, "taskmanager.rpc.max-connections"), on_call, on_conn_closed,
                             te, err);
    if (te->rpc == NULL) {
        te_error_prefix(err, "taskmanager.rpc.port");
        goto cleanup;
    }
    rpc_server_set_security(te->rpc, te->security);
    rpc_server_set_idle_timeout(te->rpc, config_get_int(cfg, "taskmanager.rpc.idle-timeout"));
    te_status_provider_t prov = executor_status_provider(te);
    te->status = status_server_new(base, bind, (int)config_get_int(cfg, "taskmanager.status.port"), &prov, err);
    if (te->status == NULL) {
        te_error_prefix(err, "taskmanager.status.port");
        goto cleanup;
    }
    const char *rid = config_get_str(cfg, "taskmanager.resource-id");
    if (rid && rid[0])
        snprintf(te->resource_id, sizeof(te->resource_id), "%s", rid);
    else
        snprintf(te->resource_id, sizeof(te->resource_id), "%s:%d", host, rpc_server_port(te->rpc));
    snprintf(te->data_address, sizeof(te->data_address), "%s:%d", host, task_executor_data_port(te));
    executor_state_dir(te, cfg);
    return te;
cleanup:
    task_executor_free(te);
    return NULL;
}

void task_executor_free(te_task_executor_t *te)
{
    if (te == NULL)
        return;
    rpc_server_free(te->rpc);
    status_server_free(te->status);
    /* Every task must be final by now (shutdown waited); free them. */
    while (te->tasks) {
        te_task_record_t *r = te->tasks;
        if (!task_state_is_final(task_state(r->task)))
            task_fail_external(r->task, "the TaskExecutor is shutting down");
        task_join(r->task);
        te->tasks = r->next;
        task_release_partitions(r->task, NULL);
        task_free(r->task);
        free(r);
    }
    /* Asynchronous checkpoint parts and state frees still running (no task is left
     * to report to). */
    snapshot_pool_free(te->snapshot_pool);
    managed_memory_free(te->managed); /* no state draws from it any more */
    if (te->state_dir[0])
        (void)dir_remove_tree(te->state_dir); /* every task's state is freed by now */
    /* Updates queued by tasks that are gone now. */
    te_state_update_t *u = te->queue_head;
    while (u) {
        te_state_update_t *next = u->next;
        free(u->cause);
        free(u->path);
        update_free_shared(u);
        free(u);
        u = next;
    }
    while (te->jobs) {
        te_job_manager_t *j = te->jobs;
        te->jobs = j->next;
        free(j);
    }
    if (te->queue_event)
        event_free(te->queue_event);
    if (te->tick_event)
        event_free(te->tick_event);
    slot_table_free(te->slots);
    if (te->flusher) {
        output_flusher_stop(te->flusher);
        output_flusher_free(te->flusher);
    }
    executor_stop_network(te);
    partition_manager_free(te->partitions);
    network_buffer_pool_free(te->buffers);
    json_decref(te->history);
    security_free(te->security); /* every connection using it is closed by now */
    pthread_mutex_destroy(&te->queue_lock);
    free(te);
    plugin_loader_unload_all(); /* no task is left to use a plugin's code */
}

int task_executor_rpc_port(const te_task_executor_t *te) { return rpc_server_port(te->rpc); }
int task_executor_data_port(const te_task_executor_t *te)
{
    return te->data_server ? partition_server_port(te->data_server) : 0;
}
int task_executor_status_port(const te_task_executor_t *te) { return status_server_port(te->status); }
const char *task_executor_resource_id(const te_task_executor_t *te) { return te->resource_id; }

void task_executor_shutdown(te_task_executor_t *te, void (*done)(void *arg), void *arg)
{
    te->shutting_down = 1;
    te->shutdown_done = done;
    te->shutdown_arg = arg;
    int n = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        if (!r->final_seen) {
            n++;
            if (r->cancel_started_ms == 0)
                r->cancel_started_ms = te_clock_mono_ms();
            task_cancel(r->task, "the TaskExecutor is shutting down");
        }
    }
    TE_INFO(CTX, "shutting down: cancelling %d running task(s)", n);
    maybe_shutdown_done(te);
}

void task_executor_reconfigure(te_task_executor_t *te, const te_config_t *cfg)
{
    te->cfg = cfg;
    apply_live(te, cfg);
}
