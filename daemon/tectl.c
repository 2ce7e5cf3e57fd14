/*
 * tectl — the reference scheduler and command-line client of taskexecutord (a tiny
 * JobManager): `submit` plans a job JSON onto the slots of one or more executors,
 * deploys one TaskDeploymentDescriptor per subtask and stays attached, printing every
 * TaskExecutionState push, heartbeating, and cancelling on failure or Ctrl-C;
 * `list` shows the jobs and tasks on executors (RequestTaskReport); `slots` prints an
 * executor's slot report; `cancel` cancels executions by id. Every command takes
 * --json: one JSON document on stdout (submit: JSON lines, one event per line).
 * On a terminal, submit keeps one live progress line (tasks running / finished,
 * records/s) under the state-change lines; piped, it prints plain lines only.
 *
 * Threading: single-threaded. One blocking rpc_client per executor, multiplexed with
 * poll(2) over their sockets plus a self-pipe written by the SIGINT/SIGTERM handler
 * (the handler only sets a flag and writes one byte). Pushes are handled by
 * on_push, called from inside rpc_client_call / rpc_client_poll on this thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
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
#define PROGRESS_INTERVAL_MS 1000

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
    "\n"
    "`tectl <command> --help` shows a command's options and an example.\n"
    "Every command takes --json: machine-readable output on stdout (one JSON document;\n"
    "submit: JSON lines, one event per line). Errors stay plain text on stderr.\n"
    "\n"
    "Durations: 500ms, 2s, 1min, 1h (a bare number is milliseconds).\n"
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
    "  --json                       JSON lines on stdout, one event per line:\n"
    "                               {\"event\":\"plan\",...} once, {\"event\":\"state\",...} per\n"
    "                               state change, {\"event\":\"progress\",...} every second,\n"
    "                               {\"event\":\"end\",\"result\":...,\"exit_code\":N} last\n"
    "\n"
    "Exit codes: 0 every task FINISHED, 1 failed / rejected / invalid job / executor\n"
    "lost / --timeout, 2 usage, 3 cannot connect, 130 cancelled.\n"
    "\n"
    "Example:\n"
    "  tectl submit conf/jobs/wordcount.json --executor 127.0.0.1:6122\n";

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
    int help;
    int json;
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
    char **cells; /* row-major */
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
            json_array_append_new(slots, json_pack("{s:i, s:s, s:o, s:o, s:i}", "slot", (int)st->slot_index, "state",
                                                   slot_state_name(st->state), "job_id", json_id(&st->job_id),
                                                   "allocation_id", json_id(&st->allocation_id), "tasks",
                                                   (int)st->number_of_tasks));
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
                json_array_append_new(
                    tasks, json_pack("{s:o, s:s, s:s, s:o, s:s, s:i, s:o, s:I, s:I, s:s?}", "job_id", json_id(&ts->job_id),
                                     "job_name", ts->job_name ? ts->job_name : "", "task",
                                     ts->task_name ? ts->task_name : "", "execution_id",
                                     json_id(&ts->execution_attempt_id), "state", state, "slot", (int)ts->slot_index,
                                     "allocation_id", json_id(&ts->allocation_id), "records_in",
                                     (json_int_t)ts->records_in, "records_out", (json_int_t)ts->records_out, "cause",
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
                json_array_append_new(results, json_pack("{s:s, s:b, s:n}", "execution_id", a.pos[i], "ok", 1, "error"));
            else
                printf("%s: cancelling\n", a.pos[i]);
        } else {
            if (results)
                json_array_append_new(results, json_pack("{s:s, s:b, s:s}", "execution_id", a.pos[i], "ok", 0, "error", err.msg));
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
    /* progress (OUT_TTY / OUT_JSON) */
    int64_t start_ms;
    int64_t rate_sample_ms; /* when records_out was sampled; 0 = never */
    uint64_t records_out;   /* summed over the job's tasks at the last sample */
    double records_per_s;
    int no_task_report; /* the executors do not answer RequestTaskReport */
};

static void print_time(FILE *f)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    fprintf(f, "%02d:%02d:%02d.%03ld", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

/* UTC "2024-05-01T12:00:00.123Z" in buf. */
static const char *iso_time(char *buf, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    return buf;
}

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
    printf("\r\033[K[%02lld:%02lld] %zu running, %zu finished", (long long)(el / 60), (long long)(el % 60), running,
           j->n_finished);
    if (j->n_failed + j->n_canceled > 0)
        printf(", %zu failed/cancelled", j->n_failed + j->n_canceled);
    printf(" of %zu tasks | %s records/s", j->n_tasks,
           j->rate_sample_ms ? human_rate(j->records_per_s, rate, sizeof(rate)) : "-");
    fflush(stdout);
    g_progress_shown = 1;
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
    if (g_mode == OUT_JSON) {
        char hex[TE_ID_HEX_LEN + 1], when[96];
        json_emit(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I}", "event", "state", "time",
                            iso_time(when, sizeof(when)), "task", task->task_name, "execution_id",
                            te_id_to_hex(&id, hex), "executor", ex->address, "state", state_name(s->state), "cause",
                            s->cause && s->cause[0] ? s->cause : NULL, "records_in", (json_int_t)s->records_in,
                            "records_out", (json_int_t)s->records_out),
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
            j->records_per_s =
                total >= j->records_out ? (double)(total - j->records_out) * 1000.0 / (double)(now - j->rate_sample_ms) : 0;
        j->records_out = total;
        j->rate_sample_ms = now;
    }
    if (g_mode == OUT_JSON) {
        size_t running, submitted;
        count_tasks(j, &running, &submitted);
        char when[96];
        json_emit(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o}", "event", "progress", "time",
                            iso_time(when, sizeof(when)), "tasks", (int)j->n_tasks, "running", (int)running,
                            "finished", (int)j->n_finished, "failed_or_cancelled", (int)(j->n_failed + j->n_canceled),
                            "records_out", j->rate_sample_ms ? json_integer((json_int_t)j->records_out) : json_null(),
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
    ERRF("tectl: %s; not waiting for:", r == PUMP_SIGNAL ? "interrupted again"
                                                                   : "tasks did not reach a final state in time");
    for (size_t t = 0; t < j->n_tasks; t++)
        if (j->tasks[t].submitted && !j->tasks[t].final)
            ERRF(" %s", job_plan_task(j->plan, t)->task_name);
    ERRF("\n");
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
            ERRF("tectl: %s\n", err.msg);
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
            ERRF(
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
            ERRF("tectl: register the job with %s: %s\n", j->ex[e].address, err.msg);
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
                            "job_name", job_graph_name(j->g), "slots", (int)job_plan_n_slots(j->plan), "tasks", tasks),
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
    g_mode = a.json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_TTY : OUT_PLAIN;

    te_error_t err = {0};
    job_t j;
    memset(&j, 0, sizeof(j));
    j.first_failed = -1;
    j.g = job_graph_parse_file(a.pos[0], &err);
    if (j.g == NULL) {
        ERRF("tectl: invalid job: %s\n", err.msg);
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
        ERRF("tectl: %s\n", j.plan == NULL ? err.msg : "out of memory");
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    j.n_tasks = job_plan_n_tasks(j.plan);
    j.tasks = calloc(j.n_tasks, sizeof(*j.tasks));
    j.slot_allocated = calloc(job_plan_n_slots(j.plan), sizeof(*j.slot_allocated));
    if (j.tasks == NULL || j.slot_allocated == NULL) {
        ERRF("tectl: out of memory\n");
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    for (size_t t = 0; t < j.n_tasks; t++)
        j.tasks[t].state = -1;

    if ((rc = job_connect(&j, &a)) != EXIT_OK || (rc = job_request_slots(&j)) != EXIT_OK) {
        if (rc == EXIT_CANCELLED)
            print_result("job cancelled");
        goto cleanup;
    }
    const char *addrs[MAX_EXECUTORS];
    for (size_t e = 0; e < j.n_ex; e++)
        addrs[e] = j.ex[e].data_address;
    if (job_plan_build(j.plan, addrs, &err) != TE_OK) {
        ERRF("tectl: %s\n", err.msg);
        rc = EXIT_JOB_FAILED;
        goto cleanup;
    }
    job_print_plan(&j);
    j.start_ms = te_clock_mono_ms();
    progress_draw(&j);

    rc = job_submit_tasks(&j);
    if (rc != EXIT_OK) {
        job_cancel_and_wait(&j, a.heartbeat_ms);
        if (rc == EXIT_CANCELLED)
            print_result("job cancelled");
        goto cleanup;
    }

    int64_t deadline = a.timeout_ms > 0 ? te_clock_mono_ms() + a.timeout_ms : -1;
    pump_result_t r = job_pump(&j, deadline, a.heartbeat_ms, 1);
    switch (r) {
    case PUMP_DONE:
        break;
    case PUMP_SIGNAL:
        ERRF("tectl: %s: cancelling the job\n", g_signal == SIGTERM ? "SIGTERM" : "interrupted");
        job_cancel_and_wait(&j, a.heartbeat_ms);
        print_result("job cancelled");
        rc = EXIT_CANCELLED;
        goto cleanup;
    case PUMP_DEADLINE:
        ERRF("tectl: the job did not end within --timeout %lld ms: cancelling it\n",
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
        ERRF("tectl: job failed: %s failed: %s\n", job_plan_task(j.plan, (size_t)j.first_failed)->task_name,
                j.first_cause && j.first_cause[0] ? j.first_cause : "(no cause given)");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_failed > 0) {
        ERRF("tectl: job failed: an executor was lost\n");
        rc = EXIT_JOB_FAILED;
    } else if (j.n_canceled > 0) {
        print_result("job cancelled");
        rc = EXIT_CANCELLED;
    } else {
        print_result("job finished");
        rc = EXIT_OK;
    }
cleanup:
    progress_clear();
    if (g_mode == OUT_JSON) {
        const char *result = rc == EXIT_OK ? "finished" : rc == EXIT_CANCELLED ? "cancelled" : "failed";
        char hex[TE_ID_HEX_LEN + 1];
        json_emit(json_pack("{s:s, s:s, s:s, s:i, s:s?, s:i, s:i, s:i}", "event", "end", "job_id",
                            te_id_to_hex(&j.job_id, hex), "result", result, "exit_code", rc, "cause",
                            rc == EXIT_JOB_FAILED && j.first_cause && j.first_cause[0] ? j.first_cause : NULL,
                            "finished", (int)j.n_finished, "failed", (int)j.n_failed, "cancelled", (int)j.n_canceled),
                  1);
    }
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
        else if (argc > 2 && strcmp(argv[2], "list") == 0)
            fputs(usage_list, stdout);
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
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc - 2, argv + 2);
    if (strcmp(cmd, "cancel") == 0)
        return cmd_cancel(argc - 2, argv + 2);
    fprintf(stderr, "tectl: unknown command '%s'\n\n", cmd);
    fputs(usage_main, stderr);
    return EXIT_USAGE;
}
