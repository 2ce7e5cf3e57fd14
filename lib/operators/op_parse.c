/*
 * op_parse — the `parse` operator: turns a text field into typed fields, so text
 * exists only at the edges of a job (`{"op": "parse", "format": "json", "fields":
 * ["auction:int64", "price:double", "url:string"]}`).
 *
 * Parameters: fields (required: the output schema, "name:type, ..." or a JSON array of
 * such strings; "?" after a type = nullable), format = tsv (default) | csv | json,
 * field (the string field to parse, index or name; default 0), delimiter (tsv: "\t",
 * csv: ","), side_output (tag of the unparsable records, default "unparsable").
 *
 * Formats:
 *   tsv   values separated by the delimiter, exactly one per output field, taken as
 *         they are;
 *   csv   RFC 4180: values separated by the delimiter, optionally in double quotes
 *         (then the delimiter may appear inside and "" stands for a quote);
 *   json  one object per record; each output field is the member of the same name.
 * Values: int64 and timestamp (milliseconds) are decimal integers, double a number,
 * bool true/false (or 1/0), string and bytes any text. An empty value (tsv/csv) or a
 * missing member / null (json) is null when the field is nullable.
 *
 * A record that does not parse — wrong number of values, a value not of its field's
 * type, a null for a field that is not nullable, bad JSON — is not guessed at and does
 * not fail the task: it is counted in the metric numUnparsableRecords and emitted to
 * the side output as (input:string, error:string), the reason naming the field.
 *
 * Hot path (tsv/csv): no allocation once the row builder has grown; json parses each
 * record with jansson.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_text.h"

typedef struct parse_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint32_t field;
    const char *side;
    op_text_parser_t tp;
    te_row_builder_t err_row;
} parse_op_t;

static const te_field_t side_fields[] = {{"input", TE_TYPE_STRING, 0}, {"error", TE_TYPE_STRING, 0}};
static const te_schema_t side_schema = {2, side_fields};

static void *parse_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"fields", "format", "field", "delimiter", "side_output", NULL};
    op_setup_t s = {api, ctx, "parse", err, errlen};
    const char *format, *spec, *side;
    const te_schema_t *in;
    uint32_t field = 0;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_string(&s, "fields", 1, NULL, &spec) != 0 || op_get_string(&s, "format", 0, "tsv", &format) != 0 ||
        op_get_string(&s, "side_output", 0, "unparsable", &side) != 0 ||
        op_get_field_of(&s, in, "field", 0, &field, NULL) != 0 ||
        op_check_type(&s, in, "field", field, OP_T_TEXT, "a string") != 0)
        return NULL;
    int f = op_text_format(format);
    if (f < 0) {
        op_errorf(&s, "parameter 'format' = '%s' is not one of tsv, csv, json", format);
        return NULL;
    }
    char delim;
    if (op_get_delimiter(&s, "delimiter", f == OP_TEXT_CSV ? ',' : '\t', &delim) != 0)
        return NULL;
    if (side[0] == '\0') {
        op_errorf(&s, "parameter 'side_output' is empty");
        return NULL;
    }
    char why[400];
    const te_schema_t *out = api->parse_schema(ctx, spec, why, sizeof(why));
    if (out == NULL) {
        op_errorf(&s, "parameter 'fields': %s", why);
        return NULL;
    }
    if (op_declare_schema(&s, NULL, out) != 0 || op_declare_schema(&s, side, &side_schema) != 0)
        return NULL;
    parse_op_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    *p = (parse_op_t){.api = api, .ctx = ctx, .field = field, .side = side};
    p->tp = (op_text_parser_t){.format = f, .delim = delim, .out = out};
    return p;
}

/* ---- values ---- */

static int parse_i64(const char *v, size_t n, int64_t *out)
{
    char tmp[32];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    return op_parse_int64(tmp, out);
}

static int parse_f64(const char *v, size_t n, double *out)
{
    return op_parse_double_bytes((const uint8_t *)v, n, out) == 0 && isfinite(*out) ? 0 : -1;
}

static int parse_bool(const char *v, size_t n, int *out)
{
    if ((n == 4 && memcmp(v, "true", 4) == 0) || (n == 1 && v[0] == '1'))
        return *out = 1, 0;
    if ((n == 5 && memcmp(v, "false", 5) == 0) || (n == 1 && v[0] == '0'))
        return *out = 0, 0;
    return -1;
}

