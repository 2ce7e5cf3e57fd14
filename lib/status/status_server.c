/*
 * status_server — HTTP status endpoint: an evhttp server on the control event_base
 * routing GET/HEAD requests to the provider callbacks and answering with JSON
 * (jansson) or Prometheus text, and serving the dashboard page (dashboard_page.c) at
 * GET /. Limits: 8 KiB of headers, 64 KiB of body, 30 s idle
 * timeout per connection, at most max_conns open connections.
 *
 * Connection cap: evhttp creates each connection's bufferevent through ss_new_bev,
 * which keeps a reference to it. A connection evhttp freed has its callbacks cleared;
 * the sweep (every SS_SWEEP_MS while any is tracked, SS_IDLE_SWEEP_MS otherwise) drops
 * those. The socket belongs to the bufferevent (BEV_OPT_CLOSE_ON_FREE): it is closed
 * when the last reference goes, after libevent deleted the bufferevent's events. Were
 * evhttp to close it while our reference kept those events registered, the sweep's
 * epoll_ctl(DEL) would name a descriptor number the kernel may meanwhile have given to
 * another thread's file or socket (ThreadSanitizer reported exactly that against a
 * snapshot thread's checkpoint file); evhttp closes the socket itself only when the
 * bufferevent does not own it.
 * At max_conns the listener pauses and the next sweep shuts one down: the oldest that
 * sent no request within SS_GRACE_MS, else one without a request for SS_EVICT_AGE_MS
 * (evhttp sees the end and frees it); below the cap the listener accepts again, one
 * connection per loop turn, so a backlog of idle connections drains without locking
 * a client out. accept(2) failing (EMFILE) pauses the listener until the next sweep.
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
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "common/clock.h"
#include "common/ids.h"
#include "common/log.h"
#include "status/dashboard_page.h"
#include "status/http_server.h"

#define SS_CTX           "status"
#define SS_MAX_HEADERS   8192
#define SS_MAX_BODY      65536
#define SS_TIMEOUT_S     30
#define TASKS_PREFIX     "/v1/tasks/"
#define SS_SWEEP_MS      200
#define SS_EVICT_AGE_MS  5000
#define SS_GRACE_MS      50
#define SS_IDLE_SWEEP_MS 1000

typedef struct ss_conn {
    struct bufferevent *bev; /* our reference */
    int64_t since_ms;        /* accepted, or its last request */
    int served;              /* it sent a request */
    int evicted;             /* shut down by us, not yet freed by evhttp */
} ss_conn_t;

