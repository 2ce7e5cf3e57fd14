/*
 * task_executor — the daemon's glue (Flink's TaskExecutor): its services (buffers,
 * partitions, flusher, network, slot table, RPC and status servers) started and
 * stopped, the JobManager table with its heartbeat timeout, the registry of deployed
 * tasks, the control queue that carries task state changes from task threads to the
 * job's connection, and the cancellation watchdog. The RPC calls are executor_rpc.c,
 * the status views executor_status.c.
 *
 * Threading: all functions run on the control thread, except on_task_state, which any
 * task thread calls: it only appends to the queue (queue_lock) and activates
 * queue_event. Lock order: queue_lock is a leaf (nothing is called while holding it).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dir_util.h"
#include "common/log.h"
#include "common/thread_sched.h"
#include "common/tls.h"
#include "operators/plugin_loader.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "executor/resource_manager_connection.h"
#include "executor/task_executor_internal.h"

#define CTX "executor"

/* ---------- lookups ---------- */

te_job_manager_t *executor_find_job(te_task_executor_t *te, const te_id_t *job_id)
{
    for (te_job_manager_t *j = te->jobs; j; j = j->next)
        if (te_id_equal(&j->job_id, job_id))
            return j;
    return NULL;
}

te_task_record_t *executor_find_record(te_task_executor_t *te, const te_id_t *exec_id)
{
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (te_id_equal(&r->exec_id, exec_id))
            return r;
    return NULL;
}

/* ---------- records and slots ---------- */

static void snapshot_to_history(te_task_executor_t *te, te_task_record_t *r)
{
    json_t *snap = executor_task_json(te, r);
    if (snap == NULL)
        return;
    json_array_append_new(te->history, snap);
    while (json_array_size(te->history) > TE_HISTORY_MAX)
        json_array_remove(te->history, 0);
}

/* Drops a final task's record: partitions unregistered, task freed, snapshot kept. */
static void drop_record(te_task_executor_t *te, te_task_record_t *r)
{
    te_task_record_t **pp = &te->tasks;
    while (*pp && *pp != r)
        pp = &(*pp)->next;
    if (*pp)
        *pp = r->next;
    snapshot_to_history(te, r);
    task_release_partitions(r->task, NULL);
    task_free(r->task);
    free(r);
}

static void maybe_shutdown_done(te_task_executor_t *te)
{
    if (!te->shutting_down || te->shutdown_done == NULL)
        return;
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (!r->final_seen)
            return;
    void (*done)(void *) = te->shutdown_done;
    te->shutdown_done = NULL;
    done(te->shutdown_arg);
}

/* Frees a slot: running tasks in it fail with `cause`; final ones are dropped. */
te_status_t executor_free_slot(te_task_executor_t *te, const te_id_t *alloc_id, const char *cause, te_error_t *err)
{
    int index = -1;
    te_status_t s = slot_table_free_slot(te->slots, alloc_id, &index, err);
    if (s != TE_OK)
        return s;
    TE_INFO(CTX, "freeing slot %d (allocation %s): %s", index, te_id_str(alloc_id), cause);
    te_task_record_t *r = te->tasks;
    while (r) {
        te_task_record_t *next = r->next;
        if (te_id_equal(&r->alloc_id, alloc_id)) {
            if (r->final_seen) {
                drop_record(te, r);
            } else {
                r->slot_freed = 1;
                if (r->cancel_started_ms == 0)
                    r->cancel_started_ms = te_clock_mono_ms();
                char why[512];
                snprintf(why, sizeof(why), "the slot was freed: %s", cause);
                task_fail_external(r->task, why);
            }
        }
        r = next;
    }
    return TE_OK;
}

void executor_offer_rejected(te_task_executor_t *te, const te_id_t *allocation_id, const char *cause)
{
    char why[600];
    snprintf(why, sizeof(why), "the slot offer was rejected: %s", cause);
    (void)executor_free_slot(te, allocation_id, why, NULL);
}

