/*
 * dispatcher — jobs of the JobManager (see dispatcher.h): submit (parse, check, store,
 * start), the JobMaster listener that keeps each job's record and event log, the end
 * of a job (its record in the store, the JobMaster freed by the reaper event, history
 * trimmed), cancellation and recovery from the store.
 *
 * A job's store record is written at submission (before the 202) and again when it
 * ends; writes of one job never overlap (a change during a write is written after it).
 *
 * Threading: the event-loop thread only; no locks. JobMasters are freed from the
 * reaper event, never inside their own callbacks.
 */
#include "cluster/dispatcher_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/io_worker.h"
#include "common/log.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/job_events.h"
#include "jobmaster/job_schema.h"
#include "jobmaster/savepoint.h"

#define CTX              "dispatcher"
#define CANCEL_WAIT_MS   30000
#define PROGRESS_MS      1000
#define CKPT_HISTORY_MAX 20

static void job_free(cl_job_t *j);
static void store_write(cl_job_t *j);

cl_job_t *cl_find_job(te_dispatcher_t *d, const char *hex)
{
    for (cl_job_t *j = d->jobs; j != NULL; j = j->next)
        if (strcmp(j->hex, hex) == 0)
            return j;
    return NULL;
}

int dispatcher_knows_job(void *arg, const te_id_t *job_id)
{
    te_dispatcher_t *d = arg;
    for (cl_job_t *j = d->jobs; j != NULL; j = j->next)
        if (te_id_equal(&j->id, job_id))
            return 1;
    return 0;
}

void cl_event(cl_job_t *j, json_t *ev)
{
    if (ev == NULL)
        return;
    json_object_set_new(ev, "seq", json_integer((json_int_t)++j->next_seq));
    json_object_set_new(ev, "time_ms", json_integer((json_int_t)te_clock_wall_ms()));
    json_array_append_new(j->events, ev);
    if (json_array_size(j->events) > CL_MAX_EVENTS)
        json_array_remove(j->events, 0);
}

/* ---- options ----------------------------------------------------------------------------- */

static void options_clear(cl_options_t *o)
{
    free(o->checkpoint_root);
    free(o->from_savepoint);
    memset(o, 0, sizeof(*o));
}

static te_status_t opt_duration(const json_t *v, const char *key, int64_t *out, te_error_t *err)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return TE_OK;
    }
    if (json_is_string(v) && config_parse_duration(json_string_value(v), out) == TE_OK && *out >= 0)
        return TE_OK;
    return te_error_set(err, TE_EINVAL,
                        "option %s: expected a duration such as \"500ms\" or \"2s\" (or milliseconds)", key);
}

static te_status_t opt_path(const json_t *v, const char *key, char **out, te_error_t *err)
{
    if (!json_is_string(v) || json_string_value(v)[0] != '/')
        return te_error_set(err, TE_EINVAL, "option %s: expected an absolute path (the TaskExecutors write there)",
                            key);
    free(*out);
    *out = strdup(json_string_value(v));
    return *out ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory");
}

