/*
 * op_tokenize — the `tokenize` operator (a flatMap into words), the word count's
 * splitter.
 *
 * Rule (reproducible with coreutils: `tr -cs 'A-Za-z' '\n' | tr A-Z a-z`): a word is a
 * maximal run of ASCII letters A-Z a-z; every other byte separates words. Each word is
 * emitted as one record (in lower case unless lowercase=false), with the input's
 * timestamp.
 *
 * Parameters: field (optional: tokenize only that field; a record without it emits
 * nothing), lowercase (default true), delimiter (default "\t", used with field).
 *
 * Hot path: no allocation, no syscall. A word that is already lower case is emitted
 * pointing into the borrowed input record; one with upper-case letters is lowered into
 * a per-instance scratch buffer (grown only when a longer record arrives).
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/op_util.h"

typedef struct tokenize {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t field;
    int lowercase;
    char delim;
    op_buf_t scratch;
} tokenize_t;

static void *tokenize_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"field", "lowercase", "delimiter", NULL};
    op_setup_t s = {api, ctx, "tokenize", err, errlen};
    int32_t field;
    int lower;
    char delim;
    if (op_check_keys(&s, allowed) != 0 || op_get_field(&s, "field", 0, &field) != 0 ||
        op_get_bool(&s, "lowercase", 1, &lower) != 0 || op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    tokenize_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    t->api = api;
    t->ctx = ctx;
    t->field = field;
    t->lowercase = lower;
    t->delim = delim;
    return t;
}

static inline int is_letter(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

static int tokenize_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    tokenize_t *t = self;
    (void)input;
    const uint8_t *p = rec->data;
    uint32_t len = rec->len;
    if (t->field >= 0) {
        uint32_t start, flen;
        if (te_record_field(rec->data, rec->len, t->delim, (uint32_t)t->field, &start, &flen) != 0)
            return 0;
        p += start;
        len = flen;
    }
    uint32_t i = 0;
    while (i < len) {
        while (i < len && !is_letter(p[i]))
            i++;
        if (i >= len)
            break;
        uint32_t w = i;
        int upper = 0;
        while (i < len && is_letter(p[i])) {
            upper |= p[i] <= 'Z';
            i++;
        }
        te_record_t word = {p + w, i - w, rec->timestamp};
        if (upper && t->lowercase) {
            if (op_buf_reserve(&t->scratch, i - w) != 0) {
                t->api->fail(t->ctx, "operator 'tokenize': out of memory");
                return -1;
            }
            for (uint32_t k = 0; k < i - w; k++)
                t->scratch.data[k] = p[w + k] | 0x20; /* letters only: sets lower case */
            word.data = t->scratch.data;
        }
        if (t->api->emit(out, &word) != 0)
            return 0; /* cancelling */
    }
    return 0;
}

static void tokenize_dispose(void *self)
{
    tokenize_t *t = self;
    if (t == NULL)
        return;
    op_buf_release(&t->scratch);
    free(t);
}

const te_operator_def_t op_tokenize_def = {
    .abi_version = 2, /* text records (v2) */
    .name = "tokenize",
    .kind = TE_OP_ONE_INPUT,
    .setup = tokenize_setup,
    .process_element = tokenize_process,
    .dispose = tokenize_dispose,
};
