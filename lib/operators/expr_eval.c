/*
 * expr_eval — evaluation of compiled expressions (see expr.h): one switch per node,
 * values by copy, computed strings in the env's arena of chunks (a chunk never moves,
 * so earlier results stay valid while later ones are computed; reset per row).
 *
 * Threading: the env belongs to one operator instance; the tree is read-only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/expr_internal.h"

#define CHUNK_MIN 4096

struct expr_chunk {
    expr_chunk_t *next;
    size_t cap, used;
    uint8_t data[];
};

static uint8_t *arena_alloc(expr_env_t *env, size_t n)
{
    expr_chunk_t *c = env->cur;
    while (c != NULL && c->cap - c->used < n)
        c = c->next;
    if (c == NULL) {
        size_t cap = n > CHUNK_MIN ? n : CHUNK_MIN;
        c = malloc(sizeof(*c) + cap);
        if (c == NULL) {
            env->oom = 1;
            return NULL;
        }
        c->cap = cap;
        c->used = 0;
        c->next = env->chunks;
        env->chunks = c;
    }
    env->cur = c;
    uint8_t *p = c->data + c->used;
    c->used += n;
    return p;
}

void expr_env_reset(expr_env_t *env)
{
    for (expr_chunk_t *c = env->chunks; c; c = c->next)
        c->used = 0;
    env->cur = env->chunks;
}

void expr_env_free(expr_env_t *env)
{
    expr_chunk_t *c = env->chunks;
    while (c) {
        expr_chunk_t *n = c->next;
        free(c);
        c = n;
    }
    env->chunks = env->cur = NULL;
}

/* ---- values ---- */

static void set_null(expr_value_t *o, te_type_t t)
{
    o->type = t;
    o->null = 1;
    o->i = 0;
}

static void set_i(expr_value_t *o, te_type_t t, int64_t v)
{
    o->type = t;
    o->null = 0;
    o->i = v;
}

static void set_d(expr_value_t *o, double v)
{
    o->type = TE_TYPE_DOUBLE;
    o->null = 0;
    o->d = v;
}

static void set_s(expr_value_t *o, const uint8_t *p, uint32_t n)
{
    o->type = TE_TYPE_STRING;
    o->null = 0;
    o->s.p = p ? p : (const uint8_t *)"";
    o->s.n = n;
}

static double num_d(const expr_value_t *v) { return v->type == TE_TYPE_DOUBLE ? v->d : (double)v->i; }

static int64_t num_i(const expr_value_t *v)
{
    if (v->type != TE_TYPE_DOUBLE)
        return v->i;
    return v->d >= 9.2e18 ? INT64_MAX : v->d <= -9.2e18 ? INT64_MIN : (int64_t)v->d;
}

/* A copy of v converted to type t (a number widened, a timestamp as int64). */
static void convert_num(expr_value_t *v, te_type_t t)
{
    if (v->null || v->type == t)
        return;
    if (t == TE_TYPE_DOUBLE && v->type != TE_TYPE_DOUBLE)
        set_d(v, (double)v->i);
    else if ((t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP) && v->type != TE_TYPE_DOUBLE)
        v->type = t;
}

static int cmp_values(const expr_t *e, const expr_value_t *a, const expr_value_t *b)
{
    switch (e->dom) {
    case D_DOUBLE: {
        double x = num_d(a), y = num_d(b);
        return x < y ? -1 : x > y ? 1 : 0;
    }
    case D_STRING: {
        uint32_t n = a->s.n < b->s.n ? a->s.n : b->s.n;
        int c = n ? memcmp(a->s.p, b->s.p, n) : 0;
        return c != 0 ? (c < 0 ? -1 : 1) : a->s.n < b->s.n ? -1 : a->s.n > b->s.n ? 1 : 0;
    }
    default: return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    }
}

