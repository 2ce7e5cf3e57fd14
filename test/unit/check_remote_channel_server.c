/* Unit tests: the partition server and client of remote input channels against
 * scripted peers, over loopback in this process (the fixture of
 * harness_remote_channel.h): the real client against a producer that sends headers and
 * payloads split across many reads (payloads partly copied from the input buffer,
 * partly read straight into the buffer, events and EndOfPartition among them); the
 * server drops the queued payloads of a consumer that went away; it answers credit for
 * an unknown receiver with an ErrorResponse and closes on garbage, then serves a new
 * connection; with taskmanager.network.busy-poll the I/O thread still runs posted
 * closures in order and transfers arrive complete. Every test ends with the whole arena
 * back. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "harness_remote_channel.h"

/* ---- the real client against a scripted producer: payloads split across reads ---- */

#define BIG_SEG 16384u

typedef struct script {
    int lfd;
    const uint8_t *stream;
    const size_t *cuts; /* send [cuts[i-1], cuts[i]) as one write, pausing between */
    size_t n_cuts;
    int ok;
} script_t;

static uint8_t script_rid[TE_NET_ID_LEN];

/* Accepts, reads the PartitionRequest (its receiver id goes into the stream's frames:
 * the caller left them zero), then sends the stream in its pieces. */
static void *scripted_producer(void *arg)
{
    script_t *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    uint8_t req[49];
    te_net_msg_t m;
    size_t used;
    te_error_t e;
    if (read_exact(fd, req, sizeof(req)) != 0 || net_codec_decode(req, sizeof(req), 256, &m, &used, &e) != 1 ||
        m.id != TE_NET_PARTITION_REQUEST) {
        close(fd);
        return NULL;
    }
    memcpy(script_rid, m.receiver_id, TE_NET_ID_LEN);
    size_t total = s->cuts[s->n_cuts - 1];
    uint8_t *out = malloc(total);
    memcpy(out, s->stream, total);
    /* patch the receiver id into every frame */
    for (size_t off = 0; off < total;) {
        uint32_t fl =
            (uint32_t)out[off] << 24 | (uint32_t)out[off + 1] << 16 | (uint32_t)out[off + 2] << 8 | out[off + 3];
        memcpy(out + off + TE_NET_HEADER_LEN, m.receiver_id, TE_NET_ID_LEN);
        off += fl;
    }
    size_t at = 0;
    s->ok = 1;
    for (size_t i = 0; i < s->n_cuts && s->ok; i++) {
        if (write(fd, out + at, s->cuts[i] - at) != (ssize_t)(s->cuts[i] - at))
            s->ok = 0;
        at = s->cuts[i];
        usleep(15000); /* the client reads each piece on its own */
    }
    free(out);
    /* wait for the client to close (CloseRequest, then EOF) */
    uint8_t sink[256];
    while (read(fd, sink, sizeof(sink)) > 0)
        ;
    close(fd);
    return NULL;
}

static size_t put_buffer_frame(uint8_t *p, uint32_t seq, uint32_t backlog, int is_event, const uint8_t *payload,
                               uint32_t size)
{
    te_net_msg_t m;
    memset(&m, 0, sizeof(m));
    m.id = TE_NET_BUFFER_RESPONSE;
    m.sequence = seq;
    m.backlog = backlog;
    m.data_type = is_event ? TE_NET_EVENT_BUFFER : TE_NET_DATA_BUFFER;
    m.size = size;
    size_t n = net_codec_encode(&m, p, TE_NET_BUFFER_RESPONSE_FIXED);
    ck_assert_uint_eq(n, TE_NET_BUFFER_RESPONSE_FIXED);
    memcpy(p + n, payload, size);
    return n + size;
}

