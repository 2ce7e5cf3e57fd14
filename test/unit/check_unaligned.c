/*
 * Unit tests: the primitives of unaligned checkpoints (FLIP-76).
 *
 *   - priority events in pipelined subpartitions (result_partition_broadcast_priority_event):
 *     the capture receives exactly the unread bytes per subpartition (head from
 *     read_offset, later buffers, the open tail's committed bytes); the reader gets the
 *     priority event first and then every byte exactly once; poll_event never returns
 *     data; the priority listener fires even when data was readable; bytes written
 *     after the event follow it; a producer and two consumer threads under back-pressure
 *     (every barrier: bytes read before it + bytes captured = bytes written before it);
 *   - the event codec: priority barrier (wire type 4), aligned barrier (2), type 5 refused;
 *   - the serializer's raw mode, record_writer_write_raw, and
 *     record_deserializer_unconsumed at every slice cut;
 *   - the input gate's priority API over a real remote channel (fake transport) and a
 *     local channel; overtaken buffers and their release.
 *
 * Oracles are computed in the tests from the byte patterns they write. Every test ends
 * with the whole arena back (nothing leaked); under `make asan` heap leaks fail too.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shuffle/buffer.h"
#include "shuffle/channel_selector.h"
#include "shuffle/task_event.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_input_channel.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_serializer.h"
#include "shuffle/record_writer.h"
#include "shuffle/remote_input_channel.h"
#include "shuffle/result_partition.h"

#include "harness_shuffle.h"

#define SEG 256

static te_network_buffer_pool_t *arena;

static void setup(void)
{
    te_error_t err;
    arena = network_buffer_pool_new(64 * SEG, SEG, &err);
    ck_assert_ptr_nonnull(arena);
}

static void teardown(void)
{
    ck_assert_uint_eq(network_buffer_pool_available_segments(arena), network_buffer_pool_total_segments(arena));
    network_buffer_pool_free(arena);
}

/* ---------------- helpers ---------------- */

/* Fails like ck_assert_msg, but a passing check costs nothing (each ck_assert records
 * its location with a write to the runner: too slow in loops of millions). */
#define EXPECT(cond, ...)              \
    do {                               \
        if (!(cond))                   \
            ck_abort_msg(__VA_ARGS__); \
    } while (0)

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes_t;

