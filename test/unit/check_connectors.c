/*
 * Unit tests: the connectors' shared helpers (connector_util: credential redaction,
 * field access and record building, the state codec, Java's String.hashCode as
 * Flink's partition assigner uses it) and the connectors' parameter validation
 * through a real operator chain (setup only: no broker or database is contacted).
 * Expected values are written out by hand (hashCode values from Java's definition).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"
#include "harness_chain.h"

static test_chain_t g_chain;

START_TEST(test_redact)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"host=h port=5 user=u password=secret dbname=d", "host=h port=5 user=u password=*** dbname=d"},
        {"password='a b\\' c' host=h", "password=*** host=h"},
        {"postgresql://user:secret@db.example:5432/app?sslmode=require",
         "postgresql://user:***@db.example:5432/app?sslmode=require"},
        {"postgresql://db/app?user=u&password=pw&x=1", "postgresql://db/app?user=u&password=***&x=1"},
        {"host=h sslpassword=k", "host=h sslpassword=***"},
        {"host=h", "host=h"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[256];
        conn_redact(cases[i].in, out, sizeof(out));
        ck_assert_str_eq(out, cases[i].out);
        ck_assert_ptr_null(strstr(out, "secret"));
    }
    char tiny[8];
    conn_redact("password=secret", tiny, sizeof(tiny));
    ck_assert_ptr_null(strstr(tiny, "sec"));
}
END_TEST

START_TEST(test_fields_and_rows)
{
    te_record_t rec = {(const uint8_t *)"a\t\tccc", 6, TE_NO_TIMESTAMP};
    const uint8_t *p;
    uint32_t n;
    ck_assert_uint_eq(conn_field_count(&rec, '\t'), 3);
    ck_assert_int_eq(conn_field(&rec, '\t', 2, &p, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(memcmp(p, "ccc", 3), 0);
    ck_assert_int_eq(conn_field(&rec, '\t', 1, &p, &n), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(conn_field(&rec, '\t', 3, &p, &n), -1);
    op_buf_t b = {0};
    uint64_t replaced = 0;
    ck_assert_int_eq(conn_row_add(&b, '\t', 1, "x\ty\nz", 5, &replaced), 0);
    ck_assert_int_eq(conn_row_add_i64(&b, '\t', 0, -42), 0);
    ck_assert_int_eq(conn_row_add_str(&b, '\t', 0, ""), 0);
    ck_assert_uint_eq(replaced, 2);
    ck_assert_uint_eq(b.len, strlen("x y z\t-42\t"));
    ck_assert_int_eq(memcmp(b.data, "x y z\t-42\t", b.len), 0);
    op_buf_release(&b);
}
END_TEST

START_TEST(test_state_codec)
{
    op_buf_t b = {0};
    ck_assert_int_eq(conn_put_u32(&b, 0xdeadbeef) | conn_put_u64(&b, 1ULL << 40) | conn_put_str(&b, "topic"), 0);
    uint8_t *data;
    size_t len;
    conn_state_take(&b, &data, &len);
    ck_assert_uint_eq(len, 4 + 8 + 4 + 5);
    conn_state_t r = {data, len, 0, 0};
    ck_assert_uint_eq(conn_get_u32(&r), 0xdeadbeef);
    ck_assert_uint_eq(conn_get_u64(&r), 1ULL << 40);
    char *s = conn_get_str(&r);
    ck_assert_str_eq(s, "topic");
    free(s);
    ck_assert(!r.bad);
    ck_assert_uint_eq(conn_get_u32(&r), 0); /* past the end */
    ck_assert(r.bad);
    /* a length running past the end is refused, not read */
    conn_state_t t = {data, len - 1, 12, 0};
    ck_assert_ptr_null(conn_get_str(&t));
    ck_assert(t.bad);
    free(data);
}
END_TEST

START_TEST(test_java_hash)
{
    ck_assert_int_eq(conn_java_hash(""), 0);
    ck_assert_int_eq(conn_java_hash("a"), 97);
    ck_assert_int_eq(conn_java_hash("hello"), 99162322);
    ck_assert_int_eq(conn_java_hash("topic-with-a-long-name"), -49133785);
}
END_TEST

