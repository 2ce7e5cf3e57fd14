/*
 * operator_chain — Flink's OperatorChain for a linear chain (head first): the operator
 * instances of one task, the engine side of the operator ABI (te_operator_api_t, one
 * te_operator_ctx_t per operator with its params, subtask info, counters and the
 * failure message) and the Outputs between them:
 *   - ChainingOutput: operator i emits straight into operator i+1's process_element;
 *   - the tail's output: a RecordWriterOutput per record writer (stream-element header
 *     + payload, never copying the payload), fanned out by a BroadcastingOutputCollector
 *     when there are several writers; with no writer (a sink) emitted records are
 *     counted and dropped;
 *   - side outputs: no side-output edges exist yet, so emit_side drops (and counts).
 * Watermarks go through process_watermark (NULL = forward unchanged); the tail
 * broadcasts them to every channel.
 *
 * Each operator has its own timer service and keyed state backend (ABI v2, created on
 * first use, from the task's state store: hashmap or rocksdb) and its own current
 * watermark; a watermark that does not advance an
 * operator's is dropped. The chain's writers carry the stream status set by
 * api->mark_idle / the input valve (an idle output becomes active again with the next
 * record or watermark). end_input first sends the final watermark (INT64_MAX).
 *
 * Lifecycle: new (setup of every operator) -> open (tail first) -> process / step / run
 * -> end_input (head to tail) -> close (head first; operators may emit) -> dispose
 * (always, reverse order; also after a failure) -> free.
 *
 * Failures: the first api->fail message, or the first callback returning non-zero, is
 * recorded as "operator '<name>' (#<i>): <message>"; after it, emits return -1.
 *
 * Threading: every call on the task thread, except that a blocking source's `run` emits
 * from the source thread while holding `head_emit_lock` (taken here around each head
 * emit). The cancelled flag is read from any thread.
 */
#ifndef TE_OPERATOR_CHAIN_H
#define TE_OPERATOR_CHAIN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "shuffle/record_writer.h"
#include "runtime/stream_task.h"
#include "runtime/task_metrics.h"
#include "te/operator.h"

typedef struct te_operator_chain te_operator_chain_t;

typedef struct te_operator_chain_config {
    const char *task_name;     /* borrowed */
    const char *job_id_hex;    /* borrowed; may be NULL (api->job_id then gives 32 zeros) */
    const char *vertex_id_hex; /* borrowed; may be NULL */
    uint32_t subtask_index;
    uint32_t parallelism;
    uint32_t max_parallelism;
    const te_chain_op_config_t *ops; /* head first; borrowed for the chain's life */
    size_t n_ops;
    te_record_writer_t **writers; /* borrowed; may be 0 */
    size_t n_writers;
    const char *const *writer_tags; /* borrowed; per writer NULL/"" = main output, else a side-output tag */
    const char *const *config_keys; /* the job configuration (borrowed), n_config pairs */
    const char *const *config_values;
    size_t n_config;
    /* The schemas of the head's inputs 0 and 1 (borrowed for the chain's life); NULL =
     * text (one string field) for a one-/two-input head, none for a source. */
    const te_schema_t *input_schemas[2];
    te_task_metrics_t *metrics;      /* borrowed; may be NULL */
    _Atomic int *cancelled;          /* borrowed; may be NULL */
    pthread_mutex_t *head_emit_lock; /* held around each emit of operator 0; may be NULL */
    struct te_state_store *state;    /* the task's keyed state (borrowed); NULL = a private hashmap store */
} te_operator_chain_config_t;

/* Sets up every operator (def->setup). On failure the operators set up so far are
 * disposed and err says "operator '<name>' (#<i>): <problem>". */
te_operator_chain_t *operator_chain_new(const te_operator_chain_config_t *cfg, te_error_t *err);
/* Disposes (if not yet) and frees. NULL is a no-op. */
void operator_chain_free(te_operator_chain_t *c);

/* def->open of every operator, tail first. */
te_status_t operator_chain_open(te_operator_chain_t *c, te_error_t *err);
/* A record for the head (one/two-input chains). TE_OK, or the failure. */
te_status_t operator_chain_process_element(te_operator_chain_t *c, int input, const te_record_t *rec,
                                           te_error_t *err);
/* The head operator's per-record entry for a caller's own record loop (the network
 * input's, Flink's DataOutput): per record call process_element(self, input, rec,
 * out); when it returns nonzero or *failed is set, stop and take
 * operator_chain_head_failed. The records handed in are counted with
 * operator_chain_head_count (per batch). text_input: a v1/v2 head whose inputs are rows
 * of one string field: hand it operator_chain_text_view of each row instead.
 * process_element NULL: a pass-through head, or a v1/v2 head reading rows of other
 * schemas as text; use operator_chain_process_element. Valid for the chain's life. */
