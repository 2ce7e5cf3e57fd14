/* Unit tests: result partition, pipelined subpartitions and record writer — flush
 * makes a partial buffer readable, listener on transitions only, backlog, events
 * without pool buffers, release with a cause (views fail, a producer blocked on the
 * pool gets ECANCELED), the partition manager, the output flusher. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shuffle/buffer.h"
#include "shuffle/channel_selector.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/output_flusher.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"

#include "harness_shuffle.h"

#define SEG 256

static te_network_buffer_pool_t *arena;

static void setup(void)
{
    te_error_t err;
    arena = network_buffer_pool_new(64 * SEG, SEG, &err);
}

static void teardown(void)
{
    /* nothing leaked: every segment is back */
    ck_assert_uint_eq(network_buffer_pool_available_segments(arena), network_buffer_pool_total_segments(arena));
    network_buffer_pool_free(arena);
}

static _Atomic int notified;
static void on_data(void *arg)
{
    (void)arg;
    notified++;
}

/* Reads every readable slice of v, deserializing records into out (joined by '|'). */
static int drain(te_subpartition_view_t *v, te_record_deserializer_t *d, char *out, size_t cap, int *events)
{
    te_buffer_slice_t s;
    int slices = 0;
    while (subpartition_view_poll(v, &s, NULL)) {
        slices++;
        if (s.type == TE_BUFFER_EVENT) {
            if (events)
                (*events)++;
            buffer_recycle(s.buf);
            continue;
        }
        record_deserializer_set_next(d, s);
        const uint8_t *data;
        uint32_t len;
        te_des_result_t r;
        while ((r = record_deserializer_next(d, &data, &len)) == TE_DES_RECORD) {
            strncat(out, (const char *)data, len < cap - strlen(out) - 2 ? len : 0);
            strcat(out, "|");
        }
        ck_assert_int_eq(r, TE_DES_NEED_MORE);
    }
    return slices;
}

START_TEST(test_flush_makes_partial_readable)
{
    te_id_t id;
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, &id);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    notified = 0;
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){on_data, NULL}, &err);
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_null(result_partition_create_view(rp, 0, (te_notifier_t){on_data, NULL}, &err)); /* one reader */
    ck_assert_ptr_null(result_partition_create_view(rp, 1, (te_notifier_t){on_data, NULL}, &err));
    te_record_deserializer_t *d = record_deserializer_new(1000);
    char out[2048] = "";

    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(record_writer_emit(rw, (const uint8_t *)"h", 1, (const uint8_t *)"abc", 3), TE_OK);
    ck_assert_int_eq(notified, 0); /* never per record */
    ck_assert_int_eq(subpartition_view_is_available(v), 0);
    ck_assert_int_eq(drain(v, d, out, sizeof(out), NULL), 0);

    record_writer_flush_all(rw);
    ck_assert_int_eq(notified, 1);
    record_writer_flush_all(rw); /* nothing new: no second notification */
    ck_assert_int_eq(notified, 1);
    ck_assert_int_eq(drain(v, d, out, sizeof(out), NULL), 1);
    ck_assert_str_eq(out, "habc|habc|habc|habc|habc|");

    /* more records into the same (unfinished) buffer: invisible until the next flush */
    record_writer_emit(rw, NULL, 0, (const uint8_t *)"z", 1);
    ck_assert_int_eq(subpartition_view_is_available(v), 0);
    record_writer_flush_all(rw);
    ck_assert_int_eq(notified, 2);
    out[0] = 0;
    drain(v, d, out, sizeof(out), NULL);
    ck_assert_str_eq(out, "z|");
    ck_assert_uint_eq(record_writer_bytes_out(rw), 5 * 8 + 5);

    /* fill buffers without flushing: finished buffers are readable, counted as backlog */
    uint8_t big[100];
    memset(big, 'q', sizeof(big));
    for (int i = 0; i < 6; i++)
        record_writer_emit(rw, NULL, 0, big, sizeof(big));
    ck_assert_int_eq(notified, 3); /* once, when the first buffer was finished */
    /* 45 + 6*104 bytes: two finished 256-byte buffers and an unfinished tail */
    te_buffer_slice_t s;
    uint32_t backlog = 99;
    int nrec = 0;
    const uint8_t *data;
    uint32_t len;
    for (uint32_t want = 1;; want--) {
        ck_assert_int_eq(subpartition_view_poll(v, &s, &backlog), 1);
        ck_assert_uint_eq(backlog, want);
        record_deserializer_set_next(d, s);
        while (record_deserializer_next(d, &data, &len) == TE_DES_RECORD) {
            ck_assert(len == 100 && memcmp(data, big, 100) == 0);
            nrec++;
        }
        if (want == 0)
            break;
    }
    ck_assert_int_eq(nrec, 4); /* the 5th spans into the unfinished tail */
    ck_assert_int_eq(subpartition_view_poll(v, &s, &backlog), 0);

    int events = 0;
    ck_assert_int_eq(record_writer_finish(rw), TE_OK);
    out[0] = 0;
    drain(v, d, out, sizeof(out), &events);
    ck_assert_int_eq(events, 1);
    ck_assert_uint_eq(strlen(out), 2 * 101); /* the last two big records */
    ck_assert_int_eq(record_deserializer_has_partial(d), 0);
    record_deserializer_free(d);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

