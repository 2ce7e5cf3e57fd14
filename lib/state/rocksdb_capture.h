/*
 * rocksdb_capture — a native RocksDB checkpoint taken in two parts, so that a task
 * waits only for a memtable switch, not for the flush.
 *
 * The synchronous part (rocksdb_capture_switch) notes the latest sequence number and
 * switches every column family's memtable (a flush that does not wait): what was
 * written before the barrier is now in immutable memtables and SST files, what comes
 * after goes to new memtables. The asynchronous part waits until those immutable
 * memtables are flushed (rocksdb_capture_wait_flushed) and hard-links the live files
 * without flushing again (rocksdb_capture_checkpoint). That is the state at the
 * barrier unless RocksDB flushed a newer memtable meanwhile (one that filled up, or
 * one the write-buffer manager chose); so it checks every SST file of the checkpoint
 * against the noted sequence number and says whether the checkpoint is clean.
 *
 * Written in C++ (rocksdb_capture.cc): the C API has neither a flush that may stall
 * writes without waiting nor the sequence numbers of the live files.
 *
 * Threading: RocksDB is thread-safe; the switch runs where no write of the task may run
 * concurrently, so every column family is switched at one point of its writes (the
 * task thread, or a snapshot thread while a state gate holds the task's writes), the
 * rest on a snapshot thread.
 */
#ifndef TE_ROCKSDB_CAPTURE_H
#define TE_ROCKSDB_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Notes the latest sequence number in *seq and switches the memtables of the default
 * column family and of the n others. 0, or -1 with *errmsg (malloc'ed) set. */
int rocksdb_capture_switch(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n, uint64_t *seq,
                           char **errmsg);
/* Waits until neither the default column family nor one of the n has an immutable memtable left to flush. 0, or
 * -1 with *errmsg when RocksDB reports a background error (the flush cannot end). */
int rocksdb_capture_wait_flushed(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n,
                                 char **errmsg);
/* Bounds what a checkpoint links to 1.5x the state's largest sorted run: each of the n
 * column families whose SST files all hold writes up to seq (and none is being
 * compacted) and whose sorted runs besides the largest sum to more than half of it is
 * merged into one run at its last level, on this thread. Universal compaction checks
 * space amplification only once the runs reach its trigger, so a small state rewritten
 * between checkpoints would otherwise be linked as up to that many copies. 0 (also
 * when RocksDB declined a merge because a compaction took a file meanwhile), or -1
 * with *errmsg. */
int rocksdb_capture_compact(rocksdb_t *db, rocksdb_column_family_handle_t *const *cfs, size_t n, uint64_t seq,
                            char **errmsg);
/* Native checkpoint of the live files into dir (must not exist) without a flush; *clean
 * is 1 when no SST file in it holds a write newer than seq. 0, or -1 with *errmsg. */
int rocksdb_capture_checkpoint(rocksdb_t *db, const char *dir, uint64_t seq, int *clean, char **errmsg);

#ifdef __cplusplus
}
#endif

#endif
