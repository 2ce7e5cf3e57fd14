/* Unit tests: input gates with local channels — end to end across a producer and a
 * consumer thread (hash partitioning into two subpartitions read by two gates, every
 * record exactly once in per-channel order, then END), events, release with a cause,
 * PartitionNotFound after the timeout, a consumer requesting before the producer
 * registers, a channel resumed after an alignment wakes the consumer. Every test
 * ends with the whole arena back (nothing leaked). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "te/row.h"
#include "common/clock.h"
#include "shuffle/buffer.h"
#include "shuffle/channel_selector.h"
#include "harness_shuffle.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_input_channel.h"
#include "common/key_group.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"

#define SEG  1024
#define MAXP 128

static te_network_buffer_pool_t *arena;
static te_partition_manager_t *pm;

static void setup(void)
{
    te_error_t err;
    arena = network_buffer_pool_new(64 * SEG, SEG, &err);
    pm = partition_manager_new();
}

static void teardown(void)
{
    partition_manager_free(pm);
    ck_assert_uint_eq(network_buffer_pool_available_segments(arena), network_buffer_pool_total_segments(arena));
    network_buffer_pool_free(arena);
}

/* The consumer's wake-up: gate listeners set a flag under a mutex and signal. */
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcv = PTHREAD_COND_INITIALIZER;
static int wflag;
static _Atomic int wcount;

static void on_gate(void *arg)
{
    (void)arg;
    wcount++;
    pthread_mutex_lock(&wmu);
    wflag = 1;
    pthread_cond_signal(&wcv);
    pthread_mutex_unlock(&wmu);
}

static void wait_listener(int64_t deadline_ms)
{
    pthread_mutex_lock(&wmu);
    while (!wflag) {
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - te_clock_mono_ms();
            if (left <= 0)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (left + 1) / 1000;
            ts.tv_nsec += ((left + 1) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&wcv, &wmu, &ts);
        } else {
            pthread_cond_wait(&wcv, &wmu);
        }
    }
    wflag = 0;
    pthread_mutex_unlock(&wmu);
}

static void clear_listener_flag(void)
{
    pthread_mutex_lock(&wmu);
    wflag = 0;
    pthread_mutex_unlock(&wmu);
}

static te_input_gate_t *new_gate(uint32_t nch)
{
    te_error_t err;
    te_input_gate_t *g = input_gate_new("consumer", 0, nch, NULL, &err);
    ck_assert_ptr_nonnull(g);
    input_gate_set_listener(g, (te_notifier_t){on_gate, g});
    return g;
}

/* ---------------- end to end ---------------- */

#define N_RECORDS 20000
#define N_KEYS    37

struct e2e {
    te_record_writer_t *rw;
    te_input_gate_t *gates[2];
    int seen[N_RECORDS];
    int gate_of[N_RECORDS];
    int order_ok;
    uint64_t bytes;
};

static uint32_t rec_payload_len(int seq) { return seq % 1000 == 999 ? 3000 : (uint32_t)(seq % 50); }

/* Record seq: a row of one string field (te/row.h) "k<key>\t<seq>\t<padding>", which a
 * HASH selector keys by its first tab-separated part. */
static int make_record(int seq, uint8_t *buf)
{
    uint8_t text[4096];
    int n = sprintf((char *)text, "k%d\t%d\t", seq % N_KEYS, seq);
    uint32_t pad = rec_payload_len(seq);
    memset(text + n, 'a' + seq % 26, pad);
    te_row_builder_t b = {0};
    te_record_t row;
    te_row_builder_begin(&b, 1);
    te_row_set_str(&b, 0, text, (uint32_t)n + pad);
    ck_assert_int_eq(te_row_builder_finish(&b, 0, &row), 0);
    memcpy(buf, row.data, row.len);
    te_row_builder_free(&b);
    return (int)row.len;
}

