/*
 * schema — the engine's own copies of te_schema_t (te/row.h): a schema made by the
 * engine (parsed from a job, copied from a TDD or from an operator's declaration) is
 * one allocation holding the fields and their names, freed with schema_free. Also the
 * text form a job uses ("auction:int64, price:double, url:string?" or a JSON array of
 * such strings) and the checks every schema passes before it is used.
 *
 * Threading: pure functions; a schema is immutable once built.
 */
#ifndef TE_SCHEMA_H
#define TE_SCHEMA_H

#include <stddef.h>

#include "common/te_status.h"
#include "te/row.h"

/* A deep copy (NULL when out of memory; NULL in = NULL out). */
te_schema_t *schema_dup(const te_schema_t *s);
void schema_free(te_schema_t *s);

/* Checks names (non-empty, unique, letters / digits / '_' / '.'), types and the field
 * count. TE_OK or EINVAL naming the field. */
te_status_t schema_validate(const te_schema_t *s, te_error_t *err);

/* Parses the text form (types int64 / bigint, double, bool / boolean, string /
 * varchar, bytes, timestamp; "?" after the type = nullable). NULL with EINVAL naming
 * the entry on a bad spec. */
te_schema_t *schema_parse(const char *spec, te_error_t *err);

/* The type called `name` (lower case), or 0. */
te_type_t schema_type_parse(const char *name);

/* The schema of text records: one string field `line` (static, never freed). */
const te_schema_t *schema_text_line(void);

/* A side output's tag and schema (both owned by the list). */
typedef struct te_schema_side {
    char *tag;
    te_schema_t *schema;
} te_schema_side_t;
/* Sets side output `tag`'s schema in the list (replacing the one it had), taking
 * `schema`. 0, or -1 when out of memory (schema freed, the list unchanged). */
int schema_sides_put(te_schema_side_t **sides, size_t *n, const char *tag, te_schema_t *schema);

/* A one-string-field schema whatever its field's name (text, as v1/v2 operators see it). */
int schema_is_text(const te_schema_t *s);

#endif