START_TEST(test_client_payloads_split_across_reads)
{
    /* Own arena, I/O thread and client: segments large enough for payloads read
     * straight from the socket. */
    te_error_t err;
    te_network_buffer_pool_t *big = network_buffer_pool_new(32 * BIG_SEG, BIG_SEG, &err);
    ck_assert_ptr_nonnull(big);
    te_net_io_thread_t *io2 = net_io_thread_new("test-io-2", &err);
    ck_assert_ptr_nonnull(io2);
    te_partition_client_t *cli = partition_client_new(&io2, 1, BIG_SEG, &err);
    ck_assert_ptr_nonnull(cli);
    ck_assert_int_eq(net_io_thread_start(io2, &err), TE_OK);

    /* Frames: data buffers of these sizes, a checkpoint barrier before data buffer 3,
     * EndOfPartition last. The first ones are read in chunks or, when large, straight
     * into their buffers; once the running average of payload sizes is large (from
     * data buffer 7 on) small payloads and partial headers take the direct path too. */
    enum { ND = 11 };
    static const uint32_t sizes[ND] = {12000,   300,     BIG_SEG, 5000,    BIG_SEG, BIG_SEG,
                                       BIG_SEG, BIG_SEG, 200,     BIG_SEG, 64};
    static uint8_t payload[ND][BIG_SEG];
    static uint8_t stream[(ND + 2) * (TE_NET_BUFFER_RESPONSE_FIXED + BIG_SEG)];
    size_t fo[ND + 2]; /* frame offsets: fo[k] data buffer k, fo[ND] the barrier, fo[ND + 1] the end */
    size_t n = 0;
    uint8_t ev[TE_EVENT_ENCODED_LEN];
    uint32_t seq = 0;
    for (int k = 0; k < ND; k++) {
        for (uint32_t i = 0; i < sizes[k]; i++)
            payload[k][i] = pattern(k + 1, (int)i);
        if (k == 3) {
            fo[ND] = n;
            task_event_encode(&(te_event_t){TE_EVENT_CHECKPOINT_BARRIER, 3, 99, 0}, ev);
            n += put_buffer_frame(stream + n, seq++, 1, 1, ev, TE_EVENT_ENCODED_LEN);
        }
        fo[k] = n;
        n += put_buffer_frame(stream + n, seq++, (uint32_t)(ND - 1 - k), 0, payload[k], sizes[k]);
    }
    task_event_encode(&(te_event_t){TE_EVENT_END_OF_PARTITION, 0, 0, 0}, ev);
    n += put_buffer_frame(stream + n, seq++, 0, 1, ev, TE_EVENT_ENCODED_LEN);
    fo[ND + 1] = n;
    const size_t H = TE_NET_BUFFER_RESPONSE_FIXED;
    const size_t cuts[] = {
        5,                /* a header split */
        fo[0] + H + 100,  /* the rest of it with 100 payload bytes (copied) */
        fo[0] + H + 4100, /* payload straight into the buffer, in two reads */
        fo[1] - 10,       /* ... up to 10 bytes before its end */
        fo[2] + 20,       /* those 10 (copied), all of frame 1, 20 header bytes */
        fo[2] + H,        /* the rest of frame 2's header */
        fo[ND] + H + 10,  /* frame 2's payload, the barrier's header + 10 */
        fo[3] + 2000,     /* the barrier's rest, frame 3's header and payload in pieces */
        fo[3] + H + 3000,
        fo[8] + H + 50,   /* frames 3..7, frame 8's header and 50 of its 200 bytes */
        fo[9] + 10,       /* its last 150 bytes and 10 header bytes of frame 9 */
        fo[9] + H + 8000, /* the rest of that header, half a payload */
        fo[ND + 1],       /* the rest, frame 10 (64 bytes), EndOfPartition */
    };
    ck_assert_uint_eq(fo[3], fo[ND] + H + TE_EVENT_ENCODED_LEN);
    for (size_t i = 1; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        ck_assert_uint_lt(cuts[i - 1], cuts[i]);

    int port;
    int lfd = listen_any(&port);
    script_t s = {lfd, stream, cuts, sizeof(cuts) / sizeof(cuts[0]), 0};
    pthread_t th;
    pthread_create(&th, NULL, scripted_producer, &s);
    char peer[64];
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
    te_id_t pid;
    te_id_random(&pid);
    consumer_t c;
    consumer_open_on(&c, big, cli, peer, &pid, 16, 100, 1000);

    int got_buffers = 0, got_barrier = 0;
    te_gate_result_t r = TE_GATE_NOTHING;
    int64_t deadline = te_clock_mono_ms() + 20000;
    while (te_clock_mono_ms() < deadline) {
        te_gate_element_t el;
        r = input_gate_poll_next(c.gate, &el);
        if (r == TE_GATE_END || r == TE_GATE_ERROR)
            break;
        if (r == TE_GATE_BUFFER) {
            ck_assert_int_lt(got_buffers, ND);
            ck_assert_uint_eq(el.slice.len, sizes[got_buffers]);
            ck_assert_msg(memcmp(el.slice.buf->data + el.slice.offset, payload[got_buffers], el.slice.len) == 0,
                          "buffer %d arrived corrupted", got_buffers);
            ck_assert_int_eq(got_barrier, got_buffers >= 3);
            got_buffers++;
            buffer_recycle(el.slice.buf);
        } else if (r == TE_GATE_EVENT) {
            ck_assert_int_eq(el.event.type, TE_EVENT_CHECKPOINT_BARRIER);
            ck_assert_uint_eq(el.event.checkpoint_id, 3);
            ck_assert_int_eq(got_buffers, 3);
            got_barrier = 1;
        } else {
            wait_wake();
        }
    }
    ck_assert_msg(r == TE_GATE_END, "gate ended with %d: %s", r, input_gate_failure(c.gate));
    ck_assert_int_eq(got_buffers, ND);
    uint64_t direct, copied, total = 2 * TE_EVENT_ENCODED_LEN;
    for (int k = 0; k < ND; k++)
        total += sizes[k];
    partition_client_payload_bytes(cli, &direct, &copied);
    ck_assert_uint_eq(direct + copied, total);
    /* Unloaded, at least frame 0 from byte 100 to 10 before its end, frame 2, frame 8's
     * last 150 bytes and frame 9 arrive straight into buffers; how the kernel splits and
     * joins the writes varies with load (a sanitizer build on a busy host saw 28 kB), so
     * the bound is one large frame's worth: a reader that copied everything
     * stays at 0. */
    ck_assert_msg(direct >= BIG_SEG, "only %llu payload bytes were read straight into buffers",
                  (unsigned long long)direct);
    ck_assert_uint_ge(copied, 100 + 10 + 300 + 50);

    consumer_close(&c);
    pthread_join(th, NULL);
    ck_assert(s.ok);
    close(lfd);
    net_io_thread_stop(io2);
    partition_client_free(cli);
    net_io_thread_free(io2);
    ck_assert_uint_eq(network_buffer_pool_available_segments(big), network_buffer_pool_total_segments(big));
    network_buffer_pool_free(big);
}
END_TEST

/* ---- the server against raw bytes ---- */

/* A consumer that vanishes (connection reset) while the server's output holds payloads
 * it has not written: the server drops them and every segment returns to its pool. */
typedef struct big_producer {
    te_result_partition_t *rp;
    _Atomic int produced;
} big_producer_t;

static void *produce_until_released(void *arg)
{
    big_producer_t *p = arg;
    te_local_buffer_pool_t *lp = result_partition_pool(p->rp);
    for (int k = 0; k < 400; k++) {
        te_buffer_t *b = local_buffer_pool_request_blocking(lp);
        if (b == NULL)
            break; /* released */
        memset(b->data, k, b->capacity);
        atomic_store(&b->committed, b->capacity);
        atomic_store(&b->finished, 1);
        result_partition_add_buffer(p->rp, 0, b);
        result_partition_buffer_finished(p->rp, 0);
        p->produced++;
    }
    return NULL;
}

START_TEST(test_server_drops_queued_payloads_of_a_lost_consumer)
{
    te_error_t err;
    te_network_buffer_pool_t *big = network_buffer_pool_new(64 * BIG_SEG, BIG_SEG, &err);
    ck_assert_ptr_nonnull(big);
    te_id_t pid;
    big_producer_t p = {harness_new_rp(big, 1, 2, 48, &pid), 0};
    ck_assert_int_eq(partition_manager_register(pm, p.rp, &err), TE_OK);
    pthread_t th;
    pthread_create(&th, NULL, produce_until_released, &p);

    /* a consumer with a tiny receive window that asks for everything, reads nothing */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)partition_server_port(server));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    uint8_t out[64], rid[16];
    memset(rid, 0x77, sizeof(rid));
    te_net_msg_t m;
    net_msg_partition_request(&m, pid.b, 0, rid, 1000);
    size_t n = net_codec_encode(&m, out, sizeof(out));
    ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
    int64_t deadline = te_clock_mono_ms() + 5000;
    while (atomic_load(&p.produced) < 40 && te_clock_mono_ms() < deadline)
        usleep(10000);
    ck_assert_int_ge(atomic_load(&p.produced), 40); /* far more than the socket holds: the rest is queued */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd); /* reset */

    usleep(100000);
    partition_manager_unregister(pm, &pid);
    result_partition_release(p.rp, "test over");
    pthread_join(th, NULL);
    result_partition_unref(p.rp);
    deadline = te_clock_mono_ms() + 5000;
    while (network_buffer_pool_available_segments(big) != network_buffer_pool_total_segments(big) &&
           te_clock_mono_ms() < deadline)
        usleep(10000);
    ck_assert_uint_eq(network_buffer_pool_available_segments(big), network_buffer_pool_total_segments(big));
    /* The count is a relaxed atomic the I/O thread stores before it leaves the arena's
     * mutex: taking that mutex (unreserved_segments does) waits until it left. */
    (void)network_buffer_pool_unreserved_segments(big);
    network_buffer_pool_free(big);
    run_transfer(10, 1, 0); /* the server still serves */
}
END_TEST

