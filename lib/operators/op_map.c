/*
 * op_map — the `map` family: `select` (project fields), `upper` and `lower` (ASCII case
 * mapping of the record or one field).
 *
 * select: fields = comma-separated 0-based indexes ("2,0"), output joined with the
 *   delimiter (default "\t"); a field the record does not have becomes empty.
 * upper / lower: field (optional; the whole record when absent; a record without the
 *   field passes unchanged), delimiter (default "\t"). Only A-Z / a-z change.
 * Outputs keep the input's timestamp.
 *
 * Hot path: no allocation, no syscall: the output is built in a per-instance scratch
 * buffer grown only when a longer record arrives.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/op_util.h"

#define SELECT_MAX_FIELDS 256

typedef struct map_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    char delim;
    int32_t field;    /* upper/lower: -1 = whole record */
    int to_upper;     /* upper = 1, lower = 0 */
    uint32_t nfields; /* select */
    uint32_t fields[SELECT_MAX_FIELDS];
    op_buf_t out;
} map_op_t;

static map_op_t *map_op_new(const te_operator_api_t *api, te_operator_ctx_t *ctx, const char *name, op_setup_t *s)
{
    map_op_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    m->name = name;
    m->field = -1;
    return m;
}

/* Parses "2,0,1" into m->fields. Returns 0 or -1 with a message. */
static int select_parse_fields(map_op_t *m, op_setup_t *s, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char tmp[16];
        int64_t v;
        if (n == 0 || n >= sizeof(tmp))
            return op_errorf(s, "parameter 'fields' = '%s' is not a comma-separated list of field indexes", list);
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        if (op_parse_int64(tmp, &v) != 0)
            return op_errorf(s, "parameter 'fields' = '%s': '%s' is not an integer", list, tmp);
        if (v < 0 || v > OP_FIELD_MAX)
            return op_errorf(s, "parameter 'fields' = '%s': index %s is out of range [0, %d]", list, tmp,
                             OP_FIELD_MAX);
        if (m->nfields == SELECT_MAX_FIELDS)
            return op_errorf(s, "parameter 'fields' = '%s' names more than %d fields", list, SELECT_MAX_FIELDS);
        m->fields[m->nfields++] = (uint32_t)v;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

static void *select_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"fields", "delimiter", NULL};
    op_setup_t s = {api, ctx, "select", err, errlen};
    const char *fields;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_string(&s, "fields", 1, NULL, &fields) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    map_op_t *m = map_op_new(api, ctx, "select", &s);
    if (m == NULL)
        return NULL;
    m->delim = delim;
    if (select_parse_fields(m, &s, fields) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

static void *case_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                        const char *name, int to_upper)
{
    static const char *const allowed[] = {"field", "delimiter", NULL};
    op_setup_t s = {api, ctx, name, err, errlen};
    int32_t field;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_field(&s, "field", 0, &field) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    map_op_t *m = map_op_new(api, ctx, name, &s);
    if (m == NULL)
        return NULL;
    m->delim = delim;
    m->field = field;
    m->to_upper = to_upper;
    return m;
}

static void *upper_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return case_setup(api, ctx, err, errlen, "upper", 1);
}

static void *lower_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return case_setup(api, ctx, err, errlen, "lower", 0);
}

static int map_oom(map_op_t *m)
{
    m->api->fail(m->ctx, "operator '%s': out of memory", m->name);
    return -1;
}

static int select_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    map_op_t *m = self;
    (void)input;
    /* Output is at most the record once per selected field plus the delimiters. */
    if (op_buf_reserve(&m->out, ((size_t)rec->len + 1) * m->nfields) != 0)
        return map_oom(m);
    size_t off = 0;
    for (uint32_t i = 0; i < m->nfields; i++) {
        uint32_t start, flen;
        if (i > 0)
            m->out.data[off++] = (uint8_t)m->delim;
        if (te_record_field(rec->data, rec->len, m->delim, m->fields[i], &start, &flen) == 0) {
            memcpy(m->out.data + off, rec->data + start, flen);
            off += flen;
        }
    }
    te_record_t o = {m->out.data, (uint32_t)off, rec->timestamp};
    m->api->emit(out, &o);
    return 0;
}

static int case_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    map_op_t *m = self;
    (void)input;
    uint32_t start = 0, flen = rec->len;
    if (m->field >= 0 && te_record_field(rec->data, rec->len, m->delim, (uint32_t)m->field, &start, &flen) != 0) {
        m->api->emit(out, rec);
        return 0;
    }
    if (op_buf_reserve(&m->out, (size_t)rec->len + 1) != 0)
        return map_oom(m);
    uint8_t *d = m->out.data;
    if (rec->len)
        memcpy(d, rec->data, rec->len);
    for (uint32_t i = start; i < start + flen; i++) {
        uint8_t c = d[i];
        if (m->to_upper && c >= 'a' && c <= 'z')
            d[i] = (uint8_t)(c - 32);
        else if (!m->to_upper && c >= 'A' && c <= 'Z')
            d[i] = (uint8_t)(c + 32);
    }
    te_record_t o = {d, rec->len, rec->timestamp};
    m->api->emit(out, &o);
    return 0;
}

static void map_dispose(void *self)
{
    map_op_t *m = self;
    if (m == NULL)
        return;
    op_buf_release(&m->out);
    free(m);
}

const te_operator_def_t op_select_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "select",
    .kind = TE_OP_ONE_INPUT,
    .setup = select_setup,
    .process_element = select_process,
    .dispose = map_dispose,
};

const te_operator_def_t op_upper_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "upper",
    .kind = TE_OP_ONE_INPUT,
    .setup = upper_setup,
    .process_element = case_process,
    .dispose = map_dispose,
};

const te_operator_def_t op_lower_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "lower",
    .kind = TE_OP_ONE_INPUT,
    .setup = lower_setup,
    .process_element = case_process,
    .dispose = map_dispose,
};
