/* Unit tests: remote input channels against a real partition server and client in
 * this process, over a loopback TCP connection on one net I/O thread. Checks: every
 * byte of a producer's buffers arrives in order through credit-based flow control
 * with 1 exclusive buffer and few floating ones (the producer blocks on its pool
 * meanwhile); a PartitionRequest sent before the producer registers is retried with
 * backoff and then served; a partition that never appears fails the gate with
 * PartitionNotFound naming the producer address; a peer that drops the connection fails
 * the channel naming host:port; a sequence gap and data without credit fail the channel
 * (driven directly); the server answers credit for an unknown receiver with an
 * ErrorResponse and closes on garbage, then serves a new connection. Receiving into the
 * channel's buffer: reserve / fill in pieces / commit, a release or a second reservation
 * while a buffer is reserved, an abort; and the real client against a scripted
 * producer that sends headers and payloads split across many reads (payloads partly
 * copied from the input buffer, partly read straight into the buffer, events and
 * EndOfPartition among them). Every test ends with the whole arena back. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/tcp.h>

#include "common/clock.h"
#include "net/net_codec.h"
#include "net/net_io_thread.h"
#include "net/partition_client.h"
#include "net/partition_server.h"
#include "shuffle/buffer.h"
#include "shuffle/task_event.h"
#include "shuffle/input_gate.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/partition_manager.h"
#include "shuffle/remote_input_channel.h"
#include "shuffle/result_partition.h"

#include "harness_shuffle.h"

#define SEG 1024

static te_network_buffer_pool_t *arena;
static te_partition_manager_t *pm;
static te_net_io_thread_t *io;
static te_partition_server_t *server;
static te_partition_client_t *client;
static char address[64];
static int64_t g_busy_poll_ns; /* the busy_poll case's fixture sets it */

static void setup(void)
{
    te_error_t err;
    arena = network_buffer_pool_new(128 * SEG, SEG, &err);
    ck_assert_ptr_nonnull(arena);
    pm = partition_manager_new();
    io = net_io_thread_new("test-io", &err);
    ck_assert_ptr_nonnull(io);
    net_io_thread_set_busy_poll(io, g_busy_poll_ns);
    server = partition_server_new(&io, 1, "127.0.0.1", 0, pm, &err);
    ck_assert_msg(server != NULL, "%s", err.msg);
    client = partition_client_new(&io, 1, SEG, &err);
    ck_assert_ptr_nonnull(client);
    ck_assert_int_eq(net_io_thread_start(io, &err), TE_OK);
    snprintf(address, sizeof(address), "127.0.0.1:%d", partition_server_port(server));
}

static void teardown(void)
{
    net_io_thread_stop(io);
    partition_server_free(server);
    partition_client_free(client);
    net_io_thread_free(io);
    partition_manager_free(pm);
    ck_assert_uint_eq(network_buffer_pool_available_segments(arena), network_buffer_pool_total_segments(arena));
    network_buffer_pool_free(arena);
}

/* ---- the consumer side: a gate of remote channels polled until END / ERROR ---- */

static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcv = PTHREAD_COND_INITIALIZER;
static int wflag;
static void wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wmu);
    wflag = 1;
    pthread_cond_signal(&wcv);
    pthread_mutex_unlock(&wmu);
}
static void wait_wake(void)
{
    pthread_mutex_lock(&wmu);
    if (!wflag) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wcv, &wmu, &ts);
    }
    wflag = 0;
    pthread_mutex_unlock(&wmu);
}

typedef struct consumer {
    te_input_gate_t *gate;
    te_remote_buffers_t *rb;
} consumer_t;

