/*
 * expr_internal — internal, expr_parse.c and expr_eval.c only: the compiled expression
 * tree shared by the parser (which builds and types it) and the evaluator.
 *
 * Threading: as expr.h.
 */
#ifndef TE_EXPR_INTERNAL_H
#define TE_EXPR_INTERNAL_H

#include <regex.h>

#include "operators/expr.h"

typedef enum xop {
    X_LIT,
    X_FIELD,
    X_NEG,
    X_ADD,
    X_SUB,
    X_MUL,
    X_DIV,
    X_MOD,
    X_CONCAT,
    X_EQ,
    X_NE,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
    X_AND,
    X_OR,
    X_NOT,
    X_ISNULL,
    X_IN,      /* args[0] IN (args[1..]) */
    X_BETWEEN, /* args[0] BETWEEN args[1] AND args[2] */
    X_LIKE,    /* args[0] LIKE literal args[1] */
    X_CASE,    /* when, then, when, then, ..., [else] */
    X_CAST,    /* args[0] to e->type */
    X_FUNC,
} xop_t;

/* Functions (X_FUNC, e->fn). */
typedef enum xfn {
    F_LOWER,
    F_UPPER,
    F_LENGTH,
    F_TRIM,
    F_CONCAT,
    F_SUBSTR,
    F_SPLIT_INDEX,
    F_REGEXP_EXTRACT,
    F_REGEXP,
    F_COUNT_CHAR,
    F_HOUR,
    F_MINUTE,
    F_SECOND,
    F_DAY,
    F_MONTH,
    F_YEAR,
    F_DATE_FORMAT,
    F_FLOOR,
    F_CEIL,
    F_ABS,
    F_ROUND,
    F_MOD,
    F_COALESCE,
    F_IF,
    F_ROWTIME,
} xfn_t;

/* The domain an operator computes in. */
typedef enum xdom { D_INT, D_DOUBLE, D_STRING, D_BOOL, D_NULL } xdom_t;

struct expr {
    xop_t op;
    xfn_t fn;
    te_type_t type; /* result; 0 = always NULL */
    int nullable;
    xdom_t dom;     /* arithmetic / comparison domain */
    int negate;     /* NOT IN, NOT BETWEEN, NOT LIKE, IS NOT NULL */
    int has_else;   /* CASE */
    uint32_t field; /* X_FIELD */
    expr_value_t lit;
    char *owned; /* a literal string's bytes */
    expr_t **args;
    uint32_t nargs;
    regex_t re; /* regexp_extract, regexp (the pattern is a literal) */
    int has_re;
    /* the root's: 1 + the highest field a fixed expression reads (see expr_fixed), or
     * -1 when it is not one; set by expr_fixed_mark once the tree is compiled */
    int fixed_need;
    int fixed_leaves; /* a node of a fixed tree: a binary operator over two fields or literals */
    /* a fixed root that is a binary operator over two fields or literals: the function
     * of its domain and operator (expr_eval.c) and its operands, each a field's slot
     * offset or a literal's bits (converted to the domain's type) */
    expr_fixed_value_t (*fx_kernel)(const struct expr *e, const uint8_t *row);
    uint64_t fx_reads; /* the fields it reads: null bits */
    struct fx_operand {
        uint64_t bits;  /* a literal */
        uint32_t off;   /* a field: its slot's offset in the row */
        uint8_t is_lit; /* 1: a literal */
        uint8_t to_dbl; /* 1: an int64 field read in the double domain */
    } fx_opnd[2];
};

/* Sets root e's fixed_need (expr_eval.c); the parser calls it on every compiled tree. */
void expr_fixed_mark(expr_t *e);

/* Evaluates node e (expr_eval.c). */
void expr_eval_node(const expr_t *e, const te_record_t *rec, expr_env_t *env, expr_value_t *out);

#endif
