/*
 * job_field_use — the backward walk of job_field_use.h over a job graph whose schemas
 * and read declarations job_schema derived.
 *
 * Threading: pure; one derivation per call, nothing shared.
 */
#include "jobmaster/job_field_use.h"

#include <stdlib.h>
#include <string.h>

#define ALL_FIELDS (~0ULL)

struct te_job_field_use {
    const te_job_graph_t *g;
    const te_job_schemas_t *s;
    size_t *base;    /* per vertex: its first operator's index in need */
    uint64_t *need;  /* per operator: the fields of its main output some consumer reads */
    uint8_t *sides;  /* per operator: a side output of it is consumed */
    uint64_t *input; /* per vertex, per input (2): what its head needs of that input */
};

/* What operator i of vertex v needs of input k, given its output's need. */
static uint64_t op_needs(const te_job_field_use_t *u, size_t v, size_t i, int k)
{
    uint64_t fields;
    int pass;
    size_t o = u->base[v] + i;
    if (u->sides[o] || !job_schemas_op_reads(u->s, v, i, k, &fields, &pass))
        return ALL_FIELDS;
    return fields | (pass ? u->need[o] : 0);
}

/* What edge e needs of its producer's output: its consumer's input and its hash key. */
static uint64_t edge_needs(const te_job_field_use_t *u, size_t e)
{
    const te_job_edge_t *ed = job_graph_edge(u->g, e);
    uint64_t n = u->input[2 * ed->to + ed->input];
    if (ed->partitioner == TE__PARTITIONER__HASH) {
        const te_row_key_t *key = job_schemas_edge_key(u->s, e);
        if (key->n == 0) /* text keyed by a field of the line */
            return ALL_FIELDS;
        for (uint32_t k = 0; k < key->n; k++)
            n |= key->idx[k] < 64 ? 1ULL << key->idx[k] : ALL_FIELDS;
    }
    return n;
}

/* Marks the operators of vertex v whose side output `tag` an edge consumes (every
 * operator when none declares it: text operators emit any tag). */
static void mark_side(te_job_field_use_t *u, size_t v, const char *tag)
{
    size_t n = job_graph_vertex(u->g, v)->chain_len, hits = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0;; k++) {
            const char *t = job_schemas_op_side(u->s, v, i, k, NULL);
            if (t == NULL)
                break;
            if (strcmp(t, tag) == 0) {
                u->sides[u->base[v] + i] = 1;
                hits++;
            }
        }
    for (size_t i = 0; hits == 0 && i < n; i++)
        u->sides[u->base[v] + i] = 1;
}

te_job_field_use_t *job_field_use_derive(const te_job_graph_t *g, const te_job_schemas_t *s)
{
    size_t nv = job_graph_n_vertices(g), ne = job_graph_n_edges(g), n_ops = 0;
    te_job_field_use_t *u = calloc(1, sizeof(*u));
    if (u == NULL || (u->base = calloc(nv ? nv : 1, sizeof(*u->base))) == NULL ||
        (u->input = calloc(2 * (nv ? nv : 1), sizeof(*u->input))) == NULL)
        goto nomem;
    u->g = g;
    u->s = s;
    for (size_t v = 0; v < nv; v++) {
        u->base[v] = n_ops;
        n_ops += job_graph_vertex(g, v)->chain_len;
    }
    if ((u->need = calloc(n_ops ? n_ops : 1, sizeof(*u->need))) == NULL ||
        (u->sides = calloc(n_ops ? n_ops : 1, sizeof(*u->sides))) == NULL)
        goto nomem;
    for (size_t e = 0; e < ne; e++) {
        const te_job_edge_t *ed = job_graph_edge(g, e);
        if (ed->side_output[0] != '\0')
            mark_side(u, ed->from, ed->side_output);
    }
    const size_t *topo = job_graph_topo_order(g);
    for (size_t t = nv; t-- > 0;) { /* consumers before their producers */
        size_t v = topo[t], n = job_graph_vertex(g, v)->chain_len;
        if (n == 0)
            continue;
        for (size_t e = 0; e < ne; e++) {
            const te_job_edge_t *ed = job_graph_edge(g, e);
            if (ed->from == v && ed->side_output[0] == '\0')
                u->need[u->base[v] + n - 1] |= edge_needs(u, e);
        }
        for (size_t i = n; i-- > 1;)
            u->need[u->base[v] + i - 1] |= op_needs(u, v, i, 0);
        u->input[2 * v] = op_needs(u, v, 0, 0);
        u->input[2 * v + 1] = op_needs(u, v, 0, 1);
    }
    return u;
nomem:
    job_field_use_free(u);
    return NULL;
}

void job_field_use_free(te_job_field_use_t *u)
{
    if (u == NULL)
        return;
    free(u->base);
    free(u->need);
    free(u->sides);
    free(u->input);
    free(u);
}

uint64_t job_field_use_unread(const te_job_field_use_t *u, size_t v, size_t i)
{
    if (v >= job_graph_n_vertices(u->g) || i >= job_graph_vertex(u->g, v)->chain_len)
        return 0;
    const te_schema_t *out = job_schemas_op_output(u->s, v, i);
    uint32_t n = out ? out->n_fields : 0;
    uint64_t present = n >= 64 ? ALL_FIELDS : (1ULL << n) - 1;
    return ~u->need[u->base[v] + i] & present;
}
