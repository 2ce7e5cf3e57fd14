/*
 * op_window — `tumbling_window` and `sliding_window`: event-time keyed windows with one
 * aggregate (Flink's window(TumblingEventTimeWindows / SlidingEventTimeWindows)
 * .aggregate(count | sum | min | max | avg)), run by the slicing engine of window_aggregate
 * (op_window_agg.h): these are window_aggregate with one key field and one aggregate.
 *
 * Parameters: key_field (an index or a name, default 0), size (duration, required),
 * slide (sliding only, duration, required, <= size), agg = count (default) | sum | min
 * | max | avg, value_field (required for sum / min / max / avg: a numeric field, or a string field
 * holding numbers — read with CAST, so text that is not a number is skipped as NULL),
 * delimiter (accepted, unused: rows are typed).
 *
 * A row with timestamp t belongs to the windows [start, start + size) with start a
 * multiple of slide (size for tumbling) and start <= t < start + size. Once the
 * watermark reaches start + size - 1 the window's result is emitted:
 *     (key, window_start:timestamp, window_end:timestamp, value)   (timestamp end - 1)
 * value is count:int64, or the sum / min / max of the field (int64 for integer
 * fields, double otherwise). A row late for all its windows is dropped and counted in
 * numLateRecordsDropped (Flink's WindowOperator). End of input is the watermark
 * INT64_MAX: every pending window fires. Rows without a timestamp fail the task (put
 * assign_timestamps before the window).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_window_agg.h"

static void *window_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                          int sliding)
{
    static const char *const allowed_t[] = {"key_field", "size", "agg", "value_field", "delimiter", NULL};
    static const char *const allowed_s[] = {"key_field", "size", "slide", "agg", "value_field", "delimiter", NULL};
    op_setup_t s = {api, ctx, sliding ? "sliding_window" : "tumbling_window", err, errlen};
    const te_schema_t *in;
    uint32_t key_field = 0, value_field = 0;
    int have_value;
    char delim;
    int64_t size, slide;
    const char *agg;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, sliding ? allowed_s : allowed_t) != 0 ||
        (in = op_input_schema(&s, 0)) == NULL || op_get_field_of(&s, in, "key_field", 0, &key_field, NULL) != 0 ||
        op_get_field_of(&s, in, "value_field", 0, &value_field, &have_value) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 || op_get_string(&s, "agg", 0, "count", &agg) != 0)
        return NULL;
    if (sliding && api->param(ctx, "slide") == NULL) {
        op_errorf(&s, "missing required parameter 'slide'");
        return NULL;
    }
    if (op_window_sizes(&s, &size, &slide) != 0)
        return NULL;
    int count = strcmp(agg, "count") == 0;
    if (!count && strcmp(agg, "sum") != 0 && strcmp(agg, "min") != 0 && strcmp(agg, "max") != 0 &&
        strcmp(agg, "avg") != 0) {
        op_errorf(&s, "parameter 'agg' = '%s' is not one of count, sum, min, max, avg", agg);
        return NULL;
    }
    if (!count && !have_value) {
        op_errorf(&s, "missing required parameter 'value_field' (needed by agg = %s)", agg);
        return NULL;
    }
    if (!count &&
        op_check_type(&s, in, "value_field", value_field, OP_T_NUMBER | OP_T(TE_TYPE_STRING), "a number") != 0)
        return NULL;
    char aggs[96];
    if (count)
        snprintf(aggs, sizeof(aggs), "count(*) AS value");
    else if (in->fields[value_field].type == TE_TYPE_STRING)
        snprintf(aggs, sizeof(aggs), "%s(CAST($%u AS double)) AS value", agg, value_field);
    else
        snprintf(aggs, sizeof(aggs), "%s($%u) AS value", agg, value_field);
    op_schema_t o = {0};
    window_agg_t *w = window_agg_new(&s, in, &key_field, 1, "agg", aggs, size, slide, 0, 0, &o);
    if (w == NULL)
        return NULL;
    if (op_declare(&s, NULL, &o) != 0) {
        window_agg_dispose(w);
        return NULL;
    }
    return w;
}

static void *tumbling_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return window_setup(api, ctx, err, errlen, 0);
}

static void *sliding_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    return window_setup(api, ctx, err, errlen, 1);
}

#define WINDOW_DEF(def, op_name, setup_fn)         \
    const te_operator_def_t def = {                \
        .abi_version = TE_OPERATOR_ABI_VERSION,    \
        .name = op_name,                           \
        .kind = TE_OP_ONE_INPUT,                   \
        .setup = setup_fn,                         \
        .open = window_agg_open,                   \
        .process_element = window_agg_process,     \
        .process_watermark = window_agg_watermark, \
        .end_input = window_agg_end_input,         \
        .snapshot = window_agg_snapshot,           \
        .restore = window_agg_restore,             \
        .on_timer = window_agg_on_timer,           \
        .dispose = window_agg_dispose,             \
    }

WINDOW_DEF(op_tumbling_window_def, "tumbling_window", tumbling_setup);
WINDOW_DEF(op_sliding_window_def, "sliding_window", sliding_setup);