static int connect_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)partition_server_port(server));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Reads one frame; returns its decoded message (payload copied to msgbuf) or -1/0 at EOF. */
static int read_frame(int fd, te_net_msg_t *m, char *msgbuf, size_t cap)
{
    uint8_t buf[2048];
    size_t have = 0;
    for (;;) {
        size_t used;
        te_error_t e;
        int r = net_codec_decode(buf, have, sizeof(buf), m, &used, &e);
        if (r == 1) {
            size_t n = m->size < cap - 1 ? m->size : cap - 1;
            memcpy(msgbuf, m->payload, n);
            msgbuf[n] = '\0';
            return 1;
        }
        if (r < 0)
            return -1;
        ssize_t k = read(fd, buf + have, sizeof(buf) - have);
        if (k <= 0)
            return 0;
        have += (size_t)k;
    }
}

START_TEST(test_server_bad_frames)
{
    /* credit for a receiver the server does not know: an ErrorResponse, still open */
    int fd = connect_server();
    uint8_t out[64], rid[16];
    memset(rid, 0x42, sizeof(rid));
    te_net_msg_t m;
    net_msg_receiver(&m, TE_NET_ADD_CREDIT, rid, 3);
    size_t n = net_codec_encode(&m, out, sizeof(out));
    ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
    char msg[1100];
    ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(m.id, TE_NET_ERROR_RESPONSE);
    ck_assert_uint_eq(m.error_code, TE_NET_ERR_UNKNOWN_RECEIVER);
    ck_assert_ptr_nonnull(strstr(msg, "unknown receiver"));
    /* a PartitionRequest for an unknown partition: PartitionNotFound */
    uint8_t pid[16];
    memset(pid, 0x17, sizeof(pid));
    net_msg_partition_request(&m, pid, 0, rid, 2);
    n = net_codec_encode(&m, out, sizeof(out));
    ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
    ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(m.error_code, TE_NET_ERR_PARTITION_NOT_FOUND);
    /* garbage: a protocol ErrorResponse, then the server closes */
    ck_assert_int_eq(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
    ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 1);
    ck_assert_uint_eq(m.error_code, TE_NET_ERR_PROTOCOL);
    ck_assert_ptr_nonnull(strstr(msg, "magic"));
    ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 0);
    close(fd);
    /* unknown id, oversized length */
    uint8_t bad[2][9] = {{0, 0, 0, 9, 0xBA, 0xDC, 0x0F, 0xFE, 3}, {0x10, 0, 0, 0, 0xBA, 0xDC, 0x0F, 0xFE, 2}};
    for (int k = 0; k < 2; k++) {
        fd = connect_server();
        ck_assert_int_eq(write(fd, bad[k], 9), 9);
        ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 1);
        ck_assert_uint_eq(m.error_code, TE_NET_ERR_PROTOCOL);
        ck_assert_int_eq(read_frame(fd, &m, msg, sizeof(msg)), 0);
        close(fd);
    }
    /* the server still serves */
    run_transfer(10, 1, 0);
}
END_TEST

