/*
 * te/operator.h — the operator ABI of taskexecutord.
 *
 * Every operator — built-in or plugin — is a te_operator_def_t: a table of callbacks
 * that the engine calls on the task thread that owns the operator instance. An
 * operator sees nothing of the engine except what te_operator_api_t hands it, so
 * built-ins and plugins can do exactly the same things.
 *
 * A plugin is a shared object under `plugins.dir` exporting
 *     const te_operator_def_t *te_operator_plugin_entry(void);
 * whose def->abi_version is 1 to 5 (TE_OPERATOR_ABI_MIN_VERSION ..
 * TE_OPERATOR_ABI_VERSION); the engine accepts them all.
 *
 * Versions (fields are only ever appended, so an older plugin keeps working):
 *   1  the base API and def.
 *   2  api: event-/processing-time timers, current watermark / processing time,
 *      keyed value state (by key group), mark_idle; def: on_timer. The engine reads
 *      def->on_timer only when def->abi_version >= 2, and an operator must check
 *      api->abi_version >= 2 before using a v2 api field.
 *   3  typed rows (te/row.h, proto/ROWS.md): every edge carries a schema; records are
 *      binary rows of it, read with te_row_get_* and written with a te_row_builder_t.
 *      api: job_id / vertex_id (names for transactions an operator opens in an
 *      external system, e.g. the PostgreSQL sink's prepared transactions),
 *      input_schema, set_output_schema (declared in setup: the scheduler derives
 *      every edge's schema from the operators' declarations before any task starts),
 *      parse_schema. A def of version 1 or 2 may use the v3 api fields after checking
 *      api->abi_version >= 3 (its records stay text, below).
 *   4  api: state_add_i64 (a counter's read-modify-write in one call). A def of
 *      version 4 is a version 3 def that may use it; any def may, after checking
 *      api->abi_version >= 4.
 *   5  api: declare_reads, output_fields_read (projection: the scheduler works out
 *      which fields of a source's rows no consumer reads, and the source may leave
 *      them empty). A def of version 5 is a version 4 def that may use them; any def
 *      may, after checking api->abi_version >= 5.
 *
 * Records of a v1/v2 operator are text: the engine hands it each row as its
 * tab-separated text (te_row_format_tsv; for a row of one string field, the string
 * itself) and turns every record it emits into a row of one string field `line`. So a
 * v1/v2 operator sees exactly the records of the text era when its input is text.
 *
 * setup must acquire nothing outside the process (files, sockets, threads): the
 * scheduler calls it, with the same parameters and input schemas, to derive the
 * schemas of a job (then disposes it), and the daemon calls it again to check a
 * deployment before the task starts. Acquire resources in open.
 *
 * Threading: every callback runs on the owning task's thread (for blocking sources,
 * `run` runs on the task's source thread and emits while the engine holds the
 * checkpoint lock; `cancel` may be called from any thread). Memory handed to a
 * callback (records, params) is borrowed until the callback returns.
 */
#ifndef TE_OPERATOR_H
#define TE_OPERATOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "te/row.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TE_OPERATOR_ABI_VERSION 5
/* The oldest def->abi_version the engine still loads. */
#define TE_OPERATOR_ABI_MIN_VERSION 1

typedef enum te_operator_kind {
    TE_OP_SOURCE = 1,    /* head of a SourceStreamTask */
    TE_OP_ONE_INPUT = 2, /* map, filter, keyed, sinks */
    TE_OP_TWO_INPUT = 3, /* union, joins */
} te_operator_kind_t;

/* Result of a source step. */
typedef enum te_source_status {
    TE_SOURCE_MORE = 0,   /* more records to come: call step again */
    TE_SOURCE_END = 1,    /* the source is exhausted */
    TE_SOURCE_IDLE = 2,   /* nothing right now (rate limit): call again after idle_wait_ms */
    TE_SOURCE_ERROR = -1, /* failed; the message was passed to api->fail */
} te_source_status_t;

/* Opaque handles owned by the engine. */
typedef struct te_operator_ctx te_operator_ctx_t; /* one per operator instance */
typedef struct te_output te_output_t;             /* where an operator emits */

typedef enum te_op_log_level {
    TE_OP_DEBUG = 0,
    TE_OP_INFO = 1,
    TE_OP_WARN = 2,
    TE_OP_ERROR = 3
} te_op_log_level_t;

