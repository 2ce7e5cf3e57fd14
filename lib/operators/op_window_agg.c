/*
 * op_window_agg — `window_aggregate`: keyed window aggregation with several aggregates
 * (op_agg.h), tumbling or sliding on event or processing time — by slices, as Flink's
 * slicing window operators — and session windows.
 *
 * Parameters: key (grouping fields, a list; absent = one group), aggs (required:
 * count, sum, min, max, avg with FILTER; not count DISTINCT, not string min/max),
 * size (duration), slide (duration <= size; default size: tumbling), gap (duration:
 * session windows instead of size/slide), time = event (default) | processing.
 * Output: the key fields, window_start:timestamp, window_end:timestamp, then one field
 * per aggregate; each result carries the timestamp window_end - 1. A key's window with
 * no rows emits nothing.
 *
 * Slicing (tumbling and sliding): time is cut into slices of gcd(size, slide); a row
 * updates the accumulator of its key in its own slice only (one hash lookup, no
 * allocation, no timer), and a window [start, start + size) is the merge of its
 * slices. Event time: when the watermark passes a window's end - 1 the window fires
 * (its keys merged from the slices in its range; a tumbling window is one slice) and
 * the slices no later window needs are recycled; so the work per watermark is per
 * slice end, not per key and window. A row whose last window has fired is late:
 * dropped and counted in numLateRecordsDropped (Flink's rule). Processing time: a row
 * goes to the slice of the wall clock when it arrives, and one processing-time timer
 * per slice end fires the windows due.
 *
 * Sessions (gap): per key, the sessions in keyed state (start, end, accumulator); a row
 * opens [t, t + gap) and merges every session it overlaps; an event-time timer at each
 * session's end - 1 fires it. Late rows (t + gap - 1 <= watermark) are dropped and
 * counted.
 *
 * Checkpoints: sessions and timers are keyed state already; slices are written into
 * keyed state at snapshot (namespace 'w' | slice id | end of the last window fired,
 * per key, so they redistribute by key group on a rescale) and read back into memory
 * at open after a restore.
 *
 * Threading: every callback runs on the owning task's thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "operators/op_agg.h"
#include "operators/op_keyed.h"
#include "operators/op_slices.h"
#include "operators/op_window_agg.h"

#define WIN_TS_LIMIT (INT64_MAX / 4)
#define NS_SLICE     'w'

struct window_agg {
    const te_operator_api_t *api;
    te_operator_ctx_t *ctx;
    const char *name;
    te_row_key_t key;
    uint32_t n_key;
    op_aggs_t aggs;
    uint32_t acc_size;
    uint8_t *acc_init; /* an empty accumulator */
    int64_t size, slide, gap, slice;
    int processing;
    op_slice_t **active; /* by id, ascending */
    size_t n_active, cap_active;
    op_slice_t **pool; /* cleared, for reuse */
    size_t n_pool, cap_pool;
    op_slice_t merged;
    int64_t fired_end; /* end of the last window fired; INT64_MIN none */
    int64_t timer_at;  /* processing time: the wall-clock slice end a timer is set for, or 0 */
    te_row_builder_t out, acc;
    op_buf_t keybuf, sess, nsbuf;
    int loaded;
    /* The slice and the slide period of the last record: [lo, hi) and its number, so
     * that records of the same period (nearly all: time moves on slowly) take no
     * division. Empty (lo == hi) at first. */
    struct period {
        int64_t lo, hi, q;
    } slice_of, slide_of;
};

static int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

/* floor_div(t, d) through p's last period (|t| <= WIN_TS_LIMIT: no overflow). */
static inline int64_t period_of(struct period *p, int64_t t, int64_t d)
{
    if (t >= p->lo && t < p->hi)
        return p->q;
    p->q = floor_div(t, d);
    p->lo = p->q * d;
    p->hi = p->lo + d;
    return p->q;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void window_agg_dispose(void *self)
{
    window_agg_t *w = self;
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n_active; i++) {
        op_slice_release(w->active[i]);
        free(w->active[i]);
    }
    for (size_t i = 0; i < w->n_pool; i++) {
        op_slice_release(w->pool[i]);
        free(w->pool[i]);
    }
    free(w->active);
    free(w->pool);
    op_slice_release(&w->merged);
    op_aggs_free(&w->aggs);
    free(w->acc_init);
    te_row_builder_free(&w->out);
    te_row_builder_free(&w->acc);
    op_buf_release(&w->keybuf);
    op_buf_release(&w->sess);
    op_buf_release(&w->nsbuf);
    free(w);
}

