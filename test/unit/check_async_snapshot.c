/*
 * Unit tests: asynchronous snapshots.
 *
 * Views, on both backends (loop index: 0 hashmap, 1 rocksdb, 2 hashmap with every key in
 * one key group, so its table spans pages and grows by a quarter): a view taken after phase
 * A and another after phase B of random puts, overwrites (values growing past their
 * room and past the arena's largest chunk), deletes and inserts that grow the tables;
 * a second thread writes both views to snapshot files while this thread keeps changing
 * the backend (phase C); each file restored into a fresh backend equals the oracle of
 * its phase (a plain array kept by the test), and the live backend equals the final
 * oracle. Run under TSan, the concurrent phase is the copy-on-write race check.
 *
 * Copy-on-write garbage (hashmap): the copies made while a view lived are freed and
 * reused once it is released, so a second round of full overwrites maps no new memory.
 *
 * The subtask checkpoint coordinator with a snapshot pool: an acknowledgement comes
 * from the pool with the state as of the synchronous part (records processed after it
 * are not in the file; the file restored into a fresh chain gives the counts at the
 * checkpoint, computed here); a failing asynchronous part declines with a cause naming
 * the file; AbortCheckpoint and a cancelled task stop a queued asynchronous part (the
 * pool's only thread is held by a blocker job, so the order is deterministic): no
 * report, no file, no temp file.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "common/key_group.h"
#include "harness_chain.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "state/checkpoint_reader.h"
#include "state/checkpoint_writer.h"
#include "state/snapshot_pool.h"
#include "state/state_store.h"

static char g_root[64];
/* The stores' max parallelism: 128, or 1 to put every key in one key group (a hashmap
 * table of many pages, its capacity not a power of two). */
static uint32_t g_maxp = 128;

static void root_make(void)
{
    g_maxp = 128;
    snprintf(g_root, sizeof(g_root), "/tmp/check_async.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
}

static void root_remove(void) { ck_assert_int_eq(dir_remove_tree(g_root), 0); }

static te_state_store_t *store_new(int kind, const char *name)
{
    char dir[160];
    snprintf(dir, sizeof(dir), "%s/%s", g_root, name);
    te_state_store_config_t cfg = {
        .backend = kind ? "rocksdb" : "hashmap", .max_parallelism = g_maxp, .task_name = "t", .local_dir = dir};
    te_error_t err = {0};
    te_state_store_t *s = state_store_new(&cfg, &err);
    ck_assert_msg(s != NULL, "%s", err.msg);
    return s;
}

/* ---- the oracle: key i (with namespace i % 3) -> a value, or absent ---- */

#define NKEYS  9000
#define BIGVAL 6000

typedef struct oval {
    uint32_t len; /* 0 = absent; values are never empty */
    uint8_t fill;
} oval_t;

static void key_of(int i, char *k, char *ns)
{
    snprintf(k, 16, "key%d", i);
    snprintf(ns, 8, i % 3 ? "" : "n%d", i % 7);
}

static void value_of(const oval_t *o, uint8_t *buf)
{
    for (uint32_t j = 0; j < o->len; j++)
        buf[j] = (uint8_t)(o->fill + j);
}

static void apply(te_state_backend_t *b, oval_t * or, int i, uint32_t len)
{
    static uint8_t buf[BIGVAL];
    char k[16], ns[8];
    key_of(i, k, ns);
    if (len == 0) {
        ck_assert_int_eq(state_backend_delete(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns)),
                         or [i].len > 0);
        or [i].len = 0;
        return;
    }
    or [i] = (oval_t){len, (uint8_t)rand()};
    value_of(& or [i], buf);
    ck_assert_int_eq(state_backend_put(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), buf, len), 0);
}

/* Reads key i and checks it against the oracle. */
static void check_get(te_state_backend_t *b, const oval_t * or, int i)
{
    static uint8_t buf[BIGVAL];
    char k[16], ns[8];
    key_of(i, k, ns);
    const uint8_t *v;
    uint32_t vl;
    int found = state_backend_get(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), &v, &vl);
    ck_assert_int_eq(found, or [i].len > 0);
    if (found) {
        value_of(& or [i], buf);
        ck_assert(vl == or [i].len && memcmp(v, buf, vl) == 0);
    }
}

