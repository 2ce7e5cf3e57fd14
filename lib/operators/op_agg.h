/*
 * op_agg — aggregate lists shared by `aggregate`, `window_aggregate` and `over`:
 *
 *   "count(*) AS bids, count(*) FILTER (WHERE price < 10000) AS cheap,
 *    count(DISTINCT bidder) AS bidders, sum(price), min(price), max(price), avg(price)"
 *
 * (or a JSON array of such items). Functions: count(*), count(x) (non-null x),
 * count(DISTINCT x), sum, min, max, avg; the argument and the FILTER condition are
 * expressions (expr.h) over the input row; NULL arguments are skipped, as in SQL. An
 * unnamed item is named after the function and its field ("sum_price"), or agg<i>.
 * Result types: count int64; sum int64 for integers, double otherwise; min / max the
 * argument's type; avg double; sum / min / max / avg are NULL over no values.
 *
 * The accumulator of a key is itself a row (te/row.h) of the schema `acc`: count and
 * count(DISTINCT) one int64, sum and min/max one field of their type, avg a double sum
 * and an int64 count — stored as one byte string in keyed state, or updated in place
 * when it has no string field (op_aggs_fixed: windows keep accumulators in memory).
 * count(DISTINCT) keeps its set outside the accumulator (the caller's `seen` callback,
 * keyed state in practice).
 *
 * Like op_util, only the public ABI (te/operator.h) and libc.
 *
 * Threading: a parsed list is immutable; updates use the caller's buffers.
 */
#ifndef TE_OP_AGG_H
#define TE_OP_AGG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "operators/expr.h"
#include "operators/op_row.h"

#define OP_AGG_MAX 32

typedef enum op_agg_fn { AGG_COUNT, AGG_COUNT_DISTINCT, AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG } op_agg_fn_t;

typedef struct op_agg {
    op_agg_fn_t fn;
    expr_t *arg;    /* NULL for count(*) */
    expr_t *filter; /* NULL without FILTER */
    char name[64];
    te_type_t type; /* of the result */
    uint32_t acc;   /* its first field in the accumulator */
} op_agg_t;

typedef struct op_aggs {
    op_agg_t a[OP_AGG_MAX];
    uint32_t n;
    te_field_t acc_fields[TE_ROW_MAX_FIELDS];
    te_schema_t acc; /* the accumulator's schema */
    int fixed;       /* no string field in the accumulator: updated in place */
    int distinct;    /* some count(DISTINCT) */
    int exprs;       /* some argument or FILTER to evaluate (else all are count(*)) */
    expr_env_t env;
} op_aggs_t;

/* Parses parameter `key` against the input schema. 0 or -1 (message in s->err). */
int op_aggs_parse(op_setup_t *s, const te_schema_t *in, const char *key, op_aggs_t *out);
/* Parses the list `text` (NULL: missing) given for parameter `key` (messages name it). */
int op_aggs_parse_text(op_setup_t *s, const te_schema_t *in, const char *key, const char *text, op_aggs_t *out);
void op_aggs_free(op_aggs_t *ag);
/* The input fields the aggregates' arguments and FILTER conditions read (a mask). */
uint64_t op_aggs_fields_read(const op_aggs_t *ag);

/* Appends the results' fields (name, type, nullable) to an output schema. */
int op_aggs_schema(op_setup_t *s, const op_aggs_t *ag, op_schema_t *o);

/* The size of a fixed accumulator (8 + 8 * fields). */
static inline uint32_t op_aggs_acc_size(const op_aggs_t *ag) { return TE_ROW_HEADER + 8u * ag->acc.n_fields; }

/* Starts an empty accumulator in b (counts 0, the rest null). 0 or -1 (memory). */
int op_aggs_init(const op_aggs_t *ag, te_row_builder_t *b);

/* count(DISTINCT): returns 1 when the value (its key bytes) of aggregate i was seen
 * before for this key, 0 when it is new (and remembers it), -1 on failure. */
typedef int (*op_agg_seen_fn)(void *arg, uint32_t i, const uint8_t *v, uint32_t n);

/* Adds input row `in` to the accumulator held in b (b->buf is the accumulator row:
 * fixed fields are changed in place, a string min/max rebuilds the row). 0, or -1
 * (memory, or `seen` failed). */
int op_aggs_add(op_aggs_t *ag, te_row_builder_t *b, const te_record_t *in, op_agg_seen_fn seen, void *arg);

/* A fixed accumulator's header, and its field f read and written (the null bit
 * cleared) in place. */
static inline uint64_t op_acc_hdr(const uint8_t *acc)
{
    uint64_t h;
    memcpy(&h, acc, 8);
    return h;
}

static inline void op_acc_set(uint8_t *acc, uint32_t f, uint64_t v)
{
    uint64_t h = op_acc_hdr(acc) & ~(1ull << (TE_ROW_NULL_SHIFT + f));
    memcpy(acc, &h, 8);
    memcpy(acc + TE_ROW_HEADER + 8u * f, &v, 8);
}

static inline uint64_t op_acc_get(const uint8_t *acc, uint32_t f)
{
    uint64_t v;
    memcpy(&v, acc + TE_ROW_HEADER + 8u * f, 8);
    return v;
}

/* op_aggs_add_fixed's aggregates with an argument or a FILTER (the row count done). */
int op_aggs_add_exprs(op_aggs_t *ag, uint8_t *acc, const te_record_t *in);

/* A fixed accumulator updated in place: acc points at op_aggs_acc_size bytes. Inline:
 * count(*) aggregates (the common window count) make no call. */
static inline int op_aggs_add_fixed(op_aggs_t *ag, uint8_t *acc, const te_record_t *in)
{
    op_acc_set(acc, 0, op_acc_get(acc, 0) + 1);
    if (ag->exprs)
        return op_aggs_add_exprs(ag, acc, in);
    for (uint32_t i = 0; i < ag->n; i++)
        op_acc_set(acc, ag->a[i].acc, op_acc_get(acc, ag->a[i].acc) + 1);
    return 0;
}
/* dst += src (fixed accumulators; count(DISTINCT) cannot merge). */
void op_aggs_merge_fixed(const op_aggs_t *ag, uint8_t *dst, const uint8_t *src);
/* 1 when the fixed accumulator saw no row (every count 0 and every value null). */
int op_aggs_empty_fixed(const op_aggs_t *ag, const uint8_t *acc);

/* Writes the results of accumulator `acc` into fields first.. of b. */
void op_aggs_result(const op_aggs_t *ag, const te_record_t *acc, te_row_builder_t *b, uint32_t first);

#endif
