/*
 * job_manager — assembles the JobManager (see job_manager.h) and serves what only the
 * whole knows: GET /v1/overview and the /metrics text (te_jobmanager_* families, then
 * process_*).
 *
 * Threading: the event-loop thread.
 */
#include "cluster/job_manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "cluster/dir_job_store.h"
#include "cluster/dispatcher.h"
#include "cluster/etcd_client.h"
#include "cluster/etcd_job_store.h"
#include "cluster/leader_election.h"
#include "cluster/resource_manager.h"
#include "cluster/rest_api.h"
#include "common/clock.h"
#include "common/file_io.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/tls.h"
#include "jobmaster/job_master.h"
#include "status/prom_text.h"

#define CTX "jobmanager"

struct te_job_manager {
    struct event_base *base;
    const te_config_t *cfg;
    te_id_t id;
    char id_hex[TE_ID_HEX_LEN + 1];
    int64_t started_ms;
    char *checkpoint_root;
    te_security_t *security;
    te_resource_manager_t *rm;
    te_dispatcher_t *dispatcher;
    te_rest_api_t *rest;
    char store_describe[4300];
    /* high availability (NULL / 0 without) */
    te_etcd_client_t *etcd;
    SSL_CTX *etcd_tls; /* high-availability.etcd.tls.* (NULL = http://) */
    te_leader_election_t *election;
    te_job_store_t *etcd_store; /* the Dispatcher's store (borrowed), for the election */
    char ha_prefix[512];
    char rpc_address[300], rest_address[300];
    int deposed;
    long recovered;
};

/* An absolute path for a directory given relative to the working directory. */
static char *absolute_dir(const char *dir)
{
    if (dir[0] == '/')
        return strdup(dir);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    size_t n = strlen(cwd) + strlen(dir) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", cwd, dir);
    return p;
}

/* ---- overview and metrics -------------------------------------------------------------- */

/* ---- high availability --------------------------------------------------------------------- */

/* The address others reach a port at: the bind host, or this host's name for a
 * wildcard bind. */
