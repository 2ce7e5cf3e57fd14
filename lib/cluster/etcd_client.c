/*
 * etcd_client — etcd's v3 JSON gateway over libevent's evhttp (see etcd_client.h for
 * why evhttp). One evhttp_connection per endpoint carries the calls (evhttp queues them
 * and keeps the connection alive); each watch has a connection of its own, without a
 * read timeout, since its answer is a stream that stays open: one JSON object per line,
 * {"result": {"header", "created" | "events" | "canceled", ...}}.
 *
 * A call (etcd_call_t) lives from etcd_client_call until its callback ran; it is linked
 * in the client so that etcd_client_free drops it (evhttp frees the queued requests of
 * a freed connection without calling them).
 *
 * Threading: the event-loop thread of `base` only; no locks.
 */
#include "cluster/etcd_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common/clock.h"
#include "common/log.h"

#define CTX             "etcd"
#define MAX_ENDPOINTS   16
#define WATCH_RETRY_MS  200
#define WATCH_LINE_MAX  (64 * 1024 * 1024)
#define WATCH_TIMEOUT_S (24 * 3600)

#define TOKEN_MAX 2048 /* etcd's simple tokens are short; JWT ones a few hundred bytes */

typedef struct etcd_endpoint {
    char url[300];
    char host[256];
    int port;
    int https;
    struct evhttp_connection *conn;
    char token[TOKEN_MAX]; /* authentication: this member's token ("" = none yet) */
    int authing;           /* a /v3/auth/authenticate call to it is in flight */
} etcd_endpoint_t;

typedef struct etcd_call {
    te_etcd_client_t *c;
    char path[64];
    char *body;
    size_t len;
    int tries;
    char last_error[TE_ERROR_MSG_MAX];
    te_etcd_reply_fn fn;
    void *arg;
    int auth_ep;      /* an authentication call: to this endpoint only (else -1) */
    int waiting_ep;   /* waiting for that endpoint's token (else -1) */
    int reauthorized; /* answered 401 once: sent again with a new token */
    struct etcd_call *prev, *next;
} etcd_call_t;

struct te_etcd_client {
    struct event_base *base;
    etcd_endpoint_t ep[MAX_ENDPOINTS];
    size_t n_ep, cur;
    int64_t timeout_ms;
    etcd_call_t *calls;
    SSL_CTX *tls;
    char user[256], password[256]; /* user "" = no authentication */
    int64_t auth_warned_ms;        /* the last refused authentication logged (monotonic) */
    char describe[MAX_ENDPOINTS * 300 + 8];
};

struct te_etcd_watch {
    te_etcd_client_t *c;
    char *key;
    int prefix;
    int64_t next_revision; /* 0 = from now */
    te_etcd_event_fn fn;
    void *arg;
    size_t ep;
    struct evhttp_connection *conn;
    struct evhttp_request *req; /* the open stream, NULL while waiting */
    struct evbuffer *lines;
    struct event *retry;
};

/* ---- base64 and JSON helpers ------------------------------------------------------------ */

static char *b64_encode(const char *s, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
    return out;
}

char *etcd_b64_field(const json_t *obj, const char *name, size_t *len)
{
    const char *in = json_string_value(json_object_get(obj, name));
    if (in == NULL)
        return NULL;
    size_t n = strlen(in);
    if (n % 4 != 0)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    if (out == NULL)
        return NULL;
    int m = n ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)n) : 0;
    if (m < 0) {
        free(out);
        return NULL;
    }
    for (size_t i = n; i > 0 && in[i - 1] == '='; i--)
        m--; /* EVP_DecodeBlock counts the padding as zero bytes */
    out[m] = '\0';
    if (len != NULL)
        *len = (size_t)m;
    return (char *)out;
}

static json_t *b64_json(const char *s, size_t n)
{
    char *e = b64_encode(s, n);
    json_t *j = e ? json_string(e) : NULL;
    free(e);
    return j;
}

static json_t *int_json(int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", (long long)v);
    return json_string(buf);
}

