/*
 * expr_parse — the expression compiler (see expr.h): a lexer, a recursive-descent
 * parser (precedence: OR < AND < NOT < comparison / IS / IN / BETWEEN / LIKE < + - || <
 * * / % < unary -), and typing of every node as it is built, so a bad field, function
 * or operand type is reported at setup with its column.
 *
 * Threading: pure; one compile per call.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "operators/expr_internal.h"

#include "operators/expr_lex.h"

/* ---- nodes ---- */

static expr_t *node(parser_t *p, xop_t op)
{
    expr_t *e = calloc(1, sizeof(*e));
    if (e == NULL)
        expr_lex_error(p, "out of memory");
    else
        e->op = op, e->fixed_need = -1;
    return e;
}

static int add_arg(parser_t *p, expr_t *e, expr_t *a)
{
    if (a == NULL)
        return -1;
    expr_t **na = realloc(e->args, (e->nargs + 1) * sizeof(*na));
    if (na == NULL) {
        expr_free(a);
        return expr_lex_error(p, "out of memory");
    }
    e->args = na;
    e->args[e->nargs++] = a;
    return 0;
}

void expr_free(expr_t *e)
{
    if (e == NULL)
        return;
    for (uint32_t i = 0; i < e->nargs; i++)
        expr_free(e->args[i]);
    free(e->args);
    free(e->owned);
    if (e->has_re)
        regfree(&e->re);
    free(e);
}

static int is_int(te_type_t t) { return t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP; }
static int is_num(te_type_t t) { return is_int(t) || t == TE_TYPE_DOUBLE; }
static int is_str(te_type_t t) { return t == TE_TYPE_STRING || t == TE_TYPE_BYTES; }
static const char *tname(te_type_t t) { return t == 0 ? "null" : te_type_name(t); }

/* Types a binary or unary node from its arguments. */
static int type_node(parser_t *p, expr_t *e, const char *what)
{
    te_type_t a = e->nargs > 0 ? e->args[0]->type : 0, b = e->nargs > 1 ? e->args[1]->type : 0;
    int anynull = 0;
    for (uint32_t i = 0; i < e->nargs; i++)
        anynull |= e->args[i]->nullable || e->args[i]->type == 0;
    e->nullable = anynull;
    switch (e->op) {
    case X_NEG:
        if (a != 0 && !is_num(a))
            return expr_lex_error(p, "%s needs a number, got a %s", what, tname(a));
        e->type = a == 0 ? TE_TYPE_INT64 : a == TE_TYPE_TIMESTAMP ? TE_TYPE_INT64 : a;
        e->dom = a == TE_TYPE_DOUBLE ? D_DOUBLE : D_INT;
        return 0;
    case X_ADD:
    case X_SUB:
    case X_MUL:
    case X_DIV:
    case X_MOD:
        if ((a && !is_num(a)) || (b && !is_num(b)))
            return expr_lex_error(p, "'%s' needs numbers, got %s and %s", what, tname(a), tname(b));
        e->dom = a == TE_TYPE_DOUBLE || b == TE_TYPE_DOUBLE ? D_DOUBLE : D_INT;
        e->type = e->dom == D_DOUBLE ? TE_TYPE_DOUBLE : TE_TYPE_INT64;
        if (e->dom == D_INT && (e->op == X_ADD || e->op == X_SUB) &&
            (a == TE_TYPE_TIMESTAMP) != (b == TE_TYPE_TIMESTAMP))
            e->type = TE_TYPE_TIMESTAMP; /* timestamp ± duration */
        if (e->op == X_DIV || e->op == X_MOD)
            e->nullable = 1; /* division by zero is NULL */
        return 0;
    case X_CONCAT:
        if ((a && !is_str(a)) || (b && !is_str(b)))
            return expr_lex_error(p, "'||' needs strings, got %s and %s (use CAST(x AS string))", tname(a),
                                  tname(b));
        e->type = TE_TYPE_STRING;
        e->dom = D_STRING;
        return 0;
    case X_EQ:
    case X_NE:
    case X_LT:
    case X_LE:
    case X_GT:
    case X_GE:
    case X_IN:
    case X_BETWEEN: {
        te_type_t t = 0;
        for (uint32_t i = 0; i < e->nargs; i++) {
            te_type_t x = e->args[i]->type;
            if (x == 0)
                continue;
            if (t == 0) {
                t = x;
                continue;
            }
            if (!((is_num(t) && is_num(x)) || (is_str(t) && is_str(x)) || t == x))
                return expr_lex_error(p, "%s compares a %s with a %s", what, tname(t), tname(x));
            if (x == TE_TYPE_DOUBLE)
                t = x;
        }
        for (uint32_t i = 0; i < e->nargs; i++)
            if (e->args[i]->type == TE_TYPE_DOUBLE)
                t = TE_TYPE_DOUBLE;
        e->dom = t == 0                ? D_NULL
                 : is_str(t)           ? D_STRING
                 : t == TE_TYPE_BOOL   ? D_BOOL
                 : t == TE_TYPE_DOUBLE ? D_DOUBLE
                                       : D_INT;
        e->type = TE_TYPE_BOOL;
        return 0;
    }
    case X_AND:
    case X_OR:
    case X_NOT:
        for (uint32_t i = 0; i < e->nargs; i++)
            if (e->args[i]->type != 0 && e->args[i]->type != TE_TYPE_BOOL)
                return expr_lex_error(p, "%s needs a bool, got a %s", what, tname(e->args[i]->type));
        e->type = TE_TYPE_BOOL;
        return 0;
    default: return 0;
    }
}

