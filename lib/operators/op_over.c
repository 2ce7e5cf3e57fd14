/*
 * op_over — `over`: aggregates over the last rows of a key in event-time order (Flink
 * SQL's OVER (PARTITION BY key ORDER BY rowtime ROWS BETWEEN n PRECEDING AND CURRENT
 * ROW); Nexmark q6's average of a seller's last closed auctions).
 *
 * Parameters: key (partition fields, a list; absent = one partition), rows (n: the
 * preceding rows counted with the current one, default 10), aggs (op_agg.h: count,
 * sum, min, max, avg of numbers; with FILTER), order (tie-break fields, a list, for
 * rows of the same timestamp; default: arrival).
 * Rows wait in keyed state until the watermark passes their timestamp (Flink buffers
 * the same way), then each key's rows are taken in (timestamp, order) order: every row
 * is emitted with the aggregates over itself and the key's n preceding rows. Rows at or
 * behind the watermark on arrival are late: dropped and counted.
 * Output: the input fields, then one field per aggregate; the row's timestamp.
 *
 * State per key: waiting rows (namespace 'b' | sequence: i64 time | the row), the
 * first waiting and the next sequence numbers (namespace 'b'), the last n rows (namespace 'h': u32 length | row ...); an
 * event-time timer per key and waiting timestamp.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_agg.h"
#include "operators/op_keyed.h"

#define OVER_MAX_ORDER 8

typedef struct over_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const te_schema_t *in;
    te_row_key_t key;
    uint32_t n_key;
    int64_t rows;
    uint32_t order[OVER_MAX_ORDER], n_order;
    op_aggs_t aggs;
    uint8_t *acc;
    te_row_builder_t out, init;
    op_buf_t keybuf, hist, ready, tmp;
} over_op_t;

static void over_dispose(void *self)
{
    over_op_t *o = self;
    if (o == NULL)
        return;
    op_aggs_free(&o->aggs);
    free(o->acc);
    te_row_builder_free(&o->out);
    te_row_builder_free(&o->init);
    op_buf_release(&o->keybuf);
    op_buf_release(&o->hist);
    op_buf_release(&o->ready);
    op_buf_release(&o->tmp);
    free(o);
}

static void *over_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key", "rows", "aggs", "order", NULL};
    op_setup_t s = {api, ctx, "over", err, errlen};
    const te_schema_t *in;
    uint32_t idx[TE_ROW_KEY_MAX_FIELDS], nk = 0;
    int64_t rows;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_fields_of(&s, in, "key", 0, idx, TE_ROW_KEY_MAX_FIELDS, &nk) != 0 ||
        op_get_int(&s, "rows", 0, 10, 0, 100000, &rows) != 0)
        return NULL;
    over_op_t *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    o->api = api;
    o->ctx = ctx;
    o->in = in;
    o->rows = rows;
    o->n_key = nk;
    if (nk)
        op_key_of(in, idx, nk, &o->key);
    if (op_get_fields_of(&s, in, "order", 0, o->order, OVER_MAX_ORDER, &o->n_order) != 0 ||
        op_aggs_parse(&s, in, "aggs", &o->aggs) != 0)
        goto fail;
    if (!o->aggs.fixed || o->aggs.distinct) {
        op_errorf(&s, "parameter 'aggs': over aggregates with count, sum, avg and min/max of numbers");
        goto fail;
    }
    if (op_aggs_init(&o->aggs, &o->init) != 0 || (o->acc = malloc(op_aggs_acc_size(&o->aggs))) == NULL) {
        op_errorf(&s, "out of memory");
        goto fail;
    }
    op_schema_t sc = {0};
    for (uint32_t f = 0; f < in->n_fields; f++)
        if (op_schema_add_from(&s, &sc, in, f) != 0)
            goto fail;
    if (op_aggs_schema(&s, &o->aggs, &sc) != 0 || op_declare(&s, NULL, &sc) != 0)
        goto fail;
    return o;
fail:
    over_dispose(o);
    return NULL;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static int over_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input, (void)out;
    over_op_t *o = self;
    int64_t ts = rec->timestamp;
    if (ts == TE_NO_TIMESTAMP) {
        o->api->fail(o->ctx, "operator 'over': a row has no timestamp (put assign_timestamps before it)");
        return -1;
    }
    int64_t wm = o->api->current_watermark(o->ctx);
    if (wm != INT64_MIN && ts <= wm) {
        o->api->counter_add(o->ctx, "numLateRecordsDropped", 1);
        return 0;
    }
    uint32_t kl = 0;
    const uint8_t *key = o->n_key ? op_key_bytes(rec, &o->key, &o->keybuf, &kl) : (const uint8_t *)"";
    if (key == NULL)
        goto oom;
    uint64_t meta[2] = {0, 0}; /* first, next */
    const uint8_t *v;
    uint32_t vl;
    uint8_t ns[9] = {'b'};
    if (o->api->state_get_ns(o->ctx, key, kl, ns, 1, &v, &vl) && vl == sizeof(meta))
        memcpy(meta, v, sizeof(meta));
    put_be64(ns + 1, meta[1]);
    o->tmp.len = 0;
    if (op_buf_append(&o->tmp, &ts, 8) != 0 || op_buf_append(&o->tmp, rec->data, rec->len) != 0)
        goto oom;
    meta[1]++;
    if (o->api->state_put_ns(o->ctx, key, kl, ns, 9, o->tmp.data, (uint32_t)o->tmp.len) != 0 ||
        o->api->state_put_ns(o->ctx, key, kl, ns, 1, (const uint8_t *)meta, sizeof(meta)) != 0 ||
        o->api->register_event_timer(o->ctx, key, kl, ts) != 0)
        return -1;
    return 0;
