/*
 * Unit tests: incremental checkpoints of the rocksdb backend, end to end on the task
 * side (operator chain + subtask checkpoint coordinator + state store, real RocksDB
 * instances and files in a mkdtemp directory).
 *
 * A keyed_count chain over 8000 keys is checkpointed (1), confirmed, then 1% of its
 * keys change and it is checkpointed again (2): checkpoint 2 refers to every SST file
 * of checkpoint 1 that still exists by the same shared file, and the files it uploads
 * itself are under 5% of checkpoint 1's bytes; every shared file it refers to is in
 * its acknowledgement. Restores from checkpoint 2 give the counts at checkpoint 2 (the
 * test's own oracle): into a rocksdb store (the instance rebuilt from the files) and
 * into a hashmap store (imported), and at parallelism 2 and 3 (each new subtask holds
 * exactly its key groups; together the oracle). An aborted checkpoint leaves none of
 * its uploads behind. A corrupt shared file and a missing one fail the restore with an
 * error naming the file. A task's instance runs on the scratch file system: the flush
 * and native checkpoint of a synchronous part skip their syncs.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "common/key_group.h"
#include "operators/operator_registry.h"
#include "runtime/operator_chain.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "state/rocksdb_instance.h"
#include "state/rocksdb_memory.h"
#include "state/rocksdb_scratch_fs.h"
#include "state/state_backend.h"
#include "state/state_store.h"
#include "te/row.h"

#define NK   8000
#define MAXP 128

static char g_dir[64], g_shared[128];

static void dir_setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/check_inc.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    snprintf(g_shared, sizeof(g_shared), "%s/ck/job/shared", g_dir);
}

static void dir_teardown(void) { ck_assert_int_eq(dir_remove_tree(g_dir), 0); }

/* ---- a keyed_count chain on a store of our own ---- */

typedef struct chain {
    te_chain_op_config_t op;
    const char *k[1], *v[1];
    te_state_store_t *store;
    te_operator_chain_t *c;
} chain_t;

static void chain_new(chain_t *ch, const char *backend, int incremental, uint32_t subtask, uint32_t par,
                      const char *name)
{
    memset(ch, 0, sizeof(*ch));
    ch->k[0] = "emit";
    ch->v[0] = "final";
    ch->op =
        (te_chain_op_config_t){operator_registry_find("keyed_count"), "keyed_count", NULL, 1, ch->k, ch->v, 0};
    char local[160];
    snprintf(local, sizeof(local), "%s/local/%s", g_dir, name);
    te_state_store_config_t sc = {.backend = backend,
                                  .max_parallelism = MAXP,
                                  .task_name = name,
                                  .local_dir = local,
                                  .incremental = incremental,
                                  .shared_dir = g_shared,
                                  .label = name};
    te_error_t err = {0};
    ch->store = state_store_new(&sc, &err);
    ck_assert_msg(ch->store != NULL, "%s", err.msg);
    te_operator_chain_config_t cfg = {.task_name = name,
                                      .subtask_index = subtask,
                                      .parallelism = par,
                                      .max_parallelism = MAXP,
                                      .ops = &ch->op,
                                      .n_ops = 1,
                                      .state = ch->store};
    ch->c = operator_chain_new(&cfg, &err);
    ck_assert_msg(ch->c != NULL, "%s", err.msg);
}

static void chain_free(chain_t *ch)
{
    operator_chain_free(ch->c);
    state_store_free(ch->store);
}

static int counts[NK];

static void feed(chain_t *ch, int key, int times)
{
    char w[16];
    int n = snprintf(w, sizeof(w), "k%d", key);
    static te_row_builder_t b; /* the key as the row (line:string) a text input carries */
    te_record_t rec;
    te_row_builder_begin(&b, 1);
    te_row_set_str(&b, 0, (const uint8_t *)w, (uint32_t)n);
    ck_assert_int_eq(te_row_builder_finish(&b, TE_NO_TIMESTAMP, &rec), 0);
    te_error_t err = {0};
    for (int i = 0; i < times; i++)
        ck_assert_msg(operator_chain_process_element(ch->c, 0, &rec, &err) == TE_OK, "%s", err.msg);
    counts[key] += times;
}

/* Asserts the chain holds the oracle's counts of the keys in its key groups (and no
 * others); returns how many keys it holds. */
