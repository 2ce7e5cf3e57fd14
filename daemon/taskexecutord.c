/*
 * taskexecutord — the TaskExecutor daemon: parses flags and the config file, starts
 * the control thread's services (RPC, status endpoint, slot table, network memory),
 * logs one READY line with the real ports, and runs until SIGTERM/SIGINT, when it
 * cancels every task, waits for them, frees everything and exits 0.
 *
 * Threading: main() is the control thread; it runs the control event_base. Signals
 * are delivered as libevent signal events on that thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "task/task_executor.h"

#define CTX "daemon"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: taskexecutord [--config FILE] [-D key=value]... [options]\n"
            "\n"
            "A native Flink-style TaskExecutor: accepts task deployments from a scheduler\n"
            "(tectl) over protobuf RPC, runs each task on its own thread, and reports on a\n"
            "JSON status endpoint.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE      read configuration from FILE (YAML, flat Flink keys)\n"
            "  -D key=value           override one configuration key (repeatable)\n"
            "      --print-defaults   print every configuration key with its default and exit\n"
            "  -h, --help             show this help and exit\n"
            "  -V, --version          show the version and exit\n"
            "\n"
            "Once listening, the daemon logs one line:\n"
            "  READY rpc_port=N data_port=N status_port=N resource_id=ID pid=N\n"
            "Port 0 in the configuration picks a free port (shown in READY).\n"
            "\n"
            "Signals: SIGTERM/SIGINT cancel all tasks, wait for them and exit 0.\n"
            "\n"
            "Example:\n"
            "  taskexecutord --config conf/taskexecutor.yaml -D taskmanager.numberOfTaskSlots=8\n");
}

typedef struct daemon_state {
    struct event_base *base;
    te_task_executor_t *te;
    int signals_seen;
    int exit_code;
} daemon_state_t;

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
        TE_INFO(CTX, "SIGHUP: configuration reload is not supported by this version; ignoring");
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
    const char *config_path = NULL;
    te_error_t err;
    int rc = -1; /* >= 0: exit with it after parsing */
    te_config_t *cfg = config_new();
    /* -D overrides are applied after the file, in order. */
    const char **overrides = calloc((size_t)argc, sizeof(char *));
    int n_overrides = 0;
    if (cfg == NULL || overrides == NULL) {
        fprintf(stderr, "taskexecutord: out of memory\n");
        rc = 1;
        goto parsed;
    }
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            rc = 0;
        } else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
            printf("taskexecutord %s\n", TE_VERSION);
            rc = 0;
        } else if (strcmp(a, "--print-defaults") == 0) {
            config_write_defaults(stdout);
            rc = 0;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "taskexecutord: %s needs a file name\n", a);
                rc = 2;
            } else {
                config_path = argv[i];
            }
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strcmp(a, "-D") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "taskexecutord: -D needs key=value\n");
                rc = 2;
            } else {
                overrides[n_overrides++] = argv[i];
            }
        } else if (strncmp(a, "-D", 2) == 0) {
            overrides[n_overrides++] = a + 2;
        } else {
            fprintf(stderr, "taskexecutord: unknown argument '%s' (see --help)\n", a);
            rc = 2;
        }
    }
    if (rc < 0 && config_path != NULL && config_load_file(cfg, config_path, &err) != TE_OK) {
        fprintf(stderr, "taskexecutord: %s\n", err.msg);
        rc = 1;
    }
    for (int i = 0; rc < 0 && i < n_overrides; i++) {
        if (config_set_kv(cfg, overrides[i], &err) != TE_OK) {
            fprintf(stderr, "taskexecutord: -D %s: %s\n", overrides[i], err.msg);
            rc = 1;
        }
    }
parsed:
    free(overrides);
    if (rc >= 0) {
        config_free(cfg);
        return rc;
    }

    int level = te_log_level_parse(config_get_str(cfg, "log.level"));
    te_log_set_level(level < 0 ? TE_LOG_INFO : (te_log_level_t)level);
    const char *log_file = config_get_str(cfg, "log.file");
    if (log_file && log_file[0] && te_log_set_file(log_file) != 0) {
        fprintf(stderr, "taskexecutord: cannot open log.file '%s': %s\n", log_file, strerror(errno));
        config_free(cfg);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    if (evthread_use_pthreads() != 0) {
        TE_ERROR(CTX, "libevent has no pthreads support");
        config_free(cfg);
        return 1;
    }
    daemon_state_t d = {0};
    d.base = event_base_new();
    if (d.base == NULL) {
        TE_ERROR(CTX, "cannot create the event base");
        config_free(cfg);
        return 1;
    }
    TE_INFO(CTX, "taskexecutord %s starting (pid %d, config %s)", TE_VERSION, (int)getpid(),
            config_path ? config_path : "(defaults)");
    d.te = task_executor_new(d.base, cfg, on_fatal, &d, &err);
    if (d.te == NULL) {
        TE_ERROR(CTX, "cannot start: %s", err.msg);
        event_base_free(d.base);
        config_free(cfg);
        return 1;
    }
    struct event *sigs[3];
    int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(d.base, signums[i], on_signal, &d);
        evsignal_add(sigs[i], NULL);
    }
    TE_INFO(CTX, "READY rpc_port=%d data_port=%d status_port=%d resource_id=%s pid=%d slots=%lld",
            task_executor_rpc_port(d.te), task_executor_data_port(d.te), task_executor_status_port(d.te),
            task_executor_resource_id(d.te), (int)getpid(),
            (long long)config_get_int(cfg, "taskmanager.numberOfTaskSlots"));

    event_base_dispatch(d.base);

    if (d.exit_code != 0) {
        /* Tasks may still be running and cannot be joined: leave without cleanup. */
        TE_ERROR(CTX, "exiting with code %d without waiting for tasks", d.exit_code);
        _exit(d.exit_code);
    }
    for (int i = 0; i < 3; i++)
        event_free(sigs[i]);
    task_executor_free(d.te);
    event_base_free(d.base);
    config_free(cfg);
    libevent_global_shutdown();
    TE_INFO(CTX, "stopped");
    return d.exit_code;
}