static void bytes_add(bytes_t *b, const uint8_t *d, size_t n)
{
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n)
            c *= 2;
        uint8_t *p = realloc(b->p, c);
        if (p == NULL)
            abort(); /* also called from threads and under locks: no ck_assert */
        b->p = p;
        b->cap = c;
    }
    if (n > 0)
        memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void bytes_free(bytes_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A stream byte: position i of subpartition (or channel) s. */
static uint8_t pat(uint32_t s, uint32_t i) { return (uint8_t)((i * 37u) ^ (s * 101u) ^ (i >> 8) ^ 0x5a); }

/* Writes stream bytes *pos.. of sub into b->data[committed, to) and publishes `to`. */
static void fill_to(te_buffer_t *b, uint32_t to, uint32_t sub, uint32_t *pos)
{
    uint32_t from = atomic_load(&b->committed);
    ck_assert_uint_le(to, b->capacity);
    for (uint32_t i = from; i < to; i++)
        b->data[i] = pat(sub, (*pos)++);
    atomic_store_explicit(&b->committed, to, memory_order_release);
}

/* Asserts that slice s is an event of the given kind, then recycles it. */
static void expect_event(te_buffer_slice_t *s, te_event_type_t type, int priority, uint64_t id)
{
    ck_assert_uint_eq(s->type, TE_BUFFER_EVENT);
    ck_assert_uint_eq(s->len, TE_EVENT_ENCODED_LEN);
    te_event_t ev;
    memset(&ev, 0xAA, sizeof(ev));
    ck_assert_int_eq(task_event_decode(s->buf->data + s->offset, s->len, &ev), 0);
    ck_assert_int_eq(ev.type, type);
    ck_assert_uint_eq(ev.priority, priority);
    ck_assert_uint_eq(ev.checkpoint_id, id);
    buffer_recycle(s->buf);
}

/* Polls every readable data slice of v into out; fails on an event. Returns slices. */
static int drain_data(te_subpartition_view_t *v, bytes_t *out)
{
    te_buffer_slice_t s;
    int n = 0;
    while (subpartition_view_poll(v, &s, NULL)) {
        ck_assert_msg(s.type == TE_BUFFER_DATA, "an event where only data was expected");
        bytes_add(out, s.buf->data + s.offset, s.len);
        buffer_recycle(s.buf);
        n++;
    }
    return n;
}

/* capture callbacks: per subpartition byte vectors */
typedef struct capture {
    bytes_t by_sub[4];
    int calls;
    int bad_sub;
} capture_t;

static void capture_fn(void *arg, uint32_t sub, const uint8_t *data, uint32_t len)
{
    capture_t *c = arg;
    c->calls++;
    if (sub >= 4) {
        c->bad_sub = 1;
        return;
    }
    bytes_add(&c->by_sub[sub], data, len);
}

static void capture_free(capture_t *c)
{
    for (int i = 0; i < 4; i++)
        bytes_free(&c->by_sub[i]);
}

static _Atomic int data_calls[4], prio_calls[4];
static void on_data(void *arg) { data_calls[(intptr_t)arg]++; }
static void on_prio(void *arg) { prio_calls[(intptr_t)arg]++; }

/* ================= 1. priority events in subpartitions ================= */

/*
 * Per subpartition s (two of them), stream positions of pat(s, .):
 *   Z  full buffer, finished, read completely before the event
 *   A  a1 bytes flushed and read (read_offset = a1), then written to a2 and finished
 *   B  full buffer, finished
 *   C  c1 bytes, open and not flushed (the producer keeps its reference)
 *   --- priority barrier 42 ---
 *   C  written on to c2, finished; D  d1 bytes, open, flushed
 * Captured must be positions [SEG + a1, SEG + a2 + SEG + c1); the reader must get the
 * barrier, then positions [SEG + a1, end), nothing else.
 */
START_TEST(test_priority_capture_and_order)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 8, 16, NULL);
    te_local_buffer_pool_t *lp = result_partition_pool(rp);
    te_subpartition_view_t *v[2];
    for (intptr_t s = 0; s < 2; s++) {
        data_calls[s] = prio_calls[s] = 0;
        v[s] = result_partition_create_view(rp, (uint32_t)s, (te_notifier_t){on_data, (void *)s}, &err);
        ck_assert_ptr_nonnull(v[s]);
    }
    subpartition_view_set_priority_listener(v[0], (te_notifier_t){on_prio, (void *)0});

    uint32_t pos[2] = {0, 0}, a1[2], a2[2], c1[2], c2[2], d1[2];
    te_buffer_t *open_c[2];
    bytes_t before[2] = {{0}}, after[2] = {{0}};
    for (uint32_t s = 0; s < 2; s++) {
        a1[s] = 40 + 3 * s, a2[s] = 200 + s, c1[s] = 30 + s, c2[s] = c1[s] + 25, d1[s] = 50 + s;
        te_buffer_t *z = local_buffer_pool_request(lp);
        ck_assert_ptr_nonnull(z);
        fill_to(z, SEG, s, &pos[s]);
        atomic_store(&z->finished, 1);
        result_partition_add_buffer(rp, s, z);
        result_partition_buffer_finished(rp, s);

        te_buffer_t *a = local_buffer_pool_request(lp);
        fill_to(a, a1[s], s, &pos[s]);
        buffer_retain(a); /* the producer's reference: it writes on after the read */
        result_partition_add_buffer(rp, s, a);
        result_partition_flush(rp, s);

        /* the reader takes Z and the flushed part of A: read_offset = a1 */
        te_buffer_slice_t sl;
        ck_assert_int_eq(subpartition_view_poll(v[s], &sl, NULL), 1);
        ck_assert_uint_eq(sl.offset, 0);
        ck_assert_uint_eq(sl.len, SEG);
        bytes_add(&before[s], sl.buf->data + sl.offset, sl.len);
        buffer_recycle(sl.buf);
        ck_assert_int_eq(subpartition_view_poll(v[s], &sl, NULL), 1);
        ck_assert_uint_eq(sl.offset, 0);
        ck_assert_uint_eq(sl.len, a1[s]);
        bytes_add(&before[s], sl.buf->data + sl.offset, sl.len);
        buffer_recycle(sl.buf);
        ck_assert_int_eq(subpartition_view_poll(v[s], &sl, NULL), 0);

        fill_to(a, a2[s], s, &pos[s]);
        atomic_store(&a->finished, 1);
        result_partition_buffer_finished(rp, s);
        buffer_recycle(a);

        te_buffer_t *b = local_buffer_pool_request(lp);
        fill_to(b, SEG, s, &pos[s]);
        atomic_store(&b->finished, 1);
        result_partition_add_buffer(rp, s, b);
        result_partition_buffer_finished(rp, s);

        te_buffer_t *c = local_buffer_pool_request(lp);
        fill_to(c, c1[s], s, &pos[s]);
        buffer_retain(c);
        result_partition_add_buffer(rp, s, c);
        open_c[s] = c;
        ck_assert_int_eq(subpartition_view_is_available(v[s]), 1); /* A's rest and B */
    }
    int data_before[2] = {data_calls[0], data_calls[1]};

    capture_t cap;
    memset(&cap, 0, sizeof(cap));
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 42, 777, 1};
    ck_assert_int_eq(result_partition_broadcast_priority_event(rp, &ev, capture_fn, &cap), TE_OK);
    ck_assert_int_eq(cap.bad_sub, 0);

    for (uint32_t s = 0; s < 2; s++) {
        /* (a) exactly the unread bytes, in order */
        uint32_t from = SEG + a1[s], to = SEG + a2[s] + SEG + c1[s];
        ck_assert_uint_eq(cap.by_sub[s].n, to - from);
        for (uint32_t i = from; i < to; i++)
            EXPECT(cap.by_sub[s].p[i - from] == pat(s, i), "sub %u: captured byte at stream %u wrong", s, i);
    }
    /* (d) the priority listener fired although data was readable; the data listener
     * of a readable view is not called (no transition) */
    ck_assert_int_eq(prio_calls[0], 1);
    ck_assert_int_eq(data_calls[0], data_before[0]);
    ck_assert_int_eq(data_calls[1], data_before[1]);

    /* (e) the producer writes on into the open tail and a new buffer */
    for (uint32_t s = 0; s < 2; s++) {
        fill_to(open_c[s], c2[s], s, &pos[s]);
        atomic_store(&open_c[s]->finished, 1);
        result_partition_buffer_finished(rp, s);
        buffer_recycle(open_c[s]);
        te_buffer_t *d = local_buffer_pool_request(lp);
        ck_assert_ptr_nonnull(d);
        fill_to(d, d1[s], s, &pos[s]);
        result_partition_add_buffer(rp, s, d);
        result_partition_flush(rp, s);
    }

    /* (c) sub 1 through poll_event: the barrier, then nothing (data at the head) */
    te_buffer_slice_t sl;
    ck_assert_int_eq(subpartition_view_poll_event(v[1], &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, 42);
    ck_assert_int_eq(subpartition_view_poll_event(v[1], &sl, NULL), 0);
    /* (b) sub 0 through poll: the barrier first */
    ck_assert_int_eq(subpartition_view_poll(v[0], &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, 42);

    for (uint32_t s = 0; s < 2; s++) {
        ck_assert_int_gt(drain_data(v[s], &after[s]), 0);
        ck_assert_int_eq(subpartition_view_is_available(v[s]), 0);
        uint32_t total = SEG + a2[s] + SEG + c2[s] + d1[s];
        ck_assert_uint_eq(pos[s], total);
        /* nothing lost or duplicated: before + after is the whole stream */
        ck_assert_uint_eq(before[s].n + after[s].n, total);
        for (uint32_t i = 0; i < total; i++) {
            uint8_t got = i < before[s].n ? before[s].p[i] : after[s].p[i - before[s].n];
            EXPECT(got == pat(s, i), "sub %u: byte %u of the read stream wrong", s, i);
        }
        /* the overtaken bytes lead the data after the barrier */
        ck_assert(after[s].n >= cap.by_sub[s].n && memcmp(after[s].p, cap.by_sub[s].p, cap.by_sub[s].n) == 0);
        bytes_free(&before[s]);
        bytes_free(&after[s]);
        subpartition_view_release(v[s]);
    }
    capture_free(&cap);
    result_partition_unref(rp);
}
END_TEST

/* Records through a record writer: the head partly read through a flush, a finished
 * middle buffer and an open tail; the captured bytes are exactly records [k1, k2)
 * serialized; after the barrier the reader gets every record once, in order, then
 * those written after the barrier, then EndOfPartition. */
#define RW_RECS 60

static uint32_t rw_payload(int i, uint8_t *out)
{
    uint32_t n = (uint32_t)snprintf((char *)out, 64, "record-%03d-%.*s", i, i % 23, "abcdefghijklmnopqrstuvwxyz");
    return n;
}

static void rw_expected(int from, int to, bytes_t *out)
{
    for (int i = from; i < to; i++) {
        uint8_t p[64], l[4];
        uint32_t n = rw_payload(i, p);
        put_be32(l, n);
        bytes_add(out, l, 4);
        bytes_add(out, p, n);
    }
}

START_TEST(test_priority_with_record_writer)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 4, 12, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    ck_assert_ptr_nonnull(rw);
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){NULL, NULL}, &err);
    ck_assert_ptr_nonnull(v);
    uint8_t p[64];
    const int k1 = 5, k2 = 40; /* 5 records read through a flush; 35 more spanning buffers */
    for (int i = 0; i < k1; i++)
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, p, rw_payload(i, p)), TE_OK);
    record_writer_flush_all(rw);
    bytes_t read = {0};
    ck_assert_int_eq(drain_data(v, &read), 1);
    for (int i = k1; i < k2; i++)
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, p, rw_payload(i, p)), TE_OK);

    capture_t cap;
    memset(&cap, 0, sizeof(cap));
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 3, 1000, 1};
    ck_assert_int_eq(record_writer_broadcast_priority_event(rw, &ev, capture_fn, &cap), TE_OK);
    bytes_t want = {0};
    rw_expected(k1, k2, &want);
    ck_assert_uint_eq(cap.by_sub[0].n, want.n);
    ck_assert(memcmp(cap.by_sub[0].p, want.p, want.n) == 0);

    for (int i = k2; i < RW_RECS; i++)
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, p, rw_payload(i, p)), TE_OK);
    ck_assert_int_eq(record_writer_finish(rw), TE_OK);

    te_buffer_slice_t sl;
    ck_assert_int_eq(subpartition_view_poll(v, &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, 3);
    int eop = 0;
    while (subpartition_view_poll(v, &sl, NULL)) {
        if (sl.type == TE_BUFFER_EVENT) {
            ck_assert_int_eq(eop, 0);
            expect_event(&sl, TE_EVENT_END_OF_PARTITION, 0, 0);
            eop = 1;
            continue;
        }
        ck_assert_int_eq(eop, 0); /* no data after EndOfPartition */
        bytes_add(&read, sl.buf->data + sl.offset, sl.len);
        buffer_recycle(sl.buf);
    }
    ck_assert_int_eq(eop, 1);
    bytes_t all = {0};
    rw_expected(0, RW_RECS, &all);
    ck_assert_uint_eq(read.n, all.n);
    ck_assert(memcmp(read.p, all.p, all.n) == 0);

    bytes_free(&read);
    bytes_free(&want);
    bytes_free(&all);
    capture_free(&cap);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

/* poll_event: a priority event first, then an event at the head; never data. */
START_TEST(test_poll_event_only_events)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, NULL);
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){NULL, NULL}, &err);
    te_buffer_slice_t sl;
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 0); /* empty */

    te_event_t cancel = {TE_EVENT_CANCEL_CHECKPOINT_MARKER, 3, 0, 0};
    ck_assert_int_eq(result_partition_add_event(rp, 0, &cancel), TE_OK);
    uint32_t pos = 0;
    te_buffer_t *b = local_buffer_pool_request(result_partition_pool(rp));
    fill_to(b, 100, 0, &pos);
    atomic_store(&b->finished, 1);
    result_partition_add_buffer(rp, 0, b);
    result_partition_buffer_finished(rp, 0);
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 4, 0, 1};
    ck_assert_int_eq(result_partition_broadcast_priority_event(rp, &ev, NULL, NULL), TE_OK);

    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, 4);
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CANCEL_CHECKPOINT_MARKER, 0, 3);
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 0); /* data at the head */
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 0);
    ck_assert_int_eq(subpartition_view_is_available(v), 1);
    bytes_t got = {0};
    ck_assert_int_eq(drain_data(v, &got), 1);
    ck_assert_uint_eq(got.n, 100);
    for (uint32_t i = 0; i < 100; i++)
        EXPECT(got.p[i] == pat(0, i), "byte %u", i);
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 0);

    /* a second priority event while unread data is queued: still only the event */
    b = local_buffer_pool_request(result_partition_pool(rp));
    fill_to(b, 10, 0, &pos);
    result_partition_add_buffer(rp, 0, b);
    result_partition_flush(rp, 0);
    ev.checkpoint_id = 5;
    ck_assert_int_eq(result_partition_broadcast_priority_event(rp, &ev, NULL, NULL), TE_OK);
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 1);
    expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, 5);
    ck_assert_int_eq(subpartition_view_poll_event(v, &sl, NULL), 0);
    got.n = 0;
    drain_data(v, &got);
    ck_assert_uint_eq(got.n, 10);
    for (uint32_t i = 0; i < 10; i++)
        EXPECT(got.p[i] == pat(0, 100 + i), "byte %u", i);
    bytes_free(&got);
    subpartition_view_release(v);
    result_partition_unref(rp);
}
END_TEST

