/*
 * Unit tests: the built-in operators, driven through the public operator ABI by a small
 * harness implementing te_operator_api_t (params from an array, emits appended to
 * in-memory lists). Outputs are compared with independent oracles (a hand-written
 * line splitter, coreutils `tr` for tokenize, a naive counter for keyed_count).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "te/operator.h"
#include "operators/operator_registry.h"
#include "state/state_backend.h"

#include "harness_rows.h"

/* ------------------------------------------------------------------ harness ---- */

#define H_MAX_PARAMS 16

struct te_operator_ctx {
    const char *keys[H_MAX_PARAMS];
    const char *vals[H_MAX_PARAMS];
    int nparams;
    uint32_t subtask, parallelism;
    const char *task_name;
    char fail_msg[1024];
    int nfail;
    char last_log[1024];
    int nlogs;
    uint64_t discarded;
    atomic_int cancelled;
    te_state_backend_t *state; /* ABI v2 keyed state; kept reachable in h_states */
    /* ABI v3: input schemas (NULL = text), what the operator declared */
    const te_schema_t *in_schema[2];
    te_schema_t *out;
    struct {
        char tag[32];
        te_schema_t *schema;
    } side[4];
    int n_side;
    int v3; /* the operator is ABI v3: the harness feeds rows and records their text */
};

/* The operator being driven (set by mk): emits of a v3 operator are recorded as the
 * text of their rows, in the schema it declared. */
static te_operator_ctx_t *h_cur;

typedef struct rec_list {
    char **data; /* copies, NUL-terminated */
    uint32_t *len;
    int64_t *ts;
    const uint8_t **ptr; /* the pointer the operator passed */
    char **tag;          /* side outputs only */
    size_t n, cap;
} rec_list_t;

struct te_output {
    rec_list_t main;
    rec_list_t side;
    int64_t last_watermark;
};

static void list_push(rec_list_t *l, const te_record_t *rec, const char *tag)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->data = realloc(l->data, l->cap * sizeof(*l->data));
        l->len = realloc(l->len, l->cap * sizeof(*l->len));
        l->ts = realloc(l->ts, l->cap * sizeof(*l->ts));
        l->ptr = realloc(l->ptr, l->cap * sizeof(*l->ptr));
        l->tag = realloc(l->tag, l->cap * sizeof(*l->tag));
    }
    char *c = malloc(rec->len + 1);
    if (rec->len)
        memcpy(c, rec->data, rec->len);
    c[rec->len] = '\0';
    l->data[l->n] = c;
    l->len[l->n] = rec->len;
    l->ts[l->n] = rec->timestamp;
    l->ptr[l->n] = rec->data;
    l->tag[l->n] = tag ? strdup(tag) : NULL;
    l->n++;
}

static void list_free(rec_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->data[i]);
        free(l->tag[i]);
    }
    free(l->data);
    free(l->len);
    free(l->ts);
    free(l->ptr);
    free(l->tag);
    memset(l, 0, sizeof(*l));
}

static void out_free(te_output_t *o)
{
    list_free(&o->main);
    list_free(&o->side);
}

static const char *h_param(te_operator_ctx_t *c, const char *key)
{
    for (int i = 0; i < c->nparams; i++)
        if (strcmp(c->keys[i], key) == 0)
            return c->vals[i];
    return NULL;
}

static void h_param_foreach(te_operator_ctx_t *c, void (*fn)(void *, const char *, const char *), void *arg)
{
    for (int i = 0; i < c->nparams; i++)
        fn(arg, c->keys[i], c->vals[i]);
}

static uint32_t h_subtask(te_operator_ctx_t *c) { return c->subtask; }
static uint32_t h_parallelism(te_operator_ctx_t *c) { return c->parallelism; }
static uint32_t h_max_parallelism(te_operator_ctx_t *c)
{
    (void)c;
    return 128;
}
static const char *h_task_name(te_operator_ctx_t *c) { return c->task_name; }

static const te_schema_t *h_out_schema(const te_operator_ctx_t *c, const char *tag)
{
    if (tag != NULL) {
        for (int i = 0; i < c->n_side; i++)
            if (strcmp(c->side[i].tag, tag) == 0)
                return c->side[i].schema;
        ck_abort_msg("emit to undeclared side output '%s'", tag);
    }
    return c->out ? c->out : c->in_schema[0] ? c->in_schema[0] : schema_text_line();
}

/* A v3 operator's row as text (with ptr = the pointer the operator passed). */
static void h_push(rec_list_t *l, const te_record_t *rec, const char *tag)
{
    if (h_cur == NULL || !h_cur->v3) {
        list_push(l, rec, tag);
        return;
    }
    const te_schema_t *sc = h_out_schema(h_cur, tag);
    char why[200];
    ck_assert_msg(te_row_check(rec, sc, why, sizeof(why)) == 0, "emitted row: %s", why);
    char *t = h_row_tsv(sc, rec);
    te_record_t tr = {(const uint8_t *)t, (uint32_t)strlen(t), rec->timestamp};
    list_push(l, &tr, tag);
    l->ptr[l->n - 1] = rec->data;
    free(t);
}

static int h_emit(te_output_t *o, const te_record_t *rec)
{
    h_push(&o->main, rec, NULL);
    return 0;
}

static int h_emit_side(te_output_t *o, const char *tag, const te_record_t *rec)
{
    h_push(&o->side, rec, tag);
    return 0;
}

static int h_emit_watermark(te_output_t *o, int64_t wm)
{
    o->last_watermark = wm;
    return 0;
}

static void h_fail(te_operator_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
    va_end(ap);
    c->nfail++;
}

static void h_log(te_operator_ctx_t *c, te_op_log_level_t level, const char *fmt, ...)
{
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_log, sizeof(c->last_log), fmt, ap);
    va_end(ap);
    c->nlogs++;
}

static int h_is_cancelled(te_operator_ctx_t *c) { return atomic_load(&c->cancelled); }

static void h_counter_add(te_operator_ctx_t *c, const char *name, uint64_t delta)
{
    if (strcmp(name, "numRecordsDiscarded") == 0)
        c->discarded += delta;
}

/* ABI v2: keyed state on the real hashmap backend (one per ctx, created on first put;
 * every backend is kept here and freed at exit, so re-initialised contexts do not leak). */
static te_state_backend_t *h_states[256];
static size_t h_n_states;

static void h_states_free(void)
{
    for (size_t i = 0; i < h_n_states; i++)
        state_backend_free(h_states[i]);
    h_n_states = 0;
}

static int h_state_get_ns(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                          const uint8_t **v, uint32_t *vl)
{
    return c->state ? state_backend_get(c->state, k, kl, ns, nl, v, vl) : 0;
}

static int h_state_put_ns(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                          const uint8_t *v, uint32_t vl)
{
    if (c->state == NULL) {
        ck_assert_uint_lt(h_n_states, 256);
        if (h_n_states == 0)
            atexit(h_states_free);
        c->state = h_states[h_n_states++] = state_backend_new("hashmap", 128, NULL);
    }
    return state_backend_put(c->state, k, kl, ns, nl, v, vl);
}

static int h_state_delete_ns(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl)
{
    return c->state ? state_backend_delete(c->state, k, kl, ns, nl) : 0;
}

static int h_state_get(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, const uint8_t **v, uint32_t *vl)
{
    return h_state_get_ns(c, k, kl, NULL, 0, v, vl);
}

static int h_state_put(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, const uint8_t *v, uint32_t vl)
{
    return h_state_put_ns(c, k, kl, NULL, 0, v, vl);
}

static int h_state_delete(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl)
{
    return h_state_delete_ns(c, k, kl, NULL, 0);
}

typedef struct h_visit {
    int (*fn)(void *, const uint8_t *, uint32_t, const uint8_t *, uint32_t);
    void *arg;
} h_visit_t;

static int h_visit_plain(void *arg, uint32_t kg, const uint8_t *k, uint32_t kl, const uint8_t *ns, uint32_t nl,
                         const uint8_t *v, uint32_t vl)
{
    (void)kg;
    (void)ns;
    h_visit_t *h = arg;
    return nl == 0 ? h->fn(h->arg, k, kl, v, vl) : 0;
}

static int h_state_foreach(te_operator_ctx_t *c,
                           int (*fn)(void *, const uint8_t *, uint32_t, const uint8_t *, uint32_t), void *arg)
{
    h_visit_t h = {fn, arg};
    return c->state ? state_backend_foreach(c->state, h_visit_plain, &h) : 0;
}

static int h_no_timer(te_operator_ctx_t *c, const uint8_t *k, uint32_t kl, int64_t ts)
{
    (void)c, (void)k, (void)kl, (void)ts;
    return -1; /* timers: see check_windows.c */
}

static int64_t h_current_watermark(te_operator_ctx_t *c)
{
    (void)c;
    return INT64_MIN;
}
static int64_t h_processing_time(te_operator_ctx_t *c)
{
    (void)c;
    return 0;
}
static void h_mark_idle(te_operator_ctx_t *c, int idle) { (void)c, (void)idle; }

