/*
 * Unit tests: job_graph (parsing the shipped jobs, every validation error naming its
 * JSON path) and job_plan (slot sharing placement, partition / gate wiring checked
 * against an expectation computed here from the rules, not from the planner).
 *
 * Run from the repository root (the shipped job files in conf/jobs/ are read by relative path).
 */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"
#include "jobmaster/job_schema.h"
#include "common/ids.h"

/* ---- parsing the shipped jobs ---------------------------------------------------- */

static const char *param(const te_job_operator_t *op, const char *key)
{
    for (size_t i = 0; i < op->n_params; i++)
        if (strcmp(op->params[i].key, key) == 0)
            return op->params[i].value;
    return NULL;
}

START_TEST(test_parse_wordcount)
{
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_file("conf/jobs/wordcount.json", &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_str_eq(job_graph_name(g), "wordcount");
    ck_assert_uint_eq(job_graph_max_parallelism(g), 128);
    size_t n;
    const te_job_kv_t *cfg = job_graph_config(g, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(cfg[0].key, "execution.buffer-timeout");
    ck_assert_str_eq(cfg[0].value, "100ms");
    ck_assert_uint_eq(job_graph_n_vertices(g), 3);
    ck_assert_uint_eq(job_graph_n_edges(g), 2);

    const te_job_vertex_t *src = job_graph_vertex(g, 0), *tok = job_graph_vertex(g, 1),
                          *cnt = job_graph_vertex(g, 2);
    ck_assert_str_eq(src->id, "source");
    ck_assert_int_eq(src->invokable, TE__INVOKABLE__SOURCE_STREAM_TASK);
    ck_assert_int_eq(tok->invokable, TE__INVOKABLE__ONE_INPUT_STREAM_TASK);
    ck_assert_int_eq(cnt->invokable, TE__INVOKABLE__ONE_INPUT_STREAM_TASK);
    ck_assert_uint_eq(src->parallelism, 1);
    ck_assert_uint_eq(cnt->parallelism, 2);
    ck_assert_str_eq(src->chain[0].name, "file_lines");
    ck_assert_str_eq(param(&src->chain[0], "path"), "/usr/share/common-licenses/GPL-3");
    ck_assert_uint_eq(cnt->chain_len, 2);
    ck_assert_str_eq(cnt->chain[0].name, "keyed_count");
    ck_assert_ptr_null(cnt->chain[0].uid);
    ck_assert_str_eq(param(&cnt->chain[0], "emit"), "final");
    ck_assert_uint_eq(cnt->chain[0].n_params, 1); /* "op" is not a parameter */
    ck_assert_str_eq(cnt->chain[1].name, "file_sink");

    const te_job_edge_t *e0 = job_graph_edge(g, 0), *e1 = job_graph_edge(g, 1);
    ck_assert_uint_eq(e0->from, 0);
    ck_assert_uint_eq(e0->to, 1);
    ck_assert_int_eq(e0->partitioner, TE__PARTITIONER__REBALANCE);
    ck_assert_int_eq(e1->partitioner, TE__PARTITIONER__HASH);
    ck_assert_int_eq(e1->key_field, 0);
    ck_assert_int_eq(e1->key_delimiter, '\t');
    ck_assert_uint_eq(job_graph_max_vertex_parallelism(g), 2);
    const size_t *topo = job_graph_topo_order(g);
    ck_assert_uint_eq(topo[0], 0);
    ck_assert_uint_eq(topo[1], 1);
    ck_assert_uint_eq(topo[2], 2);
    job_graph_free(g);
}
END_TEST

START_TEST(test_parse_other_jobs)
{
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_file("conf/jobs/sequence_discard.json", &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_uint_eq(job_graph_n_vertices(g), 2);
    const te_job_vertex_t *seq = job_graph_vertex(g, 0);
    ck_assert_str_eq(seq->chain[0].name, "sequence");
    ck_assert_str_eq(param(&seq->chain[0], "unbounded"), "true"); /* bool -> text */
    ck_assert_str_eq(param(&seq->chain[0], "rate"), "1000");      /* number -> text */
    ck_assert_uint_eq(seq->parallelism, 2);
    ck_assert_uint_eq(job_graph_vertex(g, 1)->parallelism, 2);
    ck_assert_int_eq(job_graph_edge(g, 0)->partitioner, TE__PARTITIONER__FORWARD);
    job_graph_free(g);

    g = job_graph_parse_file("conf/jobs/upper_print.json", &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_str_eq(job_graph_name(g), "upper_print");
    job_graph_free(g);

    g = job_graph_parse_file("conf/jobs/does-not-exist.json", &err);
    ck_assert_ptr_null(g);
    ck_assert_int_eq(err.code, TE_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "does-not-exist.json"));
}
END_TEST

START_TEST(test_parse_defaults_and_two_input)
{
    const char *json = "{\"name\":\"j\",\"vertices\":["
                       "{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"window_join\",\"uid\":\"u1\","
                       "\"size\":2.5,\"x\":false}]},"
                       "{\"id\":\"a1\",\"parallelism\":1,\"chain\":[{\"op\":\"sequence\"}]},"
                       "{\"id\":\"a2\",\"parallelism\":1,\"chain\":[{\"op\":\"sequence\"}]}],"
                       "\"edges\":[{\"from\":\"a2\",\"to\":\"b\",\"input\":1},{\"from\":\"a1\",\"to\":\"b\"}]}";
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    ck_assert_uint_eq(job_graph_max_parallelism(g), TE_JOB_DEFAULT_MAX_PARALLELISM);
    const te_job_vertex_t *b = job_graph_vertex(g, 0);
    ck_assert_int_eq(b->invokable, TE__INVOKABLE__TWO_INPUT_STREAM_TASK);
    ck_assert_str_eq(b->chain[0].uid, "u1");
    ck_assert_str_eq(param(&b->chain[0], "size"), "2.5");
    ck_assert_str_eq(param(&b->chain[0], "x"), "false");
    ck_assert_int_eq(job_graph_edge(g, 1)->partitioner, TE__PARTITIONER__REBALANCE); /* default */
    ck_assert_uint_eq(job_graph_edge(g, 0)->input, 1);
    /* b consumes a1 and a2, so it must come last in the topological order */
    ck_assert_uint_eq(job_graph_topo_order(g)[2], 0);
    ck_assert_int_eq(job_graph_find_vertex(g, "a2"), 2);
    ck_assert_int_eq(job_graph_find_vertex(g, "zz"), -1);
    job_graph_free(g);
}
END_TEST

/* ---- validation errors ------------------------------------------------------------ */

#define V1 "{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"x\"}]}"
#define V2 "{\"id\":\"b\",\"parallelism\":2,\"chain\":[{\"op\":\"y\"}]}"
#define VS "\"vertices\":[" V1 "," V2 "]"

static const struct {
    const char *json;
    const char *expect; /* substring of the message (the JSON path, and the reason) */
} bad_jobs[] = {
    {"[1]", "(root): expected an object"},
    {"{\"name\":\"j\"," VS ",", "line 1"},
    {"{" VS "}", "name: missing"},
    {"{\"name\":7," VS "}", "name: expected a non-empty string, got 7"},
    {"{\"name\":\"\"," VS "}", "name: expected a non-empty string, got \"\""},
    {"{\"name\":\"j\"," VS ",\"bogus\":1}", "bogus: unknown key"},
    {"{\"name\":\"j\",\"max_parallelism\":0," VS "}", "max_parallelism: expected a positive integer"},
    {"{\"name\":\"j\",\"max_parallelism\":1," VS "}",
     "vertices[1].parallelism: expected a positive integer (at most max_parallelism 1), got 2"},
    {"{\"name\":\"j\",\"config\":[]," VS "}", "config: expected an object"},
    {"{\"name\":\"j\",\"config\":{\"k\":{\"n\":1}}," VS "}",
     "config.k: expected a string, number, bool or an array of them, got an object"},
    {"{\"name\":\"j\",\"config\":{\"k\":null}," VS "}",
     "config.k: expected a string, number, bool or an array of them, got null"},
    {"{\"name\":\"j\"}", "vertices: missing"},
    {"{\"name\":\"j\",\"vertices\":[]}", "vertices: expected a non-empty array"},
    {"{\"name\":\"j\",\"vertices\":{}}", "vertices: expected a non-empty array of vertices, got an object"},
    {"{\"name\":\"j\",\"vertices\":[3]}", "vertices[0]: expected an object, got 3"},
    {"{\"name\":\"j\",\"vertices\":[" V1 ",{\"id\":\"b\",\"parallelism\":\"x\",\"chain\":[{\"op\":\"y\"}]}]}",
     "vertices[1].parallelism: expected a positive integer (at most max_parallelism 128), got \"x\""},
    {"{\"name\":\"j\",\"vertices\":[" V1 ",{\"id\":\"b\",\"parallelism\":-1,\"chain\":[{\"op\":\"y\"}]}]}",
     "vertices[1].parallelism: expected a positive integer"},
    {"{\"name\":\"j\",\"vertices\":[" V1 ",{\"id\":\"b\",\"parallelism\":1.5,\"chain\":[{\"op\":\"y\"}]}]}",
     "vertices[1].parallelism: expected a positive integer (at most max_parallelism 128), got 1.5"},
    {"{\"name\":\"j\",\"vertices\":[" V1 ",{\"id\":\"b\",\"chain\":[{\"op\":\"y\"}]}]}",
     "vertices[1].parallelism: missing"},
    {"{\"name\":\"j\",\"vertices\":[{\"parallelism\":1,\"chain\":[{\"op\":\"y\"}]}]}", "vertices[0].id: missing"},
    {"{\"name\":\"j\",\"vertices\":[" V1 "," V1 "]}", "vertices[1].id: duplicate vertex id \"a\""},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1}]}", "vertices[0].chain: missing"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[]}]}",
     "vertices[0].chain: expected a non-empty array of operators, got an empty array"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[\"map\"]}]}",
     "vertices[0].chain[0]: expected an object with \"op\", got \"map\""},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"path\":\"/x\"}]}]}",
     "vertices[0].chain[0].op: missing"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"m\",\"uid\":3}]}]}",
     "vertices[0].chain[0].uid: expected a non-empty string, got 3"},
    {"{\"name\":\"j\",\"vertices\":[" V1
     ",{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"y\"},{\"op\":\"z\",\"p\":[[1]]}]}]}",
     "vertices[1].chain[1].p: expected a string, number, bool or an array of them, got an array"},
    {"{\"name\":\"j\",\"vertices\":[" V1
     ",{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"y\"},{\"op\":\"z\",\"p\":{}}]}]}",
     "vertices[1].chain[1].p: expected a string, number, bool or an array of them, got an object"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"y\"}],\"extra\":1}]}",
     "vertices[0].extra: unknown key"},
    {"{\"name\":\"j\"," VS ",\"edges\":{}}", "edges: expected an array of edges, got an object"},
    {"{\"name\":\"j\"," VS ",\"edges\":[7]}", "edges[0]: expected an object, got 7"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"to\":\"b\"}]}", "edges[0].from: missing"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"c\"}]}", "edges[0].to: unknown vertex \"c\""},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"random\"}]}",
     "edges[0].partitioner: unknown partitioner \"random\""},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"forward\"}]}",
     "edges[0].partitioner: forward needs equal parallelism"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_field\":-1}]}",
     "edges[0].key_field: expected a field index (0-48) or a field name, got -1"},
    {"{\"name\":\"j\"," VS
     ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_fields\":[]}]}",
     "edges[0].key_fields: expected an array of 1 to 8 field indexes or names, got an empty array"},
    {"{\"name\":\"j\"," VS
     ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_field\":0,\"key_fields\":[1]}]}",
     "edges[0]: key_field and key_fields exclude each other"},
    {"{\"name\":\"j\"," VS
     ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_delimiter\":\"ab\"}]}",
     "edges[0].key_delimiter: expected a one-character string, got \"ab\""},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"side_output\":\"\"}]}",
     "edges[0].side_output: expected a non-empty string"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"key_field\":1}]}",
     "edges[0].key_field: only valid with partitioner \"hash\""},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"input\":2}]}",
     "edges[0].input: expected 0 or 1, got 2"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"input\":1}]}",
     "edges[0].input: vertex \"b\" has an input 1 edge but no input 0 edge"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"weight\":1}]}",
     "edges[0].weight: unknown key"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\"},{\"from\":\"b\",\"to\":\"a\"}]}",
     "edges[0]: \"a\" -> \"b\" is part of a cycle"},
    {"{\"name\":\"j\"," VS ",\"edges\":[{\"from\":\"a\",\"to\":\"b\"},{\"from\":\"b\",\"to\":\"b\"}]}",
     "edges[1]: \"b\" -> \"b\" is part of a cycle"},
    {"{\"name\":\"j\",\"name\":\"k\"," VS "}", "duplicate"},
};

