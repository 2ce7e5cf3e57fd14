/*
 * op_top_n — `top_n`: per partition, the first n rows by an order (Flink SQL's
 * ROW_NUMBER() / RANK() OVER (PARTITION BY key ORDER BY ...) <= n), optionally per
 * tumbling event-time window; with n = 1 and an order on time it is a deduplication
 * keeping the first or last row per key (Nexmark q18).
 *
 * Parameters: key (partition fields, a list; absent = one partition), order (required:
 * a list of "field [asc|desc]", e.g. "price desc, date_time asc"), n (default 1), ties
 * (default false: ROW_NUMBER, a tie at the n-th place is broken by arrival; true:
 * RANK, every row tied with the n-th is kept too), rank_field (the name of an int64
 * field appended to the output holding the rank; absent = none), size (a tumbling
 * window on the rows' timestamps: the partition is the key and the window), emit =
 * timer (default) | final, fire_at (emit = timer without size: an expression over the
 * partition's first row, default its timestamp).
 * Emission: timer — when the watermark reaches the window's end - 1 (size) or the
 * partition's fire_at time, its rows in order, then the partition starts over (results
 * of an upstream window carry end - 1, so "once per window, after all its results");
 * final — every partition at the end of input, in key byte order.
 * Output: the input fields (+ the rank), in rank order; the timestamp is the firing
 * time (timer) or the row's own (final).
 *
 * State (keyed, by the key bytes; namespace = window start, 8 bytes big endian, or
 * empty): the partition's kept rows, sorted, as u32 length | row ... Timers at the
 * firing times.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "operators/expr.h"
#include "operators/op_keyed.h"
#include "operators/op_row.h"

#define TOP_MAX_ORDER 8
#define TOP_TS_LIMIT  (INT64_MAX / 4)

typedef struct top_n {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const te_schema_t *in;
    te_row_key_t key;
    uint32_t n_key;
    uint32_t order[TOP_MAX_ORDER];
    int desc[TOP_MAX_ORDER];
    uint32_t n_order;
    int64_t n, size;
    int ties, rank, final;
    expr_t *fire_at;
    expr_env_t env;
    te_row_builder_t out;
    op_buf_t keybuf, list, tmp;
} top_n_t;

static void top_dispose(void *self)
{
    top_n_t *t = self;
    if (t == NULL)
        return;
    expr_free(t->fire_at);
    expr_env_free(&t->env);
    te_row_builder_free(&t->out);
    op_buf_release(&t->keybuf);
    op_buf_release(&t->list);
    op_buf_release(&t->tmp);
    free(t);
}

static int parse_order(op_setup_t *s, top_n_t *t)
{
    op_list_t l;
    if (op_get_list(s, "order", 1, TOP_MAX_ORDER, &l) != 0)
        return -1;
    int rc = 0;
    for (uint32_t i = 0; i < l.n && rc == 0; i++) {
        char *item = l.items[i], *sp = strpbrk(item, " \t");
        int desc = 0;
        if (sp != NULL) {
            *sp = '\0';
            const char *dir = sp + 1 + strspn(sp + 1, " \t");
            if (strcasecmp(dir, "desc") == 0)
                desc = 1;
            else if (strcasecmp(dir, "asc") != 0) {
                rc = op_errorf(s, "parameter 'order': '%s %s' is not \"field asc\" or \"field desc\"", item, dir);
                break;
            }
        }
        rc = op_field_resolve(s, t->in, "order", item, &t->order[i]) ||
             op_check_type(s, t->in, "order", t->order[i], OP_T_NUMBER | OP_T_TEXT,
                           "a number, timestamp or string");
        t->desc[i] = desc;
        t->n_order = i + 1;
    }
    op_list_free(&l);
    return rc ? -1 : 0;
}

static void *top_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key",  "order", "n",       "ties", "rank_field",
                                          "size", "emit",  "fire_at", NULL};
    op_setup_t s = {api, ctx, "top_n", err, errlen};
    const te_schema_t *in;
    const char *rank_field, *emit, *fire;
    uint32_t idx[TE_ROW_KEY_MAX_FIELDS], nk = 0;
    int64_t n, size;
    int ties;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_fields_of(&s, in, "key", 0, idx, TE_ROW_KEY_MAX_FIELDS, &nk) != 0 ||
        op_get_int(&s, "n", 0, 1, 1, 100000, &n) != 0 || op_get_bool(&s, "ties", 0, &ties) != 0 ||
        op_get_string(&s, "rank_field", 0, NULL, &rank_field) != 0 ||
        op_get_duration_ms(&s, "size", 0, 0, 1, 86400000LL * 3650, &size) != 0 ||
        op_get_string(&s, "emit", 0, "timer", &emit) != 0 || op_get_string(&s, "fire_at", 0, NULL, &fire) != 0)
        return NULL;
    int final = strcmp(emit, "final") == 0;
    if (!final && strcmp(emit, "timer") != 0) {
        op_errorf(&s, "parameter 'emit' = '%s' is not one of timer, final", emit);
        return NULL;
    }
    if ((final && (size || fire)) || (size && fire)) {
        op_errorf(&s, "%s",
                  final ? "emit = final takes neither size nor fire_at" : "give size or fire_at, not both");
        return NULL;
    }
    top_n_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    t->api = api;
    t->ctx = ctx;
    t->in = in;
    t->n_key = nk;
    if (nk)
        op_key_of(in, idx, nk, &t->key);
    t->n = n;
    t->ties = ties;
    t->size = size;
    t->final = final;
    t->rank = rank_field != NULL;
    if (parse_order(&s, t) != 0)
        goto fail;
    if (!final && !size) {
        char why[512];
        if ((t->fire_at = expr_compile(fire ? fire : "rowtime()", in, why, sizeof(why))) == NULL) {
            op_errorf(&s, "parameter 'fire_at': %s", why);
            goto fail;
        }
        if (expr_type(t->fire_at) != TE_TYPE_TIMESTAMP && expr_type(t->fire_at) != TE_TYPE_INT64) {
            op_errorf(&s, "parameter 'fire_at' = '%s' is not a timestamp", fire);
            goto fail;
        }
    }
    op_schema_t o = {0};
    for (uint32_t f = 0; f < in->n_fields; f++)
        if (op_schema_add_from(&s, &o, in, f) != 0)
            goto fail;
    if ((rank_field && op_schema_add(&s, &o, rank_field, TE_TYPE_INT64, 0) != 0) || op_declare(&s, NULL, &o) != 0)
        goto fail;
    return t;
fail:
    top_dispose(t);
    return NULL;
}

/* a before b in the order (-1), after (1), tied (0). */
static int order_cmp(const top_n_t *t, const te_record_t *a, const te_record_t *b)
{
    for (uint32_t i = 0; i < t->n_order; i++) {
        uint32_t f = t->order[i];
        te_type_t ty = t->in->fields[f].type;
        int na = te_row_is_null(a, f), nb = te_row_is_null(b, f), c = 0;
        if (na || nb) {
            c = na == nb ? 0 : na ? 1 : -1; /* nulls last */
        } else if (te_type_is_var(ty)) {
            uint32_t la, lb;
            const uint8_t *pa = te_row_get_str(a, f, &la), *pb = te_row_get_str(b, f, &lb);
            uint32_t m = la < lb ? la : lb;
            c = m ? memcmp(pa, pb, m) : 0;
            c = c ? (c < 0 ? -1 : 1) : la < lb ? -1 : la > lb;
        } else if (ty == TE_TYPE_DOUBLE) {
            double x = te_row_get_f64(a, f), y = te_row_get_f64(b, f);
            c = x < y ? -1 : x > y;
        } else {
            int64_t x = te_row_get_i64(a, f), y = te_row_get_i64(b, f);
            c = x < y ? -1 : x > y;
        }
        if (c != 0)
            return t->desc[i] && !(na || nb) ? -c : c;
    }
    return 0;
}