window_agg_t *window_agg_new(op_setup_t *s, const te_schema_t *in, const uint32_t *key, uint32_t n_key,
                             const char *aggs_param, const char *aggs, int64_t size, int64_t slide, int64_t gap,
                             int processing, op_schema_t *o)
{
    window_agg_t *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        op_errorf(s, "out of memory");
        return NULL;
    }
    w->api = s->api;
    w->ctx = s->ctx;
    w->name = s->op;
    w->n_key = n_key;
    if (n_key)
        op_key_of(in, key, n_key, &w->key);
    w->size = size;
    w->slide = slide;
    w->gap = gap;
    w->slice = gap ? 0 : gcd64(size, slide);
    w->processing = processing;
    w->fired_end = INT64_MIN;
    if (op_aggs_parse_text(s, in, aggs_param, aggs, &w->aggs) != 0 ||
        op_declare_reads(s, 0, op_fields_mask(key, n_key) | op_aggs_fields_read(&w->aggs), 0) != 0)
        goto fail;
    if (!w->aggs.fixed || w->aggs.distinct) {
        op_errorf(s,
                  "parameter '%s': windows aggregate with count, sum, avg and min/max of numbers or timestamps "
                  "(not count(DISTINCT) or min/max of strings: use `aggregate` with a window key)",
                  aggs_param);
        goto fail;
    }
    w->acc_size = op_aggs_acc_size(&w->aggs);
    if (op_aggs_init(&w->aggs, &w->acc) != 0 || (w->acc_init = malloc(w->acc_size)) == NULL) {
        op_errorf(s, "out of memory");
        goto fail;
    }
    memcpy(w->acc_init, w->acc.buf, w->acc_size);
    op_slice_init(&w->merged, 0, w->acc_size);
    for (uint32_t k = 0; k < n_key; k++)
        if (op_schema_add_from(s, o, in, key[k]) != 0)
            goto fail;
    if (op_schema_add(s, o, "window_start", TE_TYPE_TIMESTAMP, 0) != 0 ||
        op_schema_add(s, o, "window_end", TE_TYPE_TIMESTAMP, 0) != 0 || op_aggs_schema(s, &w->aggs, o) != 0)
        goto fail;
    return w;
fail:
    window_agg_dispose(w);
    return NULL;
}

/* ---- slices ---- */

/* slice_get's way when the newest slice is not id's: an older one, or a new slice. */
static __attribute__((noinline)) op_slice_t *slice_find_or_add(window_agg_t *w, int64_t id)
{
    size_t i = w->n_active;
    while (i > 0 && w->active[i - 1]->id > id) /* new slices come last, mostly */
        i--;
    if (i > 0 && w->active[i - 1]->id == id)
        return w->active[i - 1];
    if (w->n_active == w->cap_active) {
        size_t nc = w->cap_active ? w->cap_active * 2 : 16;
        op_slice_t **na = realloc(w->active, nc * sizeof(*na));
        if (na == NULL)
            return NULL;
        w->active = na;
        w->cap_active = nc;
    }
    op_slice_t *sl;
    if (w->n_pool > 0) {
        sl = w->pool[--w->n_pool];
        op_slice_clear(sl, id);
    } else {
        if ((sl = malloc(sizeof(*sl))) == NULL)
            return NULL;
        op_slice_init(sl, id, w->acc_size);
    }
    memmove(w->active + i + 1, w->active + i, (w->n_active - i) * sizeof(*w->active));
    w->active[i] = sl;
    w->n_active++;
    return sl;
}

