/*
 * state_cache — a write-back cache in front of a keyed-state implementation whose every
 * access is expensive (rocksdb: a get and a put each walk the memtable's skip list, and
 * a get may read SST blocks). Recently used entries — (key group, key, namespace) ->
 * value, or "known absent" — stay in memory: reading or updating a cached entry touches
 * only the cache. An updated entry is dirty until it is written back to the
 * implementation, which happens
 *   - when cfg.max_dirty entries are dirty: the oldest WB_CHUNK of them (so a
 *     checkpoint's synchronous part that writes back never writes back more than
 *     max_dirty, and a task is never held up by more than a chunk at a time);
 *   - when the cache is full (entries or bytes): everything is written back and the
 *     cache emptied;
 *   - before anything reads the implementation as a whole: a walk of a key group, a
 *     count, a snapshot view, and a flush (state_backend_flush: the state store's
 *     incremental checkpoint, which snapshots the RocksDB instance itself).
 * So the implementation holds every update whenever anyone but this cache reads it.
 * A failed write-back keeps the entries dirty and fails the call, whose error() says why.
 *
 * An incremental checkpoint does not write back: capture copies the dirty entries into
 * a batch its asynchronous part writes (state_gate.h), marks them clean, and holds
 * every write into the implementation until the checkpoint's gate opens (settle); a
 * gate opened failed makes them dirty again. Between checkpoints the dirty set is
 * bounded by max_dirty only, so a working set that fits is written to RocksDB once per
 * checkpoint, not once per update.
 *
 * Layout: an open-addressing table (linear probing, load <= 1/2) of pointers to entries,
 * each one allocation: header | key | namespace | value (capacity rounded up to 8). No
 * entry is removed alone (emptying drops all), so a dirty entry is remembered by its
 * slot, which does not move.
 *
 * Threading: the owning task thread only, as the implementation; views are the
 * implementation's, taken after a write-back; a gate is opened by a snapshot thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_backend_internal.h"

#define SC_DIRTY  1u
#define SC_ABSENT 2u
#define WB_CHUNK  1024u /* entries a write-back writes at a time */

typedef struct sc_entry {
    uint64_t hash;
    uint32_t kg, keylen, nslen, vallen, cap, flags;
    uint8_t data[]; /* key | ns | value (cap bytes) */
} sc_entry_t;

typedef struct state_cache {
    const te_state_backend_ops_t *ops; /* the implementation behind the cache */
    void *inner;
    te_state_cache_config_t cfg;
    sc_entry_t **slots;
    uint32_t mask;
    uint32_t n;
    uint64_t bytes;
    uint32_t *dirty; /* slots of the dirty entries, oldest first */
    uint32_t n_dirty, cap_dirty;
    uint32_t *captured; /* slots captured by the checkpoint of `gate` */
    uint32_t n_captured, cap_captured;
    te_state_gate_t *gate;   /* held writes: the last capture's gate, until settled */
    te_state_write_t *batch; /* WB_CHUNK writes */
    int64_t last;            /* the slot of the last get's entry (put_again), -1 none */
    uint64_t seed;
    char error[256];
} state_cache_t;

typedef struct sc_view {
    const te_state_backend_ops_t *ops;
    void *inner;
} sc_view_t;

static size_t entry_bytes(uint32_t keylen, uint32_t nslen, uint32_t cap)
{
    return sizeof(sc_entry_t) + (size_t)keylen + nslen + cap;
}

static uint8_t *entry_val(sc_entry_t *e) { return e->data + e->keylen + e->nslen; }

static int inner_failed(state_cache_t *c)
{
    const char *e = c->ops->error(c->inner);
    snprintf(c->error, sizeof(c->error), "%s", e && e[0] ? e : "unknown error");
    return -1;
}

static int same_key(const sc_entry_t *e, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    return e->keylen == keylen && e->nslen == nslen && (keylen == 0 || memcmp(e->data, key, keylen) == 0) &&
           (nslen == 0 || memcmp(e->data + keylen, ns, nslen) == 0);
}

/* The slot of (kg, key, ns): its entry's, or the empty one where it would go. */
static uint32_t probe(const state_cache_t *c, uint64_t h, uint32_t kg, const uint8_t *key, uint32_t keylen,
                      const uint8_t *ns, uint32_t nslen)
{
    uint32_t i = (uint32_t)h & c->mask;
    for (;;) {
        const sc_entry_t *e = c->slots[i];
        if (e == NULL || (e->hash == h && e->kg == kg && same_key(e, key, keylen, ns, nslen)))
            return i;
        i = (i + 1) & c->mask;
    }
}

