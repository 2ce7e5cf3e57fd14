/*
 * Unit tests: the log's rate limit of repeated lines. A WARN call site repeated 1,000
 * times writes its burst and nothing more; after the window one line sums the rest up
 * ("repeated 995 times ... : <the last one>"), written by the next line of that site
 * or by te_log_flush_repeats; other call sites and INFO lines are not limited; burst 0
 * turns the limit off. The oracle: the lines counted in the log file with grep-like
 * scans here.
 *
 * Threading: the test's thread only (Check runs each case in its own forked child).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static char logpath[64];

static void setup(void)
{
    snprintf(logpath, sizeof(logpath), "/tmp/te-unit-log.XXXXXX");
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(te_log_set_file(logpath), 0);
}

static void teardown(void)
{
    te_log_set_file(NULL);
    te_log_set_rate_limit(5, 10000);
    unlink(logpath);
}

/* Lines of the log containing `needle`. */
static int count_lines(const char *needle)
{
    FILE *f = fopen(logpath, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f) != NULL)
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

static void warn_peer(int i) { TE_WARN("rpc-server", "127.0.0.1:%d: connection refused", 10000 + i); }

START_TEST(test_repeats_summed_up)
{
    te_log_set_rate_limit(5, 200);
    for (int i = 0; i < 1000; i++)
        warn_peer(i);
    TE_WARN("rpc-server", "another call site %d", 1);
    for (int i = 0; i < 20; i++)
        TE_INFO("rpc-server", "info line %d", i);
    ck_assert_int_eq(count_lines("connection refused"), 5);
    ck_assert_int_eq(count_lines("another call site"), 1);
    ck_assert_int_eq(count_lines("info line"), 20);
    ck_assert_int_eq(count_lines("repeated"), 0);
    usleep(300 * 1000);
    te_log_flush_repeats();
    ck_assert_int_eq(count_lines("repeated 995 times in the last"), 1);
    ck_assert_int_eq(count_lines("s: 127.0.0.1:10999: connection refused"), 1);
    te_log_flush_repeats(); /* nothing new */
    ck_assert_int_eq(count_lines("repeated"), 1);
    /* the flood goes on: still counted, summed up by the next line of the site */
    for (int i = 0; i < 10; i++)
        warn_peer(i);
    usleep(300 * 1000);
    warn_peer(42);
    ck_assert_int_eq(count_lines("repeated 10 times in the last"), 1);
    ck_assert_int_eq(count_lines("127.0.0.1:10042: connection refused"), 1);
}
END_TEST

START_TEST(test_limit_off)
{
    te_log_set_rate_limit(0, 10000);
    for (int i = 0; i < 100; i++)
        warn_peer(i);
    ck_assert_int_eq(count_lines("connection refused"), 100);
}
END_TEST

Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("rate_limit");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_repeats_summed_up);
    tcase_add_test(tc, test_limit_off);
    suite_add_tcase(s, tc);
    return s;
}