/* The slice of id (created when there is none): mostly the newest one, inline. */
static inline op_slice_t *slice_get(window_agg_t *w, int64_t id)
{
    if (__builtin_expect(w->n_active > 0 && w->active[w->n_active - 1]->id == id, 1))
        return w->active[w->n_active - 1];
    return slice_find_or_add(w, id);
}

/* Moves the first n active slices to the pool. */
static void slices_drop(window_agg_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (w->n_pool == w->cap_pool) {
            size_t nc = w->cap_pool ? w->cap_pool * 2 : 16;
            op_slice_t **np = realloc(w->pool, nc * sizeof(*np));
            if (np == NULL) { /* keep going without the pool */
                op_slice_release(w->active[i]);
                free(w->active[i]);
                continue;
            }
            w->pool = np;
            w->cap_pool = nc;
        }
        w->pool[w->n_pool++] = w->active[i];
    }
    memmove(w->active, w->active + n, (w->n_active - n) * sizeof(*w->active));
    w->n_active -= n;
}

static inline __attribute__((always_inline)) int add_to_slice(window_agg_t *w, int64_t t, const te_record_t *rec)
{
    op_slice_t *sl = slice_get(w, period_of(&w->slice_of, t, w->slice));
    uint32_t kl = 0;
    const uint8_t *k = w->n_key ? op_key_bytes(rec, &w->key, &w->keybuf, &kl) : (const uint8_t *)"";
    int created;
    uint8_t *acc = sl && k ? op_slice_upsert(sl, k, kl, &created) : NULL;
    if (acc == NULL)
        return -1;
    if (created)
        memcpy(acc, w->acc_init, w->acc_size);
    return op_aggs_add_fixed(&w->aggs, acc, rec);
}

/* Emits key | start | end | results of acc. */
static int emit_window(window_agg_t *w, const uint8_t *key, uint32_t keylen, const uint8_t *acc, int64_t start,
                       int64_t end, te_output_t *out)
{
    if (op_aggs_empty_fixed(&w->aggs, acc))
        return 0;
    te_row_builder_begin(&w->out, w->n_key + 2 + w->aggs.n);
    if (w->n_key && op_key_to_row(&w->out, 0, key, keylen, &w->key) != 0) {
        w->api->fail(w->ctx, "operator '%s': a key in its state does not match its key fields", w->name);
        return -1;
    }
    te_row_set_ts(&w->out, w->n_key, start);
    te_row_set_ts(&w->out, w->n_key + 1, end);
    te_record_t a = {acc, w->acc_size, 0}, r;
    op_aggs_result(&w->aggs, &a, &w->out, w->n_key + 2);
    if (te_row_builder_finish(&w->out, end - 1, &r) != 0) {
        w->api->fail(w->ctx, "operator '%s': out of memory", w->name);
        return -1;
    }
    w->api->emit(out, &r);
    return 0;
}

/* Fires the window ending at `end` from the active slices in its range. */
static int fire_window(window_agg_t *w, int64_t end, te_output_t *out)
{
    int64_t start = end - w->size, first = floor_div(start, w->slice),
            last = floor_div(end, w->slice); /* [first, last) */
    size_t a = 0, b;
    while (a < w->n_active && w->active[a]->id < first)
        a++;
    for (b = a; b < w->n_active && w->active[b]->id < last; b++)
        ;
    if (a == b)
        return 0;
    op_slice_t *src = w->active[a];
    if (b - a > 1) { /* merge the window's slices per key */
        op_slice_clear(&w->merged, end);
        for (size_t i = a; i < b; i++) {
            op_slice_t *sl = w->active[i];
            for (uint32_t e = 0; e < sl->n; e++) {
                const uint8_t *k;
                uint32_t kl;
                uint8_t *acc = op_slice_entry(sl, e, &k, &kl);
                int created;
                uint8_t *m = op_slice_upsert(&w->merged, k, kl, &created);
                if (m == NULL) {
                    w->api->fail(w->ctx, "operator '%s': out of memory", w->name);
                    return -1;
                }
                if (created)
                    memcpy(m, acc, w->acc_size);
                else
                    op_aggs_merge_fixed(&w->aggs, m, acc);
            }
        }
        src = &w->merged;
    }
    for (uint32_t e = 0; e < src->n; e++) {
        const uint8_t *k;
        uint32_t kl;
        uint8_t *acc = op_slice_entry(src, e, &k, &kl);
        if (emit_window(w, k, kl, acc, start, end, out) != 0)
            return -1;
    }
    return 0;
}

