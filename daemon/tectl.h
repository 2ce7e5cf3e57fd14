/*
 * tectl — shared between tectl.c (commands, option tables, tables and JSON output)
 * and tectl_submit.c (the submit command: a JobMaster from lib/jobmaster on an event
 * loop, printing what it reports).
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
    int help;
    int json;
} args_t;

/* "tectl CMD: <fmt % what>" + a pointer to --help on stderr; returns EXIT_USAGE. */
int tectl_usage_error(const char *cmd, const char *fmt, const char *what);
/* One JSON document (reference taken) and a newline on stdout: compact (JSON lines)
 * or indented. */
void tectl_json_emit(json_t *doc, int lines);
/* UTC "2024-05-01T12:00:00.123Z" of wall ms (now when < 0). */
const char *tectl_iso_time_at(int64_t wall_ms, char *buf, size_t cap);
/* 1234567 -> "1.2 MB" */
const char *tectl_human_bytes(uint64_t v, char *buf, size_t cap);

/* tectl submit with parsed options. Returns the exit code. */
int tectl_submit(const args_t *a);

#endif
