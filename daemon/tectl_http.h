/*
 * tectl_http — tectl's HTTP client for the JobManager's REST API: one blocking request
 * (its own libevent loop and connection) with an optional JSON body, the status and
 * body returned.
 *
 * Threading: tectl is single-threaded.
 */
#ifndef TECTL_HTTP_H
#define TECTL_HTTP_H

#include <jansson.h>
#include <stddef.h>

typedef struct tectl_http_reply {
    int status;      /* HTTP status; 0 = no answer (see error) */
    json_t *json;    /* the body parsed as JSON, or NULL */
    char *body;      /* the body as text (NUL-terminated) */
    char error[300]; /* why there is no answer, or why the body is not JSON */
} tectl_http_reply_t;

/* address: "host:port" (or "http://host:port"); method "GET", "POST", "DELETE"; body
 * may be NULL. Returns 0 when an answer came (any status), -1 when none did. A standby
 * JobManager's 307 (high availability) is followed once, to the leader it names. */
int tectl_http(const char *address, const char *method, const char *path, const char *body, size_t len,
               int timeout_ms, tectl_http_reply_t *out);
void tectl_http_reply_free(tectl_http_reply_t *r);
/* The "error" of a JSON error body, else the body text, else the HTTP status line. */
const char *tectl_http_error(const tectl_http_reply_t *r);

#endif