/* Concatenates every data slice of v (events skipped) into out; returns the length. */
static size_t drain_bytes(te_subpartition_view_t *v, uint8_t *out, size_t cap)
{
    te_buffer_slice_t s;
    size_t n = 0;
    while (subpartition_view_poll(v, &s, NULL)) {
        if (s.type == TE_BUFFER_DATA) {
            ck_assert_uint_le(n + s.len, cap);
            memcpy(out + n, s.buf->data + s.offset, s.len);
            n += s.len;
        }
        buffer_recycle(s.buf);
    }
    return n;
}

/* A forward writer takes small records on record_writer_emit's inline path; a writer
 * flushing per record never does. Both must write exactly the oracle stream (u32 BE
 * length, header, payload), across buffer boundaries and with larger records mixed in. */
/* Emits 124-byte records (128 with the length: two fill a 256-byte buffer) until the
 * subpartition's backlog is `want` finished buffers. */
static void emit_until_backlog(te_record_writer_t *rw, te_subpartition_view_t *v, uint32_t want)
{
    uint8_t rec[124];
    memset(rec, 'd', sizeof(rec));
    for (int i = 0; i < 16 && subpartition_view_backlog(v) < want; i++)
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, rec, sizeof(rec)), TE_OK);
    ck_assert_uint_eq(subpartition_view_backlog(v), want);
}

static void drain_all(te_subpartition_view_t *v)
{
    te_buffer_slice_t s;
    while (subpartition_view_poll(v, &s, NULL))
        buffer_recycle(s.buf);
    ck_assert_int_eq(subpartition_view_is_available(v), 0);
}

/* While flushed periodically a finished buffer's notification waits for three more
 * finished buffers (the reader is told once per four), or for another transition: a
 * flush, an event, turning it off, or the producer running out of buffers. */