static void advertised(const char *bind_host, int port, char *out, size_t cap)
{
    char host[256];
    if (strcmp(bind_host, "0.0.0.0") == 0 || strcmp(bind_host, "::") == 0 || bind_host[0] == '\0') {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "127.0.0.1");
        host[sizeof(host) - 1] = '\0';
    } else {
        snprintf(host, sizeof(host), "%s", bind_host);
    }
    snprintf(out, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

static void on_granted(void *arg, int64_t epoch)
{
    te_job_manager_t *jm = arg;
    te_error_t err = {0};
    resource_manager_lead(jm->rm, (uint64_t)epoch);
    long n = dispatcher_recover(jm->dispatcher, &err);
    if (n < 0) {
        char why[TE_ERROR_MSG_MAX + 64];
        snprintf(why, sizeof(why), "cannot read the job store: %s", err.msg);
        leader_election_lost(jm->election, why);
        return;
    }
    jm->recovered = n;
    TE_INFO(CTX, "LEADER epoch=%lld jobs_recovered=%ld rest_address=%s rpc_address=%s", (long long)epoch, n,
            jm->rest_address, jm->rpc_address);
}

static void on_revoked(void *arg, const char *why)
{
    te_job_manager_t *jm = arg;
    TE_WARN(CTX, "deposed (%s): this JobManager stops its jobs' JobMasters and starts over as a standby", why);
    jm->deposed = 1;
    event_base_loopbreak(jm->base);
}

static te_status_t ha_start(te_job_manager_t *jm, te_error_t *err)
{
    json_t *value = json_pack("{s:s, s:s, s:s}", "rpc_address", jm->rpc_address, "rest_address", jm->rest_address,
                              "job_manager_id", jm->id_hex);
    char *text = value ? json_dumps(value, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(value);
    if (text == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    char key[600];
    snprintf(key, sizeof(key), "%sleader", jm->ha_prefix);
    static const te_leader_election_cbs_t cbs = {on_granted, on_revoked};
    jm->election = leader_election_new(
        jm->etcd, key, text, config_get_int(jm->cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_LEASE_TTL), &cbs, jm, err);
    free(text);
    if (jm->election == NULL)
        return err ? err->code : TE_ENOMEM;
    etcd_job_store_set_election(jm->etcd_store, jm->election);
    return TE_OK;
}

/* Who leads, for GET /v1/leader and the standby's redirects (NEW reference); *leading. */
static json_t *leader_view(void *arg, int *leading)
{
    te_job_manager_t *jm = arg;
    *leading = jm->election == NULL || leader_election_is_leader(jm->election);
    if (jm->election == NULL)
        return json_pack("{s:s, s:b, s:s, s:s}", "high_availability", "none", "leader", 1, "rest_address",
                         jm->rest_address, "rpc_address", jm->rpc_address);
    return json_pack("{s:s, s:b, s:s, s:I, s:s, s:s, s:s, s:o}", "high_availability", "etcd", "leader", *leading,
                     "state", leader_election_state_name(jm->election), "epoch",
                     (json_int_t)leader_election_epoch(jm->election), "rest_address", jm->rest_address,
                     "rpc_address", jm->rpc_address, "job_manager_id", jm->id_hex, "current",
                     leader_election_leader_json(jm->election));
}

/* ---- overview and metrics -------------------------------------------------------------- */

static json_t *overview(void *arg)
{
    te_job_manager_t *jm = arg;
    te_dispatcher_counts_t dc;
    te_rm_counts_t rc;
    dispatcher_counts(jm->dispatcher, &dc);
    resource_manager_counts(jm->rm, &rc);
    json_t *jobs = json_object();
    for (int s = 0; s < TE_JOB_N_STATES; s++)
        json_object_set_new(jobs, job_master_state_name((te_job_state_t)s),
                            json_integer((json_int_t)dc.jobs_by_state[s]));
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:i, s:s, s:s, s:o, s:i, s:i, s:i, s:I, s:I}", "version",
                     TE_VERSION, "job_manager_id", jm->id_hex, "started_ms", (json_int_t)jm->started_ms, "time_ms",
                     (json_int_t)te_clock_wall_ms(), "uptime_ms",
                     (json_int_t)(te_clock_wall_ms() - jm->started_ms), "rpc_port", job_manager_rpc_port(jm),
                     "rest_port", job_manager_rest_port(jm), "store", jm->store_describe, "checkpoint_dir",
                     jm->checkpoint_root, "jobs", jobs, "taskmanagers", (int)rc.executors, "slots_total",
                     (int)rc.slots_total, "slots_free", (int)rc.slots_free, "restarts", (json_int_t)dc.restarts,
                     "checkpoints_completed", (json_int_t)dc.checkpoints_completed);
}

static char *metrics_text(void *arg)
{
    te_job_manager_t *jm = arg;
    te_dispatcher_counts_t dc;
    te_rm_counts_t rc;
    dispatcher_counts(jm->dispatcher, &dc);
    resource_manager_counts(jm->rm, &rc);
    te_prom_t b = {0};
    prom_family(&b, "te_build_info", "gauge", "Build information of tejobmanager; the value is always 1.");
    prom_printf(&b, "te_build_info{version=\"%s\"} 1\n", TE_VERSION);
    prom_family(&b, "te_jobmanager_jobs", "gauge", "Jobs known to the JobManager by state (running and history).");
    for (int s = 0; s < TE_JOB_N_STATES; s++)
        prom_printf(&b, "te_jobmanager_jobs{state=\"%s\"} %zu\n", job_master_state_name((te_job_state_t)s),
                    dc.jobs_by_state[s]);
    prom_family(&b, "te_jobmanager_jobs_submitted_total", "counter", "Jobs accepted by POST /v1/jobs.");
    prom_printf(&b, "te_jobmanager_jobs_submitted_total %llu\n", (unsigned long long)dc.submitted);
    prom_family(&b, "te_jobmanager_job_restarts_total", "counter",
                "Restarts of the jobs known to the JobManager.");
    prom_printf(&b, "te_jobmanager_job_restarts_total %llu\n", (unsigned long long)dc.restarts);
    prom_family(&b, "te_jobmanager_jobs_adopted_total", "counter",
                "Recovered jobs whose running tasks this JobManager adopted (high availability) instead of "
                "restarting them.");
    prom_printf(&b, "te_jobmanager_jobs_adopted_total %llu\n", (unsigned long long)dc.adopted);
    prom_family(&b, "te_jobmanager_checkpoints_completed_total", "counter", "Completed checkpoints of all jobs.");
    prom_printf(&b, "te_jobmanager_checkpoints_completed_total %llu\n",
                (unsigned long long)dc.checkpoints_completed);
    prom_family(&b, "te_jobmanager_checkpoints_failed_total", "counter", "Aborted checkpoints of all jobs.");
    prom_printf(&b, "te_jobmanager_checkpoints_failed_total %llu\n", (unsigned long long)dc.checkpoints_failed);
    prom_family(&b, "te_jobmanager_checkpoint_duration_seconds", "summary",
                "Duration of completed checkpoints (trigger to the last acknowledgement).");
    prom_printf(&b, "te_jobmanager_checkpoint_duration_seconds_sum %.3f\n", dc.checkpoint_duration_seconds_sum);
    prom_printf(&b, "te_jobmanager_checkpoint_duration_seconds_count %llu\n",
                (unsigned long long)dc.checkpoints_completed);
    prom_family(&b, "te_jobmanager_taskexecutors", "gauge", "Registered TaskExecutors.");
    prom_printf(&b, "te_jobmanager_taskexecutors %zu\n", rc.executors);
    prom_family(&b, "te_jobmanager_taskexecutors_lost_total", "counter",
                "TaskExecutors lost (connection closed or heartbeat.timeout).");
    prom_printf(&b, "te_jobmanager_taskexecutors_lost_total %llu\n", (unsigned long long)rc.executors_lost);
    prom_family(&b, "te_jobmanager_slots", "gauge", "Slots of the registered TaskExecutors.");
    prom_printf(&b, "te_jobmanager_slots %zu\n", rc.slots_total);
    prom_family(&b, "te_jobmanager_slots_free", "gauge", "Free slots of the usable TaskExecutors.");
    prom_printf(&b, "te_jobmanager_slots_free %zu\n", rc.slots_free);
    prom_process(&b, jm->started_ms);
    char *text = prom_take(&b);
    if (text == NULL)
        TE_WARN(CTX, "cannot build the /metrics text: out of memory");
    return text;
}

/* ---- life cycle ---------------------------------------------------------------------------- */

/* The etcd client of high-availability.etcd.*: TLS context and password file checked and
 * read here (errors name the key). */
static te_etcd_client_t *etcd_connect(te_job_manager_t *jm, const te_config_t *cfg, te_error_t *err)
{
    const char *ca = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_TLS_CA_FILE);
    const char *cert = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_TLS_CERT_FILE);
    const char *key = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_TLS_KEY_FILE);
    const char *user = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_USERNAME);
    const char *pwfile = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_PASSWORD_FILE);
    int insecure_ok = config_get_bool(cfg, TE_KEY_SECURITY_ALLOW_INSECURE_PERMISSIONS);
    if (ca[0] == '\0' && (cert[0] != '\0' || key[0] != '\0')) {
        te_error_set(err, TE_EINVAL, "high-availability.etcd.tls.cert-file and key-file need "
                                     "high-availability.etcd.tls.ca-file (the CA of the etcd members)");
        return NULL;
    }
    if ((cert[0] == '\0') != (key[0] == '\0')) {
        te_error_set(err, TE_EINVAL, "high-availability.etcd.tls.cert-file and key-file go together");
        return NULL;
    }
    if ((user[0] == '\0') != (pwfile[0] == '\0')) {
        te_error_set(err, TE_EINVAL, "high-availability.etcd.username and password-file go together");
        return NULL;
    }
    if (key[0] != '\0' &&
        security_check_secret_file("high-availability.etcd.tls.key-file", key, insecure_ok, err) != TE_OK)
        return NULL;
    if (ca[0] != '\0' && (jm->etcd_tls = tls_client_ctx_new(ca, cert[0] ? cert : NULL, key[0] ? key : NULL, err)) ==
                              NULL) {
        te_error_prefix(err, "high-availability.etcd.tls");
        return NULL;
    }
    char *password = NULL;
    if (pwfile[0] != '\0') {
        size_t len = 0;
        if (security_check_secret_file("high-availability.etcd.password-file", pwfile, insecure_ok, err) != TE_OK ||
            (password = file_read_all(pwfile, &len, err)) == NULL) {
            te_error_prefix(err, "high-availability.etcd.password-file");
            return NULL;
        }
        password[strcspn(password, "\r\n")] = '\0'; /* its first line */
    }
    te_etcd_options_t opt = {
        .endpoints = config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_ENDPOINTS),
        .timeout_ms = config_get_int(cfg, TE_KEY_HIGH_AVAILABILITY_ETCD_REQUEST_TIMEOUT),
        .tls = jm->etcd_tls,
        .username = user,
        .password = password,
    };
    te_etcd_client_t *c = etcd_client_new(jm->base, &opt, err);
    if (password != NULL) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    if (c == NULL)
        te_error_prefix(err, "high-availability.etcd");
    return c;
}

