/*
 * Unit tests: job_field_use (the fields of each operator's output that no consumer
 * reads). Each case is a job and, for some of its operators, the unread fields worked
 * out by hand from what the operators do (field numbers of the nexmark bid: 0 kind,
 * 1 auction, 2 bidder, 3 price, 4 channel, 5 url, 6 date_time, 7 extra) — not from
 * the planner. Then the TDD: the plan carries the mask to the source's OperatorConfig.
 *
 * Run from the repository root (conf/jobs/windowed_count.json is read by relative path).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "common/ids.h"
#include "jobmaster/job_field_use.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"
#include "jobmaster/job_schema.h"

#define BIT(i)  (1ULL << (i))
#define BID_ALL 0xFFULL /* the 8 fields of a bid */

#define NEXMARK_HEAD         "{\"op\":\"nexmark\",\"count\":\"10\"}"
#define JOB(vertices, edges) "{\"name\":\"j\",\"vertices\":[" vertices "],\"edges\":[" edges "]}"
#define VERTEX(id, p, chain) "{\"id\":\"" id "\",\"parallelism\":" #p ",\"chain\":[" chain "]}"
#define EDGE(from, to, rest) "{\"from\":\"" from "\",\"to\":\"" to "\"" rest "}"
#define SINK                 "{\"op\":\"file_sink\",\"path\":\"/tmp/x-{subtask}\"}"

static const struct {
    const char *name, *json;
    const char *vertex; /* the operator checked: vertex id and chain position */
    size_t op;
    uint64_t unread;
} cases[] = {
    {"a sink reads every field", JOB(VERTEX("s", 1, NEXMARK_HEAD "," SINK), ""), "s", 0, 0},
    {"discard reads none", JOB(VERTEX("s", 1, NEXMARK_HEAD ",{\"op\":\"discard\"}"), ""), "s", 0, BID_ALL},
    {"an output nobody consumes",
     JOB(VERTEX("s", 1, NEXMARK_HEAD ",{\"op\":\"map\",\"exprs\":\"price * 2 AS p\"}"), ""), "s", 1, BIT(0)},
    {"map reads its expressions' fields",
     JOB(VERTEX("s", 1, NEXMARK_HEAD ",{\"op\":\"map\",\"exprs\":\"auction, upper(channel) AS c\"}," SINK), ""),
     "s", 0, BID_ALL & ~(BIT(1) | BIT(4))},
    {"select reads the fields it selects",
     JOB(VERTEX("s", 1, NEXMARK_HEAD ",{\"op\":\"select\",\"fields\":\"price,1\"}," SINK), ""), "s", 0,
     BID_ALL & ~(BIT(1) | BIT(3))},
    {"a filter passes its rows through: its reads and its consumer's",
     JOB(VERTEX("s", 1,
                NEXMARK_HEAD ",{\"op\":\"filter\",\"expr\":\"price > 10 AND bidder <> 0\"},"
                             "{\"op\":\"map\",\"exprs\":\"auction\"}," SINK),
         ""),
     "s", 0, BID_ALL & ~(BIT(1) | BIT(2) | BIT(3))},
    {"a filter's unread fields downstream are unread before it too",
     JOB(VERTEX("s", 1,
                NEXMARK_HEAD ",{\"op\":\"filter\",\"expr\":\"price > 10\"},"
                             "{\"op\":\"map\",\"exprs\":\"auction\"}," SINK),
         ""),
     "s", 1, BID_ALL & ~BIT(1)},
    {"a consumed side output makes the operator read everything",
     JOB(VERTEX("s", 1,
                NEXMARK_HEAD ",{\"op\":\"filter\",\"expr\":\"price > 10\",\"side_output\":\"cheap\"},"
                             "{\"op\":\"discard\"}") "," VERTEX("c", 1, "{\"op\":\"discard\"}"),
         EDGE("s", "c", ",\"side_output\":\"cheap\"")),
     "s", 0, 0},
    {"an unconsumed side output does not",
     JOB(VERTEX("s", 1,
                NEXMARK_HEAD ",{\"op\":\"filter\",\"expr\":\"price > 10\",\"side_output\":\"cheap\"},"
                             "{\"op\":\"discard\"}"),
         ""),
     "s", 0, BID_ALL & ~BIT(3)},
    {"an edge's hash key and its consumer's reads",
     JOB(VERTEX("s", 1,
                NEXMARK_HEAD) "," VERTEX("w", 2,
                                         "{\"op\":\"aggregate\",\"key\":\"bidder\",\"aggs\":\"max(price)\"},"
                                         "{\"op\":\"discard\"}"),
         EDGE("s", "w", ",\"partitioner\":\"hash\",\"key_field\":\"channel\"")),
     "s", 0, BID_ALL & ~(BIT(2) | BIT(3) | BIT(4))},
    {"two consumers: the union",
     JOB(VERTEX("s", 1, NEXMARK_HEAD) "," VERTEX(
             "a", 1, "{\"op\":\"map\",\"exprs\":\"url\"},{\"op\":\"discard\"}") "," VERTEX("b", 1,
                                                                                           "{\"op\":\"map\","
                                                                                           "\"exprs\":\"extra\"},{"
                                                                                           "\"op\":\"discard\"}"),
         EDGE("s", "a", "") "," EDGE("s", "b", "")),
     "s", 0, BID_ALL & ~(BIT(5) | BIT(7))},
    {"a consumer that declares nothing (a join) reads everything",
     JOB(VERTEX("s", 1, NEXMARK_HEAD) "," VERTEX("t", 1, NEXMARK_HEAD) "," VERTEX(
             "j", 1,
             "{\"op\":\"join\",\"left_key\":\"auction\",\"right_key\":\"auction\",\"right_prefix\":\"r_\"},{"
             "\"op\":\"discard\"}"),
         EDGE("s", "j", "") "," EDGE("t", "j", ",\"input\":1")),
     "t", 0, 0},
};

