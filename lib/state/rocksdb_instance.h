/*
 * rocksdb_instance — the RocksDB database of one task (state.backend.type: rocksdb):
 * a directory under taskmanager.state.local.dir that belongs to the task, a column
 * family per keyed state (named by the state store), writes without a write-ahead log
 * (checkpoints make state durable, as in Flink), memory from the slot's shared block
 * cache and write-buffer manager (rocksdb_memory; a private small cache when none), and
 * native checkpoints (hard links of the SST files) for incremental snapshots, whose
 * flush runs off the task thread (rocksdb_capture).
 * Closing can delete the directory.
 *
 * Threading: RocksDB is thread-safe; the task thread writes, snapshot threads read
 * (iterators over a RocksDB snapshot, checkpoint directories) and end captures. The column-family table
 * is changed only by the task thread (cf_get) and read by snapshot threads after the
 * task thread published the snapshot that names them (a mutex guards it).
 */
#ifndef TE_ROCKSDB_INSTANCE_H
#define TE_ROCKSDB_INSTANCE_H

#include <stddef.h>
#include <stdint.h>

#include <rocksdb/c.h>

#include "common/te_status.h"
#include "state/rocksdb_memory.h"

typedef struct te_rocksdb_instance te_rocksdb_instance_t;

/* Compaction styles (state.backend.rocksdb.compaction.style). */
typedef enum { TE_ROCKSDB_UNIVERSAL, TE_ROCKSDB_LEVEL } te_rocksdb_compaction_t;

/* Opens the database in dir, creating it (and the directory) when missing; every
 * column family it holds is opened. mem may be NULL (a private cache). A database
 * written with the other compaction style opens as it is. */
te_rocksdb_instance_t *rocksdb_instance_open(const char *dir, te_rocksdb_memory_t *mem,
                                             te_rocksdb_compaction_t compaction, te_error_t *err);
/* Closes the database; with destroy the directory is deleted (recursively). NULL is a
 * no-op. */
void rocksdb_instance_close(te_rocksdb_instance_t *inst, int destroy);

/* The column family called name, created when missing. NULL + err on failure. */
rocksdb_column_family_handle_t *rocksdb_instance_cf(te_rocksdb_instance_t *inst, const char *name,
                                                    te_error_t *err);
/* The column family called name when it exists, else NULL. */
rocksdb_column_family_handle_t *rocksdb_instance_cf_find(te_rocksdb_instance_t *inst, const char *name);
/* The names of the column families (default excluded): count, and name i. */
size_t rocksdb_instance_cf_count(te_rocksdb_instance_t *inst);
const char *rocksdb_instance_cf_name(te_rocksdb_instance_t *inst, size_t i);

rocksdb_t *rocksdb_instance_db(te_rocksdb_instance_t *inst);
/* Write options without a WAL; plain read options. Shared: do not change them. */
const rocksdb_writeoptions_t *rocksdb_instance_write_options(te_rocksdb_instance_t *inst);
const rocksdb_readoptions_t *rocksdb_instance_read_options(te_rocksdb_instance_t *inst);
const char *rocksdb_instance_dir(const te_rocksdb_instance_t *inst);

/* Native checkpoint into dir (must not exist): flushes the memtables and hard-links
 * the SST files (RocksDB's Checkpoint), all on the calling thread. */
te_status_t rocksdb_instance_checkpoint(te_rocksdb_instance_t *inst, const char *dir, te_error_t *err);

/* The same in two parts (rocksdb_capture.h): begin, where no write of the task can run
 * meanwhile (the task thread at the barrier, or a snapshot thread while a state gate
 * holds the task's writes, state_gate.h), switches the memtables (it first waits for an
 * earlier capture of the instance to
 * end; after an unclean one it takes the whole checkpoint right there); end, on a
 * snapshot thread, waits for their flush and links the files into dir. end fails with
 * TE_ESTATE when RocksDB flushed writes newer than the barrier first (the checkpoint
 * must be declined; the next one flushes in begin). free ends a capture not ended. */
typedef struct te_rocksdb_capture te_rocksdb_capture_t;
te_rocksdb_capture_t *rocksdb_instance_capture_begin(te_rocksdb_instance_t *inst, const char *dir,
                                                     te_error_t *err);
te_status_t rocksdb_instance_capture_end(te_rocksdb_capture_t *c, te_error_t *err);
void rocksdb_instance_capture_free(te_rocksdb_capture_t *c);

/* Approximate bytes: SST files on disk, memtables; and the estimated number of keys
 * of a column family. */
uint64_t rocksdb_instance_disk_bytes(te_rocksdb_instance_t *inst);
uint64_t rocksdb_instance_memtable_bytes(te_rocksdb_instance_t *inst);
uint64_t rocksdb_instance_estimate_keys(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf);

#endif