START_TEST(test_server_rejects_bad_credit)
{
    /* A registered partition with a live reader; then AddCredit of 0 and of a value
     * negative as a signed 32-bit int: each a protocol ErrorResponse, then closed. */
    te_error_t err;
    te_id_t pid;
    te_result_partition_t *rp = harness_new_rp(arena, 1, 2, 4, &pid);
    ck_assert_int_eq(partition_manager_register(pm, rp, &err), TE_OK);
    const uint32_t bad[] = {0, 0x80000000u, 0xFFFFFFFFu};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        int fd = connect_server();
        uint8_t out[128], rid[16];
        memset(rid, 0x30 + (int)k, sizeof(rid));
        te_net_msg_t m;
        net_msg_partition_request(&m, pid.b, 0, rid, 1);
        size_t n = net_codec_encode(&m, out, sizeof(out));
        net_msg_receiver(&m, TE_NET_ADD_CREDIT, rid, bad[k]);
        n += net_codec_encode(&m, out + n, sizeof(out) - n);
        ck_assert_int_eq(write(fd, out, n), (ssize_t)n);
        char msg[1100];
        int got_protocol = 0;
        while (read_frame(fd, &m, msg, sizeof(msg)) == 1)
            if (m.id == TE_NET_ERROR_RESPONSE && m.error_code == TE_NET_ERR_PROTOCOL) {
                ck_assert_msg(strstr(msg, "invalid credit") != NULL, "%s", msg);
                got_protocol = 1;
            }
        ck_assert_msg(got_protocol, "credit %u was not refused", bad[k]);
        close(fd);
    }
    partition_manager_unregister(pm, &pid);
    result_partition_release(rp, "test over");
    result_partition_unref(rp);
    run_transfer(10, 1, 0); /* the server still serves */
}
END_TEST

