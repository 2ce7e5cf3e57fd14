/*
 * managed_memory — the TaskExecutor's managed memory for keyed state
 * (`taskmanager.memory.managed.size`, Flink's managed memory): split evenly over the
 * slots, each slot's share a budget its tasks draw from, so no job can take the
 * host's memory and the kernel's OOM killer never has to pick a victim.
 *
 *   hashmap: every slab a task's backends map is reserved from the budget first; past
 *   the share the reservation is refused and the task fails with an error naming the
 *   budget (managed_memory_describe) — only that task, never another job.
 *   rocksdb: the slot's tasks share one block cache of the share's size and one
 *   write-buffer manager charging their memtables to it (rocksdb_memory.h), so RocksDB
 *   stays within the share whatever the state size: beyond it, state lives on disk.
 *
 * A size of 0 means 40% of the machine's physical memory (Flink's default managed
 * fraction: the rest is for the network arena, the engine and the kernel's page cache,
 * which RocksDB relies on).
 *
 * Threading: new/free on the control thread while no task runs; reserve and the
 * getters from any thread (an atomic per budget); the RocksDB resources of a slot are
 * created once under a mutex (a leaf lock).
 */
#ifndef TE_MANAGED_MEMORY_H
#define TE_MANAGED_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "common/te_status.h"
#include "state/rocksdb_memory.h"

typedef struct te_managed_memory te_managed_memory_t;
typedef struct te_memory_budget te_memory_budget_t;

/* total: bytes (0 = 40% of physical memory); slots >= 1. NULL + err. */
te_managed_memory_t *managed_memory_new(uint64_t total, unsigned slots, te_error_t *err);
void managed_memory_free(te_managed_memory_t *mm);
uint64_t managed_memory_total(const te_managed_memory_t *mm);
/* Slot i's budget (borrowed for the life of mm). NULL when i is out of range. */
te_memory_budget_t *managed_memory_slot(te_managed_memory_t *mm, unsigned i);

/* Reserves delta bytes (> 0) or returns them (< 0). 0, or -1 when the reservation
 * would pass the limit (nothing reserved then). */
int managed_memory_reserve(te_memory_budget_t *b, int64_t delta);
uint64_t managed_memory_limit(const te_memory_budget_t *b);
uint64_t managed_memory_used(const te_memory_budget_t *b);
/* "slot 2's managed memory: 64.0 MiB of 64.0 MiB in use (taskmanager.memory.managed.size
 * 256.0 MiB over 4 slots)" */
void managed_memory_describe(const te_memory_budget_t *b, char *buf, size_t len);
/* The slot's RocksDB cache and write-buffer manager (created on first use; NULL when
 * out of memory). */
te_rocksdb_memory_t *managed_memory_rocksdb(te_memory_budget_t *b);

#endif
