/*
 * tectl_http — one blocking HTTP request over libevent's evhttp client (see
 * tectl_http.h).
 *
 * Threading: single-threaded; each request has its own event_base.
 */
#include "tectl_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

typedef struct http_call {
    tectl_http_reply_t *out;
    int done;
    int failed;
} http_call_t;

static void on_error(enum evhttp_request_error e, void *arg)
{
    http_call_t *c = arg;
    static const char *const names[] = {"timed out",         "connection closed", "I/O error",
                                        "request cancelled", "malformed answer",  "answer too large"};
    c->failed = 1;
    snprintf(c->out->error, sizeof(c->out->error), "%s",
             (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "request failed");
}

static void on_done(struct evhttp_request *req, void *arg)
{
    http_call_t *c = arg;
    c->done = 1;
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        c->failed = 1;
        if (c->out->error[0] == '\0')
            snprintf(c->out->error, sizeof(c->out->error), "no answer");
        return;
    }
    c->out->status = evhttp_request_get_response_code(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    c->out->body = malloc(n + 1);
    if (c->out->body == NULL) {
        snprintf(c->out->error, sizeof(c->out->error), "out of memory");
        return;
    }
    evbuffer_remove(in, c->out->body, n);
    c->out->body[n] = '\0';
    json_error_t jerr;
    c->out->json = json_loadb(c->out->body, n, 0, &jerr);
    if (c->out->json == NULL)
        snprintf(c->out->error, sizeof(c->out->error), "the answer is not JSON: %s", jerr.text);
}

static int split_address(const char *address, char *host, size_t cap, int *port)
{
    if (strncmp(address, "http://", 7) == 0)
        address += 7;
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon == address || (size_t)(colon - address) >= cap)
        return -1;
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno != 0 || (*end != '\0' && *end != '/') || p <= 0 || p > 65535)
        return -1;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    *port = (int)p;
    return 0;
}

static int http_once(const char *address, const char *method, const char *path, const char *body, size_t len,
                     int timeout_ms, tectl_http_reply_t *out)
{
    memset(out, 0, sizeof(*out));
    char host[256];
    int port;
    if (split_address(address, host, sizeof(host), &port) != 0) {
        snprintf(out->error, sizeof(out->error), "'%s' is not HOST:PORT", address);
        return -1;
    }
    enum evhttp_cmd_type cmd = strcmp(method, "POST") == 0     ? EVHTTP_REQ_POST
                               : strcmp(method, "DELETE") == 0 ? EVHTTP_REQ_DELETE
                                                               : EVHTTP_REQ_GET;
    http_call_t c = {out, 0, 0};
    struct event_base *base = event_base_new();
    struct evhttp_connection *conn = base ? evhttp_connection_base_new(base, NULL, host, (ev_uint16_t)port) : NULL;
    struct evhttp_request *req = conn ? evhttp_request_new(on_done, &c) : NULL;
    if (req == NULL) {
        snprintf(out->error, sizeof(out->error), "cannot set up a connection to %s", address);
        goto cleanup;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_request_set_error_cb(req, on_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", host);
    evhttp_add_header(h, "Connection", "close");
    if (body != NULL) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    if (evhttp_make_request(conn, req, cmd, path) != 0) {
        snprintf(out->error, sizeof(out->error), "cannot send the request to %s", address);
        goto cleanup;
    }
    while (!c.done && event_base_loop(base, EVLOOP_ONCE) == 0)
        ;
cleanup:
    if (conn != NULL)
        evhttp_connection_free(conn);
    if (base != NULL)
        event_base_free(base);
    if (out->status == 0 && out->error[0] == '\0')
        snprintf(out->error, sizeof(out->error), "no answer");
    return out->status == 0 ? -1 : 0;
}

int tectl_http(const char *address, const char *method, const char *path, const char *body, size_t len,
               int timeout_ms, tectl_http_reply_t *out)
{
    int rc = http_once(address, method, path, body, len, timeout_ms, out);
    const char *leader =
        out->status == 307
            ? json_string_value(json_object_get(json_object_get(out->json, "leader"), "rest_address"))
            : NULL;
    if (leader == NULL)
        return rc;
    char to[300]; /* a standby JobManager (high availability): once more, at the leader */
    snprintf(to, sizeof(to), "%s", leader);
    tectl_http_reply_free(out);
    return http_once(to, method, path, body, len, timeout_ms, out);
}

void tectl_http_reply_free(tectl_http_reply_t *r)
{
    json_decref(r->json);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

const char *tectl_http_error(const tectl_http_reply_t *r)
{
    const char *e = r->json ? json_string_value(json_object_get(r->json, "error")) : NULL;
    if (e != NULL)
        return e;
    if (r->body != NULL && r->body[0] != '\0')
        return r->body;
    return r->error[0] ? r->error : "no answer";
}
