/*
 * hashmap_state_internal — internal to the hashmap keyed-state backend: its layout
 * (hashmap_state_backend.c says what the tables, entries and versions are) shared by
 * the backend and its copy-on-write views (hashmap_state_view.c).
 *
 * Threading: as hashmap_state_backend.c.
 */
#ifndef TE_HASHMAP_STATE_INTERNAL_H
#define TE_HASHMAP_STATE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "common/byte_codec.h"
#include "common/compiler.h"
#include "state/managed_memory.h"
#include "state/slab_arena.h"
#include "state/state_backend_internal.h"

#define PAGE_LOG 9u /* 512 slots */
#define MIN_CAP  16u
/* An entry's first byte: its arena class, or CLASS_INDIRECT, and ENTRY_NO_NS when its
 * namespace is empty (its length then is not stored). */
#define CLASS_INDIRECT 0x7fu
#define ENTRY_NO_NS    0x80u
#define ENTRY_HDR_MAX  (1 + 3 * 5)
/* A slot's low word: bit 31 (owned) says the entry was created at or after its page's
 * version (so it is private whenever the page is); bit 30 (forwarded) that the task
 * finds the entry through the forwarding table, views the one the slot refers to;
 * bits 0..29 the entry's hash. */
#define SLOT_OWNED 0x80000000u
#define SLOT_FWD   0x40000000u
#define SLOT_HASH  0x3fffffffu
/* A walk over a table (snapshot, foreach) visits entries in slot order, i.e. at random
 * places in the entry slabs: a cache and TLB miss each, which it overlaps by asking for
 * the entry this many slots ahead (a 10 M-key snapshot's asynchronous part: 4.9 s ->
 * 1.6 s). A snapshot's walk asks with the non-temporal hint: it reads each entry once,
 * on another core, and should not push the task's working set out of the shared cache. */
#define WALK_AHEAD 16u

typedef struct hm_group {
    uint32_t cap, used;
    uint32_t pl;        /* page_log(cap), kept with cap */
    uint32_t *pages;    /* cap >> page_log(cap) references into the page arena */
    uint32_t *page_ver; /* the version each page was created at */
} hm_group_t;

typedef struct hm_retired {
    uint32_t ref;
    uint32_t version; /* replaced at */
    uint8_t cls;
    uint8_t page; /* 1 = a page, 0 = an entry */
} hm_retired_t;

typedef struct hm_view hm_view_t;

/* A forwarded entry (hashmap_state_forward.c): old = 0 marks a free record, nref = 0
 * a resolved one. */
typedef struct hm_fwd {
    uint32_t old, nref;
    uint32_t pos; /* the slot then: a hint */
    uint32_t group;
} hm_fwd_t;

typedef struct hm_entry {
    uint8_t *hdr; /* the chunk */
    unsigned cls;
    uint32_t hlen; /* header bytes (version .. vallen) */
    uint32_t keylen, nslen, vallen;
    uint8_t *data;   /* key | ns | value */
    uint32_t valcap; /* bytes the value may grow to in place */
} hm_entry_t;

typedef struct hm_backend {
    uint32_t maxp;
    hm_group_t *groups;
    te_slab_arena_t *entries, *pages;
    uint32_t version; /* of everything created now */
    uint32_t snap_hi; /* the newest live view's version, 0 = none */
    uint64_t seed;    /* of hm_hash: each backend its own (see hm_hash) */
    /* One live view, taken when none was live, gives each key group back as soon as it
     * has written it (pins[g]: its version while it still needs group g, 0 after); with
     * several live views every group stays shared until they are released. */
    _Atomic uint32_t *pins;
    int early;
    hm_view_t **views;
    size_t n_views, cap_views;
    _Atomic uint64_t release_events;
    uint64_t seen_events;
    hm_retired_t *retired;
    size_t n_retired, cap_retired;
    hm_fwd_t *fwd; /* the forwarding table */
    uint32_t fwd_cap, fwd_n;
    uint32_t fwd_last; /* records it held when last cleared */
    int fwd_resolving; /* no view left: each write resolves the next FWD_RESOLVE_STEP slots */
    uint32_t fwd_scan; /* of the table, from here on */
    uint64_t indirect_bytes, n_entries;
    te_memory_budget_t *budget; /* the slot's managed memory; NULL = unlimited */
    /* The slot the last lookup found (a get before a put of the same key, as counters
     * do, skips the put's hash and probe): trusted only while that slot still holds the
     * same entry and the entry's key matches. */
    const hm_group_t *last_g;
    uint32_t last_pos;
    uint64_t last_slot;
    /* The entry the last call, a get, found (again_ok; any other call clears it), in
     * slot last_pos of again_g: put_again updates it without a lookup. */
    int again_ok;
    hm_group_t *again_g;
    hm_entry_t again_e;
    int refused; /* the budget refused a slab */
    char error[640];
} hm_backend_t;