static expr_t *binary(parser_t *p, xop_t op, expr_t *l, expr_t *r, const char *what, size_t at)
{
    expr_t *e = node(p, op);
    p->at = at + 1;
    if (e == NULL || l == NULL || r == NULL) {
        expr_free(e);
        expr_free(l);
        expr_free(r);
        return NULL;
    }
    add_arg(p, e, l);
    if (add_arg(p, e, r) != 0 || type_node(p, e, what) != 0) {
        p->at = 0;
        expr_free(e);
        return NULL;
    }
    p->at = 0;
    return e;
}

/* ---- grammar ---- */

static expr_t *parse_or(parser_t *p);

/* A literal node. */
static expr_t *literal(parser_t *p, te_type_t t)
{
    expr_t *e = node(p, X_LIT);
    if (e == NULL)
        return NULL;
    e->type = t;
    e->lit.type = t;
    e->lit.null = t == 0;
    e->nullable = t == 0;
    return e;
}

static expr_t *parse_number(parser_t *p)
{
    char *end;
    errno = 0;
    int is_d = strpbrk(p->text, ".eE") != NULL;
    expr_t *e = literal(p, is_d ? TE_TYPE_DOUBLE : TE_TYPE_INT64);
    if (e == NULL)
        return NULL;
    if (is_d)
        e->lit.d = strtod(p->text, &end);
    else
        e->lit.i = strtoll(p->text, &end, 10);
    if (*end != '\0' || errno == ERANGE) {
        expr_lex_error(p, "'%s' is not a number", p->text);
        expr_free(e);
        return NULL;
    }
    expr_lex_next(p);
    return e;
}

static expr_t *parse_string(parser_t *p)
{
    expr_t *e = literal(p, TE_TYPE_STRING);
    if (e == NULL)
        return NULL;
    if ((e->owned = malloc(p->text_len + 1)) == NULL) {
        expr_free(e);
        expr_lex_error(p, "out of memory");
        return NULL;
    }
    memcpy(e->owned, p->text, p->text_len + 1);
    e->lit.s.p = (const uint8_t *)e->owned;
    e->lit.s.n = (uint32_t)p->text_len;
    expr_lex_next(p);
    return e;
}

static expr_t *field_node(parser_t *p, uint32_t f)
{
    expr_t *e = node(p, X_FIELD);
    if (e == NULL)
        return NULL;
    e->field = f;
    e->type = p->in->fields[f].type;
    e->nullable = p->in->fields[f].nullable;
    expr_lex_next(p);
    return e;
}

static expr_t *parse_field(parser_t *p)
{
    char sb[400];
    if (p->tok == T_INDEX) {
        long f = strtol(p->text, NULL, 10);
        if (f < 0 || f >= (long)p->in->n_fields)
            return expr_lex_error(p, "$%ld is past the last field of the input schema %s", f,
                                  te_schema_format(p->in, sb, sizeof(sb))),
                   NULL;
        return field_node(p, (uint32_t)f);
    }
    int f = te_schema_find(p->in, p->text);
    if (f < 0)
        return expr_lex_error(p, "no field '%s' in the input schema %s", p->text,
                              te_schema_format(p->in, sb, sizeof(sb))),
               NULL;
    return field_node(p, (uint32_t)f);
}