static int like(const uint8_t *s, uint32_t sn, const uint8_t *p, uint32_t pn)
{
    uint32_t i = 0, j = 0, star_j = UINT32_MAX, star_i = 0;
    while (i < sn) {
        if (j < pn && (p[j] == '_' || p[j] == s[i])) {
            i++, j++;
        } else if (j < pn && p[j] == '%') {
            star_j = j++;
            star_i = i;
        } else if (star_j != UINT32_MAX) {
            j = star_j + 1;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (j < pn && p[j] == '%')
        j++;
    return j == pn;
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm, UTC). */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

typedef struct tm_utc {
    int64_t year;
    unsigned month, day, hour, minute, second, milli;
} tm_utc_t;

static tm_utc_t utc_of(int64_t ms)
{
    tm_utc_t t;
    int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
    int64_t rem = ms - days * 86400000;
    civil(days, &t.year, &t.month, &t.day);
    t.hour = (unsigned)(rem / 3600000);
    t.minute = (unsigned)(rem / 60000 % 60);
    t.second = (unsigned)(rem / 1000 % 60);
    t.milli = (unsigned)(rem % 1000);
    return t;
}

static void date_format(expr_env_t *env, int64_t ms, const uint8_t *pat, uint32_t pn, expr_value_t *o)
{
    tm_utc_t t = utc_of(ms);
    uint8_t *buf = arena_alloc(env, (size_t)pn * 4 + 16);
    if (buf == NULL)
        return set_null(o, TE_TYPE_STRING);
    size_t n = 0;
    for (uint32_t i = 0; i < pn;) {
        uint32_t run = 1;
        while (i + run < pn && pat[i + run] == pat[i])
            run++;
        long long v = -1;
        switch (pat[i]) {
        case 'y': v = run == 2 ? t.year % 100 : t.year; break;
        case 'M': v = t.month; break;
        case 'd': v = t.day; break;
        case 'H': v = t.hour; break;
        case 'm': v = t.minute; break;
        case 's': v = t.second; break;
        case 'S': v = t.milli; break;
        default: break;
        }
        if (v < 0) {
            memcpy(buf + n, pat + i, run);
            n += run;
        } else {
            n += (size_t)sprintf((char *)buf + n, "%0*lld", (int)(run > 9 ? 9 : run), v);
        }
        i += run;
    }
    set_s(o, buf, (uint32_t)n);
}

static void cast_value(const expr_t *e, expr_env_t *env, expr_value_t *v, expr_value_t *o)
{
    te_type_t to = e->type, from = v->type;
    if (v->null)
        return set_null(o, to);
    if (to == TE_TYPE_STRING) {
        if (from == TE_TYPE_STRING || from == TE_TYPE_BYTES)
            return set_s(o, v->s.p, v->s.n);
        uint8_t *buf = arena_alloc(env, 40);
        if (buf == NULL)
            return set_null(o, to);
        int n = from == TE_TYPE_DOUBLE ? te_format_double((char *)buf, 40, v->d)
                : from == TE_TYPE_BOOL ? sprintf((char *)buf, "%s", v->i ? "true" : "false")
                                       : sprintf((char *)buf, "%lld", (long long)v->i);
        return set_s(o, buf, (uint32_t)n);
    }
    if (from == TE_TYPE_STRING || from == TE_TYPE_BYTES) {
        char tmp[64];
        if (v->s.n == 0 || v->s.n >= sizeof(tmp))
            return set_null(o, to);
        memcpy(tmp, v->s.p, v->s.n);
        tmp[v->s.n] = '\0';
        char *end;
        if (to == TE_TYPE_DOUBLE) {
            double d = strtod(tmp, &end);
            return *end ? set_null(o, to) : set_d(o, d);
        }
        if (to == TE_TYPE_BOOL)
            return strcmp(tmp, "true") == 0    ? set_i(o, to, 1)
                   : strcmp(tmp, "false") == 0 ? set_i(o, to, 0)
                                               : set_null(o, to);
        long long x = strtoll(tmp, &end, 10);
        return *end ? set_null(o, to) : set_i(o, to, x);
    }
    if (to == TE_TYPE_DOUBLE)
        return set_d(o, num_d(v));
    if (to == TE_TYPE_BOOL)
        return set_i(o, to, num_i(v) != 0);
    return set_i(o, to, num_i(v));
}

/* ---- functions ---- */

static void eval_func(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    expr_value_t a[3];
    uint32_t na = e->nargs < 3 ? e->nargs : 3;
    if (e->fn == F_COALESCE || e->fn == F_IF || e->fn == F_CONCAT)
        na = 0; /* evaluated below, lazily */
    for (uint32_t i = 0; i < na; i++) {
        expr_eval_node(e->args[i], rec, env, &a[i]);
        if (a[i].null && e->fn != F_ROWTIME)
            return set_null(o, e->type);
    }
    switch (e->fn) {
    case F_LOWER:
    case F_UPPER: {
        uint8_t *buf = arena_alloc(env, a[0].s.n ? a[0].s.n : 1);
        if (buf == NULL)
            return set_null(o, e->type);
        for (uint32_t i = 0; i < a[0].s.n; i++) {
            uint8_t c = a[0].s.p[i];
            buf[i] = e->fn == F_LOWER ? (c >= 'A' && c <= 'Z' ? c + 32 : c) : (c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        return set_s(o, buf, a[0].s.n);
    }
    case F_LENGTH: return set_i(o, TE_TYPE_INT64, a[0].s.n);
    case F_TRIM: {
        const uint8_t *p = a[0].s.p;
        uint32_t n = a[0].s.n;
        while (n && (*p == ' ' || *p == '\t'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        return set_s(o, p, n);
    }
    case F_CONCAT: {
        expr_value_t parts[16];
        size_t total = 0;
        for (uint32_t i = 0; i < e->nargs; i++) {
            expr_eval_node(e->args[i], rec, env, &parts[i]);
            if (parts[i].null)
                return set_null(o, e->type);
            total += parts[i].s.n;
        }
        uint8_t *buf = arena_alloc(env, total ? total : 1), *w = buf;
        if (buf == NULL)
            return set_null(o, e->type);
        for (uint32_t i = 0; i < e->nargs; i++) {
            memcpy(w, parts[i].s.p, parts[i].s.n);
            w += parts[i].s.n;
        }
        return set_s(o, buf, (uint32_t)total);
    }
    case F_SUBSTR: {
        int64_t pos = a[1].i, n = a[0].s.n;
        int64_t from = pos > 0 ? pos - 1 : pos < 0 ? n + pos : 0;
        if (from < 0)
            from = 0;
        int64_t len = e->nargs > 2 ? a[2].i : n - from;
        if (from > n || len < 0)
            len = 0;
        if (from + len > n)
            len = n - from;
        return set_s(o, a[0].s.p + from, (uint32_t)(len > 0 ? len : 0));
    }
    case F_SPLIT_INDEX: {
        const uint8_t *p = a[0].s.p, *end = p + a[0].s.n, *sep = a[1].s.p;
        uint32_t sl = a[1].s.n;
        int64_t want = a[2].i;
        if (want < 0)
            return set_null(o, e->type);
        for (int64_t k = 0;; k++) {
            const uint8_t *q = p;
            while (q + sl <= end && memcmp(q, sep, sl) != 0)
                q++;
            if (q + sl > end)
                q = end;
            if (k == want)
                return set_s(o, p, (uint32_t)(q - p));
            if (q == end)
                return set_null(o, e->type);
            p = q + sl;
        }
    }
    case F_REGEXP_EXTRACT:
    case F_REGEXP: {
        /* regexec needs a NUL-terminated subject */
        char *subj = (char *)arena_alloc(env, (size_t)a[0].s.n + 1);
        if (subj == NULL)
            return set_null(o, e->type);
        memcpy(subj, a[0].s.p, a[0].s.n);
        subj[a[0].s.n] = '\0';
        regmatch_t m[10];
        int hit = regexec(&e->re, subj, e->fn == F_REGEXP ? 0 : 10, e->fn == F_REGEXP ? NULL : m, 0) == 0;
        if (e->fn == F_REGEXP)
            return set_i(o, TE_TYPE_BOOL, hit);
        int64_t g = e->nargs > 2 ? a[2].i : 1;
        if (!hit || g < 0 || g > 9 || m[g].rm_so < 0)
            return set_null(o, e->type);
        return set_s(o, (const uint8_t *)subj + m[g].rm_so, (uint32_t)(m[g].rm_eo - m[g].rm_so));
    }
    case F_COUNT_CHAR: {
        int64_t n = 0;
        for (uint32_t i = 0; i < a[0].s.n; i++)
            n += a[0].s.p[i] == a[1].s.p[0];
        return set_i(o, TE_TYPE_INT64, n);
    }
    case F_HOUR: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).hour);
    case F_MINUTE: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).minute);
    case F_SECOND: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).second);
    case F_DAY: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).day);
    case F_MONTH: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).month);
    case F_YEAR: return set_i(o, TE_TYPE_INT64, utc_of(a[0].i).year);
    case F_DATE_FORMAT: return date_format(env, a[0].i, a[1].s.p, a[1].s.n, o);
    case F_FLOOR: return a[0].type == TE_TYPE_DOUBLE ? set_d(o, floor(a[0].d)) : set_i(o, TE_TYPE_INT64, a[0].i);
    case F_CEIL: return a[0].type == TE_TYPE_DOUBLE ? set_d(o, ceil(a[0].d)) : set_i(o, TE_TYPE_INT64, a[0].i);
    case F_ABS:
        return a[0].type == TE_TYPE_DOUBLE
                   ? set_d(o, fabs(a[0].d))
                   : set_i(o, TE_TYPE_INT64, a[0].i < 0 ? (int64_t)(0 - (uint64_t)a[0].i) : a[0].i);
    case F_ROUND: {
        if (a[0].type != TE_TYPE_DOUBLE)
            return set_i(o, TE_TYPE_INT64, a[0].i);
        double f = e->nargs > 1 ? pow(10.0, (double)a[1].i) : 1.0;
        return set_d(o, round(a[0].d * f) / f);
    }
    case F_MOD:
        if (e->type == TE_TYPE_DOUBLE)
            return num_d(&a[1]) == 0 ? set_null(o, e->type) : set_d(o, fmod(num_d(&a[0]), num_d(&a[1])));
        if (a[1].i == 0 || (a[1].i == -1 && a[0].i == INT64_MIN))
            return a[1].i == 0 ? set_null(o, e->type) : set_i(o, TE_TYPE_INT64, 0);
        return set_i(o, TE_TYPE_INT64, a[0].i % a[1].i);
    case F_COALESCE:
        for (uint32_t i = 0; i < e->nargs; i++) {
            expr_eval_node(e->args[i], rec, env, o);
            if (!o->null) {
                convert_num(o, e->type);
                return;
            }
        }
        return set_null(o, e->type);
    case F_IF: {
        expr_value_t c;
        expr_eval_node(e->args[0], rec, env, &c);
        expr_eval_node(e->args[!c.null && c.i ? 1 : 2], rec, env, o);
        convert_num(o, e->type);
        return;
    }
    case F_ROWTIME:
        return rec->timestamp == TE_NO_TIMESTAMP ? set_null(o, e->type) : set_i(o, e->type, rec->timestamp);
    }
    set_null(o, e->type);
}

