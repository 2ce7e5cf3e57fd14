/*
 * rest_api — routes of the JobManager's REST API (see rest_api.h): one table row per
 * route (method, path pattern, handler); a pattern's "*" matches one path segment (a
 * job id, checked to be 32 hex characters). Handlers call the Dispatcher and the
 * ResourceManager and answer JSON; the Dispatcher may answer later (a submit waits for
 * the job store).
 *
 * Threading: the event-loop thread.
 */
#include "cluster/rest_api.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/jm_dashboard_page.h"
#include "common/ids.h"
#include "common/log.h"
#include "status/http_server.h"

#define CTX        "rest"
#define MAX_EVENTS 1000

struct te_rest_api {
    te_rest_config_t cfg;
    te_http_server_t *http;
};

/* The request being served: its path and the id a "*" matched. */
typedef struct rest_req {
    te_rest_api_t *r;
    struct evhttp_request *req;
    const char *path;
    char id[TE_ID_HEX_LEN + 1];
} rest_req_t;

typedef void (*rest_handler_fn)(rest_req_t *q);

typedef struct rest_route {
    enum evhttp_cmd_type method;
    const char *pattern;
    rest_handler_fn handler;
} rest_route_t;

static void reply(void *arg, int status, json_t *body) { http_reply_json(arg, status, body); }

static void reply_view(rest_req_t *q, json_t *j)
{
    if (j == NULL)
        http_reply_error(q->req, 404, q->path, "unknown job %s", q->id);
    else
        http_reply_json(q->req, 200, j);
}

/* ---- handlers ---------------------------------------------------------------------------- */

static void get_overview(rest_req_t *q)
{
    json_t *o = q->r->cfg.provider.overview ? q->r->cfg.provider.overview(q->r->cfg.provider.arg) : NULL;
    if (o == NULL)
        http_reply_error(q->req, 500, q->path, "the overview could not be built");
    else
        http_reply_json(q->req, 200, o);
}

static void get_jobs(rest_req_t *q) { http_reply_json(q->req, 200, dispatcher_jobs_json(q->r->cfg.dispatcher)); }

static void post_jobs(rest_req_t *q)
{
    size_t len;
    char *body = http_request_body(q->req, &len);
    if (body == NULL) {
        http_reply_error(q->req, 500, q->path, "out of memory reading the body");
        return;
    }
    dispatcher_submit(q->r->cfg.dispatcher, body, len, reply, q->req);
    free(body);
}

static void post_savepoint(rest_req_t *q, int stop)
{
    size_t len;
    char *body = http_request_body(q->req, &len);
    if (body == NULL) {
        http_reply_error(q->req, 500, q->path, "out of memory reading the body");
        return;
    }
    dispatcher_savepoint(q->r->cfg.dispatcher, q->id, body, len, stop, reply, q->req);
    free(body);
}

static void post_savepoints(rest_req_t *q) { post_savepoint(q, 0); }
static void post_stop(rest_req_t *q) { post_savepoint(q, 1); }

static void get_job(rest_req_t *q) { reply_view(q, dispatcher_job_json(q->r->cfg.dispatcher, q->id)); }

static void delete_job(rest_req_t *q) { dispatcher_cancel(q->r->cfg.dispatcher, q->id, reply, q->req); }

static void get_checkpoints(rest_req_t *q)
{
    reply_view(q, dispatcher_checkpoints_json(q->r->cfg.dispatcher, q->id));
}

static void get_events(rest_req_t *q)
{
    long long since = 0, max = MAX_EVENTS;
    (void)http_query_int(q->req, "since", &since);
    if (http_query_int(q->req, "max", &max) == 0 && (max < 1 || max > MAX_EVENTS))
        max = MAX_EVENTS;
    reply_view(q,
               dispatcher_events_json(q->r->cfg.dispatcher, q->id, since > 0 ? (uint64_t)since : 0, (size_t)max));
}

static void get_taskmanagers(rest_req_t *q)
{
    http_reply_json(q->req, 200,
                    json_pack("{s:o}", "taskmanagers", resource_manager_taskmanagers_json(q->r->cfg.rm)));
}