/* Inserts rec into the sorted list in t->list (u32 len | row ...), after the rows it
 * ties with, and truncates to n (plus the ties of the n-th with ties=true). */
static int list_insert(top_n_t *t, const te_record_t *rec)
{
    t->tmp.len = 0;
    size_t off = 0, kept = 0, nth_off = 0;
    uint32_t nth_len = 0;
    int inserted = 0;
    while (off < t->list.len || !inserted) {
        const uint8_t *data = NULL;
        uint32_t len = 0;
        te_record_t cur;
        int take_new = 0;
        if (!inserted) {
            if (off >= t->list.len) {
                take_new = 1;
            } else {
                memcpy(&len, t->list.data + off, 4);
                cur = (te_record_t){t->list.data + off + 4, len, 0};
                take_new = order_cmp(t, rec, &cur) < 0;
            }
        }
        if (take_new) {
            data = rec->data;
            len = rec->len;
            inserted = 1;
        } else {
            memcpy(&len, t->list.data + off, 4);
            data = t->list.data + off + 4;
            off += 4 + (size_t)len;
        }
        te_record_t r = {data, len, 0};
        if ((int64_t)kept >= t->n) { /* past n: only rows tied with the n-th stay (ties=true) */
            te_record_t nth = {t->tmp.data + nth_off, nth_len, 0};
            if (!t->ties || order_cmp(t, &r, &nth) != 0)
                break;
        }
        if (op_buf_append(&t->tmp, &len, 4) != 0 || op_buf_append(&t->tmp, data, len) != 0)
            return -1;
        kept++;
        if ((int64_t)kept == t->n) {
            nth_off = t->tmp.len - len;
            nth_len = len;
        }
    }
    op_buf_t sw = t->list;
    t->list = t->tmp;
    t->tmp = sw;
    return 0;
}

