/*
 * Unit tests: the timer service (fires in timestamp order, de-duplicates (key, ts),
 * keeps event and processing timers apart; oracle: a sorted list of distinct pairs) and
 * processing-time timers fired by the mailbox loop on time while the loop is suspended
 * (it must not spin: the default action runs only when resumed).
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

Suite *timer_service_suite(void)
{
    Suite *s = suite_create("timer_service");
    TCase *tc = tcase_create("timers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_order_and_dedup);
    tcase_add_test(tc, test_mailbox_fires_processing_timers);
    suite_add_tcase(s, tc);
    return s;
}
