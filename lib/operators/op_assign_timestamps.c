/*
 * op_assign_timestamps — `assign_timestamps`: Flink's assignTimestampsAndWatermarks
 * with BoundedOutOfOrdernessWatermarks (+ WatermarksWithIdleness).
 *
 * Parameters: field (required; index or name of an int64 or timestamp field: ms since
 * the epoch), delimiter (accepted, unused),
 * max_out_of_orderness (duration, default 0), watermark_interval (duration, default
 * the job's pipeline.auto-watermark-interval, 200ms; 0 = a watermark after every record
 * that advances it, deterministic for tests), idle_timeout (duration, default 0 =
 * never: after this long without records the task's output is marked idle, so
 * downstream windows do not wait for it; the next record makes it active again).
 *
 * Each record is re-emitted with its timestamp; the watermark is
 * max timestamp seen - max_out_of_orderness - 1, emitted every watermark_interval (a
 * processing-time timer) when it advanced. Upstream watermarks are ignored except the
 * final one (INT64_MAX, end of input), which is forwarded. A row whose field is null
 * fails the task with a message naming the field.
 *
 * No operator state: as in Flink, the watermark starts over after a restore. The tick
 * timer is in checkpoints like every timer, but open starts this instance's own tick
 * (next_tick); a tick restored from an earlier run fires once and is dropped, so
 * restores do not pile up ticks.
 *
 * Threading: every callback runs on the owning task's thread (under the checkpoint
 * lock when the source before it runs in a source thread).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_keyed.h"
#include "operators/op_row.h"

typedef struct assign_ts {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t field;
    char delim;
    int64_t ooo, interval, idle_timeout, tick;
    int64_t max_ts;
    int64_t emitted_wm;
    uint64_t records, records_at_check;
    int64_t last_activity;
    int64_t next_tick; /* time of this instance's tick timer */
    int idle;
} assign_ts_t;

/* The default watermark interval: the job's pipeline.auto-watermark-interval (Flink's
 * ExecutionConfig.autoWatermarkInterval; the daemon's value when the job sets none),
 * else 200 ms. */
static int64_t default_interval(const te_operator_api_t *api, te_operator_ctx_t *ctx)
{
    const char *v = api->job_config ? api->job_config(ctx, "pipeline.auto-watermark-interval") : NULL;
    int64_t ms;
    if (v != NULL && op_parse_duration_ms(v, &ms) == 0 && ms <= 3600000)
        return ms;
    return 200;
}

static void *assign_ts_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "field", "delimiter", "max_out_of_orderness", "watermark_interval", "idle_timeout", NULL};
    op_setup_t s = {api, ctx, "assign_timestamps", err, errlen};
    const int64_t day = 86400000LL * 365;
    uint32_t field;
    char delim;
    int64_t ooo, interval, idle;
    const te_schema_t *in;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "field", 1, &field, NULL) != 0 ||
        op_check_type(&s, in, "field", field, OP_T_INT, "an int64 or timestamp (ms)") != 0 ||
        op_declare_reads(&s, 0, 1ULL << field, 1) != 0 || op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 ||
        op_get_duration_ms(&s, "max_out_of_orderness", 0, 0, 0, day, &ooo) != 0 ||
        op_get_duration_ms(&s, "watermark_interval", 0, default_interval(api, ctx), 0, 3600000, &interval) != 0 ||
        op_get_duration_ms(&s, "idle_timeout", 0, 0, 0, day, &idle) != 0)
        return NULL;
    assign_ts_t *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    a->api = api;
    a->ctx = ctx;
    a->field = (int32_t)field;
    a->delim = delim;
    a->ooo = ooo;
    a->interval = interval;
    a->idle_timeout = idle;
    a->max_ts = INT64_MIN;
    a->emitted_wm = INT64_MIN;
    /* the timer period: the watermark interval, or for idleness alone a tenth of the timeout */
    a->tick = interval > 0 ? interval : idle > 0 ? (idle / 10 > 0 ? idle / 10 : 1) : 0;
    if (interval > 0 && idle > 0 && idle / 10 > 0 && idle / 10 < a->tick)
        a->tick = idle / 10;
    return a;
}