int64_t etcd_int(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

/* The end of the range of every key starting with `key`: its last byte below 0xff
 * incremented (etcd's prefix rule). */
static json_t *prefix_end(const char *key)
{
    size_t n = strlen(key);
    char *end = strdup(key);
    if (end == NULL)
        return NULL;
    while (n > 0 && (unsigned char)end[n - 1] == 0xff)
        n--;
    json_t *j = NULL;
    if (n == 0) {
        j = b64_json("\0", 1);
    } else {
        end[n - 1]++;
        j = b64_json(end, n);
    }
    free(end);
    return j;
}

json_t *etcd_range_body(const char *key, int prefix)
{
    json_t *b = json_object();
    json_object_set_new(b, "key", b64_json(key, strlen(key)));
    if (prefix)
        json_object_set_new(b, "range_end", prefix_end(key));
    return b;
}

json_t *etcd_cmp(const char *key, const char *target, const char *result, int64_t value)
{
    const char *field = strcmp(target, "CREATE") == 0 ? "create_revision"
                        : strcmp(target, "MOD") == 0  ? "mod_revision"
                                                      : "version";
    json_t *c = json_pack("{s:s, s:s}", "target", target, "result", result);
    json_object_set_new(c, "key", b64_json(key, strlen(key)));
    json_object_set_new(c, field, int_json(value));
    return c;
}

json_t *etcd_op_put(const char *key, const char *value, int64_t lease)
{
    json_t *p = json_object();
    json_object_set_new(p, "key", b64_json(key, strlen(key)));
    json_object_set_new(p, "value", b64_json(value, strlen(value)));
    if (lease != 0)
        json_object_set_new(p, "lease", int_json(lease));
    return json_pack("{s:o}", "request_put", p);
}

json_t *etcd_op_delete(const char *key, int prefix)
{
    return json_pack("{s:o}", "request_delete_range", etcd_range_body(key, prefix));
}

json_t *etcd_op_range(const char *key) { return json_pack("{s:o}", "request_range", etcd_range_body(key, 0)); }

json_t *etcd_txn_body(json_t *compare, json_t *success, json_t *failure)
{
    return json_pack("{s:o, s:o, s:o}", "compare", compare ? compare : json_array(), "success",
                     success ? success : json_array(), "failure", failure ? failure : json_array());
}

/* ---- endpoints ---------------------------------------------------------------------------- */

static te_status_t parse_endpoint(etcd_endpoint_t *ep, const char *url, size_t n, te_error_t *err)
{
    if (n >= sizeof(ep->url))
        return te_error_set(err, TE_EINVAL, "etcd endpoint '%.*s...' is too long", 64, url);
    memcpy(ep->url, url, n);
    ep->url[n] = '\0';
    const char *p = ep->url;
    ep->https = strncmp(p, "https://", 8) == 0;
    if (!ep->https && strncmp(p, "http://", 7) != 0)
        return te_error_set(err, TE_EINVAL, "etcd endpoint '%s': expected http://host:port or https://host:port",
                            ep->url);
    p += ep->https ? 8 : 7;
    const char *colon = strrchr(p, ':');
    char *end = NULL;
    errno = 0;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (colon == NULL || colon == p || (size_t)(colon - p) >= sizeof(ep->host) || errno != 0 ||
        (*end != '\0' && strcmp(end, "/") != 0) || port <= 0 || port > 65535)
        return te_error_set(err, TE_EINVAL, "etcd endpoint '%s': expected http(s)://host:port", ep->url);
    memcpy(ep->host, p, (size_t)(colon - p));
    ep->host[colon - p] = '\0';
    if (ep->host[0] == '[' && ep->host[strlen(ep->host) - 1] == ']') {
        memmove(ep->host, ep->host + 1, strlen(ep->host));
        ep->host[strlen(ep->host) - 1] = '\0';
    }
    ep->port = (int)port;
    return TE_OK;
}

static struct evhttp_connection *connection_new(te_etcd_client_t *c, const etcd_endpoint_t *ep, int64_t timeout_ms)
{
    struct evhttp_connection *conn = NULL;
    if (!ep->https) {
        conn = evhttp_connection_base_new(c->base, NULL, ep->host, (ev_uint16_t)ep->port);
    } else {
        /* evhttp reconnects on this bufferevent: libevent clears the SSL state (SSL_clear)
         * when it sets the new socket */
        SSL *ssl = SSL_new(c->tls);
        struct bufferevent *bev =
            ssl ? bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
                : NULL;
        if (bev == NULL) {
            SSL_free(ssl);
            return NULL;
        }
        SSL_set_tlsext_host_name(ssl, ep->host);
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        conn = evhttp_connection_base_bufferevent_new(c->base, NULL, bev, ep->host, (ev_uint16_t)ep->port);
        if (conn == NULL)
            bufferevent_free(bev);
    }
    if (conn == NULL)
        return NULL;
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)((timeout_ms % 1000) * 1000)};
    evhttp_connection_set_timeout_tv(conn, &tv);
    return conn;
}

