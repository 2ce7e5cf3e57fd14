/*
 * tectl submit — runs one job through a JobMaster (lib/jobmaster/job_master) on an
 * event loop, with slots from the executors named by --executor
 * (direct_slot_provider), and prints what the JobMaster reports: the plan, one line
 * per task state change, checkpoints completed / aborted, restarts, errors, and the
 * end ("job finished" / "job cancelled" / "tectl: job failed: ..."). --json prints
 * the same as JSON lines; on a terminal a live progress line (tasks running /
 * finished, records/s) stays under the other lines.
 *
 * Before the JobMaster starts: the job graph (file, or from a checkpoint's _metadata),
 * the checkpoint to resume (--from-checkpoint: a chk-<n> directory, or a job directory
 * whose latest valid checkpoint is taken) and the checkpoint directory.
 *
 * SIGINT / SIGTERM (libevent signal events) cancel the job; a second one stops
 * waiting for the cancelled tasks.
 *
 * Threading: single-threaded; everything runs on the one event_base.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/ids.h"
#include "common/log.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/direct_slot_provider.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_master.h"
#include "rpc/rpc_client.h"
#include "tectl.h"

#define CONNECT_TIMEOUT_MS   5000
#define CALL_TIMEOUT_MS      10000
#define CANCEL_WAIT_MS       30000 /* how long to wait for final states after cancelling */
#define PROGRESS_INTERVAL_MS 1000
#define RECONNECT_MS         3000 /* a restart retries unreachable executors this long */

/* How submit reports: plain lines (piped), plain lines + one live progress line
 * (terminal), or JSON lines (--json). */
typedef enum out_mode { OUT_PLAIN, OUT_TTY, OUT_JSON } out_mode_t;

typedef struct submit {
    const args_t *a;
    out_mode_t mode;
    int progress_shown; /* the progress line is on the terminal's last line */
    te_job_graph_t *g;
    char *graph_text;
    char *ckpt_root; /* absolute; NULL when checkpoints are off and nothing is restored */
    te_id_t job_id;
    char job_hex[TE_ID_HEX_LEN + 1];
    te_job_master_t *jm;
    struct event_base *base;
    int n_signals;
} submit_t;

/* Erases the progress line so that a normal line can be printed in its place. */
static void progress_clear(submit_t *s)
{
    if (!s->progress_shown)
        return;
    fputs("\r\033[K", stdout);
    fflush(stdout);
    s->progress_shown = 0;
}