/* Whether a task of the job has not reached a final state. */
int executor_job_has_live_tasks(const te_task_executor_t *te, const te_id_t *job_id)
{
    for (const te_task_record_t *r = te->tasks; r; r = r->next)
        if (te_id_equal(&r->job_id, job_id) && !r->final_seen)
            return 1;
    return 0;
}

/* A warning when the disconnect loses work (tasks still running) or the JobManager was
 * lost (`lost`: no heartbeat); after a job that ended (tectl's "job finished") it is
 * routine: INFO. */
void executor_disconnect_job(te_task_executor_t *te, const te_id_t *job_id, const char *reason, int lost)
{
    te_job_manager_t **pp = &te->jobs;
    while (*pp && !te_id_equal(&(*pp)->job_id, job_id))
        pp = &(*pp)->next;
    if (*pp == NULL)
        return;
    te_job_manager_t *jm = *pp;
    te_log_level_t level = lost || executor_job_has_live_tasks(te, job_id) ? TE_LOG_WARN : TE_LOG_INFO;
    TE_LOG(level, CTX, "JobManager of job %s (%s) disconnected: %s", te_id_str(job_id), jm->job_name, reason);
    char cause[512];
    snprintf(cause, sizeof(cause), "the JobManager of job %s was lost: %s", te_id_str(job_id), reason);
    int idx[1024];
    int n = slot_table_slots_of_job(te->slots, job_id, idx, 1024);
    if (n > 1024)
        n = 1024;
    for (int i = 0; i < n; i++) {
        te_slot_info_t info;
        if (slot_table_get(te->slots, idx[i], &info) == 0)
            executor_free_slot(te, &info.allocation_id, cause, NULL);
    }
    /* Tasks of the job not in a slot any more (should not happen) fail too. */
    for (te_task_record_t *r = te->tasks; r; r = r->next)
        if (te_id_equal(&r->job_id, job_id) && !r->final_seen)
            task_fail_external(r->task, cause);
    *pp = jm->next;
    free(jm);
}

/* ---------- the control queue: task threads → control thread ---------- */

static void handle_update(te_task_executor_t *te, te_task_t *task, te_exec_state_t state, const char *cause)
{
    te_task_record_t *r = executor_find_record(te, task_execution_id(task));
    if (r == NULL)
        return;
    if (state == TE_STATE_CANCELING && r->cancel_started_ms == 0)
        r->cancel_started_ms = te_clock_mono_ms();
    if (task_state_is_final(state)) {
        r->final_seen = 1;
        task_join(task);
        slot_table_remove_task(te->slots, &r->exec_id, NULL);
        executor_sample_rates(te, r, te_clock_mono_ms());
        executor_push_task_state(te, r, state, cause);
        if (r->slot_freed)
            drop_record(te, r);
        maybe_shutdown_done(te);
        return;
    }
    executor_push_task_state(te, r, state, cause);
}

static void on_queue(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_task_executor_t *te = arg;
    pthread_mutex_lock(&te->queue_lock);
    te_state_update_t *u = te->queue_head;
    te->queue_head = te->queue_tail = NULL;
    pthread_mutex_unlock(&te->queue_lock);
    while (u) {
        te_state_update_t *next = u->next;
        if (u->ckpt) {
            te_task_record_t *r = executor_find_record(te, task_execution_id(u->task));
            if (r != NULL)
                executor_push_checkpoint(te, r, u);
        } else {
            handle_update(te, u->task, u->state, u->cause);
        }
        free(u->cause);
        free(u->path);
        executor_update_free_shared(u);
        free(u);
        u = next;
    }
}

/* Task listener: any thread. On the control thread (CANCELING from task_cancel) the
 * update is handled at once, so it cannot be overtaken by the final state. */
static void on_task_state(void *arg, te_task_t *task, te_exec_state_t state, const char *cause)
{
    te_task_executor_t *te = arg;
    if (pthread_equal(pthread_self(), te->control_thread) && !task_state_is_final(state)) {
        handle_update(te, task, state, cause);
        return;
    }
    te_state_update_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        TE_ERROR(CTX, "out of memory queueing a state update of %s", task_name(task));
        return;
    }
    u->task = task;
    u->state = state;
    u->cause = cause ? strdup(cause) : NULL;
    pthread_mutex_lock(&te->queue_lock);
    if (te->queue_tail)
        te->queue_tail->next = u;
    else
        te->queue_head = u;
    te->queue_tail = u;
    pthread_mutex_unlock(&te->queue_lock);
    event_active(te->queue_event, EV_READ, 0);
}

