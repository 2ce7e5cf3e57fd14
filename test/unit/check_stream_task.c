/* Unit tests: stream tasks over the real shuffle (network buffer pool, result
 * partitions, partition manager, record writers, input gates with local channels), with
 * small test operators defined here: source task -> network -> one-input task with a
 * collecting sink, hash partitioning at parallelism 2, failures, cancellation, blocking
 * sources, chain validation. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "te/operator.h"
#include "te/row.h"
#include "runtime/operator_chain.h"
#include "runtime/stream_element.h"
#include "runtime/stream_task.h"
#include "runtime/watermark_valve.h"
#include "shuffle/channel_selector.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_input_channel.h"
#include "common/key_group.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"

#include "harness_shuffle.h"

static _Atomic int g_live; /* operator instances set up and not yet disposed */

/* ---- test operators ---- */

typedef struct count_src {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int64_t n; /* -1 = unbounded */
    int64_t next;
    int idle_every; /* >0: return IDLE after that many records per step */
    int stamp;      /* param "stamp": each number k goes out with timestamp k */
    uint32_t sub, par;
    char buf[32];
} count_src_t;

static void *count_src_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    const char *n = api->param(ctx, "n");
    if (n == NULL || n[0] == '\0') {
        snprintf(err, errlen, "parameter 'n' is required");
        return NULL;
    }
    char *end;
    long long v = strtoll(n, &end, 10);
    if (*end != '\0' || v < -1) {
        snprintf(err, errlen, "parameter 'n' = '%s' is not a count", n);
        return NULL;
    }
    count_src_t *s = calloc(1, sizeof(*s));
    s->api = api;
    s->ctx = ctx;
    s->n = v;
    const char *ie = api->param(ctx, "idle_every");
    s->idle_every = ie ? atoi(ie) : 0;
    const char *st = api->param(ctx, "stamp");
    s->stamp = st != NULL && atoi(st) != 0;
    s->sub = api->subtask_index(ctx);
    s->par = api->parallelism(ctx);
    atomic_fetch_add(&g_live, 1);
    return s;
}

/* Emits the numbers k = i * parallelism + subtask for i in [0, n). */
static te_source_status_t count_src_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    count_src_t *s = self;
    uint32_t lim = s->idle_every > 0 && (uint32_t)s->idle_every < budget ? (uint32_t)s->idle_every : budget;
    for (uint32_t i = 0; i < lim; i++) {
        if (s->n >= 0 && s->next >= s->n)
            return TE_SOURCE_END;
        int64_t k = s->next * s->par + s->sub;
        int len = snprintf(s->buf, sizeof(s->buf), "%lld", (long long)k);
        te_record_t r = {(const uint8_t *)s->buf, (uint32_t)len, s->stamp ? k : TE_NO_TIMESTAMP};
        if (s->api->emit(out, &r) != 0)
            return s->api->is_cancelled(s->ctx) ? TE_SOURCE_MORE : TE_SOURCE_ERROR;
        s->next++;
    }
    if (s->idle_every > 0) {
        *idle_wait_ms = 2;
        return TE_SOURCE_IDLE;
    }
    return TE_SOURCE_MORE;
}

static void generic_dispose(void *self)
{
    free(self);
    atomic_fetch_sub(&g_live, 1);
}

static const te_operator_def_t count_src_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "count_src",
    .kind = TE_OP_SOURCE,
    .setup = count_src_setup,
    .step = count_src_step,
    .dispose = generic_dispose,
};

/* count_src's numbers as rows of one string field (ABI v3) that carry 3 bytes after
 * the string ("999", outside it by its slot): a v1/v2 head reads each as its string. */
static void *row_src_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const te_field_t f[] = {{"line", TE_TYPE_STRING, 0}};
    static const te_schema_t sc = {1, f};
    count_src_t *s = count_src_setup(api, ctx, err, errlen);
    if (s != NULL && api->set_output_schema(ctx, NULL, &sc, err, errlen) != 0) {
        free(s);
        atomic_fetch_sub(&g_live, 1);
        return NULL;
    }
    return s;
}

static te_source_status_t row_src_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    (void)idle_wait_ms;
    count_src_t *s = self;
    for (uint32_t i = 0; i < budget; i++) {
        if (s->next >= s->n)
            return TE_SOURCE_END;
        uint8_t row[64];
        int len = snprintf((char *)row + 16, 32, "%lld", (long long)(s->next * s->par + s->sub));
        uint64_t hdr = 1, slot = 16u | (uint64_t)len << 32; /* one field, not null; offset 16 */
        memcpy(row, &hdr, 8);
        memcpy(row + 8, &slot, 8);
        memcpy(row + 16 + len, "999", 3);
        te_record_t r = {row, 16u + (uint32_t)len + 3u, TE_NO_TIMESTAMP};
        if (s->api->emit(out, &r) != 0)
            return TE_SOURCE_ERROR;
        s->next++;
    }
    return TE_SOURCE_MORE;
}

static const te_operator_def_t row_src_def = {
    .abi_version = 3,
    .name = "row_src",
    .kind = TE_OP_SOURCE,
    .setup = row_src_setup,
    .step = row_src_step,
    .dispose = generic_dispose,
};

typedef struct doubler {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    long long fail_at; /* -1 = never */
    char buf[32];
} doubler_t;

static void *doubler_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    doubler_t *d = calloc(1, sizeof(*d));
    d->api = api;
    d->ctx = ctx;
    const char *f = api->param(ctx, "fail_at");
    d->fail_at = f ? atoll(f) : -1;
    atomic_fetch_add(&g_live, 1);
    return d;
}

static int doubler_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    doubler_t *d = self;
    char tmp[32];
    uint32_t l = rec->len < sizeof(tmp) - 1 ? rec->len : (uint32_t)sizeof(tmp) - 1;
    memcpy(tmp, rec->data, l);
    tmp[l] = '\0';
    long long v = atoll(tmp);
    if (v == d->fail_at) {
        (d->api->fail)(d->ctx, "cannot double %lld", v);
        return -1;
    }
    int len = snprintf(d->buf, sizeof(d->buf), "%lld", v * 2);
    te_record_t r = {(const uint8_t *)d->buf, (uint32_t)len, rec->timestamp};
    return d->api->emit(out, &r) == 0 || d->api->is_cancelled(d->ctx) ? 0 : -1;
}

