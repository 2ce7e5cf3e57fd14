/*
 * rocksdb_scratch_fs — the file system of a task's local RocksDB instance: the POSIX
 * one with every sync (file Sync/Fsync/RangeSync, directory Fsync) skipped.
 *
 * Why that is safe: a task's RocksDB directory is scratch. It is made empty (or from a
 * checkpoint) when the task starts, deleted when it ends, and never opened again after
 * a crash — a restarted task restores from checkpoint storage. What must survive a
 * crash is what a checkpoint uploads, and the upload fsyncs every file it places
 * (rocksdb_incremental.c). Skipping the syncs takes them out of a checkpoint's
 * synchronous part (the memtable flush fsynced its SST, the MANIFEST and the
 * directory while the task waited) and out of every background flush and compaction.
 *
 * Written in C++ (rocksdb_scratch_fs.cc): RocksDB's C API has no FileSystem.
 *
 * Threading: any thread; the file system is one process-wide object, made on first use.
 */
#ifndef TE_ROCKSDB_SCRATCH_FS_H
#define TE_ROCKSDB_SCRATCH_FS_H

#include <stdint.h>

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes the instance opened with opts use the scratch file system. 0, or -1 when it
 * could not be made (out of memory): opts are left on RocksDB's default. */
int rocksdb_scratch_fs_apply(rocksdb_options_t *opts);
/* Syncs skipped so far, process-wide (tests). */
uint64_t rocksdb_scratch_fs_syncs_skipped(void);

#ifdef __cplusplus
}
#endif

#endif
