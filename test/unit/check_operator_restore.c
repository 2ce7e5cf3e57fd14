/*
 * Unit tests: restore of every built-in operator's state. Each test drives an operator
 * through a real operator chain (harness_chain.h), takes a checkpoint the way a task
 * does (operator_chain_snapshot_state, the synchronous part, into an async_checkpoint;
 * then its asynchronous part writes the snapshot file — here right away, on the test's
 * thread), abandons the chain as a failure would (no end of input,
 * no close), restores a fresh chain from the file the way a task does
 * (subtask_checkpoint_restore: read, decode, key groups redistributed, before open),
 * feeds it the rest of the input and compares all the two chains produced with an
 * oracle: the same operator run uninterrupted over the whole input, and where it is
 * cheap a direct computation here.
 *
 * Covered: the positions of sequence, nexmark and file_lines (subtasks of parallel
 * sources; before the first record and after the end); keyed_count, keyed_sum,
 * keyed_reduce and max_by (keyed state; max_by's event-time timers); tumbling_window,
 * sliding_window and window_aggregate (pending slices saved into keyed state, sessions
 * with their timers) and window_join (the buffered
 * records of both inputs); keyed state and timers restored at another parallelism
 * (two subtasks into one, one into two, two into three); file_sink's two-phase commit
 * (also partitioned into buckets by a field)
 * (restored from a confirmed and from an unconfirmed checkpoint, with files written
 * after it on disk); assign_timestamps (no state of its own: a restored tick timer does
 * not add a second tick); a processing-time timer's stored form (wall-clock time) and
 * its restored due time; and a table that makes every built-in take a side
 * (restore-tested here, or without state).
 *
 * Windows and joins are checkpointed right before a watermark: the watermark is not
 * state (as in Flink, it starts over after a restore), so only there does the restored
 * chain judge lateness exactly as the uninterrupted one.
 *
 * The keyed tests run twice: with the hashmap backend and with rocksdb (test case
 * "restore-rocksdb": every chain keeps its keyed state in its own RocksDB instance, so
 * the restored chains read what another backend instance wrote).
 *
 * Threading: single-threaded; files go to a mkdtemp directory removed at the end.
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "harness_chain.h"
#include "harness_events.h"
#include "runtime/async_checkpoint.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "runtime/timer_service.h"
#include "state/checkpoint_reader.h"
#include "state/checkpoint_storage.h"
#include "state/state_backend.h"

#define MAXP 128

/* ---- files ---- */

static char g_dir[64];

