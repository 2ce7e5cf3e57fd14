/*
 * sink_print — the `print` sink: logs each record through api->log at INFO, as Flink's
 * PrintSinkFunction does ("<prefix>> record", or "<prefix>:<subtask+1>> record" when the
 * parallelism is > 1). Emits nothing. A row is logged as its tab-separated text.
 *
 * Parameters: prefix (default: the task name).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "operators/op_row.h"

typedef struct print_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *prefix;
    char tag[32]; /* ":<subtask+1>" or "" */
    const te_schema_t *schema;
    op_buf_t text;
} print_sink_t;

static void *print_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"prefix", NULL};
    op_setup_t s = {api, ctx, "print", err, errlen};
    const char *prefix;
    const te_schema_t *in;
    if (op_check_keys(&s, allowed) != 0 || op_get_string(&s, "prefix", 0, NULL, &prefix) != 0 ||
        (in = op_input_schema(&s, 0)) == NULL)
        return NULL;
    print_sink_t *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    ps->api = api;
    ps->ctx = ctx;
    ps->schema = in;
    ps->prefix = prefix ? prefix : api->task_name(ctx);
    if (ps->prefix == NULL)
        ps->prefix = "print";
    if (api->parallelism(ctx) > 1)
        snprintf(ps->tag, sizeof(ps->tag), ":%u", api->subtask_index(ctx) + 1);
    return ps;
}

static int print_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    print_sink_t *ps = self;
    (void)input;
    (void)out;
    if (op_row_text(&ps->text, rec, ps->schema, '\t') != 0) {
        ps->api->fail(ps->ctx, "operator 'print': out of memory");
        return -1;
    }
    ps->api->log(ps->ctx, TE_OP_INFO, "%s%s> %.*s", ps->prefix, ps->tag, (int)ps->text.len,
                 (const char *)ps->text.data);
    return 0;
}

static void print_dispose(void *self)
{
    print_sink_t *ps = self;
    if (ps)
        op_buf_release(&ps->text);
    free(ps);
}

const te_operator_def_t op_print_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "print",
    .kind = TE_OP_ONE_INPUT,
    .setup = print_setup,
    .process_element = print_process,
    .dispose = print_dispose,
};
