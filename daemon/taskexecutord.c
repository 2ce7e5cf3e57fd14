/*
 * taskexecutord — the TaskExecutor daemon: parses flags and the config file, starts
 * the control thread's services (RPC, status endpoint, slot table, network memory),
 * logs one READY line with the real ports (and tells systemd READY=1), and runs until
 * SIGTERM/SIGINT, when it tells systemd STOPPING=1, cancels every task, waits for
 * them, frees everything and exits 0. SIGHUP re-reads the config file (the -D
 * overrides re-applied on top), applies the live keys, names every changed key that
 * needs a restart (it keeps its old value) and reopens log.file; a bad file is logged
 * and the running configuration stays.
 *
 * Threading: main() is the control thread; it runs the control event_base. Signals
 * are delivered as libevent signal events on that thread, so a reload runs there too
 * and swaps the configuration between two control-thread callbacks.
 */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/malloc_policy.h"
#include "executor/task_executor.h"
#include "daemon_cli.h"

#define CTX "daemon"

static void usage(FILE *out)
{
    fprintf(out, "Usage: taskexecutord [--config FILE] [-D key=value]... [options]\n"
                 "\n"
                 "A native Flink-style TaskExecutor: accepts task deployments from a scheduler\n"
                 "(tectl) over protobuf RPC, runs each task on its own thread, and reports on a\n"
                 "JSON status endpoint.\n"
                 "\n"
                 "Options:\n"
                 "  -c, --config FILE      read configuration from FILE (YAML, flat Flink keys)\n"
                 "  -D key=value           override one configuration key (repeatable)\n"
                 "      --print-defaults   print every configuration key with its default and exit\n"
                 "      --print-man-keys   print the key reference of taskexecutor.yaml(5) as roff and exit\n"
                 "      --print-readme-keys print the README's configuration key table (markdown) and exit\n"
                 "  -h, --help             show this help and exit\n"
                 "  -V, --version          show the version and exit\n"
                 "\n"
                 "Once listening, the daemon logs one line:\n"
                 "  READY rpc_port=N data_port=N status_port=N resource_id=ID pid=N\n"
                 "Port 0 in the configuration picks a free port (shown in READY).\n"
                 "\n"
                 "Signals: SIGTERM/SIGINT cancel all tasks, wait for them and exit 0.\n"
                 "         SIGHUP re-reads the config file (-D overrides stay on top), applies the\n"
                 "         live keys, logs the keys that need a restart, reopens log.file.\n"
                 "\n"
                 "Under systemd (Type=notify) it sends READY=1, RELOADING=1 and STOPPING=1 over\n"
                 "$NOTIFY_SOCKET, and logs with journald level prefixes when stderr is the\n"
                 "journal ($JOURNAL_STREAM).\n"
                 "\n"
                 "Example:\n"
                 "  taskexecutord --config conf/taskexecutor.yaml -D taskmanager.numberOfTaskSlots=8\n");
}

typedef struct daemon_state {
    te_daemon_args_t args;
    struct event_base *base;
    te_task_executor_t *te;
    te_config_t *cfg; /* the running configuration (owned; the executor borrows it) */
    int signals_seen;
    int exit_code;
} daemon_state_t;

static void notify_ready(daemon_state_t *d, const char *status)
{
    daemon_notify("READY=1", "READY=1\nSTATUS=%s: rpc port %d, status port %d, %lld slot(s)\nMAINPID=%d", status,
                  task_executor_rpc_port(d->te), task_executor_status_port(d->te),
                  (long long)config_get_int(d->cfg, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), (int)getpid());
}

/* SIGHUP, on the control thread. Never fatal: on any error the running configuration
 * stays as it is. */
static void daemon_reload(daemon_state_t *d)
{
    int restart = 0;
    te_config_t *merged = daemon_config_reload(&d->args, d->cfg, &restart);
    if (merged == NULL) {
        notify_ready(d, "ready (the last reload failed; see the log)");
        return;
    }
    task_executor_reconfigure(d->te, merged);
    config_free(d->cfg);
    d->cfg = merged;
    TE_DEBUG(CTX, "reload: log level is now %s", config_get_str(d->cfg, TE_KEY_LOG_LEVEL));
    notify_ready(d, restart ? "ready (reloaded; some changes need a restart, see the log)" : "ready (reloaded)");
}

