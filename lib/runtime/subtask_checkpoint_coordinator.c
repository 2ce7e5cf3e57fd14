/*
 * subtask_checkpoint_coordinator — the task-side checkpoint flow (see
 * subtask_checkpoint_coordinator.h): the synchronous snapshot of the chain, the
 * barrier on every output, then the asynchronous part on the snapshot pool (write
 * `<dir>/<job>/chk-<n>/<vertex>-<subtask>`: temp + fsync + rename) and the report.
 *
 * The running asynchronous parts and the right to report are shared with the jobs
 * through `async_ctl` (reference-counted: a job may outlive the coordinator when the
 * task was cancelled).
 *
 * Threading: the task thread (or under the task's checkpoint lock) calls the entry
 * points; jobs run on snapshot threads. async_ctl.mu guards running, jobs, cancelled
 * and every report (a leaf lock: the report callback only queues).
 */
#include "runtime/subtask_checkpoint_coordinator.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/key_group.h"
#include "common/log.h"
#include "runtime/async_checkpoint.h"
#include "runtime/operator_chain.h"
#include "shuffle/task_event.h"
#include "state/checkpoint_reader.h"
#include "state/checkpoint_storage.h"
#include "state/rocksdb_incremental.h"
#include "state/snapshot_pool.h"
#include "state/state_store.h"

typedef struct ckpt_job ckpt_job_t;

typedef struct async_ctl {
    _Atomic int refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int cancelled; /* the task is ending: no more reports */
    unsigned running;
    ckpt_job_t *jobs;
    te_checkpoint_report_fn report;
    void *report_arg;
    char *task_name;
    _Atomic uint64_t last_id;
} async_ctl_t;

struct ckpt_job {
    async_ctl_t *ctl;
    te_async_checkpoint_t *ac;
    te_checkpoint_report_t r; /* filled in as far as known when it starts */
    int64_t start_ms;         /* the trigger / first barrier (monotonic) */
    ckpt_job_t *next;
};

struct te_subtask_ckpt {
    te_subtask_ckpt_config_t cfg;
    char *task_name, *dir, *job, *vertex;
    uint32_t kg_first, kg_last;
    async_ctl_t *ctl;
    /* unaligned: the snapshot waiting for its channel state */
    te_async_checkpoint_t *open;
    te_checkpoint_report_t open_r;
    int64_t open_start_ms;
    int open_oom;
    uint32_t n_input_channels;
    te_state_store_t *store; /* borrowed */
};

