/*
 * bench_state — keyed-state benchmark (issue #16): a keyed_count operator (emit =
 * updates, into a counting tail) driven record by record through a real operator
 * chain on a state store of one backend, with real checkpoints through the subtask
 * checkpoint coordinator and a snapshot pool of 2 threads — what a task does, without
 * the network. One JSON line per figure on stdout:
 *
 *   load         records/s while every key is inserted once (random order)
 *   throughput   records/s of random updates without checkpoints and with one every
 *                second (none while the last is still being written, as tectl's
 *                coordinator does; same records), the difference in percent; the same per CPU
 *                second of this thread (what a machine shared with other work still
 *                measures faithfully: the asynchronous parts run on other threads)
 *   sync_pause   the synchronous part of each of those checkpoints (p50/p99/max, µs)
 *   async        their asynchronous part (p50/max, ms)
 *   memory       RSS and state bytes per key beside the raw key + value bytes
 *   rss_checkpoint  RSS before the checkpointed phase and its peak during it
 *   checkpoint_bytes  a full checkpoint's bytes (taken after the updates) beside the
 *                raw bytes; rocksdb: ten rounds of 1% of the keys changing, then an
 *                incremental checkpoint: its bytes beside its full size (p50, mean, max)
 *   restore      seconds to restore the last checkpoint into a fresh store
 *   rss_after_free  RSS once the state is freed (on the pool, malloc_trim) beside the
 *                process's RSS before any state existed; anon_delta the same for its
 *                anonymous part (RssAnon: without library code paged in on first use)
 *
 * The process sets malloc up as taskexecutord does (malloc_policy), so the RSS figures
 * are the daemon's.
 *
 * Usage: bench_state hashmap|rocksdb KEYS [UPDATES]   (UPDATES default: KEYS, at least
 * 2,000,000). Files go to $BENCH_DIR (default /tmp), removed at the end.
 *
 * Threading: this thread is the task thread; checkpoints' asynchronous parts and state
 * frees run on the pool's threads.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/dir_util.h"
#include "common/key_group.h"
#include "common/malloc_policy.h"
#include "operators/operator_registry.h"
#include "runtime/operator_chain.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "state/snapshot_pool.h"
#include "state/state_backend.h"
#include "state/state_store.h"
#include "te/row.h"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* CPU seconds of this (the task) thread: rates per CPU second are what a machine shared
 * with other work still measures faithfully. */
static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* The anonymous part of the RSS (RssAnon): what the process holds privately, without
 * the file-backed pages of the libraries it has run (librocksdb's code is paged in as
 * it runs; those pages are shared with every process that maps it, and reclaimable). */
static uint64_t rss_anon_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    unsigned long kb = 0;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %lu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (uint64_t)kb * 1024;
}

/* ---- the tail: counts what keyed_count emits ---- */

static uint64_t g_emitted;

static int tail_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)self, (void)input, (void)rec, (void)out;
    g_emitted++;
    return 0;
}

static void *tail_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    (void)api, (void)ctx, (void)err, (void)errlen;
    return &g_emitted;
}

static const te_operator_def_t tail_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "count_tail",
    .kind = TE_OP_ONE_INPUT,
    .setup = tail_setup,
    .process_element = tail_process,
};

/* ---- a task: chain + store + coordinator ---- */

typedef struct task {
    te_chain_op_config_t ops[2];
    const char *k[1], *v[1];
    te_state_store_t *store;
    te_operator_chain_t *c;
    te_subtask_ckpt_t *sc;
} task_t;

typedef struct reports {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n, declined;
    uint64_t sync_us[4096], async_ms[4096];
    char path[512], cause[512];
    uint64_t size, shared_total;
} reports_t;

