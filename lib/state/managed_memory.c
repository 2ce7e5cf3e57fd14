/*
 * managed_memory — per-slot budgets of managed memory (see managed_memory.h).
 *
 * Threading: `used` is atomic (compare-and-swap against the limit); `mu` guards the
 * lazily created RocksDB resources of a slot.
 */
#include "state/managed_memory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct te_memory_budget {
    te_managed_memory_t *mm;
    unsigned index;
    uint64_t limit;
    _Atomic uint64_t used;
    pthread_mutex_t mu;
    te_rocksdb_memory_t *rocksdb;
};

struct te_managed_memory {
    uint64_t total;
    unsigned n;
    te_memory_budget_t *slots;
};

te_managed_memory_t *managed_memory_new(uint64_t total, unsigned slots, te_error_t *err)
{
    if (slots == 0) {
        te_error_set(err, TE_EINVAL, "managed memory: no slots");
        return NULL;
    }
    if (total == 0) { /* 40% of physical memory */
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        total = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page / 10 * 4 : (uint64_t)1 << 30;
    }
    te_managed_memory_t *mm = calloc(1, sizeof(*mm));
    if (mm == NULL || (mm->slots = calloc(slots, sizeof(*mm->slots))) == NULL) {
        free(mm);
        te_error_set(err, TE_ENOMEM, "out of memory creating the managed-memory budgets");
        return NULL;
    }
    mm->total = total;
    mm->n = slots;
    for (unsigned i = 0; i < slots; i++) {
        te_memory_budget_t *b = &mm->slots[i];
        b->mm = mm;
        b->index = i;
        b->limit = total / slots;
        atomic_init(&b->used, 0);
        pthread_mutex_init(&b->mu, NULL);
    }
    return mm;
}

void managed_memory_free(te_managed_memory_t *mm)
{
    if (mm == NULL)
        return;
    for (unsigned i = 0; i < mm->n; i++) {
        rocksdb_memory_free(mm->slots[i].rocksdb);
        pthread_mutex_destroy(&mm->slots[i].mu);
    }
    free(mm->slots);
    free(mm);
}

uint64_t managed_memory_total(const te_managed_memory_t *mm) { return mm->total; }

te_memory_budget_t *managed_memory_slot(te_managed_memory_t *mm, unsigned i)
{
    return mm != NULL && i < mm->n ? &mm->slots[i] : NULL;
}

int managed_memory_reserve(te_memory_budget_t *b, int64_t delta)
{
    if (delta <= 0) {
        atomic_fetch_sub(&b->used, (uint64_t)-delta);
        return 0;
    }
    uint64_t cur = atomic_load(&b->used);
    do {
        if (cur + (uint64_t)delta > b->limit)
            return -1;
    } while (!atomic_compare_exchange_weak(&b->used, &cur, cur + (uint64_t)delta));
    return 0;
}

uint64_t managed_memory_limit(const te_memory_budget_t *b) { return b->limit; }

uint64_t managed_memory_used(const te_memory_budget_t *b) { return atomic_load(&((te_memory_budget_t *)b)->used); }

static double mib(uint64_t v) { return (double)v / (1024.0 * 1024.0); }

void managed_memory_describe(const te_memory_budget_t *b, char *buf, size_t len)
{
    snprintf(buf, len,
             "slot %u's managed memory: %.1f MiB of %.1f MiB in use (taskmanager.memory.managed.size %.1f MiB "
             "over %u slots)",
             b->index, mib(managed_memory_used(b)), mib(b->limit), mib(b->mm->total), b->mm->n);
}

te_rocksdb_memory_t *managed_memory_rocksdb(te_memory_budget_t *b)
{
    pthread_mutex_lock(&b->mu);
    if (b->rocksdb == NULL)
        b->rocksdb = rocksdb_memory_new((size_t)b->limit);
    te_rocksdb_memory_t *m = b->rocksdb;
    pthread_mutex_unlock(&b->mu);
    return m;
}