/* The priority listener is called on every priority add, also when data was readable
 * (the reader may be stalled on credit); without one, the data listener on the
 * nothing-readable -> readable transition. */
START_TEST(test_priority_listener)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 2, 6, NULL);
    te_subpartition_view_t *v[2];
    for (intptr_t s = 0; s < 2; s++) {
        data_calls[s] = prio_calls[s] = 0;
        v[s] = result_partition_create_view(rp, (uint32_t)s, (te_notifier_t){on_data, (void *)s}, &err);
    }
    subpartition_view_set_priority_listener(v[0], (te_notifier_t){on_prio, (void *)0});
    uint32_t pos = 0;
    te_buffer_t *b = local_buffer_pool_request(result_partition_pool(rp));
    fill_to(b, 20, 0, &pos);
    result_partition_add_buffer(rp, 0, b);
    result_partition_flush(rp, 0);
    ck_assert_int_eq(data_calls[0], 1);
    ck_assert_int_eq(subpartition_view_is_available(v[0]), 1);

    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 1, 0, 1};
    ck_assert_int_eq(result_partition_broadcast_priority_event(rp, &ev, NULL, NULL), TE_OK);
    ck_assert_int_eq(prio_calls[0], 1);
    ck_assert_int_eq(data_calls[0], 1);
    ck_assert_int_eq(prio_calls[1], 0);
    ck_assert_int_eq(data_calls[1], 1); /* sub 1 had nothing readable: data listener */
    ev.checkpoint_id = 2;
    ck_assert_int_eq(result_partition_broadcast_priority_event(rp, &ev, NULL, NULL), TE_OK);
    ck_assert_int_eq(prio_calls[0], 2); /* every add */
    ck_assert_int_eq(data_calls[1], 1); /* readable already: no transition */

    te_buffer_slice_t sl;
    for (uint64_t id = 1; id <= 2; id++) {
        ck_assert_int_eq(subpartition_view_poll(v[0], &sl, NULL), 1);
        expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, id);
        ck_assert_int_eq(subpartition_view_poll(v[1], &sl, NULL), 1);
        expect_event(&sl, TE_EVENT_CHECKPOINT_BARRIER, 1, id);
    }
    ck_assert_int_eq(subpartition_view_poll(v[1], &sl, NULL), 0);
    bytes_t got = {0};
    drain_data(v[0], &got);
    ck_assert_uint_eq(got.n, 20);
    bytes_free(&got);
    for (int s = 0; s < 2; s++)
        subpartition_view_release(v[s]);
    result_partition_unref(rp);
}
END_TEST

