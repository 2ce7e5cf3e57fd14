/*
 * executor_status — the status endpoint's views of the TaskExecutor: /v1/overview,
 * /v1/slots, /v1/tasks, /v1/tasks/<id>, /v1/operators as JSON, /metrics as Prometheus text (the
 * families are listed above metrics_daemon). Built from the slot table (control thread data),
 * the tasks' atomic counters and /proc/self, so no lock of a task thread is ever
 * taken. Per-second rates are sampled by the executor's
 * one-second tick (executor_sample_rates).
 *
 * Threading: control thread only. jansson references returned are new.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "operators/operator_registry.h"
#include "executor/resource_manager_connection.h"
#include "executor/task_executor_internal.h"
#include "status/prom_text.h"

static const char *TASK_STATES[] = {"CREATED",   "DEPLOYING", "RUNNING", "FINISHED",
                                    "CANCELING", "CANCELED",  "FAILED"};

/* The task's back-pressure time so far (a wait in progress included), never
 * decreasing between reads. Control thread. */
static uint64_t record_bp_ns(const te_task_record_t *cr)
{
    te_task_record_t *r = (te_task_record_t *)cr;
    uint64_t v = task_backpressured_ns(r->task);
    if (v > r->rates.bp_hwm_ns)
        r->rates.bp_hwm_ns = v;
    return r->rates.bp_hwm_ns;
}