static void consumer_open_on(consumer_t *c, te_network_buffer_pool_t *from, te_partition_client_t *cli,
                             const char *addr, const te_id_t *pid, uint32_t floating, int64_t b0, int64_t bmax)
{
    te_error_t err;
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(from, "consumer", 1, 1 + floating, &err);
    ck_assert_ptr_nonnull(lp);
    c->gate = input_gate_new("consumer", 0, 1, lp, &err);
    ck_assert_ptr_nonnull(c->gate);
    c->rb = remote_buffers_new(lp, 1);
    input_gate_set_poll_hook(c->gate, (te_notifier_t){remote_buffers_poll_hook, c->rb});
    input_gate_set_listener(c->gate, (te_notifier_t){wake, NULL});
    te_remote_input_channel_t *ch =
        remote_input_channel_new(c->gate, 0, c->rb, partition_client_transport(cli), addr, pid, 0, b0, bmax, &err);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(input_gate_set_channel(c->gate, 0, &remote_input_channel_ops, ch, &err), TE_OK);
    ck_assert_int_eq(input_gate_request_partitions(c->gate, 10000, &err), TE_OK);
}

static void consumer_open(consumer_t *c, const char *addr, const te_id_t *pid, uint32_t floating, int64_t b0,
                          int64_t bmax)
{
    consumer_open_on(c, arena, client, addr, pid, floating, b0, bmax);
}

static void consumer_close(consumer_t *c)
{
    input_gate_free(c->gate);
    remote_buffers_free(c->rb);
}

/* Polls until END or ERROR (or 20 s); appends data to out. Returns the last result. */
static te_gate_result_t consume(consumer_t *c, uint8_t *out, size_t cap, size_t *len)
{
    int64_t deadline = te_clock_mono_ms() + 20000;
    *len = 0;
    while (te_clock_mono_ms() < deadline) {
        te_gate_element_t el;
        te_gate_result_t r = input_gate_poll_next(c->gate, &el);
        if (r == TE_GATE_END || r == TE_GATE_ERROR)
            return r;
        if (r == TE_GATE_BUFFER) {
            ck_assert_uint_le(*len + el.slice.len, cap);
            memcpy(out + *len, el.slice.buf->data + el.slice.offset, el.slice.len);
            *len += el.slice.len;
            buffer_recycle(el.slice.buf);
            continue;
        }
        if (r == TE_GATE_NOTHING)
            wait_wake();
    }
    return TE_GATE_NOTHING;
}

/* ---- the producer side ---- */

typedef struct producer {
    te_result_partition_t *rp;
    te_id_t pid;
    int n_buffers;
    int64_t delay_register_ms;
} producer_t;

static uint8_t pattern(int buf, int i) { return (uint8_t)(buf * 31 + i * 7); }

static void *produce(void *arg)
{
    producer_t *p = arg;
    if (p->delay_register_ms > 0)
        usleep((useconds_t)p->delay_register_ms * 1000);
    te_error_t err;
    ck_assert_int_eq(partition_manager_register(pm, p->rp, &err), TE_OK);
    te_local_buffer_pool_t *lp = result_partition_pool(p->rp);
    for (int b = 0; b < p->n_buffers; b++) {
        te_buffer_t *buf = local_buffer_pool_request_blocking(lp);
        ck_assert_ptr_nonnull(buf);
        uint32_t n = 100 + (uint32_t)(b % 7) * 100; /* 100 .. 700 bytes */
        for (uint32_t i = 0; i < n; i++)
            buf->data[i] = pattern(b, (int)i);
        atomic_store(&buf->committed, n);
        atomic_store(&buf->finished, 1);
        result_partition_add_buffer(p->rp, 0, buf);
        result_partition_buffer_finished(p->rp, 0);
    }
    ck_assert_int_eq(result_partition_finish(p->rp), TE_OK);
    return NULL;
}

static void producer_init(producer_t *p, int n_buffers)
{
    p->rp = harness_new_rp(arena, 1, 2, 4, &p->pid);
    p->n_buffers = n_buffers;
    p->delay_register_ms = 0;
}

