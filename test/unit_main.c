/*
 * The unit-test runner: runs every Check suite of test/unit/ (discovered at build time
 * into unit_suites.h), in fork mode. `check_unit NAME...` runs only the named suites.
 *
 * Suites run TE_UNIT_JOBS at a time (default 2), each in a forked worker whose output is
 * printed when it ends (so a suite's lines stay together; suites finish out of order).
 *
 * Output: one line per suite (PASS, or FAIL with each failed test and the suite's
 * log), one "SKIP suite/test: why" per skipped test, then
 * "unit: N passed, N failed, N skipped". While a suite runs, its stdout and stderr
 * (the daemon log lines its tests provoke on purpose) go to a temporary file, printed
 * only when the suite fails; TE_UNIT_VERBOSE=1 lets them through.
 * Skips (unit_skip.h) reach the runner as lines appended to the file named by
 * $TE_UNIT_SKIP_FILE, which the runner sets.
 *
 * Threading: single-threaded; each suite runs in a forked worker, each test case in a
 * child of that worker.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
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

/* One suite run in a forked worker: its output goes to `out`, its totals down `totals_fd`. */
struct worker {
    pid_t pid;
    const struct entry *e;
    FILE *out;
    int totals_fd;
};

static int worker_start(struct worker *w, const struct entry *e)
{
    int p[2];
    FILE *out = tmpfile();
    if (out == NULL || pipe(p) < 0) {
        perror("check_unit: worker");
        if (out != NULL)
            fclose(out);
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("check_unit: fork");
        fclose(out);
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        dup2(fileno(out), STDOUT_FILENO);
        char skip_path[] = "/tmp/te-unit-skips.XXXXXX";
        int fd = mkstemp(skip_path);
        if (fd < 0)
            _exit(2);
        close(fd);
        setenv("TE_UNIT_SKIP_FILE", skip_path, 1);
        struct totals t = {0, 0, 0};
        long skip_off = 0;
        run_suite(e, skip_path, &skip_off, &t);
        fflush(stdout);
        unlink(skip_path);
        _exit(write(p[1], &t, sizeof(t)) == (ssize_t)sizeof(t) ? 0 : 2);
    }
    close(p[1]);
    *w = (struct worker){pid, e, out, p[0]};
    return 0;
}

/* Waits for any worker, prints its output and adds its totals; returns its slot. */
static int worker_finish(struct worker *ws, int n, struct totals *t)
{
    int status;
    pid_t pid;
    do
        pid = waitpid(-1, &status, 0);
    while (pid < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        if (w->pid != pid)
            continue;
        struct totals r;
        int ok = read(w->totals_fd, &r, sizeof(r)) == (ssize_t)sizeof(r) && WIFEXITED(status) &&
                 WEXITSTATUS(status) == 0;
        char buf[4096];
        size_t got;
        rewind(w->out);
        while ((got = fread(buf, 1, sizeof(buf), w->out)) > 0)
            fwrite(buf, 1, got, stdout);
        if (!ok) {
            printf("FAIL %-32s the suite's runner died (status %d)\n", w->e->name, status);
            r = (struct totals){0, 1, 0};
        }
        fflush(stdout);
        t->passed += r.passed;
        t->failed += r.failed;
        t->skipped += r.skipped;
        fclose(w->out);
        close(w->totals_fd);
        w->pid = 0;
        return i;
    }
    return -1;
}

int main(int argc, char **argv)
{
    const char *jobs_env = getenv("TE_UNIT_JOBS");
    int jobs = jobs_env != NULL ? atoi(jobs_env) : 2;
    if (jobs < 1 || jobs > 64) {
        fprintf(stderr, "check_unit: TE_UNIT_JOBS must be 1..64, not '%s'\n", jobs_env);
        return 2;
    }
    struct worker ws[64] = {{0}};
    struct totals t = {0, 0, 0};
    int matched = 0, running = 0;
    for (const struct entry *e = all; e->name; e++) {
        int want = argc < 2;
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], e->name) == 0)
                want = 1;
        if (!want)
            continue;
        matched++;
        int slot = 0;
        if (running == jobs) {
            slot = worker_finish(ws, jobs, &t);
            running--;
        } else {
            while (ws[slot].pid != 0)
                slot++;
        }
        if (slot < 0 || worker_start(&ws[slot], e) < 0)
            return 2;
        running++;
    }
    while (running > 0) {
        worker_finish(ws, jobs, &t);
        running--;
    }
    if (matched == 0) {
        fprintf(stderr, "check_unit: no suite matched\n");
        return 2;
    }
    printf("unit: %d passed, %d failed, %d skipped\n", t.passed, t.failed, t.skipped);
    return t.failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