START_TEST(test_deferred_notify)
{
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 6, 6, NULL);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    notified = 0;
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){on_data, NULL}, &err);
    ck_assert_ptr_nonnull(v);
    record_writer_set_deferred_notify(rw, 1);

    emit_until_backlog(rw, v, 1);
    ck_assert_int_eq(notified, 0);                          /* deferred */
    ck_assert_int_eq(subpartition_view_is_available(v), 1); /* yet readable */
    emit_until_backlog(rw, v, 3);
    ck_assert_int_eq(notified, 0);
    emit_until_backlog(rw, v, 4);
    ck_assert_int_eq(notified, 1); /* the fourth buffer tells of all */
    drain_all(v);
    emit_until_backlog(rw, v, 4); /* and again from nothing readable */
    ck_assert_int_eq(notified, 2);
    drain_all(v);

    emit_until_backlog(rw, v, 1);
    ck_assert_int_eq(notified, 2);
    record_writer_flush_all(rw); /* the periodic flush */
    ck_assert_int_eq(notified, 3);
    drain_all(v);

    emit_until_backlog(rw, v, 2);
    ck_assert_int_eq(notified, 3);
    te_event_t ev = {.type = TE_EVENT_CHECKPOINT_BARRIER, .checkpoint_id = 7};
    ck_assert_int_eq(result_partition_add_event(rp, 0, &ev), TE_OK);
    ck_assert_int_eq(notified, 4);
    drain_all(v);

    emit_until_backlog(rw, v, 1);
    ck_assert_int_eq(notified, 4);
    record_writer_set_deferred_notify(rw, 0); /* off: told now */
    ck_assert_int_eq(notified, 5);
    drain_all(v);
    emit_until_backlog(rw, v, 1); /* and at once from now on */
    ck_assert_int_eq(notified, 6);
    drain_all(v);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);

    /* out of buffers: a pool of two, one finished (not told) and one open */
    rp = harness_new_rp(arena, 1, 2, 2, NULL);
    sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    rw = record_writer_new(rp, sel, 0, &err);
    notified = 0;
    v = result_partition_create_view(rp, 0, (te_notifier_t){on_data, NULL}, &err);
    record_writer_set_deferred_notify(rw, 1);
    emit_until_backlog(rw, v, 1);
    uint8_t rec[8] = "12345678";
    ck_assert_int_eq(record_writer_emit(rw, NULL, 0, rec, sizeof(rec)), TE_OK); /* into the second */
    ck_assert_int_eq(notified, 0);
    ck_assert_int_eq(record_writer_is_available(rw), 0); /* would wait: the reader is told */
    ck_assert_int_eq(notified, 1);
    drain_all(v);
    ck_assert_int_eq(record_writer_is_available(rw), 1);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

START_TEST(test_writer_fast_path_stream)
{
    te_id_t id1, id2;
    te_error_t err;
    te_result_partition_t *rp[2] = {harness_new_rp(arena, 1, 2, 16, &id1), harness_new_rp(arena, 1, 2, 16, &id2)};
    te_record_writer_t *rw[2];
    te_subpartition_view_t *v[2];
    for (int w = 0; w < 2; w++) {
        te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
        rw[w] = record_writer_new(rp[w], sel, w /* flush_always */, &err);
        v[w] = result_partition_create_view(rp[w], 0, (te_notifier_t){NULL, NULL}, &err);
        ck_assert_ptr_nonnull(v[w]);
    }
    static const uint32_t hdrs[] = {0, 1, 9, 13, 1, 1};
    static uint8_t exp[64 * 1024], got[64 * 1024];
    uint8_t hdr[16], payload[300];
    size_t n_exp = 0;
    for (uint32_t i = 0; i < 400; i++) {
        uint32_t hl = hdrs[i % 6], pl = i % 7 == 6 ? 100 + i % 150 : i % 41;
        for (uint32_t k = 0; k < hl; k++)
            hdr[k] = (uint8_t)(i + k);
        for (uint32_t k = 0; k < pl; k++)
            payload[k] = (uint8_t)(i * 3 + k);
        uint32_t l = hl + pl;
        uint8_t be[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
        memcpy(exp + n_exp, be, 4);
        memcpy(exp + n_exp + 4, hdr, hl);
        memcpy(exp + n_exp + 4 + hl, payload, pl);
        n_exp += 4 + l;
        for (int w = 0; w < 2; w++)
            ck_assert_int_eq(record_writer_emit(rw[w], hdr, hl, payload, pl), TE_OK);
        if (i % 4 == 3) /* the reader keeps up: at most a few buffers in flight */
            for (int w = 0; w < 2; w++)
                record_writer_flush_all(rw[w]);
        if (i % 4 == 3) {
            size_t a = drain_bytes(v[0], got, sizeof(got));
            ck_assert_uint_eq(a, n_exp);
            ck_assert_int_eq(memcmp(got, exp, n_exp), 0);
            size_t b = drain_bytes(v[1], got, sizeof(got));
            ck_assert_uint_eq(b, n_exp);
            ck_assert_int_eq(memcmp(got, exp, n_exp), 0);
            n_exp = 0;
        }
    }
    ck_assert_uint_eq(record_writer_bytes_out(rw[0]), record_writer_bytes_out(rw[1]));
    for (int w = 0; w < 2; w++) {
        subpartition_view_release(v[w]);
        record_writer_free(rw[w]);
        result_partition_unref(rp[w]);
    }
}
END_TEST

/* A rebalance writer picks channels round robin inline, starting where the selector
 * would (subtask_index % n): record i of subtask 2 over 3 channels goes to (2 + i) % 3. */
START_TEST(test_writer_round_robin)
{
    te_id_t id;
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 3, 4, 8, &id);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__REBALANCE, 3, 2, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    te_subpartition_view_t *v[3];
    for (uint32_t c = 0; c < 3; c++)
        v[c] = result_partition_create_view(rp, c, (te_notifier_t){NULL, NULL}, &err);
    for (int i = 0; i < 12; i++) {
        char p[2] = {(char)('a' + i), 0};
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, (const uint8_t *)p, 1), TE_OK);
    }
    record_writer_flush_all(rw);
    static const char *want[3] = {"b|e|h|k|", "c|f|i|l|", "a|d|g|j|"};
    for (uint32_t c = 0; c < 3; c++) {
        te_record_deserializer_t *d = record_deserializer_new(1000);
        char out[64] = "";
        drain(v[c], d, out, sizeof(out), NULL);
        ck_assert_str_eq(out, want[c]);
        record_deserializer_free(d);
        subpartition_view_release(v[c]);
    }
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