/* ---- a producer and two consumer threads, back-pressured ---- */

#define CC_RECORDS  20000
#define CC_EVERY    97 /* odd against the flush period: barriers land everywhere */
#define CC_BARRIERS ((CC_RECORDS - 1) / CC_EVERY)

static uint32_t cc_payload(uint32_t i, uint8_t *out)
{
    uint32_t n = 1 + (i * 7) % 90;
    for (uint32_t j = 0; j < n; j++)
        out[j] = (uint8_t)(i * 13 + j);
    return n;
}

struct cc;
typedef struct cc_waker {
    struct cc *c;
    int sub;
} cc_waker_t;

typedef struct cc {
    te_record_writer_t *rw;
    te_subpartition_view_t *v[2];
    int cur; /* the barrier being broadcast (producer thread) */
    uint64_t P[CC_BARRIERS];
    bytes_t cap[2][CC_BARRIERS];
    bytes_t got[2];
    uint64_t R[2][CC_BARRIERS];
    int seen[2][CC_BARRIERS];
    int bad[2];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int flag[2];
    cc_waker_t wk[2];
} cc_t;

static void cc_capture(void *arg, uint32_t sub, const uint8_t *data, uint32_t len)
{
    cc_t *c = arg;
    if (sub < 2)
        bytes_add(&c->cap[sub][c->cur], data, len);
}

static void cc_wake(void *arg)
{
    cc_waker_t *w = arg;
    pthread_mutex_lock(&w->c->mu);
    w->c->flag[w->sub] = 1;
    pthread_cond_broadcast(&w->c->cv);
    pthread_mutex_unlock(&w->c->mu);
}

static void cc_wait(cc_t *c, int sub)
{
    pthread_mutex_lock(&c->mu);
    if (!c->flag[sub]) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    c->flag[sub] = 0;
    pthread_mutex_unlock(&c->mu);
}

static void *cc_consume(void *arg)
{
    cc_waker_t *w = arg;
    cc_t *c = w->c;
    int s = w->sub;
    time_t deadline = time(NULL) + 60;
    for (;;) {
        if (time(NULL) > deadline) {
            c->bad[s] = 1;
            break;
        }
        te_buffer_slice_t sl;
        if (!subpartition_view_poll(c->v[s], &sl, NULL)) {
            cc_wait(c, s);
            continue;
        }
        if (sl.type == TE_BUFFER_DATA) {
            bytes_add(&c->got[s], sl.buf->data + sl.offset, sl.len);
            buffer_recycle(sl.buf);
            continue;
        }
        te_event_t ev;
        int r = task_event_decode(sl.buf->data + sl.offset, sl.len, &ev);
        buffer_recycle(sl.buf);
        /* a wrong event is noted and reading goes on, so the producer is not stuck */
        if (r != 0) {
            c->bad[s] = 2;
            continue;
        }
        if (ev.type == TE_EVENT_END_OF_PARTITION)
            break;
        if (ev.type != TE_EVENT_CHECKPOINT_BARRIER || !ev.priority || ev.checkpoint_id < 1 ||
            ev.checkpoint_id > CC_BARRIERS) {
            c->bad[s] = 3;
            continue;
        }
        c->R[s][ev.checkpoint_id - 1] = c->got[s].n;
        c->seen[s][ev.checkpoint_id - 1]++;
    }
    return NULL;
}

START_TEST(test_priority_concurrent_backpressure)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 4, 4, NULL);
    cc_t *c = calloc(1, sizeof(*c));
    ck_assert_ptr_nonnull(c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__REBALANCE, 2, 0, -1, 0, 0, &err);
    c->rw = record_writer_new(rp, sel, 0, &err);
    ck_assert_ptr_nonnull(c->rw);
    for (int s = 0; s < 2; s++) {
        c->wk[s] = (cc_waker_t){c, s};
        c->v[s] = result_partition_create_view(rp, (uint32_t)s, (te_notifier_t){cc_wake, &c->wk[s]}, &err);
        ck_assert_ptr_nonnull(c->v[s]);
        subpartition_view_set_priority_listener(c->v[s], (te_notifier_t){cc_wake, &c->wk[s]});
    }
    pthread_t th[2];
    for (int s = 0; s < 2; s++)
        pthread_create(&th[s], NULL, cc_consume, &c->wk[s]);

    uint64_t written = 0;
    uint8_t p[128];
    for (uint32_t i = 0; i < CC_RECORDS; i++) {
        if (i > 0 && i % CC_EVERY == 0) {
            c->cur = (int)(i / CC_EVERY) - 1;
            c->P[c->cur] = written;
            te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, (uint64_t)c->cur + 1, i, 1};
            ck_assert_int_eq(record_writer_broadcast_priority_event(c->rw, &ev, cc_capture, c), TE_OK);
        }
        uint32_t n = cc_payload(i, p);
        ck_assert_int_eq(record_writer_broadcast_emit(c->rw, NULL, 0, p, n), TE_OK);
        written += 4 + n;
        if (i % 200 == 199)
            record_writer_flush_all(c->rw);
    }
    ck_assert_int_eq(record_writer_finish(c->rw), TE_OK);
    for (int s = 0; s < 2; s++)
        pthread_join(th[s], NULL);

    bytes_t want = {0};
    for (uint32_t i = 0; i < CC_RECORDS; i++) {
        uint8_t l[4];
        uint32_t n = cc_payload(i, p);
        put_be32(l, n);
        bytes_add(&want, l, 4);
        bytes_add(&want, p, n);
    }
    ck_assert_uint_eq(want.n, written);
    size_t captured = 0;
    for (int s = 0; s < 2; s++) {
        ck_assert_msg(c->bad[s] == 0, "consumer %d: %d", s, c->bad[s]);
        ck_assert_uint_eq(c->got[s].n, want.n);
        ck_assert_msg(memcmp(c->got[s].p, want.p, want.n) == 0, "sub %d: stream differs", s);
        for (int j = 0; j < CC_BARRIERS; j++) {
            ck_assert_int_eq(c->seen[s][j], 1);
            /* read before the barrier + captured = written before it */
            ck_assert_msg(c->R[s][j] + c->cap[s][j].n == c->P[j], "sub %d barrier %d: %llu + %zu != %llu", s,
                          j + 1, (unsigned long long)c->R[s][j], c->cap[s][j].n, (unsigned long long)c->P[j]);
            ck_assert(c->cap[s][j].n == 0 || memcmp(c->cap[s][j].p, want.p + c->R[s][j], c->cap[s][j].n) == 0);
            captured += c->cap[s][j].n;
            bytes_free(&c->cap[s][j]);
        }
        bytes_free(&c->got[s]);
        subpartition_view_release(c->v[s]);
    }
    ck_assert_uint_gt(captured, 0);
    bytes_free(&want);
    record_writer_free(c->rw);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
    result_partition_unref(rp);
}
END_TEST

