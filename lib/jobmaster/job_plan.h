/*
 * job_plan — places a job graph's subtasks onto slots of one or several executors and
 * builds one TaskDeploymentDescriptor per subtask (the JobMaster's scheduling and
 * Execution.deploy, reduced to what tectl needs).
 *
 * Placement is Flink's default slot sharing: the job needs S = max vertex parallelism
 * shared slots; subtask i of every vertex goes into shared slot i; shared slot i has
 * one random allocation id and lives on executor i % n_executors unless
 * job_plan_assign_slot puts it elsewhere (the JobMaster places each shared slot on the
 * slot offered for it).
 *
 * Wiring: each (edge, producer subtask) gets a produced partition (random partition
 * id; result id = the edge's random IntermediateDataSetID; partitioner and key copied
 * from the edge) and each (edge, consumer subtask) an input gate with one shuffle
 * descriptor per producer subtask it reads, carrying the producer's partition id,
 * execution id, executor data address and whether producer and consumer share the
 * executor. All-to-all edges (rebalance, hash, broadcast): one subpartition per
 * consumer subtask; consumer j reads subpartition j of every producer. Pointwise edges
 * (forward, rescale; Flink's POINTWISE): with P producers and C consumers, when C >= P
 * producer i feeds consumers floor(i*C/P) .. floor((i+1)*C/P)-1 (one subpartition
 * each, in order) and each consumer reads one producer; when C < P consumer j reads
 * subpartition 0 of producers floor(j*P/C) .. floor((j+1)*P/C)-1. A pointwise edge has
 * max(P, C) channels instead of P x C. Forward is the case P = C.
 *
 * Use: job_plan_new → for each slot, RequestSlot with its allocation id on its executor
 * and job_plan_set_slot_number (or job_plan_assign_slot) with the index granted →
 * job_plan_build with each executor's data address → submit job_plan_task(p, t)->tdd
 * for every task (tasks are in topological order: producers first).
 *
 * Cost: O(T log T + size of the TDDs) for T tasks; job_plan_find_task is a binary
 * search.
 *
 * Threading: a plan is used by one thread; it borrows the graph, which must outlive it.
 */
#ifndef TE_JOB_PLAN_H
#define TE_JOB_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "jobmaster/checkpoint_metadata.h"
#include "jobmaster/job_graph.h"
#include "common/ids.h"
#include "common/te_status.h"
#include "tdd.pb-c.h"

typedef struct te_plan_slot {
    size_t executor; /* index into the executors given to job_plan_build */
    te_id_t allocation_id;
    int32_t slot_number; /* the slot index the executor granted; -1 until set */
} te_plan_slot_t;

typedef struct te_plan_task {
    size_t vertex;                     /* graph vertex index */
    uint32_t subtask;                  /* 0-based */
    size_t slot;                       /* shared slot index (= subtask) */
    size_t executor;                   /* its slot's executor (set again by job_plan_build) */
    te_id_t execution_id;              /* ExecutionAttemptID */
    char *task_name;                   /* "<vertex id> (<subtask+1>/<parallelism>)" */
    Te__TaskDeploymentDescriptor *tdd; /* owned by the plan; NULL until job_plan_build */
} te_plan_task_t;

typedef struct te_job_plan te_job_plan_t;

/* Pointwise wiring (pure): 1 for forward and rescale. For producer `producer` of np:
 * the number of consumers it feeds, the first in *first (its subpartition k goes to
 * consumer *first + k). For consumer `consumer` of nc: the number of producers it
 * reads, the first in *first, and the subpartition of theirs it reads in *sub. */
int job_plan_is_pointwise(Te__Partitioner partitioner);
uint32_t job_plan_pointwise_consumers(uint32_t np, uint32_t nc, uint32_t producer, uint32_t *first);
uint32_t job_plan_pointwise_producers(uint32_t np, uint32_t nc, uint32_t consumer, uint32_t *first, uint32_t *sub);

/* Assigns slots, allocation ids, vertex / result / partition / execution ids. */
te_job_plan_t *job_plan_new(const te_job_graph_t *g, const te_id_t *job_id, size_t n_executors, te_error_t *err);
void job_plan_free(te_job_plan_t *p);

const te_id_t *job_plan_job_id(const te_job_plan_t *p);
size_t job_plan_n_executors(const te_job_plan_t *p);

size_t job_plan_n_slots(const te_job_plan_t *p);
const te_plan_slot_t *job_plan_slot(const te_job_plan_t *p, size_t slot);
void job_plan_set_slot_number(te_job_plan_t *p, size_t slot, int32_t slot_number);
/* Places shared slot `slot` (and its tasks) on executor `executor` (any index: the data
 * addresses given to job_plan_build must cover it) in its slot `slot_number`. */
void job_plan_assign_slot(te_job_plan_t *p, size_t slot, size_t executor, int32_t slot_number);

size_t job_plan_n_tasks(const te_job_plan_t *p);
const te_plan_task_t *job_plan_task(const te_job_plan_t *p, size_t t);
/* Task index of (vertex, subtask), or -1. */
long job_plan_task_index(const te_job_plan_t *p, size_t vertex, uint32_t subtask);
/* A running attempt adopted (high availability): its execution ids (in task order)
 * and allocation ids (in slot order) replace the random ones. TE_EINVAL when the
 * counts differ from the plan's. */
te_status_t job_plan_adopt_ids(te_job_plan_t *p, const te_id_t *execution_ids, size_t n_tasks,
                               const te_id_t *allocation_ids, size_t n_slots, te_error_t *err);
/* Task index with this execution id, or -1. */
long job_plan_find_task(const te_job_plan_t *p, const te_id_t *execution_id);

/* Builds every task's TDD. data_addresses[e] is executor e's "host:port" data address
 * (borrowed, copied) for every executor a slot is placed on. target_slot_number is
 * each slot's number as set (-1 if never set). Can be called again (rebuilds). */
te_status_t job_plan_build(te_job_plan_t *p, const char *const *data_addresses, te_error_t *err);

/* The JobVertexID given to graph vertex v (random per plan). */
const te_id_t *job_plan_vertex_id(const te_job_plan_t *p, size_t v);

/* Adds (or replaces) a job configuration entry put into every TDD's JobInformation
 * after the graph's own config (tectl: state.checkpoints.dir). Call before build. */
te_status_t job_plan_set_config(te_job_plan_t *p, const char *key, const char *value, te_error_t *err);

/* The attempt_number of every TDD built afterwards (0 = first deployment). */
void job_plan_set_attempt(te_job_plan_t *p, uint32_t attempt_number);

/* Sets task t's TaskRestore (after job_plan_build): the checkpoint id and the handles
 * (copied) of every subtask of its vertex from that checkpoint. */
te_status_t job_plan_set_restore(te_job_plan_t *p, size_t t, uint64_t checkpoint_id,
                                 const te_ckpt_handle_t *handles, size_t n_handles, te_error_t *err);

#endif