static const te_schema_t *h_input_schema(te_operator_ctx_t *c, int input)
{
    if (input < 0 || input > 1)
        return NULL;
    return c->in_schema[input] ? c->in_schema[input] : input == 0 ? schema_text_line() : NULL;
}

static int h_set_output_schema(te_operator_ctx_t *c, const char *tag, const te_schema_t *sc, char *err,
                               size_t errlen)
{
    te_error_t e;
    if (schema_validate(sc, &e) != TE_OK) {
        snprintf(err, errlen, "%s", e.msg);
        return -1;
    }
    te_schema_t *d = h_keep(schema_dup(sc));
    if (tag == NULL) {
        c->out = d;
        return 0;
    }
    ck_assert_int_lt(c->n_side, 4);
    snprintf(c->side[c->n_side].tag, sizeof(c->side[c->n_side].tag), "%s", tag);
    c->side[c->n_side++].schema = d;
    return 0;
}

static const te_schema_t *h_parse_schema(te_operator_ctx_t *c, const char *spec, char *err, size_t errlen)
{
    (void)c;
    te_error_t e;
    te_schema_t *sc = schema_parse(spec, &e);
    if (sc == NULL) {
        snprintf(err, errlen, "%s", e.msg);
        return NULL;
    }
    return h_keep(sc);
}

/* A deployed job's ids (non-empty: the operator is not being planned). */
static const char *h_id(te_operator_ctx_t *c) { return (void)c, "0123456789abcdef0123456789abcdef"; }

static const te_operator_api_t api = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .param = h_param,
    .param_foreach = h_param_foreach,
    .subtask_index = h_subtask,
    .parallelism = h_parallelism,
    .max_parallelism = h_max_parallelism,
    .task_name = h_task_name,
    .emit = h_emit,
    .emit_side = h_emit_side,
    .emit_watermark = h_emit_watermark,
    .fail = h_fail,
    .log = h_log,
    .is_cancelled = h_is_cancelled,
    .counter_add = h_counter_add,
    .register_event_timer = h_no_timer,
    .register_processing_timer = h_no_timer,
    .current_watermark = h_current_watermark,
    .current_processing_time = h_processing_time,
    .state_get = h_state_get,
    .state_put = h_state_put,
    .state_delete = h_state_delete,
    .state_foreach = h_state_foreach,
    .state_get_ns = h_state_get_ns,
    .state_put_ns = h_state_put_ns,
    .state_delete_ns = h_state_delete_ns,
    .mark_idle = h_mark_idle,
    .input_schema = h_input_schema,
    .set_output_schema = h_set_output_schema,
    .parse_schema = h_parse_schema,
    .job_id = h_id,
    .vertex_id = h_id,
};

/* ctx_init(&c, subtask, parallelism, "key", "value", ..., NULL) */
static void ctx_init(te_operator_ctx_t *c, uint32_t subtask, uint32_t par, ...)
{
    memset(c, 0, sizeof(*c));
    c->subtask = subtask;
    c->parallelism = par;
    c->task_name = "test-task";
    atomic_init(&c->cancelled, 0);
    va_list ap;
    va_start(ap, par);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (k == NULL)
            break;
        ck_assert_int_lt(c->nparams, H_MAX_PARAMS);
        c->keys[c->nparams] = k;
        c->vals[c->nparams] = va_arg(ap, const char *);
        c->nparams++;
    }
    va_end(ap);
}

static const te_operator_def_t *def_of(const char *name)
{
    const te_operator_def_t *d = operator_registry_find(name);
    ck_assert_msg(d != NULL, "no operator %s", name);
    ck_assert_uint_eq(d->abi_version, TE_OPERATOR_ABI_VERSION); /* every built-in reads typed rows */
    return d;
}

/* Sets up and opens; asserts success. */
static void *mk(const te_operator_def_t *d, te_operator_ctx_t *c)
{
    char err[512] = "";
    h_cur = c;
    c->v3 = d->abi_version >= 3;
    void *self = d->setup(&api, c, err, sizeof(err));
    ck_assert_msg(self != NULL, "setup of %s failed: %s", d->name, err);
    if (d->open) {
        int rc = d->open(self, err, sizeof(err));
        ck_assert_msg(rc == 0, "open of %s failed: %s", d->name, err);
    }
    return self;
}

/* One record given as text: for a v3 operator the row of its input schema. Returns
 * process_element's result. */
static int feed_rc(const te_operator_def_t *d, void *self, const char *s, te_output_t *out)
{
    te_record_t rec = {(const uint8_t *)s, (uint32_t)strlen(s), 42};
    static te_row_builder_t b;
    if (d->abi_version >= 3)
        h_tsv_row(h_input_schema(h_cur, 0), s, strlen(s), 42, &b, &rec);
    return d->process_element(self, 0, &rec, out);
}

static void feed(const te_operator_def_t *d, void *self, const char *s, te_output_t *out)
{
    ck_assert_int_eq(feed_rc(d, self, s, out), 0);
}

static void finish(const te_operator_def_t *d, void *self, te_output_t *out)
{
    if (d->end_input)
        ck_assert_int_eq(d->end_input(self, out), 0);
    if (d->close)
        ck_assert_int_eq(d->close(self, out), 0);
    d->dispose(self);
}

static char tmpdir[256];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_operators.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
    b[sz] = '\0';
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* ------------------------------------------------------------------ registry ---- */

START_TEST(test_registry)
{
    static const char *names[] = {"file_lines", "sequence", "socket_text", "tokenize",  "filter", "select",
                                  "upper",      "lower",    "keyed_count", "file_sink", "print",  "discard"};
    char list[1024];
    operator_registry_names(list, sizeof(list));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const te_operator_def_t *d = def_of(names[i]);
        ck_assert_str_eq(d->name, names[i]);
        ck_assert_ptr_nonnull(d->setup);
        ck_assert_ptr_nonnull(d->dispose);
        if (d->kind == TE_OP_SOURCE)
            ck_assert_ptr_nonnull(d->blocking_source ? (void *)d->run : (void *)d->step);
        else
            ck_assert_ptr_nonnull(d->process_element);
        ck_assert_msg(strstr(list, names[i]) != NULL, "%s not in '%s'", names[i], list);
    }
    ck_assert_int_eq(def_of("socket_text")->blocking_source, 1);
    ck_assert_int_eq(def_of("sequence")->kind, TE_OP_SOURCE);
    ck_assert_int_eq(def_of("filter")->kind, TE_OP_ONE_INPUT);
    ck_assert_ptr_null(operator_registry_find("no_such_operator"));
    ck_assert_ptr_null(operator_registry_find(""));
    ck_assert_ptr_null(operator_registry_find(NULL));
    char small[8];
    operator_registry_names(small, sizeof(small));
    ck_assert_uint_lt(strlen(small), sizeof(small));
}
END_TEST

/* ------------------------------------------------------------ bad parameters ---- */

struct bad_case {
    const char *op;
    const char *kv[8];   /* key, value pairs, NULL-terminated */
    const char *want[3]; /* substrings the message must contain */
};

