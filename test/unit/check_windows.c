/*
 * Unit tests: event time through the real operator chain (operator_chain.c: timers in
 * the watermark path, keyed state, counters) — tumbling / sliding windows (the slicing
 * engine of window_aggregate), window_join and interval_join over random out-of-order
 * rows with watermarks (harness_events.h), compared with brute-force oracles (per
 * record: enumerate its windows, skip the late ones: harness_events.h; the joins'
 * pairs here); late records counted; end of input fires every pending window;
 * assign_timestamps' watermarks; the watermark valve with an idle channel; bad
 * parameters named.
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness_chain.h"
#include "harness_events.h"
#include "runtime/watermark_valve.h"

/* [op(params), capture] as the only subtask (harness_chain.h), reading rows of `in`
 * (on both inputs of a two-input operator); chain_of reads (k:string, t:int64). */
static test_chain_t g_chain;
static const te_schema_t *kt_schema(void) { return h_schema("k:string, t:int64"); }
static te_operator_chain_t *chain_in(const char *op, const char *const *keys, const char *const *vals, size_t n,
                                     const te_schema_t *in, te_error_t *err)
{
    const te_operator_def_t *d = operator_registry_find(op);
    return test_chain_new_in(&g_chain, d, op, keys, vals, n, 0, 1, 0, 1, in,
                             d && d->kind == TE_OP_TWO_INPUT ? in : NULL, err);
}
static te_operator_chain_t *chain_of(const char *op, const char *const *keys, const char *const *vals, size_t n,
                                     te_error_t *err)
{
    return chain_in(op, keys, vals, n, kt_schema(), err);
}

/* All events (rows (k, v) of kt_schema), then the end of input. */
static void feed_events(te_operator_chain_t *c, int two_inputs)
{
    te_error_t err = {0};
    feed_events_typed2(&c, 1, 0, NEV, kt_schema(), two_inputs);
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
}

