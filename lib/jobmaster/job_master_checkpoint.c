/*
 * job_master_checkpoint — the JobMaster's checkpoint coordination (part of the
 * JobMaster record, see job_master_internal.h): triggers on the source tasks through
 * the gateways, feeds acknowledgements and declines into the checkpoint_coordinator,
 * writes `_metadata` and keeps the retained checkpoints when one completes, confirms
 * it to every task, sends AbortCheckpoint for aborted ones, counts failures against
 * execution.checkpointing.tolerable-failed-checkpoints (checkpoint_failure_manager),
 * and turns the latest completed checkpoint into TaskRestores for a new attempt.
 *
 * Pushes only record (an ack that completes a checkpoint sets ckpt_completed); the
 * work that makes calls is done by jm_ckpt_tick from the drive. With a metadata_writer
 * the _metadata write and the pruning happen on it (an operation counted in
 * n_inflight, so an attempt is not released while it runs); no checkpoint is triggered
 * until it is done.
 *
 * Threading: the JobMaster's event-loop thread; no locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "jobmaster/job_master_internal.h"

#define CTX "jobmaster"

te_status_t jm_ckpt_start(te_job_master_t *jm, te_error_t *err)
{
    jm->coord = checkpoint_coordinator_new(jm->n_tasks, jm->cfg.checkpoint_timeout_ms, 1, jm->next_ckpt_id, err);
    if (jm->coord == NULL)
        return err ? err->code : TE_ENOMEM;
    if (jm->failures == NULL &&
        (jm->failures = checkpoint_failure_manager_new(jm->tolerable_failed_checkpoints)) == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory starting checkpoints");
    jm->next_trigger = jm->cfg.checkpoint_interval_ms > 0 ? jm_now(jm) + jm->cfg.checkpoint_interval_ms : -1;
    jm->n_aborts = 0;
    jm->ckpt_completed = 0;
    return TE_OK;
}

/* Reports the savepoint's outcome once (m NULL: failed with cause). */
static void sp_report(te_job_master_t *jm, const te_ckpt_metadata_t *m, const char *cause)
{
    te_savepoint_done_fn done = jm->sp_done;
    if (done == NULL)
        return;
    jm->sp_done = NULL;
    jm->sp_wanted = 0;
    jm->sp_id = 0;
    if (m != NULL)
        jm_logf(jm, TE_LOG_INFO, "savepoint %llu completed", (unsigned long long)m->checkpoint_id);
    done(jm->sp_arg, jm, m, cause);
}

void jm_ckpt_stop(te_job_master_t *jm)
{
    /* (a savepoint whose _metadata is being written reports when the write is done) */
    if (jm->sp_done != NULL && (jm->sp_wanted || jm->sp_id != 0) && !jm->ckpt_writing)
        sp_report(jm, NULL, "the job stopped running before the savepoint completed");
    if (jm->coord != NULL)
        jm->next_ckpt_id = checkpoint_coordinator_next_id(jm->coord);
    checkpoint_coordinator_free(jm->coord);
    jm->coord = NULL;
    jm->n_aborts = 0;
    jm->ckpt_completed = 0;
}

/* A checkpoint was aborted: report it (unless quiet), queue its AbortCheckpoint, count
 * it against the tolerable failures. */
static void note_abort(te_job_master_t *jm, uint64_t id, int quiet, te_ckpt_failure_reason_t reason,
                       const char *cause)
{
    if (jm->n_aborts < JM_MAX_ABORTS)
        jm->aborts[jm->n_aborts++] = id;
    checkpoint_metadata_discard(jm->job_dir, id); /* what tasks wrote for it */
    if (id == jm->sp_id)
        sp_report(jm, NULL, cause);
    if (!quiet && jm->listener.on_checkpoint_aborted)
        jm->listener.on_checkpoint_aborted(jm->cfg.listener_arg, jm, id, cause);
    if (jm->failures == NULL || !checkpoint_failure_manager_on_failure(jm->failures, id, reason))
        return;
    jm_logf(jm, TE_LOG_WARN,
            "checkpoint %llu failed (%s): more than %s = %ld consecutive checkpoints failed: failing the job over",
            (unsigned long long)id, checkpoint_failure_reason_name(reason), TE_CKPT_TOLERABLE_FAILURES_KEY,
            jm->tolerable_failed_checkpoints);
    jm_fail(jm, 1, 0, NULL, "%s", TE_CKPT_EXCEEDED_TOLERABLE_MESSAGE);
}

