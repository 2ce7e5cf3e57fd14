/*
 * operator_chain_internal — the operator chain's private state, shared by
 * operator_chain.c (lifecycle, the operator API, timers, checkpoints), chain_output.c
 * (the outputs elements travel through: ChainingOutput, RecordWriterOutput,
 * BroadcastingOutputCollector, side outputs) and operator_chain_rows.c (the v3 api:
 * schemas; rows <-> text for v1/v2 operators). Internal: no other file includes it.
 *
 * Threading: see operator_chain.c.
 */
#ifndef TE_OPERATOR_CHAIN_INTERNAL_H
#define TE_OPERATOR_CHAIN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "state/state_backend.h"
#include "common/schema.h"
#include "runtime/operator_chain.h"
#include "runtime/timer_service.h"
#include "state/state_store.h"
#include "te/row.h"

#define CHAIN_MAX_NAMED_COUNTERS 8

typedef struct named_counter {
    char *name;
    _Atomic uint64_t value;
} named_counter_t;

/* A side output an operator declared (api->set_output_schema with a tag). */
typedef te_schema_side_t chain_side_t;

/* The engine's te_output_t: where operator `from` emits. */
struct te_output {
    te_operator_chain_t *chain;
    size_t from;
    pthread_mutex_t *lock; /* operator 0 of a blocking source only */
};

/* The engine's te_operator_ctx_t: one per operator. */
struct te_operator_ctx {
    te_operator_chain_t *chain;
    size_t index;
    const te_chain_op_config_t *cfg;
    /* cfg->def->process_element, read once per record without the two indirections */
    int (*process_element)(void *self, int input, const te_record_t *rec, te_output_t *out);
    void *self;
    int set_up;
    int opened;
    _Atomic uint64_t records_in; /* records out are derived (operator_chain_records_out) */
    named_counter_t counters[CHAIN_MAX_NAMED_COUNTERS];
    size_t n_counters;
    /* ABI v2: created on first use */
    te_timer_service_t *timers;
    te_state_backend_t *state;
    int64_t current_wm; /* last watermark this operator received */
    /* ABI v3 (operator_chain_rows.c) */
    const te_schema_t *in_schema[2]; /* borrowed: the chain's inputs (head) or the previous main output */
    te_schema_t *out_schema;         /* declared main output (owned); NULL = in_schema[0] */
    uint32_t out_fields;             /* fields of the main output's rows */
    chain_side_t *sides;             /* declared side outputs (owned) */
    size_t n_sides;
    te_schema_t **parsed; /* api->parse_schema results (owned) */
    size_t n_parsed;
    int in_setup;
    int legacy;     /* def->abi_version < 3: it reads and writes text */
    int in_text[2]; /* input k's schema is one string field: a legacy operator reads that field */
    uint8_t *text;  /* legacy: the text of the current input row */
    size_t text_cap;
    te_row_builder_t wrap; /* legacy: the row of a text record it emitted */
};

struct te_operator_chain {
    te_operator_chain_config_t cfg;
    te_operator_ctx_t *ctx;
    te_output_t *out;
    size_t n;
    int disposed;
    _Atomic uint64_t dropped;
    _Atomic uint64_t side_dropped;
    pthread_mutex_t fail_mu;
    _Atomic int failed;
    te_status_t fail_code;
    char fail_msg[TE_ERROR_MSG_MAX];
    te_record_writer_t *main_writer;  /* the only writer, when it is a main output: records skip the tag match */
    te_record_writer_t *fixed_writer; /* main_writer while it sends every record to channel 0 and the
                                         stream is active (the per-record path's one test), else NULL */
    _Atomic int *cancelled;           /* cfg.cancelled, or never_cancelled: never NULL */
    _Atomic int never_cancelled;
    _Atomic uint64_t *num_records_out; /* the task metric, or records_out_unreported: never NULL */
    _Atomic uint64_t records_out_unreported;
    te_state_store_t *store; /* cfg.state, or own_store */
    te_state_store_t *own_store;
    int out_idle;            /* the stream status last sent on the writers */
    int64_t next_proc_timer; /* earliest processing-time timer of any operator, -1 none */
};

static inline int chain_cancelled(const te_operator_chain_t *c) { return atomic_load(c->cancelled); }

/* operator_chain.c */
const char *chain_op_name(const te_operator_ctx_t *x);
/* Records the first failure: "operator '<name>' (#<i>): <msg>", or msg as it is. */
void chain_fail_op(te_operator_chain_t *c, size_t i, const char *msg);
void chain_fail_output(te_operator_chain_t *c, te_status_t code, const char *msg);
/* Fires operator j's timers of `kind` due at `limit` (on_timer of a v2 def). */
int chain_fire_timers(te_operator_chain_t *c, size_t j, int kind, int64_t limit);

/* chain_output.c; each returns 0, or -1 once the chain failed or was cancelled */
/* Sets main_writer and fixed_writer from the writers and the stream status. */
void chain_set_main_writer(te_operator_chain_t *c);
/* A watermark into operator j. */
int chain_push_watermark(te_operator_chain_t *c, size_t j, int64_t wm);
/* Operator i's watermark to what follows it (the next operator or the writers). */
int chain_emit_watermark_from(te_operator_chain_t *c, size_t i, int64_t wm);
/* Sends a stream status on every writer when it differs from the last one sent. */
int chain_set_status(te_operator_chain_t *c, int idle);
/* te_operator_api_t's emit, emit_side, emit_watermark. */
int chain_api_emit(te_output_t *out, const te_record_t *rec);
int chain_api_emit_side(te_output_t *out, const char *tag, const te_record_t *rec);
int chain_api_emit_watermark(te_output_t *out, int64_t wm);

/* operator_chain_rows.c — the v3 api functions. */
const te_schema_t *chain_api_input_schema(te_operator_ctx_t *x, int input);
int chain_api_set_output_schema(te_operator_ctx_t *x, const char *tag, const te_schema_t *s, char *err,
                                size_t errlen);
const te_schema_t *chain_api_parse_schema(te_operator_ctx_t *x, const char *spec, char *err, size_t errlen);
/* ... and v5's. */
int chain_api_declare_reads(te_operator_ctx_t *x, int input, uint64_t fields, int pass_through);
uint64_t chain_api_output_fields_read(te_operator_ctx_t *x);

/* Before operator i's setup: its input schemas and whether it is a legacy (v1/v2)
 * operator. After it: its main output schema is fixed (sources must have declared
 * one). TE_OK or EINVAL with the message in err. */
void chain_rows_before_setup(te_operator_chain_t *c, size_t i);
te_status_t chain_rows_after_setup(te_operator_chain_t *c, size_t i, te_error_t *err);
/* Frees what operator i's schemas and conversions hold. */
void chain_rows_free(te_operator_ctx_t *x);

/* A legacy operator's view of input row rec: its text. NULL when out of memory (the
 * failure is recorded). */
const te_record_t *chain_rows_to_text(te_operator_ctx_t *x, int input, const te_record_t *rec, te_record_t *tmp);
/* A record operator x emitted (to side output `tag`, NULL = main) as the row its
 * outputs carry: for a legacy operator the text wrapped in a one-string-field row; for
 * a v3 one rec itself, after checking its field count. NULL = failed (recorded). */
const te_record_t *chain_rows_emitted(te_operator_ctx_t *x, const char *tag, const te_record_t *rec,
                                      te_record_t *tmp);

#endif
