/*
 * sink_discard — the `discard` sink: swallows records, counting them in the metric
 * numRecordsDiscarded (api->counter_add, batched every 4096 records and at end_input /
 * close so the hot path makes no call per record). Emits nothing. No parameters.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>

#include "operators/op_row.h"

#define DISCARD_BATCH 4096

typedef struct discard_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint64_t pending;
} discard_sink_t;

static void *discard_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {NULL};
    op_setup_t s = {api, ctx, "discard", err, errlen};
    if (op_check_keys(&s, allowed) != 0 || op_declare_reads(&s, 0, 0, 0) != 0) /* it reads no field */
        return NULL;
    discard_sink_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    d->api = api;
    d->ctx = ctx;
    return d;
}

static void discard_flush(discard_sink_t *d)
{
    if (d->pending == 0)
        return;
    d->api->counter_add(d->ctx, "numRecordsDiscarded", d->pending);
    d->pending = 0;
}

static int discard_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    discard_sink_t *d = self;
    (void)input;
    (void)rec;
    (void)out;
    if (++d->pending == DISCARD_BATCH)
        discard_flush(d);
    return 0;
}

static int discard_end_input(void *self, te_output_t *out)
{
    (void)out;
    discard_flush(self);
    return 0;
}

static int discard_close(void *self, te_output_t *out)
{
    (void)out;
    discard_flush(self);
    return 0;
}

static void discard_dispose(void *self) { free(self); }

const te_operator_def_t op_discard_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "discard",
    .kind = TE_OP_ONE_INPUT,
    .setup = discard_setup,
    .process_element = discard_process,
    .end_input = discard_end_input,
    .close = discard_close,
    .dispose = discard_dispose,
};
