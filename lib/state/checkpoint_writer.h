/*
 * checkpoint_writer — writes a subtask's snapshot file (the format of
 * checkpoint_storage.h, unchanged) as a stream: sections are appended piece by piece
 * through a 1 MiB buffer, never built whole in memory, so the asynchronous part of a
 * checkpoint can serialise gigabytes of state with a constant footprint.
 *
 * Lengths and counts that precede their data (a section's data_len, the header's
 * n_sections, an embedded format's own headers) are reserved as zeros and filled in
 * later (pwrite when already flushed). Checksums still cover them: the writer keeps
 * the CRC-32C of every piece (a run of written bytes, or a reserved field once filled)
 * and combines them (crc32c_combine) over nested regions — push opens a region, pop
 * returns the checksum of everything written since the matching push. Adjacent
 * finished pieces are merged, so the bookkeeping stays as deep as the nesting.
 *
 * The file goes to "<path>.tmp"; commit fsyncs it, renames it over path and fsyncs the
 * directory; abort removes the temp file. The first error sticks: later calls do
 * nothing and commit reports it. A set cancel flag turns the next flush into
 * TE_ECANCELED.
 *
 * Threading: a writer belongs to one thread at a time (the snapshot thread writing
 * the asynchronous part); no locks.
 */
#ifndef TE_CHECKPOINT_WRITER_H
#define TE_CHECKPOINT_WRITER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"

typedef struct te_ckpt_writer te_ckpt_writer_t;

/* The header fields of a snapshot file. */
typedef struct te_ckpt_file_info {
    uint64_t checkpoint_id;
    uint32_t subtask_index, parallelism, max_parallelism;
    uint32_t kg_first, kg_last;
} te_ckpt_file_info_t;

/* Creates the directories of path and "<path>.tmp". cancel may be NULL. */
te_ckpt_writer_t *checkpoint_writer_open(const char *path, const te_ckpt_file_info_t *info, _Atomic int *cancel,
                                         te_error_t *err);
/* Commits (see the top): *size = bytes of the file. The writer is freed either way. */
te_status_t checkpoint_writer_commit(te_ckpt_writer_t *w, uint64_t *size, te_error_t *err);
/* Discards the temp file and frees the writer. NULL is a no-op. */
void checkpoint_writer_abort(te_ckpt_writer_t *w);

/* A section: begin (type, index, sub, name), any writes, end. */
te_status_t checkpoint_writer_section_begin(te_ckpt_writer_t *w, uint32_t type, uint32_t index, uint32_t sub,
                                            const char *name);
te_status_t checkpoint_writer_section_end(te_ckpt_writer_t *w);
/* A whole section from a buffer. */
te_status_t checkpoint_writer_section(te_ckpt_writer_t *w, uint32_t type, uint32_t index, uint32_t sub,
                                      const char *name, const void *data, size_t len);

te_status_t checkpoint_writer_write(te_ckpt_writer_t *w, const void *data, size_t len);
/* Reserves n bytes (<= 64) to fill later; returns their handle. */
uint64_t checkpoint_writer_reserve(te_ckpt_writer_t *w, size_t n);
void checkpoint_writer_fill(te_ckpt_writer_t *w, uint64_t handle, const void *data);
/* Checksummed regions: pop returns the CRC-32C of the bytes written since the matching
 * push (its reserved fields must be filled). */
void checkpoint_writer_push(te_ckpt_writer_t *w);
uint32_t checkpoint_writer_pop(te_ckpt_writer_t *w);
/* 1 once the cancel flag is set (for writers of parts that do other I/O too). */
int checkpoint_writer_cancelled(const te_ckpt_writer_t *w);
/* Bytes written so far. */
uint64_t checkpoint_writer_offset(const te_ckpt_writer_t *w);
/* The sticky status (TE_OK while nothing failed), with its message. */
te_status_t checkpoint_writer_status(const te_ckpt_writer_t *w, te_error_t *err);

#endif
