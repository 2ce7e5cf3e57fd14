/*
 * tectl — the reference scheduler and command-line client of taskexecutord (a tiny
 * JobManager): `submit` plans a job JSON onto the slots of one or more executors,
 * deploys one TaskDeploymentDescriptor per subtask and stays attached, printing every
 * TaskExecutionState push, heartbeating, and cancelling on failure or Ctrl-C.
 * With --checkpoint-interval it is the job's checkpoint coordinator (trigger on the
 * sources, collect acks through lib/jobmaster/checkpoint_coordinator, write _metadata
 * through lib/jobmaster/checkpoint_metadata, confirm / abort); with --restart-attempts it
 * cancels a failed job and redeploys it from the latest completed checkpoint;
 * --from-checkpoint resumes a job. `checkpoints` lists retained checkpoints.
 * `list` shows the jobs and tasks on executors (RequestTaskReport); `slots` prints an
 * executor's slot report; `cancel` cancels executions by id. Every command takes
 * --json: one JSON document on stdout (submit: JSON lines, one event per line).
 * On a terminal, submit keeps one live progress line (tasks running / finished,
 * records/s) under the state-change lines; piped, it prints plain lines only.
 *
 * Threading: single-threaded. One blocking rpc_client per executor, multiplexed with
 * poll(2) over their sockets plus a self-pipe written by the SIGINT/SIGTERM handler
 * (the handler only sets a flag and writes one byte). Pushes are handled by
 * on_push, called from inside rpc_client_call / rpc_client_poll on this thread; it
 * only records (checkpoint acks/declines go into the coordinator) and never makes a
 * call itself: completions and aborts are acted on by the pump loop (ckpt_tick).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobmaster/checkpoint_coordinator.h"
#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/shared_state_registry.h"
#include "jobmaster/job_graph.h"
#include "jobmaster/job_plan.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/te_status.h"
#include "common/tls.h"
#include "rpc/rpc_client.h"
#include "rpc.pb-c.h"

#ifndef TE_VERSION
#define TE_VERSION "dev"
#endif

#define EXIT_OK         0
#define EXIT_JOB_FAILED 1
#define EXIT_USAGE      2
#define EXIT_CONNECT    3
#define EXIT_CANCELLED  130

#define CONNECT_TIMEOUT_MS   5000
#define CALL_TIMEOUT_MS      10000
#define CANCEL_WAIT_MS       30000 /* how long to wait for final states after cancelling */
#define MAX_EXECUTORS        64
#define MAX_POSITIONAL       256
#define PROGRESS_INTERVAL_MS 1000
#define RECONNECT_MS         3000 /* a restart retries unreachable executors this long */
#define RECONNECT_PAUSE_MS   100

/* ---- usage ------------------------------------------------------------------------- */

static const char usage_main[] =
    "usage: tectl [--version] [--help] <command> [<args>]\n"
    "\n"
    "The reference scheduler / client of taskexecutord.\n"
    "\n"
    "Commands:\n"
    "  submit   deploy a job (JSON) onto one or more executors and follow it to its end\n"
    "  list     show the jobs and tasks on one or more executors\n"
    "  slots    show an executor's slots\n"
    "  cancel   cancel task executions by id\n"
    "  checkpoints  list the retained checkpoints of a checkpoint directory\n"
    "\n"
    "`tectl <command> --help` shows a command's options and an example.\n"
    "Every command takes --json: machine-readable output on stdout (one JSON document;\n"
    "submit: JSON lines, one event per line). Errors stay plain text on stderr.\n"
    "\n"
    "Durations: 500ms, 2s, 1min, 1h (a bare number is milliseconds).\n"
    "\n"
    "Security options (any command, anywhere on the line; env in parentheses):\n"
    "  --token-file FILE   shared secret of security.auth.token-file (TE_TOKEN_FILE)\n"
    "  --tls-ca FILE       speak TLS; verify the daemon's certificate against FILE (TE_TLS_CA)\n"
    "  --tls-cert FILE     client certificate for mutual TLS (TE_TLS_CERT)\n"
    "  --tls-key FILE      its private key (TE_TLS_KEY)\n"
    "\n"
    "Exit codes:\n"
    "  0    ok (submit: every task FINISHED)\n"
    "  1    the job failed, was rejected or is invalid; an executor was lost; a cancel failed\n"
    "  2    usage error\n"
    "  3    cannot connect to an executor (list: at least one of them)\n"
    "  130  the job was cancelled (Ctrl-C / SIGTERM, or its tasks were cancelled)\n";

static const char usage_submit[] =
    "usage: tectl submit JOB.json --executor HOST:PORT [--executor HOST:PORT ...]\n"
    "                    [--heartbeat-interval 2s] [--timeout 0] [--json]\n"
    "                    [--checkpoint-interval DUR] [--checkpoint-dir DIR]\n"
    "                    [--checkpoint-timeout 10s] [--restart-attempts N]\n"
    "                    [--restart-backoff 500ms]\n"
    "       tectl submit --from-checkpoint DIR [JOB.json] --executor HOST:PORT ...\n"
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
    "barrier alignment, B the in-flight data an unaligned checkpoint stored). A decline or --checkpoint-timeout "
    "aborts it. The job\n"
    "configuration gets state.checkpoints.dir = DIR (made absolute).\n"
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
    "  tectl submit conf/jobs/wordcount.json --executor 127.0.0.1:6122\n"
    "  tectl submit job.json --executor 127.0.0.1:6122 --checkpoint-interval 1s \\\n"
    "      --checkpoint-dir /var/lib/te/checkpoints --restart-attempts 5\n"
    "  tectl submit --from-checkpoint /var/lib/te/checkpoints/<job id> --executor 127.0.0.1:6122\n";

static const char usage_checkpoints[] =
    "usage: tectl checkpoints --checkpoint-dir DIR [--job JOB_ID] [--json]\n"
    "\n"
    "Lists the retained completed checkpoints under DIR (DIR/<job id>/chk-<n>/_metadata)\n"
    "as a table: job id, job name, checkpoint id, time (UTC), duration, state size, number\n"
    "of task snapshots, directory. A corrupt or truncated _metadata is skipped with a\n"
    "warning on stderr.\n"
    "\n"
    "Options:\n"
    "  --checkpoint-dir DIR   the checkpoint directory (as given to `tectl submit`)\n"
    "  --job JOB_ID           only this job (32 hex characters)\n"
    "  --json                 one JSON document: {\"checkpoints\":[{\"job_id\":...,\n"
    "                         \"job_name\":...,\"checkpoint_id\":N,\"timestamp\":...,\n"
    "                         \"duration_ms\":...,\"state_size\":...,\"tasks\":N,\"path\":...}]}\n"
    "\n"
    "Exit codes: 0 ok (also when none), 1 the directory cannot be read, 2 usage.\n"
    "\n"
    "Example:\n"
    "  tectl checkpoints --checkpoint-dir ./checkpoints\n";

static const char usage_list[] =
    "usage: tectl list --executor HOST:PORT [--executor HOST:PORT ...] [--json]\n"
    "\n"
    "Shows the jobs and tasks each executor knows (running tasks and finished ones whose\n"
    "slot is still allocated) as a table: job id, job name, task, state, slot, records\n"
    "in / out, executor and execution id (for `tectl cancel`).\n"
    "\n"
    "Options:\n"
    "  --executor HOST:PORT   an executor's RPC address; repeat for several executors\n"
    "  --json                 one JSON document: {\"executors\":[{\"executor\":...,\n"
    "                         \"resource_id\":...,\"tasks\":[...]} or {..., \"error\":...}]}\n"
    "\n"
    "Exit codes: 0 ok, 1 an executor answered with an error, 2 usage, 3 an executor\n"
    "could not be reached (the others are still listed).\n"
    "\n"
    "Example:\n"
    "  tectl list --executor 127.0.0.1:6122 --executor 10.0.0.2:6122\n";

static const char usage_slots[] =
    "usage: tectl slots --executor HOST:PORT [--json]\n"
    "\n"
    "Prints the executor's slot report as a table: slot, state, job, allocation, number\n"
    "of tasks; then the data (partition server) address and the resource id.\n"
    "\n"
    "Options:\n"
    "  --json   one JSON document: {\"executor\":...,\"resource_id\":...,\n"
    "           \"data_address\":...,\"slots\":[{\"slot\":0,\"state\":\"FREE\",...}]}\n"
    "\n"
    "Exit codes: 0 ok, 1 the executor answered with an error, 2 usage, 3 cannot connect.\n"
    "\n"
    "Example:\n"
    "  tectl slots --executor 127.0.0.1:6122\n";

static const char usage_cancel[] =
    "usage: tectl cancel --executor HOST:PORT [--json] EXECUTION_ID...\n"
    "\n"
    "Cancels each task execution (32 hex characters, as printed by `tectl submit` and\n"
    "`tectl list`) on the executor and prints the result per id.\n"
    "\n"
    "Options:\n"
    "  --json   one JSON document: {\"results\":[{\"execution_id\":...,\"ok\":true,\n"
    "           \"error\":null}, ...]}\n"
    "\n"
    "Exit codes: 0 every cancel accepted, 1 any refused, 2 usage, 3 cannot connect.\n"
    "\n"
    "Example:\n"
    "  tectl cancel --executor 127.0.0.1:6122 4f1c0de0a1b2c3d4e5f60718293a4b5c\n";

/* ---- argument parsing ------------------------------------------------------------ */

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
    long restart_attempts;
    int64_t restart_backoff_ms;
    int help;
    int json;
} args_t;

enum {
    OPT_EXECUTOR = 1 << 0,
    OPT_HEARTBEAT = 1 << 1,
    OPT_TIMEOUT = 1 << 2,
    OPT_CKPT_INTERVAL = 1 << 3,
    OPT_CKPT_DIR = 1 << 4,
    OPT_CKPT_TIMEOUT = 1 << 5,
    OPT_RESTART_ATTEMPTS = 1 << 6,
    OPT_RESTART_BACKOFF = 1 << 7,
    OPT_FROM_CKPT = 1 << 8,
    OPT_JOB = 1 << 9,
};

/* Parses "500ms", "2s", "1min", "1h", "0" (bare = ms). 0 ok, -1 bad. */
static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno != 0 || v < 0)
        return -1;
    long long mul;
    if (*end == '\0' || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else
        return -1;
    if (v > INT64_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static int usage_error(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "tectl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(see `tectl %s --help`)\n", cmd ? cmd : "");
    return EXIT_USAGE;
}

/* Parses argv (after the command name). `allowed` is a mask of OPT_*. Returns 0 or an
 * exit code (usage error, message printed). */
static int args_parse(const char *cmd, int argc, char **argv, int allowed, args_t *a)
{
    memset(a, 0, sizeof(*a));
    a->heartbeat_ms = 2000;
    a->checkpoint_timeout_ms = 10000;
    a->restart_backoff_ms = 500;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strcmp(arg, "--json") == 0) {
            a->json = 1;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            for (i++; i < argc; i++) {
                if (a->n_pos == MAX_POSITIONAL)
                    return usage_error(cmd, "too many arguments (at most %s)", "256");
                a->pos[a->n_pos++] = argv[i];
            }
            break;
        }
        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (arg[0] == '-' && arg[1] != '\0')
                return usage_error(cmd, "unknown option '%s'", arg);
            if (a->n_pos == MAX_POSITIONAL)
                return usage_error(cmd, "too many arguments (at most %s)", "256");
            a->pos[a->n_pos++] = arg;
            continue;
        }
        static const struct {
            const char *name;
            int bit;
        } opts[] = {{"executor", OPT_EXECUTOR},
                    {"heartbeat-interval", OPT_HEARTBEAT},
                    {"timeout", OPT_TIMEOUT},
                    {"checkpoint-interval", OPT_CKPT_INTERVAL},
                    {"checkpoint-dir", OPT_CKPT_DIR},
                    {"checkpoint-timeout", OPT_CKPT_TIMEOUT},
                    {"restart-attempts", OPT_RESTART_ATTEMPTS},
                    {"restart-backoff", OPT_RESTART_BACKOFF},
                    {"from-checkpoint", OPT_FROM_CKPT},
                    {"job", OPT_JOB}};
        int bit = 0;
        const char *value = NULL;
        for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
            size_t n = strlen(opts[k].name);
            if (strncmp(arg + 2, opts[k].name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
                bit = opts[k].bit;
                value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            }
        }
        if (bit == 0 || !(allowed & bit))
            return usage_error(cmd, "unknown option '%s'", arg);
        if (value == NULL) {
            if (i + 1 >= argc)
                return usage_error(cmd, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        switch (bit) {
        case OPT_EXECUTOR:
            if (a->n_executors == MAX_EXECUTORS)
                return usage_error(cmd, "too many executors (at most %s)", "64");
            for (size_t k = 0; k < a->n_executors; k++)
                if (strcmp(a->executors[k], value) == 0)
                    return usage_error(cmd, "executor '%s' given twice", value);
            a->executors[a->n_executors++] = value;
            break;
        case OPT_HEARTBEAT:
            if (parse_duration(value, &a->heartbeat_ms) != 0 || a->heartbeat_ms == 0)
                return usage_error(cmd, "--heartbeat-interval: '%s' is not a positive duration (e.g. 2s, 500ms)",
                                   value);
            break;
        case OPT_TIMEOUT:
            if (parse_duration(value, &a->timeout_ms) != 0)
                return usage_error(cmd, "--timeout: '%s' is not a duration (e.g. 10min, 30s; 0 = no limit)",
                                   value);
            break;
        case OPT_CKPT_INTERVAL:
            if (parse_duration(value, &a->checkpoint_interval_ms) != 0)
                return usage_error(cmd, "--checkpoint-interval: '%s' is not a duration (e.g. 200ms, 1s; 0 = off)",
                                   value);
            break;
        case OPT_CKPT_TIMEOUT:
            if (parse_duration(value, &a->checkpoint_timeout_ms) != 0 || a->checkpoint_timeout_ms == 0)
                return usage_error(cmd, "--checkpoint-timeout: '%s' is not a positive duration (e.g. 10s)", value);
            break;
        case OPT_RESTART_BACKOFF:
            if (parse_duration(value, &a->restart_backoff_ms) != 0)
                return usage_error(cmd, "--restart-backoff: '%s' is not a duration (e.g. 500ms, 2s)", value);
            break;
        case OPT_RESTART_ATTEMPTS: {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (end == value || *end != '\0' || errno != 0 || v < 0 || v > 1000000)
                return usage_error(cmd, "--restart-attempts: '%s' is not a number between 0 and 1000000", value);
            a->restart_attempts = v;
            break;
        }
        case OPT_CKPT_DIR:
            if (value[0] == '\0')
                return usage_error(cmd, "--checkpoint-dir: %s", "the directory must not be empty");
            a->checkpoint_dir = value;
            break;
        case OPT_FROM_CKPT:
            if (value[0] == '\0')
                return usage_error(cmd, "--from-checkpoint: %s", "the directory must not be empty");
            a->from_checkpoint = value;
            break;
        case OPT_JOB: a->job = value; break;
        }
    }
    return 0;
}