static void ctl_unref(async_ctl_t *ctl)
{
    if (ctl == NULL || atomic_fetch_sub(&ctl->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ctl->mu);
    pthread_cond_destroy(&ctl->cv);
    free(ctl->task_name);
    free(ctl);
}

te_subtask_ckpt_t *subtask_checkpoint_coordinator_new(const te_subtask_ckpt_config_t *cfg)
{
    te_subtask_ckpt_t *sc = calloc(1, sizeof(*sc));
    if (sc == NULL)
        return NULL;
    sc->cfg = *cfg;
    sc->task_name = strdup(cfg->task_name ? cfg->task_name : "task");
    const char *dir = cfg->dir && cfg->dir[0] ? cfg->dir : "checkpoints";
    if (dir[0] == '/') {
        sc->dir = strdup(dir);
    } else {
        char cwd[4096];
        if (getcwd(cwd, sizeof(cwd)) != NULL) {
            size_t n = strlen(cwd) + strlen(dir) + 2;
            sc->dir = malloc(n);
            if (sc->dir)
                snprintf(sc->dir, n, "%s/%s", cwd, dir);
        } else {
            sc->dir = strdup(dir);
        }
    }
    sc->job = strdup(cfg->job_id_hex ? cfg->job_id_hex : "job");
    sc->vertex = strdup(cfg->vertex_id_hex ? cfg->vertex_id_hex : "vertex");
    sc->ctl = calloc(1, sizeof(*sc->ctl));
    if (sc->ctl != NULL) {
        atomic_init(&sc->ctl->refs, 1);
        pthread_mutex_init(&sc->ctl->mu, NULL);
        pthread_cond_init(&sc->ctl->cv, NULL);
        sc->ctl->report = cfg->report;
        sc->ctl->report_arg = cfg->report_arg;
        sc->ctl->task_name = strdup(sc->task_name ? sc->task_name : "task");
    }
    if (sc->task_name == NULL || sc->dir == NULL || sc->job == NULL || sc->vertex == NULL || sc->ctl == NULL ||
        sc->ctl->task_name == NULL) {
        subtask_checkpoint_coordinator_free(sc);
        return NULL;
    }
    uint32_t maxp = cfg->max_parallelism ? cfg->max_parallelism : 128;
    key_group_range(cfg->subtask_index, maxp, cfg->parallelism ? cfg->parallelism : 1, &sc->kg_first,
                    &sc->kg_last);
    sc->cfg.task_name = sc->task_name;
    sc->cfg.dir = sc->dir;
    sc->cfg.max_parallelism = maxp;
    return sc;
}

void subtask_checkpoint_coordinator_free(te_subtask_ckpt_t *sc)
{
    if (sc == NULL)
        return;
    if (sc->ctl)
        subtask_checkpoint_cancel_all(sc);
    async_checkpoint_free(sc->open);
    ctl_unref(sc->ctl);
    free(sc->task_name);
    free(sc->dir);
    free(sc->job);
    free(sc->vertex);
    free(sc);
}

uint64_t subtask_checkpoint_last_id(const te_subtask_ckpt_t *sc)
{
    return sc && sc->ctl ? atomic_load(&sc->ctl->last_id) : 0;
}

void subtask_checkpoint_set_input_channels(te_subtask_ckpt_t *sc, uint32_t n) { sc->n_input_channels = n; }

void subtask_checkpoint_set_store(te_subtask_ckpt_t *sc, te_state_store_t *store) { sc->store = store; }

/* ---- reports ---- */

/* Under ctl->mu: hands r to the task layer unless the task is ending. */
static void report_locked(async_ctl_t *ctl, const te_checkpoint_report_t *r)
{
    if (ctl->cancelled)
        return;
    if (r->declined)
        TE_WARN(ctl->task_name, "declining checkpoint %llu: %s", (unsigned long long)r->checkpoint_id, r->cause);
    else
        atomic_store(&ctl->last_id, r->checkpoint_id);
    if (ctl->report)
        ctl->report(ctl->report_arg, r);
}

static void report_decline(te_subtask_ckpt_t *sc, uint64_t id, const char *cause)
{
    te_checkpoint_report_t r = {.checkpoint_id = id,
                                .declined = 1,
                                .cause = cause,
                                .subtask_index = sc->cfg.subtask_index,
                                .parallelism = sc->cfg.parallelism};
    pthread_mutex_lock(&sc->ctl->mu);
    report_locked(sc->ctl, &r);
    pthread_mutex_unlock(&sc->ctl->mu);
}

/* ---- the asynchronous part ---- */

static void job_unlink_locked(async_ctl_t *ctl, ckpt_job_t *job)
{
    for (ckpt_job_t **p = &ctl->jobs; *p; p = &(*p)->next)
        if (*p == job) {
            *p = job->next;
            break;
        }
    ctl->running--;
    pthread_cond_broadcast(&ctl->cv);
}

/* A snapshot thread (or the task thread without a pool): writes, reports, frees. */
static void job_run(void *arg)
{
    ckpt_job_t *job = arg;
    async_ctl_t *ctl = job->ctl;
    int64_t t0 = te_clock_mono_ms();
    te_error_t err = {0};
    uint64_t size = 0;
    te_status_t st = async_checkpoint_write(job->ac, &size, &err);
    int64_t now = te_clock_mono_ms();
    te_checkpoint_report_t *r = &job->r;
    r->async_duration_ms = (uint64_t)(now - t0);
    r->duration_ms = now > job->start_ms ? (uint64_t)(now - job->start_ms) : 0;
    r->size = size;
    r->path = async_checkpoint_path(job->ac);
    r->n_shared = async_checkpoint_n_shared(job->ac);
    r->shared_paths = async_checkpoint_shared_paths(job->ac);
    r->shared_sizes = async_checkpoint_shared_sizes(job->ac);
    if (st != TE_OK) {
        r->declined = 1;
        r->cause = err.msg;
        r->n_shared = 0;
        /* what an incremental checkpoint uploaded is nobody's: delete it */
        if (async_checkpoint_store(job->ac))
            state_store_checkpoint_abort(async_checkpoint_store(job->ac), r->checkpoint_id);
    }
    pthread_mutex_lock(&ctl->mu);
    int orphan = st == TE_OK && ctl->cancelled; /* written, but the task is gone: nobody acknowledges it */
    if (st != TE_ECANCELED)
        report_locked(ctl, r);
    if (st == TE_OK)
        TE_DEBUG(ctl->task_name, "checkpoint %llu: %llu bytes; synchronous part %llu us, asynchronous %llu ms",
                 (unsigned long long)r->checkpoint_id, (unsigned long long)size,
                 (unsigned long long)r->sync_duration_us, (unsigned long long)r->async_duration_ms);
    job_unlink_locked(ctl, job);
    pthread_mutex_unlock(&ctl->mu);
    if (orphan) {
        unlink(async_checkpoint_path(job->ac));
        if (async_checkpoint_store(job->ac))
            state_store_checkpoint_abort(async_checkpoint_store(job->ac), r->checkpoint_id);
    }
    async_checkpoint_free(job->ac); /* may free the state of a task that ended meanwhile */
    ctl_unref(ctl);
    free(job);
}

/* Starts the asynchronous part of ac (ownership passes). r: what the report knows so
 * far; start_ms: when the checkpoint started here (monotonic). */
static void submit(te_subtask_ckpt_t *sc, te_async_checkpoint_t *ac, const te_checkpoint_report_t *r,
                   int64_t start_ms)
{
    ckpt_job_t *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        async_checkpoint_free(ac);
        report_decline(sc, r->checkpoint_id, "out of memory starting the asynchronous part");
        return;
    }
    job->ac = ac;
    job->r = *r;
    job->start_ms = start_ms;
    job->ctl = sc->ctl;
    atomic_fetch_add(&sc->ctl->refs, 1);
    pthread_mutex_lock(&sc->ctl->mu);
    job->next = sc->ctl->jobs;
    sc->ctl->jobs = job;
    sc->ctl->running++;
    pthread_mutex_unlock(&sc->ctl->mu);
    if (sc->cfg.pool == NULL || snapshot_pool_submit(sc->cfg.pool, job_run, job) != TE_OK)
        job_run(job); /* inline: no pool (or it is shutting down) */
}