static void errf(submit_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A line on stderr, after clearing the progress line. */
static void errf(submit_t *s, const char *fmt, ...)
{
    va_list ap;
    progress_clear(s);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

static void print_time(FILE *f)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(f, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* Starts a plain stdout line (time stamp) after clearing the progress line. */
static void line_start(submit_t *s)
{
    progress_clear(s);
    print_time(stdout);
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

static const char *state_name(int state)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__execution_state__descriptor, state);
    return v ? v->name : "UNKNOWN";
}

/* OUT_TTY: (re)draws the one progress line (no newline; cleared before any other
 * output). Other modes: nothing. */
static void progress_draw(submit_t *s)
{
    te_job_progress_t p;
    if (s->mode != OUT_TTY || s->jm == NULL || job_master_plan(s->jm) == NULL ||
        job_master_state(s->jm) < TE_JOB_DEPLOYING)
        return;
    job_master_progress(s->jm, &p);
    int64_t el = p.elapsed_ms / 1000;
    char rate[32];
    printf("\r\033[K[%02lld:%02lld] %zu running, %zu finished", (long long)(el / 60), (long long)(el % 60),
           p.running, p.finished);
    if (p.failed_or_cancelled > 0)
        printf(", %zu failed/cancelled", p.failed_or_cancelled);
    printf(" of %zu tasks | %s records/s", p.tasks,
           p.sampled ? human_rate(p.records_per_s, rate, sizeof(rate)) : "-");
    if (p.last_checkpoint > 0)
        printf(" | checkpoint %llu", (unsigned long long)p.last_checkpoint);
    fflush(stdout);
    s->progress_shown = 1;
}

/* ---- what the JobMaster reports ------------------------------------------------------ */

static void on_state(void *arg, te_job_master_t *jm, te_job_state_t from, te_job_state_t to)
{
    submit_t *s = arg;
    (void)jm;
    (void)from;
    if (job_master_state_is_terminal(to))
        event_base_loopbreak(s->base);
}

static void on_plan(void *arg, te_job_master_t *jm)
{
    submit_t *s = arg;
    const te_job_plan_t *plan = job_master_plan(jm);
    size_t n_tasks = job_plan_n_tasks(plan);
    char hex[TE_ID_HEX_LEN + 1];
    if (s->mode == OUT_JSON) {
        json_t *tasks = json_array();
        for (size_t t = 0; t < n_tasks; t++) {
            const te_plan_task_t *task = job_plan_task(plan, t);
            json_array_append_new(tasks, json_pack("{s:s, s:s, s:s, s:i}", "execution_id",
                                                   te_id_to_hex(&task->execution_id, hex), "task", task->task_name,
                                                   "executor", job_master_executor_address(jm, task->executor),
                                                   "slot", (int)job_plan_slot(plan, task->slot)->slot_number));
        }
        tectl_json_emit(json_pack("{s:s, s:s, s:s, s:i, s:o}", "event", "plan", "job_id", s->job_hex, "job_name",
                                  job_graph_name(s->g), "slots", (int)job_plan_n_slots(plan), "tasks", tasks),
                        1);
        return;
    }
    progress_clear(s);
    printf("job %s (%s): %zu task(s) in %zu slot(s) on %zu executor(s)\n", s->job_hex, job_graph_name(s->g),
           n_tasks, job_plan_n_slots(plan), job_master_n_executors(jm));
    for (size_t t = 0; t < n_tasks; t++) {
        const te_plan_task_t *task = job_plan_task(plan, t);
        printf("  task %s %s on %s slot %d\n", te_id_to_hex(&task->execution_id, hex), task->task_name,
               job_master_executor_address(jm, task->executor), job_plan_slot(plan, task->slot)->slot_number);
    }
    fflush(stdout);
    progress_draw(s);
}

static void on_task_state(void *arg, te_job_master_t *jm, size_t t, const Te__TaskExecutionState *st)
{
    submit_t *s = arg;
    const te_plan_task_t *task = job_plan_task(job_master_plan(jm), t);
    if (s->mode == OUT_JSON) {
        char hex[TE_ID_HEX_LEN + 1], when[96];
        tectl_json_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I}", "event", "state", "time",
                                  tectl_iso_time_at(-1, when, sizeof(when)), "task", task->task_name,
                                  "execution_id", te_id_to_hex(&task->execution_id, hex), "executor",
                                  job_master_executor_address(jm, task->executor), "state", state_name(st->state),
                                  "cause", st->cause && st->cause[0] ? st->cause : NULL, "records_in",
                                  (json_int_t)st->records_in, "records_out", (json_int_t)st->records_out),
                        1);
        return;
    }
    line_start(s);
    printf(" %s %s", task->task_name, state_name(st->state));
    if (st->cause != NULL && st->cause[0] != '\0')
        printf(" %s", st->cause);
    printf("\n");
    fflush(stdout);
    progress_draw(s);
}

static void on_progress(void *arg, te_job_master_t *jm)
{
    submit_t *s = arg;
    if (s->mode != OUT_JSON) {
        progress_draw(s);
        return;
    }
    te_job_progress_t p;
    char when[96];
    job_master_progress(jm, &p);
    tectl_json_emit(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o}", "event", "progress", "time",
                              tectl_iso_time_at(-1, when, sizeof(when)), "tasks", (int)p.tasks, "running",
                              (int)p.running, "finished", (int)p.finished, "failed_or_cancelled",
                              (int)p.failed_or_cancelled, "records_out",
                              p.sampled ? json_integer((json_int_t)p.records_out) : json_null(),
                              "records_per_second", p.sampled ? json_real(p.records_per_s) : json_null()),
                    1);
}