static reports_t g_rep = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void on_report(void *arg, const te_checkpoint_report_t *r)
{
    (void)arg;
    pthread_mutex_lock(&g_rep.mu);
    if (r->declined) {
        g_rep.declined++;
        snprintf(g_rep.cause, sizeof(g_rep.cause), "%s", r->cause);
    } else if (g_rep.n < 4096) {
        g_rep.sync_us[g_rep.n] = r->sync_duration_us;
        g_rep.async_ms[g_rep.n] = r->async_duration_ms;
        g_rep.n++;
        snprintf(g_rep.path, sizeof(g_rep.path), "%s", r->path);
        g_rep.size = r->size;
        g_rep.shared_total = 0;
        for (size_t i = 0; i < r->n_shared; i++)
            g_rep.shared_total += r->shared_sizes[i];
    }
    pthread_cond_broadcast(&g_rep.cv);
    pthread_mutex_unlock(&g_rep.mu);
}

static char g_dir[256];
static te_snapshot_pool_t *g_pool;

static void task_new(task_t *t, const char *backend, int incremental, const char *name)
{
    memset(t, 0, sizeof(*t));
    t->k[0] = "emit";
    t->v[0] = "updates";
    t->ops[0] = (te_chain_op_config_t){operator_registry_find("keyed_count"), "keyed_count", NULL, 1, t->k, t->v, 0};
    t->ops[1] = (te_chain_op_config_t){&tail_def, "tail", NULL, 0, NULL, NULL, 0};
    char local[400], shared[400], ck[300];
    snprintf(local, sizeof(local), "%s/local-%s", g_dir, name);
    snprintf(ck, sizeof(ck), "%s/ck", g_dir);
    snprintf(shared, sizeof(shared), "%s/job/shared", ck);
    te_state_store_config_t sc = {.backend = backend,
                                  .max_parallelism = 128,
                                  .task_name = name,
                                  .local_dir = local,
                                  .incremental = incremental,
                                  .shared_dir = shared,
                                  .label = name,
                                  .pool = g_pool};
    te_error_t err = {0};
    t->store = state_store_new(&sc, &err);
    te_operator_chain_config_t cfg = {
        .task_name = name, .parallelism = 1, .max_parallelism = 128, .ops = t->ops, .n_ops = 2, .state = t->store};
    t->c = t->store ? operator_chain_new(&cfg, &err) : NULL;
    if (t->c == NULL) {
        fprintf(stderr, "bench_state: %s\n", err.msg);
        exit(1);
    }
    te_subtask_ckpt_config_t cc = {.task_name = name,
                                   .dir = ck,
                                   .job_id_hex = "job",
                                   .vertex_id_hex = name,
                                   .parallelism = 1,
                                   .max_parallelism = 128,
                                   .report = on_report,
                                   .pool = g_pool};
    t->sc = subtask_checkpoint_coordinator_new(&cc);
    subtask_checkpoint_set_store(t->sc, t->store);
}

static void task_free(task_t *t)
{
    subtask_checkpoint_wait_all(t->sc);
    subtask_checkpoint_coordinator_free(t->sc);
    operator_chain_free(t->c);
    state_store_free(t->store); /* on the pool */
}

/* ---- records ---- */

static uint64_t g_keys;

/* Key i of the key space, "w<i>" (a word-count-like key). */
static uint32_t key_text(uint64_t i, char *buf) { return (uint32_t)sprintf(buf, "w%llu", (unsigned long long)i); }

/* Key i as the record a text input carries: a row of one string field (te/row.h). */
static void feed(task_t *t, uint64_t i)
{
    static te_row_builder_t b;
    char k[32];
    uint32_t n = key_text(i, k);
    te_record_t rec;
    int bad = te_row_builder_begin(&b, 1);
    te_row_set_str(&b, 0, k, n);
    if (bad != 0 || te_row_builder_finish(&b, TE_NO_TIMESTAMP, &rec) != 0) {
        fprintf(stderr, "bench_state: out of memory\n");
        exit(1);
    }
    te_error_t err = {0};
    if (operator_chain_process_element(t->c, 0, &rec, &err) != TE_OK) {
        fprintf(stderr, "bench_state: %s\n", err.msg);
        exit(1);
    }
}

/* A bijection on [0, n) for the insertion order (an LCG walk over the next power of
 * two, skipping values >= n). */
static uint64_t perm(uint64_t i, uint64_t n, uint64_t mask)
{
    uint64_t x = i;
    do
        x = (x * 6364136223846793005ULL + 1442695040888963407ULL) & mask;
    while (x >= n);
    return x;
}