START_TEST(test_validation_errors)
{
    te_error_t err;
    te_error_clear(&err);
    te_job_graph_t *g = job_graph_parse_string(bad_jobs[_i].json, &err);
    ck_assert_msg(g == NULL, "job %d was accepted: %s", _i, bad_jobs[_i].json);
    ck_assert_int_eq(err.code, TE_EINVAL);
    ck_assert_msg(strstr(err.msg, bad_jobs[_i].expect) != NULL, "job %d: message \"%s\" lacks \"%s\"", _i, err.msg,
                  bad_jobs[_i].expect);
}
END_TEST

/* ---- planning --------------------------------------------------------------------- */

static const char *const addrs[] = {"10.0.0.1:6121", "10.0.0.2:6121", "10.0.0.3:6121"};

/* Finds the task of (vertex id, subtask) by scanning, independent of the plan's index. */
static const te_plan_task_t *find_task(const te_job_graph_t *g, const te_job_plan_t *p, const char *vid,
                                       uint32_t subtask)
{
    for (size_t t = 0; t < job_plan_n_tasks(p); t++) {
        const te_plan_task_t *task = job_plan_task(p, t);
        if (strcmp(job_graph_vertex(g, task->vertex)->id, vid) == 0 && task->subtask == subtask)
            return task;
    }
    return NULL;
}