static const te_operator_def_t doubler_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "doubler",
    .kind = TE_OP_ONE_INPUT,
    .setup = doubler_setup,
    .process_element = doubler_process,
    .dispose = generic_dispose,
};

/* Collecting sink: param "slot" picks a global collector. */
#define MAX_SLOTS   4
#define MAX_COLLECT 200000
typedef struct collector {
    pthread_mutex_t mu;
    long long *vals;
    size_t n;
    size_t stamped, bad_stamps; /* records with a timestamp; those whose timestamp is not half their value */
    int ended;
    int closed;
} collector_t;
static collector_t g_coll[MAX_SLOTS];

typedef struct sink {
    collector_t *c;
} sink_t;

static void *sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    const char *s = api->param(ctx, "slot");
    int slot = s ? atoi(s) : 0;
    if (slot < 0 || slot >= MAX_SLOTS) {
        snprintf(err, errlen, "parameter 'slot' = '%s' out of range", s);
        return NULL;
    }
    sink_t *k = calloc(1, sizeof(*k));
    k->c = &g_coll[slot];
    atomic_fetch_add(&g_live, 1);
    return k;
}

static int sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    (void)out;
    sink_t *k = self;
    char tmp[32];
    uint32_t l = rec->len < sizeof(tmp) - 1 ? rec->len : (uint32_t)sizeof(tmp) - 1;
    memcpy(tmp, rec->data, l);
    tmp[l] = '\0';
    long long v = atoll(tmp);
    pthread_mutex_lock(&k->c->mu);
    if (k->c->n < MAX_COLLECT)
        k->c->vals[k->c->n++] = v;
    if (rec->timestamp != TE_NO_TIMESTAMP) {
        k->c->stamped++;
        k->c->bad_stamps += rec->timestamp * 2 != v;
    }
    pthread_mutex_unlock(&k->c->mu);
    return 0;
}

static int sink_end_input(void *self, te_output_t *out)
{
    (void)out;
    sink_t *k = self;
    k->c->ended = 1;
    return 0;
}

static int sink_close(void *self, te_output_t *out)
{
    (void)out;
    sink_t *k = self;
    k->c->closed = 1;
    return 0;
}

static const te_operator_def_t sink_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "collect",
    .kind = TE_OP_ONE_INPUT,
    .setup = sink_setup,
    .process_element = sink_process,
    .end_input = sink_end_input,
    .close = sink_close,
    .dispose = generic_dispose,
};

/* Blocking source: run emits 0..n-1 (n = -1: until cancelled). */
typedef struct block_src {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    long long n;
    _Atomic int stop;
    char buf[32];
} block_src_t;

static void *block_src_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    block_src_t *b = calloc(1, sizeof(*b));
    b->api = api;
    b->ctx = ctx;
    const char *n = api->param(ctx, "n");
    b->n = n ? atoll(n) : -1;
    atomic_fetch_add(&g_live, 1);
    return b;
}

static te_source_status_t block_src_run(void *self, te_output_t *out)
{
    block_src_t *b = self;
    for (long long i = 0; b->n < 0 || i < b->n; i++) {
        if (atomic_load(&b->stop))
            return TE_SOURCE_END;
        int len = snprintf(b->buf, sizeof(b->buf), "%lld", i);
        te_record_t r = {(const uint8_t *)b->buf, (uint32_t)len, TE_NO_TIMESTAMP};
        if (b->api->emit(out, &r) != 0)
            return TE_SOURCE_END;
        if (b->n < 0)
            usleep(200);
    }
    return TE_SOURCE_END;
}

static void block_src_cancel(void *self)
{
    block_src_t *b = self;
    atomic_store(&b->stop, 1);
}

static const te_operator_def_t block_src_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "block_src",
    .kind = TE_OP_SOURCE,
    .blocking_source = 1,
    .setup = block_src_setup,
    .run = block_src_run,
    .cancel = block_src_cancel,
    .dispose = generic_dispose,
};

/* Two-input union: emits input * 1000000 + value (tags each record with its input). */
static _Atomic int g_union_inputs[2];
static void *union_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    doubler_t *d = calloc(1, sizeof(*d));
    d->api = api;
    d->ctx = ctx;
    atomic_fetch_add(&g_live, 1);
    return d;
}

static int union_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    doubler_t *d = self;
    char tmp[32];
    uint32_t l = rec->len < sizeof(tmp) - 1 ? rec->len : (uint32_t)sizeof(tmp) - 1;
    memcpy(tmp, rec->data, l);
    tmp[l] = '\0';
    if (input < 0 || input > 1)
        return -1;
    atomic_fetch_add(&g_union_inputs[input], 1);
    int len = snprintf(d->buf, sizeof(d->buf), "%lld", (long long)input * 1000000 + atoll(tmp));
    te_record_t r = {(const uint8_t *)d->buf, (uint32_t)len, rec->timestamp};
    return d->api->emit(out, &r) == 0 ? 0 : -1;
}

static const te_operator_def_t union_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "union",
    .kind = TE_OP_TWO_INPUT,
    .setup = union_setup,
    .process_element = union_process,
    .dispose = generic_dispose,
};

/* ---- fixtures ---- */

static void collectors_init(void)
{
    for (int i = 0; i < MAX_SLOTS; i++) {
        pthread_mutex_init(&g_coll[i].mu, NULL);
        g_coll[i].vals = calloc(MAX_COLLECT, sizeof(long long));
        g_coll[i].n = g_coll[i].stamped = g_coll[i].bad_stamps = 0;
        g_coll[i].ended = g_coll[i].closed = 0;
    }
    atomic_store(&g_live, 0);
}

