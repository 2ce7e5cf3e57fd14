/*
 * op_row — typed-row helpers of the built-in operators (see op_row.h).
 *
 * Threading: pure; state belongs to one operator instance.
 */
#include "operators/op_row.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const te_field_t text_line_field = {"line", TE_TYPE_STRING, 0};
const te_schema_t op_text_line_schema = {1, &text_line_field};

const te_schema_t *op_input_schema(op_setup_t *s, int input)
{
    if (s->api->abi_version < 3) {
        op_errorf(s, "needs operator ABI version 3 (typed rows); the engine offers %u", s->api->abi_version);
        return NULL;
    }
    const te_schema_t *sc = s->api->input_schema(s->ctx, input);
    if (sc == NULL)
        op_errorf(s, "has no input %d", input);
    return sc;
}

const char *op_schema_str(const te_schema_t *sc, char *buf, size_t len) { return te_schema_format(sc, buf, len); }

int op_field_resolve(op_setup_t *s, const te_schema_t *sc, const char *key, const char *value, uint32_t *idx)
{
    char sb[512];
    int64_t v;
    if (op_parse_int64(value, &v) == 0) {
        if (v < 0 || v >= (int64_t)sc->n_fields)
            return op_errorf(s, "parameter '%s' = '%s': field %lld is past the last field of the input schema %s",
                             key, value, (long long)v, op_schema_str(sc, sb, sizeof(sb)));
        *idx = (uint32_t)v;
        return 0;
    }
    int f = te_schema_find(sc, value);
    if (f < 0)
        return op_errorf(s, "parameter '%s' = '%s': no field of that name in the input schema %s", key, value,
                         op_schema_str(sc, sb, sizeof(sb)));
    *idx = (uint32_t)f;
    return 0;
}

int op_get_field_of(op_setup_t *s, const te_schema_t *sc, const char *key, int required, uint32_t *idx,
                    int *present)
{
    const char *v = s->api->param(s->ctx, key);
    if (present)
        *present = v != NULL;
    if (v == NULL)
        return required ? op_errorf(s, "missing required parameter '%s' (a field index or name)", key) : 0;
    return op_field_resolve(s, sc, key, v, idx);
}

int op_check_type(op_setup_t *s, const te_schema_t *sc, const char *key, uint32_t idx, unsigned mask,
                  const char *what)
{
    char sb[512];
    if (mask & OP_T(sc->fields[idx].type))
        return 0;
    const char *v = s->api->param(s->ctx, key);
    return op_errorf(s, "parameter '%s' = '%s' is a %s field; %s is needed (input schema %s)", key,
                     v ? v : sc->fields[idx].name, te_type_name(sc->fields[idx].type), what,
                     op_schema_str(sc, sb, sizeof(sb)));
}

/* ---- lists ---- */

