/*
 * op_map — the `map` family over typed rows: every output field is a copy of an input
 * field or an expression of the input row (expr.h).
 *
 * map:    exprs = a SELECT list ("auction, price * 0.908 AS price, date_time"; or a
 *         JSON array of such items): the output schema is the items' names and types.
 * select: fields = input fields by index or name ("2,0", ["price", "auction"]): a
 *         projection.
 * upper / lower: field (index or name; default: every string field): ASCII case
 *         mapping of that string field, the others unchanged.
 * Outputs keep the input's timestamp. A field copied is copied as it is (no
 * conversion); an expression's value is written in its type.
 *
 * Hot path: one row builder and one expression arena per instance, reset per row, so
 * nothing is allocated once they have grown; the columns sorted by kind at setup
 * (copies of fixed-size fields, of strings, fixed expressions, other expressions) and
 * a row built one kind at a time.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/expr.h"
#include "operators/op_row.h"

typedef struct map_col {
    int32_t copy; /* input field copied, or -1: evaluate e */
    te_type_t type;
    expr_t *e; /* borrowed from items[] or owned (upper/lower) */
} map_col_t;

typedef struct map_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    uint32_t n, n_in; /* output and input fields */
    map_col_t col[TE_ROW_MAX_FIELDS];
    expr_item_t items[TE_ROW_MAX_FIELDS]; /* map */
    uint32_t n_items;
    expr_env_t env;
    te_row_builder_t row;
    /* the columns by kind (map_plan): fixed-size fields copied, string / bytes fields
     * copied, fixed expressions (expr_fixed), other expressions */
    uint32_t n_fc, n_vc, n_fx, n_gen;
    uint8_t fc_out[TE_ROW_MAX_FIELDS], fc_in[TE_ROW_MAX_FIELDS];
    uint8_t vc_out[TE_ROW_MAX_FIELDS], vc_in[TE_ROW_MAX_FIELDS];
    uint8_t fx[TE_ROW_MAX_FIELDS], gen[TE_ROW_MAX_FIELDS];
} map_op_t;

static void map_dispose(void *self)
{
    map_op_t *m = self;
    if (m == NULL)
        return;
    if (m->n_items > 0)
        expr_list_free(m->items, m->n_items);
    else
        for (uint32_t i = 0; i < m->n; i++)
            expr_free(m->col[i].e);
    expr_env_free(&m->env);
    te_row_builder_free(&m->row);
    free(m);
}

static map_op_t *map_new(op_setup_t *s, const char *name, const te_schema_t *in)
{
    map_op_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(s, "out of memory");
        return NULL;
    }
    m->api = s->api;
    m->ctx = s->ctx;
    m->name = name;
    m->n_in = in->n_fields;
    return m;
}

/* Sorts the columns by kind, so that a row is built one kind at a time, each without
 * a per-column test of what the column is. */
static void map_plan(map_op_t *m)
{
    for (uint32_t i = 0; i < m->n; i++) {
        const map_col_t *c = &m->col[i];
        if (c->copy >= 0 && te_type_is_var(c->type)) {
            m->vc_out[m->n_vc] = (uint8_t)i;
            m->vc_in[m->n_vc++] = (uint8_t)c->copy;
        } else if (c->copy >= 0) {
            m->fc_out[m->n_fc] = (uint8_t)i;
            m->fc_in[m->n_fc++] = (uint8_t)c->copy;
        } else if (expr_fixed(c->e) >= 0) {
            m->fx[m->n_fx++] = (uint8_t)i;
        } else {
            m->gen[m->n_gen++] = (uint8_t)i;
        }
    }
}

/* Declares the columns' schema (names from `names`) and the input fields they read
 * (a mask), and returns m, or disposes it. */
static void *map_finish(op_setup_t *s, map_op_t *m, op_schema_t *o, uint64_t reads)
{
    if (op_declare(s, NULL, o) != 0 || op_declare_reads(s, 0, reads, 0) != 0) {
        map_dispose(m);
        return NULL;
    }
    return m;
}

