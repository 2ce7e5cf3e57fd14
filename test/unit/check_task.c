/*
 * Unit tests: the Task state machine with real partitions, gates, stream tasks and
 * built-in operators: normal finish, failure with cause, cancel before start, during
 * DEPLOYING, on entering RUNNING, while running, after FINISHED, external failure —
 * each run pushes exactly one final state; nothing stays registered or reserved.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "executor/task_executor.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/output_flusher.h"
#include "shuffle/partition_manager.h"
#include "task/task.h"

#define MAX_EVENTS 32

typedef struct recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    te_exec_state_t states[MAX_EVENTS];
    char causes[MAX_EVENTS][256];
    int n;
    te_exec_state_t cancel_on; /* cancel from the listener when this state is entered */
    int cancel_armed;
} recorder_t;

static recorder_t rec;
static te_network_buffer_pool_t *nbp;
static te_partition_manager_t *pm;
static te_output_flusher_t *flusher;

static void on_state(void *arg, te_task_t *t, te_exec_state_t s, const char *cause)
{
    recorder_t *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->n < MAX_EVENTS) {
        r->states[r->n] = s;
        snprintf(r->causes[r->n], sizeof(r->causes[0]), "%s", cause ? cause : "");
        r->n++;
    }
    int fire = r->cancel_armed && s == r->cancel_on;
    if (fire)
        r->cancel_armed = 0;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (fire)
        task_cancel(t, "cancelled by the test");
}

static int wait_final(int timeout_ms)
{
    int64_t end = te_clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&rec.mu);
    for (;;) {
        for (int i = 0; i < rec.n; i++)
            if (task_state_is_final(rec.states[i])) {
                pthread_mutex_unlock(&rec.mu);
                return i;
            }
        if (te_clock_mono_ms() > end)
            break;
        struct timespec ts;
        te_clock_deadline(&ts, 10);
        pthread_mutex_unlock(&rec.mu);
        usleep(2000);
        pthread_mutex_lock(&rec.mu);
    }
    pthread_mutex_unlock(&rec.mu);
    return -1;
}

static int count_final(void)
{
    int n = 0;
    for (int i = 0; i < rec.n; i++)
        n += task_state_is_final(rec.states[i]);
    return n;
}

static void setup(void)
{
    te_log_set_level(TE_LOG_WARN);
    memset(&rec, 0, sizeof(rec));
    pthread_mutex_init(&rec.mu, NULL);
    pthread_cond_init(&rec.cv, NULL);
    nbp = network_buffer_pool_new(4u << 20, 32768, NULL);
    pm = partition_manager_new();
    flusher = output_flusher_new(NULL);
    output_flusher_start(flusher, NULL);
}

static void teardown(void)
{
    output_flusher_stop(flusher);
    output_flusher_free(flusher);
    ck_assert_uint_eq(partition_manager_count(pm), 0);
    partition_manager_free(pm);
    ck_assert_uint_eq(network_buffer_pool_available_segments(nbp), network_buffer_pool_total_segments(nbp));
    network_buffer_pool_free(nbp);
}

/* A one-vertex source task: chain ops[0..n) with params "k=v" pairs, one produced
 * partition of `subparts` subpartitions (0 = none). */
typedef struct tdd_builder {
    Te__TaskDeploymentDescriptor tdd;
    Te__TaskInformation ti;
    Te__JobInformation ji;
    Te__OperatorConfig ops[4], *opp[4];
    Te__KeyValue kv[8], *kvp[8];
    Te__ResultPartitionDeploymentDescriptor rp, *rpp[1];
    uint8_t ids[5][16];
} tdd_builder_t;

