/*
 * state_store — a task's keyed-state backends and, for rocksdb, the RocksDB instance
 * they share (see state_store.h).
 *
 * Threading: the task thread changes the backend tables; the reference count is
 * atomic. No locks.
 */
#define _GNU_SOURCE /* asprintf */
#include "state/state_store.h"

#include <stdatomic.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dir_util.h"
#include "state/managed_memory.h"
#include "state/rocksdb_incremental.h"
#include "state/rocksdb_instance.h"
#include "state/snapshot_pool.h"
#include "state/state_backend_internal.h"

typedef enum store_kind { STORE_HASHMAP, STORE_ROCKSDB } store_kind_t;

typedef struct store_slot {
    uint32_t op_index;
    int timers; /* 1 = the timers' de-duplication state */
    te_state_backend_t *b;
} store_slot_t;

struct te_state_store {
    _Atomic int refs;
    store_kind_t kind;
    uint32_t maxp;
    char *task_name;
    char *local_dir;            /* NULL for hashmap stores without one */
    char *db_dir;               /* <local_dir>/db */
    te_memory_budget_t *memory; /* borrowed */
    te_snapshot_pool_t *pool;   /* borrowed */
    te_rocksdb_instance_t *inst;
    te_rocksdb_incremental_t *inc; /* rocksdb + incremental */
    te_state_gate_t *gate;         /* the last incremental capture's (see make_rocksdb) */
    te_rocksdb_compaction_t compaction;
    unsigned n_imports;
    store_slot_t *slots;
    size_t n, cap;
};

static const char *const kind_names[] = {"hashmap", "rocksdb"};

te_status_t state_store_check_backend(const char *backend, te_error_t *err)
{
    if (backend == NULL || strcmp(backend, "hashmap") == 0 || strcmp(backend, "rocksdb") == 0)
        return TE_OK;
    return te_error_set(err, TE_EINVAL, "unknown state backend '%s' (state.backend.type: hashmap or rocksdb)",
                        backend);
}

static const char *const compaction_names[] = {[TE_ROCKSDB_UNIVERSAL] = "universal", [TE_ROCKSDB_LEVEL] = "level"};

/* The style called name (NULL: universal), or -1. */
static int compaction_of(const char *name)
{
    for (size_t i = 0; i < sizeof(compaction_names) / sizeof(compaction_names[0]); i++)
        if (name == NULL || strcmp(name, compaction_names[i]) == 0)
            return (int)i;
    return -1;
}

te_status_t state_store_check_compaction(const char *style, te_error_t *err)
{
    if (compaction_of(style) >= 0)
        return TE_OK;
    return te_error_set(err, TE_EINVAL,
                        "unknown RocksDB compaction style '%s' (state.backend.rocksdb.compaction.style: universal "
                        "or level)",
                        style);
}

te_state_store_t *state_store_new(const te_state_store_config_t *cfg, te_error_t *err)
{
    if (state_store_check_backend(cfg->backend, err) != TE_OK ||
        state_store_check_compaction(cfg->compaction_style, err) != TE_OK)
        return NULL;
    store_kind_t kind = cfg->backend && strcmp(cfg->backend, "rocksdb") == 0 ? STORE_ROCKSDB : STORE_HASHMAP;
    if (kind == STORE_ROCKSDB && (cfg->local_dir == NULL || cfg->local_dir[0] == '\0')) {
        te_error_set(err, TE_EINVAL,
                     "the rocksdb state backend needs a local directory "
                     "(taskmanager.state.local.dir)");
        return NULL;
    }
    uint32_t maxp = cfg->max_parallelism ? cfg->max_parallelism : TE_STATE_DEFAULT_MAX_PARALLELISM;
    if (maxp > TE_STATE_MAX_MAX_PARALLELISM) {
        te_error_set(err, TE_EINVAL, "state backend: max_parallelism %u is above %u", maxp,
                     TE_STATE_MAX_MAX_PARALLELISM);
        return NULL;
    }
    te_state_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto oom;
    atomic_init(&s->refs, 1);
    s->kind = kind;
    s->maxp = maxp;
    s->memory = cfg->memory;
    s->pool = cfg->pool;
    s->compaction = (te_rocksdb_compaction_t)compaction_of(cfg->compaction_style); /* checked above */
    s->task_name = strdup(cfg->task_name ? cfg->task_name : "task");
    if (s->task_name == NULL)
        goto oom;
    if (cfg->local_dir && cfg->local_dir[0] &&
        ((s->local_dir = strdup(cfg->local_dir)) == NULL || asprintf(&s->db_dir, "%s/db", cfg->local_dir) < 0)) {
        s->db_dir = NULL;
        goto oom;
    }
    if (kind == STORE_ROCKSDB && cfg->incremental) {
        if (cfg->shared_dir == NULL || cfg->shared_dir[0] != '/') {
            te_error_set(err, TE_EINVAL, "incremental checkpoints need an absolute shared directory");
            state_store_free(s);
            return NULL;
        }
        if ((s->inc = rocksdb_incremental_new(cfg->shared_dir, cfg->label)) == NULL)
            goto oom;
    }
    return s;
oom:
    state_store_free(s);
    te_error_set(err, TE_ENOMEM, "out of memory creating the state store");
    return NULL;
}

