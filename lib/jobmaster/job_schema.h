/*
 * job_schema — derives the schema of every edge of a job graph before anything is
 * deployed (proto/ROWS.md): vertex by vertex in topological order, the schemas of its
 * inputs (what its producers emit on the edges' main or side outputs; all edges into
 * one input must agree), then each operator of its chain in turn: the operator's own
 * setup runs against a planning implementation of the operator API (parameters, the
 * job configuration, its input schemas; no timers, state or files), declares its
 * output schemas, and is disposed. A v1/v2 operator, and a `plugin` (not loaded here),
 * emits text (one string field `line`) — a plugin whose `schema` parameter declares
 * its output emits that. Hash keys given by field name are resolved; every key field
 * must lie inside its edge's schema.
 *
 * Every problem is an INVALID_CHAIN error naming the vertex, the operator (name and
 * chain position) or the edge, the field and the schema, e.g.
 *   INVALID_CHAIN: vertex 'count' operator 'tumbling_window' (#0): operator
 *   'tumbling_window': parameter 'key_field' = 'bidder2': no field of that name in the
 *   input schema (kind:string, auction:int64, ...)
 *
 * Threading: pure apart from the operators' setup / dispose; the result is immutable.
 */
#ifndef TE_JOB_SCHEMA_H
#define TE_JOB_SCHEMA_H

#include <stddef.h>

#include "common/te_status.h"
#include "jobmaster/job_graph.h"
#include "te/row.h"

typedef struct te_job_schemas te_job_schemas_t;

/* NULL with err (EINVAL, the message starting "INVALID_CHAIN: ") on a bad job. */
te_job_schemas_t *job_schemas_derive(const te_job_graph_t *g, te_error_t *err);
void job_schemas_free(te_job_schemas_t *s);

/* Operator i of vertex v: its main output, its declared side outputs (k-th tag and
 * schema; NULL past the last). Borrowed from s. */
const te_schema_t *job_schemas_op_output(const te_job_schemas_t *s, size_t v, size_t i);
const char *job_schemas_op_side(const te_job_schemas_t *s, size_t v, size_t i, size_t k,
                                const te_schema_t **schema);
/* What operator i of vertex v declared it reads of input `input` (api->declare_reads):
 * 1 with the fields (bit i = field i) and whether its main output passes input 0's
 * rows through; 0 when it declared nothing (it reads every field). */
int job_schemas_op_reads(const te_job_schemas_t *s, size_t v, size_t i, int input, uint64_t *fields,
                         int *pass_through);
/* The rows on edge e and its resolved hash key (n = 0: not hash, or text keyed by
 * key_field). */
const te_schema_t *job_schemas_edge(const te_job_schemas_t *s, size_t e);
const te_row_key_t *job_schemas_edge_key(const te_job_schemas_t *s, size_t e);

#endif