static int check_counts(chain_t *ch, uint32_t subtask, uint32_t par, const int *want)
{
    uint32_t kgf, kgl;
    key_group_range(subtask, MAXP, par, &kgf, &kgl);
    te_state_backend_t *b = operator_chain_state_backend(ch->c, 0);
    ck_assert_ptr_nonnull(b);
    int held = 0;
    for (int k = 0; k < NK; k++) {
        char w[16];
        int n = snprintf(w, sizeof(w), "k%d", k);
        const uint8_t *v;
        uint32_t vl;
        uint64_t c = 0;
        int found = state_backend_get(b, (uint8_t *)w, (uint32_t)n, NULL, 0, &v, &vl);
        if (found == 1)
            memcpy(&c, v, 8);
        uint32_t kg = key_group_for_key((uint8_t *)w, (uint32_t)n, MAXP);
        int mine = kg >= kgf && kg <= kgl;
        ck_assert_msg(c == (uint64_t)(mine ? want[k] : 0), "%s (group %u, subtask %u/%u): %llu, expected %d", w,
                      kg, subtask, par, (unsigned long long)c, mine ? want[k] : 0);
        held += found == 1;
    }
    return held;
}

/* ---- checkpoints through the coordinator (no pool: the asynchronous part inline) ---- */

typedef struct rep {
    int n, declined;
    char path[512];
    char shared[64][300];
    uint64_t shared_size[64];
    size_t n_shared;
    char cause[512];
} rep_t;

static rep_t g_rep;

static void on_report(void *arg, const te_checkpoint_report_t *r)
{
    (void)arg;
    g_rep.n++;
    g_rep.declined += r->declined;
    snprintf(g_rep.path, sizeof(g_rep.path), "%s", r->path ? r->path : "");
    snprintf(g_rep.cause, sizeof(g_rep.cause), "%s", r->cause ? r->cause : "");
    g_rep.n_shared = r->n_shared < 64 ? r->n_shared : 64;
    for (size_t i = 0; i < g_rep.n_shared; i++) {
        snprintf(g_rep.shared[i], sizeof(g_rep.shared[i]), "%s", r->shared_paths[i]);
        g_rep.shared_size[i] = r->shared_sizes[i];
    }
}

static te_subtask_ckpt_t *coordinator(chain_t *ch)
{
    char ck[128];
    snprintf(ck, sizeof(ck), "%s/ck", g_dir);
    te_subtask_ckpt_config_t cfg = {.task_name = "count",
                                    .dir = ck,
                                    .job_id_hex = "job",
                                    .vertex_id_hex = "v",
                                    .subtask_index = 0,
                                    .parallelism = 1,
                                    .max_parallelism = MAXP,
                                    .report = on_report};
    te_subtask_ckpt_t *sc = subtask_checkpoint_coordinator_new(&cfg);
    ck_assert_ptr_nonnull(sc);
    subtask_checkpoint_set_store(sc, ch->store);
    return sc;
}

static void take(te_subtask_ckpt_t *sc, chain_t *ch, uint64_t id)
{
    te_error_t err = {0};
    int before = g_rep.n;
    ck_assert_int_eq(subtask_checkpoint_perform(sc, ch->c, NULL, 0, id, 0, 0, &err), TE_OK);
    ck_assert_int_eq(g_rep.n, before + 1);
    ck_assert_msg(g_rep.declined == 0, "declined: %s", g_rep.cause);
}

/* Bytes of the shared files of checkpoint id (named <uid>-<id>-<sst>). */
static uint64_t uploaded_by(uint64_t id, int *files)
{
    char tag[32];
    snprintf(tag, sizeof(tag), "-%llu-", (unsigned long long)id);
    DIR *d = opendir(g_shared);
    uint64_t bytes = 0;
    *files = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strstr(e->d_name, tag) == NULL)
            continue;
        char p[512];
        snprintf(p, sizeof(p), "%s/%s", g_shared, e->d_name);
        struct stat sb;
        ck_assert_int_eq(stat(p, &sb), 0);
        bytes += (uint64_t)sb.st_size;
        (*files)++;
    }
    closedir(d);
    return bytes;
}

static void restore_into(chain_t *ch, const char *path, uint32_t old_par, uint32_t subtask, uint32_t par,
                         te_error_t *err, te_status_t expect)
{
    te_restore_handle_t h = {path, 0, old_par};
    te_status_t st = subtask_checkpoint_restore(ch->c, subtask, par, MAXP, &h, 1, NULL, err);
    ck_assert_msg(st == expect, "restore: %s", err->msg);
}

