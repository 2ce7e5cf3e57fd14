/*
 * hashmap_state_backend — the `hashmap` keyed-state backend (Flink's
 * HashMapStateBackend with its CopyOnWriteStateMap): entries in memory, one hash table
 * per key group (created on first use), so a key group can be walked, snapshotted or
 * dropped on its own; snapshots are copy-on-write views, so a checkpoint's synchronous
 * part is O(pages), not O(entries), and the task goes on changing the state while a
 * snapshot thread writes the view out.
 *
 * Layout. A table is open addressing with linear probing, deletion by backward shift
 * (no tombstones). Its capacity is a power of two up to one page of 512 slots, then a
 * whole number of pages, grown by a quarter at 85% load (doubling at 80% would leave a
 * table at 40-80% load, on average 58%; this keeps it at 68-85%, on average 76%, for
 * a few more probes); a hash's home slot is (hash * capacity) >> 31. A slot is 8
 * bytes: a 32-bit reference into the entry arena (0 = empty), 31 bits of the entry's
 * hash and the owned bit (below). The slots are split into pages of up to 512 (4 KiB,
 * from a second arena) so a snapshot can share them. An entry is one chunk of the
 * entry arena (slab_arena.c, 2-byte units: 8 GiB of entries at most):
 *     u8 class | varint keylen | [varint nslen] | varint vallen |
 *     key | namespace | value (up to the chunk's end: room to grow in place)
 * where the class byte's top bit (ENTRY_NO_NS) says the namespace is empty and its
 * length absent — a 7-byte key with an 8-byte value takes 18 bytes; or, above the
 * arena's largest chunk, the same header with class CLASS_INDIRECT followed by a
 * pointer to a malloc'd key | namespace | value and its u32 value capacity.
 *
 * Copy-on-write (Flink's state versions). The backend has a version, starting at 1.
 * Taking a view gives it version V = the current version and increments it; the view
 * copies each group's page-reference array (and the arenas' slab tables). Every page
 * records the version it was created at; one created at a version <= the newest live
 * view's is shared with some view, so the task thread never writes it: a write to a
 * shared page copies the page. An entry carries no version (4 bytes of each entry):
 * its slot's owned bit says it was created at or after its page's version. A new entry
 * sets it; a page's copy clears it in every slot; a slot moved to another page (growth,
 * deletion's shift) keeps it only when the page it comes from is no older. So an entry
 * is private when no view is live for its group, or when its bit is set and its page is
 * private; anything else is treated as shared: a change to it writes a new entry, and
 * the old one is retired with the version R it was replaced at. A retired
 * chunk is visible to views with created <= V < R only; it is freed once every live
 * view has V >= R (all views released: everything retired is freed). A view taken
 * while no other is live gives each key group back as soon as it has written it (the
 * group's pin drops to 0), so the task copies only what it changes in groups not yet
 * written.
 *
 * Forwarding. Updates at random touch every page long before a view is written (10^6
 * keys: ~100,000 updates during a 100 ms walk, 2,400 pages of 512 slots): copying the
 * page of each changed slot duplicated the whole table (peak RSS 1.37x the RSS without).
 * So a change to a shared entry whose slot's page is shared does not copy the page: the
 * new entry goes into the forwarding table (hashmap_state_forward.c: old reference ->
 * new) and the slot gets its forwarded bit, set atomically (a view reads slots with
 * atomic loads and ignores the bit: it still reads the old entry); the task follows the
 * bit to the new entry, which is private. Slots that move (growth, deletion's shift,
 * page copies) carry the bit along. Once the last view is released the owner points
 * the forwarded slots at their new entries and frees the old ones (the pages are
 * private then), a few table slots at each write so that no write waits for all of
 * them; a view taken before that is done, or while another is still live, first
 * resolves the rest, copying the pages a live view shares, so a view never sees a
 * forwarded slot it cannot follow.
 *
 * Memory: every slab (1 MiB) is reserved from the slot's managed memory before it is
 * mapped; a refusal fails the put with a message naming the budget.
 *
 * The views themselves live in hashmap_state_view.c, the layout both share in
 * hashmap_state_internal.h.
 *
 * Threading: the owner (task) thread does everything except walking and releasing a
 * view, which a snapshot thread does over chunks the owner no longer writes (but for
 * the forwarded bit of a shared slot: an atomic store the walk reads atomically); release
 * only sets the view's done flag and bumps release_events (atomics); the owner frees
 * released views and their retired chunks on its next write (reap). No locks.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/managed_memory.h"

#include "common/byte_codec.h"
#include "common/compiler.h"
#include "state/hashmap_state_internal.h"

/* ---- entries ---- */

/* Decodes the entry in chunk; valcap only for an indirect one (entry_valcap). */
static inline void entry_decode(uint8_t *chunk, hm_entry_t *e)
{
    const uint8_t *p = entry_decode_header(chunk, e);
    if (e->cls == CLASS_INDIRECT) {
        memcpy(&e->data, p, sizeof(e->data));
        memcpy(&e->valcap, p + sizeof(e->data), sizeof(e->valcap));
    }
}

