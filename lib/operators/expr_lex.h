/*
 * expr_lex — the expression compiler's lexer and error reporting (expr_parse.c is its
 * parser): the parser state, tokens, and the helpers that read and expect them.
 * Internal to the expression compiler.
 *
 * Threading: pure; the parser state belongs to one compile.
 */
#ifndef TE_EXPR_LEX_H
#define TE_EXPR_LEX_H

#include <stddef.h>

#include "operators/expr_internal.h"

typedef enum tok {
    T_EOF,
    T_NUM,
    T_STR,
    T_IDENT,
    T_QIDENT,
    T_INDEX,
    T_OP, /* punctuation / operator text in tok_text */
} tok_t;

typedef struct parser {
    const char *src;
    size_t pos, tok_pos;
    tok_t tok;
    char text[256]; /* the token (a string literal unquoted) */
    size_t text_len;
    const te_schema_t *in;
    char *err;
    size_t errlen;
    int failed;
    size_t at; /* the column an operand type error is reported at (its operator's), +1; 0 = tok_pos */
} parser_t;

/* Records the first error: "expression '<src>': column <n>: <msg>"; returns -1. */
int expr_lex_error(parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reads the next token into p->tok / p->text. */
void expr_lex_next(parser_t *p);
int expr_lex_is_op(const parser_t *p, const char *op);
int expr_lex_is_kw(const parser_t *p, const char *kw);
/* The current token for messages ("the end" at the end). */
const char *expr_lex_tok_desc(const parser_t *p);
/* Consumes the operator or keyword, or records an error naming what was found; 0 / -1. */
int expr_lex_expect_op(parser_t *p, const char *op);
int expr_lex_expect_kw(parser_t *p, const char *kw);

#endif
