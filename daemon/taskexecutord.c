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
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/sd_notify.h"
#include "executor/task_executor.h"

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
    struct event_base *base;
    te_task_executor_t *te;
    te_config_t *cfg;        /* the running configuration (owned; the executor borrows it) */
    const char *config_path; /* NULL = defaults only */
    const char **overrides;  /* -D arguments, borrowed from argv */
    int n_overrides;
    int signals_seen;
    int exit_code;
} daemon_state_t;

static void notify(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sends a systemd notification; a failure is logged once per kind, never fatal. */
static void notify(const char *what, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (sd_notify_send(buf) < 0)
        TE_WARN(CTX, "cannot send %s to systemd over NOTIFY_SOCKET '%s': %s", what, getenv("NOTIFY_SOCKET"),
                strerror(errno));
}

static void notify_ready(daemon_state_t *d, const char *status)
{
    notify("READY=1", "READY=1\nSTATUS=%s: rpc port %d, status port %d, %lld slot(s)\nMAINPID=%d", status,
           task_executor_rpc_port(d->te), task_executor_status_port(d->te),
           (long long)config_get_int(d->cfg, TE_KEY_TASKMANAGER_NUMBER_OF_TASK_SLOTS), (int)getpid());
}

/* Builds the configuration the command line describes: defaults, the file, then the
 * -D overrides in order. NULL + err naming the file:line / key / value. */
static te_config_t *config_from_args(const daemon_state_t *d, te_error_t *err)
{
    te_config_t *c = config_new();
    if (c == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if (d->config_path != NULL && config_load_file(c, d->config_path, err) != TE_OK)
        goto cleanup;
    for (int i = 0; i < d->n_overrides; i++)
        if (config_set_kv(c, d->overrides[i], err) != TE_OK) {
            te_error_prefix(err, "-D %s", d->overrides[i]);
            goto cleanup;
        }
    return c;
cleanup:
    config_free(c);
    return NULL;
}

typedef struct reload_count {
    int applied, restart;
} reload_count_t;

static void reload_report(void *arg, const te_config_key_t *k, const char *old_value, const char *new_value)
{
    reload_count_t *n = arg;
    if (k->live) {
        n->applied++;
        TE_INFO(CTX, "reload: %s changed from '%s' to '%s' (applied)", k->name, old_value, new_value);
    } else {
        n->restart++;
        TE_WARN(CTX, "reload: %s changed from '%s' to '%s' but needs a restart; keeping '%s'", k->name, old_value,
                new_value, old_value);
    }
}

/* SIGHUP, on the control thread. Never fatal: on any error the running configuration
 * stays as it is. */
static void daemon_reload(daemon_state_t *d)
{
    te_error_t err;
    te_error_clear(&err);
    notify("RELOADING=1", "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%lld",
           (long long)te_clock_mono_ms() * 1000LL);
    TE_INFO(CTX, "SIGHUP: reloading the configuration from %s",
            d->config_path ? d->config_path : "(defaults and -D overrides; no --config file)");
    te_config_t *fresh = config_from_args(d, &err);
    te_config_t *merged = fresh ? config_merge_live(d->cfg, fresh) : NULL;
    if (fresh == NULL || merged == NULL) {
        TE_ERROR(CTX, "reload failed, keeping the running configuration: %s",
                 fresh == NULL ? err.msg : "out of memory");
        if (te_log_reopen() != 0)
            TE_ERROR(CTX, "cannot reopen log.file '%s': %s", te_log_file(), strerror(errno));
        config_free(fresh);
        notify_ready(d, "ready (the last reload failed; see the log)");
        return;
    }
    reload_count_t n = {0, 0};
    config_diff(d->cfg, fresh, reload_report, &n);
    /* log.file: switch to a new file, or reopen the same path (logrotate). */
    const char *old_file = config_get_str(d->cfg, TE_KEY_LOG_FILE);
    const char *new_file = config_get_str(merged, TE_KEY_LOG_FILE);
    if (strcmp(old_file, new_file) != 0) {
        if (te_log_set_file(new_file) != 0) {
            TE_ERROR(CTX, "reload: cannot open log.file '%s': %s; keeping '%s'", new_file, strerror(errno),
                     old_file);
            (void)config_set(merged, "log.file", old_file, &err);
        }
    } else if (te_log_reopen() != 0) {
        TE_ERROR(CTX, "reload: cannot reopen log.file '%s': %s; writing to the old file", te_log_file(),
                 strerror(errno));
    }
    int level = te_log_level_parse(config_get_str(merged, TE_KEY_LOG_LEVEL));
    task_executor_reconfigure(d->te, merged);
    config_free(d->cfg);
    d->cfg = merged;
    config_free(fresh);
    TE_INFO(CTX, "reload done: %d change(s) applied, %d need a restart", n.applied, n.restart);
    if (level >= 0)
        te_log_set_level((te_log_level_t)level);
    TE_DEBUG(CTX, "reload: log level is now %s", config_get_str(d->cfg, TE_KEY_LOG_LEVEL));
    notify_ready(d, n.restart ? "ready (reloaded; some changes need a restart, see the log)" : "ready (reloaded)");
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
    notify("STOPPING=1", "STOPPING=1\nSTATUS=shutting down: cancelling tasks");
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
    te_error_t err;
    int rc = -1; /* >= 0: exit with it after parsing */
    daemon_state_t d = {0};
    struct event *sigs[3] = {NULL, NULL, NULL};
    int started = 0;         /* the executor was up: log "stopped" at the end */
    te_log_detect_journal(); /* before the first line (config warnings) */
    te_log_capture_libevent();
    /* -D overrides are applied after the file, in order (and again on every reload). */
    d.overrides = calloc((size_t)argc, sizeof(char *));
    if (d.overrides == NULL) {
        fprintf(stderr, "taskexecutord: out of memory\n");
        rc = 1;
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
        } else if (strcmp(a, "--print-man-keys") == 0) {
            config_write_man_keys(stdout);
            rc = 0;
        } else if (strcmp(a, "--print-readme-keys") == 0) {
            config_write_readme_keys(stdout);
            rc = 0;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "taskexecutord: %s needs a file name\n", a);
                rc = 2;
            } else {
                d.config_path = argv[i];
            }
        } else if (strncmp(a, "--config=", 9) == 0) {
            d.config_path = a + 9;
        } else if (strcmp(a, "-D") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "taskexecutord: -D needs key=value\n");
                rc = 2;
            } else {
                d.overrides[d.n_overrides++] = argv[i];
            }
        } else if (strncmp(a, "-D", 2) == 0) {
            d.overrides[d.n_overrides++] = a + 2;
        } else {
            fprintf(stderr, "taskexecutord: unknown argument '%s' (see --help)\n", a);
            rc = 2;
        }
    }
    if (rc < 0) {
        te_error_clear(&err);
        d.cfg = config_from_args(&d, &err);
        if (d.cfg == NULL) {
            fprintf(stderr, "taskexecutord: %s\n", err.msg);
            rc = 1;
        }
    }
    if (rc >= 0)
        goto cleanup; /* --help, --version, --print-*, or a bad argument or configuration */
    rc = 1;           /* until the daemon ran */

    int level = te_log_level_parse(config_get_str(d.cfg, TE_KEY_LOG_LEVEL));
    te_log_set_level(level < 0 ? TE_LOG_INFO : (te_log_level_t)level);
    const char *log_file = config_get_str(d.cfg, TE_KEY_LOG_FILE);
    if (log_file && log_file[0] && te_log_set_file(log_file) != 0) {
        fprintf(stderr, "taskexecutord: cannot open log.file '%s': %s\n", log_file, strerror(errno));
        goto cleanup;
    }

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
            d.config_path ? d.config_path : "(defaults)");
    d.te = task_executor_new(d.base, d.cfg, on_fatal, &d, &err);
    if (d.te == NULL) {
        TE_ERROR(CTX, "cannot start: %s", err.msg);
        goto cleanup;
    }
    started = 1;
    task_executor_protect_config_file(d.te, d.config_path); /* no job may read or write it */
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
    if (d.base != NULL) {
        event_base_free(d.base);
        libevent_global_shutdown();
    }
    config_free(d.cfg);
    free(d.overrides);
    if (started)
        TE_INFO(CTX, "stopped");
    return rc;
}