static void tmp_dir_make(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/check_restore.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static int unlink_any(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void tmp_dir_remove(void) { ck_assert_int_eq(nftw(g_dir, unlink_any, 16, FTW_DEPTH | FTW_PHYS), 0); }

static void ckpt_path(char *buf, size_t n, uint64_t id, uint32_t subtask)
{
    snprintf(buf, n, "%s/chk-%llu/sub-%u", g_dir, (unsigned long long)id, subtask);
}

/* ---- checkpoint and restore, as a task does them ---- */

/* Checkpoint `id` of subtask `subtask` of `par`: the chain's state as the snapshot file
 * a task writes. Returns the number of sections. */
static size_t checkpoint(te_operator_chain_t *c, uint64_t id, uint32_t subtask, uint32_t par)
{
    uint32_t kgf, kgl;
    key_group_range(subtask, MAXP, par, &kgf, &kgl);
    char path[256];
    ckpt_path(path, sizeof(path), id, subtask);
    te_ckpt_file_info_t info = {id, subtask, par, MAXP, kgf, kgl};
    te_async_checkpoint_t *ac = async_checkpoint_new(path, &info, operator_chain_state_store(c));
    ck_assert_ptr_nonnull(ac);
    te_error_t err = {0};
    ck_assert_msg(operator_chain_snapshot_state(c, id, ac, &err) == TE_OK, "%s", err.msg);
    uint64_t size = 0;
    ck_assert_msg(async_checkpoint_write(ac, &size, &err) == TE_OK, "%s", err.msg);
    async_checkpoint_free(ac);
    te_ckpt_reader_t *r = checkpoint_reader_open(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_uint_eq(checkpoint_reader_info(r)->checkpoint_id, id);
    ck_assert_uint_gt(size, 44);
    size_t n = checkpoint_reader_count(r);
    checkpoint_reader_close(r);
    return n;
}

/* Restores subtask `subtask` of `par` (before open) from the files of old subtasks
 * first..first+n-1 of checkpoint `id`, taken at parallelism `old_par`. */
static void restore_from(te_operator_chain_t *c, uint32_t subtask, uint32_t par, uint64_t id, uint32_t old_par,
                         uint32_t first, uint32_t n)
{
    char paths[8][256];
    te_restore_handle_t h[8];
    ck_assert_uint_le(n, 8);
    for (uint32_t j = 0; j < n; j++) {
        ckpt_path(paths[j], sizeof(paths[j]), id, first + j);
        h[j] = (te_restore_handle_t){paths[j], first + j, old_par};
    }
    te_error_t err = {0};
    ck_assert_msg(subtask_checkpoint_restore(c, subtask, par, MAXP, h, n, NULL, &err) == TE_OK, "%s", err.msg);
}

/* The same given every handle of the vertex, as a task is. */
static void restore(te_operator_chain_t *c, uint32_t subtask, uint32_t par, uint64_t id, uint32_t old_par)
{
    restore_from(c, subtask, par, id, old_par, 0, old_par);
}

static void open_chain(te_operator_chain_t *c)
{
    te_error_t err = {0};
    ck_assert_msg(operator_chain_open(c, &err) == TE_OK, "%s", err.msg);
}

/* End of input, close, free: a bounded run that finishes. */
static void finish(te_operator_chain_t *c)
{
    te_error_t err = {0};
    ck_assert_msg(operator_chain_end_input(c, 0, &err) == TE_OK, "%s", err.msg);
    ck_assert_msg(operator_chain_close(c, &err) == TE_OK, "%s", err.msg);
    operator_chain_free(c);
}

/* ---- comparing outputs ---- */

/* Copies of the records of slots [from, to), in order, each "<record>@<timestamp>". */
static char **gather(int from, int to, size_t *n)
{
    *n = 0;
    for (int s = from; s < to; s++)
        *n += cap_slot[s].n;
    char **out = calloc(*n + 1, sizeof(char *));
    size_t k = 0;
    for (int s = from; s < to; s++)
        for (size_t i = 0; i < cap_slot[s].n; i++)
            if (asprintf(&out[k++], "%s@%lld", cap_slot[s].lines[i], (long long)cap_slot[s].ts[i]) < 0)
                ck_abort();
    return out;
}

/* Asserts got == exp (as multisets when `sorted`) and frees both. */
static void expect_same(char **got, size_t ng, char **exp, size_t ne, int sorted, const char *what)
{
    if (sorted) {
        qsort(got, ng, sizeof(char *), str_cmp);
        qsort(exp, ne, sizeof(char *), str_cmp);
    }
    for (size_t i = 0; i < ng && i < ne; i++)
        ck_assert_msg(strcmp(got[i], exp[i]) == 0, "%s: record %zu is '%s', expected '%s'", what, i, got[i],
                      exp[i]);
    ck_assert_msg(ng == ne, "%s: %zu records, expected %zu", what, ng, ne);
    for (size_t i = 0; i < ng; i++)
        free(got[i]);
    for (size_t i = 0; i < ne; i++)
        free(exp[i]);
    free(got);
    free(exp);
}

/* Slots [from, to) together against slot `oracle`. */
static void expect_slots(int from, int to, int oracle, int sorted)
{
    size_t ng, ne;
    char **got = gather(from, to, &ng);
    char **exp = gather(oracle, oracle + 1, &ne);
    expect_same(got, ng, exp, ne, sorted, "restored run vs uninterrupted run");
}

/* Record texts of slots [from, to) (no timestamps) against lines computed here (the
 * strings of exp are freed). */
static void expect_lines(int from, int to, char **exp, size_t ne, int sorted)
{
    size_t ng = 0;
    for (int s = from; s < to; s++)
        ng += cap_slot[s].n;
    char **got = calloc(ng + 1, sizeof(char *));
    size_t k = 0;
    for (int s = from; s < to; s++)
        for (size_t i = 0; i < cap_slot[s].n; i++)
            got[k++] = strdup(cap_slot[s].lines[i]);
    char **e = calloc(ne + 1, sizeof(char *));
    memcpy(e, exp, ne * sizeof(char *));
    expect_same(got, ng, e, ne, sorted, "restored run vs direct computation");
}

/* ---- event-time input through one subtask, with a failure and a restore ---- */

typedef struct run_info {
    size_t sections;        /* in the checkpoint */
    size_t event_timers;    /* pending in the checkpointed chain */
    uint64_t keyed_entries; /* keyed state of the checkpointed chain */
    uint64_t late_restored; /* numLateRecordsDropped before the checkpoint + after the restore */
    uint64_t late_whole;    /* of the uninterrupted run */
} run_info_t;

static uint64_t late_of(te_operator_chain_t *c) { return operator_chain_counter(c, 0, "numLateRecordsDropped"); }

/* op over the events of harness_events.h: uninterrupted into slot 0; then a chain that
 * gets events [0, split) into slot 1, is checkpointed and abandoned, and a fresh chain
 * restored from the checkpoint that gets the rest into slot 2. Asserts slots 1 + 2 ==
 * slot 0 (as multisets when `sorted`: timers of one time fire in registration order,
 * which a restore changes). */
/* The operators read rows (k:string, v:int64). */
#define IN_SCHEMA h_schema("k:string, v:int64")

static te_operator_chain_t *chain_in(test_chain_t *t, const char *op, const char *const *keys,
                                     const char *const *vals, size_t np, uint32_t sub, uint32_t par, int slot,
                                     int open, te_error_t *err)
{
    const te_operator_def_t *d = operator_registry_find(op);
    return test_chain_new_in(t, d, op, keys, vals, np, sub, par, slot, open, IN_SCHEMA,
                             d && d->kind == TE_OP_TWO_INPUT ? IN_SCHEMA : NULL, err);
}

static void feed_in(te_operator_chain_t *const *chains, uint32_t n, int from, int to, int two_inputs)
{
    feed_events_typed2(chains, n, from, to, IN_SCHEMA, two_inputs);
}

static run_info_t run_with_restore(const char *op, const char *const *keys, const char *const *vals, size_t np,
                                   int two_inputs, int split, int sorted)
{
    run_info_t info = {0};
    te_error_t err = {0};
    test_chain_t tc, ta, tb;
    cap_reset_all();
    te_operator_chain_t *c = chain_in(&tc, op, keys, vals, np, 0, 1, 0, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_in(&c, 1, 0, NEV, two_inputs);
    info.late_whole = late_of(c);
    finish(c);

    te_operator_chain_t *a = chain_in(&ta, op, keys, vals, np, 0, 1, 1, 1, &err);
    feed_in(&a, 1, 0, split, two_inputs);
    info.event_timers = operator_chain_timer_count(a, 0, 1);
    info.late_restored = late_of(a);
    info.sections = checkpoint(a, 7, 0, 1);
    te_state_backend_t *sb = operator_chain_state_backend(a, 0); /* after: slices are saved into it */
    info.keyed_entries = sb ? state_backend_entries(sb) : 0;
    ck_assert_uint_gt(info.keyed_entries, 0); /* there is keyed state to restore */
    operator_chain_free(a);                   /* the failure */

    te_operator_chain_t *b = chain_in(&tb, op, keys, vals, np, 0, 1, 2, 0, &err);
    restore(b, 0, 1, 7, 1);
    open_chain(b);
    feed_in(&b, 1, split, NEV, two_inputs);
    info.late_restored += late_of(b);
    finish(b);
    expect_slots(1, 3, 0, sorted);
    return info;
}

/* Checkpoints right before a watermark event (index 19 + 20k), early, midway, late. */
static const int splits[] = {19, 1019, 1999, 2979};
#define N_SPLITS ((int)(sizeof(splits) / sizeof(splits[0])))

/* ---- keyed state ---- */

START_TEST(test_keyed_count)
{
    gen_events_keys(11, 9);
    const char *keys[] = {"key_field", "emit"};
    const char *vals[] = {"0", "updates"};
    run_with_restore("keyed_count", keys, vals, 2, 0, splits[_i], 0);
    /* direct: the rolling count of each record's key */
    static char *exp[NEV];
    int count[9] = {0};
    size_t ne = 0;
    for (int i = 0; i < NEV; i++)
        if (!evs[i].is_wm && asprintf(&exp[ne++], "k%d\t%d", evs[i].key, ++count[evs[i].key]) < 0)
            ck_abort();
    expect_lines(1, 3, exp, ne, 0);

    /* emit=final: nothing before the end, then every key once, sorted by key */
    vals[1] = "final";
    run_with_restore("keyed_count", keys, vals, 2, 0, splits[_i], 0);
    ck_assert_uint_eq(cap_slot[1].n, 0);
    for (int k = 0; k < 9; k++)
        if (asprintf(&exp[k], "k%d\t%d", k, count[k]) < 0)
            ck_abort();
    expect_lines(1, 3, exp, 9, 0);
}
END_TEST

START_TEST(test_keyed_sum_and_reduce)
{
    gen_events_keys(12, 7);
    const char *keys[] = {"value_field", "emit", "fn"};
    const char *vals[] = {"1", "updates", "concat"};
    run_with_restore("keyed_sum", keys, vals, 2, 0, splits[_i], 0);
    static char *exp[NEV];
    long long sum[7] = {0};
    size_t ne = 0;
    for (int i = 0; i < NEV; i++)
        if (!evs[i].is_wm && asprintf(&exp[ne++], "k%d\t%lld", evs[i].key, sum[evs[i].key] += evs[i].val) < 0)
            ck_abort();
    expect_lines(1, 3, exp, ne, 0);

    /* keyed_reduce concat, emit=final: each key's values joined in arrival order */
    vals[1] = "final";
    run_with_restore("keyed_reduce", keys, vals, 3, 0, splits[_i], 0);
    for (int k = 0; k < 7; k++) {
        char *line = NULL;
        size_t len = 0;
        FILE *m = open_memstream(&line, &len);
        fprintf(m, "k%d\t", k);
        const char *sep = "";
        for (int i = 0; i < NEV; i++)
            if (!evs[i].is_wm && evs[i].key == k) {
                fprintf(m, "%s%d", sep, evs[i].val);
                sep = ",";
            }
        fclose(m);
        exp[k] = line;
    }
    expect_lines(1, 3, exp, 7, 0);
}
END_TEST

START_TEST(test_max_by)
{
    gen_events_keys(13, 6);
    const char *keys[] = {"value_field", "emit"};
    const char *vals[] = {"1", "updates"};
    run_with_restore("max_by", keys, vals, 2, 0, splits[_i], 0);
    /* direct: a record each time it beats its key's maximum (ties keep the first) */
    static char *exp[NEV];
    int have[6] = {0}, max[6] = {0};
    size_t ne = 0;
    for (int i = 0; i < NEV; i++) {
        if (evs[i].is_wm || (have[evs[i].key] && evs[i].val <= max[evs[i].key]))
            continue;
        have[evs[i].key] = 1;
        max[evs[i].key] = evs[i].val;
        if (asprintf(&exp[ne++], "k%d\t%d", evs[i].key, evs[i].val) < 0)
            ck_abort();
    }
    expect_lines(1, 3, exp, ne, 0);

    /* emit=watermark: pending maxima wait for event-time timers */
    vals[1] = "watermark";
    run_info_t ri = run_with_restore("max_by", keys, vals, 2, 0, splits[_i], 1);
    ck_assert_uint_gt(ri.event_timers, 0);
    ck_assert_uint_gt(cap_slot[2].n, 0);
}
END_TEST

/* ---- windows and joins ---- */

static const struct window_case {
    const char *op, *size, *slide, *agg;
    int64_t sz, sl;
    int aggn;
} window_cases[] = {
    {"tumbling_window", "100ms", NULL, "count", 100, 100, 0},
    {"tumbling_window", "250", NULL, "sum", 250, 250, 1},
    {"sliding_window", "1s", "250ms", "max", 1000, 250, 2},
    {"sliding_window", "300", "100", "count", 300, 100, 0},
};
#define N_WINDOW_CASES ((int)(sizeof(window_cases) / sizeof(window_cases[0])))

static void windows_case(const struct window_case *w, int wcase, int split)
{
    gen_events((unsigned)(20 + wcase));
    const char *keys[] = {"key_field", "size", "agg", "value_field", "slide"};
    const char *vals[] = {"0", w->size, w->agg, "1", w->slide};
    run_info_t ri = run_with_restore(w->op, keys, vals, w->slide ? 5 : 4, 0, split, 1);
    /* the checkpoint held pending windows: their slices (keyed state, checked by
     * run_with_restore) and the operator's section */
    ck_assert_uint_ge(ri.sections, 2);
    static char *exp[20000];
    uint64_t late;
    size_t ne = oracle_windows(w->sz, w->sl, w->aggn, exp, &late);
    expect_lines(1, 3, exp, ne, 1);
    ck_assert_uint_eq(ri.late_restored, late);
    ck_assert_uint_eq(ri.late_whole, late);
}
END_TEST

/* window_aggregate: slices saved into keyed state at the checkpoint, back into memory
 * after the restore; no window lost or fired twice. */
START_TEST(test_window_aggregate)
{
    const struct window_case *w = &window_cases[_i / N_SPLITS];
    int split = splits[_i % N_SPLITS];
    gen_events((unsigned)(20 + _i / N_SPLITS));
    static const char *const aggs[] = {"count(*)", "sum(v)", "max(v)"};
    const char *keys[] = {"key", "size", "aggs", "slide"};
    const char *vals[] = {"k", w->size, aggs[w->aggn], w->slide};
    run_info_t ri = run_with_restore("window_aggregate", keys, vals, w->slide ? 4 : 3, 0, split, 1);
    ck_assert_uint_ge(ri.sections, 2);
    static char *exp[20000];
    uint64_t late;
    size_t ne = oracle_windows(w->sz, w->sl, w->aggn, exp, &late);
    expect_lines(1, 3, exp, ne, 1);
    ck_assert_uint_eq(ri.late_restored, late);
    ck_assert_uint_eq(ri.late_whole, late);
}

START_TEST(test_windows) { windows_case(&window_cases[_i / N_SPLITS], _i / N_SPLITS, splits[_i % N_SPLITS]); }
END_TEST

/* Each window case once, checkpointed midway (the rocksdb run). */
START_TEST(test_windows_midway) { windows_case(&window_cases[_i], _i, splits[2]); }
END_TEST

START_TEST(test_window_join)
{
    gen_events((unsigned)(30 + _i));
    const char *keys[] = {"size", "left_key_field", "right_key_field"};
    const char *vals[] = {"200ms", "0", "0"};
    run_info_t ri = run_with_restore("window_join", keys, vals, 3, 1, splits[_i], 1);
    ck_assert_uint_gt(ri.event_timers, 0); /* windows with buffered records of both sides */
    ck_assert_uint_gt(cap_slot[2].n, 0);
    ck_assert_uint_eq(ri.late_restored, ri.late_whole);
}
END_TEST

/* ---- keyed state and timers at another parallelism ---- */

static const struct rescale_case {
    const char *op;
    const char *k[5], *v[5];
    size_t np;
    int two_inputs;
    uint32_t old_par, new_par;
    int64_t win; /* tumbling window size for the direct oracle, 0 none */
} rescale_cases[] = {
    {"window_aggregate", {"key", "aggs", "size"}, {"k", "count(*)", "100ms"}, 3, 0, 1, 2, 100},
    {"window_aggregate", {"key", "aggs", "size"}, {"k", "count(*)", "100ms"}, 3, 0, 3, 2, 100},
    {"window_aggregate", {"key", "aggs", "size"}, {"k", "count(*) AS n, max(v), avg(v)", "300"}, 3, 0, 2, 3, 0},
    {"window_aggregate", {"key", "aggs", "gap"}, {"k", "count(*), sum(v)", "30ms"}, 3, 0, 1, 3, 0},
    {"aggregate", {"key", "aggs", "emit"}, {"k", "count(*), count(DISTINCT v), max(v)", "final"}, 3, 0, 3, 2, 0},
    {"aggregate", {"key", "aggs", "emit"}, {"k", "count(*), sum(v)", "timer"}, 3, 0, 2, 1, 0},
    {"top_n", {"key", "order", "n", "emit"}, {"k", "v desc", "3", "final"}, 4, 0, 2, 3, 0},
    {"top_n",
     {"key", "order", "ties", "size", "rank_field"},
     {"k", "v desc", "true", "100ms", "r"},
     5,
     0,
     3,
     1,
     0},
    {"over", {"key", "rows", "aggs"}, {"k", "3", "sum(v), count(*), max(v)"}, 3, 0, 1, 2, 0},
    {"join", {"left_key", "right_key", "right_prefix"}, {"k", "k", "r_"}, 3, 1, 2, 3, 0},
    {"interval_join",
     {"left_key", "right_key", "right_prefix", "lower", "upper"},
     {"k", "k", "r_", "-50ms", "30ms"},
     5,
     1,
     3,
     2,
     0},
    {"keyed_count", {"emit"}, {"updates"}, 1, 0, 2, 1, 0},
    {"keyed_count", {"emit"}, {"final"}, 1, 0, 1, 2, 0},
    {"tumbling_window", {"size", "agg"}, {"100ms", "count"}, 2, 0, 1, 2, 100},
    {"tumbling_window", {"size", "agg"}, {"100ms", "count"}, 2, 0, 2, 1, 100},
    {"sliding_window", {"size", "slide", "value_field"}, {"300", "100", "1"}, 3, 0, 2, 3, 0},
    {"max_by", {"value_field", "emit"}, {"1", "watermark"}, 2, 0, 3, 2, 0},
    {"window_join", {"size"}, {"200ms"}, 1, 1, 2, 3, 0},
};

/* Uninterrupted at parallelism 1 (slot 0); then old_par subtasks get events [0, split)
 * (records routed by key group, slot 1), are checkpointed and abandoned, and new_par
 * subtasks, each restored from every old subtask's file, get the rest (slot 2). */
START_TEST(test_rescale)
{
    const struct rescale_case *rc = &rescale_cases[_i];
    const int split = 1519;
    gen_events_keys(40 + (unsigned)_i, 40);
    cap_reset_all();
    te_error_t err = {0};
    test_chain_t tc, t[3];
    te_operator_chain_t *c = chain_in(&tc, rc->op, rc->k, rc->v, rc->np, 0, 1, 0, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_in(&c, 1, 0, NEV, rc->two_inputs);
    finish(c);

    te_operator_chain_t *ch[3];
    for (uint32_t s = 0; s < rc->old_par; s++)
        ch[s] = chain_in(&t[s], rc->op, rc->k, rc->v, rc->np, s, rc->old_par, 1, 1, &err);
    feed_in(ch, rc->old_par, 0, split, rc->two_inputs);
    for (uint32_t s = 0; s < rc->old_par; s++) {
        checkpoint(ch[s], 3, s, rc->old_par);
        operator_chain_free(ch[s]);
    }

    for (uint32_t s = 0; s < rc->new_par; s++) {
        ch[s] = chain_in(&t[s], rc->op, rc->k, rc->v, rc->np, s, rc->new_par, 2, 0, &err);
        restore(ch[s], s, rc->new_par, 3, rc->old_par);
        /* every new subtask got state of its key groups, and none of another's */
        te_state_backend_t *sb = operator_chain_state_backend(ch[s], 0);
        ck_assert_ptr_nonnull(sb);
        ck_assert_uint_gt(state_backend_entries(sb), 0);
        uint32_t kgf, kgl;
        key_group_range(s, MAXP, rc->new_par, &kgf, &kgl);
        uint64_t own = 0;
        for (uint32_t kg = kgf; kg <= kgl; kg++)
            own += state_backend_group_entries(sb, kg);
        ck_assert_uint_eq(own, state_backend_entries(sb));
        open_chain(ch[s]);
    }
    feed_in(ch, rc->new_par, split, NEV, rc->two_inputs);
    for (uint32_t s = 0; s < rc->new_par; s++)
        finish(ch[s]);
    expect_slots(1, 3, 0, 1);
    if (rc->win) {
        static char *exp[20000];
        uint64_t late;
        size_t ne = oracle_windows(rc->win, rc->win, 0, exp, &late);
        expect_lines(1, 3, exp, ne, 1);
    }
}
END_TEST

/* ---- sources ---- */

/* Steps the source chain until it ended or slot `slot` holds `until` records. */
static te_source_status_t step_until(te_operator_chain_t *c, int slot, size_t until)
{
    te_source_status_t st = TE_SOURCE_MORE;
    te_error_t err = {0};
    uint32_t idle;
    while (st != TE_SOURCE_END && cap_slot[slot].n < until) {
        ck_assert_msg(operator_chain_source_step(c, 17, &st, &idle, &err) == TE_OK, "%s", err.msg);
        ck_assert_int_ne(st, TE_SOURCE_IDLE);
    }
    return st;
}

/* Source op as subtask/par: uninterrupted into slot `base`; checkpointed once slot
 * base+1 holds at least `split` records (or at its end), abandoned, and restored into
 * slot base+2, run to the end. Asserts slots base+1, base+2 == slot base in order. */
static void run_source_with_restore(const char *op, const char *const *keys, const char *const *vals, size_t np,
                                    uint32_t subtask, uint32_t par, size_t split, int base)
{
    te_error_t err = {0};
    test_chain_t tc, ta, tb;
    for (int s = base; s < base + 3; s++)
        cap_reset(s);
    te_operator_chain_t *c = test_chain_new(&tc, op, keys, vals, np, subtask, par, base, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    step_until(c, base, SIZE_MAX);
    ck_assert_msg(operator_chain_close(c, &err) == TE_OK, "%s", err.msg);
    operator_chain_free(c);

    te_operator_chain_t *a = test_chain_new(&ta, op, keys, vals, np, subtask, par, base + 1, 1, &err);
    step_until(a, base + 1, split);
    ck_assert_uint_eq(checkpoint(a, 5, subtask, par), 1); /* the position */
    operator_chain_free(a);

    te_operator_chain_t *b = test_chain_new(&tb, op, keys, vals, np, subtask, par, base + 2, 0, &err);
    restore_from(b, subtask, par, 5, par, subtask, 1); /* only this subtask ran */
    open_chain(b);
    step_until(b, base + 2, SIZE_MAX);
    ck_assert_msg(operator_chain_close(b, &err) == TE_OK, "%s", err.msg);
    operator_chain_free(b);
    expect_slots(base + 1, base + 3, base, 0);
}

static const struct source_cut {
    uint32_t subtask, par;
    size_t split;
} source_cuts[] = {{0, 1, 0}, {0, 1, 400}, {1, 3, 100}, {2, 3, 1}, {2, 3, SIZE_MAX}};

START_TEST(test_sequence)
{
    const struct source_cut *cut = &source_cuts[_i];
    const char *keys[] = {"from", "to"};
    const char *vals[] = {"-5", "994"};
    run_source_with_restore("sequence", keys, vals, 2, cut->subtask, cut->par, cut->split, 0);
    static char *exp[1000];
    size_t ne = 0;
    for (int v = -5 + (int)cut->subtask; v <= 994; v += (int)cut->par)
        if (asprintf(&exp[ne++], "%d", v) < 0)
            ck_abort();
    expect_lines(1, 3, exp, ne, 0);
}
END_TEST

START_TEST(test_nexmark)
{
    const struct source_cut *cut = &source_cuts[_i];
    const char *keys[] = {"count", "seed"};
    const char *vals[] = {"3000", "7"};
    run_source_with_restore("nexmark", keys, vals, 2, cut->subtask, cut->par, cut->split, 0);
    size_t bids = 0; /* events n = subtask, subtask + par, ... whose n % 50 >= 4 */
    for (size_t n = cut->subtask; n < 3000; n += cut->par)
        bids += n % 50 >= 4;
    ck_assert_uint_eq(cap_slot[0].n, bids);
}
END_TEST

START_TEST(test_file_lines)
{
    static const size_t cuts[] = {0, 1, 37, 150, SIZE_MAX};
    char path[256];
    snprintf(path, sizeof(path), "%s/in.txt", g_dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    static char *exp[400];
    size_t ne = 0;
    for (int i = 0; i < 300; i++) {
        char *line;
        if (i == 120) { /* longer than the source's read buffer */
            line = malloc(300001);
            memset(line, 'x', 300000);
            line[300000] = '\0';
        } else if (i % 41 == 40) {
            line = strdup("");
        } else if (asprintf(&line, "%s%d%.*s", i % 17 == 0 ? "" : "line ", i, i % 23,
                            "abcdefghijklmnopqrstuvwxyz") < 0) {
            ck_abort();
        }
        fprintf(f, "%s%s", line, i == 299 ? "" : i % 5 == 0 ? "\r\n" : "\n");
        exp[ne++] = line;
    }
    fclose(f);
    const char *keys[] = {"path"};
    const char *vals[] = {path};
    for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
        /* both subtasks of 2 (slots 0-2 and 3-5) */
        run_source_with_restore("file_lines", keys, vals, 1, 0, 2, cuts[k], 0);
        run_source_with_restore("file_lines", keys, vals, 1, 1, 2, cuts[k], 3);
        char **copy = calloc(ne + 1, sizeof(char *));
        for (size_t i = 0; i < ne; i++)
            copy[i] = strdup(exp[i]);
        /* subtask 0's lines come first in the file */
        size_t ng = cap_slot[1].n + cap_slot[2].n + cap_slot[4].n + cap_slot[5].n;
        char **got = calloc(ng + 1, sizeof(char *));
        size_t g = 0;
        const int order[] = {1, 2, 4, 5};
        for (int o = 0; o < 4; o++)
            for (size_t i = 0; i < cap_slot[order[o]].n; i++)
                got[g++] = strdup(cap_slot[order[o]].lines[i]);
        expect_same(got, ng, copy, ne, 0, "file_lines restored vs the file's lines");
    }
    for (size_t i = 0; i < ne; i++)
        free(exp[i]);
}
END_TEST

/* ---- file_sink: two-phase commit ---- */

static void feed_records(te_operator_chain_t *c, int from, int to)
{
    te_error_t err = {0};
    char buf[32];
    for (int i = from; i < to; i++) {
        int n = snprintf(buf, sizeof(buf), "record %d", i);
        te_record_t r = {(const uint8_t *)buf, (uint32_t)n, TE_NO_TIMESTAMP};
        ck_assert_msg(push_text_rec(c, 0, &r, &err) == TE_OK, "%s", err.msg);
    }
}

/* The committed output of a file sink writing `dir`/`base`: `base` (if present), then
 * `base`.part-* in name order; no pending or in-progress file may be left. */
static char *read_committed(const char *dir, const char *base)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char *names[64];
    size_t n = 0;
    struct dirent *e;
    size_t bl = strlen(base);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, base, bl) != 0)
            continue;
        ck_assert_msg(strstr(e->d_name, ".pending-") == NULL && strstr(e->d_name, ".inprogress-") == NULL,
                      "left over: %s", e->d_name);
        ck_assert_uint_lt(n, 64);
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(char *), str_cmp); /* "base" sorts before "base.part-..." */
    char *all = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&all, &len);
    for (size_t i = 0; i < n; i++) {
        char path[512], buf[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        ck_assert_ptr_nonnull(f);
        size_t r;
        while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
            fwrite(buf, 1, r, m);
        fclose(f);
        free(names[i]);
    }
    fclose(m);
    return all;
}

/* A file sink writing `path` fed by `feed`: rows [0, 1000), checkpoint 1 confirmed,
 * [1000, 2000), checkpoint 2 taken but not confirmed, [2000, lost_to) written after it,
 * then the failure; a new sink restored from checkpoint `from` (1 or 2) gets the rows
 * after it up to n and ends. */
static void sink_fail_and_resume(const char *path, void (*feed)(te_operator_chain_t *, int, int), uint64_t from,
                                 int lost_to, int n)
{
    const char *keys[] = {"path"};
    const char *vals[] = {path};
    te_error_t err = {0};
    test_chain_t ta, tb;
    te_operator_chain_t *a = test_chain_new(&ta, "file_sink", keys, vals, 1, 0, 1, 0, 1, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    feed(a, 0, 1000);
    ck_assert_uint_eq(checkpoint(a, 1, 0, 1), 1);
    ck_assert_int_eq(operator_chain_notify_checkpoint_complete(a, 1, &err), TE_OK);
    feed(a, 1000, 2000);
    checkpoint(a, 2, 0, 1);
    feed(a, 2000, lost_to); /* written after checkpoint 2: lost with the failure */
    operator_chain_free(a);

    te_operator_chain_t *b = test_chain_new(&tb, "file_sink", keys, vals, 1, 0, 1, 0, 0, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    restore(b, 0, 1, from, 1);
    open_chain(b);
    feed(b, from == 1 ? 1000 : 2000, n);
    finish(b);
}

/* Checkpoint 1 confirmed, checkpoint 2 taken but not confirmed, 28000 more records
 * written (some reach the in-progress file), then the failure; restored from checkpoint
 * 1 or 2 (_i), the records after it replayed. Every record is committed exactly once,
 * in order. */
START_TEST(test_file_sink_two_phase_commit)
{
    const uint64_t from = (uint64_t)_i + 1;
    const int N = 40000;
    char out[320], odir[256], whole[320];
    snprintf(odir, sizeof(odir), "%s/out", g_dir);
    snprintf(out, sizeof(out), "%s/result.txt", odir);
    snprintf(whole, sizeof(whole), "%s/whole/result.txt", g_dir);
    const char *keys[] = {"path"};
    const char *wvals[] = {whole};
    te_error_t err = {0};
    test_chain_t tc;

    te_operator_chain_t *c = test_chain_new(&tc, "file_sink", keys, wvals, 1, 0, 1, 0, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    feed_records(c, 0, N);
    finish(c);

    sink_fail_and_resume(out, feed_records, from, 30000, N);

    char *got = read_committed(odir, "result.txt");
    char *exp = NULL;
    size_t elen = 0;
    FILE *m = open_memstream(&exp, &elen);
    for (int i = 0; i < N; i++)
        fprintf(m, "record %d\n", i);
    fclose(m);
    ck_assert_uint_eq(strlen(got), elen);
    ck_assert(strcmp(got, exp) == 0);
    snprintf(whole, sizeof(whole), "%s/whole", g_dir);
    char *w = read_committed(whole, "result.txt");
    ck_assert(strcmp(w, exp) == 0);
    free(w);
    free(got);
    free(exp);
}
END_TEST

/* The partitioned file_sink (path fields: one bucket per value of the record's line,
 * sink_buckets.c) through the same failure: records "r<i mod 5>" go to five buckets;
 * checkpoint 1 confirmed, checkpoint 2 taken, more rows written, the failure; restored
 * from checkpoint 1 or 2 (_i), the rows after it replayed. Each bucket's committed file
 * holds exactly its rows (its restored bucket found again by the rows that name it). */
static void feed_bucket_records(te_operator_chain_t *c, int from, int to)
{
    te_error_t err = {0};
    char buf[16];
    for (int i = from; i < to; i++) {
        int n = snprintf(buf, sizeof(buf), "r%d", i % 5);
        te_record_t r = {(const uint8_t *)buf, (uint32_t)n, TE_NO_TIMESTAMP};
        ck_assert_msg(push_text_rec(c, 0, &r, &err) == TE_OK, "%s", err.msg);
    }
}

START_TEST(test_file_sink_buckets)
{
    const uint64_t from = (uint64_t)_i + 1;
    const int N = 20000;
    char pattern[320];
    snprintf(pattern, sizeof(pattern), "%s/out/b={line}/part-{subtask}.txt", g_dir);
    sink_fail_and_resume(pattern, feed_bucket_records, from, 3000, N);

    for (int v = 0; v < 5; v++) {
        char dir[400], line[16];
        snprintf(dir, sizeof(dir), "%s/out/b=r%d", g_dir, v);
        snprintf(line, sizeof(line), "r%d\n", v);
        char *got = read_committed(dir, "part-0.txt");
        size_t lines = 0;
        for (const char *q = got; *q; q += strlen(line)) {
            ck_assert_msg(strncmp(q, line, strlen(line)) == 0, "bucket r%d holds another row: %.10s", v, q);
            lines++;
        }
        ck_assert_uint_eq(lines, (size_t)(N / 5));
        free(got);
    }
}
END_TEST

/* ---- processing-time timers ---- */

/* ptimer: each record registers a processing-time timer due 50 ms later (key = the
 * record); fired timers are counted. */
typedef struct ptimer {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
} ptimer_t;

static int g_fired;
static int64_t g_fired_ts;

static void *ptimer_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    ptimer_t *p = calloc(1, sizeof(*p));
    p->api = api;
    p->ctx = ctx;
    return p;
}

static int ptimer_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input, (void)out;
    ptimer_t *p = self;
    return p->api->register_processing_timer(p->ctx, rec->data, rec->len,
                                             p->api->current_processing_time(p->ctx) + 50);
}

static int ptimer_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                           te_output_t *out)
{
    (void)self, (void)event_time, (void)key, (void)keylen, (void)out;
    g_fired++;
    g_fired_ts = ts;
    return 0;
}

static const te_operator_def_t ptimer_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "ptimer",
    .kind = TE_OP_ONE_INPUT,
    .setup = ptimer_setup,
    .process_element = ptimer_process,
    .on_timer = ptimer_on_timer,
    .dispose = free,
};

static int collect_timer(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    (void)kg, (void)key, (void)keylen, (void)val, (void)vallen;
    ck_assert_uint_eq(nslen, 9);
    ck_assert_uint_eq(ns[0], TE_TIMER_PROCESSING);
    uint64_t t = 0;
    for (int i = 7; i >= 0; i--)
        t = (t << 8) | ns[1 + i];
    *(int64_t *)arg = (int64_t)t;
    return 0;
}

/* A processing-time timer due 50 ms after a record is stored as that wall-clock time
 * (not as this process's monotonic reading, meaningless to another process), and a
 * restore puts it back due at the same moment: not at once, not never. The bounds are
 * arithmetic on clock readings around the steps, not waits. */
START_TEST(test_processing_timer_restore)
{
    te_error_t err = {0};
    test_chain_t ta, tb;
    te_operator_chain_t *a = test_chain_new_def(&ta, &ptimer_def, "ptimer", NULL, NULL, 0, 0, 1, 0, 1, &err);
    int64_t wall_before = te_clock_wall_ms();
    te_record_t r = {(const uint8_t *)"k", 1, TE_NO_TIMESTAMP};
    ck_assert_int_eq(push_text_rec(a, 0, &r, &err), TE_OK);
    int64_t due = operator_chain_next_processing_timer(a);
    ck_assert_uint_eq(checkpoint(a, 9, 0, 1), 1);
    int64_t wall_after = te_clock_wall_ms();
    operator_chain_free(a);

    char path[256];
    ckpt_path(path, sizeof(path), 9, 0);
    te_ckpt_snapshot_t *s = checkpoint_storage_read(path, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    const te_ckpt_section_t *sec = snapshot_find(s, TE_CKPT_SEC_TIMERS, 0);
    ck_assert_ptr_nonnull(sec);
    ck_assert_uint_eq(sec->sub, TE_TIMER_SNAPSHOT_VERSION);
    te_state_backend_t *tb_state = state_backend_new("hashmap", MAXP, NULL);
    ck_assert_int_eq(state_backend_restore(tb_state, sec->data, sec->len, 0, MAXP - 1, &err), TE_OK);
    int64_t stored = INT64_MIN;
    state_backend_foreach(tb_state, collect_timer, &stored);
    state_backend_free(tb_state);
    snapshot_free(s);
    /* +-2: the two clocks are read one after the other, each truncated to ms */
    ck_assert_int_ge(stored, wall_before + 50 - 2);
    ck_assert_int_le(stored, wall_after + 50 + 2);

    te_operator_chain_t *b = test_chain_new_def(&tb, &ptimer_def, "ptimer", NULL, NULL, 0, 0, 1, 0, 0, &err);
    restore(b, 0, 1, 9, 1);
    int64_t rdue = operator_chain_next_processing_timer(b);
    ck_assert_int_ge(rdue, due - 3);
    ck_assert_int_le(rdue, due + 3);
    g_fired = 0;
    ck_assert_int_eq(operator_chain_fire_processing_timers(b, rdue - 1, &err), TE_OK);
    ck_assert_int_eq(g_fired, 0);
    ck_assert_int_eq(operator_chain_fire_processing_timers(b, rdue, &err), TE_OK);
    ck_assert_int_eq(g_fired, 1);
    ck_assert_int_eq(g_fired_ts, rdue);
    ck_assert_int_eq(operator_chain_next_processing_timer(b), -1);
    operator_chain_free(b);
}
END_TEST

/* ---- assign_timestamps ---- */

/* No state of its own: records and timestamps go on unchanged after a restore, and its
 * watermark starts over (as in Flink). Its periodic tick is a timer, so it is in the
 * checkpoint; after a restore the instance keeps one tick, not the restored one too. */
START_TEST(test_assign_timestamps)
{
    const char *keys[] = {"field", "max_out_of_orderness", "watermark_interval"};
    const char *vals[] = {"1", "50ms", "0"};
    static const int64_t ts[] = {1000, 900, 1200, 1100, 1300, 1250, 1400, 1320};
    te_error_t err = {0};
    test_chain_t tc, ta, tb;
    cap_reset_all();
    te_operator_chain_t *ch[3];
    const te_schema_t *in = h_schema("k:string, t:int64");
    const te_operator_def_t *d = operator_registry_find("assign_timestamps");
    ch[0] = test_chain_new_in(&tc, d, "assign_timestamps", keys, vals, 3, 0, 1, 0, 1, in, NULL, &err);
    ch[1] = test_chain_new_in(&ta, d, "assign_timestamps", keys, vals, 3, 0, 1, 1, 1, in, NULL, &err);
    for (int i = 0; i < 8; i++) {
        char buf[32];
        snprintf(buf, sizeof(buf), "a\t%lld", (long long)ts[i]);
        if (i == 4) {
            ck_assert_uint_eq(checkpoint(ch[1], 1, 0, 1), 0); /* nothing to store */
            operator_chain_free(ch[1]);
            ch[1] = test_chain_new_in(&tb, d, "assign_timestamps", keys, vals, 3, 0, 1, 2, 0, in, NULL, &err);
            restore(ch[1], 0, 1, 1, 1);
            open_chain(ch[1]);
        }
        ck_assert_int_eq(push_tsv(ch[0], 0, in, buf, TE_NO_TIMESTAMP, &err), TE_OK);
        ck_assert_int_eq(push_tsv(ch[1], 0, in, buf, TE_NO_TIMESTAMP, &err), TE_OK);
    }
    ck_assert_int_eq(cap_slot[0].last_wm, 1400 - 51);
    ck_assert_int_eq(cap_slot[2].last_wm, 1400 - 51);
    finish(ch[0]);
    finish(ch[1]);
    expect_slots(1, 3, 0, 0);

    /* the tick: one processing-time timer in the checkpoint; after the restore and
     * open, firing what is due leaves one tick, not two */
    vals[2] = "1h";
    ch[1] = test_chain_new_in(&ta, d, "assign_timestamps", keys, vals, 3, 0, 1, 1, 1, in, NULL, &err);
    ck_assert_uint_eq(operator_chain_timer_count(ch[1], 0, 0), 1);
    ck_assert_uint_eq(checkpoint(ch[1], 2, 0, 1), 1);
    operator_chain_free(ch[1]);
    usleep(5000); /* the new instance's tick is not the restored one's to the ms */
    ch[1] = test_chain_new_in(&tb, d, "assign_timestamps", keys, vals, 3, 0, 1, 2, 0, in, NULL, &err);
    restore(ch[1], 0, 1, 2, 1);
    ck_assert_uint_eq(operator_chain_timer_count(ch[1], 0, 0), 1);
    open_chain(ch[1]);
    ck_assert_uint_eq(operator_chain_timer_count(ch[1], 0, 0), 2);
    for (int round = 0; round < 4; round++)
        ck_assert_int_eq(
            operator_chain_fire_processing_timers(ch[1], operator_chain_next_processing_timer(ch[1]), &err),
            TE_OK);
    ck_assert_uint_eq(operator_chain_timer_count(ch[1], 0, 0), 1);
    operator_chain_free(ch[1]);
    cap_reset_all();
}
END_TEST

/* ---- every built-in takes a side ---- */

/* Built-ins with state and the test above that restores it, and those without state
 * (socket_text, like Flink's socket source, cannot replay: at most once). A new
 * built-in fails this test until it is added here. */
static const struct {
    const char *name;
    int stateful;
} builtin_state[] = {
    {"sequence", 1},
    {"nexmark", 1},
    {"file_lines", 1},
    {"keyed_count", 1},
    {"keyed_sum", 1},
    {"keyed_reduce", 1},
    {"max_by", 1},
    {"tumbling_window", 1},
    {"sliding_window", 1},
    {"window_join", 1},
    {"file_sink", 1},
    {"assign_timestamps", 1},
    {"socket_text", 0},
    {"tokenize", 0},
    {"filter", 0},
    {"select", 0},
    {"upper", 0},
    {"lower", 0},
    {"print", 0},
    {"discard", 0},
    {"scale", 0},
    {"socket_sink", 0},
    {"union", 0},
    {"parse", 0},
    {"map", 0},
    {"aggregate", 1},
    {"window_aggregate", 1},
    {"join", 1},
    {"interval_join", 1},
    {"top_n", 1},
    {"over", 1},
    {"lookup_join", 0},
    /* connectors: their state is checked against the real systems by
     * test_postgres_exactly_once, test_kafka and test_mqtt */
    {"postgres", 1},
    {"kafka", 1},
    {"mqtt", 1},
};

START_TEST(test_every_builtin_covered)
{
    char names[2048];
    operator_registry_names(names, sizeof(names));
    size_t seen = 0;
    for (char *save = NULL, *n = strtok_r(names, ", ", &save); n; n = strtok_r(NULL, ", ", &save)) {
        size_t i;
        for (i = 0; i < sizeof(builtin_state) / sizeof(builtin_state[0]); i++)
            if (strcmp(builtin_state[i].name, n) == 0)
                break;
        ck_assert_msg(i < sizeof(builtin_state) / sizeof(builtin_state[0]),
                      "built-in '%s' has no restore test here and is not listed as stateless", n);
        const te_operator_def_t *d = operator_registry_find(n);
        if (!builtin_state[i].stateful)
            ck_assert_msg(d->snapshot == NULL && d->restore == NULL && d->on_timer == NULL,
                          "'%s' is listed as stateless but has state callbacks", n);
        seen++;
    }
    ck_assert_uint_eq(seen, sizeof(builtin_state) / sizeof(builtin_state[0]));
}
END_TEST

Suite *operator_restore_suite(void)
{
    Suite *s = suite_create("operator_restore");
    TCase *tc = tcase_create("restore");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, tmp_dir_make, tmp_dir_remove);
    tcase_add_loop_test(tc, test_keyed_count, 0, N_SPLITS);
    tcase_add_loop_test(tc, test_keyed_sum_and_reduce, 0, N_SPLITS);
    tcase_add_loop_test(tc, test_max_by, 0, N_SPLITS);
    tcase_add_loop_test(tc, test_windows, 0, N_WINDOW_CASES * N_SPLITS);
    tcase_add_loop_test(tc, test_window_aggregate, 0, N_WINDOW_CASES * N_SPLITS);
    tcase_add_loop_test(tc, test_window_join, 0, N_SPLITS);
    tcase_add_loop_test(tc, test_rescale, 0, (int)(sizeof(rescale_cases) / sizeof(rescale_cases[0])));
    tcase_add_loop_test(tc, test_sequence, 0, (int)(sizeof(source_cuts) / sizeof(source_cuts[0])));
    tcase_add_loop_test(tc, test_nexmark, 0, (int)(sizeof(source_cuts) / sizeof(source_cuts[0])));
    tcase_add_test(tc, test_file_lines);
    tcase_add_loop_test(tc, test_file_sink_two_phase_commit, 0, 2);
    tcase_add_loop_test(tc, test_file_sink_buckets, 0, 2);
    tcase_add_test(tc, test_processing_timer_restore);
    tcase_add_test(tc, test_assign_timestamps);
    tcase_add_test(tc, test_every_builtin_covered);
    suite_add_tcase(s, tc);
    /* the keyed operators again, their state in RocksDB */
    TCase *tr = tcase_create("restore-rocksdb");
    tcase_set_timeout(tr, 120);
    tcase_add_checked_fixture(tr, tmp_dir_make, tmp_dir_remove);
    tcase_add_checked_fixture(tr, harness_rocksdb_on, harness_rocksdb_off);
    tcase_add_loop_test(tr, test_keyed_count, 1, 3); /* midway splits: RocksDB instances are slow to open */
    tcase_add_loop_test(tr, test_keyed_sum_and_reduce, 1, 3);
    tcase_add_loop_test(tr, test_max_by, 1, 3);
    tcase_add_loop_test(tr, test_windows_midway, 0, N_WINDOW_CASES);
    tcase_add_loop_test(tr, test_window_join, 1, 3);
    tcase_add_loop_test(tr, test_rescale, 0, (int)(sizeof(rescale_cases) / sizeof(rescale_cases[0])));
    suite_add_tcase(s, tr);
    return s;
}