/* ================= 2. the event codec ================= */

START_TEST(test_event_codec_priority)
{
    uint8_t buf[TE_EVENT_ENCODED_LEN];
    const uint8_t tail[16] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                              0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8};
    te_event_t out;
    for (int prio = 0; prio <= 1; prio++) {
        te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 0x0102030405060708ull, 0xF1F2F3F4F5F6F7F8ull, (uint8_t)prio};
        task_event_encode(&ev, buf);
        ck_assert_uint_eq(buf[0], prio ? 4 : 2);
        ck_assert_uint_eq(TE_EVENT_WIRE_UNALIGNED_BARRIER, 4);
        ck_assert(memcmp(buf + 1, tail, 16) == 0);
        memset(&out, 0xAA, sizeof(out));
        ck_assert_int_eq(task_event_decode(buf, sizeof(buf), &out), 0);
        ck_assert_int_eq(out.type, TE_EVENT_CHECKPOINT_BARRIER);
        ck_assert_uint_eq(out.priority, prio);
        ck_assert_uint_eq(out.checkpoint_id, 0x0102030405060708ull);
        ck_assert_uint_eq(out.timestamp, 0xF1F2F3F4F5F6F7F8ull);
    }
    /* hand-made wire bytes decode too */
    uint8_t wire[TE_EVENT_ENCODED_LEN] = {4, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1, 0};
    memset(&out, 0, sizeof(out));
    ck_assert_int_eq(task_event_decode(wire, sizeof(wire), &out), 0);
    ck_assert(out.type == TE_EVENT_CHECKPOINT_BARRIER && out.priority == 1 && out.checkpoint_id == 9 &&
              out.timestamp == 256);
    /* priority only means something for barriers */
    te_event_t cm = {TE_EVENT_CANCEL_CHECKPOINT_MARKER, 7, 8, 1};
    task_event_encode(&cm, buf);
    ck_assert_uint_eq(buf[0], 3);
    memset(&out, 0xAA, sizeof(out));
    ck_assert_int_eq(task_event_decode(buf, sizeof(buf), &out), 0);
    ck_assert(out.type == TE_EVENT_CANCEL_CHECKPOINT_MARKER && out.priority == 0 && out.checkpoint_id == 7);
    te_event_t eop = {TE_EVENT_END_OF_PARTITION, 0, 0, 0};
    task_event_encode(&eop, buf);
    ck_assert_uint_eq(buf[0], 1);
    ck_assert_int_eq(task_event_decode(buf, sizeof(buf), &out), 0);
    ck_assert(out.type == TE_EVENT_END_OF_PARTITION && out.priority == 0);
    /* type 5 (and 0, 255) refused; wrong lengths refused */
    const uint8_t bad_types[] = {0, 5, 6, 255};
    for (size_t k = 0; k < sizeof(bad_types); k++) {
        wire[0] = bad_types[k];
        ck_assert_msg(task_event_decode(wire, sizeof(wire), &out) == -1, "type byte %u accepted", bad_types[k]);
    }
    wire[0] = 4;
    ck_assert_int_eq(task_event_decode(wire, TE_EVENT_ENCODED_LEN - 1, &out), -1);
    ck_assert_int_eq(task_event_decode(wire, TE_EVENT_ENCODED_LEN + 1, &out), -1);
}
END_TEST

/* ================= 3. raw serializer, write_raw, unconsumed ================= */

static te_buffer_t *unpooled(uint32_t cap)
{
    te_buffer_t *b = buffer_new_unpooled(cap);
    EXPECT(b != NULL, "out of memory");
    return b;
}

/* A record, raw bytes, a record, through buffers of every capacity 1..70: the
 * concatenated buffers are byte-identical to prefix+rec1 | raw | prefix+rec2, and the
 * serializer reports PARTIAL until the raw bytes are all out. */
START_TEST(test_serializer_raw_spanning)
{
    static const uint32_t raw_lens[] = {0, 1, 9, 63, 64, 65, 500};
    uint8_t raw[500];
    for (uint32_t i = 0; i < sizeof(raw); i++)
        raw[i] = pat(7, i);
    for (uint32_t cap = 1; cap <= 70; cap++) {
        for (size_t li = 0; li < sizeof(raw_lens) / sizeof(raw_lens[0]); li++) {
            uint32_t L = raw_lens[li];
            bytes_t want = {0}, got = {0};
            uint8_t l4[4];
            put_be32(l4, 5);
            bytes_add(&want, l4, 4);
            bytes_add(&want, (const uint8_t *)"habcd", 5);
            bytes_add(&want, raw, L);
            put_be32(l4, 3);
            bytes_add(&want, l4, 4);
            bytes_add(&want, (const uint8_t *)"xyz", 3);

            te_record_serializer_t ser;
            te_buffer_t *cur = unpooled(cap);
            /* 0: the first record, 1: raw, 2: the last record */
            for (int part = 0; part < 3; part++) {
                if (part == 0)
                    record_serializer_set(&ser, (const uint8_t *)"h", 1, (const uint8_t *)"abcd", 4);
                else if (part == 1)
                    record_serializer_set_raw(&ser, raw, L);
                else
                    record_serializer_set(&ser, NULL, 0, (const uint8_t *)"xyz", 3);
                for (;;) {
                    te_ser_result_t r = record_serializer_copy_to_buffer(&ser, cur);
                    int full = atomic_load(&cur->committed) == cur->capacity;
                    if (r == TE_SER_PARTIAL_RECORD_BUFFER_FULL) {
                        ck_assert(full && record_serializer_has_pending(&ser));
                    } else {
                        ck_assert_int_eq(record_serializer_has_pending(&ser), 0);
                        ck_assert_int_eq(r, full ? TE_SER_FULL_RECORD_BUFFER_FULL : TE_SER_FULL_RECORD);
                    }
                    if (full) {
                        bytes_add(&got, cur->data, cur->capacity);
                        buffer_recycle(cur);
                        cur = unpooled(cap);
                    }
                    if (r != TE_SER_PARTIAL_RECORD_BUFFER_FULL)
                        break;
                }
            }
            bytes_add(&got, cur->data, atomic_load(&cur->committed));
            buffer_recycle(cur);
            ck_assert_msg(got.n == want.n && memcmp(got.p, want.p, want.n) == 0, "cap %u raw %u: bytes differ",
                          cap, L);
            bytes_free(&want);
            bytes_free(&got);
        }
    }
}
END_TEST

/* record_writer_write_raw: serialized records replayed into one channel come out
 * byte-identical (and deserialize to those records), flushed, on that channel only;
 * a record emitted afterwards follows them. */
