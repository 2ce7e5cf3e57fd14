/*
 * executor_status — the status endpoint's views of the TaskExecutor: /v1/overview,
 * /v1/slots, /v1/tasks, /v1/tasks/<id> as JSON, /metrics as Prometheus text. Built
 * from the slot table (control thread data) and the tasks' atomic counters, so no
 * lock of a task thread is ever taken. Per-second rates are sampled by the executor's
 * one-second tick (executor_sample_rates).
 *
 * Threading: control thread only. jansson references returned are new.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "task_executor_internal.h"

static const char *TASK_STATES[] = {"CREATED", "DEPLOYING", "RUNNING", "FINISHED", "CANCELING", "CANCELED", "FAILED"};

void executor_sample_rates(te_task_executor_t *te, te_task_record_t *r, int64_t now_ms)
{
    (void)te;
    te_task_rates_t *q = &r->rates;
    te_task_metrics_t *m = task_metrics(r->task);
    uint64_t in = task_metrics_get(&m->num_records_in), out = task_metrics_get(&m->num_records_out);
    uint64_t bin = task_metrics_get(&m->num_bytes_in), bout = task_metrics_get(&m->num_bytes_out);
    uint64_t bp = task_metrics_get(&m->backpressured_ns), idle = task_metrics_get(&m->idle_ns),
             busy = task_metrics_get(&m->busy_ns);
    int64_t dt = now_ms - q->last_sample_ms;
    if (dt >= 200) {
        double s = (double)dt / 1000.0;
        q->records_in_per_s = (double)(in - q->last_in) / s;
        q->records_out_per_s = (double)(out - q->last_out) / s;
        q->bytes_in_per_s = (double)(bin - q->last_bytes_in) / s;
        q->bytes_out_per_s = (double)(bout - q->last_bytes_out) / s;
        q->bp_ms_per_s = (double)(bp - q->last_bp_ns) / 1e6 / s;
        q->idle_ms_per_s = (double)(idle - q->last_idle_ns) / 1e6 / s;
        q->busy_ms_per_s = (double)(busy - q->last_busy_ns) / 1e6 / s;
        if (q->bp_ms_per_s > 1000)
            q->bp_ms_per_s = 1000;
        q->last_in = in;
        q->last_out = out;
        q->last_bytes_in = bin;
        q->last_bytes_out = bout;
        q->last_bp_ns = bp;
        q->last_idle_ns = idle;
        q->last_busy_ns = busy;
        q->last_sample_ms = now_ms;
    }
}

json_t *executor_task_json(te_task_executor_t *te, te_task_record_t *r)
{
    (void)te;
    te_task_t *t = r->task;
    te_task_metrics_t *m = task_metrics(t);
    te_exec_state_t st = task_state(t);
    char exec[TE_ID_HEX_LEN + 1], job[TE_ID_HEX_LEN + 1], alloc[TE_ID_HEX_LEN + 1];
    int64_t start = task_start_time_ms(t), end = task_end_time_ms(t);
    int64_t wm = atomic_load(&m->current_input_watermark);
    json_t *metrics = json_pack(
        "{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:b, s:f, s:I, s:f, s:f, s:f, s:f, s:I}",
        "numRecordsIn", (json_int_t)task_metrics_get(&m->num_records_in),
        "numRecordsOut", (json_int_t)task_metrics_get(&m->num_records_out),
        "numBytesIn", (json_int_t)task_metrics_get(&m->num_bytes_in),
        "numBytesOut", (json_int_t)task_metrics_get(&m->num_bytes_out),
        "numRecordsInPerSecond", r->rates.records_in_per_s,
        "numRecordsOutPerSecond", r->rates.records_out_per_s,
        "numBytesInPerSecond", r->rates.bytes_in_per_s,
        "numBytesOutPerSecond", r->rates.bytes_out_per_s,
        "isBackPressured", atomic_load(&m->is_backpressured) != 0 && st == TE_STATE_RUNNING,
        "backPressuredTimeMsPerSecond", r->rates.bp_ms_per_s,
        "accumulatedBackpressuredTimeMs", (json_int_t)(task_metrics_get(&m->backpressured_ns) / 1000000),
        "busyTimeMsPerSecond", r->rates.busy_ms_per_s,
        "idleTimeMsPerSecond", r->rates.idle_ms_per_s,
        "inPoolUsage", task_in_pool_usage(t),
        "outPoolUsage", task_out_pool_usage(t),
        "numLateRecordsDropped", (json_int_t)task_metrics_get(&m->num_late_records_dropped));
    json_object_set_new(metrics, "currentInputWatermark", wm == INT64_MIN ? json_null() : json_integer(wm));
    const char *cause = task_state_is_final(st) ? task_failure_cause(t) : "";
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s?, s:I, s:I, s:o}",
                     "execution_id", te_id_to_hex(&r->exec_id, exec),
                     "job_id", te_id_to_hex(&r->job_id, job),
                     "allocation_id", te_id_to_hex(&r->alloc_id, alloc),
                     "name", task_name(t),
                     "subtask", (int)task_subtask_index(t),
                     "state", TASK_STATES[st],
                     "cause", cause && cause[0] ? cause : NULL,
                     "start_time_ms", (json_int_t)start,
                     "end_time_ms", (json_int_t)end,
                     "metrics", metrics);
}

static json_t *view_overview(void *arg)
{
    te_task_executor_t *te = arg;
    int counts[7] = {0};
    int n_tasks = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        counts[task_state(r->task)]++;
        n_tasks++;
    }
    json_t *by_state = json_object();
    for (int i = 0; i < 7; i++)
        json_object_set_new(by_state, TASK_STATES[i], json_integer(counts[i]));
    int n_jobs = 0;
    for (te_job_manager_t *j = te->jobs; j; j = j->next)
        n_jobs++;
    return json_pack("{s:s, s:s, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:o}, s:i, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i}}",
                     "resource_id", te->resource_id,
                     "version", TE_VERSION,
                     "uptime_ms", (json_int_t)(te_clock_wall_ms() - te->started_ms),
                     "slots",
                     "total", slot_table_size(te->slots),
                     "free", slot_table_count(te->slots, TE_SLOT_FREE),
                     "allocated", slot_table_count(te->slots, TE_SLOT_ALLOCATED),
                     "active", slot_table_count(te->slots, TE_SLOT_ACTIVE),
                     "releasing", slot_table_count(te->slots, TE_SLOT_RELEASING),
                     "tasks", "total", n_tasks, "by_state", by_state,
                     "jobs", n_jobs,
                     "network",
                     "segments_total", (int)network_buffer_pool_total_segments(te->buffers),
                     "segments_available", (int)network_buffer_pool_available_segments(te->buffers),
                     "segment_size", (int)network_buffer_pool_segment_size(te->buffers),
                     "ports",
                     "rpc", task_executor_rpc_port(te),
                     "data", task_executor_data_port(te),
                     "status", task_executor_status_port(te));
}

static json_t *view_slots(void *arg)
{
    te_task_executor_t *te = arg;
    int n = slot_table_size(te->slots);
    te_slot_info_t *info = calloc((size_t)n, sizeof(*info));
    if (info == NULL)
        return NULL;
    slot_table_snapshot(te->slots, info, n);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char job[TE_ID_HEX_LEN + 1], alloc[TE_ID_HEX_LEN + 1];
        int is_free = info[i].state == TE_SLOT_FREE;
        json_array_append_new(arr, json_pack("{s:i, s:s, s:s?, s:s?, s:i}", "index", info[i].index, "state",
                                             slot_table_state_name(info[i].state), "job_id",
                                             is_free ? NULL : te_id_to_hex(&info[i].job_id, job), "allocation_id",
                                             is_free ? NULL : te_id_to_hex(&info[i].allocation_id, alloc), "tasks",
                                             info[i].n_tasks));
    }
    free(info);
    return json_pack("{s:o}", "slots", arr);
}

static json_t *view_tasks(void *arg)
{
    te_task_executor_t *te = arg;
    json_t *arr = json_array();
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        json_array_append_new(arr, executor_task_json(te, r));
    return json_pack("{s:o, s:O}", "tasks", arr, "finished_history", te->history);
}

static json_t *view_task(void *arg, const char *hex)
{
    te_task_executor_t *te = arg;
    te_id_t id;
    if (te_id_from_hex(hex, &id) != 0)
        return NULL;
    te_task_record_t *r = executor_find_record(te, &id);
    if (r != NULL)
        return executor_task_json(te, r);
    for (size_t i = json_array_size(te->history); i-- > 0;) {
        json_t *snap = json_array_get(te->history, i);
        const char *e = json_string_value(json_object_get(snap, "execution_id"));
        if (e && strcmp(e, hex) == 0)
            return json_incref(snap);
    }
    return NULL;
}

/* A growable string for the Prometheus text. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL)
            return;
        b->p = np;
        b->cap = cap;
    }
}

static void label_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 3 < cap; in++) {
        if (*in == '"' || *in == '\\') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

static char *view_metrics(void *arg)
{
    te_task_executor_t *te = arg;
    sbuf_t b = {0};
    sb_printf(&b, "# HELP te_build_info Build information.\n# TYPE te_build_info gauge\n");
    sb_printf(&b, "te_build_info{version=\"%s\"} 1\n", TE_VERSION);
    sb_printf(&b, "# HELP te_uptime_seconds Seconds since the daemon started.\n# TYPE te_uptime_seconds gauge\n");
    sb_printf(&b, "te_uptime_seconds %.3f\n", (double)(te_clock_wall_ms() - te->started_ms) / 1000.0);
    sb_printf(&b, "# HELP te_slots Task slots by state.\n# TYPE te_slots gauge\n");
    for (int s = 0; s < TE_SLOT_N_STATES; s++)
        sb_printf(&b, "te_slots{state=\"%s\"} %d\n", slot_table_state_name((te_slot_state_t)s),
                  slot_table_count(te->slots, (te_slot_state_t)s));
    sb_printf(&b, "# HELP te_network_segments Network memory segments.\n# TYPE te_network_segments gauge\n");
    sb_printf(&b, "te_network_segments{kind=\"total\"} %u\n", network_buffer_pool_total_segments(te->buffers));
    sb_printf(&b, "te_network_segments{kind=\"available\"} %u\n", network_buffer_pool_available_segments(te->buffers));
    static const struct {
        const char *name, *help;
        size_t off;
    } counters[] = {
        {"te_task_records_in_total", "Records received by the task.", offsetof(te_task_metrics_t, num_records_in)},
        {"te_task_records_out_total", "Records emitted by the task.", offsetof(te_task_metrics_t, num_records_out)},
        {"te_task_bytes_in_total", "Bytes received by the task.", offsetof(te_task_metrics_t, num_bytes_in)},
        {"te_task_bytes_out_total", "Bytes emitted by the task.", offsetof(te_task_metrics_t, num_bytes_out)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        sb_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", counters[c].name, counters[c].help, counters[c].name);
        for (te_task_record_t *r = te->tasks; r; r = r->next) {
            char job[TE_ID_HEX_LEN + 1], name[512];
            label_escape(task_name(r->task), name, sizeof(name));
            _Atomic uint64_t *v = (_Atomic uint64_t *)((char *)task_metrics(r->task) + counters[c].off);
            sb_printf(&b, "%s{job_id=\"%s\",task_name=\"%s\",subtask=\"%u\"} %llu\n", counters[c].name,
                      te_id_to_hex(&r->job_id, job), name, task_subtask_index(r->task),
                      (unsigned long long)task_metrics_get(v));
        }
    }
    return b.p;
}

te_status_provider_t executor_status_provider(te_task_executor_t *te)
{
    te_status_provider_t p = {
        .arg = te,
        .overview = view_overview,
        .slots = view_slots,
        .tasks = view_tasks,
        .task = view_task,
        .metrics_text = view_metrics,
    };
    return p;
}
