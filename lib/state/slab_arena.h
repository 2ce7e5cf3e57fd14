/*
 * slab_arena — internal to lib/state: the allocator of the hashmap backend. Chunks of
 * up to SLAB_ARENA_MAX_CHUNK bytes in size classes, carved from 1 MiB slabs mapped with
 * mmap, addressed by 32-bit references (slab index and offset in `unit` bytes), so a
 * hash-table slot holds a reference and a hash in 8 bytes, an entry pays no malloc
 * header, and freeing the arena unmaps its slabs: the memory goes back to the system
 * at once, whatever malloc's heap looks like.
 *
 * Freed chunks go to a free list per class and are reused; a slab is unmapped only
 * with the arena. Every new slab is reserved through the reserve callback first (the
 * slot's managed-memory budget); a refusal makes the allocation fail.
 *
 * A reader on another thread resolves references through its own copy of the slab
 * table (slab_arena_table_copy): slabs never move while the arena lives.
 *
 * Threading: one owner thread allocates and frees; readers of copied tables may run on
 * other threads over chunks the owner does not touch (the hashmap's copy-on-write
 * rules guarantee that). No locks.
 */
#ifndef TE_SLAB_ARENA_H
#define TE_SLAB_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define SLAB_ARENA_SLAB_BYTES (1u << 20)
#define SLAB_ARENA_MAX_CHUNK  4096u
#define SLAB_ARENA_N_CLASSES  113

/* Called before a slab is mapped (delta > 0) and after it is unmapped (delta < 0);
 * returning non-zero refuses the slab. */
typedef int (*te_slab_reserve_fn)(void *arg, int64_t delta);

typedef struct te_slab_arena {
    uint8_t **slabs; /* slab i's base address */
    uint32_t n_slabs, cap_slabs;
    unsigned shift;     /* log2 of the unit: 1, 2 or 3 (2-, 4- or 8-byte units) */
    unsigned unit_bits; /* log2 of the units per slab */
    uint32_t bump;      /* next free unit in the last slab */
    uint32_t free_head[SLAB_ARENA_N_CLASSES];
    te_slab_reserve_fn reserve;
    void *reserve_arg;
    uint64_t chunk_bytes; /* bytes of chunks handed out */
} te_slab_arena_t;

/* shift: 1, 2 or 3 (chunks aligned to 2, 4 or 8 bytes). References address 2^32
 * units: 8 GiB of slabs with 2-byte units, 16 GiB with 4, 32 GiB with 8. */
te_slab_arena_t *slab_arena_new(unsigned shift, te_slab_reserve_fn reserve, void *reserve_arg);
/* Unmaps every slab (and un-reserves them). NULL is a no-op. */
void slab_arena_free(te_slab_arena_t *a);

/* The class of a request of `bytes` (1..MAX_CHUNK), and its chunk size. */
unsigned slab_arena_class(const te_slab_arena_t *a, size_t bytes);
size_t slab_arena_class_size(const te_slab_arena_t *a, unsigned cls);

/* A chunk of class cls: its reference, 0 when no slab could be had. */
uint32_t slab_arena_alloc(te_slab_arena_t *a, unsigned cls);
void slab_arena_release(te_slab_arena_t *a, uint32_t ref, unsigned cls);

static inline void *slab_arena_ptr(uint8_t *const *slabs, unsigned shift, unsigned unit_bits, uint32_t ref)
{
    return slabs[ref >> unit_bits] + ((size_t)(ref & ((1u << unit_bits) - 1)) << shift);
}

static inline void *slab_arena_at(const te_slab_arena_t *a, uint32_t ref)
{
    return slab_arena_ptr(a->slabs, a->shift, a->unit_bits, ref);
}

/* Whether every reference is used: no further slab can be added. */
int slab_arena_full(const te_slab_arena_t *a);

/* Mapped bytes (slabs) and handed-out bytes. */
uint64_t slab_arena_mapped(const te_slab_arena_t *a);

/* A malloc'd copy of the slab table (n_slabs entries) for a reader; NULL when out of
 * memory. The reader frees it. */
uint8_t **slab_arena_table_copy(const te_slab_arena_t *a);

#endif