static te_type_t type_named(const char *n)
{
    static const struct {
        const char *name;
        te_type_t t;
    } names[] = {{"int64", TE_TYPE_INT64},    {"bigint", TE_TYPE_INT64},       {"double", TE_TYPE_DOUBLE},
                 {"bool", TE_TYPE_BOOL},      {"boolean", TE_TYPE_BOOL},       {"string", TE_TYPE_STRING},
                 {"varchar", TE_TYPE_STRING}, {"timestamp", TE_TYPE_TIMESTAMP}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i].name, n) == 0)
            return names[i].t;
    return 0;
}

static expr_t *parse_cast(parser_t *p)
{
    expr_lex_next(p); /* CAST */
    expr_t *e = node(p, X_CAST);
    if (e == NULL || expr_lex_expect_op(p, "(") != 0 || add_arg(p, e, parse_or(p)) != 0 ||
        expr_lex_expect_kw(p, "AS") != 0)
        goto fail;
    te_type_t t = p->tok == T_IDENT ? type_named(p->text) : 0;
    if (t == 0) {
        expr_lex_error(p, "expected a type (int64, double, bool, string, timestamp), got '%s'",
                       expr_lex_tok_desc(p));
        goto fail;
    }
    expr_lex_next(p);
    if (expr_lex_expect_op(p, ")") != 0)
        goto fail;
    te_type_t a = e->args[0]->type;
    if (a == TE_TYPE_BYTES || (t == TE_TYPE_BOOL && a == TE_TYPE_DOUBLE)) {
        expr_lex_error(p, "cannot CAST a %s to %s", tname(a), tname(t));
        goto fail;
    }
    e->type = t;
    e->nullable = e->args[0]->nullable || e->args[0]->type == 0 || (is_str(a) && !is_str(t));
    return e;
fail:
    expr_free(e);
    return NULL;
}

/* CASE [x] WHEN a THEN v ... [ELSE v] END: with an operand, each WHEN becomes x = a. */
static expr_t *parse_case(parser_t *p)
{
    expr_lex_next(p); /* CASE */
    expr_t *e = node(p, X_CASE), *operand = NULL;
    if (e == NULL)
        return NULL;
    if (!expr_lex_is_kw(p, "WHEN") && (operand = parse_or(p)) == NULL)
        goto fail;
    while (expr_lex_is_kw(p, "WHEN")) {
        expr_lex_next(p);
        expr_t *w = parse_or(p);
        if (w != NULL && operand != NULL) {
            expr_t *dup = NULL;
            /* x = a, re-reading x's field or literal (a CASE operand is a field in practice) */
            if (operand->op == X_FIELD) {
                dup = node(p, X_FIELD);
                if (dup) {
                    *dup = (expr_t){.op = X_FIELD,
                                    .field = operand->field,
                                    .type = operand->type,
                                    .nullable = operand->nullable};
                }
            } else {
                expr_lex_error(p, "a CASE operand must be a field (write CASE WHEN x = a THEN ...)");
                expr_free(w);
                goto fail;
            }
            w = binary(p, X_EQ, dup, w, "CASE WHEN", p->tok_pos);
        }
        if (add_arg(p, e, w) != 0 || expr_lex_expect_kw(p, "THEN") != 0 || add_arg(p, e, parse_or(p)) != 0)
            goto fail;
        if (e->args[e->nargs - 2]->type != 0 && e->args[e->nargs - 2]->type != TE_TYPE_BOOL) {
            expr_lex_error(p, "CASE WHEN needs a bool condition, got a %s", tname(e->args[e->nargs - 2]->type));
            goto fail;
        }
    }
    if (e->nargs == 0) {
        expr_lex_error(p, "CASE needs at least one WHEN, got '%s'", expr_lex_tok_desc(p));
        goto fail;
    }
    if (expr_lex_is_kw(p, "ELSE")) {
        expr_lex_next(p);
        if (add_arg(p, e, parse_or(p)) != 0)
            goto fail;
        e->has_else = 1;
    }
    if (expr_lex_expect_kw(p, "END") != 0)
        goto fail;
    /* the result type: all values alike, numbers widened to double */
    e->nullable = !e->has_else;
    uint32_t pairs = (e->nargs - (e->has_else ? 1 : 0)) / 2;
    for (uint32_t k = 0; k <= pairs; k++) {
        if (k == pairs && !e->has_else)
            break;
        const expr_t *v = e->args[k == pairs ? e->nargs - 1 : 2 * k + 1];
        e->nullable |= v->nullable || v->type == 0;
        if (v->type == 0)
            continue;
        if (e->type == 0 || (is_num(e->type) && is_num(v->type) && v->type == TE_TYPE_DOUBLE))
            e->type = v->type;
        else if (!(e->type == v->type || (is_num(e->type) && is_num(v->type)) ||
                   (is_str(e->type) && is_str(v->type)))) {
            expr_lex_error(p, "CASE mixes a %s and a %s result", tname(e->type), tname(v->type));
            goto fail;
        }
    }
    expr_free(operand);
    return e;
fail:
    expr_free(operand);
    expr_free(e);
    return NULL;
}