void subtask_checkpoint_wait_all(te_subtask_ckpt_t *sc)
{
    pthread_mutex_lock(&sc->ctl->mu);
    while (sc->ctl->running > 0)
        pthread_cond_wait(&sc->ctl->cv, &sc->ctl->mu);
    pthread_mutex_unlock(&sc->ctl->mu);
}

void subtask_checkpoint_cancel_all(te_subtask_ckpt_t *sc)
{
    pthread_mutex_lock(&sc->ctl->mu);
    sc->ctl->cancelled = 1;
    for (ckpt_job_t *j = sc->ctl->jobs; j; j = j->next)
        async_checkpoint_cancel(j->ac);
    pthread_mutex_unlock(&sc->ctl->mu);
}

unsigned subtask_checkpoint_running(te_subtask_ckpt_t *sc)
{
    pthread_mutex_lock(&sc->ctl->mu);
    unsigned n = sc->ctl->running;
    pthread_mutex_unlock(&sc->ctl->mu);
    return n;
}

/* ---- the synchronous part ---- */

typedef struct out_capture {
    te_async_checkpoint_t *ac;
    uint32_t writer, n_subs;
    int oom;
} out_capture_t;

/* Under a subpartition lock: copies the overtaken bytes (output channel state). */
static void capture_output(void *arg, uint32_t sub, const uint8_t *data, uint32_t len)
{
    out_capture_t *c = arg;
    char name[48];
    snprintf(name, sizeof(name), "subpartitions=%u", c->n_subs);
    if (!c->oom &&
        async_checkpoint_append(c->ac, TE_CKPT_SEC_OUTPUT_CHANNEL, c->writer, sub, name, data, len) != TE_OK)
        c->oom = 1;
}

static te_status_t broadcast(te_record_writer_t **writers, size_t n, te_event_type_t type, uint64_t id,
                             uint64_t ts, te_error_t *err)
{
    te_event_t ev = {.type = type, .checkpoint_id = id, .timestamp = ts};
    for (size_t w = 0; w < n; w++) {
        te_status_t rc = record_writer_broadcast_event(writers[w], &ev);
        if (rc != TE_OK)
            return te_error_set(err, rc, "emitting the %s of checkpoint %llu on output %zu failed: %s",
                                type == TE_EVENT_CHECKPOINT_BARRIER ? "barrier" : "cancel marker",
                                (unsigned long long)id, w, te_status_name(rc));
    }
    return TE_OK;
}

