/*
 * task — one deployed subtask: TDD → partitions, gates, StreamTask; its own pthread;
 * the CAS state machine; exactly one final state pushed with its cause.
 *
 * Threading:
 *   - control thread: task_new, task_start, task_cancel, task_fail_external,
 *     task_reinterrupt, task_join, task_release_partitions (finished tasks), task_free.
 *   - task thread: task_run (doRun) — it owns the StreamTask, the gates and the
 *     writers while it runs.
 *   - any thread: the getters (state and metrics are atomics; strings are written once
 *     before the state that publishes them).
 * Locks: t->lock guards the cause strings only; it is never held while calling out.
 */
#define _GNU_SOURCE /* asprintf */
#include "task/task.h"
#include "task/task_schema.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/path_confine.h"
#include "common/proto_enum.h"
#include "common/thread_name.h"
#include "common/thread_sched.h"
#include "runtime/stream_task.h"
#include "shuffle/shuffle_env.h"

#define TASK_CAUSE_MAX 1024

struct te_task {
    Te__TaskDeploymentDescriptor *tdd; /* owned copy */
    te_task_services_t svc;
    te_sched_policy_t sched_policy; /* of the task thread: svc's, auto resolved */
    te_id_t job_id, exec_id, alloc_id;
    char name[256];
    char ctx[96]; /* log context: "task <name>" */

    _Atomic int state;
    pthread_mutex_t lock;
    char cause[TASK_CAUSE_MAX];          /* final cause */
    char external_cause[TASK_CAUSE_MAX]; /* set by task_fail_external */
    int fail_external;

    te_shuffle_io_t *io;        /* partitions, writers, gates (shuffle_env) */
    _Atomic int restore_failed; /* it failed reading its TaskRestore's state */

    te_chain_op_config_t *chain;
    size_t n_chain;
    te_task_schemas_t schemas; /* input schemas, partition keys (task_schema.h) */
    const char **config_keys;  /* job configuration over daemon defaults */
    char **config_owned;       /* copies of the defaults used, NULL-terminated */
    const char **config_values;
    size_t n_config;
    const char **param_keys; /* all chain params, flattened */
    const char **param_values;

    te_stream_task_t *st;
    te_task_metrics_t metrics;

    pthread_t thread;
    int thread_started;
    int joined;
    _Atomic int64_t start_ms, end_ms;

    /* checkpoints */
    te_subtask_ckpt_config_t ckpt_cfg;
    char job_hex[TE_ID_HEX_LEN + 1], vertex_hex[TE_ID_HEX_LEN + 1];
    te_restore_handle_t *restore;
    size_t n_restore;
    /* keyed state */
    te_state_store_config_t state_cfg;
    char *state_dir, *shared_dir, *state_label;
    _Atomic uint64_t ckpt_last_id, ckpt_last_duration_ms, ckpt_last_size, ckpt_last_alignment_ns;
};

const char *task_state_name(te_exec_state_t s)
{
    static const char *names[] = {"CREATED",   "DEPLOYING", "RUNNING", "FINISHED",
                                  "CANCELING", "CANCELED",  "FAILED"};
    return (unsigned)s < 7 ? names[s] : "UNKNOWN";
}

int task_state_is_final(te_exec_state_t s)
{
    return s == TE_STATE_FINISHED || s == TE_STATE_CANCELED || s == TE_STATE_FAILED;
}

static int id_ok(ProtobufCBinaryData b) { return b.len == TE_ID_LEN && b.data != NULL; }

