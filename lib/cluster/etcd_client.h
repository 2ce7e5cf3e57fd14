/*
 * etcd_client — an asynchronous client of etcd's v3 JSON gateway (the HTTP/JSON face
 * of the gRPC API that etcd 3.4 serves on its client URLs): POST /v3/kv/range,
 * /v3/kv/txn, /v3/kv/deleterange, /v3/lease/grant, /v3/lease/keepalive,
 * /v3/lease/revoke and the streaming /v3/watch. Keys and values travel base64-encoded
 * and 64-bit integers as JSON strings (the gateway's proto3 JSON mapping); the builders
 * and readers below do both.
 *
 * The HTTP client is libevent's evhttp: the project links libevent_extra already, the
 * calls run on the JobManager's event loop without a thread, and the gateway needs
 * nothing beyond HTTP/1.1 with chunked answers (the watch stream). libcurl would add a
 * dependency and a multi-handle-to-libevent bridge for the same result.
 *
 * Security: https:// endpoints need a TLS client context (the members' CA, optionally a
 * client certificate for etcd's --client-cert-auth); with a user name, every request
 * carries the token /v3/auth/authenticate gave for that endpoint (etcd's simple tokens
 * are per member), fetched before the first request there and again when a request is
 * answered 401 (an expired or unknown token).
 *
 * Endpoints: `endpoints` lists client URLs ("http://127.0.0.1:2379,http://..."); calls
 * go to the current one; a call that fails there (no connection, time out, an HTTP 5xx
 * such as "no leader") is sent to the next, each endpoint at most once per call, and the
 * next calls start from that one. A call may therefore reach etcd twice: use it for
 * idempotent operations or transactions guarded by a compare.
 *
 * Threading: the thread running `base`; callbacks run on it. Never free the client (or
 * a watch) from inside one of its own callbacks.
 */
#ifndef TE_ETCD_CLIENT_H
#define TE_ETCD_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "common/te_status.h"

struct event_base;

typedef struct te_etcd_client te_etcd_client_t;
typedef struct te_etcd_watch te_etcd_watch_t;

/* The answer (borrowed for the callback: the gateway's JSON, e.g. {"header", "kvs"}),
 * or NULL + err. */
typedef void (*te_etcd_reply_fn)(void *arg, const json_t *reply, const te_error_t *err);
/* One watch event: kv is the gateway's {"key", "value", "create_revision", ...}
 * (borrowed). */
typedef void (*te_etcd_event_fn)(void *arg, int is_delete, const json_t *kv);

typedef struct ssl_ctx_st SSL_CTX;

typedef struct te_etcd_options {
    const char *endpoints; /* "http://host:port,..." or https:// (with tls) */
    int64_t timeout_ms;    /* bounds each request on one endpoint */
    SSL_CTX *tls;          /* borrowed (outlives the client); NULL = http:// endpoints only */
    const char *username;  /* NULL or "" = no authentication */
    const char *password;
} te_etcd_options_t;

/* NULL + err when an endpoint is not http(s)://host:port, an https:// one has no TLS
 * context or an http:// one has (plaintext where TLS was configured), or the user name
 * or password is too long. */
te_etcd_client_t *etcd_client_new(struct event_base *base, const te_etcd_options_t *opt, te_error_t *err);
/* Pending calls are dropped without their callbacks. NULL: no-op. */
void etcd_client_free(te_etcd_client_t *c);
struct event_base *etcd_client_base(const te_etcd_client_t *c);
/* "etcd http://a:2379,http://b:2379", for messages. */
const char *etcd_client_describe(const te_etcd_client_t *c);

/* POST `path` (e.g. "/v3/kv/range") with `body` (taken). fn runs exactly once, later,
 * on the loop (unless the client is freed first). */
void etcd_client_call(te_etcd_client_t *c, const char *path, json_t *body, te_etcd_reply_fn fn, void *arg);
/* The same, waiting for the answer on a private event loop (start-up reads): a NEW
 * reference, or NULL + err. */
json_t *etcd_client_call_sync(te_etcd_client_t *c, const char *path, json_t *body, te_error_t *err);

/* Request builders (NEW references; the key and value texts are base64-encoded). */
/* {"key"} or, prefix = 1, every key starting with it ({"key", "range_end"}). */
json_t *etcd_range_body(const char *key, int prefix);
/* Compare of a txn: target "CREATE" | "MOD" | "VERSION" (revision `value`), result
 * "EQUAL" | "NOT_EQUAL" | "GREATER" | "LESS". */
json_t *etcd_cmp(const char *key, const char *target, const char *result, int64_t value);
json_t *etcd_op_put(const char *key, const char *value, int64_t lease);
json_t *etcd_op_delete(const char *key, int prefix);
json_t *etcd_op_range(const char *key);
/* {"compare", "success", "failure"} (the three arrays taken; NULL = empty). */
json_t *etcd_txn_body(json_t *compare, json_t *success, json_t *failure);

/* Readers. An integer member given as a string or a number; 0 when missing. */
int64_t etcd_int(const json_t *obj, const char *name);
/* A base64 member decoded, NUL-terminated (malloc'd; NULL when missing or not base64;
 * *len = its length when len is not NULL). */
char *etcd_b64_field(const json_t *obj, const char *name, size_t *len);

/* Watches `key` (prefix = 1: every key under it) from start_revision (0 = now): fn per
 * event. A stream that ends or fails is opened again from the next revision (on the
 * next endpoint), so events are neither lost nor repeated while the revisions are not
 * compacted. NULL + err: out of memory. */
te_etcd_watch_t *etcd_watch_new(te_etcd_client_t *c, const char *key, int prefix, int64_t start_revision,
                                te_etcd_event_fn fn, void *arg, te_error_t *err);
/* NULL: no-op. */
void etcd_watch_free(te_etcd_watch_t *w);

#endif
