/*
 * op_join — the keyed two-input joins (heads of a TwoInputStreamTask; both inputs hash
 * by their key fields):
 *
 * `join`: Flink SQL's regular inner join: every row of each side is kept in keyed state
 * and joined with every row of the other side of the same key that arrived before it,
 * so each matching pair is emitted once, whatever the order (timestamp of the row that
 * completed the pair).
 *
 * `interval_join`: Flink's interval join on event time: a right row joins a left row of
 * the same key when lower <= right's time <= upper, the bounds either the left row's
 * time plus `lower` / `upper` (durations, may be negative: "-10s") or the left row's
 * fields `lower_field` / `upper_field` (timestamps; the lower bound must not precede
 * the left row's own time, as Nexmark's auction [date_time, expires] for its bids).
 * Rows are kept only as long as they can still match: a left row until the watermark
 * passes its upper bound, a right row until no later left row can reach it; rows older
 * than the watermark on arrival are late (dropped, counted in numLateRecordsDropped).
 * Timestamp of a pair: the later of the two rows'.
 *
 * Parameters (both): left_key, right_key (field lists of equal length and compatible
 * types: string with string, numbers of the same type), left_prefix / right_prefix
 * (prepended to the output field names; a name appearing on both sides needs one).
 * Output: the left fields, then the right fields.
 *
 * State per key and side: a meta entry (namespace = side: u64 first, u64 next sequence
 * number) and the rows (namespace = side | sequence (8 bytes, big endian): i64 lower,
 * i64 upper, i64 time, the row). Cleanup timers (interval_join) one past
 * each row's last useful watermark (row_until).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

#define JOIN_TS_LIMIT (INT64_MAX / 4)

typedef struct join_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    int interval;
    te_row_key_t key[2];
    const te_schema_t *in[2];
    int64_t lower, upper;     /* interval: offsets from the left row's time */
    int32_t lower_f, upper_f; /* interval: left fields of the bounds, -1 = offsets */
    te_row_builder_t out;
    op_buf_t keybuf, row, list;
} join_op_t;

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static int parse_signed_duration(op_setup_t *s, const char *key, int64_t def, int64_t *out)
{
    const char *v = s->api->param(s->ctx, key);
    if (v == NULL) {
        *out = def;
        return 0;
    }
    int neg = v[0] == '-';
    int64_t ms;
    if (op_parse_duration_ms(v + neg, &ms) != 0)
        return op_errorf(s,
                         "parameter '%s' = '%s' is not a duration (an integer with ms, s, min or h; may start "
                         "with '-')",
                         key, v);
    *out = neg ? -ms : ms;
    return 0;
}

static void join_dispose(void *self)
{
    join_op_t *j = self;
    if (j == NULL)
        return;
    te_row_builder_free(&j->out);
    op_buf_release(&j->keybuf);
    op_buf_release(&j->row);
    op_buf_release(&j->list);
    free(j);
}

