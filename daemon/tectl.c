/*
 * tectl — the reference scheduler and command-line client of taskexecutord (a tiny
 * JobManager): `submit` plans a job JSON onto the slots of one or more executors,
 * deploys one TaskDeploymentDescriptor per subtask and stays attached, printing every
 * TaskExecutionState push, heartbeating, and cancelling on failure or Ctrl-C;
 * `slots` prints an executor's slot report; `cancel` cancels executions by id.
 *
 * Threading: single-threaded. One blocking rpc_client per executor, multiplexed with
 * poll(2) over their sockets plus a self-pipe written by the SIGINT/SIGTERM handler
 * (the handler only sets a flag and writes one byte). Pushes are handled by
 * on_push, called from inside rpc_client_call / rpc_client_poll on this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/job_graph.h"
#include "client/job_plan.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/te_status.h"
#include "rpc/rpc_client.h"
#include "rpc.pb-c.h"

#ifndef TE_VERSION
#define TE_VERSION "dev"
#endif

#define EXIT_OK 0
#define EXIT_JOB_FAILED 1
#define EXIT_USAGE 2
#define EXIT_CONNECT 3
#define EXIT_CANCELLED 130

#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 10000
#define CANCEL_WAIT_MS 30000 /* how long to wait for final states after cancelling */
#define MAX_EXECUTORS 64
#define MAX_POSITIONAL 256

/* ---- usage ------------------------------------------------------------------------- */

static const char usage_main[] =
    "usage: tectl [--version] [--help] <command> [<args>]\n"
    "\n"
    "The reference scheduler / client of taskexecutord.\n"
    "\n"
    "Commands:\n"
    "  submit   deploy a job (JSON) onto one or more executors and follow it to its end\n"
    "  slots    show an executor's slots\n"
    "  cancel   cancel task executions by id\n"
    "\n"
    "`tectl <command> --help` shows a command's options and an example.\n"
    "\n"
    "Durations: 500ms, 2s, 1min, 1h (a bare number is milliseconds).\n"
    "\n"
    "Exit codes:\n"
    "  0    ok (submit: every task FINISHED)\n"
    "  1    the job failed, was rejected or is invalid; an executor was lost; a cancel failed\n"
    "  2    usage error\n"
    "  3    cannot connect to an executor\n"
    "  130  the job was cancelled (Ctrl-C / SIGTERM, or its tasks were cancelled)\n";

static const char usage_submit[] =
    "usage: tectl submit JOB.json --executor HOST:PORT [--executor HOST:PORT ...]\n"
    "                    [--heartbeat-interval 2s] [--timeout 0]\n"
    "\n"
    "Plans the job onto the executors' slots (slot sharing: the job needs as many slots as\n"
    "its largest vertex parallelism; shared slot i goes to executor i modulo the number of\n"
    "executors), registers as the job's JobManager, requests the slots, submits every\n"
    "subtask and stays attached: one line per task state change\n"
    "(\"<time> <task> <STATE> [cause]\"). Prints the job id and every task's execution id\n"
    "first (for `tectl cancel`).\n"
    "\n"
    "Ends when every task FINISHED (exit 0). When a task fails, the others are cancelled\n"
    "(exit 1). Ctrl-C / SIGTERM cancels every task and waits for them (exit 130; a second\n"
    "Ctrl-C stops waiting). Slots are always freed and the JobManager disconnected.\n"
    "\n"
    "Options:\n"
    "  --executor HOST:PORT         an executor's RPC address (taskmanager.rpc.port);\n"
    "                               repeat for several executors\n"
    "  --heartbeat-interval DUR     heartbeat period per executor (default 2s)\n"
    "  --timeout DUR                cancel the job and exit 1 if it has not ended by then\n"
    "                               (default 0 = no limit)\n"
    "\n"
    "Example:\n"
    "  tectl submit conf/jobs/wordcount.json --executor 127.0.0.1:6122\n";