static void collectors_free(void)
{
    for (int i = 0; i < MAX_SLOTS; i++) {
        free(g_coll[i].vals);
        pthread_mutex_destroy(&g_coll[i].mu);
    }
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static const char *const K_N[] = {"n"};
static const char *const K_SLOT[] = {"slot"};
static const char *const K_FAIL[] = {"fail_at"};
static const char *const K_N_IDLE[] = {"n", "idle_every"};
static const char *const K_N_IDLE_STAMP[] = {"n", "idle_every", "stamp"};

typedef struct task_run {
    te_stream_task_t *st;
    te_status_t rc;
    te_error_t err;
    te_task_metrics_t metrics;
    pthread_t th;
} task_run_t;

static void *task_thread(void *arg)
{
    task_run_t *r = arg;
    r->rc = stream_task_invoke(r->st, &r->err);
    return NULL;
}

static void task_start(task_run_t *r, te_stream_task_env_t *env)
{
    memset(&r->err, 0, sizeof(r->err));
    memset(&r->metrics, 0, sizeof(r->metrics));
    env->metrics = &r->metrics;
    te_error_t err = {0};
    r->st = stream_task_new(env, &err);
    ck_assert_msg(r->st != NULL, "stream_task_new: %s", err.msg);
    pthread_create(&r->th, NULL, task_thread, r);
}

#define P_MAX 2
#define C_MAX 2

/* P producers (source tasks) x C consumers (one-input tasks), all-to-all. */
typedef struct net {
    te_network_buffer_pool_t *nbp;
    te_partition_manager_t *pm;
    uint32_t p, c;
    te_id_t pid[P_MAX];
    te_result_partition_t *rp[P_MAX];
    te_record_writer_t *rw[P_MAX];
    te_input_gate_t *gate[C_MAX];
} net_t;

static void net_build(net_t *n, uint32_t p, uint32_t c, te_partitioner_kind_t kind, int flush_always)
{
    te_error_t err = {0};
    memset(n, 0, sizeof(*n));
    n->p = p;
    n->c = c;
    n->nbp = network_buffer_pool_new(64 * 4096, 4096, &err);
    ck_assert_ptr_nonnull(n->nbp);
    n->pm = partition_manager_new();
    for (uint32_t i = 0; i < p; i++) {
        n->rp[i] = harness_new_rp(n->nbp, c, c + 1, 4 * c + 2, &n->pid[i]);
        ck_assert_int_eq(partition_manager_register(n->pm, n->rp[i], &err), TE_OK);
        te_channel_selector_t *sel = channel_selector_new(kind, c, i, 0, '\t', 128, &err);
        ck_assert_msg(sel != NULL, "%s", err.msg);
        n->rw[i] = record_writer_new(n->rp[i], sel, flush_always, &err);
        ck_assert_msg(n->rw[i] != NULL, "%s", err.msg);
    }
    for (uint32_t j = 0; j < c; j++) {
        n->gate[j] = input_gate_new("consumer", 0, p, NULL, &err);
        ck_assert_msg(n->gate[j] != NULL, "%s", err.msg);
        for (uint32_t i = 0; i < p; i++)
            ck_assert_int_eq(local_input_channel_attach(n->gate[j], i, n->pm, &n->pid[i], j, &err), TE_OK);
    }
}

static void net_free(net_t *n)
{
    for (uint32_t j = 0; j < n->c; j++) {
        input_gate_close(n->gate[j]);
        input_gate_free(n->gate[j]);
    }
    for (uint32_t i = 0; i < n->p; i++) {
        record_writer_free(n->rw[i]);
        result_partition_release(n->rp[i], "test over");
        partition_manager_unregister(n->pm, &n->pid[i]);
        result_partition_unref(n->rp[i]);
    }
    partition_manager_free(n->pm);
    network_buffer_pool_free(n->nbp);
}

static te_stream_task_env_t env_base(te_invokable_t inv, const te_chain_op_config_t *chain, size_t n_chain,
                                     uint32_t sub, uint32_t par)
{
    te_stream_task_env_t e;
    memset(&e, 0, sizeof(e));
    e.task_name = "test";
    e.subtask_index = sub;
    e.parallelism = par;
    e.max_parallelism = 128;
    e.invokable = inv;
    e.chain = chain;
    e.n_chain = n_chain;
    e.buffer_timeout_ms = -1;
    e.partition_request_timeout_ms = 5000;
    return e;
}

/* ---- tests ---- */

/* P sources emitting k = i*P + sub (i < N) -> hash/rebalance -> C consumers doubling into
 * collectors; every 2k arrives exactly once; with hash, at the subtask owning k's key.
 * stamp: each k carries timestamp k, which each 2k must arrive with; else none may
 * arrive with a timestamp. */
static void run_pipeline_from(const te_operator_def_t *src, uint32_t P, uint32_t C, te_partitioner_kind_t kind,
                              long long N, int idle_every, int stamp)
{
    collectors_init();
    net_t n;
    net_build(&n, P, C, kind, 0);
    char nbuf[32], ibuf[16];
    snprintf(nbuf, sizeof(nbuf), "%lld", N);
    snprintf(ibuf, sizeof(ibuf), "%d", idle_every);
    const char *v_src[] = {nbuf, ibuf, "1"};
    te_chain_op_config_t src_chain[] = {
        {src, "Source", "u0",
         stamp        ? 3
         : idle_every ? 2
                      : 1,
         stamp        ? K_N_IDLE_STAMP
         : idle_every ? K_N_IDLE
                      : K_N,
         v_src, 0},
    };
    const char *slots[C_MAX][1] = {{"0"}, {"1"}};
    te_chain_op_config_t sink_chain[C_MAX][2];
    task_run_t prod[P_MAX], cons[C_MAX];
    for (uint32_t j = 0; j < C; j++) {
        sink_chain[j][0] = (te_chain_op_config_t){&doubler_def, "Doubler", "u1", 0, NULL, NULL, 0};
        sink_chain[j][1] = (te_chain_op_config_t){&sink_def, "Sink", "u2", 1, K_SLOT, slots[j], 0};
        te_stream_task_env_t e = env_base(TE_INVOKABLE_ONE_INPUT, sink_chain[j], 2, j, C);
        e.gates = &n.gate[j];
        e.n_gates = 1;
        task_start(&cons[j], &e);
    }
    for (uint32_t i = 0; i < P; i++) {
        te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, src_chain, 1, i, P);
        e.writers = &n.rw[i];
        e.n_writers = 1;
        task_start(&prod[i], &e);
    }
    for (uint32_t i = 0; i < P; i++) {
        pthread_join(prod[i].th, NULL);
        ck_assert_msg(prod[i].rc == TE_OK, "producer %u: %s", i, prod[i].err.msg);
        ck_assert_uint_eq(task_metrics_get(&prod[i].metrics.num_records_out), (uint64_t)N);
        ck_assert_uint_gt(task_metrics_get(&prod[i].metrics.num_bytes_out), 0);
    }
    uint64_t total_in = 0;
    for (uint32_t j = 0; j < C; j++) {
        pthread_join(cons[j].th, NULL);
        ck_assert_msg(cons[j].rc == TE_OK, "consumer %u: %s", j, cons[j].err.msg);
        ck_assert_int_eq(g_coll[j].ended, 1);
        ck_assert_int_eq(g_coll[j].closed, 1);
        total_in += task_metrics_get(&cons[j].metrics.num_records_in);
        ck_assert_uint_eq(g_coll[j].bad_stamps, 0);
        ck_assert_uint_eq(g_coll[j].stamped, stamp ? g_coll[j].n : 0);
        ck_assert_uint_eq(task_metrics_get(&cons[j].metrics.num_records_in), g_coll[j].n);
    }
    ck_assert_uint_eq(total_in, (uint64_t)N * P);

    /* independent oracle: the multiset {2k : k in [0, N*P)} */
    size_t total = 0;
    for (uint32_t j = 0; j < C; j++)
        total += g_coll[j].n;
    ck_assert_uint_eq(total, (size_t)N * P);
    long long *all = malloc(total * sizeof(long long));
    size_t at = 0;
    for (uint32_t j = 0; j < C; j++) {
        if (kind == TE__PARTITIONER__HASH) {
            for (size_t x = 0; x < g_coll[j].n; x++) {
                char key[32];
                int kl = snprintf(key, sizeof(key), "%lld", g_coll[j].vals[x] / 2);
                uint32_t kg = key_group_for_key((const uint8_t *)key, (uint32_t)kl, 128);
                ck_assert_uint_eq(key_group_operator_index(kg, 128, C), j);
            }
        }
        memcpy(all + at, g_coll[j].vals, g_coll[j].n * sizeof(long long));
        at += g_coll[j].n;
    }
    qsort(all, total, sizeof(long long), cmp_ll);
    for (size_t x = 0; x < total; x++)
        ck_assert_int_eq(all[x], (long long)(2 * x));
    free(all);

    for (uint32_t i = 0; i < P; i++)
        stream_task_free(prod[i].st);
    for (uint32_t j = 0; j < C; j++)
        stream_task_free(cons[j].st);
    net_free(&n);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}