oom:
    o->api->fail(o->ctx, "operator 'over': out of memory");
    return -1;
}

/* Rows in o->ready are u32 len | i64 ts | u64 seq | row; ordered by ts, the order
 * fields, then seq. */
typedef struct ready_ref {
    size_t off;
} ready_ref_t;

static int ready_cmp(const void *pa, const void *pb, void *arg)
{
    const over_op_t *o = arg;
    const uint8_t *a = o->ready.data + ((const ready_ref_t *)pa)->off,
                  *b = o->ready.data + ((const ready_ref_t *)pb)->off;
    int64_t ta, tb;
    uint64_t sa, sb;
    uint32_t la, lb;
    memcpy(&la, a, 4);
    memcpy(&lb, b, 4);
    memcpy(&ta, a + 4, 8);
    memcpy(&tb, b + 4, 8);
    if (ta != tb)
        return ta < tb ? -1 : 1;
    te_record_t ra = {a + 20, la, 0}, rb = {b + 20, lb, 0};
    for (uint32_t i = 0; i < o->n_order; i++) {
        uint32_t f = o->order[i];
        te_type_t t = o->in->fields[f].type;
        int c;
        if (te_type_is_var(t)) {
            uint32_t xa, xb;
            const uint8_t *pa2 = te_row_get_str(&ra, f, &xa), *pb2 = te_row_get_str(&rb, f, &xb);
            uint32_t m = xa < xb ? xa : xb;
            c = m && pa2 && pb2 ? memcmp(pa2, pb2, m) : 0;
            c = c ? c : xa < xb ? -1 : xa > xb;
        } else if (t == TE_TYPE_DOUBLE) {
            double x = te_row_get_f64(&ra, f), y = te_row_get_f64(&rb, f);
            c = x < y ? -1 : x > y;
        } else {
            int64_t x = te_row_get_i64(&ra, f), y = te_row_get_i64(&rb, f);
            c = x < y ? -1 : x > y;
        }
        if (c)
            return c < 0 ? -1 : 1;
    }
    memcpy(&sa, a + 12, 8);
    memcpy(&sb, b + 12, 8);
    return sa < sb ? -1 : sa > sb;
}

/* Emits row r with the aggregates over the history (o->hist) plus r, then appends r to
 * the history (keeping the last `rows`). */
