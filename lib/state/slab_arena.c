/*
 * slab_arena — size-class chunks in mmap'd 1 MiB slabs, 32-bit references (see
 * slab_arena.h).
 *
 * Classes (in bytes): 8..64 by the unit, 72..128 by 8 (by 4 with units of 2 or 4
 * bytes), 144..1024 by 16, 1280..4096 by 256: at most 113 classes (2-byte units). A free chunk's first 4 bytes hold the reference
 * of the next free chunk of its class. Unit 0 of slab 0 is never handed out, so the
 * reference 0 means none.
 *
 * Threading: the owner thread only (see slab_arena.h).
 */
#include "state/slab_arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAX_SLABS_BITS 32u

te_slab_arena_t *slab_arena_new(unsigned shift, te_slab_reserve_fn reserve, void *reserve_arg)
{
    if (shift < 1 || shift > 3)
        return NULL;
    te_slab_arena_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->shift = shift;
    a->unit_bits = 20 - shift;
    a->reserve = reserve;
    a->reserve_arg = reserve_arg;
    return a;
}

void slab_arena_free(te_slab_arena_t *a)
{
    if (a == NULL)
        return;
    for (uint32_t i = 0; i < a->n_slabs; i++) {
        munmap(a->slabs[i], SLAB_ARENA_SLAB_BYTES);
        if (a->reserve)
            a->reserve(a->reserve_arg, -(int64_t)SLAB_ARENA_SLAB_BYTES);
    }
    free(a->slabs);
    free(a);
}

/* The step of the classes from 64 to 128 bytes. */
static size_t mid_step(size_t unit) { return unit < 4 ? 4 : unit; }

unsigned slab_arena_class(const te_slab_arena_t *a, size_t bytes)
{
    size_t unit = (size_t)1 << a->shift, mid = mid_step(unit);
    if (bytes < 8)
        bytes = 8;
    if (bytes <= 64)
        return (unsigned)((bytes + unit - 1) / unit - 8 / unit);
    unsigned base = (unsigned)((64 - 8) / unit + 1);
    if (bytes <= 128)
        return base + (unsigned)((bytes - 64 + mid - 1) / mid - 1);
    base += (unsigned)((128 - 64) / mid);
    if (bytes <= 1024)
        return base + (unsigned)((bytes - 128 + 15) / 16 - 1);
    base += (1024 - 128) / 16;
    return base + (unsigned)((bytes - 1024 + 255) / 256 - 1);
}

size_t slab_arena_class_size(const te_slab_arena_t *a, unsigned cls)
{
    size_t unit = (size_t)1 << a->shift, mid = mid_step(unit);
    unsigned small = (unsigned)((64 - 8) / unit + 1);
    if (cls < small)
        return 8 + cls * unit;
    cls -= small;
    if (cls < (128 - 64) / mid)
        return 64 + (cls + 1) * mid;
    cls -= (unsigned)((128 - 64) / mid);
    if (cls < (1024 - 128) / 16)
        return 128 + (cls + 1) * 16;
    cls -= (1024 - 128) / 16;
    return 1024 + (cls + 1) * 256;
}

static int add_slab(te_slab_arena_t *a)
{
    if (slab_arena_full(a))
        return -1;
    if (a->reserve && a->reserve(a->reserve_arg, SLAB_ARENA_SLAB_BYTES) != 0)
        return -1;
    if (a->n_slabs == a->cap_slabs) {
        uint32_t nc = a->cap_slabs ? a->cap_slabs * 2 : 16;
        uint8_t **p = realloc(a->slabs, nc * sizeof(*p));
        if (p == NULL)
            goto unreserve;
        a->slabs = p;
        a->cap_slabs = nc;
    }
    void *m = mmap(NULL, SLAB_ARENA_SLAB_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        goto unreserve;
    a->slabs[a->n_slabs++] = m;
    a->bump = a->n_slabs == 1 ? 8u >> a->shift : 0; /* reference 0 is never a chunk */
    return 0;
unreserve:
    if (a->reserve)
        a->reserve(a->reserve_arg, -(int64_t)SLAB_ARENA_SLAB_BYTES);
    return -1;
}

uint32_t slab_arena_alloc(te_slab_arena_t *a, unsigned cls)
{
    size_t size = slab_arena_class_size(a, cls);
    uint32_t ref = a->free_head[cls];
    if (ref != 0) {
        uint32_t next;
        memcpy(&next, slab_arena_at(a, ref), sizeof(next));
        a->free_head[cls] = next;
        /* the list runs through freed chunks all over the slabs: ask for the next one
         * now, so the next allocation of the class does not wait for it */
        if (next != 0)
            __builtin_prefetch(slab_arena_at(a, next), 1);
        a->chunk_bytes += size;
        return ref;
    }
    uint32_t units = (uint32_t)(size >> a->shift);
    if (a->n_slabs == 0 || a->bump + units > (1u << a->unit_bits)) {
        if (add_slab(a) != 0)
            return 0;
    }
    ref = ((a->n_slabs - 1) << a->unit_bits) | a->bump;
    a->bump += units;
    a->chunk_bytes += size;
    return ref;
}

void slab_arena_release(te_slab_arena_t *a, uint32_t ref, unsigned cls)
{
    if (ref == 0)
        return;
    memcpy(slab_arena_at(a, ref), &a->free_head[cls], sizeof(uint32_t));
    a->free_head[cls] = ref;
    a->chunk_bytes -= slab_arena_class_size(a, cls);
}

int slab_arena_full(const te_slab_arena_t *a) { return a->n_slabs >= (1u << (MAX_SLABS_BITS - a->unit_bits)); }

uint64_t slab_arena_mapped(const te_slab_arena_t *a) { return (uint64_t)a->n_slabs * SLAB_ARENA_SLAB_BYTES; }

uint8_t **slab_arena_table_copy(const te_slab_arena_t *a)
{
    uint8_t **t = malloc((a->n_slabs ? a->n_slabs : 1) * sizeof(*t));
    if (t != NULL && a->n_slabs)
        memcpy(t, a->slabs, a->n_slabs * sizeof(*t));
    return t;
}