static size_t expected(int n_buffers, uint8_t *out)
{
    size_t len = 0;
    for (int b = 0; b < n_buffers; b++) {
        uint32_t n = 100 + (uint32_t)(b % 7) * 100;
        for (uint32_t i = 0; i < n; i++)
            out[len++] = pattern(b, (int)i);
    }
    return len;
}

static void run_transfer(int n_buffers, uint32_t floating, int64_t delay_ms)
{
    static uint8_t got[1 << 20], want[1 << 20];
    producer_t p;
    producer_init(&p, n_buffers);
    p.delay_register_ms = delay_ms;
    consumer_t c;
    consumer_open(&c, address, &p.pid, floating, 20, 2000);
    pthread_t th;
    pthread_create(&th, NULL, produce, &p);
    size_t len;
    te_gate_result_t r = consume(&c, got, sizeof(got), &len);
    ck_assert_msg(r == TE_GATE_END, "gate ended with %d: %s", r, input_gate_failure(c.gate));
    pthread_join(th, NULL);
    size_t wlen = expected(n_buffers, want);
    ck_assert_uint_eq(len, wlen);
    ck_assert(memcmp(got, want, len) == 0);
    consumer_close(&c);
    partition_manager_unregister(pm, &p.pid);
    result_partition_unref(p.rp);
}

START_TEST(test_transfer_exclusive_only) { run_transfer(300, 0, 0); }
END_TEST

START_TEST(test_transfer_with_floating) { run_transfer(300, 4, 0); }
END_TEST

START_TEST(test_partition_not_found_then_registered) { run_transfer(20, 2, 150); }
END_TEST

START_TEST(test_partition_never_registered)
{
    te_id_t pid;
    te_id_random(&pid);
    consumer_t c;
    consumer_open(&c, address, &pid, 2, 5, 20);
    uint8_t got[16];
    size_t len;
    ck_assert_int_eq(consume(&c, got, sizeof(got), &len), TE_GATE_ERROR);
    const char *f = input_gate_failure(c.gate);
    ck_assert_msg(strstr(f, "PartitionNotFound") && strstr(f, address), "%s", f);
    consumer_close(&c);
}
END_TEST

/* A peer that accepts and closes at once. */
static void *accept_and_close(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
        usleep(20000);
        close(fd);
    }
    return NULL;
}

static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    listen(fd, 4);
    socklen_t l = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &l);
    *port = ntohs(sa.sin_port);
    return fd;
}

START_TEST(test_connection_lost_names_peer)
{
    int port;
    int lfd = listen_any(&port);
    pthread_t th;
    pthread_create(&th, NULL, accept_and_close, &lfd);
    char peer[64];
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
    te_id_t pid;
    te_id_random(&pid);
    consumer_t c;
    consumer_open(&c, peer, &pid, 2, 100, 1000);
    uint8_t got[16];
    size_t len;
    ck_assert_int_eq(consume(&c, got, sizeof(got), &len), TE_GATE_ERROR);
    const char *f = input_gate_failure(c.gate);
    ck_assert_msg(strstr(f, peer) && strstr(f, "partition "), "%s", f);
    pthread_join(th, NULL);
    close(lfd);
    consumer_close(&c);
}
END_TEST

/* ---- channel protocol checks without a network ---- */

static void copy_bytes(void *arg, uint8_t *dst, uint32_t size) { memcpy(dst, arg, size); }