static const struct bad_case bad_cases[] = {
    {"max_by", {"key_field", "0"}, {"missing required parameter 'value_field'"}},
    {"max_by", {"value_field", "1", "emit", "sometimes"}, {"parameter 'emit' = 'sometimes' is not one of"}},
    {"nexmark", {"count", "10", "events", "trades"}, {"parameter 'events' = 'trades' is not one of"}},
    {"nexmark", {"rate", "5"}, {"missing required parameter 'count'"}},
    {"scale", {"field", "1", "factor", "lots"}, {"parameter 'factor' = 'lots' is not a number"}},
    {"scale", {"field", "1"}, {"missing required parameter 'factor'"}},
    {"socket_sink", {"host", "localhost", "port", "70000"}, {"'port'"}},
    {"sequence", {"to", "abc"}, {"operator 'sequence': parameter 'to' = 'abc' is not an integer"}},
    {"sequence", {"from", "1"}, {"operator 'sequence': missing required parameter 'to'"}},
    {"sequence", {"to", "10", "rate", "-1"}, {"parameter 'rate' = '-1' is out of range"}},
    {"sequence", {"to", "10", "from", "1x"}, {"parameter 'from' = '1x' is not an integer"}},
    {"sequence", {"to", "1", "from", "5"}, {"parameter 'to'", "less than 'from'"}},
    {"sequence", {"to", "1", "unbounded", "maybe"}, {"parameter 'unbounded' = 'maybe' is not a boolean"}},
    {"sequence", {"to", "10", "speed", "3"}, {"unknown parameter 'speed'", "allowed: from, to, rate"}},
    {"file_lines", {NULL}, {"operator 'file_lines': missing required parameter 'path'"}},
    {"file_lines", {"path", "/x", "pth", "y"}, {"unknown parameter 'pth'", "path"}},
    {"file_lines", {"path", "/x", "delimiter", "ab"}, {"parameter 'delimiter' = 'ab'", "single character"}},
    {"socket_text", {"port", "9"}, {"missing required parameter 'host'"}},
    {"socket_text", {"host", "localhost"}, {"missing required parameter 'port'"}},
    {"socket_text", {"host", "localhost", "port", "70000"}, {"parameter 'port' = '70000' is out of range"}},
    {"socket_text", {"host", "localhost", "port", "x"}, {"parameter 'port' = 'x' is not an integer"}},
    {"socket_text", {"host", "h", "port", "1", "max_retries", "-2"}, {"parameter 'max_retries' = '-2'"}},
    {"tokenize",
     {"bogus", "1"},
     {"operator 'tokenize': unknown parameter 'bogus'", "allowed: field, lowercase, delimiter"}},
    {"tokenize", {"lowercase", "perhaps"}, {"parameter 'lowercase' = 'perhaps'"}},
    {"tokenize", {"field", "-1"}, {"parameter 'field' = '-1': field -1 is past the last field"}},
    {"tokenize",
     {"field", "nope"},
     {"parameter 'field' = 'nope': no field of that name in the input schema (line:string)"}},
    {"scale",
     {"field", "f0", "factor", "2"},
     {"parameter 'field' = 'f0' is a string field; a number is needed", "(f0:string, f1:int64, f2:string)"}},
    {"filter",
     {"expr", "f1 > 'x'"},
     {"parameter 'expr': expression 'f1 > 'x'': column 4: '>' compares a int64 with a string"}},
    {"filter", {"expr", "f1 + 1"}, {"parameter 'expr' = 'f1 + 1' is a int64, not a condition"}},
    {"filter", {"expr", "f1 > 1", "cmp", "eq"}, {"parameter 'expr' cannot be combined with 'cmp'"}},
    {"map",
     {"exprs", "f1, nosuch * 2"},
     {"parameter 'exprs': expression 'f1, nosuch * 2': column 5: no field 'nosuch' in the input schema "
      "(f0:string, f1:int64, f2:string)"}},
    {"map", {"exprs", "f1, f1"}, {"two expressions are named 'f1'"}},
    {"map", {"exprs", "lower(f1)"}, {"lower: argument 1 needs a string, got a int64"}},
    {"parse",
     {"fields", "a:int64", "format", "yaml"},
     {"parameter 'format' = 'yaml' is not one of tsv, csv, json"}},
    {"parse",
     {"fields", "a:int64", "field", "f1"},
     {"parameter 'field' = 'f1' is a int64 field; a string is needed"}},
    {"filter", {"regex", "(ab"}, {"operator 'filter': parameter 'regex' = '(ab' is not a valid"}},
    {"filter", {"cmp", "zz", "value", "1"}, {"parameter 'cmp' = 'zz' is not one of"}},
    {"filter", {"cmp", "lt", "value", "abc"}, {"parameter 'value' = 'abc' is not a number"}},
    {"filter", {"cmp", "eq"}, {"missing required parameter 'value'"}},
    {"filter", {"field", "1"}, {"missing required parameter 'expr' (or 'cmp' + 'value', or 'regex')"}},
    {"filter", {"regex", "a", "cmp", "eq"}, {"'regex'", "'cmp'"}},
    {"filter", {"cmp", "multiple_of", "value", "0"}, {"parameter 'value' = '0' is not a positive integer"}},
    {"filter", {"cmp", "eq", "value", "1", "side", "x"}, {"unknown parameter 'side'", "side_output"}},
    {"select", {NULL}, {"operator 'select': missing required parameter 'fields'"}},
    {"select", {"fields", "1,x"}, {"parameter 'fields' = 'x': no field of that name"}},
    {"select", {"fields", "1,,2"}, {"parameter 'fields' = '1,,2' has an empty item"}},
    {"select", {"fields", "99999999"}, {"parameter 'fields'", "is past the last field of the input schema"}},
    {"upper", {"field", "abc"}, {"operator 'upper': parameter 'field' = 'abc': no field of that name"}},
    {"upper",
     {"field", "f1"},
     {"operator 'upper': parameter 'field' = 'f1' is a int64 field; a string is needed"}},
    {"lower", {"fields", "1"}, {"operator 'lower': unknown parameter 'fields'"}},
    {"keyed_count", {"emit", "sometimes"}, {"parameter 'emit' = 'sometimes' is not one of updates, final"}},
    {"keyed_count", {"key_field", "1.5"}, {"parameter 'key_field' = '1.5': no field of that name"}},
    {"keyed_count", {"key_field", "3"}, {"parameter 'key_field' = '3': field 3 is past the last field of"}},
    {"keyed_count", {"delimiter", ""}, {"parameter 'delimiter' = ''"}},
    {"keyed_sum", {"value_field", "f2", "key_field", "f0", "emit", "x"}, {"parameter 'emit' = 'x' is not one of"}},
    {"keyed_reduce", {"value_field", "f1", "fn", "avg"}, {"parameter 'fn' = 'avg' is not one of"}},
    {"max_by", {"value_field", "f1", "key_field", "nope"}, {"parameter 'key_field' = 'nope': no field of that"}},
    {"tumbling_window", {"size", "1s", "agg", "sum"}, {"missing required parameter 'value_field'"}},
    {"sliding_window", {"size", "1s"}, {"missing required parameter 'slide'"}},
    {"tumbling_window", {"size", "1s", "agg", "median", "value_field", "f1"}, {"'agg' = 'median' is not one"}},
    {"file_sink", {NULL}, {"operator 'file_sink': missing required parameter 'path'"}},
    {"file_sink", {"path", ""}, {"parameter 'path' is empty"}},
    {"print", {"prefix", "p", "level", "x"}, {"operator 'print': unknown parameter 'level'", "allowed: prefix"}},
    {"discard", {"x", "1"}, {"operator 'discard': unknown parameter 'x'"}},
};

START_TEST(test_bad_params)
{
    const struct bad_case *bc = &bad_cases[_i];
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, NULL);
    if (def_of(bc->op)->abi_version >= 3 && strcmp(bc->op, "tokenize") != 0)
        c.in_schema[0] = h_schema("f0:string, f1:int64, f2:string");
    for (int k = 0; bc->kv[k]; k += 2) {
        c.keys[c.nparams] = bc->kv[k];
        c.vals[c.nparams] = bc->kv[k + 1];
        c.nparams++;
    }
    char err[512] = "";
    const te_operator_def_t *d = def_of(bc->op);
    void *self = d->setup(&api, &c, err, sizeof(err));
    ck_assert_msg(self == NULL, "case %d (%s): setup accepted bad params", _i, bc->op);
    for (int w = 0; w < 3 && bc->want[w]; w++)
        ck_assert_msg(strstr(err, bc->want[w]) != NULL, "case %d: '%s' not in '%s'", _i, bc->want[w], err);
}
END_TEST

START_TEST(test_delimiter_escapes)
{
    /* "\\t" (backslash, t) means tab; a literal character works too. */
    const char *forms[][2] = {{"\\t", "a\tb"}, {"\t", "a\tb"}, {",", "a,b"}, {"\\n", "a\nb"}};
    for (size_t i = 0; i < 4; i++) {
        te_operator_ctx_t c;
        ctx_init(&c, 0, 1, "fields", "x:string, y:string", "delimiter", forms[i][0], NULL);
        const te_operator_def_t *d = def_of("parse");
        void *self = mk(d, &c);
        te_output_t out = {0};
        feed(d, self, forms[i][1], &out);
        ck_assert_uint_eq(out.main.n, 1);
        ck_assert_str_eq(out.main.data[0], "a\tb");
        finish(d, self, &out);
        out_free(&out);
    }
}
END_TEST

/* ---------------------------------------------------------------- file_lines ---- */

/* Independent oracle: the lines of a buffer, as the documented rule says. */
static size_t oracle_lines(const char *buf, size_t n, char ***lines)
{
    size_t count = 0, cap = 16;
    char **v = malloc(cap * sizeof(*v));
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && buf[j] != '\n')
            j++;
        size_t len = j - i;
        if (len > 0 && buf[i + len - 1] == '\r')
            len--;
        if (count == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof(*v));
        }
        v[count] = strndup(buf + i, len);
        count++;
        i = j + 1; /* past the '\n' (or past the end) */
    }
    *lines = v;
    return count;
}

static void check_file_lines(const char *content, size_t n, uint32_t budget)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/in.txt", tmpdir);
    write_file(path, content, n);
    char **want;
    size_t nwant = oracle_lines(content, n, &want);
    const te_operator_def_t *d = def_of("file_lines");
    for (uint32_t p = 1; p <= 4; p++) {
        te_output_t out = {0};
        for (uint32_t i = 0; i < p; i++) {
            te_operator_ctx_t c;
            ctx_init(&c, i, p, "path", path, NULL);
            void *self = mk(d, &c);
            te_source_status_t st;
            int steps = 0;
            do {
                uint32_t idle = 0;
                st = d->step(self, &out, budget, &idle);
                ck_assert_int_ne(st, TE_SOURCE_ERROR);
                ck_assert_int_lt(++steps, 10000000);
            } while (st != TE_SOURCE_END);
            finish(d, self, &out);
        }
        ck_assert_msg(out.main.n == nwant, "p=%u size=%zu: %zu lines, want %zu", p, n, out.main.n, nwant);
        for (size_t k = 0; k < nwant; k++) {
            ck_assert_msg(strcmp(out.main.data[k], want[k]) == 0, "p=%u line %zu differs", p, k);
            ck_assert(out.main.ts[k] == TE_NO_TIMESTAMP);
        }
        out_free(&out);
    }
    for (size_t k = 0; k < nwant; k++)
        free(want[k]);
    free(want);
}