START_TEST(test_incremental_checkpoints)
{
    static int at2[NK];
    memset(counts, 0, sizeof(counts));
    memset(&g_rep, 0, sizeof(g_rep));
    chain_t ch;
    chain_new(&ch, "rocksdb", 1, 0, 1, "count-0");
    ck_assert(state_store_incremental(ch.store));
    for (int k = 0; k < NK; k++)
        feed(&ch, k, 1 + k % 5);
    te_subtask_ckpt_t *sc = coordinator(&ch);
    take(sc, &ch, 1);
    int f1;
    uint64_t b1 = uploaded_by(1, &f1);
    ck_assert_int_gt(f1, 0);
    ck_assert_uint_eq(g_rep.n_shared, (size_t)f1); /* the first refers to what it uploaded */
    char ck1[64][300];
    size_t n1 = g_rep.n_shared;
    memcpy(ck1, g_rep.shared, sizeof(ck1));
    te_error_t err = {0};
    ck_assert_int_eq(subtask_checkpoint_notify_complete(sc, ch.c, 1, &err), TE_OK);

    for (int k = 0; k < NK; k += 100) /* 1% of the keys change */
        feed(&ch, k, 3);
    take(sc, &ch, 2);
    memcpy(at2, counts, sizeof(at2));
    int f2;
    uint64_t b2 = uploaded_by(2, &f2);
    ck_assert_msg(b2 * 20 <= b1, "checkpoint 2 uploaded %llu bytes, checkpoint 1 %llu (more than 5%%)",
                  (unsigned long long)b2, (unsigned long long)b1);
    size_t reused = 0;
    for (size_t i = 0; i < g_rep.n_shared; i++)
        for (size_t j = 0; j < n1; j++)
            reused += strcmp(g_rep.shared[i], ck1[j]) == 0;
    ck_assert_uint_eq(reused + (size_t)f2, g_rep.n_shared); /* every other file is checkpoint 1's */
    ck_assert_uint_gt(reused, 0);
    char path2[512];
    snprintf(path2, sizeof(path2), "%s", g_rep.path);
    ck_assert_int_eq(subtask_checkpoint_notify_complete(sc, ch.c, 2, &err), TE_OK);

    /* an aborted checkpoint leaves none of its uploads */
    feed(&ch, 1, 7);
    feed(&ch, 2, 7);
    take(sc, &ch, 3);
    int f3;
    uploaded_by(3, &f3);
    ck_assert_int_gt(f3, 0);
    subtask_checkpoint_abort(sc, NULL, 0, 3, NULL, 0);
    uploaded_by(3, &f3);
    ck_assert_int_eq(f3, 0);
    subtask_checkpoint_coordinator_free(sc);
    chain_free(&ch);

    /* restores from checkpoint 2 */
    chain_t r;
    chain_new(&r, "rocksdb", 1, 0, 1, "rocks-same");
    restore_into(&r, path2, 1, 0, 1, &err, TE_OK);
    ck_assert_int_eq(check_counts(&r, 0, 1, at2), NK);
    chain_free(&r);
    chain_new(&r, "hashmap", 0, 0, 1, "hashmap-same");
    restore_into(&r, path2, 1, 0, 1, &err, TE_OK);
    ck_assert_int_eq(check_counts(&r, 0, 1, at2), NK);
    chain_free(&r);
    for (uint32_t par = 2; par <= 3; par++) {
        int held = 0;
        for (uint32_t s = 0; s < par; s++) {
            char name[32];
            snprintf(name, sizeof(name), "rescale-%u-%u", par, s);
            chain_new(&r, "rocksdb", 1, s, par, name);
            restore_into(&r, path2, 1, s, par, &err, TE_OK);
            held += check_counts(&r, s, par, at2);
            chain_free(&r);
        }
        ck_assert_int_eq(held, NK);
    }

    /* a corrupt shared file, then a missing one: errors naming the file */
    ck_assert_uint_gt(n1, 0);
    FILE *f = fopen(ck1[0], "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 100, SEEK_SET);
    int byte = fgetc(f);
    fseek(f, 100, SEEK_SET);
    fputc(byte ^ 0x40, f);
    fclose(f);
    chain_new(&r, "rocksdb", 1, 0, 1, "corrupt");
    restore_into(&r, path2, 1, 0, 1, &err, TE_EPROTO);
    ck_assert_msg(strstr(err.msg, ck1[0]) != NULL && strstr(err.msg, "corrupt") != NULL, "%s", err.msg);
    chain_free(&r);
    ck_assert_int_eq(unlink(ck1[0]), 0);
    chain_new(&r, "hashmap", 0, 0, 1, "missing");
    restore_into(&r, path2, 1, 0, 1, &err, TE_ENOTFOUND);
    ck_assert_msg(strstr(err.msg, ck1[0]) != NULL && strstr(err.msg, "missing") != NULL, "%s", err.msg);
    chain_free(&r);
}
END_TEST

/* The synchronous part of an incremental checkpoint (flush + native checkpoint) syncs
 * the new SST, the MANIFEST, its copy and the directories: on the scratch file system
 * each of those is skipped, and the checkpoint holds the data (read back from it). */
START_TEST(test_scratch_fs_skips_syncs)
{
    te_error_t err;
    char dir[160], chk[160];
    snprintf(dir, sizeof(dir), "%s/inst", g_dir);
    snprintf(chk, sizeof(chk), "%s/inst-chk", g_dir);
    te_rocksdb_instance_t *inst = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(inst != NULL, "%s", err.msg);
    char *e = NULL;
    rocksdb_put(rocksdb_instance_db(inst), rocksdb_instance_write_options(inst), "k", 1, "v", 1, &e);
    ck_assert_ptr_null(e);
    uint64_t before = rocksdb_scratch_fs_syncs_skipped();
    ck_assert_int_eq(rocksdb_instance_checkpoint(inst, chk, &err), TE_OK);
    ck_assert_uint_gt(rocksdb_scratch_fs_syncs_skipped(), before);
    rocksdb_instance_close(inst, 1);

    te_rocksdb_instance_t *back = rocksdb_instance_open(chk, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    size_t len = 0;
    char *v = rocksdb_get(rocksdb_instance_db(back), rocksdb_instance_read_options(back), "k", 1, &len, &e);
    ck_assert_ptr_null(e);
    ck_assert_ptr_nonnull(v);
    ck_assert_uint_eq(len, 1);
    ck_assert_int_eq(v[0], 'v');
    rocksdb_free(v);
    rocksdb_instance_close(back, 1);
}
END_TEST

/* Puts key -> value into the default family of inst. */
static void put_kv(te_rocksdb_instance_t *inst, const char *k, const char *v)
{
    char *e = NULL;
    rocksdb_put(rocksdb_instance_db(inst), rocksdb_instance_write_options(inst), k, strlen(k), v, strlen(v), &e);
    ck_assert_msg(e == NULL, "%s", e);
}

/* The value of key in the checkpoint in dir ("" when absent). */
static void expect_in(const char *dir, const char *k, const char *want)
{
    te_error_t err;
    te_rocksdb_instance_t *back = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    char *e = NULL;
    size_t len = 0;
    char *v = rocksdb_get(rocksdb_instance_db(back), rocksdb_instance_read_options(back), k, strlen(k), &len, &e);
    ck_assert_ptr_null(e);
    ck_assert_msg(len == strlen(want) && memcmp(v ? v : "", want, len) == 0, "%s in %s: '%.*s', want '%s'", k, dir,
                  (int)len, v ? v : "", want);
    rocksdb_free(v);
    rocksdb_instance_close(back, 0);
}

/* The checkpoint in dir holds a, b and c with these values ("": absent). */
static void expect_abc(const char *dir, const char *a, const char *b, const char *c)
{
    expect_in(dir, "a", a);
    expect_in(dir, "b", b);
    expect_in(dir, "c", c);
}

/* Begins a capture of inst into <g_dir>/chk-<n> (its path in chk). */
static te_rocksdb_capture_t *begin_at(te_rocksdb_instance_t *inst, int n, char *chk, size_t cap)
{
    te_error_t err;
    snprintf(chk, cap, "%s/chk-%d", g_dir, n);
    te_rocksdb_capture_t *c = rocksdb_instance_capture_begin(inst, chk, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    return c;
}

/* Ends c, which must succeed, and frees it. */
static void end_ok(te_rocksdb_capture_t *c)
{
    te_error_t err;
    ck_assert_msg(rocksdb_instance_capture_end(c, &err) == TE_OK, "%s", err.msg);
    rocksdb_instance_capture_free(c);
}

/* A checkpoint in two parts holds the state at its barrier: writes after the memtable
 * switch are not in it, writes before it are (flushed by the asynchronous part), also
 * when a later checkpoint begins before its asynchronous part. When RocksDB flushes
 * writes newer than the barrier before the files are linked (here an
 * explicit flush; in a task a memtable that filled up), the end says so (TE_ESTATE) and
 * the next capture takes the whole checkpoint in its synchronous part. */
START_TEST(test_capture_holds_the_barrier_state)
{
    te_error_t err;
    char dir[160], chk[160];
    snprintf(dir, sizeof(dir), "%s/inst", g_dir);
    te_rocksdb_instance_t *inst = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(inst != NULL, "%s", err.msg);
    ck_assert_ptr_nonnull(rocksdb_instance_cf(inst, "op-1", &err));
    put_kv(inst, "a", "1");
    put_kv(inst, "b", "1");

    te_rocksdb_capture_t *c = begin_at(inst, 1, chk, sizeof(chk));
    put_kv(inst, "a", "2"); /* after the barrier */
    put_kv(inst, "c", "2");
    end_ok(c);
    expect_abc(chk, "1", "1", "");

    c = begin_at(inst, 2, chk, sizeof(chk));
    put_kv(inst, "b", "3"); /* after the barrier, and flushed before the end */
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *e = NULL;
    rocksdb_flush(rocksdb_instance_db(inst), fo, &e);
    ck_assert_ptr_null(e);
    rocksdb_flushoptions_destroy(fo);
    ck_assert_int_eq(rocksdb_instance_capture_end(c, &err), TE_ESTATE);
    ck_assert_msg(strstr(err.msg, "after the barrier") != NULL, "%s", err.msg);
    rocksdb_instance_capture_free(c);
    (void)dir_remove_tree(chk);

    c = begin_at(inst, 3, chk, sizeof(chk)); /* synchronous: the files are there */
    put_kv(inst, "b", "4");
    expect_in(chk, "b", "3");
    end_ok(c);
    expect_abc(chk, "2", "3", "2");

    c = begin_at(inst, 4, chk, sizeof(chk));
    put_kv(inst, "b", "5");
    ck_assert_msg(access(chk, F_OK) != 0, "the capture after a synchronous one is in two parts again");
    end_ok(c);
    expect_in(chk, "b", "4");

    /* overlapping checkpoints: the second begins before the first's asynchronous part
     * (which finds its files linked); one dropped before its asynchronous part leaves
     * nothing behind that blocks the next */
    char chk6[160];
    te_rocksdb_capture_t *c5 = begin_at(inst, 5, chk, sizeof(chk));
    put_kv(inst, "b", "6");
    c = begin_at(inst, 6, chk6, sizeof(chk6));
    put_kv(inst, "b", "7");
    end_ok(c5);
    end_ok(c);
    expect_in(chk, "b", "5");
    expect_in(chk6, "b", "6");
    rocksdb_instance_capture_free(begin_at(inst, 7, chk, sizeof(chk)));
    c = begin_at(inst, 8, chk, sizeof(chk));
    end_ok(c);
    expect_in(chk, "b", "7");
    rocksdb_instance_close(inst, 1);
}
END_TEST

/* Key i's value in round r (20 bytes that do not compress away) into v; its length. */
static int round_value(int i, int r, char v[32])
{
    return snprintf(v, 32, "%08x-%02d-%08x", (unsigned)(i * 2654435761u), r,
                    (unsigned)((i ^ r) * 40503u + 977u * r));
}

/* Writes n keys of family cf, each to its value of round r. */
static void put_round(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf, int n, int r)
{
    for (int i = 0; i < n; i++) {
        char k[32], v[32];
        int kl = snprintf(k, sizeof(k), "key-%06d", i);
        int vl = round_value(i, r, v);
        char *e = NULL;
        rocksdb_put_cf(rocksdb_instance_db(inst), rocksdb_instance_write_options(inst), cf, k, kl, v, vl, &e);
        ck_assert_msg(e == NULL, "%s", e);
    }
}

/* The SST files in dir: their count and their bytes. */
static uint64_t sst_bytes(const char *dir, int *files)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    uint64_t sum = 0;
    *files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".sst") != 0)
            continue;
        char p[512];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        ck_assert_int_eq(stat(p, &st), 0);
        sum += (uint64_t)st.st_size;
        (*files)++;
    }
    closedir(d);
    return sum;
}