te_state_store_t *state_store_ref(te_state_store_t *s)
{
    atomic_fetch_add(&s->refs, 1);
    return s;
}

/* Frees everything (the last reference is gone). */
static void store_destroy(te_state_store_t *s)
{
    te_state_stats_t st;
    state_store_stats(s, &st);
    for (size_t i = 0; i < s->n; i++)
        state_backend_free(s->slots[i].b);
    free(s->slots);
    state_gate_unref(s->gate);
    rocksdb_instance_close(s->inst, 1);
    rocksdb_incremental_free(s->inc);
    if (s->local_dir && s->kind == STORE_ROCKSDB)
        (void)dir_remove_tree(s->local_dir); /* native checkpoints and imports too */
    int big = st.bytes >= (64u << 20) || s->kind == STORE_ROCKSDB;
    free(s->task_name);
    free(s->local_dir);
    free(s->db_dir);
    free(s);
    if (big) /* hand what malloc keeps (RocksDB's memtables and cache blocks) back */
        malloc_trim(0);
}

static void destroy_job(void *arg) { store_destroy(arg); }

void state_store_free(te_state_store_t *s)
{
    if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->pool != NULL && !snapshot_pool_on_worker() && snapshot_pool_submit(s->pool, destroy_job, s) == TE_OK)
        return;
    store_destroy(s);
}

const char *state_store_backend_name(const te_state_store_t *s) { return kind_names[s->kind]; }

static te_state_backend_t *find_slot(te_state_store_t *s, uint32_t op_index, int timers)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->slots[i].op_index == op_index && s->slots[i].timers == timers)
            return s->slots[i].b;
    return NULL;
}

te_state_backend_t *state_store_find(te_state_store_t *s, uint32_t op_index) { return find_slot(s, op_index, 0); }

static int push_slot(te_state_store_t *s, uint32_t op_index, int timers, te_state_backend_t *b)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 4;
        store_slot_t *p = realloc(s->slots, nc * sizeof(*p));
        if (p == NULL)
            return -1;
        s->slots = p;
        s->cap = nc;
    }
    s->slots[s->n++] = (store_slot_t){op_index, timers, b};
    return 0;
}

te_state_backend_t *state_store_timers(te_state_store_t *s, uint32_t op_index, te_error_t *err)
{
    te_state_backend_t *b = find_slot(s, op_index, 1);
    if (b != NULL)
        return b;
    void *impl = hashmap_state_backend_create(s->maxp, s->memory);
    b = impl ? state_backend_wrap(&hashmap_state_backend_ops, impl, s->maxp) : NULL;
    if (b == NULL || push_slot(s, op_index, 1, b) != 0) {
        state_backend_free(b);
        te_error_set(err, TE_ENOMEM, "out of memory creating the timers of operator #%u of task '%s'", op_index,
                     s->task_name);
        return NULL;
    }
    return b;
}