/* Checkpoint report listener: task threads. Queued like states, so an ack is pushed
 * before the task's final state. */
static void on_task_checkpoint(void *arg, te_task_t *task, const te_checkpoint_report_t *rep)
{
    te_task_executor_t *te = arg;
    te_state_update_t *u = calloc(1, sizeof(*u));
    if (u == NULL) {
        TE_ERROR(CTX, "out of memory queueing a checkpoint report of %s", task_name(task));
        return;
    }
    u->task = task;
    u->ckpt = rep->declined ? 2 : 1;
    u->ckpt_id = rep->checkpoint_id;
    u->ckpt_size = rep->size;
    u->ckpt_alignment_ns = rep->alignment_ns;
    u->ckpt_inflight = rep->inflight_bytes;
    u->ckpt_start_delay_ms = rep->start_delay_ms;
    u->ckpt_subtask = rep->subtask_index;
    u->ckpt_parallelism = rep->parallelism;
    u->ckpt_kg_first = rep->kg_first;
    u->ckpt_kg_last = rep->kg_last;
    u->cause = rep->cause ? strdup(rep->cause) : NULL;
    u->path = rep->path ? strdup(rep->path) : NULL;
    executor_update_copy_shared(u, rep);
    pthread_mutex_lock(&te->queue_lock);
    if (te->queue_tail)
        te->queue_tail->next = u;
    else
        te->queue_head = u;
    te->queue_tail = u;
    pthread_mutex_unlock(&te->queue_lock);
    event_active(te->queue_event, EV_READ, 0);
}
/* ---------- periodic: heartbeats, watchdog, rates ---------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    te_task_executor_t *te = arg;
    int64_t now = te_clock_mono_ms();
    te_job_manager_t *j = te->jobs;
    while (j) {
        te_job_manager_t *next = j->next;
        if (te->heartbeat_timeout_ms > 0 && now - j->last_heartbeat_ms > te->heartbeat_timeout_ms) {
            char why[128];
            snprintf(why, sizeof(why), "no heartbeat for %lld ms (heartbeat.timeout)",
                     (long long)te->heartbeat_timeout_ms);
            te_id_t id = j->job_id;
            executor_disconnect_job(te, &id, why, 1);
        }
        j = next;
    }
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        if (!r->final_seen)
            executor_sample_rates(te, r, now);
        if (r->final_seen || r->cancel_started_ms == 0)
            continue;
        int64_t waited = now - r->cancel_started_ms;
        if (te->cancel_timeout_ms > 0 && waited > te->cancel_timeout_ms) {
            char why[512];
            snprintf(why, sizeof(why), "task %s (%s) did not stop within task.cancellation.timeout (%lld ms)",
                     task_name(r->task), te_id_str(&r->exec_id), (long long)te->cancel_timeout_ms);
            TE_ERROR(CTX, "%s", why);
            if (te->fatal)
                te->fatal(te->fatal_arg, why);
            return;
        }
        if (te->cancel_interval_ms > 0 && now - r->last_reinterrupt_ms >= te->cancel_interval_ms &&
            waited >= te->cancel_interval_ms) {
            TE_WARN(CTX, "task %s is still cancelling after %lld ms; interrupting it again", task_name(r->task),
                    (long long)waited);
            r->last_reinterrupt_ms = now;
            task_reinterrupt(r->task);
        }
    }
}

/* ---------- slot and connection events ---------- */

static void slot_timeout(void *arg, const te_id_t *alloc_id)
{
    te_task_executor_t *te = arg;
    TE_WARN(CTX, "allocation %s was not activated within taskmanager.slot.timeout; freeing its slot",
            te_id_str(alloc_id));
    executor_free_slot(te, alloc_id, "the allocation timed out", NULL);
}

