/*
 * timer_service — per-operator event-time and processing-time timers (see
 * timer_service.h): a binary min-heap per kind ordered by (time, sequence), plus a
 * keyed-state backend holding (key, kind|time) for de-duplication. Snapshots hold the
 * same (key, kind|time) entries, processing times moved onto the wall clock (the
 * formats and why: timer_service.h).
 *
 * Threading: one owner thread; no locks.
 */
#include "runtime/timer_service.h"

#include <stdlib.h>
#include <string.h>

#include "state/state_backend.h"

typedef struct timer_item {
    int64_t t;
    uint64_t seq;
    uint8_t *key; /* malloc'd; NULL when keylen 0 */
    uint32_t keylen;
} timer_item_t;

typedef struct timer_heap {
    timer_item_t *items;
    size_t n, cap;
} timer_heap_t;

struct te_timer_service {
    timer_heap_t heap[2];
    te_state_backend_t *dedup;
    int own_dedup;
    uint64_t seq;
    uint8_t *popped; /* the key of the last pop */
};

te_timer_service_t *timer_service_new(uint32_t max_parallelism)
{
    te_timer_service_t *ts = calloc(1, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    ts->dedup = state_backend_new("hashmap", max_parallelism, NULL);
    if (ts->dedup == NULL) {
        free(ts);
        return NULL;
    }
    ts->own_dedup = 1;
    return ts;
}

te_timer_service_t *timer_service_new_with(te_state_backend_t *dedup)
{
    te_timer_service_t *ts = calloc(1, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    ts->dedup = dedup;
    return ts;
}

void timer_service_free(te_timer_service_t *ts)
{
    if (ts == NULL)
        return;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ts->heap[k].n; i++)
            free(ts->heap[k].items[i].key);
        free(ts->heap[k].items);
    }
    if (ts->own_dedup)
        state_backend_free(ts->dedup);
    free(ts->popped);
    free(ts);
}

static int item_less(const timer_item_t *a, const timer_item_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_up(timer_heap_t *h, size_t i)
{
    timer_item_t x = h->items[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!item_less(&x, &h->items[p]))
            break;
        h->items[i] = h->items[p];
        i = p;
    }
    h->items[i] = x;
}