te_status_t task_check_ids(const Te__TaskDeploymentDescriptor *tdd, te_error_t *err)
{
    if (tdd == NULL)
        return te_error_set(err, TE_EINVAL, "SubmitTask carries no TaskDeploymentDescriptor");
    if (!id_ok(tdd->job_id))
        return te_error_set(err, TE_EINVAL, "job_id must be %d bytes, got %zu", TE_ID_LEN, tdd->job_id.len);
    if (!id_ok(tdd->execution_attempt_id))
        return te_error_set(err, TE_EINVAL, "execution_attempt_id must be %d bytes, got %zu", TE_ID_LEN,
                            tdd->execution_attempt_id.len);
    if (!id_ok(tdd->allocation_id))
        return te_error_set(err, TE_EINVAL, "allocation_id must be %d bytes, got %zu", TE_ID_LEN,
                            tdd->allocation_id.len);
    const Te__TaskInformation *ti = tdd->task_information;
    if (ti == NULL)
        return te_error_set(err, TE_EINVAL, "TaskDeploymentDescriptor has no task_information");
    if (ti->number_of_subtasks == 0)
        return te_error_set(err, TE_EINVAL, "task_information.number_of_subtasks must be at least 1");
    if (tdd->subtask_index >= ti->number_of_subtasks)
        return te_error_set(err, TE_EINVAL, "subtask_index %u is not below number_of_subtasks %u",
                            tdd->subtask_index, ti->number_of_subtasks);
    uint32_t maxp = ti->max_parallelism ? ti->max_parallelism : 128;
    if (ti->number_of_subtasks > maxp)
        return te_error_set(err, TE_EINVAL, "number_of_subtasks %u exceeds max_parallelism %u",
                            ti->number_of_subtasks, maxp);
    for (size_t i = 0; i < tdd->n_produced_partitions; i++) {
        const Te__ResultPartitionDeploymentDescriptor *p = tdd->produced_partitions[i];
        if (!id_ok(p->partition_id))
            return te_error_set(err, TE_EINVAL, "produced_partitions[%zu].partition_id must be %d bytes", i,
                                TE_ID_LEN);
        if (p->number_of_subpartitions == 0 || p->number_of_subpartitions > 65536)
            return te_error_set(err, TE_EINVAL,
                                "produced_partitions[%zu].number_of_subpartitions %u is not in 1..65536", i,
                                p->number_of_subpartitions);
        if (!proto_enum_valid(&te__partitioner__descriptor, p->partitioner))
            return te_error_set(err, TE_EINVAL, "produced_partitions[%zu].partitioner %d is not set or unknown", i,
                                (int)p->partitioner);
        if (p->partitioner == TE__PARTITIONER__HASH && p->key_field < 0)
            return te_error_set(err, TE_EINVAL, "produced_partitions[%zu].key_field %d is negative", i,
                                p->key_field);
        for (size_t j = 0; j < i; j++)
            if (memcmp(tdd->produced_partitions[j]->partition_id.data, p->partition_id.data, TE_ID_LEN) == 0)
                return te_error_set(err, TE_EINVAL, "produced_partitions[%zu] repeats the partition id of [%zu]",
                                    i, j);
    }
    int inputs_seen[2] = {0, 0};
    for (size_t i = 0; i < tdd->n_input_gates; i++) {
        const Te__InputGateDeploymentDescriptor *g = tdd->input_gates[i];
        if (g->n_shuffle_descriptors == 0)
            return te_error_set(err, TE_EINVAL, "input_gates[%zu] has no shuffle descriptors", i);
        if (g->input_index > 1)
            return te_error_set(err, TE_EINVAL, "input_gates[%zu].input_index %u is not 0 or 1", i,
                                g->input_index);
        inputs_seen[g->input_index] = 1;
        for (size_t j = 0; j < g->n_shuffle_descriptors; j++)
            if (!id_ok(g->shuffle_descriptors[j]->partition_id))
                return te_error_set(err, TE_EINVAL,
                                    "input_gates[%zu].shuffle_descriptors[%zu].partition_id must be %d bytes", i,
                                    j, TE_ID_LEN);
    }
    switch (ti->invokable) {
    case TE__INVOKABLE__SOURCE_STREAM_TASK:
        if (tdd->n_input_gates != 0)
            return te_error_set(err, TE_EINVAL, "a SOURCE_STREAM_TASK must have no input gates, got %zu",
                                tdd->n_input_gates);
        break;
    case TE__INVOKABLE__ONE_INPUT_STREAM_TASK:
        if (tdd->n_input_gates == 0 || inputs_seen[1])
            return te_error_set(err, TE_EINVAL, "a ONE_INPUT_STREAM_TASK needs input gates on input 0 only");
        break;
    case TE__INVOKABLE__TWO_INPUT_STREAM_TASK:
        if (!inputs_seen[0] || !inputs_seen[1])
            return te_error_set(err, TE_EINVAL, "a TWO_INPUT_STREAM_TASK needs input gates on inputs 0 and 1");
        break;
    default: return te_error_set(err, TE_EINVAL, "task_information.invokable is not set");
    }
    if (ti->n_chain == 0)
        return te_error_set(err, TE_EINVAL, "task_information.chain is empty");
    return TE_OK;
}