/* Every member of `root` but "job" is an option. */
static te_status_t options_parse(te_dispatcher_t *d, const json_t *root, cl_options_t *o, te_error_t *err)
{
    memset(o, 0, sizeof(*o));
    o->restart_attempts = d->cfg.restart_attempts;
    o->restart_backoff_ms = d->cfg.restart_backoff_ms;
    if ((o->checkpoint_root = strdup(d->cfg.checkpoint_root)) == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    const char *key;
    const json_t *v;
    te_status_t st = TE_OK;
    json_object_foreach((json_t *)root, key, v)
    {
        if (st != TE_OK || strcmp(key, "job") == 0 || json_is_null(v))
            continue;
        if (strcmp(key, "checkpoint_interval") == 0)
            st = opt_duration(v, key, &o->checkpoint_interval_ms, err);
        else if (strcmp(key, "restart_backoff") == 0)
            st = opt_duration(v, key, &o->restart_backoff_ms, err);
        else if (strcmp(key, "checkpoint_dir") == 0)
            st = opt_path(v, key, &o->checkpoint_root, err);
        else if (strcmp(key, "from_savepoint") == 0)
            st = opt_path(v, key, &o->from_savepoint, err);
        else if (strcmp(key, "restart_attempts") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
                st = te_error_set(err, TE_EINVAL, "option restart_attempts: expected an integer 0..1000000");
            else
                o->restart_attempts = (long)json_integer_value(v);
        } else if (strcmp(key, "allow_non_restored_state") == 0) {
            if (!json_is_boolean(v))
                st = te_error_set(err, TE_EINVAL, "option allow_non_restored_state: expected true or false");
            else
                o->allow_non_restored_state = json_is_true(v);
        } else {
            st = te_error_set(err, TE_EINVAL,
                              "unknown option '%s' (options: job, checkpoint_interval, checkpoint_dir, "
                              "restart_attempts, restart_backoff, from_savepoint, allow_non_restored_state)",
                              key);
        }
    }
    if (st != TE_OK)
        options_clear(o);
    return st;
}

/* ---- the JobMaster's reports ------------------------------------------------------------- */

static void on_state(void *arg, te_job_master_t *jm, te_job_state_t from, te_job_state_t to)
{
    cl_job_t *j = arg;
    j->state = to;
    if (to == TE_JOB_RELEASING) { /* the last moment the attempt's tasks are known */
        json_decref(j->final_detail);
        j->final_detail = cl_vertices_json(j);
    }
    cl_event(j, json_pack("{s:s, s:s, s:s}", "event", "job_state", "from", job_master_state_name(from), "to",
                          job_master_state_name(to)));
    if (!job_master_state_is_terminal(to))
        return;
    te_job_result_t r;
    job_master_result(jm, &r);
    j->end_ms = te_clock_wall_ms();
    j->restarts = r.restarts;
    free(j->cause);
    j->cause = r.state == TE_JOB_FAILED && r.cause ? strdup(r.cause) : NULL;
    TE_INFO(CTX, "job %s (%s) %s%s%s", j->hex, job_graph_name(j->graph), job_master_state_name(to),
            j->cause ? ": " : "", j->cause ? j->cause : "");
    cl_event(j, job_event_end(jm));
    store_write(j);
    event_active(j->d->reaper, EV_TIMEOUT, 0);
}

/* A new attempt: its TaskExecutors go to the store, so that a JobManager recovering the
 * job waits for them (their tasks of this attempt must be gone before it redeploys). */
static void on_plan(void *arg, te_job_master_t *jm)
{
    cl_job_t *j = arg;
    cl_event(j, job_event_plan(jm));
    json_t *ex = json_array();
    for (size_t e = 0; e < job_master_n_executors(jm); e++)
        json_array_append_new(ex, json_string(job_master_executor_address(jm, e)));
    json_decref(j->executors);
    j->executors = ex;
    json_decref(j->attempt);
    j->attempt = cl_attempt_json(jm);
    if (job_master_adopted(jm))
        j->adopted = 1;
    store_write(j);
}

static void on_task_state(void *arg, te_job_master_t *jm, size_t t, const Te__TaskExecutionState *s)
{
    cl_event(arg, job_event_task_state(jm, t, s));
}

static void on_progress(void *arg, te_job_master_t *jm)
{
    (void)arg;
    (void)jm;
}

static void ckpt_history_add(cl_job_t *j, json_t *entry)
{
    json_array_append_new(j->ckpt_history, entry);
    while (json_array_size(j->ckpt_history) > CKPT_HISTORY_MAX)
        json_array_remove(j->ckpt_history, 0);
}

static void on_checkpoint(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                          const te_ckpt_checkpoint_t *cp)
{
    cl_job_t *j = arg;
    (void)jm;
    char job_dir[4200], dir[4300];
    size_t n_tasks = 0;
    for (size_t v = 0; v < m->n_vertices; v++)
        n_tasks += m->vertices[v].n_handles;
    snprintf(job_dir, sizeof(job_dir), "%s/%s", j->opt.checkpoint_root, j->hex);
    if (checkpoint_metadata_chk_dir(job_dir, m->checkpoint_id, dir, sizeof(dir)) == NULL)
        snprintf(dir, sizeof(dir), "%s", job_dir);
    j->ckpt_completed++;
    j->ckpt_duration_sum_s += (double)m->duration_ms / 1000.0;
    json_t *entry =
        json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:i, s:I, s:f, s:I}", "id", (json_int_t)m->checkpoint_id,
                  "status", "COMPLETED", "path", dir, "time_ms", (json_int_t)m->timestamp_ms, "duration_ms",
                  (json_int_t)m->duration_ms, "size", (json_int_t)m->state_size, "tasks", (int)n_tasks,
                  "start_delay_ms_max", (json_int_t)cp->start_delay_ms_max, "alignment_ms_max",
                  (double)cp->alignment_ns_max / 1e6, "in_flight_bytes", (json_int_t)cp->inflight_bytes);
    json_decref(j->last_checkpoint);
    j->last_checkpoint = json_incref(entry);
    ckpt_history_add(j, entry);
    cl_event(j, job_event_checkpoint(m, cp, dir));
}

