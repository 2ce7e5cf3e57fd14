/*
 * bench_network — network throughput and latency across two processes on loopback,
 * through the real stack: RecordWriter -> ResultPartition -> partition server (net I/O
 * thread, zero-copy BufferResponses) -> one TCP connection on 127.0.0.1 -> partition
 * client -> RemoteInputChannels (credit-based, exclusive + floating buffers) -> input
 * gates -> record deserializers.
 *
 * The shape is flink-benchmarks' `networkThroughput` (StreamNetworkThroughputBenchmark
 * + StreamNetworkBenchmarkEnvironment): W RecordWriter threads, each with its own
 * PIPELINED ResultPartition of C subpartitions and a round-robin channel selector; the
 * receiver has C input gates, gate i reading subpartition i of every writer's
 * partition (W remote channels per gate), all gates consumed by one receiver thread
 * as a union (Flink's UnionInputGate). Records are 8-byte longs (Flink: LongValue).
 * Flink opens one TCP connection per (producer, subpartition index) ConnectionID; our
 * partition client multiplexes every channel to a producer over one connection.
 *
 * The process fork()s: the child is the producer (arena, partition manager, partition
 * server, W writer threads, the output flusher), the parent the consumer (arena,
 * partition client, gates, the receiver loop on the main thread). Nothing is shared
 * but two pipes: the child reports its data port, the parent says "go" once its
 * partitions are requested and "done" once every gate ended. Time runs from "go" to the
 * last EndOfPartition. Every record is counted and its payload checksummed (values
 * 0..N-1 sum to N(N-1)/2): a lost or duplicated record fails the run (exit 1).
 *
 * Figures (one JSON line each):
 *   net_throughput_8b_100ch_100ms   8-byte records, 4 writers, 100 channels, flush 100 ms
 *   net_throughput_8b_1000ch_1ms    8-byte records, 4 writers, 1000 channels, flush 1 ms
 *   net_throughput_1k               1 KiB records, 4 writers, 100 channels, flush 100 ms,
 *                                   bytes/s against iperf3's loopback bandwidth (-i)
 *   net_latency_timeout0            buffer-timeout 0 (flush every record), 1 writer, 1
 *                                   channel, paced at 100k records/s; each record carries
 *                                   its CLOCK_MONOTONIC send time (one clock: one host)
 *   net_latency_socket_baseline     what the host gives without the engine, in the same
 *                                   run: the same paced 8-byte send times written by a
 *                                   forked process straight to a TCP loopback socket
 *                                   (TCP_NODELAY), read by this one blocked in poll() —
 *                                   one hop, two wake-ups (the engine's path has four)
 *
 *   bench_network [-n records_8b] [-k records_1k] [-l latency_records] [-r latency_rate]
 *                 [-i iperf3_bytes_per_s] [-f figure_substring] [-p policy] [-b busy_poll_us]
 *
 * -b runs both processes with taskmanager.network.busy-poll (their I/O threads, and the
 * receiver standing for a task waiting for input, poll that many µs before sleeping);
 * every figure line says which mode it used ("busy_poll_us", 0 = the default, off).
 *
 * Threading: each process builds everything on its main thread before starting any
 * thread (the fork happens before any thread exists). Producer: W writer threads, the
 * flusher thread, one net I/O thread. Consumer: one net I/O thread and the main thread
 * as the receiver; gate listeners (net thread) push ready gates into a mutex-guarded
 * FIFO the receiver waits on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/compiler.h"
#include "common/config.h"
#include "common/thread_sched.h"
#include "common/log.h"
#include "net/net_io_thread.h"
#include "net/partition_client.h"
#include "net/partition_server.h"
#include "runtime/stream_element.h"
#include "shuffle/channel_selector.h"
#include "shuffle/input_gate.h"
#include "shuffle/network_buffer_pool.h"
#include "shuffle/output_flusher.h"
#include "shuffle/partition_manager.h"
#include "shuffle/record_deserializer.h"
#include "shuffle/record_writer.h"
#include "shuffle/remote_input_channel.h"
#include "shuffle/result_partition.h"

#define SEGMENT_SIZE        32768u /* taskmanager.memory.segment-size default */
#define BUFFERS_PER_CHANNEL 2      /* taskmanager.network.memory.buffers-per-channel */
#define FLOATING_PER_GATE   8      /* taskmanager.network.memory.floating-buffers-per-gate */
#define MAX_WRITERS         16
#define RUN_TIMEOUT_MS      300000

/* Writers and the receiver stand for task threads: they run under the policy the daemon
 * gives task threads (taskmanager.task.scheduling-policy, its default unless -p; auto
 * resolved by the figure's buffer timeout). The I/O and flusher threads keep the
 * normal policy, as in the daemon. */