static void *map_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"exprs", NULL};
    op_setup_t s = {api, ctx, "map", err, errlen};
    const te_schema_t *in;
    const char *exprs;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_string(&s, "exprs", 1, NULL, &exprs) != 0)
        return NULL;
    map_op_t *m = map_new(&s, "map", in);
    if (m == NULL)
        return NULL;
    /* a JSON array of items is joined into one list */
    char *joined = NULL;
    op_list_t l = {0};
    if (exprs[strspn(exprs, " \t")] == '[') {
        if (op_get_list(&s, "exprs", 1, TE_ROW_MAX_FIELDS, &l) != 0) {
            map_dispose(m);
            return NULL;
        }
        size_t len = 1;
        for (uint32_t i = 0; i < l.n; i++)
            len += strlen(l.items[i]) + 2;
        if ((joined = malloc(len)) != NULL) {
            joined[0] = '\0';
            for (uint32_t i = 0; i < l.n; i++) {
                strcat(joined, i ? ", " : "");
                strcat(joined, l.items[i]);
            }
        }
        op_list_free(&l);
        if (joined == NULL) {
            op_errorf(&s, "out of memory");
            map_dispose(m);
            return NULL;
        }
        exprs = joined;
    }
    char why[512];
    int rc = expr_list_compile(exprs, in, m->items, TE_ROW_MAX_FIELDS, &m->n_items, why, sizeof(why));
    free(joined);
    if (rc != 0) {
        op_errorf(&s, "parameter 'exprs': %s", why);
        map_dispose(m);
        return NULL;
    }
    op_schema_t o = {0};
    for (uint32_t i = 0; i < m->n_items; i++) {
        const expr_t *e = m->items[i].e;
        int f = expr_field(e);
        te_type_t t = expr_type(e) ? expr_type(e) : TE_TYPE_STRING; /* NULL literal: a null string */
        m->col[i] = (map_col_t){f, t, f >= 0 ? NULL : m->items[i].e};
        if (op_schema_add(&s, &o, m->items[i].name, t, expr_nullable(e)) != 0) {
            map_dispose(m);
            return NULL;
        }
    }
    m->n = m->n_items;
    map_plan(m);
    uint64_t reads = 0;
    for (uint32_t i = 0; i < m->n_items; i++)
        reads |= expr_fields_read(m->items[i].e);
    return map_finish(&s, m, &o, reads);
}

static void *select_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"fields", "delimiter", NULL};
    op_setup_t s = {api, ctx, "select", err, errlen};
    const te_schema_t *in;
    char delim;
    uint32_t idx[TE_ROW_MAX_FIELDS], n;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_fields_of(&s, in, "fields", 1, idx, TE_ROW_MAX_FIELDS, &n) != 0)
        return NULL;
    map_op_t *m = map_new(&s, "select", in);
    if (m == NULL)
        return NULL;
    op_schema_t o = {0};
    for (uint32_t i = 0; i < n; i++) {
        m->col[i] = (map_col_t){(int32_t)idx[i], in->fields[idx[i]].type, NULL};
        int dup = 0;
        for (uint32_t k = 0; k < i; k++)
            dup |= idx[k] == idx[i];
        /* a field selected twice gets a name of its own: <name>_<position> */
        char nm[64];
        snprintf(nm, sizeof(nm), "%.50s_%u", in->fields[idx[i]].name, i);
        const te_field_t *f = &in->fields[idx[i]];
        if ((dup ? op_schema_add_named(&s, &o, nm, f->type, f->nullable)
                 : op_schema_add_from(&s, &o, in, idx[i])) != 0) {
            map_dispose(m);
            return NULL;
        }
    }
    m->n = n;
    map_plan(m);
    return map_finish(&s, m, &o, op_fields_mask(idx, n));
}

static void *case_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                        const char *name, int to_upper)
{
    static const char *const allowed[] = {"field", "delimiter", NULL};
    op_setup_t s = {api, ctx, name, err, errlen};
    const te_schema_t *in;
    char delim;
    uint32_t field = 0;
    int given;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_field_of(&s, in, "field", 0, &field, &given) != 0 ||
        (given && op_check_type(&s, in, "field", field, OP_T_TEXT, "a string") != 0))
        return NULL;
    map_op_t *m = map_new(&s, name, in);
    if (m == NULL)
        return NULL;
    for (uint32_t i = 0; i < in->n_fields; i++) {
        m->col[i] = (map_col_t){(int32_t)i, in->fields[i].type, NULL};
        if ((given ? i == field : in->fields[i].type == TE_TYPE_STRING)) {
            char text[32], why[256];
            snprintf(text, sizeof(text), "%s($%u)", to_upper ? "upper" : "lower", i);
            if ((m->col[i].e = expr_compile(text, in, why, sizeof(why))) == NULL) {
                op_errorf(&s, "%s", why);
                map_dispose(m);
                return NULL;
            }
            m->col[i].copy = -1;
        }
    }
    m->n = in->n_fields;
    map_plan(m);
    return m; /* the output has the input's schema */
}

