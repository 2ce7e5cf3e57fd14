/*
 * rocksdb_memory — a slot's RocksDB block cache and write-buffer manager (see
 * rocksdb_memory.h). The C API's option structs are re-declared here exactly as
 * RocksDB's c.cc defines them (a struct holding the C++ object as `rep`), which is how
 * the C API itself reaches them (rocksdb_scratch_fs.cc and rocksdb_capture.cc do the same).
 *
 * Threading: see rocksdb_memory.h; no locks of its own (the open count is atomic).
 */
#include "state/rocksdb_memory.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <new>

#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_buffer_manager.h>

struct rocksdb_options_t {
    rocksdb::Options rep;
};
struct rocksdb_block_based_table_options_t {
    rocksdb::BlockBasedTableOptions rep;
};

struct te_rocksdb_memory {
    size_t capacity;
    std::shared_ptr<rocksdb::Cache> cache;
    std::shared_ptr<rocksdb::WriteBufferManager> wbm;
    std::atomic<long> open{0}; /* instances holding it */
};

extern "C" te_rocksdb_memory_t *rocksdb_memory_new(size_t capacity)
{
    if (capacity < (1u << 20))
        capacity = 1u << 20;
    try {
        te_rocksdb_memory_t *m = new te_rocksdb_memory;
        m->capacity = capacity;
        m->cache = rocksdb::NewLRUCache(capacity, -1, false, 0.1);
        m->wbm = std::make_shared<rocksdb::WriteBufferManager>(
            static_cast<size_t>(static_cast<double>(capacity) * TE_ROCKSDB_WRITE_BUFFER_RATIO), m->cache);
        if (!m->cache || !m->wbm) {
            delete m;
            return nullptr;
        }
        return m;
    } catch (...) {
        return nullptr;
    }
}

extern "C" void rocksdb_memory_free(te_rocksdb_memory_t *m) { delete m; }

extern "C" void rocksdb_memory_apply(te_rocksdb_memory_t *m, rocksdb_options_t *opts,
                                     rocksdb_block_based_table_options_t *table)
{
    opts->rep.write_buffer_manager = m->wbm;
    /* a memtable flushes at an eighth of the share (1 MiB .. 64 MiB); the manager
     * flushes earlier when the slot's memtables together reach their ratio */
    opts->rep.write_buffer_size = std::min<size_t>(64u << 20, std::max<size_t>(1u << 20, m->capacity / 8));
    table->rep.block_cache = m->cache;
}

extern "C" void rocksdb_memory_hold(te_rocksdb_memory_t *m) { m->open.fetch_add(1); }

extern "C" void rocksdb_memory_release(te_rocksdb_memory_t *m)
{
    /* an instance opening meanwhile only finds some blocks of its own gone: a cache miss */
    if (m->open.fetch_sub(1) == 1)
        m->cache->EraseUnRefEntries();
}

extern "C" size_t rocksdb_memory_capacity(const te_rocksdb_memory_t *m) { return m->capacity; }

extern "C" size_t rocksdb_memory_usage(const te_rocksdb_memory_t *m) { return m->cache->GetUsage(); }
