/*
 * job_graph — parses and validates the job JSON (format in job_graph.h) into an
 * immutable graph of vertices and edges, derives each vertex's task type and a
 * topological order, and rejects everything else with an error naming the JSON path.
 *
 * Threading: pure functions; no shared state, no locks. jansson values are used only
 * inside one parse call (the root is new, everything under it borrowed).
 */
#include "jobmaster/job_graph.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/proto_enum.h"

#define MAX_PARALLELISM_LIMIT 32768 /* Flink's upper bound for max parallelism (2^15) */

struct te_job_graph {
    char *name;
    uint32_t max_parallelism;
    te_job_kv_t *config;
    size_t n_config;
    te_job_vertex_t *vertices;
    size_t n_vertices;
    te_job_edge_t *edges;
    size_t n_edges;
    size_t *topo;
    size_t *id_index;    /* open addressing over vertex ids: vertex index + 1, 0 = empty */
    size_t id_index_cap; /* a power of two >= 2 * vertices */
    size_t *adj;         /* per vertex: its out edges, then its in edges (edge order) */
    size_t *adj_start;   /* 2 * n_vertices + 1 offsets into adj: out of v at 2v, in of v at 2v+1 */
};

/* ---- helpers ------------------------------------------------------------------ */

/* A short description of a JSON value for "got ..." in messages. */
static const char *describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return json_array_size(v) ? "an array" : "an empty array";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    default: {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        if (s == NULL)
            return "a value";
        snprintf(buf, n, "%s", s);
        if (strlen(s) >= n && n > 4)
            memcpy(buf + n - 4, "...", 4);
        free(s);
        return buf;
    }
    }
}

static te_status_t type_error(te_error_t *err, const char *path, const char *expected, const json_t *got)
{
    char buf[64];
    return te_error_set(err, TE_EINVAL, "%s: expected %s, got %s", path, expected,
                        describe(got, buf, sizeof(buf)));
}

static int scalar_ok(const json_t *v) { return json_is_string(v) || json_is_number(v) || json_is_boolean(v); }

/* A parameter value: a scalar, or an array of scalars (its compact JSON text). */
static int param_ok(const json_t *v)
{
    if (scalar_ok(v))
        return 1;
    if (!json_is_array(v))
        return 0;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (!scalar_ok(json_array_get(v, i)))
            return 0;
    return 1;
}

/* Converts a string / number / bool to newly allocated text, an array to its compact
 * JSON text; NULL for other types. */
static char *scalar_to_text(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_ARRAY: return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    case JSON_STRING: return strdup(json_string_value(v));
    case JSON_INTEGER:
    case JSON_REAL: return json_dumps(v, JSON_ENCODE_ANY);
    case JSON_TRUE: return strdup("true");
    case JSON_FALSE: return strdup("false");
    default: return NULL;
    }
}

/* Every key of obj must be in `allowed` (NULL-terminated). */
static te_status_t check_keys(const json_t *obj, const char *path, const char *const *allowed, te_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        int found = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, key) == 0)
                found = 1;
        if (!found) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof(list) - strlen(list) - 1);
                if (a[1])
                    strncat(list, ", ", sizeof(list) - strlen(list) - 1);
            }
            return te_error_set(err, TE_EINVAL, "%s%s%s: unknown key (expected one of %s)", path,
                                path[0] ? "." : "", key, list);
        }
    }
    return TE_OK;
}

/* Reads a required non-empty string member. */
static te_status_t get_string(const json_t *obj, const char *path, const char *key, int required, const char **out,
                              te_error_t *err)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", key);
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL) {
        if (required)
            return te_error_set(err, TE_EINVAL, "%s: missing (expected a non-empty string)", p);
        return TE_OK;
    }
    if (!json_is_string(v) || json_string_length(v) == 0)
        return type_error(err, p, "a non-empty string", v);
    *out = json_string_value(v);
    return TE_OK;
}

