/*
 * sink_postgres — the `postgres` sink: writes records as rows of a PostgreSQL table
 * through libpq, batched, exactly once with checkpoints by two-phase commit.
 *
 * Parameters: conninfo (required; a libpq conninfo or postgresql:// URI — its password
 * is never logged or shown), table (required; "name" or "schema.name", quoted as
 * given), columns (required; "a,b,c" maps field i to column i, "0:a,2:c" names the
 * fields), mode = insert (default; COPY) | upsert (INSERT ... ON CONFLICT (key_columns)
 * DO UPDATE; key_columns required), batch_size (rows, default 5000), batch_interval
 * (default 200ms: a batch is written at the latest this long after its first row),
 * delivery = auto (default: exactly_once when the job takes checkpoints, else
 * at_least_once) | at_least_once | exactly_once, delimiter ("\t"), side_output (tag of
 * rejected records, default "malformed"), connect_timeout (default 10s). Its
 * connections are named (application_name) taskexecutord-sink (writes) and
 * taskexecutord-commit (COMMIT / ROLLBACK PREPARED, which cannot run inside the open
 * transaction) unless the conninfo names one.
 *
 * Values: field bytes as text, PostgreSQL converts them to the column's type; an empty
 * field is NULL. A record with fewer fields than the columns need, or a row PostgreSQL
 * rejects for its data (SQLSTATE class 22 data exception / 23 constraint violation), goes
 * to the side output and the numMalformedRecords counter: a failed batch is rolled back
 * to a savepoint and written again row by row, each row in its own savepoint. Any
 * other error (connection lost, table missing, permissions) fails the task with the
 * server's message; the job's restart strategy applies.
 *
 * Delivery:
 *   at_least_once: every batch is its own transaction (BEGIN ... COMMIT); a
 *     checkpoint's synchronous phase writes the pending batch, so what precedes a
 *     checkpoint is committed before it completes; a replay after a failure writes the
 *     rows since then again (upsert makes that idempotent).
 *   exactly_once (Flink's TwoPhaseCommitSinkFunction): all rows between two
 *     checkpoints go into one transaction; snapshot(n) writes the batch and runs
 *     PREPARE TRANSACTION 'te-<job>-<vertex>-<subtask>-<n>' (prepared transactions
 *     survive crashes of this process and of the server); notify_checkpoint_complete(n)
 *     runs COMMIT PREPARED for every prepared transaction of a checkpoint <= n. The
 *     state is the list of prepared, not yet committed transactions. open after a
 *     restore of checkpoint n commits them (one already committed is skipped) and then
 *     runs ROLLBACK PREPARED for every other prepared transaction of this sink
 *     (pg_prepared_xacts, gid prefix te-<job>-<vertex>-, subtask j with j mod
 *     parallelism = this subtask): they belong to checkpoints after n, whose rows are
 *     replayed. open without a restore rolls back the same set (left by an attempt
 *     that failed before its first completed checkpoint). At the end of a bounded input
 *     everything is committed. Needs max_prepared_transactions > 0 on the server (open
 *     fails with a message saying so otherwise).
 *
 * Threading: every callback runs on the owning task's thread; libpq calls block it
 * (a slow database back-pressures the job).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/connector_util.h"
#include "operators/op_keyed.h"

#define PG_GID_MAX    200 /* PostgreSQL's limit for a prepared transaction's gid */
#define PG_MAX_PARAMS 65535

typedef struct pg_pending {
    uint64_t ckpt;
    char gid[PG_GID_MAX];
} pg_pending_t;

typedef struct pg_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    te_output_t *out; /* the operator's output (stable for its life), for rejected rows */
    const char *conninfo;
    char where[512]; /* redacted conninfo, for messages */
    char *table;     /* quoted */
    char **cols;     /* quoted column names */
    int32_t *field;  /* field index of column i */
    int *is_key;
    size_t ncols, nkeys;
    int32_t max_field;
    int upsert;
    conn_delivery_t delivery;
    int64_t batch_size, batch_interval, connect_timeout;
    char delim;
    const char *side_tag;
    PGconn *conn; /* writes: the open transaction */
    PGconn *ctl;  /* exactly_once: COMMIT / ROLLBACK PREPARED (not allowed inside a transaction) */
    /* the batch: the records' bytes, one after the other */
    op_buf_t rows;
    uint32_t *row_off, *row_len;
    size_t nrows, cap_rows;
    int timer_armed;
    int in_txn;
    int copy_open; /* insert mode: the batch's COPY runs while its rows arrive */
    op_buf_t cbuf; /* COPY data not yet handed to libpq */
    /* two-phase commit */
    char prefix[80]; /* te-<job>-<vertex>- */
    char app[64];    /* application_name of the writer: te-<job 8>-<vertex 8>-<subtask>-sink */
    pg_pending_t *pending;
    size_t npending, cap_pending;
    char **old_prefixes; /* restored from snapshots written by another job id */
    size_t nold;
    int restored;
    op_buf_t sql, vals;
    uint64_t logged;
} pg_sink_t;

/* ---- setup ---- */

