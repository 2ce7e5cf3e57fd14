/*
 * http_server — the HTTP stack of the TaskExecutor's status endpoint and the
 * JobManager's REST API: an evhttp server bound to host:port (limits on headers, body
 * and idle time), every request handed to one callback, and the reply helpers both
 * use (JSON documents and JSON errors, Prometheus text, the self-contained dashboard
 * pages with their Content-Security-Policy, the request body and query).
 *
 * A body longer than the server's max_body is answered 413 by libevent before it is
 * read into memory (Content-Length checked up front; chunked bodies are cut off).
 *
 * Threading: the thread running `base`; the callback runs on it. No locks.
 */
#ifndef TE_HTTP_SERVER_H
#define TE_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>

#include "common/te_status.h"

struct event_base;
struct evhttp_request;

typedef struct te_http_server te_http_server_t;

typedef void (*te_http_request_fn)(void *arg, struct evhttp_request *req);

/* Binds host:port (port 0 = ephemeral; host NULL or "" = 127.0.0.1). `what` names the
 * server in messages ("status server"). Every method reaches fn. NULL + err naming the
 * address. */
te_http_server_t *http_server_new(struct event_base *base, const char *host, int port, size_t max_body,
                                  const char *what, te_http_request_fn fn, void *arg, te_error_t *err);
int http_server_port(const te_http_server_t *s);
/* Binds an evhttp to host:port (0 = ephemeral); *bound_port gets the real port. NULL
 * with err naming `what` ("status server") when it cannot. */
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_bound_socket *http_bind(struct evhttp *http, const char *host, int port, const char *what,
                                      int *bound_port, te_error_t *err);
/* Closes the listener and every connection. NULL: no-op. */
void http_server_free(te_http_server_t *s);

/* The request path without its query, trailing slashes dropped ("/" stays). */
void http_request_path(struct evhttp_request *req, char *path, size_t cap);
/* The body as a NUL-terminated malloc'd copy (*len its length; a body may hold NULs).
 * NULL when out of memory. */
char *http_request_body(struct evhttp_request *req, size_t *len);
/* The query parameter `name` as an integer; 0 = found and valid, -1 otherwise. */
int http_query_int(struct evhttp_request *req, const char *name, long long *out);

/* The standard reason phrase of a status code ("Not Found"). */
const char *http_reason(int code);
/* Sends body (a NEW reference, consumed) as application/json with code; HEAD gets the
 * headers only. */
void http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* {"error": msg, "path": path, "status": code} with code. */
void http_reply_error(struct evhttp_request *req, int code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* text (borrowed; copied) with the content type and code. */
void http_reply_text(struct evhttp_request *req, int code, const char *content_type, const char *text);
/* A self-contained HTML page (static storage, sent by reference) under a
 * Content-Security-Policy that lets it run only its inline script and style and talk
 * only to this server. */
void http_reply_page(struct evhttp_request *req, const char *html, size_t len);

#endif