/* The bytes e's value may grow to in place (class sizes come from the arena a). */
static uint32_t entry_valcap(const te_slab_arena_t *a, const hm_entry_t *e)
{
    if (e->cls == CLASS_INDIRECT)
        return e->valcap;
    return (uint32_t)(slab_arena_class_size(a, e->cls) - ((size_t)e->hlen + e->keylen + e->nslen));
}

static void entry_release(hm_backend_t *b, uint32_t ref)
{
    uint8_t *chunk = slab_arena_at(b->entries, ref);
    hm_entry_t e;
    entry_decode(chunk, &e);
    unsigned cls = e.cls;
    if (cls == CLASS_INDIRECT) {
        b->indirect_bytes -= (uint64_t)e.keylen + e.nslen + e.valcap;
        free(e.data);
        cls = slab_arena_class(b->entries, (size_t)e.hlen + sizeof(void *) + 4);
    }
    slab_arena_release(b->entries, ref, cls);
}

/* A new entry, room for the value to grow when vallen is small. 0 when out of memory. */
static uint32_t entry_new(hm_backend_t *b, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                          const uint8_t *val, uint32_t vallen)
{
    uint8_t hdr[ENTRY_HDR_MAX];
    size_t h = 1;
    uint8_t no_ns = nslen ? 0 : ENTRY_NO_NS;
    h += byte_put_varint(hdr + h, keylen);
    if (nslen)
        h += byte_put_varint(hdr + h, nslen);
    h += byte_put_varint(hdr + h, vallen);
    size_t need = h + (size_t)keylen + nslen + vallen;
    uint32_t ref;
    if (need <= SLAB_ARENA_MAX_CHUNK) {
        unsigned cls = slab_arena_class(b->entries, need);
        hdr[0] = (uint8_t)(cls | no_ns);
        if ((ref = slab_arena_alloc(b->entries, cls)) == 0)
            return 0;
        uint8_t *c = slab_arena_at(b->entries, ref);
        memcpy(c, hdr, h);
        if (keylen)
            memcpy(c + h, key, keylen);
        if (nslen)
            memcpy(c + h + keylen, ns, nslen);
        if (vallen)
            memcpy(c + h + keylen + nslen, val, vallen);
        return ref;
    }
    hdr[0] = (uint8_t)(CLASS_INDIRECT | no_ns);
    uint32_t valcap = vallen > UINT32_MAX / 5 * 4 ? vallen : vallen + vallen / 4;
    uint8_t *data = malloc((size_t)keylen + nslen + valcap);
    if (data == NULL)
        return 0;
    unsigned cls = slab_arena_class(b->entries, h + sizeof(data) + 4);
    if ((ref = slab_arena_alloc(b->entries, cls)) == 0) {
        free(data);
        return 0;
    }
    if (keylen)
        memcpy(data, key, keylen);
    if (nslen)
        memcpy(data + keylen, ns, nslen);
    if (vallen)
        memcpy(data + keylen + nslen, val, vallen);
    uint8_t *c = slab_arena_at(b->entries, ref);
    memcpy(c, hdr, h);
    memcpy(c + h, &data, sizeof(data));
    memcpy(c + h + sizeof(data), &valcap, 4);
    b->indirect_bytes += (uint64_t)keylen + nslen + valcap;
    return ref;
}

/* ---- retiring and views ---- */

static int retire(hm_backend_t *b, uint32_t ref, unsigned cls, int page)
{
    if (b->n_retired == b->cap_retired) {
        size_t nc = b->cap_retired ? b->cap_retired * 2 : 1024;
        hm_retired_t *p = realloc(b->retired, nc * sizeof(*p));
        if (p == NULL)
            return -1;
        b->retired = p;
        b->cap_retired = nc;
    }
    b->retired[b->n_retired++] = (hm_retired_t){ref, b->version, (uint8_t)cls, (uint8_t)page};
    return 0;
}

/* The newest version a live view may still read group g at: chunks of g created at a
 * version <= it are shared. */
static inline uint32_t snap_of(const hm_backend_t *b, const hm_group_t *g)
{
    if (b->snap_hi == 0 || !b->early)
        return b->snap_hi;
    return atomic_load_explicit(&b->pins[g - b->groups], memory_order_acquire);
}

/* Whether the task's entry of slot s at position pos of g is private (no view can read
 * it): a forwarded slot's always is. */
static inline int slot_private(const hm_backend_t *b, const hm_group_t *g, uint32_t pos, uint64_t s)
{
    if ((uint32_t)s & SLOT_FWD)
        return 1;
    uint32_t sv = snap_of(b, g);
    return sv == 0 || (((uint32_t)s & SLOT_OWNED) && g->page_ver[pos >> g->pl] > sv);
}

/* The reference of the task's entry of slot s. */
static inline uint32_t slot_ref(const hm_backend_t *b, uint64_t s)
{
    uint32_t ref = (uint32_t)(s >> 32);
    if (TE_UNLIKELY((uint32_t)s & SLOT_FWD)) {
        const hm_fwd_t *r = hm_fwd_find(b, ref);
        if (TE_LIKELY(r != NULL))
            ref = r->nref;
    }
    return ref;
}

/* Frees a page or an entry no view sees, or retires one a view may see (shared). -1
 * when out of memory. */