/* What the engine offers an operator. All function pointers are always set. */
typedef struct te_operator_api {
    uint32_t abi_version;

    /* Parameters from the job graph; NULL when absent. Borrowed for the operator's life. */
    const char *(*param)(te_operator_ctx_t *ctx, const char *key);
    /* Call for each parameter key (used by operators to reject unknown keys). */
    void (*param_foreach)(te_operator_ctx_t *ctx, void (*fn)(void *arg, const char *key, const char *value),
                          void *arg);

    uint32_t (*subtask_index)(te_operator_ctx_t *ctx);
    uint32_t (*parallelism)(te_operator_ctx_t *ctx);
    uint32_t (*max_parallelism)(te_operator_ctx_t *ctx);
    const char *(*task_name)(te_operator_ctx_t *ctx);

    /* Emit a record to the operator's main output. Returns 0, or -1 when the task is
     * being cancelled (the operator should return promptly). */
    int (*emit)(te_output_t *out, const te_record_t *rec);
    /* Emit a record to the side output named `tag` (dropped when the tag has no edge). */
    int (*emit_side)(te_output_t *out, const char *tag, const te_record_t *rec);
    /* Emit a watermark downstream. */
    int (*emit_watermark)(te_output_t *out, int64_t watermark);

    /* Report a failure: the task fails with this message as its cause. */
    void (*fail)(te_operator_ctx_t *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
    void (*log)(te_operator_ctx_t *ctx, te_op_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* A source's cooperative cancellation flag (1 once the task is cancelling). */
    int (*is_cancelled)(te_operator_ctx_t *ctx);

    /* Metrics the engine shows on the status endpoint, e.g. "numLateRecordsDropped". */
    void (*counter_add)(te_operator_ctx_t *ctx, const char *name, uint64_t delta);

    /* ---- ABI v2 (check api->abi_version >= 2 before use) ---- */

    /* Timers (Flink's TimerService). A timer is (key, timestamp); registering the same
     * one twice keeps one. Event-time timers fire, through def->on_timer(event_time=1),
     * when the operator's input watermark reaches ts (watermark >= ts), before the
     * watermark goes on to process_watermark. Processing-time timers fire
     * (event_time=0) on the task thread once the monotonic clock of
     * current_processing_time reaches ts. key may be NULL when keylen is 0. The key is
     * copied. Returns 0, or -1 (out of memory: the task fails). Timers are part of a
     * checkpoint; a restored processing-time timer keeps the wall-clock time it was due
     * at, re-based onto the new process's clock (its ts in on_timer is on that clock). */
    int (*register_event_timer)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, int64_t ts);
    int (*register_processing_timer)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, int64_t ts);
    /* The last watermark this operator received (INT64_MIN before the first). */
    int64_t (*current_watermark)(te_operator_ctx_t *ctx);
    /* The processing-time clock of timers: monotonic milliseconds. */
    int64_t (*current_processing_time)(te_operator_ctx_t *ctx);

    /* Keyed value state of this operator (backend `hashmap`), stored by the key's key
     * group (key_group_for_key over max_parallelism, the hash partitioner's rule), so it
     * can be snapshotted per key group and redistributed. Values are byte strings.
     * state_get: 1 and *val, *vallen (borrowed until the next state call of this
     * operator) when present, 0 when absent. state_put copies; 0 or -1 (out of memory).
     * state_delete: 1 when removed, 0 when absent. */
    int (*state_get)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t **val,
                     uint32_t *vallen);
    int (*state_put)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                     uint32_t vallen);
    int (*state_delete)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen);
    /* Every entry, key group by key group (ascending), in no particular order within a
     * group. fn returning non-zero stops the walk and is returned. fn must not change
     * the state; collect keys first to delete them. */
    int (*state_foreach)(te_operator_ctx_t *ctx,
                         int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *val,
                                   uint32_t vallen),
                         void *arg);
    /* The same per namespace (Flink's key + namespace, e.g. key + window): the key group
     * comes from key alone; (key, ns) names the value. The plain functions use the
     * empty namespace. state_foreach_ns walks every namespace. */
    int (*state_get_ns)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                        uint32_t nslen, const uint8_t **val, uint32_t *vallen);
    int (*state_put_ns)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                        uint32_t nslen, const uint8_t *val, uint32_t vallen);
    int (*state_delete_ns)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                           uint32_t nslen);
    int (*state_foreach_ns)(te_operator_ctx_t *ctx,
                            int (*fn)(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                                      uint32_t nslen, const uint8_t *val, uint32_t vallen),
                            void *arg);

    /* Stream status (Flink's WatermarkStatus): idle=1 tells downstream tasks that this
     * task's output will carry no records or watermarks for a while, so their
     * watermark valves stop waiting for it; idle=0 (or the next emitted watermark)
     * makes it active again. Used by sources and by assign_timestamps' idle_timeout. */
    void (*mark_idle)(te_operator_ctx_t *ctx, int idle);

    /* The job's configuration (Flink's ExecutionConfig): the job graph's "config" map
     * over the daemon's defaults for job-level keys (e.g.
     * pipeline.auto-watermark-interval, execution.buffer-timeout). NULL when unset.
     * Borrowed for the operator's life. */
    const char *(*job_config)(te_operator_ctx_t *ctx, const char *key);

    /* Files an operator reads or writes must lie under the daemon's io.allowed-dirs
     * (symlinks and ".." resolved; the path need not exist yet). 0, or -1 with the
     * reason in err. */
    int (*check_path)(te_operator_ctx_t *ctx, const char *path, char *err, size_t errlen);

    /* ---- ABI v3 (check api->abi_version >= 3 before use) ---- */

    /* The job's id and this operator's vertex id (32 lowercase hex characters each, the
     * same in every attempt of the job, so a restarted sink finds what its previous
     * attempt left in an external system). Borrowed for the operator's life. Both are
     * empty ("") while the scheduler derives a job's schemas (setup is then run only to
     * declare schemas: see the top). */
    const char *(*job_id)(te_operator_ctx_t *ctx);
    const char *(*vertex_id)(te_operator_ctx_t *ctx);

    /* The schema of input `input` (0 or 1): the edge's for the head of a chain, the
     * previous operator's main output otherwise; NULL for a source or an input the
     * operator does not have. Borrowed for the operator's life. */
    const te_schema_t *(*input_schema)(te_operator_ctx_t *ctx, int input);
    /* Declares, during setup, the schema of the main output (tag NULL) or of the side
     * output `tag`. The engine copies it. Undeclared, the main output has input 0's
     * schema (a source must declare one). Every row emitted must be of the declared
     * schema (a row with another field count fails the task). Returns 0, or -1 with
     * the reason in err: more than TE_ROW_MAX_FIELDS fields, an empty or duplicate
     * field name, an unknown type, a side output already declared with another
     * schema, or a call outside setup. */
    int (*set_output_schema)(te_operator_ctx_t *ctx, const char *tag, const te_schema_t *schema, char *err,
                             size_t errlen);
    /* Parses a schema: "name:type, ..." or a JSON array of "name:type" strings; types
     * int64, double, bool, string, bytes, timestamp; a "?" after the type makes the
     * field nullable. The result lives as long as the operator. NULL with the problem
     * (naming the field) in err. */
    const te_schema_t *(*parse_schema)(te_operator_ctx_t *ctx, const char *spec, char *err, size_t errlen);

    /* ---- ABI v4 (check api->abi_version >= 4 before use) ---- */

    /* Adds delta to the 8-byte integer value (host byte order, as memcpy of an int64_t
     * stores it) of (key, ns) in the keyed state, in one step where state_get_ns +
     * state_put_ns would take two (counts, sums): an absent value, or one of another
     * size, counts as 0; the addition wraps. *sum gets the new value. ns may be NULL
     * with nslen 0 (the state of state_get / state_put). 0, or -1 when it failed (the
     * task fails with the backend's reason, as for state_put). */
    int (*state_add_i64)(te_operator_ctx_t *ctx, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen, int64_t delta, int64_t *sum);

    /* ---- ABI v5 (check api->abi_version >= 5 before use) ---- */

    /* Declares, during setup, which fields of input `input` (0 or 1) the operator reads:
     * bit i of `fields` = field i (TE_ROW_MAX_FIELDS <= 64). With pass_through = 1 (input
     * 0 only) its main output's rows are input 0's rows as they came (a filter, a
     * timestamp assigner), so the fields its consumers read are read as well (the
     * scheduler takes the claim only when the output schema starts with the input's
     * fields; otherwise the operator reads every field). An operator that keeps rows
     * in state and emits them later should not claim pass_through: a restored job whose
     * consumers read more fields would get the emptied fields of the stored rows. An
     * operator that declares nothing for an input reads every field of it; so does one
     * whose side outputs are consumed. The scheduler uses the declarations to find the
     * fields of each operator's output that no consumer reads (output_fields_read).
     * 0, or -1 outside setup or for an input the operator does not have. */
    int (*declare_reads)(te_operator_ctx_t *ctx, int input, uint64_t fields, int pass_through);
    /* The fields of the main output some consumer (an operator, a sink, an edge's key)
     * reads: bit i = field i; all bits when the scheduler could not tell (while it
     * derives schemas, or an older scheduler). A source may put an empty value (0,
     * "", false) into a field that no consumer reads, to spare building and shipping
     * it; the row stays of its declared schema. */
    uint64_t (*output_fields_read)(te_operator_ctx_t *ctx);
} te_operator_api_t;

