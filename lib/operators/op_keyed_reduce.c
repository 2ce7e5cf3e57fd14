/*
 * op_keyed_reduce — `keyed_sum` and `keyed_reduce`: a rolling reduce per key in keyed
 * state (Flink's KeyedStream.sum / reduce).
 *
 * Parameters: key_field (an index or a name, default 0), value_field (required),
 * delimiter (accepted, unused: rows are typed), emit = updates (default: (key, value)
 * after each row, Flink's rolling aggregate) or final (every key once in end_input,
 * sorted by key bytes); keyed_reduce only: fn = sum | min | max | concat (required),
 * separator (concat, default ","). keyed_sum is keyed_reduce with fn = sum.
 *
 * Output: the key field as it is in the input, then value: a double for sum / min /
 * max (the state holds a double, as before typed rows: `aggregate` keeps integer sums
 * exact), a string for concat (the values as text, te_row_format_field). sum / min /
 * max take numeric fields, or string fields holding numbers (a row whose text is not a
 * number fails the task with a message naming the field); a row whose value is null
 * is skipped.
 *
 * State (keyed, by the key field's key bytes): the 8-byte double, or the joined text.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

typedef enum reduce_fn { RF_SUM, RF_MIN, RF_MAX, RF_CONCAT } reduce_fn_t;

typedef struct keyed_reduce {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    te_row_key_t key;
    uint32_t value_field;
    te_type_t value_type;
    const char *value_name;
    int emit_final;
    reduce_fn_t fn;
    const char *sep;
    size_t seplen;
    op_buf_t val; /* the new value (concat) */
    te_row_builder_t out;
} keyed_reduce_t;

static void *reduce_setup_common(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                                 int is_sum)
{
    static const char *const allowed_sum[] = {"key_field", "value_field", "delimiter", "emit", NULL};
    static const char *const allowed_reduce[] = {"key_field", "value_field", "delimiter", "emit",
                                                 "fn",        "separator",   NULL};
    const char *name = is_sum ? "keyed_sum" : "keyed_reduce";
    op_setup_t s = {api, ctx, name, err, errlen};
    const te_schema_t *in;
    uint32_t key_field = 0, value_field = 0;
    char delim;
    const char *emit, *fn = "sum", *sep = ",";
    if (op_require_v2(&s) != 0 || op_check_keys(&s, is_sum ? allowed_sum : allowed_reduce) != 0 ||
        (in = op_input_schema(&s, 0)) == NULL || op_get_field_of(&s, in, "key_field", 0, &key_field, NULL) != 0 ||
        op_get_field_of(&s, in, "value_field", 1, &value_field, NULL) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_string(&s, "emit", 0, "updates", &emit) != 0)
        return NULL;
    if (!is_sum &&
        (op_get_string(&s, "fn", 1, NULL, &fn) != 0 || op_get_string(&s, "separator", 0, ",", &sep) != 0))
        return NULL;
    int final;
    if (strcmp(emit, "updates") == 0)
        final = 0;
    else if (strcmp(emit, "final") == 0)
        final = 1;
    else {
        op_errorf(&s, "parameter 'emit' = '%s' is not one of updates, final", emit);
        return NULL;
    }
    reduce_fn_t f;
    if (strcmp(fn, "sum") == 0)
        f = RF_SUM;
    else if (strcmp(fn, "min") == 0)
        f = RF_MIN;
    else if (strcmp(fn, "max") == 0)
        f = RF_MAX;
    else if (strcmp(fn, "concat") == 0)
        f = RF_CONCAT;
    else {
        op_errorf(&s, "parameter 'fn' = '%s' is not one of sum, min, max, concat", fn);
        return NULL;
    }
    if (!is_sum && api->param(ctx, "separator") && f != RF_CONCAT) {
        op_errorf(&s, "parameter 'separator' only applies to fn = concat (fn is '%s')", fn);
        return NULL;
    }
    if (f != RF_CONCAT &&
        op_check_type(&s, in, "value_field", value_field, OP_T_NUMBER | OP_T(TE_TYPE_STRING), "a number") != 0)
        return NULL;
    op_schema_t o = {0};
    if (op_schema_add_from(&s, &o, in, key_field) != 0 ||
        op_schema_add(&s, &o, "value", f == RF_CONCAT ? TE_TYPE_STRING : TE_TYPE_DOUBLE, 0) != 0 ||
        op_declare(&s, NULL, &o) != 0)
        return NULL;
    keyed_reduce_t *kr = calloc(1, sizeof(*kr));
    if (kr == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    kr->api = api;
    kr->ctx = ctx;
    kr->name = name;
    op_key_of(in, &key_field, 1, &kr->key);
    kr->value_field = value_field;
    kr->value_type = in->fields[value_field].type;
    kr->value_name = in->fields[value_field].name;
    kr->emit_final = final;
    kr->fn = f;
    kr->sep = sep;
    kr->seplen = strlen(sep);
    return kr;
}

static void *keyed_sum_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return reduce_setup_common(api, ctx, err, errlen, 1);
}

static void *keyed_reduce_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return reduce_setup_common(api, ctx, err, errlen, 0);
}

