/*
 * task_executor_internal — the executor's state, shared by its concept files
 * (task_executor.c: services, records, jobs, control queue; executor_rpc.c: the RPC
 * calls and pushes; executor_status.c: status endpoint views; executor_ports.c: port
 * limits; executor_confine.c: the daemon's files jobs may not touch). Not for other
 * layers.
 *
 * Threading: every field is the control thread's, except `queue*` (mutex-guarded,
 * written by task threads).
 */
#ifndef TE_TASK_EXECUTOR_INTERNAL_H
#define TE_TASK_EXECUTOR_INTERNAL_H

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>

#include "common/ids.h"
#include "net/net_io_thread.h"
#include "net/partition_client.h"
#include "net/partition_server.h"
#include "rpc/rpc_server.h"
#include "runtime/subtask_checkpoint_coordinator.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/output_flusher.h"
#include "state/managed_memory.h"
#include "state/snapshot_pool.h"
#include "shuffle/partition_manager.h"
#include "slots/slot_table.h"
#include "status/status_server.h"
#include "task/task.h"
#include "executor/task_executor.h"

/* A registered JobManager (one per job). */
typedef struct te_job_manager {
    te_id_t job_id;
    te_id_t job_master_id;
    uint64_t conn_id;
    int64_t last_heartbeat_ms;
    int retain;     /* cluster mode: a closed connection leaves the tasks to heartbeat.timeout */
    uint64_t epoch; /* the JobManager epoch followed when it registered (a newer leader takes over) */
    char job_name[128];
    struct te_job_manager *next;
} te_job_manager_t;

/* Rates sampled once a second for the status endpoint. */
typedef struct te_task_rates {
    uint64_t last_in, last_out, last_bytes_in, last_bytes_out, last_bp_ns, last_idle_ns, last_busy_ns;
    int64_t last_sample_ms;
    double records_in_per_s, records_out_per_s, bytes_in_per_s, bytes_out_per_s;
    double bp_ms_per_s, idle_ms_per_s, busy_ms_per_s;
    uint64_t bp_hwm_ns; /* highest back-pressure total seen: keeps the counter monotonic */
} te_task_rates_t;

/* A deployed task, from submission until its slot is freed. */
typedef struct te_task_record {
    te_task_t *task;
    te_id_t exec_id, job_id, alloc_id;
    uint64_t conn_id; /* the submitting JobManager's connection (or the one that adopted
                         the job: RegisterJobManager of a newer leader): gets every state */
    uint32_t attempt_number, subtask_index;
    te_id_t vertex_id;
    uint64_t last_confirmed; /* the newest checkpoint a ConfirmCheckpoint named (0 = none) */
    int repush;              /* re-pointed to an adopting JobManager: its last state goes there again
                   with the job's next Heartbeat (a state pushed to the dead connection, or
                   before the new leader ran the job, is not lost) */
    te_exec_state_t last_pushed;
    int final_seen;            /* its final state was drained from the queue */
    int slot_freed;            /* its slot was freed: drop the record once final */
    int64_t cancel_started_ms; /* 0 = not cancelling */
    int64_t last_reinterrupt_ms;
    te_task_rates_t rates;
    struct te_task_record *next;
} te_task_record_t;

/* A state change reported by a task thread. */
typedef struct te_state_update {
    te_task_t *task;
    te_exec_state_t state;
    char *cause;
    /* a checkpoint report instead of a state (ckpt = 1 ack, 2 decline); `cause` is the
     * decline's cause, `path` the snapshot file */
    int ckpt;
    uint64_t ckpt_id, ckpt_size, ckpt_alignment_ns, ckpt_inflight, ckpt_start_delay_ms;
    uint32_t ckpt_subtask, ckpt_parallelism, ckpt_kg_first, ckpt_kg_last;
    char *path;
    Te__SharedStateFile **shared; /* incremental checkpoints: the shared files it refers to */
    size_t n_shared;
    struct te_state_update *next;
} te_state_update_t;

#define TE_HISTORY_MAX 128

struct te_task_executor {
    struct event_base *base;
    const te_config_t *cfg;
    te_fatal_fn fatal;
    void *fatal_arg;
    pthread_t control_thread;

    char resource_id[128];
    char data_address[300];
    int64_t started_ms;

    te_network_buffer_pool_t *buffers;
    te_partition_manager_t *partitions;
    te_output_flusher_t *flusher;
    te_snapshot_pool_t *snapshot_pool; /* asynchronous checkpoint parts (state.snapshot.threads) */
    te_managed_memory_t *managed;      /* taskmanager.memory.managed.size, a budget per slot */
    char state_dir[4096]; /* <taskmanager.state.local.dir>/te-<resource id>: this daemon's local state */
    /* data plane: taskmanager.network.io-threads I/O threads, the partition server on
     * taskmanager.data.port and the partition client of remote input channels */
    te_net_io_thread_t **net_io;
    int n_net_io;
    te_partition_server_t *data_server;
    te_partition_client_t *data_client;
    struct te_security *security; /* security.* (auth token, TLS contexts); freed last */
    te_slot_table_t *slots;
    te_rpc_server_t *rpc;
    te_status_server_t *status;
    struct te_rm_connection *rm; /* jobmanager.address: the registration with a JobManager */
    /* High availability: the highest JobManager epoch seen (a call's RpcMessage.epoch or
     * the registration's); calls of an older epoch are refused (STALE_EPOCH). */
    uint64_t epoch_seen;

