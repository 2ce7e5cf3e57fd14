/*
 * tectl_render — text and JSON rendering of a job's events (see tectl_render.h).
 *
 * Threading: single-threaded.
 */
#include "tectl_render.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tectl.h"

static const char *str(const json_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "";
}

static long long num(const json_t *ev, const char *key)
{
    return (long long)json_integer_value(json_object_get(ev, key));
}

void render_init(tectl_render_t *r, int json)
{
    memset(r, 0, sizeof(*r));
    r->mode = json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN;
}

void render_free(tectl_render_t *r)
{
    render_clear(r);
    json_decref(r->progress);
    r->progress = NULL;
}

void render_clear(tectl_render_t *r)
{
    if (!r->progress_shown)
        return;
    fputs("\r\033[K", stdout);
    fflush(stdout);
    r->progress_shown = 0;
}

void render_errf(tectl_render_t *r, const char *fmt, ...)
{
    va_list ap;
    render_clear(r);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Starts a plain stdout line with the event's local time (its "time_ms" when the
 * JobManager kept it, else now) after clearing the progress line. */
static void line_start(tectl_render_t *r, const json_t *ev)
{
    struct timespec ts;
    struct tm tm;
    render_clear(r);
    const json_t *at = json_object_get(ev, "time_ms");
    if (json_is_integer(at)) {
        ts.tv_sec = (time_t)(json_integer_value(at) / 1000);
        ts.tv_nsec = (long)(json_integer_value(at) % 1000) * 1000000L;
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    localtime_r(&ts.tv_sec, &tm);
    printf("%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* 12345.6 -> "12.3k" */
static const char *human_rate(double v, char *buf, size_t cap)
{
    if (v >= 1e9)
        snprintf(buf, cap, "%.1fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, cap, "%.1fM", v / 1e6);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else
        snprintf(buf, cap, "%.0f", v);
    return buf;
}

/* OUT_TTY: (re)draws the progress line (no newline). */
static void progress_draw(tectl_render_t *r)
{
    const json_t *p = r->progress;
    if (r->mode != OUT_TTY || p == NULL || !r->deployed || num(p, "tasks") == 0)
        return;
    long long el = num(p, "elapsed_ms") / 1000;
    char rate[32];
    const json_t *rps = json_object_get(p, "records_per_second");
    printf("\r\033[K[%02lld:%02lld] %lld running, %lld finished", el / 60, el % 60, num(p, "running"),
           num(p, "finished"));
    if (num(p, "failed_or_cancelled") > 0)
        printf(", %lld failed/cancelled", num(p, "failed_or_cancelled"));
    printf(" of %lld tasks | %s records/s", num(p, "tasks"),
           json_is_number(rps) ? human_rate(json_number_value(rps), rate, sizeof(rate)) : "-");
    if (num(p, "last_checkpoint") > 0)
        printf(" | checkpoint %lld", num(p, "last_checkpoint"));
    fflush(stdout);
    r->progress_shown = 1;
}

static void text_plan(tectl_render_t *r, const json_t *ev)
{
    const json_t *tasks = json_object_get(ev, "tasks");
    size_t i;
    const json_t *t;
    render_clear(r);
    printf("job %s (%s): %zu task(s) in %lld slot(s) on %lld executor(s)\n", str(ev, "job_id"),
           str(ev, "job_name"), json_array_size(tasks), num(ev, "slots"), num(ev, "executors"));
    json_array_foreach(tasks, i, t) printf("  task %s %s on %s slot %lld\n", str(t, "execution_id"),
                                           str(t, "task"), str(t, "executor"), num(t, "slot"));
    r->deployed = 1;
}

static void text_checkpoint(tectl_render_t *r, const json_t *ev)
{
    char size[32], inflight[32];
    line_start(r, ev);
    printf(" checkpoint %lld completed in %lld ms, %s, %lld tasks, start delay %lld ms, alignment %.1f ms, "
           "in-flight %s\n",
           num(ev, "checkpoint_id"), num(ev, "duration_ms"),
           tectl_human_bytes((uint64_t)num(ev, "state_size"), size, sizeof(size)), num(ev, "tasks"),
           num(ev, "start_delay_ms_max"), json_number_value(json_object_get(ev, "alignment_ms_max")),
           tectl_human_bytes((uint64_t)num(ev, "in_flight_bytes"), inflight, sizeof(inflight)));
}

static void text_restart(tectl_render_t *r, const json_t *ev)
{
    line_start(r, ev);
    if (num(ev, "checkpoint_id") != 0)
        printf(" %s; restarting from checkpoint %lld (attempt %lld of %lld)\n", str(ev, "cause"),
               num(ev, "checkpoint_id"), num(ev, "attempt"), num(ev, "max_attempts"));
    else
        printf(" %s; restarting from the beginning, no checkpoint completed yet (attempt %lld of %lld)\n",
               str(ev, "cause"), num(ev, "attempt"), num(ev, "max_attempts"));
}

static int end_code(const json_t *ev)
{
    const char *result = str(ev, "result");
    if (strcmp(result, "finished") == 0)
        return EXIT_OK;
    if (strcmp(result, "cancelled") == 0)
        return EXIT_CANCELLED;
    return json_is_true(json_object_get(ev, "unreachable")) ? EXIT_CONNECT : EXIT_JOB_FAILED;
}

static void text_end(tectl_render_t *r, const json_t *ev, int rc)
{
    render_clear(r);
    if (rc == EXIT_OK || rc == EXIT_CANCELLED) {
        printf("%s\n", rc == EXIT_OK ? "job finished" : "job cancelled");
        return;
    }
    const char *msg = str(ev, "message");
    if (msg[0] == '\0' || json_is_true(json_object_get(ev, "cause_reported")))
        return;
    if (num(ev, "max_restarts") > 0)
        render_errf(r, "tectl: job failed: %s (after %lld restart(s) of %lld)\n", msg, num(ev, "restarts"),
                    num(ev, "max_restarts"));
    else
        render_errf(r, "tectl: job failed: %s\n", msg);
}

int render_event(tectl_render_t *r, json_t *ev)
{
    const char *kind = str(ev, "event");
    int rc = strcmp(kind, "end") == 0 ? end_code(ev) : -1;
    if (strcmp(kind, "progress") == 0) {
        json_decref(r->progress);
        r->progress = json_incref(ev);
    }
    if (strcmp(kind, "plan") == 0)
        r->deployed = 1;
    if (strcmp(kind, "log") == 0) { /* errors and warnings stay text on stderr, also with --json */
        int warn = strcmp(str(ev, "level"), "warn") == 0;
        render_errf(r, "tectl: %s%s\n", warn ? "warning: " : "", str(ev, "message"));
        progress_draw(r);
        return rc;
    }
    if (r->mode == OUT_JSON) {
        if (rc >= 0)
            json_object_set_new(ev, "exit_code", json_integer(rc));
        tectl_json_emit(json_incref(ev), 1);
        return rc;
    }
    if (strcmp(kind, "plan") == 0) {
        text_plan(r, ev);
    } else if (strcmp(kind, "state") == 0) {
        line_start(r, ev);
        printf(" %s %s", str(ev, "task"), str(ev, "state"));
        if (str(ev, "cause")[0] != '\0')
            printf(" %s", str(ev, "cause"));
        printf("\n");
    } else if (strcmp(kind, "checkpoint") == 0) {
        text_checkpoint(r, ev);
    } else if (strcmp(kind, "checkpoint_aborted") == 0) {
        line_start(r, ev);
        printf(" checkpoint %lld aborted: %s\n", num(ev, "checkpoint_id"), str(ev, "cause"));
    } else if (strcmp(kind, "restart") == 0) {
        text_restart(r, ev);
    } else if (rc >= 0) {
        text_end(r, ev, rc);
        return rc;
    }
    fflush(stdout);
    progress_draw(r);
    return rc;
}