static char *quoted(const char *name, int dotted)
{
    op_buf_t b = {0};
    const char *p = name;
    for (;;) {
        const char *dot = dotted ? strchr(p, '.') : NULL;
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (conn_sql_ident(&b, p, n) != 0 || (dot && op_buf_append(&b, ".", 1) != 0))
            goto cleanup;
        if (dot == NULL)
            break;
        p = dot + 1;
    }
    if (op_buf_append(&b, "", 1) != 0)
        goto cleanup;
    return (char *)b.data;
cleanup:
    op_buf_release(&b);
    return NULL;
}

static int parse_columns(op_setup_t *s, pg_sink_t *ps, const char *columns, const char *keys)
{
    char **items = NULL, **kitems = NULL;
    size_t n = 0, nk = 0;
    int reported = 0; /* the error is written; otherwise it is out of memory */
    if (conn_split_list(s, "columns", columns, &items, &n) != 0)
        return -1;
    if (keys != NULL && conn_split_list(s, "key_columns", keys, &kitems, &nk) != 0) {
        reported = 1;
        goto cleanup;
    }
    ps->cols = calloc(n, sizeof(char *));
    ps->field = calloc(n, sizeof(int32_t));
    ps->is_key = calloc(n, sizeof(int));
    if (ps->cols == NULL || ps->field == NULL || ps->is_key == NULL)
        goto cleanup;
    ps->ncols = n;
    for (size_t i = 0; i < n; i++) {
        const char *name = items[i], *colon = strchr(items[i], ':');
        ps->field[i] = (int32_t)i;
        if (colon != NULL) {
            char num[16];
            int64_t f;
            size_t l = (size_t)(colon - items[i]);
            if (l == 0 || l >= sizeof(num) ||
                (memcpy(num, items[i], l), num[l] = '\0', op_parse_int64(num, &f)) != 0 || f < 0 ||
                f > CONN_FIELD_MAX || colon[1] == '\0') {
                op_errorf(s, "parameter 'columns': '%s' is not <column> or <field index>:<column>", items[i]);
                reported = 1;
                goto cleanup;
            }
            ps->field[i] = (int32_t)f;
            name = colon + 1;
        }
        if (ps->field[i] > ps->max_field)
            ps->max_field = ps->field[i];
        for (size_t k = 0; k < nk; k++)
            if (strcmp(kitems[k], name) == 0)
                ps->is_key[i] = 1;
        ps->nkeys += (size_t)ps->is_key[i];
        if ((ps->cols[i] = quoted(name, 0)) == NULL)
            goto cleanup;
    }
    if (ps->nkeys != nk) {
        op_errorf(s, "parameter 'key_columns' = '%s' names a column that is not in 'columns' = '%s'", keys,
                  columns);
        reported = 1;
        goto cleanup;
    }
    free(items);
    free(kitems);
    return 0;
cleanup:
    if (!reported)
        op_errorf(s, "out of memory");
    free(items);
    free(kitems);
    return -1;
}

static void pg_sink_dispose(void *self);

static void *pg_sink_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {
        "conninfo", "table",          "columns",         "key_columns", "mode",        "batch_size",
        "delivery", "batch_interval", "connect_timeout", "delimiter",   "side_output", NULL};
    op_setup_t s = {api, ctx, "postgres", err, errlen};
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0)
        return NULL;
    if (api->abi_version < 3) {
        op_errorf(&s, "needs operator ABI 3 (job and vertex ids name its transactions)");
        return NULL;
    }
    pg_sink_t *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    ps->api = api;
    ps->ctx = ctx;
    const char *table, *columns, *keys, *mode;
    if (op_get_string(&s, "conninfo", 1, NULL, &ps->conninfo) != 0 ||
        op_get_string(&s, "table", 1, NULL, &table) != 0 || op_get_string(&s, "columns", 1, NULL, &columns) != 0 ||
        op_get_string(&s, "key_columns", 0, NULL, &keys) != 0 ||
        op_get_string(&s, "mode", 0, "insert", &mode) != 0 ||
        op_get_int(&s, "batch_size", 0, 5000, 1, 1000000, &ps->batch_size) != 0 ||
        op_get_duration_ms(&s, "batch_interval", 0, 200, 1, 3600000, &ps->batch_interval) != 0 ||
        op_get_duration_ms(&s, "connect_timeout", 0, 10000, 1000, 3600000, &ps->connect_timeout) != 0 ||
        conn_get_delivery(&s, "delivery", "auto", 0, &ps->delivery) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &ps->delim) != 0 ||
        op_get_string(&s, "side_output", 0, CONN_MALFORMED_TAG, &ps->side_tag) != 0)
        goto cleanup;
    if (strcmp(mode, "insert") != 0 && strcmp(mode, "upsert") != 0) {
        op_errorf(&s, "parameter 'mode' = '%s' is not allowed (allowed: insert, upsert)", mode);
        goto cleanup;
    }
    ps->upsert = strcmp(mode, "upsert") == 0;
    if (ps->upsert && keys == NULL) {
        op_errorf(&s, "mode 'upsert' needs parameter 'key_columns' (the conflict target, e.g. \"id\")");
        goto cleanup;
    }
    if (table[0] == '\0' || ps->conninfo[0] == '\0') {
        op_errorf(&s, "parameter '%s' is empty", table[0] == '\0' ? "table" : "conninfo");
        goto cleanup;
    }
    if (parse_columns(&s, ps, columns, keys) != 0)
        goto cleanup;
    conn_redact(ps->conninfo, ps->where, sizeof(ps->where));
    snprintf(ps->prefix, sizeof(ps->prefix), "te-%s-%s-", api->job_id(ctx), api->vertex_id(ctx));
    snprintf(ps->app, sizeof(ps->app), "te-%.8s-%.8s-%u-sink", api->job_id(ctx), api->vertex_id(ctx),
             api->subtask_index(ctx));
    if ((ps->table = quoted(table, 1)) == NULL) {
        op_errorf(&s, "out of memory");
        goto cleanup;
    }
    return ps;