static te_status_t open_instance(te_state_store_t *s, te_error_t *err)
{
    if (s->inst != NULL)
        return TE_OK;
    s->inst =
        rocksdb_instance_open(s->db_dir, s->memory ? managed_memory_rocksdb(s->memory) : NULL, s->compaction, err);
    return s->inst ? TE_OK : (err ? err->code : TE_EIO);
}

/* The write-back cache in front of each RocksDB keyed state (state_cache.c): 1/16 of
 * the slot's managed memory, 64 KiB .. 64 MiB (32 MiB without a budget), its table
 * included (~80 bytes an entry of a small key and value). With full checkpoints at most
 * 1,024 entries are dirty, so a checkpoint's synchronous part writes back at most that
 * many (1.5-4 us an entry here). With incremental ones the synchronous part copies the
 * dirty entries instead (tens of ns an entry; the asynchronous part writes them), so up
 * to 131,072 may be dirty: a working set that fits reaches RocksDB once per checkpoint. */
#define CACHE_MIN_BYTES     (64u << 10)
#define CACHE_MAX_BYTES     (64u << 20)
#define CACHE_ENTRY_BYTES   80u
#define CACHE_MAX_DIRTY     1024u
#define CACHE_MAX_DIRTY_INC (1u << 17)
static te_state_cache_config_t cache_config(const te_state_store_t *s)
{
    uint64_t bytes = 32u << 20;
    if (s->memory) {
        bytes = managed_memory_limit(s->memory) / 16;
        bytes = bytes < CACHE_MIN_BYTES ? CACHE_MIN_BYTES : bytes > CACHE_MAX_BYTES ? CACHE_MAX_BYTES : bytes;
    }
    uint32_t entries = (uint32_t)(bytes / CACHE_ENTRY_BYTES);
    uint32_t dirty = s->inc ? CACHE_MAX_DIRTY_INC : CACHE_MAX_DIRTY;
    return (te_state_cache_config_t){.max_entries = entries,
                                     .max_bytes = bytes - (uint64_t)entries * 2 * sizeof(void *),
                                     .max_dirty = entries / 2 < dirty ? entries / 2 : dirty};
}

static void *make_rocksdb(te_state_store_t *s, uint32_t op_index, te_error_t *err)
{
    if (open_instance(s, err) != TE_OK)
        return NULL;
    char cf_name[32];
    snprintf(cf_name, sizeof(cf_name), "op-%u", op_index);
    rocksdb_column_family_handle_t *cf = rocksdb_instance_cf(s->inst, cf_name, err);
    void *rdb = cf ? rocksdb_state_backend_create(s->inst, cf, s->maxp, err) : NULL;
    if (rdb == NULL)
        return NULL;
    te_state_cache_config_t cc = cache_config(s);
    void *cache = state_cache_create(&rocksdb_state_backend_ops, rdb, &cc, err);
    /* a keyed state first used after a checkpoint's barrier holds its writes until that
     * checkpoint's switch too: they are after the barrier */
    if (cache != NULL && s->gate != NULL)
        state_cache_hold(cache, s->gate);
    return cache;
}

te_state_backend_t *state_store_backend(te_state_store_t *s, uint32_t op_index, te_error_t *err)
{
    te_state_backend_t *b = state_store_find(s, op_index);
    if (b != NULL)
        return b;
    const te_state_backend_ops_t *ops = s->kind == STORE_ROCKSDB ? &state_cache_ops : &hashmap_state_backend_ops;
    void *impl = s->kind == STORE_ROCKSDB ? make_rocksdb(s, op_index, err)
                                          : hashmap_state_backend_create(s->maxp, s->memory);
    if (impl == NULL) {
        if (s->kind == STORE_HASHMAP)
            goto oom;
        te_error_prefix(err, "keyed state of operator #%u of task '%s'", op_index, s->task_name);
        return NULL;
    }
    b = state_backend_wrap(ops, impl, s->maxp);
    if (b == NULL || push_slot(s, op_index, 0, b) != 0) {
        state_backend_free(b);
        goto oom;
    }
    return b;
oom:
    te_error_set(err, TE_ENOMEM, "out of memory creating the keyed state of operator #%u of task '%s'", op_index,
                 s->task_name);
    return NULL;
}

