/*
 * schema — owned schema copies, their validation and their text form (see schema.h).
 *
 * Threading: pure functions; no shared state.
 */
#include "common/schema.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    te_type_t type;
} type_names[] = {
    {"int64", TE_TYPE_INT64},    {"bigint", TE_TYPE_INT64}, {"double", TE_TYPE_DOUBLE},
    {"bool", TE_TYPE_BOOL},      {"boolean", TE_TYPE_BOOL}, {"string", TE_TYPE_STRING},
    {"varchar", TE_TYPE_STRING}, {"bytes", TE_TYPE_BYTES},  {"timestamp", TE_TYPE_TIMESTAMP},
};

te_type_t schema_type_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type_names[i].name, name) == 0)
            return type_names[i].type;
    return (te_type_t)0;
}

static const te_field_t text_line_field = {"line", TE_TYPE_STRING, 0};
static const te_schema_t text_line_schema = {1, &text_line_field};

const te_schema_t *schema_text_line(void) { return &text_line_schema; }

int schema_is_text(const te_schema_t *s)
{
    return s != NULL && s->n_fields == 1 && s->fields[0].type == TE_TYPE_STRING;
}

/* One block: the te_schema_t, the fields, then the names. */
te_schema_t *schema_dup(const te_schema_t *s)
{
    if (s == NULL)
        return NULL;
    size_t names = 0;
    for (uint32_t i = 0; i < s->n_fields; i++)
        names += strlen(s->fields[i].name ? s->fields[i].name : "") + 1;
    size_t head = sizeof(te_schema_t) + (size_t)s->n_fields * sizeof(te_field_t);
    uint8_t *blk = malloc(head + names);
    if (blk == NULL)
        return NULL;
    te_schema_t *out = (te_schema_t *)blk;
    te_field_t *f = (te_field_t *)(blk + sizeof(te_schema_t));
    char *p = (char *)blk + head;
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const char *nm = s->fields[i].name ? s->fields[i].name : "";
        size_t n = strlen(nm) + 1;
        memcpy(p, nm, n);
        f[i] = (te_field_t){p, s->fields[i].type, s->fields[i].nullable ? 1 : 0};
        p += n;
    }
    out->n_fields = s->n_fields;
    out->fields = f;
    return out;
}

void schema_free(te_schema_t *s) { free(s); }

static int name_ok(const char *n)
{
    if (n == NULL || n[0] == '\0' || isdigit((unsigned char)n[0]))
        return 0;
    for (const char *p = n; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
            return 0;
    return 1;
}

te_status_t schema_validate(const te_schema_t *s, te_error_t *err)
{
    if (s == NULL)
        return te_error_set(err, TE_EINVAL, "no schema");
    if (s->n_fields > TE_ROW_MAX_FIELDS)
        return te_error_set(err, TE_EINVAL, "%u fields (a row has at most %u)", s->n_fields, TE_ROW_MAX_FIELDS);
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const te_field_t *f = &s->fields[i];
        if (!name_ok(f->name))
            return te_error_set(err, TE_EINVAL,
                                "field %u: name '%s' is not an identifier (letters, digits, '_', '.'; not "
                                "starting with a digit)",
                                i, f->name ? f->name : "");
        if (te_type_name(f->type)[0] == '?')
            return te_error_set(err, TE_EINVAL, "field %u ('%s'): unknown type %d", i, f->name, (int)f->type);
        for (uint32_t k = 0; k < i; k++)
            if (strcmp(s->fields[k].name, f->name) == 0)
                return te_error_set(err, TE_EINVAL, "field %u: duplicate name '%s' (also field %u)", i, f->name,
                                    k);
    }
    return TE_OK;
}

/* Parses one "name:type[?]" entry (trimmed) into f, the name copied into *names. */
static te_status_t parse_entry(const char *e, size_t len, size_t idx, te_field_t *f, char **names, te_error_t *err)
{
    while (len && isspace((unsigned char)*e))
        e++, len--;
    while (len && isspace((unsigned char)e[len - 1]))
        len--;
    const char *colon = memchr(e, ':', len);
    if (colon == NULL)
        return te_error_set(err, TE_EINVAL, "entry %zu '%.*s' is not name:type", idx, (int)len, e);
    size_t nl = (size_t)(colon - e);
    while (nl && isspace((unsigned char)e[nl - 1]))
        nl--;
    const char *t = colon + 1;
    size_t tl = len - (size_t)(t - e);
    while (tl && isspace((unsigned char)*t))
        t++, tl--;
    int nullable = tl > 0 && t[tl - 1] == '?';
    if (nullable)
        tl--;
    char tname[16];
    if (tl == 0 || tl >= sizeof(tname))
        return te_error_set(err, TE_EINVAL, "entry %zu '%.*s': missing or unknown type", idx, (int)len, e);
    for (size_t i = 0; i < tl; i++)
        tname[i] = (char)tolower((unsigned char)t[i]);
    tname[tl] = '\0';
    te_type_t type = schema_type_parse(tname);
    if (type == 0)
        return te_error_set(err, TE_EINVAL,
                            "entry %zu '%.*s': unknown type '%s' (allowed: int64, double, bool, string, bytes, "
                            "timestamp)",
                            idx, (int)len, e, tname);
    memcpy(*names, e, nl);
    (*names)[nl] = '\0';
    *f = (te_field_t){*names, type, nullable};
    *names += nl + 1;
    return TE_OK;
}

