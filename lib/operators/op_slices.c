/*
 * op_slices — slice tables of the slicing window aggregation (see op_slices.h).
 *
 * Hash: the key's 8-byte words multiplied and mixed (the table is private, so any good
 * spread will do); linear probing at load <= 1/2 over slots that hold the hash beside
 * the entry's offset, so a probe past another key does not touch its entry.
 *
 * Threading: a slice belongs to one operator instance.
 */
#include "operators/op_slices.h"

#include <stdlib.h>
#include <string.h>

/* The last n bytes of k (n <= 8) as one word, by loads that may overlap (no loop). */
static inline uint64_t tail_word(const uint8_t *k, uint32_t n, uint32_t keylen)
{
    uint64_t w;
    uint32_t a, z;
    if (keylen >= 8) { /* the 8 bytes that end where the key ends */
        memcpy(&w, k + n - 8, 8);
        return w;
    }
    if (n >= 4) {
        memcpy(&a, k, 4);
        memcpy(&z, k + n - 4, 4);
        return (uint64_t)a | (uint64_t)z << 32;
    }
    return n ? (uint64_t)k[0] | (uint64_t)k[n >> 1] << 8 | (uint64_t)k[n - 1] << 16 : 0;
}

static inline __attribute__((always_inline)) uint32_t hash_key(const uint8_t *k, uint32_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n, w;
    uint32_t m = n;
    for (; m > 8; k += 8, m -= 8) {
        memcpy(&w, k, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
        h ^= h >> 31;
    }
    h = (h ^ tail_word(k, m, n)) * 0x94D049BB133111EBULL;
    h = (h ^ (h >> 29)) * 0xFF51AFD7ED558CCDULL;
    return (uint32_t)(h >> 32);
}

/* a[0..n) == b[0..n): up to 16 bytes by two loads each (no call), longer by memcmp. */
static inline __attribute__((always_inline)) int key_equal(const uint8_t *a, const uint8_t *b, uint32_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n <= 8)
        return tail_word(a, n, n) == tail_word(b, n, n);
    return tail_word(a, 8, 8) == tail_word(b, 8, 8) && tail_word(a, n, n) == tail_word(b, n, n);
}

static uint32_t pad8(uint32_t n) { return (n + 7u) & ~7u; }

void op_slice_init(op_slice_t *s, int64_t id, uint32_t acc_size)
{
    memset(s, 0, sizeof(*s));
    s->id = id;
    s->acc_size = acc_size;
}

void op_slice_clear(op_slice_t *s, int64_t id)
{
    s->id = id;
    if (s->n && s->slots)
        memset(s->slots, 0, (size_t)s->cap * sizeof(*s->slots));
    s->n = 0;
    s->arena.len = 0;
    s->order.len = 0;
}

void op_slice_release(op_slice_t *s)
{
    free(s->slots);
    op_buf_release(&s->arena);
    op_buf_release(&s->order);
    memset(s, 0, sizeof(*s));
}

static const uint8_t *entry_key(const op_slice_t *s, uint32_t off, uint32_t *hash, uint32_t *keylen)
{
    const uint8_t *e = s->arena.data + off;
    memcpy(hash, e, 4);
    memcpy(keylen, e + 4, 4);
    return e + 8;
}

static uint8_t *entry_acc(const op_slice_t *s, uint32_t off)
{
    uint32_t kl;
    memcpy(&kl, s->arena.data + off + 4, 4);
    return s->arena.data + off + 8 + pad8(kl);
}

static uint32_t slot_off(uint64_t v) { return (uint32_t)v - 1; }

/* The slot of key: its entry's, or the empty one where it would go. */
static inline __attribute__((always_inline)) uint32_t probe(const op_slice_t *s, const uint8_t *key,
                                                            uint32_t keylen, uint32_t h)
{
    uint32_t mask = s->cap - 1, i = h & mask;
    for (;;) {
        uint64_t v = s->slots[i];
        if (v == 0)
            return i;
        if ((uint32_t)(v >> 32) == h) {
            uint32_t eh, ekl;
            const uint8_t *ek = entry_key(s, slot_off(v), &eh, &ekl);
            if (ekl == keylen && key_equal(ek, key, keylen))
                return i;
        }
        i = (i + 1) & mask;
    }
}