/* ---- operators ---- */

static inline void eval_field(const expr_t *e, const te_record_t *rec, expr_value_t *o)
{
    if (te_row_is_null(rec, e->field))
        return set_null(o, e->type);
    switch (e->type) {
    case TE_TYPE_DOUBLE: return set_d(o, te_row_get_f64(rec, e->field));
    case TE_TYPE_STRING:
    case TE_TYPE_BYTES: {
        uint32_t n;
        const uint8_t *p = te_row_get_str(rec, e->field, &n);
        set_s(o, p, n);
        o->type = e->type;
        return;
    }
    default: return set_i(o, e->type, te_row_get_i64(rec, e->field));
    }
}

/* An operand: fields and literals (most operands) without a call. */
static inline void eval_arg(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    if (e->op == X_FIELD)
        eval_field(e, rec, o);
    else if (e->op == X_LIT)
        *o = e->lit;
    else
        expr_eval_node(e, rec, env, o);
}

/* ---- fixed expressions (expr.h): straight from the slots ---- */

/* A fixed node's value: i or d by the node's type, which is also the type the general
 * evaluator gives it (type_node: a double operand makes a double, else an int64 or a
 * timestamp; a comparison a bool). */
typedef struct fx {
    union {
        int64_t i;
        double d;
    };
    int null;
} fx_t;