static void on_checkpoint(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                          const te_ckpt_checkpoint_t *cp)
{
    submit_t *s = arg;
    char job_dir[4096], dir[4200], size[32], inflight[32], when[96];
    size_t n_tasks = 0;
    (void)jm;
    for (size_t v = 0; v < m->n_vertices; v++)
        n_tasks += m->vertices[v].n_handles;
    snprintf(job_dir, sizeof(job_dir), "%s/%s", s->ckpt_root ? s->ckpt_root : ".", s->job_hex);
    if (checkpoint_metadata_chk_dir(job_dir, m->checkpoint_id, dir, sizeof(dir)) == NULL)
        snprintf(dir, sizeof(dir), "%s", job_dir);
    if (s->mode == OUT_JSON) {
        tectl_json_emit(json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:I, s:f, s:I}", "event", "checkpoint",
                                  "time", tectl_iso_time_at(-1, when, sizeof(when)), "checkpoint_id",
                                  (json_int_t)m->checkpoint_id, "duration_ms", (json_int_t)m->duration_ms,
                                  "state_size", (json_int_t)m->state_size, "tasks", (int)n_tasks, "path", dir,
                                  "start_delay_ms_max", (json_int_t)cp->start_delay_ms_max, "alignment_ms_max",
                                  (double)cp->alignment_ns_max / 1e6, "in_flight_bytes",
                                  (json_int_t)cp->inflight_bytes),
                        1);
        return;
    }
    line_start(s);
    printf(" checkpoint %llu completed in %lld ms, %s, %zu tasks, start delay %llu ms, alignment %.1f ms, "
           "in-flight %s\n",
           (unsigned long long)m->checkpoint_id, (long long)m->duration_ms,
           tectl_human_bytes(m->state_size, size, sizeof(size)), n_tasks,
           (unsigned long long)cp->start_delay_ms_max, (double)cp->alignment_ns_max / 1e6,
           tectl_human_bytes(cp->inflight_bytes, inflight, sizeof(inflight)));
    fflush(stdout);
    progress_draw(s);
}

static void on_checkpoint_aborted(void *arg, te_job_master_t *jm, uint64_t id, const char *cause)
{
    submit_t *s = arg;
    (void)jm;
    if (s->mode == OUT_JSON) {
        char when[96];
        tectl_json_emit(json_pack("{s:s, s:s, s:I, s:s}", "event", "checkpoint_aborted", "time",
                                  tectl_iso_time_at(-1, when, sizeof(when)), "checkpoint_id", (json_int_t)id,
                                  "cause", cause),
                        1);
        return;
    }
    line_start(s);
    printf(" checkpoint %llu aborted: %s\n", (unsigned long long)id, cause);
    fflush(stdout);
}

static void on_restart(void *arg, te_job_master_t *jm, const char *cause, long attempt, long max_attempts,
                       uint64_t checkpoint_id)
{
    submit_t *s = arg;
    (void)jm;
    if (s->mode == OUT_JSON) {
        char when[96];
        tectl_json_emit(json_pack("{s:s, s:s, s:i, s:i, s:o, s:s}", "event", "restart", "time",
                                  tectl_iso_time_at(-1, when, sizeof(when)), "attempt", (int)attempt,
                                  "max_attempts", (int)max_attempts, "checkpoint_id",
                                  checkpoint_id ? json_integer((json_int_t)checkpoint_id) : json_null(), "cause",
                                  cause),
                        1);
        return;
    }
    line_start(s);
    if (checkpoint_id != 0)
        printf(" %s; restarting from checkpoint %llu (attempt %ld of %ld)\n", cause,
               (unsigned long long)checkpoint_id, attempt, max_attempts);
    else
        printf(" %s; restarting from the beginning, no checkpoint completed yet (attempt %ld of %ld)\n", cause,
               attempt, max_attempts);
    fflush(stdout);
}

static void on_log(void *arg, te_job_master_t *jm, te_log_level_t level, const char *msg)
{
    submit_t *s = arg;
    (void)jm;
    if (level >= TE_LOG_ERROR)
        errf(s, "tectl: %s\n", msg);
    else if (level == TE_LOG_WARN)
        errf(s, "tectl: warning: %s\n", msg);
    else
        TE_DEBUG("tectl", "%s", msg);
}

static const te_job_master_listener_t listener = {
    on_state, on_plan, on_task_state, on_progress, on_checkpoint, on_checkpoint_aborted, on_restart, on_log,
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    submit_t *s = arg;
    (void)what;
    if (s->n_signals++ == 0) {
        errf(s, "tectl: %s: cancelling the job\n", sig == SIGTERM ? "SIGTERM" : "interrupted");
        job_master_cancel(s->jm, NULL);
    } else {
        job_master_cancel(s->jm, "interrupted again");
    }
}

/* ---- the job to run ----------------------------------------------------------------------- */

