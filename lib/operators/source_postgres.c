/*
 * source_postgres — the `postgres` source: the rows of a bounded query, read through
 * libpq with a cursor, split by ranges of an integer column over the subtasks (Flink's
 * JDBC source with a numeric partition column).
 *
 * Parameters: conninfo (required; password never logged), query (required; a SELECT
 * without a trailing semicolon), split_column (an integer column of the query's
 * result; without it the whole query is one split, read by subtask 0), splits (number
 * of ranges, default the parallelism), fetch_size (rows per FETCH, default 1000),
 * delimiter ("\t"), connect_timeout (default 10s).
 *
 * Splits: open computes lo = min, hi = max of split_column over the query (once; a
 * restore reuses the restored bounds, so the splits do not move when the table
 * changes), and range k of `splits` covers [lo + k*w, lo + (k+1)*w) with w =
 * ceil((hi - lo + 1) / splits); range k belongs to subtask k mod parallelism. A split
 * is read as SELECT * FROM (query) q WHERE col >= a AND col < b ORDER BY col, in a
 * read-only transaction with a cursor (FETCH fetch_size at a time, at most a step's
 * budget), so memory stays bounded. NULLs of split_column are read by no split.
 *
 * Each row is one record: its columns as text joined by the delimiter (NULL = empty;
 * a delimiter or newline inside a value becomes a space, counted in
 * numValuesSanitized). State: the bounds, the split being read and the rows of it
 * already emitted; a restore re-opens that split with OFFSET, which is exact when
 * split_column is unique (e.g. the primary key) — otherwise rows with equal values
 * may come back in another order.
 *
 * Threading: a step-wise source; every callback runs on the task thread.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/connector_util.h"
#include "operators/op_keyed.h"

typedef struct pg_source {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *conninfo, *query, *split_column;
    char where[512];
    int64_t splits, fetch_size, connect_timeout;
    char delim;
    PGconn *conn;
    /* position */
    int have_bounds;
    int64_t lo, hi;  /* inclusive */
    uint32_t split;  /* the split being read (global index; this subtask's) */
    uint64_t offset; /* rows of it already emitted */
    int done;
    int cursor_open;
    op_buf_t row, sql;
    uint64_t sanitized;
} pg_source_t;

static void pg_source_dispose(void *self);

static void *pg_source_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"conninfo",   "query",     "split_column",    "splits",
                                          "fetch_size", "delimiter", "connect_timeout", NULL};
    op_setup_t s = {api, ctx, "postgres", err, errlen};
    if (op_check_keys(&s, allowed) != 0)
        return NULL;
    pg_source_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    q->api = api;
    q->ctx = ctx;
    uint32_t p = api->parallelism(ctx) ? api->parallelism(ctx) : 1;
    if (op_get_string(&s, "conninfo", 1, NULL, &q->conninfo) != 0 ||
        op_get_string(&s, "query", 1, NULL, &q->query) != 0 ||
        op_get_string(&s, "split_column", 0, NULL, &q->split_column) != 0 ||
        op_get_int(&s, "splits", 0, p, 1, 1000000, &q->splits) != 0 ||
        op_get_int(&s, "fetch_size", 0, 1000, 1, 1000000, &q->fetch_size) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &q->delim) != 0 ||
        op_get_duration_ms(&s, "connect_timeout", 0, 10000, 1000, 3600000, &q->connect_timeout) != 0)
        goto cleanup;
    if (q->query[0] == '\0' || q->conninfo[0] == '\0') {
        op_errorf(&s, "parameter '%s' is empty", q->query[0] == '\0' ? "query" : "conninfo");
        goto cleanup;
    }
    if (q->split_column == NULL)
        q->splits = 1;
    conn_redact(q->conninfo, q->where, sizeof(q->where));
    q->split = api->subtask_index(ctx);
    q->done = q->split >= (uint64_t)q->splits;
    return q;
cleanup:
    pg_source_dispose(q);
    return NULL;
}

static int src_fail(pg_source_t *q, const char *what, const PGresult *res)
{
    char msg[1024];
    q->api->fail(q->ctx, "operator 'postgres' (source): %s (%s): %s", what, q->where,
                 conn_pg_error(q->conn, res, msg, sizeof(msg)));
    return -1;
}

static int src_exec(pg_source_t *q, const char *sql, const char *what)
{
    PGresult *res = PQexec(q->conn, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok)
        src_fail(q, what, res);
    PQclear(res);
    return ok ? 0 : -1;
}

static void append_ident(op_buf_t *b, const char *name) { conn_sql_ident(b, name, strlen(name)); }

