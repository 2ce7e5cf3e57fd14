/*
 * op_two_input — the two-input built-ins (heads of a TwoInputStreamTask):
 *
 * `union`: forwards every record of both inputs unchanged (Flink's DataStream.union;
 * no parameters).
 *
 * `window_join`: Flink's a.join(b).where(key).equalTo(key).window(TumblingEventTime
 * Windows.of(size)). Parameters: size (duration, required), left_key_field /
 * right_key_field (indexes or names; default key_field, default 0; strings with
 * strings, numbers of the same type), delimiter (accepted, unused: rows are typed).
 * Each row of input 0 (left) / 1 (right) is kept in keyed state under (key, namespace
 * = window start (8 bytes BE) | side (1) | sequence (8)), with a per-side count under
 * (key, start | side); an event-time timer at window end - 1 fires the window: for each
 * left row in arrival order, for each right row in arrival order, it emits
 *     (key, left_<field>..., right_<field>...)      (timestamp end - 1)
 * — the key (typed as the left key field), the left row's fields and the right row's,
 * named with the prefixes left_ / right_ — and clears the window. Rows late for their
 * window (end - 1 <= watermark) are dropped and counted in numLateRecordsDropped; rows
 * without a timestamp fail the task. End of input (watermark INT64_MAX) fires every
 * pending window.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

/* ---- union: the output has the inputs' (equal) schema ---- */

static void *union_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {NULL};
    op_setup_t s = {api, ctx, "union", err, errlen};
    const te_schema_t *a, *b;
    if (op_check_keys(&s, allowed) != 0 || (a = op_input_schema(&s, 0)) == NULL ||
        (b = op_input_schema(&s, 1)) == NULL)
        return NULL;
    if (!te_schema_equal(a, b)) {
        char sa[400], sb[400];
        op_errorf(&s, "its inputs carry different schemas: input 0 %s, input 1 %s (map one to the other first)",
                  op_schema_str(a, sa, sizeof(sa)), op_schema_str(b, sb, sizeof(sb)));
        return NULL;
    }
    static int token;
    return &token; /* stateless */
}

/* The engine passes records through when process_element is NULL; union only needs
 * setup (parameter check) and the two-input kind. */
const te_operator_def_t op_union_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "union",
    .kind = TE_OP_TWO_INPUT,
    .setup = union_setup,
};

/* ---- window_join ---- */

typedef struct window_join {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_row_key_t key[2];
    const te_schema_t *in[2];
    int64_t size;
    op_buf_t left; /* copy of the current left row while pairing */
    te_row_builder_t out;
} window_join_t;

#define WJ_TS_LIMIT (INT64_MAX / 4)

/* The output schema: key, left_<field>..., right_<field>... */
static int window_join_schema(op_setup_t *s, const te_schema_t *const in[2], const uint32_t kf[2])
{
    te_type_t a = in[0]->fields[kf[0]].type, b = in[1]->fields[kf[1]].type;
    if (te_type_is_var(a) ? !te_type_is_var(b) : a != b) {
        char sa[400], sb[400];
        return op_errorf(s, "left key '%s' is a %s, right key '%s' a %s (input schemas %s and %s)",
                         in[0]->fields[kf[0]].name, te_type_name(a), in[1]->fields[kf[1]].name, te_type_name(b),
                         op_schema_str(in[0], sa, sizeof(sa)), op_schema_str(in[1], sb, sizeof(sb)));
    }
    op_schema_t o = {0};
    if (op_schema_add_named(s, &o, "key", a, in[0]->fields[kf[0]].nullable) != 0)
        return -1;
    for (int side = 0; side < 2; side++)
        for (uint32_t f = 0; f < in[side]->n_fields; f++) {
            char name[64];
            const te_field_t *fd = &in[side]->fields[f];
            snprintf(name, sizeof(name), "%s%s", side ? "right_" : "left_", fd->name);
            if (op_schema_add_named(s, &o, name, fd->type, fd->nullable) != 0)
                return -1;
        }
    return op_declare(s, NULL, &o);
}

static void *window_join_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"size",      "key_field", "left_key_field", "right_key_field",
                                          "delimiter", NULL};
    op_setup_t s = {api, ctx, "window_join", err, errlen};
    const te_schema_t *in[2];
    uint32_t kf[2] = {0, 0};
    int has[2];
    char delim;
    int64_t size;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in[0] = op_input_schema(&s, 0)) == NULL ||
        (in[1] = op_input_schema(&s, 1)) == NULL ||
        op_get_field_of(&s, in[0], "left_key_field", 0, &kf[0], &has[0]) != 0 ||
        op_get_field_of(&s, in[1], "right_key_field", 0, &kf[1], &has[1]) != 0 ||
        (!has[0] && op_get_field_of(&s, in[0], "key_field", 0, &kf[0], NULL) != 0) ||
        (!has[1] && op_get_field_of(&s, in[1], "key_field", 0, &kf[1], NULL) != 0) ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_duration_ms(&s, "size", 1, 0, 1, 86400000LL * 3650, &size) != 0 ||
        window_join_schema(&s, in, kf) != 0)
        return NULL;
    window_join_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    j->api = api;
    j->ctx = ctx;
    for (int side = 0; side < 2; side++) {
        j->in[side] = in[side];
        op_key_of(in[side], &kf[side], 1, &j->key[side]);
    }
    j->size = size;
    return j;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t wj_count(window_join_t *j, const uint8_t *key, uint32_t keylen, const uint8_t ns[9])
{
    const uint8_t *v;
    uint32_t vl;
    uint64_t n = 0;
    if (j->api->state_get_ns(j->ctx, key, keylen, ns, 9, &v, &vl) && vl == sizeof(n))
        memcpy(&n, v, sizeof(n));
    return n;
}

