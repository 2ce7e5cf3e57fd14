/*
 * job_events — a JobMaster's reports as JSON events, one object per report: what
 * `tectl submit --json` prints line by line, what `tectl submit` and `tectl attach`
 * render as text, and what the JobManager keeps per job for attach (GET
 * /v1/jobs/<id>/events). Every event has "event" and "time" (UTC ISO-8601):
 *
 *   plan        job_id, job_name, attempt, slots, executors, tasks[{execution_id, task, executor, slot}]
 *   state       task, execution_id, executor, state, cause?, records_in, records_out
 *   progress    tasks, running, finished, failed_or_cancelled, elapsed_ms, records_out, records_per_second,
 *               last_checkpoint
 *   checkpoint  checkpoint_id, duration_ms, state_size, tasks, path, start_delay_ms_max, alignment_ms_max,
 *               in_flight_bytes, timestamp_ms (when it was triggered)
 *   checkpoint_aborted  checkpoint_id, cause
 *   restart     attempt, max_attempts, checkpoint_id (null = from the beginning), cause
 *   log         level ("warn", "error"), message
 *   end         job_id, result ("finished" | "cancelled" | "failed"), cause (the failed task's, or
 *               null), message (the job's failure), cause_reported (message was logged
 *               already), unreachable, finished, failed, cancelled, restarts, checkpoint_id
 *
 * Threading: pure builders over a JobMaster on its thread; every result is a NEW
 * jansson reference (NULL when out of memory).
 */
#ifndef TE_JOB_EVENTS_H
#define TE_JOB_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#include "jobmaster/job_master.h"

json_t *job_event_plan(const te_job_master_t *jm);
json_t *job_event_task_state(const te_job_master_t *jm, size_t t, const Te__TaskExecutionState *s);
json_t *job_event_progress(const te_job_master_t *jm);
/* path: the checkpoint's directory. */
json_t *job_event_checkpoint(const te_ckpt_metadata_t *m, const te_ckpt_checkpoint_t *cp, const char *path);
json_t *job_event_checkpoint_aborted(uint64_t id, const char *cause);
json_t *job_event_restart(const char *cause, long attempt, long max_attempts, uint64_t checkpoint_id);
json_t *job_event_log(te_log_level_t level, const char *msg);
/* Valid in a terminal state. */
json_t *job_event_end(const te_job_master_t *jm);
/* "DEPLOYING", ... of a Te__ExecutionState ("SCHEDULED" for -1: none yet). */
const char *job_event_exec_state_name(int state);

#endif