static te_sched_policy_t g_task_policy;
/* -b: taskmanager.network.busy-poll of both processes' I/O threads and of the receiver
 * (which stands for a task waiting for input), in ns; 0 = off (the daemon's default). */
static int64_t g_busy_poll_ns;

typedef struct figure {
    const char *name;
    uint32_t rec_len; /* payload bytes (>= 8) */
    uint32_t writers;
    uint32_t channels;
    int flush_ms;     /* 0: flush after every record (buffer-timeout 0) */
    uint64_t records; /* total over all writers */
    double rate;      /* 0: as fast as possible; else records/s (paced) */
    int latency;      /* 1: payload carries the send time; 2: the socket baseline (no engine) */
} figure_t;

typedef struct result {
    uint64_t records;
    double seconds;
    uint64_t *lat_ns;    /* latency figure: one sample per record */
    double direct_share; /* payload bytes read from the socket straight into channel buffers */
    double sleeps;       /* voluntary context switches of both processes, every thread: the
                            sleeps (and so wake-ups) of the run, a load-independent latency proxy */
} result_t;

/* ---------------------------------------------------------------- pipes ---- */

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ------------------------------------------------------------- producer ---- */

typedef struct writer_arg {
    const figure_t *f;
    te_record_writer_t *rw;
    uint32_t index;
    te_status_t status;
} writer_arg_t;

static void sleep_until_ns(int64_t t)
{
    struct timespec ts = {t / 1000000000LL, t % 1000000000LL};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Record i's send time at one record every period_ns from t0: sleeps until it is due. */
static int64_t paced_send_time(int64_t t0, uint64_t i, double period_ns)
{
    int64_t due = t0 + (int64_t)((double)i * period_ns), now = te_clock_mono_ns();
    if (now < due) {
        sleep_until_ns(due);
        now = te_clock_mono_ns();
    }
    return now;
}

static void *writer_main(void *arg)
{
    writer_arg_t *wa = arg;
    const figure_t *f = wa->f;
    te_thread_set_sched_policy(te_sched_policy_for_task(g_task_policy, f->flush_ms));
    uint64_t per = f->records / f->writers;
    uint64_t base = per * wa->index;
    uint8_t hdr[TE_SE_MAX_HEADER];
    uint32_t hdr_len = stream_element_record_header(hdr, INT64_MIN);
    uint8_t *payload = calloc(1, f->rec_len);
    if (payload == NULL) {
        wa->status = TE_ENOMEM;
        return NULL;
    }
    memset(payload, 'x', f->rec_len);
    int64_t t0 = te_clock_mono_ns();
    double period_ns = f->rate > 0 ? 1e9 / f->rate : 0;
    te_status_t s = TE_OK;
    for (uint64_t i = 0; i < per && s == TE_OK; i++) {
        uint64_t v;
        if (f->latency) {
            v = (uint64_t)paced_send_time(t0, i, period_ns);
        } else {
            v = base + i;
        }
        memcpy(payload, &v, sizeof(v));
        s = record_writer_emit(wa->rw, hdr, hdr_len, payload, f->rec_len);
    }
    if (s == TE_OK)
        s = record_writer_finish(wa->rw);
    free(payload);
    wa->status = s;
    return NULL;
}

/* net_latency_socket_baseline: n send times at `rate` over one loopback TCP connection
 * from a forked writer to this process; r->lat_ns gets one sample per record. 0, or -1
 * (with the reason on stderr). */
static int socket_baseline_run(uint64_t n, double rate, result_t *r)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), c = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0 || listen(l, 1) != 0 ||
        (r->lat_ns = malloc(n * sizeof(uint64_t))) == NULL) {
        perror("socket baseline");
        if (l >= 0)
            close(l);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) { /* the writer */
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
            _exit(1);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        te_thread_set_sched_policy(te_sched_policy_for_task(g_task_policy, 0));
        int64_t t0 = te_clock_mono_ns();
        for (uint64_t i = 0; i < n; i++) {
            int64_t now = paced_send_time(t0, i, 1e9 / rate);
            if (write_all(fd, &now, sizeof(now)) != 0)
                _exit(1);
        }
        _exit(0);
    }
    if (pid > 0)
        c = accept(l, NULL, NULL);
    close(l);
    te_thread_set_sched_policy(te_sched_policy_for_task(g_task_policy, 0));
    uint8_t buf[4096];
    size_t have = 0;
    int64_t start = te_clock_mono_ns();
    while (c >= 0 && r->records < n) {
        struct pollfd p = {.fd = c, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t got = read(c, buf + have, sizeof(buf) - have);
        if (got <= 0)
            break;
        int64_t now = te_clock_mono_ns();
        have += (size_t)got;
        size_t off = 0;
        for (; have - off >= 8 && r->records < n; off += 8) {
            int64_t sent;
            memcpy(&sent, buf + off, 8);
            r->lat_ns[r->records++] = (uint64_t)(now - sent);
        }
        memmove(buf, buf + off, have - off);
        have -= off;
    }
    r->seconds = (double)(te_clock_mono_ns() - start) / 1e9;
    if (c >= 0)
        close(c);
    int status = 1;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (r->records != n || status != 0) {
        fprintf(stderr, "socket baseline: %" PRIu64 " of %" PRIu64 " send times arrived\n", r->records, n);
        return -1;
    }
    return 0;
}