START_TEST(test_file_lines_split)
{
    make_tmpdir();
    const char *fixed[] = {
        "alpha\nbeta\n\ngamma\n", /* empty line inside */
        "a\nb\n\n",               /* empty last line */
        "x\nyy\nzzz",             /* no trailing newline */
        "",                       /* empty file */
        "\n",
        "\n\n\n",
        "one line no newline",
        "crlf\r\nline two\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        for (uint32_t budget = 1; budget <= 1000; budget *= 10)
            check_file_lines(fixed[i], strlen(fixed[i]), budget);

    /* Random lines, some longer than the reader's buffer. */
    srand(7);
    size_t cap = 2 * 1024 * 1024, n = 0;
    char *big = malloc(cap);
    for (int line = 0; line < 5000; line++) {
        size_t len = (size_t)(rand() % 90);
        if (line == 1234 || line == 4000)
            len = 300000;
        for (size_t k = 0; k < len; k++)
            big[n++] = (char)('a' + rand() % 26);
        if (rand() % 10 == 0)
            big[n++] = '\r';
        big[n++] = '\n';
    }
    check_file_lines(big, n, 100);
    check_file_lines(big, n - 1, 1000); /* without the final newline */
    free(big);
    remove_tmpdir();
}
END_TEST

START_TEST(test_file_lines_errors)
{
    const te_operator_def_t *d = def_of("file_lines");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "path", "/nonexistent/dir/file.txt", NULL);
    char err[512] = "";
    /* at deployment (a job id is set): refused by setup, naming the path */
    ck_assert_ptr_null(d->setup(&api, &c, err, sizeof(err)));
    ck_assert_msg(strstr(err, "/nonexistent/dir/file.txt") != NULL, "%s", err);
}
END_TEST

START_TEST(test_file_lines_snapshot)
{
    make_tmpdir();
    char path[300];
    snprintf(path, sizeof(path), "%s/snap.txt", tmpdir);
    write_file(path, "l0\nl1\nl2\nl3\nl4\n", 15);
    const te_operator_def_t *d = def_of("file_lines");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "path", path, NULL);
    te_output_t out = {0};
    void *a = mk(d, &c);
    uint32_t idle;
    ck_assert_int_eq(d->step(a, &out, 2, &idle), TE_SOURCE_MORE);
    uint8_t *snap;
    size_t snaplen;
    ck_assert_int_eq(d->snapshot(a, 1, &snap, &snaplen), 0);
    finish(d, a, &out);
    char err[256];
    void *b = d->setup(&api, &c, err, sizeof(err));
    ck_assert_int_eq(d->restore(b, snap, snaplen), 0);
    free(snap);
    ck_assert_int_eq(d->open(b, err, sizeof(err)), 0);
    while (d->step(b, &out, 10, &idle) != TE_SOURCE_END)
        ;
    finish(d, b, &out);
    ck_assert_uint_eq(out.main.n, 5);
    for (int i = 0; i < 5; i++) {
        char want[16];
        snprintf(want, sizeof(want), "l%d", i);
        ck_assert_str_eq(out.main.data[i], want);
    }
    out_free(&out);

    /* A snapshot taken before the first step of subtask 1 of 2 (still inside a line of
     * subtask 0) restores to the same lines. */
    ctx_init(&c, 1, 2, "path", path, NULL);
    a = mk(d, &c);
    ck_assert_int_eq(d->snapshot(a, 2, &snap, &snaplen), 0);
    d->dispose(a);
    b = d->setup(&api, &c, err, sizeof(err));
    ck_assert_int_eq(d->restore(b, snap, snaplen), 0);
    free(snap);
    ck_assert_int_eq(d->open(b, err, sizeof(err)), 0);
    while (d->step(b, &out, 10, &idle) != TE_SOURCE_END)
        ;
    finish(d, b, &out);
    ck_assert_uint_eq(out.main.n, 2); /* bytes [7,15): lines starting at 9 and 12 */
    ck_assert_str_eq(out.main.data[0], "l3");
    ck_assert_str_eq(out.main.data[1], "l4");
    out_free(&out);
    remove_tmpdir();
}
END_TEST

/* ------------------------------------------------------------------ sequence ---- */

START_TEST(test_sequence)
{
    const te_operator_def_t *d = def_of("sequence");
    for (uint32_t p = 1; p <= 4; p++) {
        int seen[100] = {0};
        size_t total = 0;
        for (uint32_t i = 0; i < p; i++) {
            te_operator_ctx_t c;
            ctx_init(&c, i, p, "from", "5", "to", "27", NULL);
            te_output_t out = {0};
            void *self = mk(d, &c);
            uint32_t idle;
            while (d->step(self, &out, 3, &idle) != TE_SOURCE_END)
                ;
            ck_assert_int_eq(d->step(self, &out, 3, &idle), TE_SOURCE_END);
            finish(d, self, &out);
            for (size_t k = 0; k < out.main.n; k++) {
                int v = atoi(out.main.data[k]);
                ck_assert_int_ge(v, 5);
                ck_assert_int_le(v, 27);
                ck_assert_int_eq((v - 5) % (int)p, (int)i); /* subtask i emits from+i, from+i+p... */
                if (k > 0)
                    ck_assert_int_eq(v, atoi(out.main.data[k - 1]) + (int)p);
                seen[v]++;
            }
            total += out.main.n;
            out_free(&out);
        }
        ck_assert_uint_eq(total, 23);
        for (int v = 5; v <= 27; v++)
            ck_assert_int_eq(seen[v], 1);
    }
}
END_TEST

START_TEST(test_sequence_edges)
{
    const te_operator_def_t *d = def_of("sequence");
    uint32_t idle = 0;
    /* More subtasks than values: the last ones emit nothing. */
    te_operator_ctx_t c;
    ctx_init(&c, 3, 4, "from", "0", "to", "1", NULL);
    te_output_t out = {0};
    void *self = mk(d, &c);
    ck_assert_int_eq(d->step(self, &out, 10, &idle), TE_SOURCE_END);
    ck_assert_uint_eq(out.main.n, 0);
    finish(d, self, &out);

    /* Near INT64_MAX: no overflow. */
    ctx_init(&c, 0, 1, "from", "9223372036854775805", "to", "9223372036854775807", NULL);
    self = mk(d, &c);
    while (d->step(self, &out, 10, &idle) != TE_SOURCE_END)
        ;
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[2], "9223372036854775807");
    out_free(&out);

    /* Unbounded: no `to` needed; keeps going. */
    ctx_init(&c, 0, 1, "unbounded", "true", "from", "-2", NULL);
    self = mk(d, &c);
    ck_assert_int_eq(d->step(self, &out, 100, &idle), TE_SOURCE_MORE);
    ck_assert_uint_eq(out.main.n, 100);
    ck_assert_str_eq(out.main.data[0], "-2");
    ck_assert_str_eq(out.main.data[99], "97");
    finish(d, self, &out);
    out_free(&out);

    /* Rate-limited: after the allowed record the source reports IDLE with a wait. */
    ctx_init(&c, 0, 1, "to", "1000", "rate", "1", NULL);
    self = mk(d, &c);
    ck_assert_int_eq(d->step(self, &out, 100, &idle), TE_SOURCE_MORE);
    ck_assert_uint_eq(out.main.n, 1);
    idle = 0;
    ck_assert_int_eq(d->step(self, &out, 100, &idle), TE_SOURCE_IDLE);
    ck_assert_uint_gt(idle, 0);
    ck_assert_uint_le(idle, 1000);
    finish(d, self, &out);
    out_free(&out);
}
END_TEST

START_TEST(test_sequence_snapshot)
{
    const te_operator_def_t *d = def_of("sequence");
    te_operator_ctx_t c;
    ctx_init(&c, 1, 2, "from", "0", "to", "20", NULL);
    te_output_t out = {0};
    void *a = mk(d, &c);
    uint32_t idle;
    d->step(a, &out, 4, &idle); /* 1 3 5 7 */
    uint8_t *snap;
    size_t len;
    ck_assert_int_eq(d->snapshot(a, 7, &snap, &len), 0);
    finish(d, a, &out);
    void *b = mk(d, &c);
    ck_assert_int_eq(d->restore(b, snap, len), 0);
    ck_assert_int_ne(d->restore(b, snap, len - 1), 0);
    free(snap);
    while (d->step(b, &out, 100, &idle) != TE_SOURCE_END)
        ;
    finish(d, b, &out);
    ck_assert_uint_eq(out.main.n, 10);
    for (int k = 0; k < 10; k++)
        ck_assert_int_eq(atoi(out.main.data[k]), 2 * k + 1);
    out_free(&out);
}
END_TEST