static uint64_t hash_of(const state_cache_t *c, uint32_t kg, const uint8_t *key, uint32_t keylen,
                        const uint8_t *ns, uint32_t nslen)
{
    return state_hash_bytes(state_hash_bytes(c->seed ^ kg, key, keylen), ns, nslen);
}

/* The writes of dirty entries d .. d + n - 1 (n <= WB_CHUNK) into c->batch. The
 * entries lie anywhere in memory, two dependent loads each (slot, then entry): the
 * slot is asked for 16 entries ahead, the entry 8 ahead. */
static void fill_batch(state_cache_t *c, uint32_t d, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        if (d + k + 16 < c->n_dirty)
            __builtin_prefetch(&c->slots[c->dirty[d + k + 16]]);
        if (d + k + 8 < c->n_dirty)
            __builtin_prefetch(c->slots[c->dirty[d + k + 8]]);
        sc_entry_t *e = c->slots[c->dirty[d + k]];
        c->batch[k] = (te_state_write_t){.kg = e->kg,
                                         .keylen = e->keylen,
                                         .nslen = e->nslen,
                                         .vallen = e->vallen,
                                         .key = e->data,
                                         .ns = e->data + e->keylen,
                                         .val = entry_val(e),
                                         .del = (e->flags & SC_ABSENT) != 0};
    }
}

/* Room for `need` slots in the dirty list (grown by doubling). 0, or -1 out of memory. */
static int dirty_reserve(state_cache_t *c, uint32_t need)
{
    if (need <= c->cap_dirty)
        return 0;
    uint32_t nc = c->cap_dirty ? c->cap_dirty : WB_CHUNK;
    while (nc < need)
        nc *= 2;
    uint32_t *p = realloc(c->dirty, (size_t)nc * sizeof(*p));
    if (p == NULL) {
        snprintf(c->error, sizeof(c->error), "out of memory listing %u dirty cached entries", need);
        return -1;
    }
    c->dirty = p;
    c->cap_dirty = nc;
    return 0;
}

/* Waits for the last capture's gate; opened failed, what it captured is dirty again.
 * Every write into the implementation comes after this. 0, or -1 out of memory (the
 * gate kept: the next call tries again). */
static int settle(state_cache_t *c)
{
    if (c->gate == NULL)
        return 0;
    if (!state_gate_wait(c->gate)) {
        if (dirty_reserve(c, c->n_dirty + c->n_captured) != 0)
            return -1;
        for (uint32_t k = 0; k < c->n_captured; k++) {
            sc_entry_t *e = c->slots[c->captured[k]];
            if (!(e->flags & SC_DIRTY)) {
                e->flags |= SC_DIRTY;
                c->dirty[c->n_dirty++] = c->captured[k];
            }
        }
    }
    state_gate_unref(c->gate);
    c->gate = NULL;
    c->n_captured = 0;
    return 0;
}

/* Writes the oldest `most` dirty entries back (a put, or a delete of an absent one), in
 * batches of WB_CHUNK. 0, or -1 with those not written still dirty. */
static int write_back_oldest(state_cache_t *c, uint32_t most)
{
    if (settle(c) != 0)
        return -1;
    uint32_t done = 0, n = most < c->n_dirty ? most : c->n_dirty;
    while (done < n) {
        uint32_t k = n - done < WB_CHUNK ? n - done : WB_CHUNK;
        fill_batch(c, done, k);
        if (c->ops->write_batch(c->inner, c->batch, k) != 0)
            break;
        for (uint32_t d = done; d < done + k; d++)
            c->slots[c->dirty[d]]->flags &= ~SC_DIRTY;
        done += k;
    }
    memmove(c->dirty, c->dirty + done, (size_t)(c->n_dirty - done) * sizeof(*c->dirty));
    c->n_dirty -= done;
    return done == n ? 0 : inner_failed(c);
}

/* Writes every dirty entry back. 0 or -1 (those not written still dirty). */
static int write_back(state_cache_t *c) { return write_back_oldest(c, UINT32_MAX); }

/* Writes back, then drops every entry. */
static int empty(state_cache_t *c)
{
    if (write_back(c) != 0)
        return -1;
    for (uint32_t i = 0; i <= c->mask; i++) {
        free(c->slots[i]);
        c->slots[i] = NULL;
    }
    c->n = 0;
    c->bytes = 0;
    c->last = -1;
    return 0;
}

/* Room for one more entry of `more` bytes: empties the cache when it is full. 1 when it
 * did (slots found before are stale), 0 when not, -1 on a failed write-back. */