START_TEST(test_sequence_gap_and_no_credit)
{
    te_error_t err;
    for (int k = 0; k < 2; k++) {
        te_input_gate_t *g;
        te_remote_buffers_t *rb;
        te_remote_input_channel_t *ch = harness_fake_channel(arena, 1, 0, &g, &rb);
        ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1); /* one exclusive buffer */
        uint8_t data[10] = "0123456789";
        ck_assert_int_eq(remote_input_channel_on_buffer(ch, 0, 0, 0, 10, copy_bytes, data, &err), TE_OK);
        if (k == 0) {
            /* sequence 2 after 0: a gap */
            ck_assert_int_ne(remote_input_channel_on_buffer(ch, 2, 0, 1, 17, copy_bytes, data, &err), TE_OK);
            ck_assert_ptr_nonnull(strstr(err.msg, "expected sequence number 1, got 2"));
        } else {
            /* the only buffer is in use: a second data buffer came without credit */
            ck_assert_int_ne(remote_input_channel_on_buffer(ch, 1, 0, 0, 10, copy_bytes, data, &err), TE_OK);
            ck_assert_ptr_nonnull(strstr(err.msg, "without credit"));
        }
        te_gate_element_t el;
        ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_ERROR);
        ck_assert_ptr_nonnull(strstr(input_gate_failure(g), "10.0.0.9:6121"));
        input_gate_free(g);
        remote_buffers_free(rb);
    }
}
END_TEST

/* Floating-only (exclusive 0): no initial credit, credit on backlog from the gate's
 * one buffer; at an aligned barrier the unused buffer goes back and nothing is
 * credited until the gate resumes the channel (the poll after the barrier, the task
 * not blocking it); data from a producer that ignored the floating flag fails the
 * channel naming that. */
START_TEST(test_floating_only_credit_and_barrier)
{
    te_error_t err;
    te_input_gate_t *g;
    te_remote_buffers_t *rb;
    te_remote_input_channel_t *ch = harness_fake_channel(arena, 0, 1, &g, &rb);
    ck_assert_int_eq(remote_input_channel_is_floating(ch), 1);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 0);
    remote_input_channel_on_backlog(ch, 3);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1); /* the gate's one buffer */
    uint8_t data[10] = "0123456789";
    ck_assert_int_eq(remote_input_channel_on_buffer(ch, 0, 2, 0, 10, copy_bytes, data, &err), TE_OK);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 0); /* the pool is dry */
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING); /* the hook hands it back */
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1);
    /* the aligned barrier: the credited buffer goes back to the pool */
    uint8_t ev[TE_EVENT_ENCODED_LEN];
    task_event_encode(&(te_event_t){TE_EVENT_CHECKPOINT_BARRIER, 5, 99, 0}, ev);
    ck_assert_int_eq(remote_input_channel_on_buffer(ch, 1, 2, 1, TE_EVENT_ENCODED_LEN, copy_bytes, ev, &err),
                     TE_OK);
    ck_assert(input_gate_pool_usage(g) == 0.0);
    remote_input_channel_on_backlog(ch, 4); /* crossed the barrier: void */
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 0);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_EVENT);
    ck_assert_int_eq(el.event.type, TE_EVENT_CHECKPOINT_BARRIER);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 0);
    /* the task did not block the channel: the next poll resumes it */
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING);
    remote_input_channel_on_backlog(ch, 1);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1);
    ck_assert_int_eq(remote_input_channel_on_buffer(ch, 2, 0, 0, 10, copy_bytes, data, &err), TE_OK);
    /* a second data buffer without credit: an old producer ignoring the floating flag */
    ck_assert_int_ne(remote_input_channel_on_buffer(ch, 3, 0, 0, 10, copy_bytes, data, &err), TE_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "floating-only channel"));
    input_gate_free(g);
    remote_buffers_free(rb);
}
END_TEST

/* EndOfPartition gives the credit the producer did not use back to the gate: an ended
 * floating-only channel holding the gate's last buffers would starve the others. */
