/*
 * rocksdb_memory — the memory of the RocksDB instances of one slot (Flink's
 * RocksDBSharedResources): one LRU block cache whose capacity is the slot's share of
 * managed memory, and one write-buffer manager that charges every memtable of those
 * instances to that cache (so blocks, index/filter blocks and write buffers together
 * stay within the share). Write buffers may take TE_ROCKSDB_WRITE_BUFFER_RATIO of it.
 *
 * Written in C++ (rocksdb_memory.cc) because RocksDB 7.8's C API has no
 * WriteBufferManager; the interface is C.
 *
 * Threading: new/free on any one thread; apply while building an instance's options
 * (its caller's thread); hold, release and usage from any thread (an atomic count;
 * RocksDB's cache is thread-safe). An
 * instance opened with apply keeps the cache and manager alive after free.
 */
#ifndef TE_ROCKSDB_MEMORY_H
#define TE_ROCKSDB_MEMORY_H

#include <stddef.h>

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TE_ROCKSDB_WRITE_BUFFER_RATIO 0.5

typedef struct te_rocksdb_memory te_rocksdb_memory_t;

/* capacity: bytes (at least 1 MiB is used). NULL when out of memory. */
te_rocksdb_memory_t *rocksdb_memory_new(size_t capacity);
void rocksdb_memory_free(te_rocksdb_memory_t *m);

/* Makes opts / table use the shared cache and write-buffer manager, with memtables of
 * an eighth of the capacity (1 MiB .. 64 MiB). */
void rocksdb_memory_apply(te_rocksdb_memory_t *m, rocksdb_options_t *opts,
                          rocksdb_block_based_table_options_t *table);

/* An instance opened with m counts in it until it is closed (after rocksdb_close):
 * when the last one closes, the cache drops every block no one holds. RocksDB leaves a
 * closed instance's blocks in the cache until the LRU evicts them, which an idle slot
 * never does: the daemon would keep up to the slot's share resident after its jobs. */
void rocksdb_memory_hold(te_rocksdb_memory_t *m);
void rocksdb_memory_release(te_rocksdb_memory_t *m);

size_t rocksdb_memory_capacity(const te_rocksdb_memory_t *m);
/* Bytes held in the cache, memtables included. */
size_t rocksdb_memory_usage(const te_rocksdb_memory_t *m);

#ifdef __cplusplus
}
#endif
#endif