static void build_tdd(tdd_builder_t *b, const char *op1, const char *k1, const char *v1, const char *op2,
                      uint32_t subparts)
{
    memset(b, 0, sizeof(*b));
    for (int i = 0; i < 5; i++) {
        te_id_t id;
        te_id_random(&id);
        memcpy(b->ids[i], id.b, 16);
    }
    te__task_deployment_descriptor__init(&b->tdd);
    te__task_information__init(&b->ti);
    te__job_information__init(&b->ji);
    b->tdd.job_id = (ProtobufCBinaryData){16, b->ids[0]};
    b->tdd.execution_attempt_id = (ProtobufCBinaryData){16, b->ids[1]};
    b->tdd.allocation_id = (ProtobufCBinaryData){16, b->ids[2]};
    b->ti.task_name = "test (1/1)";
    b->ti.number_of_subtasks = 1;
    b->ti.max_parallelism = 128;
    b->ti.invokable = TE__INVOKABLE__SOURCE_STREAM_TASK;
    int n = 0, nk = 0;
    const char *names[2] = {op1, op2};
    for (int i = 0; i < 2; i++) {
        if (names[i] == NULL)
            continue;
        te__operator_config__init(&b->ops[n]);
        b->ops[n].name = (char *)names[i];
        if (i == 0 && k1) {
            te__key_value__init(&b->kv[nk]);
            b->kv[nk].key = (char *)k1;
            b->kv[nk].value = (char *)v1;
            b->kvp[nk] = &b->kv[nk];
            b->ops[n].n_params = 1;
            b->ops[n].params = &b->kvp[nk];
            nk++;
        }
        b->opp[n] = &b->ops[n];
        n++;
    }
    b->ti.n_chain = (size_t)n;
    b->ti.chain = b->opp;
    b->tdd.task_information = &b->ti;
    b->tdd.job_information = &b->ji;
    if (subparts) {
        te__result_partition_deployment_descriptor__init(&b->rp);
        b->rp.partition_id = (ProtobufCBinaryData){16, b->ids[3]};
        b->rp.number_of_subpartitions = subparts;
        b->rp.partitioner = TE__PARTITIONER__REBALANCE;
        b->rpp[0] = &b->rp;
        b->tdd.n_produced_partitions = 1;
        b->tdd.produced_partitions = b->rpp;
    }
}

static te_task_services_t services(void)
{
    te_task_services_t s = {
        .shuffle = {.buffers = nbp, .partitions = pm, .buffers_per_channel = 2, .floating_buffers_per_gate = 8},
        .flusher = flusher,
        .default_buffer_timeout_ms = 100,
        .partition_request_timeout_ms = 2000,
        .operators = task_executor_operator_resolver("plugins"),
        .on_state = on_state,
        .on_state_arg = &rec,
    };
    return s;
}

static te_task_t *make(tdd_builder_t *b)
{
    te_task_services_t s = services();
    te_error_t err;
    te_deploy_error_t why;
    te_task_t *t = task_new(&b->tdd, &s, &why, &err);
    ck_assert_msg(t != NULL, "task_new: %s", err.msg);
    return t;
}

START_TEST(test_finishes)
{
    tdd_builder_t b;
    build_tdd(&b, "sequence", "to", "1000", "discard", 0);
    te_task_t *t = make(&b);
    ck_assert_int_eq(task_state(t), TE_STATE_CREATED);
    ck_assert_int_eq(task_start(t, NULL), TE_OK);
    int i = wait_final(5000);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(rec.states[i], TE_STATE_FINISHED);
    task_join(t);
    ck_assert_int_eq(count_final(), 1);
    ck_assert_int_eq(rec.states[0], TE_STATE_DEPLOYING);
    ck_assert_int_eq(rec.states[1], TE_STATE_RUNNING);
    ck_assert_uint_eq(task_metrics_get(&task_metrics(t)->num_records_in), 0);
    task_cancel(t, "late"); /* after FINISHED: nothing happens */
    ck_assert_int_eq(task_state(t), TE_STATE_FINISHED);
    ck_assert_int_eq(count_final(), 1);
    task_free(t);
}
END_TEST