/* ---- RPC helpers ------------------------------------------------------------------ */

static const char *error_code_name(Te__ErrorCode code)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__error_code__descriptor, (int)code);
    return v ? v->name : "UNKNOWN_ERROR";
}

static const char *state_name(int state)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__execution_state__descriptor, state);
    return v ? v->name : "UNKNOWN";
}

/* Calls and checks the Response. On success returns TE_OK and, when reply != NULL,
 * hands over the reply (caller frees with te__rpc_message__free_unpacked). A daemon
 * error sets *code (when given) and err to "CODE: message"; an I/O failure sets err
 * and leaves *code at OK (the connection is then broken). */
static te_status_t call(te_rpc_client_t *c, Te__RpcMessage *msg, Te__RpcMessage **reply, Te__ErrorCode *code,
                        te_error_t *err)
{
    if (code)
        *code = TE__ERROR_CODE__OK;
    if (reply)
        *reply = NULL;
    Te__RpcMessage *r = rpc_client_call(c, msg, CALL_TIMEOUT_MS, err);
    if (r == NULL)
        return err->code != TE_OK ? err->code : TE_EIO;
    if (r->body_case != TE__RPC_MESSAGE__BODY_RESPONSE || r->response == NULL) {
        te__rpc_message__free_unpacked(r, NULL);
        return te_error_set(err, TE_EPROTO, "%s: the reply is not a Response", rpc_client_address(c));
    }
    if (r->response->code != TE__ERROR_CODE__OK) {
        if (code)
            *code = r->response->code;
        te_error_set(err, TE_EINVAL, "%s: %s", error_code_name(r->response->code), r->response->message);
        te__rpc_message__free_unpacked(r, NULL);
        return TE_EINVAL;
    }
    if (reply)
        *reply = r;
    else
        te__rpc_message__free_unpacked(r, NULL);
    return TE_OK;
}

static Te__RpcMessage *slot_report_call(te_rpc_client_t *c, te_error_t *err)
{
    Te__RequestSlotReport req = TE__REQUEST_SLOT_REPORT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT, *reply = NULL;
    msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_SLOT_REPORT;
    msg.request_slot_report = &req;
    if (call(c, &msg, &reply, NULL, err) != TE_OK)
        return NULL;
    if (reply->response->slot_report == NULL) {
        te__rpc_message__free_unpacked(reply, NULL);
        te_error_set(err, TE_EPROTO, "%s: the reply carries no slot report", rpc_client_address(c));
        return NULL;
    }
    return reply;
}

static ProtobufCBinaryData id_bin(te_id_t *id)
{
    ProtobufCBinaryData b = {TE_ID_LEN, id->b};
    return b;
}

static te_status_t cancel_call(te_rpc_client_t *c, te_id_t *exec_id, Te__ErrorCode *code, te_error_t *err)
{
    Te__CancelTask req = TE__CANCEL_TASK__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    req.execution_attempt_id = id_bin(exec_id);
    msg.body_case = TE__RPC_MESSAGE__BODY_CANCEL_TASK;
    msg.cancel_task = &req;
    return call(c, &msg, NULL, code, err);
}

static const char *id_or_dash(const ProtobufCBinaryData *b, char *buf)
{
    te_id_t id;
    if (b->len == 0 || te_id_from_bytes(b->data, b->len, &id) != 0)
        return "-";
    return te_id_to_hex(&id, buf);
}

/* ---- output helpers --------------------------------------------------------------- */

/* Prints one JSON document (takes the reference) and a newline on stdout. `lines`:
 * compact on one line (JSON lines), else indented. */
static void json_emit(json_t *doc, int lines)
{
    if (doc == NULL) {
        fprintf(stderr, "tectl: out of memory building JSON output\n");
        return;
    }
    json_dumpf(doc, stdout, lines ? JSON_COMPACT : JSON_INDENT(2));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(doc);
}

/* A 16-byte id as 32 hex characters, or JSON null when absent/malformed. New ref. */
static json_t *json_id(const ProtobufCBinaryData *b)
{
    char hex[TE_ID_HEX_LEN + 1];
    te_id_t id;
    if (b->len == 0 || te_id_from_bytes(b->data, b->len, &id) != 0)
        return json_null();
    return json_string(te_id_to_hex(&id, hex));
}

/* Bytes that carry text (resource ids) as a C string in buf. */
static const char *bytes_text(const ProtobufCBinaryData *b, char *buf, size_t cap)
{
    size_t n = b->len < cap - 1 ? b->len : cap - 1;
    if (n > 0)
        memcpy(buf, b->data, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] == 0x7f)
            buf[i] = '?';
    return n ? buf : "-";
}

static const char *slot_state_name(int state)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__slot_state__descriptor, state);
    const char *st = v ? v->name : "UNKNOWN";
    return strncmp(st, "SLOT_", 5) == 0 ? st + 5 : st;
}

/* A text table: cells are copied; columns sized to their widest cell; printed once. */
#define TABLE_MAX_COLS 10
typedef struct table {
    size_t n_cols, n_rows, cap;
    char **cells;              /* row-major */
    int right[TABLE_MAX_COLS]; /* right-aligned (numbers) */
} table_t;

static void table_add(table_t *t, const char *const *row)
{
    if (t->n_rows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->n_cols * sizeof(char *));
        if (c == NULL)
            return; /* out of memory: the row is dropped */
        t->cells = c;
        t->cap = cap;
    }
    for (size_t k = 0; k < t->n_cols; k++)
        t->cells[t->n_rows * t->n_cols + k] = strdup(row[k] ? row[k] : "");
    t->n_rows++;
}

static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

static void table_print_free(table_t *t)
{
    size_t w[TABLE_MAX_COLS] = {0};
    for (size_t r = 0; r < t->n_rows; r++)
        for (size_t k = 0; k < t->n_cols; k++) {
            const char *c = t->cells[r * t->n_cols + k];
            size_t n = c ? strlen(c) : 0;
            if (n > w[k])
                w[k] = n;
        }
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t k = 0; k < t->n_cols; k++) {
            const char *c = t->cells[r * t->n_cols + k];
            int last = k + 1 == t->n_cols;
            if (t->right[k])
                printf("%*s%s", (int)w[k], c ? c : "", last ? "" : "  ");
            else if (last)
                printf("%s", c ? c : "");
            else
                printf("%-*s  ", (int)w[k], c ? c : "");
        }
        putchar('\n');
    }
    table_free(t);
}

/* ---- tectl slots ------------------------------------------------------------------ */

static int cmd_slots(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("slots", argc, argv, OPT_EXECUTOR, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_slots, stdout);
        return EXIT_OK;
    }
    if (a.n_executors != 1 || a.n_pos != 0)
        return usage_error("slots", "%s", "expected exactly one --executor HOST:PORT and no other argument");
    te_error_t err = {0};
    te_rpc_client_t *c = rpc_client_connect(a.executors[0], CONNECT_TIMEOUT_MS, &err);
    if (c == NULL) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_CONNECT;
    }
    Te__RpcMessage *reply = slot_report_call(c, &err);
    if (reply == NULL) {
        fprintf(stderr, "tectl: slot report from %s: %s\n", a.executors[0], err.msg);
        rpc_client_free(c);
        return EXIT_JOB_FAILED;
    }
    const Te__SlotReport *r = reply->response->slot_report;
    char b1[TE_ID_HEX_LEN + 1], b2[TE_ID_HEX_LEN + 1], rid[256];
    if (a.json) {
        json_t *slots = json_array();
        for (size_t i = 0; i < r->n_slots; i++) {
            const Te__SlotStatus *st = r->slots[i];
            json_array_append_new(
                slots, json_pack("{s:i, s:s, s:o, s:o, s:i}", "slot", (int)st->slot_index, "state",
                                 slot_state_name(st->state), "job_id", json_id(&st->job_id), "allocation_id",
                                 json_id(&st->allocation_id), "tasks", (int)st->number_of_tasks));
        }
        json_emit(json_pack("{s:s, s:s, s:s, s:o}", "executor", a.executors[0], "resource_id",
                            bytes_text(&r->resource_id, rid, sizeof(rid)), "data_address",
                            r->data_address ? r->data_address : "", "slots", slots),
                  0);
    } else {
        table_t t = {.n_cols = 5};
        t.right[4] = 1;
        table_add(&t, (const char *[]){"SLOT", "STATE", "JOB", "ALLOCATION", "TASKS"});
        for (size_t i = 0; i < r->n_slots; i++) {
            const Te__SlotStatus *st = r->slots[i];
            char idx[16], n[16];
            snprintf(idx, sizeof(idx), "%d", st->slot_index);
            snprintf(n, sizeof(n), "%u", st->number_of_tasks);
            table_add(&t, (const char *[]){idx, slot_state_name(st->state), id_or_dash(&st->job_id, b1),
                                           id_or_dash(&st->allocation_id, b2), n});
        }
        table_print_free(&t);
        printf("data address: %s\n", r->data_address && r->data_address[0] ? r->data_address : "-");
        printf("resource id: %s\n", bytes_text(&r->resource_id, rid, sizeof(rid)));
    }
    te__rpc_message__free_unpacked(reply, NULL);
    rpc_client_free(c);
    return EXIT_OK;
}

/* ---- tectl list ------------------------------------------------------------------- */

/* RequestTaskReport (job_id NULL = every job). The reply is handed over, or NULL + err. */
static Te__RpcMessage *task_report_call(te_rpc_client_t *c, const te_id_t *job_id, Te__ErrorCode *code,
                                        te_error_t *err)
{
    Te__RequestTaskReport req = TE__REQUEST_TASK_REPORT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT, *reply = NULL;
    te_id_t job;
    if (job_id != NULL) {
        job = *job_id;
        req.job_id.data = job.b;
        req.job_id.len = TE_ID_LEN;
    }
    msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_TASK_REPORT;
    msg.request_task_report = &req;
    if (call(c, &msg, &reply, code, err) != TE_OK)
        return NULL;
    if (reply->response->task_report == NULL) {
        te__rpc_message__free_unpacked(reply, NULL);
        te_error_set(err, TE_EPROTO, "%s: the reply carries no task report (an older taskexecutord?)",
                     rpc_client_address(c));
        return NULL;
    }
    return reply;
}

/* Table order: by job id, then task name. */
static int task_status_cmp(const void *x, const void *y)
{
    const Te__TaskStatus *a = *(const Te__TaskStatus *const *)x, *b = *(const Te__TaskStatus *const *)y;
    size_t n = a->job_id.len < b->job_id.len ? a->job_id.len : b->job_id.len;
    int c = n ? memcmp(a->job_id.data, b->job_id.data, n) : 0;
    if (c == 0 && a->job_id.len != b->job_id.len)
        c = a->job_id.len < b->job_id.len ? -1 : 1;
    return c != 0 ? c : strcmp(a->task_name ? a->task_name : "", b->task_name ? b->task_name : "");
}