cleanup:
    pg_sink_dispose(ps);
    return NULL;
}

/* ---- SQL helpers ---- */

static int pg_fail_on(pg_sink_t *ps, PGconn *c, const char *what, const PGresult *res)
{
    char msg[1024];
    ps->api->fail(ps->ctx, "operator 'postgres': %s on %s (%s): %s", what, ps->table, ps->where,
                  conn_pg_error(c, res, msg, sizeof(msg)));
    return -1;
}

static int pg_fail(pg_sink_t *ps, const char *what, const PGresult *res)
{
    return pg_fail_on(ps, ps->conn, what, res);
}

/* Runs a command. 0, or -1 after api->fail. */
static int pg_exec(pg_sink_t *ps, const char *sql, const char *what)
{
    PGresult *res = PQexec(ps->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        pg_fail(ps, what, res);
    PQclear(res);
    return ok ? 0 : -1;
}

/* 1 when res failed for the data of a row (SQLSTATE class 22 or 23) and the
 * connection is fine: the row is rejected, the sink goes on. */
static int pg_data_error(pg_sink_t *ps, const PGresult *res)
{
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return PQstatus(ps->conn) == CONNECTION_OK && st != NULL &&
           (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0);
}

/* ---- writing rows ---- */

static int row_field(const pg_sink_t *ps, size_t r, size_t col, const uint8_t **p, uint32_t *n)
{
    te_record_t rec = {ps->rows.data + ps->row_off[r], ps->row_len[r], TE_NO_TIMESTAMP};
    return conn_field(&rec, ps->delim, (uint32_t)ps->field[col], p, n);
}

/* COPY text format of one value: \N for an empty field, backslashes doubled (the
 * delimiter and newlines cannot occur inside a text record's field). */
static int copy_value(op_buf_t *b, const uint8_t *p, uint32_t n)
{
    if (n == 0)
        return op_buf_append(b, "\\N", 2);
    if (op_buf_reserve(b, b->len + 2 * (size_t)n) != 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] == '\\')
            b->data[b->len++] = '\\';
        b->data[b->len++] = p[i] == '\t' ? ' ' : p[i];
    }
    return 0;
}

static void column_list(pg_sink_t *ps, op_buf_t *b)
{
    for (size_t c = 0; c < ps->ncols; c++) {
        if (c)
            op_buf_append(b, ",", 1);
        op_buf_append(b, ps->cols[c], strlen(ps->cols[c]));
    }
}

/* Starts COPY table (columns) FROM STDIN. 0, or -1 after api->fail. */
static int copy_start(pg_sink_t *ps)
{
    ps->sql.len = 0;
    op_buf_append(&ps->sql, "COPY ", 5);
    op_buf_append(&ps->sql, ps->table, strlen(ps->table));
    op_buf_append(&ps->sql, " (", 2);
    column_list(ps, &ps->sql);
    if (op_buf_append(&ps->sql, ") FROM STDIN", 13) != 0)
        return pg_fail(ps, "out of memory", NULL);
    PGresult *res = PQexec(ps->conn, (const char *)ps->sql.data);
    int ok = PQresultStatus(res) == PGRES_COPY_IN;
    if (!ok)
        pg_fail(ps, "COPY", res);
    PQclear(res);
    ps->cbuf.len = 0;
    return ok ? 0 : -1;
}

static int copy_put(pg_sink_t *ps)
{
    if (ps->cbuf.len > 0 && PQputCopyData(ps->conn, (const char *)ps->cbuf.data, (int)ps->cbuf.len) != 1)
        return pg_fail(ps, "COPY", NULL);
    ps->cbuf.len = 0;
    return 0;
}

/* Appends row r's COPY line; hands the data to libpq every 64 KiB. */
static int copy_row(pg_sink_t *ps, size_t r)
{
    for (size_t c = 0; c < ps->ncols; c++) {
        const uint8_t *p;
        uint32_t l;
        row_field(ps, r, c, &p, &l);
        if ((c && op_buf_append(&ps->cbuf, "\t", 1) != 0) || copy_value(&ps->cbuf, p, l) != 0)
            return pg_fail(ps, "out of memory", NULL);
    }
    if (op_buf_append(&ps->cbuf, "\n", 1) != 0)
        return pg_fail(ps, "out of memory", NULL);
    return ps->cbuf.len >= 65536 ? copy_put(ps) : 0;
}

