/*
 * operator_chain — OperatorChain and the engine side of the operator ABI (see
 * operator_chain.h); its Outputs (ChainingOutput, RecordWriterOutput,
 * BroadcastingOutputCollector) are in chain_output.c, the state both share in
 * operator_chain_internal.h.
 *
 * Checkpoints: snapshot_state / restore_state read the monotonic and the wall clock
 * once per call and hand both to the timer services, which store processing-time
 * timers on the wall clock and re-base them onto this process's monotonic clock on
 * restore (timer_service.h; the format version is the TIMERS section's `sub`).
 *
 * Threading: all calls on the task thread, except operator 0 of a blocking source whose
 * `run` emits from the source thread holding `head_emit_lock` (chain_output.c takes it
 * around each emit of operator 0; the task thread holds it around every mail). The failure
 * record is guarded by `fail_mu` (a leaf lock); `failed` is an atomic; the counters are
 * single-writer atomics (task_metrics_add: relaxed load + store, no read-modify-write).
 * Lock order: head_emit_lock -> (record writer internals) ; fail_mu is a leaf.
 */
#include "runtime/operator_chain.h"
#include "runtime/operator_chain_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/job_config_keys.h"
#include "common/log.h"
#include "common/path_confine.h"
#include "runtime/async_checkpoint.h"
#include "state/checkpoint_reader.h"
#include "state/rocksdb_incremental.h"
#include "state/snapshot.h"
#include "state/state_backend.h"
#include "state/state_store.h"
#include "runtime/stream_element.h"
#include "runtime/timer_service.h"

const char *chain_op_name(const te_operator_ctx_t *x)
{
    if (x->cfg->name && x->cfg->name[0])
        return x->cfg->name;
    return x->cfg->def && x->cfg->def->name ? x->cfg->def->name : "?";
}

static const char *op_name(const te_operator_ctx_t *x) { return chain_op_name(x); }

/* An operator's message without its own "operator '<name>': " in front (built-ins and
 * plugins name themselves; the chain adds the name and the position once). */
static const char *strip_name(const char *name, const char *msg)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n > 0 && strncmp(msg, "operator '", 10) == 0 && strncmp(msg + 10, name, n) == 0 &&
        strncmp(msg + 10 + n, "': ", 3) == 0)
        return msg + 10 + n + 3;
    return msg;
}

static const char *op_msg_body(const te_operator_ctx_t *x, const char *msg)
{
    const char *body = strip_name(op_name(x), msg);
    if (body == msg && x->cfg->def != NULL)
        body = strip_name(x->cfg->def->name, msg);
    return body;
}

/* Records the first failure: "operator '<name>' (#<i>): <msg>". */
void chain_fail_op(te_operator_chain_t *c, size_t i, const char *msg)
{
    pthread_mutex_lock(&c->fail_mu);
    if (!atomic_load(&c->failed)) {
        snprintf(c->fail_msg, sizeof(c->fail_msg), "operator '%s' (#%zu): %s", op_name(&c->ctx[i]), i,
                 op_msg_body(&c->ctx[i], msg));
        c->fail_code = TE_EIO;
        atomic_store(&c->failed, 1);
    }
    pthread_mutex_unlock(&c->fail_mu);
}

void chain_fail_output(te_operator_chain_t *c, te_status_t code, const char *msg)
{
    pthread_mutex_lock(&c->fail_mu);
    if (!atomic_load(&c->failed)) {
        snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", msg);
        c->fail_code = code;
        atomic_store(&c->failed, 1);
    }
    pthread_mutex_unlock(&c->fail_mu);
}

/* Fires operator j's timers of `kind` due at `limit` (on_timer of a v2 def). */
int chain_fire_timers(te_operator_chain_t *c, size_t j, int kind, int64_t limit)
{
    te_operator_ctx_t *x = &c->ctx[j];
    const te_operator_def_t *def = x->cfg->def;
    if (x->timers == NULL)
        return 0;
    int64_t t;
    const uint8_t *key;
    uint32_t keylen;
    while (!atomic_load(&c->failed) && timer_service_pop(x->timers, kind, limit, &t, &key, &keylen)) {
        if (def->abi_version < 2 || def->on_timer == NULL)
            continue; /* a timer nobody can receive */
        if (def->on_timer(x->self, kind == TE_TIMER_EVENT, t, key, keylen, &c->out[j]) != 0) {
            chain_fail_op(c, j, "on_timer failed");
            return -1;
        }
    }
    return atomic_load(&c->failed) ? -1 : 0;
}

/* ---- te_operator_api_t ---- */

static const char *api_param(te_operator_ctx_t *x, const char *key)
{
    for (size_t i = 0; i < x->cfg->n_params; i++)
        if (x->cfg->param_keys[i] && strcmp(x->cfg->param_keys[i], key) == 0)
            return x->cfg->param_values[i];
    return NULL;
}

