/*
 * op_lookup_join — `lookup_join`: enriches each row with the rows of a bounded side
 * input read from a file (Flink SQL's lookup join FOR SYSTEM_TIME AS OF; Nexmark q13):
 * an inner join on `key` (an expression over the stream's row, e.g. "auction % 10000")
 * = the file's `file_key` field. The file is read once at open into a hash table.
 *
 * Parameters: path (required, under io.allowed-dirs), fields (required: the file's
 * schema, as parse's), format = tsv (default) | csv | json, delimiter, key (required:
 * an expression of the file key's type class: a number for a number, a string for a
 * string), file_key (a field of `fields`, index or name), prefix (prepended to the
 * file's field names in the output, default "").
 * Output: the stream's fields, then the file's; one row per matching file row (a key
 * on several lines of the file joins each); a row without a match, or whose key is
 * NULL, is dropped. A line of the file that does not parse fails open, naming the line.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/expr.h"
#include "operators/op_slices.h"
#include "operators/op_text.h"

typedef struct lookup_join {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *path;
    const te_schema_t *in, *file;
    uint32_t file_key;
    expr_t *key;
    expr_env_t env;
    op_text_parser_t tp;
    op_slice_t index; /* key bytes -> u64 offset of the first row in rows */
    op_buf_t rows;    /* u64 next (0 = none) | u32 len | row, 8-byte aligned */
    te_row_builder_t out;
} lookup_join_t;

static void lj_dispose(void *self)
{
    lookup_join_t *l = self;
    if (l == NULL)
        return;
    expr_free(l->key);
    expr_env_free(&l->env);
    op_text_parser_release(&l->tp);
    op_slice_release(&l->index);
    op_buf_release(&l->rows);
    te_row_builder_free(&l->out);
    free(l);
}

static void *lj_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"path", "fields",   "format", "delimiter",
                                          "key",  "file_key", "prefix", NULL};
    op_setup_t s = {api, ctx, "lookup_join", err, errlen};
    const te_schema_t *in, *file;
    const char *path, *spec, *format, *key, *prefix;
    char delim, why[512];
    uint32_t fk;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_path(&s, "path", &path) != 0 || op_get_string(&s, "fields", 1, NULL, &spec) != 0 ||
        op_get_string(&s, "format", 0, "tsv", &format) != 0 || op_get_string(&s, "key", 1, NULL, &key) != 0 ||
        op_get_string(&s, "prefix", 0, "", &prefix) != 0)
        return NULL;
    int f = op_text_format(format);
    if (f < 0) {
        op_errorf(&s, "parameter 'format' = '%s' is not one of tsv, csv, json", format);
        return NULL;
    }
    if (op_get_delimiter(&s, "delimiter", f == OP_TEXT_CSV ? ',' : '\t', &delim) != 0)
        return NULL;
    if ((file = api->parse_schema(ctx, spec, why, sizeof(why))) == NULL) {
        op_errorf(&s, "parameter 'fields': %s", why);
        return NULL;
    }
    if (op_get_field_of(&s, file, "file_key", 1, &fk, NULL) != 0)
        return NULL;
    lookup_join_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    *l = (lookup_join_t){.api = api, .ctx = ctx, .path = path, .in = in, .file = file, .file_key = fk};
    l->tp = (op_text_parser_t){.format = f, .delim = delim, .out = file};
    op_slice_init(&l->index, 0, 8);
    if ((l->key = expr_compile(key, in, why, sizeof(why))) == NULL) {
        op_errorf(&s, "parameter 'key': %s", why);
        goto fail;
    }
    te_type_t kt = expr_type(l->key), ft = file->fields[fk].type;
    if (kt != 0 && te_type_is_var(kt) != te_type_is_var(ft)) {
        op_errorf(&s, "parameter 'key' = '%s' is a %s but file_key '%s' is a %s", key, te_type_name(kt),
                  file->fields[fk].name, te_type_name(ft));
        goto fail;
    }
    op_schema_t o = {0};
    for (uint32_t i = 0; i < in->n_fields; i++)
        if (op_schema_add_from(&s, &o, in, i) != 0)
            goto fail;
    for (uint32_t i = 0; i < file->n_fields; i++) {
        char name[64];
        snprintf(name, sizeof(name), "%s%s", prefix, file->fields[i].name);
        if (te_schema_find(in, name) >= 0) {
            op_errorf(&s, "the stream and the file both have a field '%s': set prefix", name);
            goto fail;
        }
        if (op_schema_add_named(&s, &o, name, file->fields[i].type, file->fields[i].nullable) != 0)
            goto fail;
    }
    if (op_declare(&s, NULL, &o) != 0)
        goto fail;
    return l;
