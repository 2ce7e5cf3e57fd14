/*
 * restart_strategy — whether and when a failed job is deployed again (Flink's
 * RestartBackoffTimeStrategy). The fixed-delay strategy allows max_attempts restarts
 * (0 = none: the first failure fails the job), each after backoff_ms. A failure that
 * a redeployment cannot fix (an invalid job, a task the TaskExecutor rejects as
 * malformed, a --timeout) is not recoverable and ends the job whatever is left.
 *
 * Threading: a strategy belongs to its JobMaster's thread; no locks.
 */
#ifndef TE_RESTART_STRATEGY_H
#define TE_RESTART_STRATEGY_H

#include <stdint.h>

typedef struct te_restart_strategy te_restart_strategy_t;

/* NULL when out of memory. max_attempts >= 0, backoff_ms >= 0. */
te_restart_strategy_t *restart_strategy_fixed_delay_new(long max_attempts, int64_t backoff_ms);
void restart_strategy_free(te_restart_strategy_t *rs);

/* An attempt failed. Returns 1 when the job restarts (the restart is counted), 0 when
 * it fails (not recoverable, or no attempt left). */
int restart_strategy_on_failure(te_restart_strategy_t *rs, int recoverable);
/* How long to wait before the restart just granted. */
int64_t restart_strategy_backoff_ms(const te_restart_strategy_t *rs);
/* Restarts granted so far / allowed in all. */
long restart_strategy_restarts(const te_restart_strategy_t *rs);
long restart_strategy_max_attempts(const te_restart_strategy_t *rs);

#endif