static void *e2e_producer(void *arg)
{
    struct e2e *t = arg;
    static uint8_t buf[8192];
    for (int seq = 0; seq < N_RECORDS; seq++) {
        int n = make_record(seq, buf);
        uint8_t hdr = 7;
        ck_assert_int_eq(record_writer_emit(t->rw, &hdr, 1, buf, (uint32_t)n), TE_OK);
    }
    ck_assert_int_eq(record_writer_finish(t->rw), TE_OK);
    return NULL;
}

static void *e2e_consumer(void *arg)
{
    struct e2e *t = arg;
    te_record_deserializer_t *des[2] = {record_deserializer_new(1 << 20), record_deserializer_new(1 << 20)};
    int last[2] = {-1, -1}, ended[2] = {0, 0};
    static uint8_t expect[8192];
    t->order_ok = 1;
    while (!(ended[0] && ended[1])) {
        clear_listener_flag();
        int progressed = 0;
        for (int gi = 0; gi < 2; gi++) {
            if (ended[gi])
                continue;
            te_gate_element_t el;
            te_gate_result_t r;
            while ((r = input_gate_poll_next(t->gates[gi], &el)) == TE_GATE_BUFFER) {
                progressed = 1;
                t->bytes += el.slice.len;
                record_deserializer_set_next(des[gi], el.slice);
                const uint8_t *d;
                uint32_t len;
                te_des_result_t dr;
                while ((dr = record_deserializer_next(des[gi], &d, &len)) == TE_DES_RECORD) {
                    ck_assert_uint_ge(len, 1);
                    ck_assert_uint_eq(d[0], 7);
                    int seq = atoi(strchr((const char *)d + 1 + 16, '\t') +
                                   1); /* the text after the row header and slot */
                    ck_assert(seq >= 0 && seq < N_RECORDS);
                    int n = make_record(seq, expect);
                    ck_assert_uint_eq(len, (uint32_t)n + 1);
                    ck_assert(memcmp(d + 1, expect, n) == 0);
                    t->seen[seq]++;
                    t->gate_of[seq] = gi;
                    if (seq <= last[gi])
                        t->order_ok = 0;
                    last[gi] = seq;
                }
                ck_assert_int_eq(dr, TE_DES_NEED_MORE);
            }
            ck_assert_msg(r == TE_GATE_NOTHING || r == TE_GATE_END, "gate %d: %d %s", gi, r,
                          input_gate_failure(t->gates[gi]));
            if (r == TE_GATE_END) {
                ck_assert_int_eq(record_deserializer_has_partial(des[gi]), 0);
                ended[gi] = 1;
                progressed = 1;
            }
        }
        if (!progressed)
            wait_listener(-1); /* never spin: sleep until a gate says it has something */
    }
    record_deserializer_free(des[0]);
    record_deserializer_free(des[1]);
    return NULL;
}

START_TEST(test_end_to_end_two_threads)
{
    int flush_always = _i;
    te_error_t err;
    te_id_t id;
    te_result_partition_t *rp =
        harness_new_rp(arena, 2, 3, 6, &id); /* small pool: the producer gets back-pressured */
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__HASH, 2, 0, 0, '\t', MAXP, &err);
    struct e2e *t = calloc(1, sizeof(*t));
    t->rw = record_writer_new(rp, sel, flush_always, &err);
    for (int gi = 0; gi < 2; gi++) {
        t->gates[gi] = new_gate(1);
        ck_assert_int_eq(local_input_channel_attach(t->gates[gi], 0, pm, &id, (uint32_t)gi, &err), TE_OK);
        ck_assert_int_eq(input_gate_request_partitions(t->gates[gi], 1000, &err), TE_OK);
    }
    pthread_t prod, cons;
    pthread_create(&cons, NULL, e2e_consumer, t);
    pthread_create(&prod, NULL, e2e_producer, t);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);

    uint64_t want_bytes = 0;
    for (int seq = 0; seq < N_RECORDS; seq++) {
        ck_assert_msg(t->seen[seq] == 1, "record %d seen %d times", seq, t->seen[seq]);
        char key[16];
        int kl = sprintf(key, "k%d", seq % N_KEYS);
        uint32_t want_gate =
            key_group_operator_index(key_group_for_key((uint8_t *)key, (uint32_t)kl, MAXP), MAXP, 2);
        ck_assert_int_eq(t->gate_of[seq], (int)want_gate);
        uint8_t tmp[8192];
        want_bytes += 4 + 1 + (uint64_t)make_record(seq, tmp);
    }
    ck_assert_int_eq(t->order_ok, 1);
    ck_assert_uint_eq(record_writer_bytes_out(t->rw), want_bytes);
    ck_assert_uint_eq(t->bytes, want_bytes);
    ck_assert_uint_eq(input_gate_bytes_in(t->gates[0]) + input_gate_bytes_in(t->gates[1]), want_bytes);
    ck_assert_int_eq(input_gate_poll_next(t->gates[0], &(te_gate_element_t){0}), TE_GATE_END);
    ck_assert(input_gate_pool_usage(t->gates[0]) == 0.0);

    for (int gi = 0; gi < 2; gi++)
        input_gate_free(t->gates[gi]);
    record_writer_free(t->rw);
    partition_manager_unregister(pm, &id);
    result_partition_unref(rp);
    free(t);
}
END_TEST

