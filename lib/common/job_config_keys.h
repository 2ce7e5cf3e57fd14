/*
 * job_config_keys — keys of a job's configuration (its "config" map, plus what a
 * JobMaster adds to every TaskDeploymentDescriptor's JobInformation) that layers on
 * both sides of the RPC read: the JobMaster writes them, the TaskExecutor's runtime
 * reads them.
 *
 * Threading: constants.
 */
#ifndef TE_JOB_CONFIG_KEYS_H
#define TE_JOB_CONFIG_KEYS_H

/* "true": restoring a savepoint (or checkpoint), state no operator of the job claims
 * (a uid the job no longer has, a changed chain) is dropped instead of failing the
 * task (Flink's --allowNonRestoredState). Set from the submit option
 * allow_non_restored_state. */
#define TE_IGNORE_UNCLAIMED_STATE_KEY "execution.savepoint.ignore-unclaimed-state"

#endif
