/*
 * operator_chain_internal — internal, operator_chain*.c only: the structures behind
 * te_operator_chain_t, te_operator_ctx_t and te_output_t, shared by operator_chain.c
 * (lifecycle, outputs, the v1/v2 api, checkpoints) and operator_chain_rows.c (the v3
 * api: schemas; rows <-> text for v1/v2 operators).
 *
 * Threading: as operator_chain.h.
 */
#ifndef TE_OPERATOR_CHAIN_INTERNAL_H
#define TE_OPERATOR_CHAIN_INTERNAL_H

#include "runtime/operator_chain.h"
#include "runtime/timer_service.h"
#include "state/state_backend.h"

#define CHAIN_MAX_NAMED_COUNTERS 8

typedef struct named_counter {
    char *name;
    _Atomic uint64_t value;
} named_counter_t;

/* A side output an operator declared (api->set_output_schema with a tag). */
typedef struct chain_side {
    char *tag;
    te_schema_t *schema;
} chain_side_t;

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
    void *self;
    int set_up;
    int opened;
    _Atomic uint64_t records_in;
    _Atomic uint64_t records_out;
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
    int legacy;    /* def->abi_version < 3: it reads and writes text */
    uint8_t *text; /* legacy: the text of the current input row */
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
    int out_idle;            /* the stream status last sent on the writers */
    int64_t next_proc_timer; /* earliest processing-time timer of any operator, -1 none */
};

/* operator_chain.c */
const char *chain_op_name(const te_operator_ctx_t *x);
void chain_fail_op(te_operator_chain_t *c, size_t i, const char *msg);

/* operator_chain_rows.c — the v3 api functions. */
const te_schema_t *chain_api_input_schema(te_operator_ctx_t *x, int input);
int chain_api_set_output_schema(te_operator_ctx_t *x, const char *tag, const te_schema_t *s, char *err,
                                size_t errlen);
const te_schema_t *chain_api_parse_schema(te_operator_ctx_t *x, const char *spec, char *err, size_t errlen);

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
