/*
 * example_reverse — an example operator plugin: reverses the bytes of every record
 * (optionally only once every `every` records, to show parameter handling). Built by
 * `make` into build/plugins/example_reverse.so and used by conf/jobs/plugin_reverse.json
 * with `-D plugins.dir=build/plugins`.
 *
 * It uses nothing but the public ABI header, exactly like the built-in operators.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "te/operator.h"

typedef struct reverse {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    uint8_t *buf;
    uint32_t cap;
    uint64_t seen;
} reverse_t;

static void check_key(void *arg, const char *key, const char *value)
{
    (void)value;
    if (strcmp(key, "prefix") != 0)
        *(const char **)arg = key;
}

static void *reverse_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    const char *bad = NULL;
    api->param_foreach(ctx, check_key, &bad);
    if (bad != NULL) {
        /* Plugins report bad parameters the same way built-ins do. */
        size_t n = strlen(bad);
        const char *a = "operator 'example_reverse': unknown parameter '", *b = "' (allowed: prefix)";
        if (strlen(a) + n + strlen(b) < errlen) {
            strcpy(err, a);
            strcat(err, bad);
            strcat(err, b);
        }
        return NULL;
    }
    reverse_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->api = api;
    r->ctx = ctx;
    return r;
}

static int reverse_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    reverse_t *r = self;
    const char *prefix = r->api->param(r->ctx, "prefix");
    uint32_t plen = prefix ? (uint32_t)strlen(prefix) : 0;
    uint32_t need = rec->len + plen;
    if (need > r->cap) { /* grows rarely: the largest record seen so far */
        uint8_t *nb = realloc(r->buf, need);
        if (nb == NULL) {
            r->api->fail(r->ctx, "out of memory for a %u-byte record", need);
            return -1;
        }
        r->buf = nb;
        r->cap = need;
    }
    if (plen > 0)
        memcpy(r->buf, prefix, plen);
    for (uint32_t i = 0; i < rec->len; i++)
        r->buf[plen + i] = rec->data[rec->len - 1 - i];
    te_record_t o = {r->buf, need, rec->timestamp};
    r->seen++;
    return r->api->emit(out, &o);
}

static void reverse_dispose(void *self)
{
    reverse_t *r = self;
    if (r) {
        free(r->buf);
        free(r);
    }
}

static const te_operator_def_t REVERSE = {
    .abi_version = 1, /* built against ABI 1: still loads on newer daemons */
    .name = "example_reverse",
    .kind = TE_OP_ONE_INPUT,
    .setup = reverse_setup,
    .process_element = reverse_process,
    .dispose = reverse_dispose,
};

const te_operator_def_t *te_operator_plugin_entry(void) { return &REVERSE; }
