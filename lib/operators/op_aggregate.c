/*
 * op_aggregate — `aggregate`: a keyed, unbounded group aggregation (Flink SQL's GROUP BY
 * without a window): several aggregates per key (op_agg.h: count, count DISTINCT, sum,
 * min, max, avg, each with an optional FILTER).
 *
 * Parameters: key (the grouping fields: names or indexes, a list; absent = one global
 * group), aggs (required: the aggregate list), emit = updates (default: after each row,
 * the key's new results — Flink's changelog without the retractions) | final (every
 * key's results once at the end of input, in key byte order) | timer (once the
 * watermark reaches the key's fire_at time — an expression over the key's first row,
 * default its timestamp — then the key starts over: the group's "final" result when its
 * end is known per key, e.g. an auction's close), fire_at.
 * Output: the key fields, then one field per aggregate; the timestamp is the input
 * row's (updates), the timer's (timer), or none (final).
 *
 * State (keyed, by the key's key bytes, so the edge into the operator should hash by
 * the same fields): the accumulator row under the empty namespace; count(DISTINCT)'s
 * values under namespace 'd' <aggregate index> <value bytes>. Snapshot and restore are
 * the keyed state's and the timers'.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_agg.h"
#include "operators/op_keyed.h"

typedef enum { EMIT_UPDATES, EMIT_FINAL, EMIT_TIMER } agg_emit_t;

typedef struct aggregate {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_row_key_t key;
    uint32_t n_key; /* 0: one global group */
    op_aggs_t aggs;
    agg_emit_t emit;
    expr_t *fire_at;
    expr_env_t env;
    te_row_builder_t acc, out;
    op_buf_t keybuf, nsbuf;
} aggregate_t;

static void aggregate_dispose(void *self)
{
    aggregate_t *g = self;
    if (g == NULL)
        return;
    op_aggs_free(&g->aggs);
    expr_free(g->fire_at);
    expr_env_free(&g->env);
    te_row_builder_free(&g->acc);
    te_row_builder_free(&g->out);
    op_buf_release(&g->keybuf);
    op_buf_release(&g->nsbuf);
    free(g);
}

static void *aggregate_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key", "aggs", "emit", "fire_at", NULL};
    op_setup_t s = {api, ctx, "aggregate", err, errlen};
    const te_schema_t *in;
    const char *emit, *fire;
    uint32_t idx[TE_ROW_KEY_MAX_FIELDS], nk = 0;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_fields_of(&s, in, "key", 0, idx, TE_ROW_KEY_MAX_FIELDS, &nk) != 0 ||
        op_get_string(&s, "emit", 0, "updates", &emit) != 0 || op_get_string(&s, "fire_at", 0, NULL, &fire) != 0)
        return NULL;
    agg_emit_t mode;
    if (strcmp(emit, "updates") == 0)
        mode = EMIT_UPDATES;
    else if (strcmp(emit, "final") == 0)
        mode = EMIT_FINAL;
    else if (strcmp(emit, "timer") == 0)
        mode = EMIT_TIMER;
    else {
        op_errorf(&s, "parameter 'emit' = '%s' is not one of updates, final, timer", emit);
        return NULL;
    }
    if (fire != NULL && mode != EMIT_TIMER) {
        op_errorf(&s, "parameter 'fire_at' needs emit = timer");
        return NULL;
    }
    aggregate_t *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    g->api = api;
    g->ctx = ctx;
    g->emit = mode;
    g->n_key = nk;
    if (nk)
        op_key_of(in, idx, nk, &g->key);
    op_schema_t o = {0};
    if (op_aggs_parse(&s, in, "aggs", &g->aggs) != 0)
        goto fail;
    if (mode == EMIT_TIMER) {
        char why[512];
        g->fire_at = expr_compile(fire ? fire : "rowtime()", in, why, sizeof(why));
        if (g->fire_at == NULL) {
            op_errorf(&s, "parameter 'fire_at': %s", why);
            goto fail;
        }
        te_type_t t = expr_type(g->fire_at);
        if (t != TE_TYPE_TIMESTAMP && t != TE_TYPE_INT64) {
            op_errorf(&s, "parameter 'fire_at' = '%s' is not a timestamp", fire);
            goto fail;
        }
    }
    for (uint32_t k = 0; k < nk; k++)
        if (op_schema_add_from(&s, &o, in, idx[k]) != 0)
            goto fail;
    uint64_t reads =
        op_fields_mask(idx, nk) | op_aggs_fields_read(&g->aggs) | (g->fire_at ? expr_fields_read(g->fire_at) : 0);
    if (op_aggs_schema(&s, &g->aggs, &o) != 0 || op_declare(&s, NULL, &o) != 0 ||
        op_declare_reads(&s, 0, reads, 0) != 0)
        goto fail;
    return g;