static int bin_eq_id(const ProtobufCBinaryData *b, const te_id_t *id)
{
    return b->len == TE_ID_LEN && memcmp(b->data, id->b, TE_ID_LEN) == 0;
}

static int bin_eq(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* The pointwise rule (forward, rescale), by brute force: producer i of P feeds consumer
 * j of C when floor(i*C/P) <= j < floor((i+1)*C/P) (C >= P), or when floor(j*P/C) <= i <
 * floor((j+1)*P/C) (C < P). All-to-all edges: always. */
static int feeds(int pointwise, uint32_t P, uint32_t C, uint32_t i, uint32_t j)
{
    if (!pointwise)
        return 1;
    if (C >= P)
        return (uint64_t)i * C / P <= j && j < (uint64_t)(i + 1) * C / P;
    return (uint64_t)j * P / C <= i && i < (uint64_t)(j + 1) * P / C;
}

/* Producer i's subpartition read by consumer j: its rank among the consumers i feeds. */
static uint32_t subpartition_for(int pointwise, uint32_t P, uint32_t C, uint32_t i, uint32_t j)
{
    uint32_t rank = 0;
    for (uint32_t k = 0; k < j; k++)
        rank += feeds(pointwise, P, C, i, k);
    return rank;
}

static uint32_t consumers_fed(int pointwise, uint32_t P, uint32_t C, uint32_t i)
{
    uint32_t n = 0;
    for (uint32_t j = 0; j < C; j++)
        n += feeds(pointwise, P, C, i, j);
    return n;
}

/* Plans "a" (pa) -> "b" (pb) over n_exec executors and checks every TDD against the
 * rules: placement, ids, subpartitions, gates, shuffle descriptors, local flags. */
static void check_two_vertex_plan(uint32_t pa, uint32_t pb, const char *partitioner, size_t n_exec)
{
    char json[1024];
    int hash = strcmp(partitioner, "hash") == 0, forward = strcmp(partitioner, "forward") == 0;
    int pointwise = forward || strcmp(partitioner, "rescale") == 0;
    snprintf(json, sizeof(json),
             "{\"name\":\"t\",\"max_parallelism\":64,\"config\":{\"k\":\"v\"},\"vertices\":["
             "{\"id\":\"a\",\"parallelism\":%u,\"chain\":[{\"op\":\"sequence\",\"to\":10}]},"
             "{\"id\":\"b\",\"parallelism\":%u,\"chain\":[{\"op\":\"upper\"},{\"op\":\"discard\"}]}],"
             "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"%s\"%s}]}",
             pa, pb, partitioner, hash ? ",\"key_field\":\"value\"" : "");
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    te_id_t job_id;
    te_id_random(&job_id);
    te_job_plan_t *p = job_plan_new(g, &job_id, n_exec, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);

    uint32_t slots = pa > pb ? pa : pb;
    ck_assert_uint_eq(job_plan_n_slots(p), slots);
    ck_assert_uint_eq(job_plan_n_tasks(p), pa + pb);
    for (size_t s = 0; s < slots; s++) {
        ck_assert_uint_eq(job_plan_slot(p, s)->executor, s % n_exec);
        job_plan_set_slot_number(p, s, (int32_t)(100 + s));
        for (size_t s2 = 0; s2 < s; s2++)
            ck_assert(!te_id_equal(&job_plan_slot(p, s)->allocation_id, &job_plan_slot(p, s2)->allocation_id));
    }
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);

    /* producers: topological order puts all of "a" before "b" */
    for (uint32_t i = 0; i < pa; i++)
        ck_assert_str_eq(job_graph_vertex(g, job_plan_task(p, i)->vertex)->id, "a");

    for (uint32_t i = 0; i < pa; i++) {
        const te_plan_task_t *t = find_task(g, p, "a", i);
        ck_assert_ptr_nonnull(t);
        const Te__TaskDeploymentDescriptor *tdd = t->tdd;
        char name[64];
        snprintf(name, sizeof(name), "a (%u/%u)", i + 1, pa);
        ck_assert_str_eq(tdd->task_information->task_name, name);
        ck_assert_int_eq(tdd->task_information->invokable, TE__INVOKABLE__SOURCE_STREAM_TASK);
        ck_assert_uint_eq(tdd->task_information->number_of_subtasks, pa);
        ck_assert_uint_eq(tdd->task_information->max_parallelism, 64);
        ck_assert_uint_eq(tdd->subtask_index, i);
        ck_assert_int_eq(tdd->target_slot_number, 100 + i);
        ck_assert(bin_eq_id(&tdd->allocation_id, &job_plan_slot(p, i)->allocation_id));
        ck_assert(bin_eq_id(&tdd->job_id, &job_id));
        ck_assert(bin_eq_id(&tdd->execution_attempt_id, &t->execution_id));
        ck_assert_uint_eq(tdd->n_input_gates, 0);
        ck_assert_uint_eq(tdd->n_produced_partitions, 1);
        const Te__ResultPartitionDeploymentDescriptor *rp = tdd->produced_partitions[0];
        ck_assert_uint_eq(rp->number_of_subpartitions, consumers_fed(pointwise, pa, pb, i));
        ck_assert_int_eq(rp->type, TE__PARTITION_TYPE__PIPELINED);
        ck_assert_str_eq(protobuf_c_enum_descriptor_get_value(&te__partitioner__descriptor, rp->partitioner)->name,
                         hash                                  ? "HASH"
                         : forward                             ? "FORWARD"
                         : strcmp(partitioner, "rescale") == 0 ? "RESCALE"
                                                               : "REBALANCE");
        if (hash) { /* by name: resolved against the edge's schema (value:int64) */
            ck_assert_int_eq(rp->key_field, 0);
            ck_assert_uint_eq(rp->n_key_fields, 1);
            ck_assert_uint_eq(rp->key_fields[0], 0);
        }
        ck_assert_ptr_nonnull(rp->schema);
        ck_assert_uint_eq(rp->schema->n_fields, 1);
        ck_assert_str_eq(rp->schema->fields[0]->name, "value");
        ck_assert_int_eq(rp->schema->fields[0]->type, TE__FIELD_TYPE__FIELD_INT64);
        ck_assert_str_eq(tdd->task_information->chain[0]->output_schema->fields[0]->name, "value");
        /* one result per edge, a distinct partition per producer */
        const Te__ResultPartitionDeploymentDescriptor *rp0 = find_task(g, p, "a", 0)->tdd->produced_partitions[0];
        ck_assert(bin_eq(&rp->result_id, &rp0->result_id));
        if (i > 0)
            ck_assert(!bin_eq(&rp->partition_id, &rp0->partition_id));
        ck_assert_uint_eq(tdd->job_information->n_job_configuration, 1);
        ck_assert_str_eq(tdd->job_information->job_configuration[0]->key, "k");
    }

    for (uint32_t j = 0; j < pb; j++) {
        const te_plan_task_t *t = find_task(g, p, "b", j);
        ck_assert_ptr_nonnull(t);
        const Te__TaskDeploymentDescriptor *tdd = t->tdd;
        size_t cexec = j % n_exec;
        ck_assert_uint_eq(t->executor, cexec);
        ck_assert(bin_eq_id(&tdd->allocation_id, &job_plan_slot(p, j)->allocation_id));
        ck_assert_int_eq(tdd->task_information->invokable, TE__INVOKABLE__ONE_INPUT_STREAM_TASK);
        ck_assert_uint_eq(tdd->task_information->n_chain, 2);
        ck_assert_str_eq(tdd->task_information->chain[1]->name, "discard");
        ck_assert_uint_eq(tdd->n_produced_partitions, 0);
        ck_assert_uint_eq(tdd->n_input_gates, 1);
        const Te__InputGateDeploymentDescriptor *ig = tdd->input_gates[0];
        ck_assert_uint_eq(ig->input_index, 0);
        ck_assert_ptr_nonnull(ig->schema);
        ck_assert_int_eq(ig->schema->fields[0]->type, TE__FIELD_TYPE__FIELD_INT64);
        ck_assert(
            bin_eq(&ig->consumed_result_id, &find_task(g, p, "a", 0)->tdd->produced_partitions[0]->result_id));
        uint32_t readers[64], n_read = 0;
        for (uint32_t i = 0; i < pa; i++)
            if (feeds(pointwise, pa, pb, i, j))
                readers[n_read++] = i;
        ck_assert_uint_eq(ig->n_shuffle_descriptors, n_read);
        ck_assert_uint_eq(ig->consumed_subpartition_index, subpartition_for(pointwise, pa, pb, readers[0], j));
        for (size_t k = 0; k < ig->n_shuffle_descriptors; k++) {
            uint32_t prod_idx = readers[k];
            /* the subpartition index is one per gate: every producer it reads has it */
            ck_assert_uint_eq(ig->consumed_subpartition_index, subpartition_for(pointwise, pa, pb, prod_idx, j));
            size_t pexec = prod_idx % n_exec;
            const te_plan_task_t *prod = find_task(g, p, "a", prod_idx);
            const Te__ShuffleDescriptor *sd = ig->shuffle_descriptors[k];
            ck_assert(bin_eq(&sd->partition_id, &prod->tdd->produced_partitions[0]->partition_id));
            ck_assert(bin_eq_id(&sd->producer_execution_id, &prod->execution_id));
            ck_assert_str_eq(sd->producer_address, addrs[pexec]);
            ck_assert_int_eq(sd->local, pexec == cexec);
        }
    }

    /* every TDD packs and unpacks (no NULL strings, valid enums) */
    for (size_t t = 0; t < job_plan_n_tasks(p); t++) {
        const Te__TaskDeploymentDescriptor *tdd = job_plan_task(p, t)->tdd;
        size_t len = te__task_deployment_descriptor__get_packed_size(tdd);
        uint8_t *buf = malloc(len);
        te__task_deployment_descriptor__pack(tdd, buf);
        Te__TaskDeploymentDescriptor *back = te__task_deployment_descriptor__unpack(NULL, len, buf);
        ck_assert_ptr_nonnull(back);
        ck_assert_str_eq(back->task_information->task_name, tdd->task_information->task_name);
        te__task_deployment_descriptor__free_unpacked(back, NULL);
        free(buf);
    }
    /* rebuilding replaces the TDDs without leaking */
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    ck_assert_int_eq(job_plan_find_task(p, &find_task(g, p, "b", pb - 1)->execution_id),
                     job_plan_task_index(p, 1, pb - 1));
    job_plan_free(p);
    job_graph_free(g);
}