uint64_t state_store_managed_bytes(te_state_store_t *s)
{
    if (s->kind == STORE_ROCKSDB)
        return s->memory && s->inst ? rocksdb_memory_usage(managed_memory_rocksdb(s->memory)) : 0;
    uint64_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        te_state_stats_t one;
        state_backend_stats(s->slots[i].b, &one);
        n += one.bytes;
    }
    return n;
}

void state_store_stats(te_state_store_t *s, te_state_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < s->n; i++) {
        if (s->slots[i].timers)
            continue;
        te_state_stats_t one;
        state_backend_stats(s->slots[i].b, &one);
        out->bytes += one.bytes;
        out->entries += one.entries;
    }
}

/* ---- incremental checkpoints ---- */

int state_store_incremental(const te_state_store_t *s) { return s->inc != NULL; }

te_rocksdb_inc_snapshot_t *state_store_snapshot_incremental(te_state_store_t *s, uint64_t id, uint32_t kg_first,
                                                            uint32_t kg_last,
                                                            const te_rocksdb_state_name_t *states, size_t n_states,
                                                            te_error_t *err)
{
    if (s->inc == NULL || open_instance(s, err) != TE_OK) {
        if (s->inc == NULL)
            te_error_set(err, TE_ESTATE, "incremental checkpoints are off");
        return NULL;
    }
    /* what the state caches hold dirty, copied into one batch the asynchronous part
     * writes before it switches the memtables; until then the caches hold their writes
     * (state_gate.h) */
    te_state_batch_t *batch = state_batch_new();
    te_state_gate_t *gate = state_gate_new();
    if (batch == NULL || gate == NULL) {
        state_batch_free(batch);
        state_gate_unref(gate);
        te_error_set(err, TE_ENOMEM, "out of memory taking an incremental snapshot");
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        if (!s->slots[i].timers && state_backend_capture(s->slots[i].b, batch, gate) != 0) {
            te_error_set(err, TE_EIO, "keyed state of task '%s': %s", s->task_name,
                         state_backend_error(s->slots[i].b));
            state_gate_open(gate, 0); /* the caches that captured mark it dirty again */
            state_gate_unref(gate);
            state_batch_free(batch);
            return NULL;
        }
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/chk-%llu", s->local_dir, (unsigned long long)id);
    te_rocksdb_inc_snapshot_t *snap = rocksdb_incremental_snapshot(s->inc, s->inst, id, s->maxp, kg_first, kg_last,
                                                                   states, n_states, dir, batch, gate, err);
    state_gate_unref(s->gate);
    s->gate = gate; /* the store's reference, for keyed states created before it opens */
    return snap;
}

void state_store_checkpoint_complete(te_state_store_t *s, uint64_t id)
{
    if (s->inc)
        rocksdb_incremental_complete(s->inc, id);
}

void state_store_checkpoint_abort(te_state_store_t *s, uint64_t id)
{
    if (s->inc)
        rocksdb_incremental_abort(s->inc, id);
}

/* ---- restore from RocksDB checkpoints ---- */

/* The keyed state of manifest state i in inst (a column family "op-<index>"). */
static rocksdb_column_family_handle_t *manifest_cf(te_rocksdb_instance_t *inst, const te_rocksdb_manifest_t *m,
                                                   size_t i)
{
    char name[32];
    snprintf(name, sizeof(name), "op-%u", rocksdb_incremental_manifest_state(m, i)->op_index);
    return rocksdb_instance_cf_find(inst, name);
}

te_status_t state_store_restore_rocksdb(te_state_store_t *s, const te_rocksdb_manifest_t *m, uint32_t kg_first,
                                        uint32_t kg_last, te_error_t *err)
{
    if (s->kind != STORE_ROCKSDB || s->inst != NULL || s->n > 0)
        return te_error_set(err, TE_ESTATE, "a RocksDB instance can be restored only into a new rocksdb store");
    (void)dir_remove_tree(s->db_dir);
    te_status_t st = rocksdb_incremental_materialize(m, s->db_dir, err);
    if (st == TE_OK)
        st = open_instance(s, err);
    uint32_t maxp, f, l;
    rocksdb_incremental_manifest_range(m, &maxp, &f, &l);
    for (size_t i = 0; st == TE_OK && (f < kg_first || l > kg_last) && i < rocksdb_incremental_manifest_states(m);
         i++) {
        rocksdb_column_family_handle_t *cf = manifest_cf(s->inst, m, i);
        if (cf != NULL)
            st = rocksdb_state_backend_keep_range(s->inst, cf, kg_first, kg_last, err);
    }
    if (st == TE_OK && s->inc && f == kg_first && l == kg_last)
        rocksdb_incremental_adopt(s->inc, m); /* claim: the next checkpoint refers to these files */
    return st;
}

typedef struct import_ctx {
    te_state_backend_t *to;
    uint64_t n;
} import_ctx_t;

static int import_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                        uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    import_ctx_t *c = arg;
    c->n++;
    return state_backend_put_kg(c->to, kg, key, keylen, ns, nslen, val, vallen) != 0 ? -2 : 0;
}

