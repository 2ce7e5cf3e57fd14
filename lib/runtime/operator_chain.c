/*
 * operator_chain — OperatorChain, the engine side of the operator ABI, ChainingOutput,
 * BroadcastingOutputCollector and RecordWriterOutput (see operator_chain.h).
 *
 * Checkpoints: snapshot_state / restore_state read the monotonic and the wall clock
 * once per call and hand both to the timer services, which store processing-time
 * timers on the wall clock and re-base them onto this process's monotonic clock on
 * restore (timer_service.h; the format version is the TIMERS section's `sub`).
 *
 * Threading: all calls on the task thread, except operator 0 of a blocking source whose
 * `run` emits from the source thread holding `head_emit_lock` (this file takes it around
 * each emit of operator 0; the task thread holds it around every mail). The failure
 * record is guarded by `fail_mu` (a leaf lock); `failed` and the counters are atomics.
 * Lock order: head_emit_lock -> (record writer internals) ; fail_mu is a leaf.
 */
#include "runtime/operator_chain.h"
#include "runtime/operator_chain_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/path_confine.h"
#include "state/checkpoint_storage.h"
#include "state/state_backend.h"
#include "runtime/stream_element.h"
#include "runtime/timer_service.h"

const char *chain_op_name(const te_operator_ctx_t *x)
{
    if (x->cfg->name && x->cfg->name[0])
        return x->cfg->name;
    return x->cfg->def && x->cfg->def->name ? x->cfg->def->name : "?";
}

/* Records the first failure: "operator '<name>' (#<i>): <msg>". */
void chain_fail_op(te_operator_chain_t *c, size_t i, const char *msg)
{
    pthread_mutex_lock(&c->fail_mu);
    if (!atomic_load(&c->failed)) {
        snprintf(c->fail_msg, sizeof(c->fail_msg), "operator '%s' (#%zu): %s", chain_op_name(&c->ctx[i]), i, msg);
        c->fail_code = TE_EIO;
        atomic_store(&c->failed, 1);
    }
    pthread_mutex_unlock(&c->fail_mu);
}

static void chain_fail_output(te_operator_chain_t *c, te_status_t code, const char *msg)
{
    pthread_mutex_lock(&c->fail_mu);
    if (!atomic_load(&c->failed)) {
        snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", msg);
        c->fail_code = code;
        atomic_store(&c->failed, 1);
    }
    pthread_mutex_unlock(&c->fail_mu);
}

static int chain_cancelled(const te_operator_chain_t *c)
{
    return c->cfg.cancelled && atomic_load(c->cfg.cancelled);
}

/* ---- outputs ---- */

static int chain_push_element(te_operator_chain_t *c, size_t j, int input, const te_record_t *rec);
static int chain_push_watermark(te_operator_chain_t *c, size_t j, int64_t wm);
static int chain_set_status(te_operator_chain_t *c, int idle);

/* The side-output tag of writer w, or NULL for a main-output writer. */
static const char *writer_tag(const te_operator_chain_t *c, size_t w)
{
    const char *t = c->cfg.writer_tags ? c->cfg.writer_tags[w] : NULL;
    return t && t[0] ? t : NULL;
}

/* RecordWriterOutput (+ BroadcastingOutputCollector over several writers). Records go
 * to the writers of `tag` (NULL = the main output); broadcast elements (watermarks,
 * stream status) go to every writer, side outputs included, as in Flink. Returns the
 * number of writers written, or -1 on failure. */
static int writers_emit_tagged(te_operator_chain_t *c, const char *tag, const uint8_t *hdr, uint32_t hdr_len,
                               const uint8_t *payload, uint32_t payload_len, int broadcast)
{
    int written = 0;
    for (size_t w = 0; w < c->cfg.n_writers; w++) {
        if (!broadcast) {
            const char *wt = writer_tag(c, w);
            if (tag == NULL ? wt != NULL : (wt == NULL || strcmp(wt, tag) != 0))
                continue;
        }
        written++;
        te_status_t st = broadcast
                             ? record_writer_broadcast_emit(c->cfg.writers[w], hdr, hdr_len, payload, payload_len)
                             : record_writer_emit(c->cfg.writers[w], hdr, hdr_len, payload, payload_len);
        if (st != TE_OK) {
            char msg[128];
            snprintf(msg, sizeof(msg), "record writer %zu failed: %s", w, te_status_name(st));
            chain_fail_output(c, st, msg);
            return -1;
        }
    }
    return written;
}