/* Reads an optional integer member in [lo, hi]; *out untouched when absent. */
static te_status_t get_int(const json_t *obj, const char *path, const char *key, int required, long long lo,
                           long long hi, const char *expected, long long *out, te_error_t *err)
{
    char p[256];
    snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", key);
    json_t *v = json_object_get(obj, key);
    if (v == NULL) {
        if (required)
            return te_error_set(err, TE_EINVAL, "%s: missing (expected %s)", p, expected);
        return TE_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return type_error(err, p, expected, v);
    *out = json_integer_value(v);
    return TE_OK;
}

/* Fills kv[] from every member of obj except the reserved keys. */
static te_status_t read_kvs(const json_t *obj, const char *path, const char *const *reserved, te_job_kv_t **out,
                            size_t *n_out, te_error_t *err)
{
    size_t n = json_object_size(obj), i = 0;
    te_job_kv_t *kv = calloc(n ? n : 1, sizeof(*kv));
    if (kv == NULL)
        return te_error_set(err, TE_ENOMEM, "%s: out of memory", path);
    *out = kv;
    *n_out = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        int skip = 0;
        for (const char *const *r = reserved; r && *r; r++)
            if (strcmp(*r, key) == 0)
                skip = 1;
        if (skip)
            continue;
        if (!param_ok(val)) {
            char p[256];
            snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", key);
            return type_error(err, p, "a string, number, bool or an array of them", val);
        }
        kv[i].key = strdup(key);
        kv[i].value = scalar_to_text(val);
        *n_out = ++i;
        if (kv[i - 1].key == NULL || kv[i - 1].value == NULL)
            return te_error_set(err, TE_ENOMEM, "%s: out of memory", path);
    }
    return TE_OK;
}

