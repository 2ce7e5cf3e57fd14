/*
 * job_plan — slot-sharing placement of a job graph's subtasks and construction of
 * their TaskDeploymentDescriptors (rules in job_plan.h).
 *
 * The TDDs are built as protobuf-c messages whose every string, byte field, repeated
 * array and sub-message is malloc'ed, so te__task_deployment_descriptor__free_unpacked
 * (with the NULL = system allocator) frees them, whole or half-built.
 *
 * Threading: a plan is used by one thread; no shared state, no locks.
 */
#include "jobmaster/job_plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct exec_entry {
    te_id_t id;
    size_t task;
};
#include "jobmaster/job_field_use.h"
#include "jobmaster/job_schema.h"

struct te_job_plan {
    const te_job_graph_t *g; /* borrowed */
    te_id_t job_id;
    size_t n_executors;
    te_plan_slot_t *slots;
    size_t n_slots;
    te_plan_task_t *tasks; /* topological order of vertices, then subtask */
    size_t n_tasks;
    size_t *task_base;         /* per vertex: index of its subtask 0 */
    te_id_t *vertex_ids;       /* per vertex: JobVertexID */
    te_id_t *result_ids;       /* per edge: IntermediateDataSetID */
    te_id_t **partition_ids;   /* per edge, per producer subtask */
    te_job_kv_t *extra_config; /* job_plan_set_config entries, after the graph's */
    size_t n_extra_config;
    uint32_t attempt_number;
    struct exec_entry *by_execution; /* (execution id, task) by id: job_plan_find_task */
    te_job_schemas_t *schemas;       /* every edge's and operator's schema (job_schema.h) */
    te_job_field_use_t *field_use;   /* the fields no consumer reads (job_field_use.h) */
};

void job_plan_free(te_job_plan_t *p)
{
    if (p == NULL)
        return;
    for (size_t t = 0; t < p->n_tasks; t++) {
        free(p->tasks[t].task_name);
        te__task_deployment_descriptor__free_unpacked(p->tasks[t].tdd, NULL);
    }
    if (p->partition_ids != NULL)
        for (size_t e = 0; e < job_graph_n_edges(p->g); e++)
            free(p->partition_ids[e]);
    free(p->partition_ids);
    for (size_t i = 0; i < p->n_extra_config; i++) {
        free(p->extra_config[i].key);
        free(p->extra_config[i].value);
    }
    free(p->extra_config);
    free(p->result_ids);
    free(p->vertex_ids);
    free(p->task_base);
    free(p->tasks);
    free(p->slots);
    free(p->by_execution);
    job_field_use_free(p->field_use);
    job_schemas_free(p->schemas);
    free(p);
}

static int execution_cmp(const void *a, const void *b)
{
    return memcmp(((const struct exec_entry *)a)->id.b, ((const struct exec_entry *)b)->id.b, TE_ID_LEN);
}

static void index_executions(te_job_plan_t *p)
{
    for (size_t t = 0; t < p->n_tasks; t++)
        p->by_execution[t] = (struct exec_entry){p->tasks[t].execution_id, t};
    qsort(p->by_execution, p->n_tasks, sizeof(*p->by_execution), execution_cmp);
}

/* A JobVertexID derived from the job id and the vertex's id in the graph (FNV-1a over
 * both, two seeds), as Flink hashes its JobVertexIDs: the same in every attempt of the
 * job, so a restarted sink finds what an earlier attempt left in an external system
 * (e.g. prepared transactions named after it). */
static void vertex_id_derive(const te_id_t *job_id, const char *name, te_id_t *out)
{
    for (int half = 0; half < 2; half++) {
        uint64_t h = half ? 0x84222325cbf29ce4ULL : 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < TE_ID_LEN; i++)
            h = (h ^ job_id->b[i]) * 0x100000001b3ULL;
        for (const char *c = name ? name : ""; *c; c++)
            h = (h ^ (uint8_t)*c) * 0x100000001b3ULL;
        for (int i = 0; i < 8; i++)
            out->b[half * 8 + i] = (uint8_t)(h >> (8 * i));
    }
}

