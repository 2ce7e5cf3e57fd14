/*
 * check_threads — thread names (thread_name) and the task threads' scheduling policy
 * (thread_sched). The policy a thread really has is read from /proc (the kernel's
 * view), not only through the helper that set it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/thread_name.h"
#include "common/thread_sched.h"

/* te_thread_name_shorten into a buffer full of garbage: the result must end itself. */
static void shorten(const char *prefix, const char *name, char out[16])
{
    memset(out, 'X', 16);
    te_thread_name_shorten(prefix, name, out);
}

START_TEST(test_name_shorten)
{
    char out[16];
    shorten(NULL, "te-flusher", out);
    ck_assert_str_eq(out, "te-flusher");
    shorten("te-", "net-io-0", out);
    ck_assert_str_eq(out, "te-net-io-0");
    /* a subtask suffix survives; the vertex name is cut before it */
    shorten(NULL, "Tokenize words (2/4)", out);
    ck_assert_str_eq(out, "Tokenize (2/4)"); /* no double space */
    shorten("src:", "sequence-source (12/16)", out);
    ck_assert_str_eq(out, "src:seq (12/16)");
    ck_assert_uint_eq(strlen(out), 15);
    /* exactly 15: unchanged */
    shorten(NULL, "abcdefghi (1/2)", out);
    ck_assert_str_eq(out, "abcdefghi (1/2)");
    /* no suffix (or not a subtask one): plain truncation */
    shorten(NULL, "a-very-long-vertex-name", out);
    ck_assert_str_eq(out, "a-very-long-ver");
    shorten(NULL, "a-very-long-vertex (x/y)", out);
    ck_assert_str_eq(out, "a-very-long-ver");
    shorten(NULL, "a-very-long-vertex(1/2)", out);
    ck_assert_str_eq(out, "a-very-long-ver");
    shorten(NULL, NULL, out);
    ck_assert_str_eq(out, "");
}
END_TEST

struct named {
    char got[16];
};

static void *name_self(void *arg)
{
    struct named *n = arg;
    te_thread_set_name(NULL, "keyed-count-window (3/8)");
    pthread_getname_np(pthread_self(), n->got, sizeof(n->got));
    return NULL;
}

START_TEST(test_name_set)
{
    struct named n = {{0}};
    pthread_t th;
    pthread_create(&th, NULL, name_self, &n);
    pthread_join(th, NULL);
    ck_assert_str_eq(n.got, "keyed-cou (3/8)");
}
END_TEST

START_TEST(test_policy_parse)
{
    ck_assert_int_eq(te_sched_policy_parse("batch"), TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(te_sched_policy_parse("BATCH"), TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(te_sched_policy_parse("other"), TE_SCHED_POLICY_OTHER);
    ck_assert_int_eq(te_sched_policy_parse("Auto"), TE_SCHED_POLICY_AUTO);
    ck_assert_int_eq(te_sched_policy_parse("fifo"), -1);
    ck_assert_int_eq(te_sched_policy_parse(""), -1);
    ck_assert_int_eq(te_sched_policy_parse(NULL), -1);
    ck_assert_str_eq(te_sched_policy_name(TE_SCHED_POLICY_BATCH), "batch");
    ck_assert_str_eq(te_sched_policy_name(TE_SCHED_POLICY_OTHER), "other");
    ck_assert_str_eq(te_sched_policy_name(TE_SCHED_POLICY_AUTO), "auto");
    /* auto: latency first for a task that flushes every record, batch otherwise */
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_AUTO, 0), TE_SCHED_POLICY_OTHER);
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_AUTO, 100), TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_AUTO, 1), TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_AUTO, -1), TE_SCHED_POLICY_BATCH);
    /* explicit choices stand */
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_BATCH, 0), TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(te_sched_policy_for_task(TE_SCHED_POLICY_OTHER, 100), TE_SCHED_POLICY_OTHER);
}
END_TEST

/* The calling thread's policy as the kernel reports it: field 41 of its stat line. */
static int proc_policy(void)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", (long)syscall(SYS_gettid));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    char *p = strrchr(line, ')'); /* the name may hold spaces */
    if (p == NULL)
        return -1;
    int field = 2, policy = -1;
    for (char *tok = strtok(p + 1, " "); tok != NULL; tok = strtok(NULL, " "))
        if (++field == 41) {
            policy = atoi(tok);
            break;
        }
    return policy;
}

struct policies {
    int after_batch, helper_batch, child, after_other, helper_other;
};

static void *report_policy(void *arg)
{
    *(int *)arg = proc_policy();
    return NULL;
}

static void *switch_policy(void *arg)
{
    struct policies *p = arg;
    ck_assert_int_eq(te_thread_set_sched_policy(TE_SCHED_POLICY_BATCH), 0);
    p->after_batch = proc_policy();
    p->helper_batch = te_thread_sched_policy();
    pthread_t th; /* a thread it starts (a source thread) inherits the policy */
    pthread_create(&th, NULL, report_policy, &p->child);
    pthread_join(th, NULL);
    ck_assert_int_eq(te_thread_set_sched_policy(TE_SCHED_POLICY_OTHER), 0);
    p->after_other = proc_policy();
    p->helper_other = te_thread_sched_policy();
    return NULL;
}

START_TEST(test_policy_set)
{
    struct policies p = {-1, -1, -1, -1, -1};
    pthread_t th;
    pthread_create(&th, NULL, switch_policy, &p);
    pthread_join(th, NULL);
    ck_assert_int_eq(p.after_batch, SCHED_BATCH);
    ck_assert_int_eq(p.helper_batch, TE_SCHED_POLICY_BATCH);
    ck_assert_int_eq(p.child, SCHED_BATCH);
    ck_assert_int_eq(p.after_other, SCHED_OTHER);
    ck_assert_int_eq(p.helper_other, TE_SCHED_POLICY_OTHER);
    ck_assert_int_eq(proc_policy(), SCHED_OTHER); /* only the calling thread changed */
}
END_TEST

Suite *threads_suite(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_name_shorten);
    tcase_add_test(tc, test_name_set);
    tcase_add_test(tc, test_policy_parse);
    tcase_add_test(tc, test_policy_set);
    suite_add_tcase(s, tc);
    return s;
}