static int drop_chunk(hm_backend_t *b, uint32_t ref, unsigned cls, int page, int shared)
{
    if (shared)
        return retire(b, ref, cls, page);
    if (page)
        slab_arena_release(b->pages, ref, cls);
    else
        entry_release(b, ref);
    return 0;
}

/* Owner thread: frees released views, then the retired chunks no live view sees. */
void hm_reap(hm_backend_t *b)
{
    b->seen_events = atomic_load_explicit(&b->release_events, memory_order_acquire);
    size_t k = 0;
    uint32_t vmin = UINT32_MAX, vmax = 0;
    for (size_t i = 0; i < b->n_views; i++) {
        hm_view_t *v = b->views[i];
        if (atomic_load_explicit(&v->done, memory_order_acquire)) {
            hm_view_free_memory(v);
            continue;
        }
        b->views[k++] = v;
        vmin = v->version < vmin ? v->version : vmin;
        vmax = v->version > vmax ? v->version : vmax;
    }
    b->n_views = k;
    b->snap_hi = vmax;
    if (k == 0 && b->early) { /* the early view is gone: what it did not give back is free too */
        for (uint32_t g = 0; g < b->maxp; g++)
            atomic_store_explicit(&b->pins[g], 0, memory_order_relaxed);
        b->early = 0;
    }
    size_t r = 0;
    for (size_t i = 0; i < b->n_retired; i++) {
        hm_retired_t *x = &b->retired[i];
        if (i + WALK_AHEAD < b->n_retired) { /* released chunks lie all over the slabs */
            const hm_retired_t *y = &b->retired[i + WALK_AHEAD];
            __builtin_prefetch(slab_arena_at(y->page ? b->pages : b->entries, y->ref), 1);
        }
        if (k > 0 && x->version > vmin) { /* still seen by the view vmin */
            b->retired[r++] = *x;
            continue;
        }
        if (x->page)
            slab_arena_release(b->pages, x->ref, x->cls);
        else
            entry_release(b, x->ref);
    }
    b->n_retired = r;
    if (k == 0 && b->fwd_n > 0) /* no view left: resolve the records a few at each write */
        b->fwd_resolving = 1;
}

/* ---- tables ---- */

static inline uint64_t *page_at(const hm_backend_t *b, const hm_group_t *g, uint32_t p)
{
    return slab_arena_at(b->pages, g->pages[p]);
}

static inline uint64_t slot_get(const hm_backend_t *b, const hm_group_t *g, unsigned pl, uint32_t j)
{
    return page_at(b, g, j >> pl)[j & ((1u << pl) - 1)];
}

/* v with its owned bit cleared unless it holds for a page of version to_ver: v's bit
 * was true of a page of version from_ver. */
static inline uint64_t slot_moved(uint64_t v, uint32_t from_ver, uint32_t to_ver)
{
    return from_ver >= to_ver ? v : v & ~(uint64_t)SLOT_OWNED;
}

/* Writes v to slot j, copying its page first when a view shares it (the copy's slots
 * lose their owned bits); v's owned bit is true of pages of version <= v_ver. -1 when
 * out of memory. */
static int slot_set(hm_backend_t *b, hm_group_t *g, unsigned pl, uint32_t j, uint64_t v, uint32_t v_ver)
{
    uint32_t p = j >> pl;
    if (g->page_ver[p] <= snap_of(b, g)) {
        unsigned cls = slab_arena_class(b->pages, (size_t)8 << pl);
        uint32_t nref = slab_arena_alloc(b->pages, cls);
        if (nref == 0 || retire(b, g->pages[p], cls, 1) != 0) {
            slab_arena_release(b->pages, nref, cls);
            return -1;
        }
        const uint64_t *from = page_at(b, g, p);
        uint64_t *to = slab_arena_at(b->pages, nref);
        for (uint32_t i = 0; i < (1u << pl); i++)
            to[i] = from[i] & ~(uint64_t)SLOT_OWNED;
        g->pages[p] = nref;
        g->page_ver[p] = b->version;
    }
    page_at(b, g, p)[j & ((1u << pl) - 1)] = slot_moved(v, v_ver, g->page_ver[p]);
    return 0;
}

/* The home slot of hash h (30 bits) in a table of cap slots, and the slot after j. */
static inline uint32_t slot_home(uint32_t h, uint32_t cap) { return (uint32_t)(((uint64_t)h * cap) >> 30); }

static inline uint32_t slot_next(uint32_t j, uint32_t cap) { return j + 1 == cap ? 0 : j + 1; }

/* How many slots j lies after i in a table of cap slots (probing wraps around). */
static inline uint32_t ring_dist(uint32_t j, uint32_t i, uint32_t cap) { return j >= i ? j - i : j + cap - i; }

/* The capacity a table of cap slots grows to (see the layout above). */
static uint32_t grown_cap(uint32_t cap)
{
    const uint32_t page = 1u << PAGE_LOG;
    if (cap < page)
        return cap ? cap * 2 : MIN_CAP;
    uint64_t n = ((uint64_t)cap + cap / 4 + page - 1) / page * page;
    return n > UINT32_MAX - page ? 0 : (uint32_t)n;
}

