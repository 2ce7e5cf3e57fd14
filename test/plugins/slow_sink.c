/*
 * slow_sink — a deliberately slow sink for tests: it sleeps `sleep_us` microseconds
 * (default 1000) after every `every` records (default 10) and discards them, so its
 * input backs up and backpressure reaches the producers while the task itself stays
 * responsive between records (unlike a sink stuck in one long blocking call).
 * With `forward: true` it passes every record on instead (a slow map), so a sink
 * after it can show that nothing was lost.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "te/operator.h"

typedef struct slow_sink {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    long every, sleep_us;
    long seen;
    int forward;
} slow_sink_t;

static long param_long(const te_operator_api_t *api, te_operator_ctx_t *ctx, const char *key, long dflt)
{
    const char *v = api->param(ctx, key);
    if (v == NULL || v[0] == '\0')
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n > 0 ? n : -1;
}

static void *slow_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    slow_sink_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->api = api;
    s->ctx = ctx;
    const char *fw = api->param(ctx, "forward");
    s->forward = fw != NULL && strcmp(fw, "true") == 0;
    s->every = param_long(api, ctx, "every", 10);
    s->sleep_us = param_long(api, ctx, "sleep_us", 1000);
    if (s->every < 0 || s->sleep_us < 0) {
        const char *m = "operator 'slow_sink': 'every' and 'sleep_us' must be positive integers";
        if (strlen(m) < errlen)
            strcpy(err, m);
        free(s);
        return NULL;
    }
    return s;
}

static int slow_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    slow_sink_t *s = self;
    if (++s->seen % s->every == 0) {
        struct timespec ts = {s->sleep_us / 1000000, (s->sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    if (!s->forward)
        return 0;
    return s->api->emit(out, rec) == 0 || s->api->is_cancelled(s->ctx) ? 0 : -1;
}

static void slow_dispose(void *self) { free(self); }

static const te_operator_def_t SLOW = {
    .abi_version = 2, /* text records (v2) */
    .name = "slow_sink",
    .kind = TE_OP_ONE_INPUT,
    .setup = slow_setup,
    .process_element = slow_process,
    .dispose = slow_dispose,
};

const te_operator_def_t *te_operator_plugin_entry(void) { return &SLOW; }
