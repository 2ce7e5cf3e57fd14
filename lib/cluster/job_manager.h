/*
 * job_manager — the JobManager process's services assembled from its configuration
 * (the tejobmanager daemon's body): the ResourceManager on jobmanager.rpc.port, the
 * job store (jobmanager.store.dir, or etcd with high-availability.type: etcd, where a
 * leader election decides which JobManager runs the jobs), the Dispatcher with its JobMasters, the REST API
 * on jobmanager.rest.port (with the dashboard and /metrics), all on one event loop.
 *
 * Threading: the thread running `base`; evthread_use_pthreads() must have been called
 * before `base` was created (the job store's worker thread wakes the loop).
 */
#ifndef TE_JOB_MANAGER_H
#define TE_JOB_MANAGER_H

#include "common/config.h"
#include "common/te_status.h"

struct event_base;

typedef struct te_job_manager te_job_manager_t;

/* Binds both ports and opens the store. cfg (a TE_CONFIG_JOBMANAGER configuration) is
 * borrowed for the JobManager's life. NULL + err naming what failed. */
te_job_manager_t *job_manager_new(struct event_base *base, const te_config_t *cfg, te_error_t *err);
/* Recovers the unfinished jobs of the store; how many (or -1 + err). With high
 * availability 0: the jobs are recovered when this JobManager becomes the leader. */
long job_manager_recover(te_job_manager_t *jm, te_error_t *err);
/* Stops serving and frees everything; jobs stay in the store (recovered by the next
 * start) and their tasks keep running until heartbeat.timeout. NULL: no-op. */
void job_manager_free(te_job_manager_t *jm);

/* High availability: this JobManager lost its leadership; it broke the event loop and
 * must be freed (its jobs stay in etcd, their tasks keep running) and made anew as a
 * standby. */
int job_manager_deposed(const te_job_manager_t *jm);

int job_manager_rpc_port(const te_job_manager_t *jm);
int job_manager_rest_port(const te_job_manager_t *jm);
const char *job_manager_id_hex(const te_job_manager_t *jm);

/* SIGHUP: cfg becomes the configuration (borrowed from now on); heartbeat.interval
 * applies to jobs started afterwards, heartbeat.timeout at once. */
void job_manager_reconfigure(te_job_manager_t *jm, const te_config_t *cfg);

#endif
