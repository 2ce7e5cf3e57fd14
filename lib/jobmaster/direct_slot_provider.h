/*
 * direct_slot_provider — slots from a fixed list of TaskExecutor RPC addresses (tectl
 * submit --executor A --executor B ...): for each attempt of its one JobMaster it
 * connects to the executors (rpc_task_manager_gateway), checks their slot reports
 * (a data address; enough free slots for its share), registers the JobMaster
 * (RegisterJobManager with the fencing token) and requests shared slot i on the i-th
 * connected executor modulo their number (RequestSlot, any free slot), then offers
 * the granted slots. Release sends DisconnectJobManager and closes the connections.
 *
 * Reachability: with first_attempt_needs_all, the first attempt needs every executor
 * (a failure to connect ends it as unreachable); otherwise an attempt retries the
 * unreachable ones for reconnect_ms (a restarted daemon comes back at the same
 * address) and deploys without those still missing.
 *
 * Threading: the JobMaster's event-loop thread; no locks.
 */
#ifndef TE_DIRECT_SLOT_PROVIDER_H
#define TE_DIRECT_SLOT_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "jobmaster/slot_provider.h"

struct event_base;
struct te_security;

typedef struct te_direct_slot_provider_config {
    struct event_base *base;
    const char *const *addresses; /* copied */
    size_t n_addresses;
    const struct te_security *sec; /* borrowed; NULL = plaintext */
    int connect_timeout_ms, call_timeout_ms;
    int64_t reconnect_ms; /* how long a restart retries unreachable executors */
    int first_attempt_needs_all;
} te_direct_slot_provider_config_t;

typedef struct te_direct_slot_provider te_direct_slot_provider_t;

te_direct_slot_provider_t *direct_slot_provider_new(const te_direct_slot_provider_config_t *cfg, te_error_t *err);
/* Closes whatever is still connected. NULL: no-op. */
void direct_slot_provider_free(te_direct_slot_provider_t *p);
/* The provider to put in te_job_master_config_t.slots. */
te_slot_provider_t direct_slot_provider_get(te_direct_slot_provider_t *p);

#endif