void jm_ckpt_task_gone(te_job_master_t *jm, size_t t, int quiet)
{
    uint64_t id;
    if (jm->coord == NULL)
        return;
    while ((id = checkpoint_coordinator_task_gone(jm->coord, t)) != 0)
        note_abort(jm, id, quiet, TE_CKPT_FAILURE_TASK_GONE, checkpoint_coordinator_abort_cause(jm->coord));
}

void jm_ckpt_on_ack(te_job_master_t *jm, size_t t, const Te__AcknowledgeCheckpoint *a)
{
    if (jm->coord == NULL)
        return;
    te_ckpt_handle_t *hs = a->n_handles ? calloc(a->n_handles, sizeof(*hs)) : NULL;
    if (a->n_handles && hs == NULL) {
        jm_logf(jm, TE_LOG_ERROR, "out of memory reading the ack of checkpoint %llu",
                (unsigned long long)a->checkpoint_id);
        return;
    }
    for (size_t k = 0; k < a->n_handles; k++) {
        const Te__StateHandle *h = a->handles[k];
        hs[k] = (te_ckpt_handle_t){h->path,          h->size,        h->key_groups, h->n_key_groups,
                                   h->subtask_index, h->parallelism, NULL,          0};
        if (h->n_shared > 0 && (hs[k].shared = calloc(h->n_shared, sizeof(*hs[k].shared))) != NULL) {
            for (size_t i = 0; i < h->n_shared; i++) /* paths borrowed from the ack */
                hs[k].shared[i] = (te_ckpt_shared_file_t){h->shared[i]->path, h->shared[i]->size};
            hs[k].n_shared = h->n_shared;
        }
    }
    checkpoint_coordinator_ack_metrics(jm->coord, a->checkpoint_id, a->alignment_duration_ns,
                                       a->persisted_in_flight_bytes, a->start_delay_ms);
    te_ckpt_event_t ev =
        checkpoint_coordinator_ack(jm->coord, a->checkpoint_id, t, hs, a->n_handles, a->state_size, jm_now(jm));
    for (size_t k = 0; k < a->n_handles; k++)
        free(hs[k].shared);
    free(hs);
    if (ev == TE_CKPT_COMPLETED)
        jm->ckpt_completed = 1;
    else if (ev == TE_CKPT_IGNORED)
        TE_DEBUG(CTX, "ack of checkpoint %llu by %s ignored (not pending)", (unsigned long long)a->checkpoint_id,
                 job_plan_task(jm->plan, t)->task_name);
}

void jm_ckpt_on_decline(te_job_master_t *jm, size_t t, const Te__DeclineCheckpoint *d)
{
    if (jm->coord == NULL)
        return;
    char cause[600];
    snprintf(cause, sizeof(cause), "%s: %s", job_plan_task(jm->plan, t)->task_name,
             d->cause && d->cause[0] ? d->cause : "(no cause given)");
    if (checkpoint_coordinator_decline(jm->coord, d->checkpoint_id, t, cause) == TE_CKPT_ABORTED)
        note_abort(jm, d->checkpoint_id, 0, TE_CKPT_FAILURE_DECLINED,
                   checkpoint_coordinator_abort_cause(jm->coord));
}

void jm_ckpt_op_done(te_job_master_t *jm, jm_op_kind_t kind, size_t t, uint64_t id, const te_tm_result_t *r)
{
    const te_plan_task_t *task = job_plan_task(jm->plan, t);
    if (r->lost) {
        jm_executor_lost(jm, task->executor, r->message);
        return;
    }
    if (r->code == TE__ERROR_CODE__OK)
        return;
    if (kind == JM_OP_TRIGGER && jm->coord != NULL) {
        char cause[700];
        snprintf(cause, sizeof(cause), "trigger refused by %s: %s", task->task_name, r->message);
        if (checkpoint_coordinator_decline(jm->coord, id, t, cause) == TE_CKPT_ABORTED)
            note_abort(jm, id, 0, TE_CKPT_FAILURE_TRIGGER, checkpoint_coordinator_abort_cause(jm->coord));
    } else if (kind == JM_OP_CONFIRM && r->code != TE__ERROR_CODE__UNKNOWN_TASK) {
        jm_logf(jm, TE_LOG_ERROR, "confirm checkpoint %llu to %s: %s", (unsigned long long)id, task->task_name,
                r->message);
    }
}

