/*
 * http_server — evhttp server and reply helpers (see http_server.h). Limits: 8 KiB of
 * headers, max_body bytes of body, 30 s idle timeout per connection.
 *
 * Threading: the thread running `base`; no locks.
 */
#include "status/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"

#define HS_CTX         "http"
#define HS_MAX_HEADERS 8192
#define HS_TIMEOUT_S   30

struct te_http_server {
    struct evhttp *http;
    int port;
    te_http_request_fn fn;
    void *arg;
};

static void on_request(struct evhttp_request *req, void *arg)
{
    te_http_server_t *s = arg;
    s->fn(s->arg, req);
}

te_http_server_t *http_server_new(struct event_base *base, const char *host, int port, size_t max_body,
                                  const char *what, te_http_request_fn fn, void *arg, te_error_t *err)
{
    if (base == NULL || fn == NULL || port < 0 || port > 65535) {
        te_error_set(err, TE_EINVAL, "http_server_new: bad argument");
        return NULL;
    }
    if (host == NULL || host[0] == '\0')
        host = "127.0.0.1";
    te_http_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    s->fn = fn;
    s->arg = arg;
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        te_error_set(err, TE_ENOMEM, "cannot create the %s", what);
        goto cleanup;
    }
    evhttp_set_max_headers_size(s->http, HS_MAX_HEADERS);
    evhttp_set_max_body_size(s->http, (ev_ssize_t)max_body);
    evhttp_set_timeout(s->http, HS_TIMEOUT_S);
    /* Every method reaches fn, so an unsupported one gets a JSON 405 (libevent would
     * answer the ones it does not allow with its own HTML 501). */
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(s->http, on_request, s);
    if (http_bind(s->http, host, port, what, &s->port, err) == NULL)
        goto cleanup;
    TE_INFO(HS_CTX, "%s listening on %s:%d", what, host, s->port);
    return s;
cleanup:
    http_server_free(s);
    return NULL;
}

struct evhttp_bound_socket *http_bind(struct evhttp *http, const char *host, int port, const char *what,
                                      int *bound_port, te_error_t *err)
{
    errno = 0;
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
    if (bs == NULL) {
        int e = errno;
        te_error_set(err, TE_EIO, "cannot bind the %s to %s:%d: %s", what, host, port,
                     e ? strerror(e) : "bind failed");
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &len) != 0) {
        te_error_set(err, TE_EIO, "getsockname on the %s socket: %s", what, strerror(errno));
        return NULL;
    }
    if (ss.ss_family == AF_INET)
        *bound_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        *bound_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *bound_port = port;
    return bs;
}

int http_server_port(const te_http_server_t *s) { return s == NULL ? -1 : s->port; }

void http_server_free(te_http_server_t *s)
{
    if (s == NULL)
        return;
    if (s->http != NULL)
        evhttp_free(s->http);
    free(s);
}

/* ---- requests ------------------------------------------------------------------- */

void http_request_path(struct evhttp_request *req, char *path, size_t cap)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
    snprintf(path, cap, "%s", raw && raw[0] ? raw : "/");
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') /* "/v1/slots/" is "/v1/slots" */
        path[--n] = '\0';
}

char *http_request_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = in ? evbuffer_get_length(in) : 0;
    char *body = malloc(n + 1);
    if (body == NULL)
        return NULL;
    if (n > 0)
        evbuffer_copyout(in, body, n);
    body[n] = '\0';
    *len = n;
    return body;
}

int http_query_int(struct evhttp_request *req, const char *name, long long *out)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq params;
    int rc = -1;
    if (q == NULL || evhttp_parse_query_str(q, &params) != 0)
        return -1;
    const char *v = evhttp_find_header(&params, name);
    if (v != NULL && v[0] != '\0') {
        char *end;
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (*end == '\0' && errno == 0) {
            *out = x;
            rc = 0;
        }
    }
    evhttp_clear_headers(&params);
    return rc;
}

/* ---- replies ---------------------------------------------------------------------- */

const char *http_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 307: return "Temporary Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return code < 400 ? "OK" : "Error";
    }
}

static void send_buffer(struct evhttp_request *req, int code, const char *content_type, const char *data,
                        size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD && len > 0)
        evbuffer_add(buf, data, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, http_reason(code), buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(body);
    if (text == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "cannot encode the reply");
        return;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (line == NULL) {
        free(text);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    send_buffer(req, code, "application/json", line, n + 1);
    free(line);
}

void http_reply_error(struct evhttp_request *req, int code, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    http_reply_json(req, code,
                    json_pack("{s:s, s:s, s:i}", "error", msg, "path", path ? path : "", "status", code));
}

void http_reply_text(struct evhttp_request *req, int code, const char *content_type, const char *text)
{
    send_buffer(req, code, content_type, text, strlen(text));
}

void http_reply_page(struct evhttp_request *req, const char *html, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    if (buf == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add_reference(buf, html, len, NULL, NULL);
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