START_TEST(test_failure_has_cause)
{
    /* The input is readable at deployment (file_lines checks it there) and gone when
     * the source opens it: the task fails with a cause naming the file. */
    char path[64];
    snprintf(path, sizeof(path), "/tmp/te-test-input-%d", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    tdd_builder_t b;
    build_tdd(&b, "file_lines", "path", path, "discard", 0);
    te_task_t *t = make(&b);
    unlink(path);
    task_start(t, NULL);
    int i = wait_final(5000);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(rec.states[i], TE_STATE_FAILED);
    ck_assert_msg(strstr(rec.causes[i], path) != NULL, "cause: %s", rec.causes[i]);
    task_join(t);
    ck_assert_int_eq(count_final(), 1);
    ck_assert_str_eq(task_failure_cause(t), rec.causes[i]);
    task_free(t);
}
END_TEST

static void cancel_in(te_exec_state_t phase)
{
    tdd_builder_t b;
    build_tdd(&b, "sequence", "unbounded", "true", NULL, 2);
    te_task_t *t = make(&b);
    if (phase == TE_STATE_CREATED) {
        task_cancel(t, "before start");
    } else {
        rec.cancel_on = phase;
        rec.cancel_armed = 1;
    }
    task_start(t, NULL);
    int i = wait_final(5000);
    ck_assert_msg(i >= 0, "no final state after cancel in %s", task_state_name(phase));
    ck_assert_int_eq(rec.states[i], TE_STATE_CANCELED);
    task_join(t);
    ck_assert_int_eq(count_final(), 1);
    int canceling = 0;
    for (int k = 0; k < rec.n; k++)
        canceling += rec.states[k] == TE_STATE_CANCELING;
    ck_assert_int_eq(canceling, 1);
    task_free(t);
}

START_TEST(test_cancel_created) { cancel_in(TE_STATE_CREATED); }
END_TEST
START_TEST(test_cancel_deploying) { cancel_in(TE_STATE_DEPLOYING); }
END_TEST
START_TEST(test_cancel_entering_running) { cancel_in(TE_STATE_RUNNING); }
END_TEST

START_TEST(test_cancel_while_running)
{
    /* An unbounded source writing into a partition nobody reads: the producer ends up
     * blocked on a full buffer pool, and cancel must still get it out. */
    tdd_builder_t b;
    build_tdd(&b, "sequence", "unbounded", "true", NULL, 2);
    te_task_t *t = make(&b);
    task_start(t, NULL);
    usleep(300 * 1000);
    ck_assert_int_eq(task_state(t), TE_STATE_RUNNING);
    task_cancel(t, "test");
    int i = wait_final(5000);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(rec.states[i], TE_STATE_CANCELED);
    task_join(t);
    ck_assert_int_eq(count_final(), 1);
    task_free(t);
}
END_TEST

START_TEST(test_fail_external)
{
    tdd_builder_t b;
    build_tdd(&b, "sequence", "unbounded", "true", "discard", 0);
    te_task_t *t = make(&b);
    task_start(t, NULL);
    usleep(100 * 1000);
    task_fail_external(t, "the JobManager was lost");
    int i = wait_final(5000);
    ck_assert_int_ge(i, 0);
    ck_assert_int_eq(rec.states[i], TE_STATE_FAILED);
    ck_assert_str_eq(rec.causes[i], "the JobManager was lost");
    task_join(t);
    task_free(t);
}
END_TEST

START_TEST(test_rejections_unwind)
{
    te_task_services_t s = services();
    te_error_t err;
    te_deploy_error_t why;
    tdd_builder_t b;
    uint32_t avail = network_buffer_pool_available_segments(nbp);

    build_tdd(&b, "sequence", "to", "10", "no_such_op", 1);
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INVALID_CHAIN);
    ck_assert_msg(strstr(err.msg, "no_such_op") != NULL, "%s", err.msg);

    build_tdd(&b, "sequence", "to", "ten", "discard", 1);
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INVALID_CHAIN);
    ck_assert_msg(strstr(err.msg, "to") != NULL, "%s", err.msg);

    /* a partition needs min(subpartitions + 1, buffers-per-channel + 1): 4mb = 128
     * segments < 1001 */
    s.shuffle.buffers_per_channel = 1000;
    build_tdd(&b, "sequence", "to", "10", NULL, 1000);
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    s.shuffle.buffers_per_channel = 2;
    ck_assert_int_eq(why, TE_DEPLOY_INSUFFICIENT_BUFFERS);
    ck_assert_msg(strstr(err.msg, "taskmanager.memory.network.size") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "1001") != NULL, "required count missing: %s", err.msg);

    build_tdd(&b, "sequence", "to", "10", NULL, 1);
    b.tdd.execution_attempt_id.len = 3;
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INCONSISTENT_IDS);

    build_tdd(&b, "sequence", "to", "10", NULL, 1);
    b.tdd.subtask_index = 1; /* of 1 subtask */
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INCONSISTENT_IDS);

    build_tdd(&b, "sequence", "to", "10", NULL, 1);
    b.rp.partitioner = (Te__Partitioner)(TE__PARTITIONER__BROADCAST + 1); /* not in tdd.proto */
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INCONSISTENT_IDS);
    ck_assert_msg(strstr(err.msg, "partitioner 6") != NULL, "%s", err.msg);

    build_tdd(&b, "discard", NULL, NULL, NULL, 0); /* a sink cannot head a source task */
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INVALID_CHAIN);

    ck_assert_uint_eq(network_buffer_pool_available_segments(nbp), avail);
    ck_assert_int_eq(rec.n, 0);
}
END_TEST