/* The whole file as a string (NULL + err). */
static char *read_text_file(const char *path, te_error_t *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        te_error_set(err, TE_EIO, "cannot read '%s': %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        te_error_set(err, bad ? TE_EIO : TE_ENOMEM, "cannot read '%s'", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* An absolute version of path (relative ones against the working directory). */
static char *absolute_path(const char *path)
{
    if (path[0] == '/')
        return strdup(path);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return NULL;
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *p = malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", cwd, strcmp(path, ".") == 0 ? "" : path);
    return p;
}

/* <root> of a <root>/<job>/chk-<n> directory into buf; NULL when it has no such shape. */
static const char *root_of_chk_dir(const char *chk_dir, char *buf, size_t cap)
{
    char *real = realpath(chk_dir, NULL);
    const char *root = NULL;
    if (real == NULL)
        return NULL;
    char *p = strrchr(real, '/');
    if (p != NULL && p != real) {
        *p = '\0';
        p = strrchr(real, '/');
        if (p != NULL && p != real) {
            *p = '\0';
            snprintf(buf, cap, "%s", real);
            root = buf;
        }
    }
    free(real);
    return root;
}

/* Loads the job (file or checkpoint), its id, the checkpoint directory and what to
 * restore (*restore, handed over). Returns an exit code (message printed). */
static int submit_open(submit_t *s, te_ckpt_metadata_t **restore)
{
    const args_t *a = s->a;
    te_error_t err = {0};
    const char *job_file = a->n_pos > 0 ? a->pos[0] : NULL;
    te_ckpt_metadata_t *m = NULL;
    char root_buf[4096];
    const char *root = a->checkpoint_dir;
    if (a->from_checkpoint != NULL) {
        m = checkpoint_metadata_resolve(a->from_checkpoint, &err);
        if (m == NULL) {
            errf(s, "tectl: --from-checkpoint %s: %s\n", a->from_checkpoint, err.msg);
            return EXIT_JOB_FAILED;
        }
        *restore = m;
        if (te_id_from_hex(m->job_id, &s->job_id) != 0) {
            errf(s, "tectl: --from-checkpoint %s: the job id '%s' in its _metadata is not 32 hex characters\n",
                 a->from_checkpoint, m->job_id);
            return EXIT_JOB_FAILED;
        }
        if (root == NULL)
            root = root_of_chk_dir(m->dir, root_buf, sizeof(root_buf));
    } else {
        te_id_random(&s->job_id);
    }
    te_id_to_hex(&s->job_id, s->job_hex);
    if (job_file != NULL) {
        if ((s->g = job_graph_parse_file(job_file, &err)) == NULL) {
            errf(s, "tectl: invalid job: %s\n", err.msg);
            return EXIT_JOB_FAILED;
        }
        if ((s->graph_text = read_text_file(job_file, &err)) == NULL) {
            errf(s, "tectl: %s\n", err.msg);
            return EXIT_JOB_FAILED;
        }
    } else {
        if ((s->g = job_graph_parse_string(m->job_graph, &err)) == NULL) {
            errf(s, "tectl: the job graph in %s/_metadata is invalid: %s\n", m->dir, err.msg);
            return EXIT_JOB_FAILED;
        }
        if ((s->graph_text = strdup(m->job_graph)) == NULL) {
            errf(s, "tectl: out of memory\n");
            return EXIT_JOB_FAILED;
        }
    }
    if (root == NULL && a->checkpoint_interval_ms > 0)
        root = "checkpoints";
    if (root != NULL && (s->ckpt_root = absolute_path(root)) == NULL) {
        errf(s, "tectl: cannot resolve the checkpoint directory '%s'\n", root);
        return EXIT_JOB_FAILED;
    }
    return EXIT_OK;
}

/* The last line in the plain modes, the end event in JSON; returns the exit code. */
static int submit_report_end(submit_t *s)
{
    te_job_result_t r;
    job_master_result(s->jm, &r);
    int rc = r.state == TE_JOB_FINISHED   ? EXIT_OK
             : r.state == TE_JOB_CANCELED ? EXIT_CANCELLED
             : r.unreachable              ? EXIT_CONNECT
                                          : EXIT_JOB_FAILED;
    if (s->mode != OUT_JSON && (rc == EXIT_OK || rc == EXIT_CANCELLED)) {
        progress_clear(s);
        printf("%s\n", rc == EXIT_OK ? "job finished" : "job cancelled");
    } else if (rc == EXIT_JOB_FAILED && r.cause != NULL && !r.cause_reported) {
        if (r.max_restarts > 0)
            errf(s, "tectl: job failed: %s (after %ld restart(s) of %ld)\n", r.cause, r.restarts, r.max_restarts);
        else
            errf(s, "tectl: job failed: %s\n", r.cause);
    }
    progress_clear(s);
    if (s->mode == OUT_JSON) {
        const te_ckpt_metadata_t *latest = job_master_latest_checkpoint(s->jm);
        const char *result = rc == EXIT_OK ? "finished" : rc == EXIT_CANCELLED ? "cancelled" : "failed";
        tectl_json_emit(json_pack("{s:s, s:s, s:s, s:i, s:s?, s:i, s:i, s:i, s:i, s:o}", "event", "end", "job_id",
                                  s->job_hex, "result", result, "exit_code", rc, "cause",
                                  rc == EXIT_JOB_FAILED ? r.task_cause : NULL, "finished", (int)r.n_finished,
                                  "failed", (int)r.n_failed, "cancelled", (int)r.n_canceled, "restarts",
                                  (int)r.restarts, "checkpoint_id",
                                  latest ? json_integer((json_int_t)latest->checkpoint_id) : json_null()),
                        1);
    }
    return rc;
}

int tectl_submit(const args_t *a)
{
    submit_t s = {.a = a};
    te_ckpt_metadata_t *restore = NULL;
    te_direct_slot_provider_t *slots = NULL;
    struct event *sig_int = NULL, *sig_term = NULL;
    te_error_t err = {0};
    s.mode = a->json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN;
    int rc = submit_open(&s, &restore);
    if (rc != EXIT_OK)
        goto cleanup;
    rc = EXIT_JOB_FAILED;
    signal(SIGPIPE, SIG_IGN);
    if ((s.base = event_base_new()) == NULL) {
        errf(&s, "tectl: cannot create an event loop\n");
        goto cleanup;
    }
    te_direct_slot_provider_config_t pc = {
        .base = s.base,
        .addresses = a->executors,
        .n_addresses = a->n_executors,
        .sec = rpc_client_default_security(),
        .connect_timeout_ms = CONNECT_TIMEOUT_MS,
        .call_timeout_ms = CALL_TIMEOUT_MS,
        .reconnect_ms = RECONNECT_MS,
        .first_attempt_needs_all = a->restart_attempts == 0,
    };
    if ((slots = direct_slot_provider_new(&pc, &err)) == NULL) {
        errf(&s, "tectl: %s\n", err.msg);
        goto cleanup;
    }
    te_job_master_config_t jc = {
        .base = s.base,
        .graph = s.g,
        .graph_text = s.graph_text,
        .job_id = s.job_id,
        .slots = direct_slot_provider_get(slots),
        .checkpoint_root = s.ckpt_root,
        .checkpoint_interval_ms = a->checkpoint_interval_ms,
        .checkpoint_timeout_ms = a->checkpoint_timeout_ms,
        .restore = restore,
        .restore_explicit = restore != NULL && checkpoint_metadata_is_chk_dir(a->from_checkpoint),
        .restart_attempts = (long)a->restart_attempts,
        .restart_backoff_ms = a->restart_backoff_ms,
        .heartbeat_interval_ms = a->heartbeat_ms,
        .timeout_ms = a->timeout_ms,
        .cancel_wait_ms = CANCEL_WAIT_MS,
        .progress_interval_ms = s.mode != OUT_PLAIN ? PROGRESS_INTERVAL_MS : 0,
        .listener = &listener,
        .listener_arg = &s,
    };
    restore = NULL; /* the JobMaster's now */
    if ((s.jm = job_master_new(&jc, &err)) == NULL) {
        errf(&s, "tectl: %s\n", err.msg);
        goto cleanup;
    }
    const te_ckpt_metadata_t *m = job_master_latest_checkpoint(s.jm);
    if (m != NULL && s.mode != OUT_JSON)
        printf("resuming job %s from checkpoint %llu (%s)\n", s.job_hex, (unsigned long long)m->checkpoint_id,
               m->dir);
    sig_int = evsignal_new(s.base, SIGINT, on_signal, &s);
    sig_term = evsignal_new(s.base, SIGTERM, on_signal, &s);
    if (sig_int == NULL || sig_term == NULL || evsignal_add(sig_int, NULL) != 0 ||
        evsignal_add(sig_term, NULL) != 0) {
        errf(&s, "tectl: cannot install the signal handlers\n");
        goto cleanup;
    }
    job_master_start(s.jm);
    while (!job_master_state_is_terminal(job_master_state(s.jm)))
        if (event_base_loop(s.base, EVLOOP_ONCE) < 0) {
            errf(&s, "tectl: the event loop failed\n");
            break;
        }
    if (job_master_state_is_terminal(job_master_state(s.jm)))
        rc = submit_report_end(&s);
cleanup:
    checkpoint_metadata_free(restore);
    if (sig_int != NULL)
        event_free(sig_int);
    if (sig_term != NULL)
        event_free(sig_term);
    direct_slot_provider_free(slots);
    job_master_free(s.jm);
    if (s.base != NULL)
        event_base_free(s.base);
    job_graph_free(s.g);
    free(s.graph_text);
    free(s.ckpt_root);
    return rc;
}