/* Child: serves the partitions until the consumer says done. Returns the exit code. */
static int producer_run(const figure_t *f, const te_id_t *pids, int to_parent, int from_parent)
{
    te_error_t err;
    te_error_clear(&err);
    int rc = 1;
    uint32_t W = f->writers, C = f->channels;
    uint64_t segs = (uint64_t)W * (C * BUFFERS_PER_CHANNEL + FLOATING_PER_GATE);
    te_network_buffer_pool_t *nbp = network_buffer_pool_new(segs * SEGMENT_SIZE, SEGMENT_SIZE, &err);
    te_partition_manager_t *pm = partition_manager_new();
    te_output_flusher_t *fl = output_flusher_new(&err);
    te_net_io_thread_t *io = net_io_thread_new("bench-srv-io", &err);
    if (io != NULL)
        net_io_thread_set_busy_poll(io, g_busy_poll_ns);
    te_result_partition_t *rps[MAX_WRITERS] = {0};
    te_record_writer_t *rws[MAX_WRITERS] = {0};
    te_partition_server_t *srv = NULL;
    if (nbp == NULL || pm == NULL || fl == NULL || io == NULL) {
        fprintf(stderr, "bench_network producer: setup failed: %s\n", err.msg);
        goto out;
    }
    for (uint32_t w = 0; w < W; w++) {
        char owner[64];
        snprintf(owner, sizeof(owner), "bench writer %u", w);
        te_local_buffer_pool_t *pool =
            network_buffer_pool_create_local(nbp, owner, C + 1, C * BUFFERS_PER_CHANNEL + FLOATING_PER_GATE, &err);
        if (pool == NULL)
            goto fail;
        rps[w] = result_partition_new(&pids[w], owner, C, pool, &err);
        if (rps[w] == NULL) {
            local_buffer_pool_destroy(pool);
            goto fail;
        }
        te_channel_selector_t *sel = channel_selector_new(
            C == 1 ? TE__PARTITIONER__FORWARD : TE__PARTITIONER__REBALANCE, C, w, 0, '\t', 128, &err);
        if (sel == NULL)
            goto fail;
        rws[w] = record_writer_new(rps[w], sel, f->flush_ms == 0, &err);
        if (rws[w] == NULL) {
            channel_selector_free(sel);
            goto fail;
        }
        if (partition_manager_register(pm, rps[w], &err) != TE_OK)
            goto fail;
    }
    if (net_io_thread_start(io, &err) != TE_OK || output_flusher_start(fl, &err) != TE_OK)
        goto fail;
    srv = partition_server_new(&io, 1, "127.0.0.1", 0, pm, &err);
    if (srv == NULL)
        goto fail;
    if (f->flush_ms > 0)
        for (uint32_t w = 0; w < W; w++)
            output_flusher_add(fl, rws[w], f->flush_ms);
    int port = partition_server_port(srv);
    char go;
    if (write_all(to_parent, &port, sizeof(port)) != 0 || read_all(from_parent, &go, 1) != 0) {
        fprintf(stderr, "bench_network producer: the consumer went away before the start\n");
        goto teardown;
    }
    pthread_t th[MAX_WRITERS];
    writer_arg_t wa[MAX_WRITERS];
    for (uint32_t w = 0; w < W; w++) {
        wa[w] = (writer_arg_t){f, rws[w], w, TE_OK};
        pthread_create(&th[w], NULL, writer_main, &wa[w]);
    }
    int writers_ok = 1;
    for (uint32_t w = 0; w < W; w++) {
        pthread_join(th[w], NULL);
        if (wa[w].status != TE_OK) {
            fprintf(stderr, "bench_network producer: writer %u failed (status %d)\n", w, wa[w].status);
            writers_ok = 0;
        }
    }
    char done;
    if (read_all(from_parent, &done, 1) != 0) /* served everything (or the consumer failed) */
        writers_ok = 0;
    rc = writers_ok ? 0 : 1;
teardown:
    if (f->flush_ms > 0)
        for (uint32_t w = 0; w < W; w++)
            output_flusher_remove(fl, rws[w]);
    goto out;
fail:
    fprintf(stderr, "bench_network producer: %s\n", err.msg);
out:
    if (io)
        net_io_thread_stop(io);
    partition_server_free(srv);
    if (fl) {
        output_flusher_stop(fl);
        output_flusher_free(fl);
    }
    for (uint32_t w = 0; w < W; w++) {
        if (rps[w])
            partition_manager_unregister(pm, &pids[w]);
        record_writer_free(rws[w]);
        if (rps[w])
            result_partition_unref(rps[w]);
    }
    net_io_thread_free(io);
    if (pm)
        partition_manager_free(pm);
    if (nbp) {
        if (network_buffer_pool_available_segments(nbp) != network_buffer_pool_total_segments(nbp)) {
            fprintf(stderr, "bench_network producer: %u of %u segments not returned\n",
                    network_buffer_pool_total_segments(nbp) - network_buffer_pool_available_segments(nbp),
                    network_buffer_pool_total_segments(nbp));
            rc = 1;
        } else {
            network_buffer_pool_free(nbp);
        }
    }
    return rc;
}

