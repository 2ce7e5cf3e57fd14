/*
 * output_flusher — one daemon thread that flushes registered RecordWriters every
 * execution.buffer-timeout (Flink's OutputFlusher), so records reach consumers within
 * that bound even when buffers do not fill.
 *
 * Threading: add/remove from task threads; flushing on the flusher thread. remove()
 * returns only when the writer is no longer being flushed (safe to free it then).
 */
#ifndef TE_OUTPUT_FLUSHER_H
#define TE_OUTPUT_FLUSHER_H

#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/record_writer.h"

typedef struct te_output_flusher te_output_flusher_t;

te_output_flusher_t *output_flusher_new(te_error_t *err);
te_status_t output_flusher_start(te_output_flusher_t *f, te_error_t *err);
void output_flusher_stop(te_output_flusher_t *f);
void output_flusher_free(te_output_flusher_t *f);

/* interval_ms > 0. */
void output_flusher_add(te_output_flusher_t *f, te_record_writer_t *rw, int64_t interval_ms);
void output_flusher_remove(te_output_flusher_t *f, te_record_writer_t *rw);

#endif