fail:
    aggregate_dispose(g);
    return NULL;
}

/* The key bytes of rec (the empty key without key fields). */
static const uint8_t *key_of(aggregate_t *g, const te_record_t *rec, uint32_t *len)
{
    if (g->n_key == 0) {
        *len = 0;
        return (const uint8_t *)"";
    }
    return op_key_bytes(rec, &g->key, &g->keybuf, len);
}

typedef struct distinct_ctx {
    aggregate_t *g;
    const uint8_t *key;
    uint32_t keylen;
} distinct_ctx_t;

/* count(DISTINCT): namespace 'd' <agg> <value>. */
static int distinct_seen(void *arg, uint32_t i, const uint8_t *v, uint32_t n)
{
    distinct_ctx_t *d = arg;
    aggregate_t *g = d->g;
    g->nsbuf.len = 0;
    uint8_t head[2] = {'d', (uint8_t)i};
    if (op_buf_append(&g->nsbuf, head, 2) != 0 || op_buf_append(&g->nsbuf, v, n) != 0)
        return -1;
    const uint8_t *old;
    uint32_t ol;
    if (g->api->state_get_ns(g->ctx, d->key, d->keylen, g->nsbuf.data, (uint32_t)g->nsbuf.len, &old, &ol))
        return 1;
    return g->api->state_put_ns(g->ctx, d->key, d->keylen, g->nsbuf.data, (uint32_t)g->nsbuf.len,
                                (const uint8_t *)"", 0) == 0
               ? 0
               : -1;
}

/* The key's fields and the results of accumulator acc as a row, emitted with ts. */
static int emit_result(aggregate_t *g, const uint8_t *key, uint32_t keylen, const te_record_t *acc, int64_t ts,
                       te_output_t *out)
{
    te_row_builder_begin(&g->out, g->n_key + g->aggs.n);
    if (g->n_key && op_key_to_row(&g->out, 0, key, keylen, &g->key) != 0) {
        g->api->fail(g->ctx, "operator 'aggregate': a key in its state does not match its key fields");
        return -1;
    }
    op_aggs_result(&g->aggs, acc, &g->out, g->n_key);
    te_record_t r;
    if (te_row_builder_finish(&g->out, ts, &r) != 0) {
        g->api->fail(g->ctx, "operator 'aggregate': out of memory");
        return -1;
    }
    return g->api->emit(out, &r);
}

static int aggregate_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    aggregate_t *g = self;
    uint32_t keylen;
    const uint8_t *key = key_of(g, rec, &keylen);
    if (key == NULL)
        goto oom;
    const uint8_t *old;
    uint32_t ol;
    int have = g->api->state_get(g->ctx, key, keylen, &old, &ol);
    if (have) { /* a copy: the state's bytes are borrowed until the next state call */
        if (te_row_builder_reserve(&g->acc, ol) != 0)
            goto oom;
        memcpy(g->acc.buf, old, ol);
        g->acc.len = ol;
        g->acc.n = g->aggs.acc.n_fields;
        g->acc.failed = 0;
    } else if (op_aggs_init(&g->aggs, &g->acc) != 0) {
        goto oom;
    }
    distinct_ctx_t d = {g, key, keylen};
    if (op_aggs_add(&g->aggs, &g->acc, rec, distinct_seen, &d) != 0)
        goto oom;
    if (g->api->state_put(g->ctx, key, keylen, g->acc.buf, g->acc.len) != 0)
        return -1;
    if (!have && g->emit == EMIT_TIMER) {
        expr_value_t t;
        expr_env_reset(&g->env);
        if (expr_eval(g->fire_at, rec, &g->env, &t) != 0)
            goto oom;
        if (t.null) {
            g->api->fail(g->ctx, "operator 'aggregate': fire_at is NULL for a row (no time to emit its group)");
            return -1;
        }
        if (g->api->register_event_timer(g->ctx, key, keylen, t.i) != 0)
            return -1;
    }
    if (g->emit == EMIT_UPDATES) {
        te_record_t acc = {g->acc.buf, g->acc.len, 0};
        return emit_result(g, key, keylen, &acc, rec->timestamp, out);
    }
    return 0;
