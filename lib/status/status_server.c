/*
 * status_server — HTTP status endpoint: an http_server (evhttp) on the control event_base
 * routing GET/HEAD requests to the provider callbacks and answering with JSON
 * (jansson) or Prometheus text, and serving the dashboard page (dashboard_page.c) at
 * GET /. Limits: 8 KiB of headers, 64 KiB of body, 30 s idle
 * timeout per connection.
 *
 * Threading: control thread only — status_server_new/_free and every request callback
 * run on the thread that runs `base`; the provider callbacks are called from the
 * request callback. No locks.
 */
#include "status/status_server.h"

#include <ctype.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/log.h"
#include "status/dashboard_page.h"
#include "status/http_server.h"

#define SS_CTX       "status"
#define SS_MAX_BODY  65536
#define TASKS_PREFIX "/v1/tasks/"

struct status_server {
    te_http_server_t *http;
    te_status_provider_t provider;
};

static int is_hex32(const char *s)
{
    size_t n = strlen(s);
    if (n != TE_ID_HEX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static void serve_json(struct evhttp_request *req, const char *path, json_t *j)
{
    if (j == NULL)
        http_reply_error(req, HTTP_INTERNAL, path, "the status provider failed to produce this report");
    else
        http_reply_json(req, HTTP_OK, j);
}

static void serve_metrics(te_status_server_t *s, struct evhttp_request *req, const char *path)
{
    if (s->provider.metrics_text == NULL) {
        http_reply_error(req, HTTP_NOTFOUND, path, "metrics are not enabled");
        return;
    }
    char *text = s->provider.metrics_text(s->provider.arg);
    if (text == NULL) {
        http_reply_error(req, HTTP_INTERNAL, path, "the metrics provider failed");
        return;
    }
    http_reply_text(req, HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

static void serve_task(te_status_server_t *s, struct evhttp_request *req, const char *path, const char *id)
{
    char msg[256];
    if (!is_hex32(id)) {
        snprintf(msg, sizeof(msg), "malformed execution id '%.80s%s': expected 32 hex characters", id,
                 strlen(id) > 80 ? "..." : "");
        http_reply_error(req, HTTP_BADREQUEST, path, "%s", msg);
        return;
    }
    char lower[TE_ID_HEX_LEN + 1];
    for (size_t i = 0; i < TE_ID_HEX_LEN; i++)
        lower[i] = (char)tolower((unsigned char)id[i]);
    lower[TE_ID_HEX_LEN] = '\0';
    json_t *j = s->provider.task ? s->provider.task(s->provider.arg, lower) : NULL;
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "unknown execution id '%s'", lower);
        http_reply_error(req, HTTP_NOTFOUND, path, "%s", msg);
        return;
    }
    http_reply_json(req, HTTP_OK, j);
}

static json_t *call_or_null(json_t *(*fn)(void *), void *arg) { return fn ? fn(arg) : NULL; }

static void on_request(void *arg, struct evhttp_request *req)
{
    te_status_server_t *s = arg;
    char path[512];
    http_request_path(req, path, sizeof(path));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        http_reply_error(req, 405, path, "method not allowed: the status endpoint is read-only (GET, HEAD)");
        return;
    }
    TE_DEBUG(SS_CTX, "GET %s", path);
    if (strcmp(path, "/v1/overview") == 0)
        serve_json(req, path, call_or_null(s->provider.overview, s->provider.arg));
    else if (strcmp(path, "/v1/slots") == 0)
        serve_json(req, path, call_or_null(s->provider.slots, s->provider.arg));
    else if (strcmp(path, "/v1/tasks") == 0)
        serve_json(req, path, call_or_null(s->provider.tasks, s->provider.arg));
    else if (strcmp(path, "/v1/operators") == 0 && s->provider.operators != NULL)
        serve_json(req, path, s->provider.operators(s->provider.arg));
    else if (strncmp(path, TASKS_PREFIX, strlen(TASKS_PREFIX)) == 0)
        serve_task(s, req, path, path + strlen(TASKS_PREFIX));
    else if (strcmp(path, "/metrics") == 0)
        serve_metrics(s, req, path);
    else if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        http_reply_page(req, te_dashboard_html, te_dashboard_html_len);
    else
        http_reply_error(req, HTTP_NOTFOUND, path,
                         "no such endpoint; try / (the dashboard), /v1/overview, /v1/slots, "
                         "/v1/tasks, /v1/tasks/<execution-id>, /v1/operators or /metrics");
}

te_status_server_t *status_server_new(struct event_base *base, const char *host, int port,
                                      const te_status_provider_t *provider, te_error_t *err)
{
    if (provider == NULL) {
        te_error_set(err, TE_EINVAL, "status_server_new: bad argument");
        return NULL;
    }
    te_status_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->provider = *provider;
    s->http = http_server_new(base, host, port, SS_MAX_BODY, "status server", on_request, s, err);
    if (s->http == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

int status_server_port(const te_status_server_t *s) { return s == NULL ? -1 : http_server_port(s->http); }

void status_server_free(te_status_server_t *s)
{
    if (s == NULL)
        return;
    http_server_free(s->http);
    free(s);
}
