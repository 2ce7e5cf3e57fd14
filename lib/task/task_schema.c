/*
 * task_schema — a deployment's schemas, derived and checked against the TDD (see
 * task_schema.h).
 *
 * Threading: the control thread; pure apart from the operators' setup / dispose.
 */
#include "task/task_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/schema.h"
#include "runtime/operator_chain.h"

te_schema_t *task_schema_from_proto(const Te__Schema *ps, te_error_t *err)
{
    if (ps->n_fields > TE_ROW_MAX_FIELDS) {
        te_error_set(err, TE_EINVAL, "%zu fields (a row has at most %u)", ps->n_fields, TE_ROW_MAX_FIELDS);
        return NULL;
    }
    te_field_t f[TE_ROW_MAX_FIELDS];
    for (size_t i = 0; i < ps->n_fields; i++)
        f[i] = (te_field_t){ps->fields[i]->name ? ps->fields[i]->name : "", (te_type_t)ps->fields[i]->type,
                            ps->fields[i]->nullable};
    te_schema_t tmp = {(uint32_t)ps->n_fields, f};
    if (schema_validate(&tmp, err) != TE_OK)
        return NULL;
    te_schema_t *s = schema_dup(&tmp);
    if (s == NULL)
        te_error_set(err, TE_ENOMEM, "out of memory");
    return s;
}

void task_schemas_release(te_task_schemas_t *s)
{
    schema_free(s->input[0]);
    schema_free(s->input[1]);
    free(s->keys);
    memset(s, 0, sizeof(*s));
}

/* The schema of each input: every gate of an input must deliver the same. */
static te_status_t input_schemas(const Te__TaskDeploymentDescriptor *tdd, te_task_schemas_t *out, te_error_t *err)
{
    long first[2] = {-1, -1};
    char a[512], b[512];
    for (size_t g = 0; g < tdd->n_input_gates; g++) {
        const Te__InputGateDeploymentDescriptor *gd = tdd->input_gates[g];
        uint32_t in = gd->input_index == 1 ? 1 : 0;
        te_schema_t *s = gd->schema ? task_schema_from_proto(gd->schema, err) : schema_dup(schema_text_line());
        if (s == NULL) {
            if (gd->schema)
                te_error_prefix(err, "input_gates[%zu].schema", g);
            else
                te_error_set(err, TE_ENOMEM, "out of memory");
            return err ? err->code : TE_EINVAL;
        }
        if (first[in] < 0) {
            out->input[in] = s;
            first[in] = (long)g;
            continue;
        }
        int same = te_schema_equal(s, out->input[in]);
        if (!same)
            te_error_set(err, TE_EINVAL,
                         "input_gates[%zu].schema %s differs from input_gates[%ld].schema %s: the "
                         "gates of input %u must deliver rows of one schema",
                         g, te_schema_format(s, a, sizeof(a)), first[in],
                         te_schema_format(out->input[in], b, sizeof(b)), in);
        schema_free(s);
        if (!same)
            return TE_EINVAL;
    }
    return TE_OK;
}

/* `what` (the scheduler's, from the TDD) must equal `got` (this daemon's derivation). */
static te_status_t compare(const Te__Schema *want, const te_schema_t *got, const char *what, te_error_t *err)
{
    te_error_t e;
    char a[512], b[512];
    te_schema_t *w = task_schema_from_proto(want, &e);
    if (w == NULL)
        return te_error_set(err, TE_EINVAL, "%s: %s", what, e.msg);
    int same = te_schema_equal(w, got);
    if (!same) {
        uint32_t i = 0;
        while (i < w->n_fields && i < got->n_fields && w->fields[i].type == got->fields[i].type &&
               !w->fields[i].nullable == !got->fields[i].nullable &&
               strcmp(w->fields[i].name, got->fields[i].name) == 0)
            i++;
        te_error_set(err, TE_EINVAL,
                     "%s: the scheduler derived the schema %s, this daemon derives %s from the input schemas "
                     "(they differ at field %u)",
                     what, te_schema_format(w, a, sizeof(a)), te_schema_format(got, b, sizeof(b)), i);
    }
    schema_free(w);
    return same ? TE_OK : TE_EINVAL;
}

