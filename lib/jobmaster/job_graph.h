/*
 * job_graph — the job description tectl submits (Flink's JobGraph): vertices, each a
 * chain of operators run by `parallelism` subtasks, connected by edges that say how
 * records are partitioned. Parsed from JSON with jansson and validated; every error
 * names the JSON path of the offending value.
 *
 * Job JSON format:
 *
 *   {
 *     "name": "wordcount",                                  required, non-empty string
 *     "max_parallelism": 128,                               optional, default 128 (key groups)
 *     "config": { "execution.buffer-timeout": "100ms" },    optional, job configuration map
 *     "vertices": [                                         required, non-empty array
 *       { "id": "source",   "parallelism": 1,
 *         "chain": [ { "op": "file_lines", "path": "/usr/share/common-licenses/GPL-3" } ] },
 *       { "id": "tokenize", "parallelism": 2, "chain": [ { "op": "tokenize" } ] },
 *       { "id": "count",    "parallelism": 2,
 *         "chain": [ { "op": "keyed_count", "emit": "final" },
 *                    { "op": "file_sink", "path": "/tmp/wc/part-{subtask}.txt" } ] }
 *     ],
 *     "edges": [                                            optional, default []
 *       { "from": "source",   "to": "tokenize", "partitioner": "rebalance" },
 *       { "from": "tokenize", "to": "count",    "partitioner": "hash", "key_field": 0 }
 *     ]
 *   }
 *
 * Vertices: "id" (unique, non-empty string), "parallelism" (integer 1..max_parallelism),
 *   "chain" (non-empty array of operators, head first).
 * Chain entries: "op" (operator name, required) and "uid" (stable operator id for
 *   state, optional) are reserved; every other key is an operator parameter whose value
 *   must be a string, number or bool (converted to text: 3, 2.5, true) or an array of
 *   them (passed as its compact JSON text: ["a:int64","b:string"]). Other nested values
 *   are an error. Operator names and parameters are checked by job_schema (the
 *   operators' setup) when a plan is made, and again by the daemon.
 * Config values: string, number or bool, converted to text as parameters are.
 * Edges: "from", "to" (vertex ids, required), "partitioner" forward | rebalance |
 *   rescale | hash | broadcast (default rebalance; forward requires equal parallelism
 *   on both ends), "key_field" (hash only; a field index >= 0 or a field name, default
 *   0) or "key_fields" (hash only; an array of 1 to 8 indexes or names: a key of
 *   several fields), "key_delimiter" (hash only; one character, default "\t": the
 *   separator of text fields when the edge carries text), "input" (0 or 1: which input of a
 *   two-input vertex the edge feeds; default 0), "side_output" (a tag: the edge carries
 *   the records the producer's operators emit to that side output — e.g. a filter's
 *   rejects — instead of its main output).
 * The task type follows from the edges: no incoming edge = source task; incoming edges
 *   all on input 0 = one-input task; inputs 0 and 1 = two-input task.
 * Rejected: unknown keys (at any level), missing fields, wrong types, duplicate vertex
 *   ids, edges naming unknown vertices, input 1 without input 0, cycles.
 *
 * Cost: parsing, validation and the topological order are O((V + E) log V) for V
 * vertices and E edges (vertex ids are hashed; Kahn's algorithm over a heap).
 *
 * Threading: pure; a parsed graph is immutable and may be read from any thread.
 */
#ifndef TE_JOB_GRAPH_H
#define TE_JOB_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "tdd.pb-c.h"
#include "te/row.h"

#define TE_JOB_DEFAULT_MAX_PARALLELISM 128

typedef struct te_job_kv {
    char *key;
    char *value;
} te_job_kv_t;

typedef struct te_job_operator {
    char *name;          /* "op" */
    char *uid;           /* NULL when absent */
    te_job_kv_t *params; /* in JSON order */
    size_t n_params;
} te_job_operator_t;

typedef struct te_job_vertex {
    char *id;
    uint32_t parallelism;
    te_job_operator_t *chain; /* head first */
    size_t chain_len;
    Te__Invokable invokable; /* derived from the incoming edges */
} te_job_vertex_t;

#define TE_JOB_MAX_KEY_FIELDS 8

typedef struct te_job_edge {
    size_t from, to;                          /* vertex indexes */
    Te__Partitioner partitioner;              /* the TDD's enum (FORWARD .. BROADCAST) */
    int key_field;                            /* key_index[0] when it is an index, else 0 */
    uint32_t n_keys;                          /* hash: 1..TE_JOB_MAX_KEY_FIELDS */
    int key_index[TE_JOB_MAX_KEY_FIELDS];     /* -1: given by name */
    char key_name[TE_JOB_MAX_KEY_FIELDS][64]; /* the field name when key_index is -1 */
    char key_delimiter;
    uint32_t input;       /* 0 or 1 */
    char side_output[64]; /* "" = the producer's main output, else the side-output tag it carries */
} te_job_edge_t;

/* Opaque; read it through the accessors. Vertices and edges keep their JSON order. */
typedef struct te_job_graph te_job_graph_t;

/* Parses and validates. NULL + err (EINVAL, message naming the JSON path; EIO for an
 * unreadable file, naming the file) on failure. */
te_job_graph_t *job_graph_parse_file(const char *path, te_error_t *err);
te_job_graph_t *job_graph_parse_string(const char *json, te_error_t *err);
/* From an already parsed document (borrowed). */
struct json_t;
te_job_graph_t *job_graph_parse_json(const struct json_t *root, te_error_t *err);
void job_graph_free(te_job_graph_t *g);

const char *job_graph_name(const te_job_graph_t *g);
uint32_t job_graph_max_parallelism(const te_job_graph_t *g);
/* The job configuration map (borrowed, n entries). */
const te_job_kv_t *job_graph_config(const te_job_graph_t *g, size_t *n);

size_t job_graph_n_vertices(const te_job_graph_t *g);
const te_job_vertex_t *job_graph_vertex(const te_job_graph_t *g, size_t i);
/* Index of the vertex with this id, or -1 (a hash lookup). */
long job_graph_find_vertex(const te_job_graph_t *g, const char *id);
/* Vertex indexes in topological order (producers before consumers; among vertices
 * ready at the same time, the lower index first), n_vertices long. */
const size_t *job_graph_topo_order(const te_job_graph_t *g);
/* The edges leaving (out = 1) or entering (out = 0) vertex v, by ascending edge index
 * (*n of them; borrowed). */
const size_t *job_graph_vertex_edges(const te_job_graph_t *g, size_t v, int out, size_t *n);
/* The largest vertex parallelism = slots the job needs with slot sharing. */
uint32_t job_graph_max_vertex_parallelism(const te_job_graph_t *g);

size_t job_graph_n_edges(const te_job_graph_t *g);
const te_job_edge_t *job_graph_edge(const te_job_graph_t *g, size_t i);

#endif