/* The table hash of (key, ns): in memory only (positions in the tables), never stored.
 * Seeded per backend: a restore inserts entries in the order a snapshot walked another
 * backend's tables, which with one hash for all would be this table's slot order, and
 * linear probing fed keys in slot order of a larger table clusters them into long runs
 * (a 10 M-key restore took 15 s for 0.2 s at 1 M). */
static TE_ALWAYS_INLINE uint32_t hm_hash(uint64_t seed, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                                         uint32_t nslen)
{
    uint64_t h = state_hash_bytes(seed, key, keylen);
    if (nslen)
        h = state_hash_bytes(h, ns, nslen);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h & SLOT_HASH;
}

/* Allocates the pages of a table of cap slots (zeroed, private). -1 out of memory. */
static int table_alloc(hm_backend_t *b, hm_group_t *g, uint32_t cap)
{
    unsigned pl = page_log(cap);
    uint32_t np = cap >> pl;
    unsigned cls = slab_arena_class(b->pages, (size_t)8 << pl);
    g->pages = calloc(np, sizeof(uint32_t));
    g->page_ver = calloc(np, sizeof(uint32_t));
    if (g->pages == NULL || g->page_ver == NULL)
        goto fail;
    for (uint32_t p = 0; p < np; p++) {
        if ((g->pages[p] = slab_arena_alloc(b->pages, cls)) == 0)
            goto fail;
        memset(slab_arena_at(b->pages, g->pages[p]), 0, (size_t)8 << pl);
        g->page_ver[p] = b->version;
    }
    g->cap = cap;
    g->pl = pl;
    return 0;
fail:
    for (uint32_t p = 0; g->pages && p < np; p++)
        slab_arena_release(b->pages, g->pages[p], cls);
    free(g->pages);
    free(g->page_ver);
    g->pages = g->page_ver = NULL;
    return -1;
}

/* Drops a table's pages (retired when a view shares them). */
static int table_drop(hm_backend_t *b, const hm_group_t *g, uint32_t cap, uint32_t *pages, uint32_t *page_ver)
{
    unsigned pl = page_log(cap);
    unsigned cls = slab_arena_class(b->pages, (size_t)8 << pl);
    uint32_t sv = snap_of(b, g);
    int rc = 0;
    for (uint32_t p = 0; p < (cap >> pl); p++)
        if (drop_chunk(b, pages[p], cls, 1, page_ver[p] <= sv) != 0)
            rc = -1;
    free(pages);
    free(page_ver);
    return rc;
}

/* Whether a table of cap slots holds n entries (at most 85% full). */
static inline int cap_holds(uint32_t cap, uint64_t n) { return n * 20 <= (uint64_t)cap * 17; }

/* Moves g's entries into a new table of ncap slots. -1 when out of memory. */
static int table_resize(hm_backend_t *b, hm_group_t *g, uint32_t ncap)
{
    hm_group_t old = *g;
    if (ncap == 0 || table_alloc(b, g, ncap) != 0) {
        *g = old;
        return -1;
    }
    unsigned opl = page_log(old.cap), npl = page_log(ncap);
    uint32_t nmask = (1u << npl) - 1, at = UINT32_MAX;
    uint64_t *to = NULL;
    /* Homes rise with the hash, and so did the old slots: the new table fills nearly in
     * order, so the page written last is kept at hand. */
    for (uint32_t p = 0; p < (old.cap >> opl); p++) {
        const uint64_t *from = page_at(b, &old, p);
        uint32_t from_ver = old.page_ver[p];
        for (uint32_t i = 0; i < (1u << opl); i++) {
            uint64_t s = from[i];
            if (s == 0)
                continue;
            for (uint32_t k = slot_home((uint32_t)s & SLOT_HASH, ncap);; k = slot_next(k, ncap)) {
                if (k >> npl != at)
                    to = page_at(b, g, at = k >> npl);
                if (to[k & nmask] == 0) { /* new pages are private, of the backend's version */
                    to[k & nmask] = slot_moved(s, from_ver, b->version);
                    break;
                }
            }
        }
    }
    g->used = old.used;
    if (old.cap)
        table_drop(b, g, old.cap, old.pages, old.page_ver);
    return 0;
}

static int oom(hm_backend_t *b, const char *what);

/* Whether slot pos of g is a forwarded slot of the entry old. */
static inline int slot_forwards(const hm_backend_t *b, const hm_group_t *g, uint32_t pos, uint32_t old)
{
    uint64_t s = slot_get(b, g, g->pl, pos);
    return ((uint32_t)s & SLOT_FWD) && (uint32_t)(s >> 32) == old;
}

/* Resolves the records in slots [from, to) of the forwarding table. -1 when out of
 * memory (the records done stay done). */