static int fx_type(te_type_t t) { return t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP || t == TE_TYPE_DOUBLE; }

/* 1 + the highest field node e reads, or -1 when it is not fixed. */
static int fixed_need(const expr_t *e)
{
    int need = 0;
    switch (e->op) {
    case X_LIT: return fx_type(e->type) && !e->lit.null ? 0 : -1;
    case X_FIELD: return fx_type(e->type) ? (int)e->field + 1 : -1;
    case X_NEG:
    case X_ADD:
    case X_SUB:
    case X_MUL:
    case X_DIV:
    case X_MOD:
        if (!fx_type(e->type) || (e->dom == D_DOUBLE) != (e->type == TE_TYPE_DOUBLE))
            return -1;
        break;
    case X_EQ:
    case X_NE:
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE:
        if (e->dom != D_INT && e->dom != D_DOUBLE)
            return -1;
        break;
    default: return -1;
    }
    for (uint32_t i = 0; i < e->nargs; i++) {
        int n = fixed_need(e->args[i]);
        if (n < 0 || (e->dom == D_INT && e->args[i]->type == TE_TYPE_DOUBLE))
            return -1;
        need = n > need ? n : need;
    }
    return need;
}

/* Marks e and its operator nodes: fixed_leaves when a fixed binary operator over two
 * fields or literals. */
static void mark_leaves(expr_t *e, int fixed)
{
    e->fixed_leaves = fixed && e->nargs == 2 && e->op != X_NEG &&
                      (e->args[0]->op == X_FIELD || e->args[0]->op == X_LIT) &&
                      (e->args[1]->op == X_FIELD || e->args[1]->op == X_LIT);
    for (uint32_t i = 0; i < e->nargs; i++)
        mark_leaves(e->args[i], fixed);
}

static double fx_d(const expr_t *e, fx_t v) { return e->type == TE_TYPE_DOUBLE ? v.d : (double)v.i; }

/* A field or a literal. */
static inline fx_t fx_leaf(const expr_t *e, const uint8_t *row)
{
    fx_t r = {.i = 0, .null = 0};
    if (e->op == X_FIELD) {
        r.null = (int)((te_row_load64(row) >> (TE_ROW_NULL_SHIFT + e->field)) & 1u);
        r.i = r.null ? 0 : (int64_t)te_row_load64(row + TE_ROW_HEADER + 8u * e->field);
    } else {
        r.i = e->lit.i; /* the union's bits: a double literal's too */
    }
    return r;
}

