/*
 * key_group — Flink's key-group assignment for byte-string keys.
 *
 *   hash(key)        = MurmurHash3_x86_32(key bytes, seed 0)  (Austin Appleby's
 *                      reference algorithm; "hello" -> 0x248bfa47)
 *   murmur_mix(h)    = Flink's MathUtils.murmurHash(int): one MurmurHash3 round of h
 *                      (c1 0xcc9e2d51, rotl 15, c2 0x1b873593, rotl 13, *5 + 0xe6546b64),
 *                      then h ^= 4 and the fmix32 finalizer, then the absolute value
 *                      as a signed 32-bit int (INT32_MIN -> 0)
 *   key_group        = murmur_mix(hash(key)) % max_parallelism
 *   operator index   = key_group * parallelism / max_parallelism
 *   range(i)         = [ceil(i*maxp/p), ceil((i+1)*maxp/p) - 1]
 *
 * Threading: pure functions.
 */
#include "common/key_group.h"

#include <string.h>

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* A little-endian 32-bit block (one unaligned load on little-endian hosts). */
static inline uint32_t load_le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

/* MurmurHash3_x86_32, seed 0; inline into key_group_for_key (a call per record less). */
static inline uint32_t murmur3_32(const uint8_t *key, uint32_t len)
{
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = 0;
    uint32_t nblocks = len / 4;
    for (uint32_t i = 0; i < nblocks; i++) {
        uint32_t k = load_le32(key + 4 * i);
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    const uint8_t *tail = key + nblocks * 4;
    uint32_t k = 0;
    switch (len & 3) {
    case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: k ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1:
        k ^= tail[0];
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= len;
    return fmix32(h);
}

uint32_t key_group_hash_bytes(const uint8_t *key, uint32_t len) { return murmur3_32(key, len); }

/* Flink's MathUtils.murmurHash(int code). */
static uint32_t murmur_mix(uint32_t code)
{
    code *= 0xcc9e2d51u;
    code = rotl32(code, 15);
    code *= 0x1b873593u;
    code = rotl32(code, 13);
    code = code * 5 + 0xe6546b64u;
    code ^= 4;
    code = fmix32(code);
    /* the absolute value without a branch on the (random) sign; INT32_MIN -> 0 */
    uint32_t sign = 0u - (code >> 31), abs = (code ^ sign) - sign;
    return abs == 0x80000000u ? 0 : abs;
}

uint32_t key_group_for_key(const uint8_t *key, uint32_t len, uint32_t max_parallelism)
{
    if (max_parallelism == 0)
        return 0;
    uint32_t h = murmur_mix(murmur3_32(key, len));
    /* a power of two (128 by default): a mask, not a division (tens of cycles) */
    return (max_parallelism & (max_parallelism - 1)) == 0 ? h & (max_parallelism - 1) : h % max_parallelism;
}

void key_group_range(uint32_t subtask, uint32_t max_parallelism, uint32_t parallelism, uint32_t *first,
                     uint32_t *last)
{
    uint64_t maxp = max_parallelism, p = parallelism ? parallelism : 1;
    uint64_t start = ((uint64_t)subtask * maxp + p - 1) / p;
    uint64_t end_excl = (((uint64_t)subtask + 1) * maxp + p - 1) / p;
    *first = (uint32_t)start;
    *last = (uint32_t)(end_excl - 1); /* first > last when the range is empty (p > maxp) */
}

void key_group_cache_init(te_key_group_cache_t *c, uint32_t max_parallelism)
{
    for (uint32_t i = 0; i < KEY_GROUP_CACHE_SLOTS; i++) {
        c->e[i].w[0] = c->e[i].w[1] = 0;
        c->e[i].len = UINT32_MAX;
        c->e[i].kg = 0;
    }
    c->max_parallelism = max_parallelism;
}
