/*
 * op_window — `tumbling_window` and `sliding_window`: event-time keyed windows with an
 * incremental aggregate (Flink's window(TumblingEventTimeWindows / SlidingEventTime
 * Windows).aggregate(count | sum | min | max)).
 *
 * Parameters: key_field (default 0), size (duration, required), slide (sliding only,
 * duration, required, <= size), agg = count (default) | sum | min | max, value_field
 * (required for sum / min / max; a number), delimiter ("\t").
 *
 * A record with timestamp t belongs to the windows [start, start + size) with start a
 * multiple of slide (size for tumbling) and start <= t < start + size. Per window the
 * keyed state holds (key, namespace = start as 8 big-endian bytes) -> {double acc, u64
 * count}, and an event-time timer (key, start + size - 1) fires it: once the watermark
 * reaches start + size - 1 the operator emits
 *     key <TAB> start <TAB> end <TAB> value      (timestamp end - 1)
 * and clears the window. A window whose end - 1 <= the current watermark is late: the
 * record is not added to it; a record late for all its windows is dropped and counted
 * in numLateRecordsDropped (Flink's WindowOperator). End of input is the watermark
 * INT64_MAX: every pending window fires. Records without a timestamp fail the task
 * (put assign_timestamps before the window).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"

typedef enum win_agg { WA_COUNT, WA_SUM, WA_MIN, WA_MAX } win_agg_t;

typedef struct win_acc {
    double acc;
    uint64_t count;
} win_acc_t;

typedef struct window_op {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    int32_t key_field, value_field;
    char delim;
    int64_t size, slide;
    win_agg_t agg;
    op_buf_t out;
} window_op_t;

#define WIN_TS_LIMIT (INT64_MAX / 4)

static void *window_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen,
                          int sliding)
{
    static const char *const allowed_t[] = {"key_field", "size", "agg", "value_field", "delimiter", NULL};
    static const char *const allowed_s[] = {"key_field", "size", "slide", "agg", "value_field", "delimiter", NULL};
    const char *name = sliding ? "sliding_window" : "tumbling_window";
    op_setup_t s = {api, ctx, name, err, errlen};
    const int64_t max_ms = 86400000LL * 3650;
    int32_t key_field, value_field;
    char delim;
    int64_t size, slide = 0;
    const char *agg;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, sliding ? allowed_s : allowed_t) != 0 ||
        op_get_field(&s, "key_field", 0, &key_field) != 0 ||
        op_get_field(&s, "value_field", 0, &value_field) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_duration_ms(&s, "size", 1, 0, 1, max_ms, &size) != 0 ||
        (sliding && op_get_duration_ms(&s, "slide", 1, 0, 1, max_ms, &slide) != 0) ||
        op_get_string(&s, "agg", 0, "count", &agg) != 0)
        return NULL;
    if (!sliding)
        slide = size;
    if (slide > size) {
        op_errorf(&s, "parameter 'slide' = '%s' is larger than 'size' = '%s' (records would fall between windows)",
                  api->param(ctx, "slide"), api->param(ctx, "size"));
        return NULL;
    }
    if (size / slide > 1000) {
        op_errorf(&s, "parameter 'slide' = '%s': size/slide = %lld windows per record (at most 1000)",
                  api->param(ctx, "slide"), (long long)(size / slide));
        return NULL;
    }
    win_agg_t a;
    if (strcmp(agg, "count") == 0)
        a = WA_COUNT;
    else if (strcmp(agg, "sum") == 0)
        a = WA_SUM;
    else if (strcmp(agg, "min") == 0)
        a = WA_MIN;
    else if (strcmp(agg, "max") == 0)
        a = WA_MAX;
    else {
        op_errorf(&s, "parameter 'agg' = '%s' is not one of count, sum, min, max", agg);
        return NULL;
    }
    if (a != WA_COUNT && value_field < 0) {
        op_errorf(&s, "missing required parameter 'value_field' (needed by agg = %s)", agg);
        return NULL;
    }
    window_op_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    w->api = api;
    w->ctx = ctx;
    w->name = name;
    w->key_field = key_field < 0 ? 0 : key_field;
    w->value_field = value_field;
    w->delim = delim;
    w->size = size;
    w->slide = slide;
    w->agg = a;
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

static void ns_encode(uint8_t ns[8], int64_t start)
{
    uint64_t u = (uint64_t)start;
    for (int i = 0; i < 8; i++)
        ns[i] = (uint8_t)(u >> (56 - 8 * i));
}

static int window_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    window_op_t *w = self;
    (void)input;
    (void)out;
    int64_t ts = rec->timestamp;
    if (ts == TE_NO_TIMESTAMP) {
        w->api->fail(w->ctx, "operator '%s': a record has no timestamp (put assign_timestamps before the window)",
                     w->name);
        return -1;
    }
    if (ts < -WIN_TS_LIMIT || ts > WIN_TS_LIMIT) {
        w->api->fail(w->ctx, "operator '%s': timestamp %lld is out of range", w->name, (long long)ts);
        return -1;
    }
    double v = 0;
    if (w->agg != WA_COUNT && op_field_double(rec, w->delim, (uint32_t)w->value_field, &v) != 0) {
        uint32_t s = 0, l = 0;
        te_record_field(rec->data, rec->len, w->delim, (uint32_t)w->value_field, &s, &l);
        w->api->fail(w->ctx, "operator '%s': value_field %d = '%.*s' is not a number", w->name, w->value_field,
                     (int)(l > 64 ? 64 : l), (const char *)rec->data + s);
        return -1;
    }
    const uint8_t *key;
    uint32_t keylen;
    op_field_key(rec, w->delim, (uint32_t)w->key_field, &key, &keylen);
    int64_t wm = w->api->current_watermark(w->ctx);
    int64_t last_start = ts - (((ts % w->slide) + w->slide) % w->slide);
    int added = 0;
    for (int64_t start = last_start; start > ts - w->size; start -= w->slide) {
        int64_t max_ts = start + w->size - 1;
        if (max_ts <= wm)
            continue; /* late for this window */
        uint8_t ns[8];
        ns_encode(ns, start);
        const uint8_t *old;
        uint32_t oldlen;
        win_acc_t acc = {0, 0};
        if (w->api->state_get_ns(w->ctx, key, keylen, ns, 8, &old, &oldlen) && oldlen == sizeof(acc))
            memcpy(&acc, old, sizeof(acc));
        if (acc.count == 0)
            acc.acc = v;
        else if (w->agg == WA_SUM)
            acc.acc += v;
        else if (w->agg == WA_MIN && v < acc.acc)
            acc.acc = v;
        else if (w->agg == WA_MAX && v > acc.acc)
            acc.acc = v;
        acc.count++;
        if (w->api->state_put_ns(w->ctx, key, keylen, ns, 8, (const uint8_t *)&acc, sizeof(acc)) != 0 ||
            (acc.count == 1 && w->api->register_event_timer(w->ctx, key, keylen, max_ts) != 0))
            return -1;
        added = 1;
    }
    if (!added)
        w->api->counter_add(w->ctx, "numLateRecordsDropped", 1);
    return 0;
}