/* min / max of the split column. */
static int compute_bounds(pg_source_t *q)
{
    q->sql.len = 0;
    op_buf_append(&q->sql, "SELECT min(", 11);
    append_ident(&q->sql, q->split_column);
    op_buf_append(&q->sql, ")::bigint, max(", 15);
    append_ident(&q->sql, q->split_column);
    op_buf_append(&q->sql, ")::bigint FROM (", 16);
    op_buf_append(&q->sql, q->query, strlen(q->query));
    if (op_buf_append(&q->sql, ") AS te_q", 10) != 0)
        return src_fail(q, "out of memory", NULL);
    PGresult *res = PQexec(q->conn, (const char *)q->sql.data);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        src_fail(q, "computing the bounds of split_column (it must be an integer column of the query)", res);
        PQclear(res);
        return -1;
    }
    if (PQgetisnull(res, 0, 0)) {
        q->done = 1; /* no rows */
    } else if (op_parse_int64(PQgetvalue(res, 0, 0), &q->lo) != 0 ||
               op_parse_int64(PQgetvalue(res, 0, 1), &q->hi) != 0) {
        PQclear(res);
        return src_fail(q, "split_column bounds are not integers", NULL);
    }
    PQclear(res);
    q->have_bounds = 1;
    return 0;
}

/* Split k's range [a, b) (b exclusive; the last split ends after hi). */
static void split_range(const pg_source_t *q, uint32_t k, int64_t *a, int64_t *b, int *last)
{
    uint64_t span = (uint64_t)q->hi - (uint64_t)q->lo + 1;
    uint64_t w = span / (uint64_t)q->splits + (span % (uint64_t)q->splits != 0);
    if (w == 0)
        w = 1;
    *a = (int64_t)((uint64_t)q->lo + w * k);
    *b = (int64_t)((uint64_t)q->lo + w * (k + 1));
    *last = k + 1 == (uint64_t)q->splits || w * (k + 1) >= span;
}

static int open_cursor(pg_source_t *q)
{
    if (src_exec(q, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "BEGIN") != 0)
        return -1;
    char num[96];
    q->sql.len = 0;
    op_buf_append(&q->sql, "DECLARE te_src NO SCROLL CURSOR FOR SELECT * FROM (", 51);
    op_buf_append(&q->sql, q->query, strlen(q->query));
    op_buf_append(&q->sql, ") AS te_q", 9);
    if (q->split_column != NULL) {
        int64_t a, b;
        int last;
        split_range(q, q->split, &a, &b, &last);
        op_buf_append(&q->sql, " WHERE ", 7);
        append_ident(&q->sql, q->split_column);
        int n = snprintf(num, sizeof(num), " >= %lld", (long long)a);
        op_buf_append(&q->sql, num, (size_t)n);
        if (!last) {
            op_buf_append(&q->sql, " AND ", 5);
            append_ident(&q->sql, q->split_column);
            n = snprintf(num, sizeof(num), " < %lld", (long long)b);
            op_buf_append(&q->sql, num, (size_t)n);
        }
        op_buf_append(&q->sql, " ORDER BY ", 10);
        append_ident(&q->sql, q->split_column);
    }
    int n = snprintf(num, sizeof(num), " OFFSET %" PRIu64, q->offset);
    if (op_buf_append(&q->sql, num, (size_t)n) != 0 || op_buf_append(&q->sql, "", 1) != 0)
        return src_fail(q, "out of memory", NULL);
    if (src_exec(q, (const char *)q->sql.data, "DECLARE CURSOR for the query") != 0)
        return -1;
    q->cursor_open = 1;
    return 0;
}

/* The split read to its end: the next one of this subtask. */
static int next_split(pg_source_t *q)
{
    q->cursor_open = 0;
    if (src_exec(q, "CLOSE te_src", "CLOSE") != 0 || src_exec(q, "COMMIT", "COMMIT") != 0)
        return -1;
    q->api->counter_add(q->ctx, "numSplitsFinished", 1);
    q->offset = 0;
    q->split += q->api->parallelism(q->ctx);
    if (q->split >= (uint64_t)q->splits)
        q->done = 1;
    return 0;
}

