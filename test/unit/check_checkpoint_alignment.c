/*
 * Unit tests: a one-input stream task aligning checkpoint barriers over the real shuffle
 * (network buffer pool, two result partitions, an input gate with two local channels),
 * driven record by record from the test thread:
 *
 *   - an alignment aborted by the coordinator while the task sleeps (the blocked
 *     channel holds data, the other has nothing, so the default action is suspended)
 *     resumes the blocked channel and wakes the task: the records behind the barrier
 *     are processed, a later checkpoint completes and the task finishes (before the
 *     fix the task slept for ever: the abort mail re-queued the channel silently);
 *   - the same abort when the task never suspended (it is woken by new data) changes
 *     nothing;
 *   - input stall reports (taskmanager.task.input-stall-threshold): an alignment whose
 *     blocked channel holds data while the barrier of the other never comes is
 *     reported once (metrics + a WARN naming the checkpoint and the channel waited
 *     on) and cleared when the barrier arrives; a channel queued in the gate without
 *     its wake-up (a fake channel that drops the notifier, as the fixed bug did) is
 *     reported and the task polls it again.
 *
 * Oracles: the count of records the task took in (its metrics) against the count the
 * test wrote, and the acknowledgements the task reported.
 *
 * Threading: the test thread writes into the partitions and sends mails; the task runs
 * on its own thread (Check's fork mode isolates each case).
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "shuffle/buffer.h"
#include "runtime/stream_element.h"
#include "runtime/stream_task.h"
#include "shuffle/channel_selector.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_input_channel.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"
#include "te/operator.h"

#include "harness_shuffle.h"

/* ---- a sink that drops everything (the task's metrics count what it took in) ---- */

static void *drop_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)api, (void)ctx, (void)err, (void)errlen;
    return calloc(1, 1);
}

static int drop_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)self, (void)input, (void)rec, (void)out;
    return 0;
}

static const te_operator_def_t drop_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "drop",
    .kind = TE_OP_ONE_INPUT,
    .setup = drop_setup,
    .process_element = drop_process,
    .dispose = free,
};

/* ---- checkpoint reports (task thread -> test thread) ---- */

static pthread_mutex_t rmu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t acked[16], declined[16];
static int n_acked, n_declined;

static void on_report(void *arg, const te_checkpoint_report_t *r)
{
    (void)arg;
    pthread_mutex_lock(&rmu);
    if (r->declined && n_declined < 16)
        declined[n_declined++] = r->checkpoint_id;
    else if (!r->declined && n_acked < 16)
        acked[n_acked++] = r->checkpoint_id;
    pthread_mutex_unlock(&rmu);
}

static int acked_count(void)
{
    pthread_mutex_lock(&rmu);
    int n = n_acked;
    pthread_mutex_unlock(&rmu);
    return n;
}

/* ---- the fixture: 2 producers' partitions -> one gate -> the task ---- */

typedef struct rig {
    te_network_buffer_pool_t *nbp;
    te_partition_manager_t *pm;
    te_id_t pid[2];
    te_result_partition_t *rp[2];
    te_record_writer_t *rw[2];
    te_input_gate_t *gate;
    struct fake_channel *fake; /* channel 1 when rig_start(..., fake = 1) */
    char dir[64];
    te_subtask_ckpt_config_t ckpt;
    te_chain_op_config_t chain[1];
    te_task_metrics_t metrics;
    te_stream_task_t *st;
    pthread_t th;
    _Atomic int tid;
    te_status_t rc;
    te_error_t err;
} rig_t;

/* ---- a channel that is queued without waking the task (a lost wake-up) ---- */

typedef struct fake_channel {
    pthread_mutex_t mu;
    te_buffer_slice_t q[8];
    int n;
} fake_channel_t;

static te_status_t fake_request(void *ch, te_error_t *err)
{
    (void)ch, (void)err;
    return TE_OK;
}

static int fake_poll(void *ch, te_buffer_slice_t *out)
{
    fake_channel_t *f = ch;
    pthread_mutex_lock(&f->mu);
    int got = f->n > 0;
    if (got) {
        *out = f->q[0];
        memmove(f->q, f->q + 1, (size_t)(f->n - 1) * sizeof(f->q[0]));
        f->n--;
    }
    pthread_mutex_unlock(&f->mu);
    return got;
}

static int fake_failure(void *ch, char *cause, size_t len)
{
    (void)ch, (void)cause, (void)len;
    return 0;
}

