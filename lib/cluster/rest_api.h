/*
 * rest_api — the JobManager's REST API on jobmanager.rest.port (JSON via jansson, on
 * the status layer's http_server), Flink's shapes where they fit:
 *
 *   GET    /v1/overview                     the JobManager: version, uptime, jobs by state, TaskExecutors, slots
 *   GET    /v1/jobs                         every job (running and history)
 *   POST   /v1/jobs                         submit (dispatcher.h: body) -> 202 {"job_id"}
 *   GET    /v1/jobs/<id>                    vertices, subtasks and their TaskExecutor, state, records,
 *                                           checkpoints, restarts, failure cause, why it waits
 *   DELETE /v1/jobs/<id>                    cancel -> 202
 *   GET    /v1/jobs/<id>/checkpoints        completed / failed checkpoints
 *   GET    /v1/jobs/<id>/events?since=N     the job's events after N and its progress (tectl attach)
 *   POST   /v1/jobs/<id>/savepoints         {"dir": "/abs"}: a savepoint -> 200 {"checkpoint_id", "path"}
 *   POST   /v1/jobs/<id>/stop               {"savepoint_dir": "/abs"}: stop-with-savepoint -> 200 (then FINISHED)
 *   GET    /v1/taskmanagers                 registered TaskExecutors, their slots, last heartbeat
 *   GET    /metrics                         Prometheus text 0.0.4 (te_jobmanager_*)
 *   GET    /v1/leader                       high availability: whether this JobManager leads, its
 *                                           epoch, the current leader's addresses
 *
 * A standby (high availability) serves /v1/leader and /metrics itself and answers every
 * other request 307 with Location on the leader's REST address and a JSON body naming
 * it, or 503 while no leader is known.
 *   GET    /                                the dashboard
 *
 * Errors are JSON {"error", "path", "status"}: 400 malformed id / bad body, 404 unknown
 * path or job, 405 wrong method (with Allow), 409 wrong state (a savepoint or stop of a
 * job that does not run, a cancel of one that ended), 413 body larger than
 * jobmanager.rest.max-body-size (answered by the HTTP layer before reading it), 503 the
 * job store cannot be written, 500 a savepoint failed (with its cause).
 *
 * Threading: the JobManager's event-loop thread.
 */
#ifndef TE_REST_API_H
#define TE_REST_API_H

#include <jansson.h>
#include <stddef.h>

#include "cluster/dispatcher.h"
#include "cluster/resource_manager.h"
#include "common/te_status.h"

struct event_base;

typedef struct te_rest_api te_rest_api_t;

/* What only the JobManager as a whole knows. */
typedef struct te_rest_provider {
    void *arg;
    json_t *(*overview)(void *arg);   /* NEW reference */
    char *(*metrics_text)(void *arg); /* malloc'd */
    /* GET /v1/leader (NEW reference); *leading = 0 makes this a standby's API: every other
     * path is answered 307 to the leader's REST address (503 while none is known). */
    json_t *(*leader)(void *arg, int *leading);
} te_rest_provider_t;

typedef struct te_rest_config {
    struct event_base *base;
    const char *host;
    int port;
    size_t max_body;
    te_dispatcher_t *dispatcher; /* borrowed */
    te_resource_manager_t *rm;   /* borrowed */
    te_rest_provider_t provider;
} te_rest_config_t;

te_rest_api_t *rest_api_new(const te_rest_config_t *cfg, te_error_t *err);
int rest_api_port(const te_rest_api_t *r);
void rest_api_free(te_rest_api_t *r);

#endif