/* Ends the COPY: 0 ok, 1 rejected data (res in *bad, caller clears), -1 other failure. */
static int copy_end(pg_sink_t *ps, PGresult **bad)
{
    ps->copy_open = 0;
    if (copy_put(ps) != 0 || PQputCopyEnd(ps->conn, NULL) != 1)
        return pg_fail(ps, "COPY", NULL);
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(ps->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
            if (pg_data_error(ps, res)) {
                *bad = res;
                rc = 1;
                continue;
            }
            pg_fail(ps, "COPY", res);
            rc = -1;
        }
        PQclear(res);
    }
    return rc;
}

/* COPY of rows idx[0..n) in one statement. Same results as copy_end. */
static int write_copy(pg_sink_t *ps, const size_t *idx, size_t n, PGresult **bad)
{
    if (copy_start(ps) != 0)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (copy_row(ps, idx[k]) != 0)
            return -1;
    return copy_end(ps, bad);
}

/* Opens the transaction (if none) and the batch's savepoint. */
static int batch_begin(pg_sink_t *ps)
{
    int rc = pg_exec(ps, ps->in_txn ? "SAVEPOINT te_batch" : "BEGIN; SAVEPOINT te_batch", "SAVEPOINT");
    ps->in_txn = 1;
    return rc;
}

/* INSERT ... VALUES (...), ... [ON CONFLICT ... DO UPDATE] of rows idx[0..n). Same
 * results as write_copy. */
static int write_insert(pg_sink_t *ps, const size_t *idx, size_t n, PGresult **bad)
{
    ps->sql.len = 0;
    op_buf_append(&ps->sql, "INSERT INTO ", 12);
    op_buf_append(&ps->sql, ps->table, strlen(ps->table));
    op_buf_append(&ps->sql, " (", 2);
    column_list(ps, &ps->sql);
    op_buf_append(&ps->sql, ") VALUES ", 9);
    char num[32];
    for (size_t k = 0, pno = 1; k < n; k++) {
        op_buf_append(&ps->sql, k ? ",(" : "(", k ? 2 : 1);
        for (size_t c = 0; c < ps->ncols; c++, pno++) {
            int l = snprintf(num, sizeof(num), "%s$%zu", c ? "," : "", pno);
            op_buf_append(&ps->sql, num, (size_t)l);
        }
        op_buf_append(&ps->sql, ")", 1);
    }
    if (ps->upsert) {
        op_buf_append(&ps->sql, " ON CONFLICT (", 14);
        for (size_t c = 0, k = 0; c < ps->ncols; c++)
            if (ps->is_key[c]) {
                if (k++ > 0)
                    op_buf_append(&ps->sql, ",", 1);
                op_buf_append(&ps->sql, ps->cols[c], strlen(ps->cols[c]));
            }
        if (ps->nkeys == ps->ncols) {
            op_buf_append(&ps->sql, ") DO NOTHING", 12);
        } else {
            op_buf_append(&ps->sql, ") DO UPDATE SET ", 16);
            for (size_t c = 0, k = 0; c < ps->ncols; c++)
                if (!ps->is_key[c]) {
                    if (k++ > 0)
                        op_buf_append(&ps->sql, ",", 1);
                    op_buf_append(&ps->sql, ps->cols[c], strlen(ps->cols[c]));
                    op_buf_append(&ps->sql, "=EXCLUDED.", 10);
                    op_buf_append(&ps->sql, ps->cols[c], strlen(ps->cols[c]));
                }
        }
    }
    if (op_buf_append(&ps->sql, "", 1) != 0)
        return pg_fail(ps, "out of memory", NULL);
    /* parameter values: NUL-terminated copies, NULL for an empty field */
    size_t np = n * ps->ncols;
    ps->vals.len = 0;
    size_t *offs = malloc(np * sizeof(size_t));
    const char **params = malloc(np * sizeof(char *));
    if (offs == NULL || params == NULL) {
        free(offs);
        free(params);
        return pg_fail(ps, "out of memory", NULL);
    }
    for (size_t k = 0, i = 0; k < n; k++)
        for (size_t c = 0; c < ps->ncols; c++, i++) {
            const uint8_t *p;
            uint32_t l;
            row_field(ps, idx[k], c, &p, &l);
            offs[i] = l == 0 ? SIZE_MAX : ps->vals.len;
            if (l > 0 && (op_buf_append(&ps->vals, p, l) != 0 || op_buf_append(&ps->vals, "", 1) != 0)) {
                free(offs);
                free(params);
                return pg_fail(ps, "out of memory", NULL);
            }
        }
    for (size_t i = 0; i < np; i++)
        params[i] = offs[i] == SIZE_MAX ? NULL : (const char *)ps->vals.data + offs[i];
    PGresult *res = PQexecParams(ps->conn, (const char *)ps->sql.data, (int)np, NULL, params, NULL, NULL, 0);
    free(offs);
    free(params);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return 0;
    }
    if (pg_data_error(ps, res)) {
        *bad = res;
        return 1;
    }
    pg_fail(ps, ps->upsert ? "upsert" : "INSERT", res);
    PQclear(res);
    return -1;
}

