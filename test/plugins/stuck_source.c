/*
 * stuck_source — a source for tests that gets stuck: every subtask emits the numbers
 * 0, 1, 2, ... (step-wise, `rate` records per second, default 1000), but subtask
 * `stuck_subtask` (default 1) stops after `stuck_after` records (default 100) inside
 * its step, sleeping until the task is cancelled. Its task thread is then busy in user
 * code and never takes another mail, so it never emits another checkpoint barrier:
 * downstream tasks aligning barriers wait for it with the other channels blocked —
 * an input stall to report.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "te/operator.h"

typedef struct stuck_source {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    long rate, stuck_after, stuck_subtask;
    long next;
    char buf[32];
} stuck_source_t;

static long param_long(const te_operator_api_t *api, te_operator_ctx_t *ctx, const char *key, long dflt)
{
    const char *v = api->param(ctx, key);
    if (v == NULL || v[0] == '\0')
        return dflt;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == '\0' && n >= 0 ? n : -1;
}

static void *stuck_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    stuck_source_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->api = api;
    s->ctx = ctx;
    s->rate = param_long(api, ctx, "rate", 1000);
    s->stuck_after = param_long(api, ctx, "stuck_after", 100);
    s->stuck_subtask = param_long(api, ctx, "stuck_subtask", 1);
    if (s->rate <= 0 || s->stuck_after < 0 || s->stuck_subtask < 0) {
        snprintf(err, errlen, "operator 'stuck_source': rate > 0, stuck_after and stuck_subtask >= 0 expected");
        free(s);
        return NULL;
    }
    return s;
}

static te_source_status_t stuck_step(void *self, te_output_t *out, uint32_t budget, uint32_t *idle_wait_ms)
{
    stuck_source_t *s = self;
    (void)budget;
    if ((long)s->api->subtask_index(s->ctx) == s->stuck_subtask && s->next >= s->stuck_after) {
        while (!s->api->is_cancelled(s->ctx)) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        return TE_SOURCE_END;
    }
    int len = snprintf(s->buf, sizeof(s->buf), "%ld", s->next++);
    te_record_t r = {(const uint8_t *)s->buf, (uint32_t)len, TE_NO_TIMESTAMP};
    if (s->api->emit(out, &r) != 0)
        return s->api->is_cancelled(s->ctx) ? TE_SOURCE_END : TE_SOURCE_ERROR;
    *idle_wait_ms = (uint32_t)(1000 / s->rate > 0 ? 1000 / s->rate : 1);
    return TE_SOURCE_IDLE;
}

static void stuck_dispose(void *self) { free(self); }

static const te_operator_def_t STUCK = {
    .abi_version = 2, /* text records (v2) */
    .name = "stuck_source",
    .kind = TE_OP_SOURCE,
    .setup = stuck_setup,
    .step = stuck_step,
    .dispose = stuck_dispose,
};

const te_operator_def_t *te_operator_plugin_entry(void) { return &STUCK; }