static int fwd_resolve_range(hm_backend_t *b, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) {
        hm_fwd_t *r = &b->fwd[i];
        if (i + 2 * WALK_AHEAD < to) { /* the slots and old entries lie all over */
            const hm_fwd_t *y = &b->fwd[i + 2 * WALK_AHEAD];
            const hm_group_t *yg = &b->groups[y->group];
            if (y->old != 0 && y->nref != 0 && y->pos < yg->cap) {
                __builtin_prefetch(page_at(b, yg, y->pos >> yg->pl) + (y->pos & ((1u << yg->pl) - 1)), 1);
                __builtin_prefetch(slab_arena_at(b->entries, y->old), 1);
            }
        }
        if (r->old == 0 || r->nref == 0)
            continue;
        hm_group_t *g = &b->groups[r->group];
        uint32_t pos = r->pos;
        if (pos >= g->cap || !slot_forwards(b, g, pos, r->old)) { /* moved since: find it from its home */
            hm_entry_t e;
            entry_decode(slab_arena_at(b->entries, r->nref), &e);
            pos = slot_home(hm_hash(b->seed, e.data, e.keylen, e.data + e.keylen, e.nslen), g->cap);
            while (!slot_forwards(b, g, pos, r->old) && slot_get(b, g, g->pl, pos) != 0)
                pos = slot_next(pos, g->cap);
        }
        uint64_t s = slot_get(b, g, g->pl, pos);
        if (slot_forwards(b, g, pos, r->old)) {
            if (slot_set(b, g, g->pl, pos, (uint64_t)r->nref << 32 | ((uint32_t)s & SLOT_HASH), 0) != 0 ||
                drop_chunk(b, r->old, 0, 0, snap_of(b, g) > 0) != 0)
                return oom(b, "resolving forwarded keyed state");
        }
        r->nref = 0;
    }
    return 0;
}

int hm_fwd_resolve_all(hm_backend_t *b)
{
    if (fwd_resolve_range(b, b->fwd_scan, b->fwd_cap) != 0)
        return -1;
    hm_fwd_clear(b);
    return 0;
}

void hm_fwd_resolve_some(hm_backend_t *b)
{
    uint32_t to = b->fwd_cap - b->fwd_scan > FWD_RESOLVE_STEP ? b->fwd_scan + FWD_RESOLVE_STEP : b->fwd_cap;
    fwd_resolve_range(b, b->fwd_scan, to); /* no view is live: no page to copy, nothing fails */
    b->fwd_scan = to;
    if (to == b->fwd_cap)
        hm_fwd_clear(b);
}

/* Key group kg's table: kg is below maxp from the state backend (no division then). */
static inline hm_group_t *group_of(const hm_backend_t *b, uint32_t kg)
{
    return &b->groups[TE_LIKELY(kg < b->maxp) ? kg : kg % b->maxp];
}

static TE_ALWAYS_INLINE int entry_matches(const hm_backend_t *b, uint32_t ref, const uint8_t *key, uint32_t keylen,
                                          const uint8_t *ns, uint32_t nslen, hm_entry_t *e)
{
    entry_decode(slab_arena_at(b->entries, ref), e);
    return e->keylen == keylen && e->nslen == nslen && byte_equal(e->data, key, keylen) &&
           (nslen == 0 || memcmp(e->data + keylen, ns, nslen) == 0);
}

/* Slot of (key, ns) in g: 1 found (*e decoded) or 0 with the empty slot it would go to. */
static TE_ALWAYS_INLINE int table_find(hm_backend_t *b, const hm_group_t *g, uint32_t h, const uint8_t *key,
                                       uint32_t keylen, const uint8_t *ns, uint32_t nslen, uint32_t *pos,
                                       hm_entry_t *e)
{
    unsigned pl = g->pl;
    uint32_t cap = g->cap, j = slot_home(h, cap);
    for (;;) {
        uint64_t s = slot_get(b, g, pl, j);
        if (s == 0) {
            *pos = j;
            return 0;
        }
        if (((uint32_t)s & SLOT_HASH) == h && entry_matches(b, slot_ref(b, s), key, keylen, ns, nslen, e)) {
            *pos = j;
            b->last_g = g;
            b->last_pos = j;
            b->last_slot = s;
            return 1;
        }
        j = slot_next(j, cap);
    }
}

/* The last lookup's slot when it still holds the entry of (key, ns): 1 with *pos, *h
 * and *e, else 0. The slot's content proves the position (an entry has one slot), the
 * key compare the entry. */
static int last_find(const hm_backend_t *b, const hm_group_t *g, const uint8_t *key, uint32_t keylen,
                     const uint8_t *ns, uint32_t nslen, uint32_t *pos, uint32_t *h, hm_entry_t *e)
{
    if (g != b->last_g || b->last_pos >= g->cap || slot_get(b, g, g->pl, b->last_pos) != b->last_slot ||
        !entry_matches(b, slot_ref(b, b->last_slot), key, keylen, ns, nslen, e))
        return 0;
    *pos = b->last_pos;
    *h = (uint32_t)b->last_slot & SLOT_HASH;
    return 1;
}

/* ---- the ops ---- */

