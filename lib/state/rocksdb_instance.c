/*
 * rocksdb_instance — one task's RocksDB database (see rocksdb_instance.h): options,
 * open with every existing column family, column families created on demand, native
 * checkpoints, properties, close and delete.
 *
 * Threading: the task thread opens, creates column families, begins captures and
 * closes; snapshot threads end captures (flush wait + checkpoint) and read properties.
 * cf_mu guards the column-family table (a leaf lock, never held while calling into
 * RocksDB except around create); cap_mu the one capture in flight (a leaf lock; begin
 * waits on cap_cv while an earlier capture is not ended).
 */
#include "state/rocksdb_instance.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/dir_util.h"
#include "common/log.h"
#include "state/rocksdb_capture.h"
#include "state/rocksdb_scratch_fs.h"

#define DEFAULT_CACHE_BYTES (32u << 20) /* without a slot's managed memory */
#define WRITE_BUFFER_BYTES  (16u << 20)
#define MAX_COLUMN_FAMILIES 4096
#define UNIVERSAL_RUNS      10 /* sorted runs before a compaction merges them */

typedef struct inst_cf {
    char *name;
    rocksdb_column_family_handle_t *h;
} inst_cf_t;

struct te_rocksdb_instance {
    char *dir;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *table;
    rocksdb_filterpolicy_t *filter; /* owned by table once set */
    te_rocksdb_memory_t *own_mem;   /* private cache when no slot memory was given */
    te_rocksdb_memory_t *held;      /* the memory this open instance counts in (rocksdb_memory_hold) */
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_column_family_handle_t *default_cf;
    pthread_mutex_t cf_mu;
    inst_cf_t *cfs;
    size_t n_cfs, cap_cfs;
    /* captures (cap_mu, a leaf lock, guards them and every capture's state): the one
     * not linked yet (a later memtable switch would be a write after its barrier, so
     * the next begin finishes it first); after an unclean one the next checkpoint
     * flushes in its synchronous part */
    pthread_mutex_t cap_mu;
    pthread_cond_t cap_cv;
    te_rocksdb_capture_t *inflight;
    int flush_next;
};

enum { CAP_PENDING, CAP_ENDING, CAP_DONE };

struct te_rocksdb_capture {
    te_rocksdb_instance_t *inst;
    char *dir;
    uint64_t seq;
    rocksdb_column_family_handle_t **cfs; /* switched at the barrier (default aside) */
    size_t n_cfs;
    int state;        /* CAP_*; ENDING: one thread links the files, others wait */
    te_error_t error; /* the outcome once DONE */
};

/* ThreadSanitizer builds: RocksDB (Debian's, not instrumented) synchronises its
 * memtable and iterators with atomics ThreadSanitizer cannot see, so a task thread
 * writing while a snapshot thread reads (which RocksDB supports) is reported as a race
 * inside the library. Reports whose stacks pass through librocksdb or the compression
 * libraries it uses are suppressed; races in this project's own code are still
 * reported. */
#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_suppressions(void);
const char *__tsan_default_suppressions(void)
{
    /* RocksDB and the compression libraries it calls (whose frames follow ours directly
     * when RocksDB's own frames cannot be unwound) */
    return "race:librocksdb.so\nrace:libzstd.so\nrace:liblz4.so\nrace:libsnappy.so\nrace:libz.so\n"
           "race:libbz2.so\n";
}
#endif

/* Takes ownership of a RocksDB error string: err gets "<what>: <rocksdb message>". */
static te_status_t rdb_error(te_error_t *err, char *msg, const char *fmt, const char *arg)
{
    char what[512];
    snprintf(what, sizeof(what), fmt, arg);
    te_error_set(err, TE_EIO, "%s: %s", what, msg ? msg : "unknown RocksDB error");
    rocksdb_free(msg);
    return TE_EIO;
}

