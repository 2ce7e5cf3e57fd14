/*
 * op_tokenize — the `tokenize` operator (a flatMap into words), the word count's
 * splitter.
 *
 * Rule (reproducible with coreutils: `tr -cs 'A-Za-z' '\n' | tr A-Z a-z`): a word is a
 * maximal run of ASCII letters A-Z a-z; every other byte separates words. Each word is
 * emitted as one row (word:string) (in lower case unless lowercase=false), with the
 * input's timestamp.
 *
 * Parameters: field (the string field to split, index or name; default: the only
 * field of a row of one string field), lowercase (default true), delimiter (accepted,
 * unused).
 *
 * Hot path: no allocation, no syscall: each word is copied (and lowered) into a
 * per-instance row builder.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdlib.h>
#include <string.h>

#include "operators/op_row.h"

typedef struct tokenize {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    int32_t field;
    int lowercase;
    char delim;
    te_row_builder_t row;
} tokenize_t;

static const te_field_t word_field = {"word", TE_TYPE_STRING, 0};
static const te_schema_t word_schema = {1, &word_field};

static void *tokenize_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"field", "lowercase", "delimiter", NULL};
    op_setup_t s = {api, ctx, "tokenize", err, errlen};
    uint32_t field = 0;
    int lower, given;
    char delim;
    const te_schema_t *in;
    if (op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_field_of(&s, in, "field", 0, &field, &given) != 0 || op_get_bool(&s, "lowercase", 1, &lower) != 0 ||
        op_get_delimiter(&s, "delimiter", '\t', &delim) != 0)
        return NULL;
    if (!given && in->n_fields != 1) {
        char sb[400];
        op_errorf(&s, "missing required parameter 'field' (the input has several fields: %s)",
                  op_schema_str(in, sb, sizeof(sb)));
        return NULL;
    }
    if (op_check_type(&s, in, "field", field, OP_T_TEXT, "a string") != 0 ||
        op_declare_schema(&s, NULL, &word_schema) != 0)
        return NULL;
    tokenize_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        op_errorf(&s, "out of memory");
        return NULL;
    }
    t->api = api;
    t->ctx = ctx;
    t->field = (int32_t)field;
    t->lowercase = lower;
    t->delim = delim;
    return t;
}

/* The bytes a word is made of: ASCII letters. */
static const uint8_t LETTER[256] = {['A' ... 'Z'] = 1, ['a' ... 'z'] = 1};

#define ONES 0x0101010101010101ULL

/* The high bit of each byte of the result: set where that byte of x is an ASCII letter
 * (LETTER's rule, eight bytes at once). | 0x20 folds A-Z onto a-z and every other byte
 * below 0x80 onto a non-letter; & 0x7f keeps the additions below from carrying into the
 * next byte; bytes of x with the high bit set are not letters. */
static inline uint64_t letters8(uint64_t x)
{
    uint64_t y = (x | ONES * 0x20) & ONES * 0x7f;
    uint64_t ge_a = y + ONES * (0x80 - 'a'), gt_z = y + ONES * (0x80 - 'z' - 1);
    return ge_a & ~gt_z & ~x & ONES * 0x80;
}

/* The end of the run of letters from i (p[i] is one). */
static inline uint32_t letters_end(const uint8_t *p, uint32_t i, uint32_t len)
{
    while (len - i >= 8) {
        uint64_t x;
        memcpy(&x, p + i, 8);
        uint64_t other = ~letters8(x) & ONES * 0x80;
        if (other)
            return i + ((uint32_t)__builtin_ctzll(other) >> 3);
        i += 8;
    }
    while (i < len && LETTER[p[i]])
        i++;
    return i;
}

static int tokenize_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    tokenize_t *t = self;
    (void)input;
    uint32_t len;
    const uint8_t *p = te_row_get_str(rec, (uint32_t)t->field, &len);
    if (p == NULL)
        return 0; /* null: no words */
    /* words are letters only: | 0x20 lowers them */
    uint64_t lower = t->lowercase ? ONES * 0x20 : 0;
    uint32_t i = 0;
    while (i < len) {
        while (i < len && !LETTER[p[i]])
            i++;
        if (i >= len)
            break;
        uint32_t w = i, n;
        i = letters_end(p, i, len);
        n = i - w;
        te_record_t word;
        uint8_t *d = te_row_begin_str1(&t->row, n);
        if (d == NULL || te_row_builder_finish(&t->row, rec->timestamp, &word) != 0) {
            t->api->fail(t->ctx, "operator 'tokenize': out of memory");
            return -1;
        }
        if (n <= 8 && len - w >= 8 && t->row.cap - t->row.len + n >= 8) {
            /* eight bytes at once; those past the word are past the row's end */
            uint64_t x;
            memcpy(&x, p + w, 8);
            x |= lower;
            memcpy(d, &x, 8);
        } else {
            for (const uint8_t *c = p + w; c < p + i; c++)
                *d++ = *c | (uint8_t)lower;
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
    te_row_builder_free(&t->row);
    free(t);
}

const te_operator_def_t op_tokenize_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "tokenize",
    .kind = TE_OP_ONE_INPUT,
    .setup = tokenize_setup,
    .process_element = tokenize_process,
    .dispose = tokenize_dispose,
};
