/*
 * Unit tests: the checkpoint barrier aligner (CheckpointedInputGate handler) driven by a
 * model of channels with FIFO queues of data, barriers and cancel markers, polled in
 * random interleavings; a blocked channel is not polled (its data stays queued). The
 * oracle is the scripted input itself: per channel, the delivered data equals the
 * queued data in order (nothing dropped); in aligned mode every datum before barrier n
 * is delivered before the snapshot of n and every datum after it on any channel after
 * it; a cancel marker / a newer barrier / an abort ends the alignment with an abort
 * callback and no snapshot; unaligned mode snapshots at the first barrier and records
 * exactly the data between it and each channel's barrier.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/checkpoint_barrier_aligner.h"

#define NCH  4
#define QMAX 64

typedef struct item {
    int kind; /* 0 data, 1 barrier, 2 cancel marker, 3 end */
    int value;
    uint64_t id;
} item_t;

typedef struct model {
    item_t q[NCH][QMAX];
    int len[NCH], pos[NCH];
    int blocked[NCH];
    /* what happened */
    int delivered[NCH][QMAX], n_delivered[NCH];
    int order[NCH * QMAX], n_order; /* data values in delivery order; -(id) for a snapshot */
    uint64_t triggered[8];
    int n_triggered;
    uint64_t aborted[8];
    int n_aborted;
    uint64_t completed[8];
    int n_completed;
    te_barrier_aligner_t *a;
} model_t;

static void m_block(void *arg, uint32_t ch) { ((model_t *)arg)->blocked[ch] = 1; }
static void m_resume(void *arg)
{
    model_t *m = arg;
    memset(m->blocked, 0, sizeof(m->blocked));
}
static te_status_t m_trigger(void *arg, uint64_t id, uint64_t ts, uint64_t al, te_error_t *err)
{
    model_t *m = arg;
    (void)ts;
    (void)al;
    (void)err;
    m->triggered[m->n_triggered++] = id;
    m->order[m->n_order++] = -(int)id;
    return TE_OK;
}
static te_status_t m_complete(void *arg, uint64_t id, te_error_t *err)
{
    model_t *m = arg;
    (void)err;
    m->completed[m->n_completed++] = id;
    return TE_OK;
}
static void m_abort(void *arg, uint64_t id, const char *cause)
{
    model_t *m = arg;
    ck_assert_ptr_nonnull(cause);
    m->aborted[m->n_aborted++] = id;
}
static const te_barrier_aligner_ops_t ops = {m_block, m_resume, m_trigger, m_complete, m_abort};

static void push(model_t *m, int ch, int kind, int value, uint64_t id)
{
    m->q[ch][m->len[ch]++] = (item_t){kind, value, id};
}

/* Polls random unblocked channels until nothing is left. recorded[ch] collects the data
 * the aligner marks as channel state (unaligned). */
static void run(model_t *m, unsigned seed, int recorded[NCH][QMAX], int *n_recorded)
{
    srand(seed);
    for (;;) {
        int cand[NCH], nc = 0;
        for (int c = 0; c < NCH; c++)
            if (!m->blocked[c] && m->pos[c] < m->len[c])
                cand[nc++] = c;
        if (nc == 0)
            break;
        int c = cand[rand() % nc];
        item_t it = m->q[c][m->pos[c]++];
        switch (it.kind) {
        case 0:
            if (recorded && barrier_aligner_is_recording(m->a, (uint32_t)c))
                recorded[c][n_recorded[c]++] = it.value;
            m->delivered[c][m->n_delivered[c]++] = it.value;
            m->order[m->n_order++] = it.value;
            break;
        case 1: ck_assert_int_eq(barrier_aligner_on_barrier(m->a, (uint32_t)c, it.id, 0, NULL), TE_OK); break;
        case 2: barrier_aligner_on_cancel_marker(m->a, (uint32_t)c, it.id); break;
        default: ck_assert_int_eq(barrier_aligner_on_channel_finished(m->a, (uint32_t)c, NULL), TE_OK); break;
        }
    }
}

static void check_no_loss(model_t *m)
{
    for (int c = 0; c < NCH; c++) {
        int k = 0;
        for (int i = 0; i < m->len[c]; i++)
            if (m->q[c][i].kind == 0)
                ck_assert_int_eq(m->delivered[c][k++], m->q[c][i].value);
        ck_assert_int_eq(k, m->n_delivered[c]);
        ck_assert_int_eq(m->pos[c], m->len[c]);
    }
}

