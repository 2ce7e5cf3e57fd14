/*
 * op_scale — the `scale` map operator: multiplies a numeric field by a constant
 * factor, leaving the other fields as they are (Nexmark q1's currency conversion:
 * `price * 0.908`).
 *
 * Parameters: field (required, 0-based), factor (required, a number), delimiter
 * (default "\t"). An integer field gives round(value * factor) as an integer; a
 * decimal field gives the product with up to 6 significant decimals. A record whose
 * field is missing or not a number passes through unchanged.
 *
 * Hot path: the output is built in a per-instance buffer (grown only for a longer
 * record); integers are formatted by hand.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/op_util.h"

typedef struct scale {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t field;
    char delim;
    double factor;
    op_buf_t out;
} scale_t;

static void *scale_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"field", "factor", "delimiter", NULL};
    op_setup_t s = {api, ctx, "scale", err, errlen};
    int32_t field;
    char delim;
    const char *factor;
    double f;
    if (op_check_keys(&s, allowed) != 0 || op_get_field(&s, "field", 1, &field) != 0 ||
        op_get_string(&s, "factor", 1, NULL, &factor) != 0 || op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    if (op_parse_double(factor, &f) != 0 || !isfinite(f)) {
        op_errorf(&s, "parameter 'factor' = '%s' is not a number", factor);
        return NULL;
    }
    scale_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    m->api = api;
    m->ctx = ctx;
    m->field = field;
    m->delim = delim;
    m->factor = f;
    return m;
}

static int parse_int(const uint8_t *p, uint32_t len, int64_t *out)
{
    uint32_t i = 0;
    int neg = 0;
    if (len > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == len || len - i > 18)
        return -1;
    int64_t v = 0;
    for (; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static int scale_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input;
    scale_t *m = self;
    uint32_t start, flen;
    if (te_record_field(rec->data, rec->len, m->delim, (uint32_t)m->field, &start, &flen) != 0)
        return m->api->emit(out, rec);
    char num[64];
    int n;
    int64_t iv;
    double dv;
    if (parse_int(rec->data + start, flen, &iv) == 0) {
        double prod = (double)iv * m->factor;
        if (fabs(prod) > 9e18)
            return m->api->emit(out, rec);
        int64_t r = (int64_t)llround(prod);
        char tmp[24];
        int k = 0, neg = r < 0;
        uint64_t u = neg ? (uint64_t)0 - (uint64_t)r : (uint64_t)r;
        do {
            tmp[k++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        n = 0;
        if (neg)
            num[n++] = '-';
        while (k)
            num[n++] = tmp[--k];
    } else if (op_parse_double_bytes(rec->data + start, flen, &dv) == 0) {
        n = snprintf(num, sizeof(num), "%.6f", dv * m->factor);
        while (n > 1 && num[n - 1] == '0') /* trim trailing zeros (keep one digit after '.') */
            n--;
        if (n > 0 && num[n - 1] == '.')
            n--;
    } else {
        return m->api->emit(out, rec);
    }
    size_t need = (size_t)rec->len - flen + (size_t)n;
    if (op_buf_reserve(&m->out, need) != 0) {
        m->api->fail(m->ctx, "out of memory for a %zu-byte record", need);
        return -1;
    }
    uint8_t *o = m->out.data;
    memcpy(o, rec->data, start);
    memcpy(o + start, num, (size_t)n);
    memcpy(o + start + (size_t)n, rec->data + start + flen, rec->len - start - flen);
    te_record_t r = {o, (uint32_t)need, rec->timestamp};
    return m->api->emit(out, &r);
}

static void scale_dispose(void *self)
{
    scale_t *m = self;
    if (m) {
        op_buf_release(&m->out);
        free(m);
    }
}

const te_operator_def_t op_scale_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "scale",
    .kind = TE_OP_ONE_INPUT,
    .setup = scale_setup,
    .process_element = scale_process,
    .dispose = scale_dispose,
};