static void on_conn_closed(void *arg, uint64_t conn_id)
{
    te_task_executor_t *te = arg;
    te_job_manager_t *j = te->jobs;
    while (j) {
        te_job_manager_t *next = j->next;
        if (j->conn_id == conn_id && j->retain) {
            TE_WARN(CTX,
                    "the connection of the JobManager of job %s (%s) closed; its tasks keep running until a "
                    "JobManager registers the job again or heartbeat.timeout (%lld ms) passes",
                    te_id_str(&j->job_id), j->job_name, (long long)te->heartbeat_timeout_ms);
            j->conn_id = 0;
        } else if (j->conn_id == conn_id) {
            te_id_t id = j->job_id;
            executor_disconnect_job(te, &id, "its RPC connection closed", 0);
        }
        j = next;
    }
}

/* ---------- lifecycle ---------- */

static void apply_live(te_task_executor_t *te, const te_config_t *cfg)
{
    te->heartbeat_timeout_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_TIMEOUT);
    te->heartbeat_interval_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_INTERVAL);
    te->slot_timeout_ms = config_get_int(cfg, TE_KEY_TASKMANAGER_SLOT_TIMEOUT);
    te->cancel_interval_ms = config_get_int(cfg, TE_KEY_TASK_CANCELLATION_INTERVAL);
    te->cancel_timeout_ms = config_get_int(cfg, TE_KEY_TASK_CANCELLATION_TIMEOUT);
    if (te->rpc != NULL)
        rpc_server_set_idle_timeout(te->rpc, config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_IDLE_TIMEOUT));
    /* Job-level keys: what a job that does not set them gets (copied into each task). */
    static const te_config_key_id_t job_keys[] = {TE_KEY_PIPELINE_AUTO_WATERMARK_INTERVAL,
                                                  TE_KEY_EXECUTION_BUFFER_TIMEOUT,
                                                  TE_KEY_STATE_CHECKPOINTS_DIR,
                                                  TE_KEY_EXECUTION_CHECKPOINTING_UNALIGNED_ENABLED,
                                                  TE_KEY_STATE_BACKEND_TYPE,
                                                  TE_KEY_STATE_BACKEND_INCREMENTAL};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(job_keys) / sizeof(job_keys[0]); i++) {
        te->job_config_defaults[n++] = config_key_name(job_keys[i]);
        te->job_config_defaults[n++] = config_get_str(cfg, job_keys[i]);
    }
    te->job_config_defaults[n] = NULL;
    te->job_config_enforced[0] = config_key_name(TE_KEY_IO_ALLOWED_DIRS);
    te->job_config_enforced[1] = config_get_str(cfg, TE_KEY_IO_ALLOWED_DIRS);
    executor_confine_build(te, cfg);
    te->job_config_enforced[2] = "io.protected-paths";
    te->job_config_enforced[3] = te->protected_paths;
    te->job_config_enforced[4] = NULL;
}

void executor_task_services(te_task_executor_t *te, te_task_services_t *svc)
{
    const te_config_t *cfg = te->cfg;
    *svc = (te_task_services_t){
        .shuffle =
            {
                .buffers = te->buffers,
                .partitions = te->partitions,
                .transport = te->data_client ? partition_client_transport(te->data_client) : NULL,
                .buffers_per_channel =
                    (uint32_t)config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_MEMORY_BUFFERS_PER_CHANNEL),
                .floating_buffers_per_gate =
                    (uint32_t)config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_MEMORY_FLOATING_BUFFERS_PER_GATE),
                .request_backoff_initial_ms =
                    config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_REQUEST_BACKOFF_INITIAL),
                .request_backoff_max_ms = config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_REQUEST_BACKOFF_MAX),
                .debloat_target_ms =
                    config_get_bool(cfg, TE_KEY_TASKMANAGER_NETWORK_MEMORY_BUFFER_DEBLOAT_ENABLED)
                        ? config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_MEMORY_BUFFER_DEBLOAT_TARGET)
                        : 0,
            },
        .flusher = te->flusher,
        .default_buffer_timeout_ms = config_get_int(cfg, TE_KEY_EXECUTION_BUFFER_TIMEOUT),
        .sched_policy = te_sched_policy_parse(config_get_str(cfg, TE_KEY_TASKMANAGER_TASK_SCHEDULING_POLICY)),
        .busy_poll_ns = config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_BUSY_POLL) * 1000,
        .partition_request_timeout_ms = config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_PARTITION_REQUEST_TIMEOUT),
        .input_stall_threshold_ms = config_get_int(cfg, TE_KEY_TASKMANAGER_TASK_INPUT_STALL_THRESHOLD),
        .operators = task_executor_operator_resolver(config_get_str(cfg, TE_KEY_PLUGINS_DIR)),
        .job_config_defaults = te->job_config_defaults,
        .job_config_enforced = te->job_config_enforced,
        .on_state = on_task_state,
        .on_state_arg = te,
        .on_checkpoint = on_task_checkpoint,
        .on_checkpoint_arg = te,
        .state_local_dir = te->state_dir,
        .snapshot_pool = te->snapshot_pool,
    };
}