fail:
    lj_dispose(l);
    return NULL;
}

/* Adds a parsed file row to the index (rows of one key chained, in file order). */
static int index_row(lookup_join_t *l, const te_record_t *row)
{
    uint32_t kl;
    const uint8_t *k = te_row_field_key(row, l->file_key, l->file->fields[l->file_key].type, &kl);
    size_t off = l->rows.len, need = 12 + (size_t)row->len, pad = (8 - need % 8) % 8;
    if (op_buf_reserve(&l->rows, off + need + pad + 8) != 0)
        return -1;
    if (off == 0) { /* offset 0 means "none": start the arena with 8 unused bytes */
        memset(l->rows.data, 0, 8);
        off = l->rows.len = 8;
    }
    uint64_t none = 0;
    uint32_t len = row->len;
    memcpy(l->rows.data + off, &none, 8);
    memcpy(l->rows.data + off + 8, &len, 4);
    memcpy(l->rows.data + off + 12, row->data, row->len);
    l->rows.len = off + need + pad;
    int created;
    uint8_t *head = op_slice_upsert(&l->index, k, kl, &created);
    if (head == NULL)
        return -1;
    uint64_t o = off;
    if (created) {
        memcpy(head, &o, 8);
        return 0;
    }
    uint64_t at; /* append to the end of the chain */
    memcpy(&at, head, 8);
    for (;;) {
        uint64_t next;
        memcpy(&next, l->rows.data + at, 8);
        if (next == 0)
            break;
        at = next;
    }
    memcpy(l->rows.data + at, &o, 8);
    return 0;
}

static int lj_open(void *self, char *err, size_t errlen)
{
    lookup_join_t *l = self;
    FILE *f = fopen(l->path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "operator 'lookup_join': cannot open '%s': %m", l->path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        te_record_t row;
        if (op_text_parse(&l->tp, line, (size_t)n) != 0 || te_row_builder_finish(&l->tp.row, 0, &row) != 0) {
            snprintf(err, errlen, "operator 'lookup_join': '%s' line %ld: %s", l->path, lineno, l->tp.why);
            rc = -1;
        } else if (index_row(l, &row) != 0) {
            snprintf(err, errlen, "operator 'lookup_join': out of memory reading '%s'", l->path);
            rc = -1;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

static int lj_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    lookup_join_t *l = self;
    expr_value_t v;
    expr_env_reset(&l->env);
    if (expr_eval(l->key, rec, &l->env, &v) != 0)
        goto oom;
    if (v.null)
        return 0;
    uint8_t tmp[8];
    const uint8_t *k = tmp;
    uint32_t kl = 8;
    te_type_t ft = l->file->fields[l->file_key].type;
    if (te_type_is_var(ft)) {
        k = v.s.p;
        kl = v.s.n;
    } else if (ft == TE_TYPE_DOUBLE) {
        double d = v.type == TE_TYPE_DOUBLE ? v.d : (double)v.i;
        memcpy(tmp, &d, 8);
    } else {
        int64_t i = v.type == TE_TYPE_DOUBLE ? (int64_t)v.d : v.i;
        memcpy(tmp, &i, 8);
    }
    const uint8_t *head = op_slice_find(&l->index, k, kl);
    if (head == NULL)
        return 0;
    uint64_t at;
    memcpy(&at, head, 8);
    uint32_t ni = l->in->n_fields, nf = l->file->n_fields;
    while (at != 0) {
        uint32_t len;
        memcpy(&len, l->rows.data + at + 8, 4);
        te_record_t fr = {l->rows.data + at + 12, len, 0};
        te_row_builder_begin(&l->out, ni + nf);
        for (uint32_t i = 0; i < ni; i++)
            te_row_copy_field(&l->out, i, rec, i, l->in->fields[i].type);
        for (uint32_t i = 0; i < nf; i++)
            te_row_copy_field(&l->out, ni + i, &fr, i, l->file->fields[i].type);
        te_record_t o;
        if (te_row_builder_finish(&l->out, rec->timestamp, &o) != 0)
            goto oom;
        l->api->emit(out, &o);
        memcpy(&at, l->rows.data + at, 8);
    }
    return 0;
oom:
    l->api->fail(l->ctx, "operator 'lookup_join': out of memory");
    return -1;
}

const te_operator_def_t op_lookup_join_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "lookup_join",
    .kind = TE_OP_ONE_INPUT,
    .setup = lj_setup,
    .open = lj_open,
    .process_element = lj_process,
    .dispose = lj_dispose,
};
