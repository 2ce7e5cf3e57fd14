/*
 * key_group — Flink's key-group assignment: a key hashes to one of max_parallelism
 * key groups; each operator subtask owns a contiguous range of key groups, so keyed
 * state can be redistributed when the parallelism changes.
 *
 *   key_group  = murmur_mix(hash(key)) % max_parallelism
 *   subtask    = key_group * parallelism / max_parallelism
 *   range(i)   = [ceil(i*maxp/p), ceil((i+1)*maxp/p) - 1]
 *
 * Threading: pure, but for a te_key_group_cache_t, which belongs to one thread.
 */
#ifndef TE_KEY_GROUP_H
#define TE_KEY_GROUP_H

#include <stdint.h>

#include "common/byte_codec.h"

uint32_t key_group_hash_bytes(const uint8_t *key, uint32_t len);
uint32_t key_group_for_key(const uint8_t *key, uint32_t len, uint32_t max_parallelism);
/* Inline: once per keyed record on the hash partitioner's path. */
static inline uint32_t key_group_operator_index(uint32_t key_group, uint32_t max_parallelism, uint32_t parallelism)
{
    if (max_parallelism == 0)
        return 0;
    if ((max_parallelism & (max_parallelism - 1)) == 0)
        return (uint32_t)(((uint64_t)key_group * parallelism) >> __builtin_ctz(max_parallelism));
    return (uint32_t)((uint64_t)key_group * parallelism / max_parallelism);
}
void key_group_range(uint32_t subtask, uint32_t max_parallelism, uint32_t parallelism, uint32_t *first,
                     uint32_t *last);

/* The key groups of recent keys of at most 16 bytes, direct-mapped, for a path that
 * sees the same keys again (a hash partitioner over a skewed stream: Nexmark's hot
 * channels and auctions, a text's common words): a hit costs a few loads and compares
 * instead of murmur's chain of dependent multiplies. Owned by one thread. */
#define KEY_GROUP_CACHE_LOG   10u
#define KEY_GROUP_CACHE_SLOTS (1u << KEY_GROUP_CACHE_LOG)
typedef struct te_key_group_cache {
    struct {
        uint64_t w[2];
        uint32_t len; /* UINT32_MAX: empty */
        uint32_t kg;
    } e[KEY_GROUP_CACHE_SLOTS];
    uint32_t max_parallelism;
} te_key_group_cache_t;

void key_group_cache_init(te_key_group_cache_t *c, uint32_t max_parallelism);

/* key_group_for_key(key, len, c->max_parallelism) for a key of at most 16 bytes whose
 * byte_key_words are w, through the cache. */
static inline uint32_t key_group_cached_words(te_key_group_cache_t *c, const uint8_t *key, uint32_t len,
                                              const uint64_t w[2])
{
    uint32_t i = (uint32_t)(((w[0] ^ (w[1] * 0x9E3779B97F4A7C15ULL) ^ len) * 0xBF58476D1CE4E5B9ULL) >>
                            (64 - KEY_GROUP_CACHE_LOG));
    if (c->e[i].len == len && c->e[i].w[0] == w[0] && c->e[i].w[1] == w[1])
        return c->e[i].kg;
    uint32_t kg = key_group_for_key(key, len, c->max_parallelism);
    c->e[i].w[0] = w[0];
    c->e[i].w[1] = w[1];
    c->e[i].len = len;
    c->e[i].kg = kg;
    return kg;
}

/* key_group_for_key(key, len, c->max_parallelism), through the cache. */
static inline uint32_t key_group_cached(te_key_group_cache_t *c, const uint8_t *key, uint32_t len)
{
    if (len > 16)
        return key_group_for_key(key, len, c->max_parallelism);
    uint64_t w[2];
    byte_key_words(key, len, w);
    return key_group_cached_words(c, key, len, w);
}

#endif