/* Key i of family "op-1" in the checkpoint in dir holds round r's value. */
static void expect_round(const char *dir, int i, int r)
{
    te_error_t err;
    te_rocksdb_instance_t *back = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    rocksdb_column_family_handle_t *cf = rocksdb_instance_cf(back, "op-1", &err);
    ck_assert_msg(cf != NULL, "%s", err.msg);
    char k[32], want[32], *e = NULL;
    int kl = snprintf(k, sizeof(k), "key-%06d", i);
    round_value(i, r, want);
    size_t len = 0;
    char *v = rocksdb_get_cf(rocksdb_instance_db(back), rocksdb_instance_read_options(back), cf, k, kl, &len, &e);
    ck_assert_ptr_null(e);
    ck_assert_msg(v != NULL && len == strlen(want) && memcmp(v, want, len) == 0, "%s in %s: '%.*s', want '%s'", k,
                  dir, (int)len, v ? v : "", want);
    rocksdb_free(v);
    rocksdb_instance_close(back, 0);
}

/* A state rewritten in full between checkpoints is linked as one sorted run, not as one
 * per checkpoint until universal compaction's trigger: each checkpoint's SST bytes stay
 * within 1.5x the first's (which holds one run), and it holds the barrier's values. A
 * run flushed after the barrier is not merged into the checkpoint: it is declined as
 * before. */