/* Fires every window whose end - 1 <= limit, oldest first, and recycles the slices no
 * later window needs. */
static int fire_until(window_agg_t *w, int64_t limit, te_output_t *out)
{
    while (w->n_active > 0) {
        int64_t a = w->active[0]->id * w->slice;
        /* the first window holding the oldest slice [a, a + slice) */
        int64_t ws = a + w->slice - w->size;
        ws = -floor_div(-ws, w->slide) * w->slide; /* ceil to a multiple of slide */
        int64_t end = ws + w->size;
        if (w->fired_end != INT64_MIN && end <= w->fired_end)
            end = w->fired_end + w->slide;
        if (end - 1 > limit)
            break;
        if (fire_window(w, end, out) != 0)
            return -1;
        w->fired_end = end;
        int64_t next_start = end - w->size + w->slide;
        size_t n = 0;
        while (n < w->n_active && (w->active[n]->id + 1) * w->slice <= next_start)
            n++;
        slices_drop(w, n);
    }
    return 0;
}

/* ---- checkpoints: slices as keyed state ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

typedef struct ns_list {
    op_buf_t keys; /* u32 keylen | key | u32 nslen | ns */
    int oom;
} ns_list_t;

static int collect_slices(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                          const uint8_t *val, uint32_t vallen)
{
    (void)val, (void)vallen;
    ns_list_t *l = arg;
    if (nslen != 17 || ns[0] != NS_SLICE)
        return 0;
    if (op_buf_append(&l->keys, &keylen, 4) != 0 || op_buf_append(&l->keys, key, keylen) != 0 ||
        op_buf_append(&l->keys, &nslen, 4) != 0 || op_buf_append(&l->keys, ns, nslen) != 0)
        l->oom = 1;
    return 0;
}

/* Deletes every slice entry written to keyed state. */
static int drop_saved(window_agg_t *w)
{
    ns_list_t l = {{0}, 0};
    w->api->state_foreach_ns(w->ctx, collect_slices, &l);
    for (size_t off = 0; off < l.keys.len;) {
        uint32_t kl, nl;
        memcpy(&kl, l.keys.data + off, 4);
        const uint8_t *k = l.keys.data + off + 4;
        memcpy(&nl, k + kl, 4);
        w->api->state_delete_ns(w->ctx, k, kl, k + kl + 4, nl);
        off += 8 + (size_t)kl + nl;
    }
    op_buf_release(&l.keys);
    return l.oom ? -1 : 0;
}

int window_agg_snapshot(void *self, uint64_t checkpoint_id, uint8_t **data, size_t *len)
{
    window_agg_t *w = self;
    (void)checkpoint_id;
    *data = NULL;
    *len = 0;
    if (w->gap || drop_saved(w) != 0)
        return w->gap ? 0 : -1;
    uint8_t ns[17];
    ns[0] = NS_SLICE;
    put_be64(ns + 9, (uint64_t)w->fired_end);
    for (size_t i = 0; i < w->n_active; i++) {
        op_slice_t *sl = w->active[i];
        put_be64(ns + 1, (uint64_t)sl->id);
        for (uint32_t e = 0; e < sl->n; e++) {
            const uint8_t *k;
            uint32_t kl;
            uint8_t *acc = op_slice_entry(sl, e, &k, &kl);
            if (w->api->state_put_ns(w->ctx, k, kl, ns, sizeof(ns), acc, w->acc_size) != 0)
                return -1;
        }
    }
    return 0;
}

int window_agg_restore(void *self, const uint8_t *data, size_t len)
{
    (void)self, (void)data, (void)len; /* everything is in keyed state */
    return 0;
}