static void on_checkpoint_aborted(void *arg, te_job_master_t *jm, uint64_t id, const char *cause)
{
    cl_job_t *j = arg;
    (void)jm;
    j->ckpt_failed++;
    ckpt_history_add(j, json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)id, "status", "FAILED", "cause", cause,
                                  "time_ms", (json_int_t)te_clock_wall_ms()));
    cl_event(j, job_event_checkpoint_aborted(id, cause));
}

static void on_restart(void *arg, te_job_master_t *jm, const char *cause, long attempt, long max_attempts,
                       uint64_t checkpoint_id)
{
    cl_job_t *j = arg;
    (void)jm;
    j->restarts = attempt;
    TE_WARN(CTX, "job %s: %s; restarting from %s%llu (attempt %ld of %ld)", j->hex, cause,
            checkpoint_id ? "checkpoint " : "the beginning, ", (unsigned long long)checkpoint_id, attempt,
            max_attempts);
    cl_event(j, job_event_restart(cause, attempt, max_attempts, checkpoint_id));
}

static void on_log(void *arg, te_job_master_t *jm, te_log_level_t level, const char *msg)
{
    cl_job_t *j = arg;
    (void)jm;
    if (level >= TE_LOG_ERROR)
        TE_ERROR(CTX, "job %s: %s", j->hex, msg);
    else if (level == TE_LOG_WARN)
        TE_WARN(CTX, "job %s: %s", j->hex, msg);
    else
        TE_DEBUG(CTX, "job %s: %s", j->hex, msg);
    if (level >= TE_LOG_WARN)
        cl_event(j, job_event_log(level, msg));
}

static const te_job_master_listener_t listener = {
    on_state, on_plan, on_task_state, on_progress, on_checkpoint, on_checkpoint_aborted, on_restart, on_log,
};

/* ---- the store ------------------------------------------------------------------------------ */

