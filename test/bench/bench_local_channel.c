/*
 * bench_local_channel — throughput of a local channel: a source StreamTask emitting
 * fixed-size records → one PipelinedSubpartition → a LocalInputChannel → a sink
 * StreamTask that counts them, each task on its own thread as in the daemon. Prints
 * one JSON line per figure, plus memcpy bandwidth measured in the same run as the
 * limit to compare bytes/s with.
 *
 *   bench_local_channel [records_8b] [records_1k]
 *
 * BENCH_LIMITS=0 in the environment skips the memcpy figures and the 1 KiB line
 * (scripts/bench_instructions.sh counts instructions under callgrind, where they only
 * add time).
 *
 * Threading: main builds everything, runs the two tasks on two threads, joins them.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/thread_sched.h"
#include "runtime/stream_task.h"
#include "shuffle/channel_selector.h"
#include "shuffle/local_input_channel.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/output_flusher.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"
#include "te/operator.h"

typedef struct bench_src {
    const te_operator_api_t *api;
    uint64_t left;
    uint8_t rec[1024];
    uint32_t len;
} bench_src_t;

static uint32_t g_len;
static uint64_t g_count;
static _Atomic uint64_t g_received;

static void *src_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    bench_src_t *s = calloc(1, sizeof(*s));
    s->api = api;
    s->left = g_count;
    s->len = g_len;
    memset(s->rec, 'x', sizeof(s->rec));
    return s;
}

static te_source_status_t src_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle)
{
    (void)idle;
    bench_src_t *s = self;
    te_record_t r = {s->rec, s->len, TE_NO_TIMESTAMP};
    uint32_t n = budget * 16;
    if (n > s->left)
        n = (uint32_t)s->left;
    for (uint32_t i = 0; i < n; i++)
        if (s->api->emit(out, &r) != 0)
            return TE_SOURCE_END;
    s->left -= n;
    return s->left ? TE_SOURCE_MORE : TE_SOURCE_END;
}

static void op_dispose(void *self) { free(self); }

typedef struct bench_sink {
    uint64_t n, bytes;
} bench_sink_t;

static void *sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)api;
    (void)ctx;
    (void)err;
    (void)errlen;
    return calloc(1, sizeof(bench_sink_t));
}

static int sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    (void)out;
    bench_sink_t *s = self;
    s->n++;
    s->bytes += rec->len;
    return 0;
}

static int sink_close(void *self, te_output_t *out)
{
    (void)out;
    g_received = ((bench_sink_t *)self)->n;
    return 0;
}

static const te_operator_def_t SRC = {
    .abi_version = 2, /* text records (v2) */
    .name = "bench_source",
    .kind = TE_OP_SOURCE,
    .setup = src_setup,
    .step = src_step,
    .dispose = op_dispose,
};
static const te_operator_def_t SINK = {
    .abi_version = 2, /* text records (v2) */
    .name = "bench_sink",
    .kind = TE_OP_ONE_INPUT,
    .setup = sink_setup,
    .process_element = sink_process,
    .close = sink_close,
    .dispose = op_dispose,
};

/* A task thread, under the policy the daemon gives task threads by default
 * (taskmanager.task.scheduling-policy). */
static void *run_task(void *arg)
{
    te_config_t *defaults = config_new();
    int policy = te_sched_policy_parse(
        defaults ? config_get_str(defaults, TE_KEY_TASKMANAGER_TASK_SCHEDULING_POLICY) : NULL);
    config_free(defaults);
    if (policy >= 0) /* the tasks below flush every 100 ms */
        te_thread_set_sched_policy(te_sched_policy_for_task((te_sched_policy_t)policy, 100));
    te_error_t err;
    te_error_clear(&err);
    te_status_t s = stream_task_invoke(arg, &err);
    if (s != TE_OK)
        fprintf(stderr, "task failed: %s\n", err.msg);
    return NULL;
}