START_TEST(test_end_of_partition_returns_unused_credit)
{
    te_error_t err;
    te_input_gate_t *g;
    te_remote_buffers_t *rb;
    te_remote_input_channel_t *ch = harness_fake_channel(arena, 0, 2, &g, &rb);
    remote_input_channel_on_backlog(ch, 2);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 2);
    uint8_t data[10] = "0123456789";
    ck_assert_int_eq(remote_input_channel_on_buffer(ch, 0, 0, 0, 10, copy_bytes, data, &err), TE_OK);
    te_gate_buffer_stats_t st;
    remote_buffers_stats(rb, &st);
    ck_assert_uint_eq(st.floating_in_use, 2); /* one queued, one credited */
    uint8_t ev[TE_EVENT_ENCODED_LEN];
    task_event_encode(&(te_event_t){TE_EVENT_END_OF_PARTITION, 0, 0, 0}, ev);
    ck_assert_int_eq(remote_input_channel_on_buffer(ch, 1, 0, 1, TE_EVENT_ENCODED_LEN, copy_bytes, ev, &err),
                     TE_OK);
    remote_buffers_stats(rb, &st);
    ck_assert_uint_eq(st.floating_in_use, 1); /* the queued one only */
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    buffer_recycle(el.slice.buf);
    remote_buffers_stats(rb, &st);
    ck_assert_uint_eq(st.floating_in_use, 0);
    input_gate_free(g);
    remote_buffers_free(rb);
}
END_TEST

/* ---- receiving into the channel's buffer (reserve / commit), driven directly ---- */

/* A gate of one remote channel on the fake transport, requested (one exclusive buffer,
 * `floating` more on backlog). */
static te_remote_input_channel_t *fake_channel(te_input_gate_t **g, te_remote_buffers_t **rb, uint32_t floating)
{
    return harness_fake_channel(arena, 1, floating, g, rb);
}

/* The gate's listener wakes the task, which polls the channel at once: it must not
 * find the channel locked by the thread that committed (here the same thread: a
 * listener called under the channel's mutex would deadlock). */
static te_remote_input_channel_t *listened;
static int listener_calls;
static void listener_polls(void *arg)
{
    (void)arg;
    listener_calls++;
    (void)remote_input_channel_is_done(listened); /* takes the channel's mutex */
}

START_TEST(test_reserve_fill_in_pieces_commit)
{
    te_error_t err;
    te_input_gate_t *g;
    te_remote_buffers_t *rb;
    te_remote_input_channel_t *ch = fake_channel(&g, &rb, 2);
    listened = ch;
    listener_calls = 0;
    input_gate_set_listener(g, (te_notifier_t){listener_polls, NULL});
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1);
    uint8_t want[SEG];
    for (int i = 0; i < SEG; i++)
        want[i] = pattern(5, i);
    /* a full segment, written in three pieces as reads would deliver it */
    te_buffer_t *b = NULL;
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 0, 0, SEG, &b, &err), TE_OK);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(b->capacity, SEG);
    memcpy(b->data, want, 1);
    memcpy(b->data + 1, want + 1, 600);
    memcpy(b->data + 601, want + 601, SEG - 601);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_NOTHING); /* not visible before commit */
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 1, NULL, &err), TE_OK);
    ck_assert_int_eq(listener_calls, 1);
    /* backlog 1: one more buffer (floating) beside the queued one: one credit */
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1);
    /* a checkpoint barrier (no credit), then EndOfPartition */
    te_event_t ev = {TE_EVENT_CHECKPOINT_BARRIER, 7, 1234, 0};
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 1, 1, TE_EVENT_ENCODED_LEN, &b, &err), TE_OK);
    task_event_encode(&ev, b->data);
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 0, NULL, &err), TE_OK);
    ev.type = TE_EVENT_END_OF_PARTITION;
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 2, 1, TE_EVENT_ENCODED_LEN, &b, &err), TE_OK);
    task_event_encode(&ev, b->data);
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 0, NULL, &err), TE_OK);
    ck_assert(remote_input_channel_is_done(ch));
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_BUFFER);
    ck_assert_uint_eq(el.slice.len, SEG);
    ck_assert(memcmp(el.slice.buf->data + el.slice.offset, want, SEG) == 0);
    buffer_recycle(el.slice.buf);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_EVENT);
    ck_assert_int_eq(el.event.type, TE_EVENT_CHECKPOINT_BARRIER);
    ck_assert_uint_eq(el.event.checkpoint_id, 7);
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_END);
    input_gate_free(g);
    remote_buffers_free(rb);
}
END_TEST