/* A phase of random changes among keys [0, keys). Half the puts read first, as a
 * read-modify-write does: the key itself (the put then updates the entry the get found)
 * or a neighbour (a key of the same length and another last digit: that entry must not
 * change). */
static void phase(te_state_backend_t *b, oval_t * or, int keys, int ops)
{
    for (int n = 0; n < ops; n++) {
        int i = rand() % keys, r = rand() % 100;
        uint32_t len = r < 20 ? 0 : r < 23 ? BIGVAL - (uint32_t)(rand() % 100) : 1 + (uint32_t)(rand() % 60);
        if (len > 0 && rand() % 2)
            check_get(b, or, rand() % 2 ? i : i ^ 1);
        apply(b, or, i, len);
    }
}

static void assert_matches(te_state_backend_t *b, const oval_t * or)
{
    static uint8_t buf[BIGVAL];
    uint64_t n = 0;
    for (int i = 0; i < NKEYS; i++) {
        char k[16], ns[8];
        key_of(i, k, ns);
        const uint8_t *v;
        uint32_t vl;
        int found = state_backend_get(b, (uint8_t *)k, strlen(k), (uint8_t *)ns, strlen(ns), &v, &vl);
        ck_assert_msg(found == (or [i].len > 0), "%s/%s: found %d, expected %u bytes", k, ns, found, or [i].len);
        if (!found)
            continue;
        n++;
        value_of(& or [i], buf);
        ck_assert_uint_eq(vl, or [i].len);
        ck_assert_msg(memcmp(v, buf, vl) == 0, "%s/%s: another value", k, ns);
    }
    ck_assert_uint_eq(state_backend_entries(b), n);
}

typedef struct view_job {
    te_state_view_t *v[2];
    char path[2][200];
} view_job_t;

/* Writes view v to a checkpoint file of one section (checkpoint id) and releases it. */
static void write_view_file(te_state_view_t *v, const char *path, uint64_t id)
{
    te_ckpt_file_info_t info = {id, 0, 1, g_maxp, 0, g_maxp - 1};
    te_error_t err = {0};
    te_ckpt_writer_t *w = checkpoint_writer_open(path, &info, NULL, &err);
    ck_assert_msg(w != NULL, "%s", err.msg);
    checkpoint_writer_section_begin(w, 2, 0, 0, "op");
    ck_assert_msg(state_backend_view_write(v, w, 0, g_maxp - 1, NULL, 0, &err) == TE_OK, "%s", err.msg);
    checkpoint_writer_section_end(w);
    uint64_t size;
    ck_assert_msg(checkpoint_writer_commit(w, &size, &err) == TE_OK, "%s", err.msg);
    state_backend_view_release(v);
}

static void *write_views(void *arg)
{
    view_job_t *j = arg;
    for (int k = 0; k < 2; k++)
        write_view_file(j->v[k], j->path[k], (uint64_t)k + 1);
    return NULL;
}

/* A fresh store of kind `kind` with the checkpoint file at path restored into its
 * backend (*b). */