/* The entries of a spec: a JSON array of strings, or comma-separated text. Calls fn
 * for each; returns the count or -1 (err set). */
typedef te_status_t (*entry_fn)(void *arg, const char *e, size_t len, size_t idx, te_error_t *err);

static long foreach_entry(const char *spec, entry_fn fn, void *arg, te_error_t *err)
{
    const char *p = spec;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[') {
        json_error_t je;
        json_t *a = json_loads(spec, JSON_DECODE_ANY, &je);
        if (a == NULL || !json_is_array(a)) {
            json_decref(a);
            te_error_set(err, TE_EINVAL, "not a JSON array of \"name:type\" strings");
            return -1;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
            json_t *v = json_array_get(a, i);
            if (!json_is_string(v)) {
                json_decref(a);
                te_error_set(err, TE_EINVAL, "entry %zu is not a \"name:type\" string", i);
                return -1;
            }
            if (fn(arg, json_string_value(v), json_string_length(v), i, err) != TE_OK) {
                json_decref(a);
                return -1;
            }
        }
        long n = (long)json_array_size(a);
        json_decref(a);
        return n;
    }
    long n = 0;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (fn(arg, p, len, (size_t)n, err) != TE_OK)
            return -1;
        n++;
        if (comma == NULL)
            return n;
        p = comma + 1;
    }
}

typedef struct parse_acc {
    te_field_t *fields;
    char *names;
    size_t n;
} parse_acc_t;

static te_status_t count_entry(void *arg, const char *e, size_t len, size_t idx, te_error_t *err)
{
    (void)e, (void)idx, (void)err;
    *(size_t *)arg += len + 1;
    return TE_OK;
}

static te_status_t fill_entry(void *arg, const char *e, size_t len, size_t idx, te_error_t *err)
{
    parse_acc_t *a = arg;
    return parse_entry(e, len, idx, &a->fields[a->n++], &a->names, err);
}

te_schema_t *schema_parse(const char *spec, te_error_t *err)
{
    size_t chars = 0;
    if (spec == NULL) {
        te_error_set(err, TE_EINVAL, "no schema given");
        return NULL;
    }
    long n = foreach_entry(spec, count_entry, &chars, err);
    if (n < 0)
        return NULL;
    if (n == 0 || n > (long)TE_ROW_MAX_FIELDS) {
        te_error_set(err, TE_EINVAL, "%ld fields (a schema has 1 to %u)", n, TE_ROW_MAX_FIELDS);
        return NULL;
    }
    te_field_t *fields = calloc((size_t)n, sizeof(*fields));
    char *names = malloc(chars + 1);
    te_schema_t *out = NULL;
    if (fields == NULL || names == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory parsing a schema");
        goto cleanup;
    }
    parse_acc_t acc = {fields, names, 0};
    if (foreach_entry(spec, fill_entry, &acc, err) < 0)
        goto cleanup;
    te_schema_t tmp = {(uint32_t)acc.n, fields};
    if (schema_validate(&tmp, err) != TE_OK)
        goto cleanup;
    if ((out = schema_dup(&tmp)) == NULL)
        te_error_set(err, TE_ENOMEM, "out of memory parsing a schema");
cleanup:
    free(fields);
    free(names);
    return out;
}

int schema_sides_put(te_schema_side_t **sides, size_t *n, const char *tag, te_schema_t *schema)
{
    for (size_t k = 0; k < *n; k++)
        if (strcmp((*sides)[k].tag, tag) == 0) {
            schema_free((*sides)[k].schema);
            (*sides)[k].schema = schema;
            return 0;
        }
    te_schema_side_t *ns = realloc(*sides, (*n + 1) * sizeof(*ns));
    char *t = strdup(tag);
    if (ns != NULL)
        *sides = ns;
    if (ns == NULL || t == NULL) {
        free(t);
        schema_free(schema);
        return -1;
    }
    (*sides)[(*n)++] = (te_schema_side_t){t, schema};
    return 0;
}