static void api_param_foreach(te_operator_ctx_t *x, void (*fn)(void *arg, const char *key, const char *value),
                              void *arg)
{
    for (size_t i = 0; i < x->cfg->n_params; i++)
        fn(arg, x->cfg->param_keys[i], x->cfg->param_values[i]);
}

static uint32_t api_subtask_index(te_operator_ctx_t *x) { return x->chain->cfg.subtask_index; }
static uint32_t api_parallelism(te_operator_ctx_t *x) { return x->chain->cfg.parallelism; }
static uint32_t api_max_parallelism(te_operator_ctx_t *x) { return x->chain->cfg.max_parallelism; }
static const char zero_id_hex[] = "00000000000000000000000000000000";
static const char *api_job_id(te_operator_ctx_t *x)
{
    return x->chain->cfg.job_id_hex ? x->chain->cfg.job_id_hex : zero_id_hex;
}
static const char *api_vertex_id(te_operator_ctx_t *x)
{
    return x->chain->cfg.vertex_id_hex ? x->chain->cfg.vertex_id_hex : zero_id_hex;
}
static const char *api_task_name(te_operator_ctx_t *x)
{
    return x->chain->cfg.task_name ? x->chain->cfg.task_name : "";
}

static void api_fail(te_operator_ctx_t *x, const char *fmt, ...)
{
    char msg[TE_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    chain_fail_op(x->chain, x->index, msg);
}

static void api_log(te_operator_ctx_t *x, te_op_log_level_t level, const char *fmt, ...)
{
    te_log_level_t l = level == TE_OP_DEBUG  ? TE_LOG_DEBUG
                       : level == TE_OP_INFO ? TE_LOG_INFO
                       : level == TE_OP_WARN ? TE_LOG_WARN
                                             : TE_LOG_ERROR;
    if (l < te_log_get_level())
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    te_log_write(l, api_task_name(x), "%s: %s", chain_op_name(x), msg);
}

static int api_is_cancelled(te_operator_ctx_t *x) { return chain_cancelled(x->chain); }

static void api_counter_add(te_operator_ctx_t *x, const char *name, uint64_t delta)
{
    if (name == NULL)
        return;
    te_task_metrics_t *m = x->chain->cfg.metrics;
    if (m && strcmp(name, "numLateRecordsDropped") == 0)
        task_metrics_add(&m->num_late_records_dropped, delta);
    for (size_t i = 0; i < x->n_counters; i++) {
        if (strcmp(x->counters[i].name, name) == 0) {
            task_metrics_add(&x->counters[i].value, delta);
            return;
        }
    }
    if (x->n_counters == CHAIN_MAX_NAMED_COUNTERS)
        return; /* table full: dropped */
    char *dup = strdup(name);
    if (dup == NULL)
        return;
    x->counters[x->n_counters].name = dup;
    atomic_init(&x->counters[x->n_counters].value, delta);
    x->n_counters++;
}

/* ---- te_operator_api_t v2: timers, keyed state, stream status ---- */

/* The operator's timers, created on first use (their de-duplication state in the
 * task's state store). */
static te_timer_service_t *ctx_timers(te_operator_ctx_t *x)
{
    if (x->timers == NULL) {
        te_state_backend_t *dedup = state_store_timers(x->chain->store, (uint32_t)x->index, NULL);
        x->timers = dedup ? timer_service_new_with(dedup) : NULL;
    }
    return x->timers;
}

/* The operator's keyed state, created on first use; NULL with the failure recorded. */
static te_state_backend_t *ctx_state(te_operator_ctx_t *x)
{
    if (x->state != NULL)
        return x->state;
    te_error_t err = {0};
    x->state = state_store_backend(x->chain->store, (uint32_t)x->index, &err);
    if (x->state == NULL)
        chain_fail_op(x->chain, x->index, err.msg);
    return x->state;
}

/* A state call failed (-1): the failure names the backend's reason. */
static int state_failed(te_operator_ctx_t *x, const char *what)
{
    char msg[TE_ERROR_MSG_MAX];
    snprintf(msg, sizeof(msg), "%s keyed state: %s", what, state_backend_error(x->state));
    chain_fail_op(x->chain, x->index, msg);
    return -1;
}

static int api_register_timer(te_operator_ctx_t *x, int kind, const uint8_t *key, uint32_t keylen, int64_t ts)
{
    te_timer_service_t *t = ctx_timers(x);
    if (t == NULL || timer_service_register(t, kind, key, keylen, ts) < 0) {
        chain_fail_op(x->chain, x->index, "out of memory registering a timer");
        return -1;
    }
    if (kind == TE_TIMER_PROCESSING && (x->chain->next_proc_timer < 0 || ts < x->chain->next_proc_timer))
        x->chain->next_proc_timer = ts;
    return 0;
}

static int api_register_event_timer(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, int64_t ts)
{
    return api_register_timer(x, TE_TIMER_EVENT, key, keylen, ts);
}

static int api_register_processing_timer(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, int64_t ts)
{
    return api_register_timer(x, TE_TIMER_PROCESSING, key, keylen, ts < 0 ? 0 : ts);
}

static int64_t api_current_watermark(te_operator_ctx_t *x) { return x->current_wm; }
static int64_t api_current_processing_time(te_operator_ctx_t *x)
{
    (void)x;
    return te_clock_mono_ms();
}

static int api_state_get_ns(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                            uint32_t nslen, const uint8_t **val, uint32_t *vallen)
{
    if (x->state == NULL)
        return 0;
    int rc = state_backend_get(x->state, key, keylen, ns, nslen, val, vallen);
    return rc < 0 ? state_failed(x, "reading") : rc;
}

static int api_state_put_ns(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                            uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    te_state_backend_t *b = ctx_state(x);
    if (b == NULL)
        return -1;
    return state_backend_put(b, key, keylen, ns, nslen, val, vallen) != 0 ? state_failed(x, "storing") : 0;
}

static int api_state_add_i64(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                             uint32_t nslen, int64_t delta, int64_t *sum)
{
    te_state_backend_t *b = ctx_state(x);
    if (b == NULL)
        return -1;
    return state_backend_add_i64(b, key, keylen, ns, nslen, delta, sum) != 0 ? state_failed(x, "storing") : 0;
}

static int api_state_delete_ns(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                               uint32_t nslen)
{
    if (x->state == NULL)
        return 0;
    int rc = state_backend_delete(x->state, key, keylen, ns, nslen);
    return rc < 0 ? state_failed(x, "deleting") : rc;
}

static int api_state_get(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t **val,
                         uint32_t *vallen)
{
    return api_state_get_ns(x, key, keylen, NULL, 0, val, vallen);
}

static int api_state_put(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                         uint32_t vallen)
{
    return api_state_put_ns(x, key, keylen, NULL, 0, val, vallen);
}

static int api_state_delete(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen)
{
    return api_state_delete_ns(x, key, keylen, NULL, 0);
}

typedef struct foreach_adapter {
    int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen);
    int (*fn_ns)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                 const uint8_t *val, uint32_t vallen);
    void *arg;
} foreach_adapter_t;

