/*
 * checkpoint_failure_manager — consecutive counted checkpoint failures against the
 * tolerable number (see checkpoint_failure_manager.h).
 *
 * Threading: one thread; no shared state.
 */
#include "jobmaster/checkpoint_failure_manager.h"

#include <stdlib.h>

static const struct {
    const char *name;
    int counted;
} reasons[TE_CKPT_FAILURE_N_REASONS] = {
    [TE_CKPT_FAILURE_DECLINED] = {"declined", 1},
    [TE_CKPT_FAILURE_EXPIRED] = {"expired", 1},
    [TE_CKPT_FAILURE_IO] = {"io", 1},
    [TE_CKPT_FAILURE_TRIGGER] = {"trigger refused", 0},
    [TE_CKPT_FAILURE_TASK_GONE] = {"task gone", 0},
};

struct te_ckpt_failure_manager {
    long tolerable;
    long consecutive;
    uint64_t last_counted;   /* the last failed id counted (each id counts once) */
    uint64_t last_succeeded; /* failures of older checkpoints do not count */
};

te_ckpt_failure_manager_t *checkpoint_failure_manager_new(long tolerable)
{
    te_ckpt_failure_manager_t *m = calloc(1, sizeof(*m));
    if (m != NULL)
        m->tolerable = tolerable < 0 ? 0 : tolerable;
    return m;
}

void checkpoint_failure_manager_free(te_ckpt_failure_manager_t *m) { free(m); }

int checkpoint_failure_manager_on_failure(te_ckpt_failure_manager_t *m, uint64_t id,
                                          te_ckpt_failure_reason_t reason)
{
    if ((unsigned)reason >= TE_CKPT_FAILURE_N_REASONS || !reasons[reason].counted)
        return 0;
    if (id <= m->last_succeeded || (id != 0 && id == m->last_counted))
        return 0;
    m->last_counted = id;
    if (++m->consecutive <= m->tolerable)
        return 0;
    m->consecutive = 0;
    return 1;
}

void checkpoint_failure_manager_on_success(te_ckpt_failure_manager_t *m, uint64_t id)
{
    if (id > m->last_succeeded) {
        m->last_succeeded = id;
        m->consecutive = 0;
    }
}

long checkpoint_failure_manager_consecutive(const te_ckpt_failure_manager_t *m) { return m->consecutive; }

const char *checkpoint_failure_reason_name(te_ckpt_failure_reason_t reason)
{
    return (unsigned)reason < TE_CKPT_FAILURE_N_REASONS ? reasons[reason].name : "?";
}