static int make_room(state_cache_t *c, size_t more)
{
    if (c->n + 1 <= c->cfg.max_entries && c->bytes + more <= c->cfg.max_bytes)
        return 0;
    return empty(c) == 0 ? 1 : -1;
}

/* Room for one more dirty entry: the oldest chunk written back first when max_dirty
 * are, the list grown when full. 0 or -1. */
static int dirty_room(state_cache_t *c)
{
    if (c->n_dirty >= c->cfg.max_dirty && write_back_oldest(c, WB_CHUNK) != 0)
        return -1;
    return dirty_reserve(c, c->n_dirty + 1);
}

/* Entry `slot` (about to change) becomes dirty; a full batch of dirty entries is
 * written back first. -1 (the entry unchanged) when that fails. */
static int mark_dirty(state_cache_t *c, uint32_t slot)
{
    sc_entry_t *e = c->slots[slot];
    if (e->flags & SC_DIRTY)
        return 0;
    if (dirty_room(c) != 0)
        return -1;
    e->flags |= SC_DIRTY;
    c->dirty[c->n_dirty++] = slot;
    return 0;
}

/* A new entry in empty slot i; its value (vallen bytes, NULL = absent) copied. */
static sc_entry_t *insert(state_cache_t *c, uint32_t i, uint64_t h, uint32_t kg, const uint8_t *key,
                          uint32_t keylen, const uint8_t *ns, uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    uint32_t cap = (vallen + 7u) & ~7u;
    sc_entry_t *e = malloc(entry_bytes(keylen, nslen, cap));
    if (e == NULL) {
        snprintf(c->error, sizeof(c->error), "out of memory caching a %u-byte state entry", keylen + vallen);
        return NULL;
    }
    *e = (sc_entry_t){.hash = h,
                      .kg = kg,
                      .keylen = keylen,
                      .nslen = nslen,
                      .vallen = vallen,
                      .cap = cap,
                      .flags = val ? 0 : SC_ABSENT};
    if (keylen)
        memcpy(e->data, key, keylen);
    if (nslen)
        memcpy(e->data + keylen, ns, nslen);
    if (vallen)
        memcpy(entry_val(e), val, vallen);
    c->slots[i] = e;
    c->n++;
    c->bytes += entry_bytes(keylen, nslen, cap);
    return e;
}

/* Entry i's value becomes val (present), the entry dirty. */
static int set_value(state_cache_t *c, uint32_t i, const uint8_t *val, uint32_t vallen)
{
    sc_entry_t *e = c->slots[i];
    if (vallen > e->cap) {
        uint32_t cap = (vallen + 7u) & ~7u;
        sc_entry_t *ne = realloc(e, entry_bytes(e->keylen, e->nslen, cap));
        if (ne == NULL) {
            snprintf(c->error, sizeof(c->error), "out of memory caching a %u-byte state value", vallen);
            return -1;
        }
        c->bytes += (uint64_t)cap - ne->cap;
        ne->cap = cap;
        c->slots[i] = e = ne;
    }
    if (mark_dirty(c, i) != 0)
        return -1;
    if (vallen)
        memmove(entry_val(e), val, vallen);
    e->vallen = vallen;
    e->flags &= ~SC_ABSENT;
    return 0;
}

/* The slot of (kg, key, ns), loaded from the implementation on a miss (a present or an
 * absent entry). -1 on failure. */
static int64_t load(state_cache_t *c, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                    uint32_t nslen)
{
    uint64_t h = hash_of(c, kg, key, keylen, ns, nslen);
    uint32_t i = probe(c, h, kg, key, keylen, ns, nslen);
    if (c->slots[i] != NULL)
        return i;
    int room = make_room(c, entry_bytes(keylen, nslen, 8));
    if (room < 0)
        return -1;
    if (room > 0)
        i = probe(c, h, kg, key, keylen, ns, nslen);
    const uint8_t *v = NULL;
    uint32_t vl = 0;
    int rc = c->ops->get(c->inner, kg, key, keylen, ns, nslen, &v, &vl);
    if (rc < 0)
        return inner_failed(c);
    if (insert(c, i, h, kg, key, keylen, ns, nslen, rc == 1 ? v : NULL, rc == 1 ? vl : 0) == NULL)
        return -1;
    return i;
}

/* A get, delete or add's entry (loaded on a miss), its slot in *slot; NULL on failure. */
static sc_entry_t *entry_for(state_cache_t *c, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                             uint32_t nslen, uint32_t *slot)
{
    c->last = -1;
    int64_t i = load(c, kg, key, keylen, ns, nslen);
    if (i < 0)
        return NULL;
    *slot = (uint32_t)i;
    return c->slots[i];
}