/* This daemon's local state directory (issue #16): <taskmanager.state.local.dir>/
 * te-<resource id>, so daemons sharing a working directory never touch each other's
 * RocksDB instances. What a killed earlier run on the same resource id left there is
 * deleted now (its tasks are gone), the rest at shutdown. */
static void executor_state_dir(te_task_executor_t *te, const te_config_t *cfg)
{
    char rid[160];
    snprintf(rid, sizeof(rid), "%s", te->resource_id);
    for (char *p = rid; *p; p++)
        if (*p == '/' || *p == ':' || *p == ' ')
            *p = '_';
    snprintf(te->state_dir, sizeof(te->state_dir), "%s/te-%s",
             config_get_str(cfg, TE_KEY_TASKMANAGER_STATE_LOCAL_DIR), rid);
    if (dir_remove_tree(te->state_dir) != 0)
        TE_WARN(CTX, "cannot delete the old local state in '%s': %s", te->state_dir, strerror(errno));
}

/* The data plane: I/O threads, partition server (taskmanager.data.port), client. */
static te_status_t executor_start_network(te_task_executor_t *te, const te_config_t *cfg, const char *bind,
                                          te_error_t *err)
{
    int n = (int)config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_IO_THREADS);
    te->net_io = calloc((size_t)n, sizeof(*te->net_io));
    if (te->net_io == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "net-io-%d", i);
        te->net_io[i] = net_io_thread_new(name, err);
        if (te->net_io[i] == NULL)
            return err ? err->code : TE_ENOMEM;
        net_io_thread_set_busy_poll(te->net_io[i],
                                    config_get_int(cfg, TE_KEY_TASKMANAGER_NETWORK_BUSY_POLL) * 1000);
        te->n_net_io = i + 1;
    }
    te->data_server = partition_server_new(
        te->net_io, n, bind, (int)config_get_int(cfg, TE_KEY_TASKMANAGER_DATA_PORT), te->partitions, err);
    if (te->data_server == NULL)
        return err ? err->code : TE_EIO;
    te->data_client = partition_client_new(te->net_io, n, network_buffer_pool_segment_size(te->buffers), err);
    if (te->data_client == NULL)
        return err ? err->code : TE_ENOMEM;
    partition_server_set_security(te->data_server, te->security);
    partition_client_set_security(te->data_client, te->security);
    for (int i = 0; i < n; i++)
        if (net_io_thread_start(te->net_io[i], err) != TE_OK)
            return err ? err->code : TE_EIO;
    return TE_OK;
}

/* After every task was freed: stop the threads, then free what lived on them. */
static void executor_stop_network(te_task_executor_t *te)
{
    for (int i = 0; i < te->n_net_io; i++)
        net_io_thread_stop(te->net_io[i]);
    partition_server_free(te->data_server);
    partition_client_free(te->data_client);
    te->data_server = NULL;
    te->data_client = NULL;
    for (int i = 0; i < te->n_net_io; i++)
        net_io_thread_free(te->net_io[i]);
    free(te->net_io);
    te->net_io = NULL;
    te->n_net_io = 0;
}