typedef struct load_ctx {
    window_agg_t *w;
    int failed;
} load_ctx_t;

static int load_slice(void *arg, const uint8_t *key, uint32_t keylen, const uint8_t *ns, uint32_t nslen,
                      const uint8_t *val, uint32_t vallen)
{
    load_ctx_t *l = arg;
    window_agg_t *w = l->w;
    if (nslen != 17 || ns[0] != NS_SLICE)
        return 0;
    if (vallen != w->acc_size) {
        l->failed = 1;
        return 1;
    }
    int64_t fired = (int64_t)get_be64(ns + 9);
    if (fired > w->fired_end)
        w->fired_end = fired;
    op_slice_t *sl = slice_get(w, (int64_t)get_be64(ns + 1));
    int created;
    uint8_t *acc = sl ? op_slice_upsert(sl, key, keylen, &created) : NULL;
    if (acc == NULL) {
        l->failed = 1;
        return 1;
    }
    if (created)
        memcpy(acc, val, w->acc_size);
    else
        op_aggs_merge_fixed(&w->aggs, acc, val);
    return 0;
}

/* After a restore: the slices saved in keyed state, back into memory. */
static int load_restored(window_agg_t *w)
{
    w->loaded = 1;
    if (w->gap)
        return 0;
    load_ctx_t l = {w, 0};
    w->api->state_foreach_ns(w->ctx, load_slice, &l);
    if (l.failed || drop_saved(w) != 0) {
        w->api->fail(w->ctx,
                     "operator '%s': restoring its window slices failed (a snapshot of another "
                     "aggregate list?)",
                     w->name);
        return -1;
    }
    return 0;
}

int window_agg_open(void *self, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return load_restored(self);
}

/* ---- sessions: per key, in keyed state: {i64 start, i64 end, acc}* ---- */

static int session_add(window_agg_t *w, const te_record_t *rec, int64_t t)
{
    uint32_t kl = 0;
    const uint8_t *k = w->n_key ? op_key_bytes(rec, &w->key, &w->keybuf, &kl) : (const uint8_t *)"";
    const uint8_t *v;
    uint32_t vl = 0;
    size_t rec_size = 16 + w->acc_size;
    w->sess.len = 0;
    if (k == NULL || (w->api->state_get(w->ctx, k, kl, &v, &vl) && op_buf_append(&w->sess, v, vl) != 0) ||
        op_buf_reserve(&w->sess, w->sess.len + rec_size) != 0)
        return -1;
    int64_t start = t, end = t + w->gap;
    uint8_t *merged = w->sess.data + w->sess.len; /* the new session, built at the end */
    memcpy(merged + 16, w->acc_init, w->acc_size);
    size_t keep = 0;
    for (size_t off = 0; off < w->sess.len; off += rec_size) {
        int64_t s0, e0;
        memcpy(&s0, w->sess.data + off, 8);
        memcpy(&e0, w->sess.data + off + 8, 8);
        if (s0 < end && start < e0) { /* overlaps: merge */
            start = s0 < start ? s0 : start;
            end = e0 > end ? e0 : end;
            op_aggs_merge_fixed(&w->aggs, merged + 16, w->sess.data + off + 16);
        } else {
            memmove(w->sess.data + keep, w->sess.data + off, rec_size);
            keep += rec_size;
        }
    }
    memmove(w->sess.data + keep, merged, rec_size);
    merged = w->sess.data + keep;
    memcpy(merged, &start, 8);
    memcpy(merged + 8, &end, 8);
    if (op_aggs_add_fixed(&w->aggs, merged + 16, rec) != 0)
        return -1;
    w->sess.len = keep + rec_size;
    if (w->api->state_put(w->ctx, k, kl, w->sess.data, (uint32_t)w->sess.len) != 0)
        return -1;
    return w->api->register_event_timer(w->ctx, k, kl, end - 1);
}