te_job_plan_t *job_plan_new(const te_job_graph_t *g, const te_id_t *job_id, size_t n_executors, te_error_t *err)
{
    if (n_executors == 0) {
        te_error_set(err, TE_EINVAL, "at least one executor is needed");
        return NULL;
    }
    size_t nv = job_graph_n_vertices(g), ne = job_graph_n_edges(g);
    te_job_plan_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        goto cleanup;
    p->g = g;
    /* every schema before anything is placed: a bad chain fails here, naming it */
    if ((p->schemas = job_schemas_derive(g, err)) == NULL) {
        job_plan_free(p);
        return NULL;
    }
    if ((p->field_use = job_field_use_derive(g, p->schemas)) == NULL)
        goto cleanup;
    p->job_id = *job_id;
    p->n_executors = n_executors;
    p->n_slots = job_graph_max_vertex_parallelism(g);
    for (size_t v = 0; v < nv; v++)
        p->n_tasks += job_graph_vertex(g, v)->parallelism;
    p->slots = calloc(p->n_slots, sizeof(*p->slots));
    p->tasks = calloc(p->n_tasks, sizeof(*p->tasks));
    p->task_base = calloc(nv, sizeof(*p->task_base));
    p->vertex_ids = calloc(nv, sizeof(*p->vertex_ids));
    p->result_ids = calloc(ne ? ne : 1, sizeof(*p->result_ids));
    p->partition_ids = calloc(ne ? ne : 1, sizeof(*p->partition_ids));
    p->by_execution = calloc(p->n_tasks ? p->n_tasks : 1, sizeof(*p->by_execution));
    if (!p->slots || !p->tasks || !p->task_base || !p->vertex_ids || !p->result_ids || !p->partition_ids ||
        !p->by_execution)
        goto cleanup;

    for (size_t s = 0; s < p->n_slots; s++) {
        p->slots[s].executor = s % n_executors;
        p->slots[s].slot_number = -1;
        te_id_random(&p->slots[s].allocation_id);
    }
    for (size_t v = 0; v < nv; v++)
        vertex_id_derive(job_id, job_graph_vertex(g, v)->id, &p->vertex_ids[v]);
    for (size_t e = 0; e < ne; e++) {
        const te_job_edge_t *ed = job_graph_edge(g, e);
        uint32_t np = job_graph_vertex(g, ed->from)->parallelism;
        te_id_random(&p->result_ids[e]);
        if ((p->partition_ids[e] = calloc(np, sizeof(te_id_t))) == NULL)
            goto cleanup;
        for (uint32_t i = 0; i < np; i++)
            te_id_random(&p->partition_ids[e][i]);
    }

    const size_t *topo = job_graph_topo_order(g);
    size_t t = 0;
    for (size_t k = 0; k < nv; k++) {
        const te_job_vertex_t *vx = job_graph_vertex(g, topo[k]);
        p->task_base[topo[k]] = t;
        for (uint32_t i = 0; i < vx->parallelism; i++, t++) {
            te_plan_task_t *task = &p->tasks[t];
            char name[512];
            task->vertex = topo[k];
            task->subtask = i;
            task->slot = i;
            task->executor = p->slots[i].executor;
            te_id_random(&task->execution_id);
            snprintf(name, sizeof(name), "%s (%u/%u)", vx->id, i + 1, vx->parallelism);
            if ((task->task_name = strdup(name)) == NULL)
                goto cleanup;
        }
    }
    index_executions(p);
    return p;
cleanup:
    te_error_set(err, TE_ENOMEM, "out of memory while planning the job");
    job_plan_free(p);
    return NULL;
}

const te_id_t *job_plan_job_id(const te_job_plan_t *p) { return &p->job_id; }
size_t job_plan_n_executors(const te_job_plan_t *p) { return p->n_executors; }
size_t job_plan_n_slots(const te_job_plan_t *p) { return p->n_slots; }

const te_plan_slot_t *job_plan_slot(const te_job_plan_t *p, size_t slot)
{
    return slot < p->n_slots ? &p->slots[slot] : NULL;
}

void job_plan_set_slot_number(te_job_plan_t *p, size_t slot, int32_t slot_number)
{
    if (slot < p->n_slots)
        p->slots[slot].slot_number = slot_number;
}

size_t job_plan_n_tasks(const te_job_plan_t *p) { return p->n_tasks; }

const te_plan_task_t *job_plan_task(const te_job_plan_t *p, size_t t)
{
    return t < p->n_tasks ? &p->tasks[t] : NULL;
}