uint8_t *op_slice_find(op_slice_t *s, const uint8_t *key, uint32_t keylen)
{
    if (s->n == 0)
        return NULL;
    uint32_t h = hash_key(key, keylen), i = probe(s, key, keylen, h);
    return s->slots[i] ? entry_acc(s, slot_off(s->slots[i])) : NULL;
}

static int grow(op_slice_t *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 64;
    uint64_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return -1;
    uint64_t *old = s->slots;
    uint32_t oldcap = s->cap;
    s->slots = slots;
    s->cap = cap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i]) {
            uint32_t h, kl;
            const uint8_t *k = entry_key(s, slot_off(old[i]), &h, &kl);
            s->slots[probe(s, k, kl, h)] = old[i];
        }
    free(old);
    return 0;
}

/* op_slice_upsert's new entry for key (hash h), at slot i unless the table grows first. */
static __attribute__((noinline)) uint8_t *slice_insert(op_slice_t *s, const uint8_t *key, uint32_t keylen,
                                                       uint32_t h, uint32_t i, int *created)
{
    if ((s->n + 1) * 2 > s->cap) {
        if (grow(s) != 0)
            return NULL;
        i = probe(s, key, keylen, h);
    }
    size_t off = s->arena.len, need = 8 + pad8(keylen) + s->acc_size;
    if (off + need > UINT32_MAX - 1 || op_buf_reserve(&s->arena, off + need) != 0 ||
        op_buf_reserve(&s->order, s->order.len + 4) != 0)
        return NULL;
    uint8_t *e = s->arena.data + off;
    memcpy(e, &h, 4);
    memcpy(e + 4, &keylen, 4);
    if (keylen >= 8 && keylen <= 16) { /* two words that may overlap, inside the padded key */
        uint64_t w0, w1;
        memcpy(&w0, key, 8);
        memcpy(&w1, key + keylen - 8, 8);
        memcpy(e + 8, &w0, 8);
        memcpy(e + keylen, &w1, 8);
    } else if (keylen) {
        memcpy(e + 8, key, keylen);
    }
    s->arena.len += need;
    uint32_t o = (uint32_t)off;
    memcpy(s->order.data + s->order.len, &o, 4);
    s->order.len += 4;
    s->slots[i] = (uint64_t)h << 32 | (o + 1);
    s->n++;
    *created = 1;
    return entry_acc(s, o);
}

/* op_slice_upsert for a key of any length, or a slice with no table yet. */
static __attribute__((noinline)) uint8_t *upsert_any(op_slice_t *s, const uint8_t *key, uint32_t keylen,
                                                     int *created)
{
    if (s->cap == 0) /* no table yet */
        return slice_insert(s, key, keylen, hash_key(key, keylen), 0, created);
    uint32_t h = hash_key(key, keylen), i = probe(s, key, keylen, h);
    if (s->slots[i] != 0)
        return entry_acc(s, slot_off(s->slots[i]));
    return slice_insert(s, key, keylen, h, i, created);
}

/* Keys of at most 16 bytes (nearly all: ids, names) take a path that makes no call but
 * tail calls, so it saves no registers: hash, probe and compare without memcmp. */
uint8_t *op_slice_upsert(op_slice_t *s, const uint8_t *key, uint32_t keylen, int *created)
{
    *created = 0;
    if (__builtin_expect(keylen > 16 || s->cap == 0, 0))
        return upsert_any(s, key, keylen, created);
    uint32_t h = hash_key(key, keylen), mask = s->cap - 1, i = h & mask;
    for (;;) {
        uint64_t v = s->slots[i];
        if (v == 0)
            return slice_insert(s, key, keylen, h, i, created);
        if ((uint32_t)(v >> 32) == h) {
            uint32_t eh, ekl;
            const uint8_t *ek = entry_key(s, slot_off(v), &eh, &ekl);
            if (ekl == keylen && key_equal(ek, key, keylen)) /* keylen <= 16: no memcmp */
                return entry_acc(s, slot_off(v));
        }
        i = (i + 1) & mask;
    }
}

uint8_t *op_slice_entry(op_slice_t *s, uint32_t i, const uint8_t **key, uint32_t *keylen)
{
    uint32_t off, h;
    memcpy(&off, s->order.data + 4u * i, 4);
    *key = entry_key(s, off, &h, keylen);
    return entry_acc(s, off);
}
