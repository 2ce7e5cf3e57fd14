/*
 * tejobmanager — the JobManager daemon (lib/cluster/job_manager: Dispatcher,
 * ResourceManager, one JobMaster per job, REST API, job store): parses flags and the
 * configuration (the JobManager's key set), starts the services, recovers the
 * unfinished jobs of the store, logs one READY line with its ports (and tells systemd
 * READY=1), and runs until SIGTERM/SIGINT. Stopping leaves every job in the store:
 * the next start recovers them (their tasks keep running on the TaskExecutors until
 * heartbeat.timeout). SIGHUP re-reads the configuration (live keys applied, the others
 * named) and reopens log.file.
 *
 * Threading: main() is the control thread running the one event_base; signals are
 * libevent signal events on it. The job store's worker thread writes files only.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/job_manager.h"
#include "common/log.h"
#include "daemon_cli.h"

#define CTX "daemon"

static void usage(FILE *out)
{
    fprintf(out, "Usage: tejobmanager [--config FILE] [-D key=value]... [options]\n"
                 "\n"
                 "The JobManager of a taskexecutord cluster: TaskExecutors register with it\n"
                 "(their jobmanager.address), jobs are submitted to its REST API (tectl submit\n"
                 "--jobmanager), each job runs under a JobMaster (placement, deployment,\n"
                 "checkpoints, restarts) and survives the client that submitted it.\n"
                 "\n"
                 "Options:\n"
                 "  -c, --config FILE      read configuration from FILE (YAML, flat Flink keys)\n"
                 "  -D key=value           override one configuration key (repeatable)\n"
                 "      --print-defaults   print every configuration key with its default and exit\n"
                 "  -h, --help             show this help and exit\n"
                 "  -V, --version          show the version and exit\n"
                 "\n"
                 "Once listening, the daemon logs one line:\n"
                 "  READY rpc_port=N rest_port=N jobs_recovered=N job_manager_id=ID pid=N\n"
                 "rpc_port takes TaskExecutor registrations (jobmanager.rpc.port, 6123), rest_port\n"
                 "serves the REST API, the dashboard and /metrics (jobmanager.rest.port, 8081).\n"
                 "Port 0 in the configuration picks a free port (shown in READY).\n"
                 "\n"
                 "Jobs are written to jobmanager.store.dir before they are acknowledged; a restart\n"
                 "recovers every unfinished job from its latest completed checkpoint.\n"
                 "\n"
                 "High availability (high-availability.type: etcd): several tejobmanagers with the\n"
                 "same high-availability.cluster-id elect a leader in etcd, which keeps the jobs\n"
                 "there; it logs \"LEADER epoch=N\" when it takes over. A standby answers REST\n"
                 "with 307 to the leader and refuses TaskExecutors (list every JobManager in their\n"
                 "jobmanager.address); a deposed leader starts over as a standby (READY again).\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT stop serving and exit 0; jobs stay in the store (their\n"
                 "         tasks keep running until heartbeat.timeout or the next start).\n"
                 "         SIGHUP re-reads the config file (-D overrides stay on top), applies the\n"
                 "         live keys, logs the keys that need a restart, reopens log.file.\n"
                 "\n"
                 "Example:\n"
                 "  tejobmanager --config conf/jobmanager.yaml\n"
                 "  taskexecutord -D jobmanager.address=127.0.0.1:6123\n"
                 "  tectl submit conf/jobs/wordcount.json --jobmanager 127.0.0.1:8081\n");
}

typedef struct jm_daemon {
    te_daemon_args_t args;
    struct event_base *base;
    te_config_t *cfg;
    te_job_manager_t *jm;
    int exit_code;
} jm_daemon_t;

static void notify_ready(jm_daemon_t *d, const char *status)
{
    daemon_notify("READY=1", "READY=1\nSTATUS=%s: rpc port %d, REST port %d\nMAINPID=%d", status,
                  job_manager_rpc_port(d->jm), job_manager_rest_port(d->jm), (int)getpid());
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    jm_daemon_t *d = arg;
    (void)what;
    if (sig == SIGHUP) {
        int restart = 0;
        te_config_t *next = daemon_config_reload(&d->args, d->cfg, &restart);
        if (next == NULL) {
            notify_ready(d, "ready (the last reload failed; see the log)");
            return;
        }
        job_manager_reconfigure(d->jm, next);
        config_free(d->cfg);
        d->cfg = next;
        notify_ready(d,
                     restart ? "ready (reloaded; some changes need a restart, see the log)" : "ready (reloaded)");
        return;
    }
    TE_INFO(CTX, "%s: stopping (jobs stay in the job store)", strsignal((int)sig));
    daemon_notify("STOPPING=1", "STOPPING=1\nSTATUS=stopping");
    event_base_loopbreak(d->base);
}

int main(int argc, char **argv)
{
    jm_daemon_t d = {.args = {.prog = "tejobmanager", .set = TE_CONFIG_JOBMANAGER, .usage = usage}};
    struct event *sigs[3] = {NULL, NULL, NULL};
    te_error_t err = {0};
    te_log_detect_journal();
    int rc = daemon_args_parse(&d.args, argc, argv);
    if (rc >= 0)
        goto cleanup;
    rc = 1;
    if ((d.cfg = daemon_config_build(&d.args, &err)) == NULL) {
        fprintf(stderr, "tejobmanager: %s\n", err.msg);
        goto cleanup;
    }
    if (daemon_logging_start(&d.args, d.cfg) != 0)
        goto cleanup;
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0 || (d.base = event_base_new()) == NULL) {
        TE_ERROR(CTX, "cannot create the event loop");
        goto cleanup;
    }
    TE_INFO(CTX, "tejobmanager %s starting (pid %d, config %s)", TE_VERSION, (int)getpid(),
            d.args.config_path ? d.args.config_path : "(defaults)");
    static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++)
        if ((sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d)) == NULL ||
            evsignal_add(sigs[i], NULL) != 0) {
            TE_ERROR(CTX, "cannot install the signal handlers");
            goto cleanup;
        }
    for (;;) { /* once, or again each time high availability deposes this JobManager */
        if ((d.jm = job_manager_new(d.base, d.cfg, &err)) == NULL) {
            TE_ERROR(CTX, "cannot start: %s", err.msg);
            goto cleanup;
        }
        long recovered = job_manager_recover(d.jm, &err);
        if (recovered < 0) {
            TE_ERROR(CTX, "cannot read the job store: %s", err.msg);
            goto cleanup;
        }
        TE_INFO(CTX, "READY rpc_port=%d rest_port=%d jobs_recovered=%ld job_manager_id=%s pid=%d",
                job_manager_rpc_port(d.jm), job_manager_rest_port(d.jm), recovered, job_manager_id_hex(d.jm),
                (int)getpid());
        notify_ready(&d, "ready");
        event_base_dispatch(d.base);
        if (!job_manager_deposed(d.jm))
            break;
        job_manager_free(d.jm);
        d.jm = NULL;
        TE_INFO(CTX, "starting over as a standby JobManager");
    }
    rc = d.exit_code;
    TE_INFO(CTX, "stopped");
cleanup:
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    job_manager_free(d.jm);
    if (d.base != NULL)
        event_base_free(d.base);
    config_free(d.cfg);
    daemon_args_free(&d.args);
    if (d.base != NULL)
        libevent_global_shutdown();
    return rc;
}
