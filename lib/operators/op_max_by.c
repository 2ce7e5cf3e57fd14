/*
 * op_max_by — `max_by`: per key, the record with the largest numeric value field
 * (Flink's KeyedStream.maxBy). With windows upstream it answers "which item had the
 * most bids in each window" — Nexmark q5's hot items.
 *
 * Parameters: key_field (an index or a name, default 0), value_field (required: a
 * numeric field, or a string field holding numbers), delimiter (accepted, unused: rows
 * are typed), emit = updates (default: the row each time it becomes its key's new
 * maximum) | final (every key's maximum once at end of input, sorted by key bytes) |
 * watermark (event time: a key's maximum once the watermark reaches the timestamp of
 * the row that first opened the key, then the key starts over — with a window
 * upstream, whose results carry timestamp window end - 1 and are keyed by window, that
 * is "once per window, after all its results arrived"). Ties keep the first row seen;
 * rows whose value is null are skipped. The output schema is the input's.
 *
 * Keyed state per key: 8-byte IEEE double (host order) of the maximum + its row.
 * A row whose value field is text that is not a number fails the task, naming it.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

typedef enum { EMIT_UPDATES, EMIT_FINAL, EMIT_WATERMARK } emit_mode_t;

typedef struct max_by {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_row_key_t key;
    uint32_t value_field;
    te_type_t value_type;
    const char *value_name;
    emit_mode_t emit;
    op_buf_t buf;
} max_by_t;

static void *max_by_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key_field", "value_field", "delimiter", "emit", NULL};
    op_setup_t s = {api, ctx, "max_by", err, errlen};
    const te_schema_t *in;
    uint32_t kf = 0, vf = 0;
    char delim;
    const char *emit;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "key_field", 0, &kf, NULL) != 0 ||
        op_get_field_of(&s, in, "value_field", 1, &vf, NULL) != 0 ||
        op_check_type(&s, in, "value_field", vf, OP_T_NUMBER | OP_T(TE_TYPE_STRING), "a number") != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_string(&s, "emit", 0, "updates", &emit) != 0)
        return NULL;
    emit_mode_t mode;
    if (strcmp(emit, "updates") == 0)
        mode = EMIT_UPDATES;
    else if (strcmp(emit, "final") == 0)
        mode = EMIT_FINAL;
    else if (strcmp(emit, "watermark") == 0)
        mode = EMIT_WATERMARK;
    else {
        op_errorf(&s, "parameter 'emit' = '%s' is not one of updates, final, watermark", emit);
        return NULL;
    }
    if (op_declare_schema(&s, NULL, in) != 0)
        return NULL;
    max_by_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    op_key_of(in, &kf, 1, &m->key);
    m->value_field = vf;
    m->value_type = in->fields[vf].type;
    m->value_name = in->fields[vf].name;
    m->emit = mode;
    return m;
}

static int max_by_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    max_by_t *m = self;
    double v;
    int rc = op_row_number_any(rec, m->value_field, m->value_type, &v);
    if (rc > 0)
        return 0; /* null */
    if (rc < 0) {
        uint32_t l = 0;
        const uint8_t *p = te_row_get_str(rec, m->value_field, &l);
        m->api->fail(m->ctx, "operator 'max_by': value_field '%s' = '%.*s' is not a number", m->value_name,
                     (int)(l > 64 ? 64 : l), p ? (const char *)p : "");
        return -1;
    }
    uint32_t keylen;
    const uint8_t *key = te_row_field_key(rec, m->key.idx[0], m->key.type[0], &keylen);
    const uint8_t *old;
    uint32_t oldlen;
    int have = m->api->state_get(m->ctx, key, keylen, &old, &oldlen) && oldlen >= sizeof(double);
    if (have) {
        double cur;
        memcpy(&cur, old, sizeof(cur));
        if (!(v > cur))
            return 0;
    }
    if (op_buf_reserve(&m->buf, sizeof(double) + rec->len) != 0) {
        m->api->fail(m->ctx, "out of memory");
        return -1;
    }
    memcpy(m->buf.data, &v, sizeof(v));
    memcpy(m->buf.data + sizeof(v), rec->data, rec->len);
    /* The key points into rec, which stays valid: state_put copies both. */
    if (m->api->state_put(m->ctx, key, keylen, m->buf.data, (uint32_t)(sizeof(v) + rec->len)) != 0) {
        m->api->fail(m->ctx, "out of memory for keyed state");
        return -1;
    }
    if (m->emit == EMIT_WATERMARK && !have) {
        if (rec->timestamp == TE_NO_TIMESTAMP) {
            m->api->fail(m->ctx, "operator 'max_by': emit=watermark needs records with timestamps");
            return -1;
        }
        if (m->api->register_event_timer(m->ctx, key, keylen, rec->timestamp) != 0)
            return -1;
    }
    if (m->emit == EMIT_UPDATES)
        return m->api->emit(out, rec);
    return 0;
}

static int max_by_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                           te_output_t *out)
{
    max_by_t *m = self;
    if (!event_time)
        return 0;
    const uint8_t *val;
    uint32_t vallen;
    if (!m->api->state_get(m->ctx, key, keylen, &val, &vallen) || vallen < sizeof(double))
        return 0;
    if (op_buf_reserve(&m->buf, vallen) != 0) {
        m->api->fail(m->ctx, "out of memory");
        return -1;
    }
    memcpy(m->buf.data, val, vallen); /* val is borrowed only until the next state call */
    m->api->state_delete(m->ctx, key, keylen);
    te_record_t r = {m->buf.data + sizeof(double), vallen - (uint32_t)sizeof(double), ts};
    return m->api->emit(out, &r);
}

/* emit=final: every key's maximum record, in key order. */
typedef struct max_by_final {
    max_by_t *m;
    te_output_t *out;
} max_by_final_t;

static int max_by_final_emit(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    (void)key;
    (void)keylen;
    max_by_final_t *f = arg;
    if (vallen < sizeof(double))
        return 0;
    te_record_t r = {val + sizeof(double), vallen - (uint32_t)sizeof(double), TE_NO_TIMESTAMP};
    return f->m->api->emit(f->out, &r);
}

static int max_by_end_input(void *self, te_output_t *out)
{
    max_by_t *m = self;
    if (m->emit != EMIT_FINAL)
        return 0;
    max_by_final_t f = {m, out};
    int rc = op_keyed_foreach_sorted(m->api, m->ctx, max_by_final_emit, &f);
    if (rc == -2)
        m->api->fail(m->ctx, "out of memory collecting the final maxima");
    return rc == 0 ? 0 : -1;
}

static void max_by_dispose(void *self)
{
    max_by_t *m = self;
    if (m) {
        op_buf_release(&m->buf);
        free(m);
    }
}

const te_operator_def_t op_max_by_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "max_by",
    .kind = TE_OP_ONE_INPUT,
    .setup = max_by_setup,
    .process_element = max_by_process,
    .end_input = max_by_end_input,
    .on_timer = max_by_on_timer,
    .dispose = max_by_dispose,
};
