/* Unit tests: remote input channels against a real partition server and client in
 * this process, over a loopback TCP connection on one net I/O thread (the fixture of
 * harness_remote_channel.h). Checks: every byte of a producer's buffers arrives in order
 * through credit-based flow control with 1 exclusive buffer and few floating ones (the
 * producer blocks on its pool meanwhile); a PartitionRequest sent before the producer
 * registers is retried with backoff and then served; a partition that never appears
 * fails the gate with PartitionNotFound naming the producer address; a peer that drops
 * the connection fails the channel naming host:port; a sequence gap and data without
 * credit fail the channel (driven directly); a floating-only channel announces credit
 * and passes barriers; EndOfPartition returns unused credit; a debloating consumer is
 * refused clearly by a producer that predates it. Receiving into the channel's buffer:
 * reserve / fill in pieces / commit, a release or a second reservation while a buffer
 * is reserved, an abort; wake batches defer listeners. The server side is in
 * check_remote_channel_server.c. Every test ends with the whole arena back. */
#include <check.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "harness_remote_channel.h"

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

Suite *remote_channel_suite(void)
{
    Suite *s = suite_create("remote_channel");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_transfer_exclusive_only);
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
    suite_add_tcase(s, tc);
    return s;
}
