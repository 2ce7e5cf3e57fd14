/*
 * Unit tests: `window_aggregate` (slicing windows, sessions, processing time) and
 * `aggregate` through the real operator chain, over random out-of-order input with
 * watermarks (harness_events.h), against brute-force oracles: per record, enumerate its
 * windows and skip those already past the watermark (harness_events.h); sessions by
 * sorting each key's times; groups by counting in plain C.
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness_chain.h"
#include "harness_events.h"
#include "operators/op_slices.h"

static test_chain_t g_chain;

static const te_schema_t *kv_schema(void) { return h_schema("k:string, v:int64"); }

static te_operator_chain_t *chain_of(const char *op, const char *const *keys, const char *const *vals, size_t n,
                                     te_error_t *err)
{
    return test_chain_new_in(&g_chain, operator_registry_find(op), op, keys, vals, n, 0, 1, 0, 1, kv_schema(),
                             NULL, err);
}

/* Sorted captured lines, with column `col` of the aggregates kept (the key, start and
 * end always): "k1\t0\t100\t3\t12" -> col 1 -> "k1\t0\t100\t12". */
static char **captured_column(int col, size_t *n)
{
    char **out = calloc(cap_slot[0].n + 1, sizeof(char *));
    for (size_t i = 0; i < cap_slot[0].n; i++) {
        char *f[16];
        int nf = 0;
        char *dup = strdup(cap_slot[0].lines[i]), *save = NULL;
        for (char *t = strtok_r(dup, "\t", &save); t && nf < 16; t = strtok_r(NULL, "\t", &save))
            f[nf++] = t;
        ck_assert_int_ge(nf, 4 + col);
        if (asprintf(&out[i], "%s\t%s\t%s\t%s", f[0], f[1], f[2], f[3 + col]) < 0)
            ck_abort();
        free(dup);
    }
    qsort(out, cap_slot[0].n, sizeof(char *), str_cmp);
    *n = cap_slot[0].n;
    return out;
}

static void check_agg(const char *size, const char *slide, int64_t sz, int64_t sl, unsigned seed)
{
    gen_events(seed);
    cap_reset(0);
    const char *keys[] = {"key", "aggs", "size", "slide"};
    const char *vals[] = {"k", "count(*) AS c, sum(v) AS s, max(v) AS m, avg(v) AS a", size, slide};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of("window_aggregate", keys, vals, slide ? 4 : 3, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    char sb[256];
    ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(c, 0), sb, sizeof(sb)),
                     "(k:string, window_start:timestamp, window_end:timestamp, c:int64, s:int64?, m:int64?, "
                     "a:double?)");
    feed_events_typed(&c, 1, 0, NEV, kv_schema());
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
    for (int col = 0; col < 3; col++) {
        static char *exp[20000];
        uint64_t late;
        size_t ne = oracle_windows(sz, sl, col, exp, &late), ng;
        char **got = captured_column(col, &ng);
        qsort(exp, ne, sizeof(char *), str_cmp);
        ck_assert_uint_eq(ng, ne);
        for (size_t i = 0; i < ne; i++) {
            ck_assert_str_eq(got[i], exp[i]);
            free(exp[i]);
            free(got[i]);
        }
        free(got);
        ck_assert_uint_eq(operator_chain_counter(c, 0, "numLateRecordsDropped"), late);
    }
    /* every result carries its window's end - 1; the final watermark went through */
    for (size_t i = 0; i < cap_slot[0].n; i++) {
        long long end;
        ck_assert_int_eq(sscanf(strchr(strchr(cap_slot[0].lines[i], '\t') + 1, '\t') + 1, "%lld", &end), 1);
        ck_assert_int_eq(cap_slot[0].ts[i], end - 1);
    }
    ck_assert_int_eq(cap_slot[0].last_wm, INT64_MAX);
    operator_chain_free(c);
    cap_reset(0);
}