static int window_join_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    window_join_t *j = self;
    (void)out;
    int side = input == 1 ? 1 : 0;
    int64_t ts = rec->timestamp;
    if (ts == TE_NO_TIMESTAMP) {
        j->api->fail(j->ctx,
                     "operator 'window_join': a record on input %d has no timestamp (put assign_timestamps "
                     "before the join)",
                     side);
        return -1;
    }
    if (ts < -WJ_TS_LIMIT || ts > WJ_TS_LIMIT) {
        j->api->fail(j->ctx, "operator 'window_join': timestamp %lld is out of range", (long long)ts);
        return -1;
    }
    int64_t start = ts - (((ts % j->size) + j->size) % j->size);
    int64_t max_ts = start + j->size - 1;
    if (max_ts <= j->api->current_watermark(j->ctx)) {
        j->api->counter_add(j->ctx, "numLateRecordsDropped", 1);
        return 0;
    }
    uint32_t keylen;
    const uint8_t *key = te_row_field_key(rec, j->key[side].idx[0], j->key[side].type[0], &keylen);
    uint8_t ns[17];
    put_be64(ns, (uint64_t)start);
    ns[8] = (uint8_t)side;
    uint64_t n = wj_count(j, key, keylen, ns);
    put_be64(ns + 9, n);
    uint64_t n1 = n + 1;
    if (j->api->state_put_ns(j->ctx, key, keylen, ns, 17, rec->data, rec->len) != 0 ||
        j->api->state_put_ns(j->ctx, key, keylen, ns, 9, (const uint8_t *)&n1, sizeof(n1)) != 0 ||
        j->api->register_event_timer(j->ctx, key, keylen, max_ts) != 0)
        return -1;
    return 0;
}

static int window_join_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                                te_output_t *out)
{
    window_join_t *j = self;
    if (!event_time)
        return 0;
    int64_t start = ts + 1 - j->size;
    uint8_t lns[17], rns[17];
    put_be64(lns, (uint64_t)start);
    put_be64(rns, (uint64_t)start);
    lns[8] = 0;
    rns[8] = 1;
    uint64_t nl = wj_count(j, key, keylen, lns), nr = wj_count(j, key, keylen, rns);
    for (uint64_t a = 0; a < nl && nr > 0; a++) {
        put_be64(lns + 9, a);
        const uint8_t *v;
        uint32_t vl;
        if (!j->api->state_get_ns(j->ctx, key, keylen, lns, 17, &v, &vl))
            continue;
        j->left.len = 0;
        if (op_buf_append(&j->left, v, vl) != 0)
            goto cleanup;
        for (uint64_t b = 0; b < nr; b++) {
            put_be64(rns + 9, b);
            if (!j->api->state_get_ns(j->ctx, key, keylen, rns, 17, &v, &vl))
                continue;
            te_record_t l = {j->left.data, (uint32_t)j->left.len, 0}, r = {v, vl, 0}, o;
            uint32_t nl = j->in[0]->n_fields, nr = j->in[1]->n_fields;
            te_row_builder_begin(&j->out, 1 + nl + nr);
            if (op_key_to_row(&j->out, 0, key, keylen, &j->key[0]) != 0) {
                j->api->fail(j->ctx, "operator 'window_join': a key in its state does not match its key field");
                return -1;
            }
            for (uint32_t f = 0; f < nl; f++)
                te_row_copy_field(&j->out, 1 + f, &l, f, j->in[0]->fields[f].type);
            for (uint32_t f = 0; f < nr; f++)
                te_row_copy_field(&j->out, 1 + nl + f, &r, f, j->in[1]->fields[f].type);
            if (te_row_builder_finish(&j->out, ts, &o) != 0)
                goto cleanup;
            if (j->api->emit(out, &o) != 0)
                return 0; /* cancelled or failed */
        }
    }
    /* clear the window */
    for (int side = 0; side < 2; side++) {
        uint8_t *ns = side ? rns : lns;
        uint64_t n = side ? nr : nl;
        for (uint64_t a = 0; a < n; a++) {
            put_be64(ns + 9, a);
            j->api->state_delete_ns(j->ctx, key, keylen, ns, 17);
        }
        j->api->state_delete_ns(j->ctx, key, keylen, ns, 9);
    }
    return 0;
cleanup:
    j->api->fail(j->ctx, "operator 'window_join': out of memory");
    return -1;
}

static void window_join_dispose(void *self)
{
    window_join_t *j = self;
    if (j == NULL)
        return;
    op_buf_release(&j->left);
    te_row_builder_free(&j->out);
    free(j);
}

const te_operator_def_t op_window_join_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "window_join",
    .kind = TE_OP_TWO_INPUT,
    .setup = window_join_setup,
    .process_element = window_join_process,
    .on_timer = window_join_on_timer,
    .dispose = window_join_dispose,
};