static void fake_release(void *ch)
{
    fake_channel_t *f = ch;
    for (int i = 0; i < f->n; i++)
        buffer_recycle(f->q[i].buf);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static int fake_has_data(void *ch)
{
    fake_channel_t *f = ch;
    pthread_mutex_lock(&f->mu);
    int has = f->n > 0;
    pthread_mutex_unlock(&f->mu);
    return has;
}

static const te_input_channel_ops_t fake_ops = {
    .request = fake_request,
    .poll = fake_poll,
    .failure = fake_failure,
    .release = fake_release,
    .has_data = fake_has_data,
};

/* One serialized record (u32 BE length | element header | text) into the fake channel. */
static void fake_push_record(fake_channel_t *f, const char *text)
{
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, TE_NO_TIMESTAMP);
    uint32_t tl = (uint32_t)strlen(text), len = hl + tl;
    te_buffer_t *b = buffer_new_unpooled(4 + len);
    ck_assert_ptr_nonnull(b);
    b->data[0] = (uint8_t)(len >> 24), b->data[1] = (uint8_t)(len >> 16);
    b->data[2] = (uint8_t)(len >> 8), b->data[3] = (uint8_t)len;
    memcpy(b->data + 4, hdr, hl);
    memcpy(b->data + 4 + hl, text, tl);
    atomic_store(&b->committed, 4 + len);
    pthread_mutex_lock(&f->mu);
    f->q[f->n++] = (te_buffer_slice_t){b, 0, 4 + len, TE_BUFFER_DATA};
    pthread_mutex_unlock(&f->mu);
}

static void *rig_thread(void *arg)
{
    rig_t *r = arg;
    atomic_store(&r->tid, (int)syscall(SYS_gettid));
    r->rc = stream_task_invoke(r->st, &r->err);
    return NULL;
}

static void rig_start(rig_t *r, int64_t stall_threshold_ms, int fake)
{
    te_error_t err = {0};
    memset(r, 0, sizeof(*r));
    n_acked = n_declined = 0;
    r->nbp = network_buffer_pool_new(64 * 4096, 4096, &err);
    ck_assert_ptr_nonnull(r->nbp);
    r->pm = partition_manager_new();
    r->gate = input_gate_new("aligner-test", 0, 2, NULL, &err);
    ck_assert_ptr_nonnull(r->gate);
    for (int i = 0; i < 2; i++) {
        r->rp[i] = harness_new_rp(r->nbp, 1, 2, 8, &r->pid[i]);
        ck_assert_int_eq(partition_manager_register(r->pm, r->rp[i], &err), TE_OK);
        te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
        r->rw[i] = record_writer_new(r->rp[i], sel, 1, &err); /* flush every record */
        ck_assert_ptr_nonnull(r->rw[i]);
        if (i == 1 && fake) {
            r->fake = calloc(1, sizeof(*r->fake));
            pthread_mutex_init(&r->fake->mu, NULL);
            ck_assert_int_eq(input_gate_set_channel(r->gate, 1, &fake_ops, r->fake, &err), TE_OK);
        } else {
            ck_assert_int_eq(local_input_channel_attach(r->gate, (uint32_t)i, r->pm, &r->pid[i], 0, &err), TE_OK);
        }
    }
    snprintf(r->dir, sizeof(r->dir), "/tmp/te-unit-align.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    r->ckpt = (te_subtask_ckpt_config_t){
        .task_name = "aligner-test",
        .dir = r->dir,
        .job_id_hex = "00000000000000000000000000000001",
        .vertex_id_hex = "00000000000000000000000000000002",
        .subtask_index = 0,
        .parallelism = 1,
        .max_parallelism = 128,
        .report = on_report,
    };
    r->chain[0] = (te_chain_op_config_t){&drop_def, "Drop", "u0", 0, NULL, NULL, 0};
    te_stream_task_env_t e;
    memset(&e, 0, sizeof(e));
    e.task_name = "aligner-test";
    e.parallelism = 1;
    e.max_parallelism = 128;
    e.invokable = TE_INVOKABLE_ONE_INPUT;
    e.chain = r->chain;
    e.n_chain = 1;
    e.buffer_timeout_ms = -1;
    e.partition_request_timeout_ms = 5000;
    e.input_stall_threshold_ms = stall_threshold_ms;
    e.gates = &r->gate;
    e.n_gates = 1;
    e.metrics = &r->metrics;
    e.checkpoint = &r->ckpt;
    r->st = stream_task_new(&e, &err);
    ck_assert_msg(r->st != NULL, "stream_task_new: %s", err.msg);
    pthread_create(&r->th, NULL, rig_thread, r);
}

