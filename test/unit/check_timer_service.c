/*
 * Unit tests: the timer service (fires in timestamp order, de-duplicates (key, ts),
 * keeps event and processing timers apart; oracle: a sorted list of distinct pairs) and
 * processing-time timers fired by the mailbox loop on time while the loop is suspended
 * (it must not spin: the default action runs only when resumed); processing-time timers
 * across a checkpoint and a restart whose monotonic clock has another base (fake
 * clocks: a timer keeps its remaining wall-clock delay; legacy snapshots fire at once).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "runtime/mailbox.h"
#include "runtime/mailbox_processor.h"
#include "runtime/timer_service.h"

typedef struct pair {
    int64_t t;
    char key[8];
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return strcmp(x->key, y->key);
}

START_TEST(test_order_and_dedup)
{
    te_timer_service_t *ts = timer_service_new(128);
    enum { N = 3000 };
    static pair_t all[N], distinct[N];
    int nd = 0;
    srand(9);
    for (int i = 0; i < N; i++) {
        all[i].t = rand() % 500;
        snprintf(all[i].key, sizeof(all[i].key), "k%d", rand() % 7);
        int rc = timer_service_register(ts, TE_TIMER_EVENT, (uint8_t *)all[i].key, strlen(all[i].key), all[i].t);
        int dup = 0;
        for (int j = 0; j < nd; j++)
            if (distinct[j].t == all[i].t && strcmp(distinct[j].key, all[i].key) == 0)
                dup = 1;
        ck_assert_int_eq(rc, dup);
        if (!dup)
            distinct[nd++] = all[i];
    }
    ck_assert_uint_eq(timer_service_count(ts, TE_TIMER_EVENT), (size_t)nd);
    ck_assert_uint_eq(timer_service_count(ts, TE_TIMER_PROCESSING), 0);
    qsort(distinct, nd, sizeof(pair_t), pair_cmp);
    /* pop up to 249 first: exactly the timers with t <= 249 */
    int popped = 0;
    int64_t t, last = INT64_MIN;
    const uint8_t *k;
    uint32_t kl;
    static pair_t got[N];
    while (timer_service_pop(ts, TE_TIMER_EVENT, 249, &t, &k, &kl)) {
        ck_assert_int_le(t, 249);
        ck_assert_int_ge(t, last);
        last = t;
        got[popped].t = t;
        snprintf(got[popped].key, sizeof(got[popped].key), "%.*s", (int)kl, (const char *)k);
        popped++;
    }
    ck_assert_int_eq(timer_service_next(ts, TE_TIMER_EVENT) >= 250, 1);
    while (timer_service_pop(ts, TE_TIMER_EVENT, INT64_MAX, &t, &k, &kl)) {
        ck_assert_int_ge(t, last);
        last = t;
        got[popped].t = t;
        snprintf(got[popped].key, sizeof(got[popped].key), "%.*s", (int)kl, (const char *)k);
        popped++;
    }
    ck_assert_int_eq(popped, nd);
    qsort(got, popped, sizeof(pair_t), pair_cmp);
    for (int i = 0; i < nd; i++) {
        ck_assert_int_eq(got[i].t, distinct[i].t);
        ck_assert_str_eq(got[i].key, distinct[i].key);
    }
    ck_assert_int_eq(timer_service_next(ts, TE_TIMER_EVENT), INT64_MAX);
    /* a fired timer may be registered again */
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_EVENT, (uint8_t *)"k1", 2, 5), 0);
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_PROCESSING, (uint8_t *)"k1", 2, 5), 0);
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_PROCESSING, NULL, 0, 5), 0);
    ck_assert_uint_eq(timer_service_count(ts, TE_TIMER_PROCESSING), 2);
    timer_service_free(ts);
}
END_TEST

/* ---- processing-time timers in the mailbox loop ---- */

typedef struct loop_state {
    te_mailbox_processor_t *mp;
    int64_t timers[3]; /* due times, -1 fired */
    int64_t fired_at[3];
    int n_fired;
    int actions;
} loop_state_t;

static int64_t ls_next(void *arg)
{
    loop_state_t *ls = arg;
    int64_t best = -1;
    for (int i = 0; i < 3; i++)
        if (ls->timers[i] >= 0 && (best < 0 || ls->timers[i] < best))
            best = ls->timers[i];
    return best;
}

