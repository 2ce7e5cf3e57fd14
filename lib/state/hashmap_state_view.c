/*
 * hashmap_state_view — the copy-on-write views of the hashmap keyed-state backend
 * (hashmap_state_backend.c explains the versions): taking one copies each group's
 * page-reference array and the arenas' slab tables; walking reads the pages and
 * entries through those copies; releasing sets a flag the owner reaps.
 *
 * Threading: take on the owner (task) thread (a checkpoint's synchronous part); walk,
 * count, group_done and release on a snapshot thread while the owner goes on; the
 * owner frees a released view (hm_reap). No locks: atomics as the backend says.
 */
#include <stdlib.h>

#include "state/hashmap_state_internal.h"

/* Decodes an entry through a view's copy of the slab table (only the lengths and data). */
static void view_entry_decode(const hm_view_t *v, uint32_t ref, hm_entry_t *e)
{
    const uint8_t *p = entry_decode_header(slab_arena_ptr(v->eslabs, v->eshift, v->ebits, ref), e);
    if (e->cls == CLASS_INDIRECT)
        memcpy(&e->data, p, sizeof(e->data));
}

void hm_view_free_memory(hm_view_t *v)
{
    if (v->groups)
        for (uint32_t g = 0; g < v->maxp; g++)
            free(v->groups[g].pages);
    free(v->groups);
    free(v->eslabs);
    free(v->pslabs);
    free(v);
}

void *hm_view_take(void *impl, te_error_t *err)
{
    hm_backend_t *b = impl;
    b->again_ok = 0;
    hm_maybe_reap(b);
    if (b->fwd_n > 0 && hm_fwd_resolve_all(b) != 0) { /* a view still live: their pages are copied */
        te_error_set(err, TE_ENOMEM, "out of memory taking a snapshot of hashmap state: %s", b->error);
        return NULL;
    }
    if (b->version == UINT32_MAX) {
        te_error_set(err, TE_ETOOBIG, "hashmap state: 4 billion snapshots taken; restart the task");
        return NULL;
    }
    hm_view_t *v = calloc(1, sizeof(*v));
    if (v == NULL || b->n_views == b->cap_views) {
        size_t nc = b->cap_views ? b->cap_views * 2 : 4;
        hm_view_t **p = v ? realloc(b->views, nc * sizeof(*p)) : NULL;
        if (p == NULL)
            goto oom;
        b->views = p;
        b->cap_views = nc;
    }
    v->b = b;
    v->maxp = b->maxp;
    v->eshift = b->entries->shift;
    v->ebits = b->entries->unit_bits;
    v->pshift = b->pages->shift;
    v->pbits = b->pages->unit_bits;
    v->eslabs = slab_arena_table_copy(b->entries);
    v->pslabs = slab_arena_table_copy(b->pages);
    v->groups = calloc(b->maxp, sizeof(*v->groups));
    if (v->eslabs == NULL || v->pslabs == NULL || v->groups == NULL)
        goto oom;
    for (uint32_t g = 0; g < b->maxp; g++) {
        hm_group_t *t = &b->groups[g];
        if (t->used == 0)
            continue;
        uint32_t np = t->cap >> page_log(t->cap);
        v->groups[g] = (hm_view_group_t){t->cap, t->used, malloc(np * sizeof(uint32_t))};
        if (v->groups[g].pages == NULL)
            goto oom;
        memcpy(v->groups[g].pages, t->pages, np * sizeof(uint32_t));
    }
    v->version = b->version++;
    b->snap_hi = v->version;
    v->early = b->n_views == 0;
    b->early = v->early;
    for (uint32_t g = 0; v->early && g < b->maxp; g++)
        atomic_store_explicit(&b->pins[g], b->groups[g].used ? v->version : 0, memory_order_relaxed);
    b->views[b->n_views++] = v;
    return v;
oom:
    if (v)
        hm_view_free_memory(v);
    te_error_set(err, TE_ENOMEM, "out of memory taking a snapshot of hashmap state");
    return NULL;
}

/* Slot j of a view's copy of a group's table (slot_get for a view). */
static inline uint64_t view_slot_get(const hm_view_t *v, const hm_view_group_t *g, unsigned pl, uint32_t j)
{
    uint64_t *page = slab_arena_ptr(v->pslabs, v->pshift, v->pbits, g->pages[j >> pl]);
    /* the owner may set a slot's forwarded bit meanwhile (atomically); the rest stays */
    return __atomic_load_n(&page[j & ((1u << pl) - 1)], __ATOMIC_RELAXED);
}

int hm_view_foreach_group(void *view, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    hm_view_t *v = view;
    const hm_view_group_t *g = &v->groups[kg % v->maxp];
    if (g->used == 0)
        return 0;
    unsigned pl = page_log(g->cap);
    for (uint32_t j = 0; j < g->cap; j++) {
        if (j + WALK_AHEAD < g->cap) {
            uint64_t a = view_slot_get(v, g, pl, j + WALK_AHEAD);
            if (a != 0)
                __builtin_prefetch(slab_arena_ptr(v->eslabs, v->eshift, v->ebits, (uint32_t)(a >> 32)), 0, 0);
        }
        uint64_t s = view_slot_get(v, g, pl, j);
        if (s == 0)
            continue;
        hm_entry_t e;
        view_entry_decode(v, (uint32_t)(s >> 32), &e);
        int rc = fn(arg, kg, e.data, e.keylen, e.data + e.keylen, e.nslen, e.data + e.keylen + e.nslen, e.vallen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

uint64_t hm_view_group_entries(void *view, uint32_t kg)
{
    hm_view_t *v = view;
    return v->groups[kg % v->maxp].used;
}

void hm_view_group_done(void *view, uint32_t kg)
{
    hm_view_t *v = view;
    if (v->early) /* written: the owner may change the group's pages and entries again */
        atomic_store_explicit(&v->b->pins[kg % v->maxp], 0, memory_order_release);
}

void hm_view_release(void *view)
{
    hm_view_t *v = view;
    hm_backend_t *b = v->b;
    atomic_store_explicit(&v->done, 1, memory_order_release);
    atomic_fetch_add_explicit(&b->release_events, 1, memory_order_release);
}

const char *hm_view_error(void *view)
{
    (void)view;
    return "hashmap snapshot";
}
