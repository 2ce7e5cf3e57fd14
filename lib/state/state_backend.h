/*
 * state_backend — keyed state of one operator instance (Flink's KeyedStateBackend),
 * stored by KEY GROUP: every (key, namespace) -> value entry lives in the key group of
 * its key (key_group_for_key over max_parallelism, the hash partitioner's rule), so a
 * snapshot can be written group by group and redistributed to another parallelism.
 *
 * One interface, two implementations behind it (state_backend_internal.h): `hashmap`
 * (hashmap_state_backend.c: in-memory hash tables, one per key group) and `rocksdb`
 * (rocksdb_state_backend.c: a column family of the task's RocksDB instance, keys
 * prefixed with the big-endian key group so a key-group range is one key range).
 * Backends of a task are made by its state store (state_store.h); a standalone
 * `hashmap` one by state_backend_new. The snapshot format is the interface's, not an
 * implementation's (state_backend.c), so a snapshot of either restores into either:
 *
 *   all integers little endian
 *   header   "TEKS" | u32 version (2) | u32 max_parallelism | u32 n_groups
 *   n_groups times, key groups ascending, empty groups omitted:
 *     u32 key_group | u32 n_entries | u64 body_len | body | u32 crc32c(key_group..body)
 *     body = n_entries times: varint keylen | varint nslen | varint vallen | key | ns |
 *            value   (varint: 7 bits a byte, low first; version 1, still read:
 *            u32 keylen | u32 nslen | u32 vallen)
 *   trailer  u32 crc32c(every byte before it)
 *
 * Each group section is self-contained (its own checksum), so the checkpoint layer can
 * copy the sections of a key-group range into another subtask's snapshot.
 * state_backend_restore checks everything (magic, version, max_parallelism, lengths,
 * both checksums, trailing bytes) before it changes any state.
 *
 * Threading: a backend belongs to one operator instance and is used on its task thread
 * only; no locks.
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

/* What a backend holds (approximate): bytes (hashmap: memory; rocksdb: SST files on
 * disk + memtables) and entries (rocksdb: RocksDB's estimate). */
typedef struct te_state_stats {
    uint64_t bytes;
    uint64_t entries;
} te_state_stats_t;

typedef struct te_state_backend te_state_backend_t;

#define TE_STATE_DEFAULT_MAX_PARALLELISM 128
#define TE_STATE_MAX_MAX_PARALLELISM     32768

/* A standalone backend: kind = "hashmap" (NULL = "hashmap"; a rocksdb backend needs a
 * task's state store); max_parallelism 1..32768 (0 = 128). NULL with a message naming
 * the bad value. */
te_state_backend_t *state_backend_new(const char *kind, uint32_t max_parallelism, te_error_t *err);
void state_backend_free(te_state_backend_t *b);

uint32_t state_backend_max_parallelism(const te_state_backend_t *b);
/* The key group of a key (key_group_for_key). */
uint32_t state_backend_key_group(const te_state_backend_t *b, const uint8_t *key, uint32_t keylen);

/* Entry operations; the key group is computed from key. ns may be NULL when nslen 0.
 * get: 1 found (*val borrowed until the next call on b), 0 absent, -1 error; put: 0 or
 * -1; delete: 1 removed, 0 absent, -1 error. After -1, state_backend_error says why
 * (out of memory, an I/O error of RocksDB, ...). */
int state_backend_get(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t **val, uint32_t *vallen);
int state_backend_put(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, const uint8_t *val, uint32_t vallen);
int state_backend_delete(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen);
/* Adds delta to the 8-byte value (host byte order) of (key, ns): absent or of another
 * size counts as 0, the addition wraps; *sum = the new value. One lookup on backends
 * that can (hashmap), a get and a put on the others. 0 or -1 as put. */
int state_backend_add_i64(te_state_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                          uint32_t nslen, int64_t delta, int64_t *sum);

/* Walks one key group / every key group ascending. */
int state_backend_foreach_group(te_state_backend_t *b, uint32_t kg, te_state_visit_fn fn, void *arg);
int state_backend_foreach(te_state_backend_t *b, te_state_visit_fn fn, void *arg);
uint64_t state_backend_group_entries(te_state_backend_t *b, uint32_t kg);
uint64_t state_backend_entries(te_state_backend_t *b);
void state_backend_stats(te_state_backend_t *b, te_state_stats_t *out);
/* Writes back updates a cache in front of the backend holds (rocksdb), so that a
 * reader of the backend's store sees them. 0, or -1 (state_backend_error says why). */
int state_backend_flush(te_state_backend_t *b);
const char *state_backend_error(te_state_backend_t *b);
/* "hashmap" or "rocksdb". */
const char *state_backend_kind(const te_state_backend_t *b);

/* Serializes every non-empty key group into a malloc'd buffer (the caller frees):
 * synchronous, for small state (tests; checkpoints use views). */
te_status_t state_backend_snapshot(te_state_backend_t *b, uint8_t **data, size_t *len, te_error_t *err);
/* Adds the entries of the key groups in [kg_first, kg_last] found in a snapshot (other
 * groups are skipped: redistribution). Corruption / truncation / a different
 * max_parallelism: an error saying what is wrong, and the backend is unchanged. */
te_status_t state_backend_restore(te_state_backend_t *b, const uint8_t *data, size_t len, uint32_t kg_first,
                                  uint32_t kg_last, te_error_t *err);
/* The same from a section of a snapshot file (checked by checkpoint_reader_open),
 * streamed: only the key groups in range are read and added. */
typedef struct te_ckpt_reader te_ckpt_reader_t;
typedef struct te_ckpt_section_info te_ckpt_section_info_t;
te_status_t state_backend_restore_section(te_state_backend_t *b, te_ckpt_reader_t *r,
                                          const te_ckpt_section_info_t *sec, uint32_t kg_first, uint32_t kg_last,
                                          te_error_t *err);

/* ---- views: asynchronous snapshots ----
 * A view is the synchronous part of a snapshot: a consistent, read-only picture of the
 * backend as it is now (hashmap: copy-on-write of its pages and entries; rocksdb: a
 * RocksDB snapshot), cheap to take on the task thread. A snapshot thread then writes
 * it out (state_backend_view_write: the format above, streamed into the current
 * section of a checkpoint_writer) and releases it, while the task goes on changing the
 * backend. The backend must outlive its views (the state store's references see to
 * that). */
typedef struct te_state_view te_state_view_t;
typedef struct te_ckpt_writer te_ckpt_writer_t;
/* Rewrites a namespace in place (same length) before it is written (timers move
 * processing times onto the wall clock this way). */
typedef void (*te_state_ns_map_fn)(int64_t arg, uint8_t *ns, uint32_t nslen);

te_state_view_t *state_backend_view(te_state_backend_t *b, te_error_t *err);
/* Writes the key groups kg_first..kg_last of v (empty ones omitted); map may be NULL.
 * Any thread; stops with the writer's error (cancellation included). */
te_status_t state_backend_view_write(te_state_view_t *v, te_ckpt_writer_t *w, uint32_t kg_first, uint32_t kg_last,
                                     te_state_ns_map_fn map, int64_t map_arg, te_error_t *err);
/* Any thread; NULL is a no-op. */
void state_backend_view_release(te_state_view_t *v);

#endif