static char *record_text(const cl_job_t *j)
{
    int ended = job_master_state_is_terminal(j->state);
    json_t *rec = json_pack("{s:i, s:s, s:s, s:I, s:s, s:I, s:s?, s:i, s:b, s:O, s:o}", "format", 1, "job_id",
                            j->hex, "name", job_graph_name(j->graph), "submitted_ms", (json_int_t)j->submitted_ms,
                            "status", ended ? job_master_state_name(j->state) : "RUNNING", "end_ms",
                            (json_int_t)j->end_ms, "cause", j->cause, "restarts", (int)j->restarts, "recovered",
                            j->recovered, "job", j->graph_json, "options", cl_options_json(&j->opt));
    if (rec != NULL && j->attempt != NULL && !ended)
        json_object_set(rec, "attempt", j->attempt);
    if (rec != NULL && j->executors != NULL && !ended) /* a recovering JobManager waits for them */
        json_object_set(rec, "executors", j->executors);
    if (rec != NULL && j->savepoints != NULL)
        json_object_set(rec, "savepoints", j->savepoints);
    char *text = rec ? json_dumps(rec, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(rec);
    return text;
}

static void on_stored(void *arg, const te_error_t *err)
{
    cl_job_t *j = arg;
    j->store_busy = 0;
    if (err != NULL)
        TE_ERROR(CTX, "job %s: cannot update its record in the job store: %s", j->hex, err->msg);
    if (j->d->closing)
        return;
    if (j->store_dirty) {
        j->store_dirty = 0;
        store_write(j);
    }
}

static void store_write(cl_job_t *j)
{
    if (j->store_busy) {
        j->store_dirty = 1;
        return;
    }
    char *text = record_text(j);
    if (text == NULL) {
        TE_ERROR(CTX, "job %s: out of memory writing its record", j->hex);
        return;
    }
    j->store_busy = 1;
    job_store_put(j->d->cfg.store, j->hex, text, on_stored, j);
    free(text);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

static void job_free(cl_job_t *j)
{
    if (j == NULL)
        return;
    if (j->jm != NULL) {
        resource_manager_forget(j->d->cfg.rm, j->jm);
        job_master_free(j->jm);
    }
    job_graph_free(j->graph);
    json_decref(j->graph_json);
    free(j->graph_text);
    options_clear(&j->opt);
    free(j->cause);
    json_decref(j->last_checkpoint);
    json_decref(j->ckpt_history);
    json_decref(j->final_detail);
    json_decref(j->executors);
    json_decref(j->attempt);
    json_decref(j->savepoints);
    json_decref(j->events);
    free(j);
}

static cl_job_t *job_new(te_dispatcher_t *d, const te_id_t *id, json_t *graph_json, te_error_t *err)
{
    cl_job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    j->d = d;
    j->id = *id;
    te_id_to_hex(id, j->hex);
    j->graph_json = json_incref(graph_json);
    j->events = json_array();
    j->ckpt_history = json_array();
    j->submitted_ms = te_clock_wall_ms();
    j->graph_text = json_dumps(graph_json, JSON_COMPACT | JSON_SORT_KEYS);
    if (j->events == NULL || j->ckpt_history == NULL || j->graph_text == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        job_free(j);
        return NULL;
    }
    if ((j->graph = job_graph_parse_json(graph_json, err)) == NULL) {
        job_free(j);
        return NULL;
    }
    return j;
}

/* The checkpoint the job store's pointer names. When its directory is gone, the
 * pointer was written by a txn whose answer never came, the checkpoint then counted as
 * failed, was discarded and never confirmed: the newest retained one below it is the
 * latest the sinks committed. */
static te_ckpt_metadata_t *pointer_checkpoint(cl_job_t *j, uint64_t id, const char *dir, te_error_t *err)
{
    te_ckpt_metadata_t *m = checkpoint_metadata_resolve(dir, err);
    char job_dir[4200], chk[4300];
    snprintf(job_dir, sizeof(job_dir), "%s/%s", j->opt.checkpoint_root, j->hex);
    for (uint64_t older = id - 1; m == NULL && older > 0 && older + TE_CKPT_RETAINED >= id; older--) {
        te_error_t e = {0};
        if (checkpoint_metadata_chk_dir(job_dir, older, chk, sizeof(chk)) != NULL &&
            (m = checkpoint_metadata_resolve(chk, &e)) != NULL)
            TE_WARN(CTX, "job %s: checkpoint %llu of its pointer is gone (%s): restoring %llu", j->hex,
                    (unsigned long long)id, err ? err->msg : "", (unsigned long long)older);
    }
    if (m == NULL)
        te_error_prefix(err, "checkpoint %llu (%s), the latest in the job store", (unsigned long long)id, dir);
    return m;
}

/* What the job restores: its latest completed checkpoint, else its savepoint, else
 * nothing. *explicit_restore: the user named it (never fallen back from). */
static te_status_t restore_point(cl_job_t *j, int recovering, te_ckpt_metadata_t **out, int *explicit_restore,
                                 te_error_t *err)
{
    *out = NULL;
    *explicit_restore = 0;
    if (recovering && job_store_keeps_checkpoints(j->d->cfg.store)) {
        /* the pointer only: a newer _metadata it does not name was never confirmed */
        uint64_t id = 0;
        te_error_t e = {0};
        char *dir = job_store_latest_checkpoint(j->d->cfg.store, j->hex, &id, &e);
        if (dir == NULL && e.code != TE_OK)
            return te_error_set(err, e.code, "reading its checkpoint pointer: %s", e.msg);
        if (dir != NULL) {
            *out = pointer_checkpoint(j, id, dir, err);
            free(dir);
            return *out ? TE_OK : (err ? err->code : TE_EIO);
        }
    } else if (recovering) {
        char dir[4200];
        te_error_t e = {0};
        snprintf(dir, sizeof(dir), "%s/%s", j->opt.checkpoint_root, j->hex);
        if ((*out = checkpoint_metadata_latest(dir, &e)) != NULL)
            return TE_OK;
    }
    if (j->opt.from_savepoint == NULL)
        return TE_OK;
    if ((*out = checkpoint_metadata_resolve(j->opt.from_savepoint, err)) == NULL) {
        te_error_prefix(err, "from_savepoint %s", j->opt.from_savepoint);
        return err ? err->code : TE_EINVAL;
    }
    *explicit_restore = 1;
    return TE_OK;
}

static te_status_t job_master_create(cl_job_t *j, int recovering, te_error_t *err)
{
    te_dispatcher_t *d = j->d;
    te_ckpt_metadata_t *restore = NULL;
    int explicit_restore = 0;
    te_job_adoption_t adopt;
    int adopting = recovering && cl_adoption_of(j, &adopt);
    if (restore_point(j, recovering, &restore, &explicit_restore, err) != TE_OK) {
        if (adopting)
            cl_adoption_clear(&adopt);
        return err ? err->code : TE_EINVAL;
    }
    te_job_master_config_t jc = {
        .base = d->cfg.base,
        .graph = j->graph,
        .graph_text = j->graph_text,
        .job_id = j->id,
        .slots = resource_manager_slot_provider(d->cfg.rm),
        .checkpoint_root = j->opt.checkpoint_root,
        .checkpoint_interval_ms = j->opt.checkpoint_interval_ms,
        .checkpoint_timeout_ms = d->cfg.checkpoint_timeout_ms,
        .metadata_writer = {cl_metadata_write, d},
        .restore = restore,
        .restore_explicit = explicit_restore,
        .adopt = adopting ? &adopt : NULL,
        .allow_non_restored_state = j->opt.allow_non_restored_state,
        .restart_attempts = j->opt.restart_attempts,
        .restart_backoff_ms = j->opt.restart_backoff_ms,
        .heartbeat_interval_ms = d->cfg.heartbeat_interval_ms,
        .cancel_wait_ms = CANCEL_WAIT_MS,
        .progress_interval_ms = PROGRESS_MS,
        .listener = &listener,
        .listener_arg = j,
    };
    j->jm = job_master_new(&jc, err);
    if (adopting)
        cl_adoption_clear(&adopt);
    if (j->jm == NULL)
        return err ? err->code : TE_EINVAL;
    j->max_restarts = j->opt.restart_attempts;
    const te_ckpt_metadata_t *m = job_master_latest_checkpoint(j->jm);
    if (m != NULL)
        cl_event(j, job_event_log(TE_LOG_INFO, recovering && !explicit_restore
                                                   ? "recovered from its latest completed checkpoint"
                                                   : "restoring from the savepoint"));
    return TE_OK;
}

static void link_job(te_dispatcher_t *d, cl_job_t *j)
{
    j->next = d->jobs;
    d->jobs = j;
}

/* ---- submit ---------------------------------------------------------------------------------- */

typedef struct submit_ctx {
    cl_job_t *job;
    te_dispatch_reply_fn reply;
    void *arg;
} submit_ctx_t;

static void reply_error(te_dispatch_reply_fn reply, void *arg, int status, const char *msg)
{
    reply(arg, status, json_pack("{s:s, s:i}", "error", msg, "status", status));
}

static void on_submit_stored(void *arg, const te_error_t *err)
{
    submit_ctx_t *c = arg;
    cl_job_t *j = c->job;
    te_dispatcher_t *d = j->d;
    j->store_busy = 0;
    if (d->closing) { /* the REST API is gone: nobody to answer */
        job_free(j);
        free(c);
        return;
    }
    if (err != NULL) {
        char msg[TE_ERROR_MSG_MAX + 200];
        snprintf(msg, sizeof(msg), "the job store (%s) cannot be written: %s; the job was not accepted",
                 job_store_describe(d->cfg.store), err->msg);
        TE_ERROR(CTX, "job %s (%s) refused: %s", j->hex, job_graph_name(j->graph), msg);
        reply_error(c->reply, c->arg, 503, msg);
        job_free(j);
        free(c);
        return;
    }
    j->stored = 1;
    d->n_submitted++;
    link_job(d, j);
    TE_INFO(CTX, "job %s (%s) accepted: %zu vertices, checkpoints %s", j->hex, job_graph_name(j->graph),
            job_graph_n_vertices(j->graph), j->opt.checkpoint_interval_ms > 0 ? "on" : "off");
    c->reply(c->arg, 202, json_pack("{s:s, s:s}", "job_id", j->hex, "name", job_graph_name(j->graph)));
    free(c);
    cl_event(j, json_pack("{s:s, s:s}", "event", "submitted", "name", job_graph_name(j->graph)));
    job_master_start(j->jm);
    if (j->store_dirty) {
        j->store_dirty = 0;
        store_write(j);
    }
}

void dispatcher_submit(te_dispatcher_t *d, const char *body, size_t len, te_dispatch_reply_fn reply, void *arg)
{
    te_error_t err = {0};
    json_error_t jerr;
    cl_job_t *j = NULL;
    cl_options_t opt;
    if (len == 0) {
        reply_error(reply, arg, 400, "empty body: expected the job graph JSON (or {\"job\": ..., options})");
        return;
    }
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        char msg[400];
        if (root == NULL)
            snprintf(msg, sizeof(msg), "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        else
            snprintf(msg, sizeof(msg), "(root): expected an object");
        json_decref(root);
        reply_error(reply, arg, 400, msg);
        return;
    }
    json_t *graph_json = json_object_get(root, "job");
    int wrapped = graph_json != NULL;
    if (!wrapped)
        graph_json = root;
    te_id_t id;
    te_id_random(&id);
    json_t *no_options = json_object();
    te_status_t st = options_parse(d, wrapped ? root : no_options, &opt, &err);
    json_decref(no_options);
    if (st != TE_OK)
        goto bad;
    if ((j = job_new(d, &id, graph_json, &err)) == NULL) {
        options_clear(&opt);
        if (err.code != TE_ENOMEM)
            te_error_prefix(&err, "invalid job"); /* as tectl says it of a job file */
        goto bad;
    }
    j->opt = opt;
    /* a chain that cannot be planned (INVALID_CHAIN) is refused here, not stored */
    te_job_schemas_t *schemas = job_schemas_derive(j->graph, &err);
    if (schemas == NULL)
        goto bad;
    job_schemas_free(schemas);
    if (job_master_create(j, 0, &err) != TE_OK)
        goto bad;
    json_decref(root);
    submit_ctx_t *c = calloc(1, sizeof(*c));
    char *text = c ? record_text(j) : NULL;
    if (text == NULL) {
        free(c);
        job_free(j);
        reply_error(reply, arg, 500, "out of memory");
        return;
    }
    *c = (submit_ctx_t){j, reply, arg};
    j->store_busy = 1;
    job_store_put(d->cfg.store, j->hex, text, on_submit_stored, c);
    free(text);
    return;
bad:
    json_decref(root);
    job_free(j);
    reply_error(reply, arg, err.code == TE_ENOMEM ? 500 : 400, err.msg);
}

void dispatcher_cancel(te_dispatcher_t *d, const char *job_hex, te_dispatch_reply_fn reply, void *arg)
{
    cl_job_t *j = cl_find_job(d, job_hex);
    char msg[200];
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "unknown job %s", job_hex);
        reply_error(reply, arg, 404, msg);
        return;
    }
    if (job_master_state_is_terminal(j->state) || j->jm == NULL) {
        snprintf(msg, sizeof(msg), "job %s already ended (%s)", j->hex, job_master_state_name(j->state));
        reply_error(reply, arg, 409, msg);
        return;
    }
    TE_INFO(CTX, "job %s: cancelling (REST)", j->hex);
    job_master_cancel(j->jm, NULL);
    reply(arg, 202, json_pack("{s:s, s:s}", "job_id", j->hex, "state", job_master_state_name(j->state)));
}