long job_plan_task_index(const te_job_plan_t *p, size_t vertex, uint32_t subtask)
{
    if (vertex >= job_graph_n_vertices(p->g) || subtask >= job_graph_vertex(p->g, vertex)->parallelism)
        return -1;
    return (long)(p->task_base[vertex] + subtask);
}

void job_plan_assign_slot(te_job_plan_t *p, size_t slot, size_t executor, int32_t slot_number)
{
    if (slot >= p->n_slots)
        return;
    p->slots[slot].executor = executor;
    p->slots[slot].slot_number = slot_number;
    if (executor >= p->n_executors)
        p->n_executors = executor + 1;
    for (size_t t = 0; t < p->n_tasks; t++) /* (job_plan_build sets them again) */
        if (p->tasks[t].slot == slot)
            p->tasks[t].executor = executor;
}

te_status_t job_plan_adopt_ids(te_job_plan_t *p, const te_id_t *execution_ids, size_t n_tasks,
                               const te_id_t *allocation_ids, size_t n_slots, te_error_t *err)
{
    if (n_tasks != p->n_tasks || n_slots != p->n_slots)
        return te_error_set(err, TE_EINVAL,
                            "the running attempt has %zu task(s) in %zu slot(s), the graph %zu in %zu", n_tasks,
                            n_slots, p->n_tasks, p->n_slots);
    for (size_t t = 0; t < n_tasks; t++)
        p->tasks[t].execution_id = execution_ids[t];
    for (size_t s = 0; s < n_slots; s++)
        p->slots[s].allocation_id = allocation_ids[s];
    index_executions(p);
    return TE_OK;
}

long job_plan_find_task(const te_job_plan_t *p, const te_id_t *execution_id)
{
    size_t lo = 0, hi = p->n_tasks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->by_execution[mid].id.b, execution_id->b, TE_ID_LEN);
        if (c == 0)
            return (long)p->by_execution[mid].task;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- TDD construction ---------------------------------------------------------- */

static int set_id(ProtobufCBinaryData *b, const te_id_t *id)
{
    b->data = malloc(TE_ID_LEN);
    if (b->data == NULL)
        return -1;
    memcpy(b->data, id->b, TE_ID_LEN);
    b->len = TE_ID_LEN;
    return 0;
}

static Te__KeyValue *kv_new(const char *key, const char *value)
{
    Te__KeyValue *kv = malloc(sizeof(*kv));
    if (kv == NULL)
        return NULL;
    te__key_value__init(kv);
    kv->key = strdup(key);
    kv->value = strdup(value);
    if (kv->key == NULL || kv->value == NULL) {
        te__key_value__free_unpacked(kv, NULL);
        return NULL;
    }
    return kv;
}

/* A te_schema_t as a Schema message (malloc'ed throughout), NULL when out of memory. */
static Te__Schema *schema_new(const te_schema_t *s)
{
    Te__Schema *ps = malloc(sizeof(*ps));
    if (ps == NULL)
        return NULL;
    te__schema__init(ps);
    if ((ps->fields = calloc(s->n_fields ? s->n_fields : 1, sizeof(*ps->fields))) == NULL)
        goto cleanup;
    for (uint32_t i = 0; i < s->n_fields; i++) {
        Te__Field *f = malloc(sizeof(*f));
        if (f == NULL)
            goto cleanup;
        te__field__init(f);
        ps->fields[ps->n_fields++] = f;
        f->type = (Te__FieldType)s->fields[i].type;
        f->nullable = s->fields[i].nullable != 0;
        if ((f->name = strdup(s->fields[i].name)) == NULL)
            goto cleanup;
    }
    return ps;
cleanup:
    te__schema__free_unpacked(ps, NULL);
    return NULL;
}

/* Allocates a repeated-field array of n pointers (at least one slot so malloc(0) is
 * never asked for). */
static void *ptr_array(size_t n) { return calloc(n ? n : 1, sizeof(void *)); }

