/*
 * tectl_cluster — tectl as the JobManager's client (its REST API, tectl_http): submit
 * a job and print its id, attach to a job (its events rendered by tectl_render, polled
 * from GET /v1/jobs/<id>/events), jobs, job, cancel, savepoint, stop, taskmanagers.
 * The JobManager's address is --jobmanager HOST:PORT or $TE_JOBMANAGER.
 *
 * Exit codes: 0 ok, 1 refused (the error the JobManager gives) or the job failed, 2
 * usage, 3 the JobManager cannot be reached, 130 cancelled (attach: Ctrl-C detaches).
 *
 * Threading: single-threaded; SIGINT / SIGTERM only set a flag the attach loop reads.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/file_io.h"
#include "tectl.h"
#include "tectl_http.h"
#include "tectl_render.h"

#define HTTP_TIMEOUT_MS  10000
#define POLL_MS          200
#define UNREACHABLE_MS   1000
#define JSON_PROGRESS_MS 1000
#define SAVEPOINT_MS     600000

static volatile sig_atomic_t g_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

/* The JobManager's address or a usage error (returns NULL, *rc set). */
static const char *jm_address(const args_t *a, const char *cmd, int *rc)
{
    const char *jm = tectl_jobmanager(a);
    if (jm == NULL)
        *rc = tectl_usage_error(cmd, "%s", "expected --jobmanager HOST:PORT (the REST port) or $TE_JOBMANAGER");
    return jm;
}

/* One request; the exit code of a failure (message printed) or 0 with *out filled. */
static int request(const char *jm, const char *method, const char *path, json_t *body, int timeout_ms,
                   tectl_http_reply_t *out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    int rc = tectl_http(jm, method, path, text, text ? strlen(text) : 0, timeout_ms, out);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "tectl: cannot reach the JobManager at %s: %s\n", jm, out->error);
        return EXIT_CONNECT;
    }
    if (out->status >= 300) {
        fprintf(stderr, "tectl: %s\n", tectl_http_error(out));
        return EXIT_JOB_FAILED;
    }
    if (out->json == NULL) {
        fprintf(stderr, "tectl: %s: %s\n", jm, out->error);
        return EXIT_JOB_FAILED;
    }
    return EXIT_OK;
}

static int job_id_arg(const args_t *a, const char *cmd, size_t n, char *hex, int *rc)
{
    if (a->n_pos != n) {
        *rc = tectl_usage_error(cmd, "%s", n == 1 ? "expected exactly one JOB_ID" : "expected JOB_ID and DIR");
        return -1;
    }
    const char *id = a->pos[0];
    size_t len = strlen(id);
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f') || (id[i] >= 'A' && id[i] <= 'F')))
            len = 0;
    if (len != 32) {
        *rc = tectl_usage_error(cmd, "'%s' is not a job id (32 hex characters)", id);
        return -1;
    }
    snprintf(hex, 33, "%s", id);
    return 0;
}

/* path made absolute against the working directory (the JobManager and the
 * TaskExecutors do not share tectl's). */
static json_t *abs_path_json(const char *path)
{
    if (path[0] == '/')
        return json_string(path);
    char cwd[4096], buf[8300];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return json_string(path);
    snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
    return json_string(buf);
}