static void check_window(const char *op, const char *size, const char *slide, const char *agg, int64_t sz,
                         int64_t sl, int aggn, unsigned seed)
{
    gen_events(seed);
    cap_reset(0);
    const char *keys[] = {"key_field", "size", "agg", "value_field", "slide"};
    const char *vals[] = {"0", size, agg, "1", slide};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of(op, keys, vals, slide ? 5 : 4, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_events(c, 0);
    static char *exp[20000];
    uint64_t late;
    size_t ne = oracle_windows(sz, sl, aggn, exp, &late);
    ck_assert_uint_eq(cap_slot[0].n, ne);
    qsort(exp, ne, sizeof(char *), str_cmp);
    qsort(cap_slot[0].lines, cap_slot[0].n, sizeof(char *), str_cmp);
    for (size_t i = 0; i < ne; i++) {
        ck_assert_str_eq(cap_slot[0].lines[i], exp[i]);
        free(exp[i]);
    }
    if (sl == sz)
        ck_assert_uint_gt(late, 0); /* the input does have late records */
    ck_assert_uint_eq(operator_chain_counter(c, 0, "numLateRecordsDropped"), late);
    ck_assert_int_eq(cap_slot[0].last_wm, INT64_MAX); /* the final watermark went through */
    ck_assert_uint_eq(operator_chain_timer_count(c, 0, 1), 0);
    operator_chain_free(c);
    cap_reset(0);
}

START_TEST(test_tumbling_count) { check_window("tumbling_window", "100ms", NULL, "count", 100, 100, 0, 1); }
END_TEST

START_TEST(test_tumbling_sum) { check_window("tumbling_window", "250", NULL, "sum", 250, 250, 1, 2); }
END_TEST

START_TEST(test_sliding_max) { check_window("sliding_window", "1s", "250ms", "max", 1000, 250, 2, 3); }
END_TEST

START_TEST(test_sliding_count) { check_window("sliding_window", "300", "100", "count", 300, 100, 0, 4); }
END_TEST

/* ---- the joins' oracle: every pair of non-late rows (left input 0, right input 1) that
 * `pair` accepts, as the line it writes ---- */

/* keep[i] = event i is a record that was not late when it arrived: its window
 * [floor(t), floor(t) + window - 1] not yet closed by the watermark (window > 0), or
 * t >= watermark (window 0). The number of late records. */
static uint64_t keep_non_late(int *keep, int64_t window)
{
    int64_t wm = INT64_MIN;
    uint64_t late = 0;
    for (int i = 0; i < NEV; i++) {
        keep[i] = 0;
        if (evs[i].is_wm)
            wm = evs[i].t > wm ? evs[i].t : wm;
        else if (window > 0 ? floor_to(evs[i].t, window) + window - 1 <= wm : evs[i].t < wm)
            late++;
        else
            keep[i] = 1;
    }
    return late;
}

/* The chain's captured lines must be exactly the oracle's pairs; frees them. */
static void check_pairs(te_operator_chain_t *c, int64_t window,
                        int (*pair)(const ev_t *l, const ev_t *r, char **line))
{
    static int keep[NEV];
    static char *exp[400000];
    uint64_t late = keep_non_late(keep, window);
    size_t ne = 0;
    for (int a = 0; a < NEV; a++)
        for (int b = 0; keep[a] && evs[a].input == 0 && b < NEV; b++)
            if (keep[b] && evs[b].input == 1 && evs[b].key == evs[a].key && pair(&evs[a], &evs[b], &exp[ne])) {
                ck_assert_uint_lt(ne, 400000 - 1);
                ne++;
            }
    ck_assert_uint_gt(ne, 0);
    ck_assert_uint_eq(cap_slot[0].n, ne);
    qsort(exp, ne, sizeof(char *), str_cmp);
    qsort(cap_slot[0].lines, cap_slot[0].n, sizeof(char *), str_cmp);
    for (size_t i = 0; i < ne; i++) {
        ck_assert_str_eq(cap_slot[0].lines[i], exp[i]);
        free(exp[i]);
    }
    ck_assert_uint_eq(operator_chain_counter(c, 0, "numLateRecordsDropped"), late);
}

/* window_join (200 ms): same key and window; key, left row, right row */
static int window_pair(const ev_t *l, const ev_t *r, char **line)
{
    if (floor_to(l->t, 200) != floor_to(r->t, 200))
        return 0;
    if (asprintf(line, "k%d\tk%d\t%d\tk%d\t%d", l->key, l->key, l->val, r->key, r->val) < 0)
        ck_abort();
    return 1;
}

/* interval_join (lower -50 ms, upper 30 ms): l.t - 50 <= r.t <= l.t + 30; left row, right row */
static int interval_pair(const ev_t *l, const ev_t *r, char **line)
{
    if (r->t < l->t - 50 || r->t > l->t + 30)
        return 0;
    if (asprintf(line, "k%d\t%d\tk%d\t%d", l->key, l->val, r->key, r->val) < 0)
        ck_abort();
    return 1;
}

START_TEST(test_window_join)
{
    gen_events(5);
    cap_reset(0);
    const char *keys[] = {"size", "left_key_field", "right_key_field"};
    const char *vals[] = {"200ms", "0", "0"};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of("window_join", keys, vals, 3, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_events(c, 1);
    check_pairs(c, 200, window_pair);
    operator_chain_free(c);
    cap_reset(0);
}
END_TEST

/* interval_join over random out-of-order rows: every pair of non-late rows of one key
 * within the bounds, each once (a row kept while a later non-late row of the other side
 * can still reach it is exactly that); once the final watermark passed, no row and no
 * timer is left. */
START_TEST(test_interval_join)
{
    for (unsigned seed = 7; seed < 10; seed++) {
        gen_events(seed);
        cap_reset(0);
        const char *keys[] = {"left_key", "right_key", "right_prefix", "lower", "upper"};
        const char *vals[] = {"k", "k", "r_", "-50ms", "30ms"};
        te_error_t err = {0};
        te_operator_chain_t *c = chain_of("interval_join", keys, vals, 5, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        feed_events(c, 1);
        check_pairs(c, 0, interval_pair);
        ck_assert_uint_gt(operator_chain_counter(c, 0, "numLateRecordsDropped"), 0);
        ck_assert_uint_eq(state_backend_entries(operator_chain_state_backend(c, 0)), 0);
        ck_assert_uint_eq(operator_chain_timer_count(c, 0, 1), 0);
        operator_chain_free(c);
        cap_reset(0);
    }
}
END_TEST

START_TEST(test_assign_timestamps_punctuated)
{
    cap_reset(0);
    const char *keys[] = {"field", "max_out_of_orderness", "watermark_interval"};
    const char *vals[] = {"1", "50ms", "0"};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of("assign_timestamps", keys, vals, 3, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    int64_t ts[] = {1000, 900, 1200, 1100, 1300};
    int64_t max = INT64_MIN;
    for (size_t i = 0; i < 5; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "a\t%lld", (long long)ts[i]);
        ck_assert_int_eq(push_tsv(c, 0, kt_schema(), buf, TE_NO_TIMESTAMP, &err), TE_OK);
        max = ts[i] > max ? ts[i] : max;
        ck_assert_int_eq(cap_slot[0].last_wm, max - 50 - 1); /* BoundedOutOfOrdernessWatermarks */
    }
    /* upstream watermarks are ignored */
    ck_assert_int_eq(operator_chain_process_watermark(c, 5000, &err), TE_OK);
    ck_assert_int_eq(cap_slot[0].last_wm, 1300 - 51);
    ck_assert_uint_eq(cap_slot[0].n, 5);
    operator_chain_free(c);
    cap_reset(0);
    /* a null timestamp fails the task, naming the field */
    const te_schema_t *nullable = h_schema("k:string, t:int64?");
    c = test_chain_new_in(&g_chain, operator_registry_find("assign_timestamps"), "assign_timestamps", keys, vals,
                          3, 0, 1, 0, 1, nullable, NULL, &err);
    ck_assert_int_ne(push_tsv(c, 0, nullable, "a\t", TE_NO_TIMESTAMP, &err), TE_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "field 1 is null"));
    operator_chain_free(c);
    cap_reset(0);
}
END_TEST

START_TEST(test_valve_idle_channel)
{
    /* random watermarks on 3 channels, channel 2 idle for a while: the output never
     * passes the minimum over the active channels, and advances while 2 is idle */
    te_watermark_valve_t *v = watermark_valve_new(3);
    int64_t wm[3] = {INT64_MIN, INT64_MIN, INT64_MIN}, out = INT64_MIN, o;
    int active[3] = {1, 1, 1};
    srand(8);
    int advanced_while_idle = 0;
    for (int i = 0; i < 5000; i++) {
        int ch = rand() % 3;
        if (i == 1000) {
            ck_assert_int_eq(watermark_valve_input_status(v, 2, 1, &o) & TE_VALVE_STATUS_IDLE, 0);
            active[2] = 0;
        }
        if (!active[ch])
            continue;
        wm[ch] = (wm[ch] == INT64_MIN ? 0 : wm[ch]) + rand() % 10;
        if (watermark_valve_input_watermark(v, (uint32_t)ch, wm[ch], &o) & TE_VALVE_WATERMARK) {
            ck_assert_int_gt(o, out);
            out = o;
            if (!active[2])
                advanced_while_idle = 1;
        }
        int64_t min = INT64_MAX;
        for (int k = 0; k < 3; k++)
            if (active[k] && wm[k] < min)
                min = wm[k];
        ck_assert_int_le(out, min);
    }
    ck_assert(advanced_while_idle);
    /* everyone idle: status idle */
    watermark_valve_input_status(v, 0, 1, &o);
    ck_assert_int_ne(watermark_valve_input_status(v, 1, 1, &o) & TE_VALVE_STATUS_IDLE, 0);
    ck_assert(watermark_valve_is_idle(v));
    watermark_valve_free(v);
}
END_TEST

START_TEST(test_bad_parameters)
{
    static const struct {
        const char *op, *k1, *v1, *k2, *v2, *msg;
    } cases[] = {
        {"tumbling_window", "size", "10 s", NULL, NULL, "parameter 'size' = '10 s' is not a duration"},
        {"tumbling_window", "agg", "mean", "size", "1s",
         "parameter 'agg' = 'mean' is not one of count, sum, min, max, avg"},
        {"tumbling_window", "agg", "avg", "size", "1s", "missing required parameter 'value_field'"},
        {"tumbling_window", "agg", "sum", "size", "1s", "missing required parameter 'value_field'"},
        {"tumbling_window", "slide", "1s", "size", "1s", "unknown parameter 'slide'"},
        {"sliding_window", "size", "1s", "slide", "2s", "parameter 'slide' = '2s' is larger than 'size'"},
        {"sliding_window", "size", "1s", NULL, NULL, "missing required parameter 'slide'"},
        {"sliding_window", "size", "0", "slide", "0", "parameter 'size' = '0' is out of range"},
        {"assign_timestamps", "field", "x", NULL, NULL, "parameter 'field' = 'x': no field of that name"},
        {"assign_timestamps", "field", "k", NULL, NULL, "parameter 'field' = 'k' is a string field"},
        {"assign_timestamps", "field", "1", "max_out_of_orderness", "-5", "'max_out_of_orderness' = '-5'"},
        {"assign_timestamps", "field", "1", "idle_timeout", "3 days", "'idle_timeout' = '3 days'"},
        {"window_join", "left_key_field", "0", NULL, NULL, "missing required parameter 'size'"},
        {"keyed_reduce", "value_field", "1", "fn", "avg",
         "parameter 'fn' = 'avg' is not one of sum, min, max, concat"},
        {"keyed_reduce", "value_field", "1", NULL, NULL, "missing required parameter 'fn'"},
        {"keyed_sum", "key_field", "0", NULL, NULL, "missing required parameter 'value_field'"},
        {"keyed_sum", "value_field", "1", "emit", "never", "parameter 'emit' = 'never'"},
        {"union", "key_field", "0", NULL, NULL, "unknown parameter 'key_field'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *keys[2] = {cases[i].k1, cases[i].k2};
        const char *vals[2] = {cases[i].v1, cases[i].v2};
        te_error_t err = {0};
        te_operator_chain_t *c = chain_of(cases[i].op, keys, vals, cases[i].k2 ? 2 : 1, &err);
        ck_assert_msg(c == NULL, "%s accepted bad parameters (case %zu)", cases[i].op, i);
        ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                      cases[i].msg);
        ck_assert_msg(strstr(err.msg, cases[i].op) != NULL, "case %zu: '%s' does not name the operator", i,
                      err.msg);
    }
}
END_TEST

START_TEST(test_keyed_reduce_and_union)
{
    cap_reset(0);
    const char *keys[] = {"value_field", "fn", "emit"};
    const char *vals[] = {"1", "concat", "final"};
    te_error_t err = {0};
    const te_schema_t *ks = h_schema("k:string, v:string");
    te_operator_chain_t *c = chain_in("keyed_reduce", keys, vals, 3, ks, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const char *in[] = {"a\tx", "b\ty", "a\tz", "b\tw", "a\tq"};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(push_tsv(c, 0, ks, in[i], TE_NO_TIMESTAMP, &err), TE_OK);
    ck_assert_uint_eq(cap_slot[0].n, 0);
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
    ck_assert_uint_eq(cap_slot[0].n, 2);
    ck_assert_str_eq(cap_slot[0].lines[0], "a\tx,z,q");
    ck_assert_str_eq(cap_slot[0].lines[1], "b\ty,w");
    operator_chain_free(c);
    cap_reset(0);

    /* numbers of a double field, and of a string field (text that is not a number
     * fails the task, naming the field) */
    const char *sk[] = {"value_field"};
    const char *sv[] = {"v"};
    for (int typed = 1; typed >= 0; typed--) {
        const te_schema_t *ns = h_schema(typed ? "k:string, v:double" : "k:string, v:string");
        c = chain_in("keyed_sum", sk, sv, 1, ns, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        const char *nums[] = {"a\t1.5", "a\t2", "b\t-3", "a\t10"};
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(push_tsv(c, 0, ns, nums[i], TE_NO_TIMESTAMP, &err), TE_OK);
        ck_assert_str_eq(cap_slot[0].lines[1], "a\t3.5");
        ck_assert_str_eq(cap_slot[0].lines[2], "b\t-3");
        ck_assert_str_eq(cap_slot[0].lines[3], "a\t13.5");
        if (!typed) {
            ck_assert_int_ne(push_tsv(c, 0, ns, "a\tlots", TE_NO_TIMESTAMP, &err), TE_OK);
            ck_assert_msg(strstr(err.msg, "value_field 'v' = 'lots' is not a number") != NULL, "%s", err.msg);
        }
        operator_chain_free(c);
        cap_reset(0);
    }

    c = chain_in("union", NULL, NULL, 0, NULL, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    te_record_t r0 = {(const uint8_t *)"left", 4, 5}, r1 = {(const uint8_t *)"right", 5, 6};
    ck_assert_int_eq(push_text_rec(c, 0, &r0, &err), TE_OK);
    ck_assert_int_eq(push_text_rec(c, 1, &r1, &err), TE_OK);
    ck_assert_uint_eq(cap_slot[0].n, 2);
    ck_assert_str_eq(cap_slot[0].lines[1], "right");
    operator_chain_free(c);
    cap_reset(0);
}
END_TEST

Suite *windows_suite(void)
{
    Suite *s = suite_create("windows");
    TCase *tc = tcase_create("event_time");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tumbling_count);
    tcase_add_test(tc, test_tumbling_sum);
    tcase_add_test(tc, test_sliding_max);
    tcase_add_test(tc, test_sliding_count);
    tcase_add_test(tc, test_window_join);
    tcase_add_test(tc, test_interval_join);
    tcase_add_test(tc, test_assign_timestamps_punctuated);
    tcase_add_test(tc, test_valve_idle_channel);
    tcase_add_test(tc, test_bad_parameters);
    tcase_add_test(tc, test_keyed_reduce_and_union);
    suite_add_tcase(s, tc);
    return s;
}
