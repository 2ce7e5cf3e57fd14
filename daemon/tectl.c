/*
 * tectl — the reference scheduler and command-line client of taskexecutord:
 * `submit` runs a job (lib/jobmaster's JobMaster, printed by tectl_submit.c),
 * `list` shows the jobs and tasks on executors (RequestTaskReport), `slots` prints an
 * executor's slot report, `cancel` cancels executions by id, `checkpoints` lists the
 * retained checkpoints of a checkpoint directory. Every command takes --json: one
 * JSON document on stdout (submit: JSON lines, one event per line).
 *
 * Each command is one row of `commands`: its usage text, its option table (one row
 * per option: name, kind, field, what a valid value is) and the function that runs
 * it with the parsed options.
 *
 * Threading: single-threaded. list / slots / cancel use the blocking rpc_client, one
 * call at a time.
 */
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ids.h"
#include "common/log.h"
#include "common/te_status.h"
#include "common/tls.h"
#include "jobmaster/checkpoint_metadata.h"
#include "rpc/rpc_client.h"
#include "rpc.pb-c.h"
#include "tectl.h"

#ifndef TE_VERSION
#define TE_VERSION "dev"
#endif

#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS    10000

/* ---- usage ------------------------------------------------------------------------- */

static const char usage_main[] =
    "usage: tectl [--version] [--help] <command> [<args>]\n"
    "\n"
    "The reference scheduler / client of taskexecutord.\n"
    "\n"
    "Commands (with a JobManager: --jobmanager HOST:PORT or $TE_JOBMANAGER):\n"
    "  submit        hand a job (JSON) to the JobManager (or run it on --executor daemons)\n"
    "  attach        follow a job of the JobManager: state changes, progress, exit code\n"
    "  jobs          list the JobManager's jobs\n"
    "  job           show one job: vertices, subtasks and their TaskExecutors, checkpoints\n"
    "  cancel        cancel a job (or, with --executor, task executions by id)\n"
    "  savepoint     take a savepoint of a running job\n"
    "  stop          stop a job with a final savepoint\n"
    "  taskmanagers  list the TaskExecutors registered with the JobManager\n"
    "Commands on executors (--executor HOST:PORT):\n"
    "  list          show the jobs and tasks on one or more executors\n"
    "  slots         show an executor's slots\n"
    "  checkpoints   list the retained checkpoints of a checkpoint directory\n"
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
    "usage: tectl cancel JOB_ID [--jobmanager HOST:PORT] [--json]\n"
    "       tectl cancel --executor HOST:PORT [--json] EXECUTION_ID...\n"
    "\n"
    "With a JobManager (--jobmanager or $TE_JOBMANAGER): cancels the job (its tasks are\n"
    "cancelled, its slots freed; it ends CANCELED). Exit 0 accepted, 1 the job already\n"
    "ended or is unknown, 3 the JobManager cannot be reached.\n"
    "\n"
    "With --executor: cancels each task execution (32 hex characters, as printed by\n"
    "`tectl submit` and `tectl list`) on the executor and prints the result per id.\n"
    "\n"
    "Options:\n"
    "  --json   one JSON document: {\"results\":[{\"execution_id\":...,\"ok\":true,\n"
    "           \"error\":null}, ...]}\n"
    "\n"
    "Exit codes: 0 every cancel accepted, 1 any refused, 2 usage, 3 cannot connect.\n"
    "\n"
    "Example:\n"
    "  tectl cancel 0c7e3a1f9b2d4c6e8a0b1c2d3e4f5a6b --jobmanager 127.0.0.1:8081\n"
    "  tectl cancel --executor 127.0.0.1:6122 4f1c0de0a1b2c3d4e5f60718293a4b5c\n";

/* ---- options: one table per command ------------------------------------------------ */