te_status_t subtask_checkpoint_perform(te_subtask_ckpt_t *sc, te_operator_chain_t *chain,
                                       te_record_writer_t **writers, size_t n_writers, uint64_t id, uint64_t ts,
                                       uint64_t alignment_ns, te_error_t *err)
{
    int64_t t0 = te_clock_mono_ns();
    int64_t start = t0 / 1000000 - (int64_t)(alignment_ns / 1000000);
    /* ts is the coordinator's wall-clock trigger time; the first barrier came alignment_ns ago */
    int64_t delay = ts > 0 ? te_clock_wall_ms() - (int64_t)(alignment_ns / 1000000) - (int64_t)ts : 0;
    char path[4608];
    snprintf(path, sizeof(path), "%s/%s/chk-%llu/%s-%u", sc->dir, sc->job, (unsigned long long)id, sc->vertex,
             sc->cfg.subtask_index);
    te_ckpt_file_info_t info = {
        id, sc->cfg.subtask_index, sc->cfg.parallelism, sc->cfg.max_parallelism, sc->kg_first, sc->kg_last};
    te_async_checkpoint_t *ac = async_checkpoint_new(path, &info, operator_chain_state_store(chain));
    te_error_t serr = {0};
    te_status_t rc =
        ac ? operator_chain_snapshot_state(chain, id, ac, &serr) : te_error_set(&serr, TE_ENOMEM, "out of memory");
    if (rc != TE_OK) {
        async_checkpoint_free(ac);
        report_decline(sc, id, serr.msg);
        return broadcast(writers, n_writers, TE_EVENT_CANCEL_CHECKPOINT_MARKER, id, ts, err);
    }
    te_checkpoint_report_t r = {
        .checkpoint_id = id,
        .subtask_index = sc->cfg.subtask_index,
        .parallelism = sc->cfg.parallelism,
        .kg_first = sc->kg_first,
        .kg_last = sc->kg_last,
        .alignment_ns = alignment_ns,
        .start_delay_ms = delay > 0 ? (uint64_t)delay : 0,
        .sync_duration_us = (uint64_t)((te_clock_mono_ns() - t0) / 1000),
    };
    /* The barrier follows every record the snapshot reflects. Unaligned: it overtakes
     * the queued output, which becomes the output channel state. */
    int oom = 0;
    if (sc->cfg.unaligned) {
        te_event_t ev = {.type = TE_EVENT_CHECKPOINT_BARRIER, .checkpoint_id = id, .timestamp = ts, .priority = 1};
        for (size_t w = 0; w < n_writers && rc == TE_OK; w++) {
            out_capture_t c = {ac, (uint32_t)w,
                               result_partition_num_subpartitions(record_writer_partition(writers[w])), 0};
            rc = record_writer_broadcast_priority_event(writers[w], &ev, capture_output, &c);
            if (rc != TE_OK)
                rc = te_error_set(err, rc, "emitting the barrier of checkpoint %llu on output %zu failed: %s",
                                  (unsigned long long)id, w, te_status_name(rc));
            oom |= c.oom;
        }
    } else {
        rc = broadcast(writers, n_writers, TE_EVENT_CHECKPOINT_BARRIER, id, ts, err);
    }
    if (rc != TE_OK) {
        async_checkpoint_free(ac);
        return rc;
    }
    if (oom) {
        async_checkpoint_free(ac);
        report_decline(sc, id, "out of memory recording output channel state");
        return TE_OK;
    }
    if (sc->cfg.unaligned && sc->n_input_channels > 0) {
        async_checkpoint_free(sc->open); /* an older open one was subsumed */
        sc->open = ac;
        sc->open_r = r;
        sc->open_start_ms = start;
        sc->open_oom = 0;
        return TE_OK;
    }
    r.inflight_bytes = async_checkpoint_bytes_of(ac, TE_CKPT_SEC_OUTPUT_CHANNEL);
    submit(sc, ac, &r, start);
    return TE_OK;
}