static struct evhttp_request *request_new(const etcd_endpoint_t *ep, void (*done)(struct evhttp_request *, void *),
                                          void (*on_error)(enum evhttp_request_error, void *), void *arg,
                                          const char *body, size_t len, const char *token)
{
    struct evhttp_request *req = evhttp_request_new(done, arg);
    if (req == NULL)
        return NULL;
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char host[300];
    snprintf(host, sizeof(host), "%s:%d", ep->host, ep->port);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (token != NULL && token[0] != '\0')
        evhttp_add_header(h, "Authorization", token);
    if (evbuffer_add(evhttp_request_get_output_buffer(req), body, len) != 0) {
        evhttp_request_free(req);
        return NULL;
    }
    return req;
}

static const char *request_error_name(enum evhttp_request_error e)
{
    static const char *const names[] = {"timed out",        "connection closed or refused",
                                        "I/O error",        "request cancelled",
                                        "malformed answer", "answer too large"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "request failed";
}

/* ---- calls -------------------------------------------------------------------------------- */

static void call_send(etcd_call_t *k);

static void call_finish(etcd_call_t *k, const json_t *reply, const te_error_t *err)
{
    te_etcd_client_t *c = k->c;
    if (k->prev)
        k->prev->next = k->next;
    else
        c->calls = k->next;
    if (k->next)
        k->next->prev = k->prev;
    if (k->fn)
        k->fn(k->arg, reply, err);
    free(k->body);
    free(k);
}

/* This endpoint failed the call: the next one, unless every one was tried (an
 * authentication call belongs to its endpoint: it fails at once). */
static void call_failed(etcd_call_t *k, const char *fmt, const char *what)
{
    te_etcd_client_t *c = k->c;
    int ep = k->auth_ep >= 0 ? k->auth_ep : (int)c->cur;
    snprintf(k->last_error, sizeof(k->last_error), fmt, c->ep[ep].url, what);
    if (k->auth_ep < 0 && (size_t)k->tries < c->n_ep) {
        TE_DEBUG(CTX, "%s %s: %s; trying the next endpoint", k->path, c->ep[c->cur].url, k->last_error);
        c->cur = (c->cur + 1) % c->n_ep;
        call_send(k);
        return;
    }
    te_error_t err = {0};
    te_error_set(&err, TE_EIO, "etcd %s: %s", k->path, k->last_error);
    call_finish(k, NULL, &err);
}

static void on_call_error(enum evhttp_request_error e, void *arg)
{
    etcd_call_t *k = arg;
    snprintf(k->last_error, sizeof(k->last_error), "%s", request_error_name(e));
}

static void on_call_done(struct evhttp_request *req, void *arg)
{
    etcd_call_t *k = arg;
    te_etcd_client_t *c = k->c;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code == 0) {
        char what[TE_ERROR_MSG_MAX];
        snprintf(what, sizeof(what), "%s", k->last_error[0] ? k->last_error : "no answer");
        call_failed(k, "%s: %s", what);
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n, 0, &jerr);
    if (code >= 500 || doc == NULL) {
        const char *msg = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
        char what[TE_ERROR_MSG_MAX];
        snprintf(what, sizeof(what), "HTTP %d%s%s", code, msg ? ": " : " (not JSON)", msg ? msg : "");
        json_decref(doc);
        call_failed(k, "%s: %s", what);
        return;
    }
    if (code == 401 && k->auth_ep < 0 && c->user[0] != '\0' && !k->reauthorized) {
        /* the member does not know the token (expired, or it restarted): a new one */
        TE_DEBUG(CTX, "%s %s: token refused; authenticating again", k->path, c->ep[c->cur].url);
        json_decref(doc);
        c->ep[c->cur].token[0] = '\0';
        k->reauthorized = 1;
        k->tries--;
        call_send(k);
        return;
    }
    if (code != 200) {
        const char *msg = json_string_value(json_object_get(doc, "message"));
        int ep = k->auth_ep >= 0 ? k->auth_ep : (int)c->cur;
        te_error_t err = {0};
        te_error_set(&err, TE_EINVAL, "etcd %s at %s: HTTP %d: %s", k->path, c->ep[ep].url, code,
                     msg ? msg : "(no message)");
        json_decref(doc);
        call_finish(k, NULL, &err);
        return;
    }
    call_finish(k, doc, NULL);
    json_decref(doc);
}