static Te__JobInformation *job_info_new(const te_job_plan_t *p)
{
    size_t n;
    const te_job_kv_t *cfg = job_graph_config(p->g, &n);
    Te__JobInformation *ji = malloc(sizeof(*ji));
    if (ji == NULL)
        return NULL;
    te__job_information__init(ji);
    if ((ji->job_name = strdup(job_graph_name(p->g))) == NULL ||
        (ji->job_configuration = ptr_array(n + p->n_extra_config)) == NULL)
        goto cleanup;
    for (size_t i = 0; i < n; i++) {
        int overridden = 0;
        for (size_t k = 0; k < p->n_extra_config; k++)
            overridden |= strcmp(p->extra_config[k].key, cfg[i].key) == 0;
        if (overridden)
            continue;
        if ((ji->job_configuration[ji->n_job_configuration] = kv_new(cfg[i].key, cfg[i].value)) == NULL)
            goto cleanup;
        ji->n_job_configuration++;
    }
    for (size_t k = 0; k < p->n_extra_config; k++) {
        const te_job_kv_t *kv = &p->extra_config[k];
        if ((ji->job_configuration[ji->n_job_configuration] = kv_new(kv->key, kv->value)) == NULL)
            goto cleanup;
        ji->n_job_configuration++;
    }
    return ji;
cleanup:
    te__job_information__free_unpacked(ji, NULL);
    return NULL;
}

/* Operator i of vertex v, with the schemas job_schema derived for it. */
static Te__OperatorConfig *operator_new(const te_job_plan_t *p, size_t v, size_t i)
{
    const te_job_operator_t *op = &job_graph_vertex(p->g, v)->chain[i];
    Te__OperatorConfig *oc = malloc(sizeof(*oc));
    if (oc == NULL)
        return NULL;
    te__operator_config__init(oc);
    size_t n_sides = 0;
    while (job_schemas_op_side(p->schemas, v, i, n_sides, NULL) != NULL)
        n_sides++;
    if ((oc->name = strdup(op->name)) == NULL || (oc->uid = strdup(op->uid ? op->uid : "")) == NULL ||
        (oc->params = ptr_array(op->n_params)) == NULL ||
        (oc->output_schema = schema_new(job_schemas_op_output(p->schemas, v, i))) == NULL ||
        (oc->side_outputs = ptr_array(n_sides)) == NULL)
        goto cleanup;
    oc->unread_fields = job_field_use_unread(p->field_use, v, i);
    for (size_t k = 0; k < op->n_params; k++) {
        if ((oc->params[k] = kv_new(op->params[k].key, op->params[k].value)) == NULL)
            goto cleanup;
        oc->n_params = k + 1;
    }
    for (size_t k = 0; k < n_sides; k++) {
        const te_schema_t *ss;
        const char *tag = job_schemas_op_side(p->schemas, v, i, k, &ss);
        Te__SideOutputSchema *so = malloc(sizeof(*so));
        if (so == NULL)
            goto cleanup;
        te__side_output_schema__init(so);
        oc->side_outputs[oc->n_side_outputs++] = so;
        if ((so->tag = strdup(tag)) == NULL || (so->schema = schema_new(ss)) == NULL)
            goto cleanup;
    }
    return oc;
cleanup:
    te__operator_config__free_unpacked(oc, NULL);
    return NULL;
}

static Te__TaskInformation *task_info_new(const te_job_plan_t *p, const te_plan_task_t *task)
{
    const te_job_vertex_t *vx = job_graph_vertex(p->g, task->vertex);
    Te__TaskInformation *ti = malloc(sizeof(*ti));
    if (ti == NULL)
        return NULL;
    te__task_information__init(ti);
    ti->number_of_subtasks = vx->parallelism;
    ti->max_parallelism = job_graph_max_parallelism(p->g);
    ti->invokable = vx->invokable;
    if (set_id(&ti->job_vertex_id, &p->vertex_ids[task->vertex]) < 0 ||
        (ti->task_name = strdup(task->task_name)) == NULL || (ti->chain = ptr_array(vx->chain_len)) == NULL)
        goto cleanup;
    for (size_t i = 0; i < vx->chain_len; i++) {
        if ((ti->chain[i] = operator_new(p, task->vertex, i)) == NULL)
            goto cleanup;
        ti->n_chain = i + 1;
    }
    return ti;
cleanup:
    te__task_information__free_unpacked(ti, NULL);
    return NULL;
}

/* ---- pointwise wiring (forward, rescale) ---- */