static void get_metrics(rest_req_t *q)
{
    char *text = q->r->cfg.provider.metrics_text ? q->r->cfg.provider.metrics_text(q->r->cfg.provider.arg) : NULL;
    if (text == NULL) {
        http_reply_error(q->req, 500, q->path, "the metrics could not be built");
        return;
    }
    http_reply_text(q->req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

static void get_leader(rest_req_t *q)
{
    int leading = 1;
    json_t *l = q->r->cfg.provider.leader ? q->r->cfg.provider.leader(q->r->cfg.provider.arg, &leading) : NULL;
    if (l == NULL)
        l = json_pack("{s:s, s:b}", "high_availability", "none", "leader", 1);
    http_reply_json(q->req, 200, l);
}

/* A standby's answer to everything but /v1/leader and /metrics: 307 to the leader. */
static int standby_redirect(te_rest_api_t *r, struct evhttp_request *req, const char *path)
{
    int leading = 1;
    if (r->cfg.provider.leader == NULL || strcmp(path, "/v1/leader") == 0 || strcmp(path, "/metrics") == 0)
        return 0;
    json_t *l = r->cfg.provider.leader(r->cfg.provider.arg, &leading);
    if (leading) {
        json_decref(l);
        return 0;
    }
    json_t *cur = json_object_get(l, "current");
    const char *rest = json_string_value(json_object_get(cur, "rest_address"));
    if (rest == NULL) {
        http_reply_error(req, 503, path,
                         "this JobManager is a standby and no leader is elected yet (high availability); retry "
                         "shortly");
        json_decref(l);
        return 1;
    }
    char location[1400];
    const char *uri = evhttp_request_get_uri(req);
    snprintf(location, sizeof(location), "http://%s%s", rest, uri ? uri : path);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", location);
    char msg[600];
    snprintf(msg, sizeof(msg), "this JobManager is a standby; the leader (epoch %lld) is at %s",
             (long long)json_integer_value(json_object_get(cur, "epoch")), rest);
    http_reply_json(req, 307,
                    json_pack("{s:s, s:s, s:O, s:i}", "error", msg, "path", path, "leader", cur, "status", 307));
    json_decref(l);
    return 1;
}

static void get_dashboard(rest_req_t *q)
{
    http_reply_page(q->req, te_jm_dashboard_html, te_jm_dashboard_html_len);
}

/* ---- routing --------------------------------------------------------------------------------- */

static const rest_route_t routes[] = {
    {EVHTTP_REQ_GET, "/", get_dashboard},
    {EVHTTP_REQ_GET, "/index.html", get_dashboard},
    {EVHTTP_REQ_GET, "/v1/overview", get_overview},
    {EVHTTP_REQ_GET, "/v1/jobs", get_jobs},
    {EVHTTP_REQ_POST, "/v1/jobs", post_jobs},
    {EVHTTP_REQ_GET, "/v1/jobs/*", get_job},
    {EVHTTP_REQ_DELETE, "/v1/jobs/*", delete_job},
    {EVHTTP_REQ_GET, "/v1/jobs/*/checkpoints", get_checkpoints},
    {EVHTTP_REQ_GET, "/v1/jobs/*/events", get_events},
    {EVHTTP_REQ_POST, "/v1/jobs/*/savepoints", post_savepoints},
    {EVHTTP_REQ_POST, "/v1/jobs/*/stop", post_stop},
    {EVHTTP_REQ_GET, "/v1/taskmanagers", get_taskmanagers},
    {EVHTTP_REQ_GET, "/metrics", get_metrics},
    {EVHTTP_REQ_GET, "/v1/leader", get_leader},
};

/* 1 when path matches pattern; the segment a "*" matched goes to seg (its text). */
static int match(const char *pattern, const char *path, char *seg, size_t cap)
{
    while (*pattern != '\0' && *path != '\0') {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0)
                return 0;
            snprintf(seg, cap, "%.*s", (int)n, path);
            path += n;
            pattern++;
            continue;
        }
        if (*pattern != *path)
            return 0;
        pattern++;
        path++;
    }
    return *pattern == '\0' && *path == '\0';
}

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_DELETE: return "DELETE";
    default: return "?";
    }
}

static int valid_id(const char *s)
{
    if (strlen(s) != TE_ID_HEX_LEN)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return 0;
    return 1;
}

static void on_request(void *arg, struct evhttp_request *req)
{
    te_rest_api_t *r = arg;
    char path[512], seg[256] = "", allow[64] = "";
    http_request_path(req, path, sizeof(path));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    enum evhttp_cmd_type as = cmd == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : cmd;
    TE_DEBUG(CTX, "%s %s", method_name(cmd), path);
    if (standby_redirect(r, req, path))
        return;
    const rest_route_t *found = NULL;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (!match(routes[i].pattern, path, seg, sizeof(seg)))
            continue;
        if (routes[i].method == as)
            found = &routes[i];
        size_t n = strlen(allow);
        snprintf(allow + n, sizeof(allow) - n, "%s%s", n ? ", " : "", method_name(routes[i].method));
    }
    if (found == NULL && allow[0] != '\0') {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        http_reply_error(req, 405, path, "method not allowed on %s (allowed: %s)", path, allow);
        return;
    }
    if (found == NULL) {
        http_reply_error(req, 404, path,
                         "no such endpoint; try /v1/jobs, /v1/jobs/<job-id>, /v1/taskmanagers, /v1/overview, "
                         "/metrics or / (the dashboard)");
        return;
    }
    rest_req_t q = {r, req, path, ""};
    if (strchr(found->pattern, '*') != NULL) {
        if (!valid_id(seg)) {
            http_reply_error(req, 400, path, "malformed job id '%.64s%s': expected 32 hex characters", seg,
                             strlen(seg) > 64 ? "..." : "");
            return;
        }
        for (size_t i = 0; i < TE_ID_HEX_LEN; i++)
            q.id[i] = (char)tolower((unsigned char)seg[i]);
    }
    found->handler(&q);
}

te_rest_api_t *rest_api_new(const te_rest_config_t *cfg, te_error_t *err)
{
    te_rest_api_t *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    r->cfg = *cfg;
    r->http = http_server_new(cfg->base, cfg->host, cfg->port, cfg->max_body, "REST API", on_request, r, err);
    if (r->http == NULL) {
        te_error_prefix(err, "jobmanager.rest.port");
        free(r);
        return NULL;
    }
    return r;
}

int rest_api_port(const te_rest_api_t *r) { return http_server_port(r->http); }

void rest_api_free(te_rest_api_t *r)
{
    if (r == NULL)
        return;
    http_server_free(r->http);
    free(r);
}