static te_state_store_t *restore_file(int kind, const char *path, const char *name, te_state_backend_t **b)
{
    te_state_store_t *s = store_new(kind, name);
    te_error_t err = {0};
    *b = state_store_backend(s, 0, &err);
    ck_assert_msg(*b != NULL, "%s", err.msg);
    te_ckpt_reader_t *r = checkpoint_reader_open(path, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_msg(state_backend_restore_section(*b, r, checkpoint_reader_section(r, 0), 0, g_maxp - 1, &err) ==
                      TE_OK,
                  "%s", err.msg);
    checkpoint_reader_close(r);
    return s;
}

static void restore_and_compare(int kind, const char *path, const char *name, const oval_t * or)
{
    te_state_backend_t *b;
    te_state_store_t *s = restore_file(kind, path, name, &b);
    assert_matches(b, or);
    state_store_free(s);
}

START_TEST(test_views_are_consistent)
{
    static oval_t or [NKEYS], want_a[NKEYS], want_b[NKEYS];
    memset(or, 0, sizeof(or));
    srand(17 + (unsigned)_i);
    int kind = _i & 1; /* 2: the hashmap with one key group */
    g_maxp = _i == 2 ? 1 : 128;
    te_state_store_t *s = store_new(kind, "live");
    te_error_t err = {0};
    te_state_backend_t *b = state_store_backend(s, 0, &err);
    ck_assert_ptr_nonnull(b);
    phase(b, or, 3000, 6000); /* A */
    memcpy(want_a, or, sizeof(or));
    view_job_t j;
    j.v[0] = state_backend_view(b, &err);
    ck_assert_ptr_nonnull(j.v[0]);
    phase(b, or, NKEYS, 20000); /* B: more keys, tables grow */
    memcpy(want_b, or, sizeof(or));
    j.v[1] = state_backend_view(b, &err);
    ck_assert_ptr_nonnull(j.v[1]);
    for (int k = 0; k < 2; k++)
        snprintf(j.path[k], sizeof(j.path[k]), "%s/view%d", g_root, k);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, write_views, &j), 0);
    phase(b, or, NKEYS, 30000); /* C, while the views are written */
    pthread_join(th, NULL);
    phase(b, or, NKEYS, 2000); /* the released views' garbage is reaped here */
    assert_matches(b, or);
    restore_and_compare(kind, j.path[0], "ra", want_a);
    restore_and_compare(kind, j.path[1], "rb", want_b);
    state_store_free(s);
}
END_TEST

/* A view taken between a read and the write of the same key (a read-modify-write
 * interrupted by a checkpoint's synchronous part) holds the value read. */
START_TEST(test_view_between_get_and_put)
{
    static oval_t or [NKEYS], want[2][NKEYS];
    memset(or, 0, sizeof(or));
    srand(5 + (unsigned)_i);
    te_state_store_t *s = store_new(_i, "live");
    te_error_t err = {0};
    te_state_backend_t *b = state_store_backend(s, 0, &err);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < 100; i++)
        apply(b, or, i, 8);
    view_job_t j;
    for (int k = 0; k < 2; k++) {
        int i = 10 + k;
        check_get(b, or, i);
        memcpy(want[k], or, sizeof(or));
        j.v[k] = state_backend_view(b, &err);
        ck_assert_ptr_nonnull(j.v[k]);
        apply(b, or, i, 8); /* the same length: the value is overwritten in place when private */
        check_get(b, or, i);
        snprintf(j.path[k], sizeof(j.path[k]), "%s/view%d", g_root, k);
    }
    write_views(&j);
    assert_matches(b, or);
    restore_and_compare(_i, j.path[0], "ra", want[0]);
    restore_and_compare(_i, j.path[1], "rb", want[1]);
    state_store_free(s);
}
END_TEST

/* Counters (state_backend_add_i64, updated in place while no view shares them) under
 * views: a view taken between adds holds the counts of that moment although every key
 * is added to again before the view is written; the live state has the final counts.
 * Loop index: the backend. */
#define NCOUNTERS 2000
static void counter_key(int i, char *k) { snprintf(k, 16, "ctr%d", i); }

static void assert_counts(te_state_backend_t *b, const int64_t *want)
{
    for (int i = 0; i < NCOUNTERS; i++) {
        char k[16];
        counter_key(i, k);
        const uint8_t *v;
        uint32_t vl;
        int64_t got;
        ck_assert_int_eq(state_backend_get(b, (uint8_t *)k, (uint32_t)strlen(k), NULL, 0, &v, &vl), 1);
        ck_assert_uint_eq(vl, 8);
        memcpy(&got, v, 8);
        ck_assert_msg(got == want[i], "%s: %lld, expected %lld", k, (long long)got, (long long)want[i]);
    }
}