static int cmd_list(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("list", argc, argv, OPT_EXECUTOR, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_list, stdout);
        return EXIT_OK;
    }
    if (a.n_executors == 0 || a.n_pos != 0)
        return usage_error("list", "%s", "expected at least one --executor HOST:PORT and no other argument");
    rc = EXIT_OK;
    json_t *doc = a.json ? json_array() : NULL;
    table_t t = {.n_cols = 9};
    t.right[4] = t.right[5] = t.right[6] = 1;
    table_add(&t, (const char *[]){"JOB", "NAME", "TASK", "STATE", "SLOT", "IN", "OUT", "EXECUTOR", "EXECUTION"});
    for (size_t e = 0; e < a.n_executors; e++) {
        const char *addr = a.executors[e];
        te_error_t err = {0};
        Te__ErrorCode code = TE__ERROR_CODE__OK;
        Te__RpcMessage *reply = NULL;
        te_rpc_client_t *c = rpc_client_connect(addr, CONNECT_TIMEOUT_MS, &err);
        if (c == NULL) {
            rc = EXIT_CONNECT;
        } else {
            reply = task_report_call(c, NULL, &code, &err);
            if (reply == NULL && rc == EXIT_OK)
                rc = code == TE__ERROR_CODE__OK && err.code != TE_EPROTO ? EXIT_CONNECT : EXIT_JOB_FAILED;
        }
        if (reply == NULL) {
            fprintf(stderr, "tectl: list %s: %s\n", addr, err.msg);
            if (doc)
                json_array_append_new(doc, json_pack("{s:s, s:s}", "executor", addr, "error", err.msg));
            rpc_client_free(c);
            continue;
        }
        const Te__TaskReport *r = reply->response->task_report;
        if (r->n_tasks > 1)
            qsort(r->tasks, r->n_tasks, sizeof(r->tasks[0]), task_status_cmp);
        char rid[256];
        json_t *tasks = doc ? json_array() : NULL;
        for (size_t i = 0; i < r->n_tasks; i++) {
            const Te__TaskStatus *ts = r->tasks[i];
            char b1[TE_ID_HEX_LEN + 1], b2[TE_ID_HEX_LEN + 1], slot[16], in[24], out[24];
            const char *state = state_name(ts->state);
            if (tasks) {
                json_array_append_new(tasks,
                                      json_pack("{s:o, s:s, s:s, s:o, s:s, s:i, s:o, s:I, s:I, s:s?}", "job_id",
                                                json_id(&ts->job_id), "job_name", ts->job_name ? ts->job_name : "",
                                                "task", ts->task_name ? ts->task_name : "", "execution_id",
                                                json_id(&ts->execution_attempt_id), "state", state, "slot",
                                                (int)ts->slot_index, "allocation_id", json_id(&ts->allocation_id),
                                                "records_in", (json_int_t)ts->records_in, "records_out",
                                                (json_int_t)ts->records_out, "cause",
                                                ts->cause && ts->cause[0] ? ts->cause : NULL));
                continue;
            }
            if (ts->slot_index >= 0)
                snprintf(slot, sizeof(slot), "%d", ts->slot_index);
            else
                snprintf(slot, sizeof(slot), "-");
            snprintf(in, sizeof(in), "%llu", (unsigned long long)ts->records_in);
            snprintf(out, sizeof(out), "%llu", (unsigned long long)ts->records_out);
            table_add(&t, (const char *[]){id_or_dash(&ts->job_id, b1),
                                           ts->job_name && ts->job_name[0] ? ts->job_name : "-",
                                           ts->task_name ? ts->task_name : "-", state, slot, in, out, addr,
                                           id_or_dash(&ts->execution_attempt_id, b2)});
        }
        if (doc)
            json_array_append_new(doc, json_pack("{s:s, s:s, s:o}", "executor", addr, "resource_id",
                                                 bytes_text(&r->resource_id, rid, sizeof(rid)), "tasks", tasks));
        te__rpc_message__free_unpacked(reply, NULL);
        rpc_client_free(c);
    }
    if (doc) {
        json_emit(json_pack("{s:o}", "executors", doc), 0);
        table_free(&t);
    } else if (t.n_rows == 1) {
        table_free(&t);
        printf("no tasks\n");
    } else {
        table_print_free(&t);
    }
    return rc;
}

/* ---- tectl cancel ----------------------------------------------------------------- */

static int cmd_cancel(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("cancel", argc, argv, OPT_EXECUTOR, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_cancel, stdout);
        return EXIT_OK;
    }
    if (a.n_executors != 1)
        return usage_error("cancel", "%s", "expected exactly one --executor HOST:PORT");
    if (a.n_pos == 0)
        return usage_error("cancel", "%s", "expected at least one EXECUTION_ID");
    te_id_t ids[MAX_POSITIONAL];
    for (size_t i = 0; i < a.n_pos; i++)
        if (te_id_from_hex(a.pos[i], &ids[i]) != 0)
            return usage_error("cancel", "'%s' is not an execution id (32 hex characters)", a.pos[i]);
    te_error_t err = {0};
    te_rpc_client_t *c = rpc_client_connect(a.executors[0], CONNECT_TIMEOUT_MS, &err);
    if (c == NULL) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_CONNECT;
    }
    rc = EXIT_OK;
    json_t *results = a.json ? json_array() : NULL;
    for (size_t i = 0; i < a.n_pos; i++) {
        Te__ErrorCode code;
        if (cancel_call(c, &ids[i], &code, &err) == TE_OK) {
            if (results)
                json_array_append_new(results,
                                      json_pack("{s:s, s:b, s:n}", "execution_id", a.pos[i], "ok", 1, "error"));
            else
                printf("%s: cancelling\n", a.pos[i]);
        } else {
            if (results)
                json_array_append_new(
                    results, json_pack("{s:s, s:b, s:s}", "execution_id", a.pos[i], "ok", 0, "error", err.msg));
            else
                printf("%s: %s\n", a.pos[i], err.msg);
            rc = EXIT_JOB_FAILED;
            if (code == TE__ERROR_CODE__OK) /* connection failed */
                break;
        }
    }
    if (results)
        json_emit(json_pack("{s:o}", "results", results), 0);
    rpc_client_free(c);
    return rc;
}

/* ---- tectl submit ------------------------------------------------------------------- */

/* How submit reports: plain lines (piped), plain lines + one live progress line
 * (terminal), or JSON lines (--json). */
typedef enum out_mode { OUT_PLAIN, OUT_TTY, OUT_JSON } out_mode_t;
static out_mode_t g_mode = OUT_PLAIN;
static int g_progress_shown; /* the progress line is on the terminal's last line */

/* Erases the progress line so that a normal line can be printed in its place. */
static void progress_clear(void)
{
    if (!g_progress_shown)
        return;
    fputs("\r\033[K", stdout);
    fflush(stdout);
    g_progress_shown = 0;
}

/* stderr lines of the submit path: clear the progress line first. */
#define ERRF(...) (progress_clear(), fprintf(stderr, __VA_ARGS__))

static volatile sig_atomic_t g_signal;
static int g_sigpipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    char ch = (char)sig;
    g_signal = sig;
    if (write(g_sigpipe[1], &ch, 1) < 0) {
        /* the pipe is full: a wake-up is already pending */
    }
    errno = saved;
}