te_task_executor_t *task_executor_new(struct event_base *base, const te_config_t *cfg, te_fatal_fn fatal,
                                      void *fatal_arg, te_error_t *err)
{
    te_task_executor_t *te = calloc(1, sizeof(*te));
    if (te == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    te->base = base;
    te->cfg = cfg;
    te->fatal = fatal;
    te->fatal_arg = fatal_arg;
    te->control_thread = pthread_self();
    te->started_ms = te_clock_wall_ms();
    pthread_mutex_init(&te->queue_lock, NULL);
    te->history = json_array();
    apply_live(te, cfg);

    const char *bind = config_get_str(cfg, TE_KEY_TASKMANAGER_BIND_HOST);
    const char *host = config_get_str(cfg, TE_KEY_TASKMANAGER_HOST);

    te->security = security_from_config(cfg, err); /* before any listener opens */
    if (te->security == NULL)
        goto cleanup;
    te->buffers =
        network_buffer_pool_new((uint64_t)config_get_int(cfg, TE_KEY_TASKMANAGER_MEMORY_NETWORK_SIZE),
                                (uint32_t)config_get_int(cfg, TE_KEY_TASKMANAGER_MEMORY_SEGMENT_SIZE), err);
    if (te->buffers == NULL)
        goto cleanup;
    te->partitions = partition_manager_new();
    te->flusher = output_flusher_new(err);
    if (te->partitions == NULL || te->flusher == NULL || output_flusher_start(te->flusher, err) != TE_OK)
        goto cleanup;
    te->snapshot_pool = snapshot_pool_new((unsigned)config_get_int(cfg, TE_KEY_STATE_SNAPSHOT_THREADS), err);
    if (te->snapshot_pool == NULL)
        goto cleanup;
    te->managed = managed_memory_new((uint64_t)config_get_int(cfg, TE_KEY_TASKMANAGER_MEMORY_MANAGED_SIZE),
                                     (unsigned)config_get_int(cfg, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), err);
    if (te->managed == NULL)
        goto cleanup;
    TE_INFO(CTX, "managed memory for keyed state: %.1f MiB, %.1f MiB per slot",
            (double)managed_memory_total(te->managed) / (1 << 20),
            (double)managed_memory_limit(managed_memory_slot(te->managed, 0)) / (1 << 20));
    if (executor_start_network(te, cfg, bind, err) != TE_OK)
        goto cleanup;
    te->slots =
        slot_table_new(base, (int)config_get_int(cfg, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), slot_timeout, te);
    if (te->slots == NULL) {
        te_error_set(err, TE_ENOMEM, "cannot create the slot table");
        goto cleanup;
    }
    te->queue_event = event_new(base, -1, 0, on_queue, te);
    te->tick_event = event_new(base, -1, EV_PERSIST, on_tick, te);
    struct timeval one_second = {1, 0};
    if (te->queue_event == NULL || te->tick_event == NULL || event_add(te->tick_event, &one_second) != 0) {
        te_error_set(err, TE_ENOMEM, "cannot create control events");
        goto cleanup;
    }
    te->rpc = rpc_server_new(base, bind, (int)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_PORT),
                             (size_t)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_FRAME_SIZE),
                             (int)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_CONNECTIONS), executor_on_call,
                             on_conn_closed, te, err);
    if (te->rpc == NULL) {
        te_error_prefix(err, "taskmanager.rpc.port");
        goto cleanup;
    }
    rpc_server_set_security(te->rpc, te->security);
    rpc_server_set_idle_timeout(te->rpc, config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_IDLE_TIMEOUT));
    te_status_provider_t prov = executor_status_provider(te);
    const char *sbind = config_get_str(cfg, TE_KEY_TASKMANAGER_STATUS_BIND_HOST);
    te->status = status_server_new(base, sbind[0] ? sbind : bind,
                                   (int)config_get_int(cfg, TE_KEY_TASKMANAGER_STATUS_PORT), &prov, err);
    if (te->status == NULL) {
        te_error_prefix(err, "taskmanager.status.port");
        goto cleanup;
    }
    if (executor_ports_apply_limits(te, cfg, err) != TE_OK)
        goto cleanup;
    const char *rid = config_get_str(cfg, TE_KEY_TASKMANAGER_RESOURCE_ID);
    if (rid && rid[0])
        snprintf(te->resource_id, sizeof(te->resource_id), "%s", rid);
    else
        snprintf(te->resource_id, sizeof(te->resource_id), "%s:%d", host, rpc_server_port(te->rpc));
    snprintf(te->data_address, sizeof(te->data_address), "%s:%d", host, task_executor_data_port(te));
    executor_state_dir(te, cfg);
    const char *jm_address = config_get_str(cfg, TE_KEY_JOBMANAGER_ADDRESS);
    if (jm_address[0] != '\0' && (te->rm = rm_connection_new(te, jm_address, err)) == NULL) {
        te_error_prefix(err, "jobmanager.address");
        goto cleanup;
    }
    return te;