static const char usage_slots[] =
    "usage: tectl slots --executor HOST:PORT\n"
    "\n"
    "Prints the executor's slot report: slot, state, job, allocation, number of tasks,\n"
    "and the data (partition server) address.\n"
    "\n"
    "Example:\n"
    "  tectl slots --executor 127.0.0.1:6122\n";

static const char usage_cancel[] =
    "usage: tectl cancel --executor HOST:PORT EXECUTION_ID...\n"
    "\n"
    "Cancels each task execution (32 hex characters, as printed by `tectl submit`) on the\n"
    "executor and prints the result per id. Exit 1 when any cancel was refused.\n"
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
    int help;
} args_t;

enum { OPT_EXECUTOR = 1, OPT_HEARTBEAT = 2, OPT_TIMEOUT = 4 };

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
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = 1;
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
        } opts[] = {{"executor", OPT_EXECUTOR}, {"heartbeat-interval", OPT_HEARTBEAT}, {"timeout", OPT_TIMEOUT}};
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
        if (bit == OPT_EXECUTOR) {
            if (a->n_executors == MAX_EXECUTORS)
                return usage_error(cmd, "too many executors (at most %s)", "64");
            for (size_t k = 0; k < a->n_executors; k++)
                if (strcmp(a->executors[k], value) == 0)
                    return usage_error(cmd, "executor '%s' given twice", value);
            a->executors[a->n_executors++] = value;
        } else if (bit == OPT_HEARTBEAT) {
            if (parse_duration(value, &a->heartbeat_ms) != 0 || a->heartbeat_ms == 0)
                return usage_error(cmd, "--heartbeat-interval: '%s' is not a positive duration (e.g. 2s, 500ms)",
                                   value);
        } else {
            if (parse_duration(value, &a->timeout_ms) != 0)
                return usage_error(cmd, "--timeout: '%s' is not a duration (e.g. 10min, 30s; 0 = no limit)",
                                   value);
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
static te_status_t call(te_rpc_client_t *c, Te__RpcMessage *msg, Te__RpcMessage **reply,
                        Te__ErrorCode *code, te_error_t *err)
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
    char b1[TE_ID_HEX_LEN + 1], b2[TE_ID_HEX_LEN + 1];
    printf("%-5s %-10s %-32s %-32s %s\n", "SLOT", "STATE", "JOB", "ALLOCATION", "TASKS");
    for (size_t i = 0; i < r->n_slots; i++) {
        const Te__SlotStatus *s = r->slots[i];
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__slot_state__descriptor, s->state);
        const char *st = v ? v->name : "UNKNOWN";
        if (strncmp(st, "SLOT_", 5) == 0)
            st += 5;
        printf("%-5d %-10s %-32s %-32s %u\n", s->slot_index, st, id_or_dash(&s->job_id, b1),
               id_or_dash(&s->allocation_id, b2), s->number_of_tasks);
    }
    printf("data address: %s\n", r->data_address[0] ? r->data_address : "-");
    printf("resource id: %s\n", id_or_dash(&r->resource_id, b1));
    te__rpc_message__free_unpacked(reply, NULL);
    rpc_client_free(c);
    return EXIT_OK;
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
    for (size_t i = 0; i < a.n_pos; i++) {
        Te__ErrorCode code;
        if (cancel_call(c, &ids[i], &code, &err) == TE_OK) {
            printf("%s: cancelling\n", a.pos[i]);
        } else {
            printf("%s: %s\n", a.pos[i], err.msg);
            rc = EXIT_JOB_FAILED;
            if (code == TE__ERROR_CODE__OK) /* connection failed */
                break;
        }
    }
    rpc_client_free(c);
    return rc;
}

/* ---- tectl submit ------------------------------------------------------------------- */

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

typedef struct executor {
    const char *address; /* borrowed from argv */
    te_rpc_client_t *client;
    char *data_address;
    int registered;
    int lost;
    job_t *job;
} executor_t;

typedef struct task_state {
    int state;       /* Te__ExecutionState; -1 before any push */
    int submitted;
    int final;       /* a final state was seen, or it can no longer be seen */
    int cancel_sent;
} task_state_t;

