/*
 * op_keyed — helpers shared by the keyed, event-time and two-input built-ins
 * (keyed_count, keyed_sum, keyed_reduce, assign_timestamps, tumbling_window,
 * sliding_window, union, window_join): duration parameters, the sorted walk of keyed
 * state, and their definitions for operator_registry.
 *
 * Like op_util, only the public ABI (te/operator.h) and libc.
 *
 * Threading: pure functions.
 */
#ifndef TE_OP_KEYED_H
#define TE_OP_KEYED_H

#include <stddef.h>
#include <stdint.h>

#include "operators/op_util.h"

/* Parses a duration: an integer with unit ms (default), s, min or h. 0 or -1. */
int op_parse_duration_ms(const char *v, int64_t *out);

/* A duration parameter: an integer with unit ms (default), s, min or h ("200ms",
 * "5s", "1min", "1500"), in [min_ms, max_ms]; `def_ms` when absent (unless required).
 * The error names the parameter, its value and what is allowed. */
int op_get_duration_ms(op_setup_t *s, const char *key, int required, int64_t def_ms, int64_t min_ms,
                       int64_t max_ms, int64_t *out);

/* Calls fn for every keyed-state entry (empty namespace) in key byte order (a shorter
 * key first on a common prefix) — the emit=final pass of keyed operators. Entries are
 * copied first, so fn may emit and change state. Returns 0; -1 when fn returned
 * non-zero (the walk stops); -2 when out of memory. */
int op_keyed_foreach_sorted(const te_operator_api_t *api, te_operator_ctx_t *ctx,
                            int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                                      uint32_t vallen),
                            void *arg);

/* Needs the v2 API (timers / keyed state): writes an error and returns -1 otherwise. */
int op_require_v2(op_setup_t *s);

#endif