void executor_sample_rates(te_task_executor_t *te, te_task_record_t *r, int64_t now_ms)
{
    (void)te;
    te_task_rates_t *q = &r->rates;
    te_task_metrics_t *m = task_metrics(r->task);
    uint64_t in = task_metrics_get(&m->num_records_in), out = task_metrics_get(&m->num_records_out);
    uint64_t bin = task_metrics_get(&m->num_bytes_in), bout = task_metrics_get(&m->num_bytes_out);
    uint64_t bp = record_bp_ns(r), idle = task_metrics_get(&m->idle_ns), busy = task_metrics_get(&m->busy_ns);
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

/* How long the running task's input has been stalled (task_metrics.h), -1 when not. */
static int64_t input_stalled_ms(te_task_t *t)
{
    int64_t since = atomic_load_explicit(&task_metrics(t)->input_stalled_since_ms, memory_order_relaxed);
    if (since <= 0 || task_state(t) != TE_STATE_RUNNING)
        return -1;
    int64_t now = te_clock_mono_ms();
    return now > since ? now - since : 0;
}

/* Keyed state and the last checkpoint's synchronous / asynchronous parts (issue #16). */
/* The task's input gates' network buffers: totals (inPoolExclusiveBuffers,
 * inPoolFloatingBuffers, inFlightBytes) and per gate (inputGates). */
static void gate_buffers_json(json_t *metrics, te_task_t *t)
{
    const te_shuffle_io_t *io = task_shuffle_io(t);
    json_t *gates = json_array();
    uint64_t excl = 0, fl = 0, bytes = 0;
    for (size_t g = 0; io != NULL && g < io->n_gates; g++) {
        te_gate_buffer_stats_t st;
        shuffle_io_gate_stats(io, g, &st);
        excl += st.exclusive_in_use;
        fl += st.floating_in_use;
        bytes += st.in_flight_bytes;
        json_array_append_new(
            gates, json_pack("{s:I, s:b, s:I, s:I, s:I, s:I}", "gate", (json_int_t)g, "floatingOnly",
                             st.floating_only, "exclusiveBuffersInUse", (json_int_t)st.exclusive_in_use,
                             "floatingBuffersInUse", (json_int_t)st.floating_in_use, "inFlightBytes",
                             (json_int_t)st.in_flight_bytes, "debloatedBufferSize", (json_int_t)st.buffer_size));
    }
    json_object_set_new(metrics, "inPoolExclusiveBuffers", json_integer((json_int_t)excl));
    json_object_set_new(metrics, "inPoolFloatingBuffers", json_integer((json_int_t)fl));
    json_object_set_new(metrics, "inFlightBytes", json_integer((json_int_t)bytes));
    json_object_set_new(metrics, "inputGates", gates);
}

static void executor_state_json(json_t *metrics, te_task_metrics_t *m)
{
    json_object_set_new(metrics, "stateSizeBytes",
                        json_integer((json_int_t)task_metrics_get(&m->state_size_bytes)));
    json_object_set_new(metrics, "stateEntries", json_integer((json_int_t)task_metrics_get(&m->state_entries)));
    json_object_set_new(metrics, "managedMemoryUsedBytes",
                        json_integer((json_int_t)task_metrics_get(&m->managed_memory_bytes)));
    json_object_set_new(metrics, "lastCheckpointSyncDurationMs",
                        json_real((double)task_metrics_get(&m->last_checkpoint_sync_us) / 1e3));
    json_object_set_new(metrics, "lastCheckpointAsyncDurationMs",
                        json_integer((json_int_t)task_metrics_get(&m->last_checkpoint_async_ms)));
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
        "{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:b, s:f, s:I, s:f, s:f, s:f, s:f, s:I}", "numRecordsIn",
        (json_int_t)task_metrics_get(&m->num_records_in), "numRecordsOut",
        (json_int_t)task_metrics_get(&m->num_records_out), "numBytesIn",
        (json_int_t)task_metrics_get(&m->num_bytes_in), "numBytesOut",
        (json_int_t)task_metrics_get(&m->num_bytes_out), "numRecordsInPerSecond", r->rates.records_in_per_s,
        "numRecordsOutPerSecond", r->rates.records_out_per_s, "numBytesInPerSecond", r->rates.bytes_in_per_s,
        "numBytesOutPerSecond", r->rates.bytes_out_per_s, "isBackPressured",
        task_is_backpressured(t) && st == TE_STATE_RUNNING, "backPressuredTimeMsPerSecond", r->rates.bp_ms_per_s,
        "accumulatedBackpressuredTimeMs", (json_int_t)(record_bp_ns(r) / 1000000), "busyTimeMsPerSecond",
        r->rates.busy_ms_per_s, "idleTimeMsPerSecond", r->rates.idle_ms_per_s, "inPoolUsage",
        task_in_pool_usage(t), "outPoolUsage", task_out_pool_usage(t), "numLateRecordsDropped",
        (json_int_t)task_metrics_get(&m->num_late_records_dropped));
    json_object_set_new(metrics, "currentInputWatermark", wm == INT64_MIN ? json_null() : json_integer(wm));
    int64_t stalled = input_stalled_ms(t);
    json_object_set_new(metrics, "isInputStalled", json_boolean(stalled >= 0));
    json_object_set_new(metrics, "inputStalledTimeMs", json_integer(stalled >= 0 ? stalled : 0));
    json_object_set_new(metrics, "numInputStalls", json_integer((json_int_t)task_metrics_get(&m->input_stalls)));
    uint64_t ck_id, ck_ms, ck_size, ck_align;
    task_last_checkpoint(t, &ck_id, &ck_ms, &ck_size, &ck_align);
    json_object_set_new(metrics, "lastCheckpointId", json_integer((json_int_t)ck_id));
    json_object_set_new(metrics, "lastCheckpointDurationMs", json_integer((json_int_t)ck_ms));
    json_object_set_new(metrics, "lastCheckpointSize", json_integer((json_int_t)ck_size));
    json_object_set_new(metrics, "checkpointAlignmentTimeMs", json_real((double)ck_align / 1e6));
    gate_buffers_json(metrics, t);
    executor_state_json(metrics, m);
    const char *cause = task_state_is_final(st) ? task_failure_cause(t) : "";
    return json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s?, s:I, s:I, s:o}", "execution_id",
                     te_id_to_hex(&r->exec_id, exec), "job_id", te_id_to_hex(&r->job_id, job), "allocation_id",
                     te_id_to_hex(&r->alloc_id, alloc), "name", task_name(t), "subtask",
                     (int)task_subtask_index(t), "state", TASK_STATES[st], "cause",
                     cause && cause[0] ? cause : NULL, "start_time_ms", (json_int_t)start, "end_time_ms",
                     (json_int_t)end, "metrics", metrics);
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
    int64_t now_ms = te_clock_wall_ms();
    /* time_ms: the daemon's wall clock, so a client (the dashboard) can show task
     * durations without trusting its own clock. */
    /* jobmanager: the registration with a JobManager (cluster mode), null without one */
    json_t *jm = te->rm == NULL ? json_null()
                                : json_pack("{s:s, s:s, s:I}", "address", rm_connection_address(te->rm), "state",
                                            rm_connection_state(te->rm), "registered_ms",
                                            (json_int_t)rm_connection_registered_at(te->rm));
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:o}, s:i, s:{s:i, s:i, s:i}, s:{s:i, s:i, "
        "s:i}, s:o}",
        "resource_id", te->resource_id, "version", TE_VERSION, "time_ms", (json_int_t)now_ms, "uptime_ms",
        (json_int_t)(now_ms - te->started_ms), "slots", "total", slot_table_size(te->slots), "free",
        slot_table_count(te->slots, TE_SLOT_FREE), "allocated", slot_table_count(te->slots, TE_SLOT_ALLOCATED),
        "active", slot_table_count(te->slots, TE_SLOT_ACTIVE), "releasing",
        slot_table_count(te->slots, TE_SLOT_RELEASING), "tasks", "total", n_tasks, "by_state", by_state, "jobs",
        n_jobs, "network", "segments_total", (int)network_buffer_pool_total_segments(te->buffers),
        "segments_available", (int)network_buffer_pool_available_segments(te->buffers), "segment_size",
        (int)network_buffer_pool_segment_size(te->buffers), "ports", "rpc", task_executor_rpc_port(te), "data",
        task_executor_data_port(te), "status", task_executor_status_port(te), "jobmanager", jm);
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

