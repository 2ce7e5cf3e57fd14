/*
 * partition_manager — the daemon's registry of produced ResultPartitions, keyed by
 * partition id (Flink's ResultPartitionManager). Local input channels and the
 * partition server create subpartition views through it.
 *
 * Threading: thread-safe (one mutex). Registration listeners are called without the
 * lock, on the registering thread.
 */
#ifndef TE_PARTITION_MANAGER_H
#define TE_PARTITION_MANAGER_H

#include "common/ids.h"
#include "common/te_status.h"
#include "shuffle/result_partition.h"

typedef struct te_partition_manager te_partition_manager_t;

te_partition_manager_t *partition_manager_new(void);
void partition_manager_free(te_partition_manager_t *pm);

/* Retains rp. TE_EEXIST when the id is registered already. */
te_status_t partition_manager_register(te_partition_manager_t *pm, te_result_partition_t *rp, te_error_t *err);
/* Drops the manager's reference (no-op when unknown). */
void partition_manager_unregister(te_partition_manager_t *pm, const te_id_t *partition_id);

/* A reader view of (partition, sub). TE_ENOTFOUND ("PartitionNotFound") when the
 * partition is not registered (yet). */
te_subpartition_view_t *partition_manager_create_view(te_partition_manager_t *pm, const te_id_t *partition_id,
                                                      uint32_t sub, te_notifier_t listener, te_error_t *err);
/* One-shot: fires when `partition_id` gets registered (at once, returning 1, when it is
 * already). Returns 0 when armed. A listener may be disarmed with _cancel_listener
 * (matching fn and arg); that must happen before `arg` is freed. */
int partition_manager_notify_when_registered(te_partition_manager_t *pm, const te_id_t *partition_id,
                                             te_notifier_t n);
void partition_manager_cancel_listener(te_partition_manager_t *pm, te_notifier_t n);

uint32_t partition_manager_count(te_partition_manager_t *pm);

#endif