/* Sets field i from its text. 0, or -1 with p->why naming the field. */
static int set_value(op_text_parser_t *p, uint32_t i, const char *v, size_t n)
{
    const te_field_t *f = &p->out->fields[i];
    if (n == 0 && (f->nullable || !te_type_is_var(f->type))) {
        if (!f->nullable) {
            snprintf(p->why, sizeof(p->why), "field %u (%s): empty value for a %s field that is not nullable", i,
                     f->name, te_type_name(f->type));
            return -1;
        }
        te_row_set_null(&p->row, i);
        return 0;
    }
    int ok = 0;
    switch (f->type) {
    case TE_TYPE_STRING:
    case TE_TYPE_BYTES: te_row_set_str(&p->row, i, v, (uint32_t)n); return 0;
    case TE_TYPE_INT64:
    case TE_TYPE_TIMESTAMP: {
        int64_t x;
        if ((ok = parse_i64(v, n, &x) == 0))
            te_row_set_i64(&p->row, i, x);
        break;
    }
    case TE_TYPE_DOUBLE: {
        double d;
        if ((ok = parse_f64(v, n, &d) == 0))
            te_row_set_f64(&p->row, i, d);
        break;
    }
    case TE_TYPE_BOOL: {
        int b;
        if ((ok = parse_bool(v, n, &b) == 0))
            te_row_set_bool(&p->row, i, b);
        break;
    }
    }
    if (!ok)
        snprintf(p->why, sizeof(p->why), "field %u (%s): '%.*s' is not a%s %s", i, f->name, (int)(n > 40 ? 40 : n),
                 v, f->type == TE_TYPE_INT64 ? "n" : "", te_type_name(f->type));
    return ok ? 0 : -1;
}

/* ---- formats ---- */

static int parse_tsv(op_text_parser_t *p, const char *t, size_t len)
{
    const char *end = t + len;
    uint32_t n = p->out->n_fields;
    for (uint32_t i = 0; i < n; i++) {
        const char *d = memchr(t, p->delim, (size_t)(end - t));
        const char *fe = d ? d : end;
        if (d == NULL && i + 1 < n) {
            snprintf(p->why, sizeof(p->why), "%u values, expected %u", i + 1, n);
            return -1;
        }
        if (d != NULL && i + 1 == n) {
            snprintf(p->why, sizeof(p->why), "more than %u values", n);
            return -1;
        }
        if (set_value(p, i, t, (size_t)(fe - t)) != 0)
            return -1;
        t = d ? d + 1 : end;
    }
    return 0;
}

/* One csv value starting at *t: its (unquoted) bytes; *t moves past the delimiter
 * (or to end). -1 on a bad quote. *last = 1 when no delimiter followed. */
static int csv_value(op_text_parser_t *p, const char **t, const char *end, const char **v, size_t *n, int *last)
{
    const char *q = *t;
    if (q < end && *q == '"') {
        p->unq.len = 0;
        q++;
        for (;;) {
            const char *c = memchr(q, '"', (size_t)(end - q));
            if (c == NULL) {
                snprintf(p->why, sizeof(p->why), "unterminated quoted value");
                return -1;
            }
            if (op_buf_append(&p->unq, q, (size_t)(c - q)) != 0) {
                snprintf(p->why, sizeof(p->why), "out of memory");
                return -1;
            }
            q = c + 1;
            if (q < end && *q == '"') { /* "" = a quote */
                if (op_buf_append(&p->unq, "\"", 1) != 0)
                    return -1;
                q++;
                continue;
            }
            break;
        }
        if (q < end && *q != p->delim) {
            snprintf(p->why, sizeof(p->why), "text after a closing quote");
            return -1;
        }
        *v = (const char *)p->unq.data;
        *n = p->unq.len;
    } else {
        const char *d = memchr(q, p->delim, (size_t)(end - q));
        *v = q;
        *n = (size_t)((d ? d : end) - q);
        q += *n;
    }
    *last = q >= end;
    *t = q < end ? q + 1 : end;
    return 0;
}

static int parse_csv(op_text_parser_t *p, const char *t, size_t len)
{
    const char *end = t + len;
    uint32_t n = p->out->n_fields;
    for (uint32_t i = 0; i < n; i++) {
        const char *v;
        size_t vl;
        int last;
        if (csv_value(p, &t, end, &v, &vl, &last) != 0)
            return -1;
        if (last && i + 1 < n) {
            snprintf(p->why, sizeof(p->why), "%u values, expected %u", i + 1, n);
            return -1;
        }
        if (!last && i + 1 == n) {
            snprintf(p->why, sizeof(p->why), "more than %u values", n);
            return -1;
        }
        if (set_value(p, i, v, vl) != 0)
            return -1;
    }
    return 0;
}

