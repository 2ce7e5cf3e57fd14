/*
 * harness_remote_channel — the fixture of the remote-channel unit tests
 * (check_remote_channel.c, check_remote_channel_server.c): a network buffer pool, a
 * partition manager, one net I/O thread, a partition server and client on loopback;
 * a consumer (one remote input channel in a gate), a producer thread writing patterned
 * buffers, run_transfer (every byte through credit-based flow control), a listening
 * socket and read_exact for scripted peers.
 *
 * Threading: the test's thread, the producer threads it starts and the I/O thread.
 */
#ifndef HARNESS_REMOTE_CHANNEL_H
#define HARNESS_REMOTE_CHANNEL_H

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

static inline void setup(void)
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

static inline void teardown(void)
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
static inline void wake(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wmu);
    wflag = 1;
    pthread_cond_signal(&wcv);
    pthread_mutex_unlock(&wmu);
}
static inline void wait_wake(void)
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

static inline void consumer_close(consumer_t *c)
{
    input_gate_free(c->gate);
    remote_buffers_free(c->rb);
}

/* Polls until END or ERROR (or 20 s); appends data to out. Returns the last result. */
static inline te_gate_result_t consume(consumer_t *c, uint8_t *out, size_t cap, size_t *len)
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

static inline uint8_t pattern(int buf, int i) { return (uint8_t)(buf * 31 + i * 7); }

static inline void *produce(void *arg)
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

static inline void producer_init(producer_t *p, int n_buffers)
{
    p->rp = harness_new_rp(arena, 1, 2, 4, &p->pid);
    p->n_buffers = n_buffers;
    p->delay_register_ms = 0;
}

static inline size_t expected(int n_buffers, uint8_t *out)
{
    size_t len = 0;
    for (int b = 0; b < n_buffers; b++) {
        uint32_t n = 100 + (uint32_t)(b % 7) * 100;
        for (uint32_t i = 0; i < n; i++)
            out[len++] = pattern(b, (int)i);
    }
    return len;
}

static inline void run_transfer(int n_buffers, uint32_t floating, int64_t delay_ms)
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

static inline int listen_any(int *port)
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

static inline int read_exact(int fd, uint8_t *p, size_t n)
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

#endif