static void kvs_free(te_job_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void job_graph_free(te_job_graph_t *g)
{
    if (g == NULL)
        return;
    free(g->name);
    kvs_free(g->config, g->n_config);
    for (size_t v = 0; v < g->n_vertices; v++) {
        te_job_vertex_t *vx = &g->vertices[v];
        free(vx->id);
        for (size_t o = 0; o < vx->chain_len; o++) {
            free(vx->chain[o].name);
            free(vx->chain[o].uid);
            kvs_free(vx->chain[o].params, vx->chain[o].n_params);
        }
        free(vx->chain);
    }
    free(g->vertices);
    free(g->edges);
    free(g->topo);
    free(g->id_index);
    free(g->adj);
    free(g->adj_start);
    free(g);
}

/* ---- the vertex id index ------------------------------------------------------ */

static size_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

/* The slot holding id, or the empty slot where it would go. */
static size_t id_slot(const te_job_graph_t *g, const char *id)
{
    size_t mask = g->id_index_cap - 1, i = id_hash(id) & mask;
    while (g->id_index[i] != 0 && strcmp(g->vertices[g->id_index[i] - 1].id, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static te_status_t id_index_init(te_job_graph_t *g, size_t n, te_error_t *err)
{
    g->id_index_cap = 16;
    while (g->id_index_cap < 2 * n)
        g->id_index_cap *= 2;
    g->id_index = calloc(g->id_index_cap, sizeof(*g->id_index));
    return g->id_index ? TE_OK : te_error_set(err, TE_ENOMEM, "out of memory");
}

/* ---- vertices and edges ------------------------------------------------------- */

static te_status_t parse_operator(const json_t *j, const char *path, te_job_operator_t *op, te_error_t *err)
{
    static const char *const reserved[] = {"op", "uid", NULL};
    if (!json_is_object(j))
        return type_error(err, path, "an object with \"op\"", j);
    const char *name, *uid;
    te_status_t st;
    if ((st = get_string(j, path, "op", 1, &name, err)) != TE_OK ||
        (st = get_string(j, path, "uid", 0, &uid, err)) != TE_OK)
        return st;
    op->name = strdup(name);
    op->uid = uid ? strdup(uid) : NULL;
    if (op->name == NULL || (uid && op->uid == NULL))
        return te_error_set(err, TE_ENOMEM, "%s: out of memory", path);
    return read_kvs(j, path, reserved, &op->params, &op->n_params, err);
}

static te_status_t parse_vertex(te_job_graph_t *g, const json_t *j, size_t idx, te_error_t *err)
{
    static const char *const allowed[] = {"id", "parallelism", "chain", NULL};
    char path[64];
    snprintf(path, sizeof(path), "vertices[%zu]", idx);
    te_job_vertex_t *v = &g->vertices[idx];
    if (!json_is_object(j))
        return type_error(err, path, "an object", j);
    te_status_t st = check_keys(j, path, allowed, err);
    if (st != TE_OK)
        return st;
    const char *id;
    if ((st = get_string(j, path, "id", 1, &id, err)) != TE_OK)
        return st;
    size_t slot = id_slot(g, id);
    if (g->id_index[slot] != 0)
        return te_error_set(err, TE_EINVAL, "%s.id: duplicate vertex id \"%s\" (also vertices[%zu])", path, id,
                            g->id_index[slot] - 1);
    if ((v->id = strdup(id)) == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    g->id_index[slot] = idx + 1;

    long long par = 0;
    char expected[96];
    snprintf(expected, sizeof(expected), "a positive integer (at most max_parallelism %u)", g->max_parallelism);
    if ((st = get_int(j, path, "parallelism", 1, 1, g->max_parallelism, expected, &par, err)) != TE_OK)
        return st;
    v->parallelism = (uint32_t)par;

    json_t *chain = json_object_get(j, "chain");
    char cpath[96];
    snprintf(cpath, sizeof(cpath), "%s.chain", path);
    if (chain == NULL)
        return te_error_set(err, TE_EINVAL, "%s: missing (expected a non-empty array of operators)", cpath);
    if (!json_is_array(chain) || json_array_size(chain) == 0)
        return type_error(err, cpath, "a non-empty array of operators", chain);
    v->chain = calloc(json_array_size(chain), sizeof(*v->chain));
    if (v->chain == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    for (size_t o = 0; o < json_array_size(chain); o++) {
        char opath[128];
        snprintf(opath, sizeof(opath), "%s[%zu]", cpath, o);
        v->chain_len = o + 1;
        if ((st = parse_operator(json_array_get(chain, o), opath, &v->chain[o], err)) != TE_OK)
            return st;
    }
    return TE_OK;
}

/* One key field: an index >= 0 or a field name. */
static te_status_t parse_key(const json_t *v, const char *path, te_job_edge_t *e, size_t k, te_error_t *err)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= TE_ROW_MAX_FIELDS) {
        e->key_index[k] = (int)json_integer_value(v);
        return TE_OK;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < sizeof(e->key_name[k])) {
        e->key_index[k] = -1;
        snprintf(e->key_name[k], sizeof(e->key_name[k]), "%s", json_string_value(v));
        return TE_OK;
    }
    return type_error(err, path, "a field index (0-48) or a field name", v);
}

/* key_field (one) or key_fields (an array of 1 to TE_JOB_MAX_KEY_FIELDS). */
static te_status_t parse_keys(const json_t *j, const char *path, te_job_edge_t *e, te_error_t *err)
{
    json_t *one = json_object_get(j, "key_field"), *many = json_object_get(j, "key_fields");
    char p[128];
    e->n_keys = 1;
    e->key_index[0] = 0;
    if (one != NULL && many != NULL)
        return te_error_set(err, TE_EINVAL, "%s: key_field and key_fields exclude each other", path);
    if (one != NULL) {
        snprintf(p, sizeof(p), "%s.key_field", path);
        if (parse_key(one, p, e, 0, err) != TE_OK)
            return TE_EINVAL;
    } else if (many != NULL) {
        snprintf(p, sizeof(p), "%s.key_fields", path);
        if (!json_is_array(many) || json_array_size(many) == 0 || json_array_size(many) > TE_JOB_MAX_KEY_FIELDS)
            return type_error(err, p, "an array of 1 to 8 field indexes or names", many);
        e->n_keys = (uint32_t)json_array_size(many);
        for (size_t k = 0; k < e->n_keys; k++) {
            snprintf(p, sizeof(p), "%s.key_fields[%zu]", path, k);
            if (parse_key(json_array_get(many, k), p, e, k, err) != TE_OK)
                return TE_EINVAL;
        }
    }
    e->key_field = e->key_index[0] >= 0 ? e->key_index[0] : 0;
    return TE_OK;
}

static te_status_t parse_edge(te_job_graph_t *g, const json_t *j, size_t idx, te_error_t *err)
{
    static const char *const allowed[] = {"from",          "to",    "partitioner", "key_field", "key_fields",
                                          "key_delimiter", "input", "side_output", NULL};
    char path[64];
    snprintf(path, sizeof(path), "edges[%zu]", idx);
    te_job_edge_t *e = &g->edges[idx];
    if (!json_is_object(j))
        return type_error(err, path, "an object", j);
    te_status_t st = check_keys(j, path, allowed, err);
    if (st != TE_OK)
        return st;
    const char *ends[2];
    static const char *const end_keys[2] = {"from", "to"};
    size_t idxs[2];
    for (int k = 0; k < 2; k++) {
        if ((st = get_string(j, path, end_keys[k], 1, &ends[k], err)) != TE_OK)
            return st;
        long vi = job_graph_find_vertex(g, ends[k]);
        if (vi < 0)
            return te_error_set(err, TE_EINVAL, "%s.%s: unknown vertex \"%s\"", path, end_keys[k], ends[k]);
        idxs[k] = (size_t)vi;
    }
    e->from = idxs[0];
    e->to = idxs[1];

    const char *pname;
    if ((st = get_string(j, path, "partitioner", 0, &pname, err)) != TE_OK)
        return st;
    e->partitioner = TE__PARTITIONER__REBALANCE;
    if (pname != NULL) {
        int kind = proto_enum_parse(&te__partitioner__descriptor, pname);
        char names[128];
        if (kind < 0)
            return te_error_set(err, TE_EINVAL, "%s.partitioner: unknown partitioner \"%s\" (expected %s)", path,
                                pname, proto_enum_names(&te__partitioner__descriptor, names, sizeof(names)));
        e->partitioner = (Te__Partitioner)kind;
    }
    const te_job_vertex_t *from = &g->vertices[e->from], *to = &g->vertices[e->to];
    if (e->partitioner == TE__PARTITIONER__FORWARD && from->parallelism != to->parallelism)
        return te_error_set(err, TE_EINVAL,
                            "%s.partitioner: forward needs equal parallelism, but \"%s\" has %u "
                            "and \"%s\" has %u (use rebalance, rescale or hash)",
                            path, from->id, from->parallelism, to->id, to->parallelism);

    long long input = 0;
    if ((st = parse_keys(j, path, e, err)) != TE_OK)
        return st;
    e->key_delimiter = '\t';
    json_t *kd = json_object_get(j, "key_delimiter");
    if (kd != NULL) {
        if (!json_is_string(kd) || json_string_length(kd) != 1) {
            char p[96];
            snprintf(p, sizeof(p), "%s.key_delimiter", path);
            return type_error(err, p, "a one-character string", kd);
        }
        e->key_delimiter = json_string_value(kd)[0];
    }
    if (e->partitioner != TE__PARTITIONER__HASH) {
        char pn[32];
        const char *hash_only = json_object_get(j, "key_field")    ? "key_field"
                                : json_object_get(j, "key_fields") ? "key_fields"
                                : kd                               ? "key_delimiter"
                                                                   : NULL;
        if (hash_only)
            return te_error_set(err, TE_EINVAL, "%s.%s: only valid with partitioner \"hash\" (got \"%s\")", path,
                                hash_only,
                                proto_enum_name(&te__partitioner__descriptor, e->partitioner, pn, sizeof(pn)));
    }
    if ((st = get_int(j, path, "input", 0, 0, 1, "0 or 1", &input, err)) != TE_OK)
        return st;
    e->input = (uint32_t)input;
    const char *side;
    if ((st = get_string(j, path, "side_output", 0, &side, err)) != TE_OK)
        return st;
    if (side != NULL) {
        if (side[0] == '\0' || strlen(side) >= sizeof(e->side_output))
            return te_error_set(err, TE_EINVAL,
                                "%s.side_output: expected a tag of 1 to %zu characters, got \"%s\"", path,
                                sizeof(e->side_output) - 1, side);
        snprintf(e->side_output, sizeof(e->side_output), "%s", side);
    }
    return TE_OK;
}

/* Per vertex, its out edges and its in edges, each by ascending edge index
 * (a counting sort: O(V + E)). */
static te_status_t build_adjacency(te_job_graph_t *g, te_error_t *err)
{
    size_t nv = g->n_vertices, ne = g->n_edges;
    g->adj_start = calloc(2 * nv + 1, sizeof(*g->adj_start));
    g->adj = calloc(2 * ne + 1, sizeof(*g->adj));
    size_t *fill = calloc(2 * nv + 1, sizeof(*fill));
    if (g->adj_start == NULL || g->adj == NULL || fill == NULL) {
        free(fill);
        return te_error_set(err, TE_ENOMEM, "out of memory");
    }
    for (size_t e = 0; e < ne; e++) {
        g->adj_start[2 * g->edges[e].from + 1]++;
        g->adj_start[2 * g->edges[e].to + 2]++;
    }
    for (size_t k = 1; k <= 2 * nv; k++)
        g->adj_start[k] += g->adj_start[k - 1];
    memcpy(fill, g->adj_start, (2 * nv + 1) * sizeof(*fill));
    for (size_t e = 0; e < ne; e++) {
        g->adj[fill[2 * g->edges[e].from]++] = e;
        g->adj[fill[2 * g->edges[e].to + 1]++] = e;
    }
    free(fill);
    return TE_OK;
}

/* Derives invokables and checks inputs. */
static te_status_t derive_invokables(te_job_graph_t *g, te_error_t *err)
{
    for (size_t v = 0; v < g->n_vertices; v++) {
        long first_in[2] = {-1, -1};
        size_t n;
        const size_t *in = job_graph_vertex_edges(g, v, 0, &n);
        for (size_t k = 0; k < n; k++)
            if (first_in[g->edges[in[k]].input] < 0)
                first_in[g->edges[in[k]].input] = (long)in[k];
        if (first_in[1] >= 0 && first_in[0] < 0)
            return te_error_set(err, TE_EINVAL,
                                "edges[%ld].input: vertex \"%s\" has an input 1 edge but no input 0 edge",
                                first_in[1], g->vertices[v].id);
        g->vertices[v].invokable = first_in[0] < 0   ? TE__INVOKABLE__SOURCE_STREAM_TASK
                                   : first_in[1] < 0 ? TE__INVOKABLE__ONE_INPUT_STREAM_TASK
                                                     : TE__INVOKABLE__TWO_INPUT_STREAM_TASK;
    }
    return TE_OK;
}

/* A binary min-heap of vertex indexes (the ready vertices of Kahn's algorithm). */
static void heap_push(size_t *h, size_t *n, size_t v)
{
    size_t i = (*n)++;
    while (i > 0 && h[(i - 1) / 2] > v) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = v;
}

static size_t heap_pop(size_t *h, size_t *n)
{
    size_t top = h[0], last = h[--(*n)], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1] < h[c])
            c++;
        if (h[c] >= last)
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Kahn's algorithm, the lowest ready vertex index first; names an edge on a cycle
 * otherwise. */
static te_status_t topo_sort(te_job_graph_t *g, te_error_t *err)
{
    size_t n = g->n_vertices, n_ready = 0, k = 0;
    size_t *indeg = calloc(n, sizeof(*indeg)), *ready = calloc(n, sizeof(*ready));
    char *done = calloc(n, 1);
    te_status_t st = TE_OK;
    g->topo = calloc(n, sizeof(*g->topo));
    if (indeg == NULL || ready == NULL || done == NULL || g->topo == NULL) {
        st = te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    for (size_t e = 0; e < g->n_edges; e++)
        indeg[g->edges[e].to]++;
    for (size_t v = 0; v < n; v++)
        if (indeg[v] == 0)
            heap_push(ready, &n_ready, v);
    while (n_ready > 0) {
        size_t pick = heap_pop(ready, &n_ready), n_out;
        const size_t *out = job_graph_vertex_edges(g, pick, 1, &n_out);
        done[pick] = 1;
        g->topo[k++] = pick;
        for (size_t i = 0; i < n_out; i++)
            if (--indeg[g->edges[out[i]].to] == 0)
                heap_push(ready, &n_ready, g->edges[out[i]].to);
    }
    if (k < n) {
        for (size_t e = 0; e < g->n_edges; e++) {
            const te_job_edge_t *ed = &g->edges[e];
            if (!done[ed->from] && !done[ed->to]) {
                st = te_error_set(err, TE_EINVAL,
                                  "edges[%zu]: \"%s\" -> \"%s\" is part of a cycle (a job must "
                                  "be a directed acyclic graph)",
                                  e, g->vertices[ed->from].id, g->vertices[ed->to].id);
                goto cleanup;
            }
        }
        st = te_error_set(err, TE_EINTERNAL, "edges: cycle detection failed");
    }
cleanup:
    free(indeg);
    free(ready);
    free(done);
    return st;
}

static te_job_graph_t *parse_root(const json_t *root, te_error_t *err)
{
    static const char *const allowed[] = {"name", "max_parallelism", "config", "vertices", "edges", NULL};
    te_status_t st;
    te_job_graph_t *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    if (!json_is_object(root)) {
        type_error(err, "(root)", "an object", root);
        goto cleanup;
    }
    if (check_keys(root, "", allowed, err) != TE_OK)
        goto cleanup;
    const char *name;
    if (get_string(root, "", "name", 1, &name, err) != TE_OK)
        goto cleanup;
    if ((g->name = strdup(name)) == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    long long maxp = TE_JOB_DEFAULT_MAX_PARALLELISM;
    if (get_int(root, "", "max_parallelism", 0, 1, MAX_PARALLELISM_LIMIT, "a positive integer (at most 32768)",
                &maxp, err) != TE_OK)
        goto cleanup;
    g->max_parallelism = (uint32_t)maxp;

    json_t *config = json_object_get(root, "config");
    if (config != NULL) {
        if (!json_is_object(config)) {
            type_error(err, "config", "an object of key: value", config);
            goto cleanup;
        }
        if (read_kvs(config, "config", NULL, &g->config, &g->n_config, err) != TE_OK)
            goto cleanup;
    }

    json_t *vertices = json_object_get(root, "vertices");
    if (vertices == NULL) {
        te_error_set(err, TE_EINVAL, "vertices: missing (expected a non-empty array of vertices)");
        goto cleanup;
    }
    if (!json_is_array(vertices) || json_array_size(vertices) == 0) {
        type_error(err, "vertices", "a non-empty array of vertices", vertices);
        goto cleanup;
    }
    g->vertices = calloc(json_array_size(vertices), sizeof(*g->vertices));
    if (g->vertices == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (id_index_init(g, json_array_size(vertices), err) != TE_OK)
        goto cleanup;
    for (size_t i = 0; i < json_array_size(vertices); i++) {
        g->n_vertices = i + 1;
        if (parse_vertex(g, json_array_get(vertices, i), i, err) != TE_OK)
            goto cleanup;
    }

    json_t *edges = json_object_get(root, "edges");
    if (edges != NULL) {
        if (!json_is_array(edges)) {
            type_error(err, "edges", "an array of edges", edges);
            goto cleanup;
        }
        g->edges = calloc(json_array_size(edges) ? json_array_size(edges) : 1, sizeof(*g->edges));
        if (g->edges == NULL) {
            te_error_set(err, TE_ENOMEM, "out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < json_array_size(edges); i++) {
            if (parse_edge(g, json_array_get(edges, i), i, err) != TE_OK)
                goto cleanup;
            g->n_edges = i + 1;
        }
    }
    if ((st = build_adjacency(g, err)) != TE_OK || (st = derive_invokables(g, err)) != TE_OK ||
        (st = topo_sort(g, err)) != TE_OK)
        goto cleanup;
    return g;
cleanup:
    job_graph_free(g);
    return NULL;
}

te_job_graph_t *job_graph_parse_json(const json_t *root, te_error_t *err) { return parse_root(root, err); }

te_job_graph_t *job_graph_parse_string(const char *json, te_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        te_error_set(err, TE_EINVAL, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    te_job_graph_t *g = parse_root(root, err);
    json_decref(root);
    return g;
}

te_job_graph_t *job_graph_parse_file(const char *path, te_error_t *err)
{
    json_error_t jerr;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        te_error_set(err, TE_EIO, "%s: cannot open: %m", path);
        return NULL;
    }
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (root == NULL) {
        te_error_set(err, TE_EINVAL, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    te_job_graph_t *g = parse_root(root, err);
    json_decref(root);
    if (g == NULL)
        te_error_prefix(err, "%s", path);
    return g;
}

/* ---- accessors ---------------------------------------------------------------- */

const char *job_graph_name(const te_job_graph_t *g) { return g->name; }
uint32_t job_graph_max_parallelism(const te_job_graph_t *g) { return g->max_parallelism; }

const te_job_kv_t *job_graph_config(const te_job_graph_t *g, size_t *n)
{
    *n = g->n_config;
    return g->config;
}

size_t job_graph_n_vertices(const te_job_graph_t *g) { return g->n_vertices; }

const te_job_vertex_t *job_graph_vertex(const te_job_graph_t *g, size_t i)
{
    return i < g->n_vertices ? &g->vertices[i] : NULL;
}

long job_graph_find_vertex(const te_job_graph_t *g, const char *id)
{
    if (g->id_index == NULL || id == NULL)
        return -1;
    size_t slot = id_slot(g, id);
    return g->id_index[slot] != 0 ? (long)(g->id_index[slot] - 1) : -1;
}

const size_t *job_graph_vertex_edges(const te_job_graph_t *g, size_t v, int out, size_t *n)
{
    if (v >= g->n_vertices || g->adj_start == NULL) {
        *n = 0;
        return NULL;
    }
    size_t k = 2 * v + (out ? 0 : 1);
    *n = g->adj_start[k + 1] - g->adj_start[k];
    return g->adj + g->adj_start[k];
}

const size_t *job_graph_topo_order(const te_job_graph_t *g) { return g->topo; }

uint32_t job_graph_max_vertex_parallelism(const te_job_graph_t *g)
{
    uint32_t m = 0;
    for (size_t i = 0; i < g->n_vertices; i++)
        if (g->vertices[i].parallelism > m)
            m = g->vertices[i].parallelism;
    return m;
}

size_t job_graph_n_edges(const te_job_graph_t *g) { return g->n_edges; }

const te_job_edge_t *job_graph_edge(const te_job_graph_t *g, size_t i)
{
    return i < g->n_edges ? &g->edges[i] : NULL;
}