static te_status_t build_options(te_rocksdb_instance_t *inst, te_rocksdb_memory_t *mem,
                                 te_rocksdb_compaction_t compaction, te_error_t *err)
{
    inst->opts = rocksdb_options_create();
    inst->table = rocksdb_block_based_options_create();
    inst->wo = rocksdb_writeoptions_create();
    inst->ro = rocksdb_readoptions_create();
    if (mem == NULL)
        mem = inst->own_mem = rocksdb_memory_new(DEFAULT_CACHE_BYTES);
    if (inst->opts == NULL || inst->table == NULL || inst->wo == NULL || inst->ro == NULL || mem == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory creating RocksDB options");
    rocksdb_options_t *o = inst->opts;
    rocksdb_options_set_create_if_missing(o, 1);
    rocksdb_options_set_create_missing_column_families(o, 1);
    rocksdb_options_set_info_log_level(o, 3); /* ERROR */
    rocksdb_options_set_keep_log_file_num(o, 1);
    rocksdb_options_set_max_log_file_size(o, 1u << 20);
    rocksdb_options_set_max_background_jobs(o, 2);
    rocksdb_options_set_write_buffer_size(o, WRITE_BUFFER_BYTES); /* rocksdb_memory_apply sizes it */
    rocksdb_options_set_max_write_buffer_number(o, 2);
    /* Universal compaction (the default): a flush is a new sorted run, merged with runs
     * of its size, the whole state rewritten only when the smaller runs reach twice the
     * largest (space amplification 200%). An incremental checkpoint uploads what
     * compaction wrote since the last one; leveled compaction keeps a state below a few
     * hundred MB in one level and rewrites all of it every fourth flush (measured at
     * 10^7 keys, 1% changed per checkpoint: every checkpoint uploaded the full state;
     * universal p50 2%, mean 5%). Up to ten runs before they merge: a read checks a
     * bloom filter per run. */
    if (compaction == TE_ROCKSDB_LEVEL) {
        rocksdb_options_set_level_compaction_dynamic_level_bytes(o, 1);
    } else {
        rocksdb_options_set_compaction_style(o, rocksdb_universal_compaction);
        rocksdb_options_set_level0_file_num_compaction_trigger(o, UNIVERSAL_RUNS);
    }
    rocksdb_options_set_compression(o, rocksdb_lz4_compression);
    rocksdb_options_set_bottommost_compression(o, rocksdb_zstd_compression);
    /* Index and filter blocks live in the (bounded) cache, partitioned so a lookup
     * reads a 4 KiB partition, not a whole filter, when the cache is small next to the
     * state (Flink's advice for memory-bounded RocksDB); their top levels stay pinned. */
    rocksdb_block_based_options_set_block_size(inst->table, 16u << 10);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks(inst->table, 1);
    rocksdb_block_based_options_set_cache_index_and_filter_blocks_with_high_priority(inst->table, 1);
    rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(inst->table, 1);
    rocksdb_block_based_options_set_index_type(inst->table,
                                               rocksdb_block_based_table_index_type_two_level_index_search);
    rocksdb_block_based_options_set_partition_filters(inst->table, 1);
    rocksdb_block_based_options_set_metadata_block_size(inst->table, 4096);
    rocksdb_block_based_options_set_pin_top_level_index_and_filter(inst->table, 1);
    inst->filter = rocksdb_filterpolicy_create_bloom_full(10);
    rocksdb_block_based_options_set_filter_policy(inst->table, inst->filter);
    rocksdb_memory_apply(mem, o, inst->table);
    rocksdb_options_set_block_based_table_factory(o, inst->table);
    rocksdb_writeoptions_disable_WAL(inst->wo, 1);
    if (rocksdb_scratch_fs_apply(o) != 0)
        TE_WARN("state", "RocksDB in '%s': out of memory making the scratch file system, syncs stay on",
                inst->dir);
    return TE_OK;
}

static te_status_t cf_push(te_rocksdb_instance_t *inst, const char *name, rocksdb_column_family_handle_t *h)
{
    if (inst->n_cfs == inst->cap_cfs) {
        size_t nc = inst->cap_cfs ? inst->cap_cfs * 2 : 8;
        inst_cf_t *p = realloc(inst->cfs, nc * sizeof(*p));
        if (p == NULL)
            return TE_ENOMEM;
        inst->cfs = p;
        inst->cap_cfs = nc;
    }
    char *n = strdup(name);
    if (n == NULL)
        return TE_ENOMEM;
    inst->cfs[inst->n_cfs++] = (inst_cf_t){n, h};
    return TE_OK;
}

/* Opens with every column family the directory's database holds (none when new). */
static te_status_t open_db(te_rocksdb_instance_t *inst, te_error_t *err)
{
    char *e = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(inst->opts, inst->dir, &n, &e);
    if (e != NULL) { /* no database yet (RocksDB still allocated an empty list) */
        rocksdb_free(e);
        e = NULL;
        if (names != NULL)
            rocksdb_list_column_families_destroy(names, n);
        names = NULL;
        n = 0;
    }
    if (n > MAX_COLUMN_FAMILIES) {
        rocksdb_list_column_families_destroy(names, n);
        return te_error_set(err, TE_EPROTO, "RocksDB instance '%s' has %zu column families (at most %d)",
                            inst->dir, n, MAX_COLUMN_FAMILIES);
    }
    if (n == 0) {
        inst->db = rocksdb_open(inst->opts, inst->dir, &e);
        if (e != NULL)
            return rdb_error(err, e, "cannot open RocksDB instance '%s'", inst->dir);
        return TE_OK;
    }
    const rocksdb_options_t **cfo = calloc(n, sizeof(*cfo));
    rocksdb_column_family_handle_t **hs = calloc(n, sizeof(*hs));
    te_status_t st = TE_OK;
    if (cfo == NULL || hs == NULL) {
        st = te_error_set(err, TE_ENOMEM, "out of memory opening '%s'", inst->dir);
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++)
        cfo[i] = inst->opts;
    inst->db =
        rocksdb_open_column_families(inst->opts, inst->dir, (int)n, (const char *const *)names, cfo, hs, &e);
    if (e != NULL) {
        st = rdb_error(err, e, "cannot open RocksDB instance '%s'", inst->dir);
        goto cleanup;
    }
    for (size_t i = 0; i < n && st == TE_OK; i++) {
        if (strcmp(names[i], "default") == 0) {
            inst->default_cf = hs[i];
            continue;
        }
        if (cf_push(inst, names[i], hs[i]) != TE_OK) {
            rocksdb_column_family_handle_destroy(hs[i]);
            st = te_error_set(err, TE_ENOMEM, "out of memory opening '%s'", inst->dir);
        }
        hs[i] = NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (hs[i] != NULL && hs[i] != inst->default_cf)
            rocksdb_column_family_handle_destroy(hs[i]);
cleanup:
    free(cfo);
    free(hs);
    rocksdb_list_column_families_destroy(names, n);
    return st;
}

te_rocksdb_instance_t *rocksdb_instance_open(const char *dir, te_rocksdb_memory_t *mem,
                                             te_rocksdb_compaction_t compaction, te_error_t *err)
{
    te_rocksdb_instance_t *inst = calloc(1, sizeof(*inst));
    if (inst == NULL || (inst->dir = strdup(dir)) == NULL) {
        free(inst);
        te_error_set(err, TE_ENOMEM, "out of memory opening a RocksDB instance");
        return NULL;
    }
    pthread_mutex_init(&inst->cf_mu, NULL);
    pthread_mutex_init(&inst->cap_mu, NULL);
    pthread_cond_init(&inst->cap_cv, NULL);
    if (build_options(inst, mem, compaction, err) != TE_OK)
        goto fail;
    if (dir_make(dir) != 0) {
        te_error_set(err, TE_EIO, "cannot create the state directory '%s': %s", dir, strerror(errno));
        goto fail;
    }
    if (open_db(inst, err) != TE_OK)
        goto fail;
    inst->held = mem ? mem : inst->own_mem;
    rocksdb_memory_hold(inst->held);
    return inst;
fail:
    rocksdb_instance_close(inst, 0);
    return NULL;
}

void rocksdb_instance_close(te_rocksdb_instance_t *inst, int destroy)
{
    if (inst == NULL)
        return;
    for (size_t i = 0; i < inst->n_cfs; i++) {
        rocksdb_column_family_handle_destroy(inst->cfs[i].h);
        free(inst->cfs[i].name);
    }
    free(inst->cfs);
    if (inst->default_cf)
        rocksdb_column_family_handle_destroy(inst->default_cf);
    pthread_mutex_destroy(&inst->cap_mu);
    pthread_cond_destroy(&inst->cap_cv);
    if (inst->db)
        rocksdb_close(inst->db);
    if (inst->held)
        rocksdb_memory_release(inst->held); /* the last one: its blocks leave the cache */
    if (inst->opts)
        rocksdb_options_destroy(inst->opts);
    if (inst->table)
        rocksdb_block_based_options_destroy(inst->table); /* destroys the filter policy too */
    if (inst->wo)
        rocksdb_writeoptions_destroy(inst->wo);
    if (inst->ro)
        rocksdb_readoptions_destroy(inst->ro);
    rocksdb_memory_free(inst->own_mem);
    if (destroy && inst->dir)
        (void)dir_remove_tree(inst->dir);
    pthread_mutex_destroy(&inst->cf_mu);
    free(inst->dir);
    free(inst);
}

rocksdb_column_family_handle_t *rocksdb_instance_cf_find(te_rocksdb_instance_t *inst, const char *name)
{
    rocksdb_column_family_handle_t *h = NULL;
    pthread_mutex_lock(&inst->cf_mu);
    for (size_t i = 0; i < inst->n_cfs && h == NULL; i++)
        if (strcmp(inst->cfs[i].name, name) == 0)
            h = inst->cfs[i].h;
    pthread_mutex_unlock(&inst->cf_mu);
    return h;
}

rocksdb_column_family_handle_t *rocksdb_instance_cf(te_rocksdb_instance_t *inst, const char *name, te_error_t *err)
{
    rocksdb_column_family_handle_t *h = rocksdb_instance_cf_find(inst, name);
    if (h != NULL)
        return h;
    if (inst->n_cfs >= MAX_COLUMN_FAMILIES) {
        te_error_set(err, TE_ETOOBIG, "RocksDB instance '%s': more than %d keyed states", inst->dir,
                     MAX_COLUMN_FAMILIES);
        return NULL;
    }
    char *e = NULL;
    h = rocksdb_create_column_family(inst->db, inst->opts, name, &e);
    if (e != NULL) {
        rdb_error(err, e, "cannot create column family '%s'", name);
        return NULL;
    }
    pthread_mutex_lock(&inst->cf_mu);
    te_status_t st = cf_push(inst, name, h);
    pthread_mutex_unlock(&inst->cf_mu);
    if (st != TE_OK) {
        rocksdb_column_family_handle_destroy(h);
        te_error_set(err, TE_ENOMEM, "out of memory creating column family '%s'", name);
        return NULL;
    }
    return h;
}

size_t rocksdb_instance_cf_count(te_rocksdb_instance_t *inst)
{
    pthread_mutex_lock(&inst->cf_mu);
    size_t n = inst->n_cfs;
    pthread_mutex_unlock(&inst->cf_mu);
    return n;
}

const char *rocksdb_instance_cf_name(te_rocksdb_instance_t *inst, size_t i)
{
    pthread_mutex_lock(&inst->cf_mu);
    const char *n = i < inst->n_cfs ? inst->cfs[i].name : NULL;
    pthread_mutex_unlock(&inst->cf_mu);
    return n;
}

rocksdb_t *rocksdb_instance_db(te_rocksdb_instance_t *inst) { return inst->db; }

const rocksdb_writeoptions_t *rocksdb_instance_write_options(te_rocksdb_instance_t *inst) { return inst->wo; }

const rocksdb_readoptions_t *rocksdb_instance_read_options(te_rocksdb_instance_t *inst) { return inst->ro; }

const char *rocksdb_instance_dir(const te_rocksdb_instance_t *inst) { return inst->dir; }

te_status_t rocksdb_instance_checkpoint(te_rocksdb_instance_t *inst, const char *dir, te_error_t *err)
{
    char *e = NULL;
    rocksdb_checkpoint_t *cp = rocksdb_checkpoint_object_create(inst->db, &e);
    if (e != NULL)
        return rdb_error(err, e, "RocksDB checkpoint of '%s'", inst->dir);
    rocksdb_checkpoint_create(cp, dir, 0, &e); /* 0: always flush the memtables */
    rocksdb_checkpoint_object_destroy(cp);
    if (e != NULL)
        return rdb_error(err, e, "RocksDB checkpoint into '%s'", dir);
    return TE_OK;
}

/* Waits for the flush of what c switched, merges a family's sorted runs when they
 * amplify it past 1.5x (rocksdb_capture_compact), links the files into c->dir and
 * checks them (c is ENDING: this thread alone works on it). */
static te_status_t capture_link(te_rocksdb_capture_t *c, te_error_t *err)
{
    te_rocksdb_instance_t *inst = c->inst;
    char *e = NULL;
    int clean = 0;
    te_status_t st = TE_OK;
    if (rocksdb_capture_wait_flushed(inst->db, c->cfs, c->n_cfs, &e) != 0 ||
        rocksdb_capture_compact(inst->db, c->cfs, c->n_cfs, c->seq, &e) != 0 ||
        rocksdb_capture_checkpoint(inst->db, c->dir, c->seq, &clean, &e) != 0)
        st = te_error_set(err, TE_EIO, "RocksDB checkpoint of '%s' into '%s': %s", inst->dir, c->dir, e);
    else if (!clean)
        st = te_error_set(err, TE_ESTATE,
                          "RocksDB checkpoint of '%s': a memtable written after the barrier was flushed before "
                          "the checkpoint linked its files (a memtable filled up, or the write-buffer manager "
                          "flushed it); this checkpoint is declined, the next one flushes in its synchronous part",
                          inst->dir);
    free(e);
    return st;
}

/* Under cap_mu: c is DONE with st (err's message when failed). */
static void capture_settle(te_rocksdb_capture_t *c, te_status_t st, const te_error_t *err)
{
    c->state = CAP_DONE;
    c->error.code = st;
    snprintf(c->error.msg, sizeof(c->error.msg), "%s", st == TE_OK ? "" : err->msg);
    if (c->inst->inflight == c)
        c->inst->inflight = NULL;
    pthread_cond_broadcast(&c->inst->cap_cv);
}

/* Links the files of a PENDING capture (claimed under cap_mu by the caller, which set
 * it ENDING), then settles it; a failure makes the next checkpoint flush. */
static void capture_finish_claimed(te_rocksdb_capture_t *c)
{
    te_error_t err = {0};
    te_status_t st = capture_link(c, &err);
    pthread_mutex_lock(&c->inst->cap_mu);
    c->inst->flush_next |= st != TE_OK;
    capture_settle(c, st, &err);
    pthread_mutex_unlock(&c->inst->cap_mu);
}

void rocksdb_instance_capture_free(te_rocksdb_capture_t *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->inst->cap_mu);
    while (c->state == CAP_ENDING) /* the next begin is linking it */
        pthread_cond_wait(&c->inst->cap_cv, &c->inst->cap_mu);
    if (c->state == CAP_PENDING) { /* dropped before its asynchronous part */
        te_error_t err;
        te_error_set(&err, TE_ECANCELED, "the checkpoint was cancelled");
        capture_settle(c, TE_ECANCELED, &err);
    }
    pthread_mutex_unlock(&c->inst->cap_mu);
    free(c->cfs);
    free(c->dir);
    free(c);
}

te_rocksdb_capture_t *rocksdb_instance_capture_begin(te_rocksdb_instance_t *inst, const char *dir, te_error_t *err)
{
    te_rocksdb_capture_t *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->dir = strdup(dir)) == NULL) {
        free(c);
        te_error_set(err, TE_ENOMEM, "out of memory taking a RocksDB checkpoint");
        return NULL;
    }
    c->inst = inst;
    c->state = CAP_DONE;
    /* An earlier capture whose files are not linked yet is finished first, here (its
     * asynchronous part may still be queued): the switch below would otherwise be a
     * write after its barrier. Bounded by a flush, as every synchronous part was. */
    pthread_mutex_lock(&inst->cap_mu);
    te_rocksdb_capture_t *prev = inst->inflight;
    if (prev != NULL && prev->state == CAP_PENDING) {
        prev->state = CAP_ENDING;
        pthread_mutex_unlock(&inst->cap_mu);
        capture_finish_claimed(prev);
        pthread_mutex_lock(&inst->cap_mu);
    }
    while (inst->inflight != NULL) /* a snapshot thread is linking it */
        pthread_cond_wait(&inst->cap_cv, &inst->cap_mu);
    int flush = inst->flush_next;
    inst->flush_next = 0;
    pthread_mutex_unlock(&inst->cap_mu);

    te_status_t st = TE_OK;
    if (flush) {
        st = rocksdb_instance_checkpoint(inst, dir, err);
    } else {
        pthread_mutex_lock(&inst->cf_mu); /* the task thread is the only one adding */
        c->n_cfs = inst->n_cfs;
        c->cfs = malloc((c->n_cfs ? c->n_cfs : 1) * sizeof(*c->cfs));
        for (size_t i = 0; c->cfs != NULL && i < c->n_cfs; i++)
            c->cfs[i] = inst->cfs[i].h;
        pthread_mutex_unlock(&inst->cf_mu);
        char *e = NULL;
        if (c->cfs == NULL)
            st = te_error_set(err, TE_ENOMEM, "out of memory taking a RocksDB checkpoint");
        else if (rocksdb_capture_switch(inst->db, c->cfs, c->n_cfs, &c->seq, &e) != 0)
            st = te_error_set(err, TE_EIO, "RocksDB checkpoint of '%s': %s", inst->dir, e);
        free(e);
        if (st == TE_OK) {
            pthread_mutex_lock(&inst->cap_mu);
            c->state = CAP_PENDING;
            inst->inflight = c;
            pthread_mutex_unlock(&inst->cap_mu);
        }
    }
    if (st != TE_OK) {
        rocksdb_instance_capture_free(c);
        return NULL;
    }
    return c;
}