START_TEST(test_plan_rebalance_1_to_2) { check_two_vertex_plan(1, 2, "rebalance", 1); }
END_TEST
START_TEST(test_plan_hash_2_to_2) { check_two_vertex_plan(2, 2, "hash", 1); }
END_TEST
START_TEST(test_plan_forward_2_to_2) { check_two_vertex_plan(2, 2, "forward", 1); }
END_TEST
START_TEST(test_plan_forward_2_to_2_two_executors) { check_two_vertex_plan(2, 2, "forward", 2); }
END_TEST
START_TEST(test_plan_2_to_3_two_executors) { check_two_vertex_plan(2, 3, "rebalance", 2); }
END_TEST
START_TEST(test_plan_hash_3_to_2_three_executors) { check_two_vertex_plan(3, 2, "hash", 3); }
END_TEST
START_TEST(test_plan_rescale_2_to_5) { check_two_vertex_plan(2, 5, "rescale", 2); }
END_TEST
START_TEST(test_plan_rescale_7_to_3) { check_two_vertex_plan(7, 3, "rescale", 3); }
END_TEST
START_TEST(test_plan_rescale_4_to_4) { check_two_vertex_plan(4, 4, "rescale", 1); }
END_TEST

/* The pointwise functions against the brute-force rule for every P, C up to 24: every
 * channel is found from both ends, and a pointwise edge has max(P, C) channels where an
 * all-to-all one has P x C (the figures are printed). */