/* taskmanager.network.busy-poll: the I/O thread serving both ends polls instead of
 * sleeping; closures posted while it spins (no event_active) must still run, in
 * order, and the transfers arrive complete. */
static void setup_busy_poll(void)
{
    g_busy_poll_ns = 200000;
    setup();
}

static void teardown_busy_poll(void)
{
    teardown();
    g_busy_poll_ns = 0;
}

static _Atomic int g_posted_seen;
static void posted_fn(void *arg)
{
    int want = (int)(intptr_t)arg;
    if (atomic_load(&g_posted_seen) == want) /* in submission order */
        atomic_store(&g_posted_seen, want + 1);
}

START_TEST(test_busy_poll_transfers_and_closures)
{
    run_transfer(200, 4, 0);
    run_transfer(50, 0, 0);
    atomic_store(&g_posted_seen, 0);
    te_net_work_t nodes[64];
    for (int i = 0; i < 1000; i++) {
        if (i % 2 == 0) {
            while (i >= 64 && atomic_load(&g_posted_seen) <= i - 64)
                usleep(10); /* node i % 64 is free once closure i - 64 ran */
            nodes[i % 64] = (te_net_work_t){.fn = posted_fn, .arg = (void *)(intptr_t)i};
            ck_assert_int_eq(net_io_thread_post(io, &nodes[i % 64]), 0);
        } else {
            ck_assert_int_eq(net_io_thread_submit(io, posted_fn, (void *)(intptr_t)i), 0);
        }
        if (i % 100 == 99)
            usleep(500); /* let the thread go back to sleep now and then */
    }
    while (atomic_load(&g_posted_seen) < 1000)
        usleep(100);
    ck_assert_int_eq(atomic_load(&g_posted_seen), 1000);
}
END_TEST

Suite *remote_channel_server_suite(void)
{
    Suite *s = suite_create("remote_channel_server");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_server_rejects_bad_credit);
    tcase_add_test(tc, test_client_payloads_split_across_reads);
    tcase_add_test(tc, test_server_bad_frames);
    tcase_add_test(tc, test_server_drops_queued_payloads_of_a_lost_consumer);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("busy_poll");
    tcase_set_timeout(tb, 60);
    tcase_add_checked_fixture(tb, setup_busy_poll, teardown_busy_poll);
    tcase_add_test(tb, test_busy_poll_transfers_and_closures);
    suite_add_tcase(s, tb);
    return s;
}
