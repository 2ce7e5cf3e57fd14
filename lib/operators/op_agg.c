/*
 * op_agg — aggregate lists and their accumulators (see op_agg.h). The accumulator's
 * field 0 is a hidden row count (how many rows were added), so an empty accumulator
 * is told from one whose rows were all filtered out.
 *
 * Threading: a parsed list is immutable; updates use the caller's buffers.
 */
#include "operators/op_agg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fn_names[] = {"count", "count", "sum", "min", "max", "avg"};

static const char *skip_ws(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* The index just past the ')' matching the '(' at p[0] (quotes respected), or NULL. */
static const char *match_paren(const char *p)
{
    int depth = 0;
    char q = 0;
    for (; *p; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`')
            q = *p;
        else if (*p == '(')
            depth++;
        else if (*p == ')' && --depth == 0)
            return p + 1;
    }
    return NULL;
}

static int kw(const char **p, const char *word)
{
    size_t n = strlen(word);
    const char *s = skip_ws(*p);
    if (strncasecmp(s, word, n) != 0 || isalnum((unsigned char)s[n]) || s[n] == '_')
        return 0;
    *p = s + n;
    return 1;
}

static expr_t *compile_part(op_setup_t *s, const char *key, const char *from, const char *to,
                            const te_schema_t *in)
{
    char buf[1024], why[512];
    size_t n = (size_t)(to - from);
    if (n >= sizeof(buf)) {
        op_errorf(s, "parameter '%s': an expression is too long", key);
        return NULL;
    }
    memcpy(buf, from, n);
    buf[n] = '\0';
    expr_t *e = expr_compile(buf, in, why, sizeof(why));
    if (e == NULL)
        op_errorf(s, "parameter '%s': %s", key, why);
    return e;
}

/* One item: fn([DISTINCT] arg) [FILTER (WHERE cond)] [AS name]. */
static int parse_item(op_setup_t *s, const char *key, const char *item, const te_schema_t *in, op_agg_t *a,
                      uint32_t idx)
{
    const char *p = skip_ws(item), *open = strchr(p, '(');
    char fname[16];
    size_t fl = open ? (size_t)(open - p) : 0;
    while (fl && isspace((unsigned char)p[fl - 1]))
        fl--;
    if (open == NULL || fl == 0 || fl >= sizeof(fname))
        return op_errorf(s, "parameter '%s': '%s' is not fn(arg) (count, sum, min, max, avg)", key, item);
    for (size_t i = 0; i < fl; i++)
        fname[i] = (char)tolower((unsigned char)p[i]);
    fname[fl] = '\0';
    const char *close = match_paren(open);
    if (close == NULL)
        return op_errorf(s, "parameter '%s': '%s' has an unbalanced '('", key, item);
    const char *arg = open + 1, *arg_end = close - 1;
    int distinct = kw(&arg, "DISTINCT");
    arg = skip_ws(arg);
    int star = arg_end - arg == 1 && *arg == '*';
    if (strcmp(fname, "count") == 0)
        a->fn = distinct ? AGG_COUNT_DISTINCT : AGG_COUNT;
    else if (strcmp(fname, "sum") == 0)
        a->fn = AGG_SUM;
    else if (strcmp(fname, "min") == 0)
        a->fn = AGG_MIN;
    else if (strcmp(fname, "max") == 0)
        a->fn = AGG_MAX;
    else if (strcmp(fname, "avg") == 0)
        a->fn = AGG_AVG;
    else
        return op_errorf(s, "parameter '%s': unknown aggregate '%s' (count, sum, min, max, avg)", key, fname);
    if ((star && a->fn != AGG_COUNT) || (distinct && a->fn != AGG_COUNT_DISTINCT))
        return op_errorf(s, "parameter '%s': '%s': only count takes * or DISTINCT", key, item);
    if (!star && (a->arg = compile_part(s, key, arg, arg_end, in)) == NULL)
        return -1;
    const char *rest = close;
    if (kw(&rest, "FILTER")) {
        rest = skip_ws(rest);
        const char *fc = *rest == '(' ? match_paren(rest) : NULL;
        const char *cond = rest + 1;
        if (fc == NULL || !kw(&cond, "WHERE"))
            return op_errorf(s, "parameter '%s': '%s': expected FILTER (WHERE condition)", key, item);
        if ((a->filter = compile_part(s, key, cond, fc - 1, in)) == NULL)
            return -1;
        if (expr_type(a->filter) != TE_TYPE_BOOL && expr_type(a->filter) != 0)
            return op_errorf(s, "parameter '%s': '%s': the FILTER condition is not a bool", key, item);
        rest = fc;
    }
    if (kw(&rest, "AS")) {
        rest = skip_ws(rest);
        size_t n = strcspn(rest, " \t");
        if (n == 0 || n >= sizeof(a->name))
            return op_errorf(s, "parameter '%s': '%s': expected a name after AS", key, item);
        memcpy(a->name, rest, n);
        a->name[n] = '\0';
        rest += n;
    } else if (a->arg && expr_field(a->arg) >= 0) {
        snprintf(a->name, sizeof(a->name), "%s_%.50s", fn_names[a->fn], in->fields[expr_field(a->arg)].name);
    } else if (star) {
        snprintf(a->name, sizeof(a->name), "count");
    } else {
        snprintf(a->name, sizeof(a->name), "agg%u", idx);
    }
    if (*skip_ws(rest) != '\0')
        return op_errorf(s, "parameter '%s': '%s': unexpected '%s'", key, item, skip_ws(rest));
    te_type_t t = a->arg ? expr_type(a->arg) : TE_TYPE_INT64;
    int num = t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP || t == TE_TYPE_DOUBLE;
    switch (a->fn) {
    case AGG_COUNT:
    case AGG_COUNT_DISTINCT: a->type = TE_TYPE_INT64; break;
    case AGG_SUM:
        if (!num)
            return op_errorf(s, "parameter '%s': '%s': sum needs a number, got a %s", key, item, te_type_name(t));
        a->type = t == TE_TYPE_DOUBLE ? TE_TYPE_DOUBLE : TE_TYPE_INT64;
        break;
    case AGG_AVG:
        if (!num)
            return op_errorf(s, "parameter '%s': '%s': avg needs a number, got a %s", key, item, te_type_name(t));
        a->type = TE_TYPE_DOUBLE;
        break;
    default:
        if (t == 0 || t == TE_TYPE_BOOL)
            return op_errorf(s, "parameter '%s': '%s': min/max need a number, timestamp or string", key, item);
        a->type = t;
        break;
    }
    return 0;
}

/* Splits the list at top-level commas into items. */
static int split_items(op_setup_t *s, const char *key, const char *v, op_list_t *out)
{
    memset(out, 0, sizeof(*out));
    if (*skip_ws(v) == '[')
        return op_get_list(s, key, 1, OP_AGG_MAX, out);
    if ((out->items = calloc(OP_AGG_MAX, sizeof(char *))) == NULL)
        return op_errorf(s, "out of memory");
    const char *p = v, *start = v;
    int depth = 0;
    char q = 0;
    for (;; p++) {
        if (q) {
            if (*p == q)
                q = 0;
            else if (*p == '\0')
                break;
            continue;
        }
        if (*p == '\'' || *p == '"' || *p == '`')
            q = *p;
        else if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        if ((*p == ',' && depth == 0) || *p == '\0') {
            if (out->n == OP_AGG_MAX) {
                op_list_free(out);
                return op_errorf(s, "parameter '%s' has more than %d aggregates", key, OP_AGG_MAX);
            }
            if ((out->items[out->n] = strndup(start, (size_t)(p - start))) == NULL) {
                op_list_free(out);
                return op_errorf(s, "out of memory");
            }
            out->n++;
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    return 0;
}

static int acc_add_field(op_setup_t *s, op_aggs_t *ag, te_type_t t, int nullable)
{
    if (ag->acc.n_fields >= TE_ROW_MAX_FIELDS)
        return op_errorf(s, "too many aggregates (their state would exceed %u fields)", TE_ROW_MAX_FIELDS);
    static const char *const names[TE_ROW_MAX_FIELDS] = {
        "a0",  "a1",  "a2",  "a3",  "a4",  "a5",  "a6",  "a7",  "a8",  "a9",  "a10", "a11",
        "a12", "a13", "a14", "a15", "a16", "a17", "a18", "a19", "a20", "a21", "a22", "a23",
        "a24", "a25", "a26", "a27", "a28", "a29", "a30", "a31", "a32", "a33", "a34", "a35",
        "a36", "a37", "a38", "a39", "a40", "a41", "a42", "a43", "a44", "a45", "a46", "a47"};
    ag->acc_fields[ag->acc.n_fields] = (te_field_t){names[ag->acc.n_fields], t, nullable};
    ag->acc.n_fields++;
    if (te_type_is_var(t))
        ag->fixed = 0;
    return 0;
}

int op_aggs_parse(op_setup_t *s, const te_schema_t *in, const char *key, op_aggs_t *ag)
{
    return op_aggs_parse_text(s, in, key, s->api->param(s->ctx, key), ag);
}

int op_aggs_parse_text(op_setup_t *s, const te_schema_t *in, const char *key, const char *v, op_aggs_t *ag)
{
    memset(ag, 0, sizeof(*ag));
    ag->acc.fields = ag->acc_fields;
    ag->fixed = 1;
    if (v == NULL)
        return op_errorf(s, "missing required parameter '%s' (e.g. \"count(*) AS n, max(price)\")", key);
    op_list_t l;
    if (split_items(s, key, v, &l) != 0)
        return -1;
    int rc = acc_add_field(s, ag, TE_TYPE_INT64, 0); /* the row count */
    for (uint32_t i = 0; i < l.n && rc == 0; i++) {
        op_agg_t *a = &ag->a[ag->n++];
        if ((rc = parse_item(s, key, l.items[i], in, a, i)) != 0)
            break;
        for (uint32_t k = 0; k + 1 < ag->n; k++)
            if (strcmp(ag->a[k].name, a->name) == 0)
                rc =
                    op_errorf(s, "parameter '%s': two aggregates are named '%s' (name one with AS)", key, a->name);
        a->acc = ag->acc.n_fields;
        ag->distinct |= a->fn == AGG_COUNT_DISTINCT;
        ag->exprs |= a->arg != NULL || a->filter != NULL;
        if (rc == 0)
            rc = a->fn == AGG_AVG
                     ? acc_add_field(s, ag, TE_TYPE_DOUBLE, 1) || acc_add_field(s, ag, TE_TYPE_INT64, 0)
                 : a->fn == AGG_COUNT || a->fn == AGG_COUNT_DISTINCT ? acc_add_field(s, ag, TE_TYPE_INT64, 0)
                                                                     : acc_add_field(s, ag, a->type, 1);
    }
    op_list_free(&l);
    if (rc != 0)
        op_aggs_free(ag);
    return rc;
}

uint64_t op_aggs_fields_read(const op_aggs_t *ag)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < ag->n; i++)
        m |= (ag->a[i].arg ? expr_fields_read(ag->a[i].arg) : 0) |
             (ag->a[i].filter ? expr_fields_read(ag->a[i].filter) : 0);
    return m;
}

void op_aggs_free(op_aggs_t *ag)
{
    for (uint32_t i = 0; i < ag->n; i++) {
        expr_free(ag->a[i].arg);
        expr_free(ag->a[i].filter);
        ag->a[i].arg = ag->a[i].filter = NULL;
    }
    expr_env_free(&ag->env);
    ag->n = 0;
}

int op_aggs_schema(op_setup_t *s, const op_aggs_t *ag, op_schema_t *o)
{
    for (uint32_t i = 0; i < ag->n; i++) {
        const op_agg_t *a = &ag->a[i];
        int nullable = a->fn != AGG_COUNT && a->fn != AGG_COUNT_DISTINCT;
        if (op_schema_add_named(s, o, a->name, a->type, nullable) != 0)
            return -1;
    }
    return 0;
}

int op_aggs_init(const op_aggs_t *ag, te_row_builder_t *b)
{
    if (te_row_builder_begin(b, ag->acc.n_fields) != 0)
        return -1;
    for (uint32_t f = 0; f < ag->acc.n_fields; f++)
        if (!ag->acc_fields[f].nullable)
            te_row_set_i64(b, f, 0);
    te_record_t r; /* writes the header: from here on the accumulator is b->buf[0..b->len) */
    return te_row_builder_finish(b, 0, &r);
}

/* ---- fixed accumulators, in place ---- */

static int acc_null(const uint8_t *acc, uint32_t f)
{
    return (int)((op_acc_hdr(acc) >> (TE_ROW_NULL_SHIFT + f)) & 1);
}

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* Folds one value into fixed field f of aggregate a (sum, min, max, avg). */
static void fold(uint8_t *acc, const op_agg_t *a, const expr_value_t *v)
{
    uint32_t f = a->acc;
    int empty = acc_null(acc, f);
    switch (a->fn) {
    case AGG_SUM:
        if (a->type == TE_TYPE_DOUBLE)
            op_acc_set(
                acc, f,
                d2u((empty ? 0 : u2d(op_acc_get(acc, f))) + (v->type == TE_TYPE_DOUBLE ? v->d : (double)v->i)));
        else
            op_acc_set(acc, f, (empty ? 0 : op_acc_get(acc, f)) + (uint64_t)v->i);
        return;
    case AGG_AVG:
        op_acc_set(acc, f,
                   d2u((empty ? 0 : u2d(op_acc_get(acc, f))) + (v->type == TE_TYPE_DOUBLE ? v->d : (double)v->i)));
        op_acc_set(acc, f + 1, op_acc_get(acc, f + 1) + 1);
        return;
    case AGG_MIN:
    case AGG_MAX: {
        int less;
        if (a->type == TE_TYPE_DOUBLE)
            less =
                !empty && (a->fn == AGG_MIN ? v->d >= u2d(op_acc_get(acc, f)) : v->d <= u2d(op_acc_get(acc, f)));
        else
            less = !empty &&
                   (a->fn == AGG_MIN ? v->i >= (int64_t)op_acc_get(acc, f) : v->i <= (int64_t)op_acc_get(acc, f));
        if (!less)
            op_acc_set(acc, f, a->type == TE_TYPE_DOUBLE ? d2u(v->d) : (uint64_t)v->i);
        return;
    }
    default: return;
    }
}

int op_aggs_add_exprs(op_aggs_t *ag, uint8_t *acc, const te_record_t *in)
{
    expr_env_reset(&ag->env);
    for (uint32_t i = 0; i < ag->n; i++) {
        op_agg_t *a = &ag->a[i];
        if (a->filter) {
            int t = expr_test(a->filter, in, &ag->env);
            if (t < 0)
                return -1;
            if (t == 0)
                continue;
        }
        if (a->arg == NULL) {
            op_acc_set(acc, a->acc, op_acc_get(acc, a->acc) + 1);
            continue;
        }
        expr_value_t v;
        if (expr_eval(a->arg, in, &ag->env, &v) != 0)
            return -1;
        if (v.null)
            continue;
        if (a->fn == AGG_COUNT)
            op_acc_set(acc, a->acc, op_acc_get(acc, a->acc) + 1);
        else
            fold(acc, a, &v);
    }
    return 0;
}

void op_aggs_merge_fixed(const op_aggs_t *ag, uint8_t *dst, const uint8_t *src)
{
    op_acc_set(dst, 0, op_acc_get(dst, 0) + op_acc_get(src, 0));
    for (uint32_t i = 0; i < ag->n; i++) {
        const op_agg_t *a = &ag->a[i];
        uint32_t f = a->acc;
        if (a->fn == AGG_COUNT || a->fn == AGG_COUNT_DISTINCT) {
            op_acc_set(dst, f, op_acc_get(dst, f) + op_acc_get(src, f));
            continue;
        }
        if (acc_null(src, f))
            continue;
        expr_value_t v = {.type = a->type};
        if (a->type == TE_TYPE_DOUBLE || a->fn == AGG_AVG) {
            v.type = TE_TYPE_DOUBLE;
            v.d = u2d(op_acc_get(src, f));
        } else {
            v.i = (int64_t)op_acc_get(src, f);
        }
        if (a->fn == AGG_AVG) {
            uint64_t cnt = op_acc_get(dst, f + 1) + op_acc_get(src, f + 1);
            op_acc_set(dst, f, d2u((acc_null(dst, f) ? 0 : u2d(op_acc_get(dst, f))) + v.d));
            op_acc_set(dst, f + 1, cnt);
        } else {
            fold(dst, a, &v);
        }
    }
}

int op_aggs_empty_fixed(const op_aggs_t *ag, const uint8_t *acc)
{
    (void)ag;
    return op_acc_get(acc, 0) == 0;
}

/* ---- any accumulator (strings rebuild the row) ---- */

/* count(DISTINCT): the value's key bytes. */
static const uint8_t *value_bytes(const expr_value_t *v, uint8_t tmp[8], uint32_t *n)
{
    if (v->type == TE_TYPE_STRING || v->type == TE_TYPE_BYTES) {
        *n = v->s.n;
        return v->s.p;
    }
    memcpy(tmp, &v->i, 8); /* the union's 8 bytes: int64, timestamp, bool or double */
    *n = 8;
    return tmp;
}

int op_aggs_add(op_aggs_t *ag, te_row_builder_t *b, const te_record_t *in, op_agg_seen_fn seen, void *arg)
{
    if (ag->fixed && !ag->distinct)
        return op_aggs_add_fixed(ag, b->buf, in);
    /* strings: keep a copy of the old row, fold fixed fields in place, rebuild when a
     * string changes */
    uint8_t *acc = b->buf;
    op_acc_set(acc, 0, op_acc_get(acc, 0) + 1);
    expr_env_reset(&ag->env);
    for (uint32_t i = 0; i < ag->n; i++) {
        op_agg_t *a = &ag->a[i];
        if (a->filter) {
            int t = expr_test(a->filter, in, &ag->env);
            if (t < 0)
                return -1;
            if (t == 0)
                continue;
        }
        expr_value_t v;
        if (a->arg != NULL) {
            if (expr_eval(a->arg, in, &ag->env, &v) != 0)
                return -1;
            if (v.null)
                continue;
        }
        if (a->fn == AGG_COUNT) {
            op_acc_set(b->buf, a->acc, op_acc_get(b->buf, a->acc) + 1);
        } else if (a->fn == AGG_COUNT_DISTINCT) {
            uint8_t tmp[8];
            uint32_t n;
            const uint8_t *p = value_bytes(&v, tmp, &n);
            int r = seen(arg, i, p, n);
            if (r < 0)
                return -1;
            if (r == 0)
                op_acc_set(b->buf, a->acc, op_acc_get(b->buf, a->acc) + 1);
        } else if (!te_type_is_var(a->type)) {
            fold(b->buf, a, &v);
        } else { /* string min / max: compare with the current one, set when it wins */
            te_record_t cur = {b->buf, b->len, 0};
            uint32_t cn;
            const uint8_t *cp = te_row_get_str(&cur, a->acc, &cn);
            int c = 0;
            if (cp != NULL) {
                uint32_t m = cn < v.s.n ? cn : v.s.n;
                c = m ? memcmp(v.s.p, cp, m) : 0;
                if (c == 0)
                    c = v.s.n < cn ? -1 : v.s.n > cn;
            }
            if (cp == NULL || (a->fn == AGG_MIN ? c < 0 : c > 0)) { /* the old bytes stay until compacted */
                if (te_row_builder_reserve(b, (size_t)b->len + v.s.n) != 0)
                    return -1;
                memcpy(b->buf + b->len, v.s.p, v.s.n);
                op_acc_set(b->buf, a->acc, (uint64_t)b->len | (uint64_t)v.s.n << 32);
                b->len += v.s.n;
            }
        }
    }
    /* compact when the tail grew past twice what its strings need */
    if (!ag->fixed) {
        te_record_t cur = {b->buf, b->len, 0};
        uint32_t need = op_aggs_acc_size(ag);
        for (uint32_t f = 0; f < ag->acc.n_fields; f++)
            if (te_type_is_var(ag->acc_fields[f].type)) {
                uint32_t n;
                te_row_get_str(&cur, f, &n);
                need += n;
            }
        if (b->len > 2 * need + 64) {
            te_row_builder_t c = {0};
            te_row_builder_begin(&c, ag->acc.n_fields);
            for (uint32_t f = 0; f < ag->acc.n_fields; f++)
                te_row_copy_field(&c, f, &cur, f, ag->acc_fields[f].type);
            te_record_t r;
            if (te_row_builder_finish(&c, 0, &r) != 0) {
                te_row_builder_free(&c);
                return -1;
            }
            te_row_builder_free(b);
            *b = c;
        }
    }
    return b->failed ? -1 : 0;
}

void op_aggs_result(const op_aggs_t *ag, const te_record_t *acc, te_row_builder_t *b, uint32_t first)
{
    for (uint32_t i = 0; i < ag->n; i++) {
        const op_agg_t *a = &ag->a[i];
        uint32_t f = a->acc, o = first + i;
        if (a->fn == AGG_AVG) {
            int64_t cnt = te_row_get_i64(acc, f + 1);
            if (cnt == 0 || te_row_is_null(acc, f))
                te_row_set_null(b, o);
            else
                te_row_set_f64(b, o, te_row_get_f64(acc, f) / (double)cnt);
        } else {
            te_row_copy_field(b, o, acc, f,
                              a->fn == AGG_COUNT || a->fn == AGG_COUNT_DISTINCT ? TE_TYPE_INT64 : a->type);
        }
    }
}
