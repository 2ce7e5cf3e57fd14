/*
 * sink_file — internal, operators only: file_sink's engine for one output file (the
 * two-phase commit of sink_file.c), used as is by the `file_sink` operator and once
 * per bucket by its partitioned mode (sink_buckets.c).
 *
 * Threading: an instance belongs to the owning task's thread.
 */
#ifndef TE_SINK_FILE_H
#define TE_SINK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "operators/op_row.h"

typedef struct file_sink file_sink_t;

/* One file: pattern with "{subtask}" replaced (or ".<subtask>" appended when the
 * parallelism is > 1 and it has none) when `expand`, else the path as given; rows of
 * `in` as text with `delim`. */
file_sink_t *file_sink_new(op_setup_t *s, const char *pattern, int expand, const te_schema_t *in, char delim);
const char *file_sink_file(const file_sink_t *fs);
int file_sink_open(void *self, char *err, size_t errlen);
int file_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out);
int file_sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len);
int file_sink_restore(void *self, const uint8_t *data, size_t len);
int file_sink_notify_complete(void *self, uint64_t checkpoint_id);
int file_sink_close(void *self, te_output_t *out);
void file_sink_dispose(void *self);
/* The file path inside a file_sink snapshot. 0, or -1 when it is not one. */
int file_sink_snapshot_path(const uint8_t *data, size_t len, char *out, size_t outlen);

/* The partitioned mode (sink_buckets.c): a path naming fields ("{name}" other than
 * "{subtask}"). The instance's first field is an int 1, file_sink_t's an int 0. */
int sink_buckets_wanted(const char *pattern);
void *sink_buckets_new(op_setup_t *s, const char *pattern, const te_schema_t *in, char delim);
int sink_buckets_open(void *self, char *err, size_t errlen);
int sink_buckets_process(void *self, int input, const te_record_t *rec, te_output_t *out);
int sink_buckets_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len);
int sink_buckets_restore(void *self, const uint8_t *data, size_t len);
int sink_buckets_notify_complete(void *self, uint64_t checkpoint_id);
int sink_buckets_close(void *self, te_output_t *out);
void sink_buckets_dispose(void *self);

#endif
