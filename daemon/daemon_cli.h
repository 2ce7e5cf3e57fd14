/*
 * daemon_cli — what the daemons' mains share (taskexecutord, tejobmanager): the
 * command line (-c/--config FILE, -D key=value, --print-defaults, --print-man-keys for
 * the TaskExecutor, -h, -V), the
 * configuration it describes (defaults, the file, the -D overrides in order), logging
 * set up from it, systemd notifications, and a SIGHUP reload that logs every changed
 * key (applied when live, kept otherwise) and switches log.level / log.file.
 *
 * Threading: main's thread (the control thread running the daemon's event loop).
 */
#ifndef TE_DAEMON_CLI_H
#define TE_DAEMON_CLI_H

#include <stdio.h>

#include "common/config.h"
#include "common/te_status.h"

typedef struct te_daemon_args {
    const char *prog; /* "tejobmanager" */
    te_config_set_t set;
    void (*usage)(FILE *out);
    const char *config_path; /* NULL = defaults only */
    const char **overrides;  /* -D arguments, borrowed from argv */
    int n_overrides;
} te_daemon_args_t;

/* Parses argv into a (prog, set and usage set by the caller). Returns -1 when the
 * daemon should run, else the exit code (help, version or defaults printed; a usage
 * error named on stderr). */
int daemon_args_parse(te_daemon_args_t *a, int argc, char **argv);
void daemon_args_free(te_daemon_args_t *a);
/* Defaults, the file, then the -D overrides. NULL + err naming file:line / key / value. */
te_config_t *daemon_config_build(const te_daemon_args_t *a, te_error_t *err);
/* log.level and log.file; -1 (message on stderr) when log.file cannot be opened. */
int daemon_logging_start(const te_daemon_args_t *a, const te_config_t *cfg);
/* A systemd notification (`what` names it in the warning a failure logs). */
void daemon_notify(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* SIGHUP: the configuration to run with from now on (restart-only keys keep their
 * values), with every change logged; NULL (the error logged) when the file or a value
 * is bad. *need_restart counts the changes that wait for a restart. */
te_config_t *daemon_config_reload(const te_daemon_args_t *a, const te_config_t *cur, int *need_restart);

#endif