static etcd_call_t *call_new(te_etcd_client_t *c, const char *path, json_t *body, te_etcd_reply_fn fn, void *arg)
{
    etcd_call_t *k = calloc(1, sizeof(*k));
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (k == NULL || text == NULL) {
        free(k);
        free(text);
        te_error_t err = {0};
        te_error_set(&err, TE_ENOMEM, "etcd %s: out of memory", path);
        if (fn)
            fn(arg, NULL, &err);
        return NULL;
    }
    snprintf(k->path, sizeof(k->path), "%s", path);
    k->c = c;
    k->body = text;
    k->len = strlen(text);
    k->fn = fn;
    k->arg = arg;
    k->auth_ep = k->waiting_ep = -1;
    k->next = c->calls;
    if (c->calls)
        c->calls->prev = k;
    c->calls = k;
    return k;
}

/* The calls waiting for endpoint i's token go on: sent there (with_token), or failed
 * over to the next endpoint (no answer), or ended with err (refused credentials). */
static void auth_resume(te_etcd_client_t *c, int i, int with_token, const te_error_t *err)
{
    for (;;) {
        etcd_call_t *k = c->calls;
        while (k != NULL && k->waiting_ep != i)
            k = k->next;
        if (k == NULL)
            return;
        k->waiting_ep = -1;
        if (with_token) {
            k->tries--; /* counted when it waited */
            call_send(k);
        } else if (err->code == TE_EIO) {
            call_failed(k, "%s: %s", err->msg);
        } else {
            te_error_t e = {0};
            te_error_set(&e, err->code, "etcd %s: %s", k->path, err->msg);
            call_finish(k, NULL, &e);
        }
    }
}

typedef struct auth_ctx {
    te_etcd_client_t *c;
    int ep;
} auth_ctx_t;

static void on_authenticated(void *arg, const json_t *reply, const te_error_t *err)
{
    auth_ctx_t *a = arg;
    te_etcd_client_t *c = a->c;
    int i = a->ep;
    free(a);
    etcd_endpoint_t *ep = &c->ep[i];
    ep->authing = 0;
    const char *token = reply ? json_string_value(json_object_get(reply, "token")) : NULL;
    if (token != NULL && strlen(token) < sizeof(ep->token)) {
        snprintf(ep->token, sizeof(ep->token), "%s", token);
        TE_DEBUG(CTX, "authenticated as '%s' at %s", c->user, ep->url);
        auth_resume(c, i, 1, NULL);
        return;
    }
    te_error_t e = {0};
    if (err != NULL && err->code == TE_EIO) { /* no answer: the calls try the next endpoint */
        te_error_set(&e, TE_EIO, "authentication as '%s': %s", c->user, err->msg);
    } else { /* refused (wrong name or password, authentication not enabled, ...) */
        te_error_set(&e, TE_EINVAL, "authentication as '%s' at %s failed: %s", c->user, ep->url,
                     err ? err->msg : "no token in the answer");
        int64_t now = te_clock_mono_ms(); /* the callers retry: said once a minute */
        if (c->auth_warned_ms == 0 || now - c->auth_warned_ms >= 60000) {
            c->auth_warned_ms = now;
            TE_WARN(CTX, "%s", e.msg);
        }
    }
    auth_resume(c, i, 0, &e);
}

/* Asks endpoint i for a token (/v3/auth/authenticate) unless already asking. */
static void auth_start(te_etcd_client_t *c, int i)
{
    if (c->ep[i].authing)
        return;
    auth_ctx_t *a = malloc(sizeof(*a));
    if (a == NULL) {
        te_error_t e = {0};
        te_error_set(&e, TE_ENOMEM, "out of memory");
        auth_resume(c, i, 0, &e);
        return;
    }
    *a = (auth_ctx_t){c, i};
    c->ep[i].authing = 1;
    etcd_call_t *k = call_new(c, "/v3/auth/authenticate",
                              json_pack("{s:s, s:s}", "name", c->user, "password", c->password), on_authenticated, a);
    if (k == NULL)
        return; /* on_authenticated ran */
    k->auth_ep = i;
    call_send(k);
}