typedef struct te_chain_head {
    int (*process_element)(void *self, int input, const te_record_t *rec, te_output_t *out);
    void *self;
    te_output_t *out;
    const _Atomic int *failed;
    int text_input;
} te_chain_head_t;
void operator_chain_head(te_operator_chain_t *c, te_chain_head_t *h);

/* The row a v1/v2 operator's text record goes out as (proto/ROWS.md): header 1 (one
 * field, not null), the string's slot, the string — TEXT_ROW_PREFIX bytes ahead of the
 * text, written by chain_output.c and read back by operator_chain_text_view. */
#define TEXT_ROW_PREFIX (TE_ROW_HEADER + 8u)
#define TEXT_ROW_HEADER 1u
static inline uint64_t text_row_slot(uint32_t len) { return (uint64_t)TEXT_ROW_PREFIX | (uint64_t)len << 32; }

/* What a v1/v2 operator reads for a row of one string field: the string's bytes ("" for
 * null or a malformed row), the row's timestamp. Returns text. The text row above is
 * read with two loads; any other goes through te_row_get_str. */
static inline const te_record_t *operator_chain_text_view(const te_record_t *row, te_record_t *text)
{
    uint32_t n;
    if (TE_LIKELY(row->len >= TEXT_ROW_PREFIX)) {
        uint64_t hdr, slot;
        memcpy(&hdr, row->data, 8);
        memcpy(&slot, row->data + TE_ROW_HEADER, 8);
        if (TE_LIKELY(hdr == TEXT_ROW_HEADER && slot == text_row_slot(row->len - TEXT_ROW_PREFIX))) {
            text->data = row->data + TEXT_ROW_PREFIX;
            text->len = row->len - TEXT_ROW_PREFIX;
            text->timestamp = row->timestamp;
            return text;
        }
    }
    const uint8_t *p = te_row_get_str(row, 0, &n);
    text->data = p ? p : (const uint8_t *)"";
    text->len = n;
    text->timestamp = row->timestamp;
    return text;
}
void operator_chain_head_count(te_operator_chain_t *c, uint64_t records);
/* After a head call returned rc or left the chain failed: the failure (as
 * operator_chain_process_element reports it). */
te_status_t operator_chain_head_failed(te_operator_chain_t *c, int rc, te_error_t *err);
/* A combined input watermark for the head. */
te_status_t operator_chain_process_watermark(te_operator_chain_t *c, int64_t wm, te_error_t *err);
/* A stream status change: broadcast to the outputs (operators do not see it). */
te_status_t operator_chain_emit_status(te_operator_chain_t *c, int idle, te_error_t *err);
/* Step-wise source head: def->step. *status gets the source status. */
te_status_t operator_chain_source_step(te_operator_chain_t *c, uint32_t budget, te_source_status_t *status,
                                       uint32_t *idle_wait_ms, te_error_t *err);
/* Blocking source head: def->run (source thread) / def->cancel (any thread). */
te_status_t operator_chain_source_run(te_operator_chain_t *c, te_error_t *err);
void operator_chain_source_cancel(te_operator_chain_t *c);
/* end_input of operators from..n-1, in order (each op's end_input, then the next's). */
te_status_t operator_chain_end_input(te_operator_chain_t *c, size_t from, te_error_t *err);
/* def->close of every opened operator, head first. */
te_status_t operator_chain_close(te_operator_chain_t *c, te_error_t *err);
/* def->dispose of every operator, tail first. Idempotent. */
void operator_chain_dispose(te_operator_chain_t *c);

/* The recorded failure (TE_OK when none), with its message in err. */
te_status_t operator_chain_failure(te_operator_chain_t *c, te_error_t *err);
size_t operator_chain_length(const te_operator_chain_t *c);
const te_operator_def_t *operator_chain_def(const te_operator_chain_t *c, size_t i);

/* Schemas (ABI v3; operator_chain_rows.c). The main output of operator i; what the
 * chain emits to side output `tag` (declared by one of its operators; text when only
 * v1/v2 operators could emit it), NULL when no operator declares that tag; the tail's
 * main output with tag NULL. Borrowed for the chain's life. */
const te_schema_t *operator_chain_op_output_schema(const te_operator_chain_t *c, size_t i);
const te_schema_t *operator_chain_output_schema(const te_operator_chain_t *c, const char *tag);
/* The side-output tags operator i declared (n_tags of them; borrowed). */
const char *operator_chain_op_side_tag(const te_operator_chain_t *c, size_t i, size_t k,
                                       const te_schema_t **schema);