static te_status_t ls_fire(void *arg, int64_t now, te_error_t *err)
{
    (void)err;
    loop_state_t *ls = arg;
    for (int i = 0; i < 3; i++)
        if (ls->timers[i] >= 0 && ls->timers[i] <= now) {
            ls->fired_at[i] = now;
            ls->timers[i] = -1;
            ls->n_fired++;
        }
    if (ls->n_fired == 3)
        mailbox_processor_all_actions_completed(ls->mp);
    return TE_OK;
}

static te_status_t ls_action(void *arg, te_mailbox_processor_t *mp, te_error_t *err)
{
    (void)err;
    loop_state_t *ls = arg;
    ls->actions++;
    mailbox_processor_suspend(mp, -1); /* nothing to do: wait for a resume (never comes) */
    return TE_OK;
}

START_TEST(test_mailbox_fires_processing_timers)
{
    te_mailbox_t *mb = mailbox_new();
    loop_state_t ls = {0};
    te_mailbox_processor_t *mp = mailbox_processor_new(mb, ls_action, &ls, NULL);
    ls.mp = mp;
    int64_t now = te_clock_mono_ms();
    ls.timers[0] = now + 30;
    ls.timers[1] = now + 10;
    ls.timers[2] = now + 60;
    int64_t due[3] = {ls.timers[0], ls.timers[1], ls.timers[2]};
    mailbox_processor_set_timers(mp, ls_next, ls_fire, &ls);
    te_error_t err = {0};
    ck_assert_int_eq(mailbox_processor_run(mp, &err), TE_OK);
    ck_assert_int_eq(ls.n_fired, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(ls.fired_at[i], due[i]); /* never early */
    /* suspended for good: the default action ran once, the loop slept in between */
    ck_assert_int_eq(ls.actions, 1);
    mailbox_processor_free(mp);
    mailbox_free(mb);
}
END_TEST

/* ---- processing-time timers across a restart ---- */

/* Pops every timer of `kind` due at limit; returns how many. */
static int pop_all(te_timer_service_t *ts, int kind, int64_t limit, int64_t *first_t)
{
    int n = 0;
    int64_t t;
    const uint8_t *k;
    uint32_t kl;
    while (timer_service_pop(ts, kind, limit, &t, &k, &kl)) {
        if (n++ == 0 && first_t)
            *first_t = t;
    }
    return n;
}

/* A service holding a processing-time timer due 50 ms after `old.mono_ms`, one due 20 ms
 * before it, and an event-time timer at 1234, snapshotted 5 ms later. */
static void snapshot_three(te_timer_clock_t old, uint8_t **data, size_t *len)
{
    te_timer_service_t *ts = timer_service_new(128);
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_PROCESSING, (const uint8_t *)"k", 1, old.mono_ms + 50),
                     0);
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_PROCESSING, (const uint8_t *)"p", 1, old.mono_ms - 20),
                     0);
    ck_assert_int_eq(timer_service_register(ts, TE_TIMER_EVENT, (const uint8_t *)"k", 1, 1234), 0);
    te_timer_clock_t at = {old.mono_ms + 5, old.wall_ms + 5};
    te_error_t err = {0};
    ck_assert_int_eq(timer_service_snapshot(ts, at, data, len, &err), TE_OK);
    timer_service_free(ts);
}