struct job {
    te_job_graph_t *g;
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
};

static void print_time(FILE *f)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(f, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

static int state_is_final(int s)
{
    return s == TE__EXECUTION_STATE__FINISHED || s == TE__EXECUTION_STATE__CANCELED ||
           s == TE__EXECUTION_STATE__FAILED;
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
}

static void on_push(void *arg, te_rpc_client_t *c, const Te__RpcMessage *push)
{
    executor_t *ex = arg;
    job_t *j = ex->job;
    (void)c;
    if (push->body_case != TE__RPC_MESSAGE__BODY_TASK_EXECUTION_STATE || push->task_execution_state == NULL)
        return;
    const Te__TaskExecutionState *s = push->task_execution_state;
    te_id_t id;
    long t;
    if (te_id_from_bytes(s->execution_attempt_id.data, s->execution_attempt_id.len, &id) != 0 ||
        (t = job_plan_find_task(j->plan, &id)) < 0) {
        TE_DEBUG("tectl", "%s: state push for an unknown execution ignored", ex->address);
        return;
    }
    const te_plan_task_t *task = job_plan_task(j->plan, (size_t)t);
    print_time(stdout);
    printf(" %s %s", task->task_name, state_name(s->state));
    if (s->cause != NULL && s->cause[0] != '\0')
        printf(" %s", s->cause);
    printf("\n");
    fflush(stdout);
    j->tasks[t].state = s->state;
    if (state_is_final(s->state)) {
        if (s->state == TE__EXECUTION_STATE__FAILED && j->first_failed < 0) {
            j->first_failed = t;
            free(j->first_cause);
            j->first_cause = strdup(s->cause ? s->cause : "");
        }
        task_mark_final(j, (size_t)t, s->state);
    }
}

/* An executor's connection failed: its tasks can no longer report. */
static void executor_lost(job_t *j, size_t e, const te_error_t *err)
{
    if (j->ex[e].lost)
        return;
    j->ex[e].lost = 1;
    fprintf(stderr, "tectl: lost the connection to executor %s: %s\n", j->ex[e].address, err->msg);
    for (size_t t = 0; t < j->n_tasks; t++)
        if (job_plan_task(j->plan, t)->executor == e && !j->tasks[t].final) {
            j->tasks[t].final = 1;
            j->n_failed++;
        }
}

/* Consumers first (reverse topological order): a consumer is CANCELING before its
 * producer's partition goes away, so it ends CANCELED rather than FAILED. */
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
            fprintf(stderr, "tectl: cancel %s: %s\n", task->task_name, err.msg);
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
    for (;;) {
        /* Ask every client before sleeping: a call may have left pushes in its
         * buffer, where poll(2) cannot see them. */
        for (size_t e = 0; e < j->n_ex; e++) {
            te_error_t err = {0};
            if (!j->ex[e].lost && rpc_client_poll(j->ex[e].client, 0, &err) < 0)
                executor_lost(j, e, &err);
        }
        if (n_open_tasks(j) == 0)
            return PUMP_DONE;
        if (stop_on_trouble && (j->n_failed > 0 || (j->n_canceled > 0 && !j->cancelling) ||
                                any_lost(j)))
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
                        fprintf(stderr, "tectl: heartbeat to %s: %s\n", j->ex[e].address, err.msg);
                }
            }
            next_hb = te_clock_mono_ms() + heartbeat_ms;
            continue;
        }
        int64_t wait = next_hb - now;
        if (deadline_ms >= 0 && deadline_ms - now < wait)
            wait = deadline_ms - now;
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
    fprintf(stderr, "tectl: %s; not waiting for:", r == PUMP_SIGNAL ? "interrupted again"
                                                                   : "tasks did not reach a final state in time");
    for (size_t t = 0; t < j->n_tasks; t++)
        if (j->tasks[t].submitted && !j->tasks[t].final)
            fprintf(stderr, " %s", job_plan_task(j->plan, t)->task_name);
    fprintf(stderr, "\n");
}