void subtask_checkpoint_add_channel_state(te_subtask_ckpt_t *sc, uint64_t id, uint32_t ch, const uint8_t *data,
                                          size_t len)
{
    if (sc->open == NULL || sc->open_r.checkpoint_id != id || len == 0 || sc->open_oom)
        return;
    char name[48];
    snprintf(name, sizeof(name), "channels=%u", sc->n_input_channels);
    if (async_checkpoint_append(sc->open, TE_CKPT_SEC_INPUT_CHANNEL, ch, 0, name, data, len) != TE_OK)
        sc->open_oom = 1; /* declined when complete */
}

void subtask_checkpoint_complete(te_subtask_ckpt_t *sc, uint64_t id)
{
    if (sc->open == NULL || sc->open_r.checkpoint_id != id)
        return;
    te_async_checkpoint_t *ac = sc->open;
    sc->open = NULL;
    if (sc->open_oom) {
        async_checkpoint_free(ac);
        report_decline(sc, id, "out of memory recording input channel state");
        return;
    }
    te_checkpoint_report_t r = sc->open_r;
    r.alignment_ns = 0;
    r.inflight_bytes = async_checkpoint_bytes_of(ac, TE_CKPT_SEC_INPUT_CHANNEL) +
                       async_checkpoint_bytes_of(ac, TE_CKPT_SEC_OUTPUT_CHANNEL);
    submit(sc, ac, &r, sc->open_start_ms);
}

void subtask_checkpoint_abort(te_subtask_ckpt_t *sc, te_record_writer_t **writers, size_t n_writers, uint64_t id,
                              const char *cause, int decline)
{
    if (sc->open != NULL && sc->open_r.checkpoint_id <= id) {
        async_checkpoint_free(sc->open);
        sc->open = NULL;
    }
    pthread_mutex_lock(&sc->ctl->mu);
    for (ckpt_job_t *j = sc->ctl->jobs; j; j = j->next)
        if (j->r.checkpoint_id == id)
            async_checkpoint_cancel(j->ac);
    pthread_mutex_unlock(&sc->ctl->mu);
    if (sc->store)
        state_store_checkpoint_abort(sc->store, id);
    (void)broadcast(writers, n_writers, TE_EVENT_CANCEL_CHECKPOINT_MARKER, id, 0, NULL);
    if (decline)
        report_decline(sc, id, cause ? cause : "aborted");
}

te_status_t subtask_checkpoint_notify_complete(te_subtask_ckpt_t *sc, te_operator_chain_t *chain, uint64_t id,
                                               te_error_t *err)
{
    if (sc->store)
        state_store_checkpoint_complete(sc->store, id); /* its files become the incremental base */
    return operator_chain_notify_checkpoint_complete(chain, id, err);
}