START_TEST(test_events_without_pool_buffers)
{
    te_id_t id;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 1, 1, &id);
    te_buffer_t *hold = local_buffer_pool_request(result_partition_pool(rp));
    ck_assert_ptr_nonnull(hold);
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 7, 1234, 0};
    ck_assert_int_eq(result_partition_broadcast_event(rp, &ev), TE_OK); /* side buffers */
    te_error_t err;
    te_subpartition_view_t *v = result_partition_create_view(rp, 1, (te_notifier_t){NULL, NULL}, &err);
    te_buffer_slice_t s;
    ck_assert_int_eq(subpartition_view_poll(v, &s, NULL), 1);
    ck_assert_int_eq(s.type, TE_BUFFER_EVENT);
    te_event_t got;
    ck_assert_int_eq(task_event_decode(s.buf->data + s.offset, s.len, &got), 0);
    ck_assert(got.type == TE_EVENT_CHECKPOINT_BARRIER && got.checkpoint_id == 7 && got.timestamp == 1234);
    buffer_recycle(s.buf);
    buffer_recycle(hold);
    subpartition_view_release(v);
    result_partition_unref(rp); /* frees the unread event of subpartition 0 */
}
END_TEST

struct producer {
    te_record_writer_t *rw;
    te_status_t last;
    int emitted;
};

static void *produce_until_error(void *arg)
{
    struct producer *p = arg;
    uint8_t rec[50];
    memset(rec, 'r', sizeof(rec));
    for (;;) {
        te_status_t st = record_writer_emit(p->rw, NULL, 0, rec, sizeof(rec));
        if (st != TE_OK) {
            p->last = st;
            return NULL;
        }
        p->emitted++;
    }
}

START_TEST(test_release_cancels_blocked_producer)
{
    te_id_t id;
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 2, &id);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    notified = 0;
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){on_data, NULL}, &err);
    struct producer p = {rw, TE_OK, 0};
    pthread_t th;
    pthread_create(&th, NULL, produce_until_error, &p);
    /* wait until the producer is back-pressured (both buffers full, nobody reads) */
    while (!record_writer_is_backpressured(rw))
        usleep(1000);
    ck_assert_int_eq(record_writer_is_available(rw), 0);
    result_partition_release(rp, "TaskCanceled: the consumer went away");
    pthread_join(th, NULL);
    ck_assert_int_eq(p.last, TE_ECANCELED);
    ck_assert_int_gt(p.emitted, 0);
    ck_assert_uint_gt(record_writer_backpressured_ns(rw), 0);
    ck_assert_int_eq(result_partition_is_released(rp), 1);
    ck_assert_int_ge(notified, 1);
    ck_assert_int_eq(subpartition_view_is_available(v), 1); /* so the reader looks */
    te_buffer_slice_t s;
    ck_assert_int_eq(subpartition_view_poll(v, &s, NULL), 0);
    char cause[128];
    ck_assert_int_eq(subpartition_view_failure(v, cause, sizeof(cause)), 1);
    ck_assert_str_eq(cause, "TaskCanceled: the consumer went away");
    ck_assert_int_eq(record_writer_emit(rw, NULL, 0, (const uint8_t *)"x", 1), TE_ECANCELED);
    ck_assert_ptr_null(result_partition_create_view(rp, 0, (te_notifier_t){NULL, NULL}, &err));
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