void op_list_free(op_list_t *l)
{
    for (uint32_t i = 0; l->items && i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int list_push(op_list_t *l, const char *p, size_t n, uint32_t max)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    if (l->n >= max)
        return -2;
    char *c = malloc(n + 1);
    if (c == NULL)
        return -1;
    memcpy(c, p, n);
    c[n] = '\0';
    l->items[l->n++] = c;
    return 0;
}

static int list_from_json(op_setup_t *s, const char *key, const char *v, uint32_t max, op_list_t *out)
{
    json_error_t je;
    json_t *a = json_loads(v, JSON_DECODE_ANY, &je);
    int rc = 0;
    if (a == NULL || !json_is_array(a)) {
        json_decref(a);
        return op_errorf(s, "parameter '%s' = '%s' is not a JSON array (line %d: %s)", key, v, je.line, je.text);
    }
    for (size_t i = 0; i < json_array_size(a) && rc == 0; i++) {
        json_t *e = json_array_get(a, i);
        char *txt = json_is_string(e) ? strdup(json_string_value(e)) : json_dumps(e, JSON_ENCODE_ANY);
        if (txt == NULL || json_is_array(e) || json_is_object(e)) {
            free(txt);
            rc = op_errorf(s, "parameter '%s': item %zu is not a string or number", key, i);
            break;
        }
        int prc = list_push(out, txt, strlen(txt), max);
        free(txt);
        if (prc == -2)
            rc = op_errorf(s, "parameter '%s' has more than %u items", key, max);
        else if (prc != 0)
            rc = op_errorf(s, "out of memory");
    }
    json_decref(a);
    return rc;
}

int op_get_list(op_setup_t *s, const char *key, int required, uint32_t max, op_list_t *out)
{
    memset(out, 0, sizeof(*out));
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL)
        return required ? op_errorf(s, "missing required parameter '%s'", key) : 0;
    if ((out->items = calloc(max ? max : 1, sizeof(char *))) == NULL)
        return op_errorf(s, "out of memory");
    const char *p = v;
    while (isspace((unsigned char)*p))
        p++;
    int rc = 0;
    if (*p == '[') {
        rc = list_from_json(s, key, v, max, out);
    } else {
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            int prc = list_push(out, p, n, max);
            if (prc == -2) {
                rc = op_errorf(s, "parameter '%s' has more than %u items", key, max);
                break;
            }
            if (prc != 0) {
                rc = op_errorf(s, "out of memory");
                break;
            }
            if (out->items[out->n - 1][0] == '\0') {
                rc = op_errorf(s, "parameter '%s' = '%s' has an empty item", key, v);
                break;
            }
            if (comma == NULL)
                break;
            p = comma + 1;
        }
    }
    if (rc == 0 && out->n == 0)
        rc = op_errorf(s, "parameter '%s' is an empty list", key);
    if (rc != 0)
        op_list_free(out);
    return rc;
}

int op_get_fields_of(op_setup_t *s, const te_schema_t *sc, const char *key, int required, uint32_t *idx,
                     uint32_t max, uint32_t *n)
{
    op_list_t l;
    *n = 0;
    if (op_get_list(s, key, required, max, &l) != 0)
        return -1;
    int rc = 0;
    for (uint32_t i = 0; i < l.n && rc == 0; i++)
        rc = op_field_resolve(s, sc, key, l.items[i], &idx[i]);
    if (rc == 0)
        *n = l.n;
    op_list_free(&l);
    return rc;
}

/* ---- output schemas ---- */

int op_schema_add(op_setup_t *s, op_schema_t *o, const char *name, te_type_t t, int nullable)
{
    if (o->n >= TE_ROW_MAX_FIELDS)
        return op_errorf(s, "the output would have more than %u fields", TE_ROW_MAX_FIELDS);
    o->f[o->n++] = (te_field_t){name, t, nullable};
    return 0;
}

int op_schema_add_from(op_setup_t *s, op_schema_t *o, const te_schema_t *sc, uint32_t idx)
{
    return op_schema_add(s, o, sc->fields[idx].name, sc->fields[idx].type, sc->fields[idx].nullable);
}

int op_schema_add_named(op_setup_t *s, op_schema_t *o, const char *name, te_type_t t, int nullable)
{
    if (o->n >= TE_ROW_MAX_FIELDS)
        return op_errorf(s, "the output would have more than %u fields", TE_ROW_MAX_FIELDS);
    snprintf(o->names[o->n], sizeof(o->names[o->n]), "%s", name);
    return op_schema_add(s, o, o->names[o->n], t, nullable);
}

int op_declare_schema(op_setup_t *s, const char *tag, const te_schema_t *sc)
{
    char why[400];
    if (s->api->set_output_schema(s->ctx, tag, sc, why, sizeof(why)) != 0)
        return op_errorf(s, "%s", why);
    return 0;
}

int op_declare(op_setup_t *s, const char *tag, const op_schema_t *o)
{
    te_schema_t sc = {o->n, o->f};
    return op_declare_schema(s, tag, &sc);
}

_Static_assert(TE_ROW_MAX_FIELDS <= 64, "a field mask is one uint64_t");

int op_declare_reads(op_setup_t *s, int input, uint64_t fields, int pass_through)
{
    if (s->api->abi_version < 5 || s->api->declare_reads == NULL) /* an older engine: it reads all */
        return 0;
    if (s->api->declare_reads(s->ctx, input, fields, pass_through) != 0)
        return op_errorf(s, "declaring the fields it reads of input %d was refused", input);
    return 0;
}

uint64_t op_fields_mask(const uint32_t *idx, uint32_t n)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        m |= 1ULL << idx[i];
    return m;
}