/* ---- savepoints ------------------------------------------------------------------------------ */

typedef struct savepoint_ctx {
    cl_job_t *job;
    char *dir;
    int stop;
    te_dispatch_reply_fn reply;
    void *arg;
} savepoint_ctx_t;

static void on_savepoint(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m, const char *cause)
{
    savepoint_ctx_t *c = arg;
    cl_job_t *j = c->job;
    (void)jm;
    char path[4400], msg[TE_ERROR_MSG_MAX + 200];
    te_error_t err = {0};
    int ok = m != NULL && savepoint_write(m, c->dir, path, sizeof(path), &err) == TE_OK;
    if (ok) {
        TE_INFO(CTX, "job %s: %s %llu in %s", j->hex, c->stop ? "stop with savepoint" : "savepoint",
                (unsigned long long)m->checkpoint_id, path);
        if (j->savepoints == NULL)
            j->savepoints = json_array();
        json_array_append_new(j->savepoints,
                              json_pack("{s:I, s:s, s:I, s:b}", "id", (json_int_t)m->checkpoint_id, "path", path,
                                        "time_ms", (json_int_t)te_clock_wall_ms(), "stop", c->stop));
        while (json_array_size(j->savepoints) > CL_SAVEPOINTS_KEPT)
            json_array_remove(j->savepoints, 0);
        store_write(j); /* the pointer goes to the job store (etcd with high availability) */
        cl_event(j, json_pack("{s:s, s:I, s:s, s:b}", "event", "savepoint", "checkpoint_id",
                              (json_int_t)m->checkpoint_id, "path", path, "stop", c->stop));
    } else {
        snprintf(msg, sizeof(msg), "the savepoint of job %s failed: %s", j->hex, m ? err.msg : cause);
        TE_ERROR(CTX, "%s", msg);
        cl_event(j, job_event_log(TE_LOG_ERROR, msg));
    }
    if (!j->d->closing) {
        if (ok)
            c->reply(c->arg, 200,
                     json_pack("{s:s, s:I, s:s}", "job_id", j->hex, "checkpoint_id", (json_int_t)m->checkpoint_id,
                               "path", path));
        else
            reply_error(c->reply, c->arg, 500, msg);
    }
    free(c->dir);
    free(c);
}