static void *upper_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return case_setup(api, ctx, err, errlen, "upper", 1);
}

static void *lower_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return case_setup(api, ctx, err, errlen, "lower", 0);
}

/* A string's len bytes from d + off to o + at, where whatever lies before o + at is
 * written after it (slots, header, an earlier string): one of at most 16 bytes moves
 * as the 16 bytes that end where it ends (one load and one store: memcpy's branches
 * on random lengths mispredict). */
static inline void copy_string(uint8_t *o, uint32_t at, const uint8_t *d, uint32_t off, uint32_t len)
{
    if (len <= 16 && off + len >= 16) { /* at + len >= 16 too: at is past the slots */
        uint8_t t[16];
        memcpy(t, d + off + len - 16, 16);
        memcpy(o + at + len - 16, t, 16);
    } else if (len > 0) {
        memcpy(o + at, d + off, len);
    }
}

/* Any row, through the checked readers (a malformed field reads as null). */
static int map_process_checked(map_op_t *m, const te_record_t *rec, te_output_t *out)
{
    expr_env_reset(&m->env);
    te_row_builder_begin(&m->row, m->n);
    for (uint32_t i = 0; i < m->n; i++) {
        const map_col_t *c = &m->col[i];
        if (c->copy >= 0) {
            te_row_copy_field(&m->row, i, rec, (uint32_t)c->copy, c->type);
        } else {
            expr_value_t v;
            if (expr_eval(c->e, rec, &m->env, &v) != 0)
                goto oom;
            expr_value_set(&m->row, i, &v);
        }
    }
    te_record_t o;
    if (te_row_builder_finish(&m->row, rec->timestamp, &o) != 0)
        goto oom;
    return m->api->emit(out, &o);
oom:
    m->api->fail(m->ctx, "operator '%s': out of memory", m->name);
    return -1;
}

/* A row whose fixed part has the input's field count is built kind by kind (map_plan):
 * fixed-size slots copied, strings copied into the tail (a string's bounds still
 * checked, a malformed one copied as null, as the readers read it), fixed expressions
 * computed from the slots, then the other expressions through the builder. */