struct status_server {
    struct evhttp *http;
    te_status_provider_t provider;
    int port;
    struct evconnlistener *listener; /* evhttp's */
    struct event *sweep_ev;
    int max_conns; /* 0 = no limit */
    int paused_full;
    ss_conn_t *conns;
    int n_conns, cap_conns;
    /* optional bearer token for every path but open_paths */
    char *token;
    size_t token_len;
    char open_paths[512]; /* comma-separated exact paths */
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

/* GET / : the dashboard page (dashboard_page.c). The Content-Security-Policy lets
 * the page run only its own inline script and style and talk only to this server, so
 * it cannot load anything from elsewhere even by mistake. */
static void serve_dashboard(struct evhttp_request *req)
{
    http_reply_page(req, te_dashboard_html, te_dashboard_html_len);
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

static void ss_mark_served(te_status_server_t *s, struct evhttp_request *req);

/* 1 when s is valid UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static int utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s, n = c < 0x80             ? 0
                             : (c & 0xE0) == 0xC0 ? 1
                             : (c & 0xF0) == 0xE0 ? 2
                             : (c & 0xF8) == 0xF0 ? 3
                                                  : 9;
        if (n == 9 || (n == 1 && c < 0xC2) || (n == 3 && c > 0xF4))
            return 0;
        unsigned cp = n == 0 ? c : c & (0x3F >> n);
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* The path for messages: bytes outside printable ASCII as %XX (so a reply can always
 * be encoded, and nothing the client sent is echoed raw). */
static void path_for_reply(const char *in, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (*p >= 0x20 && *p < 0x7F) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static int path_is_open(const te_status_server_t *s, const char *path)
{
    size_t pl = strlen(path);
    for (const char *p = s->open_paths; *p;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && p[0] == ' ')
            p++, n--;
        if (n == pl && strncmp(p, path, n) == 0)
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* With a token: "Authorization: Bearer <token>" (compared in constant time). */
static int request_authorized(const te_status_server_t *s, struct evhttp_request *req, const char *path)
{
    if (s->token == NULL || path_is_open(s, path))
        return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    while (*h == ' ')
        h++;
    return strlen(h) == s->token_len && CRYPTO_memcmp(h, s->token, s->token_len) == 0;
}

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
    if (req->major != 1 || req->minor > 1) {
        /* evhttp would answer in the client's version ("HTTP/1.9 200"): answer 1.1 */
        req->major = 1;
        req->minor = 1;
        http_reply_error(req, 505, "", "HTTP version not supported: use HTTP/1.0 or HTTP/1.1");
        return;
    }
    if (!utf8_valid((const unsigned char *)path)) {
        char shown[512];
        path_for_reply(path, shown, sizeof(shown));
        http_reply_error(req, HTTP_BADREQUEST, shown, "the request path is not valid UTF-8");
        return;
    }
    if (!request_authorized(s, req, path)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"taskexecutord\"");
        http_reply_error(req, 401, path,
                         "this endpoint needs the status token: send 'Authorization: Bearer <the contents of "
                         "taskmanager.status.token-file>'");
        return;
    }

    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        http_reply_error(req, 405, path, "method not allowed: the status endpoint is read-only (GET, HEAD)");
        return;
    }
    TE_DEBUG(SS_CTX, "GET %s", path);
    ss_mark_served(s, req);
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
        http_reply_error(req, HTTP_NOTFOUND, path,
                         "no such endpoint; try / (the dashboard), /v1/overview, /v1/slots, "
                         "/v1/tasks, /v1/tasks/<execution-id>, /v1/operators or /metrics");
}

/* ---- connection cap ---- */

static int ss_alive(struct bufferevent *bev)
{
    bufferevent_data_cb r, w;
    bufferevent_event_cb e;
    void *arg;
    bufferevent_getcb(bev, &r, &w, &e, &arg);
    return r != NULL || w != NULL || e != NULL;
}

static void ss_arm_sweep(te_status_server_t *s, int64_t ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(s->sweep_ev, &tv);
}

/* Connections counted against the cap: open and not being closed by us. */
static int ss_active(const te_status_server_t *s)
{
    int n = 0;
    for (int i = 0; i < s->n_conns; i++)
        n += !s->conns[i].evicted;
    return n;
}

/* At the cap, the connection to close: the oldest that has not sent a request within
 * SS_GRACE_MS, else the oldest without a request for SS_EVICT_AGE_MS; -1 none. */
static int ss_victim(const te_status_server_t *s, int64_t now)
{
    int idle = -1;
    for (int i = 0; i < s->n_conns; i++) {
        const ss_conn_t *c = &s->conns[i];
        if (c->evicted)
            continue;
        if (!c->served && now - c->since_ms >= SS_GRACE_MS)
            return i;
        if (idle < 0 && now - c->since_ms >= SS_EVICT_AGE_MS)
            idle = i;
    }
    return idle;
}

/* Drops the connections evhttp freed; at the cap closes one (see ss_victim) and lets
 * the listener accept again only below the cap, one connection per loop turn. */
static void ss_sweep(te_status_server_t *s)
{
    int k = 0;
    int64_t now = te_clock_mono_ms();
    for (int i = 0; i < s->n_conns; i++) {
        if (ss_alive(s->conns[i].bev))
            s->conns[k++] = s->conns[i];
        else
            bufferevent_decref(s->conns[i].bev);
    }
    s->n_conns = k;
    int v = s->max_conns > 0 && ss_active(s) >= s->max_conns ? ss_victim(s, now) : -1;
    if (v >= 0) {
        ss_conn_t *c = &s->conns[v];
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        TE_WARN(SS_CTX,
                "%d status connections open (taskmanager.status.max-connections): closing one %s for %lld ms",
                s->max_conns, c->served ? "idle" : "without a request", (long long)(now - c->since_ms));
        if (fd >= 0)
            shutdown(fd, SHUT_RDWR); /* evhttp sees the end and frees it */
        c->evicted = 1;
    }
    s->paused_full = s->max_conns > 0 && ss_active(s) >= s->max_conns;
    if (!s->paused_full && s->listener != NULL)
        evconnlistener_enable(s->listener); /* also after an accept error */
    ss_arm_sweep(s, s->paused_full ? SS_GRACE_MS : s->n_conns > 0 ? SS_SWEEP_MS : SS_IDLE_SWEEP_MS);
}

/* A request arrived on `req`'s connection: it is in use (on the request callback). */
static void ss_mark_served(te_status_server_t *s, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    for (int i = 0; bev != NULL && i < s->n_conns; i++)
        if (s->conns[i].bev == bev) {
            s->conns[i].served = 1;
            s->conns[i].since_ms = te_clock_mono_ms();
            return;
        }
}

static void ss_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ss_sweep(arg);
}