/* One call of `kind` for checkpoint id to every reachable task (sources only for a
 * trigger; terminate: a stop-with-savepoint's). */
static void call_tasks(te_job_master_t *jm, jm_op_kind_t kind, uint64_t id, int sources_only, int terminate)
{
    for (size_t t = 0; t < jm->n_tasks; t++) {
        const te_plan_task_t *task = job_plan_task(jm->plan, t);
        if (!jm_task_reachable(jm, t) ||
            (sources_only &&
             job_graph_vertex(jm->cfg.graph, task->vertex)->invokable != TE__INVOKABLE__SOURCE_STREAM_TASK))
            continue;
        te_tm_gateway_t *gw = jm_task_gateway(jm, t);
        void *op = jm_op_new(jm, kind, t, id);
        if (kind == JM_OP_TRIGGER)
            tm_gateway_trigger_checkpoint(gw, &task->execution_id, id, te_clock_wall_ms(), terminate, jm_op_done,
                                          op);
        else if (kind == JM_OP_CONFIRM)
            tm_gateway_confirm_checkpoint(gw, &task->execution_id, id, jm_op_done, op);
        else
            tm_gateway_abort_checkpoint(gw, &task->execution_id, id, jm_op_done, op);
    }
}

void jm_ckpt_resume_adopted(te_job_master_t *jm)
{
    uint64_t latest = jm->latest ? jm->latest->checkpoint_id : 0;
    if (latest > 0) {
        jm_logf(jm, TE_LOG_INFO, "confirming checkpoint %llu, the latest completed, to the adopted tasks",
                (unsigned long long)latest);
        call_tasks(jm, JM_OP_CONFIRM, latest, 0, 0);
    }
    /* Ids a deposed leader may have triggered: never completed (the job store's pointer
     * did not move), so their snapshots go; a 2PC sink keeps what it pre-committed for
     * them and commits it with the next checkpoint confirmed. */
    uint64_t from = jm->next_ckpt_id > latest + JM_MAX_ABORTS ? jm->next_ckpt_id - JM_MAX_ABORTS : latest + 1;
    for (uint64_t id = from; id < jm->next_ckpt_id; id++) {
        jm_logf(jm, TE_LOG_INFO, "aborting checkpoint %llu, in flight at the failover", (unsigned long long)id);
        call_tasks(jm, JM_OP_ABORT, id, 0, 0);
        checkpoint_metadata_discard(jm->job_dir, id);
    }
}