START_TEST(test_write_raw)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 2, 8, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__REBALANCE, 2, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    te_subpartition_view_t *v[2];
    for (int s = 0; s < 2; s++)
        v[s] = result_partition_create_view(rp, (uint32_t)s, (te_notifier_t){NULL, NULL}, &err);
    bytes_t raw = {0};
    rw_expected(0, RW_RECS, &raw); /* ~1.5 KiB: spans several 256-byte buffers */
    ck_assert_uint_gt(raw.n, 3 * SEG);
    /* split into two calls at an offset inside a record */
    ck_assert_int_eq(record_writer_write_raw(rw, 1, raw.p, 301), TE_OK);
    ck_assert_int_eq(record_writer_write_raw(rw, 1, raw.p + 301, raw.n - 301), TE_OK);
    ck_assert_int_eq(record_writer_write_raw(rw, 2, raw.p, 10), TE_EINVAL);
    ck_assert_int_eq(subpartition_view_is_available(v[0]), 0);

    bytes_t got = {0};
    ck_assert_int_gt(drain_data(v[1], &got), 3); /* flushed by write_raw */
    ck_assert_uint_eq(got.n, raw.n);
    ck_assert(memcmp(got.p, raw.p, raw.n) == 0);
    te_record_deserializer_t *d = record_deserializer_new(1000);
    te_buffer_slice_t sl;
    ck_assert_int_eq(record_writer_broadcast_emit(rw, NULL, 0, (const uint8_t *)"tail", 4), TE_OK);
    record_writer_flush_all(rw);
    got.n = 0;
    drain_data(v[0], &got);
    ck_assert_uint_eq(got.n, 8);
    ck_assert(memcmp(got.p, "\0\0\0\4tail", 8) == 0);
    /* channel 1 continues after the raw bytes with the record */
    ck_assert_int_eq(subpartition_view_poll(v[1], &sl, NULL), 1);
    ck_assert_uint_eq(sl.len, 8);
    ck_assert(memcmp(sl.buf->data + sl.offset, "\0\0\0\4tail", 8) == 0);
    buffer_recycle(sl.buf);
    /* the replayed bytes are a record stream */
    te_buffer_t *b = unpooled((uint32_t)raw.n);
    memcpy(b->data, raw.p, raw.n);
    atomic_store(&b->committed, (uint32_t)raw.n);
    record_deserializer_set_next(d, (te_buffer_slice_t){b, 0, (uint32_t)raw.n, TE_BUFFER_DATA});
    const uint8_t *data;
    uint32_t len;
    for (int i = 0; i < RW_RECS; i++) {
        uint8_t p[64];
        ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_RECORD);
        ck_assert(len == rw_payload(i, p) && memcmp(data, p, len) == 0);
    }
    ck_assert_int_eq(record_deserializer_next(d, &data, &len), TE_DES_NEED_MORE);
    record_deserializer_free(d);
    bytes_free(&raw);
    bytes_free(&got);
    for (int s = 0; s < 2; s++)
        subpartition_view_release(v[s]);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

/* ---- record_deserializer_unconsumed ---- */

#define U_N 12
static const uint32_t u_lens[U_N] = {0, 1, 3, 4, 5, 2, 17, 40, 0, 90, 7, 33};
static uint8_t u_stream[1024];
static uint32_t u_len;
static uint32_t u_rec_off[U_N]; /* payload offsets in u_stream */
static long u_snapshots, u_partial;

static void u_build(void)
{
    u_len = 0;
    for (int r = 0; r < U_N; r++) {
        put_be32(u_stream + u_len, u_lens[r]);
        u_len += 4;
        u_rec_off[r] = u_len;
        for (uint32_t j = 0; j < u_lens[r]; j++)
            u_stream[u_len++] = (uint8_t)(r * 16 + j * 3 + 1);
    }
}

/* A slice holding data at offset 3 of its buffer (the offset must be honoured). */
static te_buffer_slice_t u_slice(const uint8_t *d, uint32_t n)
{
    te_buffer_t *b = unpooled(n + 3);
    memset(b->data, 0xEE, 3);
    memcpy(b->data + 3, d, n);
    atomic_store(&b->committed, n + 3);
    return (te_buffer_slice_t){b, 3, n, TE_BUFFER_DATA};
}

static void u_check_record(int k, const uint8_t *data, uint32_t len)
{
    EXPECT(k < U_N, "more records than written");
    EXPECT(len == u_lens[k], "record %d: length %u, not %u", k, len, u_lens[k]);
    EXPECT(memcmp(data, u_stream + u_rec_off[k], len) == 0, "record %d differs", k);
}

static void u_emit(void *arg, const uint8_t *data, uint32_t len) { bytes_add(arg, data, len); }

/* After k records were read, with slices first.. of the cut not fed yet: the
 * unconsumed bytes, then those slices, fed to a fresh deserializer, give exactly
 * records k..U_N-1. */
static void u_snapshot(const te_record_deserializer_t *d, int k, const uint32_t *cuts, int ncuts, int first)
{
    u_snapshots++;
    if (record_deserializer_has_partial(d))
        u_partial++;
    bytes_t un = {0};
    record_deserializer_unconsumed(d, u_emit, &un);
    te_record_deserializer_t *d2 = record_deserializer_new(1000);
    int got = k;
    for (int si = first - 1; si < ncuts - 1; si++) {
        if (si < first) {
            if (un.n == 0)
                continue;
            record_deserializer_set_next(d2, u_slice(un.p, (uint32_t)un.n));
        } else {
            record_deserializer_set_next(d2, u_slice(u_stream + cuts[si], cuts[si + 1] - cuts[si]));
        }
        const uint8_t *data;
        uint32_t len;
        te_des_result_t r;
        while ((r = record_deserializer_next(d2, &data, &len)) == TE_DES_RECORD)
            u_check_record(got++, data, len);
        EXPECT(r == TE_DES_NEED_MORE, "restored stream: result %d", r);
    }
    EXPECT(got == U_N, "after %d records: the restored stream gave %d records, not %d", k, got - k, U_N - k);
    EXPECT(!record_deserializer_has_partial(d2), "restored stream: a partial record is left");
    record_deserializer_free(d2);
    bytes_free(&un);
}

/* Feeds u_stream cut at cuts[0]=0 < cuts[1] < ... < cuts[ncuts-1]=u_len. */
static void u_run(const uint32_t *cuts, int ncuts)
{
    te_record_deserializer_t *d = record_deserializer_new(1000);
    int k = 0;
    u_snapshot(d, 0, cuts, ncuts, 0);
    for (int si = 0; si < ncuts - 1; si++) {
        record_deserializer_set_next(d, u_slice(u_stream + cuts[si], cuts[si + 1] - cuts[si]));
        const uint8_t *data;
        uint32_t len;
        for (;;) {
            te_des_result_t r = record_deserializer_next(d, &data, &len);
            EXPECT(r != TE_DES_ERROR, "corrupt length");
            if (r == TE_DES_RECORD) {
                u_check_record(k++, data, len);
                u_snapshot(d, k, cuts, ncuts, si + 1);
                continue;
            }
            u_snapshot(d, k, cuts, ncuts, si + 1);
            break;
        }
    }
    EXPECT(k == U_N, "%d records, not %d", k, U_N);
    EXPECT(!record_deserializer_has_partial(d), "a partial record is left");
    record_deserializer_free(d);
}

