/*
 * op_keyed_count — the `keyed_count` operator: counts rows per key in keyed state, the
 * word count's aggregator.
 *
 * Parameters: key_field (an index or a name, default 0; a null key counts under the
 * empty key), delimiter (accepted, unused: rows are typed), emit = updates (default;
 * Flink's rolling count: emit (key, count) after each row) or final (every key's final
 * count in end_input, sorted by key bytes for determinism). Output: the key field as
 * it is in the input, then count:int64.
 *
 * State: the engine's keyed state backend (ABI v4 state_add_i64: one lookup per row;
 * state_foreach for the final counts), one 8-byte count per key (the key bytes of
 * te/row.h: a string key is its bytes, so the counts of string keys read the same as
 * before typed rows), stored by key group; the engine snapshots it (one copy of the
 * state per checkpoint). Snapshots of older builds also hold the operator's own copy
 * of the counts ("KCN1", u64 entry count, then per entry u32 key length, key bytes, u64
 * count, little endian); restore checks that section and skips it, since the engine's
 * keyed section of the same snapshot restores the same counts.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

typedef struct keyed_count {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_row_key_t key;
    int emit_final;
    te_row_builder_t out;
} keyed_count_t;

static void *keyed_count_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key_field", "delimiter", "emit", NULL};
    op_setup_t s = {api, ctx, "keyed_count", err, errlen};
    const te_schema_t *in;
    uint32_t key_field = 0;
    char delim;
    const char *emit;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "key_field", 0, &key_field, NULL) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_string(&s, "emit", 0, "updates", &emit) != 0)
        return NULL;
    int final;
    if (strcmp(emit, "updates") == 0)
        final = 0;
    else if (strcmp(emit, "final") == 0)
        final = 1;
    else {
        op_errorf(&s, "parameter 'emit' = '%s' is not one of updates, final", emit);
        return NULL;
    }
    op_schema_t o = {0};
    if (op_schema_add_from(&s, &o, in, key_field) != 0 || op_schema_add(&s, &o, "count", TE_TYPE_INT64, 0) != 0 ||
        op_declare(&s, NULL, &o) != 0)
        return NULL;
    keyed_count_t *kc = calloc(1, sizeof(*kc));
    if (kc == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    kc->api = api;
    kc->ctx = ctx;
    op_key_of(in, &key_field, 1, &kc->key);
    kc->emit_final = final;
    return kc;
}

/* Emits (key, count). */
static int kc_emit(keyed_count_t *kc, const uint8_t *key, uint32_t len, uint64_t count, int64_t ts,
                   te_output_t *out)
{
    te_row_builder_begin(&kc->out, 2);
    if (op_key_to_row(&kc->out, 0, key, len, &kc->key) != 0) {
        kc->api->fail(kc->ctx, "operator 'keyed_count': a key in its state does not match its key field");
        return -1;
    }
    te_row_set_i64(&kc->out, 1, (int64_t)count);
    te_record_t rec;
    if (te_row_builder_finish(&kc->out, ts, &rec) != 0) {
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
        return -1;
    }
    return kc->api->emit(out, &rec);
}

static int keyed_count_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    keyed_count_t *kc = self;
    (void)input;
    uint32_t len;
    const uint8_t *key = te_row_field_key(rec, kc->key.idx[0], kc->key.type[0], &len);
    int64_t n;
    if (kc->api->state_add_i64(kc->ctx, key, len, NULL, 0, 1, &n) != 0)
        return -1; /* the engine recorded the failure */
    if (!kc->emit_final)
        return kc_emit(kc, key, len, (uint64_t)n, rec->timestamp, out);
    return 0;
}

/* ---- collecting the state (final emit, snapshot) ---- */

typedef struct kc_final {
    keyed_count_t *kc;
    te_output_t *out;
} kc_final_t;

static int kc_final_emit(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    kc_final_t *f = arg;
    uint64_t count;
    if (vallen != sizeof(count))
        return 0;
    memcpy(&count, val, sizeof(count));
    return kc_emit(f->kc, key, keylen, count, TE_NO_TIMESTAMP, f->out);
}

static int keyed_count_end_input(void *self, te_output_t *out)
{
    keyed_count_t *kc = self;
    if (!kc->emit_final)
        return 0;
    kc_final_t f = {kc, out};
    int rc = op_keyed_foreach_sorted(kc->api, kc->ctx, kc_final_emit, &f);
    if (rc == -2)
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
    return rc == 0 ? 0 : -1;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* The KCN1 section of an older snapshot: checked, not applied (see the top). */
static int keyed_count_restore(void *self, const uint8_t *data, size_t len)
{
    (void)self;
    if (len < 12 || memcmp(data, "KCN1", 4) != 0)
        return -1;
    uint64_t n = get_u64(data + 4);
    size_t off = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (len - off < 4)
            return -1;
        uint32_t kl = (uint32_t)data[off] | (uint32_t)data[off + 1] << 8 | (uint32_t)data[off + 2] << 16 |
                      (uint32_t)data[off + 3] << 24;
        off += 4;
        if (len - off < (size_t)kl + 8)
            return -1;
        off += (size_t)kl + 8;
    }
    return off == len ? 0 : -1;
}

static void keyed_count_dispose(void *self)
{
    keyed_count_t *kc = self;
    if (kc == NULL)
        return;
    te_row_builder_free(&kc->out);
    free(kc);
}

const te_operator_def_t op_keyed_count_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "keyed_count",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_count_setup,
    .process_element = keyed_count_process,
    .end_input = keyed_count_end_input,
    .restore = keyed_count_restore,
    .dispose = keyed_count_dispose,
};