void dispatcher_savepoint(te_dispatcher_t *d, const char *job_hex, const char *body, size_t len, int stop,
                          te_dispatch_reply_fn reply, void *arg)
{
    const char *key = stop ? "savepoint_dir" : "dir";
    char msg[TE_ERROR_MSG_MAX + 200];
    json_error_t jerr;
    json_t *doc = len ? json_loadb(body, len, 0, &jerr) : NULL;
    const char *dir = json_string_value(json_object_get(doc, key));
    cl_job_t *j = cl_find_job(d, job_hex);
    te_error_t err = {0};
    if (dir == NULL || dir[0] != '/' || json_object_size(doc) != 1) {
        snprintf(msg, sizeof(msg),
                 "expected {\"%s\": \"/absolute/directory\"} (the TaskExecutors' files are linked "
                 "or copied there)",
                 key);
        reply_error(reply, arg, 400, msg);
    } else if (j == NULL) {
        snprintf(msg, sizeof(msg), "unknown job %s", job_hex);
        reply_error(reply, arg, 404, msg);
    } else if (j->jm == NULL || j->state != TE_JOB_RUNNING) {
        snprintf(msg, sizeof(msg), "job %s is %s: %s needs a running job", j->hex, job_master_state_name(j->state),
                 stop ? "stop with savepoint" : "a savepoint");
        reply_error(reply, arg, 409, msg);
    } else {
        savepoint_ctx_t *c = calloc(1, sizeof(*c));
        if (c == NULL || (c->dir = strdup(dir)) == NULL) {
            free(c);
            reply_error(reply, arg, 500, "out of memory");
        } else {
            *c = (savepoint_ctx_t){j, c->dir, stop, reply, arg};
            if (job_master_trigger_savepoint(j->jm, stop, on_savepoint, c, &err) != TE_OK) {
                reply_error(reply, arg, 409, err.msg);
                free(c->dir);
                free(c);
            }
        }
    }
    json_decref(doc);
}