/* ---- /metrics: Prometheus text exposition format 0.0.4 ----
 *
 * Families (every one with # HELP and # TYPE exactly once, in this order):
 *   daemon   te_build_info{version}, te_executor_info{resource_id}, te_uptime_seconds,
 *            te_slots{state}, te_tasks{state}, te_jobs, te_rpc_connections,
 *            te_network_segments, te_network_segments_available,
 *            te_network_segment_size_bytes
 *   process  process_resident_memory_bytes, process_virtual_memory_bytes,
 *            process_start_time_seconds, process_cpu_seconds_total, process_open_fds,
 *            process_max_fds (the names every Prometheus client library uses)
 *   task     labels {job_id, task_name, subtask}: te_task_records_{in,out}_total,
 *            te_task_bytes_{in,out}_total, te_task_{backpressured,busy,idle}_seconds_total,
 *            te_task_late_records_dropped_total, te_task_is_back_pressured,
 *            te_task_{in,out}_pool_usage, te_task_current_input_watermark_seconds (only
 *            once a watermark arrived), te_task_start_time_seconds, te_task_state{state}
 *            (1 for the current state, 0 for the others), te_task_info{execution_id,
 *            allocation_id} 1.
 * When a subtask was redeployed while its old attempt is still listed, only the newest
 * attempt is exported (metrics_task_records), so a label set never appears twice. */

/* `name{job_id="..",task_name="..",subtask=".."` without the closing brace. */
static void sb_task_series(te_prom_t *b, const char *name, const te_task_record_t *r)
{
    char job[TE_ID_HEX_LEN + 1];
    prom_printf(b, "%s{job_id=\"%s\",task_name=\"", name, te_id_to_hex(&r->job_id, job));
    prom_label_value(b, task_name(r->task));
    prom_printf(b, "\",subtask=\"%u\"", task_subtask_index(r->task));
}

/* The per-gate gauges: one table row each (kind: the `kind` label's value, or NULL). */
enum gate_gauge { GG_EXCLUSIVE, GG_FLOATING, GG_IN_FLIGHT, GG_BUFFER_SIZE };
static const struct {
    enum gate_gauge which;
    const char *name, *kind, *help; /* help NULL: the family of the row before */
} gate_gauges[] = {
    {GG_EXCLUSIVE, "te_task_input_gate_buffers_in_use", "exclusive",
     "Network buffers of an input gate in use, exclusive or floating (kind)."},
    {GG_FLOATING, "te_task_input_gate_buffers_in_use", "floating", NULL},
    {GG_IN_FLIGHT, "te_task_input_gate_in_flight_bytes", NULL,
     "Data bytes an input gate received and its task did not read yet."},
    {GG_BUFFER_SIZE, "te_task_input_gate_debloated_buffer_size", NULL,
     "Buffer size an input gate asked its producers for (buffer debloating; 0 = off), bytes."},
};

