/*
 * op_scale — the `scale` map operator: multiplies a numeric field by a constant
 * factor, leaving the other fields as they are (Nexmark q1's currency conversion:
 * `price * 0.908`).
 *
 * Parameters: field (required: index or name of an int64 or double field), factor
 * (required, a number), delimiter (accepted, unused). An int64 field gives
 * round(value * factor) (half away from zero) as an int64, a double field the product;
 * a null stays null. The output schema is the input's.
 *
 * Hot path: the output row is built in a per-instance row builder.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_row.h"

typedef struct scale {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint32_t field, n;
    te_type_t type;
    double factor;
    const te_schema_t *in;
    te_row_builder_t row;
} scale_t;

static void *scale_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"field", "factor", "delimiter", NULL};
    op_setup_t s = {api, ctx, "scale", err, errlen};
    uint32_t field;
    char delim;
    const char *factor;
    double f;
    const te_schema_t *in;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "field", 1, &field, NULL) != 0 ||
        op_check_type(&s, in, "field", field, OP_T(TE_TYPE_INT64) | OP_T(TE_TYPE_DOUBLE), "a number") != 0 ||
        op_get_string(&s, "factor", 1, NULL, &factor) != 0 || op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    if (op_parse_double(factor, &f) != 0 || !isfinite(f)) {
        op_errorf(&s, "parameter 'factor' = '%s' is not a number", factor);
        return NULL;
    }
    scale_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    m->field = field;
    m->n = in->n_fields;
    m->type = in->fields[field].type;
    m->factor = f;
    m->in = in;
    return m;
}

static int scale_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    scale_t *m = self;
    te_row_builder_begin(&m->row, m->n);
    for (uint32_t i = 0; i < m->n; i++)
        if (i != m->field)
            te_row_copy_field(&m->row, i, rec, i, m->in->fields[i].type);
    if (te_row_is_null(rec, m->field)) {
        te_row_set_null(&m->row, m->field);
    } else if (m->type == TE_TYPE_DOUBLE) {
        te_row_set_f64(&m->row, m->field, te_row_get_f64(rec, m->field) * m->factor);
    } else {
        double prod = (double)te_row_get_i64(rec, m->field) * m->factor;
        if (fabs(prod) > 9e18)
            te_row_copy_field(&m->row, m->field, rec, m->field, m->type); /* out of range: unchanged */
        else
            te_row_set_i64(&m->row, m->field, (int64_t)llround(prod));
    }
    te_record_t r;
    if (te_row_builder_finish(&m->row, rec->timestamp, &r) != 0) {
        m->api->fail(m->ctx, "operator 'scale': out of memory");
        return -1;
    }
    return m->api->emit(out, &r);
}

static void scale_dispose(void *self)
{
    scale_t *m = self;
    if (m) {
        te_row_builder_free(&m->row);
        free(m);
    }
}

const te_operator_def_t op_scale_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "scale",
    .kind = TE_OP_ONE_INPUT,
    .setup = scale_setup,
    .process_element = scale_process,
    .dispose = scale_dispose,
};
