/*
 * The unit-test runner: runs every Check suite of test/unit/ (discovered at build time
 * into unit_suites.h), in fork mode. `check_unit NAME...` runs only the named suites.
 *
 * Output: one line per suite (PASS, or FAIL with each failed test and the suite's
 * log), one "SKIP suite/test: why" per skipped test, then
 * "unit: N passed, N failed, N skipped". While a suite runs, its stdout and stderr
 * (the daemon log lines its tests provoke on purpose) go to a temporary file, printed
 * only when the suite fails; TE_UNIT_VERBOSE=1 lets them through.
 * Skips (unit_skip.h) reach the runner as lines appended to the file named by
 * $TE_UNIT_SKIP_FILE, which the runner sets.
 *
 * Threading: single-threaded (each test case runs in its own forked child).
 */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "unit/unit_skip.h"

#define SUITE(n) Suite *n##_suite(void);
#include "unit_suites.h"
#undef SUITE

struct entry {
    const char *name;
    Suite *(*fn)(void);
};

static const struct entry all[] = {
#define SUITE(n) {#n, n##_suite},
#include "unit_suites.h"
#undef SUITE
    {NULL, NULL},
};

/* Log lines of a failing suite printed at most (its tail). */
#define LOG_TAIL_LINES 80

void unit_skip(const char *test_fn, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    size_t n = strlen(test_fn);
    int len = (int)(n > 3 && strcmp(test_fn + n - 3, "_fn") == 0 ? n - 3 : n); /* START_TEST's suffix */
    const char *ci = getenv("CI");
    if (ci != NULL && strcmp(ci, "true") == 0)
        ck_abort_msg("under CI=true nothing may skip, yet %.*s: %s", len, test_fn, why);
    const char *path = getenv("TE_UNIT_SKIP_FILE");
    int fd = path != NULL ? open(path, O_WRONLY | O_APPEND | O_CREAT, 0600) : -1;
    if (fd >= 0) {
        dprintf(fd, "%.*s: %s\n", len, test_fn, why);
        close(fd);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prints the last `lines` lines of f, each indented. */
static void print_tail(FILE *f, int lines)
{
    char buf[4096];
    long total = 0;
    rewind(f);
    while (fgets(buf, sizeof(buf), f) != NULL)
        total++;
    rewind(f);
    if (total > lines)
        printf("    | ... (%ld earlier log lines)\n", total - lines);
    for (long i = 0; fgets(buf, sizeof(buf), f) != NULL; i++)
        if (i >= total - lines)
            printf("    | %s%s", buf, strchr(buf, '\n') ? "" : "\n");
}

/* Prints the skip lines the suite's tests appended from `*offset` on; returns how many. */
static int report_skips(const char *path, const char *suite, long *offset)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int n = 0;
    char buf[1024];
    fseek(f, *offset, SEEK_SET);
    while (fgets(buf, sizeof(buf), f) != NULL) {
        printf("SKIP %s/%s", suite, buf);
        n++;
    }
    *offset = ftell(f);
    fclose(f);
    return n;
}

struct totals {
    int passed, failed, skipped;
};

/* Runs one suite with its output captured; prints its lines and adds to *t. */
static int run_suite(const struct entry *e, const char *skip_path, long *skip_off, struct totals *t)
{
    int verbose = getenv("TE_UNIT_VERBOSE") != NULL && strcmp(getenv("TE_UNIT_VERBOSE"), "0") != 0;
    SRunner *sr = srunner_create(e->fn());
    srunner_set_fork_status(sr, CK_FORK);
    FILE *cap = verbose ? NULL : tmpfile();
    int out = -1, err = -1;
    fflush(stdout);
    fflush(stderr);
    if (cap != NULL) {
        out = dup(STDOUT_FILENO);
        err = dup(STDERR_FILENO);
        dup2(fileno(cap), STDOUT_FILENO);
        dup2(fileno(cap), STDERR_FILENO);
    }
    double t0 = now_s();
    srunner_run_all(sr, CK_SILENT);
    double took = now_s() - t0;
    fflush(stdout);
    fflush(stderr);
    if (cap != NULL) {
        dup2(out, STDOUT_FILENO);
        dup2(err, STDERR_FILENO);
        close(out);
        close(err);
    }
    int run = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr);
    if (failed == 0) {
        printf("PASS %-32s %6.2fs  %d tests\n", e->name, took, run);
    } else {
        printf("FAIL %-32s %d of %d tests failed\n", e->name, failed, run);
        TestResult **r = srunner_failures(sr);
        for (int i = 0; i < failed; i++)
            printf("    %s:%d: %s: %s\n", tr_lfile(r[i]), tr_lno(r[i]), tr_tcname(r[i]), tr_msg(r[i]));
        free(r);
        if (cap != NULL)
            print_tail(cap, LOG_TAIL_LINES);
    }
    int skipped = report_skips(skip_path, e->name, skip_off);
    t->passed += run - failed - skipped;
    t->failed += failed;
    t->skipped += skipped;
    if (cap != NULL)
        fclose(cap);
    srunner_free(sr);
    return failed;
}

int main(int argc, char **argv)
{
    char skip_path[] = "/tmp/te-unit-skips.XXXXXX";
    int fd = mkstemp(skip_path);
    if (fd < 0) {
        perror("check_unit: mkstemp");
        return 2;
    }
    close(fd);
    setenv("TE_UNIT_SKIP_FILE", skip_path, 1);
    struct totals t = {0, 0, 0};
    long skip_off = 0;
    int matched = 0;
    for (const struct entry *e = all; e->name; e++) {
        int want = argc < 2;
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], e->name) == 0)
                want = 1;
        if (!want)
            continue;
        matched++;
        run_suite(e, skip_path, &skip_off, &t);
    }
    unlink(skip_path);
    if (matched == 0) {
        fprintf(stderr, "check_unit: no suite matched\n");
        return 2;
    }
    printf("unit: %d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    return t.failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