/* ------------------------------------------------------------- consumer ---- */

/* Gates with data, in the order they became available (Flink's UnionInputGate). */
typedef struct ready_fifo {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t *q;
    uint8_t *queued;
    uint32_t head, count, cap;
    int waiting;
    _Atomic int nonempty; /* count > 0, for the busy-polling receiver to read unlocked */
} ready_fifo_t;

typedef struct gate_ref {
    ready_fifo_t *fifo;
    uint32_t index;
} gate_ref_t;

/* Net thread (or the receiver): gate `index` went from nothing to something. */
static void gate_on_available(void *arg)
{
    gate_ref_t *r = arg;
    ready_fifo_t *f = r->fifo;
    int wake = 0;
    pthread_mutex_lock(&f->mu);
    if (!f->queued[r->index]) {
        f->queued[r->index] = 1;
        f->q[(f->head + f->count) % f->cap] = r->index;
        f->count++;
        atomic_store_explicit(&f->nonempty, 1, memory_order_relaxed);
        wake = f->waiting;
    }
    pthread_mutex_unlock(&f->mu);
    /* after unlocking: the woken receiver takes the mutex at once */
    if (wake)
        pthread_cond_signal(&f->cv);
}

/* Receiver: the next ready gate; -1 after timeout_ms with nothing ready. With busy
 * poll, spins up to g_busy_poll_ns for one before sleeping (as mailbox_take does). */