START_TEST(test_checkpoint_runs_merged)
{
    enum { N = 20000, ROUNDS = 5 };
    te_error_t err;
    char dir[160], chk[160];
    snprintf(dir, sizeof(dir), "%s/merge", g_dir);
    te_rocksdb_instance_t *inst = rocksdb_instance_open(dir, NULL, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(inst != NULL, "%s", err.msg);
    rocksdb_column_family_handle_t *cf = rocksdb_instance_cf(inst, "op-1", &err);
    ck_assert_msg(cf != NULL, "%s", err.msg);
    uint64_t first = 0;
    for (int r = 1; r <= ROUNDS; r++) {
        put_round(inst, cf, N, r);
        te_rocksdb_capture_t *c = begin_at(inst, 100 + r, chk, sizeof(chk));
        put_round(inst, cf, N / 10, 90 + r); /* after the barrier: not in it */
        end_ok(c);
        int files = 0;
        uint64_t bytes = sst_bytes(chk, &files);
        if (r == 1)
            first = bytes;
        ck_assert_msg(first > 100000 && bytes * 2 <= first * 3,
                      "checkpoint %d: %d SST files of %llu bytes, the first held %llu", r, files,
                      (unsigned long long)bytes, (unsigned long long)first);
        expect_round(chk, 0, r); /* written after the barrier too */
        expect_round(chk, N - 1, r);
        (void)dir_remove_tree(chk);
    }
    te_rocksdb_capture_t *c = begin_at(inst, 200, chk, sizeof(chk));
    put_round(inst, cf, N, 99);
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    char *e = NULL;
    rocksdb_flush_cf(rocksdb_instance_db(inst), fo, cf, &e);
    ck_assert_ptr_null(e);
    rocksdb_flushoptions_destroy(fo);
    ck_assert_int_eq(rocksdb_instance_capture_end(c, &err), TE_ESTATE);
    rocksdb_instance_capture_free(c);
    rocksdb_instance_close(inst, 1);
}
END_TEST

/* The compaction style of a store's RocksDB instance (the OPTIONS file it writes says
 * which one RocksDB runs with): universal by default, level when asked; an unknown one
 * is refused naming the key. */
static int options_say(const char *db_dir, const char *what)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "grep -qs '^ *compaction_style=%s$' %s/OPTIONS-*", what, db_dir);
    return system(cmd) == 0;
}

