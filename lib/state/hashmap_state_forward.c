/*
 * hashmap_state_forward — the forwarding table of the hashmap keyed-state backend
 * (hashmap_state_backend.c says when an entry is forwarded): the reference of an
 * entry a view still reads -> the reference of the entry that replaced it for the
 * task, with the key group and the slot it was in then (a hint: slots move). Open
 * addressing with linear probing on the old reference, at most half full; records are
 * never removed one by one (a resolved or dropped one keeps its place with nref 0, so a
 * scan resolving them in table order misses none), the table is dropped whole.
 *
 * Threading: the owner (task) thread only; views never read it.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "state/hashmap_state_internal.h"
#include "state/managed_memory.h"

/* A zeroed table of cap records, reserved from the slot's managed memory like the
 * arenas' slabs (a refusal sets b->refused), its pages faulted in writable: a fresh
 * mapping (what calloc returns at this size) would map the shared zero page at a
 * lookup's read and take a TLB shootdown, an IPI to every core, at the write that
 * follows, once per 4 KiB (10^7 keys: 3.5% of the task's time). NULL when refused or
 * out of memory. */
static hm_fwd_t *table_map(hm_backend_t *b, uint32_t cap)
{
    int64_t bytes = (int64_t)cap * (int64_t)sizeof(hm_fwd_t);
    if (b->budget != NULL && managed_memory_reserve(b->budget, bytes) != 0) {
        b->refused = 1;
        return NULL;
    }
    void *m = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m != MAP_FAILED)
        return m;
    if (b->budget != NULL)
        managed_memory_reserve(b->budget, -bytes);
    return NULL;
}

static void table_unmap(hm_backend_t *b, hm_fwd_t *t, uint32_t cap)
{
    if (t == NULL)
        return;
    munmap(t, (size_t)cap * sizeof(hm_fwd_t));
    if (b->budget != NULL)
        managed_memory_reserve(b->budget, -(int64_t)cap * (int64_t)sizeof(hm_fwd_t));
}

static inline uint32_t fwd_home(const hm_backend_t *b, uint32_t old)
{
    return (uint32_t)(((uint64_t)old * 0x9e3779b97f4a7c15ULL) >> 32) & (b->fwd_cap - 1);
}

hm_fwd_t *hm_fwd_find(const hm_backend_t *b, uint32_t old)
{
    if (b->fwd_n == 0)
        return NULL;
    for (uint32_t j = fwd_home(b, old);; j = (j + 1) & (b->fwd_cap - 1)) {
        if (b->fwd[j].old == old)
            return &b->fwd[j];
        if (b->fwd[j].old == 0)
            return NULL;
    }
}

/* Puts r in the table (over a record of the same old reference, which can only be a
 * resolved one: its entry was freed and its reference handed out again). 1 when new. */
static int fwd_insert(hm_backend_t *b, const hm_fwd_t *r)
{
    uint32_t j = fwd_home(b, r->old);
    while (b->fwd[j].old != 0 && b->fwd[j].old != r->old)
        j = (j + 1) & (b->fwd_cap - 1);
    int fresh = b->fwd[j].old == 0;
    b->fwd[j] = *r;
    return fresh;
}

int hm_fwd_add(hm_backend_t *b, uint32_t old, uint32_t nref, uint32_t group, uint32_t pos)
{
    if ((uint64_t)(b->fwd_n + 1) * 2 > b->fwd_cap) {
        /* the first record of a view's time: room for as many as the last one had, so
         * the table does not grow (a rehash is a cache miss a record) */
        uint32_t ncap = b->fwd_cap ? b->fwd_cap * 2 : 1024;
        while (b->fwd_cap == 0 && ncap < (1u << 31) && ncap / 2 < b->fwd_last)
            ncap *= 2;
        hm_fwd_t *was = b->fwd, *t = table_map(b, ncap);
        if (t == NULL)
            return -1;
        uint32_t ocap = b->fwd_cap;
        b->fwd = t;
        b->fwd_cap = ncap;
        for (uint32_t j = 0; j < ocap; j++)
            if (was[j].old != 0)
                fwd_insert(b, &was[j]);
        table_unmap(b, was, ocap);
    }
    hm_fwd_t r = {old, nref, pos, group};
    b->fwd_n += (uint32_t)fwd_insert(b, &r);
    return 0;
}

void hm_fwd_clear(hm_backend_t *b)
{
    b->fwd_last = b->fwd_n;
    b->fwd_resolving = 0;
    b->fwd_scan = 0;
    table_unmap(b, b->fwd, b->fwd_cap);
    b->fwd = NULL;
    b->fwd_cap = b->fwd_n = 0;
}