static int window_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                           te_output_t *out)
{
    window_op_t *w = self;
    if (!event_time)
        return 0;
    int64_t start = ts + 1 - w->size;
    uint8_t ns[8];
    ns_encode(ns, start);
    const uint8_t *old;
    uint32_t oldlen;
    win_acc_t acc;
    if (!w->api->state_get_ns(w->ctx, key, keylen, ns, 8, &old, &oldlen) || oldlen != sizeof(acc))
        return 0;
    memcpy(&acc, old, sizeof(acc));
    char tail[128];
    char num[40];
    if (w->agg == WA_COUNT)
        snprintf(num, sizeof(num), "%llu", (unsigned long long)acc.count);
    else
        op_format_number(num, sizeof(num), acc.acc);
    int n = snprintf(tail, sizeof(tail), "%c%lld%c%lld%c%s", w->delim, (long long)start, w->delim,
                     (long long)(ts + 1), w->delim, num);
    w->out.len = 0;
    if (op_buf_append(&w->out, key, keylen) != 0 || op_buf_append(&w->out, tail, (size_t)n) != 0) {
        w->api->fail(w->ctx, "operator '%s': out of memory", w->name);
        return -1;
    }
    w->api->state_delete_ns(w->ctx, key, keylen, ns, 8);
    te_record_t r = {w->out.data, (uint32_t)w->out.len, ts};
    w->api->emit(out, &r);
    return 0;
}

static void window_dispose(void *self)
{
    window_op_t *w = self;
    if (w == NULL)
        return;
    op_buf_release(&w->out);
    free(w);
}

const te_operator_def_t op_tumbling_window_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "tumbling_window",
    .kind = TE_OP_ONE_INPUT,
    .setup = tumbling_setup,
    .process_element = window_process,
    .on_timer = window_on_timer,
    .dispose = window_dispose,
};

const te_operator_def_t op_sliding_window_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "sliding_window",
    .kind = TE_OP_ONE_INPUT,
    .setup = sliding_setup,
    .process_element = window_process,
    .on_timer = window_on_timer,
    .dispose = window_dispose,
};