/* The metadata of the checkpoint that just completed (owned copies). */
static te_ckpt_metadata_t *build_metadata(te_job_master_t *jm, const te_ckpt_checkpoint_t *cp, te_error_t *err)
{
    int reported = 0; /* err already names the failure; otherwise it is out of memory */
    const te_job_graph_t *g = jm->cfg.graph;
    size_t nv = job_graph_n_vertices(g);
    te_ckpt_metadata_t *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->vertices = calloc(nv, sizeof(*m->vertices))) == NULL)
        goto cleanup;
    m->n_vertices = nv;
    m->max_parallelism = job_graph_max_parallelism(g);
    m->checkpoint_id = cp->id;
    m->timestamp_ms = cp->timestamp_ms;
    m->duration_ms = cp->complete_ms - cp->trigger_ms;
    if ((m->job_id = strdup(jm->job_hex)) == NULL || (m->job_name = strdup(job_graph_name(g))) == NULL ||
        (m->job_graph = strdup(jm->graph_text ? jm->graph_text : "{}")) == NULL)
        goto cleanup;
    uint64_t sum = 0;
    for (size_t v = 0; v < nv; v++) {
        const te_job_vertex_t *vx = job_graph_vertex(g, v);
        te_ckpt_vertex_t *mv = &m->vertices[v];
        char hex[TE_ID_HEX_LEN + 1];
        size_t n = 0;
        mv->parallelism = vx->parallelism;
        if ((mv->id = strdup(vx->id)) == NULL ||
            (mv->vertex_id = strdup(te_id_to_hex(job_plan_vertex_id(jm->plan, v), hex))) == NULL)
            goto cleanup;
        for (uint32_t i = 0; i < vx->parallelism; i++)
            n += cp->tasks[job_plan_task_index(jm->plan, v, i)].n_handles;
        if (n > 0 && (mv->handles = calloc(n, sizeof(*mv->handles))) == NULL)
            goto cleanup;
        for (uint32_t i = 0; i < vx->parallelism; i++) {
            const te_ckpt_task_ack_t *ack = &cp->tasks[job_plan_task_index(jm->plan, v, i)];
            for (size_t k = 0; k < ack->n_handles; k++) {
                if (checkpoint_metadata_handle_copy(&mv->handles[mv->n_handles], &ack->handles[k], err) != TE_OK) {
                    reported = 1;
                    goto cleanup;
                }
                sum += ack->handles[k].size;
                mv->n_handles++;
            }
        }
    }
    m->state_size = cp->state_size > 0 ? cp->state_size : sum;
    return m;
cleanup:
    if (!reported)
        te_error_set(err, TE_ENOMEM, "out of memory building the metadata of checkpoint %llu",
                     (unsigned long long)cp->id);
    checkpoint_metadata_free(m);
    return NULL;
}

/* The figures of a completed checkpoint the listener gets, kept while its _metadata
 * is being written (the coordinator's record is gone by then). */
typedef struct pending_write {
    te_ckpt_metadata_t *m;
    te_ckpt_checkpoint_t cp; /* tasks not kept */
} pending_write_t;

static void pending_write_free(void *arg)
{
    pending_write_t *w = arg;
    checkpoint_metadata_free(w->m);
    free(w);
}

/* _metadata is durable (err NULL): the checkpoint counts, is reported and confirmed.
 * TE_ECANCELED: the JobManager is stopping (deposed, or shut down) and gave the write
 * up — not a checkpoint failure: counting it could fail the job over and cancel tasks
 * the next leader takes on. */
static void completed(te_job_master_t *jm, te_ckpt_metadata_t *m, const te_ckpt_checkpoint_t *cp,
                      const te_error_t *err)
{
    if (err != NULL && err->code == TE_ECANCELED) {
        jm_logf(jm, TE_LOG_WARN, "checkpoint %llu abandoned: %s", (unsigned long long)m->checkpoint_id, err->msg);
        checkpoint_metadata_free(m);
        return;
    }
    if (err != NULL) {
        jm_logf(jm, TE_LOG_ERROR, "checkpoint %llu cannot be completed: %s", (unsigned long long)m->checkpoint_id,
                err->msg);
        note_abort(jm, m->checkpoint_id, 1, TE_CKPT_FAILURE_IO, err->msg);
        checkpoint_metadata_free(m);
        return;
    }
    checkpoint_metadata_free(jm->latest);
    jm->latest = m;
    jm->n_completed++;
    if (jm->registry != NULL) { /* after retention pruned: a file also in a pruned checkpoint stays */
        te_error_t rerr = {0};
        uint64_t added = 0;
        if (shared_state_registry_register(jm->registry, m, &added, &rerr) != TE_OK)
            jm_logf(jm, TE_LOG_ERROR, "checkpoint %llu: %s", (unsigned long long)m->checkpoint_id, rerr.msg);
        shared_state_registry_sync(jm->registry, jm->job_dir);
        if (shared_state_registry_files(jm->registry) > 0)
            TE_DEBUG(CTX, "checkpoint %llu added %llu bytes of shared files (%zu files, %llu bytes referenced)",
                     (unsigned long long)m->checkpoint_id, (unsigned long long)added,
                     shared_state_registry_files(jm->registry),
                     (unsigned long long)shared_state_registry_bytes(jm->registry));
    }
    if (jm->failures != NULL)
        checkpoint_failure_manager_on_success(jm->failures, m->checkpoint_id);
    uint64_t id = m->checkpoint_id;
    if (jm->listener.on_checkpoint)
        jm->listener.on_checkpoint(jm->cfg.listener_arg, jm, m, cp);
    if (id == jm->sp_id)
        sp_report(jm, m, NULL);
    if (jm->plan != NULL)
        call_tasks(jm, JM_OP_CONFIRM, id, 0, 0);
}

