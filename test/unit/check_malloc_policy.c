/*
 * check_malloc_policy — malloc_policy: after a thread has freed large blocks, what the
 * process keeps resident once malloc_trim ran, with the daemon's policy and without it
 * (glibc's dynamic thresholds). Each run is a forked child of its own (mallopt is
 * process-wide), and the residue is read from /proc (RssAnon), not from malloc.
 *
 * Threading: each child runs the churn on one thread of its own, joined before it
 * measures.
 */
#define _GNU_SOURCE
#include <check.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/malloc_policy.h"
#include "unit_skip.h"

#define BIG_BYTES   (8u << 20)   /* one block freed first: raises glibc's thresholds */
#define CHUNK_BYTES (192u << 10) /* below the policy's threshold: from the thread's arena */
#define CHUNKS      48           /* 9 MiB */

static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}

/* What a task with large state does to its arena: a big block (a memtable's) used and
 * freed, then many smaller ones used and freed. */
static void *churn(void *arg)
{
    (void)arg;
    char *big = malloc(BIG_BYTES);
    if (big == NULL)
        return NULL;
    memset(big, 1, BIG_BYTES);
    free(big);
    char *c[CHUNKS];
    for (int i = 0; i < CHUNKS; i++)
        if ((c[i] = malloc(CHUNK_BYTES)) != NULL)
            memset(c[i], 1, CHUNK_BYTES);
    for (int i = 0; i < CHUNKS; i++)
        free(c[i]);
    return NULL;
}

/* In a forked child: the policy applied or not, the churn on a thread, malloc_trim;
 * returns the KiB of anonymous memory the child kept (or -1), and *applied. */
static long residue_kb(int policy, int *applied)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        long out[2] = {-1, 0};
        const char *why;
        if (policy)
            out[1] = malloc_policy_apply(&why);
        long before = rss_anon_kb();
        pthread_t t;
        if (pthread_create(&t, NULL, churn, NULL) == 0) {
            pthread_join(t, NULL);
            malloc_trim(0);
            out[0] = rss_anon_kb() - before;
        }
        ssize_t w = write(fds[1], out, sizeof(out));
        _exit(w == (ssize_t)sizeof(out) ? 0 : 1);
    }
    close(fds[1]);
    long in[2] = {-1, 0};
    ssize_t r = read(fds[0], in, sizeof(in));
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_int_eq(r, (ssize_t)sizeof(in));
    *applied = (int)in[1];
    return in[0];
}

START_TEST(test_freed_memory_goes_back)
{
    const char *t = getenv("GLIBC_TUNABLES");
    if (t != NULL && strstr(t, "glibc.malloc.") != NULL)
        UNIT_SKIP("GLIBC_TUNABLES sets malloc tunables for this process: glibc's defaults, the baseline, are off");
    int applied = 0, none = 0;
    long kept = residue_kb(1, &applied);
    long kept_default = residue_kb(0, &none);
    if (!applied) {
        /* a sanitizer's or valgrind's allocator: it keeps what it frees (quarantine)
         * and ignores mallopt; the policy must say it did nothing */
        const char *why;
        ck_assert_int_eq(malloc_policy_apply(&why), 0);
        ck_assert_ptr_nonnull(strstr(why, "allocator"));
        return;
    }
    /* glibc's dynamic thresholds: the arena's top stays resident (what the churn used) */
    ck_assert_msg(kept_default >= (long)(CHUNKS * CHUNK_BYTES / 1024) * 2 / 3,
                  "without the policy the child kept %ld KiB: the scenario no longer shows glibc's retention",
                  kept_default);
    /* the policy: each arena keeps at most about the threshold */
    ck_assert_msg(kept <= 4 * (long)TE_MALLOC_THRESHOLD / 1024,
                  "with the policy the child kept %ld KiB (without: %ld)", kept, kept_default);
}
END_TEST

/* An operator's own GLIBC_TUNABLES thresholds are kept. */
START_TEST(test_tunables_win)
{
    setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1048576", 1);
    const char *why;
    ck_assert_int_eq(malloc_policy_apply(&why), 0);
    unsetenv("GLIBC_TUNABLES");
    ck_assert_msg(strstr(why, "GLIBC_TUNABLES") != NULL || strstr(why, "allocator") != NULL, "why: %s", why);
}
END_TEST

Suite *malloc_policy_suite(void)
{
    Suite *s = suite_create("malloc_policy");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_freed_memory_goes_back);
    tcase_add_test(tc, test_tunables_win);
    suite_add_tcase(s, tc);
    return s;
}