static int foreach_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg;
    foreach_adapter_t *a = arg;
    if (a->fn_ns)
        return a->fn_ns(a->arg, key, keylen, ns, nslen, val, vallen);
    return nslen == 0 ? a->fn(a->arg, key, keylen, val, vallen) : 0;
}

static int api_state_foreach(te_operator_ctx_t *x,
                             int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                                       uint32_t vallen),
                             void *arg)
{
    foreach_adapter_t a = {.fn = fn, .arg = arg};
    return x->state && fn ? state_backend_foreach(x->state, foreach_visit, &a) : 0;
}

static int api_state_foreach_ns(te_operator_ctx_t *x,
                                int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                                          uint32_t nslen, const uint8_t *val, uint32_t vallen),
                                void *arg)
{
    foreach_adapter_t a = {.fn_ns = fn, .arg = arg};
    return x->state && fn ? state_backend_foreach(x->state, foreach_visit, &a) : 0;
}

static const char *api_job_config(te_operator_ctx_t *x, const char *key)
{
    const te_operator_chain_config_t *cfg = &x->chain->cfg;
    for (size_t i = 0; key && i < cfg->n_config; i++)
        if (cfg->config_keys[i] && strcmp(cfg->config_keys[i], key) == 0)
            return cfg->config_values[i];
    return NULL;
}

static int api_check_path(te_operator_ctx_t *x, const char *path, char *err, size_t errlen)
{
    te_error_t e;
    if (path_confine_check(api_job_config(x, "io.allowed-dirs"), path, &e) == TE_OK &&
        path_confine_check_protected(api_job_config(x, "io.protected-paths"), path, &e) == TE_OK)
        return 0;
    snprintf(err, errlen, "%s", e.msg);
    return -1;
}

static void api_mark_idle(te_operator_ctx_t *x, int idle)
{
    te_operator_chain_t *c = x->chain;
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return;
    if (chain_set_status(c, idle ? 1 : 0) != 0)
        chain_fail_op(c, x->index, "sending the stream status failed");
}

static const te_operator_api_t chain_api = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .param = api_param,
    .param_foreach = api_param_foreach,
    .subtask_index = api_subtask_index,
    .parallelism = api_parallelism,
    .max_parallelism = api_max_parallelism,
    .task_name = api_task_name,
    .emit = chain_api_emit,
    .emit_side = chain_api_emit_side,
    .emit_watermark = chain_api_emit_watermark,
    .fail = api_fail,
    .log = api_log,
    .is_cancelled = api_is_cancelled,
    .counter_add = api_counter_add,
    .register_event_timer = api_register_event_timer,
    .register_processing_timer = api_register_processing_timer,
    .current_watermark = api_current_watermark,
    .current_processing_time = api_current_processing_time,
    .state_get = api_state_get,
    .state_put = api_state_put,
    .state_delete = api_state_delete,
    .state_foreach = api_state_foreach,
    .state_get_ns = api_state_get_ns,
    .state_put_ns = api_state_put_ns,
    .state_delete_ns = api_state_delete_ns,
    .state_foreach_ns = api_state_foreach_ns,
    .mark_idle = api_mark_idle,
    .job_config = api_job_config,
    .check_path = api_check_path,
    .job_id = api_job_id,
    .vertex_id = api_vertex_id,
    .input_schema = chain_api_input_schema,
    .set_output_schema = chain_api_set_output_schema,
    .parse_schema = chain_api_parse_schema,
    .state_add_i64 = api_state_add_i64,
    .declare_reads = chain_api_declare_reads,
    .output_fields_read = chain_api_output_fields_read,
};