/* ---------------- events, flush, release ---------------- */

START_TEST(test_event_flush_and_release)
{
    te_error_t err;
    te_id_t id;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, &id);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    te_input_gate_t *g = new_gate(1);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, &id, 0, &err), TE_OK);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, &id, 0, &err), TE_EEXIST);
    ck_assert_int_eq(input_gate_request_partitions(g, 1000, &err), TE_OK);
    ck_assert_int_eq(input_gate_pending_deadline_ms(g), -1);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* a partial buffer becomes readable by a flush */
    wcount = 0;
    record_writer_emit(rw, NULL, 0, (const uint8_t *)"one", 3);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);
    ck_assert_int_eq(wcount, 0);
    record_writer_flush_all(rw);
    ck_assert_int_eq(wcount, 1);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert_uint_eq(el.channel, 0);
    ck_assert_uint_eq(el.slice.len, 7);
    ck_assert(memcmp(el.slice.buf->data + el.slice.offset + 4, "one", 3) == 0);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* a barrier after the data, then more data */
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 5, 99, 0};
    record_writer_emit(rw, NULL, 0, (const uint8_t *)"two", 3);
    ck_assert_int_eq(record_writer_broadcast_event(rw, &ev), TE_OK);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert(memcmp(el.slice.buf->data + el.slice.offset + 4, "two", 3) == 0);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_EVENT);
    ck_assert(el.event.type == TE_EVENT_CHECKPOINT_BARRIER && el.event.checkpoint_id == 5);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* release with a cause: the gate fails with it */
    record_writer_emit(rw, NULL, 0, (const uint8_t *)"lost", 4);
    result_partition_release(rp, "java.lang.RuntimeException: producer failed");
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_ERROR);
    ck_assert_ptr_nonnull(strstr(input_gate_failure(g), "producer failed"));
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_ERROR);
    ck_assert_int_eq(record_writer_emit(rw, NULL, 0, (const uint8_t *)"x", 1), TE_ECANCELED);

    input_gate_close(g);
    input_gate_close(g); /* idempotent */
    input_gate_free(g);
    record_writer_free(rw);
    partition_manager_unregister(pm, &id);
    result_partition_unref(rp);
}
END_TEST

/* ---------------- alignment: resume wakes the consumer ---------------- */

/* A channel blocked for an alignment keeps what arrives; the consumer polls, finds
 * nothing else and sleeps. When the alignment ends outside a poll (an abort mail),
 * resume_channels must call the listener: it re-queued data nobody else announces
 * (the regression of an aborted aligned checkpoint that hung its task). */
