/*
 * async_checkpoint — one subtask's snapshot between its synchronous and its
 * asynchronous part (Flink's OperatorSnapshotFutures + AsyncCheckpointRunnable): the
 * synchronous part (on the task thread, between two records) adds what it took —
 * non-keyed operator state as bytes, keyed state and timers as views (consistent
 * pictures the task may go on changing), custom parts such as a RocksDB native
 * checkpoint; unaligned checkpoints append channel state afterwards. The asynchronous
 * part (a snapshot thread) writes it all as the subtask's snapshot file
 * (checkpoint_writer: streamed, fsync, rename), releasing each view as soon as it is
 * written. It holds a reference to the task's state store, so the state its views read
 * stays alive even when the task ends first.
 *
 * Threading: built on the task thread; written on one snapshot thread; cancel from any
 * thread (an atomic flag checked between writes: the temp file is removed).
 */
#ifndef TE_ASYNC_CHECKPOINT_H
#define TE_ASYNC_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/checkpoint_writer.h"
#include "state/state_backend.h"
#include "state/state_store.h"

typedef struct te_async_checkpoint te_async_checkpoint_t;

/* A part that writes its section's data itself (write; it may record the shared files
 * it refers to with async_checkpoint_add_shared), and frees what it holds (release:
 * always called once, written or not). */
typedef struct te_async_part_ops {
    te_status_t (*write)(void *arg, te_ckpt_writer_t *w, te_async_checkpoint_t *ac, te_error_t *err);
    void (*release)(void *arg);
} te_async_part_ops_t;

/* store may be NULL (no keyed state); a reference is taken. NULL when out of memory. */
te_async_checkpoint_t *async_checkpoint_new(const char *path, const te_ckpt_file_info_t *info,
                                            te_state_store_t *store);
/* Releases the parts not written and the store reference. NULL is a no-op. */
void async_checkpoint_free(te_async_checkpoint_t *ac);

/* Parts, in file order. Each takes ownership of what it is given, also on failure
 * (TE_ENOMEM). */
te_status_t async_checkpoint_add_bytes(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                       const char *name, uint8_t *data, size_t len);
te_status_t async_checkpoint_add_view(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, te_state_view_t *view, te_state_ns_map_fn map,
                                      int64_t map_arg);
te_status_t async_checkpoint_add_part(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, const te_async_part_ops_t *ops, void *arg);
/* Appends bytes to the bytes part (type, index, sub), creating it (named name) at the
 * end: channel state of unaligned checkpoints. Copies data. */
te_status_t async_checkpoint_append(te_async_checkpoint_t *ac, uint32_t type, uint32_t index, uint32_t sub,
                                    const char *name, const uint8_t *data, size_t len);
/* Bytes in parts of type `type` (in-flight channel state). */
uint64_t async_checkpoint_bytes_of(const te_async_checkpoint_t *ac, uint32_t type);

/* Shared files the snapshot refers to (incremental checkpoints): recorded by parts
 * while they are written, reported with the acknowledgement. */
te_status_t async_checkpoint_add_shared(te_async_checkpoint_t *ac, const char *path, uint64_t size);
size_t async_checkpoint_n_shared(const te_async_checkpoint_t *ac);
const char *const *async_checkpoint_shared_paths(const te_async_checkpoint_t *ac);
const uint64_t *async_checkpoint_shared_sizes(const te_async_checkpoint_t *ac);

/* The asynchronous part: writes the file. *size = its bytes. TE_ECANCELED when
 * cancelled (nothing left behind). */
te_status_t async_checkpoint_write(te_async_checkpoint_t *ac, uint64_t *size, te_error_t *err);
void async_checkpoint_cancel(te_async_checkpoint_t *ac);
const char *async_checkpoint_path(const te_async_checkpoint_t *ac);
const te_ckpt_file_info_t *async_checkpoint_info(const te_async_checkpoint_t *ac);
/* The store it holds a reference to (NULL when none). */
te_state_store_t *async_checkpoint_store(const te_async_checkpoint_t *ac);

#endif