/* Moves the channel-state sections of r (INPUT/OUTPUT_CHANNEL) into *out. */
static te_status_t take_channel_state(te_ckpt_reader_t *r, te_ckpt_snapshot_t **out, uint32_t subtask_index,
                                      uint32_t parallelism, uint32_t max_parallelism, uint32_t kgf, uint32_t kgl,
                                      te_error_t *err)
{
    for (size_t i = 0; i < checkpoint_reader_count(r); i++) {
        const te_ckpt_section_info_t *s = checkpoint_reader_section(r, i);
        if (s->type != TE_CKPT_SEC_INPUT_CHANNEL && s->type != TE_CKPT_SEC_OUTPUT_CHANNEL)
            continue;
        if (*out == NULL)
            *out = snapshot_new(checkpoint_reader_info(r)->checkpoint_id, subtask_index, parallelism,
                                max_parallelism, kgf, kgl);
        if (*out == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory restoring channel state");
        uint8_t *data;
        te_status_t st = checkpoint_reader_load(r, s, &data, err);
        if (st != TE_OK)
            return st;
        if (snapshot_add(*out, s->type, s->index, s->sub, s->name, data, (size_t)s->len) != TE_OK)
            return te_error_set(err, TE_ENOMEM, "out of memory restoring channel state");
    }
    return TE_OK;
}

/* ---- restore ---- */

/* The ROCKSDB section of r as a manifest, with the chain position that takes each of
 * its states in *targets (operator_chain_state_owner: by uid, else by position; -1 =
 * dropped); *moved = some state does not go back where it was. NULL (and *st TE_OK)
 * when r has none. */
static te_rocksdb_manifest_t *load_manifest(te_operator_chain_t *chain, te_ckpt_reader_t *r, long **targets,
                                            int *moved, te_status_t *st, te_error_t *err)
{
    *st = TE_OK;
    *targets = NULL;
    *moved = 0;
    const te_ckpt_section_info_t *sec = checkpoint_reader_find_type(r, TE_CKPT_SEC_ROCKSDB);
    if (sec == NULL)
        return NULL;
    uint8_t *data;
    if ((*st = checkpoint_reader_load(r, sec, &data, err)) != TE_OK)
        return NULL;
    te_rocksdb_manifest_t *m =
        rocksdb_incremental_parse(data, (size_t)sec->len, sec->sub, checkpoint_reader_path(r), err);
    free(data);
    size_t n = m ? rocksdb_incremental_manifest_states(m) : 0;
    if (m != NULL && (*targets = calloc(n ? n : 1, sizeof(**targets))) == NULL)
        te_error_set(err, TE_ENOMEM, "out of memory restoring keyed state");
    for (size_t i = 0; *targets != NULL && i < n; i++) {
        const te_rocksdb_state_name_t *sn = rocksdb_incremental_manifest_state(m, i);
        long at = operator_chain_state_owner(chain, checkpoint_reader_info(r)->subtask_index, sn->name,
                                             sn->op_index, err);
        if (at == -2) {
            free(*targets);
            *targets = NULL;
            break;
        }
        (*targets)[i] = at;
        *moved |= at != (long)sn->op_index;
    }
    if (m == NULL || *targets == NULL) {
        *st = err ? err->code : TE_EPROTO;
        rocksdb_incremental_manifest_free(m);
        return NULL;
    }
    return m;
}

/* The chain's operators take the keyed state the store now holds for them. */
static te_status_t attach_states(te_operator_chain_t *chain, const te_rocksdb_manifest_t *m, const long *targets,
                                 te_error_t *err)
{
    for (size_t i = 0; i < rocksdb_incremental_manifest_states(m); i++)
        if (targets[i] >= 0 && operator_chain_keyed_state(chain, (size_t)targets[i]) == NULL)
            return operator_chain_failure(chain, err);
    return TE_OK;
}

/* Key groups of r's writer that are ours too. */
static uint32_t overlap(te_ckpt_reader_t *r, uint32_t kgf, uint32_t kgl)
{
    const te_ckpt_file_info_t *in = checkpoint_reader_info(r);
    uint32_t lo = in->kg_first > kgf ? in->kg_first : kgf, hi = in->kg_last < kgl ? in->kg_last : kgl;
    return lo <= hi ? hi - lo + 1 : 0;
}

/* A rocksdb store starts from the RocksDB checkpoint that covers most of our key
 * groups (Flink's restore with a base instance; groups not ours deleted); returns its
 * handle, -1 when none. */
static long restore_base(te_operator_chain_t *chain, te_ckpt_reader_t **rs, size_t n, uint32_t kgf, uint32_t kgl,
                         te_status_t *st, te_error_t *err)
{
    *st = TE_OK;
    te_state_store_t *store = operator_chain_state_store(chain);
    if (strcmp(state_store_backend_name(store), "rocksdb") != 0)
        return -1;
    long best = -1;
    uint32_t most = 0;
    for (size_t h = 0; h < n; h++)
        if (checkpoint_reader_find_type(rs[h], TE_CKPT_SEC_ROCKSDB) != NULL && overlap(rs[h], kgf, kgl) > most) {
            most = overlap(rs[h], kgf, kgl);
            best = (long)h;
        }
    if (best < 0)
        return -1;
    long *targets;
    int moved;
    te_rocksdb_manifest_t *m = load_manifest(chain, rs[best], &targets, &moved, st, err);
    if (m != NULL && moved) /* column families are named by position: import instead */
        best = -1;
    else if (m != NULL)
        *st = state_store_restore_rocksdb(store, m, kgf, kgl, err);
    if (m != NULL && best >= 0 && *st == TE_OK)
        *st = attach_states(chain, m, targets, err);
    rocksdb_incremental_manifest_free(m);
    free(targets);
    return *st == TE_OK ? best : -1;
}

/* One handle: its keyed state and timers of our key groups, its non-keyed state when
 * it is ours (or rescaled onto us), its channel state when it is ours; its RocksDB
 * checkpoint imported unless it is the base. */
static te_status_t restore_handle(te_operator_chain_t *chain, te_ckpt_reader_t *r, int is_base,
                                  uint32_t subtask_index, uint32_t parallelism, uint32_t max_parallelism,
                                  uint32_t kgf, uint32_t kgl, te_ckpt_snapshot_t **channel_state, te_error_t *err)
{
    const te_ckpt_file_info_t *in = checkpoint_reader_info(r);
    const char *path = checkpoint_reader_path(r);
    if (in->max_parallelism != max_parallelism)
        return te_error_set(err, TE_EINVAL, "snapshot '%s' was written with max_parallelism %u, the job has %u",
                            path, in->max_parallelism, max_parallelism);
    int own = in->subtask_index == subtask_index && in->parallelism == parallelism;
    /* rescaled: non-keyed state of old subtask j goes to new subtask j % parallelism
     * (the task layer admits only operators whose state allows it) */
    int nonkeyed = own                                                                                    ? 1
                   : (in->parallelism != parallelism && in->subtask_index % parallelism == subtask_index) ? 2
                                                                                                          : 0;
    te_status_t rc = TE_OK;
    /* only handles whose key groups overlap ours matter for keyed state */
    if (nonkeyed || overlap(r, kgf, kgl) > 0)
        rc = operator_chain_restore_state(chain, r, nonkeyed, kgf, kgl, err);
    if (rc == TE_OK && !is_base && overlap(r, kgf, kgl) > 0) {
        long *targets;
        int moved;
        te_rocksdb_manifest_t *m = load_manifest(chain, r, &targets, &moved, &rc, err);
        if (m != NULL)
            rc = state_store_import_rocksdb(operator_chain_state_store(chain), m, targets, kgf, kgl, err);
        if (m != NULL && rc == TE_OK)
            rc = attach_states(chain, m, targets, err);
        rocksdb_incremental_manifest_free(m);
        free(targets);
    }
    if (rc == TE_OK && in->parallelism != parallelism &&
        (checkpoint_reader_find_type(r, TE_CKPT_SEC_INPUT_CHANNEL) != NULL ||
         checkpoint_reader_find_type(r, TE_CKPT_SEC_OUTPUT_CHANNEL) != NULL))
        rc = te_error_set(err, TE_EINVAL,
                          "snapshot '%s' holds in-flight channel state (an unaligned checkpoint) of "
                          "parallelism %u; it can be restored only at the same parallelism, not %u",
                          path, in->parallelism, parallelism);
    if (rc == TE_OK && own && channel_state)
        rc = take_channel_state(r, channel_state, subtask_index, parallelism, max_parallelism, kgf, kgl, err);
    return rc;
}

te_status_t subtask_checkpoint_restore(te_operator_chain_t *chain, uint32_t subtask_index, uint32_t parallelism,
                                       uint32_t max_parallelism, const te_restore_handle_t *handles,
                                       size_t n_handles, te_ckpt_snapshot_t **channel_state, te_error_t *err)
{
    uint32_t kgf, kgl;
    if (max_parallelism == 0)
        max_parallelism = 128;
    key_group_range(subtask_index, max_parallelism, parallelism, &kgf, &kgl);
    if (channel_state)
        *channel_state = NULL;
    te_ckpt_reader_t **rs = calloc(n_handles ? n_handles : 1, sizeof(*rs));
    if (rs == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory restoring");
    te_status_t rc = TE_OK;
    for (size_t h = 0; h < n_handles && rc == TE_OK; h++) {
        const te_restore_handle_t *hd = &handles[h];
        if (hd->path == NULL || hd->path[0] == '\0')
            rc = te_error_set(err, TE_EINVAL, "restore handle %zu has no path", h);
        else if ((rs[h] = checkpoint_reader_open(hd->path, err)) == NULL)
            rc = err ? err->code : TE_EIO;
    }
    long base = rc == TE_OK ? restore_base(chain, rs, n_handles, kgf, kgl, &rc, err) : -1;
    for (size_t h = 0; h < n_handles && rc == TE_OK; h++)
        rc = restore_handle(chain, rs[h], (long)h == base, subtask_index, parallelism, max_parallelism, kgf, kgl,
                            channel_state, err);
    for (size_t h = 0; h < n_handles; h++)
        checkpoint_reader_close(rs[h]);
    free(rs);
    return rc;
}