void dispatcher_close(te_dispatcher_t *d) { d->closing = 1; }

/* ---- the reaper: ended jobs' JobMasters, history ----------------------------------------------- */

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    te_dispatcher_t *d = arg;
    (void)fd;
    (void)what;
    size_t ended = 0;
    cl_job_t **pp = &d->jobs;
    while (*pp != NULL) {
        cl_job_t *j = *pp;
        if (j->jm != NULL && job_master_state_is_terminal(job_master_state(j->jm))) {
            resource_manager_forget(d->cfg.rm, j->jm);
            job_master_free(j->jm);
            j->jm = NULL;
        }
        if (j->jm == NULL && job_master_state_is_terminal(j->state) && ++ended > d->cfg.history &&
            !j->store_busy) {
            *pp = j->next;
            TE_DEBUG(CTX, "job %s leaves the history", j->hex);
            job_store_remove(d->cfg.store, j->hex, NULL, NULL);
            job_free(j);
            continue;
        }
        pp = &j->next;
    }
}

/* ---- recovery ---------------------------------------------------------------------------------- */

static te_job_state_t state_from_name(const char *s)
{
    for (int i = 0; i < TE_JOB_N_STATES; i++)
        if (strcmp(job_master_state_name((te_job_state_t)i), s) == 0)
            return (te_job_state_t)i;
    return TE_JOB_CREATED;
}

typedef struct recover_ctx {
    te_dispatcher_t *d;
    long recovered;
    cl_job_t *started[4096];
    size_t n_started;
} recover_ctx_t;

