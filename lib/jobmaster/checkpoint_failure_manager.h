/*
 * checkpoint_failure_manager — counts consecutive failed checkpoints and says when
 * the job must fail over (Flink's CheckpointFailureManager, key
 * execution.checkpointing.tolerable-failed-checkpoints, default 0 as in Flink: the
 * first counted failure fails the job over).
 *
 * Counted, as in Flink, are failures a failover may cure: a task declined the
 * checkpoint (its snapshot could not be written, ...), the checkpoint expired
 * (--checkpoint-timeout), the JobMaster could not write its _metadata. Not counted:
 * a task refused the trigger (not running yet, finishing) and a task that ended or
 * failed before acknowledging (the task failure is handled as such). Each checkpoint
 * counts once; a completed checkpoint resets the count.
 *
 * Threading: belongs to its JobMaster's thread; no locks.
 */
#ifndef TE_CHECKPOINT_FAILURE_MANAGER_H
#define TE_CHECKPOINT_FAILURE_MANAGER_H

#include <stdint.h>

#define TE_CKPT_TOLERABLE_FAILURES_KEY     "execution.checkpointing.tolerable-failed-checkpoints"
#define TE_CKPT_TOLERABLE_FAILURES_DEFAULT 0
#define TE_CKPT_EXCEEDED_TOLERABLE_MESSAGE "Exceeded checkpoint tolerable failure threshold"

typedef enum te_ckpt_failure_reason {
    TE_CKPT_FAILURE_DECLINED = 0, /* a task declined (DeclineCheckpoint) */
    TE_CKPT_FAILURE_EXPIRED,      /* not complete within the checkpoint timeout */
    TE_CKPT_FAILURE_IO,           /* the JobMaster could not write _metadata */
    TE_CKPT_FAILURE_TRIGGER,      /* a task refused the trigger */
    TE_CKPT_FAILURE_TASK_GONE,    /* a task ended before acknowledging */
    TE_CKPT_FAILURE_N_REASONS,
} te_ckpt_failure_reason_t;

typedef struct te_ckpt_failure_manager te_ckpt_failure_manager_t;

/* tolerable >= 0. NULL when out of memory. */
te_ckpt_failure_manager_t *checkpoint_failure_manager_new(long tolerable);
void checkpoint_failure_manager_free(te_ckpt_failure_manager_t *m);

/* Checkpoint `id` failed. Returns 1 when the consecutive count now exceeds the
 * tolerable number (the count is then reset): the job must fail over. */
int checkpoint_failure_manager_on_failure(te_ckpt_failure_manager_t *m, uint64_t id,
                                          te_ckpt_failure_reason_t reason);
/* Checkpoint `id` completed: the count starts again. */
void checkpoint_failure_manager_on_success(te_ckpt_failure_manager_t *m, uint64_t id);
/* Counted failures since the last success. */
long checkpoint_failure_manager_consecutive(const te_ckpt_failure_manager_t *m);
/* "declined", "expired", ... */
const char *checkpoint_failure_reason_name(te_ckpt_failure_reason_t reason);

#endif