static int signals_install(void)
{
    if (pipe(g_sigpipe) != 0)
        return -1;
    for (int k = 0; k < 2; k++) {
        fcntl(g_sigpipe[k], F_SETFL, fcntl(g_sigpipe[k], F_GETFL) | O_NONBLOCK);
        fcntl(g_sigpipe[k], F_SETFD, FD_CLOEXEC);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Drains the self-pipe; returns the number of signals seen. */
static int signals_drain(void)
{
    char buf[64];
    int n = 0;
    ssize_t r;
    while ((r = read(g_sigpipe[0], buf, sizeof(buf))) > 0)
        n += (int)r;
    return n;
}

typedef struct job job_t;
typedef struct session session_t;

typedef struct executor {
    const char *address; /* borrowed from argv */
    te_rpc_client_t *client;
    char *data_address;
    int registered;
    int lost;
    job_t *job;
} executor_t;

typedef struct task_state {
    int state; /* Te__ExecutionState; -1 before any push */
    int submitted;
    int final; /* a final state was seen, or it can no longer be seen */
    int cancel_sent;
} task_state_t;

#define MAX_CKPT_ABORTS 32

/* One deployment (attempt) of the job. */
struct job {
    session_t *s;
    const te_job_graph_t *g; /* the session's */
    te_job_plan_t *plan;
    te_id_t job_id, jm_id;
    executor_t *ex;
    size_t n_ex;
    task_state_t *tasks;
    size_t n_tasks;
    int *slot_allocated;
    size_t n_failed, n_canceled, n_finished;
    long first_failed; /* task index, -1 */
    char *first_cause;
    int cancelling; /* we sent cancels: CANCELED is expected, not trouble */
    int fatal;      /* a failure a restart cannot fix (a daemon rejected a TDD) */
    /* checkpoints (coord == NULL: off) */
    te_ckpt_coord_t *coord;
    int64_t next_trigger_ms;
    int ckpt_completed;               /* an ack completed one: finalize in the pump */
    uint64_t aborts[MAX_CKPT_ABORTS]; /* aborted ids whose AbortCheckpoint is not sent yet */
    size_t n_aborts;
    /* progress (OUT_TTY / OUT_JSON) */
    int64_t start_ms;
    int64_t rate_sample_ms; /* when records_out was sampled; 0 = never */
    uint64_t records_out;   /* summed over the job's tasks at the last sample */
    double records_per_s;
    int no_task_report; /* the executors do not answer RequestTaskReport */
};

/* The whole `tectl submit`: every attempt of one job. */
struct session {
    const args_t *a;
    te_job_graph_t *g;
    char *graph_text; /* the job JSON, for _metadata */
    te_id_t job_id, jm_id;
    char job_hex[TE_ID_HEX_LEN + 1];
    char *ckpt_root;            /* absolute; NULL when checkpoints are off and nothing is restored */
    char *job_dir;              /* <ckpt_root>/<job id> */
    te_ckpt_metadata_t *latest; /* the latest completed checkpoint: what a restart restores */
    uint64_t next_ckpt_id;
    uint64_t protect_id; /* the checkpoint the running attempt restored from (kept) */
    uint32_t attempt;
    size_t n_completed;
    /* the last attempt's end */
    char *cause;       /* "X failed: ..." for "job failed: ..." */
    char *task_cause;  /* the failed task's own cause (JSON end event) */
    int cause_printed; /* already reported on stderr */
    size_t n_finished, n_failed, n_canceled;

    /* the shared files of incremental checkpoints (reference counts) */
    te_shared_state_registry_t *registry;
};

static void print_time(FILE *f)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(f, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* UTC "2024-05-01T12:00:00.123Z" in buf (wall ms, or now when < 0). */
static const char *iso_time_at(int64_t wall_ms, char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    if (wall_ms < 0) {
        clock_gettime(CLOCK_REALTIME, &ts);
    } else {
        ts.tv_sec = (time_t)(wall_ms / 1000);
        ts.tv_nsec = (long)(wall_ms % 1000) * 1000000L;
    }
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    return buf;
}

static const char *iso_time(char *buf, size_t cap) { return iso_time_at(-1, buf, cap); }

static void count_tasks(const job_t *j, size_t *running, size_t *submitted)
{
    *running = *submitted = 0;
    for (size_t t = 0; t < j->n_tasks; t++) {
        *submitted += j->tasks[t].submitted;
        *running += !j->tasks[t].final && j->tasks[t].state == TE__EXECUTION_STATE__RUNNING;
    }
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

/* 1234567 -> "1.2 MB" */
static const char *human_bytes(uint64_t v, char *buf, size_t cap)
{
    if (v >= 1000000000ULL)
        snprintf(buf, cap, "%.1f GB", (double)v / 1e9);
    else if (v >= 1000000ULL)
        snprintf(buf, cap, "%.1f MB", (double)v / 1e6);
    else if (v >= 1000ULL)
        snprintf(buf, cap, "%.1f kB", (double)v / 1e3);
    else
        snprintf(buf, cap, "%llu B", (unsigned long long)v);
    return buf;
}

/* OUT_TTY: (re)draws the one progress line (no newline; cleared before any other
 * output). Other modes: nothing. */
static void progress_draw(job_t *j)
{
    if (g_mode != OUT_TTY || j->start_ms == 0)
        return;
    size_t running, submitted;
    count_tasks(j, &running, &submitted);
    int64_t el = (te_clock_mono_ms() - j->start_ms) / 1000;
    char rate[32];
    printf("\r\033[K[%02lld:%02lld] %zu running, %zu finished", (long long)(el / 60), (long long)(el % 60),
           running, j->n_finished);
    if (j->n_failed + j->n_canceled > 0)
        printf(", %zu failed/cancelled", j->n_failed + j->n_canceled);
    printf(" of %zu tasks | %s records/s", j->n_tasks,
           j->rate_sample_ms ? human_rate(j->records_per_s, rate, sizeof(rate)) : "-");
    if (j->s->n_completed > 0 && j->s->latest != NULL)
        printf(" | checkpoint %llu", (unsigned long long)j->s->latest->checkpoint_id);
    fflush(stdout);
    g_progress_shown = 1;
}

static int state_is_final(int s)
{
    return s == TE__EXECUTION_STATE__FINISHED || s == TE__EXECUTION_STATE__CANCELED ||
           s == TE__EXECUTION_STATE__FAILED;
}

/* ---- checkpoint coordination (events from pushes; calls from the pump) ----------- */

/* Records an aborted checkpoint: reported now, AbortCheckpoint sent from the pump. */
static void ckpt_note_abort(job_t *j, uint64_t id, int quiet)
{
    const char *cause = checkpoint_coordinator_abort_cause(j->coord);
    if (j->n_aborts < MAX_CKPT_ABORTS)
        j->aborts[j->n_aborts++] = id;
    if (quiet)
        return;
    if (g_mode == OUT_JSON) {
        char when[96];
        json_emit(json_pack("{s:s, s:s, s:I, s:s}", "event", "checkpoint_aborted", "time",
                            iso_time(when, sizeof(when)), "checkpoint_id", (json_int_t)id, "cause", cause),
                  1);
    } else {
        progress_clear();
        print_time(stdout);
        printf(" checkpoint %llu aborted: %s\n", (unsigned long long)id, cause);
        fflush(stdout);
    }
}

/* Task t can no longer acknowledge: abort what waits for it (quietly when it simply
 * finished: the job's end aborts the last pending checkpoint). */
static void ckpt_task_gone(job_t *j, size_t t, int quiet)
{
    uint64_t id;
    if (j->coord == NULL)
        return;
    while ((id = checkpoint_coordinator_task_gone(j->coord, t)) != 0)
        ckpt_note_abort(j, id, quiet);
}

static void task_mark_final(job_t *j, size_t t, int state)
{
    task_state_t *ts = &j->tasks[t];
    if (ts->final)
        return;
    ts->final = 1;
    if (state == TE__EXECUTION_STATE__FINISHED)
        j->n_finished++;
    else if (state == TE__EXECUTION_STATE__FAILED)
        j->n_failed++;
    else
        j->n_canceled++;
    ckpt_task_gone(j, t, state == TE__EXECUTION_STATE__FINISHED || j->cancelling);
}

static long push_task(job_t *j, const executor_t *ex, const ProtobufCBinaryData *exec_id, const char *what)
{
    te_id_t id;
    long t;
    if (te_id_from_bytes(exec_id->data, exec_id->len, &id) != 0 || (t = job_plan_find_task(j->plan, &id)) < 0) {
        TE_DEBUG("tectl", "%s: %s push for an unknown execution ignored", ex->address, what);
        return -1;
    }
    return t;
}

/* The shared files of an incremental checkpoint's handle (paths borrowed from h). */
static void ack_shared_files(te_ckpt_handle_t *dst, const Te__StateHandle *h)
{
    if (h->n_shared == 0 || (dst->shared = calloc(h->n_shared, sizeof(*dst->shared))) == NULL)
        return;
    for (size_t i = 0; i < h->n_shared; i++)
        dst->shared[i] = (te_ckpt_shared_file_t){h->shared[i]->path, h->shared[i]->size};
    dst->n_shared = h->n_shared;
}

static void on_ack(job_t *j, executor_t *ex, const Te__AcknowledgeCheckpoint *a)
{
    long t = push_task(j, ex, &a->execution_attempt_id, "checkpoint ack");
    if (t < 0 || j->coord == NULL)
        return;
    te_ckpt_handle_t *hs = a->n_handles ? calloc(a->n_handles, sizeof(*hs)) : NULL;
    if (a->n_handles && hs == NULL) {
        ERRF("tectl: out of memory reading the ack of checkpoint %llu\n", (unsigned long long)a->checkpoint_id);
        return;
    }
    for (size_t k = 0; k < a->n_handles; k++) {
        const Te__StateHandle *h = a->handles[k];
        hs[k].path = h->path;
        hs[k].size = h->size;
        hs[k].key_groups = h->key_groups;
        hs[k].n_key_groups = h->n_key_groups;
        hs[k].subtask_index = h->subtask_index;
        hs[k].parallelism = h->parallelism;
        ack_shared_files(&hs[k], h);
    }
    checkpoint_coordinator_ack_metrics(j->coord, a->checkpoint_id, a->alignment_duration_ns,
                                       a->persisted_in_flight_bytes, a->start_delay_ms);
    te_ckpt_event_t ev = checkpoint_coordinator_ack(j->coord, a->checkpoint_id, (size_t)t, hs, a->n_handles,
                                                    a->state_size, te_clock_mono_ms());
    for (size_t k = 0; k < a->n_handles; k++)
        free(hs[k].shared);
    free(hs);
    if (ev == TE_CKPT_COMPLETED)
        j->ckpt_completed = 1;
    else if (ev == TE_CKPT_IGNORED)
        TE_DEBUG("tectl", "ack of checkpoint %llu by %s ignored (not pending)",
                 (unsigned long long)a->checkpoint_id, job_plan_task(j->plan, (size_t)t)->task_name);
}

static void on_decline(job_t *j, executor_t *ex, const Te__DeclineCheckpoint *d)
{
    long t = push_task(j, ex, &d->execution_attempt_id, "checkpoint decline");
    if (t < 0 || j->coord == NULL)
        return;
    char cause[600];
    snprintf(cause, sizeof(cause), "%s: %s", job_plan_task(j->plan, (size_t)t)->task_name,
             d->cause && d->cause[0] ? d->cause : "(no cause given)");
    if (checkpoint_coordinator_decline(j->coord, d->checkpoint_id, (size_t)t, cause) == TE_CKPT_ABORTED)
        ckpt_note_abort(j, d->checkpoint_id, 0);
}

static void on_push(void *arg, te_rpc_client_t *c, const Te__RpcMessage *push)
{
    executor_t *ex = arg;
    job_t *j = ex->job;
    (void)c;
    if (push->body_case == TE__RPC_MESSAGE__BODY_ACKNOWLEDGE_CHECKPOINT && push->acknowledge_checkpoint != NULL) {
        on_ack(j, ex, push->acknowledge_checkpoint);
        return;
    }
    if (push->body_case == TE__RPC_MESSAGE__BODY_DECLINE_CHECKPOINT && push->decline_checkpoint != NULL) {
        on_decline(j, ex, push->decline_checkpoint);
        return;
    }
    if (push->body_case != TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE || push->task_execution_state == NULL)
        return;
    const Te__TaskExecutionState *s = push->task_execution_state;
    long t = push_task(j, ex, &s->execution_attempt_id, "state");
    if (t < 0)
        return;
    const te_plan_task_t *task = job_plan_task(j->plan, (size_t)t);
    if (g_mode == OUT_JSON) {
        char hex[TE_ID_HEX_LEN + 1], when[96];
        json_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I}", "event", "state", "time",
                            iso_time(when, sizeof(when)), "task", task->task_name, "execution_id",
                            te_id_to_hex(&task->execution_id, hex), "executor", ex->address, "state",
                            state_name(s->state), "cause", s->cause && s->cause[0] ? s->cause : NULL, "records_in",
                            (json_int_t)s->records_in, "records_out", (json_int_t)s->records_out),
                  1);
    } else {
        progress_clear();
        print_time(stdout);
        printf(" %s %s", task->task_name, state_name(s->state));
        if (s->cause != NULL && s->cause[0] != '\0')
            printf(" %s", s->cause);
        printf("\n");
        fflush(stdout);
    }
    j->tasks[t].state = s->state;
    if (state_is_final(s->state)) {
        if (s->state == TE__EXECUTION_STATE__FAILED && j->first_failed < 0) {
            j->first_failed = t;
            free(j->first_cause);
            j->first_cause = strdup(s->cause ? s->cause : "");
        }
        task_mark_final(j, (size_t)t, s->state);
    }
    progress_draw(j);
}

/* An executor's connection failed: its tasks can no longer report. */
static void executor_lost(job_t *j, size_t e, const te_error_t *err)
{
    if (j->ex[e].lost)
        return;
    j->ex[e].lost = 1;
    ERRF("tectl: lost the connection to executor %s: %s\n", j->ex[e].address, err->msg);
    for (size_t t = 0; t < j->n_tasks; t++)
        if (job_plan_task(j->plan, t)->executor == e && !j->tasks[t].final) {
            j->tasks[t].final = 1;
            j->n_failed++;
            ckpt_task_gone(j, t, j->cancelling);
        }
}

/* A checkpoint call to task t (Trigger / Confirm / Abort). Returns the daemon's code
 * (OK when accepted); a broken connection marks the executor lost (returns INTERNAL). */
static Te__ErrorCode ckpt_call(job_t *j, size_t t, Te__RpcMessage__BodyCase kind, uint64_t id, int64_t timestamp,
                               te_error_t *err)
{
    const te_plan_task_t *task = job_plan_task(j->plan, t);
    executor_t *ex = &j->ex[task->executor];
    te_id_t exec = task->execution_id;
    Te__TriggerCheckpoint tc = TE__TRIGGER_CHECKPOINT__INIT;
    Te__ConfirmCheckpoint cc = TE__CONFIRM_CHECKPOINT__INIT;
    Te__AbortCheckpoint ac = TE__ABORT_CHECKPOINT__INIT;
    Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
    Te__ErrorCode code = TE__ERROR_CODE__OK;
    msg.body_case = kind;
    if (kind == TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT) {
        tc.execution_attempt_id = id_bin(&exec);
        tc.checkpoint_id = id;
        tc.timestamp = (uint64_t)timestamp;
        msg.trigger_checkpoint = &tc;
    } else if (kind == TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT) {
        cc.execution_attempt_id = id_bin(&exec);
        cc.checkpoint_id = id;
        msg.confirm_checkpoint = &cc;
    } else {
        ac.execution_attempt_id = id_bin(&exec);
        ac.checkpoint_id = id;
        msg.abort_checkpoint = &ac;
    }
    if (call(ex->client, &msg, NULL, &code, err) == TE_OK)
        return TE__ERROR_CODE__OK;
    if (code == TE__ERROR_CODE__OK) {
        executor_lost(j, task->executor, err);
        return TE__ERROR_CODE__INTERNAL;
    }
    return code;
}

/* The task can still take checkpoint calls. */
static int task_reachable(const job_t *j, size_t t)
{
    return j->tasks[t].submitted && !j->tasks[t].final && !j->ex[job_plan_task(j->plan, t)->executor].lost;
}

static int all_tasks_running(const job_t *j)
{
    for (size_t t = 0; t < j->n_tasks; t++)
        if (j->tasks[t].final || j->tasks[t].state != TE__EXECUTION_STATE__RUNNING)
            return 0;
    return 1;
}

/* Sends AbortCheckpoint for every queued abort to every task still reachable. */
static void ckpt_send_aborts(job_t *j)
{
    uint64_t ids[MAX_CKPT_ABORTS];
    size_t n = j->n_aborts;
    memcpy(ids, j->aborts, n * sizeof(ids[0]));
    j->n_aborts = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < j->n_tasks; t++) {
            te_error_t err = {0};
            if (task_reachable(j, t))
                (void)ckpt_call(j, t, TE__RPC_MESSAGE__BODY_ABORT_CHECKPOINT, ids[i], 0, &err);
        }
}

static void ckpt_trigger(job_t *j, int64_t now)
{
    uint64_t id = checkpoint_coordinator_trigger(j->coord, now, te_clock_wall_ms());
    if (id == 0)
        return;
    TE_DEBUG("tectl", "triggering checkpoint %llu", (unsigned long long)id);
    for (size_t t = 0; t < j->n_tasks; t++) {
        const te_plan_task_t *task = job_plan_task(j->plan, t);
        if (job_graph_vertex(j->g, task->vertex)->invokable != TE__INVOKABLE__SOURCE_STREAM_TASK)
            continue;
        te_error_t err = {0};
        Te__ErrorCode code =
            ckpt_call(j, t, TE__RPC_MESSAGE__BODY_TRIGGER_CHECKPOINT, id, te_clock_wall_ms(), &err);
        if (code == TE__ERROR_CODE__OK)
            continue;
        if (code != TE__ERROR_CODE__INTERNAL) {
            char cause[700];
            snprintf(cause, sizeof(cause), "trigger refused by %s: %s", task->task_name, err.msg);
            if (checkpoint_coordinator_decline(j->coord, id, t, cause) == TE_CKPT_ABORTED)
                ckpt_note_abort(j, id, 0);
        }
        return; /* aborted (refused, or the executor was lost) */
    }
}