static int oom(hm_backend_t *b, const char *what)
{
    if (b->refused) {
        char desc[240];
        managed_memory_describe(b->budget, desc, sizeof(desc));
        b->refused = 0;
        snprintf(
            b->error, sizeof(b->error),
            "%s: the hashmap state (%llu entries, %.1f MiB) outgrew %s; raise taskmanager.memory.managed.size, "
            "run fewer slots or more parallelism, or use state.backend.type: rocksdb",
            what, (unsigned long long)b->n_entries,
            (double)(slab_arena_mapped(b->entries) + slab_arena_mapped(b->pages)) / (1024.0 * 1024.0), desc);
        return -1;
    }
    if (slab_arena_full(b->entries) || slab_arena_full(b->pages)) {
        snprintf(b->error, sizeof(b->error),
                 "%s: the hashmap state (%llu entries) reached the most one task's hashmap holds (8 GiB of "
                 "entries, 32 GiB of tables); run more parallelism or use state.backend.type: rocksdb",
                 what, (unsigned long long)b->n_entries);
        return -1;
    }
    snprintf(b->error, sizeof(b->error), "out of memory %s (hashmap state: %llu entries)", what,
             (unsigned long long)b->n_entries);
    return -1;
}

/* The arenas' slabs come out of the slot's managed memory. */
static int hm_reserve(void *arg, int64_t delta)
{
    hm_backend_t *b = arg;
    if (b->budget == NULL || managed_memory_reserve(b->budget, delta) == 0)
        return 0;
    b->refused = 1;
    return -1;
}

void *hashmap_state_backend_create(uint32_t maxp, te_memory_budget_t *budget)
{
    hm_backend_t *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    static _Atomic uint64_t backends;
    b->maxp = maxp;
    b->version = 1;
    b->seed = state_hash_mix(0x243f6a8885a308d3ULL, atomic_fetch_add_explicit(&backends, 1, memory_order_relaxed));
    b->budget = budget;
    b->groups = calloc(maxp, sizeof(*b->groups));
    b->pins = calloc(maxp, sizeof(*b->pins));
    b->entries = slab_arena_new(1, hm_reserve, b);
    b->pages = slab_arena_new(3, hm_reserve, b);
    if (b->groups == NULL || b->pins == NULL || b->entries == NULL || b->pages == NULL) {
        free(b->pins);
        slab_arena_free(b->entries);
        slab_arena_free(b->pages);
        free(b->groups);
        free(b);
        return NULL;
    }
    return b;
}

static void hm_destroy(void *impl)
{
    hm_backend_t *b = impl;
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n_views; i++) /* released by now: their writers are done */
        atomic_store(&b->views[i]->done, 1);
    hm_reap(b); /* frees the views and every retired chunk */
    if (b->fwd_n > 0)
        hm_fwd_resolve_all(b); /* the old entries' malloc'd values */
    free(b->views);
    free(b->retired);
    if (b->indirect_bytes > 0) /* malloc'd values live outside the arenas */
        for (uint32_t g = 0; g < b->maxp; g++) {
            hm_group_t *t = &b->groups[g];
            unsigned pl = page_log(t->cap);
            for (uint32_t j = 0; j < t->cap; j++) {
                uint64_t s = slot_get(b, t, pl, j);
                hm_entry_t e;
                if (s == 0)
                    continue;
                entry_decode(slab_arena_at(b->entries, slot_ref(b, s)), &e);
                if (e.cls == CLASS_INDIRECT)
                    free(e.data);
            }
        }
    for (uint32_t g = 0; g < b->maxp; g++) {
        free(b->groups[g].pages);
        free(b->groups[g].page_ver);
    }
    free(b->groups);
    free(b->pins);
    hm_fwd_clear(b);
    slab_arena_free(b->entries);
    slab_arena_free(b->pages);
    free(b);
}

static int hm_get(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t **val, uint32_t *vallen)
{
    hm_backend_t *b = impl;
    hm_group_t *g = group_of(b, kg);
    b->again_ok = 0;
    if (g->used == 0)
        return 0;
    uint32_t pos;
    hm_entry_t *e = &b->again_e; /* decoded in place: put_again's entry when found */
    if (!table_find(b, g, hm_hash(b->seed, key, keylen, ns, nslen), key, keylen, ns, nslen, &pos, e))
        return 0;
    b->again_ok = 1;
    b->again_g = g;
    *val = e->data + e->keylen + e->nslen;
    *vallen = e->vallen;
    return 1;
}

/* Overwrites the value of the entry in slot pos in place when it is private and the
 * value fits; else writes a new entry there and drops the old one. */
