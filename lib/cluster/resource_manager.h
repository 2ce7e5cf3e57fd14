/*
 * resource_manager — the JobManager's ResourceManager (Flink's ResourceManager and
 * the SlotPools of its JobMasters, reduced): TaskExecutors configured with
 * jobmanager.address register on jobmanager.rpc.port (RegisterTaskExecutor), heartbeat
 * with their slot report (TaskExecutorHeartbeat) and offer the slots it asked them to
 * allocate (OfferSlots). For each registered TaskExecutor the ResourceManager dials its
 * RPC address back and keeps one task_manager_gateway, shared by every JobMaster; the
 * pushes on it are routed to the job's JobMaster by job id, its loss to every JobMaster
 * that uses it.
 *
 * Slots for JobMasters: one slot provider serves them all. A JobMaster's request for n
 * slots is queued; each is placed on the registered TaskExecutor with the most free
 * slots: RegisterJobManager (fencing token, retain tasks on disconnect) and RequestSlot
 * with `offer`; the TaskExecutor allocates and offers the slot, and the offer goes to
 * the JobMaster (job_master_offer_slot). A request not served within
 * slot.request.timeout fails the attempt (job_master_slots_unavailable).
 *
 * A TaskExecutor is lost when its gateway connection breaks or no heartbeat came for
 * heartbeat.timeout; a registration connection that breaks alone only stops new
 * placements there until it registers again. Slots a registering TaskExecutor reports
 * allocated to allocations no JobMaster holds (left over from an earlier JobManager
 * process or attempt) are freed (FreeSlot), and their jobs get no slot anywhere until
 * those slots are FREE again: a recovered job never runs beside its old tasks.
 *
 * Every JobManager -> TaskExecutor call carries the epoch given in the configuration
 * or by resource_manager_lead (the RpcMessage's epoch; TaskExecutors refuse older
 * ones), and so does the registration's answer. A standby (high availability) answers
 * every TaskExecutor call NOT_LEADER.
 *
 * Threading: the JobManager's event-loop thread; no locks.
 */
#ifndef TE_RESOURCE_MANAGER_H
#define TE_RESOURCE_MANAGER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"
#include "jobmaster/slot_provider.h"

struct event_base;
struct te_security;

typedef struct te_resource_manager te_resource_manager_t;

typedef struct te_rm_config {
    struct event_base *base;
    const char *bind_host; /* jobmanager.bind-host */
    int port;              /* jobmanager.rpc.port */
    size_t max_frame_size;
    const struct te_security *sec; /* for both directions; must outlive the RM */
    int64_t heartbeat_interval_ms;
    int64_t heartbeat_timeout_ms;
    int64_t slot_request_timeout_ms;
    te_id_t job_manager_id; /* this process (answered to registrations) */
    uint64_t epoch;         /* carried by every call to a TaskExecutor (0 = none) */
    int standby;            /* high availability: TaskExecutors are refused (NOT_LEADER) until
                               resource_manager_lead */
    /* Whether a job id belongs to this JobManager (running, recovered or ended): only
     * its slots are freed as leftovers; others belong to a scheduler driving the
     * TaskExecutor directly. */
    int (*is_cluster_job)(void *arg, const te_id_t *job_id);
    void *cluster_job_arg;
} te_rm_config_t;

/* High availability: this JobManager leads now with `epoch` (the standby ends). */
void resource_manager_lead(te_resource_manager_t *rm, uint64_t epoch);

/* Binds the RPC port. NULL + err naming the address. */
te_resource_manager_t *resource_manager_new(const te_rm_config_t *cfg, te_error_t *err);
/* Closes every connection. NULL: no-op. JobMasters must be freed (or forgotten) first. */
void resource_manager_free(te_resource_manager_t *rm);
int resource_manager_port(const te_resource_manager_t *rm);
/* Sets cfg.is_cluster_job / cluster_job_arg. */
void resource_manager_set_job_filter(te_resource_manager_t *rm, int (*is_cluster_job)(void *, const te_id_t *),
                                     void *arg);
/* SIGHUP: heartbeat.interval (told to TaskExecutors registering from now on) and
 * heartbeat.timeout (applies at once). */
void resource_manager_set_heartbeat(te_resource_manager_t *rm, int64_t interval_ms, int64_t timeout_ms);

/* The provider every JobMaster is given. */
te_slot_provider_t resource_manager_slot_provider(te_resource_manager_t *rm);
/* The JobMaster is about to be freed: its requests and routes go (nothing more is
 * forwarded to it). */
void resource_manager_forget(te_resource_manager_t *rm, te_job_master_t *jm);

/* A job recovered by a new JobManager process gets no slot until every TaskExecutor
 * that ran its last attempt (their RPC addresses) has registered again (its leftover
 * tasks are then freed first), or until deadline_ms (monotonic; they have failed those
 * tasks by then: heartbeat.timeout). */
void resource_manager_hold(te_resource_manager_t *rm, const te_id_t *job_id, const char *const *rpc_addresses,
                           size_t n, int64_t deadline_ms);

/* Why the JobMaster's slot request waits (e.g. "3 of 4 slots: 1 free slot on 2
 * TaskExecutors"), into buf; NULL when it does not wait. */
const char *resource_manager_waiting_reason(const te_resource_manager_t *rm, const te_job_master_t *jm, char *buf,
                                            size_t cap);

/* The registered TaskExecutors for GET /v1/taskmanagers (NEW reference). */
json_t *resource_manager_taskmanagers_json(const te_resource_manager_t *rm);
/* Counts for /metrics and the dashboard. */
typedef struct te_rm_counts {
    size_t executors, slots_total, slots_free;
    uint64_t executors_lost, registrations;
} te_rm_counts_t;
void resource_manager_counts(const te_resource_manager_t *rm, te_rm_counts_t *c);

#endif
