/* Unit tests: mailbox (order, priorities, concurrent producers, states, deadlines) and
 * mailbox_processor (default action between mails, suspend/resume, completion). */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "runtime/mailbox.h"
#include "runtime/mailbox_processor.h"

/* ---- helpers: a mail that appends its value to a log ---- */

#define LOG_MAX 100000
static int g_log[LOG_MAX];
static int g_log_n;

static void log_mail(void *arg) { g_log[g_log_n++] = (int)(intptr_t)arg; }

static int g_dropped;
static void count_drop(void *arg)
{
    (void)arg;
    g_dropped++;
}

static void drain_all(te_mailbox_t *mb)
{
    te_mail_t m;
    while (mailbox_try_take(mb, &m))
        mail_run(&m);
}

START_TEST(test_fifo_order)
{
    te_mailbox_t *mb = mailbox_new();
    g_log_n = 0;
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(mailbox_put(mb, log_mail, (void *)(intptr_t)i, TE_MAIL_PRIO_DEFAULT, "t"), TE_OK);
    ck_assert_int_eq(mailbox_has_mail(mb), 1);
    drain_all(mb);
    ck_assert_int_eq(g_log_n, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(g_log[i], i);
    ck_assert_int_eq(mailbox_has_mail(mb), 0);
    mailbox_free(mb);
}
END_TEST

START_TEST(test_priorities)
{
    te_mailbox_t *mb = mailbox_new();
    g_log_n = 0;
    mailbox_put(mb, log_mail, (void *)1, TE_MAIL_PRIO_DEFAULT, "t");
    mailbox_put(mb, log_mail, (void *)2, TE_MAIL_PRIO_HIGH, "t");
    mailbox_put(mb, log_mail, (void *)3, TE_MAIL_PRIO_DEFAULT, "t");
    mailbox_put(mb, log_mail, (void *)4, TE_MAIL_PRIO_MAX, "t");
    mailbox_put(mb, log_mail, (void *)5, TE_MAIL_PRIO_HIGH, "t");
    te_mail_t m;
    /* take one: the batch now holds the rest */
    ck_assert(mailbox_try_take(mb, &m));
    mail_run(&m);
    ck_assert_int_eq(g_log[0], 4);
    /* a MAX mail put after the batch was formed still overtakes it */
    mailbox_put(mb, log_mail, (void *)6, TE_MAIL_PRIO_MAX, "t");
    drain_all(mb);
    int want[] = {4, 6, 2, 5, 1, 3};
    ck_assert_int_eq(g_log_n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(g_log[i], want[i]);
    ck_assert_int_eq(mailbox_put(mb, log_mail, NULL, 7, "bad"), TE_EINVAL);
    mailbox_free(mb);
}
END_TEST

#define PRODUCERS    4
#define PER_PRODUCER 5000

typedef struct prod_arg {
    te_mailbox_t *mb;
    int id;
} prod_arg_t;

static void *producer(void *arg)
{
    prod_arg_t *pa = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        intptr_t v = (intptr_t)pa->id * PER_PRODUCER + i;
        while (mailbox_put(pa->mb, log_mail, (void *)v, TE_MAIL_PRIO_DEFAULT, "p") != TE_OK)
            ;
    }
    return NULL;
}

START_TEST(test_concurrent_producers)
{
    te_mailbox_t *mb = mailbox_new();
    g_log_n = 0;
    pthread_t th[PRODUCERS];
    prod_arg_t pa[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i].mb = mb;
        pa[i].id = i;
        pthread_create(&th[i], NULL, producer, &pa[i]);
    }
    te_mail_t m;
    while (g_log_n < PRODUCERS * PER_PRODUCER) {
        ck_assert_int_eq(mailbox_take(mb, te_clock_mono_ms() + 10000, &m), TE_OK);
        mail_run(&m);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(mailbox_try_take(mb, &m), 0);
    /* exactly once, per-producer order kept */
    int last[PRODUCERS];
    char *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
    for (int i = 0; i < PRODUCERS; i++)
        last[i] = -1;
    for (int i = 0; i < g_log_n; i++) {
        int v = g_log[i];
        ck_assert(v >= 0 && v < PRODUCERS * PER_PRODUCER);
        ck_assert_int_eq(seen[v], 0);
        seen[v] = 1;
        int p = v / PER_PRODUCER, k = v % PER_PRODUCER;
        ck_assert_int_gt(k, last[p]);
        last[p] = k;
    }
    for (int i = 0; i < PRODUCERS; i++)
        ck_assert_int_eq(last[i], PER_PRODUCER - 1);
    free(seen);
    mailbox_free(mb);
}
END_TEST

START_TEST(test_states)
{
    te_mailbox_t *mb = mailbox_new();
    g_log_n = 0;
    g_dropped = 0;
    ck_assert_int_eq(mailbox_state(mb), TE_MAILBOX_OPEN);
    mailbox_put_ex(mb, log_mail, count_drop, (void *)1, 0, "a");
    mailbox_put_ex(mb, log_mail, count_drop, (void *)2, 0, "b");
    mailbox_quiesce(mb);
    ck_assert_int_eq(mailbox_state(mb), TE_MAILBOX_QUIESCED);
    ck_assert_int_eq(mailbox_put(mb, log_mail, (void *)3, 0, "c"), TE_ESTATE);
    /* still drainable */
    te_mail_t m;
    ck_assert_int_eq(mailbox_take(mb, -1, &m), TE_OK);
    mail_run(&m);
    ck_assert_int_eq(g_log[0], 1);
    /* close drops the remaining one through its drop callback */
    ck_assert_uint_eq(mailbox_close(mb), 1);
    ck_assert_int_eq(g_dropped, 1);
    ck_assert_int_eq(g_log_n, 1);
    ck_assert_int_eq(mailbox_state(mb), TE_MAILBOX_CLOSED);
    ck_assert_int_eq(mailbox_put(mb, log_mail, (void *)4, 0, "d"), TE_ESTATE);
    ck_assert_int_eq(mailbox_take(mb, -1, &m), TE_ESTATE);
    ck_assert_int_eq(mailbox_try_take(mb, &m), 0);
    mailbox_free(mb);

    /* mailbox_free drops pending mails too */
    mb = mailbox_new();
    g_dropped = 0;
    mailbox_put_ex(mb, log_mail, count_drop, NULL, 0, "a");
    mailbox_free(mb);
    ck_assert_int_eq(g_dropped, 1);
}
END_TEST

START_TEST(test_take_deadline)
{
    te_mailbox_t *mb = mailbox_new();
    te_mail_t m;
    int64_t t0 = te_clock_mono_ms();
    ck_assert_int_eq(mailbox_take(mb, t0 + 50, &m), TE_ETIMEOUT);
    ck_assert_int_ge(te_clock_mono_ms(), t0 + 50);
    /* a deadline in the past still returns a pending mail */
    mailbox_put(mb, log_mail, (void *)1, 0, "a");
    ck_assert_int_eq(mailbox_take(mb, t0, &m), TE_OK);
    mailbox_free(mb);
}
END_TEST

/* Busy poll: mails from other threads are taken while the mailbox thread spins (every
 * one, in order), a deadline inside the spin window still ends the wait, and a
 * close during the spin ends it with ESTATE. */
static void *late_producer(void *arg)
{
    te_mailbox_t *mb = arg;
    for (int i = 0; i < 1000; i++) {
        mailbox_put(mb, log_mail, (void *)(intptr_t)i, 0, "late");
        if (i % 100 == 0)
            usleep(1000);
    }
    return NULL;
}

static void *late_closer(void *arg)
{
    usleep(20000);
    mailbox_close(arg);
    return NULL;
}

START_TEST(test_busy_poll_take)
{
    te_mailbox_t *mb = mailbox_new();
    mailbox_set_busy_poll(mb, 3600 * 1000000000LL); /* a spin that missed its end would hit the case timeout */
    g_log_n = 0;
    pthread_t th;
    pthread_create(&th, NULL, late_producer, mb);
    te_mail_t m;
    while (g_log_n < 1000) {
        ck_assert_int_eq(mailbox_take(mb, -1, &m), TE_OK);
        mail_run(&m);
    }
    pthread_join(th, NULL);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(g_log[i], i);
    ck_assert_int_eq(mailbox_take(mb, te_clock_mono_ms() + 20, &m), TE_ETIMEOUT);
    pthread_create(&th, NULL, late_closer, mb);
    ck_assert_int_eq(mailbox_take(mb, -1, &m), TE_ESTATE);
    pthread_join(th, NULL);
    mailbox_free(mb);
}
END_TEST

/* ---- processor ---- */

typedef struct proc_fixture {
    te_mailbox_t *mb;
    te_mailbox_processor_t *mp;
    _Atomic int action_calls;
    _Atomic int suspended_flag; /* 1 while the action has suspended itself */
    int mode;                   /* see actions */
    int limit;
    _Atomic int violations; /* action ran while suspended */
    int64_t resume_at;
} proc_fixture_t;

/* mode 0: log "A" (-1) each call, complete after `limit` calls */
/* mode 1: suspend on first call; complete on the second */
/* mode 2: suspend with a resume time; complete on the second */
static te_status_t test_action(void *arg, te_mailbox_processor_t *mp, te_error_t *err)
{
    (void)err;
    proc_fixture_t *f = arg;
    if (atomic_load(&f->suspended_flag))
        atomic_fetch_add(&f->violations, 1);
    int n = atomic_fetch_add(&f->action_calls, 1) + 1;
    switch (f->mode) {
    case 0:
        g_log[g_log_n++] = -1;
        if (n >= f->limit)
            mailbox_processor_all_actions_completed(mp);
        break;
    case 1:
    case 2:
        if (n == 1) {
            atomic_store(&f->suspended_flag, 1);
            mailbox_processor_suspend(mp, f->mode == 2 ? f->resume_at : -1);
        } else {
            mailbox_processor_all_actions_completed(mp);
        }
        break;
    }
    return TE_OK;
}

START_TEST(test_processor_default_action_between_mails)
{
    proc_fixture_t f = {0};
    te_task_metrics_t metrics = {0};
    f.mb = mailbox_new();
    f.mp = mailbox_processor_new(f.mb, test_action, &f, &metrics);
    f.mode = 0;
    f.limit = 3;
    g_log_n = 0;
    mailbox_put(f.mb, log_mail, (void *)1, 0, "a");
    mailbox_put(f.mb, log_mail, (void *)2, 0, "b");
    te_error_t err = {0};
    ck_assert_int_eq(mailbox_processor_run(f.mp, &err), TE_OK);
    /* all available mails first, then the default action each round */
    int want[] = {1, 2, -1, -1, -1};
    ck_assert_int_eq(g_log_n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(g_log[i], want[i]);
    ck_assert_int_eq(atomic_load(&f.action_calls), 3);
    mailbox_processor_free(f.mp);
    mailbox_free(f.mb);
}
END_TEST

static void *resumer(void *arg)
{
    proc_fixture_t *f = arg;
    while (!atomic_load(&f->suspended_flag))
        usleep(1000);
    usleep(100 * 1000); /* the loop must stay blocked meanwhile */
    /* the action must not have been called again while suspended */
    if (atomic_load(&f->action_calls) != 1)
        atomic_fetch_add(&f->violations, 100);
    atomic_store(&f->suspended_flag, 0);
    te_mailbox_waker_t *w = mailbox_processor_waker(f->mp);
    mailbox_waker_wake(w);
    mailbox_waker_unref(w);
    return NULL;
}

START_TEST(test_processor_suspend_resume)
{
    proc_fixture_t f = {0};
    te_task_metrics_t metrics = {0};
    f.mb = mailbox_new();
    f.mp = mailbox_processor_new(f.mb, test_action, &f, &metrics);
    f.mode = 1;
    pthread_t th;
    pthread_create(&th, NULL, resumer, &f);
    te_error_t err = {0};
    ck_assert_int_eq(mailbox_processor_run(f.mp, &err), TE_OK);
    pthread_join(th, NULL);
    ck_assert_int_eq(atomic_load(&f.violations), 0);
    ck_assert_int_eq(atomic_load(&f.action_calls), 2);
    ck_assert_uint_gt(task_metrics_get(&metrics.idle_ns), 50ull * 1000 * 1000);
    mailbox_processor_free(f.mp);
    mailbox_free(f.mb);
}
END_TEST

START_TEST(test_processor_resume_at_time)
{
    proc_fixture_t f = {0};
    f.mb = mailbox_new();
    f.mp = mailbox_processor_new(f.mb, test_action, &f, NULL);
    f.mode = 2;
    int64_t t0 = te_clock_mono_ms();
    f.resume_at = t0 + 60;
    te_error_t err = {0};
    ck_assert_int_eq(mailbox_processor_run(f.mp, &err), TE_OK);
    ck_assert_int_ge(te_clock_mono_ms(), t0 + 60);
    ck_assert_int_eq(atomic_load(&f.action_calls), 2);
    mailbox_processor_free(f.mp);
    mailbox_free(f.mb);
}
END_TEST

/* A resume that arrives before the suspend is not lost. */
static te_status_t early_resume_action(void *arg, te_mailbox_processor_t *mp, te_error_t *err)
{
    (void)err;
    proc_fixture_t *f = arg;
    int n = atomic_fetch_add(&f->action_calls, 1) + 1;
    if (n == 1) {
        mailbox_processor_resume(mp); /* "listener fired" between poll and suspend */
        mailbox_processor_suspend(mp, -1);
    } else {
        mailbox_processor_all_actions_completed(mp);
    }
    return TE_OK;
}

START_TEST(test_processor_early_resume)
{
    proc_fixture_t f = {0};
    f.mb = mailbox_new();
    f.mp = mailbox_processor_new(f.mb, early_resume_action, &f, NULL);
    te_error_t err = {0};
    ck_assert_int_eq(mailbox_processor_run(f.mp, &err), TE_OK);
    ck_assert_int_eq(atomic_load(&f.action_calls), 2);
    mailbox_processor_free(f.mp);
    mailbox_free(f.mb);
}
END_TEST

static te_mailbox_processor_t *g_mp;
static void complete_mail(void *arg)
{
    (void)arg;
    mailbox_processor_all_actions_completed(g_mp);
}
static void fail_mail(void *arg)
{
    (void)arg;
    mailbox_processor_fail(g_mp, TE_EIO, "boom");
}

static te_status_t forever_action(void *arg, te_mailbox_processor_t *mp, te_error_t *err)
{
    (void)err;
    (void)mp;
    proc_fixture_t *f = arg;
    atomic_fetch_add(&f->action_calls, 1);
    return TE_OK;
}

static void *put_later(void *arg)
{
    proc_fixture_t *f = arg;
    usleep(20 * 1000);
    mailbox_put(f->mb, f->mode ? fail_mail : complete_mail, NULL, TE_MAIL_PRIO_MAX, "end");
    return NULL;
}

START_TEST(test_processor_completion_and_failure)
{
    for (int mode = 0; mode < 2; mode++) {
        proc_fixture_t f = {0};
        f.mb = mailbox_new();
        f.mp = g_mp = mailbox_processor_new(f.mb, forever_action, &f, NULL);
        f.mode = mode;
        pthread_t th;
        pthread_create(&th, NULL, put_later, &f);
        te_error_t err = {0};
        te_status_t rc = mailbox_processor_run(f.mp, &err);
        pthread_join(th, NULL);
        if (mode == 0) {
            ck_assert_int_eq(rc, TE_OK);
        } else {
            ck_assert_int_eq(rc, TE_EIO);
            ck_assert_str_eq(err.msg, "boom");
        }
        ck_assert_int_gt(atomic_load(&f.action_calls), 0);
        mailbox_processor_free(f.mp);
        mailbox_free(f.mb);
    }
}
END_TEST

START_TEST(test_waker_after_free)
{
    te_mailbox_t *mb = mailbox_new();
    proc_fixture_t f = {0};
    te_mailbox_processor_t *mp = mailbox_processor_new(mb, forever_action, &f, NULL);
    te_mailbox_waker_t *w = mailbox_processor_waker(mp);
    mailbox_waker_wake(w);
    te_mail_t m;
    ck_assert(mailbox_try_take(mb, &m)); /* the resume mail */
    mail_run(&m);
    mailbox_processor_free(mp);
    mailbox_waker_wake(w); /* no-op now */
    ck_assert(!mailbox_try_take(mb, &m));
    mailbox_waker_unref(w);
    mailbox_free(mb);
}
END_TEST

Suite *mailbox_suite(void)
{
    Suite *s = suite_create("mailbox");
    TCase *tc = tcase_create("mailbox");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fifo_order);
    tcase_add_test(tc, test_priorities);
    tcase_add_test(tc, test_concurrent_producers);
    tcase_add_test(tc, test_states);
    tcase_add_test(tc, test_take_deadline);
    tcase_add_test(tc, test_busy_poll_take);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("processor");
    tcase_set_timeout(tp, 30);
    tcase_add_test(tp, test_processor_default_action_between_mails);
    tcase_add_test(tp, test_processor_suspend_resume);
    tcase_add_test(tp, test_processor_resume_at_time);
    tcase_add_test(tp, test_processor_early_resume);
    tcase_add_test(tp, test_processor_completion_and_failure);
    tcase_add_test(tp, test_waker_after_free);
    suite_add_tcase(s, tp);
    return s;
}