/* Functions: name, argument count range, and the check/typing below. */
static const struct {
    const char *name;
    xfn_t fn;
    uint32_t min, max;
} funcs[] = {
    {"lower", F_LOWER, 1, 1},
    {"upper", F_UPPER, 1, 1},
    {"length", F_LENGTH, 1, 1},
    {"char_length", F_LENGTH, 1, 1},
    {"trim", F_TRIM, 1, 1},
    {"concat", F_CONCAT, 1, 16},
    {"substr", F_SUBSTR, 2, 3},
    {"substring", F_SUBSTR, 2, 3},
    {"split_index", F_SPLIT_INDEX, 3, 3},
    {"regexp_extract", F_REGEXP_EXTRACT, 2, 3},
    {"regexp", F_REGEXP, 2, 2},
    {"count_char", F_COUNT_CHAR, 2, 2},
    {"hour", F_HOUR, 1, 1},
    {"minute", F_MINUTE, 1, 1},
    {"second", F_SECOND, 1, 1},
    {"day", F_DAY, 1, 1},
    {"dayofmonth", F_DAY, 1, 1},
    {"month", F_MONTH, 1, 1},
    {"year", F_YEAR, 1, 1},
    {"date_format", F_DATE_FORMAT, 2, 2},
    {"floor", F_FLOOR, 1, 1},
    {"ceil", F_CEIL, 1, 1},
    {"abs", F_ABS, 1, 1},
    {"round", F_ROUND, 1, 2},
    {"mod", F_MOD, 2, 2},
    {"coalesce", F_COALESCE, 1, 16},
    {"if", F_IF, 3, 3},
    {"rowtime", F_ROWTIME, 0, 0},
};

/* Argument i of e must be of a type in the set ('s' string, 'n' number, 'i' integer,
 * 't' timestamp, 'b' bool). */
static int want(parser_t *p, const expr_t *e, const char *fname, uint32_t i, char kind)
{
    te_type_t t = e->args[i]->type;
    int ok = t == 0 || (kind == 's' && is_str(t)) || (kind == 'n' && is_num(t)) || (kind == 'i' && is_int(t)) ||
             (kind == 't' && is_int(t)) || (kind == 'b' && t == TE_TYPE_BOOL);
    static const char *const names[] = {"a string", "a number", "an integer", "a timestamp", "a bool"};
    const char *w = names[kind == 's' ? 0 : kind == 'n' ? 1 : kind == 'i' ? 2 : kind == 't' ? 3 : 4];
    return ok ? 0 : expr_lex_error(p, "%s: argument %u needs %s, got a %s", fname, i + 1, w, tname(t));
}

static int literal_string(parser_t *p, const expr_t *e, const char *fname, uint32_t i)
{
    if (e->args[i]->op != X_LIT || e->args[i]->type != TE_TYPE_STRING)
        return expr_lex_error(p, "%s: argument %u must be a string literal", fname, i + 1);
    return 0;
}

