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

#include "common/file_io.h"
#include "common/ids.h"
#include "common/log.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/direct_slot_provider.h"
#include "jobmaster/job_events.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_master.h"
#include "rpc/rpc_client.h"
#include "tectl.h"
#include "tectl_render.h"

#define CONNECT_TIMEOUT_MS   5000
#define CALL_TIMEOUT_MS      10000
#define CANCEL_WAIT_MS       30000 /* how long to wait for final states after cancelling */
#define PROGRESS_INTERVAL_MS 1000
#define RECONNECT_MS         3000 /* a restart retries unreachable executors this long */

typedef struct submit {
    const args_t *a;
    tectl_render_t out;
    te_job_graph_t *g;
    char *graph_text;
    char *ckpt_root; /* absolute; NULL when checkpoints are off and nothing is restored */
    te_id_t job_id;
    char job_hex[TE_ID_HEX_LEN + 1];
    te_job_master_t *jm;
    struct event_base *base;
    int n_signals;
    int exit_code; /* of the end event */
} submit_t;

#define errf(s, ...) render_errf(&(s)->out, __VA_ARGS__)

/* Renders the event (taken). */
static void emit(submit_t *s, json_t *ev)
{
    if (ev == NULL) {
        errf(s, "tectl: out of memory building an event\n");
        return;
    }
    int rc = render_event(&s->out, ev);
    if (rc >= 0)
        s->exit_code = rc;
    json_decref(ev);
}

/* ---- what the JobMaster reports ------------------------------------------------------ */

static void on_state(void *arg, te_job_master_t *jm, te_job_state_t from, te_job_state_t to)
{
    submit_t *s = arg;
    (void)from;
    if (job_master_state_is_terminal(to)) {
        emit(s, job_event_end(jm));
        event_base_loopbreak(s->base);
    }
}

static void on_plan(void *arg, te_job_master_t *jm) { emit(arg, job_event_plan(jm)); }

static void on_task_state(void *arg, te_job_master_t *jm, size_t t, const Te__TaskExecutionState *st)
{
    emit(arg, job_event_task_state(jm, t, st));
}

static void on_progress(void *arg, te_job_master_t *jm) { emit(arg, job_event_progress(jm)); }

static void on_checkpoint(void *arg, te_job_master_t *jm, const te_ckpt_metadata_t *m,
                          const te_ckpt_checkpoint_t *cp)
{
    submit_t *s = arg;
    char job_dir[4096], dir[4200];
    (void)jm;
    snprintf(job_dir, sizeof(job_dir), "%s/%s", s->ckpt_root ? s->ckpt_root : ".", s->job_hex);
    if (checkpoint_metadata_chk_dir(job_dir, m->checkpoint_id, dir, sizeof(dir)) == NULL)
        snprintf(dir, sizeof(dir), "%s", job_dir);
    emit(s, job_event_checkpoint(m, cp, dir));
}

static void on_checkpoint_aborted(void *arg, te_job_master_t *jm, uint64_t id, const char *cause)
{
    (void)jm;
    emit(arg, job_event_checkpoint_aborted(id, cause));
}

static void on_restart(void *arg, te_job_master_t *jm, const char *cause, long attempt, long max_attempts,
                       uint64_t checkpoint_id)
{
    (void)jm;
    emit(arg, job_event_restart(cause, attempt, max_attempts, checkpoint_id));
}

