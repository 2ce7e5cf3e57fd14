/*
 * expr — expressions over typed rows for `map`, `filter` and the operators that take a
 * key, a value or a condition as an expression (SQL-like, compiled once at setup
 * against the input schema, evaluated per row without allocation once warmed up).
 *
 * Syntax (case-insensitive keywords):
 *   literals     42  -7  2.5  1e3  'text' ('' = a quote)  TRUE  FALSE  NULL
 *   fields       name, `any name` or "any name", $3 (0-based index)
 *   arithmetic   + - * / %   (int64 op int64 = int64, / and % truncate toward zero;
 *                a double on either side makes a double; timestamp ± int64 = timestamp,
 *                timestamp - timestamp = int64); unary -
 *   strings      a || b
 *   comparison   = == != <> < <= > >=  (numbers with numbers, strings bytewise, bools)
 *                x IS [NOT] NULL, x [NOT] IN (a, b, ...), x [NOT] BETWEEN a AND b,
 *                x [NOT] LIKE 'pat' (% any run, _ one byte)
 *   logic        AND OR NOT (SQL's three-valued logic with NULL)
 *   CASE WHEN c THEN v ... [ELSE v] END,  CASE x WHEN a THEN v ... [ELSE v] END
 *   CAST(x AS int64 | double | bool | string | timestamp)
 *   functions    lower upper length trim concat(a, ...) substr(s, pos[, len]) (1-based)
 *                split_index(s, sep, i) (0-based; NULL past the end)
 *                regexp_extract(s, 'ere', group) (NULL without a match; POSIX ERE)
 *                regexp(s, 'ere') (bool)  count_char(s, 'c')
 *                hour minute second day month year (of a timestamp, UTC)
 *                date_format(ts, 'yyyy-MM-dd HH:mm:ss.SSS') (UTC; y M d H m s S letters)
 *                floor ceil abs round(x[, digits]) mod(a, b) coalesce(a, ...)
 *                if(cond, a, b) rowtime() (the record's timestamp, NULL when none)
 * Any operand NULL makes the result NULL (except IS NULL, coalesce, AND/OR, CASE).
 * A SELECT list is expressions separated by commas, each optionally followed by
 * `AS name`; an unnamed one is named after its field when it is one, else expr<i>.
 *
 * Like op_util, only the public ABI (te/operator.h) and libc (regex.h).
 *
 * Threading: a compiled expression is immutable; evaluation state (expr_env_t)
 * belongs to one operator instance.
 */
#ifndef TE_EXPR_H
#define TE_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "te/operator.h"

typedef struct expr expr_t;

/* A value: type 0 with null = 1 is the NULL literal's. Strings point into the row,
 * the expression or the env's arena (valid until expr_env_reset). */
typedef struct expr_value {
    te_type_t type;
    int null;
    union {
        int64_t i; /* int64, timestamp, bool (0/1) */
        double d;
        struct {
            const uint8_t *p;
            uint32_t n;
        } s;
    };
} expr_value_t;

/* Per-instance evaluation state: an arena of chunks for computed strings. */
typedef struct expr_chunk expr_chunk_t;
typedef struct expr_env {
    expr_chunk_t *chunks; /* first chunk kept across resets */
    expr_chunk_t *cur;
    int oom;
} expr_env_t;

/* Compiles `text` against schema `in`. NULL with the problem (position and what was
 * expected, or a field / function / type error naming it) in err. */
expr_t *expr_compile(const char *text, const te_schema_t *in, char *err, size_t errlen);
void expr_free(expr_t *e);
/* The result type (0 = always NULL) and whether it may be NULL. */
te_type_t expr_type(const expr_t *e);
int expr_nullable(const expr_t *e);
/* The field index when the expression is just a field, else -1. */
int expr_field(const expr_t *e);
/* The input fields the expression reads: bit i = field i (TE_ROW_MAX_FIELDS <= 64). */
uint64_t expr_fields_read(const expr_t *e);

/* A fixed expression reads only int64, double and timestamp fields and computes with
 * literals of those types, unary -, + - * / % and comparisons: it is evaluated straight
 * from the row's slots, with no value in between (expr_eval and expr_test take that
 * path by themselves when the row holds the fields). expr_fixed: 1 + the highest field
 * index it reads (0: none), or -1 when e is not fixed. */
int expr_fixed(const expr_t *e);
/* A fixed expression's value: its slot as a row stores it (te/row.h; a bool 0 or 1, all
 * zero when null) and 1 when it is null (returned in registers, not through memory). */
typedef struct expr_fixed_value {
    uint64_t slot;
    int64_t null;
} expr_fixed_value_t;
/* A fixed expression over `row`, whose fixed part the caller has checked holds
 * expr_fixed(e) fields (length and field count). */
expr_fixed_value_t expr_eval_fixed(const expr_t *e, const uint8_t *row);

/* Evaluates over row rec. 0, or -1 when the arena ran out of memory. */
int expr_eval(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *out);
/* A bool expression: 1 when TRUE (NULL and FALSE are 0). -1 out of memory. */
int expr_test(const expr_t *e, const te_record_t *rec, expr_env_t *env);
/* Frees the computed strings of the last row (keeps the memory). */
void expr_env_reset(expr_env_t *env);
void expr_env_free(expr_env_t *env);

/* Writes value v into field i of the row being built (converting int64 <-> timestamp
 * as needed; the field's type is the expression's). */
void expr_value_set(te_row_builder_t *b, uint32_t i, const expr_value_t *v);

/* A SELECT list: n expressions with their output names. */
typedef struct expr_item {
    expr_t *e;
    char name[64];
} expr_item_t;

/* Parses "a, b * 2 AS c, ..." (at most max items). 0 with *n, or -1 (err). Names must
 * be unique. */
int expr_list_compile(const char *text, const te_schema_t *in, expr_item_t *items, uint32_t max, uint32_t *n,
                      char *err, size_t errlen);
void expr_list_free(expr_item_t *items, uint32_t n);

#endif