START_TEST(test_view_between_adds)
{
    static int64_t live[NCOUNTERS], at_view[2][NCOUNTERS];
    memset(live, 0, sizeof(live));
    te_state_store_t *s = store_new(_i, "live");
    te_error_t err = {0};
    te_state_backend_t *b = state_store_backend(s, 0, &err);
    ck_assert_ptr_nonnull(b);
    te_state_view_t *views[2];
    for (int round = 0; round < 4; round++) {
        if (round == 1 || round == 2) {
            memcpy(at_view[round - 1], live, sizeof(live));
            views[round - 1] = state_backend_view(b, &err);
            ck_assert_ptr_nonnull(views[round - 1]);
        }
        for (int n = 0; n < 3 * NCOUNTERS; n++) {
            int i = n < NCOUNTERS ? n : rand() % NCOUNTERS; /* every key, then at random */
            char k[16];
            counter_key(i, k);
            int64_t sum, d = 1 + rand() % 9;
            ck_assert_int_eq(state_backend_add_i64(b, (uint8_t *)k, (uint32_t)strlen(k), NULL, 0, d, &sum), 0);
            live[i] += d;
            ck_assert_int_eq(sum, live[i]);
        }
    }
    for (int k = 0; k < 2; k++) {
        char path[200];
        snprintf(path, sizeof(path), "%s/counters%d", g_root, k);
        write_view_file(views[k], path, 1);
        te_state_backend_t *rb;
        te_state_store_t *rs = restore_file(_i, path, k ? "rb" : "ra", &rb);
        assert_counts(rb, at_view[k]);
        state_store_free(rs);
    }
    assert_counts(b, live);
    state_store_free(s);
}
END_TEST

START_TEST(test_copies_freed_after_release)
{
    te_state_backend_t *b = state_backend_new("hashmap", 128, NULL);
    ck_assert_ptr_nonnull(b);
    char k[16];
    uint64_t v = 0;
    for (int i = 0; i < 40000; i++) {
        snprintf(k, sizeof(k), "k%d", i);
        ck_assert_int_eq(state_backend_put(b, (uint8_t *)k, strlen(k), NULL, 0, (uint8_t *)&v, 8), 0);
    }
    te_state_stats_t st0, st1, st2;
    state_backend_stats(b, &st0);
    for (int round = 0; round < 3; round++) {
        te_error_t err = {0};
        te_state_view_t *view = state_backend_view(b, &err);
        ck_assert_ptr_nonnull(view);
        v++;
        for (int i = 0; i < 40000; i++) { /* every entry and page copied */
            snprintf(k, sizeof(k), "k%d", i);
            ck_assert_int_eq(state_backend_put(b, (uint8_t *)k, strlen(k), NULL, 0, (uint8_t *)&v, 8), 0);
        }
        state_backend_view_release(view);
        if (round == 0)
            state_backend_stats(b, &st1);
    }
    ck_assert_int_eq(state_backend_put(b, (uint8_t *)"x", 1, NULL, 0, (uint8_t *)&v, 8), 0); /* reaps */
    state_backend_stats(b, &st2);
    ck_assert_uint_gt(st1.bytes, st0.bytes); /* the copies took memory ... */
    ck_assert_msg(st2.bytes <= st1.bytes + (1u << 20), "rounds 2-3 mapped %llu more bytes than round 1",
                  (unsigned long long)(st2.bytes - st1.bytes)); /* ... which later rounds reuse */
    const uint8_t *got;
    uint32_t gl;
    ck_assert_int_eq(state_backend_get(b, (uint8_t *)"k123", 4, NULL, 0, &got, &gl), 1);
    ck_assert(gl == 8 && memcmp(got, &v, 8) == 0);
    state_backend_free(b);
}
END_TEST

/* ---- the coordinator's asynchronous part ---- */

typedef struct reports {
    pthread_mutex_t mu;
    int n, declined;
    uint64_t last_id, size, sync_us;
    char cause[512], path[512];
} reports_t;