static unsigned long long gate_gauge_value(const te_gate_buffer_stats_t *st, enum gate_gauge which)
{
    switch (which) {
    case GG_EXCLUSIVE: return st->exclusive_in_use;
    case GG_FLOATING: return st->floating_in_use;
    case GG_IN_FLIGHT: return st->in_flight_bytes;
    case GG_BUFFER_SIZE: return st->buffer_size;
    }
    return 0;
}

/* Per task and input gate: exclusive / floating buffers in use, in-flight bytes, the
 * debloated buffer size. */
static void metrics_gate_buffers(te_prom_t *b, te_task_record_t *const *recs, size_t n)
{
    for (size_t r = 0; r < sizeof(gate_gauges) / sizeof(gate_gauges[0]); r++) {
        if (gate_gauges[r].help != NULL)
            prom_family(b, gate_gauges[r].name, "gauge", gate_gauges[r].help);
        for (size_t i = 0; i < n; i++) {
            const te_shuffle_io_t *io = task_shuffle_io(recs[i]->task);
            for (size_t g = 0; io != NULL && g < io->n_gates; g++) {
                te_gate_buffer_stats_t st;
                shuffle_io_gate_stats(io, g, &st);
                sb_task_series(b, gate_gauges[r].name, recs[i]);
                prom_printf(b, ",gate=\"%zu\"", g);
                if (gate_gauges[r].kind != NULL)
                    prom_printf(b, ",kind=\"%s\"", gate_gauges[r].kind);
                prom_printf(b, "} %llu\n", gate_gauge_value(&st, gate_gauges[r].which));
            }
        }
    }
}

static void metrics_daemon(te_prom_t *b, te_task_executor_t *te)
{
    prom_family(b, "te_build_info", "gauge", "Build information of taskexecutord; the value is always 1.");
    prom_printf(b, "te_build_info{version=\"%s\"} 1\n", TE_VERSION);
    prom_family(b, "te_executor_info", "gauge", "Identity of this TaskExecutor; the value is always 1.");
    prom_printf(b, "te_executor_info{resource_id=\"");
    prom_label_value(b, te->resource_id);
    prom_printf(b, "\"} 1\n");
    prom_family(b, "te_uptime_seconds", "gauge", "Seconds since the daemon started.");
    prom_printf(b, "te_uptime_seconds %.3f\n", (double)(te_clock_wall_ms() - te->started_ms) / 1000.0);

    prom_family(b, "te_slots", "gauge", "Task slots by state.");
    for (int s = 0; s < TE_SLOT_N_STATES; s++)
        prom_printf(b, "te_slots{state=\"%s\"} %d\n", slot_table_state_name((te_slot_state_t)s),
                    slot_table_count(te->slots, (te_slot_state_t)s));

    int counts[7] = {0};
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        counts[task_state(r->task)]++;
    prom_family(b, "te_tasks", "gauge", "Deployed tasks (running and recently ended) by execution state.");
    for (int i = 0; i < 7; i++)
        prom_printf(b, "te_tasks{state=\"%s\"} %d\n", TASK_STATES[i], counts[i]);

    int n_jobs = 0;
    for (te_job_manager_t *j = te->jobs; j; j = j->next)
        n_jobs++;
    prom_family(b, "te_jobs", "gauge", "Jobs whose JobManager is registered with this TaskExecutor.");
    prom_printf(b, "te_jobs %d\n", n_jobs);
    prom_family(b, "te_rpc_connections", "gauge", "Open control RPC connections.");
    prom_printf(b, "te_rpc_connections %zu\n", te->rpc ? rpc_server_conn_count(te->rpc) : (size_t)0);

    prom_family(b, "te_network_segments", "gauge", "Network memory segments in the buffer arena.");
    prom_printf(b, "te_network_segments %u\n", network_buffer_pool_total_segments(te->buffers));
    prom_family(b, "te_network_segments_available", "gauge",
                "Network memory segments not held by any buffer pool.");
    prom_printf(b, "te_network_segments_available %u\n", network_buffer_pool_available_segments(te->buffers));
    prom_family(b, "te_network_segment_size_bytes", "gauge", "Size of one network memory segment in bytes.");
    prom_printf(b, "te_network_segment_size_bytes %zu\n", (size_t)network_buffer_pool_segment_size(te->buffers));
}

/* The records to export, newest first: an attempt is left out when a newer one (listed
 * before it: records are prepended) has the same job, task name and subtask, so a
 * label set never appears twice. NULL on allocation failure; *n = 0 with no tasks. */