static int update_entry(hm_backend_t *b, hm_group_t *g, uint32_t pos, uint32_t h, hm_entry_t *e,
                        const uint8_t *val, uint32_t vallen)
{
    uint64_t s = slot_get(b, g, g->pl, pos);
    int private_entry = slot_private(b, g, pos, s); /* no view can read it */
    if (private_entry && vallen == e->vallen) {     /* the usual update: the value, nothing else */
        uint8_t *d = e->data + e->keylen + e->nslen;
        if (vallen <= 32) /* counters, sums: no call */
            byte_copy_small(d, val, vallen);
        else
            memmove(d, val, vallen);
        return 0;
    }
    if (private_entry && vallen <= entry_valcap(b->entries, e) &&
        byte_varint_len(vallen) == byte_varint_len(e->vallen)) {
        /* the header's last varint, of the same length: nothing after it moves */
        byte_put_varint(e->hdr + e->hlen - byte_varint_len(e->vallen), vallen);
        if (vallen)
            memmove(e->data + e->keylen + e->nslen, val, vallen);
        return 0;
    }
    uint32_t ref = slot_ref(b, s), old = (uint32_t)(s >> 32);
    uint32_t nref = entry_new(b, e->data, e->keylen, e->data + e->keylen, e->nslen, val, vallen);
    if (nref == 0)
        return oom(b, "storing keyed state");
    if ((uint32_t)s & SLOT_FWD) { /* the forwarded entry outgrew its chunk: private, freed */
        hm_fwd_find(b, old)->nref = nref;
        entry_release(b, ref);
        return 0;
    }
    if (g->page_ver[pos >> g->pl] <= snap_of(b, g)) {
        /* a view shares the slot's page: forward the slot rather than copy the page */
        if (hm_fwd_add(b, old, nref, (uint32_t)(g - b->groups), pos) != 0) {
            entry_release(b, nref);
            return oom(b, "storing keyed state");
        }
        __atomic_store_n(&page_at(b, g, pos >> g->pl)[pos & ((1u << g->pl) - 1)], s | SLOT_FWD, __ATOMIC_RELAXED);
        return 0;
    }
    if (slot_set(b, g, g->pl, pos, (uint64_t)nref << 32 | SLOT_OWNED | h, b->version) != 0) {
        entry_release(b, nref);
        return oom(b, "storing keyed state");
    }
    if (drop_chunk(b, ref, 0, 0, !private_entry) != 0)
        return oom(b, "storing keyed state");
    return 0;
}

static int hm_put(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                  const uint8_t *val, uint32_t vallen)
{
    hm_backend_t *b = impl;
    b->again_ok = 0;
    hm_maybe_reap(b);
    hm_group_t *g = group_of(b, kg);
    uint32_t h, pos = 0;
    hm_entry_t e;
    if (last_find(b, g, key, keylen, ns, nslen, &pos, &h, &e))
        return update_entry(b, g, pos, h, &e, val, vallen);
    h = hm_hash(b->seed, key, keylen, ns, nslen);
    if (g->cap > 0 && table_find(b, g, h, key, keylen, ns, nslen, &pos, &e))
        return update_entry(b, g, pos, h, &e, val, vallen);
    if (!cap_holds(g->cap, (uint64_t)g->used + 1)) {
        if (table_resize(b, g, grown_cap(g->cap)) != 0)
            return oom(b, "growing a keyed-state table");
        table_find(b, g, h, key, keylen, ns, nslen, &pos, &e);
    }
    uint32_t ref = entry_new(b, key, keylen, ns, nslen, val, vallen);
    if (ref == 0)
        return oom(b, "storing keyed state");
    if (slot_set(b, g, g->pl, pos, (uint64_t)ref << 32 | SLOT_OWNED | h, b->version) != 0) {
        entry_release(b, ref);
        return oom(b, "storing keyed state");
    }
    g->used++;
    b->n_entries++;
    return 0;
}

/* The entry the last get found, still as it found it (nothing happened since): its
 * slot is last_pos of again_g and holds the hash in last_slot. */
static int hm_put_again(void *impl, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                        const uint8_t *val, uint32_t vallen)
{
    hm_backend_t *b = impl;
    if (!b->again_ok)
        return 1;
    b->again_ok = 0;
    const hm_entry_t *e = &b->again_e;
    if (e->keylen != keylen || e->nslen != nslen || !byte_equal(e->data, key, keylen) ||
        (nslen && memcmp(e->data + keylen, ns, nslen) != 0))
        return 1;     /* another key or namespace */
    hm_maybe_reap(b); /* releases retired chunks only: the entry is live */
    return update_entry(b, b->again_g, b->last_pos, (uint32_t)b->last_slot & SLOT_HASH, &b->again_e, val, vallen);
}

/* A counter's update in one lookup: in place when the entry is private and holds 8
 * bytes (the usual case), through update_entry when a view shares it or its value has
 * another size, through hm_put when the key is new. */
static int hm_add_i64(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                      uint32_t nslen, int64_t delta, int64_t *sum)
{
    hm_backend_t *b = impl;
    b->again_ok = 0;
    hm_group_t *g = group_of(b, kg);
    uint64_t n = (uint64_t)delta;
    if (g->used > 0) {
        hm_maybe_reap(b); /* before any write, as put does */
        uint32_t h = hm_hash(b->seed, key, keylen, ns, nslen), pos;
        hm_entry_t e;
        if (table_find(b, g, h, key, keylen, ns, nslen, &pos, &e)) {
            uint8_t *d = e.data + e.keylen + e.nslen;
            uint64_t old = 0;
            if (e.vallen == sizeof(old))
                memcpy(&old, d, sizeof(old));
            n += old;
            *sum = (int64_t)n;
            if (TE_LIKELY(e.vallen == sizeof(n) && slot_private(b, g, pos, b->last_slot))) {
                memcpy(d, &n, sizeof(n));
                return 0;
            }
            return update_entry(b, g, pos, h, &e, (const uint8_t *)&n, sizeof(n));
        }
    }
    *sum = (int64_t)n;
    return hm_put(impl, kg, key, keylen, ns, nslen, (const uint8_t *)&n, sizeof(n));
}