/* A slice table keeps one accumulator per key: keys of 0-40 bytes, near misses of each
 * (one byte changed: first, middle, last; one byte shorter), thousands of them (the
 * table grows), each counted several times in a scrambled order, against an array. */
START_TEST(test_slice_table)
{
    enum { NK = 4000 };
    static uint8_t keys[NK][40];
    static uint32_t lens[NK], want[NK];
    uint32_t x = 7;
    for (int i = 0; i < NK; i++) {
        if (i % 4 != 0) { /* a near miss of the random key before it */
            int base = i - i % 4;
            memcpy(keys[i], keys[base], sizeof(keys[i]));
            uint32_t n = lens[i] = lens[base];
            if (n == 0)
                lens[i] = 1;
            else if (i % 4 == 3)
                lens[i] = n - 1;
            else
                keys[i][i % 4 == 1 ? (i % 8 == 1 ? 0 : n / 2) : n - 1] ^= 0x20;
            continue;
        }
        lens[i] = (uint32_t)(i / 4 % 41);
        for (int b = 0; b < 40; b++)
            keys[i][b] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    }
    /* the same bytes twice count as one key: find each key's first twin */
    static uint32_t twin[NK];
    for (int i = 0; i < NK; i++) {
        twin[i] = (uint32_t)i;
        for (int j = 0; j < i; j++)
            if (lens[j] == lens[i] && memcmp(keys[j], keys[i], lens[i]) == 0) {
                twin[i] = (uint32_t)j;
                break;
            }
    }
    op_slice_t sl;
    op_slice_init(&sl, 0, 8);
    memset(want, 0, sizeof(want));
    for (int round = 0; round < 3; round++)
        for (int j = 0; j < NK; j++) {
            int i = round == 1 ? NK - 1 - j : (j * 7) % NK;
            int created;
            uint8_t *acc = op_slice_upsert(&sl, keys[i], lens[i], &created);
            ck_assert_ptr_nonnull(acc);
            uint64_t v = 0;
            if (!created)
                memcpy(&v, acc, 8);
            ck_assert_int_eq(created, want[twin[i]] == 0);
            v++;
            memcpy(acc, &v, 8);
            want[twin[i]]++;
        }
    uint32_t distinct = 0;
    for (int i = 0; i < NK; i++) {
        distinct += twin[i] == (uint32_t)i;
        uint64_t v;
        const uint8_t *acc = op_slice_find(&sl, keys[i], lens[i]);
        ck_assert_ptr_nonnull(acc);
        memcpy(&v, acc, 8);
        ck_assert_uint_eq(v, want[twin[i]]);
    }
    ck_assert_uint_eq(sl.n, distinct);
    ck_assert_ptr_null(op_slice_find(&sl, (const uint8_t *)"not a key of the table", 22));
    /* 200,000 keys of 12-16 bytes with the same first 8: some pairs share their 32-bit
     * hash (about five are expected), so the comparison of the rest tells them apart */
    enum { NH = 200000 };
    op_slice_clear(&sl, 1);
    for (uint32_t i = 0; i < NH; i++) {
        uint8_t k[16] = "samehead";
        uint32_t v = i * 2654435761u; /* distinct for distinct i */
        memcpy(k + 8, &v, 4);
        memcpy(k + 12, &i, 4);
        int created;
        uint8_t *acc = op_slice_upsert(&sl, k, 12 + i % 5, &created);
        ck_assert_ptr_nonnull(acc);
        ck_assert_int_eq(created, 1);
        memcpy(acc, &i, 4);
    }
    ck_assert_uint_eq(sl.n, NH);
    for (uint32_t i = 0; i < NH; i++) {
        uint8_t k[16] = "samehead";
        uint32_t v = i * 2654435761u, got;
        memcpy(k + 8, &v, 4);
        memcpy(k + 12, &i, 4);
        const uint8_t *acc = op_slice_find(&sl, k, 12 + i % 5);
        ck_assert_ptr_nonnull(acc);
        memcpy(&got, acc, 4);
        ck_assert_uint_eq(got, i);
    }
    op_slice_release(&sl);
}
END_TEST