static te_task_record_t **metrics_task_records(te_task_executor_t *te, size_t *n)
{
    size_t total = 0, k = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        total++;
    te_task_record_t **out = malloc((total ? total : 1) * sizeof(*out));
    if (out == NULL)
        return NULL;
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        int shadowed = 0;
        for (size_t i = 0; i < k && !shadowed; i++)
            shadowed = task_subtask_index(out[i]->task) == task_subtask_index(r->task) &&
                       te_id_equal(&out[i]->job_id, &r->job_id) &&
                       strcmp(task_name(out[i]->task), task_name(r->task)) == 0;
        if (!shadowed)
            out[k++] = r;
    }
    *n = k;
    return out;
}

typedef enum { TM_COUNTER_U64, TM_NS_AS_SECONDS } tm_kind_t;

/* Keyed-state gauges of every task (issue #16). */
static void metrics_task_state(te_prom_t *b, te_task_record_t *const *recs, size_t n)
{
    static const struct {
        const char *name, *help;
        size_t off;
        double scale; /* 0 = an integer */
    } gauges[] = {
        {"te_task_state_size_bytes", "Keyed state held (hashmap: memory; rocksdb: SST files + memtables).",
         offsetof(te_task_metrics_t, state_size_bytes), 0},
        {"te_task_state_entries", "Keyed-state entries (rocksdb: RocksDB's estimate).",
         offsetof(te_task_metrics_t, state_entries), 0},
        {"te_task_managed_memory_used_bytes", "Managed memory the task's keyed state uses.",
         offsetof(te_task_metrics_t, managed_memory_bytes), 0},
        {"te_task_last_checkpoint_sync_seconds", "Synchronous part (the task's pause) of the last checkpoint.",
         offsetof(te_task_metrics_t, last_checkpoint_sync_us), 1e-6},
        {"te_task_last_checkpoint_async_seconds", "Asynchronous part of the last checkpoint.",
         offsetof(te_task_metrics_t, last_checkpoint_async_ms), 1e-3},
    };
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        prom_family(b, gauges[g].name, "gauge", gauges[g].help);
        for (size_t i = 0; i < n; i++) {
            uint64_t v =
                task_metrics_get((_Atomic uint64_t *)((char *)task_metrics(recs[i]->task) + gauges[g].off));
            sb_task_series(b, gauges[g].name, recs[i]);
            if (gauges[g].scale != 0)
                prom_printf(b, "} %.6g\n", (double)v * gauges[g].scale);
            else
                prom_printf(b, "} %llu\n", (unsigned long long)v);
        }
    }
}