/* A view: page-reference copies of the groups, slab-table copies of the arenas. */
typedef struct hm_view_group {
    uint32_t cap, used;
    uint32_t *pages;
} hm_view_group_t;

struct hm_view {
    hm_backend_t *b;
    uint32_t version;
    int early; /* releases groups as they are written (pins) */
    uint8_t **eslabs, **pslabs;
    unsigned eshift, ebits, pshift, pbits;
    uint32_t maxp;
    hm_view_group_t *groups;
    _Atomic int done;
};

/* A varint of an entry header (trusted memory: the arena's own bytes). */
static inline const uint8_t *varint_get(const uint8_t *p, uint32_t *v)
{
    if (TE_LIKELY(p[0] < 0x80)) { /* one byte: every length below 128 */
        *v = p[0];
        return p + 1;
    }
    *v = 0;
    return p + byte_get_varint(p, 5, v);
}

/* Decodes the header of the entry in chunk: class, lengths, header bytes; e->data is
 * where key | namespace | value start (an indirect entry's pointer and capacity are
 * the caller's to read from there). */
static inline const uint8_t *entry_decode_header(uint8_t *chunk, hm_entry_t *e)
{
    e->hdr = chunk;
    e->cls = chunk[0] & CLASS_INDIRECT;
    const uint8_t *p = varint_get(chunk + 1, &e->keylen);
    e->nslen = 0;
    if (!(chunk[0] & ENTRY_NO_NS))
        p = varint_get(p, &e->nslen);
    p = varint_get(p, &e->vallen);
    e->hlen = (uint32_t)(p - chunk);
    e->data = (uint8_t *)p;
    return p;
}

/* log2 of the slots per page of a table of cap slots: the least l with 2^l >= cap, at
 * most PAGE_LOG (cap is 0, a power of two up to a page, or a whole number of pages). */
static inline unsigned page_log(uint32_t cap)
{
    if (cap <= 1)
        return 0;
    unsigned l = 32u - (unsigned)__builtin_clz(cap - 1);
    return l < PAGE_LOG ? l : PAGE_LOG;
}

/* The forwarding table (owner thread): the record of old, NULL when none; a new record
 * (-1 when out of memory); dropping them all. A record is resolved or dropped by
 * setting its nref to 0 (it stays until the table is dropped). */
hm_fwd_t *hm_fwd_find(const hm_backend_t *b, uint32_t old);
int hm_fwd_add(hm_backend_t *b, uint32_t old, uint32_t nref, uint32_t group, uint32_t pos);
void hm_fwd_clear(hm_backend_t *b);

/* Owner thread: points every forwarded slot not yet resolved at its entry again
 * (copying the pages live views share) and drops the table. -1 when out of memory
 * (records done stay done). hm_fwd_resolve_some: the next FWD_RESOLVE_STEP slots of the
 * table, once no view is live (hm_maybe_reap). */
int hm_fwd_resolve_all(hm_backend_t *b);

/* Owner thread: frees released views, then the retired chunks no live view sees. */
void hm_reap(hm_backend_t *b);

/* Forwarding-table slots a write resolves after the last view is released: the records
 * of a 10^7-key checkpoint (~700,000) resolved at once held the task 70 ms. */
#define FWD_RESOLVE_STEP 256u

void hm_fwd_resolve_some(hm_backend_t *b);

static inline void hm_maybe_reap(hm_backend_t *b)
{
    if (TE_UNLIKELY(b->fwd_resolving))
        hm_fwd_resolve_some(b);
    if (b->n_views > 0 && atomic_load_explicit(&b->release_events, memory_order_relaxed) != b->seen_events)
        hm_reap(b);
}

/* Frees a view's copies and the view (the owner, when it reaps a released view). */
void hm_view_free_memory(hm_view_t *v);

/* The views' ops (hashmap_state_view.c). */
void *hm_view_take(void *impl, te_error_t *err);
int hm_view_foreach_group(void *view, uint32_t kg, te_state_visit_fn fn, void *arg);
uint64_t hm_view_group_entries(void *view, uint32_t kg);
void hm_view_group_done(void *view, uint32_t kg);
void hm_view_release(void *view);
const char *hm_view_error(void *view);

#endif
