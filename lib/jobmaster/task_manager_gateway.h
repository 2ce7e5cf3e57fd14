/*
 * task_manager_gateway — how a JobMaster talks to one TaskExecutor (Flink's
 * TaskManagerGateway): a table of asynchronous operations, one per call of the
 * TaskExecutor's RPC (proto/rpc.proto), and a listener for what the TaskExecutor sends
 * unasked (task state updates, checkpoint acknowledgements and declines, the loss of
 * the connection).
 *
 * Implementations: rpc_task_manager_gateway (a real connection to a taskexecutord, on
 * an event loop) and the fake TaskExecutor of the unit tests. The cluster's
 * JobManager adds one over the connections TaskExecutors open to it.
 *
 * Contract of every operation: it returns at once and `done` runs exactly once,
 * later, from the event loop — never from inside the operation — with the result:
 * the TaskExecutor's answer, or `lost` when no answer can come (the connection
 * failed or timed out, the gateway is closed). `done` may be NULL. The arguments are
 * borrowed: an implementation copies what it keeps. Freeing a gateway completes its
 * pending operations with `lost` before it returns.
 *
 * Threading: a gateway, its operations and its callbacks belong to one thread (the
 * one running the event loop of the JobMasters using it).
 */
#ifndef TE_TASK_MANAGER_GATEWAY_H
#define TE_TASK_MANAGER_GATEWAY_H

#include <stdint.h>

#include "common/ids.h"
#include "rpc.pb-c.h"
#include "tdd.pb-c.h"

typedef struct te_tm_gateway te_tm_gateway_t;

/* The outcome of one operation. */
typedef struct te_tm_result {
    Te__ErrorCode code;           /* OK, or the TaskExecutor's error code */
    int lost;                     /* no answer: connection failed / timed out (code stays OK) */
    const char *message;          /* "CODE: message" on an error, the cause when lost, else "" */
    const Te__Response *response; /* the answer (slot_index, slot_report, task_report); NULL when lost */
} te_tm_result_t;

typedef void (*te_tm_done_fn)(void *arg, te_tm_gateway_t *gw, const te_tm_result_t *r);

/* What the TaskExecutor sends unasked. `push` is borrowed until the call returns. */
typedef struct te_tm_listener {
    /* TaskExecutionState, AcknowledgeCheckpoint or DeclineCheckpoint. */
    void (*on_push)(void *arg, te_tm_gateway_t *gw, const Te__RpcMessage *push);
    /* The connection is gone; nothing more will arrive (pending operations complete
     * with `lost`). */
    void (*on_lost)(void *arg, te_tm_gateway_t *gw, const char *cause);
} te_tm_listener_t;

typedef struct te_tm_gateway_ops {
    /* The TaskExecutor's RPC address ("host:port"), for messages. */
    const char *(*address)(const te_tm_gateway_t *gw);
    /* Replaces the listener (NULL = none). */
    void (*set_listener)(te_tm_gateway_t *gw, const te_tm_listener_t *l, void *arg);
    /* Opens the connection (a gateway over an accepted connection completes at once). */
    void (*connect)(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg);
    void (*request_slot_report)(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg);
    void (*register_job_manager)(te_tm_gateway_t *gw, const te_id_t *job_id, const te_id_t *job_master_id,
                                 const char *job_name, te_tm_done_fn done, void *arg);
    /* slot_index -1 = any free slot; the granted index is in response->slot_index. */
    void (*request_slot)(te_tm_gateway_t *gw, const te_id_t *job_id, const te_id_t *job_master_id,
                         const te_id_t *allocation_id, int32_t slot_index, te_tm_done_fn done, void *arg);
    void (*submit_task)(te_tm_gateway_t *gw, const te_id_t *job_master_id, const Te__TaskDeploymentDescriptor *tdd,
                        te_tm_done_fn done, void *arg);
    void (*cancel_task)(te_tm_gateway_t *gw, const te_id_t *execution_id, te_tm_done_fn done, void *arg);
    void (*free_slot)(te_tm_gateway_t *gw, const te_id_t *allocation_id, const char *cause, te_tm_done_fn done,
                      void *arg);
    /* terminate: stop-with-savepoint (the source ends its input after the barrier). */
    void (*trigger_checkpoint)(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t checkpoint_id,
                               int64_t timestamp_ms, int terminate, te_tm_done_fn done, void *arg);
    void (*confirm_checkpoint)(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t checkpoint_id,
                               te_tm_done_fn done, void *arg);
    void (*abort_checkpoint)(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t checkpoint_id,
                             te_tm_done_fn done, void *arg);
    void (*heartbeat)(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done, void *arg);
    void (*request_task_report)(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done, void *arg);
    void (*disconnect_job_manager)(te_tm_gateway_t *gw, const te_id_t *job_id, const char *cause,
                                   te_tm_done_fn done, void *arg);
    /* Closes the connection, completes pending operations with `lost`, frees. */
    void (*free)(te_tm_gateway_t *gw);
} te_tm_gateway_ops_t;

