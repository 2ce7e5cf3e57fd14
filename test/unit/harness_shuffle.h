/*
 * harness_shuffle — shuffle fixtures several unit suites share:
 *   - harness_new_rp: a result partition with its own buffer pool from an arena;
 *   - harness_fake_transport: a network transport that sends nothing (requests succeed,
 *     credit and release are dropped), for remote channels driven directly;
 *   - harness_fake_channel: a gate of one remote channel on it, partitions requested
 *     (`bpc` exclusive buffers, `floating` more on backlog, the gate's poll hook set).
 * Header-only (static inline functions, one copy per test file).
 *
 * Threading: the test's thread only.
 */
#ifndef TE_TEST_HARNESS_SHUFFLE_H
#define TE_TEST_HARNESS_SHUFFLE_H

#include <check.h>

#include "common/ids.h"
#include "shuffle/input_gate.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/remote_input_channel.h"
#include "shuffle/result_partition.h"

/* nsub subpartitions, a pool of min..max buffers; *id (when not NULL) gets its random id. */
static inline te_result_partition_t *harness_new_rp(te_network_buffer_pool_t *arena, uint32_t nsub, uint32_t min,
                                                    uint32_t max, te_id_t *id)
{
    te_error_t err;
    te_id_t own;
    if (id == NULL)
        id = &own;
    te_id_random(id);
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(arena, "producer", min, max, &err);
    ck_assert_msg(lp != NULL, "%s", err.msg);
    te_result_partition_t *rp = result_partition_new(id, "producer", nsub, lp, &err);
    ck_assert_msg(rp != NULL, "%s", err.msg);
    return rp;
}

static inline te_status_t harness_fake_request(void *ctx, te_remote_input_channel_t *ch, te_error_t *err)
{
    (void)ctx;
    (void)ch;
    (void)err;
    return TE_OK;
}

static inline void harness_fake_drop(void *ctx, te_remote_input_channel_t *ch)
{
    (void)ctx;
    (void)ch;
}

static inline const te_channel_transport_t *harness_fake_transport(void)
{
    static const te_channel_transport_t tr = {
        harness_fake_request, harness_fake_drop, harness_fake_drop, NULL, NULL, NULL};
    return &tr;
}

static inline te_remote_input_channel_t *harness_fake_channel(te_network_buffer_pool_t *arena, uint32_t bpc,
                                                              uint32_t floating, te_input_gate_t **g,
                                                              te_remote_buffers_t **rb)
{
    te_error_t err;
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(arena, "consumer", bpc, bpc + floating, &err);
    ck_assert_msg(lp != NULL, "%s", err.msg);
    *g = input_gate_new("consumer", 0, 1, lp, &err);
    ck_assert_ptr_nonnull(*g);
    *rb = remote_buffers_new(lp, bpc);
    ck_assert_ptr_nonnull(*rb);
    input_gate_set_poll_hook(*g, (te_notifier_t){remote_buffers_poll_hook, *rb});
    te_id_t pid;
    te_id_random(&pid);
    te_remote_input_channel_t *ch =
        remote_input_channel_new(*g, 0, *rb, harness_fake_transport(), "10.0.0.9:6121", &pid, 0, 100, 1000, &err);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(input_gate_set_channel(*g, 0, &remote_input_channel_ops, ch, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(*g, 1000, &err), TE_OK);
    return ch;
}

#endif
