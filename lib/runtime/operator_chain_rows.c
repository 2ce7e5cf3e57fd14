/*
 * operator_chain_rows — the schema side of the operator chain (ABI v3): each operator's
 * input schemas (the chain's inputs for the head, the previous operator's main output
 * after it), the output schemas operators declare in setup (api->set_output_schema:
 * main output and side outputs by tag), schemas parsed for them (api->parse_schema),
 * and the bridge for v1/v2 ("legacy") operators, which read and write text: a row they
 * receive is handed over as its tab-separated text (a one-string-field row as its
 * string, without a copy), a record they emit becomes a row of one string field
 * (`line`). A v3 operator's emitted rows are checked for the field count of the schema
 * they go out with (one byte compare on the main output's path). Also the projection's
 * two calls (ABI v5: declare_reads, output_fields_read).
 *
 * Threading: the chain's (task thread; setup on the deploying thread before the task
 * starts). No locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "runtime/operator_chain_internal.h"

static const te_schema_t *main_output(const te_operator_ctx_t *x)
{
    if (x->legacy)
        return schema_text_line();
    return x->out_schema ? x->out_schema : x->in_schema[0];
}

const te_schema_t *chain_api_input_schema(te_operator_ctx_t *x, int input)
{
    return input == 0 || input == 1 ? x->in_schema[input] : NULL;
}

/* The daemon takes what the scheduler derived (the TDD's unread_fields): a declaration
 * is only checked here. */
int chain_api_declare_reads(te_operator_ctx_t *x, int input, uint64_t fields, int pass_through)
{
    (void)fields;
    return x->in_setup && (input == 0 || input == 1) && x->in_schema[input] != NULL &&
                   (!pass_through || input == 0)
               ? 0
               : -1;
}

uint64_t chain_api_output_fields_read(te_operator_ctx_t *x) { return ~x->cfg->unread_fields; }

/* The side output `tag` as declared by any operator of the chain, or NULL. */
static const te_schema_t *declared_side(const te_operator_chain_t *c, const char *tag)
{
    for (size_t i = 0; i < c->n; i++)
        for (size_t k = 0; k < c->ctx[i].n_sides; k++)
            if (strcmp(c->ctx[i].sides[k].tag, tag) == 0)
                return c->ctx[i].sides[k].schema;
    return NULL;
}