oom:
    g->api->fail(g->ctx, "operator 'aggregate': out of memory");
    return -1;
}

/* count(DISTINCT) entries of one key, collected then deleted. */
typedef struct ns_drop {
    const uint8_t *key;
    uint32_t keylen;
    op_buf_t list; /* u32 len | ns bytes ... */
    int oom;
} ns_drop_t;

static int collect_ns(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                      const uint8_t *val, uint32_t vallen)
{
    (void)val, (void)vallen;
    ns_drop_t *d = arg;
    if (nslen == 0 || keylen != d->keylen || (keylen && memcmp(key, d->key, keylen) != 0))
        return 0;
    if (op_buf_append(&d->list, &nslen, 4) != 0 || op_buf_append(&d->list, ns, nslen) != 0)
        d->oom = 1;
    return 0;
}

static int aggregate_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                              te_output_t *out)
{
    aggregate_t *g = self;
    if (!event_time)
        return 0;
    const uint8_t *v;
    uint32_t vl;
    if (!g->api->state_get(g->ctx, key, keylen, &v, &vl))
        return 0;
    if (te_row_builder_reserve(&g->acc, vl) != 0) {
        g->api->fail(g->ctx, "operator 'aggregate': out of memory");
        return -1;
    }
    memcpy(g->acc.buf, v, vl);
    te_record_t acc = {g->acc.buf, vl, 0};
    g->api->state_delete(g->ctx, key, keylen);
    if (g->aggs.distinct) {
        ns_drop_t d = {key, keylen, {0}, 0};
        g->api->state_foreach_ns(g->ctx, collect_ns, &d);
        for (size_t off = 0; off + 4 <= d.list.len;) {
            uint32_t n;
            memcpy(&n, d.list.data + off, 4);
            g->api->state_delete_ns(g->ctx, key, keylen, d.list.data + off + 4, n);
            off += 4 + (size_t)n;
        }
        op_buf_release(&d.list);
        if (d.oom) {
            g->api->fail(g->ctx, "operator 'aggregate': out of memory");
            return -1;
        }
    }
    return emit_result(g, key, keylen, &acc, ts, out);
}

typedef struct final_ctx {
    aggregate_t *g;
    te_output_t *out;
} final_ctx_t;

static int final_one(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    final_ctx_t *f = arg;
    te_record_t acc = {val, vallen, 0};
    return emit_result(f->g, key, keylen, &acc, TE_NO_TIMESTAMP, f->out);
}

static int aggregate_end_input(void *self, te_output_t *out)
{
    aggregate_t *g = self;
    if (g->emit != EMIT_FINAL)
        return 0;
    final_ctx_t f = {g, out};
    int rc = op_keyed_foreach_sorted(g->api, g->ctx, final_one, &f);
    if (rc == -2)
        g->api->fail(g->ctx, "operator 'aggregate': out of memory collecting the final results");
    return rc == 0 ? 0 : -1;
}

const te_operator_def_t op_aggregate_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "aggregate",
    .kind = TE_OP_ONE_INPUT,
    .setup = aggregate_setup,
    .process_element = aggregate_process,
    .end_input = aggregate_end_input,
    .on_timer = aggregate_on_timer,
    .dispose = aggregate_dispose,
};