/* ---- attach ------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Follows the job until its end event; returns its exit code. */
static int attach(const args_t *a, const char *jm, const char *job)
{
    tectl_render_t r;
    render_init(&r, a->json);
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    uint64_t since = 0;
    int rc = -1, complained = 0;
    int64_t last_json_progress = 0;
    char path[128];
    while (rc < 0 && !g_interrupted) {
        tectl_http_reply_t rep;
        snprintf(path, sizeof(path), "/v1/jobs/%s/events?since=%llu", job, (unsigned long long)since);
        if (tectl_http(jm, "GET", path, NULL, 0, HTTP_TIMEOUT_MS, &rep) != 0 || rep.json == NULL ||
            rep.status >= 500) {
            if (!complained++)
                render_errf(&r, "tectl: the JobManager at %s does not answer (%s); still trying\n", jm,
                            tectl_http_error(&rep));
            tectl_http_reply_free(&rep);
            sleep_ms(UNREACHABLE_MS);
            continue;
        }
        if (rep.status != 200) {
            render_errf(&r, "tectl: %s\n", tectl_http_error(&rep));
            tectl_http_reply_free(&rep);
            rc = EXIT_JOB_FAILED;
            break;
        }
        if (complained) {
            render_errf(&r, "tectl: the JobManager at %s answers again\n", jm);
            complained = 0;
        }
        uint64_t last = (uint64_t)json_integer_value(json_object_get(rep.json, "last_seq"));
        if (last < since) { /* a new JobManager process recovered the job: its events start over */
            render_errf(&r, "tectl: the JobManager restarted; following the recovered job\n");
            since = 0;
            tectl_http_reply_free(&rep);
            continue;
        }
        json_t *events = json_object_get(rep.json, "events"), *ev;
        size_t i;
        json_array_foreach(events, i, ev)
        {
            since = (uint64_t)json_integer_value(json_object_get(ev, "seq"));
            int end = render_event(&r, ev);
            if (end >= 0)
                rc = end;
        }
        json_t *progress = json_object_get(rep.json, "progress");
        if (rc < 0 && json_is_object(progress) &&
            (r.mode != OUT_JSON || now_ms() - last_json_progress >= JSON_PROGRESS_MS)) {
            json_object_set_new(progress, "event", json_string("progress"));
            render_event(&r, progress);
            last_json_progress = now_ms();
        }
        tectl_http_reply_free(&rep);
        if (rc < 0)
            sleep_ms(POLL_MS);
    }
    if (rc < 0) {
        render_errf(&r, "tectl: detached; job %s keeps running (tectl cancel %s to cancel it)\n", job, job);
        rc = EXIT_CANCELLED;
    }
    render_free(&r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}

static int cmd_attach(const args_t *a)
{
    int rc = 0;
    char job[33];
    const char *jm = jm_address(a, "attach", &rc);
    if (jm == NULL || job_id_arg(a, "attach", 1, job, &rc) != 0)
        return rc;
    return attach(a, jm, job);
}

/* ---- submit ------------------------------------------------------------------------------- */

int tectl_cluster_submit(const args_t *a, const char *job_file)
{
    const char *jm = tectl_jobmanager(a);
    te_error_t err = {0};
    json_error_t jerr;
    char *text = file_read_all(job_file, NULL, &err);
    if (text == NULL) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_JOB_FAILED;
    }
    json_t *graph = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (graph == NULL) {
        fprintf(stderr, "tectl: invalid job: %s:%d:%d: %s\n", job_file, jerr.line, jerr.column, jerr.text);
        return EXIT_JOB_FAILED;
    }
    json_t *body = json_pack("{s:o}", "job", graph);
    if (a->checkpoint_interval_ms > 0)
        json_object_set_new(body, "checkpoint_interval", json_integer(a->checkpoint_interval_ms));
    if (a->checkpoint_dir != NULL)
        json_object_set_new(body, "checkpoint_dir", abs_path_json(a->checkpoint_dir));
    if (tectl_opt_given(a, tectl_submit_command.opts, "restart-attempts"))
        json_object_set_new(body, "restart_attempts", json_integer(a->restart_attempts));
    if (tectl_opt_given(a, tectl_submit_command.opts, "restart-backoff"))
        json_object_set_new(body, "restart_backoff", json_integer(a->restart_backoff_ms));
    if (a->from_savepoint != NULL)
        json_object_set_new(body, "from_savepoint", abs_path_json(a->from_savepoint));
    if (a->allow_non_restored)
        json_object_set_new(body, "allow_non_restored_state", json_true());
    tectl_http_reply_t rep;
    int rc = request(jm, "POST", "/v1/jobs", body, HTTP_TIMEOUT_MS, &rep);
    if (rc != EXIT_OK) {
        tectl_http_reply_free(&rep);
        return rc;
    }
    const char *id = json_string_value(json_object_get(rep.json, "job_id"));
    char job[33];
    snprintf(job, sizeof(job), "%s", id ? id : "");
    if (a->json && !a->attach)
        tectl_json_emit(json_incref(rep.json), 0);
    else if (a->attach && !a->json)
        printf("job %s submitted to %s\n", job, jm);
    else if (!a->attach)
        printf("%s\n", job);
    fflush(stdout);
    tectl_http_reply_free(&rep);
    return a->attach ? attach(a, jm, job) : EXIT_OK;
}

