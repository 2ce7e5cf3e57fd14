/*
 * op_keyed_count — the `keyed_count` operator: counts records per key in keyed state,
 * the word count's aggregator.
 *
 * Parameters: key_field (default 0; a record without it counts under the empty key),
 * delimiter (default "\t"), emit = updates (default; Flink's rolling count: emit
 * "key<delim>count" after each record) or final (emit every key's final count in
 * end_input, sorted by key bytes for determinism).
 *
 * State: the engine's keyed state backend (ABI v2 state_get / state_put), one 8-byte
 * count per key, stored by key group (the engine snapshots it per key group). The
 * operator's own snapshot/restore callbacks serialize the same counts (little endian):
 * "KCN1", u64 entry count, then per entry u32 key length, key bytes, u64 count; restore
 * (before open) sets the counts it finds.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"

typedef struct keyed_count {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t key_field;
    char delim;
    int emit_final;
    op_buf_t out;
} keyed_count_t;

static void *keyed_count_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key_field", "delimiter", "emit", NULL};
    op_setup_t s = {api, ctx, "keyed_count", err, errlen};
    int32_t key_field;
    char delim;
    const char *emit;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 ||
        op_get_field(&s, "key_field", 0, &key_field) != 0 || op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
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
    keyed_count_t *kc = calloc(1, sizeof(*kc));
    if (kc == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    kc->api = api;
    kc->ctx = ctx;
    kc->key_field = key_field < 0 ? 0 : key_field;
    kc->delim = delim;
    kc->emit_final = final;
    return kc;
}

static uint64_t kc_get(keyed_count_t *kc, const uint8_t *key, uint32_t len)
{
    const uint8_t *v;
    uint32_t vl;
    uint64_t n = 0;
    if (kc->api->state_get(kc->ctx, key, len, &v, &vl) && vl == sizeof(n))
        memcpy(&n, v, sizeof(n));
    return n;
}

/* Emits "key<delim>count". */
static int kc_emit(keyed_count_t *kc, const uint8_t *key, uint32_t len, uint64_t count, int64_t ts, te_output_t *out)
{
    if (op_buf_reserve(&kc->out, (size_t)len + 32) != 0)
        return -1;
    if (len)
        memcpy(kc->out.data, key, len);
    kc->out.data[len] = (uint8_t)kc->delim;
    int n = snprintf((char *)kc->out.data + len + 1, 24, "%llu", (unsigned long long)count);
    te_record_t rec = {kc->out.data, len + 1 + (uint32_t)n, ts};
    kc->api->emit(out, &rec);
    return 0;
}

static int keyed_count_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    keyed_count_t *kc = self;
    (void)input;
    const uint8_t *key;
    uint32_t len;
    op_field_key(rec, kc->delim, (uint32_t)kc->key_field, &key, &len);
    uint64_t n = kc_get(kc, key, len) + 1;
    if (kc->api->state_put(kc->ctx, key, len, (const uint8_t *)&n, sizeof(n)) != 0)
        return -1; /* the engine recorded the failure */
    if (!kc->emit_final && kc_emit(kc, key, len, n, rec->timestamp, out) != 0) {
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
        return -1;
    }
    return 0;
}

/* ---- collecting the state (final emit, snapshot) ---- */

typedef struct kc_item {
    const uint8_t *key; /* into the arena, fixed up after collection */
    size_t off;
    uint32_t len;
    uint64_t count;
} kc_item_t;

typedef struct kc_collect {
    kc_item_t *items;
    size_t n, cap;
    op_buf_t arena;
    int oom;
} kc_collect_t;

static int kc_collect_visit(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val, uint32_t vallen)
{
    kc_collect_t *c = arg;
    if (vallen != sizeof(uint64_t))
        return 0;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 256;
        kc_item_t *ni = realloc(c->items, nc * sizeof(*ni));
        if (ni == NULL)
            return c->oom = -1;
        c->items = ni;
        c->cap = nc;
    }
    kc_item_t *it = &c->items[c->n++];
    it->off = c->arena.len;
    it->len = keylen;
    memcpy(&it->count, val, sizeof(it->count));
    if (op_buf_append(&c->arena, key, keylen) != 0)
        return c->oom = -1;
    return 0;
}

