/*
 * op_keyed_reduce — `keyed_sum` and `keyed_reduce`: a rolling reduce per key in keyed
 * state (Flink's KeyedStream.sum / reduce).
 *
 * Parameters: key_field (default 0), value_field (required), delimiter (default "\t"),
 * emit = updates (default: "key<delim>value" after each record, Flink's rolling
 * aggregate) or final (every key once in end_input, sorted by key bytes);
 * keyed_reduce only: fn = sum | min | max | concat (required), separator (concat,
 * default ","). keyed_sum is keyed_reduce with fn = sum.
 *
 * Values are numbers (sum/min/max: a double in the state, printed as an integer when
 * integral) or text (concat: the joined bytes in the state). A record whose value field
 * is missing or not a number fails the task with a message naming the field.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"

typedef enum reduce_fn { RF_SUM, RF_MIN, RF_MAX, RF_CONCAT } reduce_fn_t;

typedef struct keyed_reduce {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    int32_t key_field, value_field;
    char delim;
    int emit_final;
    reduce_fn_t fn;
    const char *sep;
    size_t seplen;
    op_buf_t val; /* the new value (concat) */
    op_buf_t out;
} keyed_reduce_t;

static void *reduce_setup_common(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                                 int is_sum)
{
    static const char *const allowed_sum[] = {"key_field", "value_field", "delimiter", "emit", NULL};
    static const char *const allowed_reduce[] = {"key_field", "value_field", "delimiter", "emit",
                                                 "fn",        "separator",   NULL};
    const char *name = is_sum ? "keyed_sum" : "keyed_reduce";
    op_setup_t s = {api, ctx, name, err, errlen};
    int32_t key_field, value_field;
    char delim;
    const char *emit, *fn = "sum", *sep = ",";
    if (op_require_v2(&s) != 0 || op_check_keys(&s, is_sum ? allowed_sum : allowed_reduce) != 0 ||
        op_get_field(&s, "key_field", 0, &key_field) != 0 ||
        op_get_field(&s, "value_field", 1, &value_field) != 0 ||
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
    keyed_reduce_t *kr = calloc(1, sizeof(*kr));
    if (kr == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    kr->api = api;
    kr->ctx = ctx;
    kr->name = name;
    kr->key_field = key_field < 0 ? 0 : key_field;
    kr->value_field = value_field;
    kr->delim = delim;
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

/* Emits "key<delim>value" where value is the state bytes (concat) or a number. */
static int kr_emit(keyed_reduce_t *kr, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen,
                   int64_t ts, te_output_t *out)
{
    char num[40];
    const uint8_t *v = val;
    uint32_t vl = vallen;
    if (kr->fn != RF_CONCAT) {
        double d = 0;
        if (vallen == sizeof(d))
            memcpy(&d, val, sizeof(d));
        vl = (uint32_t)op_format_number(num, sizeof(num), d);
        v = (const uint8_t *)num;
    }
    kr->out.len = 0;
    if (op_buf_append(&kr->out, key, keylen) != 0 || op_buf_append(&kr->out, &kr->delim, 1) != 0 ||
        op_buf_append(&kr->out, v, vl) != 0)
        return -1;
    te_record_t rec = {kr->out.data, (uint32_t)kr->out.len, ts};
    kr->api->emit(out, &rec);
    return 0;
}

static int keyed_reduce_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    keyed_reduce_t *kr = self;
    (void)input;
    const uint8_t *key, *old;
    uint32_t keylen, oldlen;
    op_field_key(rec, kr->delim, (uint32_t)kr->key_field, &key, &keylen);
    int have = kr->api->state_get(kr->ctx, key, keylen, &old, &oldlen);
    const uint8_t *nv;
    uint32_t nvl;
    double d;
    if (kr->fn == RF_CONCAT) {
        uint32_t s, l;
        if (te_record_field(rec->data, rec->len, kr->delim, (uint32_t)kr->value_field, &s, &l) != 0) {
            kr->api->fail(kr->ctx, "operator '%s': record has no value_field %d", kr->name, kr->value_field);
            return -1;
        }
        kr->val.len = 0;
        if ((have &&
             (op_buf_append(&kr->val, old, oldlen) != 0 || op_buf_append(&kr->val, kr->sep, kr->seplen) != 0)) ||
            op_buf_reserve(&kr->val, kr->val.len + l + 1) != 0) {
            kr->api->fail(kr->ctx, "operator '%s': out of memory", kr->name);
            return -1;
        }
        if (l)
            op_buf_append(&kr->val, rec->data + s, l);
        nv = kr->val.data;
        nvl = (uint32_t)kr->val.len;
    } else {
        if (op_field_double(rec, kr->delim, (uint32_t)kr->value_field, &d) != 0) {
            uint32_t s = 0, l = 0;
            te_record_field(rec->data, rec->len, kr->delim, (uint32_t)kr->value_field, &s, &l);
            kr->api->fail(kr->ctx, "operator '%s': value_field %d = '%.*s' is not a number", kr->name,
                          kr->value_field, (int)(l > 64 ? 64 : l), (const char *)rec->data + s);
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
    if (!kr->emit_final && kr_emit(kr, key, keylen, nv, nvl, rec->timestamp, out) != 0) {
        kr->api->fail(kr->ctx, "operator '%s': out of memory", kr->name);
        return -1;
    }
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
    op_buf_release(&kr->out);
    free(kr);
}

const te_operator_def_t op_keyed_sum_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "keyed_sum",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_sum_setup,
    .process_element = keyed_reduce_process,
    .end_input = keyed_reduce_end_input,
    .dispose = keyed_reduce_dispose,
};

const te_operator_def_t op_keyed_reduce_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "keyed_reduce",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_reduce_setup,
    .process_element = keyed_reduce_process,
    .end_input = keyed_reduce_end_input,
    .dispose = keyed_reduce_dispose,
};