/* The same key fields. */
static int same_key(const pg_sink_t *ps, size_t a, size_t b)
{
    for (size_t c = 0; c < ps->ncols; c++) {
        if (!ps->is_key[c])
            continue;
        const uint8_t *pa, *pb;
        uint32_t la, lb;
        row_field(ps, a, c, &pa, &la);
        row_field(ps, b, c, &pb, &lb);
        if (la != lb || memcmp(pa, pb, la) != 0)
            return 0;
    }
    return 1;
}

static uint64_t key_hash(const pg_sink_t *ps, size_t r)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t c = 0; c < ps->ncols; c++) {
        if (!ps->is_key[c])
            continue;
        const uint8_t *p;
        uint32_t l;
        row_field(ps, r, c, &p, &l);
        for (uint32_t i = 0; i < l; i++)
            h = (h ^ p[i]) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

/* Writes rows idx[0..n) in order. Upsert: one INSERT ... ON CONFLICT cannot update a
 * row twice, so a statement ends before a key it already holds (and at the parameter
 * limit): every row is written, in arrival order, and the last one of a key wins. */
static int write_rows(pg_sink_t *ps, const size_t *idx, size_t n, PGresult **bad)
{
    if (!ps->upsert)
        return write_copy(ps, idx, n, bad);
    size_t max_rows = PG_MAX_PARAMS / ps->ncols, cap = 16;
    while (cap < 2 * (n < max_rows ? n : max_rows))
        cap *= 2;
    size_t *slot = malloc(cap * sizeof(size_t));
    if (slot == NULL)
        return pg_fail(ps, "out of memory", NULL);
    int rc = 0;
    size_t start = 0;
    while (rc == 0 && start < n) {
        memset(slot, 0xff, cap * sizeof(size_t));
        size_t k = start;
        for (; k < n && k - start < max_rows; k++) {
            size_t h = (size_t)key_hash(ps, idx[k]) & (cap - 1);
            int dup = 0;
            while (slot[h] != SIZE_MAX && !(dup = same_key(ps, slot[h], idx[k])))
                h = (h + 1) & (cap - 1);
            if (dup)
                break;
            slot[h] = idx[k];
        }
        rc = write_insert(ps, idx + start, k - start, bad);
        start = k;
    }
    free(slot);
    return rc;
}

/* After a batch failed for its data: each row on its own, in a savepoint; rejected
 * rows to the side output. */
static int write_row_by_row(pg_sink_t *ps, const size_t *idx, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (pg_exec(ps, "SAVEPOINT te_row", "SAVEPOINT") != 0)
            return -1;
        PGresult *bad = NULL;
        int rc = write_rows(ps, &idx[k], 1, &bad);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (pg_exec(ps, "RELEASE SAVEPOINT te_row", "RELEASE SAVEPOINT") != 0)
                return -1;
            continue;
        }
        char why[512];
        snprintf(why, sizeof(why), "%s", PQresultErrorMessage(bad));
        why[strcspn(why, "\n")] = '\0';
        PQclear(bad);
        if (pg_exec(ps, "ROLLBACK TO SAVEPOINT te_row", "ROLLBACK TO SAVEPOINT") != 0)
            return -1;
        te_record_t rec = {ps->rows.data + ps->row_off[idx[k]], ps->row_len[idx[k]], TE_NO_TIMESTAMP};
        conn_malformed(ps->api, ps->ctx, ps->out, ps->side_tag, &rec, &ps->logged, "rejected by %s: %s", ps->table,
                       why);
    }
    return 0;
}

/* Writes the batch (in the open transaction, or in its own for at_least_once): ends
 * the streaming COPY (insert) or runs the INSERTs (upsert); after rejected data, back
 * to the savepoint and row by row. */
static int pg_flush(pg_sink_t *ps)
{
    if (ps->nrows == 0)
        return 0;
    if (ps->conn == NULL)
        return pg_fail(ps, "write before open", NULL);
    size_t *idx = malloc(ps->nrows * sizeof(size_t)), n = ps->nrows;
    if (idx == NULL)
        return pg_fail(ps, "out of memory", NULL);
    for (size_t r = 0; r < n; r++)
        idx[r] = r;
    PGresult *bad = NULL;
    int rc;
    if (!ps->upsert)
        rc = ps->copy_open ? copy_end(ps, &bad) : pg_fail(ps, "internal: rows without an open COPY", NULL);
    else if ((rc = batch_begin(ps)) == 0)
        rc = write_rows(ps, idx, n, &bad);
    if (rc == 1) {
        PQclear(bad);
        rc = pg_exec(ps, "ROLLBACK TO SAVEPOINT te_batch", "ROLLBACK TO SAVEPOINT");
        if (rc == 0)
            rc = write_row_by_row(ps, idx, n);
        if (rc == 0 && ps->delivery != CONN_DELIVERY_EXACTLY_ONCE)
            rc = pg_exec(ps, "COMMIT", "COMMIT");
    } else if (rc == 0) {
        rc = pg_exec(ps,
                     ps->delivery != CONN_DELIVERY_EXACTLY_ONCE ? "RELEASE SAVEPOINT te_batch; COMMIT"
                                                                : "RELEASE SAVEPOINT te_batch",
                     "RELEASE SAVEPOINT");
    }
    free(idx);
    if (rc != 0)
        return -1;
    ps->api->counter_add(ps->ctx, "numRowsWritten", n);
    ps->nrows = 0;
    ps->rows.len = 0;
    if (ps->delivery != CONN_DELIVERY_EXACTLY_ONCE)
        ps->in_txn = 0;
    return 0;
}