static int reg_fired;
static void on_registered(void *arg)
{
    (void)arg;
    reg_fired++;
}

START_TEST(test_partition_manager)
{
    te_partition_manager_t *pm = partition_manager_new();
    te_id_t id, other;
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 2, 1, 2, &id);
    te_id_random(&other);
    reg_fired = 0;
    ck_assert_ptr_null(partition_manager_create_view(pm, &id, 0, (te_notifier_t){NULL, NULL}, &err));
    ck_assert_int_eq(err.code, TE_ENOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "PartitionNotFound"));
    ck_assert_int_eq(partition_manager_notify_when_registered(pm, &id, (te_notifier_t){on_registered, NULL}), 0);
    ck_assert_int_eq(partition_manager_notify_when_registered(pm, &other, (te_notifier_t){on_registered, &pm}), 0);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    ck_assert_int_eq(reg_fired, 1);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_EEXIST);
    ck_assert_uint_eq(partition_manager_count(pm), 1);
    ck_assert_int_eq(partition_manager_notify_when_registered(pm, &id, (te_notifier_t){on_registered, NULL}), 1);
    ck_assert_int_eq(reg_fired, 2);
    partition_manager_cancel_listener(pm, (te_notifier_t){on_registered, &pm});
    te_subpartition_view_t *v = partition_manager_create_view(pm, &id, 1, (te_notifier_t){NULL, NULL}, &err);
    ck_assert_ptr_nonnull(v);
    result_partition_unref(rp); /* the manager and the view keep it */
    partition_manager_unregister(pm, &id);
    ck_assert_uint_eq(partition_manager_count(pm), 0);
    subpartition_view_release(v); /* last reference */
    partition_manager_free(pm);
}
END_TEST

/* --- output flusher: records reach the reader without any explicit flush --- */
static pthread_mutex_t fmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fcv = PTHREAD_COND_INITIALIZER;
static int fflag;
static void on_flush_data(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fmu);
    fflag = 1;
    pthread_cond_signal(&fcv);
    pthread_mutex_unlock(&fmu);
}

START_TEST(test_output_flusher)
{
    te_id_t id;
    te_error_t err;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, &id);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){on_flush_data, NULL}, &err);
    te_output_flusher_t *f = output_flusher_new(&err);
    ck_assert_int_eq(output_flusher_start(f, &err), TE_OK);
    output_flusher_add(f, rw, 5);
    fflag = 0;
    record_writer_emit(rw, NULL, 0, (const uint8_t *)"hello", 5);
    pthread_mutex_lock(&fmu);
    while (!fflag)
        pthread_cond_wait(&fcv, &fmu);
    pthread_mutex_unlock(&fmu);
    te_record_deserializer_t *d = record_deserializer_new(100);
    char out[64] = "";
    drain(v, d, out, sizeof(out), NULL);
    ck_assert_str_eq(out, "hello|");
    output_flusher_remove(f, rw);
    output_flusher_stop(f);
    output_flusher_free(f);
    record_deserializer_free(d);
    subpartition_view_release(v);
    record_writer_free(rw);
    result_partition_unref(rp);
}
END_TEST

Suite *result_partition_suite(void)
{
    Suite *s = suite_create("result_partition");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_flush_makes_partial_readable);
    tcase_add_test(tc, test_writer_fast_path_stream);
    tcase_add_test(tc, test_writer_round_robin);
    tcase_add_test(tc, test_events_without_pool_buffers);
    tcase_add_test(tc, test_release_cancels_blocked_producer);
    tcase_add_test(tc, test_partition_manager);
    tcase_add_test(tc, test_output_flusher);
    tcase_add_test(tc, test_deferred_notify);
    suite_add_tcase(s, tc);
    return s;
}
