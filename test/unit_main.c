/*
 * The unit-test runner: runs every Check suite of test/unit/ (discovered at build time
 * into unit_suites.h), in fork mode. `check_unit NAME...` runs only the named suites.
 *
 * Threading: single-threaded (each test case runs in its own forked child).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    for (const struct entry *e = all; e->name; e++) {
        int want = argc < 2;
        for (int i = 1; i < argc; i++)
            if (strcmp(argv[i], e->name) == 0)
                want = 1;
        if (!want)
            continue;
        if (sr == NULL)
            sr = srunner_create(e->fn());
        else
            srunner_add_suite(sr, e->fn());
    }
    if (sr == NULL) {
        fprintf(stderr, "check_unit: no suite matched\n");
        return 2;
    }
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
