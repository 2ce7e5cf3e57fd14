/*
 * state_backend — keyed state of one operator instance (Flink's KeyedStateBackend),
 * stored by KEY GROUP: every (key, namespace) -> value entry lives in the key group of
 * its key (key_group_for_key over max_parallelism, the hash partitioner's rule), so a
 * snapshot can be written group by group and redistributed to another parallelism.
 *
 * An interface (te_state_backend_ops_t) with one implementation today, `hashmap`
 * (hashmap_state_backend.c: in-memory hash tables, one per key group). The snapshot
 * format is the interface's, not the implementation's (state_backend.c):
 *
 *   all integers little endian
 *   header   "TEKS" | u32 version (1) | u32 max_parallelism | u32 n_groups
 *   n_groups times, key groups ascending, empty groups omitted:
 *     u32 key_group | u32 n_entries | u64 body_len | body | u32 crc32c(key_group..body)
 *     body = n_entries times: u32 keylen | u32 nslen | u32 vallen | key | ns | value
 *   trailer  u32 crc32c(every byte before it)
 *
 * Each group section is self-contained (its own checksum), so the checkpoint layer can
 * copy the sections of a key-group range into another subtask's snapshot.
 * state_backend_restore checks everything (magic, version, max_parallelism, lengths,
 * both checksums, trailing bytes) before it changes any state.
 *
 * Threading: a backend belongs to one operator instance and is used on its task thread
 * only; no locks. state_crc32c is pure.
 */
#ifndef TE_STATE_BACKEND_H
#define TE_STATE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

/* Called for each entry; non-zero stops the walk (and is returned by the walker). The
 * pointers are borrowed for the call; fn must not change the backend. */
typedef int (*te_state_visit_fn)(void *arg, uint32_t key_group, const uint8_t *key, uint32_t keylen,
                                 const uint8_t *ns, uint32_t nslen, const uint8_t *val, uint32_t vallen);

/* An implementation. get returns 1 (found: *val borrowed until the next call that
 * changes the backend) or 0; put 0 or -1 (out of memory); del 1 (removed) or 0. */
typedef struct te_state_backend_ops {
    const char *name;
    void *(*create)(uint32_t max_parallelism);
    void (*destroy)(void *impl);
    int (*get)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
               const uint8_t **val, uint32_t *vallen);
    int (*put)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
               const uint8_t *val, uint32_t vallen);
    int (*del)(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen);
    int (*foreach_group)(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg);
    uint64_t (*group_entries)(void *impl, uint32_t kg);
} te_state_backend_ops_t;

extern const te_state_backend_ops_t hashmap_state_backend_ops;

typedef struct te_state_backend te_state_backend_t;

#define TE_STATE_DEFAULT_MAX_PARALLELISM 128
#define TE_STATE_MAX_MAX_PARALLELISM     32768

/* kind = "hashmap" (NULL = "hashmap"); max_parallelism 1..32768 (0 = 128). NULL with a
 * message naming the bad value. */
te_state_backend_t *state_backend_new(const char *kind, uint32_t max_parallelism, te_error_t *err);
void state_backend_free(te_state_backend_t *b);

uint32_t state_backend_max_parallelism(const te_state_backend_t *b);
/* The key group of a key (key_group_for_key). */
uint32_t state_backend_key_group(const te_state_backend_t *b, const uint8_t *key, uint32_t keylen);

/* Entry operations; the key group is computed from key. ns may be NULL when nslen 0. */
int state_backend_get(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t **val, uint32_t *vallen);
int state_backend_put(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen);
int state_backend_delete(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen);

/* Walks one key group / every key group ascending. */
int state_backend_foreach_group(te_state_backend_t *b, uint32_t kg, te_state_visit_fn fn, void *arg);
int state_backend_foreach(te_state_backend_t *b, te_state_visit_fn fn, void *arg);
uint64_t state_backend_group_entries(te_state_backend_t *b, uint32_t kg);
uint64_t state_backend_entries(te_state_backend_t *b);

/* Serializes every non-empty key group into a malloc'd buffer (the caller frees). */
te_status_t state_backend_snapshot(te_state_backend_t *b, uint8_t **data, size_t *len, te_error_t *err);
/* Adds the entries of the key groups in [kg_first, kg_last] found in a snapshot (other
 * groups are skipped: redistribution). Corruption / truncation / a different
 * max_parallelism: an error saying what is wrong, and the backend is unchanged. */
te_status_t state_backend_restore(te_state_backend_t *b, const uint8_t *data, size_t len, uint32_t kg_first,
                                  uint32_t kg_last, te_error_t *err);

/* CRC-32C (Castagnoli) of a byte range, continuing from `crc` (start with 0). */
uint32_t state_crc32c(uint32_t crc, const void *data, size_t len);

#endif
