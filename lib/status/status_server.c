/*
 * status_server — HTTP status endpoint: an evhttp server on the control event_base
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

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/ids.h"
#include "common/log.h"
#include "status/dashboard_page.h"

#define SS_CTX         "status"
#define SS_MAX_HEADERS 8192
#define SS_MAX_BODY    65536
#define SS_TIMEOUT_S   30
#define TASKS_PREFIX   "/v1/tasks/"

struct status_server {
    struct evhttp *http;
    te_status_provider_t provider;
    int port;
};

/* Sends `body` (a NEW reference, consumed) as JSON with `code`. */
static void reply_json(struct evhttp_request *req, int code, const char *reason, json_t *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *buf = evbuffer_new();
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    if (buf == NULL || text == NULL) {
        free(text);
        if (buf != NULL)
            evbuffer_free(buf);
        evhttp_send_error(req, HTTP_INTERNAL, "cannot encode the reply");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evbuffer_add(buf, text, strlen(text));
        evbuffer_add(buf, "\n", 1);
    }
    free(text);
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason, const char *path,
                        const char *msg)
{
    json_t *o = json_pack("{s:s, s:s, s:i}", "error", msg, "path", path ? path : "", "status", code);
    reply_json(req, code, reason, o);
}

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
        reply_error(req, HTTP_INTERNAL, "Internal Server Error", path,
                    "the status provider failed to produce this report");
    else
        reply_json(req, HTTP_OK, "OK", j);
}

static void serve_metrics(te_status_server_t *s, struct evhttp_request *req, const char *path)
{
    if (s->provider.metrics_text == NULL) {
        reply_error(req, HTTP_NOTFOUND, "Not Found", path, "metrics are not enabled");
        return;
    }
    char *text = s->provider.metrics_text(s->provider.arg);
    if (text == NULL) {
        reply_error(req, HTTP_INTERNAL, "Internal Server Error", path, "the metrics provider failed");
        return;
    }
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        free(text);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(buf, text, strlen(text));
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, HTTP_OK, "OK", buf);
    evbuffer_free(buf);
}

/* GET / : the dashboard page (dashboard_page.c). The Content-Security-Policy lets
 * the page run only its own inline script and style and talk only to this server, so
 * it cannot load anything from elsewhere even by mistake. */
static void serve_dashboard(struct evhttp_request *req)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add_reference(buf, te_dashboard_html, te_dashboard_html_len, NULL, NULL);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                      "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
                      "frame-ancestors 'none'");
    evhttp_send_reply(req, HTTP_OK, "OK", buf);
    evbuffer_free(buf);
}

static void serve_task(te_status_server_t *s, struct evhttp_request *req, const char *path, const char *id)
{
    char msg[256];
    if (!is_hex32(id)) {
        snprintf(msg, sizeof(msg), "malformed execution id '%.80s%s': expected 32 hex characters", id,
                 strlen(id) > 80 ? "..." : "");
        reply_error(req, HTTP_BADREQUEST, "Bad Request", path, msg);
        return;
    }
    char lower[TE_ID_HEX_LEN + 1];
    for (size_t i = 0; i < TE_ID_HEX_LEN; i++)
        lower[i] = (char)tolower((unsigned char)id[i]);
    lower[TE_ID_HEX_LEN] = '\0';
    json_t *j = s->provider.task ? s->provider.task(s->provider.arg, lower) : NULL;
    if (j == NULL) {
        snprintf(msg, sizeof(msg), "unknown execution id '%s'", lower);
        reply_error(req, HTTP_NOTFOUND, "Not Found", path, msg);
        return;
    }
    reply_json(req, HTTP_OK, "OK", j);
}

static json_t *call_or_null(json_t *(*fn)(void *), void *arg) { return fn ? fn(arg) : NULL; }

static void on_request(struct evhttp_request *req, void *arg)
{
    te_status_server_t *s = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s", raw && raw[0] ? raw : "/");
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') /* "/v1/slots/" is "/v1/slots" */
        path[--n] = '\0';

    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_error(req, 405, "Method Not Allowed", path,
                    "method not allowed: the status endpoint is read-only (GET, HEAD)");
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
        serve_dashboard(req);
    else
        reply_error(req, HTTP_NOTFOUND, "Not Found", path,
                    "no such endpoint; try / (the dashboard), /v1/overview, /v1/slots, "
                    "/v1/tasks, /v1/tasks/<execution-id>, /v1/operators or /metrics");
}

te_status_server_t *status_server_new(struct event_base *base, const char *host, int port,
                                      const te_status_provider_t *provider, te_error_t *err)
{
    if (base == NULL || provider == NULL || port < 0 || port > 65535) {
        te_error_set(err, TE_EINVAL, "status_server_new: bad argument");
        return NULL;
    }
    if (host == NULL || host[0] == '\0')
        host = "127.0.0.1";
    te_status_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->provider = *provider;
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        te_error_set(err, TE_ENOMEM, "cannot create the HTTP server");
        goto cleanup;
    }
    evhttp_set_max_headers_size(s->http, SS_MAX_HEADERS);
    evhttp_set_max_body_size(s->http, SS_MAX_BODY);
    evhttp_set_timeout(s->http, SS_TIMEOUT_S);
    /* Every method reaches on_request, so any but GET/HEAD gets a JSON 405 (libevent
     * would answer the ones it does not allow with its own HTML 501). */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);
    errno = 0;
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (bs == NULL) {
        int e = errno;
        te_error_set(err, TE_EIO, "cannot bind the status server to %s:%d: %s", host, port,
                     e ? strerror(e) : "bind failed");
        goto cleanup;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    evutil_socket_t fd = evhttp_bound_socket_get_fd(bs);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        te_error_set(err, TE_EIO, "getsockname on the status server socket: %s", strerror(errno));
        goto cleanup;
    }
    if (ss.ss_family == AF_INET)
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        s->port = port;
    TE_INFO(SS_CTX, "status server listening on %s:%d", host, s->port);
    return s;
cleanup:
    status_server_free(s);
    return NULL;
}

int status_server_port(const te_status_server_t *s) { return s == NULL ? -1 : s->port; }

void status_server_free(te_status_server_t *s)
{
    if (s == NULL)
        return;
    if (s->http != NULL)
        evhttp_free(s->http);
    free(s);
}
