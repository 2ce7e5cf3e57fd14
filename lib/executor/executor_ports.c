/*
 * executor_ports — the limits of the daemon's listening ports, from the configuration:
 * the RPC server's pre-authentication limits and input budget
 * (taskmanager.rpc.handshake-timeout, max-pending-connections,
 * max-pending-per-address, max-buffered-bytes).
 *
 * Threading: the control thread, while the executor starts (the servers are not
 * serving yet). No locks.
 */
#include "executor/task_executor_internal.h"

void executor_ports_apply_limits(te_task_executor_t *te, const te_config_t *cfg)
{
    if (te->rpc != NULL) {
        te_rpc_limits_t lim = {
            .handshake_timeout_ms = config_get_int(cfg, "taskmanager.rpc.handshake-timeout"),
            .max_pending = (size_t)config_get_int(cfg, "taskmanager.rpc.max-pending-connections"),
            .max_pending_per_addr = (size_t)config_get_int(cfg, "taskmanager.rpc.max-pending-per-address"),
            .max_buffered_bytes = (size_t)config_get_int(cfg, "taskmanager.rpc.max-buffered-bytes"),
        };
        rpc_server_set_limits(te->rpc, &lim);
    }
}
