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
 * whose def->abi_version must equal TE_OPERATOR_ABI_VERSION.
 *
 * Records are byte strings. Built-ins read them as delimited text fields
 * (`delimiter` default "\t"); plugins may use any format.
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

#ifdef __cplusplus
extern "C" {
#endif

#define TE_OPERATOR_ABI_VERSION 1

/* Timestamp value meaning "this record has none". */
#define TE_NO_TIMESTAMP INT64_MIN

typedef struct te_record {
    const uint8_t *data; /* borrowed until the callback returns */
    uint32_t len;
    int64_t timestamp;   /* TE_NO_TIMESTAMP when absent */
} te_record_t;

typedef enum te_operator_kind {
    TE_OP_SOURCE = 1,    /* head of a SourceStreamTask */
    TE_OP_ONE_INPUT = 2, /* map, filter, keyed, sinks */
    TE_OP_TWO_INPUT = 3, /* union, joins */
} te_operator_kind_t;

/* Result of a source step. */
typedef enum te_source_status {
    TE_SOURCE_MORE = 0,     /* more records to come: call step again */
    TE_SOURCE_END = 1,      /* the source is exhausted */
    TE_SOURCE_IDLE = 2,     /* nothing right now (rate limit): call again after idle_wait_ms */
    TE_SOURCE_ERROR = -1,   /* failed; the message was passed to api->fail */
} te_source_status_t;

/* Opaque handles owned by the engine. */
typedef struct te_operator_ctx te_operator_ctx_t; /* one per operator instance */
typedef struct te_output te_output_t;             /* where an operator emits */

typedef enum te_op_log_level { TE_OP_DEBUG = 0, TE_OP_INFO = 1, TE_OP_WARN = 2, TE_OP_ERROR = 3 } te_op_log_level_t;

/* What the engine offers an operator. All function pointers are always set. */
typedef struct te_operator_api {
    uint32_t abi_version;

    /* Parameters from the job graph; NULL when absent. Borrowed for the operator's life. */
    const char *(*param)(te_operator_ctx_t *ctx, const char *key);
    /* Call for each parameter key (used by operators to reject unknown keys). */
    void (*param_foreach)(te_operator_ctx_t *ctx, void (*fn)(void *arg, const char *key, const char *value), void *arg);

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
} te_operator_def_t;

/* Finds field `idx` (0-based) of a record whose fields are separated by `delim`.
 * Returns 0 with the field's offset and length, or -1 when the record has fewer
 * fields. The built-in operators and the engine's hash partitioner share this rule. */
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