START_TEST(test_resume_after_block_wakes_listener)
{
    te_error_t err;
    te_id_t id[2];
    te_result_partition_t *rp[2];
    te_record_writer_t *rw[2];
    te_input_gate_t *g = new_gate(2);
    for (int i = 0; i < 2; i++) {
        rp[i] = harness_new_rp(arena, 1, 2, 4, &id[i]);
        ck_assert_int_eq(partition_manager_register(pm, rp[i], &err), TE_OK);
        te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
        rw[i] = record_writer_new(rp[i], sel, 1, &err);
        ck_assert_ptr_nonnull(rw[i]);
        ck_assert_int_eq(local_input_channel_attach(g, (uint32_t)i, pm, &id[i], 0, &err), TE_OK);
    }
    ck_assert_int_eq(input_gate_request_partitions(g, 1000, &err), TE_OK);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* barrier 1 on channel 0, which the consumer blocks, then data behind it */
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 1, 7, 0};
    ck_assert_int_eq(record_writer_broadcast_event(rw[0], &ev), TE_OK);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_EVENT);
    ck_assert_uint_eq(el.channel, 0);
    input_gate_block_channel(g, 0);
    for (int k = 0; k < 3; k++)
        ck_assert_int_eq(record_writer_emit(rw[0], NULL, 0, (const uint8_t *)"after", 5), TE_OK);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING); /* blocked: nothing */
    ck_assert_int_eq(record_writer_emit(rw[0], NULL, 0, (const uint8_t *)"more", 4), TE_OK);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);

    /* the consumer sleeps now; an abort resumes the channels from a mail */
    wcount = 0;
    input_gate_resume_channels(g);
    ck_assert_msg(wcount == 1, "resume_channels re-queued data without waking the consumer (%d calls)",
                  (int)wcount);
    uint32_t got = 0; /* bytes: 3 x (length prefix + "after") + (prefix + "more") */
    while (input_gate_poll_next(g, &el) == TE_GATE_BUFFER) {
        ck_assert_uint_eq(el.channel, 0);
        got += el.slice.len;
        buffer_recycle(el.slice.buf);
    }
    ck_assert_uint_eq(got, 3 * (4 + 5) + 4 + 4);

    /* nothing blocked, nothing queued: resume calls nobody */
    wcount = 0;
    input_gate_resume_channels(g);
    ck_assert_int_eq(wcount, 0);

    input_gate_free(g);
    for (int i = 0; i < 2; i++) {
        record_writer_free(rw[i]);
        partition_manager_unregister(pm, &id[i]);
        result_partition_unref(rp[i]);
    }
}
END_TEST

START_TEST(test_partition_not_found_timeout)
{
    te_error_t err;
    te_id_t id;
    te_id_random(&id);
    te_input_gate_t *g = new_gate(2);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, &id, 0, &err), TE_OK);
    ck_assert_int_eq(local_input_channel_attach(g, 1, pm, &id, 1, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(g, 50, &err), TE_OK);
    int64_t dl = input_gate_pending_deadline_ms(g);
    ck_assert_int_ge(dl, 0);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);
    clear_listener_flag();
    wait_listener(dl); /* nobody registers: returns at the deadline */
    te_gate_result_t r;
    while ((r = input_gate_poll_next(g, &el)) == TE_GATE_NOTHING)
        wait_listener(input_gate_pending_deadline_ms(g));
    ck_assert_int_eq(r, TE_GATE_ERROR);
    char hex[TE_ID_HEX_LEN + 1], want[160];
    snprintf(want, sizeof(want), "PartitionNotFound: partition %s subpartition 0 was not registered within 50 ms",
             te_id_to_hex(&id, hex));
    ck_assert_str_eq(input_gate_failure(g), want);
    input_gate_free(g); /* disarms the registration listeners */

    /* a gate freed while still waiting must not be called back later */
    te_input_gate_t *g2 = new_gate(1);
    ck_assert_int_eq(local_input_channel_attach(g2, 0, pm, &id, 0, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(g2, 10000, &err), TE_OK);
    input_gate_free(g2);
    te_result_partition_t *rp =
        result_partition_new(&id, "late", 1, network_buffer_pool_create_local(arena, "late", 1, 1, &err), &err);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    partition_manager_unregister(pm, &id);
    result_partition_unref(rp);
}
END_TEST

