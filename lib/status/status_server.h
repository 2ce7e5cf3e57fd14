/*
 * status_server — the HTTP status endpoint (DESIGN §11) on taskmanager.status.port:
 * GET /v1/overview, /v1/slots, /v1/tasks, /v1/tasks/<32-hex execution id>,
 * /v1/operators (JSON), /metrics (Prometheus text 0.0.4) and / (the live dashboard
 * page, HTML built in).
 * Errors are JSON too: {"error": ..., "path": ...} with 400 (malformed id), 404
 * (unknown path or id), 405 (method other than GET/HEAD).
 *
 * The content comes from a provider: callbacks the daemon implements from its own
 * snapshot of counters (never a lock held by a task thread).
 *
 * Threading: control thread only — created, served and freed on the thread that runs
 * `base`; the provider callbacks are called on that thread.
 */
#ifndef TE_STATUS_SERVER_H
#define TE_STATUS_SERVER_H

#include <jansson.h>

#include "common/te_status.h"

struct event_base;

typedef struct te_status_provider {
    void *arg; /* passed to every callback */
    /* Each returns a NEW json_t reference (the server decrefs it), or NULL on an
     * internal failure (answered with 500). */
    json_t *(*overview)(void *arg);
    json_t *(*slots)(void *arg);
    json_t *(*tasks)(void *arg);
    /* execution_id_hex: 32 lower-case hex chars, borrowed. NULL = unknown task (404). */
    json_t *(*task)(void *arg, const char *execution_id_hex);
    /* Optional (NULL = 404): the operators a chain may name (GET /v1/operators). */
    json_t *(*operators)(void *arg);
    /* Optional (NULL = /metrics answers 404): a malloc'd NUL-terminated Prometheus
     * text exposition; the server frees it. */
    char *(*metrics_text)(void *arg);
} te_status_provider_t;

typedef struct status_server te_status_server_t;

/* Binds host:port (port 0 = ephemeral) on base. The provider struct is copied; its
 * arg must outlive the server. NULL + err (naming the address) on failure. */
te_status_server_t *status_server_new(struct event_base *base, const char *host, int port,
                                      const te_status_provider_t *provider, te_error_t *err);
/* Requests for every path but those in open_paths (comma-separated exact paths, e.g.
 * "/metrics,/") must carry "Authorization: Bearer <token>", else 401 (JSON). token
 * copied; NULL = no authentication. */
void status_server_set_token(te_status_server_t *s, const void *token, size_t len, const char *open_paths);
/* At most max_conns open connections (0 = no limit): at the limit the oldest one open
 * for 5 s or more is closed, else new ones wait in the listen backlog. */
void status_server_set_max_connections(te_status_server_t *s, int max_conns);
/* The bound port (the real one when 0 was asked). */
int status_server_port(const te_status_server_t *s);
/* Closes the listener and every open connection. */
void status_server_free(te_status_server_t *s);

#endif