static void on_written(void *arg, const te_error_t *err)
{
    void *payload;
    te_job_master_t *jm = jm_op_finish(arg, &payload);
    pending_write_t *w = payload;
    if (jm == NULL)
        return; /* the JobMaster was freed meanwhile (the payload went with the op) */
    jm->ckpt_writing = 0;
    completed(jm, w->m, &w->cp, err);
    free(w);
    job_master_drive(jm);
}

/* Every task acknowledged: _metadata and retention (on the writer when there is one),
 * then report and ConfirmCheckpoint. */
static void finalize(te_job_master_t *jm)
{
    const te_ckpt_checkpoint_t *cp = checkpoint_coordinator_completed(jm->coord);
    if (cp == NULL)
        return;
    te_error_t err = {0};
    te_ckpt_metadata_t *m = build_metadata(jm, cp, &err);
    if (m == NULL) {
        jm_logf(jm, TE_LOG_ERROR, "checkpoint %llu cannot be completed: %s", (unsigned long long)cp->id, err.msg);
        note_abort(jm, cp->id, 1, TE_CKPT_FAILURE_IO, err.msg);
        return;
    }
    jm->protect_id = 0; /* a checkpoint of this attempt exists now: the restored one need not be kept */
    const te_ckpt_writer_t *wr = &jm->cfg.metadata_writer;
    pending_write_t *w = wr->write != NULL ? calloc(1, sizeof(*w)) : NULL;
    void *op = w != NULL ? jm_op_new(jm, JM_OP_METADATA, 0, cp->id) : NULL;
    if (op == NULL) { /* on the loop */
        free(w);
        te_status_t st = checkpoint_metadata_write(m, jm->job_dir, &err);
        te_error_t rerr = {0};
        if (st == TE_OK && checkpoint_metadata_retain(jm->job_dir, TE_CKPT_RETAINED, 0, NULL, &rerr) != TE_OK)
            jm_logf(jm, TE_LOG_ERROR, "pruning old checkpoints: %s", rerr.msg);
        completed(jm, m, cp, st == TE_OK ? NULL : &err);
        return;
    }
    w->m = m;
    w->cp = *cp;
    w->cp.tasks = NULL;
    jm_op_set_payload(op, w, pending_write_free);
    jm->ckpt_writing = 1;
    wr->write(wr->self, m, jm->job_dir, TE_CKPT_RETAINED, on_written, op);
}

void jm_ckpt_tick(te_job_master_t *jm, int trigger)
{
    if (jm->coord == NULL)
        return;
    int64_t now = jm_now(jm);
    uint64_t id;
    if (jm->ckpt_completed) {
        jm->ckpt_completed = 0;
        finalize(jm);
    }
    while ((id = checkpoint_coordinator_expire(jm->coord, now)) != 0)
        note_abort(jm, id, 0, TE_CKPT_FAILURE_EXPIRED, checkpoint_coordinator_abort_cause(jm->coord));
    if (jm->n_aborts > 0) {
        uint64_t ids[JM_MAX_ABORTS];
        size_t n = jm->n_aborts;
        memcpy(ids, jm->aborts, n * sizeof(ids[0]));
        jm->n_aborts = 0;
        for (size_t i = 0; i < n; i++)
            call_tasks(jm, JM_OP_ABORT, ids[i], 0, 0);
    }
    int periodic = jm->cfg.checkpoint_interval_ms > 0 && now >= jm->next_trigger;
    if (!trigger || (!periodic && !jm->sp_wanted))
        return;
    if (periodic)
        jm->next_trigger = now + jm->cfg.checkpoint_interval_ms;
    if (checkpoint_coordinator_n_pending(jm->coord) > 0 || jm->n_running < jm->n_tasks || jm->ckpt_writing)
        return; /* a savepoint waits for the pending checkpoint */
    id = checkpoint_coordinator_trigger(jm->coord, now, te_clock_wall_ms());
    if (id == 0)
        return;
    int terminate = 0;
    if (jm->sp_wanted) {
        jm->sp_wanted = 0;
        jm->sp_id = id;
        terminate = jm->sp_terminate;
    }
    TE_DEBUG(CTX, "job %s: triggering %s %llu", jm->job_hex, id == jm->sp_id ? "savepoint" : "checkpoint",
             (unsigned long long)id);
    call_tasks(jm, JM_OP_TRIGGER, id, 1, terminate);
}