static void call_send(etcd_call_t *k)
{
    te_etcd_client_t *c = k->c;
    int i = k->auth_ep >= 0 ? k->auth_ep : (int)c->cur;
    etcd_endpoint_t *ep = &c->ep[i];
    k->tries++;
    k->last_error[0] = '\0';
    if (k->auth_ep < 0 && c->user[0] != '\0' && ep->token[0] == '\0') {
        k->waiting_ep = i; /* sent once this endpoint gave a token */
        auth_start(c, i);
        return;
    }
    if (ep->conn == NULL && (ep->conn = connection_new(c, ep, c->timeout_ms)) == NULL) {
        call_failed(k, "%s: %s", "cannot create a connection");
        return;
    }
    struct evhttp_request *req =
        request_new(ep, on_call_done, on_call_error, k, k->body, k->len, k->auth_ep >= 0 ? NULL : ep->token);
    if (req == NULL || evhttp_make_request(ep->conn, req, EVHTTP_REQ_POST, k->path) != 0)
        call_failed(k, "%s: %s", "cannot send the request");
}

void etcd_client_call(te_etcd_client_t *c, const char *path, json_t *body, te_etcd_reply_fn fn, void *arg)
{
    etcd_call_t *k = call_new(c, path, body, fn, arg);
    if (k != NULL)
        call_send(k);
}

typedef struct sync_call {
    json_t *reply;
    te_error_t err;
    int done;
} sync_call_t;

static void on_sync(void *arg, const json_t *reply, const te_error_t *err)
{
    sync_call_t *s = arg;
    s->done = 1;
    if (reply != NULL)
        s->reply = json_deep_copy(reply);
    else
        s->err = *err;
}

json_t *etcd_client_call_sync(te_etcd_client_t *c, const char *path, json_t *body, te_error_t *err)
{
    sync_call_t s = {0};
    struct event_base *base = event_base_new();
    te_etcd_client_t *tmp = base ? calloc(1, sizeof(*tmp)) : NULL;
    if (tmp == NULL) {
        json_decref(body);
        if (base)
            event_base_free(base);
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    *tmp = *c;
    tmp->base = base;
    tmp->calls = NULL;
    for (size_t i = 0; i < tmp->n_ep; i++) {
        tmp->ep[i].conn = NULL;
        tmp->ep[i].authing = 0;
    }
    etcd_client_call(tmp, path, body, on_sync, &s);
    while (!s.done && event_base_loop(base, EVLOOP_ONCE) == 0)
        ;
    c->cur = tmp->cur;
    for (size_t i = 0; i < tmp->n_ep; i++) /* tokens it got serve the client too */
        if (tmp->ep[i].token[0] != '\0' && !c->ep[i].authing)
            memcpy(c->ep[i].token, tmp->ep[i].token, sizeof(c->ep[i].token));
    etcd_client_free(tmp);
    event_base_free(base);
    if (!s.done)
        te_error_set(err, TE_EIO, "etcd %s: the request did not complete", path);
    else if (s.reply == NULL && err != NULL)
        *err = s.err;
    return s.reply;
}

/* ---- life cycle ------------------------------------------------------------------------------ */

te_etcd_client_t *etcd_client_new(struct event_base *base, const te_etcd_options_t *opt, te_error_t *err)
{
    te_etcd_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    c->base = base;
    c->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 2000;
    c->tls = opt->tls;
    const char *user = opt->username ? opt->username : "";
    const char *password = opt->password ? opt->password : "";
    if (strlen(user) >= sizeof(c->user) || strlen(password) >= sizeof(c->password)) {
        te_error_set(err, TE_EINVAL, "the etcd user name or password is longer than %zu bytes", sizeof(c->user) - 1);
        goto cleanup;
    }
    snprintf(c->user, sizeof(c->user), "%s", user);
    snprintf(c->password, sizeof(c->password), "%s", password);
    const char *p = opt->endpoints ? opt->endpoints : "";
    size_t off = (size_t)snprintf(c->describe, sizeof(c->describe), "etcd ");
    while (*p != '\0') {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        if (c->n_ep == MAX_ENDPOINTS) {
            te_error_set(err, TE_EINVAL, "more than %d etcd endpoints", MAX_ENDPOINTS);
            goto cleanup;
        }
        etcd_endpoint_t *ep = &c->ep[c->n_ep];
        if (parse_endpoint(ep, p, n, err) != TE_OK)
            goto cleanup;
        if (ep->https && c->tls == NULL) {
            te_error_set(err, TE_EINVAL,
                         "etcd endpoint '%s' is https:// but no CA is configured to verify it "
                         "(high-availability.etcd.tls.ca-file)",
                         ep->url);
            goto cleanup;
        }
        if (!ep->https && c->tls != NULL) {
            te_error_set(err, TE_EINVAL,
                         "etcd endpoint '%s' is http:// but TLS is configured (high-availability.etcd.tls.*): "
                         "use https://",
                         ep->url);
            goto cleanup;
        }
        off += (size_t)snprintf(c->describe + off, sizeof(c->describe) - off, "%s%s", c->n_ep ? "," : "", ep->url);
        c->n_ep++;
        p += n;
    }
    if (c->n_ep == 0) {
        te_error_set(err, TE_EINVAL, "no etcd endpoint given (expected http://host:port[,http://host:port...])");
        goto cleanup;
    }
    if (c->user[0] != '\0')
        off += (size_t)snprintf(c->describe + off, sizeof(c->describe) - off, " as %s", c->user);
    return c;
cleanup:
    explicit_bzero(c->password, sizeof(c->password));
    free(c);
    return NULL;
}

void etcd_client_free(te_etcd_client_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n_ep; i++)
        if (c->ep[i].conn != NULL)
            evhttp_connection_free(c->ep[i].conn); /* frees its requests without their callbacks */
    while (c->calls != NULL) {
        etcd_call_t *k = c->calls;
        c->calls = k->next;
        if (k->auth_ep >= 0)
            free(k->arg); /* its auth_ctx */
        free(k->body);
        free(k);
    }
    explicit_bzero(c->password, sizeof(c->password));
    explicit_bzero(c->ep, sizeof(c->ep));
    free(c);
}

