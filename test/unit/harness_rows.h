/*
 * harness_rows — test helpers between text and typed rows (te/row.h): a tab-separated
 * line as a row of a schema (the test's own parser: strtoll / strtod / true-false,
 * an empty value = null for nullable fields), a row as its text
 * (te_row_format_tsv), and a schema from its text form. Header-only.
 *
 * Threading: the test's thread only.
 */
#ifndef TE_TEST_HARNESS_ROWS_H
#define TE_TEST_HARNESS_ROWS_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "te/row.h"

/* Builds the row of schema s from text (fields split at tabs; a last string field
 * takes the rest of the line) into b; *out views it. */
static inline void h_tsv_row(const te_schema_t *s, const char *text, size_t len, int64_t ts, te_row_builder_t *b,
                             te_record_t *out)
{
    ck_assert_int_eq(te_row_builder_begin(b, s->n_fields), 0);
    const char *p = text, *end = text + len;
    for (uint32_t i = 0; i < s->n_fields; i++) {
        /* the last field, when it is a string, takes the rest of the line (text rows) */
        const char *tab =
            i + 1 == s->n_fields && te_type_is_var(s->fields[i].type) ? NULL : memchr(p, '\t', (size_t)(end - p));
        const char *fe = tab ? tab : end;
        size_t n = (size_t)(fe - p);
        char tmp[64];
        if (n == 0 && (s->fields[i].nullable || !te_type_is_var(s->fields[i].type))) {
            te_row_set_null(b, i);
        } else if (te_type_is_var(s->fields[i].type)) {
            te_row_set_str(b, i, p, (uint32_t)n);
        } else {
            ck_assert_msg(n < sizeof(tmp), "field %u too long", i);
            memcpy(tmp, p, n);
            tmp[n] = '\0';
            if (s->fields[i].type == TE_TYPE_DOUBLE)
                te_row_set_f64(b, i, strtod(tmp, NULL));
            else if (s->fields[i].type == TE_TYPE_BOOL)
                te_row_set_bool(b, i, strcmp(tmp, "true") == 0);
            else
                te_row_set_i64(b, i, strtoll(tmp, NULL, 10));
        }
        p = tab ? tab + 1 : end;
    }
    ck_assert_int_eq(te_row_builder_finish(b, ts, out), 0);
}

/* The row's text (malloc'd, NUL-terminated). */
static inline char *h_row_tsv(const te_schema_t *s, const te_record_t *r)
{
    size_t n = te_row_format_tsv(r, s, '\t', NULL, 0);
    char *t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    te_row_format_tsv(r, s, '\t', t, n);
    t[n] = '\0';
    return t;
}

static te_schema_t *h_schemas[4096];
static size_t h_n_schemas;

static inline void h_schemas_free(void)
{
    for (size_t i = 0; i < h_n_schemas; i++)
        schema_free(h_schemas[i]);
    h_n_schemas = 0;
}

/* Keeps s until exit (tests build few schemas). */
static inline te_schema_t *h_keep(te_schema_t *s)
{
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_lt(h_n_schemas, 4096);
    if (h_n_schemas == 0)
        atexit(h_schemas_free);
    h_schemas[h_n_schemas++] = s;
    return s;
}

/* A schema from its text form, kept until exit. */
static inline const te_schema_t *h_schema(const char *spec)
{
    te_error_t err = {0};
    te_schema_t *s = schema_parse(spec, &err);
    ck_assert_msg(s != NULL, "schema '%s': %s", spec, err.msg);
    return h_keep(s);
}

#endif