/* key fields of both sides, their compatibility, and the output schema. */
static int join_keys_and_schema(op_setup_t *s, join_op_t *j)
{
    uint32_t idx[2][TE_ROW_KEY_MAX_FIELDS], n[2];
    static const char *const kp[2] = {"left_key", "right_key"}, *const pp[2] = {"left_prefix", "right_prefix"};
    const char *prefix[2];
    char sa[400], sb[400];
    for (int side = 0; side < 2; side++)
        if (op_get_fields_of(s, j->in[side], kp[side], 1, idx[side], TE_ROW_KEY_MAX_FIELDS, &n[side]) != 0 ||
            op_get_string(s, pp[side], 0, "", &prefix[side]) != 0)
            return -1;
    if (n[0] != n[1])
        return op_errorf(s, "left_key has %u fields and right_key %u", n[0], n[1]);
    for (uint32_t k = 0; k < n[0]; k++) {
        te_type_t a = j->in[0]->fields[idx[0][k]].type, b = j->in[1]->fields[idx[1][k]].type;
        int ok = te_type_is_var(a) ? te_type_is_var(b)
                                   : a == b || ((a == TE_TYPE_INT64 || a == TE_TYPE_TIMESTAMP) &&
                                                (b == TE_TYPE_INT64 || b == TE_TYPE_TIMESTAMP));
        if (!ok)
            return op_errorf(s, "key field %u: left '%s' is a %s, right '%s' a %s (input schemas %s and %s)", k,
                             j->in[0]->fields[idx[0][k]].name, te_type_name(a), j->in[1]->fields[idx[1][k]].name,
                             te_type_name(b), op_schema_str(j->in[0], sa, sizeof(sa)),
                             op_schema_str(j->in[1], sb, sizeof(sb)));
    }
    for (int side = 0; side < 2; side++)
        op_key_of(j->in[side], idx[side], n[side], &j->key[side]);
    op_schema_t o = {0};
    for (int side = 0; side < 2; side++)
        for (uint32_t f = 0; f < j->in[side]->n_fields; f++) {
            char name[64];
            const te_field_t *fd = &j->in[side]->fields[f];
            snprintf(name, sizeof(name), "%s%s", prefix[side], fd->name);
            for (uint32_t k = 0; k < o.n; k++)
                if (strcmp(o.f[k].name, name) == 0)
                    return op_errorf(s, "both inputs have a field '%s': set left_prefix or right_prefix", name);
            if (op_schema_add_named(s, &o, name, fd->type, fd->nullable) != 0)
                return -1;
        }
    return op_declare(s, NULL, &o);
}

static void *join_setup_common(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                               int interval)
{
    static const char *const allowed_j[] = {"left_key", "right_key", "left_prefix", "right_prefix", NULL};
    static const char *const allowed_i[] = {"left_key",     "right_key",   "left_prefix",
                                            "right_prefix", "lower",       "upper",
                                            "lower_field",  "upper_field", NULL};
    const char *name = interval ? "interval_join" : "join";
    op_setup_t s = {api, ctx, name, err, errlen};
    if (op_require_v2(&s) != 0 || op_check_keys(&s, interval ? allowed_i : allowed_j) != 0)
        return NULL;
    join_op_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    j->api = api;
    j->ctx = ctx;
    j->name = name;
    j->interval = interval;
    j->lower_f = j->upper_f = -1;
    if ((j->in[0] = op_input_schema(&s, 0)) == NULL || (j->in[1] = op_input_schema(&s, 1)) == NULL ||
        join_keys_and_schema(&s, j) != 0)
        goto fail;
    if (interval) {
        uint32_t lf = 0, uf = 0;
        int has_lf, has_uf;
        if (op_get_field_of(&s, j->in[0], "lower_field", 0, &lf, &has_lf) != 0 ||
            op_get_field_of(&s, j->in[0], "upper_field", 0, &uf, &has_uf) != 0 ||
            (has_lf && op_check_type(&s, j->in[0], "lower_field", lf, OP_T_INT, "a timestamp") != 0) ||
            (has_uf && op_check_type(&s, j->in[0], "upper_field", uf, OP_T_INT, "a timestamp") != 0) ||
            parse_signed_duration(&s, "lower", 0, &j->lower) != 0 ||
            parse_signed_duration(&s, "upper", 0, &j->upper) != 0)
            goto fail;
        if ((has_lf && api->param(ctx, "lower")) || (has_uf && api->param(ctx, "upper"))) {
            op_errorf(&s, "give each bound either as a duration (lower, upper) or as a field (lower_field, "
                          "upper_field), not both");
            goto fail;
        }
        if (!has_lf && !has_uf && !api->param(ctx, "lower") && !api->param(ctx, "upper")) {
            op_errorf(&s, "missing the interval: lower / upper (durations) or lower_field / upper_field");
            goto fail;
        }
        if (!has_lf && !has_uf && j->lower > j->upper) {
            op_errorf(&s, "lower %lld ms is after upper %lld ms", (long long)j->lower, (long long)j->upper);
            goto fail;
        }
        j->lower_f = has_lf ? (int32_t)lf : -1;
        j->upper_f = has_uf ? (int32_t)uf : -1;
    }
    return j;
fail:
    join_dispose(j);
    return NULL;
}

static void *join_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return join_setup_common(api, ctx, err, errlen, 0);
}

static void *interval_join_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return join_setup_common(api, ctx, err, errlen, 1);
}