/* ---- lifecycle ---- */

te_operator_chain_t *operator_chain_new(const te_operator_chain_config_t *cfg, te_error_t *err)
{
    if (cfg == NULL || cfg->n_ops == 0 || cfg->ops == NULL) {
        te_error_set(err, TE_EINVAL, "operator chain is empty");
        return NULL;
    }
    te_status_t st = TE_ENOMEM; /* what a failure is unless it says otherwise */
    te_operator_chain_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto cleanup;
    c->cfg = *cfg;
    c->n = cfg->n_ops;
    c->next_proc_timer = -1;
    chain_set_main_writer(c);
    c->cancelled = cfg->cancelled ? cfg->cancelled : &c->never_cancelled;
    c->num_records_out = cfg->metrics ? &cfg->metrics->num_records_out : &c->records_out_unreported;
    pthread_mutex_init(&c->fail_mu, NULL);
    c->store = cfg->state;
    if (c->store == NULL) {
        te_state_store_config_t sc = {.max_parallelism = cfg->max_parallelism, .task_name = cfg->task_name};
        c->store = c->own_store = state_store_new(&sc, err);
        if (c->store == NULL) {
            st = err ? err->code : TE_ENOMEM;
            goto cleanup;
        }
    }
    c->ctx = calloc(c->n, sizeof(*c->ctx));
    c->out = calloc(c->n, sizeof(*c->out));
    if (c->ctx == NULL || c->out == NULL)
        goto cleanup;
    for (size_t i = 0; i < c->n; i++) {
        c->ctx[i].chain = c;
        c->ctx[i].index = i;
        c->ctx[i].cfg = &cfg->ops[i];
        c->ctx[i].process_element = cfg->ops[i].def ? cfg->ops[i].def->process_element : NULL;
        c->ctx[i].current_wm = INT64_MIN;
        c->out[i].chain = c;
        c->out[i].from = i;
        c->out[i].lock = i == 0 ? cfg->head_emit_lock : NULL;
    }
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        const te_operator_def_t *def = x->cfg->def;
        if (def == NULL || def->abi_version < TE_OPERATOR_ABI_MIN_VERSION ||
            def->abi_version > TE_OPERATOR_ABI_VERSION) {
            st = te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): %s", op_name(x), i,
                              def == NULL ? "no definition" : "wrong ABI version");
            goto cleanup;
        }
        chain_rows_before_setup(c, i);
        if (def->setup != NULL) { /* without: stateless, self stays NULL */
            char msg[TE_ERROR_MSG_MAX] = "";
            x->self = def->setup(&chain_api, x, msg, sizeof(msg));
            if (x->self == NULL) {
                st = te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): %s", op_name(x), i,
                                  msg[0] ? op_msg_body(x, msg) : "setup failed");
                x->in_setup = 0;
                goto cleanup;
            }
            x->set_up = 1;
        }
        if (chain_rows_after_setup(c, i, err) != TE_OK) {
            st = err ? err->code : TE_EINVAL;
            goto cleanup;
        }
    }
    return c;

cleanup:
    if (st == TE_ENOMEM)
        te_error_set(err, TE_ENOMEM, "out of memory building the operator chain");
    operator_chain_free(c);
    return NULL;
}

void operator_chain_dispose(te_operator_chain_t *c)
{
    if (c == NULL || c->disposed || c->ctx == NULL)
        return;
    c->disposed = 1;
    for (size_t i = c->n; i-- > 0;) {
        te_operator_ctx_t *x = &c->ctx[i];
        if (x->set_up && x->cfg->def->dispose)
            x->cfg->def->dispose(x->self);
        x->set_up = 0;
        x->self = NULL;
    }
}

void operator_chain_free(te_operator_chain_t *c)
{
    if (c == NULL)
        return;
    operator_chain_dispose(c);
    if (c->ctx) {
        for (size_t i = 0; i < c->n; i++) {
            for (size_t k = 0; k < c->ctx[i].n_counters; k++)
                free(c->ctx[i].counters[k].name);
            timer_service_free(c->ctx[i].timers);
            chain_rows_free(&c->ctx[i]);
        }
    }
    state_store_free(c->own_store);
    free(c->ctx);
    free(c->out);
    pthread_mutex_destroy(&c->fail_mu);
    free(c);
}