/* Bad parameters: every connector refuses them at setup, naming the problem. */
START_TEST(test_bad_parameters)
{
    static const struct {
        const char *op;
        int source;
        const char *k1, *v1, *k2, *v2, *msg;
    } cases[] = {
        {"postgres", 0, "conninfo", "host=h", "table", "t", "missing required parameter 'columns'"},
        {"postgres", 0, "conninfo", "host=h", "columns", "a", "missing required parameter 'table'"},
        {"postgres", 0, "table", "t", "columns", "a", "missing required parameter 'conninfo'"},
        {"postgres", 1, "conninfo", "host=h", "split_column", "id", "missing required parameter 'query'"},
        {"postgres", 0, "conninfo", "host=h", "passwd", "x", "unknown parameter 'passwd'"},
        {"mqtt", 1, "port", "1883", NULL, NULL, "missing required parameter 'topics'"},
        {"mqtt", 1, "topics", "a/#/b", NULL, NULL, "'a/#/b' is not a valid topic filter"},
        {"mqtt", 1, "topics", "a", "qos", "2", "parameter 'qos' = '2' is out of range"},
        {"mqtt", 0, "port", "1883", NULL, NULL, "give exactly one of 'topic'"},
        {"mqtt", 0, "topic", "a/+", NULL, NULL, "is not a valid topic name"},
        {"kafka", 1, "bootstrap_servers", "h:9092", NULL, NULL, "give exactly one of 'topics'"},
        {"kafka", 1, "topics", "t", NULL, NULL, "missing required parameter 'bootstrap_servers'"},
        {"kafka", 1, "bootstrap_servers", "h:9092", "topic_pattern", "(",
         "not a valid extended regular expression"},
        {"kafka", 1, "bootstrap_servers", "h:9092", "start_from", "yesterday", "parameter 'start_from'"},
        {"kafka", 0, "bootstrap_servers", "h:9092", "kafka.no.such.property", "1",
         "a kafka.<name> parameter was refused by librdkafka"},
        {"kafka", 0, "bootstrap_servers", "h:9092", "delivery", "twice", "parameter 'delivery' = 'twice'"},
        {"kafka", 0, "bootstrap_servers", "h:9092", "topic_field", "0", NULL}, /* valid (at_least_once) */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *keys[3] = {cases[i].k1, cases[i].k2, NULL};
        const char *vals[3] = {cases[i].v1, cases[i].v2, NULL};
        /* the kafka sink cases get a topic too (all but the topic_field one) */
        size_t n = cases[i].k2 ? 2 : 1;
        if (strcmp(cases[i].op, "kafka") == 0 && !cases[i].source && strcmp(cases[i].k2, "topic_field") != 0) {
            keys[n] = "topic";
            vals[n++] = "t";
        }
        te_error_t err = {0};
        const te_operator_def_t *def = operator_registry_find_kind(cases[i].op, cases[i].source);
        ck_assert_ptr_nonnull(def);
        ck_assert_int_eq(def->kind == TE_OP_SOURCE, cases[i].source);
        te_operator_chain_t *c = test_chain_new_def(&g_chain, def, cases[i].op, keys, vals, n, 0, 1, 0, 0, &err);
        if (cases[i].msg == NULL) {
            ck_assert_msg(c != NULL, "case %zu: %s", i, err.msg);
            operator_chain_free(c);
            continue;
        }
        ck_assert_msg(c == NULL, "%s accepted bad parameters (case %zu)", cases[i].op, i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                      cases[i].msg);
    }
}
END_TEST

Suite *connectors_suite(void)
{
    Suite *s = suite_create("connectors");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_redact);
    tcase_add_test(tc, test_fields_and_rows);
    tcase_add_test(tc, test_state_codec);
    tcase_add_test(tc, test_java_hash);
    tcase_add_test(tc, test_bad_parameters);
    suite_add_tcase(s, tc);
    return s;
}
