/*
 * job_schema — schema derivation over a job graph (see job_schema.h): a planning
 * implementation of te_operator_api_t (one te_operator_ctx_t per operator while its
 * setup runs) and the walk over vertices and edges.
 *
 * Threading: pure; one derivation per call, nothing shared.
 */
#include "jobmaster/job_schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/suggest.h"
#include "common/schema.h"
#include "operators/operator_registry.h"

typedef te_schema_side_t plan_side_t;

typedef struct plan_op {
    te_schema_t *out; /* main output (owned) */
    plan_side_t *sides;
    size_t n_sides;
    int text; /* v1/v2 operator or plugin without a declared schema: side outputs are text */
    /* api->declare_reads: input k's fields it reads, when declared[k] */
    uint64_t reads[2];
    uint8_t declared[2];
    uint8_t pass_through;
} plan_op_t;

typedef struct plan_vertex {
    plan_op_t *ops;
    size_t n_ops;
    const te_schema_t *in[2]; /* borrowed from the producers' plan_op_t */
} plan_vertex_t;

struct te_job_schemas {
    const te_job_graph_t *g;
    plan_vertex_t *v;
    const te_schema_t **edge; /* per edge, borrowed */
    te_row_key_t *keys;       /* per edge */
};

/* The planner's te_operator_ctx_t: one operator while its setup runs. */
struct te_operator_ctx {
    const te_job_graph_t *g;
    const te_job_vertex_t *vx;
    const te_job_operator_t *op;
    const te_schema_t *in[2];
    plan_op_t *res;
    te_schema_t **parsed;
    size_t n_parsed;
    int in_setup;
    char fail[TE_ERROR_MSG_MAX];
};

/* ---- the planning api ---- */

static const char *p_param(te_operator_ctx_t *x, const char *key)
{
    for (size_t i = 0; key && i < x->op->n_params; i++)
        if (strcmp(x->op->params[i].key, key) == 0)
            return x->op->params[i].value;
    return NULL;
}

static void p_param_foreach(te_operator_ctx_t *x, void (*fn)(void *, const char *, const char *), void *arg)
{
    for (size_t i = 0; i < x->op->n_params; i++)
        fn(arg, x->op->params[i].key, x->op->params[i].value);
}

static uint32_t p_subtask(te_operator_ctx_t *x) { return (void)x, 0; }
/* Empty while deriving schemas: no job runs yet (te/operator.h). */
static const char *p_no_id(te_operator_ctx_t *x) { return (void)x, ""; }
static uint32_t p_parallelism(te_operator_ctx_t *x) { return x->vx->parallelism; }
static uint32_t p_max_parallelism(te_operator_ctx_t *x) { return job_graph_max_parallelism(x->g); }
static const char *p_task_name(te_operator_ctx_t *x) { return x->vx->id; }
static int p_emit(te_output_t *o, const te_record_t *r) { return (void)o, (void)r, -1; }
static int p_emit_side(te_output_t *o, const char *t, const te_record_t *r)
{
    return (void)o, (void)t, (void)r, -1;
}
static int p_emit_wm(te_output_t *o, int64_t wm) { return (void)o, (void)wm, -1; }

static void p_fail(te_operator_ctx_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (x->fail[0] == '\0')
        vsnprintf(x->fail, sizeof(x->fail), fmt, ap);
    va_end(ap);
}

static void p_log(te_operator_ctx_t *x, te_op_log_level_t l, const char *fmt, ...) { (void)x, (void)l, (void)fmt; }
static int p_cancelled(te_operator_ctx_t *x) { return (void)x, 0; }
static void p_counter(te_operator_ctx_t *x, const char *n, uint64_t d) { (void)x, (void)n, (void)d; }

static int p_timer(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, int64_t ts)
{
    return (void)x, (void)k, (void)kl, (void)ts, 0;
}

static int64_t p_wm(te_operator_ctx_t *x) { return (void)x, INT64_MIN; }
static int64_t p_now(te_operator_ctx_t *x) { return (void)x, 0; }

static int p_get(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t **v, uint32_t *vl)
{
    return (void)x, (void)k, (void)kl, (void)v, (void)vl, 0;
}

static int p_put(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    return (void)x, (void)k, (void)kl, (void)v, (void)vl, 0;
}

static int p_del(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl) { return (void)x, (void)k, (void)kl, 0; }

static int p_foreach(te_operator_ctx_t *x, int (*fn)(void *, const uint8_t *, uint32_t, const uint8_t *, uint32_t),
                     void *arg)
{
    return (void)x, (void)fn, (void)arg, 0;
}