static void metrics_tasks(te_prom_t *b, te_task_record_t *const *recs, size_t n)
{
    static const struct {
        const char *name, *help;
        tm_kind_t kind;
        size_t off;
    } counters[] = {
        {"te_task_records_in_total", "Records received by the task (numRecordsIn).", TM_COUNTER_U64,
         offsetof(te_task_metrics_t, num_records_in)},
        {"te_task_records_out_total", "Records emitted by the task (numRecordsOut).", TM_COUNTER_U64,
         offsetof(te_task_metrics_t, num_records_out)},
        {"te_task_bytes_in_total", "Bytes received by the task (numBytesIn).", TM_COUNTER_U64,
         offsetof(te_task_metrics_t, num_bytes_in)},
        {"te_task_bytes_out_total", "Bytes emitted by the task (numBytesOut).", TM_COUNTER_U64,
         offsetof(te_task_metrics_t, num_bytes_out)},
        {"te_task_backpressured_seconds_total",
         "Time the task waited for an output buffer (accumulatedBackpressuredTimeMs).", TM_NS_AS_SECONDS,
         offsetof(te_task_metrics_t, backpressured_ns)},
        {"te_task_busy_seconds_total", "Time the task spent processing (accumulatedBusyTime).", TM_NS_AS_SECONDS,
         offsetof(te_task_metrics_t, busy_ns)},
        {"te_task_idle_seconds_total", "Time the task waited for input or mail (accumulatedIdleTime).",
         TM_NS_AS_SECONDS, offsetof(te_task_metrics_t, idle_ns)},
        {"te_task_late_records_dropped_total", "Records dropped for arriving behind the watermark.",
         TM_COUNTER_U64, offsetof(te_task_metrics_t, num_late_records_dropped)},
        {"te_task_input_stalls_total",
         "Input stalls reported: input with data the task neither processed nor was back-pressured on for "
         "taskmanager.task.input-stall-threshold.",
         TM_COUNTER_U64, offsetof(te_task_metrics_t, input_stalls)},
    };
    for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
        prom_family(b, counters[c].name, "counter", counters[c].help);
        for (size_t i = 0; i < n; i++) {
            const te_task_record_t *r = recs[i];
            uint64_t v =
                counters[c].off == offsetof(te_task_metrics_t, backpressured_ns)
                    ? record_bp_ns(r)
                    : task_metrics_get((_Atomic uint64_t *)((char *)task_metrics(r->task) + counters[c].off));
            sb_task_series(b, counters[c].name, r);
            if (counters[c].kind == TM_NS_AS_SECONDS)
                prom_printf(b, "} %llu.%09llu\n", (unsigned long long)(v / 1000000000ULL),
                            (unsigned long long)(v % 1000000000ULL));
            else
                prom_printf(b, "} %llu\n", (unsigned long long)v);
        }
    }

    prom_family(b, "te_task_input_stalled", "gauge",
                "1 while the running task's input is stalled (isInputStalled: data waiting, nothing processed, "
                "not back-pressured).");
    for (size_t i = 0; i < n; i++) {
        sb_task_series(b, "te_task_input_stalled", recs[i]);
        prom_printf(b, "} %d\n", input_stalled_ms(recs[i]->task) >= 0);
    }
    prom_family(b, "te_task_is_back_pressured", "gauge",
                "1 while the running task cannot get an output buffer (isBackPressured).");
    for (size_t i = 0; i < n; i++) {
        sb_task_series(b, "te_task_is_back_pressured", recs[i]);
        prom_printf(b, "} %d\n",
                    task_is_backpressured(recs[i]->task) && task_state(recs[i]->task) == TE_STATE_RUNNING);
    }
    {
        static const char *const names[4][2] = {
            {"te_task_last_checkpoint_id", "Id of the last checkpoint this task acknowledged (0 = none)."},
            {"te_task_last_checkpoint_duration_seconds", "Duration of the last acknowledged checkpoint."},
            {"te_task_last_checkpoint_size_bytes", "Bytes of the last acknowledged checkpoint's snapshot file."},
            {"te_task_last_checkpoint_alignment_seconds", "checkpointAlignmentTime of the last checkpoint."},
        };
        for (int k = 0; k < 4; k++) {
            prom_family(b, names[k][0], "gauge", names[k][1]);
            for (size_t i = 0; i < n; i++) {
                uint64_t v[4];
                task_last_checkpoint(recs[i]->task, &v[0], &v[1], &v[2], &v[3]);
                sb_task_series(b, names[k][0], recs[i]);
                if (k == 1)
                    prom_printf(b, "} %.6g\n", (double)v[1] / 1e3);
                else if (k == 3)
                    prom_printf(b, "} %.6g\n", (double)v[3] / 1e9);
                else
                    prom_printf(b, "} %llu\n", (unsigned long long)v[k]);
            }
        }
    }
    metrics_task_state(b, recs, n);
    prom_family(b, "te_task_in_pool_usage", "gauge",
                "Fraction of the input buffer pools in use, 0 to 1 (inPoolUsage).");
    for (size_t i = 0; i < n; i++) {
        sb_task_series(b, "te_task_in_pool_usage", recs[i]);
        prom_printf(b, "} %.6g\n", task_in_pool_usage(recs[i]->task));
    }
    metrics_gate_buffers(b, recs, n);
    prom_family(b, "te_task_out_pool_usage", "gauge",
                "Fraction of the output buffer pools in use, 0 to 1 (outPoolUsage).");
    for (size_t i = 0; i < n; i++) {
        sb_task_series(b, "te_task_out_pool_usage", recs[i]);
        prom_printf(b, "} %.6g\n", task_out_pool_usage(recs[i]->task));
    }
    prom_family(b, "te_task_current_input_watermark_seconds", "gauge",
                "Event time of the task's current input watermark, seconds since the epoch "
                "(currentInputWatermark; absent until a watermark arrives).");
    for (size_t i = 0; i < n; i++) {
        int64_t wm = atomic_load(&task_metrics(recs[i]->task)->current_input_watermark);
        if (wm == INT64_MIN)
            continue;
        sb_task_series(b, "te_task_current_input_watermark_seconds", recs[i]);
        prom_printf(b, "} %.3f\n", (double)wm / 1000.0);
    }
    prom_family(b, "te_task_start_time_seconds", "gauge", "When the task was deployed, seconds since the epoch.");
    for (size_t i = 0; i < n; i++) {
        sb_task_series(b, "te_task_start_time_seconds", recs[i]);
        prom_printf(b, "} %.3f\n", (double)task_start_time_ms(recs[i]->task) / 1000.0);
    }
    prom_family(b, "te_task_state", "gauge",
                "Execution state of the task: 1 for its current state, 0 for the others.");
    for (size_t i = 0; i < n; i++) {
        te_exec_state_t st = task_state(recs[i]->task);
        for (int s = 0; s < 7; s++) {
            sb_task_series(b, "te_task_state", recs[i]);
            prom_printf(b, ",state=\"%s\"} %d\n", TASK_STATES[s], (int)st == s);
        }
    }
    prom_family(b, "te_task_info", "gauge",
                "Execution attempt and slot allocation of the task; the value is always 1.");
    for (size_t i = 0; i < n; i++) {
        char exec[TE_ID_HEX_LEN + 1], alloc[TE_ID_HEX_LEN + 1];
        sb_task_series(b, "te_task_info", recs[i]);
        prom_printf(b, ",execution_id=\"%s\",allocation_id=\"%s\"} 1\n", te_id_to_hex(&recs[i]->exec_id, exec),
                    te_id_to_hex(&recs[i]->alloc_id, alloc));
    }
}

