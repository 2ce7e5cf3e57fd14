/*
 * op_keyed_count — the `keyed_count` operator: counts records per key (keyed state),
 * the word count's aggregator.
 *
 * Parameters: key_field (default 0; a record without it counts under the empty key),
 * delimiter (default "\t"), emit = updates (default; Flink's rolling count: emit
 * "key<delim>count" after each record) or final (emit every key's final count in
 * end_input, sorted by key bytes for determinism).
 *
 * State: an open-addressing hash table (linear probing, power-of-two capacity, grown at
 * 70% load) whose keys are copied into an append-only arena; an existing key costs no
 * allocation. Snapshot format (little endian): "KCN1", u64 entry count, then per entry
 * u32 key length, key bytes, u64 count. Restore (before open) adds the counts.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_util.h"

typedef struct kc_entry {
    uint64_t hash;
    uint64_t key_off; /* into the arena */
    uint32_t key_len;
    uint64_t count;   /* 0 = empty slot */
} kc_entry_t;

typedef struct keyed_count {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t key_field;
    char delim;
    int emit_final;
    kc_entry_t *slots;
    size_t cap;  /* power of two */
    size_t used;
    op_buf_t arena;
    op_buf_t out;
} keyed_count_t;

static void *keyed_count_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err,
                               size_t errlen)
{
    static const char *const allowed[] = {"key_field", "delimiter", "emit", NULL};
    op_setup_t s = {api, ctx, "keyed_count", err, errlen};
    int32_t key_field;
    char delim;
    const char *emit;
    if (op_check_keys(&s, allowed) != 0 || op_get_field(&s, "key_field", 0, &key_field) != 0 ||
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
    keyed_count_t *kc = calloc(1, sizeof(*kc));
    if (kc == NULL)
        goto oom;
    kc->api = api;
    kc->ctx = ctx;
    kc->key_field = key_field < 0 ? 0 : key_field;
    kc->delim = delim;
    kc->emit_final = final;
    kc->cap = 1024;
    kc->slots = calloc(kc->cap, sizeof(kc_entry_t));
    /* The arena always has storage, so even the empty key has a valid address. */
    if (kc->slots == NULL || op_buf_reserve(&kc->arena, 4096) != 0)
        goto oom;
    return kc;
oom:
    if (kc) {
        free(kc->slots);
        free(kc);
    }
    op_errorf(&s, "out of memory");
    return NULL;
}

static uint64_t kc_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int kc_grow(keyed_count_t *kc)
{
    size_t ncap = kc->cap * 2;
    kc_entry_t *ns = calloc(ncap, sizeof(kc_entry_t));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < kc->cap; i++) {
        kc_entry_t *e = &kc->slots[i];
        if (e->count == 0)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ns[j].count != 0)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    free(kc->slots);
    kc->slots = ns;
    kc->cap = ncap;
    return 0;
}

/* Adds `delta` to the key's count. Returns the entry, or NULL when out of memory. */
static kc_entry_t *kc_add(keyed_count_t *kc, const uint8_t *key, uint32_t len, uint64_t delta)
{
    uint64_t h = kc_hash(key, len);
    size_t j = h & (kc->cap - 1);
    for (;;) {
        kc_entry_t *e = &kc->slots[j];
        if (e->count == 0)
            break;
        if (e->hash == h && e->key_len == len && memcmp(kc->arena.data + e->key_off, key, len) == 0) {
            e->count += delta;
            return e;
        }
        j = (j + 1) & (kc->cap - 1);
    }
    /* A new key. */
    if ((kc->used + 1) * 10 > kc->cap * 7) {
        if (kc_grow(kc) != 0)
            return NULL;
        j = h & (kc->cap - 1);
        while (kc->slots[j].count != 0)
            j = (j + 1) & (kc->cap - 1);
    }
    uint64_t off = kc->arena.len;
    if (op_buf_append(&kc->arena, key, len) != 0)
        return NULL;
    kc_entry_t *e = &kc->slots[j];
    e->hash = h;
    e->key_off = off;
    e->key_len = len;
    e->count = delta;
    kc->used++;
    return e;
}

/* Emits "key<delim>count". */
static int kc_emit(keyed_count_t *kc, const kc_entry_t *e, int64_t ts, te_output_t *out)
{
    if (op_buf_reserve(&kc->out, (size_t)e->key_len + 32) != 0)
        return -1;
    memcpy(kc->out.data, kc->arena.data + e->key_off, e->key_len);
    kc->out.data[e->key_len] = (uint8_t)kc->delim;
    int n = snprintf((char *)kc->out.data + e->key_len + 1, 24, "%llu", (unsigned long long)e->count);
    te_record_t rec = {kc->out.data, e->key_len + 1 + (uint32_t)n, ts};
    kc->api->emit(out, &rec);
    return 0;
}

static int keyed_count_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    keyed_count_t *kc = self;
    (void)input;
    uint32_t start = 0, len = 0;
    if (te_record_field(rec->data, rec->len, kc->delim, (uint32_t)kc->key_field, &start, &len) != 0)
        start = len = 0; /* no such field: the empty key */
    kc_entry_t *e = kc_add(kc, rec->data + start, len, 1);
    if (e == NULL || (!kc->emit_final && kc_emit(kc, e, rec->timestamp, out) != 0)) {
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
        return -1;
    }
    return 0;
}

static int kc_cmp(const void *a, const void *b, void *arg)
{
    const keyed_count_t *kc = arg;
    const kc_entry_t *x = *(const kc_entry_t *const *)a, *y = *(const kc_entry_t *const *)b;
    uint32_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = n ? memcmp(kc->arena.data + x->key_off, kc->arena.data + y->key_off, n) : 0;
    if (c != 0)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len ? 1 : 0;
}

static int keyed_count_end_input(void *self, te_output_t *out)
{
    keyed_count_t *kc = self;
    if (!kc->emit_final || kc->used == 0)
        return 0;
    kc_entry_t **order = malloc(kc->used * sizeof(*order));
    if (order == NULL) {
        kc->api->fail(kc->ctx, "operator 'keyed_count': out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < kc->cap; i++)
        if (kc->slots[i].count != 0)
            order[n++] = &kc->slots[i];
    qsort_r(order, n, sizeof(*order), kc_cmp, kc);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = kc_emit(kc, order[i], TE_NO_TIMESTAMP, out);
    free(order);
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
    size_t size = 12 + kc->used * 12 + kc->arena.len;
    uint8_t *p = malloc(size);
    if (p == NULL)
        return -1;
    memcpy(p, "KCN1", 4);
    put_u64(p + 4, kc->used);
    size_t off = 12;
    for (size_t i = 0; i < kc->cap; i++) {
        const kc_entry_t *e = &kc->slots[i];
        if (e->count == 0)
            continue;
        for (int b = 0; b < 4; b++)
            p[off + b] = (uint8_t)(e->key_len >> (8 * b));
        off += 4;
        memcpy(p + off, kc->arena.data + e->key_off, e->key_len);
        off += e->key_len;
        put_u64(p + off, e->count);
        off += 8;
    }
    *data = p;
    *len = off;
    return 0;
}

static int keyed_count_restore(void *self, const uint8_t *data, size_t len)
{
    keyed_count_t *kc = self;
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
        uint64_t count = get_u64(data + off + kl);
        if (count != 0 && kc_add(kc, data + off, kl, count) == NULL)
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
    free(kc->slots);
    op_buf_release(&kc->arena);
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
