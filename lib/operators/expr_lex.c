/*
 * expr_lex — the expression compiler's lexer (see expr_lex.h).
 *
 * Threading: pure; the parser state belongs to one compile.
 */
#include "operators/expr_lex.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int expr_lex_error(parser_t *p, const char *fmt, ...)
{
    if (p->failed)
        return -1;
    p->failed = 1;
    int n = snprintf(p->err, p->errlen, "expression '%s': column %zu: ", p->src, p->at ? p->at : p->tok_pos + 1);
    if (n < 0 || (size_t)n >= p->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- lexer ---- */

void expr_lex_next(parser_t *p)
{
    const char *s = p->src;
    while (isspace((unsigned char)s[p->pos]))
        p->pos++;
    p->tok_pos = p->pos;
    p->text_len = 0;
    p->text[0] = '\0';
    char c = s[p->pos];
    if (c == '\0') {
        p->tok = T_EOF;
        return;
    }
    if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[p->pos + 1]))) {
        size_t st = p->pos;
        while (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '.' ||
               ((s[p->pos] == '+' || s[p->pos] == '-') && (s[p->pos - 1] == 'e' || s[p->pos - 1] == 'E')))
            p->pos++;
        p->text_len = p->pos - st < sizeof(p->text) - 1 ? p->pos - st : sizeof(p->text) - 1;
        memcpy(p->text, s + st, p->text_len);
        p->text[p->text_len] = '\0';
        p->tok = T_NUM;
        return;
    }
    if (c == '\'' || c == '`' || c == '"') {
        char q = c;
        p->pos++;
        for (;;) {
            char d = s[p->pos];
            if (d == '\0') {
                expr_lex_error(p, "unterminated %s", q == '\'' ? "string" : "quoted name");
                p->tok = T_EOF;
                return;
            }
            p->pos++;
            if (d == q) {
                if (s[p->pos] != q)
                    break;
                p->pos++; /* doubled: one quote */
            }
            if (p->text_len + 1 < sizeof(p->text))
                p->text[p->text_len++] = d;
        }
        p->text[p->text_len] = '\0';
        p->tok = q == '\'' ? T_STR : T_QIDENT;
        return;
    }
    if (c == '$' && isdigit((unsigned char)s[p->pos + 1])) {
        p->pos++;
        size_t st = p->pos;
        while (isdigit((unsigned char)s[p->pos]))
            p->pos++;
        p->text_len = p->pos - st < 16 ? p->pos - st : 16;
        memcpy(p->text, s + st, p->text_len);
        p->text[p->text_len] = '\0';
        p->tok = T_INDEX;
        return;
    }
    if (isalpha((unsigned char)c) || c == '_') {
        size_t st = p->pos;
        while (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '_' || s[p->pos] == '.')
            p->pos++;
        p->text_len = p->pos - st < sizeof(p->text) - 1 ? p->pos - st : sizeof(p->text) - 1;
        memcpy(p->text, s + st, p->text_len);
        p->text[p->text_len] = '\0';
        p->tok = T_IDENT;
        return;
    }
    static const char *const two[] = {"<=", ">=", "<>", "!=", "==", "||"};
    for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
        if (strncmp(s + p->pos, two[i], 2) == 0) {
            memcpy(p->text, two[i], 3);
            p->text_len = 2;
            p->pos += 2;
            p->tok = T_OP;
            return;
        }
    p->text[0] = c;
    p->text[1] = '\0';
    p->text_len = 1;
    p->pos++;
    p->tok = T_OP;
}

int expr_lex_is_op(const parser_t *p, const char *op) { return p->tok == T_OP && strcmp(p->text, op) == 0; }
int expr_lex_is_kw(const parser_t *p, const char *kw) { return p->tok == T_IDENT && strcasecmp(p->text, kw) == 0; }

const char *expr_lex_tok_desc(const parser_t *p) { return p->tok == T_EOF ? "the end" : p->text; }

int expr_lex_expect_op(parser_t *p, const char *op)
{
    if (!expr_lex_is_op(p, op))
        return expr_lex_error(p, "expected '%s', got '%s'", op, expr_lex_tok_desc(p));
    expr_lex_next(p);
    return 0;
}

int expr_lex_expect_kw(parser_t *p, const char *kw)
{
    if (!expr_lex_is_kw(p, kw))
        return expr_lex_error(p, "expected %s, got '%s'", kw, expr_lex_tok_desc(p));
    expr_lex_next(p);
    return 0;
}