/* Builds the metadata of the checkpoint that just completed (owned copies). */
static te_ckpt_metadata_t *ckpt_build_metadata(job_t *j, const te_ckpt_checkpoint_t *cp, te_error_t *err)
{
    session_t *s = j->s;
    te_ckpt_metadata_t *m = calloc(1, sizeof(*m));
    size_t nv = job_graph_n_vertices(j->g);
    if (m == NULL || (m->vertices = calloc(nv, sizeof(*m->vertices))) == NULL)
        goto nomem;
    m->n_vertices = nv;
    m->max_parallelism = job_graph_max_parallelism(j->g);
    m->checkpoint_id = cp->id;
    m->timestamp_ms = cp->timestamp_ms;
    m->duration_ms = cp->complete_ms - cp->trigger_ms;
    if ((m->job_id = strdup(s->job_hex)) == NULL || (m->job_name = strdup(job_graph_name(j->g))) == NULL ||
        (m->job_graph = strdup(s->graph_text)) == NULL)
        goto nomem;
    uint64_t sum = 0;
    for (size_t v = 0; v < nv; v++) {
        const te_job_vertex_t *vx = job_graph_vertex(j->g, v);
        te_ckpt_vertex_t *mv = &m->vertices[v];
        char hex[TE_ID_HEX_LEN + 1];
        size_t n = 0;
        mv->parallelism = vx->parallelism;
        if ((mv->id = strdup(vx->id)) == NULL ||
            (mv->vertex_id = strdup(te_id_to_hex(job_plan_vertex_id(j->plan, v), hex))) == NULL)
            goto nomem;
        for (uint32_t i = 0; i < vx->parallelism; i++)
            n += cp->tasks[job_plan_task_index(j->plan, v, i)].n_handles;
        if (n > 0 && (mv->handles = calloc(n, sizeof(*mv->handles))) == NULL)
            goto nomem;
        for (uint32_t i = 0; i < vx->parallelism; i++) {
            const te_ckpt_task_ack_t *ack = &cp->tasks[job_plan_task_index(j->plan, v, i)];
            for (size_t k = 0; k < ack->n_handles; k++) {
                if (checkpoint_metadata_handle_copy(&mv->handles[mv->n_handles], &ack->handles[k], err) != TE_OK)
                    goto fail;
                sum += ack->handles[k].size;
                mv->n_handles++;
            }
        }
    }
    m->state_size = cp->state_size > 0 ? cp->state_size : sum;
    return m;
nomem:
    te_error_set(err, TE_ENOMEM, "out of memory building the metadata of checkpoint %llu",
                 (unsigned long long)cp->id);
fail:
    checkpoint_metadata_free(m);
    return NULL;
}

/* Incremental checkpoints: references of the completed checkpoint's shared files. */
static void ckpt_register_shared(session_t *s, const te_ckpt_metadata_t *m)
{
    te_error_t err = {0};
    uint64_t added = 0;
    if (s->registry && shared_state_registry_register(s->registry, m, &added, &err) != TE_OK)
        ERRF("tectl: checkpoint %llu: %s\n", (unsigned long long)m->checkpoint_id, err.msg);
    else if (s->registry && shared_state_registry_files(s->registry) > 0)
        TE_DEBUG("tectl", "checkpoint %llu added %llu bytes of shared files (%zu files, %llu bytes referenced)",
                 (unsigned long long)m->checkpoint_id, (unsigned long long)added,
                 shared_state_registry_files(s->registry),
                 (unsigned long long)shared_state_registry_bytes(s->registry));
}

/* Every task acknowledged: _metadata, retention, ConfirmCheckpoint, report. */
static void ckpt_finalize(job_t *j)
{
    session_t *s = j->s;
    const te_ckpt_checkpoint_t *cp = checkpoint_coordinator_completed(j->coord);
    if (cp == NULL)
        return;
    te_error_t err = {0};
    te_ckpt_metadata_t *m = ckpt_build_metadata(j, cp, &err);
    if (m == NULL || checkpoint_metadata_write(m, s->job_dir, &err) != TE_OK) {
        ERRF("tectl: checkpoint %llu cannot be completed: %s\n", (unsigned long long)cp->id, err.msg);
        checkpoint_metadata_free(m);
        if (j->n_aborts < MAX_CKPT_ABORTS)
            j->aborts[j->n_aborts++] = cp->id;
        return;
    }
    char dir[4096];
    if (checkpoint_metadata_chk_dir(s->job_dir, m->checkpoint_id, dir, sizeof(dir)) == NULL)
        snprintf(dir, sizeof(dir), "%s", s->job_dir);
    /* A checkpoint of this attempt exists now: the restored one need not be kept. */
    s->protect_id = 0;
    checkpoint_metadata_free(s->latest);
    s->latest = m;
    s->n_completed++;
    ckpt_register_shared(s, m); /* before pruning: files it shares with pruned ones stay */
    if (checkpoint_metadata_retain(s->job_dir, TE_CKPT_RETAINED, s->protect_id, NULL, &err) != TE_OK)
        ERRF("tectl: pruning old checkpoints: %s\n", err.msg);
    if (s->registry)
        shared_state_registry_sync(s->registry, s->job_dir);
    size_t n_tasks = 0;
    for (size_t v = 0; v < m->n_vertices; v++)
        n_tasks += m->vertices[v].n_handles;
    if (g_mode == OUT_JSON) {
        char when[96];
        json_emit(json_pack("{s:s, s:s, s:I, s:I, s:I, s:i, s:s, s:I, s:f, s:I}", "event", "checkpoint", "time",
                            iso_time(when, sizeof(when)), "checkpoint_id", (json_int_t)m->checkpoint_id,
                            "duration_ms", (json_int_t)m->duration_ms, "state_size", (json_int_t)m->state_size,
                            "tasks", (int)n_tasks, "path", dir, "start_delay_ms_max",
                            (json_int_t)cp->start_delay_ms_max, "alignment_ms_max",
                            (double)cp->alignment_ns_max / 1e6, "in_flight_bytes", (json_int_t)cp->inflight_bytes),
                  1);
    } else {
        char size[32];
        progress_clear();
        print_time(stdout);
        char inflight[32];
        printf(" checkpoint %llu completed in %lld ms, %s, %zu tasks, start delay %llu ms, alignment %.1f ms, "
               "in-flight %s\n",
               (unsigned long long)m->checkpoint_id, (long long)m->duration_ms,
               human_bytes(m->state_size, size, sizeof(size)), n_tasks, (unsigned long long)cp->start_delay_ms_max,
               (double)cp->alignment_ns_max / 1e6, human_bytes(cp->inflight_bytes, inflight, sizeof(inflight)));
        fflush(stdout);
    }
    uint64_t id = m->checkpoint_id; /* m may be replaced by a completion during the calls */
    for (size_t t = 0; t < j->n_tasks; t++) {
        if (!task_reachable(j, t))
            continue;
        Te__ErrorCode code = ckpt_call(j, t, TE__RPC_MESSAGE__BODY_CONFIRM_CHECKPOINT, id, 0, &err);
        if (code != TE__ERROR_CODE__OK && code != TE__ERROR_CODE__INTERNAL && code != TE__ERROR_CODE__UNKNOWN_TASK)
            ERRF("tectl: confirm checkpoint %llu to %s: %s\n", (unsigned long long)id,
                 job_plan_task(j->plan, t)->task_name, err.msg);
    }
}

/* Completions, timeouts, aborts and the periodic trigger. Returns 1 when it made
 * calls (pushes may have arrived meanwhile). */
static int ckpt_tick(job_t *j, int64_t interval_ms)
{
    if (j->coord == NULL)
        return 0;
    int did = 0;
    int64_t now = te_clock_mono_ms();
    uint64_t id;
    if (j->ckpt_completed) {
        j->ckpt_completed = 0;
        ckpt_finalize(j);
        did = 1;
    }
    while ((id = checkpoint_coordinator_expire(j->coord, now)) != 0)
        ckpt_note_abort(j, id, 0);
    if (j->n_aborts > 0) {
        ckpt_send_aborts(j);
        did = 1;
    }
    if (!j->cancelling && now >= j->next_trigger_ms) {
        j->next_trigger_ms = now + interval_ms;
        if (checkpoint_coordinator_n_pending(j->coord) == 0 && all_tasks_running(j)) {
            ckpt_trigger(j, now);
            did = 1;
        }
    }
    return did;
}

static void cancel_all(job_t *j)
{
    j->cancelling = 1;
    for (size_t t = j->n_tasks; t-- > 0;) {
        task_state_t *ts = &j->tasks[t];
        const te_plan_task_t *task = job_plan_task(j->plan, t);
        executor_t *ex = &j->ex[task->executor];
        if (!ts->submitted || ts->final || ts->cancel_sent || ex->lost)
            continue;
        ts->cancel_sent = 1;
        te_id_t id = task->execution_id;
        Te__ErrorCode code;
        te_error_t err = {0};
        if (cancel_call(ex->client, &id, &code, &err) == TE_OK)
            continue;
        if (code == TE__ERROR_CODE__UNKNOWN_TASK) {
            task_mark_final(j, t, TE__EXECUTION_STATE__CANCELED); /* already gone */
        } else if (code == TE__ERROR_CODE__OK) {
            executor_lost(j, task->executor, &err);
        } else {
            ERRF("tectl: cancel %s: %s\n", task->task_name, err.msg);
            task_mark_final(j, t, TE__EXECUTION_STATE__CANCELED);
        }
    }
}

static size_t n_open_tasks(const job_t *j)
{
    size_t n = 0;
    for (size_t t = 0; t < j->n_tasks; t++)
        n += j->tasks[t].submitted && !j->tasks[t].final;
    return n;
}

static int any_lost(const job_t *j)
{
    for (size_t e = 0; e < j->n_ex; e++)
        if (j->ex[e].lost)
            return 1;
    return 0;
}

/* Samples the job's records (RequestTaskReport on every executor), updates the rate
 * and shows it (progress line / JSON progress event). */
static void job_progress_sample(job_t *j)
{
    uint64_t total = 0;
    int sampled = 0;
    for (size_t e = 0; e < j->n_ex && !j->no_task_report; e++) {
        if (j->ex[e].lost || !j->ex[e].registered)
            continue;
        Te__ErrorCode code = TE__ERROR_CODE__OK;
        te_error_t err = {0};
        Te__RpcMessage *reply = task_report_call(j->ex[e].client, &j->job_id, &code, &err);
        if (reply == NULL) {
            if (code == TE__ERROR_CODE__OK && err.code != TE_EPROTO) {
                executor_lost(j, e, &err);
            } else {
                j->no_task_report = 1; /* e.g. an older daemon: no records/s, no retries */
                TE_DEBUG("tectl", "no task report from %s: %s", j->ex[e].address, err.msg);
            }
            continue;
        }
        const Te__TaskReport *r = reply->response->task_report;
        for (size_t i = 0; i < r->n_tasks; i++)
            total += r->tasks[i]->records_out;
        sampled = 1;
        te__rpc_message__free_unpacked(reply, NULL);
    }
    int64_t now = te_clock_mono_ms();
    if (sampled && !j->no_task_report) {
        if (j->rate_sample_ms > 0 && now > j->rate_sample_ms)
            j->records_per_s = total >= j->records_out
                                   ? (double)(total - j->records_out) * 1000.0 / (double)(now - j->rate_sample_ms)
                                   : 0;
        j->records_out = total;
        j->rate_sample_ms = now;
    }
    if (g_mode == OUT_JSON) {
        size_t running, submitted;
        count_tasks(j, &running, &submitted);
        char when[96];
        json_emit(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o}", "event", "progress", "time",
                            iso_time(when, sizeof(when)), "tasks", (int)j->n_tasks, "running", (int)running,
                            "finished", (int)j->n_finished, "failed_or_cancelled",
                            (int)(j->n_failed + j->n_canceled), "records_out",
                            j->rate_sample_ms ? json_integer((json_int_t)j->records_out) : json_null(),
                            "records_per_second", j->rate_sample_ms ? json_real(j->records_per_s) : json_null()),
                  1);
    } else {
        progress_draw(j);
    }
}

typedef enum pump_result {
    PUMP_DONE,     /* every submitted task is final */
    PUMP_DEADLINE, /* the deadline passed */
    PUMP_SIGNAL,   /* SIGINT / SIGTERM */
    PUMP_TROUBLE,  /* (stop_on_trouble) a task failed or was cancelled, or an executor was lost */
} pump_result_t;

/* Waits for pushes on every executor, heartbeating, until one of pump_result_t.
 * deadline_ms: monotonic ms, -1 = none. */