/* A comparison's result from a < b and a > b (as cmp_values: unordered compares equal). */
static inline int64_t fx_cmp(xop_t op, int lt, int gt)
{
    switch (op) {
    case X_EQ: return !lt && !gt;
    case X_NE: return lt || gt;
    case X_LT: return lt;
    case X_LE: return !gt;
    case X_GT: return gt;
    default: return !lt; /* X_GE */
    }
}

/* Operator op over two doubles and over two int64s (wrapping, as Java's long), as
 * eval_arith and cmp_values: the result (a comparison's as an int64 0 or 1), null on a
 * zero divisor. One core for the tree walk (fx_apply) and the kernels, which pass a
 * constant op, so their switch folds away. */
static inline __attribute__((always_inline)) fx_t fx_op_dbl(xop_t op, double x, double y)
{
    fx_t r = {.i = 0, .null = 0};
    switch (op) {
    case X_ADD: r.d = x + y; return r;
    case X_SUB: r.d = x - y; return r;
    case X_MUL: r.d = x * y; return r;
    case X_DIV:
    case X_MOD:
        if (y == 0)
            return (fx_t){.i = 0, .null = 1};
        r.d = op == X_DIV ? x / y : fmod(x, y);
        return r;
    default: r.i = fx_cmp(op, x<y, x> y); return r;
    }
}

static inline __attribute__((always_inline)) fx_t fx_op_int(xop_t op, int64_t a, int64_t b)
{
    fx_t r = {.i = 0, .null = 0};
    uint64_t x = (uint64_t)a, y = (uint64_t)b;
    switch (op) {
    case X_ADD: r.i = (int64_t)(x + y); return r;
    case X_SUB: r.i = (int64_t)(x - y); return r;
    case X_MUL: r.i = (int64_t)(x * y); return r;
    case X_DIV:
    case X_MOD:
        if (b == 0)
            return (fx_t){.i = 0, .null = 1};
        if (b == -1)
            r.i = op == X_DIV ? (int64_t)(0 - x) : 0;
        else
            r.i = op == X_DIV ? a / b : a % b;
        return r;
    default: r.i = fx_cmp(op, a<b, a> b); return r;
    }
}

/* Binary operator node e over its operands' values a and b. */
static inline fx_t fx_apply(const expr_t *e, fx_t a, fx_t b)
{
    if (a.null || b.null)
        return (fx_t){.i = 0, .null = 1};
    if (e->dom == D_DOUBLE)
        return fx_op_dbl(e->op, fx_d(e->args[0], a), fx_d(e->args[1], b));
    return fx_op_int(e->op, a.i, b.i);
}

static fx_t fx_node(const expr_t *e, const uint8_t *row);

/* A fixed node: fields, literals and operators over two of them (most operands:
 * auction % 123, price * 0.908) without a call. */
static inline fx_t fx_eval(const expr_t *e, const uint8_t *row)
{
    if (e->op == X_FIELD || e->op == X_LIT)
        return fx_leaf(e, row);
    if (e->fixed_leaves)
        return fx_apply(e, fx_leaf(e->args[0], row), fx_leaf(e->args[1], row));
    return fx_node(e, row);
}

/* An operator node. */
static fx_t fx_node(const expr_t *e, const uint8_t *row)
{
    fx_t a = fx_eval(e->args[0], row);
    if (e->op != X_NEG)
        return fx_apply(e, a, fx_eval(e->args[1], row));
    if (a.null)
        return a;
    if (e->dom == D_DOUBLE)
        a.d = -a.d;
    else
        a.i = (int64_t)(0 - (uint64_t)a.i);
    return a;
}

/* The root: an operator over two operands each a field, a literal or an operator over
 * two of those (auction % 123 = 0) without a call. */
static inline fx_t fx_root(const expr_t *e, const uint8_t *row)
{
    if (e->fx_kernel) {
        expr_fixed_value_t v = e->fx_kernel(e, row);
        fx_t r;
        r.null = (int)v.null;
        r.i = (int64_t)v.slot;
        return r;
    }
    if (e->nargs == 2 && e->op != X_NEG)
        return fx_apply(e, fx_eval(e->args[0], row), fx_eval(e->args[1], row));
    return fx_eval(e, row);
}

/* ---- kernels: a fixed root over two leaves, one function per domain and operator ---- */

static inline int64_t fk_int(const expr_t *e, int k, const uint8_t *row)
{
    const struct fx_operand *o = &e->fx_opnd[k];
    return o->is_lit ? (int64_t)o->bits : (int64_t)te_row_load64(row + o->off);
}