START_TEST(test_unconsumed_every_cut)
{
    u_build();
    u_snapshots = u_partial = 0;
    uint32_t cuts[1100];
    /* one slice */
    cuts[0] = 0, cuts[1] = u_len;
    u_run(cuts, 2);
    /* two slices, cut at every offset; three slices, cut at every pair of offsets */
    for (uint32_t a = 1; a < u_len; a++) {
        cuts[1] = a, cuts[2] = u_len;
        u_run(cuts, 3);
        for (uint32_t b = a + 1; b < u_len; b++) {
            cuts[2] = b, cuts[3] = u_len;
            u_run(cuts, 4);
        }
    }
    /* fixed-width slices of every width (width 1: every byte its own slice) */
    for (uint32_t w = 1; w < u_len; w++) {
        int n = 0;
        for (uint32_t o = 0; o < u_len; o += w)
            cuts[n++] = o;
        cuts[n++] = u_len;
        u_run(cuts, n);
    }
    /* the cuts reached inside length prefixes and spanning records */
    ck_assert_int_gt(u_partial, 0);
    ck_assert_int_gt(u_snapshots, 100000);
}
END_TEST

/* ================= 4. the input gate's priority API ================= */

static void copy_bytes(void *arg, uint8_t *dst, uint32_t size) { memcpy(dst, arg, size); }

typedef struct remote {
    te_input_gate_t *g;
    te_remote_buffers_t *rb;
    te_remote_input_channel_t *ch;
    uint32_t seq;
} remote_t;

static void remote_open(remote_t *r, uint32_t bpc)
{
    r->ch = harness_fake_channel(arena, bpc, 0, &r->g, &r->rb);
    ck_assert_uint_eq(remote_input_channel_take_credit(r->ch), bpc);
    r->seq = 0;
}

static void remote_close(remote_t *r)
{
    input_gate_free(r->g);
    remote_buffers_free(r->rb);
}

/* Data buffer k: 40 + 10k bytes of pat(k, .). */
static uint32_t data_k(uint32_t k, uint8_t *out)
{
    uint32_t n = 40 + 10 * k;
    for (uint32_t i = 0; i < n; i++)
        out[i] = pat(k, i);
    return n;
}

static void remote_data(remote_t *r, uint32_t k)
{
    uint8_t d[SEG];
    te_error_t err;
    uint32_t n = data_k(k, d);
    ck_assert_int_eq(remote_input_channel_on_buffer(r->ch, r->seq++, 0, 0, n, copy_bytes, d, &err), TE_OK);
}

static void remote_barrier(remote_t *r, uint64_t id, int priority)
{
    uint8_t e[TE_EVENT_ENCODED_LEN];
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, id, 5000 + id, (uint8_t)priority};
    task_event_encode(&ev, e);
    te_error_t err;
    ck_assert_int_eq(remote_input_channel_on_buffer(r->ch, r->seq++, 0, 1, sizeof(e), copy_bytes, e, &err), TE_OK);
}

static void expect_slice_k(const te_buffer_slice_t *s, uint32_t k)
{
    uint8_t d[SEG];
    uint32_t n = data_k(k, d);
    ck_assert_uint_eq(s->type, TE_BUFFER_DATA);
    ck_assert_uint_eq(s->len, n);
    ck_assert_msg(memcmp(s->buf->data + s->offset, d, n) == 0, "data buffer %u differs", k);
}

static void expect_gate_data(te_input_gate_t *g, uint32_t k)
{
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert_uint_eq(el.channel, 0);
    expect_slice_k(&el.slice, k);
    buffer_recycle(el.slice.buf);
}

START_TEST(test_remote_priority_overtakes)
{
    remote_t r;
    remote_open(&r, 4);
    for (uint32_t k = 1; k <= 3; k++)
        remote_data(&r, k);
    ck_assert_int_eq(input_gate_has_priority(r.g), 0);
    remote_barrier(&r, 11, 1);
    remote_data(&r, 4);
    ck_assert_int_eq(input_gate_has_priority(r.g), 1);

    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_EVENT);
    ck_assert_uint_eq(el.channel, 0);
    ck_assert_int_eq(el.event.type, TE_EVENT_CHECKPOINT_BARRIER);
    ck_assert_uint_eq(el.event.priority, 1);
    ck_assert_uint_eq(el.event.checkpoint_id, 11);
    ck_assert_uint_eq(el.event.timestamp, 5011);
    ck_assert_int_eq(input_gate_has_priority(r.g), 0);
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_NOTHING); /* never data */

    te_buffer_slice_t *s = (te_buffer_slice_t *)&el;                 /* poisoned: must be set to NULL */
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 10, &s), 0); /* an unknown (older) id */
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 1, 11, &s), 0); /* no such channel */
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 11, &s), 3);
    for (uint32_t i = 0; i < 3; i++) {
        expect_slice_k(&s[i], i + 1);
        buffer_recycle(s[i].buf);
    }
    free(s);
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 11, &s), 0); /* taken once */
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 12, &s), 0);

    for (uint32_t k = 1; k <= 4; k++)
        expect_gate_data(r.g, k);
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_NOTHING);
    /* every buffer went back to the channel's pool: credit for the next ones */
    ck_assert_uint_gt(remote_input_channel_take_credit(r.ch), 0);
    remote_close(&r);
}
END_TEST

/* Without poll_priority the barrier still comes first from poll_next; an aligned
 * barrier (type 2) stays behind the data and overtakes nothing. */
START_TEST(test_remote_priority_via_poll_next)
{
    remote_t r;
    remote_open(&r, 4);
    remote_data(&r, 1);
    remote_barrier(&r, 6, 0);
    remote_data(&r, 2);
    ck_assert_int_eq(input_gate_has_priority(r.g), 0);
    remote_barrier(&r, 7, 1);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_EVENT);
    ck_assert(el.event.type == TE_EVENT_CHECKPOINT_BARRIER && el.event.priority == 1 &&
              el.event.checkpoint_id == 7);
    expect_gate_data(r.g, 1);
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_EVENT);
    ck_assert(el.event.type == TE_EVENT_CHECKPOINT_BARRIER && el.event.priority == 0 &&
              el.event.checkpoint_id == 6);
    expect_gate_data(r.g, 2);
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_NOTHING);
    /* the priority event was polled already: poll_priority finds nothing, takes no data */
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_NOTHING);
    te_buffer_slice_t *s;
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 6, &s), 0); /* aligned: nothing */
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 7, &s), 2); /* data 1, 2 (not the barrier) */
    expect_slice_k(&s[0], 1);
    expect_slice_k(&s[1], 2);
    buffer_recycle(s[0].buf);
    buffer_recycle(s[1].buf);
    free(s);
    remote_close(&r);
}
END_TEST

