/*
 * key_group — Flink's key-group assignment: a key hashes to one of max_parallelism
 * key groups; each operator subtask owns a contiguous range of key groups, so keyed
 * state can be redistributed when the parallelism changes.
 *
 *   key_group  = murmur_mix(hash(key)) % max_parallelism
 *   subtask    = key_group * parallelism / max_parallelism
 *   range(i)   = [ceil(i*maxp/p), ceil((i+1)*maxp/p) - 1]
 *
 * Threading: pure.
 */
#ifndef TE_KEY_GROUP_H
#define TE_KEY_GROUP_H

#include <stdint.h>

uint32_t key_group_hash_bytes(const uint8_t *key, uint32_t len);
uint32_t key_group_for_key(const uint8_t *key, uint32_t len, uint32_t max_parallelism);
uint32_t key_group_operator_index(uint32_t key_group, uint32_t max_parallelism, uint32_t parallelism);
void key_group_range(uint32_t subtask, uint32_t max_parallelism, uint32_t parallelism, uint32_t *first,
                     uint32_t *last);

#endif