cleanup:
    task_executor_free(te);
    return NULL;
}

void task_executor_free(te_task_executor_t *te)
{
    if (te == NULL)
        return;
    rm_connection_free(te->rm);
    rpc_server_free(te->rpc);
    status_server_free(te->status);
    /* Every task must be final by now (shutdown waited); free them. */
    while (te->tasks) {
        te_task_record_t *r = te->tasks;
        if (!task_state_is_final(task_state(r->task)))
            task_fail_external(r->task, "the TaskExecutor is shutting down");
        task_join(r->task);
        te->tasks = r->next;
        task_release_partitions(r->task, NULL);
        task_free(r->task);
        free(r);
    }
    /* Asynchronous checkpoint parts and state frees still running (no task is left
     * to report to). */
    snapshot_pool_free(te->snapshot_pool);
    managed_memory_free(te->managed); /* no state draws from it any more */
    if (te->state_dir[0])
        (void)dir_remove_tree(te->state_dir); /* every task's state is freed by now */
    /* Updates queued by tasks that are gone now. */
    te_state_update_t *u = te->queue_head;
    while (u) {
        te_state_update_t *next = u->next;
        free(u->cause);
        free(u->path);
        executor_update_free_shared(u);
        free(u);
        u = next;
    }
    while (te->jobs) {
        te_job_manager_t *j = te->jobs;
        te->jobs = j->next;
        free(j);
    }
    if (te->queue_event)
        event_free(te->queue_event);
    if (te->tick_event)
        event_free(te->tick_event);
    executor_ports_stop(te);
    slot_table_free(te->slots);
    if (te->flusher) {
        output_flusher_stop(te->flusher);
        output_flusher_free(te->flusher);
    }
    executor_stop_network(te);
    partition_manager_free(te->partitions);
    network_buffer_pool_free(te->buffers);
    json_decref(te->history);
    security_free(te->security); /* every connection using it is closed by now */
    pthread_mutex_destroy(&te->queue_lock);
    free(te);
    plugin_loader_unload_all(); /* no task is left to use a plugin's code */
}

int task_executor_rpc_port(const te_task_executor_t *te) { return rpc_server_port(te->rpc); }
int task_executor_data_port(const te_task_executor_t *te)
{
    return te->data_server ? partition_server_port(te->data_server) : 0;
}
int task_executor_status_port(const te_task_executor_t *te) { return status_server_port(te->status); }
const char *task_executor_resource_id(const te_task_executor_t *te) { return te->resource_id; }

void task_executor_shutdown(te_task_executor_t *te, void (*done)(void *arg), void *arg)
{
    te->shutting_down = 1;
    te->shutdown_done = done;
    te->shutdown_arg = arg;
    int n = 0;
    for (te_task_record_t *r = te->tasks; r; r = r->next) {
        if (!r->final_seen) {
            n++;
            if (r->cancel_started_ms == 0)
                r->cancel_started_ms = te_clock_mono_ms();
            task_cancel(r->task, "the TaskExecutor is shutting down");
        }
    }
    TE_INFO(CTX, "shutting down: cancelling %d running task(s)", n);
    maybe_shutdown_done(te);
}

void task_executor_reconfigure(te_task_executor_t *te, const te_config_t *cfg)
{
    te->cfg = cfg;
    apply_live(te, cfg);
}