static int session_fire(window_agg_t *w, const uint8_t *key, uint32_t keylen, int64_t ts, te_output_t *out)
{
    const uint8_t *v;
    uint32_t vl;
    size_t rec_size = 16 + w->acc_size;
    w->sess.len = 0;
    if (!w->api->state_get(w->ctx, key, keylen, &v, &vl))
        return 0;
    if (op_buf_append(&w->sess, v, vl) != 0)
        return -1;
    size_t keep = 0;
    for (size_t off = 0; off + rec_size <= w->sess.len; off += rec_size) {
        int64_t s0, e0;
        memcpy(&s0, w->sess.data + off, 8);
        memcpy(&e0, w->sess.data + off + 8, 8);
        if (e0 - 1 <= ts) {
            if (emit_window(w, key, keylen, w->sess.data + off + 16, s0, e0, out) != 0)
                return -1;
        } else {
            memmove(w->sess.data + keep, w->sess.data + off, rec_size);
            keep += rec_size;
        }
    }
    if (keep == 0)
        w->api->state_delete(w->ctx, key, keylen);
    else if (keep != w->sess.len && w->api->state_put(w->ctx, key, keylen, w->sess.data, (uint32_t)keep) != 0)
        return -1;
    return 0;
}

/* ---- callbacks ---- */

static int arm_processing_timer(window_agg_t *w, int64_t now_wall)
{
    if (w->n_active == 0)
        return 0;
    int64_t a = w->active[0]->id * w->slice;
    int64_t ws = a + w->slice - w->size;
    ws = -floor_div(-ws, w->slide) * w->slide;
    int64_t end = ws + w->size;
    if (w->fired_end != INT64_MIN && end <= w->fired_end)
        end = w->fired_end + w->slide;
    if (w->timer_at == end)
        return 0;
    w->timer_at = end;
    int64_t due = w->api->current_processing_time(w->ctx) + (end - now_wall);
    return w->api->register_processing_timer(w->ctx, NULL, 0, due);
}

int window_agg_process(void *self, int input, const te_record_t *rec, te_output_t *out)
{
    (void)input, (void)out;
    window_agg_t *w = self;
    if (!w->loaded && load_restored(w) != 0)
        return -1;
    int64_t t = rec->timestamp;
    if (w->processing) {
        t = wall_ms();
        if (add_to_slice(w, t, rec) != 0)
            goto oom;
        return arm_processing_timer(w, t);
    }
    if (t == TE_NO_TIMESTAMP) {
        w->api->fail(w->ctx, "operator '%s': a record has no timestamp (put assign_timestamps before the window)",
                     w->name);
        return -1;
    }
    if (t < -WIN_TS_LIMIT || t > WIN_TS_LIMIT) {
        w->api->fail(w->ctx, "operator '%s': timestamp %lld is out of range", w->name, (long long)t);
        return -1;
    }
    int64_t wm = w->api->current_watermark(w->ctx);
    if (w->gap) {
        if (t + w->gap - 1 <= wm) {
            w->api->counter_add(w->ctx, "numLateRecordsDropped", 1);
            return 0;
        }
        return session_add(w, rec, t) == 0 ? 0 : -1;
    }
    int64_t last_end = period_of(&w->slide_of, t, w->slide) * w->slide + w->size;
    if (last_end - 1 <= wm || (w->fired_end != INT64_MIN && last_end <= w->fired_end)) {
        w->api->counter_add(w->ctx, "numLateRecordsDropped", 1);
        return 0;
    }
    if (add_to_slice(w, t, rec) == 0)
        return 0;
oom:
    w->api->fail(w->ctx, "operator '%s': out of memory", w->name);
    return -1;
}

int window_agg_watermark(void *self, int64_t wm, te_output_t *out)
{
    window_agg_t *w = self;
    if (!w->loaded && load_restored(w) != 0)
        return -1;
    if (!w->processing && !w->gap && fire_until(w, wm, out) != 0)
        return -1;
    w->api->emit_watermark(out, wm);
    return 0;
}

int window_agg_on_timer(void *self, int event_time, int64_t ts, const uint8_t *key, uint32_t keylen,
                        te_output_t *out)
{
    window_agg_t *w = self;
    if (event_time)
        return w->gap ? session_fire(w, key, keylen, ts, out) : 0;
    if (!w->processing)
        return 0;
    int64_t now = wall_ms();
    w->timer_at = 0;
    if (fire_until(w, now, out) != 0)
        return -1;
    return arm_processing_timer(w, now);
}