START_TEST(test_pointwise_ranges)
{
    uint64_t saved_total = 0;
    for (uint32_t P = 1; P <= 24; P++) {
        for (uint32_t C = 1; C <= 24; C++) {
            uint32_t channels = 0;
            for (uint32_t j = 0; j < C; j++) {
                uint32_t first, sub, n = job_plan_pointwise_producers(P, C, j, &first, &sub);
                ck_assert_uint_ge(n, 1);
                for (uint32_t i = 0; i < P; i++)
                    ck_assert_int_eq(feeds(1, P, C, i, j), i >= first && i < first + n);
                ck_assert_uint_eq(sub, subpartition_for(1, P, C, first, j));
                channels += n;
            }
            for (uint32_t i = 0; i < P; i++) {
                uint32_t first, n = job_plan_pointwise_consumers(P, C, i, &first);
                ck_assert_uint_eq(n, consumers_fed(1, P, C, i));
                for (uint32_t j = 0; j < C; j++)
                    ck_assert_int_eq(feeds(1, P, C, i, j), j >= first && j < first + n);
            }
            ck_assert_uint_eq(channels, P > C ? P : C);
            saved_total += (uint64_t)P * C - channels;
            if ((P == 4 && C == 8) || (P == 8 && C == 2) || (P == 24 && C == 24))
                printf("pointwise %u -> %u: %u channels instead of %u\n", P, C, channels, P * C);
        }
    }
    ck_assert_uint_gt(saved_total, 0);
    ck_assert(job_plan_is_pointwise(TE__PARTITIONER__RESCALE) && job_plan_is_pointwise(TE__PARTITIONER__FORWARD));
    ck_assert(!job_plan_is_pointwise(TE__PARTITIONER__REBALANCE) && !job_plan_is_pointwise(TE__PARTITIONER__HASH));
}
END_TEST