static void heap_down(timer_heap_t *h, size_t i)
{
    timer_item_t x = h->items[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const timer_item_t *best = &x;
        if (l < h->n && item_less(&h->items[l], best)) {
            m = l;
            best = &h->items[l];
        }
        if (l + 1 < h->n && item_less(&h->items[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        h->items[i] = h->items[m];
        i = m;
    }
    h->items[i] = x;
}

static void dedup_ns(uint8_t ns[9], int kind, int64_t t)
{
    ns[0] = (uint8_t)kind;
    for (int i = 0; i < 8; i++)
        ns[1 + i] = (uint8_t)((uint64_t)t >> (8 * i));
}

int timer_service_register(te_timer_service_t *ts, int kind, const uint8_t *key, uint32_t keylen, int64_t t)
{
    kind = kind ? 1 : 0;
    uint8_t ns[9];
    dedup_ns(ns, kind, t);
    const uint8_t *v;
    uint32_t vl;
    if (state_backend_get(ts->dedup, key, keylen, ns, sizeof(ns), &v, &vl))
        return 1;
    timer_heap_t *h = &ts->heap[kind];
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        timer_item_t *ni = realloc(h->items, nc * sizeof(*ni));
        if (ni == NULL)
            return -1;
        h->items = ni;
        h->cap = nc;
    }
    uint8_t *kc = NULL;
    if (keylen) {
        kc = malloc(keylen);
        if (kc == NULL)
            return -1;
        memcpy(kc, key, keylen);
    }
    if (state_backend_put(ts->dedup, key, keylen, ns, sizeof(ns), NULL, 0) != 0) {
        free(kc);
        return -1;
    }
    h->items[h->n] = (timer_item_t){.t = t, .seq = ts->seq++, .key = kc, .keylen = keylen};
    h->n++;
    heap_up(h, h->n - 1);
    return 0;
}

int timer_service_pop(te_timer_service_t *ts, int kind, int64_t limit, int64_t *t, const uint8_t **key,
                      uint32_t *keylen)
{
    timer_heap_t *h = &ts->heap[kind ? 1 : 0];
    if (h->n == 0 || h->items[0].t > limit)
        return 0;
    timer_item_t top = h->items[0];
    h->n--;
    if (h->n > 0) {
        h->items[0] = h->items[h->n];
        heap_down(h, 0);
    }
    uint8_t ns[9];
    dedup_ns(ns, kind ? 1 : 0, top.t);
    state_backend_delete(ts->dedup, top.key, top.keylen, ns, sizeof(ns));
    free(ts->popped);
    ts->popped = top.key;
    *t = top.t;
    *key = top.key;
    *keylen = top.keylen;
    return 1;
}

int64_t timer_service_next(const te_timer_service_t *ts, int kind)
{
    const timer_heap_t *h = &ts->heap[kind ? 1 : 0];
    return h->n ? h->items[0].t : INT64_MAX;
}

size_t timer_service_count(const te_timer_service_t *ts, int kind) { return ts->heap[kind ? 1 : 0].n; }

/* ---- checkpoints ---- */

/* a + b, saturated to the int64 range (timer times may be near INT64_MAX: "never"). */
static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

te_status_t timer_service_snapshot(te_timer_service_t *ts, te_timer_clock_t now, uint8_t **data, size_t *len,
                                   te_error_t *err)
{
    te_state_backend_t *out = state_backend_new("hashmap", state_backend_max_parallelism(ts->dedup), err);
    if (out == NULL)
        return err ? err->code : TE_ENOMEM;
    /* processing time: monotonic -> wall clock (epoch ms) */
    int64_t to_wall = now.wall_ms - now.mono_ms;
    te_status_t rc = TE_OK;
    for (int kind = 0; kind < 2 && rc == TE_OK; kind++) {
        const timer_heap_t *h = &ts->heap[kind];
        for (size_t i = 0; i < h->n && rc == TE_OK; i++) {
            uint8_t ns[9];
            int64_t t = kind == TE_TIMER_PROCESSING ? sat_add(h->items[i].t, to_wall) : h->items[i].t;
            dedup_ns(ns, kind, t);
            if (state_backend_put(out, h->items[i].key, h->items[i].keylen, ns, sizeof(ns), NULL, 0) != 0)
                rc = te_error_set(err, TE_ENOMEM, "out of memory snapshotting timers");
        }
    }
    if (rc == TE_OK)
        rc = state_backend_snapshot(out, data, len, err);
    state_backend_free(out);
    return rc;
}

void timer_service_view_map(int64_t to_wall, uint8_t *ns, uint32_t nslen)
{
    if (nslen != 9 || ns[0] != TE_TIMER_PROCESSING)
        return;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | ns[1 + i];
    dedup_ns(ns, TE_TIMER_PROCESSING, sat_add((int64_t)u, to_wall));
}

te_state_view_t *timer_service_view(te_timer_service_t *ts, te_timer_clock_t now, int64_t *map_arg,
                                    te_error_t *err)
{
    *map_arg = now.wall_ms - now.mono_ms; /* processing time: monotonic -> wall clock */
    return state_backend_view(ts->dedup, err);
}

typedef struct restore_ctx {
    te_timer_service_t *ts;
    uint32_t format;
    te_timer_clock_t now;
} restore_ctx_t;

static int restore_visit(void *arg, uint32_t kg, const uint8_t *key, uint32_t keylen, const uint8_t *ns,
                         uint32_t nslen, const uint8_t *val, uint32_t vallen)
{
    restore_ctx_t *rc = arg;
    (void)kg;
    (void)val;
    (void)vallen;
    if (nslen != 9)
        return 1;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | ns[1 + i];
    int kind = ns[0] ? TE_TIMER_EVENT : TE_TIMER_PROCESSING;
    int64_t t = (int64_t)u;
    if (kind == TE_TIMER_PROCESSING) {
        if (rc->format == TE_TIMER_SNAPSHOT_WALL) /* wall clock -> our monotonic clock */
            t = sat_add(t, rc->now.mono_ms - rc->now.wall_ms);
        else if (t > rc->now.mono_ms) /* another process's monotonic clock: due at once */
            t = rc->now.mono_ms;
        if (t < 0)
            t = 0; /* the mailbox loop reads a negative time as "no timer" */
    }
    return timer_service_register(rc->ts, kind, key, keylen, t) < 0 ? 2 : 0;
}

/* From data (in memory) or a section of r. */
static te_status_t restore_from(te_timer_service_t *ts, const uint8_t *data, size_t len, te_ckpt_reader_t *r,
                                const te_ckpt_section_info_t *sec, uint32_t format, te_timer_clock_t now,
                                uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    if (format != TE_TIMER_SNAPSHOT_MONO && format != TE_TIMER_SNAPSHOT_WALL)
        return te_error_set(err, TE_EPROTO, "timers in snapshot format %u (this build reads formats %u and %u)",
                            format, TE_TIMER_SNAPSHOT_MONO, TE_TIMER_SNAPSHOT_WALL);
    te_state_backend_t *tmp = state_backend_new("hashmap", state_backend_max_parallelism(ts->dedup), err);
    if (tmp == NULL)
        return err ? err->code : TE_ENOMEM;
    te_status_t rc = r ? state_backend_restore_section(tmp, r, sec, kg_first, kg_last, err)
                       : state_backend_restore(tmp, data, len, kg_first, kg_last, err);
    if (rc == TE_OK) {
        restore_ctx_t ctx = {ts, format, now};
        int v = state_backend_foreach(tmp, restore_visit, &ctx);
        if (v == 1)
            rc = te_error_set(err, TE_EPROTO, "timer snapshot holds an entry that is not a timer");
        else if (v != 0)
            rc = te_error_set(err, TE_ENOMEM, "out of memory restoring timers");
    }
    state_backend_free(tmp);
    return rc;
}

te_status_t timer_service_restore(te_timer_service_t *ts, const uint8_t *data, size_t len, uint32_t format,
                                  te_timer_clock_t now, uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    return restore_from(ts, data, len, NULL, NULL, format, now, kg_first, kg_last, err);
}

te_status_t timer_service_restore_section(te_timer_service_t *ts, te_ckpt_reader_t *r,
                                          const te_ckpt_section_info_t *sec, uint32_t format, te_timer_clock_t now,
                                          uint32_t kg_first, uint32_t kg_last, te_error_t *err)
{
    return restore_from(ts, NULL, 0, r, sec, format, now, kg_first, kg_last, err);
}