static int json_member(op_text_parser_t *p, uint32_t i, json_t *m)
{
    const te_field_t *f = &p->out->fields[i];
    char num[40];
    if (m == NULL || json_is_null(m))
        return set_value(p, i, "", 0);
    if (json_is_string(m)) {
        if (te_type_is_var(f->type)) {
            te_row_set_str(&p->row, i, json_string_value(m), (uint32_t)json_string_length(m));
            return 0;
        }
        return set_value(p, i, json_string_value(m), json_string_length(m));
    }
    if (json_is_boolean(m))
        return set_value(p, i, json_is_true(m) ? "true" : "false", json_is_true(m) ? 4 : 5);
    if (json_is_integer(m)) {
        int n = snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(m));
        return set_value(p, i, num, (size_t)n);
    }
    if (json_is_real(m) && f->type == TE_TYPE_DOUBLE) {
        te_row_set_f64(&p->row, i, json_real_value(m));
        return 0;
    }
    snprintf(p->why, sizeof(p->why), "field %u (%s): the member is not a %s", i, f->name, te_type_name(f->type));
    return -1;
}

static int parse_json(op_text_parser_t *p, const char *t, size_t len)
{
    json_error_t je;
    json_t *o = json_loadb(t, len, 0, &je);
    if (o == NULL || !json_is_object(o)) {
        snprintf(p->why, sizeof(p->why), o ? "not a JSON object" : "bad JSON at column %d: %s", je.column,
                 je.text);
        json_decref(o);
        return -1;
    }
    int rc = 0;
    for (uint32_t i = 0; i < p->out->n_fields && rc == 0; i++)
        rc = json_member(p, i, json_object_get(o, p->out->fields[i].name));
    json_decref(o);
    return rc;
}

int op_text_format(const char *name)
{
    return strcmp(name, "tsv") == 0    ? OP_TEXT_TSV
           : strcmp(name, "csv") == 0  ? OP_TEXT_CSV
           : strcmp(name, "json") == 0 ? OP_TEXT_JSON
                                       : -1;
}

int op_text_parse(op_text_parser_t *p, const char *t, size_t len)
{
    te_row_builder_begin(&p->row, p->out->n_fields);
    return p->format == OP_TEXT_TSV   ? parse_tsv(p, t, len)
           : p->format == OP_TEXT_CSV ? parse_csv(p, t, len)
                                      : parse_json(p, t, len);
}

void op_text_parser_release(op_text_parser_t *p)
{
    te_row_builder_free(&p->row);
    op_buf_release(&p->unq);
}

static int parse_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    parse_op_t *p = self;
    uint32_t len;
    const uint8_t *t = te_row_get_str(rec, p->field, &len);
    if (t == NULL)
        t = (const uint8_t *)"";
    int rc = op_text_parse(&p->tp, (const char *)t, len);
    te_record_t r;
    if (rc == 0) {
        if (te_row_builder_finish(&p->tp.row, rec->timestamp, &r) != 0) {
            p->api->fail(p->ctx, "operator 'parse': out of memory");
            return -1;
        }
        return p->api->emit(out, &r);
    }
    p->api->counter_add(p->ctx, "numUnparsableRecords", 1);
    te_row_builder_begin(&p->err_row, 2);
    te_row_set_str(&p->err_row, 0, t, len);
    te_row_set_str(&p->err_row, 1, p->tp.why, (uint32_t)strlen(p->tp.why));
    if (te_row_builder_finish(&p->err_row, rec->timestamp, &r) != 0) {
        p->api->fail(p->ctx, "operator 'parse': out of memory");
        return -1;
    }
    return p->api->emit_side(out, p->side, &r);
}

static void parse_dispose(void *self)
{
    parse_op_t *p = self;
    if (p == NULL)
        return;
    op_text_parser_release(&p->tp);
    te_row_builder_free(&p->err_row);
    free(p);
}

const te_operator_def_t op_parse_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "parse",
    .kind = TE_OP_ONE_INPUT,
    .setup = parse_setup,
    .process_element = parse_process,
    .dispose = parse_dispose,
};
