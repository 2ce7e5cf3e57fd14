/*
 * resource_manager_connection — a TaskExecutor's registration with a JobManager's
 * ResourceManager (cluster mode, jobmanager.address; Flink's
 * TaskExecutorToResourceManagerConnection): dials the JobManager's RPC port, sends
 * RegisterTaskExecutor (resource id, RPC and data addresses, segment size, slot report),
 * heartbeats every heartbeat.interval with the slot report, offers the slots the
 * JobManager asked for (RequestSlot with offer) to their job's JobMaster with
 * OfferSlots, and after a failed attempt or a broken connection registers again with a
 * backoff (cluster.registration.initial-timeout doubling up to .max-timeout). Running
 * tasks are not touched by any of this.
 *
 * Threading: the executor's control thread (the one running its event_base).
 */
#ifndef TE_RESOURCE_MANAGER_CONNECTION_H
#define TE_RESOURCE_MANAGER_CONNECTION_H

#include <stdint.h>

#include "common/ids.h"
#include "common/te_status.h"

struct te_task_executor;
typedef struct te_rm_connection te_rm_connection_t;

/* Starts registering with `address` ("host:port", or several comma-separated: the
 * JobManagers of a high-availability setup, tried in turn until the leader accepts) at once. The executor's RPC server,
 * slot table and data port must exist. NULL + err (a bad address, out of memory). */
te_rm_connection_t *rm_connection_new(struct te_task_executor *te, const char *address, te_error_t *err);
/* Closes the connection. NULL: no-op. */
void rm_connection_free(te_rm_connection_t *rc);

/* Offers the allocated slot to the job's JobMaster; a rejected (or impossible) offer
 * frees the allocation through executor_offer_rejected. */
void rm_connection_offer_slot(te_rm_connection_t *rc, const te_id_t *job_id, const te_id_t *allocation_id,
                              int slot_index);

/* For the status endpoint: "registered", "registering", "connecting", "waiting"; the
 * address; the milliseconds (wall clock) of the last registration (0 = never). */
const char *rm_connection_state(const te_rm_connection_t *rc);
const char *rm_connection_address(const te_rm_connection_t *rc);
int64_t rm_connection_registered_at(const te_rm_connection_t *rc);
/* A call carried a newer JobManager epoch than the registration's: register again
 * (with the new leader). */
void rm_connection_epoch_seen(te_rm_connection_t *rc, uint64_t epoch);

#endif