static int kc_collect(keyed_count_t *kc, kc_collect_t *c)
{
    memset(c, 0, sizeof(*c));
    if (op_buf_reserve(&c->arena, 64) != 0)
        return -1;
    kc->api->state_foreach(kc->ctx, kc_collect_visit, c);
    if (c->oom)
        return -1;
    for (size_t i = 0; i < c->n; i++)
        c->items[i].key = c->arena.data + c->items[i].off;
    return 0;
}

static void kc_collect_free(kc_collect_t *c)
{
    free(c->items);
    op_buf_release(&c->arena);
}

static int kc_cmp(const void *a, const void *b)
{
    const kc_item_t *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->key, y->key, n) : 0;
    if (c != 0)
        return c;
    return x->len < y->len ? -1 : x->len > y->len ? 1 : 0;
}

static int keyed_count_end_input(void *self, te_output_t *out)
{
    keyed_count_t *kc = self;
    if (!kc->emit_final)
        return 0;
    kc_collect_t c;
    int rc = kc_collect(kc, &c);
    if (rc == 0) {
        qsort(c.items, c.n, sizeof(*c.items), kc_cmp);
        for (size_t i = 0; i < c.n && rc == 0; i++)
            rc = kc_emit(kc, c.items[i].key, c.items[i].len, c.items[i].count, TE_NO_TIMESTAMP, out);
    }
    kc_collect_free(&c);
    if (rc != 0)
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
    return rc;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int keyed_count_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    keyed_count_t *kc = self;
    (void)checkpoint_id;
    kc_collect_t c;
    if (kc_collect(kc, &c) != 0) {
        kc_collect_free(&c);
        return -1;
    }
    size_t size = 12 + c.n * 12 + c.arena.len;
    uint8_t *p = malloc(size);
    if (p == NULL) {
        kc_collect_free(&c);
        return -1;
    }
    memcpy(p, "KCN1", 4);
    put_u64(p + 4, c.n);
    size_t off = 12;
    for (size_t i = 0; i < c.n; i++) {
        const kc_item_t *e = &c.items[i];
        for (int b = 0; b < 4; b++)
            p[off + b] = (uint8_t)(e->len >> (8 * b));
        off += 4;
        if (e->len)
            memcpy(p + off, e->key, e->len);
        off += e->len;
        put_u64(p + off, e->count);
        off += 8;
    }
    kc_collect_free(&c);
    *data = p;
    *len = off;
    return 0;
}

static int keyed_count_restore(void *self, const uint8_t *data, size_t len)
{
    keyed_count_t *kc = self;
    if (len < 12 || memcmp(data, "KCN1", 4) != 0)
        return -1;
    /* validate first, so a corrupt snapshot changes nothing */
    for (int apply = 0; apply < 2; apply++) {
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
            uint64_t count = get_u64(data + off + kl);
            if (apply && count != 0 &&
                kc->api->state_put(kc->ctx, data + off, kl, (const uint8_t *)&count, sizeof(count)) != 0)
                return -1;
            off += (size_t)kl + 8;
        }
        if (off != len)
            return -1;
    }
    return 0;
}

static void keyed_count_dispose(void *self)
{
    keyed_count_t *kc = self;
    if (kc == NULL)
        return;
    op_buf_release(&kc->out);
    free(kc);
}

const te_operator_def_t op_keyed_count_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "keyed_count",
    .kind = TE_OP_ONE_INPUT,
    .setup = keyed_count_setup,
    .process_element = keyed_count_process,
    .end_input = keyed_count_end_input,
    .snapshot = keyed_count_snapshot,
    .restore = keyed_count_restore,
    .dispose = keyed_count_dispose,
};