te_status_t rocksdb_instance_capture_end(te_rocksdb_capture_t *c, te_error_t *err)
{
    te_rocksdb_instance_t *inst = c->inst;
    pthread_mutex_lock(&inst->cap_mu);
    if (c->state == CAP_PENDING) {
        c->state = CAP_ENDING;
        pthread_mutex_unlock(&inst->cap_mu);
        capture_finish_claimed(c);
        pthread_mutex_lock(&inst->cap_mu);
    }
    while (c->state == CAP_ENDING) /* the next begin is linking it */
        pthread_cond_wait(&inst->cap_cv, &inst->cap_mu);
    te_status_t st = c->error.code;
    if (st != TE_OK)
        te_error_set(err, st, "%s", c->error.msg);
    pthread_mutex_unlock(&inst->cap_mu);
    return st;
}

/* Sum of an integer property over every column family. */
static uint64_t property_sum(te_rocksdb_instance_t *inst, const char *prop)
{
    uint64_t sum = 0, v;
    pthread_mutex_lock(&inst->cf_mu);
    for (size_t i = 0; i < inst->n_cfs; i++)
        if (rocksdb_property_int_cf(inst->db, inst->cfs[i].h, prop, &v) == 0)
            sum += v;
    pthread_mutex_unlock(&inst->cf_mu);
    return sum;
}

uint64_t rocksdb_instance_disk_bytes(te_rocksdb_instance_t *inst)
{
    return property_sum(inst, "rocksdb.total-sst-files-size");
}

uint64_t rocksdb_instance_memtable_bytes(te_rocksdb_instance_t *inst)
{
    return property_sum(inst, "rocksdb.cur-size-all-mem-tables");
}

uint64_t rocksdb_instance_estimate_keys(te_rocksdb_instance_t *inst, rocksdb_column_family_handle_t *cf)
{
    uint64_t v = 0;
    if (rocksdb_property_int_cf(inst->db, cf, "rocksdb.estimate-num-keys", &v) != 0)
        return 0;
    return v;
}