START_TEST(test_tumbling) { check_agg("100ms", NULL, 100, 100, 1); }
END_TEST

START_TEST(test_sliding) { check_agg("1s", "250ms", 1000, 250, 3); }
END_TEST

START_TEST(test_sliding_uneven) { check_agg("300", "200", 300, 200, 5); } /* slices of gcd = 100 */
END_TEST

/* Sessions: no watermark until the end, so nothing is late; per key the sorted times
 * split where two are gap or more apart. */
START_TEST(test_sessions)
{
    gen_events_keys(11, 4);
    for (int i = 0; i < NEV; i++)
        if (evs[i].is_wm)
            evs[i].t = INT64_MIN + 1; /* no watermark progress before the end */
    cap_reset(0);
    const char *keys[] = {"key", "aggs", "gap"};
    const char *vals[] = {"k", "count(*) AS c, min(v) AS lo", "40ms"};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of("window_aggregate", keys, vals, 3, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_events_typed(&c, 1, 0, NEV, kv_schema());
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
    /* oracle */
    static char *exp[NEV];
    size_t ne = 0;
    for (int k = 0; k < 4; k++) {
        static int64_t ts[NEV];
        static int vs[NEV];
        int n = 0;
        for (int i = 0; i < NEV; i++)
            if (!evs[i].is_wm && evs[i].key == k) {
                ts[n] = evs[i].t;
                vs[n++] = evs[i].val;
            }
        for (int a = 0; a < n; a++) /* insertion sort by time, values along */
            for (int b = a; b > 0 && ts[b - 1] > ts[b]; b--) {
                int64_t t = ts[b];
                ts[b] = ts[b - 1];
                ts[b - 1] = t;
                int v = vs[b];
                vs[b] = vs[b - 1];
                vs[b - 1] = v;
            }
        for (int a = 0; a < n;) {
            int b = a, lo = vs[a];
            while (b + 1 < n && ts[b + 1] < ts[b] + 40) {
                b++;
                lo = vs[b] < lo ? vs[b] : lo;
            }
            if (asprintf(&exp[ne++], "k%d\t%lld\t%lld\t%d\t%d", k, (long long)ts[a], (long long)ts[b] + 40,
                         b - a + 1, lo) < 0)
                ck_abort();
            a = b + 1;
        }
    }
    qsort(exp, ne, sizeof(char *), str_cmp);
    qsort(cap_slot[0].lines, cap_slot[0].n, sizeof(char *), str_cmp);
    ck_assert_uint_eq(cap_slot[0].n, ne);
    for (size_t i = 0; i < ne; i++) {
        ck_assert_str_eq(cap_slot[0].lines[i], exp[i]);
        free(exp[i]);
    }
    operator_chain_free(c);
    cap_reset(0);
}
END_TEST

/* Processing time: every row lands in exactly one aligned window of the wall clock. */
START_TEST(test_processing_time)
{
    cap_reset(0);
    const char *keys[] = {"key", "aggs", "size", "time"};
    const char *vals[] = {"k", "count(*) AS c", "30ms", "processing"};
    te_error_t err = {0};
    te_operator_chain_t *c = chain_of("window_aggregate", keys, vals, 4, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    long per_key[3] = {0};
    for (int i = 0; i < 300; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "k%d\t%d", i % 3, i);
        per_key[i % 3]++;
        ck_assert_int_eq(push_tsv(c, 0, kv_schema(), buf, TE_NO_TIMESTAMP, &err), TE_OK);
        if (i % 50 == 49) {
            usleep(40000);
            ck_assert_int_eq(
                operator_chain_fire_processing_timers(c, operator_chain_next_processing_timer(c) + 1, &err),
                TE_OK);
        }
    }
    ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
    long seen[3] = {0};
    for (size_t i = 0; i < cap_slot[0].n; i++) {
        int k;
        long long s, e, n;
        ck_assert_int_eq(sscanf(cap_slot[0].lines[i], "k%d\t%lld\t%lld\t%lld", &k, &s, &e, &n), 4);
        ck_assert_int_eq(e - s, 30);
        ck_assert_int_eq(s % 30, 0);
        seen[k] += n;
    }
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(seen[k], per_key[k]);
    ck_assert_uint_gt(cap_slot[0].n, 3); /* several windows */
    operator_chain_free(c);
    cap_reset(0);
}
END_TEST

/* aggregate: emit=final per key vs counting in C; emit=updates' last row per key is the
 * final one; count(DISTINCT) and FILTER. */
START_TEST(test_aggregate)
{
    gen_events_keys(21, 6);
    const char *modes[] = {"final", "updates"};
    for (int m = 0; m < 2; m++) {
        cap_reset(0);
        const char *keys[] = {"key", "aggs", "emit"};
        const char *vals[] = {"k",
                              "count(*) AS n, count(DISTINCT v) AS d, sum(v) FILTER (WHERE v > 10) AS big, "
                              "min(v), max(k)",
                              modes[m]};
        te_error_t err = {0};
        te_operator_chain_t *c = chain_of("aggregate", keys, vals, 3, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        char sb[256];
        ck_assert_str_eq(te_schema_format(operator_chain_op_output_schema(c, 0), sb, sizeof(sb)),
                         "(k:string, n:int64, d:int64, big:int64?, min_v:int64?, max_k:string?)");
        feed_events_typed(&c, 1, 0, NEV, kv_schema());
        ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
        for (int k = 0; k < 6; k++) {
            long n = 0, big = 0, lo = 1000000;
            int any_big = 0;
            char seen[200] = {0};
            long d = 0;
            for (int i = 0; i < NEV; i++) {
                if (evs[i].is_wm || evs[i].key != k)
                    continue;
                n++;
                if (!seen[evs[i].val + 50]++)
                    d++;
                if (evs[i].val > 10) {
                    big += evs[i].val;
                    any_big = 1;
                }
                lo = evs[i].val < lo ? evs[i].val : lo;
            }
            char want[128], bigs[24] = "";
            if (any_big)
                snprintf(bigs, sizeof(bigs), "%ld", big);
            snprintf(want, sizeof(want), "k%d\t%ld\t%ld\t%s\t%ld\tk%d", k, n, d, bigs, lo, k);
            const char *last = NULL;
            for (size_t i = 0; i < cap_slot[0].n; i++)
                if (strncmp(cap_slot[0].lines[i], want, 3) == 0)
                    last = cap_slot[0].lines[i];
            ck_assert_ptr_nonnull(last);
            ck_assert_str_eq(last, want);
        }
        if (m == 0)
            ck_assert_uint_eq(cap_slot[0].n, 6);
        operator_chain_free(c);
    }
    cap_reset(0);
}
END_TEST

/* top_n: ROW_NUMBER vs RANK with ties, per tumbling window, fired by the watermark. */
START_TEST(test_top_n_ties)
{
    static const char *rows[] = {"a\t5", "b\t9", "c\t9", "d\t7", "e\t9", "f\t1"};
    for (int ties = 0; ties < 2; ties++) {
        cap_reset(0);
        const char *keys[] = {"order", "n", "ties", "size", "rank_field"};
        const char *vals[] = {"v desc", "2", ties ? "true" : "false", "100ms", "rank"};
        te_error_t err = {0};
        te_operator_chain_t *c = chain_of("top_n", keys, vals, 5, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        for (int i = 0; i < 6; i++)
            ck_assert_int_eq(push_tsv(c, 0, kv_schema(), rows[i], 1000 + i, &err), TE_OK);
        ck_assert_int_eq(push_tsv(c, 0, kv_schema(), "late\t99", 1200, &err), TE_OK); /* another window */
        ck_assert_int_eq(operator_chain_process_watermark(c, 1099, &err), TE_OK);
        if (ties) { /* RANK: the three 9s share rank 1 */
            ck_assert_uint_eq(cap_slot[0].n, 3);
            ck_assert_str_eq(cap_slot[0].lines[0], "b\t9\t1");
            ck_assert_str_eq(cap_slot[0].lines[1], "c\t9\t1");
            ck_assert_str_eq(cap_slot[0].lines[2], "e\t9\t1");
        } else { /* ROW_NUMBER: the first two 9s by arrival */
            ck_assert_uint_eq(cap_slot[0].n, 2);
            ck_assert_str_eq(cap_slot[0].lines[0], "b\t9\t1");
            ck_assert_str_eq(cap_slot[0].lines[1], "c\t9\t2");
        }
        ck_assert_int_eq(cap_slot[0].ts[0], 1099);
        ck_assert_int_eq(operator_chain_end_input(c, 0, &err), TE_OK);
        ck_assert_str_eq(cap_slot[0].lines[cap_slot[0].n - 1], "late\t99\t1");
        operator_chain_free(c);
    }
    cap_reset(0);
}
END_TEST

START_TEST(test_bad_parameters)
{
    static const struct {
        const char *op, *k1, *v1, *k2, *v2, *msg;
    } cases[] = {
        {"window_aggregate", "aggs", "count(*)", "size", "0", "parameter 'size' = '0' is out of range"},
        {"window_aggregate", "aggs", "count(DISTINCT v)", "size", "1s", "not count(DISTINCT)"},
        {"window_aggregate", "aggs", "max(k)", "size", "1s", "min/max of strings"},
        {"window_aggregate", "aggs", "count(*)", "gap", "1s", NULL},
        {"window_aggregate", "aggs", "median(v)", "size", "1s", "unknown aggregate 'median'"},
        {"window_aggregate", "aggs", "sum(k)", "size", "1s", "sum needs a number, got a string"},
        {"window_aggregate", "key", "zz", "aggs", "count(*)", "parameter 'key' = 'zz': no field of that name"},
        {"aggregate", "aggs", "count(*) AS a, sum(v) AS a", NULL, NULL, "two aggregates are named 'a'"},
        {"aggregate", "aggs", "count(*)", "emit", "sometimes", "parameter 'emit' = 'sometimes'"},
        {"aggregate", "aggs", "count(*) FILTER (v > 1)", NULL, NULL, "expected FILTER (WHERE condition)"},
        {"aggregate", "aggs", "sum(v", NULL, NULL, "unbalanced '('"},
        {"aggregate", "aggs", "count(*)", "fire_at", "v", "parameter 'fire_at' needs emit = timer"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *keys[3] = {cases[i].k1, cases[i].k2, "size"};
        const char *vals[3] = {cases[i].v1, cases[i].v2, "1s"};
        te_error_t err = {0};
        size_t n = cases[i].k2 ? 2 : 1;
        if (cases[i].msg == NULL) { /* gap and size exclude each other */
            n = 3;
        }
        te_operator_chain_t *c = chain_of(cases[i].op, keys, vals, n, &err);
        ck_assert_msg(c == NULL, "%s accepted bad parameters (case %zu)", cases[i].op, i);
        if (cases[i].msg)
            ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                          cases[i].msg);
    }
}
END_TEST

Suite *window_agg_suite(void)
{
    Suite *s = suite_create("window_agg");
    TCase *tc = tcase_create("windows");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_slice_table);
    tcase_add_test(tc, test_tumbling);
    tcase_add_test(tc, test_sliding);
    tcase_add_test(tc, test_sliding_uneven);
    tcase_add_test(tc, test_sessions);
    tcase_add_test(tc, test_processing_time);
    tcase_add_test(tc, test_aggregate);
    tcase_add_test(tc, test_top_n_ties);
    tcase_add_test(tc, test_bad_parameters);
    suite_add_tcase(s, tc);
    return s;
}