const char *etcd_client_describe(const te_etcd_client_t *c) { return c->describe; }
struct event_base *etcd_client_base(const te_etcd_client_t *c) { return c->base; }

/* ---- watches -------------------------------------------------------------------------------- */

static void watch_open(te_etcd_watch_t *w);

static void watch_retry(te_etcd_watch_t *w, const char *why)
{
    TE_DEBUG(CTX, "watch of %s on %s: %s; again in %d ms", w->key, w->c->ep[w->ep].url, why, WATCH_RETRY_MS);
    w->req = NULL;
    w->ep = (w->ep + 1) % w->c->n_ep;
    evbuffer_drain(w->lines, evbuffer_get_length(w->lines));
    struct timeval tv = {0, WATCH_RETRY_MS * 1000};
    evtimer_add(w->retry, &tv);
}

static void watch_message(te_etcd_watch_t *w, const char *line, size_t n)
{
    json_error_t jerr;
    json_t *doc = json_loadb(line, n, 0, &jerr);
    json_t *res = json_object_get(doc, "result");
    int64_t compact = etcd_int(res, "compact_revision");
    if (compact > 0 && w->next_revision > 0 && w->next_revision < compact) {
        TE_WARN(CTX, "watch of %s: revisions before %lld were compacted; watching from now on", w->key,
                (long long)compact);
        w->next_revision = 0;
    }
    if (json_is_true(json_object_get(res, "canceled"))) {
        /* etcd ended the watch (an unknown token, compaction, ...): opened again, after a
         * new token when it was the token */
        const char *why = json_string_value(json_object_get(res, "cancel_reason"));
        TE_DEBUG(CTX, "watch of %s cancelled by etcd: %s", w->key, why ? why : "(no reason)");
        if (why != NULL && strstr(why, "auth token") != NULL)
            w->c->ep[w->ep].token[0] = '\0';
        struct timeval tv = {0, WATCH_RETRY_MS * 1000};
        evtimer_add(w->retry, &tv); /* watch_open drops this stream */
        json_decref(doc);
        return;
    }
    if (res == NULL) {
        TE_WARN(CTX, "watch of %s: unexpected message: %.200s", w->key, line);
        json_decref(doc);
        return;
    }
    if (json_is_true(json_object_get(res, "created")) && w->next_revision == 0)
        w->next_revision = etcd_int(json_object_get(res, "header"), "revision") + 1;
    size_t i;
    json_t *ev;
    json_array_foreach(json_object_get(res, "events"), i, ev)
    {
        const json_t *kv = json_object_get(ev, "kv");
        int64_t rev = etcd_int(kv, "mod_revision");
        if (rev >= w->next_revision)
            w->next_revision = rev + 1;
        const char *type = json_string_value(json_object_get(ev, "type"));
        w->fn(w->arg, type != NULL && strcmp(type, "DELETE") == 0, kv);
    }
    json_decref(doc);
}