/* The daemon derives the chain's schemas again and refuses a TDD whose schemas differ
 * (proto/ROWS.md): an operator's output, a partition's schema, a side output no
 * operator declares, a key field outside the schema. */
START_TEST(test_schema_checks)
{
    te_task_services_t s = services();
    te_error_t err;
    te_deploy_error_t why;
    tdd_builder_t b;
    Te__Field f[2], *fp[2] = {&f[0], &f[1]};
    Te__Schema wrong, right;
    te__field__init(&f[0]);
    te__field__init(&f[1]);
    f[0].name = "n";
    f[0].type = TE__FIELD_TYPE__FIELD_INT64;
    f[1].name = "line";
    f[1].type = TE__FIELD_TYPE__FIELD_STRING;
    te__schema__init(&wrong);
    te__schema__init(&right);
    wrong.n_fields = 1;
    wrong.fields = &fp[0];
    right.n_fields = 1;
    right.fields = &fp[1];

    build_tdd(&b, "file_lines", "path", "/etc/passwd", NULL, 2);
    b.ops[0].output_schema = &wrong;
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INVALID_CHAIN);
    ck_assert_msg(strstr(err.msg, "operator 'file_lines' (#0) output: the scheduler derived the schema (n:int64), "
                                  "this daemon derives (line:string)") != NULL,
                  "%s", err.msg);

    b.ops[0].output_schema = &right;
    b.rp.schema = &wrong;
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_int_eq(why, TE_DEPLOY_INVALID_CHAIN);
    ck_assert_msg(strstr(err.msg, "produced_partitions[0]: the scheduler derived the schema (n:int64)") != NULL,
                  "%s", err.msg);

    b.rp.schema = &right;
    b.rp.side_output_tag = "nope";
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_msg(strstr(err.msg, "side output 'nope', which no operator of the chain declares") != NULL, "%s",
                  err.msg);

    b.rp.side_output_tag = NULL;
    b.rp.partitioner = TE__PARTITIONER__HASH;
    uint32_t kf = 3;
    b.rp.key_fields = &kf;
    b.rp.n_key_fields = 1;
    ck_assert_ptr_null(task_new(&b.tdd, &s, &why, &err));
    ck_assert_msg(strstr(err.msg, "produced_partitions[0]: key field 3 is not in the schema (line:string)") !=
                      NULL,
                  "%s", err.msg);

    b.rp.n_key_fields = 0; /* text keyed by key_field: accepted */
    te_task_t *t = task_new(&b.tdd, &s, &why, &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    task_free(t);
    ck_assert_int_eq(rec.n, 0);
}
END_TEST

Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("lifecycle");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_finishes);
    tcase_add_test(tc, test_failure_has_cause);
    tcase_add_test(tc, test_cancel_created);
    tcase_add_test(tc, test_cancel_deploying);
    tcase_add_test(tc, test_cancel_entering_running);
    tcase_add_test(tc, test_cancel_while_running);
    tcase_add_test(tc, test_fail_external);
    tcase_add_test(tc, test_rejections_unwind);
    tcase_add_test(tc, test_schema_checks);
    suite_add_tcase(s, tc);
    return s;
}
