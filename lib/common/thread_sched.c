/*
 * thread_sched — see the header. Threading: each call affects or reads the calling
 * thread only.
 */
#define _GNU_SOURCE
#include "common/thread_sched.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <strings.h>

int te_sched_policy_parse(const char *name)
{
    if (name == NULL)
        return -1;
    if (strcasecmp(name, "batch") == 0)
        return TE_SCHED_POLICY_BATCH;
    if (strcasecmp(name, "other") == 0)
        return TE_SCHED_POLICY_OTHER;
    if (strcasecmp(name, "auto") == 0)
        return TE_SCHED_POLICY_AUTO;
    return -1;
}

te_sched_policy_t te_sched_policy_for_task(te_sched_policy_t p, int64_t buffer_timeout_ms)
{
    if (p != TE_SCHED_POLICY_AUTO)
        return p;
    return buffer_timeout_ms == 0 ? TE_SCHED_POLICY_OTHER : TE_SCHED_POLICY_BATCH;
}

const char *te_sched_policy_name(te_sched_policy_t p)
{
    return p == TE_SCHED_POLICY_BATCH ? "batch" : p == TE_SCHED_POLICY_AUTO ? "auto" : "other";
}

int te_thread_set_sched_policy(te_sched_policy_t p)
{
    struct sched_param sp;
    memset(&sp, 0, sizeof(sp));
    return pthread_setschedparam(pthread_self(), p == TE_SCHED_POLICY_BATCH ? SCHED_BATCH : SCHED_OTHER, &sp);
}

te_sched_policy_t te_thread_sched_policy(void)
{
    int policy;
    struct sched_param sp;
    if (pthread_getschedparam(pthread_self(), &policy, &sp) != 0)
        return TE_SCHED_POLICY_OTHER;
    return policy == SCHED_BATCH ? TE_SCHED_POLICY_BATCH : TE_SCHED_POLICY_OTHER;
}