/* Every implementation starts with this header. */
struct te_tm_gateway {
    const te_tm_gateway_ops_t *ops;
};

/* Inline wrappers, so a reader (and a tool) can follow the calls. */
static inline const char *tm_gateway_address(const te_tm_gateway_t *gw) { return gw->ops->address(gw); }
static inline void tm_gateway_set_listener(te_tm_gateway_t *gw, const te_tm_listener_t *l, void *arg)
{
    gw->ops->set_listener(gw, l, arg);
}
static inline void tm_gateway_connect(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    gw->ops->connect(gw, done, arg);
}
static inline void tm_gateway_request_slot_report(te_tm_gateway_t *gw, te_tm_done_fn done, void *arg)
{
    gw->ops->request_slot_report(gw, done, arg);
}
static inline void tm_gateway_register_job_manager(te_tm_gateway_t *gw, const te_id_t *job_id,
                                                   const te_id_t *job_master_id, const char *job_name,
                                                   te_tm_done_fn done, void *arg)
{
    gw->ops->register_job_manager(gw, job_id, job_master_id, job_name, done, arg);
}
static inline void tm_gateway_request_slot(te_tm_gateway_t *gw, const te_id_t *job_id,
                                           const te_id_t *job_master_id, const te_id_t *allocation_id,
                                           int32_t slot_index, te_tm_done_fn done, void *arg)
{
    gw->ops->request_slot(gw, job_id, job_master_id, allocation_id, slot_index, done, arg);
}
static inline void tm_gateway_submit_task(te_tm_gateway_t *gw, const te_id_t *job_master_id,
                                          const Te__TaskDeploymentDescriptor *tdd, te_tm_done_fn done, void *arg)
{
    gw->ops->submit_task(gw, job_master_id, tdd, done, arg);
}
static inline void tm_gateway_cancel_task(te_tm_gateway_t *gw, const te_id_t *execution_id, te_tm_done_fn done,
                                          void *arg)
{
    gw->ops->cancel_task(gw, execution_id, done, arg);
}
static inline void tm_gateway_free_slot(te_tm_gateway_t *gw, const te_id_t *allocation_id, const char *cause,
                                        te_tm_done_fn done, void *arg)
{
    gw->ops->free_slot(gw, allocation_id, cause, done, arg);
}
static inline void tm_gateway_trigger_checkpoint(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t id,
                                                 int64_t timestamp_ms, int terminate, te_tm_done_fn done,
                                                 void *arg)
{
    gw->ops->trigger_checkpoint(gw, execution_id, id, timestamp_ms, terminate, done, arg);
}
static inline void tm_gateway_confirm_checkpoint(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t id,
                                                 te_tm_done_fn done, void *arg)
{
    gw->ops->confirm_checkpoint(gw, execution_id, id, done, arg);
}
static inline void tm_gateway_abort_checkpoint(te_tm_gateway_t *gw, const te_id_t *execution_id, uint64_t id,
                                               te_tm_done_fn done, void *arg)
{
    gw->ops->abort_checkpoint(gw, execution_id, id, done, arg);
}
static inline void tm_gateway_heartbeat(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done, void *arg)
{
    gw->ops->heartbeat(gw, job_id, done, arg);
}
static inline void tm_gateway_request_task_report(te_tm_gateway_t *gw, const te_id_t *job_id, te_tm_done_fn done,
                                                  void *arg)
{
    gw->ops->request_task_report(gw, job_id, done, arg);
}
static inline void tm_gateway_disconnect_job_manager(te_tm_gateway_t *gw, const te_id_t *job_id, const char *cause,
                                                     te_tm_done_fn done, void *arg)
{
    gw->ops->disconnect_job_manager(gw, job_id, cause, done, arg);
}
/* NULL: no-op. */
static inline void tm_gateway_free(te_tm_gateway_t *gw)
{
    if (gw != NULL)
        gw->ops->free(gw);
}

#endif