static void shutdown_done(void *arg)
{
    daemon_state_t *d = arg;
    TE_INFO(CTX, "all tasks stopped; exiting");
    event_base_loopbreak(d->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    daemon_state_t *d = arg;
    if (sig == SIGHUP) {
        if (d->signals_seen > 0)
            TE_INFO(CTX, "SIGHUP during shutdown: ignored");
        else
            daemon_reload(d);
        return;
    }
    d->signals_seen++;
    if (d->signals_seen > 1) {
        TE_WARN(CTX, "second %s: exiting without waiting for tasks", strsignal((int)sig));
        d->exit_code = 1;
        event_base_loopbreak(d->base);
        return;
    }
    TE_INFO(CTX, "%s: cancelling tasks and shutting down", strsignal((int)sig));
    daemon_notify("STOPPING=1", "STOPPING=1\nSTATUS=shutting down: cancelling tasks");
    task_executor_shutdown(d->te, shutdown_done, d);
}

static void on_fatal(void *arg, const char *why)
{
    daemon_state_t *d = arg;
    TE_ERROR(CTX, "fatal: %s; the process must restart", why);
    d->exit_code = 70;
    event_base_loopbreak(d->base);
}

int main(int argc, char **argv)
{
    te_error_t err = {0};
    daemon_state_t d = {.args = {.prog = "taskexecutord", .set = TE_CONFIG_TASKEXECUTOR, .usage = usage}};
    struct event *sigs[3] = {NULL, NULL, NULL};
    int started = 0;         /* the executor was up: log "stopped" at the end */
    te_log_detect_journal(); /* before the first line (config warnings) */
    te_log_capture_libevent();
    int rc = daemon_args_parse(&d.args, argc, argv);
    if (rc >= 0)
        goto cleanup; /* --help, --version, --print-*, or a bad argument */
    rc = 1;           /* until the daemon ran */
    if ((d.cfg = daemon_config_build(&d.args, &err)) == NULL) {
        fprintf(stderr, "taskexecutord: %s\n", err.msg);
        goto cleanup;
    }
    if (daemon_logging_start(&d.args, d.cfg) != 0)
        goto cleanup;
    const char *why;
    if (malloc_policy_apply(&why))
        TE_INFO(CTX, "malloc: %s at %u KiB (freed state goes back to the system)", why,
                TE_MALLOC_THRESHOLD / 1024);
    else
        TE_INFO(CTX, "malloc: thresholds left as they are: %s", why);
    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0) {
        TE_ERROR(CTX, "libevent has no pthreads support");
        goto cleanup;
    }
    d.base = event_base_new();
    if (d.base == NULL) {
        TE_ERROR(CTX, "cannot create the event base");
        goto cleanup;
    }
    TE_INFO(CTX, "taskexecutord %s starting (pid %d, config %s)", TE_VERSION, (int)getpid(),
            d.args.config_path ? d.args.config_path : "(defaults)");
    d.te = task_executor_new(d.base, d.cfg, on_fatal, &d, &err);
    if (d.te == NULL) {
        TE_ERROR(CTX, "cannot start: %s", err.msg);
        goto cleanup;
    }
    started = 1;
    task_executor_protect_config_file(d.te, d.args.config_path); /* no job may read or write it */
    int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
        evsignal_add(sigs[i], NULL);
    }
    TE_INFO(CTX, "READY rpc_port=%d data_port=%d status_port=%d resource_id=%s pid=%d slots=%lld",
            task_executor_rpc_port(d.te), task_executor_data_port(d.te), task_executor_status_port(d.te),
            task_executor_resource_id(d.te), (int)getpid(),
            (long long)config_get_int(d.cfg, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS));
    notify_ready(&d, "ready");

    event_base_dispatch(d.base);

    if (d.exit_code != 0) {
        /* Tasks may still be running and cannot be joined: leave without cleanup. */
        TE_ERROR(CTX, "exiting with code %d without waiting for tasks", d.exit_code);
        _exit(d.exit_code);
    }
    rc = d.exit_code;
cleanup:
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    task_executor_free(d.te);
    if (d.base != NULL)
        event_base_free(d.base);
    config_free(d.cfg);
    daemon_args_free(&d.args);
    if (started) {
        libevent_global_shutdown();
        TE_INFO(CTX, "stopped");
    }
    return rc;
}