START_TEST(test_compaction_style)
{
    const char *styles[] = {NULL, "level"};
    const char *want[] = {"kCompactionStyleUniversal", "kCompactionStyleLevel"};
    for (int i = 0; i < 2; i++) {
        char local[160], db[200];
        snprintf(local, sizeof(local), "%s/style-%d", g_dir, i);
        snprintf(db, sizeof(db), "%s/db", local);
        te_error_t err;
        te_state_store_config_t cfg = {.backend = "rocksdb", .local_dir = local, .compaction_style = styles[i]};
        te_state_store_t *s = state_store_new(&cfg, &err);
        ck_assert_msg(s != NULL, "%s", err.msg);
        ck_assert_msg(state_store_backend(s, 0, &err) != NULL, "%s", err.msg);
        ck_assert_msg(options_say(db, want[i]), "%s: no 'compaction_style=%s' in its OPTIONS", db, want[i]);
        ck_assert_msg(!options_say(db, want[1 - i]), "%s: %s in its OPTIONS", db, want[1 - i]);
        state_store_free(s);
    }
    te_error_t err;
    te_state_store_config_t bad = {.backend = "rocksdb", .local_dir = g_dir, .compaction_style = "fifo"};
    ck_assert_ptr_null(state_store_new(&bad, &err));
    ck_assert_msg(strstr(err.msg, "'fifo'") && strstr(err.msg, "state.backend.rocksdb.compaction.style"), "%s",
                  err.msg);
}
END_TEST