static int pg_sink_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    pg_sink_t *ps = self;
    (void)input;
    ps->out = out;
    uint32_t nf = conn_field_count(rec, ps->delim);
    if (nf <= (uint32_t)ps->max_field) {
        conn_malformed(ps->api, ps->ctx, out, ps->side_tag, rec, &ps->logged, "has %u fields, the columns need %d",
                       nf, ps->max_field + 1);
        return 0;
    }
    if (ps->nrows == ps->cap_rows) {
        size_t nc = ps->cap_rows ? 2 * ps->cap_rows : 256;
        uint32_t *o = realloc(ps->row_off, nc * sizeof(uint32_t));
        if (o != NULL)
            ps->row_off = o;
        uint32_t *l = o ? realloc(ps->row_len, nc * sizeof(uint32_t)) : NULL;
        if (l == NULL)
            return pg_fail(ps, "out of memory", NULL);
        ps->row_len = l;
        ps->cap_rows = nc;
    }
    if (ps->rows.len + rec->len > UINT32_MAX || op_buf_append(&ps->rows, rec->data, rec->len) != 0)
        return pg_fail(ps, "out of memory", NULL);
    ps->row_off[ps->nrows] = (uint32_t)(ps->rows.len - rec->len);
    ps->row_len[ps->nrows++] = rec->len;
    if (!ps->upsert) { /* stream the row into the batch's COPY */
        if (!ps->copy_open && (batch_begin(ps) != 0 || copy_start(ps) != 0))
            return -1;
        ps->copy_open = 1;
        if (copy_row(ps, ps->nrows - 1) != 0)
            return -1;
    }
    if ((int64_t)ps->nrows >= ps->batch_size)
        return pg_flush(ps);
    if (!ps->timer_armed) {
        ps->timer_armed = 1;
        return ps->api->register_processing_timer(ps->ctx, NULL, 0,
                                                  ps->api->current_processing_time(ps->ctx) + ps->batch_interval);
    }
    return 0;
}

static int pg_sink_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                            te_output_t *out)
{
    pg_sink_t *ps = self;
    (void)event_time, (void)ts, (void)key, (void)keylen;
    ps->out = out;
    ps->timer_armed = 0;
    return ps->conn ? pg_flush(ps) : 0;
}

/* ---- two-phase commit ---- */

static int add_pending(pg_sink_t *ps, uint64_t ckpt, const char *gid)
{
    for (size_t i = 0; i < ps->npending; i++)
        if (strcmp(ps->pending[i].gid, gid) == 0)
            return 0;
    if (ps->npending == ps->cap_pending) {
        size_t nc = ps->cap_pending ? 2 * ps->cap_pending : 8;
        pg_pending_t *np = realloc(ps->pending, nc * sizeof(*np));
        if (np == NULL)
            return -1;
        ps->pending = np;
        ps->cap_pending = nc;
    }
    ps->pending[ps->npending].ckpt = ckpt;
    snprintf(ps->pending[ps->npending].gid, PG_GID_MAX, "%s", gid);
    ps->npending++;
    return 0;
}

/* COMMIT PREPARED / ROLLBACK PREPARED of gid. A gid that no longer exists (SQLSTATE
 * 42704) was finished already: fine. */
static int finish_prepared(pg_sink_t *ps, const char *verb, const char *gid)
{
    char sql[PG_GID_MAX + 64];
    snprintf(sql, sizeof(sql), "%s '%s'", verb, gid); /* gid: [0-9a-z-] only */
    PGresult *res = PQexec(ps->ctl, sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (st != NULL && strcmp(st, "42704") == 0)
            ps->api->log(ps->ctx, TE_OP_INFO, "%s '%s': already finished", verb, gid);
        else
            rc = pg_fail_on(ps, ps->ctl, verb, res);
    }
    PQclear(res);
    return rc;
}

/* Commits every pending transaction of a checkpoint <= upto. */
static int commit_pending(pg_sink_t *ps, uint64_t upto)
{
    size_t keep = 0;
    for (size_t i = 0; i < ps->npending; i++) {
        if (ps->pending[i].ckpt <= upto) {
            if (finish_prepared(ps, "COMMIT PREPARED", ps->pending[i].gid) != 0)
                return -1;
            ps->api->counter_add(ps->ctx, "numTransactionsCommitted", 1);
        } else {
            ps->pending[keep++] = ps->pending[i];
        }
    }
    ps->npending = keep;
    return 0;
}