/* ------------------------------------------------------------------ tokenize ---- */

static const char *tok_sample[] = {
    "Hello, World! It's 2024: foo_bar BAZ42qux",
    "   leading and trailing   ",
    "",
    "123 456 !!!",
    "MiXeD-CaSe--words\tand\ttabs\xc3\xa9t\xc3\xa9 caf\xc3\xa9",
    "a",
    "x1y2z3",
};

START_TEST(test_tokenize_vs_tr)
{
    /* Oracle: coreutils, exactly the documented rule. */
    char *words = NULL;
    size_t wlen = 0;
    {
        char inpath[] = "/tmp/check_tok.XXXXXX";
        int fd = mkstemp(inpath);
        ck_assert_int_ge(fd, 0);
        FILE *f = fdopen(fd, "w");
        for (size_t i = 0; i < sizeof(tok_sample) / sizeof(tok_sample[0]); i++)
            fprintf(f, "%s\n", tok_sample[i]);
        fclose(f);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "LC_ALL=C tr -cs 'A-Za-z' '\\n' < %s | LC_ALL=C tr A-Z a-z", inpath);
        FILE *p = popen(cmd, "r");
        ck_assert_ptr_nonnull(p);
        FILE *m = open_memstream(&words, &wlen);
        int ch;
        while ((ch = fgetc(p)) != EOF)
            fputc(ch, m);
        fclose(m);
        ck_assert_int_eq(pclose(p), 0);
        unlink(inpath);
    }
    /* Concatenate our words one per line and compare (ignoring tr's empty lines). */
    const te_operator_def_t *d = def_of("tokenize");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    for (size_t i = 0; i < sizeof(tok_sample) / sizeof(tok_sample[0]); i++)
        feed(d, self, tok_sample[i], &out);
    finish(d, self, &out);
    size_t k = 0;
    char *save = NULL;
    for (char *w = strtok_r(words, "\n", &save); w; w = strtok_r(NULL, "\n", &save)) {
        ck_assert_msg(k < out.main.n, "missing word '%s'", w);
        ck_assert_str_eq(out.main.data[k], w);
        ck_assert(out.main.ts[k] == 42);
        k++;
    }
    ck_assert_uint_eq(k, out.main.n);
    ck_assert_str_eq(out.main.data[0], "hello");
    ck_assert_str_eq(out.main.data[3], "s");
    free(words);
    out_free(&out);
}
END_TEST

START_TEST(test_tokenize_options)
{
    const te_operator_def_t *d = def_of("tokenize");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "field", "text", "lowercase", "false", NULL);
    c.in_schema[0] = h_schema("ign:string, text:string?, more:string");
    void *self = mk(d, &c);
    te_output_t out = {0};
    feed(d, self, "IGNORED words\tKeep THIS-one\tnot this", &out);
    feed(d, self, "no\t\tsecond field", &out); /* a null field: no words */
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "Keep");
    ck_assert_str_eq(out.main.data[1], "THIS");
    ck_assert_str_eq(out.main.data[2], "one");
    out_free(&out);

    /* a row of one string field needs no `field` */
    ctx_init(&c, 0, 1, NULL);
    self = mk(d, &c);
    feed(d, self, "already lower, Not", &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "already");
    ck_assert_str_eq(out.main.data[2], "not");
    finish(d, self, &out);
    out_free(&out);
}
END_TEST

/* -------------------------------------------------------------------- filter ---- */

/* Rows (k:string, v:string?): the legacy forms compare v's text, or the row's. */
static void run_filter(te_operator_ctx_t *c, const char *const *in, size_t n, te_output_t *out)
{
    const te_operator_def_t *d = def_of("filter");
    if (c->in_schema[0] == NULL)
        c->in_schema[0] = h_schema("k:string, v:string?");
    void *self = mk(d, c);
    for (size_t i = 0; i < n; i++)
        feed(d, self, in[i], out);
    finish(d, self, out);
}

START_TEST(test_filter)
{
    static const char *in[] = {"a\t5", "b\t12", "c\tx", "d", "ab\t5.5", "abc\t-3"};
    te_operator_ctx_t c;
    te_output_t out = {0};

    ctx_init(&c, 0, 1, "field", "1", "cmp", "lt", "value", "10", "side_output", "rejects", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "a\t5");
    ck_assert_str_eq(out.main.data[1], "ab\t5.5");
    ck_assert_str_eq(out.main.data[2], "abc\t-3");
    ck_assert(out.main.ts[0] == 42);
    ck_assert_uint_eq(out.side.n, 3); /* 12, the non-number, the record without the field */
    ck_assert_str_eq(out.side.tag[0], "rejects");
    ck_assert_str_eq(out.side.data[0], "b\t12");
    ck_assert_str_eq(out.side.data[2], "d\t");
    out_free(&out);

    /* expr: typed, three-valued (a null v is not TRUE) */
    ctx_init(&c, 0, 1, "expr", "v % 3 = 0 OR k LIKE 'a%'", "side_output", "no", NULL);
    c.in_schema[0] = h_schema("k:string, v:int64?");
    static const char *nums[] = {"x\t9", "y\t10", "z\t", "ab\t1", "q\t-3"};
    run_filter(&c, nums, 5, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "x\t9");
    ck_assert_str_eq(out.main.data[1], "ab\t1");
    ck_assert_str_eq(out.main.data[2], "q\t-3");
    ck_assert_uint_eq(out.side.n, 2);
    ck_assert_str_eq(out.side.data[1], "z\t");
    out_free(&out);

    ctx_init(&c, 0, 1, "field", "1", "cmp", "ge", "value", "5.5", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 2);
    ck_assert_str_eq(out.main.data[0], "b\t12");
    ck_assert_uint_eq(out.side.n, 0); /* no side_output: dropped */
    out_free(&out);

    ctx_init(&c, 0, 1, "field", "0", "cmp", "eq", "value", "ab", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 1);
    ck_assert_str_eq(out.main.data[0], "ab\t5.5");
    out_free(&out);

    ctx_init(&c, 0, 1, "field", "0", "cmp", "ne", "value", "ab", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 5);
    out_free(&out);

    ctx_init(&c, 0, 1, "field", "1", "cmp", "multiple_of", "value", "3", NULL); /* 12 and -3; not 5.5 */
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 2);
    ck_assert_str_eq(out.main.data[0], "b\t12");
    ck_assert_str_eq(out.main.data[1], "abc\t-3");
    out_free(&out);

    ctx_init(&c, 0, 1, "cmp", "contains", "value", "b", NULL); /* whole record */
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 3);
    out_free(&out);

    ctx_init(&c, 0, 1, "regex", "^a.*[0-9]$", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 3); /* a\t5, ab\t5.5, abc\t-3 */
    out_free(&out);

    ctx_init(&c, 0, 1, "regex", "^(b|c)$", "field", "0", "side_output", "s", NULL);
    run_filter(&c, in, 6, &out);
    ck_assert_uint_eq(out.main.n, 2);
    ck_assert_str_eq(out.main.data[1], "c\tx");
    ck_assert_uint_eq(out.side.n, 4);
    out_free(&out);
}
END_TEST

/* parse: unparsable records go to the side output with a reason naming the field. */
START_TEST(test_parse_side_output)
{
    const te_operator_def_t *d = def_of("parse");
    te_operator_ctx_t c;
    te_output_t out = {0};
    ctx_init(&c, 0, 1, "fields", "a:int64, b:timestamp", NULL);
    void *self = mk(d, &c);
    feed(d, self, "5\t1700000000000", &out);
    feed(d, self, "5\tnoon", &out);
    feed(d, self, "5", &out);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 1);
    ck_assert_str_eq(out.main.data[0], "5\t1700000000000");
    ck_assert_uint_eq(out.side.n, 2);
    ck_assert_str_eq(out.side.tag[0], "unparsable");
    ck_assert_str_eq(out.side.data[0], "5\tnoon\tfield 1 (b): 'noon' is not a timestamp");
    ck_assert_str_eq(out.side.data[1], "5\t1 values, expected 2");
    ck_assert_int_eq(out.side.ts[0], 42);
    out_free(&out);
}
END_TEST

/* ----------------------------------------------------------------------- map ---- */

