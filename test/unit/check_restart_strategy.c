/*
 * Unit tests: the JobMaster's restart strategy (lib/jobmaster/restart_strategy: fixed
 * delay, a budget of restarts, unrecoverable failures) and its checkpoint failure
 * manager (lib/jobmaster/checkpoint_failure_manager: consecutive failed checkpoints,
 * once per id, the kinds that count, reset by a success). Expected values are written
 * out here from the rules.
 *
 * Threading: single-threaded.
 */
#include <check.h>

#include "jobmaster/checkpoint_failure_manager.h"
#include "jobmaster/restart_strategy.h"

START_TEST(test_restart_strategy)
{
    te_restart_strategy_t *rs = restart_strategy_fixed_delay_new(2, 300);
    ck_assert_int_eq(restart_strategy_on_failure(rs, 0), 0); /* not recoverable */
    ck_assert_int_eq(restart_strategy_on_failure(rs, 1), 1);
    ck_assert_int_eq(restart_strategy_on_failure(rs, 1), 1);
    ck_assert_int_eq(restart_strategy_on_failure(rs, 1), 0);
    ck_assert_int_eq(restart_strategy_restarts(rs), 2);
    ck_assert_int_eq(restart_strategy_backoff_ms(rs), 300);
    restart_strategy_free(rs);
    rs = restart_strategy_fixed_delay_new(0, 0);
    ck_assert_int_eq(restart_strategy_on_failure(rs, 1), 0);
    restart_strategy_free(rs);
}
END_TEST

START_TEST(test_checkpoint_failure_manager)
{
    te_ckpt_failure_manager_t *m = checkpoint_failure_manager_new(1);
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 1, TE_CKPT_FAILURE_EXPIRED), 0);
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 1, TE_CKPT_FAILURE_DECLINED), 0); /* once per id */
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 2, TE_CKPT_FAILURE_TRIGGER), 0);  /* not counted */
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 3, TE_CKPT_FAILURE_TASK_GONE), 0);
    ck_assert_int_eq(checkpoint_failure_manager_consecutive(m), 1);
    checkpoint_failure_manager_on_success(m, 4);
    ck_assert_int_eq(checkpoint_failure_manager_consecutive(m), 0);
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 3, TE_CKPT_FAILURE_IO),
                     0); /* older than the success */
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 5, TE_CKPT_FAILURE_IO), 0);
    ck_assert_int_eq(checkpoint_failure_manager_on_failure(m, 6, TE_CKPT_FAILURE_DECLINED), 1);
    ck_assert_int_eq(checkpoint_failure_manager_consecutive(m), 0); /* reset after failing over */
    checkpoint_failure_manager_free(m);
}
END_TEST

Suite *restart_strategy_suite(void)
{
    Suite *s = suite_create("restart_strategy");
    TCase *tc = tcase_create("restart_strategy");
    tcase_add_test(tc, test_restart_strategy);
    tcase_add_test(tc, test_checkpoint_failure_manager);
    suite_add_tcase(s, tc);
    return s;
}
