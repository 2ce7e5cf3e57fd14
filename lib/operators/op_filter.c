/*
 * op_filter — the `filter` operator: passes the rows that match a condition.
 *
 * Parameters, one of three forms:
 *   expr: a bool expression over the row (expr.h: "auction % 123 = 0 AND price > 10");
 *     a row passes when it is TRUE (FALSE and NULL reject it);
 *   field (optional: the whole record when absent) + cmp + value, cmp one of
 *     eq, ne       — byte-wise string (in)equality,
 *     contains     — the field contains value as a substring,
 *     lt, le, gt, ge — numeric: value must be a number (checked at setup); a record
 *                    whose field is not a number does not match;
 *     multiple_of  — the field is an integer divisible by value (a positive integer);
 *   (the comparison is called `cmp` because `op` names the operator in a job graph);
 *   regex (POSIX extended, matched against the field or the whole record).
 * In these two forms `field` is an index or a name, and the condition applies to the
 * field's text (te_row_format_field: a string as it is, numbers in decimal), or to the
 * row's tab-separated text when no field is given — exactly the text records had.
 * side_output (optional): rejected rows go to the side output with that tag
 * (api->emit_side); otherwise they are dropped. The output schema is the input's.
 *
 * Hot path: no allocation, no syscall; a field of text is compared in place, other
 * fields are formatted into a per-instance scratch buffer (grown only for a longer
 * one).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#define _GNU_SOURCE /* memmem */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "operators/expr.h"
#include "operators/op_row.h"

typedef enum filter_op { F_EQ, F_NE, F_LT, F_LE, F_GT, F_GE, F_CONTAINS, F_MULTIPLE_OF, F_REGEX } filter_op_t;

static const char *const op_names[] = {"eq", "ne", "lt", "le", "gt", "ge", "contains", "multiple_of"};

typedef struct filter {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    filter_op_t op;
    int32_t field;
    char delim;
    const char *value;
    size_t value_len;
    long long divisor; /* multiple_of */
    double number;
    int have_regex;
    regex_t re;
    const char *side;
    op_buf_t scratch;
    const te_schema_t *in;
    expr_t *expr;
    expr_env_t env;
} filter_t;

static void *filter_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"field", "cmp",         "value",     "regex",
                                          "expr",  "side_output", "delimiter", NULL};
    op_setup_t s = {api, ctx, "filter", err, errlen};
    uint32_t fidx = 0;
    int given;
    char delim;
    const char *op, *value, *regex, *side, *expr;
    const te_schema_t *in;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "field", 0, &fidx, &given) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 || op_get_string(&s, "cmp", 0, NULL, &op) != 0 ||
        op_get_string(&s, "value", 0, NULL, &value) != 0 || op_get_string(&s, "regex", 0, NULL, &regex) != 0 ||
        op_get_string(&s, "expr", 0, NULL, &expr) != 0 || op_get_string(&s, "side_output", 0, NULL, &side) != 0)
        return NULL;
    int32_t field = given ? (int32_t)fidx : -1;
    if (expr != NULL && (op != NULL || value != NULL || regex != NULL || given)) {
        op_errorf(&s, "parameter 'expr' cannot be combined with '%s' (use either expr, cmp+value or regex)",
                  op      ? "cmp"
                  : value ? "value"
                  : regex ? "regex"
                          : "field");
        return NULL;
    }
    if (regex != NULL && (op != NULL || value != NULL)) {
        op_errorf(&s, "parameter 'regex' cannot be combined with '%s' (use either regex or cmp+value)",
                  op ? "cmp" : "value");
        return NULL;
    }
    if (regex == NULL && op == NULL && expr == NULL) {
        op_errorf(&s, "missing required parameter 'expr' (or 'cmp' + 'value', or 'regex')");
        return NULL;
    }
    if (side != NULL && side[0] == '\0') {
        op_errorf(&s, "parameter 'side_output' is empty");
        return NULL;
    }
    filter_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    f->api = api;
    f->ctx = ctx;
    f->field = field;
    f->delim = delim;
    f->side = side;
    f->in = in;
    if (side != NULL && op_declare_schema(&s, side, in) != 0)
        goto cleanup;
    if (expr != NULL) {
        char why[512];
        if ((f->expr = expr_compile(expr, in, why, sizeof(why))) == NULL) {
            op_errorf(&s, "parameter 'expr': %s", why);
            goto cleanup;
        }
        if (expr_type(f->expr) != TE_TYPE_BOOL && expr_type(f->expr) != 0) {
            op_errorf(&s, "parameter 'expr' = '%s' is a %s, not a condition (bool)", expr,
                      te_type_name(expr_type(f->expr)));
            goto cleanup;
        }
        if (op_declare_reads(&s, 0, expr_fields_read(f->expr), 1) != 0)
            goto cleanup;
        return f;
    }
    if (regex != NULL) {
        int rc = regcomp(&f->re, regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &f->re, msg, sizeof(msg));
            op_errorf(&s, "parameter 'regex' = '%s' is not a valid POSIX extended regex: %s", regex, msg);
            goto cleanup;
        }
        f->have_regex = 1;
        f->op = F_REGEX;
        return f;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++)
        if (strcmp(op, op_names[i]) == 0) {
            f->op = (filter_op_t)i;
            found = 1;
        }
    if (!found) {
        op_errorf(&s, "parameter 'cmp' = '%s' is not one of eq, ne, lt, le, gt, ge, contains, multiple_of", op);
        goto cleanup;
    }
    if (value == NULL) {
        op_errorf(&s, "missing required parameter 'value'");
        goto cleanup;
    }
    f->value = value;
    f->value_len = strlen(value);
    if (f->op == F_MULTIPLE_OF) {
        char *end = NULL;
        long long d = strtoll(value, &end, 10);
        if (end == value || *end != '\0' || d <= 0) {
            op_errorf(&s, "parameter 'value' = '%s' is not a positive integer (cmp 'multiple_of' needs a divisor)",
                      value);
            goto cleanup;
        }
        f->divisor = d;
    }
    if (f->op >= F_LT && f->op <= F_GE && op_parse_double(value, &f->number) != 0) {
        op_errorf(&s, "parameter 'value' = '%s' is not a number (cmp '%s' compares numbers)", value, op);
        goto cleanup;
    }
    return f;
