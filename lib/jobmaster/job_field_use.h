/*
 * job_field_use — which fields of each operator's main output no consumer reads (a
 * projection the scheduler pushes into the sources: proto/ROWS.md, "Unread fields").
 *
 * Consumers are walked from the sinks back to the sources (reverse topological order):
 * the fields an operator's main output must carry are those its chained successor
 * needs of its input plus, for the chain's last operator, what every edge of the main
 * output needs (the consumer head's input and the edge's hash key). An operator needs
 * of an input what it declared with api->declare_reads, plus — when it passes input 0's
 * rows through — what its own output must carry; one that declared nothing, or whose
 * side outputs are consumed, needs every field. An output nobody consumes needs none.
 *
 * Threading: pure; the result is immutable.
 */
#ifndef TE_JOB_FIELD_USE_H
#define TE_JOB_FIELD_USE_H

#include <stddef.h>
#include <stdint.h>

#include "jobmaster/job_graph.h"
#include "jobmaster/job_schema.h"

typedef struct te_job_field_use te_job_field_use_t;

/* NULL when out of memory. s must be the schemas derived for g. */
te_job_field_use_t *job_field_use_derive(const te_job_graph_t *g, const te_job_schemas_t *s);
void job_field_use_free(te_job_field_use_t *u);

/* The fields of operator i of vertex v's main output that no consumer reads: bit k =
 * field k (only fields the schema has). 0 = every field is read. */
uint64_t job_field_use_unread(const te_job_field_use_t *u, size_t v, size_t i);

#endif