static const opt_t executor_opts[] = {OPT("executor", OPT_ADDRESS, executors, NULL), {NULL, 0, 0, NULL}};
static const opt_t cancel_opts[] = {
    OPT("executor", OPT_ADDRESS, executors, NULL),
    OPT("jobmanager", OPT_TEXT, jobmanager, NULL),
    {NULL, 0, 0, NULL},
};
static const opt_t checkpoints_opts[] = {
    OPT("checkpoint-dir", OPT_DIR, checkpoint_dir, NULL),
    OPT("job", OPT_TEXT, job, NULL),
    {NULL, 0, 0, NULL},
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

int tectl_usage_error(const char *cmd, const char *fmt, const char *what)
{
    fprintf(stderr, "tectl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n(see `tectl %s --help`)\n", cmd ? cmd : "");
    return EXIT_USAGE;
}

/* Stores value for option o in a. Returns 0 or an exit code (message printed). */
static int opt_set(const char *cmd, const opt_t *o, const char *value, args_t *a)
{
    char *field = (char *)a + o->offset, msg[600];
    int64_t v = 0;
    int bad = 0;
    switch (o->kind) {
    case OPT_ADDRESS:
        if (a->n_executors == MAX_EXECUTORS)
            return tectl_usage_error(cmd, "too many executors (at most %s)", "64");
        for (size_t k = 0; k < a->n_executors; k++)
            if (strcmp(a->executors[k], value) == 0)
                return tectl_usage_error(cmd, "executor '%s' given twice", value);
        a->executors[a->n_executors++] = value;
        return 0;
    case OPT_DURATION:
    case OPT_DURATION_POS: bad = parse_duration(value, &v) != 0 || (o->kind == OPT_DURATION_POS && v == 0); break;
    case OPT_COUNT: {
        char *end;
        errno = 0;
        long n = strtol(value, &end, 10);
        bad = end == value || *end != '\0' || errno != 0 || n < 0 || n > 1000000;
        v = n;
        break;
    }
    case OPT_DIR:
        if (value[0] == '\0') {
            snprintf(msg, sizeof(msg), "--%s: the directory must not be empty", o->name);
            return tectl_usage_error(cmd, "%s", msg);
        }
        /* fall through */
    case OPT_TEXT: *(const char **)field = value; return 0;
    case OPT_FLAG: *(int *)field = 1; return 0;
    }
    if (bad) {
        snprintf(msg, sizeof(msg), "--%s: '%s' is not %s", o->name, value, o->expected);
        return tectl_usage_error(cmd, "%s", msg);
    }
    *(int64_t *)field = v;
    return 0;
}

int tectl_opt_given(const args_t *a, const opt_t *opts, const char *name)
{
    for (size_t i = 0; opts[i].name != NULL && i < sizeof(a->set) / sizeof(a->set[0]); i++)
        if (strcmp(opts[i].name, name) == 0)
            return a->set[i];
    return 0;
}

const char *tectl_jobmanager(const args_t *a)
{
    const char *env = getenv("TE_JOBMANAGER");
    return a->jobmanager ? a->jobmanager : env && env[0] ? env : NULL;
}

/* Parses argv (after the command name) against the command's option table. Returns 0
 * or an exit code (usage error, message printed). */
static int args_parse(const char *cmd, int argc, char **argv, const opt_t *opts, args_t *a)
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
        int positional = strncmp(arg, "--", 2) != 0 || arg[2] == '\0';
        if (positional && arg[0] == '-' && arg[1] != '\0' && strcmp(arg, "--") != 0)
            return tectl_usage_error(cmd, "unknown option '%s'", arg);
        if (positional) {
            int rest = strcmp(arg, "--") == 0; /* everything after "--" is positional */
            for (i += rest; i < argc; i++) {
                if (a->n_pos == MAX_POSITIONAL)
                    return tectl_usage_error(cmd, "too many arguments (at most %s)", "256");
                a->pos[a->n_pos++] = argv[i];
                if (!rest)
                    break;
            }
            continue;
        }
        const opt_t *o = NULL;
        const char *value = NULL;
        for (const opt_t *k = opts; k->name != NULL; k++) {
            size_t n = strlen(k->name);
            if (strncmp(arg + 2, k->name, n) == 0 && (arg[2 + n] == '\0' || arg[2 + n] == '=')) {
                o = k;
                value = arg[2 + n] == '=' ? arg + 3 + n : NULL;
            }
        }
        if (o == NULL)
            return tectl_usage_error(cmd, "unknown option '%s'", arg);
        if ((size_t)(o - opts) < sizeof(a->set) / sizeof(a->set[0]))
            a->set[o - opts] = 1;
        if (o->kind == OPT_FLAG) {
            if (value != NULL)
                return tectl_usage_error(cmd, "option '%s' takes no value", arg);
            opt_set(cmd, o, "", a);
            continue;
        }
        if (value == NULL) {
            if (i + 1 >= argc)
                return tectl_usage_error(cmd, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        int rc = opt_set(cmd, o, value, a);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- RPC helpers ------------------------------------------------------------------ */

static const char *state_name(int state)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(&te__execution_state__descriptor, state);
    return v ? v->name : "UNKNOWN";
}

/* A call whose Response must be OK (see rpc_client_call_checked). */
static te_status_t call(te_rpc_client_t *c, Te__RpcMessage *msg, Te__RpcMessage **reply, Te__ErrorCode *code,
                        te_error_t *err)
{
    return rpc_client_call_checked(c, msg, CALL_TIMEOUT_MS, reply, code, err);
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
void tectl_json_emit(json_t *doc, int lines)
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

/* UTC "2024-05-01T12:00:00.123Z" in buf (wall ms, or now when < 0). */
const char *tectl_iso_time_at(int64_t wall_ms, char *buf, size_t cap)
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

/* 1234567 -> "1.2 MB" */
const char *tectl_human_bytes(uint64_t v, char *buf, size_t cap)
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

void tectl_table_add(tectl_table_t *t, const char *const *row)
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

void tectl_table_free(tectl_table_t *t)
{
    for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}

void tectl_table_print_free(tectl_table_t *t)
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
    tectl_table_free(t);
}

/* ---- tectl slots ------------------------------------------------------------------ */

static int cmd_slots(const args_t *a)
{
    if (a->n_executors != 1 || a->n_pos != 0)
        return tectl_usage_error("slots", "%s", "expected exactly one --executor HOST:PORT and no other argument");
    te_error_t err = {0};
    te_rpc_client_t *c = rpc_client_connect(a->executors[0], CONNECT_TIMEOUT_MS, &err);
    if (c == NULL) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_CONNECT;
    }
    Te__RpcMessage *reply = slot_report_call(c, &err);
    if (reply == NULL) {
        fprintf(stderr, "tectl: slot report from %s: %s\n", a->executors[0], err.msg);
        rpc_client_free(c);
        return EXIT_JOB_FAILED;
    }
    const Te__SlotReport *r = reply->response->slot_report;
    char b1[TE_ID_HEX_LEN + 1], b2[TE_ID_HEX_LEN + 1], rid[256];
    if (a->json) {
        json_t *slots = json_array();
        for (size_t i = 0; i < r->n_slots; i++) {
            const Te__SlotStatus *st = r->slots[i];
            json_array_append_new(
                slots, json_pack("{s:i, s:s, s:o, s:o, s:i}", "slot", (int)st->slot_index, "state",
                                 slot_state_name(st->state), "job_id", json_id(&st->job_id), "allocation_id",
                                 json_id(&st->allocation_id), "tasks", (int)st->number_of_tasks));
        }
        tectl_json_emit(json_pack("{s:s, s:s, s:s, s:o}", "executor", a->executors[0], "resource_id",
                                  bytes_text(&r->resource_id, rid, sizeof(rid)), "data_address",
                                  r->data_address ? r->data_address : "", "slots", slots),
                        0);
    } else {
        tectl_table_t t = {.n_cols = 5};
        t.right[4] = 1;
        tectl_table_add(&t, (const char *[]){"SLOT", "STATE", "JOB", "ALLOCATION", "TASKS"});
        for (size_t i = 0; i < r->n_slots; i++) {
            const Te__SlotStatus *st = r->slots[i];
            char idx[16], n[16];
            snprintf(idx, sizeof(idx), "%d", st->slot_index);
            snprintf(n, sizeof(n), "%u", st->number_of_tasks);
            tectl_table_add(&t, (const char *[]){idx, slot_state_name(st->state), id_or_dash(&st->job_id, b1),
                                                 id_or_dash(&st->allocation_id, b2), n});
        }
        tectl_table_print_free(&t);
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

static int cmd_list(const args_t *a)
{
    int rc;
    if (a->n_executors == 0 || a->n_pos != 0)
        return tectl_usage_error("list", "%s", "expected at least one --executor HOST:PORT and no other argument");
    rc = EXIT_OK;
    json_t *doc = a->json ? json_array() : NULL;
    tectl_table_t t = {.n_cols = 9};
    t.right[4] = t.right[5] = t.right[6] = 1;
    tectl_table_add(
        &t, (const char *[]){"JOB", "NAME", "TASK", "STATE", "SLOT", "IN", "OUT", "EXECUTOR", "EXECUTION"});
    for (size_t e = 0; e < a->n_executors; e++) {
        const char *addr = a->executors[e];
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
            tectl_table_add(&t, (const char *[]){id_or_dash(&ts->job_id, b1),
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
        tectl_json_emit(json_pack("{s:o}", "executors", doc), 0);
        tectl_table_free(&t);
    } else if (t.n_rows == 1) {
        tectl_table_free(&t);
        printf("no tasks\n");
    } else {
        tectl_table_print_free(&t);
    }
    return rc;
}

/* ---- tectl cancel ----------------------------------------------------------------- */

static int cmd_cancel(const args_t *a)
{
    int rc;
    if (a->n_executors == 0 && tectl_jobmanager(a) != NULL)
        return tectl_cluster_cancel(a);
    if (a->jobmanager != NULL)
        return tectl_usage_error("cancel", "%s", "--executor and --jobmanager exclude each other");
    if (a->n_executors != 1)
        return tectl_usage_error("cancel", "%s", "expected exactly one --executor HOST:PORT");
    if (a->n_pos == 0)
        return tectl_usage_error("cancel", "%s", "expected at least one EXECUTION_ID");
    te_id_t ids[MAX_POSITIONAL];
    for (size_t i = 0; i < a->n_pos; i++)
        if (te_id_from_hex(a->pos[i], &ids[i]) != 0)
            return tectl_usage_error("cancel", "'%s' is not an execution id (32 hex characters)", a->pos[i]);
    te_error_t err = {0};
    te_rpc_client_t *c = rpc_client_connect(a->executors[0], CONNECT_TIMEOUT_MS, &err);
    if (c == NULL) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_CONNECT;
    }
    rc = EXIT_OK;
    json_t *results = a->json ? json_array() : NULL;
    for (size_t i = 0; i < a->n_pos; i++) {
        Te__ErrorCode code;
        if (cancel_call(c, &ids[i], &code, &err) == TE_OK) {
            if (results)
                json_array_append_new(results,
                                      json_pack("{s:s, s:b, s:n}", "execution_id", a->pos[i], "ok", 1, "error"));
            else
                printf("%s: cancelling\n", a->pos[i]);
        } else {
            if (results)
                json_array_append_new(
                    results, json_pack("{s:s, s:b, s:s}", "execution_id", a->pos[i], "ok", 0, "error", err.msg));
            else
                printf("%s: %s\n", a->pos[i], err.msg);
            rc = EXIT_JOB_FAILED;
            if (code == TE__ERROR_CODE__OK) /* connection failed */
                break;
        }
    }
    if (results)
        tectl_json_emit(json_pack("{s:o}", "results", results), 0);
    rpc_client_free(c);
    return rc;
}

/* ---- tectl checkpoints -------------------------------------------------------------- */

static int cmd_checkpoints(const args_t *a)
{
    if (a->checkpoint_dir == NULL || a->n_pos != 0)
        return tectl_usage_error("checkpoints", "%s", "expected --checkpoint-dir DIR and no other argument");
    te_id_t id;
    char hex[TE_ID_HEX_LEN + 1];
    if (a->job != NULL) {
        if (te_id_from_hex(a->job, &id) != 0)
            return tectl_usage_error("checkpoints", "--job: '%s' is not a job id (32 hex characters)", a->job);
        te_id_to_hex(&id, hex); /* lower case, as the directories are named */
    }
    te_error_t err = {0};
    te_ckpt_metadata_t **list;
    size_t n;
    if (checkpoint_metadata_list_root(a->checkpoint_dir, a->job ? hex : NULL, &list, &n, &err) != TE_OK) {
        fprintf(stderr, "tectl: %s\n", err.msg);
        return EXIT_JOB_FAILED;
    }
    if (a->json) {
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
                                            tectl_iso_time_at(m->timestamp_ms, when, sizeof(when)), "duration_ms",
                                            (json_int_t)m->duration_ms, "state_size", (json_int_t)m->state_size,
                                            "tasks", (int)tasks, "path", m->dir));
        }
        tectl_json_emit(json_pack("{s:o}", "checkpoints", arr), 0);
    } else if (n == 0) {
        printf("no completed checkpoints in %s\n", a->checkpoint_dir);
    } else {
        tectl_table_t t = {.n_cols = 8};
        t.right[2] = t.right[4] = t.right[5] = t.right[6] = 1;
        tectl_table_add(&t, (const char *[]){"JOB", "NAME", "ID", "TIME", "DURATION", "SIZE", "TASKS", "PATH"});
        for (size_t i = 0; i < n; i++) {
            const te_ckpt_metadata_t *m = list[i];
            size_t tasks = 0;
            char idb[24], when[96], dur[32], size[32], nt[24];
            for (size_t v = 0; v < m->n_vertices; v++)
                tasks += m->vertices[v].n_handles;
            snprintf(idb, sizeof(idb), "%llu", (unsigned long long)m->checkpoint_id);
            snprintf(dur, sizeof(dur), "%lld ms", (long long)m->duration_ms);
            snprintf(nt, sizeof(nt), "%zu", tasks);
            tectl_table_add(&t,
                            (const char *[]){m->job_id, m->job_name, idb,
                                             tectl_iso_time_at(m->timestamp_ms, when, sizeof(when)), dur,
                                             tectl_human_bytes(m->state_size, size, sizeof(size)), nt, m->dir});
        }
        tectl_table_print_free(&t);
    }
    checkpoint_metadata_list_free(list, n);
    return EXIT_OK;
}

/* ---- commands ------------------------------------------------------------------------ */

static const command_t commands[] = {
    {"list", usage_list, executor_opts, cmd_list},
    {"slots", usage_slots, executor_opts, cmd_slots},
    {"cancel", usage_cancel, cancel_opts, cmd_cancel},
    {"checkpoints", usage_checkpoints, checkpoints_opts, cmd_checkpoints},
};

static const command_t *command_find(const char *name)
{
    if (strcmp(name, tectl_submit_command.name) == 0)
        return &tectl_submit_command;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    for (const command_t *c = tectl_cluster_commands; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
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
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        const command_t *c = argc > 2 ? command_find(argv[2]) : NULL;
        fputs(c ? c->usage : usage_main, stdout);
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("tectl %s\n", TE_VERSION);
        return EXIT_OK;
    }
    const command_t *c = command_find(name);
    if (c == NULL) {
        fprintf(stderr, "tectl: unknown command '%s'\n\n", name);
        fputs(usage_main, stderr);
        return EXIT_USAGE;
    }
    args_t a;
    int rc = args_parse(c->name, argc - 2, argv + 2, c->opts, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        fputs(c->usage, stdout);
        return EXIT_OK;
    }
    return c->run(&a);
}