static void on_log(void *arg, te_job_master_t *jm, te_log_level_t level, const char *msg)
{
    (void)jm;
    if (level >= TE_LOG_WARN)
        emit(arg, job_event_log(level, msg));
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
        if ((s->graph_text = file_read_all(job_file, NULL, &err)) == NULL) {
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

static int tectl_submit(const args_t *a)
{
    submit_t s = {.a = a};
    te_ckpt_metadata_t *restore = NULL;
    te_direct_slot_provider_t *slots = NULL;
    struct event *sig_int = NULL, *sig_term = NULL;
    te_error_t err = {0};
    render_init(&s.out, a->json);
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
        .allow_non_restored_state = a->allow_non_restored,
        .restart_attempts = (long)a->restart_attempts,
        .restart_backoff_ms = a->restart_backoff_ms,
        .heartbeat_interval_ms = a->heartbeat_ms,
        .timeout_ms = a->timeout_ms,
        .cancel_wait_ms = CANCEL_WAIT_MS,
        .progress_interval_ms = s.out.mode != OUT_PLAIN ? PROGRESS_INTERVAL_MS : 0,
        .listener = &listener,
        .listener_arg = &s,
    };
    restore = NULL; /* the JobMaster's now */
    if ((s.jm = job_master_new(&jc, &err)) == NULL) {
        errf(&s, "tectl: %s\n", err.msg);
        goto cleanup;
    }
    const te_ckpt_metadata_t *m = job_master_latest_checkpoint(s.jm);
    if (m != NULL && s.out.mode != OUT_JSON)
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
        rc = s.exit_code;
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
    render_free(&s.out);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static const char usage_submit[] =
    "usage: tectl submit JOB.json [--jobmanager HOST:PORT] [--attach] [--json]\n"
    "                    [--checkpoint-interval DUR] [--checkpoint-dir DIR]\n"
    "                    [--restart-attempts N] [--restart-backoff DUR]\n"
    "                    [--from-savepoint DIR [--allow-non-restored-state]]\n"
    "       tectl submit JOB.json --executor HOST:PORT [--executor HOST:PORT ...]\n"
    "                    [--heartbeat-interval 2s] [--timeout 0] [--json]\n"
    "                    [--checkpoint-interval DUR] [--checkpoint-dir DIR]\n"
    "                    [--checkpoint-timeout 10s] [--restart-attempts N]\n"
    "                    [--restart-backoff 500ms]\n"
    "       tectl submit --from-checkpoint DIR [JOB.json] --executor HOST:PORT ...\n"
    "\n"
    "With a JobManager (--jobmanager HOST:PORT of its REST port, or $TE_JOBMANAGER when\n"
    "no --executor is given): the job is handed to the JobManager, which stores it and\n"
    "runs it whether or not tectl stays; tectl prints the job id and exits 0 once the\n"
    "job is stored (--json: {\"job_id\": ...}). --attach then follows it like\n"
    "`tectl attach` (state changes, the progress line, the job's exit code; Ctrl-C\n"
    "detaches and leaves the job running). --from-savepoint DIR starts the job from a\n"
    "savepoint (operator state matched by uid); state of an operator the job no longer\n"
    "has is refused unless --allow-non-restored-state. Relative --checkpoint-dir and\n"
    "--from-savepoint paths are made absolute here (the TaskExecutors write there).\n"
    "\n"
    "With --executor (direct mode) tectl is the job's JobManager itself:\n"
    "\n"
    "Plans the job onto the executors' slots (slot sharing: the job needs as many slots as\n"
    "its largest vertex parallelism; shared slot i goes to executor i modulo the number of\n"
    "executors), registers as the job's JobManager, requests the slots, submits every\n"
    "subtask and stays attached: one line per task state change\n"
    "(\"<time> <task> <STATE> [cause]\"). Prints the job id and every task's execution id\n"
    "first (for `tectl cancel`). On a terminal a live progress line below them shows\n"
    "tasks running / finished and the job's records/s (records out summed over its\n"
    "tasks); piped, only the plain lines are printed.\n"
    "\n"
    "Checkpoints (--checkpoint-interval > 0): tectl is the job's checkpoint coordinator.\n"
    "Every interval, once every task runs and no checkpoint is pending, it triggers\n"
    "checkpoint n+1 on the source tasks; when every task acknowledged it, it writes\n"
    "DIR/<job id>/chk-<n>/_metadata (atomically), keeps the last 3 completed checkpoints\n"
    "and confirms it to every task (sinks commit); one line per completed checkpoint\n"
    "(\"checkpoint N completed in D ms, SIZE, T tasks, start delay S ms, alignment A ms,\n"
    "in-flight B\": S is the longest wait of a task for its first barrier, A the longest\n"
    "barrier alignment, B the in-flight data an unaligned checkpoint stored). A decline or\n"
    "--checkpoint-timeout aborts it; more consecutive aborted checkpoints than the job's\n"
    "execution.checkpointing.tolerable-failed-checkpoints (config, default 0) fail the job\n"
    "over (a restart, see below). The job configuration gets state.checkpoints.dir = DIR\n"
    "(made absolute) and execution.checkpointing.interval = DUR (sinks then commit exactly\n"
    "once).\n"
    "\n"
    "Restarts (--restart-attempts N > 0): when a task fails or an executor is lost, the\n"
    "job is cancelled, its slots freed, and after --restart-backoff it is redeployed on\n"
    "the executors that answer (each given address is retried: a restarted daemon comes\n"
    "back) with new execution ids, attempt number + 1 and the state of the latest\n"
    "completed checkpoint (\"restarting from checkpoint N (attempt k of M)\").\n"
    "\n"
    "--from-checkpoint DIR resumes a job (same job id) from a chk-<n> directory, or from\n"
    "the latest valid checkpoint of a job directory DIR/<job id>. The job graph comes\n"
    "from its _metadata unless JOB.json is given (vertex parallelism may differ: keyed\n"
    "state is redistributed by key group). New checkpoints go to the same checkpoint\n"
    "directory unless --checkpoint-dir is given.\n"
    "\n"
    "Ends when every task FINISHED (exit 0). When a task fails and no restart attempt\n"
    "is left, the others are cancelled (exit 1). Ctrl-C / SIGTERM cancels every task and\n"
    "waits for them (exit 130; a second Ctrl-C stops waiting). Slots are always freed and\n"
    "the JobManager disconnected.\n"
    "\n"
    "Options:\n"
    "  --jobmanager HOST:PORT       the JobManager's REST address (jobmanager.rest.port)\n"
    "  --attach                     follow the job after submitting it (JobManager)\n"
    "  --from-savepoint DIR         start from a savepoint (JobManager)\n"
    "  --allow-non-restored-state   drop restored state the job does not claim (a vertex it\n"
    "                               no longer has, an operator uid gone from a chain)\n"
    "  --executor HOST:PORT         an executor's RPC address (taskmanager.rpc.port);\n"
    "                               repeat for several executors\n"
    "  --heartbeat-interval DUR     heartbeat period per executor (default 2s)\n"
    "  --timeout DUR                cancel the job and exit 1 if it has not ended by then\n"
    "                               (default 0 = no limit)\n"
    "  --checkpoint-interval DUR    trigger a checkpoint every DUR (default 0 = none)\n"
    "  --checkpoint-dir DIR         where checkpoints go (default ./checkpoints)\n"
    "  --checkpoint-timeout DUR     abort a checkpoint not complete by then (default 10s)\n"
    "  --restart-attempts N         restarts after failures (default 0 = fail the job)\n"
    "  --restart-backoff DUR        wait before each restart (default 500ms)\n"
    "  --from-checkpoint DIR        resume from a checkpoint (see above)\n"
    "  --json                       JSON lines on stdout, one event per line:\n"
    "                               {\"event\":\"plan\",...} per deployment, {\"event\":\"state\",...}\n"
    "                               per state change, {\"event\":\"progress\",...} every second,\n"
    "                               {\"event\":\"checkpoint\",...} per completed checkpoint,\n"
    "                               {\"event\":\"checkpoint_aborted\",...}, {\"event\":\"restart\",...},\n"
    "                               {\"event\":\"end\",\"result\":...,\"exit_code\":N} last\n"
    "\n"
    "Exit codes: 0 every task FINISHED, 1 failed (restart attempts exhausted) / rejected /\n"
    "invalid job / executor lost / --timeout, 2 usage, 3 cannot connect, 130 cancelled.\n"
    "\n"
    "Example:\n"
    "  tectl submit conf/jobs/wordcount.json --jobmanager 127.0.0.1:8081 --attach\n"
    "  tectl submit conf/jobs/wordcount.json --executor 127.0.0.1:6122\n"
    "  tectl submit job.json --executor 127.0.0.1:6122 --checkpoint-interval 1s \\\n"
    "      --checkpoint-dir /var/lib/te/checkpoints --restart-attempts 5\n"
    "  tectl submit --from-checkpoint /var/lib/te/checkpoints/<job id> --executor 127.0.0.1:6122\n";

static const opt_t submit_opts[] = {
    OPT("executor", OPT_ADDRESS, executors, NULL),
    OPT("heartbeat-interval", OPT_DURATION_POS, heartbeat_ms, "a positive duration (e.g. 2s, 500ms)"),
    OPT("timeout", OPT_DURATION, timeout_ms, "a duration (e.g. 10min, 30s; 0 = no limit)"),
    OPT("checkpoint-interval", OPT_DURATION, checkpoint_interval_ms, "a duration (e.g. 200ms, 1s; 0 = off)"),
    OPT("checkpoint-dir", OPT_DIR, checkpoint_dir, NULL),
    OPT("checkpoint-timeout", OPT_DURATION_POS, checkpoint_timeout_ms, "a positive duration (e.g. 10s)"),
    OPT("restart-attempts", OPT_COUNT, restart_attempts, "a number between 0 and 1000000"),
    OPT("restart-backoff", OPT_DURATION, restart_backoff_ms, "a duration (e.g. 500ms, 2s)"),
    OPT("from-checkpoint", OPT_DIR, from_checkpoint, NULL),
    OPT("jobmanager", OPT_TEXT, jobmanager, NULL),
    OPT("attach", OPT_FLAG, attach, NULL),
    OPT("from-savepoint", OPT_DIR, from_savepoint, NULL),
    OPT("allow-non-restored-state", OPT_FLAG, allow_non_restored, NULL),
    {NULL, 0, 0, NULL},
};

/* Options of one mode only: given in the other, they are a usage error. */
static const char *const direct_only[] = {"heartbeat-interval", "timeout", "checkpoint-timeout", "from-checkpoint",
                                          NULL};
static const char *const cluster_only[] = {"jobmanager", "attach", "from-savepoint", NULL};

static int cmd_submit(const args_t *a)
{
    const char *jm = a->n_executors == 0 ? tectl_jobmanager(a) : a->jobmanager;
    const char *const *wrong = jm != NULL ? direct_only : cluster_only;
    for (size_t i = 0; wrong[i] != NULL; i++)
        if (tectl_opt_given(a, submit_opts, wrong[i]))
            return tectl_usage_error("submit",
                                     jm != NULL ? "--%s needs --executor (direct mode)"
                                                : "--%s needs a JobManager (--jobmanager or $TE_JOBMANAGER)",
                                     wrong[i]);
    if (jm != NULL && a->n_executors > 0)
        return tectl_usage_error("submit", "%s", "--executor and --jobmanager exclude each other");
    if (jm != NULL) {
        if (a->n_pos != 1)
            return tectl_usage_error("submit", "%s", "expected exactly one JOB.json");
        return tectl_cluster_submit(a, a->pos[0]);
    }
    if (a->from_checkpoint != NULL ? a->n_pos > 1 : a->n_pos != 1)
        return tectl_usage_error("submit", "%s",
                                 a->from_checkpoint ? "expected at most one JOB.json with --from-checkpoint"
                                                    : "expected exactly one JOB.json");
    if (a->n_executors == 0)
        return tectl_usage_error("submit", "%s",
                                 "expected --jobmanager HOST:PORT (or $TE_JOBMANAGER) or at least one --executor "
                                 "HOST:PORT");
    return tectl_submit(a);
}

const command_t tectl_submit_command = {"submit", usage_submit, submit_opts, cmd_submit};