static int writers_emit(te_operator_chain_t *c, const uint8_t *hdr, uint32_t hdr_len, const uint8_t *payload,
                        uint32_t payload_len, int broadcast)
{
    return writers_emit_tagged(c, NULL, hdr, hdr_len, payload, payload_len, broadcast) < 0 ? -1 : 0;
}

static int emit_from(te_operator_chain_t *c, size_t i, const te_record_t *rec)
{
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return -1;
    te_operator_ctx_t *x = &c->ctx[i];
    te_record_t tmp;
    if (__builtin_expect(x->legacy || rec->len < TE_ROW_HEADER || rec->data[0] != x->out_fields, 0) &&
        (rec = chain_rows_emitted(x, NULL, rec, &tmp)) == NULL)
        return -1;
    atomic_fetch_add_explicit(&c->ctx[i].records_out, 1, memory_order_relaxed);
    if (i + 1 < c->n)
        return chain_push_element(c, i + 1, 0, rec); /* ChainingOutput */
    if (c->cfg.n_writers == 0) {
        atomic_fetch_add_explicit(&c->dropped, 1, memory_order_relaxed);
        return 0;
    }
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
    int rc = writers_emit(c, hdr, hl, rec->data, rec->len, 0);
    if (rc == 0 && c->cfg.metrics)
        task_metrics_add(&c->cfg.metrics->num_records_out, 1);
    return rc;
}

static int emit_watermark_from(te_operator_chain_t *c, size_t i, int64_t wm)
{
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return -1;
    if (i + 1 < c->n)
        return chain_push_watermark(c, i + 1, wm);
    if (c->cfg.n_writers == 0)
        return 0;
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_watermark_header(hdr, wm);
    return writers_emit(c, hdr, hl, NULL, 0, 1);
}

static int chain_push_element(te_operator_chain_t *c, size_t j, int input, const te_record_t *rec)
{
    te_operator_ctx_t *x = &c->ctx[j];
    atomic_fetch_add_explicit(&x->records_in, 1, memory_order_relaxed);
    te_record_t tmp;
    if (x->legacy && (rec = chain_rows_to_text(x, input, rec, &tmp)) == NULL)
        return -1;
    if (x->cfg->def->process_element == NULL)
        return emit_from(c, j, rec); /* no callback: pass through */
    int rc = x->cfg->def->process_element(x->self, input, rec, &c->out[j]);
    if (rc != 0) {
        chain_fail_op(c, j, "process_element failed");
        return -1;
    }
    return atomic_load(&c->failed) ? -1 : 0;
}

/* Sends a stream status on every writer when it differs from the last one sent. */
static int chain_set_status(te_operator_chain_t *c, int idle)
{
    if (c->out_idle == idle || c->cfg.n_writers == 0)
        return 0;
    c->out_idle = idle;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_status_header(hdr, idle);
    return writers_emit(c, hdr, hl, NULL, 0, 1);
}

/* Fires operator j's timers of `kind` due at `limit` (on_timer of a v2 def). */
static int chain_fire_timers(te_operator_chain_t *c, size_t j, int kind, int64_t limit)
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