static int hm_del(void *impl, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen)
{
    hm_backend_t *b = impl;
    b->again_ok = 0;
    hm_maybe_reap(b);
    hm_group_t *g = group_of(b, kg);
    if (g->used == 0)
        return 0;
    uint32_t h = hm_hash(b->seed, key, keylen, ns, nslen), j;
    hm_entry_t e;
    if (!table_find(b, g, h, key, keylen, ns, nslen, &j, &e))
        return 0;
    unsigned pl = g->pl;
    uint32_t cap = g->cap;
    uint64_t found = slot_get(b, g, pl, j);
    int shared = !slot_private(b, g, j, found);
    uint32_t ref = slot_ref(b, found);
    /* backward shift: move later entries of the probe run into the hole */
    uint32_t hole = j, k = slot_next(j, cap);
    uint64_t s;
    while ((s = slot_get(b, g, pl, k)) != 0) {
        uint32_t home = slot_home((uint32_t)s & SLOT_HASH, cap);
        /* k's entry may move to the hole when the hole lies cyclically in [home, k) */
        if (ring_dist(k, home, cap) >= ring_dist(k, hole, cap)) {
            if (slot_set(b, g, pl, hole, s, g->page_ver[k >> pl]) != 0)
                return oom(b, "deleting keyed state");
            hole = k;
        }
        k = slot_next(k, cap);
    }
    if (slot_set(b, g, pl, hole, 0, b->version) != 0)
        return oom(b, "deleting keyed state");
    g->used--;
    b->n_entries--;
    if ((uint32_t)found & SLOT_FWD) { /* the entry views read goes too; its record is done */
        hm_fwd_t *r = hm_fwd_find(b, (uint32_t)(found >> 32));
        if (r != NULL)
            r->nref = 0;
        if (drop_chunk(b, (uint32_t)(found >> 32), 0, 0, snap_of(b, g) > 0) != 0)
            return oom(b, "deleting keyed state");
    }
    if (drop_chunk(b, ref, 0, 0, shared) != 0)
        return oom(b, "deleting keyed state");
    return 1;
}

static int hm_foreach_group(void *impl, uint32_t kg, te_state_visit_fn fn, void *arg)
{
    hm_backend_t *b = impl;
    hm_group_t *g = group_of(b, kg);
    unsigned pl = g->pl;
    for (uint32_t j = 0; j < g->cap; j++) {
        if (j + WALK_AHEAD < g->cap) {
            uint64_t a = slot_get(b, g, pl, j + WALK_AHEAD);
            if (a != 0)
                __builtin_prefetch(slab_arena_at(b->entries, (uint32_t)(a >> 32)));
        }
        uint64_t s = slot_get(b, g, pl, j);
        if (s == 0)
            continue;
        hm_entry_t e;
        entry_decode(slab_arena_at(b->entries, slot_ref(b, s)), &e);
        int rc = fn(arg, kg, e.data, e.keylen, e.data + e.keylen, e.nslen, e.data + e.keylen + e.nslen, e.vallen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Grows g's table at once to the capacity n more entries would grow it to. */
static void hm_reserve_group(void *impl, uint32_t kg, uint64_t n)
{
    hm_backend_t *b = impl;
    hm_group_t *g = group_of(b, kg);
    uint64_t want = g->used + n;
    uint32_t cap = g->cap;
    while (!cap_holds(cap, want))
        if ((cap = grown_cap(cap)) == 0)
            return;
    if (cap == g->cap)
        return;
    hm_maybe_reap(b);
    if (table_resize(b, g, cap) != 0) { /* a hint: the puts grow it as far as memory allows */
        b->refused = 0;
        b->error[0] = '\0';
    }
}

static uint64_t hm_group_entries(void *impl, uint32_t kg)
{
    hm_backend_t *b = impl;
    return b->groups[kg % b->maxp].used;
}

static void hm_stats(void *impl, te_state_stats_t *out)
{
    hm_backend_t *b = impl;
    out->entries = b->n_entries;
    out->bytes = slab_arena_mapped(b->entries) + slab_arena_mapped(b->pages) + b->indirect_bytes +
                 (uint64_t)b->fwd_cap * sizeof(hm_fwd_t) + (uint64_t)b->maxp * sizeof(hm_group_t) +
                 b->cap_retired * sizeof(hm_retired_t);
}

static const char *hm_error(void *impl)
{
    hm_backend_t *b = impl;
    return b->error[0] ? b->error : "out of memory";
}

const te_state_backend_ops_t hashmap_state_backend_ops = {
    .name = "hashmap",
    .destroy = hm_destroy,
    .get = hm_get,
    .put = hm_put,
    .del = hm_del,
    .put_again = hm_put_again,
    .add_i64 = hm_add_i64,
    .reserve_group = hm_reserve_group,
    .foreach_group = hm_foreach_group,
    .group_entries = hm_group_entries,
    .stats = hm_stats,
    .error = hm_error,
    .view_take = hm_view_take,
    .view_foreach_group = hm_view_foreach_group,
    .view_group_entries = hm_view_group_entries,
    .view_group_done = hm_view_group_done,
    .view_release = hm_view_release,
    .view_error = hm_view_error,
};