/* An operator definition. Callbacks an operator does not need may be NULL. */
typedef struct te_operator_def {
    uint32_t abi_version; /* TE_OPERATOR_ABI_VERSION */
    const char *name;     /* "tokenize" */
    te_operator_kind_t kind;
    /* Sources only: 1 when `run` blocks (runs in a source thread under the checkpoint
     * lock, the seed's LegacySourceFunctionThread), 0 when `step` is used. */
    int blocking_source;

    /* Validates parameters and creates the instance. On a bad parameter return NULL
     * and write a message naming the parameter, its value and what is allowed into err. */
    void *(*setup)(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen);
    /* Acquires resources (files, sockets). Non-zero = failed (message in err). */
    int (*open)(void *self, char *err, size_t errlen);

    /* One- and two-input operators: one record arrives on input 0 or 1. Non-zero = failed. */
    int (*process_element)(void *self, int input, const te_record_t *rec, te_output_t *out);
    /* A new (combined) watermark. NULL = forward it unchanged. */
    int (*process_watermark)(void *self, int64_t watermark, te_output_t *out);
    /* All inputs ended (bounded stream): flush final results. */
    int (*end_input)(void *self, te_output_t *out);

    /* Step-wise sources: emit up to `budget` records, return a te_source_status_t.
     * *idle_wait_ms tells how long to wait before the next step after TE_SOURCE_IDLE. */
    te_source_status_t (*step)(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms);
    /* Blocking sources: run until the end of the input or cancellation. */
    te_source_status_t (*run)(void *self, te_output_t *out);
    /* Blocking sources: ask `run` to return (any thread). */
    void (*cancel)(void *self);

    /* State (checkpoints): serialize into a malloc'd buffer / restore from bytes. */
    int (*snapshot)(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len);
    int (*restore)(void *self, const uint8_t *data, size_t len);
    /* Checkpoint completed (two-phase sinks commit here). */
    int (*notify_checkpoint_complete)(void *self, uint64_t checkpoint_id);

    /* Releases resources after a normal end (may emit final records). */
    int (*close)(void *self, te_output_t *out);
    /* Frees the instance; always called, also after a failure or cancellation. */
    void (*dispose)(void *self);

    /* ---- ABI v2 (read by the engine only when abi_version >= 2) ---- */

    /* A timer registered through the api fired: event_time=1 for an event-time timer
     * (the watermark reached ts), 0 for a processing-time one. key is borrowed. */
    int (*on_timer)(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen, te_output_t *out);
} te_operator_def_t;

/* Finds field `idx` (0-based) of a text record whose fields are separated by `delim`
 * (v1/v2 operators' records; the hash partitioner's rule for an edge of one string
 * field keyed by a later field). Returns 0 with the field's offset and length, or -1
 * when the record has fewer fields. */
static inline int te_record_field(const uint8_t *data, uint32_t len, char delim, uint32_t idx, uint32_t *start,
                                  uint32_t *flen)
{
    uint32_t pos = 0;
    for (uint32_t i = 0; i < idx; i++) {
        const uint8_t *d = len > pos ? (const uint8_t *)memchr(data + pos, (unsigned char)delim, len - pos) : NULL;
        if (d == NULL)
            return -1;
        pos = (uint32_t)(d - data) + 1;
    }
    const uint8_t *d = len > pos ? (const uint8_t *)memchr(data + pos, (unsigned char)delim, len - pos) : NULL;
    *start = pos;
    *flen = d ? (uint32_t)(d - data) - pos : len - pos;
    return 0;
}

/* The symbol a plugin exports. */
typedef const te_operator_def_t *(*te_operator_plugin_entry_fn)(void);
#define TE_OPERATOR_PLUGIN_ENTRY "te_operator_plugin_entry"

#ifdef __cplusplus
}
#endif
#endif
