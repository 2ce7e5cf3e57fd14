/*
 * tectl — shared between tectl.c (the command table, option parsing, the executor
 * commands list / slots / cancel / checkpoints, tables and JSON output),
 * tectl_submit.c (submit: a JobMaster on an event loop in direct mode, or the job
 * handed to a JobManager), tectl_cluster.c (the JobManager's client: jobs, job,
 * attach, cancel, savepoint, stop, taskmanagers) and tectl_render.c (a job's events as
 * text or JSON lines).
 *
 * Threading: tectl is single-threaded.
 */
#ifndef TECTL_H
#define TECTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_OK         0
#define EXIT_JOB_FAILED 1
#define EXIT_USAGE      2
#define EXIT_CONNECT    3
#define EXIT_CANCELLED  130

#define MAX_EXECUTORS  64
#define MAX_POSITIONAL 256

/* Every command's options (each command's table says which it takes). */
typedef struct args {
    const char *executors[MAX_EXECUTORS];
    size_t n_executors;
    const char *pos[MAX_POSITIONAL];
    size_t n_pos;
    int64_t heartbeat_ms;
    int64_t timeout_ms;
    int64_t checkpoint_interval_ms; /* 0 = no checkpoints */
    int64_t checkpoint_timeout_ms;
    const char *checkpoint_dir;  /* NULL = default */
    const char *from_checkpoint; /* NULL = fresh start */
    const char *job;             /* checkpoints --job */
    int64_t restart_attempts;
    int64_t restart_backoff_ms;
    const char *jobmanager;     /* --jobmanager HOST:PORT (REST), else $TE_JOBMANAGER */
    const char *from_savepoint; /* submit --from-savepoint (cluster) */
    const char *savepoint_dir;  /* stop --savepoint-dir */
    int attach;                 /* submit --attach */
    int allow_non_restored;     /* submit --allow-non-restored-state */
    int set[32];                /* which options were given (index in the command's table) */
    int help;
    int json;
} args_t;

typedef enum opt_kind {
    OPT_ADDRESS,      /* HOST:PORT, repeatable, each once */
    OPT_DURATION,     /* >= 0 */
    OPT_DURATION_POS, /* > 0 */
    OPT_COUNT,        /* 0 .. 1000000 */
    OPT_DIR,          /* a non-empty path */
    OPT_TEXT,
    OPT_FLAG, /* no value: sets an int to 1 */
} opt_kind_t;

typedef struct opt {
    const char *name; /* without the leading "--" */
    opt_kind_t kind;
    size_t offset;        /* of its field in args_t */
    const char *expected; /* "a positive duration (e.g. 10s)": what a bad value is not */
} opt_t;

#define OPT(name, kind, field, expected)              \
    {                                                 \
        name, kind, offsetof(args_t, field), expected \
    }

typedef struct command {
    const char *name;
    const char *usage;
    const opt_t *opts;
    int (*run)(const args_t *a);
} command_t;

/* "tectl CMD: <fmt % what>" + a pointer to --help on stderr; returns EXIT_USAGE. */
int tectl_usage_error(const char *cmd, const char *fmt, const char *what);
/* Whether option `name` of the command's table was given. */
int tectl_opt_given(const args_t *a, const opt_t *opts, const char *name);
/* One JSON document (reference taken) and a newline on stdout: compact (JSON lines)
 * or indented. */
void tectl_json_emit(json_t *doc, int lines);
/* UTC "2024-05-01T12:00:00.123Z" of wall ms (now when < 0). */
const char *tectl_iso_time_at(int64_t wall_ms, char *buf, size_t cap);
/* 1234567 -> "1.2 MB" */
const char *tectl_human_bytes(uint64_t v, char *buf, size_t cap);

/* A text table: cells are copied; columns sized to their widest cell; printed once. */
#define TABLE_MAX_COLS 10
typedef struct tectl_table {
    size_t n_cols, n_rows, cap;
    char **cells;              /* row-major */
    int right[TABLE_MAX_COLS]; /* right-aligned (numbers) */
} tectl_table_t;
void tectl_table_add(tectl_table_t *t, const char *const *row);
void tectl_table_free(tectl_table_t *t);
void tectl_table_print_free(tectl_table_t *t);

/* tectl_submit.c */
extern const command_t tectl_submit_command;
/* tectl_cluster.c: the JobManager client's commands ({NULL}-terminated), submit to a
 * JobManager, and cancel of a job. */
extern const command_t tectl_cluster_commands[];
int tectl_cluster_submit(const args_t *a, const char *job_file);
int tectl_cluster_cancel(const args_t *a);
/* The JobManager address: --jobmanager, else $TE_JOBMANAGER, else NULL. */
const char *tectl_jobmanager(const args_t *a);

#endif