int chain_api_set_output_schema(te_operator_ctx_t *x, const char *tag, const te_schema_t *s, char *err,
                                size_t errlen)
{
    te_error_t e;
    char a[256], b[256];
    if (!x->in_setup) {
        snprintf(err, errlen, "output schemas can only be declared in setup");
        return -1;
    }
    if (schema_validate(s, &e) != TE_OK) {
        snprintf(err, errlen, "bad output schema%s%s: %s", tag ? " of side output " : "", tag ? tag : "", e.msg);
        return -1;
    }
    if (tag != NULL && tag[0] == '\0')
        tag = NULL;
    if (tag != NULL) {
        const te_schema_t *other = declared_side(x->chain, tag);
        if (other != NULL && !te_schema_equal(other, s)) {
            snprintf(err, errlen,
                     "side output '%s' declared as %s, but another operator of the chain declares it "
                     "as %s",
                     tag, te_schema_format(s, a, sizeof(a)), te_schema_format(other, b, sizeof(b)));
            return -1;
        }
    }
    te_schema_t *copy = schema_dup(s);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (tag == NULL) {
        schema_free(x->out_schema);
        x->out_schema = copy;
        return 0;
    }
    if (schema_sides_put(&x->sides, &x->n_sides, tag, copy) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

const te_schema_t *chain_api_parse_schema(te_operator_ctx_t *x, const char *spec, char *err, size_t errlen)
{
    te_error_t e;
    te_schema_t *s = schema_parse(spec, &e);
    if (s == NULL) {
        snprintf(err, errlen, "%s", e.msg);
        return NULL;
    }
    te_schema_t **np = realloc(x->parsed, (x->n_parsed + 1) * sizeof(*np));
    if (np == NULL) {
        schema_free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    x->parsed = np;
    x->parsed[x->n_parsed++] = s;
    return s;
}

void chain_rows_before_setup(te_operator_chain_t *c, size_t i)
{
    te_operator_ctx_t *x = &c->ctx[i];
    const te_operator_def_t *def = x->cfg->def;
    x->in_setup = 1;
    x->legacy = def->abi_version < 3;
    if (i > 0) {
        x->in_schema[0] = main_output(&c->ctx[i - 1]);
    } else {
        for (int k = 0; k < 2; k++) {
            int has = def->kind == TE_OP_TWO_INPUT || (k == 0 && def->kind == TE_OP_ONE_INPUT);
            x->in_schema[k] = !has ? NULL : c->cfg.input_schemas[k] ? c->cfg.input_schemas[k] : schema_text_line();
        }
    }
    for (int k = 0; k < 2; k++) /* decided once here, not per record */
        x->in_text[k] = schema_is_text(x->in_schema[k]);
}

te_status_t chain_rows_after_setup(te_operator_chain_t *c, size_t i, te_error_t *err)
{
    te_operator_ctx_t *x = &c->ctx[i];
    x->in_setup = 0;
    const te_schema_t *out = main_output(x);
    if (out == NULL)
        return te_error_set(err, TE_EINVAL,
                            "operator '%s' (#%zu): a source must declare its output schema in setup "
                            "(api->set_output_schema)",
                            chain_op_name(x), i);
    x->out_fields = out->n_fields;
    return TE_OK;
}

void chain_rows_free(te_operator_ctx_t *x)
{
    schema_free(x->out_schema);
    x->out_schema = NULL;
    for (size_t k = 0; k < x->n_sides; k++) {
        free(x->sides[k].tag);
        schema_free(x->sides[k].schema);
    }
    free(x->sides);
    x->sides = NULL;
    x->n_sides = 0;
    for (size_t k = 0; k < x->n_parsed; k++)
        schema_free(x->parsed[k]);
    free(x->parsed);
    x->parsed = NULL;
    x->n_parsed = 0;
    free(x->text);
    x->text = NULL;
    te_row_builder_free(&x->wrap);
}

const te_record_t *chain_rows_to_text(te_operator_ctx_t *x, int input, const te_record_t *rec, te_record_t *tmp)
{
    int k = input == 1 ? 1 : 0;
    const te_schema_t *s = x->in_schema[k];
    if (x->in_text[k])
        return operator_chain_text_view(rec, tmp);
    tmp->timestamp = rec->timestamp;
    for (;;) {
        size_t need = te_row_format_tsv(rec, s, '\t', (char *)x->text, x->text_cap);
        if (need <= x->text_cap) {
            tmp->data = x->text ? x->text : (const uint8_t *)"";
            tmp->len = (uint32_t)need;
            return tmp;
        }
        size_t cap = x->text_cap ? x->text_cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *p = realloc(x->text, cap);
        if (p == NULL) {
            chain_fail_op(x->chain, x->index, "out of memory formatting a row as text");
            return NULL;
        }
        x->text = p;
        x->text_cap = cap;
    }
}

const te_record_t *chain_rows_emitted(te_operator_ctx_t *x, const char *tag, const te_record_t *rec,
                                      te_record_t *tmp)
{
    if (x->legacy) {
        te_row_builder_begin(&x->wrap, 1);
        te_row_set_str(&x->wrap, 0, rec->data, rec->len);
        if (te_row_builder_finish(&x->wrap, rec->timestamp, tmp) != 0) {
            chain_fail_op(x->chain, x->index, "out of memory wrapping a text record into a row");
            return NULL;
        }
        return tmp;
    }
    uint32_t want = x->out_fields;
    if (tag != NULL) {
        const te_schema_t *s = NULL;
        for (size_t k = 0; k < x->n_sides && s == NULL; k++)
            if (strcmp(x->sides[k].tag, tag) == 0)
                s = x->sides[k].schema;
        if (s == NULL) {
            char msg[200];
            snprintf(msg, sizeof(msg), "emitted to side output '%s', which it did not declare in setup", tag);
            chain_fail_op(x->chain, x->index, msg);
            return NULL;
        }
        want = s->n_fields;
    }
    uint32_t got = te_row_nfields(rec);
    if (rec->len < TE_ROW_HEADER || got != want || rec->len < TE_ROW_HEADER + 8u * want) {
        char msg[200];
        snprintf(msg, sizeof(msg), "emitted a malformed row (%u bytes, %u fields) for %s%s with %u fields",
                 rec->len, got, tag ? "side output " : "its output schema", tag ? tag : "", want);
        chain_fail_op(x->chain, x->index, msg);
        return NULL;
    }
    return rec;
}

/* ---- accessors ---- */

const te_schema_t *operator_chain_op_output_schema(const te_operator_chain_t *c, size_t i)
{
    return i < c->n ? main_output(&c->ctx[i]) : NULL;
}

const te_schema_t *operator_chain_output_schema(const te_operator_chain_t *c, const char *tag)
{
    if (tag == NULL || tag[0] == '\0')
        return c->n ? main_output(&c->ctx[c->n - 1]) : NULL;
    const te_schema_t *s = declared_side(c, tag);
    if (s != NULL)
        return s;
    for (size_t i = 0; i < c->n; i++)
        if (c->ctx[i].legacy)
            return schema_text_line();
    return NULL;
}

const char *operator_chain_op_side_tag(const te_operator_chain_t *c, size_t i, size_t k,
                                       const te_schema_t **schema)
{
    if (i >= c->n || k >= c->ctx[i].n_sides)
        return NULL;
    if (schema)
        *schema = c->ctx[i].sides[k].schema;
    return c->ctx[i].sides[k].tag;
}