/* Puts n keys of 1 KiB values into inst, or (read_back) reads each of them back: each
 * read fills the block cache. */
static void put_many(te_rocksdb_instance_t *inst, int n, int read_back)
{
    char k[32], v[1024];
    memset(v, 'x', sizeof(v));
    for (int i = 0; i < n; i++) {
        snprintf(k, sizeof(k), "key-%06d", i);
        char *e = NULL;
        if (!read_back) {
            rocksdb_put(rocksdb_instance_db(inst), rocksdb_instance_write_options(inst), k, strlen(k), v,
                        sizeof(v), &e);
            ck_assert_msg(e == NULL, "%s", e);
            continue;
        }
        size_t len = 0;
        char *got =
            rocksdb_get(rocksdb_instance_db(inst), rocksdb_instance_read_options(inst), k, strlen(k), &len, &e);
        ck_assert_msg(e == NULL && got != NULL && len == sizeof(v), "%s: %s", k, e ? e : "absent");
        rocksdb_free(got);
    }
}

/* A slot's block cache keeps a closed instance's blocks while another instance of the
 * slot is open, and drops them when the last one closes (an idle slot would otherwise
 * hold them resident until the daemon exits). */
START_TEST(test_slot_cache_emptied_when_last_instance_closes)
{
    te_rocksdb_memory_t *m = rocksdb_memory_new(32u << 20);
    ck_assert_ptr_nonnull(m);
    te_error_t err;
    char a_dir[160], b_dir[160], chk[160];
    snprintf(a_dir, sizeof(a_dir), "%s/slot-a", g_dir);
    snprintf(b_dir, sizeof(b_dir), "%s/slot-b", g_dir);
    snprintf(chk, sizeof(chk), "%s/slot-a-chk", g_dir);
    te_rocksdb_instance_t *a = rocksdb_instance_open(a_dir, m, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(a != NULL, "%s", err.msg);
    te_rocksdb_instance_t *b = rocksdb_instance_open(b_dir, m, TE_ROCKSDB_UNIVERSAL, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    put_many(a, 4000, 0);                                               /* 4 MiB of values */
    ck_assert_int_eq(rocksdb_instance_checkpoint(a, chk, &err), TE_OK); /* flushed into SST files */
    put_many(a, 4000, 1);                                               /* their blocks into the cache */
    size_t cached = rocksdb_memory_usage(m);
    ck_assert_msg(cached >= (2u << 20), "the cache holds only %zu bytes after reading 4 MiB", cached);
    rocksdb_instance_close(a, 1);
    size_t kept = rocksdb_memory_usage(m);
    ck_assert_msg(kept >= (2u << 20), "the cache dropped a's blocks (%zu of %zu bytes left) while b was open",
                  kept, cached);
    rocksdb_instance_close(b, 1);
    size_t left = rocksdb_memory_usage(m);
    ck_assert_msg(left < (256u << 10), "%zu bytes left in the slot's cache after its last instance closed", left);
    rocksdb_memory_free(m);
}
END_TEST

Suite *incremental_suite(void)
{
    Suite *s = suite_create("incremental");
    TCase *tc = tcase_create("rocksdb");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_test(tc, test_incremental_checkpoints);
    tcase_add_test(tc, test_scratch_fs_skips_syncs);
    tcase_add_test(tc, test_capture_holds_the_barrier_state);
    tcase_add_test(tc, test_checkpoint_runs_merged);
    tcase_add_test(tc, test_compaction_style);
    tcase_add_test(tc, test_slot_cache_emptied_when_last_instance_closes);
    suite_add_tcase(s, tc);
    return s;
}