te_status_t operator_chain_failure(te_operator_chain_t *c, te_error_t *err)
{
    if (!atomic_load(&c->failed))
        return TE_OK;
    pthread_mutex_lock(&c->fail_mu);
    te_status_t code = c->fail_code;
    te_error_set(err, code, "%s", c->fail_msg);
    pthread_mutex_unlock(&c->fail_mu);
    return code;
}

/* After callback i returned rc: records a failure when rc != 0 and returns the chain's
 * failure status. */
static te_status_t after_callback(te_operator_chain_t *c, size_t i, int rc, const char *what, te_error_t *err)
{
    if (rc != 0)
        chain_fail_op(c, i, what);
    return operator_chain_failure(c, err);
}

te_status_t operator_chain_open(te_operator_chain_t *c, te_error_t *err)
{
    for (size_t i = c->n; i-- > 0;) {
        te_operator_ctx_t *x = &c->ctx[i];
        int rc = 0;
        char msg[TE_ERROR_MSG_MAX] = "";
        if (x->cfg->def->open)
            rc = x->cfg->def->open(x->self, msg, sizeof(msg));
        x->opened = 1;
        te_status_t st = after_callback(c, i, rc, msg[0] ? msg : "open failed", err);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}

te_status_t operator_chain_process_watermark(te_operator_chain_t *c, int64_t wm, te_error_t *err)
{
    if (chain_push_watermark(c, 0, wm) != 0) {
        te_status_t st = operator_chain_failure(c, err);
        if (st == TE_OK && chain_cancelled(c))
            return te_error_set(err, TE_ECANCELED, "task cancelled");
        return st;
    }
    return TE_OK;
}

te_status_t operator_chain_emit_status(te_operator_chain_t *c, int idle, te_error_t *err)
{
    if (chain_set_status(c, idle ? 1 : 0) != 0)
        return operator_chain_failure(c, err);
    return TE_OK;
}

te_status_t operator_chain_source_step(te_operator_chain_t *c, uint32_t budget, te_source_status_t *status,
                                       uint32_t *idle_wait_ms, te_error_t *err)
{
    te_operator_ctx_t *x = &c->ctx[0];
    *idle_wait_ms = 0;
    *status = x->cfg->def->step(x->self, &c->out[0], budget, idle_wait_ms);
    te_status_t st = after_callback(c, 0, *status == TE_SOURCE_ERROR, "source step failed", err);
    if (st == TE_OK && *status != TE_SOURCE_MORE && *status != TE_SOURCE_END && *status != TE_SOURCE_IDLE)
        st = after_callback(c, 0, 1, "source step returned an unknown status", err);
    return st;
}

te_status_t operator_chain_source_run(te_operator_chain_t *c, te_error_t *err)
{
    te_operator_ctx_t *x = &c->ctx[0];
    te_source_status_t s = x->cfg->def->run(x->self, &c->out[0]);
    return after_callback(c, 0, s == TE_SOURCE_ERROR, "source run failed", err);
}

void operator_chain_source_cancel(te_operator_chain_t *c)
{
    te_operator_ctx_t *x = &c->ctx[0];
    if (x->set_up && x->cfg->def->cancel)
        x->cfg->def->cancel(x->self);
}

te_status_t operator_chain_end_input(te_operator_chain_t *c, size_t from, te_error_t *err)
{
    /* As in Flink, an ended input carries the final watermark (Long.MAX_VALUE): every
     * pending event-time timer fires (windows flush) before end_input. */
    int wrc =
        from == 0 ? chain_push_watermark(c, 0, INT64_MAX) : chain_emit_watermark_from(c, from - 1, INT64_MAX);
    if (wrc != 0) {
        te_status_t st = operator_chain_failure(c, err);
        if (st == TE_OK && chain_cancelled(c))
            return te_error_set(err, TE_ECANCELED, "task cancelled");
        return st != TE_OK ? st : te_error_set(err, TE_EINTERNAL, "forwarding the final watermark failed");
    }
    for (size_t i = from; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        int rc = x->cfg->def->end_input ? x->cfg->def->end_input(x->self, &c->out[i]) : 0;
        te_status_t st = after_callback(c, i, rc, "end_input failed", err);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}

te_status_t operator_chain_close(te_operator_chain_t *c, te_error_t *err)
{
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        if (!x->opened)
            continue;
        int rc = x->cfg->def->close ? x->cfg->def->close(x->self, &c->out[i]) : 0;
        x->opened = 0;
        te_status_t st = after_callback(c, i, rc, "close failed", err);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}

size_t operator_chain_length(const te_operator_chain_t *c) { return c->n; }

const te_operator_def_t *operator_chain_def(const te_operator_chain_t *c, size_t i)
{
    return i < c->n ? c->ctx[i].cfg->def : NULL;
}

uint64_t operator_chain_records_in(const te_operator_chain_t *c, size_t i)
{
    return i < c->n ? atomic_load_explicit(&c->ctx[i].records_in, memory_order_relaxed) : 0;
}

uint64_t operator_chain_records_out(const te_operator_chain_t *c, size_t i)
{
    if (i + 1 < c->n) /* counted once: what operator i emits is operator i+1's input */
        return atomic_load_explicit(&c->ctx[i + 1].records_in, memory_order_relaxed);
    if (i >= c->n)
        return 0;
    return atomic_load_explicit(c->num_records_out, memory_order_relaxed) +
           atomic_load_explicit(&c->dropped, memory_order_relaxed);
}

uint64_t operator_chain_records_dropped(const te_operator_chain_t *c)
{
    return atomic_load_explicit(&c->dropped, memory_order_relaxed);
}

uint64_t operator_chain_side_dropped(const te_operator_chain_t *c)
{
    return atomic_load_explicit(&c->side_dropped, memory_order_relaxed);
}

uint64_t operator_chain_counter(const te_operator_chain_t *c, size_t i, const char *name)
{
    if (i >= c->n)
        return 0;
    for (size_t k = 0; k < c->ctx[i].n_counters; k++)
        if (strcmp(c->ctx[i].counters[k].name, name) == 0)
            return atomic_load_explicit(&c->ctx[i].counters[k].value, memory_order_relaxed);
    return 0;
}

/* ---- timers (ABI v2) ---- */

int64_t operator_chain_next_processing_timer(const te_operator_chain_t *c) { return c->next_proc_timer; }

te_status_t operator_chain_fire_processing_timers(te_operator_chain_t *c, int64_t now_ms, te_error_t *err)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        if (x->timers == NULL)
            continue;
        /* timers registered while firing with a time <= now fire in this round too */
        if (chain_fire_timers(c, i, TE_TIMER_PROCESSING, now_ms) != 0)
            break;
        int64_t t = timer_service_next(x->timers, TE_TIMER_PROCESSING);
        if (t < next)
            next = t;
    }
    /* a timer registered by a later operator's callback for an earlier one */
    for (size_t i = 0; i < c->n; i++) {
        int64_t t = c->ctx[i].timers ? timer_service_next(c->ctx[i].timers, TE_TIMER_PROCESSING) : INT64_MAX;
        if (t < next)
            next = t;
    }
    c->next_proc_timer = next == INT64_MAX ? -1 : next;
    te_status_t st = operator_chain_failure(c, err);
    if (st == TE_OK && chain_cancelled(c))
        return te_error_set(err, TE_ECANCELED, "task cancelled");
    return st;
}

