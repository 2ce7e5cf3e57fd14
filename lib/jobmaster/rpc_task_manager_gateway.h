/*
 * rpc_task_manager_gateway — the task_manager_gateway over a real connection to a
 * taskexecutord's RPC port (lib/rpc/rpc_channel on the caller's event loop): each
 * operation is one call of proto/rpc.proto, pushes go to the listener, a broken
 * connection or a call without a reply within call_timeout_ms completes the
 * operation with `lost` and (connection) reports on_lost.
 *
 * Threading: the thread running `base` (see task_manager_gateway.h).
 */
#ifndef TE_RPC_TASK_MANAGER_GATEWAY_H
#define TE_RPC_TASK_MANAGER_GATEWAY_H

#include <stdint.h>

#include "common/te_status.h"
#include "jobmaster/task_manager_gateway.h"

struct event_base;
struct te_security;

/* Nothing is connected until tm_gateway_connect. `address` is copied; `sec` (NULL =
 * plaintext, no token) must outlive the gateway. NULL + err when out of memory. */
te_tm_gateway_t *rpc_tm_gateway_new(struct event_base *base, const char *address, const struct te_security *sec,
                                    int connect_timeout_ms, int call_timeout_ms, te_error_t *err);

/* Every later call carries this epoch (RpcMessage.epoch; 0 = none): the JobManager's
 * fencing value towards TaskExecutors (high availability). */
void rpc_tm_gateway_set_epoch(te_tm_gateway_t *gw, uint64_t epoch);
/* Calls as a cluster JobManager makes them: RegisterJobManager with
 * retain_tasks_on_disconnect (the tasks survive a broken connection until
 * heartbeat.timeout) and RequestSlot with offer (the TaskExecutor offers the slot back
 * through its ResourceManager connection). */
void rpc_tm_gateway_set_cluster_mode(te_tm_gateway_t *gw, int on);
/* Gives the connection up (a peer that stopped answering): it is closed, every
 * operation pending completes with `lost` (later, from the loop) and later ones fail at
 * once; the gateway stays readable (address) until freed. The listener is not told. */
void rpc_tm_gateway_abort(te_tm_gateway_t *gw, const char *cause);
/* Connected and not lost. */
int rpc_tm_gateway_is_open(const te_tm_gateway_t *gw);

#endif