int job_plan_is_pointwise(Te__Partitioner partitioner)
{
    return partitioner == TE__PARTITIONER__FORWARD || partitioner == TE__PARTITIONER__RESCALE;
}

/* The ranges below partition 0..n-1 in order and none is empty, so the range holding
 * k is found directly: the largest r with floor(r*n/m) <= k is ((k+1)*m - 1) / n. */
uint32_t job_plan_pointwise_consumers(uint32_t np, uint32_t nc, uint32_t producer, uint32_t *first)
{
    if (nc >= np) { /* producer i feeds consumers floor(i*C/P) .. floor((i+1)*C/P)-1 */
        uint64_t lo = (uint64_t)producer * nc / np, hi = ((uint64_t)producer + 1) * nc / np;
        *first = (uint32_t)lo;
        return (uint32_t)(hi - lo);
    }
    /* C < P: consumer j reads producers floor(j*P/C) .. floor((j+1)*P/C)-1 */
    *first = (uint32_t)((((uint64_t)producer + 1) * nc - 1) / np);
    return 1;
}

uint32_t job_plan_pointwise_producers(uint32_t np, uint32_t nc, uint32_t consumer, uint32_t *first, uint32_t *sub)
{
    if (nc < np) { /* subpartition 0 of producers floor(j*P/C) .. floor((j+1)*P/C)-1 */
        uint64_t lo = (uint64_t)consumer * np / nc, hi = ((uint64_t)consumer + 1) * np / nc;
        *first = (uint32_t)lo;
        *sub = 0;
        return (uint32_t)(hi - lo);
    }
    /* C >= P: the one producer whose consumer range holds j, at j's offset in it */
    uint32_t i = (uint32_t)((((uint64_t)consumer + 1) * np - 1) / nc);
    *first = i;
    *sub = consumer - (uint32_t)((uint64_t)i * nc / np);
    return 1;
}

static Te__ResultPartitionDeploymentDescriptor *partition_new(const te_job_plan_t *p, size_t e, uint32_t producer)
{
    const te_job_edge_t *ed = job_graph_edge(p->g, e);
    char delim[2] = {ed->key_delimiter, '\0'};
    Te__ResultPartitionDeploymentDescriptor *rp = malloc(sizeof(*rp));
    if (rp == NULL)
        return NULL;
    te__result_partition_deployment_descriptor__init(rp);
    rp->type = TE__PARTITION_TYPE__PIPELINED;
    uint32_t np = job_graph_vertex(p->g, ed->from)->parallelism, nc = job_graph_vertex(p->g, ed->to)->parallelism;
    uint32_t first_consumer;
    rp->number_of_subpartitions = job_plan_is_pointwise(ed->partitioner)
                                      ? job_plan_pointwise_consumers(np, nc, producer, &first_consumer)
                                      : nc;
    rp->partitioner = ed->partitioner;
    rp->key_field = ed->key_field;
    const te_row_key_t *key = job_schemas_edge_key(p->schemas, e);
    if (key->n > 0) {
        if ((rp->key_fields = malloc(key->n * sizeof(uint32_t))) == NULL) {
            te__result_partition_deployment_descriptor__free_unpacked(rp, NULL);
            return NULL;
        }
        memcpy(rp->key_fields, key->idx, key->n * sizeof(uint32_t));
        rp->n_key_fields = key->n;
        rp->key_field = (int32_t)key->idx[0];
    }
    if ((rp->schema = schema_new(job_schemas_edge(p->schemas, e))) == NULL ||
        set_id(&rp->partition_id, &p->partition_ids[e][producer]) < 0 ||
        set_id(&rp->result_id, &p->result_ids[e]) < 0 || (rp->key_delimiter = strdup(delim)) == NULL ||
        (ed->side_output[0] && (rp->side_output_tag = strdup(ed->side_output)) == NULL)) {
        te__result_partition_deployment_descriptor__free_unpacked(rp, NULL);
        return NULL;
    }
    return rp;
}