START_TEST(test_reserve_release_abort)
{
    te_error_t err;
    te_input_gate_t *g;
    te_remote_buffers_t *rb;
    /* released while its buffer is being filled: commit recycles it (arena checked by
     * teardown) */
    te_remote_input_channel_t *ch = fake_channel(&g, &rb, 0);
    remote_input_channel_retain(ch); /* the transport's reference */
    te_buffer_t *b = NULL;
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 0, 0, 100, &b, &err), TE_OK);
    memset(b->data, 1, 100);
    input_gate_free(g); /* releases the channel */
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 0, NULL, &err), TE_ECANCELED);
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 1, 0, 100, &b, &err), TE_ECANCELED);
    remote_input_channel_unref(ch);
    remote_buffers_free(rb);
    /* an abort gives a data buffer back: the same sequence number is received next */
    ch = fake_channel(&g, &rb, 0);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 1);
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 0, 0, 100, &b, &err), TE_OK);
    remote_input_channel_abort_buffer(ch, b);
    ck_assert_uint_eq(remote_input_channel_take_credit(ch), 0); /* no new credit: same buffer */
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, 0, 0, 3, &b, &err), TE_OK);
    memcpy(b->data, "abc", 3);
    /* a second reservation before the first is committed fails the channel */
    te_buffer_t *b2 = NULL;
    ck_assert_int_ne(remote_input_channel_reserve_buffer(ch, 1, 1, TE_EVENT_ENCODED_LEN, &b2, &err), TE_OK);
    ck_assert_ptr_null(b2);
    ck_assert_ptr_nonnull(strstr(err.msg, "before the previous one was complete"));
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 0, NULL, &err), TE_ECANCELED);
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g, &el), TE_GATE_ERROR);
    input_gate_free(g);
    remote_buffers_free(rb);
}
END_TEST

/* ---- gate wake-ups deferred to the end of the net thread's read batch ---- */

static int wake_count[40];
static void count_wake(void *arg) { wake_count[(int *)arg - wake_count]++; }

/* Commits `len` bytes of data on a fresh channel of `g` (sequence `seq`), deferring the
 * gate's wake-up into `wb`. */
static void commit_data(te_remote_input_channel_t *ch, uint32_t seq, te_ric_wake_batch_t *wb)
{
    te_error_t err;
    te_buffer_t *b = NULL;
    ck_assert_int_eq(remote_input_channel_reserve_buffer(ch, seq, 0, 8, &b, &err), TE_OK);
    memcpy(b->data, "deferred", 8);
    ck_assert_int_eq(remote_input_channel_commit_buffer(ch, b, 0, wb, &err), TE_OK);
}

struct freeing {
    te_input_gate_t *g;
    _Atomic int done;
};

static void *free_gate(void *arg)
{
    struct freeing *f = arg;
    input_gate_free(f->g); /* releases the channel: waits for its deferred wake-up */
    atomic_store(&f->done, 1);
    return NULL;
}