static void ns_of(int64_t start, uint8_t ns[8])
{
    for (int i = 0; i < 8; i++)
        ns[i] = (uint8_t)((uint64_t)start >> (56 - 8 * i));
}

/* 1 when the kept rows (v, vl) already number n and rec would not be kept among them
 * (after the n-th row, or tied with it without ties): list_insert would give back the
 * same list, so neither it nor the state write is needed. */
static int list_drops(const top_n_t *t, const uint8_t *v, uint32_t vl, const te_record_t *rec)
{
    size_t off = 0;
    for (int64_t k = 1;; k++) {
        uint32_t len;
        if (off + 4 > vl)
            return 0;
        memcpy(&len, v + off, 4);
        if (off + 4 + len > vl)
            return 0;
        if (k == t->n) {
            te_record_t nth = {v + off + 4, len, 0};
            int c = order_cmp(t, rec, &nth);
            return c > 0 || (c == 0 && !t->ties);
        }
        off += 4 + (size_t)len;
    }
}

static int top_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input, (void)out;
    top_n_t *t = self;
    uint8_t ns[8];
    uint32_t nslen = 0, kl = 0;
    int64_t ts = rec->timestamp;
    if (t->size) {
        if (ts == TE_NO_TIMESTAMP || ts < -TOP_TS_LIMIT || ts > TOP_TS_LIMIT) {
            t->api->fail(t->ctx, "operator 'top_n': a row has no usable timestamp (size needs event time)");
            return -1;
        }
        int64_t start = ts - (((ts % t->size) + t->size) % t->size);
        if (start + t->size - 1 <= t->api->current_watermark(t->ctx)) {
            t->api->counter_add(t->ctx, "numLateRecordsDropped", 1);
            return 0;
        }
        ns_of(start, ns);
        nslen = 8;
    }
    const uint8_t *key = t->n_key ? op_key_bytes(rec, &t->key, &t->keybuf, &kl) : (const uint8_t *)"";
    const uint8_t *v;
    uint32_t vl;
    if (key == NULL)
        goto oom;
    int have = t->api->state_get_ns(t->ctx, key, kl, nslen ? ns : NULL, nslen, &v, &vl);
    if (have && list_drops(t, v, vl, rec))
        return 0;
    t->list.len = 0;
    if (have && op_buf_append(&t->list, v, vl) != 0)
        goto oom;
    if (list_insert(t, rec) != 0)
        goto oom;
    if (t->api->state_put_ns(t->ctx, key, kl, nslen ? ns : NULL, nslen, t->list.data, (uint32_t)t->list.len) != 0)
        return -1;
    if (!have && !t->final) {
        int64_t at;
        if (t->size) {
            at = ts - (((ts % t->size) + t->size) % t->size) + t->size - 1;
        } else {
            expr_value_t fv;
            expr_env_reset(&t->env);
            if (expr_eval(t->fire_at, rec, &t->env, &fv) != 0)
                goto oom;
            if (fv.null) {
                t->api->fail(t->ctx, "operator 'top_n': fire_at is NULL for a row");
                return -1;
            }
            at = fv.i;
        }
        if (t->api->register_event_timer(t->ctx, key, kl, at) != 0)
            return -1;
    }
    return 0;
