/*
 * executor_ports — the limits of the daemon's listening ports, from the configuration,
 * fitted to the process's file-descriptor limit, and their housekeeping:
 *   - RPC: pre-authentication limits and input budget (taskmanager.rpc.handshake-timeout,
 *     max-pending-connections, max-pending-per-address, max-buffered-bytes) and
 *     taskmanager.rpc.max-connections;
 *   - data: taskmanager.data.max-connections and handshake-timeout;
 *   - status: taskmanager.status.max-connections, and the optional bearer token
 *     (taskmanager.status.token-file, open-paths; the file checked like a secret).
 * The three connection caps plus a reserve for everything else (tasks' files, sockets to
 * other daemons, the log) must fit in RLIMIT_NOFILE: the soft limit is raised towards
 * the hard one as needed, and when even that is too small the caps are scaled down
 * (with a WARN naming the keys), so a flood on one port cannot take the descriptors
 * the others need to accept.
 * Housekeeping: a 1 s timer writes the log's pending "repeated N times" summaries.
 *
 * Threading: the control thread (start and stop of the executor; the timer runs on its
 * event_base). No locks.
 */
#include <stdio.h>
#include <sys/resource.h>

#include "common/auth_handshake.h"
#include "common/log.h"
#include "common/tls.h"
#include "executor/task_executor_internal.h"

#define PORTS_CTX        "executor"
#define FD_RESERVE_MIN   32 /* descriptors kept for everything but the ports' connections */
#define FD_RESERVE_SHARE 4  /* ... or a quarter of the limit, whichever is larger */

typedef struct port_caps {
    int64_t rpc, data, status;
} port_caps_t;

/* Scales the caps down to `avail` descriptors in proportion (at least 4, 4 and 2). */
static void caps_fit(port_caps_t *c, int64_t avail)
{
    int64_t want = c->rpc + c->data + c->status;
    if (want <= avail)
        return;
    int64_t r = c->rpc * avail / want, d = c->data * avail / want, s = c->status * avail / want;
    c->rpc = r < 4 ? 4 : r;
    c->data = d < 4 ? 4 : d;
    c->status = s < 2 ? 2 : s;
}

/* The caps that fit RLIMIT_NOFILE (raising the soft limit when the hard one allows). */
static port_caps_t caps_for_fd_limit(const te_config_t *cfg)
{
    port_caps_t c = {config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_CONNECTIONS),
                     config_get_int(cfg, TE_KEY_TASKMANAGER_DATA_MAX_CONNECTIONS),
                     config_get_int(cfg, TE_KEY_TASKMANAGER_STATUS_MAX_CONNECTIONS)};
    int64_t want = c.rpc + c.data + c.status;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return c;
    int64_t need = want + (want / FD_RESERVE_SHARE > FD_RESERVE_MIN ? want / FD_RESERVE_SHARE : FD_RESERVE_MIN);
    if (rl.rlim_cur != RLIM_INFINITY && (int64_t)rl.rlim_cur < need) {
        struct rlimit up = rl;
        up.rlim_cur = rl.rlim_max == RLIM_INFINITY || (int64_t)rl.rlim_max > need ? (rlim_t)need : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return c;
    int64_t limit = (int64_t)rl.rlim_cur;
    int64_t reserve = limit / FD_RESERVE_SHARE > FD_RESERVE_MIN ? limit / FD_RESERVE_SHARE : FD_RESERVE_MIN;
    port_caps_t fit = c;
    caps_fit(&fit, limit - reserve);
    if (fit.rpc != c.rpc || fit.data != c.data || fit.status != c.status)
        TE_WARN(
            PORTS_CTX,
            "the file-descriptor limit (%lld) is below what the connection limits need (%lld RPC + %lld data + "
            "%lld status + %lld reserved): using %lld, %lld and %lld; raise it (ulimit -n, LimitNOFILE=) or "
            "lower taskmanager.rpc.max-connections, taskmanager.data.max-connections, "
            "taskmanager.status.max-connections",
            (long long)limit, (long long)c.rpc, (long long)c.data, (long long)c.status, (long long)reserve,
            (long long)fit.rpc, (long long)fit.data, (long long)fit.status);
    return fit;
}

static void ports_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    te_log_flush_repeats();
}

te_status_t executor_ports_apply_limits(te_task_executor_t *te, const te_config_t *cfg, te_error_t *err)
{
    port_caps_t caps = caps_for_fd_limit(cfg);
    if (te->rpc != NULL) {
        te_rpc_limits_t lim = {
            .handshake_timeout_ms = config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_HANDSHAKE_TIMEOUT),
            .max_pending = (size_t)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_PENDING_CONNECTIONS),
            .max_pending_per_addr = (size_t)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_PENDING_PER_ADDRESS),
            .max_buffered_bytes = (size_t)config_get_int(cfg, TE_KEY_TASKMANAGER_RPC_MAX_BUFFERED_BYTES),
        };
        rpc_server_set_limits(te->rpc, &lim);
        rpc_server_set_max_connections(te->rpc, (int)caps.rpc);
    }
    if (te->data_server != NULL)
        partition_server_set_limits(te->data_server, (int)caps.data,
                                    config_get_int(cfg, TE_KEY_TASKMANAGER_DATA_HANDSHAKE_TIMEOUT));
    if (te->status != NULL) {
        status_server_set_max_connections(te->status, (int)caps.status);
        const char *tf = config_get_str(cfg, TE_KEY_TASKMANAGER_STATUS_TOKEN_FILE);
        if (tf[0] != '\0') {
            if (security_check_secret_file("taskmanager.status.token-file", tf,
                                           config_get_bool(cfg, TE_KEY_SECURITY_ALLOW_INSECURE_PERMISSIONS),
                                           err) != TE_OK)
                return TE_EINVAL;
            te_auth_secret_t *tok = auth_secret_load(tf, "taskmanager.status.token-file", err);
            if (tok == NULL)
                return TE_EINVAL;
            status_server_set_token(te->status, tok->bytes, tok->len,
                                    config_get_str(cfg, TE_KEY_TASKMANAGER_STATUS_OPEN_PATHS));
            auth_secret_free(tok);
        }
    }
    struct timeval one_second = {1, 0};
    te->ports_tick = event_new(te->base, -1, EV_PERSIST, ports_tick, te);
    if (te->ports_tick == NULL || event_add(te->ports_tick, &one_second) != 0)
        return te_error_set(err, TE_ENOMEM, "cannot create the ports' timer");
    return TE_OK;
}

void executor_ports_stop(te_task_executor_t *te)
{
    if (te->ports_tick != NULL)
        event_free(te->ports_tick);
    te->ports_tick = NULL;
}