static int64_t fifo_pop(ready_fifo_t *f, int64_t timeout_ms)
{
    if (g_busy_poll_ns > 0) {
        int64_t until = te_clock_mono_ns() + g_busy_poll_ns;
        for (unsigned i = 1; !atomic_load_explicit(&f->nonempty, memory_order_relaxed); i++) {
            te_cpu_relax();
            if ((i & 63) == 0 && te_clock_mono_ns() >= until)
                break;
        }
    }
    pthread_mutex_lock(&f->mu);
    if (f->count == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += timeout_ms / 1000;
        ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        f->waiting = 1;
        while (f->count == 0)
            if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
                break;
        f->waiting = 0;
    }
    int64_t idx = -1;
    if (f->count > 0) {
        idx = f->q[f->head];
        f->head = (f->head + 1) % f->cap;
        f->count--;
        f->queued[idx] = 0;
        if (f->count == 0)
            atomic_store_explicit(&f->nonempty, 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&f->mu);
    return idx;
}

typedef struct consumer {
    const figure_t *f;
    te_network_buffer_pool_t *nbp;
    te_net_io_thread_t *io;
    te_partition_client_t *client;
    te_input_gate_t **gates;
    te_remote_buffers_t **rbs;
    gate_ref_t *refs;
    te_record_deserializer_t **des; /* gate * W + channel */
    ready_fifo_t fifo;
    uint64_t count, sum, n_lat;
    uint64_t *lat;
    uint64_t *last; /* gate * W + channel: the last value received (UINT64_MAX: none) */
    uint64_t gaps;
    uint8_t *ended; /* per gate: END seen (a gate re-queued after its end reports END again) */
} consumer_t;

/* One buffer of gate g, channel c: every record in it. -1 on corruption. */
static int consume_slice(consumer_t *k, uint32_t g, uint32_t c, te_buffer_slice_t slice)
{
    te_record_deserializer_t *d = k->des[(size_t)g * k->f->writers + c];
    record_deserializer_set_next(d, slice);
    const uint8_t *data;
    uint32_t len;
    te_des_result_t r;
    int lat = k->f->latency;
    while ((r = record_deserializer_next(d, &data, &len)) == TE_DES_RECORD) {
        const uint8_t *payload; /* the network input's per-record decode */
        uint32_t payload_len;
        int64_t ts;
        if (!stream_element_record_view(data, len, &payload, &payload_len, &ts) || ts != INT64_MIN ||
            payload_len < 8)
            return -1;
        uint64_t v;
        memcpy(&v, payload, sizeof(v));
        if (lat) {
            if (k->n_lat < k->f->records)
                k->lat[k->n_lat++] = (uint64_t)te_clock_mono_ns() - v;
        } else {
            /* Round robin: a channel sees every C-th value of its writer, in order. */
            uint64_t *last = &k->last[(size_t)g * k->f->writers + c];
            if (*last != UINT64_MAX && v != *last + k->f->channels && k->gaps++ < 10)
                fprintf(stderr,
                        "bench_network %s: gate %u channel %u: after value %" PRIu64 " came %" PRIu64
                        " (expected %" PRIu64 ") at record %" PRIu64 "\n",
                        k->f->name, g, c, *last, v, *last + k->f->channels, k->count);
            *last = v;
            k->sum += v;
        }
        k->count++;
    }
    return r == TE_DES_NEED_MORE ? 0 : -1;
}

static void consumer_free(consumer_t *k)
{
    uint32_t C = k->f->channels;
    if (k->gates)
        for (uint32_t g = 0; g < C; g++)
            if (k->gates[g])
                input_gate_close(k->gates[g]);
    if (k->io)
        net_io_thread_stop(k->io); /* runs the channels' release work */
    partition_client_free(k->client);
    if (k->des)
        for (size_t i = 0; i < (size_t)C * k->f->writers; i++)
            if (k->des[i])
                record_deserializer_free(k->des[i]);
    if (k->gates)
        for (uint32_t g = 0; g < C; g++) {
            if (k->gates[g])
                input_gate_free(k->gates[g]);
            if (k->rbs)
                remote_buffers_free(k->rbs[g]);
        }
    net_io_thread_free(k->io);
    free(k->gates);
    free(k->rbs);
    free(k->refs);
    free(k->des);
    free(k->last);
    free(k->ended);
    free(k->fifo.q);
    free(k->fifo.queued);
    pthread_mutex_destroy(&k->fifo.mu);
    pthread_cond_destroy(&k->fifo.cv);
}

static int consumer_setup(consumer_t *k, const te_id_t *pids, int port, te_error_t *err)
{
    const figure_t *f = k->f;
    uint32_t W = f->writers, C = f->channels;
    pthread_mutex_init(&k->fifo.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&k->fifo.cv, &ca);
    pthread_condattr_destroy(&ca);
    k->fifo.cap = C;
    k->fifo.q = calloc(C, sizeof(uint32_t));
    k->fifo.queued = calloc(C, 1);
    k->gates = calloc(C, sizeof(*k->gates));
    k->rbs = calloc(C, sizeof(*k->rbs));
    k->refs = calloc(C, sizeof(*k->refs));
    k->des = calloc((size_t)C * W, sizeof(*k->des));
    k->last = malloc((size_t)C * W * sizeof(*k->last));
    k->ended = calloc(C, 1);
    if (k->last)
        memset(k->last, 0xff, (size_t)C * W * sizeof(*k->last));
    if (!k->last || !k->ended || !k->fifo.q || !k->fifo.queued || !k->gates || !k->rbs || !k->refs || !k->des)
        return te_error_set(err, TE_ENOMEM, "out of memory");
    uint64_t segs = (uint64_t)C * (W * BUFFERS_PER_CHANNEL + FLOATING_PER_GATE);
    k->nbp = network_buffer_pool_new(segs * SEGMENT_SIZE, SEGMENT_SIZE, err);
    if (k->nbp == NULL)
        return err->code;
    k->io = net_io_thread_new("bench-cli-io", err);
    if (k->io != NULL)
        net_io_thread_set_busy_poll(k->io, g_busy_poll_ns);
    if (k->io == NULL)
        return err->code;
    k->client = partition_client_new(&k->io, 1, SEGMENT_SIZE, err);
    if (k->client == NULL)
        return err->code;
    const te_channel_transport_t *tr = partition_client_transport(k->client);
    char address[64];
    snprintf(address, sizeof(address), "127.0.0.1:%d", port);
    for (uint32_t g = 0; g < C; g++) {
        char owner[64];
        snprintf(owner, sizeof(owner), "bench receiver gate %u", g);
        uint32_t min = W * BUFFERS_PER_CHANNEL;
        te_local_buffer_pool_t *pool =
            network_buffer_pool_create_local(k->nbp, owner, min, min + FLOATING_PER_GATE, err);
        if (pool == NULL)
            return err->code;
        k->rbs[g] = remote_buffers_new(pool, BUFFERS_PER_CHANNEL);
        k->gates[g] = input_gate_new(owner, g, W, pool, err);
        if (k->gates[g] == NULL) {
            local_buffer_pool_destroy(pool);
            return err->code;
        }
        if (k->rbs[g] == NULL)
            return te_error_set(err, TE_ENOMEM, "out of memory");
        input_gate_set_poll_hook(k->gates[g], (te_notifier_t){remote_buffers_poll_hook, k->rbs[g]});
        k->refs[g] = (gate_ref_t){&k->fifo, g};
        input_gate_set_listener(k->gates[g], (te_notifier_t){gate_on_available, &k->refs[g]});
        for (uint32_t w = 0; w < W; w++) {
            te_remote_input_channel_t *rc =
                remote_input_channel_new(k->gates[g], w, k->rbs[g], tr, address, &pids[w], g, 100, 10000, err);
            if (rc == NULL)
                return err->code;
            if (input_gate_set_channel(k->gates[g], w, &remote_input_channel_ops, rc, err) != TE_OK) {
                remote_input_channel_ops.release(rc);
                return err->code;
            }
            k->des[(size_t)g * W + w] = record_deserializer_new(1u << 20);
            if (k->des[(size_t)g * W + w] == NULL)
                return te_error_set(err, TE_ENOMEM, "out of memory");
        }
    }
    if (net_io_thread_start(k->io, err) != TE_OK)
        return err->code;
    for (uint32_t g = 0; g < C; g++)
        if (input_gate_request_partitions(k->gates[g], 30000, err) != TE_OK)
            return err->code;
    return TE_OK;
}

/* The receiver loop: until every gate ended. */
static te_status_t consumer_drain(consumer_t *k, te_error_t *err)
{
    uint32_t C = k->f->channels, ended = 0;
    int64_t deadline = te_clock_mono_ms() + RUN_TIMEOUT_MS;
    /* Every gate once: a gate whose data came before its listener was armed. */
    for (uint32_t g = 0; g < C; g++) {
        te_notifier_t n = {gate_on_available, &k->refs[g]};
        n.fn(n.arg);
    }
    while (ended < C) {
        int64_t gi = fifo_pop(&k->fifo, 100);
        if (gi < 0) {
            if (te_clock_mono_ms() > deadline)
                return te_error_set(err, TE_ETIMEOUT,
                                    "no progress: %u of %u gates ended, %" PRIu64 " records received after %d s",
                                    ended, C, k->count, RUN_TIMEOUT_MS / 1000);
            continue;
        }
        te_input_gate_t *g = k->gates[gi];
        for (;;) {
            te_gate_element_t el;
            te_gate_result_t r = input_gate_poll_next(g, &el);
            if (r == TE_GATE_NOTHING)
                break;
            if (r == TE_GATE_BUFFER) {
                if (consume_slice(k, (uint32_t)gi, el.channel, el.slice) != 0)
                    return te_error_set(err, TE_EPROTO, "gate %" PRId64 " channel %u: a corrupt record", gi,
                                        el.channel);
            } else if (r == TE_GATE_END) {
                if (!k->ended[gi]) {
                    k->ended[gi] = 1;
                    ended++;
                }
                break;
            } else if (r == TE_GATE_ERROR) {
                return te_error_set(err, TE_EIO, "gate %" PRId64 " failed: %s", gi, input_gate_failure(g));
            }
        }
    }
    return TE_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Runs one figure: fork, consume, verify. 0 = ok. */
static int figure_run(const figure_t *f, result_t *res)
{
    te_id_t pids[MAX_WRITERS];
    for (uint32_t w = 0; w < f->writers; w++)
        te_id_random(&pids[w]);
    int c2p[2], p2c[2];
    if (pipe(c2p) != 0 || pipe(p2c) != 0) {
        perror("bench_network: pipe");
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_network: fork");
        return -1;
    }
    if (pid == 0) {
        close(c2p[0]);
        close(p2c[1]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        exit(producer_run(f, pids, c2p[1], p2c[0])); /* exit: LeakSanitizer checks the producer too */
    }
    close(c2p[1]);
    close(p2c[0]);
    int ok = 0, started = 0;
    consumer_t k;
    memset(&k, 0, sizeof(k));
    k.f = f;
    te_error_t err;
    te_error_clear(&err);
    int port;
    if (read_all(c2p[0], &port, sizeof(port)) != 0) {
        fprintf(stderr, "bench_network %s: the producer process failed to start\n", f->name);
        goto out;
    }
    if (f->latency && (k.lat = malloc(f->records * sizeof(uint64_t))) == NULL) {
        fprintf(stderr, "bench_network %s: out of memory\n", f->name);
        goto out;
    }
    if (consumer_setup(&k, pids, port, &err) != TE_OK) {
        fprintf(stderr, "bench_network %s: consumer setup: %s\n", f->name, err.msg);
        goto out;
    }
    /* the receiver, after its I/O thread started */
    te_thread_set_sched_policy(te_sched_policy_for_task(g_task_policy, f->flush_ms));
    struct rusage ru0, ru1, ruc;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t t0 = te_clock_mono_ns();
    if (write_all(p2c[1], "g", 1) != 0) {
        fprintf(stderr, "bench_network %s: the producer process went away\n", f->name);
        goto out;
    }
    started = 1;
    te_status_t s = consumer_drain(&k, &err);
    double secs = (double)(te_clock_mono_ns() - t0) / 1e9;
    getrusage(RUSAGE_SELF, &ru1);
    if (s != TE_OK) {
        fprintf(stderr, "bench_network %s: %s\n", f->name, err.msg);
        goto out;
    }
    uint64_t expect = f->records / f->writers * f->writers;
    /* sum of 0..expect-1, modulo 2^64 like the receiver's sum */
    uint64_t expect_sum = expect % 2 == 0 ? (expect / 2) * (expect - 1) : expect * ((expect - 1) / 2);
    if (k.count != expect || (!f->latency && k.sum != expect_sum) || k.gaps > 0) {
        fprintf(stderr,
                "bench_network %s: records lost or duplicated: received %" PRIu64 " of %" PRIu64
                " (payload sum %" PRIu64 ", expected %" PRIu64 "; %" PRIu64 " channel sequence gaps)\n",
                f->name, k.count, expect, k.sum, expect_sum, k.gaps);
        goto out;
    }
    res->records = k.count;
    res->seconds = secs;
    uint64_t direct, copied;
    partition_client_payload_bytes(k.client, &direct, &copied);
    res->direct_share = direct + copied > 0 ? (double)direct / (double)(direct + copied) : 0;
    res->lat_ns = k.lat;
    k.lat = NULL;
    ok = 1;
out:
    /* Success: "done" lets the producer tear down. A failure before "go": closing the
     * pipe does. After "go" its writers may wait for buffers no one frees: kill it. */
    if (ok && write_all(p2c[1], "d", 1) != 0)
        fprintf(stderr, "bench_network %s: the producer exited early\n", f->name);
    else if (!ok && started)
        kill(pid, SIGKILL);
    close(p2c[1]);
    close(c2p[0]);
    int st = 0;
    memset(&ruc, 0, sizeof(ruc));
    while (wait4(pid, &st, 0, &ruc) < 0 && errno == EINTR)
        ;
    if (ok)
        res->sleeps = (double)(ru1.ru_nvcsw - ru0.ru_nvcsw) + (double)ruc.ru_nvcsw;
    if (ok && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
        fprintf(stderr, "bench_network %s: the producer process failed (status 0x%x)\n", f->name, st);
        ok = 0;
    }
    consumer_free(&k);
    if (k.nbp) {
        if (network_buffer_pool_available_segments(k.nbp) != network_buffer_pool_total_segments(k.nbp)) {
            fprintf(stderr, "bench_network %s: consumer: %u of %u segments not returned\n", f->name,
                    network_buffer_pool_total_segments(k.nbp) - network_buffer_pool_available_segments(k.nbp),
                    network_buffer_pool_total_segments(k.nbp));
            ok = 0;
        } else {
            network_buffer_pool_free(k.nbp);
        }
    }
    free(k.lat);
    if (!ok) {
        free(res->lat_ns);
        res->lat_ns = NULL;
    }
    return ok ? 0 : -1;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_network [-n records_8b] [-k records_1k] [-l latency_records] [-r latency_rate]\n"
                    "                     [-i iperf3_bytes_per_s] [-f figure_substring] [-p auto|batch|other]\n"
                    "                     [-b busy_poll_us]\n"
                    "  -p  scheduling policy of the writer and receiver threads (default: the daemon's\n"
                    "      default for task threads, taskmanager.task.scheduling-policy)\n"
                    "  -b  taskmanager.network.busy-poll of both processes (default 0: off)\n");
}

int main(int argc, char **argv)
{
    uint64_t n8 = 100000000ULL, n1k = 4000000ULL, nlat = 300000ULL;
    double rate = 100000, iperf = 0;
    const char *only = NULL;
    te_config_t *defaults = config_new();
    int policy = te_sched_policy_parse(
        defaults ? config_get_str(defaults, TE_KEY_TASKMANAGER_TASK_SCHEDULING_POLICY) : NULL);
    config_free(defaults);
    int opt;
    while ((opt = getopt(argc, argv, "n:k:l:r:i:f:p:b:h")) != -1) {
        switch (opt) {
        case 'n': n8 = strtoull(optarg, NULL, 10); break;
        case 'k': n1k = strtoull(optarg, NULL, 10); break;
        case 'l': nlat = strtoull(optarg, NULL, 10); break;
        case 'r': rate = strtod(optarg, NULL); break;
        case 'i': iperf = strtod(optarg, NULL); break;
        case 'f': only = optarg; break;
        case 'p': policy = te_sched_policy_parse(optarg); break;
        case 'b': g_busy_poll_ns = strtoll(optarg, NULL, 10) * 1000; break;
        default: usage(); return 2;
        }
    }
    if (n8 < 4 || n1k < 4 || nlat < 1 || rate <= 0 || policy < 0) {
        usage();
        return 2;
    }
    g_task_policy = (te_sched_policy_t)policy;
    te_log_set_level(TE_LOG_WARN);
    signal(SIGPIPE, SIG_IGN);
    const figure_t figs[] = {
        {"net_throughput_8b_100ch_100ms", 8, 4, 100, 100, n8, 0, 0},
        {"net_throughput_8b_1000ch_1ms", 8, 4, 1000, 1, n8, 0, 0},
        {"net_throughput_1k", 1024, 4, 100, 100, n1k, 0, 0},
        {"net_latency_timeout0", 8, 1, 1, 0, nlat, rate, 1},
        {"net_latency_socket_baseline", 8, 1, 1, 0, nlat, rate, 2},
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
        const figure_t *f = &figs[i];
        if (only && strstr(f->name, only) == NULL)
            continue;
        result_t r = {0};
        if ((f->latency == 2 ? socket_baseline_run(f->records, f->rate, &r) : figure_run(f, &r)) != 0) {
            printf("{\"figure\":\"%s\",\"error\":\"failed (see stderr)\"}\n", f->name);
            fflush(stdout);
            failed = 1;
            continue;
        }
        double rps = (double)r.records / r.seconds;
        const char *pol = te_sched_policy_name(te_sched_policy_for_task(g_task_policy, f->flush_ms));
        if (f->latency) {
            qsort(r.lat_ns, r.records, sizeof(uint64_t), cmp_u64);
            double p50 = (double)r.lat_ns[r.records / 2] / 1e3;
            double p99 = (double)r.lat_ns[(size_t)((double)r.records * 0.99)] / 1e3;
            double p999 = (double)r.lat_ns[(size_t)((double)r.records * 0.999)] / 1e3;
            double mx = (double)r.lat_ns[r.records - 1] / 1e3;
            if (f->latency == 2)
                printf("{\"figure\":\"%s\",\"records\":%" PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.0f,"
                       "\"target_rate\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
                       "\"what\":\"one loopback TCP hop, no engine\",\"thread_policy\":\"%s\"}\n",
                       f->name, r.records, r.seconds, rps, f->rate, p50, p99, p999, mx, pol);
            else
                printf(
                    "{\"figure\":\"%s\",\"records\":%" PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.0f,"
                    "\"target_rate\":%.0f,\"writers\":1,\"channels\":1,\"buffer_timeout_ms\":0,\"p50_us\":%.1f,"
                    "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"target\":\"p99 < 100 us, p99.9 < 500 us\","
                    "\"ratio_to_target\":%.3f,\"task_thread_policy\":\"%s\",\"busy_poll_us\":%lld,"
                    "\"sleeps_per_record\":%.3f}\n",
                    f->name, r.records, r.seconds, rps, f->rate, p50, p99, p999, mx,
                    p99 / 100.0 > p999 / 500.0 ? p99 / 100.0 : p999 / 500.0, pol,
                    (long long)(g_busy_poll_ns / 1000), r.sleeps / (double)r.records);
        } else if (f->rec_len == 1024) {
            double bps = rps * f->rec_len;
            printf("{\"figure\":\"%s\",\"records\":%" PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.0f,"
                   "\"bytes_per_s\":%.0f,\"writers\":%u,\"channels\":%u,\"buffer_timeout_ms\":%d,"
                   "\"payload_read_direct_share\":%.3f,\"task_thread_policy\":\"%s\",\"busy_poll_us\":%lld,",
                   f->name, r.records, r.seconds, rps, bps, f->writers, f->channels, f->flush_ms, r.direct_share,
                   pol, (long long)(g_busy_poll_ns / 1000));
            if (iperf > 0)
                printf("\"iperf3_bytes_per_s\":%.0f,\"ratio_to_iperf3\":%.3f,\"target\":0.95,"
                       "\"ratio_to_target\":%.3f}\n",
                       iperf, bps / iperf, bps / iperf / 0.95);
            else
                printf("\"iperf3_bytes_per_s\":null,\"target\":0.95,\"ratio_to_target\":null,"
                       "\"note\":\"pass iperf3's loopback bytes/s with -i\"}\n");
        } else {
            double target = f->channels >= 1000 ? 50e6 : 70e6; /* issue #21 */
            printf("{\"figure\":\"%s\",\"records\":%" PRIu64 ",\"seconds\":%.3f,\"records_per_s\":%.0f,"
                   "\"writers\":%u,\"channels\":%u,\"buffer_timeout_ms\":%d,\"target\":%.0f,"
                   "\"ratio_to_target\":%.3f,\"task_thread_policy\":\"%s\",\"busy_poll_us\":%lld}\n",
                   f->name, r.records, r.seconds, rps, f->writers, f->channels, f->flush_ms, target, rps / target,
                   pol, (long long)(g_busy_poll_ns / 1000));
        }
        fflush(stdout);
        free(r.lat_ns);
    }
    return failed;
}