/* ---- state: per key and side, meta {first, next} and the rows ---- */

typedef struct side_meta {
    uint64_t first, next;
} side_meta_t;

static side_meta_t meta_get(join_op_t *j, const uint8_t *key, uint32_t kl, int side)
{
    side_meta_t m = {0, 0};
    const uint8_t *v;
    uint32_t vl;
    uint8_t ns = (uint8_t)side;
    if (j->api->state_get_ns(j->ctx, key, kl, &ns, 1, &v, &vl) && vl == sizeof(m))
        memcpy(&m, v, sizeof(m));
    return m;
}

static int meta_put(join_op_t *j, const uint8_t *key, uint32_t kl, int side, side_meta_t m)
{
    uint8_t ns = (uint8_t)side;
    if (m.first == m.next)
        return j->api->state_delete_ns(j->ctx, key, kl, &ns, 1), 0;
    return j->api->state_put_ns(j->ctx, key, kl, &ns, 1, (const uint8_t *)&m, sizeof(m));
}

/* Emits left + right (rows of the two inputs). */
static int emit_pair(join_op_t *j, const te_record_t *l, const te_record_t *r, int64_t ts, te_output_t *out)
{
    uint32_t nl = j->in[0]->n_fields, nr = j->in[1]->n_fields;
    te_row_builder_begin(&j->out, nl + nr);
    for (uint32_t f = 0; f < nl; f++)
        te_row_copy_field(&j->out, f, l, f, j->in[0]->fields[f].type);
    for (uint32_t f = 0; f < nr; f++)
        te_row_copy_field(&j->out, nl + f, r, f, j->in[1]->fields[f].type);
    te_record_t o;
    if (te_row_builder_finish(&j->out, ts, &o) != 0) {
        j->api->fail(j->ctx, "operator '%s': out of memory", j->name);
        return -1;
    }
    j->api->emit(out, &o);
    return 0;
}

/* The bounds of a left row: [lo, hi] for the right rows' times. */
static void left_bounds(const join_op_t *j, const te_record_t *rec, int64_t *lo, int64_t *hi)
{
    *lo = j->lower_f >= 0 ? te_row_get_i64(rec, (uint32_t)j->lower_f) : rec->timestamp + j->lower;
    *hi = j->upper_f >= 0 ? te_row_get_i64(rec, (uint32_t)j->upper_f) : rec->timestamp + j->upper;
}

/* interval_join: the last watermark at which a kept row of `side` (lower bound, upper
 * bound and time as stored) can still join a row of the other side: a left row until
 * the watermark passes its upper bound, a right row until no later left row can reach
 * it (later left rows are not late: time >= watermark). A row with until < watermark
 * is expired: no row arriving later is within its bounds (so a kept expired row joins
 * nothing), and a cleanup timer at until + 1 deletes it. */
static int64_t row_until(const join_op_t *j, int side, const uint8_t *v)
{
    int64_t hi, ts;
    memcpy(&hi, v + 8, 8);
    memcpy(&ts, v + 16, 8);
    return side == 0 ? hi : j->lower_f >= 0 ? ts : ts - j->lower;
}