static int sc_get(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t **val, uint32_t *vallen)
{
    state_cache_t *c = impl;
    uint32_t i;
    sc_entry_t *e = entry_for(c, kg, key, keylen, ns, nslen, &i);
    if (e == NULL)
        return -1;
    if (e->flags & SC_ABSENT)
        return 0;
    *val = entry_val(e);
    *vallen = e->vallen;
    c->last = i;
    return 1;
}

static int sc_put(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t *val, uint32_t vallen)
{
    state_cache_t *c = impl;
    c->last = -1;
    uint64_t h = hash_of(c, kg, key, keylen, ns, nslen);
    uint32_t i = probe(c, h, kg, key, keylen, ns, nslen);
    if (c->slots[i] != NULL)
        return set_value(c, i, val, vallen);
    /* a new entry, dirty from the start: no need to read what it replaces */
    int room = make_room(c, entry_bytes(keylen, nslen, vallen));
    if (room < 0 || dirty_room(c) != 0)
        return -1;
    if (room > 0)
        i = probe(c, h, kg, key, keylen, ns, nslen);
    sc_entry_t *e = insert(c, i, h, kg, key, keylen, ns, nslen, val, vallen);
    if (e == NULL)
        return -1;
    e->flags |= SC_DIRTY;
    c->dirty[c->n_dirty++] = i;
    return 0;
}

static int sc_put_again(void *impl, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                        const uint8_t *val, uint32_t vallen)
{
    state_cache_t *c = impl;
    if (c->last < 0)
        return 1;
    uint32_t i = (uint32_t)c->last;
    const sc_entry_t *e = c->slots[i];
    c->last = -1;
    if (!same_key(e, key, keylen, ns, nslen))
        return 1;
    return set_value(c, i, val, vallen);
}

static int sc_del(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    state_cache_t *c = impl;
    uint32_t i;
    sc_entry_t *e = entry_for(c, kg, key, keylen, ns, nslen, &i);
    if (e == NULL)
        return -1;
    if (e->flags & SC_ABSENT)
        return 0;
    if (mark_dirty(c, i) != 0)
        return -1;
    e->flags |= SC_ABSENT;
    e->vallen = 0;
    return 1;
}

static int sc_add_i64(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, int64_t delta, int64_t *sum)
{
    state_cache_t *c = impl;
    uint32_t i;
    sc_entry_t *e = entry_for(c, kg, key, keylen, ns, nslen, &i);
    if (e == NULL)
        return -1;
    uint64_t n = 0;
    if (!(e->flags & SC_ABSENT) && e->vallen == sizeof(n))
        memcpy(&n, entry_val(e), sizeof(n));
    n += (uint64_t)delta;
    *sum = (int64_t)n;
    return set_value(c, i, (const uint8_t *)&n, sizeof(n));
}

static int sc_foreach_group(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    state_cache_t *c = impl;
    c->last = -1;
    if (write_back(c) != 0)
        return -1;
    int rc = c->ops->foreach_group(c->inner, kg, fn, arg);
    if (rc < 0)
        inner_failed(c);
    return rc;
}

static uint64_t sc_group_entries(void *impl, uint32_t kg)
{
    state_cache_t *c = impl;
    if (write_back(c) != 0)
        return 0;
    return c->ops->group_entries(c->inner, kg);
}

static void sc_stats(void *impl, te_state_stats_t *out)
{
    state_cache_t *c = impl;
    c->ops->stats(c->inner, out);
}

static const char *sc_error(void *impl) { return ((state_cache_t *)impl)->error; }

static void *sc_view_take(void *impl, te_error_t *err)
{
    state_cache_t *c = impl;
    c->last = -1;
    if (write_back(c) != 0) {
        te_error_set(err, TE_EIO, "writing cached state back before a snapshot: %s", c->error);
        return NULL;
    }
    sc_view_t *v = malloc(sizeof(*v));
    if (v == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory taking a snapshot of cached state");
        return NULL;
    }
    v->ops = c->ops;
    if ((v->inner = c->ops->view_take(c->inner, err)) == NULL) {
        free(v);
        return NULL;
    }
    return v;
}

static int sc_view_foreach_group(void *view, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    sc_view_t *v = view;
    return v->ops->view_foreach_group(v->inner, kg, fn, arg);
}

static uint64_t sc_view_group_entries(void *view, uint32_t kg)
{
    sc_view_t *v = view;
    return v->ops->view_group_entries(v->inner, kg);
}

static void sc_view_group_done(void *view, uint32_t kg)
{
    sc_view_t *v = view;
    if (v->ops->view_group_done)
        v->ops->view_group_done(v->inner, kg);
}