static void run_pipeline(uint32_t P, uint32_t C, te_partitioner_kind_t kind, long long N, int idle_every)
{
    run_pipeline_from(&count_src_def, P, C, kind, N, idle_every, 0);
}

START_TEST(test_source_to_sink) { run_pipeline(1, 1, TE__PARTITIONER__FORWARD, 20000, 0); }
END_TEST

/* Rows whose string does not end the row reach a v1/v2 head as their string only. */
START_TEST(test_text_head_reads_the_string_slot)
{
    run_pipeline_from(&row_src_def, 1, 1, TE__PARTITIONER__FORWARD, 20000, 0, 0);
}
END_TEST

/* Text records with timestamps keep them through the source's and the doubler's writers
 * (each a chain tail writing its fixed channel's open buffer) and the channels. */
START_TEST(test_text_timestamps_cross_channels)
{
    run_pipeline_from(&count_src_def, 1, 1, TE__PARTITIONER__FORWARD, 20000, 0, 1);
    run_pipeline_from(&count_src_def, 2, 2, TE__PARTITIONER__HASH, 10000, 0, 1);
}
END_TEST

START_TEST(test_parallel_hash) { run_pipeline(2, 2, TE__PARTITIONER__HASH, 10000, 0); }
END_TEST

START_TEST(test_idle_source) { run_pipeline(1, 1, TE__PARTITIONER__FORWARD, 300, 25); }
END_TEST