/* evhttp's bufferevent factory: called for every accepted connection. */
static struct bufferevent *ss_new_bev(struct event_base *base, void *arg)
{
    te_status_server_t *s = arg;
    if (s->n_conns == s->cap_conns) {
        int ncap = s->cap_conns ? s->cap_conns * 2 : 16;
        ss_conn_t *n = realloc(s->conns, (size_t)ncap * sizeof(*n));
        if (n == NULL)
            return NULL; /* evhttp makes its own: not counted */
        s->conns = n;
        s->cap_conns = ncap;
    }
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL;
    bufferevent_incref(bev);
    s->conns[s->n_conns++] = (ss_conn_t){bev, te_clock_mono_ms(), 0, 0};
    if (s->n_conns == 1)
        ss_arm_sweep(s, SS_SWEEP_MS); /* not the idle period: its socket closes at the sweep */
    if (s->max_conns > 0 && ss_active(s) >= s->max_conns && s->listener != NULL) {
        /* full: the sweep on the next loop turn (after this one's reads) makes room */
        s->paused_full = 1;
        evconnlistener_disable(s->listener);
        ss_arm_sweep(s, 0);
    }
    return bev;
}

/* accept(2) failed (EMFILE, ENFILE): pause instead of spinning. The listener and its
 * callback argument are evhttp's, so the sweep (which runs at least every
 * SS_IDLE_SWEEP_MS) enables it again. */
static void ss_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    TE_WARN(SS_CTX, "accept failed on the status port: %s; pausing",
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    evconnlistener_disable(l);
}

void status_server_set_token(te_status_server_t *s, const void *token, size_t len, const char *open_paths)
{
    free(s->token);
    s->token = NULL;
    s->token_len = 0;
    if (token != NULL && len > 0 && (s->token = malloc(len)) != NULL) {
        memcpy(s->token, token, len);
        s->token_len = len;
    }
    snprintf(s->open_paths, sizeof(s->open_paths), "%s", open_paths ? open_paths : "");
}

void status_server_set_max_connections(te_status_server_t *s, int max_conns)
{
    s->max_conns = max_conns > 0 ? max_conns : 0;
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
    evhttp_set_bevcb(s->http, ss_new_bev, s);
    s->sweep_ev = evtimer_new(base, ss_sweep_cb, s);
    if (s->sweep_ev == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        goto cleanup;
    }
    struct evhttp_bound_socket *bs = http_bind(s->http, host, port, "status server", &s->port, err);
    if (bs == NULL)
        goto cleanup;
    s->listener = evhttp_bound_socket_get_listener(bs);
    evconnlistener_set_error_cb(s->listener, ss_accept_error);
    ss_arm_sweep(s, SS_IDLE_SWEEP_MS);
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
        evhttp_free(s->http); /* frees its connections: the callbacks of our references cleared */
    for (int i = 0; i < s->n_conns; i++)
        bufferevent_decref(s->conns[i].bev);
    free(s->conns);
    if (s->token != NULL)
        OPENSSL_cleanse(s->token, s->token_len);
    free(s->token);
    if (s->sweep_ev != NULL)
        event_free(s->sweep_ev);
    free(s);
}