    te_job_manager_t *jobs;
    te_task_record_t *tasks;
    json_t *history; /* array of snapshots of tasks whose records were dropped, newest last */

    /* live settings */
    int64_t heartbeat_timeout_ms;
    /* heartbeat.interval: how often this TaskExecutor heartbeats the ResourceManager it
     * registers with (cluster mode; read here, used by that registration). */
    int64_t heartbeat_interval_ms;
    int64_t slot_timeout_ms;
    int64_t cancel_interval_ms;
    int64_t cancel_timeout_ms;

    pthread_mutex_t queue_lock;
    te_state_update_t *queue_head, *queue_tail;
    struct event *queue_event;
    struct event *tick_event;
    struct event *ports_tick; /* executor_ports.c */

    const char *job_config_defaults[16]; /* key, value pairs + NULL: job-level keys' daemon defaults */
    const char *job_config_enforced[6];  /* key, value pairs + NULL: daemon keys a job cannot override */
    char protected_paths[8192];          /* io.protected-paths (executor_confine.c) */
    char config_file[4096];              /* the daemon's --config file, "" = none */
    int shutting_down;
    void (*shutdown_done)(void *arg);
    void *shutdown_arg;
};

te_task_record_t *executor_find_record(te_task_executor_t *te, const te_id_t *exec_id);
te_job_manager_t *executor_find_job(te_task_executor_t *te, const te_id_t *job_id);
/* Frees a slot: running tasks in it fail with `cause`; final ones are dropped. */
te_status_t executor_free_slot(te_task_executor_t *te, const te_id_t *alloc_id, const char *cause,
                               te_error_t *err);
/* Fails every task of the job and frees its slots; forgets the JobManager. `lost`: no
 * heartbeat (always a warning; otherwise only when tasks were still running). */
void executor_disconnect_job(te_task_executor_t *te, const te_id_t *job_id, const char *reason, int lost);
/* What a task deployed now gets: the shared services, the current settings and the
 * executor's state and checkpoint listeners. */
void executor_task_services(te_task_executor_t *te, te_task_services_t *svc);

/* executor_rpc.c: the RPC server's call callback (one handler per call kind), and the
 * pushes to the job's connection. */
void executor_on_call(void *arg, te_rpc_conn_t *conn, const Te__RpcMessage *call);
/* A JobManager epoch was seen (a call, a registration): remembered when newer. */
void executor_epoch_seen(te_task_executor_t *te, uint64_t epoch);
void executor_push_task_state(te_task_executor_t *te, te_task_record_t *r, te_exec_state_t s, const char *cause);
/* The shared files of an incremental checkpoint's update: copied from the task's
 * report (out of memory turns the update into a decline), freed with it. */
void executor_update_copy_shared(te_state_update_t *u, const te_checkpoint_report_t *rep);
void executor_update_free_shared(te_state_update_t *u);
void executor_push_checkpoint(te_task_executor_t *te, te_task_record_t *r, const te_state_update_t *u);

/* The slot report (RequestSlotReport, registration, heartbeats): heap storage that
 * borrows from te until executor_slot_report_free. NULL when out of memory. */
Te__SlotReport *executor_slot_report_new(te_task_executor_t *te);
void executor_slot_report_free(Te__SlotReport *rep);
/* The task records (running, or final with their slot still allocated), of one job
 * (job_id) or all (NULL), as RequestTaskReport answers them and RegisterTaskExecutor /
 * TaskExecutorHeartbeat carry them; borrows from te until executor_task_report_free.
 * NULL when out of memory. */
Te__TaskReport *executor_task_report_new(te_task_executor_t *te, const te_id_t *job_id);
void executor_task_report_free(Te__TaskReport *rep);
/* Whether a task of the job has not reached a final state. */
int executor_job_has_live_tasks(const te_task_executor_t *te, const te_id_t *job_id);
/* A slot offer was rejected (or could not be made): frees the allocation. */
void executor_offer_rejected(te_task_executor_t *te, const te_id_t *allocation_id, const char *cause);
json_t *executor_task_json(te_task_executor_t *te, te_task_record_t *r);
void executor_sample_rates(te_task_executor_t *te, te_task_record_t *r, int64_t now_ms);
/* The status endpoint's provider (executor_status.c). */
te_status_provider_t executor_status_provider(te_task_executor_t *te);
/* Builds te->protected_paths from cfg (executor_confine.c). */
void executor_confine_build(te_task_executor_t *te, const te_config_t *cfg);
/* Connection limits of the RPC, data and status ports, fitted to the file-descriptor
 * limit, and the ports' housekeeping timer (executor_ports.c). */
te_status_t executor_ports_apply_limits(te_task_executor_t *te, const te_config_t *cfg, te_error_t *err);
void executor_ports_stop(te_task_executor_t *te);

#endif