/* Two sources, each into its own gate (input 0 and 1) of a TwoInputStreamTask. */
START_TEST(test_two_input)
{
    collectors_init();
    atomic_store(&g_union_inputs[0], 0);
    atomic_store(&g_union_inputs[1], 0);
    te_error_t err = {0};
    net_t a, b; /* one producer / one consumer each; gates rebuilt with input indexes */
    net_build(&a, 1, 1, TE__PARTITIONER__FORWARD, 0);
    net_build(&b, 1, 1, TE__PARTITIONER__FORWARD, 0);
    input_gate_free(b.gate[0]);
    b.gate[0] = input_gate_new("consumer", 1, 1, NULL, &err);
    ck_assert_ptr_nonnull(b.gate[0]);
    ck_assert_int_eq(local_input_channel_attach(b.gate[0], 0, b.pm, &b.pid[0], 0, &err), TE_OK);
    const char *v_a[] = {"3000"}, *v_b[] = {"2000"};
    te_chain_op_config_t ca[] = {{&count_src_def, "A", "u0", 1, K_N, v_a, 0}};
    te_chain_op_config_t cb[] = {{&count_src_def, "B", "u1", 1, K_N, v_b, 0}};
    te_chain_op_config_t cu[] = {
        {&union_def, "Union", "u2", 0, NULL, NULL, 0},
        {&sink_def, "Sink", "u3", 1, K_SLOT, (const char *const[]){"0"}, 0},
    };
    te_input_gate_t *gates[2] = {b.gate[0], a.gate[0]}; /* order does not matter: index does */
    task_run_t ta, tb, tu;
    te_stream_task_env_t eu = env_base(TE_INVOKABLE_TWO_INPUT, cu, 2, 0, 1);
    eu.gates = gates;
    eu.n_gates = 2;
    task_start(&tu, &eu);
    te_stream_task_env_t ea = env_base(TE_INVOKABLE_SOURCE, ca, 1, 0, 1);
    ea.writers = &a.rw[0];
    ea.n_writers = 1;
    task_start(&ta, &ea);
    te_stream_task_env_t eb = env_base(TE_INVOKABLE_SOURCE, cb, 1, 0, 1);
    eb.writers = &b.rw[0];
    eb.n_writers = 1;
    task_start(&tb, &eb);
    pthread_join(ta.th, NULL);
    pthread_join(tb.th, NULL);
    pthread_join(tu.th, NULL);
    ck_assert_msg(ta.rc == TE_OK && tb.rc == TE_OK, "%s %s", ta.err.msg, tb.err.msg);
    ck_assert_msg(tu.rc == TE_OK, "%s", tu.err.msg);
    ck_assert_int_eq(atomic_load(&g_union_inputs[0]), 3000);
    ck_assert_int_eq(atomic_load(&g_union_inputs[1]), 2000);
    ck_assert_uint_eq(g_coll[0].n, 5000);
    qsort(g_coll[0].vals, g_coll[0].n, sizeof(long long), cmp_ll);
    for (size_t x = 0; x < 3000; x++)
        ck_assert_int_eq(g_coll[0].vals[x], (long long)x);
    for (size_t x = 0; x < 2000; x++)
        ck_assert_int_eq(g_coll[0].vals[3000 + x], 1000000 + (long long)x);
    stream_task_free(ta.st);
    stream_task_free(tb.st);
    stream_task_free(tu.st);
    net_free(&a);
    net_free(&b);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

START_TEST(test_operator_failure)
{
    collectors_init();
    const char *v_n[] = {"1000"};
    const char *v_f[] = {"50"};
    te_chain_op_config_t chain[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_n, 0},
        {&doubler_def, "Doubler", "u1", 1, K_FAIL, v_f, 0},
        {&sink_def, "Sink", "u2", 1, K_SLOT, (const char *const[]){"0"}, 0},
    };
    task_run_t r;
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 3, 0, 1);
    task_start(&r, &e);
    pthread_join(r.th, NULL);
    ck_assert_int_ne(r.rc, TE_OK);
    ck_assert_int_ne(r.rc, TE_ECANCELED);
    ck_assert_msg(strstr(r.err.msg, "operator 'Doubler' (#1)") != NULL, "%s", r.err.msg);
    ck_assert_msg(strstr(r.err.msg, "cannot double 50") != NULL, "%s", r.err.msg);
    ck_assert_uint_eq(g_coll[0].n, 50); /* records before the failing one went through */
    ck_assert_int_eq(g_coll[0].closed, 0);
    stream_task_free(r.st);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

START_TEST(test_cancel_unbounded_source)
{
    collectors_init();
    const char *v_n[] = {"-1"};
    te_chain_op_config_t chain[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_n, 0},
        {&doubler_def, "Doubler", "u1", 0, NULL, NULL, 0},
    };
    task_run_t r;
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 2, 0, 1);
    task_start(&r, &e);
    usleep(50 * 1000);
    stream_task_cancel(r.st);
    stream_task_cancel(r.st); /* idempotent */
    pthread_join(r.th, NULL);
    ck_assert_int_eq(r.rc, TE_ECANCELED);
    stream_task_free(r.st);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

/* Unbounded source over the network into a consumer; both cancelled. */
START_TEST(test_cancel_pipeline)
{
    collectors_init();
    net_t n;
    net_build(&n, 1, 1, TE__PARTITIONER__FORWARD, 1);
    const char *v_n[] = {"-1"};
    te_chain_op_config_t src_chain[] = {{&count_src_def, "Source", "u0", 1, K_N, v_n, 0}};
    te_chain_op_config_t sink_chain[] = {{&sink_def, "Sink", "u2", 1, K_SLOT, (const char *const[]){"0"}, 0}};
    task_run_t prod, cons;
    te_stream_task_env_t ec = env_base(TE_INVOKABLE_ONE_INPUT, sink_chain, 1, 0, 1);
    ec.gates = &n.gate[0];
    ec.n_gates = 1;
    task_start(&cons, &ec);
    te_stream_task_env_t ep = env_base(TE_INVOKABLE_SOURCE, src_chain, 1, 0, 1);
    ep.writers = &n.rw[0];
    ep.n_writers = 1;
    ep.buffer_timeout_ms = 0;
    task_start(&prod, &ep);
    usleep(100 * 1000);
    stream_task_cancel(prod.st);
    /* what the task layer does on cancel: wake a producer blocked on a buffer */
    local_buffer_pool_cancel(result_partition_pool(n.rp[0]));
    pthread_join(prod.th, NULL);
    ck_assert_int_eq(prod.rc, TE_ECANCELED);
    stream_task_cancel(cons.st);
    pthread_join(cons.th, NULL);
    ck_assert_int_eq(cons.rc, TE_ECANCELED);
    ck_assert_uint_gt(g_coll[0].n, 0);
    /* received in order, without gaps or duplicates */
    for (size_t x = 0; x < g_coll[0].n; x++)
        ck_assert_int_eq(g_coll[0].vals[x], (long long)x);
    stream_task_free(prod.st);
    stream_task_free(cons.st);
    net_free(&n);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

START_TEST(test_blocking_source_ends)
{
    collectors_init();
    const char *v_n[] = {"5000"};
    te_chain_op_config_t chain[] = {
        {&block_src_def, "Socket", "u0", 1, K_N, v_n, 0},
        {&doubler_def, "Doubler", "u1", 0, NULL, NULL, 0},
        {&sink_def, "Sink", "u2", 1, K_SLOT, (const char *const[]){"0"}, 0},
    };
    task_run_t r;
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 3, 0, 1);
    task_start(&r, &e);
    pthread_join(r.th, NULL);
    ck_assert_msg(r.rc == TE_OK, "%s", r.err.msg);
    ck_assert_uint_eq(g_coll[0].n, 5000);
    for (size_t x = 0; x < 5000; x++)
        ck_assert_int_eq(g_coll[0].vals[x], (long long)(2 * x));
    ck_assert_int_eq(g_coll[0].ended, 1);
    ck_assert_int_eq(g_coll[0].closed, 1);
    stream_task_free(r.st);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

START_TEST(test_blocking_source_cancel)
{
    collectors_init();
    const char *v_n[] = {"-1"};
    te_chain_op_config_t chain[] = {
        {&block_src_def, "Socket", "u0", 1, K_N, v_n, 0},
        {&sink_def, "Sink", "u2", 1, K_SLOT, (const char *const[]){"0"}, 0},
    };
    task_run_t r;
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 2, 0, 1);
    task_start(&r, &e);
    usleep(50 * 1000);
    stream_task_cancel(r.st);
    pthread_join(r.th, NULL);
    ck_assert_int_eq(r.rc, TE_ECANCELED);
    ck_assert_int_eq(g_coll[0].closed, 0);
    stream_task_free(r.st);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

START_TEST(test_cancel_before_invoke)
{
    collectors_init();
    const char *v_n[] = {"-1"};
    te_chain_op_config_t chain[] = {{&count_src_def, "Source", "u0", 1, K_N, v_n, 0}};
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 1, 0, 1);
    te_error_t err = {0};
    te_stream_task_t *st = stream_task_new(&e, &err);
    ck_assert_ptr_nonnull(st);
    stream_task_cancel(st);
    ck_assert_int_eq(stream_task_invoke(st, &err), TE_ECANCELED);
    stream_task_free(st);
    ck_assert_int_eq(atomic_load(&g_live), 0);
    collectors_free();
}
END_TEST