static void sc_view_release(void *view)
{
    sc_view_t *v = view;
    v->ops->view_release(v->inner);
    free(v);
}

static const char *sc_view_error(void *view)
{
    sc_view_t *v = view;
    return v->ops->view_error(v->inner);
}

static int sc_capture(void *impl, te_state_batch_t *out, te_state_gate_t *gate)
{
    state_cache_t *c = impl;
    c->last = -1;
    if (c->ops->batch_encode == NULL)
        return write_back(c);
    if (settle(c) != 0)
        return -1;
    for (uint32_t d = 0; d < c->n_dirty; d += WB_CHUNK) { /* one pass: each entry touched once */
        uint32_t k = c->n_dirty - d < WB_CHUNK ? c->n_dirty - d : WB_CHUNK;
        fill_batch(c, d, k);
        if (c->ops->batch_encode(c->inner, out, c->batch, k) != 0) {
            for (uint32_t j = 0; j < d; j++) /* nothing captured after all */
                c->slots[c->dirty[j]]->flags |= SC_DIRTY;
            return inner_failed(c);
        }
        for (uint32_t j = d; j < d + k; j++)
            c->slots[c->dirty[j]]->flags &= ~SC_DIRTY;
    }
    /* the dirty list becomes the captured one; the other, empty, the dirty one */
    uint32_t *t = c->captured, tc = c->cap_captured;
    c->captured = c->dirty;
    c->cap_captured = c->cap_dirty;
    c->n_captured = c->n_dirty;
    c->dirty = t;
    c->cap_dirty = tc;
    c->n_dirty = 0;
    c->gate = state_gate_ref(gate);
    return 0;
}

void state_cache_hold(void *cache, te_state_gate_t *gate)
{
    state_cache_t *c = cache;
    c->gate = state_gate_ref(gate); /* a new cache: no gate of its own yet */
}

static void sc_destroy(void *impl)
{
    state_cache_t *c = impl;
    if (c == NULL)
        return;
    state_gate_unref(c->gate);
    free(c->captured);
    for (uint32_t i = 0; c->slots && i <= c->mask; i++)
        free(c->slots[i]);
    free(c->slots);
    free(c->dirty);
    free(c->batch);
    if (c->inner)
        c->ops->destroy(c->inner);
    free(c);
}

static int sc_flush(void *impl)
{
    state_cache_t *c = impl;
    c->last = -1;
    return write_back(c);
}

const te_state_backend_ops_t state_cache_ops = {
    .name = "rocksdb", /* the kind of what it caches: only rocksdb state is */
    .destroy = sc_destroy,
    .get = sc_get,
    .put = sc_put,
    .del = sc_del,
    .put_again = sc_put_again,
    .add_i64 = sc_add_i64,
    .foreach_group = sc_foreach_group,
    .group_entries = sc_group_entries,
    .stats = sc_stats,
    .error = sc_error,
    .view_take = sc_view_take,
    .view_foreach_group = sc_view_foreach_group,
    .view_group_entries = sc_view_group_entries,
    .view_group_done = sc_view_group_done,
    .view_release = sc_view_release,
    .view_error = sc_view_error,
    .flush = sc_flush,
    .capture = sc_capture,
};

void *state_cache_create(const te_state_backend_ops_t *ops, void *inner, const te_state_cache_config_t *cfg,
                         te_error_t *err)
{
    state_cache_t *c = calloc(1, sizeof(*c));
    uint32_t slots = 16;
    while (slots < 2 * (uint64_t)cfg->max_entries && slots < (1u << 30))
        slots *= 2;
    if (c != NULL) {
        c->slots = calloc(slots, sizeof(*c->slots));
        c->cap_dirty = WB_CHUNK;
        c->dirty = malloc((size_t)c->cap_dirty * sizeof(*c->dirty));
        c->batch = malloc((size_t)WB_CHUNK * sizeof(*c->batch));
    }
    if (c == NULL || c->slots == NULL || c->dirty == NULL || c->batch == NULL) {
        if (c != NULL) {
            free(c->slots);
            free(c->dirty);
            free(c->batch);
        }
        free(c);
        ops->destroy(inner);
        te_error_set(err, TE_ENOMEM, "out of memory creating a state cache of %u entries", cfg->max_entries);
        return NULL;
    }
    c->ops = ops;
    c->inner = inner;
    c->cfg = *cfg;
    if (c->cfg.max_entries > slots / 2)
        c->cfg.max_entries = slots / 2;
    c->mask = slots - 1;
    c->last = -1;
    c->seed = (uint64_t)(uintptr_t)c * 0x9E3779B97F4A7C15ULL;
    return c;
}