/* Emits (key, value) where value is the state bytes (concat) or a double. */
static int kr_emit(keyed_reduce_t *kr, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen,
                   int64_t ts, te_output_t *out)
{
    te_row_builder_begin(&kr->out, 2);
    if (op_key_to_row(&kr->out, 0, key, keylen, &kr->key) != 0) {
        kr->api->fail(kr->ctx, "operator '%s': a key in its state does not match its key field", kr->name);
        return -1;
    }
    if (kr->fn == RF_CONCAT) {
        te_row_set_str(&kr->out, 1, val, vallen);
    } else {
        double d = 0;
        if (vallen == sizeof(d))
            memcpy(&d, val, sizeof(d));
        te_row_set_f64(&kr->out, 1, d);
    }
    te_record_t rec;
    if (te_row_builder_finish(&kr->out, ts, &rec) != 0) {
        kr->api->fail(kr->ctx, "operator '%s': out of memory", kr->name);
        return -1;
    }
    return kr->api->emit(out, &rec);
}

/* The value of rec as text, appended to kr->val. */
static int kr_append_text(keyed_reduce_t *kr, const te_record_t *rec)
{
    if (te_type_is_var(kr->value_type)) {
        uint32_t n;
        const uint8_t *p = te_row_get_str(rec, kr->value_field, &n);
        return n ? op_buf_append(&kr->val, p, n) : 0;
    }
    char text[64];
    size_t n = 0;
    te_row_format_field(rec, kr->value_field, kr->value_type, text, sizeof(text), &n);
    return op_buf_append(&kr->val, text, n);
}

static int keyed_reduce_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    keyed_reduce_t *kr = self;
    (void)input;
    if (te_row_is_null(rec, kr->value_field))
        return 0;
    const uint8_t *old;
    uint32_t keylen, oldlen;
    const uint8_t *key = te_row_field_key(rec, kr->key.idx[0], kr->key.type[0], &keylen);
    int have = kr->api->state_get(kr->ctx, key, keylen, &old, &oldlen);
    const uint8_t *nv;
    uint32_t nvl;
    double d;
    if (kr->fn == RF_CONCAT) {
        kr->val.len = 0;
        if ((have &&
             (op_buf_append(&kr->val, old, oldlen) != 0 || op_buf_append(&kr->val, kr->sep, kr->seplen) != 0)) ||
            kr_append_text(kr, rec) != 0 || op_buf_reserve(&kr->val, 1) != 0) {
            kr->api->fail(kr->ctx, "operator '%s': out of memory", kr->name);
            return -1;
        }
        nv = kr->val.data;
        nvl = (uint32_t)kr->val.len;
    } else {
        if (op_row_number_any(rec, kr->value_field, kr->value_type, &d) != 0) {
            uint32_t l = 0;
            const uint8_t *p = te_row_get_str(rec, kr->value_field, &l);
            kr->api->fail(kr->ctx, "operator '%s': value_field '%s' = '%.*s' is not a number", kr->name,
                          kr->value_name, (int)(l > 64 ? 64 : l), p ? (const char *)p : "");
            return -1;
        }
        if (have && oldlen == sizeof(double)) {
            double o;
            memcpy(&o, old, sizeof(o));
            d = kr->fn == RF_SUM ? o + d : kr->fn == RF_MIN ? (d < o ? d : o) : (d > o ? d : o);
        }
        nv = (const uint8_t *)&d;
        nvl = sizeof(d);
    }
    if (kr->api->state_put(kr->ctx, key, keylen, nv, nvl) != 0)
        return -1;
    if (!kr->emit_final)
        return kr_emit(kr, key, keylen, nv, nvl, rec->timestamp, out);
    return 0;
}

/* ---- final emit: collect (key, value) copies, sort by key ---- */

typedef struct kr_final {
    keyed_reduce_t *kr;
    te_output_t *out;
} kr_final_t;

static int kr_final_emit(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    kr_final_t *f = arg;
    return kr_emit(f->kr, key, keylen, val, vallen, TE_NO_TIMESTAMP, f->out);
}

static int keyed_reduce_end_input(void *self, te_output_t *out)
{
    keyed_reduce_t *kr = self;
    if (!kr->emit_final)
        return 0;
    kr_final_t f = {kr, out};
    int rc = op_keyed_foreach_sorted(kr->api, kr->ctx, kr_final_emit, &f);
    if (rc == -2)
        kr->api->fail(kr->ctx, "operator '%s': out of memory", kr->name);
    return rc == 0 ? 0 : -1;
}

static void keyed_reduce_dispose(void *self)
{
    keyed_reduce_t *kr = self;
    if (kr == NULL)
        return;
    op_buf_release(&kr->val);
    te_row_builder_free(&kr->out);
    free(kr);
}

const te_operator_def_t op_keyed_sum_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "keyed_sum",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_sum_setup,
    .process_element = keyed_reduce_process,
    .end_input = keyed_reduce_end_input,
    .dispose = keyed_reduce_dispose,
};

const te_operator_def_t op_keyed_reduce_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "keyed_reduce",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_reduce_setup,
    .process_element = keyed_reduce_process,
    .end_input = keyed_reduce_end_input,
    .dispose = keyed_reduce_dispose,
};