/* A source that ends at once after recording what the job configuration says. */
static char g_seen_config[64];

static void *config_src_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    const char *v = api->job_config(ctx, "pipeline.auto-watermark-interval");
    const char *none = api->job_config(ctx, "no.such.key");
    snprintf(g_seen_config, sizeof(g_seen_config), "%s|%s", v ? v : "(null)", none ? none : "(null)");
    static int token;
    return &token;
}

static te_source_status_t config_src_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle)
{
    (void)self, (void)out, (void)budget, (void)idle;
    return TE_SOURCE_END;
}

static const te_operator_def_t config_src_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "ConfigSource",
    .kind = TE_OP_SOURCE,
    .setup = config_src_setup,
    .step = config_src_step,
};

START_TEST(test_job_config_reaches_operators)
{
    te_chain_op_config_t chain[] = {{&config_src_def, "ConfigSource", "u0", 0, NULL, NULL, 0}};
    te_stream_task_env_t e = env_base(TE_INVOKABLE_SOURCE, chain, 1, 0, 1);
    const char *keys[] = {"execution.buffer-timeout", "pipeline.auto-watermark-interval"};
    const char *vals[] = {"5ms", "750ms"};
    e.config_keys = keys;
    e.config_values = vals;
    e.n_config = 2;
    te_error_t err = {0};
    te_stream_task_t *st = stream_task_new(&e, &err);
    ck_assert_ptr_nonnull(st);
    ck_assert_int_eq(stream_task_invoke(st, &err), TE_OK);
    stream_task_free(st);
    ck_assert_str_eq(g_seen_config, "750ms|(null)");
}
END_TEST

START_TEST(test_validate_chain)
{
    atomic_store(&g_live, 0);
    te_error_t err = {0};
    const char *v_n[] = {"10"};
    const char *v_bad[] = {"ten"};
    te_chain_op_config_t ok[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_n, 0},
        {&doubler_def, "Doubler", "u1", 0, NULL, NULL, 0},
    };
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, ok, 2, 0, 1, 128, &err), TE_OK);
    ck_assert_int_eq(atomic_load(&g_live), 0); /* set up, then disposed */

    /* a source heading a one-input task */
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_ONE_INPUT, ok, 2, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Source' (#0)") != NULL, "%s", err.msg);
    /* a one-input operator heading a source task */
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, ok + 1, 1, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Doubler' (#0)") != NULL, "%s", err.msg);

    /* a source not at the head */
    te_chain_op_config_t two_src[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_n, 0},
        {&count_src_def, "Source2", "u1", 1, K_N, v_n, 0},
    };
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, two_src, 2, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Source2' (#1)") != NULL, "%s", err.msg);

    /* bad and missing parameters: setup rejects them, earlier operators are disposed */
    te_chain_op_config_t bad[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_bad, 0},
    };
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, bad, 1, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Source' (#0)") && strstr(err.msg, "'ten'"), "%s", err.msg);
    te_chain_op_config_t bad_sink[] = {
        {&count_src_def, "Source", "u0", 1, K_N, v_n, 0},
        {&sink_def, "Sink", "u1", 1, K_SLOT, (const char *const[]){"9"}, 0},
    };
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, bad_sink, 2, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Sink' (#1)") && strstr(err.msg, "slot"), "%s", err.msg);
    ck_assert_int_eq(atomic_load(&g_live), 0);

    /* missing definition, wrong ABI, empty chain */
    te_chain_op_config_t nodef[] = {{NULL, "Ghost", "u0", 0, NULL, NULL, 0}};
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, nodef, 1, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "'Ghost' (#0)") != NULL, "%s", err.msg);
    te_operator_def_t wrong = doubler_def;
    wrong.abi_version = 99;
    te_chain_op_config_t wrong_abi[] = {{&wrong, "Old", "u0", 0, NULL, NULL, 0}};
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_ONE_INPUT, wrong_abi, 1, 0, 1, 128, &err), TE_EINVAL);
    ck_assert_msg(strstr(err.msg, "ABI") != NULL, "%s", err.msg);
    ck_assert_int_eq(stream_task_validate_chain(TE_INVOKABLE_SOURCE, ok, 0, 0, 1, 128, &err), TE_EINVAL);
}
END_TEST