static const char *str(const json_t *o, const char *key);

/* ---- cancel, savepoint, stop ------------------------------------------------------------------ */

int tectl_cluster_cancel(const args_t *a)
{
    int rc = 0;
    char job[33], path[80];
    const char *jm = tectl_jobmanager(a);
    if (job_id_arg(a, "cancel", 1, job, &rc) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/jobs/%s", job);
    tectl_http_reply_t rep;
    if ((rc = request(jm, "DELETE", path, NULL, HTTP_TIMEOUT_MS, &rep)) == EXIT_OK) {
        if (a->json)
            tectl_json_emit(json_incref(rep.json), 0);
        else
            printf("job %s: cancelling\n", job);
    }
    tectl_http_reply_free(&rep);
    return rc;
}

static int cmd_savepoint(const args_t *a)
{
    int rc = 0;
    char job[33], path[96];
    const char *jm = jm_address(a, "savepoint", &rc);
    if (jm == NULL || job_id_arg(a, "savepoint", 2, job, &rc) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/jobs/%s/savepoints", job);
    tectl_http_reply_t rep;
    if ((rc = request(jm, "POST", path, json_pack("{s:o}", "dir", abs_path_json(a->pos[1])), SAVEPOINT_MS,
                      &rep)) == EXIT_OK) {
        if (a->json)
            tectl_json_emit(json_incref(rep.json), 0);
        else
            printf("savepoint %lld of job %s: %s\n",
                   (long long)json_integer_value(json_object_get(rep.json, "checkpoint_id")), job,
                   json_string_value(json_object_get(rep.json, "path")));
    }
    tectl_http_reply_free(&rep);
    return rc;
}

static int cmd_stop(const args_t *a)
{
    int rc = 0;
    char job[33], path[96];
    const char *jm = jm_address(a, "stop", &rc);
    if (jm == NULL || job_id_arg(a, "stop", 1, job, &rc) != 0)
        return rc;
    if (a->savepoint_dir == NULL)
        return tectl_usage_error("stop", "%s", "expected --savepoint-dir DIR");
    snprintf(path, sizeof(path), "/v1/jobs/%s/stop", job);
    tectl_http_reply_t rep;
    if ((rc = request(jm, "POST", path, json_pack("{s:o}", "savepoint_dir", abs_path_json(a->savepoint_dir)),
                      SAVEPOINT_MS, &rep)) != EXIT_OK) {
        tectl_http_reply_free(&rep);
        return rc;
    }
    /* the sources ended at the savepoint's barrier: wait for the job to finish */
    char state[32] = "";
    snprintf(path, sizeof(path), "/v1/jobs/%s", job);
    for (int64_t end = now_ms() + SAVEPOINT_MS; now_ms() < end;) {
        tectl_http_reply_t st;
        if (tectl_http(jm, "GET", path, NULL, 0, HTTP_TIMEOUT_MS, &st) == 0 && st.json != NULL)
            snprintf(state, sizeof(state), "%s", str(st.json, "state"));
        tectl_http_reply_free(&st);
        if (!strcmp(state, "FINISHED") || !strcmp(state, "FAILED") || !strcmp(state, "CANCELED"))
            break;
        sleep_ms(POLL_MS);
    }
    if (a->json) {
        json_object_set_new(rep.json, "state", json_string(state));
        tectl_json_emit(json_incref(rep.json), 0);
    } else {
        printf("job %s stopped with savepoint %lld: %s (job %s)\n", job,
               (long long)json_integer_value(json_object_get(rep.json, "checkpoint_id")),
               json_string_value(json_object_get(rep.json, "path")), state);
    }
    tectl_http_reply_free(&rep);
    return strcmp(state, "FINISHED") == 0 ? EXIT_OK : EXIT_JOB_FAILED;
}

/* ---- jobs, job, taskmanagers ------------------------------------------------------------------ */

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static const char *num_text(const json_t *o, const char *key, char *buf, size_t cap)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        return "-";
    snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    return buf;
}

static int get_view(const args_t *a, const char *cmd, const char *path, tectl_http_reply_t *rep)
{
    int rc = 0;
    const char *jm = jm_address(a, cmd, &rc);
    if (jm == NULL)
        return rc;
    rc = request(jm, "GET", path, NULL, HTTP_TIMEOUT_MS, rep);
    if (rc == EXIT_OK && a->json)
        tectl_json_emit(json_incref(rep->json), 0);
    return rc;
}

static int cmd_jobs(const args_t *a)
{
    tectl_http_reply_t rep = {0};
    if (a->n_pos != 0)
        return tectl_usage_error("jobs", "%s", "expected no argument");
    int rc = get_view(a, "jobs", "/v1/jobs", &rep);
    if (rc == EXIT_OK && !a->json) {
        const json_t *jobs = json_object_get(rep.json, "jobs"), *j;
        size_t i;
        tectl_table_t t = {.n_cols = 7};
        t.right[4] = t.right[5] = 1;
        tectl_table_add(
            &t, (const char *[]){"JOB", "NAME", "STATE", "SUBMITTED", "DURATION", "RESTARTS", "CHECKPOINT"});
        json_array_foreach(jobs, i, j)
        {
            char when[64], dur[32], restarts[24], ckpt[24];
            snprintf(dur, sizeof(dur), "%.1f s",
                     (double)json_integer_value(json_object_get(j, "duration_ms")) / 1000.0);
            const json_t *lc = json_object_get(j, "last_checkpoint");
            tectl_table_add(
                &t, (const char *[]){str(j, "job_id"), str(j, "name"), str(j, "state"),
                                     tectl_iso_time_at(json_integer_value(json_object_get(j, "submitted_ms")),
                                                       when, sizeof(when)),
                                     dur, num_text(j, "restarts", restarts, sizeof(restarts)),
                                     json_is_object(lc) ? num_text(lc, "id", ckpt, sizeof(ckpt)) : "-"});
        }
        if (json_array_size(jobs) == 0) {
            tectl_table_free(&t);
            printf("no jobs\n");
        } else {
            tectl_table_print_free(&t);
        }
    }
    tectl_http_reply_free(&rep);
    return rc;
}

static void print_job(const json_t *j)
{
    printf("job %s (%s): %s", str(j, "job_id"), str(j, "name"), str(j, "state"));
    if (json_is_string(json_object_get(j, "waiting_reason")))
        printf(" (%s)", str(j, "waiting_reason"));
    printf("\n  restarts %lld of %lld, checkpoints %lld completed, %lld failed\n",
           (long long)json_integer_value(json_object_get(j, "restarts")),
           (long long)json_integer_value(json_object_get(j, "max_restarts")),
           (long long)json_integer_value(json_object_get(json_object_get(j, "checkpoints"), "completed")),
           (long long)json_integer_value(json_object_get(json_object_get(j, "checkpoints"), "failed")));
    if (json_is_string(json_object_get(j, "failure_cause")))
        printf("  failure: %s\n", str(j, "failure_cause"));
    const json_t *lc = json_object_get(j, "last_checkpoint");
    if (json_is_object(lc))
        printf("  last checkpoint %lld: %s\n", (long long)json_integer_value(json_object_get(lc, "id")),
               str(lc, "path"));
    tectl_table_t t = {.n_cols = 7};
    t.right[4] = t.right[5] = 1;
    tectl_table_add(&t, (const char *[]){"TASK", "STATE", "TASKMANAGER", "SLOT", "IN", "OUT", "EXECUTION"});
    const json_t *vertices = json_object_get(j, "vertices"), *v, *s;
    size_t i, k;
    json_array_foreach(vertices, i, v)
    {
        json_array_foreach(json_object_get(v, "subtasks"), k, s)
        {
            char slot[16], in[24], out[24];
            tectl_table_add(&t, (const char *[]){str(s, "name"), str(s, "state"), str(s, "taskmanager"),
                                                 num_text(s, "slot", slot, sizeof(slot)),
                                                 num_text(s, "records_in", in, sizeof(in)),
                                                 num_text(s, "records_out", out, sizeof(out)),
                                                 str(s, "execution_id")});
        }
    }
    if (t.n_rows > 1)
        tectl_table_print_free(&t);
    else
        tectl_table_free(&t);
}

static int cmd_job(const args_t *a)
{
    int rc = 0;
    char job[33], path[80];
    if (job_id_arg(a, "job", 1, job, &rc) != 0)
        return rc;
    snprintf(path, sizeof(path), "/v1/jobs/%s", job);
    tectl_http_reply_t rep = {0};
    if ((rc = get_view(a, "job", path, &rep)) == EXIT_OK && !a->json)
        print_job(rep.json);
    tectl_http_reply_free(&rep);
    return rc;
}

static int cmd_taskmanagers(const args_t *a)
{
    tectl_http_reply_t rep = {0};
    if (a->n_pos != 0)
        return tectl_usage_error("taskmanagers", "%s", "expected no argument");
    int rc = get_view(a, "taskmanagers", "/v1/taskmanagers", &rep);
    if (rc == EXIT_OK && !a->json) {
        const json_t *tms = json_object_get(rep.json, "taskmanagers"), *tm;
        size_t i;
        tectl_table_t t = {.n_cols = 6};
        t.right[3] = t.right[4] = t.right[5] = 1;
        tectl_table_add(&t, (const char *[]){"RESOURCE_ID", "RPC", "DATA", "SLOTS", "FREE", "HEARTBEAT_AGE_MS"});
        json_array_foreach(tms, i, tm)
        {
            char n1[16], n2[16], n3[24];
            tectl_table_add(&t,
                            (const char *[]){str(tm, "resource_id"), str(tm, "rpc_address"),
                                             str(tm, "data_address"), num_text(tm, "slots_total", n1, sizeof(n1)),
                                             num_text(tm, "slots_free", n2, sizeof(n2)),
                                             num_text(tm, "last_heartbeat_age_ms", n3, sizeof(n3))});
        }
        if (json_array_size(tms) == 0) {
            tectl_table_free(&t);
            printf("no TaskExecutor is registered\n");
        } else {
            tectl_table_print_free(&t);
        }
    }
    tectl_http_reply_free(&rep);
    return rc;
}

/* ---- the command table ---------------------------------------------------------------------------- */

static const opt_t jm_opts[] = {OPT("jobmanager", OPT_TEXT, jobmanager, NULL), {NULL, 0, 0, NULL}};
static const opt_t stop_opts[] = {
    OPT("jobmanager", OPT_TEXT, jobmanager, NULL),
    OPT("savepoint-dir", OPT_DIR, savepoint_dir, NULL),
    {NULL, 0, 0, NULL},
};

#define JM_OPTION "  --jobmanager HOST:PORT   the JobManager's REST address (default $TE_JOBMANAGER)\n"

static const char usage_attach[] =
    "usage: tectl attach JOB_ID [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Follows a job of the JobManager from its first retained event: the plan (tasks,\n"
    "their TaskExecutors and slots), one line per task state change, checkpoints,\n"
    "restarts, and on a terminal a live progress line; ends with the job. A JobManager\n"
    "that restarts meanwhile is waited for. Ctrl-C detaches (the job keeps running).\n"
    "\n"
    "Options:\n" JM_OPTION "  --json                   the events as JSON lines (as `tectl submit --json`)\n"
    "\n"
    "Exit codes: 0 the job FINISHED, 1 it FAILED, 2 usage, 3 the JobManager cannot be\n"
    "reached, 130 the job was cancelled or tectl detached.\n"
    "\n"
    "Example:\n"
    "  tectl attach 0c7e3a1f9b2d4c6e8a0b1c2d3e4f5a6b --jobmanager 127.0.0.1:8081\n";

static const char usage_jobs[] =
    "usage: tectl jobs [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Lists the JobManager's jobs, running and ended: id, name, state, submission time,\n"
    "duration, restarts, latest completed checkpoint.\n"
    "\n"
    "Options:\n" JM_OPTION "  --json                   GET /v1/jobs as it is\n"
    "\n"
    "Exit codes: 0 ok, 1 refused, 2 usage, 3 the JobManager cannot be reached.\n"
    "\n"
    "Example:\n"
    "  tectl jobs --jobmanager 127.0.0.1:8081\n";

static const char usage_job[] =
    "usage: tectl job JOB_ID [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Shows one job: state (and why it waits for slots), restarts, checkpoints, the\n"
    "failure cause, and every subtask with its state, TaskExecutor, slot and records.\n"
    "\n"
    "Options:\n" JM_OPTION "  --json                   GET /v1/jobs/<id> as it is\n"
    "\n"
    "Exit codes: 0 ok, 1 unknown job, 2 usage, 3 the JobManager cannot be reached.\n"
    "\n"
    "Example:\n"
    "  tectl job 0c7e3a1f9b2d4c6e8a0b1c2d3e4f5a6b --jobmanager 127.0.0.1:8081\n";

static const char usage_savepoint[] =
    "usage: tectl savepoint JOB_ID DIR [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Takes a savepoint of the running job into DIR (made absolute; the TaskExecutors\n"
    "write there): a self-contained checkpoint directory DIR/savepoint-<n> that retention\n"
    "never deletes and that `tectl submit --from-savepoint` starts a (changed) job from.\n"
    "Waits until it completed and prints its path.\n"
    "\n"
    "Options:\n" JM_OPTION "  --json                   {\"checkpoint_id\": N, \"path\": ...}\n"
    "\n"
    "Exit codes: 0 ok, 1 refused or failed (e.g. the job is not running), 2 usage, 3 the\n"
    "JobManager cannot be reached.\n"
    "\n"
    "Example:\n"
    "  tectl savepoint 0c7e3a1f9b2d4c6e8a0b1c2d3e4f5a6b /var/lib/te/savepoints\n";

static const char usage_stop[] =
    "usage: tectl stop JOB_ID --savepoint-dir DIR [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Stops the job with a savepoint (Flink's stop-with-savepoint): a final savepoint into\n"
    "DIR, then the sources end, every sink commits and the job FINISHES. Prints the\n"
    "savepoint's path once it completed.\n"
    "\n"
    "Options:\n"
    "  --savepoint-dir DIR      where the savepoint goes (made absolute)\n" JM_OPTION
    "  --json                   {\"checkpoint_id\": N, \"path\": ...}\n"
    "\n"
    "Exit codes: 0 ok, 1 refused (e.g. the job already ended) or failed, 2 usage, 3 the\n"
    "JobManager cannot be reached.\n"
    "\n"
    "Example:\n"
    "  tectl stop 0c7e3a1f9b2d4c6e8a0b1c2d3e4f5a6b --savepoint-dir /var/lib/te/savepoints\n";

static const char usage_taskmanagers[] =
    "usage: tectl taskmanagers [--jobmanager HOST:PORT] [--json]\n"
    "\n"
    "Lists the TaskExecutors registered with the JobManager: resource id, RPC and data\n"
    "addresses, slots and free slots, the age of the last heartbeat.\n"
    "\n"
    "Options:\n" JM_OPTION "  --json                   GET /v1/taskmanagers as it is\n"
    "\n"
    "Exit codes: 0 ok, 1 refused, 2 usage, 3 the JobManager cannot be reached.\n"
    "\n"
    "Example:\n"
    "  tectl taskmanagers --jobmanager 127.0.0.1:8081\n";

const command_t tectl_cluster_commands[] = {
    {"attach", usage_attach, jm_opts, cmd_attach},
    {"jobs", usage_jobs, jm_opts, cmd_jobs},
    {"job", usage_job, jm_opts, cmd_job},
    {"savepoint", usage_savepoint, jm_opts, cmd_savepoint},
    {"stop", usage_stop, stop_opts, cmd_stop},
    {"taskmanagers", usage_taskmanagers, jm_opts, cmd_taskmanagers},
    {NULL, NULL, NULL, NULL},
};
