/*
 * op_window_agg — the slicing window aggregation engine behind `window_aggregate`, and
 * the callbacks that `tumbling_window` / `sliding_window` share with it (see
 * op_window_agg.c for the semantics).
 *
 * Threading: an instance belongs to one task thread.
 */
#ifndef TE_OP_WINDOW_AGG_H
#define TE_OP_WINDOW_AGG_H

#include <stdint.h>

#include "operators/op_row.h"

typedef struct window_agg window_agg_t;

/* An instance: keys key[0..n_key) of `in`, the aggregate list `aggs` (given as
 * parameter `aggs_param`, which messages name), size / slide (tumbling: slide = size) or gap (sessions; size = slide =
 * 0), processing time or event time. Appends the output fields to o (the caller
 * declares it). NULL with a message. */
window_agg_t *window_agg_new(op_setup_t *s, const te_schema_t *in, const uint32_t *key, uint32_t n_key,
                             const char *aggs_param, const char *aggs, int64_t size, int64_t slide, int64_t gap,
                             int processing, op_schema_t *o);
/* Parameters `size` (required) and `slide` (default size, <= size). 0 or -1. */
int op_window_sizes(op_setup_t *s, int64_t *size, int64_t *slide);

/* The def callbacks, on a window_agg_t. */
int window_agg_open(void *self, char *err, size_t errlen);
int window_agg_process(void *self, int input, const te_record_t *rec, te_output_t *out);
int window_agg_watermark(void *self, int64_t wm, te_output_t *out);
int window_agg_end_input(void *self, te_output_t *out);
int window_agg_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len);
int window_agg_restore(void *self, const uint8_t *data, size_t len);
int window_agg_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                        te_output_t *out);
void window_agg_dispose(void *self);

#endif