/* End of input: processing-time windows fire now (event time has the final watermark). */
int window_agg_end_input(void *self, te_output_t *out)
{
    window_agg_t *w = self;
    return w->processing ? fire_until(w, INT64_MAX - 1, out) : 0;
}

/* ---- window_aggregate ---- */

static void *window_aggregate_setup(const te_operator_api_t *api, te_operator_ctx_t *ctx, char *err, size_t errlen)
{
    static const char *const allowed[] = {"key", "aggs", "size", "slide", "gap", "time", NULL};
    op_setup_t s = {api, ctx, "window_aggregate", err, errlen};
    const int64_t max_ms = 86400000LL * 3650;
    const te_schema_t *in;
    const char *time;
    uint32_t idx[TE_ROW_KEY_MAX_FIELDS], nk = 0;
    int64_t size = 0, slide = 0, gap = 0;
    if (op_require_v2(&s) != 0 || op_check_keys(&s, allowed) != 0 || (in = op_input_schema(&s, 0)) == NULL ||
        op_get_fields_of(&s, in, "key", 0, idx, TE_ROW_KEY_MAX_FIELDS, &nk) != 0 ||
        op_get_string(&s, "time", 0, "event", &time) != 0 ||
        op_get_duration_ms(&s, "gap", 0, 0, 1, max_ms, &gap) != 0)
        return NULL;
    int processing = strcmp(time, "processing") == 0;
    if (!processing && strcmp(time, "event") != 0) {
        op_errorf(&s, "parameter 'time' = '%s' is not one of event, processing", time);
        return NULL;
    }
    if (gap > 0) {
        if (api->param(ctx, "size") || api->param(ctx, "slide")) {
            op_errorf(&s, "parameter 'gap' (session windows) cannot be combined with 'size' or 'slide'");
            return NULL;
        }
        if (processing) {
            op_errorf(&s, "session windows ('gap') are on event time only");
            return NULL;
        }
    } else if (op_window_sizes(&s, &size, &slide) != 0) {
        return NULL;
    }
    op_schema_t o = {0};
    window_agg_t *w =
        window_agg_new(&s, in, idx, nk, "aggs", api->param(ctx, "aggs"), size, slide, gap, processing, &o);
    if (w == NULL)
        return NULL;
    if (op_declare(&s, NULL, &o) != 0) {
        window_agg_dispose(w);
        return NULL;
    }
    return w;
}

int op_window_sizes(op_setup_t *s, int64_t *size, int64_t *slide)
{
    const int64_t max_ms = 86400000LL * 3650;
    if (op_get_duration_ms(s, "size", 1, 0, 1, max_ms, size) != 0 ||
        op_get_duration_ms(s, "slide", 0, *size, 1, max_ms, slide) != 0)
        return -1;
    if (*slide > *size)
        return op_errorf(s,
                         "parameter 'slide' = '%s' is larger than 'size' = '%s' (records would fall between "
                         "windows)",
                         s->api->param(s->ctx, "slide"), s->api->param(s->ctx, "size"));
    if (*size / gcd64(*size, *slide) > 100000)
        return op_errorf(s, "size %lld ms / slice %lld ms: more than 100000 slices per window", (long long)*size,
                         (long long)gcd64(*size, *slide));
    return 0;
}

const te_operator_def_t op_window_aggregate_def = {
    .abi_version = TE_OPERATOR_ABI_VERSION,
    .name = "window_aggregate",
    .kind = TE_OP_ONE_INPUT,
    .setup = window_aggregate_setup,
    .open = window_agg_open,
    .process_element = window_agg_process,
    .process_watermark = window_agg_watermark,
    .end_input = window_agg_end_input,
    .snapshot = window_agg_snapshot,
    .restore = window_agg_restore,
    .on_timer = window_agg_on_timer,
    .dispose = window_agg_dispose,
};