static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void checkpoint(task_t *t, uint64_t id)
{
    te_error_t err = {0};
    if (subtask_checkpoint_perform(t->sc, t->c, NULL, 0, id, 0, 0, &err) != TE_OK) {
        fprintf(stderr, "bench_state: checkpoint %llu: %s\n", (unsigned long long)id, err.msg);
        exit(1);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(uint64_t *v, int n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof(*v), cmp_u64);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* Bytes of the files in dir whose name contains tag (NULL: all). */
static uint64_t dir_bytes(const char *dir, const char *tag)
{
    DIR *d = opendir(dir);
    uint64_t n = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.' || (tag && strstr(e->d_name, tag) == NULL))
            continue;
        char p[1024];
        struct stat sb;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            n += (uint64_t)sb.st_size;
    }
    closedir(d);
    return n;
}

static void wait_pool(void)
{
    while (snapshot_pool_busy(g_pool) > 0)
        usleep(2000);
}

#define JSON_HEAD "{\"bench\": \"state\", \"backend\": \"%s\", \"keys\": %llu, "

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_state hashmap|rocksdb KEYS [UPDATES]\n");
        return 2;
    }
    const char *why;
    if (!malloc_policy_apply(&why))
        fprintf(stderr, "bench_state: malloc thresholds left as they are: %s\n", why);
    const char *backend = argv[1];
    int rocks = strcmp(backend, "rocksdb") == 0;
    g_keys = strtoull(argv[2], NULL, 10);
    uint64_t updates = argc > 3 ? strtoull(argv[3], NULL, 10) : (g_keys > 2000000 ? g_keys : 2000000);
    const char *base = getenv("BENCH_DIR") ? getenv("BENCH_DIR") : "/tmp";
    snprintf(g_dir, sizeof(g_dir), "%s/bench_state.XXXXXX", base);
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    te_error_t err = {0};
    g_pool = snapshot_pool_new(2, &err);
    uint64_t rss0 = rss_bytes(), anon0 = rss_anon_bytes();
    unsigned long long K = (unsigned long long)g_keys;
    task_t t;
    task_new(&t, backend, rocks, "count");

    /* load: every key once */
    uint64_t mask = 1;
    while (mask < g_keys)
        mask = mask << 1 | 1;
    double t0 = now_s(), c0 = cpu_s();
    for (uint64_t i = 0; i < g_keys; i++)
        feed(&t, perm(i, g_keys, mask));
    double load_s = now_s() - t0, load_cpu = cpu_s() - c0;
    /* a harness that feeds what keyed_count cannot key (one key for all, say) would
     * measure nothing: stop instead (rocksdb's count is an estimate) */
    uint64_t entries = state_backend_entries(operator_chain_state_backend(t.c, 0));
    if (rocks ? entries < g_keys / 2 || entries > g_keys * 2 : entries < g_keys) {
        fprintf(stderr, "bench_state: %llu keys loaded, but the state holds %llu entries\n", K,
                (unsigned long long)entries);
        return 1;
    }
    printf(JSON_HEAD "\"figure\": \"load\", \"records_per_s\": %.0f, \"records_per_cpu_s\": %.0f}\n", backend, K,
           (double)g_keys / load_s, (double)g_keys / load_cpu);

    /* random updates: without checkpoints, then with one per second */
    t0 = now_s();
    c0 = cpu_s();
    for (uint64_t i = 0; i < updates; i++)
        feed(&t, rnd() % g_keys);
    double plain_s = now_s() - t0, plain_cpu = cpu_s() - c0;
    uint64_t rss_before = rss_bytes(), rss_peak = rss_before, id = 0;
    t0 = now_s();
    c0 = cpu_s();
    double next = t0 + 1.0;
    checkpoint(&t, ++id);
    for (uint64_t i = 0; i < updates; i++) {
        feed(&t, rnd() % g_keys);
        if ((i & 4095) == 0) {
            uint64_t r = rss_bytes();
            rss_peak = r > rss_peak ? r : rss_peak;
            /* as tectl: every second, never while the previous one is still running */
            if (now_s() >= next && subtask_checkpoint_running(t.sc) == 0) {
                checkpoint(&t, ++id);
                next = now_s() + 1.0;
            }
        }
    }
    double ckpt_s = now_s() - t0, ckpt_cpu = cpu_s() - c0;
    subtask_checkpoint_wait_all(t.sc);
    double plain_rate = (double)updates / plain_s, ckpt_rate = (double)updates / ckpt_s;
    double plain_crate = (double)updates / plain_cpu, ckpt_crate = (double)updates / ckpt_cpu;
    printf(JSON_HEAD "\"figure\": \"throughput\", \"updates\": %llu, \"records_per_s\": %.0f, "
                     "\"records_per_s_checkpoint_1s\": %.0f, \"drop_pct\": %.2f, \"records_per_cpu_s\": %.0f, "
                     "\"records_per_cpu_s_checkpoint_1s\": %.0f, \"cpu_drop_pct\": %.2f, \"checkpoints\": %d, "
                     "\"target_drop_pct\": 5}\n",
           backend, K, (unsigned long long)updates, plain_rate, ckpt_rate,
           100.0 * (plain_rate - ckpt_rate) / plain_rate, plain_crate, ckpt_crate,
           100.0 * (plain_crate - ckpt_crate) / plain_crate, g_rep.n);
    int nck = g_rep.n;
    uint64_t amax = 0;
    for (int i = 0; i < nck; i++)
        amax = g_rep.async_ms[i] > amax ? g_rep.async_ms[i] : amax;
    uint64_t async_p50 = pct(g_rep.async_ms, nck, 0.5);
    printf(JSON_HEAD "\"figure\": \"sync_pause_us\", \"p50\": %llu, \"p99\": %llu, \"max\": %llu, "
                     "\"checkpoints\": %d, \"target_us\": 10000}\n",
           backend, K, (unsigned long long)pct(g_rep.sync_us, nck, 0.5),
           (unsigned long long)pct(g_rep.sync_us, nck, 0.99), (unsigned long long)pct(g_rep.sync_us, nck, 1.0),
           nck);
    printf(JSON_HEAD "\"figure\": \"async_ms\", \"p50\": %llu, \"max\": %llu}\n", backend, K,
           (unsigned long long)async_p50, (unsigned long long)amax);
    printf(JSON_HEAD "\"figure\": \"rss_checkpoint\", \"rss_before\": %llu, \"rss_peak\": %llu, \"ratio\": %.3f, "
                     "\"target_ratio\": 1.2}\n",
           backend, K, (unsigned long long)rss_before, (unsigned long long)rss_peak,
           (double)rss_peak / (double)rss_before);

    /* memory: what the state holds beside the raw keys and values */
    te_state_stats_t st;
    state_store_stats(t.store, &st);
    double raw_key = 0;
    for (uint64_t i = 0; i < 1000; i++) {
        char k[32];
        raw_key += key_text(g_keys - 1 - i * (g_keys / 1000 ? g_keys / 1000 : 1) % g_keys, k);
    }
    raw_key /= 1000.0;
    double raw = raw_key + 8;
    printf(JSON_HEAD "\"figure\": \"memory\", \"rss\": %llu, \"rss_bytes_per_key\": %.1f, "
                     "\"state_bytes_per_key\": %.1f, \"raw_bytes_per_key\": %.1f, \"rss_to_raw\": %.2f, "
                     "\"target_hashmap_to_raw\": 2}\n",
           backend, K, (unsigned long long)rss_before, (double)(rss_before - rss0) / (double)g_keys,
           (double)st.bytes / (double)g_keys, raw, (double)(rss_before - rss0) / (double)g_keys / raw);

    /* checkpoint bytes: a snapshot in full (rocksdb: its file + every shared file it
     * refers to) of the state as the updates left it — the last checkpoint above missed
     * the updates after it, which the next one would carry (measured as "1%" before) */
    checkpoint(&t, ++id);
    subtask_checkpoint_wait_all(t.sc);
    uint64_t full = g_rep.size + g_rep.shared_total;
    printf(JSON_HEAD "\"figure\": \"checkpoint_bytes\", \"full\": %llu, \"raw\": %.0f, \"full_to_raw\": %.2f, "
                     "\"target_full_to_raw\": 1.5%s",
           backend, K, (unsigned long long)full, raw * (double)g_keys, (double)full / (raw * (double)g_keys),
           rocks ? ", " : "}\n");
    if (rocks) {
        /* INC_ROUNDS times: 1% of the keys change, then a checkpoint on the last one
         * confirmed; what it adds beside its full size. A round whose checkpoint finds a
         * compaction's output re-uploads what the compaction rewrote, so p50, mean and
         * max say how often that happens. */
        enum { INC_ROUNDS = 10 };
        double frac[INC_ROUNDS], mean = 0;
        uint64_t inc_bytes[INC_ROUNDS], full_bytes[INC_ROUNDS];
        char shared[400], tag[32];
        snprintf(shared, sizeof(shared), "%s/ck/job/shared", g_dir);
        for (int r = 0; r < INC_ROUNDS; r++) {
            subtask_checkpoint_notify_complete(t.sc, t.c, id, &err); /* the base of the next */
            for (uint64_t i = 0; i < g_keys / 100; i++)
                feed(&t, rnd() % g_keys);
            checkpoint(&t, ++id);
            subtask_checkpoint_wait_all(t.sc);
            snprintf(tag, sizeof(tag), "-%llu-", (unsigned long long)id);
            inc_bytes[r] = g_rep.size + dir_bytes(shared, tag);
            full_bytes[r] = g_rep.size + g_rep.shared_total;
            frac[r] = (double)inc_bytes[r] / (double)full_bytes[r];
            mean += frac[r] / INC_ROUNDS;
        }
        uint64_t inc = pct(inc_bytes, INC_ROUNDS, 0.5);
        qsort(frac, INC_ROUNDS, sizeof(frac[0]), cmp_double);
        printf("\"full_to_raw_rounds_p50\": %.2f, \"incremental_1pct\": %llu, \"incremental_to_full\": %.4f, "
               "\"incremental_to_full_mean\": %.4f, \"incremental_to_full_max\": %.4f, \"rounds\": %d, "
               "\"target_incremental_to_full\": 0.05}\n",
               (double)pct(full_bytes, INC_ROUNDS, 0.5) / (raw * (double)g_keys), (unsigned long long)inc,
               frac[INC_ROUNDS / 2], mean, frac[INC_ROUNDS - 1], INC_ROUNDS);
    }

    /* restore the last checkpoint into a fresh task */
    char last[512];
    snprintf(last, sizeof(last), "%s", g_rep.path);
    task_t r;
    task_new(&r, backend, rocks, "restored");
    te_restore_handle_t h = {last, 0, 1};
    t0 = now_s();
    if (subtask_checkpoint_restore(r.c, 0, 1, 128, &h, 1, NULL, &err) != TE_OK) {
        fprintf(stderr, "bench_state: restore: %s\n", err.msg);
        return 1;
    }
    double rs = now_s() - t0;
    printf(JSON_HEAD "\"figure\": \"restore\", \"seconds\": %.3f, \"keys_per_s\": %.0f}\n", backend, K, rs,
           (double)g_keys / rs);

    /* free both, on the pool, and see what the process keeps */
    task_free(&r);
    task_free(&t);
    wait_pool();
    usleep(200000);
    uint64_t rss_after = rss_bytes(), anon_after = rss_anon_bytes();
    printf(JSON_HEAD "\"figure\": \"rss_after_free\", \"rss_before_state\": %llu, \"rss_after\": %llu, "
                     "\"delta\": %lld, \"anon_delta\": %lld, \"target_delta\": 10485760}\n",
           backend, K, (unsigned long long)rss0, (unsigned long long)rss_after,
           (long long)rss_after - (long long)rss0, (long long)anon_after - (long long)anon0);
    if (g_rep.declined)
        fprintf(stderr, "bench_state: %d checkpoints declined: %s\n", g_rep.declined, g_rep.cause);
    snapshot_pool_free(g_pool);
    dir_remove_tree(g_dir);
    return 0;
}
