/*
 * hashmap_state_backend — the `hashmap` keyed-state backend (Flink's
 * HashMapStateBackend): entries in memory, one hash table per key group (created on
 * first use), so a key group can be walked, snapshotted or dropped on its own.
 *
 * A table is open addressing with linear probing over (hash, entry pointer) slots,
 * power-of-two capacity grown at 70% load, deletion by backward shift (no tombstones).
 * An entry is one allocation: header + key + namespace + value with spare capacity, so
 * overwriting a value of the same or smaller size (a counter, a sum) never allocates.
 *
 * Threading: owned by one operator instance on its task thread; no locks.
 */
#include <stdlib.h>
#include <string.h>

#include "state/state_backend.h"

typedef struct hm_entry {
    uint32_t keylen, nslen, vallen, valcap;
    uint8_t data[]; /* key | ns | value (valcap bytes) */
} hm_entry_t;

typedef struct hm_slot {
    uint64_t hash;
    hm_entry_t *e; /* NULL = empty */
} hm_slot_t;

typedef struct hm_table {
    hm_slot_t *slots;
    size_t cap; /* power of two */
    size_t used;
} hm_table_t;

typedef struct hm_backend {
    uint32_t maxp;
    hm_table_t *groups; /* maxp tables; slots NULL until first put */
} hm_backend_t;

static uint64_t hm_hash(const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over key, a separator, ns; then a mix */
    for (uint32_t i = 0; i < keylen; i++) {
        h ^= key[i];
        h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
    for (uint32_t i = 0; i < nslen; i++) {
        h ^= ns[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static void *hm_create(uint32_t maxp)
{
    hm_backend_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->maxp = maxp;
    b->groups = calloc(maxp, sizeof(*b->groups));
    if (b->groups == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

static void hm_destroy(void *impl)
{
    hm_backend_t *b = impl;
    if (b == NULL)
        return;
    for (uint32_t g = 0; g < b->maxp; g++) {
        hm_table_t *t = &b->groups[g];
        for (size_t i = 0; i < t->cap; i++)
            free(t->slots[i].e);
        free(t->slots);
    }
    free(b->groups);
    free(b);
}

static int entry_matches(const hm_slot_t *s, uint64_t h, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen)
{
    const hm_entry_t *e = s->e;
    return s->hash == h && e->keylen == keylen && e->nslen == nslen &&
           (keylen == 0 || memcmp(e->data, key, keylen) == 0) &&
           (nslen == 0 || memcmp(e->data + keylen, ns, nslen) == 0);
}

/* The slot holding (key, ns), or the empty slot where it would go. */
static size_t hm_find(const hm_table_t *t, uint64_t h, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen)
{
    size_t mask = t->cap - 1, j = h & mask;
    while (t->slots[j].e != NULL && !entry_matches(&t->slots[j], h, key, keylen, ns, nslen))
        j = (j + 1) & mask;
    return j;
}

static int hm_get(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t **val, uint32_t *vallen)
{
    hm_backend_t *b = impl;
    hm_table_t *t = &b->groups[kg % b->maxp];
    if (t->used == 0)
        return 0;
    size_t j = hm_find(t, hm_hash(key, keylen, ns, nslen), key, keylen, ns, nslen);
    hm_entry_t *e = t->slots[j].e;
    if (e == NULL)
        return 0;
    *val = e->data + e->keylen + e->nslen;
    *vallen = e->vallen;
    return 1;
}

static int hm_grow(hm_table_t *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 16;
    hm_slot_t *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].e == NULL)
            continue;
        size_t j = t->slots[i].hash & (ncap - 1);
        while (ns[j].e != NULL)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
    return 0;
}

static int hm_put(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t *val, uint32_t vallen)
{
    hm_backend_t *b = impl;
    hm_table_t *t = &b->groups[kg % b->maxp];
    uint64_t h = hm_hash(key, keylen, ns, nslen);
    if (t->cap == 0 && hm_grow(t) != 0)
        return -1;
    size_t j = hm_find(t, h, key, keylen, ns, nslen);
    hm_entry_t *e = t->slots[j].e;
    if (e != NULL) {
        if (vallen > e->valcap) {
            uint32_t cap = vallen + vallen / 2 + 8;
            hm_entry_t *ne = realloc(e, sizeof(*e) + (size_t)keylen + nslen + cap);
            if (ne == NULL)
                return -1;
            ne->valcap = cap;
            t->slots[j].e = e = ne;
        }
        if (vallen)
            memmove(e->data + keylen + nslen, val, vallen);
        e->vallen = vallen;
        return 0;
    }
    if ((t->used + 1) * 10 > t->cap * 7) {
        if (hm_grow(t) != 0)
            return -1;
        j = hm_find(t, h, key, keylen, ns, nslen);
    }
    e = malloc(sizeof(*e) + (size_t)keylen + nslen + vallen);
    if (e == NULL)
        return -1;
    e->keylen = keylen;
    e->nslen = nslen;
    e->vallen = e->valcap = vallen;
    if (keylen)
        memcpy(e->data, key, keylen);
    if (nslen)
        memcpy(e->data + keylen, ns, nslen);
    if (vallen)
        memcpy(e->data + keylen + nslen, val, vallen);
    t->slots[j].hash = h;
    t->slots[j].e = e;
    t->used++;
    return 0;
}

static int hm_del(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    hm_backend_t *b = impl;
    hm_table_t *t = &b->groups[kg % b->maxp];
    if (t->used == 0)
        return 0;
    size_t mask = t->cap - 1;
    size_t j = hm_find(t, hm_hash(key, keylen, ns, nslen), key, keylen, ns, nslen);
    if (t->slots[j].e == NULL)
        return 0;
    free(t->slots[j].e);
    t->slots[j].e = NULL;
    t->used--;
    /* backward shift: move later entries of the probe run into the hole */
    size_t hole = j, k = (j + 1) & mask;
    while (t->slots[k].e != NULL) {
        size_t home = t->slots[k].hash & mask;
        /* k's entry may move to the hole when the hole lies cyclically in [home, k) */
        if (((k - home) & mask) >= ((k - hole) & mask)) {
            t->slots[hole] = t->slots[k];
            t->slots[k].e = NULL;
            hole = k;
        }
        k = (k + 1) & mask;
    }
    return 1;
}

static int hm_foreach_group(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    hm_backend_t *b = impl;
    hm_table_t *t = &b->groups[kg % b->maxp];
    for (size_t i = 0; i < t->cap; i++) {
        const hm_entry_t *e = t->slots[i].e;
        if (e == NULL)
            continue;
        int rc = fn(arg, kg, e->data, e->keylen, e->data + e->keylen, e->nslen, e->data + e->keylen + e->nslen,
                    e->vallen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static uint64_t hm_group_entries(void *impl, uint32_t kg)
{
    hm_backend_t *b = impl;
    return b->groups[kg % b->maxp].used;
}

const te_state_backend_ops_t hashmap_state_backend_ops = {
    .name = "hashmap",
    .create = hm_create,
    .destroy = hm_destroy,
    .get = hm_get,
    .put = hm_put,
    .del = hm_del,
    .foreach_group = hm_foreach_group,
    .group_entries = hm_group_entries,
};