static char *view_metrics(void *arg)
{
    te_task_executor_t *te = arg;
    te_prom_t b = {0};
    metrics_daemon(&b, te);
    prom_process(&b, te->started_ms);
    size_t n = 0;
    te_task_record_t **recs = metrics_task_records(te, &n);
    if (recs == NULL)
        b.failed = 1;
    else
        metrics_tasks(&b, recs, n);
    free(recs);
    char *text = prom_take(&b);
    if (text == NULL)
        TE_WARN("status", "cannot build the /metrics text: out of memory");
    return text;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The shared objects directly in dir (names ending in ".so", sorted), not loaded. */
static json_t *plugin_libraries(const char *dir)
{
    json_t *libs = json_array();
    DIR *d = dir != NULL && dir[0] ? opendir(dir) : NULL;
    char *names[256];
    size_t n = 0;
    for (struct dirent *e; d != NULL && n < 256 && (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] != '.' && len > 3 && strcmp(e->d_name + len - 3, ".so") == 0 &&
            (names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    if (d != NULL)
        closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(libs, json_string(names[i]));
        free(names[i]);
    }
    return libs;
}

/* GET /v1/operators: what a chain may name on this daemon, so a scheduler can check a
 * job graph before it deploys anything: every built-in (name, kind, whether a source
 * blocks, the module it is kept in) and `plugin` with the libraries under plugins.dir. */
static json_t *view_operators(void *arg)
{
    te_task_executor_t *te = arg;
    json_t *ops = json_array();
    const te_operator_def_t *d;
    for (size_t i = 0; (d = operator_registry_at(i)) != NULL; i++) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", d->name, "kind", operator_registry_kind_name(d->kind),
                              "blocking_source", d->blocking_source);
        const char *module = operator_registry_module_at(i);
        if (module != NULL)
            json_object_set_new(o, "module", json_string(module)); /* loaded on first use */
        json_array_append_new(ops, o);
    }
    const char *dir = config_get_str(te->cfg, TE_KEY_PLUGINS_DIR);
    return json_pack("{s:o, s:{s:s, s:s, s:o}}", "operators", ops, "plugin", "dir", dir ? dir : "", "parameter",
                     "library", "libraries", plugin_libraries(dir));
}

te_status_provider_t executor_status_provider(te_task_executor_t *te)
{
    te_status_provider_t p = {
        .arg = te,
        .overview = view_overview,
        .slots = view_slots,
        .tasks = view_tasks,
        .task = view_task,
        .operators = view_operators,
        .metrics_text = view_metrics,
    };
    return p;
}
