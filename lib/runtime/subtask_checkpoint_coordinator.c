/*
 * subtask_checkpoint_coordinator — the task-side checkpoint flow (see
 * subtask_checkpoint_coordinator.h): snapshot the chain, broadcast the barrier, write
 * `<dir>/<job>/chk-<n>/<vertex>-<subtask>` (temp + fsync + rename), report.
 *
 * Threading: task thread only (or under the task's checkpoint lock); no locks of its
 * own. The report callback runs on the calling thread.
 */
#include "runtime/subtask_checkpoint_coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "runtime/operator_chain.h"
#include "shuffle/task_event.h"
#include "common/key_group.h"
#include "state/checkpoint_storage.h"

struct te_subtask_ckpt {
    te_subtask_ckpt_config_t cfg;
    char *task_name, *dir, *job, *vertex;
    uint32_t kg_first, kg_last;
    /* unaligned: the snapshot waiting for its channel state */
    te_ckpt_snapshot_t *open;
    uint64_t open_id;
    int64_t open_start_ms;
    uint64_t open_start_delay_ms;
    int open_oom;
    uint64_t last_id;
    uint32_t n_input_channels;
};

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
    if (sc->task_name == NULL || sc->dir == NULL || sc->job == NULL || sc->vertex == NULL) {
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
    snapshot_free(sc->open);
    free(sc->task_name);
    free(sc->dir);
    free(sc->job);
    free(sc->vertex);
    free(sc);
}

uint64_t subtask_checkpoint_last_id(const te_subtask_ckpt_t *sc) { return sc ? sc->last_id : 0; }

void subtask_checkpoint_set_input_channels(te_subtask_ckpt_t *sc, uint32_t n) { sc->n_input_channels = n; }

/* Appends bytes to the section (type, index, sub) of snap, creating it (named `name`).
 * -1 when out of memory. */
static int snap_append(te_ckpt_snapshot_t *snap, uint32_t type, uint32_t index, uint32_t sub, const char *name,
                       const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < snap->n_sections; i++) {
        te_ckpt_section_t *s = &snap->sections[i];
        if (s->type == type && s->index == index && s->sub == sub) {
            uint8_t *nd = realloc(s->data, s->len + len);
            if (nd == NULL)
                return -1;
            memcpy(nd + s->len, data, len);
            s->data = nd;
            s->len += len;
            return 0;
        }
    }
    uint8_t *d = malloc(len ? len : 1);
    if (d == NULL)
        return -1;
    memcpy(d, data, len);
    return snapshot_add(snap, type, index, sub, name, d, len) == TE_OK ? 0 : -1;
}

typedef struct out_capture {
    te_ckpt_snapshot_t *snap;
    uint32_t writer, n_subs;
    int oom;
} out_capture_t;

/* Under a subpartition lock: copies the overtaken bytes (output channel state). */
static void capture_output(void *arg, uint32_t sub, const uint8_t *data, uint32_t len)
{
    out_capture_t *c = arg;
    char name[48];
    snprintf(name, sizeof(name), "subpartitions=%u", c->n_subs);
    if (!c->oom && snap_append(c->snap, TE_CKPT_SEC_OUTPUT_CHANNEL, c->writer, sub, name, data, len) != 0)
        c->oom = 1;
}

