/*
 * fuzz_partition_server — libFuzzer harness for the live data port: a real
 * partition_server over a real partition manager holding one result partition
 * (2 subpartitions, a few records each, registered afresh for every input under a
 * fixed id so inputs can request it), its I/O thread's event loop run by the harness
 * thread (the thread is never started: everything is on one thread, deterministic).
 * Every input is a byte stream a consumer sends on a fresh loopback connection.
 *
 * Input: byte 0 chooses the mode (mod 3): 0 no authentication; 1 authentication on,
 * the rest is the raw handshake; 2 authentication on, the harness answers the
 * challenge and the rest are NETWORK.md frames (PartitionRequest, AddCredit, ...).
 * The partition id is 16 bytes of 0x42 (test/fuzz/corpus/partition_server has
 * requests for it).
 *
 * Threading: single-threaded (the harness drives the I/O thread's base).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tls.h"
#include "fuzz_live.h"
#include "net/partition_server.h"
#include "runtime/stream_element.h"
#include "shuffle/channel_selector.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_writer.h"
#include "shuffle/result_partition.h"
#include "te/operator.h"

static te_net_io_thread_t *g_io;
static te_partition_server_t *g_srv;
static te_partition_manager_t *g_pm;
static te_network_buffer_pool_t *g_pool;
static te_security_t g_sec;
static te_auth_secret_t *g_secret;

static void setup_once(void)
{
    te_error_t err;
    te_log_set_level(TE_LOG_OFF);
    static const char token[] = "fuzz-token-0123456789abcdef";
    g_secret = auth_secret_new(token, strlen(token));
    g_sec.auth = g_secret;
    g_pool = network_buffer_pool_new(256 * 1024, 4096, &err);
    g_pm = partition_manager_new();
    g_io = net_io_thread_new("fuzz", &err);
    if (g_pool == NULL || g_pm == NULL || g_io == NULL)
        abort();
    g_srv = partition_server_new(&g_io, 1, "127.0.0.1", 0, g_pm, &err);
    if (g_srv == NULL)
        abort();
    partition_server_set_limits(g_srv, 64, 10000);
}

/* Registers the partition the inputs may request, with records in both subpartitions. */
static te_result_partition_t *partition_up(te_id_t *id)
{
    te_error_t err;
    memset(id, 0x42, sizeof(*id));
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(g_pool, "fuzz", 3, 8, &err);
    te_result_partition_t *rp = lp ? result_partition_new(id, "fuzz", 2, lp, &err) : NULL;
    if (rp == NULL || partition_manager_register(g_pm, rp, &err) != TE_OK)
        abort();
    te_channel_selector_t *sel = channel_selector_new(TE__PARTITIONER__BROADCAST, 2, 0, -1, 0, 0, &err);
    te_record_writer_t *rw = record_writer_new(rp, sel, 0, &err);
    if (rw == NULL)
        abort();
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hl = stream_element_record_header(hdr, TE_NO_TIMESTAMP);
    for (int i = 0; i < 5; i++)
        record_writer_broadcast_emit(rw, hdr, hl, (const uint8_t *)"fuzz", 4);
    record_writer_flush_all(rw);
    record_writer_free(rw);
    return rp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_srv == NULL)
        setup_once();
    if (size < 1)
        return 0;
    int mode = data[0] % 3;
    te_id_t id;
    te_result_partition_t *rp = partition_up(&id);
    partition_server_set_security(g_srv, mode == 0 ? NULL : &g_sec);
    struct event_base *b = net_io_thread_base(g_io);
    fuzz_session(b, partition_server_port(g_srv), mode == 2 ? g_secret : NULL, data + 1, size - 1);
    partition_manager_unregister(g_pm, &id);
    result_partition_release(rp, "fuzz input done");
    fuzz_pump(b, 4); /* views released, buffers recycled */
    result_partition_unref(rp);
    return 0;
}