size_t operator_chain_timer_count(const te_operator_chain_t *c, size_t i, int event_time)
{
    if (i >= c->n || c->ctx[i].timers == NULL)
        return 0;
    return timer_service_count(c->ctx[i].timers, event_time ? TE_TIMER_EVENT : TE_TIMER_PROCESSING);
}

struct te_state_backend *operator_chain_state_backend(te_operator_chain_t *c, size_t i)
{
    return i < c->n ? c->ctx[i].state : NULL;
}

te_state_store_t *operator_chain_state_store(te_operator_chain_t *c) { return c->store; }

struct te_state_backend *operator_chain_keyed_state(te_operator_chain_t *c, size_t i)
{
    return i < c->n ? ctx_state(&c->ctx[i]) : NULL;
}

const char *operator_chain_op_name(const te_operator_chain_t *c, size_t i)
{
    return i < c->n ? op_name(&c->ctx[i]) : NULL;
}

/* ---- checkpoints ---- */

/* Both clocks at one moment: processing-time timers cross a checkpoint on the wall
 * clock (timer_service.h). */
static te_timer_clock_t chain_clock_now(void)
{
    return (te_timer_clock_t){.mono_ms = te_clock_mono_ms(), .wall_ms = te_clock_wall_ms()};
}

/* The name of an operator's snapshot sections: "<op>#<uid>" when it has a uid (its
 * state is then restored into the operator with that uid, wherever it sits in the
 * chain), else "<op>" (restored by chain position). */
static const char *section_name(const te_operator_ctx_t *x, char *buf, size_t cap)
{
    if (x->cfg->uid == NULL || x->cfg->uid[0] == '\0')
        return op_name(x);
    snprintf(buf, cap, "%s#%s", op_name(x), x->cfg->uid);
    return buf;
}

