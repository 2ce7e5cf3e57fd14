/*
 * task_executor — the daemon's glue (Flink's TaskExecutor): owns the TaskSlotTable,
 * the JobManager connections, the registry of deployed tasks, the network buffer
 * pool, partition manager and output flusher; serves the control-plane RPC and the
 * status endpoint on the control thread.
 *
 * Threading: everything runs on the control thread (the one running `base`), except
 * the task state listener, which task threads call; it hands updates to the control
 * thread through the control queue (mutex + event_active). evthread_use_pthreads()
 * must have been called before `base` was created.
 */
#ifndef TE_TASK_EXECUTOR_H
#define TE_TASK_EXECUTOR_H

#include "common/config.h"
#include "common/te_status.h"
#include "task/task.h"

struct event_base;

typedef struct te_task_executor te_task_executor_t;

/* Called when a task does not cancel within task.cancellation.timeout: the process
 * is in an unknown state and main decides (normally exits). */
typedef void (*te_fatal_fn)(void *arg, const char *why);

/* Binds the RPC and status ports and allocates the network memory. cfg is borrowed
 * for the executor's life. NULL + err naming what failed. */
te_task_executor_t *task_executor_new(struct event_base *base, const te_config_t *cfg, te_fatal_fn fatal,
                                      void *fatal_arg, te_error_t *err);
void task_executor_free(te_task_executor_t *te);

int task_executor_rpc_port(const te_task_executor_t *te);
int task_executor_data_port(const te_task_executor_t *te);
int task_executor_status_port(const te_task_executor_t *te);
const char *task_executor_resource_id(const te_task_executor_t *te);

/* Starts a shutdown: refuses new work, cancels every task. `done` is called (control
 * thread) once no task is running any more (at once when none is). */
void task_executor_shutdown(te_task_executor_t *te, void (*done)(void *arg), void *arg);

/* Control thread (SIGHUP reload): makes cfg the executor's config (borrowed for its
 * life from now on; the caller frees the previous one after this returns) and applies
 * its live keys (heartbeat.timeout, taskmanager.slot.timeout, task.cancellation.*) to
 * later decisions. Running tasks are not touched. Restart-only keys of cfg must equal
 * the old ones (config_merge_live builds such a config). */
void task_executor_reconfigure(te_task_executor_t *te, const te_config_t *cfg);

/* The operator resolver the executor gives its tasks (executor_operators.c): the
 * built-ins, and `plugin` operators from plugins_dir (borrowed for the resolver's use). */
te_operator_resolver_t task_executor_operator_resolver(const char *plugins_dir);

/* Control thread: the configuration file the daemon was started with; like plugins.dir
 * and the security.* files, no job may read or write it (executor_confine.c). */
void task_executor_protect_config_file(te_task_executor_t *te, const char *path);

#endif