START_TEST(test_wake_batch_defers_listeners)
{
    enum { N = TE_RIC_WAKE_BATCH_MAX + 3 };
    te_input_gate_t *g[N];
    te_remote_buffers_t *rb[N];
    te_remote_input_channel_t *ch[N];
    memset(wake_count, 0, sizeof(wake_count));
    for (int i = 0; i < N; i++) {
        ch[i] = fake_channel(&g[i], &rb[i], 0);
        remote_input_channel_take_credit(ch[i]);
    }
    /* gates 0 and 1 share one listener (one task waiting on two gates); the rest each
     * have their own */
    input_gate_set_listener(g[0], (te_notifier_t){count_wake, &wake_count[0]});
    input_gate_set_listener(g[1], (te_notifier_t){count_wake, &wake_count[0]});
    for (int i = 2; i < N; i++)
        input_gate_set_listener(g[i], (te_notifier_t){count_wake, &wake_count[i]});

    te_ric_wake_batch_t wb = {0};
    commit_data(ch[0], 0, &wb);
    commit_data(ch[1], 0, &wb);
    ck_assert_int_eq(wake_count[0], 0); /* deferred */
    /* ... but queued at once: a task that is polling finds the buffer */
    te_gate_element_t el;
    ck_assert_int_eq(input_gate_poll_next(g[1], &el), TE_GATE_BUFFER);
    ck_assert(memcmp(el.slice.buf->data + el.slice.offset, "deferred", 8) == 0);
    buffer_recycle(el.slice.buf);
    remote_buffers_poll_hook(rb[1]);
    remote_input_channel_wake_flush(&wb);
    ck_assert_int_eq(wake_count[0], 1); /* one call for the shared listener */
    ck_assert_uint_eq(wb.n, 0);
    remote_input_channel_wake_flush(&wb); /* empty: nothing more */
    ck_assert_int_eq(wake_count[0], 1);

    /* a full batch is flushed before the entry that does not fit */
    for (int i = 2; i < N; i++)
        commit_data(ch[i], 0, &wb);
    int called = 0;
    for (int i = 2; i < N; i++)
        called += wake_count[i];
    ck_assert_int_eq(called, TE_RIC_WAKE_BATCH_MAX);
    ck_assert_uint_eq(wb.n, N - 2 - TE_RIC_WAKE_BATCH_MAX);
    remote_input_channel_wake_flush(&wb);
    for (int i = 2; i < N; i++)
        ck_assert_int_eq(wake_count[i], 1);

    /* a pending wake-up holds the channel's release (and so the gate) until the flush */
    ck_assert_int_eq(input_gate_poll_next(g[1], &el), TE_GATE_NOTHING); /* gate 1 drained */
    commit_data(ch[1], 1, &wb);
    ck_assert_uint_eq(wb.n, 1);
    struct freeing f = {g[1], 0};
    pthread_t th;
    pthread_create(&th, NULL, free_gate, &f);
    usleep(50 * 1000);
    ck_assert_int_eq(atomic_load(&f.done), 0);
    remote_input_channel_wake_flush(&wb);
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&f.done), 1);
    ck_assert_int_eq(wake_count[0], 2); /* the flush woke the listener of gate 1 */
    remote_buffers_free(rb[1]);
    for (int i = 0; i < N; i++) {
        if (i == 1)
            continue;
        input_gate_free(g[i]);
        remote_buffers_free(rb[i]);
    }
}
END_TEST

/* ---- mixed versions: a producer that predates buffer debloating ---- */

static int read_exact(int fd, uint8_t *p, size_t n);

/* Behaves as a server without message 10 does: reads the PartitionRequest, then the
 * next frame; an unknown id is a protocol error (ErrorResponse(Protocol) naming it,
 * all-zero receiver id) and the connection is closed. */
static void *old_producer(void *arg)
{
    int *io = arg; /* [0] the listening fd; [1] out: the second frame's id */
    int fd = accept(io[0], NULL, NULL);
    if (fd < 0)
        return NULL;
    uint8_t req[49], next[29];
    if (read_exact(fd, req, sizeof(req)) == 0 && read_exact(fd, next, sizeof(next)) == 0) {
        io[1] = next[8];
        char msg[64];
        snprintf(msg, sizeof(msg), "unknown message id %u", next[8]);
        te_net_msg_t m;
        memset(&m, 0, sizeof(m));
        m.id = TE_NET_ERROR_RESPONSE;
        m.error_code = TE_NET_ERR_PROTOCOL;
        m.payload = (const uint8_t *)msg;
        m.size = (uint32_t)strlen(msg);
        uint8_t out[128];
        size_t n = net_codec_encode(&m, out, sizeof(out));
        if (write(fd, out, n) != (ssize_t)n)
            io[1] = -1;
    }
    close(fd);
    return NULL;
}