START_TEST(test_select_upper_lower)
{
    te_operator_ctx_t c;
    te_output_t out = {0};
    const te_operator_def_t *d = def_of("select");
    ctx_init(&c, 0, 1, "fields", "2,a", NULL);
    c.in_schema[0] = h_schema("a:string, b:int64, c:double?");
    void *self = mk(d, &c);
    feed(d, self, "a\t1\t2.5", &out);
    feed(d, self, "only\t2\t", &out);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 2);
    ck_assert_str_eq(out.main.data[0], "2.5\ta");
    ck_assert_str_eq(out.main.data[1], "\tonly"); /* null -> empty */
    ck_assert(out.main.ts[0] == 42);
    char sb[128];
    ck_assert_str_eq(te_schema_format(c.out, sb, sizeof(sb)), "(c:double?, a:string)");
    out_free(&out);

    /* a string copied twice past the builder's first buffer; rows whose fixed part
     * does not match the schema, or whose string points outside the row, read as
     * nulls (checked path and fast path agree) */
    ctx_init(&c, 0, 1, "fields", "a,b,a,a", NULL);
    c.in_schema[0] = h_schema("a:string?, b:int64?, c:double?");
    self = mk(d, &c);
    static char big[700];
    memset(big, 'z', sizeof(big) - 1);
    char line[800];
    snprintf(line, sizeof(line), "%s\t7\t1", big);
    feed(d, self, line, &out);
    char want[2200];
    snprintf(want, sizeof(want), "%s\t7\t%s\t%s", big, big, big);
    ck_assert_str_eq(out.main.data[0], want);
    uint8_t bad[8 + 8 * 3] = {3};
    uint64_t slot = (uint64_t)40 | (uint64_t)1000 << 32; /* a's bytes past the end */
    memcpy(bad + 8, &slot, 8);
    bad[16] = 5; /* b = 5 */
    te_record_t r1 = {bad, sizeof(bad), 1};
    ck_assert_int_eq(d->process_element(self, 0, &r1, &out), 0);
    te_record_t r2 = {bad, 12, 2}; /* the fixed part cut short */
    ck_assert_int_eq(d->process_element(self, 0, &r2, &out), 0);
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[1], "\t5\t\t");
    ck_assert_str_eq(out.main.data[2], "\t\t\t");
    out_free(&out);

    /* map: expressions */
    d = def_of("map");
    ctx_init(&c, 0, 1, "exprs", "b * 2 AS b2, upper(a) || '!', CASE WHEN c IS NULL THEN -1.0 ELSE c END AS c",
             NULL);
    c.in_schema[0] = h_schema("a:string, b:int64, c:double?");
    self = mk(d, &c);
    feed(d, self, "x\t21\t0.5", &out);
    feed(d, self, "y\t-3\t", &out);
    finish(d, self, &out);
    ck_assert_str_eq(te_schema_format(c.out, sb, sizeof(sb)), "(b2:int64, expr1:string, c:double?)");
    ck_assert_str_eq(out.main.data[0], "42\tX!\t0.5");
    ck_assert_str_eq(out.main.data[1], "-6\tY!\t-1");
    out_free(&out);

    d = def_of("upper");
    ctx_init(&c, 0, 1, NULL);
    self = mk(d, &c);
    feed(d, self, "Hello, wOrld 42 \xc3\xa9", &out);
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[0], "HELLO, WORLD 42 \xc3\xa9");
    out_free(&out);

    ctx_init(&c, 0, 1, "field", "1", NULL);
    c.in_schema[0] = h_schema("k:string, v:string?, w:string");
    self = mk(d, &c);
    feed(d, self, "keep\tup\tkeep", &out);
    feed(d, self, "keep\t\tkeep", &out);
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[0], "keep\tUP\tkeep");
    ck_assert_str_eq(out.main.data[1], "keep\t\tkeep");
    out_free(&out);

    d = def_of("lower");
    ctx_init(&c, 0, 1, NULL); /* every string field */
    c.in_schema[0] = h_schema("a:string, n:int64, b:string");
    self = mk(d, &c);
    feed(d, self, "ABC\t7\tDeF", &out);
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[0], "abc\t7\tdef");
    out_free(&out);
}
END_TEST

/* --------------------------------------------------------------- keyed_count ---- */

START_TEST(test_keyed_count_updates)
{
    const te_operator_def_t *d = def_of("keyed_count");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    feed(d, self, "a", &out);
    feed(d, self, "b", &out);
    feed(d, self, "a", &out);
    feed(d, self, "", &out);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 4);
    ck_assert_str_eq(out.main.data[0], "a\t1");
    ck_assert_str_eq(out.main.data[1], "b\t1");
    ck_assert_str_eq(out.main.data[2], "a\t2");
    ck_assert_str_eq(out.main.data[3], "\t1");
    out_free(&out);

    /* typed: by an int64 field named in key_field; the output keeps its type */
    ctx_init(&c, 0, 1, "key_field", "n", NULL);
    c.in_schema[0] = h_schema("s:string, n:int64");
    self = mk(d, &c);
    feed(d, self, "x\t-5", &out);
    feed(d, self, "y\t7", &out);
    feed(d, self, "z\t-5", &out);
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[2], "-5\t2");
    char sb[128];
    ck_assert_str_eq(te_schema_format(c.out, sb, sizeof(sb)), "(n:int64, count:int64)");
    out_free(&out);
}
END_TEST

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

START_TEST(test_keyed_count_final)
{
    /* Independent oracle: sort the keys and count runs. */
    enum { N = 20000 };
    static char keys[N][16];
    char *sorted[N];
    srand(11);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", rand() % 3000);
        sorted[i] = keys[i];
    }
    qsort(sorted, N, sizeof(sorted[0]), cmp_str);

    const te_operator_def_t *d = def_of("keyed_count");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "emit", "final", NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    for (int i = 0; i < N / 2; i++)
        feed(d, self, keys[i], &out);
    ck_assert_uint_eq(out.main.n, 0);
    /* No copy of its own: the engine snapshots the keyed state (check_operator_restore);
     * the KCN1 section of older snapshots is checked and skipped. */
    ck_assert_ptr_null(d->snapshot);
    static const uint8_t kcn1[] = {'K', 'C', 'N', '1', 1,   0, 0, 0, 0, 0, 0, 0, 2,
                                   0,   0,   0,   'a', 'b', 5, 0, 0, 0, 0, 0, 0, 0};
    ck_assert_int_eq(d->restore(self, kcn1, sizeof(kcn1)), 0);
    ck_assert_int_eq(d->restore(self, kcn1, sizeof(kcn1) - 1), -1);
    ck_assert_int_eq(d->restore(self, kcn1 + 1, sizeof(kcn1) - 1), -1);
    for (int i = N / 2; i < N; i++)
        feed(d, self, keys[i], &out);
    finish(d, self, &out);

    size_t k = 0;
    for (int i = 0; i < N;) {
        int j = i;
        while (j < N && strcmp(sorted[j], sorted[i]) == 0)
            j++;
        char want[64];
        snprintf(want, sizeof(want), "%s\t%d", sorted[i], j - i);
        ck_assert_msg(k < out.main.n, "missing %s", want);
        ck_assert_str_eq(out.main.data[k], want);
        k++;
        i = j;
    }
    ck_assert_uint_eq(k, out.main.n);
    out_free(&out);
}
END_TEST

/* ------------------------------------------------------------------- sinks ---- */

START_TEST(test_file_sink)
{
    make_tmpdir();
    const te_operator_def_t *d = def_of("file_sink");
    char path[300];
    /* parallelism 1: exactly `path`; includes a record larger than the buffer. */
    snprintf(path, sizeof(path), "%s/out.txt", tmpdir);
    size_t biglen = 300000;
    char *big = malloc(biglen + 1);
    memset(big, 'q', biglen);
    big[biglen] = '\0';
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "path", path, NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    char *expect = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&expect, &elen);
    for (int i = 0; i < 50000; i++) {
        char rec[32];
        snprintf(rec, sizeof(rec), "record %d", i);
        feed(d, self, rec, &out);
        fprintf(m, "%s\n", rec);
        if (i == 20000) {
            feed(d, self, big, &out);
            fprintf(m, "%s\n", big);
        }
    }
    feed(d, self, "", &out);
    fprintf(m, "\n");
    fclose(m);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 0);
    size_t n;
    char *got = read_file(path, &n);
    ck_assert_uint_eq(n, elen);
    ck_assert(memcmp(got, expect, n) == 0);
    free(got);
    free(expect);
    free(big);

    /* parallelism 2 with {subtask}, and without it (".<i>" appended). */
    snprintf(path, sizeof(path), "%s/part-{subtask}.txt", tmpdir);
    ctx_init(&c, 1, 2, "path", path, NULL);
    self = mk(d, &c);
    feed(d, self, "x", &out);
    finish(d, self, &out);
    snprintf(path, sizeof(path), "%s/part-1.txt", tmpdir);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "x\n");
    free(got);

    snprintf(path, sizeof(path), "%s/plain", tmpdir);
    ctx_init(&c, 1, 3, "path", path, NULL);
    self = mk(d, &c);
    feed(d, self, "y", &out);
    finish(d, self, &out);
    snprintf(path, sizeof(path), "%s/plain.1", tmpdir);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "y\n");
    free(got);

    /* Missing parent directories are created. */
    snprintf(path, sizeof(path), "%s/new/deeper/out", tmpdir);
    ctx_init(&c, 0, 1, "path", path, NULL);
    self = mk(d, &c);
    feed(d, self, "z", &out);
    finish(d, self, &out);
    got = read_file(path, &n);
    ck_assert_str_eq(got, "z\n");
    free(got);

    /* Open error names the path: a parent that is a file, not a directory. */
    snprintf(path, sizeof(path), "%s/plain.1/out", tmpdir);
    ctx_init(&c, 0, 1, "path", path, NULL);
    char err[512] = "";
    self = d->setup(&api, &c, err, sizeof(err));
    ck_assert_ptr_nonnull(self);
    ck_assert_int_ne(d->open(self, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, path) != NULL, "%s", err);
    d->dispose(self);
    snprintf(path, sizeof(path), "%s/new/deeper/out", tmpdir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/new/deeper", tmpdir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/new", tmpdir);
    rmdir(path);
    remove_tmpdir();
}
END_TEST