START_TEST(test_plan_two_input_and_wordcount)
{
    const char *json = "{\"name\":\"j\",\"vertices\":["
                       "{\"id\":\"l\",\"parallelism\":1,\"chain\":[{\"op\":\"sequence\",\"to\":5}]},"
                       "{\"id\":\"r\",\"parallelism\":2,\"chain\":[{\"op\":\"sequence\",\"to\":5}]},"
                       "{\"id\":\"j\",\"parallelism\":2,\"chain\":[{\"op\":\"union\"}]}],"
                       "\"edges\":[{\"from\":\"l\",\"to\":\"j\",\"partitioner\":\"broadcast\"},"
                       "{\"from\":\"r\",\"to\":\"j\",\"partitioner\":\"forward\",\"input\":1}]}";
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    te_id_t job_id;
    te_id_random(&job_id);
    te_job_plan_t *p = job_plan_new(g, &job_id, 2, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    const Te__TaskDeploymentDescriptor *tdd = find_task(g, p, "j", 1)->tdd;
    ck_assert_int_eq(tdd->task_information->invokable, TE__INVOKABLE__TWO_INPUT_STREAM_TASK);
    ck_assert_int_eq(tdd->target_slot_number, -1);
    ck_assert_uint_eq(tdd->n_input_gates, 2);
    ck_assert_uint_eq(tdd->input_gates[0]->input_index, 0);
    ck_assert_uint_eq(tdd->input_gates[0]->consumed_subpartition_index, 1);
    ck_assert_uint_eq(tdd->input_gates[0]->n_shuffle_descriptors, 1);
    ck_assert_int_eq(tdd->input_gates[0]->shuffle_descriptors[0]->local, 0); /* l(0) on exec 0, j(1) on exec 1 */
    ck_assert_uint_eq(tdd->input_gates[1]->input_index, 1);
    ck_assert_uint_eq(tdd->input_gates[1]->consumed_subpartition_index, 0);
    ck_assert_int_eq(tdd->input_gates[1]->shuffle_descriptors[0]->local, 1);
    ck_assert(bin_eq(&tdd->input_gates[1]->shuffle_descriptors[0]->partition_id,
                     &find_task(g, p, "r", 1)->tdd->produced_partitions[0]->partition_id));
    ck_assert_uint_eq(find_task(g, p, "l", 0)->tdd->produced_partitions[0]->number_of_subpartitions, 2);
    job_plan_free(p);
    job_graph_free(g);

    /* the shipped word count: tokenize has one gate and one partition */
    g = job_graph_parse_file("conf/jobs/wordcount.json", &err);
    ck_assert_ptr_nonnull(g);
    p = job_plan_new(g, &job_id, 1, &err);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(job_plan_n_slots(p), 2);
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    tdd = find_task(g, p, "tokenize", 1)->tdd;
    ck_assert_uint_eq(tdd->n_input_gates, 1);
    ck_assert_uint_eq(tdd->n_produced_partitions, 1);
    ck_assert_int_eq(tdd->produced_partitions[0]->partitioner, TE__PARTITIONER__HASH);
    ck_assert_str_eq(tdd->produced_partitions[0]->key_delimiter, "\t");
    ck_assert_uint_eq(tdd->input_gates[0]->shuffle_descriptors[0]->local, 1);
    ck_assert_ptr_null(job_plan_new(g, &job_id, 0, &err));
    job_plan_free(p);
    job_graph_free(g);
}
END_TEST

/* Edges listed in an order unlike the vertices': adjacency by edge index, the
 * topological order picks the lowest ready vertex index first, lookups by id and by
 * execution id, a slot placed elsewhere than round robin. */
START_TEST(test_graph_index_and_assigned_slots)
{
    static const char *json =
        "{\"name\": \"d\", \"vertices\": ["
        "{\"id\": \"sink\", \"parallelism\": 2, \"chain\": [{\"op\": \"union\"}]},"
        "{\"id\": \"b\", \"parallelism\": 1, \"chain\": [{\"op\": \"scale\", \"field\": \"value\", \"factor\": "
        "\"1\"}]},"
        "{\"id\": \"a\", \"parallelism\": 1, \"chain\": [{\"op\": \"sequence\", \"to\": 10}]},"
        "{\"id\": \"c\", \"parallelism\": 1, \"chain\": [{\"op\": \"sequence\", \"to\": 10}]}],"
        "\"edges\": [{\"from\": \"b\", \"to\": \"sink\", \"input\": 1},"
        "{\"from\": \"a\", \"to\": \"b\"}, {\"from\": \"c\", \"to\": \"sink\"}]}";
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    size_t n;
    const size_t *in = job_graph_vertex_edges(g, 0, 0, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(in[0], 0); /* edge 0 (b -> sink, input 1), then edge 2 */
    ck_assert_uint_eq(in[1], 2);
    ck_assert_ptr_nonnull(job_graph_vertex_edges(g, 2, 1, &n));
    ck_assert_uint_eq(n, 1);
    job_graph_vertex_edges(g, 2, 0, &n);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(job_graph_vertex(g, 0)->invokable, TE__INVOKABLE__TWO_INPUT_STREAM_TASK);
    /* ready at the start: a (2) and c (3) -> a; then b (1) is ready and lower than c */
    const size_t *topo = job_graph_topo_order(g);
    ck_assert_uint_eq(topo[0], 2);
    ck_assert_uint_eq(topo[1], 1);
    ck_assert_uint_eq(topo[2], 3);
    ck_assert_uint_eq(topo[3], 0);
    ck_assert_int_eq(job_graph_find_vertex(g, "c"), 3);
    ck_assert_int_eq(job_graph_find_vertex(g, "x"), -1);

    te_id_t job_id;
    te_id_random(&job_id);
    te_job_plan_t *p = job_plan_new(g, &job_id, 1, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    job_plan_assign_slot(p, 1, 4, 17); /* shared slot 1 on executor 4, its slot 17 */
    ck_assert_uint_eq(job_plan_n_executors(p), 5);
    const char *addrs[5] = {"h0:1", "h1:1", "h2:1", "h3:1", "h4:1"};
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    for (size_t t = 0; t < job_plan_n_tasks(p); t++) {
        const te_plan_task_t *task = job_plan_task(p, t);
        ck_assert_int_eq(job_plan_find_task(p, &task->execution_id), (long)t);
        ck_assert_uint_eq(task->executor, task->slot == 1 ? 4 : 0);
        ck_assert_int_eq(task->tdd->target_slot_number, task->slot == 1 ? 17 : -1);
    }
    te_id_t other;
    te_id_random(&other);
    ck_assert_int_eq(job_plan_find_task(p, &other), -1);
    job_plan_free(p);
    job_graph_free(g);
}
END_TEST

/* ---- schemas (job_schema.c) --------------------------------------------------------- */

static te_job_plan_t *plan_of(const char *json, te_job_graph_t **g, te_error_t *err)
{
    *g = job_graph_parse_string(json, err);
    ck_assert_msg(*g != NULL, "%s", err->msg);
    te_id_t job_id;
    te_id_random(&job_id);
    return job_plan_new(*g, &job_id, 1, err);
}

#define PARSE_SRC                                                                                           \
    "{\"id\":\"a\",\"parallelism\":2,\"chain\":[{\"op\":\"file_lines\",\"path\":\"/x\"},{\"op\":\"parse\"," \
    "\"format\":\"json\",\"fields\":[\"a:int64\",\"b:string?\"]}]}"

START_TEST(test_schemas_derived)
{
    const char *json = "{\"name\":\"j\",\"vertices\":[" PARSE_SRC ","
                       "{\"id\":\"b\",\"parallelism\":2,\"chain\":[{\"op\":\"file_sink\",\"path\":\"/o\"}]},"
                       "{\"id\":\"c\",\"parallelism\":1,\"chain\":[{\"op\":\"plugin\",\"library\":\"x.so\","
                       "\"schema\":\"k:string, n:int64\"}]},"
                       "{\"id\":\"d\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}],"
                       "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_field\":\"b\"},"
                       "{\"from\":\"a\",\"to\":\"c\",\"side_output\":\"unparsable\"},"
                       "{\"from\":\"c\",\"to\":\"d\",\"partitioner\":\"hash\",\"key_fields\":[\"n\",0]}]}";
    te_error_t err = {0};
    te_job_graph_t *g;
    te_job_plan_t *p = plan_of(json, &g, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    const Te__TaskDeploymentDescriptor *a = find_task(g, p, "a", 0)->tdd;
    const Te__OperatorConfig *parse = a->task_information->chain[1];
    ck_assert_uint_eq(parse->output_schema->n_fields, 2);
    ck_assert_str_eq(parse->output_schema->fields[1]->name, "b");
    ck_assert_int_eq(parse->output_schema->fields[1]->type, TE__FIELD_TYPE__FIELD_STRING);
    ck_assert(parse->output_schema->fields[1]->nullable);
    ck_assert_uint_eq(parse->n_side_outputs, 1);
    ck_assert_str_eq(parse->side_outputs[0]->tag, "unparsable");
    ck_assert_uint_eq(a->n_produced_partitions, 2);
    ck_assert_uint_eq(a->produced_partitions[0]->n_key_fields, 1);
    ck_assert_uint_eq(a->produced_partitions[0]->key_fields[0], 1); /* "b" */
    ck_assert_str_eq(a->produced_partitions[1]->schema->fields[1]->name, "error");
    const Te__TaskDeploymentDescriptor *c = find_task(g, p, "c", 0)->tdd;
    ck_assert_str_eq(c->input_gates[0]->schema->fields[0]->name, "input");
    ck_assert_str_eq(c->task_information->chain[0]->output_schema->fields[1]->name, "n");
    const Te__ResultPartitionDeploymentDescriptor *cp = c->produced_partitions[0];
    ck_assert_uint_eq(cp->n_key_fields, 2);
    ck_assert_uint_eq(cp->key_fields[0], 1);
    ck_assert_uint_eq(cp->key_fields[1], 0);
    job_plan_free(p);
    job_graph_free(g);
}
END_TEST

/* Every shipped job (conf/jobs/, the Nexmark suite included) derives its schemas: a
 * job that would be refused with INVALID_CHAIN is not shipped. */
START_TEST(test_shipped_jobs_schemas)
{
    glob_t gl;
    ck_assert_int_eq(glob("conf/jobs/*.json", 0, NULL, &gl), 0);
    ck_assert_int_eq(glob("conf/jobs/nexmark/*.json", GLOB_APPEND, NULL, &gl), 0);
    ck_assert_uint_ge(gl.gl_pathc, 30);
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        te_error_t err = {0};
        te_job_graph_t *g = job_graph_parse_file(gl.gl_pathv[i], &err);
        ck_assert_msg(g != NULL, "%s: %s", gl.gl_pathv[i], err.msg);
        te_job_schemas_t *sc = job_schemas_derive(g, &err);
        ck_assert_msg(sc != NULL, "%s: %s", gl.gl_pathv[i], err.msg);
        job_schemas_free(sc);
        job_graph_free(g);
    }
    globfree(&gl);
}
END_TEST

static const struct {
    const char *json, *expect;
} bad_chains[] = {
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"file_lines\",\"path\":"
     "\"/x\"},{\"op\":\"parse\",\"fields\":\"a:int32\"}]}]}",
     "INVALID_CHAIN: vertex 'a' operator 'parse' (#1): operator 'parse': parameter 'fields': entry 0 'a:int32': "
     "unknown type 'int32'"},
    {"{\"name\":\"j\",\"vertices\":[" PARSE_SRC
     ",{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}],"
     "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_field\":\"zzz\"}]}",
     "INVALID_CHAIN: edges[0] (\"a\" -> \"b\"): key field 'zzz' is not in the edge's schema (a:int64, b:string?)"},
    {"{\"name\":\"j\",\"vertices\":[" PARSE_SRC
     ",{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}],"
     "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"partitioner\":\"hash\",\"key_field\":2}]}",
     "key field 2 is not in the edge's schema (a:int64, b:string?)"},
    {"{\"name\":\"j\",\"vertices\":[" PARSE_SRC
     ",{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}],"
     "\"edges\":[{\"from\":\"a\",\"to\":\"b\",\"side_output\":\"nope\"}]}",
     "INVALID_CHAIN: edges[0]: no operator of vertex 'a' declares the side output 'nope'"},
    {"{\"name\":\"j\",\"vertices\":[" PARSE_SRC ","
     "{\"id\":\"s\",\"parallelism\":1,\"chain\":[{\"op\":\"sequence\",\"to\":3}]},"
     "{\"id\":\"b\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}],"
     "\"edges\":[{\"from\":\"a\",\"to\":\"b\"},{\"from\":\"s\",\"to\":\"b\"}]}",
     "INVALID_CHAIN: vertex 'b' input 0: edges[1] from 's' carries (value:int64) but edges[0] carries (a:int64, "
     "b:string?)"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"nope\"}]}]}",
     "INVALID_CHAIN: vertex 'a': unknown operator 'nope' at chain position 0"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"discard\"}]}]}",
     "INVALID_CHAIN: vertex 'a' operator 'discard' (#0): a one-input operator cannot be the head of this vertex"},
    {"{\"name\":\"j\",\"vertices\":[{\"id\":\"a\",\"parallelism\":1,\"chain\":[{\"op\":\"plugin\",\"schema\":"
     "\"x\"}]}]}",
     "INVALID_CHAIN: vertex 'a' operator 'plugin' (#0): parameter 'schema': entry 0 'x' is not name:type"},
};

START_TEST(test_schemas_invalid)
{
    te_error_t err = {0};
    te_job_graph_t *g;
    ck_assert_ptr_null(plan_of(bad_chains[_i].json, &g, &err));
    ck_assert_int_eq(err.code, TE_EINVAL);
    ck_assert_msg(strstr(err.msg, bad_chains[_i].expect) != NULL, "chain %d: \"%s\" lacks \"%s\"", _i, err.msg,
                  bad_chains[_i].expect);
    job_graph_free(g);
}
END_TEST

Suite *job_graph_suite(void)
{
    Suite *s = suite_create("job_graph");
    TCase *tc = tcase_create("parse");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_parse_wordcount);
    tcase_add_test(tc, test_parse_other_jobs);
    tcase_add_test(tc, test_parse_defaults_and_two_input);
    tcase_add_loop_test(tc, test_validation_errors, 0, (int)(sizeof(bad_jobs) / sizeof(bad_jobs[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("schemas");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_schemas_derived);
    tcase_add_test(tc, test_shipped_jobs_schemas);
    tcase_add_loop_test(tc, test_schemas_invalid, 0, (int)(sizeof(bad_chains) / sizeof(bad_chains[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("plan");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, test_plan_rebalance_1_to_2);
    tcase_add_test(tc, test_plan_hash_2_to_2);
    tcase_add_test(tc, test_plan_forward_2_to_2);
    tcase_add_test(tc, test_plan_forward_2_to_2_two_executors);
    tcase_add_test(tc, test_plan_2_to_3_two_executors);
    tcase_add_test(tc, test_plan_hash_3_to_2_three_executors);
    tcase_add_test(tc, test_plan_rescale_2_to_5);
    tcase_add_test(tc, test_plan_rescale_7_to_3);
    tcase_add_test(tc, test_plan_rescale_4_to_4);
    tcase_add_test(tc, test_pointwise_ranges);
    tcase_add_test(tc, test_plan_two_input_and_wordcount);
    tcase_add_test(tc, test_graph_index_and_assigned_slots);
    suite_add_tcase(s, tc);
    return s;
}