/* A debloating consumer against it: its NewBufferSize follows the PartitionRequest, the
 * producer refuses it, and the gate fails naming the key that turns debloating off. */
START_TEST(test_debloating_consumer_old_producer_refused)
{
    int port;
    int io[2] = {listen_any(&port), 0};
    pthread_t th;
    pthread_create(&th, NULL, old_producer, io);
    char peer[64];
    snprintf(peer, sizeof(peer), "127.0.0.1:%d", port);
    te_id_t pid;
    te_id_random(&pid);
    te_error_t err;
    consumer_t c;
    te_local_buffer_pool_t *lp = network_buffer_pool_create_local(arena, "consumer", 1, 1, &err);
    ck_assert_ptr_nonnull(lp);
    c.gate = input_gate_new("consumer", 0, 1, lp, &err);
    c.rb = remote_buffers_new(lp, 1);
    input_gate_set_poll_hook(c.gate, (te_notifier_t){remote_buffers_poll_hook, c.rb});
    input_gate_set_listener(c.gate, (te_notifier_t){wake, NULL});
    te_remote_input_channel_t *ch = remote_input_channel_new(c.gate, 0, c.rb, partition_client_transport(client),
                                                             peer, &pid, 0, 100, 1000, &err);
    ck_assert_ptr_nonnull(ch);
    ck_assert_int_eq(input_gate_set_channel(c.gate, 0, &remote_input_channel_ops, ch, &err), TE_OK);
    remote_input_channel_ops.set_buffer_size(ch, 1024); /* the gate's debloater did, before the request */
    ck_assert_int_eq(input_gate_request_partitions(c.gate, 10000, &err), TE_OK);
    uint8_t out[64];
    size_t len;
    ck_assert_int_eq(consume(&c, out, sizeof(out), &len), TE_GATE_ERROR);
    pthread_join(th, NULL);
    close(io[0]);
    ck_assert_int_eq(io[1], TE_NET_NEW_BUFFER_SIZE);
    const char *why = input_gate_failure(c.gate);
    ck_assert_msg(strstr(why, "unknown message id 10") != NULL, "%s", why);
    ck_assert_msg(strstr(why, "taskmanager.network.memory.buffer-debloat.enabled") != NULL, "%s", why);
    consumer_close(&c);
}
END_TEST

/* ---- the real client against a scripted producer: payloads split across reads ---- */

#define BIG_SEG 16384u

typedef struct script {
    int lfd;
    const uint8_t *stream;
    const size_t *cuts; /* send [cuts[i-1], cuts[i]) as one write, pausing between */
    size_t n_cuts;
    int ok;
} script_t;

static int read_exact(int fd, uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

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

Suite *remote_channel_suite(void)
{
    Suite *s = suite_create("remote_channel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_transfer_exclusive_only);
    tcase_add_test(tc, test_server_rejects_bad_credit);
    tcase_add_test(tc, test_transfer_with_floating);
    tcase_add_test(tc, test_partition_not_found_then_registered);
    tcase_add_test(tc, test_partition_never_registered);
    tcase_add_test(tc, test_connection_lost_names_peer);
    tcase_add_test(tc, test_sequence_gap_and_no_credit);
    tcase_add_test(tc, test_floating_only_credit_and_barrier);
    tcase_add_test(tc, test_end_of_partition_returns_unused_credit);
    tcase_add_test(tc, test_debloating_consumer_old_producer_refused);
    tcase_add_test(tc, test_reserve_fill_in_pieces_commit);
    tcase_add_test(tc, test_reserve_release_abort);
    tcase_add_test(tc, test_wake_batch_defers_listeners);
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