oom:
    t->api->fail(t->ctx, "operator 'top_n': out of memory");
    return -1;
}

/* Emits the rows of a list (in t->list) with their ranks. */
static int emit_list(top_n_t *t, int64_t ts, te_output_t *out)
{
    int64_t rank = 0, pos = 0;
    te_record_t prev = {0};
    for (size_t off = 0; off < t->list.len;) {
        uint32_t len;
        memcpy(&len, t->list.data + off, 4);
        te_record_t r = {t->list.data + off + 4, len, ts == TE_NO_TIMESTAMP ? 0 : ts};
        off += 4 + (size_t)len;
        pos++;
        rank = t->ties && pos > 1 && order_cmp(t, &r, &prev) == 0 ? rank : pos;
        prev = r;
        te_row_builder_begin(&t->out, t->in->n_fields + (uint32_t)t->rank);
        for (uint32_t f = 0; f < t->in->n_fields; f++)
            te_row_copy_field(&t->out, f, &r, f, t->in->fields[f].type);
        if (t->rank)
            te_row_set_i64(&t->out, t->in->n_fields, rank);
        te_record_t o;
        if (te_row_builder_finish(&t->out, ts, &o) != 0) {
            t->api->fail(t->ctx, "operator 'top_n': out of memory");
            return -1;
        }
        t->api->emit(out, &o);
    }
    return 0;
}

static int top_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                        te_output_t *out)
{
    top_n_t *t = self;
    if (!event_time)
        return 0;
    uint8_t ns[8];
    uint32_t nslen = 0;
    if (t->size) {
        ns_of(ts + 1 - t->size, ns);
        nslen = 8;
    }
    const uint8_t *v;
    uint32_t vl;
    if (!t->api->state_get_ns(t->ctx, key, keylen, nslen ? ns : NULL, nslen, &v, &vl))
        return 0;
    t->list.len = 0;
    if (op_buf_append(&t->list, v, vl) != 0) {
        t->api->fail(t->ctx, "operator 'top_n': out of memory");
        return -1;
    }
    t->api->state_delete_ns(t->ctx, key, keylen, nslen ? ns : NULL, nslen);
    return emit_list(t, ts, out);
}

typedef struct final_ctx {
    top_n_t *t;
    te_output_t *out;
} final_ctx_t;

static int final_one(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    (void)key, (void)keylen;
    final_ctx_t *f = arg;
    f->t->list.len = 0;
    if (op_buf_append(&f->t->list, val, vallen) != 0)
        return -1;
    return emit_list(f->t, TE_NO_TIMESTAMP, f->out);
}

static int top_end_input(void *self, te_output_t *out)
{
    top_n_t *t = self;
    if (!t->final)
        return 0;
    final_ctx_t f = {t, out};
    int rc = op_keyed_foreach_sorted(t->api, t->ctx, final_one, &f);
    if (rc == -2)
        t->api->fail(t->ctx, "operator 'top_n': out of memory collecting the final rows");
    return rc == 0 ? 0 : -1;
}

const te_operator_def_t op_top_n_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "top_n",
    .kind = TE_OP_ONE_INPUT,
    .setup = top_setup,
    .process_element = top_process,
    .end_input = top_end_input,
    .on_timer = top_on_timer,
    .dispose = top_dispose,
};