static void rig_finish(rig_t *r)
{
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(record_writer_finish(r->rw[i]), TE_OK);
    if (r->fake != NULL)
        stream_task_cancel(r->st); /* the fake channel never ends */
    pthread_join(r->th, NULL);
    if (r->fake != NULL)
        ck_assert_int_eq(r->rc, TE_ECANCELED);
    else
        ck_assert_msg(r->rc == TE_OK, "task: %s", r->err.msg);
    stream_task_free(r->st);
    input_gate_close(r->gate);
    input_gate_free(r->gate);
    for (int i = 0; i < 2; i++) {
        record_writer_free(r->rw[i]);
        partition_manager_unregister(r->pm, &r->pid[i]);
        result_partition_unref(r->rp[i]);
    }
    partition_manager_free(r->pm);
    ck_assert_uint_eq(network_buffer_pool_available_segments(r->nbp), network_buffer_pool_total_segments(r->nbp));
    network_buffer_pool_free(r->nbp);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", r->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void emit(rig_t *r, int ch, const char *text)
{
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, TE_NO_TIMESTAMP);
    ck_assert_int_eq(record_writer_emit(r->rw[ch], hdr, hl, (const uint8_t *)text, (uint32_t)strlen(text)), TE_OK);
}

static void barrier(rig_t *r, int ch, uint64_t id)
{
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, id, (uint64_t)te_clock_wall_ms(), 0};
    ck_assert_int_eq(record_writer_broadcast_event(r->rw[ch], &ev), TE_OK);
}

/* Waits (10 s at most: far beyond what any of these steps takes) until the task took
 * `n` records in. Returns the count reached. */
static uint64_t wait_records_in(rig_t *r, uint64_t n)
{
    int64_t end = te_clock_mono_ms() + 10000;
    uint64_t got;
    while ((got = task_metrics_get(&r->metrics.num_records_in)) < n && te_clock_mono_ms() < end)
        usleep(1000);
    return got;
}

/* 1 when the task thread sleeps (state S in /proc) on several looks in a row: with all
 * its input consumed, that is the mailbox wait of a suspended default action. */
static int task_sleeping(rig_t *r)
{
    for (int look = 0; look < 5; look++) {
        char path[64], buf[256];
        snprintf(path, sizeof(path), "/proc/self/task/%d/stat", atomic_load(&r->tid));
        FILE *f = fopen(path, "r");
        if (f == NULL)
            return 0;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *p = strrchr(buf, ')');
        if (p == NULL || p[1] != ' ' || p[2] != 'S')
            return 0;
        usleep(2000);
    }
    return 1;
}

/* Checkpoint 1: barrier on channel 0 only, records behind it; the task blocks channel 0,
 * drains channel 1 and sleeps. The coordinator aborts checkpoint 1 (a timeout, a
 * decline elsewhere): the task must take the held records without any new input. */
START_TEST(test_abort_while_suspended_resumes)
{
    rig_t r;
    rig_start(&r, 0, 0);
    emit(&r, 0, "a");
    barrier(&r, 0, 1);
    emit(&r, 0, "b");
    emit(&r, 0, "c");
    emit(&r, 1, "x");
    ck_assert_uint_eq(wait_records_in(&r, 2), 2); /* a and x; b and c are held */
    int64_t end = te_clock_mono_ms() + 10000;
    while (!task_sleeping(&r) && te_clock_mono_ms() < end)
        usleep(1000);
    ck_assert_msg(task_sleeping(&r), "the task never went to sleep with channel 0 blocked");
    ck_assert_uint_eq(task_metrics_get(&r.metrics.num_records_in), 2);

    ck_assert_int_eq(stream_task_abort_checkpoint(r.st, 1), TE_OK);
    uint64_t got = wait_records_in(&r, 4);
    ck_assert_msg(got == 4, "after the abort the task took %llu of 4 records: it stays suspended",
                  (unsigned long long)got);

    /* the next checkpoint aligns and is acknowledged */
    barrier(&r, 0, 2);
    emit(&r, 0, "d");
    barrier(&r, 1, 2);
    emit(&r, 1, "y");
    ck_assert_uint_eq(wait_records_in(&r, 6), 6);
    end = te_clock_mono_ms() + 10000;
    while (acked_count() < 1 && te_clock_mono_ms() < end)
        usleep(1000);
    pthread_mutex_lock(&rmu);
    ck_assert_int_eq(n_acked, 1);
    ck_assert_uint_eq(acked[0], 2);
    ck_assert_int_eq(n_declined, 0);
    pthread_mutex_unlock(&rmu);
    rig_finish(&r);
}
END_TEST

/* The abort arrives while the task still has input to poll: nothing is lost or
 * duplicated, the held records follow. */
START_TEST(test_abort_while_running)
{
    rig_t r;
    rig_start(&r, 0, 0);
    barrier(&r, 0, 1);
    emit(&r, 0, "b");
    ck_assert_int_eq(stream_task_abort_checkpoint(r.st, 1), TE_OK);
    for (int k = 0; k < 50; k++)
        emit(&r, 1, "x");
    ck_assert_uint_eq(wait_records_in(&r, 51), 51);
    rig_finish(&r);
    ck_assert_uint_eq(task_metrics_get(&r.metrics.num_records_in), 51);
}
END_TEST

