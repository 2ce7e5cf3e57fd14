/*
 * daemon_cli — the command line, configuration, logging, notifications and reload
 * taskexecutord's and tejobmanager's main share (see daemon_cli.h).
 *
 * Threading: main's thread.
 */
#include "daemon_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sd_notify.h"

#define CTX "daemon"

int daemon_args_parse(te_daemon_args_t *a, int argc, char **argv)
{
    a->overrides = calloc((size_t)argc + 1, sizeof(char *));
    if (a->overrides == NULL) {
        fprintf(stderr, "%s: out of memory\n", a->prog);
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->usage(stdout);
            return 0;
        } else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
            printf("%s %s\n", a->prog, TE_VERSION);
            return 0;
        } else if (strcmp(arg, "--print-defaults") == 0) {
            config_write_defaults_for(a->set, stdout);
            return 0;
        } else if (strcmp(arg, "--print-man-keys") == 0 && a->set == TE_CONFIG_TASKEXECUTOR) {
            config_write_man_keys(stdout);
            return 0;
        } else if (strcmp(arg, "--print-readme-keys") == 0 && a->set == TE_CONFIG_TASKEXECUTOR) {
            config_write_readme_keys(stdout);
            return 0;
        } else if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: %s needs a file name\n", a->prog, arg);
                return 2;
            }
            a->config_path = argv[i];
        } else if (strncmp(arg, "--config=", 9) == 0) {
            a->config_path = arg + 9;
        } else if (strcmp(arg, "-D") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: -D needs key=value\n", a->prog);
                return 2;
            }
            a->overrides[a->n_overrides++] = argv[i];
        } else if (strncmp(arg, "-D", 2) == 0) {
            a->overrides[a->n_overrides++] = arg + 2;
        } else {
            fprintf(stderr, "%s: unknown argument '%s' (see --help)\n", a->prog, arg);
            return 2;
        }
    }
    return -1;
}

void daemon_args_free(te_daemon_args_t *a)
{
    free(a->overrides);
    a->overrides = NULL;
}

te_config_t *daemon_config_build(const te_daemon_args_t *a, te_error_t *err)
{
    te_config_t *c = config_new_for(a->set);
    if (c == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if (a->config_path != NULL && config_load_file(c, a->config_path, err) != TE_OK)
        goto cleanup;
    for (int i = 0; i < a->n_overrides; i++)
        if (config_set_kv(c, a->overrides[i], err) != TE_OK) {
            te_error_prefix(err, "-D %s", a->overrides[i]);
            goto cleanup;
        }
    return c;
cleanup:
    config_free(c);
    return NULL;
}

int daemon_logging_start(const te_daemon_args_t *a, const te_config_t *cfg)
{
    int level = te_log_level_parse(config_get_str(cfg, TE_KEY_LOG_LEVEL));
    te_log_set_level(level < 0 ? TE_LOG_INFO : (te_log_level_t)level);
    const char *log_file = config_get_str(cfg, TE_KEY_LOG_FILE);
    if (log_file[0] != '\0' && te_log_set_file(log_file) != 0) {
        fprintf(stderr, "%s: cannot open log.file '%s': %s\n", a->prog, log_file, strerror(errno));
        return -1;
    }
    return 0;
}

void daemon_notify(const char *what, const char *fmt, ...)
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

te_config_t *daemon_config_reload(const te_daemon_args_t *a, const te_config_t *cur, int *need_restart)
{
    te_error_t err = {0};
    daemon_notify("RELOADING=1", "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%lld",
                  (long long)te_clock_mono_ms() * 1000LL);
    TE_INFO(CTX, "SIGHUP: reloading the configuration from %s",
            a->config_path ? a->config_path : "(defaults and -D overrides; no --config file)");
    te_config_t *fresh = daemon_config_build(a, &err);
    te_config_t *merged = fresh ? config_merge_live(cur, fresh) : NULL;
    if (merged == NULL) {
        TE_ERROR(CTX, "reload failed, keeping the running configuration: %s",
                 fresh == NULL ? err.msg : "out of memory");
        if (te_log_reopen() != 0)
            TE_ERROR(CTX, "cannot reopen log.file '%s': %s", te_log_file(), strerror(errno));
        config_free(fresh);
        return NULL;
    }
    reload_count_t n = {0, 0};
    config_diff(cur, fresh, reload_report, &n);
    config_free(fresh);
    const char *old_file = config_get_str(cur, TE_KEY_LOG_FILE),
               *new_file = config_get_str(merged, TE_KEY_LOG_FILE);
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
    TE_INFO(CTX, "reload done: %d change(s) applied, %d need a restart", n.applied, n.restart);
    if (level >= 0)
        te_log_set_level((te_log_level_t)level);
    *need_restart = n.restart;
    return merged;
}