int64_t jm_ckpt_next_deadline(const te_job_master_t *jm, int trigger)
{
    if (jm->coord == NULL)
        return -1;
    int64_t d = checkpoint_coordinator_next_deadline(jm->coord);
    int64_t t = jm->next_trigger;
    if (jm->sp_wanted && checkpoint_coordinator_n_pending(jm->coord) == 0 && jm->n_running == jm->n_tasks &&
        !jm->ckpt_writing)
        t = jm_now(jm); /* the savepoint goes now */
    if (trigger && t >= 0 && (d < 0 || t < d))
        d = t;
    return d;
}

te_status_t job_master_trigger_savepoint(te_job_master_t *jm, int terminate, te_savepoint_done_fn done, void *arg,
                                         te_error_t *err)
{
    if (jm->state != TE_JOB_RUNNING || jm->coord == NULL)
        return te_error_set(err, TE_ESTATE, "job %s is %s: a savepoint needs a running job%s", jm->job_hex,
                            job_master_state_name(jm->state),
                            jm->job_dir == NULL ? " with a checkpoint directory" : "");
    if (jm->sp_done != NULL)
        return te_error_set(err, TE_ESTATE, "job %s: a savepoint is already in progress", jm->job_hex);
    jm->sp_wanted = 1;
    jm->sp_terminate = terminate;
    jm->sp_id = 0;
    jm->sp_done = done;
    jm->sp_arg = arg;
    jm_logf(jm, TE_LOG_INFO, "%s requested", terminate ? "stop with savepoint" : "savepoint");
    job_master_drive(jm);
    return TE_OK;
}

/* Per graph vertex, the index of its vertex in the metadata (-1 = none). */
static long *metadata_vertex_map(te_job_master_t *jm, te_error_t *err)
{
    const te_ckpt_metadata_t *m = jm->latest;
    size_t nv = job_graph_n_vertices(jm->cfg.graph);
    long *map = malloc((nv ? nv : 1) * sizeof(*map));
    if (map == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory matching checkpoint %llu",
                     (unsigned long long)m->checkpoint_id);
        return NULL;
    }
    for (size_t v = 0; v < nv; v++)
        map[v] = -1;
    for (size_t k = 0; k < m->n_vertices; k++) {
        long v = job_graph_find_vertex(jm->cfg.graph, m->vertices[k].id);
        if (v >= 0)
            map[v] = (long)k;
    }
    return map;
}

te_status_t jm_ckpt_set_restore(te_job_master_t *jm, te_error_t *err)
{
    const te_ckpt_metadata_t *m = jm->latest;
    long *map = metadata_vertex_map(jm, err);
    if (map == NULL)
        return TE_ENOMEM;
    te_status_t st = TE_OK;
    for (size_t t = 0; t < jm->n_tasks && st == TE_OK; t++) {
        long k = map[job_plan_task(jm->plan, t)->vertex];
        if (k >= 0)
            st = job_plan_set_restore(jm->plan, t, m->checkpoint_id, m->vertices[k].handles,
                                      m->vertices[k].n_handles, err);
    }
    free(map);
    if (st == TE_OK)
        jm->protect_id = m->checkpoint_id;
    return st;
}