static int type_func(parser_t *p, expr_t *e, const char *fname)
{
    int rc = 0;
    e->nullable = 0;
    for (uint32_t i = 0; i < e->nargs; i++)
        e->nullable |= e->args[i]->nullable || e->args[i]->type == 0;
    switch (e->fn) {
    case F_LOWER:
    case F_UPPER:
    case F_TRIM:
        rc = want(p, e, fname, 0, 's');
        e->type = TE_TYPE_STRING;
        break;
    case F_LENGTH:
        rc = want(p, e, fname, 0, 's');
        e->type = TE_TYPE_INT64;
        break;
    case F_CONCAT:
        for (uint32_t i = 0; i < e->nargs && rc == 0; i++)
            rc = want(p, e, fname, i, 's');
        e->type = TE_TYPE_STRING;
        break;
    case F_SUBSTR:
        rc = want(p, e, fname, 0, 's') || want(p, e, fname, 1, 'i') || (e->nargs > 2 && want(p, e, fname, 2, 'i'));
        e->type = TE_TYPE_STRING;
        break;
    case F_SPLIT_INDEX:
        rc = want(p, e, fname, 0, 's') || literal_string(p, e, fname, 1) || want(p, e, fname, 2, 'i');
        if (rc == 0 && e->args[1]->lit.s.n == 0)
            rc = expr_lex_error(p, "%s: the separator is empty", fname);
        e->type = TE_TYPE_STRING;
        e->nullable = 1;
        break;
    case F_REGEXP_EXTRACT:
    case F_REGEXP:
        rc = want(p, e, fname, 0, 's') || literal_string(p, e, fname, 1) ||
             (e->nargs > 2 && want(p, e, fname, 2, 'i'));
        if (rc == 0) {
            int r = regcomp(&e->re, e->args[1]->owned, REG_EXTENDED | (e->fn == F_REGEXP ? REG_NOSUB : 0));
            if (r != 0) {
                char m[128];
                regerror(r, &e->re, m, sizeof(m));
                rc = expr_lex_error(p, "%s: bad regular expression '%s': %s", fname, e->args[1]->owned, m);
            } else {
                e->has_re = 1;
            }
        }
        e->type = e->fn == F_REGEXP ? TE_TYPE_BOOL : TE_TYPE_STRING;
        e->nullable |= e->fn == F_REGEXP_EXTRACT;
        break;
    case F_COUNT_CHAR:
        rc = want(p, e, fname, 0, 's') || literal_string(p, e, fname, 1);
        if (rc == 0 && e->args[1]->lit.s.n != 1)
            rc = expr_lex_error(p, "%s: argument 2 must be one character", fname);
        e->type = TE_TYPE_INT64;
        break;
    case F_HOUR:
    case F_MINUTE:
    case F_SECOND:
    case F_DAY:
    case F_MONTH:
    case F_YEAR:
        rc = want(p, e, fname, 0, 't');
        e->type = TE_TYPE_INT64;
        break;
    case F_DATE_FORMAT:
        rc = want(p, e, fname, 0, 't') || literal_string(p, e, fname, 1);
        e->type = TE_TYPE_STRING;
        break;
    case F_FLOOR:
    case F_CEIL:
    case F_ABS:
    case F_ROUND:
        rc = want(p, e, fname, 0, 'n') || (e->nargs > 1 && want(p, e, fname, 1, 'i'));
        e->type = e->args[0]->type == TE_TYPE_DOUBLE ? TE_TYPE_DOUBLE : TE_TYPE_INT64;
        break;
    case F_MOD:
        rc = want(p, e, fname, 0, 'n') || want(p, e, fname, 1, 'n');
        e->type = e->args[0]->type == TE_TYPE_DOUBLE || e->args[1]->type == TE_TYPE_DOUBLE ? TE_TYPE_DOUBLE
                                                                                           : TE_TYPE_INT64;
        e->nullable = 1;
        break;
    case F_COALESCE:
        e->nullable = 1;
        for (uint32_t i = 0; i < e->nargs && rc == 0; i++) {
            te_type_t t = e->args[i]->type;
            if (t == 0)
                continue;
            if (!e->args[i]->nullable)
                e->nullable = 0;
            if (e->type == 0 || (is_num(e->type) && t == TE_TYPE_DOUBLE))
                e->type = e->type == 0 ? t : TE_TYPE_DOUBLE;
            else if (!(e->type == t || (is_num(e->type) && is_num(t)) || (is_str(e->type) && is_str(t))))
                rc = expr_lex_error(p, "%s mixes a %s and a %s", fname, tname(e->type), tname(t));
        }
        break;
    case F_IF: {
        rc = want(p, e, fname, 0, 'b');
        te_type_t a = e->args[1]->type, b = e->args[2]->type;
        if (rc == 0 && a && b && !(a == b || (is_num(a) && is_num(b)) || (is_str(a) && is_str(b))))
            rc = expr_lex_error(p, "%s mixes a %s and a %s", fname, tname(a), tname(b));
        e->type = a == 0 ? b : b == 0 ? a : (is_num(a) && a != b) ? TE_TYPE_DOUBLE : a;
        e->nullable = e->args[1]->nullable || e->args[2]->nullable || a == 0 || b == 0;
        break;
    }
    case F_ROWTIME:
        e->type = TE_TYPE_TIMESTAMP;
        e->nullable = 1;
        break;
    }
    return rc ? -1 : 0;
}