static reports_t g_rep = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void on_report(void *arg, const te_checkpoint_report_t *r)
{
    (void)arg;
    pthread_mutex_lock(&g_rep.mu);
    g_rep.n++;
    g_rep.declined += r->declined;
    g_rep.last_id = r->checkpoint_id;
    g_rep.size = r->size;
    g_rep.sync_us = r->sync_duration_us;
    snprintf(g_rep.cause, sizeof(g_rep.cause), "%s", r->cause ? r->cause : "");
    snprintf(g_rep.path, sizeof(g_rep.path), "%s", r->path ? r->path : "");
    pthread_mutex_unlock(&g_rep.mu);
}

/* A job that holds the pool's thread until released. */
typedef struct blocker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int go, running;
} blocker_t;

static void block_job(void *arg)
{
    blocker_t *b = arg;
    pthread_mutex_lock(&b->mu);
    b->running = 1;
    pthread_cond_broadcast(&b->cv);
    while (!b->go)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void block(te_snapshot_pool_t *p, blocker_t *b)
{
    *b = (blocker_t){.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    ck_assert_int_eq(snapshot_pool_submit(p, block_job, b), TE_OK);
    pthread_mutex_lock(&b->mu);
    while (!b->running)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

static void unblock(blocker_t *b)
{
    pthread_mutex_lock(&b->mu);
    b->go = 1;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void drain(te_snapshot_pool_t *p)
{
    while (snapshot_pool_busy(p) > 0)
        usleep(1000);
}

static void feed_words(te_operator_chain_t *c, int from, int to, int *counts)
{
    char line[32];
    te_error_t err = {0};
    for (int i = from; i < to; i++) {
        int k = (i * 7919) % 5000;
        int n = snprintf(line, sizeof(line), "w%d", k);
        te_record_t rec = {(uint8_t *)line, (uint32_t)n, TE_NO_TIMESTAMP};
        ck_assert_msg(push_text_rec(c, 0, &rec, &err) == TE_OK, "%s", err.msg);
        counts[k]++;
    }
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

START_TEST(test_coordinator_async)
{
    te_error_t err = {0};
    te_snapshot_pool_t *pool = snapshot_pool_new(1, &err);
    ck_assert_ptr_nonnull(pool);
    const char *keys[] = {"emit"}, *vals[] = {"final"};
    test_chain_t tc;
    te_operator_chain_t *c = test_chain_new(&tc, "keyed_count", keys, vals, 1, 0, 1, 0, 1, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    static int counts[5000], at_ckpt[5000];
    memset(counts, 0, sizeof(counts));
    feed_words(c, 0, 60000, counts);
    memcpy(at_ckpt, counts, sizeof(counts));
    te_subtask_ckpt_config_t cfg = {.task_name = "count (1/1)",
                                    .dir = g_root,
                                    .job_id_hex = "job",
                                    .vertex_id_hex = "v",
                                    .subtask_index = 0,
                                    .parallelism = 1,
                                    .max_parallelism = 128,
                                    .report = on_report,
                                    .pool = pool};
    te_subtask_ckpt_t *sc = subtask_checkpoint_coordinator_new(&cfg);
    ck_assert_ptr_nonnull(sc);

    /* 1: acknowledged from the pool, with the state as of the synchronous part */
    blocker_t bl;
    block(pool, &bl);
    ck_assert_int_eq(subtask_checkpoint_perform(sc, c, NULL, 0, 1, 0, 0, &err), TE_OK);
    ck_assert_uint_eq(subtask_checkpoint_running(sc), 1);
    feed_words(c, 60000, 90000, counts); /* after the checkpoint: not in it */
    unblock(&bl);
    subtask_checkpoint_wait_all(sc);
    ck_assert_int_eq(g_rep.n, 1);
    ck_assert_int_eq(g_rep.declined, 0);
    ck_assert_uint_eq(g_rep.last_id, 1);
    ck_assert_uint_gt(g_rep.size, 0);
    ck_assert_uint_eq(subtask_checkpoint_last_id(sc), 1);
    test_chain_t tr;
    te_operator_chain_t *r = test_chain_new(&tr, "keyed_count", keys, vals, 1, 0, 1, 1, 0, &err);
    te_restore_handle_t h = {g_rep.path, 0, 1};
    ck_assert_msg(subtask_checkpoint_restore(r, 0, 1, 128, &h, 1, NULL, &err) == TE_OK, "%s", err.msg);
    te_state_backend_t *sb = operator_chain_state_backend(r, 0);
    for (int k = 0; k < 5000; k++) {
        char w[16];
        int n = snprintf(w, sizeof(w), "w%d", k);
        const uint8_t *v;
        uint32_t vl;
        uint64_t cnt = 0;
        if (state_backend_get(sb, (uint8_t *)w, (uint32_t)n, NULL, 0, &v, &vl) == 1)
            memcpy(&cnt, v, 8);
        ck_assert_msg(cnt == (uint64_t)at_ckpt[k], "%s: %llu in the checkpoint, %d at the checkpoint", w,
                      (unsigned long long)cnt, at_ckpt[k]);
    }
    operator_chain_free(r);

    /* 2: AbortCheckpoint while the asynchronous part waits: no report, no file */
    block(pool, &bl);
    ck_assert_int_eq(subtask_checkpoint_perform(sc, c, NULL, 0, 2, 0, 0, &err), TE_OK);
    subtask_checkpoint_abort(sc, NULL, 0, 2, NULL, 0);
    unblock(&bl);
    drain(pool);
    ck_assert_int_eq(g_rep.n, 1);
    char p2[256], t2[300];
    snprintf(p2, sizeof(p2), "%s/job/chk-2/v-0", g_root);
    snprintf(t2, sizeof(t2), "%s.tmp", p2);
    ck_assert(!exists(p2) && !exists(t2));

    /* 3: the task is cancelled: the queued part stops, nothing is reported */
    block(pool, &bl);
    ck_assert_int_eq(subtask_checkpoint_perform(sc, c, NULL, 0, 3, 0, 0, &err), TE_OK);
    subtask_checkpoint_cancel_all(sc);
    unblock(&bl);
    drain(pool);
    ck_assert_int_eq(g_rep.n, 1);
    snprintf(p2, sizeof(p2), "%s/job/chk-3/v-0", g_root);
    snprintf(t2, sizeof(t2), "%s.tmp", p2);
    ck_assert(!exists(p2) && !exists(t2));
    subtask_checkpoint_coordinator_free(sc);

    /* 4: a failing asynchronous part declines, naming the file */
    char blockfile[200];
    snprintf(blockfile, sizeof(blockfile), "%s/not-a-dir", g_root);
    FILE *f = fopen(blockfile, "w");
    fclose(f);
    cfg.dir = blockfile;
    sc = subtask_checkpoint_coordinator_new(&cfg);
    ck_assert_int_eq(subtask_checkpoint_perform(sc, c, NULL, 0, 4, 0, 0, &err), TE_OK);
    subtask_checkpoint_wait_all(sc);
    ck_assert_int_eq(g_rep.n, 2);
    ck_assert_int_eq(g_rep.declined, 1);
    ck_assert_uint_eq(g_rep.last_id, 4);
    ck_assert_msg(strstr(g_rep.cause, "not-a-dir") != NULL, "cause: %s", g_rep.cause);
    subtask_checkpoint_coordinator_free(sc);
    operator_chain_free(c);
    snapshot_pool_free(pool);
}
END_TEST

Suite *async_snapshot_suite(void)
{
    Suite *s = suite_create("async_snapshot");
    TCase *tc = tcase_create("views");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, root_make, root_remove);
    tcase_add_loop_test(tc, test_views_are_consistent, 0, 3);
    tcase_add_loop_test(tc, test_view_between_get_and_put, 0, 2);
    tcase_add_loop_test(tc, test_view_between_adds, 0, 2);
    tcase_add_test(tc, test_copies_freed_after_release);
    tcase_add_test(tc, test_coordinator_async);
    suite_add_tcase(s, tc);
    return s;
}