START_TEST(test_print_discard)
{
    const te_operator_def_t *d = def_of("print");
    te_operator_ctx_t c;
    te_output_t out = {0};
    ctx_init(&c, 0, 1, NULL);
    void *self = mk(d, &c);
    feed(d, self, "hello", &out);
    finish(d, self, &out);
    ck_assert_int_eq(c.nlogs, 1);
    ck_assert_str_eq(c.last_log, "test-task> hello");
    ck_assert_uint_eq(out.main.n, 0);

    ctx_init(&c, 2, 4, "prefix", "wc", NULL);
    self = mk(d, &c);
    feed(d, self, "a", &out);
    feed(d, self, "b", &out);
    finish(d, self, &out);
    ck_assert_int_eq(c.nlogs, 2);
    ck_assert_str_eq(c.last_log, "wc:3> b");

    d = def_of("discard");
    ctx_init(&c, 0, 1, NULL);
    self = mk(d, &c);
    for (int i = 0; i < 10001; i++)
        feed(d, self, "r", &out);
    finish(d, self, &out);
    ck_assert_uint_eq(c.discarded, 10001);
    ck_assert_uint_eq(out.main.n, 0);
}
END_TEST

/* ------------------------------------------------------------- socket_text ---- */

struct server {
    int lfd;
    int port;
    const char *payload; /* NULL = stay silent until `release` */
    atomic_int release;
};

static void server_listen(struct server *s)
{
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    socklen_t l = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &l);
    s->port = ntohs(a.sin_port);
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (s->payload) {
        /* Write in small pieces so records span reads. */
        size_t n = strlen(s->payload);
        for (size_t off = 0; off < n; off += 3) {
            size_t k = n - off < 3 ? n - off : 3;
            if (write(fd, s->payload + off, k) < 0)
                break;
            usleep(1000);
        }
    } else {
        while (!atomic_load(&s->release))
            usleep(10000);
    }
    close(fd);
    return NULL;
}

START_TEST(test_socket_text_reads_lines)
{
    struct server s = {0};
    s.payload = "line one\nline two\r\n\nlast without newline";
    server_listen(&s);
    pthread_t th;
    pthread_create(&th, NULL, server_main, &s);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    const te_operator_def_t *d = def_of("socket_text");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "host", "127.0.0.1", "port", port, NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    ck_assert_int_eq(d->run(self, &out), TE_SOURCE_END);
    pthread_join(th, NULL);
    close(s.lfd);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 4);
    ck_assert_str_eq(out.main.data[0], "line one");
    ck_assert_str_eq(out.main.data[1], "line two");
    ck_assert_str_eq(out.main.data[2], "");
    ck_assert_str_eq(out.main.data[3], "last without newline");
    out_free(&out);

    /* Another delimiter. */
    s.payload = "a;bb;ccc;";
    server_listen(&s);
    pthread_create(&th, NULL, server_main, &s);
    snprintf(port, sizeof(port), "%d", s.port);
    ctx_init(&c, 0, 1, "host", "localhost", "port", port, "delimiter", ";", NULL);
    self = mk(d, &c);
    ck_assert_int_eq(d->run(self, &out), TE_SOURCE_END);
    pthread_join(th, NULL);
    close(s.lfd);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[2], "ccc");
    out_free(&out);
}
END_TEST

struct runner {
    const te_operator_def_t *d;
    void *self;
    te_output_t out;
    te_source_status_t rc;
};

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    r->rc = r->d->run(r->self, &r->out);
    return NULL;
}

START_TEST(test_socket_text_cancel)
{
    struct server s = {0};
    s.payload = NULL; /* silent */
    atomic_init(&s.release, 0);
    server_listen(&s);
    pthread_t th, rt;
    pthread_create(&th, NULL, server_main, &s);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    struct runner r = {0};
    r.d = def_of("socket_text");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "host", "127.0.0.1", "port", port, "max_retries", "-1", NULL);
    r.self = mk(r.d, &c);
    pthread_create(&rt, NULL, runner_main, &r);
    usleep(100000);
    r.d->cancel(r.self);
    pthread_join(rt, NULL); /* the case timeout catches a hang */
    ck_assert_int_eq(r.rc, TE_SOURCE_END);
    ck_assert_uint_eq(r.out.main.n, 0);
    atomic_store(&s.release, 1);
    pthread_join(th, NULL);
    close(s.lfd);
    r.d->dispose(r.self);
    out_free(&r.out);
}
END_TEST

START_TEST(test_socket_text_connect_fails)
{
    struct server s = {0};
    server_listen(&s);
    close(s.lfd); /* nothing listens on this port now */
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    const te_operator_def_t *d = def_of("socket_text");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "host", "127.0.0.1", "port", port, "max_retries", "1", "retry_delay_ms", "10", NULL);
    void *self = mk(d, &c);
    te_output_t out = {0};
    ck_assert_int_eq(d->run(self, &out), TE_SOURCE_ERROR);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%s", port);
    ck_assert_msg(strstr(c.fail_msg, want) != NULL, "%s", c.fail_msg);
    ck_assert_int_eq(c.nfail, 1);
    d->dispose(self);
}
END_TEST

/* ---- nexmark, scale, socket_sink ---- */

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static size_t count_fields(const char *r)
{
    size_t n = 1;
    for (; *r; r++)
        n += *r == '\t';
    return n;
}

/* Runs a nexmark source at parallelism p and returns every record (sorted copies). */
static char **nexmark_all(uint32_t p, const char *count, const char *events, size_t *n_out, te_output_t *keep0)
{
    const te_operator_def_t *d = def_of("nexmark");
    char **all = NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < p; i++) {
        te_operator_ctx_t c;
        /* every kind: bids on the main output, every event on the side outputs */
        int all_kinds = strcmp(events, "all") == 0;
        ctx_init(&c, i, p, "count", count, "events", all_kinds ? "bids" : events, "seed", "7", "side_outputs",
                 all_kinds ? "true" : "false", NULL);
        te_output_t out = {0};
        void *self = mk(d, &c);
        uint32_t idle;
        while (d->step(self, &out, 100, &idle) != TE_SOURCE_END)
            ;
        finish(d, self, &out);
        if (all_kinds) { /* keep the side outputs (all events, in order) as the list checked */
            rec_list_t t = out.main;
            out.main = out.side;
            out.side = t;
        }
        all = realloc(all, (n + out.main.n) * sizeof(char *));
        for (size_t k = 0; k < out.main.n; k++) {
            /* the record's timestamp is its date_time field (P: 7, A: 6, B: 6) */
            const char *f = out.main.data[k];
            int idx = f[0] == 'P' ? 7 : 6;
            for (int j = 0; j < idx && f; j++)
                f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
            ck_assert(f != NULL);
            ck_assert_int_eq(out.main.ts[k], atoll(f));
            all[n++] = strdup(out.main.data[k]);
        }
        if (i == 0 && keep0)
            *keep0 = out;
        else
            out_free(&out);
    }
    qsort(all, n, sizeof(char *), cmp_cstr);
    *n_out = n;
    return all;
}