static int emit_with_history(over_op_t *o, const te_record_t *r, te_output_t *out)
{
    memcpy(o->acc, o->init.buf, op_aggs_acc_size(&o->aggs));
    size_t nh = 0;
    for (size_t off = 0; off < o->hist.len;) {
        uint32_t len;
        memcpy(&len, o->hist.data + off, 4);
        te_record_t h = {o->hist.data + off + 4, len, 0};
        if (op_aggs_add_fixed(&o->aggs, o->acc, &h) != 0)
            return -1;
        off += 4 + (size_t)len;
        nh++;
    }
    if (op_aggs_add_fixed(&o->aggs, o->acc, r) != 0)
        return -1;
    te_row_builder_begin(&o->out, o->in->n_fields + o->aggs.n);
    for (uint32_t f = 0; f < o->in->n_fields; f++)
        te_row_copy_field(&o->out, f, r, f, o->in->fields[f].type);
    te_record_t a = {o->acc, op_aggs_acc_size(&o->aggs), 0}, res;
    op_aggs_result(&o->aggs, &a, &o->out, o->in->n_fields);
    if (te_row_builder_finish(&o->out, r->timestamp, &res) != 0)
        return -1;
    o->api->emit(out, &res);
    /* history: drop the oldest past `rows`, append r */
    if (o->rows == 0)
        return 0;
    if ((int64_t)nh >= o->rows) {
        uint32_t len;
        memcpy(&len, o->hist.data, 4);
        memmove(o->hist.data, o->hist.data + 4 + len, o->hist.len - 4 - len);
        o->hist.len -= 4 + (size_t)len;
    }
    uint32_t len = r->len;
    return op_buf_append(&o->hist, &len, 4) || op_buf_append(&o->hist, r->data, r->len) ? -1 : 0;
}

static int over_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                         te_output_t *out)
{
    over_op_t *o = self;
    if (!event_time)
        return 0;
    uint64_t meta[2];
    const uint8_t *v;
    uint32_t vl;
    uint8_t ns[9] = {'b'};
    if (!o->api->state_get_ns(o->ctx, key, keylen, ns, 1, &v, &vl) || vl != sizeof(meta))
        return 0;
    memcpy(meta, v, sizeof(meta));
    /* collect the waiting rows due at ts (a row stays when its time is later) */
    o->ready.len = 0;
    size_t n = 0;
    uint64_t first = meta[1];
    for (uint64_t q = meta[0]; q < meta[1]; q++) {
        put_be64(ns + 1, q);
        if (!o->api->state_get_ns(o->ctx, key, keylen, ns, 9, &v, &vl) || vl < 8)
            continue;
        int64_t rts;
        memcpy(&rts, v, 8);
        if (rts > ts) {
            first = q < first ? q : first;
            continue;
        }
        uint32_t len = vl - 8;
        if (op_buf_append(&o->ready, &len, 4) || op_buf_append(&o->ready, &rts, 8) ||
            op_buf_append(&o->ready, &q, 8) || op_buf_append(&o->ready, v + 8, len))
            goto oom;
        o->api->state_delete_ns(o->ctx, key, keylen, ns, 9);
        n++;
    }
    meta[0] = first;
    if (meta[0] == meta[1])
        o->api->state_delete_ns(o->ctx, key, keylen, ns, 1);
    else if (o->api->state_put_ns(o->ctx, key, keylen, ns, 1, (const uint8_t *)meta, sizeof(meta)) != 0)
        return -1;
    if (n == 0)
        return 0;
    ready_ref_t *refs = malloc(n * sizeof(*refs));
    if (refs == NULL)
        goto oom;
    for (size_t off = 0, i = 0; i < n; i++) {
        uint32_t len;
        memcpy(&len, o->ready.data + off, 4);
        refs[i].off = off;
        off += 20 + (size_t)len;
    }
    qsort_r(refs, n, sizeof(*refs), ready_cmp, o);
    uint8_t hns = 'h';
    o->hist.len = 0;
    if (o->api->state_get_ns(o->ctx, key, keylen, &hns, 1, &v, &vl) && op_buf_append(&o->hist, v, vl) != 0) {
        free(refs);
        goto oom;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const uint8_t *e = o->ready.data + refs[i].off;
        uint32_t len;
        int64_t rts;
        memcpy(&len, e, 4);
        memcpy(&rts, e + 4, 8);
        te_record_t r = {e + 20, len, rts};
        rc = emit_with_history(o, &r, out);
    }
    free(refs);
    if (rc != 0)
        goto oom;
    if (o->rows > 0 &&
        o->api->state_put_ns(o->ctx, key, keylen, &hns, 1, o->hist.data, (uint32_t)o->hist.len) != 0)
        return -1;
    return 0;
oom:
    o->api->fail(o->ctx, "operator 'over': out of memory");
    return -1;
}

const te_operator_def_t op_over_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "over",
    .kind = TE_OP_ONE_INPUT,
    .setup = over_setup,
    .process_element = over_process,
    .on_timer = over_on_timer,
    .dispose = over_dispose,
};