START_TEST(test_processing_timers_survive_restart)
{
    const int64_t wall0 = 1700000000000LL;
    te_timer_clock_t old = {.mono_ms = 5000000, .wall_ms = wall0}; /* the old process: up 83 min */
    uint8_t *snap;
    size_t len;
    snapshot_three(old, &snap, &len);
    te_error_t err = {0};
    /* Restored 30 ms after the snapshot (35 ms after registration) on a host whose
     * monotonic clock is far behind (a fresh boot) or far ahead: the timer is due after
     * the remaining 15 ms of the new clock, never at the old clock's reading. */
    const int64_t bases[] = {1000, 9000000000LL, old.mono_ms};
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        te_timer_clock_t now = {.mono_ms = bases[b], .wall_ms = wall0 + 35};
        te_timer_service_t *ts = timer_service_new(128);
        ck_assert_int_eq(timer_service_restore(ts, snap, len, TE_TIMER_SNAPSHOT_VERSION, now, 0, 127, &err),
                         TE_OK);
        ck_assert_uint_eq(timer_service_count(ts, TE_TIMER_PROCESSING), 2);
        /* the one due before the snapshot is due at once (55 ms ago on the new clock) */
        int64_t t = 0;
        ck_assert_int_eq(pop_all(ts, TE_TIMER_PROCESSING, now.mono_ms, &t), 1);
        ck_assert_int_eq(t, now.mono_ms - 55);
        ck_assert_int_eq(timer_service_next(ts, TE_TIMER_PROCESSING), now.mono_ms + 15);
        ck_assert_int_eq(pop_all(ts, TE_TIMER_PROCESSING, now.mono_ms + 14, NULL), 0); /* not early */
        ck_assert_int_eq(pop_all(ts, TE_TIMER_PROCESSING, now.mono_ms + 15, &t), 1);
        ck_assert_int_eq(t, now.mono_ms + 15);
        /* event time is in the data: unchanged */
        ck_assert_int_eq(timer_service_next(ts, TE_TIMER_EVENT), 1234);
        timer_service_free(ts);
    }
    /* Restored long after both were due: due at once, and never before 0 (the mailbox
     * loop reads a negative time as "no timer"). */
    te_timer_clock_t late = {.mono_ms = 100, .wall_ms = wall0 + 3600000};
    te_timer_service_t *ts = timer_service_new(128);
    ck_assert_int_eq(timer_service_restore(ts, snap, len, TE_TIMER_SNAPSHOT_VERSION, late, 0, 127, &err), TE_OK);
    ck_assert_int_eq(timer_service_next(ts, TE_TIMER_PROCESSING), 0);
    ck_assert_int_eq(pop_all(ts, TE_TIMER_PROCESSING, late.mono_ms, NULL), 2);
    timer_service_free(ts);
    free(snap);
}
END_TEST

START_TEST(test_timer_snapshot_formats)
{
    /* Format 0 (older builds) holds the writer's monotonic readings; with both clocks
     * equal a snapshot writes exactly that. Its processing-time timers are due at once
     * on restore (at most the new clock's now), event-time ones unchanged. */
    te_timer_clock_t same = {.mono_ms = 5000000, .wall_ms = 5000000};
    uint8_t *snap;
    size_t len;
    snapshot_three(same, &snap, &len);
    te_error_t err = {0};
    te_timer_clock_t now = {.mono_ms = 4999990, .wall_ms = 1700000000000LL};
    te_timer_service_t *ts = timer_service_new(128);
    ck_assert_int_eq(timer_service_restore(ts, snap, len, TE_TIMER_SNAPSHOT_MONO, now, 0, 127, &err), TE_OK);
    int64_t t = 0;
    ck_assert_int_eq(pop_all(ts, TE_TIMER_PROCESSING, now.mono_ms, &t), 2);
    ck_assert_int_eq(t, 5000000 - 20); /* already due on the new clock: kept */
    ck_assert_int_eq(timer_service_next(ts, TE_TIMER_EVENT), 1234);
    timer_service_free(ts);
    /* an unknown format is refused and restores nothing */
    ts = timer_service_new(128);
    ck_assert_int_eq(timer_service_restore(ts, snap, len, TE_TIMER_SNAPSHOT_VERSION + 1, now, 0, 127, &err),
                     TE_EPROTO);
    ck_assert_ptr_nonnull(strstr(err.msg, "format 2"));
    ck_assert_uint_eq(timer_service_count(ts, TE_TIMER_PROCESSING) + timer_service_count(ts, TE_TIMER_EVENT), 0);
    timer_service_free(ts);
    free(snap);
}
END_TEST

Suite *timer_service_suite(void)
{
    Suite *s = suite_create("timer_service");
    TCase *tc = tcase_create("timers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_order_and_dedup);
    tcase_add_test(tc, test_mailbox_fires_processing_timers);
    tcase_add_test(tc, test_processing_timers_survive_restart);
    tcase_add_test(tc, test_timer_snapshot_formats);
    suite_add_tcase(s, tc);
    return s;
}