/* State: u32 version 1 | str prefix | u32 n | n x (u64 checkpoint | str gid). */
static int pg_sink_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    pg_sink_t *ps = self;
    *data = NULL;
    *len = 0;
    if (pg_flush(ps) != 0)
        return -1;
    if (ps->delivery != CONN_DELIVERY_EXACTLY_ONCE)
        return 0;
    if (ps->in_txn) {
        char gid[PG_GID_MAX], sql[PG_GID_MAX + 32];
        snprintf(gid, sizeof(gid), "%s%u-%" PRIu64, ps->prefix, ps->api->subtask_index(ps->ctx), checkpoint_id);
        snprintf(sql, sizeof(sql), "PREPARE TRANSACTION '%s'", gid);
        ps->in_txn = 0;
        if (pg_exec(ps, sql, "PREPARE TRANSACTION") != 0)
            return -1;
        if (add_pending(ps, checkpoint_id, gid) != 0)
            return pg_fail(ps, "out of memory", NULL);
    }
    op_buf_t b = {0};
    int rc = conn_put_u32(&b, 1) | conn_put_str(&b, ps->prefix) | conn_put_u32(&b, (uint32_t)ps->npending);
    for (size_t i = 0; i < ps->npending; i++)
        rc |= conn_put_u64(&b, ps->pending[i].ckpt) | conn_put_str(&b, ps->pending[i].gid);
    if (rc != 0) {
        op_buf_release(&b);
        return pg_fail(ps, "out of memory", NULL);
    }
    conn_state_take(&b, data, len);
    return 0;
}

static int pg_sink_notify_complete(void *self, uint64_t checkpoint_id)
{
    pg_sink_t *ps = self;
    return ps->ctl ? commit_pending(ps, checkpoint_id) : 0;
}

/* Called before open, once per snapshot given to this subtask. */
static int pg_sink_restore(void *self, const uint8_t *data, size_t len)
{
    pg_sink_t *ps = self;
    ps->restored = 1;
    if (len == 0)
        return 0; /* written by an at_least_once sink */
    conn_state_t r = {data, len, 0, 0};
    char *prefix = NULL;
    if (conn_get_u32(&r) != 1 || (prefix = conn_get_str(&r)) == NULL)
        goto cleanup;
    uint32_t n = conn_get_u32(&r);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        uint64_t ckpt = conn_get_u64(&r);
        char *gid = conn_get_str(&r);
        if (gid == NULL || strlen(gid) >= PG_GID_MAX || strspn(gid, "0123456789abcdef-te") != strlen(gid) ||
            add_pending(ps, ckpt, gid) != 0) {
            free(gid);
            goto cleanup;
        }
        free(gid);
    }
    if (r.bad || r.off != len)
        goto cleanup;
    if (strcmp(prefix, ps->prefix) != 0) {
        char **np = realloc(ps->old_prefixes, (ps->nold + 1) * sizeof(char *));
        if (np == NULL)
            goto cleanup;
        ps->old_prefixes = np;
        ps->old_prefixes[ps->nold++] = prefix;
    } else {
        free(prefix);
    }
    return 0;
cleanup:
    free(prefix);
    ps->api->fail(ps->ctx, "operator 'postgres': corrupt restored state (%zu bytes)", len);
    return -1;
}

/* ROLLBACK PREPARED of every prepared transaction under prefix whose subtask j has
 * j mod parallelism = this subtask (what the pending list did not commit). */
static int rollback_leftovers(pg_sink_t *ps, const char *prefix)
{
    const char *param[1] = {prefix};
    PGresult *res = PQexecParams(ps->ctl,
                                 "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND "
                                 "left(gid, length($1)) = $1",
                                 1, NULL, param, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_fail_on(ps, ps->ctl, "listing pg_prepared_xacts", res);
        PQclear(res);
        return -1;
    }
    uint32_t me = ps->api->subtask_index(ps->ctx), p = ps->api->parallelism(ps->ctx);
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *gid = PQgetvalue(res, i, 0);
        unsigned long j;
        unsigned long long ck;
        if (sscanf(gid + strlen(prefix), "%lu-%llu", &j, &ck) != 2 || j % p != me)
            continue;
        rc = finish_prepared(ps, "ROLLBACK PREPARED", gid);
        if (rc == 0) {
            ps->api->counter_add(ps->ctx, "numTransactionsRolledBack", 1);
            ps->api->log(ps->ctx, TE_OP_INFO,
                         "rolled back prepared transaction '%s' (after the restored "
                         "checkpoint, or of an attempt without a completed checkpoint)",
                         gid);
        }
    }
    PQclear(res);
    return rc;
}

/* Fences the writers of earlier attempts of this subtask: a process killed in the middle
 * of PREPARE TRANSACTION leaves a backend that may still finish it after this attempt
 * listed pg_prepared_xacts. Their connections (same application_name, other pids) are
 * terminated and waited for (up to connect_timeout). */