static int p_get_ns(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                    const uint8_t **v, uint32_t *vl)
{
    return (void)x, (void)k, (void)kl, (void)ns, (void)nl, (void)v, (void)vl, 0;
}

static int p_add_i64(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                     int64_t d, int64_t *sum)
{
    *sum = d;
    return (void)x, (void)k, (void)kl, (void)ns, (void)nl, 0;
}

static int p_put_ns(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                    const uint8_t *v, uint32_t vl)
{
    return (void)x, (void)k, (void)kl, (void)ns, (void)nl, (void)v, (void)vl, 0;
}

static int p_del_ns(te_operator_ctx_t *x, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl)
{
    return (void)x, (void)k, (void)kl, (void)ns, (void)nl, 0;
}

static int p_foreach_ns(te_operator_ctx_t *x,
                        int (*fn)(void *, const uint8_t *, uint32_t, const uint8_t *, uint32_t, const uint8_t *,
                                  uint32_t),
                        void *arg)
{
    return (void)x, (void)fn, (void)arg, 0;
}

static void p_idle(te_operator_ctx_t *x, int idle) { (void)x, (void)idle; }

static const char *p_job_config(te_operator_ctx_t *x, const char *key)
{
    size_t n;
    const te_job_kv_t *kv = job_graph_config(x->g, &n);
    for (size_t i = 0; key && i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

/* Paths are the daemon's to check (its io.allowed-dirs). */
static int p_check_path(te_operator_ctx_t *x, const char *p, char *e, size_t el)
{
    return (void)x, (void)p, (void)e, (void)el, 0;
}

static const te_schema_t *p_input_schema(te_operator_ctx_t *x, int input)
{
    return input == 0 || input == 1 ? x->in[input] : NULL;
}

static int p_set_output(te_operator_ctx_t *x, const char *tag, const te_schema_t *s, char *err, size_t errlen)
{
    te_error_t e;
    if (!x->in_setup) {
        snprintf(err, errlen, "output schemas can only be declared in setup");
        return -1;
    }
    if (schema_validate(s, &e) != TE_OK) {
        snprintf(err, errlen, "bad output schema%s%s: %s", tag ? " of side output " : "", tag ? tag : "", e.msg);
        return -1;
    }
    te_schema_t *copy = schema_dup(s);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    plan_op_t *r = x->res;
    if (tag == NULL || tag[0] == '\0') {
        schema_free(r->out);
        r->out = copy;
        return 0;
    }
    if (schema_sides_put(&r->sides, &r->n_sides, tag, copy) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int p_declare_reads(te_operator_ctx_t *x, int input, uint64_t fields, int pass_through)
{
    if (!x->in_setup || (input != 0 && input != 1) || x->in[input] == NULL || (pass_through && input != 0))
        return -1;
    x->res->reads[input] = fields;
    x->res->declared[input] = 1;
    if (input == 0)
        x->res->pass_through = pass_through != 0;
    return 0;
}

/* Unknown while schemas are derived: every field. */
static uint64_t p_output_fields_read(te_operator_ctx_t *x) { return (void)x, ~0ULL; }

static const te_schema_t *p_parse_schema(te_operator_ctx_t *x, const char *spec, char *err, size_t errlen)
{
    te_error_t e;
    te_schema_t *s = schema_parse(spec, &e);
    te_schema_t **np = s ? realloc(x->parsed, (x->n_parsed + 1) * sizeof(*np)) : NULL;
    if (np == NULL) {
        snprintf(err, errlen, "%s", s ? "out of memory" : e.msg);
        schema_free(s);
        return NULL;
    }
    x->parsed = np;
    x->parsed[x->n_parsed++] = s;
    return s;
}

static const te_operator_api_t plan_api = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .param = p_param,
    .param_foreach = p_param_foreach,
    .subtask_index = p_subtask,
    .parallelism = p_parallelism,
    .max_parallelism = p_max_parallelism,
    .task_name = p_task_name,
    .emit = p_emit,
    .emit_side = p_emit_side,
    .emit_watermark = p_emit_wm,
    .fail = p_fail,
    .log = p_log,
    .is_cancelled = p_cancelled,
    .counter_add = p_counter,
    .register_event_timer = p_timer,
    .register_processing_timer = p_timer,
    .current_watermark = p_wm,
    .current_processing_time = p_now,
    .state_get = p_get,
    .state_put = p_put,
    .state_delete = p_del,
    .state_foreach = p_foreach,
    .state_get_ns = p_get_ns,
    .state_put_ns = p_put_ns,
    .state_delete_ns = p_del_ns,
    .state_foreach_ns = p_foreach_ns,
    .mark_idle = p_idle,
    .job_config = p_job_config,
    .check_path = p_check_path,
    .job_id = p_no_id,
    .vertex_id = p_no_id,
    .input_schema = p_input_schema,
    .set_output_schema = p_set_output,
    .parse_schema = p_parse_schema,
    .state_add_i64 = p_add_i64,
    .declare_reads = p_declare_reads,
    .output_fields_read = p_output_fields_read,
};

/* ---- derivation ---- */

#define INVALID "INVALID_CHAIN: "

static const char *kind_name(te_operator_kind_t k)
{
    return k == TE_OP_SOURCE ? "source" : k == TE_OP_TWO_INPUT ? "two-input" : "one-input";
}

/* A `plugin`: its declared `schema`, or text. */
static te_status_t plan_plugin(const te_job_vertex_t *vx, size_t i, plan_op_t *r, te_error_t *err)
{
    const te_job_operator_t *op = &vx->chain[i];
    const char *spec = NULL;
    for (size_t k = 0; k < op->n_params; k++)
        if (strcmp(op->params[k].key, "schema") == 0)
            spec = op->params[k].value;
    r->text = 1;
    if (spec == NULL) {
        r->out = schema_dup(schema_text_line());
        return r->out ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory");
    }
    te_error_t e;
    if ((r->out = schema_parse(spec, &e)) == NULL)
        return te_error_set(err, TE_EINVAL, INVALID "vertex '%s' operator 'plugin' (#%zu): parameter 'schema': %s",
                            vx->id, i, e.msg);
    return TE_OK;
}

/* The first fields of `out` are those of `in` (same types): rows passed through. */
static int starts_with(const te_schema_t *out, const te_schema_t *in)
{
    if (out == NULL || in == NULL || out->n_fields < in->n_fields)
        return 0;
    for (uint32_t k = 0; k < in->n_fields; k++)
        if (out->fields[k].type != in->fields[k].type)
            return 0;
    return 1;
}

/* Runs operator i's setup against the planning api. */
static te_status_t plan_op(const te_job_graph_t *g, const te_job_vertex_t *vx, size_t i, const te_schema_t *in[2],
                           plan_op_t *r, te_error_t *err)
{
    const te_job_operator_t *op = &vx->chain[i];
    if (strcmp(op->name, "plugin") == 0)
        return plan_plugin(vx, i, r, err);
    char why[1536];
    const te_operator_def_t *def = operator_registry_lookup(
        op->name, i == 0 && vx->invokable == TE__INVOKABLE__SOURCE_STREAM_TASK, why, sizeof(why));
    if (def == NULL && why[0] != '\0')
        return te_error_set(err, TE_EINVAL, INVALID "vertex '%s' chain position %zu: %s", vx->id, i, why);
    if (def == NULL) {
        char known[512];
        operator_registry_names(known, sizeof(known));
        te_suggest_t sg;
        suggest_init(&sg, op->name);
        for (size_t j = 0; operator_registry_at(j) != NULL; j++)
            suggest_consider(&sg, operator_registry_at(j)->name);
        suggest_consider(&sg, "plugin");
        const char *hint = suggest_best(&sg);
        return te_error_set(err, TE_EINVAL,
                            INVALID "vertex '%s': unknown operator '%s' at chain position %zu%s%s%s (known "
                                    "operators: %s, and 'plugin' with a 'library' under plugins.dir)",
                            vx->id, op->name, i, hint ? "; did you mean '" : "", hint ? hint : "",
                            hint ? "'?" : "", known);
    }
    te_operator_kind_t want = i > 0                                                   ? TE_OP_ONE_INPUT
                              : vx->invokable == TE__INVOKABLE__SOURCE_STREAM_TASK    ? TE_OP_SOURCE
                              : vx->invokable == TE__INVOKABLE__TWO_INPUT_STREAM_TASK ? TE_OP_TWO_INPUT
                                                                                      : TE_OP_ONE_INPUT;
    if (def->kind != want)
        return te_error_set(err, TE_EINVAL,
                            INVALID "vertex '%s' operator '%s' (#%zu): a %s operator cannot be %s (the vertex "
                                    "needs a %s operator there)",
                            vx->id, op->name, i, kind_name(def->kind),
                            i ? "chained after another operator" : "the head of this vertex", kind_name(want));
    te_operator_ctx_t x = {.g = g, .vx = vx, .op = op, .in = {in[0], in[1]}, .res = r, .in_setup = 1};
    char msg[TE_ERROR_MSG_MAX] = "";
    /* A v1/v2 operator's records are text whatever its setup does, and its setup was not
     * written to run on the scheduler's side (it may acquire resources): the daemon's
     * deployment check runs it. */
    void *self = def->setup && def->abi_version >= 3 ? def->setup(&plan_api, &x, msg, sizeof(msg)) : &x;
    x.in_setup = 0;
    te_status_t rc = TE_OK;
    if (self == NULL) {
        rc = te_error_set(err, TE_EINVAL, INVALID "vertex '%s' operator '%s' (#%zu): %s", vx->id, op->name, i,
                          msg[0]      ? msg
                          : x.fail[0] ? x.fail
                                      : "setup failed");
    } else {
        if (def->setup && def->abi_version >= 3 && def->dispose)
            def->dispose(self);
        r->text = def->abi_version < 3;
        const te_schema_t *main = r->text ? schema_text_line() : r->out ? r->out : in[0];
        if (r->pass_through && !starts_with(main, in[0])) /* not its input's rows: reads all */
            r->declared[0] = r->pass_through = 0;
        if (main == NULL)
            rc =
                te_error_set(err, TE_EINVAL, INVALID "vertex '%s' operator '%s' (#%zu): declares no output schema",
                             vx->id, op->name, i);
        else if (main != r->out) {
            schema_free(r->out);
            if ((r->out = schema_dup(main)) == NULL)
                rc = te_error_set(err, TE_ENOMEM, "out of memory");
        }
    }
    for (size_t k = 0; k < x.n_parsed; k++)
        schema_free(x.parsed[k]);
    free(x.parsed);
    return rc;
}

/* What vertex v emits on side output tag (NULL = main): NULL when nothing does. */
static const te_schema_t *vertex_output(const plan_vertex_t *pv, const char *tag)
{
    if (tag == NULL || tag[0] == '\0')
        return pv->ops[pv->n_ops - 1].out;
    int text = 0;
    for (size_t i = 0; i < pv->n_ops; i++) {
        text |= pv->ops[i].text;
        for (size_t k = 0; k < pv->ops[i].n_sides; k++)
            if (strcmp(pv->ops[i].sides[k].tag, tag) == 0)
                return pv->ops[i].sides[k].schema;
    }
    return text ? schema_text_line() : NULL;
}

/* Resolves edge e's hash key against its schema. */
static te_status_t resolve_key(const te_job_graph_t *g, size_t e, const te_schema_t *s, te_row_key_t *key,
                               te_error_t *err)
{
    const te_job_edge_t *ed = job_graph_edge(g, e);
    char a[512];
    memset(key, 0, sizeof(*key));
    if (ed->partitioner != TE__PARTITIONER__HASH)
        return TE_OK;
    int by_name = 0;
    for (uint32_t k = 0; k < ed->n_keys; k++)
        by_name |= ed->key_index[k] < 0;
    if (schema_is_text(s) && ed->n_keys == 1 && !by_name)
        return TE_OK; /* text: field key_field of the line */
    for (uint32_t k = 0; k < ed->n_keys; k++) {
        int f = ed->key_index[k] >= 0 ? ed->key_index[k] : te_schema_find(s, ed->key_name[k]);
        if (f < 0 || (uint32_t)f >= s->n_fields) {
            char which[80];
            if (ed->key_index[k] >= 0)
                snprintf(which, sizeof(which), "%d", ed->key_index[k]);
            else
                snprintf(which, sizeof(which), "'%s'", ed->key_name[k]);
            return te_error_set(err, TE_EINVAL,
                                INVALID
                                "edges[%zu] (\"%s\" -> \"%s\"): key field %s is not in the edge's schema %s",
                                e, job_graph_vertex(g, ed->from)->id, job_graph_vertex(g, ed->to)->id, which,
                                te_schema_format(s, a, sizeof(a)));
        }
        key->idx[k] = (uint32_t)f;
        key->type[k] = s->fields[f].type;
    }
    key->n = ed->n_keys;
    return TE_OK;
}

/* The inputs of vertex v from its incoming edges (producers are planned already). */
static te_status_t plan_inputs(te_job_schemas_t *js, size_t v, te_error_t *err)
{
    const te_job_graph_t *g = js->g;
    long first[2] = {-1, -1};
    char a[512], b[512];
    for (size_t e = 0; e < job_graph_n_edges(g); e++) {
        const te_job_edge_t *ed = job_graph_edge(g, e);
        if (ed->to != v)
            continue;
        const char *from = job_graph_vertex(g, ed->from)->id;
        const te_schema_t *s = vertex_output(&js->v[ed->from], ed->side_output);
        if (s == NULL)
            return te_error_set(err, TE_EINVAL,
                                INVALID "edges[%zu]: no operator of vertex '%s' declares the side output '%s'", e,
                                from, ed->side_output);
        js->edge[e] = s;
        te_status_t rc = resolve_key(g, e, s, &js->keys[e], err);
        if (rc != TE_OK)
            return rc;
        uint32_t in = ed->input;
        if (first[in] < 0) {
            first[in] = (long)e;
            js->v[v].in[in] = s;
        } else if (!te_schema_equal(s, js->v[v].in[in])) {
            return te_error_set(err, TE_EINVAL,
                                INVALID "vertex '%s' input %u: edges[%zu] from '%s' carries %s but edges[%ld] "
                                        "carries %s (the edges into one input must carry one schema)",
                                job_graph_vertex(g, v)->id, in, e, from, te_schema_format(s, a, sizeof(a)),
                                first[in], te_schema_format(js->v[v].in[in], b, sizeof(b)));
        }
    }
    return TE_OK;
}

te_job_schemas_t *job_schemas_derive(const te_job_graph_t *g, te_error_t *err)
{
    size_t nv = job_graph_n_vertices(g), ne = job_graph_n_edges(g);
    te_job_schemas_t *js = calloc(1, sizeof(*js));
    if (js == NULL || (js->v = calloc(nv, sizeof(*js->v))) == NULL ||
        (js->edge = calloc(ne ? ne : 1, sizeof(*js->edge))) == NULL ||
        (js->keys = calloc(ne ? ne : 1, sizeof(*js->keys))) == NULL)
        goto nomem;
    js->g = g;
    const size_t *topo = job_graph_topo_order(g);
    for (size_t k = 0; k < nv; k++) {
        size_t v = topo[k];
        const te_job_vertex_t *vx = job_graph_vertex(g, v);
        plan_vertex_t *pv = &js->v[v];
        if ((pv->ops = calloc(vx->chain_len, sizeof(*pv->ops))) == NULL)
            goto nomem;
        pv->n_ops = vx->chain_len;
        if (plan_inputs(js, v, err) != TE_OK)
            goto fail;
        for (size_t i = 0; i < vx->chain_len; i++) {
            const te_schema_t *in[2] = {i ? pv->ops[i - 1].out : pv->in[0], i ? NULL : pv->in[1]};
            if (plan_op(g, vx, i, in, &pv->ops[i], err) != TE_OK)
                goto fail;
        }
    }
    return js;
nomem:
    te_error_set(err, TE_ENOMEM, "out of memory deriving the job's schemas");
fail:
    job_schemas_free(js);
    return NULL;
}

void job_schemas_free(te_job_schemas_t *js)
{
    if (js == NULL)
        return;
    for (size_t v = 0; js->v && v < job_graph_n_vertices(js->g); v++) {
        for (size_t i = 0; i < js->v[v].n_ops; i++) {
            plan_op_t *r = &js->v[v].ops[i];
            schema_free(r->out);
            for (size_t k = 0; k < r->n_sides; k++) {
                free(r->sides[k].tag);
                schema_free(r->sides[k].schema);
            }
            free(r->sides);
        }
        free(js->v[v].ops);
    }
    free(js->v);
    free(js->edge);
    free(js->keys);
    free(js);
}

const te_schema_t *job_schemas_op_output(const te_job_schemas_t *js, size_t v, size_t i)
{
    return v < job_graph_n_vertices(js->g) && i < js->v[v].n_ops ? js->v[v].ops[i].out : NULL;
}

const char *job_schemas_op_side(const te_job_schemas_t *js, size_t v, size_t i, size_t k,
                                const te_schema_t **schema)
{
    if (v >= job_graph_n_vertices(js->g) || i >= js->v[v].n_ops || k >= js->v[v].ops[i].n_sides)
        return NULL;
    if (schema)
        *schema = js->v[v].ops[i].sides[k].schema;
    return js->v[v].ops[i].sides[k].tag;
}

int job_schemas_op_reads(const te_job_schemas_t *js, size_t v, size_t i, int input, uint64_t *fields,
                         int *pass_through)
{
    if (v >= job_graph_n_vertices(js->g) || i >= js->v[v].n_ops || (input != 0 && input != 1))
        return 0;
    const plan_op_t *r = &js->v[v].ops[i];
    *fields = r->reads[input];
    *pass_through = input == 0 && r->pass_through;
    return r->declared[input];
}

const te_schema_t *job_schemas_edge(const te_job_schemas_t *js, size_t e)
{
    return e < job_graph_n_edges(js->g) ? js->edge[e] : NULL;
}

const te_row_key_t *job_schemas_edge_key(const te_job_schemas_t *js, size_t e)
{
    return e < job_graph_n_edges(js->g) ? &js->keys[e] : NULL;
}