static Te__ShuffleDescriptor *shuffle_new(const te_job_plan_t *p, size_t e, uint32_t producer,
                                          size_t consumer_executor, const char *const *addrs)
{
    const te_job_edge_t *ed = job_graph_edge(p->g, e);
    const te_plan_task_t *prod = &p->tasks[p->task_base[ed->from] + producer];
    Te__ShuffleDescriptor *sd = malloc(sizeof(*sd));
    if (sd == NULL)
        return NULL;
    te__shuffle_descriptor__init(sd);
    sd->local = prod->executor == consumer_executor;
    if (set_id(&sd->partition_id, &p->partition_ids[e][producer]) < 0 ||
        set_id(&sd->producer_execution_id, &prod->execution_id) < 0 ||
        (sd->producer_address = strdup(addrs[prod->executor] ? addrs[prod->executor] : "")) == NULL) {
        te__shuffle_descriptor__free_unpacked(sd, NULL);
        return NULL;
    }
    return sd;
}

static Te__InputGateDeploymentDescriptor *gate_new(const te_job_plan_t *p, size_t e,
                                                   const te_plan_task_t *consumer, const char *const *addrs)
{
    const te_job_edge_t *ed = job_graph_edge(p->g, e);
    uint32_t np = job_graph_vertex(p->g, ed->from)->parallelism, nc = job_graph_vertex(p->g, ed->to)->parallelism;
    uint32_t first = 0, count = np, sub = consumer->subtask; /* all-to-all */
    if (job_plan_is_pointwise(ed->partitioner))
        count = job_plan_pointwise_producers(np, nc, consumer->subtask, &first, &sub);
    Te__InputGateDeploymentDescriptor *ig = malloc(sizeof(*ig));
    if (ig == NULL)
        return NULL;
    te__input_gate_deployment_descriptor__init(ig);
    ig->consumed_subpartition_index = sub;
    ig->input_index = ed->input;
    if (set_id(&ig->consumed_result_id, &p->result_ids[e]) < 0 ||
        (ig->schema = schema_new(job_schemas_edge(p->schemas, e))) == NULL ||
        (ig->shuffle_descriptors = ptr_array(count)) == NULL)
        goto cleanup;
    for (uint32_t k = 0; k < count; k++) {
        ig->shuffle_descriptors[k] = shuffle_new(p, e, first + k, consumer->executor, addrs);
        if (ig->shuffle_descriptors[k] == NULL)
            goto cleanup;
        ig->n_shuffle_descriptors = k + 1;
    }
    return ig;
cleanup:
    te__input_gate_deployment_descriptor__free_unpacked(ig, NULL);
    return NULL;
}

static Te__TaskDeploymentDescriptor *tdd_new(const te_job_plan_t *p, const te_plan_task_t *task,
                                             const char *const *addrs)
{
    size_t n_out, n_in;
    const size_t *out = job_graph_vertex_edges(p->g, task->vertex, 1, &n_out);
    const size_t *in = job_graph_vertex_edges(p->g, task->vertex, 0, &n_in);
    const te_plan_slot_t *slot = &p->slots[task->slot];
    Te__TaskDeploymentDescriptor *tdd = malloc(sizeof(*tdd));
    if (tdd == NULL)
        return NULL;
    te__task_deployment_descriptor__init(tdd);
    tdd->subtask_index = task->subtask;
    tdd->attempt_number = p->attempt_number;
    tdd->target_slot_number = slot->slot_number;
    if (set_id(&tdd->job_id, &p->job_id) < 0 || set_id(&tdd->execution_attempt_id, &task->execution_id) < 0 ||
        set_id(&tdd->allocation_id, &slot->allocation_id) < 0 ||
        (tdd->job_information = job_info_new(p)) == NULL ||
        (tdd->task_information = task_info_new(p, task)) == NULL ||
        (tdd->produced_partitions = ptr_array(n_out)) == NULL || (tdd->input_gates = ptr_array(n_in)) == NULL)
        goto cleanup;
    for (size_t k = 0; k < n_out; k++) {
        Te__ResultPartitionDeploymentDescriptor *rp = partition_new(p, out[k], task->subtask);
        if (rp == NULL)
            goto cleanup;
        tdd->produced_partitions[tdd->n_produced_partitions++] = rp;
    }
    for (size_t k = 0; k < n_in; k++) {
        Te__InputGateDeploymentDescriptor *ig = gate_new(p, in[k], task, addrs);
        if (ig == NULL)
            goto cleanup;
        tdd->input_gates[tdd->n_input_gates++] = ig;
    }
    return tdd;
cleanup:
    te__task_deployment_descriptor__free_unpacked(tdd, NULL);
    return NULL;
}