/* Waits (10 s at most) until *v reaches n (or, want_zero, becomes 0). */
static int wait_metric(_Atomic int64_t *since, _Atomic uint64_t *count, uint64_t n, int want_zero)
{
    int64_t end = te_clock_mono_ms() + 10000;
    for (;;) {
        int ok = want_zero ? atomic_load(since) == 0 : (task_metrics_get(count) >= n && atomic_load(since) != 0);
        if (ok)
            return 1;
        if (te_clock_mono_ms() >= end)
            return 0;
        usleep(1000);
    }
}

static int file_contains(const char *path, const char *needle);

/* The task thread publishes a stall's metrics just before it writes its WARN: wait up
 * to 10 s for the line. */
static int file_gets(const char *path, const char *needle)
{
    for (int i = 0; i < 10000; i++) {
        if (file_contains(path, needle))
            return 1;
        usleep(1000);
    }
    return 0;
}

static int file_contains(const char *path, const char *needle)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Channel 0 delivered barrier 1 and holds data behind it; channel 1 never sends its
 * barrier: after the threshold the task is reported stalled, naming checkpoint 1 and
 * channel 1; once the barrier comes the stall ends (and is counted once). */
START_TEST(test_stall_in_alignment_reported)
{
    char logpath[] = "/tmp/te-unit-stall-log.XXXXXX";
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(te_log_set_file(logpath), 0);
    rig_t r;
    rig_start(&r, 100, 0);
    emit(&r, 1, "x");
    barrier(&r, 0, 1);
    emit(&r, 0, "b");
    ck_assert_uint_eq(wait_records_in(&r, 1), 1);
    ck_assert_msg(wait_metric(&r.metrics.input_stalled_since_ms, &r.metrics.input_stalls, 1, 0),
                  "no input stall reported while checkpoint 1 waits on channel 1 with channel 0 holding data");
    ck_assert_uint_eq(task_metrics_get(&r.metrics.num_records_in), 1);
    ck_assert_msg(file_gets(logpath, "aligning checkpoint 1, the task waits for its barrier on input channel(s) 1 "
                                     "(of 2) while 1 blocked channel(s) hold data"),
                  "the WARN does not name the checkpoint and the channel waited on");
    ck_assert(file_gets(logpath, "[aligner-test]"));
    barrier(&r, 1, 1);
    ck_assert_uint_eq(wait_records_in(&r, 2), 2);
    ck_assert_msg(wait_metric(&r.metrics.input_stalled_since_ms, NULL, 0, 1), "the stall did not end");
    ck_assert_uint_eq(task_metrics_get(&r.metrics.input_stalls), 1);
    rig_finish(&r);
    ck_assert(file_gets(logpath, "input flows again after a stall of"));
    te_log_set_file(NULL);
    unlink(logpath);
}
END_TEST

/* Data queued in the gate without the wake-up (the fake channel's notifier is
 * dropped): reported as a stall, and the task polls again and takes the record. */
START_TEST(test_stall_lost_wakeup_recovered)
{
    rig_t r;
    rig_start(&r, 100, 1);
    emit(&r, 0, "a");
    ck_assert_uint_eq(wait_records_in(&r, 1), 1);
    int64_t end = te_clock_mono_ms() + 10000;
    while (!task_sleeping(&r) && te_clock_mono_ms() < end)
        usleep(1000);
    fake_push_record(r.fake, "lost");
    te_notifier_t dropped = input_gate_enqueue_channel(r.gate, 1, 0);
    (void)dropped; /* not called: the wake-up is lost */
    ck_assert_msg(wait_records_in(&r, 2) == 2, "the stall check did not poll the queued channel again");
    ck_assert_uint_eq(task_metrics_get(&r.metrics.input_stalls), 1);
    rig_finish(&r);
}
END_TEST

/* Without a threshold nothing is reported (and nothing checks). */
START_TEST(test_stall_off)
{
    rig_t r;
    rig_start(&r, 0, 0);
    barrier(&r, 0, 1);
    emit(&r, 0, "b");
    usleep(300 * 1000);
    ck_assert_uint_eq(task_metrics_get(&r.metrics.input_stalls), 0);
    barrier(&r, 1, 1);
    ck_assert_uint_eq(wait_records_in(&r, 1), 1);
    rig_finish(&r);
}
END_TEST

Suite *checkpoint_alignment_suite(void)
{
    Suite *s = suite_create("checkpoint_alignment");
    TCase *tc = tcase_create("abort");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_abort_while_suspended_resumes);
    tcase_add_test(tc, test_abort_while_running);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("input_stall");
    tcase_set_timeout(ts, 60);
    tcase_add_test(ts, test_stall_in_alignment_reported);
    tcase_add_test(ts, test_stall_lost_wakeup_recovered);
    tcase_add_test(ts, test_stall_off);
    suite_add_tcase(s, ts);
    return s;
}
