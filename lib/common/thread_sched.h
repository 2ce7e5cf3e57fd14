/*
 * thread_sched — the Linux scheduling policy of task threads
 * (taskmanager.task.scheduling-policy).
 *
 * "batch" (SCHED_BATCH) marks a thread as throughput-bound: it gets the same CPU share
 * as a normal thread, but when it wakes up (input arrived, a buffer came back) it does
 * not preempt the thread that is running, often a network I/O thread that serves every
 * task of the daemon; it runs when a CPU is free or at the next scheduling tick. A
 * normal thread that wakes still preempts a batch one, so the I/O threads keep their
 * latency. "other" (SCHED_OTHER) is the default policy of every thread. "auto" picks
 * per task: other for a task whose buffer timeout is 0 (flush every record: latency
 * first), batch for the rest. Changing to either needs no privilege. Threads a task
 * thread creates inherit its policy.
 */
#ifndef TE_THREAD_SCHED_H
#define TE_THREAD_SCHED_H

#include <stdint.h>

typedef enum te_sched_policy {
    TE_SCHED_POLICY_OTHER = 0,
    TE_SCHED_POLICY_BATCH = 1,
    TE_SCHED_POLICY_AUTO = 2,
} te_sched_policy_t;

/* "auto" / "batch" / "other" (any case, as the config accepts) -> policy; -1 for
 * anything else. */
int te_sched_policy_parse(const char *name);
/* The policy of a task thread: `p`, with auto resolved by the task's buffer timeout
 * (0 -> other, anything else -> batch). */
te_sched_policy_t te_sched_policy_for_task(te_sched_policy_t p, int64_t buffer_timeout_ms);
const char *te_sched_policy_name(te_sched_policy_t p);
/* Applies `p` (other or batch) to the calling thread: 0 or an errno value. */
int te_thread_set_sched_policy(te_sched_policy_t p);
/* The calling thread's policy as it is now (TE_SCHED_POLICY_OTHER for any other). */
te_sched_policy_t te_thread_sched_policy(void);

#endif