long operator_chain_state_owner(te_operator_chain_t *c, uint32_t subtask, const char *name, uint32_t index,
                                te_error_t *err)
{
    const char *hash = strchr(name, '#');
    size_t op_len = hash ? (size_t)(hash - name) : strlen(name);
    const char *ignore = api_job_config(&c->ctx[0], TE_IGNORE_UNCLAIMED_STATE_KEY);
    int may_ignore = ignore != NULL && strcmp(ignore, "true") == 0;
    if (hash != NULL) {
        for (size_t i = 0; i < c->n; i++) {
            const te_operator_ctx_t *x = &c->ctx[i];
            if (x->cfg->uid == NULL || strcmp(x->cfg->uid, hash + 1) != 0)
                continue;
            if (strlen(op_name(x)) != op_len || strncmp(op_name(x), name, op_len) != 0) {
                te_error_set(err, TE_EINVAL,
                             "the snapshot of subtask %u holds state of a '%.*s' with uid '%s', but that uid is a "
                             "'%s' in the job",
                             subtask, (int)op_len, name, hash + 1, op_name(x));
                return -2;
            }
            return (long)i;
        }
        if (may_ignore)
            return -1;
        te_error_set(err, TE_EINVAL,
                     "the snapshot of subtask %u holds state of operator '%.*s' with uid '%s', which the job no "
                     "longer has: submit it with allow_non_restored_state (%s: true) to start without that state",
                     subtask, (int)op_len, name, hash + 1, TE_IGNORE_UNCLAIMED_STATE_KEY);
        return -2;
    }
    if (index < c->n && strcmp(name, op_name(&c->ctx[index])) == 0)
        return (long)index;
    if (may_ignore)
        return -1;
    te_error_set(
        err, TE_EINVAL,
        "the snapshot of subtask %u holds state of operator '%s' at chain position %u, but the chain has %s "
        "there: the job graph changed (give the operators a uid to move their state)",
        subtask, name, index, index < c->n ? op_name(&c->ctx[index]) : "no operator");
    return -2;
}

/* The chain position whose operator takes section `sec` (operator_chain_state_owner). */
static long section_target(te_operator_chain_t *c, uint32_t subtask, const te_ckpt_section_info_t *sec,
                           te_error_t *err)
{
    return operator_chain_state_owner(c, subtask, sec->name, sec->index, err);
}

/* An OPERATOR section: non-keyed state, restored when `nonkeyed` says so (1: the same
 * subtask; 2: rescaled, then not for an operator whose state is keyed: it is restored
 * from its key groups only, never from another subtask's whole non-keyed copy). */
static te_status_t restore_operator(te_operator_chain_t *c, te_operator_ctx_t *x, te_ckpt_reader_t *r,
                                    const te_ckpt_section_info_t *sec, int nonkeyed, te_error_t *err)
{
    if (!nonkeyed || (nonkeyed == 2 && checkpoint_reader_find(r, TE_CKPT_SEC_KEYED, sec->index) != NULL))
        return TE_OK;
    const te_operator_def_t *def = x->cfg->def;
    if (def->restore == NULL)
        return te_error_set(err, TE_EINVAL, "operator '%s' (#%u) has state in the snapshot but cannot restore",
                            sec->name, sec->index);
    uint8_t *data;
    te_status_t st = checkpoint_reader_load(r, sec, &data, err);
    if (st != TE_OK)
        return st;
    int rc = def->restore(x->self, data, (size_t)sec->len);
    free(data);
    if (rc == 0)
        return TE_OK;
    te_error_t fe;
    if (operator_chain_failure(c, &fe) != TE_OK)
        return te_error_set(err, fe.code, "%s", fe.msg);
    return te_error_set(err, TE_EINVAL, "operator '%s' (#%u): restoring its state of checkpoint %llu failed",
                        sec->name, sec->index, (unsigned long long)checkpoint_reader_info(r)->checkpoint_id);
}

/* ---- incremental checkpoints: the whole RocksDB instance as one part ---- */

static int inc_shared(void *arg, const char *path, uint64_t size)
{
    return async_checkpoint_add_shared(arg, path, size) == TE_OK ? 0 : -1;
}

static te_status_t inc_write(void *arg, te_ckpt_writer_t *w, te_async_checkpoint_t *ac, te_error_t *err)
{
    return rocksdb_incremental_write(arg, w, inc_shared, ac, err);
}

static void inc_release(void *arg) { rocksdb_incremental_release(arg); }

static const te_async_part_ops_t inc_ops = {inc_write, inc_release};

/* The native checkpoint of the task's instance, holding the keyed state of every
 * operator that has any (none: no part). Its column families are named by chain
 * position; the manifest names each one's operator as its sections are named
 * ("<op>#<uid>" when it has a uid), so a restore moves it by uid like the rest. */
static te_status_t snapshot_incremental(te_operator_chain_t *c, uint64_t checkpoint_id, te_async_checkpoint_t *ac,
                                        te_error_t *err)
{
    te_rocksdb_state_name_t *names = calloc(c->n, sizeof(*names));
    char(*bufs)[512] = calloc(c->n, sizeof(*bufs));
    if (names == NULL || bufs == NULL) {
        free(names);
        free(bufs);
        return te_error_set(err, TE_ENOMEM, "out of memory snapshotting keyed state");
    }
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->ctx[i].state)
            names[n++] =
                (te_rocksdb_state_name_t){(uint32_t)i, section_name(&c->ctx[i], bufs[i], sizeof(bufs[i]))};
    te_status_t st = TE_OK;
    if (n > 0) {
        const te_ckpt_file_info_t *in = async_checkpoint_info(ac);
        te_rocksdb_inc_snapshot_t *snap =
            state_store_snapshot_incremental(c->store, checkpoint_id, in->kg_first, in->kg_last, names, n, err);
        if (snap == NULL)
            st = err ? err->code : TE_EIO;
        else if (async_checkpoint_add_part(ac, TE_CKPT_SEC_ROCKSDB, 0, TE_ROCKSDB_MANIFEST_VERSION, "rocksdb",
                                           &inc_ops, snap) != TE_OK)
            st = te_error_set(err, TE_ENOMEM, "out of memory snapshotting keyed state");
    }
    free(names);
    free(bufs);
    return st;
}