static inline double fk_dbl(const expr_t *e, int k, const uint8_t *row)
{
    const struct fx_operand *o = &e->fx_opnd[k];
    fx_t v;
    v.i = o->is_lit ? (int64_t)o->bits : (int64_t)te_row_load64(row + o->off);
    return o->to_dbl ? (double)v.i : v.d;
}

/* Kernel `name`: operator op over operands read by fk_int or fk_dbl, through fx_op_int
 * or fx_op_dbl. */
#define FK(name, op, read, core)                                         \
    static expr_fixed_value_t name(const expr_t *e, const uint8_t *row)  \
    {                                                                    \
        if ((te_row_load64(row) >> TE_ROW_NULL_SHIFT) & e->fx_reads)     \
            return (expr_fixed_value_t){0, 1};                           \
        fx_t r = core(op, read(e, 0, row), read(e, 1, row));             \
        return (expr_fixed_value_t){r.null ? 0 : (uint64_t)r.i, r.null}; \
    }

/* clang-format off */
FK(fk_add_i, X_ADD, fk_int, fx_op_int) FK(fk_add_d, X_ADD, fk_dbl, fx_op_dbl)
FK(fk_sub_i, X_SUB, fk_int, fx_op_int) FK(fk_sub_d, X_SUB, fk_dbl, fx_op_dbl)
FK(fk_mul_i, X_MUL, fk_int, fx_op_int) FK(fk_mul_d, X_MUL, fk_dbl, fx_op_dbl)
FK(fk_div_i, X_DIV, fk_int, fx_op_int) FK(fk_div_d, X_DIV, fk_dbl, fx_op_dbl)
FK(fk_mod_i, X_MOD, fk_int, fx_op_int) FK(fk_mod_d, X_MOD, fk_dbl, fx_op_dbl)
FK(fk_eq_i, X_EQ, fk_int, fx_op_int)   FK(fk_eq_d, X_EQ, fk_dbl, fx_op_dbl)
FK(fk_ne_i, X_NE, fk_int, fx_op_int)   FK(fk_ne_d, X_NE, fk_dbl, fx_op_dbl)
FK(fk_lt_i, X_LT, fk_int, fx_op_int)   FK(fk_lt_d, X_LT, fk_dbl, fx_op_dbl)
FK(fk_le_i, X_LE, fk_int, fx_op_int)   FK(fk_le_d, X_LE, fk_dbl, fx_op_dbl)
FK(fk_gt_i, X_GT, fk_int, fx_op_int)   FK(fk_gt_d, X_GT, fk_dbl, fx_op_dbl)
FK(fk_ge_i, X_GE, fk_int, fx_op_int)   FK(fk_ge_d, X_GE, fk_dbl, fx_op_dbl)
    /* clang-format on */

    /* The kernels by operator: int64 domain, double domain. */
    static const struct {
    xop_t op;
    expr_fixed_value_t (*k[2])(const expr_t *, const uint8_t *);
} fk_table[] = {
    {X_ADD, {fk_add_i, fk_add_d}}, {X_SUB, {fk_sub_i, fk_sub_d}}, {X_MUL, {fk_mul_i, fk_mul_d}},
    {X_DIV, {fk_div_i, fk_div_d}}, {X_MOD, {fk_mod_i, fk_mod_d}}, {X_EQ, {fk_eq_i, fk_eq_d}},
    {X_NE, {fk_ne_i, fk_ne_d}},    {X_LT, {fk_lt_i, fk_lt_d}},    {X_LE, {fk_le_i, fk_le_d}},
    {X_GT, {fk_gt_i, fk_gt_d}},    {X_GE, {fk_ge_i, fk_ge_d}},
};

/* Gives fixed root e its kernel when it is a binary operator over two leaves. */
static void mark_kernel(expr_t *e)
{
    e->fx_kernel = NULL;
    if (e->fixed_need < 0 || !e->fixed_leaves)
        return;
    for (size_t i = 0; i < sizeof(fk_table) / sizeof(fk_table[0]); i++)
        if (fk_table[i].op == e->op)
            e->fx_kernel = fk_table[i].k[e->dom == D_DOUBLE];
    e->fx_reads = 0;
    for (int k = 0; k < 2; k++) {
        const expr_t *a = e->args[k];
        struct fx_operand *o = &e->fx_opnd[k];
        int dbl = e->dom == D_DOUBLE && a->type != TE_TYPE_DOUBLE; /* an int64 read as a double */
        *o = (struct fx_operand){0};
        if (a->op == X_FIELD) {
            o->off = TE_ROW_HEADER + 8u * a->field;
            o->to_dbl = (uint8_t)dbl;
            e->fx_reads |= 1ull << a->field;
        } else {
            fx_t v = {.i = a->lit.i};
            if (dbl)
                v.d = (double)a->lit.i;
            o->bits = (uint64_t)v.i;
            o->is_lit = 1;
        }
    }
}