static expr_t *parse_call(parser_t *p)
{
    char fname[64];
    snprintf(fname, sizeof(fname), "%.63s", p->text);
    size_t k;
    for (k = 0; k < sizeof(funcs) / sizeof(funcs[0]); k++)
        if (strcasecmp(funcs[k].name, fname) == 0)
            break;
    if (k == sizeof(funcs) / sizeof(funcs[0]))
        return expr_lex_error(p, "unknown function '%s'", fname), NULL;
    expr_lex_next(p); /* name */
    expr_lex_next(p); /* ( */
    expr_t *e = node(p, X_FUNC);
    if (e == NULL)
        return NULL;
    e->fn = funcs[k].fn;
    if (!expr_lex_is_op(p, ")")) {
        do {
            if (add_arg(p, e, parse_or(p)) != 0)
                goto fail;
        } while (expr_lex_is_op(p, ",") && (expr_lex_next(p), 1));
    }
    if (expr_lex_expect_op(p, ")") != 0)
        goto fail;
    if (e->nargs < funcs[k].min || e->nargs > funcs[k].max) {
        expr_lex_error(p, "%s takes %u%s%u arguments, got %u", fname, funcs[k].min,
                       funcs[k].min == funcs[k].max ? "" : " to ", funcs[k].min == funcs[k].max ? 0 : funcs[k].max,
                       e->nargs);
        goto fail;
    }
    if (type_func(p, e, fname) != 0)
        goto fail;
    return e;
fail:
    expr_free(e);
    return NULL;
}

static expr_t *parse_primary(parser_t *p)
{
    if (p->failed)
        return NULL;
    switch (p->tok) {
    case T_NUM: return parse_number(p);
    case T_STR: return parse_string(p);
    case T_INDEX:
    case T_QIDENT: return parse_field(p);
    case T_IDENT:
        if (expr_lex_is_kw(p, "TRUE") || expr_lex_is_kw(p, "FALSE")) {
            expr_t *e = literal(p, TE_TYPE_BOOL);
            if (e)
                e->lit.i = expr_lex_is_kw(p, "TRUE");
            expr_lex_next(p);
            return e;
        }
        if (expr_lex_is_kw(p, "NULL")) {
            expr_lex_next(p);
            return literal(p, 0);
        }
        if (expr_lex_is_kw(p, "CASE"))
            return parse_case(p);
        if (expr_lex_is_kw(p, "CAST"))
            return parse_cast(p);
        if (p->src[p->pos] == '(' || (isspace((unsigned char)p->src[p->pos]) && strchr(p->src + p->pos, '(') &&
                                      p->src[p->pos + strspn(p->src + p->pos, " \t")] == '('))
            return parse_call(p);
        return parse_field(p);
    case T_OP:
        if (expr_lex_is_op(p, "(")) {
            expr_lex_next(p);
            expr_t *e = parse_or(p);
            if (e && expr_lex_expect_op(p, ")") != 0) {
                expr_free(e);
                return NULL;
            }
            return e;
        }
        /* fall through */
    default:
        expr_lex_error(p, "expected a value, a field or a function, got '%s'", expr_lex_tok_desc(p));
        return NULL;
    }
}

static expr_t *parse_unary(parser_t *p)
{
    if (expr_lex_is_op(p, "-")) {
        expr_lex_next(p);
        expr_t *a = parse_unary(p);
        if (a == NULL)
            return NULL;
        if (a->op == X_LIT && (a->type == TE_TYPE_INT64 || a->type == TE_TYPE_DOUBLE)) {
            if (a->type == TE_TYPE_INT64)
                a->lit.i = -a->lit.i;
            else
                a->lit.d = -a->lit.d;
            return a;
        }
        expr_t *e = node(p, X_NEG);
        if (e == NULL || add_arg(p, e, a) != 0 || type_node(p, e, "unary '-'") != 0) {
            expr_free(e);
            return NULL;
        }
        return e;
    }
    return parse_primary(p);
}

static expr_t *parse_mul(parser_t *p)
{
    expr_t *l = parse_unary(p);
    while (l && (expr_lex_is_op(p, "*") || expr_lex_is_op(p, "/") || expr_lex_is_op(p, "%"))) {
        xop_t op = expr_lex_is_op(p, "*") ? X_MUL : expr_lex_is_op(p, "/") ? X_DIV : X_MOD;
        char what[4];
        snprintf(what, sizeof(what), "%.3s", p->text);
        size_t at = p->tok_pos;
        expr_lex_next(p);
        l = binary(p, op, l, parse_unary(p), what, at);
    }
    return l;
}