static int join_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    join_op_t *j = self;
    int side = input == 1 ? 1 : 0, other = !side;
    int64_t ts = rec->timestamp, lo = ts, hi = ts;
    if (j->interval) {
        if (ts == TE_NO_TIMESTAMP || ts < -JOIN_TS_LIMIT || ts > JOIN_TS_LIMIT) {
            j->api->fail(j->ctx,
                         "operator 'interval_join': a row on input %d has no usable timestamp (put "
                         "assign_timestamps before the join)",
                         side);
            return -1;
        }
        int64_t wm = j->api->current_watermark(j->ctx);
        if (wm != INT64_MIN && ts < wm) {
            j->api->counter_add(j->ctx, "numLateRecordsDropped", 1);
            return 0;
        }
        if (side == 0)
            left_bounds(j, rec, &lo, &hi);
    }
    uint32_t kl;
    const uint8_t *key = op_key_bytes(rec, &j->key[side], &j->keybuf, &kl);
    if (key == NULL)
        goto oom;
    side_meta_t om = meta_get(j, key, kl, other);
    uint8_t ns[9];
    ns[0] = (uint8_t)other;
    for (uint64_t q = om.first; q < om.next; q++) {
        put_be64(ns + 1, q);
        const uint8_t *v;
        uint32_t vl;
        if (!j->api->state_get_ns(j->ctx, key, kl, ns, 9, &v, &vl) || vl < 24)
            continue;
        int64_t olo, ohi, ots;
        memcpy(&olo, v, 8);
        memcpy(&ohi, v + 8, 8);
        memcpy(&ots, v + 16, 8);
        if (j->interval && (side == 0 ? ots < lo || ots > hi : ts < olo || ts > ohi))
            continue;
        j->row.len = 0; /* a copy: the state's bytes are borrowed until the next state call */
        if (op_buf_append(&j->row, v + 24, vl - 24) != 0)
            goto oom;
        te_record_t o = {j->row.data, (uint32_t)j->row.len, ots};
        int64_t pair_ts = j->interval && ots > ts ? ots : ts;
        if ((side == 0 ? emit_pair(j, rec, &o, pair_ts, out) : emit_pair(j, &o, rec, pair_ts, out)) != 0)
            return -1;
    }
    /* keep this row: lower | upper | time | row */
    side_meta_t m = meta_get(j, key, kl, side);
    ns[0] = (uint8_t)side;
    put_be64(ns + 1, m.next);
    j->list.len = 0;
    if (op_buf_append(&j->list, &lo, 8) != 0 || op_buf_append(&j->list, &hi, 8) != 0 ||
        op_buf_append(&j->list, &ts, 8) != 0 || op_buf_append(&j->list, rec->data, rec->len) != 0)
        goto oom;
    m.next++;
    if (j->api->state_put_ns(j->ctx, key, kl, ns, 9, j->list.data, (uint32_t)j->list.len) != 0 ||
        meta_put(j, key, kl, side, m) != 0)
        return -1;
    if (j->interval && j->api->register_event_timer(j->ctx, key, kl, row_until(j, side, j->list.data) + 1) != 0)
        return -1;
    return 0;
oom:
    j->api->fail(j->ctx, "operator '%s': out of memory", j->name);
    return -1;
}

/* interval_join: drops the rows of key that expired at watermark ts (until < ts), in
 * arrival order up to the first row still kept, so that each row is looked at about
 * once however many rows a key keeps (a per-row timer scanning every kept row was
 * quadratic in a hot key's rows). A row behind the first kept one that expired out of
 * order stays until the rows before it are gone — joining nothing meanwhile (see
 * row_until) — and a timer at the first kept row's end makes sure the scan comes back. */
static int join_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                         te_output_t *out)
{
    (void)out;
    join_op_t *j = self;
    if (!event_time || !j->interval)
        return 0;
    for (int side = 0; side < 2; side++) {
        side_meta_t m = meta_get(j, key, keylen, side);
        uint64_t first = m.first;
        uint8_t ns[9];
        ns[0] = (uint8_t)side;
        for (; m.first < m.next; m.first++) {
            put_be64(ns + 1, m.first);
            const uint8_t *v;
            uint32_t vl;
            if (!j->api->state_get_ns(j->ctx, key, keylen, ns, 9, &v, &vl) || vl < 24)
                continue;
            int64_t until = row_until(j, side, v);
            if (until >= ts) {
                if (j->api->register_event_timer(j->ctx, key, keylen, until + 1) != 0)
                    return -1;
                break;
            }
            j->api->state_delete_ns(j->ctx, key, keylen, ns, 9);
        }
        if (m.first != first && meta_put(j, key, keylen, side, m) != 0)
            return -1;
    }
    return 0;
}

const te_operator_def_t op_join_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "join",
    .kind = TE_OP_TWO_INPUT,
    .setup = join_setup,
    .process_element = join_process,
    .dispose = join_dispose,
};

const te_operator_def_t op_interval_join_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "interval_join",
    .kind = TE_OP_TWO_INPUT,
    .setup = interval_join_setup,
    .process_element = join_process,
    .on_timer = join_on_timer,
    .dispose = join_dispose,
};