static pump_result_t job_pump(job_t *j, int64_t deadline_ms, int64_t heartbeat_ms, int stop_on_trouble)
{
    struct pollfd pfd[MAX_EXECUTORS + 1];
    int64_t next_hb = te_clock_mono_ms() + heartbeat_ms;
    int64_t next_progress = g_mode != OUT_PLAIN ? te_clock_mono_ms() + PROGRESS_INTERVAL_MS : -1;
    for (;;) {
        /* Ask every client before sleeping: a call may have left pushes in its
         * buffer, where poll(2) cannot see them. */
        for (size_t e = 0; e < j->n_ex; e++) {
            te_error_t err = {0};
            if (!j->ex[e].lost && rpc_client_poll(j->ex[e].client, 0, &err) < 0)
                executor_lost(j, e, &err);
        }
        if (ckpt_tick(j, j->s->a->checkpoint_interval_ms))
            continue; /* calls were made: look for pushes again before sleeping */
        if (n_open_tasks(j) == 0)
            return PUMP_DONE;
        if (stop_on_trouble && (j->n_failed > 0 || (j->n_canceled > 0 && !j->cancelling) || any_lost(j)))
            return PUMP_TROUBLE;
        int64_t now = te_clock_mono_ms();
        if (deadline_ms >= 0 && now >= deadline_ms)
            return PUMP_DEADLINE;
        if (now >= next_hb) {
            for (size_t e = 0; e < j->n_ex; e++) {
                if (j->ex[e].lost || !j->ex[e].registered)
                    continue;
                Te__Heartbeat hb = TE__HEARTBEAT__INIT;
                Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
                Te__ErrorCode code;
                te_error_t err = {0};
                hb.job_id = id_bin(&j->job_id);
                msg.body_case = TE__RPC_MESSAGE__BODY_HEARTBEAT;
                msg.heartbeat = &hb;
                if (call(j->ex[e].client, &msg, NULL, &code, &err) != TE_OK) {
                    if (code == TE__ERROR_CODE__OK)
                        executor_lost(j, e, &err);
                    else
                        ERRF("tectl: heartbeat to %s: %s\n", j->ex[e].address, err.msg);
                }
            }
            next_hb = te_clock_mono_ms() + heartbeat_ms;
            continue;
        }
        if (next_progress >= 0 && now >= next_progress) {
            job_progress_sample(j);
            next_progress = te_clock_mono_ms() + PROGRESS_INTERVAL_MS;
            continue;
        }
        int64_t wait = next_hb - now;
        if (next_progress >= 0 && next_progress - now < wait)
            wait = next_progress - now;
        if (deadline_ms >= 0 && deadline_ms - now < wait)
            wait = deadline_ms - now;
        if (j->coord != NULL) {
            int64_t d = checkpoint_coordinator_next_deadline(j->coord);
            if (!j->cancelling && j->next_trigger_ms - now < wait)
                wait = j->next_trigger_ms - now;
            if (d >= 0 && d - now < wait)
                wait = d - now;
            if (wait < 0)
                wait = 0;
        }
        size_t n = 0;
        pfd[n].fd = g_sigpipe[0];
        pfd[n++].events = POLLIN;
        for (size_t e = 0; e < j->n_ex; e++) {
            pfd[n].fd = j->ex[e].lost ? -1 : rpc_client_fd(j->ex[e].client);
            pfd[n++].events = POLLIN;
        }
        int r = poll(pfd, n, (int)wait);
        if (r < 0 && errno != EINTR) {
            perror("tectl: poll");
            return PUMP_TROUBLE;
        }
        if (signals_drain() > 0 || (r < 0 && g_signal))
            return PUMP_SIGNAL;
    }
}

/* Cancels what runs and waits (bounded) for the final states. A signal stops waiting. */
static void job_cancel_and_wait(job_t *j, int64_t heartbeat_ms)
{
    signals_drain(); /* the signal that led here, if any */
    cancel_all(j);
    if (n_open_tasks(j) == 0)
        return;
    pump_result_t r = job_pump(j, te_clock_mono_ms() + CANCEL_WAIT_MS, heartbeat_ms, 0);
    if (r == PUMP_DONE)
        return;
    ERRF("tectl: %s; not waiting for:",
         r == PUMP_SIGNAL ? "interrupted again" : "tasks did not reach a final state in time");
    for (size_t t = 0; t < j->n_tasks; t++)
        if (j->tasks[t].submitted && !j->tasks[t].final)
            ERRF(" %s", job_plan_task(j->plan, t)->task_name);
    ERRF("\n");
}

/* Frees every allocated slot, disconnects the JobManager, closes the connections. */

/* Frees every allocated slot, disconnects the JobManager, closes the connections,
 * frees the attempt (the session's graph stays). */
static void job_teardown(job_t *j, const char *cause)
{
    if (j->plan != NULL && j->slot_allocated != NULL && j->ex != NULL)
        for (size_t s = 0; s < job_plan_n_slots(j->plan); s++) {
            const te_plan_slot_t *slot = job_plan_slot(j->plan, s);
            executor_t *ex = &j->ex[slot->executor];
            if (!j->slot_allocated[s] || ex->lost || ex->client == NULL)
                continue;
            Te__FreeSlot fs = TE__FREE_SLOT__INIT;
            Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
            te_id_t alloc = slot->allocation_id;
            te_error_t err = {0};
            Te__ErrorCode code;
            fs.allocation_id = id_bin(&alloc);
            fs.cause = (char *)cause;
            msg.body_case = TE__RPC_MESSAGE__BODY_FREE_SLOT;
            msg.free_slot = &fs;
            if (call(ex->client, &msg, NULL, &code, &err) != TE_OK) {
                ERRF("tectl: free slot %d on %s: %s\n", slot->slot_number, ex->address, err.msg);
                if (code == TE__ERROR_CODE__OK)
                    ex->lost = 1;
            }
        }
    for (size_t e = 0; j->ex != NULL && e < j->n_ex; e++) {
        executor_t *ex = &j->ex[e];
        if (ex->registered && !ex->lost) {
            Te__DisconnectJobManager dj = TE__DISCONNECT_JOB_MANAGER__INIT;
            Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
            te_error_t err = {0};
            dj.job_id = id_bin(&j->job_id);
            dj.cause = (char *)cause;
            msg.body_case = TE__RPC_MESSAGE__BODY_DISCONNECT_JOB_MANAGER;
            msg.disconnect_job_manager = &dj;
            if (call(ex->client, &msg, NULL, NULL, &err) != TE_OK)
                ERRF("tectl: disconnect from %s: %s\n", ex->address, err.msg);
        }
        rpc_client_free(ex->client);
        free(ex->data_address);
    }
    if (j->coord != NULL)
        j->s->next_ckpt_id = checkpoint_coordinator_next_id(j->coord);
    checkpoint_coordinator_free(j->coord);
    free(j->ex);
    free(j->tasks);
    free(j->slot_allocated);
    free(j->first_cause);
    job_plan_free(j->plan);
    j->ex = NULL;
    j->tasks = NULL;
    j->slot_allocated = NULL;
    j->first_cause = NULL;
    j->plan = NULL;
    j->coord = NULL;
}

/* Reads slot reports, registers the JobManager on the connected executors. Returns an
 * exit code. */
static int job_connect(job_t *j)
{
    te_error_t err = {0};
    for (size_t e = 0; e < j->n_ex; e++)
        rpc_client_set_push_handler(j->ex[e].client, on_push, &j->ex[e]);
    /* Check capacity first so the error says what is missing. */
    uint32_t slots = job_graph_max_vertex_parallelism(j->g);
    for (size_t e = 0; e < j->n_ex; e++) {
        executor_t *ex = &j->ex[e];
        Te__RpcMessage *reply = slot_report_call(ex->client, &err);
        if (reply == NULL) {
            ERRF("tectl: slot report from %s: %s\n", ex->address, err.msg);
            return EXIT_JOB_FAILED;
        }
        const Te__SlotReport *r = reply->response->slot_report;
        size_t n_free = 0, need = slots / j->n_ex + (e < slots % j->n_ex);
        for (size_t s = 0; s < r->n_slots; s++)
            n_free += r->slots[s]->state == TE__SLOT_STATE__SLOT_FREE;
        ex->data_address = strdup(r->data_address ? r->data_address : "");
        size_t total = r->n_slots;
        te__rpc_message__free_unpacked(reply, NULL);
        if (ex->data_address == NULL || ex->data_address[0] == '\0') {
            ERRF("tectl: executor %s reported no data address\n", ex->address);
            return EXIT_JOB_FAILED;
        }
        if (n_free < need) {
            ERRF("tectl: executor %s has %zu free slot(s) of %zu, the job needs %zu there "
                 "(%u shared slots in all = the largest vertex parallelism, spread over %zu "
                 "executor(s)); free slots or add executors\n",
                 ex->address, n_free, total, need, slots, j->n_ex);
            return EXIT_JOB_FAILED;
        }
    }
    for (size_t e = 0; e < j->n_ex; e++) {
        Te__RegisterJobManager rj = TE__REGISTER_JOB_MANAGER__INIT;
        Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
        rj.job_id = id_bin(&j->job_id);
        rj.job_master_id = id_bin(&j->jm_id);
        rj.job_name = (char *)job_graph_name(j->g);
        msg.body_case = TE__RPC_MESSAGE__BODY_REGISTER_JOB_MANAGER;
        msg.register_job_manager = &rj;
        if (call(j->ex[e].client, &msg, NULL, NULL, &err) != TE_OK) {
            ERRF("tectl: register the job with %s: %s\n", j->ex[e].address, err.msg);
            return EXIT_JOB_FAILED;
        }
        j->ex[e].registered = 1;
    }
    return EXIT_OK;
}

/* Sleeps ms unless a signal arrives (returns 1 then). */
static int sleep_interruptible(int64_t ms)
{
    int64_t end = te_clock_mono_ms() + ms;
    for (;;) {
        int64_t left = end - te_clock_mono_ms();
        if (g_signal)
            return 1;
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = g_sigpipe[0], .events = POLLIN};
        if (poll(&p, 1, (int)left) > 0 && signals_drain() > 0)
            return 1;
    }
}

/* Connects to the executors for an attempt. The first attempt needs every one of them
 * (exit 3 otherwise); a restart takes those that answer, retrying each address for up
 * to RECONNECT_MS (a daemon restarted at the same address comes back). */
static int job_open_executors(job_t *j, const args_t *a, int all_required)
{
    te_rpc_client_t *clients[MAX_EXECUTORS] = {0};
    te_error_t errs[MAX_EXECUTORS];
    size_t n_ok = 0;
    int64_t end = te_clock_mono_ms() + (all_required ? 0 : RECONNECT_MS);
    for (;;) {
        for (size_t e = 0; e < a->n_executors; e++) {
            if (clients[e] != NULL)
                continue;
            memset(&errs[e], 0, sizeof(errs[e]));
            clients[e] = rpc_client_connect(a->executors[e], CONNECT_TIMEOUT_MS, &errs[e]);
            n_ok += clients[e] != NULL;
        }
        if (n_ok == a->n_executors || all_required || te_clock_mono_ms() >= end)
            break;
        if (sleep_interruptible(RECONNECT_PAUSE_MS))
            break;
    }
    if (all_required && n_ok < a->n_executors) {
        for (size_t e = 0; e < a->n_executors; e++) {
            if (clients[e] == NULL)
                ERRF("tectl: %s\n", errs[e].msg);
            rpc_client_free(clients[e]);
        }
        return EXIT_CONNECT;
    }
    for (size_t e = 0; e < a->n_executors; e++)
        if (clients[e] == NULL)
            ERRF("tectl: executor %s is not reachable, deploying without it: %s\n", a->executors[e], errs[e].msg);
    if (n_ok == 0)
        return EXIT_CONNECT;
    j->ex = calloc(n_ok, sizeof(*j->ex));
    if (j->ex == NULL) {
        for (size_t e = 0; e < a->n_executors; e++)
            rpc_client_free(clients[e]);
        ERRF("tectl: out of memory\n");
        return EXIT_JOB_FAILED;
    }
    for (size_t e = 0; e < a->n_executors; e++) {
        if (clients[e] == NULL)
            continue;
        executor_t *ex = &j->ex[j->n_ex++];
        ex->address = a->executors[e];
        ex->client = clients[e];
        ex->job = j;
    }
    return EXIT_OK;
}

static int job_request_slots(job_t *j)
{
    for (size_t s = 0; s < job_plan_n_slots(j->plan); s++) {
        if (g_signal)
            return EXIT_CANCELLED;
        const te_plan_slot_t *slot = job_plan_slot(j->plan, s);
        executor_t *ex = &j->ex[slot->executor];
        Te__RequestSlot rs = TE__REQUEST_SLOT__INIT;
        Te__RpcMessage msg = TE__RPC_MESSAGE__INIT, *reply = NULL;
        te_id_t alloc = slot->allocation_id;
        te_error_t err = {0};
        rs.job_id = id_bin(&j->job_id);
        rs.job_master_id = id_bin(&j->jm_id);
        rs.allocation_id = id_bin(&alloc);
        rs.slot_index = -1;
        msg.body_case = TE__RPC_MESSAGE__BODY_REQUEST_SLOT;
        msg.request_slot = &rs;
        if (call(ex->client, &msg, &reply, NULL, &err) != TE_OK) {
            ERRF("tectl: request slot %zu on %s: %s\n", s, ex->address, err.msg);
            return EXIT_JOB_FAILED;
        }
        j->slot_allocated[s] = 1;
        job_plan_set_slot_number(j->plan, s, reply->response->slot_index);
        te__rpc_message__free_unpacked(reply, NULL);
    }
    return EXIT_OK;
}