te_status_t job_plan_build(te_job_plan_t *p, const char *const *data_addresses, te_error_t *err)
{
    for (size_t t = 0; t < p->n_tasks; t++)
        p->tasks[t].executor = p->slots[p->tasks[t].slot].executor;
    for (size_t t = 0; t < p->n_tasks; t++) {
        te__task_deployment_descriptor__free_unpacked(p->tasks[t].tdd, NULL);
        p->tasks[t].tdd = tdd_new(p, &p->tasks[t], data_addresses);
        if (p->tasks[t].tdd == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory while building the TDD of %s",
                                p->tasks[t].task_name);
    }
    return TE_OK;
}

const te_id_t *job_plan_vertex_id(const te_job_plan_t *p, size_t v)
{
    return v < job_graph_n_vertices(p->g) ? &p->vertex_ids[v] : NULL;
}

te_status_t job_plan_set_config(te_job_plan_t *p, const char *key, const char *value, te_error_t *err)
{
    for (size_t k = 0; k < p->n_extra_config; k++)
        if (strcmp(p->extra_config[k].key, key) == 0) {
            char *v = strdup(value);
            if (v == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory setting job config '%s'", key);
            free(p->extra_config[k].value);
            p->extra_config[k].value = v;
            return TE_OK;
        }
    te_job_kv_t *kv = realloc(p->extra_config, (p->n_extra_config + 1) * sizeof(*kv));
    if (kv == NULL)
        return te_error_set(err, TE_ENOMEM, "out of memory setting job config '%s'", key);
    p->extra_config = kv;
    kv[p->n_extra_config].key = strdup(key);
    kv[p->n_extra_config].value = strdup(value);
    if (kv[p->n_extra_config].key == NULL || kv[p->n_extra_config].value == NULL) {
        free(kv[p->n_extra_config].key);
        free(kv[p->n_extra_config].value);
        return te_error_set(err, TE_ENOMEM, "out of memory setting job config '%s'", key);
    }
    p->n_extra_config++;
    return TE_OK;
}

void job_plan_set_attempt(te_job_plan_t *p, uint32_t attempt_number) { p->attempt_number = attempt_number; }

te_status_t job_plan_set_restore(te_job_plan_t *p, size_t t, uint64_t checkpoint_id,
                                 const te_ckpt_handle_t *handles, size_t n_handles, te_error_t *err)
{
    if (t >= p->n_tasks || p->tasks[t].tdd == NULL)
        return te_error_set(err, TE_ESTATE, "task %zu has no TDD yet (build the plan first)", t);
    Te__TaskDeploymentDescriptor *tdd = p->tasks[t].tdd;
    Te__TaskRestore *r = malloc(sizeof(*r));
    if (r == NULL)
        goto cleanup;
    te__task_restore__init(r);
    r->checkpoint_id = checkpoint_id;
    if ((r->handles = ptr_array(n_handles)) == NULL)
        goto cleanup;
    for (size_t k = 0; k < n_handles; k++) {
        const te_ckpt_handle_t *h = &handles[k];
        Te__StateHandle *sh = malloc(sizeof(*sh));
        if (sh == NULL)
            goto cleanup;
        te__state_handle__init(sh);
        r->handles[r->n_handles++] = sh;
        sh->size = h->size;
        sh->subtask_index = h->subtask_index;
        sh->parallelism = h->parallelism;
        if ((sh->operator_uid = strdup("")) == NULL || (sh->path = strdup(h->path ? h->path : "")) == NULL)
            goto cleanup;
        if (h->n_key_groups > 0) {
            if ((sh->key_groups = malloc(h->n_key_groups * sizeof(uint32_t))) == NULL)
                goto cleanup;
            memcpy(sh->key_groups, h->key_groups, h->n_key_groups * sizeof(uint32_t));
            sh->n_key_groups = h->n_key_groups;
        }
    }
    te__task_restore__free_unpacked(tdd->task_restore, NULL);
    tdd->task_restore = r;
    return TE_OK;
cleanup:
    te__task_restore__free_unpacked(r, NULL); /* NULL-safe */
    return te_error_set(err, TE_ENOMEM, "out of memory building the TaskRestore of %s", p->tasks[t].task_name);
}