static Te__TaskDeploymentDescriptor *tdd_copy(const Te__TaskDeploymentDescriptor *tdd)
{
    size_t len = te__task_deployment_descriptor__get_packed_size(tdd);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return NULL;
    te__task_deployment_descriptor__pack(tdd, buf);
    Te__TaskDeploymentDescriptor *copy = te__task_deployment_descriptor__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

static const char *job_config(const Te__TaskDeploymentDescriptor *tdd, const char *key)
{
    const Te__JobInformation *ji = tdd->job_information;
    if (ji == NULL)
        return NULL;
    for (size_t i = 0; i < ji->n_job_configuration; i++)
        if (ji->job_configuration[i]->key && strcmp(ji->job_configuration[i]->key, key) == 0)
            return ji->job_configuration[i]->value;
    return NULL;
}

/* The configuration operators see: the job's entries, then the daemon's default for
 * each job-level key the job does not set. */
static int in_pairs(const char *const *pairs, const char *key)
{
    for (const char *const *d = pairs; d && d[0]; d += 2)
        if (strcmp(d[0], key) == 0)
            return 1;
    return 0;
}

/* The configuration operators see: the daemon's enforced keys (a job cannot override
 * them: io.allowed-dirs), the job's entries, then the daemon's default for each
 * job-level key the job does not set. Daemon values are copied: a reload may replace
 * the daemon's configuration while the task runs. */
static te_status_t build_job_config(te_task_t *t)
{
    const Te__JobInformation *ji = t->tdd->job_information;
    size_t nj = ji ? ji->n_job_configuration : 0, nd = 0;
    for (const char *const *d = t->svc.job_config_defaults; d && d[0]; d += 2)
        nd++;
    for (const char *const *d = t->svc.job_config_enforced; d && d[0]; d += 2)
        nd++;
    t->config_keys = calloc(nj + nd + 1, sizeof(char *));
    t->config_values = calloc(nj + nd + 1, sizeof(char *));
    t->config_owned = calloc(2 * nd + 1, sizeof(char *));
    if (t->config_keys == NULL || t->config_values == NULL || t->config_owned == NULL)
        return TE_ENOMEM;
    size_t n = 0, o = 0;
    for (int pass = 0; pass < 2; pass++) {
        const char *const *pairs = pass == 0 ? t->svc.job_config_enforced : NULL;
        if (pass == 1) {
            for (size_t i = 0; i < nj; i++) {
                const char *k = ji->job_configuration[i]->key ? ji->job_configuration[i]->key : "";
                if (in_pairs(t->svc.job_config_enforced, k))
                    continue; /* the daemon's value stands */
                t->config_keys[n] = k;
                t->config_values[n++] = ji->job_configuration[i]->value ? ji->job_configuration[i]->value : "";
            }
            pairs = t->svc.job_config_defaults;
        }
        for (const char *const *d = pairs; d && d[0]; d += 2) {
            if (pass == 1 && (job_config(t->tdd, d[0]) != NULL || in_pairs(t->svc.job_config_enforced, d[0])))
                continue;
            char *k = strdup(d[0]), *v = strdup(d[1] ? d[1] : "");
            t->config_owned[o++] = k;
            t->config_owned[o++] = v;
            if (k == NULL || v == NULL)
                return TE_ENOMEM;
            t->config_keys[n] = k;
            t->config_values[n++] = v;
        }
    }
    t->n_config = n;
    return TE_OK;
}

static te_status_t build_chain(te_task_t *t, te_error_t *err)
{
    const Te__TaskInformation *ti = t->tdd->task_information;
    size_t n_params = 0;
    for (size_t i = 0; i < ti->n_chain; i++)
        n_params += ti->chain[i]->n_params;
    t->n_chain = ti->n_chain;
    t->chain = calloc(ti->n_chain, sizeof(*t->chain));
    t->param_keys = calloc(n_params + 1, sizeof(char *));
    t->param_values = calloc(n_params + 1, sizeof(char *));
    if (t->chain == NULL || t->param_keys == NULL || t->param_values == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory building the operator chain");
    size_t k = 0;
    for (size_t i = 0; i < ti->n_chain; i++) {
        const Te__OperatorConfig *oc = ti->chain[i];
        te_chain_op_config_t *c = &t->chain[i];
        c->uid = oc->uid;
        c->param_keys = &t->param_keys[k];
        c->param_values = &t->param_values[k];
        c->n_params = oc->n_params;
        c->unread_fields = oc->unread_fields;
        for (size_t j = 0; j < oc->n_params; j++) {
            t->param_keys[k + j] = oc->params[j]->key ? oc->params[j]->key : "";
            t->param_values[k + j] = oc->params[j]->value ? oc->params[j]->value : "";
        }
        char msg[TE_ERROR_MSG_MAX - 64];
        int consumed = -1;
        int source_head = i == 0 && ti->invokable == TE__INVOKABLE__SOURCE_STREAM_TASK;
        c->def =
            t->svc.operators.resolve(t->svc.operators.arg, oc->name ? oc->name : "", i, source_head, c->param_keys,
                                     c->param_values, c->n_params, &consumed, msg, sizeof(msg));
        if (c->def == NULL)
            return te_error_set(err, TE_EINVAL, "%s", msg);
        c->name = c->def->name;
        if (consumed >= 0 && (size_t)consumed < c->n_params) { /* not the operator's: drop it */
            for (size_t j = (size_t)consumed; j + 1 < c->n_params; j++) {
                t->param_keys[k + j] = t->param_keys[k + j + 1];
                t->param_values[k + j] = t->param_values[k + j + 1];
            }
            c->n_params--;
        }
        if (oc->name && strcmp(oc->name, "plugin") == 0) /* its declared output `schema` is the engine's */
            for (size_t j = 0; j < c->n_params; j++)
                if (strcmp(t->param_keys[k + j], "schema") == 0) {
                    for (size_t m = j; m + 1 < c->n_params; m++) {
                        t->param_keys[k + m] = t->param_keys[k + m + 1];
                        t->param_values[k + m] = t->param_values[k + m + 1];
                    }
                    c->n_params--;
                    break;
                }
        k += c->n_params;
    }
    return task_schemas_derive(t->tdd, t->chain, t->n_chain, &t->schemas, err);
}

/* The task's partitions and gates (the shuffle environment builds them). */
static te_status_t build_shuffle_io(te_task_t *t, int flush_always, te_deploy_error_t *why, te_error_t *err)
{
    const Te__TaskDeploymentDescriptor *tdd = t->tdd;
    uint32_t maxp = tdd->task_information->max_parallelism;
    te_shuffle_task_t task = {t->name,      tdd->subtask_index, maxp ? maxp : 128,
                              flush_always, t->schemas.keys,    t->schemas.n_keys};
    te_shuffle_error_t serr;
    t->io = shuffle_env_create_io(&t->svc.shuffle, &task, tdd->produced_partitions, tdd->n_produced_partitions,
                                  tdd->input_gates, tdd->n_input_gates, &serr, err);
    if (t->io != NULL)
        return TE_OK;
    *why = serr == TE_SHUFFLE_ERR_BUFFERS      ? TE_DEPLOY_INSUFFICIENT_BUFFERS
           : serr == TE_SHUFFLE_ERR_DESCRIPTOR ? TE_DEPLOY_INCONSISTENT_IDS
                                               : TE_DEPLOY_INTERNAL;
    return err ? err->code : TE_EINVAL;
}

/* The merged job configuration (job entries over daemon defaults). */
static const char *task_config(const te_task_t *t, const char *key)
{
    for (size_t i = 0; i < t->n_config; i++)
        if (strcmp(t->config_keys[i], key) == 0)
            return t->config_values[i];
    return NULL;
}

/* Task or snapshot thread: a checkpoint was acknowledged or declined. */
static void task_on_checkpoint(void *arg, const te_checkpoint_report_t *r)
{
    te_task_t *t = arg;
    if (!r->declined) {
        atomic_store(&t->ckpt_last_duration_ms, r->duration_ms);
        atomic_store(&t->ckpt_last_size, r->size);
        atomic_store(&t->ckpt_last_alignment_ns, r->alignment_ns);
        atomic_store(&t->ckpt_last_id, r->checkpoint_id);
        atomic_store(&t->metrics.last_checkpoint_sync_us, r->sync_duration_us);
        atomic_store(&t->metrics.last_checkpoint_async_ms, r->async_duration_ms);
    }
    if (t->svc.on_checkpoint)
        t->svc.on_checkpoint(t->svc.on_checkpoint_arg, t, r);
}

/* Checkpoint settings and the TaskRestore handles. INVALID_CHAIN when the chain has
 * non-keyed state that cannot be restored at the new parallelism. */
static te_status_t build_checkpointing(te_task_t *t, te_deploy_error_t *why, te_error_t *err)
{
    const Te__TaskInformation *ti = t->tdd->task_information;
    te_id_to_hex(&t->job_id, t->job_hex);
    te_id_t vid;
    if (te_id_from_bytes(ti->job_vertex_id.data, ti->job_vertex_id.len, &vid) == 0)
        te_id_to_hex(&vid, t->vertex_hex);
    else
        snprintf(t->vertex_hex, sizeof(t->vertex_hex), "vertex");
    const char *un = task_config(t, "execution.checkpointing.unaligned.enabled");
    t->ckpt_cfg = (te_subtask_ckpt_config_t){
        .task_name = t->name,
        .dir = task_config(t, "state.checkpoints.dir"),
        .job_id_hex = t->job_hex,
        .vertex_id_hex = t->vertex_hex,
        .subtask_index = t->tdd->subtask_index,
        .parallelism = ti->number_of_subtasks,
        .max_parallelism = ti->max_parallelism ? ti->max_parallelism : 128,
        .unaligned = un != NULL && strcmp(un, "true") == 0,
        .report = task_on_checkpoint,
        .report_arg = t,
        .pool = t->svc.snapshot_pool,
    };
    /* Paths a job names must lie under io.allowed-dirs (the daemon's own default
     * checkpoint directory is the operator's choice and not checked). */
    const char *allowed = task_config(t, "io.allowed-dirs");
    const char *job_dir = job_config(t->tdd, "state.checkpoints.dir");
    const char *protect = task_config(t, "io.protected-paths");
    if (job_dir != NULL && (path_confine_check(allowed, job_dir, err) != TE_OK ||
                            path_confine_check_protected(protect, job_dir, err) != TE_OK)) {
        *why = TE_DEPLOY_INVALID_CHAIN;
        te_error_prefix(err, "job configuration 'state.checkpoints.dir'");
        return TE_EINVAL;
    }
    const Te__TaskRestore *tr = t->tdd->task_restore;
    if (tr == NULL || tr->n_handles == 0)
        return TE_OK;
    *why = TE_DEPLOY_INVALID_CHAIN;
    for (size_t h = 0; h < tr->n_handles; h++)
        if (tr->handles[h]->path && (path_confine_check(allowed, tr->handles[h]->path, err) != TE_OK ||
                                     path_confine_check_protected(protect, tr->handles[h]->path, err) != TE_OK)) {
            te_error_prefix(err, "task_restore.handles[%zu].path", h);
            return TE_EINVAL;
        }
    t->restore = calloc(tr->n_handles, sizeof(*t->restore));
    if (t->restore == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    t->n_restore = tr->n_handles;
    for (size_t h = 0; h < tr->n_handles; h++) {
        const Te__StateHandle *sh = tr->handles[h];
        if (sh->path == NULL || sh->path[0] == '\0')
            return te_error_set(err, TE_EINVAL, "task_restore.handles[%zu] has no path", h);
        uint32_t p = sh->parallelism ? sh->parallelism : ti->number_of_subtasks;
        t->restore[h] = (te_restore_handle_t){sh->path, sh->subtask_index, p};
        if (p == ti->number_of_subtasks)
            continue;
        for (size_t i = 0; i < t->n_chain; i++) {
            const te_operator_def_t *def = t->chain[i].def;
            /* sources keep positions (not keyed); other operators' keyed state is
             * redistributed by key group and file_sink's pending files are committed */
            if (def->snapshot == NULL || def->kind != TE_OP_SOURCE)
                continue;
            return te_error_set(err, TE_EINVAL,
                                "checkpoint %llu was taken at parallelism %u and this vertex now has %u, but "
                                "operator '%s' (#%zu) has non-keyed state (e.g. a source position%s) that cannot "
                                "be rescaled: restore this vertex at parallelism %u",
                                (unsigned long long)tr->checkpoint_id, p, ti->number_of_subtasks, def->name, i,
                                strcmp(def->name, "file_lines") == 0 ? ", kept per byte range of the file" : "",
                                p);
        }
    }
    *why = TE_DEPLOY_INTERNAL;
    return TE_OK;
}

/* The keyed-state backend the job chose (state.backend.type) and, for rocksdb, the
 * task's own directory under taskmanager.state.local.dir. */
static te_status_t build_state(te_task_t *t, te_error_t *err)
{
    const Te__TaskInformation *ti = t->tdd->task_information;
    const char *backend = task_config(t, "state.backend.type");
    if (state_store_check_backend(backend, err) != TE_OK) {
        te_error_prefix(err, "job configuration 'state.backend.type'");
        return TE_EINVAL;
    }
    char exec_hex[TE_ID_HEX_LEN + 1];
    te_id_to_hex(&t->exec_id, exec_hex);
    const char *root =
        t->svc.state_local_dir && t->svc.state_local_dir[0] ? t->svc.state_local_dir : "state-local";
    if (asprintf(&t->state_dir, "%s/%s/%s-%u-%s", root, t->job_hex, t->vertex_hex, t->tdd->subtask_index,
                 exec_hex) < 0) {
        t->state_dir = NULL;
        return te_error_set(err, TE_ENOMEM, "out of memory");
    }
    const char *style = task_config(t, "state.backend.rocksdb.compaction.style");
    if (state_store_check_compaction(style, err) != TE_OK) {
        te_error_prefix(err, "job configuration 'state.backend.rocksdb.compaction.style'");
        return TE_EINVAL;
    }
    const char *inc = task_config(t, "state.backend.incremental");
    int incremental = inc != NULL && strcmp(inc, "true") == 0;
    if (incremental) { /* <state.checkpoints.dir>/<job>/shared, absolute */
        const char *ck = task_config(t, "state.checkpoints.dir");
        char cwd[4096];
        if (ck == NULL || ck[0] == '\0')
            ck = "checkpoints";
        if (ck[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
            return te_error_set(err, TE_EIO, "cannot resolve the checkpoint directory '%s'", ck);
        if (asprintf(&t->shared_dir, "%s%s%s/%s/shared", ck[0] == '/' ? "" : cwd, ck[0] == '/' ? "" : "/", ck,
                     t->job_hex) < 0 ||
            asprintf(&t->state_label, "%s-%u", t->vertex_hex, t->tdd->subtask_index) < 0) {
            t->shared_dir = t->state_label = NULL;
            return te_error_set(err, TE_ENOMEM, "out of memory");
        }
    }
    t->state_cfg = (te_state_store_config_t){
        .backend = backend,
        .max_parallelism = ti->max_parallelism ? ti->max_parallelism : 128,
        .task_name = t->name,
        .local_dir = t->state_dir,
        .incremental = incremental,
        .shared_dir = t->shared_dir,
        .label = t->state_label,
        .compaction_style = style,
        .memory = t->svc.memory_budget,
        .pool = t->svc.snapshot_pool,
    };
    return TE_OK;
}

te_task_t *task_new(const Te__TaskDeploymentDescriptor *tdd, const te_task_services_t *svc, te_deploy_error_t *why,
                    te_error_t *err)
{
    te_deploy_error_t dummy;
    if (why == NULL)
        why = &dummy;
    *why = TE_DEPLOY_INCONSISTENT_IDS;
    if (task_check_ids(tdd, err) != TE_OK)
        return NULL;
    *why = TE_DEPLOY_INTERNAL;
    te_task_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->lock, NULL);
    t->svc = *svc;
    t->tdd = tdd_copy(tdd);
    if (t->tdd == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory copying the deployment descriptor");
        goto cleanup;
    }
    te_id_from_bytes(tdd->job_id.data, tdd->job_id.len, &t->job_id);
    te_id_from_bytes(tdd->execution_attempt_id.data, tdd->execution_attempt_id.len, &t->exec_id);
    te_id_from_bytes(tdd->allocation_id.data, tdd->allocation_id.len, &t->alloc_id);
    const Te__TaskInformation *ti = t->tdd->task_information;
    if (ti->task_name && ti->task_name[0])
        snprintf(t->name, sizeof(t->name), "%s", ti->task_name);
    else
        snprintf(t->name, sizeof(t->name), "task (%u/%u)", tdd->subtask_index + 1, ti->number_of_subtasks);
    snprintf(t->ctx, sizeof(t->ctx), "task %.60s", t->name);
    atomic_store(&t->state, TE_STATE_CREATED);
    atomic_store(&t->metrics.current_input_watermark, INT64_MIN);

    int64_t buffer_timeout = svc->default_buffer_timeout_ms;
    const char *bt = job_config(t->tdd, "execution.buffer-timeout");
    if (bt != NULL && config_parse_duration(bt, &buffer_timeout) != TE_OK) {
        *why = TE_DEPLOY_INVALID_CHAIN;
        te_error_set(err, TE_EINVAL,
                     "job configuration 'execution.buffer-timeout' = '%s' is not a duration "
                     "(e.g. 100ms, 0 = flush every record, -1 = only full buffers)",
                     bt);
        goto cleanup;
    }
    if (buffer_timeout < -1)
        buffer_timeout = -1;
    t->sched_policy = te_sched_policy_for_task(
        svc->sched_policy < 0 ? TE_SCHED_POLICY_AUTO : (te_sched_policy_t)svc->sched_policy, buffer_timeout);

    *why = TE_DEPLOY_INVALID_CHAIN;
    if (build_chain(t, err) != TE_OK)
        goto cleanup;
    if (build_shuffle_io(t, buffer_timeout == 0, why, err) != TE_OK)
        goto cleanup;
    *why = TE_DEPLOY_INTERNAL;

    if (build_job_config(t) != TE_OK) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (build_checkpointing(t, why, err) != TE_OK)
        goto cleanup;
    *why = TE_DEPLOY_INVALID_CHAIN;
    if (build_state(t, err) != TE_OK)
        goto cleanup;
    *why = TE_DEPLOY_INTERNAL;
    te_stream_task_env_t env = {
        .task_name = t->name,
        .execution_id = t->exec_id,
        .subtask_index = t->tdd->subtask_index,
        .parallelism = ti->number_of_subtasks,
        .max_parallelism = ti->max_parallelism ? ti->max_parallelism : 128,
        .invokable = (te_invokable_t)ti->invokable,
        .chain = t->chain,
        .n_chain = t->n_chain,
        .writers = t->io->writers,
        .n_writers = t->io->n_partitions,
        .writer_tags = t->io->writer_tags,
        .input_schemas = {t->schemas.input[0], t->schemas.input[1]},
        .config_keys = t->config_keys,
        .config_values = t->config_values,
        .n_config = t->n_config,
        .gates = t->io->gates,
        .n_gates = t->io->n_gates,
        .flusher = svc->flusher,
        .buffer_timeout_ms = buffer_timeout,
        .busy_poll_ns = svc->busy_poll_ns,
        .partition_request_timeout_ms = svc->partition_request_timeout_ms,
        .input_stall_threshold_ms = svc->input_stall_threshold_ms,
        .metrics = &t->metrics,
        .checkpoint = svc->on_checkpoint ? &t->ckpt_cfg : NULL,
        .restore = t->restore,
        .n_restore = t->n_restore,
        .state = &t->state_cfg,
    };
    t->st = stream_task_new(&env, err);
    if (t->st == NULL)
        goto cleanup;
    *why = TE_DEPLOY_OK;
    return t;

cleanup:
    task_free(t);
    return NULL;
}

static void push_state(te_task_t *t, te_exec_state_t s, const char *cause)
{
    if (task_state_is_final(s))
        TE_INFO(t->ctx, "%s -> %s%s%s", te_id_str(&t->exec_id), task_state_name(s), cause ? ": " : "",
                cause ? cause : "");
    else
        TE_INFO(t->ctx, "%s -> %s", te_id_str(&t->exec_id), task_state_name(s));
    if (t->svc.on_state)
        t->svc.on_state(t->svc.on_state_arg, t, s, cause);
}

static int transition(te_task_t *t, te_exec_state_t from, te_exec_state_t to)
{
    int expected = from;
    return atomic_compare_exchange_strong(&t->state, &expected, to);
}

void task_release_partitions(te_task_t *t, const char *cause)
{
    if (t == NULL || t->io == NULL)
        return;
    if (cause != NULL)
        shuffle_io_release_partitions(t->io, cause);
    shuffle_io_unregister_partitions(t->io);
}

static void finish_with(te_task_t *t, te_exec_state_t final, const char *cause)
{
    pthread_mutex_lock(&t->lock);
    snprintf(t->cause, sizeof(t->cause), "%s", cause ? cause : "");
    pthread_mutex_unlock(&t->lock);
    if (final != TE_STATE_FINISHED) {
        /* Consumers must not wait for data that will never come. */
        task_release_partitions(t, cause && cause[0] ? cause : task_state_name(final));
    }
    shuffle_io_close_gates(t->io);
    atomic_store(&t->end_ms, te_clock_wall_ms());
    atomic_store(&t->state, final);
    push_state(t, final, cause && cause[0] ? cause : NULL);
}

/* The final state for a task that stops without finishing normally. */
static void finish_abnormally(te_task_t *t, const char *failure)
{
    pthread_mutex_lock(&t->lock);
    int ext = t->fail_external;
    char ext_cause[TASK_CAUSE_MAX];
    snprintf(ext_cause, sizeof(ext_cause), "%s", t->external_cause);
    pthread_mutex_unlock(&t->lock);
    int st = atomic_load(&t->state);
    if (ext)
        finish_with(t, TE_STATE_FAILED, ext_cause);
    else if (st == TE_STATE_CANCELING)
        finish_with(t, TE_STATE_CANCELED, NULL);
    else
        finish_with(t, TE_STATE_FAILED, failure ? failure : "unknown failure");
}

static void *task_run(void *arg)
{
    te_task_t *t = arg;
    atomic_store(&t->start_ms, te_clock_wall_ms());
    te_thread_set_name(NULL, t->name);
    int rc = te_thread_set_sched_policy(t->sched_policy);
    if (rc != 0)
        TE_WARN(t->ctx, "cannot set scheduling policy '%s' for the task thread (%s); it runs with the default",
                te_sched_policy_name(t->sched_policy), strerror(rc));
    if (!transition(t, TE_STATE_CREATED, TE_STATE_DEPLOYING)) {
        finish_abnormally(t, NULL);
        return NULL;
    }
    push_state(t, TE_STATE_DEPLOYING, NULL);
    shuffle_io_register_partitions(t->io, t->ctx);
    if (!transition(t, TE_STATE_DEPLOYING, TE_STATE_RUNNING)) {
        finish_abnormally(t, NULL);
        return NULL;
    }
    push_state(t, TE_STATE_RUNNING, NULL);

    te_error_t err;
    te_error_clear(&err);
    te_status_t s = stream_task_invoke(t->st, &err);
    if (s == TE_OK) {
        if (transition(t, TE_STATE_RUNNING, TE_STATE_FINISHED)) {
            finish_with(t, TE_STATE_FINISHED, NULL);
        } else {
            finish_abnormally(t, NULL);
        }
    } else if (s == TE_ECANCELED) {
        finish_abnormally(t, "the task was cancelled");
    } else {
        if (err.msg[0] == '\0')
            te_error_set(&err, s, "the task failed (%s)", te_status_name(s));
        atomic_store(&t->restore_failed, stream_task_restore_failed(t->st));
        finish_abnormally(t, err.msg);
    }
    return NULL;
}

te_status_t task_start(te_task_t *t, te_error_t *err)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1024 * 1024);
    int rc = pthread_create(&t->thread, &attr, task_run, t);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return te_error_set(err, TE_EIO, "cannot start the task thread: %s", strerror(rc));
    t->thread_started = 1;
    return TE_OK;
}

static void interrupt(te_task_t *t, const char *cause)
{
    stream_task_cancel(t->st);
    /* Wakes a producer blocked on a buffer; consumers of this task's data stop too. */
    shuffle_io_release_partitions(t->io, cause);
}

static void cancel_common(te_task_t *t, const char *cause)
{
    for (;;) {
        int s = atomic_load(&t->state);
        if (task_state_is_final((te_exec_state_t)s) || s == TE_STATE_CANCELING)
            return;
        if (atomic_compare_exchange_strong(&t->state, &s, TE_STATE_CANCELING))
            break;
    }
    push_state(t, TE_STATE_CANCELING, NULL);
    interrupt(t, cause);
}

void task_cancel(te_task_t *t, const char *cause) { cancel_common(t, cause ? cause : "the task was cancelled"); }

void task_fail_external(te_task_t *t, const char *cause)
{
    pthread_mutex_lock(&t->lock);
    if (!t->fail_external) {
        t->fail_external = 1;
        snprintf(t->external_cause, sizeof(t->external_cause), "%s", cause);
    }
    pthread_mutex_unlock(&t->lock);
    cancel_common(t, cause);
}

void task_reinterrupt(te_task_t *t)
{
    if (atomic_load(&t->state) == TE_STATE_CANCELING)
        interrupt(t, "the task was cancelled");
}

void task_join(te_task_t *t)
{
    if (t && t->thread_started && !t->joined) {
        pthread_join(t->thread, NULL);
        t->joined = 1;
    }
}

void task_free(te_task_t *t)
{
    if (t == NULL)
        return;
    task_join(t);
    stream_task_free(t->st);
    shuffle_io_free(t->io);
    free(t->config_keys);
    free(t->config_values);
    for (size_t i = 0; t->config_owned && t->config_owned[i]; i++)
        free(t->config_owned[i]);
    free(t->config_owned);
    free(t->chain);
    task_schemas_release(&t->schemas);
    free(t->param_keys);
    free(t->param_values);
    free(t->restore);
    free(t->state_dir);
    free(t->shared_dir);
    free(t->state_label);
    if (t->tdd)
        te__task_deployment_descriptor__free_unpacked(t->tdd, NULL);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

te_exec_state_t task_state(const te_task_t *t) { return (te_exec_state_t)atomic_load(&((te_task_t *)t)->state); }
const char *task_failure_cause(const te_task_t *t) { return t->cause; }
int task_restore_failed(const te_task_t *t) { return atomic_load(&((te_task_t *)t)->restore_failed); }
const te_id_t *task_execution_id(const te_task_t *t) { return &t->exec_id; }
const te_id_t *task_job_id(const te_task_t *t) { return &t->job_id; }
const te_id_t *task_allocation_id(const te_task_t *t) { return &t->alloc_id; }
const char *task_name(const te_task_t *t) { return t->name; }
uint32_t task_subtask_index(const te_task_t *t) { return t->tdd->subtask_index; }
te_task_metrics_t *task_metrics(te_task_t *t) { return &t->metrics; }
int64_t task_start_time_ms(const te_task_t *t) { return atomic_load(&((te_task_t *)t)->start_ms); }

static te_status_t running_or(te_task_t *t) { return task_state(t) == TE_STATE_RUNNING ? TE_OK : TE_ESTATE; }

te_status_t task_trigger_checkpoint(te_task_t *t, uint64_t id, uint64_t ts, int terminate)
{
    te_status_t rc = running_or(t);
    return rc == TE_OK ? stream_task_trigger_checkpoint(t->st, id, ts, terminate) : rc;
}

te_status_t task_confirm_checkpoint(te_task_t *t, uint64_t id)
{
    if (task_state(t) == TE_STATE_FINISHED)
        return TE_OK; /* its sinks committed everything when the input ended */
    te_status_t rc = running_or(t);
    return rc == TE_OK ? stream_task_notify_checkpoint_complete(t->st, id) : rc;
}

te_status_t task_abort_checkpoint(te_task_t *t, uint64_t id)
{
    te_status_t rc = running_or(t);
    return rc == TE_OK ? stream_task_abort_checkpoint(t->st, id) : rc;
}

void task_last_checkpoint(te_task_t *t, uint64_t *id, uint64_t *duration_ms, uint64_t *size,
                          uint64_t *alignment_ns)
{
    *id = atomic_load(&t->ckpt_last_id);
    *duration_ms = atomic_load(&t->ckpt_last_duration_ms);
    *size = atomic_load(&t->ckpt_last_size);
    *alignment_ns = atomic_load(&t->ckpt_last_alignment_ns);
}
int64_t task_end_time_ms(const te_task_t *t) { return atomic_load(&((te_task_t *)t)->end_ms); }

int task_is_backpressured(te_task_t *t)
{
    return atomic_load(&t->metrics.is_backpressured) || (t->io && shuffle_io_is_backpressured(t->io));
}

uint64_t task_backpressured_ns(te_task_t *t)
{
    uint64_t ns = t->io ? shuffle_io_backpressured_ns(t->io) : 0;
    uint64_t published = task_metrics_get(&t->metrics.backpressured_ns);
    return ns > published ? ns : published;
}

double task_out_pool_usage(te_task_t *t) { return t->io ? shuffle_io_out_pool_usage(t->io) : 0; }
double task_in_pool_usage(te_task_t *t) { return t->io ? shuffle_io_in_pool_usage(t->io) : 0; }
const te_shuffle_io_t *task_shuffle_io(te_task_t *t) { return t->io; }
