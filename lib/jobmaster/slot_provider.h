/*
 * slot_provider — where a JobMaster's slots come from (Flink's SlotPool / the
 * ResourceManager's side of it). For every deployment attempt the JobMaster asks for
 * one slot per shared slot of its plan, each with the allocation id it chose; the
 * provider answers each request by offering a slot on some TaskExecutor
 * (job_master_offer_slot: the gateway, the slot number it granted and that
 * TaskExecutor's data address) or gives up (job_master_slots_unavailable). When the
 * attempt is over and its slots are freed, the JobMaster releases the provider's
 * share (job_master_slots_released when done).
 *
 * Implementations: direct_slot_provider (tectl --executor: connect to these
 * executors, register the JobMaster, RequestSlot round robin), the fake of the unit
 * tests, and the cluster's ResourceManager (slots that TaskExecutors offer).
 *
 * Contract: request and release return at once; their outcomes are reported through
 * the job_master_* calls above, from the event loop or from inside request/release
 * (the JobMaster tolerates both). Before offering a slot the provider has made the
 * TaskExecutor ready for the job (connected, JobMaster registered), and forwards the
 * gateway's pushes and its loss to job_master_on_push / job_master_on_gateway_lost.
 *
 * Threading: the JobMaster's event-loop thread.
 */
#ifndef TE_SLOT_PROVIDER_H
#define TE_SLOT_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/ids.h"

typedef struct te_job_master te_job_master_t;

/* One slot the JobMaster needs. */
typedef struct te_slot_request {
    size_t index;          /* the plan's shared-slot index: echo it in the offer */
    te_id_t allocation_id; /* chosen by the JobMaster; the slot is allocated under it */
} te_slot_request_t;

typedef struct te_slot_provider_ops {
    /* Attempt `attempt` (0 = first deployment) needs these n slots (reqs borrowed). */
    void (*request)(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n);
    /* The attempt's slots were freed: undo what request set up (direct mode:
     * DisconnectJobManager and close the connections), then job_master_slots_released. */
    void (*release)(void *self, te_job_master_t *jm, const char *cause);
    /* High availability (optional, NULL = none): attempt `attempt` of a job a new leader
     * recovered still runs. Its slots (reqs: the allocation ids its tasks run in) and
     * the execution ids of all n_tasks tasks (borrowed) are looked for on the
     * TaskExecutors registering until deadline_ms (monotonic): once every task is
     * reported RUNNING (or FINISHED) the provider registers the JobMaster where they run
     * and offers every slot (job_master_offer_slot); their states reach the JobMaster as
     * pushes afterwards. A task missing, cancelled or failed reports
     * job_master_adopt_failed instead (the JobMaster then requests new slots). */
    void (*adopt)(void *self, te_job_master_t *jm, uint32_t attempt, const te_slot_request_t *reqs, size_t n,
                  const te_id_t *execution_ids, size_t n_tasks, int64_t deadline_ms);
} te_slot_provider_ops_t;

typedef struct te_slot_provider {
    const te_slot_provider_ops_t *ops;
    void *self;
} te_slot_provider_t;

#endif