/* The inline record view agrees with decode on records and declines everything else. */
static void check_record_view(const uint8_t *data, uint32_t len)
{
    te_stream_element_t e;
    const uint8_t *payload = NULL;
    uint32_t plen = 0;
    int64_t ts = 0;
    int is_rec = stream_element_decode(data, len, &e) == 0 && (e.tag == TE_SE_RECORD || e.tag == TE_SE_RECORD_TS);
    ck_assert_int_eq(stream_element_record_view(data, len, &payload, &plen, &ts), is_rec);
    if (is_rec) {
        ck_assert_ptr_eq(payload, e.payload);
        ck_assert_uint_eq(plen, e.payload_len);
        ck_assert_int_eq(ts, e.timestamp);
    }
}

/* ---- stream status on a chain's one writer ---- */

/* A v2 operator: "idle" / "active" mark its output so, anything else is emitted. */
typedef struct idler {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
} idler_t;

static void *idler_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    idler_t *o = calloc(1, sizeof(*o));
    o->api = api;
    o->ctx = ctx;
    return o;
}

static int idler_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    idler_t *o = self;
    if (rec->len == 4 && memcmp(rec->data, "idle", 4) == 0)
        o->api->mark_idle(o->ctx, 1);
    else if (rec->len == 6 && memcmp(rec->data, "active", 6) == 0)
        o->api->mark_idle(o->ctx, 0);
    else
        return o->api->emit(out, rec);
    return 0;
}

static const te_operator_def_t idler_def = {
    .abi_version = 2,
    .name = "idler",
    .kind = TE_OP_ONE_INPUT,
    .setup = idler_setup,
    .process_element = idler_process,
    .dispose = free,
};

/* A record after the output went idle goes out after an ACTIVE status, whichever path
 * the writer takes (the inline one to a forward channel, with and without timestamps). */
START_TEST(test_record_after_idle_reactivates)
{
    te_error_t err = {0};
    te_network_buffer_pool_t *arena = network_buffer_pool_new(16 * 4096, 4096, &err);
    ck_assert_msg(arena != NULL, "%s", err.msg);
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 8, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    ck_assert_msg(sel != NULL, "%s", err.msg);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    ck_assert_msg(rw != NULL, "%s", err.msg);
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){0}, &err);
    ck_assert_msg(v != NULL, "%s", err.msg);
    te_chain_op_config_t ops[] = {{&idler_def, "Idler", "u0", 0, NULL, NULL, 0}};
    te_operator_chain_config_t cfg = {.task_name = "t",
                                      .subtask_index = 0,
                                      .parallelism = 1,
                                      .max_parallelism = 128,
                                      .ops = ops,
                                      .n_ops = 1,
                                      .writers = &rw,
                                      .n_writers = 1};
    te_operator_chain_t *c = operator_chain_new(&cfg, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_msg(operator_chain_open(c, &err) == TE_OK, "%s", err.msg);
    static const char *const in[] = {"a", "idle", "b", "idle", "c", "active", "idle", "idle", "d"};
    te_row_builder_t b = {0};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) { /* rows of one string field */
        te_record_t r;
        ck_assert_int_eq(te_row_builder_begin(&b, 1), 0);
        te_row_set_str(&b, 0, in[i], (uint32_t)strlen(in[i]));
        ck_assert_int_eq(te_row_builder_finish(&b, i == 4 ? 40 : TE_NO_TIMESTAMP, &r), 0);
        ck_assert_msg(operator_chain_process_element(c, 0, &r, &err) == TE_OK, "%s", err.msg);
    }
    te_row_builder_free(&b);
    record_writer_flush_all(rw);
    te_record_deserializer_t *d = record_deserializer_new(1u << 20);
    char got[256] = "";
    te_buffer_slice_t sl;
    while (subpartition_view_poll(v, &sl, NULL)) {
        if (sl.type == TE_BUFFER_EVENT) {
            buffer_recycle(sl.buf);
            continue;
        }
        record_deserializer_set_next(d, sl);
        const uint8_t *data;
        uint32_t len;
        while (record_deserializer_next(d, &data, &len) == TE_DES_RECORD) {
            te_stream_element_t e;
            ck_assert_int_eq(stream_element_decode(data, len, &e), 0);
            char one[64];
            if (e.tag == TE_SE_RECORD || e.tag == TE_SE_RECORD_TS) {
                te_record_t row = {e.payload, e.payload_len, e.timestamp}, text;
                const te_record_t *t = operator_chain_text_view(&row, &text);
                snprintf(one, sizeof(one), "%.*s ", (int)t->len, (const char *)t->data);
            } else {
                ck_assert_int_eq(e.tag, TE_SE_STREAM_STATUS);
                snprintf(one, sizeof(one), "%s ", e.idle ? "IDLE" : "ACTIVE");
            }
            strncat(got, one, sizeof(got) - strlen(got) - 1);
        }
    }
    ck_assert_str_eq(got, "a IDLE ACTIVE b IDLE ACTIVE c IDLE ACTIVE d ");
    record_deserializer_free(d);
    operator_chain_free(c);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
    network_buffer_pool_free(arena);
}
END_TEST

START_TEST(test_stream_element_record_view)
{
    uint8_t el[TE_SE_MAX_HEADER + 4];
    static const int64_t stamps[] = {TE_NO_TIMESTAMP, -5, 0, 0x0102030405060708LL, INT64_MAX};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        uint32_t n = stream_element_record_header(el, stamps[i]);
        memcpy(el + n, "abc", 3);
        for (uint32_t l = 0; l <= n + 3; l++)
            check_record_view(el, l);
    }
    check_record_view(el, stream_element_watermark_header(el, 7));
    check_record_view(el, stream_element_latency_marker_header(el, 77, 3));
    check_record_view(el, stream_element_status_header(el, 1));
}
END_TEST