START_TEST(test_nexmark_deterministic_split)
{
    size_t n1, n3;
    te_output_t first = {0};
    char **a = nexmark_all(1, "5000", "all", &n1, &first);
    char **b = nexmark_all(3, "5000", "all", &n3, NULL);
    ck_assert_uint_eq(n1, 5000);
    ck_assert_uint_eq(n3, 5000);
    size_t persons = 0, auctions = 0, bids = 0;
    for (size_t i = 0; i < n1; i++) {
        ck_assert_str_eq(a[i], b[i]); /* the same events whatever the parallelism */
        switch (a[i][0]) {
        case 'P':
            persons++;
            ck_assert_uint_eq(count_fields(a[i]), 9);
            break;
        case 'A':
            auctions++;
            ck_assert_uint_eq(count_fields(a[i]), 11);
            break;
        case 'B':
            bids++;
            ck_assert_uint_eq(count_fields(a[i]), 8);
            break;
        default: ck_abort_msg("unknown event kind in '%s'", a[i]);
        }
    }
    /* Nexmark's proportions 1 : 3 : 46 out of every 50 events. */
    ck_assert_uint_eq(persons, 100);
    ck_assert_uint_eq(auctions, 300);
    ck_assert_uint_eq(bids, 4600);
    /* In generation order: event time grows by 100us per event, and every bid refers
     * to an auction and a person created before it. */
    long long max_auction = 0, max_person = 0, prev_ts = 0;
    for (size_t k = 0; k < first.main.n; k++) {
        const char *r = first.main.data[k];
        long long id = atoll(r + 2);
        ck_assert_int_ge(first.main.ts[k], prev_ts);
        prev_ts = first.main.ts[k];
        ck_assert_int_eq(first.main.ts[k], 1700000000000LL + (long long)k / 10);
        if (r[0] == 'P')
            max_person = id;
        else if (r[0] == 'A')
            max_auction = id;
        else {
            const char *bidder = strchr(r + 2, '\t') + 1;
            ck_assert_int_le(id, max_auction);
            ck_assert_int_ge(id, 1000);
            ck_assert_int_le(atoll(bidder), max_person);
        }
    }
    out_free(&first);
    for (size_t i = 0; i < n1; i++) {
        free(a[i]);
        free(b[i]);
    }
    free(a);
    free(b);
}
END_TEST

START_TEST(test_nexmark_bids_only)
{
    size_t n;
    char **a = nexmark_all(2, "1000", "bids", &n, NULL);
    ck_assert_uint_eq(n, 920);
    for (size_t i = 0; i < n; i++) {
        ck_assert(a[i][0] == 'B');
        /* B auction bidder price ...: the price is the fourth field */
        const char *p = a[i];
        for (int f = 0; f < 3; f++)
            p = strchr(p, '\t') + 1;
        long long price = atoll(p);
        ck_assert_int_ge(price, 100);       /* 10^0 * 100 */
        ck_assert_int_le(price, 100000000); /* 10^6 * 100 */
        free(a[i]);
    }
    free(a);
}
END_TEST

START_TEST(test_scale)
{
    const te_operator_def_t *d = def_of("scale");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "field", "v", "factor", "0.908", NULL);
    c.in_schema[0] = h_schema("k:string, v:int64?, x:string");
    te_output_t out = {0};
    void *self = mk(d, &c);
    feed(d, self, "a\t100\tx", &out);   /* 90.8 -> 91 */
    feed(d, self, "b\t-1000\ty", &out); /* -908 */
    feed(d, self, "e\t\tz", &out);      /* null stays null */
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "a\t91\tx");
    ck_assert_str_eq(out.main.data[1], "b\t-908\ty");
    ck_assert_str_eq(out.main.data[2], "e\t\tz");
    ck_assert(out.main.ts[0] == 42);
    out_free(&out);
    ctx_init(&c, 0, 1, "field", "1", "factor", "0.908", NULL);
    c.in_schema[0] = h_schema("k:string, d:double");
    self = mk(d, &c);
    feed(d, self, "c\t2.5", &out); /* 2.27 */
    finish(d, self, &out);
    ck_assert_str_eq(out.main.data[0], "c\t2.27");
    out_free(&out);
}
END_TEST

struct collector {
    int lfd;
    char buf[65536];
    size_t len;
};

static void *collector_main(void *arg)
{
    struct collector *k = arg;
    int fd = accept(k->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    ssize_t n;
    while ((n = read(fd, k->buf + k->len, sizeof(k->buf) - 1 - k->len)) > 0)
        k->len += (size_t)n;
    k->buf[k->len] = '\0';
    close(fd);
    return NULL;
}

START_TEST(test_socket_sink)
{
    struct server s = {0};
    server_listen(&s);
    struct collector k = {.lfd = s.lfd};
    pthread_t th;
    pthread_create(&th, NULL, collector_main, &k);
    char port[16];
    snprintf(port, sizeof(port), "%d", s.port);
    const te_operator_def_t *d = def_of("socket_sink");
    te_operator_ctx_t c;
    ctx_init(&c, 0, 1, "host", "127.0.0.1", "port", port, NULL);
    te_output_t out = {0};
    void *self = mk(d, &c);
    feed(d, self, "first", &out);
    feed(d, self, "", &out);
    feed(d, self, "third record", &out);
    finish(d, self, &out);
    pthread_join(th, NULL);
    close(s.lfd);
    ck_assert_str_eq(k.buf, "first\n\nthird record\n");
    ck_assert_uint_eq(out.main.n, 0);

    /* Nobody listening: open fails naming host:port. */
    server_listen(&s);
    snprintf(port, sizeof(port), "%d", s.port);
    close(s.lfd);
    ctx_init(&c, 0, 1, "host", "127.0.0.1", "port", port, NULL);
    char err[512] = "";
    self = d->setup(&api, &c, err, sizeof(err));
    ck_assert_ptr_nonnull(self);
    ck_assert_int_ne(d->open(self, err, sizeof(err)), 0);
    ck_assert_msg(strstr(err, port) != NULL, "%s", err);
    d->dispose(self);
}
END_TEST

START_TEST(test_max_by)
{
    /* Oracle: per key, the first record with the largest value, computed here. */
    static const char *in[] = {"a\t3\tx",  "b\t1\ty",        "a\t7\tz", "b\t1\tw",
                               "c\t-2\tq", "a\t7\tlate-tie", "b\t4\tv"};
    const te_operator_def_t *d = def_of("max_by");
    te_operator_ctx_t c;
    const te_schema_t *sc = h_schema("k:string, v:int64, x:string");
    ctx_init(&c, 0, 1, "value_field", "1", "emit", "final", NULL);
    c.in_schema[0] = sc;
    void *self = mk(d, &c);
    te_output_t out = {0};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        feed(d, self, in[i], &out);
    ck_assert_uint_eq(out.main.n, 0);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 3);
    ck_assert_str_eq(out.main.data[0], "a\t7\tz");
    ck_assert_str_eq(out.main.data[1], "b\t4\tv");
    ck_assert_str_eq(out.main.data[2], "c\t-2\tq");
    out_free(&out);

    ctx_init(&c, 0, 1, "value_field", "v", NULL); /* updates: each new maximum */
    c.in_schema[0] = sc;
    self = mk(d, &c);
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        feed(d, self, in[i], &out);
    finish(d, self, &out);
    ck_assert_uint_eq(out.main.n, 5); /* a3 b1 a7 c-2 b4 */
    ck_assert_str_eq(out.main.data[2], "a\t7\tz");
    ck_assert_str_eq(out.main.data[4], "b\t4\tv");
    out_free(&out);

    /* numbers in a string field are read; text that is not one fails the task */
    ctx_init(&c, 0, 1, "value_field", "1", NULL);
    c.in_schema[0] = h_schema("k:string, v:string");
    self = mk(d, &c);
    feed(d, self, "a\t2.5", &out);
    ck_assert_uint_eq(out.main.n, 1);
    ck_assert_int_ne(feed_rc(d, self, "a\tNaN-ish", &out), 0);
    ck_assert_msg(strstr(c.fail_msg, "value_field 'v' = 'NaN-ish' is not a number") != NULL, "%s", c.fail_msg);
    d->dispose(self);
    out_free(&out);
}
END_TEST

Suite *operators_suite(void)
{
    Suite *s = suite_create("operators");
    TCase *tc = tcase_create("params");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_registry);
    tcase_add_loop_test(tc, test_bad_params, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, test_delimiter_escapes);
    suite_add_tcase(s, tc);

    tc = tcase_create("sources");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_file_lines_split);
    tcase_add_test(tc, test_file_lines_errors);
    tcase_add_test(tc, test_file_lines_snapshot);
    tcase_add_test(tc, test_sequence);
    tcase_add_test(tc, test_sequence_edges);
    tcase_add_test(tc, test_sequence_snapshot);
    suite_add_tcase(s, tc);

    tc = tcase_create("transforms");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_tokenize_vs_tr);
    tcase_add_test(tc, test_tokenize_options);
    tcase_add_test(tc, test_filter);
    tcase_add_test(tc, test_select_upper_lower);
    tcase_add_test(tc, test_keyed_count_updates);
    tcase_add_test(tc, test_keyed_count_final);
    tcase_add_test(tc, test_parse_side_output);
    suite_add_tcase(s, tc);

    tc = tcase_create("sinks");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_file_sink);
    tcase_add_test(tc, test_print_discard);
    suite_add_tcase(s, tc);

    tc = tcase_create("socket");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_socket_text_reads_lines);
    tcase_add_test(tc, test_socket_text_cancel);
    tcase_add_test(tc, test_socket_text_connect_fails);
    tcase_add_test(tc, test_socket_sink);
    suite_add_tcase(s, tc);

    tc = tcase_create("nexmark");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_nexmark_deterministic_split);
    tcase_add_test(tc, test_nexmark_bids_only);
    tcase_add_test(tc, test_scale);
    tcase_add_test(tc, test_max_by);
    suite_add_tcase(s, tc);
    return s;
}