te_job_manager_t *job_manager_new(struct event_base *base, const te_config_t *cfg, te_error_t *err)
{
    te_job_manager_t *jm = calloc(1, sizeof(*jm));
    te_job_store_t *store = NULL;
    if (jm == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    jm->base = base;
    jm->cfg = cfg;
    int ha = strcmp(config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_TYPE), "etcd") == 0;
    jm->started_ms = te_clock_wall_ms();
    te_id_random(&jm->id);
    te_id_to_hex(&jm->id, jm->id_hex);
    if ((jm->checkpoint_root = absolute_dir(config_get_str(cfg, TE_KEY_STATE_CHECKPOINTS_DIR))) == NULL) {
        te_error_set(err, TE_ENOMEM, "state.checkpoints.dir: cannot make it absolute");
        goto cleanup;
    }
    if ((jm->security = security_from_config(cfg, err)) == NULL)
        goto cleanup;
    te_rm_config_t rc = {
        .base = base,
        .bind_host = config_get_str(cfg, TE_KEY_JOBMANAGER_BIND_HOST),
        .port = (int)config_get_int(cfg, TE_KEY_JOBMANAGER_RPC_PORT),
        .max_frame_size = (size_t)config_get_int(cfg, TE_KEY_JOBMANAGER_RPC_MAX_FRAME_SIZE),
        .sec = jm->security,
        .heartbeat_interval_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_INTERVAL),
        .heartbeat_timeout_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_TIMEOUT),
        .slot_request_timeout_ms = config_get_int(cfg, TE_KEY_SLOT_REQUEST_TIMEOUT),
        .job_manager_id = jm->id,
        .epoch = 0,
        .standby = ha,
        .is_cluster_job = NULL, /* set once the Dispatcher exists */
    };
    if ((jm->rm = resource_manager_new(&rc, err)) == NULL)
        goto cleanup;
    if (ha) {
        snprintf(jm->ha_prefix, sizeof(jm->ha_prefix), "/taskexecutord/%s/",
                 config_get_str(cfg, TE_KEY_HIGH_AVAILABILITY_CLUSTER_ID));
        if ((jm->etcd = etcd_connect(jm, cfg, err)) == NULL)
            goto cleanup;
        if ((store = jm->etcd_store = etcd_job_store_new(jm->etcd, NULL, jm->ha_prefix, err)) == NULL)
            goto cleanup;
    } else {
        const char *store_dir = config_get_str(cfg, TE_KEY_JOBMANAGER_STORE_DIR);
        if ((store = dir_job_store_new(base, store_dir, err)) == NULL) {
            te_error_prefix(err, "jobmanager.store.dir");
            goto cleanup;
        }
    }
    snprintf(jm->store_describe, sizeof(jm->store_describe), "%s", job_store_describe(store));
    te_dispatcher_config_t dc = {
        .base = base,
        .store = store,
        .rm = jm->rm,
        .checkpoint_root = jm->checkpoint_root,
        .heartbeat_interval_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_INTERVAL),
        .heartbeat_timeout_ms = config_get_int(cfg, TE_KEY_HEARTBEAT_TIMEOUT),
        .adoption_timeout_ms = ha ? config_get_int(cfg, TE_KEY_HIGH_AVAILABILITY_ADOPTION_TIMEOUT) : 0,
        .checkpoint_timeout_ms = config_get_int(cfg, TE_KEY_JOBMANAGER_CHECKPOINT_TIMEOUT),
        .restart_attempts = (long)config_get_int(cfg, TE_KEY_JOBMANAGER_EXECUTION_RESTART_ATTEMPTS),
        .restart_backoff_ms = config_get_int(cfg, TE_KEY_JOBMANAGER_EXECUTION_RESTART_BACKOFF),
        .history = (size_t)config_get_int(cfg, TE_KEY_JOBMANAGER_JOB_HISTORY),
    };
    if ((jm->dispatcher = dispatcher_new(&dc, err)) == NULL)
        goto cleanup;
    store = NULL; /* the Dispatcher's now */
    resource_manager_set_job_filter(jm->rm, dispatcher_knows_job, jm->dispatcher);
    te_rest_config_t rest = {
        .base = base,
        .host = config_get_str(cfg, TE_KEY_JOBMANAGER_REST_BIND_HOST),
        .port = (int)config_get_int(cfg, TE_KEY_JOBMANAGER_REST_PORT),
        .max_body = (size_t)config_get_int(cfg, TE_KEY_JOBMANAGER_REST_MAX_BODY_SIZE),
        .dispatcher = jm->dispatcher,
        .rm = jm->rm,
        .provider = {jm, overview, metrics_text, leader_view},
    };
    if ((jm->rest = rest_api_new(&rest, err)) == NULL)
        goto cleanup;
    advertised(rc.bind_host, job_manager_rpc_port(jm), jm->rpc_address, sizeof(jm->rpc_address));
    advertised(rest.host, job_manager_rest_port(jm), jm->rest_address, sizeof(jm->rest_address));
    if (ha && ha_start(jm, err) != TE_OK)
        goto cleanup;
    return jm;