/* Frees every allocated slot, disconnects the JobManager, closes the connections. */
static void job_teardown(job_t *j, const char *cause)
{
    if (j->plan != NULL && j->slot_allocated != NULL && j->ex != NULL)
        for (size_t s = 0; s < job_plan_n_slots(j->plan); s++) {
            const te_plan_slot_t *slot = job_plan_slot(j->plan, s);
            executor_t *ex = &j->ex[slot->executor];
            if (!j->slot_allocated[s] || ex->lost)
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
                fprintf(stderr, "tectl: free slot %d on %s: %s\n", slot->slot_number, ex->address, err.msg);
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
                fprintf(stderr, "tectl: disconnect from %s: %s\n", ex->address, err.msg);
        }
        rpc_client_free(ex->client);
        free(ex->data_address);
    }
    free(j->ex);
    free(j->tasks);
    free(j->slot_allocated);
    free(j->first_cause);
    job_plan_free(j->plan);
    job_graph_free(j->g);
}

/* Connects, reads slot reports, registers the JobManager. Returns an exit code. */
static int job_connect(job_t *j, const args_t *a)
{
    te_error_t err = {0};
    for (size_t e = 0; e < j->n_ex; e++) {
        executor_t *ex = &j->ex[e];
        ex->address = a->executors[e];
        ex->job = j;
        ex->client = rpc_client_connect(ex->address, CONNECT_TIMEOUT_MS, &err);
        if (ex->client == NULL) {
            fprintf(stderr, "tectl: %s\n", err.msg);
            return EXIT_CONNECT;
        }
        rpc_client_set_push_handler(ex->client, on_push, ex);
    }
    /* Check capacity first so the error says what is missing. */
    uint32_t slots = job_graph_max_vertex_parallelism(j->g);
    for (size_t e = 0; e < j->n_ex; e++) {
        executor_t *ex = &j->ex[e];
        Te__RpcMessage *reply = slot_report_call(ex->client, &err);
        if (reply == NULL) {
            fprintf(stderr, "tectl: slot report from %s: %s\n", ex->address, err.msg);
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
            fprintf(stderr, "tectl: executor %s reported no data address\n", ex->address);
            return EXIT_JOB_FAILED;
        }
        if (n_free < need) {
            fprintf(stderr,
                    "tectl: executor %s has %zu free slot(s) of %zu, the job needs %zu there "
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
            fprintf(stderr, "tectl: register the job with %s: %s\n", j->ex[e].address, err.msg);
            return EXIT_JOB_FAILED;
        }
        j->ex[e].registered = 1;
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
            fprintf(stderr, "tectl: request slot %zu on %s: %s\n", s, ex->address, err.msg);
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
                fprintf(stderr, "tectl: %s rejected by %s: %s\n", task->task_name, ex->address, err.msg);
            }
            return EXIT_JOB_FAILED;
        }
    }
    return EXIT_OK;
}