static void job_print_plan(const job_t *j)
{
    char hex[TE_ID_HEX_LEN + 1];
    if (g_mode == OUT_JSON) {
        json_t *tasks = json_array();
        for (size_t t = 0; t < j->n_tasks; t++) {
            const te_plan_task_t *task = job_plan_task(j->plan, t);
            json_array_append_new(tasks, json_pack("{s:s, s:s, s:s, s:i}", "execution_id",
                                                   te_id_to_hex(&task->execution_id, hex), "task", task->task_name,
                                                   "executor", j->ex[task->executor].address, "slot",
                                                   (int)job_plan_slot(j->plan, task->slot)->slot_number));
        }
        json_emit(json_pack("{s:s, s:s, s:s, s:i, s:o}", "event", "plan", "job_id", te_id_to_hex(&j->job_id, hex),
                            "job_name", job_graph_name(j->g), "slots", (int)job_plan_n_slots(j->plan), "tasks",
                            tasks),
                  1);
        return;
    }
    printf("job %s (%s): %zu task(s) in %zu slot(s) on %zu executor(s)\n", te_id_to_hex(&j->job_id, hex),
           job_graph_name(j->g), j->n_tasks, job_plan_n_slots(j->plan), j->n_ex);
    for (size_t t = 0; t < j->n_tasks; t++) {
        const te_plan_task_t *task = job_plan_task(j->plan, t);
        printf("  task %s %s on %s slot %d\n", te_id_to_hex(&task->execution_id, hex), task->task_name,
               j->ex[task->executor].address, job_plan_slot(j->plan, task->slot)->slot_number);
    }
    fflush(stdout);
}

static int job_submit_tasks(job_t *j)
{
    for (size_t t = 0; t < j->n_tasks; t++) {
        if (g_signal)
            return EXIT_CANCELLED;
        const te_plan_task_t *task = job_plan_task(j->plan, t);
        executor_t *ex = &j->ex[task->executor];
        Te__SubmitTask st = TE__SUBMIT_TASK__INIT;
        Te__RpcMessage msg = TE__RPC_MESSAGE__INIT;
        Te__ErrorCode code;
        te_error_t err = {0};
        st.job_master_id = id_bin(&j->jm_id);
        st.tdd = task->tdd; /* borrowed: packing does not modify it */
        msg.body_case = TE__RPC_MESSAGE__BODY_SUBMIT_TASK;
        msg.submit_task = &st;
        j->tasks[t].submitted = 1; /* a failed call may still have reached the daemon */
        if (call(ex->client, &msg, NULL, &code, &err) != TE_OK) {
            if (code == TE__ERROR_CODE__OK) {
                executor_lost(j, task->executor, &err);
            } else {
                j->tasks[t].submitted = 0;
                ERRF("tectl: %s rejected by %s: %s\n", task->task_name, ex->address, err.msg);
                /* A bad TDD / chain (e.g. state that cannot be rescaled) fails every attempt alike. */
                j->fatal = code == TE__ERROR_CODE__INVALID_CHAIN || code == TE__ERROR_CODE__INCONSISTENT_IDS ||
                           code == TE__ERROR_CODE__INVALID_ARGUMENT;
                free(j->first_cause);
                j->first_cause = strdup(err.msg);
            }
            return EXIT_JOB_FAILED;
        }
    }
    return EXIT_OK;
}

/* The last line of a job in the plain modes ("job finished"); JSON has the end event. */
static void print_result(const char *line)
{
    if (g_mode == OUT_JSON)
        return;
    progress_clear();
    printf("%s\n", line);
}

/* Sets every task's TaskRestore from the session's latest checkpoint: all handles of
 * the same vertex (matched by vertex id in the job graph). */
static int job_set_restore(job_t *j)
{
    const te_ckpt_metadata_t *m = j->s->latest;
    for (size_t t = 0; t < j->n_tasks; t++) {
        const te_job_vertex_t *vx = job_graph_vertex(j->g, job_plan_task(j->plan, t)->vertex);
        for (size_t v = 0; v < m->n_vertices; v++) {
            if (strcmp(m->vertices[v].id, vx->id) != 0)
                continue;
            te_error_t err = {0};
            if (job_plan_set_restore(j->plan, t, m->checkpoint_id, m->vertices[v].handles,
                                     m->vertices[v].n_handles, &err) != TE_OK) {
                ERRF("tectl: %s\n", err.msg);
                return EXIT_JOB_FAILED;
            }
        }
    }
    j->s->protect_id = m->checkpoint_id;
    return EXIT_OK;
}

static void session_set_cause(session_t *s, const char *task_cause, int printed, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Why the last attempt failed: the line for "job failed: ..." (printed later unless
 * `printed`) and the task's own cause for the JSON end event. */
static void session_set_cause(session_t *s, const char *task_cause, int printed, const char *fmt, ...)
{
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(s->cause);
    free(s->task_cause);
    s->cause = strdup(buf);
    s->task_cause = task_cause && task_cause[0] ? strdup(task_cause) : NULL;
    s->cause_printed = printed;
}

/* One deployment of the job, followed to its end. Returns an exit code; *restartable
 * says whether a restart could help (a task failed, an executor was lost or could not
 * be used). */
static int run_attempt(session_t *s, int64_t deadline, int *restartable)
{
    const args_t *a = s->a;
    te_error_t err = {0};
    job_t j;
    memset(&j, 0, sizeof(j));
    j.s = s;
    j.g = s->g;
    j.job_id = s->job_id;
    j.jm_id = s->jm_id;
    j.first_failed = -1;
    *restartable = 1;
    session_set_cause(s, NULL, 1, "%s", "the executors could not be used");
    int rc = job_open_executors(&j, a, s->attempt == 0 && a->restart_attempts == 0);
    if (rc != EXIT_OK) {
        if (g_signal) {
            rc = EXIT_CANCELLED;
            *restartable = 0;
        }
        goto out;
    }
    j.plan = job_plan_new(s->g, &s->job_id, j.n_ex, &err);
    if (j.plan == NULL) {
        ERRF("tectl: %s\n", err.msg);
        rc = EXIT_JOB_FAILED;
        *restartable = 0;
        goto out;
    }
    job_plan_set_attempt(j.plan, s->attempt);
    if (s->ckpt_root != NULL &&
        job_plan_set_config(j.plan, "state.checkpoints.dir", s->ckpt_root, &err) != TE_OK) {
        ERRF("tectl: %s\n", err.msg);
        rc = EXIT_JOB_FAILED;
        *restartable = 0;
        goto out;
    }
    j.n_tasks = job_plan_n_tasks(j.plan);
    j.tasks = calloc(j.n_tasks, sizeof(*j.tasks));
    j.slot_allocated = calloc(job_plan_n_slots(j.plan), sizeof(*j.slot_allocated));
    if (j.tasks == NULL || j.slot_allocated == NULL) {
        ERRF("tectl: out of memory\n");
        rc = EXIT_JOB_FAILED;
        *restartable = 0;
        goto out;
    }
    for (size_t t = 0; t < j.n_tasks; t++)
        j.tasks[t].state = -1;

    if ((rc = job_connect(&j)) != EXIT_OK || (rc = job_request_slots(&j)) != EXIT_OK) {
        if (rc == EXIT_CANCELLED)
            *restartable = 0;
        goto out;
    }
    const char *addrs[MAX_EXECUTORS];
    for (size_t e = 0; e < j.n_ex; e++)
        addrs[e] = j.ex[e].data_address;
    if (job_plan_build(j.plan, addrs, &err) != TE_OK) {
        ERRF("tectl: %s\n", err.msg);
        rc = EXIT_JOB_FAILED;
        *restartable = 0;
        goto out;
    }
    if (s->latest != NULL && (rc = job_set_restore(&j)) != EXIT_OK) {
        *restartable = 0;
        goto out;
    }
    job_print_plan(&j);
    if (a->checkpoint_interval_ms > 0) {
        j.coord = checkpoint_coordinator_new(j.n_tasks, a->checkpoint_timeout_ms, 1, s->next_ckpt_id, &err);
        if (j.coord == NULL) {
            ERRF("tectl: %s\n", err.msg);
            rc = EXIT_JOB_FAILED;
            *restartable = 0;
            goto out;
        }
        j.next_trigger_ms = te_clock_mono_ms() + a->checkpoint_interval_ms;
    }
    j.start_ms = te_clock_mono_ms();
    progress_draw(&j);

    rc = job_submit_tasks(&j);
    if (rc != EXIT_OK) {
        job_cancel_and_wait(&j, a->heartbeat_ms);
        if (rc == EXIT_CANCELLED)
            *restartable = 0;
        else
            *restartable = !j.fatal;
        session_set_cause(s, j.first_cause, 1, "%s", j.first_cause ? j.first_cause : "a task was not deployed");
        goto out;
    }

    pump_result_t r = job_pump(&j, deadline, a->heartbeat_ms, 1);
    switch (r) {
    case PUMP_DONE: break;
    case PUMP_SIGNAL:
        ERRF("tectl: %s: cancelling the job\n", g_signal == SIGTERM ? "SIGTERM" : "interrupted");
        job_cancel_and_wait(&j, a->heartbeat_ms);
        rc = EXIT_CANCELLED;
        *restartable = 0;
        goto out;
    case PUMP_DEADLINE:
        ERRF("tectl: the job did not end within --timeout %lld ms: cancelling it\n", (long long)a->timeout_ms);
        job_cancel_and_wait(&j, a->heartbeat_ms);
        session_set_cause(s, NULL, 1, "the job did not end within --timeout %lld ms", (long long)a->timeout_ms);
        rc = EXIT_JOB_FAILED;
        *restartable = 0;
        goto out;
    case PUMP_TROUBLE: job_cancel_and_wait(&j, a->heartbeat_ms); break;
    }
    /* Every task is final (or unreachable). */
    if (j.first_failed >= 0) {
        session_set_cause(s, j.first_cause, 0, "%s failed: %s",
                          job_plan_task(j.plan, (size_t)j.first_failed)->task_name,
                          j.first_cause && j.first_cause[0] ? j.first_cause : "(no cause given)");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_failed > 0) {
        session_set_cause(s, NULL, 0, "%s", "an executor was lost");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_canceled > 0) {
        rc = EXIT_CANCELLED;
        *restartable = 0;
    } else {
        rc = EXIT_OK;
        *restartable = 0;
    }
out:
    s->n_finished = j.n_finished;
    s->n_failed = j.n_failed;
    s->n_canceled = j.n_canceled;
    job_teardown(&j, rc == EXIT_OK ? "job finished" : rc == EXIT_CANCELLED ? "job cancelled" : "job failed");
    return rc;
}

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

/* Loads the job (file or checkpoint), its id, the checkpoint directory and what to
 * restore. Returns an exit code (message printed). */
static int session_open(session_t *s)
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
            ERRF("tectl: --from-checkpoint %s: %s\n", a->from_checkpoint, err.msg);
            return EXIT_JOB_FAILED;
        }
        s->latest = m;
        if (te_id_from_hex(m->job_id, &s->job_id) != 0) {
            ERRF("tectl: --from-checkpoint %s: the job id '%s' in its _metadata is not 32 hex characters\n",
                 a->from_checkpoint, m->job_id);
            return EXIT_JOB_FAILED;
        }
        if (root == NULL) { /* <root>/<job>/chk-<n> */
            char *real = realpath(m->dir, NULL);
            if (real != NULL) {
                char *p = strrchr(real, '/');
                if (p != NULL && p != real) {
                    *p = '\0';
                    p = strrchr(real, '/');
                    if (p != NULL && p != real) {
                        *p = '\0';
                        snprintf(root_buf, sizeof(root_buf), "%s", real);
                        root = root_buf;
                    }
                }
                free(real);
            }
        }
    } else {
        te_id_random(&s->job_id);
    }
    te_id_random(&s->jm_id);
    te_id_to_hex(&s->job_id, s->job_hex);
    if (job_file != NULL) {
        s->g = job_graph_parse_file(job_file, &err);
        if (s->g == NULL) {
            ERRF("tectl: invalid job: %s\n", err.msg);
            return EXIT_JOB_FAILED;
        }
        if ((s->graph_text = read_text_file(job_file, &err)) == NULL) {
            ERRF("tectl: %s\n", err.msg);
            return EXIT_JOB_FAILED;
        }
    } else {
        s->g = job_graph_parse_string(m->job_graph, &err);
        if (s->g == NULL) {
            ERRF("tectl: the job graph in %s/_metadata is invalid: %s\n", m->dir, err.msg);
            return EXIT_JOB_FAILED;
        }
        if ((s->graph_text = strdup(m->job_graph)) == NULL) {
            ERRF("tectl: out of memory\n");
            return EXIT_JOB_FAILED;
        }
    }
    if (root == NULL && a->checkpoint_interval_ms > 0)
        root = "checkpoints";
    if (root != NULL) {
        s->ckpt_root = absolute_path(root);
        size_t n = s->ckpt_root ? strlen(s->ckpt_root) + TE_ID_HEX_LEN + 2 : 0;
        if (s->ckpt_root == NULL || (s->job_dir = malloc(n)) == NULL) {
            ERRF("tectl: cannot resolve the checkpoint directory '%s'\n", root);
            return EXIT_JOB_FAILED;
        }
        snprintf(s->job_dir, n, "%s/%s", s->ckpt_root, s->job_hex);
        /* the shared files of the job's retained (incremental) checkpoints */
        if ((s->registry = shared_state_registry_new()) == NULL ||
            shared_state_registry_load(s->registry, s->job_dir, &err) != TE_OK) {
            ERRF("tectl: reading the checkpoints in '%s': %s\n", s->job_dir,
                 err.msg[0] ? err.msg : "out of memory");
            return EXIT_JOB_FAILED;
        }
    }
    if (m != NULL) {
        if (m->max_parallelism != job_graph_max_parallelism(s->g)) {
            ERRF("tectl: checkpoint %llu was taken with max_parallelism %u but the job has %u: its key groups "
                 "cannot be mapped; set \"max_parallelism\": %u in the job\n",
                 (unsigned long long)m->checkpoint_id, m->max_parallelism, job_graph_max_parallelism(s->g),
                 m->max_parallelism);
            return EXIT_JOB_FAILED;
        }
        for (size_t v = 0; v < job_graph_n_vertices(s->g); v++) {
            const char *id = job_graph_vertex(s->g, v)->id;
            size_t k = 0;
            while (k < m->n_vertices && strcmp(m->vertices[k].id, id) != 0)
                k++;
            if (k == m->n_vertices)
                ERRF("tectl: warning: vertex '%s' has no state in checkpoint %llu: it starts empty\n", id,
                     (unsigned long long)m->checkpoint_id);
        }
        for (size_t k = 0; k < m->n_vertices; k++)
            if (job_graph_find_vertex(s->g, m->vertices[k].id) < 0)
                ERRF("tectl: warning: checkpoint %llu holds state of vertex '%s', which the job does not have: "
                     "ignored\n",
                     (unsigned long long)m->checkpoint_id, m->vertices[k].id);
        if (g_mode != OUT_JSON)
            printf("resuming job %s from checkpoint %llu (%s)\n", s->job_hex, (unsigned long long)m->checkpoint_id,
                   m->dir);
    }
    uint64_t max = s->job_dir ? checkpoint_metadata_max_id(s->job_dir) : 0;
    if (m != NULL && m->checkpoint_id > max)
        max = m->checkpoint_id;
    s->next_ckpt_id = max + 1;
    return EXIT_OK;
}