/* Per-operator counters (numRecordsIn / numRecordsOut of operator i). Counted once per
 * record: inside the chain operator i's records out are operator i+1's records in; the
 * tail's are what the task emitted (main and side outputs) plus what a sink dropped. */
uint64_t operator_chain_records_in(const te_operator_chain_t *c, size_t i);
uint64_t operator_chain_records_out(const te_operator_chain_t *c, size_t i);
/* Records the tail emitted with no writer (sinks), and side-output records dropped. */
uint64_t operator_chain_records_dropped(const te_operator_chain_t *c);
uint64_t operator_chain_side_dropped(const te_operator_chain_t *c);
/* A named counter of operator i (api->counter_add), 0 when never added. */
uint64_t operator_chain_counter(const te_operator_chain_t *c, size_t i, const char *name);

/* Timers (ABI v2). Event-time timers of operator i fire inside the watermark path (when
 * the watermark reaching operator i passes them, before its process_watermark).
 * Processing-time timers are fired by the task's mailbox loop: next = the earliest
 * processing-time timer of any operator (monotonic ms, -1 none); fire runs every timer
 * due at now_ms (on_timer of its operator) and recomputes next. Task thread. */
int64_t operator_chain_next_processing_timer(const te_operator_chain_t *c);
te_status_t operator_chain_fire_processing_timers(te_operator_chain_t *c, int64_t now_ms, te_error_t *err);
size_t operator_chain_timer_count(const te_operator_chain_t *c, size_t i, int event_time);
/* Operator i's keyed state (NULL until it stored something), for checkpoints. */
struct te_state_backend *operator_chain_state_backend(te_operator_chain_t *c, size_t i);
/* The same, created now when missing (a restore that filled the store directly);
 * NULL with the failure recorded. */
struct te_state_backend *operator_chain_keyed_state(te_operator_chain_t *c, size_t i);
/* The chain's state store (the task's, or the chain's own). */
struct te_state_store *operator_chain_state_store(te_operator_chain_t *c);
/* Operator i's name (its chain entry's, else its definition's); NULL out of range. */
const char *operator_chain_op_name(const te_operator_chain_t *c, size_t i);
/* The chain position whose operator takes the state a snapshot of subtask `subtask`
 * names `name` at chain position `index`: by uid when the name is "<op>#<uid>", else by
 * position (the operator there must be <op>); -1 = nobody claims it and the job allows
 * that (execution.savepoint.ignore-unclaimed-state); -2 = an error naming the mismatch
 * (err set). */
long operator_chain_state_owner(te_operator_chain_t *c, uint32_t subtask, const char *name, uint32_t index,
                                te_error_t *err);

/* Checkpoints (task thread, or under the checkpoint lock). snapshot_state is the
 * synchronous part: it adds to ac, per operator i, an OPERATOR part (def->snapshot
 * bytes, when the def has a snapshot), a KEYED part (a view of its state backend, when
 * it has one) and a TIMERS part (a view of its timers, when it has any; format
 * TE_TIMER_SNAPSHOT_VERSION in the section's `sub`: processing-time timers on the wall
 * clock, timer_service.h); a snapshot thread writes them (async_checkpoint.h).
 * With incremental checkpoints (state.backend.incremental on rocksdb) the keyed state
 * of every operator is one ROCKSDB part instead: the task instance's native
 * checkpoint, whose asynchronous part uploads the new SST files.
 * restore_state (before open) restores from one subtask's snapshot file
 * (processing-time timers re-based onto this process's monotonic clock, keeping the
 * wall-clock time they were due at): keyed state and timers of key groups
 * kg_first..kg_last always (streamed, groups out of range skipped), non-keyed operator
 * state only when `nonkeyed` is 1 (same subtask) or 2 (rescaled: then not for
 * operators that also have a KEYED section); it checks that the snapshot's operator
 * names match the chain. notify_checkpoint_complete calls
 * def->notify_checkpoint_complete head first. */
struct te_async_checkpoint;
struct te_ckpt_reader;
te_status_t operator_chain_snapshot_state(te_operator_chain_t *c, uint64_t checkpoint_id,
                                          struct te_async_checkpoint *ac, te_error_t *err);
te_status_t operator_chain_restore_state(te_operator_chain_t *c, struct te_ckpt_reader *r, int nonkeyed,
                                         uint32_t kg_first, uint32_t kg_last, te_error_t *err);
te_status_t operator_chain_notify_checkpoint_complete(te_operator_chain_t *c, uint64_t checkpoint_id,
                                                      te_error_t *err);

#endif
