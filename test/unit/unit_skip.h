/*
 * Skipping a unit test that cannot run here. UNIT_SKIP("why %s", ...) records the
 * test as skipped (the runner prints "SKIP <suite>/<test>: why" and counts it) and
 * returns from the test. Under CI=true it fails the test instead: CI runs as root on
 * Debian 12 with every package, so anything that skips there is a fault.
 *
 * Threading: call it from the test's own thread (Check's forked child).
 */
#ifndef TE_UNIT_SKIP_H
#define TE_UNIT_SKIP_H

void unit_skip(const char *test_fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define UNIT_SKIP(...)                    \
    do {                                  \
        unit_skip(__func__, __VA_ARGS__); \
        return;                           \
    } while (0)

#endif
