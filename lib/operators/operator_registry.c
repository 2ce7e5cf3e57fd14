/*
 * operator_registry — name → built-in te_operator_def_t.
 *
 * Threading: a constant table; safe from any thread.
 */
#include "operators/operator_registry.h"

#include <stdio.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_util.h"

static const te_operator_def_t *const builtins[] = {
    &op_file_lines_def,
    &op_sequence_def,
    &op_socket_text_def,
    &op_tokenize_def,
    &op_filter_def,
    &op_select_def,
    &op_upper_def,
    &op_lower_def,
    &op_keyed_count_def,
    &op_file_sink_def,
    &op_print_def,
    &op_discard_def,
    &op_nexmark_def,
    &op_scale_def,
    &op_socket_sink_def,
    /* keyed state, event time, two inputs (op_keyed.h) */
    &op_keyed_sum_def,
    &op_keyed_reduce_def,
    &op_assign_timestamps_def,
    &op_tumbling_window_def,
    &op_sliding_window_def,
    &op_union_def,
    &op_window_join_def,
    &op_max_by_def,
    /* typed rows */
    &op_parse_def,
    &op_map_def,
    &op_aggregate_def,
    &op_window_aggregate_def,
    &op_join_def,
    &op_interval_join_def,
    &op_top_n_def,
    &op_lookup_join_def,
    &op_over_def,
};

#define N_BUILTINS (sizeof(builtins) / sizeof(builtins[0]))

const te_operator_def_t *operator_registry_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < N_BUILTINS; i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

void operator_registry_names(char *buf, size_t len)
{
    if (buf == NULL || len == 0)
        return;
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_BUILTINS && off < len; i++) {
        int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", builtins[i]->name);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}