te_status_t operator_chain_snapshot_state(te_operator_chain_t *c, uint64_t checkpoint_id,
                                          te_async_checkpoint_t *ac, te_error_t *err)
{
    te_timer_clock_t now = chain_clock_now();
    int incremental = state_store_incremental(c->store);
    if (incremental && snapshot_incremental(c, checkpoint_id, ac, err) != TE_OK)
        return err ? err->code : TE_EIO;
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        const te_operator_def_t *def = x->cfg->def;
        char name_buf[512];
        const char *name = section_name(x, name_buf, sizeof(name_buf));
        if (def->snapshot) {
            uint8_t *data = NULL;
            size_t len = 0;
            if (def->snapshot(x->self, checkpoint_id, &data, &len) != 0) {
                free(data);
                return te_error_set(err, TE_EIO, "operator '%s' (#%zu): snapshot of checkpoint %llu failed", name,
                                    i, (unsigned long long)checkpoint_id);
            }
            if (async_checkpoint_add_bytes(ac, TE_CKPT_SEC_OPERATOR, (uint32_t)i, 0, name, data, len) != TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
        if (x->state && !incremental) {
            te_state_view_t *v = state_backend_view(x->state, err);
            if (v == NULL)
                return err ? err->code : TE_ENOMEM;
            if (async_checkpoint_add_view(ac, TE_CKPT_SEC_KEYED, (uint32_t)i, 0, name, v, NULL, 0) != TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
        if (x->timers && (timer_service_count(x->timers, TE_TIMER_EVENT) > 0 ||
                          timer_service_count(x->timers, TE_TIMER_PROCESSING) > 0)) {
            int64_t map_arg;
            te_state_view_t *v = timer_service_view(x->timers, now, &map_arg, err);
            if (v == NULL)
                return err ? err->code : TE_ENOMEM;
            if (async_checkpoint_add_view(ac, TE_CKPT_SEC_TIMERS, (uint32_t)i, TE_TIMER_SNAPSHOT_VERSION, name, v,
                                          timer_service_view_map, map_arg) != TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
    }
    return TE_OK;
}

te_status_t operator_chain_restore_state(te_operator_chain_t *c, te_ckpt_reader_t *r, int nonkeyed,
                                         uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    te_timer_clock_t now = chain_clock_now();
    uint32_t subtask = checkpoint_reader_info(r)->subtask_index;
    for (size_t k = 0; k < checkpoint_reader_count(r); k++) {
        const te_ckpt_section_info_t *sec = checkpoint_reader_section(r, k);
        if (sec->type != TE_CKPT_SEC_OPERATOR && sec->type != TE_CKPT_SEC_KEYED && sec->type != TE_CKPT_SEC_TIMERS)
            continue;
        long at = section_target(c, subtask, sec, err);
        if (at == -2)
            return err ? err->code : TE_EINVAL;
        if (at < 0)
            continue; /* unclaimed state the job chose to drop */
        te_operator_ctx_t *x = &c->ctx[at];
        te_status_t rc = TE_OK;
        if (sec->type == TE_CKPT_SEC_OPERATOR) {
            rc = restore_operator(c, x, r, sec, nonkeyed, err);
        } else if (sec->type == TE_CKPT_SEC_KEYED) {
            te_state_backend_t *b = ctx_state(x);
            if (b == NULL)
                return operator_chain_failure(c, err);
            rc = state_backend_restore_section(b, r, sec, kg_first, kg_last, err);
        } else {
            te_timer_service_t *t = ctx_timers(x);
            if (t == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory restoring timers");
            rc = timer_service_restore_section(t, r, sec, sec->sub, now, kg_first, kg_last, err);
            int64_t next = timer_service_next(t, TE_TIMER_PROCESSING);
            if (next != INT64_MAX && (c->next_proc_timer < 0 || next < c->next_proc_timer))
                c->next_proc_timer = next;
        }
        if (rc != TE_OK) {
            if (sec->type != TE_CKPT_SEC_OPERATOR)
                te_error_prefix(err, "operator '%s' (#%u), snapshot of subtask %u", sec->name, sec->index,
                                subtask);
            return rc;
        }
    }
    return TE_OK;
}

te_status_t operator_chain_notify_checkpoint_complete(te_operator_chain_t *c, uint64_t checkpoint_id,
                                                      te_error_t *err)
{
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        if (x->cfg->def->notify_checkpoint_complete == NULL || !x->opened)
            continue;
        int rc = x->cfg->def->notify_checkpoint_complete(x->self, checkpoint_id);
        te_status_t st = after_callback(c, i, rc, "notify_checkpoint_complete failed", err);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}
