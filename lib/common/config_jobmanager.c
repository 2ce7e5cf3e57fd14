/*
 * config_jobmanager — the configuration keys of tejobmanager (the JobManager daemon:
 * Dispatcher, ResourceManager, REST API, job store), in the same table form as the
 * TaskExecutor's (config.c), plus the names of the TaskExecutor keys the JobManager
 * reads too. config_new_for(TE_CONFIG_JOBMANAGER) builds a configuration of both.
 *
 * Threading: immutable tables; any thread.
 */
#include "common/config.h"

#define KB           (INT64_C(1) << 10)
#define MB           (INT64_C(1) << 20)
#define GB           (INT64_C(1) << 30)
#define SEC          INT64_C(1000)
#define MAX_DURATION (INT64_C(365) * 24 * 3600 * SEC)

/* clang-format off */
static const te_config_key_t g_jm_keys[] = {
    {"jobmanager.bind-host", TE_CFG_STRING, "127.0.0.1", 0, 0, NULL, 0,
     "Local address the JobManager's RPC port binds to (0.0.0.0 = all interfaces)."},
    {"jobmanager.rpc.port", TE_CFG_PORT, "6123", 0, 65535, NULL, 0,
     "Port TaskExecutors register on (their jobmanager.address; 0 = ephemeral, shown in READY)."},
    {"jobmanager.rpc.max-frame-size", TE_CFG_SIZE, "10mb", KB, GB, NULL, 0,
     "Largest RPC frame accepted from a TaskExecutor."},
    {"jobmanager.rest.bind-host", TE_CFG_STRING, "127.0.0.1", 0, 0, NULL, 0,
     "Local address the REST API (and dashboard, /metrics) binds to."},
    {"jobmanager.rest.port", TE_CFG_PORT, "8081", 0, 65535, NULL, 0,
     "Port of the REST API, the dashboard and /metrics (0 = ephemeral, shown in READY)."},
    {"jobmanager.rest.max-body-size", TE_CFG_SIZE, "16mb", KB, GB, NULL, 0,
     "Largest request body accepted (a job graph); a larger one is answered 413."},
    {"jobmanager.store.dir", TE_CFG_STRING, "jobstore", 0, 0, NULL, 0,
     "Directory of the job store: every submitted job (graph and options) is written here before it is acknowledged, and unfinished jobs are recovered from it at start."},
    {"jobmanager.job.history", TE_CFG_INT, "100", 0, 100000, NULL, 0,
     "Finished, failed and cancelled jobs kept in the store and shown by the REST API (the oldest go first)."},
    {"jobmanager.execution.restart-attempts", TE_CFG_INT, "0", 0, 1000000, NULL, 0,
     "Restart attempts of a job that does not set restart_attempts (fixed delay)."},
    {"jobmanager.execution.restart-backoff", TE_CFG_DURATION, "1s", 0, MAX_DURATION, NULL, 0,
     "Delay before each restart of a job that does not set restart_backoff."},
    {"jobmanager.checkpoint.timeout", TE_CFG_DURATION, "10min", 1, MAX_DURATION, NULL, 0,
     "A checkpoint (or savepoint) not acknowledged by every task within this time is aborted."},
    {"slot.request.timeout", TE_CFG_DURATION, "5min", 1, MAX_DURATION, NULL, 0,
     "A job that cannot get every slot it needs within this time fails over (a restart attempt, or FAILED)."},
    {NULL, 0, NULL, 0, 0, NULL, 0, NULL},
};
/* clang-format on */

static const char *const g_shared[] = {
    "heartbeat.interval",
    "heartbeat.timeout",
    "log.level",
    "log.file",
    "security.auth.token-file",
    "security.ssl.enabled",
    "security.ssl.certificate",
    "security.ssl.key",
    "security.ssl.ca",
    "security.ssl.require-client-cert",
    "state.checkpoints.dir",
    NULL,
};

const te_config_key_t *config_jobmanager_keys(void) { return g_jm_keys; }
const char *const *config_jobmanager_shared_keys(void) { return g_shared; }