te_status_t jm_ckpt_check_restore(te_job_master_t *jm, te_error_t *err)
{
    const te_ckpt_metadata_t *m = jm->latest;
    const te_job_graph_t *g = jm->cfg.graph;
    if (m->max_parallelism != job_graph_max_parallelism(g))
        return te_error_set(err, TE_EINVAL,
                            "checkpoint %llu was taken with max_parallelism %u but the job has %u: its key "
                            "groups cannot be mapped; set \"max_parallelism\": %u in the job",
                            (unsigned long long)m->checkpoint_id, m->max_parallelism, job_graph_max_parallelism(g),
                            m->max_parallelism);
    long *map = metadata_vertex_map(jm, err);
    if (map == NULL)
        return TE_ENOMEM;
    for (size_t v = 0; v < job_graph_n_vertices(g); v++)
        if (map[v] < 0)
            jm_logf(jm, TE_LOG_WARN, "vertex '%s' has no state in checkpoint %llu: it starts empty",
                    job_graph_vertex(g, v)->id, (unsigned long long)m->checkpoint_id);
    te_status_t st = TE_OK;
    for (size_t k = 0; k < m->n_vertices && st == TE_OK; k++) {
        if (job_graph_find_vertex(g, m->vertices[k].id) >= 0)
            continue;
        if (jm->cfg.allow_non_restored_state)
            jm_logf(jm, TE_LOG_WARN,
                    "checkpoint %llu holds state of vertex '%s', which the job does not have: dropped "
                    "(allow_non_restored_state)",
                    (unsigned long long)m->checkpoint_id, m->vertices[k].id);
        else
            st = te_error_set(
                err, TE_EINVAL,
                "checkpoint %llu holds state of vertex '%s', which the job does not have: submit with "
                "allow_non_restored_state to start without it",
                (unsigned long long)m->checkpoint_id, m->vertices[k].id);
    }
    free(map);
    return st;
}

static int known_unreadable(const te_job_master_t *jm, uint64_t id)
{
    for (size_t i = 0; i < jm->n_unreadable; i++)
        if (jm->unreadable[i] == id)
            return 1;
    return 0;
}

int jm_ckpt_fall_back(te_job_master_t *jm, const char *cause)
{
    const te_ckpt_metadata_t *bad = jm->latest;
    if (bad == NULL || jm->protect_id != bad->checkpoint_id)
        return 0; /* not the checkpoint this attempt restored */
    if (bad->checkpoint_id == jm->explicit_id) {
        jm_logf(jm, TE_LOG_WARN, "checkpoint %llu cannot be restored and was named explicitly: not falling back",
                (unsigned long long)bad->checkpoint_id);
        return 0;
    }
    if (jm->n_unreadable < JM_MAX_UNREADABLE)
        jm->unreadable[jm->n_unreadable++] = bad->checkpoint_id;
    /* The newest older one retained in the job directory it lies in, not known bad. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", bad->dir ? bad->dir : (jm->job_dir ? jm->job_dir : ""));
    char *slash = bad->dir ? strrchr(dir, '/') : NULL;
    if (slash != NULL)
        *slash = '\0';
    te_ckpt_metadata_t **list = NULL, *older = NULL;
    size_t n = 0;
    if (dir[0] != '\0' && checkpoint_metadata_list(dir, &list, &n, NULL) == TE_OK)
        for (size_t i = n; i-- > 0 && older == NULL;)
            if (list[i]->checkpoint_id < bad->checkpoint_id && !known_unreadable(jm, list[i]->checkpoint_id)) {
                older = list[i];
                list[i] = NULL;
            }
    checkpoint_metadata_list_free(list, n);
    if (older == NULL) {
        jm_logf(jm, TE_LOG_WARN, "checkpoint %llu cannot be restored and no older retained checkpoint is valid",
                (unsigned long long)bad->checkpoint_id);
        return 0;
    }
    jm_logf(jm, TE_LOG_WARN,
            "checkpoint %llu cannot be restored (%s): falling back to checkpoint %llu (output committed after it "
            "may be repeated)",
            (unsigned long long)bad->checkpoint_id, cause, (unsigned long long)older->checkpoint_id);
    checkpoint_metadata_free(jm->latest);
    jm->latest = older;
    jm->protect_id = 0;
    return 1;
}