static int assign_ts_open(void *self, char *err, size_t errlen)
{
    assign_ts_t *a = self;
    (void)err;
    (void)errlen;
    a->last_activity = a->api->current_processing_time(a->ctx);
    a->next_tick = a->last_activity + a->tick;
    if (a->tick > 0)
        return a->api->register_processing_timer(a->ctx, NULL, 0, a->next_tick);
    return 0;
}

static int64_t current_wm(const assign_ts_t *a)
{
    if (a->max_ts == INT64_MIN)
        return INT64_MIN;
    if (a->max_ts < INT64_MIN + a->ooo + 1)
        return INT64_MIN;
    return a->max_ts - a->ooo - 1;
}

static int emit_wm_if_advanced(assign_ts_t *a, te_output_t *out)
{
    int64_t wm = current_wm(a);
    if (wm > a->emitted_wm) {
        a->emitted_wm = wm;
        return a->api->emit_watermark(out, wm);
    }
    return 0;
}

static int assign_ts_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    assign_ts_t *a = self;
    (void)input;
    if (te_row_is_null(rec, (uint32_t)a->field)) {
        a->api->fail(a->ctx, "operator 'assign_timestamps': field %d is null (no timestamp)", a->field);
        return -1;
    }
    int64_t ts = te_row_get_i64(rec, (uint32_t)a->field);
    if (a->idle) {
        a->idle = 0;
        a->api->mark_idle(a->ctx, 0);
    }
    a->records++;
    a->max_ts = ts > a->max_ts ? ts : a->max_ts; /* a select: out-of-order times mispredict a branch */
    te_record_t r = {rec->data, rec->len, ts};
    if (a->api->emit(out, &r) != 0)
        return 0; /* cancelled or failed: the engine knows */
    if (a->interval == 0)
        emit_wm_if_advanced(a, out);
    return 0;
}

static int assign_ts_watermark(void *self, int64_t wm, te_output_t *out)
{
    assign_ts_t *a = self;
    if (wm == INT64_MAX && a->emitted_wm != INT64_MAX) {
        a->emitted_wm = INT64_MAX;
        return a->api->emit_watermark(out, wm) < 0 && !a->api->is_cancelled(a->ctx) ? -1 : 0;
    }
    return 0; /* upstream watermarks are replaced by ours */
}

static int assign_ts_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                              te_output_t *out)
{
    assign_ts_t *a = self;
    (void)event_time;
    (void)key;
    (void)keylen;
    if (a->emitted_wm == INT64_MAX || ts != a->next_tick)
        return 0; /* ended: no more ticks; or a tick restored from an earlier run */
    int64_t now = a->api->current_processing_time(a->ctx);
    if (a->interval > 0 && !a->idle)
        emit_wm_if_advanced(a, out);
    if (a->idle_timeout > 0) {
        if (a->records != a->records_at_check) {
            a->records_at_check = a->records;
            a->last_activity = now;
        } else if (!a->idle && now - a->last_activity >= a->idle_timeout) {
            a->idle = 1;
            a->api->mark_idle(a->ctx, 1);
        }
    }
    int64_t next = ts + a->tick;
    if (next <= now)
        next = now + a->tick;
    a->next_tick = next;
    return a->api->register_processing_timer(a->ctx, NULL, 0, next);
}

static void assign_ts_dispose(void *self) { free(self); }

const te_operator_def_t op_assign_timestamps_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "assign_timestamps",
    .kind = TE_OP_ONE_INPUT,
    .setup = assign_ts_setup,
    .open = assign_ts_open,
    .process_element = assign_ts_process,
    .process_watermark = assign_ts_watermark,
    .on_timer = assign_ts_on_timer,
    .dispose = assign_ts_dispose,
};