static te_status_t check_operators(const Te__TaskInformation *ti, te_operator_chain_t *c, te_error_t *err)
{
    char what[256];
    for (size_t i = 0; i < ti->n_chain; i++) {
        const Te__OperatorConfig *oc = ti->chain[i];
        if (oc->output_schema != NULL) {
            snprintf(what, sizeof(what), "operator '%s' (#%zu) output", oc->name ? oc->name : "?", i);
            if (compare(oc->output_schema, operator_chain_op_output_schema(c, i), what, err) != TE_OK)
                return TE_EINVAL;
        }
        for (size_t k = 0; k < oc->n_side_outputs; k++) {
            const Te__SideOutputSchema *so = oc->side_outputs[k];
            const char *tag = so->tag ? so->tag : "";
            const te_schema_t *got = operator_chain_output_schema(c, tag);
            snprintf(what, sizeof(what), "operator '%s' (#%zu) side output '%s'", oc->name ? oc->name : "?", i,
                     tag);
            if (got == NULL)
                return te_error_set(err, TE_EINVAL, "%s: no operator of the chain declares it", what);
            if (so->schema != NULL && compare(so->schema, got, what, err) != TE_OK)
                return TE_EINVAL;
        }
    }
    return TE_OK;
}

/* The typed key of partition p (HASH over a schema that is not text). */
static te_status_t partition_key(const Te__ResultPartitionDeploymentDescriptor *pd, size_t p, const te_schema_t *s,
                                 te_row_key_t *key, te_error_t *err)
{
    char a[512];
    memset(key, 0, sizeof(*key));
    if (pd->partitioner != TE__PARTITIONER__HASH)
        return TE_OK;
    size_t n = pd->n_key_fields ? pd->n_key_fields : 1;
    if (schema_is_text(s) && pd->n_key_fields == 0)
        return TE_OK; /* text: field key_field of the line */
    if (n > TE_ROW_KEY_MAX_FIELDS)
        return te_error_set(err, TE_EINVAL, "produced_partitions[%zu]: %zu key fields (at most %u)", p, n,
                            TE_ROW_KEY_MAX_FIELDS);
    for (size_t k = 0; k < n; k++) {
        int64_t f = pd->n_key_fields ? (int64_t)pd->key_fields[k] : (int64_t)pd->key_field;
        if (f < 0 || f >= (int64_t)s->n_fields)
            return te_error_set(err, TE_EINVAL, "produced_partitions[%zu]: key field %lld is not in the schema %s",
                                p, (long long)f, te_schema_format(s, a, sizeof(a)));
        key->idx[k] = (uint32_t)f;
        key->type[k] = s->fields[f].type;
    }
    key->n = (uint32_t)n;
    return TE_OK;
}

static te_status_t check_partitions(const Te__TaskDeploymentDescriptor *tdd, te_operator_chain_t *c,
                                    te_task_schemas_t *out, te_error_t *err)
{
    char what[256];
    out->n_keys = tdd->n_produced_partitions;
    out->keys = calloc(out->n_keys ? out->n_keys : 1, sizeof(*out->keys));
    if (out->keys == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t p = 0; p < tdd->n_produced_partitions; p++) {
        const Te__ResultPartitionDeploymentDescriptor *pd = tdd->produced_partitions[p];
        const char *tag = pd->side_output_tag && pd->side_output_tag[0] ? pd->side_output_tag : NULL;
        const te_schema_t *s = operator_chain_output_schema(c, tag);
        if (s == NULL)
            return te_error_set(
                err, TE_EINVAL,
                "produced_partitions[%zu] carries side output '%s', which no operator of the chain "
                "declares",
                p, tag);
        snprintf(what, sizeof(what), "produced_partitions[%zu]%s%s%s", p, tag ? " (side output '" : "",
                 tag ? tag : "", tag ? "')" : "");
        if (pd->schema != NULL && compare(pd->schema, s, what, err) != TE_OK)
            return TE_EINVAL;
        if (partition_key(pd, p, s, &out->keys[p], err) != TE_OK)
            return TE_EINVAL;
    }
    return TE_OK;
}

te_status_t task_schemas_derive(const Te__TaskDeploymentDescriptor *tdd, const te_chain_op_config_t *chain,
                                size_t n_chain, te_task_schemas_t *out, te_error_t *err)
{
    const Te__TaskInformation *ti = tdd->task_information;
    memset(out, 0, sizeof(*out));
    te_operator_chain_t *c = NULL;
    te_status_t rc = input_schemas(tdd, out, err);
    if (rc != TE_OK)
        goto cleanup;
    const te_schema_t *in[2] = {out->input[0], out->input[1]};
    uint32_t maxp = ti->max_parallelism ? ti->max_parallelism : 128;
    c = stream_task_check_chain((te_invokable_t)ti->invokable, chain, n_chain, tdd->subtask_index,
                                ti->number_of_subtasks, maxp, in, err);
    if (c == NULL) {
        rc = err ? err->code : TE_EINVAL;
        goto cleanup;
    }
    if ((rc = check_operators(ti, c, err)) != TE_OK || (rc = check_partitions(tdd, c, out, err)) != TE_OK)
        goto cleanup;
cleanup:
    operator_chain_free(c);
    if (rc != TE_OK)
        task_schemas_release(out);
    return rc;
}