void expr_fixed_mark(expr_t *e)
{
    e->fixed_need = fixed_need(e);
    mark_leaves(e, e->fixed_need >= 0);
    mark_kernel(e);
}

/* A fixed root without a kernel (its own function: expr_eval_fixed saves no registers
 * on the way to a kernel). */
static expr_fixed_value_t fx_tree(const expr_t *e, const uint8_t *row)
{
    fx_t v = fx_root(e, row);
    return (expr_fixed_value_t){(uint64_t)v.i, v.null};
}

expr_fixed_value_t expr_eval_fixed(const expr_t *e, const uint8_t *row)
{
    return e->fx_kernel ? e->fx_kernel(e, row) : fx_tree(e, row);
}

/* Whether rec holds the first n fields (as expr_eval_fixed needs). */
static inline int row_holds(const te_record_t *rec, int n)
{
    return rec->len >= TE_ROW_HEADER + 8u * (uint32_t)n && rec->data[0] >= n;
}

static void eval_arith(const expr_t *e, const expr_value_t *a, const expr_value_t *b, expr_value_t *o)
{
    if (a->null || b->null)
        return set_null(o, e->type);
    if (e->dom == D_DOUBLE) {
        double x = num_d(a), y = num_d(b);
        switch (e->op) {
        case X_ADD: return set_d(o, x + y);
        case X_SUB: return set_d(o, x - y);
        case X_MUL: return set_d(o, x * y);
        case X_DIV: return y == 0 ? set_null(o, e->type) : set_d(o, x / y);
        default: return y == 0 ? set_null(o, e->type) : set_d(o, fmod(x, y));
        }
    }
    uint64_t x = (uint64_t)a->i, y = (uint64_t)b->i; /* wrapping, as Java's long */
    switch (e->op) {
    case X_ADD: return set_i(o, e->type, (int64_t)(x + y));
    case X_SUB: return set_i(o, e->type, (int64_t)(x - y));
    case X_MUL: return set_i(o, e->type, (int64_t)(x * y));
    default:
        if (b->i == 0)
            return set_null(o, e->type);
        if (b->i == -1)
            return set_i(o, e->type, e->op == X_DIV ? (int64_t)(0 - x) : 0);
        return set_i(o, e->type, e->op == X_DIV ? a->i / b->i : a->i % b->i);
    }
}

/* SQL's AND / OR over TRUE, FALSE, NULL. */
static void eval_logic(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    expr_value_t a, b;
    int is_and = e->op == X_AND;
    expr_eval_node(e->args[0], rec, env, &a);
    if (!a.null && a.i == !is_and) /* FALSE AND x, TRUE OR x */
        return set_i(o, TE_TYPE_BOOL, !is_and);
    expr_eval_node(e->args[1], rec, env, &b);
    if (!b.null && b.i == !is_and)
        return set_i(o, TE_TYPE_BOOL, !is_and);
    if (a.null || b.null)
        return set_null(o, TE_TYPE_BOOL);
    return set_i(o, TE_TYPE_BOOL, is_and);
}

static void eval_in(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    expr_value_t x, y;
    expr_eval_node(e->args[0], rec, env, &x);
    if (x.null)
        return set_null(o, TE_TYPE_BOOL);
    int saw_null = 0;
    for (uint32_t i = 1; i < e->nargs; i++) {
        expr_eval_node(e->args[i], rec, env, &y);
        if (y.null) {
            saw_null = 1;
            continue;
        }
        if (cmp_values(e, &x, &y) == 0)
            return set_i(o, TE_TYPE_BOOL, !e->negate);
    }
    return saw_null ? set_null(o, TE_TYPE_BOOL) : set_i(o, TE_TYPE_BOOL, e->negate);
}

static void eval_case(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    uint32_t pairs = (e->nargs - (e->has_else ? 1 : 0)) / 2;
    for (uint32_t k = 0; k < pairs; k++) {
        expr_value_t c;
        expr_eval_node(e->args[2 * k], rec, env, &c);
        if (!c.null && c.i) {
            expr_eval_node(e->args[2 * k + 1], rec, env, o);
            convert_num(o, e->type);
            return;
        }
    }
    if (!e->has_else)
        return set_null(o, e->type);
    expr_eval_node(e->args[e->nargs - 1], rec, env, o);
    convert_num(o, e->type);
}