static te_source_status_t pg_source_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    pg_source_t *q = self;
    (void)idle_wait_ms;
    if (q->done)
        return TE_SOURCE_END;
    if (!q->cursor_open && open_cursor(q) != 0)
        return TE_SOURCE_ERROR;
    char fetch[64];
    uint64_t want = budget < (uint64_t)q->fetch_size ? budget : (uint64_t)q->fetch_size;
    snprintf(fetch, sizeof(fetch), "FETCH FORWARD %" PRIu64 " FROM te_src", want ? want : 1);
    PGresult *res = PQexec(q->conn, fetch);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        src_fail(q, "FETCH", res);
        PQclear(res);
        return TE_SOURCE_ERROR;
    }
    int nrows = PQntuples(res), ncols = PQnfields(res);
    for (int r = 0; r < nrows; r++) {
        q->row.len = 0;
        for (int c = 0; c < ncols; c++)
            if (conn_row_add(&q->row, q->delim, c == 0, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c),
                             &q->sanitized) != 0) {
                PQclear(res);
                src_fail(q, "out of memory", NULL);
                return TE_SOURCE_ERROR;
            }
        te_record_t rec = {q->row.data, (uint32_t)q->row.len, TE_NO_TIMESTAMP};
        q->offset++;
        if (q->api->emit(out, &rec) != 0) {
            PQclear(res);
            return TE_SOURCE_MORE; /* cancelling */
        }
    }
    PQclear(res);
    if (q->sanitized) {
        q->api->counter_add(q->ctx, "numValuesSanitized", q->sanitized);
        q->sanitized = 0;
    }
    if ((uint64_t)nrows < want && next_split(q) != 0)
        return TE_SOURCE_ERROR;
    return q->done ? TE_SOURCE_END : TE_SOURCE_MORE;
}

static int pg_source_open(void *self, char *err, size_t errlen)
{
    pg_source_t *q = self;
    op_setup_t s = {q->api, q->ctx, "postgres", err, errlen};
    char msg[TE_OP_ERR_MAX];
    q->conn = conn_pg_connect(q->conninfo, q->connect_timeout, "taskexecutord-source", msg, sizeof(msg));
    if (q->conn == NULL)
        return op_errorf(&s, "%s", msg);
    if (!q->done && q->split_column != NULL && !q->have_bounds && compute_bounds(q) != 0)
        return op_errorf(&s, "opening the source on %s failed", q->where);
    return 0;
}

/* State: u32 version 1 | u32 flags (1 done, 2 have_bounds) | u64 lo | u64 hi | u32 split | u64 offset. */
static int pg_source_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    pg_source_t *q = self;
    (void)checkpoint_id;
    op_buf_t b = {0};
    if (conn_put_u32(&b, 1) | conn_put_u32(&b, (uint32_t)(q->done | q->have_bounds << 1)) |
        conn_put_u64(&b, (uint64_t)q->lo) | conn_put_u64(&b, (uint64_t)q->hi) | conn_put_u32(&b, q->split) |
        conn_put_u64(&b, q->offset)) {
        op_buf_release(&b);
        return -1;
    }
    conn_state_take(&b, data, len);
    return 0;
}

static int pg_source_restore(void *self, const uint8_t *data, size_t len)
{
    pg_source_t *q = self;
    conn_state_t r = {data, len, 0, 0};
    uint32_t ver = conn_get_u32(&r), flags = conn_get_u32(&r);
    int64_t lo = (int64_t)conn_get_u64(&r), hi = (int64_t)conn_get_u64(&r);
    uint32_t split = conn_get_u32(&r);
    uint64_t off = conn_get_u64(&r);
    if (r.bad || r.off != len || ver != 1 || flags > 3 ||
        split % q->api->parallelism(q->ctx) != q->api->subtask_index(q->ctx)) {
        q->api->fail(q->ctx, "operator 'postgres' (source): corrupt restored state (%zu bytes)", len);
        return -1;
    }
    q->done = (int)(flags & 1) || split >= (uint64_t)q->splits;
    q->have_bounds = (int)(flags >> 1 & 1);
    q->lo = lo;
    q->hi = hi;
    q->split = split;
    q->offset = off;
    return 0;
}

static void pg_source_dispose(void *self)
{
    pg_source_t *q = self;
    if (q == NULL)
        return;
    if (q->conn)
        PQfinish(q->conn);
    op_buf_release(&q->row);
    op_buf_release(&q->sql);
    free(q);
}

const te_operator_def_t op_postgres_source_def = {
    .abi_version = 2, /* text records through the engine's bridge; uses the v3 api (job_id) when present */
    .name = "postgres",
    .kind = TE_OP_SOURCE,
    .blocking_source = 0,
    .setup = pg_source_setup,
    .open = pg_source_open,
    .step = pg_source_step,
    .snapshot = pg_source_snapshot,
    .restore = pg_source_restore,
    .dispose = pg_source_dispose,
};