cleanup:
    expr_free(f->expr);
    free(f);
    return NULL;
}

static int filter_matches(filter_t *f, const uint8_t *p, uint32_t len, int *error)
{
    double x;
    switch (f->op) {
    case F_EQ: return len == f->value_len && memcmp(p, f->value, len) == 0;
    case F_NE: return !(len == f->value_len && memcmp(p, f->value, len) == 0);
    case F_CONTAINS: return f->value_len == 0 || memmem(p, len, f->value, f->value_len) != NULL;
    case F_MULTIPLE_OF: {
        long long v = 0;
        uint32_t i = 0;
        int neg = len > 0 && p[0] == '-';
        for (i = (uint32_t)neg; i < len && p[i] >= '0' && p[i] <= '9'; i++)
            v = v * 10 + (p[i] - '0');
        if (len == (uint32_t)neg || i != len)
            return 0; /* not an integer */
        return v % f->divisor == 0;
    }
    case F_LT: return op_parse_double_bytes(p, len, &x) == 0 && x < f->number;
    case F_LE: return op_parse_double_bytes(p, len, &x) == 0 && x <= f->number;
    case F_GT: return op_parse_double_bytes(p, len, &x) == 0 && x > f->number;
    case F_GE: return op_parse_double_bytes(p, len, &x) == 0 && x >= f->number;
    case F_REGEX:
        if (op_buf_reserve(&f->scratch, (size_t)len + 1) != 0) {
            *error = 1;
            return 0;
        }
        memcpy(f->scratch.data, p, len);
        f->scratch.data[len] = '\0';
        return regexec(&f->re, (const char *)f->scratch.data, 0, NULL, 0) == 0;
    }
    return 0;
}

static int filter_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    filter_t *f = self;
    (void)input;
    int match = 0, error = 0;
    if (f->expr != NULL) {
        expr_env_reset(&f->env);
        match = expr_test(f->expr, rec, &f->env);
        error = match < 0;
    } else if (f->field >= 0 && te_row_is_null(rec, (uint32_t)f->field)) {
        match = 0; /* a row without the field does not match */
    } else if (f->field >= 0 && te_type_is_var(f->in->fields[f->field].type)) {
        uint32_t flen;
        const uint8_t *p = te_row_get_str(rec, (uint32_t)f->field, &flen);
        match = filter_matches(f, p ? p : (const uint8_t *)"", flen, &error);
    } else {
        /* the field's text, or the row's: formatted into the scratch buffer's back half */
        for (;;) {
            size_t half = f->scratch.cap / 2, off = 0;
            if (f->field >= 0)
                te_row_format_field(rec, (uint32_t)f->field, f->in->fields[f->field].type,
                                    (char *)f->scratch.data + half, half, &off);
            else
                off = te_row_format_tsv(rec, f->in, '\t', (char *)f->scratch.data + half, half);
            if (off < half) {
                match = filter_matches(f, f->scratch.data + half, (uint32_t)off, &error);
                break;
            }
            if (op_buf_reserve(&f->scratch, (off + 1) * 2 + 64) != 0) {
                error = 1;
                break;
            }
        }
    }
    if (error) {
        f->api->fail(f->ctx, "operator 'filter': out of memory");
        return -1;
    }
    if (match)
        f->api->emit(out, rec);
    else if (f->side != NULL)
        f->api->emit_side(out, f->side, rec);
    return 0;
}

static void filter_dispose(void *self)
{
    filter_t *f = self;
    if (f == NULL)
        return;
    if (f->have_regex)
        regfree(&f->re);
    expr_free(f->expr);
    expr_env_free(&f->env);
    op_buf_release(&f->scratch);
    free(f);
}

const te_operator_def_t op_filter_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "filter",
    .kind = TE_OP_ONE_INPUT,
    .setup = filter_setup,
    .process_element = filter_process,
    .dispose = filter_dispose,
};