static uint64_t unread_of(const char *json, const char *vertex, size_t op)
{
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_string(json, &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    te_job_schemas_t *s = job_schemas_derive(g, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    te_job_field_use_t *u = job_field_use_derive(g, s);
    ck_assert_ptr_nonnull(u);
    long v = -1;
    for (size_t i = 0; i < job_graph_n_vertices(g); i++)
        if (strcmp(job_graph_vertex(g, i)->id, vertex) == 0)
            v = (long)i;
    ck_assert_int_ge(v, 0);
    uint64_t m = job_field_use_unread(u, (size_t)v, op);
    job_field_use_free(u);
    job_schemas_free(s);
    job_graph_free(g);
    return m;
}

START_TEST(test_unread_fields)
{
    uint64_t got = unread_of(cases[_i].json, cases[_i].vertex, cases[_i].op);
    ck_assert_msg(got == cases[_i].unread, "%s: unread 0x%llx, expected 0x%llx", cases[_i].name,
                  (unsigned long long)got, (unsigned long long)cases[_i].unread);
}
END_TEST

/* The shipped 10 s window count: the source's bids are read for their channel (the
 * window's key and the edge's) and date_time (the timestamp assigner) only, and the
 * plan puts that into the source's OperatorConfig of every subtask's TDD. */
START_TEST(test_plan_carries_unread_fields)
{
    te_error_t err = {0};
    te_job_graph_t *g = job_graph_parse_file("conf/jobs/windowed_count.json", &err);
    ck_assert_msg(g != NULL, "%s", err.msg);
    te_id_t job_id;
    te_id_random(&job_id);
    te_job_plan_t *p = job_plan_new(g, &job_id, 1, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    static const char *const addrs[] = {"10.0.0.1:6121"};
    ck_assert_int_eq(job_plan_build(p, addrs, &err), TE_OK);
    int sources = 0;
    for (size_t t = 0; t < job_plan_n_tasks(p); t++) {
        const te_plan_task_t *task = job_plan_task(p, t);
        const Te__TaskInformation *ti = task->tdd->task_information;
        if (strcmp(job_graph_vertex(g, task->vertex)->id, "bids") == 0) {
            ck_assert_str_eq(ti->chain[0]->name, "nexmark");
            ck_assert_uint_eq(ti->chain[0]->unread_fields, BID_ALL & ~(BIT(4) | BIT(6)));
            ck_assert_uint_eq(ti->chain[1]->unread_fields, BID_ALL & ~BIT(4)); /* assign_timestamps */
            sources++;
        } else {
            ck_assert_uint_eq(ti->chain[0]->unread_fields, 0); /* the window feeds a file sink */
        }
    }
    ck_assert_int_eq(sources, 1);
    job_plan_free(p);
    job_graph_free(g);
}
END_TEST

Suite *job_field_use_suite(void)
{
    Suite *s = suite_create("job_field_use");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, test_unread_fields, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_plan_carries_unread_fields);
    suite_add_tcase(s, tc);
    return s;
}