static double run(uint32_t len, uint64_t count, te_network_buffer_pool_t *nbp, te_partition_manager_t *pm,
                  te_output_flusher_t *fl)
{
    g_len = len;
    g_count = count;
    g_received = 0;
    te_error_t err;
    te_id_t pid, e1, e2;
    te_id_random(&pid);
    te_id_random(&e1);
    te_id_random(&e2);
    te_local_buffer_pool_t *pool = network_buffer_pool_create_local(nbp, "bench", 2, 10, &err);
    te_result_partition_t *rp = result_partition_new(&pid, "bench", 1, pool, &err);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, 0, '\t', 128, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    partition_manager_register(pm, rp, &err);
    te_input_gate_t *gate = input_gate_new("bench gate", 0, 1, NULL, &err);
    local_input_channel_attach(gate, 0, pm, &pid, 0, &err);

    te_task_metrics_t m1 = {0}, m2 = {0};
    te_chain_op_config_t c1 = {.def = &SRC, .name = "bench_source"};
    te_chain_op_config_t c2 = {.def = &SINK, .name = "bench_sink"};
    te_stream_task_env_t env1 = {.task_name = "source (1/1)",
                                 .execution_id = e1,
                                 .parallelism = 1,
                                 .max_parallelism = 128,
                                 .invokable = TE_INVOKABLE_SOURCE,
                                 .chain = &c1,
                                 .n_chain = 1,
                                 .writers = &rw,
                                 .n_writers = 1,
                                 .flusher = fl,
                                 .buffer_timeout_ms = 100,
                                 .partition_request_timeout_ms = 10000,
                                 .metrics = &m1};
    te_stream_task_env_t env2 = {.task_name = "sink (1/1)",
                                 .execution_id = e2,
                                 .parallelism = 1,
                                 .max_parallelism = 128,
                                 .invokable = TE_INVOKABLE_ONE_INPUT,
                                 .chain = &c2,
                                 .n_chain = 1,
                                 .gates = &gate,
                                 .n_gates = 1,
                                 .flusher = fl,
                                 .buffer_timeout_ms = 100,
                                 .partition_request_timeout_ms = 10000,
                                 .metrics = &m2};
    te_stream_task_t *st1 = stream_task_new(&env1, &err), *st2 = stream_task_new(&env2, &err);
    pthread_t t1, t2;
    int64_t t0 = te_clock_mono_ns();
    pthread_create(&t2, NULL, run_task, st2);
    pthread_create(&t1, NULL, run_task, st1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    double secs = (double)(te_clock_mono_ns() - t0) / 1e9;
    if (g_received != count)
        fprintf(stderr, "bench: received %llu of %llu records\n", (unsigned long long)g_received,
                (unsigned long long)count);
    stream_task_free(st1);
    stream_task_free(st2);
    input_gate_close(gate);
    input_gate_free(gate);
    partition_manager_unregister(pm, &pid);
    record_writer_free(rw);
    result_partition_unref(rp);
    return g_received == count ? secs : -1;
}

static double memcpy_bandwidth(void)
{
    size_t n = 64u << 20;
    char *a = malloc(n), *b = malloc(n);
    memset(a, 1, n);
    memset(b, 2, n);
    int reps = 20;
    int64_t t0 = te_clock_mono_ns();
    for (int i = 0; i < reps; i++) {
        memcpy(b, a, n);
        a[i] = b[n - 1 - i]; /* keep the copies observable */
    }
    double secs = (double)(te_clock_mono_ns() - t0) / 1e9;
    free(a);
    free(b);
    return (double)n * reps / secs;
}

/* The serializer's own data movement: 1 KiB records copied into a ring of ten 32 KiB
 * segments (the producer pool's size here), i.e. cache-resident memcpy. */
static double memcpy_ring_bandwidth(void)
{
    enum { SEG = 32768, NSEG = 10, REC = 1024 };
    char *ring = malloc((size_t)SEG * NSEG), rec[REC];
    memset(ring, 0, (size_t)SEG * NSEG);
    memset(rec, 'x', sizeof(rec));
    uint64_t n = 20u << 20; /* records: 20 GiB */
    size_t off = 0;
    int64_t t0 = te_clock_mono_ns();
    for (uint64_t i = 0; i < n; i++) {
        memcpy(ring + off, rec, REC);
        off += REC;
        if (off == (size_t)SEG * NSEG)
            off = 0;
        rec[i & (REC - 1)] ^= ring[(off + 7) % ((size_t)SEG * NSEG)];
    }
    double secs = (double)(te_clock_mono_ns() - t0) / 1e9;
    free(ring);
    return (double)n * REC / secs;
}

int main(int argc, char **argv)
{
    uint64_t n8 = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000ULL;
    uint64_t n1k = argc > 2 ? strtoull(argv[2], NULL, 10) : 3000000ULL;
    te_log_set_level(TE_LOG_WARN);
    double mem = 0, ring = 0;
    te_error_t err;
    te_network_buffer_pool_t *nbp = network_buffer_pool_new(64u << 20, 32768, &err);
    te_partition_manager_t *pm = partition_manager_new();
    te_output_flusher_t *fl = output_flusher_new(&err);
    output_flusher_start(fl, &err);

    const char *limits = getenv("BENCH_LIMITS");
    int with_limits = limits == NULL || strcmp(limits, "0") != 0;
    if (with_limits) {
        mem = memcpy_bandwidth();
        ring = memcpy_ring_bandwidth();
        printf("{\"figure\":\"memcpy_bandwidth\",\"bytes_per_s\":%.0f,\"what\":\"64 MiB blocks (DRAM)\"}\n", mem);
        printf(
            "{\"figure\":\"memcpy_ring_bandwidth\",\"bytes_per_s\":%.0f,\"what\":\"1 KiB copies into ten 32 KiB "
            "segments (cache)\"}\n",
            ring);
    }
    double s8 = run(8, n8, nbp, pm, fl);
    double s1k = run(1024, n1k, nbp, pm, fl);
    if (s8 > 0)
        printf("{\"figure\":\"local_channel_8b\",\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,"
               "\"bytes_per_s\":%.0f,\"target_records_per_s\":50000000,\"ratio_to_target\":%.2f}\n",
               (unsigned long long)n8, s8, n8 / s8, n8 * 8.0 / s8, n8 / s8 / 50e6);
    if (s1k > 0 && with_limits)
        printf("{\"figure\":\"local_channel_1k\",\"records\":%llu,\"seconds\":%.3f,\"records_per_s\":%.0f,"
               "\"bytes_per_s\":%.0f,\"ratio_to_memcpy\":%.3f,\"ratio_to_memcpy_ring\":%.3f}\n",
               (unsigned long long)n1k, s1k, n1k / s1k, n1k * 1024.0 / s1k, n1k * 1024.0 / s1k / mem,
               n1k * 1024.0 / s1k / ring);
    int ok = s8 > 0 && s1k > 0 &&
             network_buffer_pool_available_segments(nbp) == network_buffer_pool_total_segments(nbp);
    output_flusher_stop(fl);
    output_flusher_free(fl);
    partition_manager_free(pm);
    network_buffer_pool_free(nbp);
    return ok ? 0 : 1;
}