static void session_close(session_t *s)
{
    job_graph_free(s->g);
    free(s->graph_text);
    free(s->ckpt_root);
    free(s->job_dir);
    shared_state_registry_free(s->registry);
    checkpoint_metadata_free(s->latest);
    free(s->cause);
    free(s->task_cause);
}

static int cmd_submit(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("submit", argc, argv,
                        OPT_EXECUTOR | OPT_HEARTBEAT | OPT_TIMEOUT | OPT_CKPT_INTERVAL | OPT_CKPT_DIR |
                            OPT_CKPT_TIMEOUT | OPT_RESTART_ATTEMPTS | OPT_RESTART_BACKOFF | OPT_FROM_CKPT,
                        &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_submit, stdout);
        return EXIT_OK;
    }
    if (a.from_checkpoint != NULL ? a.n_pos > 1 : a.n_pos != 1)
        return usage_error("submit", "%s",
                           a.from_checkpoint ? "expected at most one JOB.json with --from-checkpoint"
                                             : "expected exactly one JOB.json");
    if (a.n_executors == 0)
        return usage_error("submit", "%s", "expected at least one --executor HOST:PORT");
    g_mode = a.json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN;

    session_t s;
    memset(&s, 0, sizeof(s));
    s.a = &a;
    if ((rc = session_open(&s)) != EXIT_OK) {
        session_close(&s);
        return rc;
    }
    if (signals_install() != 0) {
        perror("tectl: pipe");
        session_close(&s);
        return EXIT_JOB_FAILED;
    }
    int64_t deadline = a.timeout_ms > 0 ? te_clock_mono_ms() + a.timeout_ms : -1;
    for (;;) {
        int restartable = 0;
        rc = run_attempt(&s, deadline, &restartable);
        if (rc == EXIT_OK || rc == EXIT_CANCELLED || !restartable || (long)s.attempt >= a.restart_attempts)
            break;
        if (deadline >= 0 && te_clock_mono_ms() >= deadline) {
            ERRF("tectl: the job did not end within --timeout %lld ms\n", (long long)a.timeout_ms);
            rc = EXIT_JOB_FAILED;
            break;
        }
        s.attempt++;
        const char *why = s.cause ? s.cause : "the job failed";
        if (g_mode == OUT_JSON) {
            char when[96];
            json_emit(json_pack("{s:s, s:s, s:i, s:i, s:o, s:s}", "event", "restart", "time",
                                iso_time(when, sizeof(when)), "attempt", (int)s.attempt, "max_attempts",
                                (int)a.restart_attempts, "checkpoint_id",
                                s.latest ? json_integer((json_int_t)s.latest->checkpoint_id) : json_null(),
                                "cause", why),
                      1);
        } else {
            progress_clear();
            print_time(stdout);
            if (s.latest != NULL)
                printf(" %s; restarting from checkpoint %llu (attempt %u of %ld)\n", why,
                       (unsigned long long)s.latest->checkpoint_id, s.attempt, a.restart_attempts);
            else
                printf(" %s; restarting from the beginning, no checkpoint completed yet (attempt %u of %ld)\n",
                       why, s.attempt, a.restart_attempts);
            fflush(stdout);
        }
        if (sleep_interruptible(a.restart_backoff_ms)) {
            rc = EXIT_CANCELLED;
            break;
        }
    }
    if (rc == EXIT_OK) {
        print_result("job finished");
    } else if (rc == EXIT_CANCELLED) {
        print_result("job cancelled");
    } else if (rc == EXIT_JOB_FAILED && s.cause != NULL && !s.cause_printed) {
        if (a.restart_attempts > 0)
            ERRF("tectl: job failed: %s (after %u restart(s) of %ld)\n", s.cause, s.attempt, a.restart_attempts);
        else
            ERRF("tectl: job failed: %s\n", s.cause);
    }
    progress_clear();
    if (g_mode == OUT_JSON) {
        const char *result = rc == EXIT_OK ? "finished" : rc == EXIT_CANCELLED ? "cancelled" : "failed";
        json_emit(json_pack("{s:s, s:s, s:s, s:i, s:s?, s:i, s:i, s:i, s:i, s:o}", "event", "end", "job_id",
                            s.job_hex, "result", result, "exit_code", rc, "cause",
                            rc == EXIT_JOB_FAILED && s.task_cause ? s.task_cause : NULL, "finished",
                            (int)s.n_finished, "failed", (int)s.n_failed, "cancelled", (int)s.n_canceled,
                            "restarts", (int)s.attempt, "checkpoint_id",
                            s.latest ? json_integer((json_int_t)s.latest->checkpoint_id) : json_null()),
                  1);
    }
    session_close(&s);
    return rc;
}

/* ---- tectl checkpoints -------------------------------------------------------------- */

static int cmd_checkpoints(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("checkpoints", argc, argv, OPT_CKPT_DIR | OPT_JOB, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_checkpoints, stdout);
        return EXIT_OK;
    }
    if (a.checkpoint_dir == NULL || a.n_pos != 0)
        return usage_error("checkpoints", "%s", "expected --checkpoint-dir DIR and no other argument");
    te_id_t id;
    char hex[TE_ID_HEX_LEN + 1];
    if (a.job != NULL) {
        if (te_id_from_hex(a.job, &id) != 0)
            return usage_error("checkpoints", "--job: '%s' is not a job id (32 hex characters)", a.job);
        te_id_to_hex(&id, hex); /* lower case, as the directories are named */
    }
    te_error_t err = {0};
    te_ckpt_metadata_t **list;
    size_t n;
    if (checkpoint_metadata_list_root(a.checkpoint_dir, a.job ? hex : NULL, &list, &n, &err) != TE_OK) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_JOB_FAILED;
    }
    if (a.json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            const te_ckpt_metadata_t *m = list[i];
            size_t tasks = 0;
            char when[96];
            for (size_t v = 0; v < m->n_vertices; v++)
                tasks += m->vertices[v].n_handles;
            json_array_append_new(arr,
                                  json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:I, s:i, s:s}", "job_id", m->job_id,
                                            "job_name", m->job_name, "checkpoint_id", (json_int_t)m->checkpoint_id,
                                            "timestamp", (json_int_t)m->timestamp_ms, "time",
                                            iso_time_at(m->timestamp_ms, when, sizeof(when)), "duration_ms",
                                            (json_int_t)m->duration_ms, "state_size", (json_int_t)m->state_size,
                                            "tasks", (int)tasks, "path", m->dir));
        }
        json_emit(json_pack("{s:o}", "checkpoints", arr), 0);
    } else if (n == 0) {
        printf("no completed checkpoints in %s\n", a.checkpoint_dir);
    } else {
        table_t t = {.n_cols = 8};
        t.right[2] = t.right[4] = t.right[5] = t.right[6] = 1;
        table_add(&t, (const char *[]){"JOB", "NAME", "ID", "TIME", "DURATION", "SIZE", "TASKS", "PATH"});
        for (size_t i = 0; i < n; i++) {
            const te_ckpt_metadata_t *m = list[i];
            size_t tasks = 0;
            char idb[24], when[96], dur[32], size[32], nt[24];
            for (size_t v = 0; v < m->n_vertices; v++)
                tasks += m->vertices[v].n_handles;
            snprintf(idb, sizeof(idb), "%llu", (unsigned long long)m->checkpoint_id);
            snprintf(dur, sizeof(dur), "%lld ms", (long long)m->duration_ms);
            snprintf(nt, sizeof(nt), "%zu", tasks);
            table_add(&t, (const char *[]){m->job_id, m->job_name, idb,
                                           iso_time_at(m->timestamp_ms, when, sizeof(when)), dur,
                                           human_bytes(m->state_size, size, sizeof(size)), nt, m->dir});
        }
        table_print_free(&t);
    }
    checkpoint_metadata_list_free(list, n);
    return EXIT_OK;
}

static int tectl_dispatch(int argc, char **argv);

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    te_log_set_level(TE_LOG_WARN);
    const char *lvl = getenv("TECTL_LOG_LEVEL");
    if (lvl != NULL && te_log_level_parse(lvl) >= 0)
        te_log_set_level((te_log_level_t)te_log_level_parse(lvl));
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    /* Security options (issue #6): taken out of argv before the command parses it. */
    const char *sec_opt[4] = {getenv("TE_TOKEN_FILE"), getenv("TE_TLS_CA"), getenv("TE_TLS_CERT"),
                              getenv("TE_TLS_KEY")};
    static const char *const sec_names[4] = {"--token-file", "--tls-ca", "--tls-cert", "--tls-key"};
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        int k = -1;
        for (int j = 0; j < 4; j++)
            if (strcmp(argv[i], sec_names[j]) == 0)
                k = j;
        if (k < 0) {
            argv[kept++] = argv[i];
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "tectl: %s needs a FILE argument\n", sec_names[k]);
            return EXIT_USAGE;
        }
        sec_opt[k] = argv[++i];
    }
    argc = kept;
    te_security_t *security = NULL;
    if ((sec_opt[0] && sec_opt[0][0]) || (sec_opt[1] && sec_opt[1][0])) {
        te_error_t serr;
        te_error_clear(&serr);
        security = security_for_client(sec_opt[0], sec_opt[1], sec_opt[2], sec_opt[3], &serr);
        if (security == NULL) {
            fprintf(stderr, "tectl: %s\n", serr.msg);
            return EXIT_USAGE;
        }
        rpc_client_set_default_security(security);
    }
    int rc = tectl_dispatch(argc, argv);
    security_free(security);
    return rc;
}

/* The command after the security options were removed. */
static int tectl_dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(argv[2], "submit") == 0)
            fputs(usage_submit, stdout);
        else if (argc > 2 && strcmp(argv[2], "list") == 0)
            fputs(usage_list, stdout);
        else if (argc > 2 && strcmp(argv[2], "slots") == 0)
            fputs(usage_slots, stdout);
        else if (argc > 2 && strcmp(argv[2], "cancel") == 0)
            fputs(usage_cancel, stdout);
        else if (argc > 2 && strcmp(argv[2], "checkpoints") == 0)
            fputs(usage_checkpoints, stdout);
        else
            fputs(usage_main, stdout);
        return EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("tectl %s\n", TE_VERSION);
        return EXIT_OK;
    }
    if (strcmp(cmd, "submit") == 0)
        return cmd_submit(argc - 2, argv + 2);
    if (strcmp(cmd, "slots") == 0)
        return cmd_slots(argc - 2, argv + 2);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "cancel") == 0)
        return cmd_cancel(argc - 2, argv + 2);
    if (strcmp(cmd, "checkpoints") == 0)
        return cmd_checkpoints(argc - 2, argv + 2);
    fprintf(stderr, "tectl: unknown command '%s'\n\n", cmd);
    fputs(usage_main, stderr);
    return EXIT_USAGE;
}