static void report_decline(te_subtask_ckpt_t *sc, uint64_t id, const char *cause)
{
    TE_WARN(sc->task_name, "declining checkpoint %llu: %s", (unsigned long long)id, cause);
    te_checkpoint_report_t r = {.checkpoint_id = id,
                                .declined = 1,
                                .cause = cause,
                                .subtask_index = sc->cfg.subtask_index,
                                .parallelism = sc->cfg.parallelism};
    if (sc->cfg.report)
        sc->cfg.report(sc->cfg.report_arg, &r);
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

/* Writes snap and reports the ack (or a decline). */
static void write_and_ack(te_subtask_ckpt_t *sc, te_ckpt_snapshot_t *snap, uint64_t id, int64_t start_ms,
                          uint64_t alignment_ns, uint64_t start_delay_ms)
{
    char path[4608];
    snprintf(path, sizeof(path), "%s/%s/chk-%llu/%s-%u", sc->dir, sc->job, (unsigned long long)id, sc->vertex,
             sc->cfg.subtask_index);
    te_error_t err = {0};
    uint64_t size = 0;
    if (checkpoint_storage_write(path, snap, &size, &err) != TE_OK) {
        report_decline(sc, id, err.msg);
        return;
    }
    sc->last_id = id;
    uint64_t inflight = 0;
    for (size_t i = 0; i < snap->n_sections; i++)
        if (snap->sections[i].type == TE_CKPT_SEC_INPUT_CHANNEL ||
            snap->sections[i].type == TE_CKPT_SEC_OUTPUT_CHANNEL)
            inflight += snap->sections[i].len;
    int64_t now = te_clock_mono_ms();
    te_checkpoint_report_t r = {
        .checkpoint_id = id,
        .path = path,
        .size = size,
        .subtask_index = sc->cfg.subtask_index,
        .parallelism = sc->cfg.parallelism,
        .kg_first = sc->kg_first,
        .kg_last = sc->kg_last,
        .duration_ms = now > start_ms ? (uint64_t)(now - start_ms) : 0,
        .alignment_ns = alignment_ns,
        .inflight_bytes = inflight,
        .start_delay_ms = start_delay_ms,
    };
    TE_DEBUG(sc->task_name, "checkpoint %llu: %llu bytes in %llu ms", (unsigned long long)id,
             (unsigned long long)size, (unsigned long long)r.duration_ms);
    if (sc->cfg.report)
        sc->cfg.report(sc->cfg.report_arg, &r);
}

te_status_t subtask_checkpoint_perform(te_subtask_ckpt_t *sc, te_operator_chain_t *chain,
                                       te_record_writer_t **writers, size_t n_writers, uint64_t id, uint64_t ts,
                                       uint64_t alignment_ns, te_error_t *err)
{
    int64_t start = te_clock_mono_ms() - (int64_t)(alignment_ns / 1000000);
    /* ts is the coordinator's wall-clock trigger time; the first barrier came alignment_ns ago */
    int64_t delay = ts > 0 ? te_clock_wall_ms() - (int64_t)(alignment_ns / 1000000) - (int64_t)ts : 0;
    uint64_t start_delay_ms = delay > 0 ? (uint64_t)delay : 0;
    te_ckpt_snapshot_t *snap = snapshot_new(id, sc->cfg.subtask_index, sc->cfg.parallelism,
                                            sc->cfg.max_parallelism, sc->kg_first, sc->kg_last);
    te_error_t serr = {0};
    te_status_t rc = snap ? operator_chain_snapshot_state(chain, id, snap, &serr)
                          : te_error_set(&serr, TE_ENOMEM, "out of memory");
    if (rc != TE_OK) {
        snapshot_free(snap);
        report_decline(sc, id, serr.msg);
        return broadcast(writers, n_writers, TE_EVENT_CANCEL_CHECKPOINT_MARKER, id, ts, err);
    }
    /* The barrier follows every record the snapshot reflects. Unaligned: it overtakes
     * the queued output, which becomes the output channel state. */
    int oom = 0;
    if (sc->cfg.unaligned) {
        te_event_t ev = {.type = TE_EVENT_CHECKPOINT_BARRIER, .checkpoint_id = id, .timestamp = ts, .priority = 1};
        for (size_t w = 0; w < n_writers && rc == TE_OK; w++) {
            out_capture_t c = {snap, (uint32_t)w,
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
        snapshot_free(snap);
        return rc;
    }
    if (oom) {
        snapshot_free(snap);
        report_decline(sc, id, "out of memory recording output channel state");
        return TE_OK;
    }
    if (sc->cfg.unaligned && sc->n_input_channels > 0) {
        snapshot_free(sc->open); /* an older open one was subsumed */
        sc->open = snap;
        sc->open_id = id;
        sc->open_start_ms = start;
        sc->open_start_delay_ms = start_delay_ms;
        sc->open_oom = 0;
        return TE_OK;
    }
    write_and_ack(sc, snap, id, start, alignment_ns, start_delay_ms);
    snapshot_free(snap);
    return TE_OK;
}

void subtask_checkpoint_add_channel_state(te_subtask_ckpt_t *sc, uint64_t id, uint32_t ch, const uint8_t *data,
                                          size_t len)
{
    if (sc->open == NULL || sc->open_id != id || len == 0 || sc->open_oom)
        return;
    char name[48];
    snprintf(name, sizeof(name), "channels=%u", sc->n_input_channels);
    if (snap_append(sc->open, TE_CKPT_SEC_INPUT_CHANNEL, ch, 0, name, data, len) != 0)
        sc->open_oom = 1; /* declined when complete */
}

void subtask_checkpoint_complete(te_subtask_ckpt_t *sc, uint64_t id)
{
    if (sc->open == NULL || sc->open_id != id)
        return;
    te_ckpt_snapshot_t *snap = sc->open;
    sc->open = NULL;
    if (sc->open_oom)
        report_decline(sc, id, "out of memory recording input channel state");
    else
        write_and_ack(sc, snap, id, sc->open_start_ms, 0, sc->open_start_delay_ms);
    snapshot_free(snap);
}

void subtask_checkpoint_abort(te_subtask_ckpt_t *sc, te_record_writer_t **writers, size_t n_writers, uint64_t id,
                              const char *cause, int decline)
{
    if (sc->open != NULL && sc->open_id <= id) {
        snapshot_free(sc->open);
        sc->open = NULL;
    }
    (void)broadcast(writers, n_writers, TE_EVENT_CANCEL_CHECKPOINT_MARKER, id, 0, NULL);
    if (decline)
        report_decline(sc, id, cause ? cause : "aborted");
}

te_status_t subtask_checkpoint_notify_complete(te_subtask_ckpt_t *sc, te_operator_chain_t *chain, uint64_t id,
                                               te_error_t *err)
{
    (void)sc;
    return operator_chain_notify_checkpoint_complete(chain, id, err);
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
    for (size_t h = 0; h < n_handles; h++) {
        const te_restore_handle_t *hd = &handles[h];
        if (hd->path == NULL || hd->path[0] == '\0')
            return te_error_set(err, TE_EINVAL, "restore handle %zu has no path", h);
        te_ckpt_snapshot_t *snap = checkpoint_storage_read(hd->path, err);
        if (snap == NULL)
            return err ? err->code : TE_EIO;
        if (snap->max_parallelism != max_parallelism) {
            snapshot_free(snap);
            return te_error_set(err, TE_EINVAL,
                                "snapshot '%s' was written with max_parallelism %u, the job has %u", hd->path,
                                snap->max_parallelism, max_parallelism);
        }
        /* only handles whose key groups overlap ours matter for keyed state */
        int own = snap->subtask_index == subtask_index && snap->parallelism == parallelism;
        /* rescaled: non-keyed state of old subtask j goes to new subtask j % parallelism
         * (the task layer admits only operators whose state allows it) */
        int nonkeyed = own ? 1
                       : (snap->parallelism != parallelism && snap->subtask_index % parallelism == subtask_index)
                           ? 2
                           : 0;
        te_status_t rc = TE_OK;
        if (nonkeyed || !(snap->kg_last < kgf || snap->kg_first > kgl))
            rc = operator_chain_restore_state(chain, snap, nonkeyed, kgf, kgl, err);
        for (size_t i = 0; i < snap->n_sections && rc == TE_OK && !own; i++)
            if ((snap->sections[i].type == TE_CKPT_SEC_INPUT_CHANNEL ||
                 snap->sections[i].type == TE_CKPT_SEC_OUTPUT_CHANNEL) &&
                snap->parallelism != parallelism)
                rc = te_error_set(err, TE_EINVAL,
                                  "snapshot '%s' holds in-flight channel state (an unaligned checkpoint) of "
                                  "parallelism %u; it can be restored only at the same parallelism, not %u",
                                  hd->path, snap->parallelism, parallelism);
        if (rc == TE_OK && own && channel_state) {
            for (size_t i = 0; i < snap->n_sections && rc == TE_OK; i++) {
                te_ckpt_section_t *s = &snap->sections[i];
                if (s->type != TE_CKPT_SEC_INPUT_CHANNEL && s->type != TE_CKPT_SEC_OUTPUT_CHANNEL)
                    continue;
                if (*channel_state == NULL)
                    *channel_state =
                        snapshot_new(snap->checkpoint_id, subtask_index, parallelism, max_parallelism, kgf, kgl);
                if (*channel_state == NULL ||
                    snapshot_add(*channel_state, s->type, s->index, s->sub, s->name, s->data, s->len) != TE_OK)
                    rc = te_error_set(err, TE_ENOMEM, "out of memory restoring channel state");
                s->data = NULL; /* moved */
                s->len = 0;
            }
        }
        snapshot_free(snap);
        if (rc != TE_OK)
            return rc;
    }
    return TE_OK;
}