static expr_t *parse_add(parser_t *p)
{
    expr_t *l = parse_mul(p);
    while (l && (expr_lex_is_op(p, "+") || expr_lex_is_op(p, "-") || expr_lex_is_op(p, "||"))) {
        xop_t op = expr_lex_is_op(p, "+") ? X_ADD : expr_lex_is_op(p, "-") ? X_SUB : X_CONCAT;
        char what[4];
        snprintf(what, sizeof(what), "%.3s", p->text);
        size_t at = p->tok_pos;
        expr_lex_next(p);
        l = binary(p, op, l, parse_mul(p), what, at);
    }
    return l;
}

/* x [NOT] IN (...), [NOT] BETWEEN a AND b, [NOT] LIKE 'p', IS [NOT] NULL */
static expr_t *parse_postfix(parser_t *p, expr_t *l)
{
    int neg = 0;
    if (expr_lex_is_kw(p, "IS")) {
        expr_lex_next(p);
        if (expr_lex_is_kw(p, "NOT")) {
            neg = 1;
            expr_lex_next(p);
        }
        if (expr_lex_expect_kw(p, "NULL") != 0) {
            expr_free(l);
            return NULL;
        }
        expr_t *e = node(p, X_ISNULL);
        if (e == NULL || add_arg(p, e, l) != 0) {
            expr_free(e);
            return NULL;
        }
        e->negate = neg;
        e->type = TE_TYPE_BOOL;
        return e;
    }
    if (expr_lex_is_kw(p, "NOT")) {
        neg = 1;
        expr_lex_next(p);
    }
    expr_t *e = NULL;
    if (expr_lex_is_kw(p, "IN")) {
        expr_lex_next(p);
        e = node(p, X_IN);
        if (e == NULL || add_arg(p, e, l) != 0 || expr_lex_expect_op(p, "(") != 0)
            goto fail;
        do {
            if (add_arg(p, e, parse_add(p)) != 0)
                goto fail;
        } while (expr_lex_is_op(p, ",") && (expr_lex_next(p), 1));
        if (expr_lex_expect_op(p, ")") != 0 || type_node(p, e, "IN") != 0)
            goto fail;
    } else if (expr_lex_is_kw(p, "BETWEEN")) {
        expr_lex_next(p);
        e = node(p, X_BETWEEN);
        if (e == NULL || add_arg(p, e, l) != 0 || add_arg(p, e, parse_add(p)) != 0 ||
            expr_lex_expect_kw(p, "AND") != 0 || add_arg(p, e, parse_add(p)) != 0 ||
            type_node(p, e, "BETWEEN") != 0)
            goto fail;
    } else if (expr_lex_is_kw(p, "LIKE")) {
        expr_lex_next(p);
        e = node(p, X_LIKE);
        if (e == NULL || add_arg(p, e, l) != 0)
            goto fail;
        if (p->tok != T_STR) {
            expr_lex_error(p, "LIKE needs a string literal pattern, got '%s'", expr_lex_tok_desc(p));
            goto fail;
        }
        if (add_arg(p, e, parse_primary(p)) != 0)
            goto fail;
        if (l->type != 0 && !is_str(l->type)) {
            expr_lex_error(p, "LIKE needs a string, got a %s", tname(l->type));
            goto fail;
        }
        e->type = TE_TYPE_BOOL;
        e->nullable = l->nullable;
    } else if (neg) {
        expr_lex_error(p, "expected IN, BETWEEN or LIKE after NOT, got '%s'", expr_lex_tok_desc(p));
        expr_free(l);
        return NULL;
    } else {
        return l;
    }
    e->negate = neg;
    return e;
fail:
    if (e == NULL)
        expr_free(l);
    expr_free(e);
    return NULL;
}

static expr_t *parse_cmp(parser_t *p)
{
    expr_t *l = parse_add(p);
    if (l == NULL)
        return NULL;
    static const struct {
        const char *op;
        xop_t x;
    } cmps[] = {{"=", X_EQ}, {"==", X_EQ}, {"!=", X_NE}, {"<>", X_NE},
                {"<", X_LT}, {"<=", X_LE}, {">", X_GT},  {">=", X_GE}};
    for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++)
        if (expr_lex_is_op(p, cmps[i].op)) {
            char what[8];
            snprintf(what, sizeof(what), "'%.2s'", p->text);
            size_t at = p->tok_pos;
            expr_lex_next(p);
            return binary(p, cmps[i].x, l, parse_add(p), what, at);
        }
    return parse_postfix(p, l);
}