/* Two priority barriers: FIFO among themselves, each records the data it overtook;
 * loop 0 releases the gate with both lists untaken and the data queued; loop 1 takes
 * the newer one (the older one is dropped as stale) and releases with data queued.
 * The arena must be whole afterwards (and ASan sees no leak). */
/* A priority event taken through poll_next leaves its announcement behind; the stale
 * announcement must not let poll_priority take a later ordinary event ahead of data. */
START_TEST(test_stale_priority_announcement)
{
    remote_t r;
    remote_open(&r, 4);
    remote_data(&r, 1);
    remote_barrier(&r, 7, 1);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_EVENT);
    ck_assert(el.event.priority == 1 && el.event.checkpoint_id == 7);
    expect_gate_data(r.g, 1);
    remote_barrier(&r, 8, 0); /* an ordinary event now at the head */
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_NOTHING);
    ck_assert_int_eq(input_gate_poll_next(r.g, &el), TE_GATE_EVENT);
    ck_assert(el.event.priority == 0 && el.event.checkpoint_id == 8);
    te_buffer_slice_t *s;
    ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 7, &s), 1);
    expect_slice_k(&s[0], 1);
    buffer_recycle(s[0].buf);
    free(s);
    remote_close(&r);
}
END_TEST

START_TEST(test_remote_overtaken_release)
{
    remote_t r;
    remote_open(&r, 4);
    remote_data(&r, 1);
    remote_data(&r, 2);
    remote_barrier(&r, 21, 1);
    remote_data(&r, 3);
    remote_barrier(&r, 22, 1);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_EVENT);
    ck_assert_uint_eq(el.event.checkpoint_id, 21);
    ck_assert_int_eq(input_gate_poll_priority(r.g, &el), TE_GATE_EVENT);
    ck_assert_uint_eq(el.event.checkpoint_id, 22);
    ck_assert_uint_eq(el.event.priority, 1);
    if (_i == 1) {
        te_buffer_slice_t *s;
        ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 22, &s), 3);
        for (uint32_t i = 0; i < 3; i++) {
            expect_slice_k(&s[i], i + 1);
            buffer_recycle(s[i].buf);
        }
        free(s);
        ck_assert_uint_eq(input_gate_take_overtaken(r.g, 0, 21, &s), 0); /* dropped as stale */
        expect_gate_data(r.g, 1);
    }
    remote_close(&r);
}
END_TEST

/* A local channel: the producer's priority barrier comes out of poll_priority ahead
 * of the queued data, and through poll_next first too; the capture holds the bytes
 * the reader had not read. */
START_TEST(test_local_priority)
{
    te_error_t err;
    te_partition_manager_t *pm = partition_manager_new();
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, NULL);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    te_input_gate_t *g = input_gate_new("consumer", 0, 1, NULL, &err);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, result_partition_id(rp), 0, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(g, 1000, &err), TE_OK);

    uint8_t p[64];
    for (int i = 0; i < 8; i++) /* 148 bytes: one buffer */
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, p, rw_payload(i, p)), TE_OK);
    record_writer_flush_all(rw);
    capture_t cap;
    memset(&cap, 0, sizeof(cap));
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 8, 80, 1};
    ck_assert_int_eq(input_gate_has_priority(g), 0);
    ck_assert_int_eq(record_writer_broadcast_priority_event(rw, &ev, capture_fn, &cap), TE_OK);
    ck_assert_int_eq(input_gate_has_priority(g), 1);
    bytes_t want = {0};
    rw_expected(0, 8, &want);
    ck_assert(cap.by_sub[0].n == want.n && memcmp(cap.by_sub[0].p, want.p, want.n) == 0);

    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_priority(g, &el), TE_GATE_EVENT);
    ck_assert(el.event.type == TE_EVENT_CHECKPOINT_BARRIER && el.event.priority == 1 &&
              el.event.checkpoint_id == 8);
    ck_assert_int_eq(input_gate_has_priority(g), 0);
    te_buffer_slice_t *s;
    ck_assert_uint_eq(input_gate_take_overtaken(g, 0, 8, &s), 0); /* local: the producer captured */
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert(el.slice.len == want.n && memcmp(el.slice.buf->data + el.slice.offset, want.p, want.n) == 0);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* read_offset > 0 now: the next barrier captures only the new records */
    for (int i = 8; i < 11; i++) /* 72 more bytes, still in the same buffer */
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, p, rw_payload(i, p)), TE_OK);
    record_writer_flush_all(rw);
    ev.checkpoint_id = 9;
    capture_free(&cap);
    memset(&cap, 0, sizeof(cap));
    ck_assert_int_eq(record_writer_broadcast_priority_event(rw, &ev, capture_fn, &cap), TE_OK);
    want.n = 0;
    rw_expected(8, 11, &want);
    ck_assert(cap.by_sub[0].n == want.n && memcmp(cap.by_sub[0].p, want.p, want.n) == 0);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_EVENT); /* ahead of the data */
    ck_assert(el.event.priority == 1 && el.event.checkpoint_id == 9);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert(el.slice.len == want.n && memcmp(el.slice.buf->data + el.slice.offset, want.p, want.n) == 0);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_priority(g, &el), TE_GATE_NOTHING);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    bytes_free(&want);
    capture_free(&cap);
    input_gate_free(g);
    record_writer_free(rw);
    partition_manager_unregister(pm, result_partition_id(rp));
    result_partition_unref(rp);
    partition_manager_free(pm);
}
END_TEST

Suite *unaligned_suite(void)
{
    Suite *s = suite_create("unaligned");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_priority_capture_and_order);
    tcase_add_test(tc, test_priority_with_record_writer);
    tcase_add_test(tc, test_poll_event_only_events);
    tcase_add_test(tc, test_priority_listener);
    tcase_add_test(tc, test_priority_concurrent_backpressure);
    tcase_add_test(tc, test_event_codec_priority);
    tcase_add_test(tc, test_serializer_raw_spanning);
    tcase_add_test(tc, test_write_raw);
    tcase_add_test(tc, test_unconsumed_every_cut);
    tcase_add_test(tc, test_remote_priority_overtakes);
    tcase_add_test(tc, test_remote_priority_via_poll_next);
    tcase_add_test(tc, test_stale_priority_announcement);
    tcase_add_loop_test(tc, test_remote_overtaken_release, 0, 2);
    tcase_add_test(tc, test_local_priority);
    suite_add_tcase(s, tc);
    return s;
}
