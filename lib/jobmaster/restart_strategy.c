/*
 * restart_strategy — fixed-delay restarts (see restart_strategy.h).
 *
 * Threading: a strategy belongs to one thread; no shared state.
 */
#include "jobmaster/restart_strategy.h"

#include <stdlib.h>

struct te_restart_strategy {
    long max_attempts;
    int64_t backoff_ms;
    long restarts;
};

te_restart_strategy_t *restart_strategy_fixed_delay_new(long max_attempts, int64_t backoff_ms)
{
    te_restart_strategy_t *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->max_attempts = max_attempts < 0 ? 0 : max_attempts;
    rs->backoff_ms = backoff_ms < 0 ? 0 : backoff_ms;
    return rs;
}

void restart_strategy_free(te_restart_strategy_t *rs) { free(rs); }

int restart_strategy_on_failure(te_restart_strategy_t *rs, int recoverable)
{
    if (!recoverable || rs->restarts >= rs->max_attempts)
        return 0;
    rs->restarts++;
    return 1;
}

int64_t restart_strategy_backoff_ms(const te_restart_strategy_t *rs) { return rs->backoff_ms; }
long restart_strategy_restarts(const te_restart_strategy_t *rs) { return rs->restarts; }
long restart_strategy_max_attempts(const te_restart_strategy_t *rs) { return rs->max_attempts; }