/* Values: channel*100 + i; before barrier 1: i < 10; after: i >= 10. */
START_TEST(test_aligned_interleavings)
{
    for (unsigned seed = 1; seed <= 300; seed++) {
        model_t m = {0};
        m.a = barrier_aligner_new(NCH, 0, &ops, &m);
        for (int c = 0; c < NCH; c++) {
            int pre = (int)(seed + (unsigned)c) % 5, post = (int)(seed * 3 + (unsigned)c) % 4;
            for (int i = 0; i < pre; i++)
                push(&m, c, 0, c * 100 + i, 0);
            push(&m, c, 1, 0, 1);
            for (int i = 0; i < post; i++)
                push(&m, c, 0, c * 100 + 10 + i, 0);
            push(&m, c, 3, 0, 0);
        }
        run(&m, seed, NULL, NULL);
        check_no_loss(&m);
        ck_assert_int_eq(m.n_triggered, 1);
        ck_assert_uint_eq(m.triggered[0], 1);
        ck_assert_int_eq(m.n_aborted, 0);
        int seen_snapshot = 0;
        for (int i = 0; i < m.n_order; i++) {
            if (m.order[i] < 0) {
                seen_snapshot = 1;
                continue;
            }
            int is_post = m.order[i] % 100 >= 10;
            ck_assert_msg(is_post == seen_snapshot, "seed %u: value %d on the wrong side of the snapshot", seed,
                          m.order[i]);
        }
        ck_assert_uint_eq(barrier_aligner_pending(m.a), 0);
        barrier_aligner_free(m.a);
    }
}
END_TEST

START_TEST(test_cancel_marker_and_newer_barrier)
{
    model_t m = {0};
    m.a = barrier_aligner_new(NCH, 0, &ops, &m);
    /* barrier 1 on ch0 blocks it; a cancel marker 1 on ch1 ends the alignment */
    ck_assert_int_eq(barrier_aligner_on_barrier(m.a, 0, 1, 0, NULL), TE_OK);
    ck_assert(barrier_aligner_is_blocked(m.a, 0));
    ck_assert(m.blocked[0]);
    barrier_aligner_on_cancel_marker(m.a, 1, 1);
    ck_assert_int_eq(m.n_aborted, 1);
    ck_assert(!m.blocked[0]);
    /* the late barriers of 1 are ignored */
    for (uint32_t c = 1; c < NCH; c++)
        ck_assert_int_eq(barrier_aligner_on_barrier(m.a, c, 1, 0, NULL), TE_OK);
    ck_assert_int_eq(m.n_triggered, 0);
    /* barrier 2 on ch0, then 3 on ch1 subsumes 2 */
    barrier_aligner_on_barrier(m.a, 0, 2, 0, NULL);
    barrier_aligner_on_barrier(m.a, 1, 3, 0, NULL);
    ck_assert_int_eq(m.n_aborted, 2);
    ck_assert_uint_eq(m.aborted[1], 2);
    ck_assert_uint_eq(barrier_aligner_pending(m.a), 3);
    /* the coordinator aborts 3 */
    barrier_aligner_abort(m.a, 3, "aborted by the checkpoint coordinator");
    ck_assert_int_eq(m.n_aborted, 3);
    ck_assert(!m.blocked[1]);
    /* 4 completes normally, with channel 3 finished instead of a barrier */
    barrier_aligner_on_channel_finished(m.a, 3, NULL);
    for (uint32_t c = 0; c < 3; c++)
        barrier_aligner_on_barrier(m.a, c, 4, 0, NULL);
    ck_assert_int_eq(m.n_triggered, 1);
    ck_assert_uint_eq(m.triggered[0], 4);
    ck_assert(!m.blocked[0] && !m.blocked[1] && !m.blocked[2]);
    barrier_aligner_free(m.a);
}
END_TEST

START_TEST(test_unaligned_records_channel_state)
{
    for (unsigned seed = 1; seed <= 200; seed++) {
        model_t m = {0};
        m.a = barrier_aligner_new(NCH, 1, &ops, &m);
        for (int c = 0; c < NCH; c++) {
            for (int i = 0; i < 6; i++)
                push(&m, c, 0, c * 100 + i, 0);
            push(&m, c, 1, 0, 7);
            for (int i = 0; i < 3; i++)
                push(&m, c, 0, c * 100 + 10 + i, 0);
        }
        int rec[NCH][QMAX], nrec[NCH] = {0};
        run(&m, seed, rec, nrec);
        check_no_loss(&m);
        ck_assert_int_eq(m.n_triggered, 1);
        ck_assert_int_eq(m.n_completed, 1);
        /* oracle: the data of each channel delivered after the snapshot and before its
         * barrier (values < 10 that come after the snapshot in delivery order) */
        int after[NCH][QMAX], nafter[NCH] = {0}, snap = 0;
        for (int i = 0; i < m.n_order; i++) {
            if (m.order[i] < 0) {
                snap = 1;
                continue;
            }
            int c = m.order[i] / 100;
            if (snap && m.order[i] % 100 < 10)
                after[c][nafter[c]++] = m.order[i];
        }
        for (int c = 0; c < NCH; c++) {
            ck_assert_int_eq(nrec[c], nafter[c]);
            for (int i = 0; i < nrec[c]; i++)
                ck_assert_int_eq(rec[c][i], after[c][i]);
        }
        barrier_aligner_free(m.a);
    }
}
END_TEST

Suite *barrier_aligner_suite(void)
{
    Suite *s = suite_create("barrier_aligner");
    TCase *tc = tcase_create("alignment");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_aligned_interleavings);
    tcase_add_test(tc, test_cancel_marker_and_newer_barrier);
    tcase_add_test(tc, test_unaligned_records_channel_state);
    suite_add_tcase(s, tc);
    return s;
}
