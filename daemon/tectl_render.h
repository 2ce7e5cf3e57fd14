/*
 * tectl_render — how tectl shows a job's events (lib/jobmaster/job_events.h): JSON
 * lines (--json), or text lines (a time stamp, the task and its state; checkpoints,
 * restarts, warnings on stderr), with one live progress line under them on a terminal.
 * `tectl submit` (direct mode) renders the events its own JobMaster reports; `tectl
 * submit --attach` / `tectl attach` render those the JobManager keeps for the job.
 *
 * Threading: tectl is single-threaded.
 */
#ifndef TECTL_RENDER_H
#define TECTL_RENDER_H

#include <jansson.h>

typedef enum tectl_out { OUT_PLAIN, OUT_TTY, OUT_JSON } tectl_out_t;

typedef struct tectl_render {
    tectl_out_t mode;
    int progress_shown; /* the progress line is on the terminal's last line */
    json_t *progress;   /* the latest progress event (drawn under the lines), or NULL */
    int deployed;       /* a plan was seen: the progress line may be drawn */
} tectl_render_t;

/* Text on a terminal gets the progress line; --json gets JSON lines. */
void render_init(tectl_render_t *r, int json);
void render_free(tectl_render_t *r);
/* Renders ev (borrowed). Returns the exit code for an "end" event (0 finished, 1
 * failed, 3 no executor reachable, 130 cancelled; "exit_code" is added to its JSON),
 * else -1. */
int render_event(tectl_render_t *r, json_t *ev);
/* A line on stderr (after clearing the progress line). */
void render_errf(tectl_render_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Erases the progress line (before exiting or printing elsewhere). */
void render_clear(tectl_render_t *r);

#endif