static expr_t *parse_not(parser_t *p)
{
    if (expr_lex_is_kw(p, "NOT")) {
        expr_lex_next(p);
        expr_t *a = parse_not(p);
        expr_t *e = a ? node(p, X_NOT) : NULL;
        if (e == NULL || add_arg(p, e, a) != 0 || type_node(p, e, "NOT") != 0) {
            if (e == NULL)
                expr_free(a);
            expr_free(e);
            return NULL;
        }
        return e;
    }
    return parse_cmp(p);
}

static expr_t *parse_and(parser_t *p)
{
    expr_t *l = parse_not(p);
    while (l && expr_lex_is_kw(p, "AND")) {
        size_t at = p->tok_pos;
        expr_lex_next(p);
        l = binary(p, X_AND, l, parse_not(p), "AND", at);
    }
    return l;
}

static expr_t *parse_or(parser_t *p)
{
    expr_t *l = parse_and(p);
    while (l && expr_lex_is_kw(p, "OR")) {
        size_t at = p->tok_pos;
        expr_lex_next(p);
        l = binary(p, X_OR, l, parse_and(p), "OR", at);
    }
    return l;
}

/* ---- entry points ---- */

expr_t *expr_compile(const char *text, const te_schema_t *in, char *err, size_t errlen)
{
    parser_t p = {.src = text ? text : "", .in = in, .err = err, .errlen = errlen};
    expr_lex_next(&p);
    if (p.tok == T_EOF) {
        expr_lex_error(&p, "empty expression");
        return NULL;
    }
    expr_t *e = parse_or(&p);
    if (e != NULL && p.tok != T_EOF) {
        expr_lex_error(&p, "unexpected '%s'", expr_lex_tok_desc(&p));
        expr_free(e);
        return NULL;
    }
    if (p.failed) {
        expr_free(e);
        return NULL;
    }
    expr_fixed_mark(e);
    return e;
}

te_type_t expr_type(const expr_t *e) { return e->type; }
int expr_nullable(const expr_t *e) { return e->nullable || e->type == 0; }
int expr_field(const expr_t *e) { return e->op == X_FIELD ? (int)e->field : -1; }
int expr_fixed(const expr_t *e) { return e->fixed_need; }

uint64_t expr_fields_read(const expr_t *e)
{
    uint64_t m = e->op == X_FIELD ? 1ULL << e->field : 0;
    for (uint32_t i = 0; i < e->nargs; i++)
        if (e->args[i] != NULL)
            m |= expr_fields_read(e->args[i]);
    return m;
}

void expr_list_free(expr_item_t *items, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        expr_free(items[i].e);
        items[i].e = NULL;
    }
}

int expr_list_compile(const char *text, const te_schema_t *in, expr_item_t *items, uint32_t max, uint32_t *n,
                      char *err, size_t errlen)
{
    parser_t p = {.src = text ? text : "", .in = in, .err = err, .errlen = errlen};
    *n = 0;
    expr_lex_next(&p);
    for (;;) {
        if (*n >= max) {
            expr_lex_error(&p, "more than %u expressions", max);
            break;
        }
        expr_item_t *it = &items[*n];
        if ((it->e = parse_or(&p)) == NULL)
            break;
        expr_fixed_mark(it->e);
        (*n)++;
        if (expr_lex_is_kw(&p, "AS")) {
            expr_lex_next(&p);
            if (p.tok != T_IDENT && p.tok != T_QIDENT) {
                expr_lex_error(&p, "expected a name after AS, got '%s'", expr_lex_tok_desc(&p));
                break;
            }
            snprintf(it->name, sizeof(it->name), "%.63s", p.text);
            expr_lex_next(&p);
        } else if (it->e->op == X_FIELD) {
            snprintf(it->name, sizeof(it->name), "%s", in->fields[it->e->field].name);
        } else {
            snprintf(it->name, sizeof(it->name), "expr%u", *n - 1);
        }
        for (uint32_t k = 0; k + 1 < *n; k++)
            if (strcmp(items[k].name, it->name) == 0) {
                expr_lex_error(&p, "two expressions are named '%s' (name one with AS)", it->name);
                break;
            }
        if (p.failed || p.tok == T_EOF)
            break;
        if (expr_lex_expect_op(&p, ",") != 0)
            break;
    }
    if (p.failed) {
        expr_list_free(items, *n);
        *n = 0;
        return -1;
    }
    return 0;
}