/* Copies key groups kg_first..kg_last of every state of m in inst into s. */
static te_status_t import_states(te_state_store_t *s, te_rocksdb_instance_t *inst, const te_rocksdb_manifest_t *m,
                                 const long *targets, uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    for (size_t i = 0; i < rocksdb_incremental_manifest_states(m); i++) {
        rocksdb_column_family_handle_t *cf = manifest_cf(inst, m, i);
        long at = targets ? targets[i] : (long)rocksdb_incremental_manifest_state(m, i)->op_index;
        if (cf == NULL || at < 0)
            continue; /* a state that stored nothing, or one the job dropped */
        te_state_backend_t *to = state_store_backend(s, (uint32_t)at, err);
        if (to == NULL)
            return err ? err->code : TE_ENOMEM;
        void *impl = rocksdb_state_backend_create(inst, cf, s->maxp, err);
        te_state_backend_t *from = impl ? state_backend_wrap(&rocksdb_state_backend_ops, impl, s->maxp) : NULL;
        if (from == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory importing keyed state");
        import_ctx_t c = {to, 0};
        te_status_t st = TE_OK;
        for (uint32_t kg = kg_first; kg <= kg_last && kg < s->maxp && st == TE_OK; kg++) {
            int rc = state_backend_foreach_group(from, kg, import_visit, &c);
            if (rc == -2)
                st = te_error_set(err, TE_EIO, "importing keyed state: %s", state_backend_error(to));
            else if (rc != 0)
                st = te_error_set(err, TE_EIO, "importing keyed state: %s", state_backend_error(from));
        }
        state_backend_free(from);
        if (st != TE_OK)
            return st;
    }
    return TE_OK;
}

te_status_t state_store_import_rocksdb(te_state_store_t *s, const te_rocksdb_manifest_t *m, const long *targets,
                                       uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    char dir[4200];
    if (s->local_dir)
        snprintf(dir, sizeof(dir), "%s/import-%u", s->local_dir, s->n_imports++);
    else {
        snprintf(dir, sizeof(dir), "/tmp/te-import.XXXXXX");
        if (mkdtemp(dir) == NULL)
            return te_error_set(err, TE_EIO, "cannot create a temporary directory: %s", strerror(errno));
    }
    (void)dir_remove_tree(dir);
    te_status_t st = rocksdb_incremental_materialize(m, dir, err);
    te_rocksdb_instance_t *inst = st == TE_OK ? rocksdb_instance_open(dir, NULL, s->compaction, err) : NULL;
    if (st == TE_OK && inst == NULL)
        st = err ? err->code : TE_EIO;
    if (st == TE_OK)
        st = import_states(s, inst, m, targets, kg_first, kg_last, err);
    rocksdb_instance_close(inst, 0);
    (void)dir_remove_tree(dir);
    return st;
}
