/*
 * unit_assert — Check's assertions without a mark point per passing assertion. In fork
 * mode Check's ck_assert_msg (and every ck_assert_* built on it) sends the location of
 * each assertion that passes to the runner (a write to its message file), so that a
 * crash can be reported "after" the last one: a suite whose loops assert per record
 * made millions of writes (operator_restore: 2.8 M, most of its 27 s; ten times that
 * under the sanitizers). Here a passing assertion costs nothing; a failing one reports
 * its file and line as before. A crashing test is reported at its start instead
 * (call mark_point() where a crash's location matters; ASan/UBSan print the stack).
 *
 * Forced into every unit test object by the Makefile (-include), before their own
 * <check.h>, whose include guard then keeps this definition.
 */
#ifndef TE_UNIT_ASSERT_H
#define TE_UNIT_ASSERT_H

/* Included before the file's own first line: its feature macro must be set here, as
 * the files that need one set it (identically: a repeated empty definition is fine). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>

#undef ck_assert_msg
#define ck_assert_msg(expr, ...) \
    ((expr) ? (void)0 : _ck_assert_failed(__FILE__, __LINE__, "Assertion '" #expr "' failed", ##__VA_ARGS__))

#endif
