/*
 * op_text — text lines into typed rows (tsv, csv, json), the parser of `parse` and of
 * files read into operators (lookup_join's side input); the rules are op_parse.c's.
 *
 * Like op_util, only the public ABI and libc (jansson for json).
 *
 * Threading: a parser belongs to one operator instance.
 */
#ifndef TE_OP_TEXT_H
#define TE_OP_TEXT_H

#include <stddef.h>

#include "operators/op_row.h"

enum { OP_TEXT_TSV = 0, OP_TEXT_CSV = 1, OP_TEXT_JSON = 2 };

typedef struct op_text_parser {
    int format;             /* OP_TEXT_* */
    char delim;             /* tsv / csv */
    const te_schema_t *out; /* the fields to produce (borrowed) */
    te_row_builder_t row;   /* the parsed row */
    op_buf_t unq;           /* csv: an unquoted value */
    char why[200];          /* the reason a line did not parse */
} op_text_parser_t;

/* OP_TEXT_* of "tsv", "csv", "json"; -1 otherwise. */
int op_text_format(const char *name);
/* Parses one line into p->row (then te_row_builder_finish). 0, or -1 with p->why. */
int op_text_parse(op_text_parser_t *p, const char *t, size_t len);
void op_text_parser_release(op_text_parser_t *p);

#endif
