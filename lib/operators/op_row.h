/*
 * op_row — helpers of the built-in operators for typed rows (ABI v3, te/row.h): field
 * parameters resolved against an input schema (a 0-based index or a field name, the
 * type checked, every message naming the parameter, the field and the schema), lists
 * of fields, output schemas assembled field by field and declared, keys of a set of
 * fields (and back into row fields), numbers read from fields of any numeric type,
 * and rows written as text.
 *
 * Like op_util, only the public ABI (te/operator.h) and libc.
 *
 * Threading: pure functions; state belongs to one operator instance.
 */
#ifndef TE_OP_ROW_H
#define TE_OP_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "operators/op_util.h"

/* Type masks for op_check_type. */
#define OP_T(t)     (1u << (t))
#define OP_T_INT    (OP_T(TE_TYPE_INT64) | OP_T(TE_TYPE_TIMESTAMP))
#define OP_T_NUMBER (OP_T_INT | OP_T(TE_TYPE_DOUBLE))
#define OP_T_TEXT   (OP_T(TE_TYPE_STRING) | OP_T(TE_TYPE_BYTES))
#define OP_T_ANY    0xffffffffu

/* The schema of input `input`; writes an error (the engine offers no ABI v3, or the
 * operator has no such input) and returns NULL otherwise. */
const te_schema_t *op_input_schema(op_setup_t *s, int input);

/* "(a:int64, b:string)" of s into buf (te_schema_format). */
const char *op_schema_str(const te_schema_t *sc, char *buf, size_t len);

/* Resolves `value` (a field index or a field name) of parameter `key` against schema
 * sc. 0, or -1 with "parameter 'key' = 'value': no field of that name in the input
 * schema (...)" / "... field 9 is past the last field of ...". */
int op_field_resolve(op_setup_t *s, const te_schema_t *sc, const char *key, const char *value, uint32_t *idx);

/* Parameter `key` as a field of sc; *idx untouched and 0 returned when absent (unless
 * required: then an error). *present (may be NULL) says whether it was given. */
int op_get_field_of(op_setup_t *s, const te_schema_t *sc, const char *key, int required, uint32_t *idx,
                    int *present);

/* Field idx of sc must have a type in `mask`; else "parameter 'key' = 'v' is a <type>
 * field; <what> is needed (input schema ...)". */
int op_check_type(op_setup_t *s, const te_schema_t *sc, const char *key, uint32_t idx, unsigned mask,
                  const char *what);

/* A list parameter: a JSON array of strings / numbers or comma-separated text, split
 * into at most max items (trimmed; borrowed pointers into *store, which the caller
 * frees with op_list_free). 0 with *n items, or -1 with a message. */
typedef struct op_list {
    char **items;
    uint32_t n;
} op_list_t;
int op_get_list(op_setup_t *s, const char *key, int required, uint32_t max, op_list_t *out);
void op_list_free(op_list_t *l);

/* A list parameter of fields of sc (indexes or names) into idx[] (at most max). */
int op_get_fields_of(op_setup_t *s, const te_schema_t *sc, const char *key, int required, uint32_t *idx,
                     uint32_t max, uint32_t *n);

/* An output schema being assembled (names borrowed: they must live until declared). */
typedef struct op_schema {
    uint32_t n;
    te_field_t f[TE_ROW_MAX_FIELDS];
    char names[TE_ROW_MAX_FIELDS][64]; /* op_schema_add_named copies here */
} op_schema_t;

/* Appends a field (name borrowed) / a copy of field idx of sc / a field whose name is
 * copied. -1 (message) past TE_ROW_MAX_FIELDS. */
int op_schema_add(op_setup_t *s, op_schema_t *o, const char *name, te_type_t t, int nullable);
int op_schema_add_from(op_setup_t *s, op_schema_t *o, const te_schema_t *sc, uint32_t idx);
int op_schema_add_named(op_setup_t *s, op_schema_t *o, const char *name, te_type_t t, int nullable);
/* Declares o as the main output (tag NULL) or side output `tag`. 0 or -1 (message). */
int op_declare(op_setup_t *s, const char *tag, const op_schema_t *o);
/* Declares an existing schema. */
int op_declare_schema(op_setup_t *s, const char *tag, const te_schema_t *sc);
/* Declares the fields of input `input` the operator reads (api->declare_reads, ABI v5;
 * bit i = field i), pass_through when its main output's rows are input 0's as they
 * came. A no-op on an older engine. 0 or -1 (message). */
int op_declare_reads(op_setup_t *s, int input, uint64_t fields, int pass_through);
/* The mask of fields idx[0..n). */
uint64_t op_fields_mask(const uint32_t *idx, uint32_t n);

/* A key of fields idx[0..n) of sc (te_row_key_t). */
void op_key_of(const te_schema_t *sc, const uint32_t *idx, uint32_t n, te_row_key_t *key);
/* The key bytes of rec (te_row_key_bytes), a composite key assembled in *scratch. NULL
 * when out of memory. op_key_bytes_multi: the same, the caller's key has several
 * fields. */
const uint8_t *op_key_bytes_multi(const te_record_t *rec, const te_row_key_t *key, op_buf_t *scratch,
                                  uint32_t *len);
static inline const uint8_t *op_key_bytes(const te_record_t *rec, const te_row_key_t *key, op_buf_t *scratch,
                                          uint32_t *len)
{
    if (key->n == 1) /* a pointer into the row: inline, no call */
        return te_row_field_key(rec, key->idx[0], key->type[0], len);
    return op_key_bytes_multi(rec, key, scratch, len);
}

/* Writes key bytes back as the key's fields into b at fields first..first+n-1. 0, or
 * -1 when the bytes do not match the key's layout. */
int op_key_to_row(te_row_builder_t *b, uint32_t first, const uint8_t *k, uint32_t len, const te_row_key_t *key);

/* Field idx of rec as a double / int64 whatever its numeric type (0 when null). */
double op_row_number(const te_record_t *rec, uint32_t idx, te_type_t t);
int64_t op_row_int(const te_record_t *rec, uint32_t idx, te_type_t t);
/* Field idx of rec as a double, text parsed as a number (the operators that took
 * numbers out of text keep taking them from string fields). 0, 1 when the field is
 * null, -1 when its text is not a number (or its type has no number: bool). */
int op_row_number_any(const te_record_t *rec, uint32_t idx, te_type_t t, double *out);

/* rec (of schema sc) as text with fields separated by delim, into buf (grown; buf->len
 * = the text's length). 0 or -1 (out of memory). */
int op_row_text(op_buf_t *buf, const te_record_t *rec, const te_schema_t *sc, char delim);

/* The schema of text (one string field `line`), what text sources declare. */
extern const te_schema_t op_text_line_schema;

/* Emits the bytes p[0..n) as a row of op_text_line_schema (built in b). The emit's
 * result, or -1 (failed, out of memory). */
int op_emit_text(const te_operator_api_t *api, te_operator_ctx_t *ctx, te_output_t *out, te_row_builder_t *b,
                 const void *p, uint32_t n, int64_t ts);

#endif