/* ---------------- consumer first, producer registers later ---------------- */

struct late {
    te_id_t id;
    te_result_partition_t *rp;
};

static void *late_producer(void *arg)
{
    struct late *l = arg;
    te_error_t err;
    usleep(30000); /* the consumer has requested and is waiting by now (not required) */
    ck_assert_int_eq(partition_manager_register(pm, l->rp, &err), TE_OK);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__REBALANCE, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(l->rp, sel, 1, &err);
    char buf[32];
    for (int i = 0; i < 100; i++) {
        int n = sprintf(buf, "late-%d", i);
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, (uint8_t *)buf, (uint32_t)n), TE_OK);
    }
    ck_assert_int_eq(record_writer_finish(rw), TE_OK);
    record_writer_free(rw);
    return NULL;
}

START_TEST(test_request_before_register)
{
    te_error_t err;
    te_id_t early_id;
    /* channel 0: registered already; channel 1: registered later by another thread */
    te_result_partition_t *early = harness_new_rp(arena, 1, 1, 2, &early_id);
    ck_assert_int_eq(partition_manager_register(pm, early, &err), TE_OK);
    te_event_t eop = {TE_EVENT_END_OF_PARTITION, 0, 0, 0};
    ck_assert_int_eq(result_partition_broadcast_event(early, &eop), TE_OK);

    struct late l;
    l.rp = harness_new_rp(arena, 1, 2, 3, &l.id);
    te_input_gate_t *g = new_gate(2);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, &early_id, 0, &err), TE_OK);
    ck_assert_int_eq(local_input_channel_attach(g, 1, pm, &l.id, 0, &err), TE_OK);
    clear_listener_flag();
    ck_assert_int_eq(input_gate_request_partitions(g, 10000, &err), TE_OK);
    ck_assert_int_ge(input_gate_pending_deadline_ms(g), 0);

    pthread_t th;
    pthread_create(&th, NULL, late_producer, &l);
    te_record_deserializer_t *d = record_deserializer_new(1000);
    int next = 0;
    te_gate_result_t r;
    for (;;) {
        te_gate_element_t el;
        clear_listener_flag();
        while ((r = input_gate_poll_next(g, &el)) == TE_GATE_BUFFER) {
            ck_assert_uint_eq(el.channel, 1);
            record_deserializer_set_next(d, el.slice);
            const uint8_t *data;
            uint32_t len;
            while (record_deserializer_next(d, &data, &len) == TE_DES_RECORD) {
                char want[32];
                int n = sprintf(want, "late-%d", next++);
                ck_assert(len == (uint32_t)n && memcmp(data, want, len) == 0);
            }
        }
        if (r != TE_GATE_NOTHING)
            break;
        wait_listener(input_gate_pending_deadline_ms(g));
    }
    ck_assert_msg(r == TE_GATE_END, "%d %s", r, input_gate_failure(g));
    ck_assert_int_eq(next, 100);
    ck_assert_int_eq(input_gate_pending_deadline_ms(g), -1);
    pthread_join(th, NULL);
    record_deserializer_free(d);
    input_gate_free(g);
    partition_manager_unregister(pm, &l.id);
    partition_manager_unregister(pm, &early_id);
    result_partition_unref(l.rp);
    result_partition_unref(early);
}
END_TEST

Suite *input_gate_suite(void)
{
    Suite *s = suite_create("input_gate");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_loop_test(tc, test_end_to_end_two_threads, 0, 2);
    tcase_add_test(tc, test_event_flush_and_release);
    tcase_add_test(tc, test_resume_after_block_wakes_listener);
    tcase_add_test(tc, test_partition_not_found_timeout);
    tcase_add_test(tc, test_request_before_register);
    suite_add_tcase(s, tc);
    return s;
}