static void on_watch_chunk(struct evhttp_request *req, void *arg)
{
    te_etcd_watch_t *w = arg;
    evbuffer_add_buffer(w->lines, evhttp_request_get_input_buffer(req));
    char *line;
    size_t n;
    while ((line = evbuffer_readln(w->lines, &n, EVBUFFER_EOL_LF)) != NULL) {
        if (n > 0)
            watch_message(w, line, n);
        free(line);
    }
    if (evbuffer_get_length(w->lines) > WATCH_LINE_MAX)
        evbuffer_drain(w->lines, evbuffer_get_length(w->lines)); /* the stream is reopened at its end */
}

static void on_watch_error(enum evhttp_request_error e, void *arg)
{
    te_etcd_watch_t *w = arg;
    TE_DEBUG(CTX, "watch of %s: %s", w->key, request_error_name(e));
}

static void on_watch_done(struct evhttp_request *req, void *arg)
{
    te_etcd_watch_t *w = arg;
    char why[64];
    snprintf(why, sizeof(why), "the stream ended (HTTP %d)", req ? evhttp_request_get_response_code(req) : 0);
    watch_retry(w, why);
}

static void on_watch_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watch_open(arg);
}

static void watch_open(te_etcd_watch_t *w)
{
    if (w->conn != NULL)
        evhttp_connection_free(w->conn);
    w->conn = NULL;
    etcd_endpoint_t *ep = &w->c->ep[w->ep];
    if (w->c->user[0] != '\0' && ep->token[0] == '\0') {
        auth_start(w->c, (int)w->ep);
        w->ep = (w->ep + w->c->n_ep - 1) % w->c->n_ep; /* watch_retry moves on: the same endpoint again */
        watch_retry(w, "waiting for an authentication token");
        return;
    }
    w->conn = connection_new(w->c, &w->c->ep[w->ep], (int64_t)WATCH_TIMEOUT_S * 1000);
    json_t *create = etcd_range_body(w->key, w->prefix);
    if (w->next_revision > 0)
        json_object_set_new(create, "start_revision", int_json(w->next_revision));
    json_t *body = json_pack("{s:o}", "create_request", create);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct evhttp_request *req =
        text && w->conn
            ? request_new(&w->c->ep[w->ep], on_watch_done, on_watch_error, w, text, strlen(text), w->c->ep[w->ep].token)
            : NULL;
    free(text);
    if (req == NULL) {
        watch_retry(w, "out of memory");
        return;
    }
    evhttp_request_set_chunked_cb(req, on_watch_chunk);
    if (evhttp_make_request(w->conn, req, EVHTTP_REQ_POST, "/v3/watch") != 0) {
        watch_retry(w, "cannot send the request");
        return;
    }
    w->req = req;
}

te_etcd_watch_t *etcd_watch_new(te_etcd_client_t *c, const char *key, int prefix, int64_t start_revision,
                                te_etcd_event_fn fn, void *arg, te_error_t *err)
{
    te_etcd_watch_t *w = calloc(1, sizeof(*w));
    if (w == NULL || (w->key = strdup(key)) == NULL || (w->lines = evbuffer_new()) == NULL ||
        (w->retry = evtimer_new(c->base, on_watch_retry, w)) == NULL) {
        etcd_watch_free(w);
        te_error_set(err, TE_ENOMEM, "out of memory");
        return NULL;
    }
    w->c = c;
    w->prefix = prefix;
    w->next_revision = start_revision;
    w->fn = fn;
    w->arg = arg;
    w->ep = c->cur;
    watch_open(w);
    return w;
}

void etcd_watch_free(te_etcd_watch_t *w)
{
    if (w == NULL)
        return;
    if (w->conn != NULL)
        evhttp_connection_free(w->conn);
    if (w->retry != NULL)
        event_free(w->retry);
    if (w->lines != NULL)
        evbuffer_free(w->lines);
    free(w->key);
    free(w);
}