static int cmd_submit(int argc, char **argv)
{
    args_t a;
    int rc = args_parse("submit", argc, argv, OPT_EXECUTOR | OPT_HEARTBEAT | OPT_TIMEOUT, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(usage_submit, stdout);
        return EXIT_OK;
    }
    if (a.n_pos != 1)
        return usage_error("submit", "%s", "expected exactly one JOB.json");
    if (a.n_executors == 0)
        return usage_error("submit", "%s", "expected at least one --executor HOST:PORT");

    te_error_t err = {0};
    job_t j;
    memset(&j, 0, sizeof(j));
    j.first_failed = -1;
    j.g = job_graph_parse_file(a.pos[0], &err);
    if (j.g == NULL) {
        fprintf(stderr, "tectl: invalid job: %s\n", err.msg);
        return EXIT_JOB_FAILED;
    }
    if (signals_install() != 0) {
        perror("tectl: pipe");
        job_graph_free(j.g);
        return EXIT_JOB_FAILED;
    }
    te_id_random(&j.job_id);
    te_id_random(&j.jm_id);
    j.n_ex = a.n_executors;
    j.ex = calloc(j.n_ex, sizeof(*j.ex));
    j.plan = job_plan_new(j.g, &j.job_id, j.n_ex, &err);
    if (j.ex == NULL || j.plan == NULL) {
        fprintf(stderr, "tectl: %s\n", j.plan == NULL ? err.msg : "out of memory");
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    j.n_tasks = job_plan_n_tasks(j.plan);
    j.tasks = calloc(j.n_tasks, sizeof(*j.tasks));
    j.slot_allocated = calloc(job_plan_n_slots(j.plan), sizeof(*j.slot_allocated));
    if (j.tasks == NULL || j.slot_allocated == NULL) {
        fprintf(stderr, "tectl: out of memory\n");
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    for (size_t t = 0; t < j.n_tasks; t++)
        j.tasks[t].state = -1;

    if ((rc = job_connect(&j, &a)) != EXIT_OK || (rc = job_request_slots(&j)) != EXIT_OK) {
        if (rc == EXIT_CANCELLED)
            printf("job cancelled\n");
        goto cleanup;
    }
    const char *addrs[MAX_EXECUTORS];
    for (size_t e = 0; e < j.n_ex; e++)
        addrs[e] = j.ex[e].data_address;
    if (job_plan_build(j.plan, addrs, &err) != TE_OK) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    job_print_plan(&j);

    rc = job_submit_tasks(&j);
    if (rc != EXIT_OK) {
        job_cancel_and_wait(&j, a.heartbeat_ms);
        if (rc == EXIT_CANCELLED)
            printf("job cancelled\n");
        goto cleanup;
    }

    int64_t deadline = a.timeout_ms > 0 ? te_clock_mono_ms() + a.timeout_ms : -1;
    pump_result_t r = job_pump(&j, deadline, a.heartbeat_ms, 1);
    switch (r) {
    case PUMP_DONE:
        break;
    case PUMP_SIGNAL:
        fprintf(stderr, "tectl: %s: cancelling the job\n", g_signal == SIGTERM ? "SIGTERM" : "interrupted");
        job_cancel_and_wait(&j, a.heartbeat_ms);
        printf("job cancelled\n");
        rc = EXIT_CANCELLED;
        goto cleanup;
    case PUMP_DEADLINE:
        fprintf(stderr, "tectl: the job did not end within --timeout %lld ms: cancelling it\n",
                (long long)a.timeout_ms);
        job_cancel_and_wait(&j, a.heartbeat_ms);
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    case PUMP_TROUBLE:
        job_cancel_and_wait(&j, a.heartbeat_ms);
        break;
    }
    /* Every task is final (or unreachable). */
    if (j.first_failed >= 0) {
        fprintf(stderr, "tectl: job failed: %s failed: %s\n", job_plan_task(j.plan, (size_t)j.first_failed)->task_name,
                j.first_cause && j.first_cause[0] ? j.first_cause : "(no cause given)");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_failed > 0) {
        fprintf(stderr, "tectl: job failed: an executor was lost\n");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_canceled > 0) {
        printf("job cancelled\n");
        rc = EXIT_CANCELLED;
    } else {
        printf("job finished\n");
        rc = EXIT_OK;
    }
cleanup:
    job_teardown(&j, rc == EXIT_OK ? "job finished" : rc == EXIT_CANCELLED ? "job cancelled" : "job failed");
    return rc;
}

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
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        if (argc > 2 && strcmp(argv[2], "submit") == 0)
            fputs(usage_submit, stdout);
        else if (argc > 2 && strcmp(argv[2], "slots") == 0)
            fputs(usage_slots, stdout);
        else if (argc > 2 && strcmp(argv[2], "cancel") == 0)
            fputs(usage_cancel, stdout);
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
    if (strcmp(cmd, "cancel") == 0)
        return cmd_cancel(argc - 2, argv + 2);
    fprintf(stderr, "tectl: unknown command '%s'\n\n", cmd);
    fputs(usage_main, stderr);
    return EXIT_USAGE;
}