static void recover_one(void *arg, const char *hex, const char *text)
{
    recover_ctx_t *rc = arg;
    te_dispatcher_t *d = rc->d;
    te_error_t err = {0};
    json_error_t jerr;
    te_id_t id;
    json_t *rec = json_loads(text, 0, &jerr);
    json_t *graph = rec ? json_object_get(rec, "job") : NULL;
    json_t *opts = rec ? json_object_get(rec, "options") : NULL;
    const char *status = rec ? json_string_value(json_object_get(rec, "status")) : NULL;
    cl_job_t *j = NULL;
    cl_options_t opt;
    if (graph == NULL || status == NULL || te_id_from_hex(hex, &id) != 0) {
        TE_ERROR(CTX, "job store record of %s is unreadable (%s): skipped", hex,
                 rec ? "fields missing" : jerr.text);
        json_decref(rec);
        return;
    }
    json_t *no_options = json_object();
    te_status_t st = options_parse(d, opts ? opts : no_options, &opt, &err);
    json_decref(no_options);
    if (st != TE_OK || (j = job_new(d, &id, graph, &err)) == NULL) {
        if (st == TE_OK)
            options_clear(&opt);
        TE_ERROR(CTX, "job store record of %s: %s: skipped", hex, err.msg);
        json_decref(rec);
        return;
    }
    j->opt = opt;
    j->stored = 1;
    j->submitted_ms = json_integer_value(json_object_get(rec, "submitted_ms"));
    j->restarts = (long)json_integer_value(json_object_get(rec, "restarts"));
    json_t *savepoints = json_object_get(rec, "savepoints");
    if (json_is_array(savepoints))
        j->savepoints = json_deep_copy(savepoints);
    te_job_state_t ended = state_from_name(status);
    if (job_master_state_is_terminal(ended)) {
        j->state = ended;
        j->end_ms = json_integer_value(json_object_get(rec, "end_ms"));
        const char *cause = json_string_value(json_object_get(rec, "cause"));
        j->cause = cause ? strdup(cause) : NULL;
        link_job(d, j);
        json_decref(rec);
        return;
    }
    json_t *executors = json_object_get(rec, "executors");
    if (json_is_array(executors) && json_array_size(executors) > 0) {
        const char *addrs[256];
        size_t n = 0, i;
        json_t *a;
        json_array_foreach(executors, i, a) if (json_is_string(a) && n < 256) addrs[n++] = json_string_value(a);
        resource_manager_hold(d->cfg.rm, &id, addrs, n, te_clock_mono_ms() + d->cfg.heartbeat_timeout_ms);
        j->executors = json_incref(executors);
    }
    json_t *attempt = json_object_get(rec, "attempt");
    if (json_is_object(attempt))
        j->attempt = json_incref(attempt);
    json_decref(rec);
    j->recovered = 1;
    if (job_master_create(j, 1, &err) != TE_OK) {
        TE_ERROR(CTX, "job %s cannot be recovered: %s", hex, err.msg);
        j->state = TE_JOB_FAILED;
        j->end_ms = te_clock_wall_ms();
        j->cause = strdup(err.msg);
        link_job(d, j);
        store_write(j);
        return;
    }
    link_job(d, j);
    const te_ckpt_metadata_t *m = job_master_latest_checkpoint(j->jm);
    char adopt[96] = "";
    if (j->attempt != NULL && d->cfg.adoption_timeout_ms > 0)
        snprintf(adopt, sizeof(adopt), ": adopting the running tasks of attempt %lld, or else",
                 (long long)json_integer_value(json_object_get(j->attempt, "number")));
    TE_INFO(CTX, "job %s (%s) recovered from the job store%s%s%llu", j->hex, job_graph_name(j->graph), adopt,
            m ? ": restarting from checkpoint " : " (no checkpoint: from the beginning)",
            m ? (unsigned long long)m->checkpoint_id : 0ULL);
    if (rc->n_started < sizeof(rc->started) / sizeof(rc->started[0]))
        rc->started[rc->n_started++] = j;
    rc->recovered++;
}

long dispatcher_recover(te_dispatcher_t *d, te_error_t *err)
{
    recover_ctx_t *rc = calloc(1, sizeof(*rc));
    if (rc == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return -1;
    }
    rc->d = d;
    if (job_store_load(d->cfg.store, recover_one, rc, err) != TE_OK) {
        free(rc);
        return -1;
    }
    for (size_t i = 0; i < rc->n_started; i++)
        job_master_start(rc->started[i]->jm);
    long n = rc->recovered;
    free(rc);
    return n;
}

/* ---- life cycle ----------------------------------------------------------------------------- */

te_dispatcher_t *dispatcher_new(const te_dispatcher_config_t *cfg, te_error_t *err)
{
    te_dispatcher_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    d->cfg = *cfg;
    d->reaper = event_new(cfg->base, -1, 0, on_reap, d);
    if (d->reaper == NULL) {
        free(d);
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if ((d->io = io_worker_new(cfg->base, "jm-io", err)) == NULL) {
        event_free(d->reaper);
        free(d);
        return NULL;
    }
    return d;
}

void dispatcher_free(te_dispatcher_t *d)
{
    if (d == NULL)
        return;
    d->closing = 1;
    job_store_free(d->cfg.store); /* completes pending writes (their callbacks see `closing`) */
    while (d->jobs != NULL) {
        cl_job_t *j = d->jobs;
        d->jobs = j->next;
        job_free(j);
    }
    io_worker_free(d->io); /* after the JobMasters: their writes still in flight complete orphaned */
    event_free(d->reaper);
    free(d);
}

void dispatcher_set_heartbeat(te_dispatcher_t *d, int64_t interval_ms)
{
    d->cfg.heartbeat_interval_ms = interval_ms;
}

void dispatcher_counts(const te_dispatcher_t *d, te_dispatcher_counts_t *c)
{
    memset(c, 0, sizeof(*c));
    for (const cl_job_t *j = d->jobs; j != NULL; j = j->next) {
        if ((unsigned)j->state < 16)
            c->jobs_by_state[j->state]++;
        c->restarts += (uint64_t)j->restarts;
        c->adopted += j->adopted;
        c->checkpoints_completed += j->ckpt_completed;
        c->checkpoints_failed += j->ckpt_failed;
        c->checkpoint_duration_seconds_sum += j->ckpt_duration_sum_s;
    }
    c->submitted = d->n_submitted;
}
