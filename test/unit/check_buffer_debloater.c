/* Unit tests: buffer debloating's size rule (throughput x target / buffers in use,
 * bounded by the minimum and the segment), its period and threshold, and the record
 * writer cutting buffers at a subpartition's announced size (the pool restoring the
 * segment size for the next user), and a gate counting the buffers queued for its local
 * channels among its buffers in use. */
#include <check.h>
#include <string.h>
#include <time.h>

#include "shuffle/buffer.h"
#include "shuffle/buffer_debloater.h"
#include "shuffle/channel_selector.h"
#include "shuffle/input_gate.h"
#include "shuffle/local_input_channel.h"
#include "shuffle/local_buffer_pool.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"

#define MS 1000000LL

START_TEST(test_compute_bounds)
{
    /* 100 kB/s for 100 ms over 10 buffers: 1000 bytes each */
    ck_assert_uint_eq(buffer_debloater_compute(100000, 100, 10, 32768), 1000);
    ck_assert_uint_eq(buffer_debloater_compute(100000, 100, 0, 32768), 10000); /* at least one buffer */
    ck_assert_uint_eq(buffer_debloater_compute(1000000000, 1000, 10, 32768), 32768);
    ck_assert_uint_eq(buffer_debloater_compute(0, 1000, 10, 32768), TE_DEBLOAT_MIN_SIZE);
}
END_TEST

START_TEST(test_update_period_and_threshold)
{
    te_buffer_debloater_t d;
    buffer_debloater_init(&d, 100, 32768);
    ck_assert_uint_eq(buffer_debloater_size(&d), 32768);
    ck_assert_uint_eq(buffer_debloater_update(&d, 1000 * MS, 0, 10), 0);     /* starts the period */
    ck_assert_uint_eq(buffer_debloater_update(&d, 1100 * MS, 50000, 10), 0); /* period not over */
    /* 20 kB in 200 ms = 100 kB/s -> 1000 bytes */
    ck_assert_uint_eq(buffer_debloater_update(&d, 1200 * MS, 20000, 10), 1000);
    ck_assert_uint_eq(buffer_debloater_size(&d), 1000);
    /* 1100 bytes is within 25 %: ignored */
    ck_assert_uint_eq(buffer_debloater_update(&d, 1400 * MS, 42000, 10), 0);
    ck_assert_uint_eq(buffer_debloater_size(&d), 1000);
    /* 4x the throughput: announced */
    ck_assert_uint_eq(buffer_debloater_update(&d, 1600 * MS, 122000, 10), 4000);
}
END_TEST

START_TEST(test_writer_cuts_at_announced_size)
{
    te_error_t err;
    te_network_buffer_pool_t *arena = network_buffer_pool_new(64 * 4096, 4096, &err);
    ck_assert_ptr_nonnull(arena);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(arena, "p", 4, 16, &err);
    ck_assert_ptr_nonnull(lp);
    te_id_t pid;
    te_id_random(&pid);
    te_result_partition_t *rp = result_partition_new(&pid, "p", 1, lp, &err);
    ck_assert_ptr_nonnull(rp);
    te_subpartition_view_t *v = result_partition_create_view(rp, 0, (te_notifier_t){NULL, NULL}, &err);
    ck_assert_ptr_nonnull(v);
    subpartition_view_set_buffer_size(v, 512);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    ck_assert_ptr_nonnull(sel);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    ck_assert_ptr_nonnull(rw);
    uint8_t payload[20];
    memset(payload, 'x', sizeof(payload));
    for (int i = 0; i < 200; i++) /* 200 x 24 bytes = 4800: more than a segment */
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, payload, sizeof(payload)), TE_OK);
    ck_assert_int_eq(record_writer_finish(rw), TE_OK);
    te_buffer_slice_t s;
    uint32_t total = 0, n = 0;
    while (subpartition_view_poll(v, &s, NULL)) {
        if (s.type == TE_BUFFER_DATA) {
            ck_assert_uint_le(s.len, 512);
            total += s.len;
            n++;
        }
        buffer_recycle(s.buf);
    }
    ck_assert_uint_eq(total, 200 * 24);
    ck_assert_uint_ge(n, 10);
    te_buffer_t *b = local_buffer_pool_request(lp); /* a cut buffer back in the pool: a segment again */
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(b->capacity, 4096);
    buffer_recycle(b);
    record_writer_free(rw); /* frees the selector */
    subpartition_view_release(v);
    result_partition_unref(rp);
    network_buffer_pool_free(arena);
}
END_TEST

/* A gate whose only channel is local has no pool of its own: the buffers in use that
 * the size is spread over are the ones queued in the producer's subpartition. Ten full
 * buffers queued, one read over a period of >= 200 ms: throughput x 1 s is at most
 * 5 x 4096 bytes, spread over the 9 still queued (+ the one read) it is at most
 * ~2,300 bytes — not the segment (4096), which counting no buffer in use would give. */
START_TEST(test_gate_counts_local_backlog)
{
    te_error_t err;
    te_network_buffer_pool_t *arena = network_buffer_pool_new(64 * 4096, 4096, &err);
    ck_assert_ptr_nonnull(arena);
    te_partition_manager_t *pm = partition_manager_new();
    ck_assert_ptr_nonnull(pm);
    te_id_t pid;
    te_id_random(&pid);
    te_result_partition_t *rp =
        result_partition_new(&pid, "p", 1, network_buffer_pool_create_local(arena, "p", 4, 32, &err), &err);
    ck_assert_ptr_nonnull(rp);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__FORWARD, 1, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    ck_assert_ptr_nonnull(rw);
    te_input_gate_t *g = input_gate_new("consumer", 0, 1, NULL, &err);
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(local_input_channel_attach(g, 0, pm, &pid, 0, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(g, 1000, &err), TE_OK);
    input_gate_enable_debloating(g, 1000, 4096);

    uint8_t payload[96];
    memset(payload, 'x', sizeof(payload));
    for (int i = 0; i < 420; i++) /* 420 x 100 bytes: ten full 4096-byte buffers */
        ck_assert_int_eq(record_writer_emit(rw, NULL, 0, payload, sizeof(payload)), TE_OK);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER); /* starts the period */
    buffer_recycle(el.slice.buf);
    ck_assert_uint_eq(input_gate_buffer_size(g), 4096);
    nanosleep(&(struct timespec){0, 250 * 1000 * 1000}, NULL);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER); /* the period is over */
    buffer_recycle(el.slice.buf);
    uint32_t size = input_gate_buffer_size(g);
    ck_assert_uint_ge(size, TE_DEBLOAT_MIN_SIZE);
    ck_assert_uint_le(size, 5 * 4096 / 9);

    input_gate_free(g);
    record_writer_free(rw);
    result_partition_unref(rp);
    partition_manager_free(pm);
    network_buffer_pool_free(arena);
}
END_TEST

Suite *buffer_debloater_suite(void)
{
    Suite *s = suite_create("buffer_debloater");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_compute_bounds);
    tcase_add_test(tc, test_update_period_and_threshold);
    tcase_add_test(tc, test_writer_cuts_at_announced_size);
    tcase_add_test(tc, test_gate_counts_local_backlog);
    suite_add_tcase(s, tc);
    return s;
}