START_TEST(test_stream_element_codec)
{
    uint8_t hdr[TE_SE_MAX_HEADER + 4];
    te_stream_element_t e;
    uint32_t n = stream_element_record_header(hdr, TE_NO_TIMESTAMP);
    memcpy(hdr + n, "abc", 3);
    ck_assert_int_eq(stream_element_decode(hdr, n + 3, &e), 0);
    ck_assert_int_eq(e.tag, TE_SE_RECORD);
    ck_assert_uint_eq(e.payload_len, 3);
    ck_assert_int_eq(memcmp(e.payload, "abc", 3), 0);
    n = stream_element_record_header(hdr, -5);
    ck_assert_uint_eq(n, 9);
    ck_assert_int_eq(stream_element_decode(hdr, n, &e), 0);
    ck_assert_int_eq(e.tag, TE_SE_RECORD_TS);
    ck_assert_int_eq(e.timestamp, -5);
    ck_assert_uint_eq(e.payload_len, 0);
    n = stream_element_watermark_header(hdr, 0x0102030405060708LL);
    ck_assert_int_eq(hdr[1], 1);
    ck_assert_int_eq(hdr[8], 8);
    ck_assert_int_eq(stream_element_decode(hdr, n, &e), 0);
    ck_assert_int_eq(e.watermark, 0x0102030405060708LL);
    ck_assert_int_eq(stream_element_decode(hdr, n - 1, &e), -1);
    n = stream_element_latency_marker_header(hdr, 77, 3);
    ck_assert_int_eq(stream_element_decode(hdr, n, &e), 0);
    ck_assert_int_eq(e.marked_time, 77);
    ck_assert_uint_eq(e.subtask_index, 3);
    n = stream_element_status_header(hdr, 1);
    ck_assert_int_eq(stream_element_decode(hdr, n, &e), 0);
    ck_assert_int_eq(e.idle, 1);
    hdr[1] = 7;
    ck_assert_int_eq(stream_element_decode(hdr, n, &e), -1);
    hdr[0] = 99;
    ck_assert_int_eq(stream_element_decode(hdr, 1, &e), -1);
    ck_assert_int_eq(stream_element_decode(hdr, 0, &e), -1);
}
END_TEST

START_TEST(test_watermark_valve)
{
    te_watermark_valve_t *v = watermark_valve_new(3);
    int64_t wm = 0;
    ck_assert_int_eq(watermark_valve_input_watermark(v, 0, 10, &wm), 0);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 1, 20, &wm), 0);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 2, 5, &wm), TE_VALVE_WATERMARK);
    ck_assert_int_eq(wm, 5);
    /* channel 2 goes idle: it no longer holds the watermark back */
    ck_assert_int_eq(watermark_valve_input_status(v, 2, 1, &wm), TE_VALVE_WATERMARK);
    ck_assert_int_eq(wm, 10);
    /* watermarks of an idle channel are ignored; no regression */
    ck_assert_int_eq(watermark_valve_input_watermark(v, 2, 1, &wm), 0);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 0, 30, &wm), TE_VALVE_WATERMARK);
    ck_assert_int_eq(wm, 20);
    /* back to active behind the output: does not pull it back, joins once caught up */
    ck_assert_int_eq(watermark_valve_input_status(v, 2, 0, &wm), 0);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 1, 40, &wm), TE_VALVE_WATERMARK);
    ck_assert_int_eq(wm, 30);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 2, 35, &wm), 0);
    ck_assert_int_eq(watermark_valve_input_watermark(v, 0, 50, &wm), TE_VALVE_WATERMARK);
    ck_assert_int_eq(wm, 35);
    /* all idle: flush the max and report IDLE; one active again: ACTIVE */
    watermark_valve_input_status(v, 0, 1, &wm);
    watermark_valve_input_status(v, 1, 1, &wm);
    int f = watermark_valve_input_status(v, 2, 1, &wm);
    ck_assert_int_eq(f, TE_VALVE_WATERMARK | TE_VALVE_STATUS_IDLE);
    ck_assert_int_eq(wm, 50);
    ck_assert_int_eq(watermark_valve_is_idle(v), 1);
    ck_assert_int_eq(watermark_valve_input_status(v, 1, 0, &wm), TE_VALVE_STATUS_ACTIVE);
    ck_assert_int_eq(watermark_valve_current(v), 50);
    watermark_valve_free(v);
}
END_TEST

Suite *stream_task_suite(void)
{
    Suite *s = suite_create("stream_task");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_source_to_sink);
    tcase_add_test(tc, test_text_head_reads_the_string_slot);
    tcase_add_test(tc, test_text_timestamps_cross_channels);
    tcase_add_test(tc, test_parallel_hash);
    tcase_add_test(tc, test_idle_source);
    tcase_add_test(tc, test_two_input);
    suite_add_tcase(s, tc);
    TCase *tf = tcase_create("failure_cancel");
    tcase_set_timeout(tf, 30);
    tcase_add_test(tf, test_operator_failure);
    tcase_add_test(tf, test_cancel_unbounded_source);
    tcase_add_test(tf, test_cancel_pipeline);
    tcase_add_test(tf, test_blocking_source_ends);
    tcase_add_test(tf, test_blocking_source_cancel);
    tcase_add_test(tf, test_cancel_before_invoke);
    tcase_add_test(tf, test_job_config_reaches_operators);
    suite_add_tcase(s, tf);
    TCase *tv = tcase_create("validate");
    tcase_set_timeout(tv, 10);
    tcase_add_test(tv, test_validate_chain);
    tcase_add_test(tv, test_stream_element_codec);
    tcase_add_test(tv, test_stream_element_record_view);
    tcase_add_test(tv, test_watermark_valve);
    tcase_add_test(tv, test_record_after_idle_reactivates);
    suite_add_tcase(s, tv);
    return s;
}