static int map_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    map_op_t *m = self;
    (void)input;
    const uint8_t *d = rec->data;
    if (rec->len < TE_ROW_HEADER + 8u * m->n_in || d[0] != m->n_in)
        return map_process_checked(m, rec, out);
    te_row_builder_t *b = &m->row;
    uint32_t olen = TE_ROW_HEADER + 8u * m->n;
    /* each string copied is at most the row: one reserve for all */
    if (te_row_builder_reserve(b, olen + (size_t)m->n_vc * rec->len) != 0)
        goto oom;
    uint8_t *o = b->buf;
    const uint8_t *slots = d + TE_ROW_HEADER;
    uint8_t *oslots = o + TE_ROW_HEADER;
    uint64_t in_nulls = te_row_load64(d) >> TE_ROW_NULL_SHIFT, nulls = 0;
    /* strings first (copy_string writes before each string, so the slots and the
     * header come after them): their slots and places in the tail, then their bytes,
     * last to first */
    if (m->n_vc == 1) { /* one string (the usual projection): no arrays, no loops */
        uint32_t f = m->vc_in[0];
        uint64_t v = te_row_load64(slots + 8u * f);
        uint32_t off = (uint32_t)v, len = (uint32_t)(v >> 32);
        if (((in_nulls >> f) & 1u) || off < TE_ROW_HEADER || (uint64_t)off + len > rec->len) {
            v = 0;
            nulls |= 1ull << m->vc_out[0];
        } else {
            copy_string(o, olen, d, off, len);
            v = olen | (uint64_t)len << 32;
            olen += len;
        }
        memcpy(oslots + 8u * m->vc_out[0], &v, 8);
    } else if (m->n_vc > 1) {
        uint64_t vslot[TE_ROW_MAX_FIELDS], copied = 0; /* bit k: string k is copied */
        for (uint32_t k = 0; k < m->n_vc; k++) {
            uint32_t f = m->vc_in[k];
            uint64_t v = te_row_load64(slots + 8u * f), null = (in_nulls >> f) & 1u;
            if (!null) {
                uint32_t off = (uint32_t)v, len = (uint32_t)(v >> 32);
                if (off < TE_ROW_HEADER || (uint64_t)off + len > rec->len) {
                    v = 0;
                    null = 1;
                } else {
                    v = olen | (uint64_t)len << 32;
                    olen += len;
                    copied |= 1ull << k;
                }
            }
            vslot[k] = v;
            nulls |= null << m->vc_out[k];
        }
        for (uint32_t k = m->n_vc; k-- > 0;) {
            if (!((copied >> k) & 1u))
                continue;
            uint32_t f = m->vc_in[k], len = (uint32_t)(vslot[k] >> 32), at = (uint32_t)vslot[k];
            copy_string(o, at, d, (uint32_t)te_row_load64(slots + 8u * f), len);
        }
        for (uint32_t k = 0; k < m->n_vc; k++)
            memcpy(oslots + 8u * m->vc_out[k], &vslot[k], 8);
    }
    /* the fixed-size copies, unrolled for up to four (most projections) */
    switch (m->n_fc) {
    case 4: memcpy(oslots + 8u * m->fc_out[3], slots + 8u * m->fc_in[3], 8); /* fall through */
    case 3: memcpy(oslots + 8u * m->fc_out[2], slots + 8u * m->fc_in[2], 8); /* fall through */
    case 2: memcpy(oslots + 8u * m->fc_out[1], slots + 8u * m->fc_in[1], 8); /* fall through */
    case 1: memcpy(oslots + 8u * m->fc_out[0], slots + 8u * m->fc_in[0], 8); /* fall through */
    case 0: break;
    default:
        for (uint32_t k = 0; k < m->n_fc; k++)
            memcpy(oslots + 8u * m->fc_out[k], slots + 8u * m->fc_in[k], 8);
    }
    if (in_nulls != 0) /* most rows have no null: no null bits to move */
        for (uint32_t k = 0; k < m->n_fc; k++)
            nulls |= ((in_nulls >> m->fc_in[k]) & 1u) << m->fc_out[k];
    for (uint32_t k = 0; k < m->n_fx; k++) {
        uint32_t i = m->fx[k];
        expr_fixed_value_t v = expr_eval_fixed(m->col[i].e, d);
        memcpy(oslots + 8u * i, &v.slot, 8);
        nulls |= (uint64_t)v.null << i;
    }
    b->failed = 0;
    b->n = m->n;
    b->len = olen;
    b->nulls = nulls;
    if (m->n_gen > 0)
        expr_env_reset(&m->env);
    for (uint32_t k = 0; k < m->n_gen; k++) {
        uint32_t i = m->gen[k];
        expr_value_t v;
        if (expr_eval(m->col[i].e, rec, &m->env, &v) != 0)
            goto oom;
        expr_value_set(b, i, &v);
    }
    te_record_t r;
    if (te_row_builder_finish(b, rec->timestamp, &r) != 0)
        goto oom;
    return m->api->emit(out, &r);
oom:
    m->api->fail(m->ctx, "operator '%s': out of memory", m->name);
    return -1;
}

const te_operator_def_t op_map_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "map",
    .kind = TE_OP_ONE_INPUT,
    .setup = map_setup,
    .process_element = map_process,
    .dispose = map_dispose,
};

const te_operator_def_t op_select_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "select",
    .kind = TE_OP_ONE_INPUT,
    .setup = select_setup,
    .process_element = map_process,
    .dispose = map_dispose,
};

const te_operator_def_t op_upper_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "upper",
    .kind = TE_OP_ONE_INPUT,
    .setup = upper_setup,
    .process_element = map_process,
    .dispose = map_dispose,
};

const te_operator_def_t op_lower_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "lower",
    .kind = TE_OP_ONE_INPUT,
    .setup = lower_setup,
    .process_element = map_process,
    .dispose = map_dispose,
};