cleanup:
    job_store_free(store);
    job_manager_free(jm);
    return NULL;
}

long job_manager_recover(te_job_manager_t *jm, te_error_t *err)
{
    if (jm->election != NULL)
        return 0; /* recovered when leadership is granted */
    return dispatcher_recover(jm->dispatcher, err);
}

int job_manager_deposed(const te_job_manager_t *jm) { return jm->deposed; }

void job_manager_free(te_job_manager_t *jm)
{
    if (jm == NULL)
        return;
    if (jm->dispatcher != NULL)
        dispatcher_close(jm->dispatcher); /* requests still pending go with the REST API */
    rest_api_free(jm->rest);
    dispatcher_free(jm->dispatcher);    /* the etcd store with it */
    leader_election_free(jm->election); /* a leader resigns */
    etcd_client_free(jm->etcd);         /* drops the calls still in flight (nothing ran since) */
    if (jm->etcd_tls != NULL)
        SSL_CTX_free(jm->etcd_tls);
    resource_manager_free(jm->rm);
    security_free(jm->security);
    free(jm->checkpoint_root);
    free(jm);
}

int job_manager_rpc_port(const te_job_manager_t *jm) { return resource_manager_port(jm->rm); }
int job_manager_rest_port(const te_job_manager_t *jm) { return rest_api_port(jm->rest); }
const char *job_manager_id_hex(const te_job_manager_t *jm) { return jm->id_hex; }

void job_manager_reconfigure(te_job_manager_t *jm, const te_config_t *cfg)
{
    jm->cfg = cfg;
    resource_manager_set_heartbeat(jm->rm, config_get_int(cfg, TE_KEY_HEARTBEAT_INTERVAL),
                                   config_get_int(cfg, TE_KEY_HEARTBEAT_TIMEOUT));
    dispatcher_set_heartbeat(jm->dispatcher, config_get_int(cfg, TE_KEY_HEARTBEAT_INTERVAL));
}