void expr_eval_node(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *o)
{
    expr_value_t a, b, c;
    switch (e->op) {
    case X_LIT: *o = e->lit; return;
    case X_FIELD: return eval_field(e, rec, o);
    case X_NEG:
        expr_eval_node(e->args[0], rec, env, &a);
        if (a.null)
            return set_null(o, e->type);
        return e->dom == D_DOUBLE ? set_d(o, -a.d) : set_i(o, e->type, (int64_t)(0 - (uint64_t)a.i));
    case X_ADD:
    case X_SUB:
    case X_MUL:
    case X_DIV:
    case X_MOD:
        eval_arg(e->args[0], rec, env, &a);
        eval_arg(e->args[1], rec, env, &b);
        return eval_arith(e, &a, &b, o);
    case X_CONCAT: {
        expr_eval_node(e->args[0], rec, env, &a);
        expr_eval_node(e->args[1], rec, env, &b);
        if (a.null || b.null)
            return set_null(o, e->type);
        uint8_t *buf = arena_alloc(env, (size_t)a.s.n + b.s.n + 1);
        if (buf == NULL)
            return set_null(o, e->type);
        memcpy(buf, a.s.p, a.s.n);
        memcpy(buf + a.s.n, b.s.p, b.s.n);
        return set_s(o, buf, a.s.n + b.s.n);
    }
    case X_EQ:
    case X_NE:
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE: {
        eval_arg(e->args[0], rec, env, &a);
        eval_arg(e->args[1], rec, env, &b);
        if (a.null || b.null)
            return set_null(o, TE_TYPE_BOOL);
        int c2 = cmp_values(e, &a, &b);
        int r = e->op == X_EQ   ? c2 == 0
                : e->op == X_NE ? c2 != 0
                : e->op == X_LT ? c2 < 0
                : e->op == X_LE ? c2 <= 0
                : e->op == X_GT ? c2 > 0
                                : c2 >= 0;
        return set_i(o, TE_TYPE_BOOL, r);
    }
    case X_AND:
    case X_OR: return eval_logic(e, rec, env, o);
    case X_NOT:
        expr_eval_node(e->args[0], rec, env, &a);
        return a.null ? set_null(o, TE_TYPE_BOOL) : set_i(o, TE_TYPE_BOOL, !a.i);
    case X_ISNULL: expr_eval_node(e->args[0], rec, env, &a); return set_i(o, TE_TYPE_BOOL, a.null != e->negate);
    case X_IN: return eval_in(e, rec, env, o);
    case X_BETWEEN:
        expr_eval_node(e->args[0], rec, env, &a);
        expr_eval_node(e->args[1], rec, env, &b);
        expr_eval_node(e->args[2], rec, env, &c);
        if (a.null || b.null || c.null)
            return set_null(o, TE_TYPE_BOOL);
        return set_i(o, TE_TYPE_BOOL, (cmp_values(e, &a, &b) >= 0 && cmp_values(e, &a, &c) <= 0) != e->negate);
    case X_LIKE:
        expr_eval_node(e->args[0], rec, env, &a);
        if (a.null)
            return set_null(o, TE_TYPE_BOOL);
        return set_i(o, TE_TYPE_BOOL, like(a.s.p, a.s.n, e->args[1]->lit.s.p, e->args[1]->lit.s.n) != e->negate);
    case X_CASE: return eval_case(e, rec, env, o);
    case X_CAST: expr_eval_node(e->args[0], rec, env, &a); return cast_value(e, env, &a, o);
    case X_FUNC: return eval_func(e, rec, env, o);
    }
    set_null(o, e->type);
}

int expr_eval(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *out)
{
    if (e->fixed_need >= 0 && row_holds(rec, e->fixed_need)) {
        fx_t v = fx_root(e, rec->data);
        out->type = e->type;
        out->null = v.null;
        out->i = v.i;
        return 0;
    }
    env->oom = 0;
    expr_eval_node(e, rec, env, out);
    convert_num(out, e->type);
    return env->oom ? -1 : 0;
}

int expr_test(const expr_t *e, const te_record_t *rec, expr_env_t *env)
{
    if (e->fixed_need >= 0 && row_holds(rec, e->fixed_need)) {
        fx_t v = fx_root(e, rec->data);
        return !v.null && v.i != 0;
    }
    expr_value_t v;
    if (expr_eval(e, rec, env, &v) != 0)
        return -1;
    return !v.null && v.i != 0;
}

void expr_value_set(te_row_builder_t *b, uint32_t i, const expr_value_t *v)
{
    if (v->null || v->type == 0) {
        te_row_set_null(b, i);
        return;
    }
    switch (v->type) {
    case TE_TYPE_DOUBLE: te_row_set_f64(b, i, v->d); return;
    case TE_TYPE_STRING:
    case TE_TYPE_BYTES: te_row_set_str(b, i, v->s.p, v->s.n); return;
    default: te_row_set_i64(b, i, v->i); return;
    }
}