/* ---- keys ---- */

void op_key_of(const te_schema_t *sc, const uint32_t *idx, uint32_t n, te_row_key_t *key)
{
    memset(key, 0, sizeof(*key));
    key->n = n;
    for (uint32_t i = 0; i < n; i++) {
        key->idx[i] = idx[i];
        key->type[i] = sc->fields[idx[i]].type;
    }
}

const uint8_t *op_key_bytes_multi(const te_record_t *rec, const te_row_key_t *key, op_buf_t *scratch,
                                  uint32_t *len)
{
    for (;;) {
        const uint8_t *k = te_row_key_bytes(rec, key, scratch->data, scratch->cap, len);
        if (k != NULL)
            return k;
        if (op_buf_reserve(scratch, *len) != 0)
            return NULL;
    }
}

static void put_fixed(te_row_builder_t *b, uint32_t f, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    te_row_set_slot(b, f, v);
}

int op_key_to_row(te_row_builder_t *b, uint32_t first, const uint8_t *k, uint32_t len, const te_row_key_t *key)
{
    if (key->n == 1) {
        if (len == 0 && !te_type_is_var(key->type[0]))
            te_row_set_null(b, first);
        else if (te_type_is_var(key->type[0]))
            te_row_set_str(b, first, k, len);
        else if (len == 8)
            put_fixed(b, first, k);
        else
            return -1;
        return 0;
    }
    uint32_t off = 0;
    for (uint32_t f = 0; f < key->n; f++) {
        if (off >= len)
            return -1;
        if (k[off++] == 0) {
            te_row_set_null(b, first + f);
            continue;
        }
        if (te_type_is_var(key->type[f])) {
            uint32_t n;
            if (len - off < 4)
                return -1;
            memcpy(&n, k + off, 4);
            off += 4;
            if (len - off < n)
                return -1;
            te_row_set_str(b, first + f, k + off, n);
            off += n;
        } else {
            if (len - off < 8)
                return -1;
            put_fixed(b, first + f, k + off);
            off += 8;
        }
    }
    return off == len ? 0 : -1;
}

/* ---- numbers, text ---- */

double op_row_number(const te_record_t *rec, uint32_t idx, te_type_t t)
{
    return t == TE_TYPE_DOUBLE ? te_row_get_f64(rec, idx) : (double)te_row_get_i64(rec, idx);
}

int64_t op_row_int(const te_record_t *rec, uint32_t idx, te_type_t t)
{
    if (t != TE_TYPE_DOUBLE)
        return te_row_get_i64(rec, idx);
    double d = te_row_get_f64(rec, idx);
    return d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
}

int op_row_number_any(const te_record_t *rec, uint32_t idx, te_type_t t, double *out)
{
    if (te_row_is_null(rec, idx))
        return 1;
    if (t == TE_TYPE_DOUBLE || t == TE_TYPE_INT64 || t == TE_TYPE_TIMESTAMP) {
        *out = op_row_number(rec, idx, t);
        return 0;
    }
    if (!te_type_is_var(t))
        return -1;
    uint32_t n;
    const uint8_t *p = te_row_get_str(rec, idx, &n);
    return p != NULL && op_parse_double_bytes(p, n, out) == 0 ? 0 : -1;
}

int op_row_text(op_buf_t *buf, const te_record_t *rec, const te_schema_t *sc, char delim)
{
    for (;;) {
        size_t need = te_row_format_tsv(rec, sc, delim, (char *)buf->data, buf->cap);
        if (need <= buf->cap) {
            buf->len = need;
            return 0;
        }
        if (op_buf_reserve(buf, need) != 0)
            return -1;
    }
}

int op_emit_text(const te_operator_api_t *api, te_operator_ctx_t *ctx, te_output_t *out, te_row_builder_t *b,
                 const void *p, uint32_t n, int64_t ts)
{
    te_record_t r;
    uint8_t *d = te_row_begin_str1(b, n);
    if (d != NULL && n)
        memcpy(d, p, n);
    if (d == NULL || te_row_builder_finish(b, ts, &r) != 0) {
        api->fail(ctx, "out of memory for a %u-byte record", n);
        return -1;
    }
    return api->emit(out, &r);
}