static int chain_push_watermark(te_operator_chain_t *c, size_t j, int64_t wm)
{
    te_operator_ctx_t *x = &c->ctx[j];
    if (wm <= x->current_wm)
        return 0; /* watermarks only advance */
    x->current_wm = wm;
    if (chain_fire_timers(c, j, TE_TIMER_EVENT, wm) != 0)
        return -1;
    if (x->cfg->def->process_watermark == NULL)
        return emit_watermark_from(c, j, wm);
    if (x->cfg->def->process_watermark(x->self, wm, &c->out[j]) != 0) {
        chain_fail_op(c, j, "process_watermark failed");
        return -1;
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
static const char *api_task_name(te_operator_ctx_t *x)
{
    return x->chain->cfg.task_name ? x->chain->cfg.task_name : "";
}

static int api_emit(te_output_t *out, const te_record_t *rec)
{
    if (out->lock == NULL)
        return emit_from(out->chain, out->from, rec);
    pthread_mutex_lock(out->lock);
    int rc = emit_from(out->chain, out->from, rec);
    pthread_mutex_unlock(out->lock);
    return rc;
}

/* A side output: the record goes to the writers whose edge carries `tag` (from any
 * operator of the chain); a tag with no edge is dropped and counted. */
static int side_emit(te_operator_chain_t *c, size_t from, const char *tag, const te_record_t *rec)
{
    if (atomic_load(&c->failed) || chain_cancelled(c))
        return -1;
    if (tag == NULL || tag[0] == '\0') {
        atomic_fetch_add_explicit(&c->side_dropped, 1, memory_order_relaxed);
        return 0;
    }
    te_record_t tmp;
    if ((rec = chain_rows_emitted(&c->ctx[from], tag, rec, &tmp)) == NULL)
        return -1;
    if (c->out_idle && chain_set_status(c, 0) != 0)
        return -1;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, rec->timestamp);
    int n = writers_emit_tagged(c, tag, hdr, hl, rec->data, rec->len, 0);
    if (n < 0)
        return -1;
    if (n == 0)
        atomic_fetch_add_explicit(&c->side_dropped, 1, memory_order_relaxed);
    else if (c->cfg.metrics)
        task_metrics_add(&c->cfg.metrics->num_records_out, 1);
    return 0;
}

static int api_emit_side(te_output_t *out, const char *tag, const te_record_t *rec)
{
    if (out->lock == NULL)
        return side_emit(out->chain, out->from, tag, rec);
    pthread_mutex_lock(out->lock);
    int rc = side_emit(out->chain, out->from, tag, rec);
    pthread_mutex_unlock(out->lock);
    return rc;
}

static int api_emit_watermark(te_output_t *out, int64_t wm)
{
    if (out->lock == NULL)
        return emit_watermark_from(out->chain, out->from, wm);
    pthread_mutex_lock(out->lock);
    int rc = emit_watermark_from(out->chain, out->from, wm);
    pthread_mutex_unlock(out->lock);
    return rc;
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
            atomic_fetch_add_explicit(&x->counters[i].value, delta, memory_order_relaxed);
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

static te_timer_service_t *ctx_timers(te_operator_ctx_t *x)
{
    if (x->timers == NULL)
        x->timers = timer_service_new(x->chain->cfg.max_parallelism);
    return x->timers;
}

static te_state_backend_t *ctx_state(te_operator_ctx_t *x)
{
    if (x->state == NULL)
        x->state = state_backend_new("hashmap", x->chain->cfg.max_parallelism, NULL);
    return x->state;
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
    return state_backend_get(x->state, key, keylen, ns, nslen, val, vallen);
}

static int api_state_put_ns(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                            uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    te_state_backend_t *b = ctx_state(x);
    if (b == NULL || state_backend_put(b, key, keylen, ns, nslen, val, vallen) != 0) {
        chain_fail_op(x->chain, x->index, "out of memory storing keyed state");
        return -1;
    }
    return 0;
}

static int api_state_delete_ns(te_operator_ctx_t *x, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                               uint32_t nslen)
{
    return x->state ? state_backend_delete(x->state, key, keylen, ns, nslen) : 0;
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
    if (path_confine_check(api_job_config(x, "io.allowed-dirs"), path, &e) == TE_OK)
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
    .emit = api_emit,
    .emit_side = api_emit_side,
    .emit_watermark = api_emit_watermark,
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
    .input_schema = chain_api_input_schema,
    .set_output_schema = chain_api_set_output_schema,
    .parse_schema = chain_api_parse_schema,
};

/* ---- lifecycle ---- */

te_operator_chain_t *operator_chain_new(const te_operator_chain_config_t *cfg, te_error_t *err)
{
    if (cfg == NULL || cfg->n_ops == 0 || cfg->ops == NULL) {
        te_error_set(err, TE_EINVAL, "operator chain is empty");
        return NULL;
    }
    te_operator_chain_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        goto oom;
    c->cfg = *cfg;
    c->n = cfg->n_ops;
    c->next_proc_timer = -1;
    pthread_mutex_init(&c->fail_mu, NULL);
    c->ctx = calloc(c->n, sizeof(*c->ctx));
    c->out = calloc(c->n, sizeof(*c->out));
    if (c->ctx == NULL || c->out == NULL)
        goto oom;
    for (size_t i = 0; i < c->n; i++) {
        c->ctx[i].chain = c;
        c->ctx[i].index = i;
        c->ctx[i].cfg = &cfg->ops[i];
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
            te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): %s", chain_op_name(x), i,
                         def == NULL ? "no definition" : "wrong ABI version");
            goto fail;
        }
        chain_rows_before_setup(c, i);
        if (def->setup != NULL) { /* without: stateless, self stays NULL */
            char msg[TE_ERROR_MSG_MAX] = "";
            x->self = def->setup(&chain_api, x, msg, sizeof(msg));
            if (x->self == NULL) {
                te_error_set(err, TE_EINVAL, "operator '%s' (#%zu): %s", chain_op_name(x), i,
                             msg[0] ? msg : "setup failed");
                x->in_setup = 0;
                goto fail;
            }
            x->set_up = 1;
        }
        if (chain_rows_after_setup(c, i, err) != TE_OK)
            goto fail;
    }
    return c;