static int fence_old_writers(pg_sink_t *ps)
{
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(ps->conn));
    const char *param[2] = {ps->app, pid};
    static const char *const sql[2] = {
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND "
        "pid <> pg_backend_pid() AND pid <> $2::int",
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND "
        "pid <> $2::int"};
    int64_t deadline = conn_now_ms() + ps->connect_timeout;
    for (int i = 0;; i = 1) {
        PGresult *res = PQexecParams(ps->ctl, sql[i], 2, NULL, param, NULL, NULL, 0);
        int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
        int left = ok && strcmp(PQgetvalue(res, 0, 0), "0") != 0;
        if (!ok)
            pg_fail_on(ps, ps->ctl, "fencing the writers of earlier attempts", res);
        else if (i == 0 && left)
            ps->api->log(ps->ctx, TE_OP_INFO, "terminated %s connection(s) of an earlier attempt (%s)",
                         PQgetvalue(res, 0, 0), ps->app);
        PQclear(res);
        if (!ok)
            return -1;
        if (i == 1 && !left)
            return 0;
        if (i == 1 && conn_now_ms() > deadline)
            return pg_fail_on(ps, ps->ctl, "connections of an earlier attempt did not end", NULL);
        if (i == 1) {
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

static int pg_recover(pg_sink_t *ps)
{
    PGresult *res = PQexec(ps->ctl, "SHOW max_prepared_transactions");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    int zero = ok && strcmp(PQgetvalue(res, 0, 0), "0") == 0;
    if (!ok)
        pg_fail_on(ps, ps->ctl, "SHOW max_prepared_transactions", res);
    PQclear(res);
    if (!ok)
        return -1;
    if (zero) {
        ps->api->fail(ps->ctx,
                      "operator 'postgres': the server at %s has max_prepared_transactions = 0, but delivery "
                      "exactly_once needs prepared transactions (PREPARE TRANSACTION): set "
                      "max_prepared_transactions > 0 in postgresql.conf and restart the server, or use "
                      "delivery=at_least_once",
                      ps->where);
        return -1;
    }
    if (fence_old_writers(ps) != 0)
        return -1;
    if (commit_pending(ps, UINT64_MAX) != 0) /* everything in the restored state completed */
        return -1;
    if (rollback_leftovers(ps, ps->prefix) != 0)
        return -1;
    for (size_t i = 0; i < ps->nold; i++)
        if (rollback_leftovers(ps, ps->old_prefixes[i]) != 0)
            return -1;
    return 0;
}

static int pg_sink_open(void *self, char *err, size_t errlen)
{
    pg_sink_t *ps = self;
    op_setup_t s = {ps->api, ps->ctx, "postgres", err, errlen};
    char msg[TE_OP_ERR_MAX];
    ps->conn = conn_pg_connect(ps->conninfo, ps->connect_timeout, ps->app, msg, sizeof(msg));
    if (ps->conn == NULL)
        return op_errorf(&s, "%s", msg);
    if (pg_exec(ps, "SET synchronous_commit = on", "SET") != 0)
        goto cleanup;
    ps->api->log(ps->ctx, TE_OP_INFO, "writing to %s on %s, delivery %s", ps->table, ps->where,
                 conn_delivery_name(ps->delivery));
    if (ps->delivery == CONN_DELIVERY_EXACTLY_ONCE) {
        ps->ctl = conn_pg_connect(ps->conninfo, ps->connect_timeout, "taskexecutord-commit", msg, sizeof(msg));
        if (ps->ctl == NULL)
            return op_errorf(&s, "%s", msg);
        if (pg_recover(ps) != 0)
            goto cleanup;
    }
    return 0;
cleanup:
    /* the failure is recorded through api->fail; err gets a short pointer to it */
    return op_errorf(&s, "opening the sink on %s failed", ps->where);
}

static int pg_sink_close(void *self, te_output_t *out)
{
    pg_sink_t *ps = self;
    ps->out = out;
    if (ps->conn == NULL)
        return 0;
    if (pg_flush(ps) != 0)
        return -1;
    if (ps->in_txn) { /* end of a bounded input: everything is final */
        ps->in_txn = 0;
        if (pg_exec(ps, "COMMIT", "COMMIT") != 0)
            return -1;
    }
    return ps->ctl ? commit_pending(ps, UINT64_MAX) : 0;
}

static void pg_sink_dispose(void *self)
{
    pg_sink_t *ps = self;
    if (ps == NULL)
        return;
    if (ps->conn)
        PQfinish(ps->conn); /* an open (not prepared) transaction is rolled back by the server */
    if (ps->ctl)
        PQfinish(ps->ctl);
    for (size_t i = 0; i < ps->ncols; i++)
        free(ps->cols ? ps->cols[i] : NULL);
    for (size_t i = 0; i < ps->nold; i++)
        free(ps->old_prefixes[i]);
    free(ps->old_prefixes);
    free(ps->cols);
    free(ps->field);
    free(ps->is_key);
    free(ps->table);
    free(ps->row_off);
    free(ps->row_len);
    free(ps->pending);
    op_buf_release(&ps->rows);
    op_buf_release(&ps->sql);
    op_buf_release(&ps->vals);
    op_buf_release(&ps->cbuf);
    free(ps);
}

const te_operator_def_t op_postgres_sink_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "postgres",
    .kind = TE_OP_ONE_INPUT,
    .setup = pg_sink_setup,
    .open = pg_sink_open,
    .process_element = pg_sink_process,
    .snapshot = pg_sink_snapshot,
    .restore = pg_sink_restore,
    .notify_checkpoint_complete = pg_sink_notify_complete,
    .close = pg_sink_close,
    .dispose = pg_sink_dispose,
    .on_timer = pg_sink_on_timer,
};
