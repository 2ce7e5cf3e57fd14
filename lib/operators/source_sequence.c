/*
 * source_sequence — the `sequence` source: the integers from..to (inclusive) as rows
 * (value:int64), split among the source's subtasks (subtask i of p emits from+i,
 * from+i+p, ...).
 *
 * Parameters: from (default 0), to (required unless unbounded=true; to >= from),
 * unbounded (default false: then the sequence runs until cancelled or INT64_MAX),
 * rate (records per second for the whole source, shared evenly among the subtasks;
 * 0 = full speed; rate-limited steps return TE_SOURCE_IDLE with idle_wait_ms),
 * delimiter (accepted for uniformity, unused). Records carry no timestamp.
 *
 * Snapshot: the next value to emit (8 bytes, little endian); restore before open
 * resumes there.
 *
 * Threading: a step-wise source; every callback runs on the task thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/op_row.h"

typedef struct sequence {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int64_t from, to, next, stride;
    int unbounded;
    int done;
    op_rate_t pace; /* per subtask */
    te_row_builder_t row;
} sequence_t;

static const te_field_t sequence_field = {"value", TE_TYPE_INT64, 0};
static const te_schema_t sequence_schema = {1, &sequence_field};

static void *sequence_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"from", "to", "rate", "unbounded", "delimiter", NULL};
    op_setup_t s = {api, ctx, "sequence", err, errlen};
    int64_t from, to = 0, rate;
    int unbounded;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_bool(&s, "unbounded", 0, &unbounded) != 0 ||
        op_get_int(&s, "from", 0, 0, INT64_MIN, INT64_MAX, &from) != 0 ||
        op_get_int(&s, "to", !unbounded, INT64_MAX, INT64_MIN, INT64_MAX, &to) != 0 ||
        op_get_int(&s, "rate", 0, 0, 0, 1000000000, &rate) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0 || op_declare_schema(&s, NULL, &sequence_schema) != 0)
        return NULL;
    if (unbounded)
        to = INT64_MAX;
    if (to < from) {
        op_errorf(&s, "parameter 'to' = '%lld' is less than 'from' = '%lld'", (long long)to, (long long)from);
        return NULL;
    }
    sequence_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    uint32_t p = api->parallelism(ctx);
    uint32_t i = api->subtask_index(ctx);
    if (p == 0)
        p = 1;
    q->api = api;
    q->ctx = ctx;
    q->from = from;
    q->to = to;
    q->unbounded = unbounded;
    q->stride = p;
    q->pace.rate = rate > 0 ? (double)rate / p : 0.0;
    if ((uint64_t)to - (uint64_t)from < i)
        q->done = 1; /* fewer values than subtasks: nothing for this one */
    else
        q->next = from + (int64_t)i;
    return q;
}

static te_source_status_t sequence_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    sequence_t *q = self;
    if (q->done)
        return TE_SOURCE_END;
    uint64_t allowed = op_rate_allow(&q->pace, budget, idle_wait_ms);
    if (allowed == 0)
        return TE_SOURCE_IDLE;
    for (uint64_t k = 0; k < allowed; k++) {
        te_record_t rec;
        te_row_builder_begin(&q->row, 1);
        te_row_set_i64(&q->row, 0, q->next);
        if (te_row_builder_finish(&q->row, TE_NO_TIMESTAMP, &rec) != 0) {
            q->api->fail(q->ctx, "operator 'sequence': out of memory");
            return TE_SOURCE_ERROR;
        }
        q->pace.emitted++;
        int rc = q->api->emit(out, &rec);
        if ((uint64_t)q->to - (uint64_t)q->next < (uint64_t)q->stride) /* no overflow: next <= to */
            q->done = 1;
        else
            q->next += q->stride;
        if (q->done)
            return TE_SOURCE_END;
        if (rc != 0)
            return TE_SOURCE_MORE; /* cancelling: the engine stops calling step */
    }
    return TE_SOURCE_MORE;
}

static int sequence_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    sequence_t *q = self;
    (void)checkpoint_id;
    return op_position_snapshot(q->done, (uint64_t)q->next, data, len);
}

static int sequence_restore(void *self, const uint8_t *data, size_t len)
{
    sequence_t *q = self;
    int done;
    uint64_t v;
    if (op_position_restore(data, len, &done, &v) != 0)
        return -1;
    q->done = done;
    q->next = (int64_t)v;
    if (!q->done && (q->next < q->from || q->next > q->to))
        return -1;
    return 0;
}

static void sequence_dispose(void *self)
{
    sequence_t *q = self;
    if (q)
        te_row_builder_free(&q->row);
    free(q);
}

const te_operator_def_t op_sequence_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "sequence",
    .kind = TE_OP_SOURCE,
    .blocking_source = 0,
    .setup = sequence_setup,
    .step = sequence_step,
    .snapshot = sequence_snapshot,
    .restore = sequence_restore,
    .dispose = sequence_dispose,
};