oom:
    te_error_set(err, TE_ENOMEM, "out of memory building the operator chain");
fail:
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
            state_backend_free(c->ctx[i].state);
            chain_rows_free(&c->ctx[i]);
        }
    }
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

te_status_t operator_chain_process_element(te_operator_chain_t *c, int input, const te_record_t *rec,
                                           te_error_t *err)
{
    if (chain_push_element(c, 0, input, rec) != 0) {
        te_status_t st = operator_chain_failure(c, err);
        if (st == TE_OK && chain_cancelled(c))
            return te_error_set(err, TE_ECANCELED, "task cancelled");
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
    int wrc = from == 0 ? chain_push_watermark(c, 0, INT64_MAX) : emit_watermark_from(c, from - 1, INT64_MAX);
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
    return i < c->n ? atomic_load_explicit(&c->ctx[i].records_out, memory_order_relaxed) : 0;
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

/* ---- checkpoints ---- */

/* Both clocks at one moment: processing-time timers cross a checkpoint on the wall
 * clock (timer_service.h). */
static te_timer_clock_t chain_clock_now(void)
{
    return (te_timer_clock_t){.mono_ms = te_clock_mono_ms(), .wall_ms = te_clock_wall_ms()};
}

te_status_t operator_chain_snapshot_state(te_operator_chain_t *c, uint64_t checkpoint_id, te_ckpt_snapshot_t *snap,
                                          te_error_t *err)
{
    te_timer_clock_t now = chain_clock_now();
    for (size_t i = 0; i < c->n; i++) {
        te_operator_ctx_t *x = &c->ctx[i];
        const te_operator_def_t *def = x->cfg->def;
        const char *name = chain_op_name(x);
        te_status_t rc;
        if (def->snapshot) {
            uint8_t *data = NULL;
            size_t len = 0;
            if (def->snapshot(x->self, checkpoint_id, &data, &len) != 0) {
                free(data);
                return te_error_set(err, TE_EIO, "operator '%s' (#%zu): snapshot of checkpoint %llu failed", name,
                                    i, (unsigned long long)checkpoint_id);
            }
            if (snapshot_add(snap, TE_CKPT_SEC_OPERATOR, (uint32_t)i, 0, name, data, len) != TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
        if (x->state) {
            uint8_t *data = NULL;
            size_t len = 0;
            rc = state_backend_snapshot(x->state, &data, &len, err);
            if (rc != TE_OK)
                return rc;
            if (snapshot_add(snap, TE_CKPT_SEC_KEYED, (uint32_t)i, 0, name, data, len) != TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
        if (x->timers && (timer_service_count(x->timers, TE_TIMER_EVENT) > 0 ||
                          timer_service_count(x->timers, TE_TIMER_PROCESSING) > 0)) {
            uint8_t *data = NULL;
            size_t len = 0;
            rc = timer_service_snapshot(x->timers, now, &data, &len, err);
            if (rc != TE_OK)
                return rc;
            if (snapshot_add(snap, TE_CKPT_SEC_TIMERS, (uint32_t)i, TE_TIMER_SNAPSHOT_VERSION, name, data, len) !=
                TE_OK)
                return te_error_set(err, TE_ENOMEM, "out of memory snapshotting operator '%s'", name);
        }
    }
    return TE_OK;
}

te_status_t operator_chain_restore_state(te_operator_chain_t *c, const te_ckpt_snapshot_t *snap, int nonkeyed,
                                         uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    te_timer_clock_t now = chain_clock_now();
    for (size_t k = 0; k < snap->n_sections; k++) {
        const te_ckpt_section_t *sec = &snap->sections[k];
        if (sec->type != TE_CKPT_SEC_OPERATOR && sec->type != TE_CKPT_SEC_KEYED && sec->type != TE_CKPT_SEC_TIMERS)
            continue;
        if (sec->index >= c->n || strcmp(sec->name, chain_op_name(&c->ctx[sec->index])) != 0)
            return te_error_set(
                err, TE_EINVAL,
                "the snapshot of subtask %u holds state of operator '%s' at chain position %u, but "
                "the chain has %s there: the job graph changed",
                snap->subtask_index, sec->name, sec->index,
                sec->index < c->n ? chain_op_name(&c->ctx[sec->index]) : "no operator");
        te_operator_ctx_t *x = &c->ctx[sec->index];
        const te_operator_def_t *def = x->cfg->def;
        te_status_t rc = TE_OK;
        if (sec->type == TE_CKPT_SEC_OPERATOR) {
            /* rescaled (2): an operator whose state is keyed is restored from its key
             * groups only, never from another subtask's whole non-keyed copy */
            if (!nonkeyed || (nonkeyed == 2 && snapshot_find(snap, TE_CKPT_SEC_KEYED, sec->index) != NULL))
                continue;
            if (def->restore == NULL)
                return te_error_set(err, TE_EINVAL,
                                    "operator '%s' (#%u) has state in the snapshot but cannot restore", sec->name,
                                    sec->index);
            if (def->restore(x->self, sec->data, sec->len) != 0) {
                te_error_t fe;
                if (operator_chain_failure(c, &fe) != TE_OK)
                    return te_error_set(err, fe.code, "%s", fe.msg);
                return te_error_set(err, TE_EINVAL,
                                    "operator '%s' (#%u): restoring its state of checkpoint %llu failed",
                                    sec->name, sec->index, (unsigned long long)snap->checkpoint_id);
            }
        } else if (sec->type == TE_CKPT_SEC_KEYED) {
            te_state_backend_t *b = ctx_state(x);
            if (b == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory restoring keyed state");
            rc = state_backend_restore(b, sec->data, sec->len, kg_first, kg_last, err);
        } else {
            te_timer_service_t *t = ctx_timers(x);
            if (t == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory restoring timers");
            rc = timer_service_restore(t, sec->data, sec->len, sec->sub, now, kg_first, kg_last, err);
            int64_t next = timer_service_next(t, TE_TIMER_PROCESSING);
            if (next != INT64_MAX && (c->next_proc_timer < 0 || next < c->next_proc_timer))
                c->next_proc_timer = next;
        }
        if (rc != TE_OK) {
            te_error_prefix(err, "operator '%s' (#%u), snapshot of subtask %u", sec->name, sec->index,
                            snap->subtask_index);
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
